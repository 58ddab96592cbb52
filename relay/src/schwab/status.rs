//! The `schwab` item of the `status` topic: what the desk shows about this source.
//!
//! Fields: `source` ("schwab"), `state` (`connecting`, `live`, `reconnecting`, `delayed`, `stopped`, `error`),
//! `since` (ms, when the state last changed), `last_msg` (ms, last frame from the streamer), `delayed` (bool),
//! `detail` (words for a user) and `error` (the last error, or null).
//!
//! `last_msg` moves with every frame, so publishing it on every frame would make the status topic as busy as the
//! market; it is published at most once per `throttle`, and at once on any other change.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tickdesk_wire::Fields;

use super::dates::now_ms;
use crate::server::STATUS_TOPIC;
use crate::store::Store;

/// The status item's key and `source` field.
pub const SOURCE: &str = "schwab";

/// The states a user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connecting,
    Live,
    Reconnecting,
    Delayed,
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
            State::Stopped => "stopped",
            State::Error => "error",
        }
    }
}

/// Keeps and publishes the status item.
#[derive(Debug)]
pub struct Status {
    store: Arc<Store>,
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
}

impl Status {
    pub fn new(store: Arc<Store>, throttle: Duration) -> Self {
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
        };
        s.publish_now();
        s
    }

    pub fn state(&self) -> State {
        self.state
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
        let fields: Fields = [
            ("source", json!(SOURCE)),
            ("state", json!(self.state.as_str())),
            ("since", json!(self.since)),
            ("last_msg", self.last_msg.map_or(Value::Null, |m| json!(m))),
            ("delayed", json!(self.delayed)),
            ("detail", json!(self.detail())),
            (
                "error",
                self.error.as_ref().map_or(Value::Null, |e| json!(e)),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        self.store.publish(
            STATUS_TOPIC,
            [(SOURCE.to_string(), fields)].into_iter().collect(),
            vec![],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_state_changes_at_once_and_last_msg_throttled() {
        let store = Arc::new(Store::new(64, 64));
        let mut s = Status::new(store.clone(), Duration::from_secs(3600));
        let item = |store: &Store| store.snapshot(STATUS_TOPIC).unwrap().items[SOURCE].clone();
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
        let seq = store.snapshot(STATUS_TOPIC).unwrap().seq;
        s.message_seen();
        s.message_seen();
        assert_eq!(
            store.snapshot(STATUS_TOPIC).unwrap().seq,
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
}
