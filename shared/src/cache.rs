//! In-process caches bounded by memory as well as by count (API.md, Limits:
//! memory is bounded whatever clients send).
//!
//! Every cache of both services is a [`BoundedCache`]: a `quick_cache` cache
//! whose entries weigh their estimated bytes ([`Footprint`] of key and value,
//! plus the cache's own bookkeeping), so a [`Budget`]'s `bytes` caps the
//! memory the entries hold however large clients make them (a token string
//! is as long as a client's header). Each entry also weighs at least
//! `bytes / entries`, which caps the count at `entries`. When full, the
//! cache evicts (CLOCK-Pro: cold entries first); an entry heavier than a
//! shard's share of the budget is not kept at all.

use std::mem::size_of;
use std::sync::Arc;
use std::time::Instant;

use quick_cache::Weighter;
use uuid::Uuid;

/// The size of one cache: at most `entries` entries holding at most `bytes`
/// bytes (estimated; see [`Footprint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub entries: usize,
    pub bytes: u64,
}

impl Budget {
    /// `entries` entries in at most `mib` MiB.
    pub const fn mib(entries: usize, mib: u64) -> Self {
        Self {
            entries,
            bytes: mib * 1024 * 1024,
        }
    }
}

/// Bytes a value occupies: its inline size plus what it owns on the heap.
pub trait Footprint {
    fn footprint(&self) -> usize;
}

/// Types that own nothing on the heap weigh their inline size.
#[macro_export]
macro_rules! fixed_footprint {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::cache::Footprint for $t {
            fn footprint(&self) -> usize {
                ::std::mem::size_of::<Self>()
            }
        })*
    };
}

fixed_footprint!(
    (),
    bool,
    i32,
    i64,
    u32,
    u64,
    f64,
    Instant,
    Uuid,
    crate::ids::UserId,
    crate::ids::ConcertId,
    crate::ids::ScheduleId,
);

impl Footprint for String {
    fn footprint(&self) -> usize {
        size_of::<Self>() + self.capacity()
    }
}

impl Footprint for str {
    fn footprint(&self) -> usize {
        self.len()
    }
}

impl<T: Footprint> Footprint for Option<T> {
    fn footprint(&self) -> usize {
        size_of::<Self>()
            + self
                .as_ref()
                .map_or(0, |v| v.footprint().saturating_sub(size_of::<T>()))
    }
}

/// The pointer, the two reference counts and the value.
impl<T: Footprint + ?Sized> Footprint for Arc<T> {
    fn footprint(&self) -> usize {
        size_of::<Self>() + 2 * size_of::<usize>() + (**self).footprint()
    }
}

impl<A: Footprint, B: Footprint> Footprint for (A, B) {
    fn footprint(&self) -> usize {
        self.0.footprint() + self.1.footprint()
    }
}

impl<A: Footprint, B: Footprint, C: Footprint> Footprint for (A, B, C) {
    fn footprint(&self) -> usize {
        self.0.footprint() + self.1.footprint() + self.2.footprint()
    }
}

/// What the cache keeps per entry besides key and value (hash, links,
/// state), as measured for quick_cache's sync cache: an estimate, on the
/// high side.
pub const ENTRY_OVERHEAD_BYTES: u64 = 48;

/// Weighs an entry by its bytes, at least `floor` (which bounds the count).
#[derive(Debug, Clone, Copy)]
pub struct BytesWeighter {
    floor: u64,
}

impl<K: Footprint, V: Footprint> Weighter<K, V> for BytesWeighter {
    fn weight(&self, key: &K, value: &V) -> u64 {
        let bytes = u64::try_from(key.footprint() + value.footprint()).unwrap_or(u64::MAX);
        bytes.saturating_add(ENTRY_OVERHEAD_BYTES).max(self.floor)
    }
}

/// A concurrent cache whose entries weigh their bytes.
pub type BoundedCache<K, V> = quick_cache::sync::Cache<K, V, BytesWeighter>;

/// A cache within `budget` (count and bytes).
pub fn bounded<K, V>(budget: Budget) -> BoundedCache<K, V>
where
    K: Eq + std::hash::Hash + Footprint,
    V: Clone + Footprint,
{
    let entries = budget.entries.max(1);
    let floor = budget.bytes / u64::try_from(entries).unwrap_or(u64::MAX);
    BoundedCache::with_weighter(
        entries,
        budget.bytes,
        BytesWeighter {
            floor: floor.max(1),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_entries_stay_within_the_byte_budget() {
        let budget = Budget::mib(100_000, 1);
        let cache: BoundedCache<String, (String, Instant)> = bounded(budget);
        // 2,000 entries of ~8 KiB: 16 MiB offered to a 1 MiB cache.
        for i in 0..2_000 {
            let key = format!("{i:08}{}", "k".repeat(4096));
            cache.insert(key, ("v".repeat(4096), Instant::now()));
            assert!(cache.weight() <= budget.bytes, "weight {}", cache.weight());
        }
        let held: usize = cache
            .iter()
            .map(|(k, v)| k.footprint() + v.footprint())
            .sum();
        assert!(held as u64 <= budget.bytes, "{held} bytes held");
        assert!(
            cache.len() >= 64,
            "the cache still holds entries: {}",
            cache.len()
        );
        assert!(
            cache.len() < 2_000 / 8,
            "most entries were evicted: {}",
            cache.len()
        );
    }

    #[test]
    fn small_entries_stay_within_the_count() {
        let cache: BoundedCache<i64, i64> = bounded(Budget::mib(1_000, 64));
        for i in 0..100_000 {
            cache.insert(i, i);
        }
        assert!(cache.len() <= 1_000, "{} entries", cache.len());
    }

    #[test]
    fn an_entry_larger_than_the_budget_is_not_kept() {
        let cache: BoundedCache<String, String> = bounded(Budget {
            entries: 10,
            bytes: 64 * 1024,
        });
        cache.insert("huge".into(), "x".repeat(1024 * 1024));
        assert!(cache.get("huge").is_none());
        assert!(cache.weight() <= 64 * 1024);
    }
}
