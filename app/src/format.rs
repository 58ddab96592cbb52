//! Number formatting for a desk: money with thousands separators, signed changes, compact notionals. Pure.

use serde_json::Value;

/// `1234567.891` → `1,234,568` (decimals 0) or `1,234,567.89` (decimals 2).
pub fn thousands(x: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, x.abs());
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
    format!("{:.1}mm", x / 1_000_000.0)
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
    }
}
