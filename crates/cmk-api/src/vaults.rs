//! The key vault resource of ARM (`Microsoft.KeyVault/vaults`): the resource, its properties and access policies.
//!
//! Names follow `keyvault.json` of the Microsoft.KeyVault REST spec. A request and an answer share a type where
//! Azure's do; fields a request may leave out are `Option`s, and an answer leaves out whatever is `None`, so the
//! writer decides field by field what appears on the wire. Properties cmk does not act on (`networkAcls`, ...)
//! are not typed: serde ignores them on the way in, as ARM accepts them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::arm::{ListResult, SystemData};

/// `sku` of a vault. The family is always `A`; a request may leave it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sku {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    pub name: String,
}

impl Sku {
    /// The one family Key Vault has.
    pub const FAMILY: &'static str = "A";
}

/// The permissions of an access policy. A list left out of a request means none; an answer writes all four.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Permissions {
    pub keys: Vec<String>,
    pub secrets: Vec<String>,
    pub certificates: Vec<String>,
    pub storage: Vec<String>,
}

/// One access policy (`AccessPolicyEntry`). The identifiers are GUIDs as text: the reader validates them, so
/// that a bad one is a 400 naming the field rather than serde's generic reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicyEntry {
    pub tenant_id: String,
    pub object_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    #[serde(default)]
    pub permissions: Permissions,
}

/// `properties` of a vault, both as a request sets them (any may be absent) and as an answer reports them.
/// Enumerations (`createMode`, `publicNetworkAccess`, `provisioningState`) stay text: the reader decides
/// which values it accepts and how it words a refusal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VaultProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_policies: Option<Vec<AccessPolicyEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled_for_deployment: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled_for_disk_encryption: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled_for_template_deployment: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_soft_delete: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soft_delete_retention_in_days: Option<i64>,
    /// ARM leaves it out, rather than writing `false`, for a vault without purge protection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_purge_protection: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_rbac_authorization: Option<bool>,
    /// Request only: `default` or `recover`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<String>,
}

/// The body of a vault PUT (`VaultCreateOrUpdateParameters`). Everything is optional here so that the reader
/// can word its own refusal of a missing `properties`, and default a missing `location`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VaultCreateOrUpdateParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<VaultProperties>,
}

/// The body of a vault PATCH (`VaultPatchParameters`). Azure's `VaultPatchProperties` is `VaultProperties`
/// without the fields only an answer carries, so the one type serves both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VaultPatchParameters {
    /// Absent keeps the tags; present replaces them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<VaultProperties>,
}

/// A vault as ARM answers for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vault {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub location: String,
    /// Always written, `{}` when there are none, as ARM does.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_data: Option<SystemData>,
    pub properties: VaultProperties,
}

impl Vault {
    pub const TYPE: &'static str = "Microsoft.KeyVault/vaults";
}

/// `VaultListResult`: vaults of a group or subscription.
pub type VaultListResult = ListResult<Vault>;
/// `DeletedVaultListResult`: the soft-deleted vaults of a subscription.
pub type DeletedVaultListResult = ListResult<DeletedVault>;
/// `ResourceListResult` of Microsoft.Resources, as `vaults.list()` of the SDKs reads it.
pub type ResourceListResult = ListResult<GenericResource>;

/// A resource as the generic resource list of a subscription shows it: no properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenericResource {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub location: String,
    /// Always written, `{}` when there are none.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// The body of `accessPolicies/{add|replace|remove}` and its answer (`VaultAccessPolicyParameters`). A request
/// carries only `properties`; the answer adds `id` and `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultAccessPolicyParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub properties: VaultAccessPolicyProperties,
}

impl VaultAccessPolicyParameters {
    pub const TYPE: &'static str = "Microsoft.KeyVault/vaults/accessPolicies";
}

/// Required in a request: an update that names no policies is refused by serde, as by ARM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultAccessPolicyProperties {
    pub access_policies: Vec<AccessPolicyEntry>,
}

/// A soft-deleted vault, until it is purged or recovered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedVault {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub properties: DeletedVaultProperties,
}

impl DeletedVault {
    pub const TYPE: &'static str = "Microsoft.KeyVault/deletedVaults";
}

/// Dates are RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedVaultProperties {
    /// The resource id the vault had before it was deleted.
    pub vault_id: String,
    pub location: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub deletion_date: String,
    pub scheduled_purge_date: String,
    pub purge_protection_enabled: bool,
}

/// The body of `checkNameAvailability` (`VaultCheckNameAvailabilityParameters`). `type` stays text so that the
/// reader can word its refusal of anything but `Microsoft.KeyVault/vaults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultCheckNameAvailabilityParameters {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The answer of `checkNameAvailability`: `reason` and `message` only when the name is not available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckNameAvailabilityResult {
    pub name_available: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<NameUnavailableReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl CheckNameAvailabilityResult {
    pub fn available() -> Self {
        CheckNameAvailabilityResult {
            name_available: true,
            reason: None,
            message: None,
        }
    }

    pub fn unavailable(reason: NameUnavailableReason, message: String) -> Self {
        CheckNameAvailabilityResult {
            name_available: false,
            reason: Some(reason),
            message: Some(message),
        }
    }
}

/// Why a name is not available (`Reason` in the spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NameUnavailableReason {
    /// Not a valid vault name.
    AccountNameInvalid,
    /// Taken, by a vault or by a deleted one that still reserves it.
    AlreadyExists,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vault(purge_protection: Option<bool>) -> Vault {
        Vault {
            id: "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/kv".into(),
            name: "kv".into(),
            kind: Vault::TYPE.into(),
            location: "westeurope".into(),
            tags: BTreeMap::new(),
            system_data: Some(SystemData {
                created_at: Some("2026-01-01T00:00:00+00:00".into()),
                last_modified_at: Some("2026-01-01T00:00:00+00:00".into()),
            }),
            properties: VaultProperties {
                tenant_id: Some("t".into()),
                sku: Some(Sku {
                    family: Some(Sku::FAMILY.into()),
                    name: "standard".into(),
                }),
                access_policies: Some(vec![AccessPolicyEntry {
                    tenant_id: "t".into(),
                    object_id: "o".into(),
                    application_id: None,
                    permissions: Permissions {
                        keys: vec!["get".into()],
                        ..Permissions::default()
                    },
                }]),
                enable_purge_protection: purge_protection,
                provisioning_state: Some("Succeeded".into()),
                ..VaultProperties::default()
            },
        }
    }

    #[test]
    fn a_vault_writes_only_what_is_set() {
        let written = serde_json::to_value(vault(None)).unwrap();
        assert_eq!(written["type"], "Microsoft.KeyVault/vaults");
        assert_eq!(written["tags"], json!({}));
        let properties = written["properties"].as_object().unwrap();
        assert!(!properties.contains_key("enablePurgeProtection"));
        assert!(!properties.contains_key("createMode"));
        assert_eq!(properties["sku"], json!({"family": "A", "name": "standard"}));
        assert_eq!(
            properties["accessPolicies"],
            json!([{"tenantId": "t", "objectId": "o",
                    "permissions": {"keys": ["get"], "secrets": [], "certificates": [], "storage": []}}])
        );
        let protected = serde_json::to_value(vault(Some(true))).unwrap();
        assert_eq!(protected["properties"]["enablePurgeProtection"], true);
    }

    #[test]
    fn a_vault_reads_back() {
        let original = vault(Some(true));
        let text = serde_json::to_string(&original).unwrap();
        assert_eq!(serde_json::from_str::<Vault>(&text).unwrap(), original);
    }

    #[test]
    fn a_request_may_leave_everything_out_and_carry_what_cmk_ignores() {
        let body: VaultCreateOrUpdateParameters =
            serde_json::from_value(json!({"properties": {"networkAcls": {"defaultAction": "Allow"}}})).unwrap();
        assert_eq!(body.properties, Some(VaultProperties::default()));
        assert_eq!(body.location, None);
        let policy: AccessPolicyEntry = serde_json::from_value(json!({"tenantId": "t", "objectId": "o"})).unwrap();
        assert_eq!(policy.permissions, Permissions::default());
    }

    #[test]
    fn an_access_policy_update_needs_its_policies() {
        let error = serde_json::from_value::<VaultAccessPolicyParameters>(json!({"properties": {}})).unwrap_err();
        assert!(error.to_string().contains("missing field `accessPolicies`"), "{error}");
        let answer = VaultAccessPolicyParameters {
            id: Some("x/accessPolicies/add".into()),
            name: None,
            kind: Some(VaultAccessPolicyParameters::TYPE.into()),
            location: None,
            properties: VaultAccessPolicyProperties {
                access_policies: Vec::new(),
            },
        };
        assert_eq!(
            serde_json::to_value(answer).unwrap(),
            json!({"id": "x/accessPolicies/add", "type": "Microsoft.KeyVault/vaults/accessPolicies",
                   "properties": {"accessPolicies": []}})
        );
    }

    #[test]
    fn a_last_page_has_no_next_link() {
        let page: VaultListResult = ListResult::last(Vec::new());
        assert_eq!(serde_json::to_value(page).unwrap(), json!({"value": []}));
        let page: DeletedVaultListResult = serde_json::from_value(json!({"value": [], "nextLink": "n"})).unwrap();
        assert_eq!(page.next_link.as_deref(), Some("n"));
    }

    #[test]
    fn name_checks_write_a_reason_only_when_refused() {
        assert_eq!(
            serde_json::to_value(CheckNameAvailabilityResult::available()).unwrap(),
            json!({"nameAvailable": true})
        );
        assert_eq!(
            serde_json::to_value(CheckNameAvailabilityResult::unavailable(
                NameUnavailableReason::AlreadyExists,
                "taken".into()
            ))
            .unwrap(),
            json!({"nameAvailable": false, "reason": "AlreadyExists", "message": "taken"})
        );
    }
}
