//! Wiring: the HTTP surface (the websocket hub at `/ws`, REST views, health, metrics, the app's static files) and
//! the tasks that run beside it. The parts themselves live in their own modules; this one only puts them together.
//!
//! [`run`] takes a bound listener and a shutdown future, so tests bind port 0 and stop the relay when they like.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Duration;
use tickdesk_wire::topics;

use axum::extract::{DefaultBodyLimit, Path, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::services::{ServeDir, ServeFile};
use tracing::{info, warn};

use crate::access;
use crate::api;
use crate::config::ServeConfig;
use crate::session;
use crate::state::history_limits;
pub use crate::state::AppState;
use crate::stream;
use tickdesk_hub::memory::{self, MemoryBroker, TOPIC_CHANNEL_LEN};
use tickdesk_hub::metrics::Metrics;
use tickdesk_hub::source::{Running, Source, Sources};
use tickdesk_market::Clock;
use tickdesk_rates as rates;
use tickdesk_schwab as schwab;

/// Serves until `shutdown` resolves, then closes every websocket with a close frame and returns.
///
/// `clock` is the market clock every source reads for market decisions (today, the session, DTE, the day roll):
/// [`market_clock`] gives the one the settings ask for; tests pass one set to the moment they need.
///
/// # Errors
/// Only if the listener fails.
pub async fn run(
    listener: TcpListener,
    mut cfg: ServeConfig,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    cfg.access_token = access::settle(cfg.access_token.take(), addr)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let memory = Arc::new(MemoryBroker::with_limits(
        history_limits(&cfg.limits),
        TOPIC_CHANNEL_LEN,
    ));
    let state = Arc::new(AppState::with_broker(
        &cfg,
        clock.clone(),
        stop_rx.clone(),
        memory.clone(),
    ));
    let store = state.broker().clone();
    // Known topics exist before the first connection, so an early subscriber gets a (possibly empty) snapshot
    // and then every change, rather than an unknown-topic error.
    for topic in [
        topics::CURVE,
        topics::SPREADS,
        topics::POSITIONS,
        topics::PNL,
        topics::SIGNALS,
        topics::TRADES,
    ] {
        store.ensure_topic(topic);
    }
    let sweep_task = tokio::spawn(memory::sweep_history(memory, stop_rx.clone()));
    let sources = Sources {
        publisher: store.clone(),
        demand: state.demand().clone(),
        clock: clock.clone(),
        shutdown: stop_rx.clone(),
    };
    let mut sim_cfg = rates::SimConfig::new(cfg.rates.tick_ms, cfg.seed);
    sim_cfg.trade_history = cfg.event_history.max(1);
    let mut running: Vec<Running> = Vec::new();
    running.extend(rates::RatesDesk(sim_cfg).start(&sources));
    running.extend(
        tickdesk_analytics::Derived {
            cfg: cfg.analytics.clone(),
            event_history: cfg.event_history,
        }
        .start(&sources),
    );
    running.extend(
        tickdesk_binance::Binance {
            cfg: cfg.binance.clone(),
            seed: cfg.seed,
            simulator: Box::new(start_binance_simulator),
        }
        .start(&sources),
    );
    if cfg.no_schwab {
        info!("Schwab options are off (--no-schwab)");
    } else {
        running.push(start_schwab(&cfg, &sources).await?);
    }
    info!(%addr, "tickdesk relay listening on http://{addr}/");
    let app = router(state, &cfg);
    // The peer's address, for slowing down failed access-token attempts per client.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        info!("shutting down: closing client connections");
        let _ = stop_tx.send(true);
    })
    .await?;
    // Every source watches the shutdown flag; they close their links side by side, each within its grace.
    futures_util::future::join_all(running.into_iter().map(|s| s.stop(Duration::from_secs(3))))
        .await;
    sweep_task.abort();
    Ok(())
}

type SimTask = tokio::task::JoinHandle<anyhow::Result<()>>;

/// The built-in Binance simulator, for the Binance source to start when it needs one.
fn start_binance_simulator(
    listener: TcpListener,
    seed: Option<u64>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<(String, String, SimTask)> {
    let opts = tickdesk_binance_sim::SimOptions {
        seed,
        ..Default::default()
    };
    let (handle, task) = tickdesk_binance_sim::start(listener, opts, async move {
        let _ = stop.wait_for(|s| *s).await;
    })?;
    Ok((handle.ws_url(), handle.base_url(), task))
}

/// The market clock the settings ask for, at real time `now_ms`: the wall clock with a Schwab app key (a real
/// account is honest about the real market); with a simulator, `--sim-start` (`auto`: the real time during a
/// session, else a running clock from 10:00 ET of the next trading day, so the demo moves at 2 am or on a Sunday).
///
/// # Errors
/// A `--sim-start` that is not `auto`, `real` or an instant.
pub fn market_clock(cfg: &ServeConfig, now_ms: i64) -> Result<Clock, String> {
    if cfg.schwab.app_key.is_some() {
        return Ok(Clock::wall());
    }
    tickdesk_schwab_sim::cli::clock_from_setting(&cfg.sim.start, now_ms)
        .map_err(|e| format!("--sim-{e} (TICKDESK_SIM_START)"))
}

/// The Schwab source, with the built-in simulator beside it when there is no app key (stopped with it).
async fn start_schwab(cfg: &ServeConfig, sources: &Sources) -> anyhow::Result<Running> {
    let mut schwab_cfg = cfg.schwab.clone();
    if cfg.binance.mode != tickdesk_binance::Mode::Off {
        schwab_cfg.foreign_bars = cfg.binance.symbols.clone();
    }
    let simulator = if schwab_cfg.external_simulator() {
        info!(api = %schwab_cfg.api, "no TICKDESK_SCHWAB_APP_KEY and a simulator URL: using the Schwab simulator there");
        None
    } else if schwab_cfg.app_key.is_none() {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let opts = tickdesk_schwab_sim::SimOptions {
            clock: sources.clock.clone(),
            seed: cfg.seed,
            tick_ms: cfg.sim.tick_ms.max(1),
            load_contracts: cfg.sim.load_contracts,
            key_cap: cfg.sim.key_cap.max(1),
            ..Default::default()
        };
        let mut sim_stop = sources.shutdown.clone();
        let (handle, task) = tickdesk_schwab_sim::start(listener, opts, async move {
            let _ = sim_stop.wait_for(|s| *s).await;
        })?;
        info!(api = %handle.base_url(), "no TICKDESK_SCHWAB_APP_KEY: using the built-in Schwab simulator");
        schwab_cfg.api = handle.base_url();
        Some(task)
    } else {
        None
    };
    let client = schwab::Schwab(schwab_cfg)
        .start(sources)
        .ok_or_else(|| anyhow::anyhow!("the Schwab source did not start"))?;
    Ok(match simulator {
        Some(task) => client.and(tokio::spawn(async move {
            if let Ok(Err(e)) = task.await {
                warn!(error = %e, "the built-in Schwab simulator stopped with an error");
            }
        })),
        None => client,
    })
}

/// Per-connection websocket read buffer.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// The routes, apart from the listener so they can be exercised directly.
///
/// With an access token, everything but `/healthz`, the publish API (its own token) and the app's files is guarded
/// ([`access::guard`]), and `GET …?token=` is the browser's way in ([`access::login`]).
pub fn router(state: Arc<AppState>, cfg: &ServeConfig) -> Router {
    let open = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/publish/signal", post(api::publish_signal))
        .route("/api/publish/trade", post(api::publish_trade));
    let guarded = Router::new()
        .route("/ws", get(ws_upgrade))
        .route("/metrics", get(metrics))
        .route("/ws/stream", get(stream::upgrade))
        .route("/api/snapshot", get(api::snapshot))
        .route("/api/topic/{name}", get(api::topic))
        .route(
            "/api/curve",
            get(|s: State<Arc<AppState>>| api::topic(s, Path(topics::CURVE.into()))),
        )
        .route(
            "/api/positions",
            get(|s: State<Arc<AppState>>| api::topic(s, Path(topics::POSITIONS.into()))),
        )
        .route(
            "/api/pnl",
            get(|s: State<Arc<AppState>>| api::topic(s, Path(topics::PNL.into()))),
        )
        .route(
            "/api/signals",
            get(|s: State<Arc<AppState>>| api::topic(s, Path(topics::SIGNALS.into()))),
        )
        .route(
            "/api/trades",
            get(|s: State<Arc<AppState>>| api::topic(s, Path(topics::TRADES.into()))),
        )
        .route(
            "/api/status",
            get(|s: State<Arc<AppState>>| api::topic(s, Path(topics::STATUS.into()))),
        )
        .route("/api/chain/{underlying}", get(api::chain))
        // A typo under /api or /ws answers a JSON 404, not the app's index page.
        .route("/api/{*rest}", any(api::not_found))
        .route("/ws/{*rest}", any(api::not_found))
        .route(
            "/api/activity",
            get(|s: State<Arc<AppState>>| api::topic(s, Path(topics::ACTIVITY.into()))),
        )
        .route_layer(middleware::from_fn_with_state(
            state.access.clone(),
            access::guard,
        ));
    // An app hosted on an allowed origin reads the REST views too (the fallback, the access check), presenting its
    // token in `Authorization`; outermost, so a 401 is readable by that app as well.
    let guarded = match cors(&cfg.allowed_origins) {
        Some(cors) => guarded.layer(cors),
        None => guarded,
    };
    let api = guarded
        .merge(open)
        .layer(DefaultBodyLimit::max(16 * 1024))
        .with_state(state.clone());
    let app = if cfg.static_dir.is_dir() {
        let index = cfg.static_dir.join("index.html");
        api.fallback_service(ServeDir::new(&cfg.static_dir).fallback(ServeFile::new(index)))
    } else {
        warn!(dir = %cfg.static_dir.display(), "no app directory; serving the API only (build the app with trunk to serve it)");
        api
    };
    app.layer(middleware::from_fn_with_state(
        state.access.clone(),
        access::login,
    ))
}

/// CORS for the allowed origins' `GET`s, with an `Authorization` header; none without an allow-list.
fn cors(allowed: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins = if allowed.iter().any(|a| a == "*") {
        AllowOrigin::any()
    } else {
        let list: Vec<_> = allowed
            .iter()
            .filter_map(|a| a.trim_end_matches('/').parse().ok())
            .collect();
        if list.is_empty() {
            return None;
        }
        AllowOrigin::list(list)
    };
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([axum::http::Method::GET])
            .allow_headers([header::AUTHORIZATION]),
    )
}

/// Same-origin pages, non-browser clients and the allow-list may connect.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

async fn ws_upgrade(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&headers, &state.allowed_origins) {
        Metrics::add(&state.metrics().rejected_connections, 1);
        let origin = headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        warn!(
            origin,
            "websocket refused: origin not allowed (see TICKDESK_ALLOWED_ORIGINS)"
        );
        return (
            StatusCode::FORBIDDEN,
            "origin not allowed; add it to TICKDESK_ALLOWED_ORIGINS",
        )
            .into_response();
    }
    // A permit per connection, held until its session ends: the cap cannot be overshot by upgrades racing.
    let Ok(permit) = state.connections.clone().try_acquire_owned() else {
        Metrics::add(&state.metrics().rejected_connections, 1);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "connection limit reached; retry with backoff",
        )
            .into_response();
    };
    // The hard cap lets frames a little over the limit through, so they get a readable error frame.
    // Client frames are small: an 8 KiB read buffer instead of tungstenite's 128 KiB default, which it allocates
    // per connection and zeroes on reads (see BENCHMARKS.md, memory per idle connection). Larger frames still
    // arrive whole; the buffer grows for them.
    ws.max_message_size(
        state
            .limits()
            .max_frame_bytes
            .saturating_mul(4)
            .max(1 << 20),
    )
    .read_buffer_size(READ_BUFFER_BYTES)
    // A browser offering subprotocols (the app carrying its token in one) must be answered with one of them.
    .protocols([access::SUBPROTOCOL])
    .on_upgrade(move |socket| async move {
        session::run(socket, state).await;
        drop(permit);
    })
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let sources = state
        .broker()
        .snapshot(topics::STATUS)
        .map(|s| s.items)
        .unwrap_or_default();
    let text = state.metrics().render(&sources, &**state.broker());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}

pub use topics::STATUS;

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn origin_policy_allows_same_origin_listed_and_non_browser_clients() {
        assert!(origin_allowed(&headers(None, "127.0.0.1:8080"), &[]));
        assert!(origin_allowed(
            &headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(Some("https://evil.example"), "127.0.0.1:8080"),
            &[]
        ));
        let allowed = vec!["https://desk.example.com".to_string()];
        assert!(origin_allowed(
            &headers(Some("https://desk.example.com"), "relay:8080"),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(Some("https://desk.example.com.evil"), "relay:8080"),
            &allowed
        ));
        assert!(origin_allowed(
            &headers(Some("https://any.where"), "relay:8080"),
            &["*".to_string()]
        ));
    }
}
