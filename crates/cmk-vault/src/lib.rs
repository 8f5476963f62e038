//! Key vaults.
//!
//! # Layout
//! - [`model`]: vaults, access policies and permissions, as stored.
//! - [`vaults`]: the vault resource of the management plane (create, update, soft delete, recover, purge,
//!   access policies).
//!
//! Soft delete is always on and purge protection, once on, stays on: no operation, flag or clock shift
//! removes a protected vault before its retention period ends.
#![forbid(unsafe_code)]

mod error;
pub mod model;
pub mod vaults;

use std::sync::Arc;

use cmk_core::Clock;
use cmk_directory::Directory;
use cmk_store::Store;

pub use error::VaultError;

/// The vault service. Cheap to clone.
#[derive(Clone)]
pub struct Vaults {
    store: Arc<dyn Store>,
    directory: Directory,
}

impl Vaults {
    pub fn new(store: Arc<dyn Store>, directory: Directory) -> Self {
        Self { store, directory }
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
