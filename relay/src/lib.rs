//! The tickdesk relay: the binary and the HTTP edge. The hub (`tickdesk-hub`) keeps every topic and runs each
//! client's protocol; the sources (`tickdesk-schwab`, `tickdesk-binance`, `tickdesk-rates`) and the derived topics
//! (`tickdesk-analytics`) write into it; this crate composes their settings and serves them.
//!
//! - [`config`]: flags and `TICKDESK_*` settings (each crate's own `Args`, flattened).
//! - [`api`]: REST views and the publish API.
//! - [`stream`]: `/ws/stream`, the plain periodic desk snapshot for scripts.
//! - [`access`]: the access token (guard, browser login, slowdown).
//! - [`session`]: the websocket adapter around the hub's session.
//! - [`server`]: wiring only: the routes (`/ws`, REST views, metrics, static app), the tasks, and [`server::run`].
//! - [`state`]: [`state::AppState`], what every handler and session shares.

pub mod access;
pub mod api;
pub mod config;
pub mod server;
pub mod session;
pub mod state;
pub mod stream;

pub use config::{Cli, ServeConfig};
pub use server::run;
