//! `cmk cognitiveservices account ...` and `cmk cognitiveservices data ...`.

use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::api;
use super::error::CliError;
use super::session::Session;

#[derive(Subcommand, Debug)]
pub enum CognitiveCommand {
    /// Accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    /// Show an account.
    #[command(after_help = "Example:\n  cmk cognitiveservices account show --name contoso-text")]
    Show {
        #[arg(long, short = 'n')]
        name: String,
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
    },
}

pub async fn run(command: CognitiveCommand, session: &Session) -> Result<Option<Value>, CliError> {
    Ok(match command {
        CognitiveCommand::Account {
            command: AccountCommand::Show { name, resource_group },
        } => {
            let group = session.resource_group(resource_group.as_deref())?;
            let path = format!(
                "{}/resourceGroups/{group}/providers/Microsoft.CognitiveServices/accounts/{name}?{}",
                session.subscription_path(),
                api::COGNITIVE
            );
            Some(session.arm(Method::GET, &path, None).await?)
        }
    })
}
