//! POSTs stored late (`--late-rate`), each in a task of its own, tracked so that shutdown
//! waits for them and counts those it had to give up on, rather than losing them silently.
//!
//! Why a task and not a sleep in the handler: when a client times out and closes its
//! connection, hyper drops the handler's future, and a sleep inside it would never reach the
//! store. A real backend does not notice the client leaving; the task does not either. The
//! handler only awaits the task's answer.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::task::JoinSet;
use tokio::time::Instant;

#[derive(Default)]
pub struct LateStores {
    pending: Mutex<JoinSet<()>>,
}

impl LateStores {
    /// Runs `store` in its own task, whoever waits for it.
    pub fn schedule(&self, store: impl Future<Output = ()> + Send + 'static) {
        let mut pending = self.pending();
        // Reap finished stores: the set would otherwise keep one entry per late POST made.
        while pending.try_join_next().is_some() {}
        pending.spawn(store);
    }

    /// Waits until every scheduled store has run or `deadline` has passed, then cancels the
    /// rest; returns how many were cancelled before storing (`lateDropped`).
    pub async fn drain(&self, deadline: Instant) -> u64 {
        let mut cancelled = 0;
        loop {
            let mut pending = std::mem::take(&mut *self.pending());
            if pending.is_empty() {
                return cancelled;
            }
            let all_ran = async { while pending.join_next().await.is_some() {} };
            if tokio::time::timeout_at(deadline, all_ran).await.is_err() {
                pending.abort_all();
                while let Some(ended) = pending.join_next().await {
                    if ended.is_err_and(|error| error.is_cancelled()) {
                        cancelled += 1;
                    }
                }
            }
        }
    }

    /// A panic inside a store cannot leave the set itself half-changed.
    fn pending(&self) -> MutexGuard<'_, JoinSet<()>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn a_store_runs_though_nobody_waits_and_drain_waits_for_it() {
        let stores = LateStores::default();
        let stored = Arc::new(AtomicU64::new(0));
        let counter = stored.clone();
        stores.schedule(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(stores.drain(deadline).await, 0);
        assert_eq!(stored.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn drain_cancels_and_counts_stores_still_waiting_at_the_deadline() {
        let stores = LateStores::default();
        for _ in 0..3 {
            stores.schedule(tokio::time::sleep(Duration::from_secs(60)));
        }
        stores.schedule(async {});
        let deadline = Instant::now() + Duration::from_millis(50);
        assert_eq!(stores.drain(deadline).await, 3);
    }
}
