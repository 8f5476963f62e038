//! Typed JSON records over the untyped store: what every domain crate needs to keep its structs.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Store, StoreError, Write};

/// A record and the revision it was read at (for compare-and-swap writes).
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub revision: u64,
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|_| StoreError::Corrupt { key: key.to_owned() })
}

pub fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|_| StoreError::Corrupt { key: key.to_owned() })
}

pub async fn get<T: DeserializeOwned>(store: &dyn Store, key: &str) -> Result<Option<Versioned<T>>, StoreError> {
    match store.get(key).await? {
        Some(entry) => Ok(Some(Versioned {
            value: decode(key, &entry.value)?,
            revision: entry.revision,
        })),
        None => Ok(None),
    }
}

/// One page of records under `prefix`, and the key to continue after when more may follow.
pub async fn list<T: DeserializeOwned>(
    store: &dyn Store,
    prefix: &str,
    start_after: Option<&str>,
    limit: usize,
) -> Result<(Vec<T>, Option<String>), StoreError> {
    let entries = store.list(prefix, start_after, limit).await?;
    let next = if entries.len() == limit {
        entries.last().map(|e| e.key.clone())
    } else {
        None
    };
    let values = entries
        .iter()
        .map(|e| decode(&e.key, &e.value))
        .collect::<Result<_, _>>()?;
    Ok((values, next))
}

/// Every record under `prefix` that `keep` accepts, reading the store a page at a time.
pub async fn scan<T: DeserializeOwned>(
    store: &dyn Store,
    prefix: &str,
    mut keep: impl FnMut(&T) -> bool,
) -> Result<Vec<T>, StoreError> {
    const PAGE: usize = 200;
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let entries = store.list(prefix, cursor.as_deref(), PAGE).await?;
        let exhausted = entries.len() < PAGE;
        for entry in &entries {
            let value: T = decode(&entry.key, &entry.value)?;
            if keep(&value) {
                found.push(value);
            }
        }
        match entries.last() {
            Some(last) if !exhausted => cursor = Some(last.key.clone()),
            _ => return Ok(found),
        }
    }
}

pub fn create<T: Serialize>(key: String, value: &T) -> Result<Write, StoreError> {
    let bytes = encode(&key, value)?;
    Ok(Write::create(key, bytes))
}

pub fn replace<T: Serialize>(key: String, value: &T, revision: u64) -> Result<Write, StoreError> {
    let bytes = encode(&key, value)?;
    Ok(Write::replace(key, bytes, revision))
}

pub fn upsert<T: Serialize>(key: String, value: &T) -> Result<Write, StoreError> {
    let bytes = encode(&key, value)?;
    Ok(Write::upsert(key, bytes))
}
