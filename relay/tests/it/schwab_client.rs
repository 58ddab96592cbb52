//! The Schwab client against the built-in simulator on loopback: the same code path as against Schwab, with the
//! simulator's fault injection standing in for Schwab's bad days.
//!
//! Each test starts its own simulator (seeded, fast ticks) and its own client with short timings, watches the
//! relay's store (what browsers would be sent) and the simulator's own view (logins, connections, subscriptions),
//! and stops both. Waits are "eventually" polls with a deadline, never fixed sleeps that assume a speed.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tickdesk_hub::secret::Secret;
use tickdesk_market::{Clock, Date};
use tickdesk_schwab::{self as schwab, chain::ChainFilter, Auth, Options};
use tickdesk_schwab_sim::SimOptions;
use tickdesk_testkit::{in_session, SchwabSim};
use tickdesk_wire::{Fields, Items};
use tokio_tungstenite::tungstenite::Message;

use common::logs;

const OPTIONS: &str = "LEVELONE_OPTIONS";
const EQUITIES: &str = "LEVELONE_EQUITIES";

// ---- fixtures ----------------------------------------------------------------------------------------------

/// The Schwab simulator, with this test's log lines captured while it runs (an `eventually` that times out shows
/// them).
struct Sim {
    sim: SchwabSim,
    _logs: common::Logs,
}

impl std::ops::Deref for Sim {
    type Target = SchwabSim;
    fn deref(&self) -> &SchwabSim {
        &self.sim
    }
}

impl Sim {
    async fn start(opts: SimOptions) -> Sim {
        let logs = logs();
        Sim {
            sim: SchwabSim::start(opts).await,
            _logs: logs,
        }
    }

    fn total_keys(&self) -> usize {
        self.handle.subscriptions().values().map(Vec::len).sum()
    }

    async fn stop(self) {
        self.sim.stop().await;
    }
}

/// Fast, deterministic simulator settings.
fn sim_opts() -> SimOptions {
    SimOptions {
        clock: in_session(),
        seed: Some(7),
        tick_ms: 40,
        heartbeat: Duration::from_millis(300),
        ..SimOptions::default()
    }
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
    fn start(opts: Options) -> Client {
        Client(common::SchwabSource::start(opts))
    }

    fn state(&self) -> String {
        self.status()
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    }

    fn items(&self, topic: &str) -> Items {
        self.store
            .snapshot(topic)
            .map(|s| s.items)
            .unwrap_or_default()
    }

    /// The first non-empty chain topic of an underlying.
    fn chain_of(&self, underlying: &str) -> Option<String> {
        let prefix = format!("chain:{underlying}:");
        self.store
            .topic_names()
            .into_iter()
            .find(|t| t.starts_with(&prefix) && !self.items(t).is_empty())
    }

    /// Keys of a chain topic whose `live` flag is true.
    fn live_keys(&self, topic: &str) -> BTreeSet<String> {
        self.items(topic)
            .into_iter()
            .filter(|(_, f)| f.get("live") == Some(&json!(true)))
            .map(|(k, _)| k)
            .collect()
    }

    async fn stop(self) {
        self.0.stop().await
    }
}

/// A client of the simulator with a small strike window (9 strikes, up to 18 contracts per chain).
fn client_opts(api: &str, symbols: &[&str]) -> Options {
    Options {
        api: api.to_string(),
        auth: Auth::Simulator,
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        key_budget: 500,
        filter: ChainFilter {
            strike_window: Some(4),
            ..ChainFilter::default()
        },
        // The held expiries have their own test; the others count on the chains and keys they ask for.
        held_expiries: 0,
        rest_per_window: 120,
        bars_sessions: 2,
        foreign_bars: Default::default(),
        timing: common::fast_schwab_timing(),
        clock: in_session(),
    }
}

/// [`tickdesk_testkit::eventually`] for a plain closure, with this test's last 80 log lines of the client in the
/// panic message of a timeout, to see why.
async fn eventually<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    tickdesk_testkit::eventually_or(
        what,
        secs,
        async || f(),
        || {
            let text = logs().all();
            let test = std::thread::current()
                .name()
                .unwrap_or_default()
                .to_string();
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.contains(&test) && l.contains("tickdesk_schwab::"))
                .collect();
            lines[lines.len().saturating_sub(80)..].join("\n")
        },
    )
    .await
}

/// Waits until the client is live with a loaded, streaming chain for `underlying`; returns its topic.
async fn live_chain(c: &Client, sim: &Sim, underlying: &str) -> String {
    let topic = eventually(&format!("a chain for {underlying}"), 10, || {
        c.chain_of(underlying)
    })
    .await;
    eventually("status live and the chain streamed", 10, || {
        let streamed = sim.subs(OPTIONS);
        let live = c.live_keys(&topic);
        (c.state() == "live" && !live.is_empty() && live.iter().all(|k| streamed.contains(k)))
            .then_some(())
    })
    .await;
    topic
}

fn num(f: &Fields, k: &str) -> Option<f64> {
    f.get(k).and_then(Value::as_f64)
}

/// True when every live contract of `topic` and the quote of `underlying` equal the simulator's market right now.
fn matches_market(c: &Client, sim: &Sim, topic: &str, underlying: &str) -> bool {
    let items = c.items(topic);
    let quotes = c.items("quotes");
    sim.handle.with_market(|m| {
        let contracts_ok = items
            .iter()
            .filter(|(_, f)| f.get("live") == Some(&json!(true)))
            .all(|(k, f)| {
                m.contract(k).is_some_and(|x| {
                    num(f, "bid") == Some(x.bid)
                        && num(f, "ask") == Some(x.ask)
                        && num(f, "volume") == Some(x.volume as f64)
                })
            });
        let u = m.underlying(underlying);
        let quote_ok = quotes
            .get(underlying)
            .zip(u)
            .is_some_and(|(q, u)| num(q, "last") == Some(u.last) && num(q, "bid") == Some(u.bid));
        contracts_ok && quote_ok
    })
}

// ---- login, first picture, deltas --------------------------------------------------------------------------

#[tokio::test]
async fn login_then_chain_snapshot_then_deltas_for_start_symbols() {
    let sim = Sim::start(sim_opts()).await;
    let c = Client::start(client_opts(&sim.url(""), &["AAPL"]));
    let topic = live_chain(&c, &sim, "AAPL").await;
    assert_eq!(sim.handle.logins(), 1);
    assert_eq!(sim.handle.connections_total(), 1, "one streamer connection");

    // The first picture came over REST as a reset: every field, keyed by the 21-char OSI symbol.
    let items = c.items(&topic);
    assert!(
        items.len() >= 6 && items.len() <= 18,
        "strike window of 4: {} contracts",
        items.len()
    );
    let expiry = topic.rsplit(':').next().unwrap().to_string();
    for (key, f) in &items {
        assert_eq!(key.len(), 21, "OSI key {key:?}");
        for field in [
            "put_call",
            "strike",
            "expiry",
            "dte",
            "bid",
            "ask",
            "last",
            "mark",
            "bid_size",
            "ask_size",
            "volume",
            "open_interest",
            "iv",
            "delta",
            "gamma",
            "theta",
            "vega",
            "rho",
            "itm",
            "live",
            "ts",
        ] {
            assert!(f.contains_key(field), "{key} lacks {field}: {f:?}");
        }
        assert_eq!(f["expiry"], json!(expiry));
        assert!(
            f["open_interest"].as_i64().unwrap() >= 1,
            "OI = 0 is filtered out"
        );
        assert!(matches!(f["put_call"].as_str(), Some("C" | "P")));
    }
    // The nearest expiry: no listed expiry (within the window) comes before it.
    let exps = c.items("expirations:AAPL");
    assert_eq!(
        exps.keys().next(),
        Some(&expiry),
        "the nearest expiry is streamed"
    );
    assert!(exps
        .values()
        .all(|e| e.contains_key("dte") && e.contains_key("type") && e.contains_key("zero_dte")));

    // Then deltas: the topic's seq rises while its epoch stays.
    let first = c.store.snapshot(&topic).unwrap();
    eventually("deltas on the chain", 10, || {
        (c.store.snapshot(&topic).unwrap().seq > first.seq + 5).then_some(())
    })
    .await;
    assert_eq!(
        c.store.snapshot(&topic).unwrap().epoch,
        first.epoch,
        "deltas, not resets"
    );
    // The underlying streams into `quotes`, and the streamed subscription is exactly the live set.
    eventually("AAPL quote", 10, || {
        c.items("quotes")
            .get("AAPL")
            .and_then(|q| num(q, "last"))
            .map(|_| ())
    })
    .await;
    assert!(sim.subs(EQUITIES).contains("AAPL"));
    assert_eq!(sim.subs(OPTIONS), c.live_keys(&topic));
    // And the merged state is the simulator's market.
    eventually("store equals the market", 10, || {
        matches_market(&c, &sim, &topic, "AAPL").then_some(())
    })
    .await;
    let st = c.status();
    assert_eq!(st["source"], json!("schwab"));
    assert!(
        st["since"].is_i64() && st["last_msg"].is_i64() && st["error"].is_null(),
        "{st:?}"
    );
    assert_eq!(st["delayed"], json!(false));
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn a_delta_changes_only_what_it_carries() {
    let sim = Sim::start(sim_opts()).await;
    let c = Client::start(client_opts(&sim.url(""), &["SPY"]));
    let topic = live_chain(&c, &sim, "SPY").await;
    // Subscribed before the snapshot is read, so every delta after it is on the channel.
    let mut rx = c.store.subscribe(&topic).expect("the chain's topic exists");
    let before = c.store.snapshot(&topic).unwrap();
    // Collect the chain's deltas for a while: 20 of them.
    eventually("20 deltas on the chain", 10, || {
        (c.store.snapshot(&topic).unwrap().seq >= before.seq + 20).then_some(())
    })
    .await;
    // The store broadcasts a delta before a snapshot can show it: after this snapshot, the channel holds every
    // delta up to its seq.
    let after = c.store.snapshot(&topic).unwrap();
    let mut deltas = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(ev) => {
                if let tickdesk_hub::broker::Event::Delta(shared) = &*ev {
                    let delta = &shared.delta;
                    if delta.topic == topic && delta.prev >= before.seq && delta.seq <= after.seq {
                        deltas.push(delta.clone());
                    }
                }
            }
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
            Err(e) => panic!("the test fell behind the store: {e}"),
        }
    }
    assert_eq!(
        deltas.len() as u64,
        after.seq - before.seq,
        "every delta seen, no gap"
    );
    assert!(
        deltas.len() > 3,
        "the chain streams: {} deltas",
        deltas.len()
    );
    // Static terms never travel in a delta, and no delta deletes or nulls a field it does not carry.
    for d in &deltas {
        assert!(d.del.is_empty());
        for (key, f) in &d.set {
            for fixed in ["strike", "expiry", "put_call", "open_interest"] {
                assert!(
                    !f.contains_key(fixed),
                    "{fixed} is unchanged yet in a delta for {key}: {f:?}"
                );
            }
            assert!(f.contains_key("ts"), "a streamed update stamps ts");
        }
    }
    // Fields no delta carried still hold their first-picture values.
    for (key, f0) in &before.items {
        let f1 = &after.items[key];
        for (field, v0) in f0 {
            let carried = deltas
                .iter()
                .any(|d| d.set.get(key).is_some_and(|s| s.contains_key(field)));
            if !carried {
                assert_eq!(
                    f1.get(field),
                    Some(v0),
                    "{key}.{field} changed without a delta carrying it"
                );
            }
        }
        assert_eq!(f1.len(), f0.len(), "{key}: no field appears or vanishes");
    }
    c.stop().await;
    sim.stop().await;
}

// ---- switching: ADD/UNSUBS on one connection ----------------------------------------------------------------

#[tokio::test]
async fn switching_expiry_or_underlying_is_add_and_unsubs_not_a_reconnect() {
    let sim = Sim::start(sim_opts()).await;
    let c = Client::start(client_opts(&sim.url(""), &["SPY"]));
    live_chain(&c, &sim, "SPY").await;
    // A browser asks for AAPL's expirations, then its first expiry's chain.
    c.demand.add("expirations:AAPL");
    let exps = eventually("AAPL expirations", 10, || {
        let e = c.items("expirations:AAPL");
        (e.len() >= 2).then(|| e.keys().cloned().collect::<Vec<_>>())
    })
    .await;
    let t1 = format!("chain:AAPL:{}", exps[0]);
    let t2 = format!("chain:AAPL:{}", exps[1]);
    c.demand.add(&t1);
    let k1 = eventually("the first AAPL expiry streams", 10, || {
        let live = c.live_keys(&t1);
        (!live.is_empty() && live.is_subset(&sim.subs(OPTIONS))).then_some(live)
    })
    .await;
    assert!(
        sim.subs(EQUITIES).contains("AAPL"),
        "the underlying is added with its chain"
    );
    // Switch expiry: t1's keys go (UNSUBS), t2's come (ADD); same connection, same login.
    c.demand.remove(&t1);
    c.demand.add(&t2);
    let k2 = eventually("the second expiry replaces the first", 10, || {
        let live = c.live_keys(&t2);
        let subs = sim.subs(OPTIONS);
        (!live.is_empty() && live.is_subset(&subs) && k1.is_disjoint(&subs)).then_some(live)
    })
    .await;
    assert!(
        c.live_keys(&t1).is_empty(),
        "the unwatched chain is marked not live"
    );
    // Switch underlying: AAPL out, $SPX in.
    let spx = eventually("a $SPX expiry", 10, || {
        c.demand.add("expirations:$SPX");
        c.items("expirations:$SPX").keys().next().cloned()
    })
    .await;
    let t3 = format!("chain:$SPX:{spx}");
    c.demand.remove(&t2);
    c.demand.add(&t3);
    eventually("$SPX replaces AAPL", 10, || {
        let subs = sim.subs(OPTIONS);
        let eq = sim.subs(EQUITIES);
        let live = c.live_keys(&t3);
        (!live.is_empty()
            && live.is_subset(&subs)
            && k2.is_disjoint(&subs)
            && eq.contains("$SPX")
            && !eq.contains("AAPL")
            && eq.contains("SPY"))
        .then_some(())
    })
    .await;
    assert_eq!(sim.handle.connections_total(), 1, "never a reconnect");
    assert_eq!(sim.handle.logins(), 1);
    c.stop().await;
    sim.stop().await;
}

// ---- response codes -----------------------------------------------------------------------------------------

#[tokio::test]
async fn code_3_login_denied_refreshes_the_token_and_reconnects() {
    let sim = Sim::start(sim_opts()).await;
    sim.handle.deny_next_login();
    let c = Client::start(client_opts(&sim.url(""), &["AAPL"]));
    live_chain(&c, &sim, "AAPL").await;
    let st = sim.handle.state();
    assert_eq!(st.login_denials, 1);
    assert_eq!(st.logins, 1);
    assert!(
        st.tokens_refreshed >= 1,
        "the token was refreshed before logging in again"
    );
    assert_eq!(st.connections_total, 2);
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn code_12_another_session_took_the_connection_stop_and_say_so() {
    let sim = Sim::start(sim_opts()).await;
    let first = Client::start(client_opts(&sim.url(""), &["AAPL"]));
    let topic = live_chain(&first, &sim, "AAPL").await;
    // Another client of the same user logs in: Schwab keeps one connection per user.
    let second = Client::start(client_opts(&sim.url(""), &["SPY"]));
    live_chain(&second, &sim, "SPY").await;
    eventually("the first client stops", 10, || {
        (first.state() == "stopped").then_some(())
    })
    .await;
    let st = first.status();
    assert!(st["detail"].as_str().unwrap().contains("code 12"), "{st:?}");
    assert!(
        first.live_keys(&topic).is_empty(),
        "nothing is marked live once stopped"
    );
    // It does not fight: no new connection from it, the second stays live. Proving an absence: no event says "the
    // first client chose not to reconnect", so let twice its longest backoff pass, in which a retry would come.
    let total = sim.handle.connections_total();
    tokio::time::sleep(2 * common::fast_schwab_timing().backoff_max).await;
    assert_eq!(sim.handle.connections_total(), total);
    assert_eq!(second.state(), "live");
    assert_eq!(sim.handle.connections_open(), 1);
    first.stop().await;
    second.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn code_19_over_the_symbol_limit_shrinks_and_reports() {
    let sim = Sim::start(SimOptions {
        key_cap: 9,
        ..sim_opts()
    })
    .await;
    let c = Client::start(client_opts(&sim.url(""), &["AAPL"]));
    let topic = live_chain(&c, &sim, "AAPL").await;
    eventually("the budget note", 10, || {
        let d = c.status()["detail"].as_str().unwrap_or("").to_string();
        d.contains("code 19").then_some(())
    })
    .await;
    assert!(
        sim.total_keys() <= 9,
        "within Schwab's limit: {}",
        sim.total_keys()
    );
    let items = c.items(&topic);
    let live = c.live_keys(&topic);
    assert!(
        live.len() < items.len(),
        "some contracts are served from REST only"
    );
    assert!(
        items
            .iter()
            .filter(|(k, _)| !live.contains(*k))
            .all(|(_, f)| f["live"] == json!(false) && f["bid"].is_number()),
        "the rest keep their REST picture, marked not live"
    );
    assert!(
        sim.subs(EQUITIES).contains("AAPL"),
        "underlyings come first"
    );
    c.stop().await;
    sim.stop().await;
}

/// A websocket proxy between the client and the simulator's streamer that, once armed, answers the next
/// subscription command itself with code 20 (the session is gone) instead of forwarding it.
async fn code20_proxy(listener: tokio::net::TcpListener, upstream: String, armed: Arc<AtomicBool>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let upstream = upstream.clone();
        let armed = armed.clone();
        tokio::spawn(async move {
            let Ok(client) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            let Ok((server, _)) = tokio_tungstenite::connect_async(upstream.as_str()).await else {
                return;
            };
            let (mut c_tx, mut c_rx) = client.split();
            let (mut s_tx, mut s_rx) = server.split();
            let (inject_tx, mut inject_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let up = async move {
                while let Some(Ok(m)) = c_rx.next().await {
                    if let Message::Text(t) = &m {
                        let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                        let r = &v["requests"][0];
                        let cmd = r["command"].as_str().unwrap_or("");
                        if ["ADD", "SUBS", "UNSUBS"].contains(&cmd)
                            && armed.swap(false, Ordering::SeqCst)
                        {
                            let reply = json!({"response":[{"service": r["service"], "command": cmd,
                                "requestid": r["requestid"], "content": {"code": 20, "msg": "Stream connection not found"}}]});
                            let _ = inject_tx.send(reply.to_string());
                            continue;
                        }
                    }
                    if s_tx.send(m).await.is_err() {
                        break;
                    }
                }
            };
            let down = async move {
                loop {
                    let m = tokio::select! {
                        m = s_rx.next() => match m { Some(Ok(m)) => m, _ => break },
                        Some(t) = inject_rx.recv() => Message::Text(t.into()),
                    };
                    if c_tx.send(m).await.is_err() {
                        break;
                    }
                }
            };
            tokio::select! { _ = up => {}, _ = down => {} }
        });
    }
}

#[tokio::test]
async fn code_20_logs_in_again_on_the_same_socket_and_resubscribes() {
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("ws://{}/ws", proxy.local_addr().unwrap());
    let sim = Sim::start(SimOptions {
        public_ws_url: Some(proxy_url),
        ..sim_opts()
    })
    .await;
    let armed = Arc::new(AtomicBool::new(false));
    let upstream = format!("ws://{}/ws", sim.handle.addr());
    let proxy_task = tokio::spawn(code20_proxy(proxy, upstream, armed.clone()));
    let c = Client::start(client_opts(&sim.url(""), &["SPY"]));
    live_chain(&c, &sim, "SPY").await;
    // The next subscription change is answered with code 20.
    armed.store(true, Ordering::SeqCst);
    c.demand.add("expirations:AAPL");
    let e = eventually("AAPL expirations", 10, || {
        c.items("expirations:AAPL").keys().next().cloned()
    })
    .await;
    let t = format!("chain:AAPL:{e}");
    c.demand.add(&t);
    eventually("AAPL streams after logging in again", 10, || {
        let live = c.live_keys(&t);
        (!armed.load(Ordering::SeqCst) && !live.is_empty() && live.is_subset(&sim.subs(OPTIONS)))
            .then_some(())
    })
    .await;
    let spy = c.chain_of("SPY").unwrap();
    assert!(
        c.live_keys(&spy).is_subset(&sim.subs(OPTIONS)),
        "everything was resubscribed"
    );
    assert_eq!(sim.handle.logins(), 2, "a second LOGIN");
    assert_eq!(sim.handle.connections_total(), 1, "on the same socket");
    assert_eq!(c.state(), "live");
    c.stop().await;
    proxy_task.abort();
    sim.stop().await;
}

#[tokio::test]
async fn code_30_is_recovered_and_never_caused() {
    // Schwab stops a connection that stays empty; here after 300 ms.
    let sim = Sim::start(SimOptions {
        idle_code30_after: Duration::from_millis(300),
        ..sim_opts()
    })
    .await;
    // No start symbols and no browser: nothing to stream, so no connection (it would be stopped). Proving an
    // absence (no event says "the client chose not to connect"): a wanted connection is made at once, so a few of
    // the client's market checks (50 ms) suffice.
    let c = Client::start(client_opts(&sim.url(""), &[]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.handle.connections_total(), 0, "no empty connection");
    // A browser watches a chain: connect and stream it.
    c.demand.add("expirations:AAPL");
    let e = eventually("AAPL expirations", 10, || {
        c.items("expirations:AAPL").keys().next().cloned()
    })
    .await;
    let t = format!("chain:AAPL:{e}");
    c.demand.add(&t);
    eventually("AAPL streams", 10, || {
        let live = c.live_keys(&t);
        (!live.is_empty() && live.is_subset(&sim.subs(OPTIONS))).then_some(())
    })
    .await;
    // The browser leaves: the last keys stay subscribed rather than emptying the connection. Proving an absence
    // (no code 30): nothing to wait for but twice the simulator's 300 ms limit for an empty subscription.
    c.demand.remove(&t);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(sim.total_keys() > 0, "never an empty subscription");
    assert_eq!(
        sim.handle.connections_total(),
        1,
        "no code 30, no reconnect"
    );
    // Schwab stops the stream anyway: reconnect and resubscribe. Streaming again means subscribed at the simulator
    // too (the chain's live flags alone come with its REST picture, before the SUBS lands): what is compared after
    // the code 30 is taken then.
    c.demand.add(&t);
    eventually("AAPL streams again", 10, || {
        let live = c.live_keys(&t);
        (!live.is_empty() && live.is_subset(&sim.subs(OPTIONS))).then_some(())
    })
    .await;
    let before = sim.subs(OPTIONS);
    assert_eq!(sim.handle.send_code30(), 1);
    // At least one new login: on a starved machine the client's stall check (1.2 s here) may also have replaced a
    // link that was only slow, which is its job and not what this test is about.
    eventually("recovered from code 30", 10, || {
        (sim.handle.logins() >= 2 && sim.subs(OPTIONS) == before && c.state() == "live")
            .then_some(())
    })
    .await;
    assert!(sim.handle.connections_total() >= 2);
    c.stop().await;
    sim.stop().await;
}

// ---- drops, stalls, malformed frames -----------------------------------------------------------------------

#[tokio::test]
async fn a_dropped_socket_reconnects_resubscribes_and_the_state_is_right() {
    let sim = Sim::start(sim_opts()).await;
    let c = Client::start(client_opts(&sim.url(""), &["AAPL"]));
    let topic = live_chain(&c, &sim, "AAPL").await;
    let subs_before = sim.handle.subscriptions();
    let epoch = c.store.snapshot(&topic).unwrap().epoch;
    assert_eq!(sim.handle.drop_connections(), 1);
    eventually("reconnected", 10, || {
        (sim.handle.logins() == 2).then_some(())
    })
    .await;
    eventually("resubscribed", 10, || {
        (sim.handle.subscriptions() == subs_before && c.state() == "live").then_some(())
    })
    .await;
    assert_eq!(sim.handle.connections_open(), 1);
    // The snapshots after the reconnect bring the chain back to the market's truth.
    eventually("store equals the market after the reconnect", 10, || {
        matches_market(&c, &sim, &topic, "AAPL").then_some(())
    })
    .await;
    assert_eq!(c.live_keys(&topic), sim.subs(OPTIONS));
    assert_eq!(
        c.store.snapshot(&topic).unwrap().epoch,
        epoch,
        "browsers keep their replica: deltas, not a reset"
    );
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn a_stalled_link_is_detected_and_replaced() {
    let sim = Sim::start(sim_opts()).await;
    let c = Client::start(client_opts(&sim.url(""), &["AAPL"]));
    live_chain(&c, &sim, "AAPL").await;
    sim.handle.stall(Duration::from_secs(4));
    eventually("stale link noticed", 10, || {
        (c.state() == "reconnecting").then_some(())
    })
    .await;
    eventually("a new connection is live", 10, || {
        (sim.handle.logins() >= 2 && c.state() == "live").then_some(())
    })
    .await;
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn malformed_frames_are_logged_and_skipped_never_a_crash() {
    let logs = logs();
    let sim = Sim::start(sim_opts()).await;
    let c = Client::start(client_opts(&sim.url(""), &["AAPL"]));
    let topic = live_chain(&c, &sim, "AAPL").await;
    const SKIPPED: &str = "malformed Schwab streamer frame skipped";
    let before = logs.text().matches(SKIPPED).count();
    for _ in 0..3 {
        assert_eq!(sim.handle.send_malformed(), 1);
    }
    let seq = c.store.snapshot(&topic).unwrap().seq;
    eventually("streaming goes on", 10, || {
        (c.store.snapshot(&topic).unwrap().seq > seq + 5).then_some(())
    })
    .await;
    assert_eq!(sim.handle.logins(), 1, "no reconnect for a bad frame");
    assert_eq!(c.state(), "live");
    eventually("each bad frame logged", 5, || {
        (logs.text().matches(SKIPPED).count() >= before + 3).then_some(())
    })
    .await;
    c.stop().await;
    sim.stop().await;
}

// ---- key budget ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_key_budget_holds_and_the_rest_is_marked_not_live() {
    let sim = Sim::start(sim_opts()).await;
    let mut opts = client_opts(&sim.url(""), &["AAPL", "SPY"]);
    opts.key_budget = 12;
    let c = Client::start(opts);
    let budget_ok = || sim.total_keys() <= 12;
    let a = eventually("AAPL chain", 10, || c.chain_of("AAPL")).await;
    let s = eventually("SPY chain", 10, || c.chain_of("SPY")).await;
    eventually("12 keys streamed", 10, || {
        (sim.total_keys() == 12).then_some(())
    })
    .await;
    // Browsers watch two more chains: the budget still holds, watched chains come before start-only ones.
    c.demand.add("expirations:$SPX");
    let spx = eventually("$SPX expirations", 10, || {
        c.items("expirations:$SPX").keys().next().cloned()
    })
    .await;
    let t = format!("chain:$SPX:{spx}");
    c.demand.add(&t);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(budget_ok(), "over budget: {}", sim.total_keys());
        let live = c.live_keys(&t);
        if !live.is_empty() && live.is_subset(&sim.subs(OPTIONS)) && sim.total_keys() == 12 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watched $SPX chain never streamed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let streamed_contracts = sim.subs(OPTIONS).len();
    let live_total = [&a, &s, &t]
        .iter()
        .map(|t| c.live_keys(t).len())
        .sum::<usize>();
    assert_eq!(
        live_total, streamed_contracts,
        "live flags are exactly what streams"
    );
    assert_eq!(sim.subs(EQUITIES).len(), 3, "every underlying streams");
    assert!(
        c.live_keys(&t).len() >= c.live_keys(&a).len(),
        "a browser's chain comes first"
    );
    let detail = c.status()["detail"].as_str().unwrap().to_string();
    assert!(
        detail.contains("key budget 12") && detail.contains("streaming 12 of"),
        "{detail}"
    );
    for topic in [&a, &s, &t] {
        for (k, f) in c.items(topic) {
            assert!(f["live"].is_boolean() && f["bid"].is_number(), "{k}: {f:?}");
        }
    }
    c.stop().await;
    sim.stop().await;
}

// ---- tokens ---------------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_access_token_is_refreshed_before_it_expires() {
    let logs = logs();
    // 3-second access tokens: refreshed half a second before expiry (a sixth of their life).
    let sim = Sim::start(SimOptions {
        access_token_ttl: Duration::from_secs(3),
        ..sim_opts()
    })
    .await;
    let c = Client::start(client_opts(&sim.url(""), &["AAPL"]));
    live_chain(&c, &sim, "AAPL").await;
    eventually("two refreshes", 12, || {
        (sim.handle.state().tokens_refreshed >= 2).then_some(())
    })
    .await;
    // REST still works with the refreshed token (an expired one would get a 401 first): load another chain.
    c.demand.add("expirations:SPY");
    let e = eventually("SPY expirations", 10, || {
        c.items("expirations:SPY").keys().next().cloned()
    })
    .await;
    c.demand.add(&format!("chain:SPY:{e}"));
    eventually("SPY chain", 10, || c.chain_of("SPY")).await;
    assert_eq!(
        sim.handle.logins(),
        1,
        "the stream survives token refreshes"
    );
    assert!(logs.text().contains("refreshed the Schwab access token"));
    assert!(
        !logs.text().contains("HTTP 401 from Schwab"),
        "never used an expired token"
    );
    c.stop().await;
    sim.stop().await;
}

// ---- secrets ----------------------------------------------------------------------------------------------------

#[tokio::test]
async fn auth_login_then_a_full_session_never_leaks_a_secret() {
    let logs = logs();
    let sim = Sim::start(SimOptions {
        access_token_ttl: Duration::from_secs(2),
        ..sim_opts()
    })
    .await;
    let dir =
        std::env::temp_dir().join(format!("tickdesk-schwab-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("schwab-token.json");
    let app_key = "APPKEY-0123456789abcdef";
    let app_secret = "APPSECRET-fedcba9876543210";

    // `tickdesk-relay auth login`, with the paste-back done by the test.
    let mut cfg = tickdesk_relay::ServeConfig::defaults().schwab;
    cfg.api = sim.url("");
    cfg.app_key = Some(Secret::new(app_key));
    cfg.app_secret = Some(Secret::new(app_secret));
    cfg.token_file = token_file.clone();
    let mut printed = Vec::new();
    let pasted = format!("{}/?code=C0.b2F1dGgtY29kZQ%40&session=abc\n", cfg.callback);
    schwab::login_interactive(&cfg, pasted.as_bytes(), &mut printed)
        .await
        .unwrap();
    let printed = String::from_utf8(printed).unwrap();
    assert!(
        printed.contains("client_id=APPKEY"),
        "the user gets the authorize URL: {printed}"
    );
    assert!(!printed.contains(app_secret));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let read_tokens = || {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&token_file).unwrap()).unwrap();
        ["access_token", "refresh_token", "id_token"]
            .iter()
            .filter_map(|k| v["token"][k].as_str().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let mut secrets: BTreeSet<String> = read_tokens().into_iter().collect();
    secrets.insert(app_key.into());
    secrets.insert(app_secret.into());

    // A full session with the real app path: token file, refreshes (2 s tokens), drop, code 30, bad frames.
    let mut opts = Options::from_config(&cfg, in_session());
    opts.timing = common::fast_schwab_timing();
    opts.held_expiries = 0;
    opts.filter = client_opts("", &[]).filter;
    opts.symbols = vec!["AAPL".into()];
    let c = Client::start(opts);
    let topic = live_chain(&c, &sim, "AAPL").await;
    c.demand.add("expirations:SPY");
    sim.handle.send_malformed();
    sim.handle.drop_connections();
    eventually("reconnected", 10, || {
        (sim.handle.logins() >= 2 && c.state() == "live").then_some(())
    })
    .await;
    sim.handle.send_code30();
    eventually("refreshed twice and recovered", 10, || {
        secrets.extend(read_tokens());
        (sim.handle.state().tokens_refreshed >= 2
            && sim.handle.logins() >= 3
            && c.state() == "live")
            .then_some(())
    })
    .await;
    secrets.extend(read_tokens());
    let st = sim.handle.state();
    assert!(st.tokens_refreshed >= 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
            0o600,
            "still private"
        );
    }
    assert!(!c.items(&topic).is_empty());
    let store = c.store.clone();
    c.stop().await;
    sim.stop().await;

    // The relay's log lines: none holds a secret. (The simulator's own lines are excluded: it is not the relay.)
    let text = logs.text();
    let relay_lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("tickdesk_schwab::sim"))
        .collect();
    assert!(
        relay_lines.len() > 20,
        "the session was logged: {} lines",
        relay_lines.len()
    );
    assert!(text.contains("refreshed the Schwab access token"));
    for s in &secrets {
        assert!(s.len() > 8);
        for l in &relay_lines {
            assert!(
                !l.contains(s.as_str()),
                "a secret leaked into a log line: {l}"
            );
        }
    }
    // Nor anything a browser can be sent: every topic of the store.
    let all: BTreeMap<String, Items> = store
        .topic_names()
        .into_iter()
        .map(|t| (t.clone(), store.snapshot(&t).unwrap().items))
        .collect();
    let sent = serde_json::to_string(&all).unwrap();
    for s in &secrets {
        assert!(!sent.contains(s.as_str()), "a secret is in a topic");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Relay settings for the real-app path (token file, app key and secret) against the simulator.
fn app_config(sim: &Sim, token_file: &std::path::Path) -> tickdesk_schwab::config::SchwabConfig {
    let mut cfg = tickdesk_relay::ServeConfig::defaults().schwab;
    cfg.api = sim.url("");
    cfg.app_key = Some(Secret::new("APPKEY-lapse-test"));
    cfg.app_secret = Some(Secret::new("APPSECRET-lapse-test"));
    cfg.token_file = token_file.to_path_buf();
    cfg
}

#[tokio::test]
async fn a_lapsed_refresh_token_says_what_to_run_and_a_new_login_is_picked_up() {
    // 1-second access tokens and 3-second refresh tokens: the refresh token lapses a few refreshes in.
    let sim = Sim::start(SimOptions {
        access_token_ttl: Duration::from_secs(1),
        refresh_token_ttl: Duration::from_secs(3),
        ..sim_opts()
    })
    .await;
    let dir =
        std::env::temp_dir().join(format!("tickdesk-lapse-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = app_config(&sim, &dir.join("token.json"));
    let login = |cfg: tickdesk_schwab::config::SchwabConfig| async move {
        let pasted = format!("{}/?code=C0.abc%40\n", cfg.callback);
        schwab::login_interactive(&cfg, pasted.as_bytes(), Vec::new())
            .await
            .unwrap();
    };
    login(cfg.clone()).await;
    let mut opts = Options::from_config(&cfg, in_session());
    opts.timing = common::fast_schwab_timing();
    opts.held_expiries = 0;
    opts.filter = client_opts("", &[]).filter;
    opts.symbols = vec!["AAPL".into()];
    let c = Client::start(opts);
    live_chain(&c, &sim, "AAPL").await;
    eventually("the lapse is reported", 10, || {
        (c.state() == "error").then_some(())
    })
    .await;
    let st = c.status();
    assert!(
        st["detail"]
            .as_str()
            .unwrap()
            .contains("run `tickdesk-relay auth login`"),
        "{st:?}"
    );
    assert!(
        st["error"]
            .as_str()
            .unwrap()
            .contains("refresh token invalid"),
        "Schwab's words: {st:?}"
    );
    // The user runs `auth login` again; the running relay picks the new token up.
    let refreshed = sim.handle.state().tokens_refreshed;
    login(cfg.clone()).await;
    eventually("back to live", 10, || {
        (c.state() == "live" && c.status()["error"].is_null()).then_some(())
    })
    .await;
    eventually("refreshing with the new token", 10, || {
        (sim.handle.state().tokens_refreshed > refreshed).then_some(())
    })
    .await;
    c.stop().await;
    sim.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_missing_token_file_says_what_to_run() {
    let sim = Sim::start(sim_opts()).await;
    let mut cfg = tickdesk_relay::ServeConfig::defaults().schwab;
    cfg.api = sim.url("");
    cfg.app_key = Some(Secret::new("k"));
    cfg.app_secret = Some(Secret::new("s"));
    cfg.token_file = std::env::temp_dir().join(format!(
        "tickdesk-none-{}.json",
        uuid::Uuid::new_v4().simple()
    ));
    let mut opts = Options::from_config(&cfg, in_session());
    opts.timing = common::fast_schwab_timing();
    opts.held_expiries = 0;
    let c = Client::start(opts);
    eventually("error status", 5, || (c.state() == "error").then_some(())).await;
    assert!(c.status()["detail"]
        .as_str()
        .unwrap()
        .contains("tickdesk-relay auth login"));
    assert_eq!(sim.handle.connections_total(), 0);
    c.stop().await;
    sim.stop().await;
}

// ---- the market clock: the close, the day roll, the next open, the strike window ---------------------------

/// A frozen clock shared by the simulator and the client, moved by hand through a day.
fn frozen_at(d: Date, hh: i64, mm: i64) -> Clock {
    Clock::frozen(d.at_et(hh, mm))
}

/// A simulator and a client of it watching `symbols`, both on `clock`; `tweak` adjusts the client's options.
async fn on_clock(
    clock: &Clock,
    symbols: &[&str],
    tweak: impl FnOnce(&mut Options),
) -> (Sim, Client) {
    let sim = Sim::start(SimOptions {
        clock: clock.clone(),
        ..sim_opts()
    })
    .await;
    let mut opts = client_opts(&sim.url(""), symbols);
    opts.clock = clock.clone();
    tweak(&mut opts);
    let c = Client::start(opts);
    (sim, c)
}

#[tokio::test]
async fn through_the_close_the_day_roll_and_the_next_open() {
    let wed = Date::from_ymd(2026, 12, 2);
    let thu = Date::from_ymd(2026, 12, 3);
    let clock = frozen_at(wed, 15, 58);
    let (sim, c) = on_clock(&clock, &["SPY"], |_| {}).await;
    // In the session: live, and the start symbol streams today's (0DTE) expiry.
    let today_topic = "chain:SPY:2026-12-02".to_string();
    eventually("SPY's 0DTE chain streams, live", 10, || {
        (c.state() == "live"
            && c.status()["market"] == json!("open")
            && !c.live_keys(&today_topic).is_empty())
        .then_some(())
    })
    .await;
    c.demand.add("expirations:SPY");
    eventually("SPY's expirations list today as 0DTE", 10, || {
        let e = c.items("expirations:SPY");
        (e.get("2026-12-02")?.get("zero_dte") == Some(&json!(true))).then_some(())
    })
    .await;

    // The close: closed, not stale, with the next open; the link stays up.
    clock.set(wed.at_et(16, 1));
    let status = eventually("closed after the close", 10, || {
        (c.state() == "closed").then(|| c.status())
    })
    .await;
    assert_eq!(status["market"], json!("after-hours"));
    assert_eq!(status["next_open"], json!(thu.at_et(9, 30)));
    assert!(
        status["detail"]
            .as_str()
            .unwrap()
            .contains("opens 2026-12-03 09:30 ET"),
        "{status:?}"
    );
    assert_eq!(
        sim.handle.connections_open(),
        1,
        "closed is not a broken link"
    );

    // The day roll: yesterday's chain is reset to an empty snapshot, the start symbol re-pins to today's expiry,
    // the expirations move their DTE.
    let before = c.store.snapshot(&today_topic).unwrap();
    clock.set(thu.at_et(0, 5));
    eventually("yesterday's chain is reset to empty", 10, || {
        let s = c.store.snapshot(&today_topic)?;
        (s.items.is_empty() && s.epoch != before.epoch).then_some(())
    })
    .await;
    let new_topic = "chain:SPY:2026-12-03".to_string();
    eventually("the start symbol streams Thursday's expiry", 10, || {
        (!c.live_keys(&new_topic).is_empty()).then_some(())
    })
    .await;
    eventually("expirations rolled", 10, || {
        let e = c.items("expirations:SPY");
        (!e.contains_key("2026-12-02")
            && e.get("2026-12-03")?.get("dte") == Some(&json!(0))
            && e.get("2026-12-03")?.get("zero_dte") == Some(&json!(true)))
        .then_some(())
    })
    .await;
    assert!(
        !sim.subs(OPTIONS).iter().any(|k| k.contains("261202")),
        "expired contracts are unsubscribed: {:?}",
        sim.subs(OPTIONS)
    );
    assert_eq!(c.status()["market"], json!("closed"));
    assert_eq!(c.state(), "closed");

    // The next open: live again.
    clock.set(thu.at_et(9, 31));
    eventually("live at the open", 10, || {
        (c.state() == "live" && c.status()["market"] == json!("open")).then_some(())
    })
    .await;
    assert_eq!(c.status()["next_open"], Value::Null);
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn the_strike_window_follows_the_underlying() {
    let clock = frozen_at(Date::from_ymd(2026, 12, 2), 11, 0);
    let (sim, c) = on_clock(&clock, &["SPY"], |o| {
        // The window is under test, not the open-interest floor: 5% away from yesterday's money most of a 0DTE's
        // strikes have no open interest (which ones depends on the seed's path), and the floor would hide them.
        o.filter.min_open_interest = 0;
    })
    .await;
    let topic = live_chain(&c, &sim, "SPY").await;
    let strikes = |c: &Client| -> (f64, f64) {
        let ks: Vec<f64> = c
            .items(&topic)
            .values()
            .filter_map(|f| f.get("strike").and_then(Value::as_f64))
            .collect();
        (
            ks.iter().copied().fold(f64::INFINITY, f64::min),
            ks.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    };
    let (lo, hi) = strikes(&c);
    let epoch = c.store.snapshot(&topic).unwrap().epoch;
    // SPY gaps up 5% (about 30 $1 strikes): the window re-centres on the new money.
    assert!(sim.handle.gap("SPY", 1.05));
    let spot = sim
        .handle
        .with_market(|m| m.underlying("SPY").unwrap().last);
    eventually("the window re-centred", 10, || {
        let s = c.store.snapshot(&topic)?;
        let (lo2, hi2) = strikes(&c);
        (s.epoch != epoch && lo2 > hi && lo2 <= spot && spot <= hi2).then_some(())
    })
    .await;
    assert!(
        lo < spot * 0.97,
        "the first window was around the old price"
    );
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn contracts_outside_the_key_budget_are_refreshed_from_rest() {
    let clock = frozen_at(Date::from_ymd(2026, 12, 2), 11, 0);
    let (sim, c) = on_clock(&clock, &["SPY"], |o| {
        // One underlying and a few contracts stream; the rest of the chain is REST only.
        o.key_budget = 5;
    })
    .await;
    let topic = eventually("a SPY chain", 10, || c.chain_of("SPY")).await;
    let not_live = eventually("contracts outside the budget", 10, || {
        let items = c.items(&topic);
        let k = items
            .iter()
            .find(|(_, f)| f.get("live") == Some(&json!(false)))?
            .0
            .clone();
        Some(k)
    })
    .await;
    let seq = c.store.snapshot(&topic).unwrap().seq;
    let ts0 = c.items(&topic)[&not_live]["ts"].clone();
    // The market moves (a gap reprices every contract); the REST refresh brings the new picture to the
    // contracts nobody streams, without a new epoch.
    let epoch = c.store.snapshot(&topic).unwrap().epoch;
    assert!(sim.handle.gap("SPY", 1.002));
    eventually("a not-live contract got a fresh REST picture", 10, || {
        let s = c.store.snapshot(&topic)?;
        let row = s.items.get(&not_live)?;
        (s.seq > seq && row["ts"] != ts0 && row["live"] == json!(false)).then_some(())
    })
    .await;
    assert_eq!(c.store.snapshot(&topic).unwrap().epoch, epoch);
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn the_loop_goes_on_while_a_command_waits_for_its_answer() {
    let wed = Date::from_ymd(2026, 12, 2);
    let clock = frozen_at(wed, 11, 0);
    let (sim, c) = on_clock(&clock, &["SPY"], |o| {
        o.timing.stale_after = Duration::from_secs(10);
        o.timing.command_timeout = Duration::from_secs(10);
    })
    .await;
    live_chain(&c, &sim, "SPY").await;
    c.demand.add("expirations:SPY");
    let later = eventually("a later SPY expiry", 10, || {
        c.items("expirations:SPY").keys().nth(2).cloned()
    })
    .await;
    // The streamer goes silent: the ADD for the new chain will wait for its answer until the stall ends.
    sim.handle.stall(Duration::from_secs(4));
    let topic = format!("chain:SPY:{later}");
    c.demand.add(&topic);
    eventually(
        "the new chain's REST picture (the ADD is now waiting)",
        10,
        || (!c.items(&topic).is_empty()).then_some(()),
    )
    .await;
    // Meanwhile the market closes: the loop notices at once, not after the command's answer.
    clock.set(wed.at_et(16, 5));
    eventually("closed while the command waits", 10, || {
        (c.state() == "closed").then_some(())
    })
    .await;
    let code = &later[2..].replace('-', "");
    assert!(
        !sim.subs(OPTIONS).iter().any(|k| k.contains(code.as_str())),
        "the ADD was not answered yet: the status did not wait for it"
    );
    // Once the streamer answers, the ADD lands and the new chain streams.
    eventually("the ADD lands after the stall", 15, || {
        sim.subs(OPTIONS)
            .iter()
            .any(|k| k.contains(code.as_str()))
            .then_some(())
    })
    .await;
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn a_halted_contract_says_so_as_schwab_sends_it() {
    let clock = frozen_at(Date::from_ymd(2026, 12, 2), 11, 0);
    let (sim, c) = on_clock(&clock, &["SPY"], |_| {}).await;
    let topic = live_chain(&c, &sim, "SPY").await;
    let key = c.live_keys(&topic).into_iter().next().unwrap();
    let status = |c: &Client| c.items(&topic)[&key].get("security_status").cloned();
    eventually("Normal in the session", 10, || {
        (status(&c) == Some(json!("Normal"))).then_some(())
    })
    .await;
    assert!(sim.handle.halt(&key, true));
    eventually("Halted, as the stream says", 10, || {
        (status(&c) == Some(json!("Halted"))).then_some(())
    })
    .await;
    assert!(sim.handle.halt(&key, false));
    eventually("trading again", 10, || {
        (status(&c) == Some(json!("Normal"))).then_some(())
    })
    .await;
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn expiries_beside_the_one_on_screen_are_held_as_rest_pictures() {
    let clock = frozen_at(Date::from_ymd(2026, 12, 2), 11, 0);
    let (sim, c) = on_clock(&clock, &["SPY"], |o| o.held_expiries = 3).await;
    let nearest = "chain:SPY:2026-12-02".to_string();
    eventually("the nearest expiry streams", 10, || {
        (!c.live_keys(&nearest).is_empty()).then_some(())
    })
    .await;
    let held = eventually("three SPY expiries held", 10, || {
        let topics: Vec<String> = c
            .store
            .topic_names()
            .into_iter()
            .filter(|t| t.starts_with("chain:SPY:") && !c.items(t).is_empty())
            .collect();
        (topics.len() == 3).then_some(topics)
    })
    .await;
    let exps: Vec<String> = c
        .items("expirations:SPY")
        .keys()
        .take(3)
        .map(|d| format!("chain:SPY:{d}"))
        .collect();
    assert_eq!(held, exps, "the first three listed expiries");
    for t in held.iter().filter(|t| **t != nearest) {
        assert!(
            c.live_keys(t).is_empty(),
            "{t} is a REST picture, not streamed"
        );
        let code = &t["chain:SPY:20".len()..].replace('-', "");
        assert!(
            !sim.subs(OPTIONS).iter().any(|k| k.contains(code.as_str())),
            "held expiries take no streamer keys"
        );
    }
    // The budget note does not count them as watched.
    assert!(c.status()["detail"]
        .as_str()
        .unwrap()
        .starts_with("streaming"));
    c.stop().await;
    sim.stop().await;
}

// ---- the REST budget ------------------------------------------------------------------------------------------

#[tokio::test]
async fn forty_on_demand_chains_never_exceed_the_rest_budget() {
    let clock = frozen_at(Date::from_ymd(2026, 12, 2), 11, 0);
    // 10 calls per 2-second window (the production window is a minute; scaled down so the test is short).
    let (sim, c) = on_clock(&clock, &[], |o| {
        o.rest_per_window = 10;
        o.timing.rest_window = Duration::from_secs(2);
    })
    .await;
    let before = sim.handle.rest_call_times().len();
    for i in 0..40 {
        c.demand.add(&format!("chain:ZZ{i:02}:2026-12-18"));
    }
    eventually("forty chain calls made", 20, || {
        (sim.handle.rest_call_times().len() >= before + 40).then_some(())
    })
    .await;
    let times = sim.handle.rest_call_times();
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .filter(|u| u.duration_since(*t) < Duration::from_millis(1_900))
            .count();
        assert!(
            in_window <= 10,
            "{in_window} calls within a window from call {i}"
        );
    }
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn a_429_stops_every_rest_call_until_retry_after() {
    let clock = frozen_at(Date::from_ymd(2026, 12, 2), 11, 0);
    let (sim, c) = on_clock(&clock, &["SPY"], |_| {}).await;
    live_chain(&c, &sim, "SPY").await;
    sim.handle.rate_limit(Duration::from_secs(2));
    let throttled_at = std::time::Instant::now();
    c.demand.add("chain:SPY:2026-12-18");
    let status = eventually("the status says throttled, and for how long", 10, || {
        let e = c.status()["error"].as_str()?.to_string();
        e.contains("throttled").then_some(e)
    })
    .await;
    assert!(
        status.contains("HTTP 429") && status.contains(" s"),
        "{status}"
    );
    eventually("the chain loads once Schwab allows it", 10, || {
        (!c.items("chain:SPY:2026-12-18").is_empty()).then_some(())
    })
    .await;
    // One call met the 429; the next one waited for Retry-After.
    let after: Vec<_> = sim
        .handle
        .rest_call_times()
        .into_iter()
        .filter(|t| *t >= throttled_at)
        .collect();
    assert!(after.len() >= 2, "{after:?}");
    assert!(
        after[1].duration_since(after[0]) >= Duration::from_millis(1_900),
        "the call after the 429 waited: {:?}",
        after[1].duration_since(after[0])
    );
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn an_unknown_symbol_is_told_once_and_not_asked_again() {
    use tickdesk_hub::broker::Event;
    let clock = frozen_at(Date::from_ymd(2026, 12, 2), 11, 0);
    let (sim, c) = on_clock(&clock, &[], |_| {}).await;
    let topic = "chain:NOPE:2026-12-18";
    c.store.ensure_topic(topic);
    let mut rx = c.store.subscribe(topic).unwrap();
    let before = sim.handle.rest_call_times().len();
    c.demand.add(topic);
    let notice = common::next_notice(&mut rx, 10, "an unknown_symbol notice").await;
    assert_eq!(notice.0, tickdesk_wire::ErrorCode::UnknownSymbol);
    assert!(notice.1.contains("NOPE"), "{}", notice.1);
    assert!(c.status()["error"]
        .as_str()
        .unwrap()
        .contains("does not know the symbol NOPE"));
    // Another browser asks for the same underlying during the cool-down: no call, no second notice.
    c.demand.add("chain:NOPE:2027-01-15");
    c.demand.add(topic);
    // Nothing to wait for but some of the client's turns (its market checks run every 50 ms).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sim.handle.rest_call_times().len(),
        before + 1,
        "one call, then none"
    );
    assert!(
        !matches!(
            rx.try_recv().map(|e| matches!(*e, Event::Notice { .. })),
            Ok(true)
        ),
        "one notice per topic"
    );
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn a_chain_too_large_for_schwab_is_asked_for_in_parts() {
    let clock = frozen_at(Date::from_ymd(2026, 12, 2), 11, 0);
    let sim = Sim::start(SimOptions {
        clock: clock.clone(),
        // The gateway's TooBigBody for any answer over 100 contracts; SPY's whole 0DTE chain has about 300.
        max_chain_contracts: 100,
        ..sim_opts()
    })
    .await;
    let mut opts = client_opts(&sim.url(""), &["SPY"]);
    opts.clock = clock.clone();
    opts.filter.strike_window = None;
    opts.filter.min_open_interest = 0;
    let c = Client::start(opts);
    let topic = "chain:SPY:2026-12-02";
    let expiry = Date::from_ymd(2026, 12, 2);
    let want = sim.handle.with_market(|m| {
        m.contracts
            .iter()
            .filter(|k| k.root == "SPY" && k.expiry == expiry)
            .count()
    });
    assert!(
        want > 200,
        "the whole chain is over the gateway's limit: {want}"
    );
    eventually("every contract, from the parts merged", 10, || {
        (c.items(topic).len() == want).then_some(())
    })
    .await;
    assert!(
        c.status()["error"].is_null() || !c.status()["error"].as_str().unwrap().contains("502"),
        "{:?}",
        c.status()
    );
    c.stop().await;
    sim.stop().await;
}

// ---- the real stream's faults ---------------------------------------------------------------------------------

#[tokio::test]
async fn schwabs_idle_and_keepalive_closes_are_survived() {
    let clock = frozen_at(Date::from_ymd(2026, 12, 2), 11, 0);
    let (sim, c) = on_clock(&clock, &["AAPL"], |_| {}).await;
    let topic = live_chain(&c, &sim, "AAPL").await;
    let subs = sim.handle.subscriptions();
    for (n, code) in [1001u16, 1011].into_iter().enumerate() {
        assert_eq!(sim.handle.close_with(code), 1);
        eventually(&format!("back after close {code}"), 10, || {
            (sim.handle.logins() == n as u64 + 2
                && sim.handle.subscriptions() == subs
                && c.state() == "live")
                .then_some(())
        })
        .await;
        eventually("the chain equals the market again", 10, || {
            matches_market(&c, &sim, &topic, "AAPL").then_some(())
        })
        .await;
    }
    assert_eq!(sim.handle.connections_open(), 1);
    c.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn the_daily_disconnect_at_a_fixed_hour_is_survived() {
    let wed = Date::from_ymd(2026, 12, 2);
    let clock = frozen_at(wed, 11, 59);
    let sim = Sim::start(SimOptions {
        clock: clock.clone(),
        daily_disconnect_et: Some((12, 0)),
        ..sim_opts()
    })
    .await;
    let mut opts = client_opts(&sim.url(""), &["AAPL"]);
    opts.clock = clock.clone();
    let c = Client::start(opts);
    let topic = live_chain(&c, &sim, "AAPL").await;
    let subs = sim.handle.subscriptions();
    assert_eq!(sim.handle.logins(), 1);
    clock.set(wed.at_et(12, 1));
    eventually("reconnected after the daily disconnect", 10, || {
        (sim.handle.logins() == 2 && sim.handle.subscriptions() == subs && c.state() == "live")
            .then_some(())
    })
    .await;
    eventually("the chain equals the market again", 10, || {
        matches_market(&c, &sim, &topic, "AAPL").then_some(())
    })
    .await;
    c.stop().await;
    sim.stop().await;
}
