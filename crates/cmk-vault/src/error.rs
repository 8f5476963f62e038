use cmk_directory::DirectoryError;
use cmk_store::StoreError;

/// Everything the vault layer refuses or fails at. Internal faults are the last three variants.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "The vault name '{0}' is invalid. A vault's name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens."
    )]
    InvalidVaultName(String),
    #[error("The Resource 'Microsoft.KeyVault/vaults/{0}' under resource group '{1}' was not found.")]
    VaultNotFound(String, String),
    #[error("The vault name '{0}' is already in use. Vault names are globally unique; choose another name.")]
    VaultNameTaken(String),
    #[error(
        "A vault with the same name already exists in deleted state. You need to either recover or purge existing key vault '{0}'."
    )]
    VaultDeletedButRecoverable(String),
    #[error("No deleted vault named '{0}' exists in location '{1}' of this subscription.")]
    DeletedVaultNotFound(String, String),
    #[error(
        "Operation 'DeletedVaultPurge' is not allowed: purge protection is enabled for vault '{0}'. It will be purged automatically on {1}."
    )]
    PurgeProtected(String, String),
    /// The caller's access policies do not grant the permission.
    #[error(
        "The user, group or application '{caller}' does not have keys {permission} permission on key vault '{vault}'. Ask an owner of the vault for an access policy that grants it."
    )]
    AccessDenied {
        caller: String,
        permission: &'static str,
        vault: String,
    },
    /// An Azure RBAC vault: no role assignment of the caller grants the data action.
    #[error(
        "Caller is not authorized to perform action on resource.\r\nCaller: {caller}\r\nAction: '{action}'\r\nResource: '{resource}'\r\nAssignment: (not found)\r\nDecisionReason: 'DeniedWithNoValidRBAC'\r\nVault: {vault}\r\n"
    )]
    ForbiddenByRbac {
        caller: String,
        action: &'static str,
        resource: String,
        vault: String,
    },
    #[error(
        "Changing the permission model of vault '{vault}' to {to} requires unrestricted 'Microsoft.Authorization/roleAssignments/write' permission (Owner or User Access Administrator), because it changes who can use the vault's keys."
    )]
    PermissionModelChangeDenied { vault: String, to: &'static str },
    #[error(
        "A key with (name/id) {0} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command."
    )]
    KeyNotFound(String),
    #[error("Deleted Key not found: {0}")]
    DeletedKeyNotFound(String),
    #[error(
        "Key {0} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged."
    )]
    KeyDeletedButRecoverable(String),
    #[error("Key {0} already exists in this vault; a backup can only be restored under a free name.")]
    KeyAlreadyExists(String),
    #[error("A key backup can only be restored into a vault of the tenant it was taken from.")]
    RestoreAcrossTenants,
    #[error("Operation {0} is not allowed on a disabled key.")]
    KeyDisabled(&'static str),
    #[error("Operation {operation} is not allowed: {reason}")]
    OperationNotAllowed { operation: &'static str, reason: String },
    #[error(
        "Operation \"purge\" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed. Vault: {0}"
    )]
    KeyPurgeProtected(String),
    /// A data-plane request that Key Vault answers with `BadParameter`.
    #[error("{0}")]
    BadParameter(String),
    /// A request that ARM answers with `BadRequest`: the message says what to change.
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error("concurrent change, retry: {0}")]
    Conflict(String),
    #[error("storage failed: {0}")]
    Store(StoreError),
    #[error("stored record '{0}' is corrupt")]
    Corrupt(String),
    #[error("cryptography failed: {0}")]
    Crypto(cmk_crypto::CryptoError),
}

impl From<StoreError> for VaultError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { key } => VaultError::Conflict(key),
            StoreError::Corrupt { key } => VaultError::Corrupt(key),
            other => VaultError::Store(other),
        }
    }
}
