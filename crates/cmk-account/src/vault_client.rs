//! How the account service reaches a customer's key: only through a vault's HTTP API, with a token of the
//! account's managed identity, as any other client would. That is what makes revocation real: the vault
//! decides, on every call.

use async_trait::async_trait;
use cmk_crypto::SecretBytes;
use cmk_directory::model::{ClientId, TenantId};

/// The identity a call is made as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityRef {
    pub tenant_id: TenantId,
    pub client_id: ClientId,
}

/// What a vault tells any caller, before authentication (its challenge).
#[derive(Debug, Clone)]
pub struct VaultFacts {
    /// The tenant whose tokens the vault accepts.
    pub tenant_id: String,
    /// `x-ms-keyvault-region`.
    pub region: Option<String>,
}

/// What a key's `GET` tells.
#[derive(Debug, Clone)]
pub struct KeyFacts {
    /// The versioned key id.
    pub kid: String,
    pub kty: String,
    /// Modulus size in bits (RSA).
    pub bits: usize,
    pub enabled: bool,
    pub recovery_level: String,
}

/// Why a vault call failed, as much as the caller can tell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultCallError {
    #[error("the managed identity no longer exists")]
    IdentityNotFound,
    #[error("{0}")]
    IdentityInOtherTenant(String),
    #[error("the vault was not found: {0}")]
    VaultNotFound(String),
    #[error("the vault refused the token: {0}")]
    Unauthorized(String),
    #[error("the vault denied the operation: {0}")]
    Forbidden(String),
    /// A vault that uses Azure RBAC denied the operation: no role assignment grants it.
    #[error("the vault denied the operation: {0}")]
    ForbiddenByRbac(String),
    #[error("the key is disabled: {0}")]
    KeyDisabled(String),
    #[error("the key was not found: {0}")]
    KeyNotFound(String),
    #[error("the vault could not be reached: {0}")]
    Unreachable(String),
}

#[async_trait]
pub trait KeyVaultClient: Send + Sync + 'static {
    /// The vault's tenant and region, from an unauthenticated request.
    async fn vault_facts(&self, vault_uri: &str) -> Result<VaultFacts, VaultCallError>;
    /// `GET {vault}/keys/{name}[/{version}]`.
    async fn get_key(
        &self,
        identity: IdentityRef,
        vault_uri: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<KeyFacts, VaultCallError>;
    /// `POST {kid}/wrapkey` with RSA-OAEP-256.
    async fn wrap_key(&self, identity: IdentityRef, kid: &str, key: &[u8]) -> Result<Vec<u8>, VaultCallError>;
    /// `POST {kid}/unwrapkey` with RSA-OAEP-256.
    async fn unwrap_key(&self, identity: IdentityRef, kid: &str, wrapped: &[u8])
    -> Result<SecretBytes, VaultCallError>;
    /// Forgets cached tokens of an identity (it was deleted).
    fn forget_identity(&self, identity: IdentityRef);
}
