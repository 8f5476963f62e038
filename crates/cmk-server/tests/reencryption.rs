//! Re-encryption of all content under a new data key, as a background job with progress, beyond rotation
//! (which never touches content, S10).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use cmk_store::Store;
use common::{TestServer, arm_code};
use reqwest::{Method, StatusCode};
use serde_json::Value;

const API: &str = "api-version=2025-09-01";

fn account_path(server: &TestServer, name: &str, suffix: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.CognitiveServices/accounts/{name}{suffix}?{API}",
        server.creds.subscription_id, server.creds.resource_group
    )
}

async fn create_account(server: &TestServer, name: &str) -> (String, String) {
    let body = r#"{"location":"westus2","kind":"TextAnalytics","sku":{"name":"S0"}}"#;
    let (status, account) = server
        .arm(Method::PUT, &account_path(server, name, ""), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    let (status, keys) = server
        .arm(Method::POST, &account_path(server, name, "/listKeys"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    (
        account["properties"]["endpoint"].as_str().unwrap().to_owned(),
        keys["key1"].as_str().unwrap().to_owned(),
    )
}

fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn reencryption_moves_every_object_to_a_new_data_key_and_keeps_every_byte() {
    let server = TestServer::start().await;
    let (endpoint, key) = create_account(&server, "reencrypt1").await;
    let objects: Vec<(String, Vec<u8>)> = vec![
        ("a.bin".into(), content(1, 10)),
        ("nested/b.bin".into(), content(2, (1 << 20) + 5)),
        ("c.bin".into(), content(3, 3 << 20)),
        ("empty".into(), Vec::new()),
    ];
    let mut etags = Vec::new();
    for (name, bytes) in &objects {
        let response = server
            .client
            .put(format!("{endpoint}content/{name}"))
            .header("Ocp-Apim-Subscription-Key", &key)
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        etags.push(body["etag"].as_str().unwrap().to_owned());
    }

    let (status, job) = server
        .arm(Method::POST, &account_path(&server, "reencrypt1", "/reencrypt"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["objectsTotal"], 4, "{job}");
    assert_eq!(job["dataKeyVersion"], 2, "{job}");

    let deadline = Instant::now() + Duration::from_secs(30);
    let finished = loop {
        let (status, job) = server
            .arm(Method::GET, &account_path(&server, "reencrypt1", "/reencrypt"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{job}");
        if job["status"] != "Running" {
            break job;
        }
        assert!(Instant::now() < deadline, "the job did not finish: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(finished["status"], "Succeeded", "{finished}");
    assert_eq!(finished["objectsDone"], 4, "{finished}");
    assert_eq!(finished["percentComplete"], 100.0, "{finished}");
    assert_eq!(
        finished["bytesDone"],
        objects.iter().map(|(_, b)| b.len()).sum::<usize>(),
        "{finished}"
    );

    for ((name, bytes), old_etag) in objects.iter().zip(&etags) {
        let response = server
            .client
            .get(format!("{endpoint}content/{name}"))
            .header("Ocp-Apim-Subscription-Key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(
            &etag, old_etag,
            "{name}: the content did not change, so neither does its etag"
        );
        assert_eq!(
            &response.bytes().await.unwrap()[..],
            &bytes[..],
            "{name} reads back unchanged"
        );
    }

    // In the store, every object now names the new data key, and the old key is gone from the account.
    let dir = server.stop().await;
    let store = cmk_store_sqlite::SqliteStore::open(&dir.path().join("cmk.db"))
        .await
        .unwrap();
    let objects_stored = store.list("content/", None, 10_000).await.unwrap();
    let records: Vec<Value> = objects_stored
        .iter()
        .filter(|e| e.key.contains("/o/"))
        .map(|e| serde_json::from_slice(&e.value).unwrap())
        .collect();
    assert_eq!(records.len(), objects.len());
    assert!(records.iter().all(|r| r["dataKeyVersion"] == 2), "{records:?}");
    let accounts = store.list("accounts/records/", None, 10).await.unwrap();
    let account: Value = serde_json::from_slice(&accounts[0].value).unwrap();
    assert_eq!(account["dataKeyVersion"], 2);
    assert!(account.get("retiredDataKeys").is_none(), "{account}");
}

#[tokio::test]
async fn reencryption_status_before_any_job_is_not_found() {
    let server = TestServer::start().await;
    create_account(&server, "reencrypt2").await;
    let (status, body) = server
        .arm(Method::GET, &account_path(&server, "reencrypt2", "/reencrypt"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(arm_code(&body), "ReencryptionNotFound");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("reencrypt2"),
        "{body}"
    );
}
