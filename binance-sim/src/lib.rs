//! The built-in Binance simulator: Binance's public spot market data — the websocket streams and the REST
//! routes — on one loopback port, in Binance's own formats (`shared/reference/binance-streams.md`), with the
//! duties Binance asks of a client enforced and the faults its users meet available on demand.
//!
//! # Running it
//! - Embedded: [`start`] (or [`run`]) on a bound listener, e.g. `127.0.0.1:0`; [`SimHandle`] gives the URLs, the
//!   counters and the faults.
//! - Standalone: `tickdesk-binance-sim` (or `tickdesk-relay binance-simulator`) `--listen 127.0.0.1:8901 [--seed N]
//!   [--tick-ms MS] [--ping-ms MS] [--pong-timeout-ms MS] [--max-connection-age-s S]` (`--help` lists them).
//! - Point a client at `ws://ADDR` instead of `wss://stream.binance.com:9443` and `http://ADDR` instead of
//!   `https://api.binance.com`.
//!
//! # Streams
//! - `GET /stream?streams=btcusdt@aggTrade/btcusdt@bookTicker/…`: combined streams, each message wrapped as
//!   `{"stream":"<name>","data":{…}}`. `GET /ws` and `GET /ws/<stream>`: raw streams, the payload alone.
//! - Stream kinds: `aggTrade`, `trade`, `bookTicker`, `ticker` (`24hrTicker`), `miniTicker` (`24hrMiniTicker`),
//!   `kline_1m`; payloads exactly as Binance's (decimal strings, `E` in wall-clock ms). Trades and the book move
//!   every tick (`tick_ms`, 250 ms by default); tickers and klines are pushed every `ticker_every` (1 s). A
//!   well-formed stream of a symbol the simulator does not list is accepted and sends nothing, as on Binance.
//! - JSON requests on an open connection: `{"method":"SUBSCRIBE","params":[…],"id":1}` → `{"result":null,"id":1}`;
//!   `UNSUBSCRIBE` likewise; `LIST_SUBSCRIPTIONS` → `{"result":[…],"id":n}`. A malformed request (bad JSON, unknown
//!   method, a stream name of the wrong shape) → `{"error":{"code":2,"msg":"Invalid request: …"},"id":…}`.
//! - **5 incoming messages per second** per connection (text, pings and pongs all count): the sixth within a
//!   second closes the connection (close code 1008), as Binance does.
//! - **Pings**: every `ping_interval` (Binance: 20 s) a ping whose payload is the send time in ms; a pong with the
//!   same payload must come within `pong_timeout` (Binance: about a minute), or the connection is closed.
//! - **24 hours**: a connection older than `max_connection_age` is closed by the server (close code 1001).
//!
//! # REST
//! | route | behaviour |
//! |---|---|
//! | `GET /api/v3/ping` | `{}` |
//! | `GET /api/v3/time` | `{"serverTime":ms}` |
//! | `GET /api/v3/exchangeInfo[?symbol=S \| ?symbols=["A","B"]]` | `{"timezone":"UTC","serverTime":…,"rateLimits":[…],"symbols":[{"symbol","status":"TRADING","baseAsset","quoteAsset",…}]}`; any unknown symbol → 400 `{"code":-1121,"msg":"Invalid symbol."}` |
//! | `GET /api/v3/klines?symbol=S&interval=1m[&limit=N][&startTime=][&endTime=]` | arrays `[open ms, o, h, l, c, volume, close ms, quote vol, trades, taker base, taker quote, "0"]`, oldest first, `limit` 500 by default, at most 1000; other intervals → 400 `-1120 Invalid interval.` |
//! | `GET /api/v3/ticker/bookTicker`, `/api/v3/ticker/24hr`, `/api/v3/ticker/price` (`symbol=` → an object, `symbols=[…]` or nothing → an array) | Binance's objects |
//!
//! # Faults and state (for tests and scripts)
//! | route | [`SimHandle`] | effect |
//! |---|---|---|
//! | `POST /sim/faults/drop` | [`SimHandle::drop_connections`] | every stream socket is dropped without a close frame |
//! | `POST /sim/faults/stall` | [`SimHandle::stall`] | every open stream socket goes silent for good: no data, no pings, the socket stays open |
//! | `POST /sim/faults/refuse-ws?status=403` (`&off=true` to allow again) | [`SimHandle::refuse_websockets`] | websocket upgrades are answered with that status (a proxy refusing them); REST still works |
//! | `POST /sim/faults/restricted` (`?off=true` to lift) | [`SimHandle::restrict`] | every route, REST and websocket, answers 451 with Binance's "restricted location" body |
//! | `POST /sim/faults/throttle?seconds=N` (`&off=true` to lift) | [`SimHandle::throttle`] | every REST route answers 429 with `Retry-After: N` and Binance's `-1003` body |
//! | — | [`SimHandle::slow_rest`] | every REST answer is held back by a delay (a slow API); streams unaffected |
//! | `POST /sim/faults/server-shutdown` | [`SimHandle::server_shutdown`] | every stream socket gets `{"e":"serverShutdown","E":ms}`, then is closed `shutdown_grace` later |
//! | `POST /sim/faults/burst?rate=1000&seconds=N` | [`SimHandle::burst`] | for N seconds every symbol trades `rate` times a second |
//! | `POST /sim/faults/quiet?symbol=SOLUSDT` (`&off=true` to resume) | [`SimHandle::quiet`] | that symbol stops trading and quoting (nothing of it is sent); the others go on |
//! | `GET /sim/state` | [`SimHandle::state`] | counters ([`SimState`]) |
//!
//! Fault routes answer `{"ok":true,"affected":N}` (N = sockets affected).

pub mod cli;
pub mod market;
mod rest;
mod stream;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::info;

use market::Market;

/// Binance's answer from a restricted location (HTTP 451).
pub const RESTRICTED_BODY: &str = "{\"code\":0,\"msg\":\"Service unavailable from a restricted location according to 'b. Eligibility' in https://www.binance.com/en/terms. Please contact customer service if you believe you received this message in error.\"}";

/// How the simulator behaves. `Default` is Binance's own numbers where they are known.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Seed for the market; `None` picks one at random.
    pub seed: Option<u64>,
    /// The symbols listed, with their starting prices.
    pub symbols: Vec<(String, f64)>,
    /// Market step period: every step trades and moves the book (250 ms).
    pub tick_ms: u64,
    /// How often tickers and klines are pushed (Binance: 1 s for tickers, about 2 s for klines).
    pub ticker_every: Duration,
    /// Server ping period (Binance: 20 s).
    pub ping_interval: Duration,
    /// A ping not answered by a pong with its payload within this closes the connection (Binance: about 1 min).
    pub pong_timeout: Duration,
    /// Connections are closed at this age (Binance: 24 h).
    pub max_connection_age: Duration,
    /// After a `serverShutdown` event, the connection is closed this much later.
    pub shutdown_grace: Duration,
    /// Incoming messages per second per connection before it is closed (Binance: 5).
    pub max_incoming_per_sec: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: None,
            symbols: market::DEFAULT_SYMBOLS
                .iter()
                .map(|(s, p)| ((*s).to_string(), *p))
                .collect(),
            tick_ms: 250,
            ticker_every: Duration::from_secs(1),
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(60),
            max_connection_age: Duration::from_secs(24 * 3600),
            shutdown_grace: Duration::from_secs(10),
            max_incoming_per_sec: 5,
        }
    }
}

/// Messages from the handle (faults) to one stream session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Drop,
    Stall,
    ServerShutdown,
}

#[derive(Debug, Default)]
struct Counters {
    ws_attempts: AtomicU64,
    ws_refused: AtomicU64,
    restricted_answers: AtomicU64,
    throttled_answers: AtomicU64,
    rest_delayed: AtomicU64,
    connections_total: AtomicU64,
    requests: AtomicU64,
    messages_sent: AtomicU64,
    pongs_ok: AtomicU64,
    pongs_unmatched: AtomicU64,
    ping_timeouts: AtomicU64,
    rate_limit_closes: AtomicU64,
    age_closes: AtomicU64,
    shutdown_closes: AtomicU64,
    client_closes: AtomicU64,
    max_incoming_per_sec: AtomicUsize,
    /// Times the count of open connections fell to zero after the first one opened.
    no_connection_moments: AtomicU64,
}

/// One market step as the sessions receive it: `(stream name, data JSON)` pairs.
type Tick = Arc<Vec<(String, String)>>;

/// Everything the routes and sessions share.
#[derive(Debug)]
struct Shared {
    opts: SimOptions,
    base_url: String,
    ws_url: String,
    seed: u64,
    market: RwLock<Market>,
    ticks: broadcast::Sender<Tick>,
    conns: Mutex<HashMap<u64, mpsc::UnboundedSender<Control>>>,
    next_conn: AtomicU64,
    counters: Counters,
    /// Websocket upgrades answered with this status (0: allowed).
    refuse_ws: AtomicU16,
    restricted: AtomicBool,
    /// REST answers 429 with this `Retry-After` (seconds; 0: not throttled).
    throttle_secs: AtomicU64,
    /// Every REST answer is held back this many ms (0: at once).
    rest_delay_ms: AtomicU64,
    /// Trades per second per symbol until `burst_until`.
    burst: Mutex<Option<(u64, Instant)>>,
    /// REST calls per route path.
    rest_calls: Mutex<BTreeMap<String, u64>>,
    /// Turns true when the simulator stops: sessions close.
    stop: watch::Receiver<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Binance's event times are wall-clock ms.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Shared {
    fn market(&self) -> std::sync::RwLockReadGuard<'_, Market> {
        self.market.read().unwrap_or_else(|e| e.into_inner())
    }

    fn broadcast(&self, ctl: Control) -> usize {
        lock(&self.conns)
            .values()
            .filter(|tx| tx.send(ctl).is_ok())
            .count()
    }
}

/// A cloneable handle on a running simulator: its addresses, counters and faults.
#[derive(Debug, Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
}

/// A snapshot of the simulator's counters (`GET /sim/state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimState {
    pub base_url: String,
    pub ws_url: String,
    pub seed: u64,
    /// Websocket upgrade requests, refused ones included.
    pub ws_attempts: u64,
    /// Upgrades refused by the refuse-ws fault.
    pub ws_refused: u64,
    /// Requests (REST and websocket) answered 451.
    pub restricted_answers: u64,
    /// REST requests answered 429 by the throttle fault.
    pub throttled_answers: u64,
    /// REST requests held back by the slow-REST fault (counted as they arrive).
    pub rest_delayed: u64,
    /// Stream connections accepted since start, and open now.
    pub connections_total: u64,
    pub connections_open: u64,
    /// JSON requests received on stream connections.
    pub requests: u64,
    /// Stream messages sent.
    pub messages_sent: u64,
    /// Pongs that carried the payload of the outstanding ping, and pongs that did not.
    pub pongs_ok: u64,
    pub pongs_unmatched: u64,
    /// Connections closed because a ping went unanswered, because the client sent more than the limit in a
    /// second, because they reached the maximum age, after a `serverShutdown` event, and by the client.
    pub ping_timeouts: u64,
    pub rate_limit_closes: u64,
    pub age_closes: u64,
    pub shutdown_closes: u64,
    pub client_closes: u64,
    /// The most messages any connection sent within one second.
    pub max_incoming_per_sec: usize,
    /// Times the number of open stream connections fell to zero after the first one opened.
    pub no_connection_moments: u64,
    /// REST calls per route path.
    pub rest_calls: BTreeMap<String, u64>,
    /// Last price and last aggregate trade id per symbol.
    pub prices: BTreeMap<String, f64>,
    pub last_agg_ids: BTreeMap<String, u64>,
}

impl SimHandle {
    /// `http://ADDR`: use it in place of `https://api.binance.com`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }
    /// `ws://ADDR`: use it in place of `wss://stream.binance.com:9443`.
    pub fn ws_url(&self) -> String {
        self.shared.ws_url.clone()
    }
    pub fn options(&self) -> &SimOptions {
        &self.shared.opts
    }
    /// Drops every stream socket without a close frame; returns how many.
    pub fn drop_connections(&self) -> usize {
        self.shared.broadcast(Control::Drop)
    }
    /// Every open stream socket goes silent for good (no data, no pings), its socket left open.
    pub fn stall(&self) -> usize {
        self.shared.broadcast(Control::Stall)
    }
    /// Sends `serverShutdown` on every stream socket, which is then closed after `shutdown_grace`.
    pub fn server_shutdown(&self) -> usize {
        self.shared.broadcast(Control::ServerShutdown)
    }
    /// Answers websocket upgrades with `status` (e.g. 403, 400) from now on; `None` allows them again.
    pub fn refuse_websockets(&self, status: Option<u16>) {
        self.shared.refuse_ws.store(status.unwrap_or(0), Relaxed);
    }
    /// Answers everything with 451 (restricted location) from now on, or not.
    pub fn restrict(&self, on: bool) {
        self.shared.restricted.store(on, Relaxed);
    }
    /// Answers every REST route with 429 and `Retry-After: secs` from now on (Binance's request-weight limit);
    /// `None` lifts it. Streams are not affected.
    pub fn throttle(&self, retry_after_secs: Option<u64>) {
        self.shared.throttle_secs.store(
            retry_after_secs
                .unwrap_or(0)
                .max(u64::from(retry_after_secs.is_some())),
            Relaxed,
        );
    }
    /// Holds every REST answer back by `delay` from now on (a slow or overloaded API); `None` answers at once
    /// again. Streams are not affected.
    pub fn slow_rest(&self, delay: Option<Duration>) {
        let ms = delay.map_or(0, |d| d.as_millis().max(1) as u64);
        self.shared.rest_delay_ms.store(ms, Relaxed);
    }
    /// `symbol` stops trading and quoting (nothing of it is sent) or, with `false`, goes on; false when the
    /// simulator does not list it.
    pub fn quiet(&self, symbol: &str, quiet: bool) -> bool {
        let mut m = self
            .shared
            .market
            .write()
            .unwrap_or_else(|e| e.into_inner());
        m.set_quiet(symbol, quiet)
    }
    /// Every symbol trades `per_sec` times a second for `d`.
    pub fn burst(&self, per_sec: u64, d: Duration) {
        *lock(&self.shared.burst) = Some((per_sec, Instant::now() + d));
    }
    /// The last aggregate trade id of `symbol`.
    pub fn last_agg_id(&self, symbol: &str) -> Option<u64> {
        self.shared.market().get(symbol).map(|s| s.agg_id)
    }
    pub fn state(&self) -> SimState {
        let s = &self.shared;
        let c = &s.counters;
        let m = s.market();
        SimState {
            base_url: s.base_url.clone(),
            ws_url: s.ws_url.clone(),
            seed: s.seed,
            ws_attempts: c.ws_attempts.load(Relaxed),
            ws_refused: c.ws_refused.load(Relaxed),
            restricted_answers: c.restricted_answers.load(Relaxed),
            throttled_answers: c.throttled_answers.load(Relaxed),
            rest_delayed: c.rest_delayed.load(Relaxed),
            connections_total: c.connections_total.load(Relaxed),
            connections_open: lock(&s.conns).len() as u64,
            requests: c.requests.load(Relaxed),
            messages_sent: c.messages_sent.load(Relaxed),
            pongs_ok: c.pongs_ok.load(Relaxed),
            pongs_unmatched: c.pongs_unmatched.load(Relaxed),
            ping_timeouts: c.ping_timeouts.load(Relaxed),
            rate_limit_closes: c.rate_limit_closes.load(Relaxed),
            age_closes: c.age_closes.load(Relaxed),
            shutdown_closes: c.shutdown_closes.load(Relaxed),
            client_closes: c.client_closes.load(Relaxed),
            max_incoming_per_sec: c.max_incoming_per_sec.load(Relaxed),
            no_connection_moments: c.no_connection_moments.load(Relaxed),
            rest_calls: lock(&s.rest_calls).clone(),
            prices: m
                .symbols
                .iter()
                .map(|x| (x.symbol.clone(), x.price))
                .collect(),
            last_agg_ids: m
                .symbols
                .iter()
                .map(|x| (x.symbol.clone(), x.agg_id))
                .collect(),
        }
    }
}

/// Starts the simulator on `listener` and returns at once: the handle, and the server task, which ends once
/// `shutdown` resolves. Must be called inside a Tokio runtime.
///
/// # Errors
/// Only if the listener has no local address.
pub fn start(
    listener: TcpListener,
    opts: SimOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(SimHandle, JoinHandle<anyhow::Result<()>>)> {
    let addr = listener.local_addr()?;
    let advertised = if addr.ip().is_unspecified() {
        let ip = match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    };
    let seed = opts.seed.unwrap_or_else(|| rand::rng().random());
    let mut rng = StdRng::seed_from_u64(seed);
    let market = Market::new(&opts.symbols, now_ms(), &mut rng);
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        base_url: format!("http://{advertised}"),
        ws_url: format!("ws://{advertised}"),
        seed,
        market: RwLock::new(market),
        ticks: broadcast::channel(256).0,
        conns: Mutex::new(HashMap::new()),
        next_conn: AtomicU64::new(1),
        counters: Counters::default(),
        refuse_ws: AtomicU16::new(0),
        restricted: AtomicBool::new(false),
        throttle_secs: AtomicU64::new(0),
        rest_delay_ms: AtomicU64::new(0),
        burst: Mutex::new(None),
        rest_calls: Mutex::new(BTreeMap::new()),
        stop: stop_rx.clone(),
        opts,
    });
    let ticker = tokio::spawn(market_loop(shared.clone(), rng, stop_rx.clone()));
    let app = router(shared.clone());
    info!(%addr, seed, "binance simulator listening on {}/ (streams at {})", shared.base_url, shared.ws_url);
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = stop_tx.send(true);
            })
            .await;
        ticker.abort();
        served.map_err(anyhow::Error::from)
    });
    Ok((SimHandle { shared }, task))
}

/// Serves the simulator until `shutdown` resolves (see [`start`]).
///
/// # Errors
/// If the listener fails.
pub async fn run(
    listener: TcpListener,
    opts: SimOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (_handle, task) = start(listener, opts, shutdown)?;
    task.await?
}

/// Steps the market every `tick_ms` and hands the step's events to the sessions.
async fn market_loop(shared: Arc<Shared>, mut rng: StdRng, mut stop: watch::Receiver<bool>) {
    let tick_ms = shared.opts.tick_ms.max(5);
    let mut every = tokio::time::interval(Duration::from_millis(tick_ms));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let ticker_every = shared.opts.ticker_every.as_millis() as i64;
    let mut last = Instant::now();
    // Burst trades due but not yet sent (a fraction of one).
    let mut owed = 0.0_f64;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => return,
        }
        // Steps are skipped when the machine is loaded; the burst's trades follow the time that really passed,
        // so `rate` a second holds however many steps it took.
        let now = Instant::now();
        let elapsed = now.duration_since(last);
        last = now;
        let trades = {
            let mut burst = lock(&shared.burst);
            match *burst {
                Some((rate, until)) if now < until => {
                    owed += rate as f64 * elapsed.as_secs_f64();
                    let n = owed.floor().max(1.0);
                    owed = (owed - n).max(0.0);
                    n as usize
                }
                Some((rate, until)) => {
                    // The burst's last stretch, up to its end.
                    *burst = None;
                    let tail = until.saturating_duration_since(now - elapsed);
                    let n = (owed + rate as f64 * tail.as_secs_f64()).round().max(1.0);
                    owed = 0.0;
                    n as usize
                }
                None => rng.random_range(1..=2),
            }
        };
        let dt_ms = (elapsed.as_millis() as i64).max(1);
        let events = {
            let mut m = shared.market.write().unwrap_or_else(|e| e.into_inner());
            m.step(&mut rng, now_ms(), dt_ms, trades, ticker_every)
        };
        let _ = shared.ticks.send(Arc::new(events));
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(rest::routes())
        .route("/stream", get(stream::upgrade_combined))
        .route("/ws", get(stream::upgrade_raw))
        .route("/ws/{stream}", get(stream::upgrade_raw_one))
        .layer(middleware::from_fn_with_state(shared.clone(), restricted))
        .route("/sim/state", get(sim_state))
        .route("/sim/faults/drop", post(fault_drop))
        .route("/sim/faults/stall", post(fault_stall))
        .route("/sim/faults/refuse-ws", post(fault_refuse_ws))
        .route("/sim/faults/restricted", post(fault_restricted))
        .route("/sim/faults/throttle", post(fault_throttle))
        .route("/sim/faults/server-shutdown", post(fault_server_shutdown))
        .route("/sim/faults/burst", post(fault_burst))
        .route("/sim/faults/quiet", post(fault_quiet))
        .route("/", get(index))
        .with_state(shared)
}

/// The 451 fault: every Binance route (not the `/sim` ones) answers as Binance does from a restricted location;
/// the throttle fault: every REST route answers 429 with `Retry-After`; the slow-REST fault holds REST answers back.
async fn restricted(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if s.restricted.load(Relaxed) {
        s.counters.restricted_answers.fetch_add(1, Relaxed);
        if req.uri().path().starts_with("/stream") || req.uri().path().starts_with("/ws") {
            s.counters.ws_attempts.fetch_add(1, Relaxed);
        }
        return (
            StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            RESTRICTED_BODY,
        )
            .into_response();
    }
    let throttle = s.throttle_secs.load(Relaxed);
    if throttle > 0 && req.uri().path().starts_with("/api/") {
        s.counters.throttled_answers.fetch_add(1, Relaxed);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    "application/json".to_string(),
                ),
                (axum::http::header::RETRY_AFTER, throttle.to_string()),
            ],
            THROTTLED_BODY,
        )
            .into_response();
    }
    let delay = s.rest_delay_ms.load(Relaxed);
    if delay > 0 && req.uri().path().starts_with("/api/") {
        s.counters.rest_delayed.fetch_add(1, Relaxed);
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    next.run(req).await
}

/// Binance's answer past the request-weight limit (HTTP 429).
pub const THROTTLED_BODY: &str =
    "{\"code\":-1003,\"msg\":\"Too much request weight used; please use WebSocket Streams for live updates to avoid polling the API.\"}";

async fn index() -> &'static str {
    "tickdesk Binance simulator: streams at /stream?streams=a/b and /ws; REST under /api/v3; GET /sim/state; \
     POST /sim/faults/{drop,stall,refuse-ws?status=403,restricted,server-shutdown,burst?rate=1000&seconds=N}\n"
}

fn handle(shared: Arc<Shared>) -> SimHandle {
    SimHandle { shared }
}

fn affected(n: usize) -> Json<serde_json::Value> {
    Json(serde_json::json!({"ok": true, "affected": n}))
}

async fn sim_state(State(s): State<Arc<Shared>>) -> Json<SimState> {
    Json(handle(s).state())
}

async fn fault_drop(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    affected(handle(s).drop_connections())
}

async fn fault_stall(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    affected(handle(s).stall())
}

async fn fault_server_shutdown(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    affected(handle(s).server_shutdown())
}

#[derive(Debug, Deserialize)]
struct OnOff {
    #[serde(default)]
    off: bool,
    status: Option<u16>,
}

async fn fault_refuse_ws(State(s): State<Arc<Shared>>, Query(q): Query<OnOff>) -> Response {
    let status = q.status.unwrap_or(403);
    if StatusCode::from_u16(status).is_err() || status < 400 {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"ok": false, "error": "status must be an HTTP error status (400-599)"})),
        )
            .into_response();
    }
    handle(s).refuse_websockets((!q.off).then_some(status));
    affected(1).into_response()
}

async fn fault_restricted(
    State(s): State<Arc<Shared>>,
    Query(q): Query<OnOff>,
) -> impl IntoResponse {
    handle(s).restrict(!q.off);
    affected(1)
}

#[derive(Debug, Deserialize)]
struct ThrottleQuery {
    #[serde(default)]
    off: bool,
    seconds: Option<u64>,
}

async fn fault_throttle(
    State(s): State<Arc<Shared>>,
    Query(q): Query<ThrottleQuery>,
) -> impl IntoResponse {
    handle(s).throttle((!q.off).then(|| q.seconds.unwrap_or(1)));
    affected(1)
}

#[derive(Debug, Deserialize)]
struct QuietQuery {
    symbol: String,
    #[serde(default)]
    off: bool,
}

async fn fault_quiet(State(s): State<Arc<Shared>>, Query(q): Query<QuietQuery>) -> Response {
    if handle(s).quiet(&q.symbol.to_ascii_uppercase(), !q.off) {
        affected(1).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"ok": false, "error": format!("{} is not listed", q.symbol)})),
        )
            .into_response()
    }
}

#[derive(Debug, Deserialize)]
struct BurstQuery {
    rate: u64,
    seconds: u64,
}

async fn fault_burst(
    State(s): State<Arc<Shared>>,
    Query(q): Query<BurstQuery>,
) -> impl IntoResponse {
    handle(s).burst(q.rate.min(100_000), Duration::from_secs(q.seconds));
    affected(1)
}
