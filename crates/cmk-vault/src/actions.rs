//! The names Azure gives the operations of `Microsoft.KeyVault`: management actions, which roles grant on any
//! vault, and data actions, which authorize the keys data plane of vaults that use Azure RBAC.

use cmk_directory::authorization::Scope;
use cmk_directory::model::SubscriptionId;

pub const VAULT_READ: &str = "Microsoft.KeyVault/vaults/read";
pub const VAULT_WRITE: &str = "Microsoft.KeyVault/vaults/write";
pub const VAULT_DELETE: &str = "Microsoft.KeyVault/vaults/delete";
pub const ACCESS_POLICIES_WRITE: &str = "Microsoft.KeyVault/vaults/accessPolicies/write";
pub const DELETED_VAULTS_READ: &str = "Microsoft.KeyVault/deletedVaults/read";
pub const DELETED_VAULT_READ: &str = "Microsoft.KeyVault/locations/deletedVaults/read";
pub const DELETED_VAULT_PURGE: &str = "Microsoft.KeyVault/locations/deletedVaults/purge/action";
pub const CHECK_NAME_AVAILABILITY: &str = "Microsoft.KeyVault/checkNameAvailability/read";

/// Data actions of the keys data plane.
pub mod data {
    pub const KEYS_READ: &str = "Microsoft.KeyVault/vaults/keys/read";
    pub const KEYS_CREATE: &str = "Microsoft.KeyVault/vaults/keys/create/action";
    pub const KEYS_IMPORT: &str = "Microsoft.KeyVault/vaults/keys/import/action";
    pub const KEYS_UPDATE: &str = "Microsoft.KeyVault/vaults/keys/update/action";
    pub const KEYS_DELETE: &str = "Microsoft.KeyVault/vaults/keys/delete";
    pub const KEYS_BACKUP: &str = "Microsoft.KeyVault/vaults/keys/backup/action";
    pub const KEYS_RESTORE: &str = "Microsoft.KeyVault/vaults/keys/restore/action";
    pub const KEYS_RECOVER: &str = "Microsoft.KeyVault/vaults/keys/recover/action";
    pub const KEYS_PURGE: &str = "Microsoft.KeyVault/vaults/keys/purge/action";
    pub const KEYS_ROTATE: &str = "Microsoft.KeyVault/vaults/keys/rotate/action";
    pub const KEYS_RELEASE: &str = "Microsoft.KeyVault/vaults/keys/release/action";
    pub const KEYS_ENCRYPT: &str = "Microsoft.KeyVault/vaults/keys/encrypt/action";
    pub const KEYS_DECRYPT: &str = "Microsoft.KeyVault/vaults/keys/decrypt/action";
    pub const KEYS_WRAP: &str = "Microsoft.KeyVault/vaults/keys/wrap/action";
    pub const KEYS_UNWRAP: &str = "Microsoft.KeyVault/vaults/keys/unwrap/action";
    pub const KEYS_SIGN: &str = "Microsoft.KeyVault/vaults/keys/sign/action";
    pub const KEYS_VERIFY: &str = "Microsoft.KeyVault/vaults/keys/verify/action";
    pub const ROTATION_POLICY_READ: &str = "Microsoft.KeyVault/vaults/keyrotationpolicies/read";
    pub const ROTATION_POLICY_WRITE: &str = "Microsoft.KeyVault/vaults/keyrotationpolicies/write";
}

/// The scope of a vault: `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}`.
pub fn vault_scope(subscription: SubscriptionId, resource_group: &str, name: &str) -> Scope {
    Scope::resource(subscription, resource_group, "Microsoft.KeyVault", &[("vaults", name)])
}

/// The scope of a deleted vault, which belongs to its subscription and location.
pub fn deleted_vault_scope(subscription: SubscriptionId, location: &str, name: &str) -> Scope {
    Scope::subscription_resource(
        subscription,
        "Microsoft.KeyVault",
        &[("locations", location), ("deletedVaults", name)],
    )
}
