//! Two protocol promises (issue #14, item 6), over real sockets: a publish body with an unknown field is an invalid
//! field (422), not bad JSON (400); and every `snapshot` carries `items`, `{}` when the topic is empty (a new
//! `signals` topic, an on-demand topic's first answer, a resume answer), so a client reading `items` never meets
//! a missing field.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{test_config, Relay};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tickdesk_hub::secret::Secret;
use tickdesk_testkit::Ws;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_publish_body_with_an_unknown_field_answers_422() {
    let mut cfg = test_config();
    cfg.publish_token = Some(Secret::new("t0k"));
    let relay = Relay::start(cfg).await;
    let auth = [("Authorization", "Bearer t0k")];
    for (path, body) in [
        (
            "/api/publish/signal",
            r#"{"signal_type":"BUY","symbol":"AAPL","price":1,"confidence":0.5,"confidnce":0.5}"#,
        ),
        (
            "/api/publish/trade",
            r#"{"symbol":"AAPL","side":"BUY","quantity":1,"price":1,"venue":"X"}"#,
        ),
    ] {
        let (status, answer) = relay.post(path, &auth, body).await;
        assert_eq!(status, 422, "{path}: {answer}");
        assert!(answer.contains("unknown field"), "{answer}");
    }
    // A wrong type or a missing field is a field problem too; only text that is not JSON is a 400.
    let (status, _) = relay
        .post(
            "/api/publish/signal",
            &auth,
            r#"{"signal_type":"BUY","symbol":"AAPL","price":"x","confidence":0.5}"#,
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = relay
        .post("/api/publish/signal", &auth, r#"{"symbol":"AAPL"}"#)
        .await;
    assert_eq!(status, 422);
    let (status, answer) = relay.post("/api/publish/signal", &auth, "{nope").await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("invalid JSON"), "{answer}");
    relay.stop().await;
}

/// The raw JSON of the next `snapshot` frames for `topics`, by topic.
async fn raw_snapshots(ws: &mut Ws, topics: &[&str]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    while out.len() < topics.len() {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a snapshot in time")
            .expect("open")
            .unwrap();
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "snapshot" {
                out.insert(v["topic"].as_str().unwrap().to_string(), v);
            }
        }
    }
    out
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

#[tokio::test]
async fn every_snapshot_carries_items_even_when_empty() {
    // With the built-in Schwab simulator, so `chain:` and `expirations:` topics are served on demand.
    let mut cfg = test_config();
    cfg.no_schwab = false;
    cfg.schwab.symbols = vec!["AAPL".into()];
    let relay = Relay::start(cfg).await;
    let topics = [
        "signals",
        "trades",
        "chain:SPY:2026-12-18",
        "expirations:SPY",
    ];
    let (mut ws, _) = tokio_tungstenite::connect_async(relay.ws_url())
        .await
        .unwrap();
    send(&mut ws, json!({"type": "hello", "v": 1})).await;
    send(&mut ws, json!({"type": "subscribe", "topics": topics})).await;
    let first = raw_snapshots(&mut ws, &topics).await;
    for (topic, snap) in &first {
        assert_eq!(snap["items"], json!({}), "{topic}: {snap}");
    }
    drop(ws);
    // A resume answer (recovered, nothing missed) carries `items: {}` too.
    let resume: serde_json::Map<String, Value> = first
        .iter()
        .map(|(t, s)| (t.clone(), json!({"epoch": s["epoch"], "seq": s["seq"]})))
        .collect();
    let (mut ws, _) = tokio_tungstenite::connect_async(relay.ws_url())
        .await
        .unwrap();
    send(&mut ws, json!({"type": "hello", "v": 1, "resume": resume})).await;
    send(&mut ws, json!({"type": "subscribe", "topics": ["signals"]})).await;
    let again = raw_snapshots(&mut ws, &["signals"]).await;
    assert_eq!(
        again["signals"]["recovered"],
        json!(true),
        "{}",
        again["signals"]
    );
    assert_eq!(again["signals"]["items"], json!({}));
    // And the REST view of an empty topic.
    let (status, body) = relay.get("/api/signals").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["items"],
        json!({})
    );
    relay.stop().await;
}
