//! What a deployment starts from, written in one atomic commit so a crash cannot leave half of it: for
//! development, a tenant, a subscription, a resource group and an operator service principal that owns the
//! subscription, created on first start; for production, a tenant, a subscription and an operator that owns
//! it, created once by an explicit initialisation.

use cmk_crypto::SecretString;
use serde::{Deserialize, Serialize};

use crate::model::{ClientId, ObjectId, ResourceGroup, SubscriptionId, TenantId, keys};
use crate::{Directory, DirectoryError, records};

const KEY: &str = "directory/dev-bootstrap";
const DEPLOYMENT_KEY: &str = "directory/deployment-bootstrap";
pub const DEFAULT_LOCATION: &str = "westus2";
pub const DEFAULT_RESOURCE_GROUP: &str = "cmk-dev";

/// The identifiers of the development defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevDefaults {
    pub tenant_id: TenantId,
    pub subscription_id: SubscriptionId,
    pub resource_group: String,
    pub client_id: ClientId,
    pub object_id: ObjectId,
}

/// What [`Directory::ensure_dev_defaults`] found or made.
#[derive(Debug)]
pub struct DevBootstrap {
    pub defaults: DevDefaults,
    /// A client secret, when one was made now (first start, or a lost credentials file).
    pub new_secret: Option<SecretString>,
}

impl Directory {
    /// Creates the development defaults on first start; afterwards returns them. When the caller no longer has
    /// a working secret (`known_secret` is `None` or no longer matches) a new one is added.
    pub async fn ensure_dev_defaults(
        &self,
        known_secret: Option<&SecretString>,
    ) -> Result<DevBootstrap, DirectoryError> {
        if let Some(existing) = records::get::<DevDefaults>(self.store(), KEY).await? {
            let defaults = existing.value;
            let still_valid = match known_secret {
                Some(secret) => {
                    self.client_secret_matches(&defaults.tenant_id, &defaults.client_id, secret)
                        .await?
                }
                None => false,
            };
            let new_secret = if still_valid {
                None
            } else {
                Some(
                    self.new_client_secret(&defaults.tenant_id, &defaults.client_id, true)
                        .await?
                        .1,
                )
            };
            return Ok(DevBootstrap { defaults, new_secret });
        }

        let tenant = self.new_tenant("cmk development")?;
        let subscription = self.new_subscription(tenant.id, "cmk development")?;
        let group = ResourceGroup {
            subscription_id: subscription.id,
            name: DEFAULT_RESOURCE_GROUP.to_owned(),
            location: DEFAULT_LOCATION.to_owned(),
            tags: Default::default(),
            managed_by: None,
            created: self.clock().now(),
        };
        let (principal, secret) = self.new_service_principal(tenant.id, "cmk development operator", true)?;
        let defaults = DevDefaults {
            tenant_id: tenant.id,
            subscription_id: subscription.id,
            resource_group: group.name.clone(),
            client_id: principal.client_id,
            object_id: principal.object_id,
        };
        // The development operator owns the development subscription, as a subscription's creator does in Azure.
        let owner = self.subscription_owner(
            subscription.id,
            principal.object_id,
            principal.object_id,
            Some("The development operator owns the development subscription"),
        )?;
        let mut writes = vec![
            records::create(keys::tenant(&tenant.id), &tenant)?,
            records::create(keys::subscription(&subscription.id), &subscription)?,
            records::create(keys::resource_group(&subscription.id, &group.name), &group)?,
            records::create(keys::principal(&tenant.id, &principal.client_id), &principal)?,
            records::create(KEY.to_owned(), &defaults)?,
        ];
        writes.extend(self.system_assignment_writes(&owner).await?);
        self.store().commit(writes).await?;
        tracing::info!(tenant = %tenant.id, subscription = %subscription.id, "created development defaults");
        Ok(DevBootstrap {
            defaults,
            new_secret: Some(secret),
        })
    }
}

/// What a production deployment was initialised with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentDefaults {
    pub tenant_id: TenantId,
    pub subscription_id: SubscriptionId,
    pub client_id: ClientId,
    pub object_id: ObjectId,
    pub created: cmk_core::Timestamp,
}

/// What [`Directory::initialize_deployment`] did.
#[derive(Debug)]
pub enum Initialized {
    /// It created the deployment's first tenant, subscription and operator; the secret is shown now only.
    Created {
        defaults: DeploymentDefaults,
        secret: SecretString,
    },
    /// The store was initialised before (or has operators of a development start): nothing changed.
    Already { defaults: Option<DeploymentDefaults> },
}

/// The names of what initialisation creates.
#[derive(Debug, Clone)]
pub struct DeploymentNames {
    pub tenant: String,
    pub subscription: String,
    pub operator: String,
}

impl Directory {
    /// Whether anyone can administer the deployment.
    pub async fn has_operator(&self) -> Result<bool, DirectoryError> {
        Ok(self.operator_count().await? > 0)
    }

    /// Initialises a production deployment on a store without operators: its first tenant, a subscription
    /// and an operator principal that owns the subscription, in one commit. On a store that has them it
    /// changes nothing; two initialisations at once make one deployment (the second finds the first).
    pub async fn initialize_deployment(&self, names: &DeploymentNames) -> Result<Initialized, DirectoryError> {
        if let Some(existing) = records::get::<DeploymentDefaults>(self.store(), DEPLOYMENT_KEY).await? {
            return Ok(Initialized::Already {
                defaults: Some(existing.value),
            });
        }
        if self.has_operator().await? {
            return Ok(Initialized::Already { defaults: None });
        }
        let tenant = self.new_tenant(&names.tenant)?;
        let subscription = self.new_subscription(tenant.id, &names.subscription)?;
        let (principal, secret) = self.new_service_principal(tenant.id, &names.operator, true)?;
        let defaults = DeploymentDefaults {
            tenant_id: tenant.id,
            subscription_id: subscription.id,
            client_id: principal.client_id,
            object_id: principal.object_id,
            created: self.clock().now(),
        };
        let owner = self.subscription_owner(
            subscription.id,
            principal.object_id,
            principal.object_id,
            Some("The first operator owns the first subscription"),
        )?;
        let mut writes = vec![
            records::create(keys::tenant(&tenant.id), &tenant)?,
            records::create(keys::subscription(&subscription.id), &subscription)?,
            records::create(keys::principal(&tenant.id, &principal.client_id), &principal)?,
            records::create(DEPLOYMENT_KEY.to_owned(), &defaults)?,
        ];
        writes.extend(self.system_assignment_writes(&owner).await?);
        match self.store().commit(writes).await {
            Ok(_) => {}
            Err(cmk_store::StoreError::Conflict { .. }) => {
                let existing = records::get::<DeploymentDefaults>(self.store(), DEPLOYMENT_KEY).await?;
                return Ok(Initialized::Already {
                    defaults: existing.map(|e| e.value),
                });
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(tenant = %tenant.id, subscription = %subscription.id, "initialised the deployment");
        Ok(Initialized::Created { defaults, secret })
    }
}
