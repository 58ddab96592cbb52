//! One Schwab streamer connection: connect, LOGIN, commands one at a time, and reading what the server sends.
//!
//! - **One command at a time.** [`Session::request`] sends one request and reads until the response with the same
//!   `requestid` arrives (or a timeout): Schwab fails parallel commands (codes 22–25). Data and heartbeats read
//!   meanwhile are queued, not lost, and handed out by [`Session::next`].
//! - **Defensive parsing.** A frame is an object with `response`, `notify` and/or `data` arrays. Anything else
//!   (not JSON, an unknown shape, a bad entry) is logged and skipped; it never ends the session. `requestid` and
//!   the heartbeat may be strings or numbers; field ids are numeric strings; unknown keys are ignored.
//! - **Secrets.** The LOGIN frame holds the raw access token: it is built here, sent, and never logged. The
//!   customer and correlation ids are kept as [`Secret`]s too (they identify the account).
//!
//! What to *do* about a response code (refresh and reconnect, stop, shrink, log in again) is the orchestrator's
//! business ([`super::upstream`]); this module only reports codes as [`StreamError::Code`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{debug, info, warn};

use tickdesk_hub::secret::Secret;
use tickdesk_schwab_proto::fields::number;

/// Where and as whom to connect: `streamerInfo[0]` of `GET /trader/v1/userPreference`.
#[derive(Debug, Clone)]
pub struct StreamerInfo {
    pub socket_url: String,
    pub customer_id: Secret,
    pub correl_id: Secret,
    pub channel: String,
    pub function_id: String,
}

/// The acknowledgement of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub service: String,
    pub command: String,
    pub requestid: String,
    pub code: i64,
    pub msg: String,
}

/// One key's item in a `data` entry: the raw numbered fields (ids as strings, values as sent).
#[derive(Debug, Clone, PartialEq)]
pub struct DataItem {
    pub key: String,
    /// Present on a key's first item after (re)subscribing.
    pub delayed: Option<bool>,
    pub fields: Vec<(String, Value)>,
}

/// What the server sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Response(Response),
    /// `{"notify":[{"heartbeat":"<ms>"}]}`.
    Heartbeat(i64),
    /// An admin notice, e.g. code 30 "Stop streaming due to empty subscription" or code 12.
    Notice {
        service: String,
        code: i64,
        msg: String,
    },
    Data {
        service: String,
        timestamp: Option<i64>,
        items: Vec<DataItem>,
    },
}

/// Why a frame was skipped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameError {
    #[error("not JSON ({0})")]
    NotJson(String),
    #[error("not an object with response, notify or data")]
    UnknownShape,
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    v.and_then(number).map(|x| x as i64)
}

/// Parses one text frame. Returns what could be understood and the number of entries skipped.
pub fn parse_frame(frame: &str) -> Result<(Vec<Inbound>, usize), FrameError> {
    let v: Value = serde_json::from_str(frame).map_err(|e| FrameError::NotJson(e.to_string()))?;
    let obj = v.as_object().ok_or(FrameError::UnknownShape)?;
    if !["response", "notify", "data"]
        .iter()
        .any(|k| obj.contains_key(*k))
    {
        return Err(FrameError::UnknownShape);
    }
    let mut out = Vec::new();
    let mut skipped = 0;
    let entries = |k: &str| {
        obj.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for (k, n) in ["response", "notify", "data"]
        .iter()
        .map(|k| (*k, obj.get(*k)))
    {
        if n.is_some_and(|n| !n.is_array()) {
            warn!(key = k, "Schwab frame: `{k}` is not an array; skipped");
            skipped += 1;
        }
    }
    for r in entries("response") {
        let content = r.get("content");
        match (
            text(r.get("requestid")),
            content.and_then(|c| int(c.get("code"))),
        ) {
            (Some(requestid), Some(code)) => out.push(Inbound::Response(Response {
                service: text(r.get("service")).unwrap_or_default(),
                command: text(r.get("command")).unwrap_or_default(),
                requestid,
                code,
                msg: text(content.and_then(|c| c.get("msg"))).unwrap_or_default(),
            })),
            _ => skipped += 1,
        }
    }
    for n in entries("notify") {
        if let Some(ms) = int(n.get("heartbeat")) {
            out.push(Inbound::Heartbeat(ms));
        } else if let Some(code) = n.get("content").and_then(|c| int(c.get("code"))) {
            out.push(Inbound::Notice {
                service: text(n.get("service")).unwrap_or_default(),
                code,
                msg: text(n.get("content").and_then(|c| c.get("msg"))).unwrap_or_default(),
            });
        } else {
            skipped += 1;
        }
    }
    for d in entries("data") {
        let (Some(service), Some(content)) = (
            text(d.get("service")),
            d.get("content").and_then(Value::as_array),
        ) else {
            skipped += 1;
            continue;
        };
        let mut items = Vec::with_capacity(content.len());
        for item in content {
            let Some(obj) = item.as_object() else {
                skipped += 1;
                continue;
            };
            let Some(key) = obj.get("key").and_then(Value::as_str) else {
                skipped += 1;
                continue;
            };
            items.push(DataItem {
                key: key.to_string(),
                delayed: obj.get("delayed").and_then(Value::as_bool),
                fields: obj
                    .iter()
                    .filter(|(k, _)| k.bytes().all(|b| b.is_ascii_digit()) && !k.is_empty())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            });
        }
        out.push(Inbound::Data {
            service,
            timestamp: int(d.get("timestamp")),
            items,
        });
    }
    Ok((out, skipped))
}

/// Why the session cannot go on (or a command failed).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StreamError {
    #[error("cannot connect to the Schwab streamer: {0}")]
    Connect(String),
    #[error("the Schwab streamer closed the connection: {0}")]
    Closed(String),
    #[error("no answer from the Schwab streamer to {0} in time")]
    Timeout(String),
    /// A response or notice with a non-zero code.
    #[error("Schwab streamer code {code} on {context}: {msg}")]
    Code {
        code: i64,
        msg: String,
        context: String,
    },
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A connected streamer socket.
#[derive(Debug)]
pub struct Session {
    ws: Ws,
    info: StreamerInfo,
    next_id: u64,
    pending: VecDeque<Inbound>,
    last_rx: Instant,
    command_timeout: Duration,
    /// Frames skipped as malformed since connecting.
    pub malformed: u64,
}

impl Session {
    /// Opens the websocket (no LOGIN yet).
    pub async fn connect(info: &StreamerInfo, timeout: Duration) -> Result<Session, StreamError> {
        let url = info.socket_url.clone();
        let (ws, _) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url.as_str()))
            .await
            .map_err(|_| StreamError::Connect(format!("{url}: timed out")))?
            .map_err(|e| StreamError::Connect(format!("{url}: {e}")))?;
        debug!(url = %url, "Schwab streamer socket open");
        Ok(Session {
            ws,
            info: info.clone(),
            next_id: 0,
            pending: VecDeque::new(),
            last_rx: Instant::now(),
            command_timeout: timeout,
            malformed: 0,
        })
    }

    /// When anything (data, heartbeat, pong) last arrived.
    pub fn last_rx(&self) -> Instant {
        self.last_rx
    }

    /// LOGIN with the raw access token (no "Bearer "). Returns the server's message (`server=…;status=NP`).
    pub async fn login(&mut self, access_token: &Secret) -> Result<String, StreamError> {
        let params = json!({
            "Authorization": access_token.expose(),
            "SchwabClientChannel": self.info.channel,
            "SchwabClientFunctionId": self.info.function_id,
        });
        let r = self.request("ADMIN", "LOGIN", params).await?;
        Ok(r.msg)
    }

    /// SUBS, ADD or UNSUBS of `keys` (UNSUBS sends no fields).
    pub async fn subscription(
        &mut self,
        command: &str,
        service: &str,
        keys: &[String],
        fields: &str,
    ) -> Result<Response, StreamError> {
        let params = if command == "UNSUBS" {
            json!({ "keys": keys.join(",") })
        } else {
            json!({ "keys": keys.join(","), "fields": fields })
        };
        self.request(service, command, params).await
    }

    /// VIEW: changes the fields of every key of a service.
    pub async fn view(&mut self, service: &str, fields: &str) -> Result<Response, StreamError> {
        self.request(service, "VIEW", json!({ "fields": fields }))
            .await
    }

    /// LOGOUT, politely, before closing (best effort, short wait).
    pub async fn logout(mut self) {
        self.command_timeout = self.command_timeout.min(Duration::from_secs(1));
        let _ = self.request("ADMIN", "LOGOUT", json!({})).await;
        let _ = self.ws.close(None).await;
    }

    /// A websocket ping: its pong counts as a sign of life.
    pub async fn ping(&mut self) -> Result<(), StreamError> {
        self.ws
            .send(Message::Ping(Vec::new().into()))
            .await
            .map_err(|e| StreamError::Closed(e.to_string()))
    }

    /// Sends one request and waits for its response. A non-zero code is an error; so is a notice with a code (30,
    /// 12…) arriving meanwhile. Everything else read while waiting is queued for [`Session::next`].
    pub async fn request(
        &mut self,
        service: &str,
        command: &str,
        params: Value,
    ) -> Result<Response, StreamError> {
        let requestid = self.next_id.to_string();
        self.next_id += 1;
        let frame = json!({"requests": [{
            "requestid": requestid,
            "service": service,
            "command": command,
            "SchwabClientCustomerId": self.info.customer_id.expose(),
            "SchwabClientCorrelId": self.info.correl_id.expose(),
            "parameters": params,
        }]});
        let context = format!("{command} {service}");
        debug!(requestid = %requestid, %context, "Schwab streamer request");
        self.ws
            .send(Message::Text(frame.to_string().into()))
            .await
            .map_err(|e| StreamError::Closed(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + self.command_timeout;
        let mut queued = VecDeque::new();
        let result = loop {
            let batch = match tokio::time::timeout_at(deadline, self.read_batch()).await {
                Err(_) => break Err(StreamError::Timeout(context.clone())),
                Ok(Err(e)) => break Err(e),
                Ok(Ok(b)) => b,
            };
            let mut found = None;
            for ev in batch {
                match ev {
                    Inbound::Response(r) if r.requestid == requestid && found.is_none() => {
                        found = Some(r)
                    }
                    Inbound::Notice { code, msg, .. } if code != 0 && found.is_none() => {
                        found = Some(Response {
                            service: service.to_string(),
                            command: command.to_string(),
                            requestid: requestid.clone(),
                            code,
                            msg,
                        })
                    }
                    other => queued.push_back(other),
                }
            }
            if let Some(r) = found {
                break if r.code == 0 {
                    Ok(r)
                } else {
                    Err(StreamError::Code {
                        code: r.code,
                        msg: r.msg,
                        context: context.clone(),
                    })
                };
            }
        };
        self.pending.extend(queued);
        result
    }

    /// Why the session really ended, given the error that surfaced: a failed write (a ping, a command) can come
    /// before the notice that explains it (code 12, 30) has been read. Reads what is left for a moment and
    /// returns the first notice or refused response with a code, else `e` itself.
    pub async fn explain(mut self, e: StreamError) -> StreamError {
        if matches!(e, StreamError::Code { .. }) {
            return e;
        }
        let coded = |ev: &Inbound| match ev {
            Inbound::Notice { code, msg, service } if *code != 0 => Some(StreamError::Code {
                code: *code,
                msg: msg.clone(),
                context: format!("a {service} notice"),
            }),
            _ => None,
        };
        if let Some(found) = self.pending.iter().find_map(coded) {
            return found;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(250);
        while let Ok(Ok(batch)) = tokio::time::timeout_at(deadline, self.read_batch()).await {
            if let Some(found) = batch.iter().find_map(coded) {
                return found;
            }
        }
        e
    }

    /// The next thing the server sent. Cancel-safe: a frame is parsed only once it has been read whole.
    pub async fn next(&mut self) -> Result<Inbound, StreamError> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Ok(ev);
            }
            let batch = self.read_batch().await?;
            self.pending.extend(batch);
        }
    }

    /// Reads one websocket message and parses it; malformed frames give an empty batch (logged).
    async fn read_batch(&mut self) -> Result<Vec<Inbound>, StreamError> {
        let msg = match self.ws.next().await {
            None => return Err(StreamError::Closed("end of stream".into())),
            Some(Err(e)) => return Err(StreamError::Closed(e.to_string())),
            Some(Ok(m)) => m,
        };
        self.last_rx = Instant::now();
        match msg {
            Message::Text(t) => match parse_frame(t.as_str()) {
                Ok((batch, skipped)) => {
                    if skipped > 0 {
                        self.malformed += 1;
                        warn!(skipped, "Schwab streamer frame had entries that could not be read; skipped them");
                    }
                    Ok(batch)
                }
                Err(e) => {
                    self.malformed += 1;
                    warn!(error = %e, bytes = t.len(), "malformed Schwab streamer frame skipped");
                    Ok(Vec::new())
                }
            },
            Message::Close(frame) => {
                let why = frame.map_or_else(
                    || "no reason given".to_string(),
                    |f| format!("{} {}", f.code, f.reason),
                );
                info!(reason = %why, "Schwab streamer sent a close frame");
                Err(StreamError::Closed(why))
            }
            Message::Binary(b) => {
                self.malformed += 1;
                warn!(
                    bytes = b.len(),
                    "binary frame from the Schwab streamer skipped"
                );
                Ok(Vec::new())
            }
            // Pings are answered by tungstenite; pongs only prove the link is alive.
            _ => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_responses_heartbeats_notices_and_data_as_captured() {
        let (ev, skipped) = parse_frame(
            r#"{"response":[{"service":"ADMIN","command":"LOGIN","requestid":"1","SchwabClientCorrelId":"60b4c643",
              "timestamp":1755118704102,"content":{"code":0,"msg":"server=s3081dc7-2;status=NP"}}]}"#,
        )
        .unwrap();
        assert_eq!(skipped, 0);
        assert_eq!(
            ev,
            vec![Inbound::Response(Response {
                service: "ADMIN".into(),
                command: "LOGIN".into(),
                requestid: "1".into(),
                code: 0,
                msg: "server=s3081dc7-2;status=NP".into()
            })]
        );
        let (ev, _) = parse_frame(r#"{"notify":[{"heartbeat":"1755118704127"}]}"#).unwrap();
        assert_eq!(ev, vec![Inbound::Heartbeat(1_755_118_704_127)]);
        let (ev, _) = parse_frame(
            r#"{"notify":[{"service":"ADMIN","timestamp":1718801330575,"content":{"code":30,"msg":"Stop streaming due to empty subscription"}}]}"#,
        )
        .unwrap();
        assert!(matches!(&ev[0], Inbound::Notice { code: 30, msg, .. } if msg.contains("empty")));
        let (ev, _) = parse_frame(
            r#"{"data":[{"service":"LEVELONE_EQUITIES","timestamp":1755118704147,"command":"SUBS","content":[
              {"key":"AAPL","delayed":false,"assetMainType":"EQUITY","assetSubType":"COE","cusip":"037833100",
               "1":233.22,"2":233.33,"3":233.3,"4":1,"5":3,"8":69783235,"10":235}]}]}"#,
        )
        .unwrap();
        let Inbound::Data {
            service,
            timestamp,
            items,
        } = &ev[0]
        else {
            panic!("data expected")
        };
        assert_eq!(
            (service.as_str(), *timestamp),
            ("LEVELONE_EQUITIES", Some(1_755_118_704_147))
        );
        assert_eq!(items[0].key, "AAPL");
        assert_eq!(items[0].delayed, Some(false));
        assert_eq!(
            items[0].fields.len(),
            7,
            "only numbered fields: {:?}",
            items[0].fields
        );
    }

    #[test]
    fn odd_but_valid_shapes_are_read_and_junk_is_skipped_not_fatal() {
        // Numeric requestid and heartbeat, several kinds in one frame, a response without content.
        let (ev, skipped) = parse_frame(
            r#"{"response":[{"requestid":7,"content":{"code":"19","msg":"limit"}},{"requestid":"8"}],
               "notify":[{"heartbeat":1700000000000},{"odd":true}],
               "data":[{"service":"LEVELONE_OPTIONS","content":[{"key":"AAPL  241018C00230000","3":2.3},{"nokey":1},7]},
                       {"content":[]}],
               "extra":{"ignored":true}}"#,
        )
        .unwrap();
        assert_eq!(skipped, 5, "{ev:?}");
        assert!(matches!(&ev[0], Inbound::Response(r) if r.requestid == "7" && r.code == 19));
        assert_eq!(ev[1], Inbound::Heartbeat(1_700_000_000_000));
        assert!(
            matches!(&ev[2], Inbound::Data { items, .. } if items.len() == 1 && items[0].fields.len() == 1)
        );
        assert!(matches!(
            parse_frame("not json"),
            Err(FrameError::NotJson(_))
        ));
        assert_eq!(parse_frame("[1,2]"), Err(FrameError::UnknownShape));
        assert_eq!(parse_frame(r#"{"hello":1}"#), Err(FrameError::UnknownShape));
        let (ev, skipped) = parse_frame(r#"{"data":{"not":"an array"}}"#).unwrap();
        assert!(ev.is_empty() && skipped == 1);
    }
}
