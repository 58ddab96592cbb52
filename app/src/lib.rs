//! The tickdesk app: a Leptos (client-side rendered) desk fed by one websocket to the relay.
//!
//! # Layout
//! - [`feed`]: the connection (reconnect, resume, pause, staleness) and per-frame batching into the model.
//! - [`model`]: per-cell signals, so a tick re-renders only the cells it changes.
//! - [`components`]: the views, one per file.

pub mod components;
pub mod feed;
pub mod model;

use std::collections::BTreeMap;

use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use components::curve_table::CurveTable;
use components::error_log::ErrorLog;
use components::indicator::Indicator;
use feed::Feed;
use model::TopicView;

/// The whole desk, connected to `url`.
#[component]
pub fn App(url: String) -> impl IntoView {
    let curve = TopicView::default();
    let views: BTreeMap<String, TopicView> =
        [("curve".to_string(), curve.clone())].into_iter().collect();
    let feed = Feed::start(url.clone(), views);
    install_keys(feed.clone());
    view! {
        <header class="topbar">
            <h1>"tickdesk"</h1>
            <Indicator feed=feed.clone() />
            <span class="relay-url" title="relay">{url}</span>
        </header>
        <main class="desk">
            <CurveTable view=curve />
            <ErrorLog signals=feed.signals />
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
