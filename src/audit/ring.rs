//! The ring of recent audit records behind `GET /v1/decisions/{request_id}`: fixed capacity,
//! oldest evicted first, indexed by request id. Only the audit writer pushes into it, so the
//! request path never touches its lock.

use super::AuditRecord;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

pub(crate) struct Ring {
    capacity: usize,
    order: VecDeque<Arc<AuditRecord>>,
    /// Request id -> the latest record with that id. A repeated id (a client reusing its
    /// `x-request-id`) shadows the older record rather than duplicating the entry.
    index: HashMap<Arc<str>, Arc<AuditRecord>>,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Ring {
        Ring {
            capacity,
            order: VecDeque::with_capacity(capacity),
            index: HashMap::with_capacity(capacity),
        }
    }

    pub(crate) fn push(&mut self, rec: Arc<AuditRecord>) {
        if self.capacity == 0 {
            return;
        }
        if self.order.len() == self.capacity {
            if let Some(old) = self.order.pop_front() {
                // Only unindex the evicted record if a newer one with the same id has not
                // taken its place.
                if self
                    .index
                    .get(&old.request_id)
                    .is_some_and(|r| Arc::ptr_eq(r, &old))
                {
                    self.index.remove(&old.request_id);
                }
            }
        }
        self.index.insert(rec.request_id.clone(), rec.clone());
        self.order.push_back(rec);
    }

    pub(crate) fn get(&self, request_id: &str) -> Option<Arc<AuditRecord>> {
        self.index.get(request_id).cloned()
    }
}
