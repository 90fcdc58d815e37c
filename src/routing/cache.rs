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
//!
//! Layout: the map is keyed by the subject's 64-bit keyed hash (`hash.rs`), computed once
//! per publish and passed through to the table, and each slot holds its subject to
//! confirm a hit. A hit thus costs one short hash, one probe comparing `u64`s and one
//! inlined byte compare, with no `memcmp` call and no second hash for a miss's insert.
//! A subject whose hash is already taken by another subject (a 64-bit collision, which a
//! client cannot aim for without the keys) is simply not cached: it is served from the
//! trie every time, which is correct and costs only that subject a miss.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::rc::Rc;

use super::hash::{same_bytes, PrehashedState, SubjectHashState};
use super::subject::{filter_matches_unchecked, is_literal_filter};
use super::MATCH_CACHE_EVICT_DIVISOR;

pub(super) struct MatchCache<R> {
    /// By `hash_state.hash_bytes(subject)`.
    results: HashMap<u64, Slot<R>, PrehashedState>,
    hash_state: SubjectHashState,
    entries_max: usize,
    /// Where in iteration order the next eviction window starts.
    sweep_start: usize,
}

struct Slot<R> {
    subject: Box<[u8]>,
    result: Rc<R>,
}

impl<R> MatchCache<R> {
    /// `entries_max == 0` disables caching. Keyed with fresh random keys.
    pub(super) fn new(entries_max: usize) -> Self {
        MatchCache {
            results: HashMap::with_hasher(PrehashedState),
            hash_state: SubjectHashState::random(),
            entries_max,
            sweep_start: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.results.len()
    }

    /// The key of `subject` for [`Self::get_hashed`] and [`Self::put_hashed`].
    pub(super) fn hash(&self, subject: &[u8]) -> u64 {
        self.hash_state.hash_bytes(subject)
    }

    #[cfg(test)]
    pub(super) fn get(&self, subject: &[u8]) -> Option<Rc<R>> {
        self.get_hashed(subject, self.hash(subject))
    }

    /// `hash` must be `self.hash(subject)`.
    pub(super) fn get_hashed(&self, subject: &[u8], hash: u64) -> Option<Rc<R>> {
        let slot = self.results.get(&hash)?;
        same_bytes(&slot.subject, subject).then(|| Rc::clone(&slot.result))
    }

    #[cfg(test)]
    pub(super) fn put(&mut self, subject: &[u8], result: Rc<R>) {
        self.put_hashed(subject, self.hash(subject), result);
    }

    /// `hash` must be `self.hash(subject)`.
    pub(super) fn put_hashed(&mut self, subject: &[u8], hash: u64, result: Rc<R>) {
        if self.entries_max == 0 {
            return;
        }
        if self.results.len() >= self.entries_max {
            self.evict_batch();
        }
        match self.results.entry(hash) {
            Entry::Vacant(vacant) => {
                vacant.insert(Slot {
                    subject: subject.into(),
                    result,
                });
            }
            Entry::Occupied(mut occupied) => {
                if same_bytes(&occupied.get().subject, subject) {
                    occupied.get_mut().result = result;
                }
            }
        }
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
            // Distance from the window start, walking the iteration order circularly
            // (`(position + len - start) % len` without a division per entry).
            let distance = if position >= start {
                position - start
            } else {
                position + len - start
            };
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
            let hash = self.hash(filter);
            if let Entry::Occupied(occupied) = self.results.entry(hash) {
                if same_bytes(&occupied.get().subject, filter) {
                    occupied.remove();
                }
            }
        } else {
            self.results
                .retain(|_, slot| !filter_matches_unchecked(filter, &slot.subject));
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
    fn a_colliding_subject_is_not_cached_and_evicts_nothing() {
        let mut cache = MatchCache::new(64);
        let hash = cache.hash(b"first");
        cache.put_hashed(b"first", hash, Rc::new(1));
        cache.put_hashed(b"second", hash, Rc::new(2));
        assert_eq!(cache.len(), 1);
        assert!(cache.get_hashed(b"second", hash).is_none());
        assert_eq!(cache.get_hashed(b"first", hash).as_deref(), Some(&1));
        cache.put_hashed(b"first", hash, Rc::new(3));
        assert_eq!(cache.get(b"first").as_deref(), Some(&3));
        cache.invalidate(b"second");
        assert_eq!(cache.len(), 1, "only an exact subject invalidates its slot");
        cache.invalidate(b"first");
        assert_eq!(cache.len(), 0);
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
