//! The vault resource (`Microsoft.KeyVault/vaults`): create, update, read, list, soft delete, recover, purge,
//! and access policy changes.

use std::collections::BTreeMap;

use cmk_directory::authorization::Scope;
use cmk_directory::authorization::actions::authorization::ROLE_ASSIGNMENT_WRITE;
use cmk_directory::model::TenantId;
use cmk_directory::resource_groups::normalize_location;
use cmk_directory::subscriptions::AuthorizedSubscription;
use cmk_store::Write;
use cmk_store::records::{self, Versioned};

use crate::actions::{
    ACCESS_POLICIES_WRITE, CHECK_NAME_AVAILABILITY, DELETED_VAULT_PURGE, DELETED_VAULT_READ, DELETED_VAULTS_READ,
    VAULT_DELETE, VAULT_READ, VAULT_WRITE, deleted_vault_scope, vault_scope,
};
use crate::events::VaultEvent;
use crate::model::{AccessPolicy, DeletedVault, SkuName, Vault, VaultRecord, VaultState, keys, validate_vault_name};
use crate::{VaultError, Vaults};

pub const DEFAULT_RETENTION_DAYS: u32 = 90;
pub const MIN_RETENTION_DAYS: i64 = 7;
pub const MAX_RETENTION_DAYS: i64 = 90;
/// Azure's limit of access policy entries per vault.
pub const MAX_ACCESS_POLICIES: usize = 1024;
const SECONDS_PER_DAY: i64 = 86_400;

/// The settable properties of a vault. In a PUT, a missing property takes its default; in a PATCH, it keeps
/// its value.
#[derive(Debug, Clone, Default)]
pub struct VaultProperties {
    pub tenant_id: Option<TenantId>,
    pub sku: Option<SkuName>,
    pub access_policies: Option<Vec<AccessPolicy>>,
    pub enabled_for_deployment: Option<bool>,
    pub enabled_for_disk_encryption: Option<bool>,
    pub enabled_for_template_deployment: Option<bool>,
    pub enable_soft_delete: Option<bool>,
    pub soft_delete_retention_days: Option<i64>,
    pub enable_purge_protection: Option<bool>,
    pub enable_rbac_authorization: Option<bool>,
    pub public_network_access: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CreateMode {
    #[default]
    Default,
    /// Bring back a soft-deleted vault of the same name, with its settings and keys.
    Recover,
}

/// What a PUT asks for.
#[derive(Debug, Clone, Default)]
pub struct VaultDefinition {
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub properties: VaultProperties,
    pub create_mode: CreateMode,
    /// The permission model of a new vault whose definition does not say: Azure RBAC from Key Vault API
    /// version 2026-02-01 on, access policies before (the caller knows the api-version).
    pub rbac_by_default: bool,
}

/// A PATCH.
#[derive(Debug, Clone, Default)]
pub struct VaultPatch {
    pub tags: Option<BTreeMap<String, String>>,
    pub properties: VaultProperties,
}

/// How an access policy change combines with the vault's policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessPolicyUpdate {
    /// Union of permissions per principal.
    Add,
    /// The given principals' permissions overwrite theirs.
    Replace,
    /// The given permissions are taken away; a principal left with none is dropped.
    Remove,
}

impl AccessPolicyUpdate {
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "add" => Some(Self::Add),
            "replace" => Some(Self::Replace),
            "remove" => Some(Self::Remove),
            _ => None,
        }
    }
}

/// Whether a name can be used for a new vault, as `checkNameAvailability` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameAvailability {
    Available,
    Invalid(String),
    AlreadyExists(String),
}

fn bad_request(message: impl Into<String>) -> VaultError {
    VaultError::BadRequest(message.into())
}

/// The rules every write of vault properties obeys; `current` is the vault being updated, if any.
fn apply_properties(
    vault: &mut Vault,
    properties: &VaultProperties,
    current: Option<&Vault>,
) -> Result<(), VaultError> {
    if properties.enable_soft_delete == Some(false) {
        return Err(bad_request(
            "The property \"enableSoftDelete\" cannot be set to false. Soft delete is always enabled and cannot be turned off.",
        ));
    }
    if properties.enable_purge_protection == Some(false) {
        return Err(bad_request(
            "The property \"enablePurgeProtection\" cannot be set to false. Enabling the purge protection for a vault is an irreversible action.",
        ));
    }
    if let Some(rbac) = properties.enable_rbac_authorization {
        vault.rbac_authorization = rbac;
    }
    if let Some(days) = properties.soft_delete_retention_days {
        if !(MIN_RETENTION_DAYS..=MAX_RETENTION_DAYS).contains(&days) {
            return Err(bad_request(format!(
                "The property \"softDeleteRetentionInDays\" must be between {MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS} days, got {days}."
            )));
        }
        let days = days as u32;
        if let Some(current) = current
            && current.soft_delete_retention_days != days
        {
            return Err(bad_request(format!(
                "The property \"softDeleteRetentionInDays\" cannot be changed once the vault exists (it is {}).",
                current.soft_delete_retention_days
            )));
        }
        vault.soft_delete_retention_days = days;
    }
    if properties.enable_purge_protection == Some(true) {
        vault.purge_protection = true;
    }
    if let Some(tenant) = properties.tenant_id {
        vault.tenant_id = tenant;
    }
    if let Some(sku) = properties.sku {
        vault.sku = sku;
    }
    if let Some(policies) = &properties.access_policies {
        validate_access_policies(policies)?;
        vault.access_policies = policies.clone();
    }
    if let Some(value) = properties.enabled_for_deployment {
        vault.enabled_for_deployment = value;
    }
    if let Some(value) = properties.enabled_for_disk_encryption {
        vault.enabled_for_disk_encryption = value;
    }
    if let Some(value) = properties.enabled_for_template_deployment {
        vault.enabled_for_template_deployment = value;
    }
    if let Some(access) = &properties.public_network_access {
        vault.public_network_access = match access.to_ascii_lowercase().as_str() {
            "enabled" => "Enabled".into(),
            "disabled" => "Disabled".into(),
            _ => {
                return Err(bad_request(format!(
                    "publicNetworkAccess must be 'Enabled' or 'Disabled', got '{access}'."
                )));
            }
        };
    }
    Ok(())
}

/// Changing a vault's permission model changes who can use its keys, so, as in Azure, it takes the right to
/// grant access itself (`roleAssignments/write` without limits: Owner, User Access Administrator), not only
/// `vaults/write`.
fn ensure_may_change_model(
    subscription: &AuthorizedSubscription,
    current: &Vault,
    changed: &Vault,
) -> Result<(), VaultError> {
    if current.rbac_authorization == changed.rbac_authorization {
        return Ok(());
    }
    let scope = current.scope();
    if subscription
        .permissions()
        .allows_unrestricted(ROLE_ASSIGNMENT_WRITE, &scope)
    {
        return Ok(());
    }
    Err(VaultError::PermissionModelChangeDenied {
        vault: current.name.clone(),
        to: if changed.rbac_authorization {
            "Azure RBAC"
        } else {
            "access policies"
        },
    })
}

fn validate_access_policies(policies: &[AccessPolicy]) -> Result<(), VaultError> {
    if policies.len() > MAX_ACCESS_POLICIES {
        return Err(bad_request(format!(
            "A vault can have at most {MAX_ACCESS_POLICIES} access policies, got {}.",
            policies.len()
        )));
    }
    for (i, policy) in policies.iter().enumerate() {
        if policies[..i].iter().any(|p| p.same_principal(policy)) {
            return Err(bad_request(format!(
                "The access policy for object '{}' appears more than once; give each principal one entry.",
                policy.object_id
            )));
        }
    }
    Ok(())
}

fn merge_policies(current: &[AccessPolicy], change: &[AccessPolicy], how: AccessPolicyUpdate) -> Vec<AccessPolicy> {
    let mut result = current.to_vec();
    for entry in change {
        let existing = result.iter_mut().find(|p| p.same_principal(entry));
        match (how, existing) {
            (AccessPolicyUpdate::Add, Some(existing)) => {
                let p = &mut existing.permissions;
                p.keys.extend(entry.permissions.keys.iter().copied());
                p.secrets.extend(entry.permissions.secrets.iter().cloned());
                p.certificates.extend(entry.permissions.certificates.iter().cloned());
                p.storage.extend(entry.permissions.storage.iter().cloned());
            }
            (AccessPolicyUpdate::Add | AccessPolicyUpdate::Replace, None) => result.push(entry.clone()),
            (AccessPolicyUpdate::Replace, Some(existing)) => existing.permissions = entry.permissions.clone(),
            (AccessPolicyUpdate::Remove, Some(existing)) => {
                let p = &mut existing.permissions;
                p.keys.retain(|k| !entry.permissions.keys.contains(k));
                p.secrets.retain(|s| !entry.permissions.secrets.contains(s));
                p.certificates.retain(|c| !entry.permissions.certificates.contains(c));
                p.storage.retain(|s| !entry.permissions.storage.contains(s));
            }
            (AccessPolicyUpdate::Remove, None) => {}
        }
    }
    result.retain(|p| !p.permissions.is_empty());
    result
}

impl Vaults {
    /// The record of `name`, with a deleted vault whose retention has ended treated as gone: the service purges
    /// it at that moment, whichever request notices first.
    async fn load(&self, name: &str) -> Result<Option<Versioned<VaultRecord>>, VaultError> {
        let record = records::get::<VaultRecord>(self.store(), &keys::vault(name)).await?;
        Ok(record.filter(|r| match r.value.state {
            VaultState::Deleted {
                scheduled_purge_date, ..
            } => scheduled_purge_date > self.clock().now(),
            VaultState::Active => true,
        }))
    }

    /// The raw record, including one past its purge date, for writes that must compare-and-swap against it.
    async fn load_raw(&self, name: &str) -> Result<Option<Versioned<VaultRecord>>, VaultError> {
        Ok(records::get::<VaultRecord>(self.store(), &keys::vault(name)).await?)
    }

    fn owned_by(vault: &Vault, subscription: &AuthorizedSubscription, resource_group: &str) -> bool {
        vault.subscription_id == subscription.id() && vault.resource_group.eq_ignore_ascii_case(resource_group)
    }

    /// PUT: creates the vault, updates it, or (with [`CreateMode::Recover`]) recovers it. Returns the vault
    /// and whether it was created.
    pub async fn create_or_update(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: &str,
        name: &str,
        definition: VaultDefinition,
    ) -> Result<(Vault, bool), VaultError> {
        subscription.require(VAULT_WRITE, &vault_scope(subscription.id(), resource_group, name))?;
        validate_vault_name(name)?;
        let group = self
            .directory()
            .find_resource_group(&subscription.id(), resource_group)
            .await?;
        let location = normalize_location(&definition.location)?;
        let now = self.clock().now();
        let raw = self.load_raw(name).await?;
        let live = raw.as_ref().filter(|r| match r.value.state {
            VaultState::Deleted {
                scheduled_purge_date, ..
            } => scheduled_purge_date > now,
            VaultState::Active => true,
        });
        match live {
            Some(current) if matches!(current.value.state, VaultState::Active) => {
                let existing = &current.value.vault;
                if !Self::owned_by(existing, subscription, resource_group) {
                    return Err(VaultError::VaultNameTaken(name.to_owned()));
                }
                if existing.location != location {
                    return Err(bad_request(format!(
                        "The location of vault '{}' is '{}' and cannot be changed to '{location}'.",
                        existing.name, existing.location
                    )));
                }
                let mut vault = existing.clone();
                // A PUT replaces the definition: what it leaves out goes back to its default, except the settings
                // that can never be undone.
                vault.access_policies = Vec::new();
                vault.enabled_for_deployment = false;
                vault.enabled_for_disk_encryption = false;
                vault.enabled_for_template_deployment = false;
                apply_properties(&mut vault, &definition.properties, Some(existing))?;
                ensure_may_change_model(subscription, existing, &vault)?;
                self.ensure_tenant(&vault).await?;
                vault.tags = definition.tags;
                vault.updated = now;
                Ok((self.save_updated(name, vault, current.revision).await?, false))
            }
            Some(deleted) => {
                let vault = &deleted.value.vault;
                if definition.create_mode != CreateMode::Recover {
                    return Err(VaultError::VaultDeletedButRecoverable(vault.name.clone()));
                }
                if vault.subscription_id != subscription.id() {
                    return Err(VaultError::VaultNameTaken(name.to_owned()));
                }
                let mut recovered = vault.clone();
                recovered.resource_group = group.name.clone();
                recovered.updated = now;
                let record = VaultRecord {
                    vault: recovered.clone(),
                    state: VaultState::Active,
                };
                self.store()
                    .commit(vec![records::replace(keys::vault(name), &record, deleted.revision)?])
                    .await?;
                tracing::info!(vault = %recovered.name, "recovered vault");
                self.publish(VaultEvent::VaultRecovered {
                    vault: recovered.name.to_ascii_lowercase(),
                });
                Ok((recovered, false))
            }
            None => {
                if definition.create_mode == CreateMode::Recover {
                    return Err(VaultError::DeletedVaultNotFound(name.to_owned(), location));
                }
                let mut vault = Vault {
                    name: name.to_owned(),
                    subscription_id: subscription.id(),
                    resource_group: group.name.clone(),
                    location,
                    tags: definition.tags,
                    tenant_id: subscription.subscription().tenant_id,
                    sku: SkuName::Standard,
                    access_policies: Vec::new(),
                    enabled_for_deployment: false,
                    enabled_for_disk_encryption: false,
                    enabled_for_template_deployment: false,
                    soft_delete_retention_days: DEFAULT_RETENTION_DAYS,
                    purge_protection: false,
                    rbac_authorization: definition.rbac_by_default,
                    public_network_access: "Enabled".into(),
                    created: now,
                    updated: now,
                };
                if definition.properties.tenant_id.is_none() {
                    return Err(bad_request("The property \"tenantId\" is required."));
                }
                if definition.properties.sku.is_none() {
                    return Err(bad_request("The property \"sku\" is required."));
                }
                apply_properties(&mut vault, &definition.properties, None)?;
                self.ensure_tenant(&vault).await?;
                let record = VaultRecord {
                    vault: vault.clone(),
                    state: VaultState::Active,
                };
                // A vault past its purge date still occupies the key: replace it in the same step that purges it
                // and its keys.
                let writes = match &raw {
                    Some(expired) => {
                        let mut writes = self.vault_content_deletes(name).await?;
                        writes.push(records::replace(keys::vault(name), &record, expired.revision)?);
                        writes
                    }
                    None => vec![records::create(keys::vault(name), &record)?],
                };
                self.store().commit(writes).await?;
                tracing::info!(vault = %vault.name, "created vault");
                Ok((vault, true))
            }
        }
    }

    async fn ensure_tenant(&self, vault: &Vault) -> Result<(), VaultError> {
        match self.directory().get_tenant(&vault.tenant_id).await {
            Ok(_) => Ok(()),
            Err(cmk_directory::DirectoryError::TenantNotFound(_)) => Err(bad_request(format!(
                "The tenant '{}' given as \"tenantId\" does not exist.",
                vault.tenant_id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The active vault `name` in this subscription and resource group.
    async fn load_active(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: &str,
        name: &str,
    ) -> Result<Versioned<VaultRecord>, VaultError> {
        let not_found = || VaultError::VaultNotFound(name.to_owned(), resource_group.to_owned());
        if validate_vault_name(name).is_err() {
            return Err(not_found());
        }
        match self.load(name).await? {
            Some(r)
                if matches!(r.value.state, VaultState::Active)
                    && Self::owned_by(&r.value.vault, subscription, resource_group) =>
            {
                Ok(r)
            }
            _ => Err(not_found()),
        }
    }

    pub async fn get(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: &str,
        name: &str,
    ) -> Result<Vault, VaultError> {
        subscription.require(VAULT_READ, &vault_scope(subscription.id(), resource_group, name))?;
        Ok(self.load_active(subscription, resource_group, name).await?.value.vault)
    }

    /// PATCH: changes only what the patch names.
    pub async fn update(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: &str,
        name: &str,
        patch: VaultPatch,
    ) -> Result<Vault, VaultError> {
        subscription.require(VAULT_WRITE, &vault_scope(subscription.id(), resource_group, name))?;
        let current = self.load_active(subscription, resource_group, name).await?;
        let mut vault = current.value.vault.clone();
        apply_properties(&mut vault, &patch.properties, Some(&current.value.vault))?;
        ensure_may_change_model(subscription, &current.value.vault, &vault)?;
        self.ensure_tenant(&vault).await?;
        if let Some(tags) = patch.tags {
            vault.tags = tags;
        }
        vault.updated = self.clock().now();
        self.save_updated(name, vault, current.revision).await
    }

    /// Stores an updated active vault over `revision` and tells consumers.
    async fn save_updated(&self, name: &str, vault: Vault, revision: u64) -> Result<Vault, VaultError> {
        let record = VaultRecord {
            vault,
            state: VaultState::Active,
        };
        self.store()
            .commit(vec![records::replace(keys::vault(name), &record, revision)?])
            .await?;
        self.publish(VaultEvent::VaultUpdated {
            vault: record.vault.name.to_ascii_lowercase(),
        });
        Ok(record.vault)
    }

    pub async fn update_access_policies(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: &str,
        name: &str,
        how: AccessPolicyUpdate,
        change: Vec<AccessPolicy>,
    ) -> Result<Vault, VaultError> {
        subscription.require(
            ACCESS_POLICIES_WRITE,
            &vault_scope(subscription.id(), resource_group, name),
        )?;
        validate_access_policies(&change)?;
        let current = self.load_active(subscription, resource_group, name).await?;
        let mut vault = current.value.vault.clone();
        vault.access_policies = merge_policies(&vault.access_policies, &change, how);
        validate_access_policies(&vault.access_policies)?;
        vault.updated = self.clock().now();
        self.save_updated(name, vault, current.revision).await
    }

    /// Active vaults of the subscription, optionally of one resource group, in name order: those the caller may
    /// read.
    pub async fn list(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: Option<&str>,
    ) -> Result<Vec<Vault>, VaultError> {
        let records = records::scan::<VaultRecord>(self.store(), keys::VAULTS, |r| {
            matches!(r.state, VaultState::Active)
                && r.vault.subscription_id == subscription.id()
                && resource_group.is_none_or(|g| r.vault.resource_group.eq_ignore_ascii_case(g))
                && subscription.can(VAULT_READ, &r.vault.scope())
        })
        .await?;
        Ok(records.into_iter().map(|r| r.vault).collect())
    }

    /// Soft-deletes the vault: it disappears from the resource group, its name stays reserved, and it can be
    /// recovered until its scheduled purge date. Returns `false` when there was no such vault.
    pub async fn delete(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: &str,
        name: &str,
    ) -> Result<bool, VaultError> {
        subscription.require(VAULT_DELETE, &vault_scope(subscription.id(), resource_group, name))?;
        let current = match self.load_active(subscription, resource_group, name).await {
            Ok(current) => current,
            Err(VaultError::VaultNotFound(..)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let now = self.clock().now();
        let days = i64::from(current.value.vault.soft_delete_retention_days);
        let record = VaultRecord {
            vault: current.value.vault.clone(),
            state: VaultState::Deleted {
                deletion_date: now,
                scheduled_purge_date: now.plus_seconds(days * SECONDS_PER_DAY),
            },
        };
        self.store()
            .commit(vec![records::replace(keys::vault(name), &record, current.revision)?])
            .await?;
        tracing::info!(vault = %current.value.vault.name, "soft-deleted vault");
        self.publish(VaultEvent::VaultDeleted {
            vault: current.value.vault.name.to_ascii_lowercase(),
        });
        Ok(true)
    }

    fn deleted(record: VaultRecord) -> Option<DeletedVault> {
        match record.state {
            VaultState::Deleted {
                deletion_date,
                scheduled_purge_date,
            } => Some(DeletedVault {
                vault: record.vault,
                deletion_date,
                scheduled_purge_date,
            }),
            VaultState::Active => None,
        }
    }

    pub async fn get_deleted(
        &self,
        subscription: &AuthorizedSubscription,
        location: &str,
        name: &str,
    ) -> Result<DeletedVault, VaultError> {
        subscription.require(
            DELETED_VAULT_READ,
            &deleted_vault_scope(subscription.id(), location, name),
        )?;
        self.find_deleted(subscription, location, name).await
    }

    async fn find_deleted(
        &self,
        subscription: &AuthorizedSubscription,
        location: &str,
        name: &str,
    ) -> Result<DeletedVault, VaultError> {
        let not_found = || VaultError::DeletedVaultNotFound(name.to_owned(), location.to_owned());
        let location = normalize_location(location).map_err(|_| not_found())?;
        if validate_vault_name(name).is_err() {
            return Err(not_found());
        }
        self.load(name)
            .await?
            .map(|r| r.value)
            .filter(|r| r.vault.subscription_id == subscription.id() && r.vault.location == location)
            .and_then(Self::deleted)
            .ok_or_else(not_found)
    }

    pub async fn list_deleted(&self, subscription: &AuthorizedSubscription) -> Result<Vec<DeletedVault>, VaultError> {
        let now = self.clock().now();
        let records = records::scan::<VaultRecord>(self.store(), keys::VAULTS, |r| {
            r.vault.subscription_id == subscription.id()
                && matches!(r.state, VaultState::Deleted { scheduled_purge_date, .. } if scheduled_purge_date > now)
                && subscription.can(
                    DELETED_VAULTS_READ,
                    &deleted_vault_scope(r.vault.subscription_id, &r.vault.location, &r.vault.name),
                )
        })
        .await?;
        Ok(records.into_iter().filter_map(Self::deleted).collect())
    }

    /// Purges a soft-deleted vault now. Refused under purge protection: nothing, no flag and no clock shift
    /// short of the retention period, removes such a vault early.
    pub async fn purge_deleted(
        &self,
        subscription: &AuthorizedSubscription,
        location: &str,
        name: &str,
    ) -> Result<(), VaultError> {
        subscription.require(
            DELETED_VAULT_PURGE,
            &deleted_vault_scope(subscription.id(), location, name),
        )?;
        let deleted = self.find_deleted(subscription, location, name).await?;
        if deleted.vault.purge_protection {
            return Err(VaultError::PurgeProtected(
                deleted.vault.name,
                deleted.scheduled_purge_date.to_rfc3339(),
            ));
        }
        let current = self
            .load_raw(name)
            .await?
            .ok_or_else(|| VaultError::Conflict(keys::vault(name)))?;
        let mut writes = self.vault_content_deletes(name).await?;
        writes.push(Write::Delete {
            key: keys::vault(name),
            expect: cmk_store::Expect::Revision(current.revision),
        });
        self.store().commit(writes).await?;
        tracing::info!(vault = %deleted.vault.name, "purged vault");
        self.publish(VaultEvent::VaultPurged {
            vault: deleted.vault.name.to_ascii_lowercase(),
        });
        Ok(())
    }

    /// Removes every deleted vault whose purge date has passed, with its keys. Returns how many it purged.
    pub async fn purge_expired_vaults(&self) -> Result<usize, VaultError> {
        let now = self.clock().now();
        let expired = records::scan::<VaultRecord>(
            self.store(),
            keys::VAULTS,
            |r| matches!(r.state, VaultState::Deleted { scheduled_purge_date, .. } if scheduled_purge_date <= now),
        )
        .await?;
        let mut purged = 0;
        for record in expired {
            let name = record.vault.name;
            let Some(current) = self.load_raw(&name).await? else {
                continue;
            };
            if !matches!(current.value.state, VaultState::Deleted { scheduled_purge_date, .. } if scheduled_purge_date <= now)
            {
                continue;
            }
            let mut writes = self.vault_content_deletes(&name).await?;
            writes.push(Write::Delete {
                key: keys::vault(&name),
                expect: cmk_store::Expect::Revision(current.revision),
            });
            match self.store().commit(writes).await {
                Ok(_) => {
                    tracing::info!(vault = %name, "purged vault at the end of its retention period");
                    self.publish(VaultEvent::VaultPurged {
                        vault: name.to_ascii_lowercase(),
                    });
                    purged += 1;
                }
                Err(cmk_store::StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(purged)
    }

    /// The active vault `name` of this subscription and resource group, if it exists: for a caller that was
    /// authorized at its scope for something other than reading it (a role assignment there).
    pub async fn find_active(
        &self,
        subscription: cmk_directory::model::SubscriptionId,
        resource_group: &str,
        name: &str,
    ) -> Result<Option<Vault>, VaultError> {
        if validate_vault_name(name).is_err() {
            return Ok(None);
        }
        Ok(self.load(name).await?.and_then(|r| {
            let vault = r.value.vault;
            let here = matches!(r.value.state, VaultState::Active)
                && vault.subscription_id == subscription
                && vault.resource_group.eq_ignore_ascii_case(resource_group);
            here.then_some(vault)
        }))
    }

    pub async fn check_name_availability(
        &self,
        subscription: &AuthorizedSubscription,
        name: &str,
    ) -> Result<NameAvailability, VaultError> {
        subscription.require(CHECK_NAME_AVAILABILITY, &Scope::subscription(subscription.id()))?;
        if let Err(e) = validate_vault_name(name) {
            return Ok(NameAvailability::Invalid(e.to_string()));
        }
        Ok(match self.load(name).await? {
            None => NameAvailability::Available,
            Some(r) => NameAvailability::AlreadyExists(match r.value.state {
                VaultState::Active => format!("The vault name '{name}' is already in use."),
                VaultState::Deleted { .. } => {
                    format!("The vault name '{name}' is in use by a vault in the deleted state; recover or purge it.")
                }
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::{KeyPermission, Permissions};

    fn policy(object: &str, keys: &[KeyPermission]) -> AccessPolicy {
        AccessPolicy {
            tenant_id: TenantId::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").unwrap_or_else(|| unreachable!()),
            object_id: object.into(),
            application_id: None,
            permissions: Permissions {
                keys: keys.iter().copied().collect::<BTreeSet<_>>(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn access_policy_add_replace_remove() {
        use KeyPermission::*;
        let current = vec![policy("a", &[Get, WrapKey]), policy("b", &[Get])];
        let added = merge_policies(
            &current,
            &[policy("a", &[UnwrapKey]), policy("c", &[List])],
            AccessPolicyUpdate::Add,
        );
        assert_eq!(added[0].permissions.keys, [Get, WrapKey, UnwrapKey].into());
        assert_eq!(added.len(), 3);
        let replaced = merge_policies(&added, &[policy("a", &[Sign])], AccessPolicyUpdate::Replace);
        assert_eq!(replaced[0].permissions.keys, [Sign].into());
        let removed = merge_policies(
            &replaced,
            &[policy("b", &[Get]), policy("a", &[Get])],
            AccessPolicyUpdate::Remove,
        );
        assert_eq!(
            removed.iter().map(|p| p.object_id.as_str()).collect::<Vec<_>>(),
            vec!["a", "c"]
        );
    }
}
