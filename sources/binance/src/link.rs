//! One stream connection in a task of its own: connect, ask for the streams the URL does not carry (SUBSCRIBE,
//! through the [`TokenBucket`]), read and parse, and report to the orchestrator as [`LinkEvent`]s tagged with the
//! link's id — so two links can run side by side while one replaces the other.
//!
//! Duties kept here:
//! - **Pings**: tungstenite answers every server ping with a pong carrying the same payload, as it reads; the link
//!   reads continuously (events go out over a bounded channel, so a slow orchestrator slows reading, never drops).
//! - **5 messages a second**: everything the link sends itself goes through the bucket.
//! - **Silence**: a connection that delivered nothing at all (no data, no ping) for `silent_after` is given up
//!   ([`LinkError::Silent`]) — Binance pings every 20 s and tickers come every second, so silence means it is dead.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::debug;

use super::bucket::{TokenBucket, BURST, RATE_PER_SEC};
use super::payload::{self, Msg};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What ended (or never started) a link.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkError {
    /// The upgrade was answered with this HTTP status (451: restricted location; 403/400: a proxy refusing).
    Http(u16),
    /// No connection (DNS, refused, TLS, timeout).
    Connect(String),
    /// Open, but nothing at all for this long.
    Silent(Duration),
    /// The connection closed or broke.
    Closed(String),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Http(s) => write!(f, "websocket upgrade answered HTTP {s}"),
            LinkError::Connect(e) => write!(f, "cannot connect: {e}"),
            LinkError::Silent(d) => write!(f, "silent for {} ms (no data, no ping)", d.as_millis()),
            LinkError::Closed(e) => write!(f, "connection closed: {e}"),
        }
    }
}

/// What a link reports.
#[derive(Debug)]
pub enum LinkEvent {
    /// Connected (the upgrade succeeded).
    Open,
    /// One message.
    Msg(Msg),
    /// An unreadable message (skipped).
    Malformed(String),
    /// The link is over.
    Closed(LinkError),
}

/// What a link needs.
#[derive(Debug, Clone)]
pub struct LinkSpec {
    pub url: String,
    /// SUBSCRIBE requests to send once open, in order, through the bucket.
    pub requests: Vec<String>,
    pub silent_after: Duration,
}

/// A running link. Dropping it ends the task; [`Link::close`] sends a close frame first.
#[derive(Debug)]
pub struct Link {
    pub id: u64,
    close: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    /// False once [`Link::close`] asked the task to end by itself.
    abort_on_drop: bool,
}

impl Link {
    /// Starts a link; its events come on `events` tagged with `id`.
    pub fn spawn(id: u64, spec: LinkSpec, events: mpsc::Sender<(u64, LinkEvent)>) -> Link {
        let (close, close_rx) = oneshot::channel();
        let task = tokio::spawn(run(id, spec, events, close_rx));
        Link {
            id,
            close: Some(close),
            task,
            abort_on_drop: true,
        }
    }

    /// Closes the connection with a close frame (the task ends on its own).
    pub fn close(mut self) {
        if let Some(c) = self.close.take() {
            let _ = c.send(());
        }
        // Not aborted: the task sends its close frame and ends.
        self.abort_on_drop = false;
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if self.abort_on_drop {
            self.task.abort();
        }
    }
}

async fn run(
    id: u64,
    spec: LinkSpec,
    events: mpsc::Sender<(u64, LinkEvent)>,
    mut close: oneshot::Receiver<()>,
) {
    let send = |ev: LinkEvent| {
        let events = events.clone();
        async move { events.send((id, ev)).await.is_ok() }
    };
    let connected =
        tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(&spec.url)).await;
    let mut ws = match connected {
        Err(_) => {
            send(LinkEvent::Closed(LinkError::Connect("timed out".into()))).await;
            return;
        }
        Ok(Err(tungstenite::Error::Http(resp))) => {
            send(LinkEvent::Closed(LinkError::Http(resp.status().as_u16()))).await;
            return;
        }
        Ok(Err(e)) => {
            send(LinkEvent::Closed(LinkError::Connect(e.to_string()))).await;
            return;
        }
        Ok(Ok((ws, _))) => ws,
    };
    if !send(LinkEvent::Open).await {
        return;
    }
    let mut pending: VecDeque<String> = spec.requests.into();
    let mut bucket = TokenBucket::new(RATE_PER_SEC, BURST, Instant::now());
    let mut last_rx = Instant::now();
    let check = (spec.silent_after / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut silence = tokio::time::interval(check);
    silence.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let reason = loop {
        let wait = if pending.is_empty() {
            Duration::from_secs(3600)
        } else {
            bucket.wait(Instant::now())
        };
        tokio::select! {
            _ = &mut close => {
                let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                return;
            }
            _ = tokio::time::sleep(wait), if !pending.is_empty() => {
                if bucket.try_take(Instant::now()) {
                    if let Some(req) = pending.pop_front() {
                        if let Err(e) = ws.send(Message::Text(req.into())).await {
                            break LinkError::Closed(e.to_string());
                        }
                    }
                }
            }
            m = ws.next() => {
                last_rx = Instant::now();
                match m {
                    None => break LinkError::Closed("the server closed the socket".into()),
                    Some(Err(e)) => break LinkError::Closed(e.to_string()),
                    Some(Ok(Message::Text(t))) => {
                        let ev = match payload::parse(t.as_str()) {
                            Ok(msg) => LinkEvent::Msg(msg),
                            Err(e) => LinkEvent::Malformed(e),
                        };
                        if !send(ev).await {
                            return;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let why = frame.map_or_else(|| "no reason".to_string(), |f| format!("{} {}", u16::from(f.code), f.reason));
                        break LinkError::Closed(format!("the server closed the connection ({why})"));
                    }
                    // Pings are answered by tungstenite itself (same payload) when it next writes or flushes.
                    Some(Ok(_)) => {
                        if let Err(e) = ws.flush().await {
                            break LinkError::Closed(e.to_string());
                        }
                    }
                }
            }
            _ = silence.tick() => {
                let quiet = last_rx.elapsed();
                if quiet >= spec.silent_after {
                    break LinkError::Silent(quiet);
                }
            }
        }
    };
    debug!(id, %reason, "binance link ended");
    send(LinkEvent::Closed(reason)).await;
}
