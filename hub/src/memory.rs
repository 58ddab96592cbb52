//! The in-memory broker: every topic's items, its (epoch, seq), its resume history, and its subscribers, in this
//! process. The default [`Broker`]; the conformance suite in [`crate::broker::conformance`] is its contract.
//!
//! Sources publish whole or partial rows; the store keeps only the fields that really changed, bumps the topic's
//! seq by one, keeps the delta in the topic's [`History`] (for resume) and sends it, encoded once, on the topic's
//! own broadcast channel. Routing is by topic, as centrifuge's hub and mini-redis's pub/sub do it: a change wakes
//! only the sessions that watch its topic, and a session that falls behind on one topic loses (and re-syncs) that
//! topic alone. The send happens under the topic's lock, so sessions see each topic's deltas in seq order, and a
//! session that subscribed to a topic *before* reading its snapshot can never miss a change in between.
//!
//! The history is bounded per topic (count, bytes, age) and in total: when all topics together hold more than the
//! total budget, the topic holding the most gives up its oldest deltas, so one busy topic cannot starve the others.
//!
//! Nothing here knows axum or the websocket: frames are [`Text`]. Locks are `std::sync::Mutex`: held for a few
//! microseconds, never across an `.await`, and never two topic locks at once.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tickdesk_wire::{merge, Delta, Fields, Items, ServerMsg};
use tokio::sync::broadcast;

use crate::broker::{
    Broker, Changes, Event, HistoryEvictions, Publisher, ResumeMiss, Resumed, Snapshot,
};
use crate::conflate::SharedDelta;
use crate::frame::recovered_frame;
use crate::frame::{deltas_frame, encode, encode_json, Text};
use crate::history::{Bounds, History, Trimmed};

/// Per-topic history kept by default: bytes (texts plus overhead).
pub const DEFAULT_HISTORY_TOPIC_BYTES: usize = 4 << 20;
/// History kept by default over all topics, in bytes.
pub const DEFAULT_HISTORY_TOTAL_BYTES: usize = 16 << 20;
/// Deltas older than this are not kept for resume by default (a reconnect within minutes resumes).
pub const DEFAULT_HISTORY_MAX_AGE: Duration = Duration::from_secs(300);
/// Changes buffered per topic for each session before one that falls behind on it is re-synced (that topic only).
pub const TOPIC_CHANNEL_LEN: usize = 1024;

/// The bounds of the resume history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Deltas kept per topic at most.
    pub max_deltas: usize,
    /// Bytes kept per topic at most.
    pub topic_bytes: usize,
    /// Bytes kept over all topics at most.
    pub total_bytes: usize,
    /// Deltas older than this are dropped and never replayed.
    pub max_age: Duration,
}

impl HistoryLimits {
    /// `max_deltas` per topic, with the default byte and age bounds.
    pub fn deltas(max_deltas: usize) -> Self {
        HistoryLimits {
            max_deltas,
            topic_bytes: DEFAULT_HISTORY_TOPIC_BYTES,
            total_bytes: DEFAULT_HISTORY_TOTAL_BYTES,
            max_age: DEFAULT_HISTORY_MAX_AGE,
        }
    }

    fn topic_bounds(&self) -> Bounds {
        Bounds {
            max_deltas: self.max_deltas.max(1),
            max_bytes: self.topic_bytes,
            max_age: self.max_age,
        }
    }
}

/// Where the store reads the time for history ages. Monotonic; tokio's clock by default, so `tokio::time::pause`
/// controls it, and tests can hand in a clock of their own.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Instant + Send + Sync>);

impl Clock {
    /// Tokio's clock (the real one unless paused in a test).
    pub fn tokio() -> Clock {
        Clock(Arc::new(|| tokio::time::Instant::now().into_std()))
    }

    pub fn new(now: impl Fn() -> Instant + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    pub fn now(&self) -> Instant {
        (self.0)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// What the history holds and has dropped, for `/metrics`.
#[derive(Debug, Default)]
pub struct HistoryStats {
    pub evicted_count: AtomicU64,
    pub evicted_bytes: AtomicU64,
    pub evicted_total_bytes: AtomicU64,
    pub evicted_age: AtomicU64,
}

#[derive(Debug)]
struct TopicState {
    epoch: String,
    seq: u64,
    items: Items,
    history: History,
    /// The encoded `snapshot` frame of the current (epoch, seq), made by the first client that asked: a reconnect
    /// storm of N clients costs one encode per topic and seq, not N.
    snapshot_frame: Option<Text>,
}

/// One topic: its state, and the channel its subscribers listen on.
#[derive(Debug)]
struct Topic {
    name: String,
    state: Mutex<TopicState>,
    /// Sent on under `state`'s lock, so subscribers see changes in seq order.
    tx: broadcast::Sender<Arc<Event>>,
    /// The history's bytes, mirrored outside the lock so the total-budget trim can pick the largest topic without
    /// locking them all.
    history_bytes: AtomicUsize,
}

impl Topic {
    fn lock(&self) -> std::sync::MutexGuard<'_, TopicState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The set of topics, in memory. Shared behind an `Arc`.
#[derive(Debug)]
pub struct MemoryBroker {
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    limits: HistoryLimits,
    channel_len: usize,
    clock: Clock,
    /// History bytes over all topics.
    held: AtomicUsize,
    /// Held while trimming to the total budget, so concurrent publishers do not both trim.
    trimming: Mutex<()>,
    stats: HistoryStats,
}

fn new_epoch() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

impl MemoryBroker {
    /// `history_len` deltas are kept per topic for resume (within the default byte and age bounds);
    /// `channel_len` changes of a topic are buffered per session before one that falls behind on it is re-synced.
    pub fn new(history_len: usize, channel_len: usize) -> Self {
        MemoryBroker::with_limits(HistoryLimits::deltas(history_len), channel_len)
    }

    /// A store whose resume history is bounded by `limits`.
    pub fn with_limits(limits: HistoryLimits, channel_len: usize) -> Self {
        MemoryBroker {
            topics: RwLock::new(HashMap::new()),
            limits,
            channel_len: channel_len.max(16),
            clock: Clock::tokio(),
            held: AtomicUsize::new(0),
            trimming: Mutex::new(()),
            stats: HistoryStats::default(),
        }
    }

    /// Reads history ages from `clock` instead of tokio's.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn history_limits(&self) -> HistoryLimits {
        self.limits
    }

    /// Receives every change of `topic` from now on (`None` for an unknown topic). Call it *before* reading the
    /// topic's snapshot, so nothing falls in between.
    pub fn subscribe(&self, topic: &str) -> Option<Changes> {
        self.topic(topic).map(|t| t.tx.subscribe())
    }

    /// Sessions listening on `topic` right now.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.topic(topic).map_or(0, |t| t.tx.receiver_count())
    }

    /// Creates an empty topic if it does not exist yet.
    pub fn ensure_topic(&self, topic: &str) {
        if self.topic(topic).is_none() {
            let mut map = self.topics.write().unwrap_or_else(|e| e.into_inner());
            map.entry(topic.to_string()).or_insert_with(|| {
                Arc::new(Topic {
                    name: topic.to_string(),
                    state: Mutex::new(TopicState {
                        epoch: new_epoch(),
                        seq: 0,
                        items: Items::new(),
                        history: History::default(),
                        snapshot_frame: None,
                    }),
                    tx: broadcast::channel(self.channel_len).0,
                    history_bytes: AtomicUsize::new(0),
                })
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

    fn topic(&self, topic: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            .cloned()
    }

    fn all_topics(&self) -> Vec<Arc<Topic>> {
        let map = self.topics.read().unwrap_or_else(|e| e.into_inner());
        map.values().cloned().collect()
    }

    /// Applies rows to a topic (creating it if needed). Fields equal to the current value are dropped; if nothing
    /// is left the seq does not move and `None` is returned. Otherwise returns the new seq.
    pub fn publish(&self, topic: &str, rows: Items, del: Vec<String>) -> Option<u64> {
        self.ensure_topic(topic);
        let entry = self.topic(topic)?;
        let seq = {
            let mut t = entry.lock();
            let set = changed_fields(&t.items, rows);
            let del: Vec<String> = del
                .into_iter()
                .filter(|k| t.items.contains_key(k))
                .collect();
            self.commit(&entry, &mut t, set, del)
        };
        self.trim_total();
        seq
    }

    /// Appends an event to an append-only topic (signals, trades), keeping the newest `keep` events.
    ///
    /// Keys are the seq at insertion, zero-padded, so key order is arrival order and the oldest event is the first
    /// key. Returns the event's key.
    pub fn append(&self, topic: &str, mut fields: Fields, keep: usize) -> Option<String> {
        self.ensure_topic(topic);
        let entry = self.topic(topic)?;
        let key = {
            let mut t = entry.lock();
            let key = format!("{:012}", t.seq + 1);
            fields.insert("id".into(), serde_json::Value::String(key.clone()));
            let excess = (t.items.len() + 1).saturating_sub(keep.max(1));
            let del: Vec<String> = t.items.keys().take(excess).cloned().collect();
            let set: Items = [(key.clone(), fields)].into_iter().collect();
            self.commit(&entry, &mut t, set, del).map(|_| key)
        };
        self.trim_total();
        key
    }

    /// Records a change: bumps the seq, keeps it in the history and sends it to the topic's subscribers, all under
    /// the topic's lock so they see its deltas in seq order.
    fn commit(
        &self,
        topic: &Topic,
        t: &mut TopicState,
        set: Items,
        del: Vec<String>,
    ) -> Option<u64> {
        if set.is_empty() && del.is_empty() {
            return None;
        }
        let delta = Delta {
            topic: topic.name.clone(),
            epoch: t.epoch.clone(),
            prev: t.seq,
            seq: t.seq + 1,
            set,
            del,
        };
        merge::apply(&mut t.items, &delta);
        t.seq = delta.seq;
        t.snapshot_frame = None;
        let json = encode_json(&delta);
        let frame = deltas_frame([&json]);
        let now = self.clock.now();
        // The history keeps the very bytes subscribers get (a reference count, not a copy).
        let added = t.history.push(delta.seq, json.clone(), now);
        self.held.fetch_add(added, Relaxed);
        let trimmed = t.history.trim(&self.limits.topic_bounds(), now);
        self.account(topic, t, trimmed);
        // No receivers is fine: nobody is watching yet.
        let _ = topic.tx.send(Arc::new(Event::Delta(Arc::new(SharedDelta {
            delta,
            json,
            frame,
            at: std::time::Instant::now(),
        }))));
        Some(t.seq)
    }

    /// Books what a trim freed: the total, the topic's mirror and the eviction counters.
    fn account(&self, topic: &Topic, t: &TopicState, trimmed: Trimmed) {
        self.held.fetch_sub(trimmed.bytes, Relaxed);
        topic.history_bytes.store(t.history.bytes(), Relaxed);
        let s = &self.stats;
        s.evicted_count.fetch_add(trimmed.by_count as u64, Relaxed);
        s.evicted_bytes.fetch_add(trimmed.by_bytes as u64, Relaxed);
        s.evicted_age.fetch_add(trimmed.by_age as u64, Relaxed);
    }

    /// Brings the history back under the total budget: the topic holding the most gives up its oldest deltas, one
    /// topic lock at a time (never inside another). Cheap when under budget: one atomic load.
    fn trim_total(&self) {
        if self.held.load(Relaxed) <= self.limits.total_bytes {
            return;
        }
        // Another publisher is trimming already; it will get there.
        let Ok(_guard) = self.trimming.try_lock() else {
            return;
        };
        while self.held.load(Relaxed) > self.limits.total_bytes {
            let topics = self.all_topics();
            let mut by_size: Vec<(usize, &Arc<Topic>)> = topics
                .iter()
                .map(|t| (t.history_bytes.load(Relaxed), t))
                .filter(|(b, _)| *b > 0)
                .collect();
            by_size.sort_by_key(|(bytes, _)| std::cmp::Reverse(*bytes));
            let Some(&(_, largest)) = by_size.first() else {
                return;
            };
            let runner_up = by_size.get(1).map_or(0, |(b, _)| *b);
            let mut t = largest.lock();
            let mut dropped = 0;
            // Down to the runner-up's size (then re-pick), or until the total fits.
            while self.held.load(Relaxed) > self.limits.total_bytes && t.history.bytes() > runner_up
            {
                let freed = t.history.pop_oldest();
                if freed == 0 {
                    break;
                }
                self.held.fetch_sub(freed, Relaxed);
                dropped += 1;
            }
            if dropped == 0 {
                // Only happens if the mirror is stale; drop one anyway so the loop always makes progress.
                let freed = t.history.pop_oldest();
                self.held.fetch_sub(freed, Relaxed);
                dropped += usize::from(freed > 0);
            }
            largest.history_bytes.store(t.history.bytes(), Relaxed);
            self.stats
                .evicted_total_bytes
                .fetch_add(dropped as u64, Relaxed);
            if dropped == 0 {
                return;
            }
        }
    }

    /// Drops deltas over the maximum age in every topic, so a topic that went quiet does not hold its history
    /// forever (resume would refuse them anyway). Run periodically.
    pub fn expire_history(&self) {
        let now = self.clock.now();
        let bounds = self.limits.topic_bounds();
        for topic in self.all_topics() {
            let mut t = topic.lock();
            let trimmed = t.history.trim(&bounds, now);
            self.account(&topic, &t, trimmed);
        }
    }

    /// Bytes the resume history holds over all topics.
    pub fn history_bytes(&self) -> usize {
        self.held.load(Relaxed)
    }

    /// Deltas the resume history holds over all topics.
    pub fn history_deltas(&self) -> usize {
        self.all_topics()
            .iter()
            .map(|t| t.lock().history.len())
            .sum()
    }

    pub fn history_stats(&self) -> &HistoryStats {
        &self.stats
    }

    /// Replaces a topic's whole state under a new epoch (upstream re-snapshot). Sessions send fresh snapshots.
    pub fn reset(&self, topic: &str, items: Items) {
        self.ensure_topic(topic);
        let Some(entry) = self.topic(topic) else {
            return;
        };
        let mut t = entry.lock();
        t.epoch = new_epoch();
        t.seq = 0;
        t.items = items;
        let freed = t.history.clear();
        self.held.fetch_sub(freed, Relaxed);
        entry.history_bytes.store(0, Relaxed);
        t.snapshot_frame = None;
        let _ = entry.tx.send(Arc::new(Event::Reset {
            topic: topic.to_string(),
        }));
    }

    /// Tells the topic's current subscribers something about it (an error frame naming the topic); the topic's
    /// state does not change.
    pub fn notify(&self, topic: &str, code: tickdesk_wire::ErrorCode, message: impl Into<String>) {
        if let Some(entry) = self.topic(topic) {
            let _ = entry.tx.send(Arc::new(Event::Notice {
                topic: topic.to_string(),
                code,
                message: message.into(),
            }));
        }
    }

    pub fn snapshot(&self, topic: &str) -> Option<Snapshot> {
        let entry = self.topic(topic)?;
        let t = entry.lock();
        Some(Snapshot {
            topic: topic.to_string(),
            epoch: t.epoch.clone(),
            seq: t.seq,
            items: t.items.clone(),
        })
    }

    /// The topic's `snapshot` frame (`recovered: false`, every item) with its epoch and seq, encoded once per seq.
    pub fn snapshot_frame(&self, topic: &str) -> Option<(Text, String, u64)> {
        let entry = self.topic(topic)?;
        let mut t = entry.lock();
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

    /// The answer to a client that holds `topic` at (`epoch`, `seq`): the deltas it missed, as the `snapshot`
    /// frame with `recovered: true`, if the history still holds every one of them (and none is over the age
    /// bound); else why not, and the caller sends a fresh snapshot.
    pub fn resume(&self, topic: &str, epoch: &str, seq: u64) -> Result<Resumed, ResumeMiss> {
        let entry = self.topic(topic).ok_or(ResumeMiss::EpochChanged)?;
        let now = self.clock.now();
        // Only reference counts are taken under the lock; the frame is spliced after it.
        let (parts, current) = {
            let t = entry.lock();
            if t.epoch != epoch {
                return Err(ResumeMiss::EpochChanged);
            }
            if seq > t.seq {
                return Err(ResumeMiss::FromTheFuture);
            }
            let parts = t
                .history
                .since(seq, t.seq, now, self.limits.max_age)
                .ok_or(ResumeMiss::HistoryGone)?;
            (parts, t.seq)
        };
        Ok(Resumed {
            frame: recovered_frame(topic, epoch, current, &parts),
            seq: current,
            deltas: parts.len(),
        })
    }
}

impl Publisher for MemoryBroker {
    fn ensure_topic(&self, topic: &str) {
        MemoryBroker::ensure_topic(self, topic)
    }
    fn publish(&self, topic: &str, rows: Items, del: Vec<String>) -> Option<u64> {
        MemoryBroker::publish(self, topic, rows, del)
    }
    fn append(&self, topic: &str, fields: Fields, keep: usize) -> Option<String> {
        MemoryBroker::append(self, topic, fields, keep)
    }
    fn reset(&self, topic: &str, items: Items) {
        MemoryBroker::reset(self, topic, items)
    }
    fn notify(&self, topic: &str, code: tickdesk_wire::ErrorCode, message: String) {
        MemoryBroker::notify(self, topic, code, message)
    }
    fn snapshot(&self, topic: &str) -> Option<Snapshot> {
        MemoryBroker::snapshot(self, topic)
    }
    fn subscribe(&self, topic: &str) -> Option<Changes> {
        MemoryBroker::subscribe(self, topic)
    }
    fn topic_names(&self) -> Vec<String> {
        MemoryBroker::topic_names(self)
    }
}

impl Broker for MemoryBroker {
    fn has_topic(&self, topic: &str) -> bool {
        MemoryBroker::has_topic(self, topic)
    }
    fn subscribers(&self, topic: &str) -> usize {
        MemoryBroker::subscribers(self, topic)
    }
    fn snapshot_frame(&self, topic: &str) -> Option<(Text, String, u64)> {
        MemoryBroker::snapshot_frame(self, topic)
    }
    fn resume(&self, topic: &str, epoch: &str, seq: u64) -> Result<Resumed, ResumeMiss> {
        MemoryBroker::resume(self, topic, epoch, seq)
    }
    fn history_bytes(&self) -> usize {
        MemoryBroker::history_bytes(self)
    }
    fn history_deltas(&self) -> usize {
        MemoryBroker::history_deltas(self)
    }
    fn expire_history(&self) {
        MemoryBroker::expire_history(self)
    }
    fn history_evictions(&self) -> HistoryEvictions {
        let s = &self.stats;
        HistoryEvictions {
            count: s.evicted_count.load(Relaxed),
            bytes: s.evicted_bytes.load(Relaxed),
            total_bytes: s.evicted_total_bytes.load(Relaxed),
            age: s.evicted_age.load(Relaxed),
        }
    }
}

/// Sweeps deltas over the maximum age out of every topic's history, a few times per maximum age (between every
/// 10 ms and every 10 s), until `stop` flips to true.
pub async fn sweep_history(store: Arc<MemoryBroker>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let every =
        (store.limits.max_age / 4).clamp(Duration::from_millis(10), Duration::from_secs(10));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => store.expire_history(),
        }
    }
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

/// The broker contract, run on this engine (one test per check).
#[cfg(test)]
mod conformance {
    use std::sync::Arc;

    use super::MemoryBroker;
    use crate::broker::Broker;

    crate::broker_conformance!(|n: usize| -> Arc<dyn Broker> {
        Arc::new(MemoryBroker::new(n, 64))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::sync::broadcast::error::TryRecvError;

    fn row(key: &str, pairs: &[(&str, f64)]) -> Items {
        let f: Fields = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        [(key.to_string(), f)].into_iter().collect()
    }

    fn store_with(topics: &[&str], limits: HistoryLimits) -> MemoryBroker {
        let s = MemoryBroker::with_limits(limits, 64);
        for t in topics {
            s.ensure_topic(t);
        }
        s
    }

    fn shared(ev: &Event) -> Arc<SharedDelta> {
        match ev {
            Event::Delta(d) => d.clone(),
            Event::Reset { .. } | Event::Notice { .. } => panic!("expected a delta"),
        }
    }

    /// A clock tests move by hand.
    fn manual_clock() -> (Clock, Arc<Mutex<Instant>>) {
        let now = Arc::new(Mutex::new(Instant::now()));
        let read = now.clone();
        (Clock::new(move || *read.lock().unwrap()), now)
    }

    fn decode(frame: &Text) -> ServerMsg {
        serde_json::from_str(frame.as_str()).unwrap()
    }

    #[test]
    fn publish_keeps_only_changed_fields_and_counts_seq() {
        let s = store_with(&["c"], HistoryLimits::deltas(8));
        let mut rx = s.subscribe("c").unwrap();
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
        let d = shared(&rx.try_recv().unwrap());
        assert_eq!((d.delta.prev, d.delta.seq), (1, 2));
        assert_eq!(d.delta.set["10Y"].keys().collect::<Vec<_>>(), vec!["y"]);
        assert_eq!(
            d.frame,
            encode(&ServerMsg::Deltas {
                updates: vec![d.delta.clone()]
            }),
            "the shared frame is exactly the encoded message"
        );
        assert!(rx.try_recv().is_err());
        assert!(
            s.subscribe("nope").is_none(),
            "no channel for an unknown topic"
        );
    }

    #[test]
    fn a_change_reaches_only_the_subscribers_of_its_topic() {
        let s = store_with(&["a", "b"], HistoryLimits::deltas(8));
        let mut on_a = s.subscribe("a").unwrap();
        let mut on_b = s.subscribe("b").unwrap();
        for i in 0..5 {
            s.publish("b", row("x", &[("v", i as f64)]), vec![]);
        }
        assert_eq!(on_a.try_recv().unwrap_err(), TryRecvError::Empty);
        assert_eq!((s.subscribers("a"), s.subscribers("b")), (1, 1));
        s.publish("a", row("x", &[("v", 1.0)]), vec![]);
        assert_eq!(shared(&on_a.try_recv().unwrap()).delta.topic, "a");
        assert_eq!(on_a.try_recv().unwrap_err(), TryRecvError::Empty);
        for seq in 1..=5 {
            assert_eq!(shared(&on_b.try_recv().unwrap()).delta.seq, seq);
        }
    }

    #[test]
    fn falling_behind_on_one_topic_loses_that_topic_only() {
        let s = MemoryBroker::with_limits(HistoryLimits::deltas(8), 16);
        s.ensure_topic("a");
        s.ensure_topic("b");
        let mut on_a = s.subscribe("a").unwrap();
        let mut on_b = s.subscribe("b").unwrap();
        for i in 0..40 {
            s.publish("a", row("x", &[("v", i as f64)]), vec![]);
        }
        s.publish("b", row("x", &[("v", 1.0)]), vec![]);
        assert!(matches!(on_a.try_recv(), Err(TryRecvError::Lagged(24))));
        assert_eq!(shared(&on_b.try_recv().unwrap()).delta.seq, 1);
    }

    #[test]
    fn the_snapshot_frame_is_encoded_once_per_seq() {
        let s = MemoryBroker::new(8, 64);
        s.publish("c", row("10Y", &[("y", 4.0)]), vec![]);
        let (a, epoch, seq) = s.snapshot_frame("c").unwrap();
        let (b, _, _) = s.snapshot_frame("c").unwrap();
        assert_eq!(seq, 1);
        assert_eq!(
            a.bytes().as_ptr(),
            b.bytes().as_ptr(),
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
    fn a_resume_replays_byte_for_byte_what_subscribers_got_live() {
        let s = store_with(&["c"], HistoryLimits::deltas(64));
        let mut rx = s.subscribe("c").unwrap();
        for i in 0..6 {
            s.publish("c", row(&format!("T{}", i % 3), &[("v", i as f64)]), vec![]);
        }
        s.publish("c", Items::new(), vec!["T0".into()]);
        let live: Vec<Arc<SharedDelta>> = (0..7).map(|_| shared(&rx.try_recv().unwrap())).collect();
        let epoch = live[0].delta.epoch.clone();
        let r = s.resume("c", &epoch, 2).unwrap();
        assert_eq!((r.seq, r.deltas), (7, 5));
        let parts: Vec<Text> = live[2..].iter().map(|d| d.json.clone()).collect();
        assert_eq!(r.frame, recovered_frame("c", &epoch, 7, &parts));
        let ServerMsg::Snapshot {
            recovered: true,
            deltas,
            seq: 7,
            ..
        } = decode(&r.frame)
        else {
            panic!("expected a recovered snapshot")
        };
        let sent: Vec<Delta> = live[2..].iter().map(|d| d.delta.clone()).collect();
        assert_eq!(deltas, sent, "the very deltas clients got live");
        // Applied to the client's state at seq 2, it gives the store's state.
        let mut replica = Items::new();
        for d in &live[..2] {
            merge::apply(&mut replica, &d.delta);
        }
        for d in &deltas {
            merge::apply(&mut replica, d);
        }
        assert_eq!(replica, s.snapshot("c").unwrap().items);
    }

    #[test]
    fn resume_says_why_not_when_it_cannot() {
        let s = MemoryBroker::new(3, 64);
        for i in 0..5 {
            s.publish("c", row("a", &[("v", i as f64)]), vec![]);
        }
        let snap = s.snapshot("c").unwrap();
        assert_eq!(snap.seq, 5);
        assert_eq!(s.resume("c", &snap.epoch, 3).unwrap().deltas, 2);
        let none = s.resume("c", &snap.epoch, 5).unwrap();
        assert_eq!((none.deltas, none.seq), (0, 5));
        assert!(matches!(
            decode(&none.frame),
            ServerMsg::Snapshot {
                recovered: true,
                ..
            }
        ));
        assert_eq!(
            s.resume("c", &snap.epoch, 1).unwrap_err(),
            ResumeMiss::HistoryGone
        );
        assert_eq!(
            s.resume("c", &snap.epoch, 9).unwrap_err(),
            ResumeMiss::FromTheFuture
        );
        assert_eq!(
            s.resume("c", "other", 4).unwrap_err(),
            ResumeMiss::EpochChanged
        );
        assert_eq!(
            s.resume("nope", "e", 4).unwrap_err(),
            ResumeMiss::EpochChanged
        );
        // A history of 3 reaches back to seq 2 exactly.
        assert_eq!(s.resume("c", &snap.epoch, 2).unwrap().deltas, 3);
        assert_eq!(s.history_stats().evicted_count.load(Relaxed), 2);
    }

    #[test]
    fn the_per_topic_byte_budget_evicts_and_resume_answers_honestly() {
        let one = {
            let s = MemoryBroker::new(8, 64);
            s.publish("c", row("a", &[("v", 1.0)]), vec![]);
            s.history_bytes()
        };
        let limits = HistoryLimits {
            topic_bytes: 3 * one,
            ..HistoryLimits::deltas(1000)
        };
        let s = store_with(&["c"], limits);
        // Deltas of one size: single-digit seqs and values 1.5, 2.5, ….
        for i in 0..8 {
            s.publish("c", row("a", &[("v", i as f64 + 1.5)]), vec![]);
        }
        let epoch = s.snapshot("c").unwrap().epoch;
        assert_eq!(s.history_bytes(), 3 * one, "three deltas fit the budget");
        assert_eq!(s.history_deltas(), 3);
        assert_eq!(s.history_stats().evicted_bytes.load(Relaxed), 5);
        assert_eq!(
            s.resume("c", &epoch, 4).unwrap_err(),
            ResumeMiss::HistoryGone
        );
        assert_eq!(s.resume("c", &epoch, 5).unwrap().deltas, 3);
    }

    #[test]
    fn over_the_total_budget_the_topic_holding_most_gives_way() {
        let one = {
            let s = MemoryBroker::new(8, 64);
            s.publish("c", row("a", &[("v", 1.5)]), vec![]);
            s.history_bytes()
        };
        let limits = HistoryLimits {
            total_bytes: 6 * one,
            ..HistoryLimits::deltas(1000)
        };
        let s = store_with(&["a", "b"], limits);
        s.publish("a", row("a", &[("v", 1.5)]), vec![]);
        s.publish("a", row("a", &[("v", 2.5)]), vec![]);
        for i in 0..9 {
            s.publish("b", row("a", &[("v", i as f64 + 1.5)]), vec![]);
        }
        assert!(s.history_bytes() <= 6 * one, "{}", s.history_bytes());
        let (ea, eb) = (
            s.snapshot("a").unwrap().epoch,
            s.snapshot("b").unwrap().epoch,
        );
        assert_eq!(
            s.resume("a", &ea, 0).unwrap().deltas,
            2,
            "the quiet topic keeps its history"
        );
        assert_eq!(
            s.resume("b", &eb, 5).unwrap().deltas,
            4,
            "the busy one keeps the rest"
        );
        assert_eq!(s.resume("b", &eb, 4).unwrap_err(), ResumeMiss::HistoryGone);
        assert_eq!(s.history_stats().evicted_total_bytes.load(Relaxed), 5);
        s.reset("b", Items::new());
        assert_eq!(
            s.history_bytes(),
            2 * one,
            "a reset frees the topic's history"
        );
    }

    #[test]
    fn deltas_over_the_maximum_age_are_not_replayed_and_are_swept() {
        let (clock, now) = manual_clock();
        let limits = HistoryLimits {
            max_age: Duration::from_secs(60),
            ..HistoryLimits::deltas(1000)
        };
        let s = store_with(&["c", "quiet"], limits).with_clock(clock);
        let advance = |secs: u64| *now.lock().unwrap() += Duration::from_secs(secs);
        s.publish("quiet", row("a", &[("v", 1.0)]), vec![]);
        for i in 0..4 {
            s.publish("c", row("a", &[("v", i as f64)]), vec![]);
            advance(20);
        }
        // c's deltas are 80, 60, 40 and 20 s old; the first is too old to keep.
        s.publish("c", row("a", &[("v", 9.0)]), vec![]);
        let epoch = s.snapshot("c").unwrap().epoch;
        assert_eq!(
            s.resume("c", &epoch, 0).unwrap_err(),
            ResumeMiss::HistoryGone
        );
        assert_eq!(s.resume("c", &epoch, 1).unwrap().deltas, 4);
        assert_eq!(s.history_stats().evicted_age.load(Relaxed), 1);
        // Nothing more is published; time alone makes delta 2 (made 60 s ago) too old to replay…
        advance(1);
        assert_eq!(
            s.resume("c", &epoch, 1).unwrap_err(),
            ResumeMiss::HistoryGone
        );
        assert_eq!(s.resume("c", &epoch, 2).unwrap().deltas, 3);
        // …and the sweep frees them, in quiet topics too.
        let quiet = s.snapshot("quiet").unwrap().epoch;
        assert!(s.history_bytes() > 0);
        advance(60);
        s.expire_history();
        assert_eq!((s.history_bytes(), s.history_deltas()), (0, 0));
        assert_eq!(
            s.resume("quiet", &quiet, 0).unwrap_err(),
            ResumeMiss::HistoryGone
        );
        assert_eq!(
            s.resume("quiet", &quiet, 1).unwrap().deltas,
            0,
            "a client up to date still resumes"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn by_default_ages_follow_tokio_time() {
        let limits = HistoryLimits {
            max_age: Duration::from_secs(5),
            ..HistoryLimits::deltas(1000)
        };
        let s = store_with(&["c"], limits);
        s.publish("c", row("a", &[("v", 1.0)]), vec![]);
        s.publish("c", row("a", &[("v", 2.0)]), vec![]);
        let epoch = s.snapshot("c").unwrap().epoch;
        assert_eq!(s.resume("c", &epoch, 0).unwrap().deltas, 2);
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(
            s.resume("c", &epoch, 0).unwrap_err(),
            ResumeMiss::HistoryGone
        );
    }

    #[test]
    fn reset_changes_epoch_and_restarts_seq() {
        let s = MemoryBroker::new(3, 64);
        s.publish("c", row("a", &[("v", 1.0)]), vec![]);
        let mut rx = s.subscribe("c").unwrap();
        let before = s.snapshot("c").unwrap();
        s.reset("c", row("b", &[("v", 2.0)]));
        assert!(matches!(&*rx.try_recv().unwrap(), Event::Reset { topic } if topic == "c"));
        let after = s.snapshot("c").unwrap();
        assert_ne!(before.epoch, after.epoch);
        assert_eq!(after.seq, 0);
        assert!(after.items.contains_key("b") && !after.items.contains_key("a"));
        assert_eq!(
            s.resume("c", &before.epoch, 1).unwrap_err(),
            ResumeMiss::EpochChanged
        );
        assert_eq!(s.history_bytes(), 0);
    }

    #[test]
    fn append_keeps_the_newest_events_in_arrival_order() {
        let s = MemoryBroker::new(16, 64);
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
        let s = MemoryBroker::new(3, 64);
        s.publish("c", row("a", &[("v", 1.0)]), vec![]);
        assert_eq!(s.publish("c", Items::new(), vec!["zzz".into()]), None);
        assert_eq!(s.publish("c", Items::new(), vec!["a".into()]), Some(2));
        assert!(s.snapshot("c").unwrap().items.is_empty());
    }
}
