//! `Microsoft.KeyVault/vaults`: the vault resource, its access policies, deleted vaults and name checks.
//! Every operation finishes before it answers (`provisioningState: Succeeded`), so SDK pollers never sleep.

use axum::Json;
use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodFilter;
use cmk_api::vaults as wire;
use cmk_directory::authorization::Scope;
use cmk_directory::authorization::actions::resources::RESOURCES_READ;
use cmk_directory::model::TenantId;
use cmk_vault::actions::{
    ACCESS_POLICIES_WRITE, CHECK_NAME_AVAILABILITY, DELETED_VAULT_PURGE, DELETED_VAULT_READ, DELETED_VAULTS_READ,
    VAULT_DELETE, VAULT_READ, VAULT_WRITE,
};
use cmk_vault::model::{
    AccessPolicy, CERTIFICATE_PERMISSIONS, KeyPermission, Permissions, SECRET_PERMISSIONS, STORAGE_PERMISSIONS,
    SkuName, Vault,
};
use cmk_vault::vaults::{
    AccessPolicyUpdate, CreateMode, NameAvailability, VaultDefinition, VaultPatch, VaultProperties,
};

use super::query_map;
use crate::AppState;
use crate::auth::{Authorized, PathParams, group_scope, operations, subscription_scope};
use crate::body::JsonBody;
use crate::error::ApiError;

const VAULT: &str =
    "/subscriptions/{subscription_id}/resourcegroups/{resource_group}/providers/microsoft.keyvault/vaults/{name}";

fn vault_scope(params: &PathParams) -> Result<Scope, ApiError> {
    Ok(cmk_vault::actions::vault_scope(
        params.subscription()?,
        params.get("resource_group")?,
        params.get("name")?,
    ))
}

fn deleted_vault_scope(params: &PathParams) -> Result<Scope, ApiError> {
    Ok(cmk_vault::actions::deleted_vault_scope(
        params.subscription()?,
        params.get("location")?,
        params.get("name")?,
    ))
}

pub(super) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            VAULT,
            operations(state)
                .on(MethodFilter::GET, read, VAULT_READ, vault_scope)
                .on(MethodFilter::PUT, create_or_update, VAULT_WRITE, vault_scope)
                .on(MethodFilter::PATCH, update, VAULT_WRITE, vault_scope)
                .on(MethodFilter::DELETE, remove, VAULT_DELETE, vault_scope)
                .into_router(),
        )
        .route(
            &format!("{VAULT}/accesspolicies/{{kind}}"),
            operations(state)
                .on(MethodFilter::PUT, update_access_policies, ACCESS_POLICIES_WRITE, vault_scope)
                .into_router(),
        )
        .route(
            "/subscriptions/{subscription_id}/resourcegroups/{resource_group}/providers/microsoft.keyvault/vaults",
            operations(state)
                .list(MethodFilter::GET, list_in_group, VAULT_READ, group_scope)
                .into_router(),
        )
        .route(
            "/subscriptions/{subscription_id}/providers/microsoft.keyvault/vaults",
            operations(state)
                .list(MethodFilter::GET, list_in_subscription, VAULT_READ, subscription_scope)
                .into_router(),
        )
        .route(
            "/subscriptions/{subscription_id}/resources",
            operations(state)
                .list(MethodFilter::GET, list_resources, RESOURCES_READ, subscription_scope)
                .into_router(),
        )
        .route(
            "/subscriptions/{subscription_id}/providers/microsoft.keyvault/deletedvaults",
            operations(state)
                .list(MethodFilter::GET, list_deleted, DELETED_VAULTS_READ, subscription_scope)
                .into_router(),
        )
        .route(
            "/subscriptions/{subscription_id}/providers/microsoft.keyvault/locations/{location}/deletedvaults/{name}",
            operations(state)
                .on(MethodFilter::GET, read_deleted, DELETED_VAULT_READ, deleted_vault_scope)
                .into_router(),
        )
        .route(
            "/subscriptions/{subscription_id}/providers/microsoft.keyvault/locations/{location}/deletedvaults/{name}/purge",
            operations(state)
                .on(MethodFilter::POST, purge_deleted, DELETED_VAULT_PURGE, deleted_vault_scope)
                .into_router(),
        )
        .route(
            "/subscriptions/{subscription_id}/providers/microsoft.keyvault/checknameavailability",
            operations(state)
                .on(MethodFilter::POST, check_name_availability, CHECK_NAME_AVAILABILITY, subscription_scope)
                .into_router(),
        )
}

// ---- wire shapes -------------------------------------------------------------------------------------------
//
// Typed in `cmk_api::vaults`; this module validates what they carry and maps the model onto them.

fn bad_request(message: String) -> ApiError {
    ApiError::arm(StatusCode::BAD_REQUEST, "BadRequest", message)
}

fn guid(field: &str, text: &str) -> Result<String, ApiError> {
    TenantId::parse(text)
        .map(|id| id.to_string())
        .ok_or_else(|| bad_request(format!("The value '{text}' of \"{field}\" is not a valid GUID.")))
}

fn names(kind: &str, given: Vec<String>, valid: &[&str]) -> Result<std::collections::BTreeSet<String>, ApiError> {
    given
        .into_iter()
        .map(|p| {
            let lower = p.to_ascii_lowercase();
            if valid.contains(&lower.as_str()) {
                Ok(lower)
            } else {
                Err(bad_request(format!(
                    "'{p}' is not a valid {kind} permission; valid ones are: {}.",
                    valid.join(", ")
                )))
            }
        })
        .collect()
}

fn access_policy(body: wire::AccessPolicyEntry) -> Result<AccessPolicy, ApiError> {
    let tenant_id = TenantId::parse(&body.tenant_id).ok_or_else(|| {
        bad_request(format!(
            "The value '{}' of \"tenantId\" is not a valid GUID.",
            body.tenant_id
        ))
    })?;
    let keys = body
        .permissions
        .keys
        .iter()
        .map(|k| {
            KeyPermission::parse(k).ok_or_else(|| {
                let valid: Vec<&str> = KeyPermission::ALL.iter().map(|p| p.as_str()).collect();
                bad_request(format!(
                    "'{k}' is not a valid key permission; valid ones are: {}.",
                    valid.join(", ")
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(AccessPolicy {
        tenant_id,
        object_id: guid("objectId", &body.object_id)?,
        application_id: body
            .application_id
            .as_deref()
            .map(|a| guid("applicationId", a))
            .transpose()?,
        permissions: Permissions {
            keys,
            secrets: names("secret", body.permissions.secrets, &SECRET_PERMISSIONS)?,
            certificates: names("certificate", body.permissions.certificates, &CERTIFICATE_PERMISSIONS)?,
            storage: names("storage", body.permissions.storage, &STORAGE_PERMISSIONS)?,
        },
    })
}

fn properties(body: wire::VaultProperties) -> Result<(VaultProperties, CreateMode), ApiError> {
    let sku = match body.sku {
        None => None,
        Some(sku) => {
            if sku.family.as_deref().is_some_and(|f| !f.eq_ignore_ascii_case("A")) {
                return Err(bad_request("The SKU family must be 'A'.".into()));
            }
            Some(SkuName::parse(&sku.name).ok_or_else(|| {
                bad_request(format!(
                    "The SKU name '{}' is not valid; use 'standard' or 'premium'.",
                    sku.name
                ))
            })?)
        }
    };
    let create_mode = match body.create_mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("default") => CreateMode::Default,
        Some("recover") => CreateMode::Recover,
        Some(other) => {
            return Err(bad_request(format!(
                "The create mode '{other}' is not valid; use 'default' or 'recover'."
            )));
        }
    };
    let tenant_id = match body.tenant_id {
        Some(text) => Some(
            TenantId::parse(&text)
                .ok_or_else(|| bad_request(format!("The value '{text}' of \"tenantId\" is not a valid GUID.")))?,
        ),
        None => None,
    };
    let access_policies = body
        .access_policies
        .map(|list| list.into_iter().map(access_policy).collect::<Result<Vec<_>, _>>())
        .transpose()?;
    Ok((
        VaultProperties {
            tenant_id,
            sku,
            access_policies,
            enabled_for_deployment: body.enabled_for_deployment,
            enabled_for_disk_encryption: body.enabled_for_disk_encryption,
            enabled_for_template_deployment: body.enabled_for_template_deployment,
            enable_soft_delete: body.enable_soft_delete,
            soft_delete_retention_days: body.soft_delete_retention_in_days,
            enable_purge_protection: body.enable_purge_protection,
            enable_rbac_authorization: body.enable_rbac_authorization,
            public_network_access: body.public_network_access,
        },
        create_mode,
    ))
}

fn vault_id(vault: &Vault) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{}",
        vault.subscription_id, vault.resource_group, vault.name
    )
}

fn access_policy_entries(policies: &[AccessPolicy]) -> Vec<wire::AccessPolicyEntry> {
    policies
        .iter()
        .map(|p| wire::AccessPolicyEntry {
            tenant_id: p.tenant_id.to_string(),
            object_id: p.object_id.clone(),
            application_id: p.application_id.clone(),
            permissions: wire::Permissions {
                keys: p.permissions.keys.iter().map(|k| k.as_str().to_owned()).collect(),
                secrets: p.permissions.secrets.iter().cloned().collect(),
                certificates: p.permissions.certificates.iter().cloned().collect(),
                storage: p.permissions.storage.iter().cloned().collect(),
            },
        })
        .collect()
}

fn vault_resource(state: &AppState, vault: &Vault) -> wire::Vault {
    wire::Vault {
        id: vault_id(vault),
        name: vault.name.clone(),
        kind: wire::Vault::TYPE.into(),
        location: vault.location.clone(),
        tags: vault.tags.clone(),
        system_data: Some(wire::SystemData {
            created_at: Some(vault.created.to_rfc3339()),
            last_modified_at: Some(vault.updated.to_rfc3339()),
        }),
        properties: wire::VaultProperties {
            tenant_id: Some(vault.tenant_id.to_string()),
            sku: Some(wire::Sku {
                family: Some(wire::Sku::FAMILY.into()),
                name: vault.sku.as_str().into(),
            }),
            access_policies: Some(access_policy_entries(&vault.access_policies)),
            vault_uri: Some(state.urls.vault_uri(&vault.name)),
            enabled_for_deployment: Some(vault.enabled_for_deployment),
            enabled_for_disk_encryption: Some(vault.enabled_for_disk_encryption),
            enabled_for_template_deployment: Some(vault.enabled_for_template_deployment),
            enable_soft_delete: Some(true),
            soft_delete_retention_in_days: Some(i64::from(vault.soft_delete_retention_days)),
            // ARM leaves the property out, rather than false, for a vault without purge protection.
            enable_purge_protection: vault.purge_protection.then_some(true),
            enable_rbac_authorization: Some(vault.rbac_authorization),
            create_mode: None,
            provisioning_state: Some("Succeeded".into()),
            public_network_access: Some(vault.public_network_access.clone()),
        },
    }
}

fn deleted_vault_resource(deleted: &cmk_vault::model::DeletedVault) -> wire::DeletedVault {
    let vault = &deleted.vault;
    wire::DeletedVault {
        id: format!(
            "/subscriptions/{}/providers/Microsoft.KeyVault/locations/{}/deletedVaults/{}",
            vault.subscription_id, vault.location, vault.name
        ),
        name: vault.name.clone(),
        kind: wire::DeletedVault::TYPE.into(),
        properties: wire::DeletedVaultProperties {
            vault_id: vault_id(vault),
            location: vault.location.clone(),
            tags: vault.tags.clone(),
            deletion_date: deleted.deletion_date.to_rfc3339(),
            scheduled_purge_date: deleted.scheduled_purge_date.to_rfc3339(),
            purge_protection_enabled: vault.purge_protection,
        },
    }
}

// ---- handlers ----------------------------------------------------------------------------------------------

/// Key Vault API versions from 2026-02-01 on make Azure RBAC the permission model of a new vault that does not
/// name one; older ones, access policies.
fn rbac_by_default(uri: &axum::http::Uri) -> bool {
    query_map(uri)
        .get("api-version")
        .is_some_and(|version| version.as_str() >= "2026-02-01")
}

async fn create_or_update(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
    JsonBody(body): JsonBody<wire::VaultCreateOrUpdateParameters>,
) -> Result<Response, ApiError> {
    let properties_body = body
        .properties
        .ok_or_else(|| bad_request("The property \"properties\" is required.".into()))?;
    let (properties, create_mode) = properties(properties_body)?;
    let definition = VaultDefinition {
        location: body.location.unwrap_or_default(),
        tags: body.tags.unwrap_or_default(),
        properties,
        create_mode,
        rbac_by_default: rbac_by_default(&uri),
    };
    let (vault, created) = state
        .vaults
        .create_or_update(&subscription, &resource_group, &name, definition)
        .await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(vault_resource(&state, &vault))).into_response())
}

async fn update(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<wire::VaultPatchParameters>,
) -> Result<Json<wire::Vault>, ApiError> {
    let (properties, _) = properties(body.properties.unwrap_or_default())?;
    let patch = VaultPatch {
        tags: body.tags,
        properties,
    };
    let vault = state
        .vaults
        .update(&subscription, &resource_group, &name, patch)
        .await?;
    Ok(Json(vault_resource(&state, &vault)))
}

async fn read(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
) -> Result<Json<wire::Vault>, ApiError> {
    let vault = state.vaults.get(&subscription, &resource_group, &name).await?;
    Ok(Json(vault_resource(&state, &vault)))
}

/// Soft delete: 200 when a vault was deleted, 204 when there was none, as ARM answers.
async fn remove(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let deleted = state.vaults.delete(&subscription, &resource_group, &name).await?;
    Ok(if deleted {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    })
}

async fn update_access_policies(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name, kind)): Path<(String, String, String, String)>,
    JsonBody(body): JsonBody<wire::VaultAccessPolicyParameters>,
) -> Result<Json<wire::VaultAccessPolicyParameters>, ApiError> {
    let how = AccessPolicyUpdate::parse(&kind).ok_or_else(|| {
        bad_request(format!(
            "The operation kind '{kind}' is not valid; use add, replace or remove."
        ))
    })?;
    let change = body
        .properties
        .access_policies
        .into_iter()
        .map(access_policy)
        .collect::<Result<Vec<_>, _>>()?;
    let vault = state
        .vaults
        .update_access_policies(&subscription, &resource_group, &name, how, change)
        .await?;
    Ok(Json(wire::VaultAccessPolicyParameters {
        id: Some(format!(
            "{}/accessPolicies/{}",
            vault_id(&vault),
            kind.to_ascii_lowercase()
        )),
        name: None,
        kind: Some(wire::VaultAccessPolicyParameters::TYPE.into()),
        location: None,
        properties: wire::VaultAccessPolicyProperties {
            access_policies: access_policy_entries(&vault.access_policies),
        },
    }))
}

async fn list_in_group(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group)): Path<(String, String)>,
) -> Result<Json<wire::VaultListResult>, ApiError> {
    state
        .directory
        .find_resource_group(&subscription.id(), &resource_group)
        .await?;
    let vaults = state.vaults.list(&subscription, Some(&resource_group)).await?;
    Ok(Json(wire::VaultListResult::last(
        vaults.iter().map(|v| vault_resource(&state, v)).collect(),
    )))
}

async fn list_in_subscription(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
) -> Result<Json<wire::VaultListResult>, ApiError> {
    let vaults = state.vaults.list(&subscription, None).await?;
    Ok(Json(wire::VaultListResult::last(
        vaults.iter().map(|v| vault_resource(&state, v)).collect(),
    )))
}

/// The generic resource list, as `vaults.list()` of the SDK reads it (`$filter=resourceType eq
/// 'Microsoft.KeyVault/vaults'`). Vaults are the only resources with a type of their own so far.
async fn list_resources(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<wire::ResourceListResult>, ApiError> {
    let filter = query_map(&uri).get("$filter").map(|f| f.to_ascii_lowercase());
    let wants_vaults = filter
        .as_deref()
        .is_none_or(|f| f.contains("microsoft.keyvault/vaults"));
    let vaults = if wants_vaults {
        state.vaults.list(&subscription, None).await?
    } else {
        Vec::new()
    };
    let value = vaults
        .iter()
        .map(|v| wire::GenericResource {
            id: vault_id(v),
            name: v.name.clone(),
            kind: wire::Vault::TYPE.into(),
            location: v.location.clone(),
            tags: v.tags.clone(),
        })
        .collect();
    Ok(Json(wire::ResourceListResult::last(value)))
}

async fn list_deleted(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
) -> Result<Json<wire::DeletedVaultListResult>, ApiError> {
    let deleted = state.vaults.list_deleted(&subscription).await?;
    Ok(Json(wire::DeletedVaultListResult::last(
        deleted.iter().map(deleted_vault_resource).collect(),
    )))
}

async fn read_deleted(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, location, name)): Path<(String, String, String)>,
) -> Result<Json<wire::DeletedVault>, ApiError> {
    let deleted = state.vaults.get_deleted(&subscription, &location, &name).await?;
    Ok(Json(deleted_vault_resource(&deleted)))
}

async fn purge_deleted(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, location, name)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    state.vaults.purge_deleted(&subscription, &location, &name).await?;
    Ok(StatusCode::OK)
}

async fn check_name_availability(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    JsonBody(body): JsonBody<wire::VaultCheckNameAvailabilityParameters>,
) -> Result<Json<wire::CheckNameAvailabilityResult>, ApiError> {
    if !body.kind.eq_ignore_ascii_case(wire::Vault::TYPE) {
        return Err(bad_request(format!(
            "The type '{}' is not valid; use 'Microsoft.KeyVault/vaults'.",
            body.kind
        )));
    }
    Ok(Json(
        match state.vaults.check_name_availability(&subscription, &body.name).await? {
            NameAvailability::Available => wire::CheckNameAvailabilityResult::available(),
            NameAvailability::Invalid(message) => {
                wire::CheckNameAvailabilityResult::unavailable(wire::NameUnavailableReason::AccountNameInvalid, message)
            }
            NameAvailability::AlreadyExists(message) => {
                wire::CheckNameAvailabilityResult::unavailable(wire::NameUnavailableReason::AlreadyExists, message)
            }
        },
    ))
}
