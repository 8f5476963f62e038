//! The admin API under `/cmk/admin`. Operators manage tenants, subscriptions (their first Owners, and their
//! moves between tenants) and service principals, read the audit log, and in development mode shift the clock.
//! Operators own no tenant's resources unless a role says so. Principals with the right roles on an account read
//! its managed identity's endpoint secret and set up a customer-managed key in one call, as the portal does.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cmk_api::admin::{
    AddOwnerRequest, AdminServicePrincipal, AdminServicePrincipalList, AdminSubscription, AdminTenant, AdminTenantList,
    AdvanceClockRequest, AuditCaller, AuditRecord, AuditRecordList, ClientSecretInfo, Clock,
    ConfigureCustomerManagedKeyRequest, CreateServicePrincipalRequest, CreateSubscriptionRequest, CreateTenantRequest,
    CreatedServicePrincipal, DeletedServicePrincipal, ManagedIdentityEndpoint, MoveSubscriptionRequest,
    OwnerAssignment, ResetSecretRequest, ResetSecretResult,
};
use cmk_crypto::SecretString;
use cmk_directory::DirectoryError;
use cmk_directory::authorization::Scope;
use cmk_directory::model::TenantId;
use cmk_directory::principals::Operator;

use crate::AppState;
use crate::auth::ManagementCaller;
use crate::body::{JsonBody, OptionalJsonBody};
use crate::error::ApiError;

pub(super) fn router(dev: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/cmk/admin/tenants", post(create_tenant).get(list_tenants))
        .route("/cmk/admin/tenants/{tenant}/subscriptions", post(create_subscription))
        .route(
            "/cmk/admin/tenants/{tenant}/servicePrincipals",
            post(create_service_principal).get(list_service_principals),
        )
        .route(
            "/cmk/admin/tenants/{tenant}/servicePrincipals/{client}",
            axum::routing::delete(delete_service_principal),
        )
        .route(
            "/cmk/admin/tenants/{tenant}/servicePrincipals/{client}/resetSecret",
            post(reset_secret),
        )
        .route("/cmk/admin/subscriptions/{subscription}/owners", post(add_owner))
        .route("/cmk/admin/audit", get(read_audit))
        .route("/cmk/admin/subscriptions/{subscription}/move", post(move_subscription))
        .route("/cmk/admin/managedIdentities", get(read_managed_identity))
        .route(
            "/cmk/admin/configureCustomerManagedKey",
            post(configure_customer_managed_key),
        );
    if dev {
        router
            .route("/cmk/admin/clock", get(read_clock))
            .route("/cmk/admin/clock/advance", post(advance_clock))
    } else {
        router
    }
}

async fn operator(state: &AppState, caller: &ManagementCaller) -> Result<Operator, ApiError> {
    Ok(state.directory.require_operator(&caller.0).await?)
}

fn tenant_id(text: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(text).ok_or_else(|| DirectoryError::InvalidTenantId(text.to_owned()).into())
}

fn tenant_answer(tenant: cmk_directory::model::Tenant) -> AdminTenant {
    AdminTenant {
        tenant_id: tenant.id.to_string(),
        display_name: tenant.display_name,
        default_domain: tenant.default_domain,
    }
}

fn subscription_answer(subscription: cmk_directory::model::Subscription) -> AdminSubscription {
    AdminSubscription {
        subscription_id: subscription.id.to_string(),
        tenant_id: subscription.tenant_id.to_string(),
        display_name: subscription.display_name,
    }
}

async fn create_tenant(
    State(state): State<AppState>,
    caller: ManagementCaller,
    JsonBody(body): JsonBody<CreateTenantRequest>,
) -> Result<Response, ApiError> {
    let operator = operator(&state, &caller).await?;
    let tenant = state.directory.create_tenant(&operator, &body.display_name).await?;
    Ok((StatusCode::CREATED, Json(tenant_answer(tenant))).into_response())
}

async fn list_tenants(
    State(state): State<AppState>,
    caller: ManagementCaller,
) -> Result<Json<AdminTenantList>, ApiError> {
    let operator = operator(&state, &caller).await?;
    let mut value = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (tenants, next) = state.directory.list_tenants(&operator, cursor.as_deref(), 500).await?;
        value.extend(tenants.into_iter().map(tenant_answer));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(Json(AdminTenantList::last(value)))
}

fn object_id(field: &str, text: &str) -> Result<cmk_directory::model::ObjectId, ApiError> {
    cmk_directory::model::ObjectId::parse(text).ok_or_else(|| {
        ApiError::arm(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            format!("'{field}' must be the object id (a GUID) of a principal, got '{text}'."),
        )
    })
}

async fn create_subscription(
    State(state): State<AppState>,
    caller: ManagementCaller,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<CreateSubscriptionRequest>,
) -> Result<Response, ApiError> {
    let operator = operator(&state, &caller).await?;
    let owner = body
        .owner_object_id
        .as_deref()
        .map(|o| object_id("ownerObjectId", o))
        .transpose()?;
    let subscription = state
        .directory
        .create_subscription(&operator, &tenant_id(&tenant)?, &body.display_name, owner)
        .await?;
    Ok((StatusCode::CREATED, Json(subscription_answer(subscription))).into_response())
}

async fn create_service_principal(
    State(state): State<AppState>,
    caller: ManagementCaller,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<CreateServicePrincipalRequest>,
) -> Result<Response, ApiError> {
    let operator = operator(&state, &caller).await?;
    let (principal, secret) = state
        .directory
        .create_service_principal(&operator, &tenant_id(&tenant)?, &body.display_name, body.operator)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedServicePrincipal {
            tenant_id: principal.tenant_id.to_string(),
            client_id: principal.client_id.to_string(),
            object_id: principal.object_id.to_string(),
            display_name: principal.display_name,
            operator: principal.operator,
            // Shown once; only a salted hash is stored.
            client_secret: secret,
        }),
    )
        .into_response())
}

/// A principal as the admin API shows it: never a secret, only each secret's id, first characters and age.
fn principal_answer(principal: &cmk_directory::model::ServicePrincipal) -> AdminServicePrincipal {
    AdminServicePrincipal {
        tenant_id: principal.tenant_id.to_string(),
        client_id: principal.client_id.to_string(),
        object_id: principal.object_id.to_string(),
        display_name: principal.display_name.clone(),
        operator: principal.operator,
        created_on: principal.created.to_rfc3339(),
        secrets: principal
            .secrets
            .iter()
            .map(|s| ClientSecretInfo {
                id: s.id.to_string(),
                hint: s.hint.clone(),
                created_on: s.created.to_rfc3339(),
            })
            .collect(),
    }
}

fn client_id(tenant: &TenantId, client: &str) -> Result<cmk_directory::model::ClientId, ApiError> {
    cmk_directory::model::ClientId::parse(client).ok_or_else(|| {
        DirectoryError::ClientNotFound {
            client_id: client.to_owned(),
            tenant: tenant.to_string(),
        }
        .into()
    })
}

async fn list_service_principals(
    State(state): State<AppState>,
    caller: ManagementCaller,
    Path(tenant): Path<String>,
) -> Result<Json<AdminServicePrincipalList>, ApiError> {
    let operator = operator(&state, &caller).await?;
    let principals = state
        .directory
        .list_service_principals(&operator, &tenant_id(&tenant)?)
        .await?;
    Ok(Json(AdminServicePrincipalList::last(
        principals.iter().map(principal_answer).collect(),
    )))
}

/// Gives a principal a new client secret, shown in this answer only; by default its other secrets stop working.
async fn reset_secret(
    State(state): State<AppState>,
    caller: ManagementCaller,
    Path((tenant, client)): Path<(String, String)>,
    OptionalJsonBody(body): OptionalJsonBody<ResetSecretRequest>,
) -> Result<Json<ResetSecretResult>, ApiError> {
    let operator = operator(&state, &caller).await?;
    let tenant = tenant_id(&tenant)?;
    let client = client_id(&tenant, &client)?;
    let keep_old = body.append;
    let (principal, secret) = state
        .directory
        .reset_client_secret(&operator, &tenant, &client, keep_old)
        .await?;
    Ok(Json(ResetSecretResult {
        principal: principal_answer(&principal),
        client_secret: secret,
    }))
}

/// Deletes a service principal and its role assignments; its tokens stop working at once.
async fn delete_service_principal(
    State(state): State<AppState>,
    caller: ManagementCaller,
    Path((tenant, client)): Path<(String, String)>,
) -> Result<Json<DeletedServicePrincipal>, ApiError> {
    let operator = operator(&state, &caller).await?;
    let tenant = tenant_id(&tenant)?;
    let client_id = client_id(&tenant, &client)?;
    let deleted = state
        .directory
        .delete_service_principal(&operator, &tenant, &client_id)
        .await?;
    Ok(Json(DeletedServicePrincipal {
        tenant_id: deleted.tenant_id.to_string(),
        client_id: deleted.client_id.to_string(),
        object_id: deleted.object_id.to_string(),
        display_name: deleted.display_name,
    }))
}

/// Makes a principal Owner of a subscription: how an operator hands a subscription to its team, or gives it
/// back an Owner when nobody can manage it any more.
async fn add_owner(
    State(state): State<AppState>,
    caller: ManagementCaller,
    Path(subscription): Path<String>,
    JsonBody(body): JsonBody<AddOwnerRequest>,
) -> Result<Response, ApiError> {
    let operator = operator(&state, &caller).await?;
    let id = cmk_directory::model::SubscriptionId::parse(&subscription)
        .ok_or_else(|| DirectoryError::InvalidSubscriptionId(subscription.clone()))?;
    let assignment = state
        .directory
        .add_subscription_owner(&operator, &id, object_id("principalId", &body.principal_id)?)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(OwnerAssignment {
            id: format!(
                "{}/providers/Microsoft.Authorization/roleAssignments/{}",
                assignment.scope, assignment.name
            ),
            name: assignment.name.to_string(),
            principal_id: assignment.principal_id.to_string(),
            scope: assignment.scope.to_string(),
        }),
    )
        .into_response())
}

fn clock_json(clock: &crate::dev::DevClock) -> Json<Clock> {
    let now = clock.now();
    Json(Clock {
        now: now.to_rfc3339(),
        now_unix: now.unix_seconds(),
        offset_seconds: clock.offset_seconds(),
    })
}

fn dev_clock(state: &AppState) -> Result<&crate::dev::DevClock, ApiError> {
    state.dev_clock.as_deref().ok_or_else(|| {
        ApiError::arm(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The clock can only be shifted in development mode.",
        )
    })
}

async fn read_clock(State(state): State<AppState>, caller: ManagementCaller) -> Result<Json<Clock>, ApiError> {
    operator(&state, &caller).await?;
    Ok(clock_json(dev_clock(&state)?))
}

/// Moves the development clock forward. Time never goes back: negative or zero shifts are refused.
async fn advance_clock(
    State(state): State<AppState>,
    caller: ManagementCaller,
    JsonBody(body): JsonBody<AdvanceClockRequest>,
) -> Result<Json<Clock>, ApiError> {
    operator(&state, &caller).await?;
    let clock = dev_clock(&state)?;
    if body.seconds <= 0 {
        return Err(ApiError::arm(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            format!(
                "'seconds' must be a positive number of seconds to move forward, got {}.",
                body.seconds
            ),
        ));
    }
    match clock.advance(body.seconds).await {
        Ok(Some(_)) => Ok(clock_json(clock)),
        Ok(None) => Err(ApiError::arm(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "The clock cannot move that far.",
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// A time given as Unix seconds or RFC 3339.
fn parse_time(field: &str, text: &str) -> Result<cmk_core::Timestamp, ApiError> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(cmk_core::Timestamp::from_unix_seconds(seconds));
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| cmk_core::Timestamp::from_unix_seconds(t.unix_timestamp()))
        .map_err(|_| {
            ApiError::arm(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                format!("'{field}' must be Unix seconds or an RFC 3339 time, got '{text}'."),
            )
        })
}

/// `GET /cmk/admin/audit?vault=NAME[&from=TIME][&to=TIME][&top=N]`: the audit records of one vault, oldest
/// first.
async fn read_audit(
    State(state): State<AppState>,
    caller: ManagementCaller,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
) -> Result<Json<AuditRecordList>, ApiError> {
    operator(&state, &caller).await?;
    let query = crate::routes::arm::query_map(&uri);
    let invalid = |message: String| ApiError::arm(StatusCode::BAD_REQUEST, "InvalidParameter", message);
    let vault = query
        .get("vault")
        .ok_or_else(|| invalid("The 'vault' query parameter is required.".into()))?;
    cmk_vault::model::validate_vault_name(vault).map_err(|e| invalid(e.to_string()))?;
    let from = query.get("from").map(|t| parse_time("from", t)).transpose()?;
    let to = query.get("to").map(|t| parse_time("to", t)).transpose()?;
    let top = match query.get("top") {
        None => 1000,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            _ => {
                return Err(invalid(format!(
                    "'top' must be a whole number from 1 to 10000, got '{text}'."
                )));
            }
        },
    };
    let records = state.audit.query(vault, from, to, top).await.map_err(ApiError::from)?;
    let value = records
        .into_iter()
        .map(|r| AuditRecord {
            time: r.time.to_rfc3339(),
            request_id: r.request_id,
            caller: r.caller.map(|c| AuditCaller {
                tenant_id: c.tenant_id,
                object_id: c.object_id,
                client_id: c.client_id,
            }),
            operation: r.operation,
            vault: r.vault,
            key: r.key,
            version: r.version,
            status: r.status,
        })
        .collect();
    Ok(Json(AuditRecordList::last(value)))
}

async fn move_subscription(
    State(state): State<AppState>,
    caller: ManagementCaller,
    Path(subscription): Path<String>,
    JsonBody(body): JsonBody<MoveSubscriptionRequest>,
) -> Result<Json<AdminSubscription>, ApiError> {
    let operator = operator(&state, &caller).await?;
    let id = cmk_directory::model::SubscriptionId::parse(&subscription)
        .ok_or_else(|| DirectoryError::InvalidSubscriptionId(subscription.clone()))?;
    let tenant = tenant_id(&body.tenant_id)?;
    let moved = state.directory.move_subscription(&operator, &id, &tenant).await?;
    // S9: the accounts' identities stay behind; their keys become inaccessible now, not at the next poll.
    state.accounts.recheck_subscription(&id).await?;
    Ok(Json(subscription_answer(moved)))
}

/// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}`, any case.
fn parse_account_id(id: &str) -> Result<(String, String, String), ApiError> {
    let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        [s, sub, r, rg, p, ns, a, name]
            if s.eq_ignore_ascii_case("subscriptions")
                && r.eq_ignore_ascii_case("resourceGroups")
                && p.eq_ignore_ascii_case("providers")
                && ns.eq_ignore_ascii_case("Microsoft.CognitiveServices")
                && a.eq_ignore_ascii_case("accounts") =>
        {
            Ok(((*sub).to_owned(), (*rg).to_owned(), (*name).to_owned()))
        }
        _ => Err(ApiError::arm(
            StatusCode::BAD_REQUEST,
            "InvalidResourceId",
            format!(
                "'{id}' is not an account id: expected /subscriptions/{{s}}/resourceGroups/{{rg}}/providers/Microsoft.CognitiveServices/accounts/{{name}}."
            ),
        )),
    }
}

async fn read_managed_identity(
    State(state): State<AppState>,
    caller: ManagementCaller,
    uri: axum::http::Uri,
) -> Result<Json<ManagedIdentityEndpoint>, ApiError> {
    let query = crate::routes::arm::query_map(&uri);
    let resource_id = query.get("resourceId").ok_or_else(|| {
        ApiError::arm(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "The query parameter resourceId (the account's id) is required.",
        )
    })?;
    let (subscription, resource_group, name) = parse_account_id(resource_id)?;
    let scope = account_scope(&subscription, &resource_group, &name)?;
    let authorized = state
        .directory
        .authorize(&caller.0, cmk_account::actions::IDENTITY_SECRET_READ, &scope)
        .await?;
    let account = state
        .accounts
        .find_active(&authorized.id(), &resource_group, &name)
        .await?
        .ok_or_else(|| cmk_account::AccountError::AccountNotFound {
            name: name.clone(),
            resource_group: resource_group.clone(),
        })?;
    let identity = account.identity.as_ref().ok_or_else(|| {
        ApiError::arm(
            StatusCode::BAD_REQUEST,
            "IdentityNotEnabled",
            format!("The account '{name}' has no managed identity; set identity.type to SystemAssigned first."),
        )
    })?;
    let secret = state
        .directory
        .identity_endpoint_secret(&identity.tenant_id, &identity.client_id);
    let authority = state.urls.authority();
    Ok(Json(ManagedIdentityEndpoint {
        resource_id: account.resource_id(),
        principal_id: identity.principal_id.to_string(),
        client_id: identity.client_id.to_string(),
        tenant_id: identity.tenant_id.to_string(),
        identity_endpoint: format!("{authority}/msi/token"),
        imds_authority_host: SecretString::new(format!("{authority}/msi/{secret}")),
        identity_header: SecretString::new(secret),
    }))
}

/// The scope of the account an admin call names.
fn account_scope(subscription: &str, resource_group: &str, name: &str) -> Result<Scope, ApiError> {
    let subscription = cmk_directory::model::SubscriptionId::parse(subscription)
        .ok_or_else(|| DirectoryError::InvalidSubscriptionId(subscription.to_owned()))?;
    Ok(cmk_account::actions::account_scope(subscription, resource_group, name))
}

/// What the portal does when a customer picks a key: enable the account's identity, grant it what it needs on
/// the key (get, wrapKey and unwrapKey in an access policy, or the role Key Vault Crypto Service Encryption
/// User on the key for a vault that uses Azure RBAC), and switch the key on. The caller needs the rights each
/// step takes: writing the account, and writing access policies or role assignments on the vault.
async fn configure_customer_managed_key(
    State(state): State<AppState>,
    caller: ManagementCaller,
    JsonBody(body): JsonBody<ConfigureCustomerManagedKeyRequest>,
) -> Result<Json<cmk_api::accounts::Account>, ApiError> {
    use cmk_account::accounts::{AccountPatch, EncryptionSpec, IdentityType};
    use cmk_account::model::CustomerKeySpec;
    use cmk_vault::model::{AccessPolicy, KeyPermission, Permissions};

    let (subscription, resource_group, name) = parse_account_id(&body.account_id)?;
    let scope = account_scope(&subscription, &resource_group, &name)?;
    let subscription = state
        .directory
        .authorize(&caller.0, cmk_account::actions::ACCOUNT_WRITE, &scope)
        .await?;
    let spec = cmk_account::encryption::validate_customer_key(CustomerKeySpec {
        vault_uri: body.key_vault_uri,
        key_name: body.key_name,
        key_version: body.key_version,
        identity_client_id: None,
    })
    .map_err(cmk_account::AccountError::from)?;
    let vault_name = cmk_account::encryption::vault_name_of(&spec.vault_uri).to_owned();
    let vault = state.vaults.data_plane_vault(&vault_name).await.map_err(|_| {
        ApiError::arm(
            StatusCode::BAD_REQUEST,
            "KeyVaultNotFound",
            format!(
                "The key vault '{vault_name}' is not a vault of this deployment, so access cannot be granted here; grant the identity access to the key yourself and set the key with an update."
            ),
        )
    })?;
    // Refuse before anything changes when the caller cannot grant the identity its access.
    let grant_action = if vault.rbac_authorization {
        cmk_directory::authorization::actions::authorization::ROLE_ASSIGNMENT_WRITE
    } else {
        cmk_vault::actions::ACCESS_POLICIES_WRITE
    };
    let key_scope = vault.scope().child("keys", &spec.key_name);
    let vault_subscription = state.directory.authorize(&caller.0, grant_action, &key_scope).await?;
    let mut account = state
        .accounts
        .find_active(&subscription.id(), &resource_group, &name)
        .await?
        .ok_or_else(|| cmk_account::AccountError::AccountNotFound {
            name: name.clone(),
            resource_group: resource_group.clone(),
        })?;
    if account.identity.is_none() {
        let patch = AccountPatch {
            identity: Some(IdentityType::SystemAssigned),
            ..AccountPatch::default()
        };
        account = state
            .accounts
            .update(&subscription, &resource_group, &name, patch)
            .await?;
    }
    let identity = account
        .identity
        .clone()
        .ok_or_else(|| ApiError::internal("the identity was enabled but is missing"))?;
    if vault.rbac_authorization {
        let assignment = cmk_directory::authorization::assignments::AssignmentSpec {
            role_definition_id: cmk_directory::authorization::roles::ids::KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
            principal_id: identity.principal_id,
            principal_type: Some("ServicePrincipal".into()),
            description: Some(format!("Customer-managed key of {}", account.resource_id())),
        };
        let name = cmk_crypto::random::random_uuid().map_err(ApiError::internal)?;
        match state
            .directory
            .create_role_assignment(&caller.0, &key_scope, name, assignment)
            .await
        {
            Ok(_) | Err(DirectoryError::RoleAssignmentExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    } else {
        let grant = AccessPolicy {
            tenant_id: identity.tenant_id,
            object_id: identity.principal_id.to_string(),
            application_id: None,
            permissions: Permissions {
                keys: [KeyPermission::Get, KeyPermission::WrapKey, KeyPermission::UnwrapKey]
                    .into_iter()
                    .collect(),
                ..Permissions::default()
            },
        };
        state
            .vaults
            .update_access_policies(
                &vault_subscription,
                &vault.resource_group,
                &vault.name,
                cmk_vault::vaults::AccessPolicyUpdate::Add,
                vec![grant],
            )
            .await?;
    }
    let patch = AccountPatch {
        encryption: Some(EncryptionSpec::Customer(spec)),
        ..AccountPatch::default()
    };
    let account = state
        .accounts
        .update(&subscription, &resource_group, &name, patch)
        .await?;
    Ok(Json(crate::routes::arm::accounts::account_resource(&state, &account)))
}
