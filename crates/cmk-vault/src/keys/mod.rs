//! Keys and their versions: create, import, read, list, update, delete, recover, purge, rotate, and the
//! cryptographic operations.
//!
//! A key is one record (its name, lifecycle state and the metadata of every version) plus one sealed record of
//! key material per version. Listing reads only the key records; material is unsealed only for private-key
//! operations, and kept parsed in memory afterwards (a parse costs half an RSA operation).
//!
//! - [`records`]: the stored records, their layout in the store, validation, and the one loader that tells an
//!   active key from a deleted one and from one that is gone.
//! - [`material`]: sealed key material and the cache of parsed private keys.
//! - [`lifecycle`]: create, import, rotate, get, update, delete, recover, purge.
//! - [`listing`]: keys, versions and deleted keys, page by page.
//! - [`operations`]: encrypt, decrypt, wrap, unwrap, sign, verify.
//! - [`backup`]: a key's records for a backup blob, and their restore.
//! - [`sweeping`]: what the service removes on its own (keys past their purge date, a purged vault's keys).

use std::collections::BTreeMap;

use cmk_core::Timestamp;
use cmk_crypto::ec::{EcCurve, EcPrivateComponents};
use cmk_crypto::key::{KeyKind, PublicKey};
use cmk_crypto::rsa::RsaPrivateComponents;
use serde::{Deserialize, Serialize};

use crate::VaultError;
use crate::access::KeyAction;

mod backup;
mod lifecycle;
mod listing;
mod material;
mod operations;
mod records;
mod sweeping;

pub(crate) use material::{KeyCache, SharedKeyCache};
pub use records::validate_key_name;

const SECONDS_PER_DAY: i64 = 86_400;
/// Azure's limit of tags on a key.
pub const MAX_TAGS: usize = 15;

/// A key's `kty`: its mechanism, and whether it is HSM-protected. cmk keeps both kinds the same way (sealed under
/// the root key); `-HSM` is recorded and reported as Azure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    Rsa,
    RsaHsm,
    Ec,
    EcHsm,
}

impl KeyType {
    const ALL: [KeyType; 4] = [KeyType::Rsa, KeyType::RsaHsm, KeyType::Ec, KeyType::EcHsm];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::RsaHsm => "RSA-HSM",
            KeyType::Ec => "EC",
            KeyType::EcHsm => "EC-HSM",
        }
    }

    /// The one refusal of a `kty` cmk does not hold, wherever it is named (create, import, restore).
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        Self::ALL.into_iter().find(|kty| kty.as_str() == text).ok_or_else(|| {
            VaultError::BadParameter(format!(
                "The key type '{text}' is not supported: use 'RSA', 'RSA-HSM', 'EC' or 'EC-HSM'."
            ))
        })
    }

    pub fn of(kind: KeyKind, hsm: bool) -> Self {
        match (kind, hsm) {
            (KeyKind::Rsa, false) => KeyType::Rsa,
            (KeyKind::Rsa, true) => KeyType::RsaHsm,
            (KeyKind::Ec, false) => KeyType::Ec,
            (KeyKind::Ec, true) => KeyType::EcHsm,
        }
    }

    pub fn kind(self) -> KeyKind {
        match self {
            KeyType::Rsa | KeyType::RsaHsm => KeyKind::Rsa,
            KeyType::Ec | KeyType::EcHsm => KeyKind::Ec,
        }
    }

    pub fn is_hsm(self) -> bool {
        matches!(self, KeyType::RsaHsm | KeyType::EcHsm)
    }
}

/// The operations a key version permits (`key_ops`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyOperation {
    Encrypt,
    Decrypt,
    Sign,
    Verify,
    WrapKey,
    UnwrapKey,
    Import,
    Export,
}

impl KeyOperation {
    const ALL: [KeyOperation; 8] = [
        KeyOperation::Encrypt,
        KeyOperation::Decrypt,
        KeyOperation::Sign,
        KeyOperation::Verify,
        KeyOperation::WrapKey,
        KeyOperation::UnwrapKey,
        KeyOperation::Import,
        KeyOperation::Export,
    ];
    /// What a new EC key permits unless told otherwise, and all it may permit: it signs and verifies.
    const EC: [KeyOperation; 2] = [KeyOperation::Sign, KeyOperation::Verify];
    /// What a new RSA key permits unless told otherwise.
    const RSA_DEFAULT: [KeyOperation; 6] = [
        KeyOperation::Encrypt,
        KeyOperation::Decrypt,
        KeyOperation::Sign,
        KeyOperation::Verify,
        KeyOperation::WrapKey,
        KeyOperation::UnwrapKey,
    ];

    /// What a new key of `kind` permits unless told otherwise.
    fn defaults(kind: KeyKind) -> &'static [KeyOperation] {
        match kind {
            KeyKind::Rsa => &Self::RSA_DEFAULT,
            KeyKind::Ec => &Self::EC,
        }
    }

    /// Whether a key of `kind` can do this at all.
    fn fits(self, kind: KeyKind) -> bool {
        match kind {
            KeyKind::Rsa => true,
            KeyKind::Ec => Self::EC.contains(&self),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyOperation::Encrypt => "encrypt",
            KeyOperation::Decrypt => "decrypt",
            KeyOperation::Sign => "sign",
            KeyOperation::Verify => "verify",
            KeyOperation::WrapKey => "wrapKey",
            KeyOperation::UnwrapKey => "unwrapKey",
            KeyOperation::Import => "import",
            KeyOperation::Export => "export",
        }
    }

    pub fn parse(text: &str) -> Result<Self, VaultError> {
        Self::ALL.into_iter().find(|op| op.as_str() == text).ok_or_else(|| {
            VaultError::BadParameter(format!(
                "'{text}' is not a key operation; valid ones are encrypt, decrypt, sign, verify, wrapKey, unwrapKey, import, export."
            ))
        })
    }

    /// Operations that use the public key and so, like Azure, need the key to be inside its validity window.
    fn needs_validity_window(self) -> bool {
        matches!(self, KeyOperation::Encrypt | KeyOperation::WrapKey | KeyOperation::Sign)
    }

    /// The data-plane operation it is, for the cryptographic operations.
    pub fn action(self) -> Option<KeyAction> {
        match self {
            KeyOperation::Encrypt => Some(KeyAction::Encrypt),
            KeyOperation::Decrypt => Some(KeyAction::Decrypt),
            KeyOperation::Sign => Some(KeyAction::Sign),
            KeyOperation::Verify => Some(KeyAction::Verify),
            KeyOperation::WrapKey => Some(KeyAction::WrapKey),
            KeyOperation::UnwrapKey => Some(KeyAction::UnwrapKey),
            KeyOperation::Import | KeyOperation::Export => None,
        }
    }
}

/// Attributes a caller may set.
#[derive(Debug, Clone, Default)]
pub struct AttributeChanges {
    pub enabled: Option<bool>,
    pub not_before: Option<Option<Timestamp>>,
    pub expires: Option<Option<Timestamp>>,
    pub exportable: Option<bool>,
}

/// What a create asks for.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub kty: KeyType,
    pub key_size: Option<u32>,
    /// EC keys: the curve (P-256 when neither it nor `key_size` says).
    pub curve: Option<EcCurve>,
    pub public_exponent: Option<u64>,
    pub key_ops: Option<Vec<KeyOperation>>,
    pub attributes: AttributeChanges,
    pub tags: BTreeMap<String, String>,
}

/// The private key of an import, as its JWK carries it.
pub enum ImportedKey {
    Rsa(RsaPrivateComponents),
    Ec(EcPrivateComponents),
}

/// What an import brings.
pub struct KeyImport {
    pub key: ImportedKey,
    pub hsm: bool,
    pub key_ops: Option<Vec<KeyOperation>>,
    pub attributes: AttributeChanges,
    pub tags: BTreeMap<String, String>,
}

/// What an update changes (PATCH of a version).
#[derive(Debug, Clone, Default)]
pub struct KeyUpdate {
    pub key_ops: Option<Vec<KeyOperation>>,
    pub attributes: AttributeChanges,
    pub tags: Option<BTreeMap<String, String>>,
}

/// The attributes of a key version as the API reports them.
#[derive(Debug, Clone)]
pub struct KeyAttributes {
    pub enabled: bool,
    pub not_before: Option<Timestamp>,
    pub expires: Option<Timestamp>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub exportable: bool,
    pub recovery_level: &'static str,
    pub recoverable_days: u32,
}

/// A key version with its public key: what get, create, import, update, recover and rotate return.
#[derive(Debug, Clone)]
pub struct KeyView {
    pub name: String,
    pub version: String,
    pub kty: KeyType,
    pub key_ops: Vec<KeyOperation>,
    pub public: PublicKey,
    pub attributes: KeyAttributes,
    pub tags: BTreeMap<String, String>,
}

/// A key version without key material: what the lists return.
#[derive(Debug, Clone)]
pub struct KeyItem {
    pub name: String,
    pub version: String,
    pub attributes: KeyAttributes,
    pub tags: BTreeMap<String, String>,
}

/// When a deleted key went and when it will be purged.
#[derive(Debug, Clone, Copy)]
pub struct Deletion {
    pub deleted_date: Timestamp,
    pub scheduled_purge_date: Timestamp,
}

/// A page of a list and where the next one starts.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}
