//! The OAuth 2.0 token answer of the directory (`/oauth2/v2.0/token` and the managed identity endpoints).

use std::fmt;

use cmk_crypto::SecretString;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A token the v2.0 endpoint hands out (the v1.0 endpoint adds fields and writes numbers as strings).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub token_type: String,
    /// Seconds.
    pub expires_in: i64,
    pub ext_expires_in: i64,
    #[serde(serialize_with = "expose", deserialize_with = "secret")]
    pub access_token: SecretString,
}

/// The OAuth 2.0 refusal of the token endpoint: `error` is the OAuth code, `error_description` starts with the
/// `AADSTS` code, as Microsoft Entra ID writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuthError {
    pub error: String,
    pub error_description: String,
    #[serde(default)]
    pub error_codes: Vec<u32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trace_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub correlation_id: String,
}

/// The one place a secret text (a bearer token, an account key) is written out: into the answer that hands it
/// to its owner.
pub(crate) fn expose<S: Serializer>(token: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(token.expose())
}

pub(crate) fn secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SecretString, D::Error> {
    struct Text;
    impl Visitor<'_> for Text {
        type Value = SecretString;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a token")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<SecretString, E> {
            Ok(SecretString::new(text.to_owned()))
        }
        // Owned text moves into the secret, so no copy is left behind.
        fn visit_string<E: de::Error>(self, text: String) -> Result<SecretString, E> {
            Ok(SecretString::new(text))
        }
    }
    deserializer.deserialize_str(Text)
}
