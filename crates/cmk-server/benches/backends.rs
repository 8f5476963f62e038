//! PostgreSQL against SQLite, measured in one run on the same machine: the hot paths of one node of each, and
//! commits through one and three PostgreSQL nodes.
//!
//! Run with `CMK_TEST_POSTGRES_URL=postgres://... cargo bench -p cmk-server --bench backends` (a scratch server:
//! `source scripts/lib/postgres.sh && start_test_postgres`). Both deployments are production ones (initialised
//! as `cmk server init` does, no `--dev`), in this process. It reports:
//! - `unwrapkey` over HTTPS and an authenticated `GET` of 1 KiB of account content, on a SQLite node and on a
//!   PostgreSQL node, in alternating rounds, and the PostgreSQL ÷ SQLite ratio of each;
//! - commits per second (resource group creates, each an unrelated record) through one PostgreSQL node, and
//!   spread over three nodes of one deployment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use common::{BenchServer, CONCURRENCY, MEASURE, http_rate, start_production};
use serde_json::{Value, json};

const ROUNDS: usize = 4;

/// What one deployment's hot paths need: an unwrap request and a content URL with their credentials.
struct HotPaths {
    unwrap_url: String,
    wrapped: String,
    vault_token: String,
    content_url: String,
    api_key: String,
}

async fn prepare(node: &BenchServer) -> HotPaths {
    let c = &node.creds;
    let port = node.addr.port();
    let management = node.token(&c.management_scope).await;
    let oid = {
        let payload = management.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&cmk_crypto::encoding::b64url_decode(payload).unwrap()).unwrap();
        claims["oid"].as_str().unwrap().to_owned()
    };
    let group = format!(
        "https://localhost:{port}/subscriptions/{}/resourceGroups/{}",
        c.subscription_id, c.resource_group
    );
    let vault = json!({"location": "westus2", "properties": {
        "tenantId": c.tenant_id, "sku": {"family": "A", "name": "standard"}, "enablePurgeProtection": true,
        "enableRbacAuthorization": false,
        "accessPolicies": [{"tenantId": c.tenant_id, "objectId": oid, "permissions": {"keys": ["all"]}}]}});
    let created = node
        .client
        .put(format!(
            "{group}/providers/Microsoft.KeyVault/vaults/bench?api-version=2026-05-15"
        ))
        .bearer_auth(&management)
        .json(&vault)
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    let vault_token = node.token(&format!("https://vault.localhost:{port}/.default")).await;
    let key: Value = node
        .client
        .post(format!(
            "https://bench.vault.localhost:{port}/keys/cmk/create?api-version=7.6"
        ))
        .bearer_auth(&vault_token)
        .json(&json!({"kty": "RSA", "key_size": 2048}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = key["key"]["kid"].as_str().unwrap().to_owned();
    let wrapped: Value = node
        .client
        .post(format!("{kid}/wrapkey?api-version=7.6"))
        .bearer_auth(&vault_token)
        .json(&json!({"alg": "RSA-OAEP-256", "value": cmk_crypto::encoding::b64url_encode([7u8; 32])}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = format!("{group}/providers/Microsoft.CognitiveServices/accounts/bench");
    let created = node
        .client
        .put(format!("{account}?api-version=2024-10-01"))
        .bearer_auth(&management)
        .json(
            &json!({"location": "westus2", "kind": "TextAnalytics", "sku": {"name": "S0"},
            "properties": {"customSubDomainName": "bench"}}),
        )
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    let keys: Value = node
        .client
        .post(format!("{account}/listKeys?api-version=2024-10-01"))
        .bearer_auth(&management)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_key = keys["key1"].as_str().unwrap().to_owned();
    let content_url = format!("https://bench.cognitiveservices.localhost:{port}/content/small.bin");
    let put = node
        .client
        .put(&content_url)
        .header("Ocp-Apim-Subscription-Key", &api_key)
        .body(vec![42u8; 1024])
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    HotPaths {
        unwrap_url: format!("{kid}/unwrapkey?api-version=7.6"),
        wrapped: wrapped["value"].as_str().unwrap().to_owned(),
        vault_token,
        content_url,
        api_key,
    }
}

fn unwrap_call(
    node: &BenchServer,
    paths: &HotPaths,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Clone + Send + 'static {
    let (client, url, token) = (node.client.clone(), paths.unwrap_url.clone(), paths.vault_token.clone());
    let body = json!({"alg": "RSA-OAEP-256", "value": paths.wrapped});
    move || {
        let (client, url, token, body) = (client.clone(), url.clone(), token.clone(), body.clone());
        Box::pin(async move {
            let response = client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            response.bytes().await.unwrap();
        })
    }
}

fn content_call(
    node: &BenchServer,
    paths: &HotPaths,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Clone + Send + 'static {
    let (client, url, key) = (node.client.clone(), paths.content_url.clone(), paths.api_key.clone());
    move || {
        let (client, url, key) = (client.clone(), url.clone(), key.clone());
        Box::pin(async move {
            let response = client
                .get(url)
                .header("Ocp-Apim-Subscription-Key", key)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            assert_eq!(response.bytes().await.unwrap().len(), 1024);
        })
    }
}

/// Resource group creates per second through `nodes`, `CONCURRENCY` in flight on each, for `MEASURE`.
async fn commit_rate(nodes: &[&BenchServer], label: &str) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (n, node) in nodes.iter().enumerate() {
        let token = node.token(&node.creds.management_scope).await;
        for worker in 0..CONCURRENCY {
            let (client, token, done) = (node.client.clone(), token.clone(), done.clone());
            let base = format!(
                "https://localhost:{}/subscriptions/{}/resourcegroups",
                node.addr.port(),
                node.creds.subscription_id
            );
            let label = label.to_owned();
            tasks.spawn(async move {
                let mut i = 0u64;
                while started.elapsed() < MEASURE {
                    let url = format!("{base}/{label}-{n}-{worker}-{i}?api-version=2021-04-01");
                    i += 1;
                    let response = client
                        .put(url)
                        .bearer_auth(&token)
                        .json(&json!({"location": "westus2"}))
                        .send()
                        .await
                        .unwrap();
                    assert!(response.status().is_success(), "{}", response.status());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    }
    while tasks.join_next().await.is_some() {}
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let Some(server_url) = std::env::var("CMK_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) else {
        println!("set CMK_TEST_POSTGRES_URL to a PostgreSQL server (scripts/lib/postgres.sh starts a scratch one)");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // An empty schema of its own, named in the URL every node connects with.
        let schema = format!("cmk_bench_{}", std::process::id());
        cmk_store_postgres::PostgresStore::connect_in_schema(&server_url, &schema)
            .await
            .unwrap()
            .close()
            .await;
        let separator = if server_url.contains('?') { '&' } else { '?' };
        let postgres = format!("{server_url}{separator}options=-c%20search_path%3D{schema}");

        let (_sqlite_files, sqlite) = start_production(None, 1).await;
        let (_postgres_files, nodes) = start_production(Some(&postgres), 3).await;
        let sqlite_paths = prepare(&sqlite[0]).await;
        let postgres_paths = prepare(&nodes[0]).await;

        let mut totals = [[0.0f64; 2]; 2]; // [path][backend]
        for round in 0..ROUNDS {
            for (path, total) in totals.iter_mut().enumerate() {
                let backends = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                for backend in backends {
                    let (node, paths) = match backend {
                        0 => (&sqlite[0], &sqlite_paths),
                        _ => (&nodes[0], &postgres_paths),
                    };
                    total[backend] += match path {
                        0 => http_rate(unwrap_call(node, paths)).await,
                        _ => http_rate(content_call(node, paths)).await,
                    };
                }
            }
        }
        let rounds = ROUNDS as f64;
        for (path, name) in ["unwrapkey", "GET 1 KiB content"].iter().enumerate() {
            let (s, p) = (totals[path][0] / rounds, totals[path][1] / rounds);
            println!(
                "{name:<18} SQLite {s:>7.0} /s   PostgreSQL {p:>7.0} /s   PostgreSQL ÷ SQLite {:.2}",
                p / s
            );
        }
        let one = commit_rate(&[&nodes[0]], "one").await;
        let three = commit_rate(&[&nodes[0], &nodes[1], &nodes[2]], "three").await;
        let sqlite_commits = commit_rate(&[&sqlite[0]], "sqlite").await;
        println!("commits (resource group creates, {CONCURRENCY} in flight per node):");
        println!("  SQLite, one node:           {sqlite_commits:>7.0} /s");
        println!("  PostgreSQL, one node:       {one:>7.0} /s");
        println!(
            "  PostgreSQL, three nodes:    {three:>7.0} /s   ÷ one node {:.2}",
            three / one
        );
    });
}
