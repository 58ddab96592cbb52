//! Per-upstream health in the header (from the relay's `status` topic), and a panel frame that says when its data
//! is old — or, when its market is closed, that it is as of the close (closed is not stale).

use leptos::prelude::*;
use serde_json::Value;

use crate::feed::FeedSignals;
use crate::format::fixed;
use crate::model::TopicView;

fn text(v: Option<Value>) -> String {
    v.and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// `rates: live`, `schwab: reconnecting`, `schwab: closed · opens 2026-12-03 09:30 ET`; the detail as a tooltip;
/// `(simulated clock)` when the market runs on a demo or replay clock.
#[component]
pub fn SourceStatus(status: TopicView) -> impl IntoView {
    let keys = status.keys.clone();
    view! {
        <span id="sources" class="sources">
            <For each=move || keys.get() key=|k| k.clone() children=move |src| {
                let state = status.cell(&src, "state").value;
                let detail = status.cell(&src, "detail").value;
                let opens = status.cell(&src, "next_open_et").value;
                let clock = status.cell(&src, "clock").value;
                let (state2, clock2) = (state.clone(), clock.clone());
                let s = move || text(state.get());
                let label = move || {
                    let mut l = text(state2.get());
                    if l == "closed" {
                        let at = text(opens.get());
                        if !at.is_empty() {
                            l.push_str(" · opens ");
                            l.push_str(&at);
                        }
                    }
                    if text(clock2.get()) == "simulated" {
                        l.push_str(" (simulated clock)");
                    }
                    l
                };
                let d = move || text(detail.get());
                view! {
                    <span class="source" data-source=src.clone() data-state=s data-clock=move || text(clock.get()) title=d>
                        {src.clone()} ": " {label}
                    </span>
                }
            } />
        </span>
    }
}

/// `Some("as of the close · opens …")` while `source`'s status says its market is closed.
pub fn market_closed(status: &TopicView, source: &str) -> Signal<Option<String>> {
    let state = status.cell(source, "state").value;
    let opens = status.cell(source, "next_open_et").value;
    Signal::derive(move || {
        (text(state.get()) == "closed").then(|| match text(opens.get()) {
            at if at.is_empty() => "as of the close".to_string(),
            at => format!("as of the close · opens {at}"),
        })
    })
}

/// A titled panel that shows how old its topic's data is, and says "stale" past `stale_after_ms`. The topic may
/// change (the chain panel's follows the chain on screen).
#[component]
pub fn Panel(
    title: &'static str,
    #[prop(into)] topic: Signal<String>,
    signals: FeedSignals,
    #[prop(default = 5_000.0)] stale_after_ms: f64,
    /// While `Some(label)`, the topic's market is closed: the panel shows the label instead of turning stale,
    /// because quotes that stand still when the market does are not stale.
    #[prop(optional, into)]
    closed: Option<Signal<Option<String>>>,
    children: Children,
) -> impl IntoView {
    let age = move || {
        let updated = topic.with(|t| signals.topic_updated.with(|m| m.get(t).copied()));
        updated.map(|t| (signals.now_ms.get() - t).max(0.0))
    };
    let closed = move || closed.and_then(|c| c.get());
    let stale = move || closed().is_none() && age().is_some_and(|a| a > stale_after_ms);
    let label = move || match (closed(), age()) {
        (Some(c), _) => c,
        (None, None) => "no data yet".to_string(),
        (None, Some(a)) if a > stale_after_ms => {
            format!("stale: last update {} s ago", fixed(a / 1000.0, 0))
        }
        (None, Some(a)) => format!("updated {} s ago", fixed(a / 1000.0, 0)),
    };
    view! {
        <section class="panel" data-topic=move || topic.get() class:stale=stale
            data-closed=move || closed().is_some().to_string()>
            <h2>{title}<span class="age" data-stale=move || stale().to_string()>{label}</span></h2>
            {children()}
        </section>
    }
}
