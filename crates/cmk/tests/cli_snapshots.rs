//! Snapshots of what `cmk` prints: `--help` pages, tables, and the refusals a user meets on the way to
//! customer-managed keys, each with its stderr and exit status.
//!
//! One development server runs for all cases. The test logs in with a config folder of its own and sets up,
//! with the command line, the vaults, keys and accounts the cases refuse to use (fixed names, so the snapshots
//! do not change from run to run); then the cases under `tests/snapshots/` run in parallel against it, and
//! those under `tests/snapshots/logged-out/` with an empty config folder.
//!
//! Each case is a `NAME.toml` (the arguments and the expected exit status) with `NAME.stdout` and
//! `NAME.stderr` beside it. In the expected output `[..]` stands for any text on a line (ids, versions,
//! times), `[PORT]` for the server's port and `[TENANT]` for its tenant id. `TRYCMD=overwrite cargo test
//! -p cmk --test cli_snapshots` rewrites the snapshots from what the commands print now, keeping those
//! placeholders.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::start;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The command line client with a config folder of its own.
struct Cli {
    config: PathBuf,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cmk"))
            .args(args)
            .env("CMK_CONFIG_DIR", &self.config)
            .env_remove("CMK_SERVER")
            .env_remove("CMK_CLIENT_SECRET")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs a setup command that must succeed; its stdout.
    #[track_caller]
    fn ok(&self, line: &str) -> String {
        let args: Vec<&str> = line.split_whitespace().collect();
        let output = self.run(&args);
        assert!(
            output.status.success(),
            "cmk {line} exited with {:?}: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

/// The vaults, keys, accounts and content the cases work on. Every name is fixed.
fn set_up(cli: &Cli, work: &Path) {
    // kv-snap: soft delete and purge protection, the vault a customer-managed key belongs in.
    cli.ok("keyvault create --name kv-snap --location westus2 --enable-purge-protection --retention-days 7 -o none");
    cli.ok("keyvault key create --vault-name kv-snap --name cmk-key -o none");
    cli.ok("keyvault key create --vault-name kv-snap --name key-3072 --size 3072 -o none");
    cli.ok("keyvault key create --vault-name kv-snap --name ec-key --kty EC --curve P-384 -o none");
    cli.ok("keyvault key create --vault-name kv-snap --name revoked-key -o none");
    cli.ok("keyvault key create --vault-name kv-snap --name gone-key -o none");
    cli.ok("keyvault key delete --vault-name kv-snap --name gone-key -o none");
    // kv-nopp: soft delete without purge protection.
    cli.ok("keyvault create --name kv-nopp --location westus2 --retention-days 7 -o none");
    cli.ok("keyvault key create --vault-name kv-nopp --name cmk-key -o none");
    // kv-table: keys for the table snapshots.
    cli.ok("keyvault create --name kv-table --location westus2 --enable-purge-protection --retention-days 30 -o none");
    cli.ok("keyvault key create --vault-name kv-table --name alpha -o none");
    cli.ok("keyvault key create --vault-name kv-table --name beta --size 4096 -o none");
    cli.ok("keyvault key create --vault-name kv-table --name gamma --disabled -o none");
    // kv-gone: deleted under purge protection.
    cli.ok("keyvault create --name kv-gone --location westus2 --enable-purge-protection --retention-days 7 -o none");
    cli.ok("keyvault delete --name kv-gone -o none");

    // Accounts: one on S0, one without an identity, one whose identity has no access, one with access to both
    // vaults, one whose customer-managed key is disabled.
    let me = cli.ok("account show --query user.objectId -o tsv");
    cli.ok(&format!(
        "role assignment create --role a97b65f3-24c7-4388-baec-2e87135dc908 --assignee-object-id {} --resource-group cmk-dev -o none",
        me.trim()
    ));
    let create = "cognitiveservices account create --location westus2 --kind TextAnalytics -o none --name";
    cli.ok(&format!("{create} snap-s0 --sku S0 --assign-identity"));
    cli.ok(&format!("{create} snap-noid --sku E0"));
    cli.ok(&format!("{create} snap-denied --sku E0 --assign-identity"));
    cli.ok(&format!("{create} snap-e0 --sku E0 --assign-identity"));
    cli.ok(&format!("{create} snap-revoked --sku E0"));
    let principal = cli.ok("cognitiveservices account identity show --name snap-e0 --query principalId -o tsv");
    let principal = principal.trim();
    for vault in ["kv-snap", "kv-nopp"] {
        cli.ok(&format!(
            "keyvault set-policy --name {vault} --object-id {principal} --key-permissions get wrapKey unwrapKey -o none"
        ));
    }

    let note = work.join("note.txt");
    std::fs::write(&note, "quarterly numbers\n").unwrap();
    let note = note.to_str().unwrap();
    for name in ["reports/q3.txt", "notes/hello.txt"] {
        cli.ok(&format!(
            "cognitiveservices data put --account snap-e0 --name {name} --file {note} -o none"
        ));
    }
    cli.ok(
        "cognitiveservices account encryption set --name snap-revoked --vault-name kv-snap --key-name revoked-key \
         --grant-access -o none",
    );
    cli.ok(&format!(
        "cognitiveservices data put --account snap-revoked --name note.txt --file {note} -o none"
    ));
    cli.ok("keyvault key set-attributes --vault-name kv-snap --name revoked-key --enabled false -o none");
    // The account notices within about a second.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let output = cli.run(&[
            "cognitiveservices",
            "data",
            "get",
            "--account",
            "snap-revoked",
            "--name",
            "note.txt",
        ]);
        if String::from_utf8_lossy(&output.stderr).contains("(CustomerManagedKeyInaccessible)") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the disabled key did not block the account's content"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn help_tables_and_refusals_match_their_snapshots() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data);
    let port = server.base.rsplit_once(':').unwrap().1.to_owned();
    let credentials: Value =
        serde_json::from_slice(&std::fs::read(data.join("dev-credentials.json")).unwrap()).unwrap();
    let tenant = credentials["tenant_id"].as_str().unwrap().to_owned();

    let cli = Cli {
        config: dir.path().join("config"),
    };
    cli.ok(&format!("login --data-dir {} -o none", data.display()));
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    set_up(&cli, &work);
    // Every token the cases need is in the cache now: the cases, run in parallel, only read it.

    let cases = |config: &Path| {
        let cases = trycmd::TestCases::new();
        cases
            .register_bin("cmk", Path::new(env!("CARGO_BIN_EXE_cmk")))
            .env("CMK_CONFIG_DIR", config.to_str().unwrap())
            .timeout(Duration::from_secs(60))
            .insert_var("[PORT]", port.clone())
            .unwrap()
            .insert_var("[TENANT]", tenant.clone())
            .unwrap();
        cases
    };
    cases(&cli.config).case("tests/snapshots/*.toml").run();
    let empty = dir.path().join("no-login");
    std::fs::create_dir_all(&empty).unwrap();
    cases(&empty).case("tests/snapshots/logged-out/*.toml").run();

    drop(server);
    eprintln!("snapshots checked in {:.1} s", started.elapsed().as_secs_f64());
}
