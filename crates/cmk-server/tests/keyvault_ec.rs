//! Elliptic-curve keys on the Key Vault data plane over HTTPS: every curve Key Vault offers, created, imported,
//! rotated, backed up and restored; ES256, ES256K, ES384 and ES512 over a digest; and Key Vault's refusals of what
//! an EC key cannot do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cmk_crypto::ec::{EcCurve, EcPrivateKey, EcPublicKey};
use cmk_crypto::encoding::{b64url_decode, b64url_encode};
use common::vault::{vault, version_of};
use common::{TestServer, arm_code};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The public key a bundle carries, as a client would rebuild it.
fn ec_public_key(bundle: &Value) -> EcPublicKey {
    let key = &bundle["key"];
    let curve = EcCurve::from_jwk(key["crv"].as_str().unwrap()).unwrap();
    EcPublicKey::from_components(
        curve,
        &b64url_decode(key["x"].as_str().unwrap()).unwrap(),
        &b64url_decode(key["y"].as_str().unwrap()).unwrap(),
    )
    .unwrap()
}

fn digest(curve: EcCurve, seed: u8) -> Vec<u8> {
    vec![seed; curve.signature_algorithm().digest_len()]
}

fn assert_bad_parameter(status: StatusCode, body: &Value, fragment: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(arm_code(body), "BadParameter", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(fragment), "{message}");
}

#[tokio::test]
async fn ec_keys_on_every_curve_sign_verify_and_rotate_on_their_curve() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-ec", true).await;
    for curve in EcCurve::ALL {
        let name = format!("ec-{}", curve.as_jwk().to_ascii_lowercase());
        let (status, created) = kv
            .call(
                Method::POST,
                &format!("/keys/{name}/create"),
                Some(json!({"kty": "EC", "crv": curve.as_jwk()})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let key = &created["key"];
        assert_eq!(key["kty"], "EC");
        assert_eq!(key["crv"], curve.as_jwk());
        assert_eq!(key["key_ops"], json!(["sign", "verify"]));
        assert!(key.get("n").is_none() && key.get("e").is_none(), "{key}");
        let public = ec_public_key(&created);
        assert_eq!(public.x().len(), curve.coordinate_len());

        // The vault signs; the signature verifies locally, in the vault, and not for another digest.
        let alg = curve.signature_algorithm();
        let version = version_of(&created);
        let (status, signed) = kv
            .call(
                Method::POST,
                &format!("/keys/{name}/{version}/sign"),
                Some(json!({"alg": alg.as_jwa(), "value": b64url_encode(digest(curve, 7))})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{signed}");
        let signature = b64url_decode(signed["value"].as_str().unwrap()).unwrap();
        assert_eq!(signature.len(), 2 * curve.coordinate_len(), "r || s, as JWS has it");
        assert!(public.verify_digest(alg, &digest(curve, 7), &signature));
        for (seed, expected) in [(7, true), (8, false)] {
            let (status, verified) = kv
                .call(
                    Method::POST,
                    &format!("/keys/{name}/{version}/verify"),
                    Some(json!({
                        "alg": alg.as_jwa(),
                        "digest": b64url_encode(digest(curve, seed)),
                        "value": b64url_encode(&signature),
                    })),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{verified}");
            assert_eq!(verified["value"], expected, "{} seed {seed}", curve.as_jwk());
        }

        // A rotation makes a new version on the same curve; the old one still verifies what it signed.
        let (status, rotated) = kv.call(Method::POST, &format!("/keys/{name}/rotate"), None).await;
        assert_eq!(status, StatusCode::OK, "{rotated}");
        assert_eq!(rotated["key"]["crv"], curve.as_jwk());
        assert_ne!(version_of(&rotated), version);
        assert_ne!(ec_public_key(&rotated), public);
    }
}

#[tokio::test]
async fn an_ec_key_defaults_to_p256_and_a_size_names_its_curve() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-ec-defaults", true).await;
    for (body, kty, curve) in [
        (json!({"kty": "EC"}), "EC", "P-256"),
        (json!({"kty": "EC-HSM"}), "EC-HSM", "P-256"),
        (json!({"kty": "EC", "key_size": 384}), "EC", "P-384"),
        (json!({"kty": "EC", "key_size": 521, "crv": "P-521"}), "EC", "P-521"),
    ] {
        let (status, created) = kv.call(Method::POST, "/keys/ec/create", Some(body.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}: {created}");
        assert_eq!(
            (created["key"]["kty"].as_str(), created["key"]["crv"].as_str()),
            (Some(kty), Some(curve))
        );
    }
    let (status, got) = kv.call(Method::GET, "/keys/ec", None).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["key"]["crv"], "P-521");
}

#[tokio::test]
async fn what_an_ec_key_cannot_do_is_refused_with_bad_parameter() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-ec-refusals", true).await;
    let (_, created) = kv
        .call(
            Method::POST,
            "/keys/ec/create",
            Some(json!({"kty": "EC", "crv": "P-256"})),
        )
        .await;
    let version = version_of(&created);
    let rsa = kv.create("rsa").await;
    let rsa_version = version_of(&rsa);
    let op = |name: &str, version: &str, operation: &str| format!("/keys/{name}/{version}/{operation}");
    let cases = [
        (
            op("ec", &version, "sign"),
            json!({"alg": "ES384", "value": b64url_encode([1u8; 48])}),
            "'ES384' can only be used with an EC key on curve 'P-384', and this is an EC key on curve 'P-256'",
        ),
        (
            op("ec", &version, "sign"),
            json!({"alg": "RS256", "value": b64url_encode([1u8; 32])}),
            "signing algorithm are incompatible",
        ),
        (
            op("rsa", &rsa_version, "sign"),
            json!({"alg": "ES256", "value": b64url_encode([1u8; 32])}),
            "this is an RSA key",
        ),
        (
            op("ec", &version, "verify"),
            json!({"alg": "ES512", "digest": b64url_encode([1u8; 64]), "value": b64url_encode([1u8; 132])}),
            "signing algorithm are incompatible",
        ),
        (
            op("ec", &version, "sign"),
            json!({"alg": "ES256", "value": b64url_encode([1u8; 48])}),
            "The digest for ES256 must be 32 bytes, got 48.",
        ),
        (
            op("ec", &version, "verify"),
            json!({"alg": "ES256", "digest": b64url_encode([1u8; 20]), "value": b64url_encode([1u8; 64])}),
            "The digest for ES256 must be 32 bytes, got 20.",
        ),
        (
            op("ec", &version, "wrapkey"),
            json!({"alg": "RSA-OAEP-256", "value": b64url_encode([1u8; 32])}),
            "encryption algorithm are incompatible",
        ),
        (
            op("ec", &version, "encrypt"),
            json!({"alg": "RSA-OAEP", "value": b64url_encode([1u8; 32])}),
            "EC keys only sign and verify",
        ),
        (
            op("ec", &version, "unwrapkey"),
            json!({"alg": "RSA1_5", "value": b64url_encode([1u8; 64])}),
            "encryption algorithm are incompatible",
        ),
        (
            "/keys/ec2/create".to_owned(),
            json!({"kty": "EC", "crv": "P-999"}),
            "The curve 'P-999' is not supported",
        ),
        (
            "/keys/ec2/create".to_owned(),
            json!({"kty": "EC", "key_ops": ["sign", "wrapKey", "unwrapKey"]}),
            "\"wrapKey\", \"unwrapKey\"",
        ),
        (
            "/keys/ec2/create".to_owned(),
            json!({"kty": "EC", "key_size": 2048}),
            "key size 2048 is not supported for EC keys",
        ),
        (
            "/keys/ec2/create".to_owned(),
            json!({"kty": "EC", "key_size": 256, "crv": "P-384"}),
            "does not match the curve P-384",
        ),
        (
            "/keys/rsa2/create".to_owned(),
            json!({"kty": "RSA", "crv": "P-256"}),
            "'crv' applies to EC keys only",
        ),
        (
            "/keys/ec2/create".to_owned(),
            json!({"kty": "oct"}),
            "The key type 'oct' is not supported",
        ),
    ];
    for (path, body, fragment) in cases {
        let (status, response) = kv.call(Method::POST, &path, Some(body.clone())).await;
        assert_bad_parameter(status, &response, fragment);
    }
    // An update cannot give an EC key an operation it cannot do either.
    let (status, response) = kv
        .call(
            Method::PATCH,
            &format!("/keys/ec/{version}"),
            Some(json!({"key_ops": ["encrypt"]})),
        )
        .await;
    assert_bad_parameter(status, &response, "\"encrypt\"");
}

#[tokio::test]
async fn an_imported_ec_key_signs_for_its_owner_and_a_mismatched_one_is_refused() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-ec-import", true).await;
    for curve in EcCurve::ALL {
        let local = EcPrivateKey::generate(curve).unwrap();
        let parts = local.private_components().unwrap();
        let jwk = json!({
            "kty": "EC", "crv": curve.as_jwk(), "key_ops": ["sign", "verify"],
            "d": b64url_encode(&parts.d), "x": b64url_encode(&parts.x), "y": b64url_encode(&parts.y),
        });
        let (status, imported) = kv.call(Method::PUT, "/keys/imported", Some(json!({"key": jwk}))).await;
        assert_eq!(status, StatusCode::OK, "{imported}");
        assert_eq!(&ec_public_key(&imported), local.public_key());
        assert!(
            imported["key"].get("d").is_none(),
            "the private key never leaves the vault"
        );

        let alg = curve.signature_algorithm();
        let (status, signed) = kv
            .call(
                Method::POST,
                &format!("/keys/imported/{}/sign", version_of(&imported)),
                Some(json!({"alg": alg.as_jwa(), "value": b64url_encode(digest(curve, 3))})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{signed}");
        let signature = b64url_decode(signed["value"].as_str().unwrap()).unwrap();
        assert!(local.public_key().verify_digest(alg, &digest(curve, 3), &signature));
    }

    // The private part of one key with the public part of another: refused, nothing stored.
    let one = EcPrivateKey::generate(EcCurve::P256)
        .unwrap()
        .private_components()
        .unwrap();
    let other = EcPrivateKey::generate(EcCurve::P256)
        .unwrap()
        .private_components()
        .unwrap();
    let jwk = json!({
        "kty": "EC", "crv": "P-256",
        "d": b64url_encode(&one.d), "x": b64url_encode(&other.x), "y": b64url_encode(&other.y),
    });
    let (status, response) = kv
        .call(Method::PUT, "/keys/mismatched", Some(json!({"key": jwk})))
        .await;
    assert_bad_parameter(status, &response, "cannot be imported");
    let (status, _) = kv.call(Method::GET, "/keys/mismatched", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let jwk = json!({"kty": "EC", "d": b64url_encode(&one.d), "x": b64url_encode(&one.x), "y": b64url_encode(&one.y)});
    let (status, response) = kv.call(Method::PUT, "/keys/nocurve", Some(json!({"key": jwk}))).await;
    assert_bad_parameter(status, &response, "'crv' is required");
}

#[tokio::test]
async fn an_ec_key_is_backed_up_purged_and_restored_with_its_versions() {
    let server = TestServer::start().await;
    let kv = vault(&server, "kv-ec-backup", false).await;
    let body = json!({"kty": "EC", "crv": "P-384"});
    let (_, first) = kv.call(Method::POST, "/keys/ec/create", Some(body.clone())).await;
    let (_, second) = kv.call(Method::POST, "/keys/ec/create", Some(body)).await;
    let (status, backup) = kv.call(Method::POST, "/keys/ec/backup", None).await;
    assert_eq!(status, StatusCode::OK, "{backup}");
    assert_eq!(kv.call(Method::DELETE, "/keys/ec", None).await.0, StatusCode::OK);
    assert_eq!(
        kv.call(Method::DELETE, "/deletedkeys/ec", None).await.0,
        StatusCode::NO_CONTENT
    );

    let (status, restored) = kv
        .call(Method::POST, "/keys/restore", Some(json!({"value": backup["value"]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(ec_public_key(&restored), ec_public_key(&second));
    // The first version is back too, and still signs as itself.
    let (status, signed) = kv
        .call(
            Method::POST,
            &format!("/keys/ec/{}/sign", version_of(&first)),
            Some(json!({"alg": "ES384", "value": b64url_encode([9u8; 48])})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    let signature = b64url_decode(signed["value"].as_str().unwrap()).unwrap();
    assert!(ec_public_key(&first).verify_digest(cmk_crypto::ec::EcSignatureAlgorithm::Es384, &[9u8; 48], &signature));
}
