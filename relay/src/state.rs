//! What every request handler and session shares: the store, demand, limits, metrics and the shutdown flag.
//!
//! A module of its own so the parts that use it (`session`, `api`, `stream`) depend on this, not on `server`, which
//! only wires routes and tasks together: no import circles.

use std::sync::Arc;
use std::time::Duration;

use tickdesk_market::Clock;
use tokio::sync::watch;

use crate::access::Access;
use crate::config::ServeConfig;
use tickdesk_hub::demand::Demand;
use tickdesk_hub::limits::Limits;
use tickdesk_hub::memory::{HistoryLimits, MemoryBroker, TOPIC_CHANNEL_LEN};
use tickdesk_hub::metrics::Metrics;
use tickdesk_hub::secret::Secret;

/// Shared by every request and session.
#[derive(Debug)]
pub struct AppState {
    pub store: Arc<MemoryBroker>,
    /// Who watches what, for upstreams that stream only watched topics.
    pub demand: Arc<Demand>,
    pub limits: Limits,
    pub metrics: Metrics,
    pub allowed_origins: Vec<String>,
    pub publish_token: Option<Secret>,
    /// The access token every guarded route requires, and the record of failed attempts.
    pub access: Access,
    pub event_history: usize,
    pub stream_interval: Duration,
    /// Flips to true once on shutdown; sessions close their sockets with a close frame.
    pub shutdown: watch::Receiver<bool>,
    /// The market clock every source reads for market decisions.
    pub clock: Clock,
}

impl AppState {
    /// The shared state for `cfg`; `shutdown` flips to true when the relay stops.
    pub fn new(cfg: &ServeConfig, clock: Clock, shutdown: watch::Receiver<bool>) -> AppState {
        AppState {
            store: Arc::new(MemoryBroker::with_limits(
                history_limits(&cfg.limits),
                TOPIC_CHANNEL_LEN,
            )),
            demand: Arc::new(Demand::default()),
            limits: cfg.limits.clone(),
            metrics: Metrics::default(),
            allowed_origins: cfg.allowed_origins.clone(),
            publish_token: cfg.publish_token.clone(),
            access: Access::new(cfg.access_token.clone()),
            event_history: cfg.event_history.max(1),
            stream_interval: Duration::from_millis(cfg.stream_interval_ms.max(50)),
            shutdown,
            clock,
        }
    }
}

/// The resume history's bounds from the settings.
pub fn history_limits(l: &Limits) -> HistoryLimits {
    HistoryLimits {
        max_deltas: l.history.max(1),
        topic_bytes: l.history_bytes,
        total_bytes: l.history_total_bytes,
        max_age: Duration::from_millis(l.history_max_age_ms.max(1)),
    }
}
