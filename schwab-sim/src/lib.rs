//! The built-in Schwab simulator: the Trader API's OAuth, REST market data and streamer websocket on one
//! loopback port, faithful enough that unmodified third-party clients (schwab-py's `Client` and `StreamClient`)
//! work against it, plus fault injection for tests.
//!
//! It follows `shared/reference/schwab-streamer.md` (section 8 lists what a faithful simulator must do); where
//! the reference marks a behaviour unverified, the choice made here is stated below.
//!
//! # Running it
//! - Embedded: [`start`] (or [`run`]) on a bound listener, e.g. `127.0.0.1:0`; [`SimHandle`] gives the URLs,
//!   the counters and the faults.
//! - Standalone: `tickdesk-schwab-sim` (or `tickdesk-relay simulator`) `--listen 127.0.0.1:8900 [--seed N] [--tick-ms MS] [--load-contracts N]
//!   [--idle-code30-ms MS] [--key-cap N] [--access-token-ttl-s S]` (`--help` lists them).
//! - Point a client at `http://ADDR` instead of `https://api.schwabapi.com`; the streamer URL comes from
//!   `userPreference` (`ws://ADDR/ws`).
//!
//! # Credentials
//! Any app key and secret are accepted (HTTP Basic on `/v1/oauth/token` must be present and well formed). Any
//! non-empty authorization code is accepted, so a test can skip the browser. There is one simulated user, so
//! every token belongs to the same customer.
//!
//! # REST
//! | route | behaviour |
//! |---|---|
//! | `GET /v1/oauth/authorize?client_id=…&redirect_uri=…[&state=…]` | 302 straight to `redirect_uri?code=C0.…%40&session=<uuid>[&state=…]`: the "login page" approves at once |
//! | `POST /v1/oauth/token` | form body; `grant_type=authorization_code&code=…` issues an access token (`expires_in` 1800 by default) and a refresh token (7 days from this login); `grant_type=refresh_token&refresh_token=…` issues a new access token and returns the same refresh token (its life is not extended). No/invalid Basic auth → 401 `{"error":"invalid_client"}`; unknown or expired refresh token → 400 `{"error":"invalid_client","error_description":"refresh token invalid"}` |
//! | `GET /trader/v1/userPreference` | the object form (not an array), one `streamerInfo` entry whose `streamerSocketUrl` is this simulator's `/ws` |
//! | `GET /marketdata/v1/chains` | see [`chain_json`]: live field names, `"YYYY-MM-DD:DTE"` → `"230.0"` → list, -999 for uncomputable, filters; over `max_chain_contracts` contracts → 502 TooBigBody fault |
//! | `GET /marketdata/v1/expirationchain?symbol=` | `{"expirationList":[{expirationDate, daysToExpiration, expirationType, settlementType, optionRoots, standard}]}` |
//! | `GET /marketdata/v1/quotes?symbols=&fields=`, `GET /marketdata/v1/{symbol}/quotes` | see [`quotes_json`] |
//! | `GET /marketdata/v1/pricehistory?symbol=…` | candles ending at the current price, see [`quotes_json`]; minute candles are the underlying's 1-minute bars (`market/bars.rs`): recorded from the walk, so a minute `CHART_EQUITY` sent is the same here, and a fixed synthetic past before the walk started; `startDate`/`endDate` (ms) and `needExtendedHoursData` (04:00–20:00 ET) honoured |
//!
//! Every REST route but the OAuth ones needs `Authorization: Bearer <access token issued by this simulator>`.
//! Otherwise: 401 with the API gateway's fault body, `{"fault":{"faultstring":"Invalid Access Token","detail":
//! {"errorcode":"keymanagement.service.invalid_access_token"}}}` (or `"Access Token expired"` /
//! `keymanagement.service.access_token_expired`). The reference does not show Schwab's 401 body; this is the
//! standard shape of the gateway that produces its `TooBigBody` fault.
//!
//! # Streamer (`GET /ws`)
//! - Only `{"requests":[…]}` is accepted; anything else (not JSON, a bare request, a request without
//!   `service`/`command`) gets code 21. Requests in one frame are answered in order, one `response` frame each,
//!   `requestid` echoed as a **string**, `SchwabClientCorrelId` echoed, `timestamp` in ms.
//! - `ADMIN`/`LOGIN` with `parameters.Authorization` = a live access token (no "Bearer ") → code 0,
//!   msg `server=tickdesk-sim;status=NP`, then a heartbeat at once and every `heartbeat` (10 s by default) as
//!   `{"notify":[{"heartbeat":"<ms>"}]}`. An unknown or expired token (or a `deny-next-login` fault) → code 3
//!   `Login Denied.: token is invalid or has expired.`, then the socket closes.
//! - Anything but LOGIN before a successful LOGIN → code 20 (the socket stays open). After LOGIN, a command whose
//!   `SchwabClientCustomerId` or `SchwabClientCorrelId` differs from the LOGIN's → code 20.
//! - `ADMIN`/`LOGOUT` → code 0 `SUCCESS`, then close.
//! - `SUBS`/`ADD`/`UNSUBS`/`VIEW` per service with the semantics of [`subs`]; success is code 0
//!   `"<CMD> command succeeded"`. Services outside the real streamer's list (`TIMESALE_*`, `NEWS_HEADLINE`,
//!   `CHART_OPTIONS`…) → code 11. Keys of every service on the connection count against `key_cap` (default
//!   500; the reference does not say whether Schwab counts per service): a command that would pass it is refused
//!   whole with code 19.
//! - Data: `LEVELONE_OPTIONS` (option keys in the exact 21-character OSI form) and `LEVELONE_EQUITIES` (`$SPX`,
//!   `SPY`, `AAPL`) and `CHART_EQUITY` (underlyings: one item per minute that completes on the market clock after
//!   the key was subscribed, numbered as the wire really is — 1 sequence, 2–6 OHLCV, 7 chart time, 8 chart day —
//!   with `seq`); other services are acknowledged but send nothing. Unknown keys are accepted (they count
//!   against the cap) and get no data. Data goes right after a subscription's response and then on every market
//!   tick (`tick_ms`, 250 ms by default) in `{"data":[{"service":…,"timestamp":…,"command":"SUBS","content":[…]}]}`
//!   frames (`command` is always `SUBS`; at most 200 items per frame). A key's first item after `SUBS`, `ADD`
//!   (new keys) or `VIEW` has every subscribed field that has a value plus `delayed`, `assetMainType` (and
//!   `assetSubType`/`cusip` for equities); later items only the fields that changed. Field 0 is never sent.
//!   Volatility (field 10) is in percent, as in the REST chain (unverified for the stream in the reference).
//! - About `idle_code30_after` (30 s) after LOGIN with nothing subscribed, or after everything was unsubscribed:
//!   `{"notify":[{"service":"ADMIN","timestamp":…,"content":{"code":30,"msg":"Stop streaming due to empty
//!   subscription"}}]}`, then close.
//! - One streamer connection per user: when a second connection logs in, the **older** one gets a `notify` with
//!   code 12 and is closed (the TDA-era behaviour; the reference does not know Schwab's). With `kick_newer` the
//!   new connection's LOGIN is answered with code 12 instead and it is closed.
//!
//! # Market
//! See [`market`]: `$SPX` (SPXW dailies incl. 0DTE, weeklies, SPX AM monthlies), `SPY` (dailies, $1 strikes),
//! `AAPL` (weeklies and monthlies), and with `load_contracts` an extra `SIMX` with that many options for load
//! tests. Black–Scholes on a skewed smile, greeks that match, bid/ask on the tick grid, rising volumes, fixed
//! open interest; seeded, so a seed repeats the session.
//!
//! # Faults and state (no auth; for tests and scripts)
//! | route | [`SimHandle`] | effect |
//! |---|---|---|
//! | `POST /sim/faults/drop[?ms=N]` | [`SimHandle::drop_connections`], [`SimHandle::drop_connections_for`] | every streamer socket is dropped without a close frame; with `ms`, new streamer connections are refused (HTTP 503) for N ms |
//! | `POST /sim/faults/deny-next-login` | [`SimHandle::deny_next_login`] | the next LOGIN gets code 3 whatever its token |
//! | `POST /sim/faults/code30` | [`SimHandle::send_code30`] | every logged-in socket gets notify code 30, then is closed |
//! | `POST /sim/faults/stall?ms=N` | [`SimHandle::stall`] | every streamer socket goes silent (no reads, no writes, no pongs) for N ms |
//! | `POST /sim/faults/malformed` | [`SimHandle::send_malformed`] | every streamer socket gets one truncated, unparsable JSON text frame |
//! | `POST /sim/faults/gap?symbol=SPY&pct=5` | [`SimHandle::gap`] | the underlying's price jumps by `pct` percent (negative: down) at once; 404 for an unknown symbol |
//! | `POST /sim/faults/halt?symbol=AAPL%20%20261218C00230000[&resume=true]` | [`SimHandle::halt`] | the option contract is halted (security status `Halted`, field 33) or resumes; 404 for an unknown symbol |
//! | `POST /sim/faults/rate-limit?seconds=N` | [`SimHandle::rate_limit`] | for N seconds every market-data call is answered 429 (`Retry-After` with the seconds left) |
//! | `POST /sim/faults/close?code=1001` | [`SimHandle::close_with`] | every streamer socket gets a close frame with that code and Schwab's reason (1001 `Idle Timeout`, 1011 `keepalive ping timeout`) |
//! | `GET /sim/state` | [`SimHandle::state`] | counters ([`SimState`]): logins, denials, connections, commands, data frames, tokens, subscriptions per service, underlying prices |
//! | `POST /sim/tick-ms?ms=N` | | the market's tick period from now on (5 ms at least; answers `{"ok":true,"tick_ms":N}`); for benchmarks' load steps |
//! | `GET /sim/ticks?underlying=SIMX` | | a plain websocket with every tick's changed contracts as JSON, in the relay's field names (`tap.rs`); for benchmark peers |
//!
//! Fault routes answer `{"ok":true,"affected":N}` (N = sockets affected).

pub mod chain_json;
pub mod cli;
pub mod fields;
pub mod market;
pub mod pricing;
pub mod quotes_json;
mod rest;
mod streamer;
pub mod subs;
mod tap;
pub mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::info;

use market::{Market, MarketConfig};
pub use tickdesk_market::Clock;
use tokens::TokenStore;

/// How the simulator behaves. `Default` is the real service's numbers where they are known.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The market's clock: what "now" is for the session, the day, expiries, candles and token expiry. The wall
    /// clock by default; a clock started at a chosen instant replays a market moment.
    pub clock: Clock,
    /// Seed for the market (prices, open interest, trades); `None` picks one at random.
    pub seed: Option<u64>,
    /// Market tick period: every tick moves prices and streams changes. Default 250 ms.
    pub tick_ms: u64,
    /// Multiplies the random walk's variance clock (1 = real-time volatility).
    pub speed: f64,
    /// Options listed on the extra `SIMX` underlying, for load tests (0 = no `SIMX`).
    pub load_contracts: usize,
    /// Expiries `SIMX` lists: 0 for weeklies and monthlies, else one per trading day, this many (load tests that
    /// spread clients over many chain topics).
    pub load_expiries: usize,
    /// Access-token lifetime (Schwab: 30 min).
    pub access_token_ttl: Duration,
    /// Refresh-token lifetime from the login that created it (Schwab: 7 days).
    pub refresh_token_ttl: Duration,
    /// Streamer heartbeat period (undocumented by Schwab; 10 s).
    pub heartbeat: Duration,
    /// With nothing subscribed this long after LOGIN (or after the last UNSUBS), code 30 and close (~30 s).
    pub idle_code30_after: Duration,
    /// Keys per streamer connection, all services together, before code 19 (500).
    pub key_cap: usize,
    /// On a second login, kick the new connection instead of the old one.
    pub kick_newer: bool,
    /// A chain with more contracts than this fails with the gateway's TooBigBody fault (full `$SPX` does).
    pub max_chain_contracts: usize,
    /// `streamerSocketUrl` to advertise instead of `ws://<bound address>/ws` (e.g. behind a proxy).
    pub public_ws_url: Option<String>,
    /// Drop every streamer connection when the market clock passes this New York time each day (hour, minute),
    /// as Schwab users report of the real stream.
    pub daily_disconnect_et: Option<(i64, i64)>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            clock: Clock::wall(),
            seed: None,
            tick_ms: 250,
            speed: 1.0,
            load_contracts: 0,
            load_expiries: 0,
            access_token_ttl: Duration::from_secs(1800),
            refresh_token_ttl: Duration::from_secs(7 * 24 * 3600),
            heartbeat: Duration::from_secs(10),
            idle_code30_after: Duration::from_secs(30),
            key_cap: 500,
            kick_newer: false,
            max_chain_contracts: 3000,
            public_ws_url: None,
            daily_disconnect_et: None,
        }
    }
}

/// Messages from the handle (faults) and from other sessions (code 12) to one streamer session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Drop,
    /// A close frame with this code and reason (Schwab's `1001 Idle Timeout`, `1011 keepalive ping timeout`).
    Close(u16, &'static str),
    Code30,
    Stall(Duration),
    Malformed,
    Kick,
}

#[derive(Debug)]
struct ConnEntry {
    tx: mpsc::UnboundedSender<Control>,
    logged_in: bool,
    subs: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Default)]
struct Counters {
    logins: AtomicU64,
    login_denials: AtomicU64,
    connections_total: AtomicU64,
    commands: AtomicU64,
    data_frames: AtomicU64,
}

/// Everything the routes and sessions share.
#[derive(Debug)]
struct Shared {
    opts: SimOptions,
    addr: SocketAddr,
    base_url: String,
    ws_url: String,
    seed: u64,
    market: RwLock<Market>,
    ticks: watch::Sender<u64>,
    /// The tick period in ms (`opts.tick_ms` at start; `POST /sim/tick-ms` changes it).
    tick_ms: watch::Sender<u64>,
    tokens: Mutex<TokenStore>,
    conns: Mutex<HashMap<u64, ConnEntry>>,
    next_conn: AtomicU64,
    counters: Counters,
    deny_next_login: AtomicBool,
    /// When each market-data REST call arrived (the last 10,000).
    rest_calls: Mutex<std::collections::VecDeque<std::time::Instant>>,
    /// Market-data calls answer 429 until then (the rate-limit fault).
    rate_limited_until: Mutex<Option<std::time::Instant>>,
    /// New streamer connections are refused (HTTP 503) until then (the drop fault with a duration).
    streamer_down_until: Mutex<Option<std::time::Instant>>,
    customer_id: String,
    correl_id: String,
    stop: watch::Receiver<bool>,
}

/// Now for OAuth tokens: the wall clock, as Schwab's own servers judge expiry in real time. The market clock may
/// be set to another day or moved by hours in a test or a replay; tokens must not expire because of that (the
/// relay's client judges its tokens by the wall clock too).
fn auth_now_ms() -> i64 {
    tickdesk_market::clock::wall_ms()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Now on the simulator's clock.
    fn now_ms(&self) -> i64 {
        self.opts.clock.now_ms()
    }

    fn market(&self) -> std::sync::RwLockReadGuard<'_, Market> {
        self.market.read().unwrap_or_else(|e| e.into_inner())
    }

    fn market_mut(&self) -> std::sync::RwLockWriteGuard<'_, Market> {
        self.market.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The market with its day rolled to the clock's date: the REST routes use it, so a request just after New
    /// York midnight never sees yesterday's series while the market loop waits for its next tick.
    fn market_today(&self) -> std::sync::RwLockWriteGuard<'_, Market> {
        let now = self.now_ms();
        let mut m = self.market_mut();
        m.roll_to(now);
        m
    }

    /// Sends a control message to every session (or only logged-in ones); returns how many got it.
    fn broadcast(&self, ctl: Control, logged_in_only: bool) -> usize {
        lock(&self.conns)
            .values()
            .filter(|c| !logged_in_only || c.logged_in)
            .filter(|c| c.tx.send(ctl).is_ok())
            .count()
    }
}

/// A cloneable handle on a running simulator: its addresses, counters and faults.
#[derive(Debug, Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
}

/// A snapshot of the simulator's counters (`GET /sim/state`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimState {
    pub base_url: String,
    pub ws_url: String,
    pub seed: u64,
    /// Successful streamer LOGINs.
    pub logins: u64,
    /// LOGINs refused: code 3 (bad token or the deny fault), or code 12 with `kick_newer`.
    pub login_denials: u64,
    /// Streamer connections accepted since start, and open now.
    pub connections_total: u64,
    pub connections_open: u64,
    /// Streamer requests received.
    pub commands: u64,
    /// `data` frames sent.
    pub data_frames: u64,
    /// Logins (code exchanges) and refreshes at `/v1/oauth/token`.
    pub tokens_issued: u64,
    pub tokens_refreshed: u64,
    /// Keys subscribed per service, over every open connection.
    pub subscriptions: BTreeMap<String, Vec<String>>,
    pub ticks: u64,
    /// Last price of each underlying.
    pub underlyings: BTreeMap<String, f64>,
    /// Contracts listed.
    pub contracts: usize,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }
    /// `http://ADDR`: use it in place of `https://api.schwabapi.com`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }
    /// The streamer URL advertised in `userPreference`.
    pub fn ws_url(&self) -> String {
        self.shared.ws_url.clone()
    }
    pub fn options(&self) -> &SimOptions {
        &self.shared.opts
    }

    /// Drops every streamer socket without a close frame. Returns the number of sockets.
    pub fn drop_connections(&self) -> usize {
        self.shared.broadcast(Control::Drop, false)
    }
    /// Drops every streamer socket and refuses new ones (HTTP 503 on the upgrade) for `d`: an outage long enough
    /// for the market to move on (minutes of bars the client must backfill). Returns the number of sockets.
    pub fn drop_connections_for(&self, d: Duration) -> usize {
        *lock(&self.shared.streamer_down_until) = Some(std::time::Instant::now() + d);
        self.drop_connections()
    }
    /// The next LOGIN gets code 3 whatever its token.
    pub fn deny_next_login(&self) {
        self.shared.deny_next_login.store(true, Relaxed);
    }
    /// Every logged-in socket gets notify code 30, then is closed.
    pub fn send_code30(&self) -> usize {
        self.shared.broadcast(Control::Code30, true)
    }
    /// Every streamer socket goes silent for `d`: no frames, no reads (so no pongs either).
    pub fn stall(&self, d: Duration) -> usize {
        self.shared.broadcast(Control::Stall(d), false)
    }
    /// Every streamer socket is closed with `code` and Schwab's reason for it: 1001 `Idle Timeout`, 1011
    /// `keepalive ping timeout` (others: `Closed`). Returns the number of sockets.
    pub fn close_with(&self, code: u16) -> usize {
        let reason = match code {
            1001 => "Idle Timeout",
            1011 => "keepalive ping timeout",
            _ => "Closed",
        };
        self.shared.broadcast(Control::Close(code, reason), false)
    }
    /// Every streamer socket gets one unparsable text frame.
    pub fn send_malformed(&self) -> usize {
        self.shared.broadcast(Control::Malformed, false)
    }
    /// For `d`, every market-data REST call is answered 429 with `Retry-After` (Schwab's throttling).
    pub fn rate_limit(&self, d: Duration) {
        *lock(&self.shared.rate_limited_until) = Some(std::time::Instant::now() + d);
    }
    /// When each market-data REST call arrived, oldest first (the last 10,000).
    pub fn rest_call_times(&self) -> Vec<std::time::Instant> {
        lock(&self.shared.rest_calls).iter().copied().collect()
    }
    /// The option contract `symbol` is halted (or resumes); false for an unknown symbol.
    pub fn halt(&self, symbol: &str, halted: bool) -> bool {
        self.shared.market_mut().set_halted(symbol, halted)
    }
    /// The underlying `symbol` gaps by `factor` (1.05 = up 5%) at once; false for an unknown symbol.
    pub fn gap(&self, symbol: &str, factor: f64) -> bool {
        self.shared.market_mut().gap(symbol, factor)
    }

    /// Successful streamer LOGINs so far.
    pub fn logins(&self) -> u64 {
        self.shared.counters.logins.load(Relaxed)
    }
    /// Streamer connections accepted so far.
    pub fn connections_total(&self) -> u64 {
        self.shared.counters.connections_total.load(Relaxed)
    }
    /// Streamer connections open now.
    pub fn connections_open(&self) -> usize {
        lock(&self.shared.conns).len()
    }
    /// Keys subscribed per service, over every open connection (sorted, deduplicated).
    pub fn subscriptions(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in lock(&self.shared.conns).values() {
            for (svc, keys) in &c.subs {
                out.entry(svc.clone())
                    .or_default()
                    .extend(keys.iter().cloned());
            }
        }
        for keys in out.values_mut() {
            keys.sort();
            keys.dedup();
        }
        out
    }

    /// Issues a token pair directly, as a code exchange would (for tests that skip the HTTP round trip).
    pub fn issue_tokens(&self) -> tokens::TokenSet {
        lock(&self.shared.tokens).issue(&mut rand::rng(), auth_now_ms())
    }

    /// Runs `f` on the market under its read lock (for tests that want a contract symbol or a price).
    pub fn with_market<R>(&self, f: impl FnOnce(&Market) -> R) -> R {
        f(&self.shared.market())
    }

    pub fn state(&self) -> SimState {
        let s = &self.shared;
        let (underlyings, contracts) = {
            let m = s.market();
            (
                m.underlyings
                    .iter()
                    .map(|u| (u.spec.symbol.to_string(), u.last))
                    .collect(),
                m.contracts.len(),
            )
        };
        let (issued, refreshed) = {
            let t = lock(&s.tokens);
            (t.issued, t.refreshed)
        };
        // Each lock is taken and released on its own: a guard held across the struct literal would deadlock
        // with `subscriptions()`.
        let open = self.connections_open() as u64;
        let subscriptions = self.subscriptions();
        let ticks = *s.ticks.borrow();
        SimState {
            base_url: s.base_url.clone(),
            ws_url: s.ws_url.clone(),
            seed: s.seed,
            logins: s.counters.logins.load(Relaxed),
            login_denials: s.counters.login_denials.load(Relaxed),
            connections_total: s.counters.connections_total.load(Relaxed),
            connections_open: open,
            commands: s.counters.commands.load(Relaxed),
            data_frames: s.counters.data_frames.load(Relaxed),
            tokens_issued: issued,
            tokens_refreshed: refreshed,
            subscriptions,
            ticks,
            underlyings,
            contracts,
        }
    }
}

/// Starts the simulator on `listener` and returns at once: the handle, and the server task, which ends (with
/// streamer sockets closed, code 1001) once `shutdown` resolves. Must be called inside a Tokio runtime.
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
    let (stop_tx, stop_rx) = watch::channel(false);
    let market = Market::new(
        MarketConfig {
            seed,
            speed: opts.speed,
            load_contracts: opts.load_contracts,
            load_expiries: opts.load_expiries,
        },
        opts.clock.now_ms(),
    );
    let mut id_rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let customer_id: String = (0..64)
        .map(|_| char::from_digit(id_rng.random_range(0..16), 16).unwrap_or('0'))
        .collect();
    let shared = Arc::new(Shared {
        base_url: format!("http://{advertised}"),
        ws_url: opts
            .public_ws_url
            .clone()
            .unwrap_or_else(|| format!("ws://{advertised}/ws")),
        addr,
        seed,
        market: RwLock::new(market),
        ticks: watch::channel(0).0,
        tick_ms: watch::channel(opts.tick_ms.max(10)).0,
        tokens: Mutex::new(TokenStore::new(
            opts.access_token_ttl,
            opts.refresh_token_ttl,
        )),
        conns: Mutex::new(HashMap::new()),
        next_conn: AtomicU64::new(1),
        counters: Counters::default(),
        deny_next_login: AtomicBool::new(false),
        rest_calls: Mutex::new(Default::default()),
        rate_limited_until: Mutex::new(None),
        streamer_down_until: Mutex::new(None),
        customer_id,
        correl_id: uuid::Uuid::new_v4().to_string(),
        stop: stop_rx.clone(),
        opts,
    });
    let ticker = tokio::spawn(market_loop(shared.clone(), stop_rx));
    let app = router(shared.clone());
    info!(
        %addr,
        ws = %shared.ws_url,
        seed,
        "schwab simulator listening on {}/", shared.base_url
    );
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

/// Steps the market every `tick_ms` and wakes the sessions.
async fn market_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut rng = StdRng::seed_from_u64(shared.seed);
    let mut last_tick_ms: Option<i64> = None;
    let mut period = shared.tick_ms.subscribe();
    let mut every = tokio::time::interval(Duration::from_millis(*period.borrow_and_update()));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = period.changed() => {
                let ms = *period.borrow_and_update();
                every = tokio::time::interval(Duration::from_millis(ms));
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                continue;
            }
            _ = stop.changed() => return,
        }
        let now = shared.now_ms();
        {
            shared.market_mut().step(&mut rng, now);
        }
        if let Some((hh, mm)) = shared.opts.daily_disconnect_et {
            // Schwab users see the stream dropped at a fixed hour each day: when the market clock crosses it.
            let at = tickdesk_market::zone::et_date(now).at_et(hh, mm);
            let last = last_tick_ms.replace(now).unwrap_or(now);
            if last < at && at <= now {
                let n = shared.broadcast(Control::Drop, false);
                info!(dropped = n, "daily disconnect (simulated)");
            }
        }
        shared.ticks.send_modify(|t| *t += 1);
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(rest::routes())
        .route("/ws", get(streamer::upgrade))
        .route("/sim/state", get(sim_state))
        .route("/sim/ticks", get(tap::upgrade))
        .route("/sim/tick-ms", post(set_tick_ms))
        .route("/sim/faults/drop", post(fault_drop))
        .route("/sim/faults/deny-next-login", post(fault_deny))
        .route("/sim/faults/code30", post(fault_code30))
        .route("/sim/faults/stall", post(fault_stall))
        .route("/sim/faults/malformed", post(fault_malformed))
        .route("/sim/faults/gap", post(fault_gap))
        .route("/sim/faults/halt", post(fault_halt))
        .route("/sim/faults/rate-limit", post(fault_rate_limit))
        .route("/sim/faults/close", post(fault_close))
        .route("/", get(index))
        .with_state(shared)
}

async fn index() -> &'static str {
    "tickdesk Schwab simulator: REST under /v1/oauth, /trader/v1, /marketdata/v1; streamer at /ws; \
     GET /sim/state; GET /sim/ticks?underlying=SIMX (websocket); POST /sim/tick-ms?ms=N; POST /sim/faults/{drop,deny-next-login,code30,stall?ms=N,malformed,gap?symbol=S&pct=P}\n"
}

#[derive(Debug, serde::Deserialize)]
struct GapQuery {
    symbol: String,
    pct: f64,
}

async fn fault_gap(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<GapQuery>,
) -> axum::response::Response {
    one_or_not_found(
        handle(shared).gap(&q.symbol, 1.0 + q.pct / 100.0),
        format!("unknown underlying {}", q.symbol),
    )
}

#[derive(Debug, serde::Deserialize)]
struct CloseQuery {
    code: u16,
}

async fn fault_close(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<CloseQuery>,
) -> Json<serde_json::Value> {
    affected(handle(shared).close_with(q.code))
}

#[derive(Debug, serde::Deserialize)]
struct RateLimitQuery {
    seconds: u64,
}

async fn fault_rate_limit(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<RateLimitQuery>,
) -> Json<serde_json::Value> {
    handle(shared).rate_limit(Duration::from_secs(q.seconds));
    affected(1)
}

#[derive(Debug, serde::Deserialize)]
struct HaltQuery {
    symbol: String,
    #[serde(default)]
    resume: bool,
}

async fn fault_halt(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HaltQuery>,
) -> axum::response::Response {
    one_or_not_found(
        handle(shared).halt(&q.symbol, !q.resume),
        format!("unknown contract {}", q.symbol),
    )
}

fn handle(shared: Arc<Shared>) -> SimHandle {
    SimHandle { shared }
}

fn affected(n: usize) -> Json<serde_json::Value> {
    Json(serde_json::json!({"ok": true, "affected": n}))
}

/// A fault on one named thing: `affected: 1`, or 404 with `error` when there is no such thing.
fn one_or_not_found(found: bool, error: String) -> axum::response::Response {
    if found {
        affected(1).into_response()
    } else {
        (
            axum::http::StatusCode::NOT_FOUND,
            Json(serde_json::json!({"ok": false, "error": error})),
        )
            .into_response()
    }
}

async fn sim_state(State(s): State<Arc<Shared>>) -> Json<SimState> {
    Json(handle(s).state())
}

async fn fault_drop(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    match q.get("ms").and_then(|v| v.parse::<u64>().ok()) {
        Some(ms) => affected(handle(s).drop_connections_for(Duration::from_millis(ms))),
        None => affected(handle(s).drop_connections()),
    }
}

async fn fault_deny(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    handle(s).deny_next_login();
    affected(1)
}

async fn fault_code30(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    affected(handle(s).send_code30())
}

async fn fault_stall(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let Some(ms) = q.get("ms").and_then(|v| v.parse::<u64>().ok()) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"ok": false, "error": "ms=<milliseconds> is required"})),
        )
            .into_response();
    };
    affected(handle(s).stall(Duration::from_millis(ms))).into_response()
}

/// `POST /sim/tick-ms?ms=N`: the market ticks every N ms (at least 5) from now on.
async fn set_tick_ms(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let Some(ms) = q.get("ms").and_then(|v| v.parse::<u64>().ok()) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"ok": false, "error": "ms=<milliseconds> is required"})),
        )
            .into_response();
    };
    let ms = ms.max(5);
    s.tick_ms.send_replace(ms);
    Json(serde_json::json!({"ok": true, "tick_ms": ms})).into_response()
}

async fn fault_malformed(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    affected(handle(s).send_malformed())
}
