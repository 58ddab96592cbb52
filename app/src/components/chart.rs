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
//! Written for the bundle's size: the panel's DOM is one static HTML string, one effect, one event closure for the
//! pointer, the wheel, the resize and the toolbar's changes, plain loops (each closure, view type or iterator chain
//! is compiled into the wasm once per use).
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
    decimals_for, labels_at, nice_ticks, time_step_min, within, Layout, Pane, Viewport, XScale,
    YScale,
};
use crate::components::analytics::options;
use crate::components::chain::ChainState;
use crate::feed::FeedSignals;
use crate::format::fixed;

/// Overlays, as bits; the toolbar's checkboxes carry the bit.
const VWAP: u8 = 1;
const EMA: u8 = 2;
const BOLL: u8 = 4;
const OVERLAY_IDS: [&str; 3] = ["vwap", "ema", "bb"];

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
    tf: Timeframe,
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
    /// The underlying box, and the options it should list (written at the next frame).
    select: Option<web_sys::Element>,
    options: String,
    readout: Option<web_sys::Element>,
    readout_text: String,
    /// `Intl.DateTimeFormat(...).format` for the symbol's market: New York time, or UTC for crypto.
    time_fmt: Option<Function>,
    perf: Option<Array>,
    hook: Object,
    /// Geometry of the last draw, for the pointer handlers.
    plot_w: f64,
    slot: f64,
    /// The symbol is a crypto pair (24/7: VWAP restarts at 00:00 UTC, times in UTC): listed in the `crypto` topic.
    crypto: bool,
    /// The options last written into the underlying box: it is rewritten only when they change, not on every bar
    /// (an open drop-down would close under the pointer).
    options_shown: String,
}

type Shared = Rc<RefCell<Ctl>>;

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
    /// The symbol charted: the chain's underlying, or a crypto symbol picked here or in the crypto panel.
    symbol: RwSignal<Option<String>>,
    /// The crypto symbols (the `crypto` topic's keys), listed in the box after the underlyings.
    crypto: ArcRwSignal<Vec<String>>,
    signals: FeedSignals,
    /// The tab is open: bars are watched only then.
    #[prop(into)]
    active: Signal<bool>,
    #[prop(into)] closed: Signal<Option<String>>,
) -> impl IntoView {
    let crypto_keys = crypto.clone();
    // The stock market's close says nothing about a crypto pair, which trades around the clock: its chart is never
    // "as of the close", and turns stale when its bars stop.
    let keys = crypto.clone();
    let closed = Signal::derive(move || {
        let pair = symbol.with(|s| {
            s.as_deref()
                .is_some_and(|s| keys.with(|c| c.iter().any(|x| x == s)) || is_crypto(s))
        });
        if pair {
            None
        } else {
            closed.get()
        }
    });
    let root = NodeRef::<html::Div>::new();
    let hook = Object::new();
    crate::perf::publish("chart", &hook);
    let ctl: Shared = Rc::new(RefCell::new(Ctl {
        symbol: None,
        tf: Timeframe::M1,
        handle: None,
        series: None,
        data: false,
        view: Viewport::default(),
        hover: None,
        drag: None,
        overlays: VWAP | EMA,
        pending: false,
        canvas: None,
        select: None,
        options: String::new(),
        readout: None,
        readout_text: String::new(),
        time_fmt: None,
        perf: crate::perf::samples("chartDraw"),
        hook,
        plot_w: 1.0,
        slot: 1.0,
        crypto: false,
        options_shown: String::new(),
    }));

    // The panel's DOM is static HTML (one Leptos element instead of a dozen: each element type costs the bundle its
    // own rendering code); its parts are found once mounted.
    let c = ctl.clone();
    root.on_load(move |el| {
        let find = |id: &str| el.query_selector(id).ok().flatten();
        let canvas = find("#chart-canvas").and_then(|e| e.dyn_into::<HtmlCanvasElement>().ok());
        let mut k = c.borrow_mut();
        k.select = find("#chart-underlying");
        k.readout = find("#chart-readout");
        if let Some(canvas) = &canvas {
            listen(&c, canvas, &el, chain, symbol, crypto_keys.clone());
        }
        k.canvas = canvas;
        drop(k);
        request(&c);
    });
    // Everything reactive the chart depends on, in one effect: the chain's symbols and pick (the underlying box),
    // the symbol's bars (watched while the tab is open) and their arrival. Each ends in one frame. The timeframe and
    // the overlays are not signals: the toolbar's handler sets them and asks for the frame itself.
    let c = ctl.clone();
    let keys = crypto.clone();
    Effect::new(move |_| {
        let picked = symbol.get();
        let mut listed = chain.symbols.get();
        listed.extend(keys.get());
        let options = options(listed.into_iter().map(|s| (s.clone(), s)), picked.clone());
        let want = picked.filter(|_| active.get());
        let mut k = c.borrow_mut();
        if options != k.options_shown {
            k.options_shown.clone_from(&options);
            k.options = options;
        }
        if k.symbol != want {
            if let Some(old) = k.symbol.take() {
                hub.release(&old);
            }
            k.crypto = want
                .as_deref()
                .is_some_and(|s| keys.with_untracked(|c| c.iter().any(|x| x == s)) || is_crypto(s));
            k.handle = want.as_deref().map(|s| hub.acquire(s));
            k.time_fmt = want.as_deref().and_then(|_| time_format(k.crypto));
            k.symbol = want;
            k.new_series();
        }
        if let Some(h) = &k.handle {
            h.version.track();
        }
        k.data = true;
        drop(k);
        request(&c);
    });
    let topic = Signal::derive(move || {
        symbol
            .get()
            .map(|s| crate::bars::topic(&s))
            .unwrap_or_default()
    });
    view! {
        <Panel title="Chart" topic=topic signals=signals stale_after_ms=90_000.0 closed=closed>
            <div class="chart-body" node_ref=root inner_html=PANEL_HTML></div>
        </Panel>
    }
}

/// The chart panel's content: the toolbar, the readout line and the canvas.
const PANEL_HTML: &str = concat!(
    r#"<div class="chart-bar">"#,
    r#"<label>Underlying <select id="chart-underlying"></select></label>"#,
    r#"<label>Timeframe <select id="chart-tf"><option value="1m" selected>1m</option><option value="5m">5m</option>"#,
    r#"<option value="15m">15m</option><option value="1h">1h</option></select></label>"#,
    r#"<label><input type="checkbox" data-overlay="vwap" checked>VWAP</label>"#,
    r#"<label><input type="checkbox" data-overlay="ema" checked>EMA 9/21</label>"#,
    r#"<label><input type="checkbox" data-overlay="bb">Bollinger 20,2</label>"#,
    r#"<span class="keys-hint">wheel zoom · drag pan · double-click follow live</span></div>"#,
    r#"<div id="chart-readout" class="chart-readout"></div>"#,
    r#"<canvas id="chart-canvas" class="chart-canvas"></canvas>"#,
);

/// The pointer and wheel on the canvas, the window's resize and the toolbar's changes: one closure for all of them
/// (each closure type costs the bundle its own glue).
fn listen(
    ctl: &Shared,
    canvas: &HtmlCanvasElement,
    toolbar: &web_sys::Element,
    chain: ChainState,
    symbol: RwSignal<Option<String>>,
    crypto: ArcRwSignal<Vec<String>>,
) {
    let c = ctl.clone();
    let cb = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
        let mut k = c.borrow_mut();
        let n = k.series.as_ref().map_or(0, |s| s.points().len());
        let kind = ev.type_();
        if let Some(w) = ev.dyn_ref::<WheelEvent>() {
            ev.prevent_default();
            let factor = if w.delta_y() > 0.0 { 1.15 } else { 1.0 / 1.15 };
            let at = within(f64::from(w.offset_x()) / k.plot_w, 0.0, 1.0);
            k.view.zoom(n, factor, at);
        } else if let Some(m) = ev.dyn_ref::<MouseEvent>() {
            let (x, y) = (f64::from(m.offset_x()), f64::from(m.offset_y()));
            match kind.as_str() {
                "mousedown" => k.drag = Some(x),
                "mousemove" => {
                    if let Some(from) = k.drag {
                        let slot = k.slot;
                        k.view.pan(n, (x - from) / slot);
                        k.drag = Some(x);
                    }
                    k.hover = Some((x, y));
                }
                "dblclick" => k.view.reset(),
                "mouseleave" => {
                    k.drag = None;
                    k.hover = None;
                }
                _ => k.drag = None,
            }
        } else if kind == "change" {
            // Which control changed is in the event's target.
            let el = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok());
            let id = el.as_ref().map(web_sys::Element::id).unwrap_or_default();
            let value = event_target_value(&ev);
            match id.as_str() {
                "chart-underlying" => {
                    drop(k);
                    // An underlying is the chain's pick too (one selection for both tabs); a crypto symbol has no
                    // chain, so it is the chart's alone.
                    if crypto.with_untracked(|c| c.contains(&value)) || is_crypto(&value) {
                        symbol.set(Some(value));
                    } else {
                        chain.selected.set(Some(value));
                    }
                    return;
                }
                "chart-tf" => {
                    if let Some(t) = Timeframe::ALL.into_iter().find(|t| t.label() == value) {
                        k.tf = t;
                        k.new_series();
                    }
                }
                _ => {
                    let overlay = el.and_then(|e| e.get_attribute("data-overlay"));
                    if let Some(i) = OVERLAY_IDS
                        .iter()
                        .position(|o| Some(*o) == overlay.as_deref())
                    {
                        k.overlays ^= 1 << i;
                    }
                }
            }
        }
        drop(k);
        request(&c);
    });
    let f: &Function = cb.as_ref().unchecked_ref();
    for name in [
        "wheel",
        "mousedown",
        "mousemove",
        "mouseup",
        "mouseleave",
        "dblclick",
    ] {
        let _ = canvas.add_event_listener_with_callback(name, f);
    }
    let _ = toolbar.add_event_listener_with_callback("change", f);
    if let Some(w) = web_sys::window() {
        let _ = w.add_event_listener_with_callback("resize", f);
    }
    cb.forget(); // The chart lives as long as the page.
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
    if let Some(sel) = &k.select {
        if !k.options.is_empty() {
            sel.set_inner_html(&std::mem::take(&mut k.options));
        }
    }
    if std::mem::take(&mut k.data) {
        if let (Some(s), Some(h)) = (k.series.as_mut(), &k.handle) {
            s.sync(&h.bars.borrow());
        }
    }
    let series = k.series.take();
    paint(k, &canvas, series.as_ref(), t0);
    k.series = series;
}

/// A line to draw: the overlay bit that shows it (0: always), its colour, which scale (price, RSI, MACD), its values.
type Line = (u8, &'static str, usize, fn(&Point) -> Option<f64>);

const LINES: [Line; 9] = [
    (VWAP, C_VWAP, 0, |p| p.vwap),
    (EMA, C_EMA9, 0, |p| p.ema9),
    (EMA, C_EMA21, 0, |p| p.ema21),
    (BOLL, C_BB, 0, |p| p.bb_upper),
    (BOLL, C_BB, 0, |p| p.bb_mid),
    (BOLL, C_BB, 0, |p| p.bb_lower),
    (0, C_EMA21, 1, |p| p.rsi),
    (0, C_EMA9, 2, |p| p.macd),
    (0, C_VWAP, 2, |p| p.macd_signal),
];

fn paint(k: &mut Ctl, canvas: &HtmlCanvasElement, series: Option<&Series>, t0: f64) {
    let (w, h) = (
        f64::from(canvas.client_width()),
        f64::from(canvas.client_height()),
    );
    if w < 1.0 || h < 1.0 {
        return; // Hidden tab: drawn when shown.
    }
    let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
    let (pw, ph) = ((w * dpr) as u32, (h * dpr) as u32);
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
    ctx.set_font("11px sans-serif");
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
    let ov = k.overlays;

    // Scales over the bars in view: prices (with the overlays shown), volume, RSI 0..100, MACD around 0.
    let mut prices = Vec::new();
    let mut macd = vec![0.0];
    let mut vmax = 1.0f64;
    for p in &pts[vis.clone()] {
        prices.push(p.bar.h);
        prices.push(p.bar.l);
        for (bit, _, scale, f) in LINES {
            match (f(p), scale) {
                (Some(v), 0) if ov & bit != 0 => prices.push(v),
                (Some(v), 2) => macd.push(v),
                _ => {}
            }
        }
        macd.extend(p.macd_hist);
        vmax = vmax.max(p.bar.v);
    }
    let scales = [
        YScale::fit(prices.into_iter(), 0.04, layout.price),
        YScale {
            lo: 0.0,
            hi: 100.0,
            pane: inset(layout.rsi),
        },
        YScale::fit(macd.into_iter(), 0.08, inset(layout.macd)),
    ];
    let [py, ry, my] = scales;
    let vy = YScale {
        lo: 0.0,
        hi: vmax,
        pane: layout.volume,
    };

    // Grid and axes.
    let ticks = nice_ticks(py.lo, py.hi, (layout.price.h / 45.0) as usize);
    let dec = if ticks.len() > 1 {
        decimals_for(ticks[1] - ticks[0]).max(2)
    } else {
        2
    };
    ctx.set_stroke_style_str(GRID);
    ctx.begin_path();
    for v in &ticks {
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
    for v in &ticks {
        let _ = ctx.fill_text(&fixed(*v, dec), ax, py.y(*v));
    }
    for v in [30.0, 70.0] {
        let _ = ctx.fill_text(&fixed(v, 0), ax, ry.y(v));
    }
    ctx.set_text_baseline("top");
    for (label, pane) in [
        ("Vol", layout.volume),
        ("RSI 14", layout.rsi),
        ("MACD 12,26,9", layout.macd),
    ] {
        let _ = ctx.fill_text(label, 4.0, pane.top + 2.0);
    }
    // Time labels on round periods.
    let step = time_step_min(tf.minutes(), xs.slot(), 90.0);
    let mut prev = vis.start.checked_sub(1).map(|i| pts[i].bar.t);
    for i in vis.clone() {
        let t = pts[i].bar.t;
        let x = xs.x(i);
        if labels_at(prev, t, step) && x >= 0.0 && x < layout.plot_w - 30.0 {
            let full = k.time(t);
            let (date, time) = full.split_once(',').unwrap_or(("", &full));
            let time = time.trim_start();
            let label = if step >= 1440 { date } else { time };
            let _ = ctx.fill_text(label, x - 14.0, layout.macd.bottom() + 4.0);
        }
        prev = Some(t);
    }

    // The plot area: only bars whose centre is in it, so nothing spills onto the axis (no clipping needed).
    let vis = xs.inside(n);
    let bw = within(xs.slot() * 0.7, 1.0, 24.0);
    for up in [true, false] {
        // Per colour: wicks, then bodies, volume and the MACD histogram, each one path.
        ctx.set_stroke_style_str(if up { UP } else { DOWN });
        ctx.set_fill_style_str(if up { UP } else { DOWN });
        for pass in 0..4 {
            ctx.begin_path();
            for i in vis.clone() {
                let b = &pts[i].bar;
                let x = xs.x(i);
                let (top, bottom) = match pass {
                    0 | 1 if (b.c >= b.o) != up => continue,
                    0 => {
                        let x = x.round() + 0.5;
                        ctx.move_to(x, py.y(b.h));
                        ctx.line_to(x, py.y(b.l));
                        continue;
                    }
                    1 => (py.y(b.o.max(b.c)), py.y(b.o.min(b.c)) + 1.0),
                    2 if (b.c >= b.o) != up => continue,
                    2 => (vy.y(b.v), layout.volume.bottom()),
                    _ => match pts[i].macd_hist {
                        Some(v) if (v >= 0.0) == up => (my.y(v.max(0.0)), my.y(v.min(0.0))),
                        _ => continue,
                    },
                };
                ctx.rect(x - bw / 2.0, top, bw, bottom - top);
            }
            if pass == 0 {
                ctx.stroke();
            } else {
                ctx.set_global_alpha(if pass == 1 { 1.0 } else { 0.5 });
                ctx.fill();
            }
        }
        ctx.set_global_alpha(1.0);
    }
    for (bit, colour, scale, f) in LINES {
        if bit != 0 && ov & bit == 0 {
            continue;
        }
        let ys = &scales[scale];
        ctx.begin_path();
        let mut pen = false;
        for i in vis.clone() {
            match f(&pts[i]) {
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
    let hovered = match k.hover {
        Some((x, y)) if x < layout.plot_w => xs.index_at(x, n).map(|i| (i, y)),
        _ => None,
    };
    if let Some((i, y)) = hovered {
        ctx.set_stroke_style_str(CROSS);
        ctx.begin_path();
        let x = xs.x(i).round() + 0.5;
        ctx.move_to(x, 0.0);
        ctx.line_to(x, layout.macd.bottom());
        hline(&ctx, y, layout.plot_w);
        ctx.stroke();
    }
    // The last price on the axis, and the pointer's price.
    let last = pts.last();
    if let Some(p) = last {
        let colour = if p.bar.c >= p.bar.o { UP } else { DOWN };
        axis_tag(&ctx, &layout, py.y(p.bar.c), &fixed(p.bar.c, dec), colour);
    }
    if let Some((_, y)) = hovered {
        if y < layout.price.bottom() {
            let v = py.hi - (y - py.pane.top) / py.pane.h * (py.hi - py.lo);
            axis_tag(&ctx, &layout, y, &fixed(v, dec), "#34495e");
        }
    }

    // The readout: the bar under the crosshair, else the live one.
    let read = hovered.map(|(i, _)| &pts[i]).or(last);
    let text = read.map(|p| k.readout(p)).unwrap_or_default();
    if text != k.readout_text {
        if let Some(el) = &k.readout {
            el.set_text_content(Some(&text));
        }
        k.readout_text = text;
    }
    let mut names = String::new();
    for (i, id) in OVERLAY_IDS.iter().enumerate() {
        if ov & (1 << i) != 0 {
            if !names.is_empty() {
                names.push(',');
            }
            names.push_str(id);
        }
    }
    let symbol = k.symbol.as_deref().map_or(JsValue::NULL, JsValue::from_str);
    let ms = now() - t0;
    for (key, v) in [
        ("symbol", symbol),
        ("tf", tf.label().into()),
        ("bars", (n as f64).into()),
        ("span", xs.span.into()),
        ("slot", xs.slot().into()),
        ("following", k.view.end.is_none().into()),
        ("overlays", names.as_str().into()),
        ("lastX", last.map_or(JsValue::NULL, |_| xs.x(n - 1).into())),
        ("last", last.map_or(JsValue::NULL, point_js)),
        ("readout", read.map_or(JsValue::NULL, point_js)),
        ("drawMs", ms.into()),
    ] {
        let _ = Reflect::set(&k.hook, &key.into(), &v);
    }
    if let Some(a) = &k.perf {
        a.push(&ms.into());
    }
}

/// A point's values by name, for the readout and `window.__tickdesk`.
fn values(p: &Point) -> [(&'static str, Option<f64>); 19] {
    let b = &p.bar;
    [
        ("t", Some(b.t as f64)),
        ("O", Some(b.o)),
        ("H", Some(b.h)),
        ("L", Some(b.l)),
        ("C", Some(b.c)),
        ("V", Some(b.v)),
        ("VWAP", p.vwap),
        ("EMA9", p.ema9),
        ("EMA21", p.ema21),
        ("BB+", p.bb_upper),
        ("BB", p.bb_mid),
        ("BB-", p.bb_lower),
        ("%b", p.bb_pct_b),
        ("RSI", p.rsi),
        ("MACD", p.macd),
        ("signal", p.macd_signal),
        ("hist", p.macd_hist),
        ("ATR", p.atr),
        ("SMA20", p.sma20),
    ]
}

/// The keys of [`values`] in `window.__tickdesk`.
const JS_KEYS: [&str; 19] = [
    "t",
    "o",
    "h",
    "l",
    "c",
    "v",
    "vwap",
    "ema9",
    "ema21",
    "bb_upper",
    "bb_mid",
    "bb_lower",
    "bb_pct_b",
    "rsi",
    "macd",
    "macd_signal",
    "macd_hist",
    "atr",
    "sma20",
];

impl Ctl {
    /// A new series for the symbol and timeframe (filled from the bars at the next frame), viewed from the start.
    fn new_series(&mut self) {
        self.series = self
            .symbol
            .as_deref()
            .map(|_| Series::new(self.tf, self.crypto));
        self.data = true;
        self.view.reset();
    }

    fn time(&self, t: i64) -> String {
        let date = js_sys::Date::new(&JsValue::from_f64(t as f64));
        self.time_fmt
            .as_ref()
            .and_then(|f| f.call1(&JsValue::NULL, &date).ok())
            .and_then(|s| s.as_string())
            .unwrap_or_default()
    }

    /// `12/02, 10:15 ET  O 221.13  H …  ·  VWAP …`: every value of the bar, prices in cents (four decimals under
    /// 10).
    fn readout(&self, p: &Point) -> String {
        let dec = if p.bar.c.abs() < 10.0 { 4 } else { 2 };
        let mut out = self.time(p.bar.t);
        out.push_str(if self.crypto { " UTC" } else { " ET" });
        for (i, (label, v)) in values(p).into_iter().enumerate().skip(1) {
            out.push_str(if i == 6 || i == 13 { "  ·  " } else { "  " });
            out.push_str(label);
            out.push(' ');
            let d = match i {
                5 => 0,
                12..=13 => 2,
                14..=16 => 3,
                _ => dec,
            };
            out.push_str(&v.map_or_else(|| "—".to_string(), |v| fixed(v, d)));
        }
        out
    }
}

/// A point as a plain JS object (`null` for a missing value), for `window.__tickdesk`.
fn point_js(p: &Point) -> JsValue {
    let o = Object::new();
    for (k, (_, v)) in JS_KEYS.iter().zip(values(p)) {
        let _ = Reflect::set(
            &o,
            &(*k).into(),
            &v.map_or(JsValue::NULL, JsValue::from_f64),
        );
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
