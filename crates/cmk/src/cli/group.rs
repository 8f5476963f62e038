//! `cmk group create|show|list|delete`.

use std::collections::BTreeMap;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::api;
use super::error::CliError;
use super::session::Session;

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Create a resource group (or update its tags).
    #[command(after_help = "Example:\n  cmk group create --name rg-cmk --location westus2")]
    Create {
        #[arg(long, short = 'n')]
        name: String,
        #[arg(long, short = 'l')]
        location: String,
        /// Tags as key=value.
        #[arg(long, num_args = 0.., value_name = "KEY=VALUE")]
        tags: Vec<String>,
    },
    /// Show a resource group.
    #[command(after_help = "Example:\n  cmk group show --name rg-cmk")]
    Show {
        #[arg(long, short = 'n')]
        name: String,
    },
    /// List the resource groups of the subscription.
    #[command(after_help = "Example:\n  cmk group list --output table")]
    List,
    /// Delete a resource group.
    #[command(after_help = "Example:\n  cmk group delete --name rg-cmk --yes")]
    Delete {
        #[arg(long, short = 'n')]
        name: String,
        /// Do not ask for confirmation (cmk never asks; accepted as az does).
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

pub fn parse_tags(tags: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    tags.iter()
        .map(|tag| match tag.split_once('=') {
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => Ok((tag.clone(), String::new())),
        })
        .collect()
}

fn path(session: &Session, name: &str) -> String {
    format!(
        "{}/resourcegroups/{name}?{}",
        session.subscription_path(),
        api::RESOURCES
    )
}

pub async fn run(command: GroupCommand, session: &Session) -> Result<Option<Value>, CliError> {
    Ok(match command {
        GroupCommand::Create { name, location, tags } => {
            let body = json!({ "location": location, "tags": parse_tags(&tags)? });
            Some(session.arm(Method::PUT, &path(session, &name), Some(&body)).await?)
        }
        GroupCommand::Show { name } => Some(session.arm(Method::GET, &path(session, &name), None).await?),
        GroupCommand::List => {
            let url = format!("{}/resourcegroups?{}", session.subscription_path(), api::RESOURCES);
            Some(list_all(session, &url).await?)
        }
        GroupCommand::Delete { name, yes: _ } => {
            session.arm(Method::DELETE, &path(session, &name), None).await?;
            None
        }
    })
}

/// Every page of an ARM list, following `nextLink`.
pub async fn list_all(session: &Session, path: &str) -> Result<Value, CliError> {
    let mut items = Vec::new();
    let mut page = session.arm(Method::GET, path, None).await?;
    loop {
        items.extend(page["value"].as_array().cloned().unwrap_or_default());
        let Some(next) = page["nextLink"].as_str().map(str::to_owned) else {
            break;
        };
        let resource = session.management_resource();
        page = session.call(Method::GET, &next, &resource, None).await?;
    }
    Ok(Value::Array(items))
}
