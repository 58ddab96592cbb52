//! Every indicator: updating the last bar in place (the live minute ticking) gives exactly what recomputing from
//! scratch over the final bars gives — the property the chart relies on to stay O(1) per tick.

use tickdesk_indicators::{Atr, Bar, Bollinger, Ema, Macd, Rsi, Sma, Vwap};

/// A wavy, drifting series of 80 bars with volume.
fn bar(i: usize) -> Bar {
    let x = i as f64;
    let c = 50.0 + (x * 0.41).sin() * 3.0 + (x * 0.07).cos() * 5.0 + x * 0.02;
    Bar {
        t: i as i64 * 60_000,
        o: c - 0.2,
        h: c + 0.6 + (x * 0.3).sin().abs(),
        l: c - 0.5 - (x * 0.2).cos().abs(),
        c,
        v: 1_000.0 + (i % 9) as f64 * 150.0,
    }
}

/// Intermediate states of bar `i` before its final one: a spike up, a spike down.
fn ticks(i: usize) -> [Bar; 2] {
    let b = bar(i);
    [
        Bar {
            h: b.h + 4.0,
            c: b.c + 3.5,
            v: b.v / 3.0,
            ..b
        },
        Bar {
            l: b.l - 4.0,
            c: b.c - 3.0,
            v: b.v / 2.0,
            ..b
        },
    ]
}

/// Feeds 80 bars to `live` through push + update_last (each bar pushed in an intermediate state, then
/// updated twice) and to a fresh indicator per prefix with pushes of the final bars only; every output agrees.
fn check<I, O: PartialEq + std::fmt::Debug>(
    new: impl Fn() -> I,
    push: impl Fn(&mut I, &Bar, usize) -> O,
    update: impl Fn(&mut I, &Bar, usize) -> O,
) {
    let mut live = new();
    let mut scratch = new();
    let mut defined = 0;
    for i in 0..80 {
        let [a, b] = ticks(i);
        push(&mut live, &a, i);
        update(&mut live, &b, i);
        let got = update(&mut live, &bar(i), i);
        let want = push(&mut scratch, &bar(i), i);
        assert_eq!(got, want, "bar {i}");
        // And from a brand-new indicator over the whole prefix.
        let mut fresh = new();
        let again = (0..=i)
            .map(|j| push(&mut fresh, &bar(j), j))
            .last()
            .unwrap();
        assert_eq!(got, again, "bar {i} from scratch");
        defined += usize::from(format!("{got:?}").starts_with("Some"));
    }
    assert!(
        defined > 40,
        "the check must cover defined values, got {defined}"
    );
}

#[test]
fn sma_updates_in_place() {
    check(
        || Sma::new(20),
        |s, b, _| s.push(b.c),
        |s, b, _| s.update_last(b.c),
    );
}

#[test]
fn ema_updates_in_place() {
    check(
        || Ema::new(9),
        |s, b, _| s.push(b.c),
        |s, b, _| s.update_last(b.c),
    );
    check(
        || Ema::new(21),
        |s, b, _| s.push(b.c),
        |s, b, _| s.update_last(b.c),
    );
}

#[test]
fn bollinger_updates_in_place() {
    check(
        || Bollinger::new(20, 2.0),
        |s, b, _| s.push(b.c),
        |s, b, _| s.update_last(b.c),
    );
}

#[test]
fn rsi_updates_in_place() {
    check(
        || Rsi::new(14),
        |s, b, _| s.push(b.c),
        |s, b, _| s.update_last(b.c),
    );
}

#[test]
fn macd_updates_in_place() {
    check(
        || Macd::new(12, 26, 9),
        |s, b, _| s.push(b.c),
        |s, b, _| s.update_last(b.c),
    );
}

#[test]
fn atr_updates_in_place() {
    check(
        || Atr::new(14),
        |s, b, _| s.push(b),
        |s, b, _| s.update_last(b),
    );
}

#[test]
fn vwap_updates_in_place_across_sessions() {
    let session = |i: usize| i.is_multiple_of(30);
    check(
        Vwap::new,
        |s, b, i| s.push(b, session(i)),
        |s, b, i| s.update_last(b, session(i)),
    );
}
