//! The socket: one websocket connection to the relay, turned into three events — opened, a text frame, closed — and a
//! synchronous `send` (the feed sends from event handlers: a click on pause, a topic watched).
//!
//! Dropping the [`Link`] detaches its handlers and closes the socket, so no event of a replaced socket reaches the
//! feed: a retry or the browser going offline never lets an old socket's close schedule another reconnect.
//!
//! web-sys rather than gloo-net's websocket, for the bundle's size (BENCHMARKS.md, "The diet").

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// What happens on a connection, in order: at most one `Opened`, then `Text` frames, then one `Closed`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    Opened,
    Text(String),
    /// The socket closed, or never opened (then the code is usually 1006).
    Closed {
        code: u16,
        reason: String,
    },
}

type Handler = Closure<dyn FnMut(web_sys::Event)>;

/// One connection attempt; dropping it closes the socket and silences its events.
#[derive(Debug)]
pub(crate) struct Link {
    socket: WebSocket,
    _handlers: [Handler; 3],
}

impl Link {
    /// Opens a websocket to `url`, reporting what happens to `on_event`. Fails only when the browser refuses the URL
    /// outright; a relay that cannot be reached is reported as [`Event::Closed`]. With a `token`, it is offered as
    /// the subprotocol `tickdesk.token.<token>` beside `tickdesk.v1` (which the relay picks): the one header a
    /// browser lets a page set on a websocket.
    pub(crate) fn open(
        url: &str,
        token: Option<&str>,
        on_event: impl FnMut(Event) + 'static,
    ) -> Result<Link, String> {
        let socket = match token {
            Some(t) => WebSocket::new_with_str_sequence(
                url,
                &js_sys::Array::of2(&"tickdesk.v1".into(), &format!("tickdesk.token.{t}").into()),
            ),
            None => WebSocket::new(url),
        }
        .map_err(|e| format!("{e:?}"))?;
        let on_event = std::rc::Rc::new(std::cell::RefCell::new(on_event));
        let f = on_event.clone();
        let opened = Handler::new(move |_| (f.borrow_mut())(Event::Opened));
        let f = on_event.clone();
        let message = Handler::new(move |ev: web_sys::Event| {
            if let Some(text) = ev
                .dyn_ref::<MessageEvent>()
                .and_then(|m| m.data().as_string())
            {
                (f.borrow_mut())(Event::Text(text));
            }
        });
        let closed = Handler::new(move |ev: web_sys::Event| {
            let (code, reason) = ev
                .dyn_ref::<CloseEvent>()
                .map(|c| (c.code(), c.reason()))
                .unwrap_or((1006, String::new()));
            (on_event.borrow_mut())(Event::Closed { code, reason });
        });
        socket.set_onopen(Some(opened.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(closed.as_ref().unchecked_ref()));
        Ok(Link {
            socket,
            _handlers: [opened, message, closed],
        })
    }

    /// Sends a text frame.
    pub(crate) fn send(&self, text: &str) {
        let _ = self.socket.send_with_str(text);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        let _ = self.socket.close();
    }
}
