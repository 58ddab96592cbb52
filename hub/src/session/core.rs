//! One client's protocol, sans-IO: client frames in, encoded frames out, behind a small [`Context`] (the broker,
//! demand, limits, metrics, the shutdown flag). No socket and no task here: the driver (`session::driver`) owns them, so
//! everything a client can do to a session is unit-tested without a socket.
//!
//! While a client is slow, changes pile up in its [`Outbox`], merged by item and field, never in a queue that grows
//! with time. When it keeps up, a change is forwarded as the broker's pre-encoded frame (N clients cost one encode);
//! a client a little behind gets those encodings spliced into one frame, and only one far behind gets a merged delta
//! encoded for it alone. Falling behind is per topic: a lagging topic is re-synced alone (the missed deltas from the
//! history when it still has them, else a fresh snapshot).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tickdesk_wire::{ClientMsg, ErrorCode, ResumePoint, ServerMsg, PROTOCOL_VERSION};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tracing::{debug, warn};
use uuid::Uuid;

use crate::broker::{Broker, Changes, Event};
use crate::conflate::{Outbox, Pending};
use crate::demand::Demand;
use crate::frame::{deltas_frame, encode, encode_json, Text};
use crate::limits::Limits;
use crate::metrics::Metrics;

/// What every session of the hub shares.
#[derive(Debug)]
pub struct Context {
    pub broker: Arc<dyn Broker>,
    /// Who watches what, for upstreams that stream only watched topics.
    pub demand: Arc<Demand>,
    pub limits: Limits,
    pub metrics: Metrics,
    /// Flips to true once on shutdown; sessions close with an error and a close frame.
    pub shutdown: watch::Receiver<bool>,
}

/// A frame from the client, as the transport read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Text(String),
    Binary,
    /// The client's close frame.
    Close,
    /// A ping or pong: proof of life, nothing to answer (the transport pongs by itself).
    Control,
}

/// A frame for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// JSON text, encoded once and shared.
    Text(Text),
    /// A protocol-level ping, which browsers answer by themselves.
    Ping,
    /// The last frame.
    Close { code: u16, reason: &'static str },
}

/// Control frames (snapshots, pongs, errors) waiting for the writer. Pongs and errors past this are dropped.
const CONTROL_QUEUE: usize = 64;
/// The longest interval `max_rate` can ask for (a smaller rate is taken as one update an hour).
const MAX_RATE_INTERVAL: Duration = Duration::from_secs(3600);
/// Websocket close codes: "normal", "going away" (shutdown) and "policy violation" (abuse, idle).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_POLICY: u16 = 1008;

#[derive(Debug)]
struct Subscription {
    /// Tells this subscription's receiver from one of an earlier subscription to the same topic.
    id: u64,
    epoch: String,
    /// The last seq accepted for this client (sent or pending).
    seq: u64,
    /// The seq the client holds once it has applied every frame already handed on (to the control queue or the
    /// writer): where a re-sync after lag resumes from, pending changes being dropped.
    sent: u64,
    min_interval: Option<Duration>,
    next_allowed: Instant,
    /// Told when the subscription ends, so its waiting receive lets go of the topic's channel at once (on a quiet
    /// topic the next change may never come).
    gone: Arc<Notify>,
}

/// What the driver does after a session handled something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Send what is queued, then a close frame with this code and reason, and end.
    Close(u16, &'static str),
}

/// Where the session hands a frame the moment it is made, when the writer has room: a change forwarded at once
/// skips the outbox. A full writer hands the frame back and the change is conflated instead.
pub trait Writer {
    fn try_write(&self, frame: Outbound) -> Result<(), Outbound>;
}

/// One client's protocol state.
#[derive(Debug)]
pub struct Session {
    id: Uuid,
    ctx: Arc<Context>,
    subs: HashMap<String, Subscription>,
    resume: BTreeMap<String, ResumePoint>,
    outbox: Outbox,
    control: VecDeque<Outbound>,
    paused: bool,
    bad_frames: u32,
    last_recv: Instant,
    last_sent: Instant,
    next_sub_id: u64,
    /// Receivers of new subscriptions, for the run loop to start waiting on.
    new_receivers: Vec<(String, u64, Changes)>,
    /// Delta frames handed to the writer, for sampling the delivery latency (one frame in
    /// [`LATENCY_SAMPLE_EVERY`]: the histogram's lock stays off most frames of the hot path).
    delta_frames: u64,
}

/// One delta frame in this many is timed for the delivery-latency histogram.
const LATENCY_SAMPLE_EVERY: u64 = 8;

impl Session {
    /// A new client's session; `now` starts its idle clock.
    pub fn new(ctx: Arc<Context>, now: Instant) -> Session {
        ctx.metrics.clients.inc();
        Session {
            id: Uuid::new_v4(),
            ctx,
            subs: HashMap::new(),
            resume: BTreeMap::new(),
            outbox: Outbox::default(),
            control: VecDeque::new(),
            paused: false,
            bad_frames: 0,
            last_recv: now,
            last_sent: now,
            next_sub_id: 0,
            new_receivers: Vec::new(),
            delta_frames: 0,
        }
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The receivers of the subscriptions made since the last call, for the driver to wait on (with the
    /// subscription's id, which [`Session::is_current`] checks).
    pub fn take_new_receivers(&mut self) -> Vec<(String, u64, Changes)> {
        std::mem::take(&mut self.new_receivers)
    }

    /// Whether subscription `id` of `topic` is still the client's (not dropped or replaced since).
    pub fn is_current(&self, topic: &str, id: u64) -> bool {
        self.subs.get(topic).is_some_and(|s| s.id == id)
    }

    /// The relay is stopping: the client is told, and the session closes.
    pub fn on_shutdown(&mut self) -> Flow {
        self.queue_error(
            ErrorCode::ShuttingDown,
            "the relay is shutting down; reconnect shortly".into(),
            true,
        );
        Flow::Close(CLOSE_GOING_AWAY, "shutting down")
    }

    /// A heartbeat period passed: closes a client silent past the idle timeout, else queues a heartbeat (and a
    /// protocol-level ping, which browsers answer by themselves) when nothing else is waiting.
    pub fn on_heartbeat(&mut self, now: Instant) -> Flow {
        if now.saturating_duration_since(self.last_recv) > self.ctx.limits.idle_timeout() {
            Metrics::add(&self.ctx.metrics.idle_timeouts, 1);
            self.queue_error(
                ErrorCode::IdleTimeout,
                "no frame from the client within the idle timeout".into(),
                true,
            );
            return Flow::Close(CLOSE_POLICY, "idle");
        }
        if self.control.is_empty() {
            let t = tickdesk_market::clock::wall_ms().max(0) as u64;
            self.control
                .push_back(Outbound::Text(encode(&ServerMsg::Heartbeat { t })));
            self.control.push_back(Outbound::Ping);
        }
        Flow::Continue
    }

    /// The control frames still queued (errors, snapshots), for the driver's last words before a close.
    pub fn drain_control(&mut self) -> impl Iterator<Item = Outbound> + '_ {
        self.control.drain(..)
    }

    /// Whether a frame is ready to write now (control frames, or pending changes not held by pause or rate).
    pub fn has_flushable(&self, now: Instant) -> bool {
        !self.control.is_empty()
            || (!self.paused
                && self
                    .outbox
                    .topics()
                    .any(|t| self.subs.get(t).is_none_or(|s| s.next_allowed <= now)))
    }

    /// When a rate-limited topic becomes flushable, if one is waiting.
    pub fn next_rate_deadline(&self, now: Instant) -> Option<Instant> {
        if self.paused {
            return None;
        }
        self.outbox
            .topics()
            .filter_map(|t| self.subs.get(t))
            .map(|s| s.next_allowed)
            .filter(|at| *at > now)
            .min()
    }

    /// The next frame to write: control frames first, then every flushable pending delta in one frame.
    pub fn next_frame(&mut self, now: Instant) -> Option<Outbound> {
        if let Some(m) = self.control.pop_front() {
            self.last_sent = now;
            return Some(m);
        }
        if self.paused {
            return None;
        }
        let ready: Vec<String> = self
            .outbox
            .topics()
            .filter(|t| self.subs.get(*t).is_none_or(|s| s.next_allowed <= now))
            .cloned()
            .collect();
        let mut pending: Vec<Pending> = Vec::with_capacity(ready.len());
        for topic in ready {
            if let Some(p) = self.outbox.take(&topic) {
                if let Some(s) = self.subs.get_mut(&topic) {
                    if let Some(iv) = s.min_interval {
                        s.next_allowed = now + iv;
                    }
                    s.sent = p.last_seq().1;
                    pending.push(p);
                }
            }
        }
        if !pending.is_empty() && self.sampling() {
            // The oldest shared change in the frame.
            let oldest = pending
                .iter()
                .filter_map(|p| match p {
                    Pending::Shared(v) => v.first().map(|d| (d.delta.topic.as_str(), d.at)),
                    Pending::Merged(_) => None,
                })
                .min_by_key(|(_, at)| *at);
            if let Some((topic, at)) = oldest {
                self.ctx.metrics.observe_delivery(topic, at.elapsed());
            }
        }
        if let [Pending::Shared(v)] = pending.as_slice() {
            if let [one] = v.as_slice() {
                Metrics::add(&self.ctx.metrics.frames_shared, 1);
                self.last_sent = now;
                return Some(Outbound::Text(one.frame.clone()));
            }
        }
        // Shared deltas keep their encoding (a reference count, not a copy); merged ones are encoded here, for this
        // client alone.
        let parts: Vec<Text> = pending
            .iter()
            .flat_map(|p| match p {
                Pending::Shared(v) => v.iter().map(|d| d.json.clone()).collect(),
                Pending::Merged(d) => vec![encode_json(d)],
            })
            .collect();
        if parts.is_empty() {
            return None;
        }
        self.last_sent = now;
        Some(Outbound::Text(deltas_frame(&parts)))
    }

    /// The "subscription ended" signal of `topic`'s subscription; one already given when there is none (its wait
    /// then ends at once and the receiver is dropped).
    pub fn gone_of(&self, topic: &str) -> Arc<Notify> {
        self.subs.get(topic).map_or_else(
            || {
                let n = Arc::new(Notify::new());
                n.notify_one();
                n
            },
            |s| s.gone.clone(),
        )
    }

    /// Counts a delta frame; true for the one in [`LATENCY_SAMPLE_EVERY`] whose latency is recorded (from the
    /// change entering the store to its frame going to the socket's writer).
    fn sampling(&mut self) -> bool {
        self.delta_frames += 1;
        self.delta_frames % LATENCY_SAMPLE_EVERY == 1
    }

    /// One change of a watched topic: forwarded at once when the client keeps up and `out` has room, else
    /// conflated into the outbox.
    pub fn on_event(&mut self, ev: &Event, now: Instant, out: &dyn Writer) {
        match ev {
            Event::Reset { topic } => {
                if self.subs.contains_key(topic) {
                    self.outbox.take(topic);
                    self.send_state(topic, None);
                }
            }
            Event::Notice {
                topic,
                code,
                message,
            } => {
                if self.subs.contains_key(topic) && self.control.len() < CONTROL_QUEUE {
                    self.control
                        .push_back(Outbound::Text(encode(&ServerMsg::Error {
                            code: *code,
                            message: message.clone(),
                            fatal: false,
                            topic: Some(topic.clone()),
                        })));
                }
            }
            Event::Delta(shared) => {
                let delta = &shared.delta;
                let Some(sub) = self.subs.get_mut(&delta.topic) else {
                    return;
                };
                if delta.epoch != sub.epoch || delta.seq <= sub.seq {
                    return; // Already in the snapshot this client got, or from a reset it was re-sent.
                }
                if delta.prev != sub.seq {
                    // Cannot happen with one ordered channel per topic; if it did, re-sync rather than send a gap.
                    let missed = delta.prev.saturating_sub(sub.seq);
                    let topic = delta.topic.clone();
                    self.resync(&topic, missed);
                    return;
                }
                sub.seq = delta.seq;
                let rate_ok = sub.next_allowed <= now;
                let direct = !self.paused
                    && rate_ok
                    && self.control.is_empty()
                    && !self.outbox.has(&delta.topic);
                if direct && out.try_write(Outbound::Text(shared.frame.clone())).is_ok() {
                    if let Some(iv) = sub.min_interval {
                        sub.next_allowed = now + iv;
                    }
                    sub.sent = delta.seq;
                    self.last_sent = now;
                    Metrics::add(&self.ctx.metrics.frames_shared, 1);
                    if self.sampling() {
                        self.ctx
                            .metrics
                            .observe_delivery(&delta.topic, shared.at.elapsed());
                    }
                    return;
                }
                if self.outbox.push(shared) {
                    Metrics::add(&self.ctx.metrics.deltas_conflated, 1);
                }
                let queued = self.outbox.approx_bytes() as u64;
                self.ctx
                    .metrics
                    .client_queue_bytes_max
                    .inner()
                    .fetch_max(queued, Relaxed);
            }
        }
    }

    /// The session fell behind on one topic's channel: what it missed there is gone from the channel, so that topic
    /// alone is re-synced from where the client stands (the missed deltas from the history if it still holds them,
    /// else a fresh snapshot). Pending changes of the topic are dropped: the re-sync covers them.
    pub fn resync(&mut self, topic: &str, missed: u64) {
        warn!(client = %self.id, topic, missed, "client fell behind on a topic; re-syncing that topic");
        Metrics::add(&self.ctx.metrics.lagged_resyncs, 1);
        self.outbox.take(topic);
        let from = self.subs.get(topic).map(|s| ResumePoint {
            epoch: s.epoch.clone(),
            seq: s.sent,
        });
        self.send_state(topic, from);
    }

    /// A frame from the client (`now` resets its idle clock).
    pub fn on_inbound(&mut self, msg: Inbound, now: Instant) -> Flow {
        self.last_recv = now;
        let text = match msg {
            Inbound::Text(t) => t,
            Inbound::Binary => {
                return self.bad_frame(
                    ErrorCode::BadFrame,
                    "binary frames are not part of the protocol; send JSON text".into(),
                )
            }
            Inbound::Close => return Flow::Close(CLOSE_NORMAL, "client closed"),
            Inbound::Control => return Flow::Continue,
        };
        let max = self.ctx.limits.max_frame_bytes;
        if text.len() > max {
            return self.bad_frame(
                ErrorCode::FrameTooLarge,
                format!(
                    "frame of {} bytes exceeds the limit of {max} bytes",
                    text.len()
                ),
            );
        }
        match serde_json::from_str::<ClientMsg>(&text) {
            Ok(m) => self.on_command(m),
            Err(e) => self.bad_frame(
                ErrorCode::BadFrame,
                format!("not a valid client message: {e}"),
            ),
        }
    }

    fn bad_frame(&mut self, code: ErrorCode, message: String) -> Flow {
        Metrics::add(&self.ctx.metrics.bad_frames, 1);
        self.bad_frames += 1;
        debug!(client = %self.id, ?code, %message, "bad client frame");
        if self.bad_frames > self.ctx.limits.max_bad_frames {
            Metrics::add(&self.ctx.metrics.closed_abuse, 1);
            self.queue_error(
                ErrorCode::TooManyErrors,
                format!("closing after {} bad frames", self.bad_frames),
                true,
            );
            return Flow::Close(CLOSE_POLICY, "too many bad frames");
        }
        self.queue_error(code, message, false);
        Flow::Continue
    }

    fn queue_error(&mut self, code: ErrorCode, message: String, fatal: bool) {
        if fatal || self.control.len() < CONTROL_QUEUE {
            self.control
                .push_back(Outbound::Text(encode(&ServerMsg::Error {
                    code,
                    message,
                    fatal,
                    topic: None,
                })));
        }
    }

    fn on_command(&mut self, msg: ClientMsg) -> Flow {
        match msg {
            ClientMsg::Hello { v, resume } => {
                if v != PROTOCOL_VERSION {
                    self.queue_error(
                        ErrorCode::UnsupportedVersion,
                        format!("this relay speaks protocol version {PROTOCOL_VERSION}, the client sent {v}"),
                        true,
                    );
                    return Flow::Close(CLOSE_POLICY, "unsupported version");
                }
                self.resume = resume;
                let welcome = ServerMsg::Welcome {
                    v: PROTOCOL_VERSION,
                    client_id: self.id.to_string(),
                    heartbeat_ms: self.ctx.limits.heartbeat_ms,
                    topics: self.ctx.broker.topic_names(),
                };
                self.control.push_back(Outbound::Text(encode(&welcome)));
            }
            ClientMsg::Subscribe { topics, max_rate } => {
                let min_interval = match max_rate {
                    // At most an hour apart: a tiny rate's interval would overflow (found by tests/fuzz.rs).
                    Some(r) if r.is_finite() && r > 0.0 => Some(
                        Duration::try_from_secs_f64(1.0 / r)
                            .map_or(MAX_RATE_INTERVAL, |d| d.min(MAX_RATE_INTERVAL)),
                    ),
                    Some(r) => {
                        self.queue_error(
                            ErrorCode::BadFrame,
                            format!(
                                "max_rate must be a positive number of updates per second, got {r}"
                            ),
                            false,
                        );
                        return Flow::Continue;
                    }
                    None => None,
                };
                for topic in topics {
                    self.subscribe(topic, min_interval);
                }
            }
            ClientMsg::Unsubscribe { topics } => {
                for t in topics {
                    if let Some(sub) = self.subs.remove(&t) {
                        sub.gone.notify_one();
                        self.ctx.metrics.subscriptions.dec();
                        self.ctx.demand.remove(&t);
                    }
                    self.outbox.take(&t);
                }
            }
            ClientMsg::Pause => {
                self.paused = true;
                self.control
                    .push_back(Outbound::Text(encode(&ServerMsg::Paused)));
            }
            ClientMsg::Resume => {
                self.paused = false;
                // Queued ahead of the catch-up deltas, which flush right after it.
                self.control
                    .push_back(Outbound::Text(encode(&ServerMsg::Resumed)));
            }
            ClientMsg::Ping { t } => {
                if self.control.len() < CONTROL_QUEUE {
                    self.control
                        .push_back(Outbound::Text(encode(&ServerMsg::Pong { t })));
                }
            }
        }
        Flow::Continue
    }

    fn subscribe(&mut self, topic: String, min_interval: Option<Duration>) {
        if !self.ctx.broker.has_topic(&topic) {
            if !self.ctx.demand.is_dynamic(&topic) {
                self.queue_error(
                    ErrorCode::UnknownTopic,
                    format!("no topic named {topic:?}"),
                    false,
                );
                return;
            }
            if let Err(why) = topic.parse::<tickdesk_wire::topics::Topic>() {
                self.queue_error(ErrorCode::UnknownTopic, why.0, false);
                return;
            }
            let max = self.ctx.limits.max_ondemand_topics;
            if self
                .ctx
                .demand
                .dynamic_topics(&self.ctx.broker.topic_names())
                >= max
            {
                self.queue_error(
                    ErrorCode::TooManyTopics,
                    format!("{topic} not created: the relay holds its maximum of {max} on-demand topics (TICKDESK_MAX_ONDEMAND_TOPICS)"),
                    false,
                );
                return;
            }
            // An on-demand topic: it starts empty; the upstream fills it (a reset sends the snapshot).
            self.ctx.broker.ensure_topic(&topic);
        }
        if !self.subs.contains_key(&topic) {
            if self.subs.len() >= self.ctx.limits.max_subscriptions {
                let max = self.ctx.limits.max_subscriptions;
                self.queue_error(
                    ErrorCode::TooManySubscriptions,
                    format!("at most {max} subscriptions per client"),
                    false,
                );
                return;
            }
            // Registered before the snapshot is read: nothing can fall between the snapshot and the deltas after it.
            let Some(rx) = self.ctx.broker.subscribe(&topic) else {
                return;
            };
            self.ctx.metrics.subscriptions.inc();
            self.ctx.demand.add(&topic);
            self.next_sub_id += 1;
            let id = self.next_sub_id;
            self.subs.insert(
                topic.clone(),
                Subscription {
                    id,
                    epoch: String::new(),
                    seq: 0,
                    sent: 0,
                    min_interval: None,
                    // The frame being handled arrived at `last_recv`: that is now.
                    next_allowed: self.last_recv,
                    gone: Arc::new(Notify::new()),
                },
            );
            self.new_receivers.push((topic.clone(), id, rx));
        }
        self.outbox.take(&topic);
        let resume = self.resume.remove(&topic);
        match self.send_state(&topic, resume) {
            Some(true) => Metrics::add(&self.ctx.metrics.resumes_recovered, 1),
            Some(false) => Metrics::add(&self.ctx.metrics.resumes_snapshot, 1),
            None => {}
        }
        if let Some(s) = self.subs.get_mut(&topic) {
            s.min_interval = min_interval;
        }
    }

    /// Sends a subscribed topic's state: the missed deltas when `resume` can be honoured, else a fresh snapshot.
    /// Returns whether the resume was honoured (`None` when there was none to honour).
    fn send_state(&mut self, topic: &str, resume: Option<ResumePoint>) -> Option<bool> {
        let store = &self.ctx.broker;
        let asked = resume.is_some();
        let resumed = resume.and_then(|r| match store.resume(topic, &r.epoch, r.seq) {
            Ok(resumed) => Some((r.epoch, resumed)),
            Err(why) => {
                debug!(client = %self.id, topic, ?why, "resume not possible; sending a snapshot");
                None
            }
        });
        let recovered = resumed.is_some();
        let (frame, epoch, seq) = match resumed {
            Some((epoch, r)) => (r.frame, epoch, r.seq),
            None => store.snapshot_frame(topic)?,
        };
        self.control.push_back(Outbound::Text(frame));
        if let Some(sub) = self.subs.get_mut(topic) {
            sub.epoch = epoch;
            sub.seq = seq;
            sub.sent = seq;
        }
        asked.then_some(recovered)
    }
}

impl Drop for Session {
    /// The client is gone: its subscriptions no longer count, for the metrics and for the upstreams' demand.
    fn drop(&mut self) {
        let m = &self.ctx.metrics;
        m.subscriptions.dec_by(self.subs.len() as u64);
        for topic in self.subs.keys() {
            self.ctx.demand.remove(topic);
        }
        m.clients.dec();
    }
}

/// The protocol without a socket: frames in through [`Session::on_inbound`], changes through
/// [`Session::on_event`], frames out of [`Session::next_frame`].
#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use serde_json::json;
    use tickdesk_wire::replica::Replica;
    use tickdesk_wire::{Fields, Items};
    use tokio::sync::watch;

    use super::*;
    use crate::memory::MemoryBroker;

    /// A writer that takes every frame: changes go out at once.
    #[derive(Default)]
    struct Room(RefCell<Vec<Outbound>>);
    impl Writer for Room {
        fn try_write(&self, frame: Outbound) -> Result<(), Outbound> {
            self.0.borrow_mut().push(frame);
            Ok(())
        }
    }

    /// A writer with no room: changes wait in the outbox.
    struct Full;
    impl Writer for Full {
        fn try_write(&self, frame: Outbound) -> Result<(), Outbound> {
            Err(frame)
        }
    }

    struct Fixture {
        broker: Arc<MemoryBroker>,
        ctx: Arc<Context>,
        session: Session,
        rx: Vec<(String, u64, Changes)>,
        now: Instant,
    }

    fn fixture(limits: Limits) -> Fixture {
        let broker = Arc::new(MemoryBroker::new(64, 64));
        let ctx = Arc::new(Context {
            broker: broker.clone(),
            demand: Arc::new(Demand::default()),
            limits,
            metrics: Metrics::default(),
            shutdown: watch::channel(false).1,
        });
        let now = Instant::now();
        Fixture {
            broker,
            session: Session::new(ctx.clone(), now),
            ctx,
            rx: Vec::new(),
            now,
        }
    }

    fn row(v: f64) -> Items {
        let f: Fields = [("v".to_string(), json!(v))].into_iter().collect();
        [("x".to_string(), f)].into_iter().collect()
    }

    impl Fixture {
        fn send(&mut self, msg: serde_json::Value) -> Flow {
            let flow = self
                .session
                .on_inbound(Inbound::Text(msg.to_string()), self.now);
            self.rx.extend(self.session.take_new_receivers());
            flow
        }

        fn hello(&mut self, resume: serde_json::Value) {
            assert_eq!(
                self.send(json!({"type": "hello", "v": PROTOCOL_VERSION, "resume": resume})),
                Flow::Continue
            );
        }

        /// Hands every change waiting on the session's receivers to it, as the driver does.
        fn deliver(&mut self, out: &dyn Writer) {
            for (topic, id, rx) in &mut self.rx {
                while let Ok(ev) = rx.try_recv() {
                    if self.session.is_current(topic, *id) {
                        self.session.on_event(&ev, self.now, out);
                    }
                }
            }
        }

        /// Every frame the session has ready now, decoded.
        fn frames(&mut self) -> Vec<ServerMsg> {
            let mut out = Vec::new();
            while let Some(f) = self.session.next_frame(self.now) {
                out.push(decode(f));
            }
            out
        }
    }

    fn decode(f: Outbound) -> ServerMsg {
        match f {
            Outbound::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    fn error_code(m: &ServerMsg) -> Option<(ErrorCode, bool)> {
        match m {
            ServerMsg::Error { code, fatal, .. } => Some((*code, *fatal)),
            _ => None,
        }
    }

    #[test]
    fn hello_and_subscribe_answer_welcome_then_the_snapshot_and_count_demand() {
        let mut f = fixture(Limits::defaults());
        f.broker.publish("a", row(1.0), vec![]);
        f.hello(json!({}));
        f.send(json!({"type": "subscribe", "topics": ["a"]}));
        let frames = f.frames();
        assert!(
            matches!(&frames[0], ServerMsg::Welcome { topics, .. } if topics == &["a".to_string()])
        );
        match &frames[1] {
            ServerMsg::Snapshot {
                topic,
                seq,
                recovered,
                items,
                ..
            } => {
                assert_eq!((topic.as_str(), *seq, *recovered), ("a", 1, false));
                assert_eq!(items, &row(1.0));
            }
            other => panic!("expected the snapshot, got {other:?}"),
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(
            f.broker.subscribers("a"),
            1,
            "subscribed before the snapshot"
        );
        assert_eq!(f.ctx.demand.watch().borrow().get("a"), Some(&1));
        drop(f.session);
        assert_eq!(
            f.ctx.demand.watch().borrow().get("a"),
            None,
            "a gone client watches nothing"
        );
    }

    #[test]
    fn a_resume_within_the_history_replays_the_missed_deltas() {
        let mut f = fixture(Limits::defaults());
        f.broker.publish("a", row(1.0), vec![]);
        let at = f.broker.snapshot("a").unwrap();
        f.broker.publish("a", row(2.0), vec![]);
        f.broker.publish("a", row(3.0), vec![]);
        f.hello(json!({"a": {"epoch": at.epoch, "seq": at.seq}}));
        f.send(json!({"type": "subscribe", "topics": ["a"]}));
        match &f.frames()[1] {
            ServerMsg::Snapshot {
                recovered,
                deltas,
                seq,
                ..
            } => {
                assert!(*recovered);
                assert_eq!(*seq, 3);
                assert_eq!(deltas.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![2, 3]);
            }
            other => panic!("expected a recovered snapshot, got {other:?}"),
        }
        assert_eq!(f.ctx.metrics.resumes_recovered.get(), 1);
    }

    #[test]
    fn a_resume_from_another_epoch_gets_a_fresh_snapshot() {
        let mut f = fixture(Limits::defaults());
        f.broker.publish("a", row(1.0), vec![]);
        f.hello(json!({"a": {"epoch": "another-life", "seq": 1}}));
        f.send(json!({"type": "subscribe", "topics": ["a"]}));
        assert!(matches!(
            &f.frames()[1],
            ServerMsg::Snapshot { recovered: false, seq: 1, items, .. } if items == &row(1.0)
        ));
        assert_eq!(f.ctx.metrics.resumes_snapshot.get(), 1);
    }

    #[test]
    fn a_client_that_keeps_up_gets_the_shared_frame_at_once() {
        let mut f = fixture(Limits::defaults());
        f.broker.ensure_topic("a");
        f.hello(json!({}));
        f.send(json!({"type": "subscribe", "topics": ["a"]}));
        f.frames();
        f.broker.publish("a", row(7.0), vec![]);
        let room = Room::default();
        f.deliver(&room);
        let written = room.0.into_inner();
        assert_eq!(written.len(), 1);
        assert!(
            matches!(decode(written[0].clone()), ServerMsg::Deltas { updates } if updates[0].seq == 1)
        );
        assert!(f.frames().is_empty(), "nothing left in the outbox");
        assert_eq!(f.ctx.metrics.frames_shared.get(), 1);
    }

    #[test]
    fn a_slow_client_gets_the_changes_conflated_into_one_frame_with_the_latest_values() {
        let mut f = fixture(Limits::defaults());
        f.broker.ensure_topic("a");
        f.hello(json!({}));
        f.send(json!({"type": "subscribe", "topics": ["a"]}));
        let mut replica = Replica::new();
        for m in f.frames() {
            replica.apply(&m).unwrap();
        }
        for i in 1..=50 {
            f.broker.publish("a", row(i as f64), vec![]);
        }
        f.deliver(&Full);
        let frames = f.frames();
        assert_eq!(frames.len(), 1, "fifty changes, one frame: {frames:?}");
        replica.apply(&frames[0]).expect("no gap");
        let t = replica.topic("a").unwrap();
        assert_eq!(t.seq, 50);
        assert_eq!(t.items, row(50.0), "the latest value wins");
    }

    #[test]
    fn pause_holds_every_change_and_resume_catches_up_in_one_frame() {
        let mut f = fixture(Limits::defaults());
        f.broker.ensure_topic("a");
        f.hello(json!({}));
        f.send(json!({"type": "subscribe", "topics": ["a"]}));
        f.frames();
        f.send(json!({"type": "pause"}));
        assert!(matches!(f.frames().as_slice(), [ServerMsg::Paused]));
        for i in 1..=5 {
            f.broker.publish("a", row(i as f64), vec![]);
        }
        let room = Room::default();
        f.deliver(&room);
        assert!(
            room.0.borrow().is_empty(),
            "nothing is written while paused"
        );
        assert!(!f.session.has_flushable(f.now));
        assert!(f.frames().is_empty());
        f.send(json!({"type": "resume"}));
        let frames = f.frames();
        assert!(matches!(frames[0], ServerMsg::Resumed));
        match &frames[1..] {
            [ServerMsg::Deltas { updates }] => {
                assert_eq!(updates.last().unwrap().seq, 5);
                assert_eq!(updates.first().unwrap().prev, 0, "no gap after the pause");
            }
            other => panic!("expected one catch-up frame, got {other:?}"),
        }
    }

    #[test]
    fn bad_frames_get_errors_and_too_many_close_the_session() {
        let mut limits = Limits::defaults();
        limits.max_bad_frames = 3;
        limits.max_frame_bytes = 64;
        let mut f = fixture(limits);
        assert_eq!(f.send(json!("not a message")), Flow::Continue);
        assert_eq!(f.session.on_inbound(Inbound::Binary, f.now), Flow::Continue);
        let big = json!({"type": "subscribe", "topics": ["x".repeat(100)]});
        assert_eq!(f.send(big), Flow::Continue);
        let codes: Vec<_> = f.frames().iter().filter_map(error_code).collect();
        assert_eq!(
            codes,
            vec![
                (ErrorCode::BadFrame, false),
                (ErrorCode::BadFrame, false),
                (ErrorCode::FrameTooLarge, false)
            ]
        );
        assert_eq!(
            f.send(json!({"type": "nope"})),
            Flow::Close(CLOSE_POLICY, "too many bad frames")
        );
        let codes: Vec<_> = f.frames().iter().filter_map(error_code).collect();
        assert_eq!(codes, vec![(ErrorCode::TooManyErrors, true)]);
        assert_eq!(f.ctx.metrics.bad_frames.get(), 4);
    }

    #[test]
    fn an_unknown_topic_and_a_wrong_version_are_refused() {
        let mut f = fixture(Limits::defaults());
        f.hello(json!({}));
        f.send(json!({"type": "subscribe", "topics": ["nothing-here"]}));
        let codes: Vec<_> = f.frames().iter().filter_map(error_code).collect();
        assert_eq!(codes, vec![(ErrorCode::UnknownTopic, false)]);
        assert!(f.rx.is_empty(), "no subscription was made");
        let flow = f.send(json!({"type": "hello", "v": PROTOCOL_VERSION + 1}));
        assert_eq!(flow, Flow::Close(CLOSE_POLICY, "unsupported version"));
        let codes: Vec<_> = f.frames().iter().filter_map(error_code).collect();
        assert_eq!(codes, vec![(ErrorCode::UnsupportedVersion, true)]);
    }

    #[test]
    fn a_silent_client_is_closed_at_the_idle_timeout() {
        let mut limits = Limits::defaults();
        limits.heartbeat_ms = 1000;
        limits.idle_timeout_ms = 3000;
        let mut f = fixture(limits);
        assert_eq!(
            f.session.on_heartbeat(f.now + Duration::from_secs(2)),
            Flow::Continue
        );
        let heartbeat = f.session.next_frame(f.now).map(decode);
        assert!(matches!(heartbeat, Some(ServerMsg::Heartbeat { .. })));
        assert_eq!(
            f.session.next_frame(f.now),
            Some(Outbound::Ping),
            "and a ping the browser answers"
        );
        assert_eq!(f.session.next_frame(f.now), None);
        assert_eq!(
            f.session.on_heartbeat(f.now + Duration::from_secs(4)),
            Flow::Close(CLOSE_POLICY, "idle")
        );
    }
}
