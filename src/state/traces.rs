//! Decision traces shared with the review inbox: the audit writer hands each written
//! record over (best effort, never blocking it), and one task puts them in the state store
//! in batches, off the request path, where the inbox's trace pages find them by request id
//! (with Redis, whichever replica decided). The store keeps the newest `review.traces`.

use super::StateStore;
use crate::audit::Trace;
use std::time::Duration;
use tokio::sync::mpsc;

/// Records waiting to be shared; beyond it, a trace is skipped (the audit trail has it).
pub const QUEUE: usize = 4096;
/// How often a batch is put.
const EVERY: Duration = Duration::from_millis(250);
/// The most records put in one round trip.
const BATCH: usize = 512;

/// The channel the audit writer taps, when traces are kept (`cap` > 0).
pub fn channel(cap: usize) -> (Option<mpsc::Sender<Trace>>, Option<mpsc::Receiver<Trace>>) {
    if cap == 0 {
        return (None, None);
    }
    let (tx, rx) = mpsc::channel(QUEUE);
    (Some(tx), Some(rx))
}

/// Puts the traces from `rx` into `store` until the audit writer is gone.
pub async fn ship(store: &StateStore, mut rx: mpsc::Receiver<Trace>, cap: usize) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        if rx.recv_many(&mut batch, BATCH).await == 0 {
            return;
        }
        let items = batch
            .drain(..)
            .map(|(id, json): Trace| (id.to_string(), json.into_string()))
            .collect();
        if let Err(e) = store.traces_put(items, cap, jiff::Timestamp::now()).await {
            tracing::debug!(error = %e, "decision traces not shared");
        }
        tokio::time::sleep(EVERY).await;
    }
}
