//! The orchestrator: one task that owns the links, the book and the status, and decides what happens next.
//! REST calls once running (fills, pings, polls) run in tasks of their own and report back over a channel
//! ([`RestDone`]), so a slow REST never stalls draining the links, flushing or replacing a link.
//!
//! - **Start**: which symbols Binance knows (`exchangeInfo`; the others are refused, named in the status, and
//!   their `bars:` subscribers told), then each symbol's bar history over REST, then the stream.
//! - **Make-before-break**: at `rotate_after` (before Binance's 24-hour cut) or on a `serverShutdown` event, a
//!   second link is opened beside the first; once the new one delivers, both run side by side for [`OVERLAP`]
//!   (the old one's updates applied, the new one's kept), then the old one is closed and the new one's kept
//!   updates are replayed through the [`Book`], which skips those already applied: the topics neither miss nor
//!   repeat one.
//! - **Drops** reconnect with full-jitter backoff ([`Backoff`]), which starts over only once a link has stayed up
//!   [`STABLE_AFTER`] (not on its first message); a **silent** link is replaced at once; a **451**
//!   is its own state, retried every `restricted_retry` (not in a loop); a websocket **refused** while REST answers
//!   switches to **polling REST** every `poll_every`, and back to the stream as soon as a link delivers data.
//! - **Writes** to the store happen at a fixed cadence (`flush_every`), whatever the trade rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tickdesk_wire::backoff::Backoff;
use tickdesk_wire::topics::{BARS_PREFIX, CRYPTO};
use tickdesk_wire::ErrorCode;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use tickdesk_wire::bars::Bar;
use tokio::task::JoinSet;

use super::book::{Book, Poll};
use super::link::{Link, LinkError, LinkEvent, LinkSpec};
use super::payload::{self, Msg};
use super::rest::{Rest, RestError};
use super::status::{State, Status};
use tickdesk_hub::broker::Publisher;

/// Link events queued before a link waits (backpressure on its socket, never a drop).
const EVENT_QUEUE: usize = 4096;

/// How long an old and a new link run side by side once the new one delivers, before the old one is closed: every
/// stream (the 24 h tickers come once a second) has delivered on the new link by then, so nothing falls between.
const OVERLAP: Duration = Duration::from_secs(1);

/// Messages of the replacement kept during the overlap; at this many it takes over at once (memory stays bounded
/// whatever the rate).
const OVERLAP_BUFFER: usize = 50_000;

/// While polling REST, the stream is tried again at least this often.
const POLLING_RETRY_MAX: Duration = Duration::from_secs(10);

/// How long a link must stay up before the reconnect backoff starts over. Resetting on the first message let a
/// server (or proxy) that closes right after sending data (1008, a policy close) be reconnected every ≤ 1 s for
/// ever, while Binance allows 300 connection attempts per 5 minutes per IP; a link that lasts this long is healthy.
const STABLE_AFTER: Duration = Duration::from_secs(30);

/// Whether a link up since `up_since` has lasted long enough at `now` for the backoff to start over.
fn stable(up_since: Option<Instant>, now: Instant) -> bool {
    up_since.is_some_and(|t| now.saturating_duration_since(t) >= STABLE_AFTER)
}

/// How long REST is left alone after a 429/418 that carries no `Retry-After`.
const THROTTLE_DEFAULT: Duration = Duration::from_secs(60);

/// The longest `Retry-After` honoured as is: a longer one (a 418 ban can say days) is waited in steps of this, so a
/// bogus header cannot stop polling for good, while each try still waits minutes.
const THROTTLE_MAX: Duration = Duration::from_secs(15 * 60);

/// How long to leave REST alone after Binance throttled it: its `Retry-After` (capped), at least one poll period.
/// Calling again before that makes Binance escalate a 429 to a 418 ban.
fn throttle_wait(retry_after: Option<Duration>, poll_every: Duration) -> Duration {
    retry_after
        .unwrap_or(THROTTLE_DEFAULT)
        .min(THROTTLE_MAX)
        .max(poll_every)
}

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

/// Words for a 451.
pub const RESTRICTED_HINT: &str = "Binance.com does not serve this location (HTTP 451). For Binance.US set \
    TICKDESK_BINANCE_WS=wss://stream.binance.us:9443 and TICKDESK_BINANCE_REST=https://api.binance.us";

/// A REST call's outcome, back from the task that made it: REST runs beside the loop (each call may take up to its
/// 10 s timeout, symbol after symbol), never inside it, so a slow REST never stops link events being drained (and
/// pongs read), the store being flushed, or links being replaced.
enum RestDone {
    /// A bars fill after a gap, per symbol (stopped at a throttle).
    Filled(Vec<(String, Result<Vec<Bar>, RestError>)>),
    /// The ping made when the stream was refused: is REST there to stand in?
    Pinged {
        err: LinkError,
        delay: Duration,
        at: Instant,
        answer: Result<(), RestError>,
    },
    /// A poll of the tickers, then of each symbol's current bars.
    Polled {
        polls: Result<Vec<(String, Poll)>, RestError>,
        bars: Vec<(String, Result<Vec<Bar>, RestError>)>,
    },
}

struct Upstream {
    store: Arc<dyn Publisher>,
    opts: Options,
    status: Status,
    book: Book,
    rest: Rest,
    symbols: Vec<String>,
    tx: mpsc::Sender<(u64, LinkEvent)>,
    /// Where the REST tasks send their outcome.
    rest_tx: mpsc::Sender<RestDone>,
    /// The REST tasks running (aborted when the source stops).
    tasks: JoinSet<()>,
    ping_in_flight: bool,
    poll_in_flight: bool,
    current: Option<Link>,
    next: Option<Link>,
    ids: u64,
    backoff: Backoff,
    /// When to open a link while none serves.
    retry_at: Option<Instant>,
    /// When a failed replacement may be tried again.
    replace_retry_at: Option<Instant>,
    /// When the replacement, delivering since `OVERLAP` ago, takes over and the old link is closed.
    swap_at: Option<Instant>,
    /// What the replacement delivered while the old link still served.
    overlap: Vec<Msg>,
    polling: bool,
    next_poll: Instant,
    /// Since when no link served (for filling the bars after a gap).
    gap: bool,
    connections: u64,
    replacements: u64,
    /// The words of the status's `error` besides REST throttling (the refused symbols), restored once REST answers.
    base_error: Option<String>,
    /// Binance throttled REST: no REST call before this.
    throttled_until: Option<Instant>,
    /// The link for which the backoff was last reset (once it had been up for [`STABLE_AFTER`]).
    settled: Option<u64>,
}

fn bars_topic(symbol: &str) -> String {
    format!("{BARS_PREFIX}{symbol}")
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
                Duration::from_millis(backoff.next_delay_ms(rand::rng().random()) as u64)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped(&mut shutdown) => return,
        }
    };
    backoff.reset();
    if symbols.is_empty() {
        status.set(
            State::Error,
            "Binance knows none of the configured symbols (TICKDESK_BINANCE_SYMBOLS)",
        );
        stopped(&mut shutdown).await;
        return;
    }
    let (tx, mut rx) = mpsc::channel(EVENT_QUEUE);
    let (rest_tx, mut rest_rx) = mpsc::channel(16);
    let mut up = Upstream {
        book: Book::new(&symbols, opts.bars),
        store,
        status,
        rest,
        symbols,
        tx,
        rest_tx,
        tasks: JoinSet::new(),
        ping_in_flight: false,
        poll_in_flight: false,
        current: None,
        next: None,
        ids: 0,
        backoff,
        retry_at: None,
        replace_retry_at: None,
        swap_at: None,
        overlap: Vec::new(),
        polling: false,
        next_poll: Instant::now(),
        gap: false,
        connections: 0,
        replacements: 0,
        settled: None,
        base_error,
        throttled_until: None,
        opts,
    };
    up.load_history().await;
    up.status
        .set(State::Connecting, format!("connecting to {}", up.opts.ws));
    up.current = Some(up.open_link());
    let mut tick = tokio::time::interval(up.opts.flush_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            ev = rx.recv() => match ev {
                Some((id, ev)) => up.on_event(id, ev),
                None => break,
            },
            Some(done) = rest_rx.recv() => up.on_rest(done),
            _ = tick.tick() => up.housekeeping(),
        }
    }
    for link in [up.current.take(), up.next.take()].into_iter().flatten() {
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

impl Upstream {
    fn open_link(&mut self) -> Link {
        self.ids += 1;
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
        debug!(id = self.ids, url = %spec.url, "binance: opening a stream connection");
        Link::spawn(self.ids, spec, self.tx.clone())
    }

    fn delay(&mut self) -> Duration {
        Duration::from_millis(self.backoff.next_delay_ms(rand::rng().random()) as u64)
    }

    fn live_words(&self) -> String {
        let n = self.symbols.len();
        match &self.opts.simulated {
            Some(why) => format!("built-in Binance simulator, {n} symbols ({why})"),
            None => format!("streaming {n} symbols from {}", self.opts.ws),
        }
    }

    /// Each symbol's bar history, as a fresh snapshot of its `bars:` topic.
    async fn load_history(&mut self) {
        for s in self.symbols.clone() {
            match self.rest.history(&s, self.opts.bars).await {
                Ok(bars) => {
                    self.book.put_bars(&s, &bars);
                    self.store.reset(&bars_topic(&s), self.book.bar_items(&s));
                }
                Err(e) => {
                    // Tried again (as a fill) once the stream delivers.
                    warn!(symbol = %s, error = %e, "binance: no bar history yet");
                    self.gap = true;
                }
            }
        }
    }

    /// After a time with no stream: the bars missed meanwhile, from REST — from the last bar held (it may have
    /// moved on) to now, or the whole window if the gap is longer, paged past Binance's 1000 a call.
    fn fill_bars(&mut self) {
        if self.throttled_until.is_some_and(|t| Instant::now() < t) {
            self.gap = true; // filled once REST may be called again
            return;
        }
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
            let _ = tx.send(RestDone::Filled(out)).await;
        });
    }

    /// A REST task's outcome.
    fn on_rest(&mut self, done: RestDone) {
        match done {
            RestDone::Filled(filled) => {
                for (s, r) in filled {
                    match r {
                        Ok(bars) => self.book.put_bars(&s, &bars),
                        Err(e @ RestError::Throttled { .. }) => {
                            self.throttled(&e, Instant::now());
                            self.gap = true;
                        }
                        Err(e) => debug!(symbol = %s, error = %e, "binance: bars not filled"),
                    }
                }
            }
            RestDone::Pinged {
                err,
                delay,
                at,
                answer,
            } => {
                self.ping_in_flight = false;
                self.pinged(err, delay, at, answer);
            }
            RestDone::Polled { polls, bars } => self.polled(polls, bars),
        }
    }

    fn on_event(&mut self, id: u64, ev: LinkEvent) {
        let is_current = self.current.as_ref().is_some_and(|l| l.id == id);
        let is_next = self.next.as_ref().is_some_and(|l| l.id == id);
        if !is_current && !is_next {
            return; // a link already retired
        }
        match ev {
            LinkEvent::Open => {
                self.connections += 1;
                if is_current {
                    // Not a replacement running beside the old link: nothing it sends overlaps what was applied.
                    self.book.fresh_link();
                }
            }
            LinkEvent::Malformed(e) => debug!(error = %e, "binance: unreadable message skipped"),
            LinkEvent::Msg(msg) => {
                self.status.message();
                match &msg {
                    Msg::ServerShutdown => {
                        info!("binance: serverShutdown announced; opening the replacement first");
                        if is_current && self.next.is_none() {
                            self.next = Some(self.open_link());
                        }
                        return;
                    }
                    Msg::Answer { error: Some(e), id } => {
                        warn!(?id, error = %e, "binance: a request was refused");
                        self.status
                            .set_error(Some(format!("Binance refused a request: {e}")));
                        return;
                    }
                    Msg::Answer { .. } | Msg::Other => return,
                    _ => {}
                }
                if is_next {
                    // The new link delivers: both run side by side for `OVERLAP`; the old one's updates are
                    // applied, the new one's kept, and at the swap replayed through the book (which skips what
                    // the old one already applied), so each update is applied once and none falls between.
                    if let Some(next) = self.next.as_mut().filter(|n| !n.up) {
                        next.up = true;
                        next.up_since = Some(Instant::now());
                        self.swap_at = Some(Instant::now() + OVERLAP);
                    }
                    self.overlap.push(msg);
                    if self.overlap.len() >= OVERLAP_BUFFER {
                        self.swap();
                    }
                    return;
                }
                self.book.apply(&msg, Instant::now());
                if let Some(cur) = self.current.as_mut().filter(|c| !c.up) {
                    cur.up = true;
                    cur.up_since = Some(Instant::now());
                    self.polling = false;
                    let words = self.live_words();
                    self.status.set(State::Live, words);
                    if std::mem::take(&mut self.gap) {
                        self.fill_bars();
                    }
                }
            }
            LinkEvent::Closed(err) => {
                if is_next {
                    warn!(error = %err, "binance: the replacement connection failed; the current one goes on");
                    self.next = None;
                    self.swap_at = None;
                    self.overlap.clear();
                    let d = self.delay();
                    self.replace_retry_at = Some(Instant::now() + d);
                    return;
                }
                self.current = None;
                if self.next.as_ref().is_some_and(|n| n.up) {
                    // The old one went first while both ran: the new one takes over now.
                    self.swap();
                    return;
                }
                if let Some(next) = self.next.take() {
                    // The old one went before the new one delivered: it takes over as a fresh connection.
                    // Its ids still follow the old one's (opened as its replacement, it may repeat the last
                    // updates), so the book's dedup state is kept.
                    self.current = Some(next);
                    self.gap = true;
                    return;
                }
                self.gap = true;
                self.lost(err);
            }
        }
    }

    /// The new link takes over: the old one is closed, and what the new one delivered meanwhile is applied (what
    /// the old one already applied is skipped by the book).
    fn swap(&mut self) {
        self.swap_at = None;
        let Some(next) = self.next.take() else {
            return;
        };
        if let Some(old) = self.current.replace(next) {
            old.close();
        }
        let now = Instant::now();
        for msg in std::mem::take(&mut self.overlap) {
            self.book.apply(&msg, now);
        }
        self.replacements += 1;
        info!(
            replacements = self.replacements,
            "binance: connection replaced without a gap"
        );
    }

    /// The serving link is gone and none stands by.
    fn lost(&mut self, err: LinkError) {
        let now = Instant::now();
        match &err {
            LinkError::Http(451) => {
                warn!("binance: HTTP 451 (restricted location)");
                self.polling = false;
                self.status.set(State::Restricted, RESTRICTED_HINT);
                self.retry_at = Some(now + self.opts.restricted_retry);
            }
            LinkError::Http(_) | LinkError::Connect(_) => {
                // While REST stands in, the stream is retried at least every `POLLING_RETRY_MAX`: back soon.
                let d = self.delay();
                self.retry_at = Some(now + d);
                // While Binance throttles REST, no call at all (each one would make it worse).
                if let Some(t) = self.throttled_until.filter(|t| *t > now) {
                    let answer = Err(RestError::Throttled {
                        status: 429,
                        retry_after: Some(t - now),
                    });
                    self.pinged(err, d, now, answer);
                } else if !self.ping_in_flight {
                    // The answer (REST there or not) decides between polling and reconnecting; one at a time.
                    self.ping_in_flight = true;
                    let rest = self.rest.clone();
                    let tx = self.rest_tx.clone();
                    self.tasks.spawn(async move {
                        let answer = rest.ping().await;
                        let _ = tx
                            .send(RestDone::Pinged {
                                err,
                                delay: d,
                                at: now,
                                answer,
                            })
                            .await;
                    });
                }
            }
            LinkError::Silent(_) => {
                warn!(error = %err, "binance: silent connection; replacing it");
                self.status.set(
                    State::Reconnecting,
                    format!("replacing a silent connection: {err}"),
                );
                self.retry_at = Some(now);
            }
            LinkError::Closed(_) => {
                let d = self.delay();
                warn!(error = %err, retry_ms = d.as_millis() as u64, "binance: connection lost");
                self.status.set(
                    State::Reconnecting,
                    format!("{err}; reconnecting in {} ms", d.as_millis()),
                );
                self.retry_at = Some(now + d);
            }
        }
    }

    /// The answer to the ping made at `now` when the stream was refused (`err`, retried after `d`).
    fn pinged(&mut self, err: LinkError, d: Duration, now: Instant, answer: Result<(), RestError>) {
        if self.current.as_ref().is_some_and(|c| c.up) {
            return; // the stream came back meanwhile
        }
        // A link opened meanwhile keeps its own schedule; the retry time only matters while none is open.
        let idle = self.current.is_none();
        match answer {
            Ok(()) => {
                if !self.polling {
                    warn!(error = %err, "binance: websocket unavailable; polling REST");
                    self.next_poll = now;
                }
                self.polling = true;
                if idle {
                    self.retry_at = Some(now + d.min(POLLING_RETRY_MAX));
                }
                self.status.set(
                    State::PollingRest,
                    format!(
                        "websocket unavailable ({err}); polling {} every {} s, retrying the stream",
                        self.opts.rest,
                        self.opts.poll_every.as_secs_f64()
                    ),
                );
            }
            Err(RestError::Restricted) => {
                self.polling = false;
                self.status.set(State::Restricted, RESTRICTED_HINT);
                if idle {
                    self.retry_at = Some(now + self.opts.restricted_retry);
                }
            }
            Err(e @ RestError::Throttled { .. }) => {
                // REST answers, but not now: polling starts once Binance lets it.
                self.polling = true;
                if idle {
                    self.retry_at = Some(now + d.min(POLLING_RETRY_MAX));
                }
                self.throttled(&e, now);
                self.status.set(
                    State::PollingRest,
                    format!("websocket unavailable ({err}); REST throttled, retrying the stream"),
                );
            }
            Err(e) => {
                self.polling = false;
                self.status.set(
                    State::Reconnecting,
                    format!(
                        "{err}; REST unreachable too ({e}); retrying in {} ms",
                        d.as_millis()
                    ),
                );
            }
        }
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
        if self.swap_at.is_some_and(|t| now >= t) {
            self.swap();
        }
        if let Some(c) = self
            .current
            .as_ref()
            .filter(|c| self.settled != Some(c.id) && stable(c.up_since, now))
        {
            self.settled = Some(c.id);
            self.backoff.reset();
        }
        // Replace an old link before Binance cuts it, new one first.
        let due = self
            .current
            .as_ref()
            .is_some_and(|c| c.up && c.started.elapsed() >= self.opts.rotate_after);
        if due && self.next.is_none() && self.replace_retry_at.is_none_or(|t| now >= t) {
            info!("binance: the connection nears its age limit; opening the replacement first");
            self.replace_retry_at = None;
            self.next = Some(self.open_link());
        }
        if self.current.is_none() && self.retry_at.is_none_or(|t| now >= t) {
            self.retry_at = None;
            self.current = Some(self.open_link());
        }
        if self.polling
            && !self.poll_in_flight
            && now >= self.next_poll
            && self.throttled_until.is_none_or(|t| now >= t)
        {
            self.next_poll = now + self.opts.poll_every;
            self.poll();
        }
        self.status
            .counters(self.connections, self.replacements, self.book.stats());
        self.status.tick();
    }

    /// Binance throttled REST (429/418): no REST call until its `Retry-After` has passed, and the status says so.
    fn throttled(&mut self, e: &RestError, now: Instant) {
        let RestError::Throttled { retry_after, .. } = e else {
            return;
        };
        let wait = throttle_wait(*retry_after, self.opts.poll_every);
        warn!(error = %e, wait_s = wait.as_secs(), "binance: REST throttled; waiting");
        self.throttled_until = Some(now + wait);
        self.next_poll = self.next_poll.max(now + wait);
        self.status.set_error(Some(format!(
            "REST throttled: {e}; next REST call in {} s",
            wait.as_secs()
        )));
    }

    /// One REST poll of the tickers (and the current bars), in a task of its own; one at a time.
    fn poll(&mut self) {
        self.poll_in_flight = true;
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
            let _ = tx.send(RestDone::Polled { polls, bars }).await;
        });
    }

    /// A poll's outcome. Dropped once the stream is back: its data is newer than the poll's.
    fn polled(
        &mut self,
        polls: Result<Vec<(String, Poll)>, RestError>,
        bars: Vec<(String, Result<Vec<Bar>, RestError>)>,
    ) {
        self.poll_in_flight = false;
        if let Err(e @ RestError::Throttled { .. }) = &polls {
            self.throttled(e, Instant::now());
            return;
        }
        if !self.polling {
            return;
        }
        match polls {
            Ok(polls) => {
                let now = Instant::now();
                for (s, p) in &polls {
                    self.book.apply_poll(s, p, now);
                }
                self.status.message();
                if self.throttled_until.take().is_some() {
                    self.status.set_error(self.base_error.clone());
                }
                for (s, r) in bars {
                    match r {
                        Ok(bars) => self.book.put_bars(&s, &bars),
                        Err(e @ RestError::Throttled { .. }) => self.throttled(&e, now),
                        Err(_) => {}
                    }
                }
            }
            Err(RestError::Restricted) => {
                self.polling = false;
                self.status.set(State::Restricted, RESTRICTED_HINT);
                if self.current.is_none() {
                    self.retry_at = Some(Instant::now() + self.opts.restricted_retry);
                }
            }
            Err(e) => self
                .status
                .set_error(Some(format!("REST poll failed: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_starts_over_only_after_a_link_stayed_up() {
        let t0 = Instant::now();
        assert!(!stable(None, t0), "never delivered");
        assert!(
            !stable(Some(t0), t0 + Duration::from_millis(500)),
            "closed right after its first message"
        );
        assert!(!stable(
            Some(t0),
            t0 + STABLE_AFTER - Duration::from_millis(1)
        ));
        assert!(stable(Some(t0), t0 + STABLE_AFTER));
    }

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

    #[test]
    fn a_throttled_rest_waits_its_retry_after_capped_and_at_least_a_poll() {
        let poll = Duration::from_secs(2);
        let s = Duration::from_secs;
        assert_eq!(throttle_wait(Some(s(30)), poll), s(30));
        assert_eq!(throttle_wait(None, poll), THROTTLE_DEFAULT);
        assert_eq!(throttle_wait(Some(s(3 * 86_400)), poll), THROTTLE_MAX);
        assert_eq!(throttle_wait(Some(s(0)), poll), poll);
    }
}
