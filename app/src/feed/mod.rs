//! The feed: the desk's one websocket to the relay, and everything that keeps its picture honest — resume from the
//! seqs held, reconnect with full-jitter backoff, the browser's online/offline events, pause/resume acknowledged by
//! the relay, stale detection, and the REST fallback when the websocket cannot connect.
//!
//! This module is the wiring behind the [`Feed`] handle the components use; each seam is its own module:
//! - [`transport`]: the socket, as opened / text / closed events and a synchronous send;
//! - [`sink`]: changes written into the view model once per animation frame;
//! - [`poll`]: the REST fallback and when to use it;
//! - [`signals`]: what the views read ([`ConnState`], [`FeedSignals`]).
//!
//! Protocol state lives in plain Rust shared with native code ([`tickdesk_wire::replica`] for snapshots, deltas,
//! gaps and resume points; [`tickdesk_wire::backoff`] for the reconnect schedule).

mod poll;
mod raw;
mod signals;
mod sink;
mod transport;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use gloo_timers::callback::{Interval, Timeout};
use leptos::prelude::*;
use tickdesk_wire::backoff::Backoff;
use tickdesk_wire::replica::Replica;
use tickdesk_wire::{ClientMsg, ServerMsg, PROTOCOL_VERSION};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

pub use raw::{RawFrame, RawSink};
pub use signals::{ConnState, FeedSignals};

use crate::model::TopicView;
use poll::{Fallback, POLL_MS};
use sink::Batch;
use transport::{Event, Link};

fn now_ms() -> f64 {
    js_sys::Date::now()
}

struct Inner {
    url: String,
    /// The relay's access token, when the page was given one (an app on another origin; see `discovery`).
    token: Option<String>,
    topics: Vec<String>,
    views: BTreeMap<String, TopicView>,
    /// Topics read straight from the replica instead of through per-cell signals (see [`Feed::watch_raw`]).
    raw: Vec<(String, RawSink)>,
    /// The current websocket, if any; dropping it closes the socket and silences its events.
    link: Option<Link>,
    /// Counts connection attempts, so an event of a replaced link is recognised and ignored.
    link_id: u64,
    /// The current link has opened (and `hello` went first): frames may be sent.
    opened: bool,
    replica: Replica,
    backoff: Backoff,
    heartbeat_ms: f64,
    last_frame: f64,
    batch: Batch,
    /// The pending reconnect; dropping it cancels it.
    retry: Option<Timeout>,
    fallback: Fallback,
    topic_updated: BTreeMap<String, f64>,
    /// The benchmark's measurements, with `?perf` only.
    perf: Option<crate::perf::Perf>,
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
    /// Starts connecting to `url` (a `ws://` or `wss://` URL) for `topics`, writing into `views`, presenting the
    /// access token the page was given, if any ([`crate::discovery::access_token`]).
    pub fn start(url: String, views: BTreeMap<String, TopicView>) -> Feed {
        let topics = views.keys().cloned().collect();
        let feed = Feed {
            inner: Rc::new(RefCell::new(Inner {
                url,
                token: crate::discovery::access_token(),
                topics,
                views,
                raw: Vec::new(),
                link: None,
                link_id: 0,
                opened: false,
                replica: Replica::new(),
                backoff: Backoff::default(),
                heartbeat_ms: 20_000.0,
                last_frame: now_ms(),
                batch: Batch::default(),
                retry: None,
                fallback: Fallback::default(),
                topic_updated: BTreeMap::new(),
                perf: crate::perf::Perf::from_page(),
            })),
            signals: FeedSignals::new(now_ms()),
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

    /// Starts watching `topic` like [`Feed::watch`], but hands what changed to `sink` once per animation frame
    /// instead of writing per-cell signals: for topics with many items that a view reads as a whole (a chart's 2,000
    /// bars would be 12,000 signals). [`Feed::unwatch`] stops it.
    pub fn watch_raw(&self, topic: &str, sink: RawSink) {
        self.watch(topic);
        let mut inner = self.inner.borrow_mut();
        inner.raw.retain(|(t, _)| t != topic);
        inner.raw.push((topic.to_string(), sink));
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
            inner.raw.retain(|(t, _)| t != topic);
            inner.replica.forget(topic);
            inner.topic_updated.remove(topic);
            inner.batch.forget(topic);
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

    /// Sends on the open websocket; dropped when there is none (what matters is re-sent on the next open).
    fn send(&self, msg: &ClientMsg) {
        let inner = self.inner.borrow();
        if let (Some(link), true, Ok(text)) =
            (&inner.link, inner.opened, serde_json::to_string(msg))
        {
            link.send(&text);
        }
    }

    fn connect(&self) {
        let (url, token, id) = {
            let mut inner = self.inner.borrow_mut();
            inner.link = None; // Closes the old socket: its close must not schedule a retry.
            inner.opened = false;
            inner.link_id += 1;
            (inner.url.clone(), inner.token.clone(), inner.link_id)
        };
        if !self.inner.borrow().fallback.polling() {
            self.signals.state.set(ConnState::Connecting);
        }
        let this = self.clone();
        let on_event = move |ev: Event| {
            if this.inner.borrow().link_id != id {
                return;
            }
            match ev {
                Event::Opened => this.on_open(),
                Event::Text(text) => this.on_text(&text),
                Event::Closed { code, reason } => this.on_close(code, reason),
            }
        };
        match Link::open(&url, token.as_deref(), on_event) {
            Ok(link) => self.inner.borrow_mut().link = Some(link),
            Err(e) => {
                self.signals
                    .log(format!("cannot open a websocket to {url}: {e}"));
                self.schedule_retry();
            }
        }
    }

    fn on_open(&self) {
        let (resume, topics) = {
            let mut inner = self.inner.borrow_mut();
            inner.opened = true;
            inner.fallback.opened();
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
            let opened = std::mem::take(&mut inner.opened);
            inner.link = None;
            inner.fallback.closed(opened)
        };
        if start_polling {
            self.signals
                .log("the websocket cannot connect: polling the relay's REST views instead");
            self.poll_loop();
        }
        let was_live = self.signals.state.get_untracked().connected();
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
        let (delay, attempt, polling) = {
            let mut inner = self.inner.borrow_mut();
            let d = inner.backoff.next_delay_ms(js_sys::Math::random());
            (d, inner.backoff.attempt(), inner.fallback.polling())
        };
        // While polling works, the indicator keeps saying so; the websocket is retried quietly behind it.
        if !polling {
            self.signals.stale.set(false);
            self.signals.state.set(ConnState::Reconnecting {
                attempt,
                next_at_ms: now_ms() + delay,
            });
        }
        let this = self.clone();
        let timer = Timeout::new(delay as u32, move || this.connect());
        self.inner.borrow_mut().retry = Some(timer); // Replaces (cancels) any pending one.
    }

    fn on_text(&self, text: &str) {
        self.inner.borrow_mut().last_frame = now_ms();
        if self.signals.stale.get_untracked() {
            self.signals.stale.set(false);
        }
        // Read by hand through a JSON value, not the derived Deserialize: see `tickdesk_wire::decode`.
        let msg = match ServerMsg::from_json(text) {
            Ok(m) => m,
            Err(e) => {
                self.signals
                    .log(format!("ignored a frame the app does not understand: {e}"));
                return;
            }
        };
        match &msg {
            ServerMsg::Welcome { heartbeat_ms, .. } => {
                let was_polling = {
                    let mut inner = self.inner.borrow_mut();
                    inner.heartbeat_ms = *heartbeat_ms as f64;
                    inner.backoff.reset();
                    inner.fallback.streaming()
                };
                if was_polling {
                    self.signals
                        .log("the websocket works again: live streaming resumed");
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
                ..
            } => {
                self.signals.log(format!(
                    "relay: {message} ({}{})",
                    code.name(),
                    if *fatal { ", closing" } else { "" }
                ));
            }
            ServerMsg::Snapshot { .. } | ServerMsg::Deltas { .. } => self.apply(&msg),
            ServerMsg::Heartbeat { .. } | ServerMsg::Pong { .. } => {}
        }
    }

    /// Applies a snapshot or deltas to the replica and queues what changed for the next animation frame; a gap drops
    /// the topic and asks for a fresh snapshot.
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
            inner.replica.apply(msg).map(|changes| {
                let t = now_ms();
                for (topic, _) in changes.set.iter().chain(changes.del.iter()) {
                    inner.topic_updated.insert(topic.clone(), t);
                }
                inner.batch.record(changes);
            })
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
        if self.inner.borrow_mut().batch.needs_frame() {
            let this = self.clone();
            sink::next_frame(move || this.flush_to_views());
        }
    }

    fn flush_to_views(&self) {
        let mut inner = self.inner.borrow_mut();
        let mut batch = inner.batch.take();
        let raw = raw::take(&mut batch, &inner.raw);
        for (topic, reset, changed) in raw {
            let sink = inner.raw.iter().find(|(t, _)| *t == topic).map(|(_, s)| s);
            if let (Some(sink), Some(t)) = (sink, inner.replica.topic(&topic)) {
                sink(RawFrame {
                    items: &t.items,
                    reset,
                    changed: &changed,
                });
            }
        }
        let shown_ts = sink::write(
            batch,
            &inner.replica,
            &inner.views,
            now_ms(),
            inner.perf.is_some(),
        );
        if let Some(perf) = &inner.perf {
            perf.written(shown_ts);
        }
    }

    /// Twice a second: the clock for countdowns, and stale detection (no data for longer than the state allows).
    fn start_clock(&self) {
        let this = self.clone();
        Interval::new(500, move || this.tick()).forget(); // Lives as long as the page.
    }

    fn tick(&self) {
        let t = now_ms();
        self.signals.now_ms.set(t);
        let (last, hb, updated) = {
            let inner = self.inner.borrow();
            (
                inner.last_frame,
                inner.heartbeat_ms,
                inner.topic_updated.clone(),
            )
        };
        self.signals.last_frame_ms.set(last);
        if self.signals.topic_updated.with_untracked(|m| *m != updated) {
            self.signals.topic_updated.set(updated);
        }
        let state = self.signals.state.get_untracked();
        let stale = state
            .stale_after_ms(hb)
            .is_some_and(|limit| t - last > limit);
        if stale != self.signals.stale.get_untracked() {
            self.signals.stale.set(stale);
            if stale {
                self.signals.log(format!(
                    "no data from the relay for {} s: the picture may be stale",
                    crate::format::fixed((t - last) / 1000.0, 0)
                ));
            }
        }
        // Keeps the relay's idle timer satisfied and proves the link in both directions.
        if state.connected() && t - last > hb / 2.0 {
            self.send(&ClientMsg::Ping { t });
        }
    }

    /// Reacts to the browser's online/offline events at once, instead of waiting for a timer.
    fn watch_network(&self) {
        let Some(w) = web_sys::window() else { return };
        let this = self.clone();
        let offline = Closure::<dyn FnMut()>::new(move || {
            this.signals.log("the browser reports no network");
            this.signals.state.set(ConnState::Offline);
            let mut inner = this.inner.borrow_mut();
            inner.link = None;
            inner.opened = false;
            inner.retry = None;
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

    /// Polls the REST views every [`POLL_MS`] while the websocket cannot connect (see [`poll`]).
    fn poll_loop(&self) {
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            while this.inner.borrow().fallback.polling() {
                match this.poll_once().await {
                    Ok(()) => {
                        let mut inner = this.inner.borrow_mut();
                        inner.last_frame = now_ms();
                        if inner.fallback.polling() {
                            drop(inner);
                            this.signals.state.set(ConnState::Polling);
                        }
                    }
                    // A websocket refused for want of the access token shows only as failed connects, which start
                    // the fallback: its 401 says why. Retrying cannot help, so stop and say so.
                    Err(e) if e == "HTTP 401" => {
                        let mut inner = this.inner.borrow_mut();
                        inner.retry = None;
                        inner.link = None;
                        inner.fallback.streaming();
                        drop(inner);
                        this.signals
                            .log("the relay wants its access token: open the URL it printed");
                        this.signals.state.set(ConnState::Unauthorized);
                    }
                    Err(e) => {
                        if this.signals.state.get_untracked() == ConnState::Polling {
                            this.signals.log(format!("polling the relay failed: {e}"));
                            let attempt = this.inner.borrow().backoff.attempt();
                            this.signals.state.set(ConnState::Reconnecting {
                                attempt,
                                next_at_ms: now_ms() + f64::from(POLL_MS),
                            });
                        }
                    }
                }
                gloo_timers::future::TimeoutFuture::new(POLL_MS).await;
            }
        });
    }

    /// One poll: the fixed topics in one request, the on-demand ones one by one, skipping those the relay lacks
    /// (see [`poll`]).
    async fn poll_once(&self) -> Result<(), String> {
        let (ws_url, topics, token) = {
            let inner = self.inner.borrow();
            (inner.url.clone(), inner.topics.clone(), inner.token.clone())
        };
        let get = |url: String| {
            let token = token.clone();
            async move { crate::http::get_text(&url, token.as_deref()).await }
        };
        let (on_demand, fixed): (Vec<String>, Vec<String>) =
            topics.into_iter().partition(|t| poll::on_demand(t));
        let mut snapshots = Vec::new();
        if !fixed.is_empty() {
            let body = get(poll::snapshot_url(&ws_url, &fixed)).await?;
            snapshots = poll::snapshots(&body, &fixed, &self.inner.borrow().replica)?;
        }
        for topic in on_demand {
            let one = std::slice::from_ref(&topic);
            match get(poll::snapshot_url(&ws_url, one)).await {
                Ok(body) => {
                    snapshots.extend(poll::snapshots(&body, one, &self.inner.borrow().replica)?);
                }
                Err(e) if e == "HTTP 404" => {
                    let Some(u) = topic.strip_prefix("expirations:") else {
                        continue;
                    };
                    // Without a websocket the relay cannot be asked to load it: offer the expiries it holds chains for.
                    if let Ok(body) = get(poll::chain_url(&ws_url, u)).await {
                        let replica = &self.inner.borrow().replica;
                        snapshots.extend(poll::expirations_from_chains(&topic, &body, replica)?);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        for msg in snapshots {
            self.apply(&msg);
            // Values moved since the last poll: let them flash, unlike a streamed snapshot.
            if let ServerMsg::Snapshot { topic, .. } = &msg {
                self.inner.borrow_mut().batch.flash_anyway(topic);
            }
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_of_topics_no_longer_watched_are_trimmed_or_dropped() {
        let views: BTreeMap<String, TopicView> =
            [("curve".to_string(), TopicView::default())].into();
        let deltas = |topics: &[&str]| ServerMsg::Deltas {
            updates: topics
                .iter()
                .map(|t| {
                    serde_json::from_value(json!({"topic": t, "epoch": "e", "prev": 1, "seq": 2}))
                        .unwrap()
                })
                .collect(),
        };
        let snapshot = |topic: &str| ServerMsg::Snapshot {
            topic: topic.into(),
            epoch: "e".into(),
            seq: 1,
            recovered: false,
            items: Default::default(),
            deltas: vec![],
        };
        assert_eq!(only_watched(&snapshot("curve"), &views), Some(None));
        assert_eq!(
            only_watched(&snapshot("chain:SPY:2026-12-04"), &views),
            None
        );
        assert_eq!(only_watched(&deltas(&["curve"]), &views), Some(None));
        assert_eq!(
            only_watched(&deltas(&["chain:SPY:2026-12-04"]), &views),
            None
        );
        assert_eq!(
            only_watched(&deltas(&["chain:SPY:2026-12-04", "curve"]), &views),
            Some(Some(deltas(&["curve"])))
        );
    }
}
