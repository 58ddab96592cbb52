//! Where the relay is. The app is plain static files that may be hosted anywhere, so the relay's address cannot be
//! baked in at build time: it is looked up once at start, in order, from
//! 1. `?relay=` on the page URL (a link can point a hosted desk at any relay),
//! 2. the `relay` field of `tickdesk.json` beside `index.html` (a deployer edits it, no rebuild),
//! 3. the page's own host (the relay serving `dist/` itself, the default).
//!
//! The address forms a person may type are normalised by pure functions, unit-tested natively. The relay's access
//! token, when the app is hosted elsewhere, comes from the page's `#token=` fragment ([`access_token`]).

/// The relay's websocket URL, found as the module comment says.
pub async fn relay_url() -> String {
    let location = web_sys::window().expect("a window").location();
    let from_query = location.search().ok().and_then(|q| {
        web_sys::UrlSearchParams::new_with_str(&q)
            .ok()
            .and_then(|p| p.get("relay"))
    });
    let configured = match from_query {
        Some(r) => Some(r),
        None => config_file_relay().await,
    };
    let base = configured.unwrap_or_else(|| {
        let secure = location.protocol().ok().as_deref() == Some("https:");
        let proto = if secure { "wss:" } else { "ws:" };
        format!("{proto}//{}", location.host().unwrap_or_default())
    });
    to_ws_url(&base)
}

/// The relay's access token for an app hosted on another origin than its relay: the page URL's `#token=…` fragment,
/// which never reaches a server, a log or a Referer. It is read once, dropped from the address bar (the page's
/// history entry is replaced) and kept in memory only. A desk served by its relay needs none of this: the relay's
/// cookie does it.
pub fn access_token() -> Option<String> {
    let w = web_sys::window()?;
    let l = w.location();
    let token = l.hash().ok()?.strip_prefix("#token=")?.to_string();
    let url = l.pathname().ok()? + &l.search().ok()?;
    let _ = w
        .history()
        .ok()?
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    Some(token)
}

/// The `relay` of `tickdesk.json`, if the file is there and says one.
async fn config_file_relay() -> Option<String> {
    relay_from_config(&crate::http::get_text("tickdesk.json", None).await.ok()?)
}

/// The `relay` field of a `tickdesk.json` body; `None` for anything else (a missing file served as an HTML page, a
/// file without the field).
pub fn relay_from_config(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("relay")?.as_str().map(String::from)
}

/// Accepts `ws(s)://host[:port][/ws]`, `http(s)://host[:port]` or a bare `host[:port]`; returns the `/ws` endpoint.
pub fn to_ws_url(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    let base = if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if base.starts_with("ws://") || base.starts_with("wss://") {
        base.to_string()
    } else {
        format!("ws://{base}")
    };
    if base.ends_with("/ws") {
        base
    } else {
        format!("{base}/ws")
    }
}

/// The relay's HTTP base (for its REST views) from its websocket URL: `ws://host:port/ws` → `http://host:port`.
pub fn http_base(ws_url: &str) -> String {
    let base = ws_url.trim_end_matches("/ws");
    if let Some(rest) = base.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = base.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        base.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_relay_address_becomes_its_websocket_endpoint() {
        for (typed, want) in [
            ("ws://127.0.0.1:8080", "ws://127.0.0.1:8080/ws"),
            ("ws://127.0.0.1:8080/ws", "ws://127.0.0.1:8080/ws"),
            ("wss://relay.example.com/", "wss://relay.example.com/ws"),
            ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/ws"),
            ("https://relay.example.com", "wss://relay.example.com/ws"),
            (" relay.example.com:9000 ", "ws://relay.example.com:9000/ws"),
        ] {
            assert_eq!(to_ws_url(typed), want, "{typed}");
        }
    }

    #[test]
    fn the_rest_views_live_on_the_websockets_host_with_the_matching_scheme() {
        assert_eq!(http_base("ws://127.0.0.1:8080/ws"), "http://127.0.0.1:8080");
        assert_eq!(
            http_base("wss://relay.example.com/ws"),
            "https://relay.example.com"
        );
        // Round trip: what discovery produces, polling can turn back.
        assert_eq!(
            http_base(&to_ws_url("https://relay.example.com:8443")),
            "https://relay.example.com:8443"
        );
    }

    #[test]
    fn the_config_file_names_a_relay_or_nothing() {
        assert_eq!(
            relay_from_config(r#"{"relay": "wss://relay.example.com", "note": "x"}"#).as_deref(),
            Some("wss://relay.example.com")
        );
        assert_eq!(relay_from_config(r#"{"relay": null}"#), None);
        assert_eq!(relay_from_config("{}"), None);
        // A static host answering a missing file with its HTML page.
        assert_eq!(relay_from_config("<!doctype html><html></html>"), None);
    }
}
