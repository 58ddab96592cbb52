//! The HTTP surface: the websocket hub at `/ws`, REST views, health, metrics and the app's static files.
//!
//! [`run`] takes a bound listener and a shutdown future, so tests bind port 0 and stop the relay when they like.

use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::services::{ServeDir, ServeFile};
use tracing::{info, warn};

use crate::config::{Limits, ServeConfig};
use crate::metrics::Metrics;
use crate::rates;
use crate::session;
use crate::store::Store;

/// Shared by every request and session.
#[derive(Debug)]
pub struct AppState {
    pub store: Arc<Store>,
    pub limits: Limits,
    pub metrics: Metrics,
    pub allowed_origins: Vec<String>,
    /// Flips to true once on shutdown; sessions close their sockets with a close frame.
    pub shutdown: watch::Receiver<bool>,
}

/// Serves until `shutdown` resolves, then closes every websocket with a close frame and returns.
///
/// # Errors
/// Only if the listener fails.
pub async fn run(
    listener: TcpListener,
    cfg: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = Arc::new(Store::new(cfg.limits.history, 4096));
    let (stop_tx, stop_rx) = watch::channel(false);
    let state = Arc::new(AppState {
        store: store.clone(),
        limits: cfg.limits.clone(),
        metrics: Metrics::default(),
        allowed_origins: cfg.allowed_origins.clone(),
        shutdown: stop_rx.clone(),
    });
    let sim = tokio::spawn(rates::run(
        store,
        rates::SimConfig::new(cfg.rates_tick_ms, cfg.seed),
        stop_rx,
    ));
    let addr = listener.local_addr()?;
    info!(%addr, "tickdesk relay listening on http://{addr}/");
    let app = router(state, &cfg);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            info!("shutting down: closing client connections");
            let _ = stop_tx.send(true);
        })
        .await?;
    sim.abort();
    Ok(())
}

/// The routes, apart from the listener so they can be exercised directly.
pub fn router(state: Arc<AppState>, cfg: &ServeConfig) -> Router {
    let api = Router::new()
        .route("/ws", get(ws_upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/api/snapshot", get(api_snapshot))
        .route("/api/curve", get(api_curve))
        .with_state(state);
    if cfg.static_dir.is_dir() {
        let index = cfg.static_dir.join("index.html");
        api.fallback_service(ServeDir::new(&cfg.static_dir).fallback(ServeFile::new(index)))
    } else {
        warn!(dir = %cfg.static_dir.display(), "no app directory; serving the API only (build the app with trunk to serve it)");
        api
    }
}

/// Same-origin pages, non-browser clients and the allow-list may connect.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

async fn ws_upgrade(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&headers, &state.allowed_origins) {
        Metrics::add(&state.metrics.rejected_connections, 1);
        let origin = headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        warn!(
            origin,
            "websocket refused: origin not allowed (see TICKDESK_ALLOWED_ORIGINS)"
        );
        return (
            StatusCode::FORBIDDEN,
            "origin not allowed; add it to TICKDESK_ALLOWED_ORIGINS",
        )
            .into_response();
    }
    if state.metrics.clients.load(Relaxed) as usize >= state.limits.max_connections {
        Metrics::add(&state.metrics.rejected_connections, 1);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "connection limit reached; retry with backoff",
        )
            .into_response();
    }
    // The hard cap lets frames a little over the limit through, so they get a readable error frame.
    ws.max_message_size(state.limits.max_frame_bytes.saturating_mul(4).max(1 << 20))
        .on_upgrade(move |socket| session::run(socket, state))
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

#[derive(Debug, Deserialize)]
struct TopicsQuery {
    topics: Option<String>,
}

/// `GET /api/snapshot?topics=a,b`: the same state and seq the stream serves (all topics when omitted).
async fn api_snapshot(
    State(state): State<Arc<AppState>>,
    Query(q): Query<TopicsQuery>,
) -> Response {
    let names: Vec<String> = match q.topics {
        Some(t) => t
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        None => state.store.topic_names(),
    };
    let mut out = serde_json::Map::new();
    for name in names {
        match state.store.snapshot(&name) {
            Some(s) => {
                out.insert(
                    name,
                    serde_json::json!({"epoch": s.epoch, "seq": s.seq, "items": s.items}),
                );
            }
            None => {
                let body = serde_json::json!({"error": "unknown_topic", "message": format!("no topic named {name:?}")});
                return (StatusCode::NOT_FOUND, Json(body)).into_response();
            }
        }
    }
    Json(serde_json::Value::Object(out)).into_response()
}

async fn api_curve(State(state): State<Arc<AppState>>) -> Response {
    match state.store.snapshot(rates::CURVE_TOPIC) {
        Some(s) => Json(serde_json::json!({"epoch": s.epoch, "seq": s.seq, "items": s.items}))
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the curve is not ready yet",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn origin_policy_allows_same_origin_listed_and_non_browser_clients() {
        assert!(origin_allowed(&headers(None, "127.0.0.1:8080"), &[]));
        assert!(origin_allowed(
            &headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(Some("https://evil.example"), "127.0.0.1:8080"),
            &[]
        ));
        let allowed = vec!["https://desk.example.com".to_string()];
        assert!(origin_allowed(
            &headers(Some("https://desk.example.com"), "relay:8080"),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(Some("https://desk.example.com.evil"), "relay:8080"),
            &allowed
        ));
        assert!(origin_allowed(
            &headers(Some("https://any.where"), "relay:8080"),
            &["*".to_string()]
        ));
    }
}
