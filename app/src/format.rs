//! Number formatting for a desk: fixed decimals, money with thousands separators, signed changes, compact
//! notionals. Pure.
//!
//! Every number the app prints goes through [`fixed`] rather than `format!("{x:.2}")`, for the bundle's size
//! (BENCHMARKS.md, "The diet"): a desk only prints a few decimals of numbers far below 10¹⁸, which integer
//! arithmetic does exactly.

use serde_json::Value;

/// The most decimals [`fixed`] prints; more would overflow the integer it rounds to for ordinary prices.
pub const MAX_DECIMALS: usize = 9;

/// `x` with exactly `decimals` decimals (at most [`MAX_DECIMALS`]), rounded half away from zero: `fixed(2.345, 2)`
/// → `2.35`, `fixed(-0.5, 0)` → `-1`. A value that rounds to zero prints unsigned (`0.00`, never `-0.00`: a desk
/// showing "-0.00" reads as a loss). `NaN`, `inf` and `-inf` print as such. Magnitudes from about 1.8·10¹⁹ / 10^decimals
/// up print that ceiling's digits (no desk number comes near it).
pub fn fixed(x: f64, decimals: usize) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let decimals = decimals.min(MAX_DECIMALS);
    let scale = 10u64.pow(decimals as u32);
    // Rounds the scaled magnitude once; `as` saturates instead of overflowing.
    let n = (x.abs() * scale as f64).round() as u64;
    let mut out = String::new();
    if x < 0.0 && n != 0 {
        out.push('-');
    }
    push_u64(&mut out, n / scale);
    if decimals > 0 {
        out.push('.');
        let frac = n % scale;
        let digits = {
            let mut d = String::new();
            push_u64(&mut d, frac);
            d
        };
        out.extend(std::iter::repeat_n('0', decimals - digits.len()));
        out.push_str(&digits);
    }
    out
}

/// [`fixed`] with a `+` on positives and zero (`+1.50`, `+0.00`, `-1.50`), for changes.
pub fn signed(x: f64, decimals: usize) -> String {
    let s = fixed(x, decimals);
    if s.starts_with('-') || x.is_nan() {
        s
    } else {
        format!("+{s}")
    }
}

/// As few decimals as `x` needs, up to `max_decimals`: `230`, `232.5`, `5.125` (strikes, levels).
pub fn trimmed(x: f64, max_decimals: usize) -> String {
    let s = fixed(x, max_decimals);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// [`fixed`] as a `Display`, for `write!` into markup: `Dec(x, 1)` writes `x` to one decimal.
#[derive(Clone, Copy, Debug)]
pub struct Dec(pub f64, pub usize);

impl std::fmt::Display for Dec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&fixed(self.0, self.1))
    }
}

/// A plain decimal (`230`, `232.5`, `-0.25`) as f64: the strike keys of the analytics' maps and the numbers a
/// person types. `None` for anything else (exponents, `inf`, empty). Why not `str::parse::<f64>`: its exact
/// algorithm (with a table of powers of five) is several KB of WebAssembly, and these strings have a few digits,
/// which `digits / 10^decimals` reads to the nearest f64 or within one unit of the last place.
pub fn parse_decimal(s: &str) -> Option<f64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut n = 0f64;
    for c in int.bytes().chain(frac.bytes()) {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10.0 + f64::from(c - b'0');
    }
    let x = n / 10f64.powi(frac.len() as i32);
    Some(if neg { -x } else { x })
}

fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(buf[i..].iter().map(|&b| b as char));
}

/// `1234567.891` → `1,234,568` (decimals 0) or `1,234,567.89` (decimals 2).
pub fn thousands(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return fixed(x, decimals);
    }
    let s = fixed(x.abs(), decimals);
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    if x < 0.0 && out.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.insert(0, '-');
    }
    out
}

/// Signed money: `+12,345` / `-12,345`.
pub fn signed_money(x: f64) -> String {
    let s = thousands(x, 0);
    if s.starts_with('-') || s == "0" {
        s
    } else {
        format!("+{s}")
    }
}

/// Notional in millions: `25000000` → `25.0mm`, `-10000000` → `-10.0mm`.
pub fn mm(x: f64) -> String {
    fixed(x / 1_000_000.0, 1) + "mm"
}

/// A trade's quantity as a desk reads it: notionals of a million and up in millions like the positions
/// (`75000000` → `75.0mm`), smaller ones (shares, contracts, coins) with thousands separators and only the decimals
/// they have (`1,500`, `0.25`).
pub fn quantity(x: f64) -> String {
    if x.abs() >= 1_000_000.0 {
        return mm(x);
    }
    let s = thousands(x, 4);
    match s.split_once('.') {
        Some(_) => s.trim_end_matches('0').trim_end_matches('.').to_string(),
        None => s,
    }
}

/// A JSON number as f64, if it is one.
pub fn num(v: &Option<Value>) -> Option<f64> {
    v.as_ref().and_then(Value::as_f64)
}

/// A cell's text: `—` when missing.
pub fn or_dash(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "—".to_string(), f)
}

/// `up`/`down`/`` for colouring by sign.
pub fn sign_class(v: Option<f64>) -> &'static str {
    match v {
        Some(x) if x > 0.0 => "pos",
        Some(x) if x < 0.0 => "neg",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_and_signs() {
        assert_eq!(thousands(1234567.891, 0), "1,234,568");
        assert_eq!(thousands(-1234567.891, 2), "-1,234,567.89");
        assert_eq!(thousands(999.0, 0), "999");
        assert_eq!(thousands(-0.4, 0), "0");
        assert_eq!(signed_money(1500.0), "+1,500");
        assert_eq!(signed_money(-1500.0), "-1,500");
        assert_eq!(mm(-25_000_000.0), "-25.0mm");
        assert_eq!(mm(75_000_000.0), "75.0mm");
        assert_eq!(thousands(f64::NAN, 0), "NaN");
    }

    #[test]
    fn quantities_read_like_the_positions() {
        assert_eq!(quantity(75_000_000.0), "75.0mm");
        assert_eq!(quantity(-25_000_000.0), "-25.0mm");
        assert_eq!(quantity(1_000_000.0), "1.0mm");
        assert_eq!(quantity(1_500.0), "1,500");
        assert_eq!(quantity(100.0), "100");
        assert_eq!(quantity(0.25), "0.25");
        assert_eq!(quantity(12.5), "12.5");
    }

    #[test]
    fn fixed_prints_what_format_prints_for_desk_numbers() {
        // The same as `format!("{x:.d$}")` over many prices and decimals, except at exact ties (std rounds those
        // to even, `fixed` away from zero) and for `-0.00` (std keeps the sign).
        let mut compared = 0;
        for i in -20_000..20_000 {
            let x = i as f64 * 0.0137 + 0.000_31;
            for d in 0..=4 {
                let std = format!("{x:.d$}");
                let std = match std.strip_prefix('-') {
                    Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest.to_string(),
                    _ => std,
                };
                let scaled = x.abs() * 10f64.powi(d as i32);
                if (scaled - scaled.trunc() - 0.5).abs() < 1e-6 {
                    continue;
                }
                assert_eq!(fixed(x, d), std, "{x} to {d} decimals");
                compared += 1;
            }
        }
        assert!(compared > 190_000);
    }

    #[test]
    fn fixed_rounds_half_away_from_zero_and_handles_the_edges() {
        assert_eq!(fixed(2.5, 0), "3");
        assert_eq!(fixed(-2.5, 0), "-3");
        assert_eq!(fixed(0.125, 2), "0.13");
        assert_eq!(fixed(1.0, 2), "1.00");
        assert_eq!(fixed(0.05, 2), "0.05");
        assert_eq!(fixed(1234.5678, 3), "1234.568");
        assert_eq!(fixed(0.999_6, 3), "1.000");
        assert_eq!(fixed(-0.999_6, 3), "-1.000");
        assert_eq!(fixed(42.0, 0), "42");
        assert_eq!(fixed(1e-12, 4), "0.0000");
        // Rounds to zero: no sign.
        assert_eq!(fixed(-0.001, 2), "0.00");
        assert_eq!(fixed(-0.0, 1), "0.0");
        assert_eq!(fixed(f64::NAN, 2), "NaN");
        assert_eq!(fixed(f64::INFINITY, 2), "inf");
        assert_eq!(fixed(f64::NEG_INFINITY, 2), "-inf");
        assert_eq!(fixed(75_000_000.0, 2), "75000000.00");
        assert_eq!(fixed(123_456_789_012.345, 2), "123456789012.35");
        assert_eq!(fixed(1.5, 20), "1.500000000", "capped at MAX_DECIMALS");
        assert_eq!(fixed(1e300, 0), u64::MAX.to_string(), "saturates");
    }

    #[test]
    fn plain_decimals_parse_like_std() {
        for s in [
            "230",
            "232.5",
            "5.125",
            "-0.25",
            "0",
            "007",
            "1.",
            ".5",
            "+3",
            "6093.89",
            "0.1",
            "123456.789",
        ] {
            assert_eq!(parse_decimal(s), s.parse::<f64>().ok(), "{s}");
        }
        for s in [
            "", ".", "-", "1e5", "inf", "NaN", "1,5", "1.2.3", " 1", "abc",
        ] {
            assert_eq!(parse_decimal(s), None, "{s:?}");
        }
    }

    #[test]
    fn signed_and_trimmed() {
        assert_eq!(signed(1.5, 2), "+1.50");
        assert_eq!(signed(-1.5, 2), "-1.50");
        assert_eq!(signed(0.0, 1), "+0.0");
        assert_eq!(signed(-0.001, 1), "+0.0");
        assert_eq!(signed(f64::NAN, 1), "NaN");
        assert_eq!(trimmed(230.0, 3), "230");
        assert_eq!(trimmed(232.5, 3), "232.5");
        assert_eq!(trimmed(5.125, 3), "5.125");
        assert_eq!(trimmed(-0.25, 2), "-0.25");
        assert_eq!(trimmed(0.0001, 2), "0");
        assert_eq!(format!("{},{}", Dec(1.25, 1), Dec(-3.0, 0)), "1.3,-3");
    }
}
