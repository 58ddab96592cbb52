//! CPU of the analytics task: 3 underlyings × every expiry within 60 days (18 each) × ±20 strikes (82 contracts an
//! expiry, 4,428 in all), the spot of each moving every interval and a tenth of the front expiry's contracts
//! changing, i.e. every underlying recomputed at every step (the worst case at the default cadence). Runs the
//! steps back to back on one thread and prints the CPU time per step and what that is of one core at the 500 ms
//! cadence, as one JSON line.
//!
//! `cargo run --release -p tickdesk-analytics --example analytics_cpu [steps]`

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tickdesk_analytics::activity::ActivityRules;
use tickdesk_analytics::Analytics;
use tickdesk_hub::memory::MemoryBroker;
use tickdesk_market::{Clock, Date};
use tickdesk_wire::{Fields, Items};

const UNDERLYINGS: [(&str, f64); 3] = [("SPY", 600.0), ("AAPL", 230.0), ("QQQ", 520.0)];
const EXPIRIES: i64 = 18;
const STRIKES_EACH_SIDE: i64 = 20;

fn cpu_secs() -> f64 {
    // User + system CPU of this process, from /proc (Linux), in seconds.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command; ticks of 100 Hz.
    let at = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (at(11) + at(12)) / 100.0
}

fn row(call: bool, strike: f64, spot: f64, dte: f64, salt: u64) -> Fields {
    let t = (dte.max(0.2)) / 365.0;
    let vol = 0.2 - 0.1 * (strike / spot).ln();
    let sd = vol * t.sqrt();
    let d1 = ((spot / strike).ln() + 0.5 * sd * sd) / sd;
    let pdf = (-0.5 * d1 * d1).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let cdf = 0.5 * (1.0 + (d1 / 2f64.sqrt()).tanh() * 1.0);
    let oi = 100 + (salt * 7919 % 5000) as i64;
    serde_json::from_value(json!({
        "put_call": if call { "C" } else { "P" }, "strike": strike, "volume": salt % 900, "open_interest": oi,
        "iv": vol * 100.0, "delta": if call { cdf } else { cdf - 1.0 }, "gamma": pdf / (spot * sd),
        "mark": 1.0 + (salt % 50) as f64 / 10.0, "bid": 1.0, "ask": 1.2, "live": dte < 3.0,
    }))
    .unwrap()
}

fn main() {
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(240);
    let store = Arc::new(MemoryBroker::new(1024, 1024));
    let now = Date::from_ymd(2026, 12, 2).at_et(10, 15);
    let clock = Clock::frozen(now);
    let today = Date::from_ymd(2026, 12, 2);
    let mut contracts = 0;
    for (i, (u, spot)) in UNDERLYINGS.iter().enumerate() {
        store.publish(
            "quotes",
            [(
                u.to_string(),
                serde_json::from_value(json!({"last": spot})).unwrap(),
            )]
            .into(),
            vec![],
        );
        for e in 0..EXPIRIES {
            let expiry = today.add_days(e * 60 / EXPIRIES);
            let mut items = Items::new();
            let step = spot / 200.0;
            for k in -STRIKES_EACH_SIDE..=STRIKES_EACH_SIDE {
                let strike = (spot + k as f64 * step).round();
                for call in [true, false] {
                    let salt = (i as u64 + 1) * 1_000_003
                        + (e as u64) * 10_007
                        + (k + 50) as u64 * 2
                        + u64::from(call);
                    items.insert(
                        format!("{u}-{}-{call}-{strike}", expiry.iso()),
                        row(call, strike, *spot, (e * 60 / EXPIRIES) as f64, salt),
                    );
                    contracts += 1;
                }
            }
            store.reset(&tickdesk_hub::topic::chain_topic(u, expiry), items);
        }
    }
    let mut a = Analytics::new(store.clone(), clock.clone(), ActivityRules::default(), 500);
    a.step();
    let (cpu0, wall0) = (cpu_secs(), Instant::now());
    let mut recomputed = 0;
    let mut in_step = 0.0;
    for s in 0..steps {
        clock.advance_ms(500);
        for (i, (u, spot)) in UNDERLYINGS.iter().enumerate() {
            let moved = spot * (1.0 + 0.001 * ((s + i) as f64).sin());
            store.publish(
                "quotes",
                [(
                    u.to_string(),
                    serde_json::from_value(json!({"last": moved})).unwrap(),
                )]
                .into(),
                vec![],
            );
            let front = tickdesk_hub::topic::chain_topic(u, today);
            let keys: Vec<String> = store.snapshot(&front).unwrap().items.into_keys().collect();
            let changes: Items = keys
                .iter()
                .skip(s % 10)
                .step_by(10)
                .map(|k| {
                    (
                        k.clone(),
                        serde_json::from_value(
                            json!({"volume": 1000 + s, "mark": 1.0 + s as f64 / 100.0}),
                        )
                        .unwrap(),
                    )
                })
                .collect();
            store.publish(&front, changes, vec![]);
        }
        let t = Instant::now();
        recomputed += a.step();
        in_step += t.elapsed().as_secs_f64();
    }
    let (cpu, wall) = (cpu_secs() - cpu0, wall0.elapsed().as_secs_f64());
    // One thread, never blocked: the time inside `step` is its CPU time (the process CPU also counts the test's
    // own publishing).
    let per_step_ms = in_step * 1000.0 / steps as f64;
    println!(
        "{}",
        json!({
            "underlyings": UNDERLYINGS.len(), "expiries_each": EXPIRIES, "contracts": contracts, "steps": steps,
            "underlyings_recomputed": recomputed, "process_cpu_s": cpu, "wall_s": wall, "in_step_s": in_step,
            "cpu_ms_per_step": (per_step_ms * 100.0).round() / 100.0,
            "core_pct_at_500ms": (per_step_ms / 500.0 * 1000.0).round() / 10.0,
        })
    );
}
