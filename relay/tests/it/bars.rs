//! `bars:{SYMBOL}` from Schwab, against the built-in simulator on loopback: the first picture from pricehistory,
//! the current minute moving in place with the streamed last price, each completed minute from `CHART_EQUITY`, the
//! minutes missed during an outage backfilled, the key budget shared with the options, the window trimmed at the
//! day roll, an unknown symbol.
//!
//! The simulator and the client share one frozen market clock that the tests move by hand: a minute passes when
//! the test says so, never by waiting. Waits are polls with a deadline.

use crate::common;

use std::time::Duration;

use tickdesk_hub::broker::Event;
use tickdesk_market::{Clock, Date};
use tickdesk_schwab::{chain::ChainFilter, Auth, Options, Timing};
use tickdesk_schwab_sim::SimOptions;
use tickdesk_testkit::{eventually, SchwabSim};
use tickdesk_wire::bars::Bar;

/// What these tests read of the Schwab simulator's market.
trait SimMarket {
    /// The simulator's recorded bar of `symbol` starting at `t`.
    fn bar(&self, symbol: &str, t: i64) -> Option<Bar>;
    fn last(&self, symbol: &str) -> f64;
}

impl SimMarket for SchwabSim {
    fn bar(&self, symbol: &str, t: i64) -> Option<Bar> {
        self.handle.with_market(|m| {
            m.underlying(symbol)?
                .bars
                .iter()
                .find(|b| b.t == t)
                .copied()
        })
    }

    fn last(&self, symbol: &str) -> f64 {
        self.handle
            .with_market(|m| m.underlying(symbol).unwrap().last)
    }
}

/// A Schwab simulator on `clock` (frozen: the tests move it), seeded, with fast ticks and heartbeats.
async fn start_sim(clock: &Clock) -> SchwabSim {
    SchwabSim::start(SimOptions {
        clock: clock.clone(),
        seed: Some(7),
        tick_ms: 40,
        heartbeat: Duration::from_millis(300),
        ..SimOptions::default()
    })
    .await
}

/// The Schwab source under test, with this module's readings of its topics.
struct Client(common::SchwabSource);

impl std::ops::Deref for Client {
    type Target = common::SchwabSource;

    fn deref(&self) -> &common::SchwabSource {
        &self.0
    }
}

impl Client {
    fn start(sim: &SchwabSim, clock: &Clock, symbols: &[&str], key_budget: usize) -> Client {
        Self::start_with_foreign(sim, clock, symbols, key_budget, &[])
    }

    /// `foreign`: symbols whose bars another source (Binance) publishes.
    fn start_with_foreign(
        sim: &SchwabSim,
        clock: &Clock,
        symbols: &[&str],
        key_budget: usize,
        foreign: &[&str],
    ) -> Client {
        Self::start_full(sim, clock, symbols, key_budget, foreign, None)
    }

    /// `unknown_cooldown`: how long an unknown symbol is not asked again (the default's minutes when `None`).
    fn start_full(
        sim: &SchwabSim,
        clock: &Clock,
        symbols: &[&str],
        key_budget: usize,
        foreign: &[&str],
        unknown_cooldown: Option<Duration>,
    ) -> Client {
        let opts = Options {
            api: sim.handle.base_url(),
            auth: Auth::Simulator,
            symbols: symbols.iter().map(|s| s.to_string()).collect(),
            key_budget,
            filter: ChainFilter {
                strike_window: Some(4),
                ..ChainFilter::default()
            },
            held_expiries: 0,
            rest_per_window: 120,
            bars_sessions: 2,
            foreign_bars: foreign.iter().map(|s| s.to_string()).collect(),
            timing: Timing {
                unknown_cooldown: unknown_cooldown.unwrap_or(Timing::default().unknown_cooldown),
                ..common::fast_schwab_timing()
            },
            clock: clock.clone(),
        };
        Client(common::SchwabSource::start(opts))
    }

    /// The bars of a topic, in time order.
    fn bars(&self, topic: &str) -> Vec<Bar> {
        self.store
            .snapshot(topic)
            .map(|s| s.items.values().filter_map(Bar::from_fields).collect())
            .unwrap_or_default()
    }

    fn bar(&self, topic: &str, t: i64) -> Option<Bar> {
        self.store
            .snapshot(topic)
            .and_then(|s| s.items.get(&Bar::key(t)).and_then(Bar::from_fields))
    }

    async fn stop(self) {
        self.0.stop().await
    }
}

fn wed() -> Date {
    Date::from_ymd(2026, 12, 2)
}

/// Wednesday 2 December 2026 at hh:mm ET.
fn at(hh: i64, mm: i64) -> i64 {
    wed().at_et(hh, mm)
}

/// Waits for the first picture of `topic` and for its chart and equity to stream.
async fn loaded_and_live(c: &Client, sim: &SchwabSim, symbol: &str) -> Vec<Bar> {
    let topic = format!("bars:{symbol}");
    let bars = eventually("the first picture", 10, async || {
        let b = c.bars(&topic);
        (!b.is_empty()).then_some(b)
    })
    .await;
    eventually("the chart and the equity streamed", 10, async || {
        (sim.subs("CHART_EQUITY").contains(symbol)
            && sim.subs("LEVELONE_EQUITIES").contains(symbol))
        .then_some(())
    })
    .await;
    bars
}

#[tokio::test]
async fn history_then_the_current_minute_in_place_then_a_new_minute() {
    let clock = Clock::frozen(at(10, 15) + 30_000);
    let sim = start_sim(&clock).await;
    let c = Client::start(&sim, &clock, &[], 500);
    c.demand.add("bars:AAPL");
    let first = loaded_and_live(&c, &sim, "AAPL").await;
    // The current and the previous session, extended hours included: Tuesday 04:00–19:59, Wednesday 04:00–10:15.
    assert_eq!(
        first.first().unwrap().t,
        Date::from_ymd(2026, 12, 1).at_et(4, 0)
    );
    assert_eq!(first.last().unwrap().t, at(10, 15));
    assert_eq!(first.len(), 960 + 376);
    assert!(first.windows(2).all(|w| w[0].t < w[1].t));

    // The clock moves within the minute and the price with it (a small gap: the walk's own move over 10 s can round
    // to no change at all): the 10:15 bar follows the streamed last price, in place.
    clock.advance_ms(10_000);
    assert!(sim.handle.gap("AAPL", 1.002));
    let moved = eventually(
        "the current minute follows the last price",
        10,
        async || {
            let b = c.bar("bars:AAPL", at(10, 15))?;
            (b.c == sim.last("AAPL") && b != *first.last().unwrap()).then_some(b)
        },
    )
    .await;
    assert_eq!(
        c.bars("bars:AAPL").len(),
        first.len(),
        "in place, no new item"
    );
    assert!(moved.h >= moved.c && moved.l <= moved.c);

    // The minute ends: CHART_EQUITY's 10:15 is authoritative; the next tick opens 10:16 as one new item (a gap
    // makes sure there is one).
    clock.advance_ms(60_000);
    assert!(sim.handle.gap("AAPL", 0.998));
    eventually(
        "10:15 as the simulator completed it, 10:16 opened",
        10,
        async || {
            let done = sim.bar("AAPL", at(10, 15))?;
            (c.bar("bars:AAPL", at(10, 15)) == Some(done)
                && c.bar("bars:AAPL", at(10, 16))?.c == sim.last("AAPL"))
            .then_some(())
        },
    )
    .await;
    assert_eq!(c.bars("bars:AAPL").len(), first.len() + 1);
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn minutes_missed_during_an_outage_are_backfilled_from_pricehistory() {
    let clock = Clock::frozen(at(10, 15) + 30_000);
    let sim = start_sim(&clock).await;
    let c = Client::start(&sim, &clock, &[], 500);
    c.demand.add("bars:$SPX");
    loaded_and_live(&c, &sim, "$SPX").await;
    let calls = sim.handle.rest_call_times().len();
    // The stream goes down for a while and the market moves on five minutes meanwhile.
    sim.handle.drop_connections_for(Duration::from_millis(400));
    eventually("the socket is gone", 10, async || {
        (sim.handle.connections_open() == 0).then_some(())
    })
    .await;
    clock.advance_ms(5 * 60_000);
    // Back: 10:16–10:19 completed while nobody streamed (CHART_EQUITY sends only what completes after SUBS), so
    // only the backfill can bring them; they are the simulator's own bars.
    eventually(
        "10:16-10:19 backfilled as the simulator has them",
        15,
        async || {
            (16..20)
                .all(|m| {
                    let b = sim.bar("$SPX", at(10, m));
                    b.is_some() && c.bar("bars:$SPX", at(10, m)) == b
                })
                .then_some(())
        },
    )
    .await;
    eventually("10:20 moves live", 10, async || {
        (c.bar("bars:$SPX", at(10, 20))?.c == sim.last("$SPX")).then_some(())
    })
    .await;
    assert!(
        sim.handle.rest_call_times().len() > calls,
        "a pricehistory call after the outage"
    );
    let times: Vec<i64> = c.bars("bars:$SPX").iter().map(|b| b.t).collect();
    assert!(
        times.ends_with(&(15..=20).map(|m| at(10, m)).collect::<Vec<_>>()),
        "no hole"
    );
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn the_last_minute_held_before_a_short_outage_is_repaired_from_pricehistory() {
    let clock = Clock::frozen(at(10, 15) + 30_000);
    let sim = start_sim(&clock).await;
    let c = Client::start(&sim, &clock, &[], 500);
    c.demand.add("bars:$SPX");
    loaded_and_live(&c, &sim, "$SPX").await;
    sim.handle.drop_connections_for(Duration::from_millis(400));
    eventually("the socket is gone", 10, async || {
        (sim.handle.connections_open() == 0).then_some(())
    })
    .await;
    // The market trades on inside 10:15 while nobody streams: the relay's 10:15 misses those trades.
    let before = sim.bar("$SPX", at(10, 15)).unwrap();
    clock.advance_ms(15_000);
    eventually(
        "the simulator's 10:15 moved after the drop",
        10,
        async || (sim.bar("$SPX", at(10, 15))? != before).then_some(()),
    )
    .await;
    // Back at 10:16:20: no minute is missing, but 10:15 completed during the outage and CHART_EQUITY will not
    // send it again; only pricehistory can make it right.
    clock.advance_ms(35_000);
    let done = eventually("10:15 complete at the simulator", 10, async || {
        let b = sim.bar("$SPX", at(10, 16))?;
        (b.t == at(10, 16)).then_some(())?;
        sim.bar("$SPX", at(10, 15))
    })
    .await;
    eventually(
        "10:15 repaired as the simulator recorded it",
        15,
        async || (c.bar("bars:$SPX", at(10, 15)) == Some(done)).then_some(()),
    )
    .await;
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn chart_keys_share_the_key_budget_with_the_options() {
    let clock = Clock::frozen(at(11, 0));
    let sim = start_sim(&clock).await;
    // Two keys: SPY's and AAPL's quotes. AAPL's chart and SPY's contracts are out.
    let c = Client::start(&sim, &clock, &["SPY"], 2);
    c.demand.add("bars:AAPL");
    eventually(
        "bars loaded, the status says they are not live",
        10,
        async || {
            let note = c.status().get("detail")?.as_str()?.to_string();
            (!c.bars("bars:AAPL").is_empty()
                && note.contains("bars not live")
                && note.contains("AAPL"))
            .then_some(())
        },
    )
    .await;
    eventually("both quotes stream", 10, async || {
        (sim.subs("LEVELONE_EQUITIES") == ["AAPL".to_string(), "SPY".to_string()].into())
            .then_some(())
    })
    .await;
    assert!(sim.subs("CHART_EQUITY").is_empty());
    assert!(sim.subs("LEVELONE_OPTIONS").is_empty());
    c.stop().await;

    // Three keys: the chart streams, before any contract.
    let c = Client::start(&sim, &clock, &["SPY"], 3);
    c.demand.add("bars:AAPL");
    eventually("the chart streams within the budget", 10, async || {
        (sim.subs("CHART_EQUITY") == ["AAPL".to_string()].into()).then_some(())
    })
    .await;
    assert!(
        sim.subs("LEVELONE_OPTIONS").is_empty(),
        "contracts come after charts"
    );
    eventually(
        "the status no longer says the bars are not live",
        10,
        async || {
            let note = c.status().get("detail")?.as_str()?.to_string();
            (!note.contains("bars not live")).then_some(())
        },
    )
    .await;
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn the_day_roll_trims_the_window_and_an_unwatched_topic_is_emptied() {
    let clock = Clock::frozen(at(19, 58));
    let sim = start_sim(&clock).await;
    let c = Client::start(&sim, &clock, &[], 500);
    c.demand.add("bars:SPY");
    let first = loaded_and_live(&c, &sim, "SPY").await;
    let tue = Date::from_ymd(2026, 12, 1);
    assert_eq!(first.first().unwrap().t, tue.at_et(4, 0));
    let epoch = c.store.snapshot("bars:SPY").unwrap().epoch;
    // Thursday just after midnight: the window is Wednesday and Thursday; Tuesday's bars are deleted.
    clock.set(Date::from_ymd(2026, 12, 3).at_et(0, 5));
    let after = eventually("Tuesday trimmed", 10, async || {
        let b = c.bars("bars:SPY");
        (b.first()?.t >= at(4, 0)).then_some(b)
    })
    .await;
    assert_eq!(after.first().unwrap().t, at(4, 0));
    assert!(
        first
            .iter()
            .filter(|b| b.t >= at(4, 0))
            .all(|b| after.iter().any(|a| a.t == b.t)),
        "only Tuesday went"
    );
    assert_eq!(
        c.store.snapshot("bars:SPY").unwrap().epoch,
        epoch,
        "deletions in the same epoch, not a new snapshot"
    );
    // No browser watches it any more: emptied, the chart and quote unsubscribed (nothing else wants them).
    c.demand.remove("bars:SPY");
    eventually("emptied", 10, async || {
        c.bars("bars:SPY").is_empty().then_some(())
    })
    .await;
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn an_unknown_symbol_gets_the_unknown_symbol_error() {
    let clock = Clock::frozen(at(11, 0));
    let sim = start_sim(&clock).await;
    let c = Client::start(&sim, &clock, &[], 500);
    let topic = "bars:NOPE";
    c.store.ensure_topic(topic);
    let mut rx = c.store.subscribe(topic).unwrap();
    c.demand.add(topic);
    let notice = common::next_notice(&mut rx, 10, "an unknown_symbol notice").await;
    assert_eq!(notice.0, tickdesk_wire::ErrorCode::UnknownSymbol);
    assert!(notice.1.contains("NOPE"), "{}", notice.1);
    assert!(c.bars(topic).is_empty());
    assert_eq!(
        c.status()["error"].as_str().map(|e| e.contains("NOPE")),
        Some(true)
    );
    // It takes no streamer key: a symbol that trades, watched after it, gets its chart and quote; NOPE none.
    c.demand.add("bars:AAPL");
    loaded_and_live(&c, &sim, "AAPL").await;
    eventually("NOPE holds no key", 10, async || {
        (!sim.subs("CHART_EQUITY").contains("NOPE")
            && !sim.subs("LEVELONE_EQUITIES").contains("NOPE"))
        .then_some(())
    })
    .await;
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn an_unknown_symbol_still_watched_is_asked_again_after_the_cool_down() {
    let clock = Clock::frozen(at(11, 0));
    let sim = start_sim(&clock).await;
    let cool_down = Duration::from_millis(300);
    let c = Client::start_full(&sim, &clock, &[], 500, &[], Some(cool_down));
    let topic = "bars:NOPE";
    c.store.ensure_topic(topic);
    let mut rx = c.store.subscribe(topic).unwrap();
    c.demand.add(topic);
    // One notice per verdict: the second comes only from asking pricehistory again once the cool-down passed.
    let what = "asked again after the cool-down: a second unknown_symbol notice";
    for _ in 0..2 {
        let (code, _) = common::next_notice(&mut rx, 10, what).await;
        assert_eq!(code, tickdesk_wire::ErrorCode::UnknownSymbol);
    }
    // The simulator's record of the market-data calls (with no start symbols, the only ones are NOPE's
    // pricehistory): the verdict's call, then the second, not before the cool-down had passed.
    let calls = sim.handle.rest_call_times();
    assert!(calls.len() >= 2, "pricehistory asked twice: {calls:?}");
    let spacing = calls[1] - calls[0];
    assert!(
        spacing >= cool_down,
        "asked again {spacing:?} after the first answer, within the {cool_down:?} cool-down"
    );
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn bars_another_source_publishes_are_left_to_it() {
    let clock = Clock::frozen(at(11, 0));
    let sim = start_sim(&clock).await;
    let c = Client::start_with_foreign(&sim, &clock, &[], 500, &["BTCUSDT"]);
    // Binance's topic, as its source writes it at start.
    let crypto = "bars:BTCUSDT";
    let planted = Bar {
        t: 1_764_590_400_000,
        o: 1.0,
        h: 2.0,
        l: 0.5,
        c: 1.5,
        v: 10.0,
    };
    c.store.reset(
        crypto,
        [(Bar::key(planted.t), planted.to_fields())]
            .into_iter()
            .collect(),
    );
    let mut crypto_rx = c.store.subscribe(crypto).unwrap();
    c.demand.add(crypto);
    // A symbol Schwab does not know, asked after it: once its error is out, the demand has been handled.
    let unknown = "bars:NOPE";
    c.store.ensure_topic(unknown);
    let mut rx = c.store.subscribe(unknown).unwrap();
    c.demand.add(unknown);
    common::next_notice(&mut rx, 10, "NOPE's unknown_symbol notice").await;
    assert_eq!(
        c.bars(crypto),
        vec![planted],
        "Schwab left Binance's bars alone"
    );
    while let Ok(ev) = crypto_rx.try_recv() {
        assert!(
            !matches!(&*ev, Event::Notice { .. }),
            "no error for a Binance symbol"
        );
    }
    let subs = sim.handle.subscriptions();
    assert!(
        !subs.values().flatten().any(|k| k == "BTCUSDT"),
        "no Schwab key for a Binance symbol: {subs:?}"
    );
    c.stop().await;
    sim.stop().await;
}
