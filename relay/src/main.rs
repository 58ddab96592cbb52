//! `tickdesk-relay`: parses settings, sets up logging and runs the relay until SIGINT or SIGTERM.

use clap::Parser;
use tickdesk_relay::config::{AuthCommand, Cli, Command};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Auth {
            command: AuthCommand::Login,
        }) => {
            let stdin = std::io::stdin();
            tickdesk_schwab::login_interactive(&cli.serve.schwab, stdin.lock(), std::io::stdout())
                .await
        }
        Some(Command::Simulator(args)) => {
            tickdesk_schwab_sim::cli::serve(args, shutdown_signal()).await
        }
        Some(Command::BinanceSimulator(args)) => {
            tickdesk_binance_sim::cli::serve(args, shutdown_signal()).await
        }
        None | Some(Command::Serve) => {
            let cfg = cli.serve;
            let clock =
                tickdesk_relay::server::market_clock(&cfg, tickdesk_market::clock::wall_ms())
                    .map_err(anyhow::Error::msg)?;
            if clock.is_simulated() {
                tracing::info!(
                    market_time = %tickdesk_market::zone::et_label(clock.now_ms()),
                    "the simulated market runs on its own clock (--sim-start)"
                );
            }
            let listener = tokio::net::TcpListener::bind(cfg.listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.listen))?;
            tickdesk_relay::run(listener, cfg, clock, shutdown_signal()).await
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
