//! Key vaults.
//!
//! # Layout
//! - [`model`]: vaults, access policies and permissions, as stored.
//! - [`vaults`]: the vault resource of the management plane (create, update, soft delete, recover, purge,
//!   access policies).
//! - [`actions`]: the management and data actions Azure names the vault's operations by.
//! - [`access`]: data-plane authorization, by access policy or by Azure RBAC; every key operation needs its
//!   proof.
//! - [`keys`]: keys, versions and the cryptographic operations on them.
//! - [`audit`]: the audit log of every vault operation.
//!
//! Soft delete is always on and purge protection, once on, stays on: no operation, flag or clock shift
//! removes a protected vault before its retention period ends.
#![forbid(unsafe_code)]

pub mod access;
pub mod actions;
pub mod audit;
pub mod backup;
mod error;
pub mod events;
pub mod keys;
pub mod model;
pub mod rotation;
pub mod vaults;

use std::sync::Arc;

use cmk_core::Clock;
use cmk_crypto::RootKey;
use cmk_directory::Directory;
use cmk_store::Store;

pub use error::VaultError;

/// The vault service. Cheap to clone.
#[derive(Clone)]
pub struct Vaults {
    store: Arc<dyn Store>,
    directory: Directory,
    root_key: Arc<RootKey>,
    key_cache: keys::SharedKeyCache,
    events: Arc<dyn events::VaultEvents>,
}

impl Vaults {
    pub fn new(store: Arc<dyn Store>, directory: Directory, root_key: Arc<RootKey>) -> Self {
        Self {
            store,
            directory,
            root_key,
            key_cache: Default::default(),
            events: Arc::new(events::InProcessEvents::default()),
        }
    }

    /// Change events of every vault and key, from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<events::VaultEvent> {
        self.events.subscribe()
    }

    /// Tells subscribers of the vaults whose records another process changed (`keys`, from the change feed).
    pub fn relay_changes<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let mut vaults: Vec<&str> = keys.into_iter().filter_map(events::vault_of_store_key).collect();
        vaults.sort_unstable();
        vaults.dedup();
        for vault in vaults {
            self.publish(events::VaultEvent::ChangedElsewhere {
                vault: vault.to_owned(),
            });
        }
    }

    fn publish(&self, event: events::VaultEvent) {
        self.events.publish(event);
    }

    fn root_key(&self) -> &RootKey {
        &self.root_key
    }

    fn key_cache(&self) -> &keys::KeyCache {
        &self.key_cache
    }

    fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    fn directory(&self) -> &Directory {
        &self.directory
    }

    fn clock(&self) -> &dyn Clock {
        self.directory.clock()
    }
}
