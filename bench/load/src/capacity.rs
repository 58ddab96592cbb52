//! `capacity`: a capacity search for one server at one client count. N clients connect once and stay; the
//! simulator's tick period is then stepped down (`POST /sim/tick-ms`), so the offered load steps up, and each step
//! gets a short warm-up and a measured window. A step passes when every client is connected and has state, p99
//! latency is within the limit, and the clients together received at least `--min-share` of what was offered; the
//! search stops at the first step that fails. The offered rate is measured, not assumed: one extra reference
//! client reads the simulator's tick tap (what every peer forwards) during every window. The machine is shared, so
//! a failed step can be measured again (`--retries`) before the search stops; every attempt is reported.
//!
//! Next to each step: the CPU used by the load tool itself (`/proc/self/stat`), by the server and the simulator
//! (`/proc/PID/stat`), and by the whole machine (`/proc/stat`), so a step where the load tool (or the machine) is
//! saturated can be told apart from one where the server is.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use futures_util::StreamExt;
use serde_json::json;
use tickdesk_wire::{ClientMsg, PROTOCOL_VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use tickdesk_load::frames::{self, Tracker};
use tickdesk_load::stats::{ClientStats, Summary};

use crate::{connect, discover_chain, now_ms_f64, record, send, Mode, CONNECT_PARALLELISM};

pub(crate) struct CapacityArgs {
    pub(crate) mode: Mode,
    pub(crate) url: String,
    pub(crate) clients: usize,
    pub(crate) underlying: String,
    /// The simulator's base URL (`http://host:port`): its `/sim/tick-ms` and `/sim/ticks` tap.
    pub(crate) sim: String,
    /// The tap the reference client reads (the offered rate per client).
    pub(crate) tap: String,
    /// Tick periods to step through, slowest first.
    pub(crate) tick_ms: Vec<u64>,
    pub(crate) warmup: Duration,
    pub(crate) window: Duration,
    pub(crate) limit_ms: f64,
    pub(crate) min_share: f64,
    pub(crate) pid: Option<u32>,
    pub(crate) sim_pid: Option<u32>,
    pub(crate) ready_timeout: Duration,
    /// Tick period to leave the simulator at afterwards.
    pub(crate) restore_tick_ms: Option<u64>,
    /// Times a failed step is measured again before the search stops.
    pub(crate) retries: usize,
}

/// Shared by the clients of a capacity run.
struct Shared {
    measuring: AtomicBool,
    ready: AtomicUsize,
    disconnects: AtomicUsize,
    done: watch::Receiver<bool>,
}

type Slot = Arc<Mutex<ClientStats>>;

fn lock(s: &Slot) -> std::sync::MutexGuard<'_, ClientStats> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// CPU time (user + system) of a process in seconds, from `/proc/PID/stat` (`self` for this one).
fn cpu_s(pid: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// The whole machine's (busy, total) jiffies from `/proc/stat`'s `cpu` line (idle and iowait are not busy).
fn machine_jiffies() -> Option<(f64, f64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 5 {
        return None;
    }
    let total: f64 = v.iter().sum();
    Some((total - v[3] - v[4], total))
}

pub(crate) struct CpuMark {
    at: Instant,
    me: Option<f64>,
    server: Option<f64>,
    sim: Option<f64>,
    machine: Option<(f64, f64)>,
}

impl CpuMark {
    pub(crate) fn now(server: Option<u32>, sim: Option<u32>) -> CpuMark {
        CpuMark {
            at: Instant::now(),
            me: cpu_s("self"),
            server: server.and_then(|p| cpu_s(&p.to_string())),
            sim: sim.and_then(|p| cpu_s(&p.to_string())),
            machine: machine_jiffies(),
        }
    }

    /// Cores used between `self` and `later` (1.0 = one core busy all the time): tool, server, simulator,
    /// and the whole machine.
    pub(crate) fn cores(&self, later: &CpuMark) -> serde_json::Value {
        let secs = later.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let d = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some((b - a) / secs),
            _ => None,
        };
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let machine = match (self.machine, later.machine) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => Some(ncpu * (b1 - b0) / (t1 - t0)),
            _ => None,
        };
        json!({
            "load_tool_cores": d(self.me, later.me),
            "server_cores": d(self.server, later.server),
            "sim_cores": d(self.sim, later.sim),
            "machine_cores": machine,
            "machine_cpus": ncpu,
        })
    }
}

/// A plain HTTP/1.0 POST with an empty body on loopback.
async fn http_post(base: &str, path: &str) -> anyhow::Result<()> {
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
    s.write_all(
        format!("POST {path} HTTP/1.0\r\nHost: {hostport}\r\nContent-Length: 0\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .context("read timed out")??;
    let text = String::from_utf8_lossy(&buf);
    if !text.starts_with("HTTP/1.1 200") && !text.starts_with("HTTP/1.0 200") {
        bail!("POST {path}: {}", text.lines().next().unwrap_or(""));
    }
    Ok(())
}

async fn set_tick(sim: &str, ms: u64) -> anyhow::Result<()> {
    http_post(sim, &format!("/sim/tick-ms?ms={ms}")).await
}

/// One client: subscribes (tickdesk mode), then reads until the run is done, adding to its slot while the run
/// is measuring.
async fn client(
    mode: Mode,
    url: String,
    topic: Option<String>,
    slot: Slot,
    run: Arc<Shared>,
    gate: Arc<Semaphore>,
    counts_ready: bool,
) {
    let mut done = run.done.clone();
    let ws = {
        let _permit = gate.acquire().await;
        connect(&url).await
    };
    let Ok(mut ws) = ws else {
        run.disconnects.fetch_add(1, Relaxed);
        return;
    };
    if mode == Mode::Tickdesk {
        let hello = ClientMsg::Hello {
            v: PROTOCOL_VERSION,
            resume: BTreeMap::new(),
        };
        let sub = ClientMsg::Subscribe {
            topics: topic.into_iter().collect(),
            max_rate: None,
        };
        if send(&mut ws, &hello).await.is_err() || send(&mut ws, &sub).await.is_err() {
            run.disconnects.fetch_add(1, Relaxed);
            return;
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
                run.disconnects.fetch_add(1, Relaxed);
                return;
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
                Mode::Tickdesk => tracker.topics.values().any(|t| t.items > 0),
                Mode::Plain => seen.update_count() > 0,
            };
            if has_state {
                ready = true;
                if counts_ready {
                    run.ready.fetch_add(1, Relaxed);
                }
            }
        }
        if run.measuring.load(Relaxed) {
            let mut s = lock(&slot);
            s.frames += 1;
            s.bytes += text.len() as u64;
            record(&mut s, &seen, now);
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(200), ws.close(None)).await;
}

fn take_all(slots: &[Slot]) -> Vec<ClientStats> {
    slots
        .iter()
        .map(|s| std::mem::take(&mut *lock(s)))
        .collect()
}

pub(crate) async fn capacity(a: CapacityArgs) -> anyhow::Result<String> {
    let first = *a
        .tick_ms
        .first()
        .ok_or_else(|| anyhow!("no --tick-ms steps"))?;
    set_tick(&a.sim, first).await?;
    let topic = match a.mode {
        Mode::Tickdesk => {
            Some(discover_chain(&a.url, &a.underlying, Duration::from_secs(20)).await?)
        }
        Mode::Plain => None,
    };
    eprintln!(
        "capacity: {:?} {} clients on {}, tick steps {:?} ms, p99 limit {} ms",
        a.mode, a.clients, a.url, a.tick_ms, a.limit_ms
    );
    let (done_tx, done_rx) = watch::channel(false);
    let run = Arc::new(Shared {
        measuring: AtomicBool::new(false),
        ready: AtomicUsize::new(0),
        disconnects: AtomicUsize::new(0),
        done: done_rx,
    });
    let gate = Arc::new(Semaphore::new(CONNECT_PARALLELISM));
    let t_connect = Instant::now();
    let slots: Vec<Slot> = (0..a.clients).map(|_| Slot::default()).collect();
    let mut tasks = Vec::with_capacity(a.clients + 1);
    for slot in &slots {
        tasks.push(tokio::spawn(client(
            a.mode,
            a.url.clone(),
            topic.clone(),
            slot.clone(),
            run.clone(),
            gate.clone(),
            true,
        )));
    }
    let ready_deadline = Instant::now() + a.ready_timeout;
    while run.ready.load(Relaxed) < a.clients && Instant::now() < ready_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_s = t_connect.elapsed().as_secs_f64();
    eprintln!(
        "capacity: {}/{} clients have state after {connect_s:.1} s",
        run.ready.load(Relaxed),
        a.clients
    );
    // The reference client: what one client is offered (the simulator's tap, as every peer reads it).
    let reference = Slot::default();
    tasks.push(tokio::spawn(client(
        Mode::Plain,
        a.tap.clone(),
        None,
        reference.clone(),
        run.clone(),
        Arc::new(Semaphore::new(1)),
        false,
    )));

    let mut steps = Vec::new();
    let mut capacity = serde_json::Value::Null;
    let mut broke = serde_json::Value::Null;
    let (mut i, mut attempt) = (0, 0);
    while let Some(&ms) = a.tick_ms.get(i) {
        if i > 0 && attempt == 0 {
            set_tick(&a.sim, ms).await?;
        }
        tokio::time::sleep(a.warmup).await;
        take_all(&slots);
        take_all(std::slice::from_ref(&reference));
        let before = CpuMark::now(a.pid, a.sim_pid);
        run.measuring.store(true, Relaxed);
        tokio::time::sleep(a.window).await;
        run.measuring.store(false, Relaxed);
        let after = CpuMark::now(a.pid, a.sim_pid);
        let seconds = after.at.duration_since(before.at).as_secs_f64();
        let measured = take_all(&slots);
        let offered_one = Summary::of(1, &take_all(std::slice::from_ref(&reference)), seconds);
        let s = Summary::of(a.clients, &measured, seconds);
        let offered = offered_one.updates_per_s * a.clients as f64;
        let share = if offered > 0.0 {
            s.updates_per_s / offered
        } else {
            0.0
        };
        let ready = run.ready.load(Relaxed);
        let disconnects = run.disconnects.load(Relaxed);
        let mut why = Vec::new();
        if ready < a.clients || disconnects > 0 {
            why.push(format!(
                "{ready}/{} clients with state, {disconnects} disconnects",
                a.clients
            ));
        }
        if s.updates == 0 || s.p99_ms > a.limit_ms {
            why.push(format!("p99 {:.1} ms > {} ms", s.p99_ms, a.limit_ms));
        }
        if share < a.min_share {
            why.push(format!(
                "delivered {:.0}% of offered < {:.0}%",
                100.0 * share,
                100.0 * a.min_share
            ));
        }
        let ok = why.is_empty();
        let cpu = before.cores(&after);
        eprintln!(
            "capacity: tick {ms} ms: offered {offered:.0}/s, delivered {:.0}/s ({:.0}%), p50 {:.1} ms, p99 {:.1} ms; cores: tool {}, server {}, sim {}, machine {} → {}",
            s.updates_per_s,
            100.0 * share,
            s.p50_ms,
            s.p99_ms,
            cpu["load_tool_cores"],
            cpu["server_cores"],
            cpu["sim_cores"],
            cpu["machine_cores"],
            if ok { "ok".to_string() } else { why.join("; ") }
        );
        let step = json!({
            "tick_ms": ms,
            "seconds": seconds,
            "offered_per_client": offered_one.updates_per_s,
            "offered_frames_per_client": offered_one.frames_per_s,
            "offered": offered,
            "delivered": s.updates_per_s,
            "share": share,
            "frames_per_s": s.frames_per_s,
            "bytes_per_s": s.bytes_per_s,
            "p50_ms": s.p50_ms,
            "p99_ms": s.p99_ms,
            "max_ms": s.max_ms,
            "gaps": s.gaps,
            "ready": ready,
            "disconnects": disconnects,
            "cpu": cpu,
            "ok": ok,
            "why": why.join("; "),
            "attempt": attempt + 1,
        });
        steps.push(step.clone());
        if ok {
            capacity = step;
            (i, attempt) = (i + 1, 0);
        } else if attempt < a.retries {
            // The machine is shared: a failed step is measured once more before the search stops.
            attempt += 1;
            eprintln!("capacity: tick {ms} ms failed; measuring it again");
        } else {
            broke = step;
            break;
        }
    }
    let _ = done_tx.send(true);
    // Clients still stuck in a connect (a server that stopped accepting) are dropped after a short grace.
    let grace = tokio::time::Instant::now() + Duration::from_secs(3);
    for mut t in tasks {
        if tokio::time::timeout_at(grace, &mut t).await.is_err() {
            t.abort();
        }
    }
    if let Some(ms) = a.restore_tick_ms {
        set_tick(&a.sim, ms).await?;
    }
    Ok(json!({
        "mode": format!("{:?}", a.mode).to_lowercase(),
        "clients": a.clients,
        "topic": topic,
        "connect_s": connect_s,
        "limit_ms": a.limit_ms,
        "min_share": a.min_share,
        "warmup_s": a.warmup.as_secs_f64(),
        "window_s": a.window.as_secs_f64(),
        "tick_steps": a.tick_ms,
        "retries": a.retries,
        "steps": steps,
        "capacity": capacity,
        "broke": broke,
    })
    .to_string())
}
