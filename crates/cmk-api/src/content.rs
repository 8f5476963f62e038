//! The account data plane's content answers (`/content/{name}` and the content list).

use serde::{Deserialize, Serialize};

use crate::arm::ListResult;

/// What is known of one stored object; never its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentObject {
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub etag: String,
    /// RFC 3339.
    pub last_modified: String,
}

/// A page of objects; `nextLink` only when more follow.
pub type ContentList = ListResult<ContentObject>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;
    use crate::tests::round_trip;

    #[test]
    fn a_content_page_round_trips_with_and_without_a_next_link() {
        let object = json!({
            "name": "reports/q3.txt", "size": 18, "contentType": "text/plain", "etag": "\"abc\"",
            "lastModified": "2026-12-08T03:00:00Z"
        });
        round_trip::<ContentList>(&json!({"value": [object.clone()]}));
        round_trip::<ContentList>(
            &json!({"value": [object], "nextLink": "https://a.cognitiveservices.localhost/content?top=1"}),
        );
    }
}
