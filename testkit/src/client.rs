//! A protocol client with a replica, as the app and the load tool have: a websocket speaking the relay protocol
//! (`PROTOCOL.md`), every frame applied to a [`Replica`], which panics on a gap.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tickdesk_wire::replica::Replica;
use tickdesk_wire::{ClientMsg, ResumePoint, ServerMsg, PROTOCOL_VERSION};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client's websocket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long [`Client::next`] waits.
const NEXT_WAIT: Duration = Duration::from_secs(5);

/// How long [`Client::until`] reads in all.
const UNTIL_WAIT: Duration = Duration::from_secs(15);

/// What the socket delivered next.
#[derive(Debug)]
pub enum Next {
    /// A protocol frame, already applied to the replica.
    Frame(ServerMsg),
    /// The relay closed the connection: its close frame, or `None` for one without a code or for a stream that
    /// ended with no close frame read (a second read after the close).
    Closed(Option<CloseFrame>),
    /// Nothing came within the time.
    Timeout,
    /// The socket failed (a reset without the closing handshake, a protocol error).
    Failed(tungstenite::Error),
}

impl Next {
    /// The frame, or a panic saying what came instead.
    #[track_caller]
    pub fn expect(self, what: &str) -> ServerMsg {
        match self {
            Next::Frame(m) => m,
            other => panic!("{what}: expected a frame, got {other:?}"),
        }
    }

    /// The frame, if one came.
    pub fn frame(self) -> Option<ServerMsg> {
        match self {
            Next::Frame(m) => Some(m),
            _ => None,
        }
    }

    /// The close code, if the relay closed with a close frame that carried one.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            Next::Closed(Some(f)) => Some(u16::from(f.code)),
            _ => None,
        }
    }
}

/// A websocket client of the relay with the replica its frames keep.
#[derive(Debug)]
pub struct Client {
    pub ws: Ws,
    pub replica: Replica,
}

impl Client {
    /// Opens the websocket at `url` (`ws://…/ws`); panics if it cannot.
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        Client {
            ws,
            replica: Replica::new(),
        }
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        let text = serde_json::to_string(msg).expect("a client frame encodes");
        self.send_raw(Message::Text(text.into())).await;
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.expect("the frame is sent");
    }

    pub async fn hello(&mut self, resume: BTreeMap<String, ResumePoint>) {
        self.send(&ClientMsg::Hello {
            v: PROTOCOL_VERSION,
            resume,
        })
        .await;
    }

    pub async fn subscribe(&mut self, topics: &[&str]) {
        self.send(&ClientMsg::Subscribe {
            topics: topics.iter().map(|s| s.to_string()).collect(),
            max_rate: None,
        })
        .await;
    }

    /// What comes next within 5 s.
    pub async fn next(&mut self) -> Next {
        self.next_within(NEXT_WAIT).await
    }

    /// What comes next within `d`: a protocol frame (websocket pings and pongs are skipped; tungstenite answers
    /// pings as it reads), a close, a timeout or a failure. A frame is applied to the replica, which panics on a
    /// gap; a text frame that is not a protocol frame panics too.
    pub async fn next_within(&mut self, d: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let Ok(m) = tokio::time::timeout_at(deadline, self.ws.next()).await else {
                return Next::Timeout;
            };
            match m {
                None => return Next::Closed(None),
                Some(Err(e)) => return Next::Failed(e),
                Some(Ok(Message::Text(t))) => {
                    let msg: ServerMsg = serde_json::from_str(t.as_str())
                        .unwrap_or_else(|e| panic!("bad frame {t}: {e}"));
                    self.replica.apply(&msg).unwrap_or_else(|g| panic!("{g}"));
                    return Next::Frame(msg);
                }
                Some(Ok(Message::Close(f))) => return Next::Closed(f),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Reads frames until `pred` holds for one (within 15 s in all); returns it.
    pub async fn until(&mut self, mut pred: impl FnMut(&ServerMsg) -> bool) -> ServerMsg {
        let deadline = tokio::time::Instant::now() + UNTIL_WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self
                .next_within(left)
                .await
                .expect("the awaited frame within 15 s");
            if pred(&m) {
                return m;
            }
        }
    }

    /// The replica's seq of `topic` (0 before its snapshot).
    pub fn seq(&self, topic: &str) -> u64 {
        self.replica.topic(topic).map_or(0, |t| t.seq)
    }
}
