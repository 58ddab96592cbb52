//! The simulated spot market: a seeded random walk per symbol, its aggregate trades, best bid/ask, rolling 24 h
//! statistics and 1-minute klines, and every payload in Binance's own JSON (prices and quantities as decimal
//! strings, event times in wall-clock ms, as Binance sends them).
//!
//! Pure: no sockets, no clock of its own. [`Market::step`] is given the time and a random source and returns the
//! events of that step as `(stream name, data JSON)` pairs; the sessions pick the streams they subscribed.

use std::collections::VecDeque;

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde_json::{json, Value};

/// One minute in ms.
pub const MINUTE_MS: i64 = 60_000;
/// Closed klines kept per symbol (a day and a bit: the REST route serves up to 1000 per call).
pub const KLINE_HISTORY: usize = 2000;

/// The symbols the simulator lists by default, with a starting price.
pub const DEFAULT_SYMBOLS: [(&str, f64); 6] = [
    ("BTCUSDT", 97_000.0),
    ("ETHUSDT", 3_600.0),
    ("SOLUSDT", 230.0),
    ("BNBUSDT", 650.0),
    ("XRPUSDT", 2.3),
    ("DOGEUSDT", 0.4),
];

/// The stream kinds the simulator serves (`<symbol>@<kind>`).
pub const STREAM_KINDS: [&str; 6] = [
    "aggTrade",
    "trade",
    "bookTicker",
    "ticker",
    "miniTicker",
    "kline_1m",
];

/// Whether `name` is a well-formed stream name of a kind the simulator knows (`btcusdt@aggTrade`). Symbols it does
/// not list are well formed too: Binance accepts them and sends nothing.
pub fn valid_stream(name: &str) -> bool {
    match name.split_once('@') {
        Some((sym, kind)) => {
            !sym.is_empty()
                && sym
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && STREAM_KINDS.contains(&kind)
        }
        None => false,
    }
}

/// One 1-minute kline.
#[derive(Debug, Clone, PartialEq)]
pub struct Kline {
    pub t: i64,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    pub v: f64,
    pub q: f64,
    pub n: u64,
    pub first_id: u64,
    pub last_id: u64,
}

impl Kline {
    fn open(t: i64, price: f64, next_id: u64) -> Kline {
        Kline {
            t,
            o: price,
            h: price,
            l: price,
            c: price,
            v: 0.0,
            q: 0.0,
            n: 0,
            first_id: next_id,
            last_id: next_id.saturating_sub(1),
        }
    }

    /// The REST array: `[open ms, o, h, l, c, volume, close ms, quote vol, trades, taker base, taker quote, "0"]`.
    pub fn rest_row(&self) -> Value {
        json!([
            self.t,
            dec(self.o),
            dec(self.h),
            dec(self.l),
            dec(self.c),
            dec(self.v),
            self.t + MINUTE_MS - 1,
            dec(self.q),
            self.n,
            dec(self.v / 2.0),
            dec(self.q / 2.0),
            "0"
        ])
    }
}

/// A decimal string as Binance writes them (8 places).
pub fn dec(x: f64) -> String {
    format!("{x:.8}")
}

/// One listed symbol.
#[derive(Debug, Clone)]
pub struct Symbol {
    pub symbol: String,
    pub price: f64,
    /// The last aggregate trade id and the last trade id.
    pub agg_id: u64,
    pub trade_id: u64,
    /// The book's update id.
    pub update_id: u64,
    pub bid: f64,
    pub ask: f64,
    pub bid_qty: f64,
    pub ask_qty: f64,
    /// The 24 h window's open, high, low, base and quote volume and trade count (trades, not aggregate trades) (a rolling window in spirit: the
    /// open is the price 24 h before the simulator started, and the window then keeps accumulating).
    pub open24: f64,
    pub high24: f64,
    pub low24: f64,
    pub vol24: f64,
    pub qvol24: f64,
    pub count24: u64,
    pub last_qty: f64,
    /// Quiet (a fault for tests): the symbol stops trading and quoting, so nothing of it is sent, while the
    /// others go on — what a stalled or halted market looks like from the stream.
    pub quiet: bool,
    pub kline: Kline,
    pub history: VecDeque<Kline>,
}

impl Symbol {
    fn tick_size(&self) -> f64 {
        if self.price >= 100.0 {
            0.01
        } else if self.price >= 1.0 {
            0.0001
        } else {
            0.00001
        }
    }

    fn set_book(&mut self, rng: &mut impl Rng) {
        let tick = self.tick_size();
        let half = tick * rng.random_range(1.0..4.0_f64).round();
        self.bid = ((self.price - half) / tick).round() * tick;
        self.ask = ((self.price + half) / tick).round() * tick;
        if self.ask <= self.bid {
            self.ask = self.bid + tick;
        }
        self.bid_qty = rng.random_range(0.01..5.0);
        self.ask_qty = rng.random_range(0.01..5.0);
        self.update_id += 1;
    }

    /// The `bookTicker` payload (no event time: Binance sends none).
    pub fn book_ticker(&self) -> Value {
        json!({"u": self.update_id, "s": self.symbol, "b": dec(self.bid), "B": dec(self.bid_qty),
               "a": dec(self.ask), "A": dec(self.ask_qty)})
    }

    /// The 24 h window's first trade id (`F`, `firstId`): trade ids, as Binance sends there, not aggregate ids.
    fn first_trade24(&self) -> u64 {
        self.trade_id.saturating_sub(self.count24) + 1
    }

    fn change(&self) -> (f64, f64) {
        let p = self.price - self.open24;
        (p, p / self.open24 * 100.0)
    }

    /// The `<s>@ticker` payload (`24hrTicker`).
    pub fn ticker(&self, now: i64) -> Value {
        let (p, pct) = self.change();
        json!({"e": "24hrTicker", "E": now, "s": self.symbol, "p": dec(p), "P": format!("{pct:.3}"),
               "w": dec(self.qvol24 / self.vol24.max(1e-12)), "x": dec(self.open24), "c": dec(self.price),
               "Q": dec(self.last_qty), "b": dec(self.bid), "B": dec(self.bid_qty), "a": dec(self.ask),
               "A": dec(self.ask_qty), "o": dec(self.open24), "h": dec(self.high24), "l": dec(self.low24),
               "v": dec(self.vol24), "q": dec(self.qvol24), "O": now - 86_400_000, "C": now,
               "F": self.first_trade24(), "L": self.trade_id, "n": self.count24})
    }

    /// The `<s>@miniTicker` payload (`24hrMiniTicker`).
    pub fn mini_ticker(&self, now: i64) -> Value {
        json!({"e": "24hrMiniTicker", "E": now, "s": self.symbol, "c": dec(self.price), "o": dec(self.open24),
               "h": dec(self.high24), "l": dec(self.low24), "v": dec(self.vol24), "q": dec(self.qvol24)})
    }

    /// The `<s>@kline_1m` payload of the current (or just closed) kline.
    pub fn kline_event(&self, k: &Kline, now: i64, closed: bool) -> Value {
        json!({"e": "kline", "E": now, "s": self.symbol, "k": {
            "t": k.t, "T": k.t + MINUTE_MS - 1, "s": self.symbol, "i": "1m", "f": k.first_id, "L": k.last_id,
            "o": dec(k.o), "c": dec(k.c), "h": dec(k.h), "l": dec(k.l), "v": dec(k.v), "n": k.n, "x": closed,
            "q": dec(k.q), "V": dec(k.v / 2.0), "Q": dec(k.q / 2.0), "B": "0"}})
    }

    /// The REST `/api/v3/ticker/24hr` object.
    pub fn rest_24hr(&self, now: i64) -> Value {
        let (p, pct) = self.change();
        json!({"symbol": self.symbol, "priceChange": dec(p), "priceChangePercent": format!("{pct:.3}"),
               "weightedAvgPrice": dec(self.qvol24 / self.vol24.max(1e-12)), "prevClosePrice": dec(self.open24),
               "lastPrice": dec(self.price), "lastQty": dec(self.last_qty), "bidPrice": dec(self.bid),
               "bidQty": dec(self.bid_qty), "askPrice": dec(self.ask), "askQty": dec(self.ask_qty),
               "openPrice": dec(self.open24), "highPrice": dec(self.high24), "lowPrice": dec(self.low24),
               "volume": dec(self.vol24), "quoteVolume": dec(self.qvol24), "openTime": now - 86_400_000,
               "closeTime": now, "firstId": self.first_trade24(), "lastId": self.trade_id,
               "count": self.count24})
    }

    /// The REST `/api/v3/ticker/bookTicker` object.
    pub fn rest_book(&self) -> Value {
        json!({"symbol": self.symbol, "bidPrice": dec(self.bid), "bidQty": dec(self.bid_qty),
               "askPrice": dec(self.ask), "askQty": dec(self.ask_qty)})
    }

    /// Up to `limit` klines (closed ones, then the current one), oldest first, within `[start, end]` by open time.
    pub fn klines(&self, start: Option<i64>, end: Option<i64>, limit: usize) -> Vec<Value> {
        let all = self.history.iter().chain(std::iter::once(&self.kline));
        let within: Vec<&Kline> = all
            .filter(|k| start.is_none_or(|s| k.t >= s) && end.is_none_or(|e| k.t <= e))
            .collect();
        // With a start, the first `limit` from it; otherwise the last `limit` (Binance's rule).
        let picked: Vec<&Kline> = if start.is_some() {
            within.into_iter().take(limit).collect()
        } else {
            let skip = within.len().saturating_sub(limit);
            within.into_iter().skip(skip).collect()
        };
        picked.into_iter().map(Kline::rest_row).collect()
    }
}

/// Every symbol, stepped together.
#[derive(Debug, Clone)]
pub struct Market {
    pub symbols: Vec<Symbol>,
    /// When tickers and klines were last pushed.
    last_ticker_ms: i64,
    last_kline_ms: i64,
}

/// Volatility per √second of the walk (about 50 % a year, crypto-like).
const VOL_PER_SQRT_S: f64 = 0.5 / 5_615.0;

fn normal(rng: &mut impl Rng) -> f64 {
    StandardNormal.sample(rng)
}

impl Market {
    /// A market at wall time `now` with a seeded kline history of [`KLINE_HISTORY`] minutes behind it.
    pub fn new(symbols: &[(String, f64)], now: i64, rng: &mut impl Rng) -> Market {
        let minute = now.div_euclid(MINUTE_MS) * MINUTE_MS;
        let symbols = symbols
            .iter()
            .enumerate()
            .map(|(i, (name, price))| {
                let mut agg_id: u64 = 1_000_000 * (i as u64 + 1);
                // Trade ids are their own, larger sequence (an aggregate trade spans one or more trades), as on
                // Binance: the klines' `f`/`L` and the tickers' `F`/`L`/`lastId` are trade ids, never `a`.
                let mut trade_id: u64 = 3 * agg_id;
                // Walk backwards from the price, then lay the minutes out forwards.
                let mut closes = Vec::with_capacity(KLINE_HISTORY);
                let mut p = *price;
                for _ in 0..KLINE_HISTORY {
                    closes.push(p);
                    p *= (VOL_PER_SQRT_S * 60f64.sqrt() * normal(rng)).exp();
                }
                closes.reverse();
                let mut history = VecDeque::with_capacity(KLINE_HISTORY + 1);
                let mut open = p;
                for (j, c) in closes.iter().enumerate() {
                    let t = minute - (KLINE_HISTORY - j) as i64 * MINUTE_MS;
                    let n = rng.random_range(20..200u64);
                    let v = rng.random_range(1.0..50.0) * 1000.0 / price.max(1.0);
                    let wick = (c - open).abs() * 0.3 + c * 0.0002;
                    history.push_back(Kline {
                        t,
                        o: open,
                        h: open.max(*c) + wick * rng.random::<f64>(),
                        l: open.min(*c) - wick * rng.random::<f64>(),
                        c: *c,
                        v,
                        q: v * c,
                        n,
                        first_id: trade_id + 1,
                        last_id: trade_id + n,
                    });
                    trade_id += n;
                    agg_id += n.div_ceil(2);
                    open = *c;
                }
                let day: Vec<&Kline> = history.iter().rev().take(1440).collect();
                let open24 = day.last().map_or(*price, |k| k.o);
                let mut s = Symbol {
                    symbol: name.clone(),
                    price: *price,
                    agg_id,
                    trade_id,
                    update_id: 10_000_000,
                    bid: *price,
                    ask: *price,
                    bid_qty: 1.0,
                    ask_qty: 1.0,
                    open24,
                    high24: day.iter().map(|k| k.h).fold(*price, f64::max),
                    low24: day.iter().map(|k| k.l).fold(*price, f64::min),
                    vol24: day.iter().map(|k| k.v).sum(),
                    qvol24: day.iter().map(|k| k.q).sum(),
                    count24: day.iter().map(|k| k.n).sum(),
                    last_qty: 0.0,
                    quiet: false,
                    kline: Kline::open(minute, *price, trade_id + 1),
                    history,
                };
                s.set_book(rng);
                s
            })
            .collect();
        Market {
            symbols,
            last_ticker_ms: 0,
            last_kline_ms: 0,
        }
    }

    pub fn get(&self, symbol: &str) -> Option<&Symbol> {
        self.symbols.iter().find(|s| s.symbol == symbol)
    }

    /// Makes `symbol` quiet (nothing of it is sent) or lets it trade again; false when it is not listed.
    pub fn set_quiet(&mut self, symbol: &str, quiet: bool) -> bool {
        self.symbols
            .iter_mut()
            .find(|s| s.symbol == symbol)
            .map(|s| s.quiet = quiet)
            .is_some()
    }

    /// Moves the market by one step of `dt_ms` ending at wall time `now`, with `trades` aggregate trades per symbol
    /// (at least one). Returns the events as `(stream name, data JSON)`: every trade (`@aggTrade` and `@trade`),
    /// the book after them, and every `ticker_every_ms` the 24 h tickers and the current klines (a kline that
    /// closed is pushed once more with `x: true`).
    pub fn step(
        &mut self,
        rng: &mut impl Rng,
        now: i64,
        dt_ms: i64,
        trades: usize,
        ticker_every_ms: i64,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let push_tickers = now - self.last_ticker_ms >= ticker_every_ms;
        if push_tickers {
            self.last_ticker_ms = now;
        }
        let push_klines = now - self.last_kline_ms >= ticker_every_ms;
        if push_klines {
            self.last_kline_ms = now;
        }
        let minute = now.div_euclid(MINUTE_MS) * MINUTE_MS;
        let trades = trades.max(1);
        let dt = (dt_ms.max(1) as f64 / 1000.0) / trades as f64;
        for s in self.symbols.iter_mut().filter(|s| !s.quiet) {
            let lower = s.symbol.to_ascii_lowercase();
            if minute > s.kline.t {
                let closed =
                    std::mem::replace(&mut s.kline, Kline::open(minute, s.price, s.trade_id + 1));
                out.push((
                    format!("{lower}@kline_1m"),
                    s.kline_event(&closed, now, true).to_string(),
                ));
                s.history.push_back(closed);
                while s.history.len() > KLINE_HISTORY {
                    s.history.pop_front();
                }
            }
            let tick = s.tick_size();
            for _ in 0..trades {
                s.price *= (VOL_PER_SQRT_S * dt.sqrt() * normal(rng)).exp();
                s.price = ((s.price / tick).round() * tick).max(tick);
                let qty =
                    (rng.random_range(0.0005..0.5) * 1000.0 / s.price.max(1.0) * 1e5).round() / 1e5;
                let qty = qty.max(0.00001);
                s.agg_id += 1;
                let first = s.trade_id + 1;
                s.trade_id += rng.random_range(1..3u64);
                let maker: bool = rng.random();
                out.push((
                    format!("{lower}@aggTrade"),
                    json!({"e": "aggTrade", "E": now, "s": s.symbol, "a": s.agg_id, "p": dec(s.price),
                           "q": dec(qty), "f": first, "l": s.trade_id, "T": now, "m": maker, "M": true})
                    .to_string(),
                ));
                out.push((
                    format!("{lower}@trade"),
                    json!({"e": "trade", "E": now, "s": s.symbol, "t": s.trade_id, "p": dec(s.price),
                           "q": dec(qty), "T": now, "m": maker, "M": true})
                    .to_string(),
                ));
                s.last_qty = qty;
                s.high24 = s.high24.max(s.price);
                s.low24 = s.low24.min(s.price);
                s.vol24 += qty;
                s.qvol24 += qty * s.price;
                s.count24 += s.trade_id + 1 - first;
                let k = &mut s.kline;
                k.h = k.h.max(s.price);
                k.l = k.l.min(s.price);
                k.c = s.price;
                k.v += qty;
                k.q += qty * s.price;
                k.n += s.trade_id + 1 - first;
                k.last_id = s.trade_id;
            }
            s.set_book(rng);
            out.push((format!("{lower}@bookTicker"), s.book_ticker().to_string()));
            if push_tickers {
                out.push((format!("{lower}@ticker"), s.ticker(now).to_string()));
                out.push((
                    format!("{lower}@miniTicker"),
                    s.mini_ticker(now).to_string(),
                ));
            }
            if push_klines {
                out.push((
                    format!("{lower}@kline_1m"),
                    s.kline_event(&s.kline, now, false).to_string(),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn market(now: i64) -> (Market, StdRng) {
        let mut rng = StdRng::seed_from_u64(7);
        let syms: Vec<(String, f64)> = DEFAULT_SYMBOLS
            .iter()
            .map(|(s, p)| (s.to_string(), *p))
            .collect();
        (Market::new(&syms, now, &mut rng), rng)
    }

    #[test]
    fn trades_carry_consecutive_agg_ids_and_binance_field_names() {
        let now = 1_765_000_000_000;
        let (mut m, mut rng) = market(now);
        let first = m.get("BTCUSDT").unwrap().agg_id;
        let ev = m.step(&mut rng, now + 250, 250, 3, 1000);
        let aggs: Vec<Value> = ev
            .iter()
            .filter(|(s, _)| s == "btcusdt@aggTrade")
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(aggs.len(), 3);
        for (i, a) in aggs.iter().enumerate() {
            assert_eq!(a["a"], json!(first + 1 + i as u64));
            assert!(a["p"].is_string() && a["q"].is_string(), "{a}");
            assert_eq!(a["e"], "aggTrade");
        }
        assert!(ev.iter().any(|(s, _)| s == "ethusdt@bookTicker"));
        assert!(ev.iter().any(|(s, _)| s == "solusdt@ticker"));
    }

    #[test]
    fn tickers_and_klines_carry_trade_ids_not_aggregate_ids() {
        let now = 1_765_000_000_000;
        let (mut m, mut rng) = market(now);
        let ev = m.step(&mut rng, now + 1000, 1000, 3, 1);
        let last_agg: Value = ev
            .iter()
            .rev()
            .find(|(s, _)| s == "btcusdt@aggTrade")
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .unwrap();
        let s = m.get("BTCUSDT").unwrap();
        let day = s.rest_24hr(now);
        assert_eq!(day["lastId"], last_agg["l"], "a trade id: {day}");
        assert!(day["lastId"].as_u64() > last_agg["a"].as_u64());
        let count = day["count"].as_u64().unwrap();
        assert_eq!(
            day["lastId"].as_u64().unwrap() - day["firstId"].as_u64().unwrap() + 1,
            count
        );
        let t = s.ticker(now);
        assert_eq!((&t["F"], &t["L"]), (&day["firstId"], &day["lastId"]));
        let k = s.kline_event(&s.kline, now, false);
        assert_eq!(k["k"]["L"], last_agg["l"]);
    }

    #[test]
    fn a_minute_boundary_closes_the_kline_and_rest_serves_history_then_the_current_one() {
        let now = 1_765_000_000_000 - 1_765_000_000_000 % MINUTE_MS + 30_000;
        let (mut m, mut rng) = market(now);
        let ev = m.step(&mut rng, now + MINUTE_MS, 1000, 1, 1000);
        let closed: Vec<Value> = ev
            .iter()
            .filter(|(s, _)| s == "btcusdt@kline_1m")
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(closed[0]["k"]["x"], json!(true));
        assert_eq!(closed.last().unwrap()["k"]["x"], json!(false));
        let s = m.get("BTCUSDT").unwrap();
        let rows = s.klines(None, None, 1000);
        assert_eq!(rows.len(), 1000);
        let last = rows.last().unwrap();
        assert_eq!(last[0], json!(s.kline.t));
        assert_eq!(last[6], json!(s.kline.t + MINUTE_MS - 1));
        let from = s.klines(Some(s.kline.t - 5 * MINUTE_MS), None, 3);
        assert_eq!(from[0][0], json!(s.kline.t - 5 * MINUTE_MS));
        assert_eq!(from.len(), 3);
    }

    #[test]
    fn a_quiet_symbol_sends_nothing_while_the_others_trade() {
        let (mut m, mut rng) = market(1_764_590_400_000);
        assert!(m.set_quiet("ETHUSDT", true));
        assert!(!m.set_quiet("NOPEUSDT", true));
        let ev = m.step(&mut rng, 1_764_590_400_250, 250, 2, 1);
        assert!(ev.iter().any(|(stream, _)| stream.starts_with("btcusdt@")));
        assert!(
            !ev.iter().any(|(stream, _)| stream.starts_with("ethusdt@")),
            "{ev:?}"
        );
        m.set_quiet("ETHUSDT", false);
        let ev = m.step(&mut rng, 1_764_590_400_500, 250, 2, 1);
        assert!(ev.iter().any(|(stream, _)| stream.starts_with("ethusdt@")));
    }

    #[test]
    fn stream_names_are_checked() {
        assert!(valid_stream("btcusdt@aggTrade"));
        assert!(valid_stream("foousdt@kline_1m"));
        assert!(!valid_stream("BTCUSDT@aggTrade"));
        assert!(!valid_stream("btcusdt@depth99"));
        assert!(!valid_stream("btcusdt"));
    }
}
