//! Key backup and restore: an opaque blob, sealed under the root key, that only a cmk deployment with the same
//! root key can open, and only into a vault of the same tenant.

use cmk_crypto::SecretBytes;
use cmk_crypto::encoding::{b64url_decode, b64url_encode};
use serde::{Deserialize, Serialize};

use crate::access::{KeyAction, VaultAccess};
use crate::keys::KeyView;
use crate::{VaultError, Vaults};

/// Bound into every backup blob, so no other sealed secret can pass for one.
const BACKUP_PURPOSE: &str = "cmk/vault/key-backup/v1";
/// Azure refuses to back up a key with more versions than this.
pub const MAX_BACKUP_VERSIONS: usize = 500;

/// The content of a backup, before sealing. Private keys are inside, so it only ever exists sealed.
#[derive(Serialize, Deserialize)]
pub(crate) struct BackupContent {
    pub tenant_id: cmk_directory::model::TenantId,
    pub key: serde_json::Value,
    pub material: Vec<(String, String)>,
}

impl Vaults {
    /// `POST /keys/{name}/backup`: every version of the key, sealed.
    pub async fn backup_key(&self, access: &VaultAccess, name: &str) -> Result<String, VaultError> {
        let vault = access.require(KeyAction::Backup, Some(name))?;
        let (record, material) = self.export_key_for_backup(vault, name).await?;
        if material.len() > MAX_BACKUP_VERSIONS {
            return Err(VaultError::BadParameter(format!(
                "A key with more than {MAX_BACKUP_VERSIONS} versions cannot be backed up."
            )));
        }
        let content = BackupContent {
            tenant_id: vault.tenant_id,
            key: record,
            material,
        };
        let plaintext = SecretBytes::new(
            serde_json::to_vec(&content).map_err(|_| VaultError::Corrupt(format!("backup of {name}")))?,
        );
        let sealed = self
            .root_key()
            .seal(BACKUP_PURPOSE, plaintext.expose())
            .map_err(VaultError::Crypto)?;
        Ok(b64url_encode(sealed))
    }

    /// `POST /keys/restore`: the key with all its versions (and their ids) under its original name.
    pub async fn restore_key(&self, access: &VaultAccess, blob: &str) -> Result<KeyView, VaultError> {
        let vault = access.require(KeyAction::Restore, None)?;
        let invalid =
            || VaultError::BadParameter("The backup blob is invalid, or was made by another cmk deployment.".into());
        let sealed = b64url_decode(blob).map_err(|_| invalid())?;
        let plaintext = self.root_key().unseal(BACKUP_PURPOSE, &sealed).map_err(|_| invalid())?;
        let content: BackupContent = serde_json::from_slice(plaintext.expose()).map_err(|_| invalid())?;
        if content.tenant_id != vault.tenant_id {
            return Err(VaultError::RestoreAcrossTenants);
        }
        self.import_backup(vault, content).await
    }
}
