//! Development mode: the shiftable clock and the credentials file of the default operator.

use std::path::Path;
use std::sync::Arc;

use cmk_core::{Clock, ShiftableClock, Timestamp};
use cmk_crypto::SecretString;
use cmk_directory::Directory;
use cmk_store::{Store, Write};
use serde::{Deserialize, Serialize};

use crate::{PublicUrls, ServerError};

const CLOCK_KEY: &str = "system/dev-clock-offset";
/// How far the development clock may run ahead in total: a century covers every retention and expiry there is,
/// and keeps every date representable.
pub const MAX_CLOCK_OFFSET_SECONDS: i64 = 100 * 366 * 86_400;
pub const CREDENTIALS_FILE: &str = "dev-credentials.json";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredOffset {
    offset_seconds: i64,
}

/// The development clock. Its offset is stored, so a restart does not move time backwards under data that was
/// written "in the future".
pub struct DevClock {
    clock: Arc<ShiftableClock>,
    store: Arc<dyn Store>,
    /// Serializes advances, so the stored offset is always the latest.
    advancing: tokio::sync::Mutex<()>,
}

impl DevClock {
    pub async fn load(store: Arc<dyn Store>) -> Result<Self, ServerError> {
        let offset = match store.get(CLOCK_KEY).await? {
            Some(entry) => {
                serde_json::from_slice::<StoredOffset>(&entry.value)
                    .map_err(|_| ServerError::Config(format!("stored record '{CLOCK_KEY}' is corrupt")))?
                    .offset_seconds
            }
            None => 0,
        };
        Ok(Self {
            clock: Arc::new(ShiftableClock::with_offset(offset)),
            store,
            advancing: Default::default(),
        })
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn offset_seconds(&self) -> i64 {
        self.clock.offset_seconds()
    }

    /// Moves time forward by `seconds` (stored first, then applied). `None` when the total offset would pass
    /// [`MAX_CLOCK_OFFSET_SECONDS`].
    pub async fn advance(&self, seconds: i64) -> Result<Option<i64>, cmk_store::StoreError> {
        let _guard = self.advancing.lock().await;
        let offset = match self.clock.offset_seconds().checked_add(seconds) {
            Some(offset) if offset <= MAX_CLOCK_OFFSET_SECONDS => offset,
            _ => return Ok(None),
        };
        let value = serde_json::to_vec(&StoredOffset { offset_seconds: offset })
            .map_err(|e| cmk_store::StoreError::Backend(e.to_string()))?;
        self.store.commit(vec![Write::upsert(CLOCK_KEY, value)]).await?;
        Ok(self.clock.advance(seconds))
    }
}

/// The file a newcomer reads to connect: everything a client needs, including the operator's secret.
#[derive(Clone, Serialize, Deserialize)]
pub struct DevCredentials {
    pub tenant_id: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub client_id: String,
    pub client_secret: String,
    pub authority: String,
    pub management_endpoint: String,
    pub management_scope: String,
    pub vault_dns_suffix: String,
    pub ca_file: String,
}

impl std::fmt::Debug for DevCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCredentials")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Creates the development defaults on first start, reuses them afterwards, and (re)writes the credentials file
/// with the current addresses. A lost or stale file gets a fresh secret; the old secrets stay valid.
pub async fn ensure_dev_credentials(
    directory: &Directory,
    data_dir: &Path,
    urls: &PublicUrls,
    ca_file: &Path,
) -> Result<DevCredentials, ServerError> {
    let path = data_dir.join(CREDENTIALS_FILE);
    let previous: Option<DevCredentials> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let known_secret = previous.as_ref().map(|p| SecretString::new(p.client_secret.clone()));
    let bootstrap = directory.ensure_dev_defaults(known_secret.as_ref()).await?;
    let secret = match (&bootstrap.new_secret, &known_secret) {
        (Some(new), _) => new.expose().to_owned(),
        (None, Some(known)) => known.expose().to_owned(),
        (None, None) => return Err(ServerError::Config("no usable development secret".into())),
    };
    let defaults = bootstrap.defaults;
    let credentials = DevCredentials {
        tenant_id: defaults.tenant_id.to_string(),
        subscription_id: defaults.subscription_id.to_string(),
        resource_group: defaults.resource_group,
        client_id: defaults.client_id.to_string(),
        client_secret: secret,
        authority: urls.authority(),
        management_endpoint: urls.management_endpoint(),
        management_scope: format!("{}.default", urls.management_resource()),
        vault_dns_suffix: urls.vault_dns_suffix(),
        ca_file: std::path::absolute(ca_file)
            .unwrap_or_else(|_| ca_file.to_owned())
            .display()
            .to_string(),
    };
    let json = serde_json::to_vec_pretty(&credentials).map_err(|e| ServerError::Io(e.to_string()))?;
    crate::files::write_private(&path, &json)?;
    Ok(credentials)
}
