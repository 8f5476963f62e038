//! The directory's records, as stored, and their identifiers.

use std::collections::BTreeMap;
use std::fmt;

use cmk_core::Timestamp;
use cmk_crypto::secret_hash::SecretHash;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! guid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Parses the canonical 36-character form (any letter case), as Azure writes GUIDs.
            pub fn parse(text: &str) -> Option<Self> {
                if text.len() != 36 {
                    return None;
                }
                Uuid::try_parse(text).ok().map(Self)
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            pub fn random() -> Result<Self, cmk_crypto::CryptoError> {
                cmk_crypto::random::random_uuid().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }
    };
}

guid_id!(
    /// A directory tenant.
    TenantId
);
guid_id!(
    /// A subscription.
    SubscriptionId
);
guid_id!(
    /// The object id of a principal: the id access policies name.
    ObjectId
);
guid_id!(
    /// The application (client) id a principal authenticates with.
    ClientId
);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: TenantId,
    pub display_name: String,
    pub default_domain: String,
    pub created: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubscriptionState {
    Enabled,
    Disabled,
}

impl SubscriptionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::Enabled => "Enabled",
            SubscriptionState::Disabled => "Disabled",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: SubscriptionId,
    pub tenant_id: TenantId,
    pub display_name: String,
    pub state: SubscriptionState,
    pub created: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroup {
    pub subscription_id: SubscriptionId,
    /// As the creator spelled it; lookups ignore case.
    pub name: String,
    /// Normalized (`westus2`).
    pub location: String,
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    pub created: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecret {
    pub id: Uuid,
    /// The first characters of the secret, so a person can tell secrets apart.
    pub hint: String,
    pub hash: SecretHash,
    pub created: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub tenant_id: TenantId,
    pub object_id: ObjectId,
    pub client_id: ClientId,
    pub display_name: String,
    /// Operators manage the deployment itself: tenants, subscriptions, principals, the development clock.
    pub operator: bool,
    pub secrets: Vec<ClientSecret>,
    pub created: Timestamp,
    /// Set for a managed identity: the resource it belongs to. It has no secrets; tokens are issued to the
    /// resource's workloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_identity: Option<ManagedIdentityOf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedIdentityOf {
    /// The ARM id of the resource (`/subscriptions/.../providers/Microsoft.CognitiveServices/accounts/x`), as
    /// tokens carry it in `xms_mirid`.
    pub resource_id: String,
    pub subscription_id: SubscriptionId,
}

/// A name as it appears in store keys (lower case, printable ASCII); other services key their records by
/// resource group name the same way.
pub fn encode_store_name(name: &str) -> String {
    keys::encode_name(name)
}

/// Store keys. Every key is lower case where the name it holds compares case-insensitively.
pub(crate) mod keys {
    use super::*;

    pub fn tenant(id: &TenantId) -> String {
        format!("directory/tenants/{id}")
    }

    pub const TENANTS: &str = "directory/tenants/";

    pub fn subscription(id: &SubscriptionId) -> String {
        format!("directory/subscriptions/{id}")
    }

    pub const SUBSCRIPTIONS: &str = "directory/subscriptions/";

    pub fn resource_groups(subscription: &SubscriptionId) -> String {
        format!("directory/resource-groups/{subscription}/")
    }

    pub fn resource_group(subscription: &SubscriptionId, name: &str) -> String {
        format!("{}{}", resource_groups(subscription), encode_name(name))
    }

    pub const PRINCIPALS: &str = "directory/principals/";

    pub fn principals(tenant: &TenantId) -> String {
        format!("directory/principals/{tenant}/")
    }

    pub fn principal(tenant: &TenantId, client: &ClientId) -> String {
        format!("{}{client}", principals(tenant))
    }

    /// Store keys are printable ASCII; resource names may hold other characters (ARM allows Unicode letters
    /// in resource group names). Lower-case ASCII stays readable; every other byte is percent-encoded.
    pub fn encode_name(name: &str) -> String {
        let mut out = String::with_capacity(name.len());
        for ch in name.chars().flat_map(char::to_lowercase) {
            if ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.' | '(' | ')') {
                out.push(ch);
            } else {
                let mut buf = [0u8; 4];
                for b in ch.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02x}"));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_canonical_guids_and_print_lowercase() {
        let id = TenantId::parse("72F988BF-86F1-41AF-91AB-2D7CD011DB47");
        assert_eq!(
            id.map(|i| i.to_string()).as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        assert!(TenantId::parse("72f988bf86f141af91ab2d7cd011db47").is_none());
        assert!(TenantId::parse("common").is_none());
        assert!(TenantId::parse("").is_none());
    }

    #[test]
    fn names_encode_case_insensitively_into_ascii_keys() {
        assert_eq!(keys::encode_name("My-RG_1.(x)"), "my-rg_1.(x)");
        assert_eq!(keys::encode_name("Ünïcode"), "%c3%bcn%c3%afcode");
        assert_eq!(keys::encode_name("a b"), "a%20b");
    }
}
