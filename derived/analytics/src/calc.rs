//! Options analytics of one expiry (or of several together), from the contracts a `chain:` topic holds: pure
//! functions of the rows, the spot and the time, no I/O, so each field is unit-tested on small hand-computed chains.
//!
//! Conventions (PROTOCOL.md, `analytics:`):
//! - Dealer gamma exposure per contract: `gamma × open_interest × 100 × spot² × 0.01` dollars per 1% move, calls
//!   positive and puts negative (dealers long the calls and short the puts customers hold, the usual
//!   SqueezeMetrics convention).
//! - A value Schwab cannot compute (−999, `null` on the wire) is left out, never counted as a number: a contract
//!   with no gamma adds nothing to GEX, one with no IV is not re-priced for the zero-gamma level, one with no
//!   open interest counts for no pain and no ratio.
//! - Zero gamma re-prices every contract's gamma with Black–Scholes (its own IV, its time to 16:00 ET on expiry,
//!   no rate or dividend: the effect on gamma is small) on a grid of spots ±[`GRID_SPAN`] around the spot, and
//!   reports the sign change nearest the spot, linearly interpolated.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use tickdesk_wire::fields;
use tickdesk_wire::Fields;

/// The zero-gamma grid spans this fraction either side of the spot.
pub const GRID_SPAN: f64 = 0.2;
/// Grid points either side of the spot (0.5% steps).
pub const GRID_STEPS: usize = 40;
/// Shortest time to expiry used for re-pricing gamma (one hour, in years): a contract in its last minutes would
/// otherwise put all of the exposure on one strike.
pub const MIN_YEARS: f64 = 1.0 / (365.0 * 24.0);
/// Milliseconds in a 365-day year.
pub const YEAR_MS: f64 = 365.0 * 86_400_000.0;

/// One contract as the analytics read it. `None` is a value the chain does not have (or Schwab's −999).
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    pub call: bool,
    pub strike: f64,
    /// Years to expiry.
    pub years: f64,
    pub volume: Option<f64>,
    pub open_interest: Option<f64>,
    /// Implied vol in percent.
    pub iv: Option<f64>,
    pub delta: Option<f64>,
    pub gamma: Option<f64>,
    /// Mid: `mark`, else (bid + ask) / 2.
    pub mid: Option<f64>,
    pub live: bool,
}

/// A finite number that is not Schwab's −999 (the relay already sends it as `null`; a raw −999 is refused too).
fn num(f: &Fields, k: &str) -> Option<f64> {
    f.get(k)
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite() && *v != -999.0)
}

impl Contract {
    /// Reads a `chain:` item; `None` when it has no side or strike. `years` is the time to expiry.
    pub fn from_fields(f: &Fields, years: f64) -> Option<Contract> {
        let call = match f.get("put_call").and_then(Value::as_str)? {
            "C" => true,
            "P" => false,
            _ => return None,
        };
        let strike = num(f, fields::STRIKE).filter(|s| *s > 0.0)?;
        let mid = num(f, fields::MARK).filter(|m| *m >= 0.0).or_else(|| {
            let (b, a) = (num(f, fields::BID)?, num(f, fields::ASK)?);
            (b >= 0.0 && a >= b).then_some((a + b) / 2.0)
        });
        Some(Contract {
            call,
            strike,
            years,
            volume: num(f, fields::VOLUME).filter(|v| *v >= 0.0),
            open_interest: num(f, fields::OPEN_INTEREST).filter(|v| *v >= 0.0),
            iv: num(f, fields::IV).filter(|v| *v > 0.0),
            delta: num(f, fields::DELTA),
            gamma: num(f, fields::GAMMA).filter(|g| *g >= 0.0),
            mid,
            live: f.get("live").and_then(Value::as_bool).unwrap_or(false),
        })
    }
}

/// The standard normal density.
pub fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Black–Scholes gamma (no rate, no dividend): `φ(d1) / (S σ √T)`; `vol` decimal, `years` > 0.
pub fn bs_gamma(spot: f64, strike: f64, vol: f64, years: f64) -> f64 {
    if spot <= 0.0 || strike <= 0.0 || vol <= 0.0 || years <= 0.0 {
        return 0.0;
    }
    let sd = vol * years.sqrt();
    let d1 = ((spot / strike).ln() + 0.5 * sd * sd) / sd;
    norm_pdf(d1) / (spot * sd)
}

/// GEX of one contract in dollars per 1% move at `spot`, signed (calls +, puts −).
pub fn gex_of(gamma: f64, open_interest: f64, spot: f64, call: bool) -> f64 {
    let g = gamma * open_interest * 100.0 * spot * spot * 0.01;
    if call {
        g
    } else {
        -g
    }
}

/// The listed strike that minimises the total intrinsic value of all open contracts at expiry (the lowest such
/// strike on a tie); `None` when no contract has open interest.
pub fn max_pain(contracts: &[Contract]) -> Option<f64> {
    let open: Vec<&Contract> = contracts
        .iter()
        .filter(|c| c.open_interest.is_some_and(|oi| oi > 0.0))
        .collect();
    if open.is_empty() {
        return None;
    }
    let mut strikes: Vec<f64> = contracts.iter().map(|c| c.strike).collect();
    strikes.sort_by(f64::total_cmp);
    strikes.dedup();
    let pain = |at: f64| -> f64 {
        open.iter()
            .map(|c| {
                let intrinsic = if c.call {
                    (at - c.strike).max(0.0)
                } else {
                    (c.strike - at).max(0.0)
                };
                intrinsic * c.open_interest.unwrap_or(0.0)
            })
            .sum()
    };
    let mut best: Option<(f64, f64)> = None;
    for k in strikes {
        let p = pain(k);
        if best.is_none_or(|(_, bp)| p < bp) {
            best = Some((k, p));
        }
    }
    best.map(|(k, _)| k)
}

/// Puts over calls of a per-contract quantity; `None` when the calls sum to nothing.
pub fn put_call_ratio(
    contracts: &[Contract],
    what: impl Fn(&Contract) -> Option<f64>,
) -> Option<f64> {
    let (mut puts, mut calls) = (0.0, 0.0);
    for c in contracts {
        if let Some(v) = what(c) {
            if c.call {
                calls += v;
            } else {
                puts += v;
            }
        }
    }
    (calls > 0.0).then(|| puts / calls)
}

/// GEX by strike at `spot` from the chain's own gamma. Contracts without gamma or open interest are left out.
pub fn gex_by_strike(contracts: &[Contract], spot: f64) -> BTreeMap<StrikeKey, (f64, f64)> {
    let mut by: BTreeMap<StrikeKey, (f64, f64)> = BTreeMap::new();
    for c in contracts {
        let (Some(g), Some(oi)) = (c.gamma, c.open_interest) else {
            continue;
        };
        let e = by.entry(StrikeKey(c.strike)).or_default();
        let v = gex_of(g, oi, spot, c.call);
        if c.call {
            e.0 += v;
        } else {
            e.1 += v;
        }
    }
    by
}

/// A strike as a map key (ordered; strikes are never NaN here).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StrikeKey(pub f64);
impl Eq for StrikeKey {}
impl PartialOrd for StrikeKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for StrikeKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Total GEX with gamma re-priced at `at` (Black–Scholes from each contract's IV and time).
pub fn repriced_gex(contracts: &[Contract], at: f64) -> f64 {
    contracts
        .iter()
        .filter_map(|c| {
            let (iv, oi) = (c.iv?, c.open_interest?);
            let g = bs_gamma(at, c.strike, iv / 100.0, c.years.max(MIN_YEARS));
            Some(gex_of(g, oi, at, c.call))
        })
        .sum()
}

/// The spot at which re-priced total GEX changes sign, nearest to `spot` within ±[`GRID_SPAN`] (grid steps of
/// `spot × GRID_SPAN / GRID_STEPS`, linear between grid points); `None` when it keeps one sign over the whole grid
/// (or nothing can be re-priced). Walks outward from the spot, so a flip near the spot costs a few evaluations.
pub fn zero_gamma(contracts: &[Contract], spot: f64) -> Option<f64> {
    let priced: Vec<Contract> = contracts
        .iter()
        .filter(|c| c.iv.is_some() && c.open_interest.is_some_and(|oi| oi > 0.0))
        .cloned()
        .collect();
    if spot <= 0.0 || priced.is_empty() {
        return None;
    }
    let step = spot * GRID_SPAN / GRID_STEPS as f64;
    let g = |s: f64| repriced_gex(&priced, s);
    // The crossing inside one grid window, if any.
    let cross = |s0: f64, g0: f64, s1: f64, g1: f64| -> Option<f64> {
        if g0 == 0.0 {
            return (g1 != 0.0).then_some(s0);
        }
        ((g0 < 0.0) != (g1 < 0.0) && g1 != 0.0).then(|| s0 + (s1 - s0) * g0 / (g0 - g1))
    };
    let g0 = g(spot);
    let (mut up, mut down) = ((spot, g0), (spot, g0));
    for i in 1..=GRID_STEPS {
        let (su, sd) = (spot + i as f64 * step, spot - i as f64 * step);
        let (gu, gd) = (g(su), g(sd));
        let hits = [cross(up.0, up.1, su, gu), cross(down.0, down.1, sd, gd)];
        if let Some(z) = hits
            .into_iter()
            .flatten()
            .min_by(|a, b| (a - spot).abs().total_cmp(&(b - spot).abs()))
        {
            return Some(z);
        }
        (up, down) = ((su, gu), (sd, gd));
    }
    None
}

/// The IV (percent) at `target` delta, linearly interpolated between the two listed contracts of that side whose
/// deltas bracket it; `None` without a bracket (no extrapolation).
pub fn iv_at_delta(contracts: &[Contract], call: bool, target: f64) -> Option<f64> {
    let mut pts: Vec<(f64, f64)> = contracts
        .iter()
        .filter(|c| c.call == call)
        .filter_map(|c| Some((c.delta?, c.iv?)))
        .filter(|(d, _)| d.abs() > 0.0 && d.abs() < 1.0)
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    if let Some(&(_, iv)) = pts.iter().find(|(d, _)| *d == target) {
        return Some(iv);
    }
    pts.windows(2).find_map(|w| {
        let ((d0, v0), (d1, v1)) = (w[0], w[1]);
        (d0 < target && target < d1).then(|| v0 + (v1 - v0) * (target - d0) / (d1 - d0))
    })
}

/// The listed strike nearest the spot (the lower one on a tie).
pub fn atm_strike(contracts: &[Contract], spot: f64) -> Option<f64> {
    contracts.iter().map(|c| c.strike).min_by(|a, b| {
        (a - spot)
            .abs()
            .total_cmp(&(b - spot).abs())
            .then(a.total_cmp(b))
    })
}

/// ATM IV (percent): the mean of the call's and the put's IV at the ATM strike (whichever it has).
pub fn atm_iv(contracts: &[Contract], spot: f64) -> Option<f64> {
    let k = atm_strike(contracts, spot)?;
    let ivs: Vec<f64> = contracts
        .iter()
        .filter(|c| c.strike == k)
        .filter_map(|c| c.iv)
        .collect();
    (!ivs.is_empty()).then(|| ivs.iter().sum::<f64>() / ivs.len() as f64)
}

/// The ATM straddle's mid (call mid + put mid at the ATM strike); `None` unless both have one.
pub fn expected_move(contracts: &[Contract], spot: f64) -> Option<f64> {
    let k = atm_strike(contracts, spot)?;
    let mid = |call: bool| {
        contracts
            .iter()
            .find(|c| c.strike == k && c.call == call)
            .and_then(|c| c.mid)
    };
    Some(mid(true)? + mid(false)?)
}

/// The smile: per strike, the out-of-the-money side's IV (puts below the spot, calls at or above it), falling back
/// to the other side's when that one has none.
pub fn smile(contracts: &[Contract], spot: f64) -> BTreeMap<StrikeKey, f64> {
    let mut out = BTreeMap::new();
    for c in contracts {
        let Some(iv) = c.iv else { continue };
        let otm = if c.call {
            c.strike >= spot
        } else {
            c.strike < spot
        };
        let e = out.entry(StrikeKey(c.strike)).or_insert((iv, otm));
        if otm && !e.1 {
            *e = (iv, true);
        }
    }
    out.into_iter().map(|(k, (iv, _))| (k, iv)).collect()
}

/// Everything an `analytics:` item says about a set of contracts.
#[derive(Debug, Clone, PartialEq)]
pub struct Analytics {
    pub spot: f64,
    pub atm_iv: Option<f64>,
    pub expected_move: Option<f64>,
    pub max_pain: Option<f64>,
    pub pc_oi: Option<f64>,
    pub pc_volume: Option<f64>,
    pub gex: Option<f64>,
    pub gex_by_strike: BTreeMap<StrikeKey, f64>,
    pub zero_gamma: Option<f64>,
    pub call_wall: Option<f64>,
    pub put_wall: Option<f64>,
    pub rr25: Option<f64>,
    pub bf25: Option<f64>,
    pub smile: BTreeMap<StrikeKey, f64>,
    pub contracts: usize,
    /// Contracts streamed live (the others are REST pictures).
    pub live: usize,
}

/// The analytics of `contracts` at `spot`. `single_expiry` says whether they are one expiry: ATM IV, the expected
/// move, the 25-delta risk reversal and butterfly and the smile are per-expiry quantities, `None`/empty otherwise.
pub fn compute(contracts: &[Contract], spot: f64, single_expiry: bool) -> Analytics {
    let by = gex_by_strike(contracts, spot);
    let counted = !by.is_empty();
    let wall = |pick: fn(&(f64, f64)) -> f64| {
        by.iter()
            .filter(|(_, v)| pick(v) != 0.0)
            .max_by(|a, b| {
                pick(a.1)
                    .abs()
                    .total_cmp(&pick(b.1).abs())
                    .then(b.0.cmp(a.0))
            })
            .map(|(k, _)| k.0)
    };
    let (call_wall, put_wall) = (wall(|v| v.0), wall(|v| v.1));
    let gex = counted.then(|| by.values().map(|(c, p)| c + p).sum());
    let atm = single_expiry.then(|| atm_iv(contracts, spot)).flatten();
    let (c25, p25) = if single_expiry {
        (
            iv_at_delta(contracts, true, 0.25),
            iv_at_delta(contracts, false, -0.25),
        )
    } else {
        (None, None)
    };
    let rr25 = c25.zip(p25).map(|(c, p)| c - p);
    let bf25 = c25.zip(p25).zip(atm).map(|((c, p), a)| (c + p) / 2.0 - a);
    Analytics {
        spot,
        atm_iv: atm,
        expected_move: single_expiry
            .then(|| expected_move(contracts, spot))
            .flatten(),
        max_pain: max_pain(contracts),
        pc_oi: put_call_ratio(contracts, |c| c.open_interest),
        pc_volume: put_call_ratio(contracts, |c| c.volume),
        gex,
        gex_by_strike: by.into_iter().map(|(k, (c, p))| (k, c + p)).collect(),
        zero_gamma: zero_gamma(contracts, spot),
        call_wall,
        put_wall,
        rr25,
        bf25,
        smile: if single_expiry {
            smile(contracts, spot)
        } else {
            BTreeMap::new()
        },
        contracts: contracts.len(),
        live: contracts.iter().filter(|c| c.live).count(),
    }
}

/// Rounds to `places` decimals (for the wire: a recompute that moves a value by noise sends nothing).
pub fn round(v: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (v * m).round() / m
}

/// A strike as a JSON key: `230`, `232.5`.
pub fn strike_key(k: f64) -> String {
    format!("{}", round(k, 3))
}

fn opt(v: Option<f64>, places: i32) -> Value {
    v.map_or(Value::Null, |v| json!(round(v, places)))
}

impl Analytics {
    /// The item's fields (without the bookkeeping ones the task adds: `expiry`, `dte`, `ts`, `chain_seq`…).
    pub fn to_fields(&self) -> Fields {
        let map = |m: &BTreeMap<StrikeKey, f64>, places: i32| -> Value {
            Value::Object(
                m.iter()
                    .map(|(k, v)| (strike_key(k.0), json!(round(*v, places))))
                    .collect::<Map<String, Value>>(),
            )
        };
        let mut f = Fields::new();
        f.insert("spot".into(), json!(self.spot));
        f.insert("atm_iv".into(), opt(self.atm_iv, 3));
        f.insert("expected_move".into(), opt(self.expected_move, 3));
        f.insert("max_pain".into(), opt(self.max_pain, 3));
        f.insert("pc_oi".into(), opt(self.pc_oi, 4));
        f.insert("pc_volume".into(), opt(self.pc_volume, 4));
        f.insert("gex".into(), opt(self.gex, 0));
        f.insert("gex_by_strike".into(), map(&self.gex_by_strike, 0));
        f.insert("zero_gamma".into(), opt(self.zero_gamma, 2));
        f.insert("call_wall".into(), opt(self.call_wall, 3));
        f.insert("put_wall".into(), opt(self.put_wall, 3));
        f.insert("rr25".into(), opt(self.rr25, 3));
        f.insert("bf25".into(), opt(self.bf25, 3));
        f.insert("smile".into(), map(&self.smile, 3));
        f.insert("contracts".into(), json!(self.contracts));
        f.insert("live_contracts".into(), json!(self.live));
        f.insert("live".into(), json!(self.live > 0));
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain row as the `chain:` topic holds it.
    fn row(pc: &str, strike: f64, extra: Value) -> Fields {
        let mut f: Fields = serde_json::from_value(extra).unwrap();
        f.insert("put_call".into(), json!(pc));
        f.insert("strike".into(), json!(strike));
        f
    }

    fn contracts(rows: &[Fields]) -> Vec<Contract> {
        rows.iter()
            .map(|r| Contract::from_fields(r, 0.25).unwrap())
            .collect()
    }

    /// Strikes 90/100/110, spot 100. Calls OI 10/25/5, puts OI 5/10/30; the 90 call's gamma is −999 (null).
    fn small_chain() -> Vec<Contract> {
        contracts(&[
            row(
                "C",
                90.0,
                json!({"open_interest": 10, "volume": 100, "gamma": null, "iv": null, "mark": 10.4}),
            ),
            row(
                "C",
                100.0,
                json!({"open_interest": 25, "volume": 200, "gamma": 0.05, "iv": 20.0, "mark": 3.0, "live": true}),
            ),
            row(
                "C",
                110.0,
                json!({"open_interest": 5, "volume": null, "gamma": 0.01, "iv": 21.0, "mark": 0.4}),
            ),
            row(
                "P",
                90.0,
                json!({"open_interest": 5, "volume": 50, "gamma": null, "iv": 26.0, "mark": 0.3}),
            ),
            row(
                "P",
                100.0,
                json!({"open_interest": 10, "volume": null, "gamma": 0.04, "iv": 20.0, "bid": 2.4, "ask": 2.6}),
            ),
            row(
                "P",
                110.0,
                json!({"open_interest": 30, "volume": 150, "gamma": 0.02, "iv": 19.0, "mark": 10.1}),
            ),
        ])
    }

    #[test]
    fn max_pain_is_the_strike_with_least_intrinsic_value_paid() {
        // pain(90) = 10×10 + 20×30 = 700; pain(100) = 10×10 + 10×30 = 400; pain(110) = 20×10 + 10×25 = 450.
        assert_eq!(max_pain(&small_chain()), Some(100.0));
        // No open interest anywhere: no max pain (not strike 0, not the first strike).
        let none: Vec<Contract> = small_chain()
            .into_iter()
            .map(|c| Contract {
                open_interest: None,
                ..c
            })
            .collect();
        assert_eq!(max_pain(&none), None);
        // A tie goes to the lower strike: one call at 100 and one put at 100, OI 1 each → 0 pain at 100 only.
        let tie = contracts(&[
            row("C", 100.0, json!({"open_interest": 1})),
            row("P", 110.0, json!({"open_interest": 0})),
            row("P", 90.0, json!({"open_interest": 0})),
        ]);
        assert_eq!(max_pain(&tie), Some(90.0));
    }

    #[test]
    fn put_call_ratios_leave_missing_values_out() {
        let c = small_chain();
        // OI: puts 45 / calls 40.
        assert_eq!(put_call_ratio(&c, |c| c.open_interest), Some(1.125));
        // Volume: puts 50 + 150 (100P null) / calls 100 + 200 (110C null).
        let v = put_call_ratio(&c, |c| c.volume).unwrap();
        assert!((v - 200.0 / 300.0).abs() < 1e-12);
        // No call volume at all: no ratio, not infinity.
        let puts_only = contracts(&[row("P", 100.0, json!({"volume": 3}))]);
        assert_eq!(put_call_ratio(&puts_only, |c| c.volume), None);
    }

    #[test]
    fn gex_by_strike_total_and_walls() {
        let a = compute(&small_chain(), 100.0, true);
        // Per contract gamma × OI × 100 × 100² × 0.01: 100C +12 500, 110C +500, 100P −4 000, 110P −6 000; the 90s
        // have no gamma (−999) and add nothing, not even a zero.
        let by: Vec<(f64, f64)> = a.gex_by_strike.iter().map(|(k, v)| (k.0, *v)).collect();
        assert_eq!(by, vec![(100.0, 8500.0), (110.0, -5500.0)]);
        assert_eq!(a.gex, Some(3000.0));
        assert_eq!(a.call_wall, Some(100.0));
        assert_eq!(a.put_wall, Some(110.0));
        assert_eq!(gex_of(0.05, 25.0, 100.0, true), 12_500.0);
        // Nothing with gamma: no GEX (null), no walls.
        let blind: Vec<Contract> = small_chain()
            .into_iter()
            .map(|c| Contract { gamma: None, ..c })
            .collect();
        let b = compute(&blind, 100.0, true);
        assert_eq!((b.gex, b.call_wall, b.put_wall), (None, None, None));
        assert!(b.gex_by_strike.is_empty());
    }

    #[test]
    fn atm_iv_expected_move_and_smile() {
        let c = small_chain();
        assert_eq!(atm_iv(&c, 101.0), Some(20.0));
        // 100C mark 3.0 + 100P mid (2.4 + 2.6)/2.
        assert_eq!(expected_move(&c, 99.0), Some(5.5));
        // Smile: OTM puts below the spot, OTM calls at and above it; the 90 put (OTM) has an IV, its call none.
        let s: Vec<(f64, f64)> = smile(&c, 100.0)
            .into_iter()
            .map(|(k, v)| (k.0, v))
            .collect();
        assert_eq!(s, vec![(90.0, 26.0), (100.0, 20.0), (110.0, 21.0)]);
        // Over several expiries these are not defined.
        let all = compute(&c, 100.0, false);
        assert_eq!(
            (all.atm_iv, all.expected_move, all.rr25),
            (None, None, None)
        );
        assert!(all.smile.is_empty());
        assert_eq!(all.max_pain, Some(100.0));
    }

    #[test]
    fn twenty_five_delta_is_interpolated_between_bracketing_contracts() {
        let c = contracts(&[
            row("C", 100.0, json!({"delta": 0.5, "iv": 20.0})),
            row("C", 105.0, json!({"delta": 0.3, "iv": 19.0})),
            row("C", 110.0, json!({"delta": 0.2, "iv": 18.5})),
            row("C", 120.0, json!({"delta": null, "iv": 30.0})),
            row("P", 100.0, json!({"delta": -0.5, "iv": 20.0})),
            row("P", 95.0, json!({"delta": -0.3, "iv": 22.0})),
            row("P", 90.0, json!({"delta": -0.2, "iv": 24.0})),
            row("P", 80.0, json!({"delta": -0.1, "iv": null})),
        ]);
        assert_eq!(iv_at_delta(&c, true, 0.25), Some(18.75));
        assert_eq!(iv_at_delta(&c, false, -0.25), Some(23.0));
        let a = compute(&c, 100.0, true);
        assert_eq!(a.atm_iv, Some(20.0));
        assert_eq!(a.rr25, Some(-4.25));
        assert_eq!(a.bf25, Some((18.75 + 23.0) / 2.0 - 20.0));
        // No bracket (every call delta above 0.25): no extrapolation.
        let high = contracts(&[
            row("C", 100.0, json!({"delta": 0.5, "iv": 20.0})),
            row("C", 105.0, json!({"delta": 0.3, "iv": 19.0})),
        ]);
        assert_eq!(iv_at_delta(&high, true, 0.25), None);
    }

    #[test]
    fn gamma_matches_black_scholes_by_hand() {
        // S = K = 100, σ = 20%, T = 1: d1 = 0.1, φ(0.1) = 0.396953, gamma = 0.396953 / 20 = 0.0198476.
        assert!((norm_pdf(0.0) - 0.398_942_280_4).abs() < 1e-9);
        assert!((bs_gamma(100.0, 100.0, 0.2, 1.0) - 0.019_847_6).abs() < 1e-6);
        assert_eq!(bs_gamma(100.0, 100.0, 0.0, 1.0), 0.0);
    }

    #[test]
    fn zero_gamma_is_where_call_and_put_exposure_balance() {
        // A 110 call and a 90 put, same OI, IV and time: their gammas are equal where d1 = −d1', i.e. at
        // S = √(110 × 90) × e^(−σ²T/2) = 99.0024 (σ = 20%, T = 0.25). Above it calls dominate, below puts.
        let c = contracts(&[
            row("C", 110.0, json!({"open_interest": 100, "iv": 20.0})),
            row("P", 90.0, json!({"open_interest": 100, "iv": 20.0})),
        ]);
        let expected = (110.0f64 * 90.0).sqrt() * (-0.5 * 0.04 * 0.25f64).exp();
        let z = zero_gamma(&c, 100.0).unwrap();
        assert!((z - expected).abs() < 0.05, "{z} vs {expected}");
        assert!(repriced_gex(&c, 105.0) > 0.0 && repriced_gex(&c, 95.0) < 0.0);
        // Calls only: positive everywhere, no flip in range.
        assert_eq!(zero_gamma(&c[..1], 100.0), None);
        // No IV (−999) anywhere: nothing to re-price.
        let blind: Vec<Contract> = c
            .iter()
            .map(|c| Contract {
                iv: None,
                ..c.clone()
            })
            .collect();
        assert_eq!(zero_gamma(&blind, 100.0), None);
    }

    #[test]
    fn schwab_999_and_nulls_are_not_numbers() {
        let f = row(
            "C",
            100.0,
            json!({"gamma": -999.0, "iv": -999, "delta": null, "open_interest": 12, "mark": -999}),
        );
        let c = Contract::from_fields(&f, 0.1).unwrap();
        assert_eq!((c.gamma, c.iv, c.delta, c.mid), (None, None, None, None));
        assert_eq!(c.open_interest, Some(12.0));
        assert!(Contract::from_fields(&row("X", 100.0, json!({})), 0.1).is_none());
    }

    #[test]
    fn fields_on_the_wire() {
        let f = compute(&small_chain(), 100.0, true).to_fields();
        assert_eq!(f["gex_by_strike"], json!({"100": 8500.0, "110": -5500.0}));
        assert_eq!(f["max_pain"], json!(100.0));
        assert_eq!(f["live"], json!(true));
        assert_eq!(f["live_contracts"], json!(1));
        assert_eq!(strike_key(232.5), "232.5");
    }
}
