//! The relay's state: every topic's items, its (epoch, seq) and a bounded history of recent deltas.
//!
//! Sources publish whole or partial rows; the store keeps only the fields that really changed, bumps the
//! topic's seq by one, appends the delta to the history (for resume) and broadcasts it, pre-encoded once, to every
//! session. The broadcast happens under the topic's lock, so sessions see each topic's deltas in seq order, and a
//! session that subscribed to the broadcast *before* reading a snapshot can never miss a change in between.
//!
//! Locks are `std::sync::Mutex`: they are held for a few microseconds and never across an `.await`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::ws::Utf8Bytes;
use tickdesk_wire::{merge, Delta, Fields, Items, ServerMsg};
use tokio::sync::broadcast;

pub use crate::conflate::SharedDelta;

/// A change as sessions receive it.
#[derive(Debug)]
pub enum Event {
    /// One delta, encoded once: a session that has nothing pending for the topic sends its `frame` as it is, and
    /// one a little behind splices the `json` of several into one frame, so N clients cost one encode.
    Delta(Arc<SharedDelta>),
    /// The topic's state was replaced (new epoch): sessions send a fresh snapshot.
    Reset { topic: String },
}

/// A point-in-time copy of one topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub topic: String,
    pub epoch: String,
    pub seq: u64,
    pub items: Items,
}

/// Why a resume was answered with a snapshot rather than the missed deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeMiss {
    /// The topic was reset since (relay restart or upstream re-snapshot).
    EpochChanged,
    /// The history no longer reaches back to the client's seq.
    HistoryGone,
    /// The client claims a seq the topic has not reached: a replica from another life.
    FromTheFuture,
}

#[derive(Debug)]
struct TopicState {
    epoch: String,
    seq: u64,
    items: Items,
    history: VecDeque<Delta>,
    /// The encoded `snapshot` frame of the current (epoch, seq), made by the first client that asked: a reconnect
    /// storm of N clients costs one encode per topic and seq, not N.
    snapshot_frame: Option<Utf8Bytes>,
}

/// The set of topics. Cheap to clone behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    topics: RwLock<HashMap<String, Arc<Mutex<TopicState>>>>,
    tx: broadcast::Sender<Arc<Event>>,
    history_len: usize,
}

fn new_epoch() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

impl Store {
    /// `history_len` deltas are kept per topic for resume; `channel_len` events are buffered per session before
    /// a session that falls behind is re-synchronised with a snapshot.
    pub fn new(history_len: usize, channel_len: usize) -> Self {
        let (tx, _) = broadcast::channel(channel_len.max(16));
        Store {
            topics: RwLock::new(HashMap::new()),
            tx,
            history_len: history_len.max(1),
        }
    }

    /// Receives every change of every topic from now on. Call it *before* reading snapshots.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Creates an empty topic if it does not exist yet.
    pub fn ensure_topic(&self, topic: &str) {
        if self.topic(topic).is_none() {
            let mut map = self.topics.write().unwrap_or_else(|e| e.into_inner());
            map.entry(topic.to_string()).or_insert_with(|| {
                Arc::new(Mutex::new(TopicState {
                    epoch: new_epoch(),
                    seq: 0,
                    items: Items::new(),
                    history: VecDeque::new(),
                    snapshot_frame: None,
                }))
            });
        }
    }

    pub fn has_topic(&self, topic: &str) -> bool {
        self.topic(topic).is_some()
    }

    /// The names of all topics, sorted.
    pub fn topic_names(&self) -> Vec<String> {
        let map = self.topics.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = map.keys().cloned().collect();
        names.sort();
        names
    }

    fn topic(&self, topic: &str) -> Option<Arc<Mutex<TopicState>>> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            .cloned()
    }

    /// Applies rows to a topic (creating it if needed). Fields equal to the current value are dropped; if nothing
    /// is left the seq does not move and `None` is returned. Otherwise returns the new seq.
    pub fn publish(&self, topic: &str, rows: Items, del: Vec<String>) -> Option<u64> {
        self.ensure_topic(topic);
        let state = self.topic(topic)?;
        let mut t = state.lock().unwrap_or_else(|e| e.into_inner());
        let set = changed_fields(&t.items, rows);
        let del: Vec<String> = del
            .into_iter()
            .filter(|k| t.items.contains_key(k))
            .collect();
        self.commit(topic, &mut t, set, del)
    }

    /// Appends an event to an append-only topic (signals, trades), keeping the newest `keep` events.
    ///
    /// Keys are the seq at insertion, zero-padded, so key order is arrival order and the oldest event is the first
    /// key. Returns the event's key.
    pub fn append(&self, topic: &str, mut fields: Fields, keep: usize) -> Option<String> {
        self.ensure_topic(topic);
        let state = self.topic(topic)?;
        let mut t = state.lock().unwrap_or_else(|e| e.into_inner());
        let key = format!("{:012}", t.seq + 1);
        fields.insert("id".into(), serde_json::Value::String(key.clone()));
        let excess = (t.items.len() + 1).saturating_sub(keep.max(1));
        let del: Vec<String> = t.items.keys().take(excess).cloned().collect();
        let set: Items = [(key.clone(), fields)].into_iter().collect();
        self.commit(topic, &mut t, set, del).map(|_| key)
    }

    /// Records a change: bumps the seq, keeps it in the history and broadcasts it, all under the topic's lock so
    /// sessions see each topic's deltas in seq order.
    fn commit(&self, topic: &str, t: &mut TopicState, set: Items, del: Vec<String>) -> Option<u64> {
        if set.is_empty() && del.is_empty() {
            return None;
        }
        let delta = Delta {
            topic: topic.to_string(),
            epoch: t.epoch.clone(),
            prev: t.seq,
            seq: t.seq + 1,
            set,
            del,
        };
        merge::apply(&mut t.items, &delta);
        t.seq = delta.seq;
        t.snapshot_frame = None;
        if t.history.len() == self.history_len {
            t.history.pop_front();
        }
        t.history.push_back(delta.clone());
        let json = encode_json(&delta);
        let frame = deltas_frame([json.as_str()]);
        // No receivers is fine: nobody is watching yet.
        let _ = self.tx.send(Arc::new(Event::Delta(Arc::new(SharedDelta {
            delta,
            json,
            frame,
        }))));
        Some(t.seq)
    }

    /// Replaces a topic's whole state under a new epoch (upstream re-snapshot). Sessions send fresh snapshots.
    pub fn reset(&self, topic: &str, items: Items) {
        self.ensure_topic(topic);
        let Some(state) = self.topic(topic) else {
            return;
        };
        let mut t = state.lock().unwrap_or_else(|e| e.into_inner());
        t.epoch = new_epoch();
        t.seq = 0;
        t.items = items;
        t.history.clear();
        t.snapshot_frame = None;
        let _ = self.tx.send(Arc::new(Event::Reset {
            topic: topic.to_string(),
        }));
    }

    pub fn snapshot(&self, topic: &str) -> Option<Snapshot> {
        let state = self.topic(topic)?;
        let t = state.lock().unwrap_or_else(|e| e.into_inner());
        Some(Snapshot {
            topic: topic.to_string(),
            epoch: t.epoch.clone(),
            seq: t.seq,
            items: t.items.clone(),
        })
    }

    /// The topic's `snapshot` frame (`recovered: false`, every item) with its epoch and seq, encoded once per seq.
    pub fn snapshot_frame(&self, topic: &str) -> Option<(Utf8Bytes, String, u64)> {
        let state = self.topic(topic)?;
        let mut t = state.lock().unwrap_or_else(|e| e.into_inner());
        let frame = match &t.snapshot_frame {
            Some(f) => f.clone(),
            None => {
                let f = encode(&ServerMsg::Snapshot {
                    topic: topic.to_string(),
                    epoch: t.epoch.clone(),
                    seq: t.seq,
                    recovered: false,
                    items: t.items.clone(),
                    deltas: vec![],
                });
                t.snapshot_frame = Some(f.clone());
                f
            }
        };
        Some((frame, t.epoch.clone(), t.seq))
    }

    /// The deltas after `seq` in `epoch`, in order, if the history still holds all of them.
    pub fn since(&self, topic: &str, epoch: &str, seq: u64) -> Result<Vec<Delta>, ResumeMiss> {
        let state = self.topic(topic).ok_or(ResumeMiss::EpochChanged)?;
        let t = state.lock().unwrap_or_else(|e| e.into_inner());
        if t.epoch != epoch {
            return Err(ResumeMiss::EpochChanged);
        }
        if seq > t.seq {
            return Err(ResumeMiss::FromTheFuture);
        }
        if seq == t.seq {
            return Ok(Vec::new());
        }
        match t.history.front() {
            Some(first) if first.prev <= seq => Ok(t
                .history
                .iter()
                .filter(|d| d.prev >= seq)
                .cloned()
                .collect()),
            _ => Err(ResumeMiss::HistoryGone),
        }
    }
}

/// Encodes a frame. Our own types always serialise; a failure would be a bug, surfaced as an error frame.
pub fn encode(msg: &ServerMsg) -> Utf8Bytes {
    match serde_json::to_string(msg) {
        Ok(s) => Utf8Bytes::from(s),
        Err(e) => Utf8Bytes::from(format!(
            r#"{{"type":"error","code":"bad_frame","message":"relay failed to encode a frame: {e}","fatal":false}}"#
        )),
    }
}

/// Encodes one delta as it appears inside a `deltas` frame's `updates`.
pub fn encode_json(delta: &Delta) -> Utf8Bytes {
    match serde_json::to_string(delta) {
        Ok(s) => Utf8Bytes::from(s),
        // Unreachable for our own types; an empty object would fail the client's replica loudly, not silently.
        Err(_) => Utf8Bytes::from_static("{}"),
    }
}

/// A `deltas` frame from deltas already encoded with [`encode_json`], in order: `{"type":"deltas","updates":[…]}`,
/// byte for byte what encoding [`ServerMsg::Deltas`] gives, without encoding anything again.
pub fn deltas_frame<'a>(deltas: impl IntoIterator<Item = &'a str>) -> Utf8Bytes {
    let mut out = String::from(r#"{"type":"deltas","updates":["#);
    for (i, d) in deltas.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(d);
    }
    out.push_str("]}");
    Utf8Bytes::from(out)
}

/// Keeps only the fields of `rows` that differ from `current` (all of them for new items).
fn changed_fields(current: &Items, rows: Items) -> Items {
    let mut out = BTreeMap::new();
    for (key, fields) in rows {
        let kept: Fields = match current.get(&key) {
            None => fields,
            Some(cur) => fields
                .into_iter()
                .filter(|(f, v)| cur.get(f) != Some(v))
                .collect(),
        };
        if !kept.is_empty() {
            out.insert(key, kept);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(key: &str, pairs: &[(&str, f64)]) -> Items {
        let f: Fields = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        [(key.to_string(), f)].into_iter().collect()
    }

    #[test]
    fn publish_keeps_only_changed_fields_and_counts_seq() {
        let s = Store::new(8, 64);
        let mut rx = s.subscribe();
        assert_eq!(
            s.publish("c", row("10Y", &[("y", 4.0), ("chg", 1.0)]), vec![]),
            Some(1)
        );
        assert_eq!(
            s.publish("c", row("10Y", &[("y", 4.0), ("chg", 1.0)]), vec![]),
            None,
            "no change, no seq"
        );
        assert_eq!(
            s.publish("c", row("10Y", &[("y", 4.1), ("chg", 1.0)]), vec![]),
            Some(2)
        );
        let _first = rx.try_recv().unwrap();
        let Event::Delta(shared) = &*rx.try_recv().unwrap() else {
            panic!("expected a delta")
        };
        let (delta, frame) = (&shared.delta, &shared.frame);
        assert_eq!((delta.prev, delta.seq), (1, 2));
        assert_eq!(delta.set["10Y"].keys().collect::<Vec<_>>(), vec!["y"]);
        assert!(frame.as_str().contains(r#""type":"deltas""#));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn spliced_frames_are_exactly_the_encoded_message() {
        let s = Store::new(8, 64);
        let mut rx = s.subscribe();
        s.publish("c", row("10Y", &[("y", 4.0)]), vec![]);
        s.publish("c", row("2Y", &[("y", 3.5)]), vec!["10Y".into()]);
        let shared: Vec<Arc<SharedDelta>> = (0..2)
            .map(|_| match &*rx.try_recv().unwrap() {
                Event::Delta(d) => d.clone(),
                Event::Reset { .. } => panic!("expected deltas"),
            })
            .collect();
        let one = encode(&ServerMsg::Deltas {
            updates: vec![shared[0].delta.clone()],
        });
        assert_eq!(shared[0].frame, one);
        let both = encode(&ServerMsg::Deltas {
            updates: shared.iter().map(|d| d.delta.clone()).collect(),
        });
        assert_eq!(deltas_frame(shared.iter().map(|d| d.json.as_str())), both);
    }

    #[test]
    fn the_snapshot_frame_is_encoded_once_per_seq() {
        let s = Store::new(8, 64);
        s.publish("c", row("10Y", &[("y", 4.0)]), vec![]);
        let (a, epoch, seq) = s.snapshot_frame("c").unwrap();
        let (b, _, _) = s.snapshot_frame("c").unwrap();
        assert_eq!(seq, 1);
        assert_eq!(
            a.as_str().as_ptr(),
            b.as_str().as_ptr(),
            "the same bytes, not a re-encode"
        );
        let snap = s.snapshot("c").unwrap();
        let expected = encode(&ServerMsg::Snapshot {
            topic: "c".into(),
            epoch: epoch.clone(),
            seq,
            recovered: false,
            items: snap.items,
            deltas: vec![],
        });
        assert_eq!(a, expected);
        s.publish("c", row("10Y", &[("y", 4.1)]), vec![]);
        let (c, _, seq) = s.snapshot_frame("c").unwrap();
        assert_eq!(seq, 2);
        assert!(c.as_str().contains("4.1"), "a new seq, a new frame");
        s.reset("c", row("5Y", &[("y", 3.9)]));
        let (d, e2, seq) = s.snapshot_frame("c").unwrap();
        assert_ne!(e2, epoch);
        assert_eq!(seq, 0);
        assert!(d.as_str().contains("5Y") && !d.as_str().contains("10Y"));
    }

    #[test]
    fn since_returns_missed_deltas_or_says_why_not() {
        let s = Store::new(3, 64);
        for i in 0..5 {
            s.publish("c", row("a", &[("v", i as f64)]), vec![]);
        }
        let snap = s.snapshot("c").unwrap();
        assert_eq!(snap.seq, 5);
        let missed = s.since("c", &snap.epoch, 3).unwrap();
        assert_eq!(missed.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(s.since("c", &snap.epoch, 5).unwrap(), vec![]);
        assert_eq!(s.since("c", &snap.epoch, 1), Err(ResumeMiss::HistoryGone));
        assert_eq!(s.since("c", &snap.epoch, 9), Err(ResumeMiss::FromTheFuture));
        assert_eq!(s.since("c", "other", 4), Err(ResumeMiss::EpochChanged));
        // History of 3 reaches back to seq 2 exactly.
        assert_eq!(s.since("c", &snap.epoch, 2).unwrap().len(), 3);
    }

    #[test]
    fn reset_changes_epoch_and_restarts_seq() {
        let s = Store::new(3, 64);
        s.publish("c", row("a", &[("v", 1.0)]), vec![]);
        let before = s.snapshot("c").unwrap();
        s.reset("c", row("b", &[("v", 2.0)]));
        let after = s.snapshot("c").unwrap();
        assert_ne!(before.epoch, after.epoch);
        assert_eq!(after.seq, 0);
        assert!(after.items.contains_key("b") && !after.items.contains_key("a"));
        assert_eq!(
            s.since("c", &before.epoch, 1),
            Err(ResumeMiss::EpochChanged)
        );
    }

    #[test]
    fn append_keeps_the_newest_events_in_arrival_order() {
        let s = Store::new(16, 64);
        let keys: Vec<String> = (0..5)
            .map(|i| {
                s.append(
                    "trades",
                    [("n".to_string(), json!(i))].into_iter().collect(),
                    3,
                )
                .unwrap()
            })
            .collect();
        let snap = s.snapshot("trades").unwrap();
        assert_eq!(
            snap.items.keys().cloned().collect::<Vec<_>>(),
            keys[2..].to_vec()
        );
        assert_eq!(snap.items[&keys[4]]["n"], json!(4));
        assert_eq!(snap.items[&keys[4]]["id"], json!(keys[4]));
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "keys sort in arrival order"
        );
    }

    #[test]
    fn deleting_an_unknown_item_is_no_change() {
        let s = Store::new(3, 64);
        s.publish("c", row("a", &[("v", 1.0)]), vec![]);
        assert_eq!(s.publish("c", Items::new(), vec!["zzz".into()]), None);
        assert_eq!(s.publish("c", Items::new(), vec!["a".into()]), Some(2));
        assert!(s.snapshot("c").unwrap().items.is_empty());
    }
}
