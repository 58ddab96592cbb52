//! REST views and the publish API. Views read the same store as the stream, so a REST answer and the stream agree
//! on seq and content.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use tracing::info;

use crate::events::{self, Invalid, SIGNALS_TOPIC, TRADES_TOPIC};
use crate::server::AppState;

/// An error answer: a status and `{"error": code, "message": text}`.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": code, "message": message.into()})),
    )
        .into_response()
}

fn topic_json(state: &AppState, topic: &str) -> Option<serde_json::Value> {
    state
        .store
        .snapshot(topic)
        .map(|s| json!({"epoch": s.epoch, "seq": s.seq, "items": s.items}))
}

#[derive(Debug, Deserialize)]
pub(crate) struct TopicsQuery {
    topics: Option<String>,
}

/// `GET /api/snapshot?topics=a,b`: `{topic: {epoch, seq, items}}` (all topics when omitted).
pub(crate) async fn snapshot(
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
        match topic_json(&state, &name) {
            Some(v) => {
                out.insert(name, v);
            }
            None => {
                return error(
                    StatusCode::NOT_FOUND,
                    "unknown_topic",
                    format!("no topic named {name:?}"),
                )
            }
        }
    }
    Json(serde_json::Value::Object(out)).into_response()
}

/// `GET /api/topic/{name}` and the named views (`/api/curve`, `/api/positions`, …): `{epoch, seq, items}`.
pub(crate) async fn topic(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Response {
    match topic_json(&state, &name) {
        Some(v) => Json(v).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "unknown_topic",
            format!("no topic named {name:?} (yet)"),
        ),
    }
}

/// The bearer check for the publish API: `Some(answer)` when the request is refused. Constant-time comparison, and the token never appears in an answer or a
/// log line.
fn refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(expected) = state.publish_token.as_ref() else {
        return Some(error(
            StatusCode::FORBIDDEN,
            "publishing_disabled",
            "publishing is off: start the relay with TICKDESK_PUBLISH_TOKEN set",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    (!expected.matches(given)).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        )
    })
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

async fn publish(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: Bytes,
    topic: &'static str,
    validate: fn(&[u8], &str) -> Result<tickdesk_wire::Fields, Invalid>,
) -> Response {
    if let Some(r) = refusal(&state, &headers) {
        return r;
    }
    let fields = match validate(&body, &now_rfc3339()) {
        Ok(f) => f,
        Err(Invalid(why)) => {
            let status = if why.starts_with("invalid JSON") {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            return error(status, "invalid_payload", why);
        }
    };
    let symbol = fields
        .get("symbol")
        .and_then(|s| s.as_str())
        .unwrap_or("")
        .to_string();
    match state.store.append(topic, fields, state.event_history) {
        Some(id) => {
            info!(topic, %symbol, %id, "published");
            (
                StatusCode::ACCEPTED,
                Json(json!({"ok": true, "topic": topic, "id": id})),
            )
                .into_response()
        }
        None => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "not_published",
            "the event could not be stored",
        ),
    }
}

/// `POST /api/publish/signal`.
pub(crate) async fn publish_signal(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    publish(state, headers, body, SIGNALS_TOPIC, events::signal).await
}

/// `POST /api/publish/trade`.
pub(crate) async fn publish_trade(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    publish(state, headers, body, TRADES_TOPIC, events::trade).await
}
