//! What every ARM resource and list shares: `systemData`, and the page of a list.

use serde::{Deserialize, Serialize};

/// `systemData` of a resource: when it was created and last changed, RFC 3339.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SystemData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_at: Option<String>,
}

/// One page of a list. ARM leaves `nextLink` out on the last page (unlike Key Vault's data plane, which writes
/// `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResult<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

impl<T> ListResult<T> {
    /// A single, last page.
    pub fn last(value: Vec<T>) -> Self {
        ListResult { value, next_link: None }
    }
}
