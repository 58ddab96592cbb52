//! The `schwab` item of the `status` topic: what the desk shows about this source.
//!
//! The common fields ([`tickdesk_hub::status`]) with `state` one of `connecting`, `live`, `reconnecting`, `delayed`,
//! `closed`, `stopped`, `error`; plus `delayed` (bool), and the market's clock: `market` (`open`, `pre-market`,
//! `after-hours`, `closed`), `next_open` (ms of the next regular open, null during the session) and
//! `next_open_et` (the same as `2026-12-03 09:30 ET`, for people), `market_time`
//! (ms, the market clock's now when published) and `clock` (`real`, or `simulated` when the market runs on a
//! demo or replay clock).
//!
//! **Closed is not stale.** Outside the regular session a healthy link shows `closed` (with `next_open`) instead
//! of `live`: quotes stand still because the market does, not because the feed broke. A broken link still shows
//! `reconnecting`/`error` whatever the hour.
//!
//! `last_msg` moves with every frame, so publishing it on every frame would make the status topic as busy as the
//! market; it is published at most once per `throttle`, and at once on any other change.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use tickdesk_market::clock::wall_ms as now_ms;
use tickdesk_market::Phase;

use tickdesk_hub::broker::Publisher;
use tickdesk_hub::status::SourceStatus;

/// The status item's key and `source` field.
pub const SOURCE: &str = "schwab";

/// The states a user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connecting,
    Live,
    Reconnecting,
    Delayed,
    /// Shown, never set: a healthy link outside the regular session.
    Closed,
    Stopped,
    Error,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Live => "live",
            State::Reconnecting => "reconnecting",
            State::Delayed => "delayed",
            State::Closed => "closed",
            State::Stopped => "stopped",
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
    delayed: bool,
    detail: String,
    /// Standing notes appended to the detail: the key budget, the refresh token's end.
    budget_note: Option<String>,
    token_note: Option<String>,
    error: Option<String>,
    throttle: Duration,
    last_publish: Option<Instant>,
    dirty: bool,
    /// The market's phase and next open, from the calendar on the market clock.
    market: Option<MarketNote>,
}

/// Where the market is, as the status shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketNote {
    pub phase: Phase,
    /// The next regular open (ms), when outside the session.
    pub next_open: Option<i64>,
    /// The market clock's now (ms).
    pub market_time: i64,
    /// The market clock is a demo or replay clock.
    pub simulated: bool,
}

impl Status {
    pub fn new(store: Arc<dyn Publisher>, throttle: Duration) -> Self {
        let s = Status {
            store,
            state: State::Connecting,
            since: now_ms(),
            last_msg: None,
            delayed: false,
            detail: "starting".into(),
            budget_note: None,
            token_note: None,
            error: None,
            throttle,
            last_publish: None,
            dirty: true,
            market: None,
        };
        s.publish_now();
        s
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The state a user sees: a healthy link outside the session is `closed`.
    pub fn shown_state(&self) -> State {
        let closed = self
            .market
            .as_ref()
            .is_some_and(|m| m.phase != Phase::Regular);
        match self.state {
            State::Live | State::Delayed if closed => State::Closed,
            s => s,
        }
    }

    /// Records the market's phase; publishes at once when the phase (or the next open) changed.
    pub fn set_market(&mut self, note: MarketNote) {
        let changed = self.market.as_ref().is_none_or(|m| {
            (m.phase, m.next_open, m.simulated) != (note.phase, note.next_open, note.simulated)
        });
        let before = self.shown_state();
        self.market = Some(note);
        if self.shown_state() != before {
            self.since = now_ms();
        }
        if changed {
            self.flush_now();
        }
    }

    pub fn detail(&self) -> String {
        let mut parts = vec![self.detail.clone()];
        parts.extend(self.budget_note.clone());
        parts.extend(self.token_note.clone());
        parts.retain(|p| !p.is_empty());
        parts.join("; ")
    }

    /// Changes state and detail; publishes at once.
    pub fn set(&mut self, state: State, detail: impl Into<String>) {
        if state != self.state {
            self.state = state;
            self.since = now_ms();
        }
        self.detail = detail.into();
        self.flush_now();
    }

    pub fn set_error(&mut self, error: Option<String>) {
        if self.error != error {
            self.error = error;
            self.flush_now();
        }
    }

    pub fn set_delayed(&mut self, delayed: bool) {
        if self.delayed != delayed {
            self.delayed = delayed;
            if delayed && self.state == State::Live {
                self.state = State::Delayed;
                self.since = now_ms();
            } else if !delayed && self.state == State::Delayed {
                self.state = State::Live;
                self.since = now_ms();
            }
            self.flush_now();
        }
    }

    pub fn delayed(&self) -> bool {
        self.delayed
    }

    pub fn set_budget_note(&mut self, note: Option<String>) {
        if self.budget_note != note {
            self.budget_note = note;
            self.flush_now();
        }
    }

    pub fn set_token_note(&mut self, note: Option<String>) {
        if self.token_note != note {
            self.token_note = note;
            self.flush_now();
        }
    }

    /// A frame arrived: `last_msg` moves, published within the throttle.
    pub fn message_seen(&mut self) {
        self.last_msg = Some(now_ms());
        self.dirty = true;
        self.flush();
    }

    /// Publishes pending changes if the throttle allows (call it on a timer too).
    pub fn flush(&mut self) {
        if self.dirty
            && self
                .last_publish
                .is_none_or(|t| t.elapsed() >= self.throttle)
        {
            self.flush_now();
        }
    }

    fn flush_now(&mut self) {
        self.publish_now();
        self.last_publish = Some(Instant::now());
        self.dirty = false;
    }

    fn publish_now(&self) {
        let mut detail = self.detail();
        let mut extra = vec![("delayed", json!(self.delayed))];
        if let Some(m) = &self.market {
            if m.phase != Phase::Regular {
                let opens = m.next_open.map(tickdesk_market::zone::et_label);
                let note = match (m.phase, opens) {
                    (Phase::Closed, Some(at)) => format!("market closed, opens {at}"),
                    (p, Some(at)) => format!("market {} (options closed), opens {at}", p.as_str()),
                    (p, None) => format!("market {}", p.as_str()),
                };
                detail = if detail.is_empty() {
                    note
                } else {
                    format!("{note}; {detail}")
                };
            }
            extra.extend([
                ("market", json!(m.phase.as_str())),
                ("next_open", m.next_open.map_or(Value::Null, |t| json!(t))),
                (
                    "next_open_et",
                    m.next_open
                        .map_or(Value::Null, |t| json!(tickdesk_market::zone::et_label(t))),
                ),
                ("market_time", json!(m.market_time)),
                (
                    "clock",
                    json!(if m.simulated { "simulated" } else { "real" }),
                ),
            ]);
        }
        SourceStatus {
            source: SOURCE.into(),
            state: self.shown_state().as_str().into(),
            since: self.since,
            last_msg: self.last_msg,
            detail,
            error: self.error.clone(),
            extra,
        }
        .publish(&*self.store);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_state_changes_at_once_and_last_msg_throttled() {
        let store = Arc::new(tickdesk_hub::memory::MemoryBroker::new(64, 64));
        let mut s = Status::new(store.clone(), Duration::from_secs(3600));
        let item = |store: &tickdesk_hub::memory::MemoryBroker| {
            store.snapshot(tickdesk_wire::topics::STATUS).unwrap().items[SOURCE].clone()
        };
        assert_eq!(item(&store)["state"], json!("connecting"));
        s.set(State::Live, "streaming 10 keys");
        s.set_budget_note(Some(
            "streaming 480 of 612 watched contracts (key budget 500)".into(),
        ));
        let i = item(&store);
        assert_eq!(i["state"], json!("live"));
        assert_eq!(
            i["detail"],
            json!("streaming 10 keys; streaming 480 of 612 watched contracts (key budget 500)")
        );
        assert_eq!(i["error"], Value::Null);
        let seq = store.snapshot(tickdesk_wire::topics::STATUS).unwrap().seq;
        s.message_seen();
        s.message_seen();
        assert_eq!(
            store.snapshot(tickdesk_wire::topics::STATUS).unwrap().seq,
            seq,
            "last_msg waits for the throttle"
        );
        s.set_delayed(true);
        let i = item(&store);
        assert_eq!(
            (i["state"].clone(), i["delayed"].clone()),
            (json!("delayed"), json!(true))
        );
        assert!(
            i["last_msg"].is_number(),
            "a real change carries the pending last_msg along"
        );
        s.set_error(Some("boom".into()));
        assert_eq!(item(&store)["error"], json!("boom"));
    }

    #[test]
    fn a_healthy_link_outside_the_session_is_closed_with_the_next_open() {
        use tickdesk_wire::topics::STATUS as STATUS_TOPIC;
        let store = Arc::new(tickdesk_hub::memory::MemoryBroker::new(64, 64));
        let mut s = Status::new(store.clone(), Duration::from_secs(3600));
        let item = |store: &tickdesk_hub::memory::MemoryBroker| {
            store.snapshot(STATUS_TOPIC).unwrap().items[SOURCE].clone()
        };
        s.set(State::Live, "streaming 10 keys");
        let open_at = 1_764_858_600_000;
        s.set_market(MarketNote {
            phase: Phase::Closed,
            next_open: Some(open_at),
            market_time: 1,
            simulated: false,
        });
        let i = item(&store);
        assert_eq!(i["state"], json!("closed"));
        assert_eq!(i["market"], json!("closed"));
        assert_eq!(i["next_open"], json!(open_at));
        assert_eq!(i["next_open_et"], json!("2025-12-04 09:30 ET"));
        assert!(
            i["detail"]
                .as_str()
                .unwrap()
                .starts_with("market closed, opens 2025-12-04 09:30 ET"),
            "{}",
            i["detail"]
        );
        // A broken link is not hidden behind "closed".
        s.set(State::Reconnecting, "reconnecting in 2 s");
        assert_eq!(item(&store)["state"], json!("reconnecting"));
        // The open: live again.
        s.set(State::Live, "streaming");
        s.set_market(MarketNote {
            phase: Phase::Regular,
            next_open: None,
            market_time: 2,
            simulated: true,
        });
        let i = item(&store);
        assert_eq!(
            (i["state"].clone(), i["clock"].clone()),
            (json!("live"), json!("simulated"))
        );
    }
}
