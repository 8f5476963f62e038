//! Data-plane authorization: a caller's access policies decide each operation.
//!
//! [`Vaults::authorize`] is the only way to get a [`VaultAccess`], and every key operation takes one, so no
//! operation can run unchecked. The access names the permission it was granted for, and each operation
//! confirms it holds the one it needs.

use cmk_directory::VerifiedToken;

use crate::model::{KeyPermission, Vault, VaultRecord, VaultState, keys, validate_vault_name};
use crate::{VaultError, Vaults};

/// Proof that a caller may perform one kind of operation on one vault.
#[derive(Debug, Clone)]
pub struct VaultAccess {
    vault: Vault,
    permission: KeyPermission,
}

impl VaultAccess {
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Confirms the access was granted for `needed`; an access granted for one operation never serves another.
    pub(crate) fn require(&self, needed: KeyPermission) -> Result<&Vault, VaultError> {
        if self.permission == needed {
            Ok(&self.vault)
        } else {
            Err(VaultError::AccessDenied {
                caller: String::from("(access granted for another operation)"),
                permission: needed.as_str(),
                vault: self.vault.name.clone(),
            })
        }
    }
}

/// How a caller appears in Key Vault's messages.
fn caller_text(token: &VerifiedToken, issuer: &str) -> String {
    format!("appid={};oid={};iss={issuer}", token.client_id(), token.object_id())
}

impl Vaults {
    /// The active vault served at `name` (its host name), for the data plane.
    pub async fn data_plane_vault(&self, name: &str) -> Result<Vault, VaultError> {
        let not_found = || VaultError::VaultNotFound(name.to_owned(), String::new());
        validate_vault_name(name).map_err(|_| not_found())?;
        let record = cmk_store::records::get::<VaultRecord>(self.store(), &keys::vault(name)).await?;
        match record {
            Some(r) if matches!(r.value.state, VaultState::Active) => Ok(r.value.vault),
            _ => Err(not_found()),
        }
    }

    /// Checks the vault's access policies for `permission`: an entry for the caller's object id in the
    /// caller's tenant (and, when the entry names one, the caller's application) must grant it.
    pub fn authorize(
        &self,
        vault: Vault,
        caller: &VerifiedToken,
        permission: KeyPermission,
    ) -> Result<VaultAccess, VaultError> {
        let object_id = caller.object_id().to_string();
        let client_id = caller.client_id().to_string();
        let granted = vault.access_policies.iter().any(|policy| {
            policy.tenant_id == caller.tenant_id()
                && policy.object_id == object_id
                && policy.application_id.as_deref().is_none_or(|app| app == client_id)
                && policy.permissions.allows_key(permission)
        });
        if granted {
            Ok(VaultAccess { vault, permission })
        } else {
            let issuer = self.directory().issuer(&caller.tenant_id());
            Err(VaultError::AccessDenied {
                caller: caller_text(caller, &issuer),
                permission: permission.as_str(),
                vault: format!("{};location={}", vault.name, vault.location),
            })
        }
    }
}
