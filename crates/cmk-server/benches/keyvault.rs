//! Key Vault throughput against the raw cryptographic limit, measured in one run on the same machine.
//!
//! Run with `cargo bench -p cmk-server --bench keyvault`. It reports:
//! - raw aws-lc-rs RSA-2048 OAEP-256 decrypts per second, on one core and on all cores;
//! - end-to-end `unwrapkey` calls per second over HTTPS (keep-alive, token validation and access-policy
//!   authorization on every call) and their ratio to the raw rate on the same cores;
//! - end-to-end `wrapkey` calls per second, and their ratio to an authenticated call that does no cryptography
//!   (`GET /keys/{name}/{version}`), which shows what a public-key operation adds to the request cost;
//! - raw aws-lc-rs ES256 (P-256) signatures per second on one core, and `sign` with ES256 over HTTPS against it;
//! - `unwrapkey` on a vault that uses Azure RBAC (the caller's role assignment decides) against the same on a
//!   vault with access policies, measured alternately, which shows what role-based authorization costs.
//!
//! Client and server share the machine's cores, as a load generator on the same host does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cmk_crypto::ec::{EcCurve, EcPrivateKey, EcSignatureAlgorithm};
use cmk_crypto::encoding::{b64url_decode, b64url_encode};
use cmk_crypto::rsa::{RsaEncryptionAlgorithm, RsaPrivateKey, RsaPublicKey};
use common::{CONCURRENCY, http_rate, raw_rate, raw_rate_on, start_server, start_server_process};
use serde_json::{Value, json};

/// Alternating measurements of `unwrapkey` on each permission model.
const ROUNDS: usize = 4;

/// Creates the RSA-2048 key `cmk` in the vault at `base`; returns its versioned id and a data key wrapped under
/// it with RSA-OAEP-256, for `unwrapkey`.
async fn create_key(bench: &common::BenchServer, base: &str, token: &str) -> (String, String) {
    let bundle: Value = bench
        .client
        .post(format!("{base}/keys/cmk/create?api-version=7.6"))
        .bearer_auth(token)
        .json(&json!({"kty": "RSA", "key_size": 2048}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public = RsaPublicKey::from_components(
        b64url_decode(bundle["key"]["n"].as_str().unwrap()).unwrap(),
        b64url_decode(bundle["key"]["e"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let wrapped = b64url_encode(public.encrypt(RsaEncryptionAlgorithm::RsaOaep256, &[5u8; 32]).unwrap());
    (bundle["key"]["kid"].as_str().unwrap().to_owned(), wrapped)
}

fn main() {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let key = RsaPrivateKey::generate(2048).unwrap();
    let ciphertext = key
        .public_key()
        .encrypt(RsaEncryptionAlgorithm::RsaOaep256, &[9u8; 32])
        .unwrap();
    let raw_one = raw_rate(|| {
        key.decrypt(RsaEncryptionAlgorithm::RsaOaep256, &ciphertext).unwrap();
    });
    let raw_all = raw_rate_on(cores, || {
        key.decrypt(RsaEncryptionAlgorithm::RsaOaep256, &ciphertext).unwrap();
    });
    let ec_key = EcPrivateKey::generate(EcCurve::P256).unwrap();
    let raw_es256 = raw_rate(|| {
        ec_key.sign_digest(EcSignatureAlgorithm::Es256, &[3u8; 32]).unwrap();
    });

    // `--server-process PATH`: the server runs as its own process pinned to core 0; run this benchmark under
    // `taskset -c 1` so the load generator has core 1 to itself and the ratio compares like with like.
    let args: Vec<String> = std::env::args().collect();
    let server_binary = args
        .iter()
        .position(|a| a == "--server-process")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (unwrap_rate, wrap_rate, get_rate, es256_rate, rbac_rates) = runtime.block_on(async {
        let bench = match &server_binary {
            Some(binary) => start_server_process(std::path::Path::new(binary), 0),
            None => start_server().await,
        };
        let port = bench.addr.port();
        let c = &bench.creds;
        let management = bench.token(&c.management_scope).await;
        let oid = {
            let payload = management.split('.').nth(1).unwrap();
            let claims: Value = serde_json::from_slice(&b64url_decode(payload).unwrap()).unwrap();
            claims["oid"].as_str().unwrap().to_owned()
        };
        let vault = json!({"location": "westus2", "properties": {
            "tenantId": c.tenant_id, "sku": {"family": "A", "name": "standard"}, "enablePurgeProtection": true,
            "accessPolicies": [{"tenantId": c.tenant_id, "objectId": oid, "permissions": {"keys": ["all"]}}]}});
        let url = format!(
            "{}subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/bench?api-version=1",
            c.management_endpoint, c.subscription_id, c.resource_group
        );
        let created = bench
            .client
            .put(url)
            .bearer_auth(&management)
            .json(&vault)
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success());
        let token = bench.token(&format!("https://vault.localhost:{port}/.default")).await;
        let base = format!("https://bench.vault.localhost:{port}");
        let (kid, wrapped) = create_key(&bench, &base, &token).await;

        let call = |path: String, body: Option<Value>| {
            let (client, token) = (bench.client.clone(), token.clone());
            move || {
                let (client, token, path, body) = (client.clone(), token.clone(), path.clone(), body.clone());
                async move {
                    let request = match body {
                        Some(body) => client.post(&path).json(&body),
                        None => client.get(&path),
                    };
                    let response = request.bearer_auth(&token).send().await.unwrap();
                    assert!(response.status().is_success(), "{}", response.status());
                    response.bytes().await.unwrap();
                }
            }
        };
        let unwrap = http_rate(call(
            format!("{kid}/unwrapkey?api-version=7.6"),
            Some(json!({"alg": "RSA-OAEP-256", "value": wrapped})),
        ))
        .await;
        let wrap = http_rate(call(
            format!("{kid}/wrapkey?api-version=7.6"),
            Some(json!({"alg": "RSA-OAEP-256", "value": b64url_encode([1u8; 32])})),
        ))
        .await;
        let get = http_rate(call(format!("{kid}?api-version=7.6"), None)).await;
        let ec_bundle: Value = bench
            .client
            .post(format!("{base}/keys/ec/create?api-version=7.6"))
            .bearer_auth(&token)
            .json(&json!({"kty": "EC", "crv": "P-256"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ec_kid = ec_bundle["key"]["kid"].as_str().unwrap().to_owned();
        let es256 = http_rate(call(
            format!("{ec_kid}/sign?api-version=7.6"),
            Some(json!({"alg": "ES256", "value": b64url_encode([3u8; 32])})),
        ))
        .await;

        // The same key operation on a vault that uses Azure RBAC, the caller holding Key Vault Crypto Officer on
        // it (owning the subscription grants no key use).
        let vault_path = format!(
            "{}subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/bench-rbac",
            c.management_endpoint, c.subscription_id, c.resource_group
        );
        let rbac_vault = json!({"location": "westus2", "properties": {
            "tenantId": c.tenant_id, "sku": {"family": "A", "name": "standard"}, "enablePurgeProtection": true,
            "enableRbacAuthorization": true}});
        let created = bench
            .client
            .put(format!("{vault_path}?api-version=2026-05-15"))
            .bearer_auth(&management)
            .json(&rbac_vault)
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success());
        let assignment = json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/14b46e9e-c2b7-41b4-b07b-48a6ebf60603", c.subscription_id),
            "principalId": oid, "principalType": "ServicePrincipal"}});
        let assigned = bench
            .client
            .put(format!(
                "{vault_path}/providers/Microsoft.Authorization/roleAssignments/6f1c0c52-93e4-4a70-9d3c-5a2d1b7e9f01?api-version=2022-04-01"
            ))
            .bearer_auth(&management)
            .json(&assignment)
            .send()
            .await
            .unwrap();
        assert!(assigned.status().is_success(), "{}", assigned.status());
        let rbac_base = format!("https://bench-rbac.vault.localhost:{port}");
        let (rbac_kid, rbac_wrapped) = create_key(&bench, &rbac_base, &token).await;
        // Alternating rounds, each model first in half of them, so that drift of the machine and the order of
        // measurement fall on both models alike.
        let policy_call = call(
            format!("{kid}/unwrapkey?api-version=7.6"),
            Some(json!({"alg": "RSA-OAEP-256", "value": wrapped})),
        );
        let rbac_call = call(
            format!("{rbac_kid}/unwrapkey?api-version=7.6"),
            Some(json!({"alg": "RSA-OAEP-256", "value": rbac_wrapped})),
        );
        let (mut policy_total, mut rbac_total) = (0.0, 0.0);
        for round in 0..ROUNDS {
            if round % 2 == 0 {
                policy_total += http_rate(policy_call.clone()).await;
                rbac_total += http_rate(rbac_call.clone()).await;
            } else {
                rbac_total += http_rate(rbac_call.clone()).await;
                policy_total += http_rate(policy_call.clone()).await;
            }
        }
        let rounds = ROUNDS as f64;
        (unwrap, wrap, get, es256, (policy_total / rounds, rbac_total / rounds))
    });

    if server_binary.is_some() {
        println!("server: its own process on core 0; load generator: core 1");
    }
    println!("raw RSA-2048 OAEP-256 decrypt, one core:       {raw_one:>8.0} /s");
    println!("raw RSA-2048 OAEP-256 decrypt, {cores} cores:        {raw_all:>8.0} /s");
    println!(
        "unwrapkey over HTTPS ({CONCURRENCY} in flight):          {unwrap_rate:>8.0} /s   ratio to raw on {cores} cores: {:.2}   to raw on one core: {:.2}",
        unwrap_rate / raw_all,
        unwrap_rate / raw_one
    );
    println!(
        "wrapkey over HTTPS ({CONCURRENCY} in flight):            {wrap_rate:>8.0} /s   ratio to an authenticated no-crypto call: {:.2}",
        wrap_rate / get_rate
    );
    println!("authenticated GET of the key ({CONCURRENCY} in flight): {get_rate:>8.0} /s");
    println!("raw ES256 (P-256) sign, one core:             {raw_es256:>8.0} /s");
    println!(
        "sign ES256 over HTTPS ({CONCURRENCY} in flight):         {es256_rate:>8.0} /s   ratio to raw on one core: {:.2}   to an authenticated GET: {:.2}",
        es256_rate / raw_es256,
        es256_rate / get_rate
    );
    let (policy_rate, rbac_rate) = rbac_rates;
    println!("unwrapkey, access-policy vault ({ROUNDS} alternating rounds): {policy_rate:>8.0} /s");
    println!(
        "unwrapkey, Azure RBAC vault ({ROUNDS} alternating rounds):   {rbac_rate:>8.0} /s   ratio RBAC / access policy: {:.3}",
        rbac_rate / policy_rate
    );
}
