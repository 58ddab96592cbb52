//! The Analytics tab: dealer gamma exposure by strike (bars, with the spot, the zero-gamma level, the walls and max
//! pain marked), the headline numbers, the IV term structure across expiries, the selected expiry's smile, and the
//! unusual-activity list, newest first. Plain SVG, no chart library. Everything reads the `analytics:{U}` and
//! `activity` topics: the relay computes, the browser only draws.

use leptos::prelude::*;
use serde_json::Value;

use crate::components::chain::ChainState;
use crate::feed::Feed;
use crate::format::{num, or_dash, sign_class, thousands};
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
                .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_f64()?)))
                .collect()
        })
        .unwrap_or_default();
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    p
}

/// Dollars in short form: 1.2bn, 35.4mm, 12.0k.
fn short_money(x: f64) -> String {
    let a = x.abs();
    let s = if a >= 1e9 {
        format!("{:.2}bn", a / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}mm", a / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", a / 1e3)
    } else {
        format!("{a:.0}")
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
    let stat = move |label: &'static str, name: &'static str, fmt: fn(f64) -> String| {
        let v = n(name);
        view! {
            <div class="stat" data-field=name>
                <span class="label">{label}</span>
                <span class=move || format!("value {}", if name == "gex" { sign_class(v()) } else { "" })>{move || or_dash(v(), fmt)}</span>
            </div>
        }
    };
    let rest_picture = move || field("live")() == Some(Value::Bool(false));
    view! {
        <div class="analytics">
            <div class="analytics-bar">
                <label>"Underlying "
                    <select id="analytics-underlying" on:change=move |ev| chain.selected.set(Some(event_target_value(&ev)))>
                        {move || chain.symbols.get().into_iter().map(|s| {
                            let sel = chain.selected.get().as_deref() == Some(s.as_str());
                            view! { <option value=s.clone() selected=sel>{s.clone()}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <label>" Expiry "
                    <select id="analytics-expiry" on:change=move |ev| picked.set(Some(event_target_value(&ev)))>
                        {move || keys().into_iter().map(|k| {
                            let sel = item.get().as_deref() == Some(k.as_str());
                            let label = if k == "all" { "all expiries".to_string() } else { k.clone() };
                            view! { <option value=k selected=sel>{label}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <span id="analytics-rest" class="badge rest" hidden=move || !rest_picture()
                    title="this expiry is not streamed: computed from the relay's REST picture, refreshed about every minute">"REST picture"</span>
            </div>
            <div class="stats" id="analytics-stats">
                {stat("Spot", "spot", |v| thousands(v, 2))}
                {stat("ATM IV", "atm_iv", |v| format!("{v:.2}%"))}
                {stat("Exp. move", "expected_move", |v| format!("±{v:.2}"))}
                {stat("Max pain", "max_pain", |v| format!("{v}"))}
                {stat("P/C OI", "pc_oi", |v| format!("{v:.2}"))}
                {stat("P/C volume", "pc_volume", |v| format!("{v:.2}"))}
                {stat("GEX / 1%", "gex", short_money)}
                {stat("Zero gamma", "zero_gamma", |v| thousands(v, 2))}
                {stat("Call wall", "call_wall", |v| format!("{v}"))}
                {stat("Put wall", "put_wall", |v| format!("{v}"))}
                {stat("25Δ RR", "rr25", |v| format!("{v:+.2}"))}
                {stat("25Δ fly", "bf25", |v| format!("{v:+.2}"))}
            </div>
            <div class="charts">
                <GexChart bars=Signal::derive(field("gex_by_strike")) spot=Signal::derive(n("spot"))
                    zero=Signal::derive(n("zero_gamma")) call_wall=Signal::derive(n("call_wall"))
                    put_wall=Signal::derive(n("put_wall")) max_pain=Signal::derive(n("max_pain")) />
                <div class="col">
                    <TermChart view=view_of />
                    <SmileChart smile=Signal::derive(field("smile")) spot=Signal::derive(n("spot")) />
                </div>
            </div>
            <ActivityList activity=activity id="activity-table" />
        </div>
    }
}

/// GEX by strike: bars up (calls dominate) and down (puts), markers for spot, zero gamma, walls and max pain.
#[component]
fn GexChart(
    bars: Signal<Option<Value>>,
    spot: Signal<Option<f64>>,
    zero: Signal<Option<f64>>,
    call_wall: Signal<Option<f64>>,
    put_wall: Signal<Option<f64>>,
    max_pain: Signal<Option<f64>>,
) -> impl IntoView {
    let geometry = Memo::new(move |_| {
        let p = points(&bars.get());
        if p.is_empty() {
            return (Vec::new(), Vec::new(), Vec::new());
        }
        let (lo, hi) = (p[0].0, p[p.len() - 1].0);
        let pad = ((hi - lo) / p.len() as f64).max(0.5);
        let x = scale(lo - pad, hi + pad, PAD_L, W - PAD_R);
        let m = p.iter().map(|(_, v)| v.abs()).fold(0.0, f64::max).max(1.0);
        let y = scale(-m, m, H - PAD_B, PAD_T);
        let bw = ((W - PAD_L - PAD_R) / (p.len() as f64 + 1.0) * 0.8).max(1.0);
        let rects: Vec<(f64, f64, f64, f64, bool, String)> = p
            .iter()
            .map(|(k, v)| {
                let up = *v >= 0.0;
                // Bars stand on the zero line: up for calls' exposure, down for puts'.
                let top = if up { y(*v) } else { y(0.0) };
                let h = (y(*v) - y(0.0)).abs().max(0.5);
                (
                    x(*k) - bw / 2.0,
                    top,
                    bw,
                    h,
                    up,
                    format!("{k}: {}", short_money(*v)),
                )
            })
            .collect();
        let marks: Vec<(&'static str, &'static str, f64)> = [
            ("spot", "spot", spot.get()),
            ("zero-gamma", "0γ", zero.get()),
            ("call-wall", "call wall", call_wall.get()),
            ("put-wall", "put wall", put_wall.get()),
            ("max-pain", "max pain", max_pain.get()),
        ]
        .into_iter()
        .filter_map(|(c, l, v)| {
            v.filter(|v| *v >= lo - pad && *v <= hi + pad)
                .map(|v| (c, l, x(v)))
        })
        .collect();
        let ticks: Vec<(f64, String)> = [-m, 0.0, m]
            .iter()
            .map(|v| (y(*v), short_money(*v)))
            .collect();
        (rects, marks, ticks)
    });
    view! {
        <figure class="chart gex">
            <figcaption>"Dealer gamma exposure by strike ($ per 1% move)"</figcaption>
            <svg id="gex-chart" viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none" role="img" aria-label="gamma exposure by strike">
                {move || geometry.get().2.into_iter().map(|(y, l)| view! {
                    <line class="grid" x1=PAD_L x2=W - PAD_R y1=y y2=y />
                    <text class="axis" x=PAD_L - 4.0 y=y + 4.0 text-anchor="end">{l}</text>
                }).collect_view()}
                {move || geometry.get().0.into_iter().map(|(x, y, w, h, up, t)| view! {
                    <rect class=if up { "bar pos" } else { "bar neg" } x=x y=y width=w height=h><title>{t}</title></rect>
                }).collect_view()}
                {move || geometry.get().1.into_iter().enumerate().map(|(i, (c, l, x))| view! {
                    <line class=format!("mark {c}") data-mark=c x1=x x2=x y1=PAD_T y2=H - PAD_B />
                    <text class=format!("mark-label {c}") x=x + 3.0 y=PAD_T - 4.0 + 10.0 * (i % 2) as f64>{l}</text>
                }).collect_view()}
            </svg>
        </figure>
    }
}

/// ATM IV by days to expiry, over every expiry the relay holds; hollow points are REST pictures.
#[component]
fn TermChart(view: RwSignal<Option<(String, TopicView)>>) -> impl IntoView {
    let geometry = Memo::new(move |_| {
        let pts: Vec<(f64, f64, bool, String)> = view.with(|v| {
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
        if pts.is_empty() {
            return (String::new(), Vec::new(), Vec::new());
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
        let line = pts
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.0), y(p.1)))
            .collect::<Vec<_>>()
            .join(" ");
        let dots = pts
            .iter()
            .map(|p| {
                (
                    x(p.0),
                    y(p.1),
                    p.2,
                    format!(
                        "{} ({} d): {:.2}%{}",
                        p.3,
                        p.0,
                        p.1,
                        if p.2 { "" } else { ", REST picture" }
                    ),
                )
            })
            .collect();
        let ticks = [ilo - pad, (ilo + ihi) / 2.0, ihi + pad]
            .iter()
            .map(|v| (y(*v), format!("{v:.1}%")))
            .collect();
        (line, dots, ticks)
    });
    view! {
        <figure class="chart term">
            <figcaption>"IV term structure (ATM, by days to expiry)"</figcaption>
            <svg id="term-chart" viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none" role="img" aria-label="IV term structure">
                {move || geometry.get().2.into_iter().map(|(y, l)| view! {
                    <line class="grid" x1=PAD_L x2=W - PAD_R y1=y y2=y />
                    <text class="axis" x=PAD_L - 4.0 y=y + 4.0 text-anchor="end">{l}</text>
                }).collect_view()}
                <polyline class="today" points=move || geometry.get().0 />
                {move || geometry.get().1.into_iter().map(|(x, y, live, t)| view! {
                    <circle class=if live { "pt live" } else { "pt rest" } cx=x cy=y r=4><title>{t}</title></circle>
                }).collect_view()}
            </svg>
        </figure>
    }
}

/// The selected expiry's smile: out-of-the-money IV by strike, the spot marked.
#[component]
fn SmileChart(smile: Signal<Option<Value>>, spot: Signal<Option<f64>>) -> impl IntoView {
    let geometry = Memo::new(move |_| {
        let p = points(&smile.get());
        if p.len() < 2 {
            return (String::new(), None, Vec::new());
        }
        let (lo, hi) = (p[0].0, p[p.len() - 1].0);
        let (ilo, ihi) = p
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), q| (a.min(q.1), b.max(q.1)));
        let pad = ((ihi - ilo) * 0.1).max(0.5);
        let x = scale(lo, hi, PAD_L, W - PAD_R);
        let y = scale(ilo - pad, ihi + pad, H - PAD_B, PAD_T);
        let line = p
            .iter()
            .map(|q| format!("{:.1},{:.1}", x(q.0), y(q.1)))
            .collect::<Vec<_>>()
            .join(" ");
        let s = spot.get().filter(|s| *s >= lo && *s <= hi).map(x);
        let ticks = [ilo - pad, ihi + pad]
            .iter()
            .map(|v| (y(*v), format!("{v:.1}%")))
            .collect();
        (line, s, ticks)
    });
    view! {
        <figure class="chart smile">
            <figcaption>"Smile (OTM IV by strike)"</figcaption>
            <svg id="smile-chart" viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none" role="img" aria-label="volatility smile">
                {move || geometry.get().2.into_iter().map(|(y, l)| view! {
                    <line class="grid" x1=PAD_L x2=W - PAD_R y1=y y2=y />
                    <text class="axis" x=PAD_L - 4.0 y=y + 4.0 text-anchor="end">{l}</text>
                }).collect_view()}
                <polyline class="today" points=move || geometry.get().0 />
                {move || geometry.get().1.map(|x| view! { <line class="mark spot" x1=x x2=x y1=PAD_T y2=H - PAD_B /> })}
            </svg>
        </figure>
    }
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
                        let contract = move || format!("{} {} {}", exp.get().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(), num(&strike.get()).map(|k| k.to_string()).unwrap_or_default(), side.get().and_then(|v| v.as_str().map(String::from)).unwrap_or_default());
                        let why = move || match why.get().as_ref().and_then(Value::as_str) { Some("volume_over_oi") => "vol > OI", Some("volume_jump") => "rate jump", _ => "" };
                        view! {
                            <tr data-activity=id.clone()>
                                <td>{move || crate::components::tape::time_of(t.get())}</td>
                                <td class="sym">{s(sym)}</td>
                                <td class=side_class>{contract}</td>
                                <td>{why}</td>
                                <td class="num">{move || or_dash(num(&vol.get()), |v| thousands(v, 0))}</td>
                                <td class="num">{move || or_dash(num(&oi.get()), |v| thousands(v, 0))}</td>
                                <td class="num">{move || or_dash(num(&ratio.get()), |v| format!("{v:.2}"))}</td>
                                <td class="num">{s(mark)}</td>
                            </tr>
                        }
                    } />
                </tbody>
            </table>
        </div>
    }
}
