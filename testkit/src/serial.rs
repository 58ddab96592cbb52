//! A gate for the tests that need their process to themselves: a measurement of the process's memory (or CPU) is
//! only about the test if no other test runs beside it, and the tests of a binary run in parallel threads.
//!
//! Every fixture that starts something (a simulator here, a relay in the relay's tests) holds a [`Shared`] turn
//! while it runs; a test that must be alone takes the [`Exclusive`] turn first, which waits until no shared turn
//! is left and holds every new one back until it is dropped. The exclusive test's own fixtures pass: a shared turn
//! asked for on the thread that holds the exclusive one (a test's body runs on its thread, whichever Tokio flavour)
//! is granted at once.
//!
//! Tests that start nothing and allocate little are left out; a test that should also wait can take
//! [`shared`] (or [`shared_blocking`] without a runtime) itself.

use std::sync::{Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// How often a waiting turn looks again.
const POLL: Duration = Duration::from_millis(5);

/// How long the exclusive turn waits for the others to end before it fails (a leaked fixture would hold it off
/// for ever).
const EXCLUSIVE_WAIT: Duration = Duration::from_secs(600);

#[derive(Debug)]
struct Turns {
    shared: usize,
    exclusive: Option<ThreadId>,
}

static TURNS: Mutex<Turns> = Mutex::new(Turns {
    shared: 0,
    exclusive: None,
});

fn turns() -> MutexGuard<'static, Turns> {
    TURNS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A shared turn: any number run at once, none while an [`Exclusive`] one runs (but its own).
#[derive(Debug)]
#[must_use = "the turn ends when it is dropped"]
pub struct Shared {
    counted: bool,
}

/// The exclusive turn: nothing else that holds a turn runs while it is held.
#[derive(Debug)]
#[must_use = "the turn ends when it is dropped"]
pub struct Exclusive {
    _private: (),
}

fn try_shared() -> Option<Shared> {
    let mut t = turns();
    match t.exclusive {
        Some(owner) if owner == std::thread::current().id() => Some(Shared { counted: false }),
        Some(_) => None,
        None => {
            t.shared += 1;
            Some(Shared { counted: true })
        }
    }
}

/// A shared turn, once no exclusive one runs.
pub async fn shared() -> Shared {
    loop {
        if let Some(s) = try_shared() {
            return s;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`shared`] for a test without a runtime (it blocks the thread).
pub fn shared_blocking() -> Shared {
    loop {
        if let Some(s) = try_shared() {
            return s;
        }
        std::thread::sleep(POLL);
    }
}

/// The exclusive turn, once every shared turn has ended (10 minutes at most; then it panics naming `what`).
pub async fn exclusive(what: &str) -> Exclusive {
    let deadline = Instant::now() + EXCLUSIVE_WAIT;
    loop {
        {
            let mut t = turns();
            if t.exclusive.is_none() && t.shared == 0 {
                t.exclusive = Some(std::thread::current().id());
                return Exclusive { _private: () };
            }
            assert!(
                Instant::now() < deadline,
                "{what}: waited {EXCLUSIVE_WAIT:?} for the other tests to end; still running: {t:?}"
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.counted {
            turns().shared -= 1;
        }
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        turns().exclusive = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: the turns are process-wide, and parallel unit tests would see each other's.
    #[tokio::test]
    async fn the_exclusive_turn_waits_for_the_shared_ones_and_holds_new_ones_back_but_its_own() {
        let first = shared().await;
        let waiting = tokio::spawn(async {
            let alone = exclusive("the test").await;
            // Its own thread's shared turns pass (this task runs on the runtime's one thread).
            let own = shared().await;
            drop(own);
            alone
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "not while a shared turn runs");
        drop(first);
        let alone = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the exclusive turn once the shared one ended")
            .unwrap();
        let other = std::thread::spawn(|| {
            let _ = shared_blocking();
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!other.is_finished(), "another thread waits");
        drop(alone);
        other.join().unwrap();
        assert_eq!(turns().shared, 0);
        assert_eq!(turns().exclusive, None);
    }
}
