//! The derived options topics against the store and against the whole relay with the simulator:
//! `analytics:{U}` agrees with its `chain:` topic at the same moment (the item names the chain seq it was computed
//! from), it is recomputed only when something changed, and `activity` fires once per crossing, not on every tick.

use crate::common;

use std::sync::Arc;

use serde_json::{json, Value};
use tickdesk_analytics::activity::ActivityRules;
use tickdesk_analytics::{items_for, Analytics, HeldChain};
use tickdesk_hub::memory::MemoryBroker;
use tickdesk_market::{Clock, Date};
use tickdesk_wire::topics;
use tickdesk_wire::{Fields, Items};

const CHAIN: &str = "chain:TEST:2026-12-18";
const ANALYTICS: &str = "analytics:TEST";

fn row(call: bool, strike: f64, oi: i64, volume: i64) -> Fields {
    let m = strike / 100.0;
    let (delta, iv) = if call {
        (0.5 - (m - 1.0) * 4.0, 20.0 - (m - 1.0) * 10.0)
    } else {
        (-0.5 - (m - 1.0) * 4.0, 20.0 - (m - 1.0) * 20.0)
    };
    serde_json::from_value(json!({
        "put_call": if call { "C" } else { "P" }, "strike": strike, "expiry": "2026-12-18",
        "open_interest": oi, "volume": volume, "iv": iv, "delta": delta.clamp(-0.99, 0.99),
        "gamma": 0.04 * (-(m - 1.0).powi(2) * 50.0).exp(), "mark": 1.5, "live": true,
    }))
    .unwrap()
}

fn sym(call: bool, strike: f64) -> String {
    format!(
        "TEST  261218{}{:08}",
        if call { 'C' } else { 'P' },
        (strike * 1000.0) as i64
    )
}

fn chain() -> Items {
    let mut items = Items::new();
    for k in [90.0, 95.0, 100.0, 105.0, 110.0] {
        items.insert(
            sym(true, k),
            row(true, k, 1000 + (k as i64 % 10) * 300, 100),
        );
        items.insert(sym(false, k), row(false, k, 800, 100));
    }
    items
}

fn setup() -> (Arc<MemoryBroker>, Clock, Analytics) {
    let store = Arc::new(MemoryBroker::new(64, 1024));
    let clock = Clock::frozen(Date::from_ymd(2026, 12, 2).at_et(10, 15));
    store.publish(
        "quotes",
        [(
            "TEST".to_string(),
            serde_json::from_value(json!({"last": 100.0})).unwrap(),
        )]
        .into(),
        vec![],
    );
    store.reset(CHAIN, chain());
    let a = Analytics::new(store.clone(), clock.clone(), ActivityRules::default(), 100);
    (store, clock, a)
}

/// What the pure code says for the chain as the store holds it now, at the item's own spot and time.
fn expected_from_store(store: &MemoryBroker, item: &Fields) -> Fields {
    let c = store.snapshot(CHAIN).unwrap();
    let spot = item["spot"].as_f64().unwrap();
    let ts = item["ts"].as_i64().unwrap();
    let held = HeldChain {
        expiry: Date::from_ymd(2026, 12, 18),
        epoch: c.epoch,
        seq: c.seq,
        items: c.items,
    };
    items_for(&[held], spot, ts).remove("2026-12-18").unwrap()
}

#[test]
fn analytics_agree_with_the_chain_and_move_only_when_it_does() {
    let (store, clock, mut a) = setup();
    assert_eq!(a.step(), 1);
    let snap = store.snapshot(ANALYTICS).expect("the analytics topic");
    assert_eq!(
        snap.items.keys().collect::<Vec<_>>(),
        ["2026-12-18", "all"],
        "one item per held expiry, plus all"
    );
    let item = &snap.items["2026-12-18"];
    assert_eq!(item, &expected_from_store(&store, item));
    assert_eq!(item["chain_seq"], json!(store.snapshot(CHAIN).unwrap().seq));
    assert_eq!(item["spot"], json!(100.0));
    assert_eq!(item["dte"], json!(16));
    // Calls: OI 2500 at 95 and 105, 1000 elsewhere; gamma peaks at 100. 95 and 105 tie on GEX: the lower wins.
    assert_eq!(item["call_wall"], json!(95.0));
    assert_eq!(item["put_wall"], json!(100.0));

    // Nothing changed: no recompute, the topic's seq stands.
    clock.advance_ms(500);
    assert_eq!(a.step(), 0);
    assert_eq!(store.snapshot(ANALYTICS).unwrap().seq, snap.seq);

    // Open interest piles up at 90, calls and puts: the put wall and max pain follow (settling at 95 would now
    // pay 50 000 × 5 on the calls), computed from the new chain.
    let mut change = Items::new();
    let mut f = Fields::new();
    f.insert("open_interest".into(), json!(50_000));
    change.insert(sym(false, 90.0), f.clone());
    change.insert(sym(true, 90.0), f);
    store.publish(CHAIN, change, vec![]);
    clock.advance_ms(500);
    assert_eq!(a.step(), 1);
    let item = store.snapshot(ANALYTICS).unwrap().items["2026-12-18"].clone();
    assert_eq!(item, expected_from_store(&store, &item));
    assert_eq!(item["put_wall"], json!(90.0));
    assert_eq!(item["max_pain"], json!(90.0));

    // The spot moves: recomputed (GEX scales with spot²), the chain untouched.
    store.publish(
        "quotes",
        [(
            "TEST".to_string(),
            serde_json::from_value(json!({"last": 101.0})).unwrap(),
        )]
        .into(),
        vec![],
    );
    clock.advance_ms(500);
    assert_eq!(a.step(), 1);
    let moved = store.snapshot(ANALYTICS).unwrap().items["2026-12-18"].clone();
    assert_eq!(moved["spot"], json!(101.0));
    assert_eq!(moved, expected_from_store(&store, &moved));

    // The chain is emptied (its expiry passed): its item leaves, and `all` with it.
    store.reset(CHAIN, Items::new());
    clock.advance_ms(500);
    a.step();
    assert!(store.snapshot(ANALYTICS).unwrap().items.is_empty());
}

fn set_volume(store: &MemoryBroker, symbol: &str, volume: i64) {
    let mut f = Fields::new();
    f.insert("volume".into(), json!(volume));
    store.publish(CHAIN, [(symbol.to_string(), f)].into(), vec![]);
}

fn activity(store: &MemoryBroker) -> Vec<Fields> {
    store
        .snapshot(topics::ACTIVITY)
        .unwrap()
        .items
        .into_values()
        .collect()
}

#[test]
fn activity_fires_once_per_crossing_not_on_every_tick() {
    let (store, clock, mut a) = setup();
    let crossing = sym(true, 110.0); // OI 1000: the bar is 1250 contracts.
    let sweep = sym(false, 95.0);
    set_volume(&store, &crossing, 1200);
    a.step();
    assert!(activity(&store).is_empty(), "{:?}", activity(&store));
    // One contract a second for two minutes: it crosses 1250 once, then stays over.
    for i in 1..=120 {
        clock.advance_ms(1000);
        set_volume(&store, &crossing, 1200 + i);
        a.step();
    }
    let events = activity(&store);
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["reason"], json!("volume_over_oi"));
    assert_eq!(e["contract"], json!(crossing));
    assert_eq!(
        (e["symbol"].clone(), e["side"].clone()),
        (json!("TEST"), json!("CALL"))
    );
    assert_eq!(
        (e["strike"].clone(), e["expiry"].clone()),
        (json!(110.0), json!("2026-12-18"))
    );
    assert_eq!(
        (e["volume"].clone(), e["open_interest"].clone()),
        (json!(1251.0), json!(1000.0))
    );
    assert_eq!(e["ratio"], json!(1.25));
    assert!(e["time"].as_i64().is_some() && e["timestamp"].as_str().is_some());

    // A sweep of 3000 on a quiet contract (OI 800): a jump and over OI, each once, however long it stays up.
    clock.advance_ms(1000);
    set_volume(&store, &sweep, 3100);
    a.step();
    for _ in 0..30 {
        clock.advance_ms(1000);
        a.step();
    }
    let reasons: Vec<Value> = activity(&store)
        .iter()
        .filter(|e| e["contract"] == json!(sweep))
        .map(|e| e["reason"].clone())
        .collect();
    assert_eq!(reasons, vec![json!("volume_over_oi"), json!("volume_jump")]);
}

/// The whole relay with the simulator: the item of the nearest expiry equals the pure computation over its `chain:`
/// topic at the seq it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relays_analytics_match_its_chain_topic() {
    let mut cfg = common::test_config();
    cfg.no_schwab = false;
    cfg.schwab.symbols = vec!["SPY".into()];
    // Slow market ticks, so the chain often stands still between a recompute and the read.
    cfg.sim.tick_ms = 3000;
    let relay = common::Relay::start(cfg).await;
    let found = tickdesk_testkit::eventually(
        "a SPY analytics item that matches its chain",
        60,
        async || {
            let (_, body) = relay.get("/api/snapshot?topics=analytics:SPY").await;
            let v: Value = serde_json::from_str(&body).ok()?;
            let items = v["analytics:SPY"]["items"].as_object()?;
            let expiry = items.keys().find(|k| *k != "all")?.clone();
            let chain = format!("chain:SPY:{expiry}");
            let (_, body) = relay
                .get(&format!("/api/snapshot?topics={chain},analytics:SPY"))
                .await;
            let v: Value = serde_json::from_str(&body).ok()?;
            let item: Fields =
                serde_json::from_value(v["analytics:SPY"]["items"][&expiry].clone()).ok()?;
            let c = &v[&chain];
            if item["chain_seq"] != c["seq"] || item["chain_epoch"] != c["epoch"] {
                return None;
            }
            let held = HeldChain {
                expiry: Date::parse_iso(&expiry)?,
                epoch: c["epoch"].as_str()?.into(),
                seq: c["seq"].as_u64()?,
                items: serde_json::from_value(c["items"].clone()).ok()?,
            };
            let expected =
                items_for(&[held], item["spot"].as_f64()?, item["ts"].as_i64()?).remove(&expiry)?;
            Some((item, expected, v["analytics:SPY"]["items"]["all"].clone()))
        },
    )
    .await;
    let (item, expected, all) = found;
    assert_eq!(item, expected);
    assert!(item["contracts"].as_u64().unwrap() > 10, "{item:?}");
    assert!(item["gex_by_strike"]
        .as_object()
        .is_some_and(|m| !m.is_empty()));
    assert!(item["atm_iv"].as_f64().is_some_and(|v| v > 1.0));
    assert_eq!(all["expiry"], json!("all"));
    relay.stop().await;
}
