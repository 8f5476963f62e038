//! Callers: a bearer token checked by the directory's one validation function.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use cmk_directory::subscriptions::AuthorizedSubscription;
use cmk_directory::tokens::TenantRule;
use cmk_directory::{Plane, VerifiedToken};

use crate::AppState;
use crate::error::ApiError;

/// The bearer token of a request, if the `Authorization` header carries one.
pub(crate) enum Bearer<'a> {
    Missing,
    Invalid,
    Token(&'a str),
}

pub(crate) fn bearer(parts: &Parts) -> Bearer<'_> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Bearer::Missing;
    };
    let Ok(value) = value.to_str() else {
        return Bearer::Invalid;
    };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Bearer::Token(token.trim())
        }
        _ => Bearer::Invalid,
    }
}

/// A caller of the management plane (and the admin API): a valid token for the management audience from any
/// tenant of this deployment. Which subscriptions it may touch is decided per request.
pub(crate) struct ManagementCaller(pub VerifiedToken);

impl FromRequestParts<AppState> for ManagementCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let challenge = format!(
            "Bearer authorization_uri=\"{}\", error=\"invalid_token\"",
            state.urls.authority()
        );
        let token = match bearer(parts) {
            Bearer::Token(token) => token,
            Bearer::Missing => {
                return Err(ApiError::arm(
                    StatusCode::UNAUTHORIZED,
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing.",
                )
                .with_www_authenticate(challenge));
            }
            Bearer::Invalid => {
                return Err(ApiError::arm(
                    StatusCode::UNAUTHORIZED,
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is provided in an invalid format: expected 'Bearer <token>'.",
                )
                .with_www_authenticate(challenge));
            }
        };
        let token = state
            .directory
            .validate_token(token, Plane::Management, TenantRule::Any)
            .map_err(|e| ApiError::from_token_arm(e).with_www_authenticate(challenge))?;
        crate::audit::note_caller(parts, &token);
        Ok(ManagementCaller(token))
    }
}

/// A management-plane caller already authorized for the subscription its path names (`{subscription_id}`): a
/// principal of that subscription's tenant.
pub(crate) struct SubscriptionCaller(pub AuthorizedSubscription);

impl FromRequestParts<AppState> for SubscriptionCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ManagementCaller(token) = ManagementCaller::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::internal(format!("path parameters: {e}")))?;
        let subscription = params
            .iter()
            .find(|(name, _)| *name == "subscription_id")
            .map(|(_, value)| value.to_owned())
            .ok_or_else(|| ApiError::internal("a subscription route without {subscription_id}"))?;
        Ok(Self(
            state.directory.authorize_subscription(&token, &subscription).await?,
        ))
    }
}
