//! The walking skeleton over real loopback sockets: the curve is live, snapshot then deltas, shutdown closes
//! sockets with a close frame.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{test_config, Relay};
use tickdesk_testkit::{Client, Next};
use tickdesk_wire::ServerMsg;

#[tokio::test]
async fn curve_snapshot_then_gapless_deltas() {
    let relay = Relay::start(test_config()).await;
    let mut c = Client::connect(&relay.ws_url()).await;
    c.hello(BTreeMap::new()).await;
    c.subscribe(&["curve"]).await;
    let welcome = c.next().await.expect("the welcome");
    assert!(
        matches!(welcome, ServerMsg::Welcome { v: 1, .. }),
        "{welcome:?}"
    );
    let snap = c.until(|m| matches!(m, ServerMsg::Snapshot { .. })).await;
    let ServerMsg::Snapshot {
        items, recovered, ..
    } = snap
    else {
        unreachable!()
    };
    assert!(!recovered);
    assert_eq!(items.len(), 11, "one item per tenor");
    assert!(items["10Y"]["yield"].as_f64().unwrap() > 0.0);
    let start = c.seq("curve");
    // The client's replica panics on any gap; 20 delta frames prove consecutive application.
    for _ in 0..20 {
        c.until(|m| matches!(m, ServerMsg::Deltas { .. })).await;
    }
    assert!(c.seq("curve") >= start + 20);
    relay.stop().await;
}

#[tokio::test]
async fn shutdown_sends_an_error_and_a_close_frame() {
    let relay = Relay::start(test_config()).await;
    let mut c = Client::connect(&relay.ws_url()).await;
    c.hello(BTreeMap::new()).await;
    c.next().await.expect("the welcome");
    let stopping = tokio::spawn(relay.stop());
    let mut saw_error = false;
    // Frames until the connection ends (each within 5 s): a fatal shutting_down error among them, then the close.
    let end = loop {
        match c.next_within(Duration::from_secs(5)).await {
            Next::Frame(ServerMsg::Error { code, fatal, .. }) => {
                assert_eq!(code, tickdesk_wire::ErrorCode::ShuttingDown);
                assert!(fatal);
                saw_error = true;
            }
            Next::Frame(_) => {}
            end => break end,
        }
    };
    assert!(saw_error, "a shutting_down error precedes the close");
    assert_eq!(
        end.close_code(),
        Some(1001),
        "then a close frame, going away (PROTOCOL.md): {end:?}"
    );
    stopping.await.unwrap();
}

#[tokio::test]
async fn health_and_metrics_answer() {
    let relay = Relay::start(test_config()).await;
    assert_eq!(relay.get("/healthz").await, (200, "ok".to_string()));
    let (status, body) = relay.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("tickdesk_clients 0"), "{body}");
    relay.stop().await;
}
