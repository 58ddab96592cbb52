//! The publish API for trading bots, `/ws/stream`, and the connection-level limits, over real sockets.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{test_config, Relay};
use futures_util::StreamExt;
use tickdesk_hub::secret::Secret;
use tickdesk_testkit::{Client, Next};
use tickdesk_wire::{ClientMsg, ServerMsg};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKEN: &str = "test-publish-token-7f3a";

async fn relay_with_token() -> Relay {
    let mut cfg = test_config();
    cfg.publish_token = Some(Secret::new(TOKEN));
    Relay::start(cfg).await
}

async fn subscriber(relay: &Relay, topics: &[&str]) -> Client {
    let mut c = Client::connect(&relay.ws_url()).await;
    c.hello(BTreeMap::new()).await;
    c.subscribe(topics).await;
    for _ in topics {
        c.until(|m| matches!(m, ServerMsg::Snapshot { .. })).await;
    }
    c
}

#[tokio::test]
async fn good_signals_and_trades_reach_every_subscriber() {
    let relay = relay_with_token().await;
    let mut a = subscriber(&relay, &["signals", "trades"]).await;
    let mut b = subscriber(&relay, &["signals", "trades"]).await;
    let auth = format!("Bearer {TOKEN}");
    let (status, body) = relay
        .post(
            "/api/publish/signal",
            &[("Authorization", &auth)],
            r#"{"type":"signal","signal_type":"BUY","symbol":"AAPL","price":231.5,"confidence":0.82,"timestamp":"2026-11-21T14:30:00Z"}"#,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = relay
        .post(
            "/api/publish/trade",
            &[("Authorization", &auth)],
            r#"{"symbol":"AAPL","side":"BUY","quantity":100,"price":231.52}"#,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    for c in [&mut a, &mut b] {
        while c.replica.topic("trades").is_none_or(|t| t.items.is_empty()) {
            c.next().await.expect("the events arrive");
        }
        let signals = &c.replica.topic("signals").unwrap().items;
        let s = signals.values().next().unwrap();
        assert_eq!(
            (
                s["type"].as_str(),
                s["signal_type"].as_str(),
                s["symbol"].as_str()
            ),
            (Some("signal"), Some("BUY"), Some("AAPL"))
        );
        assert_eq!(s["confidence"], serde_json::json!(0.82));
        assert_eq!(s["timestamp"], serde_json::json!("2026-11-21T14:30:00Z"));
        let t = c
            .replica
            .topic("trades")
            .unwrap()
            .items
            .values()
            .next()
            .unwrap()
            .clone();
        assert_eq!(
            (t["type"].as_str(), t["side"].as_str()),
            (Some("trade_executed"), Some("BUY"))
        );
        assert!(
            t["timestamp"].as_str().unwrap().starts_with("20"),
            "stamped by the relay: {t:?}"
        );
    }
    let (_, trades) = relay.get("/api/trades").await;
    assert!(trades.contains("231.52"), "{trades}");
    relay.stop().await;
}

#[tokio::test]
async fn bad_tokens_and_bad_payloads_are_refused_with_the_reason_and_nothing_is_broadcast() {
    let relay = relay_with_token().await;
    let mut c = subscriber(&relay, &["signals"]).await;
    let good = r#"{"signal_type":"SELL","symbol":"SPY","price":590,"confidence":0.5}"#;
    let (status, body) = relay.post("/api/publish/signal", &[], good).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = relay
        .post(
            "/api/publish/signal",
            &[("Authorization", "Bearer wrong")],
            good,
        )
        .await;
    assert_eq!(status, 401);
    assert!(!body.contains(TOKEN), "the answer never echoes the token");
    let auth = format!("Bearer {TOKEN}");
    let (status, body) = relay
        .post("/api/publish/signal", &[("Authorization", &auth)], "{nope")
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("invalid JSON"), "{body}");
    let (status, body) = relay
        .post(
            "/api/publish/signal",
            &[("Authorization", &auth)],
            r#"{"signal_type":"SELL","symbol":"SPY","price":590,"confidence":7}"#,
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body.contains("confidence must be between 0 and 1"),
        "{body}"
    );
    let (status, _) = relay
        .post(
            "/api/publish/trade",
            &[("Authorization", &auth)],
            &"x".repeat(64 * 1024),
        )
        .await;
    assert_eq!(status, 413, "oversized bodies are refused");
    assert!(!matches!(
        c.next_within(Duration::from_millis(300)).await,
        Next::Frame(ServerMsg::Deltas { .. })
    ));
    assert!(
        c.replica.topic("signals").unwrap().items.is_empty(),
        "nothing was broadcast"
    );
    relay.stop().await;
}

#[tokio::test]
async fn publishing_is_off_without_a_token() {
    let relay = Relay::start(test_config()).await;
    let (status, body) = relay
        .post(
            "/api/publish/signal",
            &[("Authorization", "Bearer x")],
            "{}",
        )
        .await;
    assert_eq!(status, 403);
    assert!(body.contains("TICKDESK_PUBLISH_TOKEN"), "{body}");
    relay.stop().await;
}

#[tokio::test]
async fn ws_stream_sends_a_plain_desk_snapshot() {
    let mut cfg = test_config();
    cfg.stream_interval_ms = 100;
    let relay = Relay::start(cfg).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws/stream", relay.addr))
        .await
        .unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
    assert_eq!(v["type"], "desk_snapshot");
    let curve = v["curve"].as_array().unwrap();
    assert_eq!(curve.len(), 11);
    assert_eq!(curve[0]["tenor"], "1M", "sorted by maturity");
    assert!(v["positions"].is_array() && v["pnl_summary"].is_object());
    relay.stop().await;
}

#[tokio::test]
async fn max_rate_caps_how_often_a_client_is_sent_a_topic() {
    let relay = Relay::start(test_config()).await; // the curve ticks every 20 ms
    let mut c = Client::connect(&relay.ws_url()).await;
    c.hello(BTreeMap::new()).await;
    c.send(&ClientMsg::Subscribe {
        topics: vec!["curve".into()],
        max_rate: Some(4.0),
    })
    .await;
    c.until(|m| matches!(m, ServerMsg::Snapshot { .. })).await;
    let start = tokio::time::Instant::now();
    let mut frames = 0;
    let mut spans = 0;
    while start.elapsed() < Duration::from_millis(1500) {
        if let Next::Frame(ServerMsg::Deltas { updates }) =
            c.next_within(Duration::from_millis(300)).await
        {
            frames += 1;
            spans += updates.iter().map(|d| d.seq - d.prev).sum::<u64>();
        }
    }
    assert!(
        (3..=8).contains(&frames),
        "about 4/s for 1.5 s, got {frames}"
    );
    assert!(
        spans > frames * 2,
        "each frame conflates several ticks: {spans} changes in {frames} frames"
    );
    relay.stop().await;
}

#[tokio::test]
async fn foreign_origins_and_connections_over_the_limit_are_refused() {
    let mut cfg = test_config();
    cfg.allowed_origins = vec!["https://desk.example.com".into()];
    cfg.limits.max_connections = 2;
    let relay = Relay::start(cfg).await;
    let with_origin = |origin: &str| {
        let mut req = relay.ws_url().into_client_request().unwrap();
        req.headers_mut().insert("Origin", origin.parse().unwrap());
        req
    };
    let refused = tokio_tungstenite::connect_async(with_origin("https://evil.example")).await;
    assert!(refused.is_err(), "a foreign page cannot open the socket");
    let (_a, _) = tokio_tungstenite::connect_async(with_origin("https://desk.example.com"))
        .await
        .expect("allowed origin");
    let mut b = Client::connect(&relay.ws_url()).await;
    b.hello(BTreeMap::new()).await;
    b.next().await.expect("the welcome"); // Both sessions are registered.
    let third = tokio_tungstenite::connect_async(relay.ws_url()).await;
    assert!(third.is_err(), "over the connection limit");
    let (_, metrics) = relay.get("/metrics").await;
    assert!(
        metrics.contains("tickdesk_errors_rejected_connections_total 2"),
        "{metrics}"
    );
    relay.stop().await;
}
