//! Azure RBAC (`Microsoft.Authorization`): role definitions, role assignments and permissions.
//!
//! Names follow `authorization-RoleAssignmentsCalls.json` (2022-04-01) and the role definitions of
//! 2022-05-01-preview. Unlike most ARM answers, these write `null` for the optional properties they do not set
//! (`description`, `condition`, `createdOn` of a built-in role, ...), and az reads them so: those answer fields are
//! `Option`s serialized as `null`, not left out. Request bodies leave out whatever is `None`. Identifiers stay text:
//! the reader validates them, so that a bad one is a 400 naming the field rather than serde's generic reason.

use serde::{Deserialize, Serialize};

pub use crate::arm::ListResult;

/// The ARM `type` of a role assignment.
pub const ROLE_ASSIGNMENT_TYPE: &str = "Microsoft.Authorization/roleAssignments";
/// The ARM `type` of a role definition.
pub const ROLE_DEFINITION_TYPE: &str = "Microsoft.Authorization/roleDefinitions";

/// What a role grants (`Permission`): in role definitions and in the answer of `.../permissions`. A list left out
/// of a request means none; an answer writes all four.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Permission {
    pub actions: Vec<String>,
    pub not_actions: Vec<String>,
    pub data_actions: Vec<String>,
    pub not_data_actions: Vec<String>,
}

/// `properties` of a role assignment as an answer reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentProperties {
    pub scope: String,
    /// The full id, below the scope's subscription: az matches it byte for byte.
    pub role_definition_id: String,
    pub principal_id: String,
    pub principal_type: String,
    /// `null` when none was given.
    #[serde(default)]
    pub description: Option<String>,
    /// Always `null` in cmk: conditions are refused.
    #[serde(default)]
    pub condition: Option<String>,
    #[serde(default)]
    pub condition_version: Option<String>,
    /// RFC 3339.
    pub created_on: String,
    /// RFC 3339.
    pub updated_on: String,
    pub created_by: String,
    pub updated_by: String,
    /// Always `null` in cmk: delegated managed identities are refused.
    #[serde(default)]
    pub delegated_managed_identity_resource_id: Option<String>,
}

/// A role assignment as ARM answers for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAssignment {
    pub id: String,
    /// The assignment's GUID.
    pub name: String,
    /// [`ROLE_ASSIGNMENT_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    pub properties: RoleAssignmentProperties,
}

/// `properties` of a role assignment PUT (`RoleAssignmentProperties` of a request).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentCreateProperties {
    /// A full role definition id (below a subscription or at the root) or the bare GUID.
    pub role_definition_id: String,
    pub principal_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Typed so that the reader can refuse a condition rather than ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_version: Option<String>,
    /// Typed so that the reader can refuse it rather than ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegated_managed_identity_resource_id: Option<String>,
}

/// The body of a role assignment PUT (`RoleAssignmentCreateParameters`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAssignmentCreateParameters {
    pub properties: RoleAssignmentCreateProperties,
}

/// `properties` of a role definition as an answer reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinitionProperties {
    pub role_name: String,
    /// `BuiltInRole` or `CustomRole` (az shows it as `roleType`).
    #[serde(rename = "type")]
    pub role_type: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub assignable_scopes: Vec<String>,
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// RFC 3339; `null` for a built-in role.
    #[serde(default)]
    pub created_on: Option<String>,
    /// RFC 3339; `null` for a built-in role.
    #[serde(default)]
    pub updated_on: Option<String>,
    /// `null` for a built-in role.
    #[serde(default)]
    pub created_by: Option<String>,
    /// `null` for a built-in role.
    #[serde(default)]
    pub updated_by: Option<String>,
}

/// A role definition as ARM answers for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDefinition {
    /// Below a subscription, `/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{guid}`,
    /// whatever the scope it was read at.
    pub id: String,
    /// The role's GUID.
    pub name: String,
    /// [`ROLE_DEFINITION_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    pub properties: RoleDefinitionProperties,
}

/// `properties` of a role definition PUT. az never sends the type; the reader refuses anything but
/// `CustomRole`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinitionCreateProperties {
    pub role_name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub role_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub permissions: Vec<Permission>,
    #[serde(default)]
    pub assignable_scopes: Vec<String>,
}

/// The body of a role definition PUT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDefinitionCreateParameters {
    pub properties: RoleDefinitionCreateProperties,
}

/// A page of role assignments.
pub type RoleAssignmentListResult = ListResult<RoleAssignment>;
/// A page of role definitions.
pub type RoleDefinitionListResult = ListResult<RoleDefinition>;
/// The answer of `.../permissions`: what the caller's roles grant at the scope.
pub type PermissionListResult = ListResult<Permission>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_assignment_writes_null_for_what_it_does_not_set() -> Result<(), serde_json::Error> {
        let assignment = RoleAssignment {
            id: "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/a".into(),
            name: "a".into(),
            kind: ROLE_ASSIGNMENT_TYPE.into(),
            properties: RoleAssignmentProperties {
                scope: "/subscriptions/s".into(),
                role_definition_id: "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/r".into(),
                principal_id: "p".into(),
                principal_type: "ServicePrincipal".into(),
                description: None,
                condition: None,
                condition_version: None,
                created_on: "t".into(),
                updated_on: "t".into(),
                created_by: "c".into(),
                updated_by: "c".into(),
                delegated_managed_identity_resource_id: None,
            },
        };
        let wire = serde_json::to_value(&assignment)?;
        assert_eq!(wire["type"], ROLE_ASSIGNMENT_TYPE);
        assert_eq!(wire["properties"]["description"], json!(null));
        assert!(
            wire["properties"]
                .as_object()
                .is_some_and(|p| p.contains_key("conditionVersion"))
        );
        assert_eq!(serde_json::from_value::<RoleAssignment>(wire)?, assignment);
        Ok(())
    }

    #[test]
    fn create_bodies_leave_out_what_is_none() -> Result<(), serde_json::Error> {
        let body = RoleAssignmentCreateParameters {
            properties: RoleAssignmentCreateProperties {
                role_definition_id: "r".into(),
                principal_id: "p".into(),
                principal_type: Some("ServicePrincipal".into()),
                ..RoleAssignmentCreateProperties::default()
            },
        };
        assert_eq!(
            serde_json::to_value(&body)?,
            json!({"properties": {"roleDefinitionId": "r", "principalId": "p", "principalType": "ServicePrincipal"}})
        );
        let role: RoleDefinitionCreateParameters =
            serde_json::from_value(json!({"properties": {"roleName": "x", "permissions": [{"actions": ["*"]}]}}))?;
        assert_eq!(role.properties.permissions[0].actions, ["*"]);
        assert!(role.properties.permissions[0].not_data_actions.is_empty());
        assert_eq!(role.properties.role_type, None);
        Ok(())
    }

    #[test]
    fn permission_lists_have_no_next_link() -> Result<(), serde_json::Error> {
        let list = PermissionListResult::last(vec![Permission::default()]);
        assert_eq!(
            serde_json::to_value(&list)?,
            json!({"value": [{"actions": [], "notActions": [], "dataActions": [], "notDataActions": []}]})
        );
        Ok(())
    }
}
