//! Change events: everything that can change what a consumer of a key may do (a new version, a key enabled or
//! disabled, deleted, recovered or purged; access policies changed; a vault deleted, recovered or purged) is
//! published as it is committed, so a consumer can re-check its access at once instead of waiting for a poll.
//!
//! The stream is in-process, behind [`VaultEvents`]. Changes other nodes sharing the store committed arrive by
//! the store's change feed and are relayed into the same stream ([`crate::Vaults::relay_changes`]), so a consumer
//! hears of a change wherever it was made. A subscriber that falls behind loses events (and learns so from the
//! channel), which is why consumers keep polling as the fallback.

use tokio::sync::broadcast;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultEvent {
    /// A key got a new version (create, import, rotate, restore).
    KeyVersionCreated {
        vault: String,
        key: String,
        version: String,
    },
    /// A version's attributes, operations or tags changed (enabled or disabled among them).
    KeyUpdated {
        vault: String,
        key: String,
        version: String,
    },
    KeyDeleted {
        vault: String,
        key: String,
    },
    KeyRecovered {
        vault: String,
        key: String,
    },
    KeyPurged {
        vault: String,
        key: String,
    },
    /// The vault's settings or access policies changed.
    VaultUpdated {
        vault: String,
    },
    VaultDeleted {
        vault: String,
    },
    VaultRecovered {
        vault: String,
    },
    VaultPurged {
        vault: String,
    },
    /// Another process sharing the store changed the vault or one of its keys (told by the change feed, which
    /// names the records, not the operation).
    ChangedElsewhere {
        vault: String,
    },
}

impl VaultEvent {
    /// The vault the event concerns (lower case).
    pub fn vault(&self) -> &str {
        match self {
            VaultEvent::KeyVersionCreated { vault, .. }
            | VaultEvent::KeyUpdated { vault, .. }
            | VaultEvent::KeyDeleted { vault, .. }
            | VaultEvent::KeyRecovered { vault, .. }
            | VaultEvent::KeyPurged { vault, .. }
            | VaultEvent::VaultUpdated { vault }
            | VaultEvent::VaultDeleted { vault }
            | VaultEvent::VaultRecovered { vault }
            | VaultEvent::VaultPurged { vault }
            | VaultEvent::ChangedElsewhere { vault } => vault,
        }
    }
}

/// Where events go and where consumers listen.
pub trait VaultEvents: Send + Sync + 'static {
    fn publish(&self, event: VaultEvent);
    fn subscribe(&self) -> broadcast::Receiver<VaultEvent>;
}

/// Events within one process.
pub struct InProcessEvents {
    sender: broadcast::Sender<VaultEvent>,
}

impl Default for InProcessEvents {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(4096).0,
        }
    }
}

impl VaultEvents for InProcessEvents {
    fn publish(&self, event: VaultEvent) {
        // No subscriber is not an error: nobody needs to know yet.
        let _ = self.sender.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<VaultEvent> {
        self.sender.subscribe()
    }
}

/// The vault whose records a store key belongs to (lower case), if it is a vault or key record.
pub fn vault_of_store_key(key: &str) -> Option<&str> {
    [
        crate::model::keys::VAULTS,
        "vault/keys/",
        "vault/key-material/",
        "vault/rotation-policies/",
    ]
    .iter()
    .find_map(|prefix| key.strip_prefix(prefix))
    .and_then(|rest| rest.split('/').next())
    .filter(|vault| !vault.is_empty())
}

#[cfg(test)]
mod tests {
    use super::vault_of_store_key;

    #[test]
    fn store_keys_name_their_vault() {
        assert_eq!(vault_of_store_key("vault/vaults/kv1"), Some("kv1"));
        assert_eq!(vault_of_store_key("vault/keys/kv1/cmk"), Some("kv1"));
        assert_eq!(vault_of_store_key("vault/key-material/kv1/cmk/abc"), Some("kv1"));
        assert_eq!(vault_of_store_key("vault/audit/kv1/0001"), None);
        assert_eq!(vault_of_store_key("accounts/x"), None);
        assert_eq!(vault_of_store_key("vault/vaults/"), None);
    }
}
