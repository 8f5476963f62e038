//! Randomness from aws-lc-rs's system generator, for keys, salts, nonces and identifiers alike.

use uuid::Uuid;

use crate::CryptoError;

pub fn fill(dest: &mut [u8]) -> Result<(), CryptoError> {
    aws_lc_rs::rand::fill(dest).map_err(|_| CryptoError::Random)
}

pub fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut bytes = [0u8; N];
    fill(&mut bytes)?;
    Ok(bytes)
}

/// A random (version 4) UUID.
pub fn random_uuid() -> Result<Uuid, CryptoError> {
    Ok(uuid::Builder::from_random_bytes(random_array::<16>()?).into_uuid())
}

/// 32 lowercase hex characters, the form of Key Vault object versions.
pub fn random_hex_id() -> Result<String, CryptoError> {
    Ok(random_uuid()?.simple().to_string())
}
