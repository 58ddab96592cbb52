//! The tickdesk hub: what every topic is and how it reaches clients, free of axum and of every source.
//!
//! - [`memory`]: the in-memory broker: topics, (epoch, seq), and per-topic fan-out of pre-encoded deltas (a change
//!   reaches only its topic's subscribers).
//! - [`broker`]: the two seams at the hub's edges: [`broker::Publisher`], all a source or a derived topic writes
//!   through, and [`broker::Broker`], which owns each topic's (epoch, seq), history and node-level subscription.
//! - [`history`]: one topic's resume history, bounded by count, bytes and age (pure).
//! - [`frame`]: encoded JSON text shared by all clients, and splicing frames out of encoded parts (pure).
//! - [`conflate`]: the per-client outbox that merges pending changes (pure).
//! - [`demand`]: subscriber counts per topic, for upstreams that stream only what is watched.
//! - [`session`]: one client's protocol, sans-IO (client frames in, encoded frames out) and its tokio driver.
//! - [`limits`]: the hub's limits as settings; [`metrics`]: the counters `/metrics` exposes.
//! - [`source`]: the one shape of every source and derived topic (started, reporting health, stopped).
//! - Small shared pieces every source uses: [`status`] (one status shape for every source), [`bars`] (a
//!   `bars:` topic's bounded series of 1-minute bars, pure), [`events`] (signal/trade validation, pure), [`secret`]
//!   (settings that must never be printed), [`topic`] (a chain topic's underlying and expiry as a market date).

pub mod bars;
pub mod broker;
pub mod conflate;
pub mod demand;
pub mod events;
pub mod frame;
pub mod history;
pub mod limits;
pub mod memory;
pub mod metrics;
pub mod secret;
pub mod session;
pub mod source;
pub mod status;
pub mod topic;
