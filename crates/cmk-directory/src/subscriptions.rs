//! Subscriptions: each belongs to one tenant, and only that tenant's principals see it.

use crate::authorization::Scope;
use crate::authorization::assignments::{PrincipalType, RoleAssignment};
use crate::authorization::roles::ids::OWNER;
use crate::model::{ObjectId, Subscription, SubscriptionId, SubscriptionState, TenantId, keys};
use crate::principals::Operator;
use crate::tenants::validate_display_name;
use crate::tokens::VerifiedToken;
use crate::{Directory, DirectoryError, records};

pub use crate::authorization::AuthorizedSubscription;

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

    /// Creates a subscription in `tenant`; `owner` (a principal of that tenant) becomes its Owner in the same
    /// commit. Without one, nobody can manage the subscription until an operator names an Owner.
    pub async fn create_subscription(
        &self,
        operator: &Operator,
        tenant: &TenantId,
        display_name: &str,
        owner: Option<ObjectId>,
    ) -> Result<Subscription, DirectoryError> {
        self.get_tenant(tenant).await?;
        let subscription = self.new_subscription(*tenant, display_name)?;
        let mut writes = vec![records::create(keys::subscription(&subscription.id), &subscription)?];
        if let Some(owner) = owner {
            writes.extend(self.owner_writes(operator, &subscription, owner).await?);
        }
        self.store().commit(writes).await?;
        tracing::info!(subscription = %subscription.id, tenant = %tenant, "created subscription");
        Ok(subscription)
    }

    /// Makes `owner` an Owner of the subscription: how an operator gives a subscription its first Owner, or
    /// gives it back one when nobody can manage it any more. Returns the assignment.
    pub async fn add_subscription_owner(
        &self,
        operator: &Operator,
        id: &SubscriptionId,
        owner: ObjectId,
    ) -> Result<RoleAssignment, DirectoryError> {
        let subscription = self.get_subscription(id).await?;
        let scope = Scope::subscription(*id);
        if let Some(grants) = self.principal_grants(&owner).await?
            && let Some(existing) = grants.value.grants.iter().find(|g| g.role == OWNER && g.scope == scope)
        {
            return Err(DirectoryError::RoleAssignmentExists(existing.assignment.to_string()));
        }
        let assignment = self.owner_assignment(operator, &subscription, owner).await?;
        self.store()
            .commit(self.system_assignment_writes(&assignment).await?)
            .await?;
        tracing::info!(subscription = %id, owner = %owner, "an operator made a subscription owner");
        self.publish_authorization(crate::authorization::events::AuthorizationEvent::AssignmentsChanged {
            principal: owner,
        });
        Ok(assignment)
    }

    async fn owner_assignment(
        &self,
        operator: &Operator,
        subscription: &Subscription,
        owner: ObjectId,
    ) -> Result<RoleAssignment, DirectoryError> {
        if self
            .find_principal_by_object_id(&subscription.tenant_id, &owner)
            .await?
            .is_none()
        {
            return Err(DirectoryError::PrincipalNotFound {
                principal: owner.to_string(),
                tenant: subscription.tenant_id.to_string(),
            });
        }
        self.subscription_owner(subscription.id, owner, operator.object_id(), None)
    }

    /// An assignment of Owner over `subscription` to `owner`, made by `made_by`.
    pub(crate) fn subscription_owner(
        &self,
        subscription: SubscriptionId,
        owner: ObjectId,
        made_by: ObjectId,
        description: Option<&str>,
    ) -> Result<RoleAssignment, DirectoryError> {
        let now = self.clock().now();
        Ok(RoleAssignment {
            name: cmk_crypto::random::random_uuid()?,
            scope: Scope::subscription(subscription),
            role_definition_id: OWNER,
            principal_id: owner,
            principal_type: PrincipalType::ServicePrincipal,
            description: description.map(str::to_owned),
            created_on: now,
            updated_on: now,
            created_by: made_by,
            updated_by: made_by,
        })
    }

    async fn owner_writes(
        &self,
        operator: &Operator,
        subscription: &Subscription,
        owner: ObjectId,
    ) -> Result<Vec<cmk_store::Write>, DirectoryError> {
        let assignment = self.owner_assignment(operator, subscription, owner).await?;
        self.system_assignment_writes(&assignment).await
    }

    pub async fn get_subscription(&self, id: &SubscriptionId) -> Result<Subscription, DirectoryError> {
        records::get::<Subscription>(self.store(), &keys::subscription(id))
            .await?
            .map(|v| v.value)
            .ok_or_else(|| DirectoryError::SubscriptionNotFound(id.to_string()))
    }

    /// Moves a subscription, with everything in it, to another tenant. Managed identities stay in the old
    /// tenant (see [`crate::managed_identities`]); vaults keep the tenant they were set up with; role
    /// assignments in the subscription are deleted, so an operator names its new Owner.
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
        // As in Azure, role assignments do not move with the subscription: the new tenant starts with none.
        let mut writes = if from == *tenant {
            Vec::new()
        } else {
            self.subscription_assignment_deletes(id).await?
        };
        writes.push(records::replace(key, &subscription, current.revision)?);
        self.store().commit(writes).await?;
        tracing::info!(subscription = %id, from = %from, to = %tenant, "moved subscription to another tenant");
        Ok(subscription)
    }

    /// The subscriptions of the caller's tenant in which it holds any role (at the subscription or inside it),
    /// as `GET /subscriptions` shows them, a page at a time after `start_after` (a subscription id).
    pub async fn list_visible_subscriptions(
        &self,
        token: &VerifiedToken,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Subscription>, Option<String>), DirectoryError> {
        let permissions = self.permissions(token).await?;
        let mut found = Vec::new();
        for id in permissions.subscriptions() {
            if start_after.is_some_and(|after| id.to_string().as_str() <= after) {
                continue;
            }
            let Some(subscription) = records::get::<Subscription>(self.store(), &keys::subscription(&id)).await? else {
                continue;
            };
            if subscription.value.tenant_id != token.tenant_id() {
                continue;
            }
            if found.len() == limit {
                let last = found.last().map(|s: &Subscription| s.id.to_string());
                return Ok((found, last));
            }
            found.push(subscription.value);
        }
        Ok((found, None))
    }
}
