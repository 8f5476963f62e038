//! The stored records of keys, where they live in the store, what they may contain, and the one loader that
//! tells an active key from a deleted one and from one that is gone.

use std::collections::BTreeMap;

use cmk_core::Timestamp;
use cmk_crypto::ec::EcCurve;
use cmk_crypto::key::KeyKind;
use cmk_store::records::{self, Versioned};
use serde::{Deserialize, Serialize};

use super::{AttributeChanges, KeyAttributes, KeyItem, KeyOperation, KeyType, MAX_TAGS};
use crate::model::Vault;
use crate::{VaultError, Vaults};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VersionMeta {
    pub(super) version: String,
    pub(super) kty: KeyType,
    /// RSA: the modulus in bits; EC: the curve's size in bits.
    pub(super) key_size: u32,
    /// EC keys: the curve, by its JWK name. Absent for RSA keys.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "curve_name")]
    pub(super) curve: Option<EcCurve>,
    pub(super) key_ops: Vec<KeyOperation>,
    pub(super) enabled: bool,
    pub(super) not_before: Option<Timestamp>,
    pub(super) expires: Option<Timestamp>,
    pub(super) exportable: bool,
    pub(super) tags: BTreeMap<String, String>,
    pub(super) created: Timestamp,
    pub(super) updated: Timestamp,
}

/// A curve in a stored record, by its JWK name (`P-256`), so records read the same as the API.
mod curve_name {
    use cmk_crypto::ec::EcCurve;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(curve: &Option<EcCurve>, serializer: S) -> Result<S::Ok, S::Error> {
        match curve {
            Some(curve) => serializer.serialize_some(curve.as_jwk()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<EcCurve>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(name) => EcCurve::from_jwk(&name)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown curve {name}"))),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub(super) enum KeyState {
    Active,
    Deleted {
        deleted_date: Timestamp,
        scheduled_purge_date: Timestamp,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct KeyRecord {
    pub(super) name: String,
    pub(super) state: KeyState,
    /// Oldest first; the last is the current version.
    pub(super) versions: Vec<VersionMeta>,
}

pub(super) mod store_keys {
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

pub(super) fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), VaultError> {
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

/// The operations a key of `kind` may permit, each once; an EC key only signs and verifies.
pub(super) fn validate_key_ops(ops: &[KeyOperation], kind: KeyKind) -> Result<Vec<KeyOperation>, VaultError> {
    let unfit: Vec<String> = ops
        .iter()
        .filter(|op| !op.fits(kind))
        .map(|op| format!("\"{}\"", op.as_str()))
        .collect();
    if !unfit.is_empty() {
        return Err(VaultError::BadParameter(format!(
            "Unsupported key operation(s) for an {} key: {}. Supported values are \"sign\", \"verify\".",
            kind.as_kty(),
            unfit.join(", ")
        )));
    }
    let mut unique = Vec::new();
    for op in ops {
        if !unique.contains(op) {
            unique.push(*op);
        }
    }
    Ok(unique)
}

pub(super) fn recovery(vault: &Vault) -> (&'static str, u32) {
    let days = vault.soft_delete_retention_days;
    let level = match (vault.purge_protection, days >= 90) {
        (true, true) => "Recoverable",
        (true, false) => "CustomizedRecoverable",
        (false, true) => "Recoverable+Purgeable",
        (false, false) => "CustomizedRecoverable+Purgeable",
    };
    (level, days)
}

pub(super) fn attributes(vault: &Vault, meta: &VersionMeta) -> KeyAttributes {
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

pub(super) fn item(vault: &Vault, name: &str, meta: &VersionMeta) -> KeyItem {
    KeyItem {
        name: name.to_owned(),
        version: meta.version.clone(),
        attributes: attributes(vault, meta),
        tags: meta.tags.clone(),
    }
}

pub(super) fn apply_attributes(meta: &mut VersionMeta, changes: &AttributeChanges) -> Result<(), VaultError> {
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

/// Where a key stands, as every operation sees it. A deleted key past its purge date is gone, whoever notices
/// first, before the sweeper removes its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lifecycle {
    Active,
    Deleted,
    Gone,
}

impl Vaults {
    /// The one place that decides whether a stored key record is active, deleted or gone.
    pub(super) fn lifecycle(&self, record: &KeyRecord) -> Lifecycle {
        match record.state {
            KeyState::Active => Lifecycle::Active,
            KeyState::Deleted {
                scheduled_purge_date, ..
            } if scheduled_purge_date <= self.clock().now() => Lifecycle::Gone,
            KeyState::Deleted { .. } => Lifecycle::Deleted,
        }
    }

    /// The stored record of key `name` and where it stands; `None` when the store holds none.
    pub(super) async fn load_key(
        &self,
        vault: &Vault,
        name: &str,
    ) -> Result<Option<(Lifecycle, Versioned<KeyRecord>)>, VaultError> {
        let record = records::get::<KeyRecord>(self.store(), &store_keys::key(&vault.name, name)).await?;
        Ok(record.map(|record| (self.lifecycle(&record.value), record)))
    }

    pub(super) async fn active_key(&self, vault: &Vault, name: &str) -> Result<Versioned<KeyRecord>, VaultError> {
        self.key_in(vault, name, Lifecycle::Active, VaultError::KeyNotFound)
            .await
    }

    pub(super) async fn deleted_key(&self, vault: &Vault, name: &str) -> Result<Versioned<KeyRecord>, VaultError> {
        self.key_in(vault, name, Lifecycle::Deleted, VaultError::DeletedKeyNotFound)
            .await
    }

    async fn key_in(
        &self,
        vault: &Vault,
        name: &str,
        wanted: Lifecycle,
        not_found: fn(String) -> VaultError,
    ) -> Result<Versioned<KeyRecord>, VaultError> {
        validate_key_name(name).map_err(|_| not_found(name.to_owned()))?;
        match self.load_key(vault, name).await? {
            Some((lifecycle, record)) if lifecycle == wanted => Ok(record),
            _ => Err(not_found(name.to_owned())),
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

    pub(super) fn find_version<'a>(
        record: &'a KeyRecord,
        version: Option<&str>,
    ) -> Result<&'a VersionMeta, VaultError> {
        let found = match version.filter(|v| !v.is_empty()) {
            None => record.versions.last(),
            Some(wanted) => record.versions.iter().find(|m| m.version.eq_ignore_ascii_case(wanted)),
        };
        found.ok_or_else(|| match version {
            Some(v) if !v.is_empty() => VaultError::KeyNotFound(format!("{}/{v}", record.name)),
            _ => VaultError::KeyNotFound(record.name.clone()),
        })
    }

    /// Stores a changed key record over `revision`.
    pub(super) async fn store_key(&self, vault: &Vault, record: &KeyRecord, revision: u64) -> Result<(), VaultError> {
        let key = store_keys::key(&vault.name, &record.name);
        self.store()
            .commit(vec![records::replace(key, record, revision)?])
            .await?;
        Ok(())
    }
}
