//! The account data plane, served at `https://{subdomain}.cognitiveservices.{suffix}`: customer content,
//! encrypted at rest under the account's data key.
//!
//! Every request first meets [`ContentCaller`]: an account key (`Ocp-Apim-Subscription-Key`), or a bearer token
//! for the cognitive-services audience from the account's tenant whose principal holds the operation's data
//! action on the account (a role such as Cognitive Services User), and then the account's data key, which is
//! refused (403) while the account's customer-managed key is inaccessible.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cmk_account::actions::data;
use cmk_account::encryption::ContentAccess;
use cmk_account::model::ContentObject;
use cmk_directory::tokens::TenantRule;
use cmk_directory::{DirectoryError, Plane};
use futures_util::StreamExt;

use crate::AppState;
use crate::auth::{Bearer, bearer};
use crate::error::ApiError;
use crate::routes::arm::query_map;

/// The subdomain a request's host names, put there by the host dispatch.
#[derive(Debug, Clone)]
pub(crate) struct AccountHost(pub String);

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/content", get(list))
        .route("/content/{*name}", get(download).head(head).put(upload).delete(remove))
        .fallback(super::no_operation)
        .method_not_allowed_fallback(super::method_not_allowed)
}

/// The account subdomain named by `host` (`contoso.cognitiveservices.localhost:8443` → `contoso`).
pub(crate) fn subdomain_of_host(host: &str, dns_suffix: &str) -> Option<String> {
    super::label_before(host, "cognitiveservices", dns_suffix)
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::arm(StatusCode::UNAUTHORIZED, "Unauthorized", message)
}

/// An authenticated caller of one account whose data key is available.
pub(crate) struct ContentCaller(ContentAccess);

impl FromRequestParts<AppState> for ContentCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(AccountHost(subdomain)) = parts.extensions.get::<AccountHost>().cloned() else {
            return Err(not_found_account(""));
        };
        let account = state
            .accounts
            .by_subdomain(&subdomain)
            .await?
            .ok_or_else(|| not_found_account(&subdomain))?;
        if let Some(key) = parts.headers.get("ocp-apim-subscription-key") {
            let key = key.to_str().unwrap_or_default();
            if !state.accounts.api_key_matches(&account, key)? {
                return Err(unauthorized(if account.disable_local_auth {
                    "Access denied: local authentication (account keys) is disabled for this account; use a bearer token."
                } else {
                    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct endpoint for your resource."
                }));
            }
        } else {
            let token = match bearer(parts) {
                Bearer::Token(token) => token,
                Bearer::Missing => {
                    return Err(unauthorized(
                        "Access denied due to missing subscription key or bearer token. Send the Ocp-Apim-Subscription-Key header or an Authorization: Bearer token.",
                    ));
                }
                Bearer::Invalid => {
                    return Err(unauthorized(
                        "The Authorization header is malformed: expected 'Bearer <token>'.",
                    ));
                }
            };
            let subscription = state.directory.get_subscription(&account.subscription_id).await?;
            let token = match state
                .directory
                .authenticate(
                    token,
                    Plane::CognitiveServices,
                    TenantRule::Exactly(subscription.tenant_id),
                )
                .await
            {
                Ok(token) => token,
                Err(DirectoryError::Token(e)) => {
                    return Err(unauthorized(&format!("The access token is invalid: {e}.")));
                }
                Err(other) => return Err(other.into()),
            };
            crate::audit::note_caller(parts, &token);
            let data_action = match parts.method {
                Method::PUT => data::CONTENT_WRITE,
                Method::DELETE => data::CONTENT_DELETE,
                _ => data::CONTENT_READ,
            };
            let permissions = state.directory.permissions(&token).await?;
            if !permissions.allows_data(data_action, &account.scope()) {
                return Err(ApiError::arm(
                    StatusCode::FORBIDDEN,
                    "PermissionDenied",
                    format!(
                        "The principal '{}' lacks the required data action '{data_action}' to perform this operation on the account '{}'. Assign it a role that grants it, such as Cognitive Services User, on the account or above.",
                        token.object_id(),
                        account.resource_id()
                    ),
                ));
            }
        }
        Ok(ContentCaller(state.accounts.open_content(account).await?))
    }
}

fn not_found_account(subdomain: &str) -> ApiError {
    ApiError::arm(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!("No account answers at the subdomain '{subdomain}'."),
    )
}

fn object_answer(object: &ContentObject) -> cmk_api::content::ContentObject {
    cmk_api::content::ContentObject {
        name: object.name.clone(),
        size: object.size,
        content_type: object.content_type.clone(),
        etag: object.etag.clone(),
        last_modified: object.last_modified.to_rfc3339(),
    }
}

fn object_headers(object: &ContentObject) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&object.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(object.size));
    if let Ok(value) = HeaderValue::from_str(&object.etag) {
        headers.insert(header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&object.last_modified.to_rfc3339()) {
        headers.insert(header::LAST_MODIFIED, value);
    }
    headers
}

async fn upload(
    State(state): State<AppState>,
    ContentCaller(access): ContentCaller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .unwrap_or("application/octet-stream");
    let limit = state.accounts.config().max_object_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(cmk_account::AccountError::ContentTooLarge { limit }.into());
    }
    let mut upload = state.accounts.begin_upload(&access, &name, content_type).await?;
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let written = match frame {
            Ok(bytes) => upload.write(&bytes).await,
            Err(e) => {
                let _ = upload.abort().await;
                return Err(ApiError::invalid_request_content(format!(
                    "the upload was interrupted: {e}"
                )));
            }
        };
        if let Err(e) = written {
            let _ = upload.abort().await;
            return Err(e.into());
        }
    }
    let (object, created) = upload.finish().await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(object_answer(&object))).into_response())
}

async fn download(
    State(state): State<AppState>,
    ContentCaller(access): ContentCaller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let download = state.accounts.download(&access, &name).await?;
    let headers = object_headers(download.object());
    // One chunk in memory at a time; a chunk that fails its check ends the body with an error, so the client
    // sees a broken transfer rather than wrong bytes.
    let stream = futures_util::stream::unfold(Some(download), |state| async move {
        let mut download = state?;
        match download.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), Some(download))),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "reading content failed");
                Some((Err(std::io::Error::other("reading content failed")), None))
            }
        }
    });
    Ok((headers, Body::from_stream(stream)).into_response())
}

async fn head(
    State(state): State<AppState>,
    ContentCaller(access): ContentCaller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let object = state.accounts.head_object(&access, &name).await?;
    Ok((object_headers(&object), Body::empty()).into_response())
}

async fn remove(
    State(state): State<AppState>,
    ContentCaller(access): ContentCaller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.accounts.delete_object(&access, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list(
    State(state): State<AppState>,
    ContentCaller(access): ContentCaller,
    uri: axum::http::Uri,
) -> Result<Json<cmk_api::content::ContentList>, ApiError> {
    let query = query_map(&uri);
    let prefix = query.get("prefix").cloned().unwrap_or_default();
    let top = crate::routes::arm::page_size(&query, "top")
        .map_err(|message| ApiError::arm(StatusCode::BAD_REQUEST, "InvalidParameter", message))?;
    let (objects, next) = state
        .accounts
        .list_objects(&access, &prefix, query.get("skipToken").map(String::as_str), top)
        .await?;
    let mut page = cmk_api::content::ContentList::last(objects.iter().map(object_answer).collect());
    if let Some(token) = next {
        let query = serde_urlencoded::to_string([
            ("prefix", prefix.as_str()),
            ("top", &top.to_string()),
            ("skipToken", &token),
        ])
        .unwrap_or_default();
        page.next_link = Some(format!(
            "{}content?{query}",
            state.urls.account_endpoint(&access.account().subdomain)
        ));
    }
    Ok(Json(page))
}

#[cfg(test)]
mod tests {
    use super::subdomain_of_host;

    #[test]
    fn subdomains_come_from_the_host() {
        assert_eq!(
            subdomain_of_host("contoso.cognitiveservices.localhost:8443", "localhost").as_deref(),
            Some("contoso")
        );
        assert_eq!(subdomain_of_host("cognitiveservices.localhost", "localhost"), None);
        assert_eq!(subdomain_of_host("kv1.vault.localhost", "localhost"), None);
    }
}
