//! The account's records, as stored.

use std::collections::BTreeMap;

use cmk_core::Timestamp;
use cmk_directory::model::{ClientId, ObjectId, SubscriptionId, TenantId};
use serde::{Deserialize, Serialize};

/// The SKUs an account may have; only `E0` allows customer-managed keys.
pub const SKUS: &[&str] = &["F0", "F1", "S", "S0", "S1", "S2", "S3", "S4", "E0"];
pub const CMK_SKU: &str = "E0";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemIdentity {
    pub principal_id: ObjectId,
    pub client_id: ClientId,
    pub tenant_id: TenantId,
}

/// Where a customer key lives, as the account was told (`keyVaultUri`, `keyName`, `keyVersion`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerKeySpec {
    /// `https://{host}[:port]/`, normalized to lower case with one trailing slash.
    pub vault_uri: String,
    pub key_name: String,
    /// `None`: follow the latest version.
    pub key_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_client_id: Option<String>,
}

impl CustomerKeySpec {
    /// The key URI without a version: `https://{host}/keys/{name}`.
    pub fn key_uri(&self) -> String {
        format!("{}keys/{}", self.vault_uri, self.key_name)
    }
}

/// The data key, as stored: only ever wrapped.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "by")]
pub enum WrappedDataKey {
    /// Sealed under the server's root key (Microsoft-managed keys).
    Platform { sealed: String },
    /// Wrapped with RSA-OAEP-256 by a customer key version in a vault.
    Customer {
        /// The versioned key id that wrapped it.
        kid: String,
        /// base64url.
        wrapped: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetiredDataKey {
    pub version: u32,
    pub wrapped: WrappedDataKey,
}

/// Why an account cannot reach its customer key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InaccessibleReason {
    IdentityDisabled,
    IdentityInOtherTenant,
    AccessDenied,
    KeyDisabled,
    KeyNotFound,
    VaultNotFound,
    VaultUnreachable,
}

impl InaccessibleReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdentityDisabled => "IdentityDisabled",
            Self::IdentityInOtherTenant => "IdentityInOtherTenant",
            Self::AccessDenied => "AccessDenied",
            Self::KeyDisabled => "KeyDisabled",
            Self::KeyNotFound => "KeyNotFound",
            Self::VaultNotFound => "VaultNotFound",
            Self::VaultUnreachable => "VaultUnreachable",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum KeyAccess {
    Accessible,
    Inaccessible {
        reason: InaccessibleReason,
        message: String,
        since: Timestamp,
    },
}

/// Which key protects the data key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "keySource")]
pub enum Encryption {
    /// `Microsoft.CognitiveServices`.
    Platform,
    /// `Microsoft.KeyVault`.
    Customer { key: CustomerKeySpec, access: KeyAccess },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum AccountState {
    Active,
    Deleted {
        deletion_date: Timestamp,
        scheduled_purge_date: Timestamp,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Names the account's content in the store and in the authenticated data of every chunk; never reused.
    pub internal_id: String,
    /// As the creator spelled it; names compare without regard to case.
    pub name: String,
    pub subscription_id: SubscriptionId,
    pub resource_group: String,
    pub location: String,
    pub kind: String,
    pub sku: String,
    pub tags: BTreeMap<String, String>,
    /// Lower case; the account's endpoint is `https://{subdomain}.cognitiveservices.{suffix}/`.
    pub subdomain: String,
    /// Whether the subdomain was given (`customSubDomainName`) rather than taken from the name.
    pub custom_subdomain: bool,
    pub identity: Option<SystemIdentity>,
    pub encryption: Encryption,
    pub data_key: WrappedDataKey,
    /// Part of every chunk's authenticated data.
    pub data_key_version: u32,
    /// Earlier data keys that still encrypt some content, while a re-encryption moves it to the current one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_data_keys: Vec<RetiredDataKey>,
    /// key1 and key2, each sealed under the root key (base64url).
    pub api_keys: [String; 2],
    pub public_network_access: String,
    pub disable_local_auth: bool,
    pub state: AccountState,
    pub created: Timestamp,
    pub updated: Timestamp,
}

impl Account {
    pub fn is_deleted(&self) -> bool {
        matches!(self.state, AccountState::Deleted { .. })
    }

    pub fn customer_key(&self) -> Option<&CustomerKeySpec> {
        match &self.encryption {
            Encryption::Customer { key, .. } => Some(key),
            Encryption::Platform => None,
        }
    }

    pub fn key_access(&self) -> Option<&KeyAccess> {
        match &self.encryption {
            Encryption::Customer { access, .. } => Some(access),
            Encryption::Platform => None,
        }
    }

    /// The versioned key id that wraps the data key now, under customer-managed keys.
    pub fn current_kid(&self) -> Option<&str> {
        match &self.data_key {
            WrappedDataKey::Customer { kid, .. } => Some(kid),
            WrappedDataKey::Platform { .. } => None,
        }
    }

    /// Where the record is stored.
    pub(crate) fn store_key(&self) -> String {
        keys::account(&self.subscription_id, &self.resource_group, &self.name)
    }

    /// The ARM id.
    /// The account's scope, where role assignments for it attach.
    pub fn scope(&self) -> cmk_directory::authorization::Scope {
        crate::actions::account_scope(self.subscription_id, &self.resource_group, &self.name)
    }

    pub fn resource_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.CognitiveServices/accounts/{}",
            self.subscription_id, self.resource_group, self.name
        )
    }
}

/// The subdomain index: which account answers at a subdomain.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubdomainOwner {
    pub subscription_id: SubscriptionId,
    pub resource_group: String,
    pub name: String,
}

/// One stored object's metadata; its content is in chunks under its `object_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentObject {
    pub name: String,
    /// Random per upload, so chunks of an object being replaced never mix with the new ones.
    pub object_id: String,
    pub size: u64,
    pub content_type: String,
    pub chunk_count: u64,
    pub data_key_version: u32,
    pub etag: String,
    pub created: Timestamp,
    pub last_modified: Timestamp,
}

/// Chunks waiting to be deleted: of an upload that never finished, or of an object that was replaced or deleted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingChunks {
    pub internal_id: String,
    pub object_id: String,
    pub since: Timestamp,
    /// An upload in progress is not garbage until it is old.
    pub upload: bool,
}

pub(crate) mod keys {
    use super::*;
    use cmk_directory::model::encode_store_name as encode_name;

    pub const ACCOUNTS: &str = "accounts/records/";

    pub fn subscription_accounts(subscription: &SubscriptionId) -> String {
        format!("{ACCOUNTS}{subscription}/")
    }

    pub fn group_accounts(subscription: &SubscriptionId, resource_group: &str) -> String {
        format!(
            "{}{}/",
            subscription_accounts(subscription),
            encode_name(resource_group)
        )
    }

    pub fn account(subscription: &SubscriptionId, resource_group: &str, name: &str) -> String {
        format!(
            "{}{}",
            group_accounts(subscription, resource_group),
            name.to_ascii_lowercase()
        )
    }

    pub fn subdomain(subdomain: &str) -> String {
        format!("accounts/subdomains/{subdomain}")
    }

    /// Everything an account stores as content; the caching layer keeps only small values of it, within a budget.
    pub const CONTENT: &str = "content/";

    pub fn content(internal_id: &str) -> String {
        format!("{CONTENT}{internal_id}/")
    }

    pub fn objects(internal_id: &str) -> String {
        format!("{}o/", content(internal_id))
    }

    pub fn object(internal_id: &str, encoded_name: &str) -> String {
        format!("{}{encoded_name}", objects(internal_id))
    }

    pub fn chunks(internal_id: &str, object_id: &str) -> String {
        format!("{}c/{object_id}/", content(internal_id))
    }

    pub fn chunk(internal_id: &str, object_id: &str, index: u64) -> String {
        format!("{}{index:010}", chunks(internal_id, object_id))
    }

    pub const JOBS: &str = "accounts/jobs/";

    pub fn job(internal_id: &str) -> String {
        format!("{JOBS}{internal_id}")
    }

    /// Chunks to delete; outside [`CONTENT`] so sweeping them never scans content.
    pub const PENDING: &str = "accounts/pending/";

    pub fn pending_of(internal_id: &str) -> String {
        format!("{PENDING}{internal_id}/")
    }

    pub fn pending(internal_id: &str, object_id: &str) -> String {
        format!("{}{object_id}", pending_of(internal_id))
    }
}
