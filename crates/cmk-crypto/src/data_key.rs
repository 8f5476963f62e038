//! Data keys: the AES-256 keys that encrypt content at rest. A data key is only ever stored wrapped (by the
//! root key or by a customer's key in a vault); unwrapped, it lives in a [`DataKey`], which never prints.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};

use crate::CryptoError;
use crate::random::random_array;
use crate::secret::SecretBytes;

pub const DATA_KEY_LEN: usize = 32;
/// What sealing adds to a plaintext: the nonce in front, the tag behind.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + 16;

pub struct DataKey {
    key: RandomizedNonceKey,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

impl DataKey {
    /// A fresh random key, and its bytes for wrapping.
    pub fn generate() -> Result<(Self, SecretBytes), CryptoError> {
        let bytes = SecretBytes::new(random_array::<DATA_KEY_LEN>()?.to_vec());
        Ok((Self::from_bytes(bytes.expose())?, bytes))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != DATA_KEY_LEN {
            return Err(CryptoError::InvalidKey("a data key is exactly 32 bytes"));
        }
        let key = RandomizedNonceKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::InvalidKey("data key"))?;
        Ok(Self { key })
    }

    /// Encrypts `plaintext` under a random nonce, binding `aad`: `nonce || ciphertext || tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        // One buffer, one copy of the plaintext: chunks are a mebibyte, and copies cost more than the cipher.
        let mut sealed = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
        sealed.resize(NONCE_LEN, 0);
        sealed.extend_from_slice(plaintext);
        let (nonce, tag) = self
            .key
            .seal_in_place_separate_tag(Aad::from(aad), &mut sealed[NONCE_LEN..])
            .map_err(|_| CryptoError::Seal)?;
        sealed[..NONCE_LEN].copy_from_slice(nonce.as_ref());
        sealed.extend_from_slice(tag.as_ref());
        Ok(sealed)
    }

    /// Decrypts what [`DataKey::seal`] made with the same `aad`; any change to either fails.
    pub fn open(&self, aad: &[u8], mut sealed: Vec<u8>) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(CryptoError::Unseal);
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[..NONCE_LEN]).map_err(|_| CryptoError::Unseal)?;
        let plaintext_len = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut sealed[NONCE_LEN..])
            .map_err(|_| CryptoError::Unseal)?
            .len();
        sealed.drain(..NONCE_LEN);
        sealed.truncate(plaintext_len);
        Ok(sealed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sealed_content_opens_only_with_its_key_and_aad() {
        let (key, bytes) = DataKey::generate().unwrap();
        let sealed = key.seal(b"account/object/0", b"customer content").unwrap();
        assert_eq!(sealed.len(), b"customer content".len() + SEAL_OVERHEAD);
        assert!(!sealed.windows(8).any(|w| w == b"customer"));
        let same = DataKey::from_bytes(bytes.expose()).unwrap();
        assert_eq!(
            same.open(b"account/object/0", sealed.clone()).unwrap(),
            b"customer content"
        );
        assert!(same.open(b"account/object/1", sealed.clone()).is_err());
        let (other, _) = DataKey::generate().unwrap();
        assert!(other.open(b"account/object/0", sealed.clone()).is_err());
        let mut tampered = sealed;
        tampered[20] ^= 1;
        assert!(key.open(b"account/object/0", tampered).is_err());
        assert!(key.open(b"", vec![0; 5]).is_err());
        assert!(format!("{key:?}").contains("redacted"));
    }
}
