//! The stand-in for a head the framing guard refused: the guard's [`Hooks`] on a real
//! connection, and the per-connection slot the service takes the refusal from. The stand-in
//! is a request hyper parses and hands to the service like any other, so the refusal is
//! answered in order after the good requests pipelined before it; it carries a secret only
//! this connection's guard knows, so a client cannot send one that passes for it.

use super::guard::{Framing, Hooks, RefusedHead};
use crate::metrics::ConnError;
use crate::proxy::Gate;
use bytes::Bytes;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The stand-in's method: one no route can declare (routes are upper-case tokens, and
/// this one is checked before routing).
pub(super) const METHOD: &str = "TOOLGATE-REFUSED";
const SECRET_HEADER: &str = "x-toolgate-refused";

/// One connection's refusal, waiting for its stand-in to reach the service.
#[derive(Clone, Default)]
pub(super) struct Slot(Arc<Mutex<Option<(u64, Framing, RefusedHead)>>>);

impl Slot {
    /// The refusal a request stands in for, if it is this connection's stand-in.
    pub(super) fn take<B>(&self, req: &http::Request<B>) -> Option<(Framing, RefusedHead)> {
        if req.method().as_str() != METHOD {
            return None;
        }
        let given = req.headers().get(SECRET_HEADER)?.to_str().ok()?;
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match slot.take() {
            Some((secret, why, head)) if given == secret.to_string() => Some((why, head)),
            other => {
                *slot = other;
                None
            }
        }
    }
}

/// What the guard of one connection reports to it.
pub(super) struct GuardHooks {
    pub gate: Arc<Gate>,
    pub slot: Slot,
    /// Part of a request head has arrived and the rest has not.
    pub mid_head: Arc<AtomicBool>,
}

impl Hooks for GuardHooks {
    fn refused(&mut self, why: Framing, head: RefusedHead) -> Bytes {
        // Seeded from the OS per process and varied per call: nothing a client can see.
        let secret = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        *self.slot.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((secret, why, head));
        Bytes::from(format!(
            "{METHOD} / HTTP/1.1\r\nhost: toolgate\r\n{SECRET_HEADER}: {secret}\r\nconnection: close\r\n\r\n"
        ))
    }

    fn left_mid_head(&mut self) {
        self.gate
            .ops
            .metrics
            .connection_error(ConnError::ClosedMidHead);
    }

    fn bad_chunk(&mut self) {
        self.gate.ops.metrics.connection_error(ConnError::BadChunk);
    }

    fn mid_head(&mut self, partial: bool) {
        self.mid_head.store(partial, Ordering::Relaxed);
    }
}
