//! The tickdesk app: a Leptos (client-side rendered) desk fed by one websocket to the relay.
//!
//! # Layout
//! - [`discovery`]: where the relay is (`?relay=`, `tickdesk.json`, the page's host).
//! - [`feed`]: the connection (reconnect, resume, pause, staleness, REST fallback) and per-frame batching into the
//!   model.
//! - [`http`]: one GET, for the config file and the REST fallback.
//! - [`model`]: per-cell signals, so a tick re-renders only the cells it changes.
//! - [`components`]: the views, one per file.
//! - [`format`], [`sort`]: numbers as text and short lists in order, in little code (the bundle's size matters).

pub mod bars;
pub mod chain;
pub mod chart;
pub mod components;
pub mod discovery;
pub mod feed;
pub mod format;
pub mod http;
pub mod model;
pub mod perf;
pub mod sort;

use std::collections::BTreeMap;

use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use bars::BarsHub;
use components::analytics::{ActivityList, AnalyticsView};
use components::chain::{ChainState, ChainView};
use components::chart::ChartView;
use components::crypto::CryptoPanel;
use components::curve_table::CurveTable;
use components::error_log::ErrorLog;
use components::indicator::Indicator;
use components::indicators::IndicatorsPanel;
use components::rates::{CurveChart, PnlSummary, Positions, Spreads};
use components::status::{market_closed, Panel, SourceStatus};
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
        "quotes",
        "activity",
        "crypto",
    ]
    .into_iter()
    // Inserted one by one: collecting into a map links a sort for this element type (see `sort`).
    .fold(BTreeMap::new(), |mut m, t| {
        m.insert(t.to_string(), TopicView::default());
        m
    })
}

/// The main views. The URL's hash (`#chain`, `#rates`, …) picks one and follows the history (back/forward, links),
/// so a view can be bookmarked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Chain,
    Rates,
    Analytics,
    Chart,
}

impl Tab {
    fn from_hash() -> Tab {
        let hash = web_sys::window().and_then(|w| w.location().hash().ok());
        match hash.as_deref() {
            Some("#rates") => Tab::Rates,
            Some("#analytics") => Tab::Analytics,
            Some("#chart") => Tab::Chart,
            _ => Tab::Chain,
        }
    }

    fn hash(self) -> &'static str {
        match self {
            Tab::Chain => "#chain",
            Tab::Rates => "#rates",
            Tab::Analytics => "#analytics",
            Tab::Chart => "#chart",
        }
    }
}

/// The tab follows the URL's hash as it changes: back/forward, a link, or the address bar.
fn follow_hash(tab: RwSignal<Tab>) {
    let Some(w) = web_sys::window() else { return };
    let cb = Closure::<dyn FnMut()>::new(move || tab.set(Tab::from_hash()));
    let _ = w.add_event_listener_with_callback("hashchange", cb.as_ref().unchecked_ref());
    cb.forget(); // The desk lives as long as the page.
}

/// The whole desk, connected to `url`.
#[component]
pub fn App(url: String) -> impl IntoView {
    let views = views();
    // First, before the tabs read the hash: an access token in it leaves it (see `discovery::access_token`).
    let feed = Feed::start(url.clone(), views.clone());
    let v = |t: &str| views[t].clone();
    let (curve, spreads, positions, pnl) = (v("curve"), v("spreads"), v("positions"), v("pnl"));
    let (signals, trades, status) = (v("signals"), v("trades"), v("status"));
    let activity = v("activity");
    let chain = ChainState::new(&feed, v("quotes"));
    install_keys(feed.clone(), chain);
    let s = feed.signals;
    let tab = RwSignal::new(Tab::from_hash());
    follow_hash(tab);
    let hub = BarsHub::new(feed.clone());
    let on_chart = Signal::derive(move || tab.get() == Tab::Chart);
    let quote_keys = v("quotes").keys;
    let crypto = v("crypto");
    // The chart follows the chain's underlying; a crypto symbol picked in the chart's box or the crypto panel
    // replaces it until the chain's pick changes again.
    let chart_symbol = RwSignal::new(None::<String>);
    Effect::new(move |_| chart_symbol.set(chain.selected.get()));
    let schwab_closed = market_closed(&status, "schwab");
    let tab_button = move |t: Tab, label: &'static str| {
        view! {
            <button type="button" role="tab" data-tab=t.hash().trim_start_matches('#')
                aria-selected=move || (tab.get() == t).to_string()
                on:click=move |_| {
                    tab.set(t);
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().set_hash(t.hash());
                    }
                }>{label}</button>
        }
    };
    view! {
        <header class="topbar">
            <h1>"tickdesk"</h1>
            <Indicator feed=feed.clone() />
            <SourceStatus status=status.clone() />
            <span class="relay-url" title="relay">{url}</span>
        </header>
        <nav class="tabs" role="tablist">
            {tab_button(Tab::Chain, "Options chain")}
            {tab_button(Tab::Rates, "Rates")}
            {tab_button(Tab::Analytics, "Analytics")}
            {tab_button(Tab::Chart, "Chart")}
        </nav>
        <main class="desk chain-tab" id="chain-tab" hidden=move || tab.get() != Tab::Chain>
            <ChainView state=chain signals=s closed=schwab_closed />
        </main>
        <main class="desk" id="rates-tab" hidden=move || tab.get() != Tab::Rates>
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
            </div>
        </main>
        <main class="desk analytics-tab" id="analytics-tab" hidden=move || tab.get() != Tab::Analytics>
            <AnalyticsView feed=feed.clone() chain=chain activity=activity.clone()
                active=Signal::derive(move || tab.get() == Tab::Analytics) />
        </main>
        <main class="desk chart-tab" id="chart-tab" hidden=move || tab.get() != Tab::Chart>
            <ChartView hub=hub.clone() chain=chain symbol=chart_symbol crypto=crypto.keys.clone() signals=s active=on_chart closed=schwab_closed />
            <IndicatorsPanel hub=hub symbols=quote_keys active=on_chart />
        </main>
        <footer class="desk bottom">
            <Panel title="Signals & trades" topic="trades" signals=s stale_after_ms=f64::INFINITY>
                <Tape signals=signals trades=trades />
            </Panel>
            <Panel title="Crypto" topic="crypto" signals=s closed=binance_off(&status)>
                <CryptoPanel crypto=crypto chart=chart_symbol />
            </Panel>
            <Panel title="Unusual options activity" topic="activity" signals=s stale_after_ms=f64::INFINITY>
                <ActivityList activity=activity id="tape-activity" />
            </Panel>
            <ErrorLog signals=s />
        </footer>
    }
}

/// The crypto panel's label while the relay has no Binance source (`--binance off`): nothing will come, which is
/// not staleness.
fn binance_off(status: &TopicView) -> Signal<Option<String>> {
    let keys = status.keys.clone();
    Signal::derive(move || {
        keys.with(|k| !k.is_empty() && !k.iter().any(|s| s == "binance"))
            .then(|| "no crypto source (Binance is off)".to_string())
    })
}

/// Space pauses/resumes; ←/→ move the chain's expiry; C centres the strike window on the money. Not while the user
/// is typing in a field.
fn install_keys(feed: Feed, chain: ChainState) {
    let Some(w) = web_sys::window() else { return };
    let cb =
        Closure::<dyn FnMut(web_sys::KeyboardEvent)>::new(move |ev: web_sys::KeyboardEvent| {
            let tag = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .map(|el| el.tag_name())
                .unwrap_or_default();
            let typing = matches!(tag.as_str(), "INPUT" | "SELECT" | "TEXTAREA");
            if typing || ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
                return;
            }
            match ev.code().as_str() {
                // Space on a focused button presses that button instead.
                "Space" if tag != "BUTTON" => feed.toggle_pause(),
                "ArrowLeft" => chain.step_expiry(-1),
                "ArrowRight" => chain.step_expiry(1),
                "KeyC" => chain.recentre(),
                _ => return,
            }
            ev.prevent_default();
        });
    let _ = w.add_event_listener_with_callback("keydown", cb.as_ref().unchecked_ref());
    cb.forget(); // The desk lives as long as the page.
}

/// Finds the relay, then mounts the desk on `<body>`.
pub fn start() {
    console_error_panic_hook::set_once();
    wasm_bindgen_futures::spawn_local(async {
        let url = discovery::relay_url().await;
        leptos::mount::mount_to_body(move || view! { <App url=url /> });
    });
}
