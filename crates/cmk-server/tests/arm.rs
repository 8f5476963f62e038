//! The management plane: subscriptions, tenants and resource groups, with ARM's paths, codes and paging.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, arm_code};
use reqwest::{Method, StatusCode};
use serde_json::Value;

const RG_API: &str = "api-version=2025-04-01";

fn rg_path(server: &TestServer, name: &str) -> String {
    format!(
        "/subscriptions/{}/resourcegroups/{name}?{RG_API}",
        server.creds.subscription_id
    )
}

#[tokio::test]
async fn subscriptions_and_tenants_show_the_callers_tenant() {
    let server = TestServer::start().await;
    let c = &server.creds;
    let (status, list) = server
        .arm(Method::GET, "/subscriptions?api-version=2022-12-01", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let value = list["value"].as_array().unwrap();
    assert_eq!(value.len(), 1);
    assert_eq!(value[0]["id"], format!("/subscriptions/{}", c.subscription_id));
    assert_eq!(value[0]["tenantId"], c.tenant_id.as_str());
    assert_eq!(value[0]["state"], "Enabled");

    let (status, one) = server
        .arm(
            Method::GET,
            &format!("/subscriptions/{}?api-version=2022-12-01", c.subscription_id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["subscriptionId"], c.subscription_id.as_str());

    let (status, tenants) = server.arm(Method::GET, "/tenants?api-version=2022-12-01", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tenants["value"][0]["id"], format!("/tenants/{}", c.tenant_id));
}

#[tokio::test]
async fn unknown_and_malformed_subscriptions() {
    let server = TestServer::start().await;
    let (status, body) = server
        .arm(
            Method::GET,
            "/subscriptions/00000000-0000-0000-0000-000000000009?api-version=1",
            None,
        )
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::NOT_FOUND, "SubscriptionNotFound")
    );
    let (status, body) = server
        .arm(Method::GET, "/subscriptions/not-a-guid?api-version=1", None)
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::BAD_REQUEST, "InvalidSubscriptionId")
    );
    let (status, body) = server
        .arm(
            Method::GET,
            "/subscriptions/not-a-guid/resourcegroups?api-version=1",
            None,
        )
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::BAD_REQUEST, "InvalidSubscriptionId")
    );
}

#[tokio::test]
async fn api_version_is_required_and_any_value_is_accepted() {
    let server = TestServer::start().await;
    let (status, body) = server.arm(Method::GET, "/subscriptions", None).await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::BAD_REQUEST, "MissingApiVersionParameter")
    );
    let (status, body) = server.arm(Method::GET, "/subscriptions?api-version=", None).await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::BAD_REQUEST, "MissingApiVersionParameter")
    );
    for version in ["2022-12-01", "2099-01-01-preview", "7.6", "whatever"] {
        let (status, _) = server
            .arm(Method::GET, &format!("/subscriptions?api-version={version}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{version}");
    }
}

#[tokio::test]
async fn resource_group_lifecycle() {
    let server = TestServer::start().await;
    let path = rg_path(&server, "Orders-RG");
    let (status, created) = server
        .arm(
            Method::PUT,
            &path,
            Some(r#"{"location":"West Europe","tags":{"team":"a"}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "Orders-RG");
    assert_eq!(created["location"], "westeurope");
    assert_eq!(created["type"], "Microsoft.Resources/resourceGroups");
    assert_eq!(created["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        created["id"],
        format!(
            "/subscriptions/{}/resourceGroups/Orders-RG",
            server.creds.subscription_id
        )
    );

    // A second PUT updates (tags are replaced, not merged) and answers 200.
    let (status, updated) = server
        .arm(
            Method::PUT,
            &path,
            Some(r#"{"location":"westeurope","tags":{"team":"b"}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["tags"], serde_json::json!({"team": "b"}));

    // Names compare without case, paths too; the stored spelling is kept.
    let upper = format!(
        "/SUBSCRIPTIONS/{}/ResourceGroups/orders-rg?{RG_API}",
        server.creds.subscription_id
    );
    let (status, read) = server.arm(Method::GET, &upper, None).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["name"], "Orders-RG");

    let (status, _) = server.arm(Method::HEAD, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = server
        .arm(
            Method::GET,
            &format!(
                "/subscriptions/{}/resourcegroups?{RG_API}",
                server.creds.subscription_id
            ),
            None,
        )
        .await;
    let names: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Orders-RG") && names.contains(&"cmk-dev"), "{names:?}");

    let (status, _) = server.arm(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.arm(Method::HEAD, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = server.arm(Method::GET, &path, None).await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::NOT_FOUND, "ResourceGroupNotFound")
    );
    assert_eq!(
        body["error"]["message"],
        "Resource group 'Orders-RG' could not be found."
    );
    let (status, body) = server.arm(Method::DELETE, &path, None).await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::NOT_FOUND, "ResourceGroupNotFound")
    );
}

#[tokio::test]
async fn resource_group_location_cannot_change() {
    let server = TestServer::start().await;
    let path = rg_path(&server, "fixed");
    server.arm(Method::PUT, &path, Some(r#"{"location":"westus2"}"#)).await;
    let (status, body) = server.arm(Method::PUT, &path, Some(r#"{"location":"eastus"}"#)).await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::CONFLICT, "InvalidResourceGroupLocation")
    );
}

#[tokio::test]
async fn malformed_resource_group_requests_are_400_with_precise_codes() {
    let server = TestServer::start().await;
    let long_tag = format!(r#"{{"location":"westus","tags":{{"{}":"v"}}}}"#, "k".repeat(513));
    let cases: Vec<(String, &str, &str)> = vec![
        (rg_path(&server, "ok"), "{", "InvalidRequestContent"),
        (rg_path(&server, "ok"), "", "InvalidRequestContent"),
        (rg_path(&server, "ok"), "[]", "InvalidRequestContent"),
        (rg_path(&server, "ok"), r#"{"location": 5}"#, "InvalidRequestContent"),
        (
            rg_path(&server, "ok"),
            r#"{"location":"westus","tags":"x"}"#,
            "InvalidRequestContent",
        ),
        (
            rg_path(&server, "ok"),
            r#"{"location":"westus","tags":{"a":1}}"#,
            "InvalidRequestContent",
        ),
        (rg_path(&server, "ok"), r#"{"tags":{}}"#, "LocationRequired"),
        (rg_path(&server, "ok"), r#"{"location":""}"#, "LocationRequired"),
        (rg_path(&server, "ok"), r#"{"location":"west/us"}"#, "InvalidParameter"),
        (
            rg_path(&server, "ends."),
            r#"{"location":"westus"}"#,
            "InvalidResourceGroupName",
        ),
        (
            rg_path(&server, "bad%20name"),
            r#"{"location":"westus"}"#,
            "InvalidResourceGroupName",
        ),
        (
            rg_path(&server, &"x".repeat(91)),
            r#"{"location":"westus"}"#,
            "InvalidResourceGroupName",
        ),
        (rg_path(&server, "ok"), &long_tag, "InvalidParameter"),
    ];
    for (path, body, code) in cases {
        let (status, response) = server.arm(Method::PUT, &path, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {response}");
        assert_eq!(arm_code(&response), code, "{path} {body}: {response}");
    }
    // Nothing was created by any of them.
    let (status, _) = server.arm(Method::HEAD, &rg_path(&server, "ok"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn resource_groups_page_with_next_link() {
    let server = TestServer::start().await;
    for name in ["a1", "a2", "a3", "a4"] {
        let (status, _) = server
            .arm(Method::PUT, &rg_path(&server, name), Some(r#"{"location":"westus"}"#))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut url = server.url(&format!(
        "/subscriptions/{}/resourcegroups?{RG_API}&$top=2",
        server.creds.subscription_id
    ));
    let token = server.operator_token().await;
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let body: Value = server
            .client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        names.extend(
            body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["name"].as_str().unwrap().to_owned()),
        );
        match body["nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    names.sort();
    assert_eq!(names, vec!["a1", "a2", "a3", "a4", "cmk-dev"]);
    assert!(pages >= 3);

    let (status, body) = server
        .arm(
            Method::GET,
            &format!(
                "/subscriptions/{}/resourcegroups?{RG_API}&$top=0",
                server.creds.subscription_id
            ),
            None,
        )
        .await;
    assert_eq!((status, arm_code(&body)), (StatusCode::BAD_REQUEST, "InvalidTopValue"));
    let (status, body) = server
        .arm(
            Method::GET,
            &format!(
                "/subscriptions/{}/resourcegroups?{RG_API}&$skiptoken=%%%",
                server.creds.subscription_id
            ),
            None,
        )
        .await;
    assert_eq!((status, arm_code(&body)), (StatusCode::BAD_REQUEST, "InvalidSkipToken"));
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_arm_shape() {
    let server = TestServer::start().await;
    let (status, body) = server.arm(Method::GET, "/nothing/here", None).await;
    assert_eq!((status, arm_code(&body)), (StatusCode::NOT_FOUND, "NotFound"));
    let (status, body) = server
        .arm(Method::POST, "/subscriptions?api-version=1", Some("{}"))
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed")
    );
}

#[tokio::test]
async fn vault_and_account_host_names_are_covered_by_the_certificate() {
    let server = TestServer::start().await;
    let port = server.addr.port();
    for host in ["kv1.vault.localhost", "acct1.cognitiveservices.localhost", "localhost"] {
        let response = server.client.get(format!("https://{host}:{port}/nothing")).send().await;
        assert!(response.is_ok(), "TLS to {host} failed: {response:?}");
    }
}
