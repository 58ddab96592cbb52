//! The desk's state as topic rows (JSON items), rounded to what a desk displays.
//!
//! Rounding is part of the contract, not cosmetics: the store drops fields equal to what it holds, so values
//! rounded to their display precision (yields to 0.1bp = 0.001%, money to the cent, prices to 0.001) are only
//! republished when they visibly change. Money is carried as integer cents up to here (see `pnl`), so published
//! dollar amounts are exact cents and add up exactly.

use serde_json::{json, Value};
use tickdesk_wire::{Fields, Items};

use super::book::{Position, Risk};
use super::curve::TENORS;
use super::pnl::{dollars, PnlReport, PnlRow, PositionPnl};
use super::pricing::{ZeroCurve, NODES};

/// Rounds a rate in percent to a tenth of a basis point, the precision a desk quotes yields at.
pub fn round_yield(y: f64) -> f64 {
    (y * 1000.0).round() / 1000.0
}

/// Rounds basis points to a tenth.
pub fn round_bp(bp: f64) -> f64 {
    (bp * 10.0).round() / 10.0
}

/// Rounds a price per 100 to three decimals.
pub fn round_price(p: f64) -> f64 {
    (p * 1000.0).round() / 1000.0
}

/// `(a − b)` percent, in basis points to a tenth.
fn diff_bp(a: f64, b: f64) -> f64 {
    round_bp((a - b) * 100.0)
}

fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Fields {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// One item per tenor: `tenor`, `years`, `yield` (%), `prior_close` (%), `chg_bp`, `ts` (ms). `marks` and
/// `prior` are already rounded to 0.1bp, so `chg_bp` is exact in tenths.
pub fn curve_rows(marks: &ZeroCurve, prior: &ZeroCurve, ts_ms: u64) -> Items {
    TENORS
        .iter()
        .enumerate()
        .map(|(i, (tenor, years))| {
            let (y, p) = (round_yield(marks.zeros[i]), round_yield(prior.zeros[i]));
            let f = fields([
                ("tenor", json!(tenor)),
                ("years", json!(years)),
                ("yield", json!(y)),
                ("prior_close", json!(p)),
                ("chg_bp", json!(diff_bp(y, p))),
                ("ts", json!(ts_ms)),
            ]);
            (tenor.to_string(), f)
        })
        .collect()
}

/// The spreads a rates desk watches, as (name, value in bp) from a curve: 2s10s and 5s30s (positive = upward
/// sloping) and the 2s5s10s butterfly `2×5Y − 2Y − 10Y` (positive = the belly is cheap, above the wings).
pub fn spreads(c: &ZeroCurve) -> [(&'static str, f64); 3] {
    let at = |tenor: &str| {
        let i = TENORS.iter().position(|(t, _)| *t == tenor).unwrap_or(0);
        c.zeros[i]
    };
    [
        ("2s10s", diff_bp(at("10Y"), at("2Y"))),
        ("5s30s", diff_bp(at("30Y"), at("5Y"))),
        ("2s5s10s", diff_bp(2.0 * at("5Y"), at("2Y") + at("10Y"))),
    ]
}

/// Items `2s10s`, `5s30s`, `2s5s10s` with `bp` and `chg_bp` (against the same spread at the prior close).
pub fn spread_rows(marks: &ZeroCurve, prior: &ZeroCurve) -> Items {
    spreads(marks)
        .iter()
        .zip(spreads(prior))
        .map(|((name, now), (_, then))| {
            let f = fields([("bp", json!(now)), ("chg_bp", json!(round_bp(now - then)))]);
            (name.to_string(), f)
        })
        .collect()
}

/// One position's row. `dv01` and `dv01_buckets` (an object with one entry per tenor) are in dollars per bp,
/// to the cent; `price` is `null` for swaps, whose `yield` is the par swap rate.
pub fn position_row(
    p: &Position,
    r: &Risk,
    pnl: &PositionPnl,
    dv01: i64,
    key_dv01: &[i64; NODES],
) -> Fields {
    let buckets: serde_json::Map<String, Value> = TENORS
        .iter()
        .zip(key_dv01)
        .map(|((t, _), c)| (t.to_string(), json!(dollars(*c))))
        .collect();
    fields([
        ("id", json!(p.id)),
        ("kind", json!(p.instrument.kind())),
        ("description", json!(p.description)),
        ("bucket", json!(TENORS[p.bucket].0)),
        ("maturity", json!(p.instrument.maturity())),
        ("notional", json!(p.notional.round() as i64)),
        ("coupon", json!(p.instrument.coupon())),
        ("price", json!(r.price.map(round_price))),
        ("yield", json!(round_yield(r.yield_pct))),
        ("mv", json!(dollars(super::pnl::cents(r.value)))),
        ("dv01", json!(dollars(dv01))),
        ("dv01_buckets", Value::Object(buckets)),
        ("day_pnl", json!(dollars(pnl.day))),
        ("total_pnl", json!(dollars(pnl.total))),
    ])
}

fn pnl_row(bucket: &str, r: &PnlRow) -> Fields {
    fields([
        ("bucket", json!(bucket)),
        ("positions", json!(r.positions)),
        ("day_pnl", json!(dollars(r.day))),
        ("total_pnl", json!(dollars(r.total))),
        ("realized_pnl", json!(dollars(r.realized))),
        ("explain_pnl", json!(dollars(r.explain))),
        ("residual", json!(dollars(r.residual))),
        ("dv01", json!(dollars(r.dv01))),
        ("key_dv01", json!(dollars(r.key_dv01))),
    ])
}

/// The item key of a tenor bucket's PnL row, e.g. `bucket:10Y`.
pub fn bucket_key(tenor: &str) -> String {
    format!("bucket:{tenor}")
}

/// Items `total` and `bucket:<tenor>` for every tenor.
pub fn pnl_rows(rep: &PnlReport) -> Items {
    let mut items: Items = TENORS
        .iter()
        .zip(&rep.buckets)
        .map(|((t, _), r)| (bucket_key(t), pnl_row(t, r)))
        .collect();
    items.insert("total".to_string(), pnl_row("total", &rep.total));
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_rows_carry_change_in_bp_against_prior_close() {
        let prior = ZeroCurve::new(TENORS.map(|(_, t)| 4.3 + 0.01 * t));
        let mut now = prior;
        now.zeros[8] += 0.05;
        let rows = curve_rows(&now, &prior, 1);
        assert_eq!(rows.len(), 11);
        assert_eq!(rows["10Y"]["chg_bp"], json!(5.0));
        assert_eq!(rows["2Y"]["chg_bp"], json!(0.0));
        assert_eq!(rows["10Y"]["prior_close"], json!(4.4));
    }

    #[test]
    fn spreads_are_in_bp_with_change_against_the_close() {
        let prior = ZeroCurve::new(TENORS.map(|(_, t)| 4.0 + 0.02 * t));
        let mut now = prior;
        // The 2Y rallies 3.1bp: 2s10s steepens by 3.1bp and the 2s5s10s fly rises by 3.1bp.
        now.zeros[4] -= 0.031;
        let rows = spread_rows(&now, &prior);
        // 10Y − 2Y = 0.16% = 16bp at the close.
        assert_eq!(rows["2s10s"]["bp"], json!(19.1));
        assert_eq!(rows["2s10s"]["chg_bp"], json!(3.1));
        assert_eq!(rows["5s30s"]["bp"], json!(50.0));
        assert_eq!(rows["5s30s"]["chg_bp"], json!(0.0));
        // 2×5Y − 2Y − 10Y = 2·4.10 − 4.04 − 4.20 = −0.04 → −4bp, then +3.1.
        assert_eq!(rows["2s5s10s"]["bp"], json!(-0.9));
        assert_eq!(rows["2s5s10s"]["chg_bp"], json!(3.1));
    }

    #[test]
    fn pnl_rows_are_keyed_by_bucket_and_total() {
        let rep = PnlReport::default();
        let rows = pnl_rows(&rep);
        assert_eq!(rows.len(), NODES + 1);
        assert!(rows.contains_key("total") && rows.contains_key("bucket:10Y"));
        assert_eq!(rows["bucket:1M"]["bucket"], json!("1M"));
        assert_eq!(rows["total"]["day_pnl"], json!(0.0));
    }
}
