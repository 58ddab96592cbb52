//! The REST fallback: when the websocket cannot connect at all (a proxy that blocks it), the feed polls the relay's
//! `/api/snapshot` every [`POLL_MS`] instead, and says so.
//!
//! Why snapshots into the same replica: each answer is turned into snapshot frames for only the topics whose
//! (epoch, seq) moved, and applied exactly like streamed ones. So the replica stays consistent, the views need no
//! second code path, and when the websocket works again it resumes from what polling last saw.
//!
//! Topics the relay creates on demand (`chain:`, `expirations:`, `analytics:` — a websocket subscription asks for
//! them) may not exist: `/api/snapshot` answers 404 for a whole request naming one it lacks, so they are polled one
//! by one ([`on_demand`]) and a missing one is skipped rather than failing the fixed topics' poll. An
//! `expirations:{U}` topic the relay lacks is made from the chains it holds for `U` (`/api/chain/{U}`'s
//! `expiries`, [`expirations_from_chains`]), so the chain tab still offers the expiries REST can serve.

use tickdesk_wire::replica::Replica;
use tickdesk_wire::ServerMsg;

use crate::discovery::http_base;

/// Consecutive websocket attempts that never opened before the app falls back to polling REST.
pub(crate) const POLL_AFTER_FAILED_ATTEMPTS: u32 = 2;
/// How often the REST views are polled in fallback.
pub(crate) const POLL_MS: u32 = 2_000;

/// When to poll: after [`POLL_AFTER_FAILED_ATTEMPTS`] websocket attempts in a row that never opened, until the
/// websocket works again. A socket that opened and later dropped is a reconnect, not a blocked websocket.
#[derive(Debug, Default)]
pub(crate) struct Fallback {
    failed_opens: u32,
    polling: bool,
}

impl Fallback {
    /// Whether the desk is polling now.
    pub(crate) fn polling(&self) -> bool {
        self.polling
    }

    /// A websocket opened.
    pub(crate) fn opened(&mut self) {
        self.failed_opens = 0;
    }

    /// A websocket closed (`opened`: after it had opened). `true` when polling must start now.
    pub(crate) fn closed(&mut self, opened: bool) -> bool {
        if !opened {
            self.failed_opens += 1;
        }
        let start = self.failed_opens >= POLL_AFTER_FAILED_ATTEMPTS && !self.polling;
        self.polling |= start;
        start
    }

    /// The relay welcomed us on the websocket: polling stops. `true` if it was polling.
    pub(crate) fn streaming(&mut self) -> bool {
        std::mem::take(&mut self.polling)
    }
}

/// The URL of one poll of `topics` on the relay whose websocket is `ws_url`.
pub(crate) fn snapshot_url(ws_url: &str, topics: &[String]) -> String {
    format!(
        "{}/api/snapshot?topics={}",
        http_base(ws_url),
        topics.join(",")
    )
}

/// Whether the relay creates `topic` on demand (it may lack it): every topic with a `:` (`chain:SPY:2026-12-04`,
/// `expirations:SPY`, `analytics:SPY`); the fixed ones (`curve`, `quotes`, …) have none.
pub(crate) fn on_demand(topic: &str) -> bool {
    topic.contains(':')
}

/// The URL of the chains the relay holds for `underlying` (`/api/chain/{U}`), for [`expirations_from_chains`].
pub(crate) fn chain_url(ws_url: &str, underlying: &str) -> String {
    format!("{}/api/chain/{underlying}", http_base(ws_url))
}

/// An `expirations:{U}` snapshot made from a `/api/chain/{U}` answer's `expiries` (the chain topics the relay holds
/// for `U`), for a relay that lacks the topic itself; `None` when nothing moved since the replica's copy. Its epoch
/// names the list, so a list that changes replaces the old one. Only `date` is known (no `dte` or type: the strip
/// shows a dash for those).
pub(crate) fn expirations_from_chains(
    topic: &str,
    body: &str,
    replica: &Replica,
) -> Result<Option<ServerMsg>, String> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let dates: Vec<&str> = v["expiries"]
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    let epoch = format!("rest-chains:{}", dates.join(","));
    if replica.topic(topic).is_some_and(|r| r.epoch == epoch) {
        return Ok(None);
    }
    let mut items = tickdesk_wire::Items::new();
    for d in dates {
        let mut fields = tickdesk_wire::Fields::new();
        fields.insert("date".to_string(), serde_json::Value::from(d));
        items.insert(d.to_string(), fields);
    }
    Ok(Some(ServerMsg::Snapshot {
        topic: topic.to_string(),
        epoch,
        seq: 0,
        recovered: false,
        items,
        deltas: vec![],
    }))
}

/// The snapshot frames one poll's `body` brings for `topics`: one per topic the relay has whose (epoch, seq) differs
/// from the replica's. Topics the relay does not have (on-demand ones it has not opened) are skipped.
pub(crate) fn snapshots(
    body: &str,
    topics: &[String],
    replica: &Replica,
) -> Result<Vec<ServerMsg>, String> {
    let all: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for topic in topics {
        let Some(t) = all.get(topic) else { continue };
        let epoch = t["epoch"].as_str().unwrap_or_default().to_string();
        let seq = t["seq"].as_u64().unwrap_or(0);
        if replica
            .topic(topic)
            .is_some_and(|r| r.epoch == epoch && r.seq == seq)
        {
            continue;
        }
        let items = tickdesk_wire::decode::items_from_value(t["items"].clone())?;
        out.push(ServerMsg::Snapshot {
            topic: topic.clone(),
            epoch,
            seq,
            recovered: false,
            items,
            deltas: vec![],
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn polling_starts_after_two_failed_opens_and_stops_when_the_websocket_works() {
        let mut f = Fallback::default();
        assert!(!f.closed(false), "one failure is a retry");
        assert!(f.closed(false), "the second in a row starts polling");
        assert!(f.polling());
        assert!(!f.closed(false), "started once");
        assert!(f.streaming(), "the websocket works again");
        assert!(!f.polling());
        // Drops after a successful open never count.
        f.opened();
        assert!(!f.closed(true));
        assert!(!f.closed(true));
        assert!(!f.closed(false));
        f.opened();
        assert!(!f.closed(false), "an open in between restarts the count");
    }

    #[test]
    fn a_poll_url_names_the_watched_topics_on_the_relays_http_side() {
        let topics = ["curve".to_string(), "chain:SPY:2026-12-04".to_string()];
        assert_eq!(
            snapshot_url("wss://relay.example.com/ws", &topics),
            "https://relay.example.com/api/snapshot?topics=curve,chain:SPY:2026-12-04"
        );
    }

    #[test]
    fn on_demand_topics_are_the_ones_with_a_colon() {
        assert!(on_demand("chain:SPY:2026-12-04"));
        assert!(on_demand("expirations:$SPX"));
        assert!(on_demand("analytics:SPY"));
        assert!(!on_demand("curve"));
        assert!(!on_demand("quotes"));
        assert_eq!(
            chain_url("ws://127.0.0.1:8080/ws", "$SPX"),
            "http://127.0.0.1:8080/api/chain/$SPX"
        );
    }

    #[test]
    fn expirations_come_from_the_chains_the_relay_holds_when_it_lacks_the_topic() {
        let body = json!({"underlying": "NVDA", "expiry": "2026-12-04",
            "expiries": ["2026-12-04", "2026-12-11"], "items": {}})
        .to_string();
        let mut replica = Replica::new();
        let msg = expirations_from_chains("expirations:NVDA", &body, &replica)
            .unwrap()
            .expect("a snapshot");
        let ServerMsg::Snapshot { topic, items, .. } = &msg else {
            panic!("{msg:?}")
        };
        assert_eq!(topic, "expirations:NVDA");
        assert_eq!(
            items.keys().collect::<Vec<_>>(),
            ["2026-12-04", "2026-12-11"]
        );
        assert_eq!(items["2026-12-11"]["date"], json!("2026-12-11"));
        replica.apply(&msg).unwrap();
        // The same list again: nothing to apply. A longer one replaces it.
        assert!(expirations_from_chains("expirations:NVDA", &body, &replica)
            .unwrap()
            .is_none());
        let more = json!({"expiries": ["2026-12-04", "2026-12-11", "2026-12-18"]}).to_string();
        let next = expirations_from_chains("expirations:NVDA", &more, &replica)
            .unwrap()
            .unwrap();
        replica.apply(&next).unwrap();
        assert_eq!(replica.topic("expirations:NVDA").unwrap().items.len(), 3);
        assert!(expirations_from_chains("expirations:NVDA", "<html>", &replica).is_err());
    }

    #[test]
    fn a_poll_brings_only_topics_that_moved_and_skips_ones_the_relay_lacks() {
        let topics: Vec<String> = ["curve", "pnl", "chain:SPY:2026-12-04"]
            .map(String::from)
            .into();
        let body = json!({
            "curve": {"epoch": "e1", "seq": 7, "items": {"2Y": {"yield": 4.1}}},
            "pnl": {"epoch": "e1", "seq": 3, "items": {"total": {"day": 12.5}}},
        })
        .to_string();
        let mut replica = Replica::new();
        let first = snapshots(&body, &topics, &replica).unwrap();
        assert_eq!(first.len(), 2, "no chain topic without a websocket");
        for msg in &first {
            replica.apply(msg).unwrap();
        }
        assert_eq!(replica.topic("curve").unwrap().seq, 7);
        // The same answer again: nothing moved, nothing to apply.
        assert!(snapshots(&body, &topics, &replica).unwrap().is_empty());
        // The curve moved on; pnl did not.
        let moved = json!({
            "curve": {"epoch": "e1", "seq": 9, "items": {"2Y": {"yield": 4.2}}},
            "pnl": {"epoch": "e1", "seq": 3, "items": {"total": {"day": 12.5}}},
        })
        .to_string();
        let next = snapshots(&moved, &topics, &replica).unwrap();
        assert!(
            matches!(next.as_slice(), [ServerMsg::Snapshot { topic, seq: 9, .. }] if topic == "curve"),
            "{next:?}"
        );
        assert!(snapshots("<html>", &topics, &replica).is_err());
    }
}
