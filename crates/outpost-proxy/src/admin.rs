//! The admin listener (loopback by default): `GET /metrics` (Prometheus text),
//! `GET /healthz`, and `POST /reload` guarded by a bearer token compared in
//! constant time. Axum lives here only, never on the request hot path.

use std::sync::Arc;

use axum::Router;
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
    let token = s.shared.runtime.load().config.admin.token.clone();
    let Some(token) = token else {
        return (
            StatusCode::FORBIDDEN,
            "reload via the admin API is disabled: set admin.token or admin.token_env\n",
        )
            .into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "invalid or missing bearer token\n",
        )
            .into_response();
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
