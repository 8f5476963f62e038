//! The Key Vault data plane, served at `https://{vault}.vault.{suffix}`: one vault per host, as the SDKs need
//! (they parse key ids as `/{collection}/{name}[/{version}]`).
//!
//! Every request first meets [`VaultCaller`]: without a valid token it is answered 401 with the challenge the
//! SDKs expect (the vault's tenant and the vault resource), before the body is read. Authorization, by access
//! policy or by Azure RBAC as the vault is set up, follows in each handler, through
//! [`cmk_vault::Vaults::authorize`].

mod keys;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use cmk_directory::tokens::TenantRule;
use cmk_directory::{DirectoryError, Plane, TokenError, VerifiedToken};
use cmk_vault::access::{KeyAction, VaultAccess};
use cmk_vault::model::Vault;

use crate::AppState;
use crate::auth::{Bearer, bearer};
use crate::error::ApiError;
use crate::routes::arm::query_map;

/// The vault a request's host names, put there by the host dispatch.
#[derive(Debug, Clone)]
pub(crate) struct VaultHost(pub String);

pub(crate) fn router(state: AppState) -> Router<AppState> {
    keys::router()
        .route_layer(middleware::from_fn_with_state(
            state,
            crate::audit::audit_vault_operations,
        ))
        .route_layer(middleware::from_fn(require_api_version))
        .fallback(super::no_operation)
        .method_not_allowed_fallback(super::method_not_allowed)
}

/// The vault named by `host` (`kv1.vault.localhost:8443` → `kv1`), if it is a vault host of this deployment.
pub(crate) fn vault_of_host(host: &str, dns_suffix: &str) -> Option<String> {
    super::label_before(host, "vault", dns_suffix)
}

async fn require_api_version(request: Request, next: Next) -> Response {
    if query_map(request.uri())
        .get("api-version")
        .is_none_or(|v| v.trim().is_empty())
    {
        return ApiError::arm(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "The api-version query parameter is required (for example ?api-version=7.6).",
        )
        .into_response();
    }
    next.run(request).await
}

/// An authenticated caller of one vault: a valid token for the vault audience from the vault's tenant.
pub(crate) struct VaultCaller {
    pub vault: Vault,
    pub token: VerifiedToken,
    /// `https://{host}` as the client called it.
    pub base: String,
}

impl VaultCaller {
    /// Checks that the caller may perform `action` (on `key`, for an operation on one key).
    pub async fn authorize(
        self,
        state: &AppState,
        action: KeyAction,
        key: Option<&str>,
    ) -> Result<(VaultAccess, String), ApiError> {
        let access = state.vaults.authorize(self.vault, &self.token, action, key).await?;
        Ok((access, self.base))
    }
}

fn unauthorized(state: &AppState, vault: &Vault, message: String) -> ApiError {
    let challenge = format!(
        "Bearer authorization=\"{}/{}\", resource=\"{}\"",
        state.urls.authority(),
        vault.tenant_id,
        state.urls.vault_resource()
    );
    // Azure's vaults name their region on every answer; clients (such as the account service) read it from
    // the challenge before they hold a token.
    ApiError::arm(StatusCode::UNAUTHORIZED, "Unauthorized", message)
        .with_www_authenticate(challenge)
        .with_header("x-ms-keyvault-region", vault.location.clone())
}

fn token_message(error: &TokenError) -> String {
    match error {
        TokenError::WrongAudience { audience, expected } => {
            format!("AKV10022: Invalid audience. Expected {expected}, found: {audience}.")
        }
        TokenError::WrongTenant { token_tenant, required } => {
            format!(
                "AKV10032: Invalid issuer. The token is from tenant {token_tenant}; this vault accepts tenant {required}."
            )
        }
        other => format!("AKV10000: The token is invalid: {other}."),
    }
}

impl FromRequestParts<AppState> for VaultCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(VaultHost(name)) = parts.extensions.get::<VaultHost>().cloned() else {
            return Err(ApiError::arm(
                StatusCode::NOT_FOUND,
                "VaultNotFound",
                "This host names no vault.",
            ));
        };
        // Only a vault that is not there is "not found": a storage fault is the server's (500, or 503 while the
        // store is busy), so that callers such as the account engine never take it for a deleted vault.
        let vault = state.vaults.data_plane_vault(&name).await.map_err(|e| match e {
            cmk_vault::VaultError::VaultNotFound(..) => ApiError::arm(
                StatusCode::NOT_FOUND,
                "VaultNotFound",
                format!("No vault named '{name}' exists in this deployment."),
            ),
            other => ApiError::from(other),
        })?;
        let token = match bearer(parts) {
            Bearer::Token(token) => token,
            Bearer::Missing | Bearer::Invalid => {
                return Err(unauthorized(
                    state,
                    &vault,
                    "AKV10000: Request is missing a Bearer or PoP token.".into(),
                ));
            }
        };
        let token = match state
            .directory
            .authenticate(token, Plane::Vault, TenantRule::Exactly(vault.tenant_id))
            .await
        {
            Ok(token) => token,
            Err(DirectoryError::Token(e)) => return Err(unauthorized(state, &vault, token_message(&e))),
            Err(other) => return Err(other.into()),
        };
        crate::audit::note_caller(parts, &token);
        // Key ids name the vault as the deployment's public URL does, whichever node or port answered.
        let base = state.urls.vault_uri(&name).trim_end_matches('/').to_owned();
        Ok(VaultCaller { vault, token, base })
    }
}

#[cfg(test)]
mod tests {
    use super::vault_of_host;

    #[test]
    fn vault_names_come_from_the_host() {
        assert_eq!(
            vault_of_host("kv1.vault.localhost:8443", "localhost").as_deref(),
            Some("kv1")
        );
        assert_eq!(
            vault_of_host("KV1.Vault.LocalHost", "localhost").as_deref(),
            Some("kv1")
        );
        assert_eq!(vault_of_host("localhost:8443", "localhost"), None);
        assert_eq!(vault_of_host("vault.localhost", "localhost"), None);
        assert_eq!(vault_of_host("a.b.vault.localhost", "localhost"), None);
        assert_eq!(vault_of_host("kv1.vault.other.test", "localhost"), None);
    }
}
