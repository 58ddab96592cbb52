//! Binance: crypto prices and 1-minute bars from Binance's public market data (no account, no key), or from the
//! built-in simulator (crate `tickdesk-binance-sim`) that speaks the same formats on loopback.
//!
//! One module per responsibility:
//! - [`mode`]: `auto` / `real` / `sim` / `off` and the probe that settles `auto`;
//! - [`payload`]: stream messages and URLs (pure);
//! - [`book`]: the latest quote per symbol and the bar windows, each update applied once, written coalesced (pure);
//! - [`bucket`]: the send path's token bucket (pure);
//! - [`link`]: one stream connection in its own task (pongs, the bucket, silence);
//! - [`link_state`]: the link's state machine (make-before-break, backoff, 451, REST fallback; pure);
//! - [`rest`]: `exchangeInfo`, klines, the polled tickers;
//! - [`status`]: the `binance` item of the `status` topic;
//! - [`upstream`]: the I/O loop that performs the machine's actions (links, REST calls, store writes).
//!
//! # Topics
//!
//! | topic | items | fields |
//! |---|---|---|
//! | `crypto` | one per symbol, keyed by the upper-case symbol (`BTCUSDT`) | `last`, `bid`, `ask`, `change_pct` (24 h, %), `volume` (24 h, base asset), `ts` (ms, Binance's event time of the latest update), `stale` (bool: nothing for `TICKDESK_BINANCE_STALE_MS`) |
//! | `bars:{SYMBOL}` (`bars:BTCUSDT`) | one per 1-minute bar, keyed by its start in ms ([`tickdesk_wire::bars::Bar`]) | `t`, `o`, `h`, `l`, `c`, `v`; REST history first (the last `TICKDESK_BINANCE_BARS`), then `kline_1m` updating the current bar in place; the oldest bar leaves as a new one comes |
//! | `status` | `binance` | see [`status`] |

pub mod book;
pub mod bucket;
pub mod config;
pub mod link;
pub mod link_state;
pub mod mode;
pub mod payload;
pub mod rest;
pub mod status;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::BinanceConfig;
pub use mode::{Mode, Plan};
use tickdesk_hub::broker::Publisher;
use tickdesk_hub::source::{Running, Source, Sources};
use tickdesk_wire::topics;
pub use upstream::Options;

/// A built-in simulator's running task.
pub type SimTask = JoinHandle<anyhow::Result<()>>;

/// Starts the built-in Binance simulator on a bound loopback listener, with the run's seed, until the flag turns
/// true; returns its stream base, REST base and task. The relay hands in the simulator crate's `start`, so the
/// source itself needs no simulator to build.
pub type StartSimulator = Box<
    dyn FnOnce(
            TcpListener,
            Option<u64>,
            watch::Receiver<bool>,
        ) -> anyhow::Result<(String, String, SimTask)>
        + Send,
>;

/// Starts the Binance source with the relay's settings (`None` when it is off). Its topics (`crypto` and each
/// symbol's `bars:`) and its status item exist when this returns, so no browser can subscribe before the relay
/// knows them. Runs until `shutdown` turns true; a built-in simulator it started (with `simulator`, when `auto`
/// cannot reach Binance or the mode is `sim`) stops with it.
pub fn spawn(
    store: Arc<dyn Publisher>,
    cfg: BinanceConfig,
    seed: Option<u64>,
    simulator: StartSimulator,
    shutdown: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    let plan = mode::plan(cfg.mode, &cfg.ws, &cfg.rest);
    // The topic exists even when off, empty, so a desk that watches it is told "nothing here", not "no such topic".
    store.ensure_topic(topics::CRYPTO);
    if plan == Plan::Off {
        info!("Binance is off (TICKDESK_BINANCE=off)");
        return None;
    }
    let symbols = topics::normalise_symbols(&cfg.symbols);
    for s in &symbols {
        store.ensure_topic(&topics::Topic::Bars(s.clone()).to_string());
    }
    let mut status = status::Status::new(store.clone(), Duration::from_secs(1));
    Some(tokio::spawn(async move {
        if let Plan::Probe { rest, .. } = &plan {
            status.set(
                status::State::Connecting,
                format!("auto: trying {rest} (the built-in simulator if it does not answer)"),
            );
        }
        let (ws, rest, simulated, sim_task) =
            match resolve(plan, &cfg, seed, simulator, shutdown.clone()).await {
                Ok(r) => r,
                Err(e) => {
                    warn!(error = %e, "binance: the built-in simulator did not start");
                    return;
                }
            };
        let opts = Options {
            symbols,
            ws,
            rest,
            simulated,
            rotate_after: Duration::from_millis(cfg.rotate_ms.max(100)),
            silent_after: Duration::from_millis(cfg.silent_ms.max(50)),
            stale_after: Duration::from_millis(cfg.stale_ms.max(50)),
            poll_every: Duration::from_millis(cfg.poll_ms.max(100)),
            restricted_retry: Duration::from_millis(cfg.restricted_retry_ms.max(100)),
            backoff_max: Duration::from_millis(cfg.backoff_max_ms.max(500)),
            bars: cfg.bars.max(1),
            url_streams: cfg.url_streams,
            flush_every: Duration::from_millis(250),
        };
        upstream::run(store, opts, status, shutdown).await;
        if let Some(task) = sim_task {
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
    }))
}

/// The Binance source as a [`Source`]: its settings, the run's seed, and how to start its built-in simulator.
pub struct Binance {
    pub cfg: BinanceConfig,
    pub seed: Option<u64>,
    pub simulator: StartSimulator,
}

impl std::fmt::Debug for Binance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binance")
            .field("cfg", &self.cfg)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl Source for Binance {
    fn name(&self) -> &'static str {
        status::SOURCE
    }

    fn start(self, with: &Sources) -> Option<Running> {
        let name = self.name();
        spawn(
            with.publisher.clone(),
            self.cfg,
            self.seed,
            self.simulator,
            with.shutdown.clone(),
        )
        .map(|task| Running::new(name, task))
    }
}

/// The endpoints to use: the configured ones, or a built-in simulator started here (with why).
async fn resolve(
    plan: Plan,
    cfg: &BinanceConfig,
    seed: Option<u64>,
    simulator: StartSimulator,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(String, String, Option<String>, Option<SimTask>)> {
    let reason = match plan {
        Plan::Off | Plan::Endpoints { .. } => {
            return Ok((cfg.ws.clone(), cfg.rest.clone(), None, None));
        }
        Plan::BuiltIn { reason } => reason,
        Plan::Probe { ws, rest } => {
            match mode::probe(&rest, Duration::from_millis(cfg.probe_ms.max(100))).await {
                None => {
                    info!(%rest, "binance: reachable; streaming from {ws}");
                    return Ok((ws, rest, None, None));
                }
                Some(why) => format!("auto: {why}"),
            }
        }
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let (ws, rest, task) = simulator(listener, seed, shutdown)?;
    info!(%reason, "binance: using the built-in Binance simulator at {rest}");
    Ok((ws, rest, Some(reason), Some(task)))
}
