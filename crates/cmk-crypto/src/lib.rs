//! The cryptography of cmk, on aws-lc-rs only.
//!
//! aws-lc-rs gives constant-time RSA (the pure-Rust `rsa` crate has a known timing side channel) and ECDSA, fast
//! AES-256-GCM, and one audited C library behind every primitive. Everything secret here lives in types that
//! zeroize on drop and print as `[redacted]`.
//!
//! # Layout
//! - [`encoding`]: base64url as every Azure wire format uses it.
//! - [`random`]: random bytes and identifiers.
//! - [`secret`]: [`SecretBytes`] and [`SecretString`].
//! - [`root_key`]: the server's root key, which seals every secret the store keeps.
//! - [`rsa`]: RSA keys and the Key Vault operations on them: RSA-OAEP(-256)/RSA1_5 encrypt and decrypt,
//!   RS*/PS* sign and verify over a digest, JWK import; RS256 for access tokens.
//! - [`ec`]: EC keys on P-256, P-256K, P-384 and P-521: ES* sign and verify over a digest, JWK import.
//! - [`key`]: [`key::PrivateKey`], [`key::PublicKey`] and [`key::SignatureAlgorithm`], one type for any mechanism,
//!   so the vault handles a key without asking what kind it is.
//! - [`jws`]: compact JWS (RS256) as used by access tokens.
//! - [`secret_hash`]: salted hashes of client secrets.
//! - [`data_key`]: AES-256-GCM data keys that encrypt content at rest.
#![forbid(unsafe_code)]

pub mod data_key;
pub mod ec;
pub mod encoding;
pub mod jws;
pub mod key;
pub mod random;
pub mod root_key;
pub mod rsa;
pub mod secret;
pub mod secret_hash;

pub use root_key::RootKey;
pub use secret::{SecretBytes, SecretString};

/// Errors of the crypto layer. None of them carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the system random number generator failed")]
    Random,
    #[error("key generation failed")]
    KeyGeneration,
    #[error("the key is malformed or unsupported: {0}")]
    InvalidKey(&'static str),
    #[error("signing failed")]
    Signing,
    #[error("encryption failed")]
    Encryption,
    /// One error for every decryption failure, so that no caller can tell a bad length from bad padding.
    #[error("decryption failed (wrong key, wrong algorithm, or corrupted ciphertext)")]
    Decryption,
    #[error("{alg} with this key encrypts at most {max} bytes; the plaintext has {len}")]
    PlaintextTooLong { alg: &'static str, max: usize, len: usize },
    #[error("{alg} takes a {expected}-byte digest; got {len} bytes")]
    DigestLength {
        alg: &'static str,
        expected: usize,
        len: usize,
    },
    /// A signature algorithm used with a key of another kind or curve; names the algorithm(s) that fit.
    #[error("{alg} does not fit this {key} key; use {use_instead}")]
    AlgorithmNotForKey {
        alg: &'static str,
        key: &'static str,
        use_instead: &'static str,
    },
    #[error("sealed data could not be opened (wrong root key, wrong purpose, or tampered)")]
    Unseal,
    #[error("sealing failed")]
    Seal,
    #[error("root key file {path}: {reason}")]
    RootKeyFile { path: String, reason: String },
}
