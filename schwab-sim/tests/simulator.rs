//! The built-in Schwab simulator over real loopback sockets: OAuth and REST with reqwest, the streamer with
//! tokio-tungstenite, and every fault. Each test starts its own simulator on 127.0.0.1:0 with short timers.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tickdesk_market::{Clock, Date};
use tickdesk_schwab_sim::SimOptions;
use tickdesk_testkit::{eventually, http, in_session, SchwabSim as Sim};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const WAIT: Duration = Duration::from_secs(5);

/// A market clock in a regular session, a seed, fast ticks.
fn opts() -> SimOptions {
    SimOptions {
        clock: in_session(),
        seed: Some(42),
        tick_ms: 50,
        ..SimOptions::default()
    }
}

/// Exchanges a code for tokens at the simulator's token endpoint: (access, refresh).
async fn tokens(sim: &Sim) -> (String, String) {
    let r = http()
        .post(sim.url("/v1/oauth/token"))
        .basic_auth("app-key", Some("app-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "whatever"),
            ("redirect_uri", "https://127.0.0.1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    (
        t["access_token"].as_str().unwrap().into(),
        t["refresh_token"].as_str().unwrap().into(),
    )
}

async fn get(sim: &Sim, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = http().get(sim.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// What the socket delivered.
#[derive(Debug)]
enum Got {
    Json(Value),
    Text(String),
    Close(Option<u16>),
    /// The stream ended without a close frame.
    Ended,
    Timeout,
}

struct Stream {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    correl: String,
    customer: String,
}

impl Stream {
    async fn connect(sim: &Sim) -> Stream {
        let (ws, _) = tokio_tungstenite::connect_async(sim.handle.ws_url())
            .await
            .unwrap();
        Stream {
            ws,
            next_id: 0,
            correl: "correl-1".into(),
            customer: "customer-1".into(),
        }
    }

    async fn recv(&mut self, within: Duration) -> Got {
        loop {
            match tokio::time::timeout(within, self.ws.next()).await {
                Err(_) => return Got::Timeout,
                Ok(None) | Ok(Some(Err(_))) => return Got::Ended,
                Ok(Some(Ok(Message::Text(t)))) => {
                    return match serde_json::from_str(t.as_str()) {
                        Ok(v) => Got::Json(v),
                        Err(_) => Got::Text(t.to_string()),
                    }
                }
                Ok(Some(Ok(Message::Close(f)))) => return Got::Close(f.map(|f| u16::from(f.code))),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The next JSON frame that is not a heartbeat.
    async fn next_json(&mut self) -> Value {
        loop {
            match self.recv(WAIT).await {
                Got::Json(v) if is_heartbeat(&v) => continue,
                Got::Json(v) => return v,
                other => panic!("expected a JSON frame, got {other:?}"),
            }
        }
    }

    /// The next frame, which must be `data` (heartbeats skipped).
    async fn next_data(&mut self) -> Value {
        let v = self.next_json().await;
        assert!(v.get("data").is_some(), "expected data, got {v}");
        v
    }

    async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    async fn request(&mut self, service: &str, command: &str, parameters: Value) -> String {
        let id = self.next_id.to_string();
        self.next_id += 1;
        let req = json!({"requests": [{
            "service": service, "command": command, "requestid": id,
            "SchwabClientCustomerId": self.customer, "SchwabClientCorrelId": self.correl,
            "parameters": parameters,
        }]});
        self.send_raw(&req.to_string()).await;
        id
    }

    /// Sends a command and returns its response entry (data frames before it are skipped).
    async fn command(&mut self, service: &str, command: &str, parameters: Value) -> Value {
        let id = self.request(service, command, parameters).await;
        loop {
            let v = self.next_json().await;
            if let Some(r) = v.get("response") {
                let r = r[0].clone();
                assert_eq!(r["requestid"], json!(id), "requestid is echoed as a string");
                return r;
            }
        }
    }

    async fn login(&mut self, token: &str) -> Value {
        self.command(
            "ADMIN",
            "LOGIN",
            json!({"Authorization": token, "SchwabClientChannel": "N9", "SchwabClientFunctionId": "APIAPP"}),
        )
        .await
    }

    /// Waits for the socket to close, skipping other frames; returns the close code (None: dropped).
    async fn closed(&mut self) -> Option<u16> {
        loop {
            match self.recv(WAIT).await {
                Got::Close(c) => return c,
                Got::Ended => return None,
                Got::Timeout => panic!("socket did not close"),
                _ => continue,
            }
        }
    }
}

fn is_heartbeat(v: &Value) -> bool {
    v["notify"][0].get("heartbeat").is_some()
}

fn code(r: &Value) -> i64 {
    r["content"]["code"].as_i64().unwrap()
}

/// Keys of the items in a data frame.
fn items(frame: &Value) -> Vec<Value> {
    frame["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["content"].as_array().unwrap().clone())
        .collect()
}

/// A few near-the-money AAPL option symbols from the market.
fn option_keys(sim: &Sim, n: usize) -> Vec<String> {
    sim.handle.with_market(|m| {
        let spot = m.underlying("AAPL").unwrap().spot;
        let mut cs: Vec<_> = m
            .contracts
            .iter()
            .filter(|c| c.root == "AAPL" && c.dte(m.today) > 2)
            .collect();
        cs.sort_by(|a, b| (a.strike - spot).abs().total_cmp(&(b.strike - spot).abs()));
        cs.iter().take(n).map(|c| c.symbol.to_string()).collect()
    })
}

#[tokio::test]
async fn oauth_tokens_bearer_checks_and_authorize_redirect() {
    let sim = Sim::start(SimOptions {
        access_token_ttl: Duration::from_secs(1),
        ..opts()
    })
    .await;
    let client = http();
    // No Basic auth: invalid_client.
    let r = client
        .post(sim.url("/v1/oauth/token"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    // A code exchange.
    let r = client
        .post(sim.url("/v1/oauth/token"))
        .basic_auth("any-key", Some("any-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "C0.abc%40"),
            ("redirect_uri", "https://127.0.0.1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 1);
    let access = t["access_token"].as_str().unwrap().to_string();
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    assert!(access.starts_with("I0.") && access.ends_with('@'));
    assert!(t["id_token"].is_string() && t["scope"].is_string());
    // userPreference: the object form, streamer URL pointing back at the simulator.
    let (status, prefs) = get(&sim, "/trader/v1/userPreference", Some(&access)).await;
    assert_eq!(status, 200);
    let info = &prefs["streamerInfo"][0];
    assert_eq!(info["streamerSocketUrl"], json!(sim.handle.ws_url()));
    assert!(sim.handle.ws_url().starts_with("ws://127.0.0.1:"));
    assert_eq!(info["schwabClientChannel"], "N9");
    assert_eq!(info["schwabClientFunctionId"], "APIAPP");
    assert!(info["schwabClientCustomerId"].is_string() && info["schwabClientCorrelId"].is_string());
    // Missing and foreign tokens: 401 with the gateway's fault.
    let (status, body) = get(&sim, "/trader/v1/userPreference", None).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["fault"]["detail"]["errorcode"],
        "keymanagement.service.invalid_access_token"
    );
    assert_eq!(
        get(
            &sim,
            "/marketdata/v1/chains?symbol=AAPL",
            Some("I0.forged.token@")
        )
        .await
        .0,
        401
    );
    // Expired (1 s lifetime here, by the wall clock): refused once its second is up.
    let (status, body) = eventually("the access token expires", 5, async || {
        let (status, body) = get(&sim, "/trader/v1/userPreference", Some(&access)).await;
        (status != 200).then_some((status, body))
    })
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        body["fault"]["detail"]["errorcode"],
        "keymanagement.service.access_token_expired"
    );
    // Refresh: a new access token, the same refresh token.
    let r = client
        .post(sim.url("/v1/oauth/token"))
        .basic_auth("any-key", Some("any-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t2: Value = r.json().await.unwrap();
    assert_eq!(t2["refresh_token"], json!(refresh));
    assert_ne!(t2["access_token"], json!(access));
    assert_eq!(
        get(
            &sim,
            "/trader/v1/userPreference",
            t2["access_token"].as_str()
        )
        .await
        .0,
        200
    );
    let r = client
        .post(sim.url("/v1/oauth/token"))
        .basic_auth("any-key", Some("any-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "R0.unknown@"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    // The authorize page redirects straight to the callback with a code (and the state).
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .get(sim.url(
            "/v1/oauth/authorize?client_id=k&redirect_uri=https%3A%2F%2F127.0.0.1%3A8182&state=s1",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(loc.host_str(), Some("127.0.0.1"));
    let q: std::collections::HashMap<String, String> = loc.query_pairs().into_owned().collect();
    assert!(q["code"].starts_with("C0.") && q["code"].ends_with('@'));
    assert_eq!(q["state"], "s1");
    assert!(q.contains_key("session"));
    let state: Value = get(&sim, "/sim/state", None).await.1;
    assert_eq!(
        (
            state["tokens_issued"].as_u64(),
            state["tokens_refreshed"].as_u64()
        ),
        (Some(1), Some(1))
    );
    sim.stop().await;
}

#[tokio::test]
async fn rest_market_data() {
    let sim = Sim::start(opts()).await;
    let (access, _) = tokens(&sim).await;
    let tok = Some(access.as_str());
    let (status, chain) = get(&sim, "/marketdata/v1/chains?symbol=AAPL&contractType=PUT&strikeCount=2&includeUnderlyingQuote=true", tok).await;
    assert_eq!(status, 200);
    assert_eq!(chain["status"], "SUCCESS");
    assert!(chain["callExpDateMap"].as_object().unwrap().is_empty());
    let puts = chain["putExpDateMap"].as_object().unwrap();
    let (exp, strikes) = puts.iter().next().unwrap();
    assert!(exp.contains(':'));
    assert_eq!(strikes.as_object().unwrap().len(), 4);
    let c = &strikes.as_object().unwrap().values().next().unwrap()[0];
    assert_eq!(c["putCall"], "PUT");
    assert_eq!(c["symbol"].as_str().unwrap().len(), 21);
    assert_eq!(chain["underlying"]["symbol"], "AAPL");
    // A full $SPX chain is too big for the gateway, as on the real service.
    let (status, body) = get(&sim, "/marketdata/v1/chains?symbol=%24SPX", tok).await;
    assert_eq!(status, 502);
    assert_eq!(
        body["fault"]["detail"]["errorcode"],
        "protocol.http.TooBigBody"
    );
    // 0DTE: fromDate = toDate = today, key "<today>:0".
    let today = sim.handle.with_market(|m| m.today.iso());
    let (status, spx) = get(
        &sim,
        &format!(
            "/marketdata/v1/chains?symbol=%24SPX&strikeCount=3&fromDate={today}&toDate={today}"
        ),
        tok,
    )
    .await;
    assert_eq!(status, 200);
    let calls = spx["callExpDateMap"].as_object().unwrap();
    assert_eq!(
        calls.keys().collect::<Vec<_>>(),
        vec![&format!("{today}:0")]
    );
    let first = calls
        .values()
        .next()
        .unwrap()
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    assert_eq!(first[0]["optionRoot"], "SPXW");
    assert_eq!(
        get(
            &sim,
            "/marketdata/v1/chains?symbol=SPY&fromDate=2025/01/01",
            tok
        )
        .await
        .0,
        400
    );
    assert_eq!(get(&sim, "/marketdata/v1/chains", tok).await.0, 400);
    let (_, exps) = get(&sim, "/marketdata/v1/expirationchain?symbol=SPY", tok).await;
    assert_eq!(exps["expirationList"][0]["daysToExpiration"], 0);
    let opt = option_keys(&sim, 1).remove(0);
    let enc = opt.replace(' ', "%20");
    let (status, q) = get(
        &sim,
        &format!("/marketdata/v1/quotes?symbols=AAPL,{enc},ZZZZ&fields=quote,reference"),
        tok,
    )
    .await;
    assert_eq!(status, 200);
    assert!(q["AAPL"]["quote"]["lastPrice"].as_f64().unwrap() > 0.0);
    assert_eq!(q[&opt]["assetMainType"], "OPTION");
    assert_eq!(q["errors"]["invalidSymbols"], json!(["ZZZZ"]));
    let (_, one) = get(&sim, "/marketdata/v1/%24SPX/quotes", tok).await;
    assert_eq!(one["$SPX"]["assetMainType"], "INDEX");
    let (status, h) = get(&sim, "/marketdata/v1/pricehistory?symbol=AAPL&periodType=day&period=1&frequencyType=minute&frequency=5", tok).await;
    assert_eq!(status, 200);
    assert!(!h["candles"].as_array().unwrap().is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn login_ok_with_heartbeat_and_denied_with_code_3() {
    let sim = Sim::start(SimOptions {
        heartbeat: Duration::from_millis(200),
        ..opts()
    })
    .await;
    let (access, _) = tokens(&sim).await;
    let mut s = Stream::connect(&sim).await;
    let r = s.login(&access).await;
    assert_eq!(code(&r), 0);
    assert_eq!(r["service"], "ADMIN");
    assert_eq!(r["command"], "LOGIN");
    assert_eq!(r["SchwabClientCorrelId"], "correl-1");
    assert!(r["timestamp"].is_i64());
    let msg = r["content"]["msg"].as_str().unwrap();
    assert!(
        msg.starts_with("server=") && msg.ends_with(";status=NP"),
        "{msg}"
    );
    // A heartbeat right after login, then periodically, as a string of epoch ms.
    let mut beats = 0;
    let t0 = Instant::now();
    while beats < 3 {
        match s.recv(WAIT).await {
            Got::Json(v) if is_heartbeat(&v) => {
                assert!(
                    v["notify"][0]["heartbeat"]
                        .as_str()
                        .unwrap()
                        .parse::<i64>()
                        .unwrap()
                        > 0
                );
                beats += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(t0.elapsed() >= Duration::from_millis(350));
    assert_eq!(sim.handle.logins(), 1);
    // A forged token: code 3, then the socket closes.
    let mut bad = Stream::connect(&sim).await;
    let r = bad.login("I0.forged.token@").await;
    assert_eq!(code(&r), 3);
    assert_eq!(
        r["content"]["msg"],
        "Login Denied.: token is invalid or has expired."
    );
    assert!(bad.closed().await.is_some());
    // The deny-next-login fault refuses a good token once.
    let (status, _) = {
        let r = http()
            .post(sim.url("/sim/faults/deny-next-login"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 200);
    let mut denied = Stream::connect(&sim).await;
    assert_eq!(code(&denied.login(&access).await), 3);
    let mut again = Stream::connect(&sim).await;
    assert_eq!(code(&again.login(&access).await), 0);
    let state: Value = get(&sim, "/sim/state", None).await.1;
    assert_eq!(state["login_denials"], 2);
    assert_eq!(state["logins"], 2);
    sim.stop().await;
}

#[tokio::test]
async fn commands_before_login_malformed_requests_and_unknown_services() {
    let sim = Sim::start(opts()).await;
    let (access, _) = tokens(&sim).await;
    let mut s = Stream::connect(&sim).await;
    let r = s
        .command(
            "LEVELONE_EQUITIES",
            "SUBS",
            json!({"keys": "AAPL", "fields": "0,1"}),
        )
        .await;
    assert_eq!(code(&r), 20);
    assert_eq!(r["service"], "LEVELONE_EQUITIES");
    // Not the {"requests":[...]} envelope: code 21; the socket stays usable.
    s.send_raw("this is not json").await;
    assert_eq!(code(&s.next_json().await["response"][0]), 21);
    s.send_raw(r#"{"service":"ADMIN","command":"LOGIN"}"#).await;
    assert_eq!(code(&s.next_json().await["response"][0]), 21);
    assert_eq!(code(&s.login(&access).await), 0);
    // Numeric request ids come back as strings.
    s.send_raw(r#"{"requests":[{"service":"LEVELONE_EQUITIES","command":"SUBS","requestid":7,"parameters":{"keys":"AAPL","fields":"0,3"}}]}"#)
        .await;
    let r = s.next_json().await;
    assert_eq!(r["response"][0]["requestid"], "7");
    assert_eq!(code(&r["response"][0]), 0);
    // TDA-era services are not available.
    assert_eq!(
        code(
            &s.command("TIMESALE_EQUITY", "SUBS", json!({"keys": "AAPL"}))
                .await
        ),
        11
    );
    assert_eq!(
        code(
            &s.command("LEVELONE_EQUITIES", "SUBS", json!({"fields": "0,1"}))
                .await
        ),
        21
    );
    assert_eq!(
        code(
            &s.command("LEVELONE_EQUITIES", "FROB", json!({"keys": "AAPL"}))
                .await
        ),
        21
    );
    // Changing the correl id after login: code 20.
    s.correl = "someone-else".into();
    assert_eq!(
        code(
            &s.command("LEVELONE_EQUITIES", "ADD", json!({"keys": "SPY"}))
                .await
        ),
        20
    );
    sim.stop().await;
}

#[tokio::test]
async fn subs_sends_a_full_first_item_then_changed_fields_only() {
    let sim = Sim::start(opts()).await;
    let (access, _) = tokens(&sim).await;
    let keys = option_keys(&sim, 2);
    let mut s = Stream::connect(&sim).await;
    assert_eq!(code(&s.login(&access).await), 0);
    let fields = "0,1,2,3,4,8,9,10,28,29,30,31,32,35,38";
    let r = s
        .command(
            "LEVELONE_OPTIONS",
            "SUBS",
            json!({"keys": keys.join(","), "fields": fields}),
        )
        .await;
    assert_eq!(code(&r), 0);
    assert_eq!(r["content"]["msg"], "SUBS command succeeded");
    let first = s.next_data().await;
    let d = &first["data"][0];
    assert_eq!(d["service"], "LEVELONE_OPTIONS");
    assert_eq!(d["command"], "SUBS");
    assert!(d["timestamp"].is_i64());
    let got = items(&first);
    assert_eq!(got.len(), 2);
    for item in &got {
        assert!(keys.contains(&item["key"].as_str().unwrap().to_string()));
        assert_eq!(item["delayed"], false);
        assert_eq!(item["assetMainType"], "OPTION");
        assert!(item.get("0").is_none(), "field 0 is never sent");
        for f in [
            "1", "2", "3", "4", "8", "9", "10", "28", "29", "30", "31", "32", "35", "38",
        ] {
            assert!(item.get(f).is_some(), "first item lacks field {f}: {item}");
        }
        assert!(item.get("5").is_none(), "unsubscribed field");
        assert!(item["1"].as_str().unwrap().starts_with("AAPL "));
        assert!(item["8"].is_i64() && item["9"].is_i64() && item["2"].is_f64());
    }
    // Later items: only changed fields, no extras, never the static description; several arrive.
    let mut later = 0;
    let deadline = Instant::now() + WAIT;
    while later < 3 && Instant::now() < deadline {
        let f = s.next_data().await;
        for item in items(&f) {
            assert!(
                item.get("1").is_none() && item.get("assetMainType").is_none(),
                "{item}"
            );
            assert!(
                item.as_object().unwrap().len() >= 2,
                "an item with nothing changed: {item}"
            );
            later += 1;
        }
    }
    assert!(later >= 3);
    assert_eq!(sim.handle.subscriptions()["LEVELONE_OPTIONS"].len(), 2);
    // A SUBS again replaces the list and re-snapshots the kept key.
    s.command(
        "LEVELONE_OPTIONS",
        "SUBS",
        json!({"keys": keys[0].clone(), "fields": fields}),
    )
    .await;
    let again = items(&s.next_data().await);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["key"], json!(keys[0]));
    assert!(again[0].get("1").is_some() && again[0].get("assetMainType").is_some());
    assert_eq!(
        sim.handle.subscriptions()["LEVELONE_OPTIONS"],
        vec![keys[0].clone()]
    );
    sim.stop().await;
}

#[tokio::test]
async fn add_unsubs_and_view() {
    let sim = Sim::start(opts()).await;
    let (access, _) = tokens(&sim).await;
    let mut s = Stream::connect(&sim).await;
    assert_eq!(code(&s.login(&access).await), 0);
    // ADD as the first subscription; equities' first items carry assetSubType and cusip.
    let r = s
        .command(
            "LEVELONE_EQUITIES",
            "ADD",
            json!({"keys": "AAPL", "fields": "0,1,2,3,8"}),
        )
        .await;
    assert_eq!(r["content"]["msg"], "ADD command succeeded");
    let f = s.next_data().await;
    assert_eq!(
        f["data"][0]["command"], "SUBS",
        "data frames always say SUBS"
    );
    let aapl = &items(&f)[0];
    assert_eq!(aapl["key"], "AAPL");
    assert_eq!(aapl["assetMainType"], "EQUITY");
    assert_eq!(aapl["assetSubType"], "COE");
    assert_eq!(aapl["cusip"], "037833100");
    assert!(aapl.get("3").is_some() && aapl.get("10").is_none());
    // ADD appends; only the new key gets a first item.
    s.command(
        "LEVELONE_EQUITIES",
        "ADD",
        json!({"keys": "SPY,AAPL", "fields": "0,10"}),
    )
    .await;
    loop {
        let f = s.next_data().await;
        let firsts: Vec<_> = items(&f)
            .into_iter()
            .filter(|i| i.get("assetMainType").is_some())
            .collect();
        if firsts.is_empty() {
            continue;
        }
        assert_eq!(firsts.len(), 1);
        assert_eq!(firsts[0]["key"], "SPY");
        assert_eq!(firsts[0]["assetSubType"], "ETF");
        assert!(
            firsts[0].get("10").is_none(),
            "fields on a later ADD are ignored"
        );
        break;
    }
    assert_eq!(
        sim.handle.subscriptions()["LEVELONE_EQUITIES"],
        vec!["AAPL", "SPY"]
    );
    // UNSUBS removes.
    let r = s
        .command("LEVELONE_EQUITIES", "UNSUBS", json!({"keys": "AAPL"}))
        .await;
    assert_eq!(r["content"]["msg"], "UNSUBS command succeeded");
    assert_eq!(sim.handle.subscriptions()["LEVELONE_EQUITIES"], vec!["SPY"]);
    // VIEW changes the fields of every key: SPY gets a fresh item with just field 3 (+ extras), then only "3".
    let r = s
        .command("LEVELONE_EQUITIES", "VIEW", json!({"fields": "0,3"}))
        .await;
    assert_eq!(r["content"]["msg"], "VIEW command succeeded");
    let mut saw_full = false;
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let f = s.next_data().await;
        for item in items(&f) {
            assert_eq!(item["key"], "SPY", "data for an unsubscribed key: {item}");
            let numeric: Vec<&String> = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| k.parse::<u16>().is_ok())
                .collect();
            assert!(numeric.iter().all(|k| *k == "3"), "{item}");
            if item.get("assetMainType").is_some() {
                saw_full = true;
            }
        }
        if saw_full {
            break;
        }
    }
    assert!(saw_full);
    sim.stop().await;
}

#[tokio::test]
async fn key_cap_gives_code_19() {
    let sim = Sim::start(SimOptions {
        key_cap: 3,
        ..opts()
    })
    .await;
    // Tokens straight from the handle, as an embedding relay may take them.
    let access = sim.handle.issue_tokens().access_token;
    let mut s = Stream::connect(&sim).await;
    assert_eq!(code(&s.login(&access).await), 0);
    let keys = option_keys(&sim, 4);
    let r = s
        .command(
            "LEVELONE_OPTIONS",
            "SUBS",
            json!({"keys": keys.join(","), "fields": "0,2,3"}),
        )
        .await;
    assert_eq!(code(&r), 19);
    assert!(sim.handle.subscriptions().is_empty());
    assert_eq!(
        code(
            &s.command(
                "LEVELONE_OPTIONS",
                "SUBS",
                json!({"keys": keys[..2].join(","), "fields": "0,2"})
            )
            .await
        ),
        0
    );
    assert_eq!(
        code(
            &s.command("LEVELONE_EQUITIES", "ADD", json!({"keys": "AAPL,SPY"}))
                .await
        ),
        19
    );
    assert_eq!(
        code(
            &s.command("LEVELONE_EQUITIES", "ADD", json!({"keys": "AAPL"}))
                .await
        ),
        0
    );
    sim.stop().await;
}

#[tokio::test]
async fn idle_login_and_emptied_subscriptions_get_code_30() {
    let sim = Sim::start(SimOptions {
        idle_code30_after: Duration::from_millis(400),
        ..opts()
    })
    .await;
    let (access, _) = tokens(&sim).await;
    // Nothing subscribed after login.
    let mut s = Stream::connect(&sim).await;
    let t0 = Instant::now();
    assert_eq!(code(&s.login(&access).await), 0);
    let n = s.next_json().await;
    assert_eq!(n["notify"][0]["service"], "ADMIN");
    assert_eq!(code(&n["notify"][0]), 30);
    assert_eq!(
        n["notify"][0]["content"]["msg"],
        "Stop streaming due to empty subscription"
    );
    assert!(t0.elapsed() >= Duration::from_millis(350));
    assert!(s.closed().await.is_some());
    // A subscription keeps it open; unsubscribing everything starts the clock again.
    let mut s = Stream::connect(&sim).await;
    assert_eq!(code(&s.login(&access).await), 0);
    s.command(
        "LEVELONE_EQUITIES",
        "SUBS",
        json!({"keys": "SPY", "fields": "0,3"}),
    )
    .await;
    let until = Instant::now() + Duration::from_millis(800);
    while Instant::now() < until {
        let v = s.next_json().await;
        assert!(v.get("data").is_some(), "unexpected {v}");
    }
    s.command("LEVELONE_EQUITIES", "UNSUBS", json!({"keys": "SPY"}))
        .await;
    loop {
        let v = s.next_json().await;
        if v.get("notify").is_some() {
            assert_eq!(code(&v["notify"][0]), 30);
            break;
        }
    }
    assert!(s.closed().await.is_some());
    sim.stop().await;
}

#[tokio::test]
async fn second_login_kicks_the_first_with_code_12() {
    let sim = Sim::start(opts()).await;
    let (access, _) = tokens(&sim).await;
    let mut a = Stream::connect(&sim).await;
    assert_eq!(code(&a.login(&access).await), 0);
    let mut b = Stream::connect(&sim).await;
    assert_eq!(code(&b.login(&access).await), 0);
    let n = a.next_json().await;
    assert_eq!(code(&n["notify"][0]), 12);
    assert!(a.closed().await.is_some());
    assert_eq!(
        code(
            &b.command("LEVELONE_EQUITIES", "SUBS", json!({"keys": "AAPL"}))
                .await
        ),
        0
    );
    assert_eq!(sim.handle.connections_total(), 2);
    sim.stop().await;
    // With kick_newer, the newcomer is the one refused.
    let sim = Sim::start(SimOptions {
        kick_newer: true,
        ..opts()
    })
    .await;
    let (access, _) = tokens(&sim).await;
    let mut a = Stream::connect(&sim).await;
    assert_eq!(code(&a.login(&access).await), 0);
    let mut b = Stream::connect(&sim).await;
    assert_eq!(code(&b.login(&access).await), 12);
    assert!(b.closed().await.is_some());
    assert_eq!(
        code(
            &a.command("LEVELONE_EQUITIES", "SUBS", json!({"keys": "AAPL"}))
                .await
        ),
        0
    );
    sim.stop().await;
}

#[tokio::test]
async fn logout_succeeds_then_closes() {
    let sim = Sim::start(opts()).await;
    let (access, _) = tokens(&sim).await;
    let mut s = Stream::connect(&sim).await;
    assert_eq!(code(&s.login(&access).await), 0);
    let r = s.command("ADMIN", "LOGOUT", json!({})).await;
    assert_eq!(code(&r), 0);
    assert_eq!(r["content"]["msg"], "SUCCESS");
    assert_eq!(s.closed().await, Some(1000));
    sim.stop().await;
}

/// A logged-in socket streaming SPY every tick.
async fn streaming(sim: &Sim) -> Stream {
    let (access, _) = tokens(sim).await;
    let mut s = Stream::connect(sim).await;
    assert_eq!(code(&s.login(&access).await), 0);
    s.command(
        "LEVELONE_EQUITIES",
        "SUBS",
        json!({"keys": "SPY,AAPL", "fields": "0,1,2,3,34"}),
    )
    .await;
    s.next_data().await;
    s
}

#[tokio::test]
async fn faults_malformed_stall_drop_and_code30() {
    let sim = Sim::start(opts()).await;
    let client = http();
    // Malformed: one unparsable frame, then the stream goes on.
    let mut s = streaming(&sim).await;
    let r: Value = client
        .post(sim.url("/sim/faults/malformed"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["affected"], 1);
    loop {
        match s.recv(WAIT).await {
            Got::Text(t) => {
                assert!(serde_json::from_str::<Value>(&t).is_err());
                break;
            }
            Got::Json(_) => continue,
            other => panic!("{other:?}"),
        }
    }
    s.next_data().await;
    // Stall: silence for the duration, then data again.
    assert_eq!(sim.handle.stall(Duration::from_millis(600)), 1);
    // Frames already in flight may still arrive; measure the longest gap.
    let t0 = Instant::now();
    let mut longest = Duration::ZERO;
    let mut last = Instant::now();
    while t0.elapsed() < Duration::from_millis(1200) {
        match s.recv(WAIT).await {
            Got::Json(_) => {
                longest = longest.max(last.elapsed());
                last = Instant::now();
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        longest >= Duration::from_millis(500),
        "longest gap {longest:?}"
    );
    assert_eq!(
        client
            .post(sim.url("/sim/faults/stall"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    // Drop: the socket ends without a close frame.
    let r: Value = client
        .post(sim.url("/sim/faults/drop"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["affected"], 1);
    assert_eq!(s.closed().await, None);
    // Code 30 on demand: notify, then close.
    let mut s = streaming(&sim).await;
    let r: Value = client
        .post(sim.url("/sim/faults/code30"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["affected"], 1);
    loop {
        let v = s.next_json().await;
        if let Some(n) = v.get("notify") {
            assert_eq!(code(&n[0]), 30);
            break;
        }
    }
    assert!(s.closed().await.is_some());
    // The state endpoint counts it all, once the closed sockets are counted out.
    let state = eventually("no streamer socket open", 5, async || {
        let state: Value = get(&sim, "/sim/state", None).await.1;
        (state["connections_open"] == 0).then_some(state)
    })
    .await;
    assert_eq!(state["connections_total"], 2);
    assert_eq!(state["connections_open"], 0);
    assert_eq!(state["logins"], 2);
    assert!(state["data_frames"].as_u64().unwrap() > 5);
    assert!(state["underlyings"]["$SPX"].as_f64().unwrap() > 1000.0);
    assert!(state["subscriptions"].as_object().unwrap().is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn shutdown_closes_streamer_sockets_with_1001() {
    let sim = Sim::start(opts()).await;
    let mut s = streaming(&sim).await;
    let stop = tokio::spawn(sim.stop());
    assert_eq!(s.closed().await, Some(u16::from(CloseCode::Away)));
    stop.await.unwrap();
}

/// The listed expiries on a market day, from the simulator's REST `expirationchain`.
async fn listed_expiries(sim: &Sim, symbol: &str) -> Vec<(String, i64)> {
    let (access, _) = tokens(sim).await;
    let (status, exps) = get(
        sim,
        &format!("/marketdata/v1/expirationchain?symbol={symbol}"),
        Some(&access),
    )
    .await;
    assert_eq!(status, 200);
    exps["expirationList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["expirationDate"].as_str().unwrap()[..10].to_string(),
                e["daysToExpiration"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn no_0dte_on_a_holiday_and_expiries_move_off_it() {
    // Good Friday, 3 April 2026, 11:00 ET: the exchanges are closed.
    let sim = Sim::start(SimOptions {
        clock: Clock::starting_at(Date::from_ymd(2026, 4, 3).at_et(11, 0)),
        seed: Some(3),
        ..SimOptions::default()
    })
    .await;
    let spy = listed_expiries(&sim, "SPY").await;
    let dates: Vec<&str> = spy.iter().map(|(d, _)| d.as_str()).collect();
    assert!(
        !dates.contains(&"2026-04-03"),
        "no 0DTE on a holiday: {dates:?}"
    );
    // The next daily is Monday's; last week's Friday expiry moved to Thursday already passed.
    assert_eq!(dates.first(), Some(&"2026-04-06"), "{dates:?}");
    assert_eq!(spy[0].1, 3, "DTE counts calendar days");
    // A Friday that is a holiday lists its weekly on the Thursday before: Juneteenth 2026 (Friday 19 June) is the
    // June monthly, which expires on Thursday 18 June.
    let aapl = listed_expiries(&sim, "AAPL").await;
    let a: Vec<&str> = aapl.iter().map(|(d, _)| d.as_str()).collect();
    assert!(
        a.contains(&"2026-04-10") && a.contains(&"2026-04-17"),
        "{a:?}"
    );
    assert!(!a.contains(&"2026-06-19"), "{a:?}");
    assert!(
        a.contains(&"2026-06-18"),
        "the June monthly moved off Juneteenth: {a:?}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn prices_stand_still_while_the_market_is_closed() {
    // Saturday 5 December 2026, noon ET.
    let sim = Sim::start(SimOptions {
        clock: Clock::starting_at(Date::from_ymd(2026, 12, 5).at_et(12, 0)),
        seed: Some(3),
        tick_ms: 20,
        ..SimOptions::default()
    })
    .await;
    let spot = || {
        sim.handle
            .with_market(|m| m.underlying("SPY").unwrap().spot)
    };
    let before = spot();
    let ticks = |s: &Sim| s.handle.state().ticks;
    let t0 = ticks(&sim);
    // Wait for the market loop to tick a number of times (the loop runs; the market does not move).
    let deadline = Instant::now() + WAIT;
    while ticks(&sim) < t0 + 10 {
        assert!(Instant::now() < deadline, "the market loop ticks");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(spot(), before, "closed: quotes stand still");
    sim.stop().await;
}

/// The candles of a 1-minute pricehistory answer as (datetime, open, high, low, close, volume).
async fn minute_candles(
    sim: &Sim,
    token: &str,
    symbol: &str,
    from: i64,
    to: i64,
    extended: bool,
) -> Vec<(i64, f64, f64, f64, f64, i64)> {
    let path = format!(
        "/marketdata/v1/pricehistory?symbol={}&frequencyType=minute&frequency=1&startDate={from}&endDate={to}&needExtendedHoursData={extended}",
        symbol.replace('$', "%24")
    );
    let (status, body) = get(sim, &path, Some(token)).await;
    assert_eq!(status, 200, "{body}");
    body["candles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["datetime"].as_i64().unwrap(),
                c["open"].as_f64().unwrap(),
                c["high"].as_f64().unwrap(),
                c["low"].as_f64().unwrap(),
                c["close"].as_f64().unwrap(),
                c["volume"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn chart_equity_streams_each_completed_minute_as_pricehistory_has_it() {
    let wed = Date::from_ymd(2026, 12, 2);
    let clock = Clock::frozen(wed.at_et(10, 15) + 30_000);
    let sim = Sim::start(SimOptions {
        clock: clock.clone(),
        ..opts()
    })
    .await;
    let (access, _) = tokens(&sim).await;
    // History: both sessions' minutes, extended hours only when asked, ending at the current price.
    let from = wed.add_days(-1).at_et(0, 0);
    let now = clock.now_ms();
    let ext = minute_candles(&sim, &access, "$SPX", from, now, true).await;
    let reg = minute_candles(&sim, &access, "$SPX", from, now, false).await;
    assert_eq!(ext.first().unwrap().0, wed.add_days(-1).at_et(4, 0));
    assert_eq!(
        ext.last().unwrap().0,
        wed.at_et(10, 15),
        "the current minute"
    );
    assert_eq!(reg.first().unwrap().0, wed.add_days(-1).at_et(9, 30));
    assert_eq!(reg.len(), 390 + 46);
    assert!(
        reg.iter().all(|c| ext.contains(c)),
        "the same minutes either way"
    );
    let spx_last = sim
        .handle
        .with_market(|m| m.underlying("$SPX").unwrap().last);
    assert_eq!(ext.last().unwrap().4, spx_last);

    let mut s = Stream::connect(&sim).await;
    assert_eq!(code(&s.login(&access).await), 0);
    let r = s
        .command(
            "CHART_EQUITY",
            "SUBS",
            json!({"keys": "AAPL,$SPX", "fields": "0,1,2,3,4,5,6,7,8"}),
        )
        .await;
    assert_eq!(code(&r), 0);
    // Nothing for minutes completed before the subscription; then one item per key per completed minute.
    clock.advance_ms(20_000);
    clock.advance_ms(60_000);
    let mut got: Vec<Value> = Vec::new();
    let mut moved = false;
    while got.len() < 4 {
        let v = s.next_json().await;
        if v["data"][0]["service"] == "CHART_EQUITY" {
            got.extend(items(&v));
        }
        if got.len() == 2 && !moved {
            moved = true;
            clock.advance_ms(60_000);
        }
    }
    let minute = |i: i64| wed.at_et(10, 15 + i);
    let spx: Vec<&Value> = got.iter().filter(|i| i["key"] == "$SPX").collect();
    let times: Vec<i64> = spx.iter().map(|i| i["7"].as_i64().unwrap()).collect();
    assert_eq!(times, [minute(0), minute(1)]);
    let first = spx[0];
    // The wire's numbering: 1 sequence (minutes since 07:00 ET), 2-6 OHLCV, 7 chart time, 8 chart day; and seq.
    assert_eq!(first["1"], json!(195));
    assert_eq!(first["8"], json!(wed.day_number()));
    assert!(first["seq"].is_u64() && first.get("0").is_none());
    let seqs: Vec<u64> = got.iter().map(|i| i["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    // The streamed minutes are pricehistory's minutes.
    let hist = minute_candles(&sim, &access, "$SPX", minute(0), minute(1), false).await;
    let streamed: Vec<(i64, f64, f64, f64, f64, i64)> = spx
        .iter()
        .map(|i| {
            let f = |k: &str| i[k].as_f64().unwrap();
            (
                i["7"].as_i64().unwrap(),
                f("2"),
                f("3"),
                f("4"),
                f("5"),
                i["6"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(hist, streamed);
    // The bar before the walk started joins the synthetic past: its close is the first live bar's open.
    let before = minute_candles(&sim, &access, "$SPX", minute(-1), minute(-1), false).await;
    assert_eq!(before[0].4, streamed[0].1);
    // UNSUBS: no more charts.
    let r = s
        .command("CHART_EQUITY", "UNSUBS", json!({"keys": "AAPL,$SPX"}))
        .await;
    assert_eq!(code(&r), 0);
    sim.stop().await;
}

#[tokio::test]
async fn a_timed_drop_refuses_new_streamer_connections_until_it_ends() {
    let sim = Sim::start(opts()).await;
    let mut s = streaming(&sim).await;
    assert_eq!(
        sim.handle.drop_connections_for(Duration::from_millis(300)),
        1
    );
    assert_eq!(s.closed().await, None);
    let refused = tokio_tungstenite::connect_async(sim.handle.ws_url()).await;
    assert!(refused.is_err(), "refused during the outage");
    eventually("connections accepted again", 5, async || {
        tokio_tungstenite::connect_async(sim.handle.ws_url())
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    sim.stop().await;
}
