//! The yield-curve table: tenor, yield, change vs prior close in bp. Each cell has its own signal and flashes
//! up/down when its value moves.

use leptos::prelude::*;
use serde_json::Value;

use crate::model::TopicView;

fn fmt_num(v: Option<Value>, decimals: usize, signed: bool) -> String {
    match v.and_then(|v| v.as_f64()) {
        Some(x) if signed => crate::format::signed(x, decimals),
        Some(x) => crate::format::fixed(x, decimals),
        None => "—".into(),
    }
}

/// One live numeric cell.
#[component]
fn NumCell(
    view: TopicView,
    item: String,
    field: &'static str,
    decimals: usize,
    #[prop(optional)] signed: bool,
) -> impl IntoView {
    let crate::model::Cell { value, flash } = view.cell(&item, field);
    let class = move || format!("num {field} {}", flash.get().class());
    view! { <td class=class>{move || fmt_num(value.get(), decimals, signed)}</td> }
}

#[component]
pub fn CurveTable(view: TopicView) -> impl IntoView {
    let keys = view.keys.clone();
    let v = view.clone();
    // Tenors in maturity order, whatever order the map keys came in.
    let ordered = move || {
        let mut k = keys.get();
        let y = |t: &String| {
            v.cell(t, "years")
                .value
                .get_untracked()
                .and_then(|x| x.as_f64())
                .unwrap_or(f64::MAX)
        };
        crate::sort::sort_small_by(&mut k, |a, b| y(a) < y(b));
        k
    };
    view! {
        <table id="curve-table">
                <thead><tr><th>"Tenor"</th><th class="num">"Yield %"</th><th class="num">"Chg bp"</th></tr></thead>
                <tbody>
                    <For each=ordered key=|t| t.clone() children=move |tenor| {
                        let (v1, v2) = (view.clone(), view.clone());
                        let (attr, label, t1, t2) = (tenor.clone(), tenor.clone(), tenor.clone(), tenor);
                        view! {
                            <tr data-tenor=attr>
                                <td class="tenor">{label}</td>
                                <NumCell view=v1 item=t1 field="yield" decimals=3 />
                                <NumCell view=v2 item=t2 field="chg_bp" decimals=1 signed=true />
                            </tr>
                        }
                    } />
                </tbody>
        </table>
    }
}
