//! Every way a token can be wrong, seen from the management plane: each is a 401 with its own ARM code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cmk_crypto::encoding::{b64url_decode, b64url_encode};
use common::{TestServer, arm_code};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn subscriptions_path() -> &'static str {
    "/subscriptions?api-version=2022-12-01"
}

async fn refused_with(server: &TestServer, token: &str, code: &str) -> Value {
    let (status, body) = server.call(Method::GET, subscriptions_path(), Some(token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(arm_code(&body), code, "{body}");
    body
}

fn parts(token: &str) -> (Value, Value, String) {
    let mut it = token.split('.');
    let header = serde_json::from_slice(&b64url_decode(it.next().unwrap()).unwrap()).unwrap();
    let claims = serde_json::from_slice(&b64url_decode(it.next().unwrap()).unwrap()).unwrap();
    (header, claims, it.next().unwrap().to_owned())
}

fn assemble(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64url_encode(header.to_string()),
        b64url_encode(claims.to_string())
    )
}

#[tokio::test]
async fn a_valid_token_is_accepted() {
    let server = TestServer::start().await;
    let token = server.operator_token().await;
    let (status, body) = server.call(Method::GET, subscriptions_path(), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_missing_or_non_bearer_header_is_authentication_failed() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(server.url(subscriptions_path()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer authorization_uri=\""), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(arm_code(&body), "AuthenticationFailed");
    assert!(body["error"]["message"].as_str().unwrap().contains("header is missing"));

    for header in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    "] {
        let response = server
            .client
            .get(server.url(subscriptions_path()))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(arm_code(&body), "AuthenticationFailed", "{header}");
    }
}

#[tokio::test]
async fn malformed_jwts_are_invalid_tokens() {
    let server = TestServer::start().await;
    for token in [
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        "e30.e30.e30",
        &"x".repeat(8_000),
    ] {
        refused_with(&server, token, "InvalidAuthenticationToken").await;
    }
}

#[tokio::test]
async fn alg_none_is_refused() {
    let server = TestServer::start().await;
    let (mut header, claims, _) = parts(&server.operator_token().await);
    header["alg"] = json!("none");
    let unsigned = format!(
        "{}.{}.",
        b64url_encode(header.to_string()),
        b64url_encode(claims.to_string())
    );
    let body = refused_with(&server, &unsigned, "InvalidAuthenticationToken").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("'none'"), "{body}");
    header["alg"] = json!("HS256");
    refused_with(
        &server,
        &assemble(&header, &claims, "c2lnbmF0dXJl"),
        "InvalidAuthenticationToken",
    )
    .await;
}

#[tokio::test]
async fn a_forged_signature_is_refused() {
    let server = TestServer::start().await;
    let (header, mut claims, signature) = parts(&server.operator_token().await);
    // Claims changed under the original signature.
    claims["oid"] = json!("00000000-0000-0000-0000-000000000000");
    let body = refused_with(
        &server,
        &assemble(&header, &claims, &signature),
        "InvalidAuthenticationToken",
    )
    .await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("signature"),
        "{body}"
    );
    // Claims signed by an attacker's key that claims the directory's key id.
    let attacker = cmk_crypto::rsa::RsaPrivateKey::generate(2048).unwrap();
    let forged = cmk_crypto::jws::sign_rs256(&attacker, header["kid"].as_str().unwrap(), &claims).unwrap();
    refused_with(&server, &forged, "InvalidAuthenticationToken").await;
    // A key id the directory never published.
    let unknown_kid = cmk_crypto::jws::sign_rs256(&attacker, "attacker-key", &claims).unwrap();
    refused_with(&server, &unknown_kid, "InvalidAuthenticationToken").await;
}

#[tokio::test]
async fn an_expired_token_is_refused_once_the_clock_moves() {
    let server = TestServer::start().await;
    let old_token = server.operator_token().await;
    let (status, body) = server
        .call(
            Method::POST,
            "/cmk/admin/clock/advance",
            Some(&old_token),
            Some(r#"{"seconds": 7200}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["offsetSeconds"], 7200);
    let body = refused_with(&server, &old_token, "ExpiredAuthenticationToken").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is earlier than current UTC time"),
        "{body}"
    );
    // A token issued after the shift works.
    let fresh = server.operator_token().await;
    let (status, _) = server.call(Method::GET, subscriptions_path(), Some(&fresh), None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_within_the_clock_skew_still_works() {
    let server = TestServer::start().await;
    let token = server.operator_token().await;
    // 3599 s lifetime + 120 s: past exp, within the 300 s skew.
    let (status, _) = server
        .call(
            Method::POST,
            "/cmk/admin/clock/advance",
            Some(&token),
            Some(r#"{"seconds": 3719}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.call(Method::GET, subscriptions_path(), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let server = TestServer::start().await;
    let c = &server.creds;
    let vault_scope = format!("https://vault.localhost:{}/.default", server.addr.port());
    let vault_token = server
        .token_for(&c.tenant_id, &c.client_id, &c.client_secret, &vault_scope)
        .await;
    let body = refused_with(&server, &vault_token, "InvalidAuthenticationTokenAudience").await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("vault.localhost"),
        "{body}"
    );
}

#[tokio::test]
async fn a_token_from_another_tenant_cannot_reach_this_tenants_subscription() {
    let server = TestServer::start().await;
    let (tenant_b, subscription_b, client_b, secret_b) = server.second_customer().await;
    let token_b = server
        .token_for(&tenant_b, &client_b, &secret_b, &server.creds.management_scope)
        .await;

    let path = format!("/subscriptions/{}?api-version=2022-12-01", server.creds.subscription_id);
    let (status, body) = server.call(Method::GET, &path, Some(&token_b), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(arm_code(&body), "InvalidAuthenticationTokenTenant");
    let rg_path = format!(
        "/subscriptions/{}/resourcegroups/cmk-dev?api-version=2025-04-01",
        server.creds.subscription_id
    );
    let (status, body) = server.call(Method::GET, &rg_path, Some(&token_b), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(arm_code(&body), "InvalidAuthenticationTokenTenant");

    // Each tenant sees exactly its own subscriptions and itself.
    let (_, listed) = server
        .call(Method::GET, subscriptions_path(), Some(&token_b), None)
        .await;
    let ids: Vec<&str> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subscriptionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![subscription_b.as_str()]);
    let (_, tenants) = server
        .call(Method::GET, "/tenants?api-version=2022-12-01", Some(&token_b), None)
        .await;
    assert_eq!(tenants["value"][0]["tenantId"], tenant_b.as_str());
    assert_eq!(tenants["value"].as_array().unwrap().len(), 1);
}
