//! The rates desk's settings: its own clap `Args`, which the relay's settings flatten in.

use clap::Args;

/// The simulated rates desk.
#[derive(Debug, Clone, Args)]
pub struct RatesConfig {
    /// Milliseconds between rates-curve ticks.
    #[arg(
        id = "rates_tick_ms",
        long = "rates-tick-ms",
        env = "TICKDESK_RATES_TICK_MS",
        value_name = "MS",
        default_value_t = 250
    )]
    pub tick_ms: u64,
}
