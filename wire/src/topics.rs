//! The names of the relay's fixed topics and the curve's tenors: part of the contract, so the relay and the app
//! share one definition. (Per-underlying option topics are `chain:{UNDERLYING}:{YYYY-MM-DD}`.)

pub const CURVE: &str = "curve";
pub const SPREADS: &str = "spreads";
pub const POSITIONS: &str = "positions";
pub const PNL: &str = "pnl";
pub const SIGNALS: &str = "signals";
pub const TRADES: &str = "trades";
pub const STATUS: &str = "status";
pub const QUOTES: &str = "quotes";
/// Unusual options activity (append-only, like `signals`).
pub const ACTIVITY: &str = "activity";
/// Per-underlying options analytics: `analytics:{UNDERLYING}`.
pub const ANALYTICS_PREFIX: &str = "analytics:";

/// The curve's tenors (its item keys) with their maturity in years, shortest first.
pub const CURVE_TENORS: [(&str, f64); 11] = [
    ("1M", 1.0 / 12.0),
    ("3M", 0.25),
    ("6M", 0.5),
    ("1Y", 1.0),
    ("2Y", 2.0),
    ("3Y", 3.0),
    ("5Y", 5.0),
    ("7Y", 7.0),
    ("10Y", 10.0),
    ("20Y", 20.0),
    ("30Y", 30.0),
];

/// On-demand option chains: `chain:{UNDERLYING}:{YYYY-MM-DD}`.
pub const CHAIN_PREFIX: &str = "chain:";
/// On-demand expiry lists: `expirations:{UNDERLYING}`.
pub const EXPIRATIONS_PREFIX: &str = "expirations:";
/// On-demand 1-minute bars: `bars:{SYMBOL}` (`bars:AAPL`, `bars:$SPX`, `bars:BTCUSDT`), one item per bar keyed by
/// its start (see [`crate::bars`]).
pub const BARS_PREFIX: &str = "bars:";
/// Crypto prices from Binance: one item per symbol, keyed by the symbol in upper case (`BTCUSDT`).
pub const CRYPTO: &str = "crypto";

/// Checks the shape of an on-demand topic before the relay creates it, so a typo or garbage never becomes a topic
/// (nor a call to Schwab): the underlying is 1–12 upper-case letters, digits or `$ . / ^ -` (`AAPL`, `$SPX`,
/// `BRK.B`), and a chain's date is `YYYY-MM-DD`. Other topics pass.
///
/// # Errors
/// What is wrong, in words for a person.
pub fn check_ondemand(topic: &str) -> Result<(), String> {
    let symbol_ok = |u: &str| {
        (1..=12).contains(&u.len())
            && u.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"$./^-".contains(&b))
    };
    let bad_symbol = |u: &str| {
        format!(
            "{u:?} is not a symbol: 1-12 upper-case letters, digits or $ . / ^ - (e.g. AAPL, $SPX)"
        )
    };
    if let Some(rest) = topic.strip_prefix(CHAIN_PREFIX) {
        let Some((u, d)) = rest.rsplit_once(':') else {
            return Err(format!("{topic:?}: expected chain:UNDERLYING:YYYY-MM-DD"));
        };
        if !symbol_ok(u) {
            return Err(bad_symbol(u));
        }
        let b = d.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        let date_ok = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && digits(0..4)
            && digits(5..7)
            && digits(8..10)
            && (1..=12).contains(&d[5..7].parse::<u32>().unwrap_or(0))
            && (1..=31).contains(&d[8..10].parse::<u32>().unwrap_or(0));
        return if date_ok {
            Ok(())
        } else {
            Err(format!("{d:?} is not a date: expected YYYY-MM-DD"))
        };
    }
    for prefix in [EXPIRATIONS_PREFIX, ANALYTICS_PREFIX, BARS_PREFIX] {
        if let Some(u) = topic.strip_prefix(prefix) {
            return if symbol_ok(u) {
                Ok(())
            } else {
                Err(bad_symbol(u))
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_demand_topics_are_checked_before_they_exist() {
        for ok in [
            "chain:AAPL:2026-12-18",
            "chain:$SPX:2026-12-02",
            "chain:BRK.B:2027-01-15",
            "expirations:SPY",
            "analytics:$SPX",
            "bars:AAPL",
            "bars:$SPX",
            "bars:BTCUSDT",
            "curve",
        ] {
            assert_eq!(check_ondemand(ok), Ok(()), "{ok}");
        }
        for bad in [
            "chain:aapl:2026-12-18",
            "chain:AAPL:2026-13-01",
            "chain:AAPL:26-12-18",
            "chain:AAPL",
            "chain::2026-12-18",
            "expirations:",
            "expirations:TOOLONGSYMBOL1",
            "analytics:a b",
            "bars:",
            "bars:btcusdt",
        ] {
            assert!(check_ondemand(bad).is_err(), "{bad}");
        }
    }
}
