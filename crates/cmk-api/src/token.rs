//! The directory's OAuth 2.0 and OpenID Connect shapes: the token answers of `/oauth2/v2.0/token` and
//! `/oauth2/token`, their refusal, the discovery document and the key set that verifies the tokens.

use std::fmt;

use cmk_crypto::SecretString;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::identity::seconds_text;

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

/// A token the v1.0 endpoint (`resource=`) hands out: as Entra ID's v1.0 answer, every number is text, and it
/// also says when the token expires, from when it is valid and which resource it is for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponseV1 {
    pub token_type: String,
    /// Seconds, as text.
    #[serde(with = "seconds_text")]
    pub expires_in: i64,
    /// Seconds, as text.
    #[serde(with = "seconds_text")]
    pub ext_expires_in: i64,
    /// Unix seconds, as text.
    #[serde(with = "seconds_text")]
    pub expires_on: i64,
    /// Unix seconds, as text.
    #[serde(with = "seconds_text")]
    pub not_before: i64,
    /// The resource the token is for, as requested.
    pub resource: String,
    #[serde(serialize_with = "expose", deserialize_with = "secret")]
    pub access_token: SecretString,
}

/// The OAuth 2.0 refusal of the token endpoint: `error` is the OAuth code, `error_description` starts with the
/// `AADSTS` code, as Microsoft Entra ID writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuthError {
    pub error: String,
    /// Read as empty when absent: a reader still learns the OAuth code of a terse refusal.
    #[serde(default)]
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

/// The OpenID Connect discovery document (`/.well-known/openid-configuration`) of a tenant. MSAL and
/// azure-identity read it to find the token endpoint and to check the issuer, so every field is written, even
/// the empty and the null ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIdConfiguration {
    pub issuer: String,
    pub token_endpoint: String,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub jwks_uri: String,
    /// MSAL requires an authorization endpoint in the document, even where no one signs in interactively.
    pub authorization_endpoint: String,
    pub grant_types_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    #[serde(default)]
    pub request_uri_parameter_supported: bool,
    /// Written as `null` when the tenant has no region scope, as Entra ID writes it: MSAL looks for the field.
    #[serde(default)]
    pub tenant_region_scope: Option<String>,
    /// The DNS suffix of the cloud the tenant belongs to.
    pub cloud_instance_name: String,
}

/// The JSON Web Key Set of the directory (`/discovery/v2.0/keys`): the public keys that verify its tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonWebKeySet {
    pub keys: Vec<SigningKey>,
}

/// One public signing key of a [`JsonWebKeySet`]; `n` and `e` are base64url as the directory writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKey {
    pub kty: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
    pub kid: String,
    pub n: String,
    pub e: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v1_answer_writes_numbers_as_text() {
        let answer = TokenResponseV1 {
            token_type: "Bearer".into(),
            expires_in: 3600,
            ext_expires_in: 3600,
            expires_on: 1_700_003_600,
            not_before: 1_700_000_000,
            resource: "https://vault.localhost:8443".into(),
            access_token: SecretString::new("eyJ.x.y".into()),
        };
        let wire = serde_json::to_value(&answer).map_err(|e| e.to_string());
        assert_eq!(
            wire,
            Ok(serde_json::json!({
                "token_type": "Bearer",
                "expires_in": "3600",
                "ext_expires_in": "3600",
                "expires_on": "1700003600",
                "not_before": "1700000000",
                "resource": "https://vault.localhost:8443",
                "access_token": "eyJ.x.y",
            }))
        );
    }

    #[test]
    fn discovery_writes_the_null_region_scope_and_the_empty_scopes() {
        let document = OpenIdConfiguration {
            issuer: "https://localhost:8443/t/v2.0".into(),
            token_endpoint: "https://localhost:8443/t/oauth2/v2.0/token".into(),
            token_endpoint_auth_methods_supported: vec!["client_secret_post".into()],
            jwks_uri: "https://localhost:8443/t/discovery/v2.0/keys".into(),
            authorization_endpoint: "https://localhost:8443/t/oauth2/v2.0/authorize".into(),
            grant_types_supported: vec!["client_credentials".into()],
            response_types_supported: vec!["token".into()],
            subject_types_supported: vec!["pairwise".into()],
            id_token_signing_alg_values_supported: vec!["RS256".into()],
            scopes_supported: Vec::new(),
            request_uri_parameter_supported: false,
            tenant_region_scope: None,
            cloud_instance_name: "localhost".into(),
        };
        let wire = serde_json::to_value(&document).unwrap_or_default();
        assert_eq!(wire["tenant_region_scope"], serde_json::Value::Null);
        assert!(wire.as_object().is_some_and(|o| o.contains_key("tenant_region_scope")));
        assert_eq!(wire["scopes_supported"], serde_json::json!([]));
        assert_eq!(wire["request_uri_parameter_supported"], false);
        let back: Result<OpenIdConfiguration, _> = serde_json::from_value(wire);
        assert_eq!(back.ok(), Some(document));
    }

    #[test]
    fn a_key_set_names_its_use() {
        let set: JsonWebKeySet = serde_json::from_str(
            r#"{"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"k1","n":"AQAB","e":"AQAB"}]}"#,
        )
        .unwrap_or_default();
        assert_eq!(set.keys.len(), 1);
        assert_eq!(set.keys[0].use_, "sig");
    }

    #[test]
    fn a_terse_refusal_still_reads() {
        let refusal: Result<OAuthError, _> = serde_json::from_str(r#"{"error":"invalid_client"}"#);
        assert_eq!(refusal.map(|r| r.error).ok().as_deref(), Some("invalid_client"));
    }
}
