//! `GET /marketdata/v1/chains` and `GET /marketdata/v1/expirationchain` bodies, with the live field names
//! (pure).
//!
//! The chain's maps go `"<YYYY-MM-DD>:<calendar DTE>"` → `"<strike as a decimal, e.g. 230.0>"` → a **list** of
//! contracts (two on a date when SPX's AM monthly and SPXW's PM series share a strike), in ascending date and
//! numeric strike order. Volatility and greeks Schwab cannot compute are `-999.0`.
//!
//! Query parameters honoured: `symbol` (required), `contractType` (CALL/PUT/ALL), `strikeCount` (that many
//! strikes below the first strike at or above the underlying, and that many from it up), `includeUnderlyingQuote`,
//! `strike`, `range` (ITM/NTM/OTM/SAK/SBK/SNK/ALL; "near" is within 5% of the underlying), `fromDate`/`toDate`
//! (`yyyy-MM-dd`, inclusive; any other form is a 400), `expMonth` (JAN…DEC/ALL), `optionType` (S/ALL list
//! everything, NS nothing: every simulated contract is standard), `strategy` (SINGLE; ANALYTICAL values the
//! contracts with the given `volatility`, `underlyingPrice`, `interestRate` (percents) and `daysToExpiration`;
//! spread strategies are refused with a 400). `interval` and `entitlement` are accepted and ignored.
//! A chain of more than the configured number of contracts fails like Schwab's gateway does on a full `$SPX`
//! chain: HTTP 502 with `{"fault":{"faultstring":"Body buffer overflow","detail":{"errorcode":"protocol.http.TooBigBody"}}}`.

use std::collections::HashMap;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Value};

use super::market::{AssetKind, Contract, Market, Underlying, RATE};
use super::pricing::{black_scholes, round_to, BsInputs};
use tickdesk_market::zone::iso_utc_ms;
use tickdesk_market::Date;
use tickdesk_schwab_proto::rest::{ExpirationChain, ExpirationEntry};

/// A map serialised in the order given (serde_json's own map would sort `"1000.0"` before `"995.0"`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A strike as Java prints a double, which is how Schwab keys the chain: `230.0`, `192.5`, `6880.0`.
pub fn strike_key(k: f64) -> String {
    let r = round_to(k, 3);
    if r.fract() == 0.0 {
        format!("{r:.1}")
    } else {
        format!("{r}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractType {
    Call,
    Put,
    All,
}

/// The parsed query of a chain request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainQuery {
    pub symbol: String,
    pub contract_type: ContractType,
    pub strike_count: Option<usize>,
    pub include_underlying: bool,
    pub strike: Option<f64>,
    pub range: String,
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub exp_month: Option<u32>,
    pub standard_only: Option<bool>,
    pub analytical: Option<Analytical>,
}

/// ANALYTICAL inputs (each defaults to the market's own).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Analytical {
    pub volatility_pct: Option<f64>,
    pub underlying_price: Option<f64>,
    pub interest_rate_pct: Option<f64>,
    pub days_to_expiration: Option<f64>,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

fn parse_num<T: std::str::FromStr>(
    q: &HashMap<String, String>,
    k: &str,
) -> Result<Option<T>, String> {
    match q.get(k) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{k}: not a number: {v:?}")),
    }
}

impl ChainQuery {
    /// Parses the query string parameters; the error is the 400 message.
    pub fn parse(q: &HashMap<String, String>) -> Result<ChainQuery, String> {
        let symbol = q
            .get("symbol")
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .ok_or("symbol is required")?;
        let contract_type = match q
            .get("contractType")
            .map(|s| s.to_ascii_uppercase())
            .as_deref()
        {
            None | Some("ALL") => ContractType::All,
            Some("CALL") => ContractType::Call,
            Some("PUT") => ContractType::Put,
            Some(o) => return Err(format!("contractType: unknown value {o:?}")),
        };
        let date = |k: &str| -> Result<Option<Date>, String> {
            q.get(k)
                .map(|v| Date::parse_iso(v).ok_or(format!("{k} must be yyyy-MM-dd, got {v:?}")))
                .transpose()
        };
        let range = q
            .get("range")
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_else(|| "ALL".into());
        if !["ITM", "NTM", "OTM", "SAK", "SBK", "SNK", "ALL"].contains(&range.as_str()) {
            return Err(format!("range: unknown value {range:?}"));
        }
        let exp_month = match q.get("expMonth").map(|s| s.to_ascii_uppercase()) {
            None => None,
            Some(m) if m == "ALL" => None,
            Some(m) => Some(
                MONTHS
                    .iter()
                    .position(|x| *x == m)
                    .ok_or(format!("expMonth: unknown value {m:?}"))? as u32
                    + 1,
            ),
        };
        let standard_only = match q
            .get("optionType")
            .map(|s| s.to_ascii_uppercase())
            .as_deref()
        {
            None | Some("ALL") => None,
            Some("S") => Some(true),
            Some("NS") => Some(false),
            Some(o) => return Err(format!("optionType: unknown value {o:?}")),
        };
        let analytical = match q.get("strategy").map(|s| s.to_ascii_uppercase()).as_deref() {
            None | Some("SINGLE") => None,
            Some("ANALYTICAL") => Some(Analytical {
                volatility_pct: parse_num(q, "volatility")?,
                underlying_price: parse_num(q, "underlyingPrice")?,
                interest_rate_pct: parse_num(q, "interestRate")?,
                days_to_expiration: parse_num(q, "daysToExpiration")?,
            }),
            Some(o) => {
                return Err(format!(
                    "strategy {o} is not supported by the simulator (SINGLE, ANALYTICAL)"
                ))
            }
        };
        Ok(ChainQuery {
            symbol,
            contract_type,
            strike_count: parse_num(q, "strikeCount")?,
            include_underlying: q
                .get("includeUnderlyingQuote")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            strike: parse_num(q, "strike")?,
            range,
            from: date("fromDate")?,
            to: date("toDate")?,
            exp_month,
            standard_only,
            analytical,
        })
    }
}

/// Why a chain could not be served.
#[derive(Debug, Clone, PartialEq)]
pub enum ChainError {
    /// More contracts than the gateway's body limit allows.
    TooBig(usize),
}

/// The `fault` body Schwab's gateway sends for an oversized chain.
pub fn too_big_body() -> Value {
    json!({"fault":{"faultstring":"Body buffer overflow","detail":{"errorcode":"protocol.http.TooBigBody"}}})
}

/// The chain's `underlying` object.
pub fn underlying_json(u: &Underlying) -> Value {
    json!({
        "symbol": u.spec.symbol,
        "description": u.spec.description,
        "change": u.net_change(),
        "percentChange": round_to(u.pct_change(), 2),
        "close": u.prev_close,
        "quoteTime": u.quote_time,
        "tradeTime": u.trade_time,
        "bid": u.bid,
        "ask": u.ask,
        "last": u.last,
        "mark": u.mark(),
        "markChange": round_to(u.mark() - u.prev_close, 3),
        "markPercentChange": if u.prev_close > 0.0 { round_to((u.mark() - u.prev_close) / u.prev_close * 100.0, 2) } else { 0.0 },
        "bidSize": u.bid_size,
        "askSize": u.ask_size,
        "highPrice": u.high,
        "lowPrice": u.low,
        "openPrice": u.open,
        "totalVolume": u.volume,
        "exchangeName": u.spec.exchange_name,
        "fiftyTwoWeekHigh": u.high52,
        "fiftyTwoWeekLow": u.low52,
        "delayed": false,
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Deliverable {
    symbol: String,
    asset_type: &'static str,
    deliverable_units: f64,
}

/// One contract of the chain, live field names in capture order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractJson {
    put_call: &'static str,
    symbol: String,
    description: String,
    exchange_name: &'static str,
    bid: f64,
    ask: f64,
    last: f64,
    mark: f64,
    bid_size: i64,
    ask_size: i64,
    bid_ask_size: String,
    last_size: i64,
    high_price: f64,
    low_price: f64,
    open_price: f64,
    close_price: f64,
    total_volume: i64,
    trade_time_in_long: i64,
    quote_time_in_long: i64,
    net_change: f64,
    volatility: f64,
    delta: f64,
    gamma: f64,
    theta: f64,
    vega: f64,
    rho: f64,
    open_interest: i64,
    time_value: f64,
    theoretical_option_value: f64,
    theoretical_volatility: f64,
    option_deliverables_list: Vec<Deliverable>,
    strike_price: f64,
    expiration_date: String,
    days_to_expiration: i64,
    expiration_type: String,
    last_trading_day: i64,
    multiplier: f64,
    settlement_type: String,
    deliverable_note: &'static str,
    percent_change: f64,
    mark_change: f64,
    mark_percent_change: f64,
    intrinsic_value: f64,
    extrinsic_value: f64,
    option_root: &'static str,
    exercise_type: &'static str,
    high52_week: f64,
    low52_week: f64,
    non_standard: bool,
    penny_pilot: bool,
    in_the_money: bool,
    mini: bool,
}

/// A contract as the chain shows it; with `analytical` inputs, the theoretical value, vol and greeks are the
/// model's at those inputs instead of the market's.
pub fn contract_json(m: &Market, c: &Contract, analytical: Option<&Analytical>) -> ContractJson {
    let u = &m.underlyings[c.underlying];
    let rules = &u.spec.rules;
    let is_index = u.spec.kind == AssetKind::Index;
    let mut vol = c.vol_pct(rules);
    let [mut delta, mut gamma, mut theta, mut vega, mut rho] = c.greeks_out(rules);
    let mut theo = c.theo();
    let mut theo_vol = round_to(c.vol * 100.0, 3);
    if let Some(a) = analytical {
        let v = a.volatility_pct.map_or(c.vol, |p| p / 100.0);
        let t = a.days_to_expiration.map_or(
            ((c.expiry_ms - m.pricing_ms()) as f64 / (365.0 * 86_400_000.0)).max(1e-6),
            |d| (d / 365.0).max(0.0),
        );
        let g = black_scholes(&BsInputs {
            spot: a.underlying_price.unwrap_or(u.spot),
            strike: c.strike,
            t,
            r: a.interest_rate_pct.map_or(RATE, |p| p / 100.0),
            q: u.spec.div_yield,
            vol: v,
            call: c.call,
        });
        theo = round_to(g.price, 3);
        theo_vol = round_to(v * 100.0, 3);
        vol = theo_vol;
        [delta, gamma, theta, vega, rho] =
            [g.delta, g.gamma, g.theta, g.vega, g.rho].map(|x| round_to(x, 4));
    }
    let intrinsic = c.intrinsic(u.spot);
    ContractJson {
        put_call: if c.call { "CALL" } else { "PUT" },
        symbol: c.symbol.to_string(),
        description: c.description.to_string(),
        exchange_name: "OPR",
        bid: c.bid,
        ask: c.ask,
        last: c.last,
        mark: c.mark(),
        bid_size: c.bid_size,
        ask_size: c.ask_size,
        bid_ask_size: format!("{}X{}", c.bid_size, c.ask_size),
        last_size: c.last_size,
        high_price: c.high,
        low_price: c.low,
        open_price: c.open,
        close_price: c.close,
        total_volume: c.volume,
        trade_time_in_long: c.trade_time,
        quote_time_in_long: c.quote_time,
        net_change: c.net_change(),
        volatility: vol,
        delta,
        gamma,
        theta,
        vega,
        rho,
        open_interest: c.open_interest,
        time_value: c.time_value(u.spot),
        theoretical_option_value: theo,
        theoretical_volatility: theo_vol,
        option_deliverables_list: vec![Deliverable {
            symbol: u.spec.symbol.to_string(),
            asset_type: if is_index { "INDEX" } else { "STOCK" },
            deliverable_units: 100.0,
        }],
        strike_price: c.strike,
        expiration_date: iso_utc_ms(c.expiry_ms),
        days_to_expiration: c.dte(m.today),
        expiration_type: c.exp_type.to_string(),
        last_trading_day: c.last_trading_day_ms,
        multiplier: 100.0,
        settlement_type: c.settlement().to_string(),
        deliverable_note: "",
        percent_change: round_to(c.pct_change(), 2),
        mark_change: c.mark_change(),
        mark_percent_change: round_to(c.mark_pct_change(), 2),
        intrinsic_value: intrinsic,
        extrinsic_value: c.time_value(u.spot),
        option_root: c.root,
        exercise_type: if is_index { "E" } else { "A" },
        high52_week: c.high52,
        low52_week: c.low52,
        non_standard: false,
        penny_pilot: !is_index,
        in_the_money: c.in_the_money(u.spot),
        mini: false,
    }
}

type ExpMap = OrderedMap<OrderedMap<Vec<ContractJson>>>;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ChainJson {
    symbol: String,
    status: &'static str,
    underlying: Option<Value>,
    strategy: &'static str,
    interval: f64,
    is_delayed: bool,
    is_index: bool,
    interest_rate: f64,
    underlying_price: f64,
    volatility: f64,
    days_to_expiration: f64,
    number_of_contracts: usize,
    asset_main_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    asset_sub_type: Option<&'static str>,
    is_chain_truncated: bool,
    call_exp_date_map: ExpMap,
    put_exp_date_map: ExpMap,
}

/// The body of an unknown symbol's chain (Schwab answers 200 with status `FAILED`).
fn failed_chain(symbol: &str) -> String {
    json!({
        "symbol": symbol, "status": "FAILED", "underlying": null, "strategy": "SINGLE", "interval": 0.0,
        "isDelayed": false, "isIndex": false, "interestRate": round_to(RATE * 100.0, 3), "underlyingPrice": 0.0,
        "volatility": 29.0, "daysToExpiration": 0.0, "numberOfContracts": 0, "isChainTruncated": false,
        "callExpDateMap": {}, "putExpDateMap": {}
    })
    .to_string()
}

/// Selects and renders a chain. `max_contracts` is the gateway's body limit in contracts.
pub fn chain(m: &Market, q: &ChainQuery, max_contracts: usize) -> Result<String, ChainError> {
    let Some(ui) = m.underlying_index(&q.symbol) else {
        return Ok(failed_chain(&q.symbol));
    };
    let u = &m.underlyings[ui];
    let spot = q
        .analytical
        .and_then(|a| a.underlying_price)
        .unwrap_or(u.spot);
    // The strike window of strikeCount, around the first strike at or above the underlying.
    let mut strikes: Vec<f64> = m.contracts_of(ui).map(|c| c.strike).collect();
    strikes.sort_by(f64::total_cmp);
    strikes.dedup();
    let window = q.strike_count.map(|n| {
        let atm = strikes.partition_point(|k| *k < spot);
        let lo = atm.saturating_sub(n);
        let hi = (atm + n).min(strikes.len());
        (
            strikes.get(lo).copied().unwrap_or(f64::MAX),
            strikes
                .get(hi.saturating_sub(1))
                .copied()
                .unwrap_or(f64::MIN),
        )
    });
    let selected: Vec<&Contract> = m
        .contracts_of(ui)
        .filter(|c| match q.contract_type {
            ContractType::Call => c.call,
            ContractType::Put => !c.call,
            ContractType::All => true,
        })
        .filter(|c| window.is_none_or(|(lo, hi)| c.strike >= lo && c.strike <= hi))
        .filter(|c| q.strike.is_none_or(|k| (c.strike - k).abs() < 1e-6))
        .filter(|c| q.from.is_none_or(|d| c.expiry >= d) && q.to.is_none_or(|d| c.expiry <= d))
        .filter(|c| q.exp_month.is_none_or(|mo| c.expiry.ymd().1 == mo))
        .filter(|_| q.standard_only != Some(false))
        .filter(|c| {
            let near = (c.strike / spot - 1.0).abs() <= 0.05;
            let itm = if c.call {
                c.strike < spot
            } else {
                c.strike > spot
            };
            match q.range.as_str() {
                "ITM" => itm,
                "OTM" => !itm,
                "NTM" | "SNK" => near,
                "SAK" => c.strike > spot,
                "SBK" => c.strike < spot,
                _ => true,
            }
        })
        .collect();
    if selected.len() > max_contracts {
        return Err(ChainError::TooBig(selected.len()));
    }
    let mut calls: ExpMap = OrderedMap::default();
    let mut puts: ExpMap = OrderedMap::default();
    // Contracts are listed by expiry then root; regroup by (expiry, strike) so a date's SPX and SPXW contracts
    // at one strike share the strike's list.
    let mut ordered = selected.clone();
    ordered.sort_by(|a, b| {
        a.expiry
            .cmp(&b.expiry)
            .then(a.strike.total_cmp(&b.strike))
            .then(a.am.cmp(&b.am))
    });
    for c in ordered {
        let map = if c.call { &mut calls } else { &mut puts };
        let exp_key = format!("{}:{}", c.expiry.iso(), c.dte(m.today));
        if map.0.last().is_none_or(|(k, _)| *k != exp_key) {
            map.0.push((exp_key, OrderedMap::default()));
        }
        let strikes = &mut map.0.last_mut().expect("pushed above").1;
        let sk = strike_key(c.strike);
        if strikes.0.last().is_none_or(|(k, _)| *k != sk) {
            strikes.0.push((sk, Vec::new()));
        }
        strikes
            .0
            .last_mut()
            .expect("pushed above")
            .1
            .push(contract_json(m, c, q.analytical.as_ref()));
    }
    let body = ChainJson {
        symbol: q.symbol.clone(),
        status: "SUCCESS",
        underlying: q.include_underlying.then(|| underlying_json(u)),
        strategy: if q.analytical.is_some() {
            "ANALYTICAL"
        } else {
            "SINGLE"
        },
        interval: 0.0,
        is_delayed: false,
        is_index: u.spec.kind == AssetKind::Index,
        interest_rate: round_to(
            q.analytical
                .and_then(|a| a.interest_rate_pct)
                .unwrap_or(RATE * 100.0),
            3,
        ),
        underlying_price: round_to(spot, 2),
        volatility: round_to(u.atm_vol * 100.0, 3),
        days_to_expiration: 0.0,
        number_of_contracts: selected.len(),
        asset_main_type: u.spec.kind.main_type(),
        asset_sub_type: u.spec.kind.sub_type(),
        is_chain_truncated: false,
        call_exp_date_map: calls,
        put_exp_date_map: puts,
    };
    Ok(serde_json::to_string(&body).unwrap_or_default())
}

/// `GET /marketdata/v1/expirationchain?symbol=X`: one entry per expiry and root. An unknown symbol has an
/// empty list.
pub fn expiration_chain(m: &Market, symbol: &str) -> Value {
    let mut list: Vec<ExpirationEntry> = Vec::new();
    if let Some(ui) = m.underlying_index(&symbol.trim().to_ascii_uppercase()) {
        let mut seen: Vec<(Date, &str)> = Vec::new();
        for c in m.contracts_of(ui) {
            if !seen.contains(&(c.expiry, c.root)) {
                seen.push((c.expiry, c.root));
            }
        }
        seen.sort();
        for (d, root) in seen {
            let c = m
                .contracts_of(ui)
                .find(|c| c.expiry == d && c.root == root)
                .expect("seen above");
            list.push(ExpirationEntry {
                expiration_date: d.iso(),
                days_to_expiration: Some(m.today.days_until(d)),
                expiration_type: Some(c.exp_type.to_string()),
                settlement_type: Some(c.settlement().to_string()),
                option_roots: Some(root.to_string()),
                standard: Some(true),
            });
        }
    }
    serde_json::to_value(ExpirationChain {
        expiration_list: list,
    })
    .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::super::market::MarketConfig;
    use super::*;

    fn market() -> Market {
        Market::new(
            MarketConfig {
                seed: 4,
                speed: 1.0,
                load_contracts: 0,
                load_expiries: 0,
            },
            Date::from_ymd(2025, 12, 9).at_et(11, 0),
        )
    }

    fn query(pairs: &[(&str, &str)]) -> ChainQuery {
        let q: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ChainQuery::parse(&q).unwrap()
    }

    fn body(m: &Market, pairs: &[(&str, &str)]) -> Value {
        serde_json::from_str(&chain(m, &query(pairs), 100_000).unwrap()).unwrap()
    }

    #[test]
    fn strike_keys_print_like_java_doubles() {
        assert_eq!(strike_key(230.0), "230.0");
        assert_eq!(strike_key(192.5), "192.5");
        assert_eq!(strike_key(6880.0), "6880.0");
        assert_eq!(strike_key(40.012), "40.012");
    }

    #[test]
    fn chain_shape_matches_the_capture() {
        let m = market();
        let b = body(
            &m,
            &[
                ("symbol", "AAPL"),
                ("contractType", "CALL"),
                ("strike", "230"),
                ("includeUnderlyingQuote", "true"),
            ],
        );
        assert_eq!(b["symbol"], "AAPL");
        assert_eq!(b["status"], "SUCCESS");
        assert_eq!(b["strategy"], "SINGLE");
        assert_eq!(b["isIndex"], false);
        assert_eq!(b["assetMainType"], "EQUITY");
        assert_eq!(b["underlying"]["symbol"], "AAPL");
        assert!(b["putExpDateMap"].as_object().unwrap().is_empty());
        let calls = b["callExpDateMap"].as_object().unwrap();
        assert!(!calls.is_empty());
        assert_eq!(
            b["numberOfContracts"].as_u64().unwrap() as usize,
            calls.len()
        );
        for (exp, strikes) in calls {
            let (date, dte) = exp.split_once(':').unwrap();
            let d = Date::parse_iso(date).unwrap();
            assert_eq!(dte.parse::<i64>().unwrap(), m.today.days_until(d));
            let list = strikes["230.0"].as_array().unwrap();
            assert_eq!(list.len(), 1);
            let c = &list[0];
            assert_eq!(c["putCall"], "CALL");
            let sym = c["symbol"].as_str().unwrap();
            assert_eq!(sym.len(), 21);
            assert!(
                sym.starts_with("AAPL  ") && sym.ends_with("C00230000"),
                "{sym}"
            );
            assert_eq!(c["strikePrice"], 230.0);
            assert_eq!(
                c["daysToExpiration"].as_i64().unwrap(),
                m.today.days_until(d)
            );
            assert!(c["expirationDate"]
                .as_str()
                .unwrap()
                .ends_with(":00.000+00:00"));
            assert_eq!(c["optionRoot"], "AAPL");
            assert_eq!(c["exchangeName"], "OPR");
            for k in [
                "bid",
                "ask",
                "last",
                "mark",
                "bidAskSize",
                "totalVolume",
                "volatility",
                "delta",
                "gamma",
                "theta",
                "vega",
                "rho",
                "openInterest",
                "timeValue",
                "theoreticalOptionValue",
                "optionDeliverablesList",
                "expirationType",
                "lastTradingDay",
                "multiplier",
                "settlementType",
                "intrinsicValue",
                "extrinsicValue",
                "exerciseType",
                "high52Week",
                "nonStandard",
                "pennyPilot",
                "inTheMoney",
                "mini",
                "quoteTimeInLong",
                "tradeTimeInLong",
            ] {
                assert!(c.get(k).is_some(), "missing {k}");
            }
        }
        // Without includeUnderlyingQuote the underlying is null.
        let b = body(&m, &[("symbol", "AAPL"), ("strikeCount", "2")]);
        assert!(b["underlying"].is_null());
    }

    #[test]
    fn maps_are_in_date_and_numeric_strike_order() {
        let m = market();
        let raw = chain(
            &m,
            &query(&[
                ("symbol", "$SPX"),
                ("strikeCount", "30"),
                ("toDate", "2025-12-20"),
            ]),
            100_000,
        )
        .unwrap();
        // Parse preserving order by scanning the raw text for the keys.
        let b: Value = serde_json::from_str(&raw).unwrap();
        let calls = b["callExpDateMap"].as_object().unwrap();
        let mut exp_pos: Vec<(usize, Date)> = calls
            .keys()
            .map(|k| {
                (
                    raw.find(&format!("\"{k}\"")).unwrap(),
                    Date::parse_iso(&k[..10]).unwrap(),
                )
            })
            .collect();
        exp_pos.sort();
        assert!(exp_pos.windows(2).all(|w| w[0].1 < w[1].1));
        let first = format!("{}:0", m.today.iso());
        let strikes = calls[&first].as_object().unwrap();
        assert_eq!(strikes.len(), 60);
        let mut pos: Vec<(usize, f64)> = strikes
            .keys()
            .map(|k| {
                (
                    raw.find(&format!(
                        "\"{k}\":[{{\"putCall\":\"CALL\",\"symbol\":\"SPXW"
                    ))
                    .unwrap(),
                    k.parse().unwrap(),
                )
            })
            .collect();
        pos.sort_by_key(|p| p.0);
        assert!(pos.windows(2).all(|w| w[0].1 < w[1].1));
        // The December monthly has both roots under one strike.
        let dec19 = calls.keys().find(|k| k.starts_with("2025-12-19")).unwrap();
        let (_, list) = calls[dec19].as_object().unwrap().iter().next().unwrap();
        let roots: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["optionRoot"].as_str().unwrap())
            .collect();
        assert_eq!(roots, vec!["SPXW", "SPX"]);
        assert_eq!(b["isIndex"], true);
        assert_eq!(b["assetMainType"], "INDEX");
    }

    #[test]
    fn filters() {
        let m = market();
        let today = m.today.iso();
        let b = body(
            &m,
            &[
                ("symbol", "SPY"),
                ("fromDate", &today),
                ("toDate", &today),
                ("strikeCount", "5"),
            ],
        );
        let calls = b["callExpDateMap"].as_object().unwrap();
        assert_eq!(
            calls.keys().collect::<Vec<_>>(),
            vec![&format!("{today}:0")]
        );
        assert_eq!(calls[&format!("{today}:0")].as_object().unwrap().len(), 10);
        assert_eq!(b["putExpDateMap"].as_object().unwrap().len(), 1);
        let spot = m.underlying("SPY").unwrap().spot;
        let itm = body(
            &m,
            &[("symbol", "SPY"), ("range", "ITM"), ("toDate", &today)],
        );
        for (_, strikes) in itm["putExpDateMap"].as_object().unwrap() {
            for (k, _) in strikes.as_object().unwrap() {
                assert!(k.parse::<f64>().unwrap() > spot);
            }
        }
        let none = body(&m, &[("symbol", "SPY"), ("optionType", "NS")]);
        assert_eq!(none["numberOfContracts"], 0);
        let jan = body(&m, &[("symbol", "AAPL"), ("expMonth", "JAN")]);
        assert!(jan["callExpDateMap"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| k.starts_with("2026-01")));
        // Bad dates and strategies are 400s.
        let bad: HashMap<String, String> = [
            ("symbol".to_string(), "SPY".to_string()),
            ("fromDate".to_string(), "12/01/2025".to_string()),
        ]
        .into();
        assert!(ChainQuery::parse(&bad).is_err());
        let bad: HashMap<String, String> = [
            ("symbol".to_string(), "SPY".to_string()),
            ("strategy".to_string(), "VERTICAL".to_string()),
        ]
        .into();
        assert!(ChainQuery::parse(&bad).is_err());
        assert!(ChainQuery::parse(&HashMap::new()).is_err());
    }

    #[test]
    fn unknown_symbols_fail_and_huge_chains_overflow() {
        let m = market();
        let b = body(&m, &[("symbol", "NOPE")]);
        assert_eq!(b["status"], "FAILED");
        assert_eq!(b["numberOfContracts"], 0);
        assert!(
            matches!(chain(&m, &query(&[("symbol", "$SPX")]), 3000), Err(ChainError::TooBig(n)) if n > 3000)
        );
        assert_eq!(
            too_big_body()["fault"]["detail"]["errorcode"],
            "protocol.http.TooBigBody"
        );
    }

    #[test]
    fn analytical_uses_the_given_inputs() {
        let m = market();
        let b = body(
            &m,
            &[
                ("symbol", "AAPL"),
                ("strategy", "ANALYTICAL"),
                ("volatility", "50"),
                ("strike", "230"),
                ("contractType", "CALL"),
            ],
        );
        assert_eq!(b["strategy"], "ANALYTICAL");
        for (_, strikes) in b["callExpDateMap"].as_object().unwrap() {
            assert_eq!(strikes["230.0"][0]["volatility"], 50.0);
        }
    }

    #[test]
    fn worthless_contracts_report_minus_999() {
        let m = market();
        let today = m.today.iso();
        let b = body(
            &m,
            &[
                ("symbol", "$SPX"),
                ("contractType", "PUT"),
                ("toDate", &today),
            ],
        );
        let strikes = b["putExpDateMap"][format!("{today}:0")]
            .as_object()
            .unwrap();
        let (_, far) = strikes.iter().next().unwrap();
        assert_eq!(far[0]["volatility"], -999.0);
        assert_eq!(far[0]["delta"], -999.0);
    }

    #[test]
    fn expiration_chain_lists_roots() {
        let m = market();
        let e = expiration_chain(&m, "$SPX");
        let list = e["expirationList"].as_array().unwrap();
        assert_eq!(list[0]["expirationDate"], m.today.iso());
        assert_eq!(list[0]["daysToExpiration"], 0);
        assert!(list.iter().any(|x| x["optionRoots"] == "SPX"
            && x["settlementType"] == "A"
            && x["expirationType"] == "S"));
        assert!(expiration_chain(&m, "NOPE")["expirationList"]
            .as_array()
            .unwrap()
            .is_empty());
    }
}
