//! Settings: every one is a flag and a `TICKDESK_*` environment variable (the README lists them all).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::secret::Secret;

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
    pub analytics: crate::analytics::AnalyticsConfig,

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

    /// Milliseconds between rates-curve ticks.
    #[arg(long, env = "TICKDESK_RATES_TICK_MS", default_value_t = 250)]
    pub rates_tick_ms: u64,

    /// Seed for the simulations, for runs that must repeat. Random when unset.
    #[arg(long, env = "TICKDESK_SEED")]
    pub seed: Option<u64>,
}

/// The option chain filter's defaults (the settings below; `schwab::chain` applies them).
///
/// Default of the open-interest filter: contracts with less open interest are left out (1 drops OI = 0).
pub const DEFAULT_MIN_OPEN_INTEREST: i64 = 1;
/// Default strike window: this many strikes above and below the at-the-money strike (41 strikes, 82 contracts).
pub const DEFAULT_STRIKE_WINDOW: usize = 20;
/// Default DTE window, in calendar days: from 0DTE …
pub const DEFAULT_MIN_DTE: i64 = 0;
/// … to about two months out.
pub const DEFAULT_MAX_DTE: i64 = 60;

/// Schwab's REST base URL, the default of `--schwab-api`.
pub const SCHWAB_API: &str = "https://api.schwabapi.com";

/// The Schwab Trader API. With no app key, the relay starts the built-in simulator on loopback and points the
/// same client at it.
#[derive(Debug, Clone, Args)]
pub struct SchwabConfig {
    /// The app key (client id) of your Schwab developer app. Unset: use the built-in simulator.
    #[arg(
        long = "schwab-app-key",
        env = "TICKDESK_SCHWAB_APP_KEY",
        hide_env_values = true
    )]
    pub app_key: Option<Secret>,

    /// The app secret of your Schwab developer app.
    #[arg(
        long = "schwab-app-secret",
        env = "TICKDESK_SCHWAB_APP_SECRET",
        hide_env_values = true
    )]
    pub app_secret: Option<Secret>,

    /// The callback URL registered with the app, exactly (trailing slash included).
    #[arg(
        long = "schwab-callback",
        env = "TICKDESK_SCHWAB_CALLBACK",
        default_value = "https://127.0.0.1:8182"
    )]
    pub callback: String,

    /// The token file, in schwab-py's format (a file schwab-py wrote works as is). Written atomically, mode 0600.
    #[arg(
        long = "schwab-token-file",
        env = "TICKDESK_SCHWAB_TOKEN_FILE",
        default_value = "schwab-token.json"
    )]
    pub token_file: PathBuf,

    /// The REST base URL: token endpoint, user preferences and market data.
    /// With no app key, a URL other than Schwab's names a Schwab simulator that is already running
    /// (`tickdesk-relay simulator`), used instead of starting the built-in one.
    #[arg(
        long = "schwab-api",
        env = "TICKDESK_SCHWAB_API",
        default_value = SCHWAB_API
    )]
    pub api: String,

    /// Underlyings watched from start (comma-separated): their nearest expiry streams even before a browser connects.
    #[arg(
        long,
        env = "TICKDESK_SYMBOLS",
        value_delimiter = ',',
        default_value = "$SPX,SPY,AAPL"
    )]
    pub symbols: Vec<String>,

    /// Most streamer keys (underlyings + charts + contracts) subscribed at once; Schwab's limit is about 500.
    #[arg(long, env = "TICKDESK_SCHWAB_KEY_BUDGET", default_value_t = 500)]
    pub key_budget: usize,

    /// Contracts with open interest below this are left out of the chains (1 drops OI = 0).
    #[arg(long, env = "TICKDESK_SCHWAB_MIN_OI", default_value_t = DEFAULT_MIN_OPEN_INTEREST)]
    pub min_oi: i64,

    /// Strikes kept on each side of the money in a chain (0 keeps all).
    #[arg(long, env = "TICKDESK_SCHWAB_STRIKE_WINDOW", default_value_t = DEFAULT_STRIKE_WINDOW)]
    pub strike_window: usize,

    /// Latest expiry served, in days to expiration (0DTE is always included).
    #[arg(long, env = "TICKDESK_SCHWAB_MAX_DTE", default_value_t = DEFAULT_MAX_DTE)]
    pub max_dte: i64,

    /// Expiries of each watched underlying held as REST pictures beside the one on screen (refreshed every minute,
    /// not streamed), for the options analytics across expiries; 0 holds none.
    #[arg(
        long = "schwab-held-expiries",
        env = "TICKDESK_SCHWAB_HELD_EXPIRIES",
        default_value_t = 6
    )]
    pub held_expiries: usize,

    /// Market-data REST calls to Schwab per minute, all together (chains, expirations, quotes), in priority order:
    /// what a browser waits for first, background refreshes last. Schwab allows 120 per minute per app.
    #[arg(
        long = "schwab-rest-per-min",
        env = "TICKDESK_SCHWAB_REST_PER_MIN",
        default_value_t = 120
    )]
    pub rest_per_min: usize,

    /// Sessions of 1-minute bars a `bars:{SYMBOL}` topic keeps: the current one and the ones before it, extended
    /// hours (04:00–20:00 ET) included; the day roll drops the oldest. 2: today's and the previous trading day's.
    #[arg(
        long = "bars-sessions",
        env = "TICKDESK_BARS_SESSIONS",
        default_value_t = 2
    )]
    pub bars_sessions: usize,

    /// Symbols whose `bars:` another source publishes (Binance's, set by the relay at start, not a setting): a
    /// browser watching `bars:BTCUSDT` must not make Schwab look for a `BTCUSDT` price history.
    #[arg(skip)]
    pub foreign_bars: Vec<String>,
}

impl SchwabConfig {
    /// No app key and an API URL other than Schwab's: a simulator already running there is used (the relay
    /// starts none of its own). Lets the simulator outlive relay restarts, e.g. for reconnect benchmarks.
    pub fn external_simulator(&self) -> bool {
        self.app_key.is_none() && self.api.trim_end_matches('/') != SCHWAB_API
    }
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

/// Binance's stream base, the default of `--binance-ws`.
pub const BINANCE_WS: &str = "wss://stream.binance.com:9443";
/// Binance's REST base, the default of `--binance-rest`.
pub const BINANCE_REST: &str = "https://api.binance.com";

/// The Binance source: crypto prices and 1-minute bars (see `binance`).
#[derive(Debug, Clone, Args)]
pub struct BinanceConfig {
    /// `auto` (Binance, or the built-in simulator if it cannot be reached within the probe time: offline, or a
    /// 451 from a restricted location), `real` (the endpoints below, whatever happens), `sim`, or `off`.
    #[arg(
        id = "binance_mode",
        long = "binance",
        env = "TICKDESK_BINANCE",
        value_enum,
        default_value = "auto"
    )]
    pub mode: crate::binance::Mode,

    /// Symbols streamed (comma-separated, Binance spelling): their `crypto` rows and `bars:{SYMBOL}` topics.
    #[arg(
        id = "binance_symbols",
        long = "binance-symbols",
        env = "TICKDESK_BINANCE_SYMBOLS",
        value_delimiter = ',',
        default_value = "BTCUSDT,ETHUSDT,SOLUSDT"
    )]
    pub symbols: Vec<String>,

    /// The stream base; the relay appends `/stream?streams=…` or `/ws`. Binance.US: `wss://stream.binance.us:9443`.
    #[arg(id = "binance_ws", long = "binance-ws", env = "TICKDESK_BINANCE_WS", default_value = BINANCE_WS)]
    pub ws: String,

    /// The REST base. Binance.US: `https://api.binance.us`.
    #[arg(id = "binance_rest", long = "binance-rest", env = "TICKDESK_BINANCE_REST", default_value = BINANCE_REST)]
    pub rest: String,

    /// In `auto`, how long Binance has to answer before the built-in simulator is used, in ms.
    #[arg(
        id = "binance_probe_ms",
        long = "binance-probe-ms",
        env = "TICKDESK_BINANCE_PROBE_MS",
        default_value_t = 3000
    )]
    pub probe_ms: u64,

    /// A connection is replaced (new one first) at this age, in ms: before Binance's 24-hour limit cuts it.
    #[arg(id = "binance_rotate_ms", long = "binance-rotate-ms", env = "TICKDESK_BINANCE_ROTATE_MS", default_value_t = 23 * 3_600_000)]
    pub rotate_ms: u64,

    /// A connection that delivers nothing (no data, no ping) for this long, in ms, is replaced.
    #[arg(
        id = "binance_silent_ms",
        long = "binance-silent-ms",
        env = "TICKDESK_BINANCE_SILENT_MS",
        default_value_t = 30_000
    )]
    pub silent_ms: u64,

    /// A symbol with no update for this long, in ms, is marked `stale`.
    #[arg(
        id = "binance_stale_ms",
        long = "binance-stale-ms",
        env = "TICKDESK_BINANCE_STALE_MS",
        default_value_t = 15_000
    )]
    pub stale_ms: u64,

    /// REST polling period when the websocket cannot connect, in ms.
    #[arg(
        id = "binance_poll_ms",
        long = "binance-poll-ms",
        env = "TICKDESK_BINANCE_POLL_MS",
        default_value_t = 2000
    )]
    pub poll_ms: u64,

    /// After a 451 (restricted location), the next try is this much later, in ms.
    #[arg(
        id = "binance_restricted_retry_ms",
        long = "binance-restricted-retry-ms",
        env = "TICKDESK_BINANCE_RESTRICTED_RETRY_MS",
        default_value_t = 300_000
    )]
    pub restricted_retry_ms: u64,

    /// Longest wait between reconnect attempts (full-jitter backoff from 0.5 s), in ms.
    #[arg(
        id = "binance_backoff_max_ms",
        long = "binance-backoff-max-ms",
        env = "TICKDESK_BINANCE_BACKOFF_MAX_MS",
        default_value_t = 30_000
    )]
    pub backoff_max_ms: u64,

    /// 1-minute bars kept per symbol in `bars:{SYMBOL}` (REST history first, then live).
    #[arg(
        id = "binance_bars",
        long = "binance-bars",
        env = "TICKDESK_BINANCE_BARS",
        default_value_t = 1440
    )]
    pub bars: usize,

    /// Streams named in the connection URL (`/stream?streams=…`); the others are asked for with SUBSCRIBE
    /// messages (one per symbol, at most 3 a second). 0 connects to `/ws` and subscribes everything by message.
    #[arg(
        id = "binance_url_streams",
        long = "binance-url-streams",
        env = "TICKDESK_BINANCE_URL_STREAMS",
        default_value_t = 200
    )]
    pub url_streams: usize,
}

/// Per-connection and global limits of the websocket hub.
#[derive(Debug, Clone, Args)]
pub struct Limits {
    /// Milliseconds between heartbeats; clients call the link stale after two missed ones.
    #[arg(long, env = "TICKDESK_HEARTBEAT_MS", default_value_t = 20_000)]
    pub heartbeat_ms: u64,

    /// A client that sends nothing (not even a pong) for this long is closed.
    #[arg(long, env = "TICKDESK_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,

    /// Deltas kept per topic for resume; a client further behind gets a fresh snapshot.
    #[arg(long, env = "TICKDESK_HISTORY", default_value_t = 1024)]
    pub history: usize,

    /// Bytes of resume history kept per topic (the deltas as encoded for clients); the oldest go first.
    #[arg(long, env = "TICKDESK_HISTORY_BYTES", default_value_t = crate::store::DEFAULT_HISTORY_TOPIC_BYTES)]
    pub history_bytes: usize,

    /// Bytes of resume history kept over all topics; past it, the topic holding the most gives up its oldest.
    #[arg(long, env = "TICKDESK_HISTORY_TOTAL_BYTES", default_value_t = crate::store::DEFAULT_HISTORY_TOTAL_BYTES)]
    pub history_total_bytes: usize,

    /// Milliseconds a delta is kept for resume; a client away longer gets a fresh snapshot.
    #[arg(long, env = "TICKDESK_HISTORY_MAX_AGE_MS", default_value_t = crate::store::DEFAULT_HISTORY_MAX_AGE.as_millis() as u64)]
    pub history_max_age_ms: u64,

    /// Largest client frame accepted, in bytes; larger ones get an error frame.
    #[arg(long, env = "TICKDESK_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,

    /// Subscriptions one client may hold.
    #[arg(long, env = "TICKDESK_MAX_SUBSCRIPTIONS", default_value_t = 256)]
    pub max_subscriptions: usize,

    /// Websocket connections in total; more are refused with an `overloaded` error.
    #[arg(long, env = "TICKDESK_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// On-demand topics (`chain:`, `expirations:` …) the relay creates in all; a subscription past it gets a
    /// `too_many_topics` error.
    #[arg(long, env = "TICKDESK_MAX_ONDEMAND_TOPICS", default_value_t = 500)]
    pub max_ondemand_topics: usize,

    /// Bad frames a client may send before it is disconnected.
    #[arg(long, env = "TICKDESK_MAX_BAD_FRAMES", default_value_t = 20)]
    pub max_bad_frames: u32,
}

impl Limits {
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms.max(100))
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms.max(self.heartbeat_ms))
    }
}

impl ServeConfig {
    /// The defaults, as if run with no flags (`TICKDESK_*` variables still apply). For tests and embedding.
    pub fn defaults() -> Self {
        Cli::parse_from(["tickdesk-relay"]).serve
    }
}
