//! Opt-in measurement for the browser benchmark (`?perf` in the page URL), read by `bench/browser.cjs`.
//!
//! It keeps `window.__tickdeskPerf = { fields, lat }`: `fields` counts the chain cell updates received (fields set by
//! deltas of `chain:` topics), and `lat` gets one tick-to-screen sample per chain item written to the view: from the
//! item's upstream timestamp (`ts`, the streamer frame's time) to the first animation frame after the write, which
//! comes after the browser painted it. Views add their own arrays with [`samples`]: the chart pushes each draw's
//! duration in ms to `chartDraw` (read by `bench/chart.cjs`). Without `?perf` nothing is recorded and the cost is one
//! branch per frame.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// The page's measurement object, when `?perf` asked for one.
#[derive(Debug)]
pub struct Perf {
    obj: Object,
    lat: Array,
    fields: f64,
}

impl Perf {
    /// `Some` when the page URL's query has `perf`.
    pub fn from_page() -> Option<Perf> {
        let window = web_sys::window()?;
        let search = window.location().search().ok()?;
        let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
        if !params.has("perf") {
            return None;
        }
        let obj = Object::new();
        let lat = Array::new();
        let _ = Reflect::set(&obj, &"lat".into(), &lat);
        let _ = Reflect::set(&obj, &"fields".into(), &0.into());
        let _ = Reflect::set(&window, &"__tickdeskPerf".into(), &obj);
        Some(Perf {
            obj,
            lat,
            fields: 0.0,
        })
    }

    /// Counts `n` chain cell updates received.
    pub fn received(&mut self, n: usize) {
        self.fields += n as f64;
        let _ = Reflect::set(&self.obj, &"fields".into(), &self.fields.into());
    }

    /// Records, at the next animation frame, how old each of these upstream timestamps (ms since the epoch) is.
    pub fn written(&self, upstream_ts: Vec<f64>) {
        if upstream_ts.is_empty() {
            return;
        }
        let lat = self.lat.clone();
        let cb = Closure::once_into_js(move || {
            let now = js_sys::Date::now();
            for ts in upstream_ts {
                lat.push(&JsValue::from_f64(now - ts));
            }
        });
        if let Some(w) = web_sys::window() {
            let _ = w.request_animation_frame(cb.unchecked_ref());
        }
    }
}

/// With `?perf`, an array `window.__tickdeskPerf[name]` for a view's own samples (the chart's draw times), created
/// empty; `None` without `?perf` (the feed creates `__tickdeskPerf` first, in [`Perf::from_page`]).
pub fn samples(name: &str) -> Option<Array> {
    let window: JsValue = web_sys::window()?.into();
    let perf = Reflect::get(&window, &"__tickdeskPerf".into()).ok()?;
    if !perf.is_object() {
        return None;
    }
    let a = Array::new();
    Reflect::set(&perf, &name.into(), &a).ok()?;
    Some(a)
}

/// Publishes `obj` as `window.__tickdesk[name]` (what a view drew, for the browser tests and benchmarks), creating
/// `window.__tickdesk` if no view has yet: the views do not depend on their order.
pub fn publish(name: &str, obj: &js_sys::Object) {
    let Some(w) = web_sys::window() else { return };
    let root = js_sys::Reflect::get(&w, &"__tickdesk".into())
        .ok()
        .filter(wasm_bindgen::JsValue::is_object)
        .unwrap_or_else(|| {
            let r: wasm_bindgen::JsValue = js_sys::Object::new().into();
            let _ = js_sys::Reflect::set(&w, &"__tickdesk".into(), &r);
            r
        });
    let _ = js_sys::Reflect::set(&root, &name.into(), obj);
}
