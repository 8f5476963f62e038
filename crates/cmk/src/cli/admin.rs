//! `cmk admin ...`: the deployment's operators' calls (`/cmk/admin`).

use clap::Subcommand;
use cmk_api::admin::{
    AddOwnerRequest, AdminServicePrincipal, AdminSubscription, AdminTenant, AdvanceClockRequest, AuditRecord, Clock,
    CreateServicePrincipalRequest, CreateSubscriptionRequest, CreateTenantRequest, CreatedServicePrincipal,
    DeletedServicePrincipal, ListResult, MoveSubscriptionRequest, OwnerAssignment, ResetSecretRequest,
    ResetSecretResult,
};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::CliError;
use super::session::Session;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Tenants (directories).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Subscriptions, and moving one to another tenant.
    Subscription {
        #[command(subcommand)]
        command: SubscriptionCommand,
    },
    /// Service principals.
    Sp {
        #[command(subcommand)]
        command: SpCommand,
    },
    /// The development server's clock.
    Clock {
        #[command(subcommand)]
        command: ClockCommand,
    },
    /// A vault's audit log.
    #[command(after_help = "Example:\n  cmk admin audit --vault kv-cmk --output table")]
    Audit {
        #[arg(long)]
        vault: String,
        /// Most records to show.
        #[arg(long, default_value_t = 100)]
        top: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant.
    #[command(after_help = "Example:\n  cmk admin tenant create --display-name contoso")]
    Create {
        #[arg(long)]
        display_name: String,
    },
    /// List the tenants.
    #[command(after_help = "Example:\n  cmk admin tenant list --output table")]
    List,
}

#[derive(Subcommand, Debug)]
pub enum SubscriptionCommand {
    /// Create a subscription in a tenant, owned by one of its principals.
    #[command(
        after_help = "Example:\n  cmk admin subscription create --tenant TENANT --display-name production --owner-object-id OBJECT_ID"
    )]
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        display_name: String,
        /// The object id of a principal of the tenant that becomes the subscription's Owner. Without one, nobody
        /// can manage the subscription until an operator names an Owner (`add-owner`).
        #[arg(long)]
        owner_object_id: Option<String>,
    },
    /// Make a principal Owner of a subscription.
    #[command(after_help = "Example:\n  cmk admin subscription add-owner --subscription SUB --principal-id OBJECT_ID")]
    AddOwner {
        #[arg(long)]
        subscription: String,
        /// The principal's object id.
        #[arg(long)]
        principal_id: String,
    },
    /// Move a subscription, with everything in it, to another tenant; managed identities stay behind.
    #[command(after_help = "Example:\n  cmk admin subscription move --subscription SUB --tenant OTHER_TENANT")]
    Move {
        #[arg(long)]
        subscription: String,
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum SpCommand {
    /// Create a service principal; its secret is shown once.
    #[command(after_help = "Example:\n  cmk admin sp create --tenant TENANT --display-name ci")]
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        display_name: String,
        /// Make it an operator of the deployment.
        #[arg(long)]
        operator: bool,
    },
    /// List the service principals of a tenant (never their secrets: each secret's id, first characters, age).
    #[command(after_help = "Example:\n  cmk admin sp list --tenant TENANT")]
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Give a service principal a new secret, shown once; its other secrets stop working unless --append.
    #[command(after_help = "Example:\n  cmk admin sp reset-secret --tenant TENANT --client-id CLIENT_ID")]
    ResetSecret {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        client_id: String,
        /// Keep the other secrets working (for a rollover without downtime).
        #[arg(long)]
        append: bool,
    },
    /// Delete a service principal and its role assignments; its tokens stop working at once.
    #[command(after_help = "Example:\n  cmk admin sp delete --tenant TENANT --client-id CLIENT_ID")]
    Delete {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        client_id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClockCommand {
    /// The server's time.
    #[command(after_help = "Example:\n  cmk admin clock show")]
    Show,
    /// Move the development clock forward.
    #[command(after_help = "Example:\n  cmk admin clock advance --days 91")]
    Advance {
        #[arg(long, default_value_t = 0)]
        days: i64,
        #[arg(long, default_value_t = 0)]
        seconds: i64,
    },
}

/// Calls the admin API with a typed body, and checks that the answer has the shape `T`; the answer is given back
/// as the server wrote it, to be printed so.
async fn admin<T: DeserializeOwned>(
    session: &Session,
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
) -> Result<Value, CliError> {
    let body = body.map(wire_body).transpose()?;
    let answer = session.arm(method, &format!("/cmk/admin{path}"), body.as_ref()).await?;
    T::deserialize(&answer)
        .map_err(|e| CliError::Local(format!("the server's answer is not the expected admin shape: {e}")))?;
    Ok(answer)
}

/// [`admin`] of a list: its entries, each as the server wrote it.
async fn admin_list<T: DeserializeOwned>(session: &Session, path: &str) -> Result<Value, CliError> {
    let answer = admin::<ListResult<T>>(session, Method::GET, path, NO_BODY).await?;
    let list: ListResult<Value> = serde_json::from_value(answer)
        .map_err(|e| CliError::Local(format!("the server's answer is not the expected admin shape: {e}")))?;
    Ok(Value::Array(list.value))
}

/// A request body from its admin type.
fn wire_body(body: &impl Serialize) -> Result<Value, CliError> {
    serde_json::to_value(body).map_err(|e| CliError::Local(format!("the request could not be written: {e}")))
}

/// The body of a call that sends none.
const NO_BODY: Option<&()> = None;

pub async fn run(command: AdminCommand, session: &Session) -> Result<Option<Value>, CliError> {
    Ok(Some(match command {
        AdminCommand::Tenant { command } => match command {
            TenantCommand::Create { display_name } => {
                admin::<AdminTenant>(
                    session,
                    Method::POST,
                    "/tenants",
                    Some(&CreateTenantRequest { display_name }),
                )
                .await?
            }
            TenantCommand::List => admin_list::<AdminTenant>(session, "/tenants").await?,
        },
        AdminCommand::Subscription { command } => match command {
            SubscriptionCommand::Create {
                tenant,
                display_name,
                owner_object_id,
            } => {
                let body = CreateSubscriptionRequest {
                    display_name,
                    owner_object_id,
                };
                admin::<AdminSubscription>(
                    session,
                    Method::POST,
                    &format!("/tenants/{tenant}/subscriptions"),
                    Some(&body),
                )
                .await?
            }
            SubscriptionCommand::AddOwner {
                subscription,
                principal_id,
            } => {
                admin::<OwnerAssignment>(
                    session,
                    Method::POST,
                    &format!("/subscriptions/{subscription}/owners"),
                    Some(&AddOwnerRequest { principal_id }),
                )
                .await?
            }
            SubscriptionCommand::Move { subscription, tenant } => {
                admin::<AdminSubscription>(
                    session,
                    Method::POST,
                    &format!("/subscriptions/{subscription}/move"),
                    Some(&MoveSubscriptionRequest { tenant_id: tenant }),
                )
                .await?
            }
        },
        AdminCommand::Sp { command } => match command {
            SpCommand::Create {
                tenant,
                display_name,
                operator,
            } => {
                admin::<CreatedServicePrincipal>(
                    session,
                    Method::POST,
                    &format!("/tenants/{tenant}/servicePrincipals"),
                    Some(&CreateServicePrincipalRequest { display_name, operator }),
                )
                .await?
            }
            SpCommand::List { tenant } => {
                admin_list::<AdminServicePrincipal>(session, &format!("/tenants/{tenant}/servicePrincipals")).await?
            }
            SpCommand::ResetSecret {
                tenant,
                client_id,
                append,
            } => {
                admin::<ResetSecretResult>(
                    session,
                    Method::POST,
                    &format!("/tenants/{tenant}/servicePrincipals/{client_id}/resetSecret"),
                    Some(&ResetSecretRequest { append }),
                )
                .await?
            }
            SpCommand::Delete { tenant, client_id } => {
                admin::<DeletedServicePrincipal>(
                    session,
                    Method::DELETE,
                    &format!("/tenants/{tenant}/servicePrincipals/{client_id}"),
                    NO_BODY,
                )
                .await?
            }
        },
        AdminCommand::Clock { command } => match command {
            ClockCommand::Show => admin::<Clock>(session, Method::GET, "/clock", NO_BODY).await?,
            ClockCommand::Advance { days, seconds } => {
                let total = days.saturating_mul(86_400).saturating_add(seconds);
                if total <= 0 {
                    return Err(CliError::Usage(
                        "give --days or --seconds: the clock only moves forward".into(),
                    ));
                }
                admin::<Clock>(
                    session,
                    Method::POST,
                    "/clock/advance",
                    Some(&AdvanceClockRequest { seconds: total }),
                )
                .await?
            }
        },
        AdminCommand::Audit { vault, top } => {
            admin_list::<AuditRecord>(session, &format!("/audit?vault={vault}&top={top}")).await?
        }
    }))
}
