//! Create, import, rotate, get, update, delete, recover and purge.

use std::collections::BTreeMap;

use cmk_core::Timestamp;
use cmk_crypto::ec::{EcCurve, EcPrivateKey};
use cmk_crypto::key::{KeyKind, PrivateKey};
use cmk_crypto::rsa::RsaPrivateKey;
use cmk_store::records::{self};
use cmk_store::{Expect, Write};

use super::records::{
    KeyRecord, KeyState, Lifecycle, VersionMeta, apply_attributes, store_keys, validate_key_name, validate_key_ops,
    validate_tags,
};
use super::{
    AttributeChanges, Deletion, ImportedKey, KeyImport, KeyOperation, KeySpec, KeyType, KeyUpdate, KeyView,
    SECONDS_PER_DAY,
};
use crate::access::{KeyAction, VaultAccess};
use crate::events::VaultEvent;
use crate::model::Vault;
use crate::{VaultError, Vaults};

/// What a new version is made of: an RSA modulus size, or an EC curve.
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    Rsa(u32),
    Ec(EcCurve),
}

impl Shape {
    /// What a create asks for, checked: RSA keys of 2048, 3072 or 4096 bits (2048 by default) with exponent
    /// 65537; EC keys on a curve named by `crv` or by its size (P-256 by default).
    fn of_spec(spec: &KeySpec) -> Result<Self, VaultError> {
        match spec.kty.kind() {
            KeyKind::Rsa => {
                if spec.curve.is_some() {
                    return Err(VaultError::BadParameter(
                        "'crv' applies to EC keys only; an RSA key takes 'key_size'.".into(),
                    ));
                }
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
                Ok(Shape::Rsa(bits))
            }
            KeyKind::Ec => {
                if spec.public_exponent.is_some() {
                    return Err(VaultError::BadParameter(
                        "'public_exponent' applies to RSA keys only.".into(),
                    ));
                }
                let curve = match (spec.curve, spec.key_size) {
                    (curve, None) => curve.unwrap_or_default(),
                    (Some(curve), Some(bits)) if curve_bits(curve) == bits => curve,
                    (Some(curve), Some(bits)) => {
                        return Err(VaultError::BadParameter(format!(
                            "The key size {bits} does not match the curve {}.",
                            curve.as_jwk()
                        )));
                    }
                    // A size names a NIST curve, as in Key Vault's older API versions.
                    (None, Some(256)) => EcCurve::P256,
                    (None, Some(384)) => EcCurve::P384,
                    (None, Some(521)) => EcCurve::P521,
                    (None, Some(bits)) => {
                        return Err(VaultError::BadParameter(format!(
                            "The key size {bits} is not supported for EC keys: use 256, 384 or 521, or name the \
                             curve with 'crv'."
                        )));
                    }
                };
                Ok(Shape::Ec(curve))
            }
        }
    }

    fn of_key(key: &PrivateKey) -> Self {
        match key {
            PrivateKey::Rsa(key) => Shape::Rsa(u32::try_from(key.public_key().bits()).unwrap_or(0)),
            PrivateKey::Ec(key) => Shape::Ec(key.curve()),
        }
    }

    fn kind(self) -> KeyKind {
        match self {
            Shape::Rsa(_) => KeyKind::Rsa,
            Shape::Ec(_) => KeyKind::Ec,
        }
    }

    /// A new key of this shape. RSA generation takes tens of milliseconds (seconds at 4096 bits), so it runs
    /// off the async workers.
    async fn generate(self) -> Result<PrivateKey, VaultError> {
        tokio::task::spawn_blocking(move || match self {
            Shape::Rsa(bits) => RsaPrivateKey::generate(bits).map(PrivateKey::Rsa),
            Shape::Ec(curve) => EcPrivateKey::generate(curve).map(PrivateKey::Ec),
        })
        .await
        .map_err(|e| VaultError::Store(cmk_store::StoreError::Backend(format!("key generation task: {e}"))))?
        .map_err(VaultError::Crypto)
    }
}

/// The size Key Vault reports for a curve (`key_size` of EC keys in older API versions).
fn curve_bits(curve: EcCurve) -> u32 {
    match curve {
        EcCurve::P256 | EcCurve::P256K => 256,
        EcCurve::P384 => 384,
        EcCurve::P521 => 521,
    }
}

impl Vaults {
    /// Adds a version holding `key` under `name`: a new key, a new version of an active key, or a key whose
    /// deleted predecessor has passed its purge date.
    pub(super) async fn add_version(
        &self,
        vault: &Vault,
        name: &str,
        key: &PrivateKey,
        mut meta: VersionMeta,
    ) -> Result<KeyView, VaultError> {
        let existing = self.load_key(vault, name).await?;
        let mut writes = Vec::new();
        let record = match existing {
            Some((Lifecycle::Deleted, current)) => {
                return Err(VaultError::KeyDeletedButRecoverable(current.value.name));
            }
            Some((Lifecycle::Gone, expired)) => {
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
            Some((Lifecycle::Active, current)) => (current.value, Some(current.revision)),
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
        let material = self.seal_material(vault, name, &meta.version, key)?;
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

    pub(super) fn new_meta(
        &self,
        hsm: bool,
        shape: Shape,
        key_ops: Option<Vec<KeyOperation>>,
        tags: BTreeMap<String, String>,
        attributes: &AttributeChanges,
    ) -> Result<VersionMeta, VaultError> {
        validate_tags(&tags)?;
        let now = self.clock().now();
        let kind = shape.kind();
        let (key_size, curve) = match shape {
            Shape::Rsa(bits) => (bits, None),
            Shape::Ec(curve) => (curve_bits(curve), Some(curve)),
        };
        let mut meta = VersionMeta {
            version: String::new(),
            kty: KeyType::of(kind, hsm),
            key_size,
            curve,
            key_ops: validate_key_ops(&key_ops.unwrap_or_else(|| KeyOperation::defaults(kind).to_vec()), kind)?,
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
        let shape = Shape::of_spec(&spec)?;
        let meta = self.new_meta(spec.kty.is_hsm(), shape, spec.key_ops, spec.tags, &spec.attributes)?;
        let key = shape.generate().await?;
        let view = self.add_version(vault, name, &key, meta).await?;
        tracing::info!(vault = %vault.name, key = %name, version = %view.version, "created key version");
        Ok(view)
    }

    /// `PUT /keys/{name}`: imports a private key as a new version.
    pub async fn import_key(&self, access: &VaultAccess, name: &str, import: KeyImport) -> Result<KeyView, VaultError> {
        let vault = access.require(KeyAction::Import, Some(name))?;
        validate_key_name(name)?;
        let key: PrivateKey = match &import.key {
            ImportedKey::Rsa(components) => RsaPrivateKey::from_components(components).map(PrivateKey::Rsa),
            ImportedKey::Ec(components) => EcPrivateKey::from_components(components).map(PrivateKey::Ec),
        }
        .map_err(|e| VaultError::BadParameter(format!("The key cannot be imported: {e}.")))?;
        let shape = Shape::of_key(&key);
        let meta = self.new_meta(import.hsm, shape, import.key_ops, import.tags, &import.attributes)?;
        let view = self.add_version(vault, name, &key, meta).await?;
        tracing::info!(vault = %vault.name, key = %name, version = %view.version, "imported key version");
        Ok(view)
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
            Some((Lifecycle::Active, record)) => Ok(record.value.versions.last().map(|m| (m.created, m.expires))),
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

    pub(super) async fn new_version_like_current(
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
        // The new version keeps the type, size or curve, and operations of the current one.
        let shape = match (current.kty.kind(), current.curve) {
            (KeyKind::Rsa, _) => Shape::Rsa(current.key_size),
            (KeyKind::Ec, Some(curve)) => Shape::Ec(curve),
            (KeyKind::Ec, None) => return Err(VaultError::Corrupt(store_keys::key(&vault.name, name))),
        };
        let meta = self.new_meta(
            current.kty.is_hsm(),
            shape,
            Some(current.key_ops.clone()),
            current.tags.clone(),
            &attributes,
        )?;
        let key = shape.generate().await?;
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
            meta.key_ops = validate_key_ops(&ops, meta.kty.kind())?;
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

    pub(super) fn deletion(record: &KeyRecord) -> Option<Deletion> {
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
}
