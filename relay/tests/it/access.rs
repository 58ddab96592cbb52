//! The access token (`TICKDESK_ACCESS_TOKEN`) over real sockets: every guarded route and the websocket upgrades
//! refuse a missing or wrong token with 401 and let the right one through (bearer, cookie, subprotocol); `/healthz`,
//! the app's files and the publish API (its own token) stay as they were; a browser's `/?token=` gets the cookie
//! and a redirect without the token; and, in the captured logs, a token the relay makes is printed once in the URL
//! while one the user gave never appears in the logs.

use crate::common;

use std::time::Duration;

use common::{test_config, Relay};
use tickdesk_hub::secret::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const TOKEN: &str = "access-Token_0123.abc~";
const PUBLISH: &str = "publish-token-9";

/// An answer: status, headers (names lower-cased), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request with `headers`; the whole answer.
async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

async fn get(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> Answer {
    request(addr, "GET", path, headers, "").await
}

fn guarded_config() -> tickdesk_relay::ServeConfig {
    let mut cfg = test_config();
    cfg.access_token = Some(Secret::new(TOKEN));
    cfg.publish_token = Some(Secret::new(PUBLISH));
    cfg
}

const BEARER: &str = "Bearer access-Token_0123.abc~";
const COOKIE: &str = "theme=dark; tickdesk_token_8080=access-Token_0123.abc~";

#[tokio::test]
async fn every_guarded_route_wants_the_token_and_the_open_ones_do_not() {
    let dir = std::env::temp_dir().join(format!("tickdesk-access-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>desk</title>").unwrap();
    std::fs::write(dir.join("app.js"), "console.log(1)").unwrap();
    let mut cfg = guarded_config();
    cfg.static_dir = dir.clone();
    let relay = Relay::start(cfg).await;
    let a = relay.addr;
    for path in [
        "/api/snapshot",
        "/api/snapshot?topics=curve",
        "/api/curve",
        "/api/positions",
        "/api/pnl",
        "/api/signals",
        "/api/trades",
        "/api/status",
        "/api/topic/curve",
        "/api/chain/SPY",
        "/metrics",
    ] {
        let none = get(a, path, &[]).await;
        assert_eq!(none.status, 401, "{path} without a token: {}", none.body);
        assert!(none.body.contains("access token required"), "{}", none.body);
        assert_eq!(
            none.header("www-authenticate"),
            Some("Bearer realm=\"tickdesk\"")
        );
        let wrong = get(
            a,
            path,
            &[("Authorization", "Bearer access-Token_0123.abc")],
        )
        .await;
        assert_eq!(wrong.status, 401, "{path} with a wrong token");
        assert!(
            !wrong.body.contains(TOKEN),
            "a refusal never echoes the token"
        );
        let bearer = get(a, path, &[("Authorization", BEARER)]).await;
        let want = if path == "/api/chain/SPY" { 404 } else { 200 };
        assert_eq!(
            bearer.status, want,
            "{path} with the bearer token: {}",
            bearer.body
        );
        let cookie = get(a, path, &[("Cookie", COOKIE)]).await;
        assert_eq!(cookie.status, want, "{path} with the cookie");
    }
    let bad_cookie = get(a, "/api/curve", &[("Cookie", "tickdesk_token_8080=nope")]).await;
    assert_eq!(bad_cookie.status, 401);
    // Open: health, the app's files (and the SPA fallback), CORS-free HEAD of nothing else.
    assert_eq!(get(a, "/healthz", &[]).await.status, 200);
    let index = get(a, "/", &[]).await;
    assert_eq!(index.status, 200);
    assert!(index.body.contains("desk"));
    assert_eq!(get(a, "/app.js", &[]).await.status, 200);
    assert_eq!(
        get(a, "/chain", &[]).await.status,
        200,
        "the app's own routes"
    );
    relay.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn failed_attempts_are_slowed_down_and_the_right_token_is_not() {
    let relay = Relay::start(guarded_config()).await;
    let a = relay.addr;
    let mut took = Vec::new();
    for _ in 0..4 {
        let t = std::time::Instant::now();
        assert_eq!(get(a, "/api/curve", &[]).await.status, 401);
        took.push(t.elapsed());
    }
    assert!(
        took[3] >= Duration::from_millis(400),
        "the fourth failure waits 400 ms: {took:?}"
    );
    assert!(took[3] > took[0], "{took:?}");
    let t = std::time::Instant::now();
    assert_eq!(
        get(a, "/api/curve", &[("Authorization", BEARER)])
            .await
            .status,
        200
    );
    // Relative to the slowed failure, not a wall-clock bound: a loaded machine slows every request alike.
    assert!(t.elapsed() < took[3], "no delay for the right token");
    // A success clears the record: the next failure is back to the first step.
    let t = std::time::Instant::now();
    assert_eq!(get(a, "/api/curve", &[]).await.status, 401);
    assert!(t.elapsed() < took[3], "{:?} vs {took:?}", t.elapsed());
    relay.stop().await;
}

/// A websocket upgrade to `path` with `header`; the HTTP status it got (101 when it opened) and the subprotocol
/// the relay selected.
async fn upgrade(relay: &Relay, path: &str, header: Option<(&str, &str)>) -> (u16, Option<String>) {
    let mut req = format!("ws://{}{path}", relay.addr)
        .into_client_request()
        .unwrap();
    if let Some((k, v)) = header {
        req.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((_ws, resp)) => (
            resp.status().as_u16(),
            resp.headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .map(String::from),
        ),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => (resp.status().as_u16(), None),
        Err(e) => panic!("{path}: {e}"),
    }
}

#[tokio::test]
async fn websocket_upgrades_are_refused_before_the_upgrade_without_the_token() {
    let relay = Relay::start(guarded_config()).await;
    for path in ["/ws", "/ws/stream"] {
        assert_eq!(upgrade(&relay, path, None).await.0, 401, "{path}");
        assert_eq!(
            upgrade(&relay, path, Some(("Authorization", "Bearer wrong")))
                .await
                .0,
            401
        );
        assert_eq!(
            upgrade(
                &relay,
                path,
                Some((
                    "Sec-WebSocket-Protocol",
                    "tickdesk.v1, tickdesk.token.wrong"
                ))
            )
            .await
            .0,
            401
        );
        assert_eq!(
            upgrade(&relay, path, Some(("Authorization", BEARER))).await,
            (101, None)
        );
        assert_eq!(upgrade(&relay, path, Some(("Cookie", COOKIE))).await.0, 101);
        let offered = format!("tickdesk.v1, tickdesk.token.{TOKEN}");
        assert_eq!(
            upgrade(&relay, path, Some(("Sec-WebSocket-Protocol", &offered))).await,
            (101, Some("tickdesk.v1".to_string())),
            "{path}: the relay picks tickdesk.v1, never echoing the token"
        );
    }
    relay.stop().await;
}

#[tokio::test]
async fn opening_the_printed_url_sets_the_cookie_and_drops_the_token_from_the_url() {
    let relay = Relay::start(guarded_config()).await;
    let a = relay.addr;
    let r = get(
        a,
        &format!("/?relay=ws%3A%2F%2Fx&token={TOKEN}&tab=rates"),
        &[],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/?relay=ws%3A%2F%2Fx&tab=rates"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let cookie = r.header("set-cookie").expect("a cookie");
    let port = a.port();
    assert_eq!(
        cookie,
        format!("tickdesk_token_{port}={TOKEN}; Path=/; HttpOnly; SameSite=Strict")
    );
    // What the browser sends back works on the guarded routes.
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(get(a, "/api/status", &[("Cookie", pair)]).await.status, 200);
    let plain = get(a, &format!("/?token={TOKEN}"), &[]).await;
    assert_eq!(plain.header("location"), Some("/"));
    let wrong = get(a, "/?token=nope", &[]).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.header("referrer-policy"), Some("no-referrer"));
    assert!(wrong.header("set-cookie").is_none());
    relay.stop().await;
}

#[tokio::test]
async fn the_publish_api_keeps_its_own_token() {
    let relay = Relay::start(guarded_config()).await;
    let body = r#"{"signal_type":"BUY","symbol":"AAPL","price":231.5,"confidence":0.8}"#;
    let json = ("Content-Type", "application/json");
    let with_access = request(
        relay.addr,
        "POST",
        "/api/publish/signal",
        &[json, ("Authorization", BEARER)],
        body,
    )
    .await;
    assert_eq!(
        with_access.status, 401,
        "the access token is not the publish token"
    );
    let publish = format!("Bearer {PUBLISH}");
    let ok = request(
        relay.addr,
        "POST",
        "/api/publish/signal",
        &[json, ("Authorization", &publish)],
        body,
    )
    .await;
    assert_eq!(ok.status, 202, "{}", ok.body);
    relay.stop().await;
}

#[tokio::test]
async fn without_a_token_on_loopback_everything_stays_open() {
    let relay = Relay::start(test_config()).await;
    assert_eq!(get(relay.addr, "/api/curve", &[]).await.status, 200);
    assert_eq!(get(relay.addr, "/metrics", &[]).await.status, 200);
    assert_eq!(upgrade(&relay, "/ws", None).await.0, 101);
    relay.stop().await;
}

/// Runs `f` (one at a time among the tests that read logs) and returns what was logged meanwhile, with `f`'s
/// result. Other tests of this binary may log meanwhile too: assertions name their own port.
async fn logged<R>(f: impl AsyncFnOnce(&common::Logs) -> R) -> (String, R) {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    // `f` starts relays of its own (serve_on): they count as running fixtures.
    let _running = tickdesk_testkit::serial::shared().await;
    let logs = common::logs();
    let r = f(&logs).await;
    (logs.text(), r)
}

/// A relay listening on `listen` as `run` would (the access token settled there), and the port it got.
async fn serve_on(
    listen: &str,
    cfg: tickdesk_relay::ServeConfig,
) -> (
    u16,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(tickdesk_relay::run(
        listener,
        cfg,
        tickdesk_testkit::in_session(),
        async {
            let _ = rx.await;
        },
    ));
    (port, tx, task)
}

fn token_after(logs: &str, marker: &str) -> String {
    logs.split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no {marker:?} in:\n{logs}"))
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-._~".contains(*c))
        .collect()
}

#[tokio::test]
async fn beyond_loopback_the_relay_makes_a_token_and_prints_the_url_once() {
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (logs, port) = logged(async |logs| {
            let (port, stop, task) = serve_on("0.0.0.0:0", test_config()).await;
            let a: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            assert_eq!(
                get(a, "/api/status", &[]).await.status,
                401,
                "guarded at once"
            );
            let token = token_after(&logs.text(), &format!("127.0.0.1:{port}/?token="));
            let auth = format!("Bearer {token}");
            assert_eq!(
                get(a, "/api/status", &[("Authorization", &auth)])
                    .await
                    .status,
                200
            );
            let _ = stop.send(());
            task.await.unwrap().unwrap();
            port
        })
        .await;
        let url = format!("127.0.0.1:{port}/?token=");
        assert_eq!(logs.matches(&url).count(), 1, "printed once:\n{logs}");
        assert!(
            logs.contains(&format!("open the desk at http://{url}")),
            "{logs}"
        );
        let token = token_after(&logs, &url);
        assert_eq!(token.len(), 43, "{logs}");
        assert_eq!(
            logs.matches(&token).count(),
            1,
            "the token appears only in that URL"
        );
        tokens.push(token);
    }
    assert_ne!(tokens[0], tokens[1], "a fresh one each run");
}

#[tokio::test]
async fn a_token_the_user_gave_never_appears_in_the_logs() {
    for listen in ["0.0.0.0:0", "127.0.0.1:0"] {
        let (logs, port) = logged(async |_| {
            let (port, stop, task) = serve_on(listen, guarded_config()).await;
            let a: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            assert_eq!(
                get(a, "/api/curve", &[("Authorization", BEARER)])
                    .await
                    .status,
                200
            );
            assert_eq!(get(a, "/api/curve", &[]).await.status, 401);
            assert_eq!(get(a, &format!("/?token={TOKEN}"), &[]).await.status, 303);
            assert_eq!(get(a, "/?token=wrong", &[]).await.status, 401);
            assert_eq!(upgrade_at(a, BEARER).await, 101);
            let _ = stop.send(());
            task.await.unwrap().unwrap();
            port
        })
        .await;
        assert!(
            logs.contains(&format!(
                "access token required: open http://127.0.0.1:{port}"
            )),
            "{logs}"
        );
        assert!(
            logs.contains("client connected"),
            "debug logs were captured: {logs}"
        );
        assert!(
            !logs.contains(TOKEN),
            "the given token leaked into the logs:\n{logs}"
        );
    }
    // The settings' own printing: clap's and the config's Debug never show it either.
    let cli = <tickdesk_relay::Cli as clap::Parser>::parse_from([
        "tickdesk-relay",
        "--access-token",
        TOKEN,
    ]);
    assert!(!format!("{cli:?}").contains(TOKEN));
    let mut bad = test_config();
    bad.access_token = Some(Secret::new("bad token; x"));
    let (_, _, task) = serve_on("127.0.0.1:0", bad).await;
    let err = task.await.unwrap().unwrap_err().to_string();
    assert!(err.contains("may hold only letters"), "{err}");
    assert!(
        !err.contains("bad token"),
        "not even a bad one is echoed: {err}"
    );
}

async fn upgrade_at(a: std::net::SocketAddr, bearer: &str) -> u16 {
    let mut req = format!("ws://{a}/ws").into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", HeaderValue::from_str(bearer).unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, resp)) => resp.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn an_allowed_origin_reads_the_rest_views_with_its_token() {
    let mut cfg = guarded_config();
    cfg.allowed_origins = vec!["http://desk.example".into()];
    let relay = Relay::start(cfg).await;
    let a = relay.addr;
    let origin = ("Origin", "http://desk.example");
    let preflight = request(
        a,
        "OPTIONS",
        "/api/snapshot",
        &[
            origin,
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
        "",
    )
    .await;
    assert_eq!(preflight.status, 200, "a preflight carries no token");
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("http://desk.example")
    );
    assert!(preflight
        .header("access-control-allow-headers")
        .is_some_and(|h| h.contains("authorization")));
    let refused = get(a, "/api/status", &[origin]).await;
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("access-control-allow-origin"),
        Some("http://desk.example"),
        "the app can read the 401 and say why"
    );
    assert_eq!(
        get(a, "/api/status", &[origin, ("Authorization", BEARER)])
            .await
            .status,
        200
    );
    let other = get(
        a,
        "/api/status",
        &[("Origin", "http://evil.example"), ("Authorization", BEARER)],
    )
    .await;
    assert!(other.header("access-control-allow-origin").is_none());
    relay.stop().await;
}
