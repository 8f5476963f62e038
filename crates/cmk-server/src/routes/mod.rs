//! The route table of every plane, and the middleware all requests pass.

mod account_data;
mod admin;
pub(crate) mod arm;
mod authorization;
mod directory;
mod health;
mod identity;
pub(crate) mod keyvault;

use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

use crate::AppState;
use crate::error::ApiError;
use crate::metrics::Plane;

/// The whole application. The ARM path normalization has to run before routing, so the routed application
/// sits behind an outer router whose middleware rewrites the URI first.
pub(crate) fn app(state: AppState) -> Router {
    let main = Router::new()
        .merge(health::router())
        .merge(directory::router())
        .merge(identity::router())
        .merge(arm::router(state.clone()))
        .merge(admin::router(state.dev_clock.is_some()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());
    let vaults = keyvault::router(state.clone()).with_state(state.clone());
    let accounts = account_data::router().with_state(state.clone());
    let authorization = authorization::router()
        .route_layer(middleware::from_fn(arm::require_api_version))
        .with_state(state.clone());
    let dns_suffix = state.urls.dns_suffix.clone();
    // Planes are told apart by host, as in Azure: `{vault}.vault.{suffix}` is a vault's data plane,
    // `{subdomain}.cognitiveservices.{suffix}` an account's.
    let dispatch = move |mut request: Request| {
        let (main, vaults, accounts, authorization) =
            (main.clone(), vaults.clone(), accounts.clone(), authorization.clone());
        // Told once per request, by the logging layer in front.
        let destination = request
            .extensions_mut()
            .remove::<Destination>()
            .unwrap_or_else(|| Destination::of(&request, &dns_suffix));
        async move {
            let routed = match destination {
                Destination::Vault(name) => {
                    request.extensions_mut().insert(keyvault::VaultHost(name));
                    vaults.oneshot(request).await
                }
                Destination::Account(subdomain) => {
                    request.extensions_mut().insert(account_data::AccountHost(subdomain));
                    accounts.oneshot(request).await
                }
                Destination::Management => match split_authorization_scope(&mut request) {
                    Some(scope) => {
                        request.extensions_mut().insert(scope);
                        authorization.oneshot(request).await
                    }
                    None => main.oneshot(request).await,
                },
            };
            match routed {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
    };
    Router::new()
        .fallback(dispatch)
        .layer(middleware::map_request(arm::normalize_request_path))
        .layer(middleware::from_fn_with_state(state, log_requests))
}

/// For an ARM path `{scope}/providers/Microsoft.Authorization/{rest}` (already normalized to lower-case fixed
/// words), cuts the scope off and leaves `/{rest}` as the path the authorization routes see.
fn split_authorization_scope(request: &mut Request) -> Option<authorization::AuthorizationScope> {
    let uri = request.uri();
    let path = uri.path();
    let at = path.find(authorization::PROVIDER)?;
    let scope = path[..at].to_owned();
    let rest = &path[at + authorization::PROVIDER.len() - 1..];
    let path_and_query = match uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    *request.uri_mut() = Uri::from_parts(parts).ok()?;
    Some(authorization::AuthorizationScope(scope))
}

/// The one label in front of `.{plane}.{suffix}` in `host`, without regard to case and port:
/// `kv1` for `kv1.vault.localhost:8443` and plane `vault`.
pub(crate) fn label_before(host: &str, plane: &str, dns_suffix: &str) -> Option<String> {
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    let host = host.to_ascii_lowercase();
    let label = host.strip_suffix(&format!(".{plane}.{dns_suffix}"))?;
    (!label.is_empty() && !label.contains('.')).then(|| label.to_owned())
}

/// The plane a request is for, and which vault or account it names.
#[derive(Clone)]
enum Destination {
    Vault(String),
    Account(String),
    Management,
}

impl Destination {
    fn of(request: &Request, dns_suffix: &str) -> Self {
        let Some(host) = request_host(request) else {
            return Destination::Management;
        };
        if let Some(name) = keyvault::vault_of_host(&host, dns_suffix) {
            Destination::Vault(name)
        } else if let Some(subdomain) = account_data::subdomain_of_host(&host, dns_suffix) {
            Destination::Account(subdomain)
        } else {
            Destination::Management
        }
    }

    fn plane(&self) -> Plane {
        match self {
            Destination::Vault(_) => Plane::Vault,
            Destination::Account(_) => Plane::Account,
            Destination::Management => Plane::Management,
        }
    }
}

/// The host a request is for: the `Host` header (HTTP/1.1) or the URI authority (HTTP/2).
fn request_host(request: &Request) -> Option<String> {
    request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::arm(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("No endpoint matches the path '{}'.", uri.path()),
    )
}

/// The fallback of the data planes, whose paths are operations rather than resources.
pub(super) async fn no_operation(request: Request) -> ApiError {
    ApiError::arm(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("No operation matches the path '{}'.", request.uri().path()),
    )
}

pub(super) async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::arm(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!(
            "The method '{}' is not allowed on '{}'.",
            request.method(),
            request.uri().path()
        ),
    )
}

/// The path as logged: the IMDS path carries an identity's endpoint secret, which never reaches a log.
fn loggable_path(path: &str) -> String {
    match path.strip_prefix("/msi/") {
        Some(rest) if rest != "token" => match rest.split_once('/') {
            Some((_, tail)) => format!("/msi/[redacted]/{tail}"),
            None => "/msi/[redacted]".into(),
        },
        _ => path.to_owned(),
    }
}

/// One log line per request, with a request id that is also returned to the client. Query strings, headers
/// and bodies are never logged: they may carry secrets.
async fn log_requests(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = loggable_path(request.uri().path());
    let destination = Destination::of(&request, &state.urls.dns_suffix);
    let plane = destination.plane();
    request.extensions_mut().insert(destination);
    let key_operation = (plane == Plane::Vault)
        .then(|| crate::metrics::key_operation_of(&path))
        .flatten();
    let request_id = cmk_crypto::random::random_uuid()
        .map(|u| u.to_string())
        .unwrap_or_default();
    request
        .extensions_mut()
        .insert(crate::audit::RequestId(request_id.clone()));
    let mut response = next.run(request).await.into_response();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-ms-request-id", value.clone());
        response.headers_mut().insert("x-ms-correlation-request-id", value);
    }
    state
        .node
        .metrics
        .record(plane, response.status().as_u16(), started.elapsed(), key_operation);
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        request_id,
        "request"
    );
    response
}
