//! What the views read of the feed: the connection state the indicator shows, staleness, the clock, the error log,
//! and each topic's last change. Reactive signals only; the feed writes them, components read them.

use std::collections::BTreeMap;

use leptos::prelude::*;

use super::poll::POLL_MS;

/// What the connection indicator shows. Each state is something the user can act on or wait for.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnState {
    /// Opening the socket (first time, or right after a retry timer fired).
    Connecting,
    /// Frames flowing.
    Live,
    /// The relay acknowledged our pause: nothing is sent until resume.
    Paused,
    /// Lost; the next attempt is due at `next_at_ms` (page clock).
    Reconnecting { attempt: u32, next_at_ms: f64 },
    /// The browser says it has no network; we wait for it to come back.
    Offline,
    /// The websocket cannot connect (a proxy may block it): data comes from polling the REST views, slower. The
    /// websocket keeps being retried, and takes over as soon as it works.
    Polling,
    /// The relay refused our access token (or we had none): retrying cannot help until the page is opened with it.
    Unauthorized,
}

impl ConnState {
    /// Connected to the relay by websocket.
    pub fn connected(&self) -> bool {
        matches!(self, ConnState::Live | ConnState::Paused)
    }

    /// How long without data means the picture may be stale: two heartbeats on a socket, three polls when polling;
    /// `None` when no data is expected (connecting, reconnecting, offline: the indicator already says why).
    pub fn stale_after_ms(&self, heartbeat_ms: f64) -> Option<f64> {
        match self {
            ConnState::Live | ConnState::Paused => Some(2.0 * heartbeat_ms),
            ConnState::Polling => Some(3.0 * f64::from(POLL_MS)),
            _ => None,
        }
    }
}

/// Signals the views read. `Copy`: hand it to any component.
#[derive(Debug, Clone, Copy)]
pub struct FeedSignals {
    pub state: RwSignal<ConnState>,
    /// No frame for more than two heartbeats while connected.
    pub stale: RwSignal<bool>,
    /// Page-clock time of the last frame received.
    pub last_frame_ms: RwSignal<f64>,
    /// A clock ticking twice a second, for "x s ago" and countdowns.
    pub now_ms: RwSignal<f64>,
    /// Messages for the error log, newest last, bounded.
    pub log: RwSignal<Vec<(f64, String)>>,
    /// Whether the user wants the stream paused (the indicator shows paused only once the relay agrees).
    pub want_paused: RwSignal<bool>,
    /// Page-clock time of each topic's last change, refreshed by the clock (for panel staleness).
    pub topic_updated: RwSignal<BTreeMap<String, f64>>,
}

const LOG_LINES: usize = 50;

impl FeedSignals {
    pub(crate) fn new(now_ms: f64) -> Self {
        FeedSignals {
            state: RwSignal::new(ConnState::Connecting),
            stale: RwSignal::new(false),
            last_frame_ms: RwSignal::new(0.0),
            now_ms: RwSignal::new(now_ms),
            log: RwSignal::new(Vec::new()),
            want_paused: RwSignal::new(false),
            topic_updated: RwSignal::new(BTreeMap::new()),
        }
    }

    /// Adds a line to the error log (and the browser console), keeping the last [`LOG_LINES`].
    pub fn log(&self, msg: impl Into<String>) {
        let msg = msg.into();
        leptos::logging::warn!("{msg}");
        self.log.update(|l| {
            l.push((js_sys::Date::now(), msg));
            if l.len() > LOG_LINES {
                l.remove(0);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staleness_is_judged_by_heartbeats_on_a_socket_and_by_polls_when_polling() {
        assert_eq!(ConnState::Live.stale_after_ms(1_000.0), Some(2_000.0));
        assert_eq!(ConnState::Paused.stale_after_ms(20_000.0), Some(40_000.0));
        assert_eq!(ConnState::Polling.stale_after_ms(1_000.0), Some(6_000.0));
        let reconnecting = ConnState::Reconnecting {
            attempt: 1,
            next_at_ms: 0.0,
        };
        for s in [ConnState::Connecting, ConnState::Offline, reconnecting] {
            assert_eq!(s.stale_after_ms(1_000.0), None, "{s:?}");
            assert!(!s.connected());
        }
    }
}
