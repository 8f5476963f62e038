//! Role assignments: one role, one principal, one scope.
//!
//! Three records hold an assignment, written in one commit: the assignment under its subscription (what
//! listings read), a claim on its name (names are unique in the deployment), and the principal's grants record
//! (what every request of the principal reads).

use cmk_core::Timestamp;
use cmk_store::records::Versioned;
use cmk_store::{Expect, Write};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::actions::authorization::{ROLE_ASSIGNMENT_DELETE, ROLE_ASSIGNMENT_READ, ROLE_ASSIGNMENT_WRITE};
use super::events::AuthorizationEvent;
use super::roles::{RoleDefinition, RoleDefinitionId, RoleType};
use super::scope::Scope;
use super::{GrantRecord, PrincipalGrants, authorization_failed, keys};
use crate::model::{ObjectId, ServicePrincipal, SubscriptionId};
use crate::tokens::VerifiedToken;
use crate::{Directory, DirectoryError, records};

/// The kind of principal an assignment names. Every principal of this directory is a service principal
/// (managed identities included, as in Azure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrincipalType {
    ServicePrincipal,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::ServicePrincipal => "ServicePrincipal",
        }
    }
}

/// The principal types Azure knows, so that a request naming another one is refused with the right reason.
pub const AZURE_PRINCIPAL_TYPES: [&str; 5] = ["User", "Group", "ServicePrincipal", "ForeignGroup", "Device"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    pub name: Uuid,
    pub scope: Scope,
    pub role_definition_id: RoleDefinitionId,
    pub principal_id: ObjectId,
    pub principal_type: PrincipalType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_on: Timestamp,
    pub updated_on: Timestamp,
    pub created_by: ObjectId,
    pub updated_by: ObjectId,
}

/// What a PUT of an assignment asks for.
#[derive(Debug, Clone)]
pub struct AssignmentSpec {
    pub role_definition_id: RoleDefinitionId,
    pub principal_id: ObjectId,
    /// As the request names it; only `ServicePrincipal` fits a principal of this directory.
    pub principal_type: Option<String>,
    pub description: Option<String>,
}

/// Which assignments a listing at a scope returns.
#[derive(Debug, Clone, Copy, Default)]
pub struct AssignmentFilter {
    /// Only assignments at the scope or above it (that apply there): `atScope()`. Otherwise those below too.
    pub at_scope_only: bool,
    /// Only one principal's: `principalId eq '{id}'`, `assignedTo('{id}')`.
    pub principal: Option<ObjectId>,
}

/// Azure's limit on a description.
const MAX_DESCRIPTION: usize = 2048;
/// Attempts at a commit that lost a race on a principal's grants record before the conflict is reported.
const GRANT_ATTEMPTS: usize = 8;

/// The writes that store `assignment` (new) next to the principal's `grants` as read.
fn create_writes(
    assignment: &RoleAssignment,
    grants: Option<Versioned<PrincipalGrants>>,
) -> Result<Vec<Write>, DirectoryError> {
    let subscription = assignment.scope.subscription_id();
    let (mut current, revision) = match grants {
        Some(g) => (g.value, Some(g.revision)),
        None => (PrincipalGrants::default(), None),
    };
    current.grants.push(GrantRecord {
        assignment: assignment.name,
        scope: assignment.scope.clone(),
        role: assignment.role_definition_id,
    });
    let grants_key = keys::grants(&assignment.principal_id);
    Ok(vec![
        records::create(keys::assignment(&subscription, &assignment.name), assignment)?,
        records::create(keys::assignment_name(&assignment.name), &subscription)?,
        match revision {
            Some(revision) => records::replace(grants_key, &current, revision)?,
            None => records::create(grants_key, &current)?,
        },
    ])
}

/// The writes that remove `assignment` (stored at `revision`), given the principal's `grants` as read.
pub(crate) fn delete_writes(
    assignment: &RoleAssignment,
    revision: u64,
    grants: Option<&Versioned<PrincipalGrants>>,
) -> Result<Vec<Write>, DirectoryError> {
    let mut writes = vec![
        Write::Delete {
            key: keys::assignment(&assignment.scope.subscription_id(), &assignment.name),
            expect: Expect::Revision(revision),
        },
        Write::Delete {
            key: keys::assignment_name(&assignment.name),
            expect: Expect::Any,
        },
    ];
    if let Some(grants) = grants {
        writes.push(grants_keeping(&assignment.principal_id, grants, |g| {
            g.assignment != assignment.name
        })?);
    }
    Ok(writes)
}

/// The write that keeps only the grants `keep` accepts in a principal's grants record (as read), deleting the
/// record when none is left.
fn grants_keeping(
    principal: &ObjectId,
    grants: &Versioned<PrincipalGrants>,
    keep: impl Fn(&GrantRecord) -> bool,
) -> Result<Write, DirectoryError> {
    let mut remaining = grants.value.clone();
    remaining.grants.retain(|g| keep(g));
    let key = keys::grants(principal);
    Ok(if remaining.grants.is_empty() {
        Write::Delete {
            key,
            expect: Expect::Revision(grants.revision),
        }
    } else {
        records::replace(key, &remaining, grants.revision)?
    })
}

fn same_grant(a: &RoleAssignment, principal: ObjectId, role: RoleDefinitionId, scope: &Scope) -> bool {
    a.principal_id == principal && a.role_definition_id == role && a.scope == *scope
}

impl Directory {
    pub(crate) async fn principal_grants(
        &self,
        principal: &ObjectId,
    ) -> Result<Option<Versioned<PrincipalGrants>>, DirectoryError> {
        records::get::<PrincipalGrants>(self.store(), &keys::grants(principal)).await
    }

    async fn stored_assignment(
        &self,
        subscription: &SubscriptionId,
        name: &Uuid,
    ) -> Result<Option<Versioned<RoleAssignment>>, DirectoryError> {
        records::get::<RoleAssignment>(self.store(), &keys::assignment(subscription, name)).await
    }

    /// The role an assignment at `scope` may name: built in, or a custom role of the scope's tenant whose
    /// assignable scopes cover `scope`.
    async fn assignable_role(
        &self,
        id: RoleDefinitionId,
        scope: &Scope,
        tenant: crate::model::TenantId,
    ) -> Result<std::sync::Arc<RoleDefinition>, DirectoryError> {
        let role = self
            .role_definition(id)
            .await?
            .filter(|r| r.role_type == RoleType::BuiltInRole || r.tenant_id == Some(tenant))
            .ok_or_else(|| DirectoryError::UnknownRoleDefinition(id.to_string()))?;
        if role.role_type == RoleType::CustomRole
            && !role
                .assignable_scopes
                .iter()
                .filter_map(|s| Scope::parse(s).ok())
                .any(|s| s.contains(scope))
        {
            return Err(DirectoryError::RoleNotAssignableAtScope {
                role: role.role_name.clone(),
                scope: scope.to_string(),
            });
        }
        Ok(role)
    }

    /// Stores a new assignment made by the directory itself (a subscription's first Owner, an upgraded store),
    /// or returns the writes to make it part of a larger commit.
    pub(crate) async fn system_assignment_writes(
        &self,
        assignment: &RoleAssignment,
    ) -> Result<Vec<Write>, DirectoryError> {
        let grants = self.principal_grants(&assignment.principal_id).await?;
        create_writes(assignment, grants)
    }

    /// `PUT {scope}/providers/Microsoft.Authorization/roleAssignments/{name}`: creates the assignment, or updates
    /// the description of the same one. Returns it and whether it was created. `scope` must name something that
    /// exists; the caller of this function checks the resources the directory does not hold.
    pub async fn create_role_assignment(
        &self,
        token: &VerifiedToken,
        scope: &Scope,
        name: Uuid,
        spec: AssignmentSpec,
    ) -> Result<(RoleAssignment, bool), DirectoryError> {
        let subscription = self.subscription_for(token, scope).await?;
        let permissions = self.permissions(token).await?;
        if !permissions.allows_assignment(ROLE_ASSIGNMENT_WRITE, spec.role_definition_id, scope) {
            return Err(authorization_failed(permissions.caller(), ROLE_ASSIGNMENT_WRITE, scope));
        }
        if let Some(group) = scope.resource_group_name() {
            self.find_resource_group(&subscription.id, group).await?;
        }
        if let Some(description) = &spec.description
            && description.chars().count() > MAX_DESCRIPTION
        {
            return Err(DirectoryError::InvalidArgument {
                field: "description",
                reason: format!("a role assignment's description is at most {MAX_DESCRIPTION} characters"),
            });
        }
        self.assignable_role(spec.role_definition_id, scope, subscription.tenant_id)
            .await?;
        let principal = self
            .find_principal_by_object_id(&subscription.tenant_id, &spec.principal_id)
            .await?
            .ok_or_else(|| DirectoryError::PrincipalNotFound {
                principal: spec.principal_id.to_string(),
                tenant: subscription.tenant_id.to_string(),
            })?;
        if let Some(kind) = &spec.principal_type
            && !kind.eq_ignore_ascii_case(PrincipalType::ServicePrincipal.as_str())
        {
            return Err(DirectoryError::PrincipalTypeMismatch {
                principal: principal.object_id.to_string(),
                requested: kind.clone(),
            });
        }
        let now = self.clock().now();
        let caller = token.object_id();
        for _ in 0..GRANT_ATTEMPTS {
            if let Some(owner) = records::get::<SubscriptionId>(self.store(), &keys::assignment_name(&name)).await? {
                let existing = self
                    .stored_assignment(&owner.value, &name)
                    .await?
                    .ok_or_else(|| DirectoryError::Conflict(keys::assignment_name(&name)))?;
                if !same_grant(&existing.value, spec.principal_id, spec.role_definition_id, scope) {
                    return Err(DirectoryError::RoleAssignmentUpdateNotPermitted(name.to_string()));
                }
                if existing.value.description == spec.description {
                    return Ok((existing.value, false));
                }
                let mut updated = existing.value.clone();
                updated.description = spec.description.clone();
                updated.updated_on = now;
                updated.updated_by = caller;
                let key = keys::assignment(&owner.value, &name);
                match self
                    .store()
                    .commit(vec![records::replace(key, &updated, existing.revision)?])
                    .await
                {
                    Ok(_) => return Ok((updated, false)),
                    Err(cmk_store::StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            let grants = self.principal_grants(&spec.principal_id).await?;
            if let Some(grants) = &grants
                && let Some(duplicate) = grants
                    .value
                    .grants
                    .iter()
                    .find(|g| g.role == spec.role_definition_id && g.scope == *scope)
            {
                return Err(DirectoryError::RoleAssignmentExists(duplicate.assignment.to_string()));
            }
            let assignment = RoleAssignment {
                name,
                scope: scope.clone(),
                role_definition_id: spec.role_definition_id,
                principal_id: spec.principal_id,
                principal_type: PrincipalType::ServicePrincipal,
                description: spec.description.clone(),
                created_on: now,
                updated_on: now,
                created_by: caller,
                updated_by: caller,
            };
            match self.store().commit(create_writes(&assignment, grants)?).await {
                Ok(_) => {
                    tracing::info!(assignment = %name, scope = %scope, principal = %spec.principal_id, role = %spec.role_definition_id, "created role assignment");
                    self.publish_authorization(AuthorizationEvent::AssignmentsChanged {
                        principal: spec.principal_id,
                    });
                    return Ok((assignment, true));
                }
                // Another assignment of the same principal (or of this name) committed first: look again.
                Err(cmk_store::StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DirectoryError::Conflict(keys::grants(&spec.principal_id)))
    }

    /// `GET {scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
    pub async fn get_role_assignment(
        &self,
        token: &VerifiedToken,
        scope: &Scope,
        name: &Uuid,
    ) -> Result<RoleAssignment, DirectoryError> {
        self.authorize(token, ROLE_ASSIGNMENT_READ, scope).await?;
        self.stored_assignment(&scope.subscription_id(), name)
            .await?
            .map(|a| a.value)
            .filter(|a| a.scope == *scope)
            .ok_or_else(|| DirectoryError::RoleAssignmentNotFound(name.to_string()))
    }

    /// `DELETE {scope}/providers/Microsoft.Authorization/roleAssignments/{name}`: the deleted assignment, or
    /// `None` when there was none.
    pub async fn delete_role_assignment(
        &self,
        token: &VerifiedToken,
        scope: &Scope,
        name: &Uuid,
    ) -> Result<Option<RoleAssignment>, DirectoryError> {
        self.subscription_for(token, scope).await?;
        let permissions = self.permissions(token).await?;
        for _ in 0..GRANT_ATTEMPTS {
            let Some(stored) = self
                .stored_assignment(&scope.subscription_id(), name)
                .await?
                .filter(|a| a.value.scope == *scope)
            else {
                // Nothing to delete; the caller still needs the right to ask.
                if !permissions.allows(ROLE_ASSIGNMENT_DELETE, scope) {
                    return Err(authorization_failed(
                        permissions.caller(),
                        ROLE_ASSIGNMENT_DELETE,
                        scope,
                    ));
                }
                return Ok(None);
            };
            if !permissions.allows_assignment(ROLE_ASSIGNMENT_DELETE, stored.value.role_definition_id, scope) {
                return Err(authorization_failed(
                    permissions.caller(),
                    ROLE_ASSIGNMENT_DELETE,
                    scope,
                ));
            }
            let grants = self.principal_grants(&stored.value.principal_id).await?;
            match self
                .store()
                .commit(delete_writes(&stored.value, stored.revision, grants.as_ref())?)
                .await
            {
                Ok(_) => {
                    tracing::info!(assignment = %name, scope = %scope, principal = %stored.value.principal_id, "deleted role assignment");
                    self.publish_authorization(AuthorizationEvent::AssignmentsChanged {
                        principal: stored.value.principal_id,
                    });
                    return Ok(Some(stored.value));
                }
                Err(cmk_store::StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DirectoryError::Conflict(keys::assignment(
            &scope.subscription_id(),
            name,
        )))
    }

    /// The assignments that matter at `scope`: those that apply there (at it or above) and, unless the filter
    /// asks for `atScope()` only, those below it. The caller needs `roleAssignments/read` at `scope`.
    pub async fn list_role_assignments(
        &self,
        token: &VerifiedToken,
        scope: &Scope,
        filter: AssignmentFilter,
    ) -> Result<Vec<RoleAssignment>, DirectoryError> {
        self.authorize(token, ROLE_ASSIGNMENT_READ, scope).await?;
        let assignments = cmk_store::records::scan::<RoleAssignment>(
            self.store(),
            &keys::assignments(&scope.subscription_id()),
            |a| {
                let placed = a.scope.contains(scope) || (!filter.at_scope_only && scope.contains(&a.scope));
                placed && filter.principal.is_none_or(|p| a.principal_id == p)
            },
        )
        .await?;
        Ok(assignments)
    }

    /// The assignments of one principal, as a principal-deletion must remove them.
    pub(crate) async fn principal_assignment_deletes(
        &self,
        principal: &ObjectId,
    ) -> Result<Vec<Write>, DirectoryError> {
        let Some(grants) = self.principal_grants(principal).await? else {
            return Ok(Vec::new());
        };
        let mut writes = Vec::new();
        for grant in &grants.value.grants {
            let subscription = grant.scope.subscription_id();
            writes.push(Write::Delete {
                key: keys::assignment(&subscription, &grant.assignment),
                expect: Expect::Any,
            });
            writes.push(Write::Delete {
                key: keys::assignment_name(&grant.assignment),
                expect: Expect::Any,
            });
        }
        writes.push(Write::Delete {
            key: keys::grants(principal),
            expect: Expect::Revision(grants.revision),
        });
        Ok(writes)
    }

    /// Every assignment in a subscription, removed: what moving it to another tenant does, as in Azure.
    pub(crate) async fn subscription_assignment_deletes(
        &self,
        subscription: &SubscriptionId,
    ) -> Result<Vec<Write>, DirectoryError> {
        let assignments =
            cmk_store::records::scan::<RoleAssignment>(self.store(), &keys::assignments(subscription), |_| true)
                .await?;
        let mut principals: Vec<ObjectId> = assignments.iter().map(|a| a.principal_id).collect();
        principals.sort();
        principals.dedup();
        let mut writes = Vec::new();
        for assignment in &assignments {
            writes.push(Write::Delete {
                key: keys::assignment(subscription, &assignment.name),
                expect: Expect::Any,
            });
            writes.push(Write::Delete {
                key: keys::assignment_name(&assignment.name),
                expect: Expect::Any,
            });
        }
        for principal in principals {
            let Some(grants) = self.principal_grants(&principal).await? else {
                continue;
            };
            writes.push(grants_keeping(&principal, &grants, |g| {
                g.scope.subscription_id() != *subscription
            })?);
        }
        Ok(writes)
    }

    /// The principal of `tenant` with this object id, if any.
    pub async fn find_principal_by_object_id(
        &self,
        tenant: &crate::model::TenantId,
        object_id: &ObjectId,
    ) -> Result<Option<ServicePrincipal>, DirectoryError> {
        let found =
            cmk_store::records::scan::<ServicePrincipal>(self.store(), &crate::model::keys::principals(tenant), |p| {
                p.object_id == *object_id
            })
            .await?;
        Ok(found.into_iter().next())
    }
}
