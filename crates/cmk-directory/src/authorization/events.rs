//! Changes to who may do what, published as they are committed, so that consumers (the account service's key
//! monitor) re-check at once what they rely on, as they do on vault change events.

use crate::model::ObjectId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationEvent {
    /// A role assignment of this principal was made or removed (or the principal was deleted with them).
    AssignmentsChanged { principal: ObjectId },
    /// A custom role changed: any principal's permissions may have.
    RolesChanged,
}

/// How many events a slow subscriber may fall behind before it is told it missed some.
const CAPACITY: usize = 1024;

pub(crate) struct AuthorizationEvents {
    sender: tokio::sync::broadcast::Sender<AuthorizationEvent>,
}

impl Default for AuthorizationEvents {
    fn default() -> Self {
        Self {
            sender: tokio::sync::broadcast::channel(CAPACITY).0,
        }
    }
}

impl AuthorizationEvents {
    pub fn publish(&self, event: AuthorizationEvent) {
        // Nobody listening is fine: the event matters only to subscribers.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<AuthorizationEvent> {
        self.sender.subscribe()
    }
}
