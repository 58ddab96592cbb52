//! REST loads: each a task, at most one per [`LoadKey`], that retries with backoff until it succeeds or is
//! cancelled, and reports what it got as a [`Loaded`] to the orchestrator's channel. [`Unknown`] holds the symbols
//! Schwab said it does not know, for which no call is made during a cool-down.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use tickdesk_market::Date;
use tickdesk_wire::backoff::Backoff;
use tickdesk_wire::Items;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::debug;

use super::chains::chain_of;
use crate::budget::Priority;
use crate::chain::{self, ChainError, ChainPicture, Expiration};
use crate::rest::{is_too_big, ChainPart, Rest, RestError};

/// A REST load's identity (at most one task per identity).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum LoadKey {
    Chain(String),
    /// A fresh REST picture of a loaded chain, for the contracts not streamed.
    Refresh(String),
    Expirations(String),
    Quotes,
    /// A `bars:` topic's first picture (pricehistory), by symbol.
    Bars(String),
    /// The minutes a `bars:` topic missed while the stream was down, by symbol.
    Backfill(String),
}

impl LoadKey {
    /// What it loads, in words for the log.
    fn what(&self) -> String {
        match self {
            LoadKey::Chain(t) => format!("the chain {t}"),
            LoadKey::Refresh(t) => format!("a fresh picture of {t}"),
            LoadKey::Expirations(s) => format!("the expirations of {s}"),
            LoadKey::Quotes => "the start symbols' quotes".to_string(),
            LoadKey::Bars(s) => format!("the bars of {s}"),
            LoadKey::Backfill(s) => format!("the minutes {s}'s bars missed"),
        }
    }

    /// The underlying a chain or expirations load asks about, for an answer that says Schwab does not know it.
    /// A bars load answers a refusal itself: pricehistory refusing a range is not the symbol unknown.
    fn symbol(&self) -> Option<String> {
        match self {
            LoadKey::Chain(t) => chain_of(t).map(|(u, _)| u),
            LoadKey::Expirations(s) => Some(s.clone()),
            LoadKey::Refresh(_) | LoadKey::Quotes | LoadKey::Bars(_) | LoadKey::Backfill(_) => None,
        }
    }
}

/// What a load task reports.
#[derive(Debug)]
pub(super) enum Loaded {
    Chain {
        topic: String,
        picture: Result<ChainPicture, ChainError>,
    },
    Refreshed {
        topic: String,
        picture: ChainPicture,
    },
    Expirations {
        symbol: String,
        list: Vec<Expiration>,
    },
    Quotes(Value),
    /// A pricehistory answer for a `bars:` topic: its first picture, or a backfill.
    Bars {
        symbol: String,
        bars: Vec<tickdesk_wire::bars::Bar>,
        backfill: bool,
        /// The load's generation (see [`Loads::finish_current`]).
        generation: u64,
        /// Why Schwab refused the request (HTTP 400/404), answered as no bars.
        refused: Option<String>,
    },
    /// Schwab refused the request for this symbol (HTTP 400/404): it does not know it.
    Unknown {
        symbol: String,
        why: String,
    },
    /// A failed attempt (the task retries by itself).
    Failed {
        what: String,
        error: String,
    },
}

/// A load task running.
#[derive(Debug)]
struct Running {
    task: AbortHandle,
    /// Every load gets a new one: an answer of another generation belongs to a load cancelled meanwhile.
    generation: u64,
}

/// The load tasks in flight.
#[derive(Debug)]
pub(super) struct Loads {
    rest: Rest,
    tx: mpsc::UnboundedSender<Loaded>,
    running: HashMap<LoadKey, Running>,
    next_generation: u64,
    /// Each task's retry backoff bounds (ms).
    backoff: (f64, f64),
}

impl Loads {
    pub(super) fn new(
        rest: Rest,
        tx: mpsc::UnboundedSender<Loaded>,
        backoff_min: Duration,
        backoff_max: Duration,
    ) -> Loads {
        Loads {
            rest,
            tx,
            running: HashMap::new(),
            next_generation: 0,
            backoff: (
                backoff_min.as_millis() as f64,
                backoff_max.as_millis() as f64,
            ),
        }
    }

    /// The REST client the loads use (with its budget), for the calls that are not loads.
    pub(super) fn rest(&self) -> &Rest {
        &self.rest
    }

    /// Starts a load task that retries with backoff until it succeeds (or is cancelled); the load of the same
    /// key running before is cancelled.
    pub(super) fn start<F, Fut>(&mut self, key: LoadKey, make: F)
    where
        F: Fn(Rest) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<Loaded, RestError>> + Send,
    {
        self.start_generation(key, move |rest, _| make(rest));
    }

    /// [`Loads::start`] for a load whose answer carries its generation (given to `make`), to be checked with
    /// [`Loads::finish_current`].
    pub(super) fn start_generation<F, Fut>(&mut self, key: LoadKey, make: F) -> u64
    where
        F: Fn(Rest, u64) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<Loaded, RestError>> + Send,
    {
        self.cancel(&key);
        let generation = self.next_generation;
        self.next_generation += 1;
        let rest = self.rest.clone();
        let tx = self.tx.clone();
        let what = key.what();
        let mut backoff = Backoff::new(self.backoff.0, self.backoff.1);
        let key_symbol = key.symbol();
        let task = tokio::spawn(async move {
            loop {
                match make(rest.clone(), generation).await {
                    Ok(loaded) => {
                        let _ = tx.send(loaded);
                        return;
                    }
                    // Schwab refuses the request itself (400/404): retrying cannot help; the symbol is unknown.
                    Err(RestError::Http {
                        status: 400 | 404,
                        message,
                        ..
                    }) if key_symbol.is_some() => {
                        let _ = tx.send(Loaded::Unknown {
                            symbol: key_symbol.clone().unwrap_or_default(),
                            why: message,
                        });
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Loaded::Failed {
                            what: what.clone(),
                            error: e.to_string(),
                        });
                    }
                }
                tokio::time::sleep(Duration::from_millis(
                    backoff.next_delay_ms(rand::random::<f64>()) as u64,
                ))
                .await;
            }
        });
        self.running.insert(
            key,
            Running {
                task: task.abort_handle(),
                generation,
            },
        );
        generation
    }

    /// Stops the load of `key`, if one runs.
    pub(super) fn cancel(&mut self, key: &LoadKey) {
        if let Some(r) = self.running.remove(key) {
            r.task.abort();
        }
    }

    /// The load of `key` answered: no longer running.
    pub(super) fn finished(&mut self, key: &LoadKey) {
        self.running.remove(key);
    }

    /// The answer of `key`'s load of `generation` arrived: true, and no longer running, if that load is the one
    /// running; false for the answer of a load cancelled meanwhile (which leaves the running one alone).
    pub(super) fn finish_current(&mut self, key: &LoadKey, generation: u64) -> bool {
        if self.generation(key) != Some(generation) {
            return false;
        }
        self.running.remove(key);
        true
    }

    pub(super) fn is_running(&self, key: &LoadKey) -> bool {
        self.running.contains_key(key)
    }

    /// The generation of the load of `key` running.
    pub(super) fn generation(&self, key: &LoadKey) -> Option<u64> {
        self.running.get(key).map(|r| r.generation)
    }

    /// Stops every load.
    pub(super) fn abort_all(&mut self) {
        for (_, r) in self.running.drain() {
            r.task.abort();
        }
    }
}

/// The symbols Schwab does not know → until when no call is made for them.
#[derive(Debug, Default)]
pub(super) struct Unknown {
    until: HashMap<String, Instant>,
}

impl Unknown {
    /// Notes that Schwab does not know `symbol`, for `cooldown` from now. True if it was not known to be unknown
    /// (never, or its cool-down had passed): news to tell its subscribers.
    pub(super) fn mark(&mut self, symbol: &str, cooldown: Duration) -> bool {
        let now = Instant::now();
        self.until
            .insert(symbol.to_string(), now + cooldown)
            .is_none_or(|t| t <= now)
    }

    /// True while `symbol` is known to be unknown to Schwab (the cool-down has not passed).
    pub(super) fn contains(&self, symbol: &str) -> bool {
        self.until
            .get(symbol)
            .is_some_and(|until| *until > Instant::now())
    }
}

/// A chain's picture. When Schwab's gateway answers that the chain is too large to send (HTTP 502 `TooBigBody`, as
/// a whole `$SPX` chain is), it is asked for in parts — strikes below and above the market, then calls and puts —
/// and the parts merged.
pub(super) async fn fetch_chain(
    rest: &Rest,
    priority: Priority,
    underlying: &str,
    expiry: Date,
    strike_count: Option<usize>,
) -> Result<Result<ChainPicture, ChainError>, RestError> {
    let mut parts = vec![ChainPart::WHOLE];
    let mut merged: Option<ChainPicture> = None;
    while let Some(part) = parts.pop() {
        match rest
            .chain_part(priority, underlying, expiry, strike_count, part)
            .await
        {
            Ok(v) => match chain::parse_chain(&v) {
                Ok(p) => match merged.as_mut() {
                    Some(m) => m.merge(p),
                    None => merged = Some(p),
                },
                Err(e) => return Ok(Err(e)),
            },
            Err(e) if is_too_big(&e) => match part.halves() {
                Some(h) => {
                    debug!(%underlying, %expiry, ?part, "chain too large for Schwab's gateway: asking in halves");
                    parts.extend(h);
                }
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Ok(merged.ok_or(ChainError::NotAnObject))
}

/// The rows of a REST quotes answer (`{SYMBOL: {"quote": {…}, "realtime": …}}`; `errors` lists invalid symbols),
/// leaving out the symbols whose quotes `streamed` (REST must not overwrite them with older values).
pub(super) fn quote_rows(v: &Value, streamed: impl Fn(&str) -> bool) -> Items {
    v.as_object()
        .into_iter()
        .flatten()
        .filter(|(sym, entry)| entry.get("quote").is_some_and(Value::is_object) && !streamed(sym))
        .map(|(sym, entry)| {
            let mut row = chain::underlying_row(&entry["quote"]);
            if let Some(rt) = entry.get("realtime").and_then(Value::as_bool) {
                row.insert("delayed".into(), json!(!rt));
            }
            (sym.clone(), row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_load_started_again_replaces_the_running_one_and_only_its_answer_counts() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut loads = Loads::new(
            super::super::tests_support::rest(),
            tx,
            Duration::from_millis(10),
            Duration::from_millis(20),
        );
        let key = LoadKey::Bars("AAPL".into());
        let first = loads.start_generation(key.clone(), |_, _| std::future::pending());
        let second = loads.start_generation(key.clone(), |_, _| std::future::pending());
        assert_ne!(first, second);
        assert_eq!(loads.generation(&key), Some(second));
        assert!(
            !loads.finish_current(&key, first),
            "a cancelled load's answer"
        );
        assert!(loads.is_running(&key), "the running load stays tracked");
        assert!(loads.finish_current(&key, second));
        assert!(!loads.is_running(&key));
        assert!(!loads.finish_current(&key, second), "answered once");
        // Other keys are independent; cancelling forgets the generation.
        let other = LoadKey::Quotes;
        loads.start(key.clone(), |_| std::future::pending());
        loads.start(other.clone(), |_| std::future::pending());
        loads.cancel(&key);
        assert_eq!(loads.generation(&key), None);
        assert!(loads.is_running(&other));
        loads.finished(&other);
        assert!(!loads.is_running(&other));
        loads.abort_all();
    }

    #[tokio::test]
    async fn a_cancelled_task_stops_and_a_refusal_of_a_symbol_is_reported_once_as_unknown() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut loads = Loads::new(
            super::super::tests_support::rest(),
            tx,
            Duration::from_millis(1),
            Duration::from_millis(2),
        );
        loads.start(LoadKey::Expirations("NOPE".into()), |_| async {
            Err(RestError::Http {
                status: 404,
                path: "/x".into(),
                message: "no such symbol".into(),
            })
        });
        match rx.recv().await {
            Some(Loaded::Unknown { symbol, why }) => {
                assert_eq!((symbol.as_str(), why.as_str()), ("NOPE", "no such symbol"))
            }
            other => panic!("{other:?}"),
        }
        // A quotes load has no symbol: a refusal is a failed attempt, retried until cancelled.
        loads.start(LoadKey::Quotes, |_| async {
            Err(RestError::Http {
                status: 404,
                path: "/x".into(),
                message: "no".into(),
            })
        });
        for _ in 0..2 {
            assert!(matches!(rx.recv().await, Some(Loaded::Failed { .. })));
        }
        loads.cancel(&LoadKey::Quotes);
        tokio::time::sleep(Duration::from_millis(30)).await;
        while let Ok(m) = rx.try_recv() {
            // At most the attempt already on its way when cancelled.
            assert!(matches!(m, Loaded::Failed { .. }));
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(rx.try_recv().is_err(), "the cancelled task stopped");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_symbol_is_news_once_per_cool_down() {
        let mut u = Unknown::default();
        let cool = Duration::from_secs(300);
        assert!(!u.contains("NOPE"));
        assert!(u.mark("NOPE", cool), "first word of it");
        assert!(u.contains("NOPE") && !u.contains("AAPL"));
        tokio::time::advance(Duration::from_secs(100)).await;
        assert!(!u.mark("NOPE", cool), "still cooling down: no news");
        // The cool-down restarted at the second mark.
        tokio::time::advance(Duration::from_secs(250)).await;
        assert!(u.contains("NOPE"));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(!u.contains("NOPE"), "the cool-down passed");
        assert!(u.mark("NOPE", cool), "news again");
    }

    #[test]
    fn rest_quotes_leave_out_the_streamed_symbols_and_say_whether_they_are_delayed() {
        let v = json!({
            "AAPL": {"quote": {"lastPrice": 1.0}, "realtime": false},
            "SPY": {"quote": {"lastPrice": 2.0}, "realtime": true},
            "MSFT": {"quote": {"lastPrice": 3.0}},
            "errors": {"invalidSymbols": ["NOPE"]},
        });
        let rows = quote_rows(&v, |s| s == "SPY");
        assert_eq!(rows.keys().collect::<Vec<_>>(), ["AAPL", "MSFT"]);
        assert_eq!(rows["AAPL"]["delayed"], json!(true));
        assert!(!rows["MSFT"].contains_key("delayed"));
    }
}
