//! Property tests (issue #14, item 5) over every parser that reads someone else's bytes: the Schwab streamer frame
//! parser, the REST chain and expiration parsers, and the relay's client frame parser — both the `ClientMsg` parse
//! and a live session fed the results. Inputs are arbitrary, and mutated real frames: captures and the simulator's
//! own replies, truncated, with bytes flipped, inserted or deleted, and with values swapped for other JSON types.
//! The promise is the same everywhere: no panic, and a clear error for what cannot be read.
//!
//! Cases are bounded (`CASES`) so the suite stays fast; `PROPTEST_CASES` raises them for a longer hunt.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{test_config, Relay};
use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use tickdesk_hub::memory::MemoryBroker;
use tickdesk_market::Date;
use tickdesk_schwab::chain::{parse_chain, parse_expirations};
use tickdesk_schwab::streamer::{parse_frame, FrameError};
use tickdesk_schwab_sim::chain_json::{self, ChainQuery, ContractType};
use tickdesk_schwab_sim::market::{Market, MarketConfig};
use tickdesk_wire::ClientMsg;
use tokio_tungstenite::tungstenite::Message;

const CASES: u32 = 256;

fn config(cases: u32) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Frames as Schwab's streamer sent them (the unit tests' captures) and odd-but-valid shapes.
const STREAMER_CAPTURES: &[&str] = &[
    r#"{"response":[{"service":"ADMIN","command":"LOGIN","requestid":"1","SchwabClientCorrelId":"60b4c643","timestamp":1755118704102,"content":{"code":0,"msg":"server=s3081dc7-2;status=NP"}}]}"#,
    r#"{"notify":[{"heartbeat":"1755118704127"}]}"#,
    r#"{"notify":[{"service":"ADMIN","timestamp":1718801330575,"content":{"code":30,"msg":"Stop streaming due to empty subscription"}}]}"#,
    r#"{"data":[{"service":"LEVELONE_EQUITIES","timestamp":1755118704147,"command":"SUBS","content":[{"key":"AAPL","delayed":false,"assetMainType":"EQUITY","assetSubType":"COE","cusip":"037833100","1":233.22,"2":233.33,"3":233.3,"4":1,"5":3,"8":69783235,"10":235}]}]}"#,
    r#"{"data":[{"service":"LEVELONE_OPTIONS","timestamp":1755118704150,"command":"SUBS","content":[{"key":"AAPL  261218C00230000","delayed":false,"2":4.1,"3":4.25,"4":4.2,"8":1200,"9":5000,"10":24.5,"28":0.52,"29":0.03,"30":-0.08,"31":0.21,"32":0.05,"37":4.22}]}]}"#,
    r#"{"response":[{"requestid":7,"content":{"code":"19","msg":"limit"}},{"requestid":"8"}],"notify":[{"heartbeat":1700000000000},{"odd":true}],"data":[{"service":"LEVELONE_OPTIONS","content":[{"key":"AAPL  241018C00230000","3":2.3},{"nokey":1},7]},{"content":[]}],"extra":{"ignored":true}}"#,
];

/// The simulator's replies: a `/chains` reply (a few strikes, the nearest expiries) and an `/expirationchain`.
fn sim_replies() -> (Value, Value, Date) {
    let today = Date::from_ymd(2026, 12, 2);
    let m = Market::new(
        MarketConfig {
            seed: 7,
            speed: 1.0,
            load_contracts: 0,
            load_expiries: 0,
        },
        today.at_et(10, 15),
    );
    let q = ChainQuery {
        symbol: "AAPL".into(),
        contract_type: ContractType::All,
        strike_count: Some(2),
        include_underlying: true,
        strike: None,
        range: "ALL".into(),
        from: None,
        to: Some(Date::from_ymd(2026, 12, 4)),
        exp_month: None,
        standard_only: None,
        analytical: None,
    };
    let chain = chain_json::chain(&m, &q, 10_000).expect("a chain");
    let chain: Value = serde_json::from_str(&chain).unwrap();
    (chain, chain_json::expiration_chain(&m, "AAPL"), today)
}

/// Byte-level damage: truncate, flip, insert, delete (each at a position taken modulo the length).
#[derive(Debug, Clone)]
enum Damage {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), 1..=255u8).prop_map(|(i, b)| Damage::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Damage::Insert(i, b)),
        any::<usize>().prop_map(Damage::Delete),
    ]
}

fn apply(seed: &str, damage: &[Damage]) -> String {
    let mut b = seed.as_bytes().to_vec();
    for d in damage {
        let n = b.len().max(1);
        match *d {
            Damage::Truncate(i) => b.truncate(i % n),
            Damage::Flip(i, x) if !b.is_empty() => b[i % n] ^= x,
            Damage::Insert(i, x) => b.insert(i % (b.len() + 1), x),
            Damage::Delete(i) if !b.is_empty() => {
                b.remove(i % n);
            }
            _ => {}
        }
    }
    // The parsers take text (a websocket text frame, a decoded body): invalid UTF-8 becomes U+FFFD, as a lossy
    // decoder would hand it on.
    String::from_utf8_lossy(&b).into_owned()
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
        Just(json!(-999)),
        Just(json!("")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z0-9]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer into `v` (its own root included).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// `seed` with the values at a few of its places replaced by others of any type.
fn retype(seed: &Value, swaps: &[(usize, Value)]) -> Value {
    let mut v = seed.clone();
    for (at, with) in swaps {
        let mut all = Vec::new();
        pointers(&v, String::new(), &mut all);
        let p = &all[at % all.len()];
        if p.is_empty() {
            v = with.clone();
        } else if let Some(slot) = v.pointer_mut(p) {
            *slot = with.clone();
        }
    }
    v
}

fn swaps() -> impl Strategy<Value = Vec<(usize, Value)>> {
    prop::collection::vec((any::<usize>(), any_json()), 1..4)
}

/// What the streamer parser must do with any text: no panic; an error says what it was; valid JSON is never
/// called "not JSON".
fn check_streamer(frame: &str) -> Result<(), TestCaseError> {
    match parse_frame(frame) {
        Ok((inbound, skipped)) => {
            prop_assert!(inbound.len() + skipped < 10_000);
        }
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            if let FrameError::NotJson(_) = e {
                prop_assert!(
                    serde_json::from_str::<Value>(frame).is_err(),
                    "valid JSON called not JSON"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn the_streamer_frame_parser_survives_arbitrary_and_mutated_frames() {
    let mut runner = TestRunner::new(config(CASES));
    runner.run(&"\\PC{0,200}", |s| check_streamer(&s)).unwrap();
    runner
        .run(
            &(
                0..STREAMER_CAPTURES.len(),
                prop::collection::vec(damage(), 1..5),
            ),
            |(i, d)| check_streamer(&apply(STREAMER_CAPTURES[i], &d)),
        )
        .unwrap();
    runner
        .run(&(0..STREAMER_CAPTURES.len(), swaps()), |(i, s)| {
            let seed: Value = serde_json::from_str(STREAMER_CAPTURES[i]).unwrap();
            let text = retype(&seed, &s).to_string();
            check_streamer(&text)?;
            prop_assert!(!matches!(parse_frame(&text), Err(FrameError::NotJson(_))));
            Ok(())
        })
        .unwrap();
}

/// The chain parsers on any value: no panic; an error reads as a sentence; expirations come out sorted and never
/// more than were listed.
fn check_chain(v: &Value, today: Date) -> Result<(), TestCaseError> {
    match parse_chain(v) {
        Ok(p) => {
            for c in &p.contracts {
                prop_assert!(c.put_call == 'C' || c.put_call == 'P', "{c:?}");
            }
        }
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    let listed = v
        .get("expirationList")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let exps = parse_expirations(v, today);
    prop_assert!(exps.len() <= listed);
    prop_assert!(exps.windows(2).all(|w| w[0].date <= w[1].date));
    Ok(())
}

#[test]
fn the_chain_parsers_survive_arbitrary_and_mutated_replies() {
    let (chain, expirations, today) = sim_replies();
    let real = parse_chain(&chain).expect("the simulator's chain parses");
    assert!(!real.contracts.is_empty());
    assert!(!parse_expirations(&expirations, today).is_empty());
    let mut runner = TestRunner::new(config(CASES));
    runner.run(&any_json(), |v| check_chain(&v, today)).unwrap();
    let seeds = [chain.clone(), expirations.clone()];
    runner
        .run(&(0..2usize, swaps()), |(i, s)| {
            check_chain(&retype(&seeds[i], &s), today)
        })
        .unwrap();
    // Text damage: what still parses as JSON goes to the parsers (the REST client's own JSON decode refuses the rest).
    let texts = [chain.to_string(), expirations.to_string()];
    runner
        .run(
            &(0..2usize, prop::collection::vec(damage(), 1..5)),
            |(i, d)| match serde_json::from_str::<Value>(&apply(&texts[i], &d)) {
                Ok(v) => check_chain(&v, today),
                Err(e) => {
                    prop_assert!(!e.to_string().is_empty());
                    Ok(())
                }
            },
        )
        .unwrap();
}

/// Valid client frames, one of each kind, to mutate.
const CLIENT_FRAMES: &[&str] = &[
    r#"{"type":"hello","v":1,"resume":{"curve":{"epoch":"5f0c","seq":41}}}"#,
    r#"{"type":"subscribe","topics":["curve","chain:SPY:2026-12-04"],"max_rate":4}"#,
    r#"{"type":"unsubscribe","topics":["curve"]}"#,
    r#"{"type":"pause"}"#,
    r#"{"type":"resume"}"#,
    r#"{"type":"ping","t":1700000000000}"#,
];

/// A client frame: arbitrary text, a damaged valid frame, or a valid frame with values of other types.
fn client_frame() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,120}",
        (
            0..CLIENT_FRAMES.len(),
            prop::collection::vec(damage(), 1..4)
        )
            .prop_map(|(i, d)| apply(CLIENT_FRAMES[i], &d)),
        (0..CLIENT_FRAMES.len(), swaps()).prop_map(|(i, s)| {
            let seed: Value = serde_json::from_str(CLIENT_FRAMES[i]).unwrap();
            retype(&seed, &s).to_string()
        }),
    ]
}

#[test]
fn the_client_frame_parser_refuses_junk_clearly_and_round_trips_what_it_accepts() {
    let mut runner = TestRunner::new(config(CASES * 2));
    runner
        .run(&client_frame(), |text| {
            match serde_json::from_str::<ClientMsg>(&text) {
                Ok(msg) => {
                    let again = serde_json::to_string(&msg).unwrap();
                    prop_assert_eq!(serde_json::from_str::<ClientMsg>(&again).unwrap(), msg);
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
            Ok(())
        })
        .unwrap();
}

/// A live session fed mutated and arbitrary frames, one connection as long as it lasts: after each frame, a ping is
/// still answered with its pong (non-fatal errors may come first). The one way a frame may end the connection is
/// the protocol's own: a `hello` of another version, refused with a fatal `unsupported_version` error before the
/// close (the test then opens a new connection). Afterwards the relay serves other clients as usual.
#[test]
fn a_live_session_survives_whatever_a_client_sends() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = test_config();
    cfg.limits.max_bad_frames = u32::MAX;
    let store = MemoryBroker::new(64, 64);
    store.ensure_topic("curve");
    let (relay, _state) = rt.block_on(Relay::start_hub(cfg, store));
    // The runner takes a `Fn`: the socket and the ping counter are borrowed per case.
    let ws = std::cell::RefCell::new(None);
    let pings = std::cell::Cell::new(0u64);
    let check = |text: String| {
        let n = pings.get() + 1;
        pings.set(n);
        let ping = json!({"type": "ping", "t": n}).to_string();
        let mut slot = ws.borrow_mut();
        rt.block_on(async {
            if slot.is_none() {
                let (c, _) = tokio_tungstenite::connect_async(relay.ws_url())
                    .await
                    .unwrap();
                *slot = Some(c);
            }
            let ws = slot.as_mut().unwrap();
            ws.send(Message::Text(text.clone().into())).await.unwrap();
            // The ping may meet a socket the relay is closing: what arrives decides.
            let _ = ws.send(Message::Text(ping.into())).await;
            let mut fatal = None;
            loop {
                let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
                    .await
                    .map_err(|_| TestCaseError::fail(format!("no pong after {text:?}")))?;
                let Some(Ok(Message::Text(t))) = m else {
                    if matches!(m, Some(Ok(_))) {
                        continue;
                    }
                    *slot = None;
                    let code = fatal.unwrap_or_default();
                    prop_assert_eq!(code, "unsupported_version", "closed after {:?}", text);
                    return Ok(());
                };
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "pong" && v["t"].as_f64() == Some(n as f64) {
                    return Ok(());
                }
                if v["type"] == "error" {
                    prop_assert!(!v["message"].as_str().unwrap_or("").is_empty());
                    if v["fatal"] == json!(true) {
                        fatal = v["code"].as_str().map(String::from);
                    }
                }
            }
        })
    };
    // Found by this test: a tiny max_rate overflowed the interval and ended the session.
    check(r#"{"max_rate":1.604346082287352e-308,"topics":["curve"],"type":"subscribe"}"#.into())
        .unwrap();
    check(r#"{"max_rate":1e-300,"topics":["curve"],"type":"subscribe"}"#.into()).unwrap();
    let mut runner = TestRunner::new(config(64));
    runner.run(&client_frame(), check).unwrap();
    // Another client is served as usual.
    rt.block_on(async {
        let mut c = tickdesk_testkit::Client::connect(&relay.ws_url()).await;
        c.hello(BTreeMap::new()).await;
        c.subscribe(&["curve"]).await;
        c.until(|m| matches!(m, tickdesk_wire::ServerMsg::Snapshot { .. }))
            .await;
        relay.stop().await;
    });
}
