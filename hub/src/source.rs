//! One shape for every source and derived topic the relay runs: it is started with a [`Sources`] (the publisher,
//! demand, the market clock, the shutdown flag), reports its health as its item of the `status` topic
//! ([`crate::status::SourceStatus`]), and is a [`Running`] the relay stops the same way whatever it is.

use std::sync::Arc;
use std::time::Duration;

use tickdesk_market::Clock;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::broker::Publisher;
use crate::demand::Demand;

/// What every source is started with.
#[derive(Debug, Clone)]
pub struct Sources {
    pub publisher: Arc<dyn Publisher>,
    /// Who watches what: sources that stream only watched topics read it, and register the on-demand topic
    /// prefixes they serve.
    pub demand: Arc<Demand>,
    /// The market clock every market decision reads.
    pub clock: Clock,
    /// Turns true once when the relay stops; a source closes its upstream links cleanly then.
    pub shutdown: watch::Receiver<bool>,
}

/// A source: its settings, and how it starts.
pub trait Source {
    /// The source's name: its item in the `status` topic, and in the logs.
    fn name(&self) -> &'static str;

    /// Starts the source's tasks. Its topics exist when this returns, so no client can subscribe before the relay
    /// knows them; `None` when the settings turn it off.
    fn start(self, with: &Sources) -> Option<Running>;
}

/// A started source's tasks.
#[derive(Debug)]
pub struct Running {
    pub name: &'static str,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    pub fn new(name: &'static str, task: JoinHandle<()>) -> Running {
        Running {
            name,
            tasks: vec![task],
        }
    }

    /// Another task of the same source (a built-in simulator it needs, say), stopped with it.
    pub fn and(mut self, task: JoinHandle<()>) -> Running {
        self.tasks.push(task);
        self
    }

    /// After the shutdown flag turned true: waits up to `grace` for the tasks to close their links and end, then
    /// aborts what is left. Returns whether every task ended by itself.
    pub async fn stop(self, grace: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        let mut clean = true;
        for mut task in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                clean = false;
            }
        }
        if !clean {
            tracing::warn!(
                source = self.name,
                "a source did not stop within its grace period; aborted"
            );
        }
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_waits_for_tasks_that_end_and_aborts_those_that_do_not() {
        let (tx, mut rx) = watch::channel(false);
        let polite = tokio::spawn(async move {
            let _ = rx.wait_for(|s| *s).await;
        });
        let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<()>();
        let stubborn = tokio::spawn(async move {
            let _keep = ended_tx;
            std::future::pending::<()>().await;
        });
        let _ = tx.send(true);
        let running = Running::new("polite", polite);
        assert!(
            running.stop(Duration::from_secs(5)).await,
            "a task that ends by itself"
        );
        let running = Running::new("stubborn", stubborn);
        assert!(!running.stop(Duration::from_millis(50)).await);
        // Aborted: its future was dropped, and with it the sender.
        assert!(ended_rx.await.is_err());
    }
}
