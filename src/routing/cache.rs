//! The bounded per-subject result cache in front of a trie.
//!
//! Eviction: when the cache is full, a quarter of it (see [`super::MATCH_CACHE_EVICT_DIVISOR`])
//! is dropped in one `retain` pass over the map. The dropped quarter is a window of the
//! map's iteration order, whose start rotates from sweep to sweep; the order follows the
//! randomly keyed hash, so this behaves like nats-server's "delete whatever the map
//! yields first" without favouring any subject. One pass costs O(capacity) and frees
//! capacity / 4 slots, so a miss pays O(1) amortized.
//!
//! Invalidation: a changed literal filter can only affect the cached result of that very
//! subject (one hash removal); a changed wildcard filter drops exactly the cached subjects
//! it matches (one scan of at most capacity entries), so unrelated hot subjects survive
//! subscription churn.

use std::collections::HashMap;
use std::rc::Rc;

use super::subject::{filter_matches_unchecked, is_literal_filter};
use super::MATCH_CACHE_EVICT_DIVISOR;

pub(super) struct MatchCache<R> {
    results: HashMap<Box<[u8]>, Rc<R>>,
    entries_max: usize,
    /// Where in iteration order the next eviction window starts.
    sweep_start: usize,
}

impl<R> MatchCache<R> {
    /// `entries_max == 0` disables caching.
    pub(super) fn new(entries_max: usize) -> Self {
        MatchCache {
            results: HashMap::new(),
            entries_max,
            sweep_start: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.results.len()
    }

    pub(super) fn get(&self, subject: &[u8]) -> Option<Rc<R>> {
        self.results.get(subject).cloned()
    }

    pub(super) fn put(&mut self, subject: &[u8], result: Rc<R>) {
        if self.entries_max == 0 {
            return;
        }
        if self.results.len() >= self.entries_max {
            self.evict_batch();
        }
        self.results.insert(subject.into(), result);
    }

    fn evict_batch(&mut self) {
        let len = self.results.len();
        if len == 0 {
            return;
        }
        let batch = (self.entries_max / MATCH_CACHE_EVICT_DIVISOR).clamp(1, len);
        let start = self.sweep_start % len;
        let mut position = 0;
        self.results.retain(|_, _| {
            // Distance from the window start, walking the iteration order circularly.
            let distance = (position + len - start) % len;
            position += 1;
            distance >= batch
        });
        self.sweep_start = start.wrapping_add(batch);
    }

    /// Drops the cached results that `filter` (a valid filter just inserted or removed)
    /// matches, and only those.
    pub(super) fn invalidate(&mut self, filter: &[u8]) {
        if self.results.is_empty() {
            return;
        }
        if is_literal_filter(filter) {
            self.results.remove(filter);
        } else {
            self.results
                .retain(|subject, _| !filter_matches_unchecked(filter, subject));
        }
    }

    pub(super) fn clear(&mut self) {
        self.results.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_bound_and_keeps_most_entries() {
        let mut cache = MatchCache::new(16);
        for index in 0..1000u32 {
            cache.put(format!("s.{index}").as_bytes(), Rc::new(index));
            assert!(cache.len() <= 16);
        }
        // After a sweep the cache never drops below three quarters of its bound.
        assert!(cache.len() >= 12, "len {}", cache.len());
        let last = cache
            .get(b"s.999")
            .expect("the newest entry is always present");
        assert_eq!(*last, 999);
    }

    #[test]
    fn a_sweep_frees_a_quarter() {
        let mut cache = MatchCache::new(8);
        let mut lengths = Vec::new();
        for index in 0..12u32 {
            cache.put(format!("s.{index}").as_bytes(), Rc::new(index));
            lengths.push(cache.len());
        }
        assert_eq!(lengths, [1, 2, 3, 4, 5, 6, 7, 8, 7, 8, 7, 8]);
    }

    #[test]
    fn zero_capacity_disables() {
        let mut cache = MatchCache::new(0);
        cache.put(b"a", Rc::new(1));
        assert_eq!(cache.len(), 0);
        assert!(cache.get(b"a").is_none());
    }

    #[test]
    fn invalidation_is_selective() {
        let mut cache = MatchCache::new(64);
        for subject in ["foo.a", "foo.b", "foo.a.b", "bar.a", "foo.*", "foo"] {
            cache.put(subject.as_bytes(), Rc::new(()));
        }
        cache.invalidate(b"bar.a");
        assert!(cache.get(b"bar.a").is_none());
        assert_eq!(cache.len(), 5);
        cache.invalidate(b"foo.*");
        for gone in ["foo.a", "foo.b", "foo.*"] {
            assert!(cache.get(gone.as_bytes()).is_none(), "{gone}");
        }
        for kept in ["foo.a.b", "foo"] {
            assert!(cache.get(kept.as_bytes()).is_some(), "{kept}");
        }
        cache.invalidate(b">");
        assert_eq!(cache.len(), 0);
    }
}
