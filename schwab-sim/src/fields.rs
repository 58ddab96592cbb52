//! Streamer field encoding for `LEVELONE_OPTIONS` (0–55) and `LEVELONE_EQUITIES` (0–51), and the "Change"
//! delivery rule: a key's first item after a subscription carries every subscribed field that has a value
//! (plus `delayed`, `assetMainType`, and for equities `assetSubType`/`cusip`), later items only the fields that
//! changed (pure).
//!
//! Field numbers follow the reference's tables (the guide, Schwabdev and schwab-py agree on every number).
//! Field 0 (the symbol) is never sent; the symbol is only in `key`.

use std::sync::Arc;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

use super::market::{AssetKind, Contract, Market, Underlying};
use super::pricing::round_to;

pub const LEVELONE_OPTIONS: &str = "LEVELONE_OPTIONS";
pub const LEVELONE_EQUITIES: &str = "LEVELONE_EQUITIES";
pub const CHART_EQUITY: &str = "CHART_EQUITY";
/// `CHART_EQUITY` fields run 0..=8 (the wire's numbering, not the guide's table: reference §4).
pub const CHART_FIELD_COUNT: usize = 9;
/// Field ids run 0..=55 for options and 0..=51 for equities.
pub const OPTION_FIELD_COUNT: usize = 56;
pub const EQUITY_FIELD_COUNT: usize = 52;

/// One field value, typed as on the wire (number, string or bool).
#[derive(Debug, Clone, PartialEq)]
pub enum Fv {
    F(f64),
    I(i64),
    S(Arc<str>),
    C(char),
    B(bool),
}

impl Serialize for Fv {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Fv::F(x) => s.serialize_f64(*x),
            Fv::I(x) => s.serialize_i64(*x),
            Fv::S(x) => s.serialize_str(x),
            Fv::C(c) => s.serialize_str(c.encode_utf8(&mut [0; 4])),
            Fv::B(b) => s.serialize_bool(*b),
        }
    }
}

/// Every field of a service for one key, indexed by field id; `None` = no value (never sent).
pub type Record = Vec<Option<Fv>>;

fn s(x: &str) -> Option<Fv> {
    Some(Fv::S(x.into()))
}

/// One completed minute as a `CHART_EQUITY` item, numbered as Schwab really sends it: 1 sequence (minutes since
/// 07:00 ET, as in the captures), 2 open, 3 high, 4 low, 5 close, 6 volume, 7 chart time (the minute's start, ms),
/// 8 chart day (days since 1970-01-01); `seq` is the connection's message sequence. Only `wanted` fields go out.
pub fn chart_item(key: &str, bar: &tickdesk_wire::bars::Bar, seq: u64, wanted: &[u16]) -> Item {
    let day = tickdesk_market::zone::et_date(bar.t);
    let all = [
        (
            1,
            Fv::I((bar.t - day.at_et(7, 0)) / tickdesk_market::MINUTE_MS),
        ),
        (2, Fv::F(bar.o)),
        (3, Fv::F(bar.h)),
        (4, Fv::F(bar.l)),
        (5, Fv::F(bar.c)),
        (6, Fv::I(bar.v as i64)),
        (7, Fv::I(bar.t)),
        (8, Fv::I(day.day_number())),
    ];
    Item {
        key: key.to_string(),
        extras: vec![("seq", Value::from(seq))],
        fields: all
            .into_iter()
            .filter(|(id, _)| wanted.contains(id))
            .collect(),
    }
}

/// All `LEVELONE_OPTIONS` fields of a contract.
pub fn option_record(m: &Market, c: &Contract) -> Record {
    let u = &m.underlyings[c.underlying];
    let rules = &u.spec.rules;
    let (y, mo, d) = c.expiry.ymd();
    let [delta, gamma, theta, vega, rho] = c.greeks_out(rules);
    let is_index = u.spec.kind == AssetKind::Index;
    let (ind_bid, ind_ask, ind_time) = if is_index {
        (c.bid, c.ask, c.quote_time)
    } else {
        (0.0, 0.0, 0)
    };
    let mut r: Record = vec![None; OPTION_FIELD_COUNT];
    let fields: [(usize, Option<Fv>); 55] = [
        (1, Some(Fv::S(c.description.clone()))),
        (2, Some(Fv::F(c.bid))),
        (3, Some(Fv::F(c.ask))),
        (4, Some(Fv::F(c.last))),
        (5, Some(Fv::F(c.high))),
        (6, Some(Fv::F(c.low))),
        (7, Some(Fv::F(c.close))),
        (8, Some(Fv::I(c.volume))),
        (9, Some(Fv::I(c.open_interest))),
        (10, Some(Fv::F(c.vol_pct(rules)))),
        (11, Some(Fv::F(c.money_intrinsic(u.spot)))),
        (12, Some(Fv::I(i64::from(y)))),
        (13, Some(Fv::F(100.0))),
        (14, Some(Fv::I(2))),
        (15, Some(Fv::F(c.open))),
        (16, Some(Fv::I(c.bid_size))),
        (17, Some(Fv::I(c.ask_size))),
        (18, Some(Fv::I(c.last_size))),
        (19, Some(Fv::F(c.net_change()))),
        (20, Some(Fv::F(c.strike))),
        (21, Some(Fv::C(if c.call { 'C' } else { 'P' }))),
        (22, s(u.spec.symbol)),
        (23, Some(Fv::I(i64::from(mo)))),
        (24, s(u.spec.symbol.trim_start_matches('$'))),
        (25, Some(Fv::F(c.time_value(u.spot)))),
        (26, Some(Fv::I(i64::from(d)))),
        (27, Some(Fv::I(c.dte(m.today)))),
        (28, Some(Fv::F(delta))),
        (29, Some(Fv::F(gamma))),
        (30, Some(Fv::F(theta))),
        (31, Some(Fv::F(vega))),
        (32, Some(Fv::F(rho))),
        (33, s(m.security_status(&c.symbol))),
        (34, Some(Fv::F(c.theo()))),
        (35, Some(Fv::F(u.last))),
        (36, Some(Fv::C(c.exp_type))),
        (37, Some(Fv::F(c.mark()))),
        (38, Some(Fv::I(c.quote_time))),
        (39, Some(Fv::I(c.trade_time))),
        (40, Some(Fv::C('O'))),
        (41, s("OPR")),
        (42, Some(Fv::I(c.last_trading_day_ms))),
        (43, Some(Fv::C(c.settlement()))),
        (44, Some(Fv::F(c.pct_change()))),
        (45, Some(Fv::F(c.mark_change()))),
        (46, Some(Fv::F(c.mark_pct_change()))),
        (47, Some(Fv::F(round_to(super::market::RATE * 100.0, 3)))),
        (48, Some(Fv::B(!is_index))),
        (49, Some(Fv::S(c.root.into()))),
        (50, Some(Fv::F(c.high52))),
        (51, Some(Fv::F(c.low52))),
        (52, Some(Fv::F(ind_ask))),
        (53, Some(Fv::F(ind_bid))),
        (54, Some(Fv::I(ind_time))),
        (55, Some(Fv::C(if is_index { 'E' } else { 'A' }))),
    ];
    for (i, v) in fields {
        r[i] = v;
    }
    r
}

/// All `LEVELONE_EQUITIES` fields of an underlying (an index has no bid, ask or sizes: they are 0).
pub fn equity_record(u: &Underlying) -> Record {
    let spec = &u.spec;
    let is_index = spec.kind == AssetKind::Index;
    let mic = if spec.exchange_name == "NASDAQ" {
        "XNAS"
    } else {
        "ARCX"
    };
    let exch = if spec.exchange_name == "NASDAQ" {
        'Q'
    } else {
        'P'
    };
    let div_yield = if u.last > 0.0 {
        round_to(spec.annual_dividend / u.last * 100.0, 2)
    } else {
        0.0
    };
    let mark = u.mark();
    let mut r: Record = vec![None; EQUITY_FIELD_COUNT];
    let fields: [(usize, Option<Fv>); 51] = [
        (1, Some(Fv::F(u.bid))),
        (2, Some(Fv::F(u.ask))),
        (3, Some(Fv::F(u.last))),
        (4, Some(Fv::I(u.bid_size))),
        (5, Some(Fv::I(u.ask_size))),
        (6, Some(Fv::C(exch))),
        (7, Some(Fv::C(exch))),
        (8, Some(Fv::I(u.volume))),
        (9, Some(Fv::I(u.last_size))),
        (10, Some(Fv::F(u.high))),
        (11, Some(Fv::F(u.low))),
        (12, Some(Fv::F(u.prev_close))),
        (13, Some(Fv::C(exch))),
        (14, Some(Fv::B(!is_index))),
        (15, s(spec.description)),
        (16, Some(Fv::C(exch))),
        (17, Some(Fv::F(u.open))),
        (18, Some(Fv::F(u.net_change()))),
        (19, Some(Fv::F(u.high52))),
        (20, Some(Fv::F(u.low52))),
        (21, Some(Fv::F(spec.pe_ratio))),
        (22, Some(Fv::F(spec.annual_dividend))),
        (23, Some(Fv::F(div_yield))),
        (24, Some(Fv::F(0.0))),
        (25, s(spec.exchange_name)),
        (
            26,
            s(if spec.annual_dividend > 0.0 {
                "2025-11-10 00:00:00.0"
            } else {
                ""
            }),
        ),
        (27, Some(Fv::B(true))),
        (28, Some(Fv::B(true))),
        (29, Some(Fv::F(u.last))),
        (30, Some(Fv::I(u.last_size))),
        (31, Some(Fv::F(u.net_change()))),
        (32, s("Normal")),
        (33, Some(Fv::F(mark))),
        (34, Some(Fv::I(u.quote_time))),
        (35, Some(Fv::I(u.trade_time))),
        (36, Some(Fv::I(u.trade_time))),
        (37, Some(Fv::I(u.quote_time))),
        (38, Some(Fv::I(u.quote_time))),
        (39, s(mic)),
        (40, s(mic)),
        (41, s(mic)),
        (42, Some(Fv::F(u.pct_change()))),
        (43, Some(Fv::F(u.pct_change()))),
        (44, Some(Fv::F(round_to(mark - u.prev_close, 3)))),
        (
            45,
            Some(Fv::F(if u.prev_close > 0.0 {
                round_to((mark - u.prev_close) / u.prev_close * 100.0, 4)
            } else {
                0.0
            })),
        ),
        (46, Some(Fv::I(-1))),
        (47, Some(Fv::F(0.0))),
        (48, Some(Fv::I(if is_index { -1 } else { 0 }))),
        (49, Some(Fv::I(if is_index { -1 } else { 1 }))),
        (50, Some(Fv::F(0.0))),
        (51, Some(Fv::F(0.0))),
    ];
    for (i, v) in fields {
        r[i] = v;
    }
    r
}

/// The extra keys on a key's first item.
pub fn first_item_extras_option() -> Vec<(&'static str, Value)> {
    vec![
        ("delayed", Value::Bool(false)),
        ("assetMainType", Value::from("OPTION")),
    ]
}

pub fn first_item_extras_equity(u: &Underlying) -> Vec<(&'static str, Value)> {
    let mut v = vec![
        ("delayed", Value::Bool(false)),
        ("assetMainType", Value::from(u.spec.kind.main_type())),
    ];
    if let Some(sub) = u.spec.kind.sub_type() {
        v.push(("assetSubType", Value::from(sub)));
    }
    if let Some(cusip) = u.spec.cusip {
        v.push(("cusip", Value::from(cusip)));
    }
    v
}

/// The fields to put in an item: every wanted field with a value when `prev` is `None` (the key's first item),
/// else only the wanted fields whose value differs from `prev`. Field 0 is never included.
pub fn changed_fields(prev: Option<&Record>, cur: &Record, wanted: &[u16]) -> Vec<(u16, Fv)> {
    let mut out = Vec::new();
    for &f in wanted {
        let i = usize::from(f);
        if i == 0 || i >= cur.len() {
            continue;
        }
        let Some(v) = &cur[i] else { continue };
        let same = prev.is_some_and(|p| p.get(i).and_then(|x| x.as_ref()) == Some(v));
        if !same {
            out.push((f, v.clone()));
        }
    }
    out
}

/// One entry of a data frame's `content`: `key`, the first-item extras, then numeric field ids ascending
/// (serialised in that order, as real frames are).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub key: String,
    pub extras: Vec<(&'static str, Value)>,
    pub fields: Vec<(u16, Fv)>,
}

impl Serialize for Item {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1 + self.extras.len() + self.fields.len()))?;
        map.serialize_entry("key", &self.key)?;
        for (k, v) in &self.extras {
            map.serialize_entry(k, v)?;
        }
        for (f, v) in &self.fields {
            map.serialize_entry(&f.to_string(), v)?;
        }
        map.end()
    }
}

/// A `data` frame with one service's items: `{"data":[{"service":…,"timestamp":…,"command":"SUBS","content":[…]}]}`.
/// `command` is always `SUBS`, whatever command subscribed the keys.
pub fn data_frame(service: &str, timestamp: i64, items: &[Item]) -> String {
    #[derive(Serialize)]
    struct Entry<'a> {
        service: &'a str,
        timestamp: i64,
        command: &'a str,
        content: &'a [Item],
    }
    #[derive(Serialize)]
    struct Frame<'a> {
        data: [Entry<'a>; 1],
    }
    serde_json::to_string(&Frame {
        data: [Entry {
            service,
            timestamp,
            command: "SUBS",
            content: items,
        }],
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::market::{Market, MarketConfig};
    use super::*;
    use tickdesk_market::Date;

    fn market() -> Market {
        Market::new(
            MarketConfig {
                seed: 9,
                speed: 1.0,
                load_contracts: 0,
                load_expiries: 0,
            },
            Date::from_ymd(2025, 12, 9).at_et(11, 0),
        )
    }

    #[test]
    fn option_record_has_every_field_but_zero() {
        let m = market();
        let c = m
            .contracts
            .iter()
            .find(|c| c.root == "AAPL" && c.call)
            .unwrap();
        let r = option_record(&m, c);
        assert_eq!(r.len(), 56);
        assert!(r[0].is_none());
        assert!(r[1..].iter().all(Option::is_some));
        assert_eq!(r[1], Some(Fv::S(c.description.clone())));
        assert_eq!(r[20], Some(Fv::F(c.strike)));
        assert_eq!(r[21], Some(Fv::C('C')));
        assert_eq!(r[22], Some(Fv::S("AAPL".into())));
        assert_eq!(r[49], Some(Fv::S("AAPL".into())));
        assert_eq!(r[12], Some(Fv::I(i64::from(c.expiry.ymd().0))));
        let e = equity_record(&m.underlyings[2]);
        assert_eq!(e.len(), 52);
        assert!(e[0].is_none() && e[1..].iter().all(Option::is_some));
        assert_eq!(e[3], Some(Fv::F(m.underlyings[2].last)));
    }

    #[test]
    fn first_item_is_full_then_only_changes() {
        let wanted: Vec<u16> = vec![0, 1, 2, 3, 8, 28];
        let mut cur: Record = vec![None; 56];
        cur[1] = Some(Fv::S("AAPL 12/19/2025 230.00 C".into()));
        cur[2] = Some(Fv::F(1.25));
        cur[3] = Some(Fv::F(1.3));
        cur[8] = Some(Fv::I(10));
        cur[9] = Some(Fv::I(500)); // not wanted
        let first = changed_fields(None, &cur, &wanted);
        assert_eq!(
            first.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
            vec![1, 2, 3, 8]
        );
        let mut next = cur.clone();
        next[3] = Some(Fv::F(1.31));
        next[9] = Some(Fv::I(501));
        let delta = changed_fields(Some(&cur), &next, &wanted);
        assert_eq!(delta, vec![(3, Fv::F(1.31))]);
        assert!(changed_fields(Some(&next), &next, &wanted).is_empty());
        // A field that gains a value counts as changed.
        let mut more = next.clone();
        more[28] = Some(Fv::F(0.5));
        assert_eq!(
            changed_fields(Some(&next), &more, &wanted),
            vec![(28, Fv::F(0.5))]
        );
    }

    #[test]
    fn items_and_frames_serialise_like_schwab() {
        let item = Item {
            key: "AAPL".into(),
            extras: vec![
                ("delayed", Value::Bool(false)),
                ("assetMainType", Value::from("EQUITY")),
            ],
            fields: vec![
                (1, Fv::F(233.22)),
                (10, Fv::I(235)),
                (21, Fv::C('C')),
                (14, Fv::B(true)),
            ],
        };
        let frame = data_frame("LEVELONE_EQUITIES", 1_755_118_704_147, &[item]);
        assert_eq!(
            frame,
            r#"{"data":[{"service":"LEVELONE_EQUITIES","timestamp":1755118704147,"command":"SUBS","content":[{"key":"AAPL","delayed":false,"assetMainType":"EQUITY","1":233.22,"10":235,"21":"C","14":true}]}]}"#
        );
    }
}
