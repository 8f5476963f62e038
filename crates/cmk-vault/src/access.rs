//! Data-plane authorization, in the vault's permission model: access policies, or Azure RBAC.
//!
//! [`Vaults::authorize`] is the only way to get a [`VaultAccess`], and every key operation takes one, so no
//! operation can run unchecked. The access names the operation it was granted for (and, for an operation on
//! one key, that key), and each operation confirms it holds the one it performs.

use cmk_directory::VerifiedToken;

use crate::actions::data;
use crate::model::{KeyPermission, Vault, VaultRecord, VaultState, keys, validate_vault_name};
use crate::{VaultError, Vaults};

/// An operation of the keys data plane, with what each permission model asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    Get,
    List,
    Create,
    Import,
    Update,
    Delete,
    Backup,
    Restore,
    Recover,
    Purge,
    GetDeleted,
    ListDeleted,
    Rotate,
    GetRotationPolicy,
    SetRotationPolicy,
    Encrypt,
    Decrypt,
    WrapKey,
    UnwrapKey,
    Sign,
    Verify,
}

impl KeyAction {
    /// The access-policy permission it takes.
    pub fn permission(self) -> KeyPermission {
        match self {
            KeyAction::Get | KeyAction::GetDeleted => KeyPermission::Get,
            KeyAction::List | KeyAction::ListDeleted => KeyPermission::List,
            KeyAction::Create => KeyPermission::Create,
            KeyAction::Import => KeyPermission::Import,
            KeyAction::Update => KeyPermission::Update,
            KeyAction::Delete => KeyPermission::Delete,
            KeyAction::Backup => KeyPermission::Backup,
            KeyAction::Restore => KeyPermission::Restore,
            KeyAction::Recover => KeyPermission::Recover,
            KeyAction::Purge => KeyPermission::Purge,
            KeyAction::Rotate => KeyPermission::Rotate,
            KeyAction::GetRotationPolicy => KeyPermission::GetRotationPolicy,
            KeyAction::SetRotationPolicy => KeyPermission::SetRotationPolicy,
            KeyAction::Encrypt => KeyPermission::Encrypt,
            KeyAction::Decrypt => KeyPermission::Decrypt,
            KeyAction::WrapKey => KeyPermission::WrapKey,
            KeyAction::UnwrapKey => KeyPermission::UnwrapKey,
            KeyAction::Sign => KeyPermission::Sign,
            KeyAction::Verify => KeyPermission::Verify,
        }
    }

    /// The Azure RBAC data action it takes. Azure names no data action for reading deleted keys; reading
    /// keys covers them.
    pub fn data_action(self) -> &'static str {
        match self {
            KeyAction::Get | KeyAction::List | KeyAction::GetDeleted | KeyAction::ListDeleted => data::KEYS_READ,
            KeyAction::Create => data::KEYS_CREATE,
            KeyAction::Import => data::KEYS_IMPORT,
            KeyAction::Update => data::KEYS_UPDATE,
            KeyAction::Delete => data::KEYS_DELETE,
            KeyAction::Backup => data::KEYS_BACKUP,
            KeyAction::Restore => data::KEYS_RESTORE,
            KeyAction::Recover => data::KEYS_RECOVER,
            KeyAction::Purge => data::KEYS_PURGE,
            KeyAction::Rotate => data::KEYS_ROTATE,
            KeyAction::GetRotationPolicy => data::ROTATION_POLICY_READ,
            KeyAction::SetRotationPolicy => data::ROTATION_POLICY_WRITE,
            KeyAction::Encrypt => data::KEYS_ENCRYPT,
            KeyAction::Decrypt => data::KEYS_DECRYPT,
            KeyAction::WrapKey => data::KEYS_WRAP,
            KeyAction::UnwrapKey => data::KEYS_UNWRAP,
            KeyAction::Sign => data::KEYS_SIGN,
            KeyAction::Verify => data::KEYS_VERIFY,
        }
    }
}

/// Proof that a caller may perform one operation on one vault (and, when the operation names a key, on that
/// key: a role assigned at the key's scope grants nothing on the vault's other keys).
#[derive(Debug, Clone)]
pub struct VaultAccess {
    vault: Vault,
    action: KeyAction,
    key: Option<String>,
}

impl VaultAccess {
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Confirms the access was granted for `needed` (on `key`, when it names one); an access granted for one
    /// operation never serves another.
    pub(crate) fn require(&self, needed: KeyAction, key: Option<&str>) -> Result<&Vault, VaultError> {
        let same_key = match (&self.key, key) {
            (Some(granted), Some(wanted)) => granted.eq_ignore_ascii_case(wanted),
            (None, None) => true,
            _ => false,
        };
        if self.action == needed && same_key {
            Ok(&self.vault)
        } else {
            Err(VaultError::AccessDenied {
                caller: String::from("(access granted for another operation)"),
                permission: needed.permission().as_str(),
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

    /// Checks that the caller may perform `action` (on `key`, for an operation on one key), in the vault's
    /// permission model:
    /// - access policies: an entry for the caller's object id in the caller's tenant (and, when the entry
    ///   names one, the caller's application) must grant the permission;
    /// - Azure RBAC: a role assigned to the caller at the key, the vault, or above must grant the data action.
    pub async fn authorize(
        &self,
        vault: Vault,
        caller: &VerifiedToken,
        action: KeyAction,
        key: Option<&str>,
    ) -> Result<VaultAccess, VaultError> {
        let granted = if vault.rbac_authorization {
            let scope = match key {
                Some(key) => vault.scope().child("keys", key),
                None => vault.scope(),
            };
            let permissions = self.directory().permissions(caller).await?;
            if !permissions.allows_data(action.data_action(), &scope) {
                let issuer = self.directory().issuer(&caller.tenant_id());
                return Err(VaultError::ForbiddenByRbac {
                    caller: caller_text(caller, &issuer),
                    action: action.data_action(),
                    resource: scope.to_string(),
                    vault: format!("{};location={}", vault.name, vault.location),
                });
            }
            true
        } else {
            let permission = action.permission();
            let object_id = caller.object_id().to_string();
            let client_id = caller.client_id().to_string();
            vault.access_policies.iter().any(|policy| {
                policy.tenant_id == caller.tenant_id()
                    && policy.object_id == object_id
                    && policy.application_id.as_deref().is_none_or(|app| app == client_id)
                    && policy.permissions.allows_key(permission)
            })
        };
        if granted {
            Ok(VaultAccess {
                vault,
                action,
                key: key.map(str::to_owned),
            })
        } else {
            let issuer = self.directory().issuer(&caller.tenant_id());
            Err(VaultError::AccessDenied {
                caller: caller_text(caller, &issuer),
                permission: action.permission().as_str(),
                vault: format!("{};location={}", vault.name, vault.location),
            })
        }
    }
}
