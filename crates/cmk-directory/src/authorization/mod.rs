//! Azure role-based access control (`Microsoft.Authorization`): who may do what, where.
//!
//! A role definition grants actions (management plane) and data actions (vault keys, account content); a role
//! assignment gives one role to one principal at one scope, and applies at that scope and everything below it.
//! Every management operation asks [`Directory::authorize`] for its action at the resource's scope and gets an
//! [`AuthorizedSubscription`] proof, which the domain operation requires; the data planes ask
//! [`Permissions::allows_data`]. Nobody holds anything by default: a subscription's Owner is named when the
//! subscription is made, and managed identities get only what is assigned to them.
//!
//! # Layout
//! - [`scope`]: scopes and their containment.
//! - [`actions`]: action names and the wildcard rule of role definitions.
//! - [`roles`]: role definitions; `built_in` holds Azure's built-in roles.
//! - [`definitions`]: custom roles.
//! - [`assignments`]: role assignments.
//! - [`permissions`]: effective permissions per principal, cached.
//! - [`events`]: changes published as they are committed.
//! - `upgrade`: what a store from before role-based access control grants, once.

pub mod actions;
pub mod assignments;
mod built_in;
pub mod definitions;
pub mod events;
pub mod permissions;
pub mod roles;
pub mod scope;
mod upgrade;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use permissions::{Caller, Permissions};
pub use roles::{RoleDefinition, RoleDefinitionId};
pub use scope::{Scope, ScopeError};

use crate::model::{Subscription, SubscriptionId};
use crate::tokens::VerifiedToken;
use crate::{Directory, DirectoryError};

/// Store keys of authorization records.
pub(crate) mod keys {
    use super::RoleDefinitionId;
    use crate::model::{ObjectId, SubscriptionId};

    /// Role assignments, by subscription: `authz/assignments/{subscription}/{name}`.
    pub fn assignments(subscription: &SubscriptionId) -> String {
        format!("authz/assignments/{subscription}/")
    }

    pub fn assignment(subscription: &SubscriptionId, name: &uuid::Uuid) -> String {
        format!("{}{name}", assignments(subscription))
    }

    /// Assignment names are unique in the deployment: each claims its name here.
    pub fn assignment_name(name: &uuid::Uuid) -> String {
        format!("authz/assignment-names/{name}")
    }

    /// What one principal holds, in one record, so that a request reads one key to learn it.
    pub fn grants(principal: &ObjectId) -> String {
        format!("{}{principal}", grants_prefix())
    }

    pub const fn grants_prefix() -> &'static str {
        "authz/grants/"
    }

    pub const CUSTOM_ROLES: &str = "authz/roles/";

    pub fn custom_role(id: &RoleDefinitionId) -> String {
        format!("{CUSTOM_ROLES}{id}")
    }

    /// Rewritten with every custom-role change; its revision invalidates permissions computed before.
    pub const ROLES_REVISION: &str = "authz/roles-revision";

    /// Present once a store from before role-based access control has been given its initial assignments.
    pub const UPGRADED: &str = "authz/upgraded";
}

/// One assignment of a principal, as its grants record keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GrantRecord {
    pub assignment: Uuid,
    pub scope: Scope,
    pub role: RoleDefinitionId,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PrincipalGrants {
    pub grants: Vec<GrantRecord>,
}

/// Proof that the caller may act in a subscription: made only by [`Directory::authorize`] (which checked one
/// action at one scope) or [`Directory::authorize_listing`] (which checked the caller can see something there).
/// It carries the caller's permissions, so a domain operation confirms the action it is about to perform with
/// [`AuthorizedSubscription::require`] and a listing keeps only what [`AuthorizedSubscription::can`] read.
#[derive(Debug, Clone)]
pub struct AuthorizedSubscription {
    subscription: Subscription,
    permissions: Arc<Permissions>,
}

impl AuthorizedSubscription {
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    pub fn id(&self) -> SubscriptionId {
        self.subscription.id
    }

    pub fn caller(&self) -> &Caller {
        self.permissions.caller()
    }

    pub fn permissions(&self) -> &Permissions {
        &self.permissions
    }

    /// Whether the caller may perform `action` at `scope` (a scope of this subscription).
    pub fn can(&self, action: &str, scope: &Scope) -> bool {
        scope.subscription_id() == self.subscription.id && self.permissions.allows(action, scope)
    }

    /// Confirms the caller may perform `action` at `scope`, or refuses as ARM does.
    pub fn require(&self, action: &str, scope: &Scope) -> Result<(), DirectoryError> {
        if self.can(action, scope) {
            Ok(())
        } else {
            Err(authorization_failed(self.caller(), action, scope))
        }
    }
}

pub(crate) fn authorization_failed(caller: &Caller, action: &str, scope: &Scope) -> DirectoryError {
    // Azure names a service principal by its object id in both places.
    DirectoryError::AuthorizationFailed {
        client_id: caller.object_id.to_string(),
        object_id: caller.object_id.to_string(),
        action: action.to_owned(),
        scope: scope.to_string(),
    }
}

impl Directory {
    /// Changes to role assignments and custom roles, from now on.
    pub fn subscribe_authorization(&self) -> tokio::sync::broadcast::Receiver<events::AuthorizationEvent> {
        self.inner.authorization_events.subscribe()
    }

    /// Tells subscribers of the authorization changes another process committed (`keys`, from the change feed):
    /// a principal's grants record names the principal, a custom role change concerns everyone.
    pub fn relay_changes<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let mut principals = Vec::new();
        let mut roles = false;
        for key in keys {
            if let Some(principal) = key
                .strip_prefix(keys::grants_prefix())
                .and_then(crate::model::ObjectId::parse)
            {
                principals.push(principal);
            } else if key.starts_with(keys::CUSTOM_ROLES) || key == keys::ROLES_REVISION {
                roles = true;
            }
        }
        principals.sort_unstable();
        principals.dedup();
        for principal in principals {
            self.publish_authorization(events::AuthorizationEvent::AssignmentsChanged { principal });
        }
        if roles {
            self.publish_authorization(events::AuthorizationEvent::RolesChanged);
        }
    }

    /// Tells subscribers that anything may have changed (the change feed lost track).
    pub fn relay_everything(&self) {
        self.publish_authorization(events::AuthorizationEvent::RolesChanged);
    }

    pub(crate) fn publish_authorization(&self, event: events::AuthorizationEvent) {
        self.inner.authorization_events.publish(event);
    }

    /// The subscription of `scope`, for a caller of its tenant. A subscription of another tenant is refused as a
    /// token of the wrong tenant, as ARM does, rather than reported missing.
    async fn subscription_for(&self, token: &VerifiedToken, scope: &Scope) -> Result<Subscription, DirectoryError> {
        let subscription = self.get_subscription(&scope.subscription_id()).await?;
        token.ensure_tenant(subscription.tenant_id)?;
        Ok(subscription)
    }

    /// Checks that the caller holds `action` at `scope`.
    pub async fn authorize(
        &self,
        token: &VerifiedToken,
        action: &str,
        scope: &Scope,
    ) -> Result<AuthorizedSubscription, DirectoryError> {
        self.authorize_when(token, action, scope, |p| p.allows(action, scope))
            .await
    }

    /// Checks that the caller holds some role at, above or below `scope`, so that a listing there can show it
    /// what it may read (and nothing else). A caller with nothing there is refused for `action`.
    pub async fn authorize_listing(
        &self,
        token: &VerifiedToken,
        action: &str,
        scope: &Scope,
    ) -> Result<AuthorizedSubscription, DirectoryError> {
        self.authorize_when(token, action, scope, |p| p.touches(scope)).await
    }

    async fn authorize_when(
        &self,
        token: &VerifiedToken,
        action: &str,
        scope: &Scope,
        granted: impl Fn(&Permissions) -> bool,
    ) -> Result<AuthorizedSubscription, DirectoryError> {
        let subscription = self.subscription_for(token, scope).await?;
        let permissions = self.permissions(token).await?;
        if !granted(&permissions) {
            return Err(authorization_failed(permissions.caller(), action, scope));
        }
        Ok(AuthorizedSubscription {
            subscription,
            permissions,
        })
    }
}
