//! The management plane (ARM): subscriptions, tenants, resource groups, vaults and accounts.
//!
//! ARM matches paths without regard to case (`resourceGroups` and `resourcegroups` are one path) and keeps the
//! case of names. [`normalize_request_path`] lower-cases the fixed words of an ARM path before routing, so the
//! routes below are written in lower case and names reach handlers as the caller spelled them.

pub(crate) mod accounts;
mod resource_groups;
mod subscriptions;
mod vaults;

use std::collections::HashMap;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use cmk_crypto::encoding::{b64url_decode, b64url_encode};

use crate::AppState;
use crate::error::ApiError;

pub(super) fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .merge(subscriptions::router(&state))
        .merge(resource_groups::router(&state))
        .merge(accounts::router(&state))
        .merge(vaults::router(&state).route_layer(middleware::from_fn_with_state(
            state,
            crate::audit::audit_vault_operations,
        )))
        .route_layer(middleware::from_fn(require_api_version))
}

/// Lower-cases the fixed words of an ARM path (`subscriptions`, `resourceGroups`, `providers`, provider
/// namespaces and resource types) and drops a trailing slash; names and ids keep their case. Paths outside ARM
/// pass unchanged.
pub(crate) fn normalize_arm_path(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let first = segments.first()?;
    if !["subscriptions", "tenants", "providers"]
        .iter()
        .any(|k| first.eq_ignore_ascii_case(k))
    {
        return None;
    }
    let mut out = String::with_capacity(path.len());
    // ARM paths alternate a fixed word and a name, except that `providers` is followed by a namespace (fixed)
    // and then the alternation starts again with a resource type.
    let mut fixed_next = true;
    let mut namespace_next = false;
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 && i + 1 == segments.len() && segment.is_empty() {
            break;
        }
        out.push('/');
        if !fixed_next {
            out.push_str(segment);
            fixed_next = true;
            continue;
        }
        let lower = segment.to_ascii_lowercase();
        if namespace_next {
            namespace_next = false;
        } else if lower == "providers" {
            namespace_next = true;
        } else {
            fixed_next = false;
        }
        out.push_str(&lower);
    }
    Some(out)
}

pub(crate) async fn normalize_request_path(mut request: Request) -> Request {
    let uri = request.uri();
    if let Some(path) = normalize_arm_path(uri.path()) {
        let path_and_query = match uri.query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        let mut parts = uri.clone().into_parts();
        if let Ok(pq) = path_and_query.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
    }
    request
}

/// The query parameters of a request (last value wins, as ARM does).
pub(crate) fn query_map(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .map(|pairs| pairs.into_iter().collect())
        .unwrap_or_default()
}

/// Every ARM request names an api-version; any value is accepted, so new SDKs keep working.
pub(crate) async fn require_api_version(request: Request, next: Next) -> Response {
    let has_version = query_map(request.uri())
        .get("api-version")
        .is_some_and(|v| !v.trim().is_empty());
    if !has_version {
        return ApiError::arm(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
        .into_response();
    }
    next.run(request).await
}

/// `$top` and `$skiptoken` of a list request.
pub(crate) struct Paging {
    pub top: usize,
    pub start_after: Option<String>,
}

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// The page size a list request asks for in `param` (default 100, at most 1000), or why it is invalid.
pub(crate) fn page_size(query: &HashMap<String, String>, param: &str) -> Result<usize, String> {
    match query.get(param) {
        None => Ok(DEFAULT_PAGE),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(format!(
                "The value '{text}' of {param} is invalid: use a whole number from 1 to {MAX_PAGE}."
            )),
        },
    }
}

impl Paging {
    pub fn from_uri(uri: &Uri) -> Result<Self, ApiError> {
        let query = query_map(uri);
        let top = page_size(&query, "$top")
            .map_err(|message| ApiError::arm(StatusCode::BAD_REQUEST, "InvalidTopValue", message))?;
        let start_after = match query.get("$skiptoken") {
            None => None,
            Some(token) => {
                let bytes = b64url_decode(token).ok().and_then(|b| String::from_utf8(b).ok());
                Some(bytes.ok_or_else(|| {
                    ApiError::arm(
                        StatusCode::BAD_REQUEST,
                        "InvalidSkipToken",
                        "The $skiptoken value is malformed.",
                    )
                })?)
            }
        };
        Ok(Self { top, start_after })
    }
}

/// The `nextLink` of a list page: the same URL with a continuation token.
pub(crate) fn next_link(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    continuation: Option<String>,
) -> Option<String> {
    let continuation = continuation?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| {
            state
                .urls
                .management_endpoint()
                .trim_start_matches("https://")
                .trim_end_matches('/')
                .to_owned()
        });
    let mut query: Vec<(String, String)> = query_map(uri).into_iter().filter(|(k, _)| k != "$skiptoken").collect();
    query.sort();
    query.push(("$skiptoken".into(), b64url_encode(continuation)));
    let query = serde_urlencoded::to_string(&query).ok()?;
    Some(format!("https://{host}{}?{query}", uri.path()))
}

#[cfg(test)]
mod tests {
    use super::normalize_arm_path;

    #[test]
    fn fixed_words_are_lowercased_and_names_kept() {
        assert_eq!(
            normalize_arm_path("/Subscriptions/ABC/resourceGroups/My-RG").as_deref(),
            Some("/subscriptions/ABC/resourcegroups/My-RG")
        );
        assert_eq!(
            normalize_arm_path(
                "/subscriptions/S/resourceGroups/RG/providers/Microsoft.KeyVault/vaults/KV/accessPolicies/add"
            )
            .as_deref(),
            Some("/subscriptions/S/resourcegroups/RG/providers/microsoft.keyvault/vaults/KV/accesspolicies/add")
        );
        assert_eq!(
            normalize_arm_path("/subscriptions/S/providers/Microsoft.KeyVault/deletedVaults").as_deref(),
            Some("/subscriptions/S/providers/microsoft.keyvault/deletedvaults")
        );
        assert_eq!(normalize_arm_path("/subscriptions/").as_deref(), Some("/subscriptions"));
        assert_eq!(normalize_arm_path("/TENANTS").as_deref(), Some("/tenants"));
        assert_eq!(normalize_arm_path("/tenant-id/oauth2/v2.0/token"), None);
    }
}
