//! Binance's stream messages, read defensively (pure): the combined wrapper `{"stream","data"}` or a raw payload,
//! into the few facts the relay keeps. Prices and quantities arrive as decimal strings; a message that does not
//! parse is skipped (and counted), never a reason to drop the connection.

use serde_json::Value;
use tickdesk_wire::bars::Bar;

/// The streams the relay reads for one symbol: trades, best bid/ask, 24 h statistics and 1-minute klines.
pub fn streams_for(symbol: &str) -> [String; 4] {
    let s = symbol.to_ascii_lowercase();
    [
        format!("{s}@aggTrade"),
        format!("{s}@bookTicker"),
        format!("{s}@ticker"),
        format!("{s}@kline_1m"),
    ]
}

/// The connection URL: the first `in_url` streams in a combined-stream URL (`{base}/stream?streams=a/b/c`), or the
/// raw endpoint `{base}/ws` when none are; the rest are asked for with SUBSCRIBE messages ([`subscribe_messages`]).
pub fn stream_url(base: &str, in_url: &[String]) -> String {
    let base = base.trim_end_matches('/');
    if in_url.is_empty() {
        format!("{base}/ws")
    } else {
        format!("{base}/stream?streams={}", in_url.join("/"))
    }
}

/// SUBSCRIBE requests for `streams`, one per `per_message` streams, numbered from `first_id`.
pub fn subscribe_messages(streams: &[String], per_message: usize, first_id: u64) -> Vec<String> {
    streams
        .chunks(per_message.max(1))
        .zip(first_id..)
        .map(|(chunk, id)| {
            serde_json::json!({"method": "SUBSCRIBE", "params": chunk, "id": id}).to_string()
        })
        .collect()
}

/// What the relay takes from one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// `aggTrade`: one taker order.
    Trade {
        symbol: String,
        id: u64,
        price: f64,
        event_ms: i64,
    },
    /// `bookTicker`: best bid and ask (Binance sends no event time with it).
    Book {
        symbol: String,
        update_id: u64,
        bid: f64,
        ask: f64,
    },
    /// `24hrTicker` or `24hrMiniTicker`: the rolling 24 h window.
    Ticker {
        symbol: String,
        event_ms: i64,
        last: f64,
        change_pct: f64,
        volume: f64,
    },
    /// `kline` (1 m): the bar so far, or closed.
    Kline {
        symbol: String,
        event_ms: i64,
        bar: Bar,
        closed: bool,
    },
    /// `serverShutdown`: the server will close this connection soon.
    ServerShutdown,
    /// The answer to a request (`{"result":…,"id":n}`), or its error.
    Answer {
        id: Option<u64>,
        error: Option<String>,
    },
    /// Well-formed but of no use to the relay.
    Other,
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.get(k)
}

fn f(v: &Value, k: &str) -> Option<f64> {
    field(v, k).and_then(num)
}

fn i(v: &Value, k: &str) -> Option<i64> {
    field(v, k).and_then(Value::as_i64)
}

fn u(v: &Value, k: &str) -> Option<u64> {
    field(v, k).and_then(Value::as_u64)
}

fn s(v: &Value, k: &str) -> Option<String> {
    field(v, k).and_then(Value::as_str).map(str::to_string)
}

/// Reads one text message.
///
/// # Errors
/// Not JSON, or a known event missing a field it must have.
pub fn parse(text: &str) -> Result<Msg, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let data = match (v.get("stream"), v.get("data")) {
        (Some(_), Some(d)) => d,
        _ => v.get("event").unwrap_or(&v),
    };
    parse_payload(data).ok_or_else(|| format!("unreadable message: {}", truncate(text)))
}

fn truncate(t: &str) -> &str {
    let mut end = t.len().min(200);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    &t[..end]
}

fn parse_payload(d: &Value) -> Option<Msg> {
    if d.get("result").is_some() || (d.get("error").is_some() && d.get("id").is_some()) {
        let error = d.get("error").map(|e| {
            e.get("msg")
                .and_then(Value::as_str)
                .map_or_else(|| e.to_string(), str::to_string)
        });
        return Some(Msg::Answer {
            id: u(d, "id"),
            error,
        });
    }
    match d.get("e").and_then(Value::as_str) {
        Some("aggTrade") => Some(Msg::Trade {
            symbol: s(d, "s")?,
            id: u(d, "a")?,
            price: f(d, "p")?,
            event_ms: i(d, "E")?,
        }),
        Some("24hrTicker") => Some(Msg::Ticker {
            symbol: s(d, "s")?,
            event_ms: i(d, "E")?,
            last: f(d, "c")?,
            change_pct: f(d, "P")?,
            volume: f(d, "v")?,
        }),
        Some("24hrMiniTicker") => {
            let (o, c) = (f(d, "o")?, f(d, "c")?);
            Some(Msg::Ticker {
                symbol: s(d, "s")?,
                event_ms: i(d, "E")?,
                last: c,
                change_pct: if o > 0.0 { (c - o) / o * 100.0 } else { 0.0 },
                volume: f(d, "v")?,
            })
        }
        Some("kline") => {
            let k = d.get("k")?;
            Some(Msg::Kline {
                symbol: s(d, "s")?,
                event_ms: i(d, "E")?,
                bar: Bar {
                    t: i(k, "t")?,
                    o: f(k, "o")?,
                    h: f(k, "h")?,
                    l: f(k, "l")?,
                    c: f(k, "c")?,
                    v: f(k, "v")?,
                },
                closed: k.get("x").and_then(Value::as_bool).unwrap_or(false),
            })
        }
        Some("serverShutdown") => Some(Msg::ServerShutdown),
        Some(_) => Some(Msg::Other),
        None if d.get("u").is_some() && d.get("b").is_some() && d.get("a").is_some() => {
            Some(Msg::Book {
                symbol: s(d, "s")?,
                update_id: u(d, "u")?,
                bid: f(d, "b")?,
                ask: f(d, "a")?,
            })
        }
        None => None,
    }
}

/// One REST kline row `[open ms, o, h, l, c, volume, close ms, …]` as a bar.
pub fn kline_row(row: &Value) -> Option<Bar> {
    let a = row.as_array()?;
    Some(Bar {
        t: a.first()?.as_i64()?,
        o: num(a.get(1)?)?,
        h: num(a.get(2)?)?,
        l: num(a.get(3)?)?,
        c: num(a.get(4)?)?,
        v: num(a.get(5)?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_reference_payloads_combined_or_raw() {
        let trade = r#"{"e":"aggTrade","E":1700000000123,"s":"BTCUSDT","a":26129,"p":"43000.50","q":"0.012","f":100,"l":105,"T":1700000000120,"m":true,"M":true}"#;
        let wrapped = format!(r#"{{"stream":"btcusdt@aggTrade","data":{trade}}}"#);
        let want = Msg::Trade {
            symbol: "BTCUSDT".into(),
            id: 26129,
            price: 43000.5,
            event_ms: 1_700_000_000_123,
        };
        assert_eq!(parse(trade), Ok(want.clone()));
        assert_eq!(parse(&wrapped), Ok(want));
        assert_eq!(
            parse(
                r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#
            ),
            Ok(Msg::Book {
                symbol: "BNBUSDT".into(),
                update_id: 400900217,
                bid: 25.3519,
                ask: 25.3652
            })
        );
        let t = parse(
            r#"{"e":"24hrTicker","E":123456789,"s":"BNBBTC","p":"0.0015","P":"250.00","c":"0.0025","v":"10000","o":"0.0010"}"#,
        );
        assert_eq!(
            t,
            Ok(Msg::Ticker {
                symbol: "BNBBTC".into(),
                event_ms: 123456789,
                last: 0.0025,
                change_pct: 250.0,
                volume: 10000.0
            })
        );
        let m = parse(r#"{"e":"24hrMiniTicker","E":5,"s":"X","c":"110","o":"100","h":"1","l":"1","v":"7","q":"1"}"#).unwrap();
        let Msg::Ticker { change_pct, .. } = m else {
            panic!("{m:?}")
        };
        assert!((change_pct - 10.0).abs() < 1e-9);
        let k = parse(
            r#"{"e":"kline","E":9,"s":"BTCUSDT","k":{"t":60000,"T":119999,"s":"BTCUSDT","i":"1m","o":"1","c":"2","h":"3","l":"0.5","v":"10","x":true}}"#,
        );
        assert_eq!(
            k,
            Ok(Msg::Kline {
                symbol: "BTCUSDT".into(),
                event_ms: 9,
                bar: Bar {
                    t: 60000,
                    o: 1.0,
                    h: 3.0,
                    l: 0.5,
                    c: 2.0,
                    v: 10.0
                },
                closed: true
            })
        );
    }

    #[test]
    fn answers_shutdown_and_garbage() {
        assert_eq!(
            parse(r#"{"result":null,"id":3}"#),
            Ok(Msg::Answer {
                id: Some(3),
                error: None
            })
        );
        assert_eq!(
            parse(r#"{"error":{"code":2,"msg":"Invalid request"},"id":4}"#),
            Ok(Msg::Answer {
                id: Some(4),
                error: Some("Invalid request".into())
            })
        );
        assert_eq!(
            parse(r#"{"e":"serverShutdown","E":1}"#),
            Ok(Msg::ServerShutdown)
        );
        assert_eq!(
            parse(r#"{"event":{"e":"serverShutdown","E":1}}"#),
            Ok(Msg::ServerShutdown)
        );
        assert!(parse("{not json").is_err());
        assert!(parse(r#"{"e":"aggTrade","s":"X"}"#).is_err());
        assert_eq!(parse(r#"{"e":"depthUpdate"}"#), Ok(Msg::Other));
    }

    #[test]
    fn urls_and_subscriptions() {
        let streams: Vec<String> = streams_for("BTCUSDT")
            .into_iter()
            .chain(streams_for("ETHUSDT"))
            .collect();
        assert_eq!(streams[0], "btcusdt@aggTrade");
        assert_eq!(
            stream_url("wss://stream.binance.com:9443/", &streams[..2]),
            "wss://stream.binance.com:9443/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker"
        );
        assert_eq!(stream_url("ws://127.0.0.1:9", &[]), "ws://127.0.0.1:9/ws");
        let msgs = subscribe_messages(&streams, 4, 1);
        assert_eq!(msgs.len(), 2);
        let v: Value = serde_json::from_str(&msgs[1]).unwrap();
        assert_eq!(v["method"], "SUBSCRIBE");
        assert_eq!(v["id"], 2);
        assert_eq!(v["params"][0], "ethusdt@aggTrade");
        assert_eq!(
            kline_row(&serde_json::json!([
                60000, "1.0", "2", "0.5", "1.5", "100", 119999, "1", 5, "1", "1", "0"
            ])),
            Some(Bar {
                t: 60000,
                o: 1.0,
                h: 2.0,
                l: 0.5,
                c: 1.5,
                v: 100.0
            })
        );
    }
}
