//! Resource groups: `PUT/GET/HEAD/DELETE /subscriptions/{s}/resourcegroups/{name}` and the list.

use axum::Json;
use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodFilter;
use cmk_api::resources as wire;
use cmk_directory::DirectoryError;
use cmk_directory::authorization::actions::resources::{
    RESOURCE_GROUP_DELETE, RESOURCE_GROUP_READ, RESOURCE_GROUP_WRITE,
};
use cmk_directory::model::ResourceGroup;
use cmk_directory::resource_groups::ResourceGroupSpec;

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

/// The model onto the wire. Every change is complete before the answer, so the state is `Succeeded`.
fn resource_group_wire(group: &ResourceGroup) -> wire::ResourceGroup {
    wire::ResourceGroup {
        id: format!("/subscriptions/{}/resourceGroups/{}", group.subscription_id, group.name),
        name: group.name.clone(),
        kind: wire::ResourceGroup::TYPE.to_owned(),
        location: group.location.clone(),
        tags: group.tags.clone(),
        managed_by: group.managed_by.clone(),
        properties: wire::ResourceGroupProperties {
            provisioning_state: "Succeeded".to_owned(),
        },
    }
}

async fn create_or_update(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<wire::ResourceGroupCreateOrUpdateParameters>,
) -> Result<Response, ApiError> {
    let spec = ResourceGroupSpec {
        location: body.location,
        tags: body.tags.unwrap_or_default(),
        managed_by: body.managed_by,
    };
    let (group, created) = state.directory.put_resource_group(&subscription, &name, spec).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(resource_group_wire(&group))).into_response())
}

async fn read(
    State(state): State<AppState>,
    Authorized(subscription): Authorized,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<wire::ResourceGroup>, ApiError> {
    let group = state.directory.get_resource_group(&subscription, &name).await?;
    Ok(Json(resource_group_wire(&group)))
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
) -> Result<Json<wire::ResourceGroupListResult>, ApiError> {
    let paging = Paging::from_uri(&uri)?;
    let (groups, next) = state
        .directory
        .list_resource_groups(&subscription, paging.start_after.as_deref(), paging.top)
        .await?;
    Ok(Json(wire::ListResult {
        value: groups.iter().map(resource_group_wire).collect(),
        next_link: next_link(&state, &headers, &uri, next),
    }))
}
