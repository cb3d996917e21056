//! The replay cache: a signed approval's `jti` is used once per approval lifetime. Only
//! requests that carry a verified approval touch it, so requests without one take no lock.
//! Sharded by `jti`, each shard a short critical section; entries leave once the approval
//! they stand for has expired (nothing could present it any more). Only verified tokens
//! get in, so filling it takes the approval service's key, and `max_ttl` bounds how long
//! an entry stays.
//!
//! In memory and per process: each replica of the sidecar keeps its own (see README).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};

const SHARDS: usize = 16;
/// A shard sweeps expired entries when it reaches this many, or twice what the last
/// sweep left: amortized constant work per claim.
const MIN_SWEEP: usize = 64;

#[derive(Default)]
struct Shard {
    /// jti -> the second after which it may be forgotten.
    used: HashMap<Box<str>, i64>,
    sweep_at: usize,
}

/// Used `jti`s and until when they stay used.
pub struct ReplayCache {
    shards: [Mutex<Shard>; SHARDS],
    hasher: RandomState,
}

impl Default for ReplayCache {
    fn default() -> Self {
        ReplayCache {
            shards: std::array::from_fn(|_| Mutex::default()),
            hasher: RandomState::new(),
        }
    }
}

impl std::fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayCache")
            .field("len", &self.len())
            .finish()
    }
}

impl ReplayCache {
    fn shard(&self, jti: &str) -> MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(jti) as usize) % SHARDS;
        // A panic while holding a shard cannot leave a half-written entry behind: the map
        // is only ever inserted into or swept; keep serving.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `jti` was already used (and is still remembered) at `now` (seconds).
    pub fn seen(&self, jti: &str, now: i64) -> bool {
        self.shard(jti)
            .used
            .get(jti)
            .is_some_and(|until| *until >= now)
    }

    /// Marks `jti` used until `until` (seconds). False when it already was: the caller lost
    /// the race, or is replaying.
    pub fn claim(&self, jti: &str, until: i64, now: i64) -> bool {
        let mut shard = self.shard(jti);
        if shard.used.len() >= shard.sweep_at.max(MIN_SWEEP) {
            shard.used.retain(|_, u| *u >= now);
            shard.sweep_at = shard.used.len() * 2;
        }
        match shard.used.get_mut(jti) {
            Some(u) if *u >= now => false,
            Some(u) => {
                *u = until;
                true
            }
            None => {
                shard.used.insert(jti.into(), until);
                true
            }
        }
    }

    /// Entries held (including expired ones not yet swept).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).used.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_used_once_until_it_expires() {
        let cache = ReplayCache::default();
        assert!(!cache.seen("a", 100));
        assert!(cache.claim("a", 200, 100));
        assert!(cache.seen("a", 150));
        assert!(!cache.claim("a", 200, 150));
        // Past its expiry it is forgotten (the approval itself no longer verifies).
        assert!(!cache.seen("a", 201));
        assert!(cache.claim("a", 300, 201));
    }

    #[test]
    fn expired_entries_are_swept() {
        let cache = ReplayCache::default();
        for i in 0..10_000 {
            assert!(cache.claim(&format!("jti-{i}"), i, i));
        }
        // Each shard swept whatever had expired by the time it grew.
        assert!(cache.len() < 2_000, "{}", cache.len());
    }

    #[test]
    fn concurrent_claims_of_one_jti_succeed_once() {
        let cache = std::sync::Arc::new(ReplayCache::default());
        let wins: usize = (0..8)
            .map(|_| {
                let c = cache.clone();
                std::thread::spawn(move || usize::from(c.claim("same", 10, 0)))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(wins, 1);
    }
}
