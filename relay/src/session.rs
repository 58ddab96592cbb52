//! One websocket client: its subscriptions, its conflation outbox, pause/resume, heartbeat and limits.
//!
//! Each connection runs two tasks. The *writer* owns the socket's sink and writes whatever it is handed,
//! batching all frames that are ready into one flush. The *session* (this module's loop) owns all protocol
//! state and hands the writer a frame only when the writer has room (`reserve`), which is what "flush when the
//! socket can take it" means: while a client is slow, changes pile up in its [`Outbox`], merged by item and field,
//! never in a queue that grows with time.
//!
//! The session listens on one store channel per watched topic, so a change on a topic it does not watch never
//! wakes it, and falling behind is per topic: a session that lags on one topic re-syncs that topic alone (the
//! missed deltas from the store's history when it still has them, else a fresh snapshot), its other topics carry
//! on untouched.
//!
//! When a client is keeping up, a change is forwarded as the store's pre-encoded frame, so a broadcast to N
//! clients costs one JSON encode; a client a little behind gets the store's encodings spliced into one frame, and
//! only one far behind gets a merged delta encoded for it alone. Changes that are already waiting, on every topic,
//! are all taken before the next frame is made, so a session that fell behind sends fewer, larger frames and
//! catches up.
//!
//! This is the hub's websocket edge: the only part of it that knows axum's types.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tickdesk_wire::{ClientMsg, ErrorCode, ResumePoint, ServerMsg, PROTOCOL_VERSION};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc, Notify};
use tokio::time::Instant;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::state::AppState;
use tickdesk_hub::broker::Event;
use tickdesk_hub::conflate::{Outbox, Pending};
use tickdesk_hub::frame::{deltas_frame, encode, encode_json, Text};
use tickdesk_hub::metrics::Metrics;

/// Frames the writer may hold beyond the one it is writing. Small on purpose: everything else waits, conflated.
const WRITER_SLOTS: usize = 4;
/// Client frames the reader may hold for the session. A client that floods waits on its own socket.
const READER_SLOTS: usize = 8;
/// Changes of one topic taken in one go (the first awaited, the rest already waiting) before a frame is made.
const EVENTS_PER_TURN: usize = 256;
/// Topics with waiting changes taken in one wakeup before a frame is made.
const TOPICS_PER_TURN: usize = 64;
/// Control frames (snapshots, pongs, errors) waiting for the writer. Pongs and errors past this are dropped.
const CONTROL_QUEUE: usize = 64;
/// The longest interval `max_rate` can ask for (a smaller rate is taken as one update an hour).
const MAX_RATE_INTERVAL: Duration = Duration::from_secs(3600);
/// Websocket close code for "going away" (shutdown) and "policy violation" (abuse, idle).
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

enum Flow {
    Continue,
    Close(u16, &'static str),
}

struct Session {
    id: Uuid,
    state: Arc<AppState>,
    subs: HashMap<String, Subscription>,
    resume: BTreeMap<String, ResumePoint>,
    outbox: Outbox,
    control: VecDeque<Message>,
    paused: bool,
    bad_frames: u32,
    last_recv: Instant,
    last_sent: Instant,
    next_sub_id: u64,
    /// Receivers of new subscriptions, for the run loop to start waiting on.
    new_receivers: Vec<(String, u64, Receiver)>,
    /// Delta frames handed to the writer, for sampling the delivery latency (one frame in
    /// [`LATENCY_SAMPLE_EVERY`]: the histogram's lock stays off most frames of the hot path).
    delta_frames: u64,
}

/// One delta frame in this many is timed for the delivery-latency histogram.
const LATENCY_SAMPLE_EVERY: u64 = 8;

type Receiver = broadcast::Receiver<Arc<Event>>;

/// A topic's next change as a session waits for it, with the subscription's id and the receiver handed back so it
/// can wait again.
type Received = (String, u64, Receiver, Result<Arc<Event>, RecvError>);

async fn next_change(topic: String, id: u64, mut rx: Receiver, gone: Arc<Notify>) -> Received {
    tokio::select! {
        r = rx.recv() => (topic, id, rx, r),
        // Unsubscribed: handed back as closed, so the session drops the receiver.
        _ = gone.notified() => (topic, id, rx, Err(RecvError::Closed)),
    }
}

/// The websocket message for a frame: the very same bytes. axum checks them as UTF-8 once more (its only way in
/// without a copy); they always pass, being built from strings.
fn ws_text(t: &Text) -> Message {
    match Utf8Bytes::try_from(t.bytes()) {
        Ok(u) => Message::Text(u),
        Err(_) => Message::Text(Utf8Bytes::from_static(
            r#"{"type":"error","code":"bad_frame","message":"relay produced a frame that is not UTF-8","fatal":false}"#,
        )),
    }
}

/// Runs a client connection to its end. Never panics on client input; one client's failure stays its own.
pub async fn run(socket: WebSocket, state: Arc<AppState>) {
    let id = Uuid::new_v4();
    state.metrics.clients.inc();
    info!(client = %id, "client connected");
    let (sink, stream) = socket.split();
    let (out_tx, out_rx) = mpsc::channel::<Message>(WRITER_SLOTS);
    let writer = tokio::spawn(write_loop(sink, out_rx, state.clone()));
    // The socket is read by a task of its own, which sleeps until the client sends something: polling the read
    // half from the session's loop, which wakes on every change, cost a read attempt (and axum zero-filling its
    // read buffer) per frame sent.
    let (in_tx, in_rx) = mpsc::channel(READER_SLOTS);
    let reader = tokio::spawn(read_loop(stream, in_tx));
    let now = Instant::now();
    let mut session = Session {
        id,
        state: state.clone(),
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
    };
    let reason = session.run(in_rx, &out_tx).await;
    reader.abort();
    info!(client = %id, reason, "client disconnected");
    state
        .metrics
        .subscriptions
        .dec_by(session.subs.len() as u64);
    for topic in session.subs.keys() {
        state.demand.remove(topic);
    }
    state.metrics.clients.dec();
    drop(out_tx);
    // The writer ends once it has written what it holds; a stalled peer cannot keep it forever.
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

/// What the reader hands the session: a client frame, or the socket's error.
type Incoming = Result<Message, axum::Error>;

/// Reads the client's frames and hands them to the session, until the socket ends or the session is gone.
async fn read_loop(
    mut stream: futures_util::stream::SplitStream<WebSocket>,
    tx: mpsc::Sender<Incoming>,
) {
    while let Some(m) = stream.next().await {
        let end = m.is_err();
        if tx.send(m).await.is_err() || end {
            return;
        }
    }
}

/// Writes what the session hands it: every frame that is ready is fed (tungstenite buffers it), then one flush, so a
/// burst of frames costs one write to the socket.
async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Message>,
    state: Arc<AppState>,
) {
    while let Some(first) = rx.recv().await {
        let mut bytes = 0u64;
        let mut n = 0u64;
        let mut next = Some(first);
        while let Some(m) = next.take() {
            if let Message::Text(t) = &m {
                bytes += t.len() as u64;
            }
            n += 1;
            if sink.feed(m).await.is_err() {
                return;
            }
            next = rx.try_recv().ok();
        }
        if sink.flush().await.is_err() {
            return;
        }
        Metrics::add(&state.metrics.frames_sent, n);
        Metrics::add(&state.metrics.bytes_sent, bytes);
    }
    let _ = sink.close().await;
}

impl Session {
    async fn run(
        &mut self,
        mut incoming: mpsc::Receiver<Incoming>,
        out: &mpsc::Sender<Message>,
    ) -> &'static str {
        // One waiting receive per watched topic: a change wakes only the sessions waiting on its topic.
        let mut changes = FuturesUnordered::new();
        let limits = self.state.limits.clone();
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + limits.heartbeat(), limits.heartbeat());
        let mut shutdown = self.state.shutdown.clone();
        let flow = loop {
            for (topic, id, rx) in std::mem::take(&mut self.new_receivers) {
                let gone = self.gone_of(&topic);
                changes.push(next_change(topic, id, rx, gone));
            }
            let now = Instant::now();
            let flushable = self.has_flushable(now);
            let wake_at = self.next_rate_deadline(now);
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => {
                    self.queue_error(ErrorCode::ShuttingDown, "the relay is shutting down; reconnect shortly".into(), true);
                    break Flow::Close(CLOSE_GOING_AWAY, "shutting down");
                }
                msg = incoming.recv() => match msg {
                    None | Some(Err(_)) => return "socket closed",
                    Some(Ok(m)) => {
                        self.last_recv = Instant::now();
                        if let Flow::Close(code, why) = self.on_message(m) {
                            break Flow::Close(code, why);
                        }
                    }
                },
                got = changes.next(), if !changes.is_empty() => {
                    Metrics::add(&self.state.metrics.topic_wakeups, 1);
                    // Every topic whose changes are waiting already, before the next frame is made.
                    let mut next = got;
                    for _ in 0..TOPICS_PER_TURN {
                        let Some((topic, id, rx, first)) = next else { break };
                        if let Some(rx) = self.on_changes(&topic, id, rx, first, out) {
                            let gone = self.gone_of(&topic);
                            changes.push(next_change(topic, id, rx, gone));
                        }
                        next = changes.next().now_or_never().flatten();
                    }
                    if let Some((topic, id, rx, first)) = next {
                        // Over the turn's bound: handled now all the same (dropping it would lose a change).
                        if let Some(rx) = self.on_changes(&topic, id, rx, first, out) {
                            let gone = self.gone_of(&topic);
                            changes.push(next_change(topic, id, rx, gone));
                        }
                    }
                }
                permit = out.reserve(), if flushable => match permit {
                    Ok(permit) => {
                        if let Some(frame) = self.next_frame(Instant::now()) {
                            self.last_sent = Instant::now();
                            permit.send(frame);
                        }
                    }
                    Err(_) => return "writer closed",
                },
                _ = tokio::time::sleep_until(wake_at.unwrap_or(now)), if wake_at.is_some() => {}
                _ = heartbeat.tick() => {
                    if self.last_recv.elapsed() > limits.idle_timeout() {
                        Metrics::add(&self.state.metrics.idle_timeouts, 1);
                        self.queue_error(ErrorCode::IdleTimeout, "no frame from the client within the idle timeout".into(), true);
                        break Flow::Close(CLOSE_POLICY, "idle");
                    }
                    if self.control.is_empty() {
                        let t = tickdesk_market::clock::wall_ms().max(0) as u64;
                        self.control.push_back(ws_text(&encode(&ServerMsg::Heartbeat { t })));
                        // A protocol-level ping: browsers answer it by themselves, which proves the client alive.
                        self.control.push_back(Message::Ping(Default::default()));
                    }
                }
            }
        };
        let Flow::Close(code, why) = flow else {
            return "done";
        };
        // Best effort: deliver the queued error and a close frame, bounded in time.
        let deadline = Instant::now() + Duration::from_secs(1);
        let close = Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(why),
        }));
        for m in self.control.drain(..).chain(std::iter::once(close)) {
            if tokio::time::timeout_at(deadline, out.send(m))
                .await
                .is_err()
            {
                break;
            }
        }
        why
    }

    fn has_flushable(&self, now: Instant) -> bool {
        !self.control.is_empty()
            || (!self.paused
                && self
                    .outbox
                    .topics()
                    .any(|t| self.subs.get(t).is_none_or(|s| s.next_allowed <= now)))
    }

    /// When a rate-limited topic becomes flushable, if one is waiting.
    fn next_rate_deadline(&self, now: Instant) -> Option<Instant> {
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
    fn next_frame(&mut self, now: Instant) -> Option<Message> {
        if let Some(m) = self.control.pop_front() {
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
                self.state.metrics.observe_delivery(topic, at.elapsed());
            }
        }
        if let [Pending::Shared(v)] = pending.as_slice() {
            if let [one] = v.as_slice() {
                Metrics::add(&self.state.metrics.frames_shared, 1);
                return Some(ws_text(&one.frame));
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
        (!parts.is_empty()).then(|| ws_text(&deltas_frame(&parts)))
    }

    /// The "subscription ended" signal of `topic`'s subscription; one already given when there is none (its wait
    /// then ends at once and the receiver is dropped).
    fn gone_of(&self, topic: &str) -> Arc<Notify> {
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

    /// Takes the changes of one topic that are waiting (the first already received). Returns the receiver to wait
    /// on again, or `None` when the subscription it belonged to is gone (unsubscribed, or the topic closed).
    fn on_changes(
        &mut self,
        topic: &str,
        id: u64,
        mut rx: Receiver,
        first: Result<Arc<Event>, RecvError>,
        out: &mpsc::Sender<Message>,
    ) -> Option<Receiver> {
        if self.subs.get(topic).is_none_or(|s| s.id != id) {
            return None; // From a subscription since dropped: let its receiver go.
        }
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(got) = next.take() {
            match got {
                Ok(ev) => self.on_event(&ev, out),
                Err(RecvError::Lagged(missed)) => self.resync(topic, missed),
                Err(RecvError::Closed) => return None,
            }
            taken += 1;
            if taken == EVENTS_PER_TURN {
                break;
            }
            next = match rx.try_recv() {
                Ok(ev) => Some(Ok(ev)),
                Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
                Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
                Err(TryRecvError::Empty) => None,
            };
        }
        Some(rx)
    }

    fn on_event(&mut self, ev: &Event, out: &mpsc::Sender<Message>) {
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
                    self.control.push_back(ws_text(&encode(&ServerMsg::Error {
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
                let now = Instant::now();
                let rate_ok = sub.next_allowed <= now;
                let direct = !self.paused
                    && rate_ok
                    && self.control.is_empty()
                    && !self.outbox.has(&delta.topic);
                if direct {
                    if let Ok(permit) = out.try_reserve() {
                        if let Some(iv) = sub.min_interval {
                            sub.next_allowed = now + iv;
                        }
                        sub.sent = delta.seq;
                        self.last_sent = now;
                        permit.send(ws_text(&shared.frame));
                        Metrics::add(&self.state.metrics.frames_shared, 1);
                        if self.sampling() {
                            self.state
                                .metrics
                                .observe_delivery(&delta.topic, shared.at.elapsed());
                        }
                        return;
                    }
                }
                if self.outbox.push(shared) {
                    Metrics::add(&self.state.metrics.deltas_conflated, 1);
                }
                let queued = self.outbox.approx_bytes() as u64;
                self.state
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
    fn resync(&mut self, topic: &str, missed: u64) {
        warn!(client = %self.id, topic, missed, "client fell behind on a topic; re-syncing that topic");
        Metrics::add(&self.state.metrics.lagged_resyncs, 1);
        self.outbox.take(topic);
        let from = self.subs.get(topic).map(|s| ResumePoint {
            epoch: s.epoch.clone(),
            seq: s.sent,
        });
        self.send_state(topic, from);
    }

    fn on_message(&mut self, msg: Message) -> Flow {
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => {
                return self.bad_frame(
                    ErrorCode::BadFrame,
                    "binary frames are not part of the protocol; send JSON text".into(),
                )
            }
            Message::Close(_) => return Flow::Close(1000, "client closed"),
            Message::Ping(_) | Message::Pong(_) => return Flow::Continue,
        };
        let max = self.state.limits.max_frame_bytes;
        if text.len() > max {
            return self.bad_frame(
                ErrorCode::FrameTooLarge,
                format!(
                    "frame of {} bytes exceeds the limit of {max} bytes",
                    text.len()
                ),
            );
        }
        match serde_json::from_str::<ClientMsg>(text.as_str()) {
            Ok(m) => self.on_command(m),
            Err(e) => self.bad_frame(
                ErrorCode::BadFrame,
                format!("not a valid client message: {e}"),
            ),
        }
    }

    fn bad_frame(&mut self, code: ErrorCode, message: String) -> Flow {
        Metrics::add(&self.state.metrics.bad_frames, 1);
        self.bad_frames += 1;
        debug!(client = %self.id, ?code, %message, "bad client frame");
        if self.bad_frames > self.state.limits.max_bad_frames {
            Metrics::add(&self.state.metrics.closed_abuse, 1);
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
            self.control.push_back(ws_text(&encode(&ServerMsg::Error {
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
                    heartbeat_ms: self.state.limits.heartbeat_ms,
                    topics: self.state.store.topic_names(),
                };
                self.control.push_back(ws_text(&encode(&welcome)));
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
                        self.state.metrics.subscriptions.dec();
                        self.state.demand.remove(&t);
                    }
                    self.outbox.take(&t);
                }
            }
            ClientMsg::Pause => {
                self.paused = true;
                self.control.push_back(ws_text(&encode(&ServerMsg::Paused)));
            }
            ClientMsg::Resume => {
                self.paused = false;
                // Queued ahead of the catch-up deltas, which flush right after it.
                self.control
                    .push_back(ws_text(&encode(&ServerMsg::Resumed)));
            }
            ClientMsg::Ping { t } => {
                if self.control.len() < CONTROL_QUEUE {
                    self.control
                        .push_back(ws_text(&encode(&ServerMsg::Pong { t })));
                }
            }
        }
        Flow::Continue
    }

    fn subscribe(&mut self, topic: String, min_interval: Option<Duration>) {
        if !self.state.store.has_topic(&topic) {
            if !self.state.demand.is_dynamic(&topic) {
                self.queue_error(
                    ErrorCode::UnknownTopic,
                    format!("no topic named {topic:?}"),
                    false,
                );
                return;
            }
            if let Err(why) = tickdesk_wire::topics::check_ondemand(&topic) {
                self.queue_error(ErrorCode::UnknownTopic, why, false);
                return;
            }
            let max = self.state.limits.max_ondemand_topics;
            if self
                .state
                .demand
                .dynamic_topics(&self.state.store.topic_names())
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
            self.state.store.ensure_topic(&topic);
        }
        if !self.subs.contains_key(&topic) {
            if self.subs.len() >= self.state.limits.max_subscriptions {
                let max = self.state.limits.max_subscriptions;
                self.queue_error(
                    ErrorCode::TooManySubscriptions,
                    format!("at most {max} subscriptions per client"),
                    false,
                );
                return;
            }
            // Registered before the snapshot is read: nothing can fall between the snapshot and the deltas after it.
            let Some(rx) = self.state.store.subscribe(&topic) else {
                return;
            };
            self.state.metrics.subscriptions.inc();
            self.state.demand.add(&topic);
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
                    next_allowed: Instant::now(),
                    gone: Arc::new(Notify::new()),
                },
            );
            self.new_receivers.push((topic.clone(), id, rx));
        }
        self.outbox.take(&topic);
        let resume = self.resume.remove(&topic);
        match self.send_state(&topic, resume) {
            Some(true) => Metrics::add(&self.state.metrics.resumes_recovered, 1),
            Some(false) => Metrics::add(&self.state.metrics.resumes_snapshot, 1),
            None => {}
        }
        if let Some(s) = self.subs.get_mut(&topic) {
            s.min_interval = min_interval;
        }
    }

    /// Sends a subscribed topic's state: the missed deltas when `resume` can be honoured, else a fresh snapshot.
    /// Returns whether the resume was honoured (`None` when there was none to honour).
    fn send_state(&mut self, topic: &str, resume: Option<ResumePoint>) -> Option<bool> {
        let store = &self.state.store;
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
        self.control.push_back(ws_text(&frame));
        if let Some(sub) = self.subs.get_mut(topic) {
            sub.epoch = epoch;
            sub.seq = seq;
            sub.sent = seq;
        }
        asked.then_some(recovered)
    }
}
