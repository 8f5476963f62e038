//! Every error the server sends, and the one place where domain errors become HTTP responses.
//!
//! Two shapes exist on the wire: ARM's `{"error":{"code","message"}}` (management plane, admin API), and the
//! OAuth 2.0 shape of the directory (`error`, `error_description` starting with the `AADSTS` code that Azure
//! uses for the same fault). Internal faults are logged here and answered with a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cmk_directory::{DirectoryError, TokenError};
use cmk_vault::VaultError;

#[derive(Debug)]
enum Body {
    Arm {
        code: String,
        message: String,
        inner: Option<&'static str>,
    },
    OAuth {
        error: &'static str,
        aadsts: u32,
        description: String,
    },
}

/// What a 503 asks a client to wait: a stalled commit holds others up for at most the store's lock timeout.
const RETRY_AFTER_SECONDS: u32 = 1;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Body,
    www_authenticate: Option<String>,
    extra_headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn arm(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Body::Arm {
                code: code.into(),
                message: message.into(),
                inner: None,
            },
            www_authenticate: None,
            extra_headers: Vec::new(),
        }
    }

    fn oauth(status: StatusCode, error: &'static str, aadsts: u32, description: impl Into<String>) -> Self {
        Self {
            status,
            body: Body::OAuth {
                error,
                aadsts,
                description: description.into(),
            },
            www_authenticate: None,
            extra_headers: Vec::new(),
        }
    }

    /// A fault of the server: logged with its detail, answered without it.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::arm(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "The server encountered an internal error. Please retry the request.",
        )
    }

    /// The store could not do it in time (a lock held by a stalled node, no free connection): nothing was
    /// written, and the client may retry. Azure answers such moments with 503 and `Retry-After`.
    pub fn busy(detail: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %detail, "storage busy; answered 503");
        let mut error = Self::arm(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The service is temporarily unable to complete the request. Please retry the request after the time given in Retry-After.",
        );
        error
            .extra_headers
            .push(("retry-after", RETRY_AFTER_SECONDS.to_string()));
        error
    }

    fn internal_oauth(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::oauth(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            50000,
            "There was an error issuing a token. Please retry the request.",
        )
    }

    /// Key Vault's `innererror.code`, which clients read for the precise reason (`AccessDenied`, ...).
    pub fn with_inner_code(mut self, code: &'static str) -> Self {
        if let Body::Arm { inner, .. } = &mut self.body {
            *inner = Some(code);
        }
        self
    }

    pub fn with_www_authenticate(mut self, value: String) -> Self {
        self.www_authenticate = Some(value);
        self
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.extra_headers.push((name, value));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// A path whose segments cannot be read (not UTF-8 after percent-decoding).
    pub fn invalid_path(reason: impl std::fmt::Display) -> Self {
        Self::arm(
            StatusCode::BAD_REQUEST,
            "InvalidRequestUri",
            format!("The request path is invalid: {reason}"),
        )
    }

    /// The body for a malformed request body.
    pub fn invalid_request_content(reason: impl std::fmt::Display) -> Self {
        Self::arm(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: {reason}"),
        )
    }

    /// Maps a directory error for the management plane and the admin API.
    pub fn from_directory_arm(error: DirectoryError) -> Self {
        use DirectoryError as E;
        let message = error.to_string();
        match error {
            E::InvalidSubscriptionId(id) => Self::arm(
                StatusCode::BAD_REQUEST,
                "InvalidSubscriptionId",
                format!("The provided subscription identifier '{id}' is malformed or invalid."),
            ),
            E::SubscriptionNotFound(id) => Self::arm(
                StatusCode::NOT_FOUND,
                "SubscriptionNotFound",
                format!("The subscription '{id}' could not be found."),
            ),
            E::ResourceGroupNotFound(name) => Self::arm(
                StatusCode::NOT_FOUND,
                "ResourceGroupNotFound",
                format!("Resource group '{name}' could not be found."),
            ),
            E::InvalidResourceGroupName { name, reason } => Self::arm(
                StatusCode::BAD_REQUEST,
                "InvalidResourceGroupName",
                format!("Resource group name '{name}' is invalid: {reason}."),
            ),
            E::ResourceGroupLocationConflict { requested, existing } => Self::arm(
                StatusCode::CONFLICT,
                "InvalidResourceGroupLocation",
                format!(
                    "Invalid resource group location '{requested}'. The Resource group already exists in location '{existing}'."
                ),
            ),
            E::LocationRequired => Self::arm(
                StatusCode::BAD_REQUEST,
                "LocationRequired",
                "The location property is required for this definition.",
            ),
            E::InvalidArgument { .. } | E::InvalidTenantId(_) | E::MissingParameter(_) => {
                Self::arm(StatusCode::BAD_REQUEST, "InvalidParameter", message)
            }
            E::TenantNotFound(_) => Self::arm(StatusCode::NOT_FOUND, "TenantNotFound", message),
            E::ClientNotFound { .. } => Self::arm(StatusCode::NOT_FOUND, "ServicePrincipalNotFound", message),
            E::ManagedIdentityNotFound(_) => Self::arm(StatusCode::NOT_FOUND, "ManagedIdentityNotFound", message),
            E::ManagedIdentityInOtherTenant { .. } => {
                Self::arm(StatusCode::BAD_REQUEST, "ManagedIdentityInOtherTenant", message)
            }
            E::AuthorizationFailed { .. } => Self::arm(StatusCode::FORBIDDEN, "AuthorizationFailed", message),
            E::LinkedAuthorizationFailed { .. } => {
                Self::arm(StatusCode::FORBIDDEN, "LinkedAuthorizationFailed", message)
            }
            E::InvalidArmScope(_) => Self::arm(StatusCode::BAD_REQUEST, "InvalidScope", message),
            E::RoleDefinitionNotFound(_) => Self::arm(StatusCode::NOT_FOUND, "RoleDefinitionDoesNotExist", message),
            E::UnknownRoleDefinition(_) => Self::arm(StatusCode::BAD_REQUEST, "RoleDefinitionDoesNotExist", message),
            E::RoleNotAssignableAtScope { .. } => Self::arm(
                StatusCode::BAD_REQUEST,
                "RoleAssignmentScopeNotAssignableToRoleDefinition",
                message,
            ),
            E::RoleAssignmentNotFound(_) => Self::arm(StatusCode::NOT_FOUND, "RoleAssignmentNotFound", message),
            E::RoleAssignmentExists(_) => Self::arm(StatusCode::CONFLICT, "RoleAssignmentExists", message),
            E::RoleAssignmentUpdateNotPermitted(_) => {
                Self::arm(StatusCode::BAD_REQUEST, "RoleAssignmentUpdateNotPermitted", message)
            }
            E::PrincipalNotFound { .. } => Self::arm(StatusCode::BAD_REQUEST, "PrincipalNotFound", message),
            E::PrincipalTypeMismatch { .. } => Self::arm(StatusCode::BAD_REQUEST, "UnmatchedPrincipalType", message),
            E::InvalidRoleDefinition(_) => Self::arm(StatusCode::BAD_REQUEST, "InvalidRoleDefinition", message),
            E::RoleDefinitionNameExists(_) => {
                Self::arm(StatusCode::CONFLICT, "RoleDefinitionWithSameNameExists", message)
            }
            E::BuiltInRoleImmutable(_) => Self::arm(StatusCode::BAD_REQUEST, "RoleDefinitionUpdateNotAllowed", message),
            E::RoleDefinitionHasAssignments { .. } => {
                Self::arm(StatusCode::CONFLICT, "RoleDefinitionHasAssignments", message)
            }
            E::LastOperator => Self::arm(StatusCode::CONFLICT, "LastOperator", message),
            E::NotAnOperator => Self::arm(
                StatusCode::FORBIDDEN,
                "AuthorizationFailed",
                "The client does not have authorization to perform this action: it is not an operator of this deployment.",
            ),
            E::Token(token) => Self::from_token_arm(token),
            E::Conflict(_) => Self::arm(
                StatusCode::CONFLICT,
                "Conflict",
                "The resource was changed by another request at the same time. Please retry the request.",
            ),
            E::InvalidClientSecret { .. }
            | E::UnsupportedGrantType(_)
            | E::InvalidScope(_)
            | E::UnknownResource(..) => Self::arm(StatusCode::BAD_REQUEST, "InvalidParameter", message),
            E::Store(cmk_store::StoreError::Unavailable(detail)) => Self::busy(detail),
            E::Store(_) | E::Crypto(_) | E::Corrupt(_) => Self::internal(message),
        }
    }

    /// Maps a refused token on the management plane, with ARM's codes.
    pub fn from_token_arm(error: TokenError) -> Self {
        let (code, message) = match &error {
            TokenError::Expired { expired_at, now } => (
                "ExpiredAuthenticationToken",
                format!("The access token expiry UTC time '{expired_at}' is earlier than current UTC time '{now}'."),
            ),
            TokenError::WrongAudience { audience, expected } => (
                "InvalidAuthenticationTokenAudience",
                format!(
                    "The access token has been obtained for wrong audience or resource '{audience}'. It should exactly match with one of the allowed audiences '{expected}'."
                ),
            ),
            TokenError::WrongTenant { token_tenant, required } => (
                "InvalidAuthenticationTokenTenant",
                format!(
                    "The access token is from the wrong tenant '{token_tenant}'. It must match the tenant '{required}' associated with this subscription."
                ),
            ),
            other => (
                "InvalidAuthenticationToken",
                format!("The access token is invalid: {other}."),
            ),
        };
        Self::arm(StatusCode::UNAUTHORIZED, code, message)
    }

    /// Maps a directory error at the token endpoints, with the OAuth codes and AADSTS numbers Azure uses.
    pub fn from_directory_oauth(error: DirectoryError) -> Self {
        use DirectoryError as E;
        match error {
            E::MissingParameter(name) => Self::oauth(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                format!("The request body must contain the following parameter: '{name}'."),
            ),
            E::UnsupportedGrantType(grant) => Self::oauth(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{grant}'. Only client_credentials is supported."),
            ),
            E::InvalidTenantId(tenant) | E::TenantNotFound(tenant) => Self::tenant_not_found(&tenant),
            E::ClientNotFound { client_id, tenant } => Self::oauth(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                700016,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory '{tenant}'. Check that the client id is right and that the application belongs to this tenant."
                ),
            ),
            E::InvalidClientSecret { client_id } => Self::oauth(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                ),
            ),
            E::InvalidScope(scope) => Self::oauth(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                1002012,
                format!(
                    "The provided value for scope '{scope}' is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                ),
            ),
            E::UnknownResource(resource, known) => Self::oauth(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                500011,
                format!(
                    "The resource principal named '{resource}' was not found in the tenant. Known resources: {known}."
                ),
            ),
            E::InvalidArgument { .. } => {
                let message = error.to_string();
                Self::oauth(StatusCode::BAD_REQUEST, "invalid_request", 900144, message)
            }
            E::Store(cmk_store::StoreError::Unavailable(detail)) => {
                let mut busy = Self::oauth(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    90033,
                    "A transient error has occurred. Please try again.",
                );
                tracing::warn!(error = %detail, "storage busy; answered 503");
                busy.extra_headers
                    .push(("retry-after", RETRY_AFTER_SECONDS.to_string()));
                busy
            }
            other => Self::internal_oauth(other),
        }
    }

    /// The OAuth error for an unknown tenant, at discovery and at the token endpoints.
    pub fn tenant_not_found(tenant: &str) -> Self {
        Self::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        )
    }

    pub fn oauth_invalid_request(description: impl Into<String>) -> Self {
        Self::oauth(StatusCode::BAD_REQUEST, "invalid_request", 900144, description)
    }
}

impl From<VaultError> for ApiError {
    /// Maps a vault error for the management plane.
    fn from(error: VaultError) -> Self {
        use VaultError as E;
        let message = error.to_string();
        match error {
            E::InvalidVaultName(_) => Self::arm(StatusCode::BAD_REQUEST, "VaultNameNotValid", message),
            E::VaultNotFound(..) | E::DeletedVaultNotFound(..) => {
                Self::arm(StatusCode::NOT_FOUND, "ResourceNotFound", message)
            }
            E::VaultNameTaken(_) => Self::arm(StatusCode::CONFLICT, "VaultAlreadyExists", message),
            E::VaultDeletedButRecoverable(_) => Self::arm(StatusCode::CONFLICT, "ConflictError", message),
            E::PurgeProtected(..) => Self::arm(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", message),
            E::BadRequest(_) => Self::arm(StatusCode::BAD_REQUEST, "BadRequest", message),
            E::Directory(e) => Self::from_directory_arm(e),
            E::Conflict(_) => Self::arm(
                StatusCode::CONFLICT,
                "Conflict",
                "The resource was changed by another request at the same time. Please retry the request.",
            ),
            E::AccessDenied { .. } => {
                Self::arm(StatusCode::FORBIDDEN, "Forbidden", message).with_inner_code("AccessDenied")
            }
            E::KeyNotFound(_) | E::DeletedKeyNotFound(_) => Self::arm(StatusCode::NOT_FOUND, "KeyNotFound", message),
            E::KeyDeletedButRecoverable(_) => {
                Self::arm(StatusCode::CONFLICT, "Conflict", message).with_inner_code("ObjectIsDeletedButRecoverable")
            }
            E::KeyAlreadyExists(_) => Self::arm(StatusCode::CONFLICT, "Conflict", message),
            E::RestoreAcrossTenants => Self::arm(StatusCode::FORBIDDEN, "Forbidden", message),
            E::KeyDisabled(_) => Self::arm(StatusCode::FORBIDDEN, "Forbidden", message).with_inner_code("KeyDisabled"),
            E::OperationNotAllowed { .. } => {
                Self::arm(StatusCode::FORBIDDEN, "Forbidden", message).with_inner_code("OperationNotAllowed")
            }
            E::KeyPurgeProtected(_) => Self::arm(StatusCode::FORBIDDEN, "Forbidden", message),
            E::ForbiddenByRbac { .. } => {
                Self::arm(StatusCode::FORBIDDEN, "Forbidden", message).with_inner_code("ForbiddenByRbac")
            }
            E::PermissionModelChangeDenied { .. } => Self::arm(StatusCode::FORBIDDEN, "AuthorizationFailed", message),
            E::BadParameter(_) => Self::arm(StatusCode::BAD_REQUEST, "BadParameter", message),
            E::Store(cmk_store::StoreError::Unavailable(detail)) => Self::busy(detail),
            E::Store(_) | E::Corrupt(_) | E::Crypto(_) => Self::internal(message),
        }
    }
}

impl From<cmk_account::AccountError> for ApiError {
    /// Maps an account error for the management plane and the account data plane (both speak
    /// `{"error":{"code","message"}}`).
    fn from(error: cmk_account::AccountError) -> Self {
        use cmk_account::AccountError as E;
        let message = error.to_string();
        match error {
            E::InvalidArgument { .. } => Self::arm(StatusCode::BAD_REQUEST, "BadRequest", message),
            E::AccountNotFound { .. } => Self::arm(StatusCode::NOT_FOUND, "ResourceNotFound", message),
            E::DeletedAccountNotFound { .. } => Self::arm(StatusCode::NOT_FOUND, "ResourceNotFound", message),
            E::SoftDeletedExists(_) => Self::arm(StatusCode::CONFLICT, "FlagMustBeSetForRestore", message),
            E::SubdomainTaken(_) => Self::arm(StatusCode::CONFLICT, "CustomDomainInUse", message),
            E::Cmk(refusal) => Self::arm(StatusCode::BAD_REQUEST, refusal.code(), message),
            E::KeyInaccessible { .. } => Self::arm(StatusCode::FORBIDDEN, "CustomerManagedKeyInaccessible", message),
            E::ReencryptionInProgress(_) => Self::arm(StatusCode::CONFLICT, "ReencryptionInProgress", message),
            E::NoReencryption(_) => Self::arm(StatusCode::NOT_FOUND, "ReencryptionNotFound", message),
            E::ContentNotFound(_) => Self::arm(StatusCode::NOT_FOUND, "ContentNotFound", message),
            E::InvalidContentName(_) => Self::arm(StatusCode::BAD_REQUEST, "InvalidContentName", message),
            E::ContentTooLarge { .. } => Self::arm(StatusCode::PAYLOAD_TOO_LARGE, "ContentTooLarge", message),
            E::Directory(e) => Self::from_directory_arm(e),
            E::Conflict(_) => Self::arm(
                StatusCode::CONFLICT,
                "Conflict",
                "The resource was changed by another request at the same time. Please retry the request.",
            ),
            E::Store(cmk_store::StoreError::Unavailable(detail)) => Self::busy(detail),
            E::Store(_) | E::Crypto(_) | E::Corrupt(_) => Self::internal(message),
        }
    }
}

impl From<DirectoryError> for ApiError {
    fn from(error: DirectoryError) -> Self {
        Self::from_directory_arm(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Body::Arm { code, message, inner } => {
                let body = cmk_api::ErrorResponse {
                    error: cmk_api::ErrorBody {
                        code,
                        message,
                        innererror: inner.map(|code| cmk_api::InnerError { code: code.into() }),
                    },
                };
                (self.status, axum::Json(body)).into_response()
            }
            Body::OAuth {
                error,
                aadsts,
                description,
            } => {
                let trace_id = cmk_crypto::random::random_uuid()
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                let timestamp = cmk_core::Clock::now(&cmk_core::SystemClock).to_rfc3339();
                let body = cmk_api::OAuthError {
                    error: error.into(),
                    error_description: format!(
                        "AADSTS{aadsts}: {description}\r\nTrace ID: {trace_id}\r\nTimestamp: {timestamp}"
                    ),
                    error_codes: vec![aadsts],
                    timestamp,
                    correlation_id: trace_id.clone(),
                    trace_id,
                };
                (self.status, axum::Json(body)).into_response()
            }
        };
        if let Some(value) = self.www_authenticate.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        for (name, value) in self.extra_headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}
