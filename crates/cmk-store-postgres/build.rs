// sqlx::migrate! embeds the migrations at compile time; without this, editing one would not rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
