use cmk_crypto::CryptoError;
use cmk_store::StoreError;

use crate::authorization::ScopeError;
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
    #[error(
        "The client '{client_id}' with object id '{object_id}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
    )]
    AuthorizationFailed {
        client_id: String,
        object_id: String,
        action: String,
        scope: String,
    },
    #[error("{0}")]
    InvalidArmScope(ScopeError),
    #[error("The specified role definition with ID '{0}' does not exist.")]
    RoleDefinitionNotFound(String),
    /// An assignment names a role that does not exist: the request is at fault, not a missing resource.
    #[error("The specified role definition with ID '{0}' does not exist.")]
    UnknownRoleDefinition(String),
    #[error(
        "The role '{role}' cannot be assigned at the scope '{scope}': the scope is not one of its assignable scopes."
    )]
    RoleNotAssignableAtScope { role: String, scope: String },
    #[error("The role assignment '{0}' was not found.")]
    RoleAssignmentNotFound(String),
    #[error("The role assignment already exists. The ID of the existing role assignment is {0}.")]
    RoleAssignmentExists(String),
    #[error(
        "Tenant ID, application ID, principal ID, and scope are not allowed to be updated: the role assignment '{0}' exists with another principal, role or scope."
    )]
    RoleAssignmentUpdateNotPermitted(String),
    #[error(
        "Principal {principal} does not exist in the directory {tenant}. Check that you have the correct principal ID (the object id of a service principal or managed identity)."
    )]
    PrincipalNotFound { principal: String, tenant: String },
    #[error(
        "The principal '{principal}' is a ServicePrincipal, but the request names the principal type '{requested}'. Set principalType to ServicePrincipal."
    )]
    PrincipalTypeMismatch { principal: String, requested: String },
    #[error(
        "The client '{client_id}' with object id '{object_id}' does not have permission to perform action '{action}' on the linked scope '{scope}', or the linked scope is invalid."
    )]
    LinkedAuthorizationFailed {
        client_id: String,
        object_id: String,
        action: String,
        scope: String,
    },
    #[error("The role definition is invalid: {0}.")]
    InvalidRoleDefinition(String),
    #[error("A role definition named '{0}' already exists; role names are unique in a tenant.")]
    RoleDefinitionNameExists(String),
    #[error("The built-in role '{0}' cannot be changed or deleted.")]
    BuiltInRoleImmutable(String),
    #[error(
        "The role '{role}' is still assigned ({assignments} assignments, for example '{example}'); delete its assignments first."
    )]
    RoleDefinitionHasAssignments {
        role: String,
        assignments: usize,
        example: String,
    },
    #[error("The last operator of the deployment cannot be deleted; make another operator first.")]
    LastOperator,
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
