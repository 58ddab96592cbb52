//! Crypto prices from the relay's `crypto` topic (Binance, or its simulator): last, bid/ask, 24 h change and volume,
//! each ticking with the up/down flash, and a per-symbol staleness badge. The relay decides `stale` (no update from
//! Binance for a while), because only it sees the upstream; the header chip says which source feeds it.

use leptos::prelude::*;
use serde_json::Value;

use crate::components::rates::Num;
use crate::format::{signed, thousands};
use crate::model::TopicView;

/// Prices across magnitudes: `97,123.45`, `182.125`, `0.35012`.
fn price(x: f64) -> String {
    let decimals = match x.abs() {
        a if a >= 100.0 => 2,
        a if a >= 1.0 => 3,
        _ => 5,
    };
    thousands(x, decimals)
}

fn pct(x: f64) -> String {
    let mut s = signed(x, 2);
    s.push('%');
    s
}

fn volume(x: f64) -> String {
    thousands(x, 0)
}

/// One row per symbol. A click on a symbol opens its chart: it becomes the chart's symbol and the Chart tab opens.
#[component]
pub fn CryptoPanel(crypto: TopicView, chart: RwSignal<Option<String>>) -> impl IntoView {
    let keys = crypto.keys.clone();
    view! {
        <table id="crypto-table" class="compact">
            <thead><tr>
                <th>"Symbol"</th><th class="num">"Last"</th><th class="num">"Bid"</th><th class="num">"Ask"</th>
                <th class="num">"24h"</th><th class="num">"Volume 24h"</th><th></th>
            </tr></thead>
            <tbody>
                <For each=move || keys.get() key=|k| k.clone() children=move |sym| {
                    let v = crypto.clone();
                    let stale = v.cell(&sym, "stale").value;
                    let is_stale = Signal::derive(move || {
                        stale.get().as_ref().and_then(Value::as_bool).unwrap_or(false)
                    });
                    let c = |f: &'static str, fmt: fn(f64) -> String, colour: bool| {
                        view! { <Num view=v.clone() item=sym.clone() field=f fmt=fmt colour=colour /> }
                    };
                    let pick = sym.clone();
                    view! {
                        <tr data-crypto=sym.clone() data-stale=move || is_stale.get().to_string() class:stale=move || is_stale.get()>
                            <td><button type="button" class="link" title="open the chart"
                                on:click=move |_| {
                                    chart.set(Some(pick.clone()));
                                    if let Some(w) = web_sys::window() {
                                        let _ = w.location().set_hash("#chart");
                                    }
                                }>{sym.clone()}</button></td>
                            {c("last", price, false)}
                            {c("bid", price, false)}
                            {c("ask", price, false)}
                            {c("change_pct", pct, true)}
                            {c("volume", volume, false)}
                            <td><span class="badge stale-badge" hidden=move || !is_stale.get()>"stale"</span></td>
                        </tr>
                    }
                } />
            </tbody>
        </table>
    }
}
