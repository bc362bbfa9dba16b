//! How a stopping gateway winds down, as one value every part that holds a client reads: on the
//! first signal the listeners stop accepting, standalone streams are told the gateway is going
//! away and end, held calls are answered ("restarting, retry"), and in-flight calls may finish;
//! when `[gateway] shutdown_grace` runs out (or a second signal comes) whatever is still open is
//! cut. [`crate::serve`] moves it from phase to phase.

use tokio::sync::watch;

/// Where the gateway is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Serving,
    /// Stopping: no new connections; what is in flight may finish.
    Draining,
    /// The grace is over: every connection is closed now.
    Cut,
}

/// The phase, shared by clones.
#[derive(Debug, Clone)]
pub struct Drain {
    phase: watch::Sender<Phase>,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            phase: watch::Sender::new(Phase::Serving),
        }
    }
}

impl Drain {
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Starts draining (once; later calls change nothing).
    pub fn begin(&self) {
        self.advance(Phase::Draining);
    }

    /// Ends the grace: what is still open is closed.
    pub fn cut(&self) {
        self.advance(Phase::Cut);
    }

    fn advance(&self, to: Phase) {
        self.phase.send_if_modified(|p| {
            let later = to > *p;
            if later {
                *p = to;
            }
            later
        });
    }

    /// Resolves once the gateway drains (at once if it does already).
    pub async fn draining(&self) {
        self.reached(Phase::Draining).await;
    }

    /// Resolves once the grace is over.
    pub async fn cut_off(&self) {
        self.reached(Phase::Cut).await;
    }

    async fn reached(&self, phase: Phase) {
        let mut rx = self.phase.subscribe();
        // The sender lives in `self`: the channel cannot close while this waits.
        let _ = rx.wait_for(|p| *p >= phase).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn phases_only_move_forward_and_wake_their_waiters() {
        let drain = Drain::default();
        let waiter = {
            let d = drain.clone();
            tokio::spawn(async move { d.draining().await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drain.cut();
        drain.begin();
        assert_eq!(drain.phase(), Phase::Cut);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("woken")
            .unwrap();
        // Reached already: resolves at once.
        tokio::time::timeout(Duration::from_millis(100), drain.cut_off())
            .await
            .expect("at once");
    }
}
