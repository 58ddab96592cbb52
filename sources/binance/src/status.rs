//! The `binance` item of the `status` topic: the common fields ([`tickdesk_hub::status`]) with `state` one of
//! `connecting`, `live`, `simulated` (live, from the built-in simulator), `polling REST`, `unavailable here (451)`,
//! `reconnecting`, `error`; plus `simulated` (bool), `endpoint` (the stream base in use), `refused` (symbols
//! Binance does not know), and the link's counters: `connections` (opened), `replacements` (make-before-break
//! swaps: 24 h limit, `serverShutdown`), `trades`, `duplicates` (updates seen on two connections and applied
//! once) and `trade_gaps` (trades that never arrived).
//!
//! Counters and `last_msg` move all the time: they are published at most once per `throttle`, any other change
//! at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tickdesk_market::clock::wall_ms as now_ms;

use super::book::BookStats;
use tickdesk_hub::broker::Publisher;
use tickdesk_hub::status::SourceStatus;

/// The status item's key and `source` field.
pub const SOURCE: &str = "binance";

/// What a user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connecting,
    Live,
    PollingRest,
    Restricted,
    Reconnecting,
    Error,
}

impl State {
    /// The word shown; a live link to the built-in simulator shows `simulated`.
    pub fn as_str(self, simulated: bool) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Live if simulated => "simulated",
            State::Live => "live",
            State::PollingRest => "polling REST",
            State::Restricted => "unavailable here (451)",
            State::Reconnecting => "reconnecting",
            State::Error => "error",
        }
    }
}

/// Keeps and publishes the status item.
#[derive(Debug)]
pub struct Status {
    store: Arc<dyn Publisher>,
    state: State,
    since: i64,
    last_msg: Option<i64>,
    detail: String,
    error: Option<String>,
    simulated: bool,
    endpoint: String,
    refused: Vec<String>,
    connections: u64,
    replacements: u64,
    stats: BookStats,
    throttle: Duration,
    last_publish: Option<Instant>,
    dirty: bool,
}

impl Status {
    pub fn new(store: Arc<dyn Publisher>, throttle: Duration) -> Status {
        let mut s = Status {
            store,
            state: State::Connecting,
            since: now_ms(),
            last_msg: None,
            detail: "starting".into(),
            error: None,
            simulated: false,
            endpoint: String::new(),
            refused: Vec::new(),
            connections: 0,
            replacements: 0,
            stats: BookStats::default(),
            throttle,
            last_publish: None,
            dirty: true,
        };
        s.publish_now();
        s
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// A new state (or new words for it), published at once.
    pub fn set(&mut self, state: State, detail: impl Into<String>) {
        let detail = detail.into();
        if state != self.state {
            self.since = now_ms();
        }
        if state != self.state || detail != self.detail {
            self.state = state;
            self.detail = detail;
            self.publish_now();
        }
    }

    pub fn set_error(&mut self, error: Option<String>) {
        if error != self.error {
            self.error = error;
            self.publish_now();
        }
    }

    pub fn set_endpoint(&mut self, endpoint: &str, simulated: bool) {
        self.endpoint = endpoint.to_string();
        self.simulated = simulated;
        self.publish_now();
    }

    pub fn set_refused(&mut self, refused: Vec<String>) {
        self.refused = refused;
        self.publish_now();
    }

    /// A message arrived; published within the throttle.
    pub fn message(&mut self) {
        self.last_msg = Some(now_ms());
        self.dirty = true;
    }

    pub fn counters(&mut self, connections: u64, replacements: u64, stats: BookStats) {
        if (connections, replacements, stats) != (self.connections, self.replacements, self.stats) {
            self.connections = connections;
            self.replacements = replacements;
            self.stats = stats;
            self.dirty = true;
        }
    }

    /// Publishes pending changes if the throttle allows.
    pub fn tick(&mut self) {
        if self.dirty
            && self
                .last_publish
                .is_none_or(|t| t.elapsed() >= self.throttle)
        {
            self.publish_now();
        }
    }

    fn item(&self) -> SourceStatus {
        let mut s = SourceStatus::new(
            SOURCE,
            self.state.as_str(self.simulated),
            self.since,
            self.detail.clone(),
        );
        s.last_msg = self.last_msg;
        s.error = self.error.clone();
        s.extra = vec![
            ("simulated", json!(self.simulated)),
            ("endpoint", json!(self.endpoint)),
            ("refused", json!(self.refused)),
            ("connections", json!(self.connections)),
            ("replacements", json!(self.replacements)),
            ("trades", json!(self.stats.trades)),
            ("duplicates", json!(self.stats.duplicates)),
            ("trade_gaps", json!(self.stats.trade_gaps)),
        ];
        s
    }

    fn publish_now(&mut self) {
        self.item().publish(&*self.store);
        self.last_publish = Some(Instant::now());
        self.dirty = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_as_the_issue_names_them() {
        assert_eq!(State::Live.as_str(true), "simulated");
        assert_eq!(State::Live.as_str(false), "live");
        assert_eq!(State::PollingRest.as_str(false), "polling REST");
        assert_eq!(State::Restricted.as_str(true), "unavailable here (451)");
    }

    #[test]
    fn the_item_has_the_common_fields_and_its_own() {
        let store = Arc::new(tickdesk_hub::memory::MemoryBroker::new(16, 16));
        let mut s = Status::new(store.clone(), Duration::from_secs(1));
        s.set_refused(vec!["FOOBAR".into()]);
        s.set(State::Restricted, "use Binance.US");
        let snap = store.snapshot("status").unwrap();
        let f = &snap.items["binance"];
        assert_eq!(f["state"], json!("unavailable here (451)"));
        assert_eq!(f["refused"], json!(["FOOBAR"]));
        for k in [
            "source",
            "since",
            "last_msg",
            "detail",
            "error",
            "simulated",
            "trade_gaps",
        ] {
            assert!(f.contains_key(k), "{k}");
        }
    }
}
