//! Key material: each version's public key and its private key sealed under the root key, and the cache of
//! parsed private keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cmk_crypto::ec::{EcCurve, EcPublicKey};
use cmk_crypto::encoding::{b64url_decode, b64url_encode};
use cmk_crypto::key::{PrivateKey, PublicKey};
use cmk_crypto::rsa::RsaPublicKey;
use cmk_store::records;
use serde::{Deserialize, Serialize};

use super::KeyView;
use super::records::{KeyRecord, VersionMeta, attributes, store_keys};
use crate::model::Vault;
use crate::{VaultError, Vaults};

/// One version's key material. The public key is kept in the clear as its JWK fields (base64url): `n` and `e`
/// for RSA, `crv`, `x` and `y` for EC.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct KeyMaterial {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    /// base64url of the PKCS#8 document sealed under the root key.
    sealed_pkcs8: String,
}

impl KeyMaterial {
    fn public_key(&self) -> Option<PublicKey> {
        let field = |value: &Option<String>| b64url_decode(value.as_deref()?).ok();
        match &self.crv {
            None => RsaPublicKey::from_components(field(&self.n)?, field(&self.e)?)
                .ok()
                .map(PublicKey::Rsa),
            Some(crv) => EcPublicKey::from_components(EcCurve::from_jwk(crv)?, &field(&self.x)?, &field(&self.y)?)
                .ok()
                .map(PublicKey::Ec),
        }
    }
}

/// Parsed private keys, by vault, key and version. Key material never changes once written, so entries never go
/// stale; the bound only limits memory.
#[derive(Default)]
pub(crate) struct KeyCache {
    keys: Mutex<HashMap<String, PrivateKey>>,
}

const KEY_CACHE_LIMIT: usize = 4096;

impl KeyCache {
    pub(super) fn get(&self, id: &str) -> Option<PrivateKey> {
        self.keys.lock().ok()?.get(id).cloned()
    }

    pub(super) fn put(&self, id: String, key: PrivateKey) {
        if let Ok(mut keys) = self.keys.lock() {
            if keys.len() >= KEY_CACHE_LIMIT {
                keys.clear();
            }
            keys.insert(id, key);
        }
    }
}

impl Vaults {
    /// The material of a new version: its public key, and its private key sealed for this version alone.
    pub(super) fn seal_material(
        &self,
        vault: &Vault,
        name: &str,
        version: &str,
        key: &PrivateKey,
    ) -> Result<KeyMaterial, VaultError> {
        let sealed = self
            .root_key()
            .seal(
                &store_keys::seal_purpose(&vault.name, name, version),
                key.to_pkcs8().map_err(VaultError::Crypto)?.expose(),
            )
            .map_err(VaultError::Crypto)?;
        let mut material = KeyMaterial {
            n: None,
            e: None,
            crv: None,
            x: None,
            y: None,
            sealed_pkcs8: b64url_encode(sealed),
        };
        match key.public_key() {
            PublicKey::Rsa(public) => {
                material.n = Some(b64url_encode(public.modulus()));
                material.e = Some(b64url_encode(public.exponent()));
            }
            PublicKey::Ec(public) => {
                material.crv = Some(public.curve().as_jwk().to_owned());
                material.x = Some(b64url_encode(public.x()));
                material.y = Some(b64url_encode(public.y()));
            }
        }
        Ok(material)
    }

    /// A version with its public key, as get, create, import, update, recover and rotate return it.
    pub(super) async fn view(
        &self,
        vault: &Vault,
        record: &KeyRecord,
        meta: &VersionMeta,
    ) -> Result<KeyView, VaultError> {
        let public = self.public_key(vault, &record.name, &meta.version).await?;
        Ok(KeyView {
            name: record.name.clone(),
            version: meta.version.clone(),
            kty: meta.kty,
            key_ops: meta.key_ops.clone(),
            public,
            attributes: attributes(vault, meta),
            tags: meta.tags.clone(),
        })
    }

    pub(super) async fn material(&self, vault: &Vault, name: &str, version: &str) -> Result<KeyMaterial, VaultError> {
        records::get::<KeyMaterial>(self.store(), &store_keys::material(&vault.name, name, version))
            .await?
            .map(|v| v.value)
            .ok_or_else(|| VaultError::Corrupt(store_keys::material(&vault.name, name, version)))
    }

    pub(super) async fn public_key(&self, vault: &Vault, name: &str, version: &str) -> Result<PublicKey, VaultError> {
        self.material(vault, name, version)
            .await?
            .public_key()
            .ok_or_else(|| VaultError::Corrupt(store_keys::material(&vault.name, name, version)))
    }

    pub(super) async fn private_key(&self, vault: &Vault, name: &str, version: &str) -> Result<PrivateKey, VaultError> {
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
        let key = PrivateKey::from_pkcs8(&pkcs8).map_err(VaultError::Crypto)?;
        self.key_cache().put(cache_id, key.clone());
        Ok(key)
    }
}

/// A cheap handle to the key cache, shared by clones of [`Vaults`].
pub(crate) type SharedKeyCache = Arc<KeyCache>;
