//! A client of the hub: the protocol itself in [`core`] (sans-IO), and [`run`], its tokio driver over two
//! channels, which a transport (the relay's axum websocket) fills and drains.
//!
//! The driver waits on one broker channel per watched topic, so a change on a topic the client does not watch
//! never wakes it. It hands the writer a frame only when the writer has room, which is what "flush when the socket
//! can take it" means: while a client is slow, changes wait in the session's outbox, conflated. Changes that are
//! already waiting, on every topic, are all taken before the next frame is made, so a session that fell behind
//! sends fewer, larger frames and catches up.

pub mod core;
pub mod driver;

pub use self::core::{Context, Flow, Inbound, Outbound, Session, Writer};
pub use self::driver::run;
