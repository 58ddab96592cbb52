//! The orchestrator: one streamer connection for the whole relay, driven by what browsers watch.
//!
//! One task owns everything and reacts to one event at a time, so there are no locks around the plan:
//! - **Demand** ([`Demand`]): `chain:{U}:{DATE}` and `expirations:{U}` topics that browsers subscribe to, plus the
//!   nearest expiry of every start symbol (`TICKDESK_SYMBOLS`), which streams even before a browser connects.
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
use super::chain::{self, ChainError, ChainFilter, ChainPicture, Contract, Expiration};
use super::link::{Link, LinkCommand, LinkEvent, LinkTiming};
use super::plan::{self, Candidates, KeySets};
use super::rest::{Rest, RestError};
use super::status::{MarketNote, State, Status};
use super::streamer::{DataItem, Inbound, Session, StreamError};
use super::token::{now_s, LOGIN_HINT};
use super::{CHAIN_PREFIX, EXPIRATIONS_PREFIX, QUOTES_TOPIC};
use crate::config::SchwabConfig;
use crate::demand::Demand;
use crate::store::Store;
use tickdesk_market::clock::wall_ms;
use tickdesk_market::zone::et_date;
use tickdesk_market::{calendar, Clock, Date, Phase};
use tickdesk_schwab_proto::codes;
use tickdesk_schwab_proto::fields::{self, LEVELONE_EQUITIES, LEVELONE_OPTIONS};

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
    store: Arc<Store>,
    demand: Arc<Demand>,
    opts: Options,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut status = Status::new(store.clone(), opts.timing.status_throttle);
    let http = auth::http_client(opts.timing.http_timeout);
    let Some(tokens) = obtain_tokens(&opts, &http, &mut status, &mut shutdown).await else {
        return;
    };
    let rest = Rest::new(http, &opts.api, tokens.clone());
    let (loads_tx, loads_rx) = mpsc::unbounded_channel();
    let mut up = Upstream {
        store,
        budget: opts.key_budget,
        backoff: Backoff::new(
            opts.timing.backoff_min.as_millis() as f64,
            opts.timing.backoff_max.as_millis() as f64,
        ),
        pinned: opts.symbols.iter().map(|s| (s.clone(), None)).collect(),
        today: et_date(opts.clock.now_ms()),
        in_flight: None,
        relogged: false,
        opts,
        rest,
        tokens,
        status,
        loads_tx,
        loading: HashMap::new(),
        wanted_chains: BTreeMap::new(),
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
    };
    up.run(demand, loads_rx, shutdown).await;
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
    store: Arc<Store>,
    opts: Options,
    rest: Rest,
    tokens: Arc<TokenManager>,
    status: Status,
    loads_tx: mpsc::UnboundedSender<Loaded>,
    loading: HashMap<LoadKey, AbortHandle>,
    /// Chain topics wanted now → class (0: a browser watches, 1: only a start symbol).
    wanted_chains: BTreeMap<String, u8>,
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
    /// The market's date (New York) as of the last clock check: a change is the day roll.
    today: Date,
    /// The subscription command the link is running (one at a time, as Schwab wants).
    in_flight: Option<LinkCommand>,
    /// Logged in again after a code 20 since the plan last converged (a second 20 ends the link).
    relogged: bool,
}

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
                async move { rest.quotes(&symbols).await.map(Loaded::Quotes) }
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

    // ---- demand and loads ----------------------------------------------------------------------------------

    /// Recomputes what is wanted from the demand counts and the start symbols; starts and cancels loads.
    fn on_demand(&mut self, counts: &BTreeMap<String, usize>) {
        let mut chains: BTreeMap<String, u8> = self
            .pinned
            .values()
            .flatten()
            .map(|t| (t.clone(), 1))
            .collect();
        let mut exps: BTreeSet<String> = self.pinned.keys().cloned().collect();
        for (topic, n) in counts {
            if *n == 0 {
                continue;
            }
            if topic.starts_with(CHAIN_PREFIX) {
                chains.insert(topic.clone(), 0);
            } else if let Some(sym) = topic.strip_prefix(EXPIRATIONS_PREFIX) {
                if !sym.is_empty() {
                    exps.insert(sym.to_string());
                }
            }
        }
        // Chains no longer wanted: stop loading, forget their keys (the plan drops them), mark them not live.
        let gone: Vec<String> = self
            .wanted_chains
            .keys()
            .filter(|t| !chains.contains_key(*t))
            .cloned()
            .collect();
        for topic in gone {
            self.cancel_load(&LoadKey::Chain(topic.clone()));
            if let Some(c) = self.chains.remove(&topic) {
                let rows: Items = c
                    .contracts
                    .iter()
                    .map(|k| {
                        self.key_topic.remove(&k.symbol);
                        (
                            k.symbol.clone(),
                            [("live".to_string(), json!(false))].into_iter().collect(),
                        )
                    })
                    .collect();
                self.store.publish(&topic, rows, vec![]);
                debug!(%topic, "chain no longer watched");
            }
        }
        for topic in chains.keys() {
            if !self.wanted_chains.contains_key(topic) {
                self.load_chain(topic);
            }
        }
        self.wanted_chains = chains;
        for sym in self.wanted_exps.clone() {
            if !exps.contains(&sym) {
                self.cancel_load(&LoadKey::Expirations(sym));
            }
        }
        for sym in &exps {
            if !self.wanted_exps.contains(sym) {
                self.load_expirations(sym);
            }
        }
        self.wanted_exps = exps;
    }

    fn cancel_load(&mut self, key: &LoadKey) {
        if let Some(h) = self.loading.remove(key) {
            h.abort();
        }
    }

    /// Starts a load task that retries with backoff until it succeeds (or is cancelled).
    fn start_load<F, Fut>(&mut self, key: LoadKey, make: F)
    where
        F: Fn(Rest) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<Loaded, RestError>> + Send,
    {
        self.cancel_load(&key);
        let rest = self.rest.clone();
        let tx = self.loads_tx.clone();
        let what = match &key {
            LoadKey::Chain(t) => format!("the chain {t}"),
            LoadKey::Refresh(t) => format!("a fresh picture of {t}"),
            LoadKey::Expirations(s) => format!("the expirations of {s}"),
            LoadKey::Quotes => "the start symbols' quotes".to_string(),
        };
        let mut backoff = Backoff::new(
            self.opts.timing.backoff_min.as_millis() as f64,
            self.opts.timing.backoff_max.as_millis() as f64,
        );
        let handle = tokio::spawn(async move {
            loop {
                match make(rest.clone()).await {
                    Ok(loaded) => {
                        let _ = tx.send(loaded);
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Loaded::Failed {
                            what: what.clone(),
                            error: e.to_string(),
                        });
                    }
                }
                tokio::time::sleep(Duration::from_millis(
                    backoff.next_delay_ms(rand::random::<f64>()) as u64,
                ))
                .await;
            }
        });
        self.loading.insert(key, handle.abort_handle());
    }

    fn load_chain(&mut self, topic: &str) {
        let Some((underlying, expiry)) = parse_chain_topic(topic) else {
            warn!(%topic, "not a chain topic (expected chain:UNDERLYING:YYYY-MM-DD); it stays empty");
            self.status
                .set_error(Some(format!("{topic} is not chain:UNDERLYING:YYYY-MM-DD")));
            return;
        };
        let dte = self.today.days_until(expiry);
        if !self.opts.filter.dte_allowed(dte) {
            let (lo, hi) = (self.opts.filter.min_dte, self.opts.filter.max_dte);
            warn!(%topic, dte, "expiry outside the DTE window {lo}–{hi} days; the chain stays empty");
            self.status.set_error(Some(format!(
                "{topic} is outside the DTE window ({lo}–{hi} days)"
            )));
            return;
        }
        let strike_count = self.opts.filter.strike_window.map(|w| 2 * w + 2);
        let t = topic.to_string();
        self.start_load(LoadKey::Chain(t.clone()), move |rest| {
            let (t, u) = (t.clone(), underlying.clone());
            async move {
                let v = rest.chain(&u, expiry, strike_count).await?;
                Ok(Loaded::Chain {
                    topic: t,
                    picture: chain::parse_chain(&v),
                })
            }
        });
    }

    fn load_expirations(&mut self, symbol: &str) {
        let s = symbol.to_string();
        let clock = self.opts.clock.clone();
        self.start_load(LoadKey::Expirations(s.clone()), move |rest| {
            let (s, clock) = (s.clone(), clock.clone());
            async move {
                let v = rest.expiration_chain(&s).await?;
                Ok(Loaded::Expirations {
                    list: chain::parse_expirations(&v, et_date(clock.now_ms())),
                    symbol: s,
                })
            }
        });
    }

    /// Asks REST for a fresh picture of a loaded chain (same window as its first load).
    fn refresh_chain(&mut self, topic: &str) {
        let Some((underlying, expiry)) = parse_chain_topic(topic) else {
            return;
        };
        if self
            .loading
            .contains_key(&LoadKey::Chain(topic.to_string()))
        {
            return;
        }
        let strike_count = self.opts.filter.strike_window.map(|w| 2 * w + 2);
        let t = topic.to_string();
        self.start_load(LoadKey::Refresh(t.clone()), move |rest| {
            let (t, u) = (t.clone(), underlying.clone());
            async move {
                let v = rest.chain(&u, expiry, strike_count).await?;
                match chain::parse_chain(&v) {
                    Ok(picture) => Ok(Loaded::Refreshed { topic: t, picture }),
                    // A refresh that fails is dropped: the chain keeps what it has.
                    Err(e) => Ok(Loaded::Failed {
                        what: format!("a fresh picture of {t}"),
                        error: e.to_string(),
                    }),
                }
            }
        });
    }

    // ---- the market clock ----------------------------------------------------------------------------------

    /// Reads the market clock: the session's phase for the status, the day roll, the strike windows' centres.
    fn on_market_clock(&mut self) {
        let now = self.opts.clock.now_ms();
        let phase = calendar::phase(now);
        self.status.set_market(MarketNote {
            phase,
            next_open: (phase != Phase::Regular).then(|| calendar::next_open(now)),
            market_time: now,
            simulated: self.opts.clock.is_simulated(),
        });
        let today = et_date(now);
        if today != self.today {
            self.roll_day(today);
        }
        self.recentre_windows();
    }

    /// The day changed (New York midnight, or a clock set forward): expired chains are reset to an empty
    /// snapshot and dropped, the start symbols re-pin their nearest expiry, expirations and the remaining chains
    /// reload so every DTE moves.
    fn roll_day(&mut self, today: Date) {
        info!(from = %self.today, to = %today, "market day roll");
        self.today = today;
        let expired: Vec<String> = self
            .wanted_chains
            .keys()
            .chain(self.chains.keys())
            .filter(|t| parse_chain_topic(t).is_some_and(|(_, e)| e < today))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for topic in &expired {
            info!(%topic, "expired at the day roll: reset to an empty snapshot");
            self.cancel_load(&LoadKey::Chain(topic.clone()));
            self.cancel_load(&LoadKey::Refresh(topic.clone()));
            if let Some(c) = self.chains.remove(topic) {
                for k in &c.contracts {
                    self.key_topic.remove(&k.symbol);
                }
            }
            // A browser may still watch it (it stays in `wanted_chains` as demand says), but nothing loads it.
            if self.wanted_chains.get(topic) == Some(&1) {
                self.wanted_chains.remove(topic);
            }
            self.store.reset(topic, Items::new());
        }
        for (sym, slot) in self.pinned.iter_mut() {
            if slot.as_ref().is_some_and(|t| expired.contains(t)) {
                *slot = None;
            }
            let _ = sym;
        }
        let symbols: BTreeSet<String> = self
            .pinned
            .keys()
            .cloned()
            .chain(self.wanted_exps.iter().cloned())
            .collect();
        for sym in symbols {
            self.load_expirations(&sym);
        }
        let live: Vec<String> = self.chains.keys().cloned().collect();
        for topic in live {
            self.load_chain(&topic);
        }
        if !expired.is_empty() {
            self.status.set_error(None);
        }
    }

    /// Reloads a chain whose underlying moved a quarter of the strike window (at least two strikes) away from
    /// the strike the window was centred on, so the window follows the money.
    fn recentre_windows(&mut self) {
        let Some(window) = self.opts.filter.strike_window else {
            return;
        };
        let quotes = self
            .store
            .snapshot(QUOTES_TOPIC)
            .map(|s| s.items)
            .unwrap_or_default();
        let mut stale: Vec<String> = Vec::new();
        for (topic, c) in &self.chains {
            let Some((underlying, _)) = parse_chain_topic(topic) else {
                continue;
            };
            let Some(price) = quotes
                .get(&underlying)
                .and_then(|q| q.get("last"))
                .and_then(fields::number)
            else {
                continue;
            };
            if chain::strikes_off_centre(&c.contracts, c.centre, price) >= (window / 4).max(2) {
                stale.push(topic.clone());
            }
        }
        for topic in stale {
            if !self.loading.contains_key(&LoadKey::Chain(topic.clone())) {
                info!(%topic, "the underlying moved off the strike window's centre: re-centring");
                self.load_chain(&topic);
            }
        }
    }

    /// Fresh REST pictures for the chains that have contracts outside the key budget.
    fn refresh_not_live(&mut self) {
        let opts = self.subscribed.get(LEVELONE_OPTIONS);
        let due: Vec<String> = self
            .chains
            .iter()
            .filter(|(_, c)| {
                c.contracts
                    .iter()
                    .any(|k| !opts.is_some_and(|s| s.contains(&k.symbol)))
            })
            .map(|(t, _)| t.clone())
            .collect();
        for topic in due {
            self.refresh_chain(&topic);
        }
    }

    /// A fresh picture: re-centre if the money moved, else update the contracts that are not streamed.
    fn on_refreshed(&mut self, topic: String, picture: ChainPicture) {
        self.loading.remove(&LoadKey::Refresh(topic.clone()));
        let Some(c) = self.chains.get(&topic) else {
            return;
        };
        let off = match (picture.underlying_price, self.opts.filter.strike_window) {
            (Some(p), Some(w)) => {
                chain::strikes_off_centre(&c.contracts, c.centre, p) >= (w / 4).max(2)
            }
            _ => false,
        };
        if off {
            self.install_chain(topic, picture);
            return;
        }
        let opts = self.subscribed.get(LEVELONE_OPTIONS);
        let mine: HashSet<&str> = c.contracts.iter().map(|k| k.symbol.as_str()).collect();
        let ts = wall_ms();
        let rows: Items = picture
            .contracts
            .iter()
            .filter(|k| {
                mine.contains(k.symbol.as_str()) && !opts.is_some_and(|s| s.contains(&k.symbol))
            })
            .map(|k| (k.symbol.clone(), k.row(false, ts)))
            .collect();
        if !rows.is_empty() {
            debug!(%topic, contracts = rows.len(), "refreshed the contracts outside the key budget");
            self.store.publish(&topic, rows, vec![]);
        }
    }

    fn on_loaded(&mut self, loaded: Loaded) {
        match loaded {
            Loaded::Failed { what, error } => {
                warn!(%error, "cannot load {what} from Schwab; retrying");
                self.status.set_error(Some(error));
            }
            Loaded::Quotes(v) => {
                self.loading.remove(&LoadKey::Quotes);
                let rows: Items = v
                    .as_object()
                    .into_iter()
                    .flatten()
                    // Entries are `{SYMBOL: {"quote": {…}, "realtime": …}}`; `errors` lists invalid symbols.
                    .filter(|(sym, entry)| {
                        entry.get("quote").is_some_and(Value::is_object)
                            && !self.streamed_quotes.contains(sym.as_str())
                    })
                    .map(|(sym, entry)| {
                        let mut row = chain::underlying_row(&entry["quote"]);
                        if let Some(rt) = entry.get("realtime").and_then(Value::as_bool) {
                            row.insert("delayed".into(), json!(!rt));
                        }
                        (sym.clone(), row)
                    })
                    .collect();
                self.store.publish(QUOTES_TOPIC, rows, vec![]);
            }
            Loaded::Expirations { symbol, list } => {
                self.loading.remove(&LoadKey::Expirations(symbol.clone()));
                let today = self.today;
                let list: Vec<Expiration> = list
                    .into_iter()
                    .filter(|e| self.opts.filter.dte_allowed(e.dte))
                    .collect();
                let items: Items = list
                    .iter()
                    .map(|e| (e.date.to_string(), e.row(today)))
                    .collect();
                self.store
                    .reset(&format!("{EXPIRATIONS_PREFIX}{symbol}"), items);
                if let Some(slot @ None) = self.pinned.get_mut(&symbol) {
                    match list.first() {
                        Some(e) => {
                            let topic = chain_topic(&symbol, e.date);
                            info!(%topic, "streaming the nearest expiry of a start symbol");
                            *slot = Some(topic.clone());
                            self.wanted_chains.entry(topic.clone()).or_insert(1);
                            self.load_chain(&topic);
                        }
                        None => {
                            warn!(%symbol, "no expiry within the DTE window; nothing to stream for it")
                        }
                    }
                }
            }
            Loaded::Refreshed { topic, picture } => self.on_refreshed(topic, picture),
            Loaded::Chain { topic, picture } => {
                self.loading.remove(&LoadKey::Chain(topic.clone()));
                if !self.wanted_chains.contains_key(&topic) {
                    return;
                }
                let picture = match picture {
                    Ok(p) => p,
                    Err(e) => {
                        warn!(%topic, error = %e, "Schwab has no chain for this topic; it stays empty");
                        self.status.set_error(Some(e.to_string()));
                        self.store.reset(&topic, Items::new());
                        return;
                    }
                };
                self.install_chain(topic, picture);
            }
        }
    }

    /// A chain's first picture: filter, publish as a fresh snapshot (reset), remember its keys.
    fn install_chain(&mut self, topic: String, picture: ChainPicture) {
        let Some((underlying, expiry)) = parse_chain_topic(&topic) else {
            return;
        };
        let of_expiry: Vec<Contract> = picture
            .contracts
            .into_iter()
            .filter(|c| c.expiry == expiry)
            .collect();
        let contracts =
            chain::filter_contracts(of_expiry, picture.underlying_price, &self.opts.filter);
        let ranks = chain::money_rank(&contracts, picture.underlying_price);
        let centre = contracts
            .iter()
            .zip(&ranks)
            .min_by_key(|(_, r)| **r)
            .map(|(c, _)| c.strike);
        let ts = wall_ms();
        let opts = self.subscribed.get(LEVELONE_OPTIONS);
        let items = chain::chain_items(&contracts, |k| opts.is_some_and(|s| s.contains(k)), ts);
        info!(%topic, contracts = contracts.len(), "loaded the chain's first picture");
        self.store.reset(&topic, items);
        if let Some(mut row) = picture.underlying {
            if !self.streamed_quotes.contains(&underlying) {
                row.insert("delayed".into(), json!(picture.delayed));
                self.store.publish(
                    QUOTES_TOPIC,
                    [(underlying.clone(), row)].into_iter().collect(),
                    vec![],
                );
            }
        }
        if picture.delayed {
            self.delayed_keys.insert(format!("chain {topic}"));
            self.status.set_delayed(true);
        }
        for c in &contracts {
            self.key_topic.insert(c.symbol.clone(), topic.clone());
        }
        self.chains.insert(
            topic,
            Chain {
                contracts,
                ranks,
                centre,
            },
        );
    }

    // ---- the plan ------------------------------------------------------------------------------------------

    fn underlyings(&self) -> Vec<String> {
        let mut out: Vec<String> = self.opts.symbols.clone();
        for t in self.wanted_chains.keys() {
            if let Some((u, _)) = parse_chain_topic(t) {
                if !out.contains(&u) {
                    out.push(u);
                }
            }
        }
        out
    }

    fn wanted_keys(&self) -> Vec<(&'static str, String)> {
        let cands: Vec<Candidates> = self
            .chains
            .iter()
            .map(|(t, c)| Candidates {
                class: self.wanted_chains.get(t).copied().unwrap_or(1),
                contracts: c
                    .contracts
                    .iter()
                    .zip(&c.ranks)
                    .map(|(k, r)| (k.symbol.clone(), *r))
                    .collect(),
            })
            .collect();
        plan::prioritize(&self.underlyings(), &cands)
    }

    fn has_wanted_keys(&self) -> bool {
        !self.opts.symbols.is_empty() || !self.wanted_chains.is_empty()
    }

    /// Brings the subscription one step closer to the plan: sends the next SUBS/ADD/UNSUBS the plan needs to the
    /// link, unless one is in flight (its outcome calls this again). Once nothing is left to send, publishes the
    /// `live` flags and the budget note.
    fn pump(&mut self, link: &Option<Link>) {
        if link.is_some() && self.in_flight.is_some() {
            return;
        }
        let wanted = self.wanted_keys();
        let p = plan::plan(&wanted, self.budget);
        if let Some(l) = link {
            if let Some(cmd) = plan::diff(&self.subscribed, &p.target).into_iter().next() {
                debug!(
                    command = cmd.command,
                    service = cmd.service,
                    keys = cmd.keys.len(),
                    "Schwab subscription change"
                );
                let c = LinkCommand::Subscription {
                    command: cmd.command,
                    service: cmd.service,
                    fields: fields::subscription_fields(cmd.service),
                    keys: cmd.keys,
                };
                l.send(c.clone());
                self.in_flight = Some(c);
                return;
            }
            self.relogged = false;
        }
        self.publish_plan_notes(&p, link.is_some());
        self.publish_live_flags();
    }

    /// A command's outcome: apply it, shrink the budget on code 19, log in again on code 20, report other
    /// refusals; then the next step.
    async fn on_done(
        &mut self,
        command: LinkCommand,
        result: Result<super::streamer::Response, StreamError>,
        link: &mut Option<Link>,
    ) {
        self.in_flight = None;
        match (command, result) {
            (LinkCommand::Relogin, Ok(_)) => {
                self.subscribed.clear();
                self.streamed_quotes.clear();
            }
            (
                LinkCommand::Subscription {
                    command,
                    service,
                    keys,
                    ..
                },
                Ok(_),
            ) => {
                let set = self.subscribed.entry(service).or_default();
                match command {
                    "UNSUBS" => keys.iter().for_each(|k| {
                        set.remove(k);
                    }),
                    "SUBS" => *set = keys.into_iter().collect(),
                    _ => set.extend(keys),
                }
            }
            (
                LinkCommand::Subscription { keys, .. },
                Err(StreamError::Code {
                    code: codes::REACHED_SYMBOL_LIMIT,
                    msg,
                    ..
                }),
            ) => {
                let attempted =
                    self.subscribed.values().map(BTreeSet::len).sum::<usize>() + keys.len();
                let lowered = plan::shrink_budget(attempted.min(self.budget));
                warn!(attempted, lowered, %msg, "Schwab refused more symbols (code 19); lowering the key budget");
                self.budget = lowered;
                self.budget_refused = Some((attempted, lowered));
            }
            (
                LinkCommand::Subscription { .. },
                Err(StreamError::Code {
                    code: codes::STREAM_CONN_NOT_FOUND,
                    ..
                }),
            ) if !self.relogged => {
                self.relogged = true;
                warn!("Schwab lost the streamer session (code 20); logging in again");
                if let Some(l) = link.as_ref() {
                    l.send(LinkCommand::Relogin);
                    self.in_flight = Some(LinkCommand::Relogin);
                }
                return;
            }
            (_, Err(StreamError::Code { code, msg, context }))
                if code != codes::STREAM_CONN_NOT_FOUND =>
            {
                // A refused command (11, 21–25…): keep the session, report, try again on the next change.
                warn!(code, %msg, %context, "Schwab refused a subscription command");
                self.status.set_error(Some(format!(
                    "Schwab refused {context} (code {code}): {msg}"
                )));
            }
            (_, Err(e)) => return self.drop_link(link, e).await,
        }
        self.pump(link);
    }

    /// What the link reports.
    async fn on_link_event(&mut self, ev: LinkEvent, link: &mut Option<Link>) {
        match ev {
            LinkEvent::Inbound(ev) => {
                if let Err(e) = self.on_inbound(ev) {
                    self.drop_link(link, e).await;
                }
            }
            LinkEvent::Done { command, result } => self.on_done(command, result, link).await,
            LinkEvent::Closed(e) => self.drop_link(link, e).await,
        }
    }

    fn publish_plan_notes(&mut self, p: &plan::Plan, connected: bool) {
        let streamed: usize = self.subscribed.values().map(BTreeSet::len).sum();
        if connected && matches!(self.status.state(), State::Live | State::Delayed) {
            let state = self.status.state();
            self.status.set(state, self.streaming_words());
        }
        let note = if !p.not_live.is_empty() || self.budget_refused.is_some() {
            let mut n = format!(
                "streaming {} of {} watched keys (key budget {}); the rest are REST pictures, not live",
                streamed, p.wanted, self.budget
            );
            if let Some((attempted, lowered)) = self.budget_refused {
                n.push_str(&format!(
                    "; Schwab refused {attempted} symbols (code 19), budget lowered to {lowered}"
                ));
            }
            Some(n)
        } else {
            None
        };
        self.status.set_budget_note(note);
    }

    /// `live` of every loaded contract: streamed now or not.
    fn publish_live_flags(&self) {
        let subscribed = self.subscribed.get(LEVELONE_OPTIONS);
        for (topic, c) in &self.chains {
            let rows: Items = c
                .contracts
                .iter()
                .map(|k| {
                    let live = subscribed.is_some_and(|s| s.contains(&k.symbol));
                    (
                        k.symbol.clone(),
                        [("live".to_string(), json!(live))].into_iter().collect(),
                    )
                })
                .collect();
            self.store.publish(topic, rows, vec![]);
        }
    }

    // ---- the session ---------------------------------------------------------------------------------------

    /// Starts a connection attempt as a task: token, user preferences, the websocket and LOGIN, so the loop goes
    /// on while it runs.
    fn start_connect(&mut self) -> JoinHandle<Result<Session, ConnectFailed>> {
        let (state, verb) = if self.ever_connected {
            (State::Reconnecting, "reconnecting to")
        } else {
            (State::Connecting, "connecting to")
        };
        self.status
            .set(state, format!("{verb} the Schwab streamer"));
        let (tokens, rest) = (self.tokens.clone(), self.rest.clone());
        let timeout = self.opts.timing.command_timeout;
        tokio::spawn(async move {
            let token = tokens.access_token().await.map_err(ConnectFailed::Token)?;
            let (info, permission) = match rest.user_preference().await {
                Ok(x) => x,
                Err(RestError::Auth(e)) => return Err(ConnectFailed::Token(e)),
                Err(e) => return Err(ConnectFailed::Retry(e.to_string())),
            };
            let mut s = Session::connect(&info, timeout)
                .await
                .map_err(|e| ConnectFailed::Retry(e.to_string()))?;
            let msg = s.login(&token).await.map_err(ConnectFailed::Stream)?;
            info!(server = %msg, market_data = permission.as_deref().unwrap_or("?"), url = %info.socket_url, "logged in to the Schwab streamer");
            Ok(s)
        })
    }

    /// The attempt's outcome: a link and the plan from nothing, or the failure handled.
    async fn on_connect_result(
        &mut self,
        r: Result<Session, ConnectFailed>,
        link: &mut Option<Link>,
    ) {
        let s = match r {
            Ok(s) => s,
            Err(ConnectFailed::Token(e)) => return self.token_failed(e),
            Err(ConnectFailed::Retry(e)) => return self.retry_later(e),
            Err(ConnectFailed::Stream(e)) => return self.after_failure(e).await,
        };
        self.subscribed.clear();
        self.streamed_quotes.clear();
        self.delayed_keys.retain(|k| k.starts_with("chain "));
        self.connected_at = Some(Instant::now());
        self.ever_connected = true;
        self.in_flight = None;
        self.relogged = false;
        *link = Some(Link::spawn(
            s,
            self.tokens.clone(),
            LinkTiming {
                ping_interval: self.opts.timing.ping_interval,
                stale_after: self.opts.timing.stale_after,
            },
        ));
        self.status.set_error(None);
        let state = if self.status.delayed() {
            State::Delayed
        } else {
            State::Live
        };
        self.status.set(state, self.streaming_words());
        self.pump(link);
    }

    /// "streaming 84 contracts and 3 underlyings".
    fn streaming_words(&self) -> String {
        let n = |svc| self.subscribed.get(svc).map_or(0, BTreeSet::len);
        format!(
            "streaming {} contracts and {} underlyings",
            n(LEVELONE_OPTIONS),
            n(LEVELONE_EQUITIES)
        )
    }

    /// The link failed: drop it, mark everything not live, decide what next.
    async fn drop_link(&mut self, link: &mut Option<Link>, e: StreamError) {
        *link = None;
        self.in_flight = None;
        self.subscribed.clear();
        self.publish_live_flags();
        if self
            .connected_at
            .take()
            .is_some_and(|t| t.elapsed() >= self.opts.timing.stable_after)
        {
            self.backoff.reset();
        }
        self.after_failure(e).await;
    }

    async fn after_failure(&mut self, e: StreamError) {
        let after = match &e {
            StreamError::Code { code: codes::LOGIN_DENIED, .. } => After::RefreshThenRetry,
            StreamError::Code { code: codes::CLOSE_CONNECTION, msg, .. } => After::Stop(format!(
                "another session took the Schwab connection (code 12: {msg}): stopped; restart the relay to take it back"
            )),
            StreamError::Code { code: codes::STOP_STREAMING, msg, .. } => {
                warn!(%msg, "Schwab stopped the stream (code 30); reconnecting and resubscribing");
                After::Retry
            }
            _ => After::Retry,
        };
        match after {
            After::Stop(words) => {
                error!("{words}");
                self.stopped = true;
                self.status.set_error(Some(e.to_string()));
                self.status.set(State::Stopped, words);
            }
            After::RefreshThenRetry => {
                warn!(error = %e, "Schwab denied the streamer login (code 3); refreshing the token");
                match self.tokens.refresh_now().await {
                    Ok(()) => self.retry_later(e.to_string()),
                    Err(te) => self.token_failed(te),
                }
            }
            After::Retry => {
                warn!(error = %e, "Schwab streamer connection lost");
                self.retry_later(e.to_string());
            }
        }
    }

    fn retry_later(&mut self, error: String) {
        let delay = Duration::from_millis(self.backoff.next_delay_ms(rand::random::<f64>()) as u64);
        self.next_connect = tokio::time::Instant::now() + delay;
        let state = if self.ever_connected {
            State::Reconnecting
        } else {
            State::Connecting
        };
        self.status.set_error(Some(error));
        self.status.set(
            state,
            format!(
                "reconnecting to the Schwab streamer in {:.1} s (attempt {})",
                delay.as_secs_f64(),
                self.backoff.attempt()
            ),
        );
    }

    fn token_failed(&mut self, e: AuthError) {
        match e {
            AuthError::Rejected { .. } | AuthError::File(_) => {
                let words = format!("Schwab refused the refresh token: {LOGIN_HINT}");
                error!(error = %e, "{words}");
                self.tokens_lapsed = true;
                self.status.set_error(Some(e.to_string()));
                self.status.set(State::Error, words);
            }
            other => self.retry_later(other.to_string()),
        }
    }

    /// The token timer: refresh when due; while the refresh token is refused, look for a new token file.
    /// False if a refresh failed and should be retried soon.
    async fn on_token_timer(&mut self) -> bool {
        if self.tokens_lapsed {
            if self.tokens.reload().await {
                info!("new Schwab login found in the token file");
                self.tokens_lapsed = false;
                self.status.set_error(None);
                if self.connected_at.is_some() {
                    // The stream outlived the old token; it carries on.
                    let state = if self.status.delayed() {
                        State::Delayed
                    } else {
                        State::Live
                    };
                    self.status.set(state, self.streaming_words());
                } else {
                    self.next_connect = tokio::time::Instant::now();
                }
            }
            self.check_token_health().await;
            return true;
        }
        let ok = match self.tokens.refresh_if_due().await {
            Ok(_) => true,
            Err(e @ AuthError::Rejected { .. }) => {
                self.token_failed(e);
                true
            }
            Err(e) => {
                warn!(error = %e, "refreshing the Schwab access token failed; will retry");
                self.status.set_error(Some(e.to_string()));
                false
            }
        };
        self.check_token_health().await;
        ok
    }

    async fn check_token_health(&mut self) {
        let advice = self.tokens.health().await.advice();
        if let Some(a) = &advice {
            if matches!(self.opts.auth, Auth::App { .. }) {
                warn!("{a}");
            }
        }
        // The simulator's tokens never lapse in a way a user must act on.
        if matches!(self.opts.auth, Auth::App { .. }) {
            self.status.set_token_note(advice);
        }
    }

    // ---- inbound -------------------------------------------------------------------------------------------

    fn on_inbound(&mut self, ev: Inbound) -> Result<(), StreamError> {
        self.status.message_seen();
        match ev {
            Inbound::Heartbeat(_) => Ok(()),
            Inbound::Response(r) => {
                debug!(requestid = %r.requestid, code = r.code, "unmatched Schwab response ignored");
                Ok(())
            }
            Inbound::Notice { code: 0, .. } => Ok(()),
            Inbound::Notice { code, msg, service } => Err(StreamError::Code {
                code,
                msg,
                context: format!("a {service} notice"),
            }),
            Inbound::Data {
                service,
                timestamp,
                items,
            } => {
                let ts = timestamp.unwrap_or_else(wall_ms);
                match service.as_str() {
                    LEVELONE_OPTIONS => self.on_option_items(items, ts),
                    LEVELONE_EQUITIES => self.on_equity_items(items, ts),
                    other => debug!(service = other, "data for a service not used; ignored"),
                }
                Ok(())
            }
        }
    }

    fn note_delayed(&mut self, key: &str, delayed: Option<bool>) {
        match delayed {
            Some(true) => {
                self.delayed_keys.insert(key.to_string());
            }
            Some(false) => {
                self.delayed_keys.remove(key);
            }
            None => return,
        }
        self.status.set_delayed(!self.delayed_keys.is_empty());
    }

    /// Options: only the fields each item carries (a missing field is unchanged), grouped per chain topic.
    fn on_option_items(&mut self, items: Vec<DataItem>, ts: i64) {
        let mut by_topic: HashMap<String, Items> = HashMap::new();
        for item in items {
            let subscribed = self
                .subscribed
                .get(LEVELONE_OPTIONS)
                .is_some_and(|s| s.contains(&item.key));
            let Some(topic) = self
                .key_topic
                .get(&item.key)
                .filter(|_| subscribed)
                .cloned()
            else {
                // Data for a key just unsubscribed can still trickle in.
                continue;
            };
            self.note_delayed(&item.key, item.delayed);
            let mut row: Fields = item
                .fields
                .iter()
                .filter_map(|(id, v)| fields::map_field(LEVELONE_OPTIONS, id, v))
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            row.insert("ts".into(), json!(ts));
            row.insert("live".into(), json!(true));
            by_topic.entry(topic).or_default().insert(item.key, row);
        }
        for (topic, rows) in by_topic {
            self.store.publish(&topic, rows, vec![]);
        }
    }

    fn on_equity_items(&mut self, items: Vec<DataItem>, ts: i64) {
        let mut rows = Items::new();
        for item in items {
            if !self
                .subscribed
                .get(LEVELONE_EQUITIES)
                .is_some_and(|s| s.contains(&item.key))
            {
                continue;
            }
            self.note_delayed(&item.key, item.delayed);
            let mut row: Fields = item
                .fields
                .iter()
                .filter_map(|(id, v)| fields::map_field(LEVELONE_EQUITIES, id, v))
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            row.insert("ts".into(), json!(ts));
            if let Some(d) = item.delayed {
                row.insert("delayed".into(), json!(d));
            }
            self.streamed_quotes.insert(item.key.clone());
            rows.insert(item.key, row);
        }
        if !rows.is_empty() {
            self.store.publish(QUOTES_TOPIC, rows, vec![]);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn settings_reach_the_chain_filter() {
        let mut cfg = crate::config::ServeConfig::defaults().schwab;
        cfg.min_oi = 100;
        cfg.strike_window = 0;
        cfg.max_dte = 7;
        let f = super::Options::from_config(&cfg, Clock::wall()).filter;
        assert_eq!(
            (f.min_open_interest, f.strike_window, f.max_dte),
            (100, None, 7)
        );
        let d = super::Options::from_config(
            &crate::config::ServeConfig::defaults().schwab,
            Clock::wall(),
        )
        .filter;
        assert_eq!(d, crate::schwab::chain::ChainFilter::default());
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
