//! OSI option symbols (OCC's Options Symbology Initiative), the key of every contract on the desk: root
//! left-justified and space-padded to 6, expiry `YYMMDD`, `C`/`P`, strike × 1000 zero-padded to 8 —
//! `AAPL  261218C00230000`. Schwab writes them exactly so (padding spaces included) and the relay keys chain items
//! by them, so the relay's Schwab client, the Schwab simulator and the app all read and write them here.
//!
//! Strikes are kept in thousandths (exact integers), so strikes compare and sort without floating point.

use std::fmt;

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Call,
    Put,
}

impl Side {
    /// `"C"` / `"P"`.
    pub fn letter(self) -> &'static str {
        match self {
            Side::Call => "C",
            Side::Put => "P",
        }
    }

    /// `'C'` / `'P'`.
    pub fn as_char(self) -> char {
        match self {
            Side::Call => 'C',
            Side::Put => 'P',
        }
    }

    /// From `'C'`/`'P'` (either case).
    pub fn from_char(c: char) -> Option<Side> {
        match c.to_ascii_uppercase() {
            'C' => Some(Side::Call),
            'P' => Some(Side::Put),
            _ => None,
        }
    }
}

/// The parts of an OSI symbol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Osi {
    /// The option root (`AAPL`, `SPXW`), without padding.
    pub root: String,
    /// Expiry year (2000 + `YY`), month and day.
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub side: Side,
    /// Strike × 1000.
    pub strike_milli: u64,
}

impl Osi {
    /// An OSI symbol's parts; the strike is rounded to the nearest thousandth.
    pub fn new(root: &str, (year, month, day): (i32, u32, u32), side: Side, strike: f64) -> Osi {
        Osi {
            root: root.to_string(),
            year,
            month,
            day,
            side,
            strike_milli: (strike * 1000.0).round().max(0.0) as u64,
        }
    }

    /// Parses a 21-character symbol (the padding spaces are part of it). Checks the shape, the side and that the
    /// month and day are in range; not the calendar (30 February passes).
    pub fn parse(s: &str) -> Option<Osi> {
        let b = s.as_bytes();
        if b.len() != 21 || !s.is_ascii() || !b[6..12].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let root = s[..6].trim_end();
        if root.is_empty() || root.contains(' ') {
            return None;
        }
        let side = Side::from_char(b[12] as char).filter(|_| b[12].is_ascii_uppercase())?;
        if !b[13..].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let (yy, month, day): (i32, u32, u32) = (
            s[6..8].parse().ok()?,
            s[8..10].parse().ok()?,
            s[10..12].parse().ok()?,
        );
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        Some(Osi {
            root: root.to_string(),
            year: 2000 + yy,
            month,
            day,
            side,
            strike_milli: s[13..].parse().ok()?,
        })
    }

    /// The strike as a number.
    pub fn strike(&self) -> f64 {
        self.strike_milli as f64 / 1000.0
    }

    /// The expiry as `YYYY-MM-DD`.
    pub fn expiry_iso(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Display for Osi {
    /// The 21-character symbol.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<6}{:02}{:02}{:02}{}{:08}",
            self.root,
            self.year.rem_euclid(100),
            self.month,
            self.day,
            self.side.letter(),
            self.strike_milli
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_symbols_schwab_sends() {
        let s = |root, ymd, side, k| Osi::new(root, ymd, side, k).to_string();
        assert_eq!(
            s("AAPL", (2024, 5, 17), Side::Put, 192.5),
            "AAPL  240517P00192500"
        );
        assert_eq!(
            s("GOOGL", (2025, 12, 12), Side::Call, 315.0),
            "GOOGL 251212C00315000"
        );
        assert_eq!(
            s("SPXW", (2025, 12, 8), Side::Call, 6880.0),
            "SPXW  251208C06880000"
        );
    }

    #[test]
    fn parses_and_round_trips() {
        let o = Osi::parse("SPXW  261127P05842500").unwrap();
        assert_eq!(
            (o.root.as_str(), o.year, o.month, o.day),
            ("SPXW", 2026, 11, 27)
        );
        assert_eq!(
            (o.side, o.strike_milli, o.strike()),
            (Side::Put, 5_842_500, 5842.5)
        );
        assert_eq!(o.expiry_iso(), "2026-11-27");
        assert_eq!(o.to_string(), "SPXW  261127P05842500");
        for bad in [
            "AAPL",
            "AAPL  261127X00230000",
            "AAPL  261127c00230000",
            "AAPL  261327C00230000",
            "AAPL  2611x7C00230000",
            "      261127C00230000",
            "AAPL  261127C0023000x",
            "AAPL  261127C002300000",
        ] {
            assert_eq!(Osi::parse(bad), None, "{bad}");
        }
    }
}
