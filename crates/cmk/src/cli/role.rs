//! `cmk role assignment create|list|delete` and `cmk role definition list`, named and shaped like az's: the
//! answers are az's flattened models (`principalId`, `roleDefinitionId`, `scope`, ... at the top level), with the
//! role's name filled in.

use clap::{Args, Subcommand};
use cmk_api::authorization::{
    RoleAssignment, RoleAssignmentCreateParameters, RoleAssignmentCreateProperties, RoleDefinition,
    RoleDefinitionListResult,
};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::error::CliError;
use super::group::list_all;
use super::session::Session;

/// As az sends them.
const ASSIGNMENTS_API: &str = "api-version=2022-04-01";
const DEFINITIONS_API: &str = "api-version=2022-05-01-preview";

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Role assignments: which principal holds which role at which scope.
    Assignment {
        #[command(subcommand)]
        command: AssignmentCommand,
    },
    /// Role definitions: what each role grants.
    Definition {
        #[command(subcommand)]
        command: DefinitionCommand,
    },
}

/// Where: `--scope`, or a resource group of the login's subscription, or the subscription itself.
#[derive(Args, Debug, Clone)]
pub struct ScopeArgs {
    /// The scope: a subscription, a resource group, or a resource id (a vault, a vault's key
    /// `.../vaults/{v}/keys/{k}`, an account) [default: the login's subscription].
    #[arg(long)]
    scope: Option<String>,
    /// A resource group of the login's subscription, as the scope.
    #[arg(long, short = 'g', conflicts_with = "scope")]
    resource_group: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AssignmentCommand {
    /// Assign a role to a principal at a scope.
    #[command(
        after_help = "Examples:\n  cmk role assignment create --role \"Key Vault Crypto Service Encryption User\" --assignee-object-id 3f1c4a2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b --scope /subscriptions/<id>/resourceGroups/rg-cmk/providers/Microsoft.KeyVault/vaults/kv-cmk\n  cmk role assignment create --role Reader --assignee-object-id 3f1c4a2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b --resource-group rg-cmk"
    )]
    Create {
        /// The role: its name ("Key Vault Crypto User"), its GUID, or its full id.
        #[arg(long)]
        role: String,
        /// The object id of the principal (a service principal or a managed identity's principalId).
        #[arg(long)]
        assignee_object_id: String,
        #[arg(long, default_value = "ServicePrincipal")]
        assignee_principal_type: String,
        #[command(flatten)]
        scope: ScopeArgs,
        #[arg(long)]
        description: Option<String>,
        /// The assignment's name (a GUID) [default: a new one].
        #[arg(long, short = 'n')]
        name: Option<String>,
    },
    /// List role assignments: those at the scope, or with --include-inherited those that apply there.
    #[command(
        after_help = "Examples:\n  cmk role assignment list --output table\n  cmk role assignment list --scope /subscriptions/<id>/resourceGroups/rg-cmk/providers/Microsoft.KeyVault/vaults/kv-cmk --include-inherited\n  cmk role assignment list --all --assignee-object-id 3f1c4a2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
    )]
    List {
        #[command(flatten)]
        scope: ScopeArgs,
        #[arg(long)]
        assignee_object_id: Option<String>,
        /// Only assignments of this role (its name, GUID or id).
        #[arg(long)]
        role: Option<String>,
        /// Every assignment in the subscription, at any scope.
        #[arg(long, conflicts_with_all = ["scope", "resource_group"])]
        all: bool,
        /// Also the assignments above the scope that apply at it.
        #[arg(long)]
        include_inherited: bool,
    },
    /// Delete role assignments, by id or by what they grant.
    #[command(
        after_help = "Examples:\n  cmk role assignment delete --ids /subscriptions/<id>/providers/Microsoft.Authorization/roleAssignments/<name>\n  cmk role assignment delete --assignee-object-id 3f1c4a2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b --role \"Key Vault Crypto User\" --scope /subscriptions/<id>/resourceGroups/rg-cmk/providers/Microsoft.KeyVault/vaults/kv-cmk"
    )]
    Delete {
        /// Assignment ids, as `list` shows them.
        #[arg(long, num_args = 1.., conflicts_with_all = ["assignee_object_id", "role", "scope", "resource_group"])]
        ids: Vec<String>,
        #[arg(long)]
        assignee_object_id: Option<String>,
        #[arg(long)]
        role: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum DefinitionCommand {
    /// List role definitions: Azure's built-in roles and the tenant's custom roles.
    #[command(
        after_help = "Examples:\n  cmk role definition list --query \"[].roleName\" --output tsv\n  cmk role definition list --name \"Key Vault Crypto User\" --query \"[0].permissions\""
    )]
    List {
        /// Only the role with this name (or GUID).
        #[arg(long, short = 'n')]
        name: Option<String>,
        #[arg(long)]
        scope: Option<String>,
        #[arg(long)]
        custom_role_only: bool,
    },
}

fn scope_of(session: &Session, args: &ScopeArgs) -> Result<String, CliError> {
    if let Some(scope) = &args.scope {
        if !scope.starts_with('/') || scope.contains(['?', '#']) {
            return Err(CliError::Usage(format!(
                "'{scope}' is not a scope: use an id that starts with /subscriptions/"
            )));
        }
        return Ok(scope.trim_end_matches('/').to_owned());
    }
    Ok(match &args.resource_group {
        Some(group) => format!("{}/resourceGroups/{group}", session.subscription_path()),
        None => session.subscription_path(),
    })
}

/// Whether `text` has the form of a GUID (`8-4-4-4-12` hexadecimal digits).
fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The subscription part of a scope (`/subscriptions/{id}`), where role definition ids are written.
fn subscription_of(session: &Session, scope: &str) -> String {
    let mut parts = scope.trim_start_matches('/').splitn(3, '/');
    match (parts.next(), parts.next()) {
        (Some(word), Some(id)) if word.eq_ignore_ascii_case("subscriptions") => format!("/subscriptions/{id}"),
        _ => session.subscription_path(),
    }
}

/// A role as az resolves it: a full id as it is, a GUID under the scope's subscription, a name looked up at
/// the scope.
async fn role_id(session: &Session, scope: &str, role: &str) -> Result<String, CliError> {
    if role
        .to_ascii_lowercase()
        .contains("/providers/microsoft.authorization/roledefinitions/")
    {
        return Ok(role.to_owned());
    }
    let subscription = subscription_of(session, scope);
    if is_guid(role) {
        return Ok(format!(
            "{subscription}/providers/Microsoft.Authorization/roleDefinitions/{}",
            role.to_ascii_lowercase()
        ));
    }
    let filter = serde_urlencoded::to_string([("$filter", format!("roleName eq '{role}'"))])
        .map_err(|e| CliError::local("encoding the role filter", e))?;
    let found = session
        .arm(
            Method::GET,
            &format!("{scope}/providers/Microsoft.Authorization/roleDefinitions?{DEFINITIONS_API}&{filter}"),
            None,
        )
        .await?;
    let found: RoleDefinitionListResult = read(&found)?;
    match found.value.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(CliError::Usage(format!("Role '{role}' doesn't exist."))),
        many => Err(CliError::Usage(format!(
            "More than one role matches the given name '{role}': {}",
            many.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn wire_body(body: &impl Serialize) -> Result<Value, CliError> {
    serde_json::to_value(body).map_err(|e| CliError::Local(format!("the request could not be written: {e}")))
}

/// An answer read as its authorization type, to find the fields the command needs; what is printed stays the
/// answer as the server sent it. The error names what was wrong, never a value.
fn read<T: DeserializeOwned>(answer: &Value) -> Result<T, CliError> {
    T::deserialize(answer).map_err(|e| {
        CliError::Local(format!(
            "the server's answer is not the expected Microsoft.Authorization shape: {e}"
        ))
    })
}

/// The items of a list as their type, each next to the item as the server sent it.
fn read_items<T: DeserializeOwned>(items: &Value) -> Result<Vec<(T, &Value)>, CliError> {
    items
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| Ok((read(item)?, item)))
        .collect()
}

/// az's flattened model: the ARM resource's `properties` at the top level, next to `id`, `name` and `type`.
fn flatten(resource: &Value) -> Value {
    let mut out = Map::new();
    if let Some(properties) = resource["properties"].as_object() {
        out.extend(properties.clone());
    }
    for field in ["id", "name", "type"] {
        out.insert(field.into(), resource[field].clone());
    }
    // The role definition's own type (BuiltInRole/CustomRole) would collide with the ARM type.
    if let Some(role_type) = resource["properties"]["type"].as_str() {
        out.insert("roleType".into(), json!(role_type));
    }
    Value::Object(out)
}

/// Role names by role definition id, to show with assignments.
async fn role_names(session: &Session, scope: &str) -> Result<Map<String, Value>, CliError> {
    let roles = list_all(
        session,
        &format!("{scope}/providers/Microsoft.Authorization/roleDefinitions?{DEFINITIONS_API}"),
    )
    .await?;
    Ok(read_items::<RoleDefinition>(&roles)?
        .into_iter()
        .map(|(r, _)| (r.id, Value::String(r.properties.role_name)))
        .collect())
}

/// The assignment flattened as az shows it, with the name of its role.
fn with_role_name(assignment: &RoleAssignment, answer: &Value, names: &Map<String, Value>) -> Value {
    let mut shown = flatten(answer);
    let name = names
        .get(&assignment.properties.role_definition_id)
        .cloned()
        .unwrap_or(Value::Null);
    if let Value::Object(map) = &mut shown {
        map.insert("roleDefinitionName".into(), name);
    }
    shown
}

/// The assignments at `scope` that match (az's client-side filter after an `atScope()` list).
async fn find_assignments(
    session: &Session,
    scope: &str,
    assignee: Option<&str>,
    role: Option<&str>,
    include_inherited: bool,
) -> Result<Vec<(RoleAssignment, Value)>, CliError> {
    let listed = list_all(
        session,
        &format!("{scope}/providers/Microsoft.Authorization/roleAssignments?{ASSIGNMENTS_API}&$filter=atScope%28%29"),
    )
    .await?;
    let role = match role {
        Some(role) => Some(role_id(session, scope, role).await?),
        None => None,
    };
    Ok(read_items::<RoleAssignment>(&listed)?
        .into_iter()
        .filter(|(a, _)| include_inherited || a.properties.scope.eq_ignore_ascii_case(scope))
        .filter(|(a, _)| assignee.is_none_or(|oid| a.properties.principal_id.eq_ignore_ascii_case(oid)))
        .filter(|(a, _)| {
            role.as_deref()
                .is_none_or(|id| a.properties.role_definition_id.eq_ignore_ascii_case(id))
        })
        .map(|(a, answer)| (a, answer.clone()))
        .collect())
}

fn assignment_name(given: Option<String>) -> Result<String, CliError> {
    match given {
        Some(name) if is_guid(&name) => Ok(name),
        Some(name) => Err(CliError::Usage(format!(
            "'{name}' is not a valid assignment name: it must be a GUID"
        ))),
        None => Ok(cmk_crypto::random::random_uuid()
            .map_err(|e| CliError::local("making an assignment name", e))?
            .to_string()),
    }
}

pub async fn run(command: RoleCommand, session: &Session) -> Result<Option<Value>, CliError> {
    Ok(match command {
        RoleCommand::Assignment { command } => match command {
            AssignmentCommand::Create {
                role,
                assignee_object_id,
                assignee_principal_type,
                scope,
                description,
                name,
            } => {
                let scope = scope_of(session, &scope)?;
                let role = role_id(session, &scope, &role).await?;
                let body = wire_body(&RoleAssignmentCreateParameters {
                    properties: RoleAssignmentCreateProperties {
                        role_definition_id: role,
                        principal_id: assignee_object_id,
                        principal_type: Some(assignee_principal_type),
                        description,
                        ..RoleAssignmentCreateProperties::default()
                    },
                })?;
                let path = format!(
                    "{scope}/providers/Microsoft.Authorization/roleAssignments/{}?{ASSIGNMENTS_API}",
                    assignment_name(name)?
                );
                let created = session.arm(Method::PUT, &path, Some(&body)).await?;
                let assignment: RoleAssignment = read(&created)?;
                let names = role_names(session, &scope).await?;
                Some(with_role_name(&assignment, &created, &names))
            }
            AssignmentCommand::List {
                scope,
                assignee_object_id,
                role,
                all,
                include_inherited,
            } => {
                // Role ids are written under the subscription of the scope listed.
                let names_scope = match (&scope.scope, all) {
                    (Some(given), false) => subscription_of(session, given),
                    _ => session.subscription_path(),
                };
                let found = if all {
                    let subscription = session.subscription_path();
                    let path = match &assignee_object_id {
                        Some(oid) => format!(
                            "{subscription}/providers/Microsoft.Authorization/roleAssignments?{ASSIGNMENTS_API}&$filter=principalId%20eq%20%27{oid}%27"
                        ),
                        None => {
                            format!(
                                "{subscription}/providers/Microsoft.Authorization/roleAssignments?{ASSIGNMENTS_API}"
                            )
                        }
                    };
                    let role = match &role {
                        Some(role) => Some(role_id(session, &subscription, role).await?),
                        None => None,
                    };
                    let listed = list_all(session, &path).await?;
                    read_items::<RoleAssignment>(&listed)?
                        .into_iter()
                        .filter(|(a, _)| {
                            role.as_deref()
                                .is_none_or(|id| a.properties.role_definition_id.eq_ignore_ascii_case(id))
                        })
                        .map(|(a, answer)| (a, answer.clone()))
                        .collect::<Vec<_>>()
                } else {
                    let scope = scope_of(session, &scope)?;
                    find_assignments(
                        session,
                        &scope,
                        assignee_object_id.as_deref(),
                        role.as_deref(),
                        include_inherited,
                    )
                    .await?
                };
                let names = role_names(session, &names_scope).await?;
                Some(Value::Array(
                    found
                        .iter()
                        .map(|(a, answer)| with_role_name(a, answer, &names))
                        .collect(),
                ))
            }
            AssignmentCommand::Delete {
                ids,
                assignee_object_id,
                role,
                scope,
            } => {
                let ids = if ids.is_empty() {
                    if assignee_object_id.is_none() && role.is_none() {
                        return Err(CliError::Usage(
                            "Please provide at least one of these arguments: --ids, --assignee-object-id, --role"
                                .into(),
                        ));
                    }
                    let scope = scope_of(session, &scope)?;
                    let found =
                        find_assignments(session, &scope, assignee_object_id.as_deref(), role.as_deref(), false)
                            .await?;
                    if found.is_empty() {
                        return Err(CliError::Server {
                            status: 404,
                            code: "RoleAssignmentNotFound".into(),
                            message: "No matched assignments were found to delete.".into(),
                        });
                    }
                    found.into_iter().map(|(a, _)| a.id).collect()
                } else {
                    ids
                };
                for id in ids {
                    if !id.starts_with('/') || id.contains(['?', '#']) {
                        return Err(CliError::Usage(format!("'{id}' is not a role assignment id")));
                    }
                    session
                        .arm(Method::DELETE, &format!("{id}?{ASSIGNMENTS_API}"), None)
                        .await?;
                }
                None
            }
        },
        RoleCommand::Definition { command } => match command {
            DefinitionCommand::List {
                name,
                scope,
                custom_role_only,
            } => {
                let scope = match scope {
                    Some(scope) => scope_of(
                        session,
                        &ScopeArgs {
                            scope: Some(scope),
                            resource_group: None,
                        },
                    )?,
                    None => session.subscription_path(),
                };
                let mut path = format!("{scope}/providers/Microsoft.Authorization/roleDefinitions?{DEFINITIONS_API}");
                if let Some(name) = name.as_deref().filter(|n| !is_guid(n)) {
                    let filter = serde_urlencoded::to_string([("$filter", format!("roleName eq '{name}'"))])
                        .map_err(|e| CliError::local("encoding the role filter", e))?;
                    path = format!("{path}&{filter}");
                }
                let roles = list_all(session, &path).await?;
                Some(Value::Array(
                    read_items::<RoleDefinition>(&roles)?
                        .into_iter()
                        .filter(|(r, _)| !custom_role_only || r.properties.role_type == "CustomRole")
                        .filter(|(r, _)| name.as_deref().is_none_or(|n| !is_guid(n) || r.name == n))
                        .map(|(_, answer)| flatten(answer))
                        .collect(),
                ))
            }
        },
    })
}
