//! The single indicators, each incremental with the same two calls:
//!
//! - `push(x)`: a new bar; returns the indicator's value at it.
//! - `update_last(x)`: the last bar again with new values (the live minute ticking); returns the value at it.
//!
//! Each keeps its state *as of the bar before the last* next to the state after it, so an update recomputes just
//! the last step from the former: O(1), and exactly what recomputing from scratch would give (the tests check
//! that for every indicator). `update_last` before any `push` behaves as `push`.
//!
//! Values are `None` until the indicator has seen enough bars to be defined. Seeds follow StockCharts'
//! ChartSchool: an EMA or a Wilder average starts at the simple average of its first N inputs.

use crate::Bar;
use std::collections::VecDeque;

/// The state before and after the last input of an indicator whose state is small and `Copy`: `push` moves
/// "after" to "before" and steps once; `update_last` steps again from "before".
#[derive(Clone, Copy, Debug)]
struct Incremental<S> {
    before_last: S,
    after_last: S,
}

impl<S: Copy> Incremental<S> {
    fn new(initial: S) -> Self {
        Self {
            before_last: initial,
            after_last: initial,
        }
    }

    fn push<I, O>(&mut self, input: I, step: impl Fn(S, I) -> (S, O)) -> O {
        self.before_last = self.after_last;
        self.update_last(input, step)
    }

    fn update_last<I, O>(&mut self, input: I, step: impl Fn(S, I) -> (S, O)) -> O {
        let (state, out) = step(self.before_last, input);
        self.after_last = state;
        out
    }
}

/// The last `n` inputs for the windowed indicators (SMA, Bollinger): the `n - 1` before the last, kept, and the
/// last one, replaceable. The statistics are computed over the window each time rather than from running sums:
/// `n` is a small constant (20), so it is still O(1) per bar, and a running sum of squares would lose the variance
/// to cancellation on prices like Bitcoin's (x² ≈ 10⁹ against a variance of a few units).
#[derive(Clone, Debug)]
struct Window {
    n: usize,
    before_last: VecDeque<f64>,
    last: Option<f64>,
}

impl Window {
    fn new(n: usize) -> Self {
        assert!(n > 0, "a window needs at least one input");
        Self {
            n,
            before_last: VecDeque::with_capacity(n),
            last: None,
        }
    }

    fn push(&mut self, x: f64) {
        if let Some(last) = self.last.take() {
            if self.before_last.len() == self.n - 1 {
                self.before_last.pop_front();
            }
            if self.n > 1 {
                self.before_last.push_back(last);
            }
        }
        self.last = Some(x);
    }

    fn update_last(&mut self, x: f64) {
        self.last = Some(x);
    }

    /// The full window, oldest first; `None` until `n` inputs were seen.
    fn full(&self) -> Option<impl Iterator<Item = f64> + '_> {
        let last = self.last?;
        (self.before_last.len() == self.n - 1).then(|| {
            self.before_last
                .iter()
                .copied()
                .chain(std::iter::once(last))
        })
    }

    fn mean(&self) -> Option<f64> {
        Some(self.full()?.sum::<f64>() / self.n as f64)
    }
}

/// Simple moving average of the last `n` inputs.
#[derive(Clone, Debug)]
pub struct Sma {
    window: Window,
}

impl Sma {
    #[must_use]
    pub fn new(n: usize) -> Self {
        Self {
            window: Window::new(n),
        }
    }

    pub fn push(&mut self, x: f64) -> Option<f64> {
        self.window.push(x);
        self.window.mean()
    }

    pub fn update_last(&mut self, x: f64) -> Option<f64> {
        self.window.update_last(x);
        self.window.mean()
    }
}

/// An EMA's state: summing its first `n` inputs for the seed, then running.
#[derive(Clone, Copy, Debug)]
enum EmaState {
    Seeding { count: usize, sum: f64 },
    Running(f64),
}

/// One step of an average seeded with the SMA of its first `n` inputs, then `avg += k · (x − avg)`: `k = 2/(n+1)`
/// for an EMA, `1/n` for Wilder's smoothing (RSI, ATR).
fn smooth(state: EmaState, x: f64, n: usize, k: f64) -> (EmaState, Option<f64>) {
    match state {
        EmaState::Seeding { count, sum } if count + 1 < n => (
            EmaState::Seeding {
                count: count + 1,
                sum: sum + x,
            },
            None,
        ),
        EmaState::Seeding { sum, .. } => {
            let seed = (sum + x) / n as f64;
            (EmaState::Running(seed), Some(seed))
        }
        EmaState::Running(avg) => {
            let next = avg + k * (x - avg);
            (EmaState::Running(next), Some(next))
        }
    }
}

/// Exponential moving average, `k = 2/(n+1)`, seeded with the SMA of the first `n` inputs (as StockCharts does:
/// seeding with the first input instead makes the first few dozen values depend on one arbitrary bar).
#[derive(Clone, Copy, Debug)]
pub struct Ema {
    n: usize,
    state: Incremental<EmaState>,
}

impl Ema {
    #[must_use]
    pub fn new(n: usize) -> Self {
        assert!(n > 0, "an EMA needs a period of at least 1");
        Self {
            n,
            state: Incremental::new(EmaState::Seeding { count: 0, sum: 0.0 }),
        }
    }

    fn k(&self) -> f64 {
        2.0 / (self.n as f64 + 1.0)
    }

    pub fn push(&mut self, x: f64) -> Option<f64> {
        let (n, k) = (self.n, self.k());
        self.state.push(x, |s, x| smooth(s, x, n, k))
    }

    pub fn update_last(&mut self, x: f64) -> Option<f64> {
        let (n, k) = (self.n, self.k());
        self.state.update_last(x, |s, x| smooth(s, x, n, k))
    }
}

/// Bollinger Bands at one bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bands {
    pub mid: f64,
    pub upper: f64,
    pub lower: f64,
    /// Where the close sits in the bands, 0 at the lower, 1 at the upper; `None` when the bands have no width
    /// (`n` equal closes), where it is undefined.
    pub pct_b: Option<f64>,
}

/// Bollinger Bands: the SMA of `n` closes ± `k` population standard deviations of the same closes (StockCharts
/// and Bollinger himself use the population form, dividing by `n`, not `n − 1`).
#[derive(Clone, Debug)]
pub struct Bollinger {
    k: f64,
    window: Window,
}

impl Bollinger {
    #[must_use]
    pub fn new(n: usize, k: f64) -> Self {
        Self {
            k,
            window: Window::new(n),
        }
    }

    pub fn push(&mut self, close: f64) -> Option<Bands> {
        self.window.push(close);
        self.bands(close)
    }

    pub fn update_last(&mut self, close: f64) -> Option<Bands> {
        self.window.update_last(close);
        self.bands(close)
    }

    fn bands(&self, close: f64) -> Option<Bands> {
        let mid = self.window.mean()?;
        let n = self.window.n as f64;
        let var = self
            .window
            .full()?
            .map(|x| (x - mid) * (x - mid))
            .sum::<f64>()
            / n;
        let width = self.k * var.sqrt();
        let (upper, lower) = (mid + width, mid - width);
        Some(Bands {
            mid,
            upper,
            lower,
            // A flat window has no band to place the close in. Its variance is rarely exactly 0 (the mean of 20
            // equal closes such as 100.1 is not exactly 100.1), so "flat" is a width below rounding noise.
            pct_b: (width > mid.abs() * 1e-12).then(|| (close - lower) / (upper - lower)),
        })
    }
}

#[derive(Clone, Copy, Debug)]
struct RsiState {
    prev_close: Option<f64>,
    gain: EmaState,
    loss: EmaState,
}

/// Wilder's Relative Strength Index over `n` changes of the close: average gain and loss seeded with the simple
/// average of the first `n` changes, then smoothed with `1/n`; RSI = 100 − 100/(1 + gain/loss). The first value is
/// at the `n+1`-th close (`n` changes need `n+1` closes).
#[derive(Clone, Copy, Debug)]
pub struct Rsi {
    n: usize,
    state: Incremental<RsiState>,
}

impl Rsi {
    #[must_use]
    pub fn new(n: usize) -> Self {
        assert!(n > 0, "an RSI needs a period of at least 1");
        let seeding = EmaState::Seeding { count: 0, sum: 0.0 };
        Self {
            n,
            state: Incremental::new(RsiState {
                prev_close: None,
                gain: seeding,
                loss: seeding,
            }),
        }
    }

    fn step(n: usize, s: RsiState, close: f64) -> (RsiState, Option<f64>) {
        let Some(prev) = s.prev_close else {
            return (
                RsiState {
                    prev_close: Some(close),
                    ..s
                },
                None,
            );
        };
        let change = close - prev;
        let k = 1.0 / n as f64;
        let (gain, avg_gain) = smooth(s.gain, change.max(0.0), n, k);
        let (loss, avg_loss) = smooth(s.loss, (-change).max(0.0), n, k);
        let rsi = avg_gain.zip(avg_loss).map(|(g, l)| match (g, l) {
            // No move at all over the period: neither side is stronger.
            (0.0, 0.0) => 50.0,
            (_, 0.0) => 100.0,
            _ => 100.0 - 100.0 / (1.0 + g / l),
        });
        let next = RsiState {
            prev_close: Some(close),
            gain,
            loss,
        };
        (next, rsi)
    }

    pub fn push(&mut self, close: f64) -> Option<f64> {
        let n = self.n;
        self.state.push(close, |s, c| Self::step(n, s, c))
    }

    pub fn update_last(&mut self, close: f64) -> Option<f64> {
        let n = self.n;
        self.state.update_last(close, |s, c| Self::step(n, s, c))
    }
}

/// MACD at one bar: the line, and its signal once the line has `signal` values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MacdValue {
    pub macd: f64,
    pub signal: Option<f64>,
}

impl MacdValue {
    /// The histogram, line − signal.
    #[must_use]
    pub fn hist(&self) -> Option<f64> {
        self.signal.map(|s| self.macd - s)
    }
}

/// MACD (fast, slow, signal): EMA(fast) − EMA(slow) of the close, and the EMA(signal) of that line, every EMA
/// seeded with the SMA of its first N inputs as StockCharts does. The line starts at the `slow`-th close, the
/// signal `signal − 1` closes later.
#[derive(Clone, Copy, Debug)]
pub struct Macd {
    fast: Ema,
    slow: Ema,
    signal: Ema,
}

impl Macd {
    #[must_use]
    pub fn new(fast: usize, slow: usize, signal: usize) -> Self {
        Self {
            fast: Ema::new(fast),
            slow: Ema::new(slow),
            signal: Ema::new(signal),
        }
    }

    pub fn push(&mut self, close: f64) -> Option<MacdValue> {
        let (fast, slow) = (self.fast.push(close), self.slow.push(close));
        let line = fast.zip(slow).map(|(f, s)| f - s);
        // Whether the line is defined depends only on how many closes were seen, never on their values, so the
        // signal's pushes and updates pair up exactly with the line's.
        self.with_signal(line, true)
    }

    pub fn update_last(&mut self, close: f64) -> Option<MacdValue> {
        let (fast, slow) = (self.fast.update_last(close), self.slow.update_last(close));
        let line = fast.zip(slow).map(|(f, s)| f - s);
        self.with_signal(line, false)
    }

    fn with_signal(&mut self, line: Option<f64>, push: bool) -> Option<MacdValue> {
        let macd = line?;
        let signal = if push {
            self.signal.push(macd)
        } else {
            self.signal.update_last(macd)
        };
        Some(MacdValue { macd, signal })
    }
}

#[derive(Clone, Copy, Debug)]
struct AtrState {
    prev_close: Option<f64>,
    avg: EmaState,
}

/// Average True Range, Wilder: the true range is the widest of high − low, |high − previous close| and
/// |low − previous close| (just high − low on the first bar, which has no previous close); the average is
/// seeded with the mean of the first `n` true ranges, then smoothed with `1/n`.
#[derive(Clone, Copy, Debug)]
pub struct Atr {
    n: usize,
    state: Incremental<AtrState>,
}

impl Atr {
    #[must_use]
    pub fn new(n: usize) -> Self {
        assert!(n > 0, "an ATR needs a period of at least 1");
        Self {
            n,
            state: Incremental::new(AtrState {
                prev_close: None,
                avg: EmaState::Seeding { count: 0, sum: 0.0 },
            }),
        }
    }

    fn step(n: usize, s: AtrState, bar: &Bar) -> (AtrState, Option<f64>) {
        let tr = match s.prev_close {
            Some(pc) => (bar.h - bar.l)
                .max((bar.h - pc).abs())
                .max((bar.l - pc).abs()),
            None => bar.h - bar.l,
        };
        let (avg, atr) = smooth(s.avg, tr, n, 1.0 / n as f64);
        let next = AtrState {
            prev_close: Some(bar.c),
            avg,
        };
        (next, atr)
    }

    pub fn push(&mut self, bar: &Bar) -> Option<f64> {
        let n = self.n;
        self.state.push(bar, |s, b| Self::step(n, s, b))
    }

    pub fn update_last(&mut self, bar: &Bar) -> Option<f64> {
        let n = self.n;
        self.state.update_last(bar, |s, b| Self::step(n, s, b))
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct VwapState {
    price_volume: f64,
    volume: f64,
}

/// Volume-weighted average price over the session: Σ(typical price × volume) / Σ volume, with the typical price
/// (high + low + close) / 3 as StockCharts uses for bars. `None` while the session has traded no volume (an
/// index such as `$SPX` has none at all, and a VWAP of nothing is not a price).
#[derive(Clone, Copy, Debug)]
pub struct Vwap {
    state: Incremental<VwapState>,
}

impl Default for Vwap {
    fn default() -> Self {
        Self::new()
    }
}

impl Vwap {
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: Incremental::new(VwapState::default()),
        }
    }

    fn step(s: VwapState, (bar, new_session): (&Bar, bool)) -> (VwapState, Option<f64>) {
        let s = if new_session { VwapState::default() } else { s };
        let typical = (bar.h + bar.l + bar.c) / 3.0;
        let next = VwapState {
            price_volume: s.price_volume + typical * bar.v,
            volume: s.volume + bar.v,
        };
        let vwap = (next.volume > 0.0).then(|| next.price_volume / next.volume);
        (next, vwap)
    }

    /// A new bar; `new_session`: the average restarts at it.
    pub fn push(&mut self, bar: &Bar, new_session: bool) -> Option<f64> {
        self.state.push((bar, new_session), Self::step)
    }

    pub fn update_last(&mut self, bar: &Bar, new_session: bool) -> Option<f64> {
        self.state.update_last((bar, new_session), Self::step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_window_has_no_percent_b_even_when_its_mean_is_not_exact() {
        for price in [100.1, 221.13, 97_123.45, 0.7] {
            let mut b = Bollinger::new(20, 2.0);
            let mut last = None;
            for _ in 0..20 {
                last = b.push(price);
            }
            let bands = last.expect("20 closes fill the window");
            assert_eq!(bands.pct_b, None, "{price}: {bands:?}");
            assert!((bands.mid - price).abs() < 1e-9);
        }
        let mut b = Bollinger::new(3, 2.0);
        b.push(1.0);
        b.push(2.0);
        assert!(
            b.push(3.0).and_then(|x| x.pct_b).is_some(),
            "a moving window still has one"
        );
    }
}
