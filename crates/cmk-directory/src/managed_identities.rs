//! Managed identities: principals that belong to a resource (an account's system-assigned identity). They have
//! no secret; the resource's workloads get tokens from the identity endpoint, which recognizes them by an
//! endpoint secret the server derives from its root key (so nothing extra is stored).
//!
//! An identity lives in the tenant its resource's subscription had when the identity was made. If the
//! subscription moves to another tenant, the identity does not follow: no token is issued for it any more, and
//! whatever used it stops working until a new identity is made in the new tenant, as in Azure.

use cmk_crypto::encoding::{b64url_decode, b64url_encode};
use cmk_store::{Expect, Write};

use crate::model::{ClientId, ManagedIdentityOf, ObjectId, ServicePrincipal, Subscription, TenantId, keys};
use crate::tokens::IssuedToken;
use crate::{Directory, DirectoryError, records};

const ENDPOINT_SECRET_PURPOSE: &str = "managed identity endpoint secret";

impl Directory {
    /// A new identity for the resource `resource_id` in `subscription`'s tenant, and the write that stores it, so
    /// the resource can commit it together with its own record.
    pub fn new_managed_identity(
        &self,
        subscription: &Subscription,
        resource_id: &str,
        display_name: &str,
    ) -> Result<(ServicePrincipal, Write), DirectoryError> {
        let principal = ServicePrincipal {
            tenant_id: subscription.tenant_id,
            object_id: ObjectId::random()?,
            client_id: ClientId::random()?,
            display_name: display_name.to_owned(),
            operator: false,
            secrets: Vec::new(),
            created: self.clock().now(),
            managed_identity: Some(ManagedIdentityOf {
                resource_id: resource_id.to_owned(),
                subscription_id: subscription.id,
            }),
        };
        let write = records::create(keys::principal(&principal.tenant_id, &principal.client_id), &principal)?;
        Ok((principal, write))
    }

    /// The writes that delete a managed identity and its role assignments, so the resource can commit them
    /// with its own record.
    pub async fn delete_managed_identity_writes(
        &self,
        tenant: &TenantId,
        client: &ClientId,
        object_id: &ObjectId,
    ) -> Result<Vec<Write>, DirectoryError> {
        let mut writes = self.principal_assignment_deletes(object_id).await?;
        writes.push(Write::Delete {
            key: keys::principal(tenant, client),
            expect: Expect::Any,
        });
        Ok(writes)
    }

    pub async fn get_managed_identity(
        &self,
        tenant: &TenantId,
        client: &ClientId,
    ) -> Result<(ServicePrincipal, ManagedIdentityOf), DirectoryError> {
        let principal = records::get::<ServicePrincipal>(self.store(), &keys::principal(tenant, client))
            .await?
            .map(|v| v.value);
        match principal {
            Some(principal) => match principal.managed_identity.clone() {
                Some(of) => Ok((principal, of)),
                None => Err(DirectoryError::ManagedIdentityNotFound(client.to_string())),
            },
            None => Err(DirectoryError::ManagedIdentityNotFound(client.to_string())),
        }
    }

    /// The secret a workload presents to the identity endpoint (`X-IDENTITY-HEADER`, or the path of the IMDS
    /// host) to get tokens for this identity.
    pub fn identity_endpoint_secret(&self, tenant: &TenantId, client: &ClientId) -> String {
        let mut data = Vec::with_capacity(32);
        data.extend_from_slice(tenant.as_bytes());
        data.extend_from_slice(client.as_bytes());
        let tag = self.inner.root_key.mac(ENDPOINT_SECRET_PURPOSE, &data);
        data.extend_from_slice(&tag);
        b64url_encode(data)
    }

    /// The identity an endpoint secret was made for, if it is one this server made.
    pub fn identity_of_endpoint_secret(&self, secret: &str) -> Option<(TenantId, ClientId)> {
        let bytes = b64url_decode(secret).ok()?;
        if bytes.len() != 64 {
            return None;
        }
        let (data, tag) = bytes.split_at(32);
        if !self.inner.root_key.verify_mac(ENDPOINT_SECRET_PURPOSE, data, tag) {
            return None;
        }
        let tenant = uuid::Uuid::from_slice(&data[..16]).ok()?;
        let client = uuid::Uuid::from_slice(&data[16..]).ok()?;
        Some((TenantId::from_uuid(tenant), ClientId::from_uuid(client)))
    }

    /// A token for a managed identity. Refused when the identity is gone, or when its resource's subscription
    /// is no longer in the identity's tenant.
    pub async fn issue_managed_identity_token(
        &self,
        tenant: &TenantId,
        client: &ClientId,
        resource: &str,
    ) -> Result<IssuedToken, DirectoryError> {
        let (principal, of) = self.get_managed_identity(tenant, client).await?;
        let subscription = self.get_subscription(&of.subscription_id).await?;
        if subscription.tenant_id != principal.tenant_id {
            return Err(DirectoryError::ManagedIdentityInOtherTenant {
                identity_tenant: principal.tenant_id.to_string(),
                subscription_tenant: subscription.tenant_id.to_string(),
            });
        }
        let resource = resource.strip_suffix("/.default").unwrap_or(resource);
        self.ensure_known_resource(resource)?;
        self.sign_token(&principal, resource.to_owned())
    }
}
