//! PnL: per position, per tenor bucket and in total, from full revaluation, with a first-order explain.
//!
//! # Definitions
//! - **Day PnL** of a position = its value now − its value at its opening mark (the prior close for positions
//!   held overnight, the trade for positions opened today; trades are done at mid, so a new position starts at
//!   zero). The desk's clock is frozen at the as-of date, so day PnL is pure market move: no carry, roll-down or
//!   coupon income accrues during the simulated day.
//! - **Total PnL** = day PnL + the position's PnL before today (a fixed given of the book, see
//!   [`PositionSpec::prior_pnl_cents`](super::book::PositionSpec)).
//! - **Explain** = `−Σ key_dv01(node) × Δy(node, bp)`, with the key-rate DV01s as of the opening mark and the
//!   curve moves since then. **Residual** = day PnL − explain: for a small move it is the convexity (second
//!   order) term, which a desk expects to see as a small, usually positive number on a long-convexity book.
//! - **Realized**: positions unwound today leave the book; their PnL (and its explain/residual) stays in their
//!   bucket. They were opened today, so their realized PnL is both day and total PnL.
//!
//! # Exactness
//! Everything here is integer **cents**: each position's PnL is rounded to cents once, residual is defined as
//! `day − explain` in cents, and buckets and the total are integer sums of those. So the published numbers add
//! up exactly: bucket rows sum to the total row, `explain + residual = day` on every row, and the positions'
//! cents plus the bucket's realized cents make the bucket — no floating-point summation-order surprises.
//!
//! Buckets group positions by their tenor bucket (node nearest maturity), so each row's residual is its own
//! positions' convexity. The `key_dv01` column is different on purpose: it is the book's key-rate ladder (every
//! position's DV01 at that node), the view a trader hedges with. Both add up to the same book.

use super::book::Position;
use super::pricing::{ZeroCurve, BP, NODES};

/// Money in integer cents.
pub type Cents = i64;

/// Dollars to the nearest cent.
pub fn cents(dollars: f64) -> Cents {
    (dollars * 100.0).round() as Cents
}

/// Cents back to dollars, for publishing: the nearest `f64` to a whole number of cents, which parses back to
/// the same cents.
pub fn dollars(c: Cents) -> f64 {
    c as f64 / 100.0
}

/// First-order PnL of a move `from → to` for a position with key-rate DV01s `key_dv01`: `−Σ DV01ᵢ × Δyᵢ(bp)`.
pub fn first_order(key_dv01: &[f64; NODES], from: &ZeroCurve, to: &ZeroCurve) -> f64 {
    -key_dv01
        .iter()
        .zip(to.zeros.iter().zip(from.zeros.iter()))
        .map(|(k, (b, a))| k * (b - a) / BP)
        .sum::<f64>()
}

/// One position's PnL, in cents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PositionPnl {
    pub day: Cents,
    pub total: Cents,
    pub explain: Cents,
    pub residual: Cents,
}

/// The PnL of `pos`, worth `value_now` at `curve_now`.
pub fn position_pnl(pos: &Position, value_now: f64, curve_now: &ZeroCurve) -> PositionPnl {
    let day = cents(value_now - pos.open.value);
    let explain = cents(first_order(&pos.open.key_dv01, &pos.open.curve, curve_now));
    PositionPnl {
        day,
        total: day + pos.prior_pnl_cents,
        explain,
        residual: day - explain,
    }
}

/// What an open position contributes to the report: its bucket, PnL and (rounded, as published) risk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    pub bucket: usize,
    pub pnl: PositionPnl,
    pub dv01: Cents,
    pub key_dv01: [Cents; NODES],
}

/// PnL of positions closed today, kept in their bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Realized {
    pub pnl: Cents,
    pub explain: Cents,
    pub residual: Cents,
}

impl Realized {
    /// Books a closed position's PnL.
    pub fn add(&mut self, p: &PositionPnl) {
        self.pnl += p.day;
        self.explain += p.explain;
        self.residual += p.residual;
    }
}

/// One row of the PnL view (a bucket or the total).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PnlRow {
    /// Open positions in the row.
    pub positions: usize,
    pub day: Cents,
    pub total: Cents,
    /// PnL of positions closed today (already included in `day` and `total`).
    pub realized: Cents,
    pub explain: Cents,
    pub residual: Cents,
    /// DV01 of the row's open positions.
    pub dv01: Cents,
    /// The book's DV01 at this row's tenor node (for the total row: summed over nodes).
    pub key_dv01: Cents,
}

impl PnlRow {
    fn add(&mut self, o: &PnlRow) {
        self.positions += o.positions;
        self.day += o.day;
        self.total += o.total;
        self.realized += o.realized;
        self.explain += o.explain;
        self.residual += o.residual;
        self.dv01 += o.dv01;
        self.key_dv01 += o.key_dv01;
    }
}

/// The PnL view: a row per tenor bucket (indexed like `TENORS`) and their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PnlReport {
    pub buckets: [PnlRow; NODES],
    pub total: PnlRow,
}

/// Adds up open positions and today's realized PnL by bucket, and the buckets into the total.
pub fn report(lines: &[Line], realized: &[Realized; NODES]) -> PnlReport {
    let mut buckets = [PnlRow::default(); NODES];
    for (row, r) in buckets.iter_mut().zip(realized) {
        row.day = r.pnl;
        row.total = r.pnl;
        row.realized = r.pnl;
        row.explain = r.explain;
        row.residual = r.residual;
    }
    for l in lines {
        let row = &mut buckets[l.bucket];
        row.positions += 1;
        row.day += l.pnl.day;
        row.total += l.pnl.total;
        row.explain += l.pnl.explain;
        row.residual += l.pnl.residual;
        row.dv01 += l.dv01;
        for (node, k) in l.key_dv01.iter().enumerate() {
            buckets[node].key_dv01 += k;
        }
    }
    let mut total = PnlRow::default();
    for b in &buckets {
        total.add(b);
    }
    PnlReport { buckets, total }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::{default_book, Position};
    use crate::curve::TENORS;

    fn curve() -> ZeroCurve {
        ZeroCurve::new(TENORS.map(|(_, t)| 4.3 + 0.012 * t))
    }

    fn book(c: &ZeroCurve) -> Vec<Position> {
        default_book()
            .iter()
            .enumerate()
            .map(|(i, s)| Position::new(format!("P{i:03}"), s, c, 2025, false))
            .collect()
    }

    /// A twist: 2Y down, 30Y up, a few bp, as a non-parallel move.
    fn moved(c: &ZeroCurve, scale: f64) -> ZeroCurve {
        let mut m = *c;
        for (i, (_, t)) in TENORS.iter().enumerate() {
            m.zeros[i] += scale * (-3.0 + 0.25 * t + 0.5 * ((i % 3) as f64 - 1.0)) * BP;
        }
        m
    }

    fn lines(book: &[Position], now: &ZeroCurve) -> Vec<Line> {
        book.iter()
            .map(|p| {
                let r = p.risk(now);
                Line {
                    bucket: p.bucket,
                    pnl: position_pnl(p, r.value, now),
                    dv01: cents(r.dv01),
                    key_dv01: r.key_dv01.map(cents),
                }
            })
            .collect()
    }

    #[test]
    fn bucket_rows_add_up_to_the_total_exactly() {
        let c = curve();
        let b = book(&c);
        let now = moved(&c, 1.7);
        let mut realized = [Realized::default(); NODES];
        realized[6] = Realized {
            pnl: 12_345,
            explain: 12_000,
            residual: 345,
        };
        let rep = report(&lines(&b, &now), &realized);
        let sum = |f: fn(&PnlRow) -> Cents| rep.buckets.iter().map(f).sum::<Cents>();
        assert_eq!(sum(|r| r.day), rep.total.day);
        assert_eq!(sum(|r| r.total), rep.total.total);
        assert_eq!(sum(|r| r.explain), rep.total.explain);
        assert_eq!(sum(|r| r.residual), rep.total.residual);
        assert_eq!(sum(|r| r.dv01), rep.total.dv01);
        assert_eq!(sum(|r| r.key_dv01), rep.total.key_dv01);
        assert_eq!(sum(|r| r.realized), 12_345);
        assert_eq!(rep.total.positions, b.len());
        for row in rep.buckets.iter().chain([&rep.total]) {
            assert_eq!(
                row.explain + row.residual,
                row.day,
                "explain + residual = day"
            );
        }
        let prior: Cents = b.iter().map(|p| p.prior_pnl_cents).sum();
        assert_eq!(rep.total.total - rep.total.day, prior);
        // The per-position numbers add up to the bucket rows too.
        let ls = lines(&b, &now);
        let ten = TENORS.iter().position(|(t, _)| *t == "10Y").unwrap();
        let in_ten: Cents = ls
            .iter()
            .filter(|l| l.bucket == ten)
            .map(|l| l.pnl.day)
            .sum();
        assert_eq!(in_ten, rep.buckets[ten].day);
        // Key-rate ladder and bucket DV01 describe the same book.
        assert!((rep.total.key_dv01 - rep.total.dv01).abs() <= b.len() as Cents * NODES as Cents);
    }

    #[test]
    fn explain_is_first_order_and_the_residual_is_the_convexity() {
        let c = curve();
        for p in book(&c) {
            let v = |cc: &ZeroCurve| p.risk(cc).value;
            // Parallel moves: residual ≈ ½·Γ·h², with Γ the second difference per bp².
            let gamma = v(&c.shifted(1.0)) + v(&c.shifted(-1.0)) - 2.0 * v(&c);
            for h in [-5.0, 2.0, 8.0] {
                let now = c.shifted(h);
                let pnl = v(&now) - p.open.value;
                let resid = pnl - first_order(&p.open.key_dv01, &c, &now);
                let convexity = 0.5 * gamma * h * h;
                assert!(
                    (resid - convexity).abs() < 0.02 * convexity.abs() + 0.01,
                    "{}: residual {resid} vs ½Γh² {convexity}",
                    p.description
                );
                assert!(
                    resid.abs() < 0.01 * pnl.abs(),
                    "{}: small next to PnL",
                    p.description
                );
            }
            // Non-parallel moves: halving the move quarters the residual (second order).
            let full = |s: f64| {
                let now = moved(&c, s);
                v(&now) - p.open.value - first_order(&p.open.key_dv01, &c, &now)
            };
            let (r1, r2) = (full(2.0), full(4.0));
            if r2.abs() > 1.0 {
                let ratio = r2 / r1;
                assert!(
                    (3.6..4.4).contains(&ratio),
                    "{}: ratio {ratio}",
                    p.description
                );
            }
        }
    }

    #[test]
    fn a_long_bond_has_positive_convexity_and_a_payer_swap_negative() {
        let c = curve();
        let b = book(&c);
        let now = c.shifted(10.0);
        let long_bond = b
            .iter()
            .find(|p| p.description.starts_with("UST") && p.notional > 0.0)
            .unwrap();
        let payer = b
            .iter()
            .find(|p| p.description.contains("pay fixed"))
            .unwrap();
        assert!(position_pnl(long_bond, long_bond.risk(&now).value, &now).residual > 0);
        assert!(position_pnl(payer, payer.risk(&now).value, &now).residual < 0);
    }

    #[test]
    fn no_move_no_pnl() {
        let c = curve();
        for p in book(&c) {
            let pnl = position_pnl(&p, p.risk(&c).value, &c);
            assert_eq!((pnl.day, pnl.explain, pnl.residual), (0, 0, 0));
            assert_eq!(pnl.total, p.prior_pnl_cents);
        }
    }

    #[test]
    fn cents_round_trip_through_published_dollars() {
        for c in [0, 1, -1, 123_456_789, -987_654_321_012, 1_000_000_000_000] {
            assert_eq!(cents(dollars(c)), c);
        }
        assert_eq!(cents(-1_234.565_1), -123_457);
        assert_eq!(dollars(cents(1234.567)), 1234.57);
    }
}
