//! One websocket client: its subscriptions, its conflation outbox, pause/resume, heartbeat and limits.
//!
//! Each connection runs two tasks. The *writer* owns the socket's sink and writes whatever it is handed,
//! batching all frames that are ready into one flush. The *session* (this module's loop) owns all protocol
//! state and hands the writer a frame only when the writer has room (`reserve`), which is what "flush when the
//! socket can take it" means: while a client is slow, changes pile up in its [`Outbox`], merged by item and field,
//! never in a queue that grows with time.
//!
//! When a client is keeping up, a change is forwarded as the store's pre-encoded frame, so a broadcast to N
//! clients costs one JSON encode; a client a little behind gets the store's encodings spliced into one frame, and
//! only one far behind gets a merged delta encoded for it alone. Events that are already waiting are all taken
//! before the next frame is made, so a session that fell behind sends fewer, larger frames and catches up.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tickdesk_wire::{ClientMsg, ErrorCode, ResumePoint, ServerMsg, PROTOCOL_VERSION};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::conflate::{Outbox, Pending};
use crate::metrics::Metrics;
use crate::server::AppState;
use crate::store::{deltas_frame, encode, encode_json, Event};

/// Frames the writer may hold beyond the one it is writing. Small on purpose: everything else waits, conflated.
const WRITER_SLOTS: usize = 4;
/// Events taken from the broadcast in one go (the first awaited, the rest already waiting) before a frame is made.
const EVENTS_PER_TURN: usize = 256;
/// Control frames (snapshots, pongs, errors) waiting for the writer. Pongs and errors past this are dropped.
const CONTROL_QUEUE: usize = 64;
/// Websocket close code for "going away" (shutdown) and "policy violation" (abuse, idle).
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_POLICY: u16 = 1008;

#[derive(Debug)]
struct Subscription {
    epoch: String,
    /// The last seq accepted for this client (sent or pending).
    seq: u64,
    min_interval: Option<Duration>,
    next_allowed: Instant,
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
}

/// Runs a client connection to its end. Never panics on client input; one client's failure stays its own.
pub async fn run(socket: WebSocket, state: Arc<AppState>) {
    let id = Uuid::new_v4();
    Metrics::add(&state.metrics.clients, 1);
    info!(client = %id, "client connected");
    // Registered before any snapshot is read: nothing can fall between a snapshot and the deltas after it.
    let events = state.store.subscribe();
    let (sink, stream) = socket.split();
    let (out_tx, out_rx) = mpsc::channel::<Message>(WRITER_SLOTS);
    let writer = tokio::spawn(write_loop(sink, out_rx, state.clone()));
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
    };
    let reason = session.run(stream, events, &out_tx).await;
    info!(client = %id, reason, "client disconnected");
    state
        .metrics
        .subscriptions
        .fetch_sub(session.subs.len() as u64, Relaxed);
    for topic in session.subs.keys() {
        state.demand.remove(topic);
    }
    state.metrics.clients.fetch_sub(1, Relaxed);
    drop(out_tx);
    // The writer ends once it has written what it holds; a stalled peer cannot keep it forever.
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Message>,
    state: Arc<AppState>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(m) = rx.try_recv() {
            batch.push(m);
        }
        let mut bytes = 0u64;
        let n = batch.len() as u64;
        for m in batch {
            if let Message::Text(t) = &m {
                bytes += t.len() as u64;
            }
            if sink.feed(m).await.is_err() {
                return;
            }
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
        mut stream: futures_util::stream::SplitStream<WebSocket>,
        mut events: broadcast::Receiver<Arc<Event>>,
        out: &mpsc::Sender<Message>,
    ) -> &'static str {
        let limits = self.state.limits.clone();
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + limits.heartbeat(), limits.heartbeat());
        let mut shutdown = self.state.shutdown.clone();
        let flow = loop {
            let now = Instant::now();
            let flushable = self.has_flushable(now);
            let wake_at = self.next_rate_deadline(now);
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => {
                    self.queue_error(ErrorCode::ShuttingDown, "the relay is shutting down; reconnect shortly".into(), true);
                    break Flow::Close(CLOSE_GOING_AWAY, "shutting down");
                }
                msg = stream.next() => match msg {
                    None | Some(Err(_)) => return "socket closed",
                    Some(Ok(m)) => {
                        self.last_recv = Instant::now();
                        if let Flow::Close(code, why) = self.on_message(m) {
                            break Flow::Close(code, why);
                        }
                    }
                },
                ev = events.recv() => {
                    let mut next = ev;
                    for _ in 0..EVENTS_PER_TURN {
                        match next {
                            Ok(ev) => self.on_event(&ev, out),
                            Err(broadcast::error::RecvError::Lagged(n)) => self.resync_all(n),
                            Err(broadcast::error::RecvError::Closed) => return "store closed",
                        }
                        next = match events.try_recv() {
                            Ok(ev) => Ok(ev),
                            Err(broadcast::error::TryRecvError::Lagged(n)) => Err(broadcast::error::RecvError::Lagged(n)),
                            Err(broadcast::error::TryRecvError::Closed) => Err(broadcast::error::RecvError::Closed),
                            Err(broadcast::error::TryRecvError::Empty) => break,
                        };
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
                        self.control.push_back(Message::Text(encode(&ServerMsg::Heartbeat { t })));
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
                    pending.push(p);
                }
            }
        }
        if let [Pending::Shared(v)] = pending.as_slice() {
            if let [one] = v.as_slice() {
                Metrics::add(&self.state.metrics.frames_shared, 1);
                return Some(Message::Text(one.frame.clone()));
            }
        }
        // Shared deltas keep their encoding (a reference count, not a copy); merged ones are encoded here, for this
        // client alone.
        let parts: Vec<Utf8Bytes> = pending
            .iter()
            .flat_map(|p| match p {
                Pending::Shared(v) => v.iter().map(|d| d.json.clone()).collect(),
                Pending::Merged(d) => vec![encode_json(d)],
            })
            .collect();
        (!parts.is_empty())
            .then(|| Message::Text(deltas_frame(parts.iter().map(Utf8Bytes::as_str))))
    }

    fn on_event(&mut self, ev: &Event, out: &mpsc::Sender<Message>) {
        match ev {
            Event::Reset { topic } => {
                if self.subs.contains_key(topic) {
                    self.outbox.take(topic);
                    self.send_state(topic, None);
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
                        self.last_sent = now;
                        permit.send(Message::Text(shared.frame.clone()));
                        Metrics::add(&self.state.metrics.frames_shared, 1);
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
                    .fetch_max(queued, Relaxed);
            }
        }
    }

    /// The session fell behind the store's broadcast: what it missed is gone, so every topic is re-snapshotted.
    fn resync_all(&mut self, missed: u64) {
        warn!(client = %self.id, missed, "client fell behind the broadcast; sending fresh snapshots");
        Metrics::add(&self.state.metrics.lagged_resyncs, 1);
        let topics: Vec<String> = self.subs.keys().cloned().collect();
        for t in topics {
            self.outbox.take(&t);
            self.send_state(&t, None);
        }
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
            self.control
                .push_back(Message::Text(encode(&ServerMsg::Error {
                    code,
                    message,
                    fatal,
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
                self.control.push_back(Message::Text(encode(&welcome)));
            }
            ClientMsg::Subscribe { topics, max_rate } => {
                let min_interval = match max_rate {
                    Some(r) if r.is_finite() && r > 0.0 => Some(Duration::from_secs_f64(1.0 / r)),
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
                    if self.subs.remove(&t).is_some() {
                        self.state.metrics.subscriptions.fetch_sub(1, Relaxed);
                        self.state.demand.remove(&t);
                    }
                    self.outbox.take(&t);
                }
            }
            ClientMsg::Pause => {
                self.paused = true;
                self.control
                    .push_back(Message::Text(encode(&ServerMsg::Paused)));
            }
            ClientMsg::Resume => {
                self.paused = false;
                // Queued ahead of the catch-up deltas, which flush right after it.
                self.control
                    .push_back(Message::Text(encode(&ServerMsg::Resumed)));
            }
            ClientMsg::Ping { t } => {
                if self.control.len() < CONTROL_QUEUE {
                    self.control
                        .push_back(Message::Text(encode(&ServerMsg::Pong { t })));
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
            Metrics::add(&self.state.metrics.subscriptions, 1);
            self.state.demand.add(&topic);
        }
        self.outbox.take(&topic);
        let resume = self.resume.remove(&topic);
        self.send_state(&topic, resume);
        if let Some(s) = self.subs.get_mut(&topic) {
            s.min_interval = min_interval;
        }
    }

    /// Sends a topic's state: the missed deltas when `resume` can be honoured, else a fresh snapshot.
    fn send_state(&mut self, topic: &str, resume: Option<ResumePoint>) {
        let store = &self.state.store;
        let recovered = resume.and_then(|r| match store.since(topic, &r.epoch, r.seq) {
            Ok(deltas) => Some((r, deltas)),
            Err(why) => {
                debug!(client = %self.id, topic, ?why, "resume not possible; sending a snapshot");
                Metrics::add(&self.state.metrics.resumes_snapshot, 1);
                None
            }
        });
        let (msg, epoch, seq) = match recovered {
            Some((r, deltas)) => {
                Metrics::add(&self.state.metrics.resumes_recovered, 1);
                let seq = deltas.last().map_or(r.seq, |d| d.seq);
                let msg = encode(&ServerMsg::Snapshot {
                    topic: topic.to_string(),
                    epoch: r.epoch.clone(),
                    seq,
                    recovered: true,
                    items: Default::default(),
                    deltas,
                });
                (msg, r.epoch, seq)
            }
            None => {
                let Some((frame, epoch, seq)) = store.snapshot_frame(topic) else {
                    return;
                };
                (frame, epoch, seq)
            }
        };
        self.control.push_back(Message::Text(msg));
        let sub = self
            .subs
            .entry(topic.to_string())
            .or_insert_with(|| Subscription {
                epoch: String::new(),
                seq: 0,
                min_interval: None,
                next_allowed: Instant::now(),
            });
        sub.epoch = epoch;
        sub.seq = seq;
    }
}
