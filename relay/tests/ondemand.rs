//! On-demand topics over a real relay with its built-in Schwab simulator: the cap on how many the relay creates.

mod common;

use std::collections::BTreeMap;

use common::{test_config, Client, Relay};
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
