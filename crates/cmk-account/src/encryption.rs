//! The data key's lifecycle.
//!
//! - Switching customer-managed keys on checks the vault and the key through the vault's own API, as the
//!   account's identity (S4–S7), then wraps the data key under the customer key; the record that held the
//!   platform-wrapped copy is replaced in the same write.
//! - Rotation re-wraps the data key under the new key version; content is never touched (S10).
//! - Revocation: the unwrapped data key stays in memory for a bounded time only. [`Accounts::recheck`] asks the
//!   vault again (on change events, after a failed unwrap, and on a timer); when the vault refuses, the account
//!   becomes inaccessible, the key leaves memory, and nothing is deleted (S8, S9, S11). When the vault
//!   answers again, the account recovers by itself.

use std::sync::Arc;
use std::time::Instant;

use cmk_crypto::SecretBytes;
use cmk_crypto::data_key::{DATA_KEY_LEN, DataKey};
use cmk_crypto::encoding::{b64url_decode, b64url_encode};
use cmk_directory::resource_groups::normalize_location;
use cmk_store::records;

use crate::accounts::EncryptionSpec;
use crate::model::{
    Account, CMK_SKU, CustomerKeySpec, Encryption, InaccessibleReason, KeyAccess, SystemIdentity, WrappedDataKey, keys,
};
use crate::vault_client::{IdentityRef, KeyFacts, VaultCallError};
use crate::{AccountError, Accounts, CmkRefusal};

/// The purpose the root key binds when it seals an account's data key.
pub(crate) fn platform_purpose(internal_id: &str, version: u32) -> String {
    format!("account data key:{internal_id}:{version}")
}

/// An unwrapped data key: the bytes (to wrap again) and the cipher made from them.
pub struct UnwrappedDataKey {
    bytes: SecretBytes,
    pub(crate) key: DataKey,
}

impl UnwrappedDataKey {
    pub(crate) fn from_bytes(bytes: SecretBytes) -> Result<Self, AccountError> {
        if bytes.len() != DATA_KEY_LEN {
            return Err(AccountError::Crypto(cmk_crypto::CryptoError::InvalidKey(
                "an unwrapped data key has the wrong length",
            )));
        }
        let key = DataKey::from_bytes(bytes.expose())?;
        Ok(Self { bytes, key })
    }
}

fn cache_key(internal_id: &str, version: u32) -> String {
    format!("{internal_id}/{version}")
}

pub(crate) struct CachedDataKey {
    key: Arc<UnwrappedDataKey>,
    /// The wrapped form it came from: a re-wrapped or replaced data key never matches a stale entry.
    wrapped: String,
    loaded: Instant,
}

fn wrapped_text(wrapped: &WrappedDataKey) -> &str {
    match wrapped {
        WrappedDataKey::Platform { sealed } => sealed,
        WrappedDataKey::Customer { wrapped, .. } => wrapped,
    }
}

/// What an encryption change will store.
pub(crate) enum Rewrap {
    None,
    ToPlatform {
        sealed: String,
    },
    ToCustomer {
        spec: CustomerKeySpec,
        kid: String,
        wrapped: String,
    },
}

/// Proof that the account's data key is available; content operations need one.
pub struct ContentAccess {
    pub(crate) account: Account,
    pub(crate) key: Arc<UnwrappedDataKey>,
}

impl ContentAccess {
    pub fn account(&self) -> &Account {
        &self.account
    }
}

fn identity_ref(identity: &SystemIdentity) -> IdentityRef {
    IdentityRef {
        tenant_id: identity.tenant_id,
        client_id: identity.client_id,
    }
}

/// Why a vault call means the key is out of reach.
fn reason_of(error: &VaultCallError) -> InaccessibleReason {
    match error {
        VaultCallError::IdentityNotFound => InaccessibleReason::IdentityDisabled,
        VaultCallError::IdentityInOtherTenant(_) => InaccessibleReason::IdentityInOtherTenant,
        VaultCallError::Unauthorized(_) | VaultCallError::Forbidden(_) | VaultCallError::ForbiddenByRbac(_) => {
            InaccessibleReason::AccessDenied
        }
        VaultCallError::KeyDisabled(_) => InaccessibleReason::KeyDisabled,
        VaultCallError::KeyNotFound(_) => InaccessibleReason::KeyNotFound,
        VaultCallError::VaultNotFound(_) => InaccessibleReason::VaultNotFound,
        VaultCallError::Unreachable(_) => InaccessibleReason::VaultUnreachable,
    }
}

/// Normalizes and checks what a caller gave as key vault properties.
pub fn validate_customer_key(spec: CustomerKeySpec) -> Result<CustomerKeySpec, CmkRefusal> {
    let invalid = |reason: String| CmkRefusal::InvalidKeyVaultProperties(reason);
    let uri = spec.vault_uri.trim();
    let rest = uri.strip_prefix("https://").ok_or_else(|| {
        invalid(format!(
            "keyVaultUri '{uri}' must be an https URL such as https://myvault.vault.localhost:8443/"
        ))
    })?;
    let host = rest.strip_suffix('/').unwrap_or(rest);
    let host_ok = !host.is_empty()
        && !host.contains('/')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if !host_ok {
        return Err(invalid(format!(
            "keyVaultUri '{uri}' must name only the vault, such as https://myvault.vault.localhost:8443/"
        )));
    }
    let name_ok = (1..=127).contains(&spec.key_name.len())
        && spec.key_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !name_ok {
        return Err(invalid(format!(
            "keyName '{}' must be 1 to 127 letters, digits and hyphens",
            spec.key_name
        )));
    }
    let version = spec.key_version.filter(|v| !v.trim().is_empty());
    if let Some(v) = &version
        && !(v.len() == 32 && v.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(invalid(format!(
            "keyVersion '{v}' must be a key version (32 hexadecimal characters), or empty to follow the latest version"
        )));
    }
    if spec
        .identity_client_id
        .as_deref()
        .is_some_and(|id| !id.trim().is_empty())
    {
        return Err(invalid(
            "identityClientId names a user-assigned identity; this service uses the account's system-assigned identity, so omit it".into(),
        ));
    }
    Ok(CustomerKeySpec {
        vault_uri: format!("https://{}/", host.to_ascii_lowercase()),
        key_name: spec.key_name,
        key_version: version.map(|v| v.to_ascii_lowercase()),
        identity_client_id: None,
    })
}

/// The vault name of a vault URI (`https://kv1.vault.localhost:8443/` → `kv1`).
pub fn vault_name_of(vault_uri: &str) -> &str {
    let host = vault_uri.trim_start_matches("https://");
    host.split(['.', ':', '/']).next().unwrap_or(host)
}

impl Accounts {
    fn cached(&self, account: &Account, version: u32, wrapped: &WrappedDataKey) -> Option<Arc<UnwrappedDataKey>> {
        let cache = self.inner.data_keys.lock().ok()?;
        let entry = cache.get(&cache_key(&account.internal_id, version))?;
        (entry.wrapped == wrapped_text(wrapped) && entry.loaded.elapsed() < self.inner.config.key_cache)
            .then(|| entry.key.clone())
    }

    fn cached_key(&self, account: &Account) -> Option<Arc<UnwrappedDataKey>> {
        self.cached(account, account.data_key_version, &account.data_key)
    }

    fn remember(&self, account: &Account, version: u32, wrapped: &WrappedDataKey, key: Arc<UnwrappedDataKey>) {
        if let Ok(mut cache) = self.inner.data_keys.lock() {
            cache.insert(
                cache_key(&account.internal_id, version),
                CachedDataKey {
                    key,
                    wrapped: wrapped_text(wrapped).to_owned(),
                    loaded: Instant::now(),
                },
            );
        }
    }

    pub(crate) fn remember_key(&self, account: &Account, key: Arc<UnwrappedDataKey>) {
        self.remember(account, account.data_key_version, &account.data_key, key);
    }

    /// Forgets every unwrapped data key of the account.
    pub(crate) fn drop_data_key(&self, internal_id: &str) {
        if let Ok(mut cache) = self.inner.data_keys.lock() {
            let prefix = format!("{internal_id}/");
            cache.retain(|k, _| !k.starts_with(&prefix));
        }
    }

    pub(crate) fn forget_identity(&self, account: &Account, identity: SystemIdentity) {
        self.drop_data_key(&account.internal_id);
        self.inner.vaults.forget_identity(identity_ref(&identity));
    }

    async fn unwrap_stored(&self, account: &Account) -> Result<UnwrappedDataKey, Result<VaultCallError, AccountError>> {
        self.unwrap_wrapped(account, account.data_key_version, &account.data_key)
            .await
    }

    /// Unwraps a stored data key: the root key opens a platform-wrapped one; a customer-wrapped one goes to the
    /// vault, as the account's identity.
    async fn unwrap_wrapped(
        &self,
        account: &Account,
        version: u32,
        wrapped_key: &WrappedDataKey,
    ) -> Result<UnwrappedDataKey, Result<VaultCallError, AccountError>> {
        match wrapped_key {
            WrappedDataKey::Platform { sealed } => {
                let sealed = b64url_decode(sealed).map_err(|_| Err(AccountError::Corrupt(account.name.clone())))?;
                let bytes = self
                    .inner
                    .root_key
                    .unseal(&platform_purpose(&account.internal_id, version), &sealed)
                    .map_err(|e| Err(e.into()))?;
                UnwrappedDataKey::from_bytes(bytes).map_err(Err)
            }
            WrappedDataKey::Customer { kid, wrapped } => {
                let identity = account.identity.as_ref().ok_or(Ok(VaultCallError::IdentityNotFound))?;
                let wrapped = b64url_decode(wrapped).map_err(|_| Err(AccountError::Corrupt(account.name.clone())))?;
                let bytes = self
                    .inner
                    .vaults
                    .unwrap_key(identity_ref(identity), kid, &wrapped)
                    .await
                    .map_err(Ok)?;
                UnwrappedDataKey::from_bytes(bytes).map_err(Err)
            }
        }
    }

    /// The data key of `version` for content written under it: the current one, or an earlier one that a
    /// re-encryption has not retired yet.
    pub(crate) async fn key_for_version(
        &self,
        access: &ContentAccess,
        version: u32,
    ) -> Result<Arc<UnwrappedDataKey>, AccountError> {
        let account = &access.account;
        if version == account.data_key_version {
            return Ok(access.key.clone());
        }
        let retired = account
            .retired_data_keys
            .iter()
            .find(|k| k.version == version)
            .ok_or_else(|| AccountError::Corrupt(format!("data key version {version} of {}", account.name)))?;
        if let Some(key) = self.cached(account, version, &retired.wrapped) {
            return Ok(key);
        }
        match self.unwrap_wrapped(account, version, &retired.wrapped).await {
            Ok(key) => {
                let key = Arc::new(key);
                self.remember(account, version, &retired.wrapped, key.clone());
                Ok(key)
            }
            Err(Err(internal)) => Err(internal),
            Err(Ok(refused)) => {
                let reason = reason_of(&refused);
                let message = refused.to_string();
                self.mark(account, reason, &message).await?;
                Err(AccountError::KeyInaccessible { reason, message })
            }
        }
    }

    /// Wraps fresh data key bytes the way the account's current key is wrapped.
    pub(crate) async fn wrap_like_current(
        &self,
        account: &Account,
        version: u32,
        bytes: &SecretBytes,
    ) -> Result<WrappedDataKey, AccountError> {
        match &account.data_key {
            WrappedDataKey::Platform { .. } => {
                let sealed = self
                    .inner
                    .root_key
                    .seal(&platform_purpose(&account.internal_id, version), bytes.expose())?;
                Ok(WrappedDataKey::Platform {
                    sealed: b64url_encode(sealed),
                })
            }
            WrappedDataKey::Customer { kid, .. } => {
                let identity = account.identity.as_ref().ok_or(AccountError::KeyInaccessible {
                    reason: InaccessibleReason::IdentityDisabled,
                    message: "the account's system-assigned identity is disabled".into(),
                })?;
                let wrapped = self
                    .inner
                    .vaults
                    .wrap_key(identity_ref(identity), kid, bytes.expose())
                    .await
                    .map_err(|e| AccountError::KeyInaccessible {
                        reason: reason_of(&e),
                        message: e.to_string(),
                    })?;
                Ok(WrappedDataKey::Customer {
                    kid: kid.clone(),
                    wrapped: b64url_encode(wrapped),
                })
            }
        }
    }

    /// The data key for content operations. An inaccessible account is refused without asking anyone and
    /// without any cache; a failed unwrap makes the account inaccessible.
    pub async fn open_content(&self, account: Account) -> Result<ContentAccess, AccountError> {
        if let Some(KeyAccess::Inaccessible { reason, message, .. }) = account.key_access() {
            return Err(AccountError::KeyInaccessible {
                reason: *reason,
                message: message.clone(),
            });
        }
        if let Some(key) = self.cached_key(&account) {
            return Ok(ContentAccess { account, key });
        }
        match self.unwrap_stored(&account).await {
            Ok(key) => {
                let key = Arc::new(key);
                self.remember_key(&account, key.clone());
                Ok(ContentAccess { account, key })
            }
            Err(Err(internal)) => Err(internal),
            Err(Ok(refused)) => {
                let reason = reason_of(&refused);
                let message = refused.to_string();
                self.mark(&account, reason, &message).await?;
                Err(AccountError::KeyInaccessible { reason, message })
            }
        }
    }

    /// Records that the account cannot reach its key, unless it is already recorded as inaccessible (the
    /// first reason stays). Concurrent changes are retried.
    async fn mark(&self, account: &Account, reason: InaccessibleReason, message: &str) -> Result<(), AccountError> {
        self.drop_data_key(&account.internal_id);
        let marked = self
            .update_stored(&account.store_key(), |stored| match &mut stored.encryption {
                Encryption::Customer { access, .. } if *access == KeyAccess::Accessible => {
                    *access = self.inaccessible(reason, message);
                    true
                }
                _ => false,
            })
            .await?;
        if let Some(stored) = marked {
            tracing::warn!(account = %stored.resource_id(), reason = reason.as_str(), "customer-managed key became inaccessible");
        }
        Ok(())
    }

    /// Applies `change` to the stored account and writes it, reading again when another writer got there first.
    /// `change` returns false to leave the record as it is. Returns the account as written, if it was.
    pub(crate) async fn update_stored(
        &self,
        key: &str,
        mut change: impl FnMut(&mut Account) -> bool,
    ) -> Result<Option<Account>, AccountError> {
        for _ in 0..5 {
            let Some(current) = records::get::<Account>(self.store(), key).await? else {
                return Ok(None);
            };
            let mut account = current.value;
            if !change(&mut account) {
                return Ok(None);
            }
            match self
                .store()
                .commit(vec![records::replace(key.to_owned(), &account, current.revision)?])
                .await
            {
                Ok(_) => return Ok(Some(account)),
                Err(cmk_store::StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AccountError::Conflict(key.to_owned()))
    }

    /// Works out what switching to `spec` stores, checking everything first (S2–S7). Nothing is written here.
    pub(crate) async fn plan_encryption_change(
        &self,
        account: &Account,
        spec: EncryptionSpec,
    ) -> Result<Rewrap, AccountError> {
        match spec {
            EncryptionSpec::Platform => {
                if matches!(account.encryption, Encryption::Platform) {
                    return Ok(Rewrap::None);
                }
                let key = self.current_key_for_rewrap(account).await?;
                let sealed = self.inner.root_key.seal(
                    &platform_purpose(&account.internal_id, account.data_key_version),
                    key.bytes.expose(),
                )?;
                Ok(Rewrap::ToPlatform {
                    sealed: b64url_encode(sealed),
                })
            }
            EncryptionSpec::Customer(spec) => {
                if account.sku != CMK_SKU {
                    return Err(CmkRefusal::RequiresE0Sku(account.sku.clone()).into());
                }
                let spec = validate_customer_key(spec)?;
                if let Encryption::Customer {
                    key,
                    access: KeyAccess::Accessible,
                } = &account.encryption
                    && *key == spec
                {
                    return Ok(Rewrap::None);
                }
                let identity = account.identity.as_ref().ok_or(CmkRefusal::IdentityNotEnabled)?;
                let facts = self.check_customer_key(account, identity, &spec).await?;
                let key = self.current_key_for_rewrap(account).await?;
                let as_identity = identity_ref(identity);
                let denied = |e: VaultCallError| -> AccountError {
                    match e {
                        VaultCallError::Forbidden(detail) | VaultCallError::Unauthorized(detail) => {
                            CmkRefusal::AccessDenied {
                                principal: identity.principal_id.to_string(),
                                detail,
                                rbac: false,
                            }
                            .into()
                        }
                        VaultCallError::ForbiddenByRbac(detail) => CmkRefusal::AccessDenied {
                            principal: identity.principal_id.to_string(),
                            detail,
                            rbac: true,
                        }
                        .into(),
                        VaultCallError::KeyDisabled(_) => CmkRefusal::KeyDisabled(spec.key_uri()).into(),
                        VaultCallError::KeyNotFound(_) => CmkRefusal::KeyNotFound(spec.key_uri()).into(),
                        other => CmkRefusal::KeyVaultNotFound(format!("{} ({other})", spec.vault_uri)).into(),
                    }
                };
                // S7: the identity must be able to wrap and unwrap, not only read the key.
                let wrapped = self
                    .inner
                    .vaults
                    .wrap_key(as_identity, &facts.kid, key.bytes.expose())
                    .await
                    .map_err(denied)?;
                let back = self
                    .inner
                    .vaults
                    .unwrap_key(as_identity, &facts.kid, &wrapped)
                    .await
                    .map_err(denied)?;
                if !cmk_crypto::secret_hash::constant_time_eq(back.expose(), key.bytes.expose()) {
                    return Err(CmkRefusal::InvalidKeyVaultProperties(format!(
                        "the vault at '{}' did not unwrap what it wrapped; it is not a compatible key vault",
                        spec.vault_uri
                    ))
                    .into());
                }
                Ok(Rewrap::ToCustomer {
                    spec,
                    kid: facts.kid,
                    wrapped: b64url_encode(wrapped),
                })
            }
        }
    }

    /// The current data key, to wrap it again; refused when the current key cannot be reached.
    async fn current_key_for_rewrap(&self, account: &Account) -> Result<Arc<UnwrappedDataKey>, AccountError> {
        if let Some(key) = self.cached_key(account) {
            return Ok(key);
        }
        match self.unwrap_stored(account).await {
            Ok(key) => Ok(Arc::new(key)),
            Err(Err(internal)) => Err(internal),
            Err(Ok(refused)) => Err(CmkRefusal::CurrentKeyInaccessible(refused.to_string()).into()),
        }
    }

    /// S4–S6, through the vault's API as the account's identity.
    async fn check_customer_key(
        &self,
        account: &Account,
        identity: &SystemIdentity,
        spec: &CustomerKeySpec,
    ) -> Result<KeyFacts, AccountError> {
        let vault = vault_name_of(&spec.vault_uri).to_owned();
        let facts = self
            .inner
            .vaults
            .vault_facts(&spec.vault_uri)
            .await
            .map_err(|e| CmkRefusal::KeyVaultNotFound(format!("{} ({e})", spec.vault_uri)))?;
        let subscription = self.directory().get_subscription(&account.subscription_id).await?;
        if !facts
            .tenant_id
            .eq_ignore_ascii_case(&subscription.tenant_id.to_string())
        {
            return Err(CmkRefusal::KeyVaultInOtherTenant {
                vault,
                vault_tenant: facts.tenant_id,
                account_tenant: subscription.tenant_id.to_string(),
            }
            .into());
        }
        if let Some(region) = &facts.region
            && normalize_location(region).ok().as_deref() != Some(account.location.as_str())
        {
            return Err(CmkRefusal::KeyVaultInOtherRegion {
                vault,
                vault_region: region.clone(),
                account_region: account.location.clone(),
            }
            .into());
        }
        let key = self
            .inner
            .vaults
            .get_key(
                identity_ref(identity),
                &spec.vault_uri,
                &spec.key_name,
                spec.key_version.as_deref(),
            )
            .await
            .map_err(|e| -> AccountError {
                match e {
                    VaultCallError::KeyNotFound(_) => CmkRefusal::KeyNotFound(match &spec.key_version {
                        Some(v) => format!("{}/{v}", spec.key_uri()),
                        None => spec.key_uri(),
                    })
                    .into(),
                    VaultCallError::Forbidden(detail) | VaultCallError::Unauthorized(detail) => {
                        CmkRefusal::AccessDenied {
                            principal: identity.principal_id.to_string(),
                            detail,
                            rbac: false,
                        }
                        .into()
                    }
                    VaultCallError::ForbiddenByRbac(detail) => CmkRefusal::AccessDenied {
                        principal: identity.principal_id.to_string(),
                        detail,
                        rbac: true,
                    }
                    .into(),
                    VaultCallError::IdentityNotFound => CmkRefusal::IdentityNotEnabled.into(),
                    VaultCallError::IdentityInOtherTenant(detail) => CmkRefusal::AccessDenied {
                        principal: identity.principal_id.to_string(),
                        detail,
                        rbac: false,
                    }
                    .into(),
                    VaultCallError::KeyDisabled(_) => CmkRefusal::KeyDisabled(spec.key_uri()).into(),
                    other => CmkRefusal::KeyVaultNotFound(format!("{} ({other})", spec.vault_uri)).into(),
                }
            })?;
        // S5: soft delete and purge protection show in every key's recovery level.
        if key.recovery_level.contains("Purgeable") {
            return Err(CmkRefusal::PurgeProtectionRequired {
                vault,
                recovery_level: key.recovery_level,
            }
            .into());
        }
        if !key.enabled {
            return Err(CmkRefusal::KeyDisabled(key.kid).into());
        }
        // S6: RSA (or RSA-HSM) of 2048 bits only.
        if key.kty != "RSA" && key.kty != "RSA-HSM" {
            return Err(CmkRefusal::UnsupportedKeyType {
                kid: key.kid,
                kty: key.kty,
            }
            .into());
        }
        if key.bits != 2048 {
            return Err(CmkRefusal::UnsupportedKeySize {
                kid: key.kid,
                bits: key.bits,
            }
            .into());
        }
        Ok(key)
    }

    pub(crate) fn apply_rewrap(&self, account: &mut Account, rewrap: Rewrap) {
        match rewrap {
            Rewrap::None => {}
            Rewrap::ToPlatform { sealed } => {
                account.encryption = Encryption::Platform;
                account.data_key = WrappedDataKey::Platform { sealed };
            }
            Rewrap::ToCustomer { spec, kid, wrapped } => {
                account.encryption = Encryption::Customer {
                    key: spec,
                    access: KeyAccess::Accessible,
                };
                account.data_key = WrappedDataKey::Customer { kid, wrapped };
            }
        }
    }

    /// Asks the vault again whether the account may use its key, and records the answer: inaccessible (with
    /// the reason) or accessible again. An account that follows the latest key version re-wraps its data key
    /// when the key has a new version. Returns the account's key access afterwards.
    pub async fn recheck(&self, account: &Account) -> Result<Option<KeyAccess>, AccountError> {
        let Some(spec) = account.customer_key().cloned() else {
            return Ok(None);
        };
        if account.is_deleted() {
            return Ok(None);
        }
        let outcome = self.probe(account, &spec).await;
        // Only an account still on the data key and key that were probed takes the answer; one that changed
        // meanwhile (another key, back to platform keys) is checked again at the next event or poll.
        let unchanged = |stored: &Account| {
            stored.customer_key() == Some(&spec)
                && stored.data_key_version == account.data_key_version
                && wrapped_text(&stored.data_key) == wrapped_text(&account.data_key)
        };
        let key = account.store_key();
        match outcome {
            Ok((unwrapped, rewrapped)) => {
                let written = self
                    .update_stored(&key, |stored| {
                        if !unchanged(stored) {
                            return false;
                        }
                        let mut changed = false;
                        if let Some((kid, wrapped)) = rewrapped.clone() {
                            stored.data_key = WrappedDataKey::Customer { kid, wrapped };
                            changed = true;
                        }
                        if let Encryption::Customer { access, .. } = &mut stored.encryption
                            && *access != KeyAccess::Accessible
                        {
                            *access = KeyAccess::Accessible;
                            changed = true;
                        }
                        changed
                    })
                    .await?;
                if let Some(written) = &written {
                    tracing::info!(account = %written.resource_id(), kid = written.current_kid(), "customer-managed key checked: accessible");
                }
                let current = match written {
                    Some(written) => Some(written),
                    None => records::get::<Account>(self.store(), &key).await?.map(|v| v.value),
                };
                let Some(current) = current else {
                    return Ok(None);
                };
                // A re-wrap keeps the data key itself, so the unwrapped one serves the record as it is now.
                if current.customer_key() == Some(&spec) && current.data_key_version == account.data_key_version {
                    self.remember_key(&current, Arc::new(unwrapped));
                }
                Ok(current.key_access().cloned())
            }
            // A vault that does not answer has not refused anything: the account keeps the key it holds, until
            // that key's time in memory is up, and only then fails closed.
            Err((InaccessibleReason::VaultUnreachable, message))
                if account.key_access() == Some(&KeyAccess::Accessible) && self.cached_key(account).is_some() =>
            {
                tracing::warn!(account = %account.resource_id(), error = message, "the vault did not answer; keeping the cached data key for now");
                Ok(Some(KeyAccess::Accessible))
            }
            Err((reason, message)) => {
                self.drop_data_key(&account.internal_id);
                let access = self.inaccessible(reason, &message);
                let written = self
                    .update_stored(&key, |stored| {
                        if !unchanged(stored) {
                            return false;
                        }
                        let Encryption::Customer { access: slot, .. } = &mut stored.encryption else {
                            return false;
                        };
                        let already = matches!(&*slot, KeyAccess::Inaccessible { reason: r, message: m, .. } if *r == reason && *m == message);
                        if already {
                            return false;
                        }
                        *slot = access.clone();
                        true
                    })
                    .await?;
                if written.is_some() {
                    tracing::warn!(account = %account.resource_id(), reason = reason.as_str(), "customer-managed key became inaccessible");
                }
                Ok(records::get::<Account>(self.store(), &key)
                    .await?
                    .and_then(|v| v.value.key_access().cloned()))
            }
        }
    }

    /// The vault calls behind a re-check: read the key (its state, and the latest version when following it),
    /// unwrap the data key, and re-wrap it under a newer version if the account follows the latest.
    #[allow(clippy::type_complexity)]
    async fn probe(
        &self,
        account: &Account,
        spec: &CustomerKeySpec,
    ) -> Result<(UnwrappedDataKey, Option<(String, String)>), (InaccessibleReason, String)> {
        let refused = |e: VaultCallError| (reason_of(&e), e.to_string());
        let identity = account.identity.as_ref().ok_or((
            InaccessibleReason::IdentityDisabled,
            "the account's system-assigned identity is disabled; enable it and grant the new identity access to the key"
                .to_owned(),
        ))?;
        let as_identity = identity_ref(identity);
        let facts = self
            .inner
            .vaults
            .get_key(
                as_identity,
                &spec.vault_uri,
                &spec.key_name,
                spec.key_version.as_deref(),
            )
            .await
            .map_err(refused)?;
        if !facts.enabled {
            return Err((
                InaccessibleReason::KeyDisabled,
                format!("the key '{}' is disabled", facts.kid),
            ));
        }
        let unwrapped = match self.unwrap_stored(account).await {
            Ok(key) => key,
            Err(Ok(e)) => return Err(refused(e)),
            Err(Err(e)) => return Err((InaccessibleReason::VaultUnreachable, e.to_string())),
        };
        let current_kid = account.current_kid().unwrap_or_default();
        if spec.key_version.is_none() && facts.kid != current_kid {
            let wrapped = self
                .inner
                .vaults
                .wrap_key(as_identity, &facts.kid, unwrapped.bytes.expose())
                .await
                .map_err(refused)?;
            return Ok((unwrapped, Some((facts.kid, b64url_encode(wrapped)))));
        }
        Ok((unwrapped, None))
    }

    /// Re-checks every account that uses a key in `vault` (lower-case name).
    pub async fn recheck_vault(&self, vault: &str) -> Result<usize, AccountError> {
        let mut checked = 0;
        for found in records::scan::<Account>(self.store(), keys::ACCOUNTS, |_| true).await? {
            let uses_vault = found
                .customer_key()
                .is_some_and(|k| vault_name_of(&k.vault_uri).eq_ignore_ascii_case(vault));
            if uses_vault && !found.is_deleted() {
                self.recheck(&found).await?;
                checked += 1;
            }
        }
        Ok(checked)
    }

    /// Re-checks every account whose managed identity is `principal` (its role assignments changed).
    pub async fn recheck_principal(&self, principal: &cmk_directory::model::ObjectId) -> Result<usize, AccountError> {
        let mut checked = 0;
        for found in records::scan::<Account>(self.store(), keys::ACCOUNTS, |a| {
            a.identity.as_ref().is_some_and(|i| i.principal_id == *principal)
        })
        .await?
        {
            if found.customer_key().is_some() && !found.is_deleted() {
                self.recheck(&found).await?;
                checked += 1;
            }
        }
        Ok(checked)
    }

    /// Re-checks every account that uses a customer key (the poll that backs up change events).
    pub async fn recheck_all(&self) -> Result<usize, AccountError> {
        let mut checked = 0;
        for found in records::scan::<Account>(self.store(), keys::ACCOUNTS, |_| true).await? {
            if found.customer_key().is_some() && !found.is_deleted() {
                if let Err(e) = self.recheck(&found).await {
                    tracing::warn!(account = %found.resource_id(), error = %e, "re-checking the key failed");
                }
                checked += 1;
            }
        }
        Ok(checked)
    }

    /// Re-checks the accounts of a subscription (after it moved to another tenant).
    pub async fn recheck_subscription(
        &self,
        subscription: &cmk_directory::model::SubscriptionId,
    ) -> Result<usize, AccountError> {
        let mut checked = 0;
        for account in self.accounts_in_subscription(subscription).await? {
            // Tokens issued before the move must not keep working.
            if let Some(identity) = &account.identity {
                self.inner.vaults.forget_identity(identity_ref(identity));
            }
            if account.customer_key().is_some() && !account.is_deleted() {
                self.recheck(&account).await?;
                checked += 1;
            }
        }
        Ok(checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(uri: &str, name: &str, version: Option<&str>) -> CustomerKeySpec {
        CustomerKeySpec {
            vault_uri: uri.into(),
            key_name: name.into(),
            key_version: version.map(Into::into),
            identity_client_id: None,
        }
    }

    #[test]
    fn key_vault_properties_are_normalized_or_refused_with_the_reason() {
        let normal = validate_customer_key(spec("https://KV1.vault.localhost:8443", "k1", Some(""))).ok();
        assert_eq!(
            normal,
            Some(spec("https://kv1.vault.localhost:8443/", "k1", None)),
            "lower case, one trailing slash, an empty version follows the latest"
        );
        for (bad, says) in [
            (spec("http://kv1.vault.localhost/", "k1", None), "https"),
            (
                spec("https://kv1.vault.localhost/keys/k1", "k1", None),
                "only the vault",
            ),
            (spec("https://kv1.vault.localhost/", "k_1", None), "keyName"),
            (spec("https://kv1.vault.localhost/", "k1", Some("v2")), "32 hexadecimal"),
        ] {
            match validate_customer_key(bad) {
                Err(CmkRefusal::InvalidKeyVaultProperties(reason)) => assert!(reason.contains(says), "{reason}"),
                other => panic!("expected a refusal naming {says}, got {other:?}"),
            }
        }
        let mut with_uai = spec("https://kv1.vault.localhost/", "k1", None);
        with_uai.identity_client_id = Some("0000".into());
        assert!(validate_customer_key(with_uai).is_err());
    }

    #[test]
    fn vault_names_come_from_the_uri_host() {
        assert_eq!(vault_name_of("https://kv1.vault.localhost:8443/"), "kv1");
        assert_eq!(vault_name_of("https://kv1:8443/"), "kv1");
    }
}
