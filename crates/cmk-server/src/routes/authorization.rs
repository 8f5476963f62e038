//! `Microsoft.Authorization` at any scope: `{scope}/providers/Microsoft.Authorization/roleAssignments[/{name}]`,
//! `.../roleDefinitions[/{id}]` and `.../permissions`, in the shapes of API version 2022-04-01 (and the
//! 2022-05-01-preview role definitions az sends). The scope is the path in front of the provider, which the
//! host dispatch cuts off (it can be a subscription, a group, a vault, a vault's key or an account), so these
//! routes see only what follows it.

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cmk_api::authorization as wire;
use cmk_core::Timestamp;
use cmk_directory::authorization::assignments::{AssignmentFilter, AssignmentSpec, RoleAssignment};
use cmk_directory::authorization::definitions::{RoleDefinitionSpec, RoleFilter};
use cmk_directory::authorization::roles::{Permission, RoleDefinition, RoleDefinitionId, RoleType};
use cmk_directory::authorization::{Scope, actions::authorization::PERMISSIONS_READ};
use cmk_directory::model::ObjectId;
use uuid::Uuid;

use crate::AppState;
use crate::auth::ManagementCaller;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::routes::arm::query_map;

/// The scope a request names in front of `/providers/Microsoft.Authorization` (empty: the root), put there by
/// the dispatch.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizationScope(pub String);

/// The marker the dispatch looks for in a (normalized, lower-case) ARM path.
pub(crate) const PROVIDER: &str = "/providers/microsoft.authorization/";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/roleassignments", get(list_assignments))
        .route(
            "/roleassignments/{name}",
            get(get_assignment).put(create_assignment).delete(delete_assignment),
        )
        .route("/roledefinitions", get(list_definitions))
        .route(
            "/roledefinitions/{id}",
            get(get_definition).put(put_definition).delete(delete_definition),
        )
        .route("/permissions", get(list_permissions))
        .fallback(super::no_operation)
        .method_not_allowed_fallback(super::method_not_allowed)
}

// ---- scopes ------------------------------------------------------------------------------------------------

/// The request's scope, parsed; `None` at the root.
struct RequestScope(Option<Scope>);

impl FromRequestParts<AppState> for RequestScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        let text = parts
            .extensions
            .get::<AuthorizationScope>()
            .map(|s| s.0.clone())
            .ok_or_else(|| ApiError::internal("an authorization route reached without its scope"))?;
        if text.is_empty() {
            return Ok(RequestScope(None));
        }
        Scope::parse(&text)
            .map(|scope| RequestScope(Some(scope)))
            .map_err(|e| ApiError::from(cmk_directory::DirectoryError::InvalidArmScope(e)))
    }
}

impl RequestScope {
    /// Role assignments and custom roles live under a subscription; the root and management groups hold none.
    fn required(self) -> Result<Scope, ApiError> {
        self.0.ok_or_else(|| {
            ApiError::arm(
                StatusCode::BAD_REQUEST,
                "InvalidScope",
                "This operation needs a scope: a subscription, a resource group or a resource (the root and management groups hold no role assignments in this deployment).",
            )
        })
    }
}

/// Checks that a scope names something that exists, before an assignment is made there.
async fn ensure_scope_exists(state: &AppState, scope: &Scope) -> Result<(), ApiError> {
    let subscription = scope.subscription_id();
    let Some((namespace, path)) = scope.provider() else {
        // The subscription is checked by the authorization itself, a resource group by the directory.
        return Ok(());
    };
    let group = scope.resource_group_name().unwrap_or_default();
    let missing = |kind: &str, name: &str| {
        ApiError::arm(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The Resource '{kind}/{name}' under resource group '{group}' was not found."),
        )
    };
    match (namespace, path.as_slice()) {
        ("Microsoft.KeyVault", [("vaults", vault)]) => {
            state
                .vaults
                .find_active(subscription, group, vault)
                .await?
                .ok_or_else(|| missing("Microsoft.KeyVault/vaults", vault))?;
        }
        ("Microsoft.KeyVault", [("vaults", vault), ("keys", key)]) => {
            let found = state
                .vaults
                .find_active(subscription, group, vault)
                .await?
                .ok_or_else(|| missing("Microsoft.KeyVault/vaults", vault))?;
            if !state.vaults.key_exists(&found, key).await? {
                return Err(missing(&format!("Microsoft.KeyVault/vaults/{vault}/keys"), key));
            }
        }
        ("Microsoft.CognitiveServices", [("accounts", account)]) => {
            state
                .accounts
                .find_active(&subscription, group, account)
                .await?
                .ok_or_else(|| missing("Microsoft.CognitiveServices/accounts", account))?;
        }
        _ => {
            return Err(ApiError::arm(
                StatusCode::BAD_REQUEST,
                "InvalidScope",
                format!(
                    "Role assignments can be made at a subscription, a resource group, a key vault, a key of a key vault or an account; '{scope}' is none of these."
                ),
            ));
        }
    }
    Ok(())
}

// ---- wire shapes -------------------------------------------------------------------------------------------

/// `/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{id}`: the one form Azure returns for
/// role definition ids below a subscription, wherever they are read (az matches them byte for byte).
fn definition_id(scope: Option<&Scope>, id: RoleDefinitionId) -> String {
    match scope {
        Some(scope) => format!(
            "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{id}",
            scope.subscription_id()
        ),
        None => format!("/providers/Microsoft.Authorization/roleDefinitions/{id}"),
    }
}

fn time(t: Option<Timestamp>) -> Option<String> {
    t.map(|t| t.to_rfc3339())
}

fn assignment_wire(a: &RoleAssignment) -> wire::RoleAssignment {
    wire::RoleAssignment {
        id: format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{}",
            a.scope, a.name
        ),
        name: a.name.to_string(),
        kind: wire::ROLE_ASSIGNMENT_TYPE.to_owned(),
        properties: wire::RoleAssignmentProperties {
            scope: a.scope.to_string(),
            role_definition_id: definition_id(Some(&a.scope), a.role_definition_id),
            principal_id: a.principal_id.to_string(),
            principal_type: a.principal_type.as_str().to_owned(),
            description: a.description.clone(),
            condition: None,
            condition_version: None,
            created_on: a.created_on.to_rfc3339(),
            updated_on: a.updated_on.to_rfc3339(),
            created_by: a.created_by.to_string(),
            updated_by: a.updated_by.to_string(),
            delegated_managed_identity_resource_id: None,
        },
    }
}

fn permission_wire(p: &Permission) -> wire::Permission {
    wire::Permission {
        actions: p.actions.clone(),
        not_actions: p.not_actions.clone(),
        data_actions: p.data_actions.clone(),
        not_data_actions: p.not_data_actions.clone(),
    }
}

fn permission_of(p: wire::Permission) -> Permission {
    Permission {
        actions: p.actions,
        not_actions: p.not_actions,
        data_actions: p.data_actions,
        not_data_actions: p.not_data_actions,
    }
}

fn definition_wire(scope: Option<&Scope>, role: &RoleDefinition) -> wire::RoleDefinition {
    wire::RoleDefinition {
        id: definition_id(scope, role.id),
        name: role.id.to_string(),
        kind: wire::ROLE_DEFINITION_TYPE.to_owned(),
        properties: wire::RoleDefinitionProperties {
            role_name: role.role_name.clone(),
            role_type: role.role_type.as_str().to_owned(),
            description: role.description.clone(),
            assignable_scopes: role.assignable_scopes.clone(),
            permissions: role.permissions.iter().map(permission_wire).collect(),
            created_on: time(role.created),
            updated_on: time(role.updated),
            created_by: role.created_by.map(|o| o.to_string()),
            updated_by: role.updated_by.map(|o| o.to_string()),
        },
    }
}

// ---- parsing -----------------------------------------------------------------------------------------------

fn assignment_name(text: &str) -> Result<Uuid, ApiError> {
    (text.len() == 36)
        .then(|| Uuid::try_parse(text).ok())
        .flatten()
        .ok_or_else(|| {
            ApiError::arm(
                StatusCode::BAD_REQUEST,
                "InvalidRoleAssignmentId",
                format!("The role assignment ID '{text}' is not valid. The role assignment ID must be a GUID."),
            )
        })
}

/// A role definition id as requests give it: the full id below a subscription or at the root, or the GUID.
fn role_definition_id(text: &str) -> Result<RoleDefinitionId, ApiError> {
    let invalid = || {
        ApiError::arm(
            StatusCode::BAD_REQUEST,
            "InvalidRoleDefinitionId",
            format!(
                "The role definition ID '{text}' is not valid: use /subscriptions/{{subscriptionId}}/providers/Microsoft.Authorization/roleDefinitions/{{guid}}."
            ),
        )
    };
    let guid = match text.rsplit_once('/') {
        None => text,
        Some((prefix, guid)) => {
            let prefix = prefix.to_ascii_lowercase();
            let root = "/providers/microsoft.authorization/roledefinitions";
            let below_subscription = prefix
                .strip_prefix("/subscriptions/")
                .and_then(|rest| rest.split_once('/'))
                .is_some_and(|(sub, rest)| {
                    cmk_directory::model::SubscriptionId::parse(sub).is_some() && format!("/{rest}") == root
                });
            if prefix != root && !below_subscription {
                return Err(invalid());
            }
            guid
        }
    };
    RoleDefinitionId::parse(guid).ok_or_else(invalid)
}

fn object_id(text: &str) -> Result<ObjectId, ApiError> {
    ObjectId::parse(text).ok_or_else(|| {
        ApiError::arm(
            StatusCode::BAD_REQUEST,
            "InvalidPrincipalId",
            format!("The Principal ID '{text}' is not valid. Principal ID must be a GUID."),
        )
    })
}

fn unsupported_filter(filter: &str, supported: &str) -> ApiError {
    ApiError::arm(
        StatusCode::BAD_REQUEST,
        "UnsupportedFilter",
        format!("The filter '{filter}' is not supported here; use {supported}."),
    )
}

/// The GUID in `'{id}'` or `{id}`.
fn quoted(text: &str) -> &str {
    let text = text.trim();
    text.strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .unwrap_or(text)
}

/// The clauses of a filter joined by `and` (outside quotes), without regard to case.
fn clauses(filter: &str) -> Vec<&str> {
    let bytes = filter.as_bytes();
    let mut clauses = Vec::new();
    let (mut start, mut quoted, mut i) = (0, false, 0);
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            quoted = !quoted;
        } else if !quoted && bytes[i..].len() >= 5 && bytes[i..i + 5].eq_ignore_ascii_case(b" and ") {
            clauses.push(filter[start..i].trim());
            start = i + 5;
            i += 5;
            continue;
        }
        i += 1;
    }
    clauses.push(filter[start..].trim());
    clauses
}

/// `atScope()`, `principalId eq '{id}'`, `assignedTo('{id}')`, and `atScope()` with one of the other two.
fn assignment_filter(filter: Option<&String>) -> Result<AssignmentFilter, ApiError> {
    const SUPPORTED: &str = "atScope(), principalId eq '{id}', assignedTo('{id}'), or atScope() and one of the others";
    let mut parsed = AssignmentFilter::default();
    let Some(filter) = filter.filter(|f| !f.trim().is_empty()) else {
        return Ok(parsed);
    };
    for clause in clauses(filter) {
        let lower = clause.to_ascii_lowercase();
        if lower.replace(' ', "") == "atscope()" {
            parsed.at_scope_only = true;
        } else if let Some(rest) = lower.strip_prefix("principalid eq ") {
            parsed.principal = Some(object_id(quoted(&clause[clause.len() - rest.len()..]))?);
        } else if lower.starts_with("assignedto(") && lower.ends_with(')') {
            parsed.principal = Some(object_id(quoted(&clause["assignedTo(".len()..clause.len() - 1]))?);
        } else {
            return Err(unsupported_filter(filter, SUPPORTED));
        }
    }
    Ok(parsed)
}

/// `roleName eq '{name}'`, `type eq 'BuiltInRole'|'CustomRole'`, `atScopeAndBelow()`, joined by `and`.
fn role_filter(filter: Option<&String>) -> Result<RoleFilter, ApiError> {
    const SUPPORTED: &str = "roleName eq '{name}', type eq 'BuiltInRole' or 'CustomRole', atScopeAndBelow()";
    let mut parsed = RoleFilter::default();
    let Some(filter) = filter.filter(|f| !f.trim().is_empty()) else {
        return Ok(parsed);
    };
    for clause in clauses(filter) {
        let lower = clause.to_ascii_lowercase();
        if lower.replace(' ', "") == "atscopeandbelow()" {
            parsed.at_scope_and_below = true;
        } else if let Some(rest) = lower.strip_prefix("rolename eq ") {
            parsed.role_name = Some(quoted(&clause[clause.len() - rest.len()..]).to_owned());
        } else if let Some(rest) = lower.strip_prefix("type eq ") {
            parsed.role_type = Some(match quoted(rest) {
                "builtinrole" => RoleType::BuiltInRole,
                "customrole" => RoleType::CustomRole,
                _ => return Err(unsupported_filter(filter, SUPPORTED)),
            });
        } else {
            return Err(unsupported_filter(filter, SUPPORTED));
        }
    }
    Ok(parsed)
}

// ---- role assignments --------------------------------------------------------------------------------------

async fn list_assignments(
    State(state): State<AppState>,
    ManagementCaller(caller): ManagementCaller,
    scope: RequestScope,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<wire::RoleAssignmentListResult>, ApiError> {
    let scope = scope.required()?;
    let filter = assignment_filter(query_map(&uri).get("$filter"))?;
    let assignments = state.directory.list_role_assignments(&caller, &scope, filter).await?;
    Ok(Json(wire::RoleAssignmentListResult::last(
        assignments.iter().map(assignment_wire).collect(),
    )))
}

async fn get_assignment(
    State(state): State<AppState>,
    ManagementCaller(caller): ManagementCaller,
    scope: RequestScope,
    Path(name): Path<String>,
) -> Result<Json<wire::RoleAssignment>, ApiError> {
    let scope = scope.required()?;
    let name = assignment_name(&name)?;
    let assignment = state.directory.get_role_assignment(&caller, &scope, &name).await?;
    Ok(Json(assignment_wire(&assignment)))
}

/// `201` for a new assignment, `200` for the same one again (its description may change).
async fn create_assignment(
    State(state): State<AppState>,
    ManagementCaller(caller): ManagementCaller,
    scope: RequestScope,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<wire::RoleAssignmentCreateParameters>,
) -> Result<Response, ApiError> {
    let scope = scope.required()?;
    let name = assignment_name(&name)?;
    // Authorized before anything about the scope is revealed; the directory checks the role's limits again.
    state
        .directory
        .authorize(
            &caller,
            cmk_directory::authorization::actions::authorization::ROLE_ASSIGNMENT_WRITE,
            &scope,
        )
        .await?;
    let properties = body.properties;
    if properties.condition.as_deref().is_some_and(|c| !c.trim().is_empty())
        || properties.delegated_managed_identity_resource_id.is_some()
    {
        return Err(ApiError::arm(
            StatusCode::BAD_REQUEST,
            "RoleAssignmentConditionNotSupported",
            "Conditions and delegated managed identities on role assignments are not supported by this deployment: an assignment always applies without conditions. Leave condition, conditionVersion and delegatedManagedIdentityResourceId out.",
        ));
    }
    let spec = AssignmentSpec {
        role_definition_id: role_definition_id(&properties.role_definition_id)?,
        principal_id: object_id(&properties.principal_id)?,
        principal_type: properties.principal_type,
        description: properties.description,
    };
    ensure_scope_exists(&state, &scope).await?;
    let (assignment, created) = state
        .directory
        .create_role_assignment(&caller, &scope, name, spec)
        .await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(assignment_wire(&assignment))).into_response())
}

/// `200` with the deleted assignment, `204` when there was none.
async fn delete_assignment(
    State(state): State<AppState>,
    ManagementCaller(caller): ManagementCaller,
    scope: RequestScope,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let scope = scope.required()?;
    let name = assignment_name(&name)?;
    Ok(
        match state.directory.delete_role_assignment(&caller, &scope, &name).await? {
            Some(deleted) => (StatusCode::OK, Json(assignment_wire(&deleted))).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}

// ---- role definitions --------------------------------------------------------------------------------------

async fn list_definitions(
    State(state): State<AppState>,
    ManagementCaller(caller): ManagementCaller,
    RequestScope(scope): RequestScope,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<wire::RoleDefinitionListResult>, ApiError> {
    let filter = role_filter(query_map(&uri).get("$filter"))?;
    let roles = state
        .directory
        .list_role_definitions(&caller, scope.as_ref(), &filter)
        .await?;
    Ok(Json(wire::RoleDefinitionListResult::last(
        roles.iter().map(|r| definition_wire(scope.as_ref(), r)).collect(),
    )))
}

fn definition_guid(text: &str) -> Result<RoleDefinitionId, ApiError> {
    RoleDefinitionId::parse(text).ok_or_else(|| {
        ApiError::arm(
            StatusCode::BAD_REQUEST,
            "InvalidRoleDefinitionId",
            format!("The role definition ID '{text}' is not valid. The role definition ID must be a GUID."),
        )
    })
}

async fn get_definition(
    State(state): State<AppState>,
    ManagementCaller(caller): ManagementCaller,
    RequestScope(scope): RequestScope,
    Path(id): Path<String>,
) -> Result<Json<wire::RoleDefinition>, ApiError> {
    let id = definition_guid(&id)?;
    let role = state.directory.get_role_definition(&caller, scope.as_ref(), id).await?;
    Ok(Json(definition_wire(scope.as_ref(), &role)))
}

/// Creates or replaces a custom role; `201` either way, the only status the SDKs accept.
async fn put_definition(
    State(state): State<AppState>,
    ManagementCaller(caller): ManagementCaller,
    scope: RequestScope,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<wire::RoleDefinitionCreateParameters>,
) -> Result<Response, ApiError> {
    let scope = scope.required()?;
    let id = definition_guid(&id)?;
    let properties = body.properties;
    // az never sends the type; anything but a custom role is refused.
    if properties
        .role_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("CustomRole"))
    {
        return Err(ApiError::arm(
            StatusCode::BAD_REQUEST,
            "InvalidRoleDefinition",
            "Only custom roles (type CustomRole) can be created.",
        ));
    }
    let spec = RoleDefinitionSpec {
        role_name: properties.role_name,
        description: properties.description.unwrap_or_default(),
        permissions: properties.permissions.into_iter().map(permission_of).collect(),
        assignable_scopes: properties.assignable_scopes,
    };
    let (role, _) = state.directory.put_role_definition(&caller, &scope, id, spec).await?;
    Ok((StatusCode::CREATED, Json(definition_wire(Some(&scope), &role))).into_response())
}

async fn delete_definition(
    State(state): State<AppState>,
    ManagementCaller(caller): ManagementCaller,
    scope: RequestScope,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let scope = scope.required()?;
    let id = definition_guid(&id)?;
    Ok(
        match state.directory.delete_role_definition(&caller, &scope, id).await? {
            Some(role) => (StatusCode::OK, Json(definition_wire(Some(&scope), &role))).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}

// ---- the caller's own permissions --------------------------------------------------------------------------

/// `GET {scope}/providers/Microsoft.Authorization/permissions`: what the caller's roles grant at the scope, as
/// the portal asks before it offers an action.
async fn list_permissions(
    State(state): State<AppState>,
    ManagementCaller(caller): ManagementCaller,
    scope: RequestScope,
) -> Result<Json<wire::PermissionListResult>, ApiError> {
    let scope = scope.required()?;
    let authorized = state
        .directory
        .authorize_listing(&caller, PERMISSIONS_READ, &scope)
        .await?;
    let value = authorized
        .permissions()
        .roles_at(&scope)
        .iter()
        .flat_map(|role| role.permissions.iter().map(permission_wire))
        .collect();
    Ok(Json(wire::PermissionListResult::last(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_definition_ids_take_the_forms_azure_sends() {
        let guid = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
        for ok in [
            format!(
                "/subscriptions/00000000-0000-0000-0000-00000000000a/providers/Microsoft.Authorization/roleDefinitions/{guid}"
            ),
            format!("/providers/Microsoft.Authorization/roleDefinitions/{guid}"),
            guid.to_owned(),
        ] {
            assert!(role_definition_id(&ok).is_ok(), "{ok}");
        }
        for bad in [
            format!("/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/{guid}"),
            format!("/providers/Microsoft.Authorization/roleAssignments/{guid}"),
            "/providers/Microsoft.Authorization/roleDefinitions/not-a-guid".to_owned(),
            String::new(),
        ] {
            assert!(role_definition_id(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn assignment_filters_parse_like_azure_reads_them() {
        let oid = "11111111-1111-1111-1111-111111111111";
        let f = assignment_filter(Some(&"atScope()".to_owned())).unwrap_or_default();
        assert!(f.at_scope_only && f.principal.is_none());
        let f = assignment_filter(Some(&format!("atScope() and assignedTo('{oid}')"))).unwrap_or_default();
        assert!(f.at_scope_only && f.principal.is_some());
        let f = assignment_filter(Some(&format!("principalId eq '{oid}'"))).unwrap_or_default();
        assert!(!f.at_scope_only && f.principal.is_some());
        let f = assignment_filter(Some(&format!("principalId eq {oid}"))).unwrap_or_default();
        assert!(f.principal.is_some());
        assert!(assignment_filter(Some(&"roleName eq 'x'".to_owned())).is_err());
        assert!(assignment_filter(Some(&"principalId eq 'nope'".to_owned())).is_err());
    }

    #[test]
    fn role_filters_parse() {
        let f = role_filter(Some(&"roleName eq 'Key Vault Crypto User'".to_owned())).unwrap_or_default();
        assert_eq!(f.role_name.as_deref(), Some("Key Vault Crypto User"));
        let f = role_filter(Some(&"type eq 'CustomRole' and atScopeAndBelow()".to_owned())).unwrap_or_default();
        assert_eq!(f.role_type, Some(RoleType::CustomRole));
        assert!(f.at_scope_and_below);
        assert!(role_filter(Some(&"type eq 'Other'".to_owned())).is_err());
        let f = role_filter(Some(&"roleName eq 'Keys and Secrets'".to_owned())).unwrap_or_default();
        assert_eq!(f.role_name.as_deref(), Some("Keys and Secrets"));
    }
}
