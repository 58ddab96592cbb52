//! What went wrong, in words: connection drops, relay errors, gaps that forced a fresh snapshot.

use leptos::prelude::*;

use crate::feed::FeedSignals;

#[component]
pub fn ErrorLog(signals: FeedSignals) -> impl IntoView {
    let lines = move || {
        signals
            .log
            .get()
            .into_iter()
            .rev()
            .map(|(t, msg)| {
                let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(t));
                let at = format!(
                    "{:02}:{:02}:{:02}",
                    d.get_hours(),
                    d.get_minutes(),
                    d.get_seconds()
                );
                view! { <li><time>{at}</time>" " {msg}</li> }
            })
            .collect_view()
    };
    view! {
        <section class="panel error-log">
            <h2>"Messages"</h2>
            <ul id="error-log">{lines}</ul>
        </section>
    }
}
