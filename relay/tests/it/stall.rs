//! A client that stops reading while the upstream runs flat out must cost the relay memory bounded by the state it
//! watches, not by the upstream rate or the stall's length; when it reads again it catches up with the latest
//! values. Runs for `TICKDESK_STALL_SECS` (default 60) seconds.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{test_config, Relay};
use tickdesk_testkit::{eventually, Client};
use tickdesk_wire::ServerMsg;

/// Resident memory of this process (the relay runs in it), in bytes: `VmRSS` of `/proc/self/status`. On Linux it
/// must be read (a panic says why not); `None` only on a system without `/proc`, where the memory goes unmeasured
/// and the test says so.
fn rss_bytes() -> Option<u64> {
    let status = match std::fs::read_to_string("/proc/self/status") {
        Ok(s) => s,
        Err(e) if cfg!(not(target_os = "linux")) && e.kind() == std::io::ErrorKind::NotFound => {
            return None
        }
        Err(e) => panic!("the process's memory is read from /proc/self/status: {e}"),
    };
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/self/status:\n{status}"));
    Some(kib * 1024)
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

async fn curve_seq(relay: &Relay) -> u64 {
    let (_, body) = relay.get("/api/curve").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["seq"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_leaves_memory_flat_and_catches_up_when_it_reads_again() {
    // The process's memory is measured: no other test's relay or simulator may run beside this one.
    let _alone = tickdesk_testkit::serial::exclusive("the stalled client's memory test").await;
    let secs: u64 = std::env::var("TICKDESK_STALL_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let mut cfg = test_config();
    cfg.rates.tick_ms = 1; // the simulator's highest rate: a desk tick every millisecond, as fast as it can go
                           // A short resume history fills within the warm-up, so what is measured is the stalled client alone.
    cfg.limits.history = 64;
    // A client that reads nothing also answers no pings; keep the idle timeout (which would rightly close it as
    // dead) longer than the stall, so what is tested is conflation, not the idle policy.
    cfg.limits.idle_timeout_ms = (secs + 60) * 1000;
    let relay = Relay::start(cfg).await;
    let topics = ["curve", "positions", "pnl"];
    let mut stalled = Client::connect(&relay.ws_url()).await;
    stalled.hello(BTreeMap::new()).await;
    stalled.subscribe(&topics).await;
    for _ in topics {
        stalled
            .until(|m| matches!(m, ServerMsg::Snapshot { .. }))
            .await;
    }
    let seq_at_stall = stalled.seq("curve");

    // Stop reading. Let the socket buffers fill first, then measure: they are full once the relay's writer is stuck,
    // i.e. no frame gets out while the curve moves on by 50 ticks.
    let stall_end = tokio::time::Instant::now() + Duration::from_secs(secs);
    eventually("the stalled client's socket buffers fill", 30, async || {
        let sent = relay.metric("tickdesk_frames_sent_total").await;
        relay.reaches("curve", curve_seq(&relay).await + 50).await;
        (relay.metric("tickdesk_frames_sent_total").await == sent).then_some(())
    })
    .await;
    let warm = rss_bytes();
    let (_, m0) = relay.get("/metrics").await;
    let seq0 = curve_seq(&relay).await;
    let mut peak = warm;
    if warm.is_none() {
        eprintln!(
            "*** NOT MEASURED: no /proc on this system, so the stalled client's memory (RSS) goes unchecked; \
             only the conflation, the queue bound and the catch-up are ***"
        );
    }
    // The rest of the stall is measured (at least 5 s of it).
    let deadline = stall_end.max(tokio::time::Instant::now() + Duration::from_secs(5.min(secs)));
    while tokio::time::Instant::now() < deadline {
        // Samples of the memory while the stall lasts: this wait is the point of the test.
        tokio::time::sleep(Duration::from_millis(500)).await;
        peak = peak.max(rss_bytes());
    }
    let (_, m1) = relay.get("/metrics").await;
    let changes = curve_seq(&relay).await - seq0;
    let conflated = metric(&m1, "tickdesk_deltas_conflated_total")
        - metric(&m0, "tickdesk_deltas_conflated_total");
    let queue_max = metric(&m1, "tickdesk_client_queue_bytes_max");
    let growth = peak.zip(warm).map(|(p, w)| p.saturating_sub(w));
    eprintln!(
        "stall {secs}s: {changes} curve changes upstream, {conflated} deltas conflated, peak RSS growth {}, \
         largest client queue ~{queue_max} bytes",
        growth.map_or("not measured".to_string(), |g| format!(
            "{:.1} MiB",
            g as f64 / (1 << 20) as f64
        ))
    );
    assert!(
        changes > 200,
        "the upstream kept changing during the stall: {changes} curve changes"
    );
    assert!(
        conflated * 10 >= changes * 9,
        "the stalled client's changes were merged, not queued: {conflated} merges for {changes} changes"
    );
    assert!(
        queue_max < 256 * 1024,
        "pending state is bounded by the watched state: {queue_max} bytes"
    );
    if let Some(growth) = growth {
        assert!(
            growth < 8 << 20,
            "memory stays flat during the stall: grew {growth} bytes"
        );
    }

    // Read again: the client drains what its socket held, then gets one conflated catch-up per topic. Within a
    // bounded time it must stand at or past the relay's seq of the moment it resumed reading (latest values), and
    // its replica (which panics on any gap) proves nothing was lost on the way.
    let (_, body) = relay.get("/api/snapshot?topics=curve").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let target = v["curve"]["seq"].as_u64().unwrap();
    let mut c = stalled;
    let caught_up = tokio::time::timeout(Duration::from_secs(30), async {
        while c.seq("curve") < target {
            c.next().await.expect("frames keep coming");
        }
    })
    .await;
    assert!(
        caught_up.is_ok(),
        "caught up within 30 s: at {} of {target}",
        c.seq("curve")
    );
    assert!(c.seq("curve") >= seq_at_stall + changes);
    relay.stop().await;
}
