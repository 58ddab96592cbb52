//! The Schwab source's settings: where the tokens come from ([`Auth`]), what to stream ([`Options`]) and the
//! intervals and timeouts ([`Timing`]).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;
use tickdesk_wire::topics::normalise_symbols;

use crate::auth::Credentials;
use crate::chain::ChainFilter;
use crate::config::SchwabConfig;
use tickdesk_market::Clock;

/// Where the tokens come from.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A Schwab app: its credentials and the token file (schwab-py's format), rewritten on every refresh.
    App {
        creds: Credentials,
        token_file: PathBuf,
    },
    /// The built-in simulator: tokens from its token endpoint, kept in memory (never written over a real file).
    Simulator,
    /// The settings are incomplete; the words say what to set.
    Misconfigured(String),
}

/// Intervals and timeouts. The defaults suit Schwab; tests shorten them.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Each REST call.
    pub http_timeout: Duration,
    /// Connecting, and waiting for each streamer response.
    pub command_timeout: Duration,
    /// Websocket pings (Schwabdev pings every 20 s).
    pub ping_interval: Duration,
    /// No frame at all (data, heartbeat, pong) for this long: the link is dead, reconnect.
    pub stale_after: Duration,
    /// Reconnect backoff (full jitter) bounds.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// A connection that lived this long resets the backoff when it drops.
    pub stable_after: Duration,
    /// How often to look for a new token file while waiting for `auth login`.
    pub token_poll: Duration,
    /// The status item's `last_msg` is published at most this often.
    pub status_throttle: Duration,
    /// How often the market clock is read: session phase, day roll, strike-window centre.
    pub market_check: Duration,
    /// How often chains with contracts outside the key budget are refreshed from REST.
    pub chain_refresh: Duration,
    /// The market-data REST budget's window: at most `Options::rest_per_window` calls start in any such span.
    pub rest_window: Duration,
    /// After Schwab says it does not know a symbol, no call is made for it for this long.
    pub unknown_cooldown: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            http_timeout: Duration::from_secs(20),
            command_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            stale_after: Duration::from_secs(60),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            stable_after: Duration::from_secs(60),
            token_poll: Duration::from_secs(15),
            status_throttle: Duration::from_secs(1),
            market_check: Duration::from_secs(5),
            chain_refresh: Duration::from_secs(60),
            rest_window: Duration::from_secs(60),
            unknown_cooldown: Duration::from_secs(300),
        }
    }
}

/// Everything the client needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// REST base URL (token endpoint, preferences, market data).
    pub api: String,
    pub auth: Auth,
    /// Underlyings streamed from the start, with their nearest expiry.
    pub symbols: Vec<String>,
    /// Most streamer keys at once (underlyings + contracts).
    pub key_budget: usize,
    pub filter: ChainFilter,
    /// Expiries per watched underlying held as REST pictures (class 2: loaded and refreshed, never streamed).
    pub held_expiries: usize,
    /// Market-data REST calls allowed per `Timing::rest_window` (a minute).
    pub rest_per_window: usize,
    /// Sessions of 1-minute bars a `bars:` topic keeps (the current one included; at least 1).
    pub bars_sessions: usize,
    /// Symbols whose `bars:` topics another source publishes (Binance's): never asked of Schwab.
    pub foreign_bars: HashSet<String>,
    pub timing: Timing,
    /// The market clock: today, DTE, the session, the day roll.
    pub clock: Clock,
}

impl Options {
    /// From the relay's settings and the market clock. No app key: the simulator at `cfg.api`.
    pub fn from_config(cfg: &SchwabConfig, clock: Clock) -> Options {
        let auth = match (&cfg.app_key, &cfg.app_secret) {
            (None, _) => Auth::Simulator,
            (Some(_), None) => Auth::Misconfigured(
                "TICKDESK_SCHWAB_APP_KEY is set but TICKDESK_SCHWAB_APP_SECRET is not: set both"
                    .into(),
            ),
            (Some(k), Some(s)) => Auth::App {
                creds: Credentials {
                    app_key: k.clone(),
                    app_secret: s.clone(),
                },
                token_file: cfg.token_file.clone(),
            },
        };
        Options {
            api: cfg.api.clone(),
            auth,
            symbols: normalise_symbols(&cfg.symbols),
            key_budget: cfg.key_budget.max(1),
            filter: ChainFilter {
                min_open_interest: cfg.min_oi,
                strike_window: (cfg.strike_window > 0).then_some(cfg.strike_window),
                max_dte: cfg.max_dte.max(0),
                ..ChainFilter::default()
            },
            held_expiries: cfg.held_expiries,
            rest_per_window: cfg.rest_per_min.max(1),
            bars_sessions: cfg.bars_sessions.max(1),
            foreign_bars: normalise_symbols(&cfg.foreign_bars).into_iter().collect(),
            timing: Timing::default(),
            clock,
        }
    }
}
