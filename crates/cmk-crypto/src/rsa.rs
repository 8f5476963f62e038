//! RSA key pairs and public keys.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, KeyPair as _};

use crate::CryptoError;
use crate::encoding::b64url_encode;
use crate::secret::SecretBytes;

/// An RSA private key. Never printed, never serialized except as sealed PKCS#8.
pub struct RsaPrivateKey {
    pair: KeyPair,
    public: RsaPublicKey,
}

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPrivateKey")
            .field("bits", &self.public.bits())
            .finish_non_exhaustive()
    }
}

impl RsaPrivateKey {
    pub fn generate(bits: u32) -> Result<Self, CryptoError> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => return Err(CryptoError::InvalidKey("RSA key size must be 2048, 3072 or 4096")),
        };
        Self::from_pair(KeyPair::generate(size).map_err(|_| CryptoError::KeyGeneration)?)
    }

    pub fn from_pkcs8(pkcs8: &SecretBytes) -> Result<Self, CryptoError> {
        let pair = KeyPair::from_pkcs8(pkcs8.expose()).map_err(|_| CryptoError::InvalidKey("not an RSA PKCS#8 key"))?;
        Self::from_pair(pair)
    }

    fn from_pair(pair: KeyPair) -> Result<Self, CryptoError> {
        let public_key = pair.public_key();
        let public = RsaPublicKey::from_components(
            public_key.modulus().big_endian_without_leading_zero().to_vec(),
            public_key.exponent().big_endian_without_leading_zero().to_vec(),
        )?;
        Ok(Self { pair, public })
    }

    pub fn to_pkcs8(&self) -> Result<SecretBytes, CryptoError> {
        let der = self
            .pair
            .as_der()
            .map_err(|_| CryptoError::InvalidKey("PKCS#8 export"))?;
        Ok(SecretBytes::new(der.as_ref().to_vec()))
    }

    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message` (JWS `RS256`).
    pub fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.pair
            .sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut signature)
            .map_err(|_| CryptoError::Signing)?;
        Ok(signature)
    }
}

/// An RSA public key as its JWK components: big-endian `n` and `e` without leading zeros.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPublicKey").field("bits", &self.bits()).finish()
    }
}

impl RsaPublicKey {
    pub fn from_components(n: Vec<u8>, e: Vec<u8>) -> Result<Self, CryptoError> {
        if n.first().is_none_or(|b| *b == 0) || e.first().is_none_or(|b| *b == 0) {
            return Err(CryptoError::InvalidKey(
                "RSA components must be non-empty, without leading zeros",
            ));
        }
        Ok(Self { n, e })
    }

    pub fn modulus(&self) -> &[u8] {
        &self.n
    }

    pub fn exponent(&self) -> &[u8] {
        &self.e
    }

    pub fn bits(&self) -> usize {
        let leading = self.n.first().map_or(0, |b| b.leading_zeros() as usize);
        self.n.len() * 8 - leading
    }

    /// Verifies an RS256 signature. Keys below 2048 bits are refused by aws-lc-rs.
    pub fn verify_rs256(&self, message: &[u8], signature: &[u8]) -> bool {
        PublicKeyComponents {
            n: self.n.as_slice(),
            e: self.e.as_slice(),
        }
        .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, signature)
        .is_ok()
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url), a stable key id.
    pub fn jwk_thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            b64url_encode(&self.e),
            b64url_encode(&self.n)
        );
        b64url_encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            canonical.as_bytes(),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sign_verify_and_pkcs8_round_trip() {
        let key = RsaPrivateKey::generate(2048).unwrap();
        assert_eq!(key.public_key().bits(), 2048);
        let signature = key.sign_rs256(b"message").unwrap();
        assert!(key.public_key().verify_rs256(b"message", &signature));
        assert!(!key.public_key().verify_rs256(b"messagE", &signature));
        let reloaded = RsaPrivateKey::from_pkcs8(&key.to_pkcs8().unwrap()).unwrap();
        assert_eq!(reloaded.public_key(), key.public_key());
        assert!(RsaPrivateKey::generate(1024).is_err());
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // The example key of RFC 7638 section 3.1.
        let n = crate::encoding::b64url_decode(
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        )
        .unwrap();
        let key = RsaPublicKey::from_components(n, vec![1, 0, 1]).unwrap();
        assert_eq!(key.jwk_thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }
}
