//! The Binance source against the Binance simulator on loopback: every duty (pongs, 5 messages a second,
//! backoff, make-before-break at the age limit and on `serverShutdown`, silence, 451, unknown symbols, the REST
//! fallback both ways), the topics (`crypto`, crypto `bars:`), memory under a trade burst, and `auto` falling back
//! to the built-in simulator. Nothing here reaches the internet: every URL is 127.0.0.1.

use crate::common;

use std::time::{Duration, Instant};

use common::{test_config, Relay};
use serde_json::Value;
use tickdesk_binance::Mode;
use tickdesk_binance_sim::SimOptions;
use tickdesk_relay::ServeConfig;
use tickdesk_testkit::{eventually, BinanceSim as Sim, Client};
use tickdesk_wire::ServerMsg;

/// Fast timers: a step every 20 ms, tickers and klines every 200 ms, a ping a second.
fn fast() -> SimOptions {
    SimOptions {
        seed: Some(7),
        tick_ms: 20,
        ticker_every: Duration::from_millis(200),
        ping_interval: Duration::from_secs(1),
        pong_timeout: Duration::from_secs(3),
        ..SimOptions::default()
    }
}

/// A relay whose Binance source (mode `real`) points at `sim`, with timers for tests; no rates noise.
fn config(sim: &Sim, symbols: &str) -> ServeConfig {
    let mut cfg = test_config();
    cfg.rates.tick_ms = 60_000;
    let b = &mut cfg.binance;
    b.mode = Mode::Real;
    b.ws = sim.handle.ws_url();
    b.rest = sim.handle.base_url();
    b.symbols = symbols.split(',').map(str::to_string).collect();
    b.silent_ms = 5_000;
    b.stale_ms = 10_000;
    b.poll_ms = 200;
    b.restricted_retry_ms = 1_000;
    b.backoff_max_ms = 1_000;
    b.bars = 100;
    cfg
}

async fn topic(relay: &Relay, name: &str) -> Value {
    let (status, body) = relay.get(&format!("/api/topic/{name}")).await;
    assert_eq!(status, 200, "{name}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn status(relay: &Relay) -> Value {
    topic(relay, "status").await["items"]["binance"].clone()
}

async fn wait_state(relay: &Relay, state: &str) -> Value {
    eventually(&format!("binance status {state:?}"), 20, async || {
        let s = status(relay).await;
        (s["state"] == state).then_some(s)
    })
    .await
}

/// Waits until every symbol's `crypto` row has a price, a bid and an ask; returns the topic.
async fn priced(relay: &Relay, symbols: &[&str]) -> Value {
    eventually("crypto rows priced", 20, async || {
        let t = topic(relay, "crypto").await;
        symbols
            .iter()
            .all(|s| {
                let r = &t["items"][*s];
                r["last"].is_number() && r["bid"].is_number() && r["ask"].is_number()
            })
            .then_some(t)
    })
    .await
}

fn ts(t: &Value, symbol: &str) -> i64 {
    t["items"][symbol]["ts"].as_i64().unwrap_or(0)
}

/// Waits until `symbol`'s row moves past `after` (a newer event time).
async fn moves_on(relay: &Relay, symbol: &str, after: i64) {
    eventually(&format!("{symbol} updates after {after}"), 20, async || {
        (ts(&topic(relay, "crypto").await, symbol) > after).then_some(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypto_rows_and_bars_history_then_live() {
    let sim = Sim::start(fast()).await;
    let relay = Relay::start(config(&sim, "btcusdt,ETHUSDT,SOLUSDT")).await;
    let t = priced(&relay, &["BTCUSDT", "ETHUSDT", "SOLUSDT"]).await;
    assert_eq!(t["items"].as_object().unwrap().len(), 3, "{t}");
    let row = &t["items"]["BTCUSDT"];
    let st = wait_state(&relay, "live").await;
    assert_eq!(
        st["simulated"], false,
        "an endpoint that was set is not 'simulated': {st}"
    );
    let row_again = eventually("24 h statistics", 20, async || {
        let r = topic(&relay, "crypto").await["items"]["BTCUSDT"].clone();
        (r["change_pct"].is_number() && r["volume"].is_number()).then_some(r)
    })
    .await;
    assert_eq!(row["stale"], false);
    assert!(
        row_again["bid"].as_f64() < row_again["ask"].as_f64(),
        "{row_again}"
    );

    // Bars: the REST history (100 bars) first, then kline_1m updating the current bar in place.
    let bars = topic(&relay, "bars:BTCUSDT").await;
    let items = bars["items"].as_object().unwrap();
    assert_eq!(items.len(), 100, "the window from REST");
    let last_key = items.keys().max().unwrap().clone();
    let seq = bars["seq"].as_u64().unwrap();
    let sim_price = sim.state().prices["BTCUSDT"];
    let live = eventually("the current bar moves with the stream", 20, async || {
        let b = topic(&relay, "bars:BTCUSDT").await;
        (b["seq"].as_u64().unwrap() > seq).then_some(b)
    })
    .await;
    let items = live["items"].as_object().unwrap();
    assert!(items.len() <= 100, "bounded window: {}", items.len());
    let newest = items.keys().max().unwrap();
    assert!(newest >= &last_key);
    let c = items[newest]["c"].as_f64().unwrap();
    assert!(
        (c / sim_price - 1.0).abs() < 0.01,
        "bar close {c} near the price {sim_price}"
    );

    // Over the websocket like any topic: snapshots, then deltas that keep a replica in step.
    let mut client = Client::connect(&relay.ws_url()).await;
    client.hello(Default::default()).await;
    client.subscribe(&["crypto", "bars:BTCUSDT"]).await;
    for topic in ["crypto", "bars:BTCUSDT"] {
        client
            .until(|m| matches!(m, ServerMsg::Snapshot { topic: t, .. } if t == topic))
            .await;
    }
    let at = client.seq("crypto");
    client
        .until(|m| matches!(m, ServerMsg::Deltas { updates } if updates.iter().any(|d| d.topic == "crypto")))
        .await;
    assert!(client.seq("crypto") > at);
    assert_eq!(client.replica.topic("crypto").unwrap().items.len(), 3);
    assert!(client.replica.topic("bars:BTCUSDT").unwrap().items.len() <= 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_ping_gets_a_pong_with_its_payload() {
    let sim = Sim::start(SimOptions {
        // Four pings a second (their pongs count against the relay's five messages a second).
        ping_interval: Duration::from_millis(250),
        pong_timeout: Duration::from_millis(600),
        ..fast()
    })
    .await;
    let relay = Relay::start(config(&sim, "BTCUSDT")).await;
    eventually("ten pongs", 20, async || {
        (sim.state().pongs_ok >= 10).then_some(())
    })
    .await;
    let s = sim.state();
    assert_eq!(s.ping_timeouts, 0, "{s:?}");
    assert_eq!(s.pongs_unmatched, 0, "{s:?}");
    assert_eq!(s.connections_total, 1, "never closed for a missing pong");
    drop(relay);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_by_message_stays_under_five_messages_a_second() {
    let sim = Sim::start(fast()).await;
    let mut cfg = config(&sim, "BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT,XRPUSDT,DOGEUSDT");
    // Nothing in the URL: six SUBSCRIBE messages (one per symbol), which at once would be six in a second.
    cfg.binance.url_streams = 0;
    let relay = Relay::start(cfg).await;
    priced(
        &relay,
        &[
            "BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT",
        ],
    )
    .await;
    let s = sim.state();
    assert_eq!(s.requests, 6, "{s:?}");
    assert_eq!(s.rate_limit_closes, 0, "{s:?}");
    assert!(s.max_incoming_per_sec <= 5, "{s:?}");
    assert_eq!(s.connections_total, 1, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_reconnects_with_backoff() {
    // The source's reconnect backoff starts at 0.5 s (full jitter above it, `--binance-backoff-max-ms`'s help).
    const BACKOFF_MIN: Duration = Duration::from_millis(500);
    let sim = Sim::start(fast()).await;
    let relay = Relay::start(config(&sim, "BTCUSDT,ETHUSDT")).await;
    let t = priced(&relay, &["BTCUSDT", "ETHUSDT"]).await;
    wait_state(&relay, "live").await;
    // Dropped twice (the second time before the backoff could start over): each time one new connection, whose
    // attempt reaches the simulator no sooner than the backoff's floor after the drop. (Measured from before the
    // drop to when the poll sees the attempt: never shorter than the real spacing.)
    for connection in [2, 3] {
        let attempts = sim.state().ws_attempts;
        let dropped = Instant::now();
        assert_eq!(sim.handle.drop_connections(), 1);
        let attempted = eventually("a reconnect attempt", 20, async || {
            (sim.state().ws_attempts > attempts).then(Instant::now)
        })
        .await;
        let waited = attempted - dropped;
        assert!(
            waited >= BACKOFF_MIN,
            "connection {connection} attempted {waited:?} after the drop: not backed off"
        );
        eventually(&format!("connection {connection}"), 20, async || {
            let s = sim.state();
            (s.connections_open == 1 && s.connections_total == connection).then_some(())
        })
        .await;
        eventually(
            &format!("live on connection {connection}"),
            20,
            async || {
                let s = status(&relay).await;
                (s["state"] == "live" && s["connections"] == connection).then_some(())
            },
        )
        .await;
    }
    assert_eq!(
        sim.state().ws_attempts,
        3,
        "one attempt per connection: {:?}",
        sim.state()
    );
    moves_on(&relay, "BTCUSDT", ts(&t, "BTCUSDT")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_is_replaced_before_the_age_limit_new_one_first() {
    let sim = Sim::start(SimOptions {
        // Each replacement opens 1 s after its link started and swaps after 1 s of overlap (plus 250 ms flush
        // ticks): the server's cut at 10 s leaves a wide margin on a loaded machine.
        max_connection_age: Duration::from_secs(10),
        ..fast()
    })
    .await;
    let mut cfg = config(&sim, "BTCUSDT,ETHUSDT");
    cfg.binance.rotate_ms = 1_000;
    let relay = Relay::start(cfg).await;
    priced(&relay, &["BTCUSDT", "ETHUSDT"]).await;
    let st = eventually("three replacements", 30, async || {
        let s = status(&relay).await;
        (s["replacements"].as_u64() >= Some(3)).then_some(s)
    })
    .await;
    let s = sim.state();
    assert_eq!(
        s.age_closes, 0,
        "the relay replaced each one before the server cut it: {s:?}"
    );
    assert_eq!(
        s.no_connection_moments, 0,
        "always one connection open: {s:?}"
    );
    assert_eq!(st["trade_gaps"], 0, "no trade lost across the swaps: {st}");
    assert!(
        st["duplicates"].as_u64() > Some(0),
        "old and new ran side by side: {st}"
    );
    assert_eq!(st["state"], "live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_shutdown_is_met_with_a_new_connection_first() {
    let sim = Sim::start(SimOptions {
        shutdown_grace: Duration::from_secs(5),
        ..fast()
    })
    .await;
    let relay = Relay::start(config(&sim, "BTCUSDT,ETHUSDT")).await;
    let t = priced(&relay, &["BTCUSDT", "ETHUSDT"]).await;
    wait_state(&relay, "live").await;
    assert_eq!(sim.handle.server_shutdown(), 1);
    let st = eventually("the replacement", 20, async || {
        let s = status(&relay).await;
        (s["replacements"].as_u64() >= Some(1)).then_some(s)
    })
    .await;
    eventually("the old connection closed by the relay", 20, async || {
        (sim.state().connections_open == 1).then_some(())
    })
    .await;
    let s = sim.state();
    assert_eq!(
        s.shutdown_closes, 0,
        "closed by the relay before the server had to: {s:?}"
    );
    assert_eq!(s.no_connection_moments, 0, "{s:?}");
    assert_eq!(st["trade_gaps"], 0, "{st}");
    moves_on(&relay, "ETHUSDT", ts(&t, "ETHUSDT")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_noticed_and_replaced() {
    let sim = Sim::start(fast()).await;
    let mut cfg = config(&sim, "BTCUSDT");
    cfg.binance.silent_ms = 500;
    let relay = Relay::start(cfg).await;
    priced(&relay, &["BTCUSDT"]).await;
    wait_state(&relay, "live").await;
    assert_eq!(sim.handle.stall(), 1);
    let stalled_at = ts(&topic(&relay, "crypto").await, "BTCUSDT");
    eventually("a new connection beside the silent one", 20, async || {
        (sim.state().connections_total >= 2).then_some(())
    })
    .await;
    moves_on(&relay, "BTCUSDT", stalled_at).await;
    let s = sim.state();
    assert_eq!(s.connections_open, 1, "the silent socket was let go: {s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_symbol_turns_stale_alone_and_fresh_when_it_trades_again() {
    let sim = Sim::start(fast()).await;
    let mut cfg = config(&sim, "BTCUSDT,ETHUSDT");
    cfg.binance.stale_ms = 600;
    let relay = Relay::start(cfg).await;
    priced(&relay, &["BTCUSDT", "ETHUSDT"]).await;
    wait_state(&relay, "live").await;
    assert!(sim.handle.quiet("ETHUSDT", true));
    let t = eventually("ETHUSDT stale", 20, async || {
        let t = topic(&relay, "crypto").await;
        (t["items"]["ETHUSDT"]["stale"] == true).then_some(t)
    })
    .await;
    assert_eq!(
        t["items"]["BTCUSDT"]["stale"], false,
        "the others stay fresh: {t}"
    );
    let quiet_at = ts(&t, "BTCUSDT");
    moves_on(&relay, "BTCUSDT", quiet_at).await;
    assert_eq!(
        status(&relay).await["state"],
        "live",
        "one quiet symbol is not a dead link"
    );
    assert!(sim.handle.quiet("ETHUSDT", false));
    eventually("ETHUSDT fresh again", 20, async || {
        (topic(&relay, "crypto").await["items"]["ETHUSDT"]["stale"] == false).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_451_is_its_own_state_retried_slowly_then_recovers() {
    let sim = Sim::start(fast()).await;
    sim.handle.restrict(true);
    let relay = Relay::start(config(&sim, "BTCUSDT")).await;
    let st = wait_state(&relay, "unavailable here (451)").await;
    assert!(
        st["detail"].as_str().unwrap().contains("Binance.US"),
        "the hint: {st}"
    );
    // Measured over 2.5 s (this wait is the point): at one try a second, a handful of requests, not a loop.
    let before = sim.state().restricted_answers;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let tries = sim.state().restricted_answers - before;
    let secs = t0.elapsed().as_secs_f64();
    assert!(
        (tries as f64) <= secs + 2.0,
        "{tries} requests in {secs:.1} s: retried slowly"
    );
    sim.handle.restrict(false);
    wait_state(&relay, "live").await;
    priced(&relay, &["BTCUSDT"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_websockets_fall_back_to_polling_rest_and_back_to_the_stream() {
    let sim = Sim::start(fast()).await;
    sim.handle.refuse_websockets(Some(403));
    let relay = Relay::start(config(&sim, "BTCUSDT,ETHUSDT")).await;
    let st = wait_state(&relay, "polling REST").await;
    assert!(st["detail"].as_str().unwrap().contains("403"), "{st}");
    let t = priced(&relay, &["BTCUSDT", "ETHUSDT"]).await;
    assert_eq!(sim.state().connections_total, 0, "prices came over REST");
    let polls = sim.state().rest_calls["/api/v3/ticker/bookTicker"];
    eventually("polling goes on", 20, async || {
        (sim.state().rest_calls["/api/v3/ticker/bookTicker"] > polls + 1).then_some(())
    })
    .await;
    assert!(sim.state().ws_refused >= 1);
    // The stream is retried with backoff (0.5 s to the 1 s cap here), not in a loop: five more attempts take four
    // gaps of at least 0.5 s each (a loop would make them in milliseconds).
    let tries0 = sim.state().ws_refused;
    let t0 = Instant::now();
    eventually("five more upgrade attempts", 20, async || {
        (sim.state().ws_refused >= tries0 + 5).then_some(())
    })
    .await;
    let took = t0.elapsed();
    let tries = sim.state().ws_refused - tries0;
    assert!(
        took >= Duration::from_millis(1_800),
        "{tries} upgrade attempts in {took:?}: not backed off"
    );

    sim.handle.refuse_websockets(None);
    wait_state(&relay, "live").await;
    assert_eq!(sim.state().connections_open, 1);
    let polls = sim.state().rest_calls["/api/v3/ticker/bookTicker"];
    moves_on(&relay, "BTCUSDT", ts(&t, "BTCUSDT")).await;
    // Back on the stream, polling stopped: at most one poll was in flight at the switch.
    let st = wait_state(&relay, "live").await;
    assert!(
        sim.state().rest_calls["/api/v3/ticker/bookTicker"] <= polls + 1,
        "{st}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_on_the_stream_after_polling_every_trade_is_applied_not_skipped() {
    // REST's `lastId` is a trade id, a larger sequence than the stream's aggregate ids: taken for dedup, it made
    // every trade after polling a "duplicate" and froze `last`.
    let sim = Sim::start(fast()).await;
    sim.handle.refuse_websockets(Some(403));
    let relay = Relay::start(config(&sim, "BTCUSDT")).await;
    wait_state(&relay, "polling REST").await;
    priced(&relay, &["BTCUSDT"]).await;
    sim.handle.refuse_websockets(None);
    wait_state(&relay, "live").await;
    let s0 = status(&relay).await;
    let (trades0, dups0) = (
        s0["trades"].as_u64().unwrap(),
        s0["duplicates"].as_u64().unwrap(),
    );
    let mut seen = std::collections::BTreeSet::new();
    let st = eventually("trades applied and the price moving", 20, async || {
        let last = topic(&relay, "crypto").await["items"]["BTCUSDT"]["last"].as_f64();
        if let Some(p) = last {
            seen.insert(p.to_bits());
        }
        let s = status(&relay).await;
        (s["trades"].as_u64().unwrap() >= trades0 + 50 && seen.len() >= 3).then_some(s)
    })
    .await;
    let dups = st["duplicates"].as_u64().unwrap() - dups0;
    assert!(dups < 10, "{dups} trades skipped as duplicates: {st}");
    let price = sim.state().prices["BTCUSDT"];
    let last = topic(&relay, "crypto").await["items"]["BTCUSDT"]["last"]
        .as_f64()
        .unwrap();
    assert!(
        (last / price - 1.0).abs() < 0.01,
        "last {last}, sim {price}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_rest_poll_waits_for_retry_after_and_says_so() {
    let sim = Sim::start(fast()).await;
    sim.handle.refuse_websockets(Some(403));
    let relay = Relay::start(config(&sim, "BTCUSDT")).await;
    wait_state(&relay, "polling REST").await;
    priced(&relay, &["BTCUSDT"]).await;
    // Polling every 200 ms; Binance answers 429 with Retry-After: 3.
    sim.handle.throttle(Some(3));
    let st = eventually("the status says throttled", 20, async || {
        let s = status(&relay).await;
        s["error"]
            .as_str()
            .is_some_and(|e| e.contains("throttled") && e.contains("429"))
            .then_some(s)
    })
    .await;
    let seen = Instant::now();
    sim.handle.throttle(None);
    let calls = sim.state().rest_calls["/api/v3/ticker/24hr"];
    eventually("polling again once Retry-After passed", 20, async || {
        (sim.state().rest_calls["/api/v3/ticker/24hr"] > calls).then_some(())
    })
    .await;
    let waited = seen.elapsed();
    assert!(
        waited >= Duration::from_millis(1_500),
        "polled again {waited:?} after the 429: {st}"
    );
    let throttled = sim.state().throttled_answers;
    assert!(throttled <= 2, "{throttled} calls answered 429: {st}");
    eventually("the throttle words cleared", 20, async || {
        status(&relay).await["error"].is_null().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_pages_past_a_thousand_klines() {
    // A day's window (1440 bars) is more than one klines call (1000): a fill after a long gap pages forward.
    let sim = Sim::start(fast()).await;
    let rest = tickdesk_binance::rest::Rest::new(&sim.handle.base_url(), Duration::from_secs(10));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let current = now - now % 60_000;
    let from = current - 1439 * 60_000;
    let bars = rest.klines_since("BTCUSDT", from, 1440).await.unwrap();
    assert!(bars.len() >= 1439, "{} bars", bars.len());
    assert_eq!(bars[0].t, from);
    assert!(
        bars.windows(2).all(|w| w[1].t == w[0].t + 60_000),
        "consecutive minutes"
    );
    assert!(sim.state().rest_calls["/api/v3/klines"] >= 2, "paged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_rest_does_not_hold_up_the_stream() {
    // REST runs beside the source's loop: a poll stuck for 10 s (the REST timeout) does not delay opening the
    // stream once it is allowed, nor its data reaching the topic.
    let sim = Sim::start(fast()).await;
    sim.handle.refuse_websockets(Some(403));
    let relay = Relay::start(config(&sim, "BTCUSDT")).await;
    wait_state(&relay, "polling REST").await;
    let t = priced(&relay, &["BTCUSDT"]).await;
    sim.handle.slow_rest(Some(Duration::from_secs(10)));
    // A poll is under way (held back) before the stream is allowed again.
    eventually("a poll held back", 20, async || {
        (sim.state().rest_delayed >= 1).then_some(())
    })
    .await;
    let t0 = Instant::now();
    sim.handle.refuse_websockets(None);
    wait_state(&relay, "live").await;
    moves_on(&relay, "BTCUSDT", ts(&t, "BTCUSDT")).await;
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(6),
        "live {took:?} after the stream was allowed, with REST answering in 10 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_symbol_is_refused_and_the_others_stream() {
    let sim = Sim::start(fast()).await;
    let relay = Relay::start(config(&sim, "BTCUSDT,FOOBAR,ETHUSDT")).await;
    let t = priced(&relay, &["BTCUSDT", "ETHUSDT"]).await;
    assert!(t["items"].get("FOOBAR").is_none(), "{t}");
    let st = wait_state(&relay, "live").await;
    assert_eq!(st["refused"], serde_json::json!(["FOOBAR"]), "{st}");
    let err = st["error"].as_str().unwrap();
    assert!(
        err.contains("FOOBAR") && err.contains("Invalid symbol"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_trades_leaves_the_topic_and_memory_flat() {
    let sim = Sim::start(fast()).await;
    let relay = Relay::start(config(&sim, "BTCUSDT,ETHUSDT,SOLUSDT")).await;
    priced(&relay, &["BTCUSDT", "ETHUSDT", "SOLUSDT"]).await;
    wait_state(&relay, "live").await;
    let trades0 = status(&relay).await["trades"].as_u64().unwrap();
    let bytes0 = relay.metric("tickdesk_history_bytes").await;
    let seq0 = relay.seq("crypto").await;
    let t0 = Instant::now();
    sim.handle.burst(1_000, Duration::from_secs(3));
    let st = eventually("the burst's trades applied", 30, async || {
        let s = status(&relay).await;
        (s["trades"].as_u64().unwrap() >= trades0 + 6_000).then_some(s)
    })
    .await;
    let elapsed = t0.elapsed();
    let seq1 = relay.seq("crypto").await;
    let trades = st["trades"].as_u64().unwrap() - trades0;
    // One store write per flush (250 ms) at most, whatever the trade rate.
    let flushes = elapsed.as_millis() as u64 / 250 + 2;
    assert!(
        seq1 - seq0 <= flushes,
        "{} writes for {trades} trades in {elapsed:?}",
        seq1 - seq0
    );
    let t = topic(&relay, "crypto").await;
    assert_eq!(t["items"].as_object().unwrap().len(), 3);
    let bytes1 = relay.metric("tickdesk_history_bytes").await;
    assert!(
        bytes1.saturating_sub(bytes0) < 256 * 1024,
        "resume history grew {bytes0} -> {bytes1} for {trades} trades"
    );
    assert_eq!(st["trade_gaps"], 0, "{st}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mode_falls_back_to_the_built_in_simulator_and_says_why() {
    // Unreachable endpoints: a port that was bound and released.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = l.local_addr().unwrap();
    drop(l);
    let mut cfg = test_config();
    cfg.binance.mode = Mode::Auto;
    cfg.binance.ws = format!("ws://{dead}");
    cfg.binance.rest = format!("http://{dead}");
    cfg.binance.probe_ms = 1_000;
    let relay = Relay::start(cfg).await;
    let st = wait_state(&relay, "simulated").await;
    let detail = st["detail"].as_str().unwrap();
    assert!(
        detail.contains("auto") && detail.contains(&dead.to_string()),
        "{detail}"
    );
    assert_eq!(st["simulated"], true);
    priced(&relay, &["BTCUSDT", "ETHUSDT", "SOLUSDT"]).await;

    // A 451 from the configured endpoint: simulated too, and the status names the 451.
    let sim = Sim::start(fast()).await;
    sim.handle.restrict(true);
    let mut cfg = config(&sim, "BTCUSDT");
    cfg.binance.mode = Mode::Auto;
    let relay = Relay::start(cfg).await;
    let st = wait_state(&relay, "simulated").await;
    assert!(st["detail"].as_str().unwrap().contains("451"), "{st}");
}
