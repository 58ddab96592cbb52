//! Per-topic fan-out and the bounded resume history, over real loopback sockets against the hub alone (no sources):
//! topics change only when a test publishes, so every frame a client gets is one the test caused.
//!
//! - a change wakes only the sessions watching its topic;
//! - a session that falls behind on one topic re-syncs that topic alone, the others carry on;
//! - a resume within the history replays exactly what live clients got; past its byte budget or its maximum age
//!   it is answered with a fresh snapshot, flagged `recovered: false`.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{test_config, Relay};
use serde_json::json;
use tickdesk_hub::memory::{Clock, HistoryLimits, MemoryBroker};
use tickdesk_relay::state::AppState;
use tickdesk_testkit::{Client, Next};
use tickdesk_wire::replica::Replica;
use tickdesk_wire::{Delta, Items, ServerMsg};

fn publish(state: &AppState, topic: &str, v: f64) {
    let row: Items = [(
        "x".to_string(),
        [("v".to_string(), json!(v))].into_iter().collect(),
    )]
    .into_iter()
    .collect();
    state
        .broker()
        .publish(topic, row, vec![])
        .expect("a change");
}

fn seq_of(state: &AppState, topic: &str) -> u64 {
    state.broker().snapshot(topic).unwrap().seq
}

/// A hub over `store` with topics `a` and `b`.
async fn hub(store: MemoryBroker) -> (Relay, Arc<AppState>) {
    let (relay, state) = Relay::start_hub(test_config(), store).await;
    state.broker().ensure_topic("a");
    state.broker().ensure_topic("b");
    (relay, state)
}

/// A client that holds `replica` (a fresh one for `None`), said hello with its resume points and subscribed to
/// `topics`; returns it with the snapshot frames (already applied to the replica, which panics on a gap).
async fn subscribed(
    relay: &Relay,
    replica: Option<Replica>,
    topics: &[&str],
) -> (Client, Vec<ServerMsg>) {
    let mut c = Client::connect(&relay.ws_url()).await;
    c.replica = replica.unwrap_or_default();
    c.hello(c.replica.resume_points()).await;
    c.subscribe(topics).await;
    let mut snapshots = Vec::new();
    for _ in topics {
        snapshots.push(c.until(|m| matches!(m, ServerMsg::Snapshot { .. })).await);
    }
    (c, snapshots)
}

/// Reads frames until the client holds `topic` at `seq`; returns them.
async fn read_to(c: &mut Client, topic: &str, seq: u64) -> Vec<ServerMsg> {
    let mut frames = Vec::new();
    while c.seq(topic) < seq {
        frames.push(c.next().await.expect("frames keep coming"));
    }
    assert_eq!(c.seq(topic), seq);
    frames
}

fn snapshots_of<'a>(frames: &'a [ServerMsg], topic: &str) -> Vec<&'a ServerMsg> {
    frames
        .iter()
        .filter(|m| matches!(m, ServerMsg::Snapshot { topic: t, .. } if t == topic))
        .collect()
}

#[tokio::test]
async fn a_session_is_woken_only_by_changes_of_the_topics_it_watches() {
    let (relay, state) = hub(MemoryBroker::new(1024, 1024)).await;
    let (mut on_a, _) = subscribed(&relay, None, &["a"]).await;
    assert_eq!(state.broker().subscribers("a"), 1);
    assert_eq!(state.broker().subscribers("b"), 0, "nobody listens on b");
    for i in 0..50 {
        publish(&state, "b", i as f64);
        // Room for a session listening on b to run, if one were.
        tokio::task::yield_now().await;
    }
    publish(&state, "a", 1.0);
    let Next::Frame(ServerMsg::Deltas { updates }) = on_a.next().await else {
        panic!("expected a's change")
    };
    assert_eq!(
        updates
            .iter()
            .map(|d| (d.topic.as_str(), d.seq))
            .collect::<Vec<_>>(),
        vec![("a", 1)],
        "the first frame after the snapshot is a's change: nothing of b's 50"
    );
    assert_eq!(
        relay.metric("tickdesk_topic_wakeups_total").await,
        1,
        "the session woke once, for a; b's changes woke nobody"
    );
    // A session watching b is woken by b's changes.
    let (mut on_b, _) = subscribed(&relay, None, &["b"]).await;
    publish(&state, "b", 99.0);
    read_to(&mut on_b, "b", 51).await;
    assert_eq!(relay.metric("tickdesk_topic_wakeups_total").await, 2);
    assert!(
        matches!(
            on_a.next_within(Duration::from_millis(50)).await,
            Next::Timeout
        ),
        "and still nothing for the session on a"
    );
    relay.stop().await;
}

/// Makes a session fall behind on `a` alone: a burst of 100 changes it cannot take while it happens (the test
/// runtime has one thread and the burst does not yield), over a 16-change channel; then one change on `b`. Returns
/// the frames the session gets until it holds both topics' latest seq, and the hub.
async fn lag_on_a(history: usize) -> (Vec<ServerMsg>, Relay, Arc<AppState>, Client) {
    let (relay, state) = hub(MemoryBroker::with_limits(
        HistoryLimits::deltas(history),
        16,
    ))
    .await;
    let (mut c, _) = subscribed(&relay, None, &["a", "b"]).await;
    publish(&state, "a", 0.5);
    publish(&state, "b", 0.5);
    read_to(&mut c, "a", 1).await;
    read_to(&mut c, "b", 1).await;
    for i in 0..100 {
        publish(&state, "a", i as f64);
    }
    publish(&state, "b", 1.5);
    let mut frames = read_to(&mut c, "a", seq_of(&state, "a")).await;
    frames.extend(read_to(&mut c, "b", 2).await);
    assert_eq!(relay.metric("tickdesk_lagged_resyncs_total").await, 1);
    (frames, relay, state, c)
}

#[tokio::test]
async fn lagging_on_one_topic_resumes_that_topic_alone_from_the_history() {
    let (frames, relay, state, mut c) = lag_on_a(1024).await;
    let [ServerMsg::Snapshot {
        recovered: true,
        deltas,
        seq: 101,
        ..
    }] = snapshots_of(&frames, "a")[..]
    else {
        panic!("one resume of a: {frames:?}")
    };
    assert_eq!(
        (deltas.len(), deltas[0].prev),
        (100, 1),
        "the changes it missed, from where it stood"
    );
    assert!(snapshots_of(&frames, "b").is_empty(), "b is not re-sent");
    assert!(
        frames.iter().any(
            |m| matches!(m, ServerMsg::Deltas { updates } if updates.iter().any(|d| d.topic == "b"))
        ),
        "b's change came as a delta"
    );
    // Both replicas equal the store, and both topics carry on live.
    for t in ["a", "b"] {
        assert_eq!(
            c.replica.topic(t).unwrap().items,
            state.broker().snapshot(t).unwrap().items
        );
        publish(&state, t, 1000.0);
        read_to(&mut c, t, seq_of(&state, t)).await;
    }
    relay.stop().await;
}

#[tokio::test]
async fn lagging_on_one_topic_beyond_the_history_re_snapshots_that_topic_alone() {
    let (frames, relay, state, c) = lag_on_a(8).await;
    let [ServerMsg::Snapshot {
        recovered: false,
        items,
        seq: 101,
        ..
    }] = snapshots_of(&frames, "a")[..]
    else {
        panic!("one fresh snapshot of a: {frames:?}")
    };
    assert_eq!(items, &state.broker().snapshot("a").unwrap().items);
    assert!(snapshots_of(&frames, "b").is_empty(), "b is not re-sent");
    assert_eq!(c.seq("b"), 2);
    relay.stop().await;
}

/// The deltas in `frames`, in order.
fn deltas_in(frames: &[ServerMsg]) -> Vec<Delta> {
    frames
        .iter()
        .flat_map(|m| match m {
            ServerMsg::Deltas { updates } => updates.clone(),
            _ => vec![],
        })
        .collect()
}

#[tokio::test]
async fn a_resume_within_the_byte_budget_replays_exactly_and_one_past_it_gets_a_snapshot() {
    // About 7 deltas of this test's size fit (80 bytes of JSON and 112 of overhead each).
    let limits = HistoryLimits {
        topic_bytes: 1500,
        ..HistoryLimits::deltas(1024)
    };
    let (relay, state) = hub(MemoryBroker::with_limits(limits, 1024)).await;
    let (mut live, _) = subscribed(&relay, None, &["a"]).await;
    let (away, _) = subscribed(&relay, None, &["a"]).await;
    let held = away.replica.clone();
    drop(away);
    for i in 0..5 {
        publish(&state, "a", i as f64 + 1.5);
        tokio::task::yield_now().await;
    }
    let got_live = deltas_in(&read_to(&mut live, "a", 5).await);
    let (back, snaps) = subscribed(&relay, Some(held), &["a"]).await;
    let ServerMsg::Snapshot {
        recovered: true,
        deltas,
        seq: 5,
        ..
    } = &snaps[0]
    else {
        panic!("a resume: {snaps:?}")
    };
    assert_eq!(deltas, &got_live, "exactly the deltas live clients got");
    // Replayed on the replica it held, the state is the store's.
    assert_eq!(
        back.replica.topic("a").unwrap().items,
        state.broker().snapshot("a").unwrap().items
    );

    let held = back.replica.clone();
    drop(back);
    for i in 0..30 {
        publish(&state, "a", i as f64 + 10.5);
    }
    assert!(relay.metric("tickdesk_history_bytes").await <= 1500);
    let (_, snaps) = subscribed(&relay, Some(held), &["a"]).await;
    let ServerMsg::Snapshot {
        recovered: false,
        items,
        seq: 35,
        ..
    } = &snaps[0]
    else {
        panic!("a fresh snapshot: {snaps:?}")
    };
    assert_eq!(items, &state.broker().snapshot("a").unwrap().items);
    assert!(
        relay
            .metric("tickdesk_history_evicted_total{reason=\"topic_bytes\"}")
            .await
            >= 20
    );
    assert_eq!(relay.metric("tickdesk_resumes_recovered_total").await, 1);
    assert_eq!(relay.metric("tickdesk_resumes_snapshot_total").await, 1);
    relay.stop().await;
}

#[tokio::test]
async fn a_resume_older_than_the_maximum_age_gets_a_snapshot() {
    let now = Arc::new(Mutex::new(Instant::now()));
    let clock = {
        let now = now.clone();
        Clock::new(move || *now.lock().unwrap())
    };
    let advance = |secs: u64| *now.lock().unwrap() += Duration::from_secs(secs);
    let limits = HistoryLimits {
        max_age: Duration::from_secs(60),
        ..HistoryLimits::deltas(1024)
    };
    let (relay, state) = hub(MemoryBroker::with_limits(limits, 1024).with_clock(clock)).await;
    let (away, _) = subscribed(&relay, None, &["a"]).await;
    let held = away.replica.clone();
    drop(away);
    for i in 0..3 {
        publish(&state, "a", i as f64);
    }
    advance(30);
    let (_, snaps) = subscribed(&relay, Some(held.clone()), &["a"]).await;
    assert!(
        matches!(&snaps[0], ServerMsg::Snapshot { recovered: true, deltas, .. } if deltas.len() == 3),
        "30 s away: resumed, {snaps:?}"
    );
    advance(31);
    let (_, snaps) = subscribed(&relay, Some(held), &["a"]).await;
    assert!(
        matches!(&snaps[0], ServerMsg::Snapshot { recovered: false, seq: 3, items, .. } if !items.is_empty()),
        "61 s away: the deltas are too old to replay, {snaps:?}"
    );
    assert!(relay.metric("tickdesk_history_bytes").await > 0);
    state.broker().expire_history();
    assert_eq!(relay.metric("tickdesk_history_bytes").await, 0);
    assert_eq!(
        relay
            .metric("tickdesk_history_evicted_total{reason=\"age\"}")
            .await,
        3
    );
    relay.stop().await;
}

#[tokio::test]
async fn unsubscribing_lets_go_of_a_quiet_topic_at_once() {
    let store = MemoryBroker::new(16, 16);
    store.ensure_topic("quiet");
    let (relay, state) = Relay::start_hub(test_config(), store).await;
    let mut c = Client::connect(&relay.ws_url()).await;
    c.hello(Default::default()).await;
    // Subscribed (its snapshot came), the session listens on the topic: there is a receiver to let go of.
    c.subscribe(&["quiet"]).await;
    c.until(|m| matches!(m, ServerMsg::Snapshot { topic, .. } if topic == "quiet"))
        .await;
    let listening = state.broker().subscribers("quiet");
    assert!(listening >= 1, "a subscribed session listens: {listening}");
    c.send(&tickdesk_wire::ClientMsg::Unsubscribe {
        topics: vec!["quiet".into()],
    })
    .await;
    // Subscribe and unsubscribe over and over to a topic that never changes: each wait must end with its
    // subscription, or the session would pile up receivers on the topic's channel.
    for _ in 0..50 {
        c.subscribe(&["quiet"]).await;
        c.send(&tickdesk_wire::ClientMsg::Unsubscribe {
            topics: vec!["quiet".into()],
        })
        .await;
    }
    tickdesk_testkit::eventually("the topic's receivers let go", 10, async || {
        (state.broker().subscribers("quiet") == 0).then_some(())
    })
    .await;
    relay.stop().await;
}
