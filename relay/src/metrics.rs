//! Counters for `GET /metrics` (Prometheus text format). Plain atomics: the hot path only ever increments.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::store::Store;

/// The relay's counters and gauges.
#[derive(Debug, Default)]
pub struct Metrics {
    pub clients: AtomicU64,
    pub subscriptions: AtomicU64,
    pub frames_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub frames_shared: AtomicU64,
    pub deltas_conflated: AtomicU64,
    pub resumes_recovered: AtomicU64,
    pub resumes_snapshot: AtomicU64,
    pub lagged_resyncs: AtomicU64,
    /// Times a session woke for changes of topics it watches (a change on another topic wakes nobody else).
    pub topic_wakeups: AtomicU64,
    pub bad_frames: AtomicU64,
    pub closed_abuse: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub idle_timeouts: AtomicU64,
    /// The largest conflation outbox any client has had, in approximate bytes.
    pub client_queue_bytes_max: AtomicU64,
}

impl Metrics {
    /// `tickdesk_upstream_state{source,state} 1` for each upstream's current state (from the `status` topic), and
    /// `tickdesk_upstream_streaming{source}` as 1/0 (live or delayed data flowing), so an alert can fire on "not
    /// streaming".
    pub fn render_upstreams(status: &tickdesk_wire::Items) -> String {
        let mut out = String::from(
            "# HELP tickdesk_upstream_state The state of each upstream source.\n# TYPE tickdesk_upstream_state gauge\n",
        );
        let mut live = String::from(
            "# HELP tickdesk_upstream_streaming 1 when the source streams (live or delayed).\n# TYPE tickdesk_upstream_streaming gauge\n",
        );
        for (source, fields) in status {
            let state = fields
                .get("state")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown");
            let _ = writeln!(
                out,
                "tickdesk_upstream_state{{source=\"{source}\",state=\"{state}\"}} 1"
            );
            let _ = writeln!(
                live,
                "tickdesk_upstream_streaming{{source=\"{source}\"}} {}",
                u8::from(matches!(state, "live" | "delayed"))
            );
        }
        out + &live
    }

    /// The resume history's gauges and evictions by cause, read from the store.
    pub fn render_history(store: &Store) -> String {
        let s = store.history_stats();
        let mut out = format!(
            "# HELP tickdesk_history_bytes Bytes the resume history holds over all topics.\n# TYPE tickdesk_history_bytes gauge\ntickdesk_history_bytes {}\n\
             # HELP tickdesk_history_deltas Deltas the resume history holds over all topics.\n# TYPE tickdesk_history_deltas gauge\ntickdesk_history_deltas {}\n\
             # HELP tickdesk_history_evicted_total Deltas dropped from the resume history, by the bound that dropped them.\n# TYPE tickdesk_history_evicted_total counter\n",
            store.history_bytes(),
            store.history_deltas(),
        );
        for (reason, n) in [
            ("count", &s.evicted_count),
            ("topic_bytes", &s.evicted_bytes),
            ("total_bytes", &s.evicted_total_bytes),
            ("age", &s.evicted_age),
        ] {
            let _ = writeln!(
                out,
                "tickdesk_history_evicted_total{{reason=\"{reason}\"}} {}",
                n.load(Relaxed)
            );
        }
        out
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Renders the Prometheus exposition text.
    pub fn render(&self) -> String {
        let rows: [(&str, &str, &str, &AtomicU64); 15] = [
            (
                "tickdesk_clients",
                "gauge",
                "Connected websocket clients.",
                &self.clients,
            ),
            (
                "tickdesk_subscriptions",
                "gauge",
                "Topic subscriptions over all clients.",
                &self.subscriptions,
            ),
            (
                "tickdesk_frames_sent_total",
                "counter",
                "Websocket frames sent to clients.",
                &self.frames_sent,
            ),
            (
                "tickdesk_bytes_sent_total",
                "counter",
                "Payload bytes sent to clients.",
                &self.bytes_sent,
            ),
            (
                "tickdesk_frames_shared_total",
                "counter",
                "Frames sent as the shared pre-encoded bytes.",
                &self.frames_shared,
            ),
            (
                "tickdesk_deltas_conflated_total",
                "counter",
                "Deltas merged into a pending one.",
                &self.deltas_conflated,
            ),
            (
                "tickdesk_resumes_recovered_total",
                "counter",
                "Resumes answered with the missed deltas.",
                &self.resumes_recovered,
            ),
            (
                "tickdesk_resumes_snapshot_total",
                "counter",
                "Resumes answered with a fresh snapshot.",
                &self.resumes_snapshot,
            ),
            (
                "tickdesk_lagged_resyncs_total",
                "counter",
                "Topics re-synchronised (resumed or re-snapshotted) after a session fell behind on them.",
                &self.lagged_resyncs,
            ),
            (
                "tickdesk_topic_wakeups_total",
                "counter",
                "Times a session woke for changes of the topics it watches.",
                &self.topic_wakeups,
            ),
            (
                "tickdesk_errors_bad_frame_total",
                "counter",
                "Malformed, unknown or oversized client frames.",
                &self.bad_frames,
            ),
            (
                "tickdesk_errors_closed_abuse_total",
                "counter",
                "Connections closed for repeated bad frames.",
                &self.closed_abuse,
            ),
            (
                "tickdesk_client_queue_bytes_max",
                "gauge",
                "Largest per-client pending (conflated) state seen, approximate bytes.",
                &self.client_queue_bytes_max,
            ),
            (
                "tickdesk_errors_idle_timeout_total",
                "counter",
                "Clients closed for sending nothing within the idle timeout.",
                &self.idle_timeouts,
            ),
            (
                "tickdesk_errors_rejected_connections_total",
                "counter",
                "Connections refused (limit or origin).",
                &self.rejected_connections,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, v) in rows {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                v.load(Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn upstream_states_render_as_labelled_gauges() {
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
        let text = Metrics::render_upstreams(&status);
        assert!(
            text.contains("tickdesk_upstream_state{source=\"schwab\",state=\"reconnecting\"} 1"),
            "{text}"
        );
        assert!(text.contains("tickdesk_upstream_streaming{source=\"rates\"} 1"));
        assert!(text.contains("tickdesk_upstream_streaming{source=\"schwab\"} 0"));
    }
}
