//! What the streamer delivers: its items as rows of the chain and quote topics (only the fields they carry), and
//! the [`Feed`]'s memory of it — which keys said they are delayed, which underlyings' quotes stream.

use std::collections::HashSet;

use serde_json::{json, Value};
use tickdesk_wire::Fields;

use tickdesk_schwab_proto::fields::{self, LEVELONE_EQUITIES, LEVELONE_OPTIONS};

/// A `LEVELONE_OPTIONS` item's row: only the fields it carries (a missing field is unchanged), streamed now.
pub(super) fn option_row(item: &[(String, Value)], ts: i64) -> Fields {
    let mut row: Fields = item
        .iter()
        .filter_map(|(id, v)| fields::map_field(LEVELONE_OPTIONS, id, v))
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    row.insert("ts".into(), json!(ts));
    row.insert("live".into(), json!(true));
    row
}

/// A `LEVELONE_EQUITIES` item's row of the quotes topic.
pub(super) fn equity_row(item: &[(String, Value)], delayed: Option<bool>, ts: i64) -> Fields {
    let mut row: Fields = item
        .iter()
        .filter_map(|(id, v)| fields::map_field(LEVELONE_EQUITIES, id, v))
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    row.insert("ts".into(), json!(ts));
    if let Some(d) = delayed {
        row.insert("delayed".into(), json!(d));
    }
    row
}

/// What the stream delivered so far.
#[derive(Debug, Default)]
pub(super) struct Feed {
    /// Keys whose latest snapshot said `delayed: true`, and `chain {topic}` for a delayed REST picture.
    delayed: HashSet<String>,
    /// Underlyings with streamed quotes since connecting (REST must not overwrite them with older values).
    streamed_quotes: HashSet<String>,
}

impl Feed {
    /// A key's `delayed` flag, if its item had one: whether anything is delayed now.
    pub(super) fn note_delayed(&mut self, key: &str, delayed: Option<bool>) -> Option<bool> {
        match delayed? {
            true => self.delayed.insert(key.to_string()),
            false => self.delayed.remove(key),
        };
        Some(!self.delayed.is_empty())
    }

    /// A chain's REST picture was delayed (it stays so across reconnects, until the chain reloads).
    pub(super) fn chain_delayed(&mut self, topic: &str) {
        self.delayed.insert(format!("chain {topic}"));
    }

    pub(super) fn quote_streamed(&mut self, symbol: &str) {
        self.streamed_quotes.insert(symbol.to_string());
    }

    pub(super) fn streams_quote(&self, symbol: &str) -> bool {
        self.streamed_quotes.contains(symbol)
    }

    /// A new connection: no quote streamed yet, and the keys' delays are heard afresh.
    pub(super) fn connected(&mut self) {
        self.streamed_quotes.clear();
        self.delayed.retain(|k| k.starts_with("chain "));
    }

    /// Logged in again on the same socket: no quote streamed yet.
    pub(super) fn relogged(&mut self) {
        self.streamed_quotes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_per_key_and_a_chains_delay_outlives_a_reconnect() {
        let mut f = Feed::default();
        assert_eq!(f.note_delayed("AAPL", None), None, "no flag: no news");
        assert_eq!(f.note_delayed("AAPL", Some(true)), Some(true));
        assert_eq!(
            f.note_delayed("SPY", Some(false)),
            Some(true),
            "AAPL still is"
        );
        assert_eq!(f.note_delayed("AAPL", Some(false)), Some(false));
        f.note_delayed("AAPL", Some(true));
        f.chain_delayed("chain:AAPL:2026-12-18");
        f.quote_streamed("AAPL");
        assert!(f.streams_quote("AAPL") && !f.streams_quote("SPY"));
        f.connected();
        assert!(!f.streams_quote("AAPL"));
        // AAPL's own delay was forgotten; the chain's is what is left.
        assert_eq!(f.note_delayed("SPY", Some(false)), Some(true));
        f.quote_streamed("AAPL");
        f.relogged();
        assert!(!f.streams_quote("AAPL"));
    }

    #[test]
    fn rows_carry_only_the_fields_sent() {
        let item = |id: &str| vec![(id.to_string(), json!(1.5)), ("999".to_string(), json!(7))];
        let row = option_row(&item("2"), 42);
        assert_eq!(row["bid"], json!(1.5));
        assert_eq!(row["ts"], json!(42));
        assert_eq!(row["live"], json!(true));
        assert_eq!(row.len(), 3, "{row:?}");
        let row = equity_row(&item("1"), Some(false), 42);
        assert_eq!(row["bid"], json!(1.5));
        assert_eq!(row["delayed"], json!(false));
        assert_eq!(row.len(), 3, "{row:?}");
        assert!(!equity_row(&[], None, 1).contains_key("delayed"));
    }
}
