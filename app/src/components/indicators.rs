//! The Indicators panel on the Chart tab: per watched underlying (the relay's start symbols, from the `quotes`
//! topic) and per timeframe 1m/5m/15m, the last price, RSI 14, the MACD histogram, the distance to VWAP in %,
//! Bollinger %b and ATR 14, colour-coded (RSI above 70 or below 30, the histogram's sign, %b outside 0..1), live.
//!
//! Each underlying's bars come from the same [`BarsHub`] as the chart's (one subscription when both show AAPL) and
//! feed three [`Series`] incrementally. The table body is one derived HTML string, rebuilt at most once per frame in
//! which some underlying's bars changed: a dozen rows, and one view type instead of a view per cell. The values are
//! also published, unrounded, in `window.__tickdesk.indicators[SYMBOL][TF]` for the browser test.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Object, Reflect};
use leptos::prelude::*;
use tickdesk_indicators::{Point, Timeframe};
use wasm_bindgen::JsValue;

use crate::bars::{is_crypto, BarsHandle, BarsHub, Series};
use crate::format::{fixed, signed};

/// The panel's timeframes.
const TFS: [Timeframe; 3] = [Timeframe::M1, Timeframe::M5, Timeframe::M15];

/// One row's values, derived from the last point of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The start of the bar read.
    pub t: i64,
    pub last: f64,
    pub rsi: Option<f64>,
    pub macd_hist: Option<f64>,
    /// `(close - VWAP) / VWAP`, in %.
    pub vwap_dist_pct: Option<f64>,
    pub pct_b: Option<f64>,
    pub atr: Option<f64>,
}

impl Reading {
    pub fn of(p: &Point) -> Reading {
        Reading {
            t: p.bar.t,
            last: p.bar.c,
            rsi: p.rsi,
            macd_hist: p.macd_hist,
            vwap_dist_pct: p
                .vwap
                .filter(|v| *v != 0.0)
                .map(|v| (p.bar.c - v) / v * 100.0),
            pct_b: p.bb_pct_b,
            atr: p.atr,
        }
    }
}

/// The colour class of each reading: overbought/oversold RSI, the histogram's sign, %b outside the bands.
pub fn classes(r: &Reading) -> [&'static str; 4] {
    let band = |v: Option<f64>, lo: f64, hi: f64| match v {
        Some(x) if x > hi => "hot",
        Some(x) if x < lo => "cold",
        _ => "",
    };
    [
        band(r.rsi, 30.0, 70.0),
        crate::format::sign_class(r.macd_hist),
        crate::format::sign_class(r.vwap_dist_pct),
        band(r.pct_b, 0.0, 1.0),
    ]
}

/// The table body for these rows: per symbol, a row per timeframe.
pub fn rows_html(rows: &[(String, [Option<Reading>; 3])]) -> String {
    let mut out = String::new();
    for (sym, readings) in rows {
        for (tf, r) in TFS.iter().zip(readings) {
            let first = if *tf == Timeframe::M1 {
                sym.as_str()
            } else {
                ""
            };
            for part in [
                r#"<tr data-symbol=""#,
                sym,
                r#"" data-tf=""#,
                tf.label(),
                r#""><td class="sym">"#,
                first,
                "</td><td>",
                tf.label(),
                "</td>",
            ] {
                out.push_str(part);
            }
            let Some(r) = r else {
                out.push_str(r#"<td class="num" colspan="6">waiting for bars…</td></tr>"#);
                continue;
            };
            let c = classes(r);
            let f = |v: Option<f64>, d: usize| v.map_or_else(|| "—".to_string(), |v| fixed(v, d));
            let pct = r
                .vwap_dist_pct
                .map_or_else(|| "—".to_string(), |v| signed(v, 2) + "%");
            let cells = [
                ("last", "", fixed(r.last, 2)),
                ("rsi", c[0], f(r.rsi, 1)),
                ("macd_hist", c[1], f(r.macd_hist, 3)),
                ("vwap_dist", c[2], pct),
                ("pct_b", c[3], f(r.pct_b, 2)),
                ("atr", "", f(r.atr, 2)),
            ];
            for (field, class, text) in &cells {
                for part in [
                    r#"<td class="num "#,
                    class,
                    r#"" data-field=""#,
                    field,
                    r#"">"#,
                    text,
                    "</td>",
                ] {
                    out.push_str(part);
                }
            }
            out.push_str("</tr>");
        }
    }
    out
}

const TABLE_HEAD: &str = concat!(
    r#"<h2>Indicators</h2><table id="indicators-table"><thead><tr><th>Underlying</th><th>TF</th><th class="num">Last</th>"#,
    r#"<th class="num">RSI 14</th><th class="num">MACD hist</th><th class="num">vs VWAP</th><th class="num">%b</th>"#,
    r#"<th class="num">ATR 14</th></tr></thead><tbody>"#,
);

struct Row {
    symbol: String,
    handle: BarsHandle,
    series: [Series; 3],
}

/// The Indicators panel's table.
#[component]
pub fn IndicatorsPanel(
    hub: BarsHub,
    symbols: ArcRwSignal<Vec<String>>,
    /// The tab is open: bars are watched only then.
    #[prop(into)]
    active: Signal<bool>,
) -> impl IntoView {
    let rows: Rc<RefCell<Vec<Row>>> = Rc::default();
    let root = NodeRef::<leptos::html::Div>::new();
    // The element once mounted, and the table to write into it: written straight in (no signal, no view for it).
    let out: Rc<RefCell<(Option<web_sys::Element>, String)>> = Rc::default();
    let o = out.clone();
    root.on_load(move |el| {
        let mut o = o.borrow_mut();
        el.set_inner_html(&o.1);
        o.0 = Some(el.into());
    });
    let hook = Object::new();
    crate::perf::publish("indicators", &hook);

    // One effect: the watched underlyings (acquire the new, release the gone, keep the order), then, whenever any
    // of their bars changed, every series synced (O(1) for the unchanged) and the body rebuilt.
    Effect::new(move |_| {
        let want = if active.get() {
            symbols.get()
        } else {
            Vec::new()
        };
        let mut held = std::mem::take(&mut *rows.borrow_mut());
        let mut next = Vec::new();
        for s in &want {
            match held.iter().position(|x| &x.symbol == s) {
                Some(i) => next.push(held.remove(i)),
                None => next.push(Row {
                    symbol: s.clone(),
                    handle: hub.acquire(s),
                    series: TFS.map(|tf| Series::new(tf, is_crypto(s))),
                }),
            }
        }
        for gone in held {
            hub.release(&gone.symbol);
        }
        let mut table = Vec::with_capacity(next.len());
        for row in &mut next {
            row.handle.version.track();
            let bars = row.handle.bars.borrow();
            let by_tf = Object::new();
            let mut readings = [None; 3];
            for (i, series) in row.series.iter_mut().enumerate() {
                series.sync(&bars);
                readings[i] = series.last().map(Reading::of);
                let _ = Reflect::set(
                    &by_tf,
                    &TFS[i].label().into(),
                    &reading_js(readings[i].as_ref()),
                );
            }
            let _ = Reflect::set(&hook, &row.symbol.as_str().into(), &by_tf);
            table.push((row.symbol.clone(), readings));
        }
        *rows.borrow_mut() = next;
        // Rounded for the eye, the table is often the same as the last frame's: then the DOM is left alone.
        let html = format!("{TABLE_HEAD}{}</tbody></table>", rows_html(&table));
        let mut o = out.borrow_mut();
        if html != o.1 {
            if let Some(el) = &o.0 {
                el.set_inner_html(&html);
            }
            o.1 = html;
        }
    });

    view! { <div class="panel indicators" id="indicators" node_ref=root></div> }
}

fn reading_js(r: Option<&Reading>) -> JsValue {
    let Some(r) = r else { return JsValue::NULL };
    let o = Object::new();
    for (k, v) in [
        ("t", Some(r.t as f64)),
        ("last", Some(r.last)),
        ("rsi", r.rsi),
        ("macd_hist", r.macd_hist),
        ("vwap_dist_pct", r.vwap_dist_pct),
        ("pct_b", r.pct_b),
        ("atr", r.atr),
    ] {
        let _ = Reflect::set(&o, &k.into(), &v.map_or(JsValue::NULL, JsValue::from_f64));
    }
    o.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickdesk_indicators::Bar;

    fn point(c: f64) -> Point {
        let mut p = tickdesk_indicators::Study::new().push(
            Bar {
                t: 0,
                o: c,
                h: c,
                l: c,
                c,
                v: 1.0,
            },
            true,
        );
        p.bar.c = c;
        p
    }

    #[test]
    fn readings_are_coloured_by_their_thresholds() {
        let mut p = point(101.0);
        p.vwap = Some(100.0);
        p.rsi = Some(71.0);
        p.macd_hist = Some(-0.2);
        p.bb_pct_b = Some(-0.1);
        let r = Reading::of(&p);
        assert!((r.vwap_dist_pct.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(classes(&r), ["hot", "neg", "pos", "cold"]);
        p.rsi = Some(29.0);
        p.macd_hist = Some(0.2);
        p.bb_pct_b = Some(0.5);
        p.vwap = Some(0.0);
        let r = Reading::of(&p);
        assert_eq!(r.vwap_dist_pct, None, "no VWAP to compare with");
        assert_eq!(classes(&r), ["cold", "pos", "", ""]);
        p.rsi = Some(50.0);
        p.bb_pct_b = Some(1.2);
        assert_eq!(classes(&Reading::of(&p))[..], ["", "pos", "", "hot"][..]);
    }

    #[test]
    fn the_body_has_a_row_per_symbol_and_timeframe_with_fields_and_classes() {
        let mut p = point(221.5);
        p.rsi = Some(75.25);
        p.vwap = Some(220.0);
        let html = rows_html(&[("AAPL".into(), [Some(Reading::of(&p)), None, None])]);
        assert_eq!(html.matches("<tr ").count(), 3);
        assert!(html.contains(
            r#"<tr data-symbol="AAPL" data-tf="1m"><td class="sym">AAPL</td><td>1m</td>"#
        ));
        assert!(
            html.contains(r#"<td class="num hot" data-field="rsi">75.3</td>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<td class="num pos" data-field="vwap_dist">+0.68%</td>"#),
            "{html}"
        );
        assert!(html.contains(r#"<td class="num " data-field="last">221.50</td>"#));
        assert!(html.contains(
            r#"data-tf="15m"><td class="sym"></td><td>15m</td><td class="num" colspan="6">"#
        ));
    }
}
