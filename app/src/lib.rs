//! The tickdesk app: a Leptos (client-side rendered) desk fed by one websocket to the relay.
//!
//! # Layout
//! - [`feed`]: the connection (reconnect, resume, pause, staleness) and per-frame batching into the model.
//! - [`model`]: per-cell signals, so a tick re-renders only the cells it changes.
//! - [`components`]: the views, one per file.

pub mod components;
pub mod feed;
pub mod format;
pub mod model;

use std::collections::BTreeMap;

use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use components::curve_table::CurveTable;
use components::error_log::ErrorLog;
use components::indicator::Indicator;
use components::rates::{CurveChart, PnlSummary, Positions, Spreads};
use components::status::{Panel, SourceStatus};
use components::tape::Tape;
use feed::Feed;
use model::TopicView;

/// The topics the desk watches, and the view model of each.
fn views() -> BTreeMap<String, TopicView> {
    [
        "curve",
        "spreads",
        "positions",
        "pnl",
        "signals",
        "trades",
        "status",
    ]
    .into_iter()
    .map(|t| (t.to_string(), TopicView::default()))
    .collect()
}

/// The whole desk, connected to `url`.
#[component]
pub fn App(url: String) -> impl IntoView {
    let views = views();
    let feed = Feed::start(url.clone(), views.clone());
    let v = |t: &str| views[t].clone();
    let (curve, spreads, positions, pnl) = (v("curve"), v("spreads"), v("positions"), v("pnl"));
    let (signals, trades, status) = (v("signals"), v("trades"), v("status"));
    install_keys(feed.clone());
    let s = feed.signals;
    view! {
        <header class="topbar">
            <h1>"tickdesk"</h1>
            <Indicator feed=feed.clone() />
            <SourceStatus status=status />
            <span class="relay-url" title="relay">{url}</span>
        </header>
        <main class="desk">
            <div class="col">
                <Panel title="Yield curve" topic="curve" signals=s>
                    <CurveChart curve=curve.clone() />
                    <CurveTable view=curve />
                </Panel>
                <Panel title="Spreads" topic="spreads" signals=s>
                    <Spreads spreads=spreads />
                </Panel>
            </div>
            <div class="col wide">
                <Panel title="PnL by bucket" topic="pnl" signals=s>
                    <PnlSummary pnl=pnl />
                </Panel>
                <Panel title="Positions" topic="positions" signals=s>
                    <Positions positions=positions />
                </Panel>
                <Panel title="Signals & trades" topic="trades" signals=s stale_after_ms=f64::INFINITY>
                    <Tape signals=signals trades=trades />
                </Panel>
                <ErrorLog signals=s />
            </div>
        </main>
    }
}

/// Space pauses/resumes, unless the user is typing in a field.
fn install_keys(feed: Feed) {
    let Some(w) = web_sys::window() else { return };
    let cb =
        Closure::<dyn FnMut(web_sys::KeyboardEvent)>::new(move |ev: web_sys::KeyboardEvent| {
            let typing = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .is_some_and(|el| {
                    matches!(
                        el.tag_name().as_str(),
                        "INPUT" | "SELECT" | "TEXTAREA" | "BUTTON"
                    )
                });
            if ev.code() == "Space" && !typing {
                ev.prevent_default();
                feed.toggle_pause();
            }
        });
    let _ = w.add_event_listener_with_callback("keydown", cb.as_ref().unchecked_ref());
    cb.forget(); // The desk lives as long as the page.
}

/// Finds the relay, then mounts the desk on `<body>`.
pub fn start() {
    console_error_panic_hook::set_once();
    wasm_bindgen_futures::spawn_local(async {
        let url = feed::relay_url().await;
        leptos::mount::mount_to_body(move || view! { <App url=url /> });
    });
}
