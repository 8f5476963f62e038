//! The key that signs access tokens. One RSA-2048 key per deployment, created on first start, sealed under
//! the root key in the store, and held parsed in memory: validation never touches the store.

use std::collections::HashMap;

use cmk_core::Timestamp;
use cmk_crypto::encoding::{b64url_decode, b64url_encode};
use cmk_crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use cmk_crypto::{RootKey, SecretBytes};
use cmk_store::{Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::{DirectoryError, records};

const KEY: &str = "directory/signing-key";
/// Bound into the sealed blob, so the sealed key cannot be swapped for another sealed secret.
const SEAL_PURPOSE: &str = "cmk/directory/token-signing-key";

#[derive(Serialize, Deserialize)]
struct StoredSigningKey {
    kid: String,
    /// base64url of the sealed PKCS#8 document.
    sealed_pkcs8: String,
    created: Timestamp,
}

pub(crate) struct SigningKeys {
    current_kid: String,
    current: RsaPrivateKey,
    verification: HashMap<String, RsaPublicKey>,
}

impl SigningKeys {
    pub(crate) async fn load_or_create(
        store: &dyn Store,
        root_key: &RootKey,
        now: Timestamp,
    ) -> Result<Self, DirectoryError> {
        // Two nodes starting at once may both try to create the key: the store lets exactly one win, and the
        // other loads the winner's key.
        for _ in 0..2 {
            if let Some(stored) = records::get::<StoredSigningKey>(store, KEY).await? {
                return Self::unseal(stored.value, root_key);
            }
            let key = RsaPrivateKey::generate(2048)?;
            let kid = key.public_key().jwk_thumbprint();
            let sealed = root_key.seal(SEAL_PURPOSE, key.to_pkcs8()?.expose())?;
            let stored = StoredSigningKey {
                kid: kid.clone(),
                sealed_pkcs8: b64url_encode(sealed),
                created: now,
            };
            match store.commit(vec![records::create(KEY.to_owned(), &stored)?]).await {
                Ok(_) => {
                    tracing::info!(kid = %kid, "created the token signing key");
                    return Ok(Self::from_key(kid, key));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DirectoryError::Conflict(KEY.to_owned()))
    }

    fn unseal(stored: StoredSigningKey, root_key: &RootKey) -> Result<Self, DirectoryError> {
        let sealed = b64url_decode(&stored.sealed_pkcs8).map_err(|_| DirectoryError::Corrupt(KEY.to_owned()))?;
        let pkcs8: SecretBytes = root_key.unseal(SEAL_PURPOSE, &sealed)?;
        let key = RsaPrivateKey::from_pkcs8(&pkcs8)?;
        Ok(Self::from_key(stored.kid, key))
    }

    fn from_key(kid: String, key: RsaPrivateKey) -> Self {
        let verification = HashMap::from([(kid.clone(), key.public_key().clone())]);
        Self {
            current_kid: kid,
            current: key,
            verification,
        }
    }

    pub(crate) fn current(&self) -> (&str, &RsaPrivateKey) {
        (&self.current_kid, &self.current)
    }

    pub(crate) fn verification_key(&self, kid: &str) -> Option<&RsaPublicKey> {
        self.verification.get(kid)
    }

    pub(crate) fn public_keys(&self) -> impl Iterator<Item = (&str, &RsaPublicKey)> {
        self.verification.iter().map(|(kid, key)| (kid.as_str(), key))
    }
}

/// A public signing key as published in the JWKS document.
#[derive(Debug, Clone, Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
    pub kid: String,
    pub n: String,
    pub e: String,
}

impl crate::Directory {
    /// The public keys that verify tokens, for the JWKS endpoint.
    pub fn signing_jwks(&self) -> Vec<Jwk> {
        self.inner
            .signing
            .public_keys()
            .map(|(kid, key)| Jwk {
                kty: "RSA",
                use_: "sig",
                alg: "RS256",
                kid: kid.to_owned(),
                n: b64url_encode(key.modulus()),
                e: b64url_encode(key.exponent()),
            })
            .collect()
    }
}
