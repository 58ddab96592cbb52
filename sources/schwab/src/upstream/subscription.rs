//! What to stream and the link's commands: the plan within the key budget, one command in flight at a time,
//! each outcome handled as an event (code 19 shrinks the budget, code 20 logs in again), and the `live` flags.

use super::*;

impl Upstream {
    pub(super) fn underlyings(&self) -> Vec<String> {
        let mut out: Vec<String> = self.opts.symbols.clone();
        for t in self.wanted_chains.keys() {
            if let Some((u, _)) = parse_chain_topic(t) {
                if !out.contains(&u) {
                    out.push(u);
                }
            }
        }
        // A watched chart's current minute moves with its symbol's streamed last price. A symbol Schwab does not
        // know takes no key: it would only spend the budget the others need.
        for s in self.bars.keys().filter(|s| !self.is_unknown(s)) {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }

    pub(super) fn wanted_keys(&self) -> Vec<(&'static str, String)> {
        let cands: Vec<Candidates> = self
            .chains
            .iter()
            // Held expiries are REST pictures only: they never take streamer keys.
            .filter(|(t, _)| self.wanted_chains.get(*t) != Some(&HELD))
            .map(|(t, c)| Candidates {
                class: self.wanted_chains.get(t).copied().unwrap_or(1),
                contracts: c
                    .contracts
                    .iter()
                    .zip(&c.ranks)
                    .map(|(k, r)| (k.symbol.clone(), *r))
                    .collect(),
            })
            .collect();
        let charts: Vec<String> = self
            .bars
            .keys()
            .filter(|s| !self.is_unknown(s))
            .cloned()
            .collect();
        plan::prioritize(&self.underlyings(), &charts, &cands)
    }

    pub(super) fn has_wanted_keys(&self) -> bool {
        !self.opts.symbols.is_empty() || !self.wanted_chains.is_empty() || !self.bars.is_empty()
    }

    /// Brings the subscription one step closer to the plan: sends the next SUBS/ADD/UNSUBS the plan needs to the
    /// link, unless one is in flight (its outcome calls this again). Once nothing is left to send, publishes the
    /// `live` flags and the budget note.
    pub(super) fn pump(&mut self, link: &Option<Link>) {
        if link.is_some() && self.in_flight.is_some() {
            return;
        }
        let wanted = self.wanted_keys();
        let p = plan::plan(&wanted, self.budget);
        if let Some(l) = link {
            let next = plan::diff(&self.subscribed, &p.target).into_iter().next();
            // The very command Schwab just refused is not sent again until something changes (demand, a load, a
            // reconnect): resending it at once would only hammer Schwab with the same refusal.
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
                l.send(c.clone());
                self.in_flight = Some(c);
                return;
            }
            self.relogged = false;
        }
        self.publish_live_flags();
        if link.is_some() && matches!(self.status.state(), State::Connecting | State::Reconnecting)
        {
            // Connected and the subscription in place: live from here.
            let state = if self.status.delayed() {
                State::Delayed
            } else {
                State::Live
            };
            self.status.set(state, self.streaming_words());
        }
        self.publish_plan_notes(&p, link.is_some());
    }

    /// A command's outcome: apply it, shrink the budget on code 19, log in again on code 20, report other
    /// refusals; then the next step.
    pub(super) async fn on_done(
        &mut self,
        command: LinkCommand,
        result: Result<crate::streamer::Response, StreamError>,
        link: &mut Option<Link>,
    ) {
        self.in_flight = None;
        match (command, result) {
            (LinkCommand::Relogin, Ok(_)) => {
                self.subscribed.clear();
                self.streamed_quotes.clear();
                self.on_bars_connected();
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
                let attempted = self.subscribed.values().map(BTreeSet::len).sum::<usize>() + n;
                let lowered = plan::shrink_budget(attempted.min(self.budget));
                warn!(attempted, lowered, %msg, "Schwab refused more symbols (code 19); lowering the key budget");
                if lowered >= self.budget {
                    // Cannot shrink further: stop asking until something changes.
                    self.refused = Some(cmd);
                }
                self.budget = lowered;
                self.budget_refused = Some((attempted, lowered));
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
                if let Some(l) = link.as_ref() {
                    l.send(LinkCommand::Relogin);
                    self.in_flight = Some(LinkCommand::Relogin);
                }
                return;
            }
            (refused, Err(StreamError::Code { code, msg, context }))
                if code != codes::STREAM_CONN_NOT_FOUND =>
            {
                // A refused command (11, 21–25…): keep the session, report, try again on the next change.
                warn!(code, %msg, %context, "Schwab refused a subscription command");
                self.refused = Some(refused);
                self.status.set_error(Some(format!(
                    "Schwab refused {context} (code {code}): {msg}"
                )));
            }
            (_, Err(e)) => return self.drop_link(link, e).await,
        }
        self.pump(link);
    }

    /// What the link reports.
    pub(super) async fn on_link_event(&mut self, ev: LinkEvent, link: &mut Option<Link>) {
        match ev {
            LinkEvent::Inbound(ev) => {
                if let Err(e) = self.on_inbound(ev) {
                    self.drop_link(link, e).await;
                }
            }
            LinkEvent::Done { command, result } => self.on_done(command, result, link).await,
            LinkEvent::Closed(e) => self.drop_link(link, e).await,
        }
    }

    pub(super) fn publish_plan_notes(&mut self, p: &plan::Plan, connected: bool) {
        let streamed: usize = self.subscribed.values().map(BTreeSet::len).sum();
        if connected && matches!(self.status.state(), State::Live | State::Delayed) {
            let state = self.status.state();
            self.status.set(state, self.streaming_words());
        }
        let note = if !p.not_live.is_empty() || self.budget_refused.is_some() {
            let mut n = format!(
                "streaming {} of {} watched keys (key budget {}); the rest are REST pictures, not live",
                streamed, p.wanted, self.budget
            );
            let bars = self.bars_not_live(p);
            if !bars.is_empty() {
                n.push_str(&format!(
                    "; bars not live (history and ticks only, no completed minutes): {}",
                    bars.join(", ")
                ));
            }
            if let Some((attempted, lowered)) = self.budget_refused {
                n.push_str(&format!(
                    "; Schwab refused {attempted} symbols (code 19), budget lowered to {lowered}"
                ));
            }
            Some(n)
        } else {
            None
        };
        self.status.set_budget_note(note);
    }

    /// `live` of every loaded contract: streamed now or not.
    pub(super) fn publish_live_flags(&self) {
        let subscribed = self.subscribed.get(LEVELONE_OPTIONS);
        for (topic, c) in &self.chains {
            let rows: Items = c
                .contracts
                .iter()
                .map(|k| {
                    let live = subscribed.is_some_and(|s| s.contains(&k.symbol));
                    (
                        k.symbol.clone(),
                        [("live".to_string(), json!(live))].into_iter().collect(),
                    )
                })
                .collect();
            self.store.publish(topic, rows, vec![]);
        }
    }
}
