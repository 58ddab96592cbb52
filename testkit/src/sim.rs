//! The simulators as test fixtures: started on `127.0.0.1:0`, stopped when dropped.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::serial;

/// How long [`SimGuard::stop`] waits for the simulator to end.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// What a simulator's `start` is given to wait on: it ends when this resolves.
type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A simulator running on 127.0.0.1:<any>; `handle` gives its URLs, counters and faults. Dropping it stops the
/// simulator (without waiting); [`SimGuard::stop`] stops it and waits. Holds a [`serial::Shared`] turn while it
/// runs.
pub struct SimGuard<H> {
    pub handle: H,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _turn: serial::Shared,
}

/// The Schwab simulator ([`tickdesk_schwab_sim`]) as a fixture.
pub type SchwabSim = SimGuard<tickdesk_schwab_sim::SimHandle>;

/// The Binance simulator ([`tickdesk_binance_sim`]) as a fixture.
pub type BinanceSim = SimGuard<tickdesk_binance_sim::SimHandle>;

impl<H> SimGuard<H> {
    async fn launch(
        start: impl FnOnce(TcpListener, Shutdown) -> anyhow::Result<(H, JoinHandle<anyhow::Result<()>>)>,
    ) -> Self {
        let turn = serial::shared().await;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let (tx, rx) = oneshot::channel::<()>();
        let (handle, task) = start(
            listener,
            Box::pin(async move {
                let _ = rx.await;
            }),
        )
        .expect("the simulator starts");
        SimGuard {
            handle,
            stop: Some(tx),
            task: Some(task),
            _turn: turn,
        }
    }

    /// Stops the simulator and waits for it (5 s at most); panics unless it ended cleanly.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(STOP_WAIT, t)
                .await
                .expect("the simulator stops within 5 s")
                .expect("the simulator's task did not panic")
                .expect("the simulator ended without an error");
        }
    }
}

impl<H> Drop for SimGuard<H> {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl<H: fmt::Debug> fmt::Debug for SimGuard<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimGuard")
            .field("handle", &self.handle)
            .field("running", &self.stop.is_some())
            .finish()
    }
}

impl SimGuard<tickdesk_schwab_sim::SimHandle> {
    /// Starts a Schwab simulator with `opts`.
    pub async fn start(opts: tickdesk_schwab_sim::SimOptions) -> Self {
        Self::launch(|listener, shutdown| tickdesk_schwab_sim::start(listener, opts, shutdown))
            .await
    }

    /// The simulator's URL of `path` (`""` for its base URL, the `--schwab-api` a client is given).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.base_url())
    }

    /// The keys the simulator's streamer connections have subscribed to `service`.
    pub fn subs(&self, service: &str) -> BTreeSet<String> {
        self.handle
            .subscriptions()
            .remove(service)
            .unwrap_or_default()
            .into_iter()
            .collect()
    }
}

impl SimGuard<tickdesk_binance_sim::SimHandle> {
    /// Starts a Binance simulator with `opts`.
    pub async fn start(opts: tickdesk_binance_sim::SimOptions) -> Self {
        Self::launch(|listener, shutdown| tickdesk_binance_sim::start(listener, opts, shutdown))
            .await
    }

    /// The simulator's counters now.
    pub fn state(&self) -> tickdesk_binance_sim::SimState {
        self.handle.state()
    }
}
