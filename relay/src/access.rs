//! The access token (`--access-token` / `TICKDESK_ACCESS_TOKEN`): when set, every route but `/healthz`, the publish
//! API (it has its own token) and the app's static files requires it.
//!
//! How a client presents it, in the order checked (any one that matches lets the request through):
//! - `Authorization: Bearer <token>`: scripts, on any guarded route and on the websocket upgrade;
//! - the cookie a browser gets by opening `/?token=<token>` once (the way Jupyter does): [`login`] answers that URL
//!   with `Set-Cookie: tickdesk_token_<port>=…; HttpOnly; SameSite=Strict` and a redirect to the same URL without
//!   the token, under `Referrer-Policy: no-referrer`, so the token leaves the address bar, the history and any
//!   Referer. The same-origin app then relies on the cookie (a browser cannot set headers on a websocket). The
//!   name carries the port because cookies do not: two relays on one host keep theirs apart;
//! - the websocket subprotocol `tickdesk.token.<token>`, offered beside [`SUBPROTOCOL`] (which the relay picks, so
//!   the token is never echoed): how an app hosted on another origin passes it. That app reads the token from the
//!   page's `#token=…` fragment, which browsers never send to a server nor put in a Referer, so it reaches no log.
//!
//! The token is only ever compared in constant time ([`Secret::matches`]); a token the user gave is never printed
//! (one the relay generated is printed once, in the URL to open the desk). A wrong or missing one
//! answers 401 (a websocket is refused before the upgrade), after a delay that grows with the client's recent
//! failures ([`Failures`], bounded memory), so guessing is slow; a client with the right token is never delayed.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::json;
use tracing::{info, warn};

use tickdesk_hub::secret::Secret;

/// The websocket subprotocol the relay selects when a client offers subprotocols (the app always offers it first).
pub const SUBPROTOCOL: &str = "tickdesk.v1";
/// A subprotocol carrying the access token: `tickdesk.token.<token>`.
pub const TOKEN_SUBPROTOCOL_PREFIX: &str = "tickdesk.token.";
/// The cookie's name before the port (`tickdesk_token_8080`).
const COOKIE_PREFIX: &str = "tickdesk_token";

/// The characters a token may hold: URL-safe ones, so it travels unchanged in a query, a fragment, a cookie and a
/// websocket subprotocol.
pub fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// A fresh token: 256 random bits, base64url (43 characters).
pub fn generate() -> Secret {
    let bytes: [u8; 32] = rand::random();
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Settles the token before serving on `addr`: checks a given one (without ever echoing it), or makes one when
/// listening beyond loopback without one, and says once how to open the desk (with the token in the URL only
/// when the relay made it).
///
/// # Errors
/// A given token with characters other than letters, digits and `-._~`.
pub fn settle(token: Option<Secret>, addr: SocketAddr) -> anyhow::Result<Option<Secret>> {
    let host = match addr.ip() {
        ip if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    };
    let beyond = if addr.ip().is_unspecified() {
        " (from another machine, use its address instead of 127.0.0.1)"
    } else {
        ""
    };
    match token {
        Some(t) if !valid_token(t.expose()) => anyhow::bail!(
            "TICKDESK_ACCESS_TOKEN (--access-token) may hold only letters, digits and - . _ ~ \
             (it travels in URLs, a cookie and a websocket subprotocol)"
        ),
        Some(t) => {
            info!("access token required: open http://{host}/?token=<your TICKDESK_ACCESS_TOKEN> once in a browser{beyond}; scripts send Authorization: Bearer <token>");
            Ok(Some(t))
        }
        None if !addr.ip().is_loopback() => {
            let t = generate();
            warn!("listening beyond loopback without TICKDESK_ACCESS_TOKEN: made one for this run");
            info!(
                "open the desk at http://{host}/?token={}{beyond}; scripts send Authorization: Bearer <that token>",
                t.expose()
            );
            Ok(Some(t))
        }
        None => Ok(None),
    }
}

/// The token and the record of failed attempts, shared by every request.
#[derive(Debug, Default)]
pub struct Access {
    token: Option<Secret>,
    failures: Mutex<Failures>,
}

impl Access {
    pub fn new(token: Option<Secret>) -> Access {
        Access {
            token,
            failures: Mutex::default(),
        }
    }

    /// Whether a token is required.
    pub fn required(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `headers` present the token (always true when none is required).
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        // Every candidate is compared (no early exit on the first match), each in constant time.
        presented(headers).fold(false, |ok, given| token.matches(given) | ok)
    }

    fn failed(&self, ip: IpAddr) -> Duration {
        self.failures
            .lock()
            .map(|mut f| f.failed(ip, Instant::now()))
            .unwrap_or(MAX_DELAY)
    }

    fn succeeded(&self, ip: IpAddr) {
        if let Ok(mut f) = self.failures.lock() {
            f.succeeded(ip);
        }
    }
}

/// Every token a request presents: the bearer header, `tickdesk_token*` cookies, and `tickdesk.token.*`
/// subprotocols (a few of each at most).
fn presented(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(name, _)| name.starts_with(COOKIE_PREFIX))
        .map(|(_, value)| value);
    let protocols = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix(TOKEN_SUBPROTOCOL_PREFIX));
    bearer
        .take(4)
        .chain(cookies.take(8))
        .chain(protocols.take(4))
}

/// Where a request came from, for the failure record: the peer's address (an IPv6 peer by its /64, what one host
/// usually holds). Unknown without connect info (tests serving the router directly): one shared bucket.
fn peer(req: &Request) -> IpAddr {
    match req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    {
        Some(IpAddr::V6(v6)) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (!0u128 << 64))),
        Some(ip) => ip,
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

/// The 401 answer, after the delay this client's failures call for.
async fn refuse(access: &Access, ip: IpAddr) -> Response {
    tokio::time::sleep(access.failed(ip)).await;
    let mut r = (
        StatusCode::UNAUTHORIZED,
        Json(json!({
            "error": "unauthorized",
            "message": "access token required: open the URL the relay printed (http://host:port/?token=…) \
                        or send Authorization: Bearer <token>",
        })),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"tickdesk\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Middleware on the guarded routes: passes requests that present the token, answers 401 to the rest (before any
/// websocket upgrade).
pub async fn guard(State(access): State<Arc<Access>>, req: Request, next: Next) -> Response {
    if !access.required() || req.method() == Method::OPTIONS {
        // OPTIONS: a CORS preflight carries no credentials by design; the request it announces is checked.
        return next.run(req).await;
    }
    let ip = peer(&req);
    if access.allows(req.headers()) {
        access.succeeded(ip);
        return next.run(req).await;
    }
    refuse(&access, ip).await
}

/// Middleware on every route: a `GET` whose query has `token=` is a browser opening the URL the relay printed. The
/// right token gets the cookie and a redirect to the same URL without the token; a wrong one a 401. Neither answer
/// lets a Referer carry the URL on.
pub async fn login(State(access): State<Arc<Access>>, req: Request, next: Next) -> Response {
    let (Some(token), Some(query)) = (&access.token, req.uri().query()) else {
        return next.run(req).await;
    };
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let (given, rest) = split_token(query);
    let Some(given) = given else {
        return next.run(req).await;
    };
    let ip = peer(&req);
    let mut r = if token.matches(&given) {
        access.succeeded(ip);
        let path = req.uri().path();
        let to = if rest.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{rest}")
        };
        let port = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.rsplit_once(':'))
            .map(|(_, p)| p)
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or("");
        let cookie = format!(
            "{COOKIE_PREFIX}_{port}={}; Path=/; HttpOnly; SameSite=Strict",
            token.expose()
        );
        let mut r = StatusCode::SEE_OTHER.into_response();
        let h = r.headers_mut();
        if let (Ok(to), Ok(cookie)) = (HeaderValue::from_str(&to), HeaderValue::from_str(&cookie)) {
            h.insert(header::LOCATION, to);
            h.insert(header::SET_COOKIE, cookie);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    } else {
        refuse(&access, ip).await
    };
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// The `token` of a query, and the query without it.
fn split_token(query: &str) -> (Option<String>, String) {
    let mut given = None;
    let mut rest = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k == "token" {
            given = Some(v.into_owned());
        } else {
            rest.append_pair(&k, &v);
        }
    }
    (given, rest.finish())
}

/// Failed attempts remembered per client address.
const TRACKED_CLIENTS: usize = 4096;
/// A client's failures are forgotten this long after its last one.
const FAILURE_MEMORY: Duration = Duration::from_secs(60);
/// Each recent failure adds this much to the next refusal's delay …
const DELAY_STEP: Duration = Duration::from_millis(100);
/// … up to this.
const MAX_DELAY: Duration = Duration::from_secs(2);

/// Recent failed attempts per client address, bounded: past [`TRACKED_CLIENTS`] addresses, the ones quiet for
/// [`FAILURE_MEMORY`] go, and if none has, the record starts over (memory stays bounded whatever the number of
/// addresses an attacker has; each is still delayed from its own second failure on). Pure.
#[derive(Debug, Default)]
pub struct Failures(HashMap<IpAddr, (u32, Instant)>);

impl Failures {
    /// Records a failure from `ip` at `now`; the delay before answering it.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) -> Duration {
        if self.0.len() >= TRACKED_CLIENTS && !self.0.contains_key(&ip) {
            self.0
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < FAILURE_MEMORY);
            if self.0.len() >= TRACKED_CLIENTS {
                self.0.clear();
            }
        }
        let (count, at) = self.0.entry(ip).or_insert((0, now));
        if now.saturating_duration_since(*at) >= FAILURE_MEMORY {
            *count = 0;
        }
        *count = count.saturating_add(1);
        *at = now;
        DELAY_STEP.saturating_mul(*count).min(MAX_DELAY)
    }

    /// `ip` presented the token: its record goes.
    pub fn succeeded(&mut self, ip: IpAddr) {
        self.0.remove(&ip);
    }

    /// Addresses remembered.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_url_safe_and_generated_ones_are_long_and_fresh() {
        assert!(valid_token("abc-DEF_123.~"));
        for bad in ["", "a b", "a;b", "a,b", "a=b", "é", "a/b"] {
            assert!(!valid_token(bad), "{bad:?}");
        }
        let (a, b) = (generate(), generate());
        assert!(valid_token(a.expose()));
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a, b);
    }

    #[test]
    fn every_way_of_presenting_the_token_is_found() {
        let access = Access::new(Some(Secret::new("s3cret")));
        let with = |name: header::HeaderName, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_str(value).unwrap());
            access.allows(&h)
        };
        assert!(with(header::AUTHORIZATION, "Bearer s3cret"));
        assert!(!with(header::AUTHORIZATION, "Bearer s3cre"));
        assert!(!with(header::AUTHORIZATION, "Basic s3cret"));
        assert!(with(header::COOKIE, "a=1; tickdesk_token_8080=s3cret"));
        assert!(with(
            header::COOKIE,
            "tickdesk_token_9090=other; tickdesk_token_8080=s3cret"
        ));
        assert!(!with(header::COOKIE, "other=s3cret"));
        assert!(with(
            header::SEC_WEBSOCKET_PROTOCOL,
            "tickdesk.v1, tickdesk.token.s3cret"
        ));
        assert!(!with(header::SEC_WEBSOCKET_PROTOCOL, "tickdesk.v1, s3cret"));
        assert!(!access.allows(&HeaderMap::new()));
        assert!(
            Access::new(None).allows(&HeaderMap::new()),
            "no token, open"
        );
    }

    #[test]
    fn failures_slow_a_client_down_boundedly_and_are_forgotten() {
        let mut f = Failures::default();
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let delays: Vec<u128> = (0..30).map(|_| f.failed(ip, t0).as_millis()).collect();
        assert_eq!(&delays[..3], &[100, 200, 300]);
        assert_eq!(*delays.last().unwrap(), 2000, "capped");
        assert_eq!(
            f.failed(ip, t0 + FAILURE_MEMORY).as_millis(),
            100,
            "forgotten after a quiet minute"
        );
        f.succeeded(ip);
        assert!(f.is_empty());
        // Many addresses: memory stays bounded.
        for i in 0..(3 * TRACKED_CLIENTS as u32) {
            f.failed(IpAddr::V4(i.into()), t0);
            assert!(f.len() <= TRACKED_CLIENTS);
        }
    }
}
