//! Effective permissions: a principal's role assignments with their roles resolved, computed once and kept
//! until an assignment of the principal or a custom role changes.
//!
//! Every request of a principal asks "may it do X at scope S", on the hot path of `unwrapkey` too. The answer
//! comes from a [`Permissions`] value, cached per principal and keyed by the revisions of the records it was
//! computed from (the principal's grants and, when it holds custom roles, the custom-role revision). Those two
//! records are read on every request, so a change committed by any node is seen by the next request: the cache
//! saves the decoding and the role lookups, never correctness.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use super::roles::{RoleDefinition, RoleDefinitionId, built_in_role};
use super::scope::Scope;
use super::{GrantRecord, PrincipalGrants, keys};
use crate::model::{ClientId, ObjectId, SubscriptionId, TenantId};
use crate::tokens::VerifiedToken;
use crate::{Directory, DirectoryError, records};

/// Who is asking, as the token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub tenant_id: TenantId,
    pub object_id: ObjectId,
    pub client_id: ClientId,
}

impl From<&VerifiedToken> for Caller {
    fn from(token: &VerifiedToken) -> Self {
        Caller {
            tenant_id: token.tenant_id(),
            object_id: token.object_id(),
            client_id: token.client_id(),
        }
    }
}

#[derive(Debug, Clone)]
struct Grant {
    scope: Scope,
    role: Arc<RoleDefinition>,
}

/// What one principal may do, everywhere. Only [`Directory::permissions`] makes one.
#[derive(Debug)]
pub struct Permissions {
    caller: Caller,
    grants: Vec<Grant>,
}

impl Permissions {
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// Whether a role assigned at `scope` or above grants the management action.
    pub fn allows(&self, action: &str, scope: &Scope) -> bool {
        self.grants
            .iter()
            .any(|g| g.scope.contains(scope) && g.role.allows(action))
    }

    /// Whether a role assigned at `scope` or above grants the data action.
    pub fn allows_data(&self, data_action: &str, scope: &Scope) -> bool {
        self.grants
            .iter()
            .any(|g| g.scope.contains(scope) && g.role.allows_data(data_action))
    }

    /// Whether a role at `scope` or above lets the caller write (or delete, per `action`) an assignment of
    /// `role` there: it must grant the action and not be limited to other roles.
    pub fn allows_assignment(&self, action: &str, role: RoleDefinitionId, scope: &Scope) -> bool {
        self.grants
            .iter()
            .any(|g| g.scope.contains(scope) && g.role.allows(action) && g.role.may_assign(role))
    }

    /// Whether a role at `scope` or above grants `action` without being limited to some roles: what changing a
    /// vault's permission model takes (Owner, User Access Administrator), as in Azure.
    pub fn allows_unrestricted(&self, action: &str, scope: &Scope) -> bool {
        self.grants
            .iter()
            .any(|g| g.scope.contains(scope) && g.role.allows(action) && g.role.assignable_roles.is_none())
    }

    /// Whether any assignment of the caller lies at, above or below `scope`: whether the caller can see
    /// anything there at all (a subscription it may list, a resource group whose vaults it may read).
    pub fn touches(&self, scope: &Scope) -> bool {
        self.grants.iter().any(|g| g.scope.related(scope))
    }

    /// The roles that apply at `scope` (assigned there or above), once each.
    pub fn roles_at(&self, scope: &Scope) -> Vec<Arc<RoleDefinition>> {
        let mut roles: Vec<Arc<RoleDefinition>> = Vec::new();
        for grant in self.grants.iter().filter(|g| g.scope.contains(scope)) {
            if !roles.iter().any(|r| r.id == grant.role.id) {
                roles.push(grant.role.clone());
            }
        }
        roles
    }

    /// The subscriptions in which the caller holds any role.
    pub fn subscriptions(&self) -> BTreeSet<SubscriptionId> {
        self.grants.iter().map(|g| g.scope.subscription_id()).collect()
    }
}

struct Cached {
    grants_revision: u64,
    /// `None` when the principal holds built-in roles only, which no custom-role change affects.
    roles_revision: Option<u64>,
    permissions: Arc<Permissions>,
}

/// Computed permissions per principal.
#[derive(Default)]
pub(crate) struct PermissionCache {
    entries: Mutex<HashMap<ObjectId, Cached>>,
}

/// Principals kept at most; past that the cache starts over.
const CACHE_LIMIT: usize = 50_000;

impl PermissionCache {
    fn get(&self, principal: &ObjectId, grants_revision: u64) -> Option<(Option<u64>, Arc<Permissions>)> {
        let entries = self.entries.lock().ok()?;
        let cached = entries.get(principal)?;
        (cached.grants_revision == grants_revision).then(|| (cached.roles_revision, cached.permissions.clone()))
    }

    fn put(&self, principal: ObjectId, cached: Cached) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_LIMIT {
                entries.clear();
            }
            entries.insert(principal, cached);
        }
    }
}

impl Directory {
    /// The caller's effective permissions: its role assignments, read from the store on every call and compiled
    /// only when they changed.
    pub async fn permissions(&self, token: &VerifiedToken) -> Result<Arc<Permissions>, DirectoryError> {
        let caller = Caller::from(token);
        let key = keys::grants(&caller.object_id);
        // Only the revision tells whether the cached answer is current; the record is decoded on a miss.
        let entry = self.store().get(&key).await?;
        let grants_revision = entry.as_ref().map_or(0, |e| e.revision);
        if let Some((roles_revision, permissions)) = self.inner.permissions.get(&caller.object_id, grants_revision) {
            match roles_revision {
                None => return Ok(permissions),
                Some(seen) if seen == self.custom_roles_revision().await? => return Ok(permissions),
                Some(_) => {}
            }
        }
        let records = match entry {
            Some(entry) => {
                serde_json::from_slice::<PrincipalGrants>(&entry.value)
                    .map_err(|_| DirectoryError::Corrupt(key.clone()))?
                    .grants
            }
            None => Vec::new(),
        };
        let holds_custom = records.iter().any(|g| built_in_role(g.role).is_none());
        let roles_revision = if holds_custom {
            Some(self.custom_roles_revision().await?)
        } else {
            None
        };
        let mut compiled = Vec::with_capacity(records.len());
        for GrantRecord { scope, role, .. } in records {
            // An assignment of a role that no longer exists grants nothing (custom roles with assignments cannot
            // be deleted, so this is a record from before such a rule, or a race lost by the deletion).
            if let Some(role) = self.role_definition(role).await? {
                compiled.push(Grant { scope, role });
            }
        }
        let permissions = Arc::new(Permissions {
            caller,
            grants: compiled,
        });
        self.inner.permissions.put(
            caller.object_id,
            Cached {
                grants_revision,
                roles_revision,
                permissions: permissions.clone(),
            },
        );
        Ok(permissions)
    }

    /// The revision of the last change to any custom role.
    pub(crate) async fn custom_roles_revision(&self) -> Result<u64, DirectoryError> {
        Ok(self
            .store()
            .get(keys::ROLES_REVISION)
            .await?
            .map_or(0, |entry| entry.revision))
    }

    /// A role definition by id: built in, or a custom role of any tenant.
    pub(crate) async fn role_definition(
        &self,
        id: RoleDefinitionId,
    ) -> Result<Option<Arc<RoleDefinition>>, DirectoryError> {
        if let Some(role) = built_in_role(id) {
            return Ok(Some(role.clone()));
        }
        Ok(records::get::<RoleDefinition>(self.store(), &keys::custom_role(&id))
            .await?
            .map(|r| Arc::new(r.value)))
    }
}

#[cfg(test)]
impl Permissions {
    /// Permissions from explicit grants, for unit tests of the evaluation.
    pub(crate) fn for_test(caller: Caller, grants: Vec<(Scope, Arc<RoleDefinition>)>) -> Self {
        Self {
            caller,
            grants: grants.into_iter().map(|(scope, role)| Grant { scope, role }).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization::actions::authorization::{ROLE_ASSIGNMENT_DELETE, ROLE_ASSIGNMENT_WRITE};
    use crate::authorization::roles::{built_in_roles, ids};

    fn role(name: &str) -> Arc<RoleDefinition> {
        built_in_roles()
            .iter()
            .find(|r| r.role_name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no built-in role {name}"))
    }

    fn scope(text: &str) -> Scope {
        Scope::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn caller() -> Caller {
        Caller {
            tenant_id: TenantId::from_uuid(uuid::Uuid::from_u128(1)),
            object_id: ObjectId::from_uuid(uuid::Uuid::from_u128(2)),
            client_id: ClientId::from_uuid(uuid::Uuid::from_u128(3)),
        }
    }

    const SUB: &str = "/subscriptions/00000000-0000-0000-0000-00000000000a";

    #[test]
    fn roles_grant_what_azure_says_and_inherit_downwards() {
        let rg = scope(&format!("{SUB}/resourceGroups/rg"));
        let vault = scope(&format!(
            "{SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"
        ));
        let key = vault.child("keys", "k1");
        let other_key = vault.child("keys", "k2");
        let p = Permissions::for_test(
            caller(),
            vec![
                (rg.clone(), role("Contributor")),
                (key.clone(), role("Key Vault Crypto Service Encryption User")),
            ],
        );
        assert!(p.allows("Microsoft.KeyVault/vaults/write", &vault));
        assert!(p.allows("Microsoft.KeyVault/vaults/accessPolicies/write", &vault));
        assert!(
            !p.allows(ROLE_ASSIGNMENT_WRITE, &vault),
            "Contributor cannot grant access"
        );
        assert!(
            !p.allows("Microsoft.KeyVault/vaults/write", &scope(SUB)),
            "nothing above the group"
        );
        assert!(p.allows_data("Microsoft.KeyVault/vaults/keys/unwrap/action", &key));
        assert!(!p.allows_data("Microsoft.KeyVault/vaults/keys/unwrap/action", &other_key));
        assert!(!p.allows_data("Microsoft.KeyVault/vaults/keys/unwrap/action", &vault));
        assert!(!p.allows_data("Microsoft.KeyVault/vaults/keys/sign/action", &key));
        assert!(p.touches(&scope(SUB)) && p.touches(&key));
        assert!(!p.touches(&scope(&format!("{SUB}/resourceGroups/other"))));
    }

    #[test]
    fn limited_role_assigners_hand_out_only_their_roles() {
        let sub = scope(SUB);
        let p = Permissions::for_test(
            caller(),
            vec![(sub.clone(), role("Key Vault Data Access Administrator"))],
        );
        assert!(p.allows_assignment(ROLE_ASSIGNMENT_WRITE, ids::KEY_VAULT_CRYPTO_USER, &sub));
        assert!(p.allows_assignment(ROLE_ASSIGNMENT_DELETE, ids::KEY_VAULT_CRYPTO_OFFICER, &sub));
        assert!(!p.allows_assignment(ROLE_ASSIGNMENT_WRITE, ids::OWNER, &sub));
        assert!(!p.allows_unrestricted(ROLE_ASSIGNMENT_WRITE, &sub));
        let owner = Permissions::for_test(caller(), vec![(sub.clone(), role("Owner"))]);
        assert!(owner.allows_assignment(ROLE_ASSIGNMENT_WRITE, ids::OWNER, &sub));
        assert!(owner.allows_unrestricted(ROLE_ASSIGNMENT_WRITE, &sub));
        assert!(
            !owner.allows_data("Microsoft.KeyVault/vaults/keys/read", &sub),
            "Owner reads no data"
        );
    }

    #[test]
    fn built_in_roles_have_distinct_ids_and_names() {
        let roles = built_in_roles();
        for (i, r) in roles.iter().enumerate() {
            assert!(
                roles[..i].iter().all(|o| o.id != r.id && o.role_name != r.role_name),
                "{}",
                r.role_name
            );
        }
        assert_eq!(role("Owner").id, ids::OWNER);
        assert_eq!(
            role("Key Vault Crypto Service Encryption User").id,
            ids::KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER
        );
        assert_eq!(role("Key Vault Crypto User").id, ids::KEY_VAULT_CRYPTO_USER);
        assert_eq!(role("Key Vault Crypto Officer").id, ids::KEY_VAULT_CRYPTO_OFFICER);
    }
}
