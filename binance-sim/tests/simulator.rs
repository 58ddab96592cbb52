//! The Binance simulator over real loopback sockets: the stream formats and requests, the duties it enforces
//! (5 messages a second, pongs, the age limit), the REST routes, and every fault. Each test starts its own
//! simulator on 127.0.0.1:0 with short timers.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tickdesk_binance_sim::SimOptions;
use tickdesk_testkit::{eventually, http, BinanceSim as Sim, Ws};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

fn fast() -> SimOptions {
    SimOptions {
        seed: Some(3),
        tick_ms: 20,
        ticker_every: Duration::from_millis(100),
        ..SimOptions::default()
    }
}

async fn get(sim: &Sim, path: &str) -> (u16, Value) {
    let r = http()
        .get(format!("{}{path}", sim.handle.base_url()))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn connect(sim: &Sim, path: &str) -> Ws {
    tokio_tungstenite::connect_async(format!("{}{path}", sim.handle.ws_url()))
        .await
        .expect("connect")
        .0
}

/// The next text message as JSON (pings are answered by tungstenite as it reads).
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("no error");
        if let Message::Text(t) = m {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

/// Reads until a message satisfies `pred`.
async fn until(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = next_json(ws).await;
        if pred(&v) {
            return v;
        }
    }
}

/// Reads until the connection ends; returns the close code, if a close frame came.
async fn closed(ws: &mut Ws) -> Option<u16> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("closed in time")
        {
            None | Some(Err(_)) => return None,
            Some(Ok(Message::Close(f))) => return f.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn combined_streams_carry_binance_payloads_wrapped_with_their_name() {
    let sim = Sim::start(fast()).await;
    let mut ws = connect(
        &sim,
        "/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker/btcusdt@ticker/btcusdt@miniTicker/btcusdt@kline_1m",
    )
    .await;
    for (stream, check) in [
        (
            "btcusdt@aggTrade",
            vec!["e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"],
        ),
        ("btcusdt@bookTicker", vec!["u", "s", "b", "B", "a", "A"]),
        (
            "btcusdt@ticker",
            vec!["e", "E", "s", "p", "P", "c", "o", "h", "l", "v", "q"],
        ),
        (
            "btcusdt@miniTicker",
            vec!["e", "E", "s", "c", "o", "h", "l", "v", "q"],
        ),
        ("btcusdt@kline_1m", vec!["e", "E", "s", "k"]),
    ] {
        let m = until(&mut ws, |v| v["stream"] == stream).await;
        for k in check {
            assert!(m["data"].get(k).is_some(), "{stream} lacks {k}: {m}");
        }
        if stream == "btcusdt@aggTrade" {
            assert!(m["data"]["p"].is_string(), "prices are decimal strings");
            assert_eq!(m["data"]["s"], "BTCUSDT");
        }
        if stream == "btcusdt@kline_1m" {
            assert_eq!(m["data"]["k"]["i"], "1m");
            assert!(m["data"]["k"]["x"].is_boolean());
        }
    }
}

#[tokio::test]
async fn raw_streams_answer_subscribe_unsubscribe_and_list() {
    let sim = Sim::start(fast()).await;
    let mut ws = connect(&sim, "/ws").await;
    ws.send(Message::Text(
        json!({"method": "SUBSCRIBE", "params": ["ethusdt@aggTrade"], "id": 1})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let ans = until(&mut ws, |v| v.get("id").is_some()).await;
    assert_eq!(ans, json!({"result": null, "id": 1}));
    let trade = until(&mut ws, |v| v["e"] == "aggTrade").await;
    assert_eq!(trade["s"], "ETHUSDT", "raw: the payload alone, no wrapper");
    ws.send(Message::Text(
        json!({"method": "LIST_SUBSCRIPTIONS", "id": 2})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let list = until(&mut ws, |v| v["id"] == 2).await;
    assert_eq!(list["result"], json!(["ethusdt@aggTrade"]));
    ws.send(Message::Text(
        json!({"method": "UNSUBSCRIBE", "params": ["ethusdt@aggTrade"], "id": 3})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(
        until(&mut ws, |v| v["id"] == 3).await,
        json!({"result": null, "id": 3})
    );
    ws.send(Message::Text(
        json!({"method": "SUBSCRIBE", "params": ["BTCUSDT@nonsense"], "id": 4})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let err = until(&mut ws, |v| v["id"] == 4).await;
    assert_eq!(err["error"]["code"], 2, "{err}");
    // A raw single stream by path.
    let mut one = connect(&sim, "/ws/solusdt@bookTicker").await;
    let b = next_json(&mut one).await;
    assert_eq!(b["s"], "SOLUSDT");
    assert!(b["u"].is_u64());
}

#[tokio::test]
async fn more_than_five_messages_in_a_second_close_the_connection() {
    let sim = Sim::start(fast()).await;
    let mut ws = connect(&sim, "/ws").await;
    for id in 0..6 {
        ws.send(Message::Text(
            json!({"method": "LIST_SUBSCRIPTIONS", "id": id})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    }
    assert_eq!(closed(&mut ws).await, Some(1008));
    assert_eq!(sim.handle.state().rate_limit_closes, 1);
    // Five are fine.
    let mut ok = connect(&sim, "/ws").await;
    for id in 0..5 {
        ok.send(Message::Text(
            json!({"method": "LIST_SUBSCRIPTIONS", "id": id})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    }
    until(&mut ok, |v| v["id"] == 4).await;
    assert_eq!(sim.handle.state().rate_limit_closes, 1);
}

#[tokio::test]
async fn pings_must_be_answered_with_their_payload_in_time() {
    let sim = Sim::start(SimOptions {
        // Four pings a second: their pongs count against the client's five messages a second.
        ping_interval: Duration::from_millis(250),
        pong_timeout: Duration::from_millis(600),
        ..fast()
    })
    .await;
    // tungstenite answers pings as it reads: this client keeps the connection.
    let mut reader = connect(&sim, "/ws").await;
    let reading = tokio::spawn(async move { while let Some(Ok(_)) = reader.next().await {} });
    eventually("pongs counted", 10, async || {
        (sim.handle.state().pongs_ok >= 3).then_some(())
    })
    .await;
    // A raw TCP client that never answers is closed.
    let (_mute, _) = tokio_tungstenite::connect_async(format!("{}/ws", sim.handle.ws_url()))
        .await
        .unwrap();
    eventually(
        "the mute connection closed for its missing pong",
        10,
        async || (sim.handle.state().ping_timeouts >= 1).then_some(()),
    )
    .await;
    assert!(
        !reading.is_finished(),
        "the answering client is still connected"
    );
    reading.abort();
}

#[tokio::test]
async fn connections_end_at_the_maximum_age() {
    let sim = Sim::start(SimOptions {
        max_connection_age: Duration::from_millis(300),
        ..fast()
    })
    .await;
    let mut ws = connect(&sim, "/ws").await;
    assert_eq!(closed(&mut ws).await, Some(1001));
    assert_eq!(sim.handle.state().age_closes, 1);
}

#[tokio::test]
async fn rest_routes_answer_in_binance_formats() {
    let sim = Sim::start(fast()).await;
    assert_eq!(get(&sim, "/api/v3/ping").await, (200, json!({})));
    let (s, info) = get(
        &sim,
        "/api/v3/exchangeInfo?symbols=%5B%22BTCUSDT%22,%22ETHUSDT%22%5D",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(info["symbols"][1]["symbol"], "ETHUSDT");
    assert_eq!(info["symbols"][0]["status"], "TRADING");
    let (s, bad) = get(
        &sim,
        "/api/v3/exchangeInfo?symbols=%5B%22BTCUSDT%22,%22FOOBAR%22%5D",
    )
    .await;
    assert_eq!(
        (s, bad),
        (400, json!({"code": -1121, "msg": "Invalid symbol."}))
    );
    let (s, k) = get(&sim, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1000").await;
    assert_eq!(s, 200);
    let rows = k.as_array().unwrap();
    assert_eq!(rows.len(), 1000);
    assert_eq!(rows[0].as_array().unwrap().len(), 12);
    assert!(rows[0][1].is_string(), "open as a decimal string");
    assert_eq!(
        rows[1][0].as_i64().unwrap() - rows[0][0].as_i64().unwrap(),
        60_000
    );
    let first = rows[0][0].as_i64().unwrap();
    let (_, older) = get(
        &sim,
        &format!(
            "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=5&endTime={}",
            first - 1
        ),
    )
    .await;
    assert_eq!(older.as_array().unwrap().len(), 5);
    assert_eq!(older[4][0].as_i64().unwrap(), first - 60_000);
    let (s, e) = get(&sim, "/api/v3/klines?symbol=BTCUSDT&interval=7m").await;
    assert_eq!((s, e["code"].clone()), (400, json!(-1120)));
    let (_, book) = get(&sim, "/api/v3/ticker/bookTicker?symbol=ETHUSDT").await;
    assert!(book["bidPrice"].as_str().unwrap().parse::<f64>().unwrap() > 0.0);
    let (_, day) = get(&sim, "/api/v3/ticker/24hr?symbols=%5B%22SOLUSDT%22%5D").await;
    for k in [
        "lastPrice",
        "priceChangePercent",
        "volume",
        "closeTime",
        "lastId",
    ] {
        assert!(day[0].get(k).is_some(), "{k}: {day}");
    }
    let (_, price) = get(&sim, "/api/v3/ticker/price?symbol=BTCUSDT").await;
    assert!(price["price"].is_string());
    assert_eq!(get(&sim, "/api/v3/ticker/price?symbol=NOPE").await.0, 400);
}

#[tokio::test]
async fn faults_drop_stall_refuse_restrict_shutdown_and_burst() {
    let sim = Sim::start(SimOptions {
        shutdown_grace: Duration::from_millis(200),
        ..fast()
    })
    .await;
    // Drop: no close frame.
    let mut ws = connect(&sim, "/stream?streams=btcusdt@aggTrade").await;
    next_json(&mut ws).await;
    assert_eq!(sim.handle.drop_connections(), 1);
    assert_eq!(closed(&mut ws).await, None);

    // serverShutdown: the event, then a close after the grace.
    let mut ws = connect(&sim, "/stream?streams=btcusdt@aggTrade").await;
    next_json(&mut ws).await;
    let r = http()
        .post(format!(
            "{}/sim/faults/server-shutdown",
            sim.handle.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"ok": true, "affected": 1})
    );
    let ev = until(&mut ws, |v| v["e"] == "serverShutdown").await;
    assert!(ev["E"].is_i64());
    assert_eq!(closed(&mut ws).await, Some(1001));

    // Stall: the socket stays open and nothing comes.
    let mut ws = connect(&sim, "/stream?streams=btcusdt@aggTrade").await;
    next_json(&mut ws).await;
    assert_eq!(sim.handle.stall(), 1);
    // Drain what was already on the way, then nothing for half a second (this wait is the point).
    let quiet = async {
        loop {
            match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
                Err(_) => return true,
                Ok(Some(Ok(Message::Text(_)))) => continue,
                Ok(_) => return false,
            }
        }
    };
    assert!(quiet.await, "silent, and still open");
    assert_eq!(sim.handle.state().connections_open, 1);
    drop(ws);

    // Refused websockets: the upgrade answered 403; REST still answers.
    sim.handle.refuse_websockets(Some(403));
    let err = tokio_tungstenite::connect_async(format!("{}/ws", sim.handle.ws_url()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 403),
        "{err}"
    );
    assert_eq!(get(&sim, "/api/v3/ping").await.0, 200);
    sim.handle.refuse_websockets(None);

    // Restricted: 451 everywhere.
    sim.handle.restrict(true);
    let (s, body) = get(&sim, "/api/v3/ping").await;
    assert_eq!(s, 451);
    assert!(body["msg"]
        .as_str()
        .unwrap()
        .contains("restricted location"));
    let err = tokio_tungstenite::connect_async(format!("{}/ws", sim.handle.ws_url()))
        .await
        .unwrap_err();
    assert!(matches!(&err, tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 451));
    sim.handle.restrict(false);

    // Burst: a thousand trades a second per symbol.
    let before = sim.handle.last_agg_id("BTCUSDT").unwrap();
    sim.handle.burst(1000, Duration::from_millis(500));
    eventually("a burst of trades", 10, async || {
        (sim.handle.last_agg_id("BTCUSDT").unwrap() >= before + 400).then_some(())
    })
    .await;
}
