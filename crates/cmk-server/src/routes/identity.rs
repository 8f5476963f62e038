//! The managed-identity endpoints, as Azure compute offers them to workloads, so that
//! `ManagedIdentityCredential` works unmodified:
//!
//! - App Service: `GET /msi/token?api-version=2019-08-01&resource=...` with `X-IDENTITY-HEADER: {secret}`
//!   (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`); answers `expires_on`.
//! - IMDS: `GET /msi/{secret}/metadata/identity/oauth2/token?resource=...` with `Metadata: true`
//!   (`AZURE_POD_IDENTITY_AUTHORITY_HOST=https://{host}/msi/{secret}`); answers `expires_in`.
//!
//! The secret names one identity; a workload that names an identity explicitly (`client_id`, `object_id`,
//! `principal_id`, `mi_res_id`, `msi_res_id`) must name that one.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cmk_api::identity as wire;
use cmk_directory::DirectoryError;
use cmk_directory::model::{ClientId, ManagedIdentityOf, ServicePrincipal, TenantId};

use crate::AppState;
use crate::routes::arm::query_map;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/msi/token", get(app_service_token))
        .route("/msi/{secret}/metadata/identity/oauth2/token", get(imds_token))
}

/// Which protocol's error shape to answer in.
#[derive(Clone, Copy)]
enum Protocol {
    AppService,
    Imds,
}

fn refuse(protocol: Protocol, status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    match protocol {
        // MSAL reads `statusCode` and `message` from App Service errors.
        Protocol::AppService => (
            status,
            Json(wire::AppServiceError {
                status_code: status.as_u16(),
                message,
            }),
        )
            .into_response(),
        Protocol::Imds => (
            status,
            Json(wire::ImdsError {
                error: "invalid_request".to_owned(),
                error_description: message,
            }),
        )
            .into_response(),
    }
}

/// Whether the identity parameters of the request, if any, name this identity.
fn names_identity(query: &HashMap<String, String>, principal: &ServicePrincipal, of: &ManagedIdentityOf) -> bool {
    let given: Vec<(&str, &String)> = ["client_id", "object_id", "principal_id", "mi_res_id", "msi_res_id"]
        .iter()
        .filter_map(|name| query.get(*name).map(|v| (*name, v)))
        .collect();
    given.iter().all(|(name, value)| match *name {
        "client_id" => value.eq_ignore_ascii_case(&principal.client_id.to_string()),
        "object_id" | "principal_id" => value.eq_ignore_ascii_case(&principal.object_id.to_string()),
        _ => value.eq_ignore_ascii_case(&of.resource_id),
    })
}

async fn issue(
    state: &AppState,
    protocol: Protocol,
    identity: Option<(TenantId, ClientId)>,
    uri: &Uri,
) -> Result<(cmk_directory::IssuedToken, ClientId), Response> {
    let Some((tenant, client)) = identity else {
        return Err(refuse(
            protocol,
            StatusCode::UNAUTHORIZED,
            "The identity secret is missing or not valid for this server.",
        ));
    };
    let query = query_map(uri);
    let Some(resource) = query.get("resource").filter(|r| !r.trim().is_empty()) else {
        return Err(refuse(
            protocol,
            StatusCode::BAD_REQUEST,
            "Required query variable 'resource' is missing.",
        ));
    };
    let (principal, of) = match state.directory.get_managed_identity(&tenant, &client).await {
        Ok(found) => found,
        Err(DirectoryError::ManagedIdentityNotFound(_)) => {
            return Err(refuse(
                protocol,
                StatusCode::BAD_REQUEST,
                "Identity not found: the managed identity was disabled or its resource deleted.",
            ));
        }
        Err(e) => return Err(crate::error::ApiError::from(e).into_response()),
    };
    if !names_identity(&query, &principal, &of) {
        return Err(refuse(
            protocol,
            StatusCode::BAD_REQUEST,
            "Identity not found: the requested identity is not assigned to this resource.",
        ));
    }
    match state
        .directory
        .issue_managed_identity_token(&tenant, &client, resource)
        .await
    {
        Ok(token) => Ok((token, client)),
        Err(e @ (DirectoryError::ManagedIdentityInOtherTenant { .. } | DirectoryError::UnknownResource(..))) => {
            Err(refuse(protocol, StatusCode::BAD_REQUEST, e.to_string()))
        }
        Err(DirectoryError::ManagedIdentityNotFound(_)) => Err(refuse(
            protocol,
            StatusCode::BAD_REQUEST,
            "Identity not found: the managed identity was disabled or its resource deleted.",
        )),
        Err(e) => Err(crate::error::ApiError::from(e).into_response()),
    }
}

async fn app_service_token(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let identity = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok())
        .and_then(|secret| state.directory.identity_of_endpoint_secret(secret));
    match issue(&state, Protocol::AppService, identity, &uri).await {
        Ok((token, client)) => Json(wire::AppServiceToken {
            access_token: token.access_token,
            expires_on: token.expires_on.unix_seconds(),
            resource: token.resource,
            token_type: wire::BEARER.to_owned(),
            client_id: client.to_string(),
        })
        .into_response(),
        Err(response) => response,
    }
}

async fn imds_token(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let metadata = headers
        .get("metadata")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !metadata {
        return refuse(
            Protocol::Imds,
            StatusCode::BAD_REQUEST,
            "Required metadata header not specified",
        );
    }
    let identity = state.directory.identity_of_endpoint_secret(&secret);
    match issue(&state, Protocol::Imds, identity, &uri).await {
        Ok((token, client)) => Json(wire::ImdsToken {
            access_token: token.access_token,
            refresh_token: String::new(),
            expires_in: token.expires_in,
            expires_on: token.expires_on.unix_seconds(),
            ext_expires_in: token.expires_in,
            not_before: token.not_before.unix_seconds(),
            resource: token.resource,
            token_type: wire::BEARER.to_owned(),
            client_id: client.to_string(),
        })
        .into_response(),
        Err(response) => response,
    }
}
