//! What every request handler and session shares: the hub (broker, demand, limits, metrics, the shutdown flag) and
//! the HTTP edge's own settings.
//!
//! A module of its own so the parts that use it (`session`, `api`, `stream`) depend on this, not on `server`, which
//! only wires routes and tasks together: no import circles.

use std::sync::Arc;
use std::time::Duration;

use tickdesk_market::Clock;
use tokio::sync::watch;

use crate::access::Access;
use crate::config::ServeConfig;
use tickdesk_hub::broker::Broker;
use tickdesk_hub::demand::Demand;
use tickdesk_hub::limits::Limits;
use tickdesk_hub::memory::{HistoryLimits, MemoryBroker, TOPIC_CHANNEL_LEN};
use tickdesk_hub::metrics::Metrics;
use tickdesk_hub::secret::Secret;
use tickdesk_hub::session::Context;

/// Shared by every request and session.
#[derive(Debug)]
pub struct AppState {
    /// What the hub's sessions share; [`AppState::broker`] is its broker.
    pub hub: Arc<Context>,
    pub allowed_origins: Vec<String>,
    pub publish_token: Option<Secret>,
    /// The access token every guarded route requires, and the record of failed attempts.
    pub access: Arc<Access>,
    /// One permit per websocket connection (`--max-connections`); an upgrade without one gets a 503.
    pub connections: Arc<tokio::sync::Semaphore>,
    pub event_history: usize,
    pub stream_interval: Duration,
    /// The market clock every source reads for market decisions.
    pub clock: Clock,
}

impl AppState {
    /// The shared state for `cfg`; `shutdown` flips to true when the relay stops.
    pub fn new(cfg: &ServeConfig, clock: Clock, shutdown: watch::Receiver<bool>) -> AppState {
        let broker = MemoryBroker::with_limits(history_limits(&cfg.limits), TOPIC_CHANNEL_LEN);
        AppState::with_broker(cfg, clock, shutdown, Arc::new(broker))
    }

    /// The shared state over a broker of the caller's.
    pub fn with_broker(
        cfg: &ServeConfig,
        clock: Clock,
        shutdown: watch::Receiver<bool>,
        broker: Arc<dyn Broker>,
    ) -> AppState {
        AppState {
            hub: Arc::new(Context {
                broker,
                demand: Arc::new(Demand::default()),
                limits: cfg.limits.clone(),
                metrics: Metrics::default(),
                shutdown,
            }),
            allowed_origins: cfg.allowed_origins.clone(),
            publish_token: cfg.publish_token.clone(),
            access: Arc::new(Access::new(cfg.access_token.clone())),
            connections: Arc::new(tokio::sync::Semaphore::new(
                cfg.limits
                    .max_connections
                    .min(tokio::sync::Semaphore::MAX_PERMITS),
            )),
            event_history: cfg.event_history.max(1),
            stream_interval: Duration::from_millis(cfg.stream_interval_ms.max(50)),
            clock,
        }
    }
}

impl AppState {
    /// The hub's broker: every topic's state, (epoch, seq) and history.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.hub.broker
    }

    pub fn demand(&self) -> &Arc<Demand> {
        &self.hub.demand
    }

    pub fn limits(&self) -> &Limits {
        &self.hub.limits
    }

    pub fn metrics(&self) -> &Metrics {
        &self.hub.metrics
    }

    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.hub.shutdown.clone()
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
