//! The audit log: one record per vault operation, management and data plane, allowed or refused.
//!
//! A record says who (tenant, object id, application id), when, what (operation, vault, key, version), under
//! which request id, and with which result; never a payload, a key or a token. Records reach the store in
//! batches written by a background task (one commit per batch rather than one per request, so auditing does
//! not halve the throughput of unwraps); a crash can lose at most the last batch interval of records.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cmk_core::Timestamp;
use cmk_store::records;
use cmk_store::{Store, Write};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::VaultError;

/// How often the writer commits what has arrived, and how many records one commit takes at most.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
const MAX_BATCH: usize = 1000;
/// Records waiting beyond this are dropped with a warning rather than growing memory without bound.
const QUEUE: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditCaller {
    pub tenant_id: String,
    pub object_id: String,
    pub client_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub time: Timestamp,
    pub request_id: String,
    /// Absent when the request carried no valid token.
    pub caller: Option<AuditCaller>,
    pub operation: String,
    pub vault: String,
    pub key: Option<String>,
    pub version: Option<String>,
    /// The HTTP status of the answer.
    pub status: u16,
}

/// Where records go. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    sender: mpsc::Sender<AuditRecord>,
    store: Arc<dyn Store>,
    /// Distinguishes records of the same second; with the node id it keeps keys unique across nodes.
    sequence: Arc<AtomicU64>,
    node: Arc<str>,
}

fn prefix(vault: &str) -> String {
    format!("audit/{}/", vault.to_ascii_lowercase())
}

impl AuditLog {
    /// Starts the background writer.
    pub fn start(store: Arc<dyn Store>) -> Result<Self, VaultError> {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let node: Arc<str> = cmk_crypto::random::random_hex_id().map_err(VaultError::Crypto)?[..8].into();
        let log = Self {
            sender,
            store: store.clone(),
            sequence: Arc::new(AtomicU64::new(0)),
            node,
        };
        tokio::spawn(write_batches(log.clone(), receiver));
        Ok(log)
    }

    /// Queues a record; never waits.
    pub fn record(&self, record: AuditRecord) {
        if self.sender.try_send(record).is_err() {
            tracing::warn!("the audit queue is full; a record was dropped");
        }
    }

    fn key_of(&self, record: &AuditRecord) -> String {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!(
            "{}{:012}.{}.{sequence:012}",
            prefix(&record.vault),
            record.time.unix_seconds().max(0),
            self.node
        )
    }

    /// Records of `vault` from `from` (inclusive) to `to` (exclusive), oldest first, at most `limit`.
    pub async fn query(
        &self,
        vault: &str,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, VaultError> {
        let prefix = prefix(vault);
        // Keys sort by time: start just before the first second wanted.
        let start = from.map(|t| format!("{prefix}{:012}", t.unix_seconds().max(0)));
        let mut found = Vec::new();
        let mut cursor = start;
        loop {
            let (page, next) =
                records::list::<AuditRecord>(self.store.as_ref(), &prefix, cursor.as_deref(), 500).await?;
            for record in page {
                if to.is_some_and(|to| record.time >= to) || found.len() >= limit {
                    return Ok(found);
                }
                found.push(record);
            }
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(found),
            }
        }
    }
}

async fn write_batches(log: AuditLog, mut receiver: mpsc::Receiver<AuditRecord>) {
    let mut batch = Vec::new();
    loop {
        let Some(first) = receiver.recv().await else { return };
        batch.push(first);
        let deadline = tokio::time::sleep(FLUSH_INTERVAL);
        tokio::pin!(deadline);
        while batch.len() < MAX_BATCH {
            tokio::select! {
                record = receiver.recv() => match record {
                    Some(record) => batch.push(record),
                    None => break,
                },
                _ = &mut deadline => break,
            }
        }
        let writes: Vec<Write> = batch
            .drain(..)
            .filter_map(|record| records::create(log.key_of(&record), &record).ok())
            .collect();
        if writes.is_empty() {
            continue;
        }
        if let Err(e) = log.store.commit(writes).await {
            tracing::error!(error = %e, "writing audit records failed");
        }
    }
}
