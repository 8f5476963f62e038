//! The operators' admin API: who may call it, what it makes, and how it refuses bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, arm_code};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn operators_create_tenants_subscriptions_and_principals_that_work() {
    let server = TestServer::start().await;
    let (tenant, subscription, client, secret) = server.second_customer().await;
    let token = server
        .token_for(&tenant, &client, &secret, &server.creds.management_scope)
        .await;
    let (status, body) = server
        .call(
            Method::GET,
            &format!("/subscriptions/{subscription}?api-version=1"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tenantId"], tenant.as_str());

    let (status, tenants) = server.arm(Method::GET, "/cmk/admin/tenants", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tenants["value"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_principal_that_is_not_an_operator_is_forbidden() {
    let server = TestServer::start().await;
    let (tenant, _, client, secret) = server.second_customer().await;
    let token = server
        .token_for(&tenant, &client, &secret, &server.creds.management_scope)
        .await;
    for (method, path, body) in [
        (
            Method::POST,
            "/cmk/admin/tenants".to_owned(),
            Some(r#"{"displayName":"x"}"#),
        ),
        (Method::GET, "/cmk/admin/tenants".to_owned(), None),
        (
            Method::POST,
            format!("/cmk/admin/tenants/{tenant}/servicePrincipals"),
            Some(r#"{"displayName":"x"}"#),
        ),
        (
            Method::GET,
            format!("/cmk/admin/tenants/{tenant}/servicePrincipals"),
            None,
        ),
        (
            Method::POST,
            format!("/cmk/admin/tenants/{tenant}/servicePrincipals/{client}/resetSecret"),
            None,
        ),
        (
            Method::POST,
            "/cmk/admin/clock/advance".to_owned(),
            Some(r#"{"seconds":10}"#),
        ),
    ] {
        let (status, response) = server.call(method, &path, Some(&token), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {response}");
        assert_eq!(arm_code(&response), "AuthorizationFailed");
    }
    let (status, _) = server.call(Method::GET, "/cmk/admin/tenants", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn malformed_admin_requests_are_400_and_unknown_tenants_404() {
    let server = TestServer::start().await;
    let tenant = server.creds.tenant_id.clone();
    let cases = [
        ("/cmk/admin/tenants".to_owned(), "{"),
        ("/cmk/admin/tenants".to_owned(), "{}"),
        ("/cmk/admin/tenants".to_owned(), r#"{"displayName":"x","extra":1}"#),
        ("/cmk/admin/tenants".to_owned(), r#"{"displayName":""}"#),
        (
            format!("/cmk/admin/tenants/{tenant}/subscriptions"),
            r#"{"displayName":5}"#,
        ),
        (
            format!("/cmk/admin/tenants/{tenant}/servicePrincipals"),
            r#"{"displayName":"x","operator":"yes"}"#,
        ),
        (
            "/cmk/admin/tenants/not-a-guid/subscriptions".to_owned(),
            r#"{"displayName":"x"}"#,
        ),
        (
            format!(
                "/cmk/admin/tenants/{tenant}/servicePrincipals/{}/resetSecret",
                server.creds.client_id
            ),
            r#"{"append":"yes"}"#,
        ),
        (
            format!(
                "/cmk/admin/tenants/{tenant}/servicePrincipals/{}/resetSecret",
                server.creds.client_id
            ),
            "{",
        ),
        ("/cmk/admin/clock/advance".to_owned(), r#"{"seconds":-5}"#),
        ("/cmk/admin/clock/advance".to_owned(), r#"{"seconds":0}"#),
        ("/cmk/admin/clock/advance".to_owned(), r#"{"seconds":"60"}"#),
        (
            "/cmk/admin/clock/advance".to_owned(),
            r#"{"seconds":9223372036854775807}"#,
        ),
    ];
    for (path, body) in cases {
        let (status, response) = server.arm(Method::POST, &path, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {response}");
        assert!(
            response["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{response}"
        );
    }
    let (status, body) = server
        .arm(
            Method::POST,
            "/cmk/admin/tenants/00000000-0000-0000-0000-000000000001/subscriptions",
            Some(r#"{"displayName":"x"}"#),
        )
        .await;
    assert_eq!((status, arm_code(&body)), (StatusCode::NOT_FOUND, "TenantNotFound"));
    let (status, body) = server
        .arm(
            Method::GET,
            "/cmk/admin/tenants/00000000-0000-0000-0000-000000000001/servicePrincipals",
            None,
        )
        .await;
    assert_eq!((status, arm_code(&body)), (StatusCode::NOT_FOUND, "TenantNotFound"));
    for client in ["not-a-guid", "00000000-0000-0000-0000-000000000002"] {
        let (status, body) = server
            .arm(
                Method::POST,
                &format!("/cmk/admin/tenants/{tenant}/servicePrincipals/{client}/resetSecret"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{client}: {body}");
        assert!(
            body["error"]["message"].as_str().is_some_and(|m| m.contains(client)),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_reset_secret_replaces_the_old_ones_unless_appended_and_listings_show_no_secret() {
    let server = TestServer::start().await;
    let tenant = server.creds.tenant_id.clone();
    let (status, created) = server
        .arm(
            Method::POST,
            &format!("/cmk/admin/tenants/{tenant}/servicePrincipals"),
            Some(r#"{"displayName":"rollover"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let client = created["clientId"].as_str().unwrap().to_owned();
    let first = created["clientSecret"].as_str().unwrap().to_owned();
    let reset = format!("/cmk/admin/tenants/{tenant}/servicePrincipals/{client}/resetSecret");
    let (status, appended) = server.arm(Method::POST, &reset, Some(r#"{"append":true}"#)).await;
    assert_eq!(status, StatusCode::OK, "{appended}");
    let second = appended["clientSecret"].as_str().unwrap().to_owned();
    let scope = server.creds.management_scope.clone();
    let works = |secret: String| {
        let (server, tenant, client, scope) = (&server, tenant.clone(), client.clone(), scope.clone());
        async move {
            server
                .token_request(
                    &tenant,
                    &[
                        ("grant_type", "client_credentials"),
                        ("client_id", &client),
                        ("client_secret", &secret),
                        ("scope", &scope),
                    ],
                )
                .await
                .status()
                == StatusCode::OK
        }
    };
    assert!(
        works(first.clone()).await && works(second.clone()).await,
        "an appended secret retired the old one"
    );
    let (status, replaced) = server.arm(Method::POST, &reset, None).await;
    assert_eq!(status, StatusCode::OK);
    let third = replaced["clientSecret"].as_str().unwrap().to_owned();
    assert!(
        !works(first.clone()).await && !works(second.clone()).await,
        "a reset left an old secret working"
    );
    assert!(works(third.clone()).await);

    let (status, listed) = server
        .arm(
            Method::GET,
            &format!("/cmk/admin/tenants/{tenant}/servicePrincipals"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = listed.to_string();
    for secret in [&first, &second, &third] {
        assert!(!text.contains(secret.as_str()), "a listing showed a secret");
    }
    let entry = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["clientId"] == client.as_str())
        .unwrap();
    assert_eq!(entry["secrets"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_clock_moves_forward_and_reports_its_offset() {
    let server = TestServer::start().await;
    let (status, before) = server.arm(Method::GET, "/cmk/admin/clock", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(before["offsetSeconds"], 0);
    let (status, after) = server
        .arm(Method::POST, "/cmk/admin/clock/advance", Some(r#"{"seconds":86400}"#))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after["offsetSeconds"], 86400);
    assert!(after["nowUnix"].as_i64().unwrap() >= before["nowUnix"].as_i64().unwrap() + 86400);
}

#[tokio::test]
async fn health_readiness_and_metrics_need_no_token_and_refuse_other_methods_in_azure_shape() {
    let server = TestServer::start().await;
    let (status, health) = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, health["status"].as_str()), (StatusCode::OK, Some("ok")));
    // The change feed catches up within its first poll.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let (status, ready) = server.call(Method::GET, "/readyz", None, None).await;
        if status == StatusCode::OK {
            assert_eq!(ready["status"], "ready");
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
        assert!(std::time::Instant::now() < deadline, "never ready: {ready}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    server.arm(Method::GET, "/cmk/admin/tenants", None).await;
    let (status, metrics) = server.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains("cmk_requests_total{plane=\"management\",status=\"200\"}"),
        "{text}"
    );
    assert!(text.contains("cmk_record_cache_hits_total"), "{text}");
    for path in ["/healthz", "/readyz", "/metrics"] {
        let (status, body) = server.call(Method::POST, path, None, Some("{}")).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(arm_code(&body), "MethodNotAllowed", "{path}: {body}");
    }
}
