//! The command line client, named and shaped like az: `cmk group create`, `cmk keyvault key create`,
//! `cmk cognitiveservices account encryption set`, ... Every command prints JSON by default (`--output` picks a
//! table, tab-separated values or nothing; `--query` applies JMESPath first), writes errors to stderr with the
//! server's code and message, and exits with a status scripts can rely on (see `docs/cli.md`).

mod admin;
mod cognitive;
mod data;
mod error;
mod group;
mod keyvault;
mod login;
mod output;
mod role;
mod session;

use clap::{Args, Subcommand};
use serde_json::Value;

pub use error::CliError;
pub use output::Format;
use session::Session;

/// Options every client command takes.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value = "json")]
    pub output: Format,
    /// JMESPath query applied to the answer before it is printed.
    #[arg(long, global = true, value_name = "JMESPATH")]
    pub query: Option<String>,
    /// The cmk server to talk to [default: the one you logged in to].
    #[arg(long, global = true, env = "CMK_SERVER", value_name = "URL")]
    pub server: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Log in with a service principal (by default the development server's, from its dev-credentials.json).
    Login(login::LoginArgs),
    /// Forget the login and its cached tokens.
    #[command(after_help = "Example:\n  cmk logout")]
    Logout,
    /// The subscription you work in.
    Account {
        #[command(subcommand)]
        command: login::AccountCommand,
    },
    /// Resource groups.
    Group {
        #[command(subcommand)]
        command: group::GroupCommand,
    },
    /// Key vaults and their keys.
    Keyvault {
        #[command(subcommand)]
        command: keyvault::KeyvaultCommand,
    },
    /// Accounts whose content is encrypted at rest, and their content.
    Cognitiveservices {
        #[command(subcommand)]
        command: cognitive::CognitiveCommand,
    },
    /// Role-based access control: role assignments and role definitions.
    Role {
        #[command(subcommand)]
        command: role::RoleCommand,
    },
    /// Operate the deployment: tenants, subscriptions, service principals, the development clock, the audit log.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
}

/// Runs a client command and prints its answer.
pub async fn run(command: ClientCommand, global: GlobalArgs) -> Result<(), CliError> {
    let server = global.server.as_deref().filter(|s| !s.trim().is_empty());
    let answer: Option<Value> = match command {
        ClientCommand::Login(args) => Some(login::login(args, server).await?),
        ClientCommand::Logout => {
            login::logout()?;
            None
        }
        ClientCommand::Account { command } => Some(login::account(command, &Session::load(server)?).await?),
        ClientCommand::Group { command } => group::run(command, &Session::load(server)?).await?,
        ClientCommand::Keyvault { command } => keyvault::run(command, &Session::load(server)?).await?,
        ClientCommand::Cognitiveservices { command } => cognitive::run(command, &Session::load(server)?).await?,
        ClientCommand::Role { command } => role::run(command, &Session::load(server)?).await?,
        ClientCommand::Admin { command } => admin::run(command, &Session::load(server)?).await?,
    };
    if let Some(answer) = answer {
        let text = output::render(&answer, global.output, global.query.as_deref())?;
        print!("{text}");
    }
    Ok(())
}

/// `?api-version=` of each resource provider, as the Azure SDKs send them.
pub(crate) mod api {
    pub const RESOURCES: &str = "api-version=2025-04-01";
    pub const SUBSCRIPTIONS: &str = "api-version=2022-12-01";
    pub const KEYVAULT: &str = "api-version=2026-05-15";
    pub const COGNITIVE: &str = "api-version=2025-09-01";
}
