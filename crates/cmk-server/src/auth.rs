//! Callers: a bearer token checked by the directory's one validation function, and, on the management plane,
//! the action each operation is authorized for.
//!
//! Every ARM route is registered with [`operation`] (or [`listing`]), which names its Azure action and how its
//! scope follows from the path. A layer authorizes the caller for that action at that scope before anything
//! else runs (the body is not even read for a refused caller, as in ARM) and leaves the proof for the handler's
//! [`Authorized`] extractor; a handler registered without a requirement finds no proof and fails closed.

use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use cmk_directory::authorization::Scope;
use cmk_directory::model::SubscriptionId;
use cmk_directory::subscriptions::AuthorizedSubscription;
use cmk_directory::tokens::TenantRule;
use cmk_directory::{DirectoryError, Plane, VerifiedToken};

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
/// tenant of this deployment, of a principal that still exists. What it may do is decided per operation.
#[derive(Clone)]
pub(crate) struct ManagementCaller(pub VerifiedToken);

impl FromRequestParts<AppState> for ManagementCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<ManagementCaller>() {
            return Ok(caller.clone());
        }
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
        let token = match state
            .directory
            .authenticate(token, Plane::Management, TenantRule::Any)
            .await
        {
            Ok(token) => token,
            Err(DirectoryError::Token(e)) => return Err(ApiError::from_token_arm(e).with_www_authenticate(challenge)),
            Err(other) => return Err(other.into()),
        };
        crate::audit::note_caller(parts, &token);
        let caller = ManagementCaller(token);
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// Path parameters by name.
pub(crate) struct PathParams(Vec<(String, String)>);

impl PathParams {
    pub fn get(&self, name: &str) -> Result<&str, ApiError> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| ApiError::internal(format!("a route without the path parameter {{{name}}}")))
    }

    pub fn subscription(&self) -> Result<SubscriptionId, ApiError> {
        let text = self.get("subscription_id")?;
        SubscriptionId::parse(text).ok_or_else(|| DirectoryError::InvalidSubscriptionId(text.to_owned()).into())
    }
}

/// How a route's scope follows from its path parameters.
pub(crate) type ScopeOf = fn(&PathParams) -> Result<Scope, ApiError>;

pub(crate) fn subscription_scope(params: &PathParams) -> Result<Scope, ApiError> {
    Ok(Scope::subscription(params.subscription()?))
}

pub(crate) fn group_scope(params: &PathParams) -> Result<Scope, ApiError> {
    Ok(Scope::resource_group(
        params.subscription()?,
        params.get("resource_group")?,
    ))
}

/// What a route needs: an action at a scope, or (for a listing) any role at, above or below it, with the
/// listing keeping only what the caller may read.
#[derive(Clone, Copy)]
struct Requirement {
    action: &'static str,
    scope: ScopeOf,
    listing: bool,
}

impl Requirement {
    fn new(action: &'static str, scope: ScopeOf, listing: bool) -> Self {
        Requirement { action, scope, listing }
    }
}

async fn authorize_operation(
    State((state, requirement)): State<(AppState, Requirement)>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    match authorize_parts(&mut parts, &state, requirement).await {
        Ok(proof) => {
            parts.extensions.insert(proof);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(refusal) => refusal.into_response(),
    }
}

async fn authorize_parts(
    parts: &mut Parts,
    state: &AppState,
    requirement: Requirement,
) -> Result<Authorized, ApiError> {
    let ManagementCaller(token) = ManagementCaller::from_request_parts(parts, state).await?;
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::invalid_path(e.body_text()))?;
    let params = PathParams(params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect());
    let scope = (requirement.scope)(&params)?;
    let proof = if requirement.listing {
        state
            .directory
            .authorize_listing(&token, requirement.action, &scope)
            .await?
    } else {
        state.directory.authorize(&token, requirement.action, &scope).await?
    };
    Ok(Authorized(proof))
}

fn with_requirement<H, T>(
    state: &AppState,
    method: MethodFilter,
    handler: H,
    requirement: Requirement,
) -> MethodRouter<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    axum::routing::on(method, handler).route_layer(middleware::from_fn_with_state(
        (state.clone(), requirement),
        authorize_operation,
    ))
}

/// The methods of one ARM route, each registered with what it needs:
/// `operations(&state).on(MethodFilter::GET, read, VAULT_READ, vault_scope).into_router()`.
pub(crate) struct Operations {
    state: AppState,
    router: MethodRouter<AppState>,
}

pub(crate) fn operations(state: &AppState) -> Operations {
    Operations {
        state: state.clone(),
        router: MethodRouter::new(),
    }
}

impl Operations {
    fn add<H, T>(self, method: MethodFilter, handler: H, requirement: Requirement) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let route = with_requirement(&self.state, method, handler, requirement);
        Operations {
            router: self.router.merge(route),
            state: self.state,
        }
    }

    /// `method` performs `action` at the scope `scope` computes from the path.
    pub fn on<H, T>(self, method: MethodFilter, handler: H, action: &'static str, scope: ScopeOf) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(method, handler, Requirement::new(action, scope, false))
    }

    /// `method` lists what the caller may read (`action`) at the scope `scope` computes from the path.
    pub fn list<H, T>(self, method: MethodFilter, handler: H, action: &'static str, scope: ScopeOf) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(method, handler, Requirement::new(action, scope, true))
    }

    pub fn into_router(self) -> MethodRouter<AppState> {
        self.router
    }
}

/// The proof that the route's requirement was met, for its handler.
#[derive(Clone)]
pub(crate) struct Authorized(pub AuthorizedSubscription);

impl FromRequestParts<AppState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .remove::<Authorized>()
            .ok_or_else(|| ApiError::internal("a management route was registered without an authorization requirement"))
    }
}
