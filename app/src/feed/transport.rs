//! The socket: one websocket connection to the relay (gloo-net), turned into three events — opened, a text frame,
//! closed — and a synchronous `send`.
//!
//! Why a task and a channel: gloo-net's websocket is a `Stream` + `Sink`, but the feed must send from event handlers
//! (a click on pause, a topic watched) that cannot await. So a [`Link`] queues outgoing text on an unbounded channel
//! that a writer forwards to the socket, while the same task reads frames and reports them in order. The feed sends
//! only after [`Event::Opened`], so nothing can overtake the `hello` it sends first.
//!
//! Dropping the [`Link`] aborts its task, which drops and closes the socket: no event of a detached socket reaches the
//! feed (a retry, the browser going offline), and no close of an old socket schedules a reconnect.

use futures_channel::mpsc;
use futures_util::future::{self, AbortHandle, Abortable, Either};
use futures_util::{SinkExt, StreamExt};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, State, WebSocketError};

/// What happens on a connection, in order: at most one `Opened`, then `Text` frames, then one `Closed`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    Opened,
    Text(String),
    /// The socket closed, or never opened (then the code is usually 1006).
    Closed {
        code: u16,
        reason: String,
    },
}

/// One connection attempt; dropping it closes the socket and silences its events.
#[derive(Debug)]
pub(crate) struct Link {
    out: mpsc::UnboundedSender<String>,
    abort: AbortHandle,
}

impl Link {
    /// Opens a websocket to `url`, reporting what happens to `on_event`. Fails only when the browser refuses the URL
    /// outright; a relay that cannot be reached is reported as [`Event::Closed`].
    pub(crate) fn open(url: &str, on_event: impl FnMut(Event) + 'static) -> Result<Link, String> {
        let ws = WebSocket::open(url).map_err(|e| e.to_string())?;
        let (out, outgoing) = mpsc::unbounded();
        let (abort, registration) = AbortHandle::new_pair();
        wasm_bindgen_futures::spawn_local(async move {
            let _ = Abortable::new(run(ws, outgoing, on_event), registration).await;
        });
        Ok(Link { out, abort })
    }

    /// Queues a text frame (sent in order, right after the ones before it).
    pub(crate) fn send(&self, text: String) {
        let _ = self.out.unbounded_send(text);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

async fn run(
    mut ws: WebSocket,
    mut outgoing: mpsc::UnboundedReceiver<String>,
    mut on_event: impl FnMut(Event),
) {
    // The sink is ready once the socket has left CONNECTING: open, or failed.
    let ready = future::poll_fn(|cx| ws.poll_ready_unpin(cx)).await;
    if ready.is_ok() && matches!(ws.state(), State::Open) {
        on_event(Event::Opened);
    }
    let mut closed = Event::Closed {
        code: 1006,
        reason: String::new(),
    };
    loop {
        let next = match future::select(ws.next(), outgoing.next()).await {
            Either::Left((frame, _)) => Either::Left(frame),
            Either::Right((text, _)) => Either::Right(text),
        };
        match next {
            Either::Left(Some(Ok(Message::Text(text)))) => on_event(Event::Text(text)),
            Either::Left(Some(Err(WebSocketError::ConnectionClose(e)))) => {
                closed = Event::Closed {
                    code: e.code,
                    reason: e.reason,
                };
            }
            // The relay speaks JSON text frames only; an `error` event is always followed by `close`.
            Either::Left(Some(_)) => {}
            Either::Left(None) => break,
            Either::Right(Some(text)) => {
                let _ = ws.send(Message::Text(text)).await;
            }
            // The link was dropped.
            Either::Right(None) => return,
        }
    }
    on_event(closed);
}
