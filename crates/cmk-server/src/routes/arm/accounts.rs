//! `Microsoft.CognitiveServices/accounts`: accounts, their keys, deleted accounts. Every operation finishes
//! before it answers (`provisioningState: Succeeded`), so SDK pollers never sleep.

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
use cmk_api::ErrorBody;
use cmk_api::accounts::{
    Account as AccountResource, AccountDefinition, AccountDefinitionProperties, AccountListResult, AccountProperties,
    ApiKeys as ApiKeysBody, Capability, Encryption as EncryptionBody, EncryptionDefinition, Identity,
    IdentityDefinition, KeyAccess as KeyAccessBody, KeyVaultProperties, ReencryptionStatus, RegenerateKeyParameters,
    Sku, SystemData,
};
use cmk_directory::authorization::Scope;

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

// ---- wire shapes: `cmk_api::accounts` ----------------------------------------------------------------------

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::arm(StatusCode::BAD_REQUEST, "BadRequest", message)
}

fn identity_type(body: IdentityDefinition) -> Result<IdentityType, ApiError> {
    match body.identity_type.to_ascii_lowercase().replace(' ', "").as_str() {
        "none" => Ok(IdentityType::None),
        "systemassigned" => Ok(IdentityType::SystemAssigned),
        "userassigned" | "systemassigned,userassigned" => Err(bad_request(format!(
            "The identity type '{}' is not supported: accounts use a system-assigned identity (type SystemAssigned).",
            body.identity_type
        ))),
        _ => Err(bad_request(format!(
            "The identity type '{}' is invalid; use None or SystemAssigned.",
            body.identity_type
        ))),
    }
}

fn encryption_spec(body: EncryptionDefinition) -> Result<EncryptionSpec, ApiError> {
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
    properties: AccountDefinitionProperties,
}

fn parse_common(
    identity: Option<IdentityDefinition>,
    properties: Option<AccountDefinitionProperties>,
) -> Result<Parsed, ApiError> {
    let mut properties = properties.unwrap_or_default();
    let encryption = properties.encryption.take().map(encryption_spec).transpose()?;
    Ok(Parsed {
        identity: identity.map(identity_type).transpose()?,
        encryption,
        properties,
    })
}

/// The account as ARM answers it.
pub(crate) fn account_resource(state: &AppState, account: &Account) -> AccountResource {
    let identity = match &account.identity {
        Some(identity) => Identity {
            identity_type: "SystemAssigned".into(),
            principal_id: Some(identity.principal_id.to_string()),
            tenant_id: Some(identity.tenant_id.to_string()),
        },
        None => Identity {
            identity_type: "None".into(),
            principal_id: None,
            tenant_id: None,
        },
    };
    let encryption = match &account.encryption {
        Encryption::Platform => EncryptionBody {
            key_source: "Microsoft.CognitiveServices".into(),
            key_vault_properties: None,
            key_access: None,
        },
        Encryption::Customer { key, access } => EncryptionBody {
            key_source: "Microsoft.KeyVault".into(),
            key_vault_properties: Some(KeyVaultProperties {
                key_name: key.key_name.clone(),
                key_version: key.key_version.clone().unwrap_or_default(),
                key_vault_uri: key.vault_uri.clone(),
                current_versioned_key_identifier: account.current_kid().map(str::to_owned),
            }),
            key_access: Some(match access {
                KeyAccess::Accessible => KeyAccessBody {
                    state: "Accessible".into(),
                    reason: None,
                    message: None,
                    since: None,
                },
                KeyAccess::Inaccessible { reason, message, since } => KeyAccessBody {
                    state: "Inaccessible".into(),
                    reason: Some(reason.as_str().to_owned()),
                    message: Some(message.clone()),
                    since: Some(since.to_rfc3339()),
                },
            }),
        },
    };
    let endpoint = state.urls.account_endpoint(&account.subdomain);
    let mut id = account.resource_id();
    let (mut deletion_date, mut scheduled_purge_date) = (None, None);
    if let AccountState::Deleted {
        deletion_date: deleted,
        scheduled_purge_date: purged,
    } = &account.state
    {
        deletion_date = Some(deleted.to_rfc3339());
        scheduled_purge_date = Some(purged.to_rfc3339());
        id = format!(
            "/subscriptions/{}/providers/Microsoft.CognitiveServices/locations/{}/resourceGroups/{}/deletedAccounts/{}",
            account.subscription_id, account.location, account.resource_group, account.name
        );
    }
    AccountResource {
        id,
        name: account.name.clone(),
        resource_type: "Microsoft.CognitiveServices/accounts".into(),
        location: account.location.clone(),
        kind: account.kind.clone(),
        sku: Sku {
            name: account.sku.clone(),
        },
        tags: account.tags.clone(),
        etag: format!("\"{}\"", account.updated.unix_seconds()),
        identity,
        properties: AccountProperties {
            provisioning_state: "Succeeded".into(),
            endpoints: [("Content".to_owned(), endpoint.clone())].into(),
            endpoint,
            internal_id: account.internal_id.clone(),
            date_created: account.created.to_rfc3339(),
            public_network_access: account.public_network_access.clone(),
            disable_local_auth: account.disable_local_auth,
            capabilities: vec![Capability {
                name: "CustomerManagedKey".into(),
            }],
            encryption,
            custom_sub_domain_name: account.custom_subdomain.then(|| account.subdomain.clone()),
            deletion_date,
            scheduled_purge_date,
        },
        system_data: SystemData {
            created_at: Some(account.created.to_rfc3339()),
            last_modified_at: Some(account.updated.to_rfc3339()),
        },
    }
}

fn account_list(state: &AppState, accounts: &[Account]) -> AccountListResult {
    AccountListResult::last(accounts.iter().map(|a| account_resource(state, a)).collect())
}

fn keys_body(keys: ApiKeys) -> ApiKeysBody {
    ApiKeysBody {
        key1: keys.key1,
        key2: keys.key2,
    }
}

// ---- handlers ----------------------------------------------------------------------------------------------

async fn create_or_replace(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<AccountDefinition>,
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
    Ok((status, Json(account_resource(&state, &account))).into_response())
}

async fn update(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<AccountDefinition>,
) -> Result<Json<AccountResource>, ApiError> {
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
    Ok(Json(account_resource(&state, &account)))
}

async fn read(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
) -> Result<Json<AccountResource>, ApiError> {
    let account = state.accounts.get(&subscription, &resource_group, &name).await?;
    Ok(Json(account_resource(&state, &account)))
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
) -> Result<Json<ApiKeysBody>, ApiError> {
    let keys = state.accounts.list_keys(&subscription, &resource_group, &name).await?;
    Ok(Json(keys_body(keys)))
}

async fn regenerate_key(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<RegenerateKeyParameters>,
) -> Result<Json<ApiKeysBody>, ApiError> {
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
    Ok(Json(keys_body(keys)))
}

async fn list_in_group(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group)): Path<(String, String)>,
) -> Result<Json<AccountListResult>, ApiError> {
    let accounts = state.accounts.list(&subscription, Some(&resource_group)).await?;
    Ok(Json(account_list(&state, &accounts)))
}

async fn list_in_subscription(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
) -> Result<Json<AccountListResult>, ApiError> {
    let accounts = state.accounts.list(&subscription, None).await?;
    Ok(Json(account_list(&state, &accounts)))
}

async fn list_deleted(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
) -> Result<Json<AccountListResult>, ApiError> {
    let accounts = state.accounts.list_deleted(&subscription).await?;
    Ok(Json(account_list(&state, &accounts)))
}

async fn read_deleted(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, location, resource_group, name)): Path<(String, String, String, String)>,
) -> Result<Json<AccountResource>, ApiError> {
    let account = state
        .accounts
        .get_deleted(&subscription, &location, &resource_group, &name)
        .await?;
    Ok(Json(account_resource(&state, &account)))
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

fn job_status(job: &ReencryptionJob) -> ReencryptionStatus {
    let percent = if job.objects_total == 0 {
        100.0
    } else {
        (job.objects_done as f64 * 100.0 / job.objects_total as f64).min(100.0)
    };
    ReencryptionStatus {
        status: match &job.state {
            JobState::Running => "Running",
            JobState::Succeeded => "Succeeded",
            JobState::Failed { .. } => "Failed",
        }
        .to_owned(),
        data_key_version: job.target_version,
        objects_total: job.objects_total,
        objects_done: job.objects_done,
        bytes_done: job.bytes_done,
        percent_complete: percent,
        start_time: job.started.to_rfc3339(),
        end_time: job.finished.map(|finished| finished.to_rfc3339()),
        error: match &job.state {
            JobState::Failed { message } => Some(ErrorBody {
                code: "ReencryptionFailed".into(),
                message: message.clone(),
                innererror: None,
            }),
            JobState::Running | JobState::Succeeded => None,
        },
    }
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
        Json(job_status(&job)),
    )
        .into_response())
}

async fn reencryption_status(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, resource_group, name)): Path<(String, String, String)>,
) -> Result<Json<ReencryptionStatus>, ApiError> {
    let job = state
        .accounts
        .reencryption_status(&subscription, &resource_group, &name)
        .await?;
    Ok(Json(job_status(&job)))
}
