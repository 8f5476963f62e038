//! The cmk server: every plane on one HTTPS listener.
//!
//! # Layout
//! - [`start`] opens the data folder, the root key and the store, builds the domain services, and serves.
//! - `routes/`: one module per plane and operation family; handlers parse, authenticate, call the domain and
//!   map the result, nothing more.
//! - `error`: the one mapping from domain errors to Azure's error shapes.
//! - `auth`, `body`: the extractors for callers and request bodies.
//! - `tls`: the development certificate authority and the server certificate.
#![forbid(unsafe_code)]

mod audit;
mod auth;
mod body;
mod deployment;
mod dev;
mod error;
mod files;
mod metrics;
mod routes;
mod tls;
mod urls;
mod vault_client;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use cmk_core::{Clock, SystemClock};
use cmk_crypto::RootKey;
use cmk_directory::{Directory, DirectoryConfig, DirectoryError};
use cmk_store::{Store, StoreError};

pub use cmk_directory::bootstrap::{DeploymentNames, Initialized};
pub use dev::DevCredentials;
pub use error::ApiError;
pub use urls::PublicUrls;

/// How a server is started. The binary fills it from flags and the configuration file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Hosts are `{suffix}` (directory, management), `{vault}.vault.{suffix}`, `{account}.cognitiveservices.{suffix}`.
    pub dns_suffix: String,
    /// A PostgreSQL URL; `None` keeps state in SQLite inside the data folder.
    pub postgres_url: Option<String>,
    /// Development mode: a generated CA and certificate, default identities, a shiftable clock.
    pub dev: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The port clients use, when it differs from the listening port (behind a proxy).
    pub public_port: Option<u16>,
    /// The one URL clients reach the deployment at, `https://{suffix}[:{port}]`: it names the token issuer, the
    /// audiences and every vault URI, so every node of a deployment must be given the same. It sets the DNS
    /// suffix and the public port; required with PostgreSQL.
    pub public_url: Option<String>,
    /// Where this node sends its own calls to vaults of this deployment (the account service's wrap and unwrap):
    /// itself when `None`, else this address (the balancer).
    pub own_vault_address: Option<SocketAddr>,
    pub root_key_file: Option<PathBuf>,
    pub token_lifetime_seconds: i64,
    /// How long an account keeps an unwrapped data key in memory before asking the vault again.
    pub account_key_cache_seconds: u64,
    /// How often accounts with customer-managed keys re-check access (`None`: 5 s in development, else 60 s).
    pub account_key_poll_seconds: Option<u64>,
    /// Whether accounts re-check their keys on this deployment's vault change events. Off, they rely on the
    /// poll alone, as they must for vaults of another deployment.
    pub account_key_events: bool,
}

impl Settings {
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            data_dir,
            dns_suffix: "localhost".into(),
            postgres_url: None,
            dev: false,
            tls_cert: None,
            tls_key: None,
            public_port: None,
            public_url: None,
            own_vault_address: None,
            root_key_file: None,
            token_lifetime_seconds: 3599,
            account_key_cache_seconds: 300,
            account_key_poll_seconds: None,
            account_key_events: true,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Io(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("directory: {0}")]
    Directory(#[from] DirectoryError),
    #[error("root key: {0}")]
    Crypto(#[from] cmk_crypto::CryptoError),
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState {
    pub directory: Directory,
    pub vaults: cmk_vault::Vaults,
    pub accounts: cmk_account::Accounts,
    pub audit: cmk_vault::audit::AuditLog,
    pub urls: Arc<PublicUrls>,
    /// Present only in development mode.
    pub dev_clock: Option<Arc<dev::DevClock>>,
    pub node: Arc<NodeState>,
}

/// What this node knows of itself: its store, how current its view of the change feed is, its metrics.
pub(crate) struct NodeState {
    pub store: Arc<dyn Store>,
    pub feed: Arc<cmk_store::feed::FeedStatus>,
    pub metrics: metrics::Metrics,
}

/// A server that is accepting connections.
pub struct RunningServer {
    pub urls: PublicUrls,
    pub local_addr: SocketAddr,
    pub dev_credentials: Option<DevCredentials>,
    /// Where the development CA certificate is, when the server made its own.
    pub ca_file: Option<PathBuf>,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    scheduler: tokio::task::JoinHandle<()>,
    key_monitor: tokio::task::JoinHandle<()>,
    relay: tokio::task::JoinHandle<()>,
    _feed: cmk_store::feed::Feed,
    /// Released when the server is dropped.
    _data_dir_lock: Option<std::fs::File>,
}

impl RunningServer {
    /// Stops accepting connections, lets requests in flight finish (up to 10 s), and returns.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.handle.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
        self.wait().await
    }

    /// Waits until the server stops.
    pub async fn wait(self) -> Result<(), ServerError> {
        let result = self.task.await;
        self.scheduler.abort();
        self.key_monitor.abort();
        self.relay.abort();
        match result {
            Ok(result) => result.map_err(|e| ServerError::Io(format!("server: {e}"))),
            Err(e) => Err(ServerError::Io(format!("server task: {e}"))),
        }
    }

    /// A handle that can stop the server from elsewhere (a signal handler).
    pub fn shutdown_trigger(&self) -> impl Fn() + Send + Sync + 'static {
        let handle = self.handle.clone();
        move || handle.graceful_shutdown(Some(std::time::Duration::from_secs(10)))
    }
}

/// Holds the data folder for this process: the embedded store and its cache assume one writer process.
fn lock_data_dir(settings: &Settings) -> Result<Option<std::fs::File>, ServerError> {
    if settings.postgres_url.is_some() {
        return Ok(None);
    }
    let path = settings.data_dir.join("cmk.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| ServerError::Io(format!("opening {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::Config(format!(
            "another cmk server is using the data folder {}; stop it or choose another --data-dir",
            settings.data_dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(ServerError::Io(format!("locking {}: {e}", path.display()))),
    }
}

/// The store with its record cache in front and the change feed follower that keeps the cache a view of what
/// every node commits.
struct OpenStore {
    store: Arc<dyn Store>,
    feed: cmk_store::feed::Feed,
    cache_stats: Arc<dyn Fn() -> cmk_store::CacheStats + Send + Sync>,
}

async fn open_store(settings: &Settings) -> Result<OpenStore, ServerError> {
    match &settings.postgres_url {
        // Other nodes write the same database: the cache serves only while the feed keeps it fresh.
        Some(url) => with_cache(cmk_store_postgres::PostgresStore::connect(url).await?, true).await,
        None => {
            with_cache(
                cmk_store_sqlite::SqliteStore::open(&settings.data_dir.join("cmk.db")).await?,
                false,
            )
            .await
        }
    }
}

/// Content values up to this size are cached (a small object's record and its one chunk).
const CACHED_CONTENT_ENTRY_BYTES: usize = 64 * 1024;
/// Cached content holds at most this much memory.
const CACHED_CONTENT_BYTES: usize = 32 * 1024 * 1024;

async fn with_cache<S: Store>(inner: S, shared: bool) -> Result<OpenStore, ServerError> {
    // Small content (ciphertext only) is cached within a budget, so memory stays bounded. Revocation is not
    // weakened: every content read first proves that the account's key is accessible.
    let cache = cmk_store::CachingStore::new(inner).bounding_bulk(
        cmk_account::CONTENT_PREFIX,
        CACHED_CONTENT_ENTRY_BYTES,
        CACHED_CONTENT_BYTES,
    );
    let cache = Arc::new(if shared { cache.shared() } else { cache });
    let feed = cmk_store::feed::Feed::start(cache.clone()).await?;
    let stats = cache.clone();
    Ok(OpenStore {
        store: cache,
        feed,
        cache_stats: Arc::new(move || stats.stats()),
    })
}

/// The directory's view of the deployment: who issues its tokens, for which audiences.
fn directory_config(settings: &Settings, urls: &PublicUrls) -> DirectoryConfig {
    DirectoryConfig {
        authority: urls.authority(),
        audiences: urls.audiences(),
        token_lifetime_seconds: settings.token_lifetime_seconds,
        clock_skew_seconds: 300,
        domain_suffix: urls.dns_suffix.clone(),
    }
}

/// The names clients use: from the public URL when one is configured, else from the suffix and the port.
fn public_urls(settings: &Settings, local_addr: SocketAddr) -> Result<PublicUrls, ServerError> {
    match &settings.public_url {
        Some(url) => {
            // The public URL names the suffix and the port; `dns_suffix` and `public_port` are not read.
            PublicUrls::from_public_url(url).map_err(ServerError::Config)
        }
        None if settings.postgres_url.is_some() => Err(ServerError::Config(
            "with PostgreSQL, every node needs the deployment's public URL (--public-url https://<suffix>:<port>), \
             so that all of them name the same issuer, audiences and vault URIs"
                .into(),
        )),
        None => Ok(PublicUrls {
            dns_suffix: settings.dns_suffix.clone(),
            port: settings.public_port.unwrap_or(local_addr.port()),
        }),
    }
}

/// Initialises a production deployment on an empty store (see [`Directory::initialize_deployment`]): creates
/// the root key if there is none, records the deployment's names and root key, and creates the first tenant,
/// subscription and operator. Run again, it changes nothing and says so.
pub async fn initialize(settings: Settings, names: DeploymentNames) -> Result<Initialization, ServerError> {
    files::create_private_dir(&settings.data_dir)?;
    let root_key_file = settings
        .root_key_file
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("root.key"));
    let (root_key, root_key_created) = RootKey::load_or_create(&root_key_file)?;
    let root_key = Arc::new(root_key);
    let _data_dir_lock = lock_data_dir(&settings)?;
    let store = open_store(&settings).await?.store;
    let urls = public_urls(&settings, settings.listen)?;
    deployment::check_or_record(store.as_ref(), &urls, settings.public_url.is_some(), &root_key).await?;
    let directory = Directory::open(
        store,
        Arc::new(SystemClock),
        root_key,
        directory_config(&settings, &urls),
    )
    .await?;
    let outcome = directory.initialize_deployment(&names).await?;
    Ok(Initialization {
        outcome,
        urls,
        root_key_file,
        root_key_created,
    })
}

/// What [`initialize`] did.
pub struct Initialization {
    pub outcome: Initialized,
    pub urls: PublicUrls,
    pub root_key_file: PathBuf,
    /// Whether the root key file was created now (it must then be copied to every other node).
    pub root_key_created: bool,
}

/// Starts a server: everything it needs is created on first start and reused afterwards.
pub async fn start(settings: Settings) -> Result<RunningServer, ServerError> {
    if settings.dev && settings.postgres_url.is_some() {
        return Err(ServerError::Config(
            "--dev keeps a certificate authority and a shiftable clock of its own, which nodes sharing a database \
             cannot agree on; initialise a shared deployment with `cmk server init` instead"
                .into(),
        ));
    }
    files::create_private_dir(&settings.data_dir)?;
    let root_key_file = settings
        .root_key_file
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("root.key"));
    let (root_key, created) = RootKey::load_or_create(&root_key_file)?;
    if created {
        tracing::info!(path = %root_key_file.display(), "generated a new root key");
    }
    let root_key = Arc::new(root_key);
    let data_dir_lock = lock_data_dir(&settings)?;
    let OpenStore {
        store,
        feed,
        cache_stats,
    } = open_store(&settings).await?;
    tracing::info!(backend = store.backend_name(), "storage open");

    let listener = std::net::TcpListener::bind(settings.listen)
        .map_err(|e| ServerError::Io(format!("cannot listen on {}: {e}", settings.listen)))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| ServerError::Io(e.to_string()))?;
    let local_addr = listener.local_addr().map_err(|e| ServerError::Io(e.to_string()))?;
    let urls = public_urls(&settings, local_addr)?;
    deployment::check_or_record(store.as_ref(), &urls, settings.public_url.is_some(), &root_key).await?;

    let dev_clock = if settings.dev {
        Some(Arc::new(dev::DevClock::load(store.clone()).await?))
    } else {
        None
    };
    let clock: Arc<dyn Clock> = match &dev_clock {
        Some(dev_clock) => dev_clock.clock(),
        None => Arc::new(SystemClock),
    };
    let directory = Directory::open(
        store.clone(),
        clock,
        root_key.clone(),
        directory_config(&settings, &urls),
    )
    .await?;
    if !settings.dev && !directory.has_operator().await? {
        return Err(ServerError::Config(
            "this store has no operator yet; initialise the deployment first with `cmk server init` \
             (same storage and root key), or start with --dev for development"
                .into(),
        ));
    }

    let (tls_config, ca_file) = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => (tls::config_from_files(cert, key)?, None),
        (None, None) if settings.dev => {
            let ca = tls::DevCa::load_or_create(&settings.data_dir.join("tls"), &root_key)?;
            (ca.issue_server_config(&urls.dns_suffix)?, Some(ca.cert_file.clone()))
        }
        (None, None) => {
            return Err(ServerError::Config(
                "without --dev, a certificate and key are required (tls_cert and tls_key)".into(),
            ));
        }
        _ => return Err(ServerError::Config("tls_cert and tls_key go together".into())),
    };

    let dev_credentials = match &ca_file {
        Some(ca_file) if settings.dev => {
            Some(dev::ensure_dev_credentials(&directory, &settings.data_dir, &urls, ca_file).await?)
        }
        _ => None,
    };

    let vaults = cmk_vault::Vaults::new(store.clone(), directory.clone(), root_key.clone());
    let trusted_ca = match (&ca_file, &settings.tls_cert) {
        (Some(ca), _) => {
            Some(std::fs::read(ca).map_err(|e| ServerError::Io(format!("reading {}: {e}", ca.display())))?)
        }
        (None, Some(cert)) => {
            Some(std::fs::read(cert).map_err(|e| ServerError::Io(format!("reading {}: {e}", cert.display())))?)
        }
        (None, None) => None,
    };
    let vault_client = vault_client::HttpVaultClient::new(
        directory.clone(),
        urls.vault_resource(),
        vault_client::OwnVaults {
            dns_suffix: urls.dns_suffix.clone(),
            address: settings.own_vault_address.unwrap_or(local_addr),
        },
        trusted_ca.as_deref(),
    )
    .map_err(ServerError::Tls)?;
    let poll_seconds = settings
        .account_key_poll_seconds
        .unwrap_or(if settings.dev { 5 } else { 60 })
        .max(1);
    let accounts = cmk_account::Accounts::new(
        store.clone(),
        directory.clone(),
        root_key,
        Arc::new(vault_client),
        cmk_account::AccountsConfig {
            key_cache: std::time::Duration::from_secs(settings.account_key_cache_seconds),
            poll_interval: std::time::Duration::from_secs(poll_seconds),
            ..cmk_account::AccountsConfig::default()
        },
    );
    if let Err(e) = accounts.resume_reencryptions().await {
        tracing::warn!(error = %e, "could not resume content re-encryption jobs");
    }
    let events = settings
        .account_key_events
        .then(|| (vaults.subscribe(), directory.subscribe_authorization()));
    let key_monitor = tokio::spawn(run_key_monitor(accounts.clone(), events));
    let relay = tokio::spawn(relay_feed(feed.subscribe(), vaults.clone(), directory.clone()));
    let scheduler = tokio::spawn(run_rotation_schedule(vaults.clone(), accounts.clone(), settings.dev));
    let audit = cmk_vault::audit::AuditLog::start(store.clone()).map_err(|e| ServerError::Io(e.to_string()))?;
    let state = AppState {
        directory,
        vaults,
        accounts,
        audit,
        urls: Arc::new(urls.clone()),
        dev_clock,
        node: Arc::new(NodeState {
            store: store.clone(),
            feed: feed.status.clone(),
            metrics: metrics::Metrics::new(feed.status.clone(), cache_stats),
        }),
    };
    let app = routes::app(state);
    let handle = axum_server::Handle::new();
    // Without TCP_NODELAY a response written in two parts (headers, then a streamed body) waits for the
    // client's delayed acknowledgement, about 40 ms on Linux.
    let acceptor =
        axum_server::tls_rustls::RustlsAcceptor::new(axum_server::tls_rustls::RustlsConfig::from_config(tls_config))
            .acceptor(axum_server::accept::NoDelayAcceptor::new());
    let server = axum_server::from_tcp(listener)
        .map_err(|e| ServerError::Io(e.to_string()))?
        .acceptor(acceptor)
        .handle(handle.clone());
    let task = tokio::spawn(server.serve(app.into_make_service()));
    handle.listening().await;
    Ok(RunningServer {
        urls,
        local_addr,
        dev_credentials,
        ca_file,
        handle,
        task,
        scheduler,
        key_monitor,
        relay,
        _feed: feed,
        _data_dir_lock: data_dir_lock,
    })
}

/// Carries out key rotation policies and purges what has passed its retention period. The development clock can jump days ahead, so a development server
/// looks every second; otherwise once a minute is as precise as policies measured in days need.
async fn run_rotation_schedule(vaults: cmk_vault::Vaults, accounts: cmk_account::Accounts, dev: bool) {
    let period = std::time::Duration::from_secs(if dev { 1 } else { 60 });
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = vaults.rotate_due_keys().await {
            tracing::warn!(error = %e, "scheduled key rotation failed; retrying at the next tick");
        }
        if let Err(e) = vaults.purge_expired_vaults().await {
            tracing::warn!(error = %e, "purging expired vaults failed; retrying at the next tick");
        }
        if let Err(e) = vaults.purge_expired_keys().await {
            tracing::warn!(error = %e, "purging expired keys failed; retrying at the next tick");
        }
        if let Err(e) = accounts.purge_expired_accounts().await {
            tracing::warn!(error = %e, "purging expired accounts failed; retrying at the next tick");
        }
        if let Err(e) = accounts.sweep_pending().await {
            tracing::warn!(error = %e, "deleting unreferenced content failed; retrying at the next tick");
        }
    }
}

/// Turns what other nodes committed, as the change feed tells it, into the events of this node's domain
/// services, so that everything that listens to them (the key monitor) hears of changes made anywhere.
async fn relay_feed(
    mut feed: tokio::sync::broadcast::Receiver<cmk_store::feed::FeedEvent>,
    vaults: cmk_vault::Vaults,
    directory: Directory,
) {
    use cmk_store::feed::FeedEvent;
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match feed.recv().await {
            Ok(FeedEvent::Changed(changes)) => {
                let keys = || changes.iter().map(|c| c.key.as_str());
                vaults.relay_changes(keys());
                directory.relay_changes(keys());
            }
            Ok(FeedEvent::Everything) | Err(RecvError::Lagged(_)) => directory.relay_everything(),
            Err(RecvError::Closed) => return,
        }
    }
}

type KeyMonitorEvents = (
    tokio::sync::broadcast::Receiver<cmk_vault::events::VaultEvent>,
    tokio::sync::broadcast::Receiver<cmk_directory::authorization::events::AuthorizationEvent>,
);

/// The next message of a subscription, or never once it is closed.
async fn next_of<T: Clone>(
    receiver: &mut Option<tokio::sync::broadcast::Receiver<T>>,
) -> Result<T, tokio::sync::broadcast::error::RecvError> {
    match receiver.as_mut() {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// Keeps every account's view of its customer key current: a vault change event re-checks the accounts that use
/// that vault at once, and a role assignment change re-checks the accounts whose identity it concerns
/// (revocation within about a second); the poll re-checks all of them, for events that were missed or changes
/// that send none (a follow-the-latest key's new version from another deployment).
async fn run_key_monitor(accounts: cmk_account::Accounts, events: Option<KeyMonitorEvents>) {
    use cmk_directory::authorization::events::AuthorizationEvent;
    use tokio::sync::broadcast::error::RecvError;
    let mut ticker = tokio::time::interval(accounts.config().poll_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut vault_events, mut authorization_events) = match events {
        Some((vaults, authorization)) => (Some(vaults), Some(authorization)),
        None => (None, None),
    };
    loop {
        tokio::select! {
            event = next_of(&mut vault_events) => match event {
                Ok(event) => {
                    if let Err(e) = accounts.recheck_vault(event.vault()).await {
                        tracing::warn!(error = %e, vault = event.vault(), "re-checking accounts after a vault change failed");
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "missed vault change events; re-checking every account");
                    let _ = accounts.recheck_all().await;
                }
                Err(RecvError::Closed) => vault_events = None,
            },
            event = next_of(&mut authorization_events) => match event {
                Ok(AuthorizationEvent::AssignmentsChanged { principal }) => {
                    if let Err(e) = accounts.recheck_principal(&principal).await {
                        tracing::warn!(error = %e, %principal, "re-checking accounts after a role assignment change failed");
                    }
                }
                Ok(AuthorizationEvent::RolesChanged) | Err(RecvError::Lagged(_)) => {
                    let _ = accounts.recheck_all().await;
                }
                Err(RecvError::Closed) => authorization_events = None,
            },
            _ = ticker.tick() => {
                if let Err(e) = accounts.recheck_all().await {
                    tracing::warn!(error = %e, "re-checking customer-managed keys failed; retrying at the next poll");
                }
            }
        }
    }
}
