//! The options chain as the straddle view lays it out (pure, unit-tested): contract keys grouped into strike rows,
//! the at-the-money strike, the strike window, the columns a trader can choose, and the symbol list the user types.
//!
//! The relay keys a chain topic's items by the 21-character OSI symbol (`AAPL  261127C00230000`: root padded to 6,
//! `YYMMDD`, `C`/`P`, strike × 1000 in 8 digits), so rows come from the keys alone and are rebuilt only when
//! contracts appear or go, never on a tick.

use std::ops::Range;

use tickdesk_wire::fields;
use tickdesk_wire::osi::Osi;

use crate::format::fixed;
pub use tickdesk_wire::osi::Side;

/// Splits an OSI option symbol into its side and strike in thousandths (exact, so strikes compare and sort without
/// floating point).
pub fn parse_osi(key: &str) -> Option<(Side, u64)> {
    Osi::parse(key).map(|o| (o.side, o.strike_milli))
}

/// One strike: the call and the put listed at it (either may be missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrikeRow {
    /// Strike × 1000.
    pub strike_milli: u64,
    pub call: Option<String>,
    pub put: Option<String>,
}

impl StrikeRow {
    pub fn strike(&self) -> f64 {
        self.strike_milli as f64 / 1000.0
    }

    pub fn key(&self, side: Side) -> Option<&String> {
        match side {
            Side::Call => self.call.as_ref(),
            Side::Put => self.put.as_ref(),
        }
    }

    /// `230`, `232.5`, `5.125` — as few decimals as the strike needs.
    pub fn label(&self) -> String {
        let whole = self.strike_milli / 1000;
        let frac = self.strike_milli % 1000;
        if frac == 0 {
            whole.to_string()
        } else {
            let f = format!("{frac:03}");
            format!("{whole}.{}", f.trim_end_matches('0'))
        }
    }
}

/// Groups contract keys into rows by strike, ascending. Keys that are not OSI symbols are ignored.
pub fn strike_rows<'a>(keys: impl IntoIterator<Item = &'a String>) -> Vec<StrikeRow> {
    let mut rows: std::collections::BTreeMap<u64, StrikeRow> = std::collections::BTreeMap::new();
    for key in keys {
        let Some((side, strike_milli)) = parse_osi(key) else {
            continue;
        };
        let row = rows.entry(strike_milli).or_insert_with(|| StrikeRow {
            strike_milli,
            call: None,
            put: None,
        });
        match side {
            Side::Call => row.call = Some(key.clone()),
            Side::Put => row.put = Some(key.clone()),
        }
    }
    rows.into_values().collect()
}

/// The index of the strike nearest `price` (the lower one on a tie), if there are rows.
/// The fields that say a contract is really there: a quote, a trade, open interest.
pub const QUOTE_FIELDS: [&str; 6] = [
    fields::BID,
    fields::ASK,
    fields::LAST,
    fields::MARK,
    fields::VOLUME,
    fields::OPEN_INTEREST,
];

/// Whether a contract has anything to show: one of [`QUOTE_FIELDS`] (read with `value_of`) is a number other
/// than 0. A contract Schwab lists without a quote, a trade or open interest (absent, `null` or all 0) is a row of
/// dashes and zeros; a strike where neither the call nor the put has anything is not shown at all.
pub fn has_quote(value_of: impl Fn(&str) -> Option<serde_json::Value>) -> bool {
    QUOTE_FIELDS.iter().any(|f| {
        value_of(f)
            .and_then(|v| v.as_f64())
            .is_some_and(|x| x != 0.0)
    })
}

pub fn atm_index(rows: &[StrikeRow], price: f64) -> Option<usize> {
    if !price.is_finite() {
        return None;
    }
    let target = (price * 1000.0).round().max(0.0) as u64;
    rows.iter()
        .enumerate()
        .min_by_key(|(_, r)| r.strike_milli.abs_diff(target))
        .map(|(i, _)| i)
}

/// How many strikes either side of the money to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StrikeWindow {
    Around(usize),
    #[default]
    All,
}

impl StrikeWindow {
    pub const CHOICES: [StrikeWindow; 4] = [
        StrikeWindow::Around(5),
        StrikeWindow::Around(10),
        StrikeWindow::Around(20),
        StrikeWindow::All,
    ];

    /// The `<select>` value and label: `5`, `10`, `20`, `all`.
    pub fn value(self) -> String {
        match self {
            StrikeWindow::Around(n) => n.to_string(),
            StrikeWindow::All => "all".into(),
        }
    }

    pub fn parse(s: &str) -> StrikeWindow {
        s.parse().map_or(StrikeWindow::All, StrikeWindow::Around)
    }

    /// The rows to show out of `len`, centred on `centre` (the at-the-money row). Near either end the window keeps
    /// its size by sliding inwards, so a trader always sees as many strikes as asked for.
    pub fn range(self, len: usize, centre: Option<usize>) -> Range<usize> {
        match (self, centre) {
            (StrikeWindow::All, _) | (_, None) => 0..len,
            (StrikeWindow::Around(n), Some(c)) => {
                let size = (2 * n + 1).min(len);
                let start = c.saturating_sub(n).min(len - size);
                start..start + size
            }
        }
    }
}

/// A column a trader can show on both sides of the strike.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The chain item's field.
    pub field: &'static str,
    pub label: &'static str,
    pub title: &'static str,
    pub shown_by_default: bool,
    /// Price cells flash on change; greeks and sizes just update.
    pub flashes: bool,
    pub format: fn(f64) -> String,
}

fn price(x: f64) -> String {
    fixed(x, 2)
}
fn count(x: f64) -> String {
    crate::format::thousands(x, 0)
}
fn pct(x: f64) -> String {
    fixed(x, 1)
}
fn greek(x: f64) -> String {
    fixed(x, 3)
}

/// Every column, in the order the puts show them from the strike outwards (the calls mirror it, bid and ask kept in
/// that order, as on thinkorswim).
pub const COLUMNS: [Column; 12] = [
    col(fields::BID, "Bid", "best bid", true, true, price),
    col(fields::ASK, "Ask", "best ask", true, true, price),
    col(fields::LAST, "Last", "last trade", true, true, price),
    col(
        fields::MARK,
        "Mark",
        "mid of bid and ask",
        false,
        true,
        price,
    ),
    col(
        "volume",
        "Vol",
        "contracts traded today",
        true,
        false,
        count,
    ),
    col(
        fields::OPEN_INTEREST,
        "OI",
        "open interest",
        true,
        false,
        count,
    ),
    col(
        "iv",
        "IV %",
        "implied volatility, percent",
        true,
        false,
        pct,
    ),
    col(fields::DELTA, "Δ", "delta", true, false, greek),
    col(fields::GAMMA, "Γ", "gamma", false, false, greek),
    col(fields::THETA, "Θ", "theta per day", false, false, greek),
    col(
        fields::VEGA,
        "Vega",
        "vega per vol point",
        false,
        false,
        greek,
    ),
    col(
        fields::RHO,
        "Rho",
        "rho per rate point",
        false,
        false,
        greek,
    ),
];

const fn col(
    field: &'static str,
    label: &'static str,
    title: &'static str,
    shown_by_default: bool,
    flashes: bool,
    format: fn(f64) -> String,
) -> Column {
    Column {
        field,
        label,
        title,
        shown_by_default,
        flashes,
        format,
    }
}

/// The columns to draw on one side, left to right, out of the shown set (in [`COLUMNS`] order).
pub fn side_columns(shown: &[&'static str], side: Side) -> Vec<Column> {
    let mut cols: Vec<Column> = COLUMNS
        .iter()
        .filter(|c| shown.contains(&c.field))
        .copied()
        .collect();
    if side == Side::Call {
        cols.reverse();
        // Keep bid before ask, next to the strike.
        if let (Some(b), Some(a)) = (
            cols.iter().position(|c| c.field == "bid"),
            cols.iter().position(|c| c.field == "ask"),
        ) {
            cols.swap(b, a);
        }
    }
    cols
}

/// Reads the user's comma-separated list of underlyings: trimmed, upper-cased, de-duplicated, in order.
///
/// # Errors
/// A message naming the first entry that is not a symbol (letters, digits, `$`, `.`, `/`, `-`; at most 10
/// characters), or saying the list is empty. The caller keeps the previous list, so a typo loses nothing.
pub fn parse_symbols(input: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for raw in input.split(',') {
        let s = raw.trim().to_ascii_uppercase();
        if s.is_empty() {
            continue;
        }
        let ok = s.len() <= 10
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '$' | '.' | '/' | '-'));
        if !ok {
            return Err(format!(
                "“{}” is not a symbol: use letters, digits and $ . / - (at most 10), separated by commas",
                raw.trim()
            ));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    if out.is_empty() {
        return Err("type at least one underlying, e.g. SPY, $SPX, AAPL".into());
    }
    Ok(out)
}

/// `2026-11-27` → `Nov 27`.
pub fn expiry_label(date: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = date.split('-');
    let (_, m, d) = (parts.next(), parts.next(), parts.next());
    match (
        m.and_then(|m| m.parse::<usize>().ok()),
        d.and_then(|d| d.parse::<u32>().ok()),
    ) {
        (Some(m @ 1..=12), Some(d)) => format!("{} {d}", MONTHS[m - 1]),
        _ => date.to_string(),
    }
}

/// The neighbour of `current` in `dates` one step in `dir` (−1 earlier, +1 later), staying at the ends; the first
/// date when `current` is not in the list.
pub fn step_expiry(dates: &[String], current: Option<&str>, dir: i32) -> Option<String> {
    let i = current.and_then(|c| dates.iter().position(|d| d == c));
    let next = match i {
        None => 0,
        Some(i) if dir < 0 => i.saturating_sub(1),
        Some(i) => (i + 1).min(dates.len().saturating_sub(1)),
    };
    dates.get(next).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn osi_keys_give_side_and_exact_strike() {
        assert_eq!(
            parse_osi("AAPL  261127C00230000"),
            Some((Side::Call, 230_000))
        );
        assert_eq!(
            parse_osi("SPXW  261127P05842500"),
            Some((Side::Put, 5_842_500))
        );
        assert_eq!(parse_osi("AAPL"), None);
        assert_eq!(parse_osi("AAPL  261127X00230000"), None);
        assert_eq!(parse_osi("AAPL  261127C0023000x"), None);
    }

    #[test]
    fn rows_pair_calls_and_puts_by_strike_in_order() {
        let k = keys(&[
            "AAPL  261127P00235000",
            "AAPL  261127C00230000",
            "AAPL  261127C00235000",
            "AAPL  261127P00232500",
            "not an option",
        ]);
        let rows = strike_rows(&k);
        let strikes: Vec<_> = rows.iter().map(StrikeRow::label).collect();
        assert_eq!(strikes, ["230", "232.5", "235"]);
        assert_eq!(rows[0].put, None);
        assert_eq!(rows[1].call, None);
        assert_eq!(rows[2].call.as_deref(), Some("AAPL  261127C00235000"));
        assert_eq!(rows[2].put.as_deref(), Some("AAPL  261127P00235000"));
    }

    #[test]
    fn atm_is_the_nearest_strike() {
        let k = keys(&[
            "SPY   261127C00600000",
            "SPY   261127C00601000",
            "SPY   261127C00602000",
        ]);
        let rows = strike_rows(&k);
        assert_eq!(atm_index(&rows, 601.4), Some(1));
        assert_eq!(atm_index(&rows, 601.6), Some(2));
        assert_eq!(atm_index(&rows, 10.0), Some(0));
        assert_eq!(atm_index(&rows, f64::NAN), None);
        assert_eq!(atm_index(&[], 600.0), None);
    }

    #[test]
    fn window_is_centred_and_slides_inwards_at_the_ends() {
        let w = StrikeWindow::Around(5);
        assert_eq!(w.range(100, Some(50)), 45..56);
        assert_eq!(w.range(100, Some(2)), 0..11);
        assert_eq!(w.range(100, Some(98)), 89..100);
        assert_eq!(w.range(7, Some(3)), 0..7);
        assert_eq!(w.range(0, None), 0..0);
        assert_eq!(StrikeWindow::All.range(30, Some(3)), 0..30);
        assert_eq!(StrikeWindow::parse("20"), StrikeWindow::Around(20));
        assert_eq!(StrikeWindow::parse("all"), StrikeWindow::All);
        for w in StrikeWindow::CHOICES {
            assert_eq!(StrikeWindow::parse(&w.value()), w);
        }
    }

    #[test]
    fn calls_mirror_the_puts_with_bid_before_ask() {
        let shown = ["bid", "ask", "volume", "delta"];
        let f = |s| {
            side_columns(&shown, s)
                .iter()
                .map(|c| c.field)
                .collect::<Vec<_>>()
        };
        assert_eq!(f(Side::Put), ["bid", "ask", "volume", "delta"]);
        assert_eq!(f(Side::Call), ["delta", "volume", "bid", "ask"]);
        assert_eq!(
            COLUMNS.iter().filter(|c| c.shown_by_default).count(),
            7,
            "a readable default"
        );
    }

    #[test]
    fn symbols_are_cleaned_or_refused_with_a_reason() {
        assert_eq!(
            parse_symbols(" spy, $spx ,AAPL,spy,, brk.b").unwrap(),
            ["SPY", "$SPX", "AAPL", "BRK.B"]
        );
        let e = parse_symbols("SPY, AA PL").unwrap_err();
        assert!(e.contains("AA PL"), "{e}");
        assert!(parse_symbols(" , ").is_err());
        assert!(parse_symbols("ABCDEFGHIJK").is_err());
    }

    #[test]
    fn expiries_step_and_label() {
        let d = keys(&["2026-11-23", "2026-11-24", "2026-11-27"]);
        assert_eq!(
            step_expiry(&d, Some("2026-11-24"), 1).as_deref(),
            Some("2026-11-27")
        );
        assert_eq!(
            step_expiry(&d, Some("2026-11-27"), 1).as_deref(),
            Some("2026-11-27")
        );
        assert_eq!(
            step_expiry(&d, Some("2026-11-23"), -1).as_deref(),
            Some("2026-11-23")
        );
        assert_eq!(
            step_expiry(&d, Some("1999-01-01"), 1).as_deref(),
            Some("2026-11-23")
        );
        assert_eq!(step_expiry(&[], None, 1), None);
        assert_eq!(expiry_label("2026-11-27"), "Nov 27");
        assert_eq!(expiry_label("garbage"), "garbage");
    }

    #[test]
    fn a_contract_without_a_quote_trade_or_open_interest_has_nothing_to_show() {
        use serde_json::{json, Value};
        let of = |pairs: Vec<(&'static str, Value)>| {
            move |f: &str| pairs.iter().find(|(k, _)| *k == f).map(|(_, v)| v.clone())
        };
        assert!(has_quote(of(vec![
            ("bid", json!(1.25)),
            ("ask", json!(1.3))
        ])));
        assert!(has_quote(of(vec![("bid", json!(0)), ("ask", json!(0.05))])));
        assert!(has_quote(of(vec![("open_interest", json!(12))])));
        assert!(has_quote(of(vec![
            ("last", json!(0.4)),
            ("bid", Value::Null)
        ])));
        // Nothing, nulls, zeros: nothing to show.
        assert!(!has_quote(of(vec![])));
        assert!(!has_quote(of(vec![
            ("bid", Value::Null),
            ("ask", Value::Null),
            ("delta", json!(0.5)),
            ("strike", json!(230)),
        ])));
        assert!(!has_quote(of(vec![
            ("bid", json!(0)),
            ("ask", json!(0)),
            ("mark", json!(0)),
            ("volume", json!(0)),
            ("open_interest", json!(0)),
        ])));
    }
}
