//! The simulator's OAuth tokens (pure: the caller passes the time and the random source).
//!
//! Like Schwab's: opaque `I0.<b64>.<b64>@` strings; an access token lives 30 minutes (configurable); a refresh
//! token lives 7 days **from the login that created it** (configurable) and refreshing does not extend it — the
//! refresh answer carries the same refresh token and a new access token.

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::Rng;
use serde::Serialize;

/// The body of a successful `/v1/oauth/token` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenSet {
    pub expires_in: u64,
    pub token_type: &'static str,
    pub scope: &'static str,
    pub refresh_token: String,
    pub access_token: String,
    pub id_token: String,
}

/// What an access token is worth right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessCheck {
    Valid,
    Expired,
    Invalid,
}

/// Why a refresh failed (Schwab answers 400 `invalid_client` / "refresh token invalid" for both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshError {
    Unknown,
    Expired,
}

#[derive(Debug)]
pub struct TokenStore {
    access_ttl_ms: i64,
    refresh_ttl_ms: i64,
    /// access token → expiry (ms)
    access: HashMap<String, i64>,
    /// refresh token → expiry (ms)
    refresh: HashMap<String, i64>,
    /// Tokens issued by logins and by refreshes.
    pub issued: u64,
    pub refreshed: u64,
}

fn opaque(rng: &mut impl Rng, prefix: &str) -> String {
    let mut a = [0u8; 48];
    let mut b = [0u8; 24];
    rng.fill(&mut a[..]);
    rng.fill(&mut b[..]);
    format!(
        "{prefix}.{}.{}@",
        STANDARD_NO_PAD
            .encode(a)
            .replace('/', "_")
            .replace('+', "-"),
        URL_SAFE_NO_PAD.encode(b)
    )
}

/// A JWT-shaped id token (unsigned; clients do not verify it).
fn id_token(rng: &mut impl Rng, now_ms: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(
        format!(
            r#"{{"iss":"tickdesk-schwab-sim","sub":"sim-user","iat":{},"nonce":{}}}"#,
            now_ms / 1000,
            rng.random::<u32>()
        )
        .as_bytes(),
    );
    format!("{header}.{body}.")
}

impl TokenStore {
    pub fn new(access_ttl: Duration, refresh_ttl: Duration) -> Self {
        TokenStore {
            access_ttl_ms: access_ttl.as_millis() as i64,
            refresh_ttl_ms: refresh_ttl.as_millis() as i64,
            access: HashMap::new(),
            refresh: HashMap::new(),
            issued: 0,
            refreshed: 0,
        }
    }

    /// Forgets tokens that expired more than a day ago (so "expired" can still be told from "invalid").
    fn prune(&mut self, now_ms: i64) {
        let horizon = now_ms - 86_400_000;
        self.access.retain(|_, exp| *exp > horizon);
        self.refresh.retain(|_, exp| *exp > horizon);
    }

    fn new_access(&mut self, rng: &mut impl Rng, now_ms: i64) -> String {
        let t = opaque(rng, "I0");
        self.access.insert(t.clone(), now_ms + self.access_ttl_ms);
        t
    }

    fn answer(&self, access: String, refresh: String, rng: &mut impl Rng, now_ms: i64) -> TokenSet {
        TokenSet {
            expires_in: (self.access_ttl_ms / 1000).max(1) as u64,
            token_type: "Bearer",
            scope: "api",
            refresh_token: refresh,
            access_token: access,
            id_token: id_token(rng, now_ms),
        }
    }

    /// A login (authorization-code exchange): a new access token and a new refresh token.
    pub fn issue(&mut self, rng: &mut impl Rng, now_ms: i64) -> TokenSet {
        self.prune(now_ms);
        self.issued += 1;
        let access = self.new_access(rng, now_ms);
        let refresh = opaque(rng, "R0");
        self.refresh
            .insert(refresh.clone(), now_ms + self.refresh_ttl_ms);
        self.answer(access, refresh, rng, now_ms)
    }

    /// A refresh: a new access token; the same refresh token, its expiry unchanged.
    pub fn refresh(
        &mut self,
        refresh_token: &str,
        rng: &mut impl Rng,
        now_ms: i64,
    ) -> Result<TokenSet, RefreshError> {
        match self.refresh.get(refresh_token) {
            None => Err(RefreshError::Unknown),
            Some(exp) if *exp <= now_ms => Err(RefreshError::Expired),
            Some(_) => {
                self.prune(now_ms);
                self.refreshed += 1;
                let access = self.new_access(rng, now_ms);
                Ok(self.answer(access, refresh_token.to_string(), rng, now_ms))
            }
        }
    }

    pub fn check(&self, access_token: &str, now_ms: i64) -> AccessCheck {
        match self.access.get(access_token) {
            None => AccessCheck::Invalid,
            Some(exp) if *exp <= now_ms => AccessCheck::Expired,
            Some(_) => AccessCheck::Valid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn lifetimes_and_refresh_rules() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut s = TokenStore::new(Duration::from_secs(1800), Duration::from_secs(7 * 86_400));
        let t0 = 1_700_000_000_000;
        let a = s.issue(&mut rng, t0);
        assert_eq!(a.expires_in, 1800);
        assert_eq!(a.token_type, "Bearer");
        assert!(a.access_token.starts_with("I0.") && a.access_token.ends_with('@'));
        assert_eq!(a.access_token.matches('.').count(), 2);
        assert_eq!(s.check(&a.access_token, t0 + 1_799_999), AccessCheck::Valid);
        assert_eq!(
            s.check(&a.access_token, t0 + 1_800_000),
            AccessCheck::Expired
        );
        assert_eq!(s.check("I0.nope.nope@", t0), AccessCheck::Invalid);
        // Refresh: new access token, same refresh token, lifetime counted from the login.
        let b = s
            .refresh(&a.refresh_token, &mut rng, t0 + 3_600_000)
            .unwrap();
        assert_ne!(b.access_token, a.access_token);
        assert_eq!(b.refresh_token, a.refresh_token);
        assert_eq!(s.check(&b.access_token, t0 + 3_600_001), AccessCheck::Valid);
        let week = 7 * 86_400_000;
        assert_eq!(
            s.refresh(&a.refresh_token, &mut rng, t0 + week),
            Err(RefreshError::Expired)
        );
        assert_eq!(
            s.refresh("R0.x.y@", &mut rng, t0),
            Err(RefreshError::Unknown)
        );
        assert_eq!((s.issued, s.refreshed), (1, 1));
    }
}
