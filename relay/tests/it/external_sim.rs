//! The relay against a Schwab simulator it did not start (`--schwab-api` set to the simulator's URL, no app key):
//! the simulator outlives a relay restart, each relay holds one streamer connection to it, and the load
//! settings' `SIMX` streams. Also the simulator's tick tap (`/sim/ticks`) that benchmark peers read.

use crate::common;

use std::time::Duration;

use common::{test_config, Relay};
use futures_util::StreamExt;
use serde_json::Value;
use tickdesk_schwab_sim::{SimHandle, SimOptions};
use tickdesk_testkit::{Client, SchwabSim};
use tickdesk_wire::ServerMsg;
use tokio_tungstenite::tungstenite::Message;

fn sim_options() -> SimOptions {
    SimOptions {
        clock: tickdesk_testkit::in_session(),
        seed: Some(5),
        tick_ms: 50,
        load_contracts: 40,
        ..SimOptions::default()
    }
}

fn relay_config(sim: &SimHandle) -> tickdesk_relay::ServeConfig {
    let mut cfg = test_config();
    cfg.no_schwab = false;
    cfg.schwab.api = sim.base_url();
    cfg.schwab.symbols = vec!["SIMX".into()];
    cfg.schwab.strike_window = 0;
    cfg.schwab.min_oi = 0;
    cfg.schwab.max_dte = 400;
    cfg
}

/// Subscribes to `SIMX`'s nearest expiry and waits for a streamed delta of it; returns the topic.
async fn live_chain(relay: &Relay) -> String {
    let mut c = Client::connect(&relay.ws_url()).await;
    c.hello(Default::default()).await;
    c.subscribe(&["expirations:SIMX"]).await;
    let first_date = loop {
        let m = c.next().await.expect("relay open");
        if let ServerMsg::Snapshot { topic, items, .. } = &m {
            if topic == "expirations:SIMX" {
                if let Some(d) = items.keys().next() {
                    break d.clone();
                }
            }
        }
        if let ServerMsg::Deltas { updates } = &m {
            if let Some(d) = updates
                .iter()
                .find(|u| u.topic == "expirations:SIMX")
                .and_then(|u| u.set.keys().next())
            {
                break d.clone();
            }
        }
    };
    let topic = format!("chain:SIMX:{first_date}");
    c.subscribe(&[topic.as_str()]).await;
    let t = topic.clone();
    // Live either in the snapshot (streaming had started before this client subscribed) or in a later delta.
    let live = |row: &tickdesk_wire::Fields| row.get("live") == Some(&Value::Bool(true));
    c.until(move |m| match m {
        ServerMsg::Snapshot { topic, items, .. } => *topic == t && items.values().any(live),
        ServerMsg::Deltas { updates } => updates
            .iter()
            .any(|u| u.topic == t && u.set.values().any(live)),
        _ => false,
    })
    .await;
    topic
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_uses_a_running_simulator_that_outlives_it() {
    let sim = SchwabSim::start(sim_options()).await;
    assert!(relay_config(&sim.handle).schwab.external_simulator());

    let relay = Relay::start(relay_config(&sim.handle)).await;
    let topic = tokio::time::timeout(Duration::from_secs(20), live_chain(&relay))
        .await
        .expect("SIMX streams through the external simulator");
    assert!(topic.starts_with("chain:SIMX:"));
    assert_eq!(
        sim.handle.logins(),
        1,
        "this relay logged in to this simulator once"
    );
    assert_eq!(sim.handle.connections_total(), 1);
    relay.stop().await;

    // A new relay process would do the same: the simulator is still there, with its market and counters.
    let relay = Relay::start(relay_config(&sim.handle)).await;
    tokio::time::timeout(Duration::from_secs(20), live_chain(&relay))
        .await
        .expect("the restarted relay streams again");
    assert_eq!(sim.handle.logins(), 2, "one login per relay start");
    assert_eq!(
        sim.handle.connections_total(),
        2,
        "one streamer connection per relay"
    );
    assert_eq!(sim.handle.connections_open(), 1);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tick_tap_carries_changed_contracts_with_the_chain_field_names() {
    let sim = SchwabSim::start(sim_options()).await;
    let url = format!("ws://{}/sim/ticks?underlying=SIMX", sim.handle.addr());
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut frames = Vec::new();
    while frames.len() < 3 {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a tick within 10 s")
            .expect("tap open")
            .unwrap();
        if let Message::Text(t) = m {
            frames.push(serde_json::from_str::<Value>(t.as_str()).unwrap());
        }
    }
    let listed = sim.handle.state().contracts;
    let first = frames[0]["contracts"].as_object().unwrap();
    assert!(first.len() >= 40 && first.len() <= listed);
    assert!(first
        .keys()
        .all(|k| k.starts_with("SIMX  ") && k.len() == 21));
    for f in &frames {
        assert_eq!(f["type"], "ticks");
        let ts = f["ts"].as_i64().unwrap();
        for row in f["contracts"].as_object().unwrap().values() {
            assert_eq!(row["ts"].as_i64(), Some(ts));
        }
    }
    let unknown = format!("ws://{}/sim/ticks?underlying=NOPE", sim.handle.addr());
    assert!(tokio_tungstenite::connect_async(&unknown).await.is_err());
}
