//! The Chart tab's chart: candlesticks and volume of the underlying selected in the chain (the same signal), at
//! 1m/5m/15m/1h, with VWAP, EMA 9/21 and Bollinger overlays, RSI and MACD panes, and a crosshair whose bar is read
//! out (OHLCV and every indicator) above the chart. Wheel zooms, dragging pans, a double click goes back to following
//! the live bar.
//!
//! Drawn on one `<canvas>`, not in the DOM: 1,000 candles would be thousands of elements. What re-renders when:
//! - bars arriving (at most once per frame, see [`crate::feed::RawFrame`]) feed the [`Series`] incrementally and ask
//!   for a frame;
//! - the pointer, the wheel, a timeframe or overlay change ask for a frame;
//! - a frame draws once however many of those happened since the last one ([`request`]), and nothing is drawn when
//!   nothing changed.
//!
//! For tests and the benchmark the chart publishes what it drew in `window.__tickdesk.chart` (the last bar, the bar
//! read out, where the last candle is), and with `?perf` each draw's time in `__tickdeskPerf.chartDraw`.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Reflect};
use leptos::html;
use leptos::prelude::*;
use tickdesk_indicators::{Point, Timeframe};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, MouseEvent, WheelEvent};

use super::status::Panel;
use crate::bars::{is_crypto, BarsHandle, BarsHub, Series};
use crate::chart::{
    decimals_for, fixed, labels_at, nice_ticks, time_step_min, Layout, Pane, Viewport, XScale,
    YScale,
};
use crate::components::analytics::options;
use crate::components::chain::ChainState;
use crate::feed::FeedSignals;

/// Overlays, as bits of one signal.
const VWAP: u8 = 1;
const EMA: u8 = 2;
const BOLL: u8 = 4;
const OVERLAYS: [(u8, &str, &str); 3] = [
    (VWAP, "vwap", "VWAP"),
    (EMA, "ema", "EMA 9/21"),
    (BOLL, "bb", "Bollinger 20,2"),
];

const BG: &str = "#0f1419";
const GRID: &str = "#1e2733";
const TEXT: &str = "#7d8a99";
const UP: &str = "#2ecc71";
const DOWN: &str = "#ff5c5c";
const CROSS: &str = "#9fb0c3";
const C_VWAP: &str = "#f5b041";
const C_EMA9: &str = "#4aa3ff";
const C_EMA21: &str = "#c39bd3";
const C_BB: &str = "#5d6d7e";

/// What the chart draws from, outside the reactive graph: the pointer moves far more often than a signal should.
struct Ctl {
    symbol: Option<String>,
    handle: Option<BarsHandle>,
    series: Option<Series>,
    /// New bars arrived since the last draw.
    data: bool,
    view: Viewport,
    hover: Option<(f64, f64)>,
    drag: Option<f64>,
    overlays: u8,
    /// A frame is already requested.
    pending: bool,
    canvas: Option<HtmlCanvasElement>,
    readout: Option<web_sys::Element>,
    readout_text: String,
    /// `Intl.DateTimeFormat(...).format` for the symbol's market: New York time, or UTC for crypto.
    time_fmt: Option<Function>,
    perf: Option<Array>,
    hook: Object,
    /// Geometry of the last draw, for the pointer handlers.
    plot_w: f64,
    slot: f64,
}

type Shared = Rc<RefCell<Ctl>>;

/// A line to draw: the overlay bit that shows it (0: always), its colour, its pane's scale, its values.
type Line<'a> = (u8, &'static str, &'a YScale, fn(&Point) -> Option<f64>);

/// Asks for one frame; calls while one is pending add nothing.
fn request(ctl: &Shared) {
    if std::mem::replace(&mut ctl.borrow_mut().pending, true) {
        return;
    }
    let c = ctl.clone();
    let cb = Closure::once_into_js(move || {
        let mut k = c.borrow_mut();
        k.pending = false;
        draw(&mut k);
    });
    if let Some(w) = web_sys::window() {
        let _ = w.request_animation_frame(cb.unchecked_ref());
    }
}

fn time_format(crypto: bool) -> Option<Function> {
    let opts = Object::new();
    let tz = if crypto { "UTC" } else { "America/New_York" };
    for (k, v) in [
        ("timeZone", tz),
        ("month", "2-digit"),
        ("day", "2-digit"),
        ("hour", "2-digit"),
        ("minute", "2-digit"),
        ("hourCycle", "h23"),
    ] {
        Reflect::set(&opts, &k.into(), &v.into()).ok()?;
    }
    let locales = Array::of1(&"en-US".into());
    Some(js_sys::Intl::DateTimeFormat::new(&locales, &opts).format())
}

/// The Chart tab's chart panel.
#[component]
pub fn ChartView(
    hub: BarsHub,
    chain: ChainState,
    signals: FeedSignals,
    /// The tab is open: bars are watched only then.
    #[prop(into)]
    active: Signal<bool>,
    #[prop(into)] closed: Signal<Option<String>>,
) -> impl IntoView {
    let tf = RwSignal::new(Timeframe::M1);
    let overlays = RwSignal::new(VWAP | EMA);
    let canvas_ref = NodeRef::<html::Canvas>::new();
    let readout_ref = NodeRef::<html::Div>::new();
    let hook = Object::new();
    if let Some(w) = web_sys::window() {
        let root = Object::new();
        let _ = Reflect::set(&root, &"chart".into(), &hook);
        let _ = Reflect::set(&w, &"__tickdesk".into(), &root);
    }
    let ctl: Shared = Rc::new(RefCell::new(Ctl {
        symbol: None,
        handle: None,
        series: None,
        data: false,
        view: Viewport::default(),
        hover: None,
        drag: None,
        overlays: overlays.get_untracked(),
        pending: false,
        canvas: None,
        readout: None,
        readout_text: String::new(),
        time_fmt: None,
        perf: crate::perf::samples("chartDraw"),
        hook,
        plot_w: 1.0,
        slot: 1.0,
    }));
    let version = RwSignal::new(None::<ArcRwSignal<u64>>);

    // The symbol and timeframe: watch the symbol's bars while the tab is open, and start the series over.
    let c = ctl.clone();
    Effect::new(move |_| {
        let want = active.get().then(|| chain.selected.get()).flatten();
        let tf = tf.get();
        let mut k = c.borrow_mut();
        if k.symbol != want {
            if let Some(old) = k.symbol.take() {
                hub.release(&old);
            }
            k.handle = want.as_deref().map(|s| hub.acquire(s));
            version.set(k.handle.as_ref().map(|h| h.version.clone()));
            k.time_fmt = want.as_deref().and_then(|s| time_format(is_crypto(s)));
            k.symbol = want;
        }
        k.series = k.symbol.as_deref().map(|s| Series::new(tf, is_crypto(s)));
        k.data = true;
        k.view.reset();
        drop(k);
        request(&c);
    });
    // New bars: one frame.
    let c = ctl.clone();
    Effect::new(move |_| {
        version.with(|v| v.as_ref().map(|v| v.track()));
        c.borrow_mut().data = true;
        request(&c);
    });
    let c = ctl.clone();
    Effect::new(move |_| {
        c.borrow_mut().overlays = overlays.get();
        request(&c);
    });
    let c = ctl.clone();
    readout_ref.on_load(move |el| c.borrow_mut().readout = Some(el.into()));
    let c = ctl.clone();
    canvas_ref.on_load(move |canvas| {
        listen(&c, &canvas);
        c.borrow_mut().canvas = Some(canvas);
        request(&c);
    });

    let topic = Signal::derive(move || {
        chain
            .selected
            .get()
            .map(|s| crate::bars::topic(&s))
            .unwrap_or_default()
    });
    view! {
        <Panel title="Chart" topic=topic signals=signals stale_after_ms=90_000.0 closed=closed>
            <div class="chart-bar">
                <label>"Underlying "
                    <select id="chart-underlying" on:change=move |ev| chain.selected.set(Some(event_target_value(&ev)))
                        inner_html=move || options(chain.symbols.get().into_iter().map(|s| (s.clone(), s)), chain.selected.get())>
                    </select>
                </label>
                <span class="chart-tfs" role="group">
                    {Timeframe::ALL.into_iter().map(|t| view! {
                        <button type="button" data-tf=t.label() aria-pressed=move || (tf.get() == t).to_string()
                            on:click=move |_| tf.set(t)>{t.label()}</button>
                    }).collect_view()}
                </span>
                <span class="chart-overlays">
                    {OVERLAYS.into_iter().map(|(bit, id, label)| view! {
                        <label><input type="checkbox" data-overlay=id prop:checked=move || overlays.get() & bit != 0
                            on:change=move |_| overlays.update(|o| *o ^= bit) />{label}</label>
                    }).collect_view()}
                </span>
                <span class="keys-hint">"wheel zoom · drag pan · double-click follow live"</span>
            </div>
            <div id="chart-readout" class="chart-readout" node_ref=readout_ref></div>
            <canvas id="chart-canvas" class="chart-canvas" node_ref=canvas_ref></canvas>
        </Panel>
    }
}

/// Pointer and wheel handlers on the canvas, and the window's resize.
fn listen(ctl: &Shared, canvas: &HtmlCanvasElement) {
    fn on<E: JsCast + 'static>(
        target: &web_sys::EventTarget,
        name: &str,
        ctl: &Shared,
        f: impl Fn(&mut Ctl, E) + 'static,
    ) {
        let c = ctl.clone();
        let cb = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
            if let Ok(ev) = ev.dyn_into::<E>() {
                f(&mut c.borrow_mut(), ev);
                request(&c);
            }
        });
        let _ = target.add_event_listener_with_callback(name, cb.as_ref().unchecked_ref());
        cb.forget(); // The chart lives as long as the page.
    }
    let n = |k: &Ctl| k.series.as_ref().map_or(0, |s| s.points().len());
    on(canvas, "wheel", ctl, move |k, ev: WheelEvent| {
        ev.prevent_default();
        let factor = if ev.delta_y() > 0.0 { 1.15 } else { 1.0 / 1.15 };
        let at = (f64::from(ev.offset_x()) / k.plot_w).clamp(0.0, 1.0);
        let len = n(k);
        k.view.zoom(len, factor, at);
    });
    on(canvas, "mousedown", ctl, |k, ev: MouseEvent| {
        k.drag = Some(f64::from(ev.offset_x()));
    });
    on(canvas, "mousemove", ctl, move |k, ev: MouseEvent| {
        let (x, y) = (f64::from(ev.offset_x()), f64::from(ev.offset_y()));
        if let Some(from) = k.drag {
            let len = n(k);
            let slot = k.slot;
            k.view.pan(len, (x - from) / slot);
            k.drag = Some(x);
        }
        k.hover = Some((x, y));
    });
    on(canvas, "mouseup", ctl, |k, _: MouseEvent| k.drag = None);
    on(canvas, "mouseleave", ctl, |k, _: MouseEvent| {
        k.drag = None;
        k.hover = None;
    });
    on(canvas, "dblclick", ctl, |k, _: MouseEvent| k.view.reset());
    if let Some(w) = web_sys::window() {
        on(&w, "resize", ctl, |_, _: web_sys::Event| {});
    }
}

fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// One frame of the chart.
fn draw(k: &mut Ctl) {
    let Some(canvas) = k.canvas.clone() else {
        return;
    };
    let t0 = now();
    if std::mem::take(&mut k.data) {
        if let (Some(s), Some(h)) = (k.series.as_mut(), &k.handle) {
            s.sync(&h.bars.borrow());
        }
    }
    let series = k.series.take();
    paint(k, &canvas, series.as_ref(), t0);
    k.series = series;
}

fn paint(k: &mut Ctl, canvas: &HtmlCanvasElement, series: Option<&Series>, t0: f64) {
    let (w, h) = (
        f64::from(canvas.client_width()),
        f64::from(canvas.client_height()),
    );
    if w < 1.0 || h < 1.0 {
        return; // Hidden tab: drawn when shown.
    }
    let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
    let (pw, ph) = ((w * dpr).round() as u32, (h * dpr).round() as u32);
    if canvas.width() != pw || canvas.height() != ph {
        canvas.set_width(pw);
        canvas.set_height(ph);
    }
    let Some(ctx) = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
    else {
        return;
    };
    let _ = ctx.set_transform(dpr, 0.0, 0.0, dpr, 0.0, 0.0);
    ctx.set_fill_style_str(BG);
    ctx.fill_rect(0.0, 0.0, w, h);
    ctx.set_font("11px ui-sans-serif, system-ui, sans-serif");
    ctx.set_line_width(1.0);

    let layout = Layout::new(w, h);
    let pts: &[Point] = series.map_or(&[], |s| s.points());
    let tf = series.map_or(Timeframe::M1, Series::timeframe);
    let n = pts.len();
    let (start, end) = k.view.range(n);
    let xs = XScale {
        start,
        span: end - start,
        plot_w: layout.plot_w,
    };
    k.plot_w = layout.plot_w;
    k.slot = xs.slot();
    let vis = xs.visible(n);
    let shown = &pts[vis.clone()];
    let idx = || vis.clone().zip(shown.iter());
    let ov = k.overlays;
    let on = |bit: u8, v: Option<f64>| if ov & bit != 0 { v } else { None };

    let py = YScale::fit(
        shown.iter().flat_map(|p| {
            [
                Some(p.bar.h),
                Some(p.bar.l),
                on(VWAP, p.vwap),
                on(EMA, p.ema9),
                on(EMA, p.ema21),
                on(BOLL, p.bb_upper),
                on(BOLL, p.bb_lower),
            ]
            .into_iter()
            .flatten()
        }),
        0.04,
        layout.price,
    );
    let vy = YScale {
        lo: 0.0,
        hi: shown.iter().map(|p| p.bar.v).fold(1.0, f64::max),
        pane: layout.volume,
    };
    let ry = YScale {
        lo: 0.0,
        hi: 100.0,
        pane: inset(layout.rsi),
    };
    let my = YScale::fit(
        shown
            .iter()
            .flat_map(|p| [p.macd, p.macd_signal, p.macd_hist].into_iter().flatten())
            .chain([0.0]),
        0.08,
        inset(layout.macd),
    );

    // Grid and axes.
    let price_ticks = nice_ticks(py.lo, py.hi, (layout.price.h / 45.0) as usize);
    let dec = price_ticks
        .get(1)
        .zip(price_ticks.first())
        .map_or(2, |(b, a)| decimals_for(b - a).max(2));
    ctx.set_stroke_style_str(GRID);
    ctx.begin_path();
    for v in &price_ticks {
        hline(&ctx, py.y(*v), layout.plot_w);
    }
    for v in [30.0, 50.0, 70.0] {
        hline(&ctx, ry.y(v), layout.plot_w);
    }
    hline(&ctx, my.y(0.0), layout.plot_w);
    for p in [layout.volume, layout.rsi, layout.macd] {
        hline(&ctx, p.top, layout.w);
    }
    ctx.move_to(layout.plot_w + 0.5, 0.0);
    ctx.line_to(layout.plot_w + 0.5, layout.macd.bottom());
    ctx.stroke();
    ctx.set_fill_style_str(TEXT);
    ctx.set_text_baseline("middle");
    let ax = layout.plot_w + 6.0;
    for v in &price_ticks {
        let _ = ctx.fill_text(&fixed(*v, dec), ax, py.y(*v));
    }
    for v in [30.0, 70.0] {
        let _ = ctx.fill_text(&fixed(v, 0), ax, ry.y(v));
    }
    ctx.set_text_baseline("top");
    let _ = ctx.fill_text("Vol", 4.0, layout.volume.top + 2.0);
    let _ = ctx.fill_text("RSI 14", 4.0, layout.rsi.top + 2.0);
    let _ = ctx.fill_text("MACD 12,26,9", 4.0, layout.macd.top + 2.0);
    // Time labels on round periods.
    let step = time_step_min(tf.minutes(), xs.slot(), 90.0);
    let mut prev = vis.start.checked_sub(1).map(|i| pts[i].bar.t);
    for (i, p) in idx() {
        if labels_at(prev, p.bar.t, step) {
            let x = xs.x(i);
            if (0.0..layout.plot_w - 30.0).contains(&x) {
                let full = k.time(p.bar.t);
                let (date, time) = full.split_once(", ").unwrap_or(("", &full));
                let _ = ctx.fill_text(
                    if step >= 1440 { date } else { time },
                    x - 14.0,
                    layout.macd.bottom() + 4.0,
                );
            }
        }
        prev = Some(p.bar.t);
    }

    // The plot area, clipped so the half-visible candles at the edges stay off the axis.
    ctx.save();
    ctx.begin_path();
    ctx.rect(0.0, 0.0, layout.plot_w, layout.h);
    ctx.clip();
    let bw = (xs.slot() * 0.7).clamp(1.0, 24.0);
    for (up, colour) in [(true, UP), (false, DOWN)] {
        let mine = || idx().filter(move |(_, p)| (p.bar.c >= p.bar.o) == up);
        ctx.begin_path();
        for (i, p) in mine() {
            let x = xs.x(i).round() + 0.5;
            ctx.move_to(x, py.y(p.bar.h));
            ctx.line_to(x, py.y(p.bar.l));
        }
        ctx.set_stroke_style_str(colour);
        ctx.stroke();
        ctx.begin_path();
        for (i, p) in mine() {
            let (yo, yc) = (py.y(p.bar.o), py.y(p.bar.c));
            ctx.rect(xs.x(i) - bw / 2.0, yo.min(yc), bw, (yo - yc).abs().max(1.0));
        }
        ctx.set_fill_style_str(colour);
        ctx.fill();
        ctx.begin_path();
        for (i, p) in mine() {
            let y = vy.y(p.bar.v);
            ctx.rect(xs.x(i) - bw / 2.0, y, bw, layout.volume.bottom() - y);
        }
        ctx.set_global_alpha(0.45);
        ctx.fill();
        ctx.set_global_alpha(1.0);
        // MACD histogram by sign.
        ctx.begin_path();
        for (i, p) in idx() {
            if let Some(hv) = p.macd_hist.filter(|hv| (*hv >= 0.0) == up) {
                let (y0, y1) = (my.y(0.0), my.y(hv));
                ctx.rect(xs.x(i) - bw / 2.0, y0.min(y1), bw, (y1 - y0).abs());
            }
        }
        ctx.set_global_alpha(0.6);
        ctx.fill();
        ctx.set_global_alpha(1.0);
    }
    let lines: [Line<'_>; 9] = [
        (VWAP, C_VWAP, &py, |p| p.vwap),
        (EMA, C_EMA9, &py, |p| p.ema9),
        (EMA, C_EMA21, &py, |p| p.ema21),
        (BOLL, C_BB, &py, |p| p.bb_upper),
        (BOLL, C_BB, &py, |p| p.bb_mid),
        (BOLL, C_BB, &py, |p| p.bb_lower),
        (0, C_EMA21, &ry, |p| p.rsi),
        (0, C_EMA9, &my, |p| p.macd),
        (0, C_VWAP, &my, |p| p.macd_signal),
    ];
    for (bit, colour, ys, f) in lines {
        if bit != 0 && ov & bit == 0 {
            continue;
        }
        ctx.begin_path();
        let mut pen = false;
        for (i, p) in idx() {
            match f(p) {
                Some(v) if pen => ctx.line_to(xs.x(i), ys.y(v)),
                Some(v) => {
                    ctx.move_to(xs.x(i), ys.y(v));
                    pen = true;
                }
                None => pen = false,
            }
        }
        ctx.set_stroke_style_str(colour);
        ctx.stroke();
    }

    // The crosshair, on the bar under the pointer.
    let hovered = k
        .hover
        .filter(|(x, _)| *x < layout.plot_w)
        .and_then(|(x, y)| Some((xs.index_at(x, n)?, y)));
    if let Some((i, y)) = hovered {
        ctx.set_stroke_style_str(CROSS);
        let _ = ctx.set_line_dash(&Array::of2(&3.into(), &3.into()));
        ctx.begin_path();
        let x = xs.x(i).round() + 0.5;
        ctx.move_to(x, 0.0);
        ctx.line_to(x, layout.macd.bottom());
        hline(&ctx, y.round() + 0.5, layout.plot_w);
        ctx.stroke();
        let _ = ctx.set_line_dash(&Array::new());
    }
    ctx.restore();
    // The last price on the axis, and the pointer's price.
    let last = pts.last();
    if let Some(p) = last {
        let colour = if p.bar.c >= p.bar.o { UP } else { DOWN };
        axis_tag(&ctx, &layout, py.y(p.bar.c), &fixed(p.bar.c, dec), colour);
    }
    if let Some((_, y)) = hovered.filter(|(_, y)| *y < layout.price.bottom()) {
        let v = py.hi - (y - py.pane.top) / py.pane.h * (py.hi - py.lo);
        axis_tag(&ctx, &layout, y, &fixed(v, dec), "#34495e");
    }

    // The readout: the bar under the crosshair, else the live one.
    let read = hovered.map(|(i, _)| &pts[i]).or(last);
    let text = read.map(|p| k.readout(p, dec)).unwrap_or_default();
    if text != k.readout_text {
        if let Some(el) = &k.readout {
            el.set_text_content(Some(&text));
        }
        k.readout_text = text;
    }
    let hook = &k.hook;
    let set = |key: &str, v: JsValue| {
        let _ = Reflect::set(hook, &key.into(), &v);
    };
    set(
        "symbol",
        k.symbol.as_deref().map_or(JsValue::NULL, JsValue::from_str),
    );
    set("tf", tf.label().into());
    set("bars", (n as f64).into());
    set("span", xs.span.into());
    set("slot", xs.slot().into());
    let names = OVERLAYS
        .iter()
        .filter(|(b, ..)| ov & b != 0)
        .map(|(_, id, _)| *id);
    set("overlays", names.collect::<Vec<_>>().join(",").into());
    set("following", k.view.end.is_none().into());
    set("lastX", last.map_or(JsValue::NULL, |_| xs.x(n - 1).into()));
    set("last", last.map_or(JsValue::NULL, point_js));
    set("readout", read.map_or(JsValue::NULL, point_js));
    let ms = now() - t0;
    set("drawMs", ms.into());
    if let Some(a) = &k.perf {
        a.push(&ms.into());
    }
}

impl Ctl {
    fn time(&self, t: i64) -> String {
        let date = js_sys::Date::new(&JsValue::from_f64(t as f64));
        self.time_fmt
            .as_ref()
            .and_then(|f| f.call1(&JsValue::NULL, &date).ok())
            .and_then(|s| s.as_string())
            .unwrap_or_default()
    }

    fn readout(&self, p: &Point, dec: usize) -> String {
        let b = &p.bar;
        let f = |v: Option<f64>, d: usize| v.map_or_else(|| "—".to_string(), |v| fixed(v, d));
        let tz = if self.symbol.as_deref().is_some_and(is_crypto) {
            "UTC"
        } else {
            "ET"
        };
        format!(
            "{} {tz}  O {}  H {}  L {}  C {}  V {}  ·  VWAP {}  EMA9 {}  EMA21 {}  BB {} / {} / {}  ·  RSI {}  MACD {} / {} / {}  ATR {}",
            self.time(b.t),
            fixed(b.o, dec),
            fixed(b.h, dec),
            fixed(b.l, dec),
            fixed(b.c, dec),
            fixed(b.v, 0),
            f(p.vwap, dec),
            f(p.ema9, dec),
            f(p.ema21, dec),
            f(p.bb_upper, dec),
            f(p.bb_mid, dec),
            f(p.bb_lower, dec),
            f(p.rsi, 1),
            f(p.macd, 3),
            f(p.macd_signal, 3),
            f(p.macd_hist, 3),
            f(p.atr, dec),
        )
    }
}

/// A point as a plain JS object (`null` for a missing value), for `window.__tickdesk`.
fn point_js(p: &Point) -> JsValue {
    let o = Object::new();
    let b = &p.bar;
    let vals = [
        ("t", Some(b.t as f64)),
        ("o", Some(b.o)),
        ("h", Some(b.h)),
        ("l", Some(b.l)),
        ("c", Some(b.c)),
        ("v", Some(b.v)),
        ("sma20", p.sma20),
        ("ema9", p.ema9),
        ("ema21", p.ema21),
        ("vwap", p.vwap),
        ("bb_mid", p.bb_mid),
        ("bb_upper", p.bb_upper),
        ("bb_lower", p.bb_lower),
        ("bb_pct_b", p.bb_pct_b),
        ("rsi", p.rsi),
        ("macd", p.macd),
        ("macd_signal", p.macd_signal),
        ("macd_hist", p.macd_hist),
        ("atr", p.atr),
    ];
    for (k, v) in vals {
        let _ = Reflect::set(&o, &k.into(), &v.map_or(JsValue::NULL, JsValue::from_f64));
    }
    o.into()
}

/// A pane less a little room at the top for its title.
fn inset(p: Pane) -> Pane {
    Pane {
        top: p.top + 14.0,
        h: (p.h - 18.0).max(4.0),
    }
}

fn hline(ctx: &CanvasRenderingContext2d, y: f64, w: f64) {
    let y = y.round() + 0.5;
    ctx.move_to(0.0, y);
    ctx.line_to(w, y);
}

/// A value in a box on the price axis.
fn axis_tag(ctx: &CanvasRenderingContext2d, l: &Layout, y: f64, text: &str, colour: &str) {
    ctx.set_fill_style_str(colour);
    ctx.fill_rect(l.plot_w + 1.0, y - 8.0, l.w - l.plot_w - 1.0, 16.0);
    ctx.set_fill_style_str("#0b0f14");
    ctx.set_text_baseline("middle");
    let _ = ctx.fill_text(text, l.plot_w + 6.0, y);
}
