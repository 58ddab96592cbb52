//! Options analytics, live: the derived topics `analytics:{UNDERLYING}` (one item per held expiry, plus `all`) and
//! `activity` (unusual options activity, append-only), computed from the `chain:` and `quotes` topics the store
//! holds.
//!
//! - [`calc`]: the numbers (pure, unit-tested on hand-computed chains).
//! - [`activity`]: the unusual-activity detector (pure).
//! - [`run`]: the task. Every `interval` it drains the broadcast channels of the `chain:` topics and `quotes`, and
//!   recomputes only the underlyings whose chains or spot changed since: a bounded cadence (at most one recompute
//!   per underlying per interval, 500 ms by default) whatever the tick rate upstream. Each item records what it was
//!   computed from (`chain_epoch`, `chain_seq`, `spot`, `ts`), so anyone can check it against the chain.

pub mod activity;
pub mod calc;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::{json, Value};
use tickdesk_market::{calendar, zone, Clock, Date};
use tickdesk_wire::fields;
use tickdesk_wire::topics;
use tickdesk_wire::{Fields, Items};
use tokio::sync::broadcast::{self, error::TryRecvError};
use tokio::sync::watch;

use activity::{ActivityRules, Detector};
use calc::{Contract, YEAR_MS};
use tickdesk_hub::broker::{Event, Publisher};
use tickdesk_hub::source::{Running, Source, Sources};
use tickdesk_hub::topic::chain_of;

/// The item of `analytics:{U}` over every held expiry.
pub const ALL: &str = "all";
use tickdesk_wire::topics::CHAIN_PREFIX;

/// Settings (`TICKDESK_ANALYTICS_MS`, `TICKDESK_ACTIVITY_*`).
#[derive(Debug, Clone, Args)]
pub struct AnalyticsConfig {
    /// Milliseconds between analytics recomputes (an underlying is recomputed at most once per interval, and only
    /// when its chains or its spot changed). 0 turns analytics and activity off.
    #[arg(long, env = "TICKDESK_ANALYTICS_MS", default_value_t = 500)]
    pub analytics_ms: u64,
    /// Unusual activity: day volume over this multiple of open interest...
    #[arg(long, env = "TICKDESK_ACTIVITY_RATIO", default_value_t = 1.25)]
    pub activity_ratio: f64,
    /// ... and at least this volume.
    #[arg(long, env = "TICKDESK_ACTIVITY_MIN_VOLUME", default_value_t = 500.0)]
    pub activity_min_volume: f64,
    /// Unusual activity: the last minute's volume rate over this multiple of the contract's usual rate...
    #[arg(long, env = "TICKDESK_ACTIVITY_JUMP", default_value_t = 5.0)]
    pub activity_jump: f64,
    /// ... with at least this many contracts in that minute.
    #[arg(
        long,
        env = "TICKDESK_ACTIVITY_JUMP_MIN_VOLUME",
        default_value_t = 250.0
    )]
    pub activity_jump_min_volume: f64,
}

impl AnalyticsConfig {
    pub fn rules(&self) -> ActivityRules {
        ActivityRules {
            ratio: self.activity_ratio,
            min_volume: self.activity_min_volume,
            jump_multiple: self.activity_jump,
            jump_min_volume: self.activity_jump_min_volume,
            ..ActivityRules::default()
        }
    }
}

/// Years from `now_ms` to 16:00 ET on `expiry` (never negative).
pub fn years_to(expiry: Date, now_ms: i64) -> f64 {
    ((expiry.at_et(16, 0) - now_ms) as f64 / YEAR_MS).max(0.0)
}

/// The spot of `underlying` in the `quotes` topic: `last`, else `mark`.
pub fn spot_of(quotes: &Items, underlying: &str) -> Option<f64> {
    let q = quotes.get(underlying)?;
    [fields::LAST, fields::MARK]
        .iter()
        .find_map(|k| q.get(*k).and_then(Value::as_f64).filter(|v| *v > 0.0))
}

/// One held expiry's chain, as read from the store.
#[derive(Debug, Clone)]
pub struct HeldChain {
    pub expiry: Date,
    pub epoch: String,
    pub seq: u64,
    pub items: Items,
}

/// The `analytics:` items of one underlying (pure): one per non-empty held chain, plus `all`.
pub fn items_for(chains: &[HeldChain], spot: f64, now_ms: i64) -> Items {
    let today = zone::et_date(now_ms);
    let mut out = Items::new();
    let mut everything = Vec::new();
    let mut live = 0;
    for ch in chains {
        let years = years_to(ch.expiry, now_ms);
        let contracts: Vec<Contract> = ch
            .items
            .values()
            .filter_map(|f| Contract::from_fields(f, years))
            .collect();
        if contracts.is_empty() {
            continue;
        }
        let a = calc::compute(&contracts, spot, true);
        live += a.live;
        let mut f = a.to_fields();
        f.insert("expiry".into(), json!(ch.expiry.iso()));
        f.insert("dte".into(), json!(today.days_until(ch.expiry)));
        f.insert("chain_epoch".into(), json!(ch.epoch));
        f.insert("chain_seq".into(), json!(ch.seq));
        f.insert("ts".into(), json!(now_ms));
        out.insert(ch.expiry.iso(), f);
        everything.extend(contracts);
    }
    if !out.is_empty() {
        let a = calc::compute(&everything, spot, false);
        let mut f = a.to_fields();
        f.insert("expiry".into(), json!(ALL));
        f.insert("expiries".into(), json!(out.len()));
        f.insert("live_contracts".into(), json!(live));
        f.insert("ts".into(), json!(now_ms));
        out.insert(ALL.into(), f);
    }
    out
}

/// An `activity` event's fields.
#[allow(clippy::too_many_arguments)]
pub fn activity_event(
    underlying: &str,
    contract: &str,
    row: &Fields,
    expiry: Date,
    reason: activity::Reason,
    volume: f64,
    oi: Option<f64>,
    now_ms: i64,
) -> Fields {
    let side = match row.get("put_call").and_then(Value::as_str) {
        Some("C") => "CALL",
        Some("P") => "PUT",
        _ => "?",
    };
    let ratio = oi
        .filter(|oi| *oi > 0.0)
        .map_or(Value::Null, |oi| json!(calc::round(volume / oi, 2)));
    let mut f = Fields::new();
    f.insert("type".into(), json!("unusual_activity"));
    f.insert("reason".into(), json!(reason.as_str()));
    f.insert("symbol".into(), json!(underlying));
    f.insert("contract".into(), json!(contract));
    f.insert("side".into(), json!(side));
    f.insert(
        fields::STRIKE.into(),
        row.get(fields::STRIKE).cloned().unwrap_or(Value::Null),
    );
    f.insert("expiry".into(), json!(expiry.iso()));
    f.insert(fields::VOLUME.into(), json!(volume));
    f.insert(
        fields::OPEN_INTEREST.into(),
        oi.map_or(Value::Null, |v| json!(v)),
    );
    f.insert("ratio".into(), ratio);
    f.insert(
        fields::MARK.into(),
        row.get(fields::MARK).cloned().unwrap_or(Value::Null),
    );
    f.insert("time".into(), json!(now_ms));
    f.insert("timestamp".into(), json!(zone::iso_utc_ms(now_ms)));
    f
}

/// Seconds since today's regular open at `now_ms` (at least one minute; the whole session outside it).
fn day_secs(now_ms: i64) -> f64 {
    match calendar::session(zone::et_date(now_ms)) {
        Some(s) => ((now_ms.min(s.close_ms) - s.open_ms) as f64 / 1000.0).max(60.0),
        None => 6.5 * 3600.0,
    }
}

/// The task's state between intervals (apart from the loop so a test or a benchmark can drive it).
#[derive(Debug)]
pub struct Analytics {
    store: Arc<dyn Publisher>,
    clock: Clock,
    event_history: usize,
    chains: HashMap<String, broadcast::Receiver<Arc<Event>>>,
    quotes: Option<broadcast::Receiver<Arc<Event>>>,
    detector: Detector,
    /// Underlyings to recompute at the next step.
    dirty: BTreeSet<String>,
    /// Each underlying's spot at its last recompute.
    spots: HashMap<String, f64>,
}

impl Analytics {
    pub fn new(
        store: Arc<dyn Publisher>,
        clock: Clock,
        rules: ActivityRules,
        event_history: usize,
    ) -> Self {
        store.ensure_topic(topics::ACTIVITY);
        Analytics {
            store,
            clock,
            event_history: event_history.max(1),
            chains: HashMap::new(),
            quotes: None,
            detector: Detector::new(rules),
            dirty: BTreeSet::new(),
            spots: HashMap::new(),
        }
    }

    /// Drains what changed since the last step and recomputes the underlyings it touched. Returns how many.
    pub fn step(&mut self) -> usize {
        let topics = self.store.topic_names();
        for t in topics.iter().filter(|t| t.starts_with(CHAIN_PREFIX)) {
            if !self.chains.contains_key(t) {
                if let (Some(rx), Some((u, _))) = (self.store.subscribe(t), chain_of(t)) {
                    self.dirty.insert(u);
                    self.chains.insert(t.clone(), rx);
                }
            }
        }
        let mut dirty = std::mem::take(&mut self.dirty);
        self.chains.retain(|topic, rx| {
            let changed = drain(rx);
            if let (Some(_), Some((u, _))) = (changed, chain_of(topic)) {
                dirty.insert(u);
            }
            changed != Some(false)
        });
        if self.quotes.is_none() {
            self.quotes = self.store.subscribe(tickdesk_wire::topics::QUOTES);
        }
        let quotes = self
            .store
            .snapshot(tickdesk_wire::topics::QUOTES)
            .map(|s| s.items)
            .unwrap_or_default();
        if let Some(rx) = &mut self.quotes {
            if drain(rx).is_some() {
                // A quote moved: the underlyings whose spot is not the one last used.
                for (u, _) in self.spots.iter() {
                    if spot_of(&quotes, u) != self.spots.get(u).copied() {
                        dirty.insert(u.clone());
                    }
                }
            }
        }
        let now = self.clock.now_ms();
        // Contracts not seen for a day (expired series, chains let go) leave the detector's memory.
        self.detector.forget_older_than(now - 86_400_000);
        let mut n = 0;
        for u in dirty {
            let Some(spot) = spot_of(&quotes, &u) else {
                // No spot yet: try again at the next step.
                self.dirty.insert(u);
                continue;
            };
            self.spots.insert(u.clone(), spot);
            self.recompute(&u, spot, &topics, now);
            n += 1;
        }
        n
    }

    fn recompute(&mut self, underlying: &str, spot: f64, topics: &[String], now: i64) {
        let mut chains = Vec::new();
        for t in topics {
            let Some((u, expiry)) = chain_of(t) else {
                continue;
            };
            if u != underlying {
                continue;
            }
            if let Some(s) = self.store.snapshot(t) {
                chains.push(HeldChain {
                    expiry,
                    epoch: s.epoch,
                    seq: s.seq,
                    items: s.items,
                });
            }
        }
        chains.sort_by_key(|c| c.expiry);
        let items = items_for(&chains, spot, now);
        let topic = topics::Topic::Analytics(underlying.to_string()).to_string();
        let held: Vec<String> = self
            .store
            .snapshot(&topic)
            .map(|s| s.items.into_keys().collect())
            .unwrap_or_default();
        let del: Vec<String> = held
            .into_iter()
            .filter(|k| !items.contains_key(k))
            .collect();
        self.store.publish(&topic, items, del);
        // Unusual activity, contract by contract.
        let secs = day_secs(now);
        for ch in &chains {
            for (symbol, row) in &ch.items {
                let Some(volume) = row.get(fields::VOLUME).and_then(Value::as_f64) else {
                    continue;
                };
                let oi = row.get(fields::OPEN_INTEREST).and_then(Value::as_f64);
                for reason in self.detector.observe(symbol, volume, oi, now, secs) {
                    let ev =
                        activity_event(underlying, symbol, row, ch.expiry, reason, volume, oi, now);
                    self.store.append(topics::ACTIVITY, ev, self.event_history);
                }
            }
        }
    }
}

/// Empties a receiver: `Some(true)` if anything arrived (or was missed), `Some(false)` when the topic is gone,
/// `None` when nothing changed.
fn drain(rx: &mut broadcast::Receiver<Arc<Event>>) -> Option<bool> {
    let mut changed = None;
    loop {
        match rx.try_recv() {
            Ok(_) | Err(TryRecvError::Lagged(_)) => changed = Some(true),
            Err(TryRecvError::Empty) => return changed,
            Err(TryRecvError::Closed) => return Some(false),
        }
    }
}

/// Runs until `stop` turns true.
pub async fn run(
    store: Arc<dyn Publisher>,
    cfg: AnalyticsConfig,
    clock: Clock,
    event_history: usize,
    mut stop: watch::Receiver<bool>,
) {
    if cfg.analytics_ms == 0 {
        return;
    }
    let mut a = Analytics::new(store, clock, cfg.rules(), event_history);
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.analytics_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => { a.step(); }
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Every `analytics:` topic's items, by underlying (for tests and the REST view).
pub fn held(store: &dyn Publisher) -> BTreeMap<String, Items> {
    store
        .topic_names()
        .into_iter()
        .filter_map(|t| {
            let u = t.strip_prefix(topics::ANALYTICS_PREFIX)?.to_string();
            Some((u, store.snapshot(&t)?.items))
        })
        .collect()
}
/// The options analytics and unusual activity as a [`Source`] (a derived one: it reads the chains the hub holds).
#[derive(Debug, Clone)]
pub struct Derived {
    pub cfg: AnalyticsConfig,
    /// Activity lines kept (the relay's `TICKDESK_EVENT_HISTORY`).
    pub event_history: usize,
}

impl Source for Derived {
    fn name(&self) -> &'static str {
        "analytics"
    }

    fn start(self, with: &Sources) -> Option<Running> {
        // `analytics:{U}` is made on demand; `activity` always exists (empty while analytics are off).
        with.demand.allow_prefix(topics::ANALYTICS_PREFIX);
        with.publisher.ensure_topic(topics::ACTIVITY);
        let name = self.name();
        let task = tokio::spawn(run(
            with.publisher.clone(),
            self.cfg,
            with.clock.clone(),
            self.event_history.max(1),
            with.shutdown.clone(),
        ));
        Some(Running::new(name, task))
    }
}
