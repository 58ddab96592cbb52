//! The connection's life: the tokens, a connection attempt as a task (token, preferences, websocket, LOGIN), what a
//! failure means (codes 3, 12, 30, a lost socket), the reconnect backoff, and the token timer and health.

use std::sync::Arc;
use std::time::Duration;

use tickdesk_wire::backoff::Backoff;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::options::{Auth, Options, Timing};
use crate::auth::{self, AuthError, TokenManager};
use crate::link::{Link, LinkTiming};
use crate::rest::{Rest, RestError};
use crate::status::{State, Status};
use crate::streamer::{Session, StreamError};
use crate::token::now_s;
use crate::token::LOGIN_HINT;
use tickdesk_schwab_proto::codes;

/// Why a connection attempt failed.
pub(super) enum ConnectFailed {
    Token(AuthError),
    Retry(String),
    Stream(StreamError),
}

/// What to do after the session failed.
#[derive(Debug, PartialEq)]
pub(super) enum After {
    Retry,
    RefreshThenRetry,
    Stop(String),
}

impl After {
    /// Response codes, each on purpose: 3 refreshes the token first, 12 (another session took the connection)
    /// stops for good rather than fight for the one connection, 30 and anything else reconnect.
    pub(super) fn of(e: &StreamError) -> After {
        match e {
            StreamError::Code { code: codes::LOGIN_DENIED, .. } => After::RefreshThenRetry,
            StreamError::Code { code: codes::CLOSE_CONNECTION, msg, .. } => After::Stop(format!(
                "another session took the Schwab connection (code 12: {msg}): stopped; restart the relay to take it back"
            )),
            StreamError::Code { code: codes::STOP_STREAMING, msg, .. } => {
                warn!(%msg, "Schwab stopped the stream (code 30); reconnecting and resubscribing");
                After::Retry
            }
            _ => After::Retry,
        }
    }
}

/// The streamer connection's state (the logged-in link itself is the loop's).
#[derive(Debug)]
pub(super) struct Connection {
    tokens: Arc<TokenManager>,
    /// Tokens from a Schwab app (their health is the user's business), not the simulator.
    app: bool,
    timing: Timing,
    backoff: Backoff,
    /// No attempt before this.
    next_connect: Instant,
    /// Since when the link is up.
    connected_at: Option<std::time::Instant>,
    ever_connected: bool,
    /// Set for good by code 12.
    stopped: bool,
    /// The refresh token was refused: waiting for `auth login`.
    tokens_lapsed: bool,
}

impl Connection {
    pub(super) fn new(tokens: Arc<TokenManager>, opts: &Options) -> Connection {
        Connection {
            tokens,
            app: matches!(opts.auth, Auth::App { .. }),
            timing: opts.timing.clone(),
            backoff: Backoff::new(
                opts.timing.backoff_min.as_millis() as f64,
                opts.timing.backoff_max.as_millis() as f64,
            ),
            next_connect: Instant::now(),
            connected_at: None,
            ever_connected: false,
            stopped: false,
            tokens_lapsed: false,
        }
    }

    /// Neither stopped by code 12 nor waiting for `auth login`.
    pub(super) fn may_connect(&self) -> bool {
        !self.stopped && !self.tokens_lapsed
    }

    pub(super) fn next_connect(&self) -> Instant {
        self.next_connect
    }

    pub(super) fn tokens_lapsed(&self) -> bool {
        self.tokens_lapsed
    }

    /// When the access token is next due for a refresh.
    pub(super) async fn refresh_due(&self) -> Instant {
        unix_to_instant(self.tokens.refresh_due_at().await)
    }

    fn state_while_connecting(&self) -> State {
        if self.ever_connected {
            State::Reconnecting
        } else {
            State::Connecting
        }
    }

    /// Starts a connection attempt as a task: token, user preferences, the websocket and LOGIN, so the loop goes
    /// on while it runs.
    pub(super) fn start(
        &self,
        rest: &Rest,
        status: &mut Status,
    ) -> JoinHandle<Result<Session, ConnectFailed>> {
        let verb = if self.ever_connected {
            "reconnecting to"
        } else {
            "connecting to"
        };
        status.set(
            self.state_while_connecting(),
            format!("{verb} the Schwab streamer"),
        );
        let (tokens, rest) = (self.tokens.clone(), rest.clone());
        let timeout = self.timing.command_timeout;
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

    /// Logged in: the session becomes the link.
    pub(super) fn connected(&mut self, session: Session) -> Link {
        self.connected_at = Some(std::time::Instant::now());
        self.ever_connected = true;
        Link::spawn(
            session,
            self.tokens.clone(),
            LinkTiming {
                ping_interval: self.timing.ping_interval,
                stale_after: self.timing.stale_after,
            },
        )
    }

    /// The link dropped: a connection that lived `stable_after` resets the backoff.
    pub(super) fn dropped(&mut self) {
        if self
            .connected_at
            .take()
            .is_some_and(|t| t.elapsed() >= self.timing.stable_after)
        {
            self.backoff.reset();
        }
    }

    /// The attempt or the link failed with `e`: decide what next.
    pub(super) async fn after_failure(&mut self, e: StreamError, status: &mut Status) {
        match After::of(&e) {
            After::Stop(words) => {
                error!("{words}");
                self.stopped = true;
                status.set_error(Some(e.to_string()));
                status.set(State::Stopped, words);
            }
            After::RefreshThenRetry => {
                warn!(error = %e, "Schwab denied the streamer login (code 3); refreshing the token");
                match self.tokens.refresh_now().await {
                    Ok(()) => self.retry_later(e.to_string(), status),
                    Err(te) => self.token_failed(te, status),
                }
            }
            After::Retry => {
                warn!(error = %e, "Schwab streamer connection lost");
                self.retry_later(e.to_string(), status);
            }
        }
    }

    /// The next attempt after the backoff (full jitter).
    pub(super) fn retry_later(&mut self, error: String, status: &mut Status) {
        let delay = Duration::from_millis(self.backoff.next_delay_ms(rand::random::<f64>()) as u64);
        self.next_connect = Instant::now() + delay;
        status.set_error(Some(error));
        status.set(
            self.state_while_connecting(),
            format!(
                "reconnecting to the Schwab streamer in {:.1} s (attempt {})",
                delay.as_secs_f64(),
                self.backoff.attempt()
            ),
        );
    }

    /// No token: a refused refresh token (or a broken file) waits for `auth login`; anything else retries.
    pub(super) fn token_failed(&mut self, e: AuthError, status: &mut Status) {
        match e {
            AuthError::Rejected { .. } | AuthError::File(_) => {
                let words = format!("Schwab refused the refresh token: {LOGIN_HINT}");
                error!(error = %e, "{words}");
                self.tokens_lapsed = true;
                status.set_error(Some(e.to_string()));
                status.set(State::Error, words);
            }
            other => self.retry_later(other.to_string(), status),
        }
    }

    /// The token timer: refresh when due; while the refresh token is refused, look for a new token file (a stream
    /// still up carries on: the status says `streaming`). False if a refresh failed and should be retried soon.
    pub(super) async fn on_token_timer(&mut self, status: &mut Status, streaming: String) -> bool {
        if self.tokens_lapsed {
            if self.tokens.reload().await {
                info!("new Schwab login found in the token file");
                self.tokens_lapsed = false;
                status.set_error(None);
                if self.connected_at.is_some() {
                    // The stream outlived the old token; it carries on.
                    let state = if status.delayed() {
                        State::Delayed
                    } else {
                        State::Live
                    };
                    status.set(state, streaming);
                } else {
                    self.next_connect = Instant::now();
                }
            }
            self.check_token_health(status).await;
            return true;
        }
        let ok = match self.tokens.refresh_if_due().await {
            Ok(_) => true,
            Err(e @ AuthError::Rejected { .. }) => {
                self.token_failed(e, status);
                true
            }
            Err(e) => {
                warn!(error = %e, "refreshing the Schwab access token failed; will retry");
                status.set_error(Some(e.to_string()));
                false
            }
        };
        self.check_token_health(status).await;
        ok
    }

    /// The tokens' advice for a user (log in again soon…), for an app's tokens only: the simulator's never lapse
    /// in a way a user must act on.
    pub(super) async fn check_token_health(&self, status: &mut Status) {
        let advice = self.tokens.health().await.advice();
        if self.app {
            if let Some(a) = &advice {
                warn!("{a}");
            }
            status.set_token_note(advice);
        }
    }
}

/// Gets the token manager: reads the token file (waiting for `auth login` if it is missing) or asks the simulator.
pub(super) async fn obtain_tokens(
    opts: &Options,
    http: &reqwest::Client,
    status: &mut Status,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Arc<TokenManager>> {
    let mut backoff = Backoff::new(
        opts.timing.backoff_min.as_millis() as f64,
        opts.timing.backoff_max.as_millis() as f64,
    );
    let mut logged = false;
    loop {
        let wait = match &opts.auth {
            Auth::Misconfigured(msg) => {
                error!("Schwab client not started: {msg}");
                status.set(State::Error, msg.clone());
                let _ = shutdown.wait_for(|s| *s).await;
                return None;
            }
            Auth::App { creds, token_file } => {
                match TokenManager::from_file(
                    http.clone(),
                    &opts.api,
                    creds.clone(),
                    token_file.clone(),
                ) {
                    Ok(t) => return Some(t),
                    Err(e) => {
                        if !logged {
                            error!("{e}");
                            logged = true;
                        }
                        status.set(State::Error, e.to_string());
                        opts.timing.token_poll
                    }
                }
            }
            Auth::Simulator => match auth::sim_tokens(&opts.api).await {
                Ok(t) => {
                    info!(api = %opts.api, "using the built-in Schwab simulator");
                    return Some(Arc::new(TokenManager::new(
                        http.clone(),
                        &opts.api,
                        auth::simulator_credentials(),
                        t,
                        None,
                    )));
                }
                Err(e) => {
                    warn!(error = %e, "no token from the Schwab simulator yet");
                    status.set(State::Connecting, "waiting for the Schwab simulator");
                    status.set_error(Some(e.to_string()));
                    Duration::from_millis(backoff.next_delay_ms(rand::random::<f64>()) as u64)
                }
            },
        };
        tokio::select! {
            _ = stopping(shutdown) => return None,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Resolves once shutdown is asked for (without holding the watch's guard across awaits).
pub(super) async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

fn unix_to_instant(unix_s: i64) -> tokio::time::Instant {
    let now = now_s();
    let secs = (unix_s - now).clamp(0, 86_400 * 30) as u64;
    tokio::time::Instant::now() + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(code: i64) -> StreamError {
        StreamError::Code {
            code,
            msg: "m".into(),
            context: "c".into(),
        }
    }

    #[test]
    fn each_failure_code_has_its_answer() {
        assert_eq!(
            After::of(&code(codes::LOGIN_DENIED)),
            After::RefreshThenRetry
        );
        assert!(
            matches!(After::of(&code(codes::CLOSE_CONNECTION)), After::Stop(w) if w.contains("code 12: m"))
        );
        assert_eq!(After::of(&code(codes::STOP_STREAMING)), After::Retry);
        assert_eq!(After::of(&code(codes::STREAM_CONN_NOT_FOUND)), After::Retry);
        assert_eq!(After::of(&StreamError::Closed("eof".into())), After::Retry);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_a_refused_refresh_token_waits_for_a_login_and_code_12_stops() {
        let (mut c, mut status) = super::super::tests_support::connection();
        assert!(c.may_connect());
        let t0 = Instant::now();
        c.retry_later("lost".into(), &mut status);
        assert!(c.next_connect() >= t0 && c.next_connect() <= t0 + Duration::from_secs(60));
        assert_eq!(status.state(), State::Connecting, "never connected yet");
        c.token_failed(
            AuthError::Rejected {
                status: 400,
                message: "invalid_grant".into(),
            },
            &mut status,
        );
        assert!(c.tokens_lapsed() && !c.may_connect());
        assert_eq!(status.state(), State::Error);
        let (mut c, mut status) = super::super::tests_support::connection();
        c.after_failure(code(codes::CLOSE_CONNECTION), &mut status)
            .await;
        assert!(!c.may_connect());
        assert_eq!(status.state(), State::Stopped);
    }
}
