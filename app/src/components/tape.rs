//! The signals & trades tape: newest first, the fields of the payloads bots publish, with time.

use leptos::prelude::*;
use serde_json::Value;

use crate::model::TopicView;

/// A tape row's text for one field.
fn text(v: Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// A trade's quantity: in millions from a million up, like the positions (the rates desk's tickets are notionals
/// such as 75,000,000), else as it came.
fn quantity(v: Option<Value>) -> String {
    match v.as_ref().and_then(Value::as_f64) {
        Some(q) => crate::format::quantity(q),
        None => text(v),
    }
}

/// Shows an epoch-ms or RFC 3339 timestamp as local HH:MM:SS.
pub fn time_of(v: Option<Value>) -> String {
    let ms = match &v {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => Some(js_sys::Date::parse(s)).filter(|x| x.is_finite()),
        _ => None,
    };
    match ms {
        Some(ms) => {
            let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
            format!(
                "{:02}:{:02}:{:02}",
                d.get_hours(),
                d.get_minutes(),
                d.get_seconds()
            )
        }
        None => text(v),
    }
}

/// How many events each list shows.
const SHOWN: usize = 60;

#[component]
pub fn Tape(signals: TopicView, trades: TopicView) -> impl IntoView {
    let (skeys, tkeys) = (signals.keys.clone(), trades.keys.clone());
    let newest = |keys: ArcRwSignal<Vec<String>>| {
        move || keys.get().into_iter().rev().take(SHOWN).collect::<Vec<_>>()
    };
    view! {
        <div class="tape">
            <div>
                <h3>"Signals"</h3>
                <table id="signals-table" class="compact">
                    <thead><tr><th>"Time"</th><th>"Symbol"</th><th>"Signal"</th><th class="num">"Price"</th><th class="num">"Conf."</th></tr></thead>
                    <tbody>
                        <For each=newest(skeys) key=|k| k.clone() children=move |id| {
                            let c = |f: &str| signals.cell(&id, f).value;
                            let (ts, sym, kind, px, conf) = (c("timestamp"), c("symbol"), c("signal_type"), c("price"), c("confidence"));
                            let side = {
                                let kind = kind.clone();
                                move || text(kind.get()).to_ascii_lowercase()
                            };
                            view! {
                                <tr data-signal=id.clone()>
                                    <td>{move || time_of(ts.get())}</td>
                                    <td class="sym">{move || text(sym.get())}</td>
                                    <td class=move || format!("side {}", side())>{move || text(kind.get())}</td>
                                    <td class="num">{move || text(px.get())}</td>
                                    <td class="num">{move || text(conf.get())}</td>
                                </tr>
                            }
                        } />
                    </tbody>
                </table>
            </div>
            <div>
                <h3>"Trades"</h3>
                <table id="trades-table" class="compact">
                    <thead><tr><th>"Time"</th><th>"Symbol"</th><th>"Side"</th><th class="num">"Qty"</th><th class="num">"Price"</th></tr></thead>
                    <tbody>
                        <For each=newest(tkeys) key=|k| k.clone() children=move |id| {
                            let c = |f: &str| trades.cell(&id, f).value;
                            let (ts, sym, side, qty, px) = (c("timestamp"), c("symbol"), c("side"), c("quantity"), c("price"));
                            let side_class = {
                                let side = side.clone();
                                move || format!("side {}", text(side.get()).to_ascii_lowercase())
                            };
                            view! {
                                <tr data-trade=id.clone()>
                                    <td>{move || time_of(ts.get())}</td>
                                    <td class="sym">{move || text(sym.get())}</td>
                                    <td class=side_class>{move || text(side.get())}</td>
                                    <td class="num">{move || quantity(qty.get())}</td>
                                    <td class="num">{move || text(px.get())}</td>
                                </tr>
                            }
                        } />
                    </tbody>
                </table>
            </div>
        </div>
    }
}
