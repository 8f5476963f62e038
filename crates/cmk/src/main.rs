//! `cmk`: one binary for the server and its command line client.
#![forbid(unsafe_code)]

mod cli;
mod dirs;
mod server_command;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cmk",
    version,
    about = "Customer-managed keys for encryption at rest, self-hosted"
)]
struct Cli {
    #[command(flatten)]
    global: cli::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: directory, management plane, vaults and accounts on one HTTPS listener.
    #[command(after_help = "Examples:\n  cmk server --dev\n  cmk server --config server.toml")]
    Server(server_command::ServerArgs),
    #[command(flatten)]
    Client(cli::ClientCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cmk: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Server(args) => match runtime.block_on(server_command::run(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("cmk: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Client(command) => match runtime.block_on(cli::run(command, cli.global)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{error}");
                error.exit_code()
            }
        },
    }
}
