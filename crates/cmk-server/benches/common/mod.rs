//! What the benchmarks share: timing loops and a development server with a client that trusts it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use cmk_server::{DevCredentials, RunningServer, Settings};

pub const MEASURE: Duration = Duration::from_secs(4);
pub const CONCURRENCY: usize = 4;

/// Operations per second of `op`, run for `MEASURE` on the calling thread.
pub fn raw_rate(mut op: impl FnMut()) -> f64 {
    for _ in 0..50 {
        op();
    }
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < MEASURE {
        for _ in 0..50 {
            op();
        }
        count += 50;
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// Requests per second of `make`, with `CONCURRENCY` requests in flight, after a warm-up.
pub async fn http_rate<F, Fut>(make: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    for _ in 0..20 {
        make().await;
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut count = 0u64;
            while started.elapsed() < MEASURE {
                make().await;
                count += 1;
            }
            count
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// Operations per second of `op` run on `threads` threads at once for `MEASURE`.
pub fn raw_rate_on(threads: usize, op: impl Fn() + Sync) -> f64 {
    let started = Instant::now();
    let total: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut count = 0u64;
                    while started.elapsed() < MEASURE {
                        op();
                        count += 1;
                    }
                    count
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / started.elapsed().as_secs_f64()
}

pub struct BenchServer {
    /// The server, when it runs in this process.
    pub server: Option<RunningServer>,
    /// The server, when it runs as its own process (pinned to its own core).
    pub process: Option<std::process::Child>,
    pub addr: std::net::SocketAddr,
    pub creds: DevCredentials,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn client_for(creds: &DevCredentials, addr: std::net::SocketAddr) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&creds.ca_file).unwrap()).unwrap();
    // HTTP/1.1, as the Azure SDKs (requests, urllib3) speak it.
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .dns_resolver(std::sync::Arc::new(LocalhostResolver(addr)))
        .http1_only()
        .build()
        .unwrap()
}

/// Starts `cmk server --dev` from `binary` as its own process, on CPU `core` only (with `taskset`), so that the
/// load generator can have the other core to itself.
pub fn start_server_process(binary: &std::path::Path, core: usize) -> BenchServer {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("taskset")
        .arg("-c")
        .arg(core.to_string())
        .arg(binary)
        .args(["server", "--dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("CMK_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("taskset and a release build of cmk (cargo build --release -p cmk)");
    let stdout = child.stdout.take().unwrap();
    let mut port = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(base) = line.strip_prefix("cmk: ready at ") {
            port = base.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
            break;
        }
    }
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port.expect("the server printed its address")));
    let creds: DevCredentials =
        serde_json::from_slice(&std::fs::read(dir.path().join("dev-credentials.json")).unwrap()).unwrap();
    let client = client_for(&creds, addr);
    BenchServer {
        server: None,
        process: Some(child),
        addr,
        creds,
        client,
        _dir: dir,
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.process {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct LocalhostResolver(std::net::SocketAddr);

impl reqwest::dns::Resolve for LocalhostResolver {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addr = self.0;
        Box::pin(async move {
            let addrs: reqwest::dns::Addrs = Box::new(std::iter::once(addr));
            Ok(addrs)
        })
    }
}

pub async fn start_server() -> BenchServer {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(dir.path().to_owned());
    settings.dev = true;
    settings.listen = "127.0.0.1:0".parse().unwrap();
    let server = cmk_server::start(settings).await.unwrap();
    let creds = server.dev_credentials.clone().unwrap();
    let addr = server.local_addr;
    let client = client_for(&creds, addr);
    BenchServer {
        server: Some(server),
        process: None,
        addr,
        creds,
        client,
        _dir: dir,
    }
}

impl BenchServer {
    pub async fn token(&self, scope: &str) -> String {
        let c = &self.creds;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("scope", scope),
        ];
        let url = format!("{}/{}/oauth2/v2.0/token", c.authority, c.tenant_id);
        let body: serde_json::Value = self
            .client
            .post(url)
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }
}

/// Starts a development server in this process, with `adjust` applied to its settings first (for example the
/// account key poll interval, or vault change events off).
pub async fn start_server_with(adjust: impl FnOnce(&mut Settings)) -> BenchServer {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(dir.path().to_owned());
    settings.dev = true;
    settings.listen = "127.0.0.1:0".parse().unwrap();
    adjust(&mut settings);
    let server = cmk_server::start(settings).await.unwrap();
    let creds = server.dev_credentials.clone().unwrap();
    let addr = server.local_addr;
    let client = client_for(&creds, addr);
    BenchServer {
        server: Some(server),
        process: None,
        addr,
        creds,
        client,
        _dir: dir,
    }
}

/// Starts `cmk server --dev` from `binary` as its own process with the `extra` flags (for example
/// `--no-vault-events`), on CPU `core` only (with `taskset`) when one is given.
pub fn start_server_process_with(binary: &std::path::Path, core: Option<usize>, extra: &[&str]) -> BenchServer {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut command = match core {
        Some(core) => {
            let mut command = std::process::Command::new("taskset");
            command.arg("-c").arg(core.to_string()).arg(binary);
            command
        }
        None => std::process::Command::new(binary),
    };
    let mut child = command
        .args(["server", "--dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(extra)
        .env("CMK_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("a release build of cmk (cargo build --release -p cmk), and taskset when pinning");
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut port = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(base) = line.strip_prefix("cmk: ready at ") {
            port = base.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
            break;
        }
    }
    // Keep reading what the server prints, so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port.expect("the server printed its address")));
    let creds: DevCredentials =
        serde_json::from_slice(&std::fs::read(dir.path().join("dev-credentials.json")).unwrap()).unwrap();
    let client = client_for(&creds, addr);
    BenchServer {
        server: None,
        process: Some(child),
        addr,
        creds,
        client,
        _dir: dir,
    }
}

/// A free port of 127.0.0.1 (bound, then released): a production node needs its public URL before it listens.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Files every node of one production deployment shares: its certificate chain and key (for `localhost` and its
/// vault and account wildcards, issued by a CA of its own), and the root key.
pub struct SharedFiles {
    pub dir: tempfile::TempDir,
    pub ca_file: std::path::PathBuf,
}

pub fn shared_files() -> SharedFiles {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let names = [
        "localhost",
        "*.localhost",
        "*.vault.localhost",
        "*.cognitiveservices.localhost",
    ];
    let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &Issuer::new(ca_params, &ca_key)).unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    std::fs::write(dir.path().join("server.pem"), format!("{}{}", cert.pem(), ca.pem())).unwrap();
    std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
    SharedFiles { dir, ca_file }
}

/// The settings of one production node (no `--dev`) of the deployment whose public port is `public_port`.
pub fn production_settings(
    shared: &SharedFiles,
    postgres_url: Option<&str>,
    public_port: u16,
    listen_port: u16,
    data_dir: std::path::PathBuf,
) -> Settings {
    let mut settings = Settings::new(data_dir);
    settings.listen = std::net::SocketAddr::from(([127, 0, 0, 1], listen_port));
    settings.public_url = Some(format!("https://localhost:{public_port}"));
    settings.postgres_url = postgres_url.map(str::to_owned);
    settings.tls_cert = Some(shared.dir.path().join("server.pem"));
    settings.tls_key = Some(shared.dir.path().join("server.key"));
    settings.root_key_file = Some(shared.dir.path().join("root.key"));
    settings
}

/// Initialises a production deployment (`cmk server init`) and starts `nodes` nodes of it in this process, the
/// first listening on the public port; their credentials are the operator's, with a resource group `bench`.
pub async fn start_production(postgres_url: Option<&str>, nodes: usize) -> (SharedFiles, Vec<BenchServer>) {
    let shared = shared_files();
    let public_port = free_port();
    let names = cmk_server::DeploymentNames {
        tenant: "bench".into(),
        subscription: "bench".into(),
        operator: "bench operator".into(),
    };
    let init = production_settings(
        &shared,
        postgres_url,
        public_port,
        public_port,
        shared.dir.path().join("node-0"),
    );
    let done = cmk_server::initialize(init, names).await.unwrap();
    let cmk_server::Initialized::Created { defaults, secret } = done.outcome else {
        panic!("the store was initialised before")
    };
    let authority = format!("https://localhost:{public_port}");
    let creds = DevCredentials {
        tenant_id: defaults.tenant_id.to_string(),
        subscription_id: defaults.subscription_id.to_string(),
        resource_group: "bench".into(),
        client_id: defaults.client_id.to_string(),
        client_secret: secret.expose().to_owned(),
        authority: authority.clone(),
        management_endpoint: format!("{authority}/"),
        management_scope: format!("{authority}/.default"),
        vault_dns_suffix: ".vault.localhost".into(),
        ca_file: shared.ca_file.display().to_string(),
    };
    let mut servers = Vec::new();
    for node in 0..nodes {
        let listen = if node == 0 { public_port } else { free_port() };
        let dir = tempfile::tempdir().unwrap();
        let data_dir = if postgres_url.is_some() {
            dir.path().to_owned()
        } else {
            shared.dir.path().join("node-0")
        };
        let settings = production_settings(&shared, postgres_url, public_port, listen, data_dir);
        let server = cmk_server::start(settings).await.unwrap();
        let addr = server.local_addr;
        servers.push(BenchServer {
            server: Some(server),
            process: None,
            addr,
            client: client_for(&creds, addr),
            creds: creds.clone(),
            _dir: dir,
        });
    }
    let first = &servers[0];
    let management = first.token(&creds.management_scope).await;
    let group = first
        .client
        .put(format!(
            "{authority}/subscriptions/{}/resourcegroups/bench?api-version=2021-04-01",
            creds.subscription_id
        ))
        .bearer_auth(&management)
        .json(&serde_json::json!({"location": "westus2"}))
        .send()
        .await
        .unwrap();
    assert!(group.status().is_success(), "{}", group.status());
    (shared, servers)
}
