//! Schwab's side of the `bars:{SYMBOL}` topics (pure): which `bars:` topics Schwab serves, the pricehistory
//! answer and the `CHART_EQUITY` item as [`Bar`]s. The series they feed is source-agnostic ([`tickdesk_hub::bars`]).

use serde_json::Value;
use tickdesk_schwab_proto::fields::number;
use tickdesk_wire::bars::Bar;

/// Whether Schwab serves `bars:{symbol}`. The one place the routing of an on-demand `bars:` topic is decided:
/// every symbol goes to Schwab except those another source publishes itself (it pre-creates its topics, e.g.
/// Binance's `bars:BTCUSDT`); `other_source` says whether one does.
pub fn is_schwab_bars(symbol: &str, other_source: impl Fn(&str) -> bool) -> bool {
    !symbol.is_empty() && !other_source(symbol)
}

/// The bars of a `GET /marketdata/v1/pricehistory` answer: `{"candles":[{open, high, low, close, volume,
/// datetime}], "symbol", "empty"}`. Candles missing a number are skipped; `None` when the answer is not that shape.
pub fn parse_price_history(v: &Value) -> Option<Vec<Bar>> {
    let candles = v.get("candles")?.as_array()?;
    Some(
        candles
            .iter()
            .filter_map(|c| {
                let n = |k: &str| c.get(k).and_then(number);
                Some(Bar {
                    t: c.get("datetime").and_then(Value::as_i64)?,
                    o: n("open")?,
                    h: n("high")?,
                    l: n("low")?,
                    c: n("close")?,
                    v: n("volume").unwrap_or(0.0),
                })
            })
            .collect(),
    )
}

/// A `CHART_EQUITY` item's bar, read with the wire's numbering (2 open, 3 high, 4 low, 5 close, 6 volume, 7 chart
/// time); `None` when a field is missing. Field 1 (sequence) and `seq` say nothing the time does not.
pub fn chart_bar(fields: &[(String, Value)]) -> Option<Bar> {
    let get = |id: &str| {
        fields
            .iter()
            .find(|(k, _)| k == id)
            .and_then(|(_, v)| number(v))
    };
    Some(Bar {
        t: get("7")? as i64,
        o: get("2")?,
        h: get("3")?,
        l: get("4")?,
        c: get("5")?,
        v: get("6").unwrap_or(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_captured_chart_item_reads_with_the_wire_numbering() {
        // The capture in reference §4 (AMD, 2025-12-09 14:05 ET), as the streamer parser hands it over.
        let item = json!({"seq":202,"key":"AMD","1":425,"2":221.133,"3":221.18,"4":221.02,"5":221.02,"6":11730,"7":1765307100000_i64,"8":20431});
        let fields: Vec<(String, Value)> = item
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.parse::<u32>().is_ok())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(
            chart_bar(&fields),
            Some(Bar {
                t: 1_765_307_100_000,
                o: 221.133,
                h: 221.18,
                l: 221.02,
                c: 221.02,
                v: 11_730.0
            })
        );
        assert_eq!(chart_bar(&fields[..3]), None);
    }

    #[test]
    fn pricehistory_candles_become_bars() {
        let v = json!({"candles":[
            {"open":1.0,"high":2.0,"low":0.5,"close":1.5,"volume":100,"datetime":60000},
            {"open":1.5,"high":2.0,"low":0.5,"close":"x","volume":100,"datetime":120000}],
            "symbol":"AAPL","empty":false});
        let bars = parse_price_history(&v).unwrap();
        assert_eq!(bars.len(), 1);
        assert_eq!(bars[0].t, 60_000);
        assert_eq!(parse_price_history(&json!({"error":"x"})), None);
        assert_eq!(
            parse_price_history(&json!({"candles":[],"empty":true})),
            Some(vec![])
        );
    }

    #[test]
    fn bars_go_to_schwab_unless_another_source_has_them() {
        let binance = |s: &str| s == "BTCUSDT";
        assert!(is_schwab_bars("AAPL", binance) && is_schwab_bars("$SPX", binance));
        assert!(!is_schwab_bars("BTCUSDT", binance));
    }
}
