//! Keys, versions and deleted keys, page by page.

use cmk_store::records::{self};

use super::records::{KeyRecord, Lifecycle, item, store_keys};
use super::{Deletion, KeyItem, Page};
use crate::access::{KeyAction, VaultAccess};
use crate::{VaultError, Vaults};

impl Vaults {
    /// The current version of every active key, in name order.
    pub async fn list_keys(
        &self,
        access: &VaultAccess,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page<KeyItem>, VaultError> {
        let vault = access.require(KeyAction::List, None)?;
        let mut items = Vec::new();
        let mut cursor = start_after.map(|s| store_keys::key(&vault.name, s));
        loop {
            let (batch, next) =
                records::list::<KeyRecord>(self.store(), &store_keys::keys(&vault.name), cursor.as_deref(), limit)
                    .await?;
            for record in &batch {
                if self.lifecycle(record) == Lifecycle::Active
                    && let Some(meta) = record.versions.last()
                {
                    items.push(item(vault, &record.name, meta));
                }
            }
            match next {
                Some(next) if items.len() < limit => cursor = Some(next),
                _ => break,
            }
        }
        let next = if items.len() >= limit {
            items.get(limit - 1).map(|i| i.name.to_ascii_lowercase())
        } else {
            None
        };
        items.truncate(limit);
        Ok(Page { items, next })
    }

    /// Every version of one key, oldest first; pages continue after a version id.
    pub async fn list_key_versions(
        &self,
        access: &VaultAccess,
        name: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page<KeyItem>, VaultError> {
        let vault = access.require(KeyAction::List, Some(name))?;
        let record = self.active_key(vault, name).await?.value;
        let skip = match start_after {
            Some(after) => record
                .versions
                .iter()
                .position(|m| m.version == after)
                .map_or(record.versions.len(), |i| i + 1),
            None => 0,
        };
        let items: Vec<KeyItem> = record
            .versions
            .iter()
            .skip(skip)
            .take(limit)
            .map(|m| item(vault, &record.name, m))
            .collect();
        let next = if skip + items.len() < record.versions.len() {
            items.last().map(|i| i.version.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    pub async fn list_deleted_keys(
        &self,
        access: &VaultAccess,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page<(KeyItem, Deletion)>, VaultError> {
        let vault = access.require(KeyAction::ListDeleted, None)?;
        let all = records::scan::<KeyRecord>(self.store(), &store_keys::keys(&vault.name), |r| {
            self.lifecycle(r) == Lifecycle::Deleted
        })
        .await?;
        let mut items: Vec<(KeyItem, Deletion)> = all
            .iter()
            .filter(|r| start_after.is_none_or(|after| r.name.to_ascii_lowercase().as_str() > after))
            .filter_map(|r| Some((item(vault, &r.name, r.versions.last()?), Self::deletion(r)?)))
            .collect();
        let next = if items.len() > limit {
            items.get(limit - 1).map(|(i, _)| i.name.to_ascii_lowercase())
        } else {
            None
        };
        items.truncate(limit);
        Ok(Page { items, next })
    }
}
