//! `/keys` and `/deletedkeys`: key lifecycle and the cryptographic operations, in Key Vault's wire shapes
//! (epoch-second times, base64url without padding, `kid`s on the host the client called).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cmk_api::keys as wire;
use cmk_api::{Base64Url, SecretBase64Url};
use cmk_core::Timestamp;
use cmk_crypto::SecretBytes;
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
use serde::de::DeserializeOwned;
use serde_json::Value;

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

/// The attributes a request may set; the read-only ones (`created`, `recoveryLevel`, ...) are ignored.
fn attribute_changes(given: Option<wire::KeyAttributes>) -> AttributeChanges {
    let given = given.unwrap_or_default();
    AttributeChanges {
        enabled: given.enabled,
        not_before: given.nbf.map(|t| Some(Timestamp::from_unix_seconds(t))),
        expires: given.exp.map(|t| Some(Timestamp::from_unix_seconds(t))),
        exportable: given.exportable,
    }
}

/// A body with base64url fields. Read as [`JsonBody`] reads every body, except that a malformed base64url field
/// is a `BadParameter` naming the field rather than a generic `InvalidRequestContent`.
fn parse_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| ApiError::invalid_request_content(e.body_text()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_request_content(
            "the request body is empty; a JSON object is required",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| match cmk_api::base64url::refusal(&e) {
        Some(message) => bad_parameter(message),
        None => ApiError::invalid_request_content(e),
    })
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

fn attributes(attributes: &KeyAttributes) -> wire::KeyAttributes {
    wire::KeyAttributes {
        enabled: Some(attributes.enabled),
        nbf: attributes.not_before.map(|t| t.unix_seconds()),
        exp: attributes.expires.map(|t| t.unix_seconds()),
        created: Some(attributes.created.unix_seconds()),
        updated: Some(attributes.updated.unix_seconds()),
        recovery_level: Some(attributes.recovery_level.to_owned()),
        recoverable_days: Some(i64::from(attributes.recoverable_days)),
        exportable: Some(attributes.exportable),
    }
}

fn key_bundle(base: &str, view: &KeyView) -> wire::KeyBundle {
    let mut key = wire::JsonWebKey {
        kid: Some(format!("{base}/keys/{}/{}", view.name, view.version)),
        kty: Some(view.kty.as_str().to_owned()),
        key_ops: Some(view.key_ops.iter().map(|op| op.as_str().to_owned()).collect()),
        ..wire::JsonWebKey::default()
    };
    match &view.public {
        PublicKey::Rsa(public) => {
            key.n = Some(Base64Url::from(public.modulus()));
            key.e = Some(Base64Url::from(public.exponent()));
        }
        PublicKey::Ec(public) => {
            key.crv = Some(public.curve().as_jwk().to_owned());
            key.x = Some(Base64Url::from(public.x()));
            key.y = Some(Base64Url::from(public.y()));
        }
    }
    wire::KeyBundle {
        key,
        attributes: attributes(&view.attributes),
        tags: view.tags.clone(),
        managed: None,
    }
}

fn deletion(base: &str, name: &str, deletion: &Deletion) -> wire::Deletion {
    wire::Deletion {
        recovery_id: Some(format!("{base}/deletedkeys/{name}")),
        deleted_date: Some(deletion.deleted_date.unix_seconds()),
        scheduled_purge_date: Some(deletion.scheduled_purge_date.unix_seconds()),
    }
}

fn deleted_key_bundle(base: &str, view: &KeyView, deleted: &Deletion) -> wire::DeletedKeyBundle {
    wire::DeletedKeyBundle {
        bundle: key_bundle(base, view),
        deletion: deletion(base, &view.name, deleted),
    }
}

fn key_item(base: &str, item: &KeyItem, versioned: bool) -> wire::KeyItem {
    let kid = if versioned {
        format!("{base}/keys/{}/{}", item.name, item.version)
    } else {
        format!("{base}/keys/{}", item.name)
    };
    wire::KeyItem {
        kid,
        attributes: attributes(&item.attributes),
        tags: item.tags.clone(),
        managed: None,
    }
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

fn list<T, W>(base: &str, uri: &axum::http::Uri, page: Page<T>, item: impl Fn(&T) -> W) -> wire::KeyListResult<W> {
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
    wire::KeyListResult {
        value: page.items.iter().map(item).collect(),
        next_link: next,
    }
}

// ---- key lifecycle -----------------------------------------------------------------------------------------

async fn create_key(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<wire::KeyCreateParameters>,
) -> Result<Json<wire::KeyBundle>, ApiError> {
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
        attributes: attribute_changes(body.attributes),
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
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<wire::KeyBundle>, ApiError> {
    let body: wire::KeyImportParameters = parse_body(body)?;
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
    let required = |field: &str| bad_parameter(format!("The key's '{field}' is required to import an {kind} key."));
    let public =
        |field: &str, value: Option<Base64Url>| value.map(Base64Url::into_bytes).ok_or_else(|| required(field));
    // Copied straight into the components, which are wiped on drop like the secret they come from.
    let private =
        |field: &str, value: Option<SecretBase64Url>| value.map(|v| v.expose().to_vec()).ok_or_else(|| required(field));
    let key = match kty.kind() {
        KeyKind::Rsa => ImportedKey::Rsa(RsaPrivateComponents {
            n: public("n", jwk.n)?,
            e: public("e", jwk.e)?,
            d: private("d", jwk.d)?,
            p: private("p", jwk.p)?,
            q: private("q", jwk.q)?,
            dp: private("dp", jwk.dp)?,
            dq: private("dq", jwk.dq)?,
            qi: private("qi", jwk.qi)?,
        }),
        KeyKind::Ec => ImportedKey::Ec(EcPrivateComponents {
            curve: curve(
                jwk.crv
                    .as_deref()
                    .ok_or_else(|| bad_parameter("The key's 'crv' is required to import an EC key."))?,
            )?,
            d: private("d", jwk.d)?,
            x: public("x", jwk.x)?,
            y: public("y", jwk.y)?,
        }),
    };
    let import = KeyImport {
        key,
        hsm,
        key_ops: key_ops(jwk.key_ops)?,
        attributes: attribute_changes(body.attributes),
        tags: body.tags.unwrap_or_default(),
    };
    let view = state.vaults.import_key(&access, &name, import).await?;
    Ok(Json(key_bundle(&base, &view)))
}

async fn rotate_key(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
) -> Result<Json<wire::KeyBundle>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::Rotate, Some(&name)).await?;
    let view = state.vaults.rotate_key(&access, &name).await?;
    Ok(Json(key_bundle(&base, &view)))
}

async fn get_key(
    state: AppState,
    caller: VaultCaller,
    name: &str,
    version: Option<&str>,
) -> Result<Json<wire::KeyBundle>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::Get, Some(name)).await?;
    let view = state.vaults.get_key(&access, name, version).await?;
    Ok(Json(key_bundle(&base, &view)))
}

async fn get_latest(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
) -> Result<Json<wire::KeyBundle>, ApiError> {
    get_key(state, caller, &name, None).await
}

async fn get_version(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<wire::KeyBundle>, ApiError> {
    get_key(state, caller, &name, Some(&version)).await
}

async fn update_key(
    state: AppState,
    caller: VaultCaller,
    name: &str,
    version: Option<&str>,
    body: wire::KeyUpdateParameters,
) -> Result<Json<wire::KeyBundle>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::Update, Some(name)).await?;
    refuse_release_policy(&body.release_policy)?;
    let update = KeyUpdate {
        key_ops: key_ops(body.key_ops)?,
        attributes: attribute_changes(body.attributes),
        tags: body.tags,
    };
    let view = state.vaults.update_key(&access, name, version, update).await?;
    Ok(Json(key_bundle(&base, &view)))
}

async fn update_latest(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<wire::KeyUpdateParameters>,
) -> Result<Json<wire::KeyBundle>, ApiError> {
    update_key(state, caller, &name, None, body).await
}

async fn update_version(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path((name, version)): Path<(String, String)>,
    JsonBody(body): JsonBody<wire::KeyUpdateParameters>,
) -> Result<Json<wire::KeyBundle>, ApiError> {
    update_key(state, caller, &name, Some(&version), body).await
}

async fn list_keys(
    State(state): State<AppState>,
    caller: VaultCaller,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<wire::KeyListResult>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::List, None).await?;
    let (limit, start_after) = paging(&uri)?;
    let page = state.vaults.list_keys(&access, start_after.as_deref(), limit).await?;
    Ok(Json(list(&base, &uri, page, |item| key_item(&base, item, false))))
}

async fn list_versions(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<wire::KeyListResult>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::List, Some(&name)).await?;
    let (limit, start_after) = paging(&uri)?;
    let page = state
        .vaults
        .list_key_versions(&access, &name, start_after.as_deref(), limit)
        .await?;
    Ok(Json(list(&base, &uri, page, |item| key_item(&base, item, true))))
}

async fn delete_key(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
) -> Result<Json<wire::DeletedKeyBundle>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::Delete, Some(&name)).await?;
    let (view, deletion) = state.vaults.delete_key(&access, &name).await?;
    Ok(Json(deleted_key_bundle(&base, &view, &deletion)))
}

async fn get_deleted(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
) -> Result<Json<wire::DeletedKeyBundle>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::GetDeleted, Some(&name)).await?;
    let (view, deletion) = state.vaults.get_deleted_key(&access, &name).await?;
    Ok(Json(deleted_key_bundle(&base, &view, &deletion)))
}

async fn list_deleted(
    State(state): State<AppState>,
    caller: VaultCaller,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<wire::DeletedKeyListResult>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::ListDeleted, None).await?;
    let (limit, start_after) = paging(&uri)?;
    let page = state
        .vaults
        .list_deleted_keys(&access, start_after.as_deref(), limit)
        .await?;
    Ok(Json(list(&base, &uri, page, |(item, deleted)| wire::DeletedKeyItem {
        item: key_item(&base, item, false),
        deletion: deletion(&base, &item.name, deleted),
    })))
}

async fn recover_deleted(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
) -> Result<Json<wire::KeyBundle>, ApiError> {
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

async fn backup_key(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
) -> Result<Json<wire::BackupKeyResult>, ApiError> {
    let (access, _) = caller.authorize(&state, KeyAction::Backup, Some(&name)).await?;
    let blob = state.vaults.backup_key(&access, &name).await?;
    Ok(Json(wire::BackupKeyResult { value: blob }))
}

async fn restore_key(
    State(state): State<AppState>,
    caller: VaultCaller,
    JsonBody(body): JsonBody<wire::KeyRestoreParameters>,
) -> Result<Json<wire::KeyBundle>, ApiError> {
    let (access, base) = caller.authorize(&state, KeyAction::Restore, None).await?;
    let view = state.vaults.restore_key(&access, &body.value).await?;
    Ok(Json(key_bundle(&base, &view)))
}

fn policy_from_body(body: wire::KeyRotationPolicy) -> Result<RotationPolicy, ApiError> {
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
        .expiry_time
        .map(|e| PolicyDuration::parse(&e))
        .transpose()?;
    Ok(RotationPolicy {
        lifetime_actions: actions,
        expiry_time,
        created: None,
        updated: None,
    })
}

fn policy_answer(base: &str, name: &str, policy: &RotationPolicy) -> wire::KeyRotationPolicy {
    let lifetime_actions = policy
        .lifetime_actions
        .iter()
        .map(|a| {
            let trigger = match &a.trigger {
                Trigger::TimeAfterCreate(d) => wire::LifetimeActionTrigger {
                    time_after_create: Some(d.text.clone()),
                    time_before_expiry: None,
                },
                Trigger::TimeBeforeExpiry(d) => wire::LifetimeActionTrigger {
                    time_after_create: None,
                    time_before_expiry: Some(d.text.clone()),
                },
            };
            let kind = match a.action {
                LifetimeActionType::Rotate => "Rotate",
                LifetimeActionType::Notify => "Notify",
            };
            wire::LifetimeAction {
                trigger,
                action: wire::LifetimeActionType { kind: kind.into() },
            }
        })
        .collect();
    wire::KeyRotationPolicy {
        id: Some(format!("{base}/keys/{name}/rotationpolicy")),
        lifetime_actions,
        attributes: wire::KeyRotationPolicyAttributes {
            expiry_time: policy.expiry_time.as_ref().map(|e| e.text.clone()),
            created: policy.created.map(|t| t.unix_seconds()),
            updated: policy.updated.map(|t| t.unix_seconds()),
        },
    }
}

async fn get_rotation_policy(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
) -> Result<Json<wire::KeyRotationPolicy>, ApiError> {
    let (access, base) = caller
        .authorize(&state, KeyAction::GetRotationPolicy, Some(&name))
        .await?;
    let policy = state.vaults.get_rotation_policy(&access, &name).await?;
    Ok(Json(policy_answer(&base, &name, &policy)))
}

async fn set_rotation_policy(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<wire::KeyRotationPolicy>,
) -> Result<Json<wire::KeyRotationPolicy>, ApiError> {
    let (access, base) = caller
        .authorize(&state, KeyAction::SetRotationPolicy, Some(&name))
        .await?;
    let policy = state
        .vaults
        .set_rotation_policy(&access, &name, policy_from_body(body)?)
        .await?;
    Ok(Json(policy_answer(&base, &name, &policy)))
}

/// `POST /rng`: random bytes from the vault's generator (aws-lc-rs), for any authenticated caller of the vault.
async fn random_bytes(
    _caller: VaultCaller,
    JsonBody(body): JsonBody<wire::GetRandomBytesRequest>,
) -> Result<Json<wire::RandomBytes>, ApiError> {
    let count = usize::try_from(body.count)
        .ok()
        .filter(|n| (1..=128).contains(n))
        .ok_or_else(|| bad_parameter(format!("'count' must be from 1 to 128, got {}.", body.count)))?;
    let mut bytes = vec![0u8; count];
    cmk_crypto::random::fill(&mut bytes).map_err(ApiError::internal)?;
    Ok(Json(wire::RandomBytes {
        value: Base64Url(bytes),
    }))
}

// ---- cryptographic operations ------------------------------------------------------------------------------

async fn key_operation(
    State(state): State<AppState>,
    caller: VaultCaller,
    Path((name, version, operation)): Path<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
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
    let version = Some(version.as_str()).filter(|v| !v.is_empty());
    match operation {
        KeyOperation::WrapKey | KeyOperation::Encrypt | KeyOperation::UnwrapKey | KeyOperation::Decrypt => {
            let body: wire::KeyOperationsParameters = parse_body(body)?;
            let (access, base) = caller.authorize(&state, action, Some(&name)).await?;
            if body.iv.is_some() || body.aad.is_some() || body.tag.is_some() {
                return Err(bad_parameter(
                    "'iv', 'aad' and 'tag' apply to AES keys only; this vault holds RSA and EC keys.",
                ));
            }
            let algorithm = RsaEncryptionAlgorithm::from_jwa(&body.alg).ok_or_else(|| {
                bad_parameter(format!(
                    "The algorithm '{}' is not supported; use RSA-OAEP, RSA-OAEP-256 or RSA1_5.",
                    body.alg
                ))
            })?;
            let value = body.value.expose();
            let (used, out) = if matches!(operation, KeyOperation::WrapKey | KeyOperation::Encrypt) {
                let (used, out) = state
                    .vaults
                    .encrypt(&access, &name, version, operation, algorithm, value)
                    .await?;
                (used, SecretBytes::new(out))
            } else {
                state
                    .vaults
                    .decrypt(&access, &name, version, operation, algorithm, value)
                    .await?
            };
            Ok(Json(wire::KeyOperationResult {
                kid: Some(format!("{base}/keys/{name}/{used}")),
                value: SecretBase64Url::new(out),
            })
            .into_response())
        }
        KeyOperation::Sign => {
            let body: wire::KeySignParameters = parse_body(body)?;
            let (access, base) = caller.authorize(&state, action, Some(&name)).await?;
            let algorithm = signature_algorithm(&body.alg)?;
            let (used, signature) = state
                .vaults
                .sign(&access, &name, version, algorithm, body.value.as_bytes())
                .await?;
            Ok(Json(wire::KeyOperationResult {
                kid: Some(format!("{base}/keys/{name}/{used}")),
                value: SecretBase64Url::new(SecretBytes::new(signature)),
            })
            .into_response())
        }
        KeyOperation::Verify => {
            let body: wire::KeyVerifyParameters = parse_body(body)?;
            let (access, _) = caller.authorize(&state, action, Some(&name)).await?;
            let algorithm = signature_algorithm(&body.alg)?;
            let digest = body
                .digest
                .ok_or_else(|| bad_parameter("The field 'digest' is required."))?;
            let (_, valid) = state
                .vaults
                .verify(
                    &access,
                    &name,
                    version,
                    algorithm,
                    digest.as_bytes(),
                    body.value.as_bytes(),
                )
                .await?;
            Ok(Json(wire::KeyVerifyResult { value: valid }).into_response())
        }
        KeyOperation::Import | KeyOperation::Export => Err(bad_parameter("Not a cryptographic operation.")),
    }
}

fn signature_algorithm(alg: &str) -> Result<SignatureAlgorithm, ApiError> {
    SignatureAlgorithm::from_jwa(alg).ok_or_else(|| {
        bad_parameter(format!(
            "The algorithm '{alg}' is not supported; use RS256/384/512, PS256/384/512, ES256, ES256K, ES384 or ES512."
        ))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::body::Bytes;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use cmk_api::keys::KeyOperationsParameters;

    use super::parse_body;

    async fn refusal(body: &'static str) -> (StatusCode, serde_json::Value) {
        let response = parse_body::<KeyOperationsParameters>(Ok(Bytes::from_static(body.as_bytes())))
            .err()
            .unwrap()
            .into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_malformed_base64url_field_is_a_bad_parameter_that_names_it() {
        for body in [
            r#"{"alg":"RSA-OAEP","value":"AQ=="}"#,
            r#"{"alg":"RSA-OAEP","value":"+/8"}"#,
            r#"{"alg":"RSA-OAEP","value":"AAAA","iv":"!!"}"#,
        ] {
            let (status, answer) = refusal(body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(answer["error"]["code"], "BadParameter", "{body}");
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.starts_with("The field '"), "{message}");
            assert!(!message.contains("line 1"), "{message}");
        }
        let (_, answer) = refusal(r#"{"alg":"RSA-OAEP"}"#).await;
        assert_eq!(answer["error"]["code"], "InvalidRequestContent");
    }
}
