//! The account service's way to a vault: HTTPS to the vault's data plane, as a client outside the server would
//! call it, with tokens of the account's managed identity. Calls to this deployment's own vaults go to the
//! configured address (this node's own listener unless told otherwise, never wherever the public name happens
//! to resolve), through the same authentication, authorization and audit as any other client's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cmk_account::vault_client::{IdentityRef, KeyFacts, KeyVaultClient, VaultCallError, VaultFacts};
use cmk_api::keys::{KeyBundle, KeyOperationResult, KeyOperationsParameters};
use cmk_api::{ErrorResponse, SecretBase64Url};
use cmk_core::Timestamp;
use cmk_crypto::{SecretBytes, SecretString};
use cmk_directory::{Directory, DirectoryError};
use reqwest::StatusCode;
use zeroize::Zeroizing;

const API_VERSION: &str = "7.6";
/// The algorithm of every wrap and unwrap of a data key.
const WRAP_ALGORITHM: &str = "RSA-OAEP-256";
/// A cached token is renewed this long before it expires.
const TOKEN_RENEWAL_SECONDS: i64 = 300;

/// Where the vaults of this deployment are reached: hosts under its DNS suffix (and `*.localhost`, RFC 6761
/// loopback names) go to `address`, whatever port their URL names; every other name goes to the system resolver.
#[derive(Debug, Clone)]
pub(crate) struct OwnVaults {
    pub dns_suffix: String,
    pub address: SocketAddr,
}

impl OwnVaults {
    fn is_own(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        host == "localhost"
            || host.ends_with(".localhost")
            || host == self.dns_suffix
            || host
                .strip_suffix(&self.dns_suffix)
                .is_some_and(|rest| rest.ends_with('.'))
    }

    /// The URL to send: for a vault of this deployment, the same URL with the port of `address`, since a
    /// resolver can choose the address but the port always comes from the URL. The host stays, so TLS checks
    /// the vault's own name and the vault sees its own host.
    fn route(&self, url: &str) -> String {
        match reqwest::Url::parse(url) {
            Ok(mut parsed) if parsed.host_str().is_some_and(|h| self.is_own(h)) => {
                if parsed.set_port(Some(self.address.port())).is_ok() {
                    parsed.to_string()
                } else {
                    url.to_owned()
                }
            }
            _ => url.to_owned(),
        }
    }
}

struct OwnVaultResolver(OwnVaults);

impl reqwest::dns::Resolve for OwnVaultResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let own = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            if own.is_own(&host) {
                let addrs: reqwest::dns::Addrs = Box::new(std::iter::once(own.address));
                return Ok(addrs);
            }
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 443)).await?.collect();
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

pub(crate) struct HttpVaultClient {
    http: reqwest::Client,
    directory: Directory,
    /// The audience of vault tokens.
    vault_resource: String,
    tokens: Mutex<HashMap<IdentityRef, (SecretString, Timestamp)>>,
    own: OwnVaults,
}

impl HttpVaultClient {
    /// `own`: where this deployment's vaults are reached; `trusted_ca`: PEM certificates to trust besides the
    /// system's roots (the development CA, or the certificate chain the server was given).
    pub fn new(
        directory: Directory,
        vault_resource: String,
        mut own: OwnVaults,
        trusted_ca: Option<&[u8]>,
    ) -> Result<Self, String> {
        if own.address.ip().is_unspecified() {
            own.address = SocketAddr::from(([127, 0, 0, 1], own.address.port()));
        }
        let mut builder = reqwest::Client::builder()
            .dns_resolver(Arc::new(OwnVaultResolver(own.clone())))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(4);
        if let Some(pem) = trusted_ca {
            // Every certificate of the file: a server's chain file ends with the CA that issued it.
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("the CA certificate: {e}"))?;
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(|e| format!("the vault client: {e}"))?;
        Ok(Self {
            http,
            directory,
            vault_resource,
            tokens: Mutex::new(HashMap::new()),
            own,
        })
    }

    async fn token(&self, identity: IdentityRef) -> Result<SecretString, VaultCallError> {
        let now = self.directory.clock().now();
        if let Ok(tokens) = self.tokens.lock()
            && let Some((token, expires)) = tokens.get(&identity)
            && now.plus_seconds(TOKEN_RENEWAL_SECONDS) < *expires
        {
            return Ok(SecretString::new(token.expose().to_owned()));
        }
        let issued = self
            .directory
            .issue_managed_identity_token(&identity.tenant_id, &identity.client_id, &self.vault_resource)
            .await
            .map_err(|e| match e {
                DirectoryError::ManagedIdentityNotFound(_) => VaultCallError::IdentityNotFound,
                DirectoryError::ManagedIdentityInOtherTenant { .. } => {
                    VaultCallError::IdentityInOtherTenant(e.to_string())
                }
                other => VaultCallError::Unreachable(format!("no token for the managed identity: {other}")),
            })?;
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(
                identity,
                (
                    SecretString::new(issued.access_token.expose().to_owned()),
                    issued.expires_on,
                ),
            );
        }
        Ok(issued.access_token)
    }

    fn forget_token(&self, identity: IdentityRef) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.remove(&identity);
        }
    }

    /// Sends an authenticated request and returns the answer's body; a 401 with a cached token is retried once
    /// with a fresh one (the token may have expired on a clock that moved). The body is in a buffer that is
    /// wiped on drop, since an unwrapKey answer carries a data key in the clear.
    async fn call(
        &self,
        identity: IdentityRef,
        method: reqwest::Method,
        url: &str,
        body: Option<&KeyOperationsParameters>,
    ) -> Result<Zeroizing<Vec<u8>>, VaultCallError> {
        for attempt in 0..2 {
            let token = self.token(identity).await?;
            let mut request = self
                .http
                .request(
                    method.clone(),
                    format!("{}?api-version={API_VERSION}", self.own.route(url)),
                )
                .bearer_auth(token.expose());
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| VaultCallError::Unreachable(without_url(&e)))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && attempt == 0 {
                self.forget_token(identity);
                continue;
            }
            let bytes = read_body(response).await;
            if status.is_success() {
                return Ok(bytes);
            }
            return Err(classify(status, &error_of(&bytes)));
        }
        Err(VaultCallError::Unauthorized("the vault refused a fresh token".into()))
    }
}

/// The body of an answer, empty if it could not be read (the status still says what happened). `Vec::from`
/// takes over reqwest's buffer when it is the only owner, so usually no unwiped copy is made.
async fn read_body(response: reqwest::Response) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(response.bytes().await.map(Vec::from).unwrap_or_default())
}

/// An error answer; one that is not Azure's JSON reads as an empty error, classified by its status alone.
fn error_of(body: &[u8]) -> ErrorResponse {
    serde_json::from_slice(body).unwrap_or_default()
}

/// The one body of every wrap and unwrap: `key` is the data key (wrap) or the wrapped key (unwrap).
fn wrap_body(key: &[u8]) -> KeyOperationsParameters {
    KeyOperationsParameters::new(WRAP_ALGORITHM, SecretBase64Url::new(SecretBytes::new(key.to_vec())))
}

/// reqwest errors name the URL; keep the reason only.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "the vault");
    }
    text
}

fn classify(status: StatusCode, body: &ErrorResponse) -> VaultCallError {
    let code = body.error.code.as_str();
    let inner = body.error.innererror.as_ref().map_or("", |inner| inner.code.as_str());
    let message = if body.error.message.is_empty() {
        format!("the vault answered {status}")
    } else {
        body.error.message.clone()
    };
    match status {
        StatusCode::UNAUTHORIZED => VaultCallError::Unauthorized(message),
        StatusCode::FORBIDDEN if inner == "KeyDisabled" => VaultCallError::KeyDisabled(message),
        StatusCode::FORBIDDEN if inner == "ForbiddenByRbac" => VaultCallError::ForbiddenByRbac(message),
        StatusCode::FORBIDDEN => VaultCallError::Forbidden(message),
        StatusCode::NOT_FOUND if code == "VaultNotFound" => VaultCallError::VaultNotFound(message),
        StatusCode::NOT_FOUND => VaultCallError::KeyNotFound(message),
        _ => VaultCallError::Unreachable(message),
    }
}

fn key_facts(bundle: &KeyBundle) -> Result<KeyFacts, VaultCallError> {
    let bad = || VaultCallError::Unreachable("the vault's key bundle is malformed".into());
    let key = &bundle.key;
    let kid = key.kid.clone().ok_or_else(bad)?;
    let kty = key.kty.clone().ok_or_else(bad)?;
    let bits = key.n.as_ref().map_or(0, |n| {
        let bytes = n.as_bytes();
        let leading = bytes.iter().take_while(|b| **b == 0).count();
        let significant = &bytes[leading..];
        significant
            .first()
            .map_or(0, |first| significant.len() * 8 - first.leading_zeros() as usize)
    });
    let attributes = &bundle.attributes;
    Ok(KeyFacts {
        kid,
        kty,
        bits,
        // A vault that does not say the key is enabled has not said it may be used.
        enabled: attributes.enabled.unwrap_or(false),
        recovery_level: attributes.recovery_level.clone().unwrap_or_default(),
    })
}

#[async_trait]
impl KeyVaultClient for HttpVaultClient {
    async fn vault_facts(&self, vault_uri: &str) -> Result<VaultFacts, VaultCallError> {
        let response = self
            .http
            .get(format!("{}keys?api-version={API_VERSION}", self.own.route(vault_uri)))
            .send()
            .await
            .map_err(|e| VaultCallError::Unreachable(without_url(&e)))?;
        let status = response.status();
        let region = response
            .headers()
            .get("x-ms-keyvault-region")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let challenge = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if status != StatusCode::UNAUTHORIZED {
            let body = read_body(response).await;
            return Err(match classify(status, &error_of(&body)) {
                VaultCallError::KeyNotFound(m) => VaultCallError::VaultNotFound(m),
                other => other,
            });
        }
        let tenant_id = challenge
            .as_deref()
            .and_then(|c| {
                c.split([',', ' '])
                    .find_map(|part| part.trim().strip_prefix("authorization=\""))
                    .map(|v| v.trim_end_matches('"'))
            })
            .and_then(|authorization| authorization.trim_end_matches('/').rsplit('/').next())
            .map(str::to_owned)
            .ok_or_else(|| VaultCallError::Unreachable("the vault sent no usable challenge".into()))?;
        Ok(VaultFacts { tenant_id, region })
    }

    async fn get_key(
        &self,
        identity: IdentityRef,
        vault_uri: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<KeyFacts, VaultCallError> {
        let url = match version {
            Some(v) => format!("{vault_uri}keys/{name}/{v}"),
            None => format!("{vault_uri}keys/{name}"),
        };
        let body = self.call(identity, reqwest::Method::GET, &url, None).await?;
        let bundle: KeyBundle = serde_json::from_slice(&body)
            .map_err(|_| VaultCallError::Unreachable("the vault's key bundle is malformed".into()))?;
        key_facts(&bundle)
    }

    async fn wrap_key(&self, identity: IdentityRef, kid: &str, key: &[u8]) -> Result<Vec<u8>, VaultCallError> {
        let answer = self
            .call(
                identity,
                reqwest::Method::POST,
                &format!("{kid}/wrapkey"),
                Some(&wrap_body(key)),
            )
            .await?;
        // The wrapped key is not secret; the answer type is the one every key operation shares.
        serde_json::from_slice::<KeyOperationResult>(&answer)
            .map(|result| result.value.expose().to_vec())
            .map_err(|_| VaultCallError::Unreachable("the vault's wrapKey answer is malformed".into()))
    }

    async fn unwrap_key(
        &self,
        identity: IdentityRef,
        kid: &str,
        wrapped: &[u8],
    ) -> Result<SecretBytes, VaultCallError> {
        let answer = self
            .call(
                identity,
                reqwest::Method::POST,
                &format!("{kid}/unwrapkey"),
                Some(&wrap_body(wrapped)),
            )
            .await?;
        // Decoded straight from the wiped buffer into a secret type: the data key is never held elsewhere.
        serde_json::from_slice::<KeyOperationResult>(&answer)
            .map(|result| result.value.into_secret())
            .map_err(|_| VaultCallError::Unreachable("the vault's unwrapKey answer is malformed".into()))
    }

    fn forget_identity(&self, identity: IdentityRef) {
        self.forget_token(identity);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{OwnVaults, key_facts};

    #[test]
    fn a_key_bundle_that_does_not_say_enabled_counts_as_disabled() {
        let bundle = serde_json::from_value(
            serde_json::json!({"key": {"kid": "https://kv.vault.localhost/keys/k/1", "kty": "RSA"}}),
        )
        .unwrap();
        assert!(!key_facts(&bundle).unwrap().enabled);
        let bundle = serde_json::from_value(serde_json::json!({
            "key": {"kid": "https://kv.vault.localhost/keys/k/1", "kty": "RSA"},
            "attributes": {"enabled": true}
        }))
        .unwrap();
        assert!(key_facts(&bundle).unwrap().enabled);
    }

    #[test]
    fn own_vault_urls_keep_their_host_and_take_the_configured_port() {
        let own = OwnVaults {
            dns_suffix: "cmk.example".into(),
            address: "10.0.0.5:9001".parse().unwrap_or_else(|_| unreachable!()),
        };
        assert_eq!(
            own.route("https://kv1.vault.cmk.example:8443/keys/k"),
            "https://kv1.vault.cmk.example:9001/keys/k"
        );
        assert_eq!(
            own.route("https://kv1.vault.cmk.example/"),
            "https://kv1.vault.cmk.example:9001/"
        );
        assert_eq!(
            own.route("https://kv1.vault.localhost:8443/"),
            "https://kv1.vault.localhost:9001/"
        );
        assert_eq!(
            own.route("https://kv1.vault.azure.net/"),
            "https://kv1.vault.azure.net/"
        );
        assert_eq!(
            own.route("https://kv1.vault.notcmk.example/"),
            "https://kv1.vault.notcmk.example/"
        );
    }
}
