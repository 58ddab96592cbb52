//! The standalone simulator's settings, shared by its own binary (`tickdesk-schwab-sim`) and the relay's
//! `tickdesk-relay simulator` subcommand, and the loop that serves until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use tickdesk_market::{zone, Clock};

use crate::SimOptions;

/// The standalone simulator's settings. It accepts any app key, secret and authorization code.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Address to listen on; the bound address is printed as `schwab simulator listening on http://ADDR/`.
    #[arg(long, default_value = "127.0.0.1:8900")]
    pub listen: SocketAddr,
    /// Seed for a market that repeats. Random when unset.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Milliseconds between market ticks.
    #[arg(long, default_value_t = 250)]
    pub tick_ms: u64,
    /// Load mode: this many extra synthetic contracts tick on every tick (for benchmarks).
    #[arg(long, default_value_t = 0)]
    pub load_contracts: usize,
    /// Load mode: `SIMX` lists this many expiries, one per trading day (0: weeklies and monthlies, about 8).
    #[arg(long, default_value_t = 0)]
    pub load_expiries: usize,
    /// Code 30 after this long logged in with nothing subscribed.
    #[arg(long, default_value_t = 30_000)]
    pub idle_code30_ms: u64,
    /// Most streamer keys one connection may subscribe (code 19 past it).
    #[arg(long, default_value_t = 500)]
    pub key_cap: usize,
    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, default_value_t = 1800)]
    pub access_token_ttl_s: u64,
    /// The market's clock: `auto` (the real time during a regular session, else 10:00 ET of the next trading
    /// day, running from there), `real` (the real time and calendar: closed at night and on holidays), or an
    /// instant to start from (`2026-12-02T10:15-05:00`, or `2026-12-02T10:15` in New York time).
    #[arg(long = "start", default_value = "auto")]
    pub start: String,
}

impl SimArgs {
    /// The simulator options these settings describe.
    ///
    /// # Errors
    /// When `--start` is not `auto`, `real` or an instant.
    pub fn options(&self) -> Result<SimOptions, String> {
        Ok(SimOptions {
            clock: clock_from_setting(&self.start, Clock::wall().now_ms())?,
            seed: self.seed,
            tick_ms: self.tick_ms,
            load_contracts: self.load_contracts,
            load_expiries: self.load_expiries,
            idle_code30_after: Duration::from_millis(self.idle_code30_ms),
            key_cap: self.key_cap,
            access_token_ttl: Duration::from_secs(self.access_token_ttl_s),
            ..SimOptions::default()
        })
    }
}

/// The clock a start setting names, at real time `now_ms`: `real` (the wall clock), `auto` (the wall clock in a
/// regular session, else a clock from 10:00 ET of the next trading day, so a demo at 2 am or on a Sunday still
/// moves), or an instant.
///
/// # Errors
/// A message saying what is accepted.
pub fn clock_from_setting(setting: &str, now_ms: i64) -> Result<Clock, String> {
    match setting.trim() {
        "real" | "now" => Ok(Clock::wall()),
        "auto" | "" => Ok(match demo_start(now_ms) {
            None => Clock::wall(),
            Some(start) => Clock::starting_at(start),
        }),
        s => zone::parse_instant(s)
            .map(Clock::starting_at)
            .map_err(|e| format!("start: {e}; or `auto` or `real`")),
    }
}

/// Where an `auto` demo clock starts at real time `now_ms`: `None` (follow the real time) during a regular
/// session, else half an hour into the next session.
pub fn demo_start(now_ms: i64) -> Option<i64> {
    if tickdesk_market::calendar::is_open(now_ms) {
        None
    } else {
        Some(tickdesk_market::calendar::current_or_next_session(now_ms).open_ms + 30 * 60_000)
    }
}

/// Serves on `args.listen` until `shutdown`, printing the line scripts wait for.
///
/// # Errors
/// Bad settings, or a listener that cannot be bound.
pub async fn serve(
    args: SimArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let opts = args.options().map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let clock = opts.clock.clone();
    let (handle, task) = crate::start(listener, opts, shutdown)?;
    if clock.is_simulated() {
        println!(
            "schwab simulator market clock: {} (simulated)",
            zone::et_label(clock.now_ms())
        );
    }
    // Scripts (and the schwab-py test) wait for this line.
    println!("schwab simulator listening on {}/", handle.base_url());
    task.await?
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickdesk_market::Date;

    #[test]
    fn auto_follows_real_time_in_session_and_starts_a_session_otherwise() {
        let wed = Date::from_ymd(2026, 12, 2);
        assert_eq!(demo_start(wed.at_et(11, 0)), None);
        // 2 am: this morning's session, 10:00.
        assert_eq!(demo_start(wed.at_et(2, 0)), Some(wed.at_et(10, 0)));
        // Saturday 01:00: Monday 10:00.
        let sat = Date::from_ymd(2026, 12, 5);
        assert_eq!(
            demo_start(sat.at_et(1, 0)),
            Some(Date::from_ymd(2026, 12, 7).at_et(10, 0))
        );
        // After the close: tomorrow.
        assert_eq!(
            demo_start(wed.at_et(16, 30)),
            Some(Date::from_ymd(2026, 12, 3).at_et(10, 0))
        );
    }

    #[test]
    fn start_settings() {
        let sat = Date::from_ymd(2026, 12, 5).at_et(1, 0);
        assert!(!clock_from_setting("real", sat).unwrap().is_simulated());
        assert!(clock_from_setting("auto", sat).unwrap().is_simulated());
        let c = clock_from_setting("2026-12-02T10:15-05:00", sat).unwrap();
        let at = Date::from_ymd(2026, 12, 2).at_et(10, 15);
        assert!((at..at + 60_000).contains(&c.now_ms()));
        assert!(clock_from_setting("soon", sat)
            .unwrap_err()
            .contains("`auto` or `real`"));
    }
}
