//! One budget for every Schwab market-data REST call, so no browser (and no number of on-demand topics) can make
//! the relay call Schwab faster than Schwab allows, and a 429 stops every call until Schwab's `Retry-After` has
//! passed.
//!
//! Schwab documents 120 market-data requests per minute per app (the Trader API's "Throttling" section; the
//! default of `TICKDESK_SCHWAB_REST_PER_MIN`). The budget is a sliding window: at most `per_window` calls start in
//! any `window` (a minute). Calls wait in priority order — what a browser is waiting for first, the start symbols
//! next, background refreshes (held expiries, fresh pictures of contracts outside the key budget) last — so a busy
//! background never delays a chain someone just opened.
//!
//! Time is tokio's, so tests can pause and advance it.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Who is waiting for a call, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// A browser is waiting for it (a chain or expirations topic just subscribed).
    Browser = 0,
    /// The start symbols' first pictures and quotes.
    Start = 1,
    /// Refreshes nobody waits for: held expiries, contracts outside the key budget.
    Background = 2,
}

#[derive(Debug)]
struct State {
    /// When the calls of the current window started, oldest first.
    started: VecDeque<Instant>,
    /// No call before this (a 429's `Retry-After`).
    blocked_until: Option<Instant>,
    /// Callers waiting, per priority.
    waiting: [usize; 3],
    /// Calls made so far, for the status and tests.
    total: u64,
}

/// The shared budget.
#[derive(Debug)]
pub struct RestBudget {
    per_window: usize,
    window: Duration,
    state: Mutex<State>,
    changed: Notify,
}

/// Decrements the waiting count if an `acquire` is dropped before it got its call (a cancelled load).
struct Waiting<'a> {
    budget: &'a RestBudget,
    priority: Priority,
    done: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.budget.lock().waiting[self.priority as usize] -= 1;
            self.budget.changed.notify_waiters();
        }
    }
}

impl RestBudget {
    /// At most `per_window` calls in any `window`.
    pub fn new(per_window: usize, window: Duration) -> RestBudget {
        RestBudget {
            per_window: per_window.max(1),
            window,
            state: Mutex::new(State {
                started: VecDeque::new(),
                blocked_until: None,
                waiting: [0; 3],
                total: 0,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a call of `priority` may start, and counts it.
    pub async fn acquire(&self, priority: Priority) {
        self.lock().waiting[priority as usize] += 1;
        let mut guard = Waiting {
            budget: self,
            priority,
            done: false,
        };
        loop {
            // Registered before the state is read, so a change in between still wakes this caller.
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake_at = {
                let mut s = self.lock();
                let now = Instant::now();
                while s
                    .started
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    s.started.pop_front();
                }
                let higher_waiting = s.waiting[..priority as usize].iter().any(|n| *n > 0);
                match s.blocked_until {
                    Some(until) if until > now => Some(until),
                    _ if higher_waiting => None,
                    _ if s.started.len() < self.per_window => {
                        s.started.push_back(now);
                        s.waiting[priority as usize] -= 1;
                        s.total += 1;
                        guard.done = true;
                        drop(s);
                        self.changed.notify_waiters();
                        return;
                    }
                    _ => s.started.front().map(|t| *t + self.window),
                }
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = &mut notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Schwab answered 429: no call starts before `retry_after` has passed.
    pub fn throttle(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        {
            let mut s = self.lock();
            s.blocked_until = Some(s.blocked_until.map_or(until, |u| u.max(until)));
        }
        self.changed.notify_waiters();
    }

    /// How long calls stay stopped by a 429, if they are.
    pub fn throttled_for(&self) -> Option<Duration> {
        let now = Instant::now();
        self.lock()
            .blocked_until
            .filter(|u| *u > now)
            .map(|u| u - now)
    }

    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.lock().total
    }
}

/// Reads a `Retry-After` header: delay-seconds (what APIs send); an HTTP date or nothing gives `None`.
/// At most an hour: a bigger value is a server's mistake, and waiting that long would look like a dead relay.
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_budget_in_any_window() {
        let b = Arc::new(RestBudget::new(5, Duration::from_secs(60)));
        let times = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..17 {
            let (b, times) = (b.clone(), times.clone());
            tasks.push(tokio::spawn(async move {
                b.acquire(Priority::Background).await;
                times.lock().unwrap().push(Instant::now());
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let times = times.lock().unwrap().clone();
        assert_eq!(times.len(), 17);
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .filter(|u| u.duration_since(*t) < Duration::from_secs(60))
                .count();
            assert!(
                in_window <= 5,
                "{in_window} calls within a minute of call {i}"
            );
        }
        assert_eq!(b.calls(), 17);
    }

    #[tokio::test(start_paused = true)]
    async fn what_a_browser_waits_for_goes_first() {
        let b = Arc::new(RestBudget::new(1, Duration::from_secs(60)));
        b.acquire(Priority::Start).await; // the window is full for a minute
        let order = Arc::new(Mutex::new(Vec::new()));
        let spawn = |p: Priority| {
            let (b, order) = (b.clone(), order.clone());
            tokio::spawn(async move {
                b.acquire(p).await;
                order.lock().unwrap().push(p);
            })
        };
        let bg = spawn(Priority::Background);
        tokio::task::yield_now().await;
        let browser = spawn(Priority::Browser);
        tokio::time::sleep(Duration::from_secs(61)).await;
        browser.await.unwrap();
        tokio::time::sleep(Duration::from_secs(61)).await;
        bg.await.unwrap();
        assert_eq!(
            *order.lock().unwrap(),
            vec![Priority::Browser, Priority::Background]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_stops_every_call_until_retry_after() {
        let b = RestBudget::new(100, Duration::from_secs(60));
        b.throttle(Duration::from_secs(30));
        assert_eq!(b.throttled_for(), Some(Duration::from_secs(30)));
        let t0 = Instant::now();
        b.acquire(Priority::Browser).await;
        assert!(Instant::now() - t0 >= Duration::from_secs(30));
        assert_eq!(b.throttled_for(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_wait_does_not_block_lower_priorities() {
        let b = Arc::new(RestBudget::new(1, Duration::from_secs(60)));
        b.acquire(Priority::Start).await;
        let waiting = {
            let b = b.clone();
            tokio::spawn(async move { b.acquire(Priority::Browser).await })
        };
        tokio::task::yield_now().await;
        waiting.abort();
        let _ = waiting.await;
        tokio::time::sleep(Duration::from_secs(61)).await;
        tokio::time::timeout(Duration::from_secs(1), b.acquire(Priority::Background))
            .await
            .expect("the aborted browser wait no longer holds the background back");
    }

    #[test]
    fn retry_after_values() {
        assert_eq!(retry_after(Some("30")), Some(Duration::from_secs(30)));
        assert_eq!(retry_after(Some(" 2 ")), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_after(Some("18446744073709551615")),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(None), None);
    }
}
