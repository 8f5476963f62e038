//! `/keys` and `/deletedkeys`: key lifecycle and the cryptographic operations, in Key Vault's wire shapes
//! (epoch-second times, base64url without padding, `kid`s on the host the client called).

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cmk_core::Timestamp;
use cmk_crypto::ec::{EcCurve, EcPrivateComponents};
use cmk_crypto::encoding::{b64url_decode, b64url_encode};
use cmk_crypto::key::{KeyKind, PublicKey, SignatureAlgorithm};
use cmk_crypto::rsa::{RsaEncryptionAlgorithm, RsaPrivateComponents};
use cmk_vault::access::KeyAction;
use cmk_vault::keys::{
    AttributeChanges, Deletion, ImportedKey, KeyAttributes, KeyImport, KeyItem, KeyOperation, KeySpec, KeyType,
    KeyUpdate, KeyView, Page,
};
use cmk_vault::rotation::{LifetimeAction, LifetimeActionType, PolicyDuration, RotationPolicy, Trigger};
use serde::Deserialize;
use serde_json::{Value, json};

use super::VaultCaller;
use crate::AppState;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::routes::arm::query_map;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/keys", get(list_keys))
        .route("/keys/restore", post(restore_key))
        .route(
            "/keys/{name}",
            axum::routing::put(import_key)
                .delete(delete_key)
                .get(get_latest)
                .patch(update_latest),
        )
        .route("/keys/{name}/", get(get_latest).patch(update_latest))
        .route("/keys/{name}/create", post(create_key))
        .route("/keys/{name}/rotate", post(rotate_key))
        .route("/keys/{name}/backup", post(backup_key))
        .route(
            "/keys/{name}/rotationpolicy",
            get(get_rotation_policy).put(set_rotation_policy),
        )
        .route("/keys/{name}/versions", get(list_versions))
        .route("/keys/{name}/{version}", get(get_version).patch(update_version))
        .route("/keys/{name}/{version}/{operation}", post(key_operation))
        .route("/rng", post(random_bytes))
        .route("/deletedkeys", get(list_deleted))
        .route("/deletedkeys/{name}", get(get_deleted).delete(purge_deleted))
        .route("/deletedkeys/{name}/recover", post(recover_deleted))
}

/// Operations of the Key Vault API that this server does not offer yet: an honest 501, not a guess.
async fn not_yet(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::arm(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        format!(
            "The operation at '{}' is not available in this version of cmk.",
            uri.path()
        ),
    )
}

// ---- wire shapes -------------------------------------------------------------------------------------------

fn bad_parameter(message: impl Into<String>) -> ApiError {
    ApiError::arm(StatusCode::BAD_REQUEST, "BadParameter", message)
}

#[derive(Debug, Default, Deserialize)]
struct AttributesBody {
    enabled: Option<bool>,
    nbf: Option<i64>,
    exp: Option<i64>,
    exportable: Option<bool>,
}

impl AttributesBody {
    fn changes(self) -> AttributeChanges {
        AttributeChanges {
            enabled: self.enabled,
            not_before: self.nbf.map(|t| Some(Timestamp::from_unix_seconds(t))),
            expires: self.exp.map(|t| Some(Timestamp::from_unix_seconds(t))),
            exportable: self.exportable,
        }
    }
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    kty: Option<String>,
    key_size: Option<u32>,
    public_exponent: Option<u64>,
    key_ops: Option<Vec<String>>,
    attributes: Option<AttributesBody>,
    tags: Option<BTreeMap<String, String>>,
    crv: Option<String>,
    release_policy: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct JwkBody {
    kty: Option<String>,
    key_ops: Option<Vec<String>>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    d: Option<String>,
    p: Option<String>,
    q: Option<String>,
    dp: Option<String>,
    dq: Option<String>,
    qi: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ImportBody {
    #[serde(rename = "Hsm")]
    hsm: Option<bool>,
    key: JwkBody,
    attributes: Option<AttributesBody>,
    tags: Option<BTreeMap<String, String>>,
    release_policy: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct UpdateBody {
    key_ops: Option<Vec<String>>,
    attributes: Option<AttributesBody>,
    tags: Option<BTreeMap<String, String>>,
    release_policy: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct OperationBody {
    alg: String,
    value: String,
    /// verify only: the digest (`value` is then the signature).
    digest: Option<String>,
    iv: Option<String>,
    aad: Option<String>,
    tag: Option<String>,
}

fn key_ops(given: Option<Vec<String>>) -> Result<Option<Vec<KeyOperation>>, ApiError> {
    Ok(given
        .map(|ops| {
            ops.iter()
                .map(|op| KeyOperation::parse(op))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?)
}

fn refuse_release_policy(policy: &Option<Value>) -> Result<(), ApiError> {
    if policy.is_some() {
        return Err(bad_parameter("Key release policies are not supported by this vault."));
    }
    Ok(())
}

fn decode(field: &str, text: &str) -> Result<Vec<u8>, ApiError> {
    b64url_decode(text).map_err(|_| bad_parameter(format!("The field '{field}' is not valid base64url.")))
}

fn attributes_json(attributes: &KeyAttributes) -> Value {
    let mut json = json!({
        "enabled": attributes.enabled,
        "created": attributes.created.unix_seconds(),
        "updated": attributes.updated.unix_seconds(),
        "recoveryLevel": attributes.recovery_level,
        "recoverableDays": attributes.recoverable_days,
        "exportable": attributes.exportable,
    });
    if let Some(nbf) = attributes.not_before {
        json["nbf"] = json!(nbf.unix_seconds());
    }
    if let Some(exp) = attributes.expires {
        json["exp"] = json!(exp.unix_seconds());
    }
    json
}

fn key_bundle(base: &str, view: &KeyView) -> Value {
    let mut key = json!({
        "kid": format!("{base}/keys/{}/{}", view.name, view.version),
        "kty": view.kty.as_str(),
        "key_ops": view.key_ops.iter().map(|op| op.as_str()).collect::<Vec<_>>(),
    });
    match &view.public {
        PublicKey::Rsa(public) => {
            key["n"] = json!(b64url_encode(public.modulus()));
            key["e"] = json!(b64url_encode(public.exponent()));
        }
        PublicKey::Ec(public) => {
            key["crv"] = json!(public.curve().as_jwk());
            key["x"] = json!(b64url_encode(public.x()));
            key["y"] = json!(b64url_encode(public.y()));
        }
    }
    json!({
        "key": key,
        "attributes": attributes_json(&view.attributes),
        "tags": view.tags,
    })
}

fn add_deletion(mut json: Value, base: &str, name: &str, deletion: &Deletion) -> Value {
    json["recoveryId"] = json!(format!("{base}/deletedkeys/{name}"));
    json["deletedDate"] = json!(deletion.deleted_date.unix_seconds());
    json["scheduledPurgeDate"] = json!(deletion.scheduled_purge_date.unix_seconds());
    json
}

fn deleted_key_bundle(base: &str, view: &KeyView, deletion: &Deletion) -> Value {
    add_deletion(key_bundle(base, view), base, &view.name, deletion)
}

fn item_json(base: &str, item: &KeyItem, versioned: bool) -> Value {
    let kid = if versioned {
        format!("{base}/keys/{}/{}", item.name, item.version)
    } else {
        format!("{base}/keys/{}", item.name)
    };
    json!({ "kid": kid, "attributes": attributes_json(&item.attributes), "tags": item.tags })
}

/// `maxresults` (1 to 25, default 25) and `$skiptoken` of a list.
fn paging(uri: &axum::http::Uri) -> Result<(usize, Option<String>), ApiError> {
    let query = query_map(uri);
    let limit = match query.get("maxresults") {
        None => 25,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=25).contains(&n) => n,
            _ => {
                return Err(bad_parameter(format!(
                    "maxresults must be a whole number from 1 to 25, got '{text}'."
                )));
            }
        },
    };
    let start_after = match query.get("$skiptoken") {
        None => None,
        Some(token) => Some(
            b64url_decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| bad_parameter("The $skiptoken is malformed."))?,
        ),
    };
    Ok((limit, start_after))
}

fn list_json<T>(base: &str, uri: &axum::http::Uri, page: Page<T>, item: impl Fn(&T) -> Value) -> Value {
    let next = page.next.map(|next| {
        let mut query: Vec<(String, String)> = query_map(uri).into_iter().filter(|(k, _)| k != "$skiptoken").collect();
        query.sort();
        query.push(("$skiptoken".into(), b64url_encode(next)));
        format!(
            "{base}{}?{}",
            uri.path(),
            serde_urlencoded::to_string(&query).unwrap_or_default()
        )
    });
    json!({ "value": page.items.iter().map(item).collect::<Vec<_>>(), "nextLink": next })
}

// ---- key lifecycle -----------------------------------------------------------------------------------------

async fn create_key(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Json<Value>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::Create, Some(&name)).await?;
    refuse_release_policy(&body.release_policy)?;
    let kty = KeyType::parse(
        body.kty
            .as_deref()
            .ok_or_else(|| bad_parameter("The field 'kty' is required."))?,
    )?;
    let spec = KeySpec {
        kty,
        key_size: body.key_size,
        curve: body.crv.as_deref().map(curve).transpose()?,
        public_exponent: body.public_exponent,
        key_ops: key_ops(body.key_ops)?,
        attributes: body.attributes.unwrap_or_default().changes(),
        tags: body.tags.unwrap_or_default(),
    };
    let view = state.vaults.create_key(&access, &name, spec).await?;
    Ok(Json(key_bundle(&base, &view)))
}

/// A curve by its JWK name; the one refusal of a curve cmk does not hold.
fn curve(name: &str) -> Result<EcCurve, ApiError> {
    EcCurve::from_jwk(name).ok_or_else(|| {
        bad_parameter(format!(
            "The curve '{name}' is not supported: use P-256, P-256K, P-384 or P-521."
        ))
    })
}

async fn import_key(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<ImportBody>,
) -> Result<Json<Value>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::Import, Some(&name)).await?;
    refuse_release_policy(&body.release_policy)?;
    let jwk = body.key;
    let kty = jwk
        .kty
        .as_deref()
        .ok_or_else(|| bad_parameter("The key's 'kty' is required."))?;
    let kty = KeyType::parse(kty)?;
    let hsm = kty.is_hsm() || body.hsm.unwrap_or(false);
    let kind = kty.kind().as_kty();
    let part = |field: &str, value: Option<String>| -> Result<Vec<u8>, ApiError> {
        decode(
            field,
            &value.ok_or_else(|| bad_parameter(format!("The key's '{field}' is required to import an {kind} key.")))?,
        )
    };
    let key = match kty.kind() {
        KeyKind::Rsa => ImportedKey::Rsa(RsaPrivateComponents {
            n: part("n", jwk.n)?,
            e: part("e", jwk.e)?,
            d: part("d", jwk.d)?,
            p: part("p", jwk.p)?,
            q: part("q", jwk.q)?,
            dp: part("dp", jwk.dp)?,
            dq: part("dq", jwk.dq)?,
            qi: part("qi", jwk.qi)?,
        }),
        KeyKind::Ec => ImportedKey::Ec(EcPrivateComponents {
            curve: curve(
                jwk.crv
                    .as_deref()
                    .ok_or_else(|| bad_parameter("The key's 'crv' is required to import an EC key."))?,
            )?,
            d: part("d", jwk.d)?,
            x: part("x", jwk.x)?,
            y: part("y", jwk.y)?,
        }),
    };
    let import = KeyImport {
        key,
        hsm,
        key_ops: key_ops(jwk.key_ops)?,
        attributes: body.attributes.unwrap_or_default().changes(),
        tags: body.tags.unwrap_or_default(),
    };
    let view = state.vaults.import_key(&access, &name, import).await?;
    Ok(Json(key_bundle(&base, &view)))
}

async fn rotate_key(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::Rotate, Some(&name)).await?;
    let view = state.vaults.rotate_key(&access, &name).await?;
    Ok(Json(key_bundle(&base, &view)))
}

async fn get_key(
    state: AppState,
    caller: VaultCaller,
    name: &str,
    version: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::Get, Some(name)).await?;
    let view = state.vaults.get_key(&access, name, version).await?;
    Ok(Json(key_bundle(&base, &view)))
}

async fn get_latest(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    get_key(state, caller, &name, None).await
}

async fn get_version(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    get_key(state, caller, &name, Some(&version)).await
}

async fn update_key(
    state: AppState,
    caller: VaultCaller,
    name: &str,
    version: Option<&str>,
    body: UpdateBody,
) -> Result<Json<Value>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::Update, Some(name)).await?;
    refuse_release_policy(&body.release_policy)?;
    let update = KeyUpdate {
        key_ops: key_ops(body.key_ops)?,
        attributes: body.attributes.unwrap_or_default().changes(),
        tags: body.tags,
    };
    let view = state.vaults.update_key(&access, name, version, update).await?;
    Ok(Json(key_bundle(&base, &view)))
}

async fn update_latest(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<Value>, ApiError> {
    update_key(state, caller, &name, None, body).await
}

async fn update_version(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path((name, version)): Path<(String, String)>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<Value>, ApiError> {
    update_key(state, caller, &name, Some(&version), body).await
}

async fn list_keys(
    State(state): State<AppState>,
    caller: VaultCaller,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::List, None).await?;
    let (limit, start_after) = paging(&uri)?;
    let page = state.vaults.list_keys(&access, start_after.as_deref(), limit).await?;
    Ok(Json(list_json(&base, &uri, page, |item| item_json(&base, item, false))))
}

async fn list_versions(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::List, Some(&name)).await?;
    let (limit, start_after) = paging(&uri)?;
    let page = state
        .vaults
        .list_key_versions(&access, &name, start_after.as_deref(), limit)
        .await?;
    Ok(Json(list_json(&base, &uri, page, |item| item_json(&base, item, true))))
}

async fn delete_key(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::Delete, Some(&name)).await?;
    let (view, deletion) = state.vaults.delete_key(&access, &name).await?;
    Ok(Json(deleted_key_bundle(&base, &view, &deletion)))
}

async fn get_deleted(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::GetDeleted, Some(&name)).await?;
    let (view, deletion) = state.vaults.get_deleted_key(&access, &name).await?;
    Ok(Json(deleted_key_bundle(&base, &view, &deletion)))
}

async fn list_deleted(
    State(state): State<AppState>,
    caller: VaultCaller,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::ListDeleted, None).await?;
    let (limit, start_after) = paging(&uri)?;
    let page = state
        .vaults
        .list_deleted_keys(&access, start_after.as_deref(), limit)
        .await?;
    Ok(Json(list_json(&base, &uri, page, |(item, deletion)| {
        add_deletion(item_json(&base, item, false), &base, &item.name, deletion)
    })))
}

async fn recover_deleted(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::Recover, Some(&name)).await?;
    let view = state.vaults.recover_deleted_key(&access, &name).await?;
    Ok(Json(key_bundle(&base, &view)))
}

/// 204 on success: the SDK accepts nothing else.
async fn purge_deleted(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (access, _) = caller.authorize(&state, KeyAction::Purge, Some(&name)).await?;
    state.vaults.purge_deleted_key(&access, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct BackupBody {
    value: String,
}

async fn backup_key(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (access, _) = caller.authorize(&state, KeyAction::Backup, Some(&name)).await?;
    let blob = state.vaults.backup_key(&access, &name).await?;
    Ok(Json(json!({ "value": blob })))
}

async fn restore_key(
    State(state): State<AppState>,
    caller: VaultCaller,
    JsonBody(body): JsonBody<BackupBody>,
) -> Result<Json<Value>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::Restore, None).await?;
    let view = state.vaults.restore_key(&access, &body.value).await?;
    Ok(Json(key_bundle(&base, &view)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TriggerBody {
    time_after_create: Option<String>,
    time_before_expiry: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ActionBody {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct LifetimeActionBody {
    trigger: TriggerBody,
    action: ActionBody,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyAttributesBody {
    expiry_time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RotationPolicyBody {
    #[serde(default)]
    lifetime_actions: Vec<LifetimeActionBody>,
    attributes: Option<PolicyAttributesBody>,
}

fn policy_from_body(body: RotationPolicyBody) -> Result<RotationPolicy, ApiError> {
    let mut actions = Vec::new();
    for action in body.lifetime_actions {
        let kind = match action.action.kind.to_ascii_lowercase().as_str() {
            "rotate" => LifetimeActionType::Rotate,
            "notify" => LifetimeActionType::Notify,
            other => {
                return Err(bad_parameter(format!(
                    "The action type '{other}' is not valid; use Rotate or Notify."
                )));
            }
        };
        let trigger = match (action.trigger.time_after_create, action.trigger.time_before_expiry) {
            (Some(after), None) => Trigger::TimeAfterCreate(PolicyDuration::parse(&after)?),
            (None, Some(before)) => Trigger::TimeBeforeExpiry(PolicyDuration::parse(&before)?),
            _ => {
                return Err(bad_parameter(
                    "Each lifetime action needs exactly one of timeAfterCreate and timeBeforeExpiry.",
                ));
            }
        };
        actions.push(LifetimeAction { trigger, action: kind });
    }
    let expiry_time = body
        .attributes
        .and_then(|a| a.expiry_time)
        .map(|e| PolicyDuration::parse(&e))
        .transpose()?;
    Ok(RotationPolicy {
        lifetime_actions: actions,
        expiry_time,
        created: None,
        updated: None,
    })
}

fn policy_json(base: &str, name: &str, policy: &RotationPolicy) -> Value {
    let actions: Vec<Value> = policy
        .lifetime_actions
        .iter()
        .map(|a| {
            let trigger = match &a.trigger {
                Trigger::TimeAfterCreate(d) => json!({ "timeAfterCreate": d.text }),
                Trigger::TimeBeforeExpiry(d) => json!({ "timeBeforeExpiry": d.text }),
            };
            let kind = match a.action {
                LifetimeActionType::Rotate => "Rotate",
                LifetimeActionType::Notify => "Notify",
            };
            json!({ "trigger": trigger, "action": { "type": kind } })
        })
        .collect();
    let mut attributes = json!({});
    if let Some(expiry) = &policy.expiry_time {
        attributes["expiryTime"] = json!(expiry.text);
    }
    if let Some(created) = policy.created {
        attributes["created"] = json!(created.unix_seconds());
    }
    if let Some(updated) = policy.updated {
        attributes["updated"] = json!(updated.unix_seconds());
    }
    json!({ "id": format!("{base}/keys/{name}/rotationpolicy"), "lifetimeActions": actions, "attributes": attributes })
}

async fn get_rotation_policy(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (access, base) = caller
        .authorize(&state, KeyAction::GetRotationPolicy, Some(&name))
        .await?;
    let policy = state.vaults.get_rotation_policy(&access, &name).await?;
    Ok(Json(policy_json(&base, &name, &policy)))
}

async fn set_rotation_policy(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<RotationPolicyBody>,
) -> Result<Json<Value>, ApiError> {
    let (access, base) = caller
        .authorize(&state, KeyAction::SetRotationPolicy, Some(&name))
        .await?;
    let policy = state
        .vaults
        .set_rotation_policy(&access, &name, policy_from_body(body)?)
        .await?;
    Ok(Json(policy_json(&base, &name, &policy)))
}

#[derive(Debug, Deserialize)]
struct RandomBody {
    count: i64,
}

/// `POST /rng`: random bytes from the vault's generator (aws-lc-rs), for any authenticated caller of the vault.
async fn random_bytes(_caller: VaultCaller, JsonBody(body): JsonBody<RandomBody>) -> Result<Json<Value>, ApiError> {
    let count = usize::try_from(body.count)
        .ok()
        .filter(|n| (1..=128).contains(n))
        .ok_or_else(|| bad_parameter(format!("'count' must be from 1 to 128, got {}.", body.count)))?;
    let mut bytes = vec![0u8; count];
    cmk_crypto::random::fill(&mut bytes).map_err(ApiError::internal)?;
    Ok(Json(json!({ "value": b64url_encode(bytes) })))
}

// ---- cryptographic operations ------------------------------------------------------------------------------

async fn key_operation(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path((name, version, operation)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<OperationBody>,
) -> Result<Response, ApiError> {
    let operation = match operation.as_str() {
        "wrapkey" | "wrapKey" => KeyOperation::WrapKey,
        "unwrapkey" | "unwrapKey" => KeyOperation::UnwrapKey,
        "encrypt" => KeyOperation::Encrypt,
        "decrypt" => KeyOperation::Decrypt,
        "sign" => KeyOperation::Sign,
        "verify" => KeyOperation::Verify,
        "release" | "attestation" => {
            return Err(not_yet(OriginalUri(
                format!("/keys/{name}/{version}/{operation}")
                    .parse()
                    .unwrap_or_default(),
            ))
            .await);
        }
        _ => return Err(bad_parameter(format!("'{operation}' is not a key operation."))),
    };
    let action = operation
        .action()
        .ok_or_else(|| bad_parameter(format!("'{}' is not a cryptographic operation.", operation.as_str())))?;
    let (access, base) = caller.authorize(&state, action, Some(&name)).await?;
    if body.iv.is_some() || body.aad.is_some() || body.tag.is_some() {
        return Err(bad_parameter(
            "'iv', 'aad' and 'tag' apply to AES keys only; this vault holds RSA and EC keys.",
        ));
    }
    let version = Some(version.as_str()).filter(|v| !v.is_empty());
    let value = decode("value", &body.value)?;
    let kid = |used: &str| format!("{base}/keys/{name}/{used}");
    let answer = match operation {
        KeyOperation::WrapKey | KeyOperation::Encrypt | KeyOperation::UnwrapKey | KeyOperation::Decrypt => {
            let algorithm = RsaEncryptionAlgorithm::from_jwa(&body.alg).ok_or_else(|| {
                bad_parameter(format!(
                    "The algorithm '{}' is not supported; use RSA-OAEP, RSA-OAEP-256 or RSA1_5.",
                    body.alg
                ))
            })?;
            if matches!(operation, KeyOperation::WrapKey | KeyOperation::Encrypt) {
                let (used, out) = state
                    .vaults
                    .encrypt(&access, &name, version, operation, algorithm, &value)
                    .await?;
                json!({ "kid": kid(&used), "value": b64url_encode(out) })
            } else {
                let (used, out) = state
                    .vaults
                    .decrypt(&access, &name, version, operation, algorithm, &value)
                    .await?;
                json!({ "kid": kid(&used), "value": b64url_encode(out.expose()) })
            }
        }
        KeyOperation::Sign | KeyOperation::Verify => {
            let algorithm = SignatureAlgorithm::from_jwa(&body.alg).ok_or_else(|| {
                bad_parameter(format!(
                    "The algorithm '{}' is not supported; use RS256/384/512, PS256/384/512, ES256, ES256K, ES384 or \
                     ES512.",
                    body.alg
                ))
            })?;
            if operation == KeyOperation::Sign {
                let (used, signature) = state.vaults.sign(&access, &name, version, algorithm, &value).await?;
                json!({ "kid": kid(&used), "value": b64url_encode(signature) })
            } else {
                let digest = decode(
                    "digest",
                    body.digest
                        .as_deref()
                        .ok_or_else(|| bad_parameter("The field 'digest' is required."))?,
                )?;
                let (_, valid) = state
                    .vaults
                    .verify(&access, &name, version, algorithm, &digest, &value)
                    .await?;
                json!({ "value": valid })
            }
        }
        KeyOperation::Import | KeyOperation::Export => return Err(bad_parameter("Not a cryptographic operation.")),
    };
    Ok(Json(answer).into_response())
}
