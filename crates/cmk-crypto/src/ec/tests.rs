#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use super::*;
use crate::encoding::b64url_decode;
use crate::rsa::RsaPrivateKey;

const ALGORITHMS: [EcSignatureAlgorithm; 4] = [
    EcSignatureAlgorithm::Es256,
    EcSignatureAlgorithm::Es256K,
    EcSignatureAlgorithm::Es384,
    EcSignatureAlgorithm::Es512,
];

fn hash(alg: EcSignatureAlgorithm, message: &[u8]) -> Vec<u8> {
    digest::digest(alg.digest_algorithm(), message).as_ref().to_vec()
}

fn generate(curve: EcCurve) -> EcPrivateKey {
    EcPrivateKey::generate(curve).unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn strip_leading_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

fn flip_last_bit(bytes: &mut [u8]) {
    if let Some(last) = bytes.last_mut() {
        *last ^= 1;
    }
}

#[test]
fn curve_and_algorithm_names_are_the_exact_azure_names() {
    let names: Vec<_> = EcCurve::ALL.iter().map(|curve| curve.as_jwk()).collect();
    assert_eq!(names, ["P-256", "P-256K", "P-384", "P-521"]);
    for curve in EcCurve::ALL {
        assert_eq!(EcCurve::from_jwk(curve.as_jwk()), Some(curve));
    }
    let names: Vec<_> = ALGORITHMS.iter().map(|alg| alg.as_jwa()).collect();
    assert_eq!(names, ["ES256", "ES256K", "ES384", "ES512"]);
    for alg in ALGORITHMS {
        assert_eq!(EcSignatureAlgorithm::from_jwa(alg.as_jwa()), Some(alg));
    }
    for unknown in [
        "p-256",
        "P256",
        "P-256k",
        "secp256k1",
        "SECP256K1",
        "P-224",
        "Ed25519",
        "",
    ] {
        assert_eq!(EcCurve::from_jwk(unknown), None, "{unknown}");
    }
    for unknown in ["es256", "ES256k", "ES521", "EdDSA", "RS256", ""] {
        assert_eq!(EcSignatureAlgorithm::from_jwa(unknown), None, "{unknown}");
    }
}

#[test]
fn each_curve_has_one_algorithm_and_the_lengths_of_rfc7518() {
    assert_eq!(EcCurve::default(), EcCurve::P256);
    let lengths: Vec<_> = EcCurve::ALL.iter().map(|curve| curve.coordinate_len()).collect();
    assert_eq!(lengths, [32, 32, 48, 66]);
    let lengths: Vec<_> = ALGORITHMS.iter().map(|alg| alg.digest_len()).collect();
    assert_eq!(lengths, [32, 32, 48, 64]);
    let curves: Vec<_> = ALGORITHMS.iter().map(|alg| alg.curve()).collect();
    assert_eq!(curves, EcCurve::ALL);
    for curve in EcCurve::ALL {
        assert_eq!(curve.signature_algorithm().curve(), curve);
    }
}

#[test]
fn every_curve_signs_and_verifies_its_digests() {
    for curve in EcCurve::ALL {
        let key = generate(curve);
        let other = generate(curve);
        let alg = curve.signature_algorithm();
        let public = key.public_key();
        assert_eq!(key.curve(), curve);
        assert_eq!(public.curve(), curve);
        assert_eq!(public.x().len(), curve.coordinate_len());
        assert_eq!(public.y().len(), curve.coordinate_len());

        let digest = hash(alg, b"the message");
        let signature = key.sign_digest(alg, &digest).unwrap();
        assert_eq!(signature.len(), 2 * curve.coordinate_len(), "{curve:?}");
        assert!(public.verify_digest(alg, &digest, &signature), "{curve:?}");

        let rejected = |digest: &[u8], signature: &[u8]| !public.verify_digest(alg, digest, signature);
        assert!(
            rejected(&hash(alg, b"the messagE"), &signature),
            "{curve:?}: other digest"
        );
        let mut tampered_r = signature.clone();
        tampered_r[0] ^= 0x01;
        assert!(rejected(&digest, &tampered_r), "{curve:?}: tampered r");
        let mut tampered_s = signature.clone();
        flip_last_bit(&mut tampered_s);
        assert!(rejected(&digest, &tampered_s), "{curve:?}: tampered s");
        assert!(rejected(&digest, &signature[1..]), "{curve:?}: short");
        assert!(
            rejected(&digest, &[signature.as_slice(), &[0]].concat()),
            "{curve:?}: long"
        );
        assert!(rejected(&digest, &vec![0; signature.len()]), "{curve:?}: zeros");
        assert!(rejected(&digest, &[]), "{curve:?}: empty");
        let (r, s) = signature.split_at(curve.coordinate_len());
        assert!(rejected(&digest, &[s, r].concat()), "{curve:?}: s || r");
        assert!(
            !other.public_key().verify_digest(alg, &digest, &signature),
            "{curve:?}: other key"
        );

        // ECDSA draws a fresh nonce per signature: two signatures differ, and both verify.
        let again = key.sign_digest(alg, &digest).unwrap();
        assert_ne!(again, signature, "{curve:?}");
        assert!(public.verify_digest(alg, &digest, &again), "{curve:?}");
    }
}

#[test]
fn wrong_digest_length_is_refused() {
    for curve in EcCurve::ALL {
        let key = generate(curve);
        let alg = curve.signature_algorithm();
        let signature = key.sign_digest(alg, &hash(alg, b"m")).unwrap();
        // P-521 takes a 64-byte SHA-512 digest, not one as long as its 66-byte coordinates.
        for len in [
            0,
            alg.digest_len() - 1,
            alg.digest_len() + 1,
            20,
            curve.coordinate_len() + 2,
        ] {
            let error = key.sign_digest(alg, &vec![1u8; len]).unwrap_err();
            assert!(
                matches!(error, CryptoError::DigestLength { expected, len: got, .. }
                    if expected == alg.digest_len() && got == len),
                "{curve:?}: {error:?}"
            );
            let message = error.to_string();
            assert!(message.contains(&format!("{} takes a {}-byte digest", alg.as_jwa(), alg.digest_len())));
            assert!(!key.public_key().verify_digest(alg, &vec![1u8; len], &signature));
        }
    }
}

#[test]
fn an_algorithm_of_another_curve_is_refused_and_the_one_that_fits_is_named() {
    let key = generate(EcCurve::P256);
    let error = key.sign_digest(EcSignatureAlgorithm::Es384, &[7u8; 48]).unwrap_err();
    assert!(matches!(
        error,
        CryptoError::AlgorithmNotForKey {
            alg: "ES384",
            key: "P-256",
            use_instead: "ES256"
        }
    ));
    assert_eq!(error.to_string(), "ES384 does not fit this P-256 key; use ES256");

    for curve in EcCurve::ALL {
        let key = generate(curve);
        let own = curve.signature_algorithm();
        let signature = key.sign_digest(own, &hash(own, b"m")).unwrap();
        for alg in ALGORITHMS.into_iter().filter(|alg| *alg != own) {
            let digest = hash(alg, b"m");
            let error = key.sign_digest(alg, &digest).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "{} does not fit this {} key; use {}",
                    alg.as_jwa(),
                    curve.as_jwk(),
                    own.as_jwa()
                )
            );
            assert!(!key.public_key().verify_digest(alg, &digest, &signature), "{alg:?}");
        }
    }
    // ES256 and ES256K take digests and signatures of the same lengths; the curve still tells them apart.
    let k1 = generate(EcCurve::P256K);
    let digest = [5u8; 32];
    assert!(matches!(
        k1.sign_digest(EcSignatureAlgorithm::Es256, &digest),
        Err(CryptoError::AlgorithmNotForKey { .. })
    ));
    let signature = k1.sign_digest(EcSignatureAlgorithm::Es256K, &digest).unwrap();
    assert!(
        !k1.public_key()
            .verify_digest(EcSignatureAlgorithm::Es256, &digest, &signature)
    );
}

#[test]
fn pkcs8_round_trips_and_the_curve_is_detected() {
    for curve in EcCurve::ALL {
        let key = generate(curve);
        let reloaded = EcPrivateKey::from_pkcs8(&key.to_pkcs8().unwrap()).unwrap();
        assert_eq!(reloaded.curve(), curve);
        assert_eq!(reloaded.public_key(), key.public_key());
        let alg = curve.signature_algorithm();
        let digest = hash(alg, b"reloaded");
        let signature = reloaded.sign_digest(alg, &digest).unwrap();
        assert!(key.public_key().verify_digest(alg, &digest, &signature), "{curve:?}");
    }
    assert!(EcPrivateKey::from_pkcs8(&SecretBytes::new(b"not a key".to_vec())).is_err());
    assert!(EcPrivateKey::from_pkcs8(&SecretBytes::new(Vec::new())).is_err());
    let rsa = RsaPrivateKey::generate(2048).unwrap().to_pkcs8().unwrap();
    assert!(matches!(
        EcPrivateKey::from_pkcs8(&rsa),
        Err(CryptoError::InvalidKey(_))
    ));
}

#[test]
fn components_round_trip() {
    for curve in EcCurve::ALL {
        let key = generate(curve);
        let components = key.private_components().unwrap();
        assert_eq!(components.curve, curve);
        assert_eq!(components.d.len(), curve.coordinate_len());
        assert_eq!(components.x, key.public_key().x());
        assert_eq!(components.y, key.public_key().y());

        let imported = EcPrivateKey::from_components(&components).unwrap();
        assert_eq!(imported.public_key(), key.public_key());
        assert_eq!(imported.private_components().unwrap().d, components.d);
        let alg = curve.signature_algorithm();
        let digest = hash(alg, b"imported");
        let signature = imported.sign_digest(alg, &digest).unwrap();
        assert!(key.public_key().verify_digest(alg, &digest, &signature), "{curve:?}");
        let resealed = EcPrivateKey::from_pkcs8(&imported.to_pkcs8().unwrap()).unwrap();
        assert_eq!(resealed.public_key(), key.public_key());
    }
}

/// P-521 values are at most 521 bits, so the first of their 66 bytes is 0 or 1: about half of all keys have a
/// zero leading byte that a JWK encoder may or may not strip.
#[test]
fn fields_with_leading_zeros_stripped_or_kept_are_accepted() {
    let (key, components) = std::iter::repeat_with(|| generate(EcCurve::P521))
        .map(|key| {
            let components = key.private_components().unwrap();
            (key, components)
        })
        .find(|(_, c)| c.d[0] == 0 && c.x[0] == 0 && c.y[0] == 0)
        .unwrap();
    let stripped = EcPrivateComponents {
        curve: EcCurve::P521,
        d: strip_leading_zeros(&components.d),
        x: strip_leading_zeros(&components.x),
        y: strip_leading_zeros(&components.y),
    };
    assert!(stripped.d.len() < 66 && stripped.x.len() < 66 && stripped.y.len() < 66);
    let imported = EcPrivateKey::from_components(&stripped).unwrap();
    assert_eq!(imported.public_key(), key.public_key());
    assert_eq!(imported.public_key().x().len(), 66, "coordinates are padded back");
    assert_eq!(imported.private_components().unwrap().d, components.d);

    let public = EcPublicKey::from_components(EcCurve::P521, &stripped.x, &stripped.y).unwrap();
    assert_eq!(&public, key.public_key());
    assert_eq!(public.jwk_thumbprint(), key.public_key().jwk_thumbprint());
}

#[test]
fn inconsistent_components_are_rejected() {
    for curve in EcCurve::ALL {
        let good = generate(curve).private_components().unwrap();
        let other = generate(curve).private_components().unwrap();
        let with = |change: &dyn Fn(&mut EcPrivateComponents)| {
            let mut c = good.clone();
            change(&mut c);
            c
        };
        let other_curve = EcCurve::ALL.into_iter().find(|c| *c != curve).unwrap();
        let variants: Vec<(&str, EcPrivateComponents)> = vec![
            ("d of another key", with(&|c| c.d = other.d.clone())),
            ("d off by one bit", with(&|c| flip_last_bit(&mut c.d))),
            ("x and y swapped", with(&|c| std::mem::swap(&mut c.x, &mut c.y))),
            (
                "point of another key",
                with(&|c| (c.x, c.y) = (other.x.clone(), other.y.clone())),
            ),
            ("point off the curve", with(&|c| flip_last_bit(&mut c.y))),
            ("d zero", with(&|c| c.d = vec![0; curve.coordinate_len()])),
            ("d empty", with(&|c| c.d.clear())),
            ("x empty", with(&|c| c.x.clear())),
            ("d over-long", with(&|c| c.d.insert(0, 0))),
            ("x over-long", with(&|c| c.x.insert(0, 0))),
            ("y over-long", with(&|c| c.y.push(0))),
            ("another curve", with(&|c| c.curve = other_curve)),
        ];
        for (what, components) in variants {
            let error = EcPrivateKey::from_components(&components).unwrap_err();
            assert!(
                matches!(error, CryptoError::InvalidKey(_)),
                "{curve:?}, {what}: {error:?}"
            );
        }
    }
}

/// The group order `n` and the field prime `p` of P-256 (SEC 2): `d` must be below `n`, coordinates below `p`.
#[test]
fn out_of_range_scalars_and_coordinates_are_rejected() {
    let n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let p = hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
    let good = generate(EcCurve::P256).private_components().unwrap();
    let mut c = good.clone();
    c.d = n.clone();
    assert!(EcPrivateKey::from_components(&c).is_err(), "d = n");
    c.d = vec![0xff; 32];
    assert!(EcPrivateKey::from_components(&c).is_err(), "d > n");
    assert!(
        EcPublicKey::from_components(EcCurve::P256, &p, &good.y).is_err(),
        "x = p"
    );
    let messages: Vec<String> = [
        EcPublicKey::from_components(EcCurve::P256, &good.x, &[good.y.as_slice(), &[1]].concat()),
        EcPublicKey::from_components(EcCurve::P256, &good.y, &good.x),
        EcPublicKey::from_components(EcCurve::P256, &[], &good.y),
    ]
    .into_iter()
    .map(|result| result.unwrap_err().to_string())
    .collect();
    assert!(messages[0].contains("longer than its curve allows"), "{}", messages[0]);
    assert!(messages[1].contains("not on the curve"), "{}", messages[1]);
    assert!(messages[2].contains("empty"), "{}", messages[2]);
}

#[test]
fn debug_output_carries_no_key_material() {
    let key = generate(EcCurve::P384);
    let components = key.private_components().unwrap();
    assert_eq!(format!("{components:?}"), "EcPrivateComponents { curve: P384, .. }");
    assert_eq!(format!("{key:?}"), "EcPrivateKey { curve: P384, .. }");
    assert_eq!(format!("{:?}", key.public_key()), "EcPublicKey { curve: P384 }");
    assert_eq!(
        format!("{:?}", key.to_pkcs8().unwrap()),
        format!("SecretBytes([redacted; {} bytes])", key.to_pkcs8().unwrap().len())
    );
}

/// The DPoP proof key of RFC 9449 section 4.1 and its thumbprint, the `jkt` of section 6.1.
#[test]
fn thumbprint_matches_rfc9449_example_and_is_stable() {
    let x = b64url_decode("l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs").unwrap();
    let y = b64url_decode("9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA").unwrap();
    let key = EcPublicKey::from_components(EcCurve::P256, &x, &y).unwrap();
    assert_eq!(key.jwk_thumbprint(), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");

    let key = generate(EcCurve::P256);
    let reloaded = EcPrivateKey::from_pkcs8(&key.to_pkcs8().unwrap()).unwrap();
    assert_eq!(
        reloaded.public_key().jwk_thumbprint(),
        key.public_key().jwk_thumbprint()
    );
    assert_eq!(key.public_key().jwk_thumbprint().len(), 43);
    assert_ne!(
        generate(EcCurve::P256).public_key().jwk_thumbprint(),
        key.public_key().jwk_thumbprint()
    );
}

#[test]
fn one_key_serves_many_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<EcPrivateKey>();
    assert_send_sync::<EcPublicKey>();

    let key = generate(EcCurve::P256);
    let handles: Vec<_> = (0u8..4)
        .map(|thread| {
            let key = key.clone();
            std::thread::spawn(move || {
                for round in 0u8..25 {
                    let digest = [thread ^ round; 32];
                    let signature = key.sign_digest(EcSignatureAlgorithm::Es256, &digest).unwrap();
                    assert!(
                        key.public_key()
                            .verify_digest(EcSignatureAlgorithm::Es256, &digest, &signature)
                    );
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
}

// ---- Interoperability with OpenSSL (skipped with a notice when `openssl` is not on PATH) ----

fn openssl_available() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        eprintln!("notice: `openssl` is not on PATH; skipping this OpenSSL interoperability test");
    }
    found
}

/// Runs `openssl` with the arguments; returns whether it succeeded (its stderr is printed on failure).
fn openssl(args: &[&str]) -> bool {
    let out = Command::new("openssl").args(args).output().unwrap();
    if !out.status.success() {
        eprintln!("openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    out.status.success()
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

/// OpenSSL's name for the curve and the `dgst` option of its hash.
fn openssl_names(curve: EcCurve) -> (&'static str, &'static str) {
    match curve {
        EcCurve::P256 => ("prime256v1", "-sha256"),
        EcCurve::P256K => ("secp256k1", "-sha256"),
        EcCurve::P384 => ("secp384r1", "-sha384"),
        EcCurve::P521 => ("secp521r1", "-sha512"),
    }
}

/// Reads one DER element: (tag, contents, rest).
fn der_element(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, header) = if input[1] < 0x80 {
        (usize::from(input[1]), 2)
    } else {
        let count = usize::from(input[1] & 0x7f);
        let len = input[2..2 + count]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | usize::from(*b));
        (len, 2 + count)
    };
    (tag, &input[header..header + len], &input[header + len..])
}

fn der_header(tag: u8, len: usize) -> Vec<u8> {
    match len {
        0..0x80 => vec![tag, len as u8],
        0x80..0x100 => vec![tag, 0x81, len as u8],
        _ => vec![tag, 0x82, (len >> 8) as u8, len as u8],
    }
}

/// A non-negative INTEGER: minimal, with a zero byte in front when the top bit is set.
fn der_unsigned_integer(value: &[u8]) -> Vec<u8> {
    let mut contents = strip_leading_zeros(value);
    if contents.first().is_none_or(|b| b & 0x80 != 0) {
        contents.insert(0, 0);
    }
    [der_header(0x02, contents.len()), contents].concat()
}

/// JWS `r || s` to the X9.62 `SEQUENCE { r INTEGER, s INTEGER }` OpenSSL signs and verifies.
fn signature_to_der(signature: &[u8]) -> Vec<u8> {
    let (r, s) = signature.split_at(signature.len() / 2);
    let body = [der_unsigned_integer(r), der_unsigned_integer(s)].concat();
    [der_header(0x30, body.len()), body].concat()
}

/// X9.62 DER to JWS `r || s`, each half left-padded to the coordinate length.
fn signature_from_der(der: &[u8], curve: EcCurve) -> Vec<u8> {
    let (tag, body, rest) = der_element(der);
    assert_eq!((tag, rest.len()), (0x30, 0));
    let (tag_r, r, body) = der_element(body);
    let (tag_s, s, body) = der_element(body);
    assert_eq!((tag_r, tag_s, body.len()), (0x02, 0x02, 0));
    let len = curve.coordinate_len();
    let mut out = vec![0u8; 2 * len];
    let (r, s) = (strip_leading_zeros(r), strip_leading_zeros(s));
    out[len - r.len()..len].copy_from_slice(&r);
    out[2 * len - s.len()..].copy_from_slice(&s);
    out
}

/// The (x, y) of an EC SubjectPublicKeyInfo: `SEQUENCE { AlgorithmIdentifier, BIT STRING 0x04 || x || y }`.
fn spki_coordinates(der: &[u8], curve: EcCurve) -> (Vec<u8>, Vec<u8>) {
    let (tag, info, _) = der_element(der);
    assert_eq!(tag, 0x30);
    let (_, _, rest) = der_element(info); // algorithm identifier
    let (tag, bits, _) = der_element(rest);
    assert_eq!(tag, 0x03);
    let len = curve.coordinate_len();
    assert_eq!(bits.len(), 2 + 2 * len, "no unused bits, then an uncompressed point");
    assert_eq!(&bits[..2], [0x00, 0x04]);
    (bits[2..2 + len].to_vec(), bits[2 + len..].to_vec())
}

#[test]
fn der_signature_conversion_round_trips() {
    for curve in EcCurve::ALL {
        let key = generate(curve);
        let alg = curve.signature_algorithm();
        for round in 0u8..8 {
            let signature = key.sign_digest(alg, &hash(alg, &[round])).unwrap();
            assert_eq!(signature_from_der(&signature_to_der(&signature), curve), signature);
        }
    }
}

/// An OpenSSL key on `curve`: its private key as PEM, and its public key as SPKI DER.
fn openssl_generate(dir: &Path, curve: EcCurve) -> (String, Vec<u8>) {
    let (name, _) = openssl_names(curve);
    let (pem, public) = (path(dir, "openssl.pem"), path(dir, "openssl.pub.der"));
    assert!(openssl(&["ecparam", "-genkey", "-name", name, "-noout", "-out", &pem]));
    assert!(openssl(&[
        "pkey", "-in", &pem, "-pubout", "-outform", "DER", "-out", &public
    ]));
    (pem, std::fs::read(&public).unwrap())
}

#[test]
fn rust_signs_and_openssl_verifies() {
    if !openssl_available() {
        return;
    }
    for curve in EcCurve::ALL {
        let (_, hash_option) = openssl_names(curve);
        let dir = tempfile::tempdir().unwrap();
        let key = generate(curve);
        let alg = curve.signature_algorithm();
        let (public, message, signature) = (
            path(dir.path(), "pub.der"),
            path(dir.path(), "message"),
            path(dir.path(), "sig.der"),
        );
        std::fs::write(&public, key.public_key().to_spki_der().unwrap()).unwrap();
        std::fs::write(&message, b"signed by cmk").unwrap();
        let rs = key.sign_digest(alg, &hash(alg, b"signed by cmk")).unwrap();
        std::fs::write(&signature, signature_to_der(&rs)).unwrap();
        let args = [
            "dgst",
            hash_option,
            "-verify",
            &public,
            "-keyform",
            "DER",
            "-signature",
            &signature,
            &message,
        ];
        assert!(openssl(&args), "OpenSSL rejected our {curve:?} signature");

        std::fs::write(&message, b"something else").unwrap();
        assert!(
            !openssl(&args),
            "OpenSSL accepted a {curve:?} signature over another message"
        );
    }
}

#[test]
fn openssl_signs_and_rust_verifies() {
    if !openssl_available() {
        return;
    }
    for curve in EcCurve::ALL {
        let (_, hash_option) = openssl_names(curve);
        let dir = tempfile::tempdir().unwrap();
        let (private, spki) = openssl_generate(dir.path(), curve);
        let (x, y) = spki_coordinates(&spki, curve);
        let public = EcPublicKey::from_components(curve, &x, &y).unwrap();
        assert_eq!(
            public.to_spki_der().unwrap(),
            spki,
            "{curve:?}: same SPKI bytes as OpenSSL"
        );

        let (message, signature) = (path(dir.path(), "message"), path(dir.path(), "sig.der"));
        std::fs::write(&message, b"signed by openssl").unwrap();
        assert!(openssl(&[
            "dgst",
            hash_option,
            "-sign",
            &private,
            "-out",
            &signature,
            &message
        ]));
        let rs = signature_from_der(&std::fs::read(&signature).unwrap(), curve);
        let alg = curve.signature_algorithm();
        assert!(
            public.verify_digest(alg, &hash(alg, b"signed by openssl"), &rs),
            "{curve:?}"
        );
        assert!(!public.verify_digest(alg, &hash(alg, b"other"), &rs), "{curve:?}");
    }
}

#[test]
fn pkcs8_keys_move_between_openssl_and_rust() {
    if !openssl_available() {
        return;
    }
    for curve in EcCurve::ALL {
        let (_, hash_option) = openssl_names(curve);
        let dir = tempfile::tempdir().unwrap();

        // OpenSSL's key, as PKCS#8, loads with its curve detected, and our signature verifies with OpenSSL's copy.
        let (private, spki) = openssl_generate(dir.path(), curve);
        let pkcs8 = path(dir.path(), "openssl.p8.der");
        assert!(openssl(&[
            "pkcs8", "-topk8", "-nocrypt", "-in", &private, "-outform", "DER", "-out", &pkcs8
        ]));
        let key = EcPrivateKey::from_pkcs8(&SecretBytes::new(std::fs::read(&pkcs8).unwrap())).unwrap();
        assert_eq!(key.curve(), curve);
        assert_eq!(key.public_key().to_spki_der().unwrap(), spki);
        let (message, signature) = (path(dir.path(), "message"), path(dir.path(), "sig.der"));
        std::fs::write(&message, b"imported from openssl").unwrap();
        let alg = curve.signature_algorithm();
        let rs = key.sign_digest(alg, &hash(alg, b"imported from openssl")).unwrap();
        std::fs::write(&signature, signature_to_der(&rs)).unwrap();
        assert!(openssl(&[
            "dgst",
            hash_option,
            "-prverify",
            &private,
            "-signature",
            &signature,
            &message
        ]));

        // Our key, as PKCS#8, passes OpenSSL's key check and has the public key we publish.
        let ours = generate(curve);
        let (ours_pkcs8, ours_public) = (path(dir.path(), "ours.p8.der"), path(dir.path(), "ours.pub.der"));
        std::fs::write(&ours_pkcs8, ours.to_pkcs8().unwrap().expose()).unwrap();
        assert!(openssl(&[
            "pkey",
            "-inform",
            "DER",
            "-in",
            &ours_pkcs8,
            "-check",
            "-noout"
        ]));
        assert!(openssl(&[
            "pkey",
            "-inform",
            "DER",
            "-in",
            &ours_pkcs8,
            "-pubout",
            "-outform",
            "DER",
            "-out",
            &ours_public
        ]));
        assert_eq!(
            std::fs::read(&ours_public).unwrap(),
            ours.public_key().to_spki_der().unwrap()
        );
    }
}

/// Single-core speed; run with `cargo test --release -p cmk-crypto -- --ignored --nocapture ec_speed`.
#[test]
#[ignore = "benchmark"]
fn ec_speed() {
    let rounds = 1000;
    let rate = |label: String, started: std::time::Instant| {
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{label}: {:.0}/s ({:.1} us each)",
            f64::from(rounds) / seconds,
            seconds * 1e6 / f64::from(rounds)
        );
    };
    for curve in EcCurve::ALL {
        let key = generate(curve);
        let alg = curve.signature_algorithm();
        let digest = hash(alg, b"benchmark");

        let started = std::time::Instant::now();
        for _ in 0..rounds {
            key.sign_digest(alg, &digest).unwrap();
        }
        rate(format!("{} sign digest", alg.as_jwa()), started);

        let signature = key.sign_digest(alg, &digest).unwrap();
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            assert!(key.public_key().verify_digest(alg, &digest, &signature));
        }
        rate(format!("{} verify digest", alg.as_jwa()), started);

        let pkcs8 = key.to_pkcs8().unwrap();
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            EcPrivateKey::from_pkcs8(&pkcs8).unwrap();
        }
        rate(format!("{} load from PKCS#8 (curve detected)", curve.as_jwk()), started);
    }
}
