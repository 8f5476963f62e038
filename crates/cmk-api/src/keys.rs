//! Key Vault keys, data plane (`keys.json` of the Key Vault REST spec): field names exactly as Azure spells
//! them, which is snake_case for JWK and request fields and camelCase for attributes and deletion fields.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::base64url::{Base64Url, SecretBase64Url, fields};

/// A JSON web key as Key Vault carries it. Answers hold the public parts only; an import request also holds the
/// private ones, which are secret types.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JsonWebKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::n::optional"
    )]
    pub n: Option<Base64Url>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::e::optional"
    )]
    pub e: Option<Base64Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::x::optional"
    )]
    pub x: Option<Base64Url>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::y::optional"
    )]
    pub y: Option<Base64Url>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::d::optional"
    )]
    pub d: Option<SecretBase64Url>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::p::optional"
    )]
    pub p: Option<SecretBase64Url>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::q::optional"
    )]
    pub q: Option<SecretBase64Url>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::dp::optional"
    )]
    pub dp: Option<SecretBase64Url>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::dq::optional"
    )]
    pub dq: Option<SecretBase64Url>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::qi::optional"
    )]
    pub qi: Option<SecretBase64Url>,
}

/// The attributes of a key. Every field may be absent on the wire: requests set only some, and a reader must
/// decide what an absent `enabled` means (cmk's own client treats it as disabled).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KeyAttributes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recoverable_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exportable: Option<bool>,
}

/// A key version: its JWK, attributes and tags.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyBundle {
    pub key: JsonWebKey,
    #[serde(default)]
    pub attributes: KeyAttributes,
    /// Always written, `{}` when there are none, as Key Vault does.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
}

/// Where a deleted key is and when it goes for good; flattened into deleted bundles and items.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Deletion {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_purge_date: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedKeyBundle {
    #[serde(flatten)]
    pub bundle: KeyBundle,
    #[serde(flatten)]
    pub deletion: Deletion,
}

/// A key in a list: no JWK, only its identifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyItem {
    pub kid: String,
    #[serde(default)]
    pub attributes: KeyAttributes,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedKeyItem {
    #[serde(flatten)]
    pub item: KeyItem,
    #[serde(flatten)]
    pub deletion: Deletion,
}

/// One page of a list. `nextLink` is written as `null` on the last page, as Key Vault does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyListResult<T = KeyItem> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(default)]
    pub next_link: Option<String>,
}

pub type DeletedKeyListResult = KeyListResult<DeletedKeyItem>;

/// `POST /keys/{name}/create`. `kty` is required by Azure; it is optional here so that the server can refuse
/// its absence with a precise message.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyCreateParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_exponent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<KeyAttributes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Kept as JSON: cmk refuses release policies, so it only needs to know one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_policy: Option<Value>,
}

/// `PUT /keys/{name}`: a key to import, private parts included.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyImportParameters {
    #[serde(rename = "Hsm", default, skip_serializing_if = "Option::is_none")]
    pub hsm: Option<bool>,
    pub key: JsonWebKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<KeyAttributes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_policy: Option<Value>,
}

/// `PATCH /keys/{name}/{version}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyUpdateParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<KeyAttributes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_policy: Option<Value>,
}

/// `encrypt`, `decrypt`, `wrapKey`, `unwrapKey`. `value` is a secret type because for `encrypt` and `wrapKey`
/// it is the plaintext, a data key in the clear.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyOperationsParameters {
    pub alg: String,
    #[serde(deserialize_with = "fields::value::required")]
    pub value: SecretBase64Url,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::iv::optional"
    )]
    pub iv: Option<Base64Url>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::aad::optional"
    )]
    pub aad: Option<Base64Url>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::tag::optional"
    )]
    pub tag: Option<Base64Url>,
}

impl KeyOperationsParameters {
    /// The body of a wrap or unwrap (or encrypt or decrypt) with `alg` and no AES fields.
    pub fn new(alg: impl Into<String>, value: SecretBase64Url) -> Self {
        Self {
            alg: alg.into(),
            value,
            iv: None,
            aad: None,
            tag: None,
        }
    }
}

/// `sign`: `value` is the digest to sign.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeySignParameters {
    pub alg: String,
    #[serde(deserialize_with = "fields::value::required")]
    pub value: Base64Url,
}

/// `verify`: `value` is the signature. `digest` is required by Azure; optional here so that the server can
/// refuse its absence with a precise message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyVerifyParameters {
    pub alg: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::digest::optional"
    )]
    pub digest: Option<Base64Url>,
    #[serde(deserialize_with = "fields::value::required")]
    pub value: Base64Url,
}

/// The answer of `encrypt`, `decrypt`, `wrapKey`, `unwrapKey` and `sign`. `value` is a secret type because for
/// `decrypt` and `unwrapKey` it is the plaintext.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyOperationResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(deserialize_with = "fields::value::required")]
    pub value: SecretBase64Url,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVerifyResult {
    pub value: bool,
}

/// `POST /keys/{name}/backup`. The blob is opaque to everyone but the vault that wrote it, so it stays text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupKeyResult {
    pub value: String,
}

/// `POST /keys/restore`: a blob from [`BackupKeyResult`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRestoreParameters {
    pub value: String,
}

/// `POST /rng`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetRandomBytesRequest {
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandomBytes {
    #[serde(deserialize_with = "fields::value::required")]
    pub value: Base64Url,
}

/// A key's rotation policy (`/keys/{name}/rotationpolicy`), read from a client and answered back. The same type
/// serves both: a client's `id` and times are ignored by the server, and an answer leaves out what is not set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotationPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub lifetime_actions: Vec<LifetimeAction>,
    /// Always written, `{}` when nothing is set.
    #[serde(default)]
    pub attributes: KeyRotationPolicyAttributes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimeAction {
    pub trigger: LifetimeActionTrigger,
    pub action: LifetimeActionType,
}

/// When an action runs: one of the two durations (ISO 8601, `P90D`), never both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LifetimeActionTrigger {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_after_create: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_before_expiry: Option<String>,
}

/// `Rotate` or `Notify`; clients differ in case, so the text is kept and the server decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimeActionType {
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KeyRotationPolicyAttributes {
    /// How long a new version lives (ISO 8601 duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
}
