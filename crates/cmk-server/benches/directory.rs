//! Directory throughput against the raw cryptographic limit, measured in one run on the same machine.
//!
//! Run with `cargo bench -p cmk-server --bench directory`. It reports:
//! - raw aws-lc-rs RSA-2048 RS256 signatures and verifications per second on one core;
//! - token requests per second (client credentials over HTTPS, keep-alive, secret check, one signature each),
//!   and their ratio to the raw signing rate;
//! - authenticated management reads per second (`GET /subscriptions/{id}`: token validation plus a store
//!   read), and their ratio to the raw verification rate.
//!
//! Client and server share the machine's cores, as a load generator on the same host does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cmk_crypto::rsa::RsaPrivateKey;
use common::{CONCURRENCY, http_rate, raw_rate, start_server};

fn main() {
    let key = RsaPrivateKey::generate(2048).unwrap();
    let message = [7u8; 600];
    let signature = key.sign_rs256(&message).unwrap();
    let raw_sign = raw_rate(|| {
        key.sign_rs256(&message).unwrap();
    });
    let raw_verify = raw_rate(|| {
        assert!(key.public_key().verify_rs256(&message, &signature));
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (token_rate, read_rate) = runtime.block_on(async {
        let mut bench = start_server().await;
        let creds = bench.creds.clone();
        let client = bench.client.clone();
        let token_url = format!("{}/{}/oauth2/v2.0/token", creds.authority, creds.tenant_id);
        let form = vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("client_id".to_owned(), creds.client_id.clone()),
            ("client_secret".to_owned(), creds.client_secret.clone()),
            ("scope".to_owned(), creds.management_scope.clone()),
        ];

        let (c, u, f) = (client.clone(), token_url.clone(), form.clone());
        let token_rate = http_rate(move || {
            let (c, u, f) = (c.clone(), u.clone(), f.clone());
            async move {
                let response = c.post(&u).form(&f).send().await.unwrap();
                assert!(response.status().is_success());
                response.bytes().await.unwrap();
            }
        })
        .await;

        let token = bench.token(&creds.management_scope).await;
        let read_url = format!(
            "{}/subscriptions/{}?api-version=2022-12-01",
            creds.authority, creds.subscription_id
        );
        let read_rate = http_rate(move || {
            let (c, u, t) = (client.clone(), read_url.clone(), token.clone());
            async move {
                let response = c.get(&u).bearer_auth(&t).send().await.unwrap();
                assert!(response.status().is_success());
                response.bytes().await.unwrap();
            }
        })
        .await;
        if let Some(server) = bench.server.take() {
            server.shutdown().await.unwrap();
        }
        (token_rate, read_rate)
    });

    println!("raw RSA-2048 RS256 sign, one core:        {raw_sign:>10.0} /s");
    println!("raw RSA-2048 RS256 verify, one core:      {raw_verify:>10.0} /s");
    println!(
        "token requests over HTTPS ({CONCURRENCY} in flight): {token_rate:>10.0} /s   ratio to raw sign:   {:.2}",
        token_rate / raw_sign
    );
    println!(
        "management reads over HTTPS ({CONCURRENCY} in flight): {read_rate:>8.0} /s   ratio to raw verify: {:.2}",
        read_rate / raw_verify
    );
}
