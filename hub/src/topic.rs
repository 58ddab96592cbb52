//! Topic names as the sources and derived topics read them: the wire's typed [`Topic`], with a chain's expiry as a
//! market date (the wire crate stays free of the calendar, which the browser app does not need).

use tickdesk_market::Date;
pub use tickdesk_wire::topics::Topic;

/// A chain topic's underlying and expiry (`chain:AAPL:2026-12-18` → `("AAPL", 2026-12-18)`); `None` for any other
/// topic or a malformed one.
pub fn chain_of(topic: &str) -> Option<(String, Date)> {
    match topic.parse().ok()? {
        Topic::Chain { underlying, expiry } => Some((underlying, Date::parse_iso(&expiry)?)),
        _ => None,
    }
}

/// The topic of the chain of `underlying` expiring on `expiry`.
pub fn chain_topic(underlying: &str, expiry: Date) -> String {
    Topic::chain(underlying, expiry).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_topic_reads_as_its_underlying_and_expiry_and_back() {
        let d = Date::parse_iso("2026-12-18").unwrap();
        assert_eq!(
            chain_of("chain:$SPX:2026-12-18"),
            Some(("$SPX".to_string(), d))
        );
        assert_eq!(chain_topic("$SPX", d), "chain:$SPX:2026-12-18");
        for other in [
            "bars:AAPL",
            "chain:AAPL",
            "chain:AAPL:2026-02-30x",
            "chain:aapl:2026-12-18",
            "curve",
        ] {
            assert_eq!(chain_of(other), None, "{other}");
        }
    }
}
