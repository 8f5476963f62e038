//! The vault resource of the management plane: create, update, access policies, soft delete, recover, purge,
//! and purge protection that nothing can bypass (S5, S12).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, arm_code, claims};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const API: &str = "api-version=2026-05-15";

fn vault_path(server: &TestServer, name: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{name}?{API}",
        server.creds.subscription_id, server.creds.resource_group
    )
}

fn deleted_path(server: &TestServer, name: &str, suffix: &str) -> String {
    format!(
        "/subscriptions/{}/providers/Microsoft.KeyVault/locations/westus2/deletedVaults/{name}{suffix}?{API}",
        server.creds.subscription_id
    )
}

async fn operator_object_id(server: &TestServer) -> String {
    claims(&server.operator_token().await)["oid"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn definition(tenant: &str, object_id: &str, purge_protection: bool) -> Value {
    let mut properties = json!({
        "tenantId": tenant,
        "sku": {"family": "A", "name": "standard"},
        "accessPolicies": [{"tenantId": tenant, "objectId": object_id, "permissions": {"keys": ["get", "WRAPKEY", "unwrapKey"]}}],
        "enableSoftDelete": true,
        "softDeleteRetentionInDays": 7,
        "enableRbacAuthorization": false,
    });
    if purge_protection {
        properties["enablePurgeProtection"] = json!(true);
    }
    json!({"location": "westus2", "tags": {"env": "test"}, "properties": properties})
}

async fn create(server: &TestServer, name: &str, purge_protection: bool) -> Value {
    let body = definition(
        &server.creds.tenant_id,
        &operator_object_id(server).await,
        purge_protection,
    );
    let (status, vault) = server
        .arm(Method::PUT, &vault_path(server, name), Some(&body.to_string()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{vault}");
    vault
}

async fn advance_days(server: &TestServer, days: i64) {
    let (status, _) = server
        .arm(
            Method::POST,
            "/cmk/admin/clock/advance",
            Some(&json!({"seconds": days * 86_400}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_vault_is_created_read_listed_and_patched() {
    let server = TestServer::start().await;
    let vault = create(&server, "Orders-KV", true).await;
    let port = server.addr.port();
    assert_eq!(vault["name"], "Orders-KV");
    assert_eq!(vault["type"], "Microsoft.KeyVault/vaults");
    let p = &vault["properties"];
    assert_eq!(p["vaultUri"], format!("https://orders-kv.vault.localhost:{port}/"));
    assert_eq!(p["provisioningState"], "Succeeded");
    assert_eq!(p["enablePurgeProtection"], true);
    assert_eq!(p["enableSoftDelete"], true);
    assert_eq!(p["softDeleteRetentionInDays"], 7);
    assert_eq!(
        p["accessPolicies"][0]["permissions"]["keys"],
        json!(["wrapKey", "unwrapKey", "get"])
    );

    let (status, read) = server.arm(Method::GET, &vault_path(&server, "orders-kv"), None).await;
    assert_eq!(status, StatusCode::OK, "names compare without case");
    assert_eq!(read["name"], "Orders-KV");

    let (status, patched) = server
        .arm(
            Method::PATCH,
            &vault_path(&server, "Orders-KV"),
            Some(r#"{"tags":{"env":"prod"}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["tags"], json!({"env": "prod"}));
    assert_eq!(
        patched["properties"]["accessPolicies"], p["accessPolicies"],
        "a patch keeps what it does not name"
    );

    let list_rg = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults?{API}",
        server.creds.subscription_id, server.creds.resource_group
    );
    let list_sub = format!(
        "/subscriptions/{}/providers/Microsoft.KeyVault/vaults?{API}",
        server.creds.subscription_id
    );
    let generic = format!(
        "/subscriptions/{}/resources?$filter=resourceType%20eq%20%27Microsoft.KeyVault%2Fvaults%27&api-version=2015-11-01",
        server.creds.subscription_id
    );
    for path in [list_rg, list_sub, generic] {
        let (status, list) = server.arm(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(list["value"][0]["name"], "Orders-KV", "{path}: {list}");
    }
}

#[tokio::test]
async fn invalid_vault_definitions_are_refused_with_precise_codes() {
    let server = TestServer::start().await;
    let tenant = server.creds.tenant_id.clone();
    let oid = operator_object_id(&server).await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = definition(&tenant, &oid, true);
        change(&mut body);
        body.to_string()
    };
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "ok-name",
            with(&|b| b["properties"]["enablePurgeProtection"] = json!(false)),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            "ok-name",
            with(&|b| b["properties"]["enableSoftDelete"] = json!(false)),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            "ok-name",
            with(&|b| b["properties"]["softDeleteRetentionInDays"] = json!(6)),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            "ok-name",
            with(&|b| b["properties"]["softDeleteRetentionInDays"] = json!(91)),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            "ok-name",
            with(&|b| b["properties"]["enableRbacAuthorization"] = json!("yes")),
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
        ),
        (
            "ok-name",
            with(&|b| b["properties"]["sku"]["name"] = json!("gold")),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            "ok-name",
            with(&|b| b["properties"]["tenantId"] = json!("nope")),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            "ok-name",
            with(&|b| b["properties"]["tenantId"] = json!("00000000-0000-0000-0000-000000000001")),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            "ok-name",
            with(&|b| b["properties"]["accessPolicies"][0]["objectId"] = json!("x")),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            "ok-name",
            with(&|b| b["properties"]["accessPolicies"][0]["permissions"]["keys"] = json!(["fly"])),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            "ok-name",
            with(&|b| b["properties"]["createMode"] = json!("clone")),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            "ok-name",
            with(&|b| {
                b["properties"].as_object_mut().unwrap().remove("sku");
            }),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            "ok-name",
            with(&|b| {
                b.as_object_mut().unwrap().remove("properties");
            }),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            "ok-name",
            with(&|b| {
                b.as_object_mut().unwrap().remove("location");
            }),
            StatusCode::BAD_REQUEST,
            "LocationRequired",
        ),
        (
            "ok-name",
            with(&|b| b["properties"]["createMode"] = json!("recover")),
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
        ),
        (
            "ok-name",
            with(&|b| b["properties"]["publicNetworkAccess"] = json!("sometimes")),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            "ok-name",
            with(&|b| {
                let policy = b["properties"]["accessPolicies"][0].clone();
                b["properties"]["accessPolicies"] = json!([policy.clone(), policy]);
            }),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            "ok-name",
            "{not json".to_owned(),
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
        ),
        (
            "ok-name",
            r#"{"location":"westus2","properties":{"softDeleteRetentionInDays":"7"}}"#.to_owned(),
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
        ),
        ("a", with(&|_| {}), StatusCode::BAD_REQUEST, "VaultNameNotValid"),
        ("1abc", with(&|_| {}), StatusCode::BAD_REQUEST, "VaultNameNotValid"),
        ("ab--cd", with(&|_| {}), StatusCode::BAD_REQUEST, "VaultNameNotValid"),
        (
            "abcdefghijklmnopqrstuvwxy",
            with(&|_| {}),
            StatusCode::BAD_REQUEST,
            "VaultNameNotValid",
        ),
    ];
    for (name, body, status, code) in cases {
        let (got, response) = server.arm(Method::PUT, &vault_path(&server, name), Some(&body)).await;
        assert_eq!((got, arm_code(&response)), (status, code), "{name} {body}: {response}");
    }
    let (status, _) = server.arm(Method::GET, &vault_path(&server, "ok-name"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no refused request created the vault");
    let (status, body) = server
        .arm(
            Method::PUT,
            &format!(
                "/subscriptions/{}/resourceGroups/no-such-group/providers/Microsoft.KeyVault/vaults/kv1?{API}",
                server.creds.subscription_id
            ),
            Some(&with(&|_| {})),
        )
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::NOT_FOUND, "ResourceGroupNotFound")
    );
}

#[tokio::test]
async fn purge_protection_and_retention_cannot_be_changed_afterwards() {
    let server = TestServer::start().await;
    create(&server, "kv-fixed", true).await;
    for patch in [
        r#"{"properties":{"enablePurgeProtection":false}}"#,
        r#"{"properties":{"softDeleteRetentionInDays":30}}"#,
        r#"{"properties":{"enableSoftDelete":false}}"#,
    ] {
        let (status, body) = server
            .arm(Method::PATCH, &vault_path(&server, "kv-fixed"), Some(patch))
            .await;
        assert_eq!(
            (status, arm_code(&body)),
            (StatusCode::BAD_REQUEST, "BadRequest"),
            "{patch}: {body}"
        );
    }
    // A PUT that leaves purge protection out keeps it: it can never be switched off.
    let mut body = definition(&server.creds.tenant_id, &operator_object_id(&server).await, false);
    body["properties"]
        .as_object_mut()
        .unwrap()
        .remove("enablePurgeProtection");
    let (status, vault) = server
        .arm(Method::PUT, &vault_path(&server, "kv-fixed"), Some(&body.to_string()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(vault["properties"]["enablePurgeProtection"], true);
}

#[tokio::test]
async fn vault_names_are_unique_across_resource_groups() {
    let server = TestServer::start().await;
    create(&server, "kv-unique", true).await;
    let other_group = format!(
        "/subscriptions/{}/resourcegroups/other?api-version=1",
        server.creds.subscription_id
    );
    server
        .arm(Method::PUT, &other_group, Some(r#"{"location":"westus2"}"#))
        .await;
    let body = definition(&server.creds.tenant_id, &operator_object_id(&server).await, true);
    let path = format!(
        "/subscriptions/{}/resourceGroups/other/providers/Microsoft.KeyVault/vaults/KV-UNIQUE?{API}",
        server.creds.subscription_id
    );
    let (status, response) = server.arm(Method::PUT, &path, Some(&body.to_string())).await;
    assert_eq!(
        (status, arm_code(&response)),
        (StatusCode::CONFLICT, "VaultAlreadyExists")
    );

    let check = format!(
        "/subscriptions/{}/providers/Microsoft.KeyVault/checkNameAvailability?{API}",
        server.creds.subscription_id
    );
    let (_, taken) = server
        .arm(
            Method::POST,
            &check,
            Some(r#"{"name":"kv-unique","type":"Microsoft.KeyVault/vaults"}"#),
        )
        .await;
    assert_eq!(
        taken,
        json!({"nameAvailable": false, "reason": "AlreadyExists", "message": taken["message"]})
    );
    let (_, free) = server
        .arm(
            Method::POST,
            &check,
            Some(r#"{"name":"kv-free","type":"Microsoft.KeyVault/vaults"}"#),
        )
        .await;
    assert_eq!(free["nameAvailable"], true);
    let (_, invalid) = server
        .arm(
            Method::POST,
            &check,
            Some(r#"{"name":"a","type":"Microsoft.KeyVault/vaults"}"#),
        )
        .await;
    assert_eq!(invalid["reason"], "AccountNameInvalid");
}

#[tokio::test]
async fn access_policies_are_added_replaced_and_removed() {
    let server = TestServer::start().await;
    create(&server, "kv-policies", true).await;
    let tenant = server.creds.tenant_id.clone();
    let me = operator_object_id(&server).await;
    let other = "11111111-2222-3333-4444-555555555555";
    let base = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/kv-policies/accessPolicies",
        server.creds.subscription_id, server.creds.resource_group
    );
    let change = |kind: &str, object: &str, keys: &[&str]| {
        (
            format!("{base}/{kind}?{API}"),
            json!({"properties": {"accessPolicies": [{"tenantId": tenant, "objectId": object, "permissions": {"keys": keys}}]}})
                .to_string(),
        )
    };
    let keys_of = |body: &Value, object: &str| -> Option<Value> {
        body["properties"]["accessPolicies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["objectId"] == object)
            .map(|p| p["permissions"]["keys"].clone())
    };

    let (path, body) = change("add", &me, &["sign"]);
    let (status, added) = server.arm(Method::PUT, &path, Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(
        keys_of(&added, &me),
        Some(json!(["wrapKey", "unwrapKey", "sign", "get"]))
    );

    let (path, body) = change("add", other, &["list"]);
    server.arm(Method::PUT, &path, Some(&body)).await;
    let (path, body) = change("replace", &me, &["get"]);
    let (_, replaced) = server.arm(Method::PUT, &path, Some(&body)).await;
    assert_eq!(keys_of(&replaced, &me), Some(json!(["get"])));
    assert_eq!(keys_of(&replaced, other), Some(json!(["list"])));

    let (path, body) = change("remove", other, &["list"]);
    let (_, removed) = server.arm(Method::PUT, &path, Some(&body)).await;
    assert_eq!(
        keys_of(&removed, other),
        None,
        "a principal left with no permission is dropped"
    );

    let (_, vault) = server.arm(Method::GET, &vault_path(&server, "kv-policies"), None).await;
    assert_eq!(
        vault["properties"]["accessPolicies"],
        removed["properties"]["accessPolicies"]
    );

    let (path, body) = change("merge", &me, &["get"]);
    let (status, response) = server.arm(Method::PUT, &path, Some(&body)).await;
    assert_eq!((status, arm_code(&response)), (StatusCode::BAD_REQUEST, "BadRequest"));
}

#[tokio::test]
async fn a_deleted_vault_keeps_its_name_and_can_be_recovered() {
    let server = TestServer::start().await;
    create(&server, "kv-recover", true).await;
    let (status, _) = server
        .arm(Method::DELETE, &vault_path(&server, "kv-recover"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.arm(Method::GET, &vault_path(&server, "kv-recover"), None).await;
    assert_eq!((status, arm_code(&body)), (StatusCode::NOT_FOUND, "ResourceNotFound"));
    let (status, _) = server
        .arm(Method::DELETE, &vault_path(&server, "kv-recover"), None)
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "deleting a missing vault is not an error"
    );

    let (status, deleted) = server
        .arm(Method::GET, &deleted_path(&server, "kv-recover", ""), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["type"], "Microsoft.KeyVault/deletedVaults");
    assert_eq!(deleted["properties"]["purgeProtectionEnabled"], true);
    assert!(
        deleted["properties"]["vaultId"]
            .as_str()
            .unwrap()
            .ends_with("/vaults/kv-recover")
    );
    let (_, list) = server
        .arm(
            Method::GET,
            &format!(
                "/subscriptions/{}/providers/Microsoft.KeyVault/deletedVaults?{API}",
                server.creds.subscription_id
            ),
            None,
        )
        .await;
    assert_eq!(list["value"][0]["name"], "kv-recover");

    // The name is reserved while deleted.
    let mut body = definition(&server.creds.tenant_id, &operator_object_id(&server).await, true);
    let (status, response) = server
        .arm(Method::PUT, &vault_path(&server, "kv-recover"), Some(&body.to_string()))
        .await;
    assert_eq!(
        (status, arm_code(&response)),
        (StatusCode::CONFLICT, "ConflictError"),
        "{response}"
    );

    body["properties"]["createMode"] = json!("recover");
    body["properties"]["accessPolicies"] = json!([]);
    let (status, recovered) = server
        .arm(Method::PUT, &vault_path(&server, "kv-recover"), Some(&body.to_string()))
        .await;
    assert_eq!(status, StatusCode::OK, "{recovered}");
    assert_eq!(
        recovered["properties"]["accessPolicies"][0]["permissions"]["keys"],
        json!(["wrapKey", "unwrapKey", "get"]),
        "recovery restores the vault as it was"
    );
    let (status, _) = server
        .arm(Method::GET, &deleted_path(&server, "kv-recover", ""), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn s12_purge_protection_cannot_be_bypassed_before_the_retention_ends() {
    let server = TestServer::start().await;
    create(&server, "kv-protected", true).await;
    server
        .arm(Method::DELETE, &vault_path(&server, "kv-protected"), None)
        .await;
    let purge = deleted_path(&server, "kv-protected", "/purge");
    let (status, body) = server.arm(Method::POST, &purge, None).await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
        "{body}"
    );
    assert!(body["error"]["message"].as_str().unwrap().contains("DeletedVaultPurge"));

    // Six of seven retention days later, still refused, and still recoverable.
    advance_days(&server, 6).await;
    let (status, _) = server.arm(Method::POST, &purge, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = server
        .arm(Method::GET, &deleted_path(&server, "kv-protected", ""), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Past the scheduled purge date the service has purged it: the name is free again.
    advance_days(&server, 2).await;
    let (status, _) = server
        .arm(Method::GET, &deleted_path(&server, "kv-protected", ""), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    create(&server, "kv-protected", true).await;
}

#[tokio::test]
async fn a_vault_without_purge_protection_can_be_purged_and_its_name_reused() {
    let server = TestServer::start().await;
    let vault = create(&server, "kv-purgeable", false).await;
    assert!(vault["properties"].get("enablePurgeProtection").is_none());
    server
        .arm(Method::DELETE, &vault_path(&server, "kv-purgeable"), None)
        .await;
    let (status, body) = server
        .arm(Method::POST, &deleted_path(&server, "kv-purgeable", "/purge"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = server
        .arm(Method::GET, &deleted_path(&server, "kv-purgeable", ""), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    create(&server, "kv-purgeable", false).await;
}

#[tokio::test]
async fn another_tenant_cannot_reach_the_vaults() {
    let server = TestServer::start().await;
    create(&server, "kv-private", true).await;
    let (tenant_b, _, client_b, secret_b) = server.second_customer().await;
    let token_b = server
        .token_for(&tenant_b, &client_b, &secret_b, &server.creds.management_scope)
        .await;
    let (status, body) = server
        .call(Method::GET, &vault_path(&server, "kv-private"), Some(&token_b), None)
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::UNAUTHORIZED, "InvalidAuthenticationTokenTenant")
    );
}
