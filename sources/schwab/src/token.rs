//! The token file, in schwab-py's format, so a user can point the relay at the file schwab-py already wrote (and
//! schwab-py can read ours):
//!
//! ```json
//! {"creation_timestamp": 1729000000,
//!  "token": {"access_token": "…", "refresh_token": "…", "id_token": "…", "token_type": "Bearer",
//!            "scope": "api", "expires_in": 1800, "expires_at": 1729001800}}
//! ```
//!
//! `creation_timestamp` is the Unix time (s) of the browser login: the refresh token lasts 7 days from it, and
//! refreshing the access token does not extend it. `expires_at` is the access token's expiry (Unix s).
//!
//! Writes are atomic (a temporary file in the same directory, fsynced, then renamed over the old one) so a crash
//! or a concurrent reader never sees half a file, and the file is created with mode 0600 because it holds
//! credentials. The tokens are [`Secret`]s: printing a [`TokenFile`] shows `[redacted]`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use tickdesk_hub::secret::Secret;

/// The access token lasts 30 minutes (Schwab's `expires_in` is 1800).
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(1800);
/// The refresh token lasts 7 days from the browser login, whatever is refreshed in between.
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// Refresh the access token this long before it expires at most (authlib, and so schwab-py, use the same 300 s).
pub const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Warn (log and status) once the refresh token has less than this left: a day gives time to run `auth login`.
pub const REFRESH_TOKEN_WARNING: Duration = Duration::from_secs(24 * 3600);

/// What to run when the refresh token has lapsed or the file is missing.
pub const LOGIN_HINT: &str = "run `tickdesk-relay auth login`";

/// The token file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenFile {
    /// Unix time (s) of the browser login that produced the refresh token.
    #[serde(deserialize_with = "de_unix")]
    pub creation_timestamp: i64,
    pub token: Token,
}

/// The OAuth token set, as Schwab's token endpoint returns it plus `expires_at`.
#[derive(Clone, Serialize, Deserialize)]
pub struct Token {
    #[serde(with = "secret_serde")]
    pub access_token: Secret,
    /// Empty when a refresh reply leaves it out (the old one then stays in use).
    #[serde(with = "secret_serde", default = "empty_secret")]
    pub refresh_token: Secret,
    #[serde(
        default,
        with = "opt_secret_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub id_token: Option<Secret>,
    #[serde(default = "bearer")]
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default = "default_expires_in", deserialize_with = "de_unix")]
    pub expires_in: i64,
    /// Unix time (s) the access token expires. Absent in a raw token-endpoint reply; filled in on receipt.
    #[serde(
        default,
        deserialize_with = "de_opt_unix",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<i64>,
    /// Anything else the writer put there (kept, so rewriting a schwab-py file loses nothing). Never printed.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .field("expires_in", &self.expires_in)
            .field("expires_at", &self.expires_at)
            .field("extra_keys", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn empty_secret() -> Secret {
    Secret::new("")
}

fn bearer() -> String {
    "Bearer".into()
}

fn default_expires_in() -> i64 {
    ACCESS_TOKEN_LIFETIME.as_secs() as i64
}

/// Accepts an integer or a float (authlib has written both) as Unix seconds.
fn de_unix<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    v.as_f64()
        .map(|f| f as i64)
        .ok_or_else(|| serde::de::Error::custom("expected a number of seconds"))
}

fn de_opt_unix<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(v.and_then(|v| v.as_f64()).map(|f| f as i64))
}

mod secret_serde {
    use super::*;
    pub(super) fn serialize<S: Serializer>(s: &Secret, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.expose())
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

mod opt_secret_serde {
    use super::*;
    pub(super) fn serialize<S: Serializer>(s: &Option<Secret>, ser: S) -> Result<S::Ok, S::Error> {
        match s {
            Some(s) => ser.serialize_str(s.expose()),
            None => ser.serialize_none(),
        }
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(Secret::new))
    }
}

/// Why the token file could not be used. Messages never contain a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("no Schwab token file at {0}: {LOGIN_HINT}")]
    Missing(PathBuf),
    #[error("cannot read the Schwab token file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The serde error names the position and the field, never a value that failed (values are strings).
    #[error("the Schwab token file {path} is not in schwab-py's format ({reason}): {LOGIN_HINT}")]
    Format { path: PathBuf, reason: String },
}

/// The state of the refresh token, for the status topic and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshTokenHealth {
    Fine {
        remaining: Duration,
    },
    /// Less than [`REFRESH_TOKEN_WARNING`] left.
    Expiring {
        remaining: Duration,
    },
    Lapsed,
}

impl RefreshTokenHealth {
    /// Words for a user, or `None` when all is well.
    pub fn advice(self) -> Option<String> {
        match self {
            RefreshTokenHealth::Fine { .. } => None,
            RefreshTokenHealth::Expiring { remaining } => Some(format!(
                "Schwab refresh token expires in {}: {LOGIN_HINT}",
                human(remaining)
            )),
            RefreshTokenHealth::Lapsed => Some(format!(
                "Schwab refresh token has expired (it lasts 7 days from the browser login): {LOGIN_HINT}"
            )),
        }
    }
}

/// "11 h", "45 min", "2 d 3 h".
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 2 * 86_400 {
        format!("{} d {} h", s / 86_400, (s % 86_400) / 3600)
    } else if s >= 3600 {
        format!("{} h", s / 3600)
    } else if s >= 60 {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

impl TokenFile {
    /// A token file from a token-endpoint reply received at `now` (Unix s). `creation` is the browser login's time:
    /// `None` for a fresh login (now), the old file's value for a refresh.
    pub fn from_reply(mut token: Token, now: i64, creation: Option<i64>) -> TokenFile {
        token.expires_at = Some(now + token.expires_in.max(0));
        TokenFile {
            creation_timestamp: creation.unwrap_or(now),
            token,
        }
    }

    /// Unix time (s) the access token expires.
    pub fn access_expires_at(&self) -> i64 {
        self.token
            .expires_at
            .unwrap_or(self.creation_timestamp + self.token.expires_in)
    }

    /// How long before expiry to refresh: a sixth of the token's life, at most 300 s. For Schwab's 30-minute tokens
    /// that is the usual 5 minutes; short-lived test tokens get a proportionate margin rather than a refresh loop.
    pub fn refresh_margin(&self) -> i64 {
        (self.token.expires_in.max(6) / 6).min(MAX_REFRESH_MARGIN.as_secs() as i64)
    }

    /// Unix time (s) at which the access token should be refreshed.
    pub fn refresh_due_at(&self) -> i64 {
        self.access_expires_at() - self.refresh_margin()
    }

    /// Unix time (s) the refresh token lapses.
    pub fn refresh_expires_at(&self) -> i64 {
        self.creation_timestamp + REFRESH_TOKEN_LIFETIME.as_secs() as i64
    }

    pub fn refresh_health(&self, now: i64) -> RefreshTokenHealth {
        let left = self.refresh_expires_at() - now;
        if left <= 0 {
            RefreshTokenHealth::Lapsed
        } else if left < REFRESH_TOKEN_WARNING.as_secs() as i64 {
            RefreshTokenHealth::Expiring {
                remaining: Duration::from_secs(left as u64),
            }
        } else {
            RefreshTokenHealth::Fine {
                remaining: Duration::from_secs(left as u64),
            }
        }
    }

    /// Reads and parses a token file.
    pub fn read(path: &Path) -> Result<TokenFile, TokenFileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TokenFileError::Missing(path.to_path_buf()))
            }
            Err(source) => {
                return Err(TokenFileError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let t: TokenFile = serde_json::from_str(&text).map_err(|e| TokenFileError::Format {
            path: path.to_path_buf(),
            reason: format!(
                "line {} column {}: {}",
                e.line(),
                e.column(),
                e.classify_msg()
            ),
        })?;
        if t.token.refresh_token.expose().is_empty() {
            return Err(TokenFileError::Format {
                path: path.to_path_buf(),
                reason: "no refresh_token".into(),
            });
        }
        Ok(t)
    }

    /// Writes the file atomically with mode 0600: a temporary file beside it, fsynced, renamed over the target.
    pub fn write_atomic(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "schwab-token.json".into());
        let tmp = dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let result = (|| {
            let mut f = open_private(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, path)?;
            // The rename is durable once the directory is synced; not every platform lets us open a directory.
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// Creates a new file readable and writable by its owner only.
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// What serde's error says, without echoing input: it names the problem ("missing field `refresh_token`",
/// "invalid type") and the position.
trait ClassifyMsg {
    fn classify_msg(&self) -> String;
}

impl ClassifyMsg for serde_json::Error {
    fn classify_msg(&self) -> String {
        // serde_json's messages for our types quote field names and types, not values ("invalid type: string
        // \"…\"" can quote a value, so cut anything after a quote).
        let msg = self.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        match msg.find('"') {
            Some(i) => format!("{}…", &msg[..i]),
            None => msg,
        }
    }
}

/// Unix time in seconds now, on the wall clock: Schwab's servers judge token expiry in real time, so a market
/// running on a simulated clock must not make a token look fresh or expired. The expiry maths itself takes `now`
/// as an argument and is tested at set times.
pub fn now_s() -> i64 {
    tickdesk_market::clock::wall_ms() / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHWAB_PY_FILE: &str = r#"{"creation_timestamp": 1729000000,
        "token": {"expires_in": 1800, "token_type": "Bearer", "scope": "api",
                  "refresh_token": "RT-secret-value", "access_token": "I0.AT-secret-value@",
                  "id_token": "eyJ.id.token", "expires_at": 1729001800.5}}"#;

    fn tmpdir() -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("tickdesk-token-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn reads_a_schwab_py_file_and_never_prints_its_tokens() {
        let t: TokenFile = serde_json::from_str(SCHWAB_PY_FILE).unwrap();
        assert_eq!(t.creation_timestamp, 1_729_000_000);
        assert_eq!(t.token.access_token.expose(), "I0.AT-secret-value@");
        assert_eq!(t.access_expires_at(), 1_729_001_800);
        let printed = format!("{t:?}");
        assert!(
            !printed.contains("secret-value") && !printed.contains("eyJ"),
            "{printed}"
        );
    }

    #[test]
    fn write_is_atomic_private_and_round_trips_in_schwab_py_shape() {
        let dir = tmpdir();
        let path = dir.join("token.json");
        let mut t: TokenFile = serde_json::from_str(SCHWAB_PY_FILE).unwrap();
        t.token.extra.insert("custom".into(), serde_json::json!(1));
        t.write_atomic(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for k in [
            "access_token",
            "refresh_token",
            "id_token",
            "token_type",
            "scope",
            "expires_in",
            "expires_at",
        ] {
            assert!(raw["token"].get(k).is_some(), "{k} in {raw}");
        }
        assert_eq!(raw["token"]["custom"], 1, "unknown keys survive a rewrite");
        assert_eq!(raw["creation_timestamp"], 1_729_000_000);
        // Overwrite: still one file, no temporaries left behind.
        t.token.access_token = Secret::new("new");
        t.write_atomic(&path).unwrap();
        assert_eq!(
            TokenFile::read(&path).unwrap().token.access_token.expose(),
            "new"
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_or_bad_files_say_what_to_run_without_echoing_content() {
        let dir = tmpdir();
        let e = TokenFile::read(&dir.join("nope.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tickdesk-relay auth login"), "{e}");
        let bad = dir.join("bad.json");
        std::fs::write(
            &bad,
            r#"{"creation_timestamp": 1, "token": {"access_token": "LEAKME"}}"#,
        )
        .unwrap();
        let e = TokenFile::read(&bad).unwrap_err().to_string();
        assert!(e.contains("refresh_token") && !e.contains("LEAKME"), "{e}");
        std::fs::write(
            &bad,
            r#"{"creation_timestamp": 1, "token": {"access_token": 5, "refresh_token": "LEAKME"}}"#,
        )
        .unwrap();
        let e = TokenFile::read(&bad).unwrap_err().to_string();
        assert!(!e.contains("LEAKME"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn expiry_maths() {
        let reply: Token = serde_json::from_str(
            r#"{"access_token":"a","refresh_token":"r","id_token":"i","token_type":"Bearer","expires_in":1800,"scope":"api"}"#,
        )
        .unwrap();
        let fresh = TokenFile::from_reply(reply.clone(), 1_000_000, None);
        assert_eq!(fresh.creation_timestamp, 1_000_000);
        assert_eq!(fresh.access_expires_at(), 1_001_800);
        assert_eq!(fresh.refresh_due_at(), 1_001_500, "5 minutes early");
        let refreshed = TokenFile::from_reply(reply, 1_500_000, Some(1_000_000));
        assert_eq!(
            refreshed.creation_timestamp, 1_000_000,
            "a refresh keeps the login time"
        );
        assert_eq!(refreshed.refresh_expires_at(), 1_000_000 + 7 * 86_400);
        // A 6-second test token refreshes a second early, not in a loop.
        let mut short = refreshed.clone();
        short.token.expires_in = 6;
        short.token.expires_at = Some(100);
        assert_eq!(short.refresh_due_at(), 99);

        let end = fresh.refresh_expires_at();
        assert!(matches!(
            fresh.refresh_health(end - 3 * 86_400),
            RefreshTokenHealth::Fine { .. }
        ));
        let h = fresh.refresh_health(end - 11 * 3600);
        assert_eq!(
            h,
            RefreshTokenHealth::Expiring {
                remaining: Duration::from_secs(11 * 3600)
            }
        );
        assert_eq!(
            h.advice().unwrap(),
            "Schwab refresh token expires in 11 h: run `tickdesk-relay auth login`"
        );
        assert_eq!(fresh.refresh_health(end), RefreshTokenHealth::Lapsed);
        assert!(fresh
            .refresh_health(end + 1)
            .advice()
            .unwrap()
            .contains("auth login"));
    }
}
