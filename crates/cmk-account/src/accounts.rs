//! The management operations on accounts (`Microsoft.CognitiveServices/accounts`).

use std::collections::BTreeMap;

use cmk_crypto::encoding::{b64url_decode, b64url_encode};
use cmk_directory::model::SubscriptionId;
use cmk_directory::resource_groups::normalize_location;
use cmk_directory::subscriptions::AuthorizedSubscription;

use crate::actions::{
    ACCOUNT_DELETE, ACCOUNT_READ, ACCOUNT_WRITE, DELETED_ACCOUNT_PURGE, DELETED_ACCOUNT_READ, DELETED_ACCOUNTS_READ,
    LIST_KEYS, REGENERATE_KEY, account_scope, deleted_account_scope,
};
use cmk_store::{Expect, Write, records};

use crate::encryption::{Rewrap, platform_purpose};
use crate::model::{
    Account, AccountState, CMK_SKU, CustomerKeySpec, Encryption, KeyAccess, SKUS, SubdomainOwner, SystemIdentity,
    WrappedDataKey, keys,
};
use crate::{AccountError, Accounts, CmkRefusal};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityType {
    None,
    SystemAssigned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncryptionSpec {
    /// `Microsoft.CognitiveServices`.
    Platform,
    /// `Microsoft.KeyVault`.
    Customer(CustomerKeySpec),
}

/// A create-or-replace request (PUT), parsed.
#[derive(Debug, Clone, Default)]
pub struct AccountSpec {
    pub location: String,
    pub kind: String,
    pub sku: String,
    pub tags: BTreeMap<String, String>,
    pub identity: Option<IdentityType>,
    pub custom_subdomain: Option<String>,
    pub encryption: Option<EncryptionSpec>,
    pub public_network_access: Option<String>,
    pub disable_local_auth: Option<bool>,
    /// Recover a soft-deleted account of this name.
    pub restore: bool,
}

/// An update (PATCH), parsed: only what is given changes.
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    pub sku: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub identity: Option<IdentityType>,
    pub encryption: Option<EncryptionSpec>,
    pub public_network_access: Option<String>,
    pub disable_local_auth: Option<bool>,
    /// Given in a PATCH only to be compared: they cannot change.
    pub location: Option<String>,
    pub kind: Option<String>,
    pub custom_subdomain: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyName {
    Key1,
    Key2,
}

/// key1 and key2, in the clear, for `listKeys`.
pub struct ApiKeys {
    pub key1: cmk_crypto::SecretString,
    pub key2: cmk_crypto::SecretString,
}

/// Account names: 2–64 characters, letters, digits, `_`, `.`, `-`, starting with a letter or digit.
pub fn validate_account_name(name: &str) -> Result<(), AccountError> {
    let valid = (2..=64).contains(&name.len())
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(())
    } else {
        Err(AccountError::InvalidArgument {
            field: "account name",
            reason: format!(
                "'{name}' must be 2 to 64 characters of letters, digits, '_', '.' and '-', starting with a letter or digit"
            ),
        })
    }
}

/// Subdomains: 2–63 letters, digits and hyphens, not starting or ending with a hyphen; stored in lower case.
fn validate_subdomain(subdomain: &str) -> Result<String, AccountError> {
    let lower = subdomain.to_ascii_lowercase();
    let valid = (2..=63).contains(&lower.len())
        && lower.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !lower.starts_with('-')
        && !lower.ends_with('-');
    if valid {
        Ok(lower)
    } else {
        Err(AccountError::InvalidArgument {
            field: "customSubDomainName",
            reason: format!(
                "'{subdomain}' must be 2 to 63 letters, digits and hyphens, not starting or ending with a hyphen"
            ),
        })
    }
}

fn validate_sku(sku: &str) -> Result<String, AccountError> {
    SKUS.iter()
        .find(|s| s.eq_ignore_ascii_case(sku))
        .map(|s| (*s).to_owned())
        .ok_or_else(|| AccountError::InvalidArgument {
            field: "sku.name",
            reason: format!(
                "'{sku}' is not a SKU of this service; choose one of {}",
                SKUS.join(", ")
            ),
        })
}

fn validate_network_access(value: &str) -> Result<String, AccountError> {
    ["Enabled", "Disabled"]
        .iter()
        .find(|v| v.eq_ignore_ascii_case(value))
        .map(|v| (*v).to_owned())
        .ok_or_else(|| AccountError::InvalidArgument {
            field: "publicNetworkAccess",
            reason: format!("'{value}' must be Enabled or Disabled"),
        })
}

/// Refuses a change to what an account keeps for life (compared without regard to case).
fn unchanged(field: &'static str, what: &str, given: Option<&str>, current: &str) -> Result<(), AccountError> {
    match given {
        Some(given) if !given.eq_ignore_ascii_case(current) => Err(AccountError::InvalidArgument {
            field,
            reason: format!(
                "{what} of an account cannot change from '{current}' to '{given}'; create a new account instead"
            ),
        }),
        _ => Ok(()),
    }
}

const API_KEY_PURPOSE: &str = "account api key";

fn api_key_purpose(internal_id: &str, index: usize) -> String {
    format!("{API_KEY_PURPOSE}:{internal_id}:{index}")
}

impl Accounts {
    fn new_api_key(&self, internal_id: &str, index: usize) -> Result<String, AccountError> {
        let key = cmk_crypto::random::random_hex_id()?;
        let sealed = self
            .inner
            .root_key
            .seal(&api_key_purpose(internal_id, index), key.as_bytes())?;
        Ok(b64url_encode(sealed))
    }

    fn open_api_key(&self, account: &Account, index: usize) -> Result<cmk_crypto::SecretString, AccountError> {
        let sealed =
            b64url_decode(&account.api_keys[index]).map_err(|_| AccountError::Corrupt(account.name.clone()))?;
        let plain = self
            .inner
            .root_key
            .unseal(&api_key_purpose(&account.internal_id, index), &sealed)?;
        let text =
            String::from_utf8(plain.expose().to_vec()).map_err(|_| AccountError::Corrupt(account.name.clone()))?;
        Ok(cmk_crypto::SecretString::new(text))
    }

    /// Reads an account record with its revision; deleted ones too.
    pub(crate) async fn load(
        &self,
        subscription: &SubscriptionId,
        resource_group: &str,
        name: &str,
    ) -> Result<Option<records::Versioned<Account>>, AccountError> {
        Ok(records::get::<Account>(self.store(), &keys::account(subscription, resource_group, name)).await?)
    }

    /// The active account, if it exists: for a caller that was authorized at its scope for something other
    /// than reading it (a role assignment there).
    pub async fn find_active(
        &self,
        subscription: &SubscriptionId,
        resource_group: &str,
        name: &str,
    ) -> Result<Option<Account>, AccountError> {
        if validate_account_name(name).is_err() {
            return Ok(None);
        }
        Ok(self
            .load(subscription, resource_group, name)
            .await?
            .map(|a| a.value)
            .filter(|a| !a.is_deleted()))
    }

    async fn load_active(
        &self,
        subscription: &SubscriptionId,
        resource_group: &str,
        name: &str,
    ) -> Result<records::Versioned<Account>, AccountError> {
        match self.load(subscription, resource_group, name).await? {
            Some(found) if !found.value.is_deleted() => Ok(found),
            _ => Err(AccountError::AccountNotFound {
                name: name.to_owned(),
                resource_group: resource_group.to_owned(),
            }),
        }
    }

    pub async fn get(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: &str,
        name: &str,
    ) -> Result<Account, AccountError> {
        subscription.require(ACCOUNT_READ, &account_scope(subscription.id(), resource_group, name))?;
        Ok(self.load_active(&subscription.id(), resource_group, name).await?.value)
    }

    /// PUT: creates the account, replaces an existing one's settings, or (with `restore`) recovers a deleted
    /// one. Returns the account and whether it was created.
    pub async fn create_or_replace(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: &str,
        name: &str,
        spec: AccountSpec,
    ) -> Result<(Account, bool), AccountError> {
        subscription.require(ACCOUNT_WRITE, &account_scope(subscription.id(), resource_group, name))?;
        validate_account_name(name)?;
        let group = self
            .directory()
            .find_resource_group(&subscription.id(), resource_group)
            .await?;
        match self.load(&subscription.id(), &group.name, name).await? {
            Some(existing) if existing.value.is_deleted() => {
                if !spec.restore {
                    return Err(AccountError::SoftDeletedExists(existing.value.resource_id()));
                }
                let mut account = existing.value;
                account.state = AccountState::Active;
                account.updated = self.clock().now();
                let key = account.store_key();
                self.store()
                    .commit(vec![records::replace(key, &account, existing.revision)?])
                    .await?;
                tracing::info!(account = %account.resource_id(), "restored a deleted account");
                Ok((account, false))
            }
            Some(existing) => {
                let patch = AccountPatch {
                    sku: Some(spec.sku),
                    tags: Some(spec.tags),
                    identity: spec.identity,
                    encryption: spec.encryption,
                    public_network_access: spec.public_network_access,
                    disable_local_auth: spec.disable_local_auth,
                    location: Some(spec.location),
                    kind: Some(spec.kind),
                    custom_subdomain: spec.custom_subdomain,
                };
                let account = self.apply_patch(existing, patch).await?;
                Ok((account, false))
            }
            None => Ok((self.create(subscription, &group.name, name, spec).await?, true)),
        }
    }

    async fn create(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: &str,
        name: &str,
        spec: AccountSpec,
    ) -> Result<Account, AccountError> {
        // S2: an account starts with Microsoft-managed keys; customer keys are switched on by an update.
        if matches!(spec.encryption, Some(EncryptionSpec::Customer(_))) {
            return Err(CmkRefusal::NotAllowedOnCreate.into());
        }
        let location = normalize_location(&spec.location)?;
        if spec.kind.trim().is_empty() {
            return Err(AccountError::InvalidArgument {
                field: "kind",
                reason: "the kind of account is required (for example TextAnalytics)".into(),
            });
        }
        let sku = validate_sku(&spec.sku)?;
        let (subdomain, custom_subdomain) = match &spec.custom_subdomain {
            Some(given) => (validate_subdomain(given)?, true),
            None => (
                validate_subdomain(name).map_err(|_| AccountError::InvalidArgument {
                    field: "customSubDomainName",
                    reason: format!("the name '{name}' cannot serve as a subdomain; set customSubDomainName"),
                })?,
                false,
            ),
        };
        if records::get::<SubdomainOwner>(self.store(), &keys::subdomain(&subdomain))
            .await?
            .is_some()
        {
            return Err(AccountError::SubdomainTaken(subdomain));
        }
        let internal_id = cmk_crypto::random::random_hex_id()?;
        let now = self.clock().now();
        let (_, data_key_bytes) = cmk_crypto::data_key::DataKey::generate()?;
        let data_key_version = 1;
        let sealed = self.inner.root_key.seal(
            &platform_purpose(&internal_id, data_key_version),
            data_key_bytes.expose(),
        )?;
        let mut account = Account {
            api_keys: [self.new_api_key(&internal_id, 0)?, self.new_api_key(&internal_id, 1)?],
            internal_id,
            name: name.to_owned(),
            subscription_id: subscription.id(),
            resource_group: resource_group.to_owned(),
            location,
            kind: spec.kind.trim().to_owned(),
            sku,
            tags: spec.tags,
            subdomain: subdomain.clone(),
            custom_subdomain,
            identity: None,
            encryption: Encryption::Platform,
            data_key: WrappedDataKey::Platform {
                sealed: b64url_encode(sealed),
            },
            data_key_version,
            retired_data_keys: Vec::new(),
            public_network_access: spec
                .public_network_access
                .as_deref()
                .map(validate_network_access)
                .transpose()?
                .unwrap_or_else(|| "Enabled".into()),
            disable_local_auth: spec.disable_local_auth.unwrap_or(false),
            state: AccountState::Active,
            created: now,
            updated: now,
        };
        let mut writes = Vec::new();
        if spec.identity == Some(IdentityType::SystemAssigned) {
            let (identity, write) = self.new_identity(&account).await?;
            account.identity = Some(identity);
            writes.push(write);
        }
        writes.push(records::create(account.store_key(), &account)?);
        writes.push(records::create(
            keys::subdomain(&subdomain),
            &SubdomainOwner {
                subscription_id: account.subscription_id,
                resource_group: resource_group.to_owned(),
                name: name.to_owned(),
            },
        )?);
        match self.store().commit(writes).await {
            Ok(_) => {}
            Err(cmk_store::StoreError::Conflict { key }) if key == keys::subdomain(&subdomain) => {
                return Err(AccountError::SubdomainTaken(subdomain));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(account = %account.resource_id(), "created account");
        Ok(account)
    }

    async fn new_identity(&self, account: &Account) -> Result<(SystemIdentity, Write), AccountError> {
        let subscription = self.directory().get_subscription(&account.subscription_id).await?;
        let (principal, write) =
            self.directory()
                .new_managed_identity(&subscription, &account.resource_id(), &account.name)?;
        Ok((
            SystemIdentity {
                principal_id: principal.object_id,
                client_id: principal.client_id,
                tenant_id: principal.tenant_id,
            },
            write,
        ))
    }

    /// PATCH.
    pub async fn update(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: &str,
        name: &str,
        patch: AccountPatch,
    ) -> Result<Account, AccountError> {
        subscription.require(ACCOUNT_WRITE, &account_scope(subscription.id(), resource_group, name))?;
        let existing = self.load_active(&subscription.id(), resource_group, name).await?;
        self.apply_patch(existing, patch).await
    }

    async fn apply_patch(
        &self,
        existing: records::Versioned<Account>,
        patch: AccountPatch,
    ) -> Result<Account, AccountError> {
        let revision = existing.revision;
        let mut account = existing.value;
        let location = patch.location.as_deref().map(normalize_location).transpose()?;
        unchanged("location", "the region", location.as_deref(), &account.location)?;
        unchanged("kind", "the kind", patch.kind.as_deref(), &account.kind)?;
        unchanged(
            "customSubDomainName",
            "the subdomain",
            patch.custom_subdomain.as_deref(),
            &account.subdomain,
        )?;
        if let Some(sku) = &patch.sku {
            let sku = validate_sku(sku)?;
            if sku != CMK_SKU && account.customer_key().is_some() && patch.encryption != Some(EncryptionSpec::Platform)
            {
                return Err(AccountError::InvalidArgument {
                    field: "sku.name",
                    reason: format!(
                        "the account uses a customer-managed key, which needs the E0 pricing tier; switch to Microsoft-managed keys before changing the SKU to '{sku}'"
                    ),
                });
            }
            account.sku = sku;
        }
        if let Some(tags) = patch.tags {
            account.tags = tags;
        }
        if let Some(access) = &patch.public_network_access {
            account.public_network_access = validate_network_access(access)?;
        }
        if let Some(disable) = patch.disable_local_auth {
            account.disable_local_auth = disable;
        }

        let mut writes = Vec::new();
        let mut removed_identity = None;
        match (patch.identity, account.identity.clone()) {
            (Some(IdentityType::SystemAssigned), None) => {
                let (identity, write) = self.new_identity(&account).await?;
                account.identity = Some(identity);
                writes.push(write);
            }
            (Some(IdentityType::None), Some(identity)) => {
                writes.extend(
                    self.directory()
                        .delete_managed_identity_writes(
                            &identity.tenant_id,
                            &identity.client_id,
                            &identity.principal_id,
                        )
                        .await?,
                );
                account.identity = None;
                removed_identity = Some(identity);
            }
            _ => {}
        }

        // S8: without its identity the account cannot reach its key: the data becomes inaccessible, at once.
        if removed_identity.is_some()
            && let Encryption::Customer { access, .. } = &mut account.encryption
        {
            *access = self.inaccessible(
                crate::model::InaccessibleReason::IdentityDisabled,
                "the account's system-assigned identity was disabled; enable it and grant the new identity access to the key",
            );
        }

        let rewrap = match patch.encryption {
            Some(spec) => self.plan_encryption_change(&account, spec).await?,
            None => Rewrap::None,
        };
        // Earlier data keys are wrapped under the current key too; the key changes once they are gone.
        if !matches!(rewrap, Rewrap::None) && !account.retired_data_keys.is_empty() {
            return Err(AccountError::ReencryptionInProgress(account.name.clone()));
        }
        self.apply_rewrap(&mut account, rewrap);
        account.updated = self.clock().now();
        writes.push(records::replace(account.store_key(), &account, revision)?);
        self.store().commit(writes).await?;
        if let Some(identity) = removed_identity {
            self.forget_identity(&account, identity);
        }
        Ok(account)
    }

    pub async fn list(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: Option<&str>,
    ) -> Result<Vec<Account>, AccountError> {
        let prefix = match resource_group {
            Some(group) => {
                let group = self.directory().find_resource_group(&subscription.id(), group).await?;
                keys::group_accounts(&subscription.id(), &group.name)
            }
            None => keys::subscription_accounts(&subscription.id()),
        };
        // Only what the caller may read.
        let all = records::scan::<Account>(self.store(), &prefix, |a| {
            !a.is_deleted() && subscription.can(ACCOUNT_READ, &a.scope())
        })
        .await?;
        Ok(all)
    }

    /// Soft delete: the account and its content stay, recoverable, for the retention period.
    pub async fn delete(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: &str,
        name: &str,
    ) -> Result<bool, AccountError> {
        subscription.require(ACCOUNT_DELETE, &account_scope(subscription.id(), resource_group, name))?;
        let existing = match self.load(&subscription.id(), resource_group, name).await? {
            Some(found) if !found.value.is_deleted() => found,
            _ => return Ok(false),
        };
        let mut account = existing.value;
        let now = self.clock().now();
        account.state = AccountState::Deleted {
            deletion_date: now,
            scheduled_purge_date: now.plus_seconds(self.inner.config.deleted_retention_seconds),
        };
        account.updated = now;
        self.store()
            .commit(vec![records::replace(
                account.store_key(),
                &account,
                existing.revision,
            )?])
            .await?;
        self.drop_data_key(&account.internal_id);
        tracing::info!(account = %account.resource_id(), "deleted account (recoverable)");
        Ok(true)
    }

    pub async fn get_deleted(
        &self,
        subscription: &AuthorizedSubscription,
        location: &str,
        resource_group: &str,
        name: &str,
    ) -> Result<Account, AccountError> {
        subscription.require(
            DELETED_ACCOUNT_READ,
            &deleted_account_scope(subscription.id(), location, resource_group, name),
        )?;
        self.find_deleted(subscription, location, resource_group, name).await
    }

    async fn find_deleted(
        &self,
        subscription: &AuthorizedSubscription,
        location: &str,
        resource_group: &str,
        name: &str,
    ) -> Result<Account, AccountError> {
        let not_found = || AccountError::DeletedAccountNotFound {
            name: name.to_owned(),
            resource_group: resource_group.to_owned(),
            location: location.to_owned(),
        };
        let location = normalize_location(location).map_err(|_| not_found())?;
        match self.load(&subscription.id(), resource_group, name).await? {
            Some(found) if found.value.is_deleted() && found.value.location == location => Ok(found.value),
            _ => Err(not_found()),
        }
    }

    pub async fn list_deleted(&self, subscription: &AuthorizedSubscription) -> Result<Vec<Account>, AccountError> {
        let all = records::scan::<Account>(self.store(), &keys::subscription_accounts(&subscription.id()), |a| {
            a.is_deleted()
                && subscription.can(
                    DELETED_ACCOUNTS_READ,
                    &deleted_account_scope(a.subscription_id, &a.location, &a.resource_group, &a.name),
                )
        })
        .await?;
        Ok(all)
    }

    pub async fn purge_deleted(
        &self,
        subscription: &AuthorizedSubscription,
        location: &str,
        resource_group: &str,
        name: &str,
    ) -> Result<(), AccountError> {
        subscription.require(
            DELETED_ACCOUNT_PURGE,
            &deleted_account_scope(subscription.id(), location, resource_group, name),
        )?;
        let account = self.find_deleted(subscription, location, resource_group, name).await?;
        self.purge(&account).await
    }

    /// Removes an account for good: its content, its identity, its subdomain, its record.
    async fn purge(&self, account: &Account) -> Result<(), AccountError> {
        self.delete_all_content(&account.internal_id).await?;
        let mut writes = vec![
            Write::Delete {
                key: account.store_key(),
                expect: Expect::Any,
            },
            Write::Delete {
                key: keys::subdomain(&account.subdomain),
                expect: Expect::Any,
            },
        ];
        if let Some(identity) = &account.identity {
            writes.extend(
                self.directory()
                    .delete_managed_identity_writes(&identity.tenant_id, &identity.client_id, &identity.principal_id)
                    .await?,
            );
        }
        self.store().commit(writes).await?;
        self.drop_data_key(&account.internal_id);
        tracing::info!(account = %account.resource_id(), "purged account");
        Ok(())
    }

    /// Purges deleted accounts whose retention period has ended. Returns how many.
    pub async fn purge_expired_accounts(&self) -> Result<usize, AccountError> {
        let now = self.clock().now();
        let mut purged = 0;
        for found in records::scan::<Account>(self.store(), keys::ACCOUNTS, |_| true).await? {
            if let AccountState::Deleted {
                scheduled_purge_date, ..
            } = found.state
                && scheduled_purge_date <= now
            {
                self.purge(&found).await?;
                purged += 1;
            }
        }
        Ok(purged)
    }

    pub async fn list_keys(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: &str,
        name: &str,
    ) -> Result<ApiKeys, AccountError> {
        subscription.require(LIST_KEYS, &account_scope(subscription.id(), resource_group, name))?;
        let account = self.load_active(&subscription.id(), resource_group, name).await?.value;
        Ok(ApiKeys {
            key1: self.open_api_key(&account, 0)?,
            key2: self.open_api_key(&account, 1)?,
        })
    }

    pub async fn regenerate_key(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: &str,
        name: &str,
        which: ApiKeyName,
    ) -> Result<ApiKeys, AccountError> {
        subscription.require(REGENERATE_KEY, &account_scope(subscription.id(), resource_group, name))?;
        let existing = self.load_active(&subscription.id(), resource_group, name).await?;
        let mut account = existing.value;
        let index = match which {
            ApiKeyName::Key1 => 0,
            ApiKeyName::Key2 => 1,
        };
        account.api_keys[index] = self.new_api_key(&account.internal_id, index)?;
        account.updated = self.clock().now();
        self.store()
            .commit(vec![records::replace(
                account.store_key(),
                &account,
                existing.revision,
            )?])
            .await?;
        Ok(ApiKeys {
            key1: self.open_api_key(&account, 0)?,
            key2: self.open_api_key(&account, 1)?,
        })
    }

    /// The active account that answers at `subdomain`, for the data plane.
    pub async fn by_subdomain(&self, subdomain: &str) -> Result<Option<Account>, AccountError> {
        let Some(owner) =
            records::get::<SubdomainOwner>(self.store(), &keys::subdomain(&subdomain.to_ascii_lowercase())).await?
        else {
            return Ok(None);
        };
        let owner = owner.value;
        Ok(self
            .load(&owner.subscription_id, &owner.resource_group, &owner.name)
            .await?
            .map(|v| v.value)
            .filter(|a| !a.is_deleted()))
    }

    /// Whether `presented` is one of the account's keys (compared in constant time), and local
    /// authentication is on.
    pub fn api_key_matches(&self, account: &Account, presented: &str) -> Result<bool, AccountError> {
        if account.disable_local_auth {
            return Ok(false);
        }
        let mut matched = false;
        for index in 0..2 {
            let key = self.open_api_key(account, index)?;
            matched |= cmk_crypto::secret_hash::constant_time_eq(key.expose().as_bytes(), presented.as_bytes());
        }
        Ok(matched)
    }

    /// Accounts whose data is at risk when a subscription moves to another tenant: re-check them at once.
    pub async fn accounts_in_subscription(&self, subscription: &SubscriptionId) -> Result<Vec<Account>, AccountError> {
        let all = records::scan::<Account>(self.store(), &keys::subscription_accounts(subscription), |_| true).await?;
        Ok(all)
    }

    pub(crate) fn inaccessible(&self, reason: crate::model::InaccessibleReason, message: &str) -> KeyAccess {
        KeyAccess::Inaccessible {
            reason,
            message: message.to_owned(),
            since: self.clock().now(),
        }
    }
}
