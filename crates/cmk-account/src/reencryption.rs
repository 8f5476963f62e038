//! Re-encryption of all content under a new data key, for customers whose policy asks for it. Rotation never
//! needs it (S10 re-wraps the data key); this replaces the data key itself.
//!
//! Starting it makes a new data key current (wrapped like the old one) and keeps the old one as retired, so
//! every object stays readable throughout. A background job then rewrites each object under the new key, as a
//! new upload that replaces the object only if nobody replaced it meanwhile, and records its progress. When no
//! object uses the old key any more, the old key is dropped. A job that stops (the key became inaccessible, the
//! server restarted) is resumed by starting it again, or by the server at its next start.

use cmk_core::Timestamp;
use cmk_directory::subscriptions::AuthorizedSubscription;
use cmk_store::records;
use serde::{Deserialize, Serialize};

use crate::model::{Account, ContentObject, RetiredDataKey, keys};
use crate::{AccountError, Accounts};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum JobState {
    Running,
    Succeeded,
    Failed { message: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReencryptionJob {
    pub internal_id: String,
    /// The store key of the account record.
    pub account_key: String,
    /// Every object ends up under this data-key version.
    pub target_version: u32,
    pub state: JobState,
    pub objects_total: u64,
    pub objects_done: u64,
    pub bytes_done: u64,
    pub started: Timestamp,
    pub finished: Option<Timestamp>,
}

/// Objects read per page while re-encrypting.
const PAGE: usize = 100;

impl Accounts {
    /// Starts (or resumes) re-encrypting the account's content under a new data key.
    pub async fn start_reencryption(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: &str,
        name: &str,
    ) -> Result<ReencryptionJob, AccountError> {
        subscription.require(
            crate::actions::REENCRYPT,
            &crate::actions::account_scope(subscription.id(), resource_group, name),
        )?;
        let found = self
            .load(&subscription.id(), resource_group, name)
            .await?
            .filter(|f| !f.value.is_deleted())
            .ok_or_else(|| AccountError::AccountNotFound {
                name: name.to_owned(),
                resource_group: resource_group.to_owned(),
            })?;
        let account_key = found.value.store_key();
        let mut account = found.value;
        if let Some(job) = self.job(&account.internal_id).await?
            && job.state == JobState::Running
            && self.job_is_active(&account.internal_id)
        {
            return Ok(job);
        }
        // The current key must be reachable: the new data key is wrapped like it.
        let access = self.open_content(account.clone()).await?;
        if account.retired_data_keys.is_empty() {
            let (_, bytes) = cmk_crypto::data_key::DataKey::generate()?;
            let version = account.data_key_version + 1;
            let wrapped = self.wrap_like_current(&account, version, &bytes).await?;
            account.retired_data_keys.push(RetiredDataKey {
                version: account.data_key_version,
                wrapped: std::mem::replace(&mut account.data_key, wrapped),
            });
            account.data_key_version = version;
            account.updated = self.clock().now();
            self.store()
                .commit(vec![records::replace(account_key.clone(), &account, found.revision)?])
                .await?;
            let unwrapped = crate::encryption::UnwrappedDataKey::from_bytes(bytes)?;
            self.remember_key(&account, std::sync::Arc::new(unwrapped));
            tracing::info!(account = %account.resource_id(), version, "new data key; re-encrypting content");
        }
        drop(access);
        let objects_total = records::scan::<ContentObject>(
            self.store(),
            &keys::objects(&account.internal_id),
            |o: &ContentObject| o.data_key_version < account.data_key_version,
        )
        .await?
        .len() as u64;
        let job = ReencryptionJob {
            internal_id: account.internal_id.clone(),
            account_key,
            target_version: account.data_key_version,
            state: JobState::Running,
            objects_total,
            objects_done: 0,
            bytes_done: 0,
            started: self.clock().now(),
            finished: None,
        };
        self.store()
            .commit(vec![records::upsert(keys::job(&account.internal_id), &job)?])
            .await?;
        self.spawn_job(job.clone());
        Ok(job)
    }

    /// The account's latest re-encryption job.
    pub async fn reencryption_status(
        &self,
        subscription: &AuthorizedSubscription,
        resource_group: &str,
        name: &str,
    ) -> Result<ReencryptionJob, AccountError> {
        let account = self.get(subscription, resource_group, name).await?;
        self.job(&account.internal_id)
            .await?
            .ok_or_else(|| AccountError::NoReencryption(name.to_owned()))
    }

    async fn job(&self, internal_id: &str) -> Result<Option<ReencryptionJob>, AccountError> {
        Ok(records::get::<ReencryptionJob>(self.store(), &keys::job(internal_id))
            .await?
            .map(|v| v.value))
    }

    fn job_is_active(&self, internal_id: &str) -> bool {
        self.inner
            .active_jobs
            .lock()
            .map(|jobs| jobs.contains(internal_id))
            .unwrap_or(false)
    }

    /// Resumes the jobs that were running when the server stopped.
    pub async fn resume_reencryptions(&self) -> Result<usize, AccountError> {
        let jobs = records::scan::<ReencryptionJob>(self.store(), keys::JOBS, |j: &ReencryptionJob| {
            j.state == JobState::Running
        })
        .await?;
        let count = jobs.len();
        for job in jobs {
            if !self.job_is_active(&job.internal_id) {
                self.spawn_job(job);
            }
        }
        Ok(count)
    }

    fn spawn_job(&self, job: ReencryptionJob) {
        if let Ok(mut active) = self.inner.active_jobs.lock()
            && !active.insert(job.internal_id.clone())
        {
            return;
        }
        let accounts = self.clone();
        tokio::spawn(async move {
            let internal_id = job.internal_id.clone();
            let outcome = accounts.run_job(job.clone()).await;
            let mut finished = match records::get::<ReencryptionJob>(accounts.store(), &keys::job(&internal_id)).await {
                Ok(Some(current)) => current.value,
                _ => job,
            };
            finished.state = match outcome {
                Ok(()) => JobState::Succeeded,
                Err(e) => {
                    tracing::warn!(account = internal_id, error = %e, "re-encryption stopped");
                    JobState::Failed { message: e.to_string() }
                }
            };
            finished.finished = Some(accounts.clock().now());
            if let Ok(write) = records::upsert(keys::job(&internal_id), &finished) {
                let _ = accounts.store().commit(vec![write]).await;
            }
            if let Ok(mut active) = accounts.inner.active_jobs.lock() {
                active.remove(&internal_id);
            }
        });
    }

    async fn current_account(&self, account_key: &str) -> Result<Account, AccountError> {
        records::get::<Account>(self.store(), account_key)
            .await?
            .map(|v| v.value)
            .filter(|a| !a.is_deleted())
            .ok_or_else(|| AccountError::Conflict(account_key.to_owned()))
    }

    async fn run_job(&self, mut job: ReencryptionJob) -> Result<(), AccountError> {
        let objects_prefix = keys::objects(&job.internal_id);
        let mut cursor: Option<String> = None;
        loop {
            let entries = self.store().list(&objects_prefix, cursor.as_deref(), PAGE).await?;
            let exhausted = entries.len() < PAGE;
            for entry in &entries {
                let object: ContentObject =
                    serde_json::from_slice(&entry.value).map_err(|_| AccountError::Corrupt(entry.key.clone()))?;
                if object.data_key_version >= job.target_version {
                    continue;
                }
                // Read the account each time: a revocation stops the job at the next object.
                let account = self.current_account(&job.account_key).await?;
                let access = self.open_content(account).await?;
                match self.reencrypt_object(&access, &object).await {
                    Ok(bytes) => {
                        job.objects_done += 1;
                        job.bytes_done += bytes;
                    }
                    // Replaced or deleted meanwhile: the new version is already under the new key.
                    Err(AccountError::Conflict(_)) | Err(AccountError::ContentNotFound(_)) => {
                        job.objects_done += 1;
                    }
                    Err(e) => return Err(e),
                }
                self.store()
                    .commit(vec![records::upsert(keys::job(&job.internal_id), &job)?])
                    .await?;
            }
            match entries.last() {
                Some(last) if !exhausted => cursor = Some(last.key.clone()),
                _ => break,
            }
        }
        self.retire_old_keys(&job).await
    }

    async fn reencrypt_object(
        &self,
        access: &crate::encryption::ContentAccess,
        object: &ContentObject,
    ) -> Result<u64, AccountError> {
        let mut download = self.download(access, &object.name).await?;
        if download.object().object_id != object.object_id {
            return Err(AccountError::Conflict(object.name.clone()));
        }
        let mut upload = self
            .begin_upload(access, &object.name, &object.content_type)
            .await?
            .replacing(object);
        loop {
            match download.next_chunk().await {
                Ok(Some(chunk)) => {
                    if let Err(e) = upload.write(&chunk).await {
                        let _ = upload.abort().await;
                        return Err(e);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = upload.abort().await;
                    return Err(e);
                }
            }
        }
        upload.finish().await?;
        Ok(object.size)
    }

    /// Drops the retired data keys once no object uses them.
    async fn retire_old_keys(&self, job: &ReencryptionJob) -> Result<(), AccountError> {
        let still_old =
            records::scan::<ContentObject>(self.store(), &keys::objects(&job.internal_id), |o: &ContentObject| {
                o.data_key_version < job.target_version
            })
            .await?;
        if !still_old.is_empty() {
            return Err(AccountError::Conflict(format!(
                "{} objects still use an earlier data key",
                still_old.len()
            )));
        }
        let dropped = self
            .update_stored(&job.account_key, |account| {
                account.retired_data_keys.retain(|k| k.version >= job.target_version);
                true
            })
            .await?;
        if let Some(account) = dropped {
            tracing::info!(account = %account.resource_id(), "content re-encrypted; earlier data keys dropped");
        }
        Ok(())
    }
}
