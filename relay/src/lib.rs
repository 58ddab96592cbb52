//! The tickdesk relay: keeps the latest state of every topic and fans it out to every browser.
//!
//! # Layout
//! - [`config`]: flags and `TICKDESK_*` settings.
//! - [`api`]: REST views and the publish API; [`events`]: signal/trade validation (pure).
//! - [`stream`]: `/ws/stream`, the plain periodic desk snapshot for scripts.
//! - [`secret`]: settings that must never be printed.
//! - [`server`]: the HTTP surface (`/ws`, REST views, metrics, static app) and [`server::run`].
//! - [`store`]: topics, (epoch, seq), history, and the broadcast of pre-encoded deltas.
//! - [`session`]: one websocket client: subscriptions, conflation, pause, heartbeat, limits.
//! - [`demand`]: subscriber counts per topic, for upstreams that stream only what is watched.
//! - [`conflate`]: the per-client outbox that merges pending changes (pure).
//! - [`rates`]: the simulated rates desk.
//! - [`metrics`]: counters for `/metrics`.
//! - [`status`]: the `status` topic's one shape for every source.

pub mod api;
pub mod config;
pub mod conflate;
pub mod demand;
pub mod events;
pub mod metrics;
pub mod rates;
pub mod schwab;
pub mod secret;
pub mod server;
pub mod session;
pub mod status;
pub mod store;
pub mod stream;

pub use config::{Cli, ServeConfig};
pub use server::run;
