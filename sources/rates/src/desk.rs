//! The desk simulation as a plain state machine: the curve model, the marks, the book and today's realized PnL.
//! [`Desk::step`] advances one tick with the caller's random numbers and returns every topic's rows for that
//! tick, so the whole simulation is deterministic for a seed and testable without a runtime or a clock.
//!
//! # One tick, one curve
//! Every number a tick publishes comes from the same **marks**: the model's zero rates rounded to 0.1bp, exactly
//! as the `curve` topic shows them. Positions are priced and PnL is computed off those marks, in the same call
//! that produces the curve rows, so a client holding the curve can reprice the book and find the same values.
//! If no mark moved and nothing traded, the tick publishes nothing.
//!
//! # The day
//! The prior close is the model's resting curve; the desk opens after an overnight move (a fraction of a trading
//! day of the same random walk), so the change column and day PnL start from a plausible gap, not from zero.

use rand::Rng;
use rand_distr::StandardNormal;
use tickdesk_wire::Items;

use super::book::{fmt_rate, Mark, Position, PositionSpec};
use super::curve::{NelsonSiegel, TENORS};
use super::pnl::{cents, position_pnl, report, Cents, Line, PnlReport, Realized};
use super::pricing::{Bond, Instrument, Swap, ZeroCurve, NODES};
use super::rows::{curve_rows, pnl_rows, position_row, round_price, round_yield, spread_rows};
use super::SimConfig;

/// A standard normal draw ([`StandardNormal`], ziggurat): drawn from the caller's RNG, so a seed repeats the path.
pub fn normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    rng.sample(StandardNormal)
}

/// The model's curve rounded to 0.1bp: the marks everything is priced off.
pub fn marks_of(model: &NelsonSiegel) -> ZeroCurve {
    ZeroCurve::new(model.curve().map(round_yield))
}

/// A trade the desk did this tick, in the shape of a `trade_executed` event (see `tickdesk_hub::events`): it is meant
/// for the `trades` topic, which `run` does not publish yet (the caller gets it in [`TickOutput::trade`]).
///
/// Conventions: for a Treasury, `BUY` buys the bond and `price` is its clean price per 100. For a swap, `BUY`
/// is paying fixed (the market's "buyer of a swap pays fixed") and `price` is the fixed rate in percent: the
/// traded rate for a new swap, the market par rate for an unwind. `quantity` is the notional in dollars.
/// Symbols use only letters, digits, spaces and dots (`UST 4.25 2035`, `SOFR 10Y`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewTrade {
    pub symbol: String,
    pub side: &'static str,
    pub quantity: f64,
    pub price: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The position the trade opened or closed.
    pub position: String,
    /// True if the trade unwound (closed) `position`.
    pub unwind: bool,
}

impl NewTrade {
    /// The `trade_executed` event fields.
    pub fn fields(&self) -> tickdesk_wire::Fields {
        [
            ("type", serde_json::json!("trade_executed")),
            ("symbol", serde_json::json!(self.symbol)),
            ("side", serde_json::json!(self.side)),
            ("quantity", serde_json::json!(self.quantity)),
            ("price", serde_json::json!(self.price)),
            ("timestamp", serde_json::json!(self.timestamp)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// Everything one tick publishes. Empty maps mean "nothing to publish" for that topic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickOutput {
    /// `curve` rows of the tenors whose mark changed (all of them on the first output).
    pub curve: Items,
    /// `spreads` rows.
    pub spreads: Items,
    /// `positions` rows of every open position (the store keeps only the fields that changed).
    pub positions: Items,
    /// Position ids unwound this tick: deleted from `positions`.
    pub closed: Vec<String>,
    /// `pnl` rows.
    pub pnl: Items,
    /// The PnL view behind the `pnl` rows, when anything was computed.
    pub report: Option<PnlReport>,
    /// A trade done this tick, for the `trades` topic.
    pub trade: Option<NewTrade>,
}

/// Trade sizes, $mm, and maturities, years, of the desk's simulated flow.
const TRADE_SIZES_MM: [f64; 5] = [10.0, 25.0, 50.0, 75.0, 100.0];
const TRADE_YEARS: [u32; 7] = [2, 3, 5, 7, 10, 20, 30];

/// The simulated desk.
#[derive(Debug, Clone)]
pub struct Desk {
    dt_years: f64,
    trade_probability: f64,
    max_positions: usize,
    as_of_year: i32,
    model: NelsonSiegel,
    prior: ZeroCurve,
    marks: ZeroCurve,
    /// The marks the `curve` topic last received (None before the first output).
    published: Option<ZeroCurve>,
    book: Vec<Position>,
    realized: [Realized; NODES],
    next_id: usize,
    /// The book's DV01 (cents) at the last output, which the simulated client flow leans against.
    book_dv01: Cents,
}

impl Desk {
    /// Opens the desk: the prior close, the book marked at it, then the overnight move (drawn from `rng`).
    pub fn new<R: Rng + ?Sized>(cfg: &SimConfig, rng: &mut R) -> Desk {
        let mut model = NelsonSiegel::default();
        let prior = marks_of(&model);
        let book: Vec<Position> = cfg
            .book
            .iter()
            .enumerate()
            .map(|(i, s)| Position::new(position_id(i + 1), s, &prior, cfg.as_of_year, false))
            .collect();
        let z = [normal(rng), normal(rng), normal(rng)];
        model.step(cfg.overnight_years, z);
        let tick_secs = cfg.tick.as_secs_f64();
        Desk {
            dt_years: cfg.dt_years,
            trade_probability: (cfg.trades_per_minute * tick_secs / 60.0).clamp(0.0, 1.0),
            max_positions: cfg.max_positions.max(cfg.book.len()),
            as_of_year: cfg.as_of_year,
            marks: marks_of(&model),
            model,
            prior,
            published: None,
            next_id: book.len() + 1,
            book,
            realized: [Realized::default(); NODES],
            book_dv01: 0,
        }
    }

    pub fn model(&self) -> &NelsonSiegel {
        &self.model
    }

    /// The current marks (what the `curve` topic shows).
    pub fn marks(&self) -> &ZeroCurve {
        &self.marks
    }

    pub fn prior_close(&self) -> &ZeroCurve {
        &self.prior
    }

    pub fn book(&self) -> &[Position] {
        &self.book
    }

    /// The whole state as rows (every tenor, every position), e.g. to publish at start.
    pub fn open(&mut self, ts_ms: u64) -> TickOutput {
        self.published = Some(self.marks);
        let out = self.state(ts_ms);
        self.book_dv01 = out.report.map_or(0, |r| r.total.dv01);
        out
    }

    /// One tick: the factors take a step, the book may trade, and whatever moved is returned as rows.
    pub fn step<R: Rng + ?Sized>(&mut self, rng: &mut R, ts_ms: u64) -> TickOutput {
        let z = [normal(rng), normal(rng), normal(rng)];
        self.model.step(self.dt_years, z);
        self.marks = marks_of(&self.model);
        let traded = if rng.random::<f64>() < self.trade_probability {
            self.trade(rng, ts_ms)
        } else {
            None
        };
        let before = self.published.replace(self.marks);
        if before == Some(self.marks) && traded.is_none() {
            return TickOutput::default();
        }
        let mut out = self.state(ts_ms);
        self.book_dv01 = out.report.map_or(0, |r| r.total.dv01);
        if let Some(before) = before {
            out.curve.retain(|tenor, _| {
                let i = TENORS.iter().position(|(t, _)| t == tenor).unwrap_or(0);
                before.zeros[i] != self.marks.zeros[i]
            });
        }
        if let Some(t) = traded {
            if t.unwind {
                out.closed.push(t.position.clone());
            }
            out.trade = Some(t);
        }
        out
    }

    /// The day roll (New York midnight on the market clock): today's marks become the prior close, each
    /// position's day PnL moves into its prior PnL (so total PnL does not jump) and it re-opens at the close,
    /// today's tickets become overnight positions, and realized day PnL starts again from zero. Returns every row.
    pub fn roll_day(&mut self, ts_ms: u64) -> TickOutput {
        self.prior = self.marks;
        for p in &mut self.book {
            let r = p.risk(&self.marks);
            let day = position_pnl(p, r.value, &self.marks).day;
            p.prior_pnl_cents += day;
            p.open = Mark {
                curve: self.marks,
                value: r.value,
                key_dv01: r.key_dv01,
            };
            p.intraday = false;
        }
        self.realized = [Realized::default(); NODES];
        self.open(ts_ms)
    }

    /// Rows of every topic at the current marks.
    fn state(&self, ts_ms: u64) -> TickOutput {
        let mut positions = Items::new();
        let mut lines = Vec::with_capacity(self.book.len());
        for p in &self.book {
            let r = p.risk(&self.marks);
            let pnl = position_pnl(p, r.value, &self.marks);
            let line = Line {
                bucket: p.bucket,
                pnl,
                dv01: cents(r.dv01),
                key_dv01: r.key_dv01.map(cents),
            };
            positions.insert(
                p.id.clone(),
                position_row(p, &r, &pnl, line.dv01, &line.key_dv01),
            );
            lines.push(line);
        }
        let rep = report(&lines, &self.realized);
        TickOutput {
            curve: curve_rows(&self.marks, &self.prior, ts_ms),
            spreads: spread_rows(&self.marks, &self.prior),
            positions,
            closed: Vec::new(),
            pnl: pnl_rows(&rep),
            report: Some(rep),
            trade: None,
        }
    }

    /// A client trade: a new ticket, or, with the book full, the unwind of the oldest ticket opened today (the
    /// positions held overnight stay, so the book keeps its shape).
    fn trade<R: Rng + ?Sized>(&mut self, rng: &mut R, ts_ms: u64) -> Option<NewTrade> {
        if self.book.len() >= self.max_positions {
            let i = self.book.iter().position(|p| p.intraday)?;
            return Some(self.unwind(i, ts_ms));
        }
        Some(self.new_ticket(rng, ts_ms))
    }

    /// Opens a position at mid: a Treasury near the curve (a new issue, or one seasoned by half a year, with the
    /// coupon set in eighths near its yield, as Treasury coupons are) or a par swap.
    fn new_ticket<R: Rng + ?Sized>(&mut self, rng: &mut R, ts_ms: u64) -> NewTrade {
        let years = TRADE_YEARS[rng.random_range(0..TRADE_YEARS.len())];
        let size = TRADE_SIZES_MM[rng.random_range(0..TRADE_SIZES_MM.len())] * 1e6;
        let is_bond = rng.random_bool(0.5);
        // Client flow is two-way, but the desk skews its quotes to attract the side that reduces its risk.
        let p_long = match self.book_dv01 {
            d if d > 0 => 0.3,
            d if d < 0 => 0.7,
            _ => 0.5,
        };
        let long_duration = rng.random_bool(p_long);
        // Buying a bond is long duration; buying a swap (paying fixed) is short duration.
        let buy = long_duration == is_bond;
        let spec = if is_bond {
            let maturity = f64::from(years) - 0.5 * f64::from(rng.random_range(0..2u8));
            let z = self.marks.zero(maturity);
            let semi = 200.0 * ((z / 200.0).exp() - 1.0);
            let coupon = ((semi * 8.0).round() / 8.0).max(0.125);
            PositionSpec {
                instrument: Instrument::Ust(Bond { coupon, maturity }),
                notional: if long_duration { size } else { -size },
                prior_pnl_cents: 0,
            }
        } else {
            let par = Swap {
                fixed_rate: 0.0,
                years,
            }
            .par_rate(&self.marks);
            PositionSpec {
                instrument: Instrument::Irs(Swap {
                    fixed_rate: round_yield(par),
                    years,
                }),
                notional: if long_duration { size } else { -size },
                prior_pnl_cents: 0,
            }
        };
        let id = position_id(self.next_id);
        self.next_id += 1;
        let p = Position::new(id.clone(), &spec, &self.marks, self.as_of_year, true);
        let price = match spec.instrument {
            Instrument::Ust(b) => round_price(b.clean_price(&self.marks)),
            Instrument::Irs(s) => s.fixed_rate,
        };
        self.book.push(p);
        NewTrade {
            symbol: symbol(&spec.instrument, self.as_of_year),
            side: if buy { "BUY" } else { "SELL" },
            quantity: size,
            price,
            timestamp: ts_ms,
            position: id,
            unwind: false,
        }
    }

    /// Closes position `i` at mid; its PnL so far becomes realized in its bucket.
    fn unwind(&mut self, i: usize, ts_ms: u64) -> NewTrade {
        let p = self.book.remove(i);
        let r = p.risk(&self.marks);
        self.realized[p.bucket].add(&position_pnl(&p, r.value, &self.marks));
        let long_duration = p.notional > 0.0;
        let (side, price) = match p.instrument {
            Instrument::Ust(_) => (
                if long_duration { "SELL" } else { "BUY" },
                round_price(r.price.unwrap_or_default()),
            ),
            // Unwinding a received swap means paying fixed: buying.
            Instrument::Irs(_) => (
                if long_duration { "BUY" } else { "SELL" },
                round_yield(r.yield_pct),
            ),
        };
        NewTrade {
            symbol: symbol(&p.instrument, self.as_of_year),
            side,
            quantity: p.notional.abs(),
            price,
            timestamp: ts_ms,
            position: p.id,
            unwind: true,
        }
    }
}

/// A trade ticker: `UST 4.25 2035` (coupon, maturity year) or `SOFR 10Y`.
fn symbol(instrument: &Instrument, as_of_year: i32) -> String {
    match instrument {
        Instrument::Ust(b) => format!(
            "UST {} {}",
            fmt_rate(b.coupon),
            as_of_year + b.maturity.ceil() as i32
        ),
        Instrument::Irs(s) => format!("SOFR {}Y", s.years),
    }
}

/// `P001`, `P002`, …: zero-padded so the item keys sort in the order positions were opened.
fn position_id(n: usize) -> String {
    format!("P{n:03}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::risk;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use serde_json::Value;
    use std::collections::BTreeMap;

    fn cfg() -> SimConfig {
        let mut c = SimConfig::new(250, Some(1));
        c.as_of_year = 2026;
        c
    }

    fn run(cfg: &SimConfig, seed: u64, ticks: u64) -> Vec<TickOutput> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut d = Desk::new(cfg, &mut rng);
        let mut out = vec![d.open(0)];
        out.extend((1..=ticks).map(|t| d.step(&mut rng, t * 250)));
        out
    }

    fn published_cents(v: &Value) -> Cents {
        let x = v.as_f64().expect("a number");
        let c = (x * 100.0).round();
        assert!(
            (x * 100.0 - c).abs() < 1e-6,
            "{x} is a whole number of cents"
        );
        c as Cents
    }

    #[test]
    fn the_same_seed_gives_the_same_day_and_another_seed_another() {
        let c = cfg();
        let a = run(&c, 7, 300);
        assert_eq!(a, run(&c, 7, 300));
        let b = run(&c, 8, 300);
        assert_ne!(a.last().unwrap().curve, b.last().unwrap().curve);
    }

    #[test]
    fn the_first_output_is_everything_and_later_ones_only_the_tenors_that_moved() {
        let c = cfg();
        let mut rng = StdRng::seed_from_u64(3);
        let mut d = Desk::new(&c, &mut rng);
        let first = d.open(5);
        assert_eq!(first.curve.len(), 11);
        assert_eq!(first.positions.len(), c.book.len());
        assert_eq!(first.spreads.len(), 3);
        assert_eq!(first.pnl.len(), 12);
        assert!(
            first
                .curve
                .values()
                .any(|f| f["chg_bp"] != serde_json::json!(0.0)),
            "the desk opens after an overnight move"
        );
        let mut held = d.marks;
        for t in 0..200 {
            let out = d.step(&mut rng, 10 + t);
            for (i, (tenor, _)) in TENORS.iter().enumerate() {
                assert_eq!(
                    out.curve.contains_key(*tenor),
                    held.zeros[i] != d.marks.zeros[i],
                    "{tenor} is published iff its mark moved"
                );
            }
            if out == TickOutput::default() {
                assert_eq!(held, d.marks);
            }
            held = d.marks;
        }
    }

    /// Replays the outputs the way a client would (rows merged into items, deletions applied) and checks, on
    /// every tick, what a trader could check on screen.
    #[test]
    fn what_is_published_adds_up_and_reprices_off_the_published_curve() {
        let mut c = cfg();
        c.trades_per_minute = 60.0 * 4.0 * 0.2; // a trade every 5 ticks
        c.max_positions = 16;
        let outs = run(&c, 11, 400);
        let mut curve: BTreeMap<String, tickdesk_wire::Fields> = BTreeMap::new();
        let mut positions: BTreeMap<String, tickdesk_wire::Fields> = BTreeMap::new();
        let (mut opened, mut unwound) = (0, 0);
        for out in &outs {
            for (k, f) in &out.curve {
                curve.entry(k.clone()).or_default().extend(f.clone());
            }
            for id in &out.closed {
                assert!(positions.remove(id).is_some());
            }
            for (k, f) in &out.positions {
                positions.insert(k.clone(), f.clone());
            }
            if let Some(t) = &out.trade {
                assert!(t.side == "BUY" || t.side == "SELL");
                assert!(t.quantity >= 10e6 && t.price > 0.0);
                assert!(t
                    .symbol
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '.'));
                if t.unwind {
                    unwound += 1;
                } else {
                    opened += 1;
                    assert_eq!(
                        out.positions[&t.position]["day_pnl"],
                        serde_json::json!(0.0),
                        "trades are done at mid"
                    );
                }
            }
            assert!(positions.len() <= 16);
            let Some(rep) = out.report else { continue };
            // The curve as a client holds it, back into a pricing curve.
            let marks = ZeroCurve::new(TENORS.map(|(t, _)| curve[t]["yield"].as_f64().unwrap()));
            let mut by_bucket: BTreeMap<String, Cents> = BTreeMap::new();
            for p in positions.values() {
                *by_bucket
                    .entry(p["bucket"].as_str().unwrap().to_string())
                    .or_default() += published_cents(&p["day_pnl"]);
            }
            for (tenor, _) in TENORS {
                let row = &out.pnl[&format!("bucket:{tenor}")];
                assert_eq!(
                    by_bucket.get(tenor).copied().unwrap_or(0)
                        + published_cents(&row["realized_pnl"]),
                    published_cents(&row["day_pnl"]),
                    "positions + realized = bucket {tenor}"
                );
                assert_eq!(
                    published_cents(&row["explain_pnl"]) + published_cents(&row["residual"]),
                    published_cents(&row["day_pnl"])
                );
            }
            for field in [
                "day_pnl",
                "total_pnl",
                "explain_pnl",
                "residual",
                "dv01",
                "key_dv01",
            ] {
                let sum: Cents = TENORS
                    .iter()
                    .map(|(t, _)| published_cents(&out.pnl[&format!("bucket:{t}")][field]))
                    .sum();
                assert_eq!(sum, published_cents(&out.pnl["total"][field]), "{field}");
            }
            assert_eq!(rep.total.positions, positions.len());
            // Every position reprices to its published value off the curve the client holds.
            for p in out.positions.values() {
                let (instrument, notional) = instrument_of(p);
                let r = risk(&instrument, notional, &marks);
                assert_eq!(published_cents(&p["mv"]), cents(r.value), "{p:?}");
            }
        }
        assert!(
            opened > 10 && unwound > 5,
            "opened {opened}, unwound {unwound}"
        );
    }

    /// The instrument and notional a published position row describes.
    fn instrument_of(p: &tickdesk_wire::Fields) -> (Instrument, f64) {
        let coupon = p["coupon"].as_f64().unwrap();
        let maturity = p["maturity"].as_f64().unwrap();
        let notional = p["notional"].as_f64().unwrap();
        let inst = match p["kind"].as_str().unwrap() {
            "UST" => Instrument::Ust(Bond { coupon, maturity }),
            _ => Instrument::Irs(Swap {
                fixed_rate: coupon,
                years: maturity as u32,
            }),
        };
        (inst, notional)
    }

    #[test]
    fn a_full_book_unwinds_todays_tickets_and_keeps_the_overnight_book() {
        let mut c = cfg();
        c.trades_per_minute = 60.0 * 4.0; // a trade every tick
        c.max_positions = c.book.len() + 3;
        let mut rng = StdRng::seed_from_u64(5);
        let mut d = Desk::new(&c, &mut rng);
        d.open(0);
        let overnight: Vec<String> = d.book().iter().map(|p| p.id.clone()).collect();
        for t in 0..50 {
            let out = d.step(&mut rng, t);
            assert!(out.trade.is_some());
            assert!(d.book().len() <= c.max_positions);
        }
        for id in &overnight {
            assert!(d.book().iter().any(|p| &p.id == id), "{id} kept");
        }
        let realized: Cents = d.realized.iter().map(|r| r.pnl).sum();
        let rep = d.state(0).report.unwrap();
        assert_eq!(rep.total.realized, realized);
    }

    #[test]
    fn the_day_roll_takes_a_new_prior_close_and_keeps_total_pnl() {
        let cfg = SimConfig::new(250, Some(7));
        let mut rng = StdRng::seed_from_u64(7);
        let mut desk = Desk::new(&cfg, &mut rng);
        desk.open(0);
        for t in 0..400 {
            desk.step(&mut rng, t);
        }
        let before = desk.open(1_000).report.unwrap();
        assert_ne!(before.total.day, 0, "a day of ticks moved the book");
        let rolled = desk.roll_day(2_000);
        let after = rolled.report.unwrap();
        assert_eq!(
            desk.prior_close(),
            desk.marks(),
            "today's marks are the new prior close"
        );
        assert_eq!(after.total.day, 0, "day PnL starts again");
        assert_eq!(
            after.total.total, before.total.total,
            "total PnL does not jump"
        );
        assert!(desk.book().iter().all(|p| !p.intraday));
        for row in rolled.curve.values() {
            assert_eq!(row["chg_bp"], serde_json::json!(0.0));
        }
    }
}
