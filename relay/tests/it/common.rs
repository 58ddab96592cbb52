//! The relay's own fixtures (the ones the simulators' tests share are in `tickdesk-testkit`, which may not depend on
//! the relay): a real relay on a loopback port, the test settings, the Schwab client's fast timers, a topic's next
//! error notice, and the log capture.
#![allow(unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tickdesk_market::Clock;

use tickdesk_hub::memory::MemoryBroker;
use tickdesk_relay::state::AppState;
use tickdesk_relay::ServeConfig;
use tickdesk_testkit::{eventually, in_session};
use tokio::sync::{oneshot, watch};

/// A relay running on 127.0.0.1:<any>, stopped when dropped. Holds a shared turn of
/// [`tickdesk_testkit::serial`] while it runs.
pub struct Relay {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _turn: tickdesk_testkit::serial::Shared,
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

impl Relay {
    pub async fn start(cfg: ServeConfig) -> Relay {
        Relay::start_at(cfg, in_session()).await
    }

    /// Starts a relay whose market runs on `clock`.
    pub async fn start_at(cfg: ServeConfig, clock: Clock) -> Relay {
        let turn = tickdesk_testkit::serial::shared().await;
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
            _turn: turn,
        }
    }

    /// The hub alone: the relay's routes over `store`, with no sources (no rates desk, no Schwab) and no sweep.
    /// Topics change only when the test publishes, so what a client gets is exactly what the test caused. Returns
    /// the shared state too, so the test can publish into the store directly (without yielding, when it must make
    /// a session fall behind).
    pub async fn start_hub(cfg: ServeConfig, store: MemoryBroker) -> (Relay, Arc<AppState>) {
        let turn = tickdesk_testkit::serial::shared().await;
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
            _turn: turn,
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
        let mut req = tickdesk_testkit::http()
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

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

// ---- logs ---------------------------------------------------------------------------------------------------

/// The log lines (everything at debug, the relay at trace) a test's own thread writes while the test holds a
/// [`Logs`]. A `#[tokio::test]` (current-thread) runs every task it spawns on that thread, its relay, simulator
/// and clients too, so that is the test's own logging; other tests running beside it (in this one binary, in
/// parallel threads) neither reach its capture nor pay for it. Tests that look at the logs still look for their own
/// unique strings (their port, their token): two tests capturing at once share the buffer.
///
/// One global subscriber rather than one per test (`set_default`): tracing caches per-callsite interest globally,
/// and scoped subscribers on parallel test threads make that cache (and so the capture) unreliable. Its filter
/// asks at every event whether the thread captures (callsite interest "sometimes"), so nothing is formatted for a
/// thread that does not, and what was kept is dropped when the last capture ends: a test that measures the
/// process's memory runs with no capture beside it.
pub struct Logs {
    start: usize,
    /// Bound to the thread it captures (not `Send`).
    _here: std::marker::PhantomData<*const ()>,
}

struct Captured {
    bytes: Vec<u8>,
    holders: usize,
}

static CAPTURED: std::sync::Mutex<Captured> = std::sync::Mutex::new(Captured {
    bytes: Vec::new(),
    holders: 0,
});

thread_local! {
    /// The captures held on this thread.
    static CAPTURES_HERE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn captured() -> std::sync::MutexGuard<'static, Captured> {
    CAPTURED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the global subscriber writes: the capture.
struct CaptureWriter;

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        captured().bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts capturing what this thread logs (the global subscriber is installed on first use), until the returned
/// [`Logs`] is dropped.
pub fn logs() -> Logs {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        use tracing_subscriber::filter::{dynamic_filter_fn, EnvFilter, FilterExt};
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::Layer;
        // Asked at every event (a `filter_fn` is asked once per callsite, and the answer cached).
        let here = dynamic_filter_fn(|_, _| CAPTURES_HERE.with(|n| n.get() > 0));
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(|| CaptureWriter)
            .with_ansi(false)
            // The test's name (its thread's), so a test can tell its own lines from those of another one capturing.
            .with_thread_names(true)
            .with_filter(here.and(EnvFilter::new("debug,tickdesk_relay=trace")));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("one global subscriber");
    });
    CAPTURES_HERE.with(|n| n.set(n.get() + 1));
    let mut c = captured();
    c.holders += 1;
    Logs {
        start: c.bytes.len(),
        _here: std::marker::PhantomData,
    }
}

impl Logs {
    /// What was captured since this capture started.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&captured().bytes[self.start..]).into_owned()
    }

    /// Everything the captures held now have kept (since the first of them started).
    pub fn all(&self) -> String {
        String::from_utf8_lossy(&captured().bytes).into_owned()
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        CAPTURES_HERE.with(|n| n.set(n.get() - 1));
        let mut c = captured();
        c.holders -= 1;
        if c.holders == 0 {
            c.bytes = Vec::new();
        }
    }
}

/// A Schwab source on its own (no relay around it): its broker, its demand, and its task, stopped cleanly.
pub struct SchwabSource {
    pub store: Arc<MemoryBroker>,
    pub demand: Arc<tickdesk_hub::demand::Demand>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SchwabSource {
    pub fn start(opts: tickdesk_schwab::Options) -> SchwabSource {
        let store = Arc::new(MemoryBroker::new(4096, 1 << 16));
        let demand = Arc::new(tickdesk_hub::demand::Demand::default());
        let (stop, rx) = watch::channel(false);
        let task = tickdesk_schwab::spawn_with(store.clone(), demand.clone(), opts, rx);
        SchwabSource {
            store,
            demand,
            stop,
            task: Some(task),
        }
    }

    /// The source's `schwab` item of the `status` topic.
    pub fn status(&self) -> tickdesk_wire::Fields {
        self.store
            .snapshot("status")
            .and_then(|s| s.items.get("schwab").cloned())
            .unwrap_or_default()
    }

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .expect("the client stops within 5 s")
                .unwrap();
        }
    }
}
