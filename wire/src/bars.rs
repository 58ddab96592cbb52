//! One bar of a `bars:{SYMBOL}` topic, as the relay writes it and the app reads it.
//!
//! Every source (Schwab's pricehistory + `CHART_EQUITY`, Binance's klines) is turned into this one shape, so the
//! Chart tab and the indicators never care where a bar came from. A bar is an item keyed by its start time in
//! milliseconds written as decimal digits: the keys of a `BTreeMap` then sort in time order (every time from
//! 2001-09-09 to 2286 has 13 digits), and the current minute's bar updates in place under its own key.

use crate::Fields;
use serde_json::{json, Value};

/// A 1-minute OHLCV bar; `t` is the bar's start, ms since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bar {
    pub t: i64,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    pub v: f64,
}

impl Bar {
    /// The item key of the bar starting at `t`.
    #[must_use]
    pub fn key(t: i64) -> String {
        t.to_string()
    }

    /// The bar as the item fields of a `bars:` topic: `t`, `o`, `h`, `l`, `c`, `v`.
    #[must_use]
    pub fn to_fields(&self) -> Fields {
        [
            ("t", json!(self.t)),
            ("o", json!(self.o)),
            ("h", json!(self.h)),
            ("l", json!(self.l)),
            ("c", json!(self.c)),
            ("v", json!(self.v)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Reads a bar back from its item fields; `None` when a field is missing or not a number.
    #[must_use]
    pub fn from_fields(f: &Fields) -> Option<Self> {
        let n = |k: &str| f.get(k).and_then(Value::as_f64);
        Some(Self {
            t: f.get("t").and_then(Value::as_i64)?,
            o: n("o")?,
            h: n("h")?,
            l: n("l")?,
            c: n("c")?,
            v: n("v")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_round_trips_through_its_fields_and_keys_sort_in_time_order() {
        let bar = Bar {
            t: 1_765_307_100_000,
            o: 221.133,
            h: 221.18,
            l: 221.02,
            c: 221.02,
            v: 11_730.0,
        };
        assert_eq!(Bar::from_fields(&bar.to_fields()), Some(bar));
        let mut keys = vec![
            Bar::key(1_765_307_160_000),
            Bar::key(1_765_307_100_000),
            Bar::key(1_000_000_000_000),
        ];
        keys.sort();
        assert_eq!(keys, ["1000000000000", "1765307100000", "1765307160000"]);
        let mut missing = bar.to_fields();
        missing.remove("v");
        assert_eq!(Bar::from_fields(&missing), None);
    }
}
