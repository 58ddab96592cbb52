//! Binance's public REST routes the relay uses: `/api/v3/ping` (is it reachable), `/api/v3/exchangeInfo` (which
//! symbols exist), `/api/v3/klines` (bar history, at most 1000 a call), and the tickers polled when the websocket
//! cannot connect (`/api/v3/ticker/24hr`, `/api/v3/ticker/bookTicker`).

use std::time::Duration;

use serde_json::Value;
use tickdesk_wire::bars::Bar;

use super::book::Poll;
use super::payload::kline_row;

/// Most klines Binance returns in one call.
pub const KLINES_PER_CALL: usize = 1000;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum RestError {
    /// HTTP 451: Binance does not serve this location.
    Restricted,
    /// HTTP 429 (too much request weight) or 418 (banned for going on after 429s), with the `Retry-After` Binance
    /// sends: every call must wait that long, or the ban grows.
    Throttled {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// Another HTTP error, with Binance's `code` and `msg` when the body has them.
    Status {
        status: u16,
        code: Option<i64>,
        msg: String,
    },
    /// No answer (DNS, refused, TLS, timeout) or an unreadable one.
    Network(String),
}

impl std::fmt::Display for RestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestError::Restricted => write!(
                f,
                "HTTP 451: service unavailable from a restricted location"
            ),
            RestError::Throttled {
                status,
                retry_after,
            } => {
                let what = if *status == 418 {
                    "banned by Binance for too many requests"
                } else {
                    "throttled by Binance (too many requests)"
                };
                match retry_after {
                    Some(d) => write!(f, "HTTP {status}: {what}, retry after {} s", d.as_secs()),
                    None => write!(f, "HTTP {status}: {what}"),
                }
            }
            RestError::Status { status, code, msg } => match code {
                Some(c) => write!(f, "HTTP {status}: {msg} (code {c})"),
                None => write!(f, "HTTP {status}: {msg}"),
            },
            RestError::Network(e) => write!(f, "{e}"),
        }
    }
}

/// Binance's REST API at one base URL.
#[derive(Debug, Clone)]
pub struct Rest {
    http: reqwest::Client,
    base: String,
}

/// An error with its causes (reqwest's own words stop at "error sending request"; the cause says DNS, refused…).
fn causes(e: &dyn std::error::Error) -> String {
    let mut words = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        words.push_str(": ");
        words.push_str(&s.to_string());
        source = s.source();
    }
    words
}

fn num(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(|x| match x {
        Value::String(s) => s.parse().ok(),
        other => other.as_f64(),
    })
}

impl Rest {
    pub fn new(base: &str, timeout: Duration) -> Rest {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout.max(Duration::from_secs(5)))
            .user_agent(concat!("tickdesk-relay/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Rest {
            http,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, RestError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .map_err(|e| RestError::Network(causes(&e)))?;
        let status = resp.status().as_u16();
        if status == 429 || status == 418 {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(RestError::Throttled {
                status,
                retry_after,
            });
        }
        let body = resp
            .text()
            .await
            .map_err(|e| RestError::Network(e.to_string()))?;
        if status == 451 {
            return Err(RestError::Restricted);
        }
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            return Err(RestError::Status {
                status,
                code: v.get("code").and_then(Value::as_i64),
                msg: v
                    .get("msg")
                    .and_then(Value::as_str)
                    .map_or_else(|| body.chars().take(200).collect(), str::to_string),
            });
        }
        if v.is_null() {
            return Err(RestError::Network(format!("unreadable answer from {path}")));
        }
        Ok(v)
    }

    /// `GET /api/v3/ping`.
    pub async fn ping(&self) -> Result<(), RestError> {
        self.get("/api/v3/ping", &[]).await.map(|_| ())
    }

    /// Which of `symbols` Binance lists: `(known, [(unknown, Binance's words)])`. One call for all; if Binance
    /// refuses it (an unknown symbol fails the whole call), one call per symbol to find which.
    pub async fn check_symbols(
        &self,
        symbols: &[String],
    ) -> Result<(Vec<String>, Vec<(String, String)>), RestError> {
        let list = serde_json::to_string(symbols).unwrap_or_default();
        match self.get("/api/v3/exchangeInfo", &[("symbols", list)]).await {
            Ok(v) => {
                let listed: Vec<&str> = v["symbols"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|s| s["symbol"].as_str()).collect())
                    .unwrap_or_default();
                let (ok, missing): (Vec<String>, Vec<String>) = symbols
                    .iter()
                    .cloned()
                    .partition(|s| listed.contains(&s.as_str()));
                Ok((
                    ok,
                    missing
                        .into_iter()
                        .map(|s| (s, "not listed".into()))
                        .collect(),
                ))
            }
            Err(RestError::Status { status: 400, .. }) => {
                let mut ok = Vec::new();
                let mut bad = Vec::new();
                for s in symbols {
                    match self
                        .get("/api/v3/exchangeInfo", &[("symbol", s.clone())])
                        .await
                    {
                        Ok(_) => ok.push(s.clone()),
                        Err(RestError::Status {
                            status: 400, msg, ..
                        }) => bad.push((s.clone(), msg)),
                        Err(e) => return Err(e),
                    }
                }
                Ok((ok, bad))
            }
            Err(e) => Err(e),
        }
    }

    /// Up to `limit` (≤ 1000) 1-minute klines of `symbol` ending at `end_ms` (or now), oldest first.
    pub async fn klines(
        &self,
        symbol: &str,
        limit: usize,
        end_ms: Option<i64>,
    ) -> Result<Vec<Bar>, RestError> {
        self.klines_between(symbol, limit, None, end_ms).await
    }

    /// Up to `limit` (≤ 1000) 1-minute klines of `symbol` from `start_ms` and/or to `end_ms`, oldest first (with a
    /// start, Binance gives the first `limit` from it; without, the last `limit`).
    async fn klines_between(
        &self,
        symbol: &str,
        limit: usize,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
    ) -> Result<Vec<Bar>, RestError> {
        let mut q = vec![
            ("symbol", symbol.to_string()),
            ("interval", "1m".to_string()),
            ("limit", limit.clamp(1, KLINES_PER_CALL).to_string()),
        ];
        if let Some(s) = start_ms {
            q.push(("startTime", s.to_string()));
        }
        if let Some(e) = end_ms {
            q.push(("endTime", e.to_string()));
        }
        let v = self.get("/api/v3/klines", &q).await?;
        Ok(v.as_array()
            .map(|a| a.iter().filter_map(kline_row).collect())
            .unwrap_or_default())
    }

    /// The last `count` 1-minute klines of `symbol`, oldest first, in calls of at most 1000.
    pub async fn history(&self, symbol: &str, count: usize) -> Result<Vec<Bar>, RestError> {
        let mut bars: Vec<Bar> = Vec::new();
        let mut end = None;
        while bars.len() < count {
            let page = self
                .klines(symbol, (count - bars.len()).min(KLINES_PER_CALL), end)
                .await?;
            let Some(first) = page.first().map(|b| b.t) else {
                break;
            };
            let n = page.len();
            bars.splice(0..0, page);
            if n < KLINES_PER_CALL.min(count) {
                break;
            }
            end = Some(first - 1);
        }
        Ok(bars)
    }

    /// Up to `count` 1-minute klines of `symbol` from the one opening at `start_ms` on, oldest first, in calls of
    /// at most 1000 (a gap longer than one call's worth, e.g. a day's window of 1440 bars, is covered whole).
    pub async fn klines_since(
        &self,
        symbol: &str,
        start_ms: i64,
        count: usize,
    ) -> Result<Vec<Bar>, RestError> {
        let mut bars: Vec<Bar> = Vec::new();
        let mut start = start_ms;
        while bars.len() < count {
            let want = (count - bars.len()).min(KLINES_PER_CALL);
            let page = self.klines_between(symbol, want, Some(start), None).await?;
            let Some(last) = page.last().map(|b| b.t) else {
                break;
            };
            let n = page.len();
            bars.extend(page);
            if n < want {
                break; // up to now
            }
            start = last + 60_000;
        }
        Ok(bars)
    }

    /// One poll of `symbols`: `/api/v3/ticker/24hr` and `/api/v3/ticker/bookTicker`.
    pub async fn poll(&self, symbols: &[String]) -> Result<Vec<(String, Poll)>, RestError> {
        let list = serde_json::to_string(symbols).unwrap_or_default();
        let day = self
            .get("/api/v3/ticker/24hr", &[("symbols", list.clone())])
            .await?;
        let book = self
            .get("/api/v3/ticker/bookTicker", &[("symbols", list)])
            .await?;
        let mut out: Vec<(String, Poll)> = Vec::new();
        for d in day.as_array().into_iter().flatten() {
            let Some(s) = d["symbol"].as_str() else {
                continue;
            };
            out.push((
                s.to_string(),
                Poll {
                    last: num(d, "lastPrice"),
                    change_pct: num(d, "priceChangePercent"),
                    volume: num(d, "volume"),
                    close_ms: d["closeTime"].as_i64(),
                    ..Poll::default()
                },
            ));
        }
        for b in book.as_array().into_iter().flatten() {
            let Some(s) = b["symbol"].as_str() else {
                continue;
            };
            if let Some((_, p)) = out.iter_mut().find(|(x, _)| x == s) {
                p.bid = num(b, "bidPrice");
                p.ask = num(b, "askPrice");
            }
        }
        Ok(out)
    }
}
