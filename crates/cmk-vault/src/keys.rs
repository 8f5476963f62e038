//! Keys and their versions: create, import, read, list, update, delete, recover, purge, rotate.
//!
//! A key is one record (its name, lifecycle state and the metadata of every version) plus one sealed record of
//! key material per version. Listing reads only the key records; material is unsealed only for private-key
//! operations, and kept parsed in memory afterwards (a parse costs half an RSA operation).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use cmk_core::Timestamp;
use cmk_crypto::encoding::{b64url_decode, b64url_encode};
use cmk_crypto::rsa::{RsaPrivateComponents, RsaPrivateKey, RsaPublicKey};
use cmk_store::records::{self, Versioned};
use cmk_store::{Expect, Write};
use serde::{Deserialize, Serialize};

use crate::access::{KeyAction, VaultAccess};
use crate::events::VaultEvent;
use crate::model::Vault;
use crate::{VaultError, Vaults};

const SECONDS_PER_DAY: i64 = 86_400;
/// Azure's limit of tags on a key.
pub const MAX_TAGS: usize = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    Rsa,
    RsaHsm,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::RsaHsm => "RSA-HSM",
        }
    }

    pub fn parse(text: &str) -> Result<Self, VaultError> {
        match text {
            "RSA" => Ok(KeyType::Rsa),
            "RSA-HSM" => Ok(KeyType::RsaHsm),
            other => Err(VaultError::BadParameter(format!(
                "The key type '{other}' is not supported: this vault holds RSA keys ('RSA' or 'RSA-HSM')."
            ))),
        }
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
    /// What a new RSA key permits unless told otherwise.
    const RSA_DEFAULT: [KeyOperation; 6] = [
        KeyOperation::Encrypt,
        KeyOperation::Decrypt,
        KeyOperation::Sign,
        KeyOperation::Verify,
        KeyOperation::WrapKey,
        KeyOperation::UnwrapKey,
    ];

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
    pub public_exponent: Option<u64>,
    pub key_ops: Option<Vec<KeyOperation>>,
    pub attributes: AttributeChanges,
    pub tags: BTreeMap<String, String>,
}

/// What an import brings.
pub struct KeyImport {
    pub components: RsaPrivateComponents,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionMeta {
    version: String,
    kty: KeyType,
    key_size: u32,
    key_ops: Vec<KeyOperation>,
    enabled: bool,
    not_before: Option<Timestamp>,
    expires: Option<Timestamp>,
    exportable: bool,
    tags: BTreeMap<String, String>,
    created: Timestamp,
    updated: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
enum KeyState {
    Active,
    Deleted {
        deleted_date: Timestamp,
        scheduled_purge_date: Timestamp,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyRecord {
    name: String,
    state: KeyState,
    /// Oldest first; the last is the current version.
    versions: Vec<VersionMeta>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyMaterial {
    n: String,
    e: String,
    /// base64url of the PKCS#8 document sealed under the root key.
    sealed_pkcs8: String,
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
    pub n: Vec<u8>,
    pub e: Vec<u8>,
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

/// Parsed private keys, by vault, key and version. Key material never changes once written, so entries never go
/// stale; the bound only limits memory.
#[derive(Default)]
pub(crate) struct KeyCache {
    keys: Mutex<HashMap<String, RsaPrivateKey>>,
}

const KEY_CACHE_LIMIT: usize = 4096;

impl KeyCache {
    fn get(&self, id: &str) -> Option<RsaPrivateKey> {
        self.keys.lock().ok()?.get(id).cloned()
    }

    fn put(&self, id: String, key: RsaPrivateKey) {
        if let Ok(mut keys) = self.keys.lock() {
            if keys.len() >= KEY_CACHE_LIMIT {
                keys.clear();
            }
            keys.insert(id, key);
        }
    }
}

mod store_keys {
    pub fn material_prefix(vault: &str) -> String {
        format!("vault/key-material/{}/", vault.to_ascii_lowercase())
    }

    pub fn keys(vault: &str) -> String {
        format!("vault/keys/{}/", vault.to_ascii_lowercase())
    }

    pub fn key(vault: &str, name: &str) -> String {
        format!("{}{}", keys(vault), name.to_ascii_lowercase())
    }

    pub fn material(vault: &str, name: &str, version: &str) -> String {
        format!(
            "vault/key-material/{}/{}/{version}",
            vault.to_ascii_lowercase(),
            name.to_ascii_lowercase()
        )
    }

    /// Bound into the sealed material: material sealed for one key version cannot stand in for another.
    pub fn seal_purpose(vault: &str, name: &str, version: &str) -> String {
        format!(
            "cmk/vault/key/{}/{}/{version}",
            vault.to_ascii_lowercase(),
            name.to_ascii_lowercase()
        )
    }
}

/// Key names: 1 to 127 letters, digits and hyphens.
pub fn validate_key_name(name: &str) -> Result<(), VaultError> {
    if name.is_empty() || name.len() > 127 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(VaultError::BadParameter(format!(
            "The key name '{name}' is invalid: use 1 to 127 letters, digits and hyphens."
        )));
    }
    Ok(())
}

fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), VaultError> {
    if tags.len() > MAX_TAGS {
        return Err(VaultError::BadParameter(format!(
            "A key can have at most {MAX_TAGS} tags, got {}.",
            tags.len()
        )));
    }
    for (name, value) in tags {
        if name.is_empty() || name.chars().count() > 256 || value.chars().count() > 256 {
            return Err(VaultError::BadParameter(format!(
                "The tag '{name}' is invalid: names are 1 to 256 characters and values at most 256."
            )));
        }
    }
    Ok(())
}

fn validate_key_ops(ops: &[KeyOperation]) -> Result<Vec<KeyOperation>, VaultError> {
    let mut unique = Vec::new();
    for op in ops {
        if !unique.contains(op) {
            unique.push(*op);
        }
    }
    Ok(unique)
}

fn recovery(vault: &Vault) -> (&'static str, u32) {
    let days = vault.soft_delete_retention_days;
    let level = match (vault.purge_protection, days >= 90) {
        (true, true) => "Recoverable",
        (true, false) => "CustomizedRecoverable",
        (false, true) => "Recoverable+Purgeable",
        (false, false) => "CustomizedRecoverable+Purgeable",
    };
    (level, days)
}

fn attributes(vault: &Vault, meta: &VersionMeta) -> KeyAttributes {
    let (recovery_level, recoverable_days) = recovery(vault);
    KeyAttributes {
        enabled: meta.enabled,
        not_before: meta.not_before,
        expires: meta.expires,
        created: meta.created,
        updated: meta.updated,
        exportable: meta.exportable,
        recovery_level,
        recoverable_days,
    }
}

fn item(vault: &Vault, name: &str, meta: &VersionMeta) -> KeyItem {
    KeyItem {
        name: name.to_owned(),
        version: meta.version.clone(),
        attributes: attributes(vault, meta),
        tags: meta.tags.clone(),
    }
}

fn apply_attributes(meta: &mut VersionMeta, changes: &AttributeChanges) -> Result<(), VaultError> {
    if let Some(enabled) = changes.enabled {
        meta.enabled = enabled;
    }
    if let Some(nbf) = changes.not_before {
        meta.not_before = nbf;
    }
    if let Some(exp) = changes.expires {
        meta.expires = exp;
    }
    if let Some(exportable) = changes.exportable {
        meta.exportable = exportable;
    }
    if let (Some(nbf), Some(exp)) = (meta.not_before, meta.expires)
        && exp <= nbf
    {
        return Err(VaultError::BadParameter(
            "The key's expiry ('exp') must be later than its activation ('nbf').".into(),
        ));
    }
    Ok(())
}

impl Vaults {
    /// Deletes of every key and all key material of the vault `name`, for the commit that purges the vault:
    /// a vault purged (or past its purge date) takes its keys with it, so a new vault of the same name starts
    /// empty.
    pub(crate) async fn vault_content_deletes(&self, name: &str) -> Result<Vec<Write>, VaultError> {
        let mut writes = Vec::new();
        for prefix in [store_keys::keys(name), store_keys::material_prefix(name)] {
            let mut cursor: Option<String> = None;
            loop {
                let entries = self.store().list(&prefix, cursor.as_deref(), 500).await?;
                let done = entries.len() < 500;
                cursor = entries.last().map(|e| e.key.clone());
                writes.extend(entries.into_iter().map(|e| Write::Delete {
                    key: e.key,
                    expect: Expect::Any,
                }));
                if done {
                    break;
                }
            }
        }
        Ok(writes)
    }

    /// The key record and every version's private key (PKCS#8, base64url), for a backup that seals them.
    pub(crate) async fn export_key_for_backup(
        &self,
        vault: &Vault,
        name: &str,
    ) -> Result<(serde_json::Value, Vec<(String, String)>), VaultError> {
        let record = self.active_key(vault, name).await?.value;
        let mut material = Vec::with_capacity(record.versions.len());
        for meta in &record.versions {
            let key = self.private_key(vault, &record.name, &meta.version).await?;
            let pkcs8 = key.to_pkcs8().map_err(VaultError::Crypto)?;
            material.push((meta.version.clone(), b64url_encode(pkcs8.expose())));
        }
        let record = serde_json::to_value(&record).map_err(|_| VaultError::Corrupt(format!("key {name}")))?;
        Ok((record, material))
    }

    /// Writes a backed-up key into `vault` under its original name, versions and version ids.
    pub(crate) async fn import_backup(
        &self,
        vault: &Vault,
        content: crate::backup::BackupContent,
    ) -> Result<KeyView, VaultError> {
        let invalid = || VaultError::BadParameter("The backup blob is invalid.".into());
        let mut record: KeyRecord = serde_json::from_value(content.key).map_err(|_| invalid())?;
        validate_key_name(&record.name)?;
        record.state = KeyState::Active;
        let existing = self.load_key(vault, &record.name).await?;
        match &existing {
            Some(current) if matches!(current.value.state, KeyState::Active) => {
                return Err(VaultError::KeyAlreadyExists(current.value.name.clone()));
            }
            Some(current) if !self.expired(&current.value) => {
                return Err(VaultError::KeyDeletedButRecoverable(current.value.name.clone()));
            }
            _ => {}
        }
        let name = record.name.clone();
        // What an expired, deleted key of this name left behind goes in the same commit.
        let mut writes: Vec<Write> = existing
            .iter()
            .flat_map(|old| old.value.versions.iter())
            .filter(|old| !content.material.iter().any(|(version, _)| version == &old.version))
            .map(|old| Write::Delete {
                key: store_keys::material(&vault.name, &name, &old.version),
                expect: Expect::Any,
            })
            .collect();
        for (version, pkcs8) in &content.material {
            if !record.versions.iter().any(|m| &m.version == version) {
                return Err(invalid());
            }
            let pkcs8 = cmk_crypto::SecretBytes::new(b64url_decode(pkcs8).map_err(|_| invalid())?);
            let key = RsaPrivateKey::from_pkcs8(&pkcs8).map_err(|_| invalid())?;
            let sealed = self
                .root_key()
                .seal(&store_keys::seal_purpose(&vault.name, &name, version), pkcs8.expose())
                .map_err(VaultError::Crypto)?;
            let public = key.public_key();
            let material = KeyMaterial {
                n: b64url_encode(public.modulus()),
                e: b64url_encode(public.exponent()),
                sealed_pkcs8: b64url_encode(sealed),
            };
            writes.push(records::upsert(
                store_keys::material(&vault.name, &name, version),
                &material,
            )?);
        }
        if content.material.len() != record.versions.len() {
            return Err(invalid());
        }
        writes.push(match &existing {
            Some(old) => records::replace(store_keys::key(&vault.name, &name), &record, old.revision)?,
            None => records::create(store_keys::key(&vault.name, &name), &record)?,
        });
        self.store().commit(writes).await?;
        tracing::info!(vault = %vault.name, key = %name, "restored key");
        self.publish(VaultEvent::KeyVersionCreated {
            vault: vault.name.to_ascii_lowercase(),
            key: name.to_ascii_lowercase(),
            version: record.versions.last().map(|m| m.version.clone()).unwrap_or_default(),
        });
        let meta = Self::find_version(&record, None)?;
        self.view(vault, &record, meta).await
    }

    async fn load_key(&self, vault: &Vault, name: &str) -> Result<Option<Versioned<KeyRecord>>, VaultError> {
        Ok(records::get::<KeyRecord>(self.store(), &store_keys::key(&vault.name, name)).await?)
    }

    /// Whether a deleted key has passed its purge date (and so is gone, whoever notices first).
    fn expired(&self, record: &KeyRecord) -> bool {
        matches!(record.state, KeyState::Deleted { scheduled_purge_date, .. } if scheduled_purge_date <= self.clock().now())
    }

    async fn active_key(&self, vault: &Vault, name: &str) -> Result<Versioned<KeyRecord>, VaultError> {
        validate_key_name(name).map_err(|_| VaultError::KeyNotFound(name.to_owned()))?;
        match self.load_key(vault, name).await? {
            Some(record) if matches!(record.value.state, KeyState::Active) => Ok(record),
            _ => Err(VaultError::KeyNotFound(name.to_owned())),
        }
    }

    /// Whether the vault holds an active key `name` (for a role assignment at the key's scope).
    pub async fn key_exists(&self, vault: &Vault, name: &str) -> Result<bool, VaultError> {
        match self.active_key(vault, name).await {
            Ok(_) => Ok(true),
            Err(VaultError::KeyNotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn deleted_key(&self, vault: &Vault, name: &str) -> Result<Versioned<KeyRecord>, VaultError> {
        validate_key_name(name).map_err(|_| VaultError::DeletedKeyNotFound(name.to_owned()))?;
        match self.load_key(vault, name).await? {
            Some(record) if matches!(record.value.state, KeyState::Deleted { .. }) && !self.expired(&record.value) => {
                Ok(record)
            }
            _ => Err(VaultError::DeletedKeyNotFound(name.to_owned())),
        }
    }

    fn find_version<'a>(record: &'a KeyRecord, version: Option<&str>) -> Result<&'a VersionMeta, VaultError> {
        let found = match version.filter(|v| !v.is_empty()) {
            None => record.versions.last(),
            Some(wanted) => record.versions.iter().find(|m| m.version.eq_ignore_ascii_case(wanted)),
        };
        found.ok_or_else(|| match version {
            Some(v) if !v.is_empty() => VaultError::KeyNotFound(format!("{}/{v}", record.name)),
            _ => VaultError::KeyNotFound(record.name.clone()),
        })
    }

    async fn material(&self, vault: &Vault, name: &str, version: &str) -> Result<KeyMaterial, VaultError> {
        records::get::<KeyMaterial>(self.store(), &store_keys::material(&vault.name, name, version))
            .await?
            .map(|v| v.value)
            .ok_or_else(|| VaultError::Corrupt(store_keys::material(&vault.name, name, version)))
    }

    async fn view(&self, vault: &Vault, record: &KeyRecord, meta: &VersionMeta) -> Result<KeyView, VaultError> {
        let material = self.material(vault, &record.name, &meta.version).await?;
        let corrupt = || VaultError::Corrupt(store_keys::material(&vault.name, &record.name, &meta.version));
        Ok(KeyView {
            name: record.name.clone(),
            version: meta.version.clone(),
            kty: meta.kty,
            key_ops: meta.key_ops.clone(),
            n: b64url_decode(&material.n).map_err(|_| corrupt())?,
            e: b64url_decode(&material.e).map_err(|_| corrupt())?,
            attributes: attributes(vault, meta),
            tags: meta.tags.clone(),
        })
    }

    /// Adds a version holding `key` under `name`: a new key, a new version of an active key, or a key whose
    /// deleted predecessor has passed its purge date.
    async fn add_version(
        &self,
        vault: &Vault,
        name: &str,
        key: &RsaPrivateKey,
        mut meta: VersionMeta,
    ) -> Result<KeyView, VaultError> {
        let existing = self.load_key(vault, name).await?;
        let mut writes = Vec::new();
        let record = match existing {
            Some(current)
                if matches!(current.value.state, KeyState::Deleted { .. }) && !self.expired(&current.value) =>
            {
                return Err(VaultError::KeyDeletedButRecoverable(current.value.name));
            }
            Some(expired) if matches!(expired.value.state, KeyState::Deleted { .. }) => {
                for old in &expired.value.versions {
                    writes.push(Write::Delete {
                        key: store_keys::material(&vault.name, name, &old.version),
                        expect: Expect::Any,
                    });
                }
                let record = KeyRecord {
                    name: name.to_owned(),
                    state: KeyState::Active,
                    versions: vec![],
                };
                (record, Some(expired.revision))
            }
            Some(current) => (current.value, Some(current.revision)),
            None => (
                KeyRecord {
                    name: name.to_owned(),
                    state: KeyState::Active,
                    versions: vec![],
                },
                None,
            ),
        };
        let (mut record, revision) = record;
        meta.version = cmk_crypto::random::random_hex_id().map_err(VaultError::Crypto)?;
        let public = key.public_key();
        let sealed = self
            .root_key()
            .seal(
                &store_keys::seal_purpose(&vault.name, name, &meta.version),
                key.to_pkcs8().map_err(VaultError::Crypto)?.expose(),
            )
            .map_err(VaultError::Crypto)?;
        let material = KeyMaterial {
            n: b64url_encode(public.modulus()),
            e: b64url_encode(public.exponent()),
            sealed_pkcs8: b64url_encode(sealed),
        };
        record.versions.push(meta.clone());
        let key_id = store_keys::key(&vault.name, name);
        writes.push(match revision {
            Some(revision) => records::replace(key_id, &record, revision)?,
            None => records::create(key_id, &record)?,
        });
        writes.push(records::create(
            store_keys::material(&vault.name, name, &meta.version),
            &material,
        )?);
        self.store().commit(writes).await?;
        self.publish(VaultEvent::KeyVersionCreated {
            vault: vault.name.to_ascii_lowercase(),
            key: name.to_ascii_lowercase(),
            version: meta.version.clone(),
        });
        self.key_cache().put(
            format!(
                "{}/{}/{}",
                vault.name.to_ascii_lowercase(),
                name.to_ascii_lowercase(),
                meta.version
            ),
            key.clone(),
        );
        self.view(vault, &record, &meta).await
    }

    fn new_meta(
        &self,
        kty: KeyType,
        key_size: u32,
        key_ops: Option<Vec<KeyOperation>>,
        tags: BTreeMap<String, String>,
        attributes: &AttributeChanges,
    ) -> Result<VersionMeta, VaultError> {
        validate_tags(&tags)?;
        let now = self.clock().now();
        let mut meta = VersionMeta {
            version: String::new(),
            kty,
            key_size,
            key_ops: validate_key_ops(&key_ops.unwrap_or_else(|| KeyOperation::RSA_DEFAULT.to_vec()))?,
            enabled: true,
            not_before: None,
            expires: None,
            exportable: false,
            tags,
            created: now,
            updated: now,
        };
        apply_attributes(&mut meta, attributes)?;
        Ok(meta)
    }

    /// `POST /keys/{name}/create`: a new key, or a new version of an existing one.
    pub async fn create_key(&self, access: &VaultAccess, name: &str, spec: KeySpec) -> Result<KeyView, VaultError> {
        let vault = access.require(KeyAction::Create, Some(name))?;
        validate_key_name(name)?;
        let bits = spec.key_size.unwrap_or(2048);
        if !matches!(bits, 2048 | 3072 | 4096) {
            return Err(VaultError::BadParameter(format!(
                "The key size {bits} is not supported: RSA keys are 2048, 3072 or 4096 bits."
            )));
        }
        if spec.public_exponent.is_some_and(|e| e != 65537) {
            return Err(VaultError::BadParameter(
                "Only the public exponent 65537 is supported for new keys.".into(),
            ));
        }
        let meta = self.new_meta(spec.kty, bits, spec.key_ops, spec.tags, &spec.attributes)?;
        // Key generation takes tens of milliseconds (seconds at 4096 bits): keep it off the async workers.
        let key = tokio::task::spawn_blocking(move || RsaPrivateKey::generate(bits))
            .await
            .map_err(|e| VaultError::Store(cmk_store::StoreError::Backend(format!("key generation task: {e}"))))?
            .map_err(VaultError::Crypto)?;
        let view = self.add_version(vault, name, &key, meta).await?;
        tracing::info!(vault = %vault.name, key = %name, version = %view.version, "created key version");
        Ok(view)
    }

    /// `PUT /keys/{name}`: imports a private key as a new version.
    pub async fn import_key(&self, access: &VaultAccess, name: &str, import: KeyImport) -> Result<KeyView, VaultError> {
        let vault = access.require(KeyAction::Import, Some(name))?;
        validate_key_name(name)?;
        let key = RsaPrivateKey::from_components(&import.components)
            .map_err(|e| VaultError::BadParameter(format!("The key cannot be imported: {e}.")))?;
        let bits = u32::try_from(key.public_key().bits()).unwrap_or(0);
        let kty = if import.hsm { KeyType::RsaHsm } else { KeyType::Rsa };
        let meta = self.new_meta(kty, bits, import.key_ops, import.tags, &import.attributes)?;
        let view = self.add_version(vault, name, &key, meta).await?;
        tracing::info!(vault = %vault.name, key = %name, version = %view.version, "imported key version");
        Ok(view)
    }

    /// Removes every deleted key whose purge date has passed, in every vault, with its key material: what the
    /// service does when a retention period ends. Returns how many keys it purged.
    pub async fn purge_expired_keys(&self) -> Result<usize, VaultError> {
        let now = self.clock().now();
        let mut purged = 0;
        let mut cursor: Option<String> = None;
        loop {
            let entries = self.store().list("vault/keys/", cursor.as_deref(), 200).await?;
            let done = entries.len() < 200;
            cursor = entries.last().map(|e| e.key.clone());
            for entry in entries {
                let record: KeyRecord =
                    serde_json::from_slice(&entry.value).map_err(|_| VaultError::Corrupt(entry.key.clone()))?;
                let KeyState::Deleted {
                    scheduled_purge_date, ..
                } = record.state
                else {
                    continue;
                };
                if scheduled_purge_date > now {
                    continue;
                }
                let Some(vault) = entry
                    .key
                    .strip_prefix("vault/keys/")
                    .and_then(|rest| rest.split('/').next())
                else {
                    continue;
                };
                let mut writes = vec![Write::Delete {
                    key: entry.key.clone(),
                    expect: Expect::Revision(entry.revision),
                }];
                for meta in &record.versions {
                    writes.push(Write::Delete {
                        key: store_keys::material(vault, &record.name, &meta.version),
                        expect: Expect::Any,
                    });
                }
                match self.store().commit(writes).await {
                    Ok(_) => {
                        tracing::info!(vault = %vault, key = %record.name, "purged key at the end of its retention period");
                        self.publish(VaultEvent::KeyPurged {
                            vault: vault.to_owned(),
                            key: record.name.to_ascii_lowercase(),
                        });
                        purged += 1;
                    }
                    // Recovered or changed meanwhile: it is no longer ours to purge.
                    Err(cmk_store::StoreError::Conflict { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if done {
                return Ok(purged);
            }
        }
    }

    /// Stores a changed key record over `revision`.
    async fn store_key(&self, vault: &Vault, record: &KeyRecord, revision: u64) -> Result<(), VaultError> {
        let key = store_keys::key(&vault.name, &record.name);
        self.store()
            .commit(vec![records::replace(key, record, revision)?])
            .await?;
        Ok(())
    }

    /// The stored spelling of an active key's name.
    pub(crate) async fn key_name(&self, vault: &Vault, name: &str) -> Result<String, VaultError> {
        Ok(self.active_key(vault, name).await?.value.name)
    }

    /// When the current version of an active key was made and when it expires; `None` for a key that is not
    /// active.
    pub(crate) async fn current_version_times(
        &self,
        vault: &Vault,
        name: &str,
    ) -> Result<Option<(Timestamp, Option<Timestamp>)>, VaultError> {
        match self.load_key(vault, name).await? {
            Some(record) if matches!(record.value.state, KeyState::Active) => {
                Ok(record.value.versions.last().map(|m| (m.created, m.expires)))
            }
            _ => Ok(None),
        }
    }

    /// A rotation that a rotation policy scheduled: like [`Vaults::rotate_key`], with the policy's expiry.
    pub(crate) async fn rotate_for_policy(
        &self,
        vault: &Vault,
        name: &str,
        expires: Option<Timestamp>,
    ) -> Result<KeyView, VaultError> {
        self.new_version_like_current(vault, name, expires).await
    }

    /// `POST /keys/{name}/rotate`: a new version with the type, size and operations of the current one.
    pub async fn rotate_key(&self, access: &VaultAccess, name: &str) -> Result<KeyView, VaultError> {
        let vault = access.require(KeyAction::Rotate, Some(name))?;
        self.new_version_like_current(vault, name, None).await
    }

    async fn new_version_like_current(
        &self,
        vault: &Vault,
        name: &str,
        expires: Option<Timestamp>,
    ) -> Result<KeyView, VaultError> {
        let record = self.active_key(vault, name).await?.value;
        let current = Self::find_version(&record, None)?.clone();
        let attributes = AttributeChanges {
            expires: expires.map(Some),
            ..AttributeChanges::default()
        };
        let meta = self.new_meta(
            current.kty,
            current.key_size,
            Some(current.key_ops.clone()),
            current.tags.clone(),
            &attributes,
        )?;
        let bits = current.key_size;
        let key = tokio::task::spawn_blocking(move || RsaPrivateKey::generate(bits))
            .await
            .map_err(|e| VaultError::Store(cmk_store::StoreError::Backend(format!("key generation task: {e}"))))?
            .map_err(VaultError::Crypto)?;
        self.add_version(vault, &record.name, &key, meta).await
    }

    pub async fn get_key(
        &self,
        access: &VaultAccess,
        name: &str,
        version: Option<&str>,
    ) -> Result<KeyView, VaultError> {
        let vault = access.require(KeyAction::Get, Some(name))?;
        let record = self.active_key(vault, name).await?.value;
        let meta = Self::find_version(&record, version)?;
        self.view(vault, &record, meta).await
    }

    /// `PATCH /keys/{name}/{version}`.
    pub async fn update_key(
        &self,
        access: &VaultAccess,
        name: &str,
        version: Option<&str>,
        update: KeyUpdate,
    ) -> Result<KeyView, VaultError> {
        let vault = access.require(KeyAction::Update, Some(name))?;
        let current = self.active_key(vault, name).await?;
        let mut record = current.value;
        let index = {
            let wanted = Self::find_version(&record, version)?.version.clone();
            record
                .versions
                .iter()
                .position(|m| m.version == wanted)
                .ok_or_else(|| VaultError::KeyNotFound(name.to_owned()))?
        };
        let meta = &mut record.versions[index];
        apply_attributes(meta, &update.attributes)?;
        if let Some(ops) = update.key_ops {
            meta.key_ops = validate_key_ops(&ops)?;
        }
        if let Some(tags) = update.tags {
            validate_tags(&tags)?;
            meta.tags = tags;
        }
        meta.updated = self.clock().now();
        let meta = meta.clone();
        self.store_key(vault, &record, current.revision).await?;
        self.publish(VaultEvent::KeyUpdated {
            vault: vault.name.to_ascii_lowercase(),
            key: record.name.to_ascii_lowercase(),
            version: meta.version.clone(),
        });
        self.view(vault, &record, &meta).await
    }

    /// The current version of every active key, in name order.
    pub async fn list_keys(
        &self,
        access: &VaultAccess,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page<KeyItem>, VaultError> {
        let vault = access.require(KeyAction::List, None)?;
        let mut items = Vec::new();
        let mut cursor = start_after.map(|s| store_keys::key(&vault.name, s));
        loop {
            let (batch, next) =
                records::list::<KeyRecord>(self.store(), &store_keys::keys(&vault.name), cursor.as_deref(), limit)
                    .await?;
            for record in &batch {
                if matches!(record.state, KeyState::Active)
                    && let Some(meta) = record.versions.last()
                {
                    items.push(item(vault, &record.name, meta));
                }
            }
            match next {
                Some(next) if items.len() < limit => cursor = Some(next),
                _ => break,
            }
        }
        let next = if items.len() >= limit {
            items.get(limit - 1).map(|i| i.name.to_ascii_lowercase())
        } else {
            None
        };
        items.truncate(limit);
        Ok(Page { items, next })
    }

    /// Every version of one key, oldest first; pages continue after a version id.
    pub async fn list_key_versions(
        &self,
        access: &VaultAccess,
        name: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page<KeyItem>, VaultError> {
        let vault = access.require(KeyAction::List, Some(name))?;
        let record = self.active_key(vault, name).await?.value;
        let skip = match start_after {
            Some(after) => record
                .versions
                .iter()
                .position(|m| m.version == after)
                .map_or(record.versions.len(), |i| i + 1),
            None => 0,
        };
        let items: Vec<KeyItem> = record
            .versions
            .iter()
            .skip(skip)
            .take(limit)
            .map(|m| item(vault, &record.name, m))
            .collect();
        let next = if skip + items.len() < record.versions.len() {
            items.last().map(|i| i.version.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// `DELETE /keys/{name}`: every version goes to the deleted state, recoverable until the purge date.
    pub async fn delete_key(&self, access: &VaultAccess, name: &str) -> Result<(KeyView, Deletion), VaultError> {
        let vault = access.require(KeyAction::Delete, Some(name))?;
        let current = self.active_key(vault, name).await?;
        let now = self.clock().now();
        let deletion = Deletion {
            deleted_date: now,
            scheduled_purge_date: now.plus_seconds(i64::from(vault.soft_delete_retention_days) * SECONDS_PER_DAY),
        };
        let mut record = current.value;
        record.state = KeyState::Deleted {
            deleted_date: deletion.deleted_date,
            scheduled_purge_date: deletion.scheduled_purge_date,
        };
        self.store_key(vault, &record, current.revision).await?;
        tracing::info!(vault = %vault.name, key = %record.name, "deleted key");
        self.publish(VaultEvent::KeyDeleted {
            vault: vault.name.to_ascii_lowercase(),
            key: record.name.to_ascii_lowercase(),
        });
        let meta = Self::find_version(&record, None)?;
        Ok((self.view(vault, &record, meta).await?, deletion))
    }

    fn deletion(record: &KeyRecord) -> Option<Deletion> {
        match record.state {
            KeyState::Deleted {
                deleted_date,
                scheduled_purge_date,
            } => Some(Deletion {
                deleted_date,
                scheduled_purge_date,
            }),
            KeyState::Active => None,
        }
    }

    pub async fn get_deleted_key(&self, access: &VaultAccess, name: &str) -> Result<(KeyView, Deletion), VaultError> {
        let vault = access.require(KeyAction::GetDeleted, Some(name))?;
        let record = self.deleted_key(vault, name).await?.value;
        let deletion = Self::deletion(&record).ok_or_else(|| VaultError::DeletedKeyNotFound(name.to_owned()))?;
        let meta = Self::find_version(&record, None)?;
        Ok((self.view(vault, &record, meta).await?, deletion))
    }

    pub async fn list_deleted_keys(
        &self,
        access: &VaultAccess,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page<(KeyItem, Deletion)>, VaultError> {
        let vault = access.require(KeyAction::ListDeleted, None)?;
        let all = records::scan::<KeyRecord>(self.store(), &store_keys::keys(&vault.name), |r| {
            matches!(r.state, KeyState::Deleted { .. }) && !self.expired(r)
        })
        .await?;
        let mut items: Vec<(KeyItem, Deletion)> = all
            .iter()
            .filter(|r| start_after.is_none_or(|after| r.name.to_ascii_lowercase().as_str() > after))
            .filter_map(|r| Some((item(vault, &r.name, r.versions.last()?), Self::deletion(r)?)))
            .collect();
        let next = if items.len() > limit {
            items.get(limit - 1).map(|(i, _)| i.name.to_ascii_lowercase())
        } else {
            None
        };
        items.truncate(limit);
        Ok(Page { items, next })
    }

    /// `POST /deletedkeys/{name}/recover`.
    pub async fn recover_deleted_key(&self, access: &VaultAccess, name: &str) -> Result<KeyView, VaultError> {
        let vault = access.require(KeyAction::Recover, Some(name))?;
        let current = self.deleted_key(vault, name).await?;
        let mut record = current.value;
        record.state = KeyState::Active;
        self.store_key(vault, &record, current.revision).await?;
        tracing::info!(vault = %vault.name, key = %record.name, "recovered key");
        self.publish(VaultEvent::KeyRecovered {
            vault: vault.name.to_ascii_lowercase(),
            key: record.name.to_ascii_lowercase(),
        });
        let meta = Self::find_version(&record, None)?;
        self.view(vault, &record, meta).await
    }

    /// `DELETE /deletedkeys/{name}`: refused under purge protection, whatever the clock says before the purge
    /// date; after it the key is gone anyway.
    pub async fn purge_deleted_key(&self, access: &VaultAccess, name: &str) -> Result<(), VaultError> {
        let vault = access.require(KeyAction::Purge, Some(name))?;
        let current = self.deleted_key(vault, name).await?;
        if vault.purge_protection {
            return Err(VaultError::KeyPurgeProtected(format!(
                "{};location={}",
                vault.name, vault.location
            )));
        }
        let mut writes = vec![Write::Delete {
            key: store_keys::key(&vault.name, name),
            expect: Expect::Revision(current.revision),
        }];
        for meta in &current.value.versions {
            writes.push(Write::Delete {
                key: store_keys::material(&vault.name, name, &meta.version),
                expect: Expect::Any,
            });
        }
        self.store().commit(writes).await?;
        tracing::info!(vault = %vault.name, key = %current.value.name, "purged key");
        self.publish(VaultEvent::KeyPurged {
            vault: vault.name.to_ascii_lowercase(),
            key: current.value.name.to_ascii_lowercase(),
        });
        Ok(())
    }

    /// Resolves the version an operation uses and checks it may: enabled, permitted by `key_ops`, and for
    /// public-key operations inside its validity window.
    async fn usable_version(
        &self,
        access: &VaultAccess,
        name: &str,
        version: Option<&str>,
        operation: KeyOperation,
    ) -> Result<(Vault, String, VersionMeta), VaultError> {
        let action = operation.action().ok_or_else(|| {
            VaultError::BadParameter(format!("'{}' is not a cryptographic operation.", operation.as_str()))
        })?;
        let vault = access.require(action, Some(name))?.clone();
        let record = self.active_key(&vault, name).await?.value;
        let meta = Self::find_version(&record, version)?.clone();
        if !meta.enabled {
            return Err(VaultError::KeyDisabled(operation.as_str()));
        }
        if !meta.key_ops.contains(&operation) {
            return Err(VaultError::OperationNotAllowed {
                operation: operation.as_str(),
                reason: "the key's key_ops do not include it".into(),
            });
        }
        if operation.needs_validity_window() {
            let now = self.clock().now();
            if meta.not_before.is_some_and(|nbf| now < nbf) || meta.expires.is_some_and(|exp| now >= exp) {
                return Err(VaultError::OperationNotAllowed {
                    operation: operation.as_str(),
                    reason: "the key is outside its validity period (nbf/exp)".into(),
                });
            }
        }
        Ok((vault, record.name, meta))
    }

    async fn public_key(&self, vault: &Vault, name: &str, version: &str) -> Result<RsaPublicKey, VaultError> {
        let material = self.material(vault, name, version).await?;
        let corrupt = || VaultError::Corrupt(store_keys::material(&vault.name, name, version));
        RsaPublicKey::from_components(
            b64url_decode(&material.n).map_err(|_| corrupt())?,
            b64url_decode(&material.e).map_err(|_| corrupt())?,
        )
        .map_err(VaultError::Crypto)
    }

    async fn private_key(&self, vault: &Vault, name: &str, version: &str) -> Result<RsaPrivateKey, VaultError> {
        let cache_id = format!(
            "{}/{}/{version}",
            vault.name.to_ascii_lowercase(),
            name.to_ascii_lowercase()
        );
        if let Some(key) = self.key_cache().get(&cache_id) {
            return Ok(key);
        }
        let material = self.material(vault, name, version).await?;
        let sealed = b64url_decode(&material.sealed_pkcs8)
            .map_err(|_| VaultError::Corrupt(store_keys::material(&vault.name, name, version)))?;
        let pkcs8 = self
            .root_key()
            .unseal(&store_keys::seal_purpose(&vault.name, name, version), &sealed)
            .map_err(VaultError::Crypto)?;
        let key = RsaPrivateKey::from_pkcs8(&pkcs8).map_err(VaultError::Crypto)?;
        self.key_cache().put(cache_id, key.clone());
        Ok(key)
    }

    /// `encrypt` and `wrapkey`: returns the version used and the ciphertext.
    pub async fn encrypt(
        &self,
        access: &VaultAccess,
        name: &str,
        version: Option<&str>,
        operation: KeyOperation,
        algorithm: cmk_crypto::rsa::RsaEncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<(String, Vec<u8>), VaultError> {
        let (vault, name, meta) = self.usable_version(access, name, version, operation).await?;
        let key = self.public_key(&vault, &name, &meta.version).await?;
        let ciphertext = key
            .encrypt(algorithm, plaintext)
            .map_err(|e| VaultError::BadParameter(e.to_string()))?;
        Ok((meta.version, ciphertext))
    }

    /// `decrypt` and `unwrapkey`: returns the version used and the plaintext.
    pub async fn decrypt(
        &self,
        access: &VaultAccess,
        name: &str,
        version: Option<&str>,
        operation: KeyOperation,
        algorithm: cmk_crypto::rsa::RsaEncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<(String, cmk_crypto::SecretBytes), VaultError> {
        let (vault, name, meta) = self.usable_version(access, name, version, operation).await?;
        let key = self.private_key(&vault, &name, &meta.version).await?;
        let plaintext = key.decrypt(algorithm, ciphertext).map_err(|_| {
            VaultError::BadParameter("The value could not be decrypted with this key and algorithm.".into())
        })?;
        Ok((meta.version, plaintext))
    }

    /// `sign`: over a digest, as Key Vault signs.
    pub async fn sign(
        &self,
        access: &VaultAccess,
        name: &str,
        version: Option<&str>,
        algorithm: cmk_crypto::rsa::RsaSignatureAlgorithm,
        digest: &[u8],
    ) -> Result<(String, Vec<u8>), VaultError> {
        let (vault, name, meta) = self.usable_version(access, name, version, KeyOperation::Sign).await?;
        let key = self.private_key(&vault, &name, &meta.version).await?;
        let signature = key
            .sign_digest(algorithm, digest)
            .map_err(|e| VaultError::BadParameter(e.to_string()))?;
        Ok((meta.version, signature))
    }

    /// `verify`: whether `signature` is valid for `digest`.
    pub async fn verify(
        &self,
        access: &VaultAccess,
        name: &str,
        version: Option<&str>,
        algorithm: cmk_crypto::rsa::RsaSignatureAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(String, bool), VaultError> {
        let (vault, name, meta) = self.usable_version(access, name, version, KeyOperation::Verify).await?;
        if digest.len() != algorithm.digest_len() {
            return Err(VaultError::BadParameter(format!(
                "The digest for {} must be {} bytes, got {}.",
                algorithm.as_jwa(),
                algorithm.digest_len(),
                digest.len()
            )));
        }
        let key = self.public_key(&vault, &name, &meta.version).await?;
        Ok((meta.version, key.verify_digest(algorithm, digest, signature)))
    }
}

/// A cheap handle to the key cache, shared by clones of [`Vaults`].
pub(crate) type SharedKeyCache = Arc<KeyCache>;
