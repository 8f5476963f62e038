//! `GET /subscriptions`, `GET /subscriptions/{id}`, `GET /tenants`: what a principal can see of its tenant.

use axum::Json;
use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::routing::{MethodFilter, get};
use cmk_directory::authorization::actions::resources::SUBSCRIPTION_READ;
use cmk_directory::model::{Subscription, Tenant};
use serde_json::{Value, json};

use super::{Paging, next_link};
use crate::AppState;
use crate::auth::{Authorized, ManagementCaller, operations, subscription_scope};
use crate::error::ApiError;

pub(super) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/subscriptions", get(list_subscriptions))
        .route(
            "/subscriptions/{subscription_id}",
            operations(state)
                .list(
                    MethodFilter::GET,
                    get_subscription,
                    SUBSCRIPTION_READ,
                    subscription_scope,
                )
                .into_router(),
        )
        .route("/tenants", get(list_tenants))
}

fn subscription_json(subscription: &Subscription) -> Value {
    json!({
        "id": format!("/subscriptions/{}", subscription.id),
        "subscriptionId": subscription.id.to_string(),
        "tenantId": subscription.tenant_id.to_string(),
        "displayName": subscription.display_name,
        "state": subscription.state.as_str(),
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off"
        },
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "tags": {}
    })
}

fn tenant_json(tenant: &Tenant) -> Value {
    json!({
        "id": format!("/tenants/{}", tenant.id),
        "tenantId": tenant.id.to_string(),
        "tenantCategory": "Home",
        "displayName": tenant.display_name,
        "defaultDomain": tenant.default_domain,
        "domains": [tenant.default_domain],
        "tenantType": "AAD"
    })
}

async fn list_subscriptions(
    State(state): State<AppState>,
    ManagementCaller(caller): ManagementCaller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::from_uri(&uri)?;
    let (subscriptions, next) = state
        .directory
        .list_visible_subscriptions(&caller, paging.start_after.as_deref(), paging.top)
        .await?;
    let value: Vec<Value> = subscriptions.iter().map(subscription_json).collect();
    let mut body = json!({ "value": value });
    if let Some(link) = next_link(&state, &headers, &uri, next) {
        body["nextLink"] = Value::String(link);
    }
    Ok(Json(body))
}

/// A subscription is visible to whoever holds a role in it, at any depth (as `GET /subscriptions` lists it).
async fn get_subscription(Authorized(subscription): Authorized) -> Json<Value> {
    Json(subscription_json(subscription.subscription()))
}

/// The tenants the caller belongs to: its own.
async fn list_tenants(
    State(state): State<AppState>,
    ManagementCaller(caller): ManagementCaller,
) -> Result<Json<Value>, ApiError> {
    let tenant = state.directory.get_tenant(&caller.tenant_id()).await?;
    Ok(Json(json!({ "value": [tenant_json(&tenant)] })))
}
