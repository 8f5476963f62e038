#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use super::*;
use crate::encoding::b64url_decode;

const ENCRYPTION_ALGORITHMS: [RsaEncryptionAlgorithm; 3] = [
    RsaEncryptionAlgorithm::RsaOaep,
    RsaEncryptionAlgorithm::RsaOaep256,
    RsaEncryptionAlgorithm::Rsa1_5,
];

const SIGNATURE_ALGORITHMS: [RsaSignatureAlgorithm; 6] = [
    RsaSignatureAlgorithm::Rs256,
    RsaSignatureAlgorithm::Rs384,
    RsaSignatureAlgorithm::Rs512,
    RsaSignatureAlgorithm::Ps256,
    RsaSignatureAlgorithm::Ps384,
    RsaSignatureAlgorithm::Ps512,
];

/// Key generation is slow (4096 bits takes seconds): each size is generated once and shared by all tests.
fn key(bits: u32) -> &'static RsaPrivateKey {
    static K2048: OnceLock<RsaPrivateKey> = OnceLock::new();
    static K3072: OnceLock<RsaPrivateKey> = OnceLock::new();
    static K4096: OnceLock<RsaPrivateKey> = OnceLock::new();
    let cell = match bits {
        2048 => &K2048,
        3072 => &K3072,
        4096 => &K4096,
        _ => panic!("no shared key of {bits} bits"),
    };
    cell.get_or_init(|| RsaPrivateKey::generate(bits).unwrap())
}

/// A second 2048-bit key, for "wrong key" checks.
fn other_key() -> &'static RsaPrivateKey {
    static OTHER: OnceLock<RsaPrivateKey> = OnceLock::new();
    OTHER.get_or_init(|| RsaPrivateKey::generate(2048).unwrap())
}

fn hash(alg: RsaSignatureAlgorithm, message: &[u8]) -> Vec<u8> {
    digest::digest(alg.digest_algorithm(), message).as_ref().to_vec()
}

/// Reads one DER element: (tag, contents, rest). Enough for PKCS#8 RSA keys in tests.
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

/// The JWK components of an RSA PKCS#8 key, read with a minimal DER walker (aws-lc-rs cannot export them).
fn components_from_pkcs8(pkcs8: &[u8]) -> RsaPrivateComponents {
    let (tag, info, _) = der_element(pkcs8);
    assert_eq!(tag, 0x30);
    let (_, _, rest) = der_element(info); // version
    let (_, _, rest) = der_element(rest); // algorithm identifier
    let (tag, rsa_private_key, _) = der_element(rest);
    assert_eq!(tag, 0x04);
    let (tag, mut fields, _) = der_element(rsa_private_key);
    assert_eq!(tag, 0x30);
    let mut integers = Vec::new();
    while !fields.is_empty() {
        let (tag, value, rest) = der_element(fields);
        assert_eq!(tag, 0x02);
        integers.push(strip_leading_zeros(value).to_vec());
        fields = rest;
    }
    assert_eq!(integers.len(), 9, "two-prime RSAPrivateKey");
    RsaPrivateComponents {
        n: integers[1].clone(),
        e: integers[2].clone(),
        d: integers[3].clone(),
        p: integers[4].clone(),
        q: integers[5].clone(),
        dp: integers[6].clone(),
        dq: integers[7].clone(),
        qi: integers[8].clone(),
    }
}

fn components_of(key: &RsaPrivateKey) -> RsaPrivateComponents {
    components_from_pkcs8(key.to_pkcs8().unwrap().expose())
}

fn flip_last_bit(bytes: &mut [u8]) {
    if let Some(last) = bytes.last_mut() {
        *last ^= 1;
    }
}

#[test]
fn algorithm_names_are_the_exact_azure_names() {
    for alg in ENCRYPTION_ALGORITHMS {
        assert_eq!(RsaEncryptionAlgorithm::from_jwa(alg.as_jwa()), Some(alg));
    }
    for alg in SIGNATURE_ALGORITHMS {
        assert_eq!(RsaSignatureAlgorithm::from_jwa(alg.as_jwa()), Some(alg));
    }
    assert_eq!(RsaEncryptionAlgorithm::RsaOaep256.as_jwa(), "RSA-OAEP-256");
    assert_eq!(RsaEncryptionAlgorithm::Rsa1_5.as_jwa(), "RSA1_5");
    assert_eq!(RsaSignatureAlgorithm::Ps384.as_jwa(), "PS384");
    for unknown in ["rsa-oaep", "RSA-OAEP-384", "RSA1-5", "", "A256KW"] {
        assert_eq!(RsaEncryptionAlgorithm::from_jwa(unknown), None, "{unknown}");
    }
    for unknown in ["rs256", "RSNULL", "ES256", "HS256", ""] {
        assert_eq!(RsaSignatureAlgorithm::from_jwa(unknown), None, "{unknown}");
    }
}

#[test]
fn digest_lengths_match_the_hashes() {
    assert_eq!(RsaSignatureAlgorithm::Rs256.digest_len(), 32);
    assert_eq!(RsaSignatureAlgorithm::Ps256.digest_len(), 32);
    assert_eq!(RsaSignatureAlgorithm::Rs384.digest_len(), 48);
    assert_eq!(RsaSignatureAlgorithm::Ps384.digest_len(), 48);
    assert_eq!(RsaSignatureAlgorithm::Rs512.digest_len(), 64);
    assert_eq!(RsaSignatureAlgorithm::Ps512.digest_len(), 64);
}

#[test]
fn max_plaintext_lengths_follow_rfc8017() {
    use RsaEncryptionAlgorithm::*;
    assert_eq!(RsaOaep.max_plaintext_len(256), 214);
    assert_eq!(RsaOaep256.max_plaintext_len(256), 190);
    assert_eq!(Rsa1_5.max_plaintext_len(256), 245);
    assert_eq!(RsaOaep.max_plaintext_len(512), 470);
    assert_eq!(RsaOaep256.max_plaintext_len(512), 446);
    assert_eq!(Rsa1_5.max_plaintext_len(512), 501);
    assert_eq!(RsaOaep256.max_plaintext_len(10), 0);
}

#[test]
fn every_encryption_algorithm_round_trips_at_2048_bits() {
    let key = key(2048);
    for alg in ENCRYPTION_ALGORITHMS {
        let max = alg.max_plaintext_len(key.public_key().modulus_len());
        for plaintext in [b"".to_vec(), vec![0x5a; 32], vec![0xa5; max]] {
            let ciphertext = key.public_key().encrypt(alg, &plaintext).unwrap();
            assert_eq!(ciphertext.len(), 256, "{alg:?}");
            assert_eq!(key.decrypt(alg, &ciphertext).unwrap().expose(), plaintext, "{alg:?}");
        }
    }
}

#[test]
fn every_encryption_algorithm_round_trips_at_3072_and_4096_bits() {
    for bits in [3072, 4096] {
        let key = key(bits);
        assert_eq!(key.public_key().bits(), bits as usize);
        for alg in ENCRYPTION_ALGORITHMS {
            let plaintext = vec![7u8; alg.max_plaintext_len(key.public_key().modulus_len())];
            let ciphertext = key.public_key().encrypt(alg, &plaintext).unwrap();
            assert_eq!(ciphertext.len(), bits as usize / 8);
            assert_eq!(
                key.decrypt(alg, &ciphertext).unwrap().expose(),
                plaintext,
                "{alg:?} at {bits}"
            );
        }
    }
}

#[test]
fn encryption_is_randomized() {
    let key = key(2048);
    for alg in ENCRYPTION_ALGORITHMS {
        let first = key.public_key().encrypt(alg, b"same data key").unwrap();
        let second = key.public_key().encrypt(alg, b"same data key").unwrap();
        assert_ne!(first, second, "{alg:?}");
    }
}

#[test]
fn decryption_failures_are_one_generic_error() {
    let key = key(2048);
    let generic = CryptoError::Decryption.to_string();
    for alg in ENCRYPTION_ALGORITHMS {
        let ciphertext = key
            .public_key()
            .encrypt(alg, b"a 32-byte data encryption key!!!")
            .unwrap();

        let wrong_key = other_key().decrypt(alg, &ciphertext).unwrap_err();
        let mut tampered = ciphertext.clone();
        tampered[100] ^= 0x01;
        let tampered = key.decrypt(alg, &tampered).unwrap_err();
        let short = key.decrypt(alg, &ciphertext[1..]).unwrap_err();
        let mut long = ciphertext.clone();
        long.push(0);
        let long = key.decrypt(alg, &long).unwrap_err();
        let empty = key.decrypt(alg, &[]).unwrap_err();

        for error in [wrong_key, tampered, short, long, empty] {
            assert!(matches!(error, CryptoError::Decryption), "{alg:?}: {error:?}");
            assert_eq!(error.to_string(), generic);
        }
    }
}

#[test]
fn decrypting_with_another_algorithm_fails() {
    use RsaEncryptionAlgorithm::*;
    let key = key(2048);
    for (encrypt_with, decrypt_with) in [(RsaOaep256, RsaOaep), (RsaOaep, RsaOaep256)] {
        let ciphertext = key.public_key().encrypt(encrypt_with, b"key material").unwrap();
        assert!(matches!(
            key.decrypt(decrypt_with, &ciphertext),
            Err(CryptoError::Decryption)
        ));
    }
    // PKCS#1 v1.5 padding checks only a few bytes, so about one OAEP ciphertext in 65,536 happens to unpad: it
    // must then still not give the plaintext back.
    let ciphertext = key.public_key().encrypt(RsaOaep256, b"key material").unwrap();
    match key.decrypt(Rsa1_5, &ciphertext) {
        Err(error) => assert!(matches!(error, CryptoError::Decryption)),
        Ok(plaintext) => assert_ne!(plaintext.expose(), b"key material"),
    }
}

#[test]
fn overlong_plaintext_is_refused_and_the_error_states_the_maximum() {
    let key = key(2048);
    for (alg, max) in [
        (RsaEncryptionAlgorithm::RsaOaep, 214),
        (RsaEncryptionAlgorithm::RsaOaep256, 190),
        (RsaEncryptionAlgorithm::Rsa1_5, 245),
    ] {
        let secret = vec![0x42u8; max + 1];
        let error = key.public_key().encrypt(alg, &secret).unwrap_err();
        assert!(
            matches!(error, CryptoError::PlaintextTooLong { max: m, len, .. } if m == max && len == max + 1),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(&format!("at most {max} bytes")), "{message}");
        assert!(message.contains(alg.as_jwa()), "{message}");
    }
}

#[test]
fn every_signature_algorithm_round_trips_at_2048_bits() {
    let key = key(2048);
    for alg in SIGNATURE_ALGORITHMS {
        let digest = hash(alg, b"the message");
        let signature = key.sign_digest(alg, &digest).unwrap();
        assert_eq!(signature.len(), 256);
        assert!(key.public_key().verify_digest(alg, &digest, &signature), "{alg:?}");
        assert!(
            !key.public_key()
                .verify_digest(alg, &hash(alg, b"the messagE"), &signature),
            "{alg:?}"
        );
        assert!(
            !other_key().public_key().verify_digest(alg, &digest, &signature),
            "{alg:?}"
        );
        let mut tampered = signature.clone();
        tampered[0] ^= 0x80;
        assert!(!key.public_key().verify_digest(alg, &digest, &tampered), "{alg:?}");
        assert!(
            !key.public_key().verify_digest(alg, &digest, &signature[1..]),
            "{alg:?}"
        );
    }
}

#[test]
fn every_signature_algorithm_round_trips_at_4096_bits() {
    let key = key(4096);
    for alg in SIGNATURE_ALGORITHMS {
        let digest = hash(alg, b"the message");
        let signature = key.sign_digest(alg, &digest).unwrap();
        assert_eq!(signature.len(), 512);
        assert!(key.public_key().verify_digest(alg, &digest, &signature), "{alg:?}");
    }
}

#[test]
fn signing_the_digest_equals_signing_the_message() {
    let key = key(2048);
    let message = b"header.payload";
    let via_digest = key
        .sign_digest(
            RsaSignatureAlgorithm::Rs256,
            &hash(RsaSignatureAlgorithm::Rs256, message),
        )
        .unwrap();
    assert_eq!(
        via_digest,
        key.sign_rs256(message).unwrap(),
        "PKCS#1 v1.5 is deterministic"
    );
    assert!(key.public_key().verify_rs256(message, &via_digest));
}

#[test]
fn pss_signatures_are_randomized_and_not_interchangeable_with_pkcs1() {
    use RsaSignatureAlgorithm::*;
    let key = key(2048);
    let public = key.public_key();
    for (rs, ps) in [(Rs256, Ps256), (Rs384, Ps384), (Rs512, Ps512)] {
        let digest = hash(rs, b"message");
        let pss_1 = key.sign_digest(ps, &digest).unwrap();
        let pss_2 = key.sign_digest(ps, &digest).unwrap();
        assert_ne!(pss_1, pss_2, "PSS salts are random");
        assert!(public.verify_digest(ps, &digest, &pss_1) && public.verify_digest(ps, &digest, &pss_2));
        let pkcs1 = key.sign_digest(rs, &digest).unwrap();
        assert_eq!(
            pkcs1,
            key.sign_digest(rs, &digest).unwrap(),
            "PKCS#1 v1.5 is deterministic"
        );
        assert!(
            !public.verify_digest(ps, &digest, &pkcs1),
            "{rs:?} must not verify as {ps:?}"
        );
        assert!(
            !public.verify_digest(rs, &digest, &pss_1),
            "{ps:?} must not verify as {rs:?}"
        );
    }
}

#[test]
fn wrong_digest_length_is_refused() {
    let key = key(2048);
    for alg in SIGNATURE_ALGORITHMS {
        for len in [0, alg.digest_len() - 1, alg.digest_len() + 1, 20] {
            let error = key.sign_digest(alg, &vec![1u8; len]).unwrap_err();
            assert!(
                matches!(error, CryptoError::DigestLength { expected, len: got, .. }
                    if expected == alg.digest_len() && got == len),
                "{alg:?}: {error:?}"
            );
            assert!(error.to_string().contains(&format!("{}-byte digest", alg.digest_len())));
            assert!(!key.public_key().verify_digest(alg, &vec![1u8; len], &[0u8; 256]));
        }
    }
    // A SHA-256 digest signed as RS256 does not verify as RS512 (different length) or RS384.
    let signature = key.sign_digest(RsaSignatureAlgorithm::Rs256, &[9u8; 32]).unwrap();
    assert!(
        !key.public_key()
            .verify_digest(RsaSignatureAlgorithm::Rs384, &[9u8; 32], &signature)
    );
}

/// RFC 7515 appendix A.2: an RS256 JWS with a published private key. PKCS#1 v1.5 signatures are deterministic,
/// so importing the JWK and signing the SHA-256 of the signing input must reproduce the published signature.
#[test]
fn rfc7515_a2_rs256_known_answer() {
    let b = |text: &str| b64url_decode(text).unwrap();
    let components = RsaPrivateComponents {
        n: b(concat!(
            "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pC",
            "gNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg6",
            "65xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRW",
            "yuXpoQ",
        )),
        e: b("AQAB"),
        d: b(concat!(
            "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pW",
            "J1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2Qv",
            "Xt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRu",
            "OopznQ",
        )),
        p: b(concat!(
            "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDc",
            "mnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc",
        )),
        q: b(concat!(
            "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-",
            "TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc",
        )),
        dp: b(concat!(
            "BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV",
            "2zb34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0",
        )),
        dq: b(concat!(
            "h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_",
            "-kyNlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU",
        )),
        qi: b(concat!(
            "IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoO",
            "PLUW0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U",
        )),
    };
    let signing_input = concat!(
        "eyJhbGciOiJSUzI1NiJ9",
        ".",
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    );
    let expected = b(concat!(
        "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t",
        "1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12j",
        "zDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQ",
        "Ge77Rw",
    ));

    let key = RsaPrivateKey::from_components(&components).unwrap();
    assert_eq!(key.public_key().modulus(), components.n.as_slice());
    let digest = hash(RsaSignatureAlgorithm::Rs256, signing_input.as_bytes());
    assert_eq!(
        key.sign_digest(RsaSignatureAlgorithm::Rs256, &digest).unwrap(),
        expected
    );
    assert_eq!(key.sign_rs256(signing_input.as_bytes()).unwrap(), expected);
    assert!(
        key.public_key()
            .verify_digest(RsaSignatureAlgorithm::Rs256, &digest, &expected)
    );
    assert!(key.public_key().verify_rs256(signing_input.as_bytes(), &expected));
    // The public half alone, as a verifier gets it from a JWK, verifies the published signature too.
    let public = RsaPublicKey::from_components(components.n.clone(), components.e.clone()).unwrap();
    assert!(public.verify_digest(RsaSignatureAlgorithm::Rs256, &digest, &expected));
}

#[test]
fn imported_components_round_trip_through_pkcs8() {
    let original = key(2048);
    let components = components_of(original);
    let imported = RsaPrivateKey::from_components(&components).unwrap();
    assert_eq!(imported.public_key(), original.public_key());

    let resealed = RsaPrivateKey::from_pkcs8(&imported.to_pkcs8().unwrap()).unwrap();
    assert_eq!(resealed.public_key(), original.public_key());
    let again = components_of(&resealed);
    assert_eq!(
        (&again.d, &again.p, &again.q, &again.dp, &again.dq, &again.qi),
        (
            &components.d,
            &components.p,
            &components.q,
            &components.dp,
            &components.dq,
            &components.qi
        )
    );

    // Each copy decrypts what was encrypted to any other, and verifies the others' signatures.
    let ciphertext = original
        .public_key()
        .encrypt(RsaEncryptionAlgorithm::RsaOaep256, b"dek")
        .unwrap();
    assert_eq!(
        resealed
            .decrypt(RsaEncryptionAlgorithm::RsaOaep256, &ciphertext)
            .unwrap()
            .expose(),
        b"dek"
    );
    let digest = [3u8; 32];
    let signature = resealed.sign_digest(RsaSignatureAlgorithm::Ps256, &digest).unwrap();
    assert!(
        original
            .public_key()
            .verify_digest(RsaSignatureAlgorithm::Ps256, &digest, &signature)
    );
}

#[test]
fn components_of_3072_and_4096_bit_keys_import() {
    for bits in [3072, 4096] {
        let imported = RsaPrivateKey::from_components(&components_of(key(bits))).unwrap();
        assert_eq!(imported.public_key(), key(bits).public_key());
    }
}

#[test]
fn leading_zero_bytes_in_components_are_tolerated() {
    let mut components = components_of(key(2048));
    for field in [
        &mut components.n,
        &mut components.e,
        &mut components.d,
        &mut components.qi,
    ] {
        field.insert(0, 0);
    }
    let imported = RsaPrivateKey::from_components(&components).unwrap();
    assert_eq!(imported.public_key(), key(2048).public_key());
}

#[test]
fn inconsistent_components_are_rejected() {
    let good = components_of(key(2048));
    let other = components_of(other_key());
    let variants: Vec<(&str, RsaPrivateComponents)> = vec![
        ("d", {
            let mut c = good.clone();
            flip_last_bit(&mut c.d);
            c
        }),
        ("dp", {
            let mut c = good.clone();
            flip_last_bit(&mut c.dp);
            c
        }),
        ("dq", {
            let mut c = good.clone();
            flip_last_bit(&mut c.dq);
            c
        }),
        ("qi", {
            let mut c = good.clone();
            flip_last_bit(&mut c.qi);
            c
        }),
        ("n", {
            let mut c = good.clone();
            c.n[128] ^= 0x10;
            c
        }),
        ("p and q swapped", {
            let mut c = good.clone();
            std::mem::swap(&mut c.p, &mut c.q);
            c
        }),
        ("d of another key", {
            let mut c = good.clone();
            c.d = other.d.clone();
            c
        }),
        ("e", {
            let mut c = good.clone();
            c.e = vec![0x01, 0x00, 0x03];
            c
        }),
    ];
    for (what, components) in variants {
        let error = RsaPrivateKey::from_components(&components).unwrap_err();
        assert!(matches!(error, CryptoError::InvalidKey(_)), "wrong {what}: {error:?}");
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Components that pass every consistency check aws-lc makes (`n = p*q`, `d`, `dp`, `dq`, `qi` all derived
/// correctly) but whose `p` is the product of two 512-bit primes: the key cannot compute, and import refuses it.
#[test]
fn components_with_a_composite_prime_are_rejected() {
    let components = RsaPrivateComponents {
        n: hex(concat!(
            "b482cdb319bc9704d5b0dac1a8e2ce4e2b603e59f9bc494d1a5b1a7593416a88687cb1fc780c83f08653ec7143199844f383",
            "7dad870505eb32cca8b914d9306e623d271c938c2eb5e503fd64ba0fccd2e9e2f6c6c9c1525039a5de57fc01df99dd42e64a",
            "9495d6e066ec47e8930d91df639fbedfb113a22411e6abac321467c7a00cfff6b8a19be559d7e6352dab468eb489af5df82b",
            "c72bd9a29e273a79f71fe2783b164cbedb62fb4b40a8a7c7222681157f953e8f5dd2c26a8416593e480f23c49aeefdc47a69",
            "1bb580d9c711f0f3de25da9e976874164fd87484c1d5714c24abd869cd917e4631f15a3438a21949b5cf0ca5faf57789511c",
            "1aed32656a19",
        )),
        e: hex("010001"),
        d: hex(concat!(
            "36941c2cec79b4b1ce08c8c3e854176bd43aa7ef9d8e7c1d577c374e58855d783c1b83d761d6eae7c53dc7ce612af27adaa4",
            "25d25b723ddd6501337cae9c92c3b5696713815b4fde488e01c63c69bd950209d172be9af8cfeff6427998e55a1dd4243fac",
            "4a2bda0a04a4a9835d3f2b9d7f2a54549f5e5fd6872117441bea468c37abc961b9a77599385ae2717e584987cc58ee2ada5e",
            "079c53659f85033b225071663a672067ee9c635a6d3569df6bc0feb29d27bd6806e2e665718964db68f7543d80b1af0d4a1b",
            "6063a9c2a4b88f87e4b9dc48730044e45d575684e7112156d2a4452c2f3df8f944adf856247eb5a6c401e7be421d98128d55",
            "ca4d48b72bef",
        )),
        p: hex(concat!(
            "e0f66ff57855b33eb2ac38d5117119997f6fbaa34146d593cefaa09f06e990734a8853bca76b0dde2dc05adc76ce21bd466e",
            "429895e68fc77e857e643878713f9d49ac3c35370ed464a87498e8c5821eb6e2f7a0a591fd9f377846fe163028195826e36a",
            "ab322ed70e0a951d10211ef28c19eea5d91ede0c37446a52681ca8b3",
        )),
        q: hex(concat!(
            "cd6a5b0ae515b0b07243e59845cdd2f6342b12ddbb3e3dcb0895560d70ad254a0b12157e2f0839b3284a0e3454edcae6a137",
            "9ca96d1c87f559c329754ca7c3fa5491b2654c25c48208b1763d066f91e209741532c7cbc10f0f7dbb75a2ac40262efe9e8c",
            "6b655c31f7482fced1c77ecebf4be4c92b5aebfd195243e87e0ad003",
        )),
        dp: hex(concat!(
            "8409002341b28316bc858a81bbcff6e779bd58fcb2b6616a7463f35c031198dfa2122b9ba1639aeb194d39c705cfec4b8c07",
            "f0fc5f96c8329d96ba5d162bd2c4348be6141c63a9478da0b5767dc056a3b251ba6746664e4661a72d7bba081fb0e86542ba",
            "fba9e386034ec0c023145d769c3628349d1f99d1efaa2f0118ec2133",
        )),
        dq: hex(concat!(
            "a1e5f26daad2a698dae6629dda5e77a82ec3c831d47320f6d6040577c057e72ced7eca4bd2bbd3e63d99e88a1c69f2e2452c",
            "74a0206c3d48060048bbb7b7fe415dc81b67b5558b04c5df4086a67ce6e8d5749584996e20f242ce61223d1d2fce2879ebf2",
            "566ee3f449a6ae6f7e6d92a756a475648c7433cd1ed8f4c6d818a38b",
        )),
        qi: hex(concat!(
            "4a646d34eda0ad716ce2d64f346c3d377e2f11879e55ecbebd8e4d235102fd154de3479ece273af0b739c15afcfeef8a34c7",
            "5b442b71321814bf6be78d24fa0bfaca98ac6f3a0de224138bbacb2421ba7546ee94dbc630f7981c86e0336027c322873414",
            "3dcb1e570d147e5d9d584cf4e76c2b98b298100ed3fdb57a377e245a",
        )),
    };
    let error = RsaPrivateKey::from_components(&components).unwrap_err();
    assert!(matches!(error, CryptoError::InvalidKey(_)), "{error:?}");
}

#[test]
fn unsupported_exponents_and_sizes_are_rejected_with_clear_messages() {
    let good = components_of(key(2048));
    for e in [vec![], vec![0], vec![1], vec![2], vec![1, 0, 0]] {
        let mut c = good.clone();
        c.e = e.clone();
        let message = RsaPrivateKey::from_components(&c).unwrap_err().to_string();
        assert!(message.contains("exponent"), "e = {e:?}: {message}");
    }
    let mut short = good.clone();
    short.n.truncate(128);
    let message = RsaPrivateKey::from_components(&short).unwrap_err().to_string();
    assert!(message.contains("2048, 3072 or 4096"), "{message}");
    assert!(RsaPrivateKey::generate(1024).is_err());
    assert!(RsaPrivateKey::generate(8192).is_err());
}

#[test]
fn debug_output_carries_no_key_material() {
    let components = components_of(key(2048));
    let debug = format!("{components:?}");
    assert_eq!(debug, "RsaPrivateComponents { bits: 2048, .. }");
    assert_eq!(format!("{:?}", key(2048)), "RsaPrivateKey { bits: 2048, .. }");
    assert_eq!(format!("{:?}", key(2048).public_key()), "RsaPublicKey { bits: 2048 }");
    let ciphertext = key(2048)
        .public_key()
        .encrypt(RsaEncryptionAlgorithm::RsaOaep256, b"topsecret")
        .unwrap();
    let plaintext = key(2048)
        .decrypt(RsaEncryptionAlgorithm::RsaOaep256, &ciphertext)
        .unwrap();
    assert!(!format!("{plaintext:?}").contains("topsecret"));
}

#[test]
fn sign_rs256_and_pkcs8_round_trip() {
    let key = key(2048);
    assert_eq!(key.public_key().bits(), 2048);
    let signature = key.sign_rs256(b"message").unwrap();
    assert!(key.public_key().verify_rs256(b"message", &signature));
    assert!(!key.public_key().verify_rs256(b"messagE", &signature));
    let reloaded = RsaPrivateKey::from_pkcs8(&key.to_pkcs8().unwrap()).unwrap();
    assert_eq!(reloaded.public_key(), key.public_key());
    assert!(RsaPrivateKey::from_pkcs8(&SecretBytes::new(b"not a key".to_vec())).is_err());
}

#[test]
fn one_key_serves_many_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<RsaPrivateKey>();
    assert_send_sync::<RsaPublicKey>();

    let key = key(2048);
    let handles: Vec<_> = (0u8..4)
        .map(|thread| {
            let key = key.clone();
            std::thread::spawn(move || {
                for round in 0u8..25 {
                    let plaintext = [thread, round];
                    let ciphertext = key
                        .public_key()
                        .encrypt(RsaEncryptionAlgorithm::RsaOaep256, &plaintext)
                        .unwrap();
                    let decrypted = key.decrypt(RsaEncryptionAlgorithm::RsaOaep256, &ciphertext).unwrap();
                    assert_eq!(decrypted.expose(), plaintext);
                    let signature = key.sign_digest(RsaSignatureAlgorithm::Ps256, &[round; 32]).unwrap();
                    assert!(
                        key.public_key()
                            .verify_digest(RsaSignatureAlgorithm::Ps256, &[round; 32], &signature)
                    );
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
}

#[test]
fn thumbprint_matches_rfc7638_example() {
    // The example key of RFC 7638 section 3.1.
    let n = b64url_decode(
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    )
    .unwrap();
    let key = RsaPublicKey::from_components(n, vec![1, 0, 1]).unwrap();
    assert_eq!(key.jwk_thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
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

/// Writes the key pair as DER files OpenSSL reads: PKCS#8 private key and SubjectPublicKeyInfo public key.
fn write_keys(dir: &Path, key: &RsaPrivateKey) -> (String, String) {
    let private = path(dir, "key.p8.der");
    let public = path(dir, "pub.spki.der");
    std::fs::write(&private, key.to_pkcs8().unwrap().expose()).unwrap();
    std::fs::write(&public, key.public_key().to_spki_der().unwrap()).unwrap();
    (private, public)
}

/// Generates a key with OpenSSL and returns the path of its PKCS#8 DER (OpenSSL 3.0 writes traditional DER
/// from `genpkey -outform DER`, so it is converted explicitly).
fn openssl_generate(dir: &Path, name: &str, options: &[&str]) -> String {
    let pem = path(dir, &format!("{name}.pem"));
    let pkcs8 = path(dir, &format!("{name}.p8.der"));
    let mut args = vec!["genpkey", "-algorithm", "RSA", "-out", &pem];
    args.extend(options);
    assert!(openssl(&args));
    assert!(openssl(&[
        "pkcs8", "-topk8", "-nocrypt", "-in", &pem, "-outform", "DER", "-out", &pkcs8
    ]));
    pkcs8
}

fn openssl_encryption_options(alg: RsaEncryptionAlgorithm) -> Vec<&'static str> {
    match alg {
        RsaEncryptionAlgorithm::RsaOaep => vec!["-pkeyopt", "rsa_padding_mode:oaep"],
        RsaEncryptionAlgorithm::RsaOaep256 => vec![
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
        RsaEncryptionAlgorithm::Rsa1_5 => vec!["-pkeyopt", "rsa_padding_mode:pkcs1"],
    }
}

fn openssl_signature_options(alg: RsaSignatureAlgorithm) -> Vec<&'static str> {
    use RsaSignatureAlgorithm::*;
    let digest = match alg {
        Rs256 | Ps256 => "digest:sha256",
        Rs384 | Ps384 => "digest:sha384",
        Rs512 | Ps512 => "digest:sha512",
    };
    let mut options = vec!["-pkeyopt", digest];
    if matches!(alg, Ps256 | Ps384 | Ps512) {
        // `digest` = salt as long as the hash, checked exactly on verify.
        options.extend(["-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:digest"]);
    }
    options
}

#[test]
fn openssl_encrypts_and_rust_decrypts() {
    if !openssl_available() {
        return;
    }
    for bits in [2048, 3072] {
        let dir = tempfile::tempdir().unwrap();
        let (_, public) = write_keys(dir.path(), key(bits));
        for alg in ENCRYPTION_ALGORITHMS {
            let plaintext = format!("data key for {} at {bits}", alg.as_jwa()).into_bytes();
            let (input, output) = (path(dir.path(), "plain"), path(dir.path(), "cipher"));
            std::fs::write(&input, &plaintext).unwrap();
            let mut args = vec!["pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", &public];
            args.extend(["-in", &input, "-out", &output]);
            args.extend(openssl_encryption_options(alg));
            assert!(openssl(&args), "{alg:?}");
            let ciphertext = std::fs::read(&output).unwrap();
            assert_eq!(
                key(bits).decrypt(alg, &ciphertext).unwrap().expose(),
                plaintext,
                "{alg:?} at {bits}"
            );
        }
    }
}

#[test]
fn rust_encrypts_and_openssl_decrypts() {
    if !openssl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = write_keys(dir.path(), key(2048));
    for alg in ENCRYPTION_ALGORITHMS {
        let plaintext = format!("wrapped by cmk with {}", alg.as_jwa()).into_bytes();
        let (input, output) = (path(dir.path(), "cipher"), path(dir.path(), "plain"));
        std::fs::write(&input, key(2048).public_key().encrypt(alg, &plaintext).unwrap()).unwrap();
        let mut args = vec!["pkeyutl", "-decrypt", "-keyform", "DER", "-inkey", &private];
        args.extend(["-in", &input, "-out", &output]);
        args.extend(openssl_encryption_options(alg));
        assert!(openssl(&args), "{alg:?}");
        assert_eq!(std::fs::read(&output).unwrap(), plaintext, "{alg:?}");
    }
}

#[test]
fn rust_signs_digests_and_openssl_verifies() {
    if !openssl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = write_keys(dir.path(), key(2048));
    for alg in SIGNATURE_ALGORITHMS {
        let digest = hash(alg, b"signed by cmk");
        let (digest_file, signature_file) = (path(dir.path(), "digest"), path(dir.path(), "sig"));
        std::fs::write(&digest_file, &digest).unwrap();
        std::fs::write(&signature_file, key(2048).sign_digest(alg, &digest).unwrap()).unwrap();
        let mut args = vec!["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", &public];
        args.extend(["-in", &digest_file, "-sigfile", &signature_file]);
        args.extend(openssl_signature_options(alg));
        assert!(openssl(&args), "OpenSSL rejected our {alg:?} signature");

        // And OpenSSL rejects a signature over another digest.
        std::fs::write(&digest_file, hash(alg, b"something else")).unwrap();
        assert!(
            !openssl(&args),
            "OpenSSL accepted a {alg:?} signature over the wrong digest"
        );
    }
}

#[test]
fn openssl_signs_digests_and_rust_verifies() {
    if !openssl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = write_keys(dir.path(), key(3072));
    for alg in SIGNATURE_ALGORITHMS {
        let digest = hash(alg, b"signed by openssl");
        let (digest_file, signature_file) = (path(dir.path(), "digest"), path(dir.path(), "sig"));
        std::fs::write(&digest_file, &digest).unwrap();
        let mut args = vec!["pkeyutl", "-sign", "-keyform", "DER", "-inkey", &private];
        args.extend(["-in", &digest_file, "-out", &signature_file]);
        args.extend(openssl_signature_options(alg));
        assert!(openssl(&args), "{alg:?}");
        let signature = std::fs::read(&signature_file).unwrap();
        assert!(
            key(3072).public_key().verify_digest(alg, &digest, &signature),
            "{alg:?}"
        );
        assert!(
            !key(3072)
                .public_key()
                .verify_digest(alg, &hash(alg, b"other"), &signature),
            "{alg:?}"
        );
    }
}

/// Azure imports keys with exponents other than 65537; OpenSSL can make one with e = 3 to prove it.
#[test]
fn openssl_key_with_exponent_3_imports_and_interoperates() {
    if !openssl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let generated = openssl_generate(
        dir.path(),
        "e3",
        &["-pkeyopt", "rsa_keygen_bits:2048", "-pkeyopt", "rsa_keygen_pubexp:3"],
    );
    let components = components_from_pkcs8(&std::fs::read(&generated).unwrap());
    assert_eq!(components.e, [3]);
    let key = RsaPrivateKey::from_components(&components).unwrap();
    assert_eq!(key.public_key().exponent(), [3]);
    let reloaded = RsaPrivateKey::from_pkcs8(&key.to_pkcs8().unwrap()).unwrap();
    assert_eq!(reloaded.public_key(), key.public_key());

    // OpenSSL, holding its own copy of the key, verifies our signature and decrypts our ciphertext.
    let alg = RsaSignatureAlgorithm::Ps256;
    let digest = hash(alg, b"imported");
    let (digest_file, signature_file) = (path(dir.path(), "digest"), path(dir.path(), "sig"));
    std::fs::write(&digest_file, &digest).unwrap();
    std::fs::write(&signature_file, key.sign_digest(alg, &digest).unwrap()).unwrap();
    let mut args = vec!["pkeyutl", "-verify", "-keyform", "DER", "-inkey", &generated];
    args.extend(["-in", &digest_file, "-sigfile", &signature_file]);
    args.extend(openssl_signature_options(alg));
    assert!(openssl(&args));

    let (cipher_file, plain_file) = (path(dir.path(), "cipher"), path(dir.path(), "plain"));
    let ciphertext = key
        .public_key()
        .encrypt(RsaEncryptionAlgorithm::RsaOaep256, b"e=3 works")
        .unwrap();
    std::fs::write(&cipher_file, ciphertext).unwrap();
    let mut args = vec!["pkeyutl", "-decrypt", "-keyform", "DER", "-inkey", &generated];
    args.extend(["-in", &cipher_file, "-out", &plain_file]);
    args.extend(openssl_encryption_options(RsaEncryptionAlgorithm::RsaOaep256));
    assert!(openssl(&args));
    assert_eq!(std::fs::read(&plain_file).unwrap(), b"e=3 works");
}

#[test]
fn openssl_1024_bit_key_is_refused_on_import() {
    if !openssl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let generated = openssl_generate(dir.path(), "small", &["-pkeyopt", "rsa_keygen_bits:1024"]);
    let der = std::fs::read(&generated).unwrap();
    let message = RsaPrivateKey::from_components(&components_from_pkcs8(&der))
        .unwrap_err()
        .to_string();
    assert!(message.contains("2048, 3072 or 4096"), "{message}");
    assert!(RsaPrivateKey::from_pkcs8(&SecretBytes::new(der)).is_err());
}

/// Single-core speed; run with `cargo test --release -p cmk-crypto -- --ignored --nocapture rsa_speed`.
#[test]
#[ignore = "benchmark"]
fn rsa_speed() {
    let key = key(2048);
    let rounds = 1000;
    let rate = |label: &str, started: Instant| {
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{label}: {:.0}/s ({:.1} us each)",
            f64::from(rounds) / seconds,
            seconds * 1e6 / f64::from(rounds)
        );
    };

    let ciphertext = key
        .public_key()
        .encrypt(RsaEncryptionAlgorithm::RsaOaep256, &[7u8; 32])
        .unwrap();
    let started = Instant::now();
    for _ in 0..rounds {
        key.decrypt(RsaEncryptionAlgorithm::RsaOaep256, &ciphertext).unwrap();
    }
    rate("RSA-2048 OAEP-256 decrypt", started);

    let started = Instant::now();
    for _ in 0..rounds {
        key.public_key()
            .encrypt(RsaEncryptionAlgorithm::RsaOaep256, &[7u8; 32])
            .unwrap();
    }
    rate("RSA-2048 OAEP-256 encrypt", started);

    let started = Instant::now();
    for _ in 0..rounds {
        key.sign_digest(RsaSignatureAlgorithm::Ps256, &[1u8; 32]).unwrap();
    }
    rate("RSA-2048 PS256 sign digest", started);

    let signature = key.sign_digest(RsaSignatureAlgorithm::Rs256, &[1u8; 32]).unwrap();
    let started = Instant::now();
    for _ in 0..rounds {
        assert!(
            key.public_key()
                .verify_digest(RsaSignatureAlgorithm::Rs256, &[1u8; 32], &signature)
        );
    }
    rate("RSA-2048 RS256 verify digest", started);

    let pkcs8 = key.to_pkcs8().unwrap();
    let started = Instant::now();
    for _ in 0..rounds {
        RsaPrivateKey::from_pkcs8(&pkcs8).unwrap();
    }
    rate("RSA-2048 load from PKCS#8 (both parses)", started);
}
