//! `GET /marketdata/v1/quotes`, `GET /marketdata/v1/{symbol}/quotes` and `GET /marketdata/v1/pricehistory`
//! bodies (pure).
//!
//! Quotes are a map keyed by symbol; each entry has `assetMainType`, `symbol`, `realtime`, `ssid` and the root
//! nodes asked for with `fields` (`quote`, `fundamental`, `extended`, `reference`, `regular`; default all).
//! Unknown symbols are listed under `"errors":{"invalidSymbols":[…]}`. Option symbols are the exact 21-character
//! OSI form.
//!
//! Price history is synthetic but consistent: a seeded walk that ends at the underlying's current price, with
//! regular-hours minute candles (`frequencyType=minute`, every 1/5/10/15/30 minutes) or daily, weekly and monthly
//! ones, `datetime` in epoch ms (daily candles at midnight Central time, as Schwab stamps them).

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

use super::market::{normal, AssetKind, Contract, Market, Underlying, RATE};
use super::pricing::round_to;
use tickdesk_market::zone::et_date;
use tickdesk_market::{Date, DAY_MS, MINUTE_MS};

const ROOT_NODES: [&str; 5] = ["quote", "fundamental", "extended", "reference", "regular"];

/// The root nodes asked for (`fields=quote,reference`); `all` or nothing means every one.
pub fn parse_quote_fields(fields: Option<&str>) -> Vec<&'static str> {
    let Some(f) = fields.filter(|f| !f.trim().is_empty()) else {
        return ROOT_NODES.to_vec();
    };
    let asked: Vec<String> = f
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    if asked.iter().any(|a| a == "all") {
        return ROOT_NODES.to_vec();
    }
    ROOT_NODES
        .iter()
        .copied()
        .filter(|n| asked.iter().any(|a| a == n))
        .collect()
}

fn ssid(symbol: &str) -> u64 {
    symbol.bytes().fold(1_000_000_007u64, |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    }) % 2_000_000_000
}

fn underlying_quote(u: &Underlying, nodes: &[&str]) -> Value {
    let s = &u.spec;
    let is_index = s.kind == AssetKind::Index;
    let mut o = Map::new();
    o.insert("assetMainType".into(), json!(s.kind.main_type()));
    if let Some(sub) = s.kind.sub_type() {
        o.insert("assetSubType".into(), json!(sub));
    }
    o.insert("symbol".into(), json!(s.symbol));
    o.insert("realtime".into(), json!(true));
    o.insert("ssid".into(), json!(ssid(s.symbol)));
    let mark = u.mark();
    let mark_change = round_to(mark - u.prev_close, 3);
    let mark_pct = if u.prev_close > 0.0 {
        round_to(mark_change / u.prev_close * 100.0, 4)
    } else {
        0.0
    };
    for n in nodes {
        let v = match *n {
            "quote" if is_index => json!({
                "52WeekHigh": u.high52, "52WeekLow": u.low52, "closePrice": u.prev_close, "highPrice": u.high,
                "lastPrice": u.last, "lowPrice": u.low, "netChange": u.net_change(),
                "netPercentChange": u.pct_change(), "openPrice": u.open, "securityStatus": "Unknown",
                "totalVolume": u.volume, "tradeTime": u.trade_time,
            }),
            "quote" => json!({
                "52WeekHigh": u.high52, "52WeekLow": u.low52, "askMICId": "XNAS", "askPrice": u.ask,
                "askSize": u.ask_size, "askTime": u.quote_time, "bidMICId": "XNAS", "bidPrice": u.bid,
                "bidSize": u.bid_size, "bidTime": u.quote_time, "closePrice": u.prev_close, "highPrice": u.high,
                "lastMICId": "XNAS", "lastPrice": u.last, "lastSize": u.last_size, "lowPrice": u.low,
                "mark": mark, "markChange": mark_change, "markPercentChange": mark_pct,
                "netChange": u.net_change(), "netPercentChange": u.pct_change(), "openPrice": u.open,
                "postMarketChange": 0.0, "postMarketPercentChange": 0.0, "quoteTime": u.quote_time,
                "securityStatus": "Normal", "totalVolume": u.volume, "tradeTime": u.trade_time,
                "volatility": round_to(u.atm_vol, 4),
            }),
            "reference" if is_index => json!({
                "description": s.description, "exchange": "$", "exchangeName": s.exchange_name,
            }),
            "reference" => json!({
                "cusip": s.cusip.unwrap_or(""), "description": s.description, "exchange": "Q",
                "exchangeName": s.exchange_name, "isHardToBorrow": false, "isShortable": true, "htbRate": 0.0,
            }),
            "regular" if !is_index => json!({
                "regularMarketLastPrice": u.last, "regularMarketLastSize": u.last_size,
                "regularMarketNetChange": u.net_change(), "regularMarketPercentChange": u.pct_change(),
                "regularMarketTradeTime": u.trade_time,
            }),
            "fundamental" if !is_index => json!({
                "avg10DaysVolume": s.daily_volume, "avg1YearVolume": s.daily_volume, "divAmount": s.annual_dividend,
                "divFreq": if s.annual_dividend > 0.0 { 4 } else { 0 }, "divPayAmount": round_to(s.annual_dividend / 4.0, 4),
                "divYield": if u.last > 0.0 { round_to(s.annual_dividend / u.last * 100.0, 2) } else { 0.0 },
                "eps": if s.pe_ratio > 0.0 { round_to(u.last / s.pe_ratio, 2) } else { 0.0 },
                "fundLeverageFactor": 0.0, "peRatio": s.pe_ratio,
            }),
            "extended" if !is_index => json!({
                "askPrice": 0.0, "askSize": 0, "bidPrice": 0.0, "bidSize": 0, "lastPrice": u.last, "lastSize": 0,
                "mark": 0.0, "quoteTime": 0, "totalVolume": 0, "tradeTime": 0,
            }),
            _ => continue,
        };
        o.insert((*n).into(), v);
    }
    Value::Object(o)
}

fn option_quote(m: &Market, c: &Contract, nodes: &[&str]) -> Value {
    let u = &m.underlyings[c.underlying];
    let rules = &u.spec.rules;
    let [delta, gamma, theta, vega, rho] = c.greeks_out(rules);
    let is_index = u.spec.kind == AssetKind::Index;
    let (y, mo, d) = c.expiry.ymd();
    let mut o = Map::new();
    o.insert("assetMainType".into(), json!("OPTION"));
    o.insert("symbol".into(), json!(&*c.symbol));
    o.insert("realtime".into(), json!(true));
    o.insert("ssid".into(), json!(ssid(&c.symbol)));
    for n in nodes {
        let v = match *n {
            "quote" => json!({
                "52WeekHigh": c.high52, "52WeekLow": c.low52, "askPrice": c.ask, "askSize": c.ask_size,
                "bidPrice": c.bid, "bidSize": c.bid_size, "closePrice": c.close, "delta": delta, "gamma": gamma,
                "highPrice": c.high, "impliedYield": round_to(RATE * 100.0, 3),
                "indAskPrice": if is_index { c.ask } else { 0.0 }, "indBidPrice": if is_index { c.bid } else { 0.0 },
                "indQuoteTime": if is_index { c.quote_time } else { 0 }, "lastPrice": c.last, "lastSize": c.last_size,
                "lowPrice": c.low, "mark": c.mark(), "markChange": c.mark_change(),
                "markPercentChange": c.mark_pct_change(), "moneyIntrinsicValue": c.money_intrinsic(u.spot),
                "netChange": c.net_change(), "netPercentChange": c.pct_change(), "openInterest": c.open_interest,
                "openPrice": c.open, "quoteTime": c.quote_time, "rho": rho, "securityStatus": "Normal",
                "theoreticalOptionValue": c.theo(), "theta": theta, "timeValue": c.time_value(u.spot),
                "totalVolume": c.volume, "tradeTime": c.trade_time, "underlyingPrice": u.last, "vega": vega,
                "volatility": c.vol_pct(rules),
            }),
            "reference" => json!({
                "contractType": if c.call { "C" } else { "P" }, "daysToExpiration": c.dte(m.today),
                "deliverables": format!("100 {}", u.spec.symbol.trim_start_matches('$')),
                "description": &*c.description, "exchange": "o", "exchangeName": "OPR",
                "exerciseType": if is_index { "E" } else { "A" }, "expirationDay": d, "expirationMonth": mo,
                "expirationYear": y, "isPennyPilot": !is_index, "lastTradingDay": c.last_trading_day_ms,
                "multiplier": 100.0, "settlementType": c.settlement().to_string(), "strikePrice": c.strike,
                "underlying": u.spec.symbol, "uvExpirationType": c.exp_type.to_string(),
            }),
            _ => continue,
        };
        o.insert((*n).into(), v);
    }
    Value::Object(o)
}

/// The quotes map for `symbols` (comma-separated; option symbols keep their inner spaces).
pub fn quotes(m: &Market, symbols: &str, fields: Option<&str>) -> Value {
    let nodes = parse_quote_fields(fields);
    let mut out = Map::new();
    let mut invalid: Vec<String> = Vec::new();
    for sym in symbols.split(',') {
        let sym = sym.trim().to_ascii_uppercase();
        if sym.is_empty() {
            continue;
        }
        if let Some(u) = m.underlying(&sym) {
            out.insert(sym, underlying_quote(u, &nodes));
        } else if let Some(c) = m.contract(&sym) {
            out.insert(sym, option_quote(m, c, &nodes));
        } else {
            invalid.push(sym);
        }
    }
    if !invalid.is_empty() {
        out.insert("errors".into(), json!({ "invalidSymbols": invalid }));
    }
    Value::Object(out)
}

/// The parsed price-history request.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryQuery {
    pub symbol: String,
    pub period_type: String,
    pub period: i64,
    pub frequency_type: String,
    pub frequency: i64,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub need_previous_close: bool,
    /// Pre-market and after-hours minute candles too (`needExtendedHoursData=true`).
    pub need_extended_hours: bool,
}

impl HistoryQuery {
    /// Applies Schwab's defaults: `day` → 10 days of 1-minute candles; `month` → 1 month weekly; `year` → 1 year
    /// monthly; `ytd` → weekly. The error is the 400 message.
    pub fn parse(q: &HashMap<String, String>) -> Result<HistoryQuery, String> {
        let symbol = q
            .get("symbol")
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .ok_or("symbol is required")?;
        let period_type = q
            .get("periodType")
            .map_or("day".to_string(), |s| s.to_ascii_lowercase());
        let (def_period, def_freq) = match period_type.as_str() {
            "day" => (10, "minute"),
            "month" => (1, "weekly"),
            "year" => (1, "monthly"),
            "ytd" => (1, "weekly"),
            o => return Err(format!("periodType: unknown value {o:?}")),
        };
        let num = |k: &str| -> Result<Option<i64>, String> {
            q.get(k)
                .map(|v| {
                    v.trim()
                        .parse::<i64>()
                        .map_err(|_| format!("{k}: not a number: {v:?}"))
                })
                .transpose()
        };
        let frequency_type = q
            .get("frequencyType")
            .map_or(def_freq.to_string(), |s| s.to_ascii_lowercase());
        if !["minute", "daily", "weekly", "monthly"].contains(&frequency_type.as_str()) {
            return Err(format!("frequencyType: unknown value {frequency_type:?}"));
        }
        let frequency = num("frequency")?.unwrap_or(1);
        if frequency_type == "minute" && ![1, 5, 10, 15, 30].contains(&frequency) {
            return Err(format!(
                "frequency {frequency} is not valid for minute candles"
            ));
        }
        Ok(HistoryQuery {
            symbol,
            // Bounded: a request for millions of days must not loop or overflow.
            period: num("period")?.unwrap_or(def_period).clamp(1, 3650),
            period_type,
            frequency_type,
            frequency: frequency.max(1),
            start: num("startDate")?,
            end: num("endDate")?,
            need_previous_close: q
                .get("needPreviousClose")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            need_extended_hours: q
                .get("needExtendedHoursData")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        })
    }
}

/// Candle start times (UTC ms) in `[start, end]` for daily, weekly and monthly candles, on weekdays and on
/// `today`.
fn candle_times(q: &HistoryQuery, start: i64, end: i64, today: Date) -> Vec<i64> {
    let mut out = Vec::new();
    let (first, last) = (et_date(start), et_date(end));
    let mut d = first;
    while d <= last && out.len() < 50_000 {
        if d.is_weekday() || d == today {
            match q.frequency_type.as_str() {
                "daily" => out.push(d.at_et(1, 0)),
                "weekly" if d.weekday() == 0 || d == first => out.push(d.at_et(1, 0)),
                "monthly"
                    if d.ymd().2 <= 3
                        && out.last().is_none_or(|p| et_date(*p).ymd().1 != d.ymd().1) =>
                {
                    out.push(d.at_et(1, 0))
                }
                _ => {}
            }
        }
        d = d.add_days(1);
    }
    out
}

/// Minute candles: the underlying's 1-minute bars (recorded from the walk, a fixed synthetic past before it; see
/// `market/bars.rs`), so a minute already streamed by `CHART_EQUITY` is the same here; every `frequency` minutes
/// aggregated from 04:00 ET (09:30 is on every grid).
fn minute_history(
    m: &Market,
    u: &Underlying,
    q: &HistoryQuery,
    start: i64,
    end: i64,
    seed: u64,
) -> Value {
    let bars = u.minute_bars(seed, start, end, q.need_extended_hours);
    let step = q.frequency * MINUTE_MS;
    let mut candles: Vec<tickdesk_wire::bars::Bar> = Vec::new();
    for b in bars {
        let grid = et_date(b.t).at_et(4, 0);
        let t = grid + (b.t - grid).div_euclid(step) * step;
        match candles.last_mut().filter(|c| c.t == t) {
            Some(c) => {
                c.h = c.h.max(b.h);
                c.l = c.l.min(b.l);
                c.c = b.c;
                c.v += b.v;
            }
            None => candles.push(tickdesk_wire::bars::Bar { t, ..b }),
        }
    }
    let list: Vec<Value> = candles
        .iter()
        .map(|c| {
            json!({"open": c.o, "high": c.h, "low": c.l, "close": c.c, "volume": c.v as i64, "datetime": c.t})
        })
        .collect();
    let mut body = json!({"candles": list, "symbol": u.spec.symbol, "empty": list.is_empty()});
    if q.need_previous_close {
        body["previousClose"] = json!(u.prev_close);
        body["previousCloseDate"] = json!(m.today.add_days(-1).at_et(1, 0));
    }
    body
}

/// The price-history body: candles ending at the underlying's current price.
pub fn price_history(m: &Market, q: &HistoryQuery, seed: u64) -> Value {
    let Some(u) = m.underlying(&q.symbol) else {
        return json!({"candles": [], "symbol": q.symbol, "empty": true});
    };
    let end = q.end.unwrap_or(m.now_ms).min(m.now_ms);
    let start = q
        .start
        .unwrap_or_else(|| {
            let days = match q.period_type.as_str() {
                "day" => {
                    // `period` trading days back, counting the end's day if it trades.
                    let trades = tickdesk_market::calendar::is_trading_day;
                    let mut d = et_date(end);
                    while !trades(d) {
                        d = d.add_days(-1);
                    }
                    let mut n = 1;
                    while n < q.period {
                        d = d.add_days(-1);
                        if trades(d) {
                            n += 1;
                        }
                    }
                    return d.at_et(0, 0);
                }
                "month" => 31 * q.period,
                "year" => 365 * q.period,
                _ => {
                    let (y, _, _) = et_date(end).ymd();
                    return Date::from_ymd(y, 1, 1).at_et(0, 0);
                }
            };
            end - days * DAY_MS
        })
        // No further back than twenty years, whatever was asked.
        .max(end - 20 * 366 * DAY_MS);
    if q.frequency_type == "minute" {
        return minute_history(m, u, q, start, end, seed);
    }
    let times = candle_times(q, start, end, m.today);
    let per_candle_years = match q.frequency_type.as_str() {
        "minute" => q.frequency as f64 / (252.0 * 390.0),
        "daily" => 1.0 / 252.0,
        "weekly" => 5.0 / 252.0,
        _ => 21.0 / 252.0,
    };
    let sigma = u.spec.atm_vol * per_candle_years.sqrt();
    let mut rng = StdRng::seed_from_u64(seed ^ ssid(u.spec.symbol) ^ (start as u64).rotate_left(7));
    // Walk backwards from the current price so the last close is today's last.
    let mut closes = vec![0.0; times.len()];
    let mut p = u.last;
    for c in closes.iter_mut().rev() {
        *c = p;
        p /= (sigma * normal(&mut rng)).exp();
    }
    let vol_per = u.spec.daily_volume
        * match q.frequency_type.as_str() {
            "minute" => q.frequency as f64 / 390.0,
            "daily" => 1.0,
            "weekly" => 5.0,
            _ => 21.0,
        };
    let mut prev = p;
    let candles: Vec<Value> = times
        .iter()
        .zip(&closes)
        .map(|(t, close)| {
            let open = prev;
            let hi = open.max(*close) * (1.0 + sigma * 0.5 * rng.random::<f64>());
            let lo = open.min(*close) * (1.0 - sigma * 0.5 * rng.random::<f64>());
            prev = *close;
            json!({
                "open": round_to(open, 2), "high": round_to(hi, 2), "low": round_to(lo, 2),
                "close": round_to(*close, 2), "volume": (vol_per * (0.6 + 0.8 * rng.random::<f64>())) as i64,
                "datetime": t,
            })
        })
        .collect();
    let mut body = json!({"candles": candles, "symbol": u.spec.symbol, "empty": times.is_empty()});
    if q.need_previous_close {
        body["previousClose"] = json!(u.prev_close);
        body["previousCloseDate"] = json!(m.today.add_days(-1).at_et(1, 0));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::super::market::MarketConfig;
    use super::*;

    fn market() -> Market {
        Market::new(
            MarketConfig {
                seed: 6,
                speed: 1.0,
                load_contracts: 0,
                load_expiries: 0,
            },
            Date::from_ymd(2025, 12, 9).at_et(11, 0),
        )
    }

    #[test]
    fn quotes_cover_equities_indexes_and_options() {
        let m = market();
        let opt = m
            .contracts
            .iter()
            .find(|c| c.root == "AAPL")
            .unwrap()
            .symbol
            .to_string();
        let q = quotes(&m, &format!("AAPL,$SPX,{opt},NOPE"), None);
        assert_eq!(q["AAPL"]["assetMainType"], "EQUITY");
        assert_eq!(q["AAPL"]["reference"]["cusip"], "037833100");
        assert_eq!(
            q["AAPL"]["quote"]["lastPrice"],
            m.underlying("AAPL").unwrap().last
        );
        assert_eq!(q["$SPX"]["assetMainType"], "INDEX");
        assert_eq!(q[&opt]["assetMainType"], "OPTION");
        assert_eq!(q[&opt]["reference"]["underlying"], "AAPL");
        assert_eq!(q["errors"]["invalidSymbols"], json!(["NOPE"]));
        let only = quotes(&m, "SPY", Some("quote"));
        assert!(only["SPY"].get("quote").is_some() && only["SPY"].get("reference").is_none());
    }

    #[test]
    fn price_history_ends_at_the_last_price() {
        let m = market();
        let q: HashMap<String, String> = [
            ("symbol", "AAPL"),
            ("periodType", "day"),
            ("period", "2"),
            ("frequency", "5"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let q = HistoryQuery::parse(&q).unwrap();
        assert_eq!(q.frequency_type, "minute");
        let h = price_history(&m, &q, 1);
        let candles = h["candles"].as_array().unwrap();
        // Yesterday's full session (78 five-minute candles) and today's from 09:30 to 11:00 inclusive (19).
        assert_eq!(candles.len(), 78 + 19, "{}", candles.len());
        assert_eq!(
            candles.last().unwrap()["close"],
            m.underlying("AAPL").unwrap().last
        );
        let times: Vec<i64> = candles
            .iter()
            .map(|c| c["datetime"].as_i64().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[1] > w[0]));
        for c in candles {
            let (o, hi, lo, cl) = (
                c["open"].as_f64().unwrap(),
                c["high"].as_f64().unwrap(),
                c["low"].as_f64().unwrap(),
                c["close"].as_f64().unwrap(),
            );
            assert!(hi >= o.max(cl) - 1e-9 && lo <= o.min(cl) + 1e-9);
        }
        let daily: HashMap<String, String> = [
            ("symbol", "SPY"),
            ("periodType", "month"),
            ("frequencyType", "daily"),
            ("needPreviousClose", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let h = price_history(&m, &HistoryQuery::parse(&daily).unwrap(), 1);
        let n = h["candles"].as_array().unwrap().len();
        assert!((20..=24).contains(&n), "{n}");
        assert!(h["previousClose"].is_number());
        let bad: HashMap<String, String> = [
            ("symbol".to_string(), "SPY".to_string()),
            ("frequency".to_string(), "7".to_string()),
        ]
        .into();
        assert!(HistoryQuery::parse(&bad).is_err());
        let unknown: HashMap<String, String> = [("symbol".to_string(), "NOPE".to_string())].into();
        assert_eq!(
            price_history(&m, &HistoryQuery::parse(&unknown).unwrap(), 1)["empty"],
            true
        );
    }
}
