//! The account resource of ARM (`Microsoft.CognitiveServices/accounts`): the resource, its identity and encryption.
//!
//! Answers and requests are separate types. An answer writes what cmk knows, with the same fields present on
//! every read; a request holds only the fields a client may set, every one optional, so that the server can
//! refuse an absence with a precise message, and read-only fields a client echoes back (`endpoint`,
//! `capabilities`, `principalId`, ...) are ignored rather than parsed, as ARM does.

use std::collections::BTreeMap;

use cmk_crypto::SecretString;
use serde::{Deserialize, Serialize};

pub use crate::arm::{ListResult, SystemData};

use crate::error::ErrorBody;

/// `Microsoft.CognitiveServices/accounts`, as the answer to every read and write, and in lists. A deleted
/// account has the same shape, with its `deletedAccounts` id and the deletion dates in its properties.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub location: String,
    pub kind: String,
    pub sku: Sku,
    /// Always written, `{}` when there are none.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub etag: String,
    pub identity: Identity,
    pub properties: AccountProperties,
    pub system_data: SystemData,
}

/// The pricing tier: `S0`, `E0`, ... Requests may add `tier`, `capacity`; cmk ignores them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sku {
    pub name: String,
}

/// The account's managed identity. `type: None` carries no ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    #[serde(rename = "type")]
    pub identity_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountProperties {
    /// Always `Succeeded`: every operation finishes before it answers.
    pub provisioning_state: String,
    pub endpoint: String,
    /// `{"Content": endpoint}`.
    #[serde(default)]
    pub endpoints: BTreeMap<String, String>,
    pub internal_id: String,
    pub date_created: String,
    pub public_network_access: String,
    pub disable_local_auth: bool,
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    pub encryption: Encryption,
    /// Only when the subdomain was given rather than taken from the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_sub_domain_name: Option<String>,
    /// Only on a deleted account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<String>,
    /// Only on a deleted account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_purge_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    pub name: String,
}

/// `keySource` is `Microsoft.CognitiveServices` (Microsoft-managed keys, nothing else written) or
/// `Microsoft.KeyVault` (the key, and whether the account can reach it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Encryption {
    pub key_source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_vault_properties: Option<KeyVaultProperties>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_access: Option<KeyAccess>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyVaultProperties {
    pub key_name: String,
    /// `""` when the account follows the latest version, as Azure writes it.
    #[serde(default)]
    pub key_version: String,
    pub key_vault_uri: String,
    /// The versioned key id that wraps the data key now; written as `null` while none does.
    #[serde(default)]
    pub current_versioned_key_identifier: Option<String>,
}

/// cmk's account of whether the customer key can be used: `Accessible`, or `Inaccessible` with why and since
/// when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAccess {
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// A list of accounts, or of deleted accounts. cmk answers in one page, so it writes no `nextLink`.
pub type AccountListResult = ListResult<Account>;

// ---- requests ----------------------------------------------------------------------------------------------

/// The body of `PUT` (create or replace) and `PATCH` (update) of an account. Every field is optional: the
/// server says which one a `PUT` lacks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountDefinition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityDefinition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<AccountDefinitionProperties>,
}

/// The identity a client asks for; only `type` is read (`principalId` and `tenantId` are the server's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityDefinition {
    #[serde(rename = "type")]
    pub identity_type: String,
}

/// The properties a client may set. Read-only ones (`endpoint`, `networkAcls`, ...) are accepted and ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountDefinitionProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_sub_domain_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionDefinition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_local_auth: Option<bool>,
    /// Create over a soft-deleted account of the same name, taking its content back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<bool>,
}

/// A missing `keySource` means `Microsoft.KeyVault`, as the SDK models do.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionDefinition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_vault_properties: Option<KeyVaultPropertiesDefinition>,
}

/// `keyVaultUri` and `keyName` are required with `Microsoft.KeyVault`; optional here so that the server can
/// name the one missing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyVaultPropertiesDefinition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// Absent: follow the latest version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_vault_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_client_id: Option<String>,
}

// ---- keys ----------------------------------------------------------------------------------------------------

/// The answer of `listKeys` and `regenerateKey`: the two API keys, secrets written out only here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeys {
    #[serde(serialize_with = "crate::token::expose", deserialize_with = "crate::token::secret")]
    pub key1: SecretString,
    #[serde(serialize_with = "crate::token::expose", deserialize_with = "crate::token::secret")]
    pub key2: SecretString,
}

/// The body of `regenerateKey`: `Key1` or `Key2`, which the server reads without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegenerateKeyParameters {
    pub key_name: String,
}

// ---- re-encryption -------------------------------------------------------------------------------------------

/// cmk's re-encryption of an account's content under a new data key (`POST`, then `GET`, `.../reencrypt`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReencryptionStatus {
    /// `Running`, `Succeeded` or `Failed`.
    pub status: String,
    pub data_key_version: u32,
    pub objects_total: u64,
    pub objects_done: u64,
    pub bytes_done: u64,
    pub percent_complete: f64,
    pub start_time: String,
    /// Once the job has finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// Only when the job failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;
    use crate::tests::round_trip;

    #[test]
    fn a_customer_key_account_round_trips() {
        let wire = json!({
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a",
            "name": "a",
            "type": "Microsoft.CognitiveServices/accounts",
            "location": "westeurope",
            "kind": "Face",
            "sku": {"name": "E0"},
            "tags": {},
            "etag": "\"1700000000\"",
            "identity": {"type": "SystemAssigned", "principalId": "p", "tenantId": "t"},
            "properties": {
                "provisioningState": "Succeeded",
                "endpoint": "https://a.cognitiveservices.example/",
                "endpoints": {"Content": "https://a.cognitiveservices.example/"},
                "internalId": "i",
                "dateCreated": "2026-01-01T00:00:00Z",
                "publicNetworkAccess": "Enabled",
                "disableLocalAuth": false,
                "capabilities": [{"name": "CustomerManagedKey"}],
                "encryption": {
                    "keySource": "Microsoft.KeyVault",
                    "keyVaultProperties": {
                        "keyName": "cmk",
                        "keyVersion": "",
                        "keyVaultUri": "https://kv.vault.example/",
                        "currentVersionedKeyIdentifier": null
                    },
                    "keyAccess": {
                        "state": "Inaccessible",
                        "reason": "KeyDisabled",
                        "message": "the key is disabled",
                        "since": "2026-01-02T00:00:00Z"
                    }
                },
                "customSubDomainName": "a"
            },
            "systemData": {"createdAt": "2026-01-01T00:00:00Z", "lastModifiedAt": "2026-01-01T00:00:00Z"}
        });
        let account: Account = round_trip(&wire);
        assert_eq!(account.identity.principal_id.as_deref(), Some("p"));
    }

    #[test]
    fn identity_none_and_platform_keys_write_no_more_than_their_type() {
        let identity = Identity {
            identity_type: "None".into(),
            principal_id: None,
            tenant_id: None,
        };
        assert_eq!(serde_json::to_value(identity).unwrap(), json!({"type": "None"}));
        let encryption = Encryption {
            key_source: "Microsoft.CognitiveServices".into(),
            key_vault_properties: None,
            key_access: None,
        };
        assert_eq!(
            serde_json::to_value(encryption).unwrap(),
            json!({"keySource": "Microsoft.CognitiveServices"})
        );
        let list = AccountListResult::last(Vec::new());
        assert_eq!(serde_json::to_value(list).unwrap(), json!({"value": []}));
    }

    #[test]
    fn a_definition_ignores_read_only_fields_and_leaves_absent_ones_absent() {
        let definition: AccountDefinition = serde_json::from_value(json!({
            "location": "westeurope",
            "sku": {"name": "E0", "tier": "Enterprise"},
            "identity": {"type": "SystemAssigned", "principalId": 5},
            "properties": {
                "endpoint": 5,
                "encryption": {"keyVaultProperties": {"keyName": "cmk", "keyVaultUri": "https://kv/"}}
            }
        }))
        .unwrap();
        assert_eq!(definition.sku.as_ref().map(|s| s.name.as_str()), Some("E0"));
        let properties = definition.properties.clone().unwrap();
        let encryption = properties.encryption.unwrap();
        assert!(encryption.key_source.is_none());
        assert!(encryption.key_vault_properties.unwrap().key_version.is_none());
        assert_eq!(
            serde_json::to_value(&definition).unwrap(),
            json!({
                "location": "westeurope",
                "sku": {"name": "E0"},
                "identity": {"type": "SystemAssigned"},
                "properties": {
                    "encryption": {"keyVaultProperties": {"keyName": "cmk", "keyVaultUri": "https://kv/"}}
                }
            })
        );
    }

    #[test]
    fn api_keys_are_written_out_and_never_debug_printed() {
        let keys: ApiKeys = round_trip(&json!({"key1": "one", "key2": "two"}));
        assert_eq!(keys.key1.expose(), "one");
        let debug = format!("{keys:?}");
        assert!(!debug.contains("one") && !debug.contains("two"), "{debug}");
    }
}
