//! Elliptic-curve keys as Key Vault has them: the curves P-256, P-256K (secp256k1), P-384 and P-521, ECDSA sign
//! and verify over a digest (ES256, ES256K, ES384, ES512), and JWK import.
//!
//! Each curve has exactly one signature algorithm, as in Key Vault: ES256 is P-256 with SHA-256, ES256K is
//! P-256K with SHA-256, ES384 is P-384 with SHA-384 and ES512 is P-521 with SHA-512. Any other pairing is refused
//! with [`CryptoError::AlgorithmNotForKey`], which names the algorithm that fits.
//!
//! Signatures are in the fixed-size JWS form, `r || s` with each half as long as a coordinate (RFC 7518 section
//! 3.4): that is what Key Vault's sign returns and verify takes. OpenSSL and X.509 use a DER `SEQUENCE` of two
//! `INTEGER`s instead; converting is the caller's business.
//!
//! # Cost model
//! As for RSA: [`EcPrivateKey`] parses once, at construction, and clones share that state through an [`Arc`].
//! [`EcPublicKey`] keeps its point parsed, so the check that it lies on the curve is paid once, when the key is
//! made, and verification pays only for itself.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::{AsBigEndian, AsDer, PublicKeyX509Der};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, KeyPair as _, ParsedPublicKey,
};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::CryptoError;
use crate::encoding::b64url_encode;
use crate::secret::SecretBytes;

/// The first byte of an uncompressed SEC 1 point, `0x04 || x || y`.
const UNCOMPRESSED_POINT: u8 = 0x04;

/// The curves of Key Vault's EC keys, by their JWK `crv` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EcCurve {
    /// `P-256` (secp256r1, OpenSSL's prime256v1): Key Vault's default curve.
    #[default]
    P256,
    /// `P-256K`: secp256k1, the curve of Bitcoin and Ethereum. Not a NIST curve.
    P256K,
    /// `P-384` (secp384r1).
    P384,
    /// `P-521` (secp521r1); 521 bits, so coordinates take 66 bytes.
    P521,
}

impl EcCurve {
    /// Every curve, in the order Key Vault documents them.
    pub const ALL: [EcCurve; 4] = [Self::P256, Self::P256K, Self::P384, Self::P521];

    /// Parses the exact (case-sensitive) JWK `crv` name.
    pub fn from_jwk(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(Self::P256),
            "P-256K" => Some(Self::P256K),
            "P-384" => Some(Self::P384),
            "P-521" => Some(Self::P521),
            _ => None,
        }
    }

    pub fn as_jwk(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P256K => "P-256K",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }

    /// The length in bytes of a coordinate, of the private scalar `d`, and of each half of a signature.
    pub fn coordinate_len(self) -> usize {
        match self {
            Self::P256 | Self::P256K => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    /// The one signature algorithm that fits keys on this curve.
    pub fn signature_algorithm(self) -> EcSignatureAlgorithm {
        match self {
            Self::P256 => EcSignatureAlgorithm::Es256,
            Self::P256K => EcSignatureAlgorithm::Es256K,
            Self::P384 => EcSignatureAlgorithm::Es384,
            Self::P521 => EcSignatureAlgorithm::Es512,
        }
    }

    fn signing(self) -> &'static EcdsaSigningAlgorithm {
        match self {
            Self::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            Self::P256K => &signature::ECDSA_P256K1_SHA256_FIXED_SIGNING,
            Self::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            Self::P521 => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
        }
    }

    fn verification(self) -> &'static EcdsaVerificationAlgorithm {
        match self {
            Self::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            Self::P256K => &signature::ECDSA_P256K1_SHA256_FIXED,
            Self::P384 => &signature::ECDSA_P384_SHA384_FIXED,
            Self::P521 => &signature::ECDSA_P521_SHA512_FIXED,
        }
    }
}

/// ECDSA signature schemes of Key Vault's sign/verify, by their JWA names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcSignatureAlgorithm {
    Es256,
    /// `ES256K` (RFC 8812): ECDSA over secp256k1 with SHA-256.
    Es256K,
    Es384,
    Es512,
}

impl EcSignatureAlgorithm {
    /// Parses the exact (case-sensitive) Azure/JWA name.
    pub fn from_jwa(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(Self::Es256),
            "ES256K" => Some(Self::Es256K),
            "ES384" => Some(Self::Es384),
            "ES512" => Some(Self::Es512),
            _ => None,
        }
    }

    pub fn as_jwa(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Es256K => "ES256K",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
        }
    }

    /// The length in bytes of the digest that sign and verify take.
    pub fn digest_len(self) -> usize {
        self.digest_algorithm().output_len()
    }

    /// The curve of the keys this algorithm signs with.
    pub fn curve(self) -> EcCurve {
        match self {
            Self::Es256 => EcCurve::P256,
            Self::Es256K => EcCurve::P256K,
            Self::Es384 => EcCurve::P384,
            Self::Es512 => EcCurve::P521,
        }
    }

    fn digest_algorithm(self) -> &'static digest::Algorithm {
        match self {
            Self::Es256 | Self::Es256K => &digest::SHA256,
            Self::Es384 => &digest::SHA384,
            Self::Es512 => &digest::SHA512,
        }
    }

    /// Wraps caller-supplied digest bytes; Key Vault clients hash on their side and send only the digest.
    fn import_digest(self, digest: &[u8]) -> Result<Digest, CryptoError> {
        let wrong_length = || CryptoError::DigestLength {
            alg: self.as_jwa(),
            expected: self.digest_len(),
            len: digest.len(),
        };
        if digest.len() != self.digest_len() {
            return Err(wrong_length());
        }
        Digest::import_less_safe(digest, self.digest_algorithm()).map_err(|_| wrong_length())
    }

    /// The error for using this algorithm with a key on `curve`.
    fn not_for(self, curve: EcCurve) -> CryptoError {
        CryptoError::AlgorithmNotForKey {
            alg: self.as_jwa(),
            key: curve.as_jwk(),
            use_instead: curve.signature_algorithm().as_jwa(),
        }
    }
}

/// The private components of an EC key as a JWK carries them (`crv d x y`), big-endian.
///
/// Zeroized on drop; `Debug` shows only the curve. Each field may come with its leading zero bytes stripped or
/// padded to [`EcCurve::coordinate_len`]; longer fields are refused.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct EcPrivateComponents {
    #[zeroize(skip)]
    pub curve: EcCurve,
    pub d: Vec<u8>,
    pub x: Vec<u8>,
    pub y: Vec<u8>,
}

impl fmt::Debug for EcPrivateComponents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcPrivateComponents")
            .field("curve", &self.curve)
            .finish_non_exhaustive()
    }
}

/// An EC private key, parsed once. Never printed, never serialized except as (sealed) PKCS#8.
///
/// Cloning is cheap and shares the parsed key; the key is `Send + Sync`.
#[derive(Clone)]
pub struct EcPrivateKey {
    inner: Arc<ParsedPrivateKey>,
}

struct ParsedPrivateKey {
    curve: EcCurve,
    pair: EcdsaKeyPair,
    public: EcPublicKey,
}

impl fmt::Debug for EcPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcPrivateKey")
            .field("curve", &self.inner.curve)
            .finish_non_exhaustive()
    }
}

impl EcPrivateKey {
    pub fn generate(curve: EcCurve) -> Result<Self, CryptoError> {
        let pair = EcdsaKeyPair::generate(curve.signing()).map_err(|_| CryptoError::KeyGeneration)?;
        Self::from_pair(curve, pair)
    }

    /// Loads a key from unencrypted PKCS#8 DER (the form the vault seals under the root key), on whichever curve
    /// it names.
    ///
    /// aws-lc-rs only parses a PKCS#8 EC key for a curve given in advance, so each curve is tried in turn, and each
    /// try is a full parse with its key check: a P-521 key is parsed four times (0.3 ms in a release build, against
    /// 0.01 ms for P-256). Keys are loaded rarely and then kept, so that is not worth a DER parser of our own.
    pub fn from_pkcs8(pkcs8: &SecretBytes) -> Result<Self, CryptoError> {
        EcCurve::ALL
            .into_iter()
            .find_map(|curve| {
                EcdsaKeyPair::from_pkcs8(curve.signing(), pkcs8.expose())
                    .ok()
                    .map(|pair| (curve, pair))
            })
            .ok_or(CryptoError::InvalidKey(
                "not an EC PKCS#8 key on P-256, P-256K, P-384 or P-521",
            ))
            .and_then(|(curve, pair)| Self::from_pair(curve, pair))
    }

    /// Imports a key from its JWK components (Key Vault import).
    ///
    /// aws-lc checks that `d` is in range and that `d·G` is the point `(x, y)`, which also proves the point lies on
    /// the curve; a sign/verify self-test runs on top, as for RSA.
    pub fn from_components(components: &EcPrivateComponents) -> Result<Self, CryptoError> {
        let curve = components.curve;
        let public = EcPublicKey::from_components(curve, &components.x, &components.y)?;
        let d = Zeroizing::new(fixed_width(&components.d, curve.coordinate_len())?);
        let pair = EcdsaKeyPair::from_private_key_and_public_key(curve.signing(), &d, &public.uncompressed_point())
            .map_err(|_| {
                CryptoError::InvalidKey("the EC private key d is out of range or does not match the point (x, y)")
            })?;
        let key = Self::from_pair(curve, pair)?;
        key.self_test()?;
        Ok(key)
    }

    fn from_pair(curve: EcCurve, pair: EcdsaKeyPair) -> Result<Self, CryptoError> {
        let public = EcPublicKey::from_uncompressed_point(curve, pair.public_key().as_ref())?;
        Ok(Self {
            inner: Arc::new(ParsedPrivateKey { curve, pair, public }),
        })
    }

    /// Catches imported keys that pass the consistency checks but do not sign.
    fn self_test(&self) -> Result<(), CryptoError> {
        let alg = self.curve().signature_algorithm();
        let digest = digest::digest(alg.digest_algorithm(), b"cmk import self-test");
        let signature = self
            .sign_digest(alg, digest.as_ref())
            .map_err(|_| CryptoError::InvalidKey("the EC private key failed its self-test"))?;
        if self.public_key().verify_digest(alg, digest.as_ref(), &signature) {
            Ok(())
        } else {
            Err(CryptoError::InvalidKey("the EC private key failed its self-test"))
        }
    }

    pub fn to_pkcs8(&self) -> Result<SecretBytes, CryptoError> {
        let der = self
            .inner
            .pair
            .to_pkcs8v1()
            .map_err(|_| CryptoError::InvalidKey("PKCS#8 export"))?;
        Ok(SecretBytes::new(der.as_ref().to_vec()))
    }

    /// The private components in JWK form, `d` padded to the coordinate length.
    ///
    /// This exposes no more than [`Self::to_pkcs8`] already does, in the form JWK import takes, so that backups and
    /// import tests can round-trip a key. Key Vault never returns `d` to a client, and nothing on the wire should
    /// call this; the result zeroizes on drop and does not print.
    pub fn private_components(&self) -> Result<EcPrivateComponents, CryptoError> {
        let d = self
            .inner
            .pair
            .private_key()
            .as_be_bytes()
            .map_err(|_| CryptoError::InvalidKey("EC private key export"))?;
        Ok(EcPrivateComponents {
            curve: self.inner.curve,
            d: d.as_ref().to_vec(),
            x: self.inner.public.x.clone(),
            y: self.inner.public.y.clone(),
        })
    }

    pub fn curve(&self) -> EcCurve {
        self.inner.curve
    }

    pub fn public_key(&self) -> &EcPublicKey {
        &self.inner.public
    }

    /// Signs a precomputed digest (Key Vault sign), giving `r || s` of `2 ×` [`EcCurve::coordinate_len`] bytes.
    ///
    /// `alg` must be the curve's algorithm ([`CryptoError::AlgorithmNotForKey`] otherwise) and `digest` exactly
    /// [`EcSignatureAlgorithm::digest_len`] bytes ([`CryptoError::DigestLength`] otherwise). Signatures are
    /// randomized: signing the same digest twice gives two different, equally valid signatures.
    pub fn sign_digest(&self, alg: EcSignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if alg.curve() != self.inner.curve {
            return Err(alg.not_for(self.inner.curve));
        }
        let digest = alg.import_digest(digest)?;
        let signature = self.inner.pair.sign_digest(&digest).map_err(|_| CryptoError::Signing)?;
        Ok(signature.as_ref().to_vec())
    }
}

/// An EC public key: its curve and the coordinates of its point, each padded to [`EcCurve::coordinate_len`], as
/// RFC 7518 requires of a JWK.
///
/// The point is checked to lie on the curve when the key is made, and kept parsed for verification.
#[derive(Clone)]
pub struct EcPublicKey {
    curve: EcCurve,
    x: Vec<u8>,
    y: Vec<u8>,
    parsed: ParsedPublicKey,
}

impl PartialEq for EcPublicKey {
    fn eq(&self, other: &Self) -> bool {
        (self.curve, &self.x, &self.y) == (other.curve, &other.x, &other.y)
    }
}

impl Eq for EcPublicKey {}

impl fmt::Debug for EcPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcPublicKey").field("curve", &self.curve).finish()
    }
}

impl EcPublicKey {
    /// Makes a key from JWK coordinates, refusing fields longer than the curve allows and points not on the curve.
    pub fn from_components(curve: EcCurve, x: &[u8], y: &[u8]) -> Result<Self, CryptoError> {
        let len = curve.coordinate_len();
        let mut point = Vec::with_capacity(1 + 2 * len);
        point.push(UNCOMPRESSED_POINT);
        point.extend(fixed_width(x, len)?);
        point.extend(fixed_width(y, len)?);
        Self::from_uncompressed_point(curve, &point)
    }

    /// Parses `0x04 || x || y`; aws-lc refuses points off the curve and coordinates not below the field prime.
    fn from_uncompressed_point(curve: EcCurve, point: &[u8]) -> Result<Self, CryptoError> {
        let len = curve.coordinate_len();
        if point.len() != 1 + 2 * len || point.first() != Some(&UNCOMPRESSED_POINT) {
            return Err(CryptoError::InvalidKey("not an uncompressed EC point"));
        }
        let parsed = ParsedPublicKey::new(curve.verification(), point)
            .map_err(|_| CryptoError::InvalidKey("the point (x, y) is not on the curve"))?;
        Ok(Self {
            curve,
            x: point[1..=len].to_vec(),
            y: point[1 + len..].to_vec(),
            parsed,
        })
    }

    pub fn curve(&self) -> EcCurve {
        self.curve
    }

    /// The x coordinate, big-endian, [`EcCurve::coordinate_len`] bytes.
    pub fn x(&self) -> &[u8] {
        &self.x
    }

    /// The y coordinate, big-endian, [`EcCurve::coordinate_len`] bytes.
    pub fn y(&self) -> &[u8] {
        &self.y
    }

    fn uncompressed_point(&self) -> Vec<u8> {
        let mut point = Vec::with_capacity(1 + self.x.len() + self.y.len());
        point.push(UNCOMPRESSED_POINT);
        point.extend_from_slice(&self.x);
        point.extend_from_slice(&self.y);
        point
    }

    /// The X.509 SubjectPublicKeyInfo DER, with the curve as a named-curve OID and the point uncompressed (what
    /// `openssl -pubin -keyform DER` reads and `openssl pkey -pubout -outform DER` writes).
    pub fn to_spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        let der: PublicKeyX509Der<'static> = self
            .parsed
            .as_der()
            .map_err(|_| CryptoError::InvalidKey("not a usable EC public key"))?;
        Ok(der.as_ref().to_vec())
    }

    /// Verifies an `r || s` signature over a precomputed digest (Key Vault verify). An algorithm of another
    /// curve, a digest or signature of the wrong length, and a malformed signature all verify as `false`.
    pub fn verify_digest(&self, alg: EcSignatureAlgorithm, digest: &[u8], signature: &[u8]) -> bool {
        if alg.curve() != self.curve || signature.len() != 2 * self.curve.coordinate_len() {
            return false;
        }
        let Ok(digest) = alg.import_digest(digest) else {
            return false;
        };
        self.parsed.verify_digest_sig(&digest, signature).is_ok()
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url), a stable key id.
    pub fn jwk_thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            self.curve.as_jwk(),
            b64url_encode(&self.x),
            b64url_encode(&self.y)
        );
        b64url_encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
    }
}

/// `bytes` as a big-endian number of exactly `len` bytes: shorter input is left-padded with zeros, longer input is
/// refused even when its extra bytes are zeros, as RFC 7518 fixes the length of every EC field.
fn fixed_width(bytes: &[u8], len: usize) -> Result<Vec<u8>, CryptoError> {
    if bytes.is_empty() {
        return Err(CryptoError::InvalidKey("an EC key field is empty"));
    }
    if bytes.len() > len {
        return Err(CryptoError::InvalidKey(
            "an EC key field is longer than its curve allows",
        ));
    }
    // Sized up front: a reallocation would leave a copy of `d` behind in freed memory.
    let mut padded = Vec::with_capacity(len);
    padded.resize(len - bytes.len(), 0);
    padded.extend_from_slice(bytes);
    Ok(padded)
}

#[cfg(test)]
mod tests;
