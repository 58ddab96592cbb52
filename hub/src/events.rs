//! Signals and trades that trading bots publish: the payload shapes existing dashboards expect, validated here
//! (pure), then appended to the `signals` and `trades` topics.
//!
//! Shapes (PROTOCOL.md, the `signals` and `trades` topics): signal `{type:"signal", signal_type, symbol, price, confidence, timestamp}`, trade
//! `{type:"trade_executed", symbol, side, quantity, price, timestamp}`. `type` may be omitted (the endpoint says
//! which it is); `timestamp` may be omitted (the relay stamps it, RFC 3339 UTC). Unknown fields are refused rather
//! than silently dropped, so a typo in a bot shows up at once.

use serde::Deserialize;
use serde_json::{json, Value};
use tickdesk_wire::Fields;

/// Why a payload was refused, in words for the bot's author.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalIn {
    #[serde(rename = "type")]
    kind: Option<String>,
    signal_type: String,
    symbol: String,
    price: f64,
    confidence: f64,
    timestamp: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TradeIn {
    #[serde(rename = "type")]
    kind: Option<String>,
    symbol: String,
    side: String,
    quantity: f64,
    price: f64,
    timestamp: Option<Value>,
}

fn symbol(s: &str) -> Result<String, Invalid> {
    let s = s.trim().to_ascii_uppercase();
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '_' | '-' | '$' | ' '));
    ok.then_some(s.clone()).ok_or_else(|| {
        Invalid(format!(
            "symbol {s:?} must be 1-32 letters, digits or . / _ - $"
        ))
    })
}

fn positive(name: &str, v: f64) -> Result<f64, Invalid> {
    (v.is_finite() && v > 0.0)
        .then_some(v)
        .ok_or_else(|| Invalid(format!("{name} must be a positive number, got {v}")))
}

fn check_type(kind: Option<String>, want: &str) -> Result<(), Invalid> {
    match kind {
        Some(k) if k != want => Err(Invalid(format!(
            "type must be {want:?} on this endpoint, got {k:?}"
        ))),
        _ => Ok(()),
    }
}

fn timestamp(ts: Option<Value>, now_rfc3339: &str) -> Result<Value, Invalid> {
    match ts {
        None | Some(Value::Null) => Ok(json!(now_rfc3339)),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 64 => Ok(Value::String(s)),
        Some(Value::Number(n)) if n.as_f64().is_some_and(|x| x.is_finite() && x >= 0.0) => {
            Ok(Value::Number(n))
        }
        Some(other) => Err(Invalid(format!(
            "timestamp must be an ISO 8601 string or epoch milliseconds, got {other}"
        ))),
    }
}

/// Not JSON at all is "invalid JSON" (the API answers 400); JSON of the wrong shape (an unknown field, a missing
/// one, a wrong type) is an invalid field (422), as PROTOCOL.md promises.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Invalid> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => Invalid(format!("invalid field: {e}")),
        _ => Invalid(format!("invalid JSON payload: {e}")),
    })
}

/// Validates a signal; returns the fields to publish.
pub fn signal(body: &[u8], now_rfc3339: &str) -> Result<Fields, Invalid> {
    let s: SignalIn = parse(body)?;
    check_type(s.kind, "signal")?;
    let signal_type = s.signal_type.trim().to_ascii_uppercase();
    if !matches!(signal_type.as_str(), "BUY" | "SELL" | "HOLD") {
        return Err(Invalid(format!(
            "signal_type must be BUY, SELL or HOLD, got {:?}",
            s.signal_type
        )));
    }
    if !(s.confidence.is_finite() && (0.0..=1.0).contains(&s.confidence)) {
        return Err(Invalid(format!(
            "confidence must be between 0 and 1, got {}",
            s.confidence
        )));
    }
    Ok(fields(json!({
        "type": "signal",
        "signal_type": signal_type,
        "symbol": symbol(&s.symbol)?,
        "price": positive("price", s.price)?,
        "confidence": s.confidence,
        "timestamp": timestamp(s.timestamp, now_rfc3339)?,
    })))
}

/// Validates a trade; returns the fields to publish.
pub fn trade(body: &[u8], now_rfc3339: &str) -> Result<Fields, Invalid> {
    let t: TradeIn = parse(body)?;
    check_type(t.kind, "trade_executed")?;
    let side = t.side.trim().to_ascii_uppercase();
    if !matches!(side.as_str(), "BUY" | "SELL") {
        return Err(Invalid(format!(
            "side must be BUY or SELL, got {:?}",
            t.side
        )));
    }
    Ok(fields(json!({
        "type": "trade_executed",
        "symbol": symbol(&t.symbol)?,
        "side": side,
        "quantity": positive("quantity", t.quantity)?,
        "price": positive("price", t.price)?,
        "timestamp": timestamp(t.timestamp, now_rfc3339)?,
    })))
}

fn fields(v: Value) -> Fields {
    match v {
        Value::Object(m) => m.into_iter().collect(),
        _ => Fields::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-11-21T12:00:00.000Z";

    #[test]
    fn a_good_signal_is_normalised_and_stamped() {
        let f = signal(br#"{"type":"signal","signal_type":"buy","symbol":"aapl","price":231.5,"confidence":0.8}"#, NOW).unwrap();
        assert_eq!(f["signal_type"], json!("BUY"));
        assert_eq!(f["symbol"], json!("AAPL"));
        assert_eq!(f["timestamp"], json!(NOW));
        assert_eq!(f["type"], json!("signal"));
    }

    #[test]
    fn bad_signals_say_what_is_wrong() {
        let cases: [(&[u8], &str); 7] = [
            (b"{", "invalid JSON"),
            (br#"{"signal_type":"BUY","symbol":"X","price":1,"confidence":2}"#, "confidence"),
            (br#"{"signal_type":"MAYBE","symbol":"X","price":1,"confidence":0.5}"#, "signal_type"),
            (br#"{"signal_type":"BUY","symbol":"","price":1,"confidence":0.5}"#, "symbol"),
            (br#"{"signal_type":"BUY","symbol":"X","price":-1,"confidence":0.5}"#, "price"),
            (br#"{"signal_type":"BUY","symbol":"X","price":1,"confidence":0.5,"extra":1}"#, "invalid field: unknown field"),
            (br#"{"type":"trade_executed","signal_type":"BUY","symbol":"X","price":1,"confidence":0.5}"#, "type must be"),
        ];
        for (body, needle) in cases {
            let e = signal(body, NOW).unwrap_err();
            assert!(
                e.0.contains(needle),
                "{:?} -> {e}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn trades_validate_side_and_quantity_and_keep_a_given_timestamp() {
        let f = trade(br#"{"symbol":"SPY","side":"sell","quantity":100,"price":590.1,"timestamp":"2026-11-21T10:00:00"}"#, NOW).unwrap();
        assert_eq!(f["side"], json!("SELL"));
        assert_eq!(f["timestamp"], json!("2026-11-21T10:00:00"));
        assert!(trade(
            br#"{"symbol":"SPY","side":"short","quantity":1,"price":1}"#,
            NOW
        )
        .unwrap_err()
        .0
        .contains("side"));
        assert!(trade(
            br#"{"symbol":"SPY","side":"BUY","quantity":0,"price":1}"#,
            NOW
        )
        .unwrap_err()
        .0
        .contains("quantity"));
        assert!(trade(
            br#"{"symbol":"SPY","side":"BUY","quantity":1,"price":1,"timestamp":true}"#,
            NOW
        )
        .is_err());
    }
}
