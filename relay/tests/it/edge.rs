//! The HTTP edge: a path that names nothing under `/api/` or `/ws/` is a JSON 404 (other paths are the app's), and
//! the connection cap holds one permit per websocket.

use crate::common;

use std::collections::BTreeMap;

use common::{test_config, Relay};
use tickdesk_testkit::{eventually, Client};

#[tokio::test]
async fn unknown_api_and_ws_paths_get_a_json_404_and_other_paths_the_app() {
    let dist = std::env::temp_dir().join(format!("tickdesk-edge-{}", std::process::id()));
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("index.html"), "<html>the desk</html>").unwrap();
    let mut cfg = test_config();
    cfg.static_dir = dist.clone();
    let relay = Relay::start(cfg).await;
    for path in [
        "/api/curvee",
        "/api/topic/curve/extra",
        "/ws/streams",
        "/ws/x/y",
    ] {
        let (status, body) = relay.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"));
        assert_eq!(v["error"], "not_found", "{path}");
        assert!(
            v["message"].as_str().unwrap().contains(path),
            "the message names the path: {v}"
        );
    }
    let (status, body) = relay.get("/api/curve").await;
    assert_eq!(status, 200);
    assert!(body.starts_with('{'), "a real view still answers: {body}");
    for path in ["/", "/chart", "/some/deep/link"] {
        let (status, body) = relay.get(path).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "<html>the desk</html>"),
            "{path}"
        );
    }
    relay.stop().await;
    let _ = std::fs::remove_dir_all(dist);
}

#[tokio::test]
async fn the_connection_cap_refuses_past_its_permits_and_frees_them_when_clients_leave() {
    let mut cfg = test_config();
    cfg.limits.max_connections = 2;
    let relay = Relay::start(cfg).await;
    let mut a = Client::connect(&relay.ws_url()).await;
    a.hello(BTreeMap::new()).await;
    a.next().await.expect("a welcome");
    let mut b = Client::connect(&relay.ws_url()).await;
    b.hello(BTreeMap::new()).await;
    b.next().await.expect("a welcome");
    match tokio_tungstenite::connect_async(relay.ws_url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 503)
        }
        Ok(_) => panic!("a third connection was let in past a cap of 2"),
        Err(e) => panic!("expected a 503, got {e}"),
    }
    assert_eq!(
        relay
            .metric("tickdesk_errors_rejected_connections_total")
            .await,
        1
    );
    drop(a);
    // The permit goes back once the relay has seen the socket close.
    let mut c = eventually("a freed permit lets a new client in", 10, async || {
        tokio_tungstenite::connect_async(relay.ws_url()).await.ok()
    })
    .await;
    let _ = futures_util::SinkExt::close(&mut c.0).await;
    drop(b);
    relay.stop().await;
}

#[tokio::test]
async fn a_burst_of_upgrades_cannot_overshoot_the_cap() {
    let mut cfg = test_config();
    cfg.limits.max_connections = 5;
    let relay = Relay::start(cfg).await;
    let url = relay.ws_url();
    let tries: Vec<_> = (0..40)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { tokio_tungstenite::connect_async(url).await.ok() })
        })
        .collect();
    let mut open = Vec::new();
    for t in tries {
        if let Some(ws) = t.await.unwrap() {
            open.push(ws);
        }
    }
    assert_eq!(open.len(), 5, "40 at once against a cap of 5");
    assert_eq!(
        relay
            .metric("tickdesk_errors_rejected_connections_total")
            .await,
        35
    );
    drop(open);
    relay.stop().await;
}
