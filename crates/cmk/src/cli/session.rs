//! The login: which server, as which principal, and the tokens obtained with it.
//!
//! Kept in the user's config folder (`$CMK_CONFIG_DIR`, else `$XDG_CONFIG_HOME/cmk`, else `~/.config/cmk`):
//! `profile.json` (the server, the principal and its secret) and `tokens.json` (one access token per audience),
//! both readable by the user alone. Tokens are renewed five minutes before they expire.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::CliError;

/// A token is renewed when it has less than this left.
const RENEW_BEFORE_SECONDS: i64 = 300;

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Profile {
    /// `https://localhost:8443`
    pub server: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub subscription_id: String,
    /// Used when a command names no resource group.
    pub resource_group: Option<String>,
    /// A CA certificate to trust besides the system's (the development CA).
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("server", &self.server)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

#[derive(Default, Serialize, Deserialize)]
struct TokenCache {
    /// Audience → token and its expiry (Unix seconds).
    tokens: BTreeMap<String, (String, i64)>,
}

pub use crate::dirs::config_dir;

/// Writes a file only its owner can read, replacing it atomically.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| CliError::local(&format!("creating {}", dir.display()), e))?;
    // One temporary name per process: commands run in parallel share the folder.
    let temporary = path.with_extension(format!("{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&temporary)
        .map_err(|e| CliError::local(&format!("writing {}", temporary.display()), e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::local(&format!("writing {}", temporary.display()), e))?;
    std::fs::rename(&temporary, path).map_err(|e| CliError::local(&format!("writing {}", path.display()), e))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Sends `localhost` and `*.localhost` to the loopback interface (RFC 6761), so vault and account hosts work
/// without any change to the machine; other names go to the system resolver.
struct LoopbackNames;

impl reqwest::dns::Resolve for LoopbackNames {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            if host == "localhost" || host.ends_with(".localhost") {
                let addrs: reqwest::dns::Addrs =
                    Box::new([SocketAddr::from(([127, 0, 0, 1], 0)), SocketAddr::from(([0u16; 8], 0))].into_iter());
                return Ok(addrs);
            }
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// A logged-in client of one server.
pub struct Session {
    pub profile: Profile,
    pub http: reqwest::Client,
    /// `localhost:8443`: the host (and port) the planes' host names are built on.
    host_port: String,
    tokens_path: PathBuf,
}

pub fn http_client(ca_file: Option<&Path>) -> Result<reqwest::Client, CliError> {
    let mut builder = reqwest::Client::builder()
        .dns_resolver(Arc::new(LoopbackNames))
        .connect_timeout(std::time::Duration::from_secs(10));
    if let Some(ca_file) = ca_file {
        let pem = std::fs::read(ca_file).map_err(|e| CliError::local(&format!("reading {}", ca_file.display()), e))?;
        let ca = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| CliError::local(&format!("reading {}", ca_file.display()), e))?;
        builder = builder.tls_certs_merge([ca]);
    }
    builder
        .build()
        .map_err(|e| CliError::Local(format!("cannot set up HTTPS: {e}")))
}

fn host_port_of(server: &str) -> Result<String, CliError> {
    let rest = server
        .strip_prefix("https://")
        .ok_or_else(|| CliError::Usage(format!("the server '{server}' must be an https:// URL")))?;
    Ok(rest.trim_end_matches('/').to_owned())
}

impl Session {
    pub fn profile_path() -> PathBuf {
        config_dir().join("profile.json")
    }

    pub fn new(profile: Profile) -> Result<Self, CliError> {
        let http = http_client(profile.ca_file.as_deref())?;
        Ok(Self {
            host_port: host_port_of(&profile.server)?,
            http,
            tokens_path: config_dir().join("tokens.json"),
            profile,
        })
    }

    /// The saved login; `server` (`--server`, `CMK_SERVER`) must match it when given.
    pub fn load(server: Option<&str>) -> Result<Self, CliError> {
        let path = Self::profile_path();
        let text = std::fs::read_to_string(&path)
            .map_err(|_| CliError::NotLoggedIn("Please run 'cmk login' to set up an account.".into()))?;
        let profile: Profile =
            serde_json::from_str(&text).map_err(|e| CliError::local(&format!("reading {}", path.display()), e))?;
        if let Some(server) = server
            && server.trim_end_matches('/') != profile.server.trim_end_matches('/')
        {
            return Err(CliError::NotLoggedIn(format!(
                "You are logged in to {}, not {server}. Run 'cmk login --server {server}'.",
                profile.server
            )));
        }
        Self::new(profile)
    }

    pub fn save(&self) -> Result<(), CliError> {
        let bytes = serde_json::to_vec_pretty(&self.profile).map_err(|e| CliError::local("saving the login", e))?;
        write_private(&Self::profile_path(), &bytes)
    }

    pub fn forget() -> Result<bool, CliError> {
        let mut removed = false;
        for file in ["profile.json", "tokens.json"] {
            match std::fs::remove_file(config_dir().join(file)) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CliError::local(&format!("removing {file}"), e)),
            }
        }
        Ok(removed)
    }

    pub fn management_resource(&self) -> String {
        format!("{}/", self.profile.server.trim_end_matches('/'))
    }

    pub fn vault_resource(&self) -> String {
        format!("https://vault.{}", self.host_port)
    }

    pub fn cognitive_services_resource(&self) -> String {
        format!("https://cognitiveservices.{}", self.host_port)
    }

    pub fn vault_url(&self, vault: &str) -> String {
        format!("https://{}.vault.{}/", vault.to_ascii_lowercase(), self.host_port)
    }

    /// An access token for `resource`, from the cache or the token endpoint.
    pub async fn token(&self, resource: &str) -> Result<String, CliError> {
        let mut cache: TokenCache = std::fs::read(&self.tokens_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if let Some((token, expires)) = cache.tokens.get(resource)
            && *expires > now() + RENEW_BEFORE_SECONDS
        {
            return Ok(token.clone());
        }
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.profile.server.trim_end_matches('/'),
            self.profile.tenant_id
        );
        let scope = format!("{}/.default", resource.trim_end_matches('/'));
        let response = self
            .http
            .post(&url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.profile.client_id.as_str()),
                ("client_secret", self.profile.client_secret.as_str()),
                ("scope", scope.as_str()),
            ])
            .send()
            .await
            .map_err(|e| unreachable(&self.profile.server, &e))?;
        let status = response.status();
        if !status.is_success() {
            let refusal: Option<cmk_api::OAuthError> = response.json().await.ok();
            let (error, description) = match &refusal {
                Some(refusal) => (
                    refusal.error.as_str(),
                    refusal.error_description.lines().next().unwrap_or_default(),
                ),
                None => ("invalid_client", "the token endpoint refused the login"),
            };
            return Err(CliError::NotLoggedIn(format!(
                "({error}) {description} Run 'cmk login' again."
            )));
        }
        let issued: cmk_api::TokenResponse = response
            .json()
            .await
            .map_err(|_| CliError::Local("the token endpoint sent no access token".into()))?;
        let token = issued.access_token.expose().to_owned();
        let expires_in = issued.expires_in;
        cache
            .tokens
            .insert(resource.to_owned(), (token.clone(), now() + expires_in));
        // The cache only saves a round trip: a command that has its token does not fail for want of a cache.
        if let Ok(bytes) = serde_json::to_vec(&cache) {
            let _ = write_private(&self.tokens_path, &bytes);
        }
        Ok(token)
    }

    /// Drops the cached token for `resource`.
    fn forget_token(&self, resource: &str) {
        let cache: Option<TokenCache> = std::fs::read(&self.tokens_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(mut cache) = cache
            && cache.tokens.remove(resource).is_some()
            && let Ok(bytes) = serde_json::to_vec(&cache)
        {
            let _ = write_private(&self.tokens_path, &bytes);
        }
    }

    /// Sends the request `build` makes with a token for `resource`. A `401` with a cached token is retried once
    /// with a fresh one: the token may have expired by the server's clock (a development clock moves).
    pub async fn send(
        &self,
        resource: &str,
        url: &str,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, CliError> {
        for attempt in 0..2 {
            let token = self.token(resource).await?;
            let response = build(&token).send().await.map_err(|e| unreachable(url, &e))?;
            if response.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                self.forget_token(resource);
                continue;
            }
            return Ok(response);
        }
        Err(CliError::NotLoggedIn(
            "The server refused a fresh token. Run 'cmk login' again.".into(),
        ))
    }

    /// A JSON call with a token for `resource`; the answer's body, or the server's error.
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        resource: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let response = self
            .send(resource, url, |token| {
                let request = self.http.request(method.clone(), url).bearer_auth(token);
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await?;
        answer(response).await
    }

    /// A management-plane call; `path` starts with `/` and carries its api-version.
    pub async fn arm(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.profile.server.trim_end_matches('/'));
        let resource = self.management_resource();
        self.call(method, &url, &resource, body).await
    }

    /// A vault data-plane call; `path` is relative to the vault (`keys/k1`), without the api-version.
    pub async fn vault(
        &self,
        method: Method,
        vault: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let url = format!("{}{path}{separator}api-version=7.6", self.vault_url(vault));
        let resource = self.vault_resource();
        self.call(method, &url, &resource, body).await
    }

    pub fn subscription_path(&self) -> String {
        format!("/subscriptions/{}", self.profile.subscription_id)
    }

    /// The resource group a command names, or the login's default.
    pub fn resource_group(&self, given: Option<&str>) -> Result<String, CliError> {
        given
            .map(str::to_owned)
            .or_else(|| self.profile.resource_group.clone())
            .ok_or_else(|| CliError::Usage("the following arguments are required: --resource-group/-g".into()))
    }
}

pub fn unreachable(target: &str, error: &reqwest::Error) -> CliError {
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        detail = format!("{detail}: {inner}");
        source = inner.source();
    }
    CliError::Unreachable(format!("cannot reach {target}: {detail}"))
}

/// The body of an answer, or the server's error (`{"error":{"code","message"}}`, or OAuth's shape).
pub async fn answer(response: reqwest::Response) -> Result<Value, CliError> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body: Value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    if status.is_success() {
        return Ok(body);
    }
    Err(server_error(status, &body))
}

pub fn server_error(status: StatusCode, body: &Value) -> CliError {
    // ARM and Key Vault nest their error in an object; the token endpoint writes OAuth's flat refusal. A body of
    // neither shape (a proxy's page, a number for a code) reads as neither, and the status speaks instead.
    let nested = match body.get("error") {
        Some(error @ Value::Object(_)) => cmk_api::ErrorBody::deserialize(error).ok(),
        _ => None,
    };
    let oauth = cmk_api::OAuthError::deserialize(body).ok();
    let code = nested
        .as_ref()
        .map(|error| error.code.clone())
        .filter(|code| !code.is_empty())
        .or_else(|| oauth.as_ref().map(|refusal| refusal.error.clone()))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_owned());
    let message = nested
        .map(|error| error.message)
        .filter(|message| !message.is_empty())
        .or_else(|| {
            oauth
                .map(|refusal| refusal.error_description)
                .filter(|text| !text.is_empty())
        })
        .unwrap_or_else(|| format!("the server answered {status}"));
    CliError::Server {
        status: status.as_u16(),
        code,
        message,
    }
}
