//! The chart's geometry, pure: which bars are in view (pan, zoom, following the live edge), where each pane sits, how
//! bar indexes and values map to pixels, and the axis ticks. The component (`components::chart`) only draws what
//! this computes, so all of it is tested natively.

/// Fewest bars a zoom shows.
pub const MIN_SPAN: f64 = 10.0;
/// Bars in view when the chart opens or is reset.
pub const DEFAULT_SPAN: f64 = 120.0;
/// Empty bar slots right of the live bar while following it, so the live candle is not under the axis.
pub const EDGE: f64 = 3.0;

/// Which bars are in view: `span` bar slots, ending at `end` (a bar index, fractional while panning), or at the
/// live edge when `end` is `None` — then a new bar scrolls the chart by itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Viewport {
    pub span: f64,
    pub end: Option<f64>,
}

impl Default for Viewport {
    fn default() -> Self {
        Viewport {
            span: DEFAULT_SPAN,
            end: None,
        }
    }
}

impl Viewport {
    /// `[start, end)` in bar slots for `n` bars.
    pub fn range(&self, n: usize) -> (f64, f64) {
        let live = n as f64 + EDGE;
        let end = self.end.map_or(live, |e| e.min(live));
        (end - self.span, end)
    }

    /// Zooms by `factor` (> 1 shows more bars) keeping the bar at `at` (0 = left edge, 1 = right) where it is; while
    /// following, the live edge stays put instead.
    pub fn zoom(&mut self, n: usize, factor: f64, at: f64) {
        let (start, _) = self.range(n);
        let anchor = start + at * self.span;
        let max = (n as f64 + EDGE).max(MIN_SPAN);
        let span = within(self.span * factor, MIN_SPAN, max);
        self.span = span;
        if self.end.is_some() {
            self.set_end(n, anchor + (1.0 - at) * span);
        }
    }

    /// Moves the view `bars` slots to the left (negative: to the right). Panning back to the live edge follows it
    /// again.
    pub fn pan(&mut self, n: usize, bars: f64) {
        let (_, end) = self.range(n);
        self.set_end(n, end - bars);
    }

    fn set_end(&mut self, n: usize, end: f64) {
        let live = n as f64 + EDGE;
        self.end = if end >= live - 0.5 {
            None
        } else {
            Some(end.max(self.span.min(live)))
        };
    }

    /// Back to the opening view: the default zoom, following the live bar.
    pub fn reset(&mut self) {
        *self = Viewport::default();
    }
}

/// `x` limited to `lo..=hi`. Not `f64::clamp`: its panic message would link f64's Debug formatting into the bundle.
pub fn within(x: f64, lo: f64, hi: f64) -> f64 {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

/// A horizontal band of the canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pane {
    pub top: f64,
    pub h: f64,
}

impl Pane {
    pub fn bottom(&self) -> f64 {
        self.top + self.h
    }
}

/// Width of the price axis at the right.
pub const AXIS_W: f64 = 64.0;
/// Height of the time axis at the bottom.
pub const TIME_H: f64 = 18.0;

/// Where everything goes on a canvas of `w` × `h` CSS pixels: candles over volume, then the RSI and MACD panes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    pub w: f64,
    pub h: f64,
    pub plot_w: f64,
    pub price: Pane,
    pub volume: Pane,
    pub rsi: Pane,
    pub macd: Pane,
}

impl Layout {
    pub fn new(w: f64, h: f64) -> Layout {
        let body = (h - TIME_H).max(40.0);
        let at = |from: f64, to: f64| Pane {
            top: (body * from).round(),
            h: (body * (to - from)).round(),
        };
        Layout {
            w,
            h,
            plot_w: (w - AXIS_W).max(10.0),
            price: at(0.0, 0.56),
            volume: at(0.56, 0.68),
            rsi: at(0.68, 0.84),
            macd: at(0.84, 1.0),
        }
    }
}

/// Bar slots to pixels, for the bars `[start, start + span)` across `plot_w` pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct XScale {
    pub start: f64,
    pub span: f64,
    pub plot_w: f64,
}

impl XScale {
    /// The centre of bar `i`.
    pub fn x(&self, i: usize) -> f64 {
        (i as f64 + 0.5 - self.start) / self.span * self.plot_w
    }

    /// Pixels per bar slot.
    pub fn slot(&self) -> f64 {
        self.plot_w / self.span
    }

    /// The bar under `x`, if one of the `n` is there.
    pub fn index_at(&self, x: f64, n: usize) -> Option<usize> {
        let i = (self.start + x / self.plot_w * self.span).floor();
        (i >= 0.0 && i < n as f64).then_some(i as usize)
    }

    /// The bars whose centre is in view, of `n`.
    pub fn inside(&self, n: usize) -> std::ops::Range<usize> {
        let a = (self.start - 0.5).ceil().max(0.0) as usize;
        let b = ((self.start + self.span - 0.5).ceil().max(0.0) as usize).min(n);
        a.min(b)..b
    }

    /// The bars at least partly in view, of `n`.
    pub fn visible(&self, n: usize) -> std::ops::Range<usize> {
        let a = self.start.floor().max(0.0) as usize;
        let b = ((self.start + self.span).ceil().max(0.0) as usize).min(n);
        a.min(b)..b
    }
}

/// Values to pixels in a pane: `hi` at its top, `lo` at its bottom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YScale {
    pub lo: f64,
    pub hi: f64,
    pub pane: Pane,
}

impl YScale {
    /// A scale fitting `values` (NaNs ignored) with a margin of `pad` of the range at each end; a flat or empty
    /// series still gets a usable range.
    pub fn fit(values: impl Iterator<Item = f64>, pad: f64, pane: Pane) -> YScale {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if lo > hi {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo < 1e-9 {
            let d = (hi.abs() * 0.01).max(0.01);
            (lo, hi) = (lo - d, hi + d);
        }
        let m = (hi - lo) * pad;
        YScale {
            lo: lo - m,
            hi: hi + m,
            pane,
        }
    }

    pub fn y(&self, v: f64) -> f64 {
        self.pane.top + (self.hi - v) / (self.hi - self.lo) * self.pane.h
    }
}

/// Round values between `lo` and `hi` for axis labels, at most about `max` of them: steps of 1, 2, 2.5 or 5 × 10^k.
pub fn nice_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    if max == 0 || lo.is_nan() || hi.is_nan() || hi <= lo {
        return Vec::new();
    }
    let raw = (hi - lo) / max as f64;
    if !raw.is_finite() {
        return Vec::new();
    }
    // The power of ten at or below `raw`, by steps (no `powf`/`log10`: they would link libm into the bundle).
    let mut mag = 1.0;
    while mag > raw {
        mag /= 10.0;
    }
    while mag * 10.0 <= raw {
        mag *= 10.0;
    }
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// How many decimals a tick step needs (0.25 → 2, 5 → 0).
pub fn decimals_for(step: f64) -> usize {
    let mut scaled = step;
    for d in 0..6 {
        if (scaled - scaled.round()).abs() < 1e-6 {
            return d;
        }
        scaled *= 10.0;
    }
    6
}

/// The time-axis step for bars of `bar_min` minutes drawn `slot` pixels apart: the first round step (in minutes)
/// leaving at least `min_px` between two labels.
pub fn time_step_min(bar_min: i64, slot: f64, min_px: f64) -> i64 {
    const STEPS: [i64; 12] = [1, 5, 15, 30, 60, 120, 240, 480, 1440, 2880, 10080, 43200];
    STEPS
        .into_iter()
        .filter(|s| *s >= bar_min)
        .find(|s| (*s / bar_min) as f64 * slot >= min_px)
        .unwrap_or(43200)
}

/// Whether a time label goes at the bar starting at `t` after the bar at `prev`: it is the first bar of a new
/// `step_min` period (so a label still lands after a gap, such as the overnight one).
pub fn labels_at(prev: Option<i64>, t: i64, step_min: i64) -> bool {
    let step = step_min * 60_000;
    prev.is_none_or(|p| p.div_euclid(step) != t.div_euclid(step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_follows_the_live_edge_until_panned_and_follows_again_when_panned_back() {
        let mut v = Viewport::default();
        assert_eq!(v.range(1000), (1003.0 - DEFAULT_SPAN, 1003.0));
        // A new bar moves a following view.
        assert_eq!(v.range(1001).1, 1004.0);
        v.pan(1001, 50.0);
        assert_eq!(v.end, Some(954.0));
        // Panned away: a new bar does not move it.
        assert_eq!(v.range(1002), (954.0 - DEFAULT_SPAN, 954.0));
        // Not past the first bar.
        v.pan(1002, 5000.0);
        assert_eq!(v.range(1002).0, 0.0);
        // Back to the right: following again.
        v.pan(1002, -5000.0);
        assert_eq!(v.end, None);
        v.pan(1002, 10.0);
        v.reset();
        assert_eq!(v, Viewport::default());
    }

    #[test]
    fn zoom_keeps_the_bar_under_the_pointer_and_stays_within_bounds() {
        let mut v = Viewport {
            span: 100.0,
            end: Some(500.0),
        };
        // The bar at 30% of the width is 430; zooming in 2x keeps it at 30%.
        v.zoom(1000, 0.5, 0.3);
        let (s, e) = v.range(1000);
        assert_eq!(e - s, 50.0);
        assert!((s + 0.3 * 50.0 - 430.0).abs() < 1e-9, "{s}");
        v.zoom(1000, 0.01, 0.5);
        assert_eq!(v.span, MIN_SPAN);
        v.zoom(1000, 1000.0, 0.5);
        assert_eq!(v.span, 1003.0, "at most every bar");
        // Following, zoom keeps the live edge.
        let mut f = Viewport::default();
        f.zoom(2000, 8.0, 0.2);
        assert_eq!((f.span, f.range(2000).1), (960.0, 2003.0));
    }

    #[test]
    fn pixels_map_to_the_bar_drawn_there() {
        let x = XScale {
            start: 10.0,
            span: 20.0,
            plot_w: 200.0,
        };
        assert_eq!(x.slot(), 10.0);
        assert_eq!(x.x(10), 5.0);
        assert_eq!(x.index_at(5.0, 100), Some(10));
        assert_eq!(x.index_at(x.x(25), 100), Some(25));
        assert_eq!(x.index_at(199.0, 100), Some(29));
        assert_eq!(x.index_at(199.0, 25), None, "past the last bar");
        assert_eq!(x.visible(100), 10..30);
        let half = XScale { start: 10.6, ..x };
        assert_eq!(half.visible(100), 10..31);
        assert_eq!(half.inside(100), 11..31, "the centre 10.5 is left of 10.6");
        assert!(half.x(11) >= 0.0 && half.x(30) <= half.plot_w && half.x(31) > half.plot_w);
        assert_eq!(x.visible(25), 10..25);
        let y = YScale::fit(
            [10.0, 20.0, f64::NAN].into_iter(),
            0.0,
            Pane {
                top: 100.0,
                h: 50.0,
            },
        );
        assert_eq!((y.y(20.0), y.y(10.0), y.y(15.0)), (100.0, 150.0, 125.0));
        let flat = YScale::fit([5.0].into_iter(), 0.0, Pane { top: 0.0, h: 10.0 });
        assert!(flat.lo < 5.0 && flat.hi > 5.0);
        let l = Layout::new(800.0, 518.0);
        assert_eq!(l.plot_w, 736.0);
        assert_eq!(l.price.bottom(), l.volume.top);
        assert!(l.macd.bottom() <= 500.0 + 0.5);
    }

    #[test]
    fn ticks_are_round_and_time_labels_land_on_round_periods() {
        assert_eq!(nice_ticks(221.03, 222.4, 5), vec![221.5, 222.0]);
        assert_eq!(
            nice_ticks(0.0, 100.0, 4),
            vec![0.0, 25.0, 50.0, 75.0, 100.0]
        );
        assert!(nice_ticks(1.0, 1.0, 4).is_empty());
        assert!(nice_ticks(0.0, f64::INFINITY, 4).is_empty());
        assert_eq!(nice_ticks(0.001, 0.0042, 3), vec![0.002, 0.004]);
        assert_eq!(
            (decimals_for(0.25), decimals_for(5.0), decimals_for(0.1)),
            (2, 0, 1)
        );
        // 1-minute bars 6 px apart: labels every 15 minutes (90 px); 1-hour bars 6 px apart: every 1440 minutes.
        assert_eq!(time_step_min(1, 6.0, 80.0), 15);
        assert_eq!(time_step_min(60, 6.0, 80.0), 1440);
        let t = 1_765_288_800_000; // a round hour
        assert!(labels_at(None, t, 60));
        assert!(labels_at(Some(t - 60_000), t, 60));
        assert!(!labels_at(Some(t), t + 60_000, 60));
        assert!(
            labels_at(Some(t - 3 * 3_600_000), t + 120_000, 60),
            "after a gap"
        );
    }
}
