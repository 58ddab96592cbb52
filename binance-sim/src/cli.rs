//! The standalone simulator's settings, shared by its own binary (`tickdesk-binance-sim`) and the relay's
//! `tickdesk-relay binance-simulator` subcommand, and the loop that serves until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use crate::SimOptions;

/// The standalone Binance simulator's settings.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Address to listen on; the bound address is printed as `binance simulator listening on http://ADDR/`.
    #[arg(long, default_value = "127.0.0.1:8901")]
    pub listen: SocketAddr,
    /// Seed for a market that repeats. Random when unset.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Milliseconds between market steps (trades and book updates).
    #[arg(long, default_value_t = 250)]
    pub tick_ms: u64,
    /// Milliseconds between server pings (Binance: 20 s).
    #[arg(long, default_value_t = 20_000)]
    pub ping_ms: u64,
    /// A ping unanswered this long (ms) closes the connection (Binance: about a minute).
    #[arg(long, default_value_t = 60_000)]
    pub pong_timeout_ms: u64,
    /// Connections are closed at this age, in seconds (Binance: 24 h).
    #[arg(long, default_value_t = 86_400)]
    pub max_connection_age_s: u64,
}

impl SimArgs {
    /// The simulator options these settings describe.
    pub fn options(&self) -> SimOptions {
        SimOptions {
            seed: self.seed,
            tick_ms: self.tick_ms,
            ping_interval: Duration::from_millis(self.ping_ms.max(10)),
            pong_timeout: Duration::from_millis(self.pong_timeout_ms.max(10)),
            max_connection_age: Duration::from_secs(self.max_connection_age_s.max(1)),
            ..SimOptions::default()
        }
    }
}

/// Serves the simulator with `args` until `shutdown` resolves.
///
/// # Errors
/// If the address cannot be bound or the server fails.
pub async fn serve(
    args: SimArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    crate::run(listener, args.options(), shutdown).await
}
