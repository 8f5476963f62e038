//! What the service removes on its own: keys past their purge date, and the keys of a vault being purged.

use cmk_store::{Expect, Write};

use super::records::{KeyRecord, Lifecycle, store_keys};
use crate::events::VaultEvent;
use crate::{VaultError, Vaults};

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

    /// Removes every deleted key whose purge date has passed, in every vault, with its key material: what the
    /// service does when a retention period ends. Returns how many keys it purged.
    pub async fn purge_expired_keys(&self) -> Result<usize, VaultError> {
        let mut purged = 0;
        let mut cursor: Option<String> = None;
        loop {
            let entries = self.store().list("vault/keys/", cursor.as_deref(), 200).await?;
            let done = entries.len() < 200;
            cursor = entries.last().map(|e| e.key.clone());
            for entry in entries {
                let record: KeyRecord =
                    serde_json::from_slice(&entry.value).map_err(|_| VaultError::Corrupt(entry.key.clone()))?;
                if self.lifecycle(&record) != Lifecycle::Gone {
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
}
