//! The indicators against published reference values.
//!
//! Sources:
//! - StockCharts ChartSchool worked examples (the spreadsheets linked from each indicator's article at
//!   <https://chartschool.stockcharts.com>): "Moving Averages – Simple and Exponential" (cs-movavg: 10-day SMA
//!   and EMA of 30 closes, printed to 2 decimals), "Relative Strength Index" (cs-rsi: 14-day RSI, 2 decimals).
//! - The same spreadsheets as CSVs in the python `ta` library's test data, <https://github.com/bukosabino/ta>,
//!   `test/data/` at commit a890410710a6e483c9ba08da7f3dd5089e4b9dff: `cs-bbands.csv` (Bollinger 20, 2),
//!   `cs-atr.csv` (ATR 14), `cs-rsi.csv` (the RSI closes to 4 decimals), `cs-vwap.csv` and `cs-macd.csv`
//!   (copied to `tests/data/cs-macd.csv`, the columns used here only).

use tickdesk_indicators::{Atr, Bar, Bollinger, Ema, Macd, Rsi, Sma, Vwap};

fn assert_close(got: Option<f64>, want: f64, tol: f64, what: &str) {
    let got = got.unwrap_or_else(|| panic!("{what}: no value, want {want}"));
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} ± {tol}"
    );
}

/// ChartSchool, "Moving Averages – Simple and Exponential", the cs-movavg worked example.
const MA_CLOSES: [f64; 30] = [
    22.27, 22.19, 22.08, 22.17, 22.18, 22.13, 22.23, 22.43, 22.24, 22.29, 22.15, 22.39, 22.38,
    22.61, 23.36, 24.05, 23.75, 23.83, 23.95, 23.63, 23.82, 23.87, 23.65, 23.19, 23.10, 23.33,
    22.68, 23.10, 22.40, 22.17,
];
/// Its 10-day SMA from the 10th close on, as printed (2 decimals).
const SMA10: [f64; 21] = [
    22.22, 22.21, 22.23, 22.26, 22.31, 22.42, 22.61, 22.77, 22.91, 23.08, 23.21, 23.38, 23.53,
    23.65, 23.71, 23.69, 23.61, 23.51, 23.43, 23.28, 23.13,
];
/// Its 10-day EMA (seeded with the first SMA), as printed.
const EMA10: [f64; 21] = [
    22.22, 22.21, 22.24, 22.27, 22.33, 22.52, 22.80, 22.97, 23.13, 23.28, 23.34, 23.43, 23.51,
    23.54, 23.47, 23.40, 23.39, 23.26, 23.23, 23.08, 22.92,
];

#[test]
fn sma_and_ema_match_chartschools_moving_average_example() {
    let mut sma = Sma::new(10);
    let mut ema = Ema::new(10);
    for (i, &c) in MA_CLOSES.iter().enumerate() {
        let (s, e) = (sma.push(c), ema.push(c));
        if i < 9 {
            assert_eq!((s, e), (None, None), "warm-up at {i}");
        } else {
            // The sheet prints its closes and averages to 2 decimals but computes from unrounded prices, so
            // the averages of the printed closes are within a printed cent (22.303 for the printed 22.31).
            assert_close(s, SMA10[i - 9], 0.0101, &format!("SMA10 at {i}"));
            assert_close(e, EMA10[i - 9], 0.0101, &format!("EMA10 at {i}"));
        }
    }
}

/// cs-rsi.csv: the closes of ChartSchool's RSI example, to 4 decimals.
const RSI_CLOSES: [f64; 33] = [
    44.3389, 44.0902, 44.1497, 43.6124, 44.3278, 44.8264, 45.0955, 45.4245, 45.8433, 46.0826,
    45.8931, 46.0328, 45.6140, 46.2820, 46.2820, 46.0028, 46.0328, 46.4116, 46.2222, 45.6439,
    46.2122, 46.2521, 45.7137, 46.4515, 45.7835, 45.3548, 44.0288, 44.1783, 44.2181, 44.5672,
    43.4205, 42.6628, 43.1314,
];
/// ChartSchool's published 14-day RSI from the 15th close on (the article's table, 2 decimals). The `ta` CSV's own
/// RSI column is not used: `ta` seeds Wilder's averages differently from ChartSchool.
const RSI14: [f64; 19] = [
    70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99,
    41.46, 41.87, 45.46, 37.30, 33.08, 37.77,
];

#[test]
fn wilder_rsi_matches_chartschools_example() {
    let mut rsi = Rsi::new(14);
    for (i, &c) in RSI_CLOSES.iter().enumerate() {
        let r = rsi.push(c);
        if i < 14 {
            assert_eq!(r, None, "warm-up at {i}");
        } else {
            assert_close(r, RSI14[i - 14], 0.006, &format!("RSI at {i}"));
        }
    }
}

/// cs-bbands.csv: close, then ChartSchool's middle band, 20-day (population) standard deviation, upper, lower, %B,
/// from the 20th close on.
const BB: [(f64, f64, f64, f64, f64, f64); 23] = [
    (90.7043, 88.707940, 1.291961, 91.291862, 86.124018, 0.886304),
    (92.9001, 89.045160, 1.452054, 91.949268, 86.141052, 1.163705),
    (92.9784, 89.239745, 1.686425, 92.612595, 85.866895, 1.054228),
    (91.8021, 89.390705, 1.771747, 92.934200, 85.847210, 0.840257),
    (92.6647, 89.507800, 1.902075, 93.311950, 85.703650, 0.914928),
    (92.6843, 89.688660, 2.019895, 93.728450, 85.648870, 0.870767),
    (92.3021, 89.746500, 2.076546, 93.899592, 85.593408, 0.807674),
    (92.7725, 89.913140, 2.176557, 94.266255, 85.560025, 0.828427),
    (92.5373, 90.081255, 2.241921, 94.565096, 85.597414, 0.773877),
    (92.9490, 90.382195, 2.202359, 94.786912, 85.977478, 0.791370),
    (93.2039, 90.658630, 2.192185, 95.043001, 86.274259, 0.790266),
    (91.0669, 90.863995, 2.021805, 94.907605, 86.820385, 0.525090),
    (89.8318, 90.884090, 2.009411, 94.902912, 86.865268, 0.369080),
    (89.7435, 90.905160, 1.995080, 94.895320, 86.915000, 0.354434),
    (90.3994, 90.988925, 1.936044, 94.861013, 87.116837, 0.423875),
    (90.7387, 91.153375, 1.760127, 94.673629, 87.633121, 0.441102),
    (88.0177, 91.191090, 1.682751, 94.556593, 87.825587, 0.028541),
    (88.0867, 91.120500, 1.779126, 94.678752, 87.562248, 0.073695),
    (
        86.8439, 91.067665, 1.886418, 94.840502, 87.294828, -0.059760,
    ),
    (90.7781, 91.150270, 1.835059, 94.820387, 87.480153, 0.449297),
    (90.5416, 91.142135, 1.837377, 94.816889, 87.467381, 0.418289),
    (91.3894, 91.066600, 1.794097, 94.654793, 87.478407, 0.544981),
    (90.6500, 90.950180, 1.741022, 94.432224, 87.468136, 0.456896),
];
/// cs-bbands.csv: the 19 closes before the first band.
const BB_WARMUP: [f64; 19] = [
    86.1557, 89.0867, 88.7829, 90.3228, 89.0671, 91.1453, 89.4397, 89.1750, 86.9302, 87.6752,
    86.9596, 89.4299, 89.3221, 88.7241, 87.4497, 87.2634, 89.4985, 87.9006, 89.1260,
];

#[test]
fn bollinger_matches_chartschools_bands_with_the_population_deviation() {
    let mut bb = Bollinger::new(20, 2.0);
    let mut sma = Sma::new(20);
    for (i, &c) in BB_WARMUP.iter().enumerate() {
        assert_eq!(bb.push(c), None, "warm-up at {i}");
        sma.push(c);
    }
    for (i, &(c, mid, sd, upper, lower, pct_b)) in BB.iter().enumerate() {
        let b = bb.push(c).expect("bands from the 20th close");
        assert_close(Some(b.mid), mid, 1e-5, &format!("mid at {i}"));
        assert_close(sma.push(c), mid, 1e-5, &format!("SMA20 at {i}"));
        assert_close(
            Some((b.upper - b.mid) / 2.0),
            sd,
            1e-5,
            &format!("sd at {i}"),
        );
        assert_close(Some(b.upper), upper, 1e-5, &format!("upper at {i}"));
        assert_close(Some(b.lower), lower, 1e-5, &format!("lower at {i}"));
        assert_close(b.pct_b, pct_b, 1e-5, &format!("%B at {i}"));
    }
    // Twenty equal closes: no width, so no %B (it would divide by zero).
    let mut flat = Bollinger::new(20, 2.0);
    let last = (0..20).map(|_| flat.push(5.0)).last().flatten().unwrap();
    assert_eq!(
        (last.mid, last.upper, last.lower, last.pct_b),
        (5.0, 5.0, 5.0, None)
    );
}

/// cs-atr.csv: high, low, close and ChartSchool's 14-day ATR (0 where the sheet has none yet).
const ATR: [(f64, f64, f64, f64); 30] = [
    (48.70, 47.79, 48.16, 0.0),
    (48.72, 48.14, 48.61, 0.0),
    (48.90, 48.39, 48.75, 0.0),
    (48.87, 48.37, 48.63, 0.0),
    (48.82, 48.24, 48.74, 0.0),
    (49.05, 48.635, 49.03, 0.0),
    (49.20, 48.94, 49.07, 0.0),
    (49.35, 48.86, 49.32, 0.0),
    (49.92, 49.50, 49.91, 0.0),
    (50.19, 49.87, 50.13, 0.0),
    (50.12, 49.20, 49.53, 0.0),
    (49.66, 48.90, 49.50, 0.0),
    (49.88, 49.43, 49.75, 0.0),
    (50.19, 49.725, 50.03, 0.555),
    (50.36, 49.26, 50.31, 0.5939285714),
    (50.57, 50.09, 50.52, 0.5857908163),
    (50.65, 50.30, 50.41, 0.5689486152),
    (50.43, 49.21, 49.34, 0.6154522855),
    (49.63, 48.98, 49.37, 0.6179199794),
    (50.33, 49.61, 50.23, 0.6423542666),
    (50.29, 49.20, 49.2375, 0.6743289618),
    (50.17, 49.43, 49.93, 0.6927697503),
    (49.32, 48.08, 48.43, 0.7754290538),
    (48.50, 47.64, 48.18, 0.7814698357),
    (48.3201, 41.55, 46.57, 1.209229133),
    (46.80, 44.2833, 45.41, 1.302619909),
    (47.80, 47.31, 47.77, 1.380289916),
    (48.39, 47.20, 47.72, 1.366697779),
    (48.66, 47.90, 48.62, 1.336219366),
    (48.79, 47.7301, 47.85, 1.316482269),
];

#[test]
fn atr_matches_chartschools_wilder_average_seeded_with_the_mean_of_14_true_ranges() {
    let mut atr = Atr::new(14);
    for (i, &(h, l, c, want)) in ATR.iter().enumerate() {
        let bar = Bar {
            t: i as i64,
            o: c,
            h,
            l,
            c,
            v: 0.0,
        };
        let got = atr.push(&bar);
        if i < 13 {
            assert_eq!(got, None, "warm-up at {i}");
        } else {
            assert_close(got, want, 1e-8, &format!("ATR at {i}"));
        }
    }
}

/// cs-vwap.csv: high, low, close, volume and VWAP. The sheet's VWAP is a 14-bar rolling one; over its first 14
/// rows the window is the whole series, which is a session VWAP from the first row — the rows used here.
const VWAP: [(f64, f64, f64, f64, f64); 14] = [
    (24.8283, 24.3205, 24.7486, 18730.144, 24.632466666666662),
    (24.7586, 24.5993, 24.7088, 12271.74, 24.654805154030853),
    (25.1568, 24.7785, 25.0373, 24691.414, 24.80379676048873),
    (25.5848, 24.9477, 25.545, 18357.606, 24.941475861906202),
    (25.6844, 24.8083, 25.0672, 22964.08, 24.999506235713717),
    (25.336, 25.0572, 25.107, 15918.948, 25.023078243028557),
    (25.2862, 24.8482, 24.888, 16067.044, 25.021133824528068),
    (25.1269, 24.7496, 24.9975, 16568.487, 25.013948032058988),
    (25.2762, 24.9278, 25.0473, 16018.729, 25.02086936568546),
    (25.3857, 25.0274, 25.336, 9773.569, 25.033920655429075),
    (
        25.5351,
        25.0473,
        25.0572,
        22572.712000000003,
        25.054787605744547,
    ),
    (25.6048, 25.0622, 25.4455, 12986.669, 25.074623090960745),
    (25.7441, 25.5351, 25.5649, 10906.659, 25.10166479387297),
    (25.7242, 25.4554, 25.555, 5799.259, 25.11402265022072),
];

#[test]
fn vwap_matches_the_typical_price_example_and_restarts_with_the_session() {
    let mut vwap = Vwap::new();
    let bars: Vec<Bar> = VWAP
        .iter()
        .enumerate()
        .map(|(i, &(h, l, c, v, _))| Bar {
            t: i as i64,
            o: c,
            h,
            l,
            c,
            v,
        })
        .collect();
    for (i, bar) in bars.iter().enumerate() {
        assert_close(
            vwap.push(bar, i == 0),
            VWAP[i].4,
            1e-9,
            &format!("VWAP at {i}"),
        );
    }
    // A new session forgets the previous one: the first bar's VWAP is its own typical price.
    let (h, l, c) = (bars[3].h, bars[3].l, bars[3].c);
    assert_close(
        vwap.push(&bars[3], true),
        (h + l + c) / 3.0,
        1e-12,
        "VWAP after a new session",
    );
    // An index trades no volume: no VWAP rather than 0/0.
    let mut index = Vwap::new();
    assert_eq!(index.push(&Bar { v: 0.0, ..bars[0] }, true), None);
}

/// tests/data/cs-macd.csv: close, MACD line, signal, histogram.
fn macd_rows() -> Vec<(f64, f64, f64, f64)> {
    include_str!("data/cs-macd.csv")
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let n = |i: usize| f[i].parse::<f64>().unwrap_or(f64::NAN);
            (n(1), n(2), n(3), n(4))
        })
        .collect()
}

#[test]
fn macd_seeds_like_chartschool_and_converges_to_the_published_series() {
    let rows = macd_rows();
    assert_eq!(rows.len(), 124);
    let closes: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let mut macd = Macd::new(12, 26, 9);
    let values: Vec<_> = closes.iter().map(|&c| macd.push(c)).collect();
    assert!(values[..25].iter().all(Option::is_none));
    // The line starts at the 26th close, from the seeds: EMA12 run from the SMA of the first 12 closes,
    // EMA26 = the SMA of the first 26.
    let mut ema12 = closes[..12].iter().sum::<f64>() / 12.0;
    for &c in &closes[12..26] {
        ema12 += 2.0 / 13.0 * (c - ema12);
    }
    let sma26 = closes[..26].iter().sum::<f64>() / 26.0;
    let first = values[25].unwrap();
    assert!((first.macd - (ema12 - sma26)).abs() < 1e-12, "{first:?}");
    assert_eq!(first.signal, None);
    // The signal starts 8 lines later, at the SMA of the first 9 lines.
    assert!(values[32].unwrap().signal.is_none());
    let lines: Vec<f64> = values[25..34].iter().map(|v| v.unwrap().macd).collect();
    let signal = values[33].unwrap().signal.unwrap();
    assert!((signal - lines.iter().sum::<f64>() / 9.0).abs() < 1e-12);
    // The CSV's EMAs start from the first close rather than an SMA; the seed's weight decays by (1 − 2/27) a bar,
    // so from row 100 on both agree to 0.001 (a wrong smoothing constant would be off by tenths).
    for (i, (v, row)) in values.iter().zip(&rows).enumerate().skip(100) {
        let v = v.unwrap();
        assert_close(Some(v.macd), row.1, 1e-3, &format!("MACD at {i}"));
        assert_close(v.signal, row.2, 1e-3, &format!("signal at {i}"));
        assert_close(v.hist(), row.3, 1e-3, &format!("histogram at {i}"));
    }
}
