//! Subscriptions: each belongs to one tenant, and only that tenant's principals see it.

use crate::model::{Subscription, SubscriptionId, SubscriptionState, TenantId, keys};
use crate::principals::Operator;
use crate::tenants::validate_display_name;
use crate::tokens::VerifiedToken;
use crate::{Directory, DirectoryError, records};

/// Proof that the caller's token belongs to the subscription's tenant; resource group operations need one.
#[derive(Debug, Clone)]
pub struct AuthorizedSubscription {
    subscription: Subscription,
}

impl AuthorizedSubscription {
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    pub fn id(&self) -> SubscriptionId {
        self.subscription.id
    }
}

/// How many stored subscriptions one listing call reads at most while filtering by tenant.
const SCAN_PAGE: usize = 200;

impl Directory {
    pub(crate) fn new_subscription(
        &self,
        tenant_id: TenantId,
        display_name: &str,
    ) -> Result<Subscription, DirectoryError> {
        Ok(Subscription {
            id: SubscriptionId::random()?,
            tenant_id,
            display_name: validate_display_name(display_name)?,
            state: SubscriptionState::Enabled,
            created: self.clock().now(),
        })
    }

    pub async fn create_subscription(
        &self,
        _operator: &Operator,
        tenant: &TenantId,
        display_name: &str,
    ) -> Result<Subscription, DirectoryError> {
        self.get_tenant(tenant).await?;
        let subscription = self.new_subscription(*tenant, display_name)?;
        self.store()
            .commit(vec![records::create(
                keys::subscription(&subscription.id),
                &subscription,
            )?])
            .await?;
        tracing::info!(subscription = %subscription.id, tenant = %tenant, "created subscription");
        Ok(subscription)
    }

    pub async fn get_subscription(&self, id: &SubscriptionId) -> Result<Subscription, DirectoryError> {
        records::get::<Subscription>(self.store(), &keys::subscription(id))
            .await?
            .map(|v| v.value)
            .ok_or_else(|| DirectoryError::SubscriptionNotFound(id.to_string()))
    }

    /// Moves a subscription, with everything in it, to another tenant. Managed identities stay in the old
    /// tenant (see [`crate::managed_identities`]); vaults keep the tenant they were set up with.
    pub async fn move_subscription(
        &self,
        _operator: &Operator,
        id: &SubscriptionId,
        tenant: &TenantId,
    ) -> Result<Subscription, DirectoryError> {
        self.get_tenant(tenant).await?;
        let key = keys::subscription(id);
        let current = records::get::<Subscription>(self.store(), &key)
            .await?
            .ok_or_else(|| DirectoryError::SubscriptionNotFound(id.to_string()))?;
        let mut subscription = current.value;
        let from = subscription.tenant_id;
        subscription.tenant_id = *tenant;
        self.store()
            .commit(vec![records::replace(key, &subscription, current.revision)?])
            .await?;
        tracing::info!(subscription = %id, from = %from, to = %tenant, "moved subscription to another tenant");
        Ok(subscription)
    }

    /// The subscription named in a path, for a caller holding `token`. A subscription of another tenant is
    /// refused with [`TokenError::WrongTenant`](crate::TokenError::WrongTenant), as ARM does, rather than
    /// reported missing.
    pub async fn authorize_subscription(
        &self,
        token: &VerifiedToken,
        subscription: &str,
    ) -> Result<AuthorizedSubscription, DirectoryError> {
        let id = SubscriptionId::parse(subscription)
            .ok_or_else(|| DirectoryError::InvalidSubscriptionId(subscription.to_owned()))?;
        let subscription = records::get::<Subscription>(self.store(), &keys::subscription(&id))
            .await?
            .map(|v| v.value)
            .ok_or_else(|| DirectoryError::SubscriptionNotFound(id.to_string()))?;
        token.ensure_tenant(subscription.tenant_id)?;
        Ok(AuthorizedSubscription { subscription })
    }

    /// The subscriptions of `tenant`, a page at a time; the continuation is opaque to callers.
    pub async fn list_subscriptions(
        &self,
        tenant: &TenantId,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Subscription>, Option<String>), DirectoryError> {
        let mut found = Vec::new();
        let mut cursor = start_after.map(str::to_owned);
        loop {
            let entries = self
                .store()
                .list(keys::SUBSCRIPTIONS, cursor.as_deref(), SCAN_PAGE)
                .await?;
            let exhausted = entries.len() < SCAN_PAGE;
            for entry in entries {
                cursor = Some(entry.key.clone());
                let subscription: Subscription =
                    serde_json::from_slice(&entry.value).map_err(|_| DirectoryError::Corrupt(entry.key.clone()))?;
                if subscription.tenant_id == *tenant {
                    found.push(subscription);
                    if found.len() == limit {
                        return Ok((found, cursor));
                    }
                }
            }
            if exhausted {
                return Ok((found, None));
            }
        }
    }
}
