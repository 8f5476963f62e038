//! The admin API of the deployment (`/cmk/admin/...`): tenants, subscriptions, principals, audit, the clock.
//!
//! cmk's own API, not Azure's. Request bodies refuse unknown fields (a typo must not be ignored by an operator's
//! call); answers ignore them, so that an older CLI reads a newer server.

use cmk_crypto::SecretString;
use serde::{Deserialize, Serialize};

pub use crate::arm::ListResult;

use crate::token::{expose, secret};

// ---- tenants and subscriptions -----------------------------------------------------------------------------

/// The body of `POST /cmk/admin/tenants`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTenantRequest {
    pub display_name: String,
}

/// A tenant, as created and in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminTenant {
    pub tenant_id: String,
    pub display_name: String,
    pub default_domain: String,
}

/// `GET /cmk/admin/tenants`: every tenant, in one page.
pub type AdminTenantList = ListResult<AdminTenant>;

/// The body of `POST /cmk/admin/tenants/{tenant}/subscriptions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSubscriptionRequest {
    pub display_name: String,
    /// The object id of a principal of the tenant, made Owner of the new subscription. Without one, nobody can
    /// manage it until an operator names an Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_object_id: Option<String>,
}

/// A subscription, as created and as moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminSubscription {
    pub subscription_id: String,
    pub tenant_id: String,
    pub display_name: String,
}

/// The body of `POST /cmk/admin/subscriptions/{subscription}/move`: the tenant it goes to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MoveSubscriptionRequest {
    pub tenant_id: String,
}

/// The body of `POST /cmk/admin/subscriptions/{subscription}/owners`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddOwnerRequest {
    /// The principal's object id.
    pub principal_id: String,
}

/// The Owner role assignment an `owners` call made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerAssignment {
    /// `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
    pub id: String,
    pub name: String,
    pub principal_id: String,
    pub scope: String,
}

// ---- service principals ------------------------------------------------------------------------------------

/// The body of `POST /cmk/admin/tenants/{tenant}/servicePrincipals`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateServicePrincipalRequest {
    pub display_name: String,
    /// Make it an operator of the deployment.
    #[serde(default)]
    pub operator: bool,
}

/// The answer to a creation: the only time the client secret is shown (only a salted hash is stored).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedServicePrincipal {
    pub tenant_id: String,
    pub client_id: String,
    pub object_id: String,
    pub display_name: String,
    pub operator: bool,
    #[serde(serialize_with = "expose", deserialize_with = "secret")]
    pub client_secret: SecretString,
}

/// A principal as the admin API lists it: never a secret, only each secret's id, first characters and age.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminServicePrincipal {
    pub tenant_id: String,
    pub client_id: String,
    pub object_id: String,
    pub display_name: String,
    pub operator: bool,
    /// RFC 3339.
    pub created_on: String,
    #[serde(default)]
    pub secrets: Vec<ClientSecretInfo>,
}

/// What is known of one client secret without the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecretInfo {
    pub id: String,
    /// The secret's first characters, to tell secrets apart.
    pub hint: String,
    /// RFC 3339.
    pub created_on: String,
}

/// `GET /cmk/admin/tenants/{tenant}/servicePrincipals`.
pub type AdminServicePrincipalList = ListResult<AdminServicePrincipal>;

/// The body of `POST .../servicePrincipals/{client}/resetSecret`; the body itself may be left out.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetSecretRequest {
    /// Keep the principal's other secrets (the new one is added), as `az ad sp credential reset --append`.
    #[serde(default)]
    pub append: bool,
}

/// The answer to `resetSecret`: the principal as listed, and its new secret, shown in this answer only.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetSecretResult {
    #[serde(flatten)]
    pub principal: AdminServicePrincipal,
    #[serde(serialize_with = "expose", deserialize_with = "secret")]
    pub client_secret: SecretString,
}

/// The answer to `DELETE .../servicePrincipals/{client}`: which principal is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedServicePrincipal {
    pub tenant_id: String,
    pub client_id: String,
    pub object_id: String,
    pub display_name: String,
}

// ---- the development clock ---------------------------------------------------------------------------------

/// `GET /cmk/admin/clock`, and the answer to `clock/advance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Clock {
    /// RFC 3339.
    pub now: String,
    pub now_unix: i64,
    /// How far the clock is ahead of the host's.
    pub offset_seconds: i64,
}

/// The body of `POST /cmk/admin/clock/advance`; the server refuses zero and negative shifts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdvanceClockRequest {
    pub seconds: i64,
}

// ---- audit -------------------------------------------------------------------------------------------------

/// One audit record of `GET /cmk/admin/audit`: who, when, what, and the HTTP status; never a payload.
/// `caller`, `key` and `version` are written as `null` when there are none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// RFC 3339.
    pub time: String,
    pub request_id: String,
    /// `null` when the request carried no valid token.
    #[serde(default)]
    pub caller: Option<AuditCaller>,
    pub operation: String,
    pub vault: String,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    pub status: u16,
}

/// The principal behind an audited request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditCaller {
    pub tenant_id: String,
    pub object_id: String,
    pub client_id: String,
}

/// The records of one vault, oldest first.
pub type AuditRecordList = ListResult<AuditRecord>;

// ---- accounts ----------------------------------------------------------------------------------------------

/// `GET /cmk/admin/managedIdentities?resourceId=...`: how a workload reaches an account's managed identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedIdentityEndpoint {
    pub resource_id: String,
    pub principal_id: String,
    pub client_id: String,
    pub tenant_id: String,
    /// `{authority}/msi/token`, as `IDENTITY_ENDPOINT` of App Service.
    pub identity_endpoint: String,
    /// The secret of `IDENTITY_HEADER`.
    #[serde(serialize_with = "expose", deserialize_with = "secret")]
    pub identity_header: SecretString,
    /// `{authority}/msi/{secret}`: it carries the secret too.
    #[serde(serialize_with = "expose", deserialize_with = "secret")]
    pub imds_authority_host: SecretString,
}

/// The body of `POST /cmk/admin/configureCustomerManagedKey`; the answer is the account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigureCustomerManagedKeyRequest {
    /// The account's resource id.
    pub account_id: String,
    pub key_vault_uri: String,
    pub key_name: String,
    /// Absent: follow the latest version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_version: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reset_secret_result_is_the_principal_and_its_secret() {
        let wire = json!({
            "tenantId": "t", "clientId": "c", "objectId": "o", "displayName": "ci", "operator": false,
            "createdOn": "2026-01-01T00:00:00Z",
            "secrets": [{ "id": "s", "hint": "abc", "createdOn": "2026-01-01T00:00:00Z" }],
            "clientSecret": "abc-secret",
        });
        let result: ResetSecretResult = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(result.client_secret.expose(), "abc-secret");
        assert_eq!(result.principal.secrets.len(), 1);
        assert_eq!(serde_json::to_value(&result).unwrap(), wire);
    }

    #[test]
    fn audit_record_writes_absent_fields_as_null() {
        let record = AuditRecord {
            time: "2026-01-01T00:00:00Z".into(),
            request_id: "r".into(),
            caller: None,
            operation: "KeyGet".into(),
            vault: "kv".into(),
            key: None,
            version: None,
            status: 401,
        };
        let wire = serde_json::to_value(&record).unwrap();
        assert_eq!(wire["caller"], json!(null));
        assert_eq!(wire["key"], json!(null));
        assert_eq!(wire["version"], json!(null));
        assert_eq!(serde_json::from_value::<AuditRecord>(wire).unwrap(), record);
    }

    #[test]
    fn requests_leave_out_what_is_not_given_and_refuse_unknown_fields() {
        let body = CreateSubscriptionRequest {
            display_name: "p".into(),
            owner_object_id: None,
        };
        assert_eq!(serde_json::to_value(&body).unwrap(), json!({ "displayName": "p" }));
        let body = ConfigureCustomerManagedKeyRequest {
            account_id: "a".into(),
            key_vault_uri: "u".into(),
            key_name: "k".into(),
            key_version: None,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({ "accountId": "a", "keyVaultUri": "u", "keyName": "k" })
        );
        assert!(serde_json::from_value::<ResetSecretRequest>(json!({ "appnd": true })).is_err());
        assert!(!serde_json::from_value::<ResetSecretRequest>(json!({})).unwrap().append);
    }
}
