//! Resource groups: `PUT/GET/HEAD/DELETE /subscriptions/{s}/resourcegroups/{name}` and the list.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodFilter;
use cmk_directory::DirectoryError;
use cmk_directory::authorization::actions::resources::{
    RESOURCE_GROUP_DELETE, RESOURCE_GROUP_READ, RESOURCE_GROUP_WRITE,
};
use cmk_directory::model::ResourceGroup;
use cmk_directory::resource_groups::ResourceGroupSpec;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Paging, next_link};
use crate::AppState;
use crate::auth::{Authorized, group_scope, operations, subscription_scope};
use crate::body::JsonBody;
use crate::error::ApiError;

pub(super) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/subscriptions/{subscription_id}/resourcegroups",
            operations(state)
                .list(MethodFilter::GET, list, RESOURCE_GROUP_READ, subscription_scope)
                .into_router(),
        )
        .route(
            "/subscriptions/{subscription_id}/resourcegroups/{resource_group}",
            operations(state)
                .on(MethodFilter::GET, read, RESOURCE_GROUP_READ, group_scope)
                .on(MethodFilter::PUT, create_or_update, RESOURCE_GROUP_WRITE, group_scope)
                .on(MethodFilter::HEAD, exists, RESOURCE_GROUP_READ, group_scope)
                .on(MethodFilter::DELETE, remove, RESOURCE_GROUP_DELETE, group_scope)
                .into_router(),
        )
}

/// The body of a PUT. Properties ARM defines but cmk does not use are accepted and ignored, as ARM does.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceGroupBody {
    location: Option<String>,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
    managed_by: Option<String>,
}

fn resource_group_json(group: &ResourceGroup) -> Value {
    let mut body = json!({
        "id": format!("/subscriptions/{}/resourceGroups/{}", group.subscription_id, group.name),
        "name": group.name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": group.location,
        "properties": { "provisioningState": "Succeeded" }
    });
    if !group.tags.is_empty() {
        body["tags"] = json!(group.tags);
    }
    if let Some(managed_by) = &group.managed_by {
        body["managedBy"] = json!(managed_by);
    }
    body
}

async fn create_or_update(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<ResourceGroupBody>,
) -> Result<Response, ApiError> {
    let spec = ResourceGroupSpec {
        location: body.location,
        tags: body.tags.unwrap_or_default(),
        managed_by: body.managed_by,
    };
    let (group, created) = state.directory.put_resource_group(&subscription, &name, spec).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(resource_group_json(&group))).into_response())
}

async fn read(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let group = state.directory.get_resource_group(&subscription, &name).await?;
    Ok(Json(resource_group_json(&group)))
}

/// `HEAD`: 204 when the group exists, 404 when it does not (no body either way).
async fn exists(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    match state.directory.get_resource_group(&subscription, &name).await {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(DirectoryError::ResourceGroupNotFound(_)) => Ok(StatusCode::NOT_FOUND),
        Err(e) => Err(e.into()),
    }
}

/// Deletion completes before the response, so the SDK's poller finishes at once (200, no polling).
async fn remove(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.directory.delete_resource_group(&subscription, &name).await?;
    Ok(StatusCode::OK)
}

async fn list(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::from_uri(&uri)?;
    let (groups, next) = state
        .directory
        .list_resource_groups(&subscription, paging.start_after.as_deref(), paging.top)
        .await?;
    let value: Vec<Value> = groups.iter().map(resource_group_json).collect();
    let mut body = json!({ "value": value });
    if let Some(link) = next_link(&state, &headers, &uri, next) {
        body["nextLink"] = Value::String(link);
    }
    Ok(Json(body))
}
