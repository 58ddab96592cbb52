//! A contract's names: the OSI symbol Schwab keys everything by (written by [`tickdesk_wire::osi`], shared with
//! the relay and the app) and the human-readable description of the chain and stream field 1.

use tickdesk_market::Date;
use tickdesk_wire::osi::{Osi, Side};

/// The OSI option symbol, exactly as Schwab writes it: root left-justified and space-padded to 6, `YYMMDD`,
/// `C`/`P`, strike × 1000 zero-padded to 8 (`AAPL  251219C00230000`).
pub fn osi_symbol(root: &str, expiry: Date, call: bool, strike: f64) -> String {
    let side = if call { Side::Call } else { Side::Put };
    Osi::new(root, expiry.ymd(), side, strike).to_string()
}

/// The human-readable form used by the chain's `description` and stream field 1: `AAPL 10/18/2024 230.00 C`.
pub fn option_description(root: &str, expiry: Date, call: bool, strike: f64) -> String {
    format!(
        "{root} {} {strike:.2} {}",
        expiry.mdy(),
        if call { 'C' } else { 'P' }
    )
}
#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn osi_symbols_match_schwab() {
        let d = Date::from_ymd(2025, 12, 19);
        assert_eq!(osi_symbol("AAPL", d, true, 230.0), "AAPL  251219C00230000");
        assert_eq!(
            osi_symbol("SPXW", Date::from_ymd(2025, 12, 8), true, 6880.0),
            "SPXW  251208C06880000"
        );
        assert_eq!(
            osi_symbol("GOOGL", Date::from_ymd(2025, 12, 12), true, 315.0),
            "GOOGL 251212C00315000"
        );
        assert_eq!(
            osi_symbol("AAPL", Date::from_ymd(2024, 5, 17), false, 192.5),
            "AAPL  240517P00192500"
        );
        assert_eq!(osi_symbol("AAPL", d, true, 230.0).len(), 21);
        assert_eq!(
            option_description("SPXW", Date::from_ymd(2025, 12, 8), true, 6880.0),
            "SPXW 12/08/2025 6880.00 C"
        );
        assert_eq!(
            option_description("AAPL", Date::from_ymd(2024, 10, 18), false, 192.5),
            "AAPL 10/18/2024 192.50 P"
        );
    }
}
