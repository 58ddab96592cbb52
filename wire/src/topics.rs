//! The relay's topics: the fixed names, the typed [`Topic`] every name parses into, and the curve's tenors. Part
//! of the contract, so the relay, the sources, the app and the load tool share one definition.

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

/// Every topic the relay serves, typed: what a topic name means, parsed once at the edge (a client's subscribe, a
/// source's demand) instead of by string prefixes in every module. `Display` writes the wire name back, so
/// `t.to_string().parse() == Ok(t)` for every topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    Curve,
    Spreads,
    Positions,
    Pnl,
    Signals,
    Trades,
    Quotes,
    Status,
    Crypto,
    Activity,
    /// `chain:{UNDERLYING}:{YYYY-MM-DD}`: one option chain of one expiry.
    Chain {
        underlying: String,
        expiry: String,
    },
    /// `expirations:{UNDERLYING}`: the expiries listed for an underlying.
    Expirations(String),
    /// `bars:{SYMBOL}`: 1-minute bars, Schwab's or Binance's.
    Bars(String),
    /// `analytics:{UNDERLYING}`: the options analytics of an underlying.
    Analytics(String),
}

/// Why a name is not a topic, in words for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicError(pub String);

impl std::fmt::Display for TopicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TopicError {}

/// A symbol as topics carry it: 1–12 upper-case letters, digits or `$ . / ^ -` (`AAPL`, `$SPX`, `BRK.B`).
pub fn is_symbol(u: &str) -> bool {
    (1..=12).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"$./^-".contains(&b))
}

fn is_date(d: &str) -> bool {
    let b = d.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && (1..=12).contains(&d[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&d[8..10].parse::<u32>().unwrap_or(0))
}

impl Topic {
    /// The topic of one chain.
    pub fn chain(underlying: &str, expiry: impl std::fmt::Display) -> Topic {
        Topic::Chain {
            underlying: underlying.to_string(),
            expiry: expiry.to_string(),
        }
    }

    /// Topics the relay creates when a client first asks (chains, expirations, bars, analytics).
    pub fn is_on_demand(&self) -> bool {
        matches!(
            self,
            Topic::Chain { .. } | Topic::Expirations(_) | Topic::Bars(_) | Topic::Analytics(_)
        )
    }

    /// The symbol a per-symbol topic is about.
    pub fn symbol(&self) -> Option<&str> {
        match self {
            Topic::Chain { underlying, .. } => Some(underlying),
            Topic::Expirations(s) | Topic::Bars(s) | Topic::Analytics(s) => Some(s),
            _ => None,
        }
    }
}

impl std::str::FromStr for Topic {
    type Err = TopicError;

    /// Checks the shape as well as the name, so a typo or garbage never becomes a topic (nor a call to Schwab):
    /// the symbol per [`is_symbol`], a chain's date `YYYY-MM-DD`.
    fn from_str(topic: &str) -> Result<Topic, TopicError> {
        let bad_symbol = |u: &str| {
            TopicError(format!(
                "{u:?} is not a symbol: 1-12 upper-case letters, digits or $ . / ^ - (e.g. AAPL, $SPX)"
            ))
        };
        let fixed = match topic {
            CURVE => Some(Topic::Curve),
            SPREADS => Some(Topic::Spreads),
            POSITIONS => Some(Topic::Positions),
            PNL => Some(Topic::Pnl),
            SIGNALS => Some(Topic::Signals),
            TRADES => Some(Topic::Trades),
            QUOTES => Some(Topic::Quotes),
            STATUS => Some(Topic::Status),
            CRYPTO => Some(Topic::Crypto),
            ACTIVITY => Some(Topic::Activity),
            _ => None,
        };
        if let Some(t) = fixed {
            return Ok(t);
        }
        if let Some(rest) = topic.strip_prefix(CHAIN_PREFIX) {
            let Some((u, d)) = rest.rsplit_once(':') else {
                return Err(TopicError(format!(
                    "{topic:?}: expected chain:UNDERLYING:YYYY-MM-DD"
                )));
            };
            if !is_symbol(u) {
                return Err(bad_symbol(u));
            }
            if !is_date(d) {
                return Err(TopicError(format!(
                    "{d:?} is not a date: expected YYYY-MM-DD"
                )));
            }
            return Ok(Topic::chain(u, d));
        }
        type Make = fn(String) -> Topic;
        let per_symbol: [(&str, Make); 3] = [
            (EXPIRATIONS_PREFIX, Topic::Expirations),
            (ANALYTICS_PREFIX, Topic::Analytics),
            (BARS_PREFIX, Topic::Bars),
        ];
        for (prefix, make) in per_symbol {
            if let Some(u) = topic.strip_prefix(prefix) {
                return if is_symbol(u) {
                    Ok(make(u.to_string()))
                } else {
                    Err(bad_symbol(u))
                };
            }
        }
        Err(TopicError(format!("no topic named {topic:?}")))
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fixed = match self {
            Topic::Curve => CURVE,
            Topic::Spreads => SPREADS,
            Topic::Positions => POSITIONS,
            Topic::Pnl => PNL,
            Topic::Signals => SIGNALS,
            Topic::Trades => TRADES,
            Topic::Quotes => QUOTES,
            Topic::Status => STATUS,
            Topic::Crypto => CRYPTO,
            Topic::Activity => ACTIVITY,
            Topic::Chain { underlying, expiry } => {
                return write!(f, "{CHAIN_PREFIX}{underlying}:{expiry}")
            }
            Topic::Expirations(u) => return write!(f, "{EXPIRATIONS_PREFIX}{u}"),
            Topic::Bars(u) => return write!(f, "{BARS_PREFIX}{u}"),
            Topic::Analytics(u) => return write!(f, "{ANALYTICS_PREFIX}{u}"),
        };
        f.write_str(fixed)
    }
}

/// Configured symbols as topics carry them: trimmed, upper-cased, without repeats or blanks, in the given order.
pub fn normalise_symbols(symbols: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in symbols {
        let s = s.trim().to_ascii_uppercase();
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out
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
            "crypto",
        ] {
            let t: Topic = ok.parse().unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(t.to_string(), ok, "the name round-trips");
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
            "curves",
        ] {
            assert!(bad.parse::<Topic>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_topic_says_what_it_is_about() {
        let t: Topic = "chain:$SPX:2026-12-02".parse().unwrap();
        assert_eq!(t, Topic::chain("$SPX", "2026-12-02"));
        assert_eq!(t.symbol(), Some("$SPX"));
        assert!(t.is_on_demand());
        assert_eq!("bars:BTCUSDT".parse(), Ok(Topic::Bars("BTCUSDT".into())));
        assert!(!Topic::Curve.is_on_demand());
        assert_eq!(Topic::Curve.symbol(), None);
        let err = "chain:AAPL".parse::<Topic>().unwrap_err();
        assert!(
            err.0.contains("expected chain:UNDERLYING:YYYY-MM-DD"),
            "{err}"
        );
    }

    #[test]
    fn configured_symbols_are_trimmed_upper_cased_and_unique() {
        let given: Vec<String> = [" aapl", "SPY", "", "Aapl ", "$spx"]
            .map(String::from)
            .to_vec();
        assert_eq!(normalise_symbols(&given), vec!["AAPL", "SPY", "$SPX"]);
    }
}
