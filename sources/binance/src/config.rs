//! The Binance source's settings (`--binance*`): its own clap `Args`, which the relay's settings flatten in.

use clap::Args;

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
    pub mode: crate::Mode,

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
