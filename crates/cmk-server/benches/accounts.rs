//! Accounts with customer-managed keys: rotation against data size, and revocation latency, each against a raw
//! limit measured in the same run on the same machine.
//!
//! Run with `cargo bench -p cmk-server --bench accounts`. It reports:
//! - rotation: with 0, 16 and 256 MiB of content stored (4 MiB objects uploaded through the data plane), the
//!   time of the account update that moves the account to a new key version (`PATCH` with `keyVersion`), the
//!   median of 9 per size, against one in-process RSA-2048 RSA-OAEP-256 wrap+unwrap pair (the key operations a
//!   rotation needs); the ratio of the largest size to the smallest shows that content is never re-encrypted;
//! - upload throughput of the data plane against raw AES-256-GCM sealing of 1 MiB chunks on one core;
//! - revocation and recovery: the time from an access-policy change returning until the data plane answers
//!   `403 CustomerManagedKeyInaccessible` (revoke) or `200` again (recover), and when the GET that first saw
//!   the change was sent; 20 times each, with vault change events (the default) and with the poll alone every
//!   2 s, against the poll interval. How long a GET takes while nothing changes is reported alongside.
//!
//! `-- --server-process PATH` runs each server as its own process (`cmk server --dev`, pinned to core 0), the
//! poll-only one with `--no-vault-events --account-key-poll-seconds 2`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cmk_crypto::data_key::DataKey;
use cmk_crypto::encoding::b64url_decode;
use cmk_crypto::rsa::{RsaEncryptionAlgorithm, RsaPrivateKey};
use common::{BenchServer, CONCURRENCY, raw_rate, start_server_process_with, start_server_with};
use serde_json::{Value, json};

const MIB: usize = 1 << 20;
/// The size of each uploaded object.
const OBJECT_BYTES: usize = 4 * MIB;
/// Content stored when the rotations of each step are timed.
const DATA_SIZES_MIB: [usize; 3] = [0, 16, 256];
const ROTATIONS: usize = 9;
const REVOCATIONS: usize = 20;
/// The poll interval of the poll-only server.
const POLL_SECONDS: u64 = 2;
/// How often the data plane is asked while waiting for a revocation or a recovery.
const PROBE_EVERY: Duration = Duration::from_millis(5);
/// Waiting longer than this for a revocation or a recovery is a failure.
const GIVE_UP: Duration = Duration::from_secs(20);
/// What the account's identity needs on the vault (docs/accounts.md).
const IDENTITY_KEY_PERMISSIONS: [&str; 3] = ["get", "wrapKey", "unwrapKey"];
const ARM_ACCOUNTS_API: &str = "api-version=2023-05-01";
const ARM_VAULTS_API: &str = "api-version=2023-07-01";
const VAULT_API: &str = "api-version=7.6";
const PROBE: &str = "probe.txt";

/// An E0 account with customer-managed keys on, and the vault and key behind it.
struct Fixture {
    client: reqwest::Client,
    tenant_id: String,
    management: String,
    vault_token: String,
    /// ARM URL of the vault, without query.
    vault_arm: String,
    /// `https://{vault}.vault.localhost:{port}/`
    vault_uri: String,
    key_name: String,
    /// ARM URL of the account, without query.
    account_arm: String,
    /// The account's data-plane endpoint, without the trailing slash.
    endpoint: String,
    api_key: String,
    principal_id: String,
}

/// Sends `request`, insists on a success status and answers the JSON body (or `Null` for an empty one).
async fn send(request: reqwest::RequestBuilder, what: &str) -> Value {
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.bytes().await.unwrap();
    assert!(
        status.is_success(),
        "{what}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap()
    }
}

async fn setup(bench: &BenchServer, tag: &str) -> Fixture {
    let c = &bench.creds;
    let client = bench.client.clone();
    let port = bench.addr.port();
    let management = bench.token(&c.management_scope).await;
    let operator = {
        let payload = management.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&b64url_decode(payload).unwrap()).unwrap();
        claims["oid"].as_str().unwrap().to_owned()
    };
    let group = format!(
        "{}subscriptions/{}/resourceGroups/{}/providers",
        c.management_endpoint, c.subscription_id, c.resource_group
    );

    // The customer's vault (soft delete and purge protection) and an RSA-2048 key.
    let vault_name = format!("kv-{tag}");
    let vault_arm = format!("{group}/Microsoft.KeyVault/vaults/{vault_name}");
    let vault = json!({"location": "westus2", "properties": {
        "tenantId": c.tenant_id, "sku": {"family": "A", "name": "standard"},
        "enableSoftDelete": true, "enablePurgeProtection": true,
        "accessPolicies": [{"tenantId": c.tenant_id, "objectId": operator, "permissions": {"keys": ["all"]}}]}});
    let created = send(
        client
            .put(format!("{vault_arm}?{ARM_VAULTS_API}"))
            .bearer_auth(&management)
            .json(&vault),
        "creating the vault",
    )
    .await;
    let vault_uri = created["properties"]["vaultUri"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("https://{vault_name}.vault.localhost:{port}/"));
    let vault_token = bench.token(&format!("https://vault.localhost:{port}/.default")).await;
    let key_name = "account-key".to_owned();
    let key = send(
        client
            .post(format!("{vault_uri}keys/{key_name}/create?{VAULT_API}"))
            .bearer_auth(&vault_token)
            .json(&json!({"kty": "RSA", "key_size": 2048})),
        "creating the key",
    )
    .await;
    let version = version_of(&key);

    // An E0 account with Microsoft-managed keys, its identity, the identity's access, then the customer's key.
    let name = format!("acct-{tag}");
    let account_arm = format!("{group}/Microsoft.CognitiveServices/accounts/{name}");
    let account = send(
        client
            .put(format!("{account_arm}?{ARM_ACCOUNTS_API}"))
            .bearer_auth(&management)
            .json(
                &json!({"location": "westus2", "kind": "TextAnalytics", "sku": {"name": "E0"},
                "properties": {"customSubDomainName": format!("bench-{tag}")}}),
            ),
        "creating the account",
    )
    .await;
    let endpoint = account["properties"]["endpoint"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let keys = send(
        client
            .post(format!("{account_arm}/listKeys?{ARM_ACCOUNTS_API}"))
            .bearer_auth(&management),
        "listing the account keys",
    )
    .await;
    let api_key = keys["key1"].as_str().unwrap().to_owned();
    let identified = send(
        client
            .patch(format!("{account_arm}?{ARM_ACCOUNTS_API}"))
            .bearer_auth(&management)
            .json(&json!({"identity": {"type": "SystemAssigned"}})),
        "enabling the identity",
    )
    .await;
    let principal_id = identified["identity"]["principalId"].as_str().unwrap().to_owned();
    let fixture = Fixture {
        client,
        tenant_id: c.tenant_id.clone(),
        management,
        vault_token,
        vault_arm,
        vault_uri,
        key_name,
        account_arm,
        endpoint,
        api_key,
        principal_id,
    };
    fixture.access_policy("add").await;
    let kid = fixture.use_key_version(&version).await;
    assert!(
        kid.ends_with(&version),
        "the data key is wrapped by {kid}, not version {version}"
    );
    fixture
}

/// The version of a key bundle (the last segment of its `kid`).
fn version_of(bundle: &Value) -> String {
    let kid = bundle["key"]["kid"].as_str().unwrap();
    kid.rsplit('/').next().unwrap().to_owned()
}

impl Fixture {
    /// `accessPolicies/{kind}` (add or remove) for the account's identity, with what it needs on the key.
    async fn access_policy(&self, kind: &str) {
        let body = json!({"properties": {"accessPolicies": [{
            "tenantId": self.tenant_id, "objectId": self.principal_id,
            "permissions": {"keys": IDENTITY_KEY_PERMISSIONS}}]}});
        send(
            self.client
                .put(format!("{}/accessPolicies/{kind}?{ARM_VAULTS_API}", self.vault_arm))
                .bearer_auth(&self.management)
                .json(&body),
            &format!("accessPolicies/{kind}"),
        )
        .await;
    }

    /// A new version of the key (`POST /keys/{name}/rotate`), as its version.
    async fn new_key_version(&self) -> String {
        let bundle = send(
            self.client
                .post(format!("{}keys/{}/rotate?{VAULT_API}", self.vault_uri, self.key_name))
                .bearer_auth(&self.vault_token),
            "rotating the key in the vault",
        )
        .await;
        version_of(&bundle)
    }

    /// Switches the account to `version` of the key (customer-managed keys on, or a rotation) and answers the
    /// key that wraps the data key now (`currentVersionedKeyIdentifier`).
    async fn use_key_version(&self, version: &str) -> String {
        let body = json!({"properties": {"encryption": {"keySource": "Microsoft.KeyVault", "keyVaultProperties": {
            "keyName": self.key_name, "keyVersion": version, "keyVaultUri": self.vault_uri}}}});
        let account = send(
            self.client
                .patch(format!("{}?{ARM_ACCOUNTS_API}", self.account_arm))
                .bearer_auth(&self.management)
                .json(&body),
            "moving the account to a key version",
        )
        .await;
        let encryption = &account["properties"]["encryption"];
        assert_eq!(encryption["keySource"], "Microsoft.KeyVault", "{encryption}");
        encryption["keyVaultProperties"]["currentVersionedKeyIdentifier"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn content(&self, name: &str) -> String {
        format!("{}/content/{name}", self.endpoint)
    }

    async fn put(&self, name: &str, data: Bytes) {
        let response = self
            .client
            .put(self.content(name))
            .header("Ocp-Apim-Subscription-Key", &self.api_key)
            .header("Content-Type", "application/octet-stream")
            .body(data)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.bytes().await.unwrap();
        assert!(
            status.is_success(),
            "storing {name}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// `GET /content/{name}`: the status, the error code when there is one, and the body's length.
    async fn get(&self, name: &str) -> (u16, Option<String>, usize) {
        let response = self
            .client
            .get(self.content(name))
            .header("Ocp-Apim-Subscription-Key", &self.api_key)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        let code = if status == 200 {
            None
        } else {
            serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        };
        (status, code, body.len())
    }

    /// Uploads objects `from..to` (4 MiB each), `CONCURRENCY` at a time.
    async fn upload(self: &Arc<Self>, data: &Bytes, from: usize, to: usize) {
        let next = Arc::new(AtomicUsize::new(from));
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENCY {
            let (fixture, next, data) = (self.clone(), next.clone(), data.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= to {
                        break;
                    }
                    fixture.put(&object_name(i), data.clone()).await;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    }

    /// Waits until the data plane answers `403 CustomerManagedKeyInaccessible` (`accessible == false`) or
    /// `200` (`accessible == true`) for the probe object, asking every `PROBE_EVERY`. Answers, from `since`, when
    /// the first GET that saw the new state was sent and when it was answered.
    async fn await_state(&self, accessible: bool, since: Instant) -> Seen {
        loop {
            let sent = since.elapsed();
            let (status, code, _) = self.get(PROBE).await;
            let answered = since.elapsed();
            match (status, code.as_deref()) {
                (200, _) if accessible => return Seen { sent, answered },
                (403, Some("CustomerManagedKeyInaccessible")) if !accessible => return Seen { sent, answered },
                (200, _) | (403, Some("CustomerManagedKeyInaccessible")) => {}
                other => panic!("unexpected answer from the data plane: {other:?}"),
            }
            assert!(
                answered < GIVE_UP,
                "the account was still {} {answered:?} after access was {}",
                if accessible { "inaccessible" } else { "accessible" },
                if accessible { "granted" } else { "removed" },
            );
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    /// How long GETs of `name` take while nothing changes, `count` of them, sorted.
    async fn get_times(&self, name: &str, count: usize) -> Vec<Duration> {
        let mut times = Vec::new();
        for _ in 0..count {
            let started = Instant::now();
            self.get(name).await;
            times.push(started.elapsed());
            tokio::time::sleep(PROBE_EVERY).await;
        }
        times.sort();
        times
    }
}

/// When the first data-plane GET that saw a change was sent, and when it was answered.
#[derive(Clone, Copy)]
struct Seen {
    sent: Duration,
    answered: Duration,
}

fn object_name(i: usize) -> String {
    format!("data/{i:04}.bin")
}

/// A uniformly random duration in `[0, limit)`, so that changes fall at any phase of the poll.
fn random_below(limit: Duration) -> Duration {
    let bytes = cmk_crypto::random::random_array::<8>().unwrap();
    let fraction = (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64;
    limit.mul_f64(fraction)
}

/// The nearest-rank `p` quantile of sorted `values`.
fn quantile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct RotationRow {
    data_mib: usize,
    new_version: Duration,
    update: Duration,
}

struct Rotations {
    rows: Vec<RotationRow>,
    upload_mib_per_s: f64,
}

async fn rotations(bench: &BenchServer) -> Rotations {
    let fixture = Arc::new(setup(bench, "rotation").await);
    let mut chunk = vec![0u8; OBJECT_BYTES];
    cmk_crypto::random::fill(&mut chunk).unwrap();
    let data = Bytes::from(chunk);
    let mut rows = Vec::new();
    let mut stored = 0;
    let mut upload_time = Duration::ZERO;
    for data_mib in DATA_SIZES_MIB {
        let objects = data_mib * MIB / OBJECT_BYTES;
        let started = Instant::now();
        fixture.upload(&data, stored, objects).await;
        if objects > stored {
            upload_time += started.elapsed();
        }
        stored = objects;
        let mut new_version = Vec::new();
        let mut update = Vec::new();
        for _ in 0..ROTATIONS {
            let started = Instant::now();
            let version = fixture.new_key_version().await;
            new_version.push(started.elapsed());
            // The vault reports the new version; let the account's re-check of that event finish first.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let started = Instant::now();
            let kid = fixture.use_key_version(&version).await;
            update.push(started.elapsed());
            assert!(
                kid.ends_with(&version),
                "after the rotation the data key is wrapped by {kid}"
            );
            // The content is still there, readable under the re-wrapped data key.
            let (status, _, len) = fixture.get(&object_name(0)).await;
            if stored == 0 {
                assert_eq!(status, 404);
            } else {
                assert_eq!((status, len), (200, OBJECT_BYTES));
            }
        }
        new_version.sort();
        update.sort();
        rows.push(RotationRow {
            data_mib,
            new_version: quantile(&new_version, 0.5),
            update: quantile(&update, 0.5),
        });
    }
    let (status, _, len) = fixture.get(&object_name(stored - 1)).await;
    assert_eq!((status, len), (200, OBJECT_BYTES));
    Rotations {
        rows,
        upload_mib_per_s: (stored * OBJECT_BYTES / MIB) as f64 / upload_time.as_secs_f64(),
    }
}

struct Latencies {
    revoke: Vec<Seen>,
    recover: Vec<Seen>,
    /// How long the access-policy calls themselves took.
    policy_call: Vec<Duration>,
    /// GETs of the probe object (17 bytes, answered 200) and of a missing object (404), while nothing changes.
    get_probe: Vec<Duration>,
    get_missing: Vec<Duration>,
}

/// Removes and restores the identity's access `REVOCATIONS` times; with `phase`, each change waits a random
/// part of it first, so that it falls anywhere in the poll's cycle.
async fn revocations(bench: &BenchServer, tag: &str, phase: Option<Duration>) -> Latencies {
    let fixture = setup(bench, tag).await;
    fixture.put(PROBE, Bytes::from_static(b"revocation probe\n")).await;
    assert_eq!(fixture.get(PROBE).await.0, 200);
    let mut latencies = Latencies {
        revoke: Vec::new(),
        recover: Vec::new(),
        policy_call: Vec::new(),
        get_probe: fixture.get_times(PROBE, 40).await,
        get_missing: fixture.get_times("missing", 40).await,
    };
    for _ in 0..REVOCATIONS {
        for (kind, accessible) in [("remove", false), ("add", true)] {
            match phase {
                Some(phase) => tokio::time::sleep(random_below(phase)).await,
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
            let started = Instant::now();
            fixture.access_policy(kind).await;
            let returned = Instant::now();
            latencies.policy_call.push(returned - started);
            let seen = fixture.await_state(accessible, returned).await;
            if accessible {
                latencies.recover.push(seen);
            } else {
                latencies.revoke.push(seen);
            }
        }
    }
    latencies.policy_call.sort();
    latencies
}

/// The median, p95 and max of `values`.
fn spread(values: impl Iterator<Item = Duration>) -> [Duration; 3] {
    let mut sorted: Vec<Duration> = values.collect();
    sorted.sort();
    [quantile(&sorted, 0.5), quantile(&sorted, 0.95), quantile(&sorted, 1.0)]
}

async fn stop(bench: BenchServer) {
    let mut bench = bench;
    if let Some(server) = bench.server.take() {
        server.shutdown().await.unwrap();
    }
}

fn main() {
    let total = Instant::now();
    // Raw limits, on one core of this machine.
    let rsa = RsaPrivateKey::generate(2048).unwrap();
    let data_key_bytes = [3u8; 32];
    let pairs_per_s = raw_rate(|| {
        let wrapped = rsa
            .public_key()
            .encrypt(RsaEncryptionAlgorithm::RsaOaep256, &data_key_bytes)
            .unwrap();
        rsa.decrypt(RsaEncryptionAlgorithm::RsaOaep256, &wrapped).unwrap();
    });
    let raw_pair = Duration::from_secs_f64(1.0 / pairs_per_s);
    let (data_key, _) = DataKey::generate().unwrap();
    let chunk = vec![7u8; MIB];
    let raw_seal_mib_per_s = raw_rate(|| {
        data_key.seal(b"account:object:chunk:1", &chunk).unwrap();
    });

    let args: Vec<String> = std::env::args().collect();
    let server_binary = args
        .iter()
        .position(|a| a == "--server-process")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let poll = Duration::from_secs(POLL_SECONDS);
    let (rotation, pushed, polled) = runtime.block_on(async {
        let bench = match &server_binary {
            Some(binary) => start_server_process_with(binary, Some(0), &[]),
            None => start_server_with(|_| {}).await,
        };
        let rotation = rotations(&bench).await;
        let pushed = revocations(&bench, "events", None).await;
        stop(bench).await;

        let poll_seconds = POLL_SECONDS.to_string();
        let bench = match &server_binary {
            Some(binary) => start_server_process_with(
                binary,
                Some(0),
                &["--no-vault-events", "--account-key-poll-seconds", &poll_seconds],
            ),
            None => {
                start_server_with(|settings| {
                    settings.account_key_events = false;
                    settings.account_key_poll_seconds = Some(POLL_SECONDS);
                })
                .await
            }
        };
        let polled = revocations(&bench, "poll", Some(poll)).await;
        stop(bench).await;
        (rotation, pushed, polled)
    });

    println!();
    if server_binary.is_some() {
        println!("server: its own process on core 0");
    }
    println!("Rotation: a new key version, then PATCH of the account to it (median of {ROTATIONS} per size)");
    println!(
        "  raw RSA-2048 RSA-OAEP-256 wrap+unwrap pair, one core: {:>7.2} ms",
        ms(raw_pair)
    );
    println!("  content stored | new key version (vault) | account update | update ÷ raw pair");
    for row in &rotation.rows {
        println!(
            "  {:>10} MiB | {:>20.1} ms | {:>11.1} ms | {:>17.1}",
            row.data_mib,
            ms(row.new_version),
            ms(row.update),
            row.update.as_secs_f64() / raw_pair.as_secs_f64()
        );
    }
    let (first, last) = (&rotation.rows[0], &rotation.rows[rotation.rows.len() - 1]);
    println!(
        "  account update at {} MiB ÷ at {} MiB: {:.2}",
        last.data_mib,
        first.data_mib,
        last.update.as_secs_f64() / first.update.as_secs_f64()
    );
    println!(
        "  upload through the data plane ({CONCURRENCY} in flight, 4 MiB objects): {:>7.0} MiB/s",
        rotation.upload_mib_per_s
    );
    println!(
        "  raw AES-256-GCM seal of 1 MiB chunks, one core:           {raw_seal_mib_per_s:>7.0} MiB/s   upload ÷ raw: {:.2}",
        rotation.upload_mib_per_s / raw_seal_mib_per_s
    );
    println!();
    println!(
        "Revocation ({REVOCATIONS} times): access-policy change returned → data plane 403 (revoke) or 200 (recover), probed every {} ms",
        PROBE_EVERY.as_millis()
    );
    println!(
        "  key checks           | phase   | GET answered: median    p95    max ms | GET sent: median    max ms | max answered ÷ poll interval"
    );
    for (label, latencies, interval) in [
        ("vault events", &pushed, None),
        ("poll alone every 2 s", &polled, Some(poll)),
    ] {
        for (phase, values) in [("revoke", &latencies.revoke), ("recover", &latencies.recover)] {
            let [median, p95, max] = spread(values.iter().map(|s| s.answered));
            let [sent_median, _, sent_max] = spread(values.iter().map(|s| s.sent));
            println!(
                "  {label:<20} | {phase:<7} | {:>20.1} {:>6.1} {:>6.1} | {:>16.1} {:>6.1} | {}",
                ms(median),
                ms(p95),
                ms(max),
                ms(sent_median),
                ms(sent_max),
                interval.map_or("-".to_owned(), |i| format!(
                    "{:.2}",
                    max.as_secs_f64() / i.as_secs_f64()
                ))
            );
        }
    }
    println!(
        "  the access-policy call itself: median {:.1} ms (events), {:.1} ms (poll alone)",
        ms(quantile(&pushed.policy_call, 0.5)),
        ms(quantile(&polled.policy_call, 0.5))
    );
    for (label, latencies) in [("events", &pushed), ("poll alone", &polled)] {
        let [probe_median, _, probe_max] = spread(latencies.get_probe.iter().copied());
        let [missing_median, _, missing_max] = spread(latencies.get_missing.iter().copied());
        println!(
            "  a GET alone ({label} server, 40 each): 17-byte object {:.1} ms median, {:.1} ms max; missing object (404) {:.1} ms median, {:.1} ms max",
            ms(probe_median),
            ms(probe_max),
            ms(missing_median),
            ms(missing_max)
        );
    }
    println!("whole benchmark: {:.0} s", total.elapsed().as_secs_f64());
}
