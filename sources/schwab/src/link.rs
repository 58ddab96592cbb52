//! The streamer link: one task that owns a logged-in streamer [`Session`], so the orchestrator never waits on a
//! streamer round trip.
//!
//! Schwab wants commands one at a time, each answered before the next (reference §3), and a command's answer can
//! take seconds. If the orchestrator awaited it, demand changes, token timers, market-clock checks and the status
//! would all wait too. So the link runs the commands and the orchestrator only *sends* them and later hears the
//! outcome as an event, in the order sent:
//! - [`LinkCommand`]s go in over a channel; the link runs them one after another;
//! - [`LinkEvent`]s come out: everything the streamer sends ([`LinkEvent::Inbound`]), each command's outcome
//!   ([`LinkEvent::Done`]), and once, the end of the link with the reason ([`LinkEvent::Closed`], after
//!   [`Session::explain`] found the notice behind a failed write).
//!
//! The link also keeps the connection honest by itself: a websocket ping every `ping_interval`, and a link that
//! has sent nothing at all (no data, no heartbeat, no pong) for `stale_after` is closed as stale.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;

use super::auth::TokenManager;
use super::streamer::{Inbound, Response, Session, StreamError};
use tickdesk_schwab_proto::codes;

/// Events the link may queue before it waits for the orchestrator.
const EVENT_QUEUE: usize = 4096;

/// What the orchestrator asks the link to do.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkCommand {
    /// `SUBS`/`ADD`/`UNSUBS` of `keys` on `service` with the subscription's `fields`.
    Subscription {
        command: &'static str,
        service: &'static str,
        keys: Vec<String>,
        fields: String,
    },
    /// Log in again on the same socket (after code 20), with a fresh access token.
    Relogin,
}

/// What the link reports.
#[derive(Debug)]
pub enum LinkEvent {
    /// A frame's worth of news from the streamer (data, a heartbeat, a notice, a stray response).
    Inbound(Inbound),
    /// The outcome of a command, in the order the commands were sent. Errors here are refusals with a code;
    /// a broken connection is a [`LinkEvent::Closed`] instead.
    Done {
        command: LinkCommand,
        result: Result<Response, StreamError>,
    },
    /// The link is gone (dropped socket, stale, a closing notice such as 12 or 30), with the real reason.
    Closed(StreamError),
}

/// A running link. Dropping it ends the task (without a LOGOUT); [`Link::close`] logs out first.
#[derive(Debug)]
pub struct Link {
    commands: mpsc::UnboundedSender<Control>,
    events: mpsc::Receiver<LinkEvent>,
    /// `None` once [`Link::close`] took it.
    task: Option<JoinHandle<()>>,
}

#[derive(Debug)]
enum Control {
    Run(LinkCommand),
    Logout,
}

/// The link's timers.
#[derive(Debug, Clone, Copy)]
pub struct LinkTiming {
    pub ping_interval: Duration,
    pub stale_after: Duration,
}

impl Link {
    /// Hands a logged-in session to a new link task.
    pub fn spawn(session: Session, tokens: Arc<TokenManager>, timing: LinkTiming) -> Link {
        let (commands, rx) = mpsc::unbounded_channel();
        // Bounded: if the orchestrator falls behind, the link stops reading the socket (TCP pushes back on Schwab)
        // instead of queueing without limit.
        let (tx, events) = mpsc::channel(EVENT_QUEUE);
        let task = tokio::spawn(run(session, tokens, timing, rx, tx));
        Link {
            commands,
            events,
            task: Some(task),
        }
    }

    /// Queues a command; its outcome comes back as [`LinkEvent::Done`].
    pub fn send(&self, command: LinkCommand) {
        let _ = self.commands.send(Control::Run(command));
    }

    /// The next event. Cancel-safe. After [`LinkEvent::Closed`] (or if the task is gone) it reports a closed link.
    pub async fn next(&mut self) -> LinkEvent {
        self.events
            .recv()
            .await
            .unwrap_or_else(|| LinkEvent::Closed(StreamError::Closed("the link ended".into())))
    }

    /// Logs out and waits (briefly) for the task to end.
    pub async fn close(mut self) {
        let _ = self.commands.send(Control::Logout);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // A link dropped without `close` (after a failure) must not linger with its socket.
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// True for errors after which this connection is of no use: a broken socket, a timeout, and the codes that end
/// a session (3 login denied, 12 another session took over, 30 stop streaming). A refused command (19, 11, 21…)
/// and code 20 (log in again on the same socket) leave it up: the orchestrator decides.
fn ends_the_link(e: &StreamError) -> bool {
    match e {
        StreamError::Code { code, .. } => matches!(
            *code,
            codes::LOGIN_DENIED | codes::CLOSE_CONNECTION | codes::STOP_STREAMING
        ),
        _ => true,
    }
}

async fn run(
    mut session: Session,
    tokens: Arc<TokenManager>,
    timing: LinkTiming,
    mut commands: mpsc::UnboundedReceiver<Control>,
    events: mpsc::Sender<LinkEvent>,
) {
    let mut ping = tokio::time::interval(timing.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.reset();
    let closed = loop {
        tokio::select! {
            biased;
            cmd = commands.recv() => match cmd {
                None => return,
                Some(Control::Logout) => {
                    session.logout().await;
                    return;
                }
                Some(Control::Run(command)) => {
                    let result = execute(&mut session, &tokens, &command).await;
                    match result {
                        Err(e) if ends_the_link(&e) => break e,
                        result => {
                            if events.send(LinkEvent::Done { command, result }).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            },
            ev = session.next() => match ev {
                Ok(ev) => {
                    if events.send(LinkEvent::Inbound(ev)).await.is_err() {
                        return;
                    }
                }
                Err(e) => break e,
            },
            _ = ping.tick() => {
                let silent = session.last_rx().elapsed();
                if silent >= timing.stale_after {
                    break StreamError::Timeout(format!("anything for {} ms (stale link)", silent.as_millis()));
                }
                if let Err(e) = session.ping().await {
                    break e;
                }
            }
        }
    };
    if session.malformed > 0 {
        debug!(
            malformed = session.malformed,
            "malformed frames skipped during the session"
        );
    }
    let e = session.explain(closed).await;
    let _ = events.send(LinkEvent::Closed(e)).await;
}

/// Runs one command to its answer.
async fn execute(
    session: &mut Session,
    tokens: &TokenManager,
    command: &LinkCommand,
) -> Result<Response, StreamError> {
    match command {
        LinkCommand::Subscription {
            command,
            service,
            keys,
            fields,
        } => session.subscription(command, service, keys, fields).await,
        LinkCommand::Relogin => {
            let token = tokens.access_token().await.map_err(|e| StreamError::Code {
                code: codes::LOGIN_DENIED,
                msg: e.to_string(),
                context: "token".into(),
            })?;
            let msg = session.login(&token).await?;
            Ok(Response {
                service: "ADMIN".into(),
                command: "LOGIN".into(),
                requestid: String::new(),
                code: codes::SUCCESS,
                msg,
            })
        }
    }
}
