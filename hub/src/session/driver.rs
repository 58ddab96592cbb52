//! The tokio driver of one client's [`Session`]: waits on the client's frames, on one broker channel per watched
//! topic, on the writer's room, on rate deadlines and the heartbeat, and hands each to the sans-IO session.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tracing::info;

use super::core::{Context, Flow, Inbound, Outbound, Session, Writer};
use crate::broker::{Changes, Event};
use crate::metrics::Metrics;

impl Writer for mpsc::Sender<Outbound> {
    fn try_write(&self, frame: Outbound) -> Result<(), Outbound> {
        self.try_send(frame).map_err(|e| e.into_inner())
    }
}

/// Changes of one topic taken in one go (the first awaited, the rest already waiting) before a frame is made.
const EVENTS_PER_TURN: usize = 256;
/// Topics with waiting changes taken in one wakeup before a frame is made.
const TOPICS_PER_TURN: usize = 64;

/// A topic's next change as a session waits for it, with the subscription's id and the receiver handed back so it
/// can wait again.
type Received = (String, u64, Changes, Result<Arc<Event>, RecvError>);

async fn next_change(topic: String, id: u64, mut rx: Changes, gone: Arc<Notify>) -> Received {
    tokio::select! {
        r = rx.recv() => (topic, id, rx, r),
        // Unsubscribed: handed back as closed, so the session drops the receiver.
        _ = gone.notified() => (topic, id, rx, Err(RecvError::Closed)),
    }
}

/// Runs one client until it leaves, the transport fails or the hub shuts down. `incoming` ends (or yields `None`)
/// when the client's socket does; `out` is the writer's queue, small on purpose. Returns why it ended.
pub async fn run(
    ctx: Arc<Context>,
    mut incoming: mpsc::Receiver<Inbound>,
    out: mpsc::Sender<Outbound>,
) -> &'static str {
    let mut session = Session::new(ctx.clone(), Instant::now());
    info!(client = %session.id(), "client connected");
    let reason = drive(&mut session, &ctx, &mut incoming, &out).await;
    info!(client = %session.id(), reason, "client disconnected");
    reason
}

async fn drive(
    session: &mut Session,
    ctx: &Context,
    incoming: &mut mpsc::Receiver<Inbound>,
    out: &mpsc::Sender<Outbound>,
) -> &'static str {
    // One waiting receive per watched topic: a change wakes only the sessions waiting on its topic.
    let mut changes = FuturesUnordered::new();
    let heartbeat_every = ctx.limits.heartbeat();
    let mut heartbeat = tokio::time::interval_at(Instant::now() + heartbeat_every, heartbeat_every);
    let mut shutdown = ctx.shutdown.clone();
    let flow = loop {
        for (topic, id, rx) in session.take_new_receivers() {
            let gone = session.gone_of(&topic);
            changes.push(next_change(topic, id, rx, gone));
        }
        let now = Instant::now();
        let flushable = session.has_flushable(now);
        let wake_at = session.next_rate_deadline(now);
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break session.on_shutdown(),
            msg = incoming.recv() => match msg {
                None => return "socket closed",
                Some(m) => {
                    if let Flow::Close(code, why) = session.on_inbound(m, Instant::now()) {
                        break Flow::Close(code, why);
                    }
                }
            },
            got = changes.next(), if !changes.is_empty() => {
                Metrics::add(&ctx.metrics.topic_wakeups, 1);
                // Every topic whose changes are waiting already, before the next frame is made; one over the
                // turn's bound is handled all the same (dropping it would lose a change).
                let mut next = got;
                for turn in 0..=TOPICS_PER_TURN {
                    let Some((topic, id, rx, first)) = next else { break };
                    if let Some(rx) = take_changes(session, &topic, id, rx, first, out) {
                        let gone = session.gone_of(&topic);
                        changes.push(next_change(topic, id, rx, gone));
                    }
                    if turn == TOPICS_PER_TURN {
                        break;
                    }
                    next = changes.next().now_or_never().flatten();
                }
            }
            permit = out.reserve(), if flushable => match permit {
                Ok(permit) => {
                    if let Some(frame) = session.next_frame(Instant::now()) {
                        permit.send(frame);
                    }
                }
                Err(_) => return "writer closed",
            },
            _ = tokio::time::sleep_until(wake_at.unwrap_or(now)), if wake_at.is_some() => {}
            _ = heartbeat.tick() => {
                if let Flow::Close(code, why) = session.on_heartbeat(Instant::now()) {
                    break Flow::Close(code, why);
                }
            }
        }
    };
    let Flow::Close(code, reason) = flow else {
        return "done";
    };
    // Best effort: deliver the queued error and a close frame, bounded in time.
    let deadline = Instant::now() + Duration::from_secs(1);
    let last: Vec<Outbound> = session.drain_control().collect();
    for m in last.into_iter().chain([Outbound::Close { code, reason }]) {
        if tokio::time::timeout_at(deadline, out.send(m))
            .await
            .is_err()
        {
            break;
        }
    }
    reason
}

/// Takes the changes of one topic that are waiting (the first already received). Returns the receiver to wait on
/// again, or `None` when the subscription it belonged to is gone (unsubscribed, or the topic closed).
fn take_changes(
    session: &mut Session,
    topic: &str,
    id: u64,
    mut rx: Changes,
    first: Result<Arc<Event>, RecvError>,
    out: &mpsc::Sender<Outbound>,
) -> Option<Changes> {
    if !session.is_current(topic, id) {
        return None; // From a subscription since dropped: let its receiver go.
    }
    let mut next = Some(first);
    let mut taken = 0;
    while let Some(got) = next.take() {
        match got {
            Ok(ev) => session.on_event(&ev, Instant::now(), out),
            Err(RecvError::Lagged(missed)) => session.resync(topic, missed),
            Err(RecvError::Closed) => return None,
        }
        taken += 1;
        if taken == EVENTS_PER_TURN {
            break;
        }
        next = match rx.try_recv() {
            Ok(ev) => Some(Ok(ev)),
            Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
            Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
            Err(TryRecvError::Empty) => None,
        };
    }
    Some(rx)
}
