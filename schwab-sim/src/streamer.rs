//! The streamer websocket: one task per connection holding its login, subscriptions and what each key was last
//! sent, so every data item is either a key's full first item or only its changed fields (see the module doc of
//! [`super`] for the protocol).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tracing::debug;

use tickdesk_market::clock::wall_ms;

use super::fields::{
    changed_fields, chart_item, data_frame, equity_record, first_item_extras_equity,
    first_item_extras_option, option_record, Item, Record, CHART_EQUITY, CHART_FIELD_COUNT,
    EQUITY_FIELD_COUNT, LEVELONE_EQUITIES, LEVELONE_OPTIONS, OPTION_FIELD_COUNT,
};
use super::subs::{code, Cmd, Subscriptions, SERVICES};
use super::tokens::AccessCheck;
use super::{auth_now_ms, lock, ConnEntry, Control, Shared};

/// Items per data frame; more keys go out in several frames of one tick.
const ITEMS_PER_FRAME: usize = 200;
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;

pub(super) async fn upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    let down = lock(&shared.streamer_down_until).is_some_and(|t| t > std::time::Instant::now());
    if down {
        return axum::response::IntoResponse::into_response((
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "streamer unavailable (simulated outage)",
        ));
    }
    ws.on_upgrade(move |socket| run(socket, shared))
}

/// What the loop does after handling an event.
enum Flow {
    Continue,
    /// Send a close frame, then end.
    Close(u16, &'static str),
    /// End without a close frame (a dropped connection).
    Drop,
}

struct Session {
    id: u64,
    shared: Arc<Shared>,
    logged_in: bool,
    customer_id: Option<String>,
    correl_id: Option<String>,
    subs: Subscriptions,
    /// Per service, per key: the record last sent (absent = the next item is a first item).
    sent: HashMap<String, HashMap<String, Record>>,
    idle_deadline: Option<Instant>,
    next_heartbeat: Option<Instant>,
    /// `CHART_EQUITY`: per key, the start of the last bar sent (or complete when subscribed: the past is
    /// pricehistory's, the stream sends the minutes that complete from then on).
    chart_sent: HashMap<String, i64>,
    /// The `seq` of the next chart item.
    chart_seq: u64,
}

async fn run(mut socket: WebSocket, shared: Arc<Shared>) {
    let id = shared.next_conn.fetch_add(1, Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel();
    lock(&shared.conns).insert(
        id,
        ConnEntry {
            tx,
            logged_in: false,
            subs: BTreeMap::new(),
        },
    );
    shared.counters.connections_total.fetch_add(1, Relaxed);
    debug!(conn = id, "schwab sim: streamer connected");
    let mut ticks = shared.ticks.subscribe();
    let mut stop = shared.stop.clone();
    let mut s = Session {
        id,
        subs: Subscriptions::new(shared.opts.key_cap),
        shared: shared.clone(),
        logged_in: false,
        customer_id: None,
        correl_id: None,
        sent: HashMap::new(),
        idle_deadline: None,
        next_heartbeat: None,
        chart_sent: HashMap::new(),
        chart_seq: 0,
    };
    let far = || Instant::now() + Duration::from_secs(86_400 * 365);
    loop {
        if *stop.borrow() {
            let _ = socket
                .send(Message::Close(Some(CloseFrame {
                    code: CLOSE_GOING_AWAY,
                    reason: "simulator shutting down".into(),
                })))
                .await;
            break;
        }
        let idle = s.idle_deadline;
        let hb = s.next_heartbeat;
        let flow = tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => s.on_text(&mut socket, t.as_str()).await,
                Some(Ok(Message::Binary(_))) => s.respond(&mut socket, "ADMIN", "", "", None, code::BAD_COMMAND_FORMAT, "Bad command formatting: binary frame").await,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Flow::Drop,
                Some(Ok(_)) => Flow::Continue,
            },
            changed = ticks.changed() => match changed {
                Ok(()) => s.push_data(&mut socket).await,
                Err(_) => Flow::Close(CLOSE_GOING_AWAY, "simulator shutting down"),
            },
            _ = sleep_until(hb.unwrap_or_else(far)), if hb.is_some() => {
                s.next_heartbeat = Some(Instant::now() + s.shared.opts.heartbeat);
                s.heartbeat(&mut socket).await
            }
            _ = sleep_until(idle.unwrap_or_else(far)), if idle.is_some() => {
                s.notify_admin(&mut socket, code::STOP_STREAMING, "Stop streaming due to empty subscription").await;
                Flow::Close(CLOSE_NORMAL, "empty subscription")
            }
            ctl = rx.recv() => match ctl {
                Some(c) => s.on_control(&mut socket, c).await,
                None => Flow::Continue,
            },
            changed = stop.changed() => match changed {
                Ok(()) => Flow::Continue, // the loop's top sees the flag and closes
                Err(_) => Flow::Close(CLOSE_GOING_AWAY, "simulator shutting down"),
            },
        };
        match flow {
            Flow::Continue => {}
            Flow::Close(code, reason) => {
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })))
                    .await;
                close_handshake(&mut socket).await;
                break;
            }
            Flow::Drop => break,
        }
    }
    lock(&shared.conns).remove(&id);
    if let Some(opts) = s.subs.service(LEVELONE_OPTIONS) {
        let mut m = shared.market_mut();
        for k in &opts.keys {
            m.unwatch(k);
        }
    }
    debug!(conn = id, "schwab sim: streamer closed");
}

/// After our close frame, reads until the client's own (at most a second), as the websocket close handshake has it:
/// a frame the client sent meanwhile (a ping) would otherwise meet a dropped socket, and the reset that follows
/// can throw away the notice sent just before the close (the client never learns why, and reconnects).
async fn close_handshake(socket: &mut WebSocket) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(m)) = socket.recv().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

fn str_field(v: &Value, k: &str) -> Option<String> {
    match v.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

impl Session {
    async fn send(&self, socket: &mut WebSocket, text: String) -> Flow {
        match socket.send(Message::Text(text.into())).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Drop,
        }
    }

    /// A `response` frame: `requestid` as a string, the correl id echoed.
    #[allow(clippy::too_many_arguments)]
    async fn respond(
        &self,
        socket: &mut WebSocket,
        service: &str,
        command: &str,
        requestid: &str,
        correl: Option<&str>,
        code: i64,
        msg: &str,
    ) -> Flow {
        let correl = correl
            .or(self.correl_id.as_deref())
            .unwrap_or(&self.shared.correl_id);
        let frame = json!({"response": [{
            "service": service,
            "command": command,
            "requestid": requestid,
            "SchwabClientCorrelId": correl,
            "timestamp": wall_ms(),
            "content": {"code": code, "msg": msg},
        }]});
        self.send(socket, frame.to_string()).await
    }

    async fn notify_admin(&self, socket: &mut WebSocket, code: i64, msg: &str) -> Flow {
        let frame = json!({"notify": [{
            "service": "ADMIN",
            "timestamp": wall_ms(),
            "content": {"code": code, "msg": msg},
        }]});
        self.send(socket, frame.to_string()).await
    }

    async fn heartbeat(&self, socket: &mut WebSocket) -> Flow {
        let frame = json!({"notify": [{"heartbeat": wall_ms().to_string()}]});
        self.send(socket, frame.to_string()).await
    }

    async fn on_control(&mut self, socket: &mut WebSocket, c: Control) -> Flow {
        match c {
            Control::Drop => Flow::Drop,
            Control::Close(code, reason) => Flow::Close(code, reason),
            Control::Code30 => {
                self.notify_admin(
                    socket,
                    code::STOP_STREAMING,
                    "Stop streaming due to empty subscription",
                )
                .await;
                Flow::Close(CLOSE_NORMAL, "stop streaming")
            }
            Control::Stall(d) => {
                tokio::time::sleep(d).await;
                Flow::Continue
            }
            Control::Malformed => {
                self.send(
                    socket,
                    r#"{"data":[{"service":"LEVELONE_OPTIONS","timestamp":17551187"#.to_string(),
                )
                .await
            }
            Control::Kick => {
                self.notify_admin(
                    socket,
                    code::CLOSE_CONNECTION,
                    "Connection closed: another streamer connection logged in for this user (limit 1)",
                )
                .await;
                Flow::Close(CLOSE_NORMAL, "another connection logged in")
            }
        }
    }

    async fn on_text(&mut self, socket: &mut WebSocket, text: &str) -> Flow {
        let requests = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(mut o)) => match o.remove("requests") {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        if requests.is_empty() {
            return self
                .respond(
                    socket,
                    "ADMIN",
                    "",
                    "",
                    None,
                    code::BAD_COMMAND_FORMAT,
                    "Bad command formatting: expected {\"requests\":[...]}",
                )
                .await;
        }
        for req in requests {
            match self.on_request(socket, &req).await {
                Flow::Continue => {}
                other => return other,
            }
        }
        Flow::Continue
    }

    async fn on_request(&mut self, socket: &mut WebSocket, req: &Value) -> Flow {
        self.shared.counters.commands.fetch_add(1, Relaxed);
        let service = str_field(req, "service").map(|s| s.to_ascii_uppercase());
        let command = str_field(req, "command").map(|s| s.to_ascii_uppercase());
        let rid = str_field(req, "requestid").unwrap_or_default();
        let correl = str_field(req, "SchwabClientCorrelId");
        let customer = str_field(req, "SchwabClientCustomerId");
        let (Some(service), Some(command)) = (service, command) else {
            return self
                .respond(
                    socket,
                    "ADMIN",
                    "",
                    &rid,
                    correl.as_deref(),
                    code::BAD_COMMAND_FORMAT,
                    "Bad command formatting: service and command are required",
                )
                .await;
        };
        let params = req.get("parameters").cloned().unwrap_or(Value::Null);
        if service == "ADMIN" && command == "LOGIN" {
            return self.login(socket, &rid, correl, customer, &params).await;
        }
        if !self.logged_in {
            return self
                .respond(
                    socket,
                    &service,
                    &command,
                    &rid,
                    correl.as_deref(),
                    code::STREAM_CONN_NOT_FOUND,
                    "Stream connection not found: LOGIN first",
                )
                .await;
        }
        let ids_changed = |given: &Option<String>, held: &Option<String>| {
            given.is_some() && held.is_some() && given != held
        };
        if ids_changed(&customer, &self.customer_id) || ids_changed(&correl, &self.correl_id) {
            return self
                .respond(
                    socket,
                    &service,
                    &command,
                    &rid,
                    correl.as_deref(),
                    code::STREAM_CONN_NOT_FOUND,
                    "Stream connection not found: SchwabClientCustomerId/SchwabClientCorrelId differ from LOGIN's",
                )
                .await;
        }
        if service == "ADMIN" {
            if command == "LOGOUT" {
                self.respond(
                    socket,
                    "ADMIN",
                    "LOGOUT",
                    &rid,
                    correl.as_deref(),
                    code::SUCCESS,
                    "SUCCESS",
                )
                .await;
                return Flow::Close(CLOSE_NORMAL, "logout");
            }
            return self
                .respond(
                    socket,
                    "ADMIN",
                    &command,
                    &rid,
                    correl.as_deref(),
                    code::BAD_COMMAND_FORMAT,
                    "Bad command formatting: unknown ADMIN command",
                )
                .await;
        }
        if !SERVICES.contains(&service.as_str()) {
            return self
                .respond(
                    socket,
                    &service,
                    &command,
                    &rid,
                    correl.as_deref(),
                    code::SERVICE_NOT_AVAILABLE,
                    "Service not available or temporary down",
                )
                .await;
        }
        let Some(cmd) = Cmd::parse(&command) else {
            return self
                .respond(
                    socket,
                    &service,
                    &command,
                    &rid,
                    correl.as_deref(),
                    code::BAD_COMMAND_FORMAT,
                    "Bad command formatting: unknown command",
                )
                .await;
        };
        let keys = params.get("keys").and_then(Value::as_str);
        let fields = params.get("fields").and_then(Value::as_str);
        let all: Vec<u16> = match service.as_str() {
            LEVELONE_OPTIONS => (0..OPTION_FIELD_COUNT as u16).collect(),
            LEVELONE_EQUITIES => (0..EQUITY_FIELD_COUNT as u16).collect(),
            CHART_EQUITY => (0..CHART_FIELD_COUNT as u16).collect(),
            _ => vec![0, 1, 2, 3],
        };
        let before: Vec<String> = self
            .subs
            .service(&service)
            .map(|x| x.keys.clone())
            .unwrap_or_default();
        match self.subs.apply(&service, cmd, keys, fields, &all) {
            Err(r) => {
                self.respond(
                    socket,
                    &service,
                    &command,
                    &rid,
                    correl.as_deref(),
                    r.code,
                    &r.msg,
                )
                .await
            }
            Ok(change) => {
                let sent = self.sent.entry(service.clone()).or_default();
                for k in change.removed.iter().chain(&change.snapshot) {
                    sent.remove(k);
                }
                if service == CHART_EQUITY {
                    let m = self.shared.market();
                    for k in &change.removed {
                        self.chart_sent.remove(k);
                    }
                    for k in &change.snapshot {
                        let done = m
                            .underlying(k)
                            .map_or(i64::MIN, |u| u.last_completed(m.now_ms));
                        self.chart_sent.entry(k.clone()).or_insert(done);
                    }
                }
                if service == LEVELONE_OPTIONS {
                    // Streamed contracts are repriced every tick; the rest only when read.
                    let after: Vec<String> = self
                        .subs
                        .service(&service)
                        .map(|x| x.keys.clone())
                        .unwrap_or_default();
                    let mut m = self.shared.market_mut();
                    for k in after.iter().filter(|k| !before.contains(k)) {
                        m.watch(k);
                    }
                    for k in before.iter().filter(|k| !after.contains(k)) {
                        m.unwatch(k);
                    }
                }
                self.subs_changed();
                let flow = self
                    .respond(
                        socket,
                        &service,
                        &command,
                        &rid,
                        correl.as_deref(),
                        code::SUCCESS,
                        &format!("{} command succeeded", cmd.name()),
                    )
                    .await;
                match flow {
                    Flow::Continue => self.push_data(socket).await,
                    other => other,
                }
            }
        }
    }

    /// Publishes the subscription list for `state()` and (re)arms or disarms the code-30 clock.
    fn subs_changed(&mut self) {
        let snapshot: BTreeMap<String, Vec<String>> = self
            .subs
            .services()
            .map(|(svc, s)| (svc.clone(), s.keys.clone()))
            .collect();
        if let Some(c) = lock(&self.shared.conns).get_mut(&self.id) {
            c.subs = snapshot;
        }
        self.idle_deadline = if self.logged_in && self.subs.is_empty() {
            Some(
                self.idle_deadline
                    .unwrap_or_else(|| Instant::now() + self.shared.opts.idle_code30_after),
            )
        } else {
            None
        };
    }

    async fn login(
        &mut self,
        socket: &mut WebSocket,
        rid: &str,
        correl: Option<String>,
        customer: Option<String>,
        params: &Value,
    ) -> Flow {
        let shared = self.shared.clone();
        let token = params.get("Authorization").and_then(Value::as_str);
        let denied_by_fault = shared.deny_next_login.swap(false, Relaxed);
        let check = token.map_or(AccessCheck::Invalid, |t| {
            lock(&shared.tokens).check(t, auth_now_ms())
        });
        if denied_by_fault || check != AccessCheck::Valid {
            shared.counters.login_denials.fetch_add(1, Relaxed);
            self.respond(
                socket,
                "ADMIN",
                "LOGIN",
                rid,
                correl.as_deref(),
                code::LOGIN_DENIED,
                "Login Denied.: token is invalid or has expired.",
            )
            .await;
            return Flow::Close(CLOSE_NORMAL, "login denied");
        }
        // One streamer connection per user.
        let others: Vec<mpsc::UnboundedSender<Control>> = lock(&shared.conns)
            .iter()
            .filter(|(id, c)| **id != self.id && c.logged_in)
            .map(|(_, c)| c.tx.clone())
            .collect();
        if !others.is_empty() && shared.opts.kick_newer {
            shared.counters.login_denials.fetch_add(1, Relaxed);
            self.respond(
                socket,
                "ADMIN",
                "LOGIN",
                rid,
                correl.as_deref(),
                code::CLOSE_CONNECTION,
                "Connection closed: this user already has a streamer connection (limit 1)",
            )
            .await;
            return Flow::Close(CLOSE_NORMAL, "another connection is logged in");
        }
        for tx in others {
            let _ = tx.send(Control::Kick);
        }
        shared.counters.logins.fetch_add(1, Relaxed);
        if let Some(c) = lock(&shared.conns).get_mut(&self.id) {
            c.logged_in = true;
        }
        let first_login = !self.logged_in;
        self.logged_in = true;
        self.customer_id = customer;
        self.correl_id = correl.clone();
        let flow = self
            .respond(
                socket,
                "ADMIN",
                "LOGIN",
                rid,
                correl.as_deref(),
                code::SUCCESS,
                "server=tickdesk-sim;status=NP",
            )
            .await;
        if !matches!(flow, Flow::Continue) {
            return flow;
        }
        if first_login {
            self.subs_changed();
            self.next_heartbeat = Some(Instant::now() + shared.opts.heartbeat);
            return self.heartbeat(socket).await;
        }
        Flow::Continue
    }

    /// Sends every subscribed key's item that is due: first items for keys with nothing sent yet, else the
    /// changed fields; keys with no change send nothing.
    async fn push_data(&mut self, socket: &mut WebSocket) -> Flow {
        if !self.logged_in || self.subs.is_empty() {
            return Flow::Continue;
        }
        // Frame timestamps say when the frame left (transport time, as latency measures need), not market time.
        let now = wall_ms();
        let mut frames: Vec<String> = Vec::new();
        {
            let m = self.shared.market();
            for service in [LEVELONE_OPTIONS, LEVELONE_EQUITIES] {
                let Some(ss) = self.subs.service(service) else {
                    continue;
                };
                let sent = self.sent.entry(service.to_string()).or_default();
                let mut items: Vec<Item> = Vec::new();
                for key in &ss.keys {
                    let (record, extras) = if service == LEVELONE_OPTIONS {
                        let Some(c) = m.contract(key) else { continue };
                        (option_record(&m, c), first_item_extras_option())
                    } else {
                        let Some(u) = m.underlying(key) else { continue };
                        (equity_record(u), first_item_extras_equity(u))
                    };
                    let prev = sent.get(key);
                    let fields = changed_fields(prev, &record, &ss.fields);
                    let first = prev.is_none();
                    if first || !fields.is_empty() {
                        items.push(Item {
                            key: key.clone(),
                            extras: if first { extras } else { Vec::new() },
                            fields,
                        });
                    }
                    sent.insert(key.clone(), record);
                }
                for chunk in items.chunks(ITEMS_PER_FRAME) {
                    frames.push(data_frame(service, now, chunk));
                }
            }
            // Charts: one item per minute completed since the last one sent, per key.
            if let Some(ss) = self.subs.service(CHART_EQUITY) {
                let mut items: Vec<Item> = Vec::new();
                for key in &ss.keys {
                    let Some(u) = m.underlying(key) else { continue };
                    let after = self.chart_sent.get(key).copied().unwrap_or(i64::MIN);
                    for b in u.completed_bars(after, m.now_ms) {
                        items.push(chart_item(key, b, self.chart_seq, &ss.fields));
                        self.chart_seq += 1;
                        self.chart_sent.insert(key.clone(), b.t);
                    }
                }
                for chunk in items.chunks(ITEMS_PER_FRAME) {
                    frames.push(data_frame(CHART_EQUITY, now, chunk));
                }
            }
        }
        for f in frames {
            self.shared.counters.data_frames.fetch_add(1, Relaxed);
            if let Flow::Drop = self.send(socket, f).await {
                return Flow::Drop;
            }
        }
        Flow::Continue
    }
}
