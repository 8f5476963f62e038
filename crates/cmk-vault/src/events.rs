//! Change events: everything that can change what a consumer of a key may do (a new version, a key enabled or
//! disabled, deleted, recovered or purged; access policies changed; a vault deleted, recovered or purged) is
//! published as it is committed, so a consumer can re-check its access at once instead of waiting for a poll.
//!
//! The stream is in-process, behind [`VaultEvents`], so a transport that crosses nodes can replace it. A
//! subscriber that falls behind loses events (and learns so from the channel), which is why consumers keep
//! polling as the fallback.

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
            | VaultEvent::VaultPurged { vault } => vault,
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
