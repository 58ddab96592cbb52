//! Reading server frames by hand from a [`serde_json::Value`], for the app.
//!
//! Why not the derived `Deserialize`: `ServerMsg` is an internally tagged enum (`"type": "snapshot"`), and serde
//! reads those by first buffering the whole frame into its private `Content` tree, then deserialising each variant
//! from that — a few dozen KB of monomorphised WebAssembly (about 10% of the app). The app parses JSON into a
//! `Value` anyway (REST answers, `tickdesk.json`), so reading the frame from a `Value` reuses that code, and this
//! module is all the frame-specific code it needs. The derive stays for native code (relay tests, load tool),
//! and the tests here check that both readings agree on every kind of frame and refuse the same broken ones.

use serde_json::{Map, Value};

use crate::protocol::{Delta, ErrorCode, Fields, Items, ServerMsg};

/// Why a frame could not be read: the field, or what was wrong.
pub type DecodeError = String;

impl ServerMsg {
    /// Reads a frame's JSON text (see the [module](self) for why not `serde_json::from_str`).
    pub fn from_json(text: &str) -> Result<ServerMsg, DecodeError> {
        let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        ServerMsg::from_value(v)
    }

    /// Reads a frame from its JSON value: the same frames the derived `Deserialize` accepts (unknown fields are
    /// ignored, `items`/`deltas`/`topic` may be absent), the same it refuses.
    pub fn from_value(v: Value) -> Result<ServerMsg, DecodeError> {
        let Value::Object(mut o) = v else {
            return Err("a frame is a JSON object".into());
        };
        let kind = take(&mut o, "type")?;
        let msg = match kind.as_str() {
            Some("welcome") => ServerMsg::Welcome {
                v: u32::try_from(u64_of(&mut o, "v")?)
                    .map_err(|_| "v: out of range".to_string())?,
                client_id: string(&mut o, "client_id")?,
                heartbeat_ms: u64_of(&mut o, "heartbeat_ms")?,
                topics: strings(take(&mut o, "topics")?, "topics")?,
            },
            Some("snapshot") => ServerMsg::Snapshot {
                topic: string(&mut o, "topic")?,
                epoch: string(&mut o, "epoch")?,
                seq: u64_of(&mut o, "seq")?,
                recovered: bool_of(&mut o, "recovered")?,
                items: o
                    .remove("items")
                    .map_or(Ok(Items::new()), items_from_value)?,
                deltas: match o.remove("deltas") {
                    Some(d) => deltas(d, "deltas")?,
                    None => Vec::new(),
                },
            },
            Some("deltas") => ServerMsg::Deltas {
                updates: deltas(take(&mut o, "updates")?, "updates")?,
            },
            Some("paused") => ServerMsg::Paused,
            Some("resumed") => ServerMsg::Resumed,
            Some("heartbeat") => ServerMsg::Heartbeat {
                t: u64_of(&mut o, "t")?,
            },
            Some("pong") => ServerMsg::Pong {
                t: take(&mut o, "t")?
                    .as_f64()
                    .ok_or_else(|| "t: not a number".to_string())?,
            },
            Some("error") => ServerMsg::Error {
                code: {
                    let c = string(&mut o, "code")?;
                    ErrorCode::from_name(&c).ok_or_else(|| format!("code: unknown {c}"))?
                },
                message: string(&mut o, "message")?,
                fatal: bool_of(&mut o, "fatal")?,
                topic: match o.remove("topic") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(t)) => Some(t),
                    Some(_) => return Err("topic: not a string".into()),
                },
            },
            _ => return Err(format!("unknown frame type {kind}")),
        };
        Ok(msg)
    }
}

impl Delta {
    /// Reads a delta from its JSON value (as in a `deltas` frame).
    pub fn from_value(v: Value) -> Result<Delta, DecodeError> {
        let Value::Object(mut o) = v else {
            return Err("a delta is a JSON object".into());
        };
        Ok(Delta {
            topic: string(&mut o, "topic")?,
            epoch: string(&mut o, "epoch")?,
            prev: u64_of(&mut o, "prev")?,
            seq: u64_of(&mut o, "seq")?,
            set: o.remove("set").map_or(Ok(Items::new()), items_from_value)?,
            del: match o.remove("del") {
                Some(d) => strings(d, "del")?,
                None => Vec::new(),
            },
        })
    }
}

impl ErrorCode {
    /// The code as the frames spell it (`bad_frame`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::UnknownTopic => "unknown_topic",
            ErrorCode::TooManySubscriptions => "too_many_subscriptions",
            ErrorCode::TooManyErrors => "too_many_errors",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::IdleTimeout => "idle_timeout",
            ErrorCode::UnknownSymbol => "unknown_symbol",
            ErrorCode::TooManyTopics => "too_many_topics",
        }
    }

    /// The code named `name` as the frames spell it.
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Every code.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::BadFrame,
        ErrorCode::FrameTooLarge,
        ErrorCode::UnsupportedVersion,
        ErrorCode::UnknownTopic,
        ErrorCode::TooManySubscriptions,
        ErrorCode::TooManyErrors,
        ErrorCode::Overloaded,
        ErrorCode::ShuttingDown,
        ErrorCode::IdleTimeout,
        ErrorCode::UnknownSymbol,
        ErrorCode::TooManyTopics,
    ];
}

/// A topic's items from their JSON value (`{item: {field: value}}`), as a snapshot or a REST answer holds them.
///
/// The maps are filled one insert at a time rather than collected: collecting into a `BTreeMap` sorts its input
/// first, and that sort is a few KB of WebAssembly per element type; the JSON object arrives in key order anyway.
pub fn items_from_value(v: Value) -> Result<Items, DecodeError> {
    let Value::Object(items) = v else {
        return Err("items: not an object".into());
    };
    let mut out = Items::new();
    for (key, fields) in items {
        let Value::Object(f) = fields else {
            return Err(format!("items: {key} is not an object"));
        };
        let mut row = Fields::new();
        for (k, v) in f {
            row.insert(k, v);
        }
        out.insert(key, row);
    }
    Ok(out)
}

fn take(o: &mut Map<String, Value>, key: &str) -> Result<Value, DecodeError> {
    o.remove(key).ok_or_else(|| format!("missing field {key}"))
}

fn string(o: &mut Map<String, Value>, key: &str) -> Result<String, DecodeError> {
    match take(o, key)? {
        Value::String(s) => Ok(s),
        _ => Err(format!("{key}: not a string")),
    }
}

fn u64_of(o: &mut Map<String, Value>, key: &str) -> Result<u64, DecodeError> {
    take(o, key)?
        .as_u64()
        .ok_or_else(|| format!("{key}: not an unsigned integer"))
}

fn bool_of(o: &mut Map<String, Value>, key: &str) -> Result<bool, DecodeError> {
    take(o, key)?
        .as_bool()
        .ok_or_else(|| format!("{key}: not a boolean"))
}

fn strings(v: Value, key: &str) -> Result<Vec<String>, DecodeError> {
    let Value::Array(a) = v else {
        return Err(format!("{key}: not an array"));
    };
    a.into_iter()
        .map(|s| match s {
            Value::String(s) => Ok(s),
            _ => Err(format!("{key}: not a string")),
        })
        .collect()
}

fn deltas(v: Value, key: &str) -> Result<Vec<Delta>, DecodeError> {
    let Value::Array(a) = v else {
        return Err(format!("{key}: not an array"));
    };
    a.into_iter().map(Delta::from_value).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_is_listed_and_read_back_by_its_name() {
        use ErrorCode::*;
        for c in ErrorCode::ALL {
            // Exhaustive on purpose: a new code stops the build here until it is handled — add it to
            // `ErrorCode::ALL` too, or frames carrying it would be refused.
            match c {
                BadFrame | FrameTooLarge | UnsupportedVersion | UnknownTopic
                | TooManySubscriptions | TooManyErrors | Overloaded | ShuttingDown
                | IdleTimeout | UnknownSymbol | TooManyTopics => {}
            }
            assert_eq!(ErrorCode::from_name(c.name()), Some(c));
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::json!(c.name()),
                "the derive spells it so too"
            );
        }
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 11, "every listed code once");
    }
    use serde_json::json;

    /// Both readings of `frame`: the hand-written one and the derived `Deserialize`.
    fn both(frame: &Value) -> (Result<ServerMsg, DecodeError>, Result<ServerMsg, String>) {
        (
            ServerMsg::from_json(&frame.to_string()),
            serde_json::from_value::<ServerMsg>(frame.clone()).map_err(|e| e.to_string()),
        )
    }

    #[test]
    fn every_kind_of_frame_reads_as_the_derive_reads_it() {
        let delta = json!({"topic": "curve", "epoch": "e1", "prev": 4, "seq": 6,
            "set": {"2Y": {"yield": 4.125, "chg_bp": -1.5, "tenor": "2Y", "ts": 1_765_307_100_000_u64}},
            "del": ["3M"]});
        let frames = [
            json!({"type": "welcome", "v": 1, "client_id": "c7", "heartbeat_ms": 15000, "topics": ["curve", "pnl"]}),
            json!({"type": "snapshot", "topic": "curve", "epoch": "e1", "seq": 4, "recovered": false,
                "items": {"2Y": {"yield": 4.1, "live": true, "x": null, "nested": {"a": [1, 2]}}}}),
            json!({"type": "snapshot", "topic": "curve", "epoch": "e1", "seq": 6, "recovered": true,
                "items": {}, "deltas": [delta.clone()]}),
            // An older relay's snapshot without items, and fields this app does not know (ignored by both).
            json!({"type": "snapshot", "topic": "signals", "epoch": "e", "seq": 0, "recovered": false, "extra": 1}),
            json!({"type": "deltas", "updates": [delta, {"topic": "pnl", "epoch": "e2", "prev": 0, "seq": 1}]}),
            json!({"type": "paused"}),
            json!({"type": "resumed"}),
            json!({"type": "heartbeat", "t": 1_765_307_100_000_u64}),
            json!({"type": "pong", "t": 12.5}),
            json!({"type": "pong", "t": 12}),
            json!({"type": "error", "code": "unknown_symbol", "message": "no such symbol", "fatal": false,
                "topic": "chain:ZZZZ:2026-12-18"}),
            json!({"type": "error", "code": "shutting_down", "message": "bye", "fatal": true}),
            json!({"type": "error", "code": "overloaded", "message": "full", "fatal": true, "topic": null}),
        ];
        for frame in &frames {
            let (ours, derived) = both(frame);
            assert_eq!(ours, Ok(derived.expect("the derive reads it")), "{frame}");
        }
        // And what the relay writes reads back the same.
        for frame in &frames {
            let msg = ServerMsg::from_value(frame.clone()).unwrap();
            assert_eq!(
                ServerMsg::from_json(&serde_json::to_string(&msg).unwrap()),
                Ok(msg)
            );
        }
    }

    #[test]
    fn broken_frames_are_refused_like_the_derive_refuses_them() {
        let broken = [
            json!([1, 2]),
            json!({"v": 1}),
            json!({"type": "launch_missiles"}),
            json!({"type": 7}),
            json!({"type": "welcome", "v": 1, "client_id": "c", "topics": []}),
            json!({"type": "welcome", "v": 4_294_967_296_u64, "client_id": "c", "heartbeat_ms": 1, "topics": []}),
            json!({"type": "welcome", "v": 1, "client_id": "c", "heartbeat_ms": -1, "topics": []}),
            json!({"type": "welcome", "v": 1, "client_id": "c", "heartbeat_ms": 1, "topics": [1]}),
            json!({"type": "snapshot", "topic": "curve", "epoch": "e", "seq": 1, "recovered": "no"}),
            json!({"type": "snapshot", "topic": "curve", "epoch": "e", "seq": 1.5, "recovered": false}),
            json!({"type": "snapshot", "topic": "curve", "epoch": "e", "seq": 1, "recovered": false, "items": []}),
            json!({"type": "snapshot", "topic": "curve", "epoch": "e", "seq": 1, "recovered": false,
                "items": {"2Y": 4.1}}),
            json!({"type": "deltas", "updates": [{"topic": "curve", "epoch": "e", "prev": 1}]}),
            json!({"type": "deltas", "updates": [{"topic": "curve", "epoch": "e", "prev": 1, "seq": 2, "del": "3M"}]}),
            json!({"type": "deltas"}),
            json!({"type": "heartbeat", "t": "now"}),
            json!({"type": "pong"}),
            json!({"type": "error", "code": "teapot", "message": "m", "fatal": false}),
            json!({"type": "error", "code": "bad_frame", "message": "m", "fatal": false, "topic": 3}),
        ];
        for frame in &broken {
            let (ours, derived) = both(frame);
            assert!(derived.is_err(), "the derive refuses {frame}");
            assert!(ours.is_err(), "refused: {frame}");
        }
        assert!(ServerMsg::from_json("{not json").is_err());
    }

    #[test]
    fn error_codes_are_named_as_serde_names_them() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.name()));
            assert_eq!(ErrorCode::from_name(code.name()), Some(code));
        }
        assert_eq!(ErrorCode::from_name("BadFrame"), None);
    }

    #[test]
    fn items_read_from_a_rest_answer() {
        let items = items_from_value(json!({"2Y": {"yield": 4.1}, "5Y": {}})).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items["2Y"]["yield"], json!(4.1));
        assert!(items_from_value(json!({"2Y": 4.1})).is_err());
        assert!(items_from_value(json!(null)).is_err());
    }
}
