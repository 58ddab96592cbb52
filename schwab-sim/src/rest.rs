//! The simulator's REST routes: OAuth (`/v1/oauth/authorize`, `/v1/oauth/token`), `userPreference` and the
//! market-data calls. The bodies come from the pure modules; this file does HTTP: auth, status codes, headers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::Rng;
use serde_json::{json, Value};

use super::chain_json::{self, ChainError, ChainQuery};
use super::quotes_json::{self, HistoryQuery};
use super::tokens::{AccessCheck, RefreshError};
use super::{auth_now_ms, lock, Shared};

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/oauth/authorize", get(authorize))
        .route("/v1/oauth/token", post(token))
        .route("/trader/v1/userPreference", get(user_preference))
        .route("/marketdata/v1/chains", get(chains))
        .route("/marketdata/v1/expirationchain", get(expiration_chain))
        .route("/marketdata/v1/quotes", get(quotes))
        .route("/marketdata/v1/{symbol}/quotes", get(quote_one))
        .route("/marketdata/v1/pricehistory", get(price_history))
}

fn json_text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn fault(status: StatusCode, faultstring: &str, errorcode: &str) -> Response {
    (
        status,
        Json(json!({"fault": {"faultstring": faultstring, "detail": {"errorcode": errorcode}}})),
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"errors": [{"status": "400", "title": "Bad Request", "detail": message}]})),
    )
        .into_response()
}

/// Every market-data route: counts the call (for tests of the client's budget), answers 429 with `Retry-After`
/// while the rate-limit fault lasts, then checks the bearer token.
#[allow(clippy::result_large_err)]
fn market_data(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    let now = std::time::Instant::now();
    {
        let mut calls = lock(&shared.rest_calls);
        if calls.len() >= 10_000 {
            calls.pop_front();
        }
        calls.push_back(now);
    }
    if let Some(until) = *lock(&shared.rate_limited_until) {
        if until > now {
            let secs = (until - now).as_secs_f64().ceil() as u64;
            let mut r = fault(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit exceeded",
                "policies.ratelimit.QuotaViolation",
            );
            if let Ok(v) = secs.to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Err(r);
        }
    }
    bearer(shared, headers)
}

/// Checks `Authorization: Bearer <token>` against the tokens this simulator issued.
#[allow(clippy::result_large_err)]
fn bearer(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let check = token.map_or(AccessCheck::Invalid, |t| {
        lock(&shared.tokens).check(t, auth_now_ms())
    });
    match check {
        AccessCheck::Valid => Ok(()),
        AccessCheck::Expired => Err(fault(
            StatusCode::UNAUTHORIZED,
            "Access Token expired",
            "keymanagement.service.access_token_expired",
        )),
        AccessCheck::Invalid => Err(fault(
            StatusCode::UNAUTHORIZED,
            "Invalid Access Token",
            "keymanagement.service.invalid_access_token",
        )),
    }
}

/// The "login page": approves at once and redirects to the callback with a code, as Schwab does after a login.
async fn authorize(Query(q): Query<HashMap<String, String>>) -> Response {
    let (Some(_client_id), Some(redirect)) = (q.get("client_id"), q.get("redirect_uri")) else {
        return (
            StatusCode::BAD_REQUEST,
            "client_id and redirect_uri are required\n",
        )
            .into_response();
    };
    let Ok(mut url) = url::Url::parse(redirect) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri is not a URL\n").into_response();
    };
    let mut raw = [0u8; 24];
    rand::rng().fill(&mut raw[..]);
    let code = format!(
        "C0.{}.{}@",
        URL_SAFE_NO_PAD.encode(b"oauth2.bdc.schwab.com"),
        URL_SAFE_NO_PAD.encode(raw)
    );
    {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("code", &code);
        pairs.append_pair("session", &uuid::Uuid::new_v4().to_string());
        if let Some(state) = q.get("state") {
            pairs.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

/// Decodes `Authorization: Basic base64(key:secret)`; any key and secret are accepted.
fn basic_ok(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .is_some_and(|kv| kv.split_once(':').is_some_and(|(k, _)| !k.is_empty()))
}

async fn token(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if !basic_ok(&headers) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed: send Authorization: Basic base64(app_key:app_secret)",
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut rng = rand::rng();
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            if form.get("code").is_none_or(|c| c.is_empty()) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "code is required",
                );
            }
            let t = lock(&s.tokens).issue(&mut rng, auth_now_ms());
            Json(t).into_response()
        }
        Some("refresh_token") => {
            let Some(rt) = form.get("refresh_token") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "refresh_token is required",
                );
            };
            let refreshed = lock(&s.tokens).refresh(rt, &mut rng, auth_now_ms());
            match refreshed {
                Ok(t) => Json(t).into_response(),
                Err(RefreshError::Unknown | RefreshError::Expired) => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_client",
                    "refresh token invalid",
                ),
            }
        }
        other => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("unsupported grant_type {other:?}"),
        ),
    }
}

async fn user_preference(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = bearer(&s, &headers) {
        return r;
    }
    Json(json!({
        "accounts": [{
            "accountNumber": "12345678",
            "primaryAccount": true,
            "type": "BROKERAGE",
            "nickName": "Individual (simulated)",
            "displayAcctId": "...678",
            "autoPositionEffect": false,
            "accountColor": "Green",
        }],
        "streamerInfo": [{
            "streamerSocketUrl": s.ws_url,
            "schwabClientCustomerId": s.customer_id,
            "schwabClientCorrelId": s.correl_id,
            "schwabClientChannel": "N9",
            "schwabClientFunctionId": "APIAPP",
        }],
        "offers": [{"level2Permissions": true, "mktDataPermission": "NP"}],
    }))
    .into_response()
}

async fn chains(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = market_data(&s, &headers) {
        return r;
    }
    let query = match ChainQuery::parse(&q) {
        Ok(q) => q,
        Err(msg) => return bad_request(&msg),
    };
    let result = {
        let mut m = s.market_today();
        if let Some(ui) = m.underlying_index(&query.symbol) {
            m.refresh_underlying(ui);
        }
        chain_json::chain(&m, &query, s.opts.max_chain_contracts)
    };
    match result {
        Ok(body) => json_text(StatusCode::OK, body),
        Err(ChainError::TooBig(_)) => {
            (StatusCode::BAD_GATEWAY, Json(chain_json::too_big_body())).into_response()
        }
    }
}

async fn expiration_chain(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = market_data(&s, &headers) {
        return r;
    }
    let Some(symbol) = q.get("symbol") else {
        return bad_request("symbol is required");
    };
    let body: Value = chain_json::expiration_chain(&s.market_today(), symbol);
    Json(body).into_response()
}

async fn quotes(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = market_data(&s, &headers) {
        return r;
    }
    let Some(symbols) = q.get("symbols") else {
        return bad_request("symbols is required");
    };
    let body = fresh_quotes(&s, symbols, q.get("fields").map(String::as_str));
    Json(body).into_response()
}

/// Quotes after repricing the option contracts asked for (unwatched contracts are repriced lazily).
fn fresh_quotes(s: &Shared, symbols: &str, fields: Option<&str>) -> Value {
    let mut m = s.market_today();
    for sym in symbols.split(',') {
        m.refresh(&sym.trim().to_ascii_uppercase());
    }
    quotes_json::quotes(&m, symbols, fields)
}

async fn quote_one(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(symbol): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = market_data(&s, &headers) {
        return r;
    }
    let body = fresh_quotes(&s, &symbol, q.get("fields").map(String::as_str));
    Json(body).into_response()
}

async fn price_history(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = market_data(&s, &headers) {
        return r;
    }
    let query = match HistoryQuery::parse(&q) {
        Ok(q) => q,
        Err(msg) => return bad_request(&msg),
    };
    let body = quotes_json::price_history(&s.market_today(), &query, s.seed);
    Json(body).into_response()
}
