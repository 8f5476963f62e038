//! Tenants: the boundary of identity. Every principal, subscription and token belongs to exactly one.

use crate::model::{Tenant, TenantId, keys};
use crate::principals::Operator;
use crate::{Directory, DirectoryError, records};

pub(crate) fn validate_display_name(name: &str) -> Result<String, DirectoryError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(DirectoryError::InvalidArgument {
            field: "displayName",
            reason: "must be 1 to 256 characters without control characters".into(),
        });
    }
    Ok(name.to_owned())
}

impl Directory {
    pub(crate) fn new_tenant(&self, display_name: &str) -> Result<Tenant, DirectoryError> {
        let display_name = validate_display_name(display_name)?;
        let id = TenantId::random()?;
        let slug: String = display_name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .take(32)
            .collect();
        let slug = if slug.is_empty() {
            id.to_string()[..8].to_owned()
        } else {
            slug
        };
        Ok(Tenant {
            id,
            default_domain: format!("{slug}.{}", self.config().domain_suffix),
            display_name,
            created: self.clock().now(),
        })
    }

    /// Creates a tenant. Only operators manage tenants.
    pub async fn create_tenant(&self, _operator: &Operator, display_name: &str) -> Result<Tenant, DirectoryError> {
        let tenant = self.new_tenant(display_name)?;
        self.store()
            .commit(vec![records::create(keys::tenant(&tenant.id), &tenant)?])
            .await?;
        tracing::info!(tenant = %tenant.id, "created tenant");
        Ok(tenant)
    }

    pub async fn get_tenant(&self, id: &TenantId) -> Result<Tenant, DirectoryError> {
        records::get::<Tenant>(self.store(), &keys::tenant(id))
            .await?
            .map(|v| v.value)
            .ok_or_else(|| DirectoryError::TenantNotFound(id.to_string()))
    }

    /// The tenant named in a URL path. Only GUIDs name tenants here; anything else is not found.
    pub async fn get_tenant_by_text(&self, text: &str) -> Result<Tenant, DirectoryError> {
        let id = TenantId::parse(text).ok_or_else(|| DirectoryError::InvalidTenantId(text.to_owned()))?;
        self.get_tenant(&id).await
    }

    pub async fn list_tenants(
        &self,
        _operator: &Operator,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Tenant>, Option<String>), DirectoryError> {
        records::list(self.store(), keys::TENANTS, start_after, limit).await
    }
}
