use cmk_crypto::CryptoError;
use cmk_directory::DirectoryError;
use cmk_store::StoreError;

use crate::model::InaccessibleReason;

/// Why customer-managed keys cannot be switched on (or the key changed). Each has its own code; every message
/// says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmkRefusal {
    #[error(
        "Customer-managed keys cannot be set when an account is created. Create the account with Microsoft-managed keys (omit properties.encryption or set keySource to Microsoft.CognitiveServices), then switch the key on with an update."
    )]
    NotAllowedOnCreate,
    #[error(
        "Customer-managed keys need the E0 pricing tier, and the account's SKU is '{0}'. Update sku.name to E0 first."
    )]
    RequiresE0Sku(String),
    #[error("The key vault properties are invalid: {0}")]
    InvalidKeyVaultProperties(String),
    #[error(
        "Customer-managed keys need the account's system-assigned managed identity. Set identity.type to SystemAssigned, grant that identity the key permissions get, wrapKey and unwrapKey on the vault (an access policy, or the role Key Vault Crypto Service Encryption User on a vault that uses Azure RBAC), then set the key."
    )]
    IdentityNotEnabled,
    #[error("The key vault '{0}' was not found. Check keyVaultUri.")]
    KeyVaultNotFound(String),
    #[error(
        "The key vault '{vault}' belongs to tenant '{vault_tenant}', but the account belongs to tenant '{account_tenant}'. Use a vault in the account's tenant."
    )]
    KeyVaultInOtherTenant {
        vault: String,
        vault_tenant: String,
        account_tenant: String,
    },
    #[error(
        "The key vault '{vault}' is in region '{vault_region}', but the account is in '{account_region}'. Use a vault in the account's region."
    )]
    KeyVaultInOtherRegion {
        vault: String,
        vault_region: String,
        account_region: String,
    },
    #[error(
        "The key vault '{vault}' must have soft delete and purge protection enabled (its keys' recovery level is '{recovery_level}'). Enable purge protection on the vault (enablePurgeProtection: true)."
    )]
    PurgeProtectionRequired { vault: String, recovery_level: String },
    #[error("The key '{0}' was not found in the vault. Check keyName and keyVersion.")]
    KeyNotFound(String),
    #[error("The key '{0}' is disabled. Enable it, or choose another key.")]
    KeyDisabled(String),
    #[error("The key '{kid}' has type '{kty}'; customer-managed keys must be RSA or RSA-HSM keys of size 2048.")]
    UnsupportedKeyType { kid: String, kty: String },
    #[error("The key '{kid}' has {bits} bits; customer-managed keys must be RSA keys of size 2048.")]
    UnsupportedKeySize { kid: String, bits: usize },
    /// `rbac`: whether the vault uses Azure RBAC, which decides the grant the message asks for.
    #[error(
        "The account's managed identity (object id '{principal}') cannot use the key: {detail} {advice}",
        advice = access_advice(*rbac)
    )]
    AccessDenied {
        principal: String,
        detail: String,
        rbac: bool,
    },
    #[error(
        "The account's current key is inaccessible ({0}), so its data key cannot be re-wrapped. Restore access to the current key first."
    )]
    CurrentKeyInaccessible(String),
}

/// What to grant a managed identity so it can use a key, in the vault's permission model.
fn access_advice(rbac: bool) -> &'static str {
    if rbac {
        "The vault uses Azure RBAC: assign the identity the role Key Vault Crypto Service Encryption User (or Key Vault Crypto User) on the vault or on the key."
    } else {
        "The vault uses access policies: grant the identity the key permissions get, wrapKey and unwrapKey in an access policy."
    }
}

impl CmkRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotAllowedOnCreate => "CustomerManagedKeyNotAllowedOnCreate",
            Self::RequiresE0Sku(_) => "CustomerManagedKeyRequiresE0Sku",
            Self::InvalidKeyVaultProperties(_) => "InvalidKeyVaultProperties",
            Self::IdentityNotEnabled => "IdentityNotEnabled",
            Self::KeyVaultNotFound(_) => "KeyVaultNotFound",
            Self::KeyVaultInOtherTenant { .. } => "KeyVaultInOtherTenant",
            Self::KeyVaultInOtherRegion { .. } => "KeyVaultInOtherRegion",
            Self::PurgeProtectionRequired { .. } => "KeyVaultPurgeProtectionRequired",
            Self::KeyNotFound(_) => "KeyNotFound",
            Self::KeyDisabled(_) => "KeyDisabled",
            Self::UnsupportedKeyType { .. } => "UnsupportedKeyType",
            Self::UnsupportedKeySize { .. } => "UnsupportedKeySize",
            Self::AccessDenied { .. } => "KeyVaultAccessDenied",
            Self::CurrentKeyInaccessible(_) => "CustomerManagedKeyInaccessible",
        }
    }
}

/// Everything the account service can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    #[error(
        "The Resource 'Microsoft.CognitiveServices/accounts/{name}' under resource group '{resource_group}' was not found."
    )]
    AccountNotFound { name: String, resource_group: String },
    #[error(
        "The deleted account '{name}' in resource group '{resource_group}' and location '{location}' was not found."
    )]
    DeletedAccountNotFound {
        name: String,
        resource_group: String,
        location: String,
    },
    #[error(
        "An existing resource with ID '{0}' has been soft-deleted. To restore the resource, you must specify 'restore' to be 'true' in the property. If you don't want to restore existing resource, please purge it first."
    )]
    SoftDeletedExists(String),
    #[error("The subdomain name '{0}' is already in use. Choose another customSubDomainName.")]
    SubdomainTaken(String),
    #[error("{0}")]
    Cmk(#[from] CmkRefusal),
    #[error("The account's customer-managed key is inaccessible ({reason}): {message}", reason = reason.as_str())]
    KeyInaccessible {
        reason: InaccessibleReason,
        message: String,
    },
    #[error(
        "The content of account '{0}' is being re-encrypted under a new data key; the encryption settings can change once that has finished."
    )]
    ReencryptionInProgress(String),
    #[error("No re-encryption has been started for account '{0}'.")]
    NoReencryption(String),
    #[error("The content '{0}' was not found.")]
    ContentNotFound(String),
    #[error("The content name is invalid: {0}")]
    InvalidContentName(String),
    #[error("The content is larger than the limit of {limit} bytes per object.")]
    ContentTooLarge { limit: u64 },
    #[error(transparent)]
    Directory(DirectoryError),
    #[error("concurrent change, retry: {0}")]
    Conflict(String),
    #[error("storage failed: {0}")]
    Store(StoreError),
    #[error("cryptography failed: {0}")]
    Crypto(#[from] CryptoError),
    #[error("stored record '{0}' is corrupt")]
    Corrupt(String),
}

impl From<StoreError> for AccountError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { key } => AccountError::Conflict(key),
            StoreError::Corrupt { key } => AccountError::Corrupt(key),
            other => AccountError::Store(other),
        }
    }
}

impl From<DirectoryError> for AccountError {
    fn from(error: DirectoryError) -> Self {
        match error {
            DirectoryError::Conflict(key) => AccountError::Conflict(key),
            other => AccountError::Directory(other),
        }
    }
}
