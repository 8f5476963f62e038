//! The directory over HTTPS: discovery, keys, and the token endpoint's answers to good and bad requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, claims};
use reqwest::StatusCode;
use serde_json::Value;

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn assert_oauth_error(status: StatusCode, body: &Value, expected_status: StatusCode, error: &str, aadsts: u64) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"][0].as_u64(), Some(aadsts), "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with(&format!("AADSTS{aadsts}: ")),
        "{body}"
    );
}

#[tokio::test]
async fn discovery_names_the_token_endpoint_issuer_and_keys() {
    let server = TestServer::start().await;
    let tenant = &server.creds.tenant_id;
    let (status, config) = json_of(
        server
            .client
            .get(server.url(&format!("/{tenant}/v2.0/.well-known/openid-configuration")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        config["token_endpoint"],
        format!("{}/{tenant}/oauth2/v2.0/token", server.base)
    );
    assert_eq!(config["issuer"], format!("{}/{tenant}/v2.0", server.base));
    assert!(config["authorization_endpoint"].is_string(), "MSAL requires it");

    // The JWKS holds the key that signed a fresh token, and that key verifies it.
    let (status, jwks) = json_of(
        server
            .client
            .get(config["jwks_uri"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token = server.operator_token().await;
    let header: Value =
        serde_json::from_slice(&cmk_crypto::encoding::b64url_decode(token.split('.').next().unwrap()).unwrap())
            .unwrap();
    assert_eq!(header["alg"], "RS256");
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("signing key published");
    let public = cmk_crypto::rsa::RsaPublicKey::from_components(
        cmk_crypto::encoding::b64url_decode(key["n"].as_str().unwrap()).unwrap(),
        cmk_crypto::encoding::b64url_decode(key["e"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    assert!(public.verify_rs256(
        signed.as_bytes(),
        &cmk_crypto::encoding::b64url_decode(signature).unwrap()
    ));
}

#[tokio::test]
async fn discovery_of_an_unknown_tenant_is_refused() {
    let server = TestServer::start().await;
    for tenant in ["00000000-0000-0000-0000-000000000001", "not-a-guid"] {
        let (status, body) = json_of(
            server
                .client
                .get(server.url(&format!("/{tenant}/v2.0/.well-known/openid-configuration")))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_tenant", 90002);
    }
}

#[tokio::test]
async fn client_credentials_token_has_the_shape_msal_expects_and_the_right_claims() {
    let server = TestServer::start().await;
    let c = &server.creds;
    let response = server
        .token_request(
            &c.tenant_id,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &c.client_id),
                ("client_secret", &c.client_secret),
                ("scope", &c.management_scope),
                ("client_info", "1"),
            ],
        )
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store, no-cache");
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    let claims = claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["aud"],
        c.management_scope.trim_end_matches(".default").trim_end_matches('/')
    );
    assert_eq!(claims["iss"], format!("{}/{}/v2.0", c.authority, c.tenant_id));
    assert_eq!(claims["tid"], c.tenant_id.as_str());
    assert_eq!(claims["appid"], c.client_id.as_str());
    assert_eq!(claims["azp"], c.client_id.as_str());
    assert_eq!(claims["ver"], "2.0");
    assert!(claims["oid"].is_string());
    let (iat, nbf, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["nbf"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(nbf <= iat && exp - iat == 3599);
}

#[tokio::test]
async fn v1_endpoint_takes_a_resource() {
    let server = TestServer::start().await;
    let c = &server.creds;
    let vault_resource = format!("https://vault.localhost:{}", server.addr.port());
    let response = server
        .client
        .post(server.url(&format!("/{}/oauth2/token", c.tenant_id)))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("resource", vault_resource.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["resource"], vault_resource.as_str());
    assert!(body["expires_on"].as_str().unwrap().parse::<i64>().is_ok());
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        vault_resource.as_str()
    );
}

#[tokio::test]
async fn wrong_secret_is_invalid_client() {
    let server = TestServer::start().await;
    let c = &server.creds;
    let response = server
        .token_request(
            &c.tenant_id,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &c.client_id),
                ("client_secret", "not-the-secret"),
                ("scope", &c.management_scope),
            ],
        )
        .await;
    let (status, body) = json_of(response).await;
    assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client", 7000215);
    assert!(
        !body.to_string().contains("not-the-secret"),
        "the error must not echo the secret"
    );
}

#[tokio::test]
async fn unknown_tenant_is_refused_at_the_token_endpoint() {
    let server = TestServer::start().await;
    let c = &server.creds;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
        ("scope", c.management_scope.as_str()),
    ];
    for tenant in ["00000000-0000-0000-0000-000000000001", "contoso.example"] {
        let (status, body) = json_of(server.token_request(tenant, &form).await).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_tenant", 90002);
    }
}

#[tokio::test]
async fn unknown_client_is_unauthorized_client() {
    let server = TestServer::start().await;
    let c = &server.creds;
    for client in ["00000000-0000-0000-0000-0000000000aa", "no-such-app"] {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", c.client_secret.as_str()),
            ("scope", c.management_scope.as_str()),
        ];
        let (status, body) = json_of(server.token_request(&c.tenant_id, &form).await).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "unauthorized_client", 700016);
    }
}

#[tokio::test]
async fn a_client_of_another_tenant_is_not_found_in_this_one() {
    let server = TestServer::start().await;
    let (tenant_b, _, client_b, secret_b) = server.second_customer().await;
    let c = &server.creds;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_b.as_str()),
        ("client_secret", secret_b.as_str()),
        ("scope", c.management_scope.as_str()),
    ];
    let (status, body) = json_of(server.token_request(&c.tenant_id, &form).await).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "unauthorized_client", 700016);
    let (status, _) = json_of(server.token_request(&tenant_b, &form).await).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_resources_and_bad_scopes_are_invalid_scope() {
    let server = TestServer::start().await;
    let c = &server.creds;
    let cases = [
        ("https://unknown.example/.default", 500011),
        ("https://localhost/user.read", 1002012),
        ("", 1002012),
    ];
    for (scope, code) in cases {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("scope", scope),
        ];
        let (status, body) = json_of(server.token_request(&c.tenant_id, &form).await).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_scope", code);
    }
}

#[tokio::test]
async fn malformed_token_requests_are_400_with_a_precise_error() {
    let server = TestServer::start().await;
    let c = &server.creds;
    let url = server.url(&format!("/{}/oauth2/v2.0/token", c.tenant_id));
    let cases: Vec<(String, &str, u64)> = vec![
        (
            format!("client_id={}&client_secret=x&scope=y", c.client_id),
            "invalid_request",
            900144,
        ),
        (
            "grant_type=password&username=a&password=b".into(),
            "unsupported_grant_type",
            70003,
        ),
        (
            format!(
                "grant_type=client_credentials&client_secret={}&scope=a",
                c.client_secret
            ),
            "invalid_request",
            900144,
        ),
        (
            format!("grant_type=client_credentials&client_id={}&scope=a", c.client_id),
            "invalid_request",
            900144,
        ),
        (
            "grant_type=client_credentials&grant_type=client_credentials".into(),
            "invalid_request",
            900144,
        ),
        ("%zz=%".into(), "invalid_request", 900144),
        (
            r#"{"grant_type":"client_credentials"}"#.into(),
            "invalid_request",
            900144,
        ),
        (String::new(), "invalid_request", 900144),
    ];
    for (body, error, code) in cases {
        let response = server
            .client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let (status, json) = json_of(response).await;
        assert_eq!(json["error"], error, "body {body:?}: {json}");
        assert_eq!(json["error_codes"][0].as_u64(), Some(code), "body {body:?}: {json}");
        assert!(status == StatusCode::BAD_REQUEST, "body {body:?}: {status}");
    }
}
