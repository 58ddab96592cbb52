//! Schwab options: the Trader API client (OAuth, REST chain, streamer session). The simulator that speaks the
//! same protocol on loopback is its own crate (`tickdesk-schwab-sim`); the field tables they share are in
//! `tickdesk-schwab-proto`.
//!
//! One module per responsibility:
//! - [`token`]: the token file (schwab-py's format, atomic 0600 writes) and expiry maths;
//! - [`auth`]: the OAuth code flow (`auth login`), refresh, and the [`auth::TokenManager`];
//! - [`rest`]: user preferences, chains, expirations, quotes;
//! - [`budget`]: one budget for every market-data REST call, in priority order, stopped by a 429;
//! - [`bars`]: which `bars:` topics Schwab serves, pricehistory and `CHART_EQUITY` as bars (pure);
//! - [`chain`]: the chain model: parsing, filters (open interest, strike window, DTE), OSI symbols;
//! - [`plan`]: which keys to stream within the budget, and the ADD/UNSUBS that get there (pure);
//! - [`streamer`]: one streamer connection: LOGIN, one command at a time, defensive frame parsing;
//! - [`link`]: the logged-in session in a task of its own, so the orchestrator never waits on a round trip;
//! - [`status`]: the `schwab` item of the `status` topic;
//! - [`upstream`]: the orchestrator tying them together;
//!
//! # Topics
//!
//! | topic | items | fields |
//! |---|---|---|
//! | `chain:{UNDERLYING}:{YYYY-MM-DD}` (e.g. `chain:AAPL:2026-12-18`, `chain:$SPX:2026-11-21`) | one per contract, keyed by the 21-char OSI symbol exactly as Schwab sends it (`AAPL  261218C00230000`, padding spaces included) | `put_call` (`"C"`/`"P"`), `strike`, `expiry` (`"YYYY-MM-DD"`), `dte`, `bid`, `ask`, `last`, `mark`, `bid_size`, `ask_size`, `volume`, `open_interest`, `iv` (%), `delta`, `gamma`, `theta`, `vega`, `rho`, `itm` (bool), `live` (bool: streamed now, or only the REST picture), `ts` (ms of the last update). A value Schwab cannot compute (−999) is `null`. |
//! | `expirations:{UNDERLYING}` | one per expiry date `YYYY-MM-DD` within the DTE window | `date`, `dte`, `type` (Schwab's `expirationType`: `S`, `W`, `Q`…), `zero_dte` (bool) |
//! | `quotes` | one per underlying symbol (`AAPL`, `$SPX`) | `last`, `bid`, `ask`, `net_change`, `net_change_pct`, `mark`, `volume`, `ts` (ms), `delayed` (bool) |
//! | `bars:{SYMBOL}` (e.g. `bars:AAPL`, `bars:$SPX`) | one per 1-minute bar, keyed by its start in ms as decimal digits ([`tickdesk_wire::bars::Bar::key`]), within the current and previous sessions (extended hours; `TICKDESK_BARS_SESSIONS`) | `t` (the minute's start, ms), `o`, `h`, `l`, `c`, `v` |
//! | `status` | `schwab` | `source`, `state` (`connecting`, `live`, `reconnecting`, `delayed`, `stopped`, `error`), `since` (ms), `last_msg` (ms), `delayed` (bool), `detail` (words for a user), `error` (last error or `null`) |
//!
//! Chain and expirations topics are on demand: subscribing to one asks the relay to load it (the first picture
//! comes over REST as a fresh snapshot; the chain then streams `LEVELONE_OPTIONS` deltas carrying only what
//! changed). The start symbols' (`TICKDESK_SYMBOLS`) nearest expiry and expirations are loaded and streamed from
//! the start, before any browser connects. Which contracts a chain shows: open interest at least
//! [`chain::DEFAULT_MIN_OPEN_INTEREST`], [`chain::DEFAULT_STRIKE_WINDOW`] strikes either side of the money,
//! expiries within [`chain::DEFAULT_MIN_DTE`]–[`chain::DEFAULT_MAX_DTE`] days.
//!
//! `bars:` topics are on demand too: the first picture is minute pricehistory for the window (a fresh snapshot),
//! the current minute moves with the symbol's streamed `LEVELONE_EQUITIES` last price, each completed minute comes
//! from `CHART_EQUITY` (whose keys share the key budget with the contracts), minutes missed while the stream was
//! down are backfilled from pricehistory, and the day roll trims the window (`upstream/bars.rs`).

pub mod auth;
pub mod bars;
pub mod budget;
pub mod chain;
pub mod config;
pub mod link;
pub mod plan;
pub mod rest;
pub mod status;
pub mod streamer;
pub mod token;
pub mod upstream;

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::SchwabConfig;
use tickdesk_hub::broker::Publisher;
use tickdesk_hub::demand::Demand;
use tickdesk_hub::source::{Running, Source, Sources};

pub use auth::{login_interactive, sim_tokens};
pub use upstream::{Auth, Options, Timing};

use tickdesk_wire::topics::{BARS_PREFIX, CHAIN_PREFIX, EXPIRATIONS_PREFIX};

/// The Schwab source as a [`Source`]: the real Schwab with an app key, else the simulator named by `cfg.api`
/// (the relay starts its built-in one and points `api` at it).
#[derive(Debug, Clone)]
pub struct Schwab(pub SchwabConfig);

impl Source for Schwab {
    fn name(&self) -> &'static str {
        status::SOURCE
    }

    fn start(self, with: &Sources) -> Option<Running> {
        let task = spawn(
            with.publisher.clone(),
            with.demand.clone(),
            self.0,
            with.clock.clone(),
            with.shutdown.clone(),
        );
        Some(Running::new(status::SOURCE, task))
    }
}

/// Starts the Schwab client with the relay's settings: the real Schwab when an app key is set, else the built-in
/// simulator at `cfg.api` (tokens from its token endpoint, kept in memory). Runs until `shutdown` turns true.
pub fn spawn(
    store: Arc<dyn Publisher>,
    demand: Arc<Demand>,
    cfg: SchwabConfig,
    clock: tickdesk_market::Clock,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    spawn_with(store, demand, Options::from_config(&cfg, clock), shutdown)
}

/// Starts the Schwab client with explicit options (tests shorten the timings).
pub fn spawn_with(
    store: Arc<dyn Publisher>,
    demand: Arc<Demand>,
    opts: Options,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    // Registered here, synchronously, so that no browser can subscribe before the relay knows these topics.
    demand.allow_prefix(CHAIN_PREFIX);
    demand.allow_prefix(EXPIRATIONS_PREFIX);
    demand.allow_prefix(BARS_PREFIX);
    store.ensure_topic(tickdesk_wire::topics::QUOTES);
    tokio::spawn(upstream::run(store, demand, opts, shutdown))
}
