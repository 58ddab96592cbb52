//! The hub's limits (heartbeat, idle timeout, resume history, frame size, subscriptions, connections): clap
//! `Args` the relay's settings flatten in.

use std::time::Duration;

use clap::Args;

/// Per-connection and global limits of the websocket hub.
#[derive(Debug, Clone, Args)]
pub struct Limits {
    /// Milliseconds between heartbeats; clients call the link stale after two missed ones.
    #[arg(long, env = "TICKDESK_HEARTBEAT_MS", default_value_t = 20_000)]
    pub heartbeat_ms: u64,

    /// A client that sends nothing (not even a pong) for this long is closed.
    #[arg(long, env = "TICKDESK_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,

    /// Deltas kept per topic for resume; a client further behind gets a fresh snapshot.
    #[arg(long, env = "TICKDESK_HISTORY", default_value_t = 1024)]
    pub history: usize,

    /// Bytes of resume history kept per topic (the deltas as encoded for clients); the oldest go first.
    #[arg(long, env = "TICKDESK_HISTORY_BYTES", default_value_t = crate::memory::DEFAULT_HISTORY_TOPIC_BYTES)]
    pub history_bytes: usize,

    /// Bytes of resume history kept over all topics; past it, the topic holding the most gives up its oldest.
    #[arg(long, env = "TICKDESK_HISTORY_TOTAL_BYTES", default_value_t = crate::memory::DEFAULT_HISTORY_TOTAL_BYTES)]
    pub history_total_bytes: usize,

    /// Milliseconds a delta is kept for resume; a client away longer gets a fresh snapshot.
    #[arg(long, env = "TICKDESK_HISTORY_MAX_AGE_MS", default_value_t = crate::memory::DEFAULT_HISTORY_MAX_AGE.as_millis() as u64)]
    pub history_max_age_ms: u64,

    /// Largest client frame accepted, in bytes; larger ones get an error frame.
    #[arg(long, env = "TICKDESK_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,

    /// Subscriptions one client may hold.
    #[arg(long, env = "TICKDESK_MAX_SUBSCRIPTIONS", default_value_t = 256)]
    pub max_subscriptions: usize,

    /// Websocket connections in total; more are refused with an `overloaded` error.
    #[arg(long, env = "TICKDESK_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// On-demand topics (`chain:`, `expirations:` …) the relay creates in all; a subscription past it gets a
    /// `too_many_topics` error.
    #[arg(long, env = "TICKDESK_MAX_ONDEMAND_TOPICS", default_value_t = 500)]
    pub max_ondemand_topics: usize,

    /// Bad frames a client may send before it is disconnected.
    #[arg(long, env = "TICKDESK_MAX_BAD_FRAMES", default_value_t = 20)]
    pub max_bad_frames: u32,
}

impl Limits {
    /// The defaults, as if run with no flags (`TICKDESK_*` variables still apply). For tests and embedding.
    pub fn defaults() -> Self {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            l: Limits,
        }
        <Only as clap::Parser>::parse_from(["tickdesk"]).l
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms.max(100))
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms.max(self.heartbeat_ms))
    }
}
