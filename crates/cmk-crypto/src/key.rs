//! Keys of any mechanism behind one type each, so the vault stores, loads, signs and verifies without asking
//! which kind of key it holds: [`PrivateKey`], [`PublicKey`], and [`SignatureAlgorithm`] for the JWA names of
//! every mechanism.
//!
//! Each mechanism is a module of its own ([`crate::rsa`], [`crate::ec`]) and one variant in each enum here. Every
//! method is a single `match` with one arm per variant, so adding a mechanism makes the compiler list each place
//! that must answer for it. Operations a mechanism lacks (RSA decrypt has no EC counterpart) stay on its own type,
//! reached through [`PrivateKey::as_rsa`] and [`PrivateKey::as_ec`].
//!
//! A symmetric `oct` key fits this shape except in two places: it has no public half and no PKCS#8 form, so
//! [`PrivateKey::public_key`] and [`PrivateKey::to_pkcs8`], which assume a key pair, will have to change with it
//! (to an `Option` and to a sealed form of its own).
//!
//! An algorithm of one mechanism used with a key of another fails as [`CryptoError::AlgorithmNotForKey`] when
//! signing and verifies as `false`, exactly as a mismatched curve does within EC.

use crate::CryptoError;
use crate::ec::{EcPrivateKey, EcPublicKey, EcSignatureAlgorithm};
use crate::rsa::{RsaPrivateKey, RsaPublicKey, RsaSignatureAlgorithm};
use crate::secret::SecretBytes;

/// What every RSA key signs with, for error messages.
const RSA_SIGNATURE_ALGORITHMS: &str = "RS256, RS384, RS512, PS256, PS384 or PS512";

/// The mechanism of a key, as the JWK `kty` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Rsa,
    Ec,
}

impl KeyKind {
    /// The JWK `kty` of a software-protected key (`RSA`, `EC`); Key Vault adds `-HSM` for HSM-protected ones,
    /// which is the vault's business, not the key's.
    pub fn as_kty(self) -> &'static str {
        match self {
            Self::Rsa => "RSA",
            Self::Ec => "EC",
        }
    }
}

/// A private key of any mechanism. Cheap to clone (each variant shares its parsed key); `Debug` shows only the
/// kind and the size or curve.
#[derive(Debug, Clone)]
pub enum PrivateKey {
    Rsa(RsaPrivateKey),
    Ec(EcPrivateKey),
}

impl From<RsaPrivateKey> for PrivateKey {
    fn from(key: RsaPrivateKey) -> Self {
        Self::Rsa(key)
    }
}

impl From<EcPrivateKey> for PrivateKey {
    fn from(key: EcPrivateKey) -> Self {
        Self::Ec(key)
    }
}

impl PrivateKey {
    /// Loads a key from unencrypted PKCS#8 DER, RSA or EC, whichever the document holds.
    pub fn from_pkcs8(pkcs8: &SecretBytes) -> Result<Self, CryptoError> {
        // aws-lc parses and checks the whole key before it looks at the key type, so a miss costs a full parse:
        // RSA first, as the vault holds more of them and an RSA miss on an EC key is the cheaper one.
        RsaPrivateKey::from_pkcs8(pkcs8)
            .map(Self::Rsa)
            .or_else(|_| EcPrivateKey::from_pkcs8(pkcs8).map(Self::Ec))
            .map_err(|_| CryptoError::InvalidKey("not a supported RSA or EC PKCS#8 key"))
    }

    pub fn to_pkcs8(&self) -> Result<SecretBytes, CryptoError> {
        match self {
            Self::Rsa(key) => key.to_pkcs8(),
            Self::Ec(key) => key.to_pkcs8(),
        }
    }

    pub fn kind(&self) -> KeyKind {
        match self {
            Self::Rsa(_) => KeyKind::Rsa,
            Self::Ec(_) => KeyKind::Ec,
        }
    }

    /// A short description for messages and logs, e.g. `RSA 2048` or `EC P-256`; never key material.
    pub fn describe(&self) -> String {
        self.public_key().describe()
    }

    /// The public half. Cheap: it is parsed already and shared.
    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::Rsa(key) => PublicKey::Rsa(key.public_key().clone()),
            Self::Ec(key) => PublicKey::Ec(key.public_key().clone()),
        }
    }

    pub fn as_rsa(&self) -> Option<&RsaPrivateKey> {
        match self {
            Self::Rsa(key) => Some(key),
            Self::Ec(_) => None,
        }
    }

    pub fn as_ec(&self) -> Option<&EcPrivateKey> {
        match self {
            Self::Ec(key) => Some(key),
            Self::Rsa(_) => None,
        }
    }

    /// Signs a precomputed digest (Key Vault sign). An algorithm that does not fit the key is
    /// [`CryptoError::AlgorithmNotForKey`]; a digest of the wrong length is [`CryptoError::DigestLength`].
    pub fn sign_digest(&self, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match (self, alg) {
            (Self::Rsa(key), SignatureAlgorithm::Rsa(alg)) => key.sign_digest(alg, digest),
            (Self::Ec(key), SignatureAlgorithm::Ec(alg)) => key.sign_digest(alg, digest),
            (Self::Rsa(_), alg) | (Self::Ec(_), alg) => Err(alg.not_for(&self.public_key())),
        }
    }
}

/// A public key of any mechanism, as its JWK publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa(RsaPublicKey),
    Ec(EcPublicKey),
}

impl From<RsaPublicKey> for PublicKey {
    fn from(key: RsaPublicKey) -> Self {
        Self::Rsa(key)
    }
}

impl From<EcPublicKey> for PublicKey {
    fn from(key: EcPublicKey) -> Self {
        Self::Ec(key)
    }
}

impl PublicKey {
    pub fn kind(&self) -> KeyKind {
        match self {
            Self::Rsa(_) => KeyKind::Rsa,
            Self::Ec(_) => KeyKind::Ec,
        }
    }

    /// A short description for messages and logs, e.g. `RSA 2048` or `EC P-256`.
    pub fn describe(&self) -> String {
        match self {
            Self::Rsa(key) => format!("RSA {}", key.bits()),
            Self::Ec(key) => format!("EC {}", key.curve().as_jwk()),
        }
    }

    /// Verifies a signature over a precomputed digest (Key Vault verify). An algorithm that does not fit the key
    /// verifies as `false`, like every other mismatch.
    pub fn verify_digest(&self, alg: SignatureAlgorithm, digest: &[u8], signature: &[u8]) -> bool {
        match (self, alg) {
            (Self::Rsa(key), SignatureAlgorithm::Rsa(alg)) => key.verify_digest(alg, digest, signature),
            (Self::Ec(key), SignatureAlgorithm::Ec(alg)) => key.verify_digest(alg, digest, signature),
            (Self::Rsa(_), _) | (Self::Ec(_), _) => false,
        }
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url), a stable key id.
    pub fn jwk_thumbprint(&self) -> String {
        match self {
            Self::Rsa(key) => key.jwk_thumbprint(),
            Self::Ec(key) => key.jwk_thumbprint(),
        }
    }

    /// The X.509 SubjectPublicKeyInfo DER.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        match self {
            Self::Rsa(key) => key.to_spki_der(),
            Self::Ec(key) => key.to_spki_der(),
        }
    }
}

/// A signature algorithm of any mechanism, by its JWA name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    Rsa(RsaSignatureAlgorithm),
    Ec(EcSignatureAlgorithm),
}

impl From<RsaSignatureAlgorithm> for SignatureAlgorithm {
    fn from(alg: RsaSignatureAlgorithm) -> Self {
        Self::Rsa(alg)
    }
}

impl From<EcSignatureAlgorithm> for SignatureAlgorithm {
    fn from(alg: EcSignatureAlgorithm) -> Self {
        Self::Ec(alg)
    }
}

impl SignatureAlgorithm {
    /// Parses the exact (case-sensitive) Azure/JWA name of any mechanism.
    pub fn from_jwa(name: &str) -> Option<Self> {
        RsaSignatureAlgorithm::from_jwa(name)
            .map(Self::Rsa)
            .or_else(|| EcSignatureAlgorithm::from_jwa(name).map(Self::Ec))
    }

    pub fn as_jwa(self) -> &'static str {
        match self {
            Self::Rsa(alg) => alg.as_jwa(),
            Self::Ec(alg) => alg.as_jwa(),
        }
    }

    /// The length in bytes of the digest that sign and verify take.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Rsa(alg) => alg.digest_len(),
            Self::Ec(alg) => alg.digest_len(),
        }
    }

    /// The kind of key this algorithm signs with.
    pub fn key_kind(self) -> KeyKind {
        match self {
            Self::Rsa(_) => KeyKind::Rsa,
            Self::Ec(_) => KeyKind::Ec,
        }
    }

    /// The error for using this algorithm with `key`, naming what fits instead.
    fn not_for(self, key: &PublicKey) -> CryptoError {
        let (key, use_instead) = match key {
            PublicKey::Rsa(_) => ("RSA", RSA_SIGNATURE_ALGORITHMS),
            PublicKey::Ec(key) => (key.curve().as_jwk(), key.curve().signature_algorithm().as_jwa()),
        };
        CryptoError::AlgorithmNotForKey {
            alg: self.as_jwa(),
            key,
            use_instead,
        }
    }
}

#[cfg(test)]
mod tests;
