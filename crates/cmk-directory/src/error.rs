use cmk_crypto::CryptoError;
use cmk_store::StoreError;

use crate::tokens::TokenError;

/// Everything the directory can refuse or fail at. User faults carry what the caller needs to fix the request;
/// internal faults ([`DirectoryError::Store`], [`DirectoryError::Crypto`], [`DirectoryError::Corrupt`]) are
/// logged, and callers see a generic message.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("tenant '{0}' was not found")]
    TenantNotFound(String),
    #[error("'{0}' is not a valid tenant identifier: tenants are GUIDs")]
    InvalidTenantId(String),
    #[error("application '{client_id}' was not found in the directory '{tenant}'")]
    ClientNotFound { client_id: String, tenant: String },
    #[error("invalid client secret provided for application '{client_id}'")]
    InvalidClientSecret { client_id: String },
    #[error("the request is missing the parameter '{0}'")]
    MissingParameter(&'static str),
    #[error("the grant type '{0}' is not supported; use client_credentials")]
    UnsupportedGrantType(String),
    #[error("the scope '{0}' is not valid: client credential flows need a single scope ending in '/.default'")]
    InvalidScope(String),
    #[error("the resource '{0}' was not found in the tenant; known resources: {1}")]
    UnknownResource(String, String),
    #[error("'{0}' is not a valid subscription identifier")]
    InvalidSubscriptionId(String),
    #[error("subscription '{0}' was not found")]
    SubscriptionNotFound(String),
    #[error("resource group '{0}' could not be found")]
    ResourceGroupNotFound(String),
    #[error("invalid resource group name '{name}': {reason}")]
    InvalidResourceGroupName { name: String, reason: &'static str },
    #[error(
        "invalid resource group location '{requested}': the resource group already exists in location '{existing}'"
    )]
    ResourceGroupLocationConflict { requested: String, existing: String },
    #[error("the location property is required")]
    LocationRequired,
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    #[error("managed identity '{0}' was not found")]
    ManagedIdentityNotFound(String),
    #[error(
        "the managed identity belongs to tenant '{identity_tenant}', but its resource's subscription moved to tenant '{subscription_tenant}'; disable and enable the identity to make one in the new tenant"
    )]
    ManagedIdentityInOtherTenant {
        identity_tenant: String,
        subscription_tenant: String,
    },
    #[error("the caller is not a deployment operator")]
    NotAnOperator,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("concurrent change, retry: {0}")]
    Conflict(String),
    #[error("storage failed: {0}")]
    Store(StoreError),
    #[error("cryptography failed: {0}")]
    Crypto(#[from] CryptoError),
    #[error("stored record '{0}' is corrupt")]
    Corrupt(String),
}

impl From<StoreError> for DirectoryError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { key } => DirectoryError::Conflict(key),
            StoreError::Corrupt { key } => DirectoryError::Corrupt(key),
            other => DirectoryError::Store(other),
        }
    }
}

impl DirectoryError {
    /// Whether the fault lies with the server rather than the request.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            DirectoryError::Store(_) | DirectoryError::Crypto(_) | DirectoryError::Corrupt(_)
        )
    }
}
