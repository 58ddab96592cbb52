//! The Binance source's I/O loop: checks the symbols and loads the bar history, then feeds link events, REST
//! outcomes and the flush tick to the link's state machine ([`super::link_state`]) and performs its actions —
//! links opened and closed, messages into the [`Book`], REST calls in tasks of their own (so a slow REST never
//! stalls the links), the status — and writes the book to the store at a fixed cadence (`flush_every`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tickdesk_wire::backoff::Backoff;
use tickdesk_wire::topics::{Topic, CRYPTO};
use tickdesk_wire::ErrorCode;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::book::Book;
use super::link::{Link, LinkEvent, LinkSpec};
use super::link_state::{self, Action, Event, Machine};
use super::payload;
use super::rest::{Rest, RestError};
use super::status::{State, Status};
use tickdesk_hub::broker::Publisher;

pub use super::link_state::RESTRICTED_HINT;

/// Link events queued before a link waits (backpressure on its socket, never a drop).
const EVENT_QUEUE: usize = 4096;

/// The bars a fill asks for, as (first bar's open ms, how many), given the last bar held and the time now (ms):
/// from the last bar (it may have moved on since) to the current one, at most the whole `window`.
fn fill_range(last_bar: i64, now_ms: i64, window: usize) -> (i64, usize) {
    let current = now_ms.div_euclid(60_000) * 60_000;
    let oldest = current - (window.max(1) as i64 - 1) * 60_000;
    let from = last_bar.max(oldest);
    (from, ((current - from) / 60_000) as usize + 1)
}

/// Streams asked for per SUBSCRIBE message: one symbol's four.
const STREAMS_PER_REQUEST: usize = 4;

/// What the source runs with (the settings, resolved).
#[derive(Debug, Clone)]
pub struct Options {
    /// Upper-case symbols, as configured.
    pub symbols: Vec<String>,
    pub ws: String,
    pub rest: String,
    /// The endpoints are the built-in simulator (the status says `simulated`), and why.
    pub simulated: Option<String>,
    pub rotate_after: Duration,
    pub silent_after: Duration,
    pub stale_after: Duration,
    pub poll_every: Duration,
    pub restricted_retry: Duration,
    pub backoff_max: Duration,
    pub bars: usize,
    pub url_streams: usize,
    /// How often the store is written.
    pub flush_every: Duration,
}

struct Upstream {
    store: Arc<dyn Publisher>,
    opts: Options,
    status: Status,
    book: Book,
    rest: Rest,
    symbols: Vec<String>,
    tx: mpsc::Sender<(u64, LinkEvent)>,
    /// Where the REST tasks send their outcome, as the machine's events.
    rest_tx: mpsc::Sender<Event>,
    /// The REST tasks running (aborted when the source stops).
    tasks: JoinSet<()>,
    /// The links open: the current one and, while it is replaced, its replacement.
    links: Vec<Link>,
    machine: Machine,
    connections: u64,
    replacements: u64,
}

fn bars_topic(symbol: &str) -> String {
    Topic::Bars(symbol.to_string()).to_string()
}

fn jitter() -> f64 {
    rand::rng().random()
}

/// Runs the source until `shutdown` turns true.
pub async fn run(
    store: Arc<dyn Publisher>,
    opts: Options,
    mut status: Status,
    mut shutdown: watch::Receiver<bool>,
) {
    status.set_endpoint(&opts.ws, opts.simulated.is_some());
    let rest = Rest::new(&opts.rest, Duration::from_secs(10));
    let mut backoff = Backoff::new(500.0, opts.backoff_max.as_millis().max(500) as f64);
    if opts.symbols.is_empty() {
        status.set(
            State::Error,
            "no symbols configured (TICKDESK_BINANCE_SYMBOLS)",
        );
        stopped(&mut shutdown).await;
        return;
    }
    // Which symbols Binance knows. Nothing streams before this answers.
    status.set(
        State::Connecting,
        format!("checking symbols at {}", opts.rest),
    );
    let (symbols, base_error) = loop {
        let wait = match rest.check_symbols(&opts.symbols).await {
            Ok((ok, refused)) => {
                if !refused.is_empty() {
                    refuse(&*store, &mut status, &refused);
                }
                status.set_error((!refused.is_empty()).then(|| refused_words(&refused)));
                break (ok, (!refused.is_empty()).then(|| refused_words(&refused)));
            }
            Err(RestError::Restricted) => {
                status.set(State::Restricted, RESTRICTED_HINT);
                opts.restricted_retry
            }
            Err(e) => {
                status.set(State::Error, format!("cannot reach {}: {e}", opts.rest));
                Duration::from_millis(backoff.next_delay_ms(jitter()) as u64)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped(&mut shutdown) => return,
        }
    };
    if symbols.is_empty() {
        status.set(
            State::Error,
            "Binance knows none of the configured symbols (TICKDESK_BINANCE_SYMBOLS)",
        );
        stopped(&mut shutdown).await;
        return;
    }
    let mut book = Book::new(&symbols, opts.bars);
    let gap = !load_history(&*store, &rest, &mut book, &symbols, opts.bars).await;
    let cfg = link_state::Config {
        rotate_after: opts.rotate_after,
        poll_every: opts.poll_every,
        restricted_retry: opts.restricted_retry,
        backoff_max: opts.backoff_max,
        ws: opts.ws.clone(),
        rest: opts.rest.clone(),
        live_words: live_words(&opts, symbols.len()),
        base_error,
    };
    let (machine, start) = Machine::start(cfg, gap, jitter, Instant::now());
    let (tx, mut rx) = mpsc::channel(EVENT_QUEUE);
    let (rest_tx, mut rest_rx) = mpsc::channel(16);
    let mut up = Upstream {
        book,
        store,
        status,
        rest,
        symbols,
        tx,
        rest_tx,
        tasks: JoinSet::new(),
        links: Vec::new(),
        machine,
        connections: 0,
        replacements: 0,
        opts,
    };
    up.perform(start);
    let mut tick = tokio::time::interval(up.opts.flush_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            ev = rx.recv() => match ev {
                Some((id, ev)) => up.on_link(id, ev),
                None => break,
            },
            Some(done) = rest_rx.recv() => up.step(done),
            _ = tick.tick() => up.housekeeping(),
        }
    }
    for link in up.links.drain(..) {
        link.close();
    }
}

/// Resolves once `shutdown` is true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

fn refused_words(refused: &[(String, String)]) -> String {
    let list: Vec<String> = refused
        .iter()
        .map(|(s, why)| format!("{s} ({why})"))
        .collect();
    format!("unknown symbol refused: {}", list.join(", "))
}

/// Names the refused symbols in the status and the log, and tells their `bars:` subscribers.
fn refuse(store: &dyn Publisher, status: &mut Status, refused: &[(String, String)]) {
    warn!(
        "binance: {}; the other symbols go on",
        refused_words(refused)
    );
    status.set_refused(refused.iter().map(|(s, _)| s.clone()).collect());
    for (s, why) in refused {
        store.notify(
            &bars_topic(s),
            ErrorCode::UnknownSymbol,
            format!("Binance does not know {s}: {why}"),
        );
    }
}

fn live_words(opts: &Options, n: usize) -> String {
    match &opts.simulated {
        Some(why) => format!("built-in Binance simulator, {n} symbols ({why})"),
        None => format!("streaming {n} symbols from {}", opts.ws),
    }
}

/// Each symbol's bar history, as a fresh snapshot of its `bars:` topic; false when one is missing (tried again,
/// as a fill, once the stream delivers).
async fn load_history(
    store: &dyn Publisher,
    rest: &Rest,
    book: &mut Book,
    symbols: &[String],
    window: usize,
) -> bool {
    let mut all = true;
    for s in symbols {
        match rest.history(s, window).await {
            Ok(bars) => {
                book.put_bars(s, &bars);
                store.reset(&bars_topic(s), book.bar_items(s));
            }
            Err(e) => {
                warn!(symbol = %s, error = %e, "binance: no bar history yet");
                all = false;
            }
        }
    }
    all
}

impl Upstream {
    /// An event of one of the links; those of a link already retired are dropped.
    fn on_link(&mut self, id: u64, ev: LinkEvent) {
        let Some(at) = self.links.iter().position(|l| l.id == id) else {
            return;
        };
        let ev = match ev {
            LinkEvent::Open => {
                self.connections += 1;
                Event::Opened(id)
            }
            LinkEvent::Malformed(e) => {
                debug!(error = %e, "binance: unreadable message skipped");
                return;
            }
            LinkEvent::Msg(msg) => {
                self.status.message();
                Event::Msg(id, msg)
            }
            LinkEvent::Closed(err) => {
                self.links.swap_remove(at);
                Event::Closed(id, err)
            }
        };
        self.step(ev);
    }

    fn step(&mut self, ev: Event) {
        let actions = self.machine.on(ev, Instant::now());
        self.perform(actions);
    }

    fn perform(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Connect(id) => self.open_link(id),
                Action::Close(id) => self.close_link(id),
                Action::Apply(msg) => {
                    self.book.apply(&msg, Instant::now());
                }
                Action::FreshLink => self.book.fresh_link(),
                Action::Swap { close, kept } => {
                    if let Some(id) = close {
                        self.close_link(id);
                    }
                    let now = Instant::now();
                    for msg in &kept {
                        self.book.apply(msg, now);
                    }
                    self.replacements += 1;
                    info!(
                        replacements = self.replacements,
                        "binance: connection replaced without a gap"
                    );
                }
                Action::FillBars => self.fill_bars(),
                Action::PutBars(bars) => {
                    for (s, bars) in bars {
                        self.book.put_bars(&s, &bars);
                    }
                }
                Action::Ping { err, delay, at } => {
                    let rest = self.rest.clone();
                    let tx = self.rest_tx.clone();
                    self.tasks.spawn(async move {
                        let answer = rest.ping().await;
                        let _ = tx
                            .send(Event::Pinged {
                                err,
                                delay,
                                at,
                                answer,
                            })
                            .await;
                    });
                }
                Action::Poll => self.poll(),
                Action::ApplyPoll(polls, bars) => {
                    let now = Instant::now();
                    for (s, p) in &polls {
                        self.book.apply_poll(s, p, now);
                    }
                    self.status.message();
                    for (s, bars) in bars {
                        self.book.put_bars(&s, &bars);
                    }
                }
                Action::Status(state, words) => self.status.set(state, words),
                Action::Error(error) => self.status.set_error(error),
            }
        }
    }

    fn open_link(&mut self, id: u64) {
        let streams: Vec<String> = self
            .symbols
            .iter()
            .flat_map(|s| payload::streams_for(s))
            .collect();
        let in_url = self.opts.url_streams.min(streams.len());
        let spec = LinkSpec {
            url: payload::stream_url(&self.opts.ws, &streams[..in_url]),
            requests: payload::subscribe_messages(&streams[in_url..], STREAMS_PER_REQUEST, 1),
            silent_after: self.opts.silent_after,
        };
        debug!(id, url = %spec.url, "binance: opening a stream connection");
        self.links.push(Link::spawn(id, spec, self.tx.clone()));
    }

    fn close_link(&mut self, id: u64) {
        if let Some(at) = self.links.iter().position(|l| l.id == id) {
            self.links.swap_remove(at).close();
        }
    }

    /// After a time with no stream: the bars missed meanwhile, from REST — from the last bar held (it may have
    /// moved on) to now, or the whole window if the gap is longer, paged past Binance's 1000 a call.
    fn fill_bars(&mut self) {
        let now = tickdesk_market::clock::wall_ms();
        let window = self.opts.bars;
        let plan: Vec<(String, Option<(i64, usize)>)> = self
            .symbols
            .iter()
            .map(|s| {
                let range = self
                    .book
                    .last_bar(s)
                    .map(|last| fill_range(last, now, window));
                (s.clone(), range)
            })
            .collect();
        let rest = self.rest.clone();
        let tx = self.rest_tx.clone();
        self.tasks.spawn(async move {
            let mut out = Vec::new();
            for (s, range) in plan {
                let filled = match range {
                    Some((from, count)) => rest.klines_since(&s, from, count).await,
                    None => rest.history(&s, window).await,
                };
                let stop = matches!(filled, Err(RestError::Throttled { .. }));
                out.push((s, filled));
                if stop {
                    break;
                }
            }
            let _ = tx.send(Event::Filled(out)).await;
        });
    }

    /// One REST poll of the tickers (and the current bars), in a task of its own.
    fn poll(&mut self) {
        let rest = self.rest.clone();
        let tx = self.rest_tx.clone();
        let symbols = self.symbols.clone();
        self.tasks.spawn(async move {
            let polls = rest.poll(&symbols).await;
            let mut bars = Vec::new();
            if polls.is_ok() {
                for s in symbols {
                    let r = rest.klines(&s, 2, None).await;
                    let stop = matches!(r, Err(RestError::Throttled { .. }));
                    bars.push((s, r));
                    if stop {
                        break;
                    }
                }
            }
            let _ = tx.send(Event::Polled { polls, bars }).await;
        });
    }

    fn housekeeping(&mut self) {
        // Reap the REST tasks that ended (their outcome came over the channel).
        while self.tasks.try_join_next().is_some() {}
        let now = Instant::now();
        self.book.mark_stale(now, self.opts.stale_after);
        let rows = self.book.flush_crypto();
        if !rows.is_empty() {
            self.store.publish(CRYPTO, rows, vec![]);
        }
        for (s, rows, del) in self.book.flush_bars() {
            self.store.publish(&bars_topic(&s), rows, del);
        }
        self.step(Event::Tick);
        self.status
            .counters(self.connections, self.replacements, self.book.stats());
        self.status.tick();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_covers_the_gap_or_the_whole_window() {
        let m = 60_000;
        let now = 1_000_000 * m + 30_000;
        assert_eq!(
            fill_range(1_000_000 * m - 5 * m, now, 1440),
            (1_000_000 * m - 5 * m, 6)
        );
        // A gap of two days with a 1440-bar window: the window, past the 1000 of one call.
        assert_eq!(
            fill_range(1_000_000 * m - 2880 * m, now, 1440),
            (1_000_000 * m - 1439 * m, 1440)
        );
    }
}
