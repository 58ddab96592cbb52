//! The simulated rates desk: a drifting yield curve, a book of Treasuries and swaps priced off it, DV01 and PnL
//! that add up, published as the `curve`, `spreads`, `positions` and `pnl` topics.
//!
//! One module per concern, all pure but this one:
//! - [`curve`]: the Nelson–Siegel factor model and its mean-reverting factors;
//! - [`pricing`]: discounting (continuously compounded zero curve), Treasuries, swaps, price ↔ yield;
//! - [`book`]: positions, DV01 and key-rate DV01 by bumping, the default book;
//! - [`pnl`]: day/total PnL per position, bucket and total in integer cents, and the PnL explain;
//! - [`rows`]: all of it as topic rows, rounded to display precision;
//! - [`desk`]: the simulation state, stepped once per tick.
//!
//! This module owns the clock and the random numbers and hands each tick's rows to the store, every topic of a
//! tick from the same curve and back to back. REST views read the same store, so a REST answer and the stream
//! agree at the same seq. A seed makes the whole day repeat: curve path, trades, PnL.
//!
//! # Topics
//! | topic | items | fields |
//! |---|---|---|
//! | `curve` | tenor (`1M` … `30Y`) | `tenor`, `years`, `yield` (%, cont. comp. zero), `prior_close` (%), `chg_bp`, `ts` (ms) |
//! | `spreads` | `2s10s`, `5s30s`, `2s5s10s` | `bp`, `chg_bp` |
//! | `positions` | position id (`P001` …) | `id`, `kind` (`UST`/`IRS`), `description`, `bucket`, `maturity` (years), `notional` (signed $), `coupon` (%), `price` (clean per 100; `null` for swaps), `yield` (%: YTM or par swap rate), `mv`, `dv01`, `dv01_buckets` ({tenor: $/bp}), `day_pnl`, `total_pnl` |
//! | `pnl` | `total`, `bucket:<tenor>` | `bucket`, `positions`, `day_pnl`, `total_pnl`, `realized_pnl`, `explain_pnl`, `residual`, `dv01`, `key_dv01` |

pub mod book;
pub mod config;
pub mod curve;
pub mod desk;
pub mod pnl;
pub mod pricing;
pub mod rows;

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tickdesk_market::zone::et_date;
use tickdesk_market::Clock;
use tickdesk_wire::topics;
use tokio::sync::watch;

use book::PositionSpec;
use desk::{Desk, TickOutput};
use tickdesk_hub::broker::Publisher;
use tickdesk_hub::source::{Running, Source, Sources};
use tickdesk_hub::status::SourceStatus;

/// How the simulation runs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub tick: Duration,
    pub seed: Option<u64>,
    /// Simulated years per tick. A real day is 1/252 years; the demo runs the market faster so it visibly moves.
    pub dt_years: f64,
    /// Simulated years between the prior close and the open (the overnight gap).
    pub overnight_years: f64,
    /// Expected client trades per minute of wall-clock time (each tick trades with the matching probability).
    pub trades_per_minute: f64,
    /// Trades kept on the `trades` topic (the relay's `TICKDESK_EVENT_HISTORY`).
    pub trade_history: usize,
    /// The most positions the book holds; past it, trades unwind today's oldest ticket.
    pub max_positions: usize,
    /// The as-of year, for naming bonds by maturity year (`UST 4.25% 2035`). Valuation itself counts years from
    /// the as-of date, so this changes names only.
    pub as_of_year: i32,
    /// The book at the prior close.
    pub book: Vec<PositionSpec>,
}

impl SimConfig {
    pub fn new(tick_ms: u64, seed: Option<u64>) -> Self {
        SimConfig {
            tick: Duration::from_millis(tick_ms.max(10)),
            seed,
            dt_years: 1.0 / 252.0 / 400.0,
            overnight_years: 0.5 / 252.0,
            trades_per_minute: 3.0,
            trade_history: 500,
            max_positions: 40,
            // Names only; `run` sets it from the market clock.
            as_of_year: 2026,
            book: book::default_book(),
        }
    }
}

/// The New York calendar year of a Unix time in ms.
fn year_of(ms: i64) -> i32 {
    tickdesk_market::zone::et_date(ms).ymd().0
}

/// Hands one tick's rows to the store: the curve first, then what is priced off it.
fn publish(store: &dyn Publisher, out: TickOutput) {
    if !out.curve.is_empty() {
        store.publish(topics::CURVE, out.curve, vec![]);
    }
    if !out.spreads.is_empty() {
        store.publish(topics::SPREADS, out.spreads, vec![]);
    }
    if !out.positions.is_empty() || !out.closed.is_empty() {
        store.publish(topics::POSITIONS, out.positions, out.closed);
    }
    if !out.pnl.is_empty() {
        store.publish(topics::PNL, out.pnl, vec![]);
    }
}

/// Ticks the desk into the store until shutdown. The desk rolls to a new prior close when the market clock's New
/// York date changes.
pub async fn run(
    store: Arc<dyn Publisher>,
    cfg: SimConfig,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut rng = match cfg.seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_os_rng(),
    };
    let cfg = SimConfig {
        as_of_year: year_of(clock.now_ms()),
        ..cfg
    };
    let mut desk = Desk::new(&cfg, &mut rng);
    publish(&*store, desk.open(clock.now_ms_u64()));
    let mut today = et_date(clock.now_ms());
    let mut tick = tokio::time::interval(cfg.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tick.tick() => {
                let now = clock.now_ms();
                if et_date(now) != today {
                    today = et_date(now);
                    tracing::info!(%today, "rates desk: day roll, today's close is the new prior close");
                    publish(&*store, desk.roll_day(clock.now_ms_u64()));
                    continue;
                }
                let out = desk.step(&mut rng, clock.now_ms_u64());
                if let Some(t) = &out.trade {
                    tracing::debug!(symbol = %t.symbol, side = t.side, quantity = t.quantity, price = t.price,
                        position = %t.position, unwind = t.unwind, "rates desk trade");
                    // The desk's own tickets go on the trades tape beside what bots publish.
                    let mut fields = t.fields();
                    fields.insert("source".into(), serde_json::json!("rates desk"));
                    store.append(topics::TRADES, fields, cfg.trade_history);
                }
                publish(&*store, out);
            }
        }
    }
}

/// The rates desk as a [`Source`]: its topics and its `rates` status item exist once started.
#[derive(Debug, Clone)]
pub struct RatesDesk(pub SimConfig);

impl Source for RatesDesk {
    fn name(&self) -> &'static str {
        "rates"
    }

    fn start(self, with: &Sources) -> Option<Running> {
        let p = &with.publisher;
        for topic in [
            topics::CURVE,
            topics::SPREADS,
            topics::POSITIONS,
            topics::PNL,
        ] {
            p.ensure_topic(topic);
        }
        SourceStatus::new(
            self.name(),
            "live",
            tickdesk_market::clock::wall_ms(),
            "simulated rates desk",
        )
        .publish(&**p);
        let name = self.name();
        let task = tokio::spawn(run(
            p.clone(),
            self.0,
            with.clock.clone(),
            with.shutdown.clone(),
        ));
        Some(Running::new(name, task))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve::NelsonSiegel;
    use desk::normal;

    #[test]
    fn same_seed_same_path() {
        let path = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut m = NelsonSiegel::default();
            (0..50)
                .map(|_| {
                    m.step(0.01, [normal(&mut rng), normal(&mut rng), normal(&mut rng)]);
                    m.curve()[8]
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(path(7), path(7));
        assert_ne!(path(7), path(8));
    }

    #[test]
    fn the_calendar_year_is_right_across_new_year() {
        // New York's new year: 2025-01-01T04:59:59Z is still 2024 there, 05:00:00Z is 2025.
        assert_eq!(year_of(1_735_707_599_000), 2024);
        assert_eq!(year_of(1_735_707_600_000), 2025);
        // 2028-02-29T12:00:00Z (a leap day).
        assert_eq!(year_of(1_835_438_400_000), 2028);
    }

    #[tokio::test]
    async fn run_publishes_every_topic_from_the_first_tick() {
        let store = Arc::new(tickdesk_hub::memory::MemoryBroker::new(64, 256));
        let (tx, rx) = watch::channel(false);
        let clock = Clock::starting_at(tickdesk_market::Date::from_ymd(2026, 12, 2).at_et(10, 0));
        store.ensure_topic(topics::CURVE);
        let mut curve = store.subscribe(topics::CURVE).unwrap();
        let task = tokio::spawn(run(store.clone(), SimConfig::new(10, Some(1)), clock, rx));
        // The first tick and one after it, waited for (not slept on): a stalled desk fails here.
        for tick in ["first", "second"] {
            tokio::time::timeout(Duration::from_secs(10), curve.recv())
                .await
                .unwrap_or_else(|_| panic!("no {tick} curve tick within 10 s"))
                .expect("the curve's channel is open");
        }
        let _ = tx.send(true);
        task.await.unwrap();
        let counts: Vec<usize> = [
            topics::CURVE,
            topics::SPREADS,
            topics::POSITIONS,
            topics::PNL,
        ]
        .iter()
        .map(|t| store.snapshot(t).map_or(0, |s| s.items.len()))
        .collect();
        assert_eq!(counts[..2], [11, 3]);
        assert!(counts[2] >= book::default_book().len());
        assert_eq!(counts[3], 12);
        assert!(store.snapshot(topics::CURVE).unwrap().seq > 1, "it ticks");
    }
}
