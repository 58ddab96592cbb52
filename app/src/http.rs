//! One HTTP GET returning the body as text: all the app asks of HTTP (`tickdesk.json` at start, `/api/snapshot` in
//! the REST fallback, whose 401 tells a refused access token from a relay that is down).
//!
//! The browser's `fetch` through web-sys rather than gloo-net's `Request`, for the bundle's size (BENCHMARKS.md,
//! "The diet").

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// GETs `url`, with `Authorization: Bearer <token>` when given (an app on another origin than its relay); the
/// body of a 2xx answer, else why not (`HTTP 401` when the relay wants its access token).
pub async fn get_text(url: &str, token: Option<&str>) -> Result<String, String> {
    let window = web_sys::window().ok_or("no window")?;
    let init = web_sys::RequestInit::new();
    if let Some(t) = token {
        let headers = web_sys::Headers::new().map_err(|e| format!("{e:?}"))?;
        let _ = headers.set("Authorization", &format!("Bearer {t}"));
        init.set_headers(&headers);
    }
    let resp = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|e| format!("{e:?}"))?;
    let resp: web_sys::Response = resp.dyn_into().map_err(|_| "not a response")?;
    if !resp.ok() {
        return Err(format!("HTTP {}", resp.status()));
    }
    JsFuture::from(resp.text().map_err(|e| format!("{e:?}"))?)
        .await
        .map_err(|e| format!("{e:?}"))?
        .as_string()
        .ok_or_else(|| "no body".to_string())
}
