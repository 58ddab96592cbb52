//! Settings: every one is a flag and a `TICKDESK_*` environment variable (the README lists them all).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use tickdesk_binance::config::BinanceConfig;
use tickdesk_hub::limits::Limits;
use tickdesk_hub::secret::Secret;
use tickdesk_schwab::config::SchwabConfig;

/// The tickdesk relay. With no subcommand it serves.
#[derive(Debug, Parser)]
#[command(name = "tickdesk-relay", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeConfig,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the desk (the default).
    Serve,
    /// Schwab authorisation. Settings come from the `TICKDESK_SCHWAB_*` environment variables.
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Run the built-in Schwab simulator on its own (REST + streamer), for scripts and third-party clients.
    Simulator(tickdesk_schwab_sim::cli::SimArgs),
    /// Run the built-in Binance simulator on its own (streams + REST), for scripts and third-party clients.
    BinanceSimulator(tickdesk_binance_sim::cli::SimArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// The OAuth authorization-code flow: prints the authorize URL, reads the URL your browser was redirected to,
    /// exchanges the code and writes the token file (schwab-py's format, mode 0600).
    Login,
}

/// Everything `serve` needs.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on (use port 0 for any free port; the bound address is logged).
    #[arg(long, env = "TICKDESK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory of the built app (trunk's dist/) served at `/`. Not served if the directory does not exist,
    /// so the app can equally be hosted elsewhere as static files.
    #[arg(long, env = "TICKDESK_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Browser origins allowed to open the websocket, comma-separated (e.g. `https://desk.example.com`).
    /// Same-origin pages and non-browser clients (no Origin header) are always allowed. `*` allows any.
    #[arg(long, env = "TICKDESK_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    #[command(flatten)]
    pub limits: Limits,

    #[command(flatten)]
    pub schwab: SchwabConfig,

    #[command(flatten)]
    pub sim: SimConfig,

    #[command(flatten)]
    pub binance: BinanceConfig,

    #[command(flatten)]
    pub analytics: tickdesk_analytics::AnalyticsConfig,

    /// Run without Schwab options (no client, no simulator): the rates desk and the tape only.
    #[arg(long, env = "TICKDESK_NO_SCHWAB")]
    pub no_schwab: bool,

    /// Bearer token trading bots must present to `POST /api/publish/*`. Publishing is off when unset.
    #[arg(long, env = "TICKDESK_PUBLISH_TOKEN", hide_env_values = true)]
    pub publish_token: Option<Secret>,

    /// Token every route but `/healthz` and the app's files requires (`/ws`, `/ws/stream`, `/api/*`, `/metrics`):
    /// `Authorization: Bearer …`, or the cookie a browser gets by opening `/?token=…` once. Letters, digits and
    /// `-._~` only. Unset and listening beyond loopback, the relay makes one and prints the URL with it. Never logged.
    #[arg(long, env = "TICKDESK_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<Secret>,

    /// Signals and trades kept (and sent to a new subscriber) per topic.
    #[arg(long, env = "TICKDESK_EVENT_HISTORY", default_value_t = 500)]
    pub event_history: usize,

    /// Milliseconds between frames on `/ws/stream`.
    #[arg(long, env = "TICKDESK_STREAM_INTERVAL_MS", default_value_t = 2000)]
    pub stream_interval_ms: u64,

    #[command(flatten)]
    pub rates: tickdesk_rates::config::RatesConfig,

    /// Seed for the simulations, for runs that must repeat. Random when unset.
    #[arg(long, env = "TICKDESK_SEED")]
    pub seed: Option<u64>,
}

/// The built-in Schwab simulator that the relay starts when no app key is set (load mode for benchmarks).
#[derive(Debug, Clone, Args)]
pub struct SimConfig {
    /// Milliseconds between the built-in simulator's market ticks (every tick moves prices and streams changes).
    #[arg(
        long = "sim-tick-ms",
        env = "TICKDESK_SIM_TICK_MS",
        default_value_t = 250
    )]
    pub tick_ms: u64,

    /// Load mode: the built-in simulator also lists `SIMX` with this many option contracts (0 = no `SIMX`).
    #[arg(
        long = "sim-load-contracts",
        env = "TICKDESK_SIM_LOAD_CONTRACTS",
        default_value_t = 0
    )]
    pub load_contracts: usize,

    /// Streamer keys the built-in simulator lets one connection subscribe before refusing with code 19.
    #[arg(
        long = "sim-key-cap",
        env = "TICKDESK_SIM_KEY_CAP",
        default_value_t = 500
    )]
    pub key_cap: usize,

    /// The market clock with the simulator (ignored with a Schwab app key, which always follows the real time):
    /// `auto` (the real time during a regular session, else a running clock from 10:00 ET of the next trading
    /// day, so the demo moves at 2 am and on Sundays), `real` (the real time and calendar: closed at night and on
    /// holidays), or an instant to replay from (`2026-12-02T10:15-05:00`, or `2026-12-02T10:15` in New York).
    #[arg(long = "sim-start", env = "TICKDESK_SIM_START", default_value = "auto")]
    pub start: String,
}

impl ServeConfig {
    /// The defaults, as if run with no flags (`TICKDESK_*` variables still apply). For tests and embedding.
    pub fn defaults() -> Self {
        Cli::parse_from(["tickdesk-relay"]).serve
    }
}
