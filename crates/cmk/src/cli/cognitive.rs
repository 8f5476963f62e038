//! `cmk cognitiveservices account ...` (the management plane of accounts: keys, identity, customer-managed keys,
//! re-encryption, deletion and recovery) and `cmk cognitiveservices data ...` (an account's content, in
//! `data.rs`).

use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use cmk_api::accounts::{
    Account, AccountDefinition, AccountDefinitionProperties, EncryptionDefinition, IdentityDefinition,
    KeyVaultPropertiesDefinition, ReencryptionStatus, RegenerateKeyParameters, Sku,
};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::api;
use super::data::{self, DataCommand, ProgressArgs};
use super::error::CliError;
use super::group::{list_all, parse_tags};
use super::session::Session;

/// How often `reencrypt` asks for the job's progress.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Subcommand, Debug)]
pub enum CognitiveCommand {
    /// Accounts: create, keys, identity, customer-managed keys, re-encryption, deletion and recovery.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// The content stored in an account: upload, download, list, show, delete.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
}

/// The account a command works on.
#[derive(clap::Args, Debug, Clone)]
pub struct AccountRef {
    /// Name of the account.
    #[arg(long, short = 'n')]
    pub name: String,
    /// Resource group [default: the login's].
    #[arg(long, short = 'g')]
    pub resource_group: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    /// Create an account. Its content is encrypted with Microsoft-managed keys until customer-managed keys are set.
    #[command(
        after_help = "Examples:\n  cmk cognitiveservices account create --name contoso-text --resource-group rg-cmk --location westus2 --kind TextAnalytics --sku E0\n  cmk cognitiveservices account create -n contoso-text -g rg-cmk -l westus2 --kind TextAnalytics --sku E0 --custom-domain contoso-text --assign-identity --tags team=search"
    )]
    Create {
        #[command(flatten)]
        account: AccountRef,
        /// Region, for example westus2.
        #[arg(long, short = 'l')]
        location: String,
        /// Kind of account, for example TextAnalytics or OpenAI.
        #[arg(long)]
        kind: String,
        /// Pricing tier: F0, S0, S, S1...S4 or E0. Customer-managed keys need E0.
        #[arg(long)]
        sku: String,
        /// Subdomain of the account's endpoint [default: the account name].
        #[arg(long, value_name = "SUBDOMAIN")]
        custom_domain: Option<String>,
        /// Enable the system-assigned managed identity.
        #[arg(long)]
        assign_identity: bool,
        /// Tags as key=value.
        #[arg(long, num_args = 0.., value_name = "KEY=VALUE")]
        tags: Vec<String>,
        /// Accept the terms without asking (cmk never asks; accepted as az does).
        #[arg(long)]
        yes: bool,
    },
    /// Change an account's pricing tier or tags.
    #[command(
        after_help = "Example:\n  cmk cognitiveservices account update --name contoso-text --sku E0 --tags team=search"
    )]
    Update {
        #[command(flatten)]
        account: AccountRef,
        /// New pricing tier.
        #[arg(long)]
        sku: Option<String>,
        /// Tags as key=value; they replace the account's tags.
        #[arg(long, num_args = 0.., value_name = "KEY=VALUE")]
        tags: Option<Vec<String>>,
    },
    /// Show an account.
    #[command(
        after_help = "Example:\n  cmk cognitiveservices account show --name contoso-text --resource-group rg-cmk"
    )]
    Show {
        #[command(flatten)]
        account: AccountRef,
    },
    /// List the accounts of a resource group, or of the whole subscription.
    #[command(
        after_help = "Examples:\n  cmk cognitiveservices account list --output table\n  cmk cognitiveservices account list --resource-group rg-cmk --query \"[].properties.endpoint\""
    )]
    List {
        /// Only the accounts of this resource group [default: every account of the subscription].
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
    },
    /// Delete an account. It stays recoverable, with its content, for 48 hours.
    #[command(
        after_help = "Example:\n  cmk cognitiveservices account delete --name contoso-text --resource-group rg-cmk"
    )]
    Delete {
        #[command(flatten)]
        account: AccountRef,
    },
    /// List the deleted accounts of the subscription that can still be recovered.
    #[command(after_help = "Example:\n  cmk cognitiveservices account list-deleted --output table")]
    ListDeleted,
    /// Show a deleted account.
    #[command(
        after_help = "Example:\n  cmk cognitiveservices account show-deleted --location westus2 --resource-group rg-cmk --name contoso-text"
    )]
    ShowDeleted {
        #[command(flatten)]
        account: AccountRef,
        /// Region of the deleted account.
        #[arg(long, short = 'l')]
        location: String,
    },
    /// Purge a deleted account and all its content, for good.
    #[command(
        after_help = "Example:\n  cmk cognitiveservices account purge --location westus2 --resource-group rg-cmk --name contoso-text"
    )]
    Purge {
        #[command(flatten)]
        account: AccountRef,
        /// Region of the deleted account.
        #[arg(long, short = 'l')]
        location: String,
    },
    /// Recover a deleted account, with its content, keys and settings.
    #[command(
        after_help = "Example:\n  cmk cognitiveservices account recover --name contoso-text --resource-group rg-cmk"
    )]
    Recover {
        #[command(flatten)]
        account: AccountRef,
        /// Region of the deleted account [default: found in the list of deleted accounts].
        #[arg(long, short = 'l')]
        location: Option<String>,
    },
    /// The account's API keys (for the Ocp-Apim-Subscription-Key header).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The account's system-assigned managed identity.
    Identity {
        #[command(subcommand)]
        command: IdentityCommand,
    },
    /// Encryption at rest: Microsoft-managed keys or a customer-managed key in a vault.
    Encryption {
        #[command(subcommand)]
        command: EncryptionCommand,
    },
    /// Re-encrypt the account's content under a new data key, and wait for the job to finish.
    #[command(
        after_help = "Examples:\n  cmk cognitiveservices account reencrypt --name contoso-text --resource-group rg-cmk\n  cmk cognitiveservices account reencrypt --name contoso-text --no-wait\n  cmk cognitiveservices account reencrypt-status --name contoso-text"
    )]
    Reencrypt {
        #[command(flatten)]
        account: AccountRef,
        /// Start the job and print it without waiting for it to finish.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        progress: ProgressArgs,
    },
    /// Show the account's latest re-encryption job.
    #[command(
        after_help = "Example:\n  cmk cognitiveservices account reencrypt-status --name contoso-text --query status"
    )]
    ReencryptStatus {
        #[command(flatten)]
        account: AccountRef,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "lower")]
pub enum KeyName {
    Key1,
    Key2,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Show the account's two API keys.
    #[command(
        after_help = "Example:\n  cmk cognitiveservices account keys list --name contoso-text --query key1 -o tsv"
    )]
    List {
        #[command(flatten)]
        account: AccountRef,
    },
    /// Replace one of the two API keys with a new one; the other keeps working.
    #[command(
        after_help = "Example:\n  cmk cognitiveservices account keys regenerate --name contoso-text --key-name key2"
    )]
    Regenerate {
        #[command(flatten)]
        account: AccountRef,
        /// The key to replace.
        #[arg(long, value_enum, ignore_case = true)]
        key_name: KeyName,
    },
}

#[derive(Subcommand, Debug)]
pub enum IdentityCommand {
    /// Enable the system-assigned managed identity.
    #[command(
        after_help = "Example:\n  cmk cognitiveservices account identity assign --name contoso-text --resource-group rg-cmk"
    )]
    Assign {
        #[command(flatten)]
        account: AccountRef,
    },
    /// Disable the managed identity and delete its principal.
    #[command(
        after_help = "Example:\n  cmk cognitiveservices account identity remove --name contoso-text --resource-group rg-cmk"
    )]
    Remove {
        #[command(flatten)]
        account: AccountRef,
    },
    /// Show the managed identity.
    #[command(
        after_help = "Example:\n  cmk cognitiveservices account identity show --name contoso-text --query principalId -o tsv"
    )]
    Show {
        #[command(flatten)]
        account: AccountRef,
    },
}

#[derive(Subcommand, Debug)]
pub enum EncryptionCommand {
    /// Encrypt the account's data key with a customer-managed key (an RSA-2048 key in a vault with purge
    /// protection). The account needs the E0 tier and, unless --grant-access is given, an identity that may get,
    /// wrapKey and unwrapKey the key.
    #[command(
        after_help = "Examples:\n  Use a key the account's identity may already use, following its latest version:\n    cmk cognitiveservices account encryption set --name contoso-text --vault-name kv-cmk --key-name cmk-key\n\n  Pin a key version by its identifier:\n    cmk cognitiveservices account encryption set --name contoso-text --key-uri https://kv-cmk.vault.localhost:8443/keys/cmk-key/0123456789abcdef0123456789abcdef\n\n  Enable the identity and grant it access to the key first, as the portal does:\n    cmk cognitiveservices account encryption set --name contoso-text --vault-name kv-cmk --key-name cmk-key --grant-access"
    )]
    Set {
        #[command(flatten)]
        account: AccountRef,
        /// The key's identifier: https://{vault}.vault.{host}/keys/{name}[/{version}]. Without a version the
        /// account follows the key's latest version.
        #[arg(
            long,
            value_name = "URI",
            conflicts_with_all = ["vault_name", "key_name", "key_version"],
            required_unless_present = "vault_name"
        )]
        key_uri: Option<String>,
        /// Name of the vault holding the key (a vault of the server you are logged in to).
        #[arg(long, requires = "key_name")]
        vault_name: Option<String>,
        /// Name of the key.
        #[arg(long, requires = "vault_name")]
        key_name: Option<String>,
        /// A version to pin [default: follow the key's latest version].
        #[arg(long, requires = "key_name", value_name = "VERSION")]
        key_version: Option<String>,
        /// Enable the account's identity and grant it get, wrapKey and unwrapKey on the vault first.
        #[arg(long)]
        grant_access: bool,
    },
    /// Show the account's encryption settings, including whether the customer-managed key is accessible.
    #[command(
        after_help = "Example:\n  cmk cognitiveservices account encryption show --name contoso-text --query keyAccess"
    )]
    Show {
        #[command(flatten)]
        account: AccountRef,
    },
    /// Go back to Microsoft-managed keys: the data key is re-wrapped under the platform key.
    #[command(after_help = "Example:\n  cmk cognitiveservices account encryption revert --name contoso-text")]
    Revert {
        #[command(flatten)]
        account: AccountRef,
    },
}

/// The account's management path, `{A}`, without the api-version.
pub(super) fn account_id(session: &Session, account: &AccountRef) -> Result<String, CliError> {
    let group = session.resource_group(account.resource_group.as_deref())?;
    Ok(format!(
        "{}/resourceGroups/{group}/providers/Microsoft.CognitiveServices/accounts/{}",
        session.subscription_path(),
        account.name
    ))
}

fn with_api(path: &str) -> String {
    format!("{path}?{}", api::COGNITIVE)
}

/// The account's JSON, as the management plane answers it.
pub(super) async fn get_account(session: &Session, account: &AccountRef) -> Result<Value, CliError> {
    session
        .arm(Method::GET, &with_api(&account_id(session, account)?), None)
        .await
}

fn deleted_path(session: &Session, location: &str, group: &str, name: &str) -> String {
    with_api(&format!(
        "{}/providers/Microsoft.CognitiveServices/locations/{location}/resourceGroups/{group}/deletedAccounts/{name}",
        session.subscription_path()
    ))
}

fn deleted_list_path(session: &Session) -> String {
    with_api(&format!(
        "{}/providers/Microsoft.CognitiveServices/deletedAccounts",
        session.subscription_path()
    ))
}

/// `https://kv1.vault.localhost:8443/keys/k1[/version]` → (`https://kv1.vault.localhost:8443/`, `k1`, version or
/// empty).
pub(super) fn split_key_uri(uri: &str) -> Result<(String, String, String), CliError> {
    let invalid = |why: &str| {
        CliError::Usage(format!(
            "argument --key-uri: '{uri}' is not a key identifier ({why}); expected https://{{vault}}.vault.{{host}}/keys/{{name}}[/{{version}}]"
        ))
    };
    let url = reqwest::Url::parse(uri).map_err(|e| invalid(&e.to_string()))?;
    if url.scheme() != "https" {
        return Err(invalid("it must be an https:// URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it carries a query or a fragment"));
    }
    let segments: Vec<&str> = url.path_segments().map(|s| s.collect::<Vec<_>>()).unwrap_or_default();
    let segments: &[&str] = match segments.split_last() {
        Some((&"", rest)) => rest,
        _ => &segments,
    };
    let (name, version) = match segments {
        ["keys", name] => (*name, ""),
        ["keys", name, version] => (*name, *version),
        _ => return Err(invalid("its path is not /keys/{name} or /keys/{name}/{version}")),
    };
    if name.is_empty() {
        return Err(invalid("the key name is empty"));
    }
    Ok((
        format!("{}/", url.origin().ascii_serialization()),
        name.to_owned(),
        version.to_owned(),
    ))
}

/// A request body from its account type.
fn wire_body(body: &impl Serialize) -> Result<Value, CliError> {
    serde_json::to_value(body).map_err(|e| CliError::Local(format!("the request could not be written: {e}")))
}

/// An answer read as its account type, to find the fields the command needs; what is printed stays the answer
/// as the server sent it. The error names what was wrong, never a value.
fn read<T: DeserializeOwned>(answer: &Value) -> Result<T, CliError> {
    T::deserialize(answer).map_err(|e| {
        CliError::Local(format!(
            "the server's answer is not the expected Cognitive Services shape: {e}"
        ))
    })
}

fn job_failure(job: &ReencryptionStatus) -> CliError {
    let error = job.error.as_ref();
    let code = error
        .map(|e| e.code.as_str())
        .filter(|c| !c.is_empty())
        .unwrap_or("ReencryptionFailed")
        .to_owned();
    let reason = error
        .map(|e| e.message.as_str())
        .filter(|m| !m.is_empty())
        .unwrap_or("the re-encryption job failed");
    CliError::Server {
        status: 500,
        code,
        message: format!(
            "{reason} ({} of {} objects re-encrypted; run the command again to resume.)",
            job.objects_done, job.objects_total,
        ),
    }
}

async fn reencrypt(
    session: &Session,
    account: &AccountRef,
    no_wait: bool,
    progress: &ProgressArgs,
) -> Result<Value, CliError> {
    let path = with_api(&format!("{}/reencrypt", account_id(session, account)?));
    let mut answer = session.arm(Method::POST, &path, None).await?;
    if no_wait {
        return Ok(answer);
    }
    let mut job: ReencryptionStatus = read(&answer)?;
    let bar = data::object_bar(progress, job.objects_total);
    while job.status == "Running" {
        bar.set_length(job.objects_total);
        bar.set_position(job.objects_done);
        tokio::time::sleep(POLL_INTERVAL).await;
        let polled = session.arm(Method::GET, &path, None).await.and_then(|polled| {
            let job = read::<ReencryptionStatus>(&polled)?;
            Ok((polled, job))
        });
        (answer, job) = match polled {
            Ok(polled) => polled,
            Err(e) => {
                bar.abandon();
                return Err(e);
            }
        };
    }
    bar.set_length(job.objects_total);
    bar.set_position(job.objects_done);
    if job.status == "Succeeded" {
        bar.finish();
        Ok(answer)
    } else {
        bar.abandon();
        Err(job_failure(&job))
    }
}

/// A deleted account, read.
async fn find_deleted(session: &Session, account: &AccountRef, location: Option<String>) -> Result<Account, CliError> {
    let group = session.resource_group(account.resource_group.as_deref())?;
    if let Some(location) = location {
        let answer = session
            .arm(
                Method::GET,
                &deleted_path(session, &location, &group, &account.name),
                None,
            )
            .await?;
        return read(&answer);
    }
    let marker = format!("/resourcegroups/{}/", group.to_ascii_lowercase());
    let deleted: Vec<Value> = serde_json::from_value(list_all(session, &deleted_list_path(session)).await?)
        .map_err(|e| CliError::Local(format!("the server's answer is not a list of deleted accounts: {e}")))?;
    let mut found = None;
    for answer in &deleted {
        let candidate: Account = read(answer)?;
        if candidate.name.eq_ignore_ascii_case(&account.name) && candidate.id.to_ascii_lowercase().contains(&marker) {
            found = Some(candidate);
            break;
        }
    }
    found.ok_or_else(|| CliError::Server {
        status: 404,
        code: "DeletedAccountNotFound".into(),
        message: format!(
            "No deleted account '{}' in the resource group '{group}' can be recovered.",
            account.name
        ),
    })
}

async fn set_encryption(
    session: &Session,
    account: &AccountRef,
    key: (String, String, String),
    grant_access: bool,
) -> Result<Value, CliError> {
    let (vault_uri, key_name, key_version) = key;
    let id = account_id(session, account)?;
    let answer = if grant_access {
        // cmk's own admin call: its body is cmk-server's, not an Azure shape of cmk-api.
        let body = json!({
            "accountId": id,
            "keyVaultUri": vault_uri,
            "keyName": key_name,
            "keyVersion": key_version,
        });
        session
            .arm(Method::POST, "/cmk/admin/configureCustomerManagedKey", Some(&body))
            .await?
    } else {
        let body = encryption_body(EncryptionDefinition {
            key_source: Some("Microsoft.KeyVault".into()),
            key_vault_properties: Some(KeyVaultPropertiesDefinition {
                key_name: Some(key_name),
                key_version: Some(key_version),
                key_vault_uri: Some(vault_uri),
                identity_client_id: None,
            }),
        })?;
        session.arm(Method::PATCH, &with_api(&id), Some(&body)).await?
    };
    Ok(encryption_of(answer))
}

/// A PATCH of an account's encryption.
fn encryption_body(encryption: EncryptionDefinition) -> Result<Value, CliError> {
    wire_body(&AccountDefinition {
        properties: Some(AccountDefinitionProperties {
            encryption: Some(encryption),
            ..AccountDefinitionProperties::default()
        }),
        ..AccountDefinition::default()
    })
}

/// `properties.encryption` of an account, as the server sent it (printed, not read).
fn encryption_of(mut account: Value) -> Value {
    account
        .pointer_mut("/properties/encryption")
        .map(Value::take)
        .unwrap_or(Value::Null)
}

/// `identity` of an account, as the server sent it (printed, not read).
fn identity_of(mut account: Value) -> Value {
    account.get_mut("identity").map(Value::take).unwrap_or(Value::Null)
}

pub async fn run(command: CognitiveCommand, session: &Session) -> Result<Option<Value>, CliError> {
    let command = match command {
        CognitiveCommand::Account { command } => command,
        CognitiveCommand::Data { command } => return data::run(command, session).await,
    };
    Ok(match command {
        AccountCommand::Create {
            account,
            location,
            kind,
            sku,
            custom_domain,
            assign_identity,
            tags,
            yes: _,
        } => {
            let body = wire_body(&AccountDefinition {
                location: Some(location),
                kind: Some(kind),
                sku: Some(Sku { name: sku }),
                tags: Some(parse_tags(&tags)?),
                identity: assign_identity.then(|| IdentityDefinition {
                    identity_type: "SystemAssigned".into(),
                }),
                properties: Some(AccountDefinitionProperties {
                    custom_sub_domain_name: custom_domain,
                    ..AccountDefinitionProperties::default()
                }),
            })?;
            let path = with_api(&account_id(session, &account)?);
            Some(session.arm(Method::PUT, &path, Some(&body)).await?)
        }
        AccountCommand::Update { account, sku, tags } => {
            let body = wire_body(&AccountDefinition {
                sku: sku.map(|name| Sku { name }),
                tags: tags.as_deref().map(parse_tags).transpose()?,
                ..AccountDefinition::default()
            })?;
            let path = with_api(&account_id(session, &account)?);
            Some(session.arm(Method::PATCH, &path, Some(&body)).await?)
        }
        AccountCommand::Show { account } => Some(get_account(session, &account).await?),
        AccountCommand::List { resource_group } => {
            let path = match resource_group {
                Some(group) => format!(
                    "{}/resourceGroups/{group}/providers/Microsoft.CognitiveServices/accounts",
                    session.subscription_path()
                ),
                None => format!(
                    "{}/providers/Microsoft.CognitiveServices/accounts",
                    session.subscription_path()
                ),
            };
            Some(list_all(session, &with_api(&path)).await?)
        }
        AccountCommand::Delete { account } => {
            let path = with_api(&account_id(session, &account)?);
            session.arm(Method::DELETE, &path, None).await?;
            None
        }
        AccountCommand::ListDeleted => Some(list_all(session, &deleted_list_path(session)).await?),
        AccountCommand::ShowDeleted { account, location } => {
            let group = session.resource_group(account.resource_group.as_deref())?;
            let path = deleted_path(session, &location, &group, &account.name);
            Some(session.arm(Method::GET, &path, None).await?)
        }
        AccountCommand::Purge { account, location } => {
            let group = session.resource_group(account.resource_group.as_deref())?;
            let path = deleted_path(session, &location, &group, &account.name);
            session.arm(Method::DELETE, &path, None).await?;
            None
        }
        AccountCommand::Recover { account, location } => {
            let deleted = find_deleted(session, &account, location).await?;
            let body = wire_body(&AccountDefinition {
                location: Some(deleted.location),
                kind: Some(deleted.kind),
                sku: Some(deleted.sku),
                tags: Some(deleted.tags),
                identity: None,
                properties: Some(AccountDefinitionProperties {
                    restore: Some(true),
                    ..AccountDefinitionProperties::default()
                }),
            })?;
            let path = with_api(&account_id(session, &account)?);
            Some(session.arm(Method::PUT, &path, Some(&body)).await?)
        }
        AccountCommand::Keys { command } => Some(match command {
            KeysCommand::List { account } => {
                let path = with_api(&format!("{}/listKeys", account_id(session, &account)?));
                session.arm(Method::POST, &path, None).await?
            }
            KeysCommand::Regenerate { account, key_name } => {
                let path = with_api(&format!("{}/regenerateKey", account_id(session, &account)?));
                let key_name = match key_name {
                    KeyName::Key1 => "Key1",
                    KeyName::Key2 => "Key2",
                };
                let body = wire_body(&RegenerateKeyParameters {
                    key_name: key_name.into(),
                })?;
                session.arm(Method::POST, &path, Some(&body)).await?
            }
        }),
        AccountCommand::Identity { command } => Some(match command {
            IdentityCommand::Assign { account } => patch_identity(session, &account, "SystemAssigned").await?,
            IdentityCommand::Remove { account } => patch_identity(session, &account, "None").await?,
            IdentityCommand::Show { account } => identity_of(get_account(session, &account).await?),
        }),
        AccountCommand::Encryption { command } => Some(match command {
            EncryptionCommand::Set {
                account,
                key_uri,
                vault_name,
                key_name,
                key_version,
                grant_access,
            } => {
                let key = match (key_uri, vault_name, key_name) {
                    (Some(uri), _, _) => split_key_uri(&uri)?,
                    (None, Some(vault), Some(key)) => (session.vault_url(&vault), key, key_version.unwrap_or_default()),
                    _ => {
                        return Err(CliError::Usage("give --key-uri, or --vault-name and --key-name".into()));
                    }
                };
                set_encryption(session, &account, key, grant_access).await?
            }
            EncryptionCommand::Show { account } => encryption_of(get_account(session, &account).await?),
            EncryptionCommand::Revert { account } => {
                let body = encryption_body(EncryptionDefinition {
                    key_source: Some("Microsoft.CognitiveServices".into()),
                    key_vault_properties: None,
                })?;
                let path = with_api(&account_id(session, &account)?);
                encryption_of(session.arm(Method::PATCH, &path, Some(&body)).await?)
            }
        }),
        AccountCommand::Reencrypt {
            account,
            no_wait,
            progress,
        } => Some(reencrypt(session, &account, no_wait, &progress).await?),
        AccountCommand::ReencryptStatus { account } => {
            let path = with_api(&format!("{}/reencrypt", account_id(session, &account)?));
            Some(session.arm(Method::GET, &path, None).await?)
        }
    })
}

async fn patch_identity(session: &Session, account: &AccountRef, kind: &str) -> Result<Value, CliError> {
    let body = wire_body(&AccountDefinition {
        identity: Some(IdentityDefinition {
            identity_type: kind.into(),
        }),
        ..AccountDefinition::default()
    })?;
    let path = with_api(&account_id(session, account)?);
    Ok(identity_of(session.arm(Method::PATCH, &path, Some(&body)).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_uris_split_into_vault_name_and_version() {
        let (vault, name, version) = split_key_uri("https://kv1.vault.localhost:8443/keys/k1").unwrap_or_default();
        assert_eq!(
            (vault.as_str(), name.as_str(), version.as_str()),
            ("https://kv1.vault.localhost:8443/", "k1", "")
        );
        let (vault, name, version) =
            split_key_uri("https://kv1.vault.localhost:8443/keys/k1/0123abcd/").unwrap_or_default();
        assert_eq!(
            (vault.as_str(), name.as_str(), version.as_str()),
            ("https://kv1.vault.localhost:8443/", "k1", "0123abcd")
        );
        let (vault, _, _) = split_key_uri("https://kv1.vault.azure.net/keys/k1").unwrap_or_default();
        assert_eq!(vault, "https://kv1.vault.azure.net/");
        for bad in [
            "http://kv1.vault.localhost:8443/keys/k1",
            "https://kv1.vault.localhost:8443/secrets/k1",
            "https://kv1.vault.localhost:8443/keys",
            "https://kv1.vault.localhost:8443/keys/k1/v/extra",
            "kv1/keys/k1",
        ] {
            assert!(matches!(split_key_uri(bad), Err(CliError::Usage(_))), "{bad}");
        }
    }
}
