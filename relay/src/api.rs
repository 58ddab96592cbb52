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
use tickdesk_wire::fields;
use tickdesk_wire::topics;
use tracing::info;

use crate::state::AppState;
use tickdesk_hub::events::{self, Invalid};

/// The answer to a path under `/api/` or `/ws/` that names nothing: a JSON 404 a script can read.
pub async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no route {method} {}; the REST views and the websocket paths are listed in PROTOCOL.md",
            uri.path()
        ),
    )
}

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
        .broker()
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
        None => state.broker().topic_names(),
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
    match state.broker().append(topic, fields, state.event_history) {
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
    publish(state, headers, body, topics::SIGNALS, events::signal).await
}

/// `POST /api/publish/trade`.
pub(crate) async fn publish_trade(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    publish(state, headers, body, topics::TRADES, events::trade).await
}

/// Filters for `GET /api/chain/{underlying}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ChainQuery {
    /// `YYYY-MM-DD`; the nearest expiry the relay holds when omitted.
    expiry: Option<String>,
    /// Strikes kept on each side of the money (all when omitted).
    strikes: Option<usize>,
    /// Minimum open interest (0 when omitted: the upstream's own filter applies).
    min_oi: Option<f64>,
}

/// Keeps contracts within `strikes` strikes of the money and with at least `min_oi` open interest. Pure.
///
/// The money is `spot` when known, else the middle strike. Both calls and puts at a kept strike are kept.
pub fn filter_chain(
    items: &tickdesk_wire::Items,
    spot: Option<f64>,
    strikes: Option<usize>,
    min_oi: f64,
) -> tickdesk_wire::Items {
    let strike_of =
        |f: &tickdesk_wire::Fields| f.get(fields::STRIKE).and_then(serde_json::Value::as_f64);
    let mut all: Vec<f64> = items.values().filter_map(strike_of).collect();
    all.sort_by(f64::total_cmp);
    all.dedup();
    let kept: Vec<f64> = match (strikes, all.is_empty()) {
        (Some(n), false) => {
            let money = spot.unwrap_or(all[all.len() / 2]);
            let atm = all
                .iter()
                .enumerate()
                .min_by(|a, b| (a.1 - money).abs().total_cmp(&(b.1 - money).abs()))
                .map_or(0, |(i, _)| i);
            all[atm.saturating_sub(n)..(atm + n + 1).min(all.len())].to_vec()
        }
        _ => all,
    };
    items
        .iter()
        .filter(|(_, f)| strike_of(f).is_some_and(|k| kept.contains(&k)))
        .filter(|(_, f)| {
            f.get(fields::OPEN_INTEREST)
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0)
                >= min_oi
        })
        .map(|(k, f)| (k.clone(), f.clone()))
        .collect()
}

/// `GET /api/chain/{underlying}?expiry=&strikes=&min_oi=`: one expiry of an underlying's chain, from the same
/// `chain:{underlying}:{expiry}` topic the stream serves (same epoch and seq), filtered.
pub(crate) async fn chain(
    State(state): State<Arc<AppState>>,
    Path(underlying): Path<String>,
    Query(q): Query<ChainQuery>,
) -> Response {
    let underlying = underlying.to_ascii_uppercase();
    let prefix = format!("{}{underlying}:", topics::CHAIN_PREFIX);
    let expiries: Vec<String> = state
        .broker()
        .topic_names()
        .into_iter()
        .filter_map(|t| t.strip_prefix(&prefix).map(String::from))
        .collect();
    let Some(expiry) = q.expiry.clone().or_else(|| expiries.first().cloned()) else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_underlying",
            format!("no chain for {underlying:?} yet: watch it from the desk or add it to TICKDESK_SYMBOLS"),
        );
    };
    let Some(snap) = state.broker().snapshot(&format!("{prefix}{expiry}")) else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_expiry",
            format!(
                "no {underlying} chain for {expiry:?}; the relay holds {}",
                expiries.join(", ")
            ),
        );
    };
    let spot = state.broker().snapshot(topics::QUOTES).and_then(|s| {
        s.items
            .get(&underlying)
            .and_then(|f| f.get(fields::LAST))
            .and_then(serde_json::Value::as_f64)
    });
    let items = filter_chain(&snap.items, spot, q.strikes, q.min_oi.unwrap_or(0.0));
    Json(json!({
        "underlying": underlying,
        "expiry": expiry,
        "expiries": expiries,
        "underlying_price": spot,
        "epoch": snap.epoch,
        "seq": snap.seq,
        "items": items,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(strike: f64, oi: f64) -> tickdesk_wire::Fields {
        [
            ("strike".to_string(), json!(strike)),
            ("open_interest".to_string(), json!(oi)),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn chain_filter_keeps_a_window_around_the_money_and_the_oi_floor() {
        let items: tickdesk_wire::Items = (0..21)
            .flat_map(|i| {
                let k = 200.0 + 5.0 * i as f64;
                [
                    (format!("C{k}"), contract(k, i as f64)),
                    (format!("P{k}"), contract(k, 1.0)),
                ]
            })
            .collect();
        let kept = filter_chain(&items, Some(251.0), Some(2), 0.0);
        let mut strikes: Vec<f64> = kept.values().filter_map(|f| f["strike"].as_f64()).collect();
        strikes.sort_by(f64::total_cmp);
        strikes.dedup();
        assert_eq!(
            strikes,
            vec![240.0, 245.0, 250.0, 255.0, 260.0],
            "two each side of 250, the strike nearest 251"
        );
        assert_eq!(kept.len(), 10, "calls and puts");
        let liquid = filter_chain(&items, Some(251.0), None, 15.0);
        assert_eq!(liquid.len(), 6, "calls with OI 15..=20");
        assert_eq!(
            filter_chain(&items, None, Some(0), 0.0).len(),
            2,
            "the middle strike when spot is unknown"
        );
    }
}
