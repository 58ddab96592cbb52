//! The contract between the tickdesk relay and its clients.
//!
//! Both the native relay and the WebAssembly app depend on this crate, so the two sides can never disagree
//! about a message. It holds no I/O: only types and pure state machines that are unit-tested natively and
//! reused unchanged in the browser and in the load tool.
//!
//! # Layout
//! - [`protocol`]: the versioned JSON frames in each direction and the error codes (see `PROTOCOL.md`).
//! - [`decode`]: server frames read by hand from a JSON value, for the app (smaller WebAssembly than the derive).
//! - [`merge`]: applying and conflating deltas (shared by the relay and the replica).
//! - [`replica`]: a client's copy of the topics it watches: applies snapshots and deltas, detects gaps, and
//!   yields the resume points to send after a reconnect.
//! - [`topics`]: the fixed topic names and the curve's tenors.
//! - [`osi`]: OSI option symbols, the key of every contract (read and written by relay, simulator and app).
//! - [`bars`]: the 1-minute bar of a `bars:{SYMBOL}` topic and its item key.
//! - [`backoff`]: the full-jitter exponential reconnect policy.

pub mod backoff;
pub mod bars;
pub mod decode;
pub mod fields;
pub mod merge;
pub mod osi;
pub mod protocol;
pub mod replica;
pub mod topics;

pub use protocol::{
    ClientMsg, Delta, ErrorCode, Fields, Items, ResumePoint, ServerMsg, PROTOCOL_VERSION,
};
