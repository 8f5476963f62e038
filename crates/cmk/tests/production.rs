//! Production deployments, initialised with `cmk server init` and started without `--dev`: one node on SQLite,
//! administered by its operator; and several `cmk server` processes on one PostgreSQL database behind a TCP
//! balancer, as a production deployment runs: driven with the `cmk` client through the balancer, and checked
//! node by node. A revocation through one node is enforced by another within a second even when the first dies
//! right after (S11 across nodes); rotation is followed everywhere (S10); concurrent writes through both nodes
//! and a `kill -9` under load lose no acknowledged write; a node frozen by SIGSTOP, or a session holding the
//! store's ordering point, holds the others up for at most the store's lock timeout and then gets `503` with
//! `Retry-After`.
//!
//! The PostgreSQL test needs `CMK_TEST_POSTGRES_URL` (see `scripts/lib/postgres.sh`); it is skipped without it,
//! except in CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Executor};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

const URL_VAR: &str = "CMK_TEST_POSTGRES_URL";

fn postgres_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| !ci.is_empty()) => {
            panic!("{URL_VAR} is not set: PostgreSQL is required in CI")
        }
        _ => {
            eprintln!("note: {URL_VAR} is not set; skipping the multi-node tests");
            None
        }
    }
}

/// A database of its own on the test server, so each run starts from an empty store.
async fn fresh_database(server_url: &str) -> String {
    let name = format!(
        "cmk_nodes_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let mut conn = sqlx::PgConnection::connect(server_url).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    conn.close().await.unwrap();
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server_url, String::new()),
    };
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{name}{query}")
}

/// A certificate authority and one server certificate for every host of the `localhost` suffix, as an operator
/// would issue for the balancer's names; the chain file ends with the CA.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "multi-node test CA");
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
    let (ca_file, cert_file, key_file) = (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&ca_file, ca.pem()).unwrap();
    std::fs::write(&cert_file, format!("{}{}", cert.pem(), ca.pem())).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (ca_file, cert_file, key_file)
}

/// A TCP balancer: each new connection goes to the first node of its list that accepts it.
struct Balancer {
    port: u16,
    targets: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Balancer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let targets: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
        let shared = targets.clone();
        tokio::spawn(async move {
            let mut turn = 0usize;
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut order = shared.lock().unwrap().clone();
                if !order.is_empty() {
                    // Round-robin over the nodes listed, skipping those that refuse.
                    turn += 1;
                    let len = order.len();
                    order.rotate_left(turn % len);
                }
                tokio::spawn(async move {
                    for target in order {
                        if let Ok(Ok(mut outbound)) =
                            tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(target)).await
                        {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                    }
                });
            }
        });
        Self { port, targets }
    }

    fn send_to(&self, nodes: &[&Node]) {
        *self.targets.lock().unwrap() = nodes.iter().map(|n| n.addr).collect();
    }
}

struct Node {
    child: Child,
    addr: SocketAddr,
}

struct Deployment {
    dir: tempfile::TempDir,
    /// `None`: SQLite, in one data folder that initialisation and the one node share.
    database: Option<String>,
    public_url: String,
    ca_file: PathBuf,
    cert_file: PathBuf,
    key_file: PathBuf,
    balancer: Balancer,
    operator: Value,
    http: reqwest::Client,
}

impl Deployment {
    fn root_key(&self) -> PathBuf {
        self.dir.path().join("root.key")
    }

    fn server_command(&self, data: &str) -> Command {
        self.server_command_at(data, &self.public_url)
    }

    fn server_command_at(&self, data: &str, public_url: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cmk"));
        command.arg("server").args(["--public-url", public_url]);
        match &self.database {
            Some(database) => command
                .args(["--storage", database])
                .arg("--data-dir")
                .arg(self.dir.path().join(data)),
            None => command.arg("--data-dir").arg(self.dir.path().join("sqlite")),
        };
        command
            .arg("--root-key-file")
            .arg(self.root_key())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    async fn start_node(&self, name: &str) -> Node {
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).unwrap();
        let mut child = self
            .server_command(name)
            .args(["--listen", "127.0.0.1:0"])
            .arg("--tls-cert")
            .arg(&self.cert_file)
            .arg("--tls-key")
            .arg(&self.key_file)
            // An hour: every bound this test measures comes from the change feed, none from the poll.
            .args(["--account-key-poll-seconds", "3600"])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            let mut addr = None;
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(listening) = line.trim().strip_prefix("listening on:") {
                    addr = Some(listening.trim().parse::<SocketAddr>().unwrap());
                }
                if line.starts_with("cmk: ready at ") {
                    return addr.expect("the banner names the listening address");
                }
            }
            panic!("node {name} exited before it was ready");
        })
        .await
        .expect("the node did not get ready in time");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Node { child, addr }
    }

    /// Runs the `cmk` client through the balancer and returns its JSON answer.
    async fn cmk(&self, args: &[&str]) -> Value {
        let output = Command::new(env!("CARGO_BIN_EXE_cmk"))
            .args(args)
            .env("CMK_CONFIG_DIR", self.dir.path().join("client"))
            .env("CMK_SERVER", format!("https://localhost:{}", self.balancer.port))
            .env_remove("CMK_CLIENT_SECRET")
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "cmk {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
    }

    fn field(&self, name: &str) -> &str {
        self.operator[name].as_str().unwrap()
    }

    /// A token for `resource` from the directory of `node` (or the balancer).
    async fn token(&self, port: u16, resource: &str) -> String {
        let response = self
            .http
            .post(format!(
                "https://localhost:{port}/{}/oauth2/v2.0/token",
                self.field("tenantId")
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.field("clientId")),
                ("client_secret", self.field("clientSecret")),
                ("scope", &format!("{resource}/.default")),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn resource(&self, plane: &str) -> String {
        format!("https://{plane}localhost:{}", self.balancer.port)
    }
}

/// Sends `*.localhost` to loopback; the port of each URL picks the node or the balancer.
struct Loopback;

impl reqwest::dns::Resolve for Loopback {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async {
            let addrs: reqwest::dns::Addrs = Box::new(std::iter::once(SocketAddr::from(([127, 0, 0, 1], 0))));
            Ok(addrs)
        })
    }
}

async fn deployment(database: Option<String>) -> Deployment {
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, cert_file, key_file) = certificates(dir.path());
    let balancer = Balancer::start().await;
    let public_url = format!("https://localhost:{}", balancer.port);
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca_file).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .dns_resolver(Arc::new(Loopback))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut deployment = Deployment {
        dir,
        database,
        public_url,
        ca_file,
        cert_file,
        key_file,
        balancer,
        operator: Value::Null,
        http,
    };

    // The one initialisation; its second run changes nothing and says so.
    let secret_file = deployment.dir.path().join("operator.json");
    let init = |extra: Vec<String>| {
        let mut command = deployment.server_command("init");
        command.arg("init").args(extra);
        command
    };
    let first = init(vec!["--secret-file".into(), secret_file.display().to_string()])
        .output()
        .await
        .unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let again = init(vec![]).output().await.unwrap();
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing changed"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the operator's secret file is readable by others");
    }
    deployment.operator = serde_json::from_slice(&std::fs::read(&secret_file).unwrap()).unwrap();
    deployment
}

async fn postgres_deployment() -> Option<Deployment> {
    let database = fresh_database(&postgres_url()?).await;
    Some(deployment(Some(database)).await)
}

fn is_refusal(status: StatusCode, body: &Value, code: &str) -> bool {
    status == StatusCode::FORBIDDEN && body["error"]["code"] == code
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> (StatusCode, Value) {
    let response = http.get(url).bearer_auth(token).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_one_postgresql_keep_every_promise_of_one_node() {
    let Some(d) = postgres_deployment().await else { return };
    let mut a = d.start_node("a").await;
    let b = d.start_node("b").await;
    d.balancer.send_to(&[&a, &b]);

    // A node configured differently from the deployment refuses to start.
    let wrong = d
        .server_command_at("wrong", "https://localhost:1")
        .args(["--listen", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(&d.cert_file)
        .arg("--tls-key")
        .arg(&d.key_file)
        .output()
        .await
        .unwrap();
    assert!(!wrong.status.success());
    let refusal = String::from_utf8_lossy(&wrong.stderr);
    assert!(refusal.contains("public URL is"), "{refusal}");

    // Through the balancer, with the client as an operator would use it.
    let tenant = d.field("tenantId").to_owned();
    let subscription = d.field("subscriptionId").to_owned();
    d.cmk(&[
        "login",
        "--tenant",
        &tenant,
        "-u",
        d.field("clientId"),
        "-p",
        d.field("clientSecret"),
        "--subscription",
        &subscription,
        "--ca-file",
        d.ca_file.to_str().unwrap(),
        "--output",
        "none",
    ])
    .await;
    d.cmk(&["group", "create", "--name", "rg", "--location", "westus2"])
        .await;
    d.cmk(&[
        "keyvault",
        "create",
        "--name",
        "kv-nodes",
        "--resource-group",
        "rg",
        "--location",
        "westus2",
        "--enable-purge-protection",
    ])
    .await;
    d.cmk(&["keyvault", "key", "create", "--vault-name", "kv-nodes", "--name", "cmk"])
        .await;
    let account = ["--name", "nodes", "--resource-group", "rg"];
    d.cmk(
        &[
            &["cognitiveservices", "account", "create"][..],
            &account,
            &[
                "--location",
                "westus2",
                "--kind",
                "TextAnalytics",
                "--sku",
                "E0",
                "--custom-domain",
                "nodes",
            ],
        ]
        .concat(),
    )
    .await;
    let account_id = d
        .cmk(&[&["cognitiveservices", "account", "show"][..], &account].concat())
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = d.cmk(&["account", "show", "--query", "user.objectId"]).await;
    d.cmk(&[
        "role",
        "assignment",
        "create",
        "--role",
        "Cognitive Services User",
        "--assignee-object-id",
        me.as_str().unwrap(),
        "--scope",
        &account_id,
    ])
    .await;
    let identity = d
        .cmk(&[&["cognitiveservices", "account", "identity", "assign"][..], &account].concat())
        .await["principalId"]
        .as_str()
        .unwrap()
        .to_owned();
    d.cmk(
        &[
            &["cognitiveservices", "account", "encryption", "set"][..],
            &account,
            &["--vault-name", "kv-nodes", "--key-name", "cmk", "--grant-access"],
        ]
        .concat(),
    )
    .await;
    let report = d.dir.path().join("report.txt");
    std::fs::write(&report, b"quarterly figures").unwrap();
    d.cmk(&[
        "cognitiveservices",
        "data",
        "put",
        "--account",
        "nodes",
        "--resource-group",
        "rg",
        "--name",
        "report.txt",
        "--file",
        report.to_str().unwrap(),
    ])
    .await;

    // A token one node issued works on the other; the content is readable through either.
    let content = |node: &Node| {
        format!(
            "https://nodes.cognitiveservices.localhost:{}/content/report.txt",
            node.addr.port()
        )
    };
    let data_token = d.token(a.addr.port(), &d.resource("cognitiveservices.")).await;
    for node in [&a, &b] {
        let response = d.http.get(content(node)).bearer_auth(&data_token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.bytes().await.unwrap().as_ref(), b"quarterly figures");
    }

    // Revocation through A, A killed right after: B enforces it within a second. `CMK_REVOCATION_ROUNDS`
    // repeats it, for the latency figures in BENCHMARKS.md.
    let management_token = d
        .token(b.addr.port(), &format!("https://localhost:{}", d.balancer.port))
        .await;
    let policies = |node: &Node, operation: &str| {
        format!(
            "https://localhost:{}/subscriptions/{subscription}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-nodes/accessPolicies/{operation}?api-version=2023-07-01",
            node.addr.port()
        )
    };
    let policy = json!({ "properties": { "accessPolicies": [{
        "tenantId": tenant, "objectId": identity, "permissions": { "keys": ["get", "wrapKey", "unwrapKey"] } }] } });
    let rounds: usize = std::env::var("CMK_REVOCATION_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let mut latencies = Vec::new();
    for _ in 0..rounds {
        let removed = d
            .http
            .put(policies(&a, "remove"))
            .bearer_auth(&management_token)
            .json(&policy)
            .send()
            .await
            .unwrap();
        assert_eq!(removed.status(), StatusCode::OK);
        let revoked = Instant::now();
        a.child.start_kill().unwrap();
        let _ = a.child.wait().await;
        loop {
            let (status, body) = get(&d.http, &content(&b), &data_token).await;
            if is_refusal(status, &body, "CustomerManagedKeyInaccessible") {
                break;
            }
            assert_eq!(status, StatusCode::OK, "{body}");
            assert!(
                revoked.elapsed() < Duration::from_secs(1),
                "B kept serving the account's content {:?} after the revocation",
                revoked.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(revoked.elapsed());

        // Access returns through B; A comes back and serves the content again.
        let added = d
            .http
            .put(policies(&b, "add"))
            .bearer_auth(&management_token)
            .json(&policy)
            .send()
            .await
            .unwrap();
        assert_eq!(added.status(), StatusCode::OK);
        a = d.start_node("a").await;
        let restored = Instant::now();
        loop {
            let (status, body) = get(&d.http, &content(&a), &data_token).await;
            if status == StatusCode::OK {
                break;
            }
            assert!(
                restored.elapsed() < Duration::from_secs(5),
                "access did not return on A: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    latencies.sort();
    eprintln!(
        "cross-node revocation, {rounds} rounds: median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    d.balancer.send_to(&[&a, &b]);

    // Rotation through A is followed by B: the account re-wraps its data key under the new version.
    d.balancer.send_to(&[&a]);
    let rotated = d
        .cmk(&["keyvault", "key", "rotate", "--vault-name", "kv-nodes", "--name", "cmk"])
        .await["key"]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let on_b = format!("https://localhost:{}{account_id}?api-version=2024-10-01", b.addr.port());
    let started = Instant::now();
    loop {
        let (status, body) = get(&d.http, &on_b, &management_token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["properties"]["encryption"]["keyVaultProperties"]["currentVersionedKeyIdentifier"] == rotated.as_str() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the rotation was not followed: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Concurrent creates through both nodes: every acknowledged one is there, on either node.
    let group_url = |port: u16, name: &str| {
        format!("https://localhost:{port}/subscriptions/{subscription}/resourcegroups/{name}?api-version=2021-04-01")
    };
    let mut writers = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (http, token) = (d.http.clone(), management_token.clone());
        let url = group_url(
            if i % 2 == 0 { a.addr.port() } else { b.addr.port() },
            &format!("concurrent-{i}"),
        );
        writers.spawn(async move {
            let response = http
                .put(url)
                .bearer_auth(token)
                .json(&json!({ "location": "westus2" }))
                .send()
                .await
                .unwrap();
            response.status()
        });
    }
    while let Some(status) = writers.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::CREATED);
    }
    for i in 0..20 {
        let (status, _) = get(
            &d.http,
            &group_url(b.addr.port(), &format!("concurrent-{i}")),
            &management_token,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "concurrent-{i} is missing");
    }

    // kill -9 of a node under load: every write either node acknowledged survives.
    d.balancer.send_to(&[&a, &b]);
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = tokio::task::JoinSet::new();
    for writer in 0..4 {
        let (http, token, acknowledged, stop) = (
            d.http.clone(),
            management_token.clone(),
            acknowledged.clone(),
            stop.clone(),
        );
        let base = group_url(d.balancer.port, "");
        load.spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let name = format!("load-{writer}-{i}");
                i += 1;
                let url = base.replace("resourcegroups/?", &format!("resourcegroups/{name}?"));
                if let Ok(response) = http
                    .put(url)
                    .bearer_auth(&token)
                    .json(&json!({ "location": "westus2" }))
                    .send()
                    .await
                    && response.status() == StatusCode::CREATED
                {
                    acknowledged.lock().unwrap().push(name);
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    a.child.start_kill().unwrap();
    let _ = a.child.wait().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    while load.join_next().await.is_some() {}
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 10,
        "the load made too few writes to mean anything: {}",
        acknowledged.len()
    );
    for name in &acknowledged {
        let (status, _) = get(&d.http, &group_url(b.addr.port(), name), &management_token).await;
        assert_eq!(status, StatusCode::OK, "{name} was acknowledged and is lost");
    }

    // A node frozen while it writes does not stop the others: B reads at once, and every write through B is
    // answered within two seconds, done or 503 with Retry-After.
    let c = d.start_node("c").await;
    let frozen_load = {
        let (http, token) = (d.http.clone(), management_token.clone());
        let base = group_url(c.addr.port(), "");
        tokio::spawn(async move {
            for i in 0.. {
                let url = base.replace("resourcegroups/?", &format!("resourcegroups/frozen-{i}?"));
                if http
                    .put(url)
                    .bearer_auth(&token)
                    .json(&json!({ "location": "westus2" }))
                    .send()
                    .await
                    .is_err()
                {
                    return;
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = c.child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let frozen = Instant::now();
    let started = Instant::now();
    let (status, _) = get(&d.http, &group_url(b.addr.port(), "concurrent-0"), &management_token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "a read waited {:?} on the frozen node",
        started.elapsed()
    );
    let mut written = false;
    for i in 0..5 {
        let started = Instant::now();
        let response = d
            .http
            .put(group_url(b.addr.port(), &format!("beside-frozen-{i}")))
            .bearer_auth(&management_token)
            .json(&json!({ "location": "westus2" }))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a write waited {:?}",
            started.elapsed()
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(response.headers().contains_key("retry-after"));
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "ServiceUnavailable");
        } else {
            assert_eq!(status, StatusCode::CREATED);
            written = true;
            break;
        }
    }
    assert!(written, "no write went through beside the frozen node");
    assert!(
        frozen.elapsed() < Duration::from_secs(4),
        "writes resumed only after {:?}",
        frozen.elapsed()
    );
    assert!(
        std::process::Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    frozen_load.abort();

    // A session holding the ordering point (a frozen commit): the conflicting write is refused within two
    // seconds with 503 and Retry-After in Azure's shape, and reads go on.
    let mut holder = sqlx::PgConnection::connect(d.database.as_deref().unwrap())
        .await
        .unwrap();
    holder
        .execute("BEGIN; UPDATE store_revision SET revision = revision WHERE id = 1")
        .await
        .unwrap();
    let started = Instant::now();
    let response = d
        .http
        .put(group_url(b.addr.port(), "behind-the-lock"))
        .bearer_auth(&management_token)
        .json(&json!({ "location": "westus2" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the refusal took {:?}",
        started.elapsed()
    );
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ServiceUnavailable", "{body}");
    let (status, _) = get(&d.http, &group_url(b.addr.port(), "concurrent-1"), &management_token).await;
    assert_eq!(status, StatusCode::OK);
    holder.close().await.unwrap();

    // Readiness and metrics, as a balancer and Prometheus see them.
    let ready = d
        .http
        .get(format!("https://localhost:{}/readyz", b.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let metrics = d
        .http
        .get(format!("https://localhost:{}/metrics", b.addr.port()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("cmk_requests_total{plane=\"account\",status=\"403\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("cmk_feed_lag_seconds"), "{metrics}");
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_on_sqlite_is_initialised_and_administered_by_its_operator() {
    // Before initialisation a production start is refused, naming the command that initialises.
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = certificates(dir.path());
    let refused = Command::new(env!("CARGO_BIN_EXE_cmk"))
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("empty"))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cmk server init"));
    // Settings that cannot work are refused before anything is created.
    for (flags, refusal) in [
        (
            &["--dev", "--storage", "postgres://db.invalid/cmk"][..],
            "cmk server init",
        ),
        (
            &[
                "--public-url",
                "https://cmk.example.com",
                "--dns-suffix",
                "other.example.com",
            ][..],
            "--public-url alone",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_cmk"))
            .arg("server")
            .args(flags)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("unused"))
            .output()
            .await
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(refusal), "{stderr}");
        assert!(
            !dir.path().join("unused").exists(),
            "a refused start created its data folder"
        );
    }

    let d = deployment(None).await;
    // A node whose root key or DNS suffix differs from the deployment's record refuses to start.
    let other_key = d.dir.path().join("other.key");
    let public_url = d.public_url.clone();
    let other_suffix = public_url.replace("https://localhost", "https://other.localhost");
    for (url, key, refusal) in [
        (public_url.as_str(), &other_key, "root key"),
        (other_suffix.as_str(), &d.root_key(), "DNS suffix"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_cmk"))
            .args(["server", "--listen", "127.0.0.1:0", "--public-url", url, "--data-dir"])
            .arg(d.dir.path().join("sqlite"))
            .arg("--root-key-file")
            .arg(key)
            .arg("--tls-cert")
            .arg(&d.cert_file)
            .arg("--tls-key")
            .arg(&d.key_file)
            .output()
            .await
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(refusal), "{stderr}");
    }
    let node = d.start_node("sqlite").await;
    d.balancer.send_to(&[&node]);
    let tenant = d.field("tenantId").to_owned();
    d.cmk(&[
        "login",
        "--tenant",
        &tenant,
        "-u",
        d.field("clientId"),
        "-p",
        d.field("clientSecret"),
        "--ca-file",
        d.ca_file.to_str().unwrap(),
        "--output",
        "none",
    ])
    .await;
    // The operator owns the first subscription, and nothing of a development start is there.
    let management = d
        .token(node.addr.port(), &format!("https://localhost:{}", d.balancer.port))
        .await;
    let (status, subscriptions) = get(
        &d.http,
        &format!(
            "https://localhost:{}/subscriptions?api-version=2022-12-01",
            node.addr.port()
        ),
        &management,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = subscriptions["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["subscriptionId"].as_str())
        .collect();
    assert_eq!(ids, [d.field("subscriptionId")], "{subscriptions}");
    d.cmk(&["group", "create", "--name", "rg", "--location", "westus2"])
        .await;

    // Principals: create, list (no secrets), reset a secret (the old one stops working), delete.
    let created = d
        .cmk(&["admin", "sp", "create", "--tenant", &tenant, "--display-name", "team-a"])
        .await;
    let team = created["clientId"].as_str().unwrap().to_owned();
    let old_secret = created["clientSecret"].as_str().unwrap().to_owned();
    let listed = d.cmk(&["admin", "sp", "list", "--tenant", &tenant]).await;
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(!listed.to_string().contains(&old_secret), "a listing showed a secret");
    assert!(listed.to_string().contains("hint"));
    let reset = d
        .cmk(&["admin", "sp", "reset-secret", "--tenant", &tenant, "--client-id", &team])
        .await;
    let new_secret = reset["clientSecret"].as_str().unwrap().to_owned();
    let token_status = |secret: String| {
        let (http, tenant, team, port, public) = (
            d.http.clone(),
            tenant.clone(),
            team.clone(),
            node.addr.port(),
            d.balancer.port,
        );
        async move {
            http.post(format!("https://localhost:{port}/{tenant}/oauth2/v2.0/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", team.as_str()),
                    ("client_secret", secret.as_str()),
                    ("scope", &format!("https://localhost:{public}/.default")),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(token_status(old_secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(token_status(new_secret).await, StatusCode::OK);
    d.cmk(&["admin", "sp", "delete", "--tenant", &tenant, "--client-id", &team])
        .await;

    // The last operator stays.
    let output = Command::new(env!("CARGO_BIN_EXE_cmk"))
        .args([
            "admin",
            "sp",
            "delete",
            "--tenant",
            &tenant,
            "--client-id",
            d.field("clientId"),
        ])
        .env("CMK_CONFIG_DIR", d.dir.path().join("client"))
        .env("CMK_SERVER", format!("https://localhost:{}", d.balancer.port))
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("LastOperator"));
}
