//! Schwab's REST calls: user preferences (the streamer's address and ids), option chains, expirations, quotes,
//! minute price history.
//!
//! Every call sends `Authorization: Bearer <access token>` from the [`TokenManager`] (refreshed if due). An HTTP
//! 401 gets one forced refresh and one retry: a token can be revoked before its time. Errors carry the HTTP status
//! and Schwab's own message, never the token (reqwest errors are stripped of their URL; bodies are redacted).

use std::sync::Arc;

use serde_json::Value;
use tracing::{debug, warn};

use super::auth::{redact, schwab_message, AuthError, TokenManager};
use super::budget::{retry_after, Priority, RestBudget};
use super::streamer::StreamerInfo;
use tickdesk_hub::secret::Secret;
use tickdesk_market::Date;
use tickdesk_schwab_proto::rest::UserPreference;

/// A failed REST call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RestError {
    #[error("GET {path}: HTTP {status}: {message}")]
    Http {
        path: String,
        status: u16,
        message: String,
    },
    #[error("GET {path}: {message}")]
    Network { path: String, message: String },
    #[error("GET {path}: the reply was not understood: {message}")]
    BadReply { path: String, message: String },
    #[error("no Schwab access token: {0}")]
    Auth(#[from] AuthError),
    #[error("GET {path}: Schwab asked to wait (HTTP 429): throttled, no market-data call for {retry_after_s} s")]
    Throttled { path: String, retry_after_s: u64 },
}

/// Which part of a chain to ask for: `contractType` and `range` (`SBK` strikes below the market, `SAK` above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainPart {
    pub contract_type: &'static str,
    pub range: Option<&'static str>,
}

impl ChainPart {
    /// The whole chain.
    pub const WHOLE: ChainPart = ChainPart {
        contract_type: "ALL",
        range: None,
    };

    /// The two halves of this part: strikes below and above the market, then calls and puts.
    pub fn halves(self) -> Option<[ChainPart; 2]> {
        match (self.range, self.contract_type) {
            (None, t) => Some([
                ChainPart {
                    contract_type: t,
                    range: Some("SBK"),
                },
                ChainPart {
                    contract_type: t,
                    range: Some("SAK"),
                },
            ]),
            (Some(r), "ALL") => Some([
                ChainPart {
                    contract_type: "CALL",
                    range: Some(r),
                },
                ChainPart {
                    contract_type: "PUT",
                    range: Some(r),
                },
            ]),
            _ => None,
        }
    }
}

/// True for the gateway's answer to a chain too large to send (HTTP 502, `protocol.http.TooBigBody`).
pub fn is_too_big(e: &RestError) -> bool {
    matches!(e, RestError::Http { status: 502, message, .. }
        if message.contains("TooBigBody") || message.contains("Body buffer overflow"))
}

/// Without a `Retry-After`, a 429 stops market-data calls this long.
const DEFAULT_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// The REST client.
#[derive(Debug, Clone)]
pub struct Rest {
    http: reqwest::Client,
    api: String,
    tokens: Arc<TokenManager>,
    /// Every market-data call waits for its turn here (see [`RestBudget`]).
    budget: Arc<RestBudget>,
}

impl Rest {
    pub fn new(
        http: reqwest::Client,
        api: &str,
        tokens: Arc<TokenManager>,
        budget: Arc<RestBudget>,
    ) -> Self {
        Rest {
            http,
            api: api.trim_end_matches('/').to_string(),
            tokens,
            budget,
        }
    }

    /// The market-data budget.
    pub fn budget(&self) -> &RestBudget {
        &self.budget
    }

    /// `GET {api}{path}?query` as JSON; a market-data call (`priority` set) waits for its turn in the budget first.
    pub async fn get_json(
        &self,
        path: &str,
        query: &[(&str, String)],
        priority: Option<Priority>,
    ) -> Result<Value, RestError> {
        let mut retried = false;
        loop {
            if let Some(p) = priority {
                self.budget.acquire(p).await;
            }
            let token = self.tokens.access_token().await?;
            let resp = self
                .http
                .get(format!("{}{path}", self.api))
                .query(query)
                .bearer_auth(token.expose())
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| RestError::Network {
                    path: path.to_string(),
                    message: redact(&e.without_url().to_string(), &[&token]),
                })?;
            let status = resp.status();
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                let wait = retry_after(
                    resp.headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok()),
                )
                .unwrap_or(DEFAULT_RETRY_AFTER);
                warn!(
                    path,
                    wait_s = wait.as_secs(),
                    "Schwab answered 429: every market-data call waits"
                );
                self.budget.throttle(wait);
                return Err(RestError::Throttled {
                    path: path.to_string(),
                    retry_after_s: wait.as_secs(),
                });
            }
            if status == reqwest::StatusCode::UNAUTHORIZED && !retried {
                retried = true;
                debug!(
                    path,
                    "HTTP 401 from Schwab: refreshing the access token and retrying once"
                );
                self.tokens.refresh_now().await?;
                continue;
            }
            let body = resp.text().await.map_err(|e| RestError::Network {
                path: path.to_string(),
                message: redact(&e.without_url().to_string(), &[&token]),
            })?;
            if !status.is_success() {
                return Err(RestError::Http {
                    path: path.to_string(),
                    status: status.as_u16(),
                    message: redact(&schwab_message(&body), &[&token]),
                });
            }
            return serde_json::from_str(&body).map_err(|e| RestError::BadReply {
                path: path.to_string(),
                message: e.to_string(),
            });
        }
    }

    /// `GET /trader/v1/userPreference` → the streamer's address and ids, and whether market data is delayed
    /// (`offers[0].mktDataPermission`, when present).
    pub async fn user_preference(&self) -> Result<(StreamerInfo, Option<String>), RestError> {
        const PATH: &str = "/trader/v1/userPreference";
        let v = self.get_json(PATH, &[], None).await?;
        parse_user_preference(&v).ok_or_else(|| RestError::BadReply {
            path: PATH.into(),
            message: "no streamerInfo with streamerSocketUrl, schwabClientCustomerId and schwabClientCorrelId".into(),
        })
    }

    /// `GET /marketdata/v1/chains` for one expiry (`fromDate = toDate`, which is also how a 0DTE chain is asked
    /// for), all contract types, with the underlying's quote. `strike_count` bounds the reply's size (a whole
    /// `$SPX` chain overflows Schwab's buffer); the relay filters the window itself after.
    pub async fn chain(
        &self,
        priority: Priority,
        symbol: &str,
        expiry: Date,
        strike_count: Option<usize>,
    ) -> Result<Value, RestError> {
        self.chain_part(priority, symbol, expiry, strike_count, ChainPart::WHOLE)
            .await
    }

    /// One part of a chain (strikes below or above the market, calls or puts): what a chain too large for
    /// Schwab's gateway is split into.
    pub async fn chain_part(
        &self,
        priority: Priority,
        symbol: &str,
        expiry: Date,
        strike_count: Option<usize>,
        part: ChainPart,
    ) -> Result<Value, RestError> {
        let mut q = vec![
            ("symbol", symbol.to_string()),
            ("contractType", part.contract_type.to_string()),
            ("includeUnderlyingQuote", "true".to_string()),
            ("strategy", "SINGLE".to_string()),
            ("fromDate", expiry.to_string()),
            ("toDate", expiry.to_string()),
        ];
        if let Some(n) = strike_count {
            q.push(("strikeCount", n.to_string()));
        }
        if let Some(r) = part.range {
            q.push(("range", r.to_string()));
        }
        self.get_json("/marketdata/v1/chains", &q, Some(priority))
            .await
    }

    /// `GET /marketdata/v1/expirationchain?symbol=…`.
    pub async fn expiration_chain(
        &self,
        priority: Priority,
        symbol: &str,
    ) -> Result<Value, RestError> {
        self.get_json(
            "/marketdata/v1/expirationchain",
            &[("symbol", symbol.to_string())],
            Some(priority),
        )
        .await
    }

    /// `GET /marketdata/v1/pricehistory` of 1-minute candles starting in `[start_ms, end_ms]`, extended hours
    /// included: the first picture of a `bars:` topic, and the minutes missed while the stream was down.
    pub async fn price_history(
        &self,
        priority: Priority,
        symbol: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Value, RestError> {
        self.get_json(
            "/marketdata/v1/pricehistory",
            &[
                ("symbol", symbol.to_string()),
                ("periodType", "day".to_string()),
                ("frequencyType", "minute".to_string()),
                ("frequency", "1".to_string()),
                ("startDate", start_ms.to_string()),
                ("endDate", end_ms.to_string()),
                ("needExtendedHoursData", "true".to_string()),
            ],
            Some(priority),
        )
        .await
    }

    /// `GET /marketdata/v1/quotes?symbols=A,B` → `{SYMBOL: {"quote": {…}, …}}`.
    pub async fn quotes(&self, priority: Priority, symbols: &[String]) -> Result<Value, RestError> {
        self.get_json(
            "/marketdata/v1/quotes",
            &[
                ("symbols", symbols.join(",")),
                ("fields", "quote".to_string()),
            ],
            Some(priority),
        )
        .await
    }
}

/// Reads `streamerInfo[0]` from a preferences reply: an object (what Schwab really sends) or, as the published
/// spec shows, an array of them.
pub fn parse_user_preference(v: &Value) -> Option<(StreamerInfo, Option<String>)> {
    let mut p = UserPreference::parse(v)?;
    let permission = p.offers.first().and_then(|o| o.mkt_data_permission.clone());
    let si = p.streamer_info.drain(..).next()?;
    let info = StreamerInfo {
        socket_url: si.streamer_socket_url,
        customer_id: Secret::new(si.schwab_client_customer_id),
        correl_id: Secret::new(si.schwab_client_correl_id),
        channel: si.schwab_client_channel.unwrap_or_else(|| "N9".into()),
        function_id: si
            .schwab_client_function_id
            .unwrap_or_else(|| "APIAPP".into()),
    };
    Some((info, permission))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn preferences_as_object_or_array() {
        let obj = json!({"accounts":[{"accountNumber":"12345678"}],
            "streamerInfo":[{"streamerSocketUrl":"wss://streamer-api.schwab.com/ws","schwabClientCustomerId":"abc",
              "schwabClientCorrelId":"def","schwabClientChannel":"N9","schwabClientFunctionId":"APIAPP"}],
            "offers":[{"level2Permissions":true,"mktDataPermission":"NP"}]});
        let (info, perm) = parse_user_preference(&obj).unwrap();
        assert_eq!(info.socket_url, "wss://streamer-api.schwab.com/ws");
        assert_eq!(info.customer_id.expose(), "abc");
        assert_eq!(
            format!("{info:?}").matches("[redacted]").count(),
            2,
            "ids never print"
        );
        assert_eq!(perm.as_deref(), Some("NP"));
        let (info, _) = parse_user_preference(&json!([obj])).unwrap();
        assert_eq!(info.channel, "N9");
        assert!(parse_user_preference(&json!({"streamerInfo":[]})).is_none());
        assert!(
            parse_user_preference(&json!({"streamerInfo":[{"streamerSocketUrl":"x"}]})).is_none()
        );
    }
}
