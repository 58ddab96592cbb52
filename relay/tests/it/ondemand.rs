//! On-demand topics over a real relay with its built-in Schwab simulator: the cap on how many the relay creates.

use crate::common;

use std::collections::BTreeMap;

use common::{test_config, Relay};
use tickdesk_testkit::Client;
use tickdesk_wire::bars::Bar;
use tickdesk_wire::{ErrorCode, ServerMsg};

#[tokio::test]
async fn on_demand_topics_are_capped_with_a_clear_error() {
    let mut cfg = test_config();
    cfg.no_schwab = false;
    // No start symbols and no held expiries: the only on-demand topics are the ones this test asks for.
    cfg.schwab.symbols = vec![];
    cfg.schwab.held_expiries = 0;
    cfg.limits.max_ondemand_topics = 3;
    let relay = Relay::start(cfg).await;
    let mut c = Client::connect(&relay.ws_url()).await;
    c.hello(BTreeMap::new()).await;
    c.subscribe(&[
        "chain:SPY:2026-12-18",
        "chain:SPY:2026-12-24",
        "expirations:SPY",
    ])
    .await;
    c.subscribe(&["chain:AAPL:2026-12-18"]).await;
    let m = c.until(|m| matches!(m, ServerMsg::Error { .. })).await;
    let ServerMsg::Error { code, message, .. } = m else {
        unreachable!()
    };
    assert_eq!(code, ErrorCode::TooManyTopics);
    assert!(
        message.contains("chain:AAPL:2026-12-18")
            && message.contains("TICKDESK_MAX_ONDEMAND_TOPICS"),
        "{message}"
    );
    // The three within the cap were created and answered with snapshots.
    for t in [
        "chain:SPY:2026-12-18",
        "chain:SPY:2026-12-24",
        "expirations:SPY",
    ] {
        assert!(c.replica.topic(t).is_some(), "{t}");
    }
    assert!(c.replica.topic("chain:AAPL:2026-12-18").is_none());
    relay.stop().await;
}

#[tokio::test]
async fn bars_topics_are_on_demand_count_against_the_cap_and_arrive_with_their_history() {
    let mut cfg = test_config();
    cfg.no_schwab = false;
    cfg.schwab.symbols = vec![];
    cfg.schwab.held_expiries = 0;
    cfg.limits.max_ondemand_topics = 2;
    let relay = Relay::start(cfg).await;
    let mut c = Client::connect(&relay.ws_url()).await;
    c.hello(BTreeMap::new()).await;
    c.subscribe(&["bars:AAPL", "bars:$SPX"]).await;
    c.subscribe(&["bars:SPY"]).await;
    let m = c.until(|m| matches!(m, ServerMsg::Error { .. })).await;
    let ServerMsg::Error { code, message, .. } = m else {
        unreachable!()
    };
    assert_eq!(code, ErrorCode::TooManyTopics);
    assert!(message.contains("bars:SPY"), "{message}");
    // The two within the cap are filled from the simulator's pricehistory: a snapshot of bars keyed by time.
    let replica_has = |c: &Client, t: &str| {
        c.replica.topic(t).is_some_and(|r| {
            r.items.len() > 100 && r.items.values().all(|f| Bar::from_fields(f).is_some())
        })
    };
    tokio::time::timeout(std::time::Duration::from_secs(15), async {
        while !(replica_has(&c, "bars:AAPL") && replica_has(&c, "bars:$SPX")) {
            c.next()
                .await
                .expect("frames until both bars topics are filled");
        }
    })
    .await
    .expect("both bars topics filled within 15 s");
    assert!(c.replica.topic("bars:SPY").is_none());
    relay.stop().await;
}
