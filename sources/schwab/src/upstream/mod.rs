//! The orchestrator: one streamer connection for the whole relay, driven by what browsers watch.
//!
//! One task reacts to one event at a time (demand, a load's answer, the link, a timer), so nothing is locked. Its
//! state is in parts that each own theirs: `chains::Chains` (which chains are wanted and why, their pictures),
//! `bars::Bars` (the `bars:` topics), `loads::Loads` (the REST tasks in flight) and `loads::Unknown`,
//! `subscription::Subscription` (what is streamed, the one command in flight), `connection::Connection` (tokens,
//! reconnects) and `inbound::Feed` (what the stream delivered). The parts never reach into each other: the
//! handlers of `Upstream` below read one and act on another.
//!
//! The link ([`Link`]) runs the plan's SUBS/ADD/UNSUBS one at a time in its own task; this loop only sends the
//! next command and hears its outcome, so it never waits on a streamer round trip. After a reconnect the
//! subscription starts from nothing, and each key's first item is a snapshot applied whole.
//!
//! Response codes: **3** (login denied) refreshes the token, then reconnects; **12** (another session took the
//! connection) stops for good and says so; **19** (over the symbol limit) lowers the budget by 10% and replans;
//! **20** (no session for these ids) logs in again on the same socket, reconnecting if that fails; **30** (stop
//! streaming) reconnects and resubscribes.

mod bars;
mod chains;
mod connection;
mod demand;
mod inbound;
mod loads;
mod options;
mod subscription;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tickdesk_wire::Items;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::auth::{self, TokenManager};
use super::budget::{Priority, RestBudget};
use super::chain::{self, ChainError, ChainPicture, Expiration};
use super::link::{Link, LinkCommand, LinkEvent};
use super::plan;
use super::rest::{Rest, RestError};
use super::status::{MarketNote, State, Status};
use super::streamer::{DataItem, Inbound, Session, StreamError};
use bars::{bars_topic, Bars};
pub use chains::{chain_of, chain_topic};
use chains::{Chain, Chains};
use connection::{obtain_tokens, stopping, ConnectFailed, Connection};
use demand::Wanted;
use inbound::Feed;
use loads::{fetch_chain, LoadKey, Loaded, Loads, Unknown};
pub use options::{Auth, Options, Timing};
use subscription::{Outcome, Subscription};
use tickdesk_hub::broker::Publisher;
use tickdesk_hub::demand::Demand;
use tickdesk_market::clock::wall_ms;
use tickdesk_market::zone::et_date;
use tickdesk_market::{calendar, Date, Phase};
use tickdesk_schwab_proto::fields::{CHART_EQUITY, LEVELONE_EQUITIES, LEVELONE_OPTIONS};
use tickdesk_wire::topics::{CHAIN_PREFIX, EXPIRATIONS_PREFIX, QUOTES as QUOTES_TOPIC};

/// Runs the client until shutdown.
/// Expects the on-demand prefixes to be registered already ([`super::spawn_with`] does it before spawning, so a
/// browser can never subscribe before they exist).
pub(super) async fn run(
    store: Arc<dyn Publisher>,
    demand: Arc<Demand>,
    opts: Options,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut status = Status::new(store.clone(), opts.timing.status_throttle);
    let http = auth::http_client(opts.timing.http_timeout);
    let Some(tokens) = obtain_tokens(&opts, &http, &mut status, &mut shutdown).await else {
        return;
    };
    let budget = Arc::new(RestBudget::new(
        opts.rest_per_window,
        opts.timing.rest_window,
    ));
    let rest = Rest::new(http, &opts.api, tokens.clone(), budget);
    let (loads_tx, loads_rx) = mpsc::unbounded_channel();
    let mut up = Upstream::new(store, opts, rest, tokens, status, loads_tx);
    up.run(demand, loads_rx, shutdown).await;
}

/// The orchestrator's state: the shared sinks and settings, and the parts.
struct Upstream {
    store: Arc<dyn Publisher>,
    opts: Options,
    status: Status,
    loads: Loads,
    unknown: Unknown,
    chains: Chains,
    bars: Bars,
    subscription: Subscription,
    connection: Connection,
    feed: Feed,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("chains", &self.chains.loaded_topics())
            .field("subscription", &self.subscription)
            .finish_non_exhaustive()
    }
}

/// Waits for the link's next event, or forever without a link.
async fn next_link_event(link: &mut Option<Link>) -> LinkEvent {
    match link {
        Some(l) => l.next().await,
        None => std::future::pending().await,
    }
}

/// Waits for the connection attempt, or forever without one.
async fn connected(
    attempt: &mut Option<JoinHandle<Result<Session, ConnectFailed>>>,
) -> Result<Session, ConnectFailed> {
    match attempt {
        Some(t) => t
            .await
            .unwrap_or_else(|e| Err(ConnectFailed::Retry(format!("connecting failed: {e}")))),
        None => std::future::pending().await,
    }
}

impl Upstream {
    /// The orchestrator's state before its first step: nothing wanted, loaded or connected yet.
    fn new(
        store: Arc<dyn Publisher>,
        opts: Options,
        rest: Rest,
        tokens: Arc<TokenManager>,
        status: Status,
        loads_tx: mpsc::UnboundedSender<Loaded>,
    ) -> Upstream {
        Upstream {
            loads: Loads::new(
                rest,
                loads_tx,
                opts.timing.backoff_min,
                opts.timing.backoff_max,
            ),
            unknown: Unknown::default(),
            chains: Chains::new(&opts.symbols, et_date(opts.clock.now_ms())),
            bars: Bars::new(store.clone(), opts.clock.clone(), opts.bars_sessions),
            subscription: Subscription::new(opts.key_budget),
            connection: Connection::new(tokens, &opts),
            feed: Feed::default(),
            store,
            opts,
            status,
        }
    }

    async fn run(
        &mut self,
        demand: Arc<Demand>,
        mut loads_rx: mpsc::UnboundedReceiver<Loaded>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut demand_rx = demand.watch();
        let mut link: Option<Link> = None;
        let mut attempt: Option<JoinHandle<Result<Session, ConnectFailed>>> = None;
        self.status
            .set(State::Connecting, "loading the start symbols");
        self.connection.check_token_health(&mut self.status).await;
        let symbols = self.chains.start_symbols();
        if !symbols.is_empty() {
            self.loads.start(LoadKey::Quotes, move |rest| {
                let symbols = symbols.clone();
                async move {
                    rest.quotes(Priority::Start, &symbols)
                        .await
                        .map(Loaded::Quotes)
                }
            });
        }
        self.on_demand(&demand_rx.borrow_and_update().clone());
        let mut status_tick = tokio::time::interval(
            self.opts
                .timing
                .status_throttle
                .max(Duration::from_millis(50)),
        );
        let mut token_due = self.connection.refresh_due().await;
        let mut market_tick =
            tokio::time::interval(self.opts.timing.market_check.max(Duration::from_millis(20)));
        market_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut refresh_tick = tokio::time::interval(
            self.opts
                .timing
                .chain_refresh
                .max(Duration::from_millis(100)),
        );
        refresh_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick of an interval is immediate; the first refresh waits a period (the chain was just loaded).
        refresh_tick.reset();
        loop {
            let want_connection = self.connection.may_connect() && self.has_wanted_keys();
            tokio::select! {
                biased;
                _ = stopping(&mut shutdown) => break,
                Some(loaded) = loads_rx.recv() => {
                    self.on_loaded(loaded);
                    self.pump(&link);
                }
                changed = demand_rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let counts = demand_rx.borrow_and_update().clone();
                    self.on_demand(&counts);
                    self.pump(&link);
                }
                _ = tokio::time::sleep_until(self.connection.next_connect()),
                    if link.is_none() && attempt.is_none() && want_connection => {
                    attempt = Some(self.connection.start(self.loads.rest(), &mut self.status));
                }
                r = connected(&mut attempt) => {
                    attempt = None;
                    self.on_connect_result(r, &mut link).await;
                }
                _ = tokio::time::sleep_until(token_due) => {
                    let words = self.subscription.streaming_words();
                    let ok = self.connection.on_token_timer(&mut self.status, words).await;
                    let now = tokio::time::Instant::now();
                    token_due = if self.connection.tokens_lapsed() || !ok {
                        now + self.opts.timing.token_poll.min(Duration::from_secs(5))
                    } else {
                        self.connection.refresh_due().await.max(now + Duration::from_millis(200))
                    };
                }
                _ = status_tick.tick() => self.status.flush(),
                _ = market_tick.tick() => {
                    self.on_market_clock();
                    self.pump(&link);
                }
                _ = refresh_tick.tick() => self.refresh_not_live(),
                // Last: under a busy stream, demand changes, loads and timers still get their turn.
                ev = next_link_event(&mut link) => self.on_link_event(ev, &mut link).await,
            }
        }
        self.loads.abort_all();
        if let Some(a) = attempt.take() {
            a.abort();
        }
        if let Some(l) = link.take() {
            l.close().await;
        }
        self.subscription.link_lost();
        self.publish_live_flags();
        self.status.set(State::Stopped, "relay shutting down");
        info!("Schwab client stopped");
    }
}

/// Demand: what browsers watch becomes what is wanted, and the loads that follow.
impl Upstream {
    /// Recomputes what is wanted from the demand counts and the start symbols; starts and cancels loads.
    fn on_demand(&mut self, counts: &BTreeMap<String, usize>) {
        self.subscription.clear_refused();
        let wanted = Wanted::of(counts, self.opts.held_expiries > 0, &self.opts.foreign_bars);
        let change = self.chains.set_demand(&wanted.chains, wanted.exps);
        // Chains no longer wanted: stop loading, and empty them (their keys are forgotten; the plan drops them).
        for topic in change.gone {
            self.cancel_chain_loads(&topic);
            // Emptied, not left frozen: nobody refreshes it any more, and views across expiries (the analytics)
            // must not count a stale picture. A browser that comes back gets it loaded afresh.
            self.store.reset(&topic, Items::new());
            debug!(%topic, "chain no longer watched: emptied");
        }
        for topic in &change.added {
            // A topic not wanted before is one a browser just asked for.
            self.load_chain_at(topic, Priority::Browser);
        }
        for sym in change.exps_gone {
            self.loads.cancel(&LoadKey::Expirations(sym));
        }
        for sym in &change.exps_added {
            self.load_expirations(sym);
        }
        self.set_wanted_bars(wanted.bars);
    }

    fn cancel_chain_loads(&mut self, topic: &str) {
        self.loads.cancel(&LoadKey::Chain(topic.to_string()));
        self.loads.cancel(&LoadKey::Refresh(topic.to_string()));
    }

    /// The `bars:` symbols watched now: new ones get their first picture, the ones let go are emptied.
    fn set_wanted_bars(&mut self, wanted: BTreeSet<String>) {
        let (gone, added) = self.bars.set_wanted(wanted);
        for symbol in gone {
            self.loads.cancel(&LoadKey::Bars(symbol.clone()));
            self.loads.cancel(&LoadKey::Backfill(symbol));
        }
        for symbol in &added {
            self.load_bars(symbol);
        }
    }

    /// True while there is something to stream: a connection is worth having.
    fn has_wanted_keys(&self) -> bool {
        !self.opts.symbols.is_empty() || self.chains.has_wanted() || !self.bars.is_empty()
    }
}

/// REST loads: starting them, and what they bring.
impl Upstream {
    fn load_chain(&mut self, topic: &str) {
        self.load_chain_at(topic, self.chains.priority(topic));
    }

    fn load_chain_at(&mut self, topic: &str, priority: Priority) {
        let Some((underlying, expiry)) = chain_of(topic) else {
            warn!(%topic, "not a chain topic (expected chain:UNDERLYING:YYYY-MM-DD); it stays empty");
            self.status
                .set_error(Some(format!("{topic} is not chain:UNDERLYING:YYYY-MM-DD")));
            return;
        };
        let dte = self.chains.today().days_until(expiry);
        if !self.opts.filter.dte_allowed(dte) {
            let (lo, hi) = (self.opts.filter.min_dte, self.opts.filter.max_dte);
            warn!(%topic, dte, "expiry outside the DTE window {lo}–{hi} days; the chain stays empty");
            self.status.set_error(Some(format!(
                "{topic} is outside the DTE window ({lo}–{hi} days)"
            )));
            return;
        }
        if self.unknown.contains(&underlying) {
            debug!(%topic, "not asked: Schwab does not know the symbol (cool-down)");
            return;
        }
        let strike_count = self.opts.filter.strike_window.map(|w| 2 * w + 2);
        let t = topic.to_string();
        self.loads.start(LoadKey::Chain(t.clone()), move |rest| {
            let (t, u) = (t.clone(), underlying.clone());
            async move {
                Ok(Loaded::Chain {
                    topic: t,
                    picture: fetch_chain(&rest, priority, &u, expiry, strike_count).await?,
                })
            }
        });
    }

    fn load_expirations(&mut self, symbol: &str) {
        if self.unknown.contains(symbol) {
            return;
        }
        let s = symbol.to_string();
        let clock = self.opts.clock.clone();
        let priority = if self.chains.is_start_symbol(symbol) {
            Priority::Start
        } else {
            Priority::Browser
        };
        self.loads
            .start(LoadKey::Expirations(s.clone()), move |rest| {
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
    fn refresh_chain(&mut self, topic: &str) {
        let Some((underlying, expiry)) = chain_of(topic) else {
            return;
        };
        if self.loads.is_running(&LoadKey::Chain(topic.to_string())) {
            return;
        }
        let strike_count = self.opts.filter.strike_window.map(|w| 2 * w + 2);
        let t = topic.to_string();
        self.loads.start(LoadKey::Refresh(t.clone()), move |rest| {
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

    /// The first picture of a `bars:` topic: every minute of the window so far, extended hours included.
    fn load_bars(&mut self, symbol: &str) {
        if self.unknown.contains(symbol) {
            debug!(%symbol, "bars not asked: Schwab does not know the symbol (cool-down)");
            return;
        }
        let start = self.bars.window();
        self.fetch_bars(LoadKey::Bars(symbol.to_string()), symbol, start, false);
    }

    /// A pricehistory load from `from` to the market clock's now, reported as [`Loaded::Bars`].
    fn fetch_bars(&mut self, key: LoadKey, symbol: &str, from: i64, backfill: bool) {
        let (s, clock) = (symbol.to_string(), self.opts.clock.clone());
        self.loads.start_generation(key, move |rest, generation| {
            let (s, clock) = (s.clone(), clock.clone());
            async move {
                let now = clock.now_ms();
                let v = match rest
                    .price_history(Priority::Browser, &s, from.min(now), now)
                    .await
                {
                    Ok(v) => v,
                    // Refused (400/404): the same as no history; whether the symbol is unknown is decided with
                    // what else is known of it.
                    Err(RestError::Http {
                        status: 400 | 404,
                        message,
                        ..
                    }) if !backfill => {
                        return Ok(Loaded::Bars {
                            symbol: s,
                            bars: Vec::new(),
                            backfill,
                            generation,
                            refused: Some(message),
                        })
                    }
                    Err(e) => return Err(e),
                };
                let bars =
                    crate::bars::parse_price_history(&v).ok_or_else(|| RestError::BadReply {
                        path: "/marketdata/v1/pricehistory".into(),
                        message: "no candles list".into(),
                    })?;
                Ok(Loaded::Bars {
                    symbol: s,
                    bars,
                    backfill,
                    generation,
                    refused: None,
                })
            }
        });
    }

    fn on_loaded(&mut self, loaded: Loaded) {
        match loaded {
            Loaded::Failed { what, error } => {
                warn!(%error, "cannot load {what} from Schwab; retrying");
                self.status.set_error(Some(error));
            }
            Loaded::Quotes(v) => {
                self.loads.finished(&LoadKey::Quotes);
                let rows = loads::quote_rows(&v, |s| self.feed.streams_quote(s));
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
            Loaded::Expirations { symbol, list } => self.on_expirations(symbol, list),
            Loaded::Refreshed { topic, picture } => self.on_refreshed(topic, picture),
            Loaded::Chain { topic, picture } => {
                self.loads.finished(&LoadKey::Chain(topic.clone()));
                // An answer that was already on its way when the day rolled must not bring an expired chain back.
                if !self.chains.is_wanted(&topic) || self.chains.is_expired(&topic) {
                    return;
                }
                let picture = match picture {
                    Ok(p) => p,
                    Err(ChainError::Failed { symbol, status }) => {
                        let u = chain_of(&topic).map_or(symbol, |(u, _)| u);
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

    /// An expirations list: published, a start symbol pins its nearest expiry, the first ones are held.
    fn on_expirations(&mut self, symbol: String, list: Vec<Expiration>) {
        self.loads.finished(&LoadKey::Expirations(symbol.clone()));
        if list.is_empty() {
            return self.on_unknown(&symbol, "it lists no expirations");
        }
        let today = self.chains.today();
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
        if let Some(topic) = self.chains.pin(&symbol, &list) {
            self.load_chain(&topic);
        }
        if self.opts.held_expiries == 0 {
            return;
        }
        let held = self.chains.hold(&symbol, &list, self.opts.held_expiries);
        for t in &held.added {
            self.load_chain(t);
        }
        for t in held.released {
            self.cancel_chain_loads(&t);
            // No longer held: emptied, not left frozen (the analytics drop it).
            self.store.reset(&t, Items::new());
        }
    }

    /// A chain's first picture: filter, publish as a fresh snapshot (reset), remember its keys.
    fn install_chain(&mut self, topic: String, picture: ChainPicture) {
        self.subscription.clear_refused();
        let Some((underlying, expiry)) = chain_of(&topic) else {
            return;
        };
        let chain = Chain::new(
            expiry,
            picture.contracts,
            picture.underlying_price,
            &self.opts.filter,
        );
        let items = chain::chain_items(
            &chain.contracts,
            |k| self.subscription.is_streamed(LEVELONE_OPTIONS, k),
            wall_ms(),
        );
        info!(%topic, contracts = chain.contracts.len(), "loaded the chain's first picture");
        self.store.reset(&topic, items);
        if let Some(mut row) = picture.underlying {
            if !self.feed.streams_quote(&underlying) {
                row.insert("delayed".into(), json!(picture.delayed));
                self.store.publish(
                    QUOTES_TOPIC,
                    [(underlying.clone(), row)].into_iter().collect(),
                    vec![],
                );
            }
        }
        if picture.delayed {
            self.feed.chain_delayed(&topic);
            self.status.set_delayed(true);
        }
        self.chains.install(topic, chain);
    }

    /// A fresh picture: re-centre if the money moved, else update the contracts that are not streamed.
    fn on_refreshed(&mut self, topic: String, picture: ChainPicture) {
        self.loads.finished(&LoadKey::Refresh(topic.clone()));
        if self.chains.is_expired(&topic) {
            return;
        }
        let Some(c) = self.chains.get(&topic) else {
            return;
        };
        let off = match (picture.underlying_price, self.opts.filter.strike_window) {
            (Some(p), Some(w)) => c.off_centre(p, w),
            _ => false,
        };
        if off {
            self.install_chain(topic, picture);
            return;
        }
        let mine = self.chains.keys_of(&topic);
        let ts = wall_ms();
        let rows: Items = picture
            .contracts
            .iter()
            .filter(|k| {
                mine.contains(k.symbol.as_str())
                    && !self.subscription.is_streamed(LEVELONE_OPTIONS, &k.symbol)
            })
            .map(|k| (k.symbol.clone(), k.row(false, ts)))
            .collect();
        if !rows.is_empty() {
            debug!(%topic, contracts = rows.len(), "refreshed the contracts outside the key budget");
            self.store.publish(&topic, rows, vec![]);
        }
    }

    /// A pricehistory answer (a first picture or a backfill), unless it belongs to a load cancelled meanwhile.
    fn on_bars_loaded(
        &mut self,
        symbol: String,
        bars: Vec<tickdesk_wire::bars::Bar>,
        backfill: bool,
        generation: u64,
        refused: Option<String>,
    ) {
        let key = if backfill {
            LoadKey::Backfill(symbol.clone())
        } else {
            LoadKey::Bars(symbol.clone())
        };
        if !self.loads.finish_current(&key, generation) {
            debug!(%symbol, generation, "a cancelled bars load's answer: ignored");
            return;
        }
        if !self.bars.contains(&symbol) {
            return;
        }
        let first_empty = self.bars.is_first_empty(&symbol, backfill, &bars);
        if first_empty && !self.otherwise_known(&symbol) {
            // The window without a single minute and nothing else heard of it: Schwab does not know it.
            let why = refused.map_or("it has no price history".to_string(), |m| {
                format!("pricehistory refused it: {m}")
            });
            return self.on_unknown(&symbol, &why);
        }
        if first_empty {
            // A symbol that trades (quotes, a chain) but has no minute in the window: an empty picture, not an
            // unknown symbol, whose error would also reach its chain and expirations topics.
            info!(%symbol, refused = ?refused, "no price history in the window: the bars start empty");
        }
        self.bars.merge(&symbol, bars, backfill);
    }

    /// True when `symbol` showed it trades otherwise: a streamed or REST quote, a loaded chain, listed expirations.
    fn otherwise_known(&self, symbol: &str) -> bool {
        let has_items = |topic: &str| {
            self.store
                .snapshot(topic)
                .is_some_and(|s| !s.items.is_empty())
        };
        self.feed.streams_quote(symbol)
            || self.chains.has_underlying(symbol)
            || self
                .store
                .snapshot(QUOTES_TOPIC)
                .is_some_and(|s| s.items.contains_key(symbol))
            || has_items(&format!("{EXPIRATIONS_PREFIX}{symbol}"))
    }

    /// Schwab does not know `symbol`: its topics' subscribers get one `unknown_symbol` error frame each, and no call
    /// is made for it until the cool-down has passed and someone asks again.
    fn on_unknown(&mut self, symbol: &str, why: &str) {
        self.loads
            .finished(&LoadKey::Expirations(symbol.to_string()));
        if !self.unknown.mark(symbol, self.opts.timing.unknown_cooldown) {
            return;
        }
        warn!(%symbol, %why, "Schwab does not know this symbol; no more calls for it for a while");
        let message = format!(
            "Schwab does not know the symbol {symbol} ({why}); nothing will come for it. Asking again after {} s tries again.",
            self.opts.timing.unknown_cooldown.as_secs()
        );
        self.loads.cancel(&LoadKey::Bars(symbol.to_string()));
        let prefix = format!("{CHAIN_PREFIX}{symbol}:");
        let exps = format!("{EXPIRATIONS_PREFIX}{symbol}");
        let bars = bars_topic(symbol);
        for topic in self.store.topic_names() {
            if topic.starts_with(&prefix) || topic == exps || topic == bars {
                self.loads.cancel(&LoadKey::Chain(topic.clone()));
                self.store.notify(
                    &topic,
                    tickdesk_wire::ErrorCode::UnknownSymbol,
                    message.clone(),
                );
            }
        }
        self.status.set_error(Some(message));
    }
}

/// The subscription: the plan within the key budget, sent one command at a time, and the `live` flags.
impl Upstream {
    /// Every wanted key, most important first: the underlyings (start symbols, the wanted chains', the watched
    /// charts' — a chart's current minute moves with its symbol's last price), the charts, the chains' contracts.
    /// A symbol Schwab does not know takes no key: it would only spend the budget the others need.
    fn wanted_keys(&self) -> Vec<(&'static str, String)> {
        let mut underlyings: Vec<String> = self.opts.symbols.clone();
        for u in self.chains.underlyings() {
            if !underlyings.contains(&u) {
                underlyings.push(u);
            }
        }
        let charts: Vec<String> = self
            .bars
            .symbols()
            .filter(|s| !self.unknown.contains(s))
            .cloned()
            .collect();
        for s in &charts {
            if !underlyings.contains(s) {
                underlyings.push(s.clone());
            }
        }
        plan::prioritize(&underlyings, &charts, &self.chains.candidates())
    }

    /// Brings the subscription one step closer to the plan: sends the next SUBS/ADD/UNSUBS the plan needs to the
    /// link, unless one is in flight (its outcome calls this again). Once nothing is left to send, publishes the
    /// `live` flags and the budget note.
    fn pump(&mut self, link: &Option<Link>) {
        if link.is_some() && self.subscription.busy() {
            return;
        }
        let p = self.subscription.plan(&self.wanted_keys());
        if let Some(l) = link {
            if let Some(c) = self.subscription.next_command(&p) {
                l.send(c);
                return;
            }
        }
        self.publish_live_flags();
        if link.is_some() && matches!(self.status.state(), State::Connecting | State::Reconnecting)
        {
            // Connected and the subscription in place: live from here.
            let state = if self.status.delayed() {
                State::Delayed
            } else {
                State::Live
            };
            self.status.set(state, self.subscription.streaming_words());
        }
        if link.is_some() && matches!(self.status.state(), State::Live | State::Delayed) {
            let state = self.status.state();
            self.status.set(state, self.subscription.streaming_words());
        }
        let bars_not_live: Vec<String> = self
            .bars
            .symbols()
            .filter(|s| !p.is_live(CHART_EQUITY, s) && !self.unknown.contains(s))
            .cloned()
            .collect();
        let note = self.subscription.budget_note(&p, &bars_not_live);
        self.status.set_budget_note(note);
    }

    /// What the link reports.
    async fn on_link_event(&mut self, ev: LinkEvent, link: &mut Option<Link>) {
        match ev {
            LinkEvent::Inbound(ev) => {
                if let Err(e) = self.on_inbound(ev) {
                    self.drop_link(link, e).await;
                }
            }
            LinkEvent::Done { command, result } => {
                match self.subscription.on_done(command, result) {
                    Outcome::Next => {}
                    Outcome::Refused(words) => self.status.set_error(Some(words)),
                    Outcome::Relogged => {
                        self.feed.relogged();
                        self.bars.connected();
                    }
                    Outcome::Relogin => {
                        if let Some(l) = link.as_ref() {
                            l.send(LinkCommand::Relogin);
                            self.subscription.relogin_sent();
                        }
                        return;
                    }
                    Outcome::Failed(e) => return self.drop_link(link, e).await,
                }
                self.pump(link);
            }
            LinkEvent::Closed(e) => self.drop_link(link, e).await,
        }
    }

    /// `live` of every loaded contract: streamed now or not.
    fn publish_live_flags(&self) {
        for (topic, c) in self.chains.loaded() {
            let rows = c.live_rows(|k| self.subscription.is_streamed(LEVELONE_OPTIONS, k));
            self.store.publish(topic, rows, vec![]);
        }
    }
}

/// The connection: an attempt's outcome, a link lost.
impl Upstream {
    /// The attempt's outcome: a link and the plan from nothing, or the failure handled.
    async fn on_connect_result(
        &mut self,
        r: Result<Session, ConnectFailed>,
        link: &mut Option<Link>,
    ) {
        let s = match r {
            Ok(s) => s,
            Err(ConnectFailed::Token(e)) => {
                return self.connection.token_failed(e, &mut self.status)
            }
            Err(ConnectFailed::Retry(e)) => {
                return self.connection.retry_later(e, &mut self.status)
            }
            Err(ConnectFailed::Stream(e)) => {
                return self.connection.after_failure(e, &mut self.status).await
            }
        };
        self.subscription.reset();
        self.feed.connected();
        self.bars.connected();
        *link = Some(self.connection.connected(s));
        self.status.set_error(None);
        // Live once the plan's commands have landed (see `pump`), so "live" means streaming what is watched.
        self.pump(link);
    }

    /// The link failed: drop it, mark everything not live, decide what next.
    async fn drop_link(&mut self, link: &mut Option<Link>, e: StreamError) {
        *link = None;
        self.subscription.link_lost();
        self.publish_live_flags();
        self.connection.dropped();
        self.connection.after_failure(e, &mut self.status).await;
    }
}

/// What the streamer sends: data items become deltas of the chain, quote and bars topics.
impl Upstream {
    fn on_inbound(&mut self, ev: Inbound) -> Result<(), StreamError> {
        self.status.message_seen();
        match ev {
            Inbound::Heartbeat(_) => Ok(()),
            Inbound::Response(r) => {
                debug!(requestid = %r.requestid, code = r.code, "unmatched Schwab response ignored");
                Ok(())
            }
            Inbound::Notice { code: 0, .. } => Ok(()),
            Inbound::Notice { code, msg, service } => Err(StreamError::Code {
                code,
                msg,
                context: format!("a {service} notice"),
            }),
            Inbound::Data {
                service,
                timestamp,
                items,
            } => {
                let ts = timestamp.unwrap_or_else(wall_ms);
                match service.as_str() {
                    LEVELONE_OPTIONS => self.on_option_items(items, ts),
                    LEVELONE_EQUITIES => self.on_equity_items(items, ts),
                    CHART_EQUITY => self.on_chart_items(items),
                    other => debug!(service = other, "data for a service not used; ignored"),
                }
                Ok(())
            }
        }
    }

    fn note_delayed(&mut self, key: &str, delayed: Option<bool>) {
        if let Some(any) = self.feed.note_delayed(key, delayed) {
            self.status.set_delayed(any);
        }
    }

    /// Options: only the fields each item carries, grouped per chain topic.
    fn on_option_items(&mut self, items: Vec<DataItem>, ts: i64) {
        let mut by_topic: HashMap<String, Items> = HashMap::new();
        for item in items {
            let subscribed = self.subscription.is_streamed(LEVELONE_OPTIONS, &item.key);
            let Some(topic) = self
                .chains
                .topic_of(&item.key)
                .filter(|_| subscribed)
                .map(str::to_string)
            else {
                // Data for a key just unsubscribed can still trickle in.
                continue;
            };
            self.note_delayed(&item.key, item.delayed);
            let row = inbound::option_row(&item.fields, ts);
            by_topic.entry(topic).or_default().insert(item.key, row);
        }
        for (topic, rows) in by_topic {
            self.store.publish(&topic, rows, vec![]);
        }
    }

    /// Underlyings: their quotes, and the current minute of their watched bars.
    fn on_equity_items(&mut self, items: Vec<DataItem>, ts: i64) {
        let mut rows = Items::new();
        for item in items {
            if !self.subscription.is_streamed(LEVELONE_EQUITIES, &item.key) {
                continue;
            }
            self.note_delayed(&item.key, item.delayed);
            if let Some(from) = self.bars.on_tick(&item.key, &item.fields) {
                self.fetch_bars(LoadKey::Backfill(item.key.clone()), &item.key, from, true);
            }
            let row = inbound::equity_row(&item.fields, item.delayed, ts);
            self.feed.quote_streamed(&item.key);
            rows.insert(item.key, row);
        }
        if !rows.is_empty() {
            self.store.publish(QUOTES_TOPIC, rows, vec![]);
        }
    }

    /// `CHART_EQUITY` items: each completed minute replaces what the ticks built for it.
    fn on_chart_items(&mut self, items: Vec<DataItem>) {
        for item in items {
            let subscribed = self.subscription.is_streamed(CHART_EQUITY, &item.key);
            let Some(bar) = crate::bars::chart_bar(&item.fields).filter(|_| subscribed) else {
                continue;
            };
            if let Some(from) = self.bars.on_completed(&item.key, bar) {
                self.fetch_bars(LoadKey::Backfill(item.key.clone()), &item.key, from, true);
            }
        }
    }
}

/// The market clock: the session's phase, the day roll, the strike windows following the money, fresh pictures.
impl Upstream {
    /// Reads the market clock: the session's phase for the status, the day roll, the bars' window, the strike
    /// windows' centres.
    fn on_market_clock(&mut self) {
        let now = self.opts.clock.now_ms();
        let phase = calendar::phase(now);
        self.status.set_market(MarketNote {
            phase,
            next_open: (phase != Phase::Regular).then(|| calendar::next_open(now)),
            market_time: now,
            simulated: self.opts.clock.is_simulated(),
        });
        let today = et_date(now);
        if today != self.chains.today() {
            self.roll_day(today);
        }
        // The bars' window moves with the sessions (the day roll, and every later check is a no-op).
        self.bars.trim();
        self.retry_unloaded_bars();
        self.recentre_windows();
    }

    /// The day changed (New York midnight, or a clock set forward): expired chains are reset to an empty
    /// snapshot and dropped, the start symbols re-pin their nearest expiry, expirations and the remaining chains
    /// reload so every DTE moves.
    fn roll_day(&mut self, today: Date) {
        info!(from = %self.chains.today(), to = %today, "market day roll");
        for topic in self.chains.roll_day(today) {
            info!(%topic, "expired at the day roll: reset to an empty snapshot");
            self.cancel_chain_loads(&topic);
            self.store.reset(&topic, Items::new());
        }
        for sym in self.chains.expirations_wanted() {
            self.load_expirations(&sym);
        }
        for topic in self.chains.loaded_topics() {
            self.load_chain(&topic);
        }
    }

    /// Asks again for the first picture of every watched `bars:` topic still without one whose symbol is out of
    /// its unknown cool-down and has no load running: demand only loads a symbol when it is first watched, so a
    /// topic watched through the cool-down would otherwise never be asked again.
    fn retry_unloaded_bars(&mut self) {
        for symbol in self.bars.unloaded() {
            if !self.unknown.contains(&symbol)
                && !self.loads.is_running(&LoadKey::Bars(symbol.clone()))
            {
                debug!(%symbol, "bars still without a picture after the cool-down: asking again");
                self.load_bars(&symbol);
            }
        }
    }

    /// Reloads a chain whose underlying moved a quarter of the strike window (at least two strikes) away from
    /// the strike the window was centred on, so the window follows the money.
    fn recentre_windows(&mut self) {
        let Some(window) = self.opts.filter.strike_window else {
            return;
        };
        let quotes = self
            .store
            .snapshot(QUOTES_TOPIC)
            .map(|s| s.items)
            .unwrap_or_default();
        for topic in self.chains.off_centre(&quotes, window) {
            if !self.loads.is_running(&LoadKey::Chain(topic.clone())) {
                info!(%topic, "the underlying moved off the strike window's centre: re-centring");
                self.load_chain(&topic);
            }
        }
    }

    /// Fresh REST pictures for the chains that have contracts outside the key budget.
    fn refresh_not_live(&mut self) {
        let due = self
            .chains
            .not_all_streamed(|k| self.subscription.is_streamed(LEVELONE_OPTIONS, k));
        for topic in due {
            self.refresh_chain(&topic);
        }
    }
}

/// Test support shared by the parts' tests: a REST client, a connection, an upstream, against an address nothing
/// answers.
#[cfg(test)]
mod tests_support {
    use super::*;
    use crate::token::now_s;

    pub(super) fn tokens(api: &str) -> Arc<TokenManager> {
        let http = auth::http_client(Duration::from_secs(1));
        let file: crate::token::TokenFile = serde_json::from_value(json!({
            "creation_timestamp": now_s(),
            "token": {"access_token": "a", "refresh_token": "r", "expires_in": 1800, "expires_at": now_s() + 1800},
        }))
        .unwrap();
        Arc::new(TokenManager::new(
            http,
            api,
            auth::simulator_credentials(),
            file,
            None,
        ))
    }

    pub(super) const NOWHERE: &str = "http://127.0.0.1:9";

    pub(super) fn rest() -> Rest {
        let http = auth::http_client(Duration::from_secs(1));
        let budget = Arc::new(RestBudget::new(100, Duration::from_secs(60)));
        Rest::new(http, NOWHERE, tokens(NOWHERE), budget)
    }

    pub(super) fn status() -> Status {
        let store = Arc::new(tickdesk_hub::memory::MemoryBroker::new(64, 1 << 16));
        Status::new(store, Duration::from_millis(50))
    }

    pub(super) fn connection() -> (Connection, Status) {
        let cfg = crate::config::SchwabConfig::defaults();
        let clock = tickdesk_market::Clock::frozen(Date::from_ymd(2026, 12, 2).at_et(11, 0));
        let opts = Options::from_config(&cfg, clock);
        (Connection::new(tokens(NOWHERE), &opts), status())
    }
}

#[cfg(test)]
impl Upstream {
    /// An upstream on its own, no connection, against an address nothing answers (its loads keep retrying), for
    /// the tests of its event handlers. The receiver holds what the loads report.
    fn for_tests(clock: tickdesk_market::Clock) -> (Upstream, mpsc::UnboundedReceiver<Loaded>) {
        let mut cfg = crate::config::SchwabConfig::defaults();
        cfg.symbols = Vec::new();
        let mut opts = Options::from_config(&cfg, clock);
        opts.api = tests_support::NOWHERE.into();
        let store = Arc::new(tickdesk_hub::memory::MemoryBroker::new(64, 1 << 16));
        let (loads_tx, loads_rx) = mpsc::unbounded_channel();
        let status = Status::new(store.clone(), Duration::from_millis(50));
        let up = Upstream::new(
            store,
            opts,
            tests_support::rest(),
            tests_support::tokens(tests_support::NOWHERE),
            status,
            loads_tx,
        );
        (up, loads_rx)
    }
}

#[cfg(test)]
mod tests {
    use tickdesk_market::Clock;

    #[test]
    fn settings_reach_the_chain_filter() {
        let mut cfg = crate::config::SchwabConfig::defaults();
        cfg.min_oi = 100;
        cfg.strike_window = 0;
        cfg.max_dte = 7;
        let f = super::Options::from_config(&cfg, Clock::wall()).filter;
        assert_eq!(
            (f.min_open_interest, f.strike_window, f.max_dte),
            (100, None, 7)
        );
        let d =
            super::Options::from_config(&crate::config::SchwabConfig::defaults(), Clock::wall())
                .filter;
        assert_eq!(d, crate::chain::ChainFilter::default());
    }

    use super::*;

    #[test]
    fn chain_topics_parse_with_index_symbols_and_refuse_junk() {
        let d = Date::parse_iso("2026-11-21").unwrap();
        assert_eq!(chain_of("chain:$SPX:2026-11-21"), Some(("$SPX".into(), d)));
        // Not a topic: the session refuses it (unknown_topic) before any source could see it.
        assert_eq!(chain_of("chain:aapl:2026-11-21"), None);
        assert_eq!(chain_topic("$SPX", d), "chain:$SPX:2026-11-21");
        for bad in [
            "chain:AAPL",
            "chain::2026-11-21",
            "chain:AAPL:2026-11-31",
            "quotes",
            "chain:AAPL:2026-11-21x",
        ] {
            assert_eq!(chain_of(bad), None, "{bad}");
        }
        assert_eq!(
            tickdesk_wire::topics::normalise_symbols(&[
                " spy".into(),
                "SPY".into(),
                "".into(),
                "$spx".into()
            ]),
            ["SPY", "$SPX"]
        );
    }
}
