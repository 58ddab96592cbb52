//! Test fixtures: a real relay on a loopback port, and a websocket client that keeps a replica.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tickdesk_market::{Clock, Date};

use futures_util::{SinkExt, StreamExt};
use tickdesk_hub::memory::MemoryBroker;
use tickdesk_relay::state::AppState;
use tickdesk_relay::ServeConfig;
use tickdesk_wire::replica::Replica;
use tickdesk_wire::{ClientMsg, ResumePoint, ServerMsg, PROTOCOL_VERSION};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A relay running on 127.0.0.1:<any>, stopped when dropped.
pub struct Relay {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Settings for tests: a fast curve, no static files, a deterministic seed.
pub fn test_config() -> ServeConfig {
    let mut cfg = ServeConfig::defaults();
    cfg.static_dir = "/nonexistent-tickdesk-test".into();
    cfg.rates.tick_ms = 20;
    cfg.seed = Some(42);
    // The hub's tests are about the hub: no Schwab client or simulator (their own tests cover them).
    cfg.no_schwab = true;
    // Nor Binance: tests never reach the internet, and the Binance tests start their own simulator.
    cfg.binance.mode = tickdesk_binance::Mode::Off;
    cfg
}

/// A market clock in a regular session (Wednesday 2 December 2026, 10:15 ET, running), whenever the test runs.
pub fn in_session() -> Clock {
    Clock::starting_at(Date::from_ymd(2026, 12, 2).at_et(10, 15))
}

/// The Schwab client's timers for tests against the simulator: pings every 100 ms, a link silent for 1.2 s is
/// replaced, backoff 30–300 ms, the market checked every 50 ms — so a reconnect or a day roll takes milliseconds.
pub fn fast_schwab_timing() -> tickdesk_schwab::Timing {
    tickdesk_schwab::Timing {
        http_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(3),
        ping_interval: Duration::from_millis(100),
        stale_after: Duration::from_millis(1200),
        backoff_min: Duration::from_millis(30),
        backoff_max: Duration::from_millis(300),
        stable_after: Duration::from_secs(60),
        token_poll: Duration::from_millis(200),
        status_throttle: Duration::from_millis(50),
        market_check: Duration::from_millis(50),
        chain_refresh: Duration::from_millis(500),
        rest_window: Duration::from_secs(60),
        unknown_cooldown: Duration::from_secs(300),
    }
}

/// The next error notice (`code`, `message`) a topic's subscribers get on `rx`, within `secs`; panics naming
/// `what` otherwise. Other events are skipped.
pub async fn next_notice(
    rx: &mut tokio::sync::broadcast::Receiver<Arc<tickdesk_hub::broker::Event>>,
    secs: u64,
    what: &str,
) -> (tickdesk_wire::ErrorCode, String) {
    tokio::time::timeout(Duration::from_secs(secs), async {
        loop {
            if let tickdesk_hub::broker::Event::Notice { code, message, .. } =
                &*rx.recv().await.unwrap()
            {
                return (*code, message.clone());
            }
        }
    })
    .await
    .expect(what)
}

/// Polls `f` every 10 ms until it returns `Some`, or panics after `secs` seconds naming `what`: the tests wait for
/// what they expect to happen, never for a fixed time that assumes a speed.
pub async fn eventually<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = f().await {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl Relay {
    pub async fn start(cfg: ServeConfig) -> Relay {
        Relay::start_at(cfg, in_session()).await
    }

    /// Starts a relay whose market runs on `clock`.
    pub async fn start_at(cfg: ServeConfig, clock: Clock) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            tickdesk_relay::run(listener, cfg, clock, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Relay {
            addr,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// The hub alone: the relay's routes over `store`, with no sources (no rates desk, no Schwab) and no sweep.
    /// Topics change only when the test publishes, so what a client gets is exactly what the test caused. Returns
    /// the shared state too, so the test can publish into the store directly (without yielding, when it must make
    /// a session fall behind).
    pub async fn start_hub(cfg: ServeConfig, store: MemoryBroker) -> (Relay, Arc<AppState>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let (stop_tx, stop_rx) = watch::channel(false);
        let state = Arc::new(AppState::with_broker(
            &cfg,
            in_session(),
            stop_rx,
            Arc::new(store),
        ));
        let app = tickdesk_relay::server::router(state.clone(), &cfg);
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                    let _ = stop_tx.send(true);
                })
                .await
                .unwrap();
        });
        let relay = Relay {
            addr,
            stop: Some(tx),
            task: Some(task),
        };
        (relay, state)
    }

    /// One unlabelled value from `/metrics`.
    pub async fn metric(&self, name: &str) -> u64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .filter(|rest| rest.starts_with(' '))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
    }

    /// The relay's current seq of `topic`, read over REST.
    pub async fn seq(&self, topic: &str) -> u64 {
        let (status, body) = self.get(&format!("/api/snapshot?topics={topic}")).await;
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v[topic]["seq"].as_u64().expect("a seq")
    }

    /// Waits until the relay's `topic` stands at `seq` or past it (its source moved on).
    pub async fn reaches(&self, topic: &str, seq: u64) {
        eventually(&format!("{topic} at seq {seq}"), 10, async || {
            (self.seq(topic).await >= seq).then_some(())
        })
        .await
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Stops the relay and waits for it to finish (sockets closed).
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("relay stops within 10 s")
                .unwrap();
        }
    }

    /// A plain HTTP GET on the relay; returns (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, &[], "").await
    }

    /// A plain HTTP POST of a JSON body with extra headers; returns (status, body).
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        let mut h: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
        h.extend_from_slice(headers);
        self.request("POST", path, &h, body).await
    }

    /// One HTTP request with reqwest (a real client: chunked bodies, keep-alive and errors handled as a browser or
    /// a bot would); returns (status, body as text).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut req = http()
            .request(method, format!("http://{}{path}", self.addr))
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("the relay answers");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("a text body"))
    }
}

/// The tests' HTTP client: loopback only, so no proxy from the environment may stand in between.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A protocol client with a replica, as the app and the load tool have.
pub struct Client {
    pub ws: Ws,
    pub replica: Replica,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        Client {
            ws,
            replica: Replica::new(),
        }
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        self.ws
            .send(Message::Text(serde_json::to_string(msg).unwrap().into()))
            .await
            .unwrap();
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.unwrap();
    }

    pub async fn hello(&mut self, resume: BTreeMap<String, ResumePoint>) {
        self.send(&ClientMsg::Hello {
            v: PROTOCOL_VERSION,
            resume,
        })
        .await;
    }

    pub async fn subscribe(&mut self, topics: &[&str]) {
        self.send(&ClientMsg::Subscribe {
            topics: topics.iter().map(|s| s.to_string()).collect(),
            max_rate: None,
        })
        .await;
    }

    /// The next protocol frame (skipping websocket pings), applied to the replica. Panics on a gap.
    pub async fn next(&mut self) -> Option<ServerMsg> {
        self.next_within(Duration::from_secs(5)).await
    }

    pub async fn next_within(&mut self, d: Duration) -> Option<ServerMsg> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let m = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match m.ok()? {
                Message::Text(t) => {
                    let msg: ServerMsg = serde_json::from_str(t.as_str())
                        .unwrap_or_else(|e| panic!("bad frame {t}: {e}"));
                    self.replica.apply(&msg).unwrap_or_else(|g| panic!("{g}"));
                    return Some(msg);
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Reads frames until `pred` holds for one (within 15 s in all); returns it.
    pub async fn until(&mut self, mut pred: impl FnMut(&ServerMsg) -> bool) -> ServerMsg {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self
                .next_within(left)
                .await
                .expect("the awaited frame within 15 s");
            if pred(&m) {
                return m;
            }
        }
    }

    pub fn seq(&self, topic: &str) -> u64 {
        self.replica.topic(topic).map_or(0, |t| t.seq)
    }
}
