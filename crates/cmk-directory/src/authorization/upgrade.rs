//! The first start of a store made before role-based access control.
//!
//! Such a store let every service principal of a tenant manage every subscription of that tenant. So that an
//! upgrade locks nobody out, each of those principals becomes Owner of each subscription of its tenant, once;
//! managed identities get nothing (they never needed the management plane, and their vault access comes from
//! access policies, which stay). A store with the marker record is never upgraded again, so Owners removed
//! afterwards stay removed.

use cmk_core::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::assignments::{PrincipalType, RoleAssignment};
use super::keys;
use super::roles::ids::OWNER;
use super::scope::Scope;
use crate::model::{ServicePrincipal, Subscription, keys as directory_keys};
use crate::{Directory, DirectoryError, records};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Upgraded {
    at: Timestamp,
    assignments: usize,
}

const NAME_PURPOSE: &str = "role assignment of an upgraded store";

impl Directory {
    /// A stable assignment name for (subscription, principal), so that two nodes upgrading the same store at
    /// once write the same records instead of two Owners.
    fn upgrade_assignment_name(&self, subscription: &Subscription, principal: &ServicePrincipal) -> Uuid {
        let mut data = Vec::with_capacity(32);
        data.extend_from_slice(subscription.id.as_bytes());
        data.extend_from_slice(principal.object_id.as_bytes());
        let tag = self.inner.root_key.mac(NAME_PURPOSE, &data);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&tag[..16]);
        // An RFC 9562 version 8 (custom) UUID.
        bytes[6] = (bytes[6] & 0x0f) | 0x80;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Uuid::from_bytes(bytes)
    }

    /// Grants what a store from before role-based access control implied, unless that was done already.
    /// Returns how many assignments it made.
    pub(crate) async fn upgrade_authorization(&self) -> Result<usize, DirectoryError> {
        if self.store().get(keys::UPGRADED).await?.is_some() {
            return Ok(0);
        }
        let subscriptions =
            cmk_store::records::scan::<Subscription>(self.store(), directory_keys::SUBSCRIPTIONS, |_| true).await?;
        let mut made = 0;
        for subscription in &subscriptions {
            let principals = cmk_store::records::scan::<ServicePrincipal>(
                self.store(),
                &directory_keys::principals(&subscription.tenant_id),
                |p| p.managed_identity.is_none(),
            )
            .await?;
            for principal in principals {
                let name = self.upgrade_assignment_name(subscription, &principal);
                if self.store().get(&keys::assignment_name(&name)).await?.is_some() {
                    continue;
                }
                let now = self.clock().now();
                let assignment = RoleAssignment {
                    name,
                    scope: Scope::subscription(subscription.id),
                    role_definition_id: OWNER,
                    principal_id: principal.object_id,
                    principal_type: PrincipalType::ServicePrincipal,
                    description: Some("Granted when this store was upgraded to role-based access control".into()),
                    created_on: now,
                    updated_on: now,
                    created_by: principal.object_id,
                    updated_by: principal.object_id,
                };
                match self
                    .store()
                    .commit(self.system_assignment_writes(&assignment).await?)
                    .await
                {
                    Ok(_) => made += 1,
                    // Another node upgrading at the same time wrote it first.
                    Err(cmk_store::StoreError::Conflict { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let marker = Upgraded {
            at: self.clock().now(),
            assignments: made,
        };
        match self
            .store()
            .commit(vec![records::create(keys::UPGRADED.to_owned(), &marker)?])
            .await
        {
            Ok(_) | Err(cmk_store::StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if made > 0 {
            tracing::info!(
                assignments = made,
                "upgraded the store to role-based access control: every service principal is Owner of its tenant's subscriptions"
            );
        }
        Ok(made)
    }
}
