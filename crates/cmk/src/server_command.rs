//! `cmk server`: flags, the configuration file, logging, signals, and the start banner.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Development mode: generated CA and certificate, default tenant, subscription, resource group and
    /// operator, and a clock that can be shifted forward.
    #[arg(long, global = true)]
    dev: bool,
    /// Address to listen on [default: 127.0.0.1:8443]; port 0 picks a free port.
    #[arg(long, global = true, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Folder for the database, root key, certificates and dev credentials [default: $XDG_DATA_HOME/cmk].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// DNS suffix of the hosts: `{suffix}`, `{vault}.vault.{suffix}`, `{account}.cognitiveservices.{suffix}`
    /// [default: localhost].
    #[arg(long, global = true, value_name = "SUFFIX")]
    dns_suffix: Option<String>,
    /// Where state lives: `sqlite` (embedded, in the data folder) or a `postgres://` URL [default: sqlite].
    #[arg(long, global = true, value_name = "URL", env = "CMK_STORAGE", hide_env_values = true)]
    storage: Option<String>,
    /// The port clients connect to, when it differs from the listening port (behind a proxy).
    #[arg(long, global = true, value_name = "PORT")]
    public_port: Option<u16>,
    /// The one URL clients reach the deployment at, https://<dns suffix>[:port]; sets the DNS suffix and the
    /// public port. Required with PostgreSQL, and the same on every node.
    #[arg(long, global = true, value_name = "URL")]
    public_url: Option<String>,
    /// Where this node sends its own calls to this deployment's vaults [default: itself]; the balancer's
    /// address, to spread them over the nodes.
    #[arg(long, global = true, value_name = "ADDR")]
    own_vault_address: Option<SocketAddr>,
    /// TLS certificate chain (PEM); required without --dev.
    #[arg(long, global = true, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); required without --dev.
    #[arg(long, global = true, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// The root key file [default: root.key in the data folder]; several nodes on one PostgreSQL share it.
    #[arg(long, global = true, value_name = "FILE")]
    root_key_file: Option<PathBuf>,
    /// How long an account keeps an unwrapped data key in memory before asking its vault again [default: 300].
    #[arg(long, global = true, value_name = "SECONDS")]
    account_key_cache_seconds: Option<u64>,
    /// How often accounts re-check access to their customer-managed keys [default: 5 with --dev, else 60].
    #[arg(long, global = true, value_name = "SECONDS")]
    account_key_poll_seconds: Option<u64>,
    /// Accounts ignore this deployment's vault change events and notice key changes by polling alone, as they
    /// do for vaults elsewhere (for measuring the poll path).
    #[arg(long, global = true)]
    no_vault_events: bool,
    /// A TOML file with the same settings (flags win): listen, data_dir, dns_suffix, storage, public_port,
    /// public_url, own_vault_address, tls_cert, tls_key, root_key_file, token_lifetime_seconds,
    /// account_key_cache_seconds, account_key_poll_seconds.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    action: Option<ServerAction>,
}

#[derive(clap::Subcommand, Debug)]
enum ServerAction {
    /// Initialise a production deployment on an empty store: its first tenant, a subscription and an operator
    /// who owns it, whose secret is shown once (or written to --secret-file). Run again, it changes nothing.
    #[command(
        after_help = "Examples:\n  cmk server init --storage postgres://cmk@db/cmk --public-url https://cmk.example.com \\\n      --root-key-file /etc/cmk/root.key --secret-file /etc/cmk/operator.json\n  cmk server init --data-dir /var/lib/cmk --public-url https://cmk.example.com:8443"
    )]
    Init(InitArgs),
}

#[derive(Args, Debug)]
struct InitArgs {
    /// Display name of the first tenant.
    #[arg(long, default_value = "cmk")]
    tenant_name: String,
    /// Display name of the first subscription.
    #[arg(long, default_value = "cmk")]
    subscription_name: String,
    /// Display name of the operator principal.
    #[arg(long, default_value = "cmk operator")]
    operator_name: String,
    /// Write the operator's credentials (JSON) to this new file, readable by its owner only, instead of
    /// printing the secret.
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    dns_suffix: Option<String>,
    storage: Option<String>,
    public_port: Option<u16>,
    public_url: Option<String>,
    own_vault_address: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    root_key_file: Option<PathBuf>,
    token_lifetime_seconds: Option<i64>,
    account_key_cache_seconds: Option<u64>,
    account_key_poll_seconds: Option<u64>,
}

fn validate_dns_suffix(suffix: &str) -> Result<(), String> {
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if suffix.is_empty() || suffix.len() > 200 || !suffix.split('.').all(valid_label) {
        return Err(format!(
            "'{suffix}' is not a valid DNS suffix (labels of letters, digits and '-', separated by '.')"
        ));
    }
    Ok(())
}

fn settings(args: ServerArgs) -> Result<cmk_server::Settings, String> {
    if args.dev && args.action.is_some() {
        return Err("`cmk server init` initialises a production deployment; --dev needs no initialisation".into());
    }
    let file: ConfigFile = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => ConfigFile::default(),
    };
    let mut settings = cmk_server::Settings::new(args.data_dir.or(file.data_dir).unwrap_or_else(crate::dirs::data_dir));
    settings.dev = args.dev;
    if let Some(listen) = args.listen.or(file.listen) {
        settings.listen = listen;
    }
    let dns_suffix = args.dns_suffix.or(file.dns_suffix);
    let dns_suffix_given = dns_suffix.is_some();
    if let Some(suffix) = dns_suffix {
        validate_dns_suffix(&suffix)?;
        settings.dns_suffix = suffix.to_ascii_lowercase();
    }
    settings.postgres_url = match args.storage.or(file.storage).as_deref() {
        None | Some("sqlite") => None,
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Some(url.to_owned()),
        Some(_) => return Err("--storage takes 'sqlite' or a postgres:// URL".into()),
    };
    settings.public_port = args.public_port.or(file.public_port);
    settings.public_url = args.public_url.or(file.public_url);
    if settings.public_url.is_some() && (settings.public_port.is_some() || dns_suffix_given) {
        return Err("the public URL names the DNS suffix and the port: give --public-url alone".into());
    }
    settings.own_vault_address = args.own_vault_address.or(file.own_vault_address);
    settings.tls_cert = args.tls_cert.or(file.tls_cert);
    settings.tls_key = args.tls_key.or(file.tls_key);
    settings.root_key_file = args.root_key_file.or(file.root_key_file);
    if let Some(lifetime) = file.token_lifetime_seconds {
        if !(300..=86_400).contains(&lifetime) {
            return Err("token_lifetime_seconds must be between 300 and 86400".into());
        }
        settings.token_lifetime_seconds = lifetime;
    }
    if let Some(seconds) = args.account_key_cache_seconds.or(file.account_key_cache_seconds) {
        if seconds > 86_400 {
            return Err("account_key_cache_seconds must be at most 86400".into());
        }
        settings.account_key_cache_seconds = seconds;
    }
    if let Some(seconds) = args.account_key_poll_seconds.or(file.account_key_poll_seconds) {
        if !(1..=86_400).contains(&seconds) {
            return Err("account_key_poll_seconds must be between 1 and 86400".into());
        }
        settings.account_key_poll_seconds = Some(seconds);
    }
    settings.account_key_events = !args.no_vault_events;
    Ok(settings)
}

/// `cmk server init`: initialises the deployment and tells what it made, or that it was made before.
async fn initialize(settings: cmk_server::Settings, args: InitArgs) -> Result<(), String> {
    use cmk_server::Initialized;
    // Refused before anything is written, so a second run cannot overwrite the first run's file.
    if let Some(path) = &args.secret_file
        && path.exists()
    {
        return Err(format!("{} exists already; name a new file", path.display()));
    }
    let names = cmk_server::DeploymentNames {
        tenant: args.tenant_name,
        subscription: args.subscription_name,
        operator: args.operator_name,
    };
    let done = cmk_server::initialize(settings, names)
        .await
        .map_err(|e| e.to_string())?;
    let authority = done.urls.authority();
    if done.root_key_created {
        println!(
            "cmk: generated the root key {}; every node of this deployment needs a copy of it, and backups of the \
             database are worthless without it",
            done.root_key_file.display()
        );
    }
    match done.outcome {
        Initialized::Already { defaults } => {
            match defaults {
                Some(d) => println!(
                    "cmk: this deployment was initialised on {} (tenant {}, subscription {}, operator client id {}); nothing changed",
                    d.created.to_rfc3339(),
                    d.tenant_id,
                    d.subscription_id,
                    d.client_id
                ),
                None => println!("cmk: this store already has operators; nothing changed"),
            }
            Ok(())
        }
        Initialized::Created { defaults, secret } => {
            let credentials = serde_json::json!({
                "authority": authority,
                "tenantId": defaults.tenant_id.to_string(),
                "subscriptionId": defaults.subscription_id.to_string(),
                "clientId": defaults.client_id.to_string(),
                "objectId": defaults.object_id.to_string(),
                "clientSecret": secret.expose(),
                "managementEndpoint": done.urls.management_endpoint(),
                "vaultDnsSuffix": done.urls.vault_dns_suffix(),
            });
            println!("cmk: initialised the deployment at {authority}");
            println!("  tenant:        {}", defaults.tenant_id);
            println!("  subscription:  {} (owned by the operator)", defaults.subscription_id);
            println!(
                "  operator:      client id {}, object id {}",
                defaults.client_id, defaults.object_id
            );
            match &args.secret_file {
                Some(path) => {
                    write_private_file(path, &credentials)?;
                    println!(
                        "  client secret: written to {} (readable by its owner only)",
                        path.display()
                    );
                }
                None => {
                    println!("  client secret: {}", secret.expose());
                    println!(
                        "  (shown this once; only a salted hash is stored. `cmk admin sp reset-secret` makes a new one)"
                    );
                }
            }
            Ok(())
        }
    }
}

/// Creates `path` (it must not exist) readable and writable by its owner only, and writes `value` to it.
fn write_private_file(path: &std::path::Path, value: &serde_json::Value) -> Result<(), String> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let text = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

pub async fn run(mut args: ServerArgs) -> Result<(), String> {
    let action = args.action.take();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CMK_LOG").unwrap_or_else(|_| {
                // An initialisation speaks for itself on stdout; its log would only repeat it.
                tracing_subscriber::EnvFilter::new(if action.is_some() { "warn" } else { "info" })
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Some(ServerAction::Init(init)) = action {
        return initialize(settings(args)?, init).await;
    }
    let settings = settings(args)?;
    let data_dir = settings.data_dir.clone();
    let server = cmk_server::start(settings).await.map_err(|e| e.to_string())?;

    let authority = server.urls.authority();
    println!("cmk server");
    println!("  data folder:     {}", data_dir.display());
    println!("  listening on:    {}", server.local_addr);
    if let Some(ca) = &server.ca_file {
        println!("  CA certificate:  {}", ca.display());
        println!(
            "                   (trust it: REQUESTS_CA_BUNDLE={} or connection_verify=...)",
            ca.display()
        );
    }
    if let Some(credentials) = &server.dev_credentials {
        println!("  tenant:          {}", credentials.tenant_id);
        println!("  subscription:    {}", credentials.subscription_id);
        println!("  resource group:  {}", credentials.resource_group);
        println!("  client id:       {}", credentials.client_id);
        println!("  client secret:   {}", credentials.client_secret);
        println!("  authority:       {}", credentials.authority);
        println!(
            "  management:      {} (scope {})",
            credentials.management_endpoint, credentials.management_scope
        );
        println!("  vault DNS suffix: {}", credentials.vault_dns_suffix);
        println!(
            "  all of the above: {}",
            data_dir.join("dev-credentials.json").display()
        );
    }
    println!("cmk: ready at {authority}");

    let stop = server.shutdown_trigger();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        stop();
    });
    server.wait().await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_suffixes_are_validated() {
        assert!(validate_dns_suffix("localhost").is_ok());
        assert!(validate_dns_suffix("cmk.example.test").is_ok());
        assert!(validate_dns_suffix("").is_err());
        assert!(validate_dns_suffix("bad..suffix").is_err());
        assert!(validate_dns_suffix("-x.test").is_err());
        assert!(validate_dns_suffix("a b").is_err());
    }
}
