//! The connection indicator and the pause button: says exactly what the link is doing, never "live" when it
//! is not.

use leptos::prelude::*;

use crate::feed::{ConnState, Feed, FeedSignals};
use crate::format::fixed;

/// The indicator's text and its `data-state` (for styling and tests).
fn describe(s: &FeedSignals) -> (&'static str, String) {
    let now = s.now_ms.get();
    match s.state.get() {
        ConnState::Connecting => ("connecting", "Connecting…".into()),
        ConnState::Live if s.stale.get() => (
            "stale",
            format!(
                "Stale: no data for {} s",
                fixed((now - s.last_frame_ms.get()) / 1000.0, 0)
            ),
        ),
        ConnState::Live => ("live", "Live".into()),
        ConnState::Paused if s.stale.get() => ("stale", "Paused, and the relay is silent".into()),
        ConnState::Paused => ("paused", "Paused".into()),
        ConnState::Reconnecting {
            attempt,
            next_at_ms,
        } => {
            let secs = ((next_at_ms - now) / 1000.0).max(0.0);
            (
                "reconnecting",
                format!(
                    "Reconnecting (attempt {attempt}, next try in {} s)",
                    fixed(secs, 1)
                ),
            )
        }
        ConnState::Offline => ("offline", "Offline: waiting for the network".into()),
        ConnState::Polling if s.stale.get() => {
            ("stale", "Polling, but the relay does not answer".into())
        }
        ConnState::Polling => ("polling", "Polling REST: websocket unavailable".into()),
        ConnState::Unauthorized => (
            "unauthorized",
            "Access token required: open the URL the relay printed".into(),
        ),
    }
}

/// The header strip: indicator, last-message time, pause/resume.
#[component]
pub fn Indicator(feed: Feed) -> impl IntoView {
    let s = feed.signals;
    let state = move || describe(&s).0;
    let text = move || describe(&s).1;
    let last = move || {
        let t = s.last_frame_ms.get();
        if t <= 0.0 {
            return "—".to_string();
        }
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(t));
        format!(
            "{:02}:{:02}:{:02}",
            d.get_hours(),
            d.get_minutes(),
            d.get_seconds()
        )
    };
    let label = move || {
        if s.want_paused.get() {
            "Resume (Space)"
        } else {
            "Pause (Space)"
        }
    };
    view! {
        <div class="indicator">
            <span id="conn-state" class="conn" data-state=state>
                <span class="dot"></span>
                <span class="conn-text">{text}</span>
            </span>
            <span class="last-msg" title="time of the last frame from the relay">"last message " {last}</span>
            <button id="pause-btn" on:click=move |_| feed.toggle_pause()>{label}</button>
        </div>
    }
}
