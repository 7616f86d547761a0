//! The admin listener (loopback by default): `GET /metrics` (Prometheus text),
//! `GET /healthz`, and `POST /reload` and `POST /purge` guarded by a bearer
//! token compared in constant time. Axum lives here only, never on the
//! request hot path.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::server::Server;

pub fn spawn(tcp: TcpListener, server: Arc<Server>) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/reload", post(reload))
        .route("/purge", post(purge))
        .with_state(server);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(tcp, app).await {
            tracing::error!(error = %e, "admin listener stopped");
        }
    });
}

async fn metrics(State(s): State<Arc<Server>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.shared.metrics.encode(),
    )
        .into_response()
}

async fn healthz(State(s): State<Arc<Server>>) -> Response {
    let generation = s.shared.runtime.load().generation;
    (StatusCode::OK, format!("ok generation={generation}\n")).into_response()
}

async fn reload(State(s): State<Arc<Server>>, headers: HeaderMap) -> Response {
    if let Err(denied) = authorize(&s, &headers, "reload") {
        return denied;
    }
    match s.reload_from_file().await {
        Ok(g) => (StatusCode::OK, format!("reloaded generation={g}\n")).into_response(),
        Err(errors) => {
            let mut body = String::from("config rejected; still serving the previous config\n");
            for e in errors {
                body.push_str(&format!("{e}\n"));
            }
            (StatusCode::UNPROCESSABLE_ENTITY, body).into_response()
        }
    }
}

/// Largest `POST /purge` body accepted. 64 KiB (a purge is one small
/// JSON object).
const MAX_PURGE_BODY: usize = 64 * 1024;

/// `POST /purge` with an `outpost_cache::Purge` as JSON, e.g.
/// `{"target": {"kind": "tag", "tag": "product-42"}, "mode": "soft"}`.
/// Answers `{"objects": N, "elapsed_ms": T}`; a body that is not a valid
/// purge gets 400 with `{"error": "..."}`.
async fn purge(State(s): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(denied) = authorize(&s, &headers, "purge") {
        return denied;
    }
    if body.len() > MAX_PURGE_BODY {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("purge request larger than {MAX_PURGE_BODY} bytes"),
        );
    }
    let request: outpost_cache::Purge = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!("invalid purge request: {e}"),
            );
        }
    };
    let started = std::time::Instant::now();
    match s.shared.cache.purge(&request) {
        Ok(done) => {
            let elapsed_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
            tracing::info!(target = ?request.target, mode = ?request.mode, objects = done.objects, elapsed_ms, "cache purged");
            let body = serde_json::json!({ "objects": done.objects, "elapsed_ms": elapsed_ms });
            json(StatusCode::OK, &body)
        }
        Err(e) => json_error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// Checks the bearer token of a state-changing endpoint (`what` names it
/// in the refusal).
#[allow(
    clippy::result_large_err,
    reason = "the error is the response itself, built once per refused call"
)]
fn authorize(s: &Server, headers: &HeaderMap, what: &str) -> Result<(), Response> {
    let token = s.shared.runtime.load().config.admin.token.clone();
    let Some(token) = token else {
        return Err((
            StatusCode::FORBIDDEN,
            format!("{what} via the admin API is disabled: set admin.token or admin.token_env\n"),
        )
            .into_response());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
        return Err((
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "invalid or missing bearer token\n",
        )
            .into_response());
    }
    Ok(())
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

fn json_error(status: StatusCode, message: String) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

/// Compares without an early exit, so timing does not reveal how much of a
/// guess was right. Length is not secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq() {
        assert!(constant_time_eq(b"secret-token-123", b"secret-token-123"));
        assert!(!constant_time_eq(b"secret-token-123", b"secret-token-124"));
        assert!(!constant_time_eq(b"short", b"longer"));
    }
}
