//! The one websocket to the relay: connect, resume, reconnect with full-jitter backoff, pause/resume, stale
//! detection, and writing changes into the view model once per animation frame.
//!
//! Protocol state lives in plain Rust shared with native code ([`tickdesk_wire::replica`] and
//! [`tickdesk_wire::backoff`]); this module only does the browser I/O around them.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use leptos::prelude::*;
use tickdesk_wire::backoff::Backoff;
use tickdesk_wire::replica::Replica;
use tickdesk_wire::{ClientMsg, ServerMsg, PROTOCOL_VERSION};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use crate::model::TopicView;

/// What the connection indicator shows. Each state is something the user can act on or wait for.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnState {
    /// Opening the socket (first time, or right after a retry timer fired).
    Connecting,
    /// Frames flowing.
    Live,
    /// The relay acknowledged our pause: nothing is sent until resume.
    Paused,
    /// Lost; the next attempt is due at `next_at_ms` (page clock).
    Reconnecting { attempt: u32, next_at_ms: f64 },
    /// The browser says it has no network; we wait for it to come back.
    Offline,
    /// The websocket cannot connect (a proxy may block it): data comes from polling the REST views, slower. The
    /// websocket keeps being retried, and takes over as soon as it works.
    Polling,
}

/// Consecutive websocket attempts that never opened before the app falls back to polling REST.
const POLL_AFTER_FAILED_ATTEMPTS: u32 = 2;
/// How often the REST views are polled in fallback.
const POLL_MS: f64 = 2_000.0;

/// Signals the views read. `Copy`: hand it to any component.
#[derive(Debug, Clone, Copy)]
pub struct FeedSignals {
    pub state: RwSignal<ConnState>,
    /// No frame for more than two heartbeats while connected.
    pub stale: RwSignal<bool>,
    /// Page-clock time of the last frame received.
    pub last_frame_ms: RwSignal<f64>,
    /// A clock ticking twice a second, for "x s ago" and countdowns.
    pub now_ms: RwSignal<f64>,
    /// Messages for the error log, newest last, bounded.
    pub log: RwSignal<Vec<(f64, String)>>,
    /// Whether the user wants the stream paused (the indicator shows paused only once the relay agrees).
    pub want_paused: RwSignal<bool>,
    /// Page-clock time of each topic's last change, refreshed by the clock (for panel staleness).
    pub topic_updated: RwSignal<BTreeMap<String, f64>>,
}

const LOG_LINES: usize = 50;

impl FeedSignals {
    fn new() -> Self {
        FeedSignals {
            state: RwSignal::new(ConnState::Connecting),
            stale: RwSignal::new(false),
            last_frame_ms: RwSignal::new(0.0),
            now_ms: RwSignal::new(now_ms()),
            log: RwSignal::new(Vec::new()),
            want_paused: RwSignal::new(false),
            topic_updated: RwSignal::new(BTreeMap::new()),
        }
    }

    pub fn log(&self, msg: impl Into<String>) {
        let msg = msg.into();
        web_sys::console::warn_1(&msg.clone().into());
        self.log.update(|l| {
            l.push((now_ms(), msg));
            if l.len() > LOG_LINES {
                l.remove(0);
            }
        });
    }
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

struct Inner {
    url: String,
    topics: Vec<String>,
    views: BTreeMap<String, TopicView>,
    ws: Option<WebSocket>,
    replica: Replica,
    backoff: Backoff,
    heartbeat_ms: f64,
    last_frame: f64,
    /// Items changed since the last animation frame, and topics replaced by a snapshot.
    dirty: BTreeSet<(String, String)>,
    reset: BTreeSet<String>,
    frame_scheduled: bool,
    retry_timer: Option<i32>,
    /// Websocket attempts in a row that never opened; at [`POLL_AFTER_FAILED_ATTEMPTS`] the app polls REST.
    failed_opens: u32,
    opened: bool,
    polling: bool,
    topic_updated: BTreeMap<String, f64>,
    /// The benchmark's measurements, with `?perf` only.
    perf: Option<crate::perf::Perf>,
    /// Keeps the current socket's handlers alive; replaced on each connect.
    handlers: Vec<Closure<dyn FnMut(web_sys::Event)>>,
}

/// The feed: a cheap handle to the shared connection state.
#[derive(Clone)]
pub struct Feed {
    inner: Rc<RefCell<Inner>>,
    pub signals: FeedSignals,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("url", &self.inner.borrow().url)
            .field("signals", &self.signals)
            .finish()
    }
}

impl Feed {
    /// Starts connecting to `url` (a `ws://` or `wss://` URL) for `topics`, writing into `views`.
    pub fn start(url: String, views: BTreeMap<String, TopicView>) -> Feed {
        let topics = views.keys().cloned().collect();
        let feed = Feed {
            inner: Rc::new(RefCell::new(Inner {
                url,
                topics,
                views,
                ws: None,
                replica: Replica::new(),
                backoff: Backoff::default(),
                heartbeat_ms: 20_000.0,
                last_frame: now_ms(),
                dirty: BTreeSet::new(),
                reset: BTreeSet::new(),
                frame_scheduled: false,
                retry_timer: None,
                failed_opens: 0,
                opened: false,
                polling: false,
                topic_updated: BTreeMap::new(),
                perf: crate::perf::Perf::from_page(),
                handlers: Vec::new(),
            })),
            signals: FeedSignals::new(),
        };
        feed.watch_network();
        feed.start_clock();
        feed.connect();
        feed
    }

    /// Starts watching `topic` (an on-demand one such as `chain:SPY:2026-11-27`): subscribes now if connected, and
    /// on every (re)connect from then on. Returns the topic's view; watching a watched topic returns the same view.
    pub fn watch(&self, topic: &str) -> TopicView {
        let view = {
            let mut inner = self.inner.borrow_mut();
            if let Some(v) = inner.views.get(topic) {
                return v.clone();
            }
            let v = TopicView::default();
            inner.views.insert(topic.to_string(), v.clone());
            inner.topics.push(topic.to_string());
            v
        };
        self.send(&ClientMsg::Subscribe {
            topics: vec![topic.to_string()],
            max_rate: None,
        });
        view
    }

    /// Stops watching `topic`: unsubscribes and forgets its data, so a later watch starts from a fresh snapshot.
    /// Frames for it still in flight are dropped on arrival.
    pub fn unwatch(&self, topic: &str) {
        {
            let mut inner = self.inner.borrow_mut();
            if inner.views.remove(topic).is_none() {
                return;
            }
            inner.topics.retain(|t| t != topic);
            inner.replica.forget(topic);
            inner.topic_updated.remove(topic);
            inner.dirty.retain(|(t, _)| t != topic);
            inner.reset.remove(topic);
        }
        self.send(&ClientMsg::Unsubscribe {
            topics: vec![topic.to_string()],
        });
    }

    /// Toggles pause: asks the relay to stop (or resume) sending.
    pub fn toggle_pause(&self) {
        let want = !self.signals.want_paused.get_untracked();
        self.signals.want_paused.set(want);
        self.send(if want {
            &ClientMsg::Pause
        } else {
            &ClientMsg::Resume
        });
    }

    fn send(&self, msg: &ClientMsg) {
        let inner = self.inner.borrow();
        if let (Some(ws), Ok(text)) = (&inner.ws, serde_json::to_string(msg)) {
            if ws.ready_state() == WebSocket::OPEN {
                let _ = ws.send_with_str(&text);
            }
        }
    }

    fn connect(&self) {
        self.detach_socket();
        let url = self.inner.borrow().url.clone();
        if !self.inner.borrow().polling {
            self.signals.state.set(ConnState::Connecting);
        }
        let ws = match WebSocket::new(&url) {
            Ok(ws) => ws,
            Err(e) => {
                self.signals
                    .log(format!("cannot open a websocket to {url}: {e:?}"));
                self.schedule_retry();
                return;
            }
        };
        let mut handlers: Vec<Closure<dyn FnMut(web_sys::Event)>> = Vec::new();
        let this = self.clone();
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| this.on_open());
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        handlers.push(on_open);
        let this = self.clone();
        let on_message = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
            if let Some(text) = ev
                .dyn_ref::<MessageEvent>()
                .and_then(|m| m.data().as_string())
            {
                this.on_text(&text);
            }
        });
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        handlers.push(on_message);
        let this = self.clone();
        let on_close = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
            let (code, reason) = ev
                .dyn_ref::<CloseEvent>()
                .map(|c| (c.code(), c.reason()))
                .unwrap_or((0, String::new()));
            this.on_close(code, reason);
        });
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        handlers.push(on_close);
        let mut inner = self.inner.borrow_mut();
        inner.ws = Some(ws);
        inner.opened = false;
        inner.handlers = handlers;
    }

    /// Forgets the current socket without letting its close event schedule a retry.
    fn detach_socket(&self) {
        let old = self.inner.borrow_mut().ws.take();
        if let Some(ws) = old {
            ws.set_onopen(None);
            ws.set_onmessage(None);
            ws.set_onclose(None);
            let _ = ws.close();
        }
    }

    fn on_open(&self) {
        let (resume, topics) = {
            let mut inner = self.inner.borrow_mut();
            inner.opened = true;
            inner.failed_opens = 0;
            (inner.replica.resume_points(), inner.topics.clone())
        };
        self.send(&ClientMsg::Hello {
            v: PROTOCOL_VERSION,
            resume,
        });
        self.send(&ClientMsg::Subscribe {
            topics,
            max_rate: None,
        });
        if self.signals.want_paused.get_untracked() {
            self.send(&ClientMsg::Pause);
        }
    }

    fn on_close(&self, code: u16, reason: String) {
        let start_polling = {
            let mut inner = self.inner.borrow_mut();
            inner.ws = None;
            if !inner.opened {
                inner.failed_opens += 1;
            }
            let start = inner.failed_opens >= POLL_AFTER_FAILED_ATTEMPTS && !inner.polling;
            inner.polling |= start;
            start
        };
        if start_polling {
            self.signals
                .log("the websocket cannot connect: polling the relay's REST views instead");
            self.poll_loop();
        }
        let was_live = matches!(
            self.signals.state.get_untracked(),
            ConnState::Live | ConnState::Paused
        );
        if was_live || code != 1006 {
            let why = if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            };
            self.signals
                .log(format!("connection to the relay closed (code {code}{why})"));
        }
        if self.signals.state.get_untracked() != ConnState::Offline {
            self.schedule_retry();
        }
    }

    fn schedule_retry(&self) {
        let (delay, attempt) = {
            let mut inner = self.inner.borrow_mut();
            let d = inner.backoff.next_delay_ms(js_sys::Math::random());
            (d, inner.backoff.attempt())
        };
        // While polling works, the indicator keeps saying so; the websocket is retried quietly behind it.
        if !self.inner.borrow().polling {
            self.signals.stale.set(false);
            self.signals.state.set(ConnState::Reconnecting {
                attempt,
                next_at_ms: now_ms() + delay,
            });
        }
        let this = self.clone();
        let cb = Closure::once_into_js(move || {
            this.inner.borrow_mut().retry_timer = None;
            this.connect();
        });
        let window = web_sys::window().expect("a window");
        if let Some(t) = self.inner.borrow_mut().retry_timer.take() {
            window.clear_timeout_with_handle(t);
        }
        let handle = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), delay as i32)
            .ok();
        self.inner.borrow_mut().retry_timer = handle;
    }

    fn on_text(&self, text: &str) {
        let t = now_ms();
        self.inner.borrow_mut().last_frame = t;
        if self.signals.stale.get_untracked() {
            self.signals.stale.set(false);
        }
        let msg: ServerMsg = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                self.signals
                    .log(format!("ignored a frame the app does not understand: {e}"));
                return;
            }
        };
        match &msg {
            ServerMsg::Welcome { heartbeat_ms, .. } => {
                let mut inner = self.inner.borrow_mut();
                inner.heartbeat_ms = *heartbeat_ms as f64;
                inner.backoff.reset();
                if std::mem::take(&mut inner.polling) {
                    drop(inner);
                    self.signals
                        .log("the websocket works again: live streaming resumed");
                } else {
                    drop(inner);
                }
                if !self.signals.want_paused.get_untracked() {
                    self.signals.state.set(ConnState::Live);
                }
            }
            ServerMsg::Paused => self.signals.state.set(ConnState::Paused),
            ServerMsg::Resumed => self.signals.state.set(ConnState::Live),
            ServerMsg::Error {
                code,
                message,
                fatal,
            } => {
                self.signals.log(format!(
                    "relay: {message} ({code:?}{})",
                    if *fatal { ", closing" } else { "" }
                ));
            }
            ServerMsg::Snapshot { .. } | ServerMsg::Deltas { .. } => self.apply(&msg),
            ServerMsg::Heartbeat { .. } | ServerMsg::Pong { .. } => {}
        }
    }

    fn apply(&self, msg: &ServerMsg) {
        let result = {
            let mut inner = self.inner.borrow_mut();
            let Some(filtered) = only_watched(msg, &inner.views) else {
                return;
            };
            let msg = filtered.as_ref().unwrap_or(msg);
            if let (Some(perf), ServerMsg::Deltas { updates }) = (inner.perf.as_mut(), msg) {
                perf.received(
                    updates
                        .iter()
                        .filter(|d| d.topic.starts_with("chain:"))
                        .flat_map(|d| d.set.values())
                        .map(|f| f.len())
                        .sum(),
                );
            }
            let result = inner.replica.apply(msg);
            let changes = match &result {
                Ok(c) => Some(c.clone()),
                Err(_) => None,
            };
            if let Some(c) = changes {
                let t = now_ms();
                for (topic, _) in c.set.iter().chain(c.del.iter()) {
                    inner.topic_updated.insert(topic.clone(), t);
                }
                inner.dirty.extend(c.set.into_iter().chain(c.del));
                inner.reset.extend(c.reset);
            }
            result
        };
        if let Err(gap) = result {
            // Never show a picture with a hole in it: drop the topic and ask for a fresh snapshot.
            self.signals
                .log(format!("{gap}; asking the relay for a fresh snapshot"));
            self.inner.borrow_mut().replica.forget(&gap.topic);
            self.send(&ClientMsg::Unsubscribe {
                topics: vec![gap.topic.clone()],
            });
            self.send(&ClientMsg::Subscribe {
                topics: vec![gap.topic],
                max_rate: None,
            });
        }
        self.schedule_frame();
    }

    /// Coalesces all frames of one animation frame into one write to the view model.
    fn schedule_frame(&self) {
        if std::mem::replace(&mut self.inner.borrow_mut().frame_scheduled, true) {
            return;
        }
        let this = self.clone();
        let cb = Closure::once_into_js(move || this.flush_to_views());
        if let Some(w) = web_sys::window() {
            let _ = w.request_animation_frame(cb.unchecked_ref());
        }
    }

    fn flush_to_views(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.frame_scheduled = false;
        let dirty = std::mem::take(&mut inner.dirty);
        let reset = std::mem::take(&mut inner.reset);
        for topic in &reset {
            if let (Some(view), Some(t)) = (inner.views.get(topic), inner.replica.topic(topic)) {
                view.set_keys(t.items.keys().cloned().collect());
            }
        }
        let mut shown_ts = Vec::new();
        let now = now_ms();
        for (topic, item) in dirty {
            let (Some(view), Some(t)) = (inner.views.get(&topic), inner.replica.topic(&topic))
            else {
                continue;
            };
            match t.items.get(&item) {
                Some(fields) => {
                    view.write_item(&item, fields, !reset.contains(&topic), now);
                    if inner.perf.is_some() && topic.starts_with("chain:") {
                        shown_ts.extend(fields.get("ts").and_then(serde_json::Value::as_f64));
                    }
                }
                None => {
                    view.set_keys(t.items.keys().cloned().collect());
                    view.remove_item(&item);
                }
            }
            // Keys are the replica's map order (sorted), so a binary search finds a new row in O(log n).
            if !view.keys.with_untracked(|k| k.binary_search(&item).is_ok())
                && t.items.contains_key(&item)
            {
                view.set_keys(t.items.keys().cloned().collect());
            }
        }
        if let Some(perf) = &inner.perf {
            perf.written(shown_ts);
        }
    }

    /// Twice a second: the clock for countdowns, and stale detection (no frame for more than two heartbeats).
    fn start_clock(&self) {
        let this = self.clone();
        let tick = Closure::<dyn FnMut()>::new(move || {
            let t = now_ms();
            this.signals.now_ms.set(t);
            let (last, hb, updated) = {
                let inner = this.inner.borrow();
                (
                    inner.last_frame,
                    inner.heartbeat_ms,
                    inner.topic_updated.clone(),
                )
            };
            this.signals.last_frame_ms.set(last);
            if this.signals.topic_updated.with_untracked(|m| *m != updated) {
                this.signals.topic_updated.set(updated);
            }
            let state = this.signals.state.get_untracked();
            let connected = matches!(state, ConnState::Live | ConnState::Paused);
            // Polling answers come every POLL_MS, not every heartbeat.
            let limit = if state == ConnState::Polling {
                3.0 * POLL_MS
            } else {
                2.0 * hb
            };
            let stale = (connected || state == ConnState::Polling) && t - last > limit;
            if stale != this.signals.stale.get_untracked() {
                this.signals.stale.set(stale);
                if stale {
                    this.signals.log(format!(
                        "no data from the relay for {:.0} s: the picture may be stale",
                        (t - last) / 1000.0
                    ));
                }
            }
            // Keeps the relay's idle timer satisfied and proves the link in both directions.
            if connected && t - last > hb / 2.0 {
                this.send(&ClientMsg::Ping { t });
            }
        });
        if let Some(w) = web_sys::window() {
            let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
                tick.as_ref().unchecked_ref(),
                500,
            );
        }
        tick.forget(); // Lives as long as the page.
    }

    /// Reacts to the browser's online/offline events at once, instead of waiting for a timer.
    fn watch_network(&self) {
        let Some(w) = web_sys::window() else { return };
        let this = self.clone();
        let offline = Closure::<dyn FnMut()>::new(move || {
            this.signals.log("the browser reports no network");
            this.signals.state.set(ConnState::Offline);
            this.detach_socket();
            if let Some(t) = this.inner.borrow_mut().retry_timer.take() {
                if let Some(w) = web_sys::window() {
                    w.clear_timeout_with_handle(t);
                }
            }
        });
        let this = self.clone();
        let online = Closure::<dyn FnMut()>::new(move || {
            this.signals.log("network is back; reconnecting");
            this.inner.borrow_mut().backoff.reset();
            this.connect();
        });
        let _ = w.add_event_listener_with_callback("offline", offline.as_ref().unchecked_ref());
        let _ = w.add_event_listener_with_callback("online", online.as_ref().unchecked_ref());
        offline.forget();
        online.forget();
    }
}

impl Feed {
    /// Polls `/api/snapshot` every [`POLL_MS`] while the websocket cannot connect. Each answer is applied as
    /// snapshots (only topics whose (epoch, seq) moved), so the replica stays consistent and the websocket can resume
    /// from it when it comes back.
    fn poll_loop(&self) {
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            while this.inner.borrow().polling {
                match this.poll_once().await {
                    Ok(()) => {
                        this.inner.borrow_mut().last_frame = now_ms();
                        if this.inner.borrow().polling {
                            this.signals.state.set(ConnState::Polling);
                        }
                    }
                    Err(e) => {
                        if this.signals.state.get_untracked() == ConnState::Polling {
                            this.signals.log(format!("polling the relay failed: {e}"));
                            let attempt = this.inner.borrow().backoff.attempt();
                            this.signals.state.set(ConnState::Reconnecting {
                                attempt,
                                next_at_ms: now_ms() + POLL_MS,
                            });
                        }
                    }
                }
                sleep_ms(POLL_MS).await;
            }
        });
    }

    async fn poll_once(&self) -> Result<(), String> {
        let (url, topics) = {
            let inner = self.inner.borrow();
            (
                format!(
                    "{}/api/snapshot?topics={}",
                    http_base(&inner.url),
                    inner.topics.join(",")
                ),
                inner.topics.clone(),
            )
        };
        let window = web_sys::window().ok_or("no window")?;
        let resp = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(&url))
            .await
            .map_err(|e| format!("{e:?}"))?;
        let resp: web_sys::Response = resp.dyn_into().map_err(|_| "not a response")?;
        if !resp.ok() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let text = wasm_bindgen_futures::JsFuture::from(resp.text().map_err(|e| format!("{e:?}"))?)
            .await
            .map_err(|e| format!("{e:?}"))?
            .as_string()
            .ok_or("no body")?;
        let all: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        for topic in topics {
            let Some(t) = all.get(&topic) else { continue };
            let epoch = t["epoch"].as_str().unwrap_or_default().to_string();
            let seq = t["seq"].as_u64().unwrap_or(0);
            let same = self
                .inner
                .borrow()
                .replica
                .topic(&topic)
                .is_some_and(|r| r.epoch == epoch && r.seq == seq);
            if same {
                continue;
            }
            let items = serde_json::from_value(t["items"].clone()).map_err(|e| e.to_string())?;
            self.apply_polled(ServerMsg::Snapshot {
                topic,
                epoch,
                seq,
                recovered: false,
                items,
                deltas: vec![],
            });
        }
        Ok(())
    }

    /// A polled snapshot: applied like a streamed one, but cells still flash (values moved since the last poll).
    fn apply_polled(&self, msg: ServerMsg) {
        self.apply(&msg);
        if let ServerMsg::Snapshot { topic, .. } = &msg {
            self.inner.borrow_mut().reset.remove(topic);
        }
    }
}

/// `msg` without the data of topics no longer watched (an unwatch races frames already on the wire): `None` when
/// nothing is left, `Some(None)` when `msg` is fine as it is, `Some(Some(m))` for a trimmed copy.
fn only_watched(msg: &ServerMsg, views: &BTreeMap<String, TopicView>) -> Option<Option<ServerMsg>> {
    match msg {
        ServerMsg::Snapshot { topic, .. } if !views.contains_key(topic) => None,
        ServerMsg::Deltas { updates } if updates.iter().any(|d| !views.contains_key(&d.topic)) => {
            let updates: Vec<_> = updates
                .iter()
                .filter(|d| views.contains_key(&d.topic))
                .cloned()
                .collect();
            (!updates.is_empty()).then_some(Some(ServerMsg::Deltas { updates }))
        }
        _ => Some(None),
    }
}

/// `ws://host:port/ws` → `http://host:port`.
fn http_base(ws_url: &str) -> String {
    let base = ws_url.trim_end_matches("/ws");
    if let Some(rest) = base.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = base.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        base.to_string()
    }
}

/// Resolves after `ms` milliseconds (a `setTimeout` promise).
async fn sleep_ms(ms: f64) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms as i32);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// The relay's websocket URL: `?relay=` on the page URL, else `relay` in `tickdesk.json` beside `index.html`
/// (so a deployer can point static hosting at a relay without rebuilding), else the page's own host.
pub async fn relay_url() -> String {
    let location = web_sys::window().expect("a window").location();
    let from_query = location.search().ok().and_then(|q| {
        web_sys::UrlSearchParams::new_with_str(&q)
            .ok()
            .and_then(|p| p.get("relay"))
    });
    let configured = match from_query {
        Some(r) => Some(r),
        None => config_file_relay().await,
    };
    let base = configured.unwrap_or_else(|| {
        let proto = if location.protocol().ok().as_deref() == Some("https:") {
            "wss:"
        } else {
            "ws:"
        };
        format!("{proto}//{}", location.host().unwrap_or_default())
    });
    to_ws_url(&base)
}

/// Accepts `ws(s)://host[:port][/ws]` or `http(s)://host[:port]`; returns the `/ws` endpoint.
pub fn to_ws_url(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    let base = if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if base.starts_with("ws://") || base.starts_with("wss://") {
        base.to_string()
    } else {
        format!("ws://{base}")
    };
    if base.ends_with("/ws") {
        base
    } else {
        format!("{base}/ws")
    }
}

async fn config_file_relay() -> Option<String> {
    let window = web_sys::window()?;
    let resp = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str("tickdesk.json"))
        .await
        .ok()?;
    let resp: web_sys::Response = resp.dyn_into().ok()?;
    if !resp.ok() {
        return None;
    }
    let text = wasm_bindgen_futures::JsFuture::from(resp.text().ok()?)
        .await
        .ok()?
        .as_string()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("relay")?.as_str().map(String::from)
}
