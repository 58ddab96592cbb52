//! The option chain model (pure): parse `GET /marketdata/v1/chains` and `/expirationchain` replies into the
//! relay's rows, and choose which contracts a chain topic shows.
//!
//! Parsing goes through `serde_json::Value` on purpose: the live reply uses other names than the published spec
//! (`bid`, not `bidPrice`), carries fields that come and go, and marks what it cannot compute with −999 (or, in
//! some fixtures, `"NaN"`). Anything odd in one contract drops that contract, not the chain.

use serde_json::{json, Value};
use tickdesk_wire::{Fields, Items};

use serde::Deserialize;
use tickdesk_market::Date;
use tickdesk_schwab_proto::fields::{num_value, number};
use tickdesk_schwab_proto::rest::ExpirationChain;
use tickdesk_wire::fields;
use tickdesk_wire::osi::{Osi, Side};

pub use crate::config::{
    DEFAULT_MAX_DTE, DEFAULT_MIN_DTE, DEFAULT_MIN_OPEN_INTEREST, DEFAULT_STRIKE_WINDOW,
};

/// Which contracts of a chain are shown.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainFilter {
    /// Contracts whose open interest is known and below this are left out.
    pub min_open_interest: i64,
    /// Strikes kept above and below the one nearest the underlying's price; `None` keeps all.
    pub strike_window: Option<usize>,
    /// Expiries served, in days to expiration (inclusive).
    pub min_dte: i64,
    pub max_dte: i64,
}

impl Default for ChainFilter {
    fn default() -> Self {
        ChainFilter {
            min_open_interest: DEFAULT_MIN_OPEN_INTEREST,
            strike_window: Some(DEFAULT_STRIKE_WINDOW),
            min_dte: DEFAULT_MIN_DTE,
            max_dte: DEFAULT_MAX_DTE,
        }
    }
}

impl ChainFilter {
    pub fn dte_allowed(&self, dte: i64) -> bool {
        dte >= self.min_dte && dte <= self.max_dte
    }
}

/// One contract from the REST chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    /// The 21-char OSI symbol exactly as Schwab sends it (padding spaces matter): the streaming key.
    pub symbol: String,
    pub put_call: char,
    pub strike: f64,
    pub expiry: Date,
    pub dte: i64,
    pub open_interest: Option<i64>,
    /// `put_call`, `strike`, `expiry`, `dte`, quotes, greeks and `itm`: the row without `live` and `ts`.
    pub fields: Fields,
}

impl Contract {
    /// The chain topic's row for this contract.
    pub fn row(&self, live: bool, ts: i64) -> Fields {
        let mut f = self.fields.clone();
        f.insert("live".into(), Value::Bool(live));
        f.insert("ts".into(), json!(ts));
        f
    }
}

/// A parsed `/chains` reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainPicture {
    pub symbol: String,
    pub underlying_price: Option<f64>,
    pub delayed: bool,
    /// The `quotes` row of the underlying, when the reply included it.
    pub underlying: Option<Fields>,
    pub contracts: Vec<Contract>,
}

impl ChainPicture {
    /// Adds the contracts of another part of the same chain (a split request), once each.
    pub fn merge(&mut self, other: ChainPicture) {
        let have: std::collections::HashSet<String> =
            self.contracts.iter().map(|c| c.symbol.clone()).collect();
        self.contracts.extend(
            other
                .contracts
                .into_iter()
                .filter(|c| !have.contains(&c.symbol)),
        );
        self.underlying_price = self.underlying_price.or(other.underlying_price);
        self.underlying = self.underlying.take().or(other.underlying);
        self.delayed |= other.delayed;
    }
}

/// Why a chain reply was not usable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChainError {
    #[error("the chain reply is not a JSON object")]
    NotAnObject,
    #[error("Schwab answered status {status:?} for the chain of {symbol}")]
    Failed { symbol: String, status: String },
}

/// Parses a `/chains` reply (strategy SINGLE).
pub fn parse_chain(v: &Value) -> Result<ChainPicture, ChainError> {
    let obj = v.as_object().ok_or(ChainError::NotAnObject)?;
    let symbol = obj
        .get("symbol")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(status) = obj.get("status").and_then(Value::as_str) {
        if status != "SUCCESS" {
            return Err(ChainError::Failed {
                symbol,
                status: status.to_string(),
            });
        }
    }
    let underlying = obj.get("underlying").filter(|u| u.is_object());
    let underlying_price = obj
        .get("underlyingPrice")
        .and_then(number)
        .or_else(|| underlying.and_then(|u| u.get("mark").and_then(number)))
        .or_else(|| underlying.and_then(|u| u.get("last").and_then(number)));
    let delayed = obj
        .get("isDelayed")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || underlying
            .and_then(|u| u.get("delayed"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let mut contracts = Vec::new();
    for map in ["callExpDateMap", "putExpDateMap"] {
        let Some(by_date) = obj.get(map).and_then(Value::as_object) else {
            continue;
        };
        for (date_key, by_strike) in by_date {
            let Some((expiry, key_dte)) = parse_date_key(date_key) else {
                continue;
            };
            let Some(by_strike) = by_strike.as_object() else {
                continue;
            };
            for list in by_strike.values() {
                for c in list.as_array().into_iter().flatten() {
                    if let Some(c) = parse_contract(c, expiry, key_dte) {
                        contracts.push(c);
                    }
                }
            }
        }
    }
    contracts.sort_by(|a, b| {
        a.expiry
            .cmp(&b.expiry)
            .then(a.strike.total_cmp(&b.strike))
            .then(a.put_call.cmp(&b.put_call))
    });
    Ok(ChainPicture {
        symbol,
        underlying_price,
        delayed,
        underlying: underlying.map(underlying_row),
        contracts,
    })
}

/// `"2024-10-18:1"` → (2024-10-18, 1).
pub fn parse_date_key(k: &str) -> Option<(Date, i64)> {
    let (date, dte) = k.split_once(':')?;
    Some((Date::parse_prefix(date)?, dte.trim().parse().ok()?))
}

fn int(v: Option<&Value>) -> Option<i64> {
    v.and_then(number).map(|x| x.round() as i64)
}

fn parse_contract(c: &Value, expiry: Date, key_dte: i64) -> Option<Contract> {
    let symbol = c.get("symbol")?.as_str()?.to_string();
    if symbol.is_empty() {
        return None;
    }
    let put_call = match c.get("putCall").and_then(Value::as_str) {
        Some("CALL") | Some("C") => 'C',
        Some("PUT") | Some("P") => 'P',
        _ => Osi::parse(&symbol)?.side.as_char(),
    };
    let strike = c
        .get("strikePrice")
        .and_then(number)
        .or_else(|| Osi::parse(&symbol).map(|o| o.strike()))?;
    let dte = int(c.get("daysToExpiration")).unwrap_or(key_dte);
    let open_interest = int(c.get("openInterest"));
    let g = |k: &str| c.get(k).map_or(Value::Null, num_value);
    let gi = |k: &str| int(c.get(k)).map_or(Value::Null, Value::from);
    let itm = match c.get("inTheMoney").and_then(Value::as_bool) {
        Some(b) => Value::Bool(b),
        None => c
            .get("intrinsicValue")
            .and_then(number)
            .map_or(Value::Null, |x| Value::Bool(x > 0.0)),
    };
    let row: Fields = [
        ("put_call", Value::String(put_call.to_string())),
        (fields::STRIKE, json!(strike)),
        (fields::EXPIRY, Value::String(expiry.to_string())),
        ("dte", json!(dte)),
        (fields::BID, g("bid")),
        (fields::ASK, g("ask")),
        (fields::LAST, g("last")),
        (fields::MARK, g("mark")),
        ("bid_size", gi("bidSize")),
        ("ask_size", gi("askSize")),
        (fields::VOLUME, gi("totalVolume")),
        (
            fields::OPEN_INTEREST,
            open_interest.map_or(Value::Null, Value::from),
        ),
        (fields::IV, g("volatility")),
        (fields::DELTA, g("delta")),
        (fields::GAMMA, g("gamma")),
        (fields::THETA, g("theta")),
        (fields::VEGA, g("vega")),
        (fields::RHO, g("rho")),
        // Schwab's word for the contract (`Normal`, `Halted`, `Closed`), as sent; null until it says.
        (
            fields::SECURITY_STATUS,
            c.get("securityStatus").cloned().unwrap_or(Value::Null),
        ),
        ("itm", itm),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Some(Contract {
        symbol,
        put_call,
        strike,
        expiry,
        dte,
        open_interest,
        fields: row,
    })
}

/// The `quotes` row from a chain's `underlying` (or a `/quotes` entry's `quote`: both name spellings accepted).
pub fn underlying_row(u: &Value) -> Fields {
    let pick = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| u.get(*n))
            .map_or(Value::Null, num_value)
    };
    let mut f: Fields = [
        (fields::LAST, pick(&["last", "lastPrice"])),
        (fields::BID, pick(&["bid", "bidPrice"])),
        (fields::ASK, pick(&["ask", "askPrice"])),
        (fields::NET_CHANGE, pick(&["change", "netChange"])),
        (
            fields::NET_CHANGE_PCT,
            pick(&["percentChange", "netPercentChange"]),
        ),
        (fields::MARK, pick(&["mark", "markPrice"])),
        (
            fields::VOLUME,
            int(u.get("totalVolume")).map_or(Value::Null, Value::from),
        ),
        (
            "ts",
            int(u.get("quoteTime").or_else(|| u.get("tradeTime"))).map_or(Value::Null, Value::from),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(d) = u.get("delayed").and_then(Value::as_bool) {
        f.insert("delayed".into(), Value::Bool(d));
    }
    f
}

/// Keeps the contracts a chain topic shows: the strike window around the money (counted in distinct strikes,
/// per expiry), then the open-interest floor. The window is chosen before the OI floor so that illiquid strikes
/// do not push the window away from the money.
pub fn filter_contracts(
    contracts: Vec<Contract>,
    underlying_price: Option<f64>,
    f: &ChainFilter,
) -> Vec<Contract> {
    let mut kept = Vec::with_capacity(contracts.len());
    let mut expiries: Vec<Date> = contracts.iter().map(|c| c.expiry).collect();
    expiries.sort();
    expiries.dedup();
    for expiry in expiries {
        let of_expiry: Vec<&Contract> = contracts.iter().filter(|c| c.expiry == expiry).collect();
        let mut strikes: Vec<f64> = of_expiry.iter().map(|c| c.strike).collect();
        strikes.sort_by(f64::total_cmp);
        strikes.dedup();
        let (lo, hi) = match (f.strike_window, underlying_price) {
            (Some(w), Some(px)) if !strikes.is_empty() => {
                let atm = strikes
                    .iter()
                    .enumerate()
                    .min_by(|a, b| (a.1 - px).abs().total_cmp(&(b.1 - px).abs()))
                    .map_or(0, |(i, _)| i);
                (
                    strikes[atm.saturating_sub(w)],
                    strikes[(atm + w).min(strikes.len() - 1)],
                )
            }
            _ => (f64::NEG_INFINITY, f64::INFINITY),
        };
        kept.extend(
            of_expiry
                .into_iter()
                .filter(|c| c.strike >= lo && c.strike <= hi)
                .filter(|c| c.open_interest.is_none_or(|oi| oi >= f.min_open_interest))
                .cloned(),
        );
    }
    kept
}

/// The rank of each contract by distance of its strike from the money (0 = at the money), for choosing which
/// contracts get streamed first when the key budget is short.
pub fn money_rank(contracts: &[Contract], underlying_price: Option<f64>) -> Vec<usize> {
    let mut strikes: Vec<f64> = contracts.iter().map(|c| c.strike).collect();
    strikes.sort_by(f64::total_cmp);
    strikes.dedup();
    let px =
        underlying_price.unwrap_or_else(|| strikes.get(strikes.len() / 2).copied().unwrap_or(0.0));
    let mut by_distance = strikes.clone();
    by_distance.sort_by(|a, b| (a - px).abs().total_cmp(&(b - px).abs()));
    contracts
        .iter()
        .map(|c| {
            by_distance
                .iter()
                .position(|s| *s == c.strike)
                .unwrap_or(usize::MAX)
        })
        .collect()
}

/// How many listed strikes lie between the strike a window was centred on and the strike nearest `price` (0 when
/// unknown): the window re-centres when this reaches a quarter of its width.
pub fn strikes_off_centre(contracts: &[Contract], centre: Option<f64>, price: f64) -> usize {
    let Some(centre) = centre else {
        return 0;
    };
    let mut strikes: Vec<f64> = contracts.iter().map(|c| c.strike).collect();
    strikes.sort_by(f64::total_cmp);
    strikes.dedup();
    let index_of = |x: f64| {
        strikes
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - x).abs().total_cmp(&(b.1 - x).abs()))
            .map_or(0, |(i, _)| i)
    };
    index_of(centre).abs_diff(index_of(price))
}

/// Chain rows keyed by OSI symbol.
pub fn chain_items(contracts: &[Contract], live: impl Fn(&str) -> bool, ts: i64) -> Items {
    contracts
        .iter()
        .map(|c| (c.symbol.clone(), c.row(live(&c.symbol), ts)))
        .collect()
}

/// One entry of `/expirationchain`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expiration {
    pub date: Date,
    pub dte: i64,
    /// Schwab's `expirationType` (`S` standard, `W` weekly, `Q` quarterly, …).
    pub kind: String,
}

impl Expiration {
    /// The `expirations:{UNDERLYING}` row.
    pub fn row(&self, today: Date) -> Fields {
        [
            ("date", Value::String(self.date.to_string())),
            ("dte", json!(self.dte)),
            ("type", Value::String(self.kind.clone())),
            ("zero_dte", Value::Bool(self.date == today)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// Parses `{"expirationList":[{"expirationDate":"2024-10-18","daysToExpiration":1,"expirationType":"W",…}]}`,
/// sorted by date. Days to expiration are counted from `today` when Schwab leaves them out.
pub fn parse_expirations(v: &Value, today: Date) -> Vec<Expiration> {
    let list = ExpirationChain::deserialize(v)
        .map(|c| c.expiration_list)
        .unwrap_or_default();
    let mut out: Vec<Expiration> = list
        .into_iter()
        .filter_map(|e| {
            let date = Date::parse_prefix(&e.expiration_date)?;
            // DTE from the market clock, not the answer's `daysToExpiration`: an answer from just before midnight
            // would count from yesterday (and list yesterday's expiry, dropped here).
            let dte = today.days_until(date);
            if dte < 0 {
                return None;
            }
            let kind = e.expiration_type.unwrap_or_default();
            Some(Expiration { date, dte, kind })
        })
        .collect();
    out.sort_by_key(|e| e.date);
    out.dedup_by_key(|e| e.date);
    out
}

/// The 21-char OSI symbol of a contract (see [`tickdesk_wire::osi`]).
pub fn osi_symbol(root: &str, expiry: Date, put_call: char, strike: f64) -> String {
    let side = Side::from_char(put_call).unwrap_or(Side::Call);
    Osi::new(root, expiry.ymd(), side, strike).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's real capture (AAPL, 2024-10-17), with a put added and a −999 greek.
    fn capture() -> Value {
        serde_json::from_str(
            r#"{"symbol":"AAPL","status":"SUCCESS",
          "underlying":{"symbol":"AAPL","description":"APPLE INC","change":0.37,"percentChange":0.16,"close":231.78,
            "quoteTime":1729209567818,"tradeTime":1729209599105,"bid":232.16,"ask":232.2,"last":232.15,"mark":232.16,
            "bidSize":2,"askSize":1,"totalVolume":32993810,"delayed":false},
          "strategy":"SINGLE","interval":0,"isDelayed":false,"isIndex":false,"interestRate":4.738,"underlyingPrice":232.18,
          "volatility":29,"daysToExpiration":0,"numberOfContracts":2,"assetMainType":"EQUITY","assetSubType":"COE",
          "isChainTruncated":false,
          "callExpDateMap":{"2024-10-18:1":{"230.0":[{"putCall":"CALL","symbol":"AAPL  241018C00230000",
             "description":"AAPL 10/18/2024 230.00 C","exchangeName":"OPR","bid":2.2,"ask":2.3,"last":2.25,"mark":2.25,
             "bidSize":9,"askSize":5,"bidAskSize":"9X5","lastSize":1,"highPrice":3.1,"lowPrice":1.9,"openPrice":0.0,
             "closePrice":2.0,"totalVolume":10543,"tradeTimeInLong":1729209599105,"quoteTimeInLong":1729209599900,
             "netChange":0.25,"volatility":22.368,"delta":0.78,"gamma":0.09,"theta":-0.41,"vega":0.03,"rho":-999.0,
             "openInterest":4521,"timeValue":0.1,"theoreticalOptionValue":2.24,"theoreticalVolatility":29.0,
             "optionDeliverablesList":[{"symbol":"AAPL","assetType":"STOCK","deliverableUnits":100.0}],
             "strikePrice":230.0,"expirationDate":"2024-10-18T20:00:00.000+00:00","daysToExpiration":1,
             "expirationType":"W","lastTradingDay":1729296000000,"multiplier":100.0,"settlementType":"P",
             "deliverableNote":"","percentChange":12.5,"markChange":0.25,"markPercentChange":12.5,"intrinsicValue":2.18,
             "extrinsicValue":0.07,"optionRoot":"AAPL","exerciseType":"A","high52Week":20.0,"low52Week":0.5,
             "nonStandard":false,"pennyPilot":true,"inTheMoney":true,"mini":false,"brandNewField":{"x":1}}]}},
          "putExpDateMap":{"2024-10-18:1":{"230.0":[{"putCall":"PUT","symbol":"AAPL  241018P00230000",
             "bid":0.05,"ask":0.07,"last":"NaN","mark":0.06,"openInterest":0,"strikePrice":230.0,"volatility":-999.0,
             "daysToExpiration":1,"inTheMoney":false}]}}}"#,
        )
        .unwrap()
    }

    #[test]
    fn strikes_off_centre_counts_listed_strikes_to_the_money() {
        let expiry = Date::parse_iso("2026-12-18").unwrap();
        let contracts: Vec<Contract> = [95.0, 100.0, 105.0, 110.0, 115.0, 120.0]
            .into_iter()
            .map(|k| Contract {
                symbol: osi_symbol("XYZ", expiry, 'C', k),
                put_call: 'C',
                strike: k,
                expiry,
                dte: 16,
                open_interest: Some(10),
                fields: Fields::new(),
            })
            .collect();
        assert_eq!(strikes_off_centre(&contracts, Some(100.0), 101.0), 0);
        assert_eq!(strikes_off_centre(&contracts, Some(100.0), 108.0), 2);
        // Past the window's edge the edge is the nearest: the whole half-window.
        assert_eq!(strikes_off_centre(&contracts, Some(100.0), 300.0), 4);
        assert_eq!(strikes_off_centre(&contracts, None, 300.0), 0);
    }

    #[test]
    fn parses_the_live_reply_with_live_names_and_odd_values() {
        let p = parse_chain(&capture()).unwrap();
        assert_eq!(p.symbol, "AAPL");
        assert_eq!(p.underlying_price, Some(232.18));
        assert!(!p.delayed);
        assert_eq!(p.contracts.len(), 2);
        let call = &p.contracts[0];
        assert_eq!(call.symbol, "AAPL  241018C00230000");
        assert_eq!((call.put_call, call.strike, call.dte), ('C', 230.0, 1));
        let f = &call.fields;
        assert_eq!(f["expiry"], json!("2024-10-18"));
        assert_eq!(f["bid"], json!(2.2));
        assert_eq!(f["bid_size"], json!(9));
        assert_eq!(f["volume"], json!(10543));
        assert_eq!(f["open_interest"], json!(4521));
        assert_eq!(f["iv"], json!(22.368));
        assert_eq!(f["rho"], Value::Null, "-999 is not computable");
        assert_eq!(f["itm"], json!(true));
        let put = &p.contracts[1];
        assert_eq!(put.put_call, 'P');
        assert_eq!(put.fields["last"], Value::Null, "\"NaN\" is not a price");
        assert_eq!(put.fields["iv"], Value::Null);
        assert_eq!(
            put.fields["bid_size"],
            Value::Null,
            "missing is null in a first picture"
        );
        let u = p.underlying.unwrap();
        assert_eq!(u["last"], json!(232.15));
        assert_eq!(u["net_change"], json!(0.37));
        assert_eq!(u["net_change_pct"], json!(0.16));
        assert_eq!(u["volume"], json!(32993810));
        assert_eq!(u["delayed"], json!(false));
        let row = call.row(true, 5);
        assert_eq!(
            (row["live"].clone(), row["ts"].clone()),
            (json!(true), json!(5))
        );
    }

    #[test]
    fn failed_or_junk_replies_are_errors_and_bad_contracts_are_skipped() {
        assert_eq!(parse_chain(&json!([])), Err(ChainError::NotAnObject));
        assert!(matches!(
            parse_chain(&json!({"symbol":"ZZZZ","status":"FAILED"})),
            Err(ChainError::Failed { .. })
        ));
        let p = parse_chain(&json!({"symbol":"X","callExpDateMap":{"bad-key":{},"2024-10-18:1":{"1.0":[{"no":"symbol"}, 5]}}}))
            .unwrap();
        assert!(p.contracts.is_empty());
        assert_eq!(
            parse_date_key("2024-10-18:0"),
            Some((Date::parse_prefix("2024-10-18").unwrap(), 0))
        );
    }

    fn contract(strike: f64, pc: char, oi: Option<i64>) -> Contract {
        let expiry = Date::parse_prefix("2026-12-18").unwrap();
        Contract {
            symbol: osi_symbol("AAPL", expiry, pc, strike),
            put_call: pc,
            strike,
            expiry,
            dte: 30,
            open_interest: oi,
            fields: Fields::new(),
        }
    }

    #[test]
    fn filters_keep_a_window_around_the_money_and_drop_zero_open_interest() {
        let all: Vec<Contract> = (0..21)
            .flat_map(|i| {
                let k = 200.0 + 5.0 * f64::from(i);
                // The 245 strike has no open interest, the 250 put an unknown one.
                let oi = if k == 245.0 { Some(0) } else { Some(10) };
                [
                    contract(k, 'C', oi),
                    contract(k, 'P', if k == 250.0 { None } else { oi }),
                ]
            })
            .collect();
        let f = ChainFilter {
            strike_window: Some(2),
            ..ChainFilter::default()
        };
        let kept = filter_contracts(all.clone(), Some(251.0), &f);
        let strikes: Vec<(f64, char)> = kept.iter().map(|c| (c.strike, c.put_call)).collect();
        // ATM is 250: 240, 245, 250, 255, 260; 245 has OI 0 and goes; the 250 put's unknown OI stays.
        assert_eq!(
            strikes,
            vec![
                (240.0, 'C'),
                (240.0, 'P'),
                (250.0, 'C'),
                (250.0, 'P'),
                (255.0, 'C'),
                (255.0, 'P'),
                (260.0, 'C'),
                (260.0, 'P')
            ]
        );
        let no_window = ChainFilter {
            strike_window: None,
            min_open_interest: 0,
            ..ChainFilter::default()
        };
        assert_eq!(
            filter_contracts(all.clone(), Some(251.0), &no_window).len(),
            42
        );
        // A window at the edge of the chain is clipped, not shifted.
        assert_eq!(filter_contracts(all.clone(), Some(100.0), &f).len(), 6);
        let rank = money_rank(&kept, Some(251.0));
        assert_eq!(rank[2], 0, "250 is at the money");
        assert!(rank[0] > rank[4], "240 is further than 255");
        assert!(f.dte_allowed(0) && f.dte_allowed(60) && !f.dte_allowed(61) && !f.dte_allowed(-1));
    }

    #[test]
    fn osi_symbols_of_contracts() {
        let d = Date::parse_prefix("2024-05-17").unwrap();
        assert_eq!(osi_symbol("AAPL", d, 'C', 190.0), "AAPL  240517C00190000");
        assert_eq!(osi_symbol("AAPL", d, 'P', 192.5), "AAPL  240517P00192500");
    }

    #[test]
    fn expirations_parse_sort_and_flag_zero_dte() {
        let today = Date::parse_prefix("2024-10-18").unwrap();
        let v = json!({"expirationList":[
            {"expirationDate":"2024-10-25","daysToExpiration":7,"expirationType":"W","standard":false},
            {"expirationDate":"2024-10-18","daysToExpiration":0,"expirationType":"S","standard":true},
            {"expirationDate":"2024-11-15","expirationType":"S"},
            {"expirationDate":"junk"}]});
        let e = parse_expirations(&v, today);
        assert_eq!(e.iter().map(|e| e.dte).collect::<Vec<_>>(), vec![0, 7, 28]);
        let row = e[0].row(today);
        assert_eq!(row["zero_dte"], json!(true));
        assert_eq!(row["type"], json!("S"));
        assert_eq!(e[1].row(today)["zero_dte"], json!(false));
        assert_eq!(e[1].row(today)["date"], json!("2024-10-25"));
    }
}
