//! The managed identity endpoints (App Service and IMDS protocols): their token answers and refusals.
//!
//! Both protocols write every number as text (`"expires_on": "1700003600"`), unlike the directory's v2.0
//! token endpoint; the types hold seconds as `i64` and [`seconds_text`] keeps them text on the wire.

use std::fmt;

use cmk_crypto::SecretString;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::token::{expose, secret};

/// The answer of the App Service protocol (`IDENTITY_ENDPOINT`, `api-version=2019-08-01`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppServiceToken {
    #[serde(serialize_with = "expose", deserialize_with = "secret")]
    pub access_token: SecretString,
    /// Unix seconds, as text.
    #[serde(with = "seconds_text")]
    pub expires_on: i64,
    /// The resource the token is for, as requested.
    pub resource: String,
    pub token_type: String,
    pub client_id: String,
}

/// The answer of IMDS (`/metadata/identity/oauth2/token`), which also says how long the token lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImdsToken {
    #[serde(serialize_with = "expose", deserialize_with = "secret")]
    pub access_token: SecretString,
    /// Always empty: a managed identity asks again rather than refreshing.
    #[serde(default)]
    pub refresh_token: String,
    /// Seconds, as text.
    #[serde(with = "seconds_text")]
    pub expires_in: i64,
    /// Unix seconds, as text.
    #[serde(with = "seconds_text")]
    pub expires_on: i64,
    /// Seconds, as text.
    #[serde(with = "seconds_text")]
    pub ext_expires_in: i64,
    /// Unix seconds, as text.
    #[serde(with = "seconds_text")]
    pub not_before: i64,
    pub resource: String,
    pub token_type: String,
    pub client_id: String,
}

/// The token type both protocols hand out.
pub const BEARER: &str = "Bearer";

/// A refusal of the App Service protocol: MSAL reads `statusCode` (a number) and `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppServiceError {
    pub status_code: u16,
    pub message: String,
}

/// A refusal of IMDS: an OAuth code and its description, without the directory's `error_codes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImdsError {
    pub error: String,
    pub error_description: String,
}

/// Seconds written as decimal text; read from text or, leniently, from a number.
pub mod seconds_text {
    use super::*;

    pub fn serialize<S: Serializer>(seconds: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(seconds)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        struct Seconds;
        impl Visitor<'_> for Seconds {
            type Value = i64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("seconds, as text or a number")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<i64, E> {
                text.parse()
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(text), &self))
            }
            fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<i64, E> {
                Ok(seconds)
            }
            fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<i64, E> {
                i64::try_from(seconds).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(seconds), &self))
            }
        }
        deserializer.deserialize_any(Seconds)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;
    use crate::tests::round_trip;

    #[test]
    fn an_app_service_token_writes_expires_on_as_text() {
        let wire = json!({
            "access_token": "eyJ0eXAi.x.y",
            "expires_on": "1700003600",
            "resource": "https://vault.azure.net",
            "token_type": "Bearer",
            "client_id": "0a1b2c3d-0000-4000-8000-000000000001"
        });
        let token: AppServiceToken = round_trip(&wire);
        assert_eq!(token.expires_on, 1_700_003_600);
        assert_eq!(token.access_token.expose(), "eyJ0eXAi.x.y");
        assert!(!format!("{token:?}").contains("eyJ0eXAi"));
    }

    #[test]
    fn an_imds_token_writes_every_number_as_text() {
        let wire = json!({
            "access_token": "eyJ0eXAi.x.y",
            "refresh_token": "",
            "expires_in": "3600",
            "expires_on": "1700003600",
            "ext_expires_in": "3600",
            "not_before": "1700000000",
            "resource": "https://management.azure.com/",
            "token_type": "Bearer",
            "client_id": "0a1b2c3d-0000-4000-8000-000000000001"
        });
        let token: ImdsToken = round_trip(&wire);
        assert_eq!((token.expires_in, token.not_before), (3600, 1_700_000_000));
    }

    #[test]
    fn seconds_are_read_from_a_number_too_but_not_from_other_text() {
        let token: AppServiceToken = serde_json::from_value(json!({
            "access_token": "t", "expires_on": 1_700_003_600, "resource": "r", "token_type": "Bearer",
            "client_id": "c"
        }))
        .unwrap();
        assert_eq!(token.expires_on, 1_700_003_600);
        assert!(
            serde_json::from_value::<AppServiceToken>(json!({
                "access_token": "t", "expires_on": "soon", "resource": "r", "token_type": "Bearer",
                "client_id": "c"
            }))
            .is_err()
        );
    }

    #[test]
    fn refusals_keep_their_protocol_shapes() {
        let _: AppServiceError = round_trip(&json!({ "statusCode": 400, "message": "no" }));
        let _: ImdsError = round_trip(&json!({ "error": "invalid_request", "error_description": "no" }));
    }
}
