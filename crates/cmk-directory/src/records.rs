//! The store's typed records, under the directory's error type.

pub(crate) use cmk_store::records::{create, replace};

use cmk_store::Store;
use cmk_store::records::Versioned;
use serde::de::DeserializeOwned;

use crate::DirectoryError;

pub(crate) async fn get<T: DeserializeOwned>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<Versioned<T>>, DirectoryError> {
    Ok(cmk_store::records::get(store, key).await?)
}

pub(crate) async fn list<T: DeserializeOwned>(
    store: &dyn Store,
    prefix: &str,
    start_after: Option<&str>,
    limit: usize,
) -> Result<(Vec<T>, Option<String>), DirectoryError> {
    Ok(cmk_store::records::list(store, prefix, start_after, limit).await?)
}
