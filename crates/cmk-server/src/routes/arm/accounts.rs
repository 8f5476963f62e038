//! `Microsoft.CognitiveServices/accounts`: accounts, their keys, deleted accounts. Every operation finishes
//! before it answers (`provisioningState: Succeeded`), so SDK pollers never sleep.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodFilter;
use cmk_account::accounts::{AccountPatch, AccountSpec, ApiKeyName, ApiKeys, EncryptionSpec, IdentityType};
use cmk_account::actions::{
    ACCOUNT_DELETE, ACCOUNT_READ, ACCOUNT_WRITE, DELETED_ACCOUNT_PURGE, DELETED_ACCOUNT_READ, DELETED_ACCOUNTS_READ,
    LIST_KEYS, REENCRYPT, REGENERATE_KEY,
};
use cmk_account::model::{Account, AccountState, CustomerKeySpec, Encryption, KeyAccess};
use cmk_account::reencryption::{JobState, ReencryptionJob};
use cmk_directory::authorization::Scope;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Authorized, PathParams, group_scope, operations, subscription_scope};
use crate::body::JsonBody;
use crate::error::ApiError;

const ACCOUNT: &str = "/subscriptions/{subscription_id}/resourcegroups/{resource_group}/providers/microsoft.cognitiveservices/accounts/{name}";

pub(crate) fn account_scope(params: &PathParams) -> Result<Scope, ApiError> {
    Ok(cmk_account::actions::account_scope(
        params.subscription()?,
        params.get("resource_group")?,
        params.get("name")?,
    ))
}

fn deleted_account_scope(params: &PathParams) -> Result<Scope, ApiError> {
    Ok(cmk_account::actions::deleted_account_scope(
        params.subscription()?,
        params.get("location")?,
        params.get("resource_group")?,
        params.get("name")?,
    ))
}

pub(super) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            ACCOUNT,
            operations(state)
                .on(MethodFilter::GET, read, ACCOUNT_READ, account_scope)
                .on(MethodFilter::PUT, create_or_replace, ACCOUNT_WRITE, account_scope)
                .on(MethodFilter::PATCH, update, ACCOUNT_WRITE, account_scope)
                .on(MethodFilter::DELETE, remove, ACCOUNT_DELETE, account_scope)
                .into_router(),
        )
        .route(
            &format!("{ACCOUNT}/listkeys"),
            operations(state)
                .on(MethodFilter::POST, list_keys, LIST_KEYS, account_scope)
                .into_router(),
        )
        .route(
            &format!("{ACCOUNT}/regeneratekey"),
            operations(state)
                .on(MethodFilter::POST, regenerate_key, REGENERATE_KEY, account_scope)
                .into_router(),
        )
        .route(
            &format!("{ACCOUNT}/reencrypt"),
            operations(state)
                .on(MethodFilter::POST, start_reencryption, REENCRYPT, account_scope)
                .on(MethodFilter::GET, reencryption_status, ACCOUNT_READ, account_scope)
                .into_router(),
        )
        .route(
            "/subscriptions/{subscription_id}/resourcegroups/{resource_group}/providers/microsoft.cognitiveservices/accounts",
            operations(state)
                .list(MethodFilter::GET, list_in_group, ACCOUNT_READ, group_scope)
                .into_router(),
        )
        .route(
            "/subscriptions/{subscription_id}/providers/microsoft.cognitiveservices/accounts",
            operations(state)
                .list(MethodFilter::GET, list_in_subscription, ACCOUNT_READ, subscription_scope)
                .into_router(),
        )
        .route(
            "/subscriptions/{subscription_id}/providers/microsoft.cognitiveservices/deletedaccounts",
            operations(state)
                .list(MethodFilter::GET, list_deleted, DELETED_ACCOUNTS_READ, subscription_scope)
                .into_router(),
        )
        .route(
            "/subscriptions/{subscription_id}/providers/microsoft.cognitiveservices/locations/{location}/resourcegroups/{resource_group}/deletedaccounts/{name}",
            operations(state)
                .on(MethodFilter::GET, read_deleted, DELETED_ACCOUNT_READ, deleted_account_scope)
                .on(MethodFilter::DELETE, purge_deleted, DELETED_ACCOUNT_PURGE, deleted_account_scope)
                .into_router(),
        )
}

// ---- wire shapes -------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SkuBody {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityBody {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyVaultPropertiesBody {
    key_name: Option<String>,
    key_version: Option<String>,
    key_vault_uri: Option<String>,
    identity_client_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EncryptionBody {
    key_source: Option<String>,
    key_vault_properties: Option<KeyVaultPropertiesBody>,
}

/// Account properties as ARM sends them. Read-only and unused properties (`endpoint`, `networkAcls`, ...)
/// are accepted and ignored, as ARM does.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PropertiesBody {
    custom_sub_domain_name: Option<String>,
    encryption: Option<EncryptionBody>,
    public_network_access: Option<String>,
    disable_local_auth: Option<bool>,
    restore: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountBody {
    location: Option<String>,
    kind: Option<String>,
    sku: Option<SkuBody>,
    tags: Option<BTreeMap<String, String>>,
    identity: Option<IdentityBody>,
    properties: Option<PropertiesBody>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegenerateBody {
    key_name: String,
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::arm(StatusCode::BAD_REQUEST, "BadRequest", message)
}

fn identity_type(body: IdentityBody) -> Result<IdentityType, ApiError> {
    match body.kind.to_ascii_lowercase().replace(' ', "").as_str() {
        "none" => Ok(IdentityType::None),
        "systemassigned" => Ok(IdentityType::SystemAssigned),
        "userassigned" | "systemassigned,userassigned" => Err(bad_request(format!(
            "The identity type '{}' is not supported: accounts use a system-assigned identity (type SystemAssigned).",
            body.kind
        ))),
        _ => Err(bad_request(format!(
            "The identity type '{}' is invalid; use None or SystemAssigned.",
            body.kind
        ))),
    }
}

fn encryption_spec(body: EncryptionBody) -> Result<EncryptionSpec, ApiError> {
    // As the SDK models do, a missing keySource means Microsoft.KeyVault.
    let source = body.key_source.unwrap_or_else(|| "Microsoft.KeyVault".into());
    if source.eq_ignore_ascii_case("Microsoft.CognitiveServices") {
        return Ok(EncryptionSpec::Platform);
    }
    if !source.eq_ignore_ascii_case("Microsoft.KeyVault") {
        return Err(bad_request(format!(
            "The keySource '{source}' is invalid; use Microsoft.CognitiveServices or Microsoft.KeyVault."
        )));
    }
    let properties = body.key_vault_properties.unwrap_or_default();
    let missing = |field: &str| {
        ApiError::arm(
            StatusCode::BAD_REQUEST,
            "InvalidKeyVaultProperties",
            format!(
                "The key vault properties are invalid: keyVaultProperties.{field} is required with keySource Microsoft.KeyVault."
            ),
        )
    };
    Ok(EncryptionSpec::Customer(CustomerKeySpec {
        vault_uri: properties
            .key_vault_uri
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| missing("keyVaultUri"))?,
        key_name: properties
            .key_name
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| missing("keyName"))?,
        key_version: properties.key_version,
        identity_client_id: properties.identity_client_id,
    }))
}

struct Parsed {
    identity: Option<IdentityType>,
    encryption: Option<EncryptionSpec>,
    properties: PropertiesBody,
}

fn parse_common(identity: Option<IdentityBody>, properties: Option<PropertiesBody>) -> Result<Parsed, ApiError> {
    let mut properties = properties.unwrap_or_default();
    let encryption = properties.encryption.take().map(encryption_spec).transpose()?;
    Ok(Parsed {
        identity: identity.map(identity_type).transpose()?,
        encryption,
        properties,
    })
}

pub(crate) fn account_json(state: &AppState, account: &Account) -> Value {
    let identity = match &account.identity {
        Some(identity) => json!({
            "type": "SystemAssigned",
            "principalId": identity.principal_id.to_string(),
            "tenantId": identity.tenant_id.to_string(),
        }),
        None => json!({ "type": "None" }),
    };
    let encryption = match &account.encryption {
        Encryption::Platform => json!({ "keySource": "Microsoft.CognitiveServices" }),
        Encryption::Customer { key, access } => {
            let key_access = match access {
                KeyAccess::Accessible => json!({ "state": "Accessible" }),
                KeyAccess::Inaccessible { reason, message, since } => json!({
                    "state": "Inaccessible",
                    "reason": reason.as_str(),
                    "message": message,
                    "since": since.to_rfc3339(),
                }),
            };
            json!({
                "keySource": "Microsoft.KeyVault",
                "keyVaultProperties": {
                    "keyName": key.key_name,
                    "keyVersion": key.key_version.clone().unwrap_or_default(),
                    "keyVaultUri": key.vault_uri,
                    "currentVersionedKeyIdentifier": account.current_kid(),
                },
                "keyAccess": key_access,
            })
        }
    };
    let endpoint = state.urls.account_endpoint(&account.subdomain);
    let mut properties = json!({
        "provisioningState": "Succeeded",
        "endpoint": endpoint,
        "endpoints": { "Content": endpoint },
        "internalId": account.internal_id,
        "dateCreated": account.created.to_rfc3339(),
        "publicNetworkAccess": account.public_network_access,
        "disableLocalAuth": account.disable_local_auth,
        "capabilities": [ { "name": "CustomerManagedKey" } ],
        "encryption": encryption,
    });
    if account.custom_subdomain {
        properties["customSubDomainName"] = json!(account.subdomain);
    }
    let mut id = account.resource_id();
    if let AccountState::Deleted {
        deletion_date,
        scheduled_purge_date,
    } = &account.state
    {
        properties["deletionDate"] = json!(deletion_date.to_rfc3339());
        properties["scheduledPurgeDate"] = json!(scheduled_purge_date.to_rfc3339());
        id = format!(
            "/subscriptions/{}/providers/Microsoft.CognitiveServices/locations/{}/resourceGroups/{}/deletedAccounts/{}",
            account.subscription_id, account.location, account.resource_group, account.name
        );
    }
    json!({
        "id": id,
        "name": account.name,
        "type": "Microsoft.CognitiveServices/accounts",
        "location": account.location,
        "kind": account.kind,
        "sku": { "name": account.sku },
        "tags": account.tags,
        "etag": format!("\"{}\"", account.updated.unix_seconds()),
        "identity": identity,
        "properties": properties,
        "systemData": {
            "createdAt": account.created.to_rfc3339(),
            "lastModifiedAt": account.updated.to_rfc3339(),
        },
    })
}

fn keys_json(keys: &ApiKeys) -> Value {
    json!({ "key1": keys.key1.expose(), "key2": keys.key2.expose() })
}

// ---- handlers ----------------------------------------------------------------------------------------------

async fn create_or_replace(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<AccountBody>,
) -> Result<Response, ApiError> {
    let parsed = parse_common(body.identity, body.properties)?;
    let restore = parsed.properties.restore.unwrap_or(false);
    let spec = AccountSpec {
        location: body.location.ok_or_else(|| {
            ApiError::arm(
                StatusCode::BAD_REQUEST,
                "LocationRequired",
                "The location property is required for this definition.",
            )
        })?,
        kind: body.kind.unwrap_or_default(),
        sku: body
            .sku
            .map(|s| s.name)
            .ok_or_else(|| bad_request("The property \"sku\" is required: give sku.name, for example E0 or S0."))?,
        tags: body.tags.unwrap_or_default(),
        identity: parsed.identity,
        custom_subdomain: parsed.properties.custom_sub_domain_name,
        encryption: parsed.encryption,
        public_network_access: parsed.properties.public_network_access,
        disable_local_auth: parsed.properties.disable_local_auth,
        restore,
    };
    let (account, created) = state
        .accounts
        .create_or_replace(&subscription, &resource_group, &name, spec)
        .await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(account_json(&state, &account))).into_response())
}

async fn update(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<AccountBody>,
) -> Result<Json<Value>, ApiError> {
    let parsed = parse_common(body.identity, body.properties)?;
    let patch = AccountPatch {
        sku: body.sku.map(|s| s.name),
        tags: body.tags,
        identity: parsed.identity,
        encryption: parsed.encryption,
        public_network_access: parsed.properties.public_network_access,
        disable_local_auth: parsed.properties.disable_local_auth,
        location: body.location,
        kind: body.kind,
        custom_subdomain: parsed.properties.custom_sub_domain_name,
    };
    let account = state
        .accounts
        .update(&subscription, &resource_group, &name, patch)
        .await?;
    Ok(Json(account_json(&state, &account)))
}

async fn read(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let account = state.accounts.get(&subscription, &resource_group, &name).await?;
    Ok(Json(account_json(&state, &account)))
}

/// Soft delete: 200 when an account was deleted, 204 when there was none.
async fn remove(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let deleted = state.accounts.delete(&subscription, &resource_group, &name).await?;
    Ok(if deleted {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    })
}

async fn list_keys(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let keys = state.accounts.list_keys(&subscription, &resource_group, &name).await?;
    Ok(Json(keys_json(&keys)))
}

async fn regenerate_key(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<RegenerateBody>,
) -> Result<Json<Value>, ApiError> {
    let which = match body.key_name.to_ascii_lowercase().as_str() {
        "key1" => ApiKeyName::Key1,
        "key2" => ApiKeyName::Key2,
        _ => {
            return Err(bad_request(format!(
                "The keyName '{}' is invalid; use Key1 or Key2.",
                body.key_name
            )));
        }
    };
    let keys = state
        .accounts
        .regenerate_key(&subscription, &resource_group, &name, which)
        .await?;
    Ok(Json(keys_json(&keys)))
}

async fn list_in_group(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let accounts = state.accounts.list(&subscription, Some(&resource_group)).await?;
    let value: Vec<Value> = accounts.iter().map(|a| account_json(&state, a)).collect();
    Ok(Json(json!({ "value": value })))
}

async fn list_in_subscription(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
) -> Result<Json<Value>, ApiError> {
    let accounts = state.accounts.list(&subscription, None).await?;
    let value: Vec<Value> = accounts.iter().map(|a| account_json(&state, a)).collect();
    Ok(Json(json!({ "value": value })))
}

async fn list_deleted(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
) -> Result<Json<Value>, ApiError> {
    let accounts = state.accounts.list_deleted(&subscription).await?;
    let value: Vec<Value> = accounts.iter().map(|a| account_json(&state, a)).collect();
    Ok(Json(json!({ "value": value })))
}

async fn read_deleted(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, location, resource_group, name)): Path<(String, String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let account = state
        .accounts
        .get_deleted(&subscription, &location, &resource_group, &name)
        .await?;
    Ok(Json(account_json(&state, &account)))
}

async fn purge_deleted(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, location, resource_group, name)): Path<(String, String, String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .purge_deleted(&subscription, &location, &resource_group, &name)
        .await?;
    Ok(StatusCode::OK)
}

fn job_json(job: &ReencryptionJob) -> Value {
    let percent = if job.objects_total == 0 {
        100.0
    } else {
        (job.objects_done as f64 * 100.0 / job.objects_total as f64).min(100.0)
    };
    let mut body = json!({
        "status": match &job.state {
            JobState::Running => "Running",
            JobState::Succeeded => "Succeeded",
            JobState::Failed { .. } => "Failed",
        },
        "dataKeyVersion": job.target_version,
        "objectsTotal": job.objects_total,
        "objectsDone": job.objects_done,
        "bytesDone": job.bytes_done,
        "percentComplete": percent,
        "startTime": job.started.to_rfc3339(),
    });
    if let Some(finished) = job.finished {
        body["endTime"] = json!(finished.to_rfc3339());
    }
    if let JobState::Failed { message } = &job.state {
        body["error"] = json!({ "code": "ReencryptionFailed", "message": message });
    }
    body
}

/// Starts re-encrypting the account's content under a new data key: `202`, then `GET` the same path for
/// progress.
async fn start_reencryption(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let job = state
        .accounts
        .start_reencryption(&subscription, &resource_group, &name)
        .await?;
    let location = format!("{}{}", state.urls.authority(), uri);
    Ok((
        StatusCode::ACCEPTED,
        [("location", location), ("retry-after", "1".to_owned())],
        Json(job_json(&job)),
    )
        .into_response())
}

async fn reencryption_status(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let job = state
        .accounts
        .reencryption_status(&subscription, &resource_group, &name)
        .await?;
    Ok(Json(job_json(&job)))
}
