//! The rates desk over a real relay: REST and the stream hold the same curve, spreads, positions and PnL at the
//! same seq; the published PnL adds up exactly; a seed repeats the curve path.

use crate::common;

use std::collections::{BTreeMap, HashMap};

use common::{test_config, Relay};
use serde_json::Value;
use tickdesk_testkit::Client;
use tickdesk_wire::Items;

const TOPICS: [&str; 4] = ["curve", "spreads", "positions", "pnl"];

/// Connects and subscribes to `topics`, and reads until every one has its snapshot.
async fn client(relay: &Relay, topics: &[&str]) -> Client {
    let mut c = Client::connect(&relay.ws_url()).await;
    c.hello(BTreeMap::new()).await;
    c.subscribe(topics).await;
    while topics.iter().any(|t| c.replica.topic(t).is_none()) {
        c.next().await.expect("snapshots arrive");
    }
    c
}

/// `/api/snapshot?topics=…` as topic → (seq, items).
async fn rest(relay: &Relay, topics: &[&str]) -> HashMap<String, (u64, Items)> {
    let (status, body) = relay
        .get(&format!("/api/snapshot?topics={}", topics.join(",")))
        .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    topics
        .iter()
        .map(|t| {
            let seq = v[t]["seq"].as_u64().expect("a seq");
            let items = serde_json::from_value(v[t]["items"].clone()).expect("items");
            (t.to_string(), (seq, items))
        })
        .collect()
}

/// Reads frames until the replica's `topic` reaches `seq`; false if it went past it (a conflated delta).
async fn reach_seq(c: &mut Client, topic: &str, seq: u64) -> bool {
    while c.seq(topic) < seq {
        c.next().await.expect("frames keep coming");
    }
    c.seq(topic) == seq
}

/// Asserts that the client's replica of `topic` equals the REST answer, caught at the same seq.
async fn replica_matches_rest(relay: &Relay, c: &mut Client, topic: &str) {
    for _ in 0..200 {
        let (seq, items) = rest(relay, &[topic]).await.remove(topic).unwrap();
        if seq < c.seq(topic) {
            continue;
        }
        if reach_seq(c, topic, seq).await {
            assert!(!items.is_empty(), "{topic} has items");
            assert_eq!(
                c.replica.topic(topic).unwrap().items,
                items,
                "{topic}: the stream and REST agree at seq {seq}"
            );
            return;
        }
    }
    panic!("never caught {topic} on the stream and REST at the same seq");
}

/// A published dollar amount as integer cents; it must be a whole number of cents.
fn cents(v: &Value) -> i64 {
    let x = v.as_f64().unwrap_or_else(|| panic!("a number: {v}"));
    let c = (x * 100.0).round();
    assert!((x * 100.0 - c).abs() < 1e-6, "{x} is whole cents");
    c as i64
}

#[tokio::test]
async fn rest_and_the_stream_hold_the_same_desk_at_the_same_seq() {
    let relay = Relay::start(test_config()).await;
    let mut c = client(&relay, &TOPICS).await;
    // Let the desk tick a while, so what is compared has moved since the snapshots.
    for topic in TOPICS {
        relay.reaches(topic, c.seq(topic) + 5).await;
    }
    for topic in TOPICS {
        replica_matches_rest(&relay, &mut c, topic).await;
    }
    let r = c.replica.topic("curve").unwrap();
    assert_eq!(r.items.len(), 11);
    let positions = &c.replica.topic("positions").unwrap().items;
    assert!(positions.len() >= 12, "{} positions", positions.len());
    for (id, p) in positions {
        assert_eq!(p["id"].as_str(), Some(id.as_str()));
        assert!(matches!(p["kind"].as_str(), Some("UST" | "IRS")));
        assert!(p["dv01_buckets"].as_object().is_some_and(|b| b.len() == 11));
    }
    let pnl = &c.replica.topic("pnl").unwrap().items;
    assert!(pnl.contains_key("total") && pnl.contains_key("bucket:10Y"));
    assert_eq!(c.replica.topic("spreads").unwrap().items.len(), 3);
    relay.stop().await;
}

#[tokio::test]
async fn published_pnl_buckets_add_up_to_the_total_exactly() {
    let relay = Relay::start(test_config()).await;
    let mut seqs = Vec::new();
    for _ in 0..5 {
        let (seq, pnl) = rest(&relay, &["pnl"]).await.remove("pnl").unwrap();
        seqs.push(seq);
        let buckets: Vec<&BTreeMap<String, Value>> = pnl
            .iter()
            .filter(|(k, _)| k.starts_with("bucket:"))
            .map(|(_, f)| f)
            .collect();
        assert_eq!(buckets.len(), 11);
        for field in [
            "day_pnl",
            "total_pnl",
            "realized_pnl",
            "explain_pnl",
            "residual",
            "dv01",
            "key_dv01",
        ] {
            let sum: i64 = buckets.iter().map(|b| cents(&b[field])).sum();
            assert_eq!(sum, cents(&pnl["total"][field]), "{field} at seq {seq}");
        }
        for row in pnl.values() {
            assert_eq!(
                cents(&row["explain_pnl"]) + cents(&row["residual"]),
                cents(&row["day_pnl"]),
                "explain + residual = day PnL: {row:?}"
            );
        }
        // The next look is at a desk that moved.
        relay.reaches("pnl", seq + 1).await;
    }
    assert!(seqs.windows(2).any(|w| w[1] > w[0]), "PnL moved: {seqs:?}");
    relay.stop().await;
}

/// The curve as a client saw it at each seq, without the wall-clock `ts`.
async fn curve_path(relay: &Relay, seqs: u64) -> BTreeMap<u64, Items> {
    let mut c = client(relay, &["curve"]).await;
    let mut path = BTreeMap::new();
    let start = c.seq("curve");
    while c.seq("curve") < start + seqs {
        let r = c.replica.topic("curve").unwrap();
        let mut items = r.items.clone();
        for f in items.values_mut() {
            f.remove("ts");
        }
        path.insert(r.seq, items);
        c.next().await.expect("the curve keeps ticking");
    }
    path
}

#[tokio::test]
async fn the_same_seed_gives_the_same_curve_path() {
    let (a, b) = (
        Relay::start(test_config()).await,
        Relay::start(test_config()).await,
    );
    let (pa, pb) = tokio::join!(curve_path(&a, 40), curve_path(&b, 40));
    let common: Vec<u64> = pa.keys().filter(|s| pb.contains_key(s)).copied().collect();
    assert!(common.len() >= 20, "{} seqs seen by both", common.len());
    for s in &common {
        assert_eq!(pa[s], pb[s], "curve at seq {s}");
    }
    let mut other = test_config();
    other.seed = Some(43);
    let c = Relay::start(other).await;
    let pc = curve_path(&c, 40).await;
    let both: Vec<u64> = pc.keys().filter(|s| pa.contains_key(s)).copied().collect();
    assert!(!both.is_empty(), "the third run overlaps the first");
    assert!(
        both.iter().all(|s| pc[s] != pa[s]),
        "another seed, another path"
    );
    for r in [a, b, c] {
        r.stop().await;
    }
}

#[tokio::test]
async fn the_desk_takes_a_new_prior_close_at_the_day_roll() {
    use tickdesk_market::{Clock, Date};
    let wed = Date::from_ymd(2026, 12, 2);
    let clock = Clock::frozen(wed.at_et(15, 30));
    let relay = Relay::start_at(test_config(), clock.clone()).await;
    let mut c = client(&relay, &["curve"]).await;
    let prior = |c: &Client| -> f64 {
        c.replica.topic("curve").unwrap().items["10Y"]["prior_close"]
            .as_f64()
            .unwrap()
    };
    let yesterday = prior(&c);
    // The curve moves during the day; the prior close does not.
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            c.next().await.expect("curve ticks");
            let t = c.replica.topic("curve").unwrap();
            if t.items["10Y"]["chg_bp"].as_f64() != Some(0.0) {
                return;
            }
        }
    })
    .await
    .expect("the curve moves");
    assert_eq!(prior(&c), yesterday);
    // New York midnight: the marks the desk stood at become the prior close, so each tenor's new prior close is the
    // yield of the last frame before the roll, exactly. That frame is known when the roll came as a delta of its
    // own (one seq on): a conflated delta would merge the day's last tick into the roll, and then the next
    // midnight is tried.
    let mut day = wed;
    for _ in 0..5 {
        day = day.add_days(1);
        let before_roll = prior(&c);
        clock.set(day.at_et(0, 1));
        let (last, seq, rolled) = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let last = c.replica.topic("curve").unwrap().clone();
                c.next().await.expect("the roll arrives");
                if prior(&c) != before_roll {
                    return (
                        last.items,
                        last.seq,
                        c.replica.topic("curve").unwrap().clone(),
                    );
                }
            }
        })
        .await
        .expect("a new prior close after the day roll");
        assert_ne!(prior(&c), yesterday);
        if rolled.seq != seq + 1 {
            continue;
        }
        assert_eq!(rolled.items.len(), 11);
        for (tenor, row) in &rolled.items {
            assert_eq!(
                row["prior_close"], last[tenor]["yield"],
                "{tenor}: the new prior close is the mark the day ended at (seq {seq})"
            );
        }
        relay.stop().await;
        return;
    }
    panic!("five day rolls, each conflated with the tick before it");
}

#[tokio::test]
async fn delivery_latency_is_a_histogram_by_topic_family() {
    let relay = Relay::start(test_config()).await;
    let mut c = client(&relay, &["curve"]).await;
    // A few dozen curve frames: one in eight is timed.
    for _ in 0..40 {
        c.next().await.expect("curve ticks");
    }
    let (status, text) = relay.get("/metrics").await;
    assert_eq!(status, 200);
    let count = text
        .lines()
        .find_map(|l| l.strip_prefix("tickdesk_delivery_latency_seconds_count{family=\"curve\"} "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no curve latency series:\n{text}"));
    assert!(count >= 1, "{text}");
    assert!(
        text.contains("tickdesk_delivery_latency_seconds_bucket{"),
        "{text}"
    );
    relay.stop().await;
}
