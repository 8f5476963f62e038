//! `cmk keyvault ...` and `cmk keyvault key ...`.

use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::api;
use super::error::CliError;
use super::session::Session;

#[derive(Subcommand, Debug)]
pub enum KeyvaultCommand {
    /// Show a vault.
    #[command(after_help = "Example:\n  cmk keyvault show --name kv-cmk")]
    Show {
        #[arg(long, short = 'n')]
        name: String,
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
    },
}

pub async fn run(command: KeyvaultCommand, session: &Session) -> Result<Option<Value>, CliError> {
    Ok(match command {
        KeyvaultCommand::Show { name, resource_group } => {
            let group = session.resource_group(resource_group.as_deref())?;
            let path = format!(
                "{}/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults/{name}?{}",
                session.subscription_path(),
                api::KEYVAULT
            );
            Some(session.arm(Method::GET, &path, None).await?)
        }
    })
}
