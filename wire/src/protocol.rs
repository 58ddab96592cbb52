//! The relay <-> client frames: JSON text, one tagged envelope per direction.
//!
//! Every topic's state is a map of items (keyed rows) to fields. A [`Delta`] carries only what changed:
//! a field that is missing is unchanged, like Schwab's own LEVELONE updates. Each topic has an `epoch` (changes
//! when its state is reset, e.g. a relay restart) and a `seq` that rises by one per change; a delta moves a
//! replica from `prev` to `seq`. Conflated deltas span several changes (`seq - prev > 1`), which is why both
//! ends are carried: a client can always tell a conflated delta from a gap.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change to the frames below.
pub const PROTOCOL_VERSION: u32 = 1;

/// The fields of one item. `BTreeMap` so that frames are encoded in a stable order (diffable, cacheable).
pub type Fields = BTreeMap<String, serde_json::Value>;
/// A topic's items, by key.
pub type Items = BTreeMap<String, Fields>;

/// Where a client's replica of a topic stands, sent on reconnect so the relay can send only what was missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    pub epoch: String,
    pub seq: u64,
}

/// Client -> relay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// First frame of a connection. `resume` holds, per topic, the point the client's replica is at.
    Hello {
        v: u32,
        #[serde(default)]
        resume: BTreeMap<String, ResumePoint>,
    },
    /// Start receiving topics. `max_rate` caps flushes per second for these topics (conflating in between).
    Subscribe {
        topics: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_rate: Option<f64>,
    },
    Unsubscribe {
        topics: Vec<String>,
    },
    /// Stop sending; the relay keeps conflating so memory stays bounded by the watched state.
    Pause,
    /// Send everything pending at once, then carry on live.
    Resume,
    /// Answered with a pong echoing `t`.
    Ping {
        #[serde(default)]
        t: f64,
    },
}

/// One change (or several conflated changes) to a topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub topic: String,
    pub epoch: String,
    /// The seq this delta applies to.
    pub prev: u64,
    /// The seq after applying it.
    pub seq: u64,
    /// Items that changed, with only their changed fields. A new item comes with all its fields.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: Items,
    /// Items that were removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub del: Vec<String>,
}

/// Relay -> client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Answer to `hello`.
    Welcome {
        v: u32,
        client_id: String,
        /// The relay sends a frame at least this often; a client may call the link stale after two of them.
        heartbeat_ms: u64,
        /// Topics this relay serves.
        topics: Vec<String>,
    },
    /// The state of a topic. With `recovered: false`, `items` is the whole state at `seq`. With
    /// `recovered: true`, the client's resume point was honoured and `deltas` are exactly the changes it missed,
    /// in order, ending at `seq`.
    Snapshot {
        topic: String,
        epoch: String,
        seq: u64,
        recovered: bool,
        /// Always sent, `{}` when empty (a new topic, an on-demand topic's first answer, a resume answer).
        #[serde(default)]
        items: Items,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        deltas: Vec<Delta>,
    },
    /// Live changes, many per frame (one frame per flush).
    Deltas {
        updates: Vec<Delta>,
    },
    /// The relay has stopped sending data for this client (acknowledges `pause`).
    Paused,
    /// The relay is sending again (acknowledges `resume`).
    Resumed,
    /// Sent when nothing else was sent for a heartbeat interval, so silence always means trouble.
    Heartbeat {
        t: u64,
    },
    Pong {
        t: f64,
    },
    /// Something the client should know about. `fatal: true` means the relay closes the connection next.
    Error {
        code: ErrorCode,
        message: String,
        fatal: bool,
        /// The topic the error is about, when it is about one (`unknown_symbol`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
    },
}

/// Error codes, stable across versions. `PROTOCOL.md` says which mean "reconnect" and which mean "stop".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was not valid JSON or not a known message. Fix the client; the connection stays open.
    BadFrame,
    /// The frame exceeded the maximum size. The connection stays open.
    FrameTooLarge,
    /// The client speaks a protocol version this relay does not. Stop: reconnecting will not help.
    UnsupportedVersion,
    /// A subscription named a topic this relay does not serve.
    UnknownTopic,
    /// The client asked for more subscriptions than allowed.
    TooManySubscriptions,
    /// The client sent too many bad frames; the relay closes the connection. Reconnect after fixing the client.
    TooManyErrors,
    /// The relay is at its connection limit. Reconnect later, with backoff.
    Overloaded,
    /// The relay is shutting down. Reconnect with backoff.
    ShuttingDown,
    /// The client sent nothing (not even a ping or pong) for too long. Reconnect.
    IdleTimeout,
    /// The upstream does not know the underlying of this on-demand topic (`topic` names it). Nothing more comes for
    /// it; asking again after a cool-down tries again.
    UnknownSymbol,
    /// The relay holds as many on-demand topics as it allows; this one was not created.
    TooManyTopics,
}

impl ErrorCode {
    /// Whether a client should reconnect after a connection closed with this code (with backoff).
    pub fn should_reconnect(self) -> bool {
        !matches!(self, ErrorCode::UnsupportedVersion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_frames_use_snake_case_tags_and_defaults() {
        let hello: ClientMsg = serde_json::from_str(r#"{"type":"hello","v":1}"#).unwrap();
        assert_eq!(
            hello,
            ClientMsg::Hello {
                v: 1,
                resume: BTreeMap::new()
            }
        );
        let sub: ClientMsg =
            serde_json::from_value(json!({"type":"subscribe","topics":["curve"],"max_rate":4.0}))
                .unwrap();
        assert_eq!(
            sub,
            ClientMsg::Subscribe {
                topics: vec!["curve".into()],
                max_rate: Some(4.0)
            }
        );
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"launch_missiles"}"#).is_err());
    }

    #[test]
    fn an_empty_snapshot_still_carries_items() {
        let s = ServerMsg::Snapshot {
            topic: "signals".into(),
            epoch: "e".into(),
            seq: 0,
            recovered: false,
            items: Items::new(),
            deltas: vec![],
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"type":"snapshot","topic":"signals","epoch":"e","seq":0,"recovered":false,"items":{}})
        );
        // An older relay's snapshot without `items` still reads as empty.
        let old: ServerMsg = serde_json::from_value(
            json!({"type":"snapshot","topic":"signals","epoch":"e","seq":0,"recovered":false}),
        )
        .unwrap();
        assert_eq!(old, s);
    }

    #[test]
    fn delta_omits_empty_parts() {
        let d = Delta {
            topic: "curve".into(),
            epoch: "e".into(),
            prev: 1,
            seq: 2,
            set: Items::new(),
            del: vec![],
        };
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({"topic":"curve","epoch":"e","prev":1,"seq":2})
        );
    }

    #[test]
    fn error_frame_round_trips() {
        let e = ServerMsg::Error {
            code: ErrorCode::BadFrame,
            message: "nope".into(),
            fatal: false,
            topic: None,
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(
            s,
            r#"{"type":"error","code":"bad_frame","message":"nope","fatal":false}"#
        );
        assert_eq!(serde_json::from_str::<ServerMsg>(&s).unwrap(), e);
        assert!(!ErrorCode::UnsupportedVersion.should_reconnect());
        assert!(ErrorCode::ShuttingDown.should_reconnect());
    }
}
