//! The `cmk` binary as a process: state survives a restart and a `kill -9` right after a 201, and SIGTERM
//! stops the server cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Process {
    child: Child,
    creds: Value,
    client: Client,
    base: String,
}

async fn start(data_dir: &Path) -> Process {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.with_extension("log"))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cmk"))
        .args(["server", "--dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        // The most verbose level a user would run with; no secret may appear at it either.
        .env("CMK_LOG", "debug")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(base) = line.strip_prefix("cmk: ready at ") {
                return base.to_owned();
            }
        }
        panic!("the server exited before it was ready");
    })
    .await
    .expect("the server did not get ready in time");
    // Keep reading stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let creds: Value = serde_json::from_slice(&std::fs::read(data_dir.join("dev-credentials.json")).unwrap()).unwrap();
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(creds["ca_file"].as_str().unwrap()).unwrap()).unwrap();
    let client = Client::builder()
        .tls_certs_only([ca])
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    Process {
        child,
        creds,
        client,
        base,
    }
}

impl Process {
    fn field(&self, name: &str) -> &str {
        self.creds[name].as_str().unwrap()
    }

    async fn token(&self) -> String {
        let response = self
            .client
            .post(format!("{}/{}/oauth2/v2.0/token", self.base, self.field("tenant_id")))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.field("client_id")),
                ("client_secret", self.field("client_secret")),
                ("scope", self.field("management_scope")),
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

    fn group_url(&self, name: &str) -> String {
        format!(
            "{}/subscriptions/{}/resourcegroups/{name}?api-version=2025-04-01",
            self.base,
            self.field("subscription_id")
        )
    }

    async fn put_group(&self, token: &str, name: &str) -> StatusCode {
        self.client
            .put(self.group_url(name))
            .bearer_auth(token)
            .json(&serde_json::json!({"location": "westus2", "tags": {"name": name}}))
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn get_group(&self, token: &str, name: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.group_url(name))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap_or(Value::Null))
    }

    /// SIGTERM, then the exit status.
    async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().unwrap().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("no exit after SIGTERM")
            .unwrap()
    }
}

#[tokio::test]
async fn a_restart_keeps_identities_secret_groups_and_clock() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = start(&data).await;
    let token = first.token().await;
    assert_eq!(first.put_group(&token, "kept").await, StatusCode::CREATED);
    let advanced = first
        .client
        .post(format!("{}/cmk/admin/clock/advance", first.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"seconds": 86400}))
        .send()
        .await
        .unwrap();
    assert_eq!(advanced.status(), StatusCode::OK);
    let creds_before = first.creds.clone();
    let status = first.terminate().await;
    assert!(status.success(), "SIGTERM must stop the server cleanly, got {status}");

    let second = start(&data).await;
    for field in [
        "tenant_id",
        "subscription_id",
        "resource_group",
        "client_id",
        "client_secret",
        "ca_file",
    ] {
        assert_eq!(
            second.creds[field], creds_before[field],
            "{field} changed across a restart"
        );
    }
    let token = second.token().await;
    let (status, group) = second.get_group(&token, "kept").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(group["tags"]["name"], "kept");
    let clock: Value = second
        .client
        .get(format!("{}/cmk/admin/clock", second.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        clock["offsetSeconds"], 86400,
        "time must not run backwards across a restart"
    );
    second.terminate().await;
}

#[tokio::test]
async fn kill_9_right_after_a_201_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut first = start(&data).await;
    let token = first.token().await;
    let names: Vec<String> = (0..5).map(|i| format!("acknowledged-{i}")).collect();
    for name in &names {
        assert_eq!(first.put_group(&token, name).await, StatusCode::CREATED);
    }
    // No grace at all: SIGKILL the moment the last 201 arrived.
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();

    let second = start(&data).await;
    let token = second.token().await;
    for name in &names {
        let (status, _) = second.get_group(&token, name).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{name} was acknowledged with 201 but lost after kill -9"
        );
    }
    second.terminate().await;
}

#[tokio::test]
async fn a_lost_credentials_file_gets_a_new_secret_for_the_same_identities() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = start(&data).await;
    let creds_before = first.creds.clone();
    first.terminate().await;
    std::fs::remove_file(data.join("dev-credentials.json")).unwrap();

    let second = start(&data).await;
    assert_eq!(second.creds["tenant_id"], creds_before["tenant_id"]);
    assert_eq!(second.creds["client_id"], creds_before["client_id"]);
    assert_ne!(second.creds["client_secret"], creds_before["client_secret"]);
    second.token().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("dev-credentials.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the credentials file holds a secret");
        let mode = std::fs::metadata(data.join("root.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the root key file");
    }
    second.terminate().await;
}

/// What a copy of the data folder's database or the server's log would give away: neither may hold the client
/// secret, an access token, or an unsealed private key.
#[tokio::test]
async fn secrets_are_neither_stored_nor_logged_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let process = start(&data).await;
    let secret = process.field("client_secret").to_owned();
    let token = process.token().await;
    assert_eq!(process.put_group(&token, "after-token").await, StatusCode::CREATED);
    process.terminate().await;

    let mut stored = Vec::new();
    for file in ["cmk.db", "cmk.db-wal"] {
        if let Ok(bytes) = std::fs::read(data.join(file)) {
            stored.extend(bytes);
        }
    }
    assert!(!stored.is_empty());
    let contains = |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(&stored, secret.as_bytes()),
        "the client secret is stored in the clear"
    );
    // The rsaEncryption OID opens every PKCS#8 RSA key, raw or base64-encoded.
    assert!(
        !contains(&stored, &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]),
        "a private key is stored unsealed"
    );
    assert!(
        !contains(&stored, b"KoZIhvcNAQEB"),
        "a private key is stored unsealed (base64)"
    );

    let log = std::fs::read(data.with_extension("log")).unwrap();
    assert!(contains(&log, b"request"), "the log should hold request lines");
    assert!(!contains(&log, secret.as_bytes()), "the client secret is in the log");
    let signature = token.rsplit('.').next().unwrap();
    assert!(!contains(&log, signature.as_bytes()), "an access token is in the log");
}

#[tokio::test]
async fn a_second_server_on_the_same_data_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = start(&data).await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_cmk"))
        .args(["server", "--dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("another cmk server is using the data folder"));
    first.terminate().await;
}

/// Account content acknowledged with 201 survives a `kill -9`, readable with its data key after the restart.
#[tokio::test]
async fn kill_9_right_after_content_is_stored_loses_no_byte() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut first = start(&data).await;
    let token = first.token().await;
    let account_url = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.CognitiveServices/accounts/durable1?api-version=2025-09-01",
        first.base,
        first.field("subscription_id"),
        first.field("resource_group")
    );
    let response = first
        .client
        .put(&account_url)
        .bearer_auth(&token)
        .json(&serde_json::json!({"location": "westus2", "kind": "TextAnalytics", "sku": {"name": "S0"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let endpoint = response.json::<Value>().await.unwrap()["properties"]["endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    let keys_url = account_url.replace("?api-version", "/listKeys?api-version");
    let keys: Value = first
        .client
        .post(&keys_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = keys["key1"].as_str().unwrap().to_owned();
    let port: u16 = first.base.rsplit(':').next().unwrap().parse().unwrap();
    let content_client = |process: &Process, port: u16| {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(process.field("ca_file")).unwrap()).unwrap();
        Client::builder()
            .tls_certs_only([ca])
            .resolve("durable1.cognitiveservices.localhost", ([127, 0, 0, 1], port).into())
            .build()
            .unwrap()
    };
    let client = content_client(&first, port);
    let objects: Vec<(String, Vec<u8>)> = (0..4u8)
        .map(|i| {
            let len = 1000 + usize::from(i) * (700 * 1024);
            (format!("object-{i}"), (0..len).map(|b| (b as u8) ^ i).collect())
        })
        .collect();
    for (name, bytes) in &objects {
        let response = client
            .put(format!("{endpoint}content/{name}"))
            .header("Ocp-Apim-Subscription-Key", &key)
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();

    // The restarted server listens on another free port; the endpoint's host stays the same.
    let second = start(&data).await;
    let port: u16 = second.base.rsplit(':').next().unwrap().parse().unwrap();
    let endpoint = format!("https://durable1.cognitiveservices.localhost:{port}/");
    let client = content_client(&second, port);
    for (name, bytes) in &objects {
        let response = client
            .get(format!("{endpoint}content/{name}"))
            .header("Ocp-Apim-Subscription-Key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name} was acknowledged but lost");
        assert_eq!(&response.bytes().await.unwrap()[..], &bytes[..], "{name} changed");
    }
    second.terminate().await;
}
