//! `GET /subscriptions`, `GET /subscriptions/{id}`, `GET /tenants`: what a principal can see of its tenant.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::routing::{MethodFilter, get};
use cmk_api::resources as wire;
use cmk_directory::authorization::actions::resources::SUBSCRIPTION_READ;
use cmk_directory::model::{Subscription, Tenant};

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

/// The model onto the wire: one plan for every subscription, and no other tenant manages it.
fn subscription_wire(subscription: &Subscription) -> wire::Subscription {
    wire::Subscription {
        id: format!("/subscriptions/{}", subscription.id),
        subscription_id: subscription.id.to_string(),
        tenant_id: subscription.tenant_id.to_string(),
        display_name: subscription.display_name.clone(),
        state: subscription.state.as_str().to_owned(),
        subscription_policies: wire::SubscriptionPolicies::pay_as_you_go(),
        authorization_source: wire::Subscription::AUTHORIZATION_SOURCE.to_owned(),
        managed_by_tenants: Vec::new(),
        tags: BTreeMap::new(),
    }
}

/// A tenant has one domain in cmk: its default.
fn tenant_wire(tenant: &Tenant) -> wire::Tenant {
    wire::Tenant {
        id: format!("/tenants/{}", tenant.id),
        tenant_id: tenant.id.to_string(),
        tenant_category: wire::Tenant::CATEGORY_HOME.to_owned(),
        display_name: tenant.display_name.clone(),
        default_domain: tenant.default_domain.clone(),
        domains: vec![tenant.default_domain.clone()],
        tenant_type: wire::Tenant::TYPE_AAD.to_owned(),
    }
}

async fn list_subscriptions(
    State(state): State<AppState>,
    ManagementCaller(caller): ManagementCaller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Json<wire::SubscriptionListResult>, ApiError> {
    let paging = Paging::from_uri(&uri)?;
    let (subscriptions, next) = state
        .directory
        .list_visible_subscriptions(&caller, paging.start_after.as_deref(), paging.top)
        .await?;
    Ok(Json(wire::ListResult {
        value: subscriptions.iter().map(subscription_wire).collect(),
        next_link: next_link(&state, &headers, &uri, next),
    }))
}

/// A subscription is visible to whoever holds a role in it, at any depth (as `GET /subscriptions` lists it).
async fn get_subscription(Authorized(subscription): Authorized) -> Json<wire::Subscription> {
    Json(subscription_wire(subscription.subscription()))
}

/// The tenants the caller belongs to: its own.
async fn list_tenants(
    State(state): State<AppState>,
    ManagementCaller(caller): ManagementCaller,
) -> Result<Json<wire::TenantListResult>, ApiError> {
    let tenant = state.directory.get_tenant(&caller.tenant_id()).await?;
    Ok(Json(wire::ListResult::last(vec![tenant_wire(&tenant)])))
}
