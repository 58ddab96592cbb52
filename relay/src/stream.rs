//! `GET /ws/stream`: a plain periodic JSON snapshot of the rates desk for scripts and `wscat`, no protocol to
//! speak. Every interval: `{"type":"desk_snapshot","ts":…,"curve":[…],"positions":[…],"pnl_summary":{…}}`, and,
//! when quotes are streaming, a `price_update` in the shape existing dashboards expect.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tickdesk_wire::fields;
use tickdesk_wire::topics;
use tickdesk_wire::Items;

use crate::state::AppState;

/// Rows sorted by a numeric field (then key), as a JSON array.
fn rows_by(items: &Items, field: &str) -> Vec<Value> {
    let mut rows: Vec<(&String, &tickdesk_wire::Fields)> = items.iter().collect();
    let num = |f: &tickdesk_wire::Fields| f.get(field).and_then(Value::as_f64).unwrap_or(f64::MAX);
    rows.sort_by(|a, b| num(a.1).total_cmp(&num(b.1)).then(a.0.cmp(b.0)));
    rows.into_iter()
        .map(|(_, f)| Value::Object(f.clone().into_iter().collect()))
        .collect()
}

/// The desk snapshot as sent on `/ws/stream`.
pub fn desk_snapshot(state: &AppState, ts_ms: u64) -> Value {
    let items = |t: &str| {
        state
            .broker()
            .snapshot(t)
            .map(|s| s.items)
            .unwrap_or_default()
    };
    let pnl = items(topics::PNL);
    let summary: Map<String, Value> = pnl
        .into_iter()
        .map(|(k, f)| (k, Value::Object(f.into_iter().collect())))
        .collect();
    json!({
        "type": "desk_snapshot",
        "ts": ts_ms,
        "curve": rows_by(&items(topics::CURVE), "years"),
        "positions": rows_by(&items(topics::POSITIONS), "id"),
        "pnl_summary": summary,
    })
}

/// `{type:"price_update", symbols:{SYM:{price, change, change_pct}}}` from the quotes topic, if it has any.
pub fn price_update(state: &AppState) -> Option<Value> {
    let quotes = state.broker().snapshot(topics::QUOTES)?.items;
    if quotes.is_empty() {
        return None;
    }
    let symbols: Map<String, Value> = quotes
        .into_iter()
        .map(|(sym, f)| {
            let g = |k: &str| f.get(k).cloned().unwrap_or(Value::Null);
            (sym, json!({"price": g(fields::LAST), "change": g(fields::NET_CHANGE), "change_pct": g(fields::NET_CHANGE_PCT)}))
        })
        .collect();
    Some(json!({"type": "price_update", "symbols": symbols}))
}

pub(crate) async fn upgrade(State(state): State<Arc<AppState>>, ws: WebSocketUpgrade) -> Response {
    ws.protocols([crate::access::SUBPROTOCOL])
        .on_upgrade(move |socket| run(socket, state))
}

async fn run(socket: WebSocket, state: Arc<AppState>) {
    let (mut sink, mut stream) = socket.split();
    let mut tick = tokio::time::interval(state.stream_interval);
    let mut shutdown = state.shutdown();
    loop {
        // Decide inside the select, send outside it: a `watch` guard must not live across the send's await.
        let frames = tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            m = stream.next() => match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                _ => continue,
            },
            _ = tick.tick() => {
                let ts = tickdesk_market::clock::wall_ms().max(0) as u64;
                let mut frames = vec![desk_snapshot(&state, ts)];
                frames.extend(price_update(&state));
                frames
            }
        };
        for f in frames {
            if sink
                .send(Message::Text(f.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
        }
    }
    let _ = sink.send(Message::Close(None)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServeConfig;
    use crate::state::AppState;

    #[test]
    fn price_update_has_the_shape_dashboards_expect() {
        let state = AppState::new(
            &ServeConfig::defaults(),
            tickdesk_market::Clock::frozen(0),
            tokio::sync::watch::channel(false).1,
        );
        assert!(price_update(&state).is_none(), "no quotes, no message");
        let row: tickdesk_wire::Fields = [
            ("last", 231.5),
            ("net_change", 1.25),
            ("net_change_pct", 0.54),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
        state.broker().publish(
            topics::QUOTES,
            [("AAPL".to_string(), row)].into_iter().collect(),
            vec![],
        );
        assert_eq!(
            price_update(&state).unwrap(),
            json!({"type": "price_update", "symbols": {"AAPL": {"price": 231.5, "change": 1.25, "change_pct": 0.54}}})
        );
    }
}
