//! `tickdesk-binance-sim`: the Binance market-data simulator on its own, until Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use tickdesk_binance_sim::SimOptions;
use tracing_subscriber::EnvFilter;

/// A Binance spot market-data simulator (streams and REST) on loopback.
#[derive(Debug, Parser)]
#[command(name = "tickdesk-binance-sim", version, about)]
struct Cli {
    /// Address to listen on; the bound address is printed as `binance simulator listening on http://ADDR/`.
    #[arg(long, default_value = "127.0.0.1:8901")]
    listen: SocketAddr,
    /// Seed for a market that repeats. Random when unset.
    #[arg(long)]
    seed: Option<u64>,
    /// Milliseconds between market steps (trades and book updates).
    #[arg(long, default_value_t = 250)]
    tick_ms: u64,
    /// Milliseconds between server pings (Binance: 20 s).
    #[arg(long, default_value_t = 20_000)]
    ping_ms: u64,
    /// A ping unanswered this long closes the connection.
    #[arg(long, default_value_t = 60_000)]
    pong_timeout_ms: u64,
    /// Connections are closed at this age, in seconds (Binance: 24 h).
    #[arg(long, default_value_t = 86_400)]
    max_connection_age_s: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let opts = SimOptions {
        seed: cli.seed,
        tick_ms: cli.tick_ms,
        ping_interval: Duration::from_millis(cli.ping_ms.max(10)),
        pong_timeout: Duration::from_millis(cli.pong_timeout_ms.max(10)),
        max_connection_age: Duration::from_secs(cli.max_connection_age_s.max(1)),
        ..SimOptions::default()
    };
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    tickdesk_binance_sim::run(listener, opts, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
