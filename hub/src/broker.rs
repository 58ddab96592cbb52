//! The hub's two seams, after centrifuge's `Broker`: a [`Publisher`] is all a source or a derived topic writes
//! through (and reads back: derived topics follow the topics they derive from), and a [`Broker`] owns each topic's
//! (epoch, seq), its resume history and node-level subscription, which is what the hub's sessions read.
//!
//! [`crate::memory::MemoryBroker`] is the engine of one process. Another engine (a durable log, JetStream) plugs in
//! here without a source changing, and must pass the same [`conformance`] suite: every invariant the desk's
//! honesty rests on (seq rises by one per change, a reset changes the epoch, subscribe-then-snapshot has no gap, a
//! resume replays exactly what live subscribers got or says why not) is a test written against these traits.

use std::fmt;
use std::sync::Arc;

use tickdesk_wire::{ErrorCode, Fields, Items};
use tokio::sync::broadcast;

use crate::conflate::SharedDelta;
use crate::frame::Text;

pub mod conformance;

/// A change as sessions receive it, on its topic's channel.
#[derive(Debug)]
pub enum Event {
    /// One delta, encoded once: a session that has nothing pending for the topic sends its `frame` as it is, and
    /// one a little behind splices the `json` of several into one frame, so N clients cost one encode.
    Delta(Arc<SharedDelta>),
    /// The topic's state was replaced (new epoch): sessions send a fresh snapshot.
    Reset { topic: String },
    /// Something its subscribers should be told about the topic (an upstream does not know its symbol): sessions
    /// send an error frame naming it.
    Notice {
        topic: String,
        code: ErrorCode,
        message: String,
    },
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
    /// The history no longer reaches back to the client's seq (evicted by count, bytes or age).
    HistoryGone,
    /// The client claims a seq the topic has not reached: a replica from another life.
    FromTheFuture,
}

/// A resume honoured: the `snapshot` frame with `recovered: true` and the missed deltas, exactly as they were sent
/// live.
#[derive(Debug, Clone)]
pub struct Resumed {
    pub frame: Text,
    /// The seq the client stands at once it applied the frame.
    pub seq: u64,
    /// How many deltas the frame replays.
    pub deltas: usize,
}

/// A topic's changes as its subscribers receive them.
pub type Changes = broadcast::Receiver<Arc<Event>>;

/// What sources and derived topics write through.
pub trait Publisher: Send + Sync + fmt::Debug {
    /// Creates an empty topic if it does not exist yet, so early subscribers get a (possibly empty) snapshot.
    fn ensure_topic(&self, topic: &str);

    /// Applies rows to a topic (creating it if needed) and deletes the items `del` names. Fields equal to the
    /// current value are dropped; if nothing is left the seq does not move and `None` is returned, else the new seq.
    fn publish(&self, topic: &str, rows: Items, del: Vec<String>) -> Option<u64>;

    /// Appends an event (a signal, a trade, an activity line) under a new rising id, keeping the newest `keep`;
    /// returns the id.
    fn append(&self, topic: &str, fields: Fields, keep: usize) -> Option<String>;

    /// Replaces a topic's state (new epoch, seq 0): subscribers are sent a fresh snapshot.
    fn reset(&self, topic: &str, items: Items);

    /// Tells a topic's subscribers something about it (an upstream does not know its symbol) as an error frame.
    fn notify(&self, topic: &str, code: ErrorCode, message: String);

    /// A point-in-time copy of one topic.
    fn snapshot(&self, topic: &str) -> Option<Snapshot>;

    /// Every change of `topic` from now on (`None` for an unknown topic). Call it *before* reading the topic's
    /// snapshot, so nothing falls in between.
    fn subscribe(&self, topic: &str) -> Option<Changes>;

    /// The names of all topics, sorted.
    fn topic_names(&self) -> Vec<String>;
}

/// What the hub's sessions read: each topic's (epoch, seq), its encoded snapshot and its resume history.
pub trait Broker: Publisher {
    fn has_topic(&self, topic: &str) -> bool;

    /// Subscriptions listening on `topic` in this process right now.
    fn subscribers(&self, topic: &str) -> usize;

    /// The topic's `snapshot` frame, encoded once per (epoch, seq), with its epoch and seq.
    fn snapshot_frame(&self, topic: &str) -> Option<(Text, String, u64)>;

    /// The deltas after `seq` of `epoch`, exactly as they were sent live, or why a snapshot must be sent instead.
    fn resume(&self, topic: &str, epoch: &str, seq: u64) -> Result<Resumed, ResumeMiss>;

    /// Bytes of resume history held over all topics.
    fn history_bytes(&self) -> usize;

    /// Deltas of resume history held over all topics.
    fn history_deltas(&self) -> usize;

    /// What the history has dropped so far, for `/metrics`.
    fn history_evictions(&self) -> HistoryEvictions;

    /// Drops the deltas over the history's maximum age now (a sweep calls it a few times per maximum age, so a
    /// quiet topic's old deltas go too).
    fn expire_history(&self);
}

/// Deltas the resume history has dropped, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryEvictions {
    /// Past the per-topic count.
    pub count: u64,
    /// Past the per-topic bytes.
    pub bytes: u64,
    /// Past the total bytes (the topic holding the most gave way).
    pub total_bytes: u64,
    /// Older than the maximum age.
    pub age: u64,
}
