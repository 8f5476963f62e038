//! Reading role definitions, and a tenant's custom roles: `PUT`, `GET`, `DELETE` and the listing of
//! `{scope}/providers/Microsoft.Authorization/roleDefinitions`.

use std::sync::Arc;

use cmk_store::{Expect, Write};

use super::actions::authorization::{ROLE_DEFINITION_DELETE, ROLE_DEFINITION_READ, ROLE_DEFINITION_WRITE};
use super::actions::validate_action_pattern;
use super::assignments::RoleAssignment;
use super::keys;
use super::roles::{Permission, RoleDefinition, RoleDefinitionId, RoleType, built_in_role, built_in_roles};
use super::scope::Scope;
use crate::model::TenantId;
use crate::tokens::VerifiedToken;
use crate::{Directory, DirectoryError, records};

/// What a PUT of a custom role asks for.
#[derive(Debug, Clone)]
pub struct RoleDefinitionSpec {
    pub role_name: String,
    pub description: String,
    pub permissions: Vec<Permission>,
    pub assignable_scopes: Vec<String>,
}

/// Which role definitions a listing returns.
#[derive(Debug, Clone, Default)]
pub struct RoleFilter {
    /// `roleName eq '{name}'` (exact, without regard to case).
    pub role_name: Option<String>,
    /// `type eq 'BuiltInRole'` or `type eq 'CustomRole'`.
    pub role_type: Option<RoleType>,
    /// `atScopeAndBelow()`: custom roles assignable below the scope too.
    pub at_scope_and_below: bool,
}

const MAX_ROLE_NAME: usize = 512;
const MAX_ROLE_DESCRIPTION: usize = 2048;
const MAX_PATTERNS: usize = 1000;

fn invalid(reason: String) -> DirectoryError {
    DirectoryError::InvalidRoleDefinition(reason)
}

fn validate_patterns(field: &str, patterns: &[String]) -> Result<(), DirectoryError> {
    if patterns.len() > MAX_PATTERNS {
        return Err(invalid(format!("{field} holds more than {MAX_PATTERNS} entries")));
    }
    for pattern in patterns {
        validate_action_pattern(pattern).map_err(|reason| invalid(format!("{field}: {reason}")))?;
    }
    Ok(())
}

/// Whether a custom role of `tenant` is one a listing at `scope` shows.
fn visible_custom(role: &RoleDefinition, tenant: TenantId, scope: Option<&Scope>, below: bool) -> bool {
    if role.tenant_id != Some(tenant) {
        return false;
    }
    let Some(scope) = scope else {
        return true;
    };
    role.assignable_scopes
        .iter()
        .filter_map(|s| Scope::parse(s).ok())
        .any(|s| s.contains(scope) || (below && scope.contains(&s)))
}

impl Directory {
    /// Reading role definitions needs the caller to hold something at, above or below the scope (at the root,
    /// `/providers/...`, any principal may read them): they name actions, not resources.
    async fn authorize_role_reading(&self, token: &VerifiedToken, scope: Option<&Scope>) -> Result<(), DirectoryError> {
        if let Some(scope) = scope {
            self.authorize_listing(token, ROLE_DEFINITION_READ, scope).await?;
        }
        Ok(())
    }

    async fn custom_roles(&self) -> Result<Vec<RoleDefinition>, DirectoryError> {
        Ok(cmk_store::records::scan::<RoleDefinition>(self.store(), keys::CUSTOM_ROLES, |_| true).await?)
    }

    /// The role definitions visible at `scope` (`None`: the root), built-in ones first, filtered.
    pub async fn list_role_definitions(
        &self,
        token: &VerifiedToken,
        scope: Option<&Scope>,
        filter: &RoleFilter,
    ) -> Result<Vec<Arc<RoleDefinition>>, DirectoryError> {
        self.authorize_role_reading(token, scope).await?;
        let wanted = |role: &RoleDefinition| {
            filter
                .role_name
                .as_deref()
                .is_none_or(|name| role.role_name.eq_ignore_ascii_case(name))
                && filter.role_type.is_none_or(|t| role.role_type == t)
        };
        let mut found: Vec<Arc<RoleDefinition>> = built_in_roles().iter().filter(|r| wanted(r)).cloned().collect();
        for role in self.custom_roles().await? {
            if visible_custom(&role, token.tenant_id(), scope, filter.at_scope_and_below) && wanted(&role) {
                found.push(Arc::new(role));
            }
        }
        Ok(found)
    }

    /// One role definition by id, as a caller at `scope` (`None`: the root) sees it.
    pub async fn get_role_definition(
        &self,
        token: &VerifiedToken,
        scope: Option<&Scope>,
        id: RoleDefinitionId,
    ) -> Result<Arc<RoleDefinition>, DirectoryError> {
        self.authorize_role_reading(token, scope).await?;
        self.role_definition(id)
            .await?
            .filter(|r| r.role_type == RoleType::BuiltInRole || r.tenant_id == Some(token.tenant_id()))
            .ok_or_else(|| DirectoryError::RoleDefinitionNotFound(id.to_string()))
    }

    /// `PUT {scope}/providers/Microsoft.Authorization/roleDefinitions/{id}`: creates or replaces a custom role
    /// of the caller's tenant. The caller needs `roleDefinitions/write` at every assignable scope.
    pub async fn put_role_definition(
        &self,
        token: &VerifiedToken,
        scope: &Scope,
        id: RoleDefinitionId,
        spec: RoleDefinitionSpec,
    ) -> Result<(RoleDefinition, bool), DirectoryError> {
        self.authorize(token, ROLE_DEFINITION_WRITE, scope).await?;
        if let Some(built_in) = built_in_role(id) {
            return Err(DirectoryError::BuiltInRoleImmutable(built_in.role_name.clone()));
        }
        let role_name = spec.role_name.trim().to_owned();
        if role_name.is_empty() || role_name.chars().count() > MAX_ROLE_NAME || role_name.chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "roleName must be 1 to {MAX_ROLE_NAME} characters without control characters"
            )));
        }
        if spec.description.chars().count() > MAX_ROLE_DESCRIPTION {
            return Err(invalid(format!(
                "description is longer than {MAX_ROLE_DESCRIPTION} characters"
            )));
        }
        if spec.permissions.is_empty() {
            return Err(invalid(
                "permissions must hold one entry with actions or dataActions".into(),
            ));
        }
        for p in &spec.permissions {
            validate_patterns("actions", &p.actions)?;
            validate_patterns("notActions", &p.not_actions)?;
            validate_patterns("dataActions", &p.data_actions)?;
            validate_patterns("notDataActions", &p.not_data_actions)?;
        }
        if spec
            .permissions
            .iter()
            .all(|p| p.actions.is_empty() && p.data_actions.is_empty())
        {
            return Err(invalid(
                "a custom role must grant at least one action or data action".into(),
            ));
        }
        if spec.assignable_scopes.is_empty() {
            return Err(invalid("assignableScopes must name at least one scope".into()));
        }
        let mut assignable = Vec::with_capacity(spec.assignable_scopes.len());
        let permissions = self.permissions(token).await?;
        for text in &spec.assignable_scopes {
            let assignable_scope = Scope::parse(text).map_err(DirectoryError::InvalidArmScope)?;
            let subscription = self.get_subscription(&assignable_scope.subscription_id()).await?;
            token.ensure_tenant(subscription.tenant_id)?;
            if !permissions.allows(ROLE_DEFINITION_WRITE, &assignable_scope) {
                return Err(DirectoryError::LinkedAuthorizationFailed {
                    client_id: permissions.caller().object_id.to_string(),
                    object_id: permissions.caller().object_id.to_string(),
                    action: ROLE_DEFINITION_WRITE.to_owned(),
                    scope: assignable_scope.to_string(),
                });
            }
            assignable.push(assignable_scope.to_string());
        }
        let tenant = token.tenant_id();
        if built_in_roles()
            .iter()
            .any(|r| r.role_name.eq_ignore_ascii_case(&role_name))
            || self
                .custom_roles()
                .await?
                .iter()
                .any(|r| r.id != id && r.tenant_id == Some(tenant) && r.role_name.eq_ignore_ascii_case(&role_name))
        {
            return Err(DirectoryError::RoleDefinitionNameExists(role_name));
        }
        let now = self.clock().now();
        let existing = records::get::<RoleDefinition>(self.store(), &keys::custom_role(&id)).await?;
        if let Some(existing) = &existing
            && existing.value.tenant_id != Some(tenant)
        {
            return Err(DirectoryError::RoleDefinitionNotFound(id.to_string()));
        }
        let role = RoleDefinition {
            id,
            role_name,
            description: spec.description,
            role_type: RoleType::CustomRole,
            permissions: spec.permissions,
            assignable_scopes: assignable,
            tenant_id: Some(tenant),
            assignable_roles: None,
            created: Some(existing.as_ref().and_then(|e| e.value.created).unwrap_or(now)),
            updated: Some(now),
            created_by: Some(
                existing
                    .as_ref()
                    .and_then(|e| e.value.created_by)
                    .unwrap_or(token.object_id()),
            ),
            updated_by: Some(token.object_id()),
        };
        let key = keys::custom_role(&id);
        let write = match &existing {
            Some(e) => records::replace(key, &role, e.revision)?,
            None => records::create(key, &role)?,
        };
        self.store()
            .commit(vec![write, Write::upsert(keys::ROLES_REVISION, b"{}".to_vec())])
            .await?;
        tracing::info!(role = %id, name = %role.role_name, "saved custom role");
        self.publish_authorization(super::events::AuthorizationEvent::RolesChanged);
        Ok((role, existing.is_none()))
    }

    /// `DELETE {scope}/providers/Microsoft.Authorization/roleDefinitions/{id}`: refused while the role is
    /// assigned anywhere. Returns the deleted role, or `None` when there was none.
    pub async fn delete_role_definition(
        &self,
        token: &VerifiedToken,
        scope: &Scope,
        id: RoleDefinitionId,
    ) -> Result<Option<RoleDefinition>, DirectoryError> {
        self.authorize(token, ROLE_DEFINITION_DELETE, scope).await?;
        if let Some(built_in) = built_in_role(id) {
            return Err(DirectoryError::BuiltInRoleImmutable(built_in.role_name.clone()));
        }
        let Some(existing) = records::get::<RoleDefinition>(self.store(), &keys::custom_role(&id))
            .await?
            .filter(|r| r.value.tenant_id == Some(token.tenant_id()))
        else {
            return Ok(None);
        };
        let mut subscriptions: Vec<_> = existing
            .value
            .assignable_scopes
            .iter()
            .filter_map(|s| Scope::parse(s).ok())
            .map(|s| s.subscription_id())
            .collect();
        subscriptions.sort();
        subscriptions.dedup();
        for subscription in subscriptions {
            let assigned =
                cmk_store::records::scan::<RoleAssignment>(self.store(), &keys::assignments(&subscription), |a| {
                    a.role_definition_id == id
                })
                .await?;
            if let Some(first) = assigned.first() {
                return Err(DirectoryError::RoleDefinitionHasAssignments {
                    role: existing.value.role_name.clone(),
                    assignments: assigned.len(),
                    example: first.name.to_string(),
                });
            }
        }
        self.store()
            .commit(vec![
                Write::Delete {
                    key: keys::custom_role(&id),
                    expect: Expect::Revision(existing.revision),
                },
                Write::upsert(keys::ROLES_REVISION, b"{}".to_vec()),
            ])
            .await?;
        tracing::info!(role = %id, "deleted custom role");
        self.publish_authorization(super::events::AuthorizationEvent::RolesChanged);
        Ok(Some(existing.value))
    }
}
