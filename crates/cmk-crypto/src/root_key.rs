//! The server's root key: 32 random bytes in a file only the server's user can read. Every secret the store
//! keeps (signing keys, vault private keys, data keys wrapped by the platform) is sealed under it with
//! AES-256-GCM, so a copy of the database alone reveals nothing.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::{constant_time, hmac};

use crate::CryptoError;
use crate::random::random_array;
use crate::secret::SecretBytes;

const ROOT_KEY_LEN: usize = 32;
/// First byte of every sealed blob, so the format can change without guessing.
const SEAL_FORMAT_V1: u8 = 1;

pub struct RootKey {
    key: RandomizedNonceKey,
    /// For [`RootKey::mac`]; derived from the root key so the two algorithms never share a key.
    mac_key: hmac::Key,
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey([redacted])")
    }
}

impl RootKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != ROOT_KEY_LEN {
            return Err(CryptoError::InvalidKey("a root key is exactly 32 bytes"));
        }
        let key = RandomizedNonceKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::InvalidKey("root key"))?;
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, bytes), b"cmk root key: mac key");
        let mac_key = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
        Ok(Self { key, mac_key })
    }

    pub fn generate() -> Result<Self, CryptoError> {
        let bytes = SecretBytes::new(random_array::<ROOT_KEY_LEN>()?.to_vec());
        Self::from_bytes(bytes.expose())
    }

    /// Loads the key at `path`, or creates it (mode 0600, never overwriting) when the file does not exist.
    /// Returns whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), CryptoError> {
        let file_error = |reason: String| CryptoError::RootKeyFile {
            path: path.display().to_string(),
            reason,
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = SecretBytes::new(bytes);
                Ok((
                    Self::from_bytes(bytes.expose()).map_err(|e| file_error(e.to_string()))?,
                    false,
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = SecretBytes::new(random_array::<ROOT_KEY_LEN>()?.to_vec());
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(|e| file_error(e.to_string()))?;
                file.write_all(bytes.expose()).map_err(|e| file_error(e.to_string()))?;
                file.sync_all().map_err(|e| file_error(e.to_string()))?;
                Ok((Self::from_bytes(bytes.expose())?, true))
            }
            Err(e) => Err(file_error(e.to_string())),
        }
    }

    /// Seals `plaintext`. `purpose` is bound as associated data: a blob sealed for one purpose (say, a given
    /// key's private part) cannot be passed off as another.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(purpose.as_bytes()), &mut in_out)
            .map_err(|_| CryptoError::Seal)?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        sealed.push(SEAL_FORMAT_V1);
        sealed.extend_from_slice(nonce.as_ref());
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// An HMAC-SHA-256 of `data` for `purpose`: lets the server hand out a value it can later recognize
    /// without storing it.
    pub fn mac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        let mut context = hmac::Context::with_key(&self.mac_key);
        context.update(&(purpose.len() as u64).to_be_bytes());
        context.update(purpose.as_bytes());
        context.update(data);
        let mut out = [0u8; 32];
        out.copy_from_slice(context.sign().as_ref());
        out
    }

    /// Whether `tag` is [`RootKey::mac`] of `data` for `purpose`, compared in constant time.
    pub fn verify_mac(&self, purpose: &str, data: &[u8], tag: &[u8]) -> bool {
        constant_time::verify_slices_are_equal(&self.mac(purpose, data), tag).is_ok()
    }

    pub fn unseal(&self, purpose: &str, sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
        let (format, rest) = sealed.split_first().ok_or(CryptoError::Unseal)?;
        if *format != SEAL_FORMAT_V1 || rest.len() < NONCE_LEN {
            return Err(CryptoError::Unseal);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Unseal)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext_len = self
            .key
            .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut in_out)
            .map_err(|_| CryptoError::Unseal)?
            .len();
        in_out.truncate(plaintext_len);
        Ok(SecretBytes::new(in_out))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn macs_depend_on_purpose_data_and_key() {
        let key = RootKey::generate().unwrap();
        let tag = key.mac("identity", b"abc");
        assert!(key.verify_mac("identity", b"abc", &tag));
        assert!(!key.verify_mac("other", b"abc", &tag));
        assert!(!key.verify_mac("identity", b"abd", &tag));
        assert!(!key.verify_mac("identity", b"abc", &tag[..31]));
        assert!(!RootKey::generate().unwrap().verify_mac("identity", b"abc", &tag));
    }

    #[test]
    fn seal_round_trips_and_binds_purpose() {
        let key = RootKey::generate().unwrap();
        let sealed = key.seal("signing-key", b"private").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"private"));
        assert_eq!(key.unseal("signing-key", &sealed).unwrap().expose(), b"private");
        assert!(key.unseal("other-purpose", &sealed).is_err());
        let other = RootKey::generate().unwrap();
        assert!(other.unseal("signing-key", &sealed).is_err());
    }

    #[test]
    fn tampering_is_detected() {
        let key = RootKey::generate().unwrap();
        let mut sealed = key.seal("p", b"data").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(key.unseal("p", &sealed).is_err());
        assert!(key.unseal("p", &[]).is_err());
        assert!(key.unseal("p", &[1, 2, 3]).is_err());
    }

    #[test]
    fn file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let (first, created) = RootKey::load_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let sealed = first.seal("p", b"x").unwrap();
        let (second, created) = RootKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(second.unseal("p", &sealed).unwrap().expose(), b"x");
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", RootKey::generate().unwrap()), "RootKey([redacted])");
    }
}
