//! The tickdesk relay: keeps the latest state of every topic and fans it out to every browser.
//!
//! # Layout
//! - [`config`]: flags and `TICKDESK_*` settings.
//! - [`api`]: REST views and the publish API; [`events`]: signal/trade validation (pure).
//! - [`stream`]: `/ws/stream`, the plain periodic desk snapshot for scripts.
//! - [`secret`]: settings that must never be printed; [`access`]: the access token (guard, browser login, slowdown).
//! - [`server`]: wiring only: the routes (`/ws`, REST views, metrics, static app), the tasks, and [`server::run`].
//! - [`state`]: [`state::AppState`], what every handler and session shares.
//!
//! The hub's core (no axum, no upstream types in it):
//! - [`store`]: topics, (epoch, seq), and per-topic fan-out of pre-encoded deltas (a change reaches only its
//!   topic's subscribers).
//! - [`history`]: one topic's resume history, bounded by count, bytes and age (pure).
//! - [`frame`]: encoded JSON text shared by all clients, and splicing frames out of encoded parts (pure).
//! - [`conflate`]: the per-client outbox that merges pending changes (pure).
//! - [`demand`]: subscriber counts per topic, for upstreams that stream only what is watched.
//!
//! and its websocket edge, [`session`]: one client: subscriptions, per-topic lag recovery, conflation, pause,
//! heartbeat, limits.
//! - [`rates`]: the simulated rates desk.
//! - [`metrics`]: counters for `/metrics`.
//! - [`status`]: the `status` topic's one shape for every source.
//! - [`bars`]: a `bars:{SYMBOL}` topic's bounded series of 1-minute bars, whatever the source (pure).
//! - [`analytics`]: the derived `analytics:{U}` and `activity` topics, from the chains the store holds.
//! - [`binance`]: crypto prices and bars from Binance (or its built-in simulator).

pub mod access;
pub mod analytics;
pub mod api;
pub mod bars;
pub mod binance;
pub mod config;
pub mod conflate;
pub mod demand;
pub mod events;
pub mod frame;
pub mod history;
pub mod metrics;
pub mod rates;
pub mod schwab;
pub mod secret;
pub mod server;
pub mod session;
pub mod state;
pub mod status;
pub mod store;
pub mod stream;

pub use config::{Cli, ServeConfig};
pub use server::run;
