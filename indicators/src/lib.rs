//! Technical indicators for the Chart tab, computed as bars arrive.
//!
//! The relay streams 1-minute bars (a `bars:{SYMBOL}` topic, [`Bar`]); the current minute's bar is rewritten in
//! place many times a second. So everything here is *incremental*: a new bar, or the last bar again with new
//! values, costs O(1) — never a pass over the whole history — which keeps a chart of a full session live in the
//! browser on every tick.
//!
//! # Layout
//! - [`aggregate`]: [`Timeframe`] and [`Aggregator`], 1-minute bars into 5m/15m/1h buckets.
//! - [`indicator`]: the single indicators ([`Sma`], [`Ema`], [`Bollinger`], [`Rsi`], [`Macd`], [`Atr`], [`Vwap`]),
//!   each with `push` (a new bar) and `update_last` (the last bar again, changed).
//! - [`Study`]: all of them over one series, one [`Point`] per bar — what the chart and the panel draw.
//!
//! Parameters follow StockCharts' ChartSchool definitions (the reference most traders check numbers against):
//! EMAs and Wilder averages are seeded with the simple average of their first N inputs, Bollinger uses the
//! population standard deviation. The tests check them against ChartSchool's published worked examples.

pub mod aggregate;
pub mod indicator;

pub use aggregate::{Aggregator, Timeframe};
pub use indicator::{Atr, Bands, Bollinger, Ema, Macd, MacdValue, Rsi, Sma, Vwap};
pub use tickdesk_wire::bars::Bar;

/// Everything the chart and the panel draw for one bar. An indicator is `None` until it has seen enough bars
/// (SMA 20 from the 20th bar, MACD's signal from the 34th, …), so the chart starts each line where it is defined
/// instead of drawing a warm-up that means nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub bar: Bar,
    pub sma20: Option<f64>,
    pub ema9: Option<f64>,
    pub ema21: Option<f64>,
    pub vwap: Option<f64>,
    pub bb_mid: Option<f64>,
    pub bb_upper: Option<f64>,
    pub bb_lower: Option<f64>,
    pub bb_pct_b: Option<f64>,
    pub rsi: Option<f64>,
    pub macd: Option<f64>,
    pub macd_signal: Option<f64>,
    pub macd_hist: Option<f64>,
    pub atr: Option<f64>,
}

/// All the indicators of one series, incremental: pushing a new bar or the last bar again (same `t`, updated)
/// costs O(1) — each indicator keeps its state as of the bar before the last, so an update recomputes only the
/// last.
#[derive(Clone, Debug)]
pub struct Study {
    sma20: Sma,
    ema9: Ema,
    ema21: Ema,
    vwap: Vwap,
    bollinger: Bollinger,
    rsi: Rsi,
    macd: Macd,
    atr: Atr,
    points: Vec<Point>,
}

impl Default for Study {
    fn default() -> Self {
        Self::new()
    }
}

impl Study {
    /// The chart's standard set: SMA 20, EMA 9 and 21, session VWAP, Bollinger (20, 2), RSI 14, MACD (12, 26, 9),
    /// ATR 14.
    #[must_use]
    pub fn new() -> Self {
        Self {
            sma20: Sma::new(20),
            ema9: Ema::new(9),
            ema21: Ema::new(21),
            vwap: Vwap::new(),
            bollinger: Bollinger::new(20, 2.0),
            rsi: Rsi::new(14),
            macd: Macd::new(12, 26, 9),
            atr: Atr::new(14),
            points: Vec::new(),
        }
    }

    /// Adds `bar`: a new bar when its `t` is after the last one, the last bar again (updated in place) when its `t`
    /// is the same. `new_session`: VWAP restarts at this bar (the caller decides: the crate knows no time zones).
    ///
    /// A bar older than the last cannot be placed without recomputing everything after it; it is ignored and the
    /// last point returned (a caller that gets history late builds a new `Study` from the whole series).
    pub fn push(&mut self, bar: Bar, new_session: bool) -> Point {
        let update = match self.points.last() {
            Some(last) if bar.t < last.bar.t => return *last,
            Some(last) => bar.t == last.bar.t,
            None => false,
        };
        let point = if update {
            self.compute(bar, new_session, true)
        } else {
            self.compute(bar, new_session, false)
        };
        if update {
            *self.points.last_mut().expect("an update has a last point") = point;
        } else {
            self.points.push(point);
        }
        point
    }

    fn compute(&mut self, bar: Bar, new_session: bool, update: bool) -> Point {
        let (sma20, ema9, ema21, vwap, bands, rsi, macd, atr) = if update {
            (
                self.sma20.update_last(bar.c),
                self.ema9.update_last(bar.c),
                self.ema21.update_last(bar.c),
                self.vwap.update_last(&bar, new_session),
                self.bollinger.update_last(bar.c),
                self.rsi.update_last(bar.c),
                self.macd.update_last(bar.c),
                self.atr.update_last(&bar),
            )
        } else {
            (
                self.sma20.push(bar.c),
                self.ema9.push(bar.c),
                self.ema21.push(bar.c),
                self.vwap.push(&bar, new_session),
                self.bollinger.push(bar.c),
                self.rsi.push(bar.c),
                self.macd.push(bar.c),
                self.atr.push(&bar),
            )
        };
        Point {
            bar,
            sma20,
            ema9,
            ema21,
            vwap,
            bb_mid: bands.map(|b| b.mid),
            bb_upper: bands.map(|b| b.upper),
            bb_lower: bands.map(|b| b.lower),
            bb_pct_b: bands.and_then(|b| b.pct_b),
            rsi,
            macd: macd.map(|m| m.macd),
            macd_signal: macd.and_then(|m| m.signal),
            macd_hist: macd.and_then(|m| m.signal.map(|s| m.macd - s)),
            atr,
        }
    }

    /// One point per bar pushed, oldest first.
    #[must_use]
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// The newest point.
    #[must_use]
    pub fn last(&self) -> Option<&Point> {
        self.points.last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(i: i64, c: f64) -> Bar {
        Bar {
            t: i * 60_000,
            o: c - 0.3,
            h: c + 0.7,
            l: c - 0.9,
            c,
            v: 100.0 + (i % 7) as f64 * 10.0,
        }
    }

    fn close(i: i64) -> f64 {
        100.0 + (i as f64 * 0.37).sin() * 4.0 + i as f64 * 0.05
    }

    #[test]
    fn updating_the_last_bar_in_place_gives_what_a_study_built_from_scratch_gives() {
        let mut live = Study::new();
        for i in 0..60 {
            let session = i == 0 || i == 30;
            // The minute's bar arrives three times, changing, before the next one starts.
            live.push(bar(i, close(i) - 1.0), session);
            live.push(bar(i, close(i) + 2.0), session);
            let p = live.push(bar(i, close(i)), session);
            let mut fresh = Study::new();
            let mut expected = None;
            for j in 0..=i {
                expected = Some(fresh.push(bar(j, close(j)), j == 0 || j == 30));
            }
            assert_eq!(Some(p), expected, "bar {i}");
        }
        assert_eq!(live.points().len(), 60);
        let last = live.last().unwrap();
        assert!(
            last.sma20.is_some()
                && last.macd_signal.is_some()
                && last.rsi.is_some()
                && last.atr.is_some()
        );
        assert_eq!(
            last.macd_hist,
            Some(last.macd.unwrap() - last.macd_signal.unwrap())
        );
    }

    #[test]
    fn warm_up_lengths_and_an_old_bar_is_ignored() {
        let mut s = Study::new();
        for i in 0..40 {
            let p = s.push(bar(i, close(i)), i == 0);
            assert_eq!(p.ema9.is_some(), i >= 8, "ema9 at {i}");
            assert_eq!(p.ema21.is_some(), i >= 20, "ema21 at {i}");
            assert_eq!(p.sma20.is_some(), i >= 19, "sma20 at {i}");
            assert_eq!(p.bb_upper.is_some(), i >= 19, "bb at {i}");
            assert_eq!(p.rsi.is_some(), i >= 14, "rsi at {i}");
            assert_eq!(p.atr.is_some(), i >= 13, "atr at {i}");
            assert_eq!(p.macd.is_some(), i >= 25, "macd at {i}");
            assert_eq!(p.macd_signal.is_some(), i >= 33, "signal at {i}");
            assert!(p.vwap.is_some());
        }
        let last = *s.last().unwrap();
        assert_eq!(s.push(bar(5, 1.0), false), last);
        assert_eq!(s.points().len(), 40);
    }
}
