//! Role definitions: what a role grants, as `actions` (management plane) and `dataActions` (data planes), each
//! minus its `not` list. Azure's built-in roles are part of the product (their ids and permissions are Azure's,
//! so templates and scripts that name them work unchanged); tenants add custom roles.

use std::fmt;
use std::sync::{Arc, LazyLock};

use cmk_core::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::actions::action_matches;
use crate::model::{ObjectId, TenantId};

/// The id of a role definition: a GUID, the same in every scope (`.../roleDefinitions/{id}`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoleDefinitionId(Uuid);

impl RoleDefinitionId {
    pub const fn from_u128(value: u128) -> Self {
        Self(Uuid::from_u128(value))
    }

    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 36)
            .then(|| Uuid::try_parse(text).ok().map(Self))
            .flatten()
    }

    pub fn random() -> Result<Self, cmk_crypto::CryptoError> {
        cmk_crypto::random::random_uuid().map(Self)
    }
}

impl fmt::Display for RoleDefinitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for RoleDefinitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoleDefinitionId({})", self.0.hyphenated())
    }
}

/// One block of a role's permissions. A block grants what its `actions` match and its `not_actions` do not;
/// a role grants what any of its blocks grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub not_actions: Vec<String>,
    #[serde(default)]
    pub data_actions: Vec<String>,
    #[serde(default)]
    pub not_data_actions: Vec<String>,
}

fn granted(allowed: &[String], excluded: &[String], action: &str) -> bool {
    allowed.iter().any(|p| action_matches(p, action)) && !excluded.iter().any(|p| action_matches(p, action))
}

impl Permission {
    pub fn allows(&self, action: &str) -> bool {
        granted(&self.actions, &self.not_actions, action)
    }

    pub fn allows_data(&self, data_action: &str) -> bool {
        granted(&self.data_actions, &self.not_data_actions, data_action)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoleType {
    BuiltInRole,
    CustomRole,
}

impl RoleType {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleType::BuiltInRole => "BuiltInRole",
            RoleType::CustomRole => "CustomRole",
        }
    }
}

/// A role definition, built in or custom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinition {
    pub id: RoleDefinitionId,
    pub role_name: String,
    pub description: String,
    pub role_type: RoleType,
    pub permissions: Vec<Permission>,
    /// Where the role can be assigned: `/` for built-in roles, subscriptions, resource groups or resources for
    /// custom ones.
    pub assignable_scopes: Vec<String>,
    /// The tenant a custom role belongs to; built-in roles belong to every tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<TenantId>,
    /// Roles whose assignments this role may write and delete, when its role-assignment rights are limited
    /// (Key Vault Data Access Administrator can hand out only Key Vault data roles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignable_roles: Option<Vec<RoleDefinitionId>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<ObjectId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<ObjectId>,
}

impl RoleDefinition {
    pub fn allows(&self, action: &str) -> bool {
        self.permissions.iter().any(|p| p.allows(action))
    }

    pub fn allows_data(&self, data_action: &str) -> bool {
        self.permissions.iter().any(|p| p.allows_data(data_action))
    }

    /// Whether this role may write or delete an assignment of `role`.
    pub fn may_assign(&self, role: RoleDefinitionId) -> bool {
        self.assignable_roles.as_ref().is_none_or(|roles| roles.contains(&role))
    }
}

/// Ids of the built-in roles the product itself refers to.
pub mod ids {
    use super::RoleDefinitionId;

    pub const OWNER: RoleDefinitionId = RoleDefinitionId::from_u128(0x8e3af657_a8ff_443c_a75c_2fe8c4bcb635);
    pub const KEY_VAULT_CRYPTO_OFFICER: RoleDefinitionId =
        RoleDefinitionId::from_u128(0x14b46e9e_c2b7_41b4_b07b_48a6ebf60603);
    pub const KEY_VAULT_CRYPTO_USER: RoleDefinitionId =
        RoleDefinitionId::from_u128(0x12338af0_0e69_4776_bea7_57ae8d297424);
    pub const KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER: RoleDefinitionId =
        RoleDefinitionId::from_u128(0xe147488a_f6f5_4113_8e2d_b22465e65bf6);
}

/// Azure's built-in roles that matter for keys, vaults and accounts, by id.
pub fn built_in_roles() -> &'static [Arc<RoleDefinition>] {
    static ROLES: LazyLock<Vec<Arc<RoleDefinition>>> =
        LazyLock::new(|| super::built_in::definitions().into_iter().map(Arc::new).collect());
    &ROLES
}

pub fn built_in_role(id: RoleDefinitionId) -> Option<&'static Arc<RoleDefinition>> {
    built_in_roles().iter().find(|r| r.id == id)
}
