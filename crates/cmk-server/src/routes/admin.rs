//! The admin API of a deployment's operators, under `/cmk/admin`: tenants, subscriptions and service
//! principals, and in development mode the clock. Callers need a management-plane token of an operator.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cmk_directory::DirectoryError;
use cmk_directory::model::TenantId;
use cmk_directory::principals::Operator;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::ManagementCaller;
use crate::body::JsonBody;
use crate::error::ApiError;

pub(super) fn router(dev: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/cmk/admin/tenants", post(create_tenant).get(list_tenants))
        .route("/cmk/admin/tenants/{tenant}/subscriptions", post(create_subscription))
        .route(
            "/cmk/admin/tenants/{tenant}/servicePrincipals",
            post(create_service_principal),
        )
        .route("/cmk/admin/audit", get(read_audit));
    if dev {
        router
            .route("/cmk/admin/clock", get(read_clock))
            .route("/cmk/admin/clock/advance", post(advance_clock))
    } else {
        router
    }
}

async fn operator(state: &AppState, caller: &ManagementCaller) -> Result<Operator, ApiError> {
    Ok(state.directory.require_operator(&caller.0).await?)
}

fn tenant_id(text: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(text).ok_or_else(|| DirectoryError::InvalidTenantId(text.to_owned()).into())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DisplayNameBody {
    display_name: String,
}

async fn create_tenant(
    State(state): State<AppState>,
    caller: ManagementCaller,
    JsonBody(body): JsonBody<DisplayNameBody>,
) -> Result<Response, ApiError> {
    let operator = operator(&state, &caller).await?;
    let tenant = state.directory.create_tenant(&operator, &body.display_name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "tenantId": tenant.id.to_string(),
            "displayName": tenant.display_name,
            "defaultDomain": tenant.default_domain,
        })),
    )
        .into_response())
}

async fn list_tenants(State(state): State<AppState>, caller: ManagementCaller) -> Result<Json<Value>, ApiError> {
    let operator = operator(&state, &caller).await?;
    let mut value = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (tenants, next) = state.directory.list_tenants(&operator, cursor.as_deref(), 500).await?;
        value.extend(tenants.into_iter().map(|t| {
            json!({ "tenantId": t.id.to_string(), "displayName": t.display_name, "defaultDomain": t.default_domain })
        }));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(Json(json!({ "value": value })))
}

async fn create_subscription(
    State(state): State<AppState>,
    caller: ManagementCaller,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<DisplayNameBody>,
) -> Result<Response, ApiError> {
    let operator = operator(&state, &caller).await?;
    let subscription = state
        .directory
        .create_subscription(&operator, &tenant_id(&tenant)?, &body.display_name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "subscriptionId": subscription.id.to_string(),
            "tenantId": subscription.tenant_id.to_string(),
            "displayName": subscription.display_name,
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ServicePrincipalBody {
    display_name: String,
    #[serde(default)]
    operator: bool,
}

async fn create_service_principal(
    State(state): State<AppState>,
    caller: ManagementCaller,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<ServicePrincipalBody>,
) -> Result<Response, ApiError> {
    let operator = operator(&state, &caller).await?;
    let (principal, secret) = state
        .directory
        .create_service_principal(&operator, &tenant_id(&tenant)?, &body.display_name, body.operator)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "tenantId": principal.tenant_id.to_string(),
            "clientId": principal.client_id.to_string(),
            "objectId": principal.object_id.to_string(),
            "displayName": principal.display_name,
            "operator": principal.operator,
            // Shown once; only a salted hash is stored.
            "clientSecret": secret.expose(),
        })),
    )
        .into_response())
}

fn clock_json(clock: &crate::dev::DevClock) -> Json<Value> {
    let now = clock.now();
    Json(json!({ "now": now.to_rfc3339(), "nowUnix": now.unix_seconds(), "offsetSeconds": clock.offset_seconds() }))
}

fn dev_clock(state: &AppState) -> Result<&crate::dev::DevClock, ApiError> {
    state.dev_clock.as_deref().ok_or_else(|| {
        ApiError::arm(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The clock can only be shifted in development mode.",
        )
    })
}

async fn read_clock(State(state): State<AppState>, caller: ManagementCaller) -> Result<Json<Value>, ApiError> {
    operator(&state, &caller).await?;
    Ok(clock_json(dev_clock(&state)?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AdvanceBody {
    seconds: i64,
}

/// Moves the development clock forward. Time never goes back: negative or zero shifts are refused.
async fn advance_clock(
    State(state): State<AppState>,
    caller: ManagementCaller,
    JsonBody(body): JsonBody<AdvanceBody>,
) -> Result<Json<Value>, ApiError> {
    operator(&state, &caller).await?;
    let clock = dev_clock(&state)?;
    if body.seconds <= 0 {
        return Err(ApiError::arm(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            format!(
                "'seconds' must be a positive number of seconds to move forward, got {}.",
                body.seconds
            ),
        ));
    }
    match clock.advance(body.seconds).await {
        Ok(Some(_)) => Ok(clock_json(clock)),
        Ok(None) => Err(ApiError::arm(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "The clock cannot move that far.",
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// A time given as Unix seconds or RFC 3339.
fn parse_time(field: &str, text: &str) -> Result<cmk_core::Timestamp, ApiError> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(cmk_core::Timestamp::from_unix_seconds(seconds));
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| cmk_core::Timestamp::from_unix_seconds(t.unix_timestamp()))
        .map_err(|_| {
            ApiError::arm(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                format!("'{field}' must be Unix seconds or an RFC 3339 time, got '{text}'."),
            )
        })
}

/// `GET /cmk/admin/audit?vault=NAME[&from=TIME][&to=TIME][&top=N]`: the audit records of one vault, oldest
/// first.
async fn read_audit(
    State(state): State<AppState>,
    caller: ManagementCaller,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
) -> Result<Json<Value>, ApiError> {
    operator(&state, &caller).await?;
    let query = crate::routes::arm::query_map(&uri);
    let invalid = |message: String| ApiError::arm(StatusCode::BAD_REQUEST, "InvalidParameter", message);
    let vault = query
        .get("vault")
        .ok_or_else(|| invalid("The 'vault' query parameter is required.".into()))?;
    cmk_vault::model::validate_vault_name(vault).map_err(|e| invalid(e.to_string()))?;
    let from = query.get("from").map(|t| parse_time("from", t)).transpose()?;
    let to = query.get("to").map(|t| parse_time("to", t)).transpose()?;
    let top = match query.get("top") {
        None => 1000,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            _ => {
                return Err(invalid(format!(
                    "'top' must be a whole number from 1 to 10000, got '{text}'."
                )));
            }
        },
    };
    let records = state.audit.query(vault, from, to, top).await.map_err(ApiError::from)?;
    let value: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "time": r.time.to_rfc3339(),
                "requestId": r.request_id,
                "caller": r.caller,
                "operation": r.operation,
                "vault": r.vault,
                "key": r.key,
                "version": r.version,
                "status": r.status,
            })
        })
        .collect();
    Ok(Json(json!({ "value": value })))
}
