//! The link machine's transitions, each state's reaction to each event, on a set clock and a fixed jitter.

use super::*;

#[test]
fn the_backoff_starts_over_only_after_a_link_stayed_up() {
    let t0 = Instant::now();
    assert!(!stable(None, t0), "never delivered");
    assert!(
        !stable(Some(t0), t0 + Duration::from_millis(500)),
        "closed right after its first message"
    );
    assert!(!stable(
        Some(t0),
        t0 + STABLE_AFTER - Duration::from_millis(1)
    ));
    assert!(stable(Some(t0), t0 + STABLE_AFTER));
}

#[test]
fn a_throttled_rest_waits_its_retry_after_capped_and_at_least_a_poll() {
    let poll = Duration::from_secs(2);
    let s = Duration::from_secs;
    assert_eq!(throttle_wait(Some(s(30)), poll), s(30));
    assert_eq!(throttle_wait(None, poll), THROTTLE_DEFAULT);
    assert_eq!(throttle_wait(Some(s(3 * 86_400)), poll), THROTTLE_MAX);
    assert_eq!(throttle_wait(Some(s(0)), poll), poll);
}

// The transitions, on a set clock (`t0` plus offsets) and a fixed jitter (0.5): the backoff's delays are
// 750 ms, 1000 ms, 1500 ms, 2500 ms … (0.5 s plus half of 0.5 s doubling), capped at 30 s.

const MS: Duration = Duration::from_millis(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn half() -> f64 {
    0.5
}

fn config() -> Config {
    Config {
        rotate_after: Duration::from_secs(10),
        poll_every: Duration::from_secs(2),
        restricted_retry: Duration::from_secs(300),
        backoff_max: Duration::from_secs(30),
        ws: "ws://binance".into(),
        rest: "http://binance".into(),
        live_words: "streaming 1 symbols".into(),
        base_error: Some("unknown symbol refused: FOOBAR".into()),
    }
}

fn trade(id: u64) -> Msg {
    Msg::Trade {
        symbol: "BTCUSDT".into(),
        id,
        price: 100.0 + id as f64,
        event_ms: id as i64,
    }
}

fn refused() -> LinkError {
    LinkError::Http(403)
}

fn closed() -> LinkError {
    LinkError::Closed("the server closed the socket".into())
}

fn throttled(secs: u64) -> RestError {
    RestError::Throttled {
        status: 429,
        retry_after: Some(Duration::from_secs(secs)),
    }
}

fn has_status(out: &[Action], state: State) -> Option<&str> {
    out.iter().find_map(|a| match a {
        Action::Status(s, words) if *s == state => Some(words.as_str()),
        _ => None,
    })
}

/// A machine whose first link (id 1) opened at `t0` and delivered at `t0 + 1 s`.
fn live(t0: Instant, gap: bool) -> Machine {
    let (mut m, _) = Machine::start(config(), gap, half, t0);
    m.on(Event::Opened(1), t0);
    m.on(Event::Msg(1, trade(1)), t0 + ms(1_000));
    m
}

/// The first link refused at `t0` (HTTP 403) and REST answering the ping: polling, the stream due at 750 ms.
fn polling(t0: Instant) -> Machine {
    let (mut m, _) = Machine::start(config(), false, half, t0);
    m.on(Event::Closed(1, refused()), t0);
    m.on(
        Event::Pinged {
            err: refused(),
            delay: ms(750),
            at: t0,
            answer: Ok(()),
        },
        t0 + ms(20),
    );
    m
}

#[test]
fn the_machine_starts_by_opening_one_link() {
    let t0 = Instant::now();
    let (m, out) = Machine::start(config(), false, half, t0);
    assert_eq!(
        out,
        vec![
            Action::Status(State::Connecting, "connecting to ws://binance".into()),
            Action::Connect(1)
        ]
    );
    assert_eq!(
        m.state(),
        &LinkState::Connecting(Opened { id: 1, started: t0 })
    );
}

#[test]
fn connecting_then_first_data_is_live_and_fills_the_missed_bars() {
    let t0 = Instant::now();
    let (mut m, _) = Machine::start(config(), true, half, t0);
    assert_eq!(
        m.on(Event::Opened(1), t0),
        vec![Action::FreshLink],
        "a first link does not overlap anything: the book forgets its ids"
    );
    // Answers and pongs-worth of traffic do not make a link live; data does.
    assert!(m
        .on(
            Event::Msg(
                1,
                Msg::Answer {
                    id: Some(1),
                    error: None
                }
            ),
            t0
        )
        .is_empty());
    assert!(matches!(m.state(), LinkState::Connecting(_)));
    let out = m.on(Event::Msg(1, trade(7)), t0 + ms(300));
    assert_eq!(
        out,
        vec![
            Action::Apply(trade(7)),
            Action::Status(State::Live, "streaming 1 symbols".into()),
            Action::FillBars
        ]
    );
    assert_eq!(
        m.state(),
        &LinkState::Live {
            link: Serving {
                id: 1,
                started: t0,
                up_since: t0 + ms(300)
            },
            replace_retry_at: None
        }
    );
    // Once live, data is applied and nothing else happens; no second fill.
    assert_eq!(
        m.on(Event::Msg(1, trade(8)), t0 + ms(400)),
        vec![Action::Apply(trade(8))]
    );
    // Without a gap, going live fills nothing.
    let (mut n, _) = Machine::start(config(), false, half, t0);
    let out = n.on(Event::Msg(1, trade(1)), t0);
    assert!(!out.contains(&Action::FillBars), "{out:?}");
    assert!(matches!(n.state(), LinkState::Live { .. }));
}

#[test]
fn live_at_the_age_limit_opens_the_replacement_first() {
    let t0 = Instant::now();
    let mut m = live(t0, false);
    assert!(m.on(Event::Tick, t0 + ms(9_999)).is_empty(), "not yet");
    assert!(matches!(m.state(), LinkState::Live { .. }));
    let out = m.on(Event::Tick, t0 + ms(10_000));
    assert_eq!(out, vec![Action::Connect(2)], "no close: new one first");
    assert_eq!(
        m.state(),
        &LinkState::Replacing {
            old: Serving {
                id: 1,
                started: t0,
                up_since: t0 + ms(1_000)
            },
            new: Replacement::Connecting(Opened {
                id: 2,
                started: t0 + ms(10_000)
            })
        }
    );
    // Its opening keeps the book's ids (it overlaps the old link), and no second replacement is opened.
    assert!(m.on(Event::Opened(2), t0 + ms(10_050)).is_empty());
    assert!(m.on(Event::Tick, t0 + ms(10_250)).is_empty());
}

#[test]
fn the_replacements_first_message_overlaps_then_it_takes_over_with_no_gap_and_no_duplicate() {
    let t0 = Instant::now();
    let mut m = live(t0, false);
    m.on(Event::Tick, t0 + ms(10_000));
    let t1 = t0 + ms(10_100);
    // The new link's first data is kept, not applied: the old one still serves.
    assert!(m.on(Event::Msg(2, trade(5)), t1).is_empty());
    match m.state() {
        LinkState::Replacing {
            old,
            new:
                Replacement::Overlap {
                    link,
                    swap_at,
                    kept,
                },
        } => {
            assert_eq!(old.id, 1);
            assert_eq!(link.id, 2);
            assert_eq!(link.up_since, t1);
            assert_eq!(*swap_at, t1 + OVERLAP);
            assert_eq!(kept, &vec![trade(5)]);
        }
        s => panic!("{s:?}"),
    }
    // The old link's data goes on being applied; the new one's kept.
    assert_eq!(
        m.on(Event::Msg(1, trade(4)), t1 + ms(10)),
        vec![Action::Apply(trade(4))]
    );
    assert!(m.on(Event::Msg(2, trade(6)), t1 + ms(20)).is_empty());
    assert!(
        m.on(Event::Tick, t1 + OVERLAP - MS).is_empty(),
        "both run for the whole overlap"
    );
    let out = m.on(Event::Tick, t1 + OVERLAP);
    assert_eq!(
        out,
        vec![Action::Swap {
            close: Some(1),
            kept: vec![trade(5), trade(6)]
        }],
        "the old link closed, the kept messages replayed, the book's ids carried (no FreshLink)"
    );
    assert_eq!(
        m.state(),
        &LinkState::Live {
            link: Serving {
                id: 2,
                started: t0 + ms(10_000),
                up_since: t1
            },
            replace_retry_at: None
        }
    );
    // The retired link is ignored from now on.
    assert!(m.on(Event::Msg(1, trade(9)), t1 + OVERLAP).is_empty());
    assert!(m.on(Event::Closed(1, closed()), t1 + OVERLAP).is_empty());
    assert!(matches!(m.state(), LinkState::Live { link, .. } if link.id == 2));
}

#[test]
fn a_full_overlap_buffer_hands_over_at_once() {
    let t0 = Instant::now();
    let mut m = live(t0, false);
    m.on(Event::Tick, t0 + ms(10_000));
    let t1 = t0 + ms(10_100);
    for i in 0..OVERLAP_BUFFER as u64 - 1 {
        assert!(m.on(Event::Msg(2, trade(i)), t1).is_empty());
    }
    let out = m.on(Event::Msg(2, trade(OVERLAP_BUFFER as u64)), t1);
    assert!(
        matches!(&out[..], [Action::Swap { close: Some(1), kept }] if kept.len() == OVERLAP_BUFFER),
        "{:?}",
        out.len()
    );
    assert!(matches!(m.state(), LinkState::Live { link, .. } if link.id == 2));
}

#[test]
fn a_failed_replacement_keeps_the_old_link_and_is_retried_with_backoff() {
    let t0 = Instant::now();
    let mut m = live(t0, false);
    m.on(Event::Tick, t0 + ms(10_000));
    let t1 = t0 + ms(10_200);
    let out = m.on(Event::Closed(2, LinkError::Connect("refused".into())), t1);
    assert!(out.is_empty(), "no close, no status change: {out:?}");
    assert_eq!(
        m.state(),
        &LinkState::Live {
            link: Serving {
                id: 1,
                started: t0,
                up_since: t0 + ms(1_000)
            },
            replace_retry_at: Some(t1 + ms(750))
        }
    );
    assert!(
        m.on(Event::Tick, t1 + ms(749)).is_empty(),
        "the age limit is past, but the backoff holds the retry"
    );
    assert_eq!(m.on(Event::Tick, t1 + ms(750)), vec![Action::Connect(3)]);
    // A replacement that fails after it delivered: its kept messages are dropped (the old one applied them).
    m.on(Event::Msg(3, trade(2)), t1 + ms(800));
    let out = m.on(Event::Closed(3, closed()), t1 + ms(900));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(
        m.state(),
        &LinkState::Live {
            link: Serving {
                id: 1,
                started: t0,
                up_since: t0 + ms(1_000)
            },
            replace_retry_at: Some(t1 + ms(900) + ms(1_000))
        },
        "the second failure waits longer"
    );
}

#[test]
fn the_old_link_going_first_hands_over_to_the_replacement() {
    let t0 = Instant::now();
    // Delivering already: it takes over at once, nothing to close.
    let mut m = live(t0, false);
    m.on(Event::Tick, t0 + ms(10_000));
    m.on(Event::Msg(2, trade(3)), t0 + ms(10_100));
    let out = m.on(Event::Closed(1, closed()), t0 + ms(10_200));
    assert_eq!(
        out,
        vec![Action::Swap {
            close: None,
            kept: vec![trade(3)]
        }]
    );
    assert!(matches!(m.state(), LinkState::Live { link, .. } if link.id == 2));

    // Not delivering yet: it becomes the link, without a reconnect or a new backoff; the bars are filled once
    // it delivers, and its ids still follow the old one's (opened before, so no FreshLink).
    let mut m = live(t0, false);
    m.on(Event::Tick, t0 + ms(10_000));
    m.on(Event::Opened(2), t0 + ms(10_050));
    let out = m.on(Event::Closed(1, closed()), t0 + ms(10_100));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(
        m.state(),
        &LinkState::Connecting(Opened {
            id: 2,
            started: t0 + ms(10_000)
        })
    );
    let out = m.on(Event::Msg(2, trade(4)), t0 + ms(10_200));
    assert_eq!(
        out,
        vec![
            Action::Apply(trade(4)),
            Action::Status(State::Live, "streaming 1 symbols".into()),
            Action::FillBars
        ]
    );
}

#[test]
fn server_shutdown_opens_the_replacement_first() {
    let t0 = Instant::now();
    let mut m = live(t0, false);
    let t1 = t0 + ms(2_000);
    assert_eq!(
        m.on(Event::Msg(1, Msg::ServerShutdown), t1),
        vec![Action::Connect(2)]
    );
    assert!(matches!(
        m.state(),
        LinkState::Replacing { old, new: Replacement::Connecting(o) } if old.id == 1 && o.id == 2 && o.started == t1
    ));
    // Said again (or by the replacement): one replacement is enough.
    assert!(m.on(Event::Msg(1, Msg::ServerShutdown), t1).is_empty());
    assert!(m.on(Event::Msg(2, Msg::ServerShutdown), t1).is_empty());
    // A link that has delivered nothing is simply swapped for a new one.
    let (mut n, _) = Machine::start(config(), false, half, t0);
    assert_eq!(
        n.on(Event::Msg(1, Msg::ServerShutdown), t0),
        vec![Action::Close(1), Action::Connect(2)]
    );
    assert_eq!(
        n.state(),
        &LinkState::Connecting(Opened { id: 2, started: t0 })
    );
}

#[test]
fn a_lost_live_link_waits_the_backoff_then_reconnects() {
    let t0 = Instant::now();
    let mut m = live(t0, false);
    let t1 = t0 + ms(5_000);
    let out = m.on(Event::Closed(1, closed()), t1);
    assert_eq!(
        has_status(&out, State::Reconnecting),
        Some("connection closed: the server closed the socket; reconnecting in 750 ms")
    );
    assert_eq!(
        m.state(),
        &LinkState::Idle {
            retry_at: t1 + ms(750)
        }
    );
    assert!(m.on(Event::Tick, t1 + ms(749)).is_empty());
    assert_eq!(m.on(Event::Tick, t1 + ms(750)), vec![Action::Connect(2)]);
    // The gap it left is filled once the new link delivers.
    m.on(Event::Opened(2), t1 + ms(800));
    let out = m.on(Event::Msg(2, trade(9)), t1 + ms(900));
    assert!(out.contains(&Action::FillBars), "{out:?}");
    // Lost again quickly: the next wait is longer (no reset: it was not up 30 s).
    let t2 = t1 + ms(2_000);
    m.on(Event::Closed(2, closed()), t2);
    assert_eq!(
        m.state(),
        &LinkState::Idle {
            retry_at: t2 + ms(1_000)
        }
    );
}

#[test]
fn a_silent_link_is_replaced_at_the_next_tick() {
    let t0 = Instant::now();
    let mut m = live(t0, false);
    let t1 = t0 + ms(5_000);
    let out = m.on(Event::Closed(1, LinkError::Silent(ms(30_000))), t1);
    assert!(has_status(&out, State::Reconnecting)
        .is_some_and(|w| w.starts_with("replacing a silent connection")));
    assert_eq!(m.state(), &LinkState::Idle { retry_at: t1 }, "no backoff");
    assert_eq!(m.on(Event::Tick, t1), vec![Action::Connect(2)]);
}

/// Lost twice (750 ms, 1000 ms), then live on link 3 at `up`; the next delay shows whether the backoff
/// started over.
fn delay_after_a_link_up_for(up_for: Duration) -> Duration {
    let t0 = Instant::now();
    let cfg = Config {
        rotate_after: Duration::from_secs(3_600),
        ..config()
    };
    let (mut m, _) = Machine::start(cfg, false, half, t0);
    m.on(Event::Closed(1, closed()), t0);
    m.on(Event::Tick, t0 + ms(750));
    m.on(Event::Closed(2, closed()), t0 + ms(800));
    m.on(Event::Tick, t0 + ms(1_800));
    let up = t0 + ms(2_000);
    m.on(Event::Msg(3, trade(1)), up);
    assert!(matches!(m.state(), LinkState::Live { link, .. } if link.id == 3));
    m.on(Event::Tick, up + up_for);
    let lost = up + up_for + ms(10);
    m.on(Event::Closed(3, closed()), lost);
    match m.state() {
        LinkState::Idle { retry_at } => *retry_at - lost,
        s => panic!("{s:?}"),
    }
}

#[test]
fn the_backoff_starts_over_only_once_a_link_stayed_up_30_s() {
    assert_eq!(
        delay_after_a_link_up_for(STABLE_AFTER - MS),
        ms(1_500),
        "up 29.999 s: the third delay, not the first"
    );
    assert_eq!(
        delay_after_a_link_up_for(STABLE_AFTER),
        ms(750),
        "up 30 s: reset"
    );
}

#[test]
fn a_refused_websocket_asks_rest_then_polls_it() {
    let t0 = Instant::now();
    let (mut m, _) = Machine::start(config(), false, half, t0);
    let out = m.on(Event::Closed(1, refused()), t0);
    assert_eq!(
        out,
        vec![Action::Ping {
            err: refused(),
            delay: ms(750),
            at: t0
        }]
    );
    assert_eq!(
        m.state(),
        &LinkState::Idle {
            retry_at: t0 + ms(750)
        }
    );
    // Refused again while the ping is out: no second ping.
    m.on(Event::Tick, t0 + ms(750));
    let out = m.on(Event::Closed(2, refused()), t0 + ms(760));
    assert!(out.is_empty(), "{out:?}");
    // REST answers: polling at once, the stream retried behind it.
    let out = m.on(
        Event::Pinged {
            err: refused(),
            delay: ms(750),
            at: t0,
            answer: Ok(()),
        },
        t0 + ms(800),
    );
    assert!(has_status(&out, State::PollingRest)
        .is_some_and(|w| w.contains("403") && w.contains("polling http://binance every 2 s")));
    assert_eq!(
        m.state(),
        &LinkState::Polling {
            next_poll: t0,
            stream: Attempt::Waiting {
                retry_at: t0 + ms(750)
            }
        }
    );
    let t1 = t0 + ms(900);
    assert_eq!(
        m.on(Event::Tick, t1),
        vec![Action::Connect(3), Action::Poll]
    );
    assert!(matches!(
        m.state(),
        LinkState::Polling { next_poll, stream: Attempt::Connecting(o) } if *next_poll == t1 + ms(2_000) && o.id == 3
    ));
    // One poll at a time.
    assert!(m.on(Event::Tick, t1 + ms(2_000)).is_empty());
    let out = m.on(
        Event::Polled {
            polls: Ok(vec![("BTCUSDT".into(), Poll::default())]),
            bars: vec![("BTCUSDT".into(), Ok(vec![]))],
        },
        t1 + ms(2_100),
    );
    assert_eq!(
        out,
        vec![Action::ApplyPoll(
            vec![("BTCUSDT".into(), Poll::default())],
            vec![("BTCUSDT".into(), vec![])]
        )]
    );
    assert_eq!(m.on(Event::Tick, t1 + ms(2_250)), vec![Action::Poll]);
}

#[test]
fn while_polling_a_refused_stream_is_retried_with_backoff_at_most_10_s_apart() {
    let t0 = Instant::now();
    let mut m = polling(t0);
    m.on(Event::Tick, t0 + ms(750)); // link 2, and a poll
    let t1 = t0 + ms(800);
    let out = m.on(Event::Closed(2, refused()), t1);
    assert_eq!(
        out,
        vec![Action::Ping {
            err: refused(),
            delay: ms(1_000),
            at: t1
        }]
    );
    assert!(
        matches!(
            m.state(),
            LinkState::Polling { next_poll, stream: Attempt::Waiting { retry_at } } if *next_poll == t0 + ms(750) + ms(2_000) && *retry_at == t1 + ms(1_000)
        ),
        "polling goes on: {:?}",
        m.state()
    );
    // Long backoffs are capped at POLLING_RETRY_MAX once REST answers.
    let out = m.on(
        Event::Pinged {
            err: refused(),
            delay: ms(25_000),
            at: t1,
            answer: Ok(()),
        },
        t1 + ms(50),
    );
    assert!(has_status(&out, State::PollingRest).is_some());
    assert!(matches!(
        m.state(),
        LinkState::Polling { stream: Attempt::Waiting { retry_at }, .. } if *retry_at == t1 + POLLING_RETRY_MAX
    ));
}

#[test]
fn polling_stops_as_soon_as_the_stream_delivers() {
    let t0 = Instant::now();
    let mut m = polling(t0);
    m.on(Event::Tick, t0 + ms(750)); // link 2 and a poll in flight
    m.on(Event::Opened(2), t0 + ms(760));
    let t1 = t0 + ms(800);
    let out = m.on(Event::Msg(2, trade(1)), t1);
    assert_eq!(
        out,
        vec![
            Action::Apply(trade(1)),
            Action::Status(State::Live, "streaming 1 symbols".into()),
            Action::FillBars, // the bars missed since the first link was refused
        ]
    );
    assert!(matches!(m.state(), LinkState::Live { link, .. } if link.id == 2));
    // The poll in flight is dropped (the stream's data is newer), and no poll follows.
    let out = m.on(
        Event::Polled {
            polls: Ok(vec![("BTCUSDT".into(), Poll::default())]),
            bars: vec![],
        },
        t1 + ms(100),
    );
    assert!(out.is_empty(), "{out:?}");
    assert!(
        m.on(Event::Tick, t1 + ms(9_000)).is_empty(),
        "polls were due every 2 s: none"
    );
    // A late ping answer does not bring polling back.
    assert!(m
        .on(
            Event::Pinged {
                err: refused(),
                delay: ms(750),
                at: t0,
                answer: Ok(())
            },
            t1 + ms(200)
        )
        .is_empty());
    assert!(matches!(m.state(), LinkState::Live { .. }));
}

#[test]
fn rest_unreachable_too_is_a_plain_reconnect() {
    let t0 = Instant::now();
    let (mut m, _) = Machine::start(config(), false, half, t0);
    m.on(Event::Closed(1, LinkError::Connect("refused".into())), t0);
    let out = m.on(
        Event::Pinged {
            err: LinkError::Connect("refused".into()),
            delay: ms(750),
            at: t0,
            answer: Err(RestError::Network("refused".into())),
        },
        t0 + ms(10),
    );
    assert!(
        has_status(&out, State::Reconnecting).is_some_and(|w| w.contains("REST unreachable too"))
    );
    assert_eq!(
        m.state(),
        &LinkState::Idle {
            retry_at: t0 + ms(750)
        }
    );
    // And polling, if it ran, stops.
    let mut m = polling(t0);
    m.on(Event::Closed(2, refused()), t0); // not a known link: ignored
    m.on(
        Event::Pinged {
            err: refused(),
            delay: ms(750),
            at: t0,
            answer: Err(RestError::Network("down".into())),
        },
        t0 + ms(30),
    );
    assert_eq!(
        m.state(),
        &LinkState::Idle {
            retry_at: t0 + ms(750)
        }
    );
}

#[test]
fn http_451_from_any_state_is_restricted_and_retried_slowly() {
    let t0 = Instant::now();
    let retry = Duration::from_secs(300);
    // The stream's upgrade answered 451: no ping, no backoff loop.
    let (mut m, _) = Machine::start(config(), false, half, t0);
    let out = m.on(Event::Closed(1, LinkError::Http(451)), t0);
    assert_eq!(
        out,
        vec![Action::Status(State::Restricted, RESTRICTED_HINT.into())]
    );
    assert_eq!(
        m.state(),
        &LinkState::Restricted {
            retry_at: t0 + retry
        }
    );
    assert!(m.on(Event::Tick, t0 + retry - MS).is_empty());
    assert_eq!(m.on(Event::Tick, t0 + retry), vec![Action::Connect(2)]);
    // Back: live as usual.
    let out = m.on(Event::Msg(2, trade(1)), t0 + retry + ms(100));
    assert!(has_status(&out, State::Live).is_some());

    // From a live link.
    let mut m = live(t0, false);
    m.on(Event::Closed(1, LinkError::Http(451)), t0 + ms(2_000));
    assert_eq!(
        m.state(),
        &LinkState::Restricted {
            retry_at: t0 + ms(2_000) + retry
        }
    );

    // While polling: the stream's retry answered 451.
    let mut m = polling(t0);
    m.on(Event::Tick, t0 + ms(750));
    m.on(Event::Closed(2, LinkError::Http(451)), t0 + ms(800));
    assert_eq!(
        m.state(),
        &LinkState::Restricted {
            retry_at: t0 + ms(800) + retry
        }
    );
    // Restricted does not poll.
    assert!(m.on(Event::Tick, t0 + ms(60_000)).is_empty());

    // While polling: the poll answered 451.
    let mut m = polling(t0);
    m.on(Event::Tick, t0 + ms(100)); // a poll
    let out = m.on(
        Event::Polled {
            polls: Err(RestError::Restricted),
            bars: vec![],
        },
        t0 + ms(200),
    );
    assert!(has_status(&out, State::Restricted).is_some());
    assert_eq!(
        m.state(),
        &LinkState::Restricted {
            retry_at: t0 + ms(200) + retry
        }
    );

    // The ping answered 451.
    let (mut m, _) = Machine::start(config(), false, half, t0);
    m.on(Event::Closed(1, refused()), t0);
    m.on(
        Event::Pinged {
            err: refused(),
            delay: ms(750),
            at: t0,
            answer: Err(RestError::Restricted),
        },
        t0 + ms(10),
    );
    assert_eq!(
        m.state(),
        &LinkState::Restricted {
            retry_at: t0 + retry
        }
    );
}

#[test]
fn a_throttled_poll_waits_its_retry_after_then_clears_the_words() {
    let t0 = Instant::now();
    let mut m = polling(t0);
    m.on(Event::Tick, t0 + ms(100)); // a poll (and no stream retry yet)
    let t1 = t0 + ms(200);
    let out = m.on(
        Event::Polled {
            polls: Err(throttled(3)),
            bars: vec![],
        },
        t1,
    );
    assert!(
        matches!(&out[..], [Action::Error(Some(w))] if w.contains("throttled") && w.contains("429") && w.contains("in 3 s"))
    );
    assert!(matches!(
        m.state(),
        LinkState::Polling { next_poll, .. } if *next_poll == t1 + ms(3_000)
    ));
    // Nothing until Retry-After has passed (the stream retry still happens).
    let out = m.on(Event::Tick, t1 + ms(2_999));
    assert!(!out.contains(&Action::Poll), "{out:?}");
    assert!(m.on(Event::Tick, t1 + ms(3_000)).contains(&Action::Poll));
    let out = m.on(
        Event::Polled {
            polls: Ok(vec![]),
            bars: vec![],
        },
        t1 + ms(3_100),
    );
    assert_eq!(
        out,
        vec![
            Action::ApplyPoll(vec![], vec![]),
            Action::Error(Some("unknown symbol refused: FOOBAR".into()))
        ],
        "the refused symbols' words come back"
    );
}

#[test]
fn a_websocket_refused_while_rest_is_throttled_makes_no_rest_call() {
    let t0 = Instant::now();
    let mut m = polling(t0);
    m.on(Event::Tick, t0 + ms(750)); // link 2, a poll
    m.on(
        Event::Polled {
            polls: Err(throttled(60)),
            bars: vec![],
        },
        t0 + ms(800),
    );
    let out = m.on(Event::Closed(2, refused()), t0 + ms(900));
    assert!(
        !out.iter().any(|a| matches!(a, Action::Ping { .. })),
        "no ping while throttled: {out:?}"
    );
    assert!(has_status(&out, State::PollingRest).is_some_and(|w| w.contains("REST throttled")));
    assert!(matches!(
        m.state(),
        LinkState::Polling { next_poll, stream: Attempt::Waiting { .. } } if *next_poll >= t0 + ms(800) + ms(60_000)
    ));
}

#[test]
fn a_fill_throttled_is_done_when_a_link_next_delivers() {
    let t0 = Instant::now();
    let mut m = live(t0, true); // FillBars issued
    let out = m.on(
        Event::Filled(vec![
            ("BTCUSDT".into(), Ok(vec![])),
            ("ETHUSDT".into(), Err(throttled(5))),
        ]),
        t0 + ms(1_500),
    );
    assert!(matches!(&out[..], [Action::PutBars(b), Action::Error(Some(_))] if b.len() == 1));
    // Lost while still throttled: going live again fills nothing yet…
    m.on(Event::Closed(1, closed()), t0 + ms(2_000));
    m.on(Event::Tick, t0 + ms(2_750));
    let out = m.on(Event::Msg(2, trade(2)), t0 + ms(3_000));
    assert!(!out.contains(&Action::FillBars), "{out:?}");
    // …and once REST may be called, the next link that delivers does.
    m.on(Event::Closed(2, closed()), t0 + ms(7_000));
    m.on(Event::Tick, t0 + ms(8_000));
    let out = m.on(Event::Msg(3, trade(3)), t0 + ms(8_100));
    assert!(out.contains(&Action::FillBars), "{out:?}");
}

#[test]
fn a_refused_request_is_shown_and_the_link_goes_on() {
    let t0 = Instant::now();
    let mut m = live(t0, false);
    let out = m.on(
        Event::Msg(
            1,
            Msg::Answer {
                id: Some(2),
                error: Some("Invalid symbol".into()),
            },
        ),
        t0 + ms(1_100),
    );
    assert_eq!(
        out,
        vec![Action::Error(Some(
            "Binance refused a request: Invalid symbol".into()
        ))]
    );
    assert!(matches!(m.state(), LinkState::Live { link, .. } if link.id == 1));
}
