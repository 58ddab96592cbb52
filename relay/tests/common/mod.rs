//! Test fixtures: a real relay on a loopback port, and a websocket client that keeps a replica.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tickdesk_market::{Clock, Date};

use futures_util::{SinkExt, StreamExt};
use tickdesk_relay::state::AppState;
use tickdesk_relay::store::Store;
use tickdesk_relay::ServeConfig;
use tickdesk_wire::replica::Replica;
use tickdesk_wire::{ClientMsg, ResumePoint, ServerMsg, PROTOCOL_VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A relay running on 127.0.0.1:<any>, stopped when dropped.
pub struct Relay {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Settings for tests: a fast curve, no static files, a deterministic seed.
pub fn test_config() -> ServeConfig {
    let mut cfg = ServeConfig::defaults();
    cfg.static_dir = "/nonexistent-tickdesk-test".into();
    cfg.rates_tick_ms = 20;
    cfg.seed = Some(42);
    // The hub's tests are about the hub: no Schwab client or simulator (their own tests cover them).
    cfg.no_schwab = true;
    cfg
}

/// A market clock in a regular session (Wednesday 2 December 2026, 10:15 ET, running), whenever the test runs.
pub fn in_session() -> Clock {
    Clock::starting_at(Date::from_ymd(2026, 12, 2).at_et(10, 15))
}

impl Relay {
    pub async fn start(cfg: ServeConfig) -> Relay {
        Relay::start_at(cfg, in_session()).await
    }

    /// Starts a relay whose market runs on `clock`.
    pub async fn start_at(cfg: ServeConfig, clock: Clock) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            tickdesk_relay::run(listener, cfg, clock, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Relay {
            addr,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// The hub alone: the relay's routes over `store`, with no sources (no rates desk, no Schwab) and no sweep.
    /// Topics change only when the test publishes, so what a client gets is exactly what the test caused. Returns
    /// the shared state too, so the test can publish into the store directly (without yielding, when it must make
    /// a session fall behind).
    pub async fn start_hub(cfg: ServeConfig, store: Store) -> (Relay, Arc<AppState>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut state = AppState::new(&cfg, in_session(), stop_rx);
        state.store = Arc::new(store);
        let state = Arc::new(state);
        let app = tickdesk_relay::server::router(state.clone(), &cfg);
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                    let _ = stop_tx.send(true);
                })
                .await
                .unwrap();
        });
        let relay = Relay {
            addr,
            stop: Some(tx),
            task: Some(task),
        };
        (relay, state)
    }

    /// One unlabelled value from `/metrics`.
    pub async fn metric(&self, name: &str) -> u64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .filter(|rest| rest.starts_with(' '))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Stops the relay and waits for it to finish (sockets closed).
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("relay stops within 10 s")
                .unwrap();
        }
    }

    /// A plain HTTP GET on the relay; returns (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, &[], "").await
    }

    /// A plain HTTP POST of a JSON body with extra headers; returns (status, body).
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        let mut h: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
        h.extend_from_slice(headers);
        self.request("POST", path, &h, body).await
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut s = TcpStream::connect(self.addr).await.unwrap();
        let extra: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n{extra}\r\n{body}",
            self.addr,
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf).to_string();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        // Bodies may be chunked; tests only call this for JSON and text, so unchunk naively.
        (status, dechunk(&body))
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size, after)) = rest.split_once("\r\n") else {
            return body.to_string();
        };
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            return body.to_string();
        };
        if n == 0 {
            return out;
        }
        if after.len() < n {
            return body.to_string();
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A protocol client with a replica, as the app and the load tool have.
pub struct Client {
    pub ws: Ws,
    pub replica: Replica,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        Client {
            ws,
            replica: Replica::new(),
        }
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        self.ws
            .send(Message::Text(serde_json::to_string(msg).unwrap().into()))
            .await
            .unwrap();
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.unwrap();
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

    /// The next protocol frame (skipping websocket pings), applied to the replica. Panics on a gap.
    pub async fn next(&mut self) -> Option<ServerMsg> {
        self.next_within(Duration::from_secs(5)).await
    }

    pub async fn next_within(&mut self, d: Duration) -> Option<ServerMsg> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let m = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match m.ok()? {
                Message::Text(t) => {
                    let msg: ServerMsg = serde_json::from_str(t.as_str())
                        .unwrap_or_else(|e| panic!("bad frame {t}: {e}"));
                    self.replica.apply(&msg).unwrap_or_else(|g| panic!("{g}"));
                    return Some(msg);
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Reads frames until `pred` holds for one (within 15 s in all); returns it.
    pub async fn until(&mut self, mut pred: impl FnMut(&ServerMsg) -> bool) -> ServerMsg {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
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

    pub fn seq(&self, topic: &str) -> u64 {
        self.replica.topic(topic).map_or(0, |t| t.seq)
    }
}
