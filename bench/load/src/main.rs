//! `tickdesk-load`: drives N websocket clients against the relay (or a benchmark peer) on loopback and prints
//! figures: progress on stderr, one JSON line on stdout (what `scripts/bench.sh` reads).
//!
//! - `fanout`: N clients subscribe (our protocol: `hello`, then `subscribe` to a chain topic; `plain`: a peer's
//!   JSON broadcast), a warm-up, then a measured window: contract updates/s, frames/s, bytes/s, and latency from
//!   the upstream event's timestamp (the row's `ts`, set by the simulator) to receipt: p50/p99/max. A fraction of
//!   the clients can stall (stop reading after their first snapshot) while the relay's memory is sampled.
//! - `capacity`: a capacity search (`capacity.rs`): N clients stay connected while the simulator's tick period
//!   is stepped down, so the offered load steps up; per step the delivered rate, p50/p99/max and the CPU of the
//!   load tool, the server, the simulator and the machine; it stops at the first step over the p99 limit.
//! - `idle`: the relay's memory per idle connection.
//! - `storm`: runs the relay itself, connects N clients with full state, kills the relay (SIGKILL) and starts it
//!   again; measures the time until every client is live again with full state (reconnecting with the app's own
//!   backoff policy, resuming from its seqs), and reads the simulator's counters for the upstream connections.
//!
//! Everything is bounded: client counts, run times and every wait have limits, and a spawned relay is killed on
//! exit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tickdesk_wire::backoff::Backoff;
use tickdesk_wire::topics::Topic;
use tickdesk_wire::{ClientMsg, PROTOCOL_VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

mod capacity;

use tickdesk_load::frames::{self, Seen, Tracker};
use tickdesk_load::stats::{self, ClientStats, Summary};

/// Hard limits, whatever the flags say.
const MAX_CLIENTS: usize = 5000;
const MAX_SECONDS: f64 = 600.0;
/// Connections opened at once.
const CONNECT_PARALLELISM: usize = 64;

#[derive(Debug, Parser)]
#[command(
    name = "tickdesk-load",
    about = "Benchmark load tool for the tickdesk relay and its peers"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// The relay's protocol (PROTOCOL.md).
    Tickdesk,
    /// A peer's plain JSON broadcast (`{"type":"ticks",…}`).
    Plain,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Fan-out throughput and latency (optionally with stalled clients and the relay's memory).
    Fanout {
        #[arg(long, value_enum, default_value = "tickdesk")]
        mode: Mode,
        /// Websocket URL: the relay's `/ws`, or a peer's.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// Tickdesk mode: the underlying whose nearest expiry's chain the clients subscribe to.
        #[arg(long, default_value = "SIMX")]
        underlying: String,
        /// Tickdesk mode: these topics instead (comma-separated), client i subscribed to topic i mod their number
        /// (e.g. `signals` for a quiet topic). A client is ready once it has its topic's snapshot, even empty.
        #[arg(long, value_delimiter = ',')]
        topics: Vec<String>,
        /// Tickdesk mode: spread the clients over the chains of the underlying's first N expiries (client i on
        /// chain i mod N).
        #[arg(long)]
        chains: Option<usize>,
        /// Simulator process (CPU over the window, beside the server's).
        #[arg(long)]
        sim_pid: Option<u32>,
        #[arg(long, default_value_t = 3.0)]
        warmup_s: f64,
        #[arg(long, default_value_t = 10.0)]
        duration_s: f64,
        /// Fraction of the clients that stop reading after their first snapshot/frame (not measured).
        #[arg(long, default_value_t = 0.0)]
        stall_fraction: f64,
        /// Server process to sample VmRSS of (from /proc/PID/status).
        #[arg(long)]
        pid: Option<u32>,
        /// Seconds between memory samples during the window.
        #[arg(long, default_value_t = 5.0)]
        rss_every_s: f64,
        /// Give up waiting for every client to have state after this long (the run goes on with those that do).
        #[arg(long, default_value_t = 30.0)]
        ready_timeout_s: f64,
    },
    /// Capacity search: step the simulator's tick period down under N connected clients until p99 (or the
    /// delivered share) fails.
    Capacity {
        #[arg(long, value_enum, default_value = "tickdesk")]
        mode: Mode,
        /// Websocket URL: the relay's `/ws`, or a peer's.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 100)]
        clients: usize,
        #[arg(long, default_value = "SIMX")]
        underlying: String,
        /// The simulator's base URL (`http://host:port`).
        #[arg(long)]
        sim: String,
        /// The simulator's tick tap, read by one reference client for the offered rate.
        #[arg(long)]
        tap: String,
        /// Tick periods (ms) to step through, slowest first, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "200,100,50,25,10")]
        tick_ms: Vec<u64>,
        /// Warm-up after each change of the tick period.
        #[arg(long, default_value_t = 2.0)]
        warmup_s: f64,
        /// Measured window of each step.
        #[arg(long, default_value_t = 10.0)]
        window_s: f64,
        /// A step fails when p99 is above this.
        #[arg(long, default_value_t = 50.0)]
        limit_ms: f64,
        /// A step fails when the clients received less than this share of what was offered.
        #[arg(long, default_value_t = 0.9)]
        min_share: f64,
        /// Server process (CPU per step).
        #[arg(long)]
        pid: Option<u32>,
        /// Simulator process (CPU per step).
        #[arg(long)]
        sim_pid: Option<u32>,
        #[arg(long, default_value_t = 30.0)]
        ready_timeout_s: f64,
        /// Tick period to leave the simulator at afterwards.
        #[arg(long)]
        restore_tick_ms: Option<u64>,
        /// Times a failed step is measured again before the search stops (0..=3).
        #[arg(long, default_value_t = 1)]
        retries: usize,
    },
    /// Memory per idle connection: RSS before and after N clients connect and say hello.
    Idle {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        #[arg(long)]
        pid: u32,
    },
    /// Reconnect storm: kill and restart the relay under N connected clients.
    Storm {
        /// The relay command line (program and arguments, split on spaces); settings come from the environment.
        #[arg(long)]
        relay_cmd: String,
        /// The relay's address (host:port), as the command listens on it.
        #[arg(long)]
        relay_addr: String,
        /// Where the relay's log goes.
        #[arg(long, default_value = "/dev/null")]
        relay_log: String,
        /// The Schwab simulator's base URL (`http://host:port`), for its `/sim/state` counters.
        #[arg(long)]
        sim: String,
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        #[arg(long, default_value = "SIMX")]
        underlying: String,
        /// Give up waiting for clients after this long.
        #[arg(long, default_value_t = 30.0)]
        timeout_s: f64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let out = match cli.command {
        Cmd::Fanout {
            mode,
            url,
            clients,
            underlying,
            topics,
            chains,
            sim_pid,
            warmup_s,
            duration_s,
            stall_fraction,
            pid,
            rss_every_s,
            ready_timeout_s,
        } => {
            fanout(FanoutArgs {
                mode,
                url,
                clients: bounded_clients(clients)?,
                underlying,
                topics,
                chains: chains.map(|n| n.clamp(1, 1000)),
                sim_pid,
                warmup: secs(warmup_s)?,
                duration: secs(duration_s)?,
                stall_fraction: stall_fraction.clamp(0.0, 1.0),
                pid,
                rss_every: secs(rss_every_s.max(0.5))?,
                ready_timeout: secs(ready_timeout_s)?,
            })
            .await?
        }
        Cmd::Capacity {
            mode,
            url,
            clients,
            underlying,
            sim,
            tap,
            tick_ms,
            warmup_s,
            window_s,
            limit_ms,
            min_share,
            pid,
            sim_pid,
            ready_timeout_s,
            restore_tick_ms,
            retries,
        } => {
            if tick_ms.is_empty() || tick_ms.len() > 20 {
                bail!("--tick-ms takes 1..=20 steps");
            }
            let retries = retries.min(3);
            let steps = (tick_ms.len() + retries) as f64;
            if (warmup_s + window_s) * steps > MAX_SECONDS {
                bail!("steps × (warm-up + window) must stay within {MAX_SECONDS} s");
            }
            capacity::capacity(capacity::CapacityArgs {
                mode,
                url,
                clients: bounded_clients(clients)?,
                underlying,
                sim,
                tap,
                tick_ms,
                warmup: secs(warmup_s)?,
                window: secs(window_s.max(0.5))?,
                limit_ms,
                min_share: min_share.clamp(0.0, 1.0),
                pid,
                sim_pid,
                ready_timeout: secs(ready_timeout_s)?,
                restore_tick_ms,
                retries,
            })
            .await?
        }
        Cmd::Idle { url, clients, pid } => idle(&url, bounded_clients(clients)?, pid).await?,
        Cmd::Storm {
            relay_cmd,
            relay_addr,
            relay_log,
            sim,
            clients,
            underlying,
            timeout_s,
        } => {
            storm(StormArgs {
                relay_cmd,
                relay_addr,
                relay_log,
                sim,
                clients: bounded_clients(clients)?,
                underlying,
                timeout: secs(timeout_s)?,
            })
            .await?
        }
    };
    println!("{out}");
    Ok(())
}

fn bounded_clients(n: usize) -> anyhow::Result<usize> {
    if n == 0 || n > MAX_CLIENTS {
        bail!("--clients must be 1..={MAX_CLIENTS}");
    }
    Ok(n)
}

fn secs(s: f64) -> anyhow::Result<Duration> {
    if !(0.0..=MAX_SECONDS).contains(&s) {
        bail!("durations must be 0..={MAX_SECONDS} s");
    }
    Ok(Duration::from_secs_f64(s))
}

fn now_ms_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The process's resident memory in KiB (`VmRSS` in /proc/PID/status).
fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A plain HTTP/1.0 GET on loopback; returns the body (no TLS, no chunking: the relay's and simulator's JSON).
async fn http_get(base: &str, path: &str) -> anyhow::Result<String> {
    let hostport = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut s = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect(&hostport),
    )
    .await
    .context("connect timed out")??;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .context("read timed out")??;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("no HTTP body"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!("GET {path}: {}", head.lines().next().unwrap_or(""));
    }
    Ok(body.to_string())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The load clients' websocket read buffer: tungstenite's default is 128 KiB, allocated per connection and
/// zero-filled as it is read into, which was ~20% of the load tool's CPU at 1,000 clients (`perf`; the relay
/// asks for 8 KiB too). Larger frames still arrive whole; the buffer grows for them.
const READ_BUFFER_BYTES: usize = 8 * 1024;

async fn connect(url: &str) -> anyhow::Result<Ws> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES);
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async_with_config(url, Some(config), true),
    )
    .await
    .context("websocket connect timed out")??;
    Ok(ws)
}

async fn send(ws: &mut Ws, m: &ClientMsg) -> anyhow::Result<()> {
    ws.send(Message::Text(serde_json::to_string(m)?.into()))
        .await?;
    Ok(())
}

/// Finds the nearest expiry of `underlying` on the relay: `chain:{underlying}:{date}`.
async fn discover_chain(url: &str, underlying: &str, timeout: Duration) -> anyhow::Result<String> {
    let topic = Topic::Expirations(underlying.to_string()).to_string();
    let mut ws = connect(url).await?;
    send(
        &mut ws,
        &ClientMsg::Hello {
            v: PROTOCOL_VERSION,
            resume: BTreeMap::new(),
        },
    )
    .await?;
    send(
        &mut ws,
        &ClientMsg::Subscribe {
            topics: vec![topic.clone()],
            max_rate: None,
        },
    )
    .await?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .with_context(|| format!("no {topic} within {timeout:?}"))?
            .ok_or_else(|| anyhow!("relay closed"))??;
        if let Message::Text(t) = m {
            if let Some(d) = frames::expiration_dates(t.as_str(), &topic).first() {
                let _ = ws.close(None).await;
                return Ok(Topic::chain(underlying, d).to_string());
            }
        }
    }
}

/// The chains of `underlying`'s first `n` expiries on the relay (fewer if it lists fewer within `timeout`).
async fn discover_chains(
    url: &str,
    underlying: &str,
    n: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<String>> {
    let topic = Topic::Expirations(underlying.to_string()).to_string();
    let mut ws = connect(url).await?;
    let hello = ClientMsg::Hello {
        v: PROTOCOL_VERSION,
        resume: BTreeMap::new(),
    };
    let sub = ClientMsg::Subscribe {
        topics: vec![topic.clone()],
        max_rate: None,
    };
    send(&mut ws, &hello).await?;
    send(&mut ws, &sub).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut dates = std::collections::BTreeSet::new();
    while dates.len() < n {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                dates.extend(frames::expiration_dates(t.as_str(), &topic));
            }
            Ok(Some(Ok(_))) => {}
            Ok(_) => bail!("relay closed"),
            Err(_) => break,
        }
    }
    let _ = ws.close(None).await;
    if dates.is_empty() {
        bail!("no {topic} within {timeout:?}");
    }
    Ok(dates
        .into_iter()
        .take(n)
        .map(|d| Topic::chain(underlying, d).to_string())
        .collect())
}

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;

/// Shared by the load clients of a run.
struct Run {
    phase: AtomicU8,
    /// Clients that have their first state (tickdesk: a snapshot with items; plain: a ticks frame).
    ready: AtomicUsize,
    done: watch::Receiver<bool>,
}

struct FanoutArgs {
    mode: Mode,
    url: String,
    clients: usize,
    underlying: String,
    topics: Vec<String>,
    chains: Option<usize>,
    sim_pid: Option<u32>,
    warmup: Duration,
    duration: Duration,
    stall_fraction: f64,
    pid: Option<u32>,
    rss_every: Duration,
    ready_timeout: Duration,
}

fn record(stats: &mut ClientStats, seen: &Seen, now_ms: f64) {
    for (ts, n) in &seen.updates {
        stats.updates += n;
        if let Some(ts) = ts {
            let us = ((now_ms - ts) * 1000.0).max(0.0) as u64;
            stats.latency.record_n(us, *n);
        }
    }
    stats.gaps += seen.gaps;
}

/// One fan-out client: subscribes, then reads until the run is done (or, stalled, stops reading after its
/// first state and just holds the socket).
async fn fanout_client(
    mode: Mode,
    url: String,
    topic: Option<String>,
    // Ready at the topic's snapshot, even an empty one (a quiet topic), rather than at the first items.
    ready_at_snapshot: bool,
    stall: bool,
    run: Arc<Run>,
    gate: Arc<Semaphore>,
) -> ClientStats {
    let mut stats = ClientStats::default();
    let mut done = run.done.clone();
    let ws = {
        let _permit = gate.acquire().await;
        connect(&url).await
    };
    let Ok(mut ws) = ws else {
        stats.disconnected = true;
        return stats;
    };
    if mode == Mode::Tickdesk {
        let hello = ClientMsg::Hello {
            v: PROTOCOL_VERSION,
            resume: BTreeMap::new(),
        };
        let sub = ClientMsg::Subscribe {
            topics: topic.clone().into_iter().collect(),
            max_rate: None,
        };
        if send(&mut ws, &hello).await.is_err() || send(&mut ws, &sub).await.is_err() {
            stats.disconnected = true;
            return stats;
        }
    }
    let mut tracker = Tracker::default();
    let mut ready = false;
    loop {
        let msg = tokio::select! {
            m = ws.next() => m,
            _ = done.wait_for(|d| *d) => break,
        };
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                stats.disconnected = true;
                break;
            }
            Some(Ok(_)) => continue,
        };
        let now = now_ms_f64();
        let seen = match mode {
            Mode::Tickdesk => tracker.on_frame(text.as_str()),
            Mode::Plain => frames::plain_frame(text.as_str()),
        };
        let Ok(seen) = seen else { continue };
        if !ready {
            let has_state = match mode {
                Mode::Tickdesk if ready_at_snapshot => topic
                    .as_ref()
                    .is_some_and(|t| tracker.topics.contains_key(t)),
                Mode::Tickdesk => tracker.topics.values().any(|t| t.items > 0),
                Mode::Plain => seen.update_count() > 0,
            };
            if has_state {
                ready = true;
                run.ready.fetch_add(1, Relaxed);
                if stall {
                    // Stop reading: the socket stays open, the server's writes pile up wherever it lets them.
                    let _ = done.wait_for(|d| *d).await;
                    return stats;
                }
            }
        }
        if run.phase.load(Relaxed) == MEASURE {
            stats.frames += 1;
            stats.bytes += text.len() as u64;
            record(&mut stats, &seen, now);
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(200), ws.close(None)).await;
    stats
}

async fn fanout(a: FanoutArgs) -> anyhow::Result<String> {
    let topics: Vec<String> = match a.mode {
        Mode::Tickdesk if !a.topics.is_empty() => a.topics.clone(),
        Mode::Tickdesk => match a.chains {
            Some(n) => discover_chains(&a.url, &a.underlying, n, Duration::from_secs(30)).await?,
            None => vec![discover_chain(&a.url, &a.underlying, Duration::from_secs(20)).await?],
        },
        Mode::Plain => Vec::new(),
    };
    let ready_at_snapshot = !a.topics.is_empty();
    let topic = (topics.len() == 1).then(|| topics[0].clone());
    let stalled = ((a.clients as f64) * a.stall_fraction).round() as usize;
    eprintln!(
        "fanout: {:?} {} clients ({stalled} stalled) on {}{}",
        a.mode,
        a.clients,
        a.url,
        topic
            .as_deref()
            .map(|t| format!(" topic {t}"))
            .unwrap_or_default()
    );
    let (done_tx, done_rx) = watch::channel(false);
    let run = Arc::new(Run {
        phase: AtomicU8::new(WARMUP),
        ready: AtomicUsize::new(0),
        done: done_rx,
    });
    let gate = Arc::new(Semaphore::new(CONNECT_PARALLELISM));
    let t_connect = Instant::now();
    let mut tasks = Vec::with_capacity(a.clients);
    for i in 0..a.clients {
        tasks.push(tokio::spawn(fanout_client(
            a.mode,
            a.url.clone(),
            (!topics.is_empty()).then(|| topics[i % topics.len()].clone()),
            ready_at_snapshot,
            i < stalled,
            run.clone(),
            gate.clone(),
        )));
    }
    let ready_deadline = Instant::now() + a.ready_timeout;
    while run.ready.load(Relaxed) < a.clients && Instant::now() < ready_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready = run.ready.load(Relaxed);
    let connect_s = t_connect.elapsed().as_secs_f64();
    eprintln!(
        "fanout: {ready}/{} clients have state after {connect_s:.1} s",
        a.clients
    );
    let rss_start = a.pid.and_then(rss_kb);
    tokio::time::sleep(a.warmup).await;
    let rss_after_warmup = a.pid.and_then(rss_kb);
    run.phase.store(MEASURE, Relaxed);
    let cpu0 = capacity::CpuMark::now(a.pid, a.sim_pid);
    let t0 = Instant::now();
    let mut rss_samples: Vec<(f64, u64)> = Vec::new();
    while t0.elapsed() < a.duration {
        let left = a.duration.saturating_sub(t0.elapsed());
        tokio::time::sleep(left.min(a.rss_every)).await;
        if let Some(kb) = a.pid.and_then(rss_kb) {
            rss_samples.push((t0.elapsed().as_secs_f64(), kb));
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    let cpu = cpu0.cores(&capacity::CpuMark::now(a.pid, a.sim_pid));
    let _ = done_tx.send(true);
    let mut measured = Vec::new();
    // One grace period for all the clients together (not per client): one stuck in a connect is dropped.
    let grace = tokio::time::Instant::now() + Duration::from_secs(5);
    for (i, mut t) in tasks.into_iter().enumerate() {
        let s = match tokio::time::timeout_at(grace, &mut t).await {
            Ok(r) => r.unwrap_or_default(),
            Err(_) => {
                t.abort();
                ClientStats {
                    disconnected: true,
                    ..ClientStats::default()
                }
            }
        };
        if i >= stalled {
            measured.push(s);
        }
    }
    let summary = Summary::of(a.clients, &measured, seconds);
    eprintln!(
        "fanout: {:.0} updates/s, {:.1} MB/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, gaps {}, disconnects {}",
        summary.updates_per_s,
        summary.bytes_per_s / 1e6,
        summary.p50_ms,
        summary.p99_ms,
        summary.max_ms,
        summary.gaps,
        summary.disconnects
    );
    let mut v = serde_json::to_value(&summary)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("mode".into(), json!(format!("{:?}", a.mode).to_lowercase()));
        o.insert("topic".into(), json!(topic));
        o.insert("topics".into(), json!(topics.len()));
        o.insert("cpu".into(), cpu);
        o.insert("stalled".into(), json!(stalled));
        o.insert("ready".into(), json!(ready));
        o.insert("connect_s".into(), json!(connect_s));
        o.insert("warmup_s".into(), json!(a.warmup.as_secs_f64()));
        o.insert("rss_start_kb".into(), json!(rss_start));
        o.insert("rss_after_warmup_kb".into(), json!(rss_after_warmup));
        o.insert("rss_samples".into(), json!(rss_samples));
        o.insert(
            "rss_end_kb".into(),
            json!(rss_samples.last().map(|(_, kb)| *kb)),
        );
    }
    Ok(v.to_string())
}

/// Memory per idle connection: N clients connect and say hello (no subscriptions), then sit.
async fn idle(url: &str, clients: usize, pid: u32) -> anyhow::Result<String> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kb(pid).ok_or_else(|| anyhow!("no process {pid}"))?;
    let gate = Arc::new(Semaphore::new(CONNECT_PARALLELISM));
    let (done_tx, done_rx) = watch::channel(false);
    let welcomed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (url, gate, welcomed, mut done) = (
            url.to_string(),
            gate.clone(),
            welcomed.clone(),
            done_rx.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let ws = {
                let _p = gate.acquire().await;
                connect(&url).await
            };
            let Ok(mut ws) = ws else { return };
            let hello = ClientMsg::Hello {
                v: PROTOCOL_VERSION,
                resume: BTreeMap::new(),
            };
            if send(&mut ws, &hello).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    m = ws.next() => match m {
                        Some(Ok(Message::Text(t))) if t.as_str().contains("\"welcome\"") => {
                            welcomed.fetch_add(1, Relaxed);
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                    _ = done.wait_for(|d| *d) => break,
                }
            }
            let _ = ws.close(None).await;
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while welcomed.load(Relaxed) < clients && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kb(pid).ok_or_else(|| anyhow!("process {pid} went away"))?;
    let n = welcomed.load(Relaxed);
    let _ = done_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let per = if n > 0 {
        (after.saturating_sub(before)) as f64 / n as f64
    } else {
        0.0
    };
    eprintln!("idle: {n} connections, RSS {before} → {after} KiB, {per:.1} KiB each");
    Ok(
        json!({"clients": clients, "connected": n, "rss_before_kb": before, "rss_after_kb": after,
              "per_connection_kb": per})
        .to_string(),
    )
}

struct StormArgs {
    relay_cmd: String,
    relay_addr: String,
    relay_log: String,
    sim: String,
    clients: usize,
    underlying: String,
    timeout: Duration,
}

/// A relay process started by the tool; killed when dropped.
struct RelayProc {
    child: tokio::process::Child,
}

impl RelayProc {
    fn spawn(cmd: &str, log: &str) -> anyhow::Result<RelayProc> {
        let mut parts = cmd.split_whitespace();
        let prog = parts.next().ok_or_else(|| anyhow!("empty --relay-cmd"))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let child = tokio::process::Command::new(prog)
            .args(parts)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {prog}"))?;
        Ok(RelayProc { child })
    }
}

async fn wait_healthy(addr: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if http_get(&format!("http://{addr}"), "/healthz")
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bail!("relay at {addr} not healthy within {within:?}")
}

/// The simulator's counters that matter here: (connections_total, logins, connections_open).
async fn sim_counters(sim: &str) -> anyhow::Result<(u64, u64, u64)> {
    let v: serde_json::Value = serde_json::from_str(&http_get(sim, "/sim/state").await?)?;
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    Ok((n("connections_total"), n("logins"), n("connections_open")))
}

/// A storm client: keeps one connection, reconnecting with the app's backoff and resuming from its seqs; reports
/// (client, generation) each time it holds the full chain (`expected` items) in a new epoch.
async fn storm_client(
    id: usize,
    url: String,
    topic: String,
    expected: Arc<AtomicUsize>,
    live_tx: mpsc::UnboundedSender<(usize, Instant)>,
    mut done: watch::Receiver<bool>,
    gate: Arc<Semaphore>,
) {
    let mut tracker = Tracker::default();
    let mut backoff = Backoff::default();
    let mut reported_epoch = String::new();
    loop {
        if *done.borrow() {
            return;
        }
        let ws = {
            let _p = gate.acquire().await;
            connect(&url).await
        };
        if let Ok(mut ws) = ws {
            let hello = ClientMsg::Hello {
                v: PROTOCOL_VERSION,
                resume: tracker.resume_points(),
            };
            let sub = ClientMsg::Subscribe {
                topics: vec![topic.clone()],
                max_rate: None,
            };
            if send(&mut ws, &hello).await.is_ok() && send(&mut ws, &sub).await.is_ok() {
                loop {
                    let m = tokio::select! {
                        m = ws.next() => Some(m),
                        _ = done.wait_for(|d| *d) => None,
                    };
                    let Some(m) = m else {
                        let _ =
                            tokio::time::timeout(Duration::from_millis(200), ws.close(None)).await;
                        return;
                    };
                    match m {
                        Some(Ok(Message::Text(t))) => {
                            if tracker.on_frame(t.as_str()).is_err() {
                                continue;
                            }
                            if let Some(st) = tracker.topics.get(&topic) {
                                let want = expected.load(Relaxed);
                                if want > 0 && st.items >= want && st.epoch != reported_epoch {
                                    reported_epoch = st.epoch.clone();
                                    backoff.reset();
                                    let _ = live_tx.send((id, Instant::now()));
                                }
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    }
                }
            }
        }
        let delay = backoff.next_delay_ms(rand::random::<f64>());
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(delay / 1000.0)) => {}
            _ = done.wait_for(|d| *d) => return,
        }
    }
}

async fn storm(a: StormArgs) -> anyhow::Result<String> {
    let url = format!("ws://{}/ws", a.relay_addr);
    let mut relay = RelayProc::spawn(&a.relay_cmd, &a.relay_log)?;
    wait_healthy(&a.relay_addr, Duration::from_secs(20)).await?;
    let topic = discover_chain(&url, &a.underlying, Duration::from_secs(20)).await?;
    // The full chain: what a client holds once the relay has the REST picture.
    let expected = Arc::new(AtomicUsize::new(0));
    let full = chain_size(&a.relay_addr, &topic, Duration::from_secs(20)).await?;
    expected.store(full, Relaxed);
    eprintln!("storm: {} clients on {topic} ({full} contracts)", a.clients);
    let (live_tx, mut live_rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(CONNECT_PARALLELISM));
    let mut tasks = Vec::new();
    for i in 0..a.clients {
        tasks.push(tokio::spawn(storm_client(
            i,
            url.clone(),
            topic.clone(),
            expected.clone(),
            live_tx.clone(),
            done_rx.clone(),
            gate.clone(),
        )));
    }
    let t_start = Instant::now();
    let mut live = vec![false; a.clients];
    let mut n_live = 0;
    while n_live < a.clients {
        match tokio::time::timeout_at((t_start + a.timeout).into(), live_rx.recv()).await {
            Ok(Some((i, _))) if !live[i] => {
                live[i] = true;
                n_live += 1;
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    let initial_s = t_start.elapsed().as_secs_f64();
    eprintln!(
        "storm: {n_live}/{} clients live in {initial_s:.1} s",
        a.clients
    );
    if n_live < a.clients {
        let _ = done_tx.send(true);
        bail!(
            "only {n_live} of {} clients got the full chain before the restart",
            a.clients
        );
    }
    // Let the upstream's state settle, then crash the relay and start it again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (conn0, logins0, _) = sim_counters(&a.sim).await?;
    let pid = relay.child.id();
    let t_kill = Instant::now();
    relay.child.start_kill()?;
    let _ = relay.child.wait().await;
    let t_dead = t_kill.elapsed();
    // Sample the simulator's open connections during the storm.
    let (stop_sampling, mut stop_rx) = watch::channel(false);
    let sim = a.sim.clone();
    let sampler = tokio::spawn(async move {
        let mut max_open = 0u64;
        loop {
            if let Ok((_, _, open)) = sim_counters(&sim).await {
                max_open = max_open.max(open);
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = stop_rx.wait_for(|s| *s) => return max_open,
            }
        }
    });
    relay = RelayProc::spawn(&a.relay_cmd, &a.relay_log)?;
    wait_healthy(&a.relay_addr, Duration::from_secs(20)).await?;
    let t_listening = t_kill.elapsed();
    let mut back: Vec<f64> = Vec::with_capacity(a.clients);
    let mut is_back = vec![false; a.clients];
    while back.len() < a.clients {
        match tokio::time::timeout_at((t_kill + a.timeout).into(), live_rx.recv()).await {
            Ok(Some((i, at))) if at > t_kill && !is_back[i] => {
                is_back[i] = true;
                back.push(at.duration_since(t_kill).as_secs_f64() * 1000.0);
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    let all_back_ms = if back.len() == a.clients {
        back.iter().copied().fold(0.0, f64::max)
    } else {
        f64::NAN
    };
    // Anything the restarted relay still does to its upstream in the next moment counts too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_sampling.send(true);
    let max_open = sampler.await.unwrap_or(0);
    let (conn1, logins1, open1) = sim_counters(&a.sim).await?;
    let _ = done_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    drop(relay);
    eprintln!(
        "storm: killed pid {pid:?}; listening again after {:.0} ms; {}/{} clients back with full state, all by {all_back_ms:.0} ms; upstream connections opened {}, logins {}, max open {max_open}",
        t_listening.as_secs_f64() * 1000.0,
        back.len(),
        a.clients,
        conn1 - conn0,
        logins1 - logins0
    );
    Ok(json!({
        "clients": a.clients,
        "topic": topic,
        "contracts": full,
        "initial_connect_s": initial_s,
        "kill_to_exit_ms": t_dead.as_secs_f64() * 1000.0,
        "kill_to_listening_ms": t_listening.as_secs_f64() * 1000.0,
        "clients_back": back.len(),
        "all_back_ms": if all_back_ms.is_nan() { serde_json::Value::Null } else { json!(all_back_ms) },
        "p50_back_ms": stats::percentile(&back, 0.5),
        "p99_back_ms": stats::percentile(&back, 0.99),
        "upstream_connections_opened": conn1 - conn0,
        "upstream_logins": logins1 - logins0,
        "upstream_max_open": max_open,
        "upstream_open_after": open1,
    })
    .to_string())
}

/// The number of contracts in `topic` once the relay holds its REST picture (polls `/api/topic/…`).
async fn chain_size(addr: &str, topic: &str, within: Duration) -> anyhow::Result<usize> {
    let deadline = Instant::now() + within;
    let path = format!("/api/topic/{}", topic.replace('$', "%24"));
    let mut last = 0;
    while Instant::now() < deadline {
        if let Ok(body) = http_get(&format!("http://{addr}"), &path).await {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) {
                let n = v["items"].as_object().map_or(0, |o| o.len());
                // Stable across two polls: the picture is in.
                if n > 0 && n == last {
                    return Ok(n);
                }
                last = n;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    bail!("{topic} has no contracts on the relay within {within:?}")
}
