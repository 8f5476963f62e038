//! Feeding the audit log: a middleware around every vault operation (both planes) records who did what and how
//! it ended. The caller is known only once a token has been checked, so the extractors leave it in a slot that
//! the middleware reads after the handler ran.

use std::sync::{Arc, Mutex};

use axum::RequestExt;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use cmk_directory::VerifiedToken;
use cmk_vault::audit::{AuditCaller, AuditRecord};

use crate::AppState;
use crate::routes::keyvault::VaultHost;

/// The id of a request, shared by its log line, its `x-ms-request-id` header and its audit record.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

#[derive(Debug, Clone, Default)]
pub(crate) struct CallerSlot(Arc<Mutex<Option<AuditCaller>>>);

/// Called by the extractors once a token is valid.
pub(crate) fn note_caller(parts: &Parts, token: &VerifiedToken) {
    if let Some(slot) = parts.extensions.get::<CallerSlot>()
        && let Ok(mut caller) = slot.0.lock()
    {
        *caller = Some(AuditCaller {
            tenant_id: token.tenant_id().to_string(),
            object_id: token.object_id().to_string(),
            client_id: token.client_id().to_string(),
        });
    }
}

/// Records one audit entry per request to a vault operation. Requests that name no single vault (lists across
/// vaults) are not vault operations and are not recorded.
pub(crate) async fn audit_vault_operations(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let slot = CallerSlot::default();
    request.extensions_mut().insert(slot.clone());
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let pattern = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let method = request.method().clone();
    let params: Vec<(String, String)> = match request.extract_parts::<RawPathParams>().await {
        Ok(params) => params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        Err(_) => Vec::new(),
    };
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let vault = request
        .extensions()
        .get::<VaultHost>()
        .map(|h| h.0.clone())
        .or_else(|| param("name"));
    // Data-plane paths name the key `{name}`; there the vault comes from the host.
    let data_plane = request.extensions().get::<VaultHost>().is_some();
    let key = if data_plane { param("name") } else { None };
    let version = param("version").filter(|v| !v.is_empty());
    let operation = match param("operation") {
        Some(op) => format!("{method} {}", pattern.replace("{operation}", &op.to_ascii_lowercase())),
        None => format!("{method} {pattern}"),
    };

    let response = next.run(request).await;

    if let Some(vault) = vault {
        let caller = slot.0.lock().ok().and_then(|c| c.clone());
        state.audit.record(AuditRecord {
            time: state.directory.clock().now(),
            request_id,
            caller,
            operation,
            vault: vault.to_ascii_lowercase(),
            key,
            version,
            status: response.status().as_u16(),
        });
    }
    response
}
