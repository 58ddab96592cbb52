//! Encoded frames: the JSON text the hub encodes once and shares, and the splicing that builds frames out of parts
//! that are already encoded.
//!
//! The hub core (store, history, conflation) speaks [`Text`], not a websocket library's type, so it does not
//! depend on axum or on a particular tungstenite version. A [`Text`] is a `bytes::Bytes` underneath: cloning it is a
//! reference count, and the websocket edge hands the very same bytes to its writer without a copy.
//!
//! Splicing is what makes fan-out cheap: a delta is encoded once per change, and a frame of several deltas, or a
//! resume answer of many, is the encoded deltas joined with a few bytes of JSON punctuation, byte for byte what
//! encoding the whole message would give (the tests check exactly that).

use std::fmt;

use bytes::Bytes;
use tickdesk_wire::{Delta, ServerMsg};

/// UTF-8 JSON text, immutable and cheap to clone. Built only from strings (or from other `Text`s joined with ASCII),
/// so it is always valid UTF-8.
#[derive(Clone, PartialEq, Eq, Default, Hash)]
pub struct Text(Bytes);

impl Text {
    pub const fn from_static(s: &'static str) -> Text {
        Text(Bytes::from_static(s.as_bytes()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes, shared (a reference count, not a copy).
    pub fn bytes(&self) -> Bytes {
        self.0.clone()
    }

    /// The text as a `&str`. Checks the bytes each call (they are always valid): for tests and logs, not hot paths.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// Joins already-encoded parts between a fixed ASCII head and tail.
    fn splice<'a>(head: &str, parts: impl IntoIterator<Item = &'a Text>, tail: &str) -> Text {
        let parts: Vec<&Text> = parts.into_iter().collect();
        let len = head.len() + tail.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(head.as_bytes());
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&p.0);
        }
        out.extend_from_slice(tail.as_bytes());
        // Valid UTF-8 joined with ASCII is valid UTF-8.
        Text(Bytes::from(out))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(Bytes::from(s))
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

/// Encodes a frame. Our own types always serialise; a failure would be a bug, surfaced as an error frame.
pub fn encode(msg: &ServerMsg) -> Text {
    match serde_json::to_string(msg) {
        Ok(s) => Text::from(s),
        Err(e) => Text::from(format!(
            r#"{{"type":"error","code":"bad_frame","message":"relay failed to encode a frame: {e}","fatal":false}}"#
        )),
    }
}

/// Encodes one delta as it appears inside a `deltas` frame's `updates` (and a resume answer's `deltas`).
///
/// Trimmed to its length: the history keeps these bytes and counts them by length, and an encoder's spare capacity
/// (up to as much again) would otherwise be held unseen.
pub fn encode_json(delta: &Delta) -> Text {
    match serde_json::to_string(delta) {
        Ok(mut s) => {
            s.shrink_to_fit();
            Text::from(s)
        }
        // Unreachable for our own types; an empty object would fail the client's replica loudly, not silently.
        Err(_) => Text::from_static("{}"),
    }
}

/// A `deltas` frame from deltas already encoded with [`encode_json`], in order: `{"type":"deltas","updates":[…]}`,
/// byte for byte what encoding [`ServerMsg::Deltas`] gives, without encoding anything again.
pub fn deltas_frame<'a>(deltas: impl IntoIterator<Item = &'a Text>) -> Text {
    Text::splice(r#"{"type":"deltas","updates":["#, deltas, "]}")
}

/// A resume answer (`snapshot` with `recovered: true`) from the missed deltas as they were encoded live, byte for
/// byte what encoding the [`ServerMsg::Snapshot`] would give. With no deltas, `deltas` is left out, as serde does.
pub fn recovered_frame(topic: &str, epoch: &str, seq: u64, deltas: &[Text]) -> Text {
    let string = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let head = format!(
        r#"{{"type":"snapshot","topic":{},"epoch":{},"seq":{seq},"recovered":true,"items":{{}}"#,
        string(topic),
        string(epoch)
    );
    if deltas.is_empty() {
        return Text::from(head + "}");
    }
    Text::splice(&(head + r#","deltas":["#), deltas, "]}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tickdesk_wire::Items;

    fn delta(topic: &str, prev: u64, v: f64) -> Delta {
        let mut set = Items::new();
        set.insert(
            "10Y".into(),
            [("y".to_string(), json!(v))].into_iter().collect(),
        );
        Delta {
            topic: topic.into(),
            epoch: "e1".into(),
            prev,
            seq: prev + 1,
            set,
            del: if prev.is_multiple_of(2) {
                vec!["2Y".into()]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn a_spliced_deltas_frame_is_exactly_the_encoded_message() {
        let ds: Vec<Delta> = (0..3).map(|i| delta("c", i, 4.0 + i as f64)).collect();
        let parts: Vec<Text> = ds.iter().map(encode_json).collect();
        assert_eq!(
            deltas_frame(&parts[..1]),
            encode(&ServerMsg::Deltas {
                updates: ds[..1].to_vec()
            })
        );
        assert_eq!(
            deltas_frame(&parts),
            encode(&ServerMsg::Deltas { updates: ds })
        );
    }

    #[test]
    fn a_spliced_resume_answer_is_exactly_the_encoded_message() {
        // A topic name and epoch that need escaping, so the head is built the way serde builds it.
        let topic = "chain:\"odd\"\\name";
        let ds: Vec<Delta> = (5..9).map(|i| delta(topic, i, i as f64)).collect();
        let parts: Vec<Text> = ds.iter().map(encode_json).collect();
        let expected = encode(&ServerMsg::Snapshot {
            topic: topic.into(),
            epoch: "e\u{e9}".into(),
            seq: 9,
            recovered: true,
            items: Items::new(),
            deltas: ds,
        });
        assert_eq!(recovered_frame(topic, "e\u{e9}", 9, &parts), expected);
        let none = encode(&ServerMsg::Snapshot {
            topic: "c".into(),
            epoch: "e1".into(),
            seq: 4,
            recovered: true,
            items: Items::new(),
            deltas: vec![],
        });
        assert_eq!(recovered_frame("c", "e1", 4, &[]), none);
    }

    #[test]
    fn text_shares_its_bytes() {
        let t = Text::from("{\"a\":1}".to_string());
        let (a, b) = (t.bytes(), t.clone().bytes());
        assert_eq!(a.as_ptr(), b.as_ptr(), "a reference count, not a copy");
        assert_eq!(t.as_str(), "{\"a\":1}");
        assert_eq!(&t, "{\"a\":1}");
    }
}
