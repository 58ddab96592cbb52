//! The public REST routes under `/api/v3`, in Binance's formats and with its errors (`-1121 Invalid symbol.`,
//! `-1120 Invalid interval.`, `-1100` for a malformed parameter).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{OriginalUri, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::market::{Market, Symbol};
use crate::{lock, now_ms, Shared};

type Params = Query<HashMap<String, String>>;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v3/ping", get(ping))
        .route("/api/v3/time", get(time))
        .route("/api/v3/exchangeInfo", get(exchange_info))
        .route("/api/v3/klines", get(klines))
        .route("/api/v3/ticker/bookTicker", get(book_ticker))
        .route("/api/v3/ticker/24hr", get(ticker_24hr))
        .route("/api/v3/ticker/price", get(ticker_price))
}

fn count(s: &Shared, uri: &OriginalUri) {
    *lock(&s.rest_calls)
        .entry(uri.path().to_string())
        .or_default() += 1;
}

fn error(status: StatusCode, code: i64, msg: &str) -> Response {
    (status, Json(json!({"code": code, "msg": msg}))).into_response()
}

fn invalid_symbol() -> Response {
    error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.")
}

/// Which symbols a request names: `symbol=S` (one, answered as an object), `symbols=["A","B"]` (answered as an
/// array), or neither (all, as an array).
enum Pick {
    One(String),
    Many(Vec<String>),
    All,
}

/// `None` when `symbols=` is not a JSON array of strings.
fn pick(q: &HashMap<String, String>) -> Option<Pick> {
    if let Some(s) = q.get("symbol") {
        return Some(Pick::One(s.clone()));
    }
    if let Some(list) = q.get("symbols") {
        return serde_json::from_str::<Vec<String>>(list)
            .ok()
            .map(Pick::Many);
    }
    Some(Pick::All)
}

/// Binance's answer to a malformed `symbols=`.
fn bad_symbols() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        -1100,
        "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.",
    )
}

/// Applies `f` to the picked symbols: an object for `symbol=`, an array otherwise; any unknown → -1121.
fn per_symbol(m: &Market, pick: Pick, f: impl Fn(&Symbol) -> Value) -> Response {
    match pick {
        Pick::One(s) => match m.get(&s) {
            Some(sym) => Json(f(sym)).into_response(),
            None => invalid_symbol(),
        },
        Pick::Many(list) => {
            let found: Option<Vec<Value>> = list.iter().map(|s| m.get(s).map(&f)).collect();
            match found {
                Some(v) => Json(Value::Array(v)).into_response(),
                None => invalid_symbol(),
            }
        }
        Pick::All => Json(Value::Array(m.symbols.iter().map(f).collect())).into_response(),
    }
}

async fn ping(State(s): State<Arc<Shared>>, uri: OriginalUri) -> Json<Value> {
    count(&s, &uri);
    Json(json!({}))
}

async fn time(State(s): State<Arc<Shared>>, uri: OriginalUri) -> Json<Value> {
    count(&s, &uri);
    Json(json!({"serverTime": now_ms()}))
}

fn symbol_info(sym: &Symbol) -> Value {
    let quote = ["USDT", "USDC", "BTC", "USD"]
        .into_iter()
        .find(|q| sym.symbol.ends_with(q))
        .unwrap_or("USDT");
    let base = sym.symbol.trim_end_matches(quote);
    json!({"symbol": sym.symbol, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
           "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
           "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
           "icebergAllowed": true, "ocoAllowed": true, "isSpotTradingAllowed": true,
           "isMarginTradingAllowed": true, "filters": [], "permissions": [], "permissionSets": [["SPOT"]]})
}

async fn exchange_info(
    State(s): State<Arc<Shared>>,
    uri: OriginalUri,
    Query(q): Params,
) -> Response {
    count(&s, &uri);
    let m = s.market();
    let symbols = match pick(&q) {
        None => return bad_symbols(),
        Some(Pick::One(x)) => vec![x],
        Some(Pick::Many(v)) => v,
        Some(Pick::All) => m.symbols.iter().map(|x| x.symbol.clone()).collect(),
    };
    let infos: Option<Vec<Value>> = symbols.iter().map(|x| m.get(x).map(symbol_info)).collect();
    let Some(infos) = infos else {
        return invalid_symbol();
    };
    Json(json!({"timezone": "UTC", "serverTime": now_ms(),
                "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}],
                "exchangeFilters": [], "symbols": infos}))
    .into_response()
}

async fn klines(State(s): State<Arc<Shared>>, uri: OriginalUri, Query(q): Params) -> Response {
    count(&s, &uri);
    let m = s.market();
    let Some(sym) = q.get("symbol").and_then(|x| m.get(x)) else {
        return match q.get("symbol") {
            None => error(
                StatusCode::BAD_REQUEST,
                -1102,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            ),
            Some(_) => invalid_symbol(),
        };
    };
    if q.get("interval").map(String::as_str) != Some("1m") {
        return error(StatusCode::BAD_REQUEST, -1120, "Invalid interval.");
    }
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
    let limit = num("limit").unwrap_or(500).clamp(1, 1000) as usize;
    Json(Value::Array(sym.klines(
        num("startTime"),
        num("endTime"),
        limit,
    )))
    .into_response()
}

async fn book_ticker(State(s): State<Arc<Shared>>, uri: OriginalUri, Query(q): Params) -> Response {
    count(&s, &uri);
    match pick(&q) {
        None => bad_symbols(),
        Some(p) => per_symbol(&s.market(), p, Symbol::rest_book),
    }
}

async fn ticker_24hr(State(s): State<Arc<Shared>>, uri: OriginalUri, Query(q): Params) -> Response {
    count(&s, &uri);
    let now = now_ms();
    match pick(&q) {
        None => bad_symbols(),
        Some(p) => per_symbol(&s.market(), p, |x| x.rest_24hr(now)),
    }
}

async fn ticker_price(
    State(s): State<Arc<Shared>>,
    uri: OriginalUri,
    Query(q): Params,
) -> Response {
    count(&s, &uri);
    match pick(&q) {
        None => bad_symbols(),
        Some(p) => per_symbol(
            &s.market(),
            p,
            |x| json!({"symbol": x.symbol, "price": crate::market::dec(x.price)}),
        ),
    }
}
