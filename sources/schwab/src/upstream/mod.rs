//! The orchestrator: one streamer connection for the whole relay, driven by what browsers watch.
//!
//! One task owns everything and reacts to one event at a time, so there are no locks around the plan:
//! - **Demand** ([`Demand`]): `chain:{U}:{DATE}`, `expirations:{U}` and `bars:{SYMBOL}` topics that browsers
//!   subscribe to, plus the nearest expiry of every start symbol (`TICKDESK_SYMBOLS`), which streams even before a
//!   browser connects.
//! - **REST loads**, run as tasks (a slow reply never stalls the stream) that retry with backoff until they
//!   succeed or are no longer wanted: expirations, a chain's first picture (`store.reset`: a new epoch, so every
//!   subscriber gets a fresh snapshot), the start symbols' quotes.
//! - **The streamer link** ([`Link`]): connecting and LOGIN run as a task; the logged-in session then lives in
//!   its own task, which runs the [`plan`] — the union of what is watched, within the key budget — as SUBS/ADD/UNSUBS
//!   one command at a time, each awaited *there*: this loop only sends the next command and hears its outcome as an
//!   event, so it never waits on a streamer round trip. Switching an underlying or an expiry changes the
//!   subscription, never the connection.
//! - **Timers**: the access token's refresh (a few minutes before expiry), websocket pings and stale detection,
//!   the reconnect backoff (full jitter), and the throttled status item.
//! - **The market clock** (checked every `market_check`): the session's phase for the status (`closed` with the
//!   next open outside the regular session); the **day roll** at New York midnight — expired chains are reset to
//!   an empty snapshot and no longer loaded, the start symbols' nearest expiry re-pins, expirations and chains
//!   reload so DTE counts move; the **strike window re-centres** when the underlying has moved a quarter of the
//!   window away from the chain's centre; and every `chain_refresh` the contracts outside the key budget get a
//!   fresh REST picture instead of keeping their first one.
//!
//! Response codes, each on purpose:
//! - **3** (login denied): refresh the token, then reconnect.
//! - **12** (another session took the connection): stop streaming and say so; fighting for the one connection
//!   Schwab allows would only kick the other session off in turn.
//! - **19** (over the symbol limit): lower the budget by 10% and replan until Schwab accepts; the status says so.
//! - **20** (no session for these ids): log in again on the same socket and resubscribe; reconnect if that fails.
//! - **30** (stop streaming, usually "empty subscription"): the plan never empties a subscription, but if Schwab
//!   stops the stream anyway, reconnect and resubscribe.
//!
//! After a reconnect the subscription starts from nothing (SUBS), and the first item of each key is a snapshot:
//! it is applied whole, so the topics are right again whatever happened while the link was down.

mod bars;
mod connection;
mod demand;
mod inbound;
mod loads;
mod market_time;
mod subscription;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tickdesk_wire::backoff::Backoff;
use tickdesk_wire::{Fields, Items};
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinHandle};
use tracing::{debug, error, info, warn};

use super::auth::{self, AuthError, Credentials, TokenManager};
use super::budget::{Priority, RestBudget};
use super::chain::{self, ChainError, ChainFilter, ChainPicture, Contract, Expiration};
use super::link::{Link, LinkCommand, LinkEvent, LinkTiming};
use super::plan::{self, Candidates, KeySets};
use super::rest::{Rest, RestError};
use super::status::{MarketNote, State, Status};
use super::streamer::{DataItem, Inbound, Session, StreamError};
use super::token::{now_s, LOGIN_HINT};
use super::{BARS_PREFIX, CHAIN_PREFIX, EXPIRATIONS_PREFIX, QUOTES_TOPIC};
use crate::config::SchwabConfig;
use tickdesk_hub::broker::Publisher;
use tickdesk_hub::demand::Demand;
use tickdesk_market::clock::wall_ms;
use tickdesk_market::zone::et_date;
use tickdesk_market::{calendar, Clock, Date, Phase};
use tickdesk_schwab_proto::codes;
use tickdesk_schwab_proto::fields::{self, CHART_EQUITY, LEVELONE_EQUITIES, LEVELONE_OPTIONS};

/// Where the tokens come from.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A Schwab app: its credentials and the token file (schwab-py's format), rewritten on every refresh.
    App {
        creds: Credentials,
        token_file: PathBuf,
    },
    /// The built-in simulator: tokens from its token endpoint, kept in memory (never written over a real file).
    Simulator,
    /// The settings are incomplete; the words say what to set.
    Misconfigured(String),
}

/// Intervals and timeouts. The defaults suit Schwab; tests shorten them.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Each REST call.
    pub http_timeout: Duration,
    /// Connecting, and waiting for each streamer response.
    pub command_timeout: Duration,
    /// Websocket pings (Schwabdev pings every 20 s).
    pub ping_interval: Duration,
    /// No frame at all (data, heartbeat, pong) for this long: the link is dead, reconnect.
    pub stale_after: Duration,
    /// Reconnect backoff (full jitter) bounds.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// A connection that lived this long resets the backoff when it drops.
    pub stable_after: Duration,
    /// How often to look for a new token file while waiting for `auth login`.
    pub token_poll: Duration,
    /// The status item's `last_msg` is published at most this often.
    pub status_throttle: Duration,
    /// How often the market clock is read: session phase, day roll, strike-window centre.
    pub market_check: Duration,
    /// How often chains with contracts outside the key budget are refreshed from REST.
    pub chain_refresh: Duration,
    /// The market-data REST budget's window: at most `Options::rest_per_window` calls start in any such span.
    pub rest_window: Duration,
    /// After Schwab says it does not know a symbol, no call is made for it for this long.
    pub unknown_cooldown: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            http_timeout: Duration::from_secs(20),
            command_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            stale_after: Duration::from_secs(60),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            stable_after: Duration::from_secs(60),
            token_poll: Duration::from_secs(15),
            status_throttle: Duration::from_secs(1),
            market_check: Duration::from_secs(5),
            chain_refresh: Duration::from_secs(60),
            rest_window: Duration::from_secs(60),
            unknown_cooldown: Duration::from_secs(300),
        }
    }
}

/// Everything the client needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// REST base URL (token endpoint, preferences, market data).
    pub api: String,
    pub auth: Auth,
    /// Underlyings streamed from the start, with their nearest expiry.
    pub symbols: Vec<String>,
    /// Most streamer keys at once (underlyings + contracts).
    pub key_budget: usize,
    pub filter: ChainFilter,
    /// Expiries per watched underlying held as REST pictures (class 2: loaded and refreshed, never streamed).
    pub held_expiries: usize,
    /// Market-data REST calls allowed per `Timing::rest_window` (a minute).
    pub rest_per_window: usize,
    /// Sessions of 1-minute bars a `bars:` topic keeps (the current one included; at least 1).
    pub bars_sessions: usize,
    /// Symbols whose `bars:` topics another source publishes (Binance's): never asked of Schwab.
    pub foreign_bars: HashSet<String>,
    pub timing: Timing,
    /// The market clock: today, DTE, the session, the day roll.
    pub clock: Clock,
}

impl Options {
    /// From the relay's settings and the market clock. No app key: the simulator at `cfg.api`.
    pub fn from_config(cfg: &SchwabConfig, clock: Clock) -> Options {
        let auth = match (&cfg.app_key, &cfg.app_secret) {
            (None, _) => Auth::Simulator,
            (Some(_), None) => Auth::Misconfigured(
                "TICKDESK_SCHWAB_APP_KEY is set but TICKDESK_SCHWAB_APP_SECRET is not: set both"
                    .into(),
            ),
            (Some(k), Some(s)) => Auth::App {
                creds: Credentials {
                    app_key: k.clone(),
                    app_secret: s.clone(),
                },
                token_file: cfg.token_file.clone(),
            },
        };
        Options {
            api: cfg.api.clone(),
            auth,
            symbols: normalize_symbols(&cfg.symbols),
            key_budget: cfg.key_budget.max(1),
            filter: ChainFilter {
                min_open_interest: cfg.min_oi,
                strike_window: (cfg.strike_window > 0).then_some(cfg.strike_window),
                max_dte: cfg.max_dte.max(0),
                ..ChainFilter::default()
            },
            held_expiries: cfg.held_expiries,
            rest_per_window: cfg.rest_per_min.max(1),
            bars_sessions: cfg.bars_sessions.max(1),
            foreign_bars: normalize_symbols(&cfg.foreign_bars).into_iter().collect(),
            timing: Timing::default(),
            clock,
        }
    }
}

/// Upper case, trimmed, no blanks or repeats, order kept.
pub fn normalize_symbols(symbols: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    symbols
        .iter()
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty() && seen.insert(s.clone()))
        .collect()
}

/// `chain:{UNDERLYING}:{YYYY-MM-DD}` → (underlying upper-cased, expiry).
pub fn parse_chain_topic(topic: &str) -> Option<(String, Date)> {
    let rest = topic.strip_prefix(CHAIN_PREFIX)?;
    let (u, d) = rest.rsplit_once(':')?;
    let u = u.trim();
    if u.is_empty() || d.len() != 10 {
        return None;
    }
    Some((u.to_ascii_uppercase(), Date::parse_iso(d)?))
}

/// The chain topic of an underlying and expiry.
pub fn chain_topic(underlying: &str, expiry: Date) -> String {
    format!("{CHAIN_PREFIX}{underlying}:{expiry}")
}

/// Runs the client until shutdown.
/// Expects the on-demand prefixes to be registered already ([`super::spawn_with`] does it before spawning, so a
/// browser can never subscribe before they exist).
pub(super) async fn run(
    store: Arc<dyn Publisher>,
    demand: Arc<Demand>,
    opts: Options,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut status = Status::new(store.clone(), opts.timing.status_throttle);
    let http = auth::http_client(opts.timing.http_timeout);
    let Some(tokens) = obtain_tokens(&opts, &http, &mut status, &mut shutdown).await else {
        return;
    };
    let budget = Arc::new(RestBudget::new(
        opts.rest_per_window,
        opts.timing.rest_window,
    ));
    let rest = Rest::new(http, &opts.api, tokens.clone(), budget);
    let (loads_tx, loads_rx) = mpsc::unbounded_channel();
    let mut up = Upstream::new(store, opts, rest, tokens, status, loads_tx);
    up.run(demand, loads_rx, shutdown).await;
}

impl Upstream {
    /// The orchestrator's state before its first step: nothing wanted, loaded or connected yet.
    fn new(
        store: Arc<dyn Publisher>,
        opts: Options,
        rest: Rest,
        tokens: Arc<TokenManager>,
        status: Status,
        loads_tx: mpsc::UnboundedSender<Loaded>,
    ) -> Upstream {
        Upstream {
            store,
            budget: opts.key_budget,
            backoff: Backoff::new(
                opts.timing.backoff_min.as_millis() as f64,
                opts.timing.backoff_max.as_millis() as f64,
            ),
            pinned: opts.symbols.iter().map(|s| (s.clone(), None)).collect(),
            today: et_date(opts.clock.now_ms()),
            in_flight: None,
            refused: None,
            relogged: false,
            opts,
            rest,
            tokens,
            status,
            loads_tx,
            loading: HashMap::new(),
            wanted_chains: BTreeMap::new(),
            held: BTreeMap::new(),
            unknown: HashMap::new(),
            chains: BTreeMap::new(),
            wanted_exps: BTreeSet::new(),
            key_topic: HashMap::new(),
            subscribed: KeySets::new(),
            stopped: false,
            ever_connected: false,
            connected_at: None,
            next_connect: tokio::time::Instant::now(),
            tokens_lapsed: false,
            delayed_keys: HashSet::new(),
            streamed_quotes: HashSet::new(),
            budget_refused: None,
            bars: BTreeMap::new(),
            bars_loads: HashMap::new(),
            next_bars_load: 0,
        }
    }
}

#[cfg(test)]
impl Upstream {
    /// An upstream on its own, no connection, against an address nothing answers (its loads keep retrying), for
    /// the tests of its event handlers. The receiver holds what the loads report.
    fn for_tests(clock: Clock) -> (Upstream, mpsc::UnboundedReceiver<Loaded>) {
        let mut cfg = crate::config::SchwabConfig::defaults();
        cfg.symbols = Vec::new();
        let mut opts = Options::from_config(&cfg, clock);
        opts.api = "http://127.0.0.1:9".into();
        let store = Arc::new(tickdesk_hub::memory::MemoryBroker::new(64, 1 << 16));
        let http = auth::http_client(Duration::from_secs(1));
        let file: crate::token::TokenFile = serde_json::from_value(json!({
            "creation_timestamp": now_s(),
            "token": {"access_token": "a", "refresh_token": "r", "expires_in": 1800, "expires_at": now_s() + 1800},
        }))
        .unwrap();
        let tokens = Arc::new(TokenManager::new(
            http.clone(),
            &opts.api,
            auth::simulator_credentials(),
            file,
            None,
        ));
        let budget = Arc::new(RestBudget::new(100, Duration::from_secs(60)));
        let rest = Rest::new(http, &opts.api, tokens.clone(), budget);
        let (loads_tx, loads_rx) = mpsc::unbounded_channel();
        let status = Status::new(store.clone(), Duration::from_millis(50));
        let up = Upstream::new(store, opts, rest, tokens, status, loads_tx);
        (up, loads_rx)
    }
}

/// Gets the token manager: reads the token file (waiting for `auth login` if it is missing) or asks the simulator.
async fn obtain_tokens(
    opts: &Options,
    http: &reqwest::Client,
    status: &mut Status,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Arc<TokenManager>> {
    let mut backoff = Backoff::new(
        opts.timing.backoff_min.as_millis() as f64,
        opts.timing.backoff_max.as_millis() as f64,
    );
    let mut logged = false;
    loop {
        let wait = match &opts.auth {
            Auth::Misconfigured(msg) => {
                error!("Schwab client not started: {msg}");
                status.set(State::Error, msg.clone());
                let _ = shutdown.wait_for(|s| *s).await;
                return None;
            }
            Auth::App { creds, token_file } => {
                match TokenManager::from_file(
                    http.clone(),
                    &opts.api,
                    creds.clone(),
                    token_file.clone(),
                ) {
                    Ok(t) => return Some(t),
                    Err(e) => {
                        if !logged {
                            error!("{e}");
                            logged = true;
                        }
                        status.set(State::Error, e.to_string());
                        opts.timing.token_poll
                    }
                }
            }
            Auth::Simulator => match auth::sim_tokens(&opts.api).await {
                Ok(t) => {
                    info!(api = %opts.api, "using the built-in Schwab simulator");
                    return Some(Arc::new(TokenManager::new(
                        http.clone(),
                        &opts.api,
                        auth::simulator_credentials(),
                        t,
                        None,
                    )));
                }
                Err(e) => {
                    warn!(error = %e, "no token from the Schwab simulator yet");
                    status.set(State::Connecting, "waiting for the Schwab simulator");
                    status.set_error(Some(e.to_string()));
                    Duration::from_millis(backoff.next_delay_ms(rand::random::<f64>()) as u64)
                }
            },
        };
        tokio::select! {
            _ = stopping(shutdown) => return None,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// A REST load's identity (at most one task per identity).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LoadKey {
    Chain(String),
    /// A fresh REST picture of a loaded chain, for the contracts not streamed.
    Refresh(String),
    Expirations(String),
    Quotes,
    /// A `bars:` topic's first picture (pricehistory), by symbol.
    Bars(String),
    /// The minutes a `bars:` topic missed while the stream was down, by symbol.
    Backfill(String),
}

/// What a load task reports.
#[derive(Debug)]
enum Loaded {
    Chain {
        topic: String,
        picture: Result<ChainPicture, ChainError>,
    },
    Refreshed {
        topic: String,
        picture: ChainPicture,
    },
    Expirations {
        symbol: String,
        list: Vec<Expiration>,
    },
    Quotes(Value),
    /// A pricehistory answer for a `bars:` topic: its first picture, or a backfill.
    Bars {
        symbol: String,
        bars: Vec<tickdesk_wire::bars::Bar>,
        backfill: bool,
        /// The load's generation (see `Upstream::bars_loads`).
        generation: u64,
        /// Why Schwab refused the request (HTTP 400/404), answered as no bars.
        refused: Option<String>,
    },
    /// Schwab refused the request for this symbol (HTTP 400/404): it does not know it.
    Unknown {
        symbol: String,
        why: String,
    },
    /// A failed attempt (the task retries by itself).
    Failed {
        what: String,
        error: String,
    },
}

/// A loaded chain topic.
#[derive(Debug)]
struct Chain {
    contracts: Vec<Contract>,
    ranks: Vec<usize>,
    /// The at-the-money strike the window was centred on when loaded.
    centre: Option<f64>,
}

/// What to do after the session failed.
enum After {
    Retry,
    RefreshThenRetry,
    Stop(String),
}

struct Upstream {
    store: Arc<dyn Publisher>,
    opts: Options,
    rest: Rest,
    tokens: Arc<TokenManager>,
    status: Status,
    loads_tx: mpsc::UnboundedSender<Loaded>,
    loading: HashMap<LoadKey, AbortHandle>,
    /// Chain topics wanted now → class (0: a browser watches, 1: only a start symbol, 2: held as a REST picture
    /// for the analytics across expiries, never streamed).
    wanted_chains: BTreeMap<String, u8>,
    /// Underlying → its held chain topics (the first `held_expiries` listed expiries).
    held: BTreeMap<String, Vec<String>>,
    /// Underlyings Schwab does not know → until when no call is made for them.
    unknown: HashMap<String, tokio::time::Instant>,
    /// Loaded, wanted chain topics.
    chains: BTreeMap<String, Chain>,
    /// Underlyings whose expirations topic is wanted.
    wanted_exps: BTreeSet<String>,
    /// Start symbol → its nearest-expiry chain topic, once the expirations are known.
    pinned: BTreeMap<String, Option<String>>,
    /// Contract key → its chain topic.
    key_topic: HashMap<String, String>,
    /// What the streamer has acknowledged.
    subscribed: KeySets,
    /// The key budget in force (lowered by code 19).
    budget: usize,
    /// Set for good by code 12.
    stopped: bool,
    ever_connected: bool,
    connected_at: Option<Instant>,
    next_connect: tokio::time::Instant,
    backoff: Backoff,
    /// The refresh token was refused: waiting for `auth login`.
    tokens_lapsed: bool,
    /// Keys whose latest snapshot said `delayed: true`.
    delayed_keys: HashSet<String>,
    /// Underlyings with streamed quotes since connecting (REST must not overwrite them with older values).
    streamed_quotes: HashSet<String>,
    /// (attempted, lowered to) after a code 19.
    budget_refused: Option<(usize, usize)>,
    /// Watched `bars:` topics served by Schwab, by symbol.
    bars: BTreeMap<String, bars::BarsTopic>,
    /// The generation of the pricehistory load running for each bars key: an answer of another generation belongs
    /// to a load cancelled meanwhile (the symbol dropped and watched again) and is ignored, so it neither removes
    /// the running load's handle nor merges a picture asked for a topic that no longer exists.
    bars_loads: HashMap<LoadKey, u64>,
    /// The next bars load's generation.
    next_bars_load: u64,
    /// The market's date (New York) as of the last clock check: a change is the day roll.
    today: Date,
    /// The subscription command the link is running (one at a time, as Schwab wants).
    in_flight: Option<LinkCommand>,
    /// The last command Schwab refused: not sent again until something changes.
    refused: Option<LinkCommand>,
    /// Logged in again after a code 20 since the plan last converged (a second 20 ends the link).
    relogged: bool,
}

/// The class of a held expiry in `wanted_chains`: a REST picture for the analytics, never streamed.
const HELD: u8 = 2;

/// Why a connection attempt failed.
enum ConnectFailed {
    Token(AuthError),
    Retry(String),
    Stream(StreamError),
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("chains", &self.chains.keys().collect::<Vec<_>>())
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// Resolves once shutdown is asked for (without holding the watch's guard across awaits).
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Waits for the link's next event, or forever without a link.
async fn next_link_event(link: &mut Option<Link>) -> LinkEvent {
    match link {
        Some(l) => l.next().await,
        None => std::future::pending().await,
    }
}

/// Waits for the connection attempt, or forever without one.
async fn connected(
    attempt: &mut Option<JoinHandle<Result<Session, ConnectFailed>>>,
) -> Result<Session, ConnectFailed> {
    match attempt {
        Some(t) => t
            .await
            .unwrap_or_else(|e| Err(ConnectFailed::Retry(format!("connecting failed: {e}")))),
        None => std::future::pending().await,
    }
}

fn unix_to_instant(unix_s: i64) -> tokio::time::Instant {
    let now = now_s();
    let secs = (unix_s - now).clamp(0, 86_400 * 30) as u64;
    tokio::time::Instant::now() + Duration::from_secs(secs)
}

impl Upstream {
    async fn run(
        &mut self,
        demand: Arc<Demand>,
        mut loads_rx: mpsc::UnboundedReceiver<Loaded>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut demand_rx = demand.watch();
        let mut link: Option<Link> = None;
        let mut attempt: Option<JoinHandle<Result<Session, ConnectFailed>>> = None;
        self.status
            .set(State::Connecting, "loading the start symbols");
        self.check_token_health().await;
        if !self.pinned.is_empty() {
            let symbols: Vec<String> = self.pinned.keys().cloned().collect();
            self.start_load(LoadKey::Quotes, move |rest| {
                let symbols = symbols.clone();
                async move {
                    rest.quotes(Priority::Start, &symbols)
                        .await
                        .map(Loaded::Quotes)
                }
            });
        }
        self.on_demand(&demand_rx.borrow_and_update().clone());
        let mut status_tick = tokio::time::interval(
            self.opts
                .timing
                .status_throttle
                .max(Duration::from_millis(50)),
        );
        let mut token_due = unix_to_instant(self.tokens.refresh_due_at().await);
        let mut market_tick =
            tokio::time::interval(self.opts.timing.market_check.max(Duration::from_millis(20)));
        market_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut refresh_tick = tokio::time::interval(
            self.opts
                .timing
                .chain_refresh
                .max(Duration::from_millis(100)),
        );
        refresh_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick of an interval is immediate; the first refresh waits a period (the chain was just loaded).
        refresh_tick.reset();
        loop {
            let want_connection = !self.stopped && !self.tokens_lapsed && self.has_wanted_keys();
            tokio::select! {
                biased;
                _ = stopping(&mut shutdown) => break,
                Some(loaded) = loads_rx.recv() => {
                    self.on_loaded(loaded);
                    self.pump(&link);
                }
                changed = demand_rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let counts = demand_rx.borrow_and_update().clone();
                    self.on_demand(&counts);
                    self.pump(&link);
                }
                _ = tokio::time::sleep_until(self.next_connect),
                    if link.is_none() && attempt.is_none() && want_connection => {
                    attempt = Some(self.start_connect());
                }
                r = connected(&mut attempt) => {
                    attempt = None;
                    self.on_connect_result(r, &mut link).await;
                }
                _ = tokio::time::sleep_until(token_due) => {
                    let ok = self.on_token_timer().await;
                    let now = tokio::time::Instant::now();
                    token_due = if self.tokens_lapsed || !ok {
                        now + self.opts.timing.token_poll.min(Duration::from_secs(5))
                    } else {
                        unix_to_instant(self.tokens.refresh_due_at().await).max(now + Duration::from_millis(200))
                    };
                }
                _ = status_tick.tick() => self.status.flush(),
                _ = market_tick.tick() => {
                    self.on_market_clock();
                    self.pump(&link);
                }
                _ = refresh_tick.tick() => self.refresh_not_live(),
                // Last: under a busy stream, demand changes, loads and timers still get their turn.
                ev = next_link_event(&mut link) => self.on_link_event(ev, &mut link).await,
            }
        }
        for (_, h) in self.loading.drain() {
            h.abort();
        }
        if let Some(a) = attempt.take() {
            a.abort();
        }
        if let Some(l) = link.take() {
            l.close().await;
        }
        self.subscribed.clear();
        self.publish_live_flags();
        self.status.set(State::Stopped, "relay shutting down");
        info!("Schwab client stopped");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn settings_reach_the_chain_filter() {
        let mut cfg = crate::config::SchwabConfig::defaults();
        cfg.min_oi = 100;
        cfg.strike_window = 0;
        cfg.max_dte = 7;
        let f = super::Options::from_config(&cfg, Clock::wall()).filter;
        assert_eq!(
            (f.min_open_interest, f.strike_window, f.max_dte),
            (100, None, 7)
        );
        let d =
            super::Options::from_config(&crate::config::SchwabConfig::defaults(), Clock::wall())
                .filter;
        assert_eq!(d, crate::chain::ChainFilter::default());
    }

    use super::*;

    #[test]
    fn chain_topics_parse_with_index_symbols_and_refuse_junk() {
        let d = Date::parse_iso("2026-11-21").unwrap();
        assert_eq!(
            parse_chain_topic("chain:$SPX:2026-11-21"),
            Some(("$SPX".into(), d))
        );
        assert_eq!(
            parse_chain_topic("chain:aapl:2026-11-21"),
            Some(("AAPL".into(), d))
        );
        assert_eq!(chain_topic("$SPX", d), "chain:$SPX:2026-11-21");
        for bad in [
            "chain:AAPL",
            "chain::2026-11-21",
            "chain:AAPL:2026-11-31",
            "quotes",
            "chain:AAPL:2026-11-21x",
        ] {
            assert_eq!(parse_chain_topic(bad), None, "{bad}");
        }
        assert_eq!(
            normalize_symbols(&[" spy".into(), "SPY".into(), "".into(), "$spx".into()]),
            ["SPY", "$SPX"]
        );
    }
}
