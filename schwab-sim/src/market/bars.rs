//! An underlying's 1-minute bars: recorded from the walk as the market steps (what `CHART_EQUITY` streams and
//! pricehistory serves for those minutes), and a deterministic synthetic past before the walk started that ends
//! where it started, so every pricehistory answer and every streamed bar tell one story.
//!
//! - **Recorded** (from [`Underlying::live_from`] on): every step in the regular session moves the minute's bar
//!   (high, low, close, the shares traded). When the clock jumps over minutes (a test moving it by hand), the
//!   minutes skipped get bars that walk straight from the last close to the new price, so there is no hole.
//! - **Synthetic past** (before `live_from`): a walk backwards from the price at `live_from`, minute by minute
//!   through every trading day's extended hours (04:00 ET to the after-hours close), each minute's move drawn from
//!   a hash of (seed, symbol, minute): the same minute has the same bar whatever range is asked for.

use tickdesk_market::zone::et_date;
use tickdesk_market::{calendar, Date, DAY_MS, MINUTE_MS};
use tickdesk_wire::bars::Bar;

use super::draws::{hash_mix, unit};
use super::underlying::Underlying;
use crate::pricing::round_to;

/// Recorded bars kept per underlying: four full regular sessions.
pub const RECORDED_BARS: usize = 4 * 390;
/// How far back minute history goes (Schwab keeps about 48 days of 1-minute candles).
pub const MINUTE_HISTORY_DAYS: i64 = 60;
/// Pre-market and after-hours minutes move this much less, and trade this share of a regular minute's volume.
const EXTENDED_VOL: f64 = 0.3;
const EXTENDED_VOLUME: f64 = 0.05;

/// The start of the minute holding `t`.
pub fn minute_of(t: i64) -> i64 {
    t.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// A trading day's extended hours as minute starts: `[04:00 ET, after-hours close)`, or `None` on a closed day.
fn extended_hours(d: Date) -> Option<(i64, i64)> {
    calendar::session(d).map(|s| (d.at_et(4, 0), s.post_close_ms))
}

/// True in the regular session of `t`'s day.
fn regular(t: i64) -> bool {
    calendar::session(et_date(t)).is_some_and(|s| t >= s.open_ms && t < s.close_ms)
}

impl Underlying {
    /// A standard normal from two hashed uniforms (Box–Muller): the same for the same minute every time.
    fn minute_normal(&self, seed: u64, t: i64, salt: u64) -> f64 {
        let name = self.spec.symbol;
        let u1 = unit(seed, name, hash_mix(t as u64, "bar", salt)).max(1e-12);
        let u2 = unit(seed, name, hash_mix(t as u64, "bar", salt + 1));
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// The volatility of one regular minute's return.
    fn minute_sigma(&self) -> f64 {
        self.spec.atm_vol * (1.0_f64 / (252.0 * 390.0)).sqrt()
    }

    /// Records the step at `now_ms` (in the regular session) into the minute's bar: `traded` shares since the last
    /// step. Minutes skipped since the last bar of the day are filled first.
    pub(super) fn record_bar(&mut self, now_ms: i64, traded: f64) {
        let t = minute_of(now_ms);
        let p = self.last;
        if let Some(b) = self.bars.back_mut().filter(|b| b.t == t) {
            b.h = b.h.max(p);
            b.l = b.l.min(p);
            b.c = p;
            b.v += traded;
            return;
        }
        // The next bar opens at the last close of the day, or the live walk's start, or the day's open price.
        let day = et_date(t);
        let from_last = self.bars.back().filter(|b| et_date(b.t) == day).copied();
        let open = calendar::session(day).map_or(t, |s| s.open_ms);
        let (mut prev_c, first) = match from_last {
            Some(b) => (b.c, b.t + MINUTE_MS),
            None if et_date(self.live_from) == day => (self.live_open, self.live_from.max(open)),
            None => (self.open, open),
        };
        // Skipped minutes: a straight walk from the last close to the new price, a regular minute's volume each.
        let skipped: Vec<i64> = (0..)
            .map(|i| first + i * MINUTE_MS)
            .take_while(|m| *m < t)
            .filter(|m| regular(*m))
            .collect();
        let n = skipped.len() as f64 + 1.0;
        let step = (p - prev_c) / n;
        let per_minute = (self.spec.daily_volume / 390.0).round();
        let base = prev_c;
        for (i, m) in skipped.into_iter().enumerate() {
            let c = round_to(base + step * (i as f64 + 1.0), 2);
            self.push_bar(Bar {
                t: m,
                o: prev_c,
                h: prev_c.max(c),
                l: prev_c.min(c),
                c,
                v: per_minute,
            });
            prev_c = c;
        }
        self.push_bar(Bar {
            t,
            o: prev_c,
            h: prev_c.max(p),
            l: prev_c.min(p),
            c: p,
            v: traded,
        });
    }

    /// The market is closed at `now_ms`: if the clock passed the close in a jump, the last session's minutes after
    /// the last bar get flat bars at its close (prices did not move, as the walk did not step), so the day's record
    /// has no hole for pricehistory to show.
    pub(super) fn close_out(&mut self, now_ms: i64) {
        let Some(last) = self.bars.back().copied() else {
            return;
        };
        let Some(s) = calendar::session(et_date(last.t)) else {
            return;
        };
        let end = minute_of(now_ms.min(s.close_ms));
        let per_minute = (self.spec.daily_volume / 390.0).round();
        let mut t = last.t + MINUTE_MS;
        while t < end {
            self.push_bar(Bar {
                t,
                o: last.c,
                h: last.c,
                l: last.c,
                c: last.c,
                v: per_minute,
            });
            t += MINUTE_MS;
        }
    }

    fn push_bar(&mut self, b: Bar) {
        if self.bars.len() >= RECORDED_BARS {
            self.bars.pop_front();
        }
        self.bars.push_back(b);
    }

    /// Recorded bars that are complete at `now_ms` and start after `after` (exclusive), oldest first.
    pub fn completed_bars(&self, after: i64, now_ms: i64) -> impl Iterator<Item = &Bar> {
        self.bars
            .iter()
            .filter(move |b| b.t > after && b.t + MINUTE_MS <= now_ms)
    }

    /// The start of the last complete recorded bar at `now_ms`, or `i64::MIN` with none.
    pub fn last_completed(&self, now_ms: i64) -> i64 {
        self.bars
            .iter()
            .rev()
            .find(|b| b.t + MINUTE_MS <= now_ms)
            .map_or(i64::MIN, |b| b.t)
    }

    /// 1-minute bars starting in `[from, to]`: the synthetic past before `live_from`, then the recorded ones;
    /// pre-market and after-hours minutes only with `extended`.
    pub fn minute_bars(&self, seed: u64, from: i64, to: i64, extended: bool) -> Vec<Bar> {
        let from = from.max(self.live_from - MINUTE_HISTORY_DAYS * DAY_MS);
        let mut out = self.synthetic_past(seed, from, to.min(self.live_from - 1));
        out.extend(
            self.bars
                .iter()
                .filter(|b| b.t >= from && b.t <= to && b.t >= self.live_from)
                .copied(),
        );
        if !extended {
            out.retain(|b| regular(b.t));
        }
        out
    }

    /// The synthetic past in `[from, to]` (every extended-hours minute), walking back from `live_open` at
    /// `live_from`.
    fn synthetic_past(&self, seed: u64, from: i64, to: i64) -> Vec<Bar> {
        if to < from {
            return Vec::new();
        }
        let sigma = self.minute_sigma();
        let regular_volume = self.spec.daily_volume / 390.0;
        let mut out = Vec::new();
        let mut close = self.live_open;
        let mut d = et_date(self.live_from);
        let first_day = et_date(from);
        while d >= first_day {
            if let Some((start, end)) = extended_hours(d) {
                let mut t = minute_of(end.min(self.live_from) - 1);
                while t >= start {
                    let reg = regular(t);
                    let s = if reg { sigma } else { sigma * EXTENDED_VOL };
                    let open = close / (s * self.minute_normal(seed, t, 0)).exp();
                    if t <= to && t >= from {
                        let (o, c) = (round_to(open, 2), round_to(close, 2));
                        let wick = |salt| {
                            1.0 + s
                                * 0.5
                                * unit(seed, self.spec.symbol, hash_mix(t as u64, "wick", salt))
                        };
                        let v = regular_volume
                            * if reg { 1.0 } else { EXTENDED_VOLUME }
                            * (0.6
                                + 0.8 * unit(seed, self.spec.symbol, hash_mix(t as u64, "vol", 0)));
                        out.push(Bar {
                            t,
                            o,
                            h: round_to(o.max(c) * wick(1), 2),
                            l: round_to(o.min(c) / wick(2), 2),
                            c,
                            v: v.round(),
                        });
                    }
                    close = open;
                    t -= MINUTE_MS;
                }
            }
            d = d.add_days(-1);
        }
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Market, MarketConfig};
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn market_at(now: i64) -> Market {
        Market::new(
            MarketConfig {
                seed: 9,
                speed: 1.0,
                load_contracts: 0,
                load_expiries: 0,
            },
            now,
        )
    }

    #[test]
    fn the_past_is_the_same_whatever_range_is_asked_and_ends_where_the_walk_starts() {
        let wed = Date::from_ymd(2026, 12, 2);
        let m = market_at(wed.at_et(11, 0) + 20_000);
        let u = m.underlying("AAPL").unwrap();
        assert_eq!(u.live_from, wed.at_et(11, 0));
        let all = u.minute_bars(9, wed.add_days(-1).at_et(0, 0), wed.at_et(10, 59), true);
        // Tuesday 04:00–20:00 (960 minutes) and Wednesday 04:00–10:59 (420).
        assert_eq!(all.len(), 960 + 420);
        let last = all.last().unwrap();
        assert_eq!(
            (last.t, last.c),
            (wed.at_et(10, 59), round_to(u.live_open, 2))
        );
        let part = u.minute_bars(9, wed.at_et(9, 30), wed.at_et(10, 0), false);
        assert_eq!(part.len(), 31);
        assert!(
            part.iter().all(|b| all.contains(b)),
            "same minutes, same bars"
        );
        assert!(all
            .windows(2)
            .all(|w| w[0].t < w[1].t && (w[0].c - w[1].o).abs() < 0.011));
        assert!(all
            .iter()
            .all(|b| b.h >= b.o.max(b.c) && b.l <= b.o.min(b.c) && b.v >= 0.0));
    }

    #[test]
    fn steps_record_the_minute_and_fill_skipped_minutes() {
        let wed = Date::from_ymd(2026, 12, 2);
        let start = wed.at_et(11, 0) + 20_000;
        let mut m = market_at(start);
        let mut rng = StdRng::seed_from_u64(1);
        m.step(&mut rng, start + 10_000);
        m.step(&mut rng, start + 20_000);
        let u = m.underlying("SPY").unwrap();
        assert_eq!(u.bars.len(), 1);
        let b = *u.bars.back().unwrap();
        assert_eq!((b.t, b.o, b.c), (wed.at_et(11, 0), u.live_open, u.last));
        // Five minutes later in one jump: 11:01–11:04 filled, 11:05 opened; the bars chain close to open.
        m.step(&mut rng, wed.at_et(11, 5) + 1_000);
        let u = m.underlying("SPY").unwrap();
        let times: Vec<i64> = u.bars.iter().map(|b| b.t).collect();
        assert_eq!(times, (0..6).map(|i| wed.at_et(11, i)).collect::<Vec<_>>());
        assert!(u
            .bars
            .iter()
            .zip(u.bars.iter().skip(1))
            .all(|(a, b)| a.c == b.o));
        assert_eq!(u.bars.back().unwrap().c, u.last);
        let done: Vec<i64> = u
            .completed_bars(wed.at_et(11, 1), m.now_ms)
            .map(|b| b.t)
            .collect();
        assert_eq!(done, (2..5).map(|i| wed.at_et(11, i)).collect::<Vec<_>>());
        assert_eq!(u.last_completed(m.now_ms), wed.at_et(11, 4));
        // Served from the record after the walk started, the past before it.
        let served = u.minute_bars(9, wed.at_et(10, 58), wed.at_et(11, 5), false);
        assert_eq!(served.len(), 8);
        assert_eq!(
            &served[2..],
            u.bars.iter().copied().collect::<Vec<_>>().as_slice()
        );
        // The clock jumps past the close: the session's last minutes are closed out flat, then nothing more.
        let c = m.underlying("SPY").unwrap().last;
        m.step(&mut rng, wed.at_et(16, 30));
        let u = m.underlying("SPY").unwrap();
        let last = *u.bars.back().unwrap();
        assert_eq!((last.t, last.o, last.c), (wed.at_et(15, 59), c, c));
        assert_eq!(u.bars.len(), 6 + 294);
        m.step(&mut rng, wed.at_et(16, 31));
        assert_eq!(m.underlying("SPY").unwrap().bars.len(), 300);
    }
}
