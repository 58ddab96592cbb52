//! The simulated rates desk: a drifting yield curve, published as the `curve` topic.
//!
//! The model is in [`curve`] (pure); this module owns the clock and the random numbers, and turns each tick into
//! rows for the store. Only tenors whose rounded yield changed produce a delta (the store drops equal fields).

pub mod curve;

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tickdesk_wire::{Fields, Items};
use tokio::sync::watch;

use crate::store::Store;
use curve::{NelsonSiegel, TENORS};

/// The topic carrying one item per tenor: `tenor`, `years`, `yield` (%), `prior_close` (%), `chg_bp`, `ts` (ms).
pub const CURVE_TOPIC: &str = "curve";

/// How the simulation runs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub tick: Duration,
    pub seed: Option<u64>,
    /// Simulated years per tick. A real day is 1/252 years; the demo runs the market faster so it visibly moves.
    pub dt_years: f64,
}

impl SimConfig {
    pub fn new(tick_ms: u64, seed: Option<u64>) -> Self {
        SimConfig {
            tick: Duration::from_millis(tick_ms.max(10)),
            seed,
            dt_years: 1.0 / 252.0 / 400.0,
        }
    }
}

/// Standard normal draw by Box–Muller (two uniforms; the second value is discarded for simplicity).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Rounds to a tenth of a basis point, the precision a desk quotes yields at.
fn round_yield(y: f64) -> f64 {
    (y * 1000.0).round() / 1000.0
}

/// The curve's rows at this instant.
pub fn curve_rows(model: &NelsonSiegel, prior: &[f64; 11], ts_ms: u64) -> Items {
    let now = model.curve();
    TENORS
        .iter()
        .enumerate()
        .map(|(i, (tenor, years))| {
            let y = round_yield(now[i]);
            let f: Fields = [
                ("tenor".to_string(), json!(tenor)),
                ("years".to_string(), json!(years)),
                ("yield".to_string(), json!(y)),
                ("prior_close".to_string(), json!(round_yield(prior[i]))),
                (
                    "chg_bp".to_string(),
                    json!(((y - round_yield(prior[i])) * 1000.0).round() / 10.0),
                ),
                ("ts".to_string(), json!(ts_ms)),
            ]
            .into_iter()
            .collect();
            (tenor.to_string(), f)
        })
        .collect()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Ticks the curve into the store until shutdown.
pub async fn run(store: Arc<Store>, cfg: SimConfig, mut shutdown: watch::Receiver<bool>) {
    let mut rng = match cfg.seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_os_rng(),
    };
    let mut model = NelsonSiegel::default();
    let prior = model.curve();
    store.publish(CURVE_TOPIC, curve_rows(&model, &prior, now_ms()), vec![]);
    let mut tick = tokio::time::interval(cfg.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tick.tick() => {
                model.step(cfg.dt_years, [normal(&mut rng), normal(&mut rng), normal(&mut rng)]);
                let mut rows = curve_rows(&model, &prior, now_ms());
                // The timestamp alone is not a change: keep `ts` only on tenors whose yield moved.
                let cur = store.snapshot(CURVE_TOPIC).map(|s| s.items).unwrap_or_default();
                rows.retain(|k, f| cur.get(k).and_then(|c| c.get("yield")) != f.get("yield"));
                store.publish(CURVE_TOPIC, rows, vec![]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_path() {
        let path = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut m = NelsonSiegel::default();
            (0..50)
                .map(|_| {
                    m.step(0.01, [normal(&mut rng), normal(&mut rng), normal(&mut rng)]);
                    m.curve()[8]
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(path(7), path(7));
        assert_ne!(path(7), path(8));
    }

    #[test]
    fn rows_carry_change_in_bp_against_prior_close() {
        let mut m = NelsonSiegel::default();
        let prior = m.curve();
        m.level.value += 0.05;
        let rows = curve_rows(&m, &prior, 1);
        assert_eq!(rows.len(), 11);
        assert_eq!(rows["10Y"]["chg_bp"], json!(5.0));
    }
}
