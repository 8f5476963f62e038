//! Access tokens: issued by the client-credentials grant, checked by [`Directory::validate_token`] on every
//! plane. Tokens are RS256 JWTs in the v2.0 shape (`iss` = `{authority}/{tenant}/v2.0`), carrying both the
//! v1 `appid` and the v2 `azp` claims so clients written for either read them.

use cmk_core::Timestamp;
use cmk_crypto::SecretString;
use cmk_crypto::jws::{self, JwsError, UnverifiedJws};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{ClientId, ObjectId, ServicePrincipal, TenantId, keys};
use crate::{Directory, DirectoryError, records};

/// The planes that accept tokens; each has one resource identifier (audience).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plane {
    Management,
    Vault,
    CognitiveServices,
}

#[derive(Debug, Clone)]
pub struct Audience {
    pub plane: Plane,
    /// The resource identifier, e.g. `https://vault.localhost:8443`.
    pub resource_id: String,
}

/// Resource identifiers compare without one trailing slash: `https://x/` and `https://x` name one resource,
/// as in Azure (`https://management.azure.com/` and `https://management.azure.com`).
fn normalize_resource(resource: &str) -> String {
    resource.strip_suffix('/').unwrap_or(resource).to_ascii_lowercase()
}

/// A token request as the OAuth 2.0 token endpoint receives it (form fields, unvalidated).
#[derive(Debug, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    /// v2.0 endpoint: `<resource>/.default`.
    pub scope: Option<String>,
    /// v1.0 endpoint: the resource itself.
    pub resource: Option<String>,
}

#[derive(Debug)]
pub struct IssuedToken {
    pub access_token: SecretString,
    pub expires_in: i64,
    pub expires_on: Timestamp,
    pub not_before: Timestamp,
    /// The resource the token is for, as requested.
    pub resource: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Claims {
    aud: String,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    tid: TenantId,
    oid: ObjectId,
    sub: String,
    appid: ClientId,
    azp: ClientId,
    /// 1: authenticated with a client secret.
    appidacr: String,
    azpacr: String,
    idtyp: String,
    ver: String,
    /// Unique token id.
    uti: String,
    /// A managed identity's resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    xms_mirid: Option<String>,
}

/// Why a token was refused. Each variant maps to its own error code on every plane.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token algorithm '{0}' is not accepted; tokens are signed with RS256")]
    UnsupportedAlgorithm(String),
    #[error("the token was signed with an unknown key")]
    UnknownSigningKey,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token expired at {expired_at}; the time is now {now}")]
    Expired { expired_at: Timestamp, now: Timestamp },
    #[error("the token is not valid before {not_before}; the time is now {now}")]
    NotYetValid { not_before: Timestamp, now: Timestamp },
    #[error("the token was obtained for the audience '{audience}', but this endpoint accepts '{expected}'")]
    WrongAudience { audience: String, expected: String },
    #[error("the token issuer '{0}' is not trusted")]
    WrongIssuer(String),
    #[error("the token is from tenant '{token_tenant}', but the resource belongs to tenant '{required}'")]
    WrongTenant { token_tenant: TenantId, required: TenantId },
    /// The principal was deleted (or the managed identity disabled) after the token was issued.
    #[error("the principal with object id '{0}' no longer exists in the directory")]
    PrincipalGone(ObjectId),
}

impl From<JwsError> for TokenError {
    fn from(error: JwsError) -> Self {
        match error {
            JwsError::Malformed(reason) => TokenError::Malformed(reason.to_owned()),
            JwsError::UnsupportedAlgorithm(alg) => TokenError::UnsupportedAlgorithm(alg),
            JwsError::BadSignature => TokenError::BadSignature,
        }
    }
}

/// Which tenant a token must come from.
#[derive(Debug, Clone, Copy)]
pub enum TenantRule {
    /// Any tenant of this deployment; the caller checks the tenant once it knows the resource.
    Any,
    Exactly(TenantId),
}

/// A token that passed [`Directory::validate_token`]. It can only be made there, so holding one proves the
/// caller authenticated.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    tenant_id: TenantId,
    object_id: ObjectId,
    client_id: ClientId,
    plane: Plane,
    audience: String,
    expires_at: Timestamp,
}

impl VerifiedToken {
    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    pub fn object_id(&self) -> ObjectId {
        self.object_id
    }

    pub fn client_id(&self) -> ClientId {
        self.client_id
    }

    pub fn plane(&self) -> Plane {
        self.plane
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// The tenant check for resources found after validation (a subscription named in a path).
    pub fn ensure_tenant(&self, required: TenantId) -> Result<(), TokenError> {
        if self.tenant_id == required {
            Ok(())
        } else {
            Err(TokenError::WrongTenant {
                token_tenant: self.tenant_id,
                required,
            })
        }
    }
}

/// OpenID Connect scopes that MSAL may add; they name no resource.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

impl Directory {
    /// The audience of `plane`.
    pub fn audience(&self, plane: Plane) -> Option<&Audience> {
        self.inner.config.audiences.iter().find(|a| a.plane == plane)
    }

    fn audience_for_resource(&self, resource: &str) -> Option<&Audience> {
        let wanted = normalize_resource(resource);
        self.inner
            .config
            .audiences
            .iter()
            .find(|a| normalize_resource(&a.resource_id) == wanted)
    }

    /// The client-credentials grant (RFC 6749 section 4.4) at `/{tenant}/oauth2/v2.0/token` (and the v1.0
    /// form with `resource`).
    pub async fn issue_client_credentials_token(
        &self,
        tenant: &str,
        request: &TokenRequest,
    ) -> Result<IssuedToken, DirectoryError> {
        let grant_type = request
            .grant_type
            .as_deref()
            .ok_or(DirectoryError::MissingParameter("grant_type"))?;
        if grant_type != "client_credentials" {
            return Err(DirectoryError::UnsupportedGrantType(grant_type.to_owned()));
        }
        let tenant = self.get_tenant_by_text(tenant).await?;
        let client_text = request
            .client_id
            .as_deref()
            .ok_or(DirectoryError::MissingParameter("client_id"))?;
        let client_not_found = || DirectoryError::ClientNotFound {
            client_id: client_text.to_owned(),
            tenant: tenant.id.to_string(),
        };
        let client_id = ClientId::parse(client_text).ok_or_else(client_not_found)?;
        let principal = records::get::<ServicePrincipal>(self.store(), &keys::principal(&tenant.id, &client_id))
            .await?
            .ok_or_else(client_not_found)?
            .value;
        let secret = request
            .client_secret
            .as_ref()
            .ok_or(DirectoryError::MissingParameter("client_secret"))?;
        if !principal.secrets.iter().any(|s| s.hash.matches(secret.expose())) {
            return Err(DirectoryError::InvalidClientSecret {
                client_id: client_text.to_owned(),
            });
        }
        let resource = requested_resource(request)?;
        self.ensure_known_resource(&resource)?;
        self.sign_token(&principal, resource)
    }

    pub(crate) fn ensure_known_resource(&self, resource: &str) -> Result<(), DirectoryError> {
        if self.audience_for_resource(resource).is_none() {
            let known: Vec<&str> = self
                .inner
                .config
                .audiences
                .iter()
                .map(|a| a.resource_id.as_str())
                .collect();
            return Err(DirectoryError::UnknownResource(resource.to_owned(), known.join(", ")));
        }
        Ok(())
    }

    pub(crate) fn sign_token(
        &self,
        principal: &ServicePrincipal,
        resource: String,
    ) -> Result<IssuedToken, DirectoryError> {
        let config = &self.inner.config;
        let now = self.clock().now();
        let expires_on = now.plus_seconds(config.token_lifetime_seconds);
        // 1: the client proved itself with a secret; 2: a managed identity (as Azure marks them).
        let acr = if principal.managed_identity.is_some() { "2" } else { "1" };
        let claims = Claims {
            aud: resource.clone(),
            iss: self.issuer(&principal.tenant_id),
            iat: now.unix_seconds(),
            nbf: now.unix_seconds(),
            exp: expires_on.unix_seconds(),
            tid: principal.tenant_id,
            oid: principal.object_id,
            sub: principal.object_id.to_string(),
            appid: principal.client_id,
            azp: principal.client_id,
            appidacr: acr.into(),
            azpacr: acr.into(),
            idtyp: "app".into(),
            ver: "2.0".into(),
            uti: cmk_crypto::encoding::b64url_encode(cmk_crypto::random::random_array::<16>()?),
            xms_mirid: principal.managed_identity.as_ref().map(|m| m.resource_id.clone()),
        };
        let (kid, key) = self.inner.signing.current();
        let token = jws::sign_rs256(key, kid, &claims)?;
        Ok(IssuedToken {
            access_token: SecretString::new(token),
            expires_in: config.token_lifetime_seconds,
            expires_on,
            not_before: now,
            resource,
        })
    }

    /// The one token check of the product: signature (RS256 by a directory key), issuer, audience of `plane`,
    /// expiry and not-before (with the configured skew), and tenant.
    pub fn validate_token(&self, token: &str, plane: Plane, tenant: TenantRule) -> Result<VerifiedToken, TokenError> {
        let claims = match self.inner.verified_tokens.get(token) {
            Some(claims) => claims,
            None => {
                let parsed = UnverifiedJws::parse(token)?;
                let kid = parsed.header().kid.as_deref().ok_or(TokenError::UnknownSigningKey)?;
                let key = self
                    .inner
                    .signing
                    .verification_key(kid)
                    .ok_or(TokenError::UnknownSigningKey)?;
                let payload = parsed.verify_rs256(key)?;
                let claims: Arc<Claims> = Arc::new(
                    serde_json::from_slice(&payload).map_err(|e| TokenError::Malformed(format!("claims: {e}")))?,
                );
                self.inner.verified_tokens.put(token, claims.clone());
                claims
            }
        };
        let claims = claims.as_ref().clone();

        if claims.iss != self.issuer(&claims.tid) || claims.ver != "2.0" {
            return Err(TokenError::WrongIssuer(claims.iss));
        }
        let now = self.clock().now();
        let skew = self.inner.config.clock_skew_seconds;
        let expired_at = Timestamp::from_unix_seconds(claims.exp);
        if now.unix_seconds() >= claims.exp.saturating_add(skew) {
            return Err(TokenError::Expired { expired_at, now });
        }
        if now.unix_seconds().saturating_add(skew) < claims.nbf {
            return Err(TokenError::NotYetValid {
                not_before: Timestamp::from_unix_seconds(claims.nbf),
                now,
            });
        }
        let expected = self.audience(plane).map(|a| a.resource_id.clone()).unwrap_or_default();
        if normalize_resource(&claims.aud) != normalize_resource(&expected) {
            return Err(TokenError::WrongAudience {
                audience: claims.aud,
                expected,
            });
        }
        let verified = VerifiedToken {
            tenant_id: claims.tid,
            object_id: claims.oid,
            client_id: claims.appid,
            plane,
            audience: claims.aud,
            expires_at: expired_at,
        };
        if let TenantRule::Exactly(required) = tenant {
            verified.ensure_tenant(required)?;
        }
        Ok(verified)
    }
}

impl Directory {
    /// [`Directory::validate_token`], and then that the token's principal still exists: a deleted service
    /// principal or a disabled managed identity is refused at once, not when its tokens expire (as Azure would
    /// let them). The principal's record is read on every call; on the embedded store that read is served from
    /// memory.
    pub async fn authenticate(
        &self,
        token: &str,
        plane: Plane,
        tenant: TenantRule,
    ) -> Result<VerifiedToken, DirectoryError> {
        let verified = self.validate_token(token, plane, tenant)?;
        let key = keys::principal(&verified.tenant_id(), &verified.client_id());
        match records::get::<ServicePrincipal>(self.store(), &key).await? {
            Some(principal) if principal.value.object_id == verified.object_id() => Ok(verified),
            _ => Err(TokenError::PrincipalGone(verified.object_id()).into()),
        }
    }
}

/// The resource a token is requested for: the v2.0 `scope` (`<resource>/.default`, OIDC scopes ignored) or
/// the v1.0 `resource`.
fn requested_resource(request: &TokenRequest) -> Result<String, DirectoryError> {
    if let Some(scope) = request.scope.as_deref() {
        let resource_scopes: Vec<&str> = scope.split_whitespace().filter(|s| !OIDC_SCOPES.contains(s)).collect();
        return match resource_scopes.as_slice() {
            [single] => single
                .strip_suffix("/.default")
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| DirectoryError::InvalidScope(scope.to_owned())),
            _ => Err(DirectoryError::InvalidScope(scope.to_owned())),
        };
    }
    match request.resource.as_deref() {
        Some(resource) if !resource.is_empty() => Ok(resource.to_owned()),
        _ => Err(DirectoryError::MissingParameter("scope")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(scope: Option<&str>, resource: Option<&str>) -> TokenRequest {
        TokenRequest {
            scope: scope.map(Into::into),
            resource: resource.map(Into::into),
            ..TokenRequest::default()
        }
    }

    #[test]
    fn resource_comes_from_default_scope_or_resource() {
        assert_eq!(
            requested_resource(&request(Some("https://x/.default"), None))
                .ok()
                .as_deref(),
            Some("https://x")
        );
        assert_eq!(
            requested_resource(&request(Some("openid https://x//.default offline_access"), None))
                .ok()
                .as_deref(),
            Some("https://x/")
        );
        assert_eq!(
            requested_resource(&request(None, Some("https://x"))).ok().as_deref(),
            Some("https://x")
        );
        assert!(matches!(
            requested_resource(&request(Some("https://x/read"), None)),
            Err(DirectoryError::InvalidScope(_))
        ));
        assert!(matches!(
            requested_resource(&request(Some("https://x/.default https://y/.default"), None)),
            Err(DirectoryError::InvalidScope(_))
        ));
        assert!(matches!(
            requested_resource(&request(Some("/.default"), None)),
            Err(DirectoryError::InvalidScope(_))
        ));
        assert!(matches!(
            requested_resource(&request(None, None)),
            Err(DirectoryError::MissingParameter("scope"))
        ));
    }

    #[test]
    fn resources_compare_without_trailing_slash_and_case() {
        assert_eq!(
            normalize_resource("https://Vault.localhost:8443/"),
            normalize_resource("https://vault.localhost:8443")
        );
    }
}

/// Tokens whose signature has been verified, with their claims. A caller sends the same token with every request
/// for an hour, and an RS256 verification costs more than the rest of the check: verify once, then check only
/// time, issuer, audience and tenant. The key is the whole token, so only the very bytes that were verified hit.
#[derive(Default)]
pub(crate) struct VerifiedTokenCache {
    tokens: std::sync::Mutex<std::collections::HashMap<String, Arc<Claims>>>,
}

/// Entries kept at most; past that the cache starts over.
const VERIFIED_TOKEN_LIMIT: usize = 10_000;

impl VerifiedTokenCache {
    fn get(&self, token: &str) -> Option<Arc<Claims>> {
        self.tokens.lock().ok()?.get(token).cloned()
    }

    fn put(&self, token: &str, claims: Arc<Claims>) {
        if let Ok(mut tokens) = self.tokens.lock() {
            if tokens.len() >= VERIFIED_TOKEN_LIMIT {
                tokens.clear();
            }
            tokens.insert(token.to_owned(), claims);
        }
    }
}
