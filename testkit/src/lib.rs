//! The fixtures the workspace's integration tests share, written once (a dev-dependency only; it never depends on
//! the relay, which nothing may depend on):
//!
//! - [`SchwabSim`], [`BinanceSim`]: a simulator on `127.0.0.1:0`, stopped when dropped; [`SimGuard::stop`] also
//!   waits for it and checks that it ended cleanly;
//! - [`eventually`]: polls a condition until a deadline and fails naming what it waited for;
//! - [`in_session`]: a market clock pinned inside a regular session, whatever the wall clock says (the suite is
//!   also run under faketime at other hours);
//! - [`http`]: the HTTP client for loopback, with no proxy from the environment in between;
//! - [`Client`]: a websocket client speaking the relay protocol into a [`Replica`](tickdesk_wire::replica::Replica),
//!   and [`Next`], what its socket delivered: a frame, a close, a timeout or a failure;
//! - [`serial`]: the gate that gives a test its process to itself (a memory measurement), which every fixture
//!   here passes through.

pub mod client;
pub mod serial;
pub mod sim;

use std::time::{Duration, Instant};

use tickdesk_market::{Clock, Date};

pub use client::{Client, Next, Ws};
pub use sim::{BinanceSim, SchwabSim, SimGuard};

/// How often [`eventually`] asks again.
const POLL: Duration = Duration::from_millis(10);

/// Polls `f` every 10 ms until it returns `Some`, and returns that; panics naming `what` after `secs` seconds.
/// Tests wait for what they expect to happen, never for a fixed time that assumes a speed.
pub async fn eventually<T>(what: &str, secs: u64, f: impl AsyncFnMut() -> Option<T>) -> T {
    eventually_or(what, secs, f, String::new).await
}

/// [`eventually`], with `context()` (say, the log lines that tell why) in the panic message of a timeout.
pub async fn eventually_or<T>(
    what: &str,
    secs: u64,
    mut f: impl AsyncFnMut() -> Option<T>,
    context: impl FnOnce() -> String,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = f().await {
            return t;
        }
        if Instant::now() >= deadline {
            let context = context();
            let sep = if context.is_empty() { "" } else { "\n" };
            panic!("timed out after {secs} s waiting for: {what}{sep}{context}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A market clock in a regular session (Wednesday 2 December 2026, 10:15 ET, running), whenever the test runs.
pub fn in_session() -> Clock {
    Clock::starting_at(Date::from_ymd(2026, 12, 2).at_et(10, 15))
}

/// The tests' HTTP client: loopback only, so no proxy from the environment may stand in between.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client")
}
