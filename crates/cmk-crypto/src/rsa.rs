//! RSA key pairs and public keys: the operations of the Key Vault data plane (wrapKey/unwrapKey, encrypt/decrypt,
//! sign/verify over a digest, JWK import) and RS256 for access tokens.
//!
//! Everything runs on aws-lc-rs, whose RSA private operations are constant-time and blinded.
//!
//! # Cost model
//! Parsing a private key costs about half a private-key operation, so [`RsaPrivateKey`] parses once, at
//! construction, into everything later calls need: the signing key pair and the decrypting key. Clones share
//! that parsed state through an [`Arc`], and one key serves any number of threads at once.
//!
//! Public-key operations (encrypt, verify) build the aws-lc key from `n` and `e` on each call: that is cheap next
//! to the operation itself, and Azure SDK clients run them locally anyway.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::{
    KeyPair, KeyPairComponents, KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm,
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey, PublicKeyComponents,
};
use aws_lc_rs::signature::{self, KeyPair as _, RsaParameters, RsaSignatureEncoding};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::CryptoError;
use crate::encoding::b64url_encode;
use crate::secret::SecretBytes;

/// The key sizes Key Vault offers for RSA keys, in bits.
pub const SUPPORTED_BITS: [usize; 3] = [2048, 3072, 4096];

/// RSA encryption schemes of Key Vault's encrypt/decrypt and wrapKey/unwrapKey, by their JWA names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RsaEncryptionAlgorithm {
    /// `RSA-OAEP`: OAEP with SHA-1 and MGF1-SHA-1 (still the default of many clients; SHA-1 is fine inside OAEP).
    RsaOaep,
    /// `RSA-OAEP-256`: OAEP with SHA-256 and MGF1-SHA-256.
    RsaOaep256,
    /// `RSA1_5`: PKCS#1 v1.5 padding. Supported because Azure supports it; its decrypt is a padding oracle by
    /// nature, so prefer OAEP.
    Rsa1_5,
}

impl RsaEncryptionAlgorithm {
    /// Parses the exact (case-sensitive) Azure/JWA name.
    pub fn from_jwa(name: &str) -> Option<Self> {
        match name {
            "RSA-OAEP" => Some(Self::RsaOaep),
            "RSA-OAEP-256" => Some(Self::RsaOaep256),
            "RSA1_5" => Some(Self::Rsa1_5),
            _ => None,
        }
    }

    pub fn as_jwa(self) -> &'static str {
        match self {
            Self::RsaOaep => "RSA-OAEP",
            Self::RsaOaep256 => "RSA-OAEP-256",
            Self::Rsa1_5 => "RSA1_5",
        }
    }

    /// The longest plaintext this scheme encrypts under a modulus of `modulus_bytes` bytes (RFC 8017: OAEP
    /// `k - 2*hLen - 2`, PKCS#1 v1.5 `k - 11`).
    pub fn max_plaintext_len(self, modulus_bytes: usize) -> usize {
        let overhead = match self {
            Self::RsaOaep => 2 * 20 + 2,
            Self::RsaOaep256 => 2 * 32 + 2,
            Self::Rsa1_5 => 11,
        };
        modulus_bytes.saturating_sub(overhead)
    }

    fn oaep(self) -> Option<&'static OaepAlgorithm> {
        match self {
            Self::RsaOaep => Some(&OAEP_SHA1_MGF1SHA1),
            Self::RsaOaep256 => Some(&OAEP_SHA256_MGF1SHA256),
            Self::Rsa1_5 => None,
        }
    }
}

/// RSA signature schemes of Key Vault's sign/verify, by their JWA names.
///
/// PSS uses a salt as long as the hash, as Azure and .NET do; verification expects exactly that salt length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RsaSignatureAlgorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
}

impl RsaSignatureAlgorithm {
    /// Parses the exact (case-sensitive) Azure/JWA name.
    pub fn from_jwa(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            "RS384" => Some(Self::Rs384),
            "RS512" => Some(Self::Rs512),
            "PS256" => Some(Self::Ps256),
            "PS384" => Some(Self::Ps384),
            "PS512" => Some(Self::Ps512),
            _ => None,
        }
    }

    pub fn as_jwa(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
        }
    }

    /// The length in bytes of the digest that sign and verify take.
    pub fn digest_len(self) -> usize {
        self.digest_algorithm().output_len()
    }

    fn digest_algorithm(self) -> &'static digest::Algorithm {
        match self {
            Self::Rs256 | Self::Ps256 => &digest::SHA256,
            Self::Rs384 | Self::Ps384 => &digest::SHA384,
            Self::Rs512 | Self::Ps512 => &digest::SHA512,
        }
    }

    fn signing(self) -> &'static RsaSignatureEncoding {
        match self {
            Self::Rs256 => &signature::RSA_PKCS1_SHA256,
            Self::Rs384 => &signature::RSA_PKCS1_SHA384,
            Self::Rs512 => &signature::RSA_PKCS1_SHA512,
            Self::Ps256 => &signature::RSA_PSS_SHA256,
            Self::Ps384 => &signature::RSA_PSS_SHA384,
            Self::Ps512 => &signature::RSA_PSS_SHA512,
        }
    }

    fn verification(self) -> &'static RsaParameters {
        match self {
            Self::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Self::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Self::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            Self::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
            Self::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
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
}

/// The private components of an RSA key as a JWK carries them (`n e d p q dp dq qi`), big-endian.
///
/// Zeroized on drop and redacted in `Debug`. Leading zero bytes are tolerated on every field.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RsaPrivateComponents {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    pub d: Vec<u8>,
    pub p: Vec<u8>,
    pub q: Vec<u8>,
    pub dp: Vec<u8>,
    pub dq: Vec<u8>,
    pub qi: Vec<u8>,
}

impl fmt::Debug for RsaPrivateComponents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPrivateComponents")
            .field("bits", &bit_len(strip_leading_zeros(&self.n)))
            .finish_non_exhaustive()
    }
}

/// An RSA private key, parsed once. Never printed, never serialized except as (sealed) PKCS#8.
///
/// Cloning is cheap and shares the parsed key; the key is `Send + Sync`.
#[derive(Clone)]
pub struct RsaPrivateKey {
    inner: Arc<ParsedPrivateKey>,
}

/// Everything the private-key operations need, parsed up front so no call pays for parsing.
struct ParsedPrivateKey {
    pair: KeyPair,
    oaep: OaepPrivateDecryptingKey,
    pkcs1: Pkcs1PrivateDecryptingKey,
    public: RsaPublicKey,
}

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPrivateKey")
            .field("bits", &self.inner.public.bits())
            .finish_non_exhaustive()
    }
}

impl RsaPrivateKey {
    /// Generates a key of 2048, 3072 or 4096 bits with public exponent 65537.
    ///
    /// aws-lc-rs 1.19 offers no way to choose another exponent at generation, so there is no
    /// `generate_with_exponent`; keys with other exponents can still be imported ([`Self::from_components`]).
    pub fn generate(bits: u32) -> Result<Self, CryptoError> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => return Err(CryptoError::InvalidKey("RSA key size must be 2048, 3072 or 4096")),
        };
        let pair = KeyPair::generate(size).map_err(|_| CryptoError::KeyGeneration)?;
        let pkcs8 = pair.as_der().map_err(|_| CryptoError::KeyGeneration)?;
        Self::from_parts(pair, pkcs8.as_ref())
    }

    /// Loads a key from unencrypted PKCS#8 DER (the form the vault seals under the root key).
    pub fn from_pkcs8(pkcs8: &SecretBytes) -> Result<Self, CryptoError> {
        let pair = KeyPair::from_pkcs8(pkcs8.expose()).map_err(|_| CryptoError::InvalidKey("not an RSA PKCS#8 key"))?;
        Self::from_parts(pair, pkcs8.expose())
    }

    /// Imports a key from its JWK components (Key Vault import).
    ///
    /// aws-lc checks that the components agree (`n = p*q`, `d`, `dp`, `dq`, `qi` consistent with `e`, `p`,
    /// `q`); it does not test `p` and `q` for primality, so a sign/verify self-test runs on top. Accepted: 2048,
    /// 3072 or 4096-bit moduli and, like Azure, any odd public exponent of at least 3 (aws-lc caps it at 33
    /// bits), not only 65537.
    pub fn from_components(components: &RsaPrivateComponents) -> Result<Self, CryptoError> {
        let n = strip_leading_zeros(&components.n);
        let e = strip_leading_zeros(&components.e);
        if !SUPPORTED_BITS.contains(&bit_len(n)) {
            return Err(CryptoError::InvalidKey("RSA key size must be 2048, 3072 or 4096"));
        }
        if e.last().is_none_or(|low| low & 1 == 0) || e == [1] {
            return Err(CryptoError::InvalidKey(
                "the RSA public exponent must be odd and at least 3",
            ));
        }
        let pair = KeyPair::from_components(&KeyPairComponents {
            public_key: PublicKeyComponents { n, e },
            d: components.d.as_slice(),
            p: components.p.as_slice(),
            q: components.q.as_slice(),
            dP: components.dp.as_slice(),
            dQ: components.dq.as_slice(),
            qInv: components.qi.as_slice(),
        })
        .map_err(|_| CryptoError::InvalidKey("the RSA private components are inconsistent or unsupported"))?;
        let pkcs8 = pair.as_der().map_err(|_| CryptoError::InvalidKey("PKCS#8 export"))?;
        let key = Self::from_parts(pair, pkcs8.as_ref())?;
        key.self_test()?;
        Ok(key)
    }

    /// Builds the parsed state from a key pair and the same key as PKCS#8: aws-lc-rs only makes a decrypting
    /// key from PKCS#8, so this is the one extra parse, paid once.
    fn from_parts(pair: KeyPair, pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let public_key = pair.public_key();
        let public = RsaPublicKey::from_components(
            public_key.modulus().big_endian_without_leading_zero().to_vec(),
            public_key.exponent().big_endian_without_leading_zero().to_vec(),
        )?;
        if !SUPPORTED_BITS.contains(&public.bits()) {
            return Err(CryptoError::InvalidKey("RSA key size must be 2048, 3072 or 4096"));
        }
        let decrypting =
            PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(|_| CryptoError::InvalidKey("not an RSA PKCS#8 key"))?;
        // Both wrappers share one parsed key (the clone only takes a reference).
        let oaep = OaepPrivateDecryptingKey::new(decrypting.clone())
            .map_err(|_| CryptoError::InvalidKey("RSA decrypting key"))?;
        let pkcs1 =
            Pkcs1PrivateDecryptingKey::new(decrypting).map_err(|_| CryptoError::InvalidKey("RSA decrypting key"))?;
        Ok(Self {
            inner: Arc::new(ParsedPrivateKey {
                pair,
                oaep,
                pkcs1,
                public,
            }),
        })
    }

    /// Catches imported keys whose components agree on paper but do not compute (e.g. a composite `p`).
    fn self_test(&self) -> Result<(), CryptoError> {
        let alg = RsaSignatureAlgorithm::Ps256;
        let digest = digest::digest(&digest::SHA256, b"cmk import self-test");
        let signature = self
            .sign_digest(alg, digest.as_ref())
            .map_err(|_| CryptoError::InvalidKey("the RSA private key failed its self-test"))?;
        if self.public_key().verify_digest(alg, digest.as_ref(), &signature) {
            Ok(())
        } else {
            Err(CryptoError::InvalidKey("the RSA private key failed its self-test"))
        }
    }

    pub fn to_pkcs8(&self) -> Result<SecretBytes, CryptoError> {
        let der = self
            .inner
            .pair
            .as_der()
            .map_err(|_| CryptoError::InvalidKey("PKCS#8 export"))?;
        Ok(SecretBytes::new(der.as_ref().to_vec()))
    }

    pub fn public_key(&self) -> &RsaPublicKey {
        &self.inner.public
    }

    /// Decrypts (unwrapKey/decrypt). Every failure - wrong ciphertext length, bad padding, wrong key - is the
    /// same [`CryptoError::Decryption`], so callers cannot become a Bleichenbacher/Manger oracle by accident.
    pub fn decrypt(&self, alg: RsaEncryptionAlgorithm, ciphertext: &[u8]) -> Result<SecretBytes, CryptoError> {
        let modulus_len = self.inner.public.modulus_len();
        if ciphertext.len() != modulus_len {
            return Err(CryptoError::Decryption);
        }
        let mut buffer = Zeroizing::new(vec![0u8; modulus_len]);
        let len = match alg.oaep() {
            Some(oaep) => self.inner.oaep.decrypt(oaep, ciphertext, &mut buffer, None),
            None => self.inner.pkcs1.decrypt(ciphertext, &mut buffer),
        }
        .map_err(|_| CryptoError::Decryption)?
        .len();
        buffer.truncate(len);
        Ok(SecretBytes::new(std::mem::take(&mut *buffer)))
    }

    /// Signs a precomputed digest (Key Vault sign). `digest` must be exactly [`RsaSignatureAlgorithm::digest_len`]
    /// bytes.
    pub fn sign_digest(&self, alg: RsaSignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let digest = alg.import_digest(digest)?;
        let mut signature = vec![0u8; self.inner.pair.public_modulus_len()];
        self.inner
            .pair
            .sign_digest(alg.signing(), &digest, &mut signature)
            .map_err(|_| CryptoError::Signing)?;
        Ok(signature)
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message` (JWS `RS256`).
    pub fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut signature = vec![0u8; self.inner.pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.inner
            .pair
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
        bit_len(&self.n)
    }

    /// The modulus length in bytes: the length of every ciphertext and signature.
    pub fn modulus_len(&self) -> usize {
        self.n.len()
    }

    fn components(&self) -> PublicKeyComponents<&[u8]> {
        PublicKeyComponents {
            n: self.n.as_slice(),
            e: self.e.as_slice(),
        }
    }

    /// The X.509 SubjectPublicKeyInfo DER (what `openssl -pubin -keyform DER` and PEM exports carry).
    pub fn to_spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        let der: PublicKeyX509Der<'static> = self
            .components()
            .as_der()
            .map_err(|_| CryptoError::InvalidKey("not a usable RSA public key"))?;
        Ok(der.as_ref().to_vec())
    }

    /// Encrypts (wrapKey/encrypt). Plaintexts longer than [`RsaEncryptionAlgorithm::max_plaintext_len`] are refused
    /// with [`CryptoError::PlaintextTooLong`]; keys below 2048 bits are refused by aws-lc-rs.
    pub fn encrypt(&self, alg: RsaEncryptionAlgorithm, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let max = alg.max_plaintext_len(self.modulus_len());
        if plaintext.len() > max {
            return Err(CryptoError::PlaintextTooLong {
                alg: alg.as_jwa(),
                max,
                len: plaintext.len(),
            });
        }
        let key: PublicEncryptingKey = self
            .components()
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("not a usable RSA public key"))?;
        let mut ciphertext = vec![0u8; self.modulus_len()];
        let len = match alg.oaep() {
            Some(oaep) => OaepPublicEncryptingKey::new(key)
                .and_then(|key| key.encrypt(oaep, plaintext, &mut ciphertext, None).map(|out| out.len())),
            None => Pkcs1PublicEncryptingKey::new(key)
                .and_then(|key| key.encrypt(plaintext, &mut ciphertext).map(|out| out.len())),
        }
        .map_err(|_| CryptoError::Encryption)?;
        ciphertext.truncate(len);
        Ok(ciphertext)
    }

    /// Verifies a signature over a precomputed digest (Key Vault verify). A digest of the wrong length, a key
    /// below 2048 bits or a PSS salt other than the hash length all verify as `false`.
    pub fn verify_digest(&self, alg: RsaSignatureAlgorithm, digest: &[u8], signature: &[u8]) -> bool {
        let Ok(digest) = alg.import_digest(digest) else {
            return false;
        };
        let Ok(key) = self.components().to_parsed_public_key(alg.verification()) else {
            return false;
        };
        key.verify_digest_sig(&digest, signature).is_ok()
    }

    /// Verifies an RS256 signature. Keys below 2048 bits are refused by aws-lc-rs.
    pub fn verify_rs256(&self, message: &[u8], signature: &[u8]) -> bool {
        self.components()
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
        b64url_encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Bit length of a big-endian number given without leading zero bytes.
fn bit_len(n: &[u8]) -> usize {
    let leading = n.first().map_or(0, |b| b.leading_zeros() as usize);
    n.len() * 8 - leading
}

#[cfg(test)]
mod tests;
