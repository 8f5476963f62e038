//! The encrypted content store. An object is split into chunks of [`CHUNK_SIZE`] bytes, each sealed with
//! AES-256-GCM under the account's data key; the authenticated data binds the account, the object, the
//! data-key version, the chunk's index and whether it is the last, so chunks cannot be swapped, reordered or
//! cut off. Uploads and downloads hold one chunk in memory at a time.
//!
//! An upload writes its chunks under a fresh object id and makes the object visible in one final write, so a
//! reader sees the old content or the new, never a mix. Chunks that no object points to (an interrupted upload,
//! a replaced or deleted object) are listed as pending and deleted, at once or by [`Accounts::sweep_pending`].

use std::sync::Arc;

use cmk_store::{Expect, Write, records};

use crate::encryption::{ContentAccess, UnwrappedDataKey};
use crate::model::{ContentObject, PendingChunks, keys};
use crate::{AccountError, Accounts};

pub const CHUNK_SIZE: usize = 1 << 20;
/// Longest object name, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest object name once percent-encoded: the store key (at most 512 bytes) also holds the account's prefix.
const MAX_ENCODED_NAME: usize = 450;
/// An interrupted upload's chunks are deleted after this long.
const ABANDONED_UPLOAD_SECONDS: i64 = 24 * 3600;
/// Deletes per commit when removing chunks.
const DELETE_BATCH: usize = 256;

fn chunk_aad(internal_id: &str, object_id: &str, data_key_version: u32, index: u64, last: bool) -> Vec<u8> {
    format!(
        "cmk content v1:{internal_id}:{object_id}:{data_key_version}:{index}:{}",
        u8::from(last)
    )
    .into_bytes()
}

/// Object names as store keys: printable ASCII, order kept for prefixes. Letters, digits and `-_./~` stay as
/// they are; every other byte is percent-encoded.
fn encode_object_name(name: &str) -> Result<String, AccountError> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(AccountError::InvalidContentName(format!(
            "a name has 1 to {MAX_NAME_CHARS} characters, this one has {chars}"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(AccountError::InvalidContentName(
            "a name cannot contain control characters".into(),
        ));
    }
    let encoded = encode_prefix(name);
    if encoded.len() > MAX_ENCODED_NAME {
        return Err(AccountError::InvalidContentName(format!(
            "the name is too long: characters other than letters, digits and '-_./~' take 3 bytes per UTF-8 byte, and a name may take at most {MAX_ENCODED_NAME} bytes that way"
        )));
    }
    Ok(encoded)
}

fn encode_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for b in prefix.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An upload in progress. Call [`Upload::finish`] to make it visible, or [`Upload::abort`] to drop it.
pub struct Upload {
    accounts: Accounts,
    key: Arc<UnwrappedDataKey>,
    internal_id: String,
    data_key_version: u32,
    name: String,
    encoded_name: String,
    content_type: String,
    object_id: String,
    buffer: Vec<u8>,
    next_index: u64,
    size: u64,
    /// Set by a re-encryption: replace only this very upload of the object (never a newer one), keeping its
    /// etag and times, since its content does not change.
    replaces: Option<ContentObject>,
}

/// A download: the object's chunks, decrypted one at a time.
pub struct Download {
    accounts: Accounts,
    key: Arc<UnwrappedDataKey>,
    internal_id: String,
    object: ContentObject,
    next_index: u64,
}

impl Accounts {
    pub async fn begin_upload(
        &self,
        access: &ContentAccess,
        name: &str,
        content_type: &str,
    ) -> Result<Upload, AccountError> {
        let encoded_name = encode_object_name(name)?;
        let internal_id = access.account.internal_id.clone();
        let object_id = cmk_crypto::random::random_hex_id()?;
        let marker = PendingChunks {
            internal_id: internal_id.clone(),
            object_id: object_id.clone(),
            since: self.clock().now(),
            upload: true,
        };
        self.store()
            .commit(vec![records::create(keys::pending(&internal_id, &object_id), &marker)?])
            .await?;
        Ok(Upload {
            accounts: self.clone(),
            key: access.key.clone(),
            data_key_version: access.account.data_key_version,
            internal_id,
            name: name.to_owned(),
            encoded_name,
            content_type: content_type.to_owned(),
            object_id,
            buffer: Vec::with_capacity(CHUNK_SIZE),
            next_index: 0,
            size: 0,
            replaces: None,
        })
    }

    async fn find_object(
        &self,
        internal_id: &str,
        name: &str,
    ) -> Result<records::Versioned<ContentObject>, AccountError> {
        let encoded = encode_object_name(name)?;
        records::get::<ContentObject>(self.store(), &keys::object(internal_id, &encoded))
            .await?
            .ok_or_else(|| AccountError::ContentNotFound(name.to_owned()))
    }

    pub async fn head_object(&self, access: &ContentAccess, name: &str) -> Result<ContentObject, AccountError> {
        Ok(self.find_object(&access.account.internal_id, name).await?.value)
    }

    pub async fn download(&self, access: &ContentAccess, name: &str) -> Result<Download, AccountError> {
        let object = self.find_object(&access.account.internal_id, name).await?.value;
        let key = self.key_for_version(access, object.data_key_version).await?;
        Ok(Download {
            accounts: self.clone(),
            key,
            internal_id: access.account.internal_id.clone(),
            object,
            next_index: 0,
        })
    }

    pub async fn delete_object(&self, access: &ContentAccess, name: &str) -> Result<(), AccountError> {
        let internal_id = &access.account.internal_id;
        let found = self.find_object(internal_id, name).await?;
        let marker = PendingChunks {
            internal_id: internal_id.clone(),
            object_id: found.value.object_id.clone(),
            since: self.clock().now(),
            upload: false,
        };
        self.store()
            .commit(vec![
                Write::Delete {
                    key: keys::object(internal_id, &encode_object_name(name)?),
                    expect: Expect::Revision(found.revision),
                },
                records::upsert(keys::pending(internal_id, &found.value.object_id), &marker)?,
            ])
            .await?;
        self.delete_chunks(internal_id, &found.value.object_id).await
    }

    /// A page of objects whose names start with `prefix`, in name order, and the continuation if more follow.
    pub async fn list_objects(
        &self,
        access: &ContentAccess,
        prefix: &str,
        continuation: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ContentObject>, Option<String>), AccountError> {
        let internal_id = &access.account.internal_id;
        let list_prefix = format!("{}{}", keys::objects(internal_id), encode_prefix(prefix));
        let start_after = match continuation {
            Some(token) => {
                let decoded = cmk_crypto::encoding::b64url_decode(token)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|k| k.starts_with(&list_prefix))
                    .ok_or_else(|| AccountError::InvalidArgument {
                        field: "continuation",
                        reason: "the continuation token is not one this listing produced".into(),
                    })?;
                Some(decoded)
            }
            None => None,
        };
        let entries = self
            .store()
            .list(&list_prefix, start_after.as_deref(), limit.saturating_add(1))
            .await?;
        let more = entries.len() > limit;
        let mut objects = Vec::with_capacity(limit.min(entries.len()));
        let mut last_key = None;
        for entry in entries.into_iter().take(limit) {
            let object: ContentObject =
                serde_json::from_slice(&entry.value).map_err(|_| AccountError::Corrupt(entry.key.clone()))?;
            last_key = Some(entry.key);
            objects.push(object);
        }
        let next = if more {
            last_key.map(cmk_crypto::encoding::b64url_encode)
        } else {
            None
        };
        Ok((objects, next))
    }

    /// Deletes every key under `prefix`, a batch per commit.
    async fn delete_prefix(&self, prefix: &str) -> Result<(), AccountError> {
        loop {
            let entries = self.store().list(prefix, None, DELETE_BATCH).await?;
            if entries.is_empty() {
                return Ok(());
            }
            let writes = entries
                .into_iter()
                .map(|e| Write::Delete {
                    key: e.key,
                    expect: Expect::Any,
                })
                .collect();
            self.store().commit(writes).await?;
        }
    }

    async fn delete_chunks(&self, internal_id: &str, object_id: &str) -> Result<(), AccountError> {
        self.delete_prefix(&keys::chunks(internal_id, object_id)).await?;
        self.store()
            .commit(vec![Write::Delete {
                key: keys::pending(internal_id, object_id),
                expect: Expect::Any,
            }])
            .await?;
        Ok(())
    }

    /// Deletes every stored byte of an account (when it is purged).
    pub(crate) async fn delete_all_content(&self, internal_id: &str) -> Result<(), AccountError> {
        self.delete_prefix(&keys::content(internal_id)).await?;
        self.delete_prefix(&keys::pending_of(internal_id)).await
    }

    /// Deletes chunks no object points to: of replaced or deleted objects, and of uploads abandoned for a day.
    pub async fn sweep_pending(&self) -> Result<usize, AccountError> {
        let now = self.clock().now();
        let mut swept = 0;
        for found in records::scan::<PendingChunks>(self.store(), keys::PENDING, |_| true).await? {
            let marker = found;
            if marker.upload && marker.since.plus_seconds(ABANDONED_UPLOAD_SECONDS) > now {
                continue;
            }
            self.delete_chunks(&marker.internal_id, &marker.object_id).await?;
            swept += 1;
        }
        Ok(swept)
    }
}

impl Upload {
    /// Adds bytes; every full chunk is sealed and stored as it fills.
    pub async fn write(&mut self, mut bytes: &[u8]) -> Result<(), AccountError> {
        let limit = self.accounts.inner.config.max_object_bytes;
        self.size = self.size.saturating_add(bytes.len() as u64);
        if self.size > limit {
            return Err(AccountError::ContentTooLarge { limit });
        }
        while !bytes.is_empty() {
            // A full buffer is sealed only once more bytes arrive: the last chunk must be known to be last.
            if self.buffer.len() == CHUNK_SIZE {
                self.store_chunk(false).await?;
            }
            let take = (CHUNK_SIZE - self.buffer.len()).min(bytes.len());
            self.buffer.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        Ok(())
    }

    async fn store_chunk(&mut self, last: bool) -> Result<(), AccountError> {
        let aad = chunk_aad(
            &self.internal_id,
            &self.object_id,
            self.data_key_version,
            self.next_index,
            last,
        );
        let sealed = self.key.key.seal(&aad, &self.buffer)?;
        self.buffer.clear();
        self.accounts
            .store()
            .commit(vec![Write::create(
                keys::chunk(&self.internal_id, &self.object_id, self.next_index),
                sealed,
            )])
            .await?;
        self.next_index += 1;
        Ok(())
    }

    /// Stores the last chunk and makes the object visible, replacing an object of the same name. Returns the
    /// object and whether it is new.
    pub async fn finish(mut self) -> Result<(ContentObject, bool), AccountError> {
        let aad = chunk_aad(
            &self.internal_id,
            &self.object_id,
            self.data_key_version,
            self.next_index,
            true,
        );
        let last_chunk = self.key.key.seal(&aad, &self.buffer)?;
        self.buffer = Vec::new();
        let accounts = self.accounts.clone();
        let object_key = keys::object(&self.internal_id, &self.encoded_name);
        let previous = records::get::<ContentObject>(accounts.store(), &object_key).await?;
        if let Some(expected) = &self.replaces
            && previous.as_ref().map(|p| &p.value.object_id) != Some(&expected.object_id)
        {
            accounts.delete_chunks(&self.internal_id, &self.object_id).await?;
            return Err(AccountError::Conflict(object_key));
        }
        let now = accounts.clock().now();
        let object = ContentObject {
            name: self.name.clone(),
            object_id: self.object_id.clone(),
            size: self.size,
            content_type: self.content_type.clone(),
            chunk_count: self.next_index + 1,
            data_key_version: self.data_key_version,
            etag: match &self.replaces {
                Some(same_content) => same_content.etag.clone(),
                None => format!(
                    "\"0x{}\"",
                    cmk_crypto::random::random_hex_id()?[..16].to_ascii_uppercase()
                ),
            },
            created: previous.as_ref().map_or(now, |p| p.value.created),
            last_modified: self.replaces.as_ref().map_or(now, |o| o.last_modified),
        };
        let mut writes = vec![
            Write::create(
                keys::chunk(&self.internal_id, &self.object_id, self.next_index),
                last_chunk,
            ),
            Write::Delete {
                key: keys::pending(&self.internal_id, &self.object_id),
                expect: Expect::Any,
            },
        ];
        match &previous {
            Some(old) => {
                writes.push(records::replace(object_key, &object, old.revision)?);
                writes.push(records::upsert(
                    keys::pending(&self.internal_id, &old.value.object_id),
                    &PendingChunks {
                        internal_id: self.internal_id.clone(),
                        object_id: old.value.object_id.clone(),
                        since: now,
                        upload: false,
                    },
                )?);
            }
            None => writes.push(records::create(object_key, &object)?),
        }
        accounts.store().commit(writes).await?;
        if let Some(old) = &previous {
            accounts.delete_chunks(&self.internal_id, &old.value.object_id).await?;
        }
        Ok((object, previous.is_none()))
    }

    /// Makes [`Upload::finish`] replace only `object` as it is stored now, keeping its etag and times.
    pub(crate) fn replacing(mut self, object: &ContentObject) -> Self {
        self.replaces = Some(object.clone());
        self
    }

    /// Drops what was stored so far.
    pub async fn abort(self) -> Result<(), AccountError> {
        self.accounts.delete_chunks(&self.internal_id, &self.object_id).await
    }
}

impl Download {
    pub fn object(&self) -> &ContentObject {
        &self.object
    }

    /// The next chunk of plaintext, or `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, AccountError> {
        if self.next_index >= self.object.chunk_count {
            return Ok(None);
        }
        let index = self.next_index;
        let key = keys::chunk(&self.internal_id, &self.object.object_id, index);
        let entry = self
            .accounts
            .store()
            .get(&key)
            .await?
            .ok_or_else(|| AccountError::Corrupt(key.clone()))?;
        let last = index + 1 == self.object.chunk_count;
        let aad = chunk_aad(
            &self.internal_id,
            &self.object.object_id,
            self.object.data_key_version,
            index,
            last,
        );
        let plain = self
            .key
            .key
            .open(&aad, entry.value)
            .map_err(|_| AccountError::Corrupt(key))?;
        self.next_index += 1;
        Ok(Some(plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_keep_their_order_and_prefixes_as_store_keys() {
        assert_eq!(encode_object_name("docs/a.txt").ok().as_deref(), Some("docs/a.txt"));
        assert_eq!(encode_object_name("a b%").ok().as_deref(), Some("a%20b%25"));
        assert_eq!(encode_object_name("é").ok().as_deref(), Some("%C3%A9"));
        assert!(encode_object_name("").is_err());
        assert!(encode_object_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(encode_object_name("a\nb").is_err());
        assert!(matches!(
            encode_object_name(&"é".repeat(MAX_NAME_CHARS)),
            Err(AccountError::InvalidContentName(_))
        ));
        let longest = encode_object_name(&"é".repeat(MAX_ENCODED_NAME / 6)).unwrap_or_default();
        assert!(longest.len() + "content/0123456789abcdef0123456789abcdef/o/".len() <= cmk_store::MAX_KEY_LEN);
        assert!(encode_object_name(&"x".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(
            encode_object_name("docs/b")
                .unwrap_or_default()
                .starts_with(&encode_prefix("docs/"))
        );
    }

    #[test]
    fn chunk_aad_binds_position_and_end() {
        assert_ne!(chunk_aad("a", "o", 1, 0, false), chunk_aad("a", "o", 1, 1, false));
        assert_ne!(chunk_aad("a", "o", 1, 0, false), chunk_aad("a", "o", 1, 0, true));
        assert_ne!(chunk_aad("a", "o", 1, 0, false), chunk_aad("a", "o", 2, 0, false));
    }
}
