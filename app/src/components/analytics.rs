//! The Analytics tab: dealer gamma exposure by strike (bars, with the spot, the zero-gamma level, the walls and max
//! pain marked), the headline numbers, the IV term structure across expiries, the selected expiry's smile, and the
//! unusual-activity list, newest first. Plain SVG, no chart library. Everything reads the `analytics:{U}` and
//! `activity` topics: the relay computes, the browser only draws.

use std::fmt::Write;

use leptos::prelude::*;
use serde_json::Value;

use crate::components::chain::ChainState;
use crate::feed::Feed;
use crate::format::{
    fixed, num, or_dash, parse_decimal, sign_class, signed, thousands, trimmed, Dec,
};
use crate::model::TopicView;

const W: f64 = 600.0;
const H: f64 = 200.0;
const PAD_L: f64 = 52.0;
const PAD_R: f64 = 10.0;
const PAD_T: f64 = 16.0;
const PAD_B: f64 = 22.0;

/// `{strike: value}` as sorted points.
fn points(v: &Option<Value>) -> Vec<(f64, f64)> {
    let mut p: Vec<(f64, f64)> = v
        .as_ref()
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((parse_decimal(k)?, v.as_f64()?)))
                .collect()
        })
        .unwrap_or_default();
    crate::sort::sort_small_by(&mut p, |a, b| a.0 < b.0);
    p
}

/// Dollars in short form: 1.2bn, 35.4mm, 12.0k.
fn short_money(x: f64) -> String {
    let a = x.abs();
    let s = if a >= 1e9 {
        fixed(a / 1e9, 2) + "bn"
    } else if a >= 1e6 {
        fixed(a / 1e6, 1) + "mm"
    } else if a >= 1e3 {
        fixed(a / 1e3, 1) + "k"
    } else {
        fixed(a, 0)
    };
    if x < 0.0 {
        format!("−{s}")
    } else {
        s
    }
}

/// Linear scale from [lo, hi] to [a, b].
fn scale(lo: f64, hi: f64, a: f64, b: f64) -> impl Fn(f64) -> f64 + Copy {
    let span = if hi > lo { hi - lo } else { 1.0 };
    move |v| a + (v - lo) / span * (b - a)
}

/// What the tab shows: the analytics topic of the chain tab's underlying, watched only while the tab is open.
#[component]
pub fn AnalyticsView(
    feed: Feed,
    chain: ChainState,
    activity: TopicView,
    #[prop(into)] active: Signal<bool>,
) -> impl IntoView {
    let view_of = RwSignal::new(None::<(String, TopicView)>);
    let picked = RwSignal::new(None::<String>);
    let f = feed.clone();
    Effect::new(move |prev: Option<Option<String>>| {
        let topic = active
            .get()
            .then(|| chain.selected.get())
            .flatten()
            .map(|u| format!("analytics:{u}"));
        let old = prev.flatten();
        if old != topic {
            if let Some(old) = &old {
                f.unwatch(old);
            }
            view_of.set(topic.as_ref().map(|t| (t.clone(), f.watch(t))));
        }
        topic
    });
    let keys = move || view_of.with(|v| v.as_ref().map(|(_, v)| v.keys.get()).unwrap_or_default());
    // The picked expiry, else the nearest one.
    let item = Memo::new(move |_| {
        let k = keys();
        picked
            .get()
            .filter(|p| k.contains(p))
            .or_else(|| k.iter().find(|k| *k != "all").cloned())
    });
    let field = move |name: &'static str| {
        move || {
            let it = item.get()?;
            view_of.with(|v| v.as_ref().and_then(|(_, v)| v.cell(&it, name).value.get()))
        }
    };
    let n = move |name: &'static str| {
        let f = field(name);
        move || num(&f())
    };
    let stats = Memo::new(move |_| {
        let mut out = String::new();
        for (label, name, fmt) in STATS {
            let v = n(name)();
            let _ = write!(
                out,
                r#"<div class="stat" data-field="{name}"><span class="label">{}</span><span class="value {}">{}</span></div>"#,
                esc(label),
                if name == "gex" { sign_class(v) } else { "" },
                esc(&or_dash(v, fmt))
            );
        }
        out
    });
    let rest_picture = move || field("live")() == Some(Value::Bool(false));
    let gex = Memo::new(move |_| {
        gex_svg(
            &field("gex_by_strike")(),
            [
                ("spot", "spot", n("spot")()),
                ("zero-gamma", "0γ", n("zero_gamma")()),
                ("call-wall", "call wall", n("call_wall")()),
                ("put-wall", "put wall", n("put_wall")()),
                ("max-pain", "max pain", n("max_pain")()),
            ],
        )
    });
    let term = Memo::new(move |_| {
        let pts: Vec<(f64, f64, bool, String)> = view_of.with(|v| {
            let Some((_, v)) = v else { return Vec::new() };
            v.keys
                .get()
                .into_iter()
                .filter(|k| k != "all")
                .filter_map(|k| {
                    let dte = num(&v.cell(&k, "dte").value.get())?;
                    let iv = num(&v.cell(&k, "atm_iv").value.get())?;
                    let live = v.cell(&k, "live").value.get() == Some(Value::Bool(true));
                    Some((dte, iv, live, k))
                })
                .collect()
        });
        term_svg(&pts)
    });
    let smile = Memo::new(move |_| smile_svg(&field("smile")(), n("spot")()));
    view! {
        <div class="analytics">
            <div class="analytics-bar">
                <label>"Underlying "
                    <select id="analytics-underlying" on:change=move |ev| chain.selected.set(Some(event_target_value(&ev)))
                        inner_html=move || options(chain.symbols.get().into_iter().map(|s| (s.clone(), s)), chain.selected.get())>
                    </select>
                </label>
                <label>" Expiry "
                    <select id="analytics-expiry" on:change=move |ev| picked.set(Some(event_target_value(&ev)))
                        inner_html=move || options(keys().into_iter().map(|k| {
                            let label = if k == "all" { "all expiries".to_string() } else { k.clone() };
                            (k, label)
                        }), item.get())>
                    </select>
                </label>
                <span id="analytics-rest" class="badge rest" hidden=move || !rest_picture()
                    title="this expiry is not streamed: computed from the relay's REST picture, refreshed about every minute">"REST picture"</span>
            </div>
            <div class="stats" id="analytics-stats" inner_html=move || stats.get()></div>
            <div class="charts">
                {chart("chart gex", "Dealer gamma exposure by strike ($ per 1% move)", "gex-chart", "gamma exposure by strike", gex)}
                <div class="col">
                    {chart("chart term", "IV term structure (ATM, by days to expiry)", "term-chart", "IV term structure", term)}
                    {chart("chart smile", "Smile (OTM IV by strike)", "smile-chart", "volatility smile", smile)}
                </div>
            </div>
            <ActivityList activity=activity id="activity-table" />
        </div>
    }
}

/// The headline numbers: label, field, format.
/// How a headline number is shown.
type Fmt = fn(f64) -> String;

const STATS: [(&str, &str, Fmt); 12] = [
    ("Spot", "spot", |v| thousands(v, 2)),
    ("ATM IV", "atm_iv", |v| fixed(v, 2) + "%"),
    ("Exp. move", "expected_move", |v| {
        format!("±{}", fixed(v, 2))
    }),
    ("Max pain", "max_pain", |v| trimmed(v, 3)),
    ("P/C OI", "pc_oi", |v| fixed(v, 2)),
    ("P/C volume", "pc_volume", |v| fixed(v, 2)),
    ("GEX / 1%", "gex", short_money),
    ("Zero gamma", "zero_gamma", |v| thousands(v, 2)),
    ("Call wall", "call_wall", |v| trimmed(v, 3)),
    ("Put wall", "put_wall", |v| trimmed(v, 3)),
    ("25Δ RR", "rr25", |v| signed(v, 2)),
    ("25Δ fly", "bf25", |v| signed(v, 2)),
];

/// A select's options as markup, (value, label), the one equal to `selected` marked so.
pub(crate) fn options(
    list: impl Iterator<Item = (String, String)>,
    selected: Option<String>,
) -> String {
    let mut out = String::new();
    for (v, l) in list {
        let sel = if selected.as_deref() == Some(v.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<option value="{}"{sel}>{}</option>"#,
            esc(&v),
            esc(&l)
        );
    }
    out
}

/// Text for markup: `&`, `<`, `>` and `"` escaped (the labels are numbers and dates, but a key could be anything).
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The horizontal grid lines and their labels, at the left axis.
fn grid(out: &mut String, ticks: impl Iterator<Item = (f64, String)>) {
    for (y, l) in ticks {
        let _ = write!(
            out,
            r#"<line class="grid" x1="{}" x2="{}" y1="{y}" y2="{y}"/><text class="axis" x="{}" y="{}" text-anchor="end">{}</text>"#,
            Dec(PAD_L, 0),
            Dec(W - PAD_R, 0),
            Dec(PAD_L - 4.0, 0),
            Dec(y + 4.0, 1),
            esc(&l),
            y = Dec(y, 1),
        );
    }
}

/// A polyline through the points, `x,y` to one decimal.
fn polyline(out: &mut String, pts: impl Iterator<Item = (f64, f64)>) {
    let line = pts
        .map(|(x, y)| format!("{},{}", Dec(x, 1), Dec(y, 1)))
        .collect::<Vec<_>>()
        .join(" ");
    let _ = write!(out, r#"<polyline class="today" points="{line}"/>"#);
}

/// One chart: a figure, its caption and an SVG whose content is one derived string (one DOM write per change,
/// and one view type for every chart, where a view per bar, dot and label cost the bundle a great deal).
fn chart(
    class: &'static str,
    caption: &'static str,
    id: &'static str,
    label: &'static str,
    body: Memo<String>,
) -> impl IntoView {
    view! {
        <figure class=class>
            <figcaption>{caption}</figcaption>
            <svg id=id viewBox=format!("0 0 {} {}", Dec(W, 0), Dec(H, 0)) preserveAspectRatio="none" role="img" aria-label=label
                inner_html=move || body.get()></svg>
        </figure>
    }
}

/// GEX by strike: bars up (calls dominate) and down (puts), markers for spot, zero gamma, walls and max pain, given as
/// (class, label, level).
fn gex_svg(bars: &Option<Value>, marks: [(&str, &str, Option<f64>); 5]) -> String {
    let p = points(bars);
    let mut out = String::new();
    if p.is_empty() {
        return out;
    }
    let (lo, hi) = (p[0].0, p[p.len() - 1].0);
    let pad = ((hi - lo) / p.len() as f64).max(0.5);
    let x = scale(lo - pad, hi + pad, PAD_L, W - PAD_R);
    let m = p.iter().map(|(_, v)| v.abs()).fold(0.0, f64::max).max(1.0);
    let y = scale(-m, m, H - PAD_B, PAD_T);
    let bw = ((W - PAD_L - PAD_R) / (p.len() as f64 + 1.0) * 0.8).max(1.0);
    grid(
        &mut out,
        [-m, 0.0, m].into_iter().map(|v| (y(v), short_money(v))),
    );
    for (k, v) in &p {
        let up = *v >= 0.0;
        // Bars stand on the zero line: up for calls' exposure, down for puts'.
        let top = if up { y(*v) } else { y(0.0) };
        let h = (y(*v) - y(0.0)).abs().max(0.5);
        let _ = write!(
            out,
            r#"<rect class="bar {}" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>"#,
            if up { "pos" } else { "neg" },
            Dec(x(*k) - bw / 2.0, 1),
            Dec(top, 1),
            Dec(bw, 1),
            Dec(h, 1),
            trimmed(*k, 3),
            short_money(*v)
        );
    }
    let shown = marks.into_iter().filter_map(|(c, l, v)| {
        v.filter(|v| *v >= lo - pad && *v <= hi + pad)
            .map(|v| (c, l, x(v)))
    });
    for (i, (c, l, x)) in shown.enumerate() {
        let _ = write!(
            out,
            r#"<line class="mark {c}" data-mark="{c}" x1="{x}" x2="{x}" y1="{}" y2="{}"/><text class="mark-label {c}" x="{}" y="{}">{l}</text>"#,
            Dec(PAD_T, 0),
            Dec(H - PAD_B, 0),
            Dec(x + 3.0, 1),
            Dec(PAD_T - 4.0 + 10.0 * (i % 2) as f64, 0),
            x = Dec(x, 1),
        );
    }
    out
}

/// ATM IV by days to expiry, over every expiry the relay holds, as (days, IV, streamed, expiry); hollow points are
/// REST pictures.
fn term_svg(pts: &[(f64, f64, bool, String)]) -> String {
    let mut out = String::new();
    if pts.is_empty() {
        polyline(&mut out, std::iter::empty());
        return out;
    }
    let (dlo, dhi) = pts
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (ilo, ihi) = pts
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let pad = ((ihi - ilo) * 0.15).max(0.5);
    let x = scale(dlo, dhi.max(dlo + 1.0), PAD_L, W - PAD_R);
    let y = scale(ilo - pad, ihi + pad, H - PAD_B, PAD_T);
    grid(
        &mut out,
        [ilo - pad, (ilo + ihi) / 2.0, ihi + pad]
            .into_iter()
            .map(|v| (y(v), fixed(v, 1) + "%")),
    );
    polyline(&mut out, pts.iter().map(|p| (x(p.0), y(p.1))));
    for (d, iv, live, k) in pts {
        let _ = write!(
            out,
            r#"<circle class="pt {}" cx="{}" cy="{}" r="4"><title>{} ({} d): {}%{}</title></circle>"#,
            if *live { "live" } else { "rest" },
            Dec(x(*d), 1),
            Dec(y(*iv), 1),
            esc(k),
            trimmed(*d, 0),
            Dec(*iv, 2),
            if *live { "" } else { ", REST picture" }
        );
    }
    out
}

/// The selected expiry's smile: out-of-the-money IV by strike, the spot marked.
fn smile_svg(smile: &Option<Value>, spot: Option<f64>) -> String {
    let p = points(smile);
    let mut out = String::new();
    if p.len() < 2 {
        polyline(&mut out, std::iter::empty());
        return out;
    }
    let (lo, hi) = (p[0].0, p[p.len() - 1].0);
    let (ilo, ihi) = p
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), q| (a.min(q.1), b.max(q.1)));
    let pad = ((ihi - ilo) * 0.1).max(0.5);
    let x = scale(lo, hi, PAD_L, W - PAD_R);
    let y = scale(ilo - pad, ihi + pad, H - PAD_B, PAD_T);
    grid(
        &mut out,
        [ilo - pad, ihi + pad]
            .into_iter()
            .map(|v| (y(v), fixed(v, 1) + "%")),
    );
    polyline(&mut out, p.iter().map(|q| (x(q.0), y(q.1))));
    if let Some(s) = spot.filter(|s| *s >= lo && *s <= hi).map(x) {
        let _ = write!(
            out,
            r#"<line class="mark spot" x1="{s}" x2="{s}" y1="{}" y2="{}"/>"#,
            Dec(PAD_T, 0),
            Dec(H - PAD_B, 0),
            s = Dec(s, 1),
        );
    }
    out
}

/// How many activity events the list shows.
const SHOWN: usize = 40;

/// Unusual options activity, newest first.
#[component]
pub fn ActivityList(activity: TopicView, id: &'static str) -> impl IntoView {
    let keys = activity.keys.clone();
    let newest = move || keys.get().into_iter().rev().take(SHOWN).collect::<Vec<_>>();
    view! {
        <div class="activity">
            <h3>"Unusual activity"</h3>
            <table id=id class="compact activity-table">
                <thead><tr><th>"Time"</th><th>"Symbol"</th><th>"Contract"</th><th>"Why"</th><th class="num">"Volume"</th><th class="num">"OI"</th><th class="num">"Vol/OI"</th><th class="num">"Mark"</th></tr></thead>
                <tbody>
                    <For each=newest key=|k| k.clone() children=move |id| {
                        let c = |f: &str| activity.cell(&id, f).value;
                        let (t, sym, side, strike, exp, why, vol, oi, ratio, mark) = (c("time"), c("symbol"), c("side"), c("strike"), c("expiry"), c("reason"), c("volume"), c("open_interest"), c("ratio"), c("mark"));
                        let s = |v: ArcRwSignal<Option<Value>>| move || match v.get() { Some(Value::String(s)) => s, Some(Value::Number(n)) => n.to_string(), _ => "—".into() };
                        let side_class = { let side = side.clone(); move || format!("side {}", if side.get() == Some(Value::String("CALL".into())) { "buy" } else { "sell" }) };
                        let contract = move || format!("{} {} {}", exp.get().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(), num(&strike.get()).map(|k| trimmed(k, 3)).unwrap_or_default(), side.get().and_then(|v| v.as_str().map(String::from)).unwrap_or_default());
                        let why = move || match why.get().as_ref().and_then(Value::as_str) { Some("volume_over_oi") => "vol > OI", Some("volume_jump") => "rate jump", _ => "" };
                        view! {
                            <tr data-activity=id.clone()>
                                <td>{move || crate::components::tape::time_of(t.get())}</td>
                                <td class="sym">{s(sym)}</td>
                                <td class=side_class>{contract}</td>
                                <td>{why}</td>
                                <td class="num">{move || or_dash(num(&vol.get()), |v| thousands(v, 0))}</td>
                                <td class="num">{move || or_dash(num(&oi.get()), |v| thousands(v, 0))}</td>
                                <td class="num">{move || or_dash(num(&ratio.get()), |v| fixed(v, 2))}</td>
                                <td class="num">{s(mark)}</td>
                            </tr>
                        }
                    } />
                </tbody>
            </table>
        </div>
    }
}
