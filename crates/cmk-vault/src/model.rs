//! Vaults and their access policies, as stored.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use cmk_core::Timestamp;
use cmk_directory::model::{SubscriptionId, TenantId};
use serde::{Deserialize, Serialize};

use crate::VaultError;

/// The permissions an access policy can grant on keys, with Azure's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KeyPermission {
    All,
    Encrypt,
    Decrypt,
    WrapKey,
    UnwrapKey,
    Sign,
    Verify,
    Get,
    List,
    Create,
    Update,
    Import,
    Delete,
    Backup,
    Restore,
    Recover,
    Purge,
    Release,
    Rotate,
    GetRotationPolicy,
    SetRotationPolicy,
}

impl KeyPermission {
    pub const ALL: [KeyPermission; 21] = [
        KeyPermission::All,
        KeyPermission::Encrypt,
        KeyPermission::Decrypt,
        KeyPermission::WrapKey,
        KeyPermission::UnwrapKey,
        KeyPermission::Sign,
        KeyPermission::Verify,
        KeyPermission::Get,
        KeyPermission::List,
        KeyPermission::Create,
        KeyPermission::Update,
        KeyPermission::Import,
        KeyPermission::Delete,
        KeyPermission::Backup,
        KeyPermission::Restore,
        KeyPermission::Recover,
        KeyPermission::Purge,
        KeyPermission::Release,
        KeyPermission::Rotate,
        KeyPermission::GetRotationPolicy,
        KeyPermission::SetRotationPolicy,
    ];

    /// Azure's spelling (`wrapKey`, `getrotationpolicy`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPermission::All => "all",
            KeyPermission::Encrypt => "encrypt",
            KeyPermission::Decrypt => "decrypt",
            KeyPermission::WrapKey => "wrapKey",
            KeyPermission::UnwrapKey => "unwrapKey",
            KeyPermission::Sign => "sign",
            KeyPermission::Verify => "verify",
            KeyPermission::Get => "get",
            KeyPermission::List => "list",
            KeyPermission::Create => "create",
            KeyPermission::Update => "update",
            KeyPermission::Import => "import",
            KeyPermission::Delete => "delete",
            KeyPermission::Backup => "backup",
            KeyPermission::Restore => "restore",
            KeyPermission::Recover => "recover",
            KeyPermission::Purge => "purge",
            KeyPermission::Release => "release",
            KeyPermission::Rotate => "rotate",
            KeyPermission::GetRotationPolicy => "getrotationpolicy",
            KeyPermission::SetRotationPolicy => "setrotationpolicy",
        }
    }

    /// Parses a permission name without regard to case, as ARM does.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for KeyPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Permission names of the other object kinds. cmk stores no secrets or certificates, but vault definitions
/// that grant them are valid and round-trip unchanged.
pub const SECRET_PERMISSIONS: [&str; 9] = [
    "all", "get", "list", "set", "delete", "backup", "restore", "recover", "purge",
];
pub const CERTIFICATE_PERMISSIONS: [&str; 16] = [
    "all",
    "get",
    "list",
    "delete",
    "create",
    "import",
    "update",
    "managecontacts",
    "getissuers",
    "listissuers",
    "setissuers",
    "deleteissuers",
    "manageissuers",
    "recover",
    "purge",
    "backup",
];
pub const STORAGE_PERMISSIONS: [&str; 15] = [
    "all",
    "get",
    "list",
    "delete",
    "set",
    "update",
    "regeneratekey",
    "recover",
    "purge",
    "backup",
    "restore",
    "setsas",
    "listsas",
    "getsas",
    "deletesas",
];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permissions {
    pub keys: BTreeSet<KeyPermission>,
    pub secrets: BTreeSet<String>,
    pub certificates: BTreeSet<String>,
    pub storage: BTreeSet<String>,
}

impl Permissions {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.secrets.is_empty() && self.certificates.is_empty() && self.storage.is_empty()
    }

    pub fn allows_key(&self, permission: KeyPermission) -> bool {
        self.keys.contains(&KeyPermission::All) || self.keys.contains(&permission)
    }
}

/// One access policy entry: what one principal (object id, optionally through one application) may do.
/// Object ids are GUID strings in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicy {
    pub tenant_id: TenantId,
    pub object_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    pub permissions: Permissions,
}

impl AccessPolicy {
    /// Whether two entries name the same principal (the unit that add, replace and remove act on).
    pub fn same_principal(&self, other: &AccessPolicy) -> bool {
        self.tenant_id == other.tenant_id
            && self.object_id == other.object_id
            && self.application_id == other.application_id
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SkuName {
    Standard,
    Premium,
}

impl SkuName {
    pub fn as_str(self) -> &'static str {
        match self {
            SkuName::Standard => "standard",
            SkuName::Premium => "premium",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "standard" => Some(SkuName::Standard),
            "premium" => Some(SkuName::Premium),
            _ => None,
        }
    }
}

/// A key vault. Soft delete is always on (Azure removed the opt-out); purge protection, once on, stays on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vault {
    /// As the creator spelled it; vault names are unique in the deployment without regard to case.
    pub name: String,
    pub subscription_id: SubscriptionId,
    pub resource_group: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    /// The tenant whose tokens the data plane accepts.
    pub tenant_id: TenantId,
    pub sku: SkuName,
    pub access_policies: Vec<AccessPolicy>,
    pub enabled_for_deployment: bool,
    pub enabled_for_disk_encryption: bool,
    pub enabled_for_template_deployment: bool,
    pub soft_delete_retention_days: u32,
    pub purge_protection: bool,
    /// The data plane's permission model: Azure RBAC (role assignments' data actions) when true, access
    /// policies when false. Vaults stored before the field existed used access policies.
    #[serde(default)]
    pub rbac_authorization: bool,
    pub public_network_access: String,
    pub created: Timestamp,
    pub updated: Timestamp,
}

impl Vault {
    /// The vault's scope, where role assignments for it (and, below it, for its keys) attach.
    pub fn scope(&self) -> cmk_directory::authorization::Scope {
        crate::actions::vault_scope(self.subscription_id, &self.resource_group, &self.name)
    }
}

/// Where a vault is in its life. A deleted vault keeps its name reserved until it is purged, by a caller
/// (only without purge protection) or by the service when the retention period ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum VaultState {
    Active,
    Deleted {
        deletion_date: Timestamp,
        scheduled_purge_date: Timestamp,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultRecord {
    pub vault: Vault,
    pub state: VaultState,
}

/// A soft-deleted vault, as `deletedVaults` shows it.
#[derive(Debug, Clone)]
pub struct DeletedVault {
    pub vault: Vault,
    pub deletion_date: Timestamp,
    pub scheduled_purge_date: Timestamp,
}

/// Azure's rule: 3 to 24 characters of letters, digits and hyphens, starting with a letter, ending with a
/// letter or digit, without consecutive hyphens.
pub fn validate_vault_name(name: &str) -> Result<(), VaultError> {
    let valid = (3..=24).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("--");
    if valid {
        Ok(())
    } else {
        Err(VaultError::InvalidVaultName(name.to_owned()))
    }
}

pub(crate) mod keys {
    pub const VAULTS: &str = "vault/vaults/";

    pub fn vault(name: &str) -> String {
        format!("{VAULTS}{}", name.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_names_follow_azure_rules() {
        for ok in ["kv1", "my-vault-01", "A23", &"a".repeat(24)] {
            assert!(validate_vault_name(ok).is_ok(), "{ok}");
        }
        for bad in ["a", "ab", "1abc", "ab--cd", "abc-", "a_b_c", &"a".repeat(25), "vält"] {
            assert!(validate_vault_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn permissions_parse_without_case_and_print_canonically() {
        assert_eq!(KeyPermission::parse("WRAPKEY"), Some(KeyPermission::WrapKey));
        assert_eq!(
            KeyPermission::parse("wrapKey").map(KeyPermission::as_str),
            Some("wrapKey")
        );
        assert_eq!(
            KeyPermission::parse("GetRotationPolicy"),
            Some(KeyPermission::GetRotationPolicy)
        );
        assert_eq!(KeyPermission::parse("wrap"), None);
        let all = Permissions {
            keys: [KeyPermission::All].into(),
            ..Default::default()
        };
        assert!(all.allows_key(KeyPermission::Purge));
    }
}
