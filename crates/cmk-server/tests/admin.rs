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
