//! The hub's invariants over real loopback sockets: resume, snapshot fallback, pause, conflation, bad input,
//! REST/stream agreement.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{test_config, Relay};
use tickdesk_testkit::{eventually, Client, Next};
use tickdesk_wire::{ClientMsg, ErrorCode, Items, ServerMsg};
use tokio_tungstenite::tungstenite::Message;

/// Connects, subscribes to the curve and reads until the replica has moved past its snapshot.
async fn live_client(relay: &Relay) -> Client {
    let mut c = Client::connect(&relay.ws_url()).await;
    c.hello(BTreeMap::new()).await;
    c.subscribe(&["curve"]).await;
    c.until(|m| matches!(m, ServerMsg::Snapshot { .. })).await;
    c.until(|m| matches!(m, ServerMsg::Deltas { .. })).await;
    c
}

/// Reads `/api/snapshot?topics=curve` as (seq, items).
async fn rest_curve(relay: &Relay) -> (u64, Items) {
    let (status, body) = relay.get("/api/snapshot?topics=curve").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    (
        v["curve"]["seq"].as_u64().unwrap(),
        serde_json::from_value(v["curve"]["items"].clone()).unwrap(),
    )
}

/// Reads frames until the replica reaches `seq` exactly; false if it jumped past it.
async fn reach_seq(c: &mut Client, seq: u64) -> bool {
    while c.seq("curve") < seq {
        c.next().await.expect("frames keep coming");
    }
    c.seq("curve") == seq
}

/// Whether the client's replica equals the relay's state, compared at the same seq.
async fn replica_matches_relay(relay: &Relay, c: &mut Client) {
    for _ in 0..200 {
        let (seq, items) = rest_curve(relay).await;
        if seq < c.seq("curve") {
            continue;
        }
        if reach_seq(c, seq).await {
            assert_eq!(
                c.replica.topic("curve").unwrap().items,
                items,
                "replica equals the relay at seq {seq}"
            );
            return;
        }
    }
    panic!("never caught the replica and the relay at the same seq");
}

#[tokio::test]
async fn a_resumed_client_gets_exactly_the_deltas_it_missed() {
    let relay = Relay::start(test_config()).await;
    let c = live_client(&relay).await;
    let held = c.replica.resume_points();
    let held_seq = held["curve"].seq;
    let replica = c.replica.clone();
    drop(c);
    // Away while the curve moves on by 20 ticks.
    relay.reaches("curve", held_seq + 20).await;
    let mut c = Client::connect(&relay.ws_url()).await;
    c.replica = replica;
    c.hello(held).await;
    c.subscribe(&["curve"]).await;
    let m = c.until(|m| matches!(m, ServerMsg::Snapshot { .. })).await;
    let ServerMsg::Snapshot {
        recovered,
        deltas,
        seq,
        ..
    } = m
    else {
        unreachable!()
    };
    assert!(recovered, "history still holds what was missed");
    assert!(
        deltas.len() >= 20,
        "the 20 ticks missed at least: {} deltas",
        deltas.len()
    );
    assert_eq!(
        deltas[0].prev, held_seq,
        "starts exactly where the client stood: no gap, no duplicate"
    );
    assert!(
        deltas
            .windows(2)
            .all(|w| w[1].prev == w[0].seq && w[1].seq == w[0].seq + 1),
        "in order, one by one"
    );
    assert_eq!(seq, deltas.last().unwrap().seq);
    replica_matches_relay(&relay, &mut c).await;
    relay.stop().await;
}

#[tokio::test]
async fn a_client_beyond_the_history_gets_a_fresh_snapshot_flagged_as_such() {
    let mut cfg = test_config();
    cfg.limits.history = 3;
    let relay = Relay::start(cfg).await;
    let c = live_client(&relay).await;
    let held = c.replica.resume_points();
    drop(c);
    // Away while the curve moves on further than the 3 deltas of history.
    relay.reaches("curve", held["curve"].seq + 10).await;
    let mut c = Client::connect(&relay.ws_url()).await;
    c.hello(held.clone()).await;
    c.subscribe(&["curve"]).await;
    let ServerMsg::Snapshot {
        recovered,
        items,
        seq,
        ..
    } = c.until(|m| matches!(m, ServerMsg::Snapshot { .. })).await
    else {
        unreachable!()
    };
    assert!(!recovered);
    assert_eq!(items.len(), 11);
    assert!(seq > held["curve"].seq + 3);
    relay.stop().await;
}

#[tokio::test]
async fn after_many_drops_and_resumes_the_replica_equals_the_relay() {
    let relay = Relay::start(test_config()).await;
    let mut c = live_client(&relay).await;
    for round in 0..6 {
        let held = c.replica.resume_points();
        let replica = c.replica.clone();
        drop(c);
        // Away for a different number of ticks each round: 1, 3, 5, ...
        relay
            .reaches("curve", held["curve"].seq + 1 + 2 * round)
            .await;
        c = Client::connect(&relay.ws_url()).await;
        c.replica = replica;
        c.hello(held).await;
        c.subscribe(&["curve"]).await;
        c.until(|m| matches!(m, ServerMsg::Snapshot { .. })).await;
    }
    replica_matches_relay(&relay, &mut c).await;
    relay.stop().await;
}

#[tokio::test]
async fn a_paused_client_receives_nothing_until_resume_then_the_current_values() {
    let relay = Relay::start(test_config()).await;
    let mut c = live_client(&relay).await;
    c.send(&ClientMsg::Pause).await;
    c.until(|m| matches!(m, ServerMsg::Paused)).await;
    let paused_at = c.seq("curve");
    // What was already on its way is read until 800 ms of silence. A pause that does not hold never goes silent
    // (the curve ticks every 20 ms): that fails within 10 s, it does not hang.
    let mut during = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match c.next_within(Duration::from_millis(800)).await {
            Next::Timeout => break,
            Next::Frame(m) => during.push(m),
            gone => panic!("the connection ended while paused: {gone:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never silent while paused: {} frames in 10 s",
            during.len()
        );
    }
    assert!(
        during
            .iter()
            .all(|m| !matches!(m, ServerMsg::Deltas { .. } | ServerMsg::Snapshot { .. })),
        "{during:?}"
    );
    c.send(&ClientMsg::Resume).await;
    c.until(|m| matches!(m, ServerMsg::Resumed)).await;
    let ServerMsg::Deltas { updates } = c.until(|m| matches!(m, ServerMsg::Deltas { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(
        updates[0].prev, paused_at,
        "catch-up starts where the pause left off"
    );
    assert!(
        updates[0].seq - updates[0].prev > 10,
        "one conflated delta spans the ~40 ticks of the pause"
    );
    assert!(updates[0].set.len() <= 11, "at most one entry per tenor");
    replica_matches_relay(&relay, &mut c).await;
    relay.stop().await;
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_everyone_else_keeps_being_served() {
    let mut cfg = test_config();
    cfg.limits.max_frame_bytes = 1024;
    cfg.limits.max_bad_frames = 5;
    let relay = Relay::start(cfg).await;
    let mut bystander = live_client(&relay).await;
    let mut bad = Client::connect(&relay.ws_url()).await;
    let expect_error = async |c: &mut Client, frame: Message, code: ErrorCode| {
        c.send_raw(frame).await;
        let m = c.until(|m| matches!(m, ServerMsg::Error { .. })).await;
        let ServerMsg::Error {
            code: got,
            fatal,
            message,
            ..
        } = m
        else {
            unreachable!()
        };
        assert_eq!(got, code, "{message}");
        assert!(!fatal);
        assert!(!message.is_empty());
    };
    expect_error(
        &mut bad,
        Message::Text("{not json".into()),
        ErrorCode::BadFrame,
    )
    .await;
    expect_error(
        &mut bad,
        Message::Text(r#"{"type":"launch"}"#.into()),
        ErrorCode::BadFrame,
    )
    .await;
    expect_error(
        &mut bad,
        Message::Binary(vec![1, 2, 3].into()),
        ErrorCode::BadFrame,
    )
    .await;
    expect_error(
        &mut bad,
        Message::Text("x".repeat(5000).into()),
        ErrorCode::FrameTooLarge,
    )
    .await;
    bad.subscribe(&["no-such-topic"]).await;
    let ServerMsg::Error { code, .. } = bad.until(|m| matches!(m, ServerMsg::Error { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(code, ErrorCode::UnknownTopic);
    // Still a working session.
    bad.send(&ClientMsg::Ping { t: 7.0 }).await;
    assert_eq!(
        bad.until(|m| matches!(m, ServerMsg::Pong { .. })).await,
        ServerMsg::Pong { t: 7.0 }
    );
    // Abuse past the limit: a fatal error, then the close.
    for _ in 0..3 {
        bad.send_raw(Message::Text("nope".into())).await;
    }
    let fatal = bad
        .until(|m| matches!(m, ServerMsg::Error { fatal: true, .. }))
        .await;
    assert!(matches!(
        fatal,
        ServerMsg::Error {
            code: ErrorCode::TooManyErrors,
            ..
        }
    ));
    let end = bad.next_within(Duration::from_secs(3)).await;
    assert_eq!(
        end.close_code(),
        Some(1008),
        "then the relay closes, a policy violation (PROTOCOL.md): {end:?}"
    );
    // The bystander never noticed.
    let before = bystander.seq("curve");
    for _ in 0..5 {
        bystander
            .until(|m| matches!(m, ServerMsg::Deltas { .. }))
            .await;
    }
    assert!(bystander.seq("curve") >= before + 5);
    let (_, metrics) = relay.get("/metrics").await;
    assert!(
        metrics.contains("tickdesk_errors_closed_abuse_total 1"),
        "{metrics}"
    );
    relay.stop().await;
}

#[tokio::test]
async fn rest_and_stream_agree_on_seq_and_content() {
    let relay = Relay::start(test_config()).await;
    let mut c = live_client(&relay).await;
    replica_matches_relay(&relay, &mut c).await;
    let (status, body) = relay.get("/api/curve").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"10Y\""));
    let (status, body) = relay.get("/api/snapshot?topics=nope").await;
    assert_eq!(status, 404);
    assert!(body.contains("unknown_topic"));
    relay.stop().await;
}

/// A relay with a 300 ms heartbeat and a 900 ms idle timeout, and a client that said hello.
async fn idle_fixture() -> (Relay, Client) {
    let mut cfg = test_config();
    cfg.limits.heartbeat_ms = 300;
    cfg.limits.idle_timeout_ms = 900;
    let relay = Relay::start(cfg).await;
    let mut c = Client::connect(&relay.ws_url()).await;
    c.hello(BTreeMap::new()).await;
    (relay, c)
}

#[tokio::test]
async fn a_silent_client_is_closed_after_the_idle_timeout() {
    let (relay, c) = idle_fixture().await;
    // Not reading means not answering the relay's pings either: the client looks dead. (Its error frame cannot be
    // checked from here: our pending pongs hit the closed socket, and the reset discards unread data.)
    let started = tokio::time::Instant::now();
    eventually("the relay drops the silent client", 10, async || {
        (relay.metric("tickdesk_errors_idle_timeout_total").await == 1).then_some(())
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "not before the idle timeout (900 ms after its last frame): {:?}",
        started.elapsed()
    );
    eventually("the dropped client is no longer counted", 10, async || {
        (relay.metric("tickdesk_clients").await == 0).then_some(())
    })
    .await;
    drop(c);
    relay.stop().await;
}

#[tokio::test]
async fn a_client_that_answers_pings_stays_connected_while_idle() {
    let (relay, mut c) = idle_fixture().await;
    // Reading lets tungstenite answer pings, as a browser does; no frame of our own is sent.
    let mut heartbeats = 0;
    let start = tokio::time::Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        match c.next_within(Duration::from_millis(500)).await {
            Next::Frame(ServerMsg::Heartbeat { .. }) => heartbeats += 1,
            Next::Frame(ServerMsg::Error { code, .. }) => panic!("unexpected error {code:?}"),
            Next::Frame(_) | Next::Timeout => {}
            gone => panic!("the idle client was let go: {gone:?}"),
        }
    }
    assert!(heartbeats >= 5, "heartbeats keep coming: {heartbeats}");
    relay.stop().await;
}
