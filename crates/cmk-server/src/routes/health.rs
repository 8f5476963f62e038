//! What load balancers and monitoring ask a node: is the process up (`/healthz`), can it serve (`/readyz`:
//! the store answers and the change feed is caught up), and its metrics (`/metrics`). They name no resource
//! and need no token, as a balancer's probe has none.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::AppState;

/// How long readiness waits for the store.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How recently the change feed must have caught up: a node further behind may serve stale records.
pub(crate) const FEED_CURRENT_WITHIN: Duration = Duration::from_secs(2);

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    let store = match tokio::time::timeout(STORE_PROBE_TIMEOUT, state.node.store.latest_revision()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("the store failed: {e}")),
        Err(_) => Err(format!("the store did not answer within {STORE_PROBE_TIMEOUT:?}")),
    };
    let feed = if state.node.feed.is_current(FEED_CURRENT_WITHIN) {
        Ok(())
    } else {
        Err(format!(
            "the change feed has not caught up within {FEED_CURRENT_WITHIN:?}"
        ))
    };
    let problems: Vec<String> = [store, feed].into_iter().filter_map(Result::err).collect();
    if problems.is_empty() {
        axum::Json(json!({ "status": "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "not ready", "problems": problems })),
        )
            .into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.node.metrics.render(),
    )
        .into_response()
}
