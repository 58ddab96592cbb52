//! Per-upstream health in the header (from the relay's `status` topic), and a panel frame that says when its data
//! is old.

use leptos::prelude::*;
use serde_json::Value;

use crate::feed::FeedSignals;
use crate::model::TopicView;

/// `rates: live`, `schwab: reconnecting — detail`.
#[component]
pub fn SourceStatus(status: TopicView) -> impl IntoView {
    let keys = status.keys.clone();
    view! {
        <span id="sources" class="sources">
            <For each=move || keys.get() key=|k| k.clone() children=move |src| {
                let state = status.cell(&src, "state").value;
                let detail = status.cell(&src, "detail").value;
                let s = move || state.get().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
                let s2 = s.clone();
                let d = move || detail.get().and_then(|v: Value| v.as_str().map(String::from)).unwrap_or_default();
                view! {
                    <span class="source" data-source=src.clone() data-state=s2 title=d>
                        {src.clone()} ": " {s}
                    </span>
                }
            } />
        </span>
    }
}

/// A titled panel that shows how old its topic's data is, and says "stale" past `stale_after_ms`. The topic may
/// change (the chain panel's follows the chain on screen).
#[component]
pub fn Panel(
    title: &'static str,
    #[prop(into)] topic: Signal<String>,
    signals: FeedSignals,
    #[prop(default = 5_000.0)] stale_after_ms: f64,
    children: Children,
) -> impl IntoView {
    let age = move || {
        let updated = topic.with(|t| signals.topic_updated.with(|m| m.get(t).copied()));
        updated.map(|t| (signals.now_ms.get() - t).max(0.0))
    };
    let stale = move || age().is_some_and(|a| a > stale_after_ms);
    let label = move || match age() {
        None => "no data yet".to_string(),
        Some(a) if a > stale_after_ms => format!("stale: last update {:.0} s ago", a / 1000.0),
        Some(a) => format!("updated {:.0} s ago", a / 1000.0),
    };
    view! {
        <section class="panel" data-topic=move || topic.get() class:stale=stale>
            <h2>{title}<span class="age" data-stale=move || stale().to_string()>{label}</span></h2>
            {children()}
        </section>
    }
}
