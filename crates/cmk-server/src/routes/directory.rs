//! The directory's public endpoints: OpenID Connect discovery, the signing keys, and the token endpoints of
//! v2.0 (`scope`) and v1.0 (`resource`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cmk_api::token::{JsonWebKeySet, OpenIdConfiguration, SigningKey, TokenResponseV1};
use cmk_crypto::SecretString;
use cmk_directory::TokenRequest;

use crate::AppState;
use crate::error::ApiError;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(openid_configuration_v1),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route("/{tenant}/discovery/keys", get(keys))
        .route("/{tenant}/oauth2/v2.0/token", post(token_v2))
        .route("/{tenant}/oauth2/token", post(token_v1))
}

async fn known_tenant(state: &AppState, tenant: &str) -> Result<String, ApiError> {
    match state.directory.get_tenant_by_text(tenant).await {
        Ok(found) => Ok(found.id.to_string()),
        Err(e) if !e.is_internal() => Err(ApiError::tenant_not_found(tenant)),
        Err(e) => Err(ApiError::internal(e)),
    }
}

fn openid_configuration(state: &AppState, tenant: &str, v2: bool) -> OpenIdConfiguration {
    let authority = state.urls.authority();
    let base = format!("{authority}/{tenant}");
    let (oauth, discovery, issuer) = if v2 {
        (
            format!("{base}/oauth2/v2.0"),
            format!("{base}/discovery/v2.0/keys"),
            format!("{base}/v2.0"),
        )
    } else {
        (
            format!("{base}/oauth2"),
            format!("{base}/discovery/keys"),
            format!("{base}/v2.0"),
        )
    };
    let texts = |items: &[&str]| items.iter().map(|&item| item.to_owned()).collect::<Vec<_>>();
    OpenIdConfiguration {
        issuer,
        token_endpoint: format!("{oauth}/token"),
        token_endpoint_auth_methods_supported: texts(&["client_secret_post"]),
        jwks_uri: discovery,
        // MSAL requires an authorization endpoint in the document; cmk issues tokens to applications only
        // (client credentials), so this endpoint answers no interactive sign-in.
        authorization_endpoint: format!("{oauth}/authorize"),
        grant_types_supported: texts(&["client_credentials"]),
        response_types_supported: texts(&["token"]),
        subject_types_supported: texts(&["pairwise"]),
        id_token_signing_alg_values_supported: texts(&["RS256"]),
        scopes_supported: Vec::new(),
        request_uri_parameter_supported: false,
        tenant_region_scope: None,
        cloud_instance_name: state.urls.dns_suffix.clone(),
    }
}

async fn openid_configuration_v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = known_tenant(&state, &tenant).await?;
    Ok(axum::Json(openid_configuration(&state, &tenant, true)).into_response())
}

async fn openid_configuration_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = known_tenant(&state, &tenant).await?;
    Ok(axum::Json(openid_configuration(&state, &tenant, false)).into_response())
}

async fn keys(State(state): State<AppState>, Path(tenant): Path<String>) -> Result<Response, ApiError> {
    known_tenant(&state, &tenant).await?;
    let keys = state
        .directory
        .signing_jwks()
        .into_iter()
        .map(|key| SigningKey {
            kty: key.kty.to_owned(),
            use_: key.use_.to_owned(),
            alg: key.alg.to_owned(),
            kid: key.kid,
            n: key.n,
            e: key.e,
        })
        .collect();
    Ok(axum::Json(JsonWebKeySet { keys }).into_response())
}

/// Parses the form body of a token request. Repeated parameters are refused: which one would win is not
/// something a security check should guess.
fn parse_token_request(body: &[u8]) -> Result<TokenRequest, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
        ApiError::oauth_invalid_request("The request body must be application/x-www-form-urlencoded parameters.")
    })?;
    let mut request = TokenRequest::default();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in &pairs {
        if seen.contains(&name.as_str()) {
            return Err(ApiError::oauth_invalid_request(format!(
                "The parameter '{name}' appears more than once."
            )));
        }
        seen.push(name);
        let value = Some(value.clone());
        match name.as_str() {
            "grant_type" => request.grant_type = value,
            "client_id" => request.client_id = value,
            "client_secret" => request.client_secret = value.map(SecretString::new),
            "scope" => request.scope = value,
            "resource" => request.resource = value,
            // client_info, claims and other MSAL extras do not change a client-credentials token.
            _ => {}
        }
    }
    Ok(request)
}

fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store, no-cache"),
    );
    headers.insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    response
}

async fn token_v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = parse_token_request(&body)?;
    let issued = state
        .directory
        .issue_client_credentials_token(&tenant, &request)
        .await
        .map_err(ApiError::from_directory_oauth)?;
    Ok(no_store(axum::Json(cmk_api::TokenResponse {
        token_type: "Bearer".into(),
        expires_in: issued.expires_in,
        ext_expires_in: issued.expires_in,
        access_token: issued.access_token,
    })))
}

async fn token_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = parse_token_request(&body)?;
    let issued = state
        .directory
        .issue_client_credentials_token(&tenant, &request)
        .await
        .map_err(ApiError::from_directory_oauth)?;
    // The v1.0 endpoint writes numbers as strings.
    Ok(no_store(axum::Json(TokenResponseV1 {
        token_type: "Bearer".into(),
        expires_in: issued.expires_in,
        ext_expires_in: issued.expires_in,
        expires_on: issued.expires_on.unix_seconds(),
        not_before: issued.not_before.unix_seconds(),
        resource: issued.resource,
        access_token: issued.access_token,
    })))
}
