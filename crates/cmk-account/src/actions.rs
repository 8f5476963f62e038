//! The names Azure gives the operations of `Microsoft.CognitiveServices`: management actions on accounts, and
//! the data actions of their content (named as Azure names the files of an account, which this content is).

use cmk_directory::authorization::Scope;
use cmk_directory::model::SubscriptionId;

pub const ACCOUNT_READ: &str = "Microsoft.CognitiveServices/accounts/read";
pub const ACCOUNT_WRITE: &str = "Microsoft.CognitiveServices/accounts/write";
pub const ACCOUNT_DELETE: &str = "Microsoft.CognitiveServices/accounts/delete";
pub const LIST_KEYS: &str = "Microsoft.CognitiveServices/accounts/listKeys/action";
pub const REGENERATE_KEY: &str = "Microsoft.CognitiveServices/accounts/regenerateKey/action";
/// cmk's own: re-encrypting an account's content under a new data key. Roles that grant the provider's
/// every action (`Microsoft.CognitiveServices/*`, `*`) grant it.
pub const REENCRYPT: &str = "Microsoft.CognitiveServices/accounts/reencrypt/action";
/// cmk's own: reading the endpoint secret with which workloads get tokens as the account's managed identity.
/// Whoever holds it can act as the identity, so only roles that manage the account grant it.
pub const IDENTITY_SECRET_READ: &str = "Microsoft.CognitiveServices/accounts/identitySecret/action";
pub const DELETED_ACCOUNTS_READ: &str = "Microsoft.CognitiveServices/deletedAccounts/read";
pub const DELETED_ACCOUNT_READ: &str = "Microsoft.CognitiveServices/locations/resourceGroups/deletedAccounts/read";
pub const DELETED_ACCOUNT_PURGE: &str = "Microsoft.CognitiveServices/locations/resourceGroups/deletedAccounts/delete";

/// Data actions of the account data plane (bearer tokens; account keys grant everything, as in Azure).
pub mod data {
    pub const CONTENT_READ: &str = "Microsoft.CognitiveServices/accounts/OpenAI/files/read";
    pub const CONTENT_WRITE: &str = "Microsoft.CognitiveServices/accounts/OpenAI/files/write";
    pub const CONTENT_DELETE: &str = "Microsoft.CognitiveServices/accounts/OpenAI/files/delete";
}

/// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}`.
pub fn account_scope(subscription: SubscriptionId, resource_group: &str, name: &str) -> Scope {
    Scope::resource(
        subscription,
        resource_group,
        "Microsoft.CognitiveServices",
        &[("accounts", name)],
    )
}

/// A deleted account belongs to its subscription, location and resource group.
pub fn deleted_account_scope(subscription: SubscriptionId, location: &str, resource_group: &str, name: &str) -> Scope {
    Scope::subscription_resource(
        subscription,
        "Microsoft.CognitiveServices",
        &[
            ("locations", location),
            ("resourceGroups", resource_group),
            ("deletedAccounts", name),
        ],
    )
}
