//! Accounts: each stores customer content that is always encrypted at rest.
//!
//! Content is encrypted with AES-256-GCM under the account's data key; the data key is stored only wrapped,
//! by the platform (the server's root key) or by the customer's key in a vault. The customer's key is reached
//! only through the vault's HTTP API with the account's managed identity ([`vault_client`]), so the vault
//! decides every unwrap, and revoking access there makes the account's data unreadable.
//!
//! # Layout
//! - [`model`]: the records as stored.
//! - [`accounts`]: the management operations (create, update, delete, keys).
//! - [`encryption`]: the data key's lifecycle: switching customer-managed keys on and off, rotation, the
//!   revocation checks and the in-memory key cache.
//! - [`content`]: the encrypted content store.
//! - [`reencryption`]: moving all content to a new data key, as a background job.
//! - [`vault_client`]: the interface to a vault, implemented over HTTPS by the server.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod actions;
pub mod content;
pub mod encryption;
mod error;
pub mod model;
pub mod reencryption;
pub mod vault_client;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cmk_core::Clock;
use cmk_crypto::RootKey;
use cmk_directory::Directory;
use cmk_store::Store;

pub use error::{AccountError, CmkRefusal};
pub use vault_client::KeyVaultClient;

/// Settings of the account service.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// How long an unwrapped data key stays in memory before the vault is asked again.
    pub key_cache: Duration,
    /// How often every account using a customer key re-checks its access (the fallback for missed events).
    pub poll_interval: Duration,
    /// How long a deleted account stays recoverable.
    pub deleted_retention_seconds: i64,
    /// The largest object one upload may store.
    pub max_object_bytes: u64,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            key_cache: Duration::from_secs(300),
            poll_interval: Duration::from_secs(60),
            deleted_retention_seconds: 48 * 3600,
            max_object_bytes: 8 << 30,
        }
    }
}

/// The account service. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    directory: Directory,
    root_key: Arc<RootKey>,
    vaults: Arc<dyn KeyVaultClient>,
    config: AccountsConfig,
    data_keys: Mutex<HashMap<String, encryption::CachedDataKey>>,
    /// Accounts whose re-encryption job runs in this process.
    active_jobs: Mutex<std::collections::HashSet<String>>,
}

impl Accounts {
    pub fn new(
        store: Arc<dyn Store>,
        directory: Directory,
        root_key: Arc<RootKey>,
        vaults: Arc<dyn KeyVaultClient>,
        config: AccountsConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                directory,
                root_key,
                vaults,
                config,
                data_keys: Mutex::new(HashMap::new()),
                active_jobs: Mutex::new(Default::default()),
            }),
        }
    }

    pub fn config(&self) -> &AccountsConfig {
        &self.inner.config
    }

    fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    fn clock(&self) -> &dyn Clock {
        self.inner.directory.clock()
    }

    pub fn directory(&self) -> &Directory {
        &self.inner.directory
    }
}

/// The prefix of every content key in the store, for a cache that must keep content out of memory.
pub const CONTENT_PREFIX: &str = model::keys::CONTENT;
