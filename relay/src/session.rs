//! The websocket adapter: an axum socket in, the hub's session ([`tickdesk_hub::session`]) out. The only part of
//! the client protocol that knows axum's types.
//!
//! Each connection runs three tasks: the reader (sleeps until the client sends something; polling the read half
//! from the session's loop, which wakes on every change, cost a read attempt and axum zero-filling its read buffer
//! per frame sent), the hub's session driver, and the writer, which feeds every frame that is ready (tungstenite
//! buffers them) and then flushes once, so a burst of frames costs one write to the socket.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tickdesk_hub::metrics::Metrics;
use tickdesk_hub::session::{Inbound, Outbound};
use tokio::sync::mpsc;

use crate::state::AppState;

/// Frames the writer may hold beyond the one it is writing. Small on purpose: everything else waits, conflated.
const WRITER_SLOTS: usize = 4;
/// Client frames the reader may hold for the session. A client that floods waits on its own socket.
const READER_SLOTS: usize = 8;

/// Runs a client connection to its end. Never panics on client input; one client's failure stays its own.
pub async fn run(socket: WebSocket, state: Arc<AppState>) {
    let (sink, stream) = socket.split();
    let (out_tx, out_rx) = mpsc::channel::<Outbound>(WRITER_SLOTS);
    let writer = tokio::spawn(write_loop(sink, out_rx, state.clone()));
    let (in_tx, in_rx) = mpsc::channel(READER_SLOTS);
    let reader = tokio::spawn(read_loop(stream, in_tx));
    tickdesk_hub::session::run(state.hub.clone(), in_rx, out_tx).await;
    reader.abort();
    // The writer ends once it has written what it holds; a stalled peer cannot keep it forever.
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

/// Reads the client's frames and hands them to the session, until the socket ends or fails, or the session is gone.
async fn read_loop(
    mut stream: futures_util::stream::SplitStream<WebSocket>,
    tx: mpsc::Sender<Inbound>,
) {
    while let Some(Ok(m)) = stream.next().await {
        let m = match m {
            Message::Text(t) => Inbound::Text(t.as_str().to_owned()),
            Message::Binary(_) => Inbound::Binary,
            Message::Close(_) => Inbound::Close,
            Message::Ping(_) | Message::Pong(_) => Inbound::Control,
        };
        if tx.send(m).await.is_err() {
            return;
        }
    }
}

/// The websocket message for a frame: the very same bytes. axum checks them as UTF-8 once more (its only way in
/// without a copy); they always pass, being built from strings.
fn message(frame: Outbound) -> Message {
    match frame {
        Outbound::Text(t) => match Utf8Bytes::try_from(t.bytes()) {
            Ok(u) => Message::Text(u),
            Err(_) => Message::Text(Utf8Bytes::from_static(
                r#"{"type":"error","code":"bad_frame","message":"relay produced a frame that is not UTF-8","fatal":false}"#,
            )),
        },
        Outbound::Ping => Message::Ping(Default::default()),
        Outbound::Close { code, reason } => Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })),
    }
}

/// Writes what the session hands it: every frame that is ready is fed, then one flush.
async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outbound>,
    state: Arc<AppState>,
) {
    let metrics = &state.hub.metrics;
    while let Some(first) = rx.recv().await {
        let mut bytes = 0u64;
        let mut n = 0u64;
        let mut next = Some(first);
        while let Some(frame) = next.take() {
            if let Outbound::Text(t) = &frame {
                bytes += t.len() as u64;
            }
            n += 1;
            if sink.feed(message(frame)).await.is_err() {
                return;
            }
            next = rx.try_recv().ok();
        }
        if sink.flush().await.is_err() {
            return;
        }
        Metrics::add(&metrics.frames_sent, n);
        Metrics::add(&metrics.bytes_sent, bytes);
    }
    let _ = sink.close().await;
}
