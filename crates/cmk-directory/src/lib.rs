//! The directory: who exists and how they prove it.
//!
//! Tenants own subscriptions; subscriptions hold resource groups; service principals belong to one tenant and
//! authenticate with client secrets to get access tokens (RS256 JWTs) for one resource (an audience). Every
//! plane checks tokens with [`Directory::validate_token`], the one validation function of the product.
//!
//! # Layout
//! - [`model`]: the records and their identifiers.
//! - [`tenants`], [`subscriptions`], [`resource_groups`], [`principals`]: one module per operation family.
//! - [`managed_identities`]: principals that belong to a resource and get tokens without a secret.
//! - [`tokens`]: issuing and validating access tokens; [`signing`]: the signing keys behind them.
//! - [`authorization`]: Azure role-based access control: role definitions, role assignments, and the
//!   effective permissions every plane asks.
//! - [`bootstrap`]: the first-start defaults of a development deployment.
#![forbid(unsafe_code)]

pub mod authorization;
pub mod bootstrap;
mod error;
pub mod managed_identities;
pub mod model;
pub mod principals;
mod records;
pub mod resource_groups;
pub mod signing;
pub mod subscriptions;
pub mod tenants;
pub mod tokens;

use std::sync::Arc;

use cmk_core::Clock;
use cmk_crypto::RootKey;
use cmk_store::Store;

pub use error::DirectoryError;
pub use tokens::{Audience, IssuedToken, Plane, TokenError, TokenRequest, VerifiedToken};

/// Settings that do not change while the server runs.
#[derive(Debug, Clone)]
pub struct DirectoryConfig {
    /// The authority URL clients use, e.g. `https://localhost:8443` (no trailing slash). Issuers are
    /// `{authority}/{tenant}/v2.0`.
    pub authority: String,
    /// The resource identifiers (token audiences) of the planes.
    pub audiences: Vec<Audience>,
    /// Lifetime of issued access tokens, in seconds.
    pub token_lifetime_seconds: i64,
    /// Tolerance for clock differences when checking `exp` and `nbf`, in seconds.
    pub clock_skew_seconds: i64,
    /// The domain suffix used to derive each tenant's default domain.
    pub domain_suffix: String,
}

/// The directory service. Cheap to clone.
#[derive(Clone)]
pub struct Directory {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: DirectoryConfig,
    signing: signing::SigningKeys,
    verified_tokens: tokens::VerifiedTokenCache,
    permissions: authorization::permissions::PermissionCache,
    authorization_events: authorization::events::AuthorizationEvents,
    root_key: Arc<RootKey>,
}

impl Directory {
    /// Opens the directory: loads (or, on first start, creates and seals) the token signing key, and gives a
    /// store from before role-based access control its first role assignments.
    pub async fn open(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        root_key: Arc<RootKey>,
        config: DirectoryConfig,
    ) -> Result<Self, DirectoryError> {
        let signing = signing::SigningKeys::load_or_create(store.as_ref(), &root_key, clock.now()).await?;
        let directory = Self {
            inner: Arc::new(Inner {
                store,
                clock,
                config,
                signing,
                verified_tokens: Default::default(),
                permissions: Default::default(),
                authorization_events: Default::default(),
                root_key,
            }),
        };
        directory.upgrade_authorization().await?;
        Ok(directory)
    }

    pub fn config(&self) -> &DirectoryConfig {
        &self.inner.config
    }

    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// The issuer of tokens for `tenant`.
    pub fn issuer(&self, tenant: &model::TenantId) -> String {
        format!("{}/{}/v2.0", self.inner.config.authority, tenant)
    }
}
