#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use super::*;
use crate::ec::EcCurve;

/// RSA generation is slow: one key, shared by all tests.
fn rsa() -> PrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    PrivateKey::from(KEY.get_or_init(|| RsaPrivateKey::generate(2048).unwrap()).clone())
}

fn ec(curve: EcCurve) -> PrivateKey {
    PrivateKey::from(EcPrivateKey::generate(curve).unwrap())
}

fn every_key() -> Vec<PrivateKey> {
    let mut keys = vec![rsa()];
    keys.extend(EcCurve::ALL.map(ec));
    keys
}

const EVERY_ALGORITHM: [&str; 10] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES256K", "ES384", "ES512",
];

#[test]
fn every_jwa_name_parses_to_its_mechanism() {
    for name in EVERY_ALGORITHM {
        let alg = SignatureAlgorithm::from_jwa(name).unwrap();
        assert_eq!(alg.as_jwa(), name);
        let expected = if name.starts_with("ES") {
            KeyKind::Ec
        } else {
            KeyKind::Rsa
        };
        assert_eq!(alg.key_kind(), expected, "{name}");
    }
    assert_eq!(
        SignatureAlgorithm::from_jwa("ES256K"),
        Some(SignatureAlgorithm::Ec(EcSignatureAlgorithm::Es256K))
    );
    assert_eq!(
        SignatureAlgorithm::from(RsaSignatureAlgorithm::Ps384),
        SignatureAlgorithm::Rsa(RsaSignatureAlgorithm::Ps384)
    );
    for unknown in ["es256", "HS256", "EdDSA", "none", ""] {
        assert_eq!(SignatureAlgorithm::from_jwa(unknown), None, "{unknown}");
    }
    let lengths: Vec<_> = EVERY_ALGORITHM
        .iter()
        .map(|name| SignatureAlgorithm::from_jwa(name).unwrap().digest_len())
        .collect();
    assert_eq!(lengths, [32, 48, 64, 32, 48, 64, 32, 32, 48, 64]);
}

#[test]
fn every_key_signs_with_the_algorithms_that_fit_it_and_refuses_the_rest() {
    for key in every_key() {
        let public = key.public_key();
        for name in EVERY_ALGORITHM {
            let alg = SignatureAlgorithm::from_jwa(name).unwrap();
            let digest = vec![0x3c; alg.digest_len()];
            let fits = match (&key, alg) {
                (PrivateKey::Rsa(_), SignatureAlgorithm::Rsa(_)) => true,
                (PrivateKey::Ec(ec), SignatureAlgorithm::Ec(alg)) => alg.curve() == ec.curve(),
                _ => false,
            };
            match key.sign_digest(alg, &digest) {
                Ok(signature) => {
                    assert!(fits, "{} signed with {name}", key.describe());
                    assert!(public.verify_digest(alg, &digest, &signature), "{name}");
                    let mut tampered = digest.clone();
                    tampered[0] ^= 1;
                    assert!(!public.verify_digest(alg, &tampered, &signature), "{name}");
                }
                Err(error) => {
                    assert!(!fits, "{} refused {name}: {error}", key.describe());
                    assert!(
                        matches!(error, CryptoError::AlgorithmNotForKey { alg, .. } if alg == name),
                        "{error:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn mechanism_mismatches_name_what_fits() {
    let es256 = SignatureAlgorithm::from_jwa("ES256").unwrap();
    let rs256 = SignatureAlgorithm::from_jwa("RS256").unwrap();
    let error = rsa().sign_digest(es256, &[1; 32]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "ES256 does not fit this RSA key; use RS256, RS384, RS512, PS256, PS384 or PS512"
    );
    let error = ec(EcCurve::P384).sign_digest(rs256, &[1; 32]).unwrap_err();
    assert_eq!(error.to_string(), "RS256 does not fit this P-384 key; use ES384");

    // A signature of one mechanism never verifies as the other, whatever the lengths.
    let rsa_signature = rsa().sign_digest(rs256, &[1; 32]).unwrap();
    assert!(!rsa().public_key().verify_digest(es256, &[1; 32], &rsa_signature));
    let p256 = ec(EcCurve::P256);
    let ec_signature = p256.sign_digest(es256, &[1; 32]).unwrap();
    assert!(!p256.public_key().verify_digest(rs256, &[1; 32], &ec_signature));
}

#[test]
fn pkcs8_loads_as_whichever_kind_it_holds() {
    for key in every_key() {
        let reloaded = PrivateKey::from_pkcs8(&key.to_pkcs8().unwrap()).unwrap();
        assert_eq!(reloaded.kind(), key.kind());
        assert_eq!(reloaded.public_key(), key.public_key(), "{}", key.describe());
        assert_eq!(reloaded.describe(), key.describe());
    }
    let error = PrivateKey::from_pkcs8(&SecretBytes::new(b"not a key".to_vec())).unwrap_err();
    assert!(matches!(error, CryptoError::InvalidKey(_)), "{error:?}");
}

#[test]
fn kinds_descriptions_and_accessors() {
    let rsa = rsa();
    assert_eq!((rsa.kind(), rsa.kind().as_kty()), (KeyKind::Rsa, "RSA"));
    assert_eq!(rsa.describe(), "RSA 2048");
    assert!(rsa.as_rsa().is_some() && rsa.as_ec().is_none());
    let p521 = ec(EcCurve::P521);
    assert_eq!((p521.kind(), p521.kind().as_kty()), (KeyKind::Ec, "EC"));
    assert_eq!(p521.describe(), "EC P-521");
    assert_eq!(p521.public_key().describe(), "EC P-521");
    assert_eq!(p521.as_ec().map(EcPrivateKey::curve), Some(EcCurve::P521));
    assert!(p521.as_rsa().is_none());
}

#[test]
fn thumbprints_and_spki_are_those_of_the_mechanism() {
    for key in every_key() {
        let public = key.public_key();
        let (thumbprint, spki) = match &key {
            PrivateKey::Rsa(k) => (k.public_key().jwk_thumbprint(), k.public_key().to_spki_der().unwrap()),
            PrivateKey::Ec(k) => (k.public_key().jwk_thumbprint(), k.public_key().to_spki_der().unwrap()),
        };
        assert_eq!(public.jwk_thumbprint(), thumbprint);
        assert_eq!(public.to_spki_der().unwrap(), spki);
    }
}

#[test]
fn debug_output_shows_only_kind_and_size() {
    assert_eq!(format!("{:?}", rsa()), "Rsa(RsaPrivateKey { bits: 2048, .. })");
    assert_eq!(
        format!("{:?}", ec(EcCurve::P256K)),
        "Ec(EcPrivateKey { curve: P256K, .. })"
    );
    assert_eq!(
        format!("{:?}", ec(EcCurve::P256).public_key()),
        "Ec(EcPublicKey { curve: P256 })"
    );
}
