//! The connection's life: a connection attempt as a task, the link it yields, what a failure means (codes 3, 12, 30,
//! a lost socket), the reconnect backoff, and the tokens' timer and health.

use super::*;

impl Upstream {
    /// Starts a connection attempt as a task: token, user preferences, the websocket and LOGIN, so the loop goes
    /// on while it runs.
    pub(super) fn start_connect(&mut self) -> JoinHandle<Result<Session, ConnectFailed>> {
        let (state, verb) = if self.ever_connected {
            (State::Reconnecting, "reconnecting to")
        } else {
            (State::Connecting, "connecting to")
        };
        self.status
            .set(state, format!("{verb} the Schwab streamer"));
        let (tokens, rest) = (self.tokens.clone(), self.rest.clone());
        let timeout = self.opts.timing.command_timeout;
        tokio::spawn(async move {
            let token = tokens.access_token().await.map_err(ConnectFailed::Token)?;
            let (info, permission) = match rest.user_preference().await {
                Ok(x) => x,
                Err(RestError::Auth(e)) => return Err(ConnectFailed::Token(e)),
                Err(e) => return Err(ConnectFailed::Retry(e.to_string())),
            };
            let mut s = Session::connect(&info, timeout)
                .await
                .map_err(|e| ConnectFailed::Retry(e.to_string()))?;
            let msg = s.login(&token).await.map_err(ConnectFailed::Stream)?;
            info!(server = %msg, market_data = permission.as_deref().unwrap_or("?"), url = %info.socket_url, "logged in to the Schwab streamer");
            Ok(s)
        })
    }

    /// The attempt's outcome: a link and the plan from nothing, or the failure handled.
    pub(super) async fn on_connect_result(
        &mut self,
        r: Result<Session, ConnectFailed>,
        link: &mut Option<Link>,
    ) {
        let s = match r {
            Ok(s) => s,
            Err(ConnectFailed::Token(e)) => return self.token_failed(e),
            Err(ConnectFailed::Retry(e)) => return self.retry_later(e),
            Err(ConnectFailed::Stream(e)) => return self.after_failure(e).await,
        };
        self.subscribed.clear();
        self.streamed_quotes.clear();
        self.delayed_keys.retain(|k| k.starts_with("chain "));
        self.connected_at = Some(Instant::now());
        self.ever_connected = true;
        self.in_flight = None;
        self.refused = None;
        self.relogged = false;
        self.on_bars_connected();
        *link = Some(Link::spawn(
            s,
            self.tokens.clone(),
            LinkTiming {
                ping_interval: self.opts.timing.ping_interval,
                stale_after: self.opts.timing.stale_after,
            },
        ));
        self.status.set_error(None);
        // Live once the plan's commands have landed (see `pump`), so "live" means streaming what is watched.
        self.pump(link);
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

    /// The link failed: drop it, mark everything not live, decide what next.
    pub(super) async fn drop_link(&mut self, link: &mut Option<Link>, e: StreamError) {
        *link = None;
        self.in_flight = None;
        self.subscribed.clear();
        self.publish_live_flags();
        if self
            .connected_at
            .take()
            .is_some_and(|t| t.elapsed() >= self.opts.timing.stable_after)
        {
            self.backoff.reset();
        }
        self.after_failure(e).await;
    }

    pub(super) async fn after_failure(&mut self, e: StreamError) {
        let after = match &e {
            StreamError::Code { code: codes::LOGIN_DENIED, .. } => After::RefreshThenRetry,
            StreamError::Code { code: codes::CLOSE_CONNECTION, msg, .. } => After::Stop(format!(
                "another session took the Schwab connection (code 12: {msg}): stopped; restart the relay to take it back"
            )),
            StreamError::Code { code: codes::STOP_STREAMING, msg, .. } => {
                warn!(%msg, "Schwab stopped the stream (code 30); reconnecting and resubscribing");
                After::Retry
            }
            _ => After::Retry,
        };
        match after {
            After::Stop(words) => {
                error!("{words}");
                self.stopped = true;
                self.status.set_error(Some(e.to_string()));
                self.status.set(State::Stopped, words);
            }
            After::RefreshThenRetry => {
                warn!(error = %e, "Schwab denied the streamer login (code 3); refreshing the token");
                match self.tokens.refresh_now().await {
                    Ok(()) => self.retry_later(e.to_string()),
                    Err(te) => self.token_failed(te),
                }
            }
            After::Retry => {
                warn!(error = %e, "Schwab streamer connection lost");
                self.retry_later(e.to_string());
            }
        }
    }

    pub(super) fn retry_later(&mut self, error: String) {
        let delay = Duration::from_millis(self.backoff.next_delay_ms(rand::random::<f64>()) as u64);
        self.next_connect = tokio::time::Instant::now() + delay;
        let state = if self.ever_connected {
            State::Reconnecting
        } else {
            State::Connecting
        };
        self.status.set_error(Some(error));
        self.status.set(
            state,
            format!(
                "reconnecting to the Schwab streamer in {:.1} s (attempt {})",
                delay.as_secs_f64(),
                self.backoff.attempt()
            ),
        );
    }

    pub(super) fn token_failed(&mut self, e: AuthError) {
        match e {
            AuthError::Rejected { .. } | AuthError::File(_) => {
                let words = format!("Schwab refused the refresh token: {LOGIN_HINT}");
                error!(error = %e, "{words}");
                self.tokens_lapsed = true;
                self.status.set_error(Some(e.to_string()));
                self.status.set(State::Error, words);
            }
            other => self.retry_later(other.to_string()),
        }
    }

    /// The token timer: refresh when due; while the refresh token is refused, look for a new token file.
    /// False if a refresh failed and should be retried soon.
    pub(super) async fn on_token_timer(&mut self) -> bool {
        if self.tokens_lapsed {
            if self.tokens.reload().await {
                info!("new Schwab login found in the token file");
                self.tokens_lapsed = false;
                self.status.set_error(None);
                if self.connected_at.is_some() {
                    // The stream outlived the old token; it carries on.
                    let state = if self.status.delayed() {
                        State::Delayed
                    } else {
                        State::Live
                    };
                    self.status.set(state, self.streaming_words());
                } else {
                    self.next_connect = tokio::time::Instant::now();
                }
            }
            self.check_token_health().await;
            return true;
        }
        let ok = match self.tokens.refresh_if_due().await {
            Ok(_) => true,
            Err(e @ AuthError::Rejected { .. }) => {
                self.token_failed(e);
                true
            }
            Err(e) => {
                warn!(error = %e, "refreshing the Schwab access token failed; will retry");
                self.status.set_error(Some(e.to_string()));
                false
            }
        };
        self.check_token_health().await;
        ok
    }

    pub(super) async fn check_token_health(&mut self) {
        let advice = self.tokens.health().await.advice();
        if let Some(a) = &advice {
            if matches!(self.opts.auth, Auth::App { .. }) {
                warn!("{a}");
            }
        }
        // The simulator's tokens never lapse in a way a user must act on.
        if matches!(self.opts.auth, Auth::App { .. }) {
            self.status.set_token_note(advice);
        }
    }
}
