//! The Key Vault keys data plane over HTTPS at `https://{vault}.vault.localhost:{port}`: the challenge,
//! access policies, the key lifecycle with soft delete and purge protection (S12), and the cryptographic
//! operations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cmk_crypto::encoding::{b64url_decode, b64url_encode};
use cmk_crypto::rsa::{RsaEncryptionAlgorithm, RsaPublicKey, RsaSignatureAlgorithm};
use common::vault::{Vault, vault, version_of};
use common::{TestServer, arm_code, claims};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const API: &str = "api-version=7.6";

fn public_key(bundle: &Value) -> RsaPublicKey {
    RsaPublicKey::from_components(
        b64url_decode(bundle["key"]["n"].as_str().unwrap()).unwrap(),
        b64url_decode(bundle["key"]["e"].as_str().unwrap()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_first_request_gets_the_challenge_the_sdks_expect() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-challenge", true).await;
    let response = server
        .client
        .post(format!("{}/keys/k1/create?{API}", kv.base))
        .header("content-type", "application/json")
        .body("{ this body is never read")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert_eq!(
        challenge,
        format!(
            "Bearer authorization=\"{}/{}\", resource=\"https://vault.localhost:{}\"",
            server.creds.authority,
            server.creds.tenant_id,
            server.addr.port()
        )
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(arm_code(&body), "Unauthorized");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("AKV10000"));

    // A management token is for another audience.
    let management = server.operator_token().await;
    let (status, body) = kv.call_as(Some(&management), Method::GET, "/keys", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("AKV10022"),
        "{body}"
    );
}

#[tokio::test]
async fn keys_are_created_read_listed_updated_and_versioned() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-life", true).await;
    let first = kv.create("orders").await;
    let kid = first["key"]["kid"].as_str().unwrap();
    assert!(kid.starts_with(&format!("{}/keys/orders/", kv.base)), "{kid}");
    assert_eq!(version_of(&first).len(), 32);
    assert_eq!(first["key"]["kty"], "RSA");
    assert_eq!(
        first["key"]["key_ops"],
        json!(["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"])
    );
    assert_eq!(first["attributes"]["recoveryLevel"], "CustomizedRecoverable");
    assert_eq!(first["attributes"]["recoverableDays"], 7);
    assert_eq!(public_key(&first).bits(), 2048);
    assert!(first["key"].get("d").is_none(), "private parts never leave the vault");

    let second = kv.create("orders").await;
    let (status, latest) = kv.call(Method::GET, "/keys/orders/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(latest["key"]["kid"], second["key"]["kid"]);
    let (_, old) = kv
        .call(Method::GET, &format!("/keys/orders/{}", version_of(&first)), None)
        .await;
    assert_eq!(old["key"]["kid"], first["key"]["kid"]);

    let (_, versions) = kv.call(Method::GET, "/keys/orders/versions?maxresults=1", None).await;
    assert_eq!(versions["value"].as_array().unwrap().len(), 1);
    let next: String = versions["nextLink"].as_str().unwrap().to_owned();
    let rest: Value = server
        .client
        .get(&next)
        .bearer_auth(&kv.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["value"][0]["kid"], second["key"]["kid"]);
    assert!(rest["nextLink"].is_null());

    kv.create("payments").await;
    let (_, keys) = kv.call(Method::GET, "/keys", None).await;
    let kids: Vec<&str> = keys["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids,
        vec![format!("{}/keys/orders", kv.base), format!("{}/keys/payments", kv.base)]
    );

    let (status, updated) = kv
        .call(
            Method::PATCH,
            &format!("/keys/orders/{}", version_of(&first)),
            Some(json!({"attributes": {"enabled": false}, "tags": {"team": "a"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["attributes"]["enabled"], false);
    assert_eq!(updated["tags"], json!({"team": "a"}));

    let (status, hsm) = kv
        .call(
            Method::POST,
            "/keys/hsm/create",
            Some(json!({"kty": "RSA-HSM", "key_size": 3072})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hsm["key"]["kty"], "RSA-HSM");
    assert_eq!(public_key(&hsm).bits(), 3072);
}

#[tokio::test]
async fn wrap_locally_unwrap_remotely_across_rotation() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-crypto", true).await;
    let first = kv.create("cmk").await;
    let data_key = [42u8; 32];
    let mut wrapped = Vec::new();
    for alg in ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"] {
        let ciphertext = public_key(&first)
            .encrypt(RsaEncryptionAlgorithm::from_jwa(alg).unwrap(), &data_key)
            .unwrap();
        wrapped.push((alg, ciphertext));
    }
    let (status, rotated) = kv.call(Method::POST, "/keys/cmk/rotate", None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_ne!(version_of(&rotated), version_of(&first));
    for (alg, ciphertext) in &wrapped {
        let (status, body) = kv
            .call(
                Method::POST,
                &format!("/keys/cmk/{}/unwrapkey", version_of(&first)),
                Some(json!({"alg": alg, "value": b64url_encode(ciphertext)})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{alg}: {body}");
        assert_eq!(
            b64url_decode(body["value"].as_str().unwrap()).unwrap(),
            data_key,
            "{alg}"
        );
        assert_eq!(body["kid"], first["key"]["kid"]);
    }
    // Remote wrap uses the latest version when none is named.
    let (status, body) = kv
        .call(
            Method::POST,
            "/keys/cmk//wrapkey",
            Some(json!({"alg": "RSA-OAEP-256", "value": b64url_encode(data_key)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kid"], rotated["key"]["kid"]);

    let digest = [7u8; 32];
    let (status, signed) = kv
        .call(
            Method::POST,
            &format!("/keys/cmk/{}/sign", version_of(&rotated)),
            Some(json!({"alg": "PS256", "value": b64url_encode(digest)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    let signature = b64url_decode(signed["value"].as_str().unwrap()).unwrap();
    assert!(public_key(&rotated).verify_digest(RsaSignatureAlgorithm::Ps256, &digest, &signature));
    let (_, verified) = kv
        .call(
            Method::POST,
            &format!("/keys/cmk/{}/verify", version_of(&rotated)),
            Some(json!({"alg": "PS256", "digest": b64url_encode(digest), "value": b64url_encode(&signature)})),
        )
        .await;
    assert_eq!(verified["value"], true);
    let (_, refused) = kv
        .call(
            Method::POST,
            &format!("/keys/cmk/{}/verify", version_of(&rotated)),
            Some(json!({"alg": "PS256", "digest": b64url_encode([8u8; 32]), "value": b64url_encode(&signature)})),
        )
        .await;
    assert_eq!(refused["value"], false);
}

#[tokio::test]
async fn a_disabled_key_cannot_unwrap_until_it_is_enabled_again() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-disabled", true).await;
    let key = kv.create("cmk").await;
    let wrapped = public_key(&key)
        .encrypt(RsaEncryptionAlgorithm::RsaOaep256, &[1u8; 32])
        .unwrap();
    let unwrap = format!("/keys/cmk/{}/unwrapkey", version_of(&key));
    let body = json!({"alg": "RSA-OAEP-256", "value": b64url_encode(&wrapped)});
    kv.call(
        Method::PATCH,
        "/keys/cmk/",
        Some(json!({"attributes": {"enabled": false}})),
    )
    .await;
    let (status, refused) = kv.call(Method::POST, &unwrap, Some(body.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["innererror"]["code"], "KeyDisabled");
    assert!(refused["error"]["message"].as_str().unwrap().contains("disabled"));
    kv.call(
        Method::PATCH,
        "/keys/cmk/",
        Some(json!({"attributes": {"enabled": true}})),
    )
    .await;
    let (status, _) = kv.call(Method::POST, &unwrap, Some(body)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn s12_deleted_keys_keep_their_name_recover_and_resist_purge_under_protection() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-delete", true).await;
    let created = kv.create("cmk").await;
    let (status, deleted) = kv.call(Method::DELETE, "/keys/cmk", None).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["recoveryId"], format!("{}/deletedkeys/cmk", kv.base));
    let (deleted_at, purge_at) = (
        deleted["deletedDate"].as_i64().unwrap(),
        deleted["scheduledPurgeDate"].as_i64().unwrap(),
    );
    assert_eq!(purge_at - deleted_at, 7 * 86_400);

    let (status, body) = kv.call(Method::GET, "/keys/cmk/", None).await;
    assert_eq!((status, arm_code(&body)), (StatusCode::NOT_FOUND, "KeyNotFound"));
    let (status, body) = kv
        .call(Method::POST, "/keys/cmk/create", Some(json!({"kty": "RSA"})))
        .await;
    assert_eq!((status, arm_code(&body)), (StatusCode::CONFLICT, "Conflict"), "{body}");
    assert_eq!(body["error"]["innererror"]["code"], "ObjectIsDeletedButRecoverable");
    let (_, listed) = kv.call(Method::GET, "/deletedkeys", None).await;
    assert_eq!(listed["value"][0]["recoveryId"], format!("{}/deletedkeys/cmk", kv.base));

    let (status, body) = kv.call(Method::DELETE, "/deletedkeys/cmk", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("purge protection"));
    // Not even six days later.
    server
        .arm(Method::POST, "/cmk/admin/clock/advance", Some(r#"{"seconds": 518400}"#))
        .await;
    let c = &server.creds;
    let scope = format!("https://vault.localhost:{}/.default", server.addr.port());
    let fresh = server
        .token_for(&c.tenant_id, &c.client_id, &c.client_secret, &scope)
        .await;
    let (status, _) = kv.call_as(Some(&fresh), Method::DELETE, "/deletedkeys/cmk", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, recovered) = kv
        .call_as(Some(&fresh), Method::POST, "/deletedkeys/cmk/recover", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{recovered}");
    assert_eq!(recovered["key"]["kid"], created["key"]["kid"]);
    let (status, _) = kv.call_as(Some(&fresh), Method::GET, "/keys/cmk/", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn without_purge_protection_a_deleted_key_is_purged_with_204() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-purge", false).await;
    kv.create("tmp").await;
    kv.call(Method::DELETE, "/keys/tmp", None).await;
    let (status, body) = kv.call(Method::DELETE, "/deletedkeys/tmp", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = kv.call(Method::GET, "/deletedkeys/tmp", None).await;
    assert_eq!((status, arm_code(&body)), (StatusCode::NOT_FOUND, "KeyNotFound"));
    kv.create("tmp").await;
}

#[tokio::test]
async fn a_principal_without_an_access_policy_is_refused_everything() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-policy", true).await;
    let key = kv.create("cmk").await;
    let (status, principal) = server
        .arm(
            Method::POST,
            &format!("/cmk/admin/tenants/{}/servicePrincipals", server.creds.tenant_id),
            Some(r#"{"displayName":"no access"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let scope = format!("https://vault.localhost:{}/.default", server.addr.port());
    let token = server
        .token_for(
            &server.creds.tenant_id,
            principal["clientId"].as_str().unwrap(),
            principal["clientSecret"].as_str().unwrap(),
            &scope,
        )
        .await;
    let wrapped = public_key(&key)
        .encrypt(RsaEncryptionAlgorithm::RsaOaep, &[0u8; 32])
        .unwrap();
    let cases = [
        (Method::GET, "/keys/cmk/".to_owned(), None, "get"),
        (Method::GET, "/keys".to_owned(), None, "list"),
        (
            Method::POST,
            "/keys/other/create".to_owned(),
            Some(json!({"kty": "RSA"})),
            "create",
        ),
        (
            Method::POST,
            format!("/keys/cmk/{}/unwrapkey", version_of(&key)),
            Some(json!({"alg": "RSA-OAEP", "value": b64url_encode(&wrapped)})),
            "unwrapKey",
        ),
        (Method::DELETE, "/keys/cmk".to_owned(), None, "delete"),
    ];
    for (method, path, body, permission) in cases {
        let (status, response) = kv.call_as(Some(&token), method, &path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {response}");
        assert_eq!(arm_code(&response), "Forbidden");
        assert_eq!(response["error"]["innererror"]["code"], "AccessDenied");
        let message = response["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("does not have keys {permission} permission")),
            "{message}"
        );
        assert!(message.contains(principal["objectId"].as_str().unwrap()), "{message}");
    }
    let (status, _) = kv.call(Method::GET, "/keys/cmk/", None).await;
    assert_eq!(status, StatusCode::OK, "nothing was deleted");
}

#[tokio::test]
async fn a_token_from_another_tenant_is_refused_by_the_vault() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-tenant", true).await;
    let (tenant_b, _, client_b, secret_b) = server.second_customer().await;
    let scope = format!("https://vault.localhost:{}/.default", server.addr.port());
    let token = server.token_for(&tenant_b, &client_b, &secret_b, &scope).await;
    let (status, body) = kv.call_as(Some(&token), Method::GET, "/keys", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("AKV10032"));
}

#[tokio::test]
async fn bad_requests_are_400_with_precise_messages() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-input", true).await;
    let key = kv.create("cmk").await;
    let version = version_of(&key);
    let cases = [
        (
            "/keys/cmk/create".to_owned(),
            json!({"kty": "RSA", "key_size": 1024}),
            "key size",
        ),
        ("/keys/cmk/create".to_owned(), json!({"kty": "oct"}), "not supported"),
        (
            "/keys/cmk/create".to_owned(),
            json!({"kty": "RSA", "key_ops": ["fly"]}),
            "not a key operation",
        ),
        (
            "/keys/cmk/create".to_owned(),
            json!({"kty": "RSA", "public_exponent": 3}),
            "exponent",
        ),
        ("/keys/bad_name/create".to_owned(), json!({"kty": "RSA"}), "invalid"),
        (
            format!("/keys/cmk/{version}/unwrapkey"),
            json!({"alg": "RSA-OAEP", "value": "!!!"}),
            "base64url",
        ),
        (
            format!("/keys/cmk/{version}/unwrapkey"),
            json!({"alg": "A256GCM", "value": "AAAA"}),
            "algorithm",
        ),
        (
            format!("/keys/cmk/{version}/unwrapkey"),
            json!({"alg": "RSA-OAEP", "value": "AAAA"}),
            "decrypted",
        ),
        (
            format!("/keys/cmk/{version}/wrapkey"),
            json!({"alg": "RSA-OAEP", "value": b64url_encode([0u8; 300])}),
            "at most",
        ),
        (
            format!("/keys/cmk/{version}/sign"),
            json!({"alg": "RS256", "value": b64url_encode([0u8; 20])}),
            "digest",
        ),
        (
            format!("/keys/cmk/{version}/teleport"),
            json!({"alg": "RS256", "value": "AAAA"}),
            "not a key operation",
        ),
    ];
    for (path, body, fragment) in cases {
        let (status, response) = kv.call(Method::POST, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {response}");
        assert_eq!(arm_code(&response), "BadParameter", "{path} {body}: {response}");
        let message = response["error"]["message"].as_str().unwrap();
        assert!(message.to_lowercase().contains(fragment), "{path}: {message}");
    }
    let (status, response) = kv.call(Method::POST, "/keys/cmk/create", None).await;
    assert_eq!(
        (status, arm_code(&response)),
        (StatusCode::BAD_REQUEST, "InvalidRequestContent")
    );
    let (status, response) = kv.call(Method::GET, "/keys?maxresults=26", None).await;
    assert_eq!((status, arm_code(&response)), (StatusCode::BAD_REQUEST, "BadParameter"));
    let missing_version = server
        .client
        .get(format!("{}/keys", kv.base))
        .bearer_auth(&kv.token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing_version.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_purged_vault_takes_its_keys_with_it() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-reborn", false).await;
    kv.create("old-key").await;
    let vault_path = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/kv-reborn?api-version=1",
        server.creds.subscription_id, server.creds.resource_group
    );
    server.arm(Method::DELETE, &vault_path, None).await;
    let (status, _) = server
        .arm(
            Method::POST,
            &format!(
                "/subscriptions/{}/providers/Microsoft.KeyVault/locations/westus2/deletedVaults/kv-reborn/purge?api-version=1",
                server.creds.subscription_id
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let reborn = vault(&server, "kv-reborn", false).await;
    let (status, body) = reborn.call(Method::GET, "/keys/old-key/", None).await;
    assert_eq!((status, arm_code(&body)), (StatusCode::NOT_FOUND, "KeyNotFound"));
    let (_, keys) = reborn.call(Method::GET, "/keys", None).await;
    assert_eq!(keys["value"], json!([]));
}

#[tokio::test]
async fn a_backup_restores_every_version_in_the_same_tenant_only() {
    let server = TestServer::start().await;
    let source = vault(&server, "kv-backup", false).await;
    let first = source.create("cmk").await;
    let second = source.create("cmk").await;
    let wrapped = public_key(&first)
        .encrypt(RsaEncryptionAlgorithm::RsaOaep256, &[3u8; 32])
        .unwrap();
    let (status, backup) = source.call(Method::POST, "/keys/cmk/backup", None).await;
    assert_eq!(status, StatusCode::OK, "{backup}");
    let blob = backup["value"].as_str().unwrap().to_owned();
    assert!(
        !blob.contains(first["key"]["n"].as_str().unwrap()),
        "the blob is sealed, not a key dump"
    );

    // A key of that name already exists: refused.
    let (status, body) = source
        .call(Method::POST, "/keys/restore", Some(json!({"value": blob})))
        .await;
    assert_eq!((status, arm_code(&body)), (StatusCode::CONFLICT, "Conflict"), "{body}");

    let target = vault(&server, "kv-restored", false).await;
    let (status, restored) = target
        .call(Method::POST, "/keys/restore", Some(json!({"value": blob})))
        .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(version_of(&restored), version_of(&second));
    let (_, versions) = target.call(Method::GET, "/keys/cmk/versions", None).await;
    assert_eq!(versions["value"].as_array().unwrap().len(), 2);
    let (status, unwrapped) = target
        .call(
            Method::POST,
            &format!("/keys/cmk/{}/unwrapkey", version_of(&first)),
            Some(json!({"alg": "RSA-OAEP-256", "value": b64url_encode(&wrapped)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{unwrapped}");
    assert_eq!(
        b64url_decode(unwrapped["value"].as_str().unwrap()).unwrap(),
        vec![3u8; 32]
    );

    for bad in ["AAAA", "!!", &blob[..blob.len() / 2]] {
        let (status, body) = target
            .call(Method::POST, "/keys/restore", Some(json!({"value": bad})))
            .await;
        assert_eq!(
            (status, arm_code(&body)),
            (StatusCode::BAD_REQUEST, "BadParameter"),
            "{bad}"
        );
    }

    // A vault of another tenant (owned by the second customer's subscription) refuses the blob.
    let (tenant_b, subscription_b, client_b, secret_b) = server.second_customer().await;
    let management_b = server
        .token_for(&tenant_b, &client_b, &secret_b, &server.creds.management_scope)
        .await;
    let oid_b = claims(&management_b)["oid"].as_str().unwrap().to_owned();
    let rg = format!("/subscriptions/{subscription_b}/resourcegroups/rg-b?api-version=1");
    server
        .call(Method::PUT, &rg, Some(&management_b), Some(r#"{"location":"westus2"}"#))
        .await;
    let vault_b = json!({"location": "westus2", "properties": {"tenantId": tenant_b, "sku": {"family": "A", "name": "standard"},
        "accessPolicies": [{"tenantId": tenant_b, "objectId": oid_b, "permissions": {"keys": ["all"]}}]}});
    let (status, created) = server
        .call(
            Method::PUT,
            &format!("/subscriptions/{subscription_b}/resourceGroups/rg-b/providers/Microsoft.KeyVault/vaults/kv-other?api-version=1"),
            Some(&management_b),
            Some(&vault_b.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token_b = server
        .token_for(
            &tenant_b,
            &client_b,
            &secret_b,
            &format!("https://vault.localhost:{}/.default", server.addr.port()),
        )
        .await;
    let other = Vault {
        server: &server,
        base: format!("https://kv-other.vault.localhost:{}", server.addr.port()),
        token: token_b,
    };
    let (status, body) = other
        .call(Method::POST, "/keys/restore", Some(json!({"value": blob})))
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::FORBIDDEN, "Forbidden"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tenant it was taken from"),
        "{body}"
    );
}

#[tokio::test]
async fn a_rotation_policy_rotates_the_key_when_the_clock_says_so() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-rotation", true).await;
    let first = kv.create("cmk").await;
    let policy = json!({
        "lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "rotate"}}],
        "attributes": {"expiryTime": "P1Y"}
    });
    let (status, set) = kv.call(Method::PUT, "/keys/cmk/rotationpolicy", Some(policy)).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["id"], format!("{}/keys/cmk/rotationpolicy", kv.base));
    assert_eq!(set["attributes"]["expiryTime"], "P1Y");
    let actions = set["lifetimeActions"].as_array().unwrap();
    assert_eq!(actions.len(), 2, "a Notify 30 days before expiry is added: {set}");
    assert_eq!(actions[0]["action"]["type"], "Rotate");
    let (_, read) = kv.call(Method::GET, "/keys/cmk/rotationpolicy", None).await;
    assert_eq!(read["lifetimeActions"], set["lifetimeActions"]);

    for bad in [
        json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P3D"}, "action": {"type": "Rotate"}}]}),
        json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "soon"}, "action": {"type": "Rotate"}}]}),
        json!({"lifetimeActions": [{"trigger": {}, "action": {"type": "Rotate"}}]}),
        json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Explode"}}]}),
        json!({"lifetimeActions": [], "attributes": {"expiryTime": "P10D"}}),
    ] {
        let (status, body) = kv
            .call(Method::PUT, "/keys/cmk/rotationpolicy", Some(bad.clone()))
            .await;
        assert_eq!(
            (status, arm_code(&body)),
            (StatusCode::BAD_REQUEST, "BadParameter"),
            "{bad}: {body}"
        );
    }

    // Nothing is due yet; 31 days later the scheduler makes a new version that expires in a year.
    server
        .arm(
            Method::POST,
            "/cmk/admin/clock/advance",
            Some(r#"{"seconds": 2678400}"#),
        )
        .await;
    let c = &server.creds;
    let scope = format!("https://vault.localhost:{}/.default", server.addr.port());
    let fresh = server
        .token_for(&c.tenant_id, &c.client_id, &c.client_secret, &scope)
        .await;
    let mut latest = Value::Null;
    for _ in 0..50 {
        let (_, body) = kv.call_as(Some(&fresh), Method::GET, "/keys/cmk/", None).await;
        if body["key"]["kid"] != first["key"]["kid"] {
            latest = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!latest.is_null(), "the policy did not rotate the key within 5 s");
    let created = latest["attributes"]["created"].as_i64().unwrap();
    assert_eq!(latest["attributes"]["exp"].as_i64().unwrap() - created, 365 * 86_400);
    let (_, versions) = kv.call_as(Some(&fresh), Method::GET, "/keys/cmk/versions", None).await;
    assert_eq!(versions["value"].as_array().unwrap().len(), 2, "exactly one rotation");
}

#[tokio::test]
async fn every_vault_operation_is_audited_without_payloads() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-audit", true).await;
    let key = kv.create("cmk").await;
    let wrapped = public_key(&key)
        .encrypt(RsaEncryptionAlgorithm::RsaOaep256, &[6u8; 32])
        .unwrap();
    let ciphertext = b64url_encode(&wrapped);
    kv.call(
        Method::POST,
        &format!("/keys/cmk/{}/unwrapkey", version_of(&key)),
        Some(json!({"alg": "RSA-OAEP-256", "value": ciphertext})),
    )
    .await;
    kv.call_as(None, Method::GET, "/keys", None).await;
    kv.call(Method::GET, "/keys/missing/", None).await;

    // Records are written in batches; give the writer a moment.
    let mut records = Vec::new();
    for _ in 0..50 {
        let (status, body) = server.arm(Method::GET, "/cmk/admin/audit?vault=kv-audit", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        records = body["value"].as_array().unwrap().clone();
        if records.len() >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let find = |operation: &str, status: u64| {
        records
            .iter()
            .find(|r| r["operation"].as_str().unwrap().ends_with(operation) && r["status"] == status)
            .unwrap_or_else(|| panic!("no audit record of {operation} with {status}: {records:?}"))
            .clone()
    };
    let created = find(
        "PUT /subscriptions/{subscription_id}/resourcegroups/{resource_group}/providers/microsoft.keyvault/vaults/{name}",
        201,
    );
    assert_eq!(created["vault"], "kv-audit");
    let unwrap = find("/keys/{name}/{version}/unwrapkey", 200);
    assert_eq!(unwrap["key"], "cmk");
    assert_eq!(unwrap["version"], version_of(&key).as_str());
    assert_eq!(unwrap["caller"]["tenantId"], server.creds.tenant_id.as_str());
    assert_eq!(unwrap["caller"]["clientId"], server.creds.client_id.as_str());
    assert!(
        unwrap["requestId"].as_str().is_some_and(|id| id.len() == 36),
        "{unwrap}"
    );
    let refused = find("GET /keys", 401);
    assert!(refused["caller"].is_null(), "no token, no caller");
    find("/keys/{name}/", 404);
    let text = serde_json::to_string(&records).unwrap();
    assert!(!text.contains(&ciphertext), "no payload in the audit log");
    assert!(!text.contains(&kv.token), "no token in the audit log");

    let (status, body) = server.arm(Method::GET, "/cmk/admin/audit", None).await;
    assert_eq!((status, arm_code(&body)), (StatusCode::BAD_REQUEST, "InvalidParameter"));
    let (status, later) = server
        .arm(
            Method::GET,
            "/cmk/admin/audit?vault=kv-audit&from=2999-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(later["value"], json!([]));
}

#[tokio::test]
async fn random_bytes_come_in_the_size_asked_for() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-rng", true).await;
    let (status, body) = kv.call(Method::POST, "/rng", Some(json!({"count": 32}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = b64url_decode(body["value"].as_str().unwrap()).unwrap();
    assert_eq!(first.len(), 32);
    let (_, again) = kv.call(Method::POST, "/rng", Some(json!({"count": 32}))).await;
    assert_ne!(b64url_decode(again["value"].as_str().unwrap()).unwrap(), first);
    for count in [0, 129, -1] {
        let (status, body) = kv.call(Method::POST, "/rng", Some(json!({ "count": count }))).await;
        assert_eq!(
            (status, arm_code(&body)),
            (StatusCode::BAD_REQUEST, "BadParameter"),
            "{count}"
        );
    }
    let (status, _) = kv.call_as(None, Method::POST, "/rng", Some(json!({"count": 4}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn s12_the_service_purges_a_deleted_key_when_its_retention_ends() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-retention", true).await;
    kv.create("old").await;
    kv.call(Method::DELETE, "/keys/old", None).await;
    server
        .arm(Method::POST, "/cmk/admin/clock/advance", Some(r#"{"seconds": 691200}"#))
        .await;
    let c = &server.creds;
    let scope = format!("https://vault.localhost:{}/.default", server.addr.port());
    let fresh = server
        .token_for(&c.tenant_id, &c.client_id, &c.client_secret, &scope)
        .await;
    let (status, _) = kv.call_as(Some(&fresh), Method::GET, "/deletedkeys/old", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "past its purge date the key is gone");
    // The scheduler removes it from storage too; the name is free and starts with one version.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (status, _) = kv
        .call_as(
            Some(&fresh),
            Method::POST,
            "/keys/old/create",
            Some(json!({"kty": "RSA"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, versions) = kv.call_as(Some(&fresh), Method::GET, "/keys/old/versions", None).await;
    assert_eq!(versions["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn outside_its_validity_window_a_key_unwraps_but_does_not_wrap_or_sign() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-window", true).await;
    let key = kv.create("cmk").await;
    let version = version_of(&key);
    let wrapped = public_key(&key)
        .encrypt(RsaEncryptionAlgorithm::RsaOaep256, &[4u8; 32])
        .unwrap();
    let expired = key["attributes"]["created"].as_i64().unwrap() - 10;
    let (status, body) = kv
        .call(
            Method::PATCH,
            &format!("/keys/cmk/{version}"),
            Some(json!({"attributes": {"exp": expired}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = kv
        .call(
            Method::POST,
            &format!("/keys/cmk/{version}/unwrapkey"),
            Some(json!({"alg": "RSA-OAEP-256", "value": b64url_encode(&wrapped)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "unwrap still works after exp: {body}");
    for (operation, body) in [
        (
            "wrapkey",
            json!({"alg": "RSA-OAEP-256", "value": b64url_encode([1u8; 32])}),
        ),
        (
            "encrypt",
            json!({"alg": "RSA-OAEP-256", "value": b64url_encode([1u8; 32])}),
        ),
        ("sign", json!({"alg": "RS256", "value": b64url_encode([1u8; 32])})),
    ] {
        let (status, response) = kv
            .call(Method::POST, &format!("/keys/cmk/{version}/{operation}"), Some(body))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{operation}: {response}");
        assert!(
            response["error"]["message"]
                .as_str()
                .unwrap()
                .contains("validity period"),
            "{response}"
        );
    }
    // key_ops restrict the operations too.
    kv.call(
        Method::PATCH,
        &format!("/keys/cmk/{version}"),
        Some(json!({"key_ops": ["wrapKey"]})),
    )
    .await;
    let (status, response) = kv
        .call(
            Method::POST,
            &format!("/keys/cmk/{version}/unwrapkey"),
            Some(json!({"alg": "RSA-OAEP-256", "value": b64url_encode(&wrapped)})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{response}");
    assert_eq!(response["error"]["innererror"]["code"], "OperationNotAllowed");
}
