#![allow(clippy::unwrap_used, clippy::expect_used)]

use cmk_crypto::encoding::b64url_encode;
use cmk_crypto::{SecretBytes, SecretString};
use serde_json::{Value, json};

use crate::base64url::{Base64UrlError, decode_strict, refusal};
use crate::keys::*;
use crate::{Base64Url, ErrorResponse, SecretBase64Url, TokenResponse};

/// Reads `wire` into `T` and writes it back: the typed value must say exactly what the wire said.
pub(crate) fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(wire: &Value) -> T {
    let typed: T = serde_json::from_value(wire.clone()).unwrap();
    assert_eq!(&serde_json::to_value(&typed).unwrap(), wire);
    typed
}

#[test]
fn an_rsa_bundle_round_trips() {
    let wire = json!({
        "key": {
            "kid": "https://contoso.vault.azure.net/keys/cmk/4387e9f3d6e14c459867679a90fd0f79",
            "kty": "RSA",
            "key_ops": ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"],
            "n": b64url_encode([0xc5u8; 256]),
            "e": "AQAB"
        },
        "attributes": {
            "enabled": true,
            "exp": 1_900_000_000,
            "created": 1_700_000_000,
            "updated": 1_700_000_100,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
            "exportable": false
        },
        "tags": {"purpose": "unit test"}
    });
    let bundle: KeyBundle = round_trip(&wire);
    assert_eq!(bundle.key.e.unwrap().as_bytes(), [1, 0, 1]);
    assert_eq!(bundle.attributes.enabled, Some(true));
    assert_eq!(bundle.attributes.nbf, None);
}

#[test]
fn an_ec_bundle_round_trips_with_a_curve_and_no_modulus() {
    let wire = json!({
        "key": {
            "kid": "https://contoso.vault.azure.net/keys/signer/0a1b2c3d",
            "kty": "EC-HSM",
            "key_ops": ["sign", "verify"],
            "crv": "P-256",
            "x": b64url_encode([7u8; 32]),
            "y": b64url_encode([9u8; 32])
        },
        "attributes": {"enabled": false, "created": 1, "updated": 2, "recoveryLevel": "Recoverable", "recoverableDays": 7, "exportable": false},
        "tags": {}
    });
    let bundle: KeyBundle = round_trip(&wire);
    assert!(bundle.key.n.is_none() && bundle.key.e.is_none());
    assert_eq!(bundle.key.crv.as_deref(), Some("P-256"));
}

#[test]
fn deleted_bundles_and_lists_round_trip() {
    let wire = json!({
        "key": {"kid": "https://kv.vault.azure.net/keys/k/1", "kty": "RSA", "key_ops": [], "n": "AQ", "e": "AQAB"},
        "attributes": {"enabled": true},
        "tags": {},
        "recoveryId": "https://kv.vault.azure.net/deletedkeys/k",
        "deletedDate": 1_700_000_000,
        "scheduledPurgeDate": 1_707_776_000
    });
    let deleted: DeletedKeyBundle = round_trip(&wire);
    assert_eq!(deleted.deletion.deleted_date, Some(1_700_000_000));
    let list = json!({
        "value": [{
            "kid": "https://kv.vault.azure.net/keys/k",
            "attributes": {"enabled": true},
            "tags": {},
            "recoveryId": "https://kv.vault.azure.net/deletedkeys/k",
            "deletedDate": 1, "scheduledPurgeDate": 2
        }],
        "nextLink": null
    });
    let page: DeletedKeyListResult = round_trip(&list);
    assert_eq!(page.value.len(), 1);
}

#[test]
fn operation_bodies_round_trip() {
    let wrap = json!({"alg": "RSA-OAEP-256", "value": b64url_encode([42u8; 32])});
    let body: KeyOperationsParameters = round_trip(&wrap);
    assert_eq!(body.value.expose(), [42u8; 32]);
    let verify: KeyVerifyParameters = round_trip(&json!({"alg": "PS256", "digest": "AAAA", "value": "AQID"}));
    assert_eq!(verify.value.as_bytes(), [1, 2, 3]);
    round_trip::<KeyOperationResult>(&json!({"kid": "https://kv.vault.azure.net/keys/k/1", "value": "AAAA"}));
    round_trip::<KeyVerifyResult>(&json!({"value": true}));
}

#[test]
fn strict_base64url_refuses_padding_the_standard_alphabet_and_stray_bits() {
    assert_eq!(decode_strict("-_8").unwrap(), [0xfb, 0xff]);
    assert_eq!(decode_strict("").unwrap(), Vec::<u8>::new());
    assert_eq!(decode_strict("AQ=="), Err(Base64UrlError::Padding { offset: 2 }));
    assert_eq!(
        decode_strict("+/8"),
        Err(Base64UrlError::StandardAlphabet { offset: 0 })
    );
    assert_eq!(
        decode_strict("AA A"),
        Err(Base64UrlError::InvalidCharacter { offset: 2 })
    );
    assert_eq!(decode_strict("AAAAA"), Err(Base64UrlError::Length { len: 5 }));
    assert_eq!(decode_strict("AB"), Err(Base64UrlError::TrailingBits));
}

#[test]
fn a_refused_field_is_named_and_its_text_is_not_echoed() {
    let error = serde_json::from_str::<KeyOperationsParameters>(r#"{"alg":"RSA-OAEP","value":"c2VjcmV0+"}"#)
        .err()
        .unwrap();
    let message = refusal(&error).unwrap();
    assert!(
        message.starts_with("The field 'value' is not valid base64url: "),
        "{message}"
    );
    assert!(message.contains("offset 8"), "{message}");
    assert!(!message.contains("c2VjcmV0"), "{message}");
    let error = serde_json::from_value::<KeyImportParameters>(json!({"key": {"kty": "RSA", "dq": "AQ=="}}))
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("The field 'dq' is not valid base64url"),
        "{error}"
    );
    // Other refusals are left to the caller's generic 400.
    let error = serde_json::from_str::<KeyOperationsParameters>(r#"{"alg":"RSA-OAEP"}"#)
        .err()
        .unwrap();
    assert_eq!(refusal(&error), None);
    assert!(serde_json::from_value::<Base64Url>(json!("AQ==")).is_err());
}

#[test]
fn debug_of_every_secret_bearing_shape_shows_no_secret() {
    let secret = [0x5au8; 32];
    let encoded = b64url_encode(secret);
    let value = || SecretBase64Url::new(SecretBytes::new(secret.to_vec()));
    let jwk = JsonWebKey {
        kty: Some("RSA".into()),
        d: Some(value()),
        p: Some(value()),
        q: Some(value()),
        dp: Some(value()),
        dq: Some(value()),
        qi: Some(value()),
        ..JsonWebKey::default()
    };
    let import = KeyImportParameters {
        hsm: None,
        key: jwk.clone(),
        attributes: None,
        tags: None,
        release_policy: None,
    };
    let token = TokenResponse {
        token_type: "Bearer".into(),
        expires_in: 3599,
        ext_expires_in: 3599,
        access_token: SecretString::new(encoded.clone()),
    };
    let printed = [
        format!("{:?}", value()),
        format!("{jwk:?}"),
        format!("{import:?}"),
        format!("{:?}", KeyOperationsParameters::new("RSA-OAEP", value())),
        format!(
            "{:?}",
            KeyOperationResult {
                kid: None,
                value: value()
            }
        ),
        format!("{token:?}"),
    ];
    for text in printed {
        assert!(
            !text.contains(&encoded) && !text.contains("5a5a") && !text.contains("90, 90"),
            "{text}"
        );
        assert!(text.contains("redacted"), "{text}");
    }
}

#[test]
fn a_token_answer_round_trips() {
    let wire =
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "eyJ0.eyJ1.c2ln"});
    let token: TokenResponse = round_trip(&wire);
    assert_eq!(token.access_token.expose(), "eyJ0.eyJ1.c2ln");
}

#[test]
fn error_bodies_read_with_or_without_inner_errors() {
    let wire = json!({"error": {"code": "Forbidden", "message": "no", "innererror": {"code": "KeyDisabled"}}});
    let body: ErrorResponse = round_trip(&wire);
    assert_eq!(body.error.innererror.unwrap().code, "KeyDisabled");
    let body: ErrorResponse = serde_json::from_value(json!({})).unwrap();
    assert_eq!(body.error.code, "");
}

#[test]
fn a_rotation_policy_round_trips_and_a_request_may_send_nulls() {
    let answer = json!({
        "id": "https://kv.vault.localhost:8443/keys/cmk/rotationpolicy",
        "lifetimeActions": [
            {"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}},
            {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}
        ],
        "attributes": {"expiryTime": "P2Y", "created": 1700000000, "updated": 1700000001}
    });
    round_trip::<crate::keys::KeyRotationPolicy>(&answer);
    let request: crate::keys::KeyRotationPolicy = serde_json::from_value(json!({
        "lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D", "timeBeforeExpiry": null}, "action": {"type": "rotate"}}]
    }))
    .unwrap();
    assert_eq!(request.lifetime_actions[0].trigger.time_before_expiry, None);
    assert_eq!(
        serde_json::to_value(crate::keys::KeyRotationPolicy::default()).unwrap(),
        json!({"lifetimeActions": [], "attributes": {}})
    );
}
