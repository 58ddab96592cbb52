//! The options chain: symbol list and selector, underlying header, expiry strip, and the straddle table (calls |
//! strike | puts) with chosen columns, ITM shading, an ATM marker, a strike window, a minimum-OI filter and rows that
//! are not streaming live marked as such.
//!
//! What re-renders when:
//! - a tick writes cell signals only (the feed does, once per animation frame): a price cell's text and flash, nothing
//!   else;
//! - the row list is a memo over the topic's keys, the strike window, the pinned centre and open interest, so rows are
//!   added or removed only when contracts appear, the window or filter changes, or the trader recentres;
//! - a row's class (ATM, ITM per side, not live per side) reads four cells and the ATM memo, which move rarely.
//!
//! The window is centred on a *pinned* price, not the live one, so rows do not shift under the trader's eyes as the
//! underlying moves; `C` (or the button) re-pins it on the money, and so does picking another underlying or expiry.

use leptos::prelude::*;
use serde_json::Value;
use tickdesk_wire::fields;

use super::status::Panel;
use crate::chain::{
    atm_index, expiry_label, has_quote, parse_symbols, side_columns, step_expiry, strike_rows,
    Column, Side, StrikeRow, StrikeWindow, COLUMNS, QUOTE_FIELDS,
};
use crate::feed::{Feed, FeedSignals};
use crate::format::{fixed, num, or_dash, sign_class, signed};
use crate::model::{Cell, TopicView};

/// What the trader chose and what is watched because of it. `Copy`: signals only.
#[derive(Debug, Clone, Copy)]
pub struct ChainState {
    /// The underlyings typed in the symbol box, in order.
    pub symbols: RwSignal<Vec<String>>,
    pub selected: RwSignal<Option<String>>,
    pub expiry: RwSignal<Option<String>>,
    pub window: RwSignal<StrikeWindow>,
    pub min_oi: RwSignal<u64>,
    /// Shown columns, by field.
    pub shown: RwSignal<Vec<&'static str>>,
    /// The price the strike window is centred on (see the module doc).
    pub centre: RwSignal<Option<f64>>,
    /// The watched `chain:{U}:{DATE}` topic and its view.
    pub chain: RwSignal<Option<(String, TopicView)>>,
    pub expirations: RwSignal<Option<TopicView>>,
    /// Why the last symbol list typed was refused (the previous list stays).
    pub input_error: RwSignal<Option<String>>,
    /// The underlying's live price (last, else mark).
    pub spot: Memo<Option<f64>>,
    quotes: StoredValue<TopicView>,
}

impl ChainState {
    /// The chain's state, and the effects that watch `expirations:{U}` and `chain:{U}:{DATE}` on the feed as the
    /// selection changes (and stop watching what is no longer shown, so the relay streams only what is on screen).
    pub fn new(feed: &Feed, quotes: TopicView) -> ChainState {
        let selected = RwSignal::new(None::<String>);
        let q = quotes.clone();
        let spot = Memo::new(move |_| {
            let u = selected.get()?;
            num(&q.cell(&u, fields::LAST).value.get())
                .or_else(|| num(&q.cell(&u, fields::MARK).value.get()))
        });
        let state = ChainState {
            symbols: RwSignal::new(Vec::new()),
            selected,
            expiry: RwSignal::new(None),
            window: RwSignal::new(StrikeWindow::Around(10)),
            min_oi: RwSignal::new(0),
            shown: RwSignal::new(
                COLUMNS
                    .iter()
                    .filter(|c| c.shown_by_default)
                    .map(|c| c.field)
                    .collect(),
            ),
            centre: RwSignal::new(None),
            chain: RwSignal::new(None),
            expirations: RwSignal::new(None),
            input_error: RwSignal::new(None),
            spot,
            quotes: StoredValue::new(quotes),
        };
        state.install_effects(feed);
        state
    }

    fn install_effects(self, feed: &Feed) {
        let s = self;
        // Until the trader types a list, offer the relay's own underlyings (the quotes it streams).
        let keys = s.quotes.get_value().keys;
        Effect::new(move |_| {
            let k = keys.get();
            if s.symbols.with_untracked(Vec::is_empty) && !k.is_empty() {
                s.symbols.set(k);
            }
        });
        // The selection follows the list: kept if still there, else the first.
        Effect::new(move |_| {
            let list = s.symbols.get();
            let keep = s
                .selected
                .with_untracked(|sel| sel.as_ref().is_some_and(|x| list.contains(x)));
            if !keep {
                s.selected.set(list.first().cloned());
            }
        });
        let f = feed.clone();
        Effect::new(move |prev: Option<Option<String>>| {
            let topic = s.selected.get().map(|u| format!("expirations:{u}"));
            if let Some(Some(old)) = &prev {
                if Some(old) != topic.as_ref() {
                    f.unwatch(old);
                }
            }
            s.expiry.set(None);
            s.expirations.set(topic.as_deref().map(|t| f.watch(t)));
            topic
        });
        // The nearest expiry until the trader picks one; again if the picked one goes (it expired).
        Effect::new(move |_| {
            let dates = s
                .expirations
                .with(|v| v.as_ref().map(|v| v.keys.get()).unwrap_or_default());
            let ok = s
                .expiry
                .with(|e| e.as_ref().is_some_and(|e| dates.contains(e)));
            if !ok && !dates.is_empty() {
                s.expiry.set(dates.first().cloned());
            }
        });
        let f = feed.clone();
        Effect::new(move |prev: Option<Option<String>>| {
            let topic = s
                .selected
                .get()
                .zip(s.expiry.get())
                .map(|(u, d)| format!("{}{u}:{d}", tickdesk_wire::topics::CHAIN_PREFIX));
            let old = prev.flatten();
            if old == topic {
                return topic;
            }
            if let Some(old) = &old {
                f.unwatch(old);
            }
            s.centre.set(None);
            s.chain.set(topic.as_ref().map(|t| (t.clone(), f.watch(t))));
            topic
        });
        // Pin the window on the money as soon as the price is known.
        Effect::new(move |_| {
            if s.centre.with(Option::is_none) {
                if let Some(p) = s.spot.get() {
                    s.centre.set(Some(p));
                }
            }
        });
    }

    /// Moves to the previous (`dir` < 0) or next expiry.
    pub fn step_expiry(&self, dir: i32) {
        let dates = self.expirations.with_untracked(|v| {
            v.as_ref()
                .map(|v| v.keys.get_untracked())
                .unwrap_or_default()
        });
        let next = step_expiry(&dates, self.expiry.get_untracked().as_deref(), dir);
        if next.is_some() {
            self.expiry.set(next);
        }
    }

    /// Centres the strike window on the money now.
    pub fn recentre(&self) {
        if let Some(p) = self.spot.get_untracked() {
            self.centre.set(Some(p));
        }
    }

    /// Applies the symbol box: a valid list replaces the old one; an invalid one is refused with the reason.
    pub fn set_symbols(&self, input: &str) {
        match parse_symbols(input) {
            Ok(list) => {
                self.input_error.set(None);
                self.symbols.set(list);
            }
            Err(e) => self.input_error.set(Some(e)),
        }
    }
}

/// The Options Chain tab.
#[component]
pub fn ChainView(
    state: ChainState,
    signals: FeedSignals,
    /// Schwab's market is closed: the chain is "as of the close", not stale.
    #[prop(into)]
    closed: Signal<Option<String>>,
) -> impl IntoView {
    let s = state;
    let topic = Signal::derive(move || {
        s.chain
            .with(|c| c.as_ref().map(|(t, _)| t.clone()).unwrap_or_default())
    });
    view! {
        <Panel title="Options chain" topic=topic signals=signals stale_after_ms=CHAIN_STALE_MS closed=closed>
            <SymbolBar state=s />
            <UnderlyingHeader state=s />
            <ExpiryStrip state=s />
            <ChainControls state=s />
            <div class="chain-scroll">
                <ChainTable state=s />
            </div>
            <p class="chain-legend">
                <span class="legend-itm">"ITM"</span>
                <span class="legend-atm">"ATM"</span>
                <span class="legend-not-live">"not streaming live (outside the relay's key budget): last REST picture"</span>
                <span class="legend-halted">"halted (Schwab's security status)"</span>
                <span class="keys-hint">"← → expiry · C centre on the money · Space pause"</span>
            </p>
        </Panel>
    }
}

/// A chain whose topic has not changed for this long says so (the simulator ticks every 250 ms; a real market
/// can be quiet on far strikes, but the whole chain silent for 10 s is worth a look).
const CHAIN_STALE_MS: f64 = 10_000.0;

#[component]
fn SymbolBar(state: ChainState) -> impl IntoView {
    let s = state;
    let apply = move |ev: web_sys::Event| s.set_symbols(&event_target_value(&ev));
    view! {
        <div class="symbol-bar">
            <label>"Underlyings "
                <input id="symbols" type="text" spellcheck="false" autocomplete="off"
                    placeholder="SPY, $SPX, AAPL"
                    prop:value=move || s.symbols.get().join(", ")
                    on:change=apply />
            </label>
            <span id="underlyings" class="underlyings" role="tablist">
                <For each=move || s.symbols.get() key=|u| u.clone() children=move |u| {
                    let (u1, u2, u3) = (u.clone(), u.clone(), u.clone());
                    view! {
                        <button type="button" data-symbol=u1
                            aria-pressed=move || (s.selected.get().as_deref() == Some(u2.as_str())).to_string()
                            on:click=move |_| s.selected.set(Some(u3.clone()))>{u}</button>
                    }
                } />
            </span>
            <span id="symbols-error" class="input-error" role="alert">{move || s.input_error.get()}</span>
        </div>
    }
}

#[component]
fn UnderlyingHeader(state: ChainState) -> impl IntoView {
    let s = state;
    move || {
        let Some(u) = s.selected.get() else {
            return view! { <div id="underlying" class="underlying">"No underlying"</div> }
                .into_any();
        };
        let q = s.quotes.get_value();
        let field = |f: &str| q.cell(&u, f).value;
        let (last, chg, pct, bid, ask, delayed) = (
            field(fields::LAST),
            field(fields::NET_CHANGE),
            field(fields::NET_CHANGE_PCT),
            field(fields::BID),
            field(fields::ASK),
            field("delayed"),
        );
        let flash = q.cell(&u, fields::LAST).flash;
        let chg2 = chg.clone();
        let tone = move || sign_class(num(&chg2.get()));
        let quote = move || bid_ask(num(&bid.get()), num(&ask.get()));
        let quote2 = quote.clone();
        view! {
            <div id="underlying" class="underlying" data-symbol=u.clone()>
                <span class="sym">{u.clone()}</span>
                <span class=move || format!("last {}", flash.get().class())>{move || or_dash(num(&last.get()), |x| fixed(x, 2))}</span>
                <span class=move || format!("chg {}", tone())>
                    {move || or_dash(num(&chg.get()), |x| signed(x, 2))}
                    " ("{move || or_dash(num(&pct.get()), |x| signed(x, 2) + "%")}")"
                </span>
                <span class="bidask" hidden=move || quote2().is_none()>{quote}</span>
                <span class="delayed" hidden=move || delayed.get() != Some(Value::Bool(true))>"delayed"</span>
            </div>
        }
        .into_any()
    }
}

/// The underlying's `bid 1.23 · ask 1.25`, or `None` when Schwab sends no quote to show: an index (`$SPX`) has no
/// bid or ask at all, and Schwab sends them as 0 or not at all, which printed as `bid 0.00 · ask 0.00` reads as a
/// market with nothing on it. A side that is there alone shows alone.
pub fn bid_ask(bid: Option<f64>, ask: Option<f64>) -> Option<String> {
    let side = |label: &str, v: Option<f64>| {
        v.filter(|v| *v > 0.0)
            .map(|v| format!("{label} {}", fixed(v, 2)))
    };
    match (side("bid", bid), side("ask", ask)) {
        (Some(b), Some(a)) => Some(format!("{b} · {a}")),
        (one, other) => one.or(other),
    }
}

#[component]
fn ExpiryStrip(state: ChainState) -> impl IntoView {
    let s = state;
    move || {
        let Some(exp) = s.expirations.get() else {
            return ().into_any();
        };
        let keys = exp.keys.clone();
        let empty = exp.keys.clone();
        view! {
            <div id="expiries" class="expiries" role="tablist">
                <span class="empty" hidden=move || !empty.with(Vec::is_empty)>
                    "waiting for expirations from the relay…"
                </span>
                <For each=move || keys.get() key=|d| d.clone() children=move |date| {
                    let dte = exp.cell(&date, "dte").value;
                    let zero = exp.cell(&date, "zero_dte").value;
                    let (d1, d2, d3) = (date.clone(), date.clone(), date.clone());
                    view! {
                        <button type="button" data-date=d1
                            aria-pressed=move || (s.expiry.get().as_deref() == Some(d2.as_str())).to_string()
                            on:click=move |_| s.expiry.set(Some(d3.clone()))>
                            <span class="date">{expiry_label(&date)}</span>
                            <span class="dte">{move || or_dash(num(&dte.get()), |d| fixed(d, 0) + "d")}</span>
                            <span class="badge zero-dte" hidden=move || zero.get() != Some(Value::Bool(true))>"0DTE"</span>
                        </button>
                    }
                } />
            </div>
        }
        .into_any()
    }
}

#[component]
fn ChainControls(state: ChainState) -> impl IntoView {
    let s = state;
    view! {
        <div class="chain-controls">
            <label>"Strikes "
                <select id="strike-window" prop:value=move || s.window.get().value()
                    on:change=move |ev| s.window.set(StrikeWindow::parse(&event_target_value(&ev)))>
                    {StrikeWindow::CHOICES.iter().map(|w| {
                        let label = match w { StrikeWindow::Around(n) => format!("±{n}"), StrikeWindow::All => "all".into() };
                        view! { <option value=w.value()>{label}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>"Min OI "
                <input id="min-oi" type="number" min="0" step="1" prop:value=move || s.min_oi.get().to_string()
                    on:change=move |ev| {
                        // A negative or non-numeric entry means no filter rather than an error: the box shows 0.
                        let v = crate::format::parse_decimal(event_target_value(&ev).trim()).unwrap_or(0.0).max(0.0) as u64;
                        s.min_oi.set(v);
                    } />
            </label>
            <button id="recentre" type="button" title="centre the strike window on the money (C)" on:click=move |_| s.recentre()>
                "Centre"
            </button>
            <details id="columns" class="columns">
                <summary>"Columns"</summary>
                {COLUMNS.iter().map(|c| {
                    let f = c.field;
                    view! {
                        <label title=c.title>
                            <input type="checkbox" data-field=f
                                prop:checked=move || s.shown.with(|v| v.contains(&f))
                                on:change=move |_| s.shown.update(|v| {
                                    if let Some(i) = v.iter().position(|x| *x == f) { v.remove(i); } else { v.push(f); }
                                }) />
                            {c.label}
                        </label>
                    }
                }).collect_view()}
            </details>
            <span class="centre-note">{move || s.centre.get().map(|p| format!("centred on {}", fixed(p, 2)))}</span>
        </div>
    }
}

#[component]
fn ChainTable(state: ChainState) -> impl IntoView {
    let s = state;
    let rows = Memo::new(move |_| {
        s.chain.with(|c| {
            c.as_ref()
                .map(|(_, v)| v.keys.with(|k| strike_rows(k)))
                .unwrap_or_default()
        })
    });
    let visible = Memo::new(move |_| {
        let view = s.chain.with(|c| c.as_ref().map(|(_, v)| v.clone()));
        let Some(view) = view else {
            return Vec::new();
        };
        let min = s.min_oi.get();
        let rows: Vec<StrikeRow> = rows.with(|rows| {
            rows.iter()
                .filter(|r| listed(&view, r))
                .filter(|r| min == 0 || open_interest(&view, r) >= min)
                .cloned()
                .collect()
        });
        let centre = s.centre.get().and_then(|p| atm_index(&rows, p));
        let range = s.window.get().range(rows.len(), centre);
        rows[range].to_vec()
    });
    let atm = Memo::new(move |_| {
        let p = s.spot.get()?;
        rows.with(|r| atm_index(r, p).map(|i| r[i].strike_milli))
    });
    let head = move |side: Side| {
        move || {
            side_columns(&s.shown.get(), side)
                .into_iter()
                .map(|c| view! { <th class="num" title=c.title data-field=c.field>{c.label}</th> })
                .collect_view()
        }
    };
    let span = move || s.shown.with(Vec::len).max(1);
    view! {
        <table id="chain-table" class="chain" style:width=move || format!("{}px", 2 * 66 * span() + 86)>
            <colgroup>
                {move || (0..span()).map(|_| view! { <col class="num-col" /> }).collect_view()}
                <col class="strike-col" />
                {move || (0..span()).map(|_| view! { <col class="num-col" /> }).collect_view()}
            </colgroup>
            <thead>
                <tr class="sides"><th colspan=span class="calls">"Calls"</th><th class="strike"></th><th colspan=span class="puts">"Puts"</th></tr>
                <tr>{head(Side::Call)}<th class="strike">"Strike"</th>{head(Side::Put)}</tr>
            </thead>
            <tbody>
                <For each=move || visible.get() key=|r| (r.call.clone(), r.put.clone()) children=move |row| {
                    let view = s.chain.with_untracked(|c| c.as_ref().map(|(_, v)| v.clone())).unwrap_or_default();
                    chain_row(row, view, s.shown, atm)
                } />
            </tbody>
        </table>
        <p class="chain-empty" hidden=move || !visible.with(Vec::is_empty)>
            {move || if s.chain.with(Option::is_none) { "pick an underlying and an expiry" } else { "no contracts to show yet (or none pass the filter)" }}
        </p>
    }
}

/// Whether a strike row is shown: its call or its put has something to show ([`has_quote`]); a strike where
/// neither has a quote, a trade or open interest is a row of dashes that tells a trader nothing.
///
/// Read without tracking, so a tick never rebuilds the row list; only the cells of contracts found empty are
/// tracked, so a strike whose first quote arrives later appears then (those cells do not tick while empty).
fn listed(view: &TopicView, row: &StrikeRow) -> bool {
    let keys = [Side::Call, Side::Put].map(|side| row.key(side));
    let any = keys
        .iter()
        .flatten()
        .any(|k| has_quote(|f| view.cell(k, f).value.get_untracked()));
    if !any {
        for k in keys.iter().flatten() {
            for f in QUOTE_FIELDS {
                view.cell(k, f).value.track();
            }
        }
    }
    any
}

/// The larger open interest of a strike's call and put.
fn open_interest(view: &TopicView, row: &StrikeRow) -> u64 {
    [Side::Call, Side::Put]
        .iter()
        .filter_map(|side| row.key(*side))
        .filter_map(|k| num(&view.cell(k, fields::OPEN_INTEREST).value.get()))
        .fold(0.0f64, f64::max) as u64
}

/// One strike row: its class carries ATM and, per side, ITM and not-live; its cells are redrawn only when the
/// column choice changes.
fn chain_row(
    row: StrikeRow,
    view: TopicView,
    shown: RwSignal<Vec<&'static str>>,
    atm: Memo<Option<u64>>,
) -> impl IntoView {
    let strike = row.strike_milli;
    let label = row.label();
    let attr = label.clone();
    let (call_key, put_key) = (row.call.clone(), row.put.clone());
    let flag = |side: Side, field: &str| row.key(side).map(|k| view.cell(k, field).value);
    let halted = || Value::String("Halted".into());
    let flags = [
        ("call-itm", flag(Side::Call, "itm"), Value::Bool(true)),
        ("put-itm", flag(Side::Put, "itm"), Value::Bool(true)),
        (
            "call-not-live",
            flag(Side::Call, "live"),
            Value::Bool(false),
        ),
        ("put-not-live", flag(Side::Put, "live"), Value::Bool(false)),
        // Schwab's own security status for the contract (field 33), shown as sent.
        ("call-halted", flag(Side::Call, "security_status"), halted()),
        ("put-halted", flag(Side::Put, "security_status"), halted()),
    ];
    let class = move || {
        let mut c = String::from(if atm.get() == Some(strike) { "atm" } else { "" });
        for (name, cell, when) in &flags {
            if cell.as_ref().and_then(|v| v.get()).as_ref() == Some(when) {
                c.push(' ');
                c.push_str(name);
            }
        }
        c
    };
    let side_cells = |side: Side| {
        let key = row.key(side).cloned();
        let view = view.clone();
        move || {
            side_columns(&shown.get(), side)
                .into_iter()
                .map(|col| option_cell(&view, key.as_deref(), col, side))
                .collect_view()
        }
    };
    view! {
        <tr data-strike=attr data-call=call_key data-put=put_key class=class>
            {side_cells(Side::Call)}
            <td class="strike">{label}</td>
            {side_cells(Side::Put)}
        </tr>
    }
}

/// One option's value in one column; price columns flash up or down on change.
fn option_cell(view: &TopicView, key: Option<&str>, col: Column, side: Side) -> impl IntoView {
    let base = format!("num {} {}", side.letter().to_ascii_lowercase(), col.field);
    let Some(key) = key else {
        return view! { <td class=base data-side=side.letter() data-field=col.field></td> }
            .into_any();
    };
    let Cell { value, flash } = view.cell(key, col.field);
    let text = move || or_dash(num(&value.get()), col.format);
    if col.flashes {
        let class = move || format!("{base} {}", flash.get().class());
        view! { <td class=class data-side=side.letter() data-field=col.field>{text}</td> }
            .into_any()
    } else {
        view! { <td class=base data-side=side.letter() data-field=col.field>{text}</td> }.into_any()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_underlyings_bid_and_ask_show_only_when_schwab_sends_them() {
        assert_eq!(
            bid_ask(Some(683.1), Some(683.14)).as_deref(),
            Some("bid 683.10 · ask 683.14")
        );
        // An index ($SPX): Schwab sends no bid or ask, or zeros.
        assert_eq!(bid_ask(None, None), None);
        assert_eq!(bid_ask(Some(0.0), Some(0.0)), None);
        // One side alone shows alone.
        assert_eq!(bid_ask(Some(1.5), Some(0.0)).as_deref(), Some("bid 1.50"));
        assert_eq!(bid_ask(None, Some(2.25)).as_deref(), Some("ask 2.25"));
    }
}
