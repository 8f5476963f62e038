//! The cryptographic operations: encrypt, decrypt, wrap, unwrap, sign, verify.

use super::KeyOperation;
use super::records::VersionMeta;
use crate::access::VaultAccess;
use crate::model::Vault;
use crate::{VaultError, Vaults};

impl Vaults {
    /// Resolves the version an operation uses and checks it may: enabled, permitted by `key_ops`, and for
    /// public-key operations inside its validity window.
    pub(super) async fn usable_version(
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
