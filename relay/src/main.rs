//! `tickdesk-relay`: parses settings, sets up logging and runs the relay until SIGINT or SIGTERM.

use clap::Parser;
use tickdesk_relay::config::{AuthCommand, Cli, Command, SimulatorArgs};
use tickdesk_relay::schwab::sim::{self, SimOptions};
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
            tickdesk_relay::schwab::login_interactive(
                &cli.serve.schwab,
                stdin.lock(),
                std::io::stdout(),
            )
            .await
        }
        Some(Command::Simulator(args)) => run_simulator(args).await,
        None | Some(Command::Serve) => {
            let cfg = cli.serve;
            let listener = tokio::net::TcpListener::bind(cfg.listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.listen))?;
            tickdesk_relay::run(listener, cfg, shutdown_signal()).await
        }
    }
}

/// The standalone simulator, until Ctrl-C or SIGTERM.
async fn run_simulator(args: SimulatorArgs) -> anyhow::Result<()> {
    let opts = SimOptions {
        seed: args.seed,
        tick_ms: args.tick_ms,
        load_contracts: args.load_contracts,
        idle_code30_after: std::time::Duration::from_millis(args.idle_code30_ms),
        key_cap: args.key_cap,
        access_token_ttl: std::time::Duration::from_secs(args.access_token_ttl_s),
        ..SimOptions::default()
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let (handle, task) = sim::start(listener, opts, shutdown_signal())?;
    // Scripts (and the schwab-py test) wait for this line.
    println!("schwab simulator listening on {}/", handle.base_url());
    task.await?
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
