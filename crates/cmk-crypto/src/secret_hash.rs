//! Salted hashes of client secrets.
//!
//! cmk generates every client secret itself from 256 random bits, so a password-stretching function buys
//! nothing: no dictionary can guess such a secret. HMAC-SHA-256 keyed with a per-secret random salt is enough,
//! and keeps token issuance cheap. Comparison is constant-time.

use aws_lc_rs::{constant_time, hmac};
use serde::{Deserialize, Serialize};

use crate::CryptoError;
use crate::encoding::{b64url_decode, b64url_encode};
use crate::random::random_array;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretHash {
    /// base64url salt.
    salt: String,
    /// base64url HMAC-SHA-256(salt, secret).
    hash: String,
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash([redacted])")
    }
}

fn mac(salt: &[u8], secret: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, salt);
    hmac::sign(&key, secret).as_ref().to_vec()
}

impl SecretHash {
    pub fn new(secret: &str) -> Result<Self, CryptoError> {
        let salt = random_array::<16>()?;
        Ok(Self {
            salt: b64url_encode(salt),
            hash: b64url_encode(mac(&salt, secret.as_bytes())),
        })
    }

    pub fn matches(&self, secret: &str) -> bool {
        let (Ok(salt), Ok(expected)) = (b64url_decode(&self.salt), b64url_decode(&self.hash)) else {
            return false;
        };
        constant_time::verify_slices_are_equal(&mac(&salt, secret.as_bytes()), &expected).is_ok()
    }
}

/// Compares two secrets in constant time (for their common length; lengths are not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn matches_only_the_secret() {
        let hash = SecretHash::new("s3cret").unwrap();
        assert!(hash.matches("s3cret"));
        assert!(!hash.matches("s3cret "));
        assert!(!hash.matches(""));
        let json = serde_json::to_string(&hash).unwrap();
        assert!(!json.contains("s3cret"));
        assert_ne!(SecretHash::new("s3cret").unwrap(), hash, "salts differ");
    }
}
