//! The cryptographic operations: encrypt, decrypt, wrap, unwrap, sign, verify.

use cmk_crypto::SecretBytes;
use cmk_crypto::key::{KeyKind, PrivateKey, PublicKey, SignatureAlgorithm};
use cmk_crypto::rsa::RsaEncryptionAlgorithm;

use super::KeyOperation;
use super::records::VersionMeta;
use crate::access::VaultAccess;
use crate::model::Vault;
use crate::{VaultError, Vaults};

/// The algorithm a request names, checked against the key before anything else is.
#[derive(Debug, Clone, Copy)]
enum Requested {
    Encryption(RsaEncryptionAlgorithm),
    Signature(SignatureAlgorithm),
}

impl Requested {
    /// Whether the algorithm fits the key version: its mechanism and, for EC, its curve. One message per
    /// refusal, whichever operation meets it.
    fn check(self, meta: &VersionMeta) -> Result<(), VaultError> {
        let kind = meta.kty.kind();
        // Described only for a refusal: the check runs on every key operation.
        let key = || match (kind, meta.curve) {
            (KeyKind::Ec, Some(curve)) => format!("an EC key on curve '{}'", curve.as_jwk()),
            _ => format!("an {} key", kind.as_kty()),
        };
        let refusal = match self {
            Requested::Encryption(alg) if kind != KeyKind::Rsa => Some(format!(
                "Key and encryption algorithm are incompatible: '{}' needs an RSA key, and this is {}; EC keys \
                 only sign and verify.",
                alg.as_jwa(),
                key()
            )),
            Requested::Encryption(_) => None,
            Requested::Signature(alg) => {
                let fits = match alg {
                    SignatureAlgorithm::Rsa(_) => kind == KeyKind::Rsa,
                    SignatureAlgorithm::Ec(ec) => kind == KeyKind::Ec && meta.curve == Some(ec.curve()),
                };
                (!fits).then(|| {
                    let needs = match alg {
                        SignatureAlgorithm::Rsa(_) => "an RSA key".to_owned(),
                        SignatureAlgorithm::Ec(ec) => format!("an EC key on curve '{}'", ec.curve().as_jwk()),
                    };
                    format!(
                        "Key and signing algorithm are incompatible: '{}' can only be used with {needs}, and this is \
                         {}.",
                        alg.as_jwa(),
                        key()
                    )
                })
            }
        };
        refusal.map_or(Ok(()), |message| Err(VaultError::BadParameter(message)))
    }
}

/// Sign and verify take a digest of exactly the algorithm's length.
fn check_digest(algorithm: SignatureAlgorithm, digest: &[u8]) -> Result<(), VaultError> {
    if digest.len() == algorithm.digest_len() {
        return Ok(());
    }
    Err(VaultError::BadParameter(format!(
        "The digest for {} must be {} bytes, got {}.",
        algorithm.as_jwa(),
        algorithm.digest_len(),
        digest.len()
    )))
}

impl Vaults {
    /// Resolves the version an operation uses and checks it may: the algorithm fits the key, the version is
    /// enabled, permitted by `key_ops`, and for public-key operations inside its validity window.
    async fn usable_version(
        &self,
        access: &VaultAccess,
        name: &str,
        version: Option<&str>,
        operation: KeyOperation,
        requested: Requested,
    ) -> Result<(Vault, String, VersionMeta), VaultError> {
        let action = operation.action().ok_or_else(|| {
            VaultError::BadParameter(format!("'{}' is not a cryptographic operation.", operation.as_str()))
        })?;
        let vault = access.require(action, Some(name))?.clone();
        let record = self.active_key(&vault, name).await?.value;
        let meta = Self::find_version(&record, version)?.clone();
        requested.check(&meta)?;
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
        algorithm: RsaEncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<(String, Vec<u8>), VaultError> {
        let requested = Requested::Encryption(algorithm);
        let (vault, name, meta) = self.usable_version(access, name, version, operation, requested).await?;
        let PublicKey::Rsa(key) = self.public_key(&vault, &name, &meta.version).await? else {
            return Err(VaultError::Corrupt(format!("{name}/{}", meta.version)));
        };
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
        algorithm: RsaEncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<(String, SecretBytes), VaultError> {
        let requested = Requested::Encryption(algorithm);
        let (vault, name, meta) = self.usable_version(access, name, version, operation, requested).await?;
        let PrivateKey::Rsa(key) = self.private_key(&vault, &name, &meta.version).await? else {
            return Err(VaultError::Corrupt(format!("{name}/{}", meta.version)));
        };
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
        algorithm: SignatureAlgorithm,
        digest: &[u8],
    ) -> Result<(String, Vec<u8>), VaultError> {
        let requested = Requested::Signature(algorithm);
        let (vault, name, meta) = self
            .usable_version(access, name, version, KeyOperation::Sign, requested)
            .await?;
        check_digest(algorithm, digest)?;
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
        algorithm: SignatureAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(String, bool), VaultError> {
        let requested = Requested::Signature(algorithm);
        let (vault, name, meta) = self
            .usable_version(access, name, version, KeyOperation::Verify, requested)
            .await?;
        check_digest(algorithm, digest)?;
        let key = self.public_key(&vault, &name, &meta.version).await?;
        Ok((meta.version, key.verify_digest(algorithm, digest, signature)))
    }
}
