//! The `status` topic: one item per source (`schwab`, `rates`, `binance`, and the sources to come), all in one
//! shape, so the desk, `/metrics` and scripts read every source the same way.
//!
//! Every item has `source`, `state`, `since` (ms, when the state last changed), `last_msg` (ms of the last message
//! from the upstream, or null), `detail` (words for a user) and `error` (the last error, or null). A source adds
//! its own fields beside them (Schwab: `delayed`, and the market's `market`, `next_open`, `clock`).
//!
//! `since` and `last_msg` are wall-clock times: they describe the link, not the market, so they stay true when the
//! market runs on a simulated clock.

use serde_json::{json, Value};
use tickdesk_wire::topics;
use tickdesk_wire::Fields;

use crate::broker::Publisher;

/// One source's status, as published.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceStatus {
    pub source: String,
    pub state: String,
    pub since: i64,
    pub last_msg: Option<i64>,
    pub detail: String,
    pub error: Option<String>,
    /// The source's own fields.
    pub extra: Vec<(&'static str, Value)>,
}

impl SourceStatus {
    /// A status with no message seen, no error and no extra fields.
    pub fn new(source: &str, state: &str, since: i64, detail: impl Into<String>) -> SourceStatus {
        SourceStatus {
            source: source.into(),
            state: state.into(),
            since,
            last_msg: None,
            detail: detail.into(),
            error: None,
            extra: Vec::new(),
        }
    }

    /// The item's fields.
    pub fn fields(&self) -> Fields {
        let opt = |v: &Option<String>| v.as_ref().map_or(Value::Null, |s| json!(s));
        let mut f: Fields = [
            ("source", json!(self.source)),
            ("state", json!(self.state)),
            ("since", json!(self.since)),
            ("last_msg", self.last_msg.map_or(Value::Null, |m| json!(m))),
            ("detail", json!(self.detail)),
            ("error", opt(&self.error)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in &self.extra {
            f.insert((*k).to_string(), v.clone());
        }
        f
    }

    /// Writes the item into the status topic.
    pub fn publish(&self, store: &dyn Publisher) {
        store.publish(
            topics::STATUS,
            [(self.source.clone(), self.fields())].into_iter().collect(),
            vec![],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_has_the_common_fields() {
        let mut s = SourceStatus::new("rates", "live", 5, "simulated rates desk");
        s.extra.push(("market", json!("open")));
        let f = s.fields();
        for k in [
            "source", "state", "since", "last_msg", "detail", "error", "market",
        ] {
            assert!(f.contains_key(k), "{k}");
        }
        assert_eq!(f["last_msg"], Value::Null);
        assert_eq!(f["state"], json!("live"));
    }
}
