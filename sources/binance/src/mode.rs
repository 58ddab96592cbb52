//! Which Binance to use: the mode setting and the endpoints decide it (pure), and in `auto` a quick probe of the
//! REST endpoint settles it.
//!
//! - `auto` (the default): the configured endpoints (Binance's own unless set), if `/api/v3/ping` answers within
//!   the probe timeout; otherwise — no network, a 451 from a restricted location, anything else — the built-in
//!   simulator, and the status says which and why. So the default run works offline and shows why it simulates.
//! - `real`: the configured endpoints, whatever happens (a 451 is shown as such and retried slowly).
//! - `sim`: the built-in simulator.
//! - `off`: no Binance source.

use std::time::Duration;

use super::rest::{Rest, RestError};

/// The `TICKDESK_BINANCE` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Auto,
    Real,
    Sim,
    Off,
}

/// What to do at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Off,
    /// Use these endpoints.
    Endpoints {
        ws: String,
        rest: String,
    },
    /// Start the built-in simulator, for this reason.
    BuiltIn {
        reason: String,
    },
    /// Probe these endpoints; the simulator if they do not answer.
    Probe {
        ws: String,
        rest: String,
    },
}

/// The plan for `mode` with the configured endpoints.
pub fn plan(mode: Mode, ws: &str, rest: &str) -> Plan {
    let (ws, rest) = (ws.to_string(), rest.to_string());
    match mode {
        Mode::Off => Plan::Off,
        Mode::Sim => Plan::BuiltIn {
            reason: "TICKDESK_BINANCE=sim".into(),
        },
        Mode::Real => Plan::Endpoints { ws, rest },
        Mode::Auto => Plan::Probe { ws, rest },
    }
}

/// Why the probe of `rest` failed, in words for the status; `None` when it answered.
pub async fn probe(rest_url: &str, timeout: Duration) -> Option<String> {
    let rest = Rest::new(rest_url, timeout);
    match tokio::time::timeout(timeout, rest.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(RestError::Restricted)) => Some(format!(
            "{rest_url} answered 451 (restricted location: Binance.com does not serve this country; for \
             Binance.US set TICKDESK_BINANCE_WS=wss://stream.binance.us:9443 and \
             TICKDESK_BINANCE_REST=https://api.binance.us)"
        )),
        Ok(Err(e)) => Some(format!("{rest_url} not reachable: {e}")),
        Err(_) => Some(format!(
            "{rest_url} did not answer within {} ms",
            timeout.as_millis()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_plans() {
        let (w, r) = ("wss://w", "https://r");
        assert_eq!(plan(Mode::Off, w, r), Plan::Off);
        assert!(matches!(plan(Mode::Sim, w, r), Plan::BuiltIn { .. }));
        assert_eq!(
            plan(Mode::Real, w, r),
            Plan::Endpoints {
                ws: w.into(),
                rest: r.into()
            }
        );
        assert_eq!(
            plan(Mode::Auto, w, r),
            Plan::Probe {
                ws: w.into(),
                rest: r.into()
            }
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_a_reason_to_simulate() {
        // A port bound then released: nothing listens there.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let why = probe(&format!("http://{addr}"), Duration::from_millis(500)).await;
        assert!(why.is_some_and(|w| w.contains("not reachable") || w.contains("did not answer")));
    }
}
