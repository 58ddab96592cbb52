//! One streamer connection's subscriptions: keys and fields per service, changed by `SUBS`, `ADD`, `UNSUBS` and
//! `VIEW` exactly as the reference describes (pure).
//!
//! - `SUBS` replaces the service's whole key list (and its fields, when `fields` is given).
//! - `ADD` appends keys; it is fine as the first subscription. Fields on an `ADD` to a service that already has
//!   fields are ignored (reported by SchwabApiCS; the reference marks it unverified).
//! - `UNSUBS` removes keys (`keys` only); a service left without keys is forgotten, fields included.
//! - `VIEW` changes the fields of **all** the service's keys (`fields` only).
//! - Past the key cap (keys of every service on the connection together) the command is refused with code 19 and
//!   nothing changes.
//!
//! Keys are upper-cased and stripped of surrounding whitespace, never of inner spaces (option symbols are padded).

use std::collections::BTreeMap;

/// Services the real streamer offers. Others (the TDA-era `TIMESALE_*`, `NEWS_HEADLINE`, `CHART_OPTIONS`…) get
/// code 11.
pub const SERVICES: &[&str] = &[
    "LEVELONE_EQUITIES",
    "LEVELONE_OPTIONS",
    "LEVELONE_FUTURES",
    "LEVELONE_FUTURES_OPTIONS",
    "LEVELONE_FOREX",
    "NYSE_BOOK",
    "NASDAQ_BOOK",
    "OPTIONS_BOOK",
    "CHART_EQUITY",
    "CHART_FUTURES",
    "SCREENER_EQUITY",
    "SCREENER_OPTION",
    "ACCT_ACTIVITY",
];

/// Streamer response codes used by the simulator.
/// The streamer's response codes (shared with the client).
pub use tickdesk_schwab_proto::codes as code;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Subs,
    Add,
    Unsubs,
    View,
}

impl Cmd {
    pub fn parse(s: &str) -> Option<Cmd> {
        match s {
            "SUBS" => Some(Cmd::Subs),
            "ADD" => Some(Cmd::Add),
            "UNSUBS" => Some(Cmd::Unsubs),
            "VIEW" => Some(Cmd::View),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Cmd::Subs => "SUBS",
            Cmd::Add => "ADD",
            Cmd::Unsubs => "UNSUBS",
            Cmd::View => "VIEW",
        }
    }
}

/// A service's keys (in subscription order) and its field ids (ascending).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSubs {
    pub keys: Vec<String>,
    pub fields: Vec<u16>,
}

/// What a command changed, for the session to act on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// Keys whose next item must be a full first item (new keys; every key after `SUBS` or `VIEW`).
    pub snapshot: Vec<String>,
    /// Keys no longer subscribed.
    pub removed: Vec<String>,
}

/// A refused command: a response code and message. State is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: i64,
    pub msg: String,
}

fn refuse(code: i64, msg: impl Into<String>) -> Refusal {
    Refusal {
        code,
        msg: msg.into(),
    }
}

/// All of a connection's subscriptions.
#[derive(Debug, Clone, Default)]
pub struct Subscriptions {
    services: BTreeMap<String, ServiceSubs>,
    cap: usize,
}

/// Parses `keys`: comma-separated, upper-cased, trimmed at the ends, duplicates dropped (first wins).
pub fn parse_keys(keys: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in keys.split(',') {
        let k = k.trim().to_ascii_uppercase();
        if !k.is_empty() && !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// Parses `fields`: comma-separated numbers, returned ascending without duplicates.
pub fn parse_fields(fields: &str) -> Result<Vec<u16>, Refusal> {
    let mut out = Vec::new();
    for f in fields.split(',') {
        let f = f.trim();
        if f.is_empty() {
            continue;
        }
        let n: u16 = f
            .parse()
            .map_err(|_| refuse(code::BAD_COMMAND_FORMAT, format!("Bad field id: {f:?}")))?;
        out.push(n);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

impl Subscriptions {
    pub fn new(cap: usize) -> Self {
        Subscriptions {
            services: BTreeMap::new(),
            cap,
        }
    }

    pub fn service(&self, service: &str) -> Option<&ServiceSubs> {
        self.services.get(service)
    }

    pub fn services(&self) -> impl Iterator<Item = (&String, &ServiceSubs)> {
        self.services.iter()
    }

    pub fn total_keys(&self) -> usize {
        self.services.values().map(|s| s.keys.len()).sum()
    }

    /// No keys on any service (what starts the code-30 clock).
    pub fn is_empty(&self) -> bool {
        self.total_keys() == 0
    }

    /// Applies one command. `all_fields` is the field list used when a first subscription names none.
    pub fn apply(
        &mut self,
        service: &str,
        cmd: Cmd,
        keys: Option<&str>,
        fields: Option<&str>,
        all_fields: &[u16],
    ) -> Result<Change, Refusal> {
        let keys = keys.map(parse_keys);
        let fields = fields.map(parse_fields).transpose()?;
        let others = self.total_keys() - self.services.get(service).map_or(0, |s| s.keys.len());
        let over_cap = |n: usize| -> Result<(), Refusal> {
            if others + n > self.cap {
                Err(refuse(
                    code::REACHED_SYMBOL_LIMIT,
                    format!(
                        "Reached symbol limit: {} keys requested, the limit is {}",
                        others + n,
                        self.cap
                    ),
                ))
            } else {
                Ok(())
            }
        };
        let existing = self.services.get(service).cloned();
        match cmd {
            Cmd::Subs => {
                let keys =
                    keys.ok_or_else(|| refuse(code::BAD_COMMAND_FORMAT, "SUBS needs keys"))?;
                over_cap(keys.len())?;
                let fields = fields
                    .or_else(|| existing.as_ref().map(|e| e.fields.clone()))
                    .unwrap_or_else(|| all_fields.to_vec());
                let removed = existing
                    .map(|e| e.keys.into_iter().filter(|k| !keys.contains(k)).collect())
                    .unwrap_or_default();
                let change = Change {
                    snapshot: keys.clone(),
                    removed,
                };
                if keys.is_empty() {
                    self.services.remove(service);
                } else {
                    self.services
                        .insert(service.to_string(), ServiceSubs { keys, fields });
                }
                Ok(change)
            }
            Cmd::Add => {
                let keys =
                    keys.ok_or_else(|| refuse(code::BAD_COMMAND_FORMAT, "ADD needs keys"))?;
                let mut entry = existing.unwrap_or_else(|| ServiceSubs {
                    keys: Vec::new(),
                    fields: fields.unwrap_or_else(|| all_fields.to_vec()),
                });
                let new: Vec<String> = keys
                    .into_iter()
                    .filter(|k| !entry.keys.contains(k))
                    .collect();
                over_cap(entry.keys.len() + new.len())?;
                entry.keys.extend(new.iter().cloned());
                if !entry.keys.is_empty() {
                    self.services.insert(service.to_string(), entry);
                }
                Ok(Change {
                    snapshot: new,
                    removed: Vec::new(),
                })
            }
            Cmd::Unsubs => {
                let keys =
                    keys.ok_or_else(|| refuse(code::BAD_COMMAND_FORMAT, "UNSUBS needs keys"))?;
                let Some(mut entry) = existing else {
                    return Ok(Change::default());
                };
                let removed: Vec<String> = entry
                    .keys
                    .iter()
                    .filter(|k| keys.contains(k))
                    .cloned()
                    .collect();
                entry.keys.retain(|k| !keys.contains(k));
                if entry.keys.is_empty() {
                    self.services.remove(service);
                } else {
                    self.services.insert(service.to_string(), entry);
                }
                Ok(Change {
                    snapshot: Vec::new(),
                    removed,
                })
            }
            Cmd::View => {
                let fields =
                    fields.ok_or_else(|| refuse(code::BAD_COMMAND_FORMAT, "VIEW needs fields"))?;
                let Some(mut entry) = existing else {
                    // Nothing subscribed: nothing to re-field (a later SUBS or ADD brings its own fields).
                    return Ok(Change::default());
                };
                entry.fields = fields;
                let snapshot = entry.keys.clone();
                self.services.insert(service.to_string(), entry);
                Ok(Change {
                    snapshot,
                    removed: Vec::new(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[u16] = &[0, 1, 2, 3];
    const OPT: &str = "LEVELONE_OPTIONS";
    const EQ: &str = "LEVELONE_EQUITIES";

    fn keys(s: &Subscriptions, svc: &str) -> Vec<String> {
        s.service(svc).map(|x| x.keys.clone()).unwrap_or_default()
    }

    #[test]
    fn parsing_keeps_option_padding() {
        assert_eq!(
            parse_keys("aapl, SPY,AAPL  251219C00230000,,AAPL"),
            vec!["AAPL", "SPY", "AAPL  251219C00230000"]
        );
        assert_eq!(parse_fields("3,0,1,3").unwrap(), vec![0, 1, 3]);
        assert_eq!(
            parse_fields("1,x").unwrap_err().code,
            code::BAD_COMMAND_FORMAT
        );
    }

    #[test]
    fn subs_replaces_add_appends_unsubs_removes_view_refields() {
        let mut s = Subscriptions::new(10);
        let c = s
            .apply(EQ, Cmd::Add, Some("AAPL"), Some("0,3,1"), ALL)
            .unwrap();
        assert_eq!(c.snapshot, vec!["AAPL"]);
        assert_eq!(s.service(EQ).unwrap().fields, vec![0, 1, 3]);
        // ADD appends; its fields are ignored once the service has fields; re-adding a key is not new.
        let c = s
            .apply(EQ, Cmd::Add, Some("SPY,AAPL"), Some("0,2"), ALL)
            .unwrap();
        assert_eq!(c.snapshot, vec!["SPY"]);
        assert_eq!(keys(&s, EQ), vec!["AAPL", "SPY"]);
        assert_eq!(s.service(EQ).unwrap().fields, vec![0, 1, 3]);
        // SUBS replaces keys and fields; every key gets a fresh first item.
        let c = s
            .apply(EQ, Cmd::Subs, Some("SPY,$SPX"), Some("0,2"), ALL)
            .unwrap();
        assert_eq!(c.snapshot, vec!["SPY", "$SPX"]);
        assert_eq!(c.removed, vec!["AAPL"]);
        assert_eq!(s.service(EQ).unwrap().fields, vec![0, 2]);
        // SUBS without fields keeps the service's fields.
        s.apply(EQ, Cmd::Subs, Some("SPY"), None, ALL).unwrap();
        assert_eq!(s.service(EQ).unwrap().fields, vec![0, 2]);
        // VIEW changes fields for all keys and asks for fresh items.
        let c = s
            .apply(EQ, Cmd::View, None, Some("0,1,2,3,8"), ALL)
            .unwrap();
        assert_eq!(c.snapshot, vec!["SPY"]);
        assert_eq!(s.service(EQ).unwrap().fields, vec![0, 1, 2, 3, 8]);
        // Services are independent.
        s.apply(OPT, Cmd::Subs, Some("AAPL  251219C00230000"), None, ALL)
            .unwrap();
        assert_eq!(s.service(OPT).unwrap().fields, ALL);
        assert_eq!(s.total_keys(), 2);
        // UNSUBS removes; an emptied service is forgotten.
        let c = s
            .apply(EQ, Cmd::Unsubs, Some("SPY,MSFT"), None, ALL)
            .unwrap();
        assert_eq!(c.removed, vec!["SPY"]);
        assert!(s.service(EQ).is_none());
        s.apply(OPT, Cmd::Unsubs, Some("AAPL  251219C00230000"), None, ALL)
            .unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn key_cap_counts_every_service_and_refuses_whole_commands() {
        let mut s = Subscriptions::new(3);
        s.apply(EQ, Cmd::Subs, Some("A,B"), None, ALL).unwrap();
        let err = s.apply(OPT, Cmd::Add, Some("X,Y"), None, ALL).unwrap_err();
        assert_eq!(err.code, code::REACHED_SYMBOL_LIMIT);
        assert!(s.service(OPT).is_none());
        s.apply(OPT, Cmd::Add, Some("X"), None, ALL).unwrap();
        assert_eq!(
            s.apply(EQ, Cmd::Add, Some("C"), None, ALL)
                .unwrap_err()
                .code,
            code::REACHED_SYMBOL_LIMIT
        );
        // SUBS replaces, so it is judged on its own key count.
        s.apply(EQ, Cmd::Subs, Some("C,D"), None, ALL).unwrap();
        assert_eq!(s.total_keys(), 3);
    }

    #[test]
    fn malformed_commands_are_refused() {
        let mut s = Subscriptions::new(5);
        assert_eq!(
            s.apply(EQ, Cmd::Subs, None, None, ALL).unwrap_err().code,
            code::BAD_COMMAND_FORMAT
        );
        assert_eq!(
            s.apply(EQ, Cmd::View, None, None, ALL).unwrap_err().code,
            code::BAD_COMMAND_FORMAT
        );
        assert_eq!(
            s.apply(EQ, Cmd::Subs, Some("A"), Some("1,two"), ALL)
                .unwrap_err()
                .code,
            code::BAD_COMMAND_FORMAT
        );
        assert!(s.is_empty());
    }
}
