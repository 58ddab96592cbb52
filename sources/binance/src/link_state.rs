//! The stream link as an explicit state machine (pure): which connections exist and what each is for
//! ([`LinkState`]), and for each [`Event`] at a given instant the next state and the [`Action`]s the I/O loop
//! ([`super::upstream`]) performs. No sockets, no clock, no randomness of its own (the jitter is passed in), so
//! every transition is tested as a plain function.
//!
//! Timers are deadlines held by the states that have them, checked on every [`Event::Tick`] (the loop's flush tick).

use std::time::{Duration, Instant};

use tickdesk_wire::backoff::Backoff;
use tickdesk_wire::bars::Bar;
use tracing::{debug, info, warn};

use super::book::Poll;
use super::link::LinkError;
use super::payload::Msg;
use super::rest::RestError;
use super::status::State;

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

/// Words for a 451.
pub const RESTRICTED_HINT: &str = "Binance.com does not serve this location (HTTP 451). For Binance.US set \
    TICKDESK_BINANCE_WS=wss://stream.binance.us:9443 and TICKDESK_BINANCE_REST=https://api.binance.us";

/// What the machine runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// A link is replaced (new one first) at this age.
    pub rotate_after: Duration,
    pub poll_every: Duration,
    /// After a 451, the next try is this much later.
    pub restricted_retry: Duration,
    pub backoff_max: Duration,
    /// The stream base and REST base, for the status's words.
    pub ws: String,
    pub rest: String,
    /// The status's words while live.
    pub live_words: String,
    /// The status's `error` besides REST throttling (the refused symbols), restored once REST answers again.
    pub base_error: Option<String>,
}

/// A link opened by the machine that has not delivered data yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub id: u64,
    pub started: Instant,
}

impl Opened {
    fn up(self, now: Instant) -> Serving {
        Serving {
            id: self.id,
            started: self.started,
            up_since: now,
        }
    }
}

/// A link delivering data since `up_since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Serving {
    pub id: u64,
    pub started: Instant,
    pub up_since: Instant,
}

/// The link opened beside the serving one (make-before-break).
#[derive(Debug, Clone, PartialEq)]
pub enum Replacement {
    /// Opened, nothing delivered yet.
    Connecting(Opened),
    /// Delivering: both run side by side until `swap_at`; the old one's updates are applied, the new one's `kept`
    /// and replayed at the swap (the book skips what the old one applied), so none is missed or repeated.
    Overlap {
        link: Serving,
        swap_at: Instant,
        kept: Vec<Msg>,
    },
}

impl Replacement {
    fn id(&self) -> u64 {
        match self {
            Replacement::Connecting(o) => o.id,
            Replacement::Overlap { link, .. } => link.id,
        }
    }
}

/// The stream behind a REST poll: waiting to be retried, or opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Waiting { retry_at: Instant },
    Connecting(Opened),
}

/// Which links exist and what for.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkState {
    /// No link: one is opened at `retry_at` (the backoff).
    Idle { retry_at: Instant },
    /// One link opening (or open, not delivering yet).
    Connecting(Opened),
    /// One link streaming; a failed replacement may be tried again from `replace_retry_at`.
    Live {
        link: Serving,
        replace_retry_at: Option<Instant>,
    },
    /// The serving link and its replacement (age limit or `serverShutdown`).
    Replacing { old: Serving, new: Replacement },
    /// Websockets refused while REST answers: the tickers polled at `next_poll` (then every poll period), the
    /// stream retried behind it.
    Polling { next_poll: Instant, stream: Attempt },
    /// HTTP 451: this location is refused; tried again at `retry_at` (slowly).
    Restricted { retry_at: Instant },
}

impl LinkState {
    /// The link that serves (or is to serve) the topics, not a replacement.
    pub fn current(&self) -> Option<u64> {
        match self {
            LinkState::Connecting(o)
            | LinkState::Polling {
                stream: Attempt::Connecting(o),
                ..
            } => Some(o.id),
            LinkState::Live { link, .. } => Some(link.id),
            LinkState::Replacing { old, .. } => Some(old.id),
            _ => None,
        }
    }

    /// The current link once it delivers.
    fn serving(&self) -> Option<&Serving> {
        match self {
            LinkState::Live { link, .. } => Some(link),
            LinkState::Replacing { old, .. } => Some(old),
            _ => None,
        }
    }

    fn replacement(&self) -> Option<u64> {
        match self {
            LinkState::Replacing { new, .. } => Some(new.id()),
            _ => None,
        }
    }
}

/// What happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Link `id` connected (the upgrade succeeded).
    Opened(u64),
    /// A message on link `id`.
    Msg(u64, Msg),
    /// Link `id` is over (or never started).
    Closed(u64, LinkError),
    /// Time passed: whatever is due at `now` (swap, age limit, retry, poll, the backoff starting over).
    Tick,
    /// The REST ping made at `at` when the stream was refused (`err`, retried after `delay`) answered.
    Pinged {
        err: LinkError,
        delay: Duration,
        at: Instant,
        answer: Result<(), RestError>,
    },
    /// A REST poll of the tickers, then of each symbol's current bars (stopped at a throttle).
    Polled {
        polls: Result<Vec<(String, Poll)>, RestError>,
        bars: Vec<(String, Result<Vec<Bar>, RestError>)>,
    },
    /// A bars fill after a gap, per symbol (stopped at a throttle).
    Filled(Vec<(String, Result<Vec<Bar>, RestError>)>),
}

/// What the I/O loop does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open a stream link with this id.
    Connect(u64),
    /// Close this link (with a close frame).
    Close(u64),
    /// Apply a message to the book.
    Apply(Msg),
    /// The book forgets its update ids: the link does not overlap the previous one.
    FreshLink,
    /// The replacement took over: close the old link (if still open), then apply what the replacement delivered
    /// during the overlap (the book skips what the old one applied). The book's ids are kept.
    Swap { close: Option<u64>, kept: Vec<Msg> },
    /// Fill the bars missed while no link served, over REST.
    FillBars,
    /// Bars from a fill, into the book.
    PutBars(Vec<(String, Vec<Bar>)>),
    /// Ping REST: does it stand in for the refused stream? Answered with [`Event::Pinged`].
    Ping {
        err: LinkError,
        delay: Duration,
        at: Instant,
    },
    /// Poll REST's tickers and current bars; answered with [`Event::Polled`].
    Poll,
    /// A poll's data, into the book (a message for the status).
    ApplyPoll(Vec<(String, Poll)>, Vec<(String, Vec<Bar>)>),
    /// The status's state and words.
    Status(State, String),
    /// The status's `error`.
    Error(Option<String>),
}

/// The link's state and what lasts across states: the backoff, the next link id, whether bars are missing, REST
/// calls in flight and REST's throttle.
#[derive(Debug)]
pub struct Machine {
    cfg: Config,
    state: LinkState,
    backoff: Backoff,
    /// A uniform random number in `[0, 1)` for the backoff's jitter.
    jitter: fn() -> f64,
    ids: u64,
    /// The link for which the backoff was last reset (once it had been up for [`STABLE_AFTER`]).
    settled: Option<u64>,
    /// Bars were missed (no link served, or a fill could not run): filled when a link next delivers.
    gap: bool,
    ping_in_flight: bool,
    poll_in_flight: bool,
    /// Binance throttled REST: no REST call before this.
    throttled_until: Option<Instant>,
}

type Out = Vec<Action>;

impl Machine {
    /// The machine with its first link opening at `now`; `gap` when the bar history is still missing.
    pub fn start(cfg: Config, gap: bool, jitter: fn() -> f64, now: Instant) -> (Machine, Out) {
        let backoff = Backoff::new(500.0, cfg.backoff_max.as_millis().max(500) as f64);
        let mut m = Machine {
            state: LinkState::Idle { retry_at: now },
            cfg,
            backoff,
            jitter,
            ids: 0,
            settled: None,
            gap,
            ping_in_flight: false,
            poll_in_flight: false,
            throttled_until: None,
        };
        let mut out = vec![Action::Status(
            State::Connecting,
            format!("connecting to {}", m.cfg.ws),
        )];
        m.state = LinkState::Connecting(m.connect(now, &mut out));
        (m, out)
    }

    pub fn state(&self) -> &LinkState {
        &self.state
    }

    /// The next state after `ev` at `now`, and what to do.
    pub fn on(&mut self, ev: Event, now: Instant) -> Out {
        let mut out = Vec::new();
        let state = std::mem::replace(&mut self.state, LinkState::Idle { retry_at: now });
        self.state = match ev {
            Event::Opened(id) => {
                if state.current() == Some(id) {
                    // Not a replacement running beside the old link: nothing it sends overlaps what was applied.
                    out.push(Action::FreshLink);
                }
                state
            }
            Event::Msg(id, msg) => self.message(state, id, msg, now, &mut out),
            Event::Closed(id, err) => self.closed(state, id, err, now, &mut out),
            Event::Tick => self.tick(state, now, &mut out),
            Event::Pinged {
                err,
                delay,
                at,
                answer,
            } => {
                self.ping_in_flight = false;
                self.pinged(state, err, delay, at, answer, &mut out)
            }
            Event::Polled { polls, bars } => self.polled(state, polls, bars, now, &mut out),
            Event::Filled(filled) => self.filled(state, filled, now, &mut out),
        };
        out
    }

    fn connect(&mut self, now: Instant, out: &mut Out) -> Opened {
        self.ids += 1;
        out.push(Action::Connect(self.ids));
        Opened {
            id: self.ids,
            started: now,
        }
    }

    fn delay(&mut self) -> Duration {
        Duration::from_millis(self.backoff.next_delay_ms((self.jitter)()) as u64)
    }

    fn message(
        &mut self,
        state: LinkState,
        id: u64,
        msg: Msg,
        now: Instant,
        out: &mut Out,
    ) -> LinkState {
        let is_current = state.current() == Some(id);
        if !is_current && state.replacement() != Some(id) {
            return state; // a link already retired
        }
        match &msg {
            Msg::ServerShutdown => {
                info!("binance: serverShutdown announced; opening the replacement first");
                return if is_current {
                    self.server_shutdown(state, now, out)
                } else {
                    state
                };
            }
            Msg::Answer { error: Some(e), id } => {
                warn!(?id, error = %e, "binance: a request was refused");
                out.push(Action::Error(Some(format!(
                    "Binance refused a request: {e}"
                ))));
                return state;
            }
            Msg::Answer { .. } | Msg::Other => return state,
            _ => {}
        }
        match state {
            LinkState::Replacing { old, new } if !is_current => {
                // The new link delivers: both run side by side for `OVERLAP`, its messages kept.
                let (link, swap_at, mut kept) = match new {
                    Replacement::Connecting(o) => (o.up(now), now + OVERLAP, Vec::new()),
                    Replacement::Overlap {
                        link,
                        swap_at,
                        kept,
                    } => (link, swap_at, kept),
                };
                kept.push(msg);
                if kept.len() >= OVERLAP_BUFFER {
                    return swap(Some(old.id), link, kept, out);
                }
                LinkState::Replacing {
                    old,
                    new: Replacement::Overlap {
                        link,
                        swap_at,
                        kept,
                    },
                }
            }
            LinkState::Connecting(o)
            | LinkState::Polling {
                stream: Attempt::Connecting(o),
                ..
            } => {
                // The first data: live (REST polling, if any, stops), and the bars missed meanwhile filled.
                out.push(Action::Apply(msg));
                out.push(Action::Status(State::Live, self.cfg.live_words.clone()));
                if std::mem::take(&mut self.gap) {
                    self.fill(now, out);
                }
                LinkState::Live {
                    link: o.up(now),
                    replace_retry_at: None,
                }
            }
            state => {
                out.push(Action::Apply(msg));
                state
            }
        }
    }

    /// `serverShutdown` on the current link: a serving one gets its replacement beside it; one that has delivered
    /// nothing yet (so nothing can be missed) is closed and another opened at once.
    fn server_shutdown(&mut self, state: LinkState, now: Instant, out: &mut Out) -> LinkState {
        match state {
            LinkState::Live { link, .. } => LinkState::Replacing {
                old: link,
                new: Replacement::Connecting(self.connect(now, out)),
            },
            LinkState::Connecting(o) => {
                out.push(Action::Close(o.id));
                LinkState::Connecting(self.connect(now, out))
            }
            LinkState::Polling {
                next_poll,
                stream: Attempt::Connecting(o),
            } => {
                out.push(Action::Close(o.id));
                LinkState::Polling {
                    next_poll,
                    stream: Attempt::Connecting(self.connect(now, out)),
                }
            }
            state => state,
        }
    }

    fn closed(
        &mut self,
        state: LinkState,
        id: u64,
        err: LinkError,
        now: Instant,
        out: &mut Out,
    ) -> LinkState {
        match state {
            LinkState::Replacing { old, new } if new.id() == id => {
                warn!(error = %err, "binance: the replacement connection failed; the current one goes on");
                let d = self.delay();
                LinkState::Live {
                    link: old,
                    replace_retry_at: Some(now + d),
                }
            }
            LinkState::Replacing { old, new } if old.id == id => match new {
                // The old one went first while both ran: the new one takes over now.
                Replacement::Overlap { link, kept, .. } => swap(None, link, kept, out),
                // The old one went before the new one delivered: it takes over as a fresh connection. Its ids
                // still follow the old one's (opened as its replacement, it may repeat the last updates), so the
                // book's dedup state is kept.
                Replacement::Connecting(o) => {
                    self.gap = true;
                    LinkState::Connecting(o)
                }
            },
            LinkState::Live { link, .. } if link.id == id => {
                self.gap = true;
                self.lost(None, err, now, out)
            }
            LinkState::Connecting(o) if o.id == id => {
                self.gap = true;
                self.lost(None, err, now, out)
            }
            LinkState::Polling {
                next_poll,
                stream: Attempt::Connecting(o),
            } if o.id == id => {
                self.gap = true;
                self.lost(Some(next_poll), err, now, out)
            }
            state => state,
        }
    }

    /// The current link is gone and none stands by; `polling` is the poll timer when REST stands in.
    fn lost(
        &mut self,
        polling: Option<Instant>,
        err: LinkError,
        now: Instant,
        out: &mut Out,
    ) -> LinkState {
        let waiting = |retry_at| match polling {
            Some(next_poll) => LinkState::Polling {
                next_poll,
                stream: Attempt::Waiting { retry_at },
            },
            None => LinkState::Idle { retry_at },
        };
        match &err {
            LinkError::Http(451) => {
                warn!("binance: HTTP 451 (restricted location)");
                out.push(Action::Status(State::Restricted, RESTRICTED_HINT.into()));
                LinkState::Restricted {
                    retry_at: now + self.cfg.restricted_retry,
                }
            }
            LinkError::Http(_) | LinkError::Connect(_) => {
                // While REST stands in, the stream is retried at least every `POLLING_RETRY_MAX`: back soon.
                let d = self.delay();
                let state = waiting(now + d);
                // While Binance throttles REST, no call at all (each one would make it worse).
                if let Some(t) = self.throttled_until.filter(|t| *t > now) {
                    let answer = Err(RestError::Throttled {
                        status: 429,
                        retry_after: Some(t - now),
                    });
                    self.pinged(state, err, d, now, answer, out)
                } else {
                    // The answer (REST there or not) decides between polling and reconnecting; one at a time.
                    if !self.ping_in_flight {
                        self.ping_in_flight = true;
                        out.push(Action::Ping {
                            err,
                            delay: d,
                            at: now,
                        });
                    }
                    state
                }
            }
            LinkError::Silent(_) => {
                warn!(error = %err, "binance: silent connection; replacing it");
                out.push(Action::Status(
                    State::Reconnecting,
                    format!("replacing a silent connection: {err}"),
                ));
                waiting(now)
            }
            LinkError::Closed(_) => {
                let d = self.delay();
                warn!(error = %err, retry_ms = d.as_millis() as u64, "binance: connection lost");
                out.push(Action::Status(
                    State::Reconnecting,
                    format!("{err}; reconnecting in {} ms", d.as_millis()),
                ));
                waiting(now + d)
            }
        }
    }

    /// The answer to the ping made at `now` when the stream was refused (`err`, retried after `d`). A link opened
    /// meanwhile keeps its own schedule; the retry time only matters while none is open.
    fn pinged(
        &mut self,
        state: LinkState,
        err: LinkError,
        d: Duration,
        now: Instant,
        answer: Result<(), RestError>,
        out: &mut Out,
    ) -> LinkState {
        if state.serving().is_some() {
            return state; // the stream came back meanwhile
        }
        let retry_at = now + d.min(POLLING_RETRY_MAX);
        // REST stands in: polling (from now, unless it already was), the stream retried soon.
        let polling = |state| match state {
            LinkState::Polling {
                next_poll,
                stream: Attempt::Waiting { .. },
            } => LinkState::Polling {
                next_poll,
                stream: Attempt::Waiting { retry_at },
            },
            s @ LinkState::Polling { .. } => s,
            LinkState::Connecting(o) => LinkState::Polling {
                next_poll: now,
                stream: Attempt::Connecting(o),
            },
            _ => LinkState::Polling {
                next_poll: now,
                stream: Attempt::Waiting { retry_at },
            },
        };
        match answer {
            Ok(()) => {
                if !matches!(state, LinkState::Polling { .. }) {
                    warn!(error = %err, "binance: websocket unavailable; polling REST");
                }
                out.push(Action::Status(
                    State::PollingRest,
                    format!(
                        "websocket unavailable ({err}); polling {} every {} s, retrying the stream",
                        self.cfg.rest,
                        self.cfg.poll_every.as_secs_f64()
                    ),
                ));
                polling(state)
            }
            Err(RestError::Restricted) => {
                out.push(Action::Status(State::Restricted, RESTRICTED_HINT.into()));
                match state {
                    LinkState::Connecting(o)
                    | LinkState::Polling {
                        stream: Attempt::Connecting(o),
                        ..
                    } => LinkState::Connecting(o),
                    _ => LinkState::Restricted {
                        retry_at: now + self.cfg.restricted_retry,
                    },
                }
            }
            Err(e @ RestError::Throttled { .. }) => {
                // REST answers, but not now: polling starts once Binance lets it.
                let state = self.throttled(polling(state), &e, now, out);
                out.push(Action::Status(
                    State::PollingRest,
                    format!("websocket unavailable ({err}); REST throttled, retrying the stream"),
                ));
                state
            }
            Err(e) => {
                out.push(Action::Status(
                    State::Reconnecting,
                    format!(
                        "{err}; REST unreachable too ({e}); retrying in {} ms",
                        d.as_millis()
                    ),
                ));
                match state {
                    LinkState::Polling {
                        stream: Attempt::Waiting { retry_at },
                        ..
                    }
                    | LinkState::Restricted { retry_at } => LinkState::Idle { retry_at },
                    LinkState::Polling {
                        stream: Attempt::Connecting(o),
                        ..
                    } => LinkState::Connecting(o),
                    state => state,
                }
            }
        }
    }

    /// Binance throttled REST (429/418): no REST call until its `Retry-After` has passed, and the status says so.
    fn throttled(
        &mut self,
        state: LinkState,
        e: &RestError,
        now: Instant,
        out: &mut Out,
    ) -> LinkState {
        let RestError::Throttled { retry_after, .. } = e else {
            return state;
        };
        let wait = throttle_wait(*retry_after, self.cfg.poll_every);
        warn!(error = %e, wait_s = wait.as_secs(), "binance: REST throttled; waiting");
        self.throttled_until = Some(now + wait);
        out.push(Action::Error(Some(format!(
            "REST throttled: {e}; next REST call in {} s",
            wait.as_secs()
        ))));
        match state {
            LinkState::Polling { next_poll, stream } => LinkState::Polling {
                next_poll: next_poll.max(now + wait),
                stream,
            },
            state => state,
        }
    }

    /// Fills the bars missed, unless REST is throttled (then once a link next delivers).
    fn fill(&mut self, now: Instant, out: &mut Out) {
        if self.throttled_until.is_some_and(|t| now < t) {
            self.gap = true;
        } else {
            out.push(Action::FillBars);
        }
    }

    fn filled(
        &mut self,
        mut state: LinkState,
        filled: Vec<(String, Result<Vec<Bar>, RestError>)>,
        now: Instant,
        out: &mut Out,
    ) -> LinkState {
        let mut got = Vec::new();
        let mut throttle = None;
        for (s, r) in filled {
            match r {
                Ok(bars) => got.push((s, bars)),
                Err(e @ RestError::Throttled { .. }) => throttle = Some(e),
                Err(e) => debug!(symbol = %s, error = %e, "binance: bars not filled"),
            }
        }
        if !got.is_empty() {
            out.push(Action::PutBars(got));
        }
        if let Some(e) = throttle {
            state = self.throttled(state, &e, now, out);
            self.gap = true;
        }
        state
    }

    /// A poll's outcome. Dropped once the stream is back: its data is newer than the poll's.
    fn polled(
        &mut self,
        state: LinkState,
        polls: Result<Vec<(String, Poll)>, RestError>,
        bars: Vec<(String, Result<Vec<Bar>, RestError>)>,
        now: Instant,
        out: &mut Out,
    ) -> LinkState {
        self.poll_in_flight = false;
        if let Err(e @ RestError::Throttled { .. }) = &polls {
            return self.throttled(state, e, now, out);
        }
        let LinkState::Polling { next_poll, stream } = state else {
            return state;
        };
        let state = LinkState::Polling { next_poll, stream };
        match polls {
            Ok(polls) => {
                let mut got = Vec::new();
                let mut throttle = None;
                for (s, r) in bars {
                    match r {
                        Ok(bars) => got.push((s, bars)),
                        Err(e @ RestError::Throttled { .. }) => throttle = Some(e),
                        Err(_) => {}
                    }
                }
                out.push(Action::ApplyPoll(polls, got));
                if self.throttled_until.take().is_some() {
                    out.push(Action::Error(self.cfg.base_error.clone()));
                }
                match throttle {
                    Some(e) => self.throttled(state, &e, now, out),
                    None => state,
                }
            }
            Err(RestError::Restricted) => {
                out.push(Action::Status(State::Restricted, RESTRICTED_HINT.into()));
                match stream {
                    Attempt::Waiting { .. } => LinkState::Restricted {
                        retry_at: now + self.cfg.restricted_retry,
                    },
                    Attempt::Connecting(o) => LinkState::Connecting(o),
                }
            }
            Err(e) => {
                out.push(Action::Error(Some(format!("REST poll failed: {e}"))));
                state
            }
        }
    }

    /// What is due at `now`, in order: the swap, the backoff starting over, the age limit, a retry, a poll.
    fn tick(&mut self, state: LinkState, now: Instant, out: &mut Out) -> LinkState {
        let state = match state {
            LinkState::Replacing {
                old,
                new:
                    Replacement::Overlap {
                        link,
                        swap_at,
                        kept,
                    },
            } if now >= swap_at => swap(Some(old.id), link, kept, out),
            state => state,
        };
        if let Some(c) = state
            .serving()
            .filter(|c| self.settled != Some(c.id) && stable(Some(c.up_since), now))
        {
            self.settled = Some(c.id);
            self.backoff.reset();
        }
        // Replace an old link before Binance cuts it, new one first.
        let state = match state {
            LinkState::Live {
                link,
                replace_retry_at,
            } if now.saturating_duration_since(link.started) >= self.cfg.rotate_after
                && replace_retry_at.is_none_or(|t| now >= t) =>
            {
                info!("binance: the connection nears its age limit; opening the replacement first");
                LinkState::Replacing {
                    old: link,
                    new: Replacement::Connecting(self.connect(now, out)),
                }
            }
            state => state,
        };
        let state = match state {
            LinkState::Idle { retry_at } | LinkState::Restricted { retry_at }
                if now >= retry_at =>
            {
                LinkState::Connecting(self.connect(now, out))
            }
            LinkState::Polling {
                next_poll,
                stream: Attempt::Waiting { retry_at },
            } if now >= retry_at => LinkState::Polling {
                next_poll,
                stream: Attempt::Connecting(self.connect(now, out)),
            },
            state => state,
        };
        match state {
            LinkState::Polling { next_poll, stream }
                if !self.poll_in_flight
                    && now >= next_poll
                    && self.throttled_until.is_none_or(|t| now >= t) =>
            {
                self.poll_in_flight = true;
                out.push(Action::Poll);
                LinkState::Polling {
                    next_poll: now + self.cfg.poll_every,
                    stream,
                }
            }
            state => state,
        }
    }
}

/// The replacement takes over: `close` (the old link, if still open) is closed, and what the new one kept replayed.
fn swap(close: Option<u64>, link: Serving, kept: Vec<Msg>, out: &mut Out) -> LinkState {
    out.push(Action::Swap { close, kept });
    LinkState::Live {
        link,
        replace_retry_at: None,
    }
}

#[cfg(test)]
mod tests;
