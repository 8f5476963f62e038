//! A key's records for a backup blob, and their restore under the same name, versions and version ids.

use cmk_crypto::encoding::{b64url_decode, b64url_encode};
use cmk_crypto::key::PrivateKey;
use cmk_store::records::{self};
use cmk_store::{Expect, Write};

use super::KeyView;
use super::records::{KeyRecord, KeyState, Lifecycle, store_keys, validate_key_name};
use crate::events::VaultEvent;
use crate::model::Vault;
use crate::{VaultError, Vaults};

impl Vaults {
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
        let existing = match self.load_key(vault, &record.name).await? {
            Some((Lifecycle::Active, current)) => return Err(VaultError::KeyAlreadyExists(current.value.name)),
            Some((Lifecycle::Deleted, current)) => {
                return Err(VaultError::KeyDeletedButRecoverable(current.value.name));
            }
            Some((Lifecycle::Gone, gone)) => Some(gone),
            None => None,
        };
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
            let key = PrivateKey::from_pkcs8(&pkcs8).map_err(|_| invalid())?;
            let material = self.seal_material(vault, &name, version, &key)?;
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
}
