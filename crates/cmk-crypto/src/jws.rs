//! Compact JWS (RFC 7515) with RS256, the form of every access token cmk issues and accepts.
//!
//! Parsing and verification are separate steps on purpose: the caller reads the (untrusted) header to find
//! the key id, looks the key up, and only then gets the payload through [`UnverifiedJws::verify_rs256`].
//! Only `RS256` is accepted; `none`, HMAC and everything else are refused before any key is consulted.

use serde::{Deserialize, Serialize};

use crate::CryptoError;
use crate::encoding::{b64url_decode, b64url_encode};
use crate::rsa::{RsaPrivateKey, RsaPublicKey};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("unsupported token algorithm '{0}'")]
    UnsupportedAlgorithm(String),
    #[error("token signature is invalid")]
    BadSignature,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JwsHeader {
    pub alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Critical extensions we do not understand make a token invalid (RFC 7515 section 4.1.11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crit: Option<serde_json::Value>,
}

/// Signs `claims` as a compact RS256 JWS with the given key id.
pub fn sign_rs256<C: Serialize>(key: &RsaPrivateKey, kid: &str, claims: &C) -> Result<String, CryptoError> {
    let header = JwsHeader {
        alg: "RS256".into(),
        typ: Some("JWT".into()),
        kid: Some(kid.into()),
        crit: None,
    };
    let header = serde_json::to_vec(&header).map_err(|_| CryptoError::Signing)?;
    let payload = serde_json::to_vec(claims).map_err(|_| CryptoError::Signing)?;
    let signing_input = format!("{}.{}", b64url_encode(header), b64url_encode(payload));
    let signature = key.sign_rs256(signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", b64url_encode(signature)))
}

/// A parsed token whose signature has not been checked yet.
#[derive(Debug)]
pub struct UnverifiedJws<'a> {
    header: JwsHeader,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl<'a> UnverifiedJws<'a> {
    pub fn parse(token: &'a str) -> Result<Self, JwsError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwsError::Malformed("token is too long"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::Malformed("a JWT has exactly three dot-separated parts"));
        };
        let header_bytes = b64url_decode(header).map_err(|_| JwsError::Malformed("header is not base64url"))?;
        let header: JwsHeader = serde_json::from_slice(&header_bytes)
            .map_err(|_| JwsError::Malformed("header is not a JSON object with 'alg'"))?;
        if header.alg != "RS256" {
            return Err(JwsError::UnsupportedAlgorithm(header.alg));
        }
        if header.crit.is_some() {
            return Err(JwsError::Malformed("critical header extensions are not supported"));
        }
        let payload_b64 = payload;
        let payload = b64url_decode(payload_b64).map_err(|_| JwsError::Malformed("payload is not base64url"))?;
        let signature = b64url_decode(signature).map_err(|_| JwsError::Malformed("signature is not base64url"))?;
        if signature.is_empty() {
            return Err(JwsError::Malformed("signature is empty"));
        }
        let signing_input_len = token.len() - token.rsplit('.').next().map_or(0, str::len) - 1;
        Ok(Self {
            header,
            signing_input: &token[..signing_input_len],
            payload,
            signature,
        })
    }

    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// Checks the signature and hands out the payload only if it holds.
    pub fn verify_rs256(self, key: &RsaPublicKey) -> Result<Vec<u8>, JwsError> {
        if key.verify_rs256(self.signing_input.as_bytes(), &self.signature) {
            Ok(self.payload)
        } else {
            Err(JwsError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sign_parse_verify() {
        let key = RsaPrivateKey::generate(2048).unwrap();
        let token = sign_rs256(&key, "k1", &serde_json::json!({"aud": "x"})).unwrap();
        let parsed = UnverifiedJws::parse(&token).unwrap();
        assert_eq!(parsed.header().kid.as_deref(), Some("k1"));
        let payload = parsed.verify_rs256(key.public_key()).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&payload).unwrap()["aud"],
            "x"
        );

        let other = RsaPrivateKey::generate(2048).unwrap();
        assert_eq!(
            UnverifiedJws::parse(&token).unwrap().verify_rs256(other.public_key()),
            Err(JwsError::BadSignature)
        );
    }

    #[test]
    fn refuses_alg_none_and_garbage() {
        let none = format!("{}.{}.", b64url_encode(r#"{"alg":"none"}"#), b64url_encode("{}"));
        assert!(matches!(UnverifiedJws::parse(&none), Err(JwsError::UnsupportedAlgorithm(a)) if a == "none"));
        let hs = format!("{}.{}.AAAA", b64url_encode(r#"{"alg":"HS256"}"#), b64url_encode("{}"));
        assert!(matches!(
            UnverifiedJws::parse(&hs),
            Err(JwsError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(UnverifiedJws::parse("a.b"), Err(JwsError::Malformed(_))));
        assert!(matches!(UnverifiedJws::parse("a.b.c.d"), Err(JwsError::Malformed(_))));
        assert!(matches!(UnverifiedJws::parse("!!.b.c"), Err(JwsError::Malformed(_))));
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(UnverifiedJws::parse(&long), Err(JwsError::Malformed(_))));
    }

    #[test]
    fn tampered_payload_fails_verification() {
        let key = RsaPrivateKey::generate(2048).unwrap();
        let token = sign_rs256(&key, "k1", &serde_json::json!({"oid": "a"})).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], b64url_encode(r#"{"oid":"b"}"#), parts[2]);
        assert_eq!(
            UnverifiedJws::parse(&forged).unwrap().verify_rs256(key.public_key()),
            Err(JwsError::BadSignature)
        );
    }
}
