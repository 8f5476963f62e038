//! `cmk login`, `cmk logout`, `cmk account show`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use cmk_api::resources::{ListResult, Subscription};
use reqwest::Method;
use serde_json::{Value, json};

use super::api;
use super::error::CliError;
use super::session::{Profile, Session};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  Log in to the development server on this machine:\n    cmk login\n\n  Log in with a service principal:\n    cmk login --server https://cmk.example.com:8443 --tenant TENANT --client-id APP --client-secret SECRET --subscription SUB"
)]
pub struct LoginArgs {
    /// Tenant of the service principal [default: from dev-credentials.json].
    #[arg(long)]
    tenant: Option<String>,
    /// Application (client) id [default: from dev-credentials.json].
    #[arg(long, short = 'u')]
    client_id: Option<String>,
    /// Client secret [default: from dev-credentials.json].
    // Secrets are base64url and may start with '-'.
    #[arg(
        long,
        short = 'p',
        env = "CMK_CLIENT_SECRET",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    client_secret: Option<String>,
    /// Subscription to work in [default: from dev-credentials.json, else the first one].
    #[arg(long)]
    subscription: Option<String>,
    /// Resource group used when a command names none [default: from dev-credentials.json].
    #[arg(long, short = 'g')]
    resource_group: Option<String>,
    /// A CA certificate to trust [default: the development server's].
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// The development server's data folder, where dev-credentials.json is [default: $XDG_DATA_HOME/cmk].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    /// The subscription of the login.
    #[command(after_help = "Example:\n  cmk account show --query tenantId -o tsv")]
    Show,
}

fn dev_credentials(data_dir: &std::path::Path) -> Result<Value, CliError> {
    let path = data_dir.join("dev-credentials.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        CliError::NotLoggedIn(format!(
            "No credentials given, and {} cannot be read ({e}). Start the development server ('cmk server --dev') or pass --tenant, --client-id and --client-secret.",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| CliError::local(&format!("reading {}", path.display()), e))
}

fn text(value: &Value, field: &str) -> Option<String> {
    value[field].as_str().map(str::to_owned)
}

/// Reads an ARM answer as its cmk-api type.
fn typed<T: serde::de::DeserializeOwned>(answer: Value, what: &str) -> Result<T, CliError> {
    serde_json::from_value(answer).map_err(|e| CliError::local(&format!("reading {what}"), e))
}

fn subscription_entry(profile: &Profile, subscription: &Subscription) -> Value {
    json!({
        "environmentName": "cmk",
        "homeTenantId": profile.tenant_id,
        "id": subscription.subscription_id,
        "isDefault": subscription.subscription_id == profile.subscription_id,
        "name": subscription.display_name,
        "state": subscription.state,
        "tenantId": subscription.tenant_id,
        "user": { "name": profile.client_id, "type": "servicePrincipal" },
    })
}

pub async fn login(args: LoginArgs, server: Option<&str>) -> Result<Value, CliError> {
    let explicit = args.tenant.is_some() || args.client_id.is_some() || args.client_secret.is_some();
    let dev = if explicit {
        Value::Null
    } else {
        dev_credentials(&args.data_dir.clone().unwrap_or_else(crate::dirs::data_dir))?
    };
    let required = |given: Option<String>, field: &str, flag: &str| {
        given
            .or_else(|| text(&dev, field))
            .ok_or_else(|| CliError::Usage(format!("the following arguments are required: {flag}")))
    };
    let server = server
        .map(str::to_owned)
        .or_else(|| text(&dev, "authority"))
        .unwrap_or_else(|| "https://localhost:8443".into());
    let mut profile = Profile {
        server: server.trim_end_matches('/').to_owned(),
        tenant_id: required(args.tenant, "tenant_id", "--tenant")?,
        client_id: required(args.client_id, "client_id", "--client-id")?,
        client_secret: required(args.client_secret, "client_secret", "--client-secret")?,
        subscription_id: args
            .subscription
            .clone()
            .or_else(|| text(&dev, "subscription_id"))
            .unwrap_or_default(),
        resource_group: args.resource_group.or_else(|| text(&dev, "resource_group")),
        ca_file: args.ca_file.or_else(|| text(&dev, "ca_file").map(PathBuf::from)),
    };
    // A fresh login starts with no cached tokens.
    Session::forget()?;
    let session = Session::new(profile.clone())?;
    let listed: ListResult<Subscription> = typed(
        session
            .arm(Method::GET, &format!("/subscriptions?{}", api::SUBSCRIPTIONS), None)
            .await?,
        "the subscriptions",
    )?;
    let subscriptions = listed.value;
    if profile.subscription_id.is_empty() {
        profile.subscription_id = subscriptions
            .first()
            .map(|s| s.subscription_id.clone())
            .ok_or_else(|| CliError::NotLoggedIn("The principal has no subscription to work in.".into()))?;
    } else if !subscriptions
        .iter()
        .any(|s| s.subscription_id == profile.subscription_id)
    {
        return Err(CliError::NotLoggedIn(format!(
            "The subscription '{}' is not one this principal can use.",
            profile.subscription_id
        )));
    }
    let session = Session::new(profile.clone())?;
    session.save()?;
    Ok(Value::Array(
        subscriptions.iter().map(|s| subscription_entry(&profile, s)).collect(),
    ))
}

pub fn logout() -> Result<(), CliError> {
    if !Session::forget()? {
        return Err(CliError::NotLoggedIn("There is no login to forget.".into()));
    }
    Ok(())
}

pub async fn account(command: AccountCommand, session: &Session) -> Result<Value, CliError> {
    match command {
        AccountCommand::Show => {
            let subscription: Subscription = typed(
                session
                    .arm(
                        Method::GET,
                        &format!("{}?{}", session.subscription_path(), api::SUBSCRIPTIONS),
                        None,
                    )
                    .await?,
                "the subscription",
            )?;
            let mut entry = subscription_entry(&session.profile, &subscription);
            // The login's object id: what role assignments name (`--assignee-object-id`).
            entry["user"]["objectId"] = json!(super::keyvault::signed_in_object_id(session).await?);
            Ok(entry)
        }
    }
}
