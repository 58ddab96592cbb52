//! `GET /metrics`, in the Prometheus / OpenMetrics text format, with `prometheus-client`: counters and gauges the
//! hot path only ever bumps (atomics), the delivery-latency histogram, and, at scrape time, the upstreams' states
//! (from the `status` topic) and the resume history's gauges (from the store).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::broker::Broker;

/// A counter of events.
pub type Count = Counter<u64, AtomicU64>;
/// A level that goes up and down.
pub type Level = Gauge<u64, AtomicU64>;
type Labels = Vec<(&'static str, String)>;

/// The relay's metrics. Cloning a metric shares it; the registry holds a clone of each.
#[derive(Debug)]
pub struct Metrics {
    pub clients: Level,
    pub subscriptions: Level,
    pub frames_sent: Count,
    pub bytes_sent: Count,
    pub frames_shared: Count,
    pub deltas_conflated: Count,
    pub resumes_recovered: Count,
    pub resumes_snapshot: Count,
    pub lagged_resyncs: Count,
    /// Times a session woke for changes of topics it watches (a change on another topic wakes nobody else).
    pub topic_wakeups: Count,
    pub bad_frames: Count,
    pub closed_abuse: Count,
    pub rejected_connections: Count,
    pub idle_timeouts: Count,
    /// The largest conflation outbox any client has had, in approximate bytes.
    pub client_queue_bytes_max: Level,
    /// `tickdesk_delivery_latency_seconds`: from a change entering the store to the frame carrying it going to a
    /// client's socket writer, by topic family (`chain`, `quotes`, `curve`, …; `other` for the rest): the relay's
    /// own share of tick-to-screen, sampled. Each family's series, looked up without allocating on the hot path.
    delivery_by_family: std::collections::HashMap<&'static str, Histogram>,
    upstream_state: Family<Labels, Level>,
    upstream_streaming: Family<Labels, Level>,
    history_bytes: Level,
    history_deltas: Level,
    history_evicted: Family<Labels, Count>,
    registry: Registry,
}

fn delivery_histogram() -> Histogram {
    // 0.1 ms … ~1.6 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::default();
        let mut count = |name: &str, help: &str| {
            let c = Count::default();
            // The text format adds `_total` to counters; the names below are the exposed ones without it.
            registry.register(name, help, c.clone());
            c
        };
        let frames_sent = count("tickdesk_frames_sent", "Websocket frames sent to clients.");
        let bytes_sent = count("tickdesk_bytes_sent", "Payload bytes sent to clients.");
        let frames_shared = count(
            "tickdesk_frames_shared",
            "Frames sent as the shared pre-encoded bytes.",
        );
        let deltas_conflated = count(
            "tickdesk_deltas_conflated",
            "Deltas merged into a pending one.",
        );
        let resumes_recovered = count(
            "tickdesk_resumes_recovered",
            "Resumes answered with the missed deltas.",
        );
        let resumes_snapshot = count(
            "tickdesk_resumes_snapshot",
            "Resumes answered with a fresh snapshot.",
        );
        let lagged_resyncs = count(
            "tickdesk_lagged_resyncs",
            "Topics re-synchronised (resumed or re-snapshotted) after a session fell behind on them.",
        );
        let topic_wakeups = count(
            "tickdesk_topic_wakeups",
            "Times a session woke for changes of the topics it watches.",
        );
        let bad_frames = count(
            "tickdesk_errors_bad_frame",
            "Malformed, unknown or oversized client frames.",
        );
        let closed_abuse = count(
            "tickdesk_errors_closed_abuse",
            "Connections closed for repeated bad frames.",
        );
        let rejected_connections = count(
            "tickdesk_errors_rejected_connections",
            "Connections refused (limit or origin).",
        );
        let idle_timeouts = count(
            "tickdesk_errors_idle_timeout",
            "Clients closed for sending nothing within the idle timeout.",
        );
        let mut level = |name: &str, help: &str| {
            let g = Level::default();
            registry.register(name, help, g.clone());
            g
        };
        let clients = level("tickdesk_clients", "Connected websocket clients.");
        let subscriptions = level(
            "tickdesk_subscriptions",
            "Topic subscriptions over all clients.",
        );
        let client_queue_bytes_max = level(
            "tickdesk_client_queue_bytes_max",
            "Largest per-client pending (conflated) state seen, approximate bytes.",
        );
        let history_bytes = level(
            "tickdesk_history_bytes",
            "Bytes the resume history holds over all topics.",
        );
        let history_deltas = level(
            "tickdesk_history_deltas",
            "Deltas the resume history holds over all topics.",
        );
        let delivery = Family::<Labels, Histogram>::new_with_constructor(
            delivery_histogram as fn() -> Histogram,
        );
        registry.register(
            "tickdesk_delivery_latency_seconds",
            "From a change entering the relay's store to the frame carrying it handed to a client's socket writer (one frame in eight sampled), by topic family.",
            delivery.clone(),
        );
        let upstream_state = Family::<Labels, Level>::default();
        registry.register(
            "tickdesk_upstream_state",
            "The state of each upstream source (1 for the current state).",
            upstream_state.clone(),
        );
        let upstream_streaming = Family::<Labels, Level>::default();
        registry.register(
            "tickdesk_upstream_streaming",
            "1 when the source streams (live or delayed).",
            upstream_streaming.clone(),
        );
        let history_evicted = Family::<Labels, Count>::default();
        registry.register(
            "tickdesk_history_evicted",
            "Deltas dropped from the resume history, by the bound that dropped them.",
            history_evicted.clone(),
        );
        let delivery_by_family = DELIVERY_FAMILIES
            .iter()
            .map(|f| {
                (
                    *f,
                    delivery
                        .get_or_create(&vec![("family", f.to_string())])
                        .clone(),
                )
            })
            .collect();
        Metrics {
            delivery_by_family,
            clients,
            subscriptions,
            frames_sent,
            bytes_sent,
            frames_shared,
            deltas_conflated,
            resumes_recovered,
            resumes_snapshot,
            lagged_resyncs,
            topic_wakeups,
            bad_frames,
            closed_abuse,
            rejected_connections,
            idle_timeouts,
            client_queue_bytes_max,
            upstream_state,
            upstream_streaming,
            history_bytes,
            history_deltas,
            history_evicted,
            registry,
        }
    }
}

/// The topic families timed by name; others are counted as `other`.
const DELIVERY_FAMILIES: &[&str] = &[
    "chain",
    "expirations",
    "quotes",
    "analytics",
    "activity",
    "curve",
    "spreads",
    "positions",
    "pnl",
    "signals",
    "trades",
    "status",
    "other",
];

/// The family of a topic for labels: `chain:AAPL:2026-12-18` → `chain`, `curve` → `curve`.
pub fn topic_family(topic: &str) -> &str {
    topic.split(':').next().unwrap_or(topic)
}

impl Metrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &Count, n: u64) {
        counter.inc_by(n);
    }

    /// Records that a change of `topic` reached a client's socket `latency` after it entered the store.
    pub fn observe_delivery(&self, topic: &str, latency: Duration) {
        let h = self
            .delivery_by_family
            .get(topic_family(topic))
            .or_else(|| self.delivery_by_family.get("other"));
        if let Some(h) = h {
            h.observe(latency.as_secs_f64());
        }
    }

    /// The exposition text: the metrics, with the upstreams' states (from the `status` topic) and the resume
    /// history's gauges (from the store) read now.
    pub fn render(&self, status: &tickdesk_wire::Items, store: &dyn Broker) -> String {
        self.upstream_state.clear();
        self.upstream_streaming.clear();
        for (source, fields) in status {
            let state = fields
                .get("state")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown")
                .to_string();
            let streaming = u64::from(matches!(state.as_str(), "live" | "delayed" | "simulated"));
            self.upstream_state
                .get_or_create(&vec![("source", source.clone()), ("state", state)])
                .set(1);
            self.upstream_streaming
                .get_or_create(&vec![("source", source.clone())])
                .set(streaming);
        }
        self.history_bytes.set(store.history_bytes() as u64);
        self.history_deltas.set(store.history_deltas() as u64);
        let s = store.history_evictions();
        for (reason, n) in [
            ("count", s.count),
            ("topic_bytes", s.bytes),
            ("total_bytes", s.total_bytes),
            ("age", s.age),
        ] {
            // The store counts; the counter follows it (fetch_max: concurrent scrapes cannot count twice).
            self.history_evicted
                .get_or_create(&vec![("reason", reason.to_string())])
                .inner()
                .fetch_max(n, Relaxed);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status() -> tickdesk_wire::Items {
        let mut status = tickdesk_wire::Items::new();
        status.insert(
            "rates".into(),
            [("state".to_string(), json!("live"))].into_iter().collect(),
        );
        status.insert(
            "schwab".into(),
            [("state".to_string(), json!("reconnecting"))]
                .into_iter()
                .collect(),
        );
        status
    }

    #[test]
    fn upstream_states_render_as_labelled_gauges() {
        let m = Metrics::default();
        let text = m.render(&status(), &crate::memory::MemoryBroker::new(16, 16));
        assert!(
            text.contains("tickdesk_upstream_state{source=\"schwab\",state=\"reconnecting\"} 1"),
            "{text}"
        );
        assert!(text.contains("tickdesk_upstream_streaming{source=\"rates\"} 1"));
        assert!(text.contains("tickdesk_upstream_streaming{source=\"schwab\"} 0"));
        // A state that changed leaves no stale series behind.
        let mut s = status();
        s.get_mut("schwab")
            .unwrap()
            .insert("state".into(), json!("live"));
        let text = m.render(&s, &crate::memory::MemoryBroker::new(16, 16));
        assert!(!text.contains("state=\"reconnecting\""), "{text}");
    }

    #[test]
    fn counters_keep_their_names_and_latency_is_a_histogram_by_family() {
        let m = Metrics::default();
        Metrics::add(&m.frames_sent, 3);
        m.clients.inc();
        m.observe_delivery("chain:AAPL:2026-12-18", Duration::from_micros(300));
        m.observe_delivery("chain:SPY:2026-12-18", Duration::from_millis(3));
        m.observe_delivery("curve", Duration::from_micros(50));
        let text = m.render(
            &tickdesk_wire::Items::new(),
            &crate::memory::MemoryBroker::new(16, 16),
        );
        assert!(text.contains("tickdesk_frames_sent_total 3"), "{text}");
        assert!(text.contains("tickdesk_clients 1"), "{text}");
        assert!(
            text.contains("tickdesk_delivery_latency_seconds_count{family=\"chain\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "tickdesk_delivery_latency_seconds_bucket{le=\"0.0001\",family=\"curve\"} 1"
            ) || text.contains(
                "tickdesk_delivery_latency_seconds_bucket{family=\"curve\",le=\"0.0001\"} 1"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn topic_families() {
        assert_eq!(topic_family("chain:$SPX:2026-12-18"), "chain");
        assert_eq!(topic_family("expirations:AAPL"), "expirations");
        assert_eq!(topic_family("status"), "status");
    }
}
