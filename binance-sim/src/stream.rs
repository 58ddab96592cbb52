//! One stream connection: combined (`/stream?streams=…`, messages wrapped in `{"stream","data"}`) or raw (`/ws`,
//! `/ws/<stream>`), live SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS, and the duties Binance enforces: at most
//! `max_incoming_per_sec` messages from the client per second, a pong with the ping's payload within
//! `pong_timeout`, and a connection no older than `max_connection_age`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use crate::market::valid_stream;
use crate::{lock, now_ms, Control, Shared};

/// How often the session checks its timers (ping due, pong late, age, shutdown grace).
const HOUSEKEEPING: Duration = Duration::from_millis(20);

pub(crate) async fn upgrade_combined(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let streams: Vec<String> = q
        .get("streams")
        .map(|s| {
            s.split('/')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    upgrade(shared, ws, streams, true)
}

pub(crate) async fn upgrade_raw(
    State(shared): State<Arc<Shared>>,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(shared, ws, Vec::new(), false)
}

pub(crate) async fn upgrade_raw_one(
    State(shared): State<Arc<Shared>>,
    Path(stream): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(shared, ws, vec![stream], false)
}

fn upgrade(
    shared: Arc<Shared>,
    ws: WebSocketUpgrade,
    streams: Vec<String>,
    combined: bool,
) -> Response {
    shared.counters.ws_attempts.fetch_add(1, Relaxed);
    let refuse = shared.refuse_ws.load(Relaxed);
    if refuse != 0 {
        shared.counters.ws_refused.fetch_add(1, Relaxed);
        let status = StatusCode::from_u16(refuse).unwrap_or(StatusCode::FORBIDDEN);
        return (status, "websocket upgrade refused (simulated proxy)").into_response();
    }
    if let Some(bad) = streams.iter().find(|s| !valid_stream(s)) {
        return (
            StatusCode::BAD_REQUEST,
            format!("{{\"code\":-1100,\"msg\":\"Invalid stream name {bad:?}.\"}}"),
        )
            .into_response();
    }
    ws.on_upgrade(move |socket| run(socket, shared, streams.into_iter().collect(), combined))
}

enum Flow {
    Continue,
    Close(u16, &'static str),
    Drop,
}

struct Session {
    shared: Arc<Shared>,
    subs: BTreeSet<String>,
    combined: bool,
    /// When each of the client's messages of the last second arrived.
    incoming: VecDeque<Instant>,
    /// The outstanding pings' payloads and when they were sent, oldest first.
    pings: VecDeque<(Vec<u8>, Instant)>,
    next_ping: Instant,
    opened: Instant,
    stalled: bool,
    close_at: Option<Instant>,
}

async fn run(socket: WebSocket, shared: Arc<Shared>, subs: BTreeSet<String>, combined: bool) {
    let id = shared.next_conn.fetch_add(1, Relaxed);
    let (tx, mut ctl) = mpsc::unbounded_channel();
    lock(&shared.conns).insert(id, tx);
    shared.counters.connections_total.fetch_add(1, Relaxed);
    let mut ticks = shared.ticks.subscribe();
    let mut stop = shared.stop.clone();
    let now = Instant::now();
    let mut s = Session {
        shared: shared.clone(),
        subs,
        combined,
        incoming: VecDeque::new(),
        pings: VecDeque::new(),
        next_ping: now + shared.opts.ping_interval,
        opened: now,
        stalled: false,
        close_at: None,
    };
    let (mut tx, mut rx) = socket.split();
    let mut house = tokio::time::interval(HOUSEKEEPING);
    house.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let flow = loop {
        let mut out: Vec<Message> = Vec::new();
        let flow = tokio::select! {
            _ = stop.changed() => Flow::Close(1001, "server stopping"),
            c = ctl.recv() => match c {
                None | Some(Control::Drop) => Flow::Drop,
                Some(Control::Stall) => {
                    s.stalled = true;
                    Flow::Continue
                }
                Some(Control::ServerShutdown) => {
                    if !s.stalled {
                        out.push(Message::Text(json!({"e": "serverShutdown", "E": now_ms()}).to_string().into()));
                    }
                    s.close_at.get_or_insert(Instant::now() + s.shared.opts.shutdown_grace);
                    Flow::Continue
                }
            },
            t = ticks.recv() => match t {
                Ok(tick) => {
                    if !s.stalled {
                        s.data(&tick, &mut out);
                    }
                    Flow::Continue
                }
                Err(broadcast::error::RecvError::Lagged(_)) => Flow::Continue,
                Err(broadcast::error::RecvError::Closed) => Flow::Close(1001, "server stopping"),
            },
            m = rx.next() => match m {
                None | Some(Err(_)) => {
                    shared.counters.client_closes.fetch_add(1, Relaxed);
                    Flow::Drop
                }
                Some(Ok(m)) => s.inbound(m, &mut out),
            },
            _ = house.tick() => s.housekeeping(&mut out),
        };
        let n = out.len() as u64;
        for m in out {
            if tx.feed(m).await.is_err() {
                break;
            }
        }
        if n > 0 {
            if tx.flush().await.is_err() {
                break Flow::Drop;
            }
            shared.counters.messages_sent.fetch_add(n, Relaxed);
        }
        match flow {
            Flow::Continue => continue,
            f => break f,
        }
    };
    if let Flow::Close(code, reason) = flow {
        let _ = tx
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await;
    }
    let mut conns = lock(&shared.conns);
    conns.remove(&id);
    if conns.is_empty() {
        shared.counters.no_connection_moments.fetch_add(1, Relaxed);
    }
}

impl Session {
    fn data(&self, tick: &[(String, String)], out: &mut Vec<Message>) {
        for (stream, data) in tick {
            if self.subs.contains(stream) {
                let text = if self.combined {
                    format!("{{\"stream\":\"{stream}\",\"data\":{data}}}")
                } else {
                    data.clone()
                };
                out.push(Message::Text(text.into()));
            }
        }
    }

    /// Counts one incoming message against the limit; the sixth within a second closes the connection.
    fn count_incoming(&mut self) -> bool {
        let now = Instant::now();
        self.incoming.push_back(now);
        while self
            .incoming
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            self.incoming.pop_front();
        }
        self.shared
            .counters
            .max_incoming_per_sec
            .fetch_max(self.incoming.len(), Relaxed);
        self.incoming.len() <= self.shared.opts.max_incoming_per_sec
    }

    fn inbound(&mut self, m: Message, out: &mut Vec<Message>) -> Flow {
        if let Message::Close(_) = m {
            self.shared.counters.client_closes.fetch_add(1, Relaxed);
            return Flow::Drop;
        }
        if !self.count_incoming() {
            self.shared.counters.rate_limit_closes.fetch_add(1, Relaxed);
            return Flow::Close(1008, "Too many requests");
        }
        match m {
            Message::Pong(p) => {
                match self
                    .pings
                    .iter()
                    .position(|(payload, _)| payload.as_slice() == p.as_ref())
                {
                    Some(i) => {
                        self.shared.counters.pongs_ok.fetch_add(1, Relaxed);
                        self.pings.remove(i);
                    }
                    None => {
                        // Unsolicited pongs are allowed; they just do not answer anything.
                        self.shared.counters.pongs_unmatched.fetch_add(1, Relaxed);
                    }
                }
                Flow::Continue
            }
            Message::Text(t) => {
                self.shared.counters.requests.fetch_add(1, Relaxed);
                if !self.stalled {
                    out.push(Message::Text(self.request(t.as_str()).to_string().into()));
                }
                Flow::Continue
            }
            _ => Flow::Continue,
        }
    }

    /// Answers one JSON request.
    fn request(&mut self, text: &str) -> Value {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return json!({"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}, "id": null});
        };
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        let bad = |msg: &str| json!({"error": {"code": 2, "msg": format!("Invalid request: {msg}")}, "id": id});
        let params: Vec<String> = match v.get("params") {
            None => Vec::new(),
            Some(Value::Array(a)) => {
                let names: Option<Vec<String>> =
                    a.iter().map(|x| x.as_str().map(str::to_string)).collect();
                match names {
                    Some(n) => n,
                    None => return bad("params must be stream names"),
                }
            }
            Some(_) => return bad("params must be an array"),
        };
        match v.get("method").and_then(Value::as_str) {
            Some("SUBSCRIBE") => {
                if let Some(b) = params.iter().find(|p| !valid_stream(p)) {
                    return bad(&format!("invalid stream name {b:?}"));
                }
                self.subs.extend(params);
                json!({"result": null, "id": id})
            }
            Some("UNSUBSCRIBE") => {
                for p in &params {
                    self.subs.remove(p);
                }
                json!({"result": null, "id": id})
            }
            Some("LIST_SUBSCRIPTIONS") => {
                json!({"result": self.subs.iter().collect::<Vec<_>>(), "id": id})
            }
            _ => bad("unknown method"),
        }
    }

    fn housekeeping(&mut self, out: &mut Vec<Message>) -> Flow {
        let now = Instant::now();
        let opts = &self.shared.opts;
        if self.close_at.is_some_and(|t| now >= t) {
            self.shared.counters.shutdown_closes.fetch_add(1, Relaxed);
            return Flow::Close(1001, "server shutdown");
        }
        if now.duration_since(self.opened) >= opts.max_connection_age {
            self.shared.counters.age_closes.fetch_add(1, Relaxed);
            return Flow::Close(1001, "connection reached its maximum age");
        }
        if self.stalled {
            return Flow::Continue;
        }
        if let Some((_, sent)) = self.pings.front() {
            if now.duration_since(*sent) >= opts.pong_timeout {
                self.shared.counters.ping_timeouts.fetch_add(1, Relaxed);
                return Flow::Close(1008, "pong timeout");
            }
        }
        if now >= self.next_ping {
            let payload = now_ms().to_string().into_bytes();
            out.push(Message::Ping(payload.clone().into()));
            self.pings.push_back((payload, now));
            self.next_ping = now + opts.ping_interval;
        }
        Flow::Continue
    }
}
