//! Subscriptions, tenants and resource groups of ARM (`Microsoft.Resources`).
//!
//! Names follow the `subscriptions.json` and `resources.json` REST specs. cmk has one plan for every
//! subscription, so the constant parts of an answer (policies, authorization source, tenant category) are
//! associated constants here rather than fields of the model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::arm::ListResult;

/// A subscription as `GET /subscriptions/{id}` and the list answer for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// `/subscriptions/{subscriptionId}`.
    pub id: String,
    pub subscription_id: String,
    pub tenant_id: String,
    pub display_name: String,
    /// `Enabled`, `Disabled`, ...: text, as the model words it.
    pub state: String,
    pub subscription_policies: SubscriptionPolicies,
    pub authorization_source: String,
    /// Always written, `[]` when no other tenant manages the subscription.
    #[serde(default)]
    pub managed_by_tenants: Vec<ManagedByTenant>,
    /// Always written, `{}` when there are none, as ARM does.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl Subscription {
    /// Access to a subscription is granted by role assignments only.
    pub const AUTHORIZATION_SOURCE: &'static str = "RoleBased";
}

/// `subscriptionPolicies`: which offer a subscription runs under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionPolicies {
    pub location_placement_id: String,
    pub quota_id: String,
    pub spending_limit: String,
}

impl SubscriptionPolicies {
    /// The one plan of cmk: public cloud, pay as you go, no spending limit.
    pub fn pay_as_you_go() -> Self {
        SubscriptionPolicies {
            location_placement_id: "Public_2014-09-01".to_owned(),
            quota_id: "PayAsYouGo_2014-09-01".to_owned(),
            spending_limit: "Off".to_owned(),
        }
    }
}

/// One entry of `managedByTenants` (Azure Lighthouse).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedByTenant {
    pub tenant_id: String,
}

/// `SubscriptionListResult`.
pub type SubscriptionListResult = ListResult<Subscription>;

/// A tenant as `GET /tenants` lists it (`TenantIdDescription`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// `/tenants/{tenantId}`.
    pub id: String,
    pub tenant_id: String,
    pub tenant_category: String,
    pub display_name: String,
    pub default_domain: String,
    #[serde(default)]
    pub domains: Vec<String>,
    pub tenant_type: String,
}

impl Tenant {
    /// The caller's own tenant, as opposed to one it manages (`ProjectedBy`, `ManagedBy`).
    pub const CATEGORY_HOME: &'static str = "Home";
    /// A Microsoft Entra ID tenant.
    pub const TYPE_AAD: &'static str = "AAD";
}

/// `TenantListResult`.
pub type TenantListResult = ListResult<Tenant>;

/// The body of a resource group PUT. Everything is optional so that the directory decides what a missing
/// `location` means; properties ARM defines but cmk does not use are ignored by serde, as ARM accepts them.
/// No container-wide `default`: it would let serde take an array (`[]`) for an empty object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroupCreateOrUpdateParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `null` and absent both mean none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
}

/// A resource group as ARM answers for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroup {
    /// `/subscriptions/{subscriptionId}/resourceGroups/{name}`.
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub location: String,
    /// Left out when there are none (unlike a vault's, which ARM always writes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The resource that manages the group, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    pub properties: ResourceGroupProperties,
}

impl ResourceGroup {
    pub const TYPE: &'static str = "Microsoft.Resources/resourceGroups";
}

/// `properties` of a resource group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroupProperties {
    /// Text; cmk completes every change before it answers, so it writes `Succeeded`.
    pub provisioning_state: String,
}

/// `ResourceGroupListResult`.
pub type ResourceGroupListResult = ListResult<ResourceGroup>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;
    use crate::tests::round_trip;

    #[test]
    fn a_subscription_list_round_trips() {
        let wire = json!({
            "value": [{
                "id": "/subscriptions/8f1c0b1e-6f0a-4a8e-9d0b-1b2c3d4e5f60",
                "subscriptionId": "8f1c0b1e-6f0a-4a8e-9d0b-1b2c3d4e5f60",
                "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                "displayName": "Default",
                "state": "Enabled",
                "subscriptionPolicies": {
                    "locationPlacementId": "Public_2014-09-01",
                    "quotaId": "PayAsYouGo_2014-09-01",
                    "spendingLimit": "Off"
                },
                "authorizationSource": "RoleBased",
                "managedByTenants": [],
                "tags": {}
            }],
            "nextLink": "https://localhost/subscriptions?$skiptoken=x"
        });
        let list: SubscriptionListResult = round_trip(&wire);
        assert_eq!(
            list.value[0].subscription_policies,
            SubscriptionPolicies::pay_as_you_go()
        );
    }

    #[test]
    fn a_tenant_list_round_trips() {
        let wire = json!({
            "value": [{
                "id": "/tenants/72f988bf-86f1-41af-91ab-2d7cd011db47",
                "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                "tenantCategory": "Home",
                "displayName": "Contoso",
                "defaultDomain": "contoso.onmicrosoft.com",
                "domains": ["contoso.onmicrosoft.com"],
                "tenantType": "AAD"
            }]
        });
        let _: TenantListResult = round_trip(&wire);
    }

    #[test]
    fn a_resource_group_leaves_out_empty_tags_and_no_manager() {
        let bare = json!({
            "id": "/subscriptions/s/resourceGroups/rg",
            "name": "rg",
            "type": "Microsoft.Resources/resourceGroups",
            "location": "westus2",
            "properties": { "provisioningState": "Succeeded" }
        });
        let group: ResourceGroup = round_trip(&bare);
        assert!(group.tags.is_empty() && group.managed_by.is_none());
        let full = json!({
            "id": "/subscriptions/s/resourceGroups/rg",
            "name": "rg",
            "type": "Microsoft.Resources/resourceGroups",
            "location": "westus2",
            "tags": { "env": "test" },
            "managedBy": "/subscriptions/s/resourceGroups/other",
            "properties": { "provisioningState": "Succeeded" }
        });
        let _: ResourceGroupListResult = round_trip(&json!({ "value": [full] }));
    }

    #[test]
    fn a_resource_group_put_takes_null_tags_and_ignores_the_rest() {
        let body: ResourceGroupCreateOrUpdateParameters =
            serde_json::from_value(json!({ "location": "westus2", "tags": null, "properties": {} })).unwrap();
        assert_eq!(body.location.as_deref(), Some("westus2"));
        assert!(body.tags.is_none() && body.managed_by.is_none());
        assert!(serde_json::from_value::<ResourceGroupCreateOrUpdateParameters>(json!([])).is_err());
    }
}
