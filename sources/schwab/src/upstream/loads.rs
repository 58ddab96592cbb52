//! REST loads: a chain's first picture, expirations, quotes and the periodic fresh pictures, each a task that
//! retries with backoff until it succeeds or is no longer wanted; and what arrives.

use super::*;
use crate::rest::{is_too_big, ChainPart};

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

impl Upstream {
    pub(super) fn cancel_load(&mut self, key: &LoadKey) {
        self.bars_loads.remove(key);
        if let Some(h) = self.loading.remove(key) {
            h.abort();
        }
    }

    /// Starts a load task that retries with backoff until it succeeds (or is cancelled).
    pub(super) fn start_load<F, Fut>(&mut self, key: LoadKey, make: F)
    where
        F: Fn(Rest) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<Loaded, RestError>> + Send,
    {
        self.cancel_load(&key);
        let rest = self.rest.clone();
        let tx = self.loads_tx.clone();
        let what = match &key {
            LoadKey::Chain(t) => format!("the chain {t}"),
            LoadKey::Refresh(t) => format!("a fresh picture of {t}"),
            LoadKey::Expirations(s) => format!("the expirations of {s}"),
            LoadKey::Quotes => "the start symbols' quotes".to_string(),
            LoadKey::Bars(s) => format!("the bars of {s}"),
            LoadKey::Backfill(s) => format!("the minutes {s}'s bars missed"),
        };
        let mut backoff = Backoff::new(
            self.opts.timing.backoff_min.as_millis() as f64,
            self.opts.timing.backoff_max.as_millis() as f64,
        );
        // The underlying a chain or expirations load asks about, for an answer that says Schwab does not know it.
        let key_symbol = match &key {
            LoadKey::Chain(t) => parse_chain_topic(t).map(|(u, _)| u),
            LoadKey::Expirations(s) => Some(s.clone()),
            // A bars load answers a refusal itself: pricehistory refusing a range is not the symbol unknown.
            LoadKey::Refresh(_) | LoadKey::Quotes | LoadKey::Bars(_) | LoadKey::Backfill(_) => None,
        };
        let handle = tokio::spawn(async move {
            loop {
                match make(rest.clone()).await {
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
        self.loading.insert(key, handle.abort_handle());
    }

    /// Schwab does not know `symbol`: its topics' subscribers get one `unknown_symbol` error frame each, and no call
    /// is made for it until the cool-down has passed and someone asks again.
    pub(super) fn on_unknown(&mut self, symbol: &str, why: &str) {
        self.loading
            .remove(&LoadKey::Expirations(symbol.to_string()));
        let until = tokio::time::Instant::now() + self.opts.timing.unknown_cooldown;
        let first = self
            .unknown
            .insert(symbol.to_string(), until)
            .is_none_or(|t| t <= tokio::time::Instant::now());
        if !first {
            return;
        }
        warn!(%symbol, %why, "Schwab does not know this symbol; no more calls for it for a while");
        let message = format!(
            "Schwab does not know the symbol {symbol} ({why}); nothing will come for it. Asking again after {} s tries again.",
            self.opts.timing.unknown_cooldown.as_secs()
        );
        self.cancel_load(&LoadKey::Bars(symbol.to_string()));
        let prefix = format!("{CHAIN_PREFIX}{symbol}:");
        let exps = format!("{EXPIRATIONS_PREFIX}{symbol}");
        let bars = super::bars::bars_topic(symbol);
        for topic in self.store.topic_names() {
            if topic.starts_with(&prefix) || topic == exps || topic == bars {
                self.cancel_load(&LoadKey::Chain(topic.clone()));
                self.store.notify(
                    &topic,
                    tickdesk_wire::ErrorCode::UnknownSymbol,
                    message.clone(),
                );
            }
        }
        self.status.set_error(Some(message));
    }

    /// True while `symbol` is known to be unknown to Schwab (the cool-down has not passed).
    pub(super) fn is_unknown(&self, symbol: &str) -> bool {
        self.unknown
            .get(symbol)
            .is_some_and(|until| *until > tokio::time::Instant::now())
    }

    pub(super) fn load_chain(&mut self, topic: &str) {
        let Some((underlying, expiry)) = parse_chain_topic(topic) else {
            warn!(%topic, "not a chain topic (expected chain:UNDERLYING:YYYY-MM-DD); it stays empty");
            self.status
                .set_error(Some(format!("{topic} is not chain:UNDERLYING:YYYY-MM-DD")));
            return;
        };
        let dte = self.today.days_until(expiry);
        if !self.opts.filter.dte_allowed(dte) {
            let (lo, hi) = (self.opts.filter.min_dte, self.opts.filter.max_dte);
            warn!(%topic, dte, "expiry outside the DTE window {lo}–{hi} days; the chain stays empty");
            self.status.set_error(Some(format!(
                "{topic} is outside the DTE window ({lo}–{hi} days)"
            )));
            return;
        }
        if self.is_unknown(&underlying) {
            debug!(%topic, "not asked: Schwab does not know the symbol (cool-down)");
            return;
        }
        let strike_count = self.opts.filter.strike_window.map(|w| 2 * w + 2);
        // A topic not wanted yet is one a browser just asked for.
        let priority = match self.wanted_chains.get(topic) {
            Some(&HELD) => Priority::Background,
            Some(&1) => Priority::Start,
            _ => Priority::Browser,
        };
        let t = topic.to_string();
        self.start_load(LoadKey::Chain(t.clone()), move |rest| {
            let (t, u) = (t.clone(), underlying.clone());
            async move {
                Ok(Loaded::Chain {
                    topic: t,
                    picture: fetch_chain(&rest, priority, &u, expiry, strike_count).await?,
                })
            }
        });
    }

    pub(super) fn load_expirations(&mut self, symbol: &str) {
        if self.is_unknown(symbol) {
            return;
        }
        let s = symbol.to_string();
        let clock = self.opts.clock.clone();
        let priority = if self.pinned.contains_key(symbol) {
            Priority::Start
        } else {
            Priority::Browser
        };
        self.start_load(LoadKey::Expirations(s.clone()), move |rest| {
            let (s, clock) = (s.clone(), clock.clone());
            async move {
                let v = rest.expiration_chain(priority, &s).await?;
                Ok(Loaded::Expirations {
                    list: chain::parse_expirations(&v, et_date(clock.now_ms())),
                    symbol: s,
                })
            }
        });
    }

    /// Asks REST for a fresh picture of a loaded chain (same window as its first load).
    pub(super) fn refresh_chain(&mut self, topic: &str) {
        let Some((underlying, expiry)) = parse_chain_topic(topic) else {
            return;
        };
        if self
            .loading
            .contains_key(&LoadKey::Chain(topic.to_string()))
        {
            return;
        }
        let strike_count = self.opts.filter.strike_window.map(|w| 2 * w + 2);
        let t = topic.to_string();
        self.start_load(LoadKey::Refresh(t.clone()), move |rest| {
            let (t, u) = (t.clone(), underlying.clone());
            async move {
                match fetch_chain(&rest, Priority::Background, &u, expiry, strike_count).await? {
                    Ok(picture) => Ok(Loaded::Refreshed { topic: t, picture }),
                    // A refresh that fails is dropped: the chain keeps what it has.
                    Err(e) => Ok(Loaded::Failed {
                        what: format!("a fresh picture of {t}"),
                        error: e.to_string(),
                    }),
                }
            }
        });
    }

    /// A fresh picture: re-centre if the money moved, else update the contracts that are not streamed.
    pub(super) fn on_refreshed(&mut self, topic: String, picture: ChainPicture) {
        self.loading.remove(&LoadKey::Refresh(topic.clone()));
        if parse_chain_topic(&topic).is_some_and(|(_, e)| e < self.today) {
            return;
        }
        let Some(c) = self.chains.get(&topic) else {
            return;
        };
        let off = match (picture.underlying_price, self.opts.filter.strike_window) {
            (Some(p), Some(w)) => {
                chain::strikes_off_centre(&c.contracts, c.centre, p) >= (w / 4).max(2)
            }
            _ => false,
        };
        if off {
            self.install_chain(topic, picture);
            return;
        }
        let opts = self.subscribed.get(LEVELONE_OPTIONS);
        let mine: HashSet<&str> = c.contracts.iter().map(|k| k.symbol.as_str()).collect();
        let ts = wall_ms();
        let rows: Items = picture
            .contracts
            .iter()
            .filter(|k| {
                mine.contains(k.symbol.as_str()) && !opts.is_some_and(|s| s.contains(&k.symbol))
            })
            .map(|k| (k.symbol.clone(), k.row(false, ts)))
            .collect();
        if !rows.is_empty() {
            debug!(%topic, contracts = rows.len(), "refreshed the contracts outside the key budget");
            self.store.publish(&topic, rows, vec![]);
        }
    }

    /// Holds the first `held_expiries` listed expiries of `symbol` as REST pictures (class 2), for the analytics
    /// across expiries; the ones a browser or a start symbol already wants keep their class.
    pub(super) fn hold_expiries(&mut self, symbol: &str, list: &[Expiration]) {
        if self.opts.held_expiries == 0 {
            return;
        }
        let topics: Vec<String> = list
            .iter()
            .take(self.opts.held_expiries)
            .map(|e| chain_topic(symbol, e.date))
            .collect();
        for t in &topics {
            if !self.wanted_chains.contains_key(t) {
                self.wanted_chains.insert(t.clone(), HELD);
                self.load_chain(t);
            }
        }
        // Held topics that left the list (the day rolled) are let go unless something else wants them.
        if let Some(old) = self.held.insert(symbol.to_string(), topics.clone()) {
            for t in old.into_iter().filter(|t| !topics.contains(t)) {
                if self.wanted_chains.get(&t) == Some(&HELD) {
                    self.wanted_chains.remove(&t);
                    self.cancel_load(&LoadKey::Chain(t.clone()));
                    self.cancel_load(&LoadKey::Refresh(t.clone()));
                    self.chains.remove(&t);
                    // No longer held: emptied, not left frozen (the analytics drop it).
                    self.store.reset(&t, Items::new());
                }
            }
        }
    }

    pub(super) fn on_loaded(&mut self, loaded: Loaded) {
        match loaded {
            Loaded::Failed { what, error } => {
                warn!(%error, "cannot load {what} from Schwab; retrying");
                self.status.set_error(Some(error));
            }
            Loaded::Quotes(v) => {
                self.loading.remove(&LoadKey::Quotes);
                let rows: Items = v
                    .as_object()
                    .into_iter()
                    .flatten()
                    // Entries are `{SYMBOL: {"quote": {…}, "realtime": …}}`; `errors` lists invalid symbols.
                    .filter(|(sym, entry)| {
                        entry.get("quote").is_some_and(Value::is_object)
                            && !self.streamed_quotes.contains(sym.as_str())
                    })
                    .map(|(sym, entry)| {
                        let mut row = chain::underlying_row(&entry["quote"]);
                        if let Some(rt) = entry.get("realtime").and_then(Value::as_bool) {
                            row.insert("delayed".into(), json!(!rt));
                        }
                        (sym.clone(), row)
                    })
                    .collect();
                self.store.publish(QUOTES_TOPIC, rows, vec![]);
            }
            Loaded::Unknown { symbol, why } => self.on_unknown(&symbol, &why),
            Loaded::Bars {
                symbol,
                bars,
                backfill,
                generation,
                refused,
            } => self.on_bars_loaded(symbol, bars, backfill, generation, refused),
            Loaded::Expirations { symbol, list } => {
                self.loading.remove(&LoadKey::Expirations(symbol.clone()));
                if list.is_empty() {
                    return self.on_unknown(&symbol, "it lists no expirations");
                }
                let today = self.today;
                let list: Vec<Expiration> = list
                    .into_iter()
                    .filter(|e| self.opts.filter.dte_allowed(e.dte))
                    .collect();
                let items: Items = list
                    .iter()
                    .map(|e| (e.date.to_string(), e.row(today)))
                    .collect();
                self.store
                    .reset(&format!("{EXPIRATIONS_PREFIX}{symbol}"), items);
                if let Some(slot @ None) = self.pinned.get_mut(&symbol) {
                    match list.first() {
                        Some(e) => {
                            let topic = chain_topic(&symbol, e.date);
                            info!(%topic, "streaming the nearest expiry of a start symbol");
                            *slot = Some(topic.clone());
                            let class = self.wanted_chains.entry(topic.clone()).or_insert(1);
                            // Held before as a REST picture: now it streams.
                            *class = (*class).min(1);
                            self.load_chain(&topic);
                        }
                        None => {
                            warn!(%symbol, "no expiry within the DTE window; nothing to stream for it")
                        }
                    }
                }
                self.hold_expiries(&symbol, &list);
            }
            Loaded::Refreshed { topic, picture } => self.on_refreshed(topic, picture),
            Loaded::Chain { topic, picture } => {
                self.loading.remove(&LoadKey::Chain(topic.clone()));
                let expired = parse_chain_topic(&topic).is_some_and(|(_, e)| e < self.today);
                // An answer that was already on its way when the day rolled must not bring an expired chain back.
                if !self.wanted_chains.contains_key(&topic) || expired {
                    return;
                }
                let picture = match picture {
                    Ok(p) => p,
                    Err(ChainError::Failed { symbol, status }) => {
                        let u = parse_chain_topic(&topic).map_or(symbol, |(u, _)| u);
                        return self
                            .on_unknown(&u, &format!("its chain answer was status {status:?}"));
                    }
                    Err(e) => {
                        warn!(%topic, error = %e, "Schwab has no chain for this topic; it stays empty");
                        self.status.set_error(Some(e.to_string()));
                        self.store.reset(&topic, Items::new());
                        return;
                    }
                };
                self.install_chain(topic, picture);
            }
        }
    }

    /// A chain's first picture: filter, publish as a fresh snapshot (reset), remember its keys.
    pub(super) fn install_chain(&mut self, topic: String, picture: ChainPicture) {
        self.refused = None;
        let Some((underlying, expiry)) = parse_chain_topic(&topic) else {
            return;
        };
        let of_expiry: Vec<Contract> = picture
            .contracts
            .into_iter()
            .filter(|c| c.expiry == expiry)
            .collect();
        let contracts =
            chain::filter_contracts(of_expiry, picture.underlying_price, &self.opts.filter);
        let ranks = chain::money_rank(&contracts, picture.underlying_price);
        let centre = contracts
            .iter()
            .zip(&ranks)
            .min_by_key(|(_, r)| **r)
            .map(|(c, _)| c.strike);
        let ts = wall_ms();
        let opts = self.subscribed.get(LEVELONE_OPTIONS);
        let items = chain::chain_items(&contracts, |k| opts.is_some_and(|s| s.contains(k)), ts);
        info!(%topic, contracts = contracts.len(), "loaded the chain's first picture");
        self.store.reset(&topic, items);
        if let Some(mut row) = picture.underlying {
            if !self.streamed_quotes.contains(&underlying) {
                row.insert("delayed".into(), json!(picture.delayed));
                self.store.publish(
                    QUOTES_TOPIC,
                    [(underlying.clone(), row)].into_iter().collect(),
                    vec![],
                );
            }
        }
        if picture.delayed {
            self.delayed_keys.insert(format!("chain {topic}"));
            self.status.set_delayed(true);
        }
        for c in &contracts {
            self.key_topic.insert(c.symbol.clone(), topic.clone());
        }
        self.chains.insert(
            topic,
            Chain {
                contracts,
                ranks,
                centre,
            },
        );
    }
}
