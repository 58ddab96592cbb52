//! OAuth (authorization-code grant with a manual paste-back) and keeping the access token fresh.
//!
//! - [`authorize_url`] and [`parse_redirect`]: Schwab sends the browser to the registered callback with `?code=…`;
//!   the callback usually is not served by anything, so the user copies the address bar back to us. The code is
//!   percent-encoded (`%40` is `@`) and lasts about 30 seconds.
//! - [`exchange_code`] / [`refresh`]: `POST {api}/v1/oauth/token` with HTTP Basic `app_key:app_secret` and a form
//!   body. The API base is a setting, so the same code talks to Schwab and to the built-in simulator.
//! - [`TokenManager`]: holds the token set, refreshes the 30-minute access token a few minutes before it expires,
//!   persists it (atomically, 0600) when it came from a file, and reports the 7-day refresh token's health.
//! - [`login_interactive`]: the `auth login` subcommand, over any reader and writer so it is testable.
//!
//! No token, app key or secret is ever formatted into a log line or an error: they are [`Secret`]s, errors carry
//! Schwab's own message (with any secret value cut out, should it echo one), and reqwest errors are stripped of
//! their URL.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use tracing::{info, warn};

use super::token::{self, now_s, RefreshTokenHealth, Token, TokenFile, TokenFileError, LOGIN_HINT};
use crate::config::SchwabConfig;
use tickdesk_hub::secret::Secret;

/// The app's credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub app_key: Secret,
    pub app_secret: Secret,
}

/// Why a token could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// The token endpoint refused (4xx): for a refresh, the refresh token is no longer valid.
    #[error("Schwab refused the token request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// Network trouble or a server error: worth retrying.
    #[error("the Schwab token request failed: {0}")]
    Transient(String),
    /// The reply was not a token set.
    #[error("the Schwab token reply was not understood: {0}")]
    BadReply(String),
    #[error("{0}")]
    File(String),
}

impl From<TokenFileError> for AuthError {
    fn from(e: TokenFileError) -> Self {
        AuthError::File(e.to_string())
    }
}

/// Replaces every occurrence of a secret's value in `text` by `[redacted]`.
pub fn redact(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        let v = s.expose();
        if v.len() >= 4 {
            out = out.replace(v, "[redacted]");
        }
    }
    out
}

/// Schwab's own words from an error body: `error_description`, `message`, `errors[0]`, a fault string, else the
/// body itself (cut short).
pub fn schwab_message(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let s = |v: &Value| v.as_str().map(str::to_string);
    let found = v
        .get("error_description")
        .and_then(s)
        .map(|d| match v.get("error").and_then(Value::as_str) {
            Some(e) => format!("{e}: {d}"),
            None => d,
        })
        .or_else(|| v.get("message").and_then(s))
        .or_else(|| v.get("error").and_then(s))
        .or_else(|| {
            let e = v.get("errors")?.get(0)?;
            s(e).or_else(|| e.get("detail").and_then(s))
                .or_else(|| e.get("title").and_then(s))
        })
        .or_else(|| v.get("fault")?.get("faultstring").and_then(s));
    let text = found.unwrap_or_else(|| body.trim().to_string());
    if text.chars().count() > 300 {
        format!("{}…", text.chars().take(300).collect::<String>())
    } else if text.is_empty() {
        "(no message)".to_string()
    } else {
        text
    }
}

/// The page the user opens to log in: `{api}/v1/oauth/authorize?client_id=…&redirect_uri=…`. It holds the app key
/// (the OAuth client id), so it is printed only to the user running `auth login`, never logged.
pub fn authorize_url(api: &str, app_key: &Secret, callback: &str) -> String {
    let mut u = url::Url::parse(&format!("{}/v1/oauth/authorize", api.trim_end_matches('/')))
        .unwrap_or_else(|_| {
            url::Url::parse("https://api.schwabapi.com/v1/oauth/authorize").expect("constant URL")
        });
    u.query_pairs_mut()
        .append_pair("client_id", app_key.expose())
        .append_pair("redirect_uri", callback)
        .append_pair("response_type", "code");
    u.to_string()
}

/// Why a pasted redirect could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RedirectError {
    #[error("that is not a URL; paste the whole address the browser was sent to (it starts with your callback URL)")]
    NotAUrl,
    #[error("Schwab sent an error instead of a code: {0}")]
    Denied(String),
    #[error(
        "the address has no `code` parameter; paste the address of the page Schwab redirected to"
    )]
    NoCode,
}

/// The authorization code from the pasted redirect URL, percent-decoded.
pub fn parse_redirect(pasted: &str) -> Result<Secret, RedirectError> {
    let u = url::Url::parse(pasted.trim()).map_err(|_| RedirectError::NotAUrl)?;
    let mut code = None;
    let mut error = None;
    for (k, v) in u.query_pairs() {
        match k.as_ref() {
            "code" if !v.is_empty() => code = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_description" => error = Some(format!("{} ({v})", error.unwrap_or_default())),
            _ => {}
        }
    }
    match (code, error) {
        (Some(c), _) => Ok(Secret::new(c)),
        (None, Some(e)) => Err(RedirectError::Denied(e)),
        (None, None) => Err(RedirectError::NoCode),
    }
}

/// An HTTP client for Schwab: rustls, timeouts, no redirects followed with credentials.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tickdesk-relay/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// `POST {api}/v1/oauth/token` with Basic auth and a form.
async fn token_request(
    http: &reqwest::Client,
    api: &str,
    creds: &Credentials,
    form: &[(&str, &str)],
    secrets: &[&Secret],
) -> Result<Token, AuthError> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        creds.app_key.expose(),
        creds.app_secret.expose()
    ));
    let url = format!("{}/v1/oauth/token", api.trim_end_matches('/'));
    let all: Vec<&Secret> = [&creds.app_key, &creds.app_secret]
        .into_iter()
        .chain(secrets.iter().copied())
        .collect();
    let resp = http
        .post(&url)
        .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
        .form(form)
        .send()
        .await
        .map_err(|e| AuthError::Transient(redact(&e.without_url().to_string(), &all)))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|e| AuthError::Transient(redact(&e.without_url().to_string(), &all)))?;
    if status.is_client_error() {
        return Err(AuthError::Rejected {
            status: status.as_u16(),
            message: redact(&schwab_message(&body), &all),
        });
    }
    if !status.is_success() {
        return Err(AuthError::Transient(format!(
            "HTTP {}: {}",
            status.as_u16(),
            redact(&schwab_message(&body), &all)
        )));
    }
    serde_json::from_str::<Token>(&body).map_err(|e| {
        // Name the problem, not the content (the body holds tokens).
        let msg = e.to_string();
        AuthError::BadReply(msg.split('"').next().unwrap_or("").trim().to_string())
    })
}

/// Exchanges an authorization code for a token set (a fresh login: the refresh token's 7 days start now).
pub async fn exchange_code(
    http: &reqwest::Client,
    api: &str,
    creds: &Credentials,
    code: &Secret,
    callback: &str,
) -> Result<TokenFile, AuthError> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.expose()),
        ("redirect_uri", callback),
    ];
    let t = token_request(http, api, creds, &form, &[code]).await?;
    if t.refresh_token.expose().is_empty() {
        return Err(AuthError::BadReply("no refresh_token in the reply".into()));
    }
    Ok(TokenFile::from_reply(t, now_s(), None))
}

/// Refreshes the access token. The login time (and so the refresh token's end) carries over.
pub async fn refresh(
    http: &reqwest::Client,
    api: &str,
    creds: &Credentials,
    current: &TokenFile,
) -> Result<TokenFile, AuthError> {
    let rt = &current.token.refresh_token;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.expose()),
    ];
    let mut t = token_request(http, api, creds, &form, &[rt, &current.token.access_token]).await?;
    if t.refresh_token.expose().is_empty() {
        t.refresh_token = rt.clone();
    }
    if t.id_token.is_none() {
        t.id_token = current.token.id_token.clone();
    }
    Ok(TokenFile::from_reply(
        t,
        now_s(),
        Some(current.creation_timestamp),
    ))
}

/// Credentials the built-in simulator accepts (it checks the Basic header's shape, not its value).
pub fn simulator_credentials() -> Credentials {
    Credentials {
        app_key: Secret::new("tickdesk-simulator-app"),
        app_secret: Secret::new("tickdesk-simulator-secret"),
    }
}

/// Tokens from the built-in simulator: an authorization-code exchange with a made-up code, exactly as with Schwab.
pub async fn sim_tokens(api: &str) -> Result<TokenFile, AuthError> {
    let http = http_client(Duration::from_secs(10));
    let code = Secret::new(format!("sim-{}", uuid::Uuid::new_v4().simple()));
    exchange_code(
        &http,
        api,
        &simulator_credentials(),
        &code,
        "https://127.0.0.1:8182",
    )
    .await
}

/// The relay's token set: refreshed before expiry, persisted when it came from a file.
#[derive(Debug)]
pub struct TokenManager {
    http: reqwest::Client,
    api: String,
    creds: Credentials,
    /// Where the tokens live; `None` keeps them in memory (the simulator's tokens must not overwrite a real file).
    path: Option<PathBuf>,
    tokens: tokio::sync::Mutex<TokenFile>,
    refreshes: AtomicU64,
}

impl TokenManager {
    pub fn new(
        http: reqwest::Client,
        api: &str,
        creds: Credentials,
        tokens: TokenFile,
        path: Option<PathBuf>,
    ) -> Self {
        TokenManager {
            http,
            api: api.trim_end_matches('/').to_string(),
            creds,
            path,
            tokens: tokio::sync::Mutex::new(tokens),
            refreshes: AtomicU64::new(0),
        }
    }

    /// Loads the token file.
    pub fn from_file(
        http: reqwest::Client,
        api: &str,
        creds: Credentials,
        path: PathBuf,
    ) -> Result<Arc<Self>, TokenFileError> {
        let t = TokenFile::read(&path)?;
        Ok(Arc::new(TokenManager::new(http, api, creds, t, Some(path))))
    }

    /// Successful refreshes so far.
    pub fn refresh_count(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// A copy of the current token set.
    pub async fn current(&self) -> TokenFile {
        self.tokens.lock().await.clone()
    }

    /// Unix time (s) at which the access token should be refreshed.
    pub async fn refresh_due_at(&self) -> i64 {
        self.tokens.lock().await.refresh_due_at()
    }

    pub async fn health(&self) -> RefreshTokenHealth {
        self.tokens.lock().await.refresh_health(now_s())
    }

    /// A valid access token, refreshed first if it is due.
    pub async fn access_token(&self) -> Result<Secret, AuthError> {
        let mut t = self.tokens.lock().await;
        if now_s() >= t.refresh_due_at() {
            self.refresh_locked(&mut t).await?;
        }
        Ok(t.token.access_token.clone())
    }

    /// Refreshes now, whatever the expiry (after a LOGIN denied with code 3, or an HTTP 401).
    pub async fn refresh_now(&self) -> Result<(), AuthError> {
        let mut t = self.tokens.lock().await;
        self.refresh_locked(&mut t).await
    }

    /// Refreshes if due (for the orchestrator's timer).
    pub async fn refresh_if_due(&self) -> Result<bool, AuthError> {
        let mut t = self.tokens.lock().await;
        if now_s() >= t.refresh_due_at() {
            self.refresh_locked(&mut t).await?;
            return Ok(true);
        }
        Ok(false)
    }

    async fn refresh_locked(&self, t: &mut TokenFile) -> Result<(), AuthError> {
        // A newer login written by `auth login` (or another tool) since we loaded wins over refreshing an old one.
        if self.adopt_newer_file(t) && now_s() < t.refresh_due_at() {
            return Ok(());
        }
        if t.refresh_health(now_s()) == RefreshTokenHealth::Lapsed {
            return Err(AuthError::Rejected {
                status: 400,
                message: format!(
                    "the refresh token has expired (7 days after the browser login): {LOGIN_HINT}"
                ),
            });
        }
        let new = refresh(&self.http, &self.api, &self.creds, t).await?;
        if let Some(p) = &self.path {
            if let Err(e) = new.write_atomic(p) {
                // Keep going with the new token in memory; the next refresh tries the file again.
                warn!(path = %p.display(), error = %e, "cannot write the Schwab token file");
            }
        }
        *t = new;
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        let left = (t.access_expires_at() - now_s()).max(0) as u64;
        info!(
            expires_in = %token::human(Duration::from_secs(left)),
            refresh_token_left = %token::human(Duration::from_secs((t.refresh_expires_at() - now_s()).max(0) as u64)),
            "refreshed the Schwab access token"
        );
        Ok(())
    }

    /// Re-reads the token file; adopts it if it holds another login or a later access token. True if adopted.
    fn adopt_newer_file(&self, t: &mut TokenFile) -> bool {
        let Some(p) = &self.path else { return false };
        let Ok(on_disk) = TokenFile::read(p) else {
            return false;
        };
        let other_login = on_disk.creation_timestamp != t.creation_timestamp
            || on_disk.token.refresh_token.expose() != t.token.refresh_token.expose();
        let later = on_disk.access_expires_at() > t.access_expires_at();
        if (other_login && on_disk.creation_timestamp >= t.creation_timestamp) || later {
            info!(path = %p.display(), "picked up a newer Schwab token from the token file");
            *t = on_disk;
            return true;
        }
        false
    }

    /// Re-reads the token file (waiting for `auth login` after the refresh token lapsed). True if a newer login
    /// was adopted.
    pub async fn reload(&self) -> bool {
        let mut t = self.tokens.lock().await;
        let before = t.creation_timestamp;
        self.adopt_newer_file(&mut t) && t.creation_timestamp != before
    }
}

/// The `auth login` subcommand: prints the authorize URL, reads the pasted redirect URL, exchanges the code and
/// writes the token file (atomically, mode 0600).
pub async fn login_interactive(
    cfg: &SchwabConfig,
    mut input: impl BufRead,
    mut output: impl Write,
) -> anyhow::Result<()> {
    let (Some(app_key), Some(app_secret)) = (cfg.app_key.clone(), cfg.app_secret.clone()) else {
        anyhow::bail!(
            "set TICKDESK_SCHWAB_APP_KEY and TICKDESK_SCHWAB_APP_SECRET (your Schwab developer app's key and secret) first"
        );
    };
    let creds = Credentials {
        app_key,
        app_secret,
    };
    let url = authorize_url(&cfg.api, &creds.app_key, &cfg.callback);
    writeln!(
        output,
        "1. Open this address in a browser and log in to Schwab (approve every account you want to use):\n\n   {url}\n\n\
         2. Schwab then sends the browser to {callback}?code=… . The page itself may fail to load: that is expected.\n   \
         Copy the whole address from the address bar and paste it here within 30 seconds, then press Enter:\n",
        callback = cfg.callback
    )?;
    output.flush()?;
    let mut line = String::new();
    input.read_line(&mut line)?;
    if line.trim().is_empty() {
        anyhow::bail!("nothing was pasted; run `tickdesk-relay auth login` again");
    }
    if !line.trim().starts_with(cfg.callback.trim_end_matches('/')) {
        writeln!(
            output,
            "note: that address does not start with the callback {} (it must match the app's registered one exactly)",
            cfg.callback
        )?;
    }
    let code = parse_redirect(&line)?;
    let http = http_client(Duration::from_secs(20));
    let tokens = exchange_code(&http, &cfg.api, &creds, &code, &cfg.callback)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "{e} (the code lasts about 30 seconds; run `tickdesk-relay auth login` again)"
            )
        })?;
    tokens.write_atomic(&cfg.token_file).map_err(|e| {
        anyhow::anyhow!(
            "cannot write the token file {}: {e}",
            cfg.token_file.display()
        )
    })?;
    let days = token::REFRESH_TOKEN_LIFETIME.as_secs() / 86_400;
    writeln!(
        output,
        "Saved the Schwab token to {} (mode 0600). It can be refreshed for {days} days; run `tickdesk-relay auth login` \
         again before then. A running relay picks the new token up by itself.",
        cfg.token_file.display()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::State;
    use axum::http::HeaderMap;
    use axum::routing::post;
    use axum::{Form, Json, Router};
    use std::collections::HashMap;

    #[test]
    fn the_authorize_url_and_a_pasted_redirect() {
        let u = authorize_url(
            "https://api.schwabapi.com/",
            &Secret::new("KEY123"),
            "https://127.0.0.1:8182",
        );
        assert_eq!(
            u,
            "https://api.schwabapi.com/v1/oauth/authorize?client_id=KEY123&redirect_uri=https%3A%2F%2F127.0.0.1%3A8182&response_type=code"
        );
        let code =
            parse_redirect("https://127.0.0.1:8182/?code=C0.b2F1dGg%40&session=abc\n").unwrap();
        assert_eq!(code.expose(), "C0.b2F1dGg@", "percent-decoded");
        assert_eq!(parse_redirect("C0.abc"), Err(RedirectError::NotAUrl));
        assert_eq!(
            parse_redirect("https://127.0.0.1:8182/?session=1"),
            Err(RedirectError::NoCode)
        );
        assert!(matches!(
            parse_redirect("https://127.0.0.1:8182/?error=access_denied"),
            Err(RedirectError::Denied(e)) if e.contains("access_denied")
        ));
    }

    #[test]
    fn schwab_messages_are_extracted_and_secrets_cut_out() {
        assert_eq!(
            schwab_message(
                r#"{"error":"invalid_client","error_description":"refresh token invalid"}"#
            ),
            "invalid_client: refresh token invalid"
        );
        assert_eq!(
            schwab_message(r#"{"message":"Bad symbol","errors":["x"]}"#),
            "Bad symbol"
        );
        assert_eq!(
            schwab_message(
                r#"{"errors":[{"title":"Unauthorized","detail":"Client not authorized"}]}"#
            ),
            "Client not authorized"
        );
        assert_eq!(
            schwab_message(
                r#"{"fault":{"faultstring":"Body buffer overflow","detail":{"errorcode":"protocol.http.TooBigBody"}}}"#
            ),
            "Body buffer overflow"
        );
        assert_eq!(schwab_message("  "), "(no message)");
        assert!(schwab_message(&"x".repeat(1000)).chars().count() <= 301);
        let s = Secret::new("RT-value-123");
        assert_eq!(
            redact("bad token RT-value-123!", &[&s]),
            "bad token [redacted]!"
        );
    }

    /// A token endpoint that checks what Schwab checks: Basic credentials and the form.
    async fn fake_token_endpoint(
        State(expected_basic): State<String>,
        headers: HeaderMap,
        Form(form): Form<HashMap<String, String>>,
    ) -> Result<Json<Value>, (axum::http::StatusCode, Json<Value>)> {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let deny = |d: &str| {
            Err((
                axum::http::StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error":"invalid_client","error_description": d})),
            ))
        };
        if auth != expected_basic {
            return deny("bad client credentials");
        }
        match form.get("grant_type").map(String::as_str) {
            Some("authorization_code")
                if form.get("code").map(String::as_str) == Some("C0.code@") => {}
            Some("refresh_token")
                if form.get("refresh_token").map(String::as_str) == Some("RT-1") => {}
            _ => return deny("refresh token invalid"),
        }
        let n = uuid::Uuid::new_v4().simple().to_string();
        Ok(Json(
            serde_json::json!({"access_token": format!("AT-{n}"), "refresh_token": "RT-1", "id_token": "ID",
            "token_type": "Bearer", "expires_in": 1800, "scope": "api"}),
        ))
    }

    async fn serve_fake() -> String {
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("KEY:SECRET")
        );
        let app = Router::new()
            .route("/v1/oauth/token", post(fake_token_endpoint))
            .with_state(basic);
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn cfg(api: &str, file: PathBuf) -> SchwabConfig {
        let mut c = SchwabConfig::defaults();
        c.api = api.to_string();
        c.app_key = Some(Secret::new("KEY"));
        c.app_secret = Some(Secret::new("SECRET"));
        c.token_file = file;
        c
    }

    #[tokio::test]
    async fn login_interactive_writes_a_private_schwab_py_file_and_refresh_keeps_the_login_time() {
        let api = serve_fake().await;
        let dir =
            std::env::temp_dir().join(format!("tickdesk-auth-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token.json");
        let c = cfg(&api, file.clone());
        let mut out = Vec::new();
        let pasted = b"https://127.0.0.1:8182/?code=C0.code%40&session=x\n";
        login_interactive(&c, &pasted[..], &mut out).await.unwrap();
        let printed = String::from_utf8(out).unwrap();
        assert!(
            printed.contains("/v1/oauth/authorize?client_id=KEY"),
            "{printed}"
        );
        assert!(printed.contains("Saved the Schwab token"), "{printed}");
        let t = TokenFile::read(&file).unwrap();
        assert!(t.token.access_token.expose().starts_with("AT-"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(!printed.contains(t.token.access_token.expose()) && !printed.contains("SECRET"));

        // The manager refreshes, rewrites the file and keeps the login time.
        let creds = Credentials {
            app_key: Secret::new("KEY"),
            app_secret: Secret::new("SECRET"),
        };
        let m = TokenManager::from_file(
            http_client(Duration::from_secs(5)),
            &api,
            creds.clone(),
            file.clone(),
        )
        .unwrap();
        let before = m.current().await;
        m.refresh_now().await.unwrap();
        let after = TokenFile::read(&file).unwrap();
        assert_ne!(
            after.token.access_token.expose(),
            before.token.access_token.expose()
        );
        assert_eq!(after.creation_timestamp, before.creation_timestamp);
        assert_eq!(m.refresh_count(), 1);
        // Not due: no refresh.
        assert!(!m.refresh_if_due().await.unwrap());

        // A refused refresh is `Rejected`, with Schwab's words and no secret.
        let mut bad = after.clone();
        bad.token.refresh_token = Secret::new("RT-stale-value");
        let e = refresh(&http_client(Duration::from_secs(5)), &api, &creds, &bad)
            .await
            .unwrap_err();
        assert!(matches!(&e, AuthError::Rejected { status: 400, .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("refresh token invalid") && !text.contains("RT-stale"),
            "{text}"
        );

        // A wrong pasted code fails with a hint, and an unset app key says what to set.
        let e = login_interactive(&c, &b"https://127.0.0.1:8182/?code=nope\n"[..], Vec::new())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("auth login"), "{e}");
        let mut no_key = c.clone();
        no_key.app_key = None;
        let e = login_interactive(&no_key, &b""[..], Vec::new())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("TICKDESK_SCHWAB_APP_KEY"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
