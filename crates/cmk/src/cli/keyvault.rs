//! `cmk keyvault ...` (the vault resource, through the management plane) and `cmk keyvault key ...` (the keys,
//! through the vault's own data plane), named and shaped like `az keyvault`.
//!
//! Answers are the server's wire shapes (ARM's for vaults, with `resourceGroup` added as az adds it; Key Vault's
//! for keys, with `name` added to list items). Binary values are standard base64 on the command line, as az
//! takes and prints them, and base64url on the wire.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD};
use clap::builder::{BoolishValueParser, PossibleValuesParser};
use clap::{Args, Subcommand, ValueEnum};
use cmk_api::keys::{
    BackupKeyResult, KeyAttributes, KeyCreateParameters, KeyItem, KeyListResult, KeyOperationResult,
    KeyOperationsParameters, KeyRestoreParameters, KeySignParameters, KeyUpdateParameters, KeyVerifyParameters,
    KeyVerifyResult,
};
use cmk_api::vaults::{
    AccessPolicyEntry, DeletedVault, Permissions, Sku, Vault, VaultAccessPolicyParameters, VaultAccessPolicyProperties,
    VaultCreateOrUpdateParameters, VaultProperties,
};
use cmk_api::{Base64Url, SecretBase64Url};
use cmk_crypto::SecretBytes;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::api;
use cmk_vault::model::{CERTIFICATE_PERMISSIONS, KeyPermission, SECRET_PERMISSIONS, STORAGE_PERMISSIONS};

use super::error::CliError;
use super::group::{list_all, parse_tags};
use super::session::{Session, write_private};

/// Key permissions of an access policy, as ARM spells them (the vault's own list).
fn key_permission_names() -> Vec<&'static str> {
    KeyPermission::ALL.iter().map(|p| p.as_str()).collect()
}
/// Operations a key version can permit (`key_ops`).
const KEY_OPS: [&str; 8] = [
    "encrypt",
    "decrypt",
    "sign",
    "verify",
    "wrapKey",
    "unwrapKey",
    "import",
    "export",
];
const KEY_TYPES: [&str; 4] = ["RSA", "RSA-HSM", "EC", "EC-HSM"];
const CURVES: [&str; 4] = ["P-256", "P-256K", "P-384", "P-521"];
const ENCRYPTION_ALGORITHMS: [&str; 3] = ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"];
const SIGNATURE_ALGORITHMS: [&str; 10] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES256K", "ES384", "ES512",
];

#[derive(Subcommand, Debug)]
pub enum KeyvaultCommand {
    /// Create a vault; you (the logged-in principal) get every key permission on it: an access policy, or with
    /// --enable-rbac-authorization the role Key Vault Crypto Officer.
    #[command(
        after_help = "Examples:\n  cmk keyvault create --name kv-cmk --resource-group rg-cmk --location westus2\n  cmk keyvault create -n kv-prod -g rg-cmk -l westus2 --enable-purge-protection --retention-days 7 --tags env=prod"
    )]
    Create {
        #[arg(long, short = 'n')]
        name: String,
        /// [default: the login's resource group]
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
        #[arg(long, short = 'l')]
        location: String,
        /// Turn on purge protection: deleted vaults and keys can then never be purged before their retention ends.
        /// Irreversible.
        #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "true|false", value_parser = BoolishValueParser::new())]
        enable_purge_protection: Option<bool>,
        /// Days a deleted vault or key stays recoverable, 7 to 90; fixed at creation.
        #[arg(long, default_value_t = 90, value_name = "DAYS")]
        retention_days: u32,
        #[arg(long, default_value = "standard", value_parser = PossibleValuesParser::new(["standard", "premium"]), ignore_case = true)]
        sku: String,
        /// Authorize the keys data plane with Azure RBAC (role assignments) instead of access policies. Unlike
        /// az, whose default became true, this command keeps access policies unless asked.
        #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "true|false", value_parser = BoolishValueParser::new())]
        enable_rbac_authorization: Option<bool>,
        /// Do not grant yourself access (an access policy, or the Key Vault Crypto Officer role).
        #[arg(long)]
        no_self_perms: bool,
        /// Tags as key=value.
        #[arg(long, num_args = 0.., value_name = "KEY=VALUE")]
        tags: Vec<String>,
    },
    /// Show a vault.
    #[command(after_help = "Example:\n  cmk keyvault show --name kv-cmk --query properties.vaultUri -o tsv")]
    Show(VaultArgs),
    /// List the vaults of a resource group, or of the whole subscription.
    #[command(
        after_help = "Examples:\n  cmk keyvault list --output table\n  cmk keyvault list --resource-group rg-cmk"
    )]
    List {
        /// [default: every resource group of the subscription]
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
    },
    /// Delete a vault. It stays recoverable (and its name taken) for its retention period.
    #[command(after_help = "Example:\n  cmk keyvault delete --name kv-cmk")]
    Delete(VaultArgs),
    /// Recover a deleted vault, with its keys and access policies.
    #[command(after_help = "Example:\n  cmk keyvault recover --name kv-cmk")]
    Recover {
        #[arg(long, short = 'n')]
        name: String,
        /// Where to put the vault back [default: the resource group it was deleted from].
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
        /// Location of the deleted vault [default: looked up].
        #[arg(long, short = 'l')]
        location: Option<String>,
    },
    /// Purge a deleted vault and its keys for good (refused under purge protection).
    #[command(after_help = "Example:\n  cmk keyvault purge --name kv-cmk")]
    Purge(DeletedVaultArgs),
    /// List the deleted vaults of the subscription.
    #[command(
        after_help = "Example:\n  cmk keyvault list-deleted --query \"[].{name:name, purge:properties.scheduledPurgeDate}\""
    )]
    ListDeleted,
    /// Show a deleted vault.
    #[command(after_help = "Example:\n  cmk keyvault show-deleted --name kv-cmk")]
    ShowDeleted(DeletedVaultArgs),
    /// Grant a principal permissions on a vault (added to what it already has).
    #[command(
        after_help = "Example:\n  cmk keyvault set-policy --name kv-cmk --object-id 3f1c4a2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b --key-permissions get wrapKey unwrapKey"
    )]
    SetPolicy {
        #[command(flatten)]
        vault: VaultArgs,
        #[command(flatten)]
        principal: PrincipalArgs,
        #[arg(long, num_args = 1.., value_parser = PossibleValuesParser::new(key_permission_names()), ignore_case = true)]
        key_permissions: Vec<String>,
        #[arg(long, num_args = 1.., value_parser = PossibleValuesParser::new(SECRET_PERMISSIONS), ignore_case = true)]
        secret_permissions: Vec<String>,
        #[arg(long, num_args = 1.., value_parser = PossibleValuesParser::new(CERTIFICATE_PERMISSIONS), ignore_case = true)]
        certificate_permissions: Vec<String>,
        #[arg(long, num_args = 1.., value_parser = PossibleValuesParser::new(STORAGE_PERMISSIONS), ignore_case = true)]
        storage_permissions: Vec<String>,
    },
    /// Remove a principal's access policy from a vault.
    #[command(
        after_help = "Example:\n  cmk keyvault delete-policy --name kv-cmk --object-id 3f1c4a2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
    )]
    DeletePolicy {
        #[command(flatten)]
        vault: VaultArgs,
        #[command(flatten)]
        principal: PrincipalArgs,
    },
    /// Keys of a vault.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

/// A vault, by name.
#[derive(Args, Debug)]
pub struct VaultArgs {
    /// Name of the vault.
    #[arg(long, short = 'n')]
    name: String,
    /// [default: the login's resource group, else the group the vault is found in]
    #[arg(long, short = 'g')]
    resource_group: Option<String>,
}

/// A deleted vault, by name.
#[derive(Args, Debug)]
pub struct DeletedVaultArgs {
    /// Name of the deleted vault.
    #[arg(long, short = 'n')]
    name: String,
    /// Location of the deleted vault [default: looked up].
    #[arg(long, short = 'l')]
    location: Option<String>,
}

/// The principal an access policy is for.
#[derive(Args, Debug)]
pub struct PrincipalArgs {
    /// Object id of the user, group or service principal.
    #[arg(long, value_name = "GUID")]
    object_id: String,
    /// For a compound identity: the application the principal acts through.
    #[arg(long, value_name = "GUID")]
    application_id: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Create a key, or a new version of an existing one.
    #[command(
        after_help = "Examples:\n  cmk keyvault key create --vault-name kv-cmk --name cmk-key\n  cmk keyvault key create --vault-name kv-cmk --name cmk-key --kty RSA-HSM --size 3072 --ops wrapKey unwrapKey\n  cmk keyvault key create --vault-name kv-cmk --name signing-key --kty EC --curve P-384"
    )]
    Create {
        #[command(flatten)]
        key: KeyArgs,
        /// Key type.
        #[arg(long, default_value = "RSA", value_parser = PossibleValuesParser::new(KEY_TYPES))]
        kty: String,
        /// Key size in bits (RSA: 2048, 3072 or 4096) [default: 2048].
        #[arg(long)]
        size: Option<u32>,
        /// Elliptic curve of an EC key [default: P-256].
        #[arg(long, value_parser = PossibleValuesParser::new(CURVES))]
        curve: Option<String>,
        #[command(flatten)]
        attributes: AttributeArgs,
        /// Create the key disabled.
        #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "true|false", value_parser = BoolishValueParser::new())]
        disabled: Option<bool>,
    },
    /// Show a key (its latest version unless --version names one).
    #[command(
        after_help = "Example:\n  cmk keyvault key show --vault-name kv-cmk --name cmk-key --query key.kid -o tsv"
    )]
    Show {
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long, short = 'v')]
        version: Option<String>,
    },
    /// List the keys of a vault.
    #[command(after_help = "Example:\n  cmk keyvault key list --vault-name kv-cmk --query \"[].name\" -o tsv")]
    List {
        /// Name of the vault.
        #[arg(long)]
        vault_name: String,
        #[command(flatten)]
        paging: PagingArgs,
    },
    /// List the versions of a key.
    #[command(after_help = "Example:\n  cmk keyvault key list-versions --vault-name kv-cmk --name cmk-key")]
    ListVersions {
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        paging: PagingArgs,
    },
    /// Change a key version's attributes, operations or tags.
    #[command(
        after_help = "Examples:\n  cmk keyvault key set-attributes --vault-name kv-cmk --name cmk-key --enabled false\n  cmk keyvault key set-attributes --vault-name kv-cmk --name cmk-key --ops wrapKey unwrapKey --tags owner=ops"
    )]
    SetAttributes {
        #[command(flatten)]
        key: KeyArgs,
        /// The version to change [default: the latest].
        #[arg(long, short = 'v')]
        version: Option<String>,
        #[arg(long, value_name = "true|false", value_parser = BoolishValueParser::new())]
        enabled: Option<bool>,
        #[command(flatten)]
        attributes: AttributeArgs,
    },
    /// Delete a key with all its versions; it stays recoverable for the vault's retention period.
    #[command(after_help = "Example:\n  cmk keyvault key delete --vault-name kv-cmk --name cmk-key")]
    Delete(KeyArgs),
    /// Recover a deleted key.
    #[command(after_help = "Example:\n  cmk keyvault key recover --vault-name kv-cmk --name cmk-key")]
    Recover(KeyArgs),
    /// Purge a deleted key for good (refused under purge protection).
    #[command(after_help = "Example:\n  cmk keyvault key purge --vault-name kv-cmk --name cmk-key")]
    Purge(KeyArgs),
    /// List the deleted keys of a vault.
    #[command(after_help = "Example:\n  cmk keyvault key list-deleted --vault-name kv-cmk")]
    ListDeleted {
        /// Name of the vault.
        #[arg(long)]
        vault_name: String,
        #[command(flatten)]
        paging: PagingArgs,
    },
    /// Show a deleted key.
    #[command(after_help = "Example:\n  cmk keyvault key show-deleted --vault-name kv-cmk --name cmk-key")]
    ShowDeleted(KeyArgs),
    /// Make a new version of a key now.
    #[command(after_help = "Example:\n  cmk keyvault key rotate --vault-name kv-cmk --name cmk-key")]
    Rotate(KeyArgs),
    /// Save a key, with all its versions, to a file that only a vault of this deployment and tenant can restore.
    #[command(
        after_help = "Example:\n  cmk keyvault key backup --vault-name kv-cmk --name cmk-key --file cmk-key.backup"
    )]
    Backup {
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long, short = 'f', value_name = "PATH")]
        file: PathBuf,
    },
    /// Restore a key from a backup file.
    #[command(after_help = "Example:\n  cmk keyvault key restore --vault-name kv-cmk --file cmk-key.backup")]
    Restore {
        /// Name of the vault.
        #[arg(long)]
        vault_name: String,
        #[arg(long, short = 'f', value_name = "PATH")]
        file: PathBuf,
    },
    /// Encrypt a small value with a key's public part.
    #[command(
        after_help = "Example:\n  cmk keyvault key encrypt --vault-name kv-cmk --name cmk-key --algorithm RSA-OAEP-256 --value \"$(printf secret | base64)\""
    )]
    Encrypt(CipherArgs),
    /// Decrypt a value encrypted with a key.
    #[command(
        after_help = "Example:\n  cmk keyvault key decrypt --vault-name kv-cmk --name cmk-key --algorithm RSA-OAEP-256 --value CIPHERTEXT --query result -o tsv"
    )]
    Decrypt(CipherArgs),
    /// Wrap (encrypt) a data key with a key.
    #[command(
        after_help = "Example:\n  cmk keyvault key wrap --vault-name kv-cmk --name cmk-key --algorithm RSA-OAEP-256 --value \"$(head -c 32 /dev/urandom | base64)\""
    )]
    Wrap(CipherArgs),
    /// Unwrap a data key wrapped with a key (any version, by --version).
    #[command(
        after_help = "Example:\n  cmk keyvault key unwrap --vault-name kv-cmk --name cmk-key --version VERSION --algorithm RSA-OAEP-256 --value WRAPPED"
    )]
    Unwrap(CipherArgs),
    /// Sign a digest with a key.
    #[command(
        after_help = "Example:\n  cmk keyvault key sign --vault-name kv-cmk --name cmk-key --algorithm PS256 --digest \"$(printf data | sha256sum | xxd -r -p | base64)\""
    )]
    Sign {
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long, short = 'v')]
        version: Option<String>,
        #[arg(long, short = 'a', value_parser = PossibleValuesParser::new(SIGNATURE_ALGORITHMS))]
        algorithm: String,
        /// The digest to sign, base64.
        #[arg(long, value_name = "BASE64")]
        digest: String,
    },
    /// Verify a signature over a digest with a key.
    #[command(
        after_help = "Example:\n  cmk keyvault key verify --vault-name kv-cmk --name cmk-key --algorithm PS256 --digest DIGEST --signature SIGNATURE"
    )]
    Verify {
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long, short = 'v')]
        version: Option<String>,
        #[arg(long, short = 'a', value_parser = PossibleValuesParser::new(SIGNATURE_ALGORITHMS))]
        algorithm: String,
        /// The digest that was signed, base64.
        #[arg(long, value_name = "BASE64")]
        digest: String,
        /// The signature, base64.
        #[arg(long, value_name = "BASE64")]
        signature: String,
    },
    /// A key's rotation policy: when the server makes new versions on its own, and when they expire.
    RotationPolicy {
        #[command(subcommand)]
        command: RotationPolicyCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum RotationPolicyCommand {
    /// Show a key's rotation policy.
    #[command(after_help = "Example:\n  cmk keyvault key rotation-policy show --vault-name kv-cmk --name cmk-key")]
    Show(KeyArgs),
    /// Set a key's rotation policy.
    #[command(
        after_help = "Examples:\n  cmk keyvault key rotation-policy update --vault-name kv-cmk --name cmk-key --value @policy.json\n  cmk keyvault key rotation-policy update --vault-name kv-cmk --name cmk-key --value '{\"lifetimeActions\":[{\"trigger\":{\"timeAfterCreate\":\"P90D\"},\"action\":{\"type\":\"Rotate\"}}],\"attributes\":{\"expiryTime\":\"P2Y\"}}'"
    )]
    Update {
        #[command(flatten)]
        key: KeyArgs,
        /// The policy as JSON, or @FILE (or a path) holding it. camelCase and snake_case names are both taken.
        #[arg(long, value_name = "JSON|@FILE")]
        value: String,
    },
}

/// A key, by vault and name.
#[derive(Args, Debug)]
pub struct KeyArgs {
    /// Name of the vault.
    #[arg(long)]
    vault_name: String,
    /// Name of the key.
    #[arg(long, short = 'n')]
    name: String,
}

/// Settings shared by `key create` and `key set-attributes`.
#[derive(Args, Debug)]
pub struct AttributeArgs {
    /// Operations the key permits.
    #[arg(long, num_args = 1.., value_parser = PossibleValuesParser::new(KEY_OPS), ignore_case = true)]
    ops: Option<Vec<String>>,
    /// Expiry, UTC: 2030-12-31T00:00:00Z (or Unix seconds). Encrypt, wrap and sign stop working after it.
    #[arg(long, value_name = "DATETIME")]
    expires: Option<String>,
    /// Activation, UTC: 2030-01-01T00:00:00Z (or Unix seconds).
    #[arg(long, value_name = "DATETIME")]
    not_before: Option<String>,
    /// Tags as key=value (`--tags` alone, with none, removes them all on set-attributes).
    #[arg(long, num_args = 0.., value_name = "KEY=VALUE")]
    tags: Option<Vec<String>>,
}

#[derive(Args, Debug)]
pub struct PagingArgs {
    /// Most results per page the server sends (1 to 25); every page is listed.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=25))]
    maxresults: Option<u32>,
}

#[derive(Args, Debug)]
pub struct CipherArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// The key version [default: the latest; give the version that encrypted or wrapped to decrypt or unwrap].
    #[arg(long, short = 'v')]
    version: Option<String>,
    #[arg(long, short = 'a', value_parser = PossibleValuesParser::new(ENCRYPTION_ALGORITHMS))]
    algorithm: String,
    /// The input: base64 (or text, with --data-type plaintext).
    #[arg(long, value_name = "BASE64")]
    value: String,
    /// How --value (encrypt, wrap) or the result (decrypt, unwrap) is written.
    #[arg(long, value_enum, default_value = "base64")]
    data_type: DataType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DataType {
    Base64,
    Plaintext,
}

#[derive(Debug, Clone, Copy)]
enum CipherOp {
    Encrypt,
    Decrypt,
    Wrap,
    Unwrap,
}

impl CipherOp {
    /// The data-plane path segment.
    fn segment(self) -> &'static str {
        match self {
            CipherOp::Encrypt => "encrypt",
            CipherOp::Decrypt => "decrypt",
            CipherOp::Wrap => "wrapkey",
            CipherOp::Unwrap => "unwrapkey",
        }
    }
}

pub async fn run(command: KeyvaultCommand, session: &Session) -> Result<Option<Value>, CliError> {
    Ok(match command {
        KeyvaultCommand::Create {
            name,
            resource_group,
            location,
            enable_purge_protection,
            retention_days,
            sku,
            enable_rbac_authorization,
            no_self_perms,
            tags,
        } => {
            let rbac = enable_rbac_authorization.unwrap_or(false);
            let group = session.resource_group(resource_group.as_deref())?;
            let name = vault_name(&name)?;
            let path = vault_path(session, segment("resource group", &group)?, name);
            // As az does: a create never overwrites an existing vault's settings and access policies.
            match session.arm(Method::GET, &path, None).await {
                Ok(_) => {
                    return Err(CliError::Server {
                        status: 409,
                        code: "VaultAlreadyExists".into(),
                        message: format!(
                            "The vault '{name}' already exists in resource group '{group}'; 'cmk keyvault create' does not overwrite it."
                        ),
                    });
                }
                Err(CliError::Server { status: 404, .. }) => {}
                Err(other) => return Err(other),
            }
            let tenant_id = session.profile.tenant_id.clone();
            let access_policies = if no_self_perms || rbac {
                Vec::new()
            } else {
                vec![AccessPolicyEntry {
                    tenant_id: tenant_id.clone(),
                    object_id: signed_in_object_id(session).await?,
                    application_id: None,
                    permissions: Permissions {
                        keys: vec!["all".into()],
                        ..Permissions::default()
                    },
                }]
            };
            let body = wire_body(&VaultCreateOrUpdateParameters {
                location: Some(location),
                tags: Some(parse_tags(&tags)?),
                properties: Some(VaultProperties {
                    tenant_id: Some(tenant_id),
                    sku: Some(vault_sku(sku.to_ascii_lowercase())),
                    access_policies: Some(access_policies),
                    enable_soft_delete: Some(true),
                    soft_delete_retention_in_days: Some(i64::from(retention_days)),
                    enable_rbac_authorization: Some(rbac),
                    // ARM refuses `false` even on create: leave the property out instead.
                    enable_purge_protection: (enable_purge_protection == Some(true)).then_some(true),
                    ..VaultProperties::default()
                }),
            })?;
            let answer = session.arm(Method::PUT, &path, Some(&body)).await?;
            let vault: Vault = read(&answer)?;
            if rbac && !no_self_perms {
                grant_crypto_officer(session, &vault).await?;
            }
            Some(with_resource_group(answer, &vault))
        }
        KeyvaultCommand::Show(args) => {
            let (answer, vault) = find_vault(session, &args).await?;
            Some(with_resource_group(answer, &vault))
        }
        KeyvaultCommand::List { resource_group } => {
            let path = match resource_group {
                Some(group) => format!(
                    "{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults?{}",
                    session.subscription_path(),
                    segment("resource group", &group)?,
                    api::KEYVAULT
                ),
                None => subscription_vaults_path(session),
            };
            let listed: Vec<Value> = read_answer(list_all(session, &path).await?)?;
            let mut vaults = Vec::with_capacity(listed.len());
            for answer in listed {
                let vault: Vault = read(&answer)?;
                vaults.push(with_resource_group(answer, &vault));
            }
            Some(Value::Array(vaults))
        }
        KeyvaultCommand::Delete(args) => {
            let (_, vault) = find_vault(session, &args).await?;
            session.arm(Method::DELETE, &resource_path(&vault), None).await?;
            None
        }
        KeyvaultCommand::Recover {
            name,
            resource_group,
            location,
        } => {
            let (_, deleted) = find_deleted_vault(session, &name, location.as_deref()).await?;
            let group = match resource_group {
                Some(group) => group,
                None => group_of_id(&deleted.properties.vault_id)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        CliError::Usage("the following arguments are required: --resource-group/-g".into())
                    })?,
            };
            let body = wire_body(&VaultCreateOrUpdateParameters {
                location: Some(deleted.properties.location),
                tags: None,
                properties: Some(VaultProperties {
                    tenant_id: Some(session.profile.tenant_id.clone()),
                    sku: Some(vault_sku("standard".into())),
                    create_mode: Some("recover".into()),
                    ..VaultProperties::default()
                }),
            })?;
            let path = vault_path(session, segment("resource group", &group)?, vault_name(&name)?);
            let answer = session.arm(Method::PUT, &path, Some(&body)).await?;
            let vault: Vault = read(&answer)?;
            Some(with_resource_group(answer, &vault))
        }
        KeyvaultCommand::Purge(args) => {
            let (_, deleted) = find_deleted_vault(session, &args.name, args.location.as_deref()).await?;
            let path = format!("{}/purge?{}", deleted_vault_base(session, &deleted)?, api::KEYVAULT);
            session.arm(Method::POST, &path, None).await?;
            None
        }
        KeyvaultCommand::ListDeleted => Some(list_all(session, &deleted_vaults_path(session)).await?),
        KeyvaultCommand::ShowDeleted(args) => Some(
            find_deleted_vault(session, &args.name, args.location.as_deref())
                .await?
                .0,
        ),
        KeyvaultCommand::SetPolicy {
            vault,
            principal,
            key_permissions,
            secret_permissions,
            certificate_permissions,
            storage_permissions,
        } => {
            if key_permissions.is_empty()
                && secret_permissions.is_empty()
                && certificate_permissions.is_empty()
                && storage_permissions.is_empty()
            {
                return Err(CliError::Usage(
                    "specify at least one of --key-permissions, --secret-permissions, --certificate-permissions, --storage-permissions".into(),
                ));
            }
            let (answer, found) = find_vault(session, &vault).await?;
            let mut entry = policy_entry(&found, &principal)?;
            entry.permissions = Permissions {
                keys: canonical(&key_permissions, &key_permission_names()),
                secrets: canonical(&secret_permissions, &SECRET_PERMISSIONS),
                certificates: canonical(&certificate_permissions, &CERTIFICATE_PERMISSIONS),
                storage: canonical(&storage_permissions, &STORAGE_PERMISSIONS),
            };
            Some(change_policies(session, answer, &found, "add", entry).await?)
        }
        KeyvaultCommand::DeletePolicy { vault, principal } => {
            let (answer, found) = find_vault(session, &vault).await?;
            let mut entry = policy_entry(&found, &principal)?;
            // `remove` takes away the permissions it names: name all of them to remove the whole entry.
            let current = found
                .properties
                .access_policies
                .iter()
                .flatten()
                .find(|p| same_principal(p, &entry))
                .ok_or_else(|| CliError::Server {
                    status: 404,
                    code: "AccessPolicyNotFound".into(),
                    message: format!(
                        "The vault '{}' has no access policy for object id '{}'{}.",
                        found.name,
                        principal.object_id,
                        principal
                            .application_id
                            .as_deref()
                            .map(|a| format!(" through application '{a}'"))
                            .unwrap_or_default()
                    ),
                })?;
            entry.permissions = current.permissions.clone();
            Some(change_policies(session, answer, &found, "remove", entry).await?)
        }
        KeyvaultCommand::Key { command } => run_key(command, session).await?,
    })
}

async fn run_key(command: KeyCommand, session: &Session) -> Result<Option<Value>, CliError> {
    Ok(match command {
        KeyCommand::Create {
            key,
            kty,
            size,
            curve,
            attributes,
            disabled,
        } => {
            let update = attribute_body(&attributes, disabled.map(|d| !d))?;
            let body = wire_body(&KeyCreateParameters {
                kty: Some(kty),
                key_size: size,
                crv: curve,
                key_ops: update.key_ops,
                attributes: update.attributes,
                tags: update.tags,
                ..KeyCreateParameters::default()
            })?;
            let path = format!("keys/{}/create", key_name(&key.name)?);
            Some(vault_call(session, Method::POST, &key.vault_name, &path, Some(&body)).await?)
        }
        KeyCommand::Show { key, version } => {
            let path = versioned(&key.name, version.as_deref())?;
            Some(vault_call(session, Method::GET, &key.vault_name, &path, None).await?)
        }
        KeyCommand::List { vault_name, paging } => {
            Some(list_vault(session, &vault_name, "keys", paging.maxresults, false).await?)
        }
        KeyCommand::ListVersions { key, paging } => {
            let path = format!("keys/{}/versions", key_name(&key.name)?);
            Some(list_vault(session, &key.vault_name, &path, paging.maxresults, true).await?)
        }
        KeyCommand::SetAttributes {
            key,
            version,
            enabled,
            attributes,
        } => {
            let body = wire_body(&attribute_body(&attributes, enabled)?)?;
            let path = versioned(&key.name, version.as_deref())?;
            Some(vault_call(session, Method::PATCH, &key.vault_name, &path, Some(&body)).await?)
        }
        KeyCommand::Delete(key) => {
            let path = format!("keys/{}", key_name(&key.name)?);
            Some(vault_call(session, Method::DELETE, &key.vault_name, &path, None).await?)
        }
        KeyCommand::Recover(key) => {
            let path = format!("deletedkeys/{}/recover", key_name(&key.name)?);
            Some(vault_call(session, Method::POST, &key.vault_name, &path, None).await?)
        }
        KeyCommand::Purge(key) => {
            let path = format!("deletedkeys/{}", key_name(&key.name)?);
            vault_call(session, Method::DELETE, &key.vault_name, &path, None).await?;
            None
        }
        KeyCommand::ListDeleted { vault_name, paging } => {
            Some(list_vault(session, &vault_name, "deletedkeys", paging.maxresults, false).await?)
        }
        KeyCommand::ShowDeleted(key) => {
            let path = format!("deletedkeys/{}", key_name(&key.name)?);
            Some(vault_call(session, Method::GET, &key.vault_name, &path, None).await?)
        }
        KeyCommand::Rotate(key) => {
            let path = format!("keys/{}/rotate", key_name(&key.name)?);
            Some(vault_call(session, Method::POST, &key.vault_name, &path, None).await?)
        }
        KeyCommand::Backup { key, file } => {
            let path = format!("keys/{}/backup", key_name(&key.name)?);
            let answer = vault_call(session, Method::POST, &key.vault_name, &path, None).await?;
            let blob = serde_json::from_value::<BackupKeyResult>(answer)
                .ok()
                .and_then(|backup| URL_SAFE_NO_PAD.decode(backup.value.trim_end_matches('=')).ok())
                .ok_or_else(|| CliError::Local("the server sent no backup".into()))?;
            write_private(&file, &blob)?;
            None
        }
        KeyCommand::Restore { vault_name, file } => {
            let blob = std::fs::read(&file).map_err(|e| CliError::local(&format!("reading {}", file.display()), e))?;
            let body = wire_body(&KeyRestoreParameters {
                value: URL_SAFE_NO_PAD.encode(blob),
            })?;
            Some(vault_call(session, Method::POST, &vault_name, "keys/restore", Some(&body)).await?)
        }
        KeyCommand::Encrypt(args) => Some(cipher(session, args, CipherOp::Encrypt).await?),
        KeyCommand::Decrypt(args) => Some(cipher(session, args, CipherOp::Decrypt).await?),
        KeyCommand::Wrap(args) => Some(cipher(session, args, CipherOp::Wrap).await?),
        KeyCommand::Unwrap(args) => Some(cipher(session, args, CipherOp::Unwrap).await?),
        KeyCommand::Sign {
            key,
            version,
            algorithm,
            digest,
        } => {
            let body = wire_body(&KeySignParameters {
                alg: algorithm.clone(),
                value: Base64Url(decode_base64("--digest", &digest)?),
            })?;
            let path = operation_path(&key.name, version.as_deref(), "sign")?;
            let answer = vault_call(session, Method::POST, &key.vault_name, &path, Some(&body)).await?;
            let signed: KeyOperationResult = read_answer(answer)?;
            Some(json!({
                "kid": signed.kid,
                "signature": STANDARD.encode(signed.value.expose()),
                "algorithm": algorithm,
            }))
        }
        KeyCommand::Verify {
            key,
            version,
            algorithm,
            digest,
            signature,
        } => {
            let body = wire_body(&KeyVerifyParameters {
                alg: algorithm.clone(),
                digest: Some(Base64Url(decode_base64("--digest", &digest)?)),
                value: Base64Url(decode_base64("--signature", &signature)?),
            })?;
            let path = operation_path(&key.name, version.as_deref(), "verify")?;
            let answer = vault_call(session, Method::POST, &key.vault_name, &path, Some(&body)).await?;
            let verified: KeyVerifyResult = read_answer(answer)?;
            Some(json!({ "isValid": verified.value, "algorithm": algorithm }))
        }
        KeyCommand::RotationPolicy { command } => match command {
            RotationPolicyCommand::Show(key) => {
                let path = format!("keys/{}/rotationpolicy", key_name(&key.name)?);
                Some(vault_call(session, Method::GET, &key.vault_name, &path, None).await?)
            }
            RotationPolicyCommand::Update { key, value } => {
                let body = rotation_policy_body(&read_json_argument("--value", &value)?)?;
                let path = format!("keys/{}/rotationpolicy", key_name(&key.name)?);
                Some(vault_call(session, Method::PUT, &key.vault_name, &path, Some(&body)).await?)
            }
        },
    })
}

// ---- the vault resource ------------------------------------------------------------------------------------

/// A name that goes into a URL path: letters, digits and `-_.()`, as ARM names allow.
fn segment<'a>(what: &str, value: &'a str) -> Result<&'a str, CliError> {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
    {
        Ok(value)
    } else {
        Err(CliError::Usage(format!("'{value}' is not a valid {what} name")))
    }
}

/// A vault name: it becomes a host name, so letters, digits and hyphens only (the server checks the rest).
fn vault_name(value: &str) -> Result<&str, CliError> {
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(value)
    } else {
        Err(CliError::Usage(format!(
            "'{value}' is not a valid vault name: use 3 to 24 letters, digits and hyphens"
        )))
    }
}

/// A key name or version: letters, digits and hyphens.
fn key_name(value: &str) -> Result<&str, CliError> {
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(value)
    } else {
        Err(CliError::Usage(format!(
            "'{value}' is not a valid key name or version: use letters, digits and hyphens"
        )))
    }
}

fn vault_path(session: &Session, group: &str, name: &str) -> String {
    format!(
        "{}/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults/{name}?{}",
        session.subscription_path(),
        api::KEYVAULT
    )
}

fn subscription_vaults_path(session: &Session) -> String {
    format!(
        "{}/providers/Microsoft.KeyVault/vaults?{}",
        session.subscription_path(),
        api::KEYVAULT
    )
}

fn deleted_vaults_path(session: &Session) -> String {
    format!(
        "{}/providers/Microsoft.KeyVault/deletedVaults?{}",
        session.subscription_path(),
        api::KEYVAULT
    )
}

/// `.../locations/{location}/deletedVaults/{name}` of a deleted vault, without the api-version.
fn deleted_vault_base(session: &Session, deleted: &DeletedVault) -> Result<String, CliError> {
    Ok(format!(
        "{}/providers/Microsoft.KeyVault/locations/{}/deletedVaults/{}",
        session.subscription_path(),
        segment("location", &deleted.properties.location)?,
        vault_name(&deleted.name)?
    ))
}

/// The management path (with api-version) of a vault the server returned.
fn resource_path(vault: &Vault) -> String {
    format!("{}?{}", vault.id, api::KEYVAULT)
}

/// The sku of a vault: family `A`, the one Key Vault has.
fn vault_sku(name: String) -> Sku {
    Sku {
        family: Some(Sku::FAMILY.into()),
        name,
    }
}

/// The resource group named in a resource id.
fn group_of_id(id: &str) -> Option<&str> {
    let mut parts = id.split('/');
    while let Some(part) = parts.next() {
        if part.eq_ignore_ascii_case("resourceGroups") {
            return parts.next();
        }
    }
    None
}

/// Adds `resourceGroup`, as az shows it on every resource, to a vault as the server sent it.
fn with_resource_group(mut answer: Value, vault: &Vault) -> Value {
    if let Some(group) = group_of_id(&vault.id)
        && let Value::Object(map) = &mut answer
    {
        map.insert("resourceGroup".into(), Value::String(group.to_owned()));
    }
    answer
}

/// The first vault of a list, as the server sent it and read, whose name is `name` in any case.
fn find_named<T: DeserializeOwned>(
    listed: Value,
    name: &str,
    name_of: impl Fn(&T) -> &str,
) -> Result<Option<(Value, T)>, CliError> {
    for answer in read_answer::<Vec<Value>>(listed)? {
        let typed: T = read(&answer)?;
        if name_of(&typed).eq_ignore_ascii_case(name) {
            return Ok(Some((answer, typed)));
        }
    }
    Ok(None)
}

fn not_found(message: String) -> CliError {
    CliError::Server {
        status: 404,
        code: "ResourceNotFound".into(),
        message,
    }
}

/// A vault by name: in the group given, else in the login's group, else wherever it is in the subscription.
/// The answer as the server sent it, and read.
async fn find_vault(session: &Session, args: &VaultArgs) -> Result<(Value, Vault), CliError> {
    let name = vault_name(&args.name)?;
    if let Some(group) = &args.resource_group {
        let path = vault_path(session, segment("resource group", group)?, name);
        let answer = session.arm(Method::GET, &path, None).await?;
        let vault = read(&answer)?;
        return Ok((answer, vault));
    }
    let mut first_error = None;
    if let Some(group) = &session.profile.resource_group {
        match session
            .arm(
                Method::GET,
                &vault_path(session, segment("resource group", group)?, name),
                None,
            )
            .await
        {
            Ok(answer) => {
                let vault = read(&answer)?;
                return Ok((answer, vault));
            }
            Err(error @ CliError::Server { status: 404, .. }) => first_error = Some(error),
            Err(other) => return Err(other),
        }
    }
    let listed = list_all(session, &subscription_vaults_path(session)).await?;
    let found = find_named(listed, name, |v: &Vault| &v.name)?;
    found.ok_or_else(|| {
        first_error.unwrap_or_else(|| {
            not_found(format!(
                "The Resource 'Microsoft.KeyVault/vaults/{name}' was not found in subscription '{}'.",
                session.profile.subscription_id
            ))
        })
    })
}

/// A deleted vault by name, at the location given or wherever it is: as the server sent it, and read.
async fn find_deleted_vault(
    session: &Session,
    name: &str,
    location: Option<&str>,
) -> Result<(Value, DeletedVault), CliError> {
    let name = vault_name(name)?;
    if let Some(location) = location {
        // az takes "West US 2" for westus2.
        let location: String = location
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        let path = format!(
            "{}/providers/Microsoft.KeyVault/locations/{}/deletedVaults/{name}?{}",
            session.subscription_path(),
            segment("location", &location)?,
            api::KEYVAULT
        );
        let answer = session.arm(Method::GET, &path, None).await?;
        let deleted = read(&answer)?;
        return Ok((answer, deleted));
    }
    let listed = list_all(session, &deleted_vaults_path(session)).await?;
    find_named(listed, name, |v: &DeletedVault| &v.name)?.ok_or_else(|| {
        not_found(format!(
            "No deleted vault named '{name}' exists in subscription '{}'.",
            session.profile.subscription_id
        ))
    })
}

/// The object id of the logged-in principal: the `oid` claim of its management token.
/// The RBAC counterpart of the access policy a new vault's creator gets: the role Key Vault Crypto Officer on
/// the vault.
async fn grant_crypto_officer(session: &Session, vault: &Vault) -> Result<(), CliError> {
    const KEY_VAULT_CRYPTO_OFFICER: &str = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603";
    let id = &vault.id;
    let subscription = session.subscription_path();
    let name = cmk_crypto::random::random_uuid().map_err(|e| CliError::local("making an assignment name", e))?;
    let body = json!({ "properties": {
        "roleDefinitionId": format!("{subscription}/providers/Microsoft.Authorization/roleDefinitions/{KEY_VAULT_CRYPTO_OFFICER}"),
        "principalId": signed_in_object_id(session).await?,
        "principalType": "ServicePrincipal",
    }});
    session
        .arm(
            Method::PUT,
            &format!("{id}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"),
            Some(&body),
        )
        .await?;
    Ok(())
}

pub(crate) async fn signed_in_object_id(session: &Session) -> Result<String, CliError> {
    let token = session.token(&session.management_resource()).await?;
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .ok_or_else(|| CliError::Local("cannot read the login's access token".into()))?;
    claims["oid"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CliError::Local("the login's access token names no object id (oid)".into()))
}

/// The access policy entry of a principal on a vault, without permissions.
fn policy_entry(vault: &Vault, principal: &PrincipalArgs) -> Result<AccessPolicyEntry, CliError> {
    let tenant_id = vault
        .properties
        .tenant_id
        .clone()
        .ok_or_else(|| CliError::Local("the server sent a vault without a tenantId".into()))?;
    Ok(AccessPolicyEntry {
        tenant_id,
        object_id: principal.object_id.clone(),
        application_id: principal.application_id.clone(),
        permissions: Permissions::default(),
    })
}

fn same_principal(a: &AccessPolicyEntry, b: &AccessPolicyEntry) -> bool {
    let lower = |id: Option<&str>| id.map(str::to_ascii_lowercase);
    a.tenant_id.eq_ignore_ascii_case(&b.tenant_id)
        && a.object_id.eq_ignore_ascii_case(&b.object_id)
        && lower(a.application_id.as_deref()) == lower(b.application_id.as_deref())
}

/// `accessPolicies/{kind}` with one entry; answers the vault with its new access policies, as az does.
async fn change_policies(
    session: &Session,
    mut answer: Value,
    vault: &Vault,
    kind: &str,
    entry: AccessPolicyEntry,
) -> Result<Value, CliError> {
    let path = format!("{}/accessPolicies/{kind}?{}", vault.id, api::KEYVAULT);
    let body = wire_body(&VaultAccessPolicyParameters {
        id: None,
        name: None,
        kind: None,
        location: None,
        properties: VaultAccessPolicyProperties {
            access_policies: vec![entry],
        },
    })?;
    let mut changed = session.arm(Method::PUT, &path, Some(&body)).await?;
    // The answer is read to check its shape; its policies are printed as the server sent them.
    read::<VaultAccessPolicyParameters>(&changed)?;
    if let (Some(Value::Object(properties)), Some(Value::Object(changed))) =
        (answer.get_mut("properties"), changed.get_mut("properties"))
        && let Some(policies) = changed.remove("accessPolicies")
    {
        properties.insert("accessPolicies".into(), policies);
    }
    Ok(with_resource_group(answer, vault))
}

/// The spellings of `valid` for the names given in any case.
fn canonical(given: &[String], valid: &[&str]) -> Vec<String> {
    given
        .iter()
        .map(|g| {
            valid
                .iter()
                .find(|v| v.eq_ignore_ascii_case(g))
                .map_or_else(|| g.clone(), |v| (*v).to_owned())
        })
        .collect()
}

// ---- keys --------------------------------------------------------------------------------------------------

async fn vault_call(
    session: &Session,
    method: Method,
    vault: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, CliError> {
    session.vault(method, vault_name(vault)?, path, body).await
}

/// `keys/{name}/{version}`, or `keys/{name}/` (the latest) as the SDKs send it.
fn versioned(name: &str, version: Option<&str>) -> Result<String, CliError> {
    Ok(format!(
        "keys/{}/{}",
        key_name(name)?,
        version.map(key_name).transpose()?.unwrap_or_default()
    ))
}

/// `keys/{name}/{version}/{operation}`; an empty version means the latest.
fn operation_path(name: &str, version: Option<&str>, operation: &str) -> Result<String, CliError> {
    Ok(format!("{}/{operation}", versioned(name, version)?))
}

/// Every page of a data-plane list, following `nextLink` with the vault's token; each item gets the `name`
/// (and, for versions, the `version`) its `kid` names.
async fn list_vault(
    session: &Session,
    vault: &str,
    path: &str,
    page_size: Option<u32>,
    versions: bool,
) -> Result<Value, CliError> {
    let path = match page_size {
        Some(size) => format!("{path}?maxresults={size}"),
        None => path.to_owned(),
    };
    let mut page: KeyListResult<Value> = read_answer(vault_call(session, Method::GET, vault, &path, None).await?)?;
    let resource = session.vault_resource();
    let mut items = Vec::new();
    loop {
        for mut item in std::mem::take(&mut page.value) {
            // Items stay JSON so that every field the server sent is printed; only `kid` is read.
            let kid = read::<KeyItem>(&item)?.kid;
            let mut parts = kid
                .split_once("/keys/")
                .map(|(_, rest)| rest)
                .unwrap_or_default()
                .split('/');
            if let Value::Object(map) = &mut item {
                if let Some(name) = parts.next().filter(|n| !n.is_empty()) {
                    map.insert("name".into(), json!(name));
                }
                if versions && let Some(version) = parts.next().filter(|v| !v.is_empty()) {
                    map.insert("version".into(), json!(version));
                }
            }
            items.push(item);
        }
        let Some(next) = page.next_link.take().filter(|n| !n.is_empty()) else {
            break;
        };
        page = read_answer(session.call(Method::GET, &next, &resource, None).await?)?;
    }
    Ok(Value::Array(items))
}

/// The body of a key update, and the same fields of a create: `key_ops`, `attributes` and `tags`, as given.
fn attribute_body(args: &AttributeArgs, enabled: Option<bool>) -> Result<KeyUpdateParameters, CliError> {
    let attributes = KeyAttributes {
        enabled,
        exp: args
            .expires
            .as_deref()
            .map(|t| parse_time("--expires", t))
            .transpose()?,
        nbf: args
            .not_before
            .as_deref()
            .map(|t| parse_time("--not-before", t))
            .transpose()?,
        ..KeyAttributes::default()
    };
    Ok(KeyUpdateParameters {
        key_ops: args.ops.as_ref().map(|ops| canonical(ops, &KEY_OPS)),
        attributes: (attributes != KeyAttributes::default()).then_some(attributes),
        tags: args.tags.as_deref().map(parse_tags).transpose()?,
        release_policy: None,
    })
}

/// Standard base64 (padding optional; base64url taken too), as az takes binary values.
fn decode_base64(flag: &str, text: &str) -> Result<Vec<u8>, CliError> {
    let config = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let text = text.trim();
    let engine = if text.contains(['-', '_']) {
        GeneralPurpose::new(&alphabet::URL_SAFE, config)
    } else {
        GeneralPurpose::new(&alphabet::STANDARD, config)
    };
    engine
        .decode(text)
        .map_err(|e| CliError::Usage(format!("argument {flag}: not valid base64: {e}")))
}

/// A request body from its Key Vault type.
fn wire_body(body: &impl Serialize) -> Result<Value, CliError> {
    serde_json::to_value(body).map_err(|e| CliError::Local(format!("the request could not be written: {e}")))
}

/// An answer read as its Key Vault type; the error names what was wrong, never a value.
fn read_answer<T: DeserializeOwned>(answer: Value) -> Result<T, CliError> {
    serde_json::from_value(answer)
        .map_err(|e| CliError::Local(format!("the server's answer is not the expected Key Vault shape: {e}")))
}

/// [`read_answer`] of an answer that is printed as the server sent it: the type only reads it.
fn read<T: DeserializeOwned>(answer: &Value) -> Result<T, CliError> {
    T::deserialize(answer)
        .map_err(|e| CliError::Local(format!("the server's answer is not the expected Key Vault shape: {e}")))
}

/// encrypt, decrypt, wrap, unwrap: `{"kid","result","algorithm"}` with the result in standard base64.
async fn cipher(session: &Session, args: CipherArgs, op: CipherOp) -> Result<Value, CliError> {
    let input = match (op, args.data_type) {
        (CipherOp::Encrypt | CipherOp::Wrap, DataType::Plaintext) => args.value.into_bytes(),
        _ => decode_base64("--value", &args.value)?,
    };
    let body = wire_body(&KeyOperationsParameters::new(
        args.algorithm.clone(),
        SecretBase64Url::new(SecretBytes::new(input)),
    ))?;
    let path = operation_path(&args.key.name, args.version.as_deref(), op.segment())?;
    let answer = vault_call(session, Method::POST, &args.key.vault_name, &path, Some(&body)).await?;
    let answer: KeyOperationResult = read_answer(answer)?;
    let result = match (op, args.data_type) {
        (CipherOp::Decrypt | CipherOp::Unwrap, DataType::Plaintext) => {
            String::from_utf8(answer.value.expose().to_vec())
                .map_err(|_| CliError::Local("the decrypted value is not text: use --data-type base64".into()))?
        }
        _ => STANDARD.encode(answer.value.expose()),
    };
    Ok(json!({ "kid": answer.kid, "result": result, "algorithm": args.algorithm }))
}

/// A JSON argument: inline, `@FILE`, or the path of a file.
fn read_json_argument(flag: &str, value: &str) -> Result<Value, CliError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| CliError::local(&format!("reading {}", path.display()), e))
    };
    let text = if let Some(path) = value.strip_prefix('@') {
        read(Path::new(path))?
    } else if !value.trim_start().starts_with(['{', '[']) && Path::new(value).is_file() {
        read(Path::new(value))?
    } else {
        value.to_owned()
    };
    serde_json::from_str(&text).map_err(|e| CliError::Usage(format!("argument {flag}: not valid JSON: {e}")))
}

/// A rotation policy in the wire's camelCase, from az's policy JSON (camelCase or snake_case).
fn rotation_policy_body(given: &Value) -> Result<Value, CliError> {
    let field = |v: &Value, camel: &str, snake: &str| -> Value {
        match &v[camel] {
            Value::Null => v[snake].clone(),
            found => found.clone(),
        }
    };
    if !given.is_object() {
        return Err(CliError::Usage(
            "argument --value: the policy must be a JSON object".into(),
        ));
    }
    let mut actions = Vec::new();
    match field(given, "lifetimeActions", "lifetime_actions") {
        Value::Null => {}
        Value::Array(list) => {
            for action in list {
                let trigger = &action["trigger"];
                let mut wire_trigger = Map::new();
                for (camel, snake) in [
                    ("timeAfterCreate", "time_after_create"),
                    ("timeBeforeExpiry", "time_before_expiry"),
                ] {
                    let value = field(trigger, camel, snake);
                    if !value.is_null() {
                        wire_trigger.insert(camel.into(), value);
                    }
                }
                let kind = match &action["action"] {
                    Value::String(kind) => json!(kind),
                    other => field(other, "type", "action_type"),
                };
                actions.push(json!({ "trigger": wire_trigger, "action": { "type": kind } }));
            }
        }
        _ => {
            return Err(CliError::Usage(
                "argument --value: lifetimeActions must be a list".into(),
            ));
        }
    }
    let mut policy = json!({ "lifetimeActions": actions });
    let attributes = &given["attributes"];
    let mut expiry = field(attributes, "expiryTime", "expiry_time");
    if expiry.is_null() {
        expiry = field(given, "expiresIn", "expires_in");
    }
    if !expiry.is_null() {
        policy["attributes"] = json!({ "expiryTime": expiry });
    }
    Ok(policy)
}

/// A time as Unix seconds: whole seconds, or ISO 8601 / RFC 3339 (`2030-12-31`, `2030-12-31T08:00:00Z`,
/// `2030-12-31T08:00:00+02:00`; without an offset, UTC, as az reads it).
fn parse_time(flag: &str, text: &str) -> Result<i64, CliError> {
    let invalid = || {
        CliError::Usage(format!(
            "argument {flag}: '{text}' is not a date and time such as 2030-12-31T00:00:00Z"
        ))
    };
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    let number = |s: &str| -> Result<i64, CliError> {
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid());
        }
        s.parse::<i64>().map_err(|_| invalid())
    };
    let (date, time) = match text.split_once(['T', 't', ' ']) {
        Some((date, time)) => (date, time),
        None => (text, ""),
    };
    let mut date_parts = date.split('-');
    let (Some(year), Some(month), Some(day), None) = (
        date_parts.next(),
        date_parts.next(),
        date_parts.next(),
        date_parts.next(),
    ) else {
        return Err(invalid());
    };
    let (year, month, day) = (number(year)?, number(month)?, number(day)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(invalid());
    }
    // The offset: Z, +HH:MM, -HH:MM, or none (UTC).
    let (clock, offset) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        let (clock, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let digits = &zone[1..];
        let (hours, minutes) = match digits.split_once(':') {
            Some(parts) => parts,
            None if digits.len() == 4 && digits.is_char_boundary(2) => digits.split_at(2),
            None => (digits, "0"),
        };
        if number(hours)? > 23 || number(minutes)? > 59 {
            return Err(invalid());
        }
        (clock, sign * (number(hours)? * 3600 + number(minutes)? * 60))
    } else {
        (time, 0)
    };
    let mut clock_parts = clock.split(':');
    let hour = clock_parts.next().filter(|h| !h.is_empty()).map_or(Ok(0), number)?;
    let minute = clock_parts.next().map_or(Ok(0), number)?;
    let second = clock_parts
        .next()
        .map(|s| s.split_once('.').map_or(s, |(whole, _)| whole))
        .map_or(Ok(0), number)?;
    if clock_parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return Err(invalid());
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_az_reads_them() {
        assert_eq!(parse_time("--expires", "1700000000").ok(), Some(1_700_000_000));
        assert_eq!(parse_time("--expires", "1970-01-01").ok(), Some(0));
        assert_eq!(
            parse_time("--expires", "2030-12-31T00:00:00Z").ok(),
            Some(1_924_905_600)
        );
        assert_eq!(
            parse_time("--expires", "2030-12-31T02:00:00+02:00").ok(),
            Some(1_924_905_600)
        );
        assert_eq!(
            parse_time("--expires", "2030-12-30T19:00:00-0500").ok(),
            Some(1_924_905_600)
        );
        assert_eq!(
            parse_time("--expires", "2000-02-29T12:30:15.5Z").ok(),
            Some(951_827_415)
        );
        assert_eq!(parse_time("--expires", "2024-03-01T00:00").ok(), Some(1_709_251_200));
        for bad in ["tomorrow", "2030-13-01", "2030-12-31T25:00:00Z", "2030-12"] {
            assert!(matches!(parse_time("--expires", bad), Err(CliError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn base64_is_standard_on_the_command_line_and_url_safe_on_the_wire() {
        let bytes = decode_base64("--value", "+/8=").unwrap_or_default();
        assert_eq!(bytes, vec![0xfb, 0xff]);
        assert_eq!(decode_base64("--value", "-_8").unwrap_or_default(), vec![0xfb, 0xff]);
        assert_eq!(wire_body(&Base64Url(bytes)).ok(), Some(json!("-_8")));
        let read: Base64Url = read_answer(json!("-_8")).unwrap_or_default();
        assert_eq!(STANDARD.encode(read.as_bytes()), "+/8=");
        assert!(matches!(
            decode_base64("--value", "not base64!"),
            Err(CliError::Usage(_))
        ));
    }

    #[test]
    fn rotation_policies_take_both_spellings() {
        let snake = json!({
            "lifetime_actions": [{"trigger": {"time_after_create": "P90D", "time_before_expiry": null}, "action": {"type": "Rotate"}}],
            "attributes": {"expiry_time": "P2Y"}
        });
        let expected = json!({
            "lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}}],
            "attributes": {"expiryTime": "P2Y"}
        });
        assert_eq!(rotation_policy_body(&snake).ok(), Some(expected.clone()));
        assert_eq!(rotation_policy_body(&expected).ok(), Some(expected));
    }

    #[test]
    fn resource_groups_come_from_ids() {
        assert_eq!(
            group_of_id("/subscriptions/s/resourceGroups/rg-1/providers/Microsoft.KeyVault/vaults/kv"),
            Some("rg-1")
        );
        assert_eq!(group_of_id("/subscriptions/s"), None);
    }
}
