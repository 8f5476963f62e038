//! Typed JSON records over the untyped store.

use cmk_store::{Store, Write};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::DirectoryError;

pub(crate) struct Versioned<T> {
    pub value: T,
    pub revision: u64,
}

pub(crate) async fn get<T: DeserializeOwned>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<Versioned<T>>, DirectoryError> {
    let Some(entry) = store.get(key).await? else {
        return Ok(None);
    };
    let value = serde_json::from_slice(&entry.value).map_err(|_| DirectoryError::Corrupt(key.to_owned()))?;
    Ok(Some(Versioned {
        value,
        revision: entry.revision,
    }))
}

/// One page of records under `prefix`, and the key to continue after when more may follow.
pub(crate) async fn list<T: DeserializeOwned>(
    store: &dyn Store,
    prefix: &str,
    start_after: Option<&str>,
    limit: usize,
) -> Result<(Vec<T>, Option<String>), DirectoryError> {
    let entries = store.list(prefix, start_after, limit).await?;
    let next = if entries.len() == limit {
        entries.last().map(|e| e.key.clone())
    } else {
        None
    };
    let mut values = Vec::with_capacity(entries.len());
    for entry in entries {
        values.push(serde_json::from_slice(&entry.value).map_err(|_| DirectoryError::Corrupt(entry.key.clone()))?);
    }
    Ok((values, next))
}

pub(crate) fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>, DirectoryError> {
    serde_json::to_vec(value).map_err(|_| DirectoryError::Corrupt(key.to_owned()))
}

pub(crate) fn create<T: Serialize>(key: String, value: &T) -> Result<Write, DirectoryError> {
    let bytes = encode(&key, value)?;
    Ok(Write::create(key, bytes))
}

pub(crate) fn replace<T: Serialize>(key: String, value: &T, revision: u64) -> Result<Write, DirectoryError> {
    let bytes = encode(&key, value)?;
    Ok(Write::replace(key, bytes, revision))
}
