//! The tick tap, `GET /sim/ticks?underlying=SIMX[&expiry=YYYY-MM-DD]`: a plain websocket that carries every market tick's changed
//! contracts of one underlying as one JSON text frame, for benchmark peers (`bench/peers/`) that fan the same
//! ticks out as the relay does, without speaking the Schwab streamer protocol.
//!
//! Each frame: `{"type":"ticks","ts":<ms>,"underlying":"SIMX","contracts":{"<OSI symbol>":{"bid":…,"ask":…,…,
//! "live":true,"ts":<ms>}}}`. Field names and values are exactly those of the relay's `chain:` topic rows (the
//! same [`tickdesk_schwab_proto::fields::map_field`] mapping); a contract's first frame has all its fields, later frames
//! only the fields that changed (contracts with no change are left out), like a streamer session's items. `ts`
//! is the simulator's clock when the tick was sent, as the `timestamp` of the streamer's `data` frames.
//!
//! With `expiry` (a date, or `nearest`), only that expiry's contracts (what a relay client subscribed to `chain:SIMX:YYYY-MM-DD` gets).
//! A tap watches every contract it carries (they are repriced on every tick while it is open), as a
//! streamer session watching them all would.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::fields::{changed_fields, option_record, Record, LEVELONE_OPTIONS, OPTION_FIELD_COUNT};
use super::Shared;
use tickdesk_schwab_proto::fields::map_field;

pub(super) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let underlying = q
        .get("underlying")
        .map_or_else(|| "SIMX".to_string(), |u| u.trim().to_ascii_uppercase());
    let known = shared.market().underlying(&underlying).is_some();
    if !known {
        return (
            axum::http::StatusCode::NOT_FOUND,
            format!("no underlying {underlying} in the simulator (SIMX needs --load-contracts)"),
        )
            .into_response();
    }
    let expiry = match q.get("expiry").map(|e| e.trim()) {
        None => None,
        Some("nearest") => {
            let m = shared.market();
            m.contracts
                .iter()
                .filter(|c| m.underlyings[c.underlying].spec.symbol == underlying)
                .map(|c| c.expiry)
                .min()
        }
        Some(e) => match tickdesk_market::Date::parse_iso(e) {
            Some(d) => Some(d),
            None => {
                return (
                    axum::http::StatusCode::BAD_REQUEST,
                    "expiry must be YYYY-MM-DD or nearest",
                )
                    .into_response()
            }
        },
    };
    ws.on_upgrade(move |socket| run(socket, shared, underlying, expiry))
}

/// The symbols of `underlying`'s contracts, watched for as long as the tap is open.
struct Watched {
    shared: Arc<Shared>,
    symbols: Vec<String>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        let mut m = self.shared.market_mut();
        for s in &self.symbols {
            m.unwatch(s);
        }
    }
}

async fn run(
    mut socket: WebSocket,
    shared: Arc<Shared>,
    underlying: String,
    expiry: Option<tickdesk_market::Date>,
) {
    let watched = {
        let mut m = shared.market_mut();
        let symbols: Vec<String> = m
            .contracts
            .iter()
            .filter(|c| m.underlyings[c.underlying].spec.symbol == underlying)
            .filter(|c| expiry.is_none_or(|e| c.expiry == e))
            .map(|c| c.symbol.to_string())
            .collect();
        for s in &symbols {
            m.watch(s);
        }
        Watched {
            shared: shared.clone(),
            symbols,
        }
    };
    let mut ticks = shared.ticks.subscribe();
    let mut stop = shared.stop.clone();
    let all: Vec<u16> = (0..OPTION_FIELD_COUNT as u16).collect();
    let mut sent: HashMap<String, Record> = HashMap::new();
    loop {
        tokio::select! {
            changed = ticks.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
            _ = stop.wait_for(|s| *s) => break,
        }
        let frame = {
            let m = shared.market();
            tick_frame(
                &m,
                &underlying,
                &watched.symbols,
                &all,
                &mut sent,
                tickdesk_market::clock::wall_ms(),
            )
        };
        if let Some(frame) = frame {
            if socket.send(Message::Text(frame.into())).await.is_err() {
                break;
            }
        }
    }
    drop(watched);
}

/// One tick's frame: the contracts of `symbols` whose mapped fields changed since `sent` (all fields for a first
/// item), or `None` when nothing changed.
fn tick_frame(
    m: &super::market::Market,
    underlying: &str,
    symbols: &[String],
    all: &[u16],
    sent: &mut HashMap<String, Record>,
    ts: i64,
) -> Option<String> {
    let mut contracts: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for sym in symbols {
        let Some(c) = m.contract(sym) else { continue };
        let record = option_record(m, c);
        let changed = changed_fields(sent.get(sym), &record, all);
        let mut row = Map::new();
        for (id, v) in changed {
            let v = serde_json::to_value(&v).unwrap_or(Value::Null);
            if let Some((name, value)) = map_field(LEVELONE_OPTIONS, &id.to_string(), &v) {
                row.insert(name.to_string(), value);
            }
        }
        sent.insert(sym.clone(), record);
        if !row.is_empty() {
            row.insert("live".into(), Value::Bool(true));
            row.insert("ts".into(), json!(ts));
            contracts.insert(sym, row);
        }
    }
    (!contracts.is_empty()).then(|| {
        json!({"type": "ticks", "ts": ts, "underlying": underlying, "contracts": contracts})
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::{Market, MarketConfig};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn first_frame_is_whole_then_only_changes_with_the_relays_field_names() {
        // Thursday 9 October 2025, 11:00 ET: in the session, so a step moves the market.
        let t0 = tickdesk_market::Date::from_ymd(2025, 10, 9).at_et(11, 0);
        let mut m = Market::new(
            MarketConfig {
                seed: 7,
                speed: 1.0,
                load_contracts: 40,
                load_expiries: 0,
            },
            t0,
        );
        let symbols: Vec<String> = m
            .contracts
            .iter()
            .filter(|c| m.underlyings[c.underlying].spec.symbol == "SIMX")
            .map(|c| c.symbol.to_string())
            .collect();
        assert!(symbols.len() >= 40);
        for s in &symbols {
            m.watch(s);
        }
        let all: Vec<u16> = (0..OPTION_FIELD_COUNT as u16).collect();
        let mut sent = HashMap::new();
        let first: Value =
            serde_json::from_str(&tick_frame(&m, "SIMX", &symbols, &all, &mut sent, t0).unwrap())
                .unwrap();
        assert_eq!(first["type"], "ticks");
        assert_eq!(first["ts"], t0);
        let rows = first["contracts"].as_object().unwrap();
        assert_eq!(rows.len(), symbols.len(), "every contract's first item");
        let row = &rows[&symbols[0]];
        for k in ["bid", "ask", "mark", "delta", "strike", "live", "ts"] {
            assert!(row.get(k).is_some(), "{k} in {row}");
        }
        assert!(
            tick_frame(&m, "SIMX", &symbols, &all, &mut sent, t0).is_none(),
            "no change, no frame"
        );
        let mut rng = StdRng::seed_from_u64(1);
        m.step(&mut rng, t0 + 60_000);
        let next: Value = serde_json::from_str(
            &tick_frame(&m, "SIMX", &symbols, &all, &mut sent, t0 + 60_001).unwrap(),
        )
        .unwrap();
        let changed = next["contracts"].as_object().unwrap();
        assert!(!changed.is_empty());
        for row in changed.values() {
            assert!(row.get("strike").is_none(), "only changed fields: {row}");
            assert_eq!(row["ts"], t0 + 60_001);
        }
    }
}
