//! The Schwab source's settings (`--schwab-*`, the chain filter, the key and REST budgets): its own clap `Args`,
//! which the relay's settings flatten in.

use std::path::PathBuf;

use clap::Args;
use tickdesk_hub::secret::Secret;

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
    /// The defaults, as if run with no flags (`TICKDESK_*` variables still apply). For tests and embedding.
    pub fn defaults() -> Self {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            c: SchwabConfig,
        }
        <Only as clap::Parser>::parse_from(["tickdesk"]).c
    }
    /// No app key and an API URL other than Schwab's: a simulator already running there is used (the relay
    /// starts none of its own). Lets the simulator outlive relay restarts, e.g. for reconnect benchmarks.
    pub fn external_simulator(&self) -> bool {
        self.app_key.is_none() && self.api.trim_end_matches('/') != SCHWAB_API
    }
}
