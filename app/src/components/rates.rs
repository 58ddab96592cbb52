//! The rates blotter: the curve as an SVG chart (today vs prior close), spreads, positions and the PnL summary.
//! Every number is its own signal; a tick re-renders only what moved.

use leptos::prelude::*;

use std::fmt::Write;

use crate::format::{fixed, mm, num, or_dash, sign_class, signed, signed_money, thousands, Dec};
use crate::model::{Cell, TopicView};

/// Chart geometry: a 600×220 viewBox, scaled to the panel's width by CSS.
const W: f64 = 600.0;
const H: f64 = 220.0;
const PAD_L: f64 = 44.0;
const PAD_R: f64 = 12.0;
const PAD_T: f64 = 12.0;
const PAD_B: f64 = 26.0;
use tickdesk_wire::topics::CURVE_TENORS as TENORS;

/// x on a log scale of maturity, so the front end is not crushed.
fn x_of(years: f64) -> f64 {
    let (lo, hi) = ((1.0f64 / 12.0).ln(), 30f64.ln());
    PAD_L + (years.ln() - lo) / (hi - lo) * (W - PAD_L - PAD_R)
}

/// The curve chart. Points are computed from the 22 yield cells (today and prior close).
#[component]
pub fn CurveChart(curve: TopicView) -> impl IntoView {
    let cells: Vec<_> = TENORS
        .iter()
        .map(|(t, y)| (*y, curve.cell(t, "yield"), curve.cell(t, "prior_close")))
        .collect();
    let geometry = Memo::new(move |_| {
        let today: Vec<(f64, f64)> = cells
            .iter()
            .filter_map(|(y, c, _)| num(&c.value.get()).map(|v| (*y, v)))
            .collect();
        let prior: Vec<(f64, f64)> = cells
            .iter()
            .filter_map(|(y, _, p)| num(&p.value.get()).map(|v| (*y, v)))
            .collect();
        let all = today.iter().chain(prior.iter()).map(|p| p.1);
        let (mut lo, mut hi) = all.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        if lo > hi {
            (lo, hi) = (0.0, 1.0);
        }
        let pad = ((hi - lo) * 0.1).max(0.02);
        (lo, hi) = (lo - pad, hi + pad);
        let y_of = move |v: f64| PAD_T + (hi - v) / (hi - lo) * (H - PAD_T - PAD_B);
        let pts = |s: &[(f64, f64)]| {
            s.iter()
                .map(|(x, v)| format!("{},{}", Dec(x_of(*x), 1), Dec(y_of(*v), 1)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        // The grid, its labels and the tenor labels as one markup string: one DOM write per change, and no view
        // type per line and label (each costs the bundle its own rendering code).
        let mut axes = String::new();
        for i in 0..=4 {
            let v = lo + (hi - lo) * f64::from(i) / 4.0;
            let y = y_of(v);
            let _ = write!(
                axes,
                r#"<line class="grid" x1="{}" x2="{}" y1="{y}" y2="{y}"/><text class="axis" x="{}" y="{}" text-anchor="end">{}</text>"#,
                Dec(PAD_L, 0),
                Dec(W - PAD_R, 0),
                Dec(PAD_L - 6.0, 0),
                Dec(y + 4.0, 1),
                fixed(v, 2),
                y = Dec(y, 1),
            );
        }
        for (t, years) in TENORS {
            let _ = write!(
                axes,
                r#"<text class="axis" x="{}" y="{}" text-anchor="middle">{t}</text>"#,
                Dec(x_of(years), 1),
                Dec(H - 8.0, 0),
            );
        }
        (pts(&today), pts(&prior), axes)
    });
    view! {
        <svg id="curve-chart" class="curve-chart" viewBox=format!("0 0 {} {}", Dec(W, 0), Dec(H, 0)) preserveAspectRatio="none" role="img" aria-label="yield curve, today and prior close">
            <g class="axes" inner_html=move || geometry.get().2></g>
            <polyline class="prior" points=move || geometry.get().1 />
            <polyline id="curve-today" class="today" points=move || geometry.get().0 />
        </svg>
        <div class="legend"><span class="today-key">"today"</span><span class="prior-key">"prior close"</span></div>
    }
}

/// One live numeric cell with a flash on change.
#[component]
pub fn Num(
    view: TopicView,
    item: String,
    field: &'static str,
    fmt: fn(f64) -> String,
    #[prop(optional)] colour: bool,
) -> impl IntoView {
    let Cell { value, flash } = view.cell(&item, field);
    let v2 = value.clone();
    let class = move || {
        let v = num(&value.get());
        let tone = if colour { sign_class(v) } else { "" };
        format!("num {field} {tone} {}", flash.get().class())
    };
    view! { <td class=class>{move || or_dash(num(&v2.get()), fmt)}</td> }
}

/// A live text cell.
#[component]
pub fn Text(view: TopicView, item: String, field: &'static str) -> impl IntoView {
    let value = view.cell(&item, field).value;
    view! {
        <td class=field>{move || value.get().map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string())).unwrap_or_default()}</td>
    }
}

fn f3(x: f64) -> String {
    fixed(x, 3)
}
fn bp1(x: f64) -> String {
    signed(x, 1)
}
fn money0(x: f64) -> String {
    thousands(x, 0)
}

#[component]
pub fn Spreads(spreads: TopicView) -> impl IntoView {
    let item = |name: &'static str| {
        let (a, b) = (spreads.clone(), spreads.clone());
        view! {
            <tr data-spread=name><td>{name}</td>
                <Num view=a item=name.to_string() field="bp" fmt=|x| fixed(x, 1) />
                <Num view=b item=name.to_string() field="chg_bp" fmt=bp1 colour=true />
            </tr>
        }
    };
    view! {
        <table id="spreads-table" class="compact">
            <thead><tr><th>"Spread"</th><th class="num">"bp"</th><th class="num">"Chg"</th></tr></thead>
            <tbody>{item("2s10s")}{item("5s30s")}{item("2s5s10s")}</tbody>
        </table>
    }
}

#[component]
pub fn Positions(positions: TopicView) -> impl IntoView {
    let keys = positions.keys.clone();
    view! {
        <table id="positions-table">
            <thead><tr>
                <th>"Instrument"</th><th>"Bucket"</th><th class="num">"Notional"</th><th class="num">"Price"</th>
                <th class="num">"Yield %"</th><th class="num">"DV01"</th><th class="num">"Day PnL"</th><th class="num">"Total PnL"</th>
            </tr></thead>
            <tbody>
                <For each=move || keys.get() key=|k| k.clone() children=move |id| {
                    let v = positions.clone();
                    let c = |f: &'static str, fmt: fn(f64) -> String, colour: bool| {
                        view! { <Num view=v.clone() item=id.clone() field=f fmt=fmt colour=colour /> }
                    };
                    view! {
                        <tr data-position=id.clone()>
                            <Text view=v.clone() item=id.clone() field="description" />
                            <Text view=v.clone() item=id.clone() field="bucket" />
                            {c("notional", mm, false)}
                            {c("price", f3, false)}
                            {c("yield", f3, false)}
                            {c("dv01", money0, false)}
                            {c("day_pnl", signed_money, true)}
                            {c("total_pnl", signed_money, true)}
                        </tr>
                    }
                } />
            </tbody>
        </table>
    }
}

#[component]
pub fn PnlSummary(pnl: TopicView) -> impl IntoView {
    let rows = std::iter::once(("total".to_string(), "Total".to_string()))
        .chain(TENORS.iter().map(|(t, _)| (format!("bucket:{t}"), t.to_string())))
        .map(|(item, label)| {
            let v = pnl.clone();
            let c = |f: &'static str, fmt: fn(f64) -> String, colour: bool| view! { <Num view=v.clone() item=item.clone() field=f fmt=fmt colour=colour /> };
            let class = if item == "total" { "total" } else { "" };
            view! {
                <tr data-pnl=item.clone() class=class>
                    <td>{label}</td>
                    {c("day_pnl", signed_money, true)}
                    {c("total_pnl", signed_money, true)}
                    {c("dv01", money0, false)}
                    {c("explain_pnl", signed_money, true)}
                    {c("residual", signed_money, true)}
                </tr>
            }
        })
        .collect_view();
    view! {
        <table id="pnl-table">
            <thead><tr>
                <th>"Bucket"</th><th class="num">"Day PnL"</th><th class="num">"Total PnL"</th><th class="num">"DV01"</th>
                <th class="num" title="−DV01 × Δy per bucket">"Explain"</th><th class="num" title="full revaluation − explain (convexity)">"Residual"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}
