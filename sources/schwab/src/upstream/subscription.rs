//! The streamer subscription: what Schwab has acknowledged, the key budget in force, and the one command in
//! flight at a time (as Schwab wants). Each command's outcome is applied here; code 19 shrinks the budget,
//! a first code 20 asks for a login on the same socket.

use std::collections::BTreeSet;

use tracing::{debug, warn};

use crate::link::LinkCommand;
use crate::plan::{self, KeySets, Plan};
use crate::streamer::{Response, StreamError};
use tickdesk_schwab_proto::codes;
use tickdesk_schwab_proto::fields::{self, CHART_EQUITY, LEVELONE_EQUITIES, LEVELONE_OPTIONS};

/// What a command's outcome asks of the orchestrator.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Applied (or a refusal handled here): take the next step.
    Next,
    /// Schwab refused the command (11, 21–25…): keep the session, report these words, take the next step.
    Refused(String),
    /// Logged in again on the same socket: the subscription starts from nothing; take the next step.
    Relogged,
    /// Schwab lost the session (code 20): send a [`LinkCommand::Relogin`].
    Relogin,
    /// The link is no good: drop it.
    Failed(StreamError),
}

/// The subscription's state.
#[derive(Debug)]
pub(super) struct Subscription {
    /// What the streamer has acknowledged.
    subscribed: KeySets,
    /// The key budget in force (lowered by code 19).
    budget: usize,
    /// (attempted, lowered to) after a code 19.
    budget_refused: Option<(usize, usize)>,
    /// The command the link is running.
    in_flight: Option<LinkCommand>,
    /// The last command Schwab refused: not sent again until something changes.
    refused: Option<LinkCommand>,
    /// Logged in again after a code 20 since the plan last converged (a second 20 ends the link).
    relogged: bool,
}

impl Subscription {
    pub(super) fn new(budget: usize) -> Subscription {
        Subscription {
            subscribed: KeySets::new(),
            budget,
            budget_refused: None,
            in_flight: None,
            refused: None,
            relogged: false,
        }
    }

    /// True if `key` of `service` is streamed now.
    pub(super) fn is_streamed(&self, service: &str, key: &str) -> bool {
        self.subscribed
            .get(service)
            .is_some_and(|s| s.contains(key))
    }

    /// Keys streamed now, all services.
    pub(super) fn streamed(&self) -> usize {
        self.subscribed.values().map(BTreeSet::len).sum()
    }

    /// A command is in flight: its outcome comes first.
    pub(super) fn busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The plan within the budget in force.
    pub(super) fn plan(&self, wanted: &[(&'static str, String)]) -> Plan {
        plan::plan(wanted, self.budget)
    }

    /// Something changed (demand, a load): a refused command may be tried again.
    pub(super) fn clear_refused(&mut self) {
        self.refused = None;
    }

    /// A new session: nothing subscribed, nothing in flight or refused.
    pub(super) fn reset(&mut self) {
        self.subscribed.clear();
        self.in_flight = None;
        self.refused = None;
        self.relogged = false;
    }

    /// The link is gone: nothing streams, nothing is in flight.
    pub(super) fn link_lost(&mut self) {
        self.in_flight = None;
        self.subscribed.clear();
    }

    /// The next command towards `p`, now in flight; `None` once the subscription is `p`'s (or only the very
    /// command Schwab just refused is left: resending it at once would only hammer Schwab with the same refusal).
    pub(super) fn next_command(&mut self, p: &Plan) -> Option<LinkCommand> {
        let next = plan::diff(&self.subscribed, &p.target).into_iter().next();
        let refused = next.as_ref().is_some_and(|cmd| {
            matches!(&self.refused, Some(LinkCommand::Subscription { command, service, keys, .. })
                if *command == cmd.command && *service == cmd.service && *keys == cmd.keys)
        });
        if let Some(cmd) = next.filter(|_| !refused) {
            debug!(
                command = cmd.command,
                service = cmd.service,
                keys = cmd.keys.len(),
                "Schwab subscription change"
            );
            let c = LinkCommand::Subscription {
                command: cmd.command,
                service: cmd.service,
                fields: fields::subscription_fields(cmd.service),
                keys: cmd.keys,
            };
            self.in_flight = Some(c.clone());
            return Some(c);
        }
        self.relogged = false;
        None
    }

    /// The [`LinkCommand::Relogin`] that [`Outcome::Relogin`] asked for is in flight.
    pub(super) fn relogin_sent(&mut self) {
        self.in_flight = Some(LinkCommand::Relogin);
    }

    /// A command's outcome.
    pub(super) fn on_done(
        &mut self,
        command: LinkCommand,
        result: Result<Response, StreamError>,
    ) -> Outcome {
        self.in_flight = None;
        match (command, result) {
            (LinkCommand::Relogin, Ok(_)) => {
                self.subscribed.clear();
                Outcome::Relogged
            }
            (
                LinkCommand::Subscription {
                    command,
                    service,
                    keys,
                    ..
                },
                Ok(_),
            ) => {
                let set = self.subscribed.entry(service).or_default();
                match command {
                    "UNSUBS" => keys.iter().for_each(|k| {
                        set.remove(k);
                    }),
                    "SUBS" => *set = keys.into_iter().collect(),
                    _ => set.extend(keys),
                }
                Outcome::Next
            }
            (
                cmd @ LinkCommand::Subscription { .. },
                Err(StreamError::Code {
                    code: codes::REACHED_SYMBOL_LIMIT,
                    msg,
                    ..
                }),
            ) => {
                let n = match &cmd {
                    LinkCommand::Subscription { keys, .. } => keys.len(),
                    LinkCommand::Relogin => 0,
                };
                let attempted = self.streamed() + n;
                let lowered = plan::shrink_budget(attempted.min(self.budget));
                warn!(attempted, lowered, %msg, "Schwab refused more symbols (code 19); lowering the key budget");
                if lowered >= self.budget {
                    // Cannot shrink further: stop asking until something changes.
                    self.refused = Some(cmd);
                }
                self.budget = lowered;
                self.budget_refused = Some((attempted, lowered));
                Outcome::Next
            }
            (
                LinkCommand::Subscription { .. },
                Err(StreamError::Code {
                    code: codes::STREAM_CONN_NOT_FOUND,
                    ..
                }),
            ) if !self.relogged => {
                self.relogged = true;
                warn!("Schwab lost the streamer session (code 20); logging in again");
                Outcome::Relogin
            }
            (refused, Err(StreamError::Code { code, msg, context }))
                if code != codes::STREAM_CONN_NOT_FOUND =>
            {
                warn!(code, %msg, %context, "Schwab refused a subscription command");
                self.refused = Some(refused);
                Outcome::Refused(format!("Schwab refused {context} (code {code}): {msg}"))
            }
            (_, Err(e)) => Outcome::Failed(e),
        }
    }

    /// "streaming 84 contracts and 3 underlyings".
    pub(super) fn streaming_words(&self) -> String {
        let n = |svc| self.subscribed.get(svc).map_or(0, BTreeSet::len);
        let charts = match n(CHART_EQUITY) {
            0 => String::new(),
            c => format!(" and {c} charts"),
        };
        format!(
            "streaming {} contracts and {} underlyings{charts}",
            n(LEVELONE_OPTIONS),
            n(LEVELONE_EQUITIES)
        )
    }

    /// The status's budget note: what `p` leaves out (`bars_not_live`, the charts among it) and what code 19 did;
    /// `None` while everything watched streams.
    pub(super) fn budget_note(&self, p: &Plan, bars_not_live: &[String]) -> Option<String> {
        if p.not_live.is_empty() && self.budget_refused.is_none() {
            return None;
        }
        let mut n = format!(
            "streaming {} of {} watched keys (key budget {}); the rest are REST pictures, not live",
            self.streamed(),
            p.wanted,
            self.budget
        );
        if !bars_not_live.is_empty() {
            n.push_str(&format!(
                "; bars not live (history and ticks only, no completed minutes): {}",
                bars_not_live.join(", ")
            ));
        }
        if let Some((attempted, lowered)) = self.budget_refused {
            n.push_str(&format!(
                "; Schwab refused {attempted} symbols (code 19), budget lowered to {lowered}"
            ));
        }
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Result<Response, StreamError> {
        Ok(Response {
            service: "X".into(),
            command: "X".into(),
            requestid: "1".into(),
            code: 0,
            msg: String::new(),
        })
    }

    fn code(code: i64) -> Result<Response, StreamError> {
        Err(StreamError::Code {
            code,
            msg: "no".into(),
            context: "a command".into(),
        })
    }

    fn wanted(keys: &[&str]) -> Vec<(&'static str, String)> {
        keys.iter()
            .map(|k| (LEVELONE_EQUITIES, k.to_string()))
            .collect()
    }

    /// Sends the next command and acknowledges it.
    fn step(s: &mut Subscription, p: &Plan) -> Option<LinkCommand> {
        let c = s.next_command(p)?;
        assert!(s.busy());
        assert!(matches!(s.on_done(c.clone(), ok()), Outcome::Next));
        Some(c)
    }

    #[test]
    fn acknowledged_commands_build_the_subscription_one_at_a_time() {
        let mut s = Subscription::new(10);
        let p = s.plan(&wanted(&["AAPL", "SPY"]));
        let c = step(&mut s, &p).unwrap();
        assert!(matches!(
            c,
            LinkCommand::Subscription {
                command: "SUBS",
                ..
            }
        ));
        assert!(
            s.is_streamed(LEVELONE_EQUITIES, "AAPL") && s.is_streamed(LEVELONE_EQUITIES, "SPY")
        );
        assert!(step(&mut s, &p).is_none(), "converged");
        let p = s.plan(&wanted(&["AAPL", "MSFT"]));
        let cmds: Vec<&str> = std::iter::from_fn(|| step(&mut s, &p))
            .map(|c| match c {
                LinkCommand::Subscription { command, .. } => command,
                LinkCommand::Relogin => "RELOGIN",
            })
            .collect();
        assert_eq!(cmds, ["UNSUBS", "ADD"]);
        assert!(
            !s.is_streamed(LEVELONE_EQUITIES, "SPY") && s.is_streamed(LEVELONE_EQUITIES, "MSFT")
        );
        assert_eq!(
            s.streaming_words(),
            "streaming 0 contracts and 2 underlyings"
        );
        assert_eq!(s.budget_note(&p, &[]), None);
        s.link_lost();
        assert_eq!(s.streamed(), 0);
        assert!(!s.busy());
    }

    #[test]
    fn code_19_lowers_the_budget_and_a_refused_command_waits_for_a_change() {
        let mut s = Subscription::new(10);
        let p = s.plan(&wanted(&["A", "B", "C", "D"]));
        let c = s.next_command(&p).unwrap();
        assert!(matches!(
            s.on_done(c, code(codes::REACHED_SYMBOL_LIMIT)),
            Outcome::Next
        ));
        // Four keys attempted: 10% fewer is 3.
        let p = s.plan(&wanted(&["A", "B", "C", "D"]));
        assert_eq!(p.streamed(), 3);
        let note = s.budget_note(&p, &["D".into()]).unwrap();
        assert!(note.contains("key budget 3"), "{note}");
        assert!(
            note.contains("Schwab refused 4 symbols (code 19), budget lowered to 3"),
            "{note}"
        );
        assert!(note.contains("bars not live (history and ticks only, no completed minutes): D"));
        // Another refusal: not sent again until something changes.
        let c = s.next_command(&p).unwrap();
        assert!(
            matches!(s.on_done(c.clone(), code(11)), Outcome::Refused(w) if w.contains("code 11"))
        );
        assert!(s.next_command(&p).is_none(), "the refused command waits");
        s.clear_refused();
        assert_eq!(s.next_command(&p), Some(c));
    }

    #[test]
    fn a_lost_session_logs_in_again_once_until_the_plan_converges() {
        let mut s = Subscription::new(10);
        let p = s.plan(&wanted(&["A"]));
        step(&mut s, &p);
        let p = s.plan(&wanted(&["A", "B"]));
        let c = s.next_command(&p).unwrap();
        assert!(matches!(
            s.on_done(c, code(codes::STREAM_CONN_NOT_FOUND)),
            Outcome::Relogin
        ));
        s.relogin_sent();
        assert!(s.busy());
        assert!(matches!(
            s.on_done(LinkCommand::Relogin, ok()),
            Outcome::Relogged
        ));
        assert_eq!(s.streamed(), 0, "a new session subscribes from nothing");
        // A second code 20 before the plan converged ends the link.
        let c = s.next_command(&p).unwrap();
        assert!(matches!(
            s.on_done(c, code(codes::STREAM_CONN_NOT_FOUND)),
            Outcome::Failed(StreamError::Code { code: 20, .. })
        ));
        // Once the plan converged, a later 20 logs in again.
        while step(&mut s, &p).is_some() {}
        let p = s.plan(&wanted(&["A", "B", "C"]));
        let c = s.next_command(&p).unwrap();
        assert!(matches!(
            s.on_done(c, code(codes::STREAM_CONN_NOT_FOUND)),
            Outcome::Relogin
        ));
    }
}
