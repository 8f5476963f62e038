//! Service principals and their client secrets.
//!
//! A secret is shown once, when it is made, and stored only as a salted hash.

use cmk_crypto::SecretString;
use cmk_crypto::encoding::b64url_encode;
use cmk_crypto::secret_hash::SecretHash;

use crate::model::{ClientId, ClientSecret, ObjectId, ServicePrincipal, TenantId, keys};
use crate::tenants::validate_display_name;
use crate::tokens::VerifiedToken;
use crate::{Directory, DirectoryError, records};

/// Proof that the caller is a deployment operator; only [`Directory::require_operator`] makes one.
#[derive(Debug)]
pub struct Operator {
    object_id: ObjectId,
}

impl Operator {
    pub fn object_id(&self) -> ObjectId {
        self.object_id
    }
}

fn new_secret(directory: &Directory) -> Result<(ClientSecret, SecretString), DirectoryError> {
    let secret = SecretString::new(b64url_encode(cmk_crypto::random::random_array::<32>()?));
    let record = ClientSecret {
        id: cmk_crypto::random::random_uuid()?,
        hint: secret.expose().chars().take(3).collect(),
        hash: SecretHash::new(secret.expose())?,
        created: directory.clock().now(),
    };
    Ok((record, secret))
}

impl Directory {
    pub(crate) fn new_service_principal(
        &self,
        tenant_id: TenantId,
        display_name: &str,
        operator: bool,
    ) -> Result<(ServicePrincipal, SecretString), DirectoryError> {
        let (secret_record, secret) = new_secret(self)?;
        let principal = ServicePrincipal {
            tenant_id,
            object_id: ObjectId::random()?,
            client_id: ClientId::random()?,
            display_name: validate_display_name(display_name)?,
            operator,
            secrets: vec![secret_record],
            created: self.clock().now(),
            managed_identity: None,
        };
        Ok((principal, secret))
    }

    /// Creates a service principal in `tenant` with one client secret, returned here and never again.
    pub async fn create_service_principal(
        &self,
        _operator: &Operator,
        tenant: &TenantId,
        display_name: &str,
        make_operator: bool,
    ) -> Result<(ServicePrincipal, SecretString), DirectoryError> {
        self.get_tenant(tenant).await?;
        let (principal, secret) = self.new_service_principal(*tenant, display_name, make_operator)?;
        let key = keys::principal(tenant, &principal.client_id);
        self.store().commit(vec![records::create(key, &principal)?]).await?;
        tracing::info!(tenant = %tenant, client_id = %principal.client_id, "created service principal");
        Ok((principal, secret))
    }

    pub async fn get_service_principal(
        &self,
        tenant: &TenantId,
        client: &ClientId,
    ) -> Result<ServicePrincipal, DirectoryError> {
        records::get::<ServicePrincipal>(self.store(), &keys::principal(tenant, client))
            .await?
            .map(|v| v.value)
            .ok_or_else(|| DirectoryError::ClientNotFound {
                client_id: client.to_string(),
                tenant: tenant.to_string(),
            })
    }

    /// Deletes a service principal with its role assignments, in one commit. Its tokens stop working at once
    /// (see [`Directory::authenticate`]). Managed identities go with their resource, and the last operator
    /// stays, so the deployment can always be administered.
    pub async fn delete_service_principal(
        &self,
        _operator: &Operator,
        tenant: &TenantId,
        client: &ClientId,
    ) -> Result<ServicePrincipal, DirectoryError> {
        let key = keys::principal(tenant, client);
        let not_found = || DirectoryError::ClientNotFound {
            client_id: client.to_string(),
            tenant: tenant.to_string(),
        };
        let current = records::get::<ServicePrincipal>(self.store(), &key)
            .await?
            .ok_or_else(not_found)?;
        if current.value.managed_identity.is_some() {
            return Err(DirectoryError::InvalidArgument {
                field: "clientId",
                reason: "this is a managed identity; it is deleted with its resource or by setting the resource's identity to None".into(),
            });
        }
        if current.value.operator && self.operator_count().await? <= 1 {
            return Err(DirectoryError::LastOperator);
        }
        let mut writes = self.principal_assignment_deletes(&current.value.object_id).await?;
        writes.push(cmk_store::Write::Delete {
            key,
            expect: cmk_store::Expect::Revision(current.revision),
        });
        self.store().commit(writes).await?;
        tracing::info!(tenant = %tenant, client_id = %client, "deleted service principal");
        self.publish_authorization(crate::authorization::events::AuthorizationEvent::AssignmentsChanged {
            principal: current.value.object_id,
        });
        Ok(current.value)
    }

    /// The service principals of `tenant` (managed identities are listed with their resources), by client id.
    pub async fn list_service_principals(
        &self,
        _operator: &Operator,
        tenant: &TenantId,
    ) -> Result<Vec<ServicePrincipal>, DirectoryError> {
        self.get_tenant(tenant).await?;
        let mut principals =
            cmk_store::records::scan::<ServicePrincipal>(self.store(), &keys::principals(tenant), |p| {
                p.managed_identity.is_none()
            })
            .await?;
        principals.sort_by_key(|p| p.client_id);
        Ok(principals)
    }

    /// Gives a service principal a new client secret, returned here and never again. Unless `keep_old`, its
    /// other secrets stop working at once (tokens already issued keep working until they expire, as in Azure).
    pub async fn reset_client_secret(
        &self,
        _operator: &Operator,
        tenant: &TenantId,
        client: &ClientId,
        keep_old: bool,
    ) -> Result<(ServicePrincipal, SecretString), DirectoryError> {
        self.new_client_secret(tenant, client, keep_old).await
    }

    /// A new client secret for a service principal (bootstraps use it too, without an operator).
    pub(crate) async fn new_client_secret(
        &self,
        tenant: &TenantId,
        client: &ClientId,
        keep_old: bool,
    ) -> Result<(ServicePrincipal, SecretString), DirectoryError> {
        let key = keys::principal(tenant, client);
        let current = records::get::<ServicePrincipal>(self.store(), &key)
            .await?
            .ok_or_else(|| DirectoryError::ClientNotFound {
                client_id: client.to_string(),
                tenant: tenant.to_string(),
            })?;
        if current.value.managed_identity.is_some() {
            return Err(DirectoryError::InvalidArgument {
                field: "clientId",
                reason: "this is a managed identity; it has no client secrets".into(),
            });
        }
        let mut principal = current.value;
        let (record, secret) = new_secret(self)?;
        if !keep_old {
            principal.secrets.clear();
        }
        principal.secrets.push(record);
        self.store()
            .commit(vec![records::replace(key, &principal, current.revision)?])
            .await?;
        tracing::info!(tenant = %tenant, client_id = %client, kept_old = keep_old, "reset a client secret");
        Ok((principal, secret))
    }

    /// How many operators the deployment has, in every tenant.
    pub(crate) async fn operator_count(&self) -> Result<usize, DirectoryError> {
        let operators =
            cmk_store::records::scan::<ServicePrincipal>(self.store(), keys::PRINCIPALS, |p| p.operator).await?;
        Ok(operators.len())
    }

    /// Whether `secret` is one of the principal's client secrets.
    pub async fn client_secret_matches(
        &self,
        tenant: &TenantId,
        client: &ClientId,
        secret: &SecretString,
    ) -> Result<bool, DirectoryError> {
        match records::get::<ServicePrincipal>(self.store(), &keys::principal(tenant, client)).await? {
            Some(principal) => Ok(principal.value.secrets.iter().any(|s| s.hash.matches(secret.expose()))),
            None => Ok(false),
        }
    }

    /// Checks that the token's principal still exists and is an operator. Looked up on every call, so
    /// demoting or deleting an operator takes effect at once, not when its tokens expire.
    pub async fn require_operator(&self, token: &VerifiedToken) -> Result<Operator, DirectoryError> {
        let principal =
            records::get::<ServicePrincipal>(self.store(), &keys::principal(&token.tenant_id(), &token.client_id()))
                .await?
                .map(|v| v.value);
        match principal {
            Some(p) if p.operator && p.object_id == token.object_id() => Ok(Operator { object_id: p.object_id }),
            _ => Err(DirectoryError::NotAnOperator),
        }
    }
}
