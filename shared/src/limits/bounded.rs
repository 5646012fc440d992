//! An in-process keyed rate limiter (`governor`'s GCRA) whose memory stays
//! bounded whatever keys arrive: at most `max_keys` states are kept, and
//! states that have refilled are swept away every few seconds (`governor`'s
//! `retain_recent`). While the table is full, a key it does not know either
//! shares one overflow state (so a flood of fresh addresses shares one budget
//! instead of growing the table) or is judged as a fresh key and not stored
//! ([`Overflow`]).

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::{Quota, RateLimiter};

/// How often refilled states are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// A `DashMap` of GCRA states holding at most `max_keys` keys.
pub struct BoundedStore<K: Hash + Eq + Clone> {
    map: DashMapStateStore<K>,
    max_keys: usize,
    overflow: Overflow<K>,
}

/// What a key gets while the table is full and does not hold it.
#[derive(Debug, Clone)]
pub enum Overflow<K> {
    /// Share the budget of this key (one no real caller has).
    Share(K),
    /// Be judged as a fresh key, remembered nowhere.
    Fresh,
}

impl<K: Hash + Eq + Clone> StateStore for BoundedStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // `len` visits every shard: only a key not seen yet pays for it.
        if !self.map.contains_key(key) && self.map.len() >= self.max_keys {
            return match &self.overflow {
                Overflow::Share(shared) => self.map.measure_and_replace(shared, f),
                Overflow::Fresh => f(None).map(|(outcome, _)| outcome),
            };
        }
        self.map.measure_and_replace(key, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for BoundedStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&self.map, drop_below);
    }

    fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A keyed limiter over a [`BoundedStore`].
pub struct BoundedLimiter<K: Hash + Eq + Clone> {
    limiter: RateLimiter<
        K,
        BoundedStore<K>,
        DefaultClock,
        NoOpMiddleware<<DefaultClock as Clock>::Instant>,
    >,
    clock: DefaultClock,
    started: Instant,
    last_sweep_ms: AtomicU64,
}

impl<K: Hash + Eq + Clone> BoundedLimiter<K> {
    /// A limiter of `quota` per key, keeping at most `max_keys` keys.
    pub fn new(quota: Quota, max_keys: usize, overflow: Overflow<K>) -> Self {
        let clock = DefaultClock::default();
        let store = BoundedStore {
            map: DashMapStateStore::default(),
            max_keys: max_keys.max(1),
            overflow,
        };
        Self {
            limiter: RateLimiter::new(quota, store, clock.clone()),
            clock,
            started: Instant::now(),
            last_sweep_ms: AtomicU64::new(0),
        }
    }

    /// Take one request from `key`'s budget; `Err(wait)` when over it, with
    /// the time until the next request would conform.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.sweep_now_and_then();
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Keys currently held (for tests and the size gauge).
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }

    fn sweep_now_and_then(&self) {
        let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        let every = u64::try_from(SWEEP_EVERY.as_millis()).unwrap_or(u64::MAX);
        if now_ms.saturating_sub(last) >= every
            && self
                .last_sweep_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.limiter.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    #[test]
    fn the_table_never_grows_past_its_bound() {
        let quota = Quota::per_second(NonZeroU32::new(1).unwrap());
        let limiter = BoundedLimiter::new(quota, 100, Overflow::Share(u32::MAX));
        for key in 0..10_000u32 {
            let _ = limiter.check(&key);
        }
        assert!(limiter.len() <= 101, "{} keys held", limiter.len());
        // Keys past the bound share the overflow budget: it is spent.
        assert!(limiter.check(&20_000).is_err());
        // A key in the table keeps its own budget.
        assert!(limiter.check(&0).is_err());
        assert!(limiter.check(&1).is_err());

        let fresh = BoundedLimiter::new(quota, 100, Overflow::Fresh);
        for key in 0..10_000u32 {
            assert!(fresh.check(&key).is_ok(), "a new key has its budget");
        }
        assert!(fresh.len() <= 100);
    }
}
