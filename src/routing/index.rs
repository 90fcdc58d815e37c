//! The local subscription index: a trie of this core's subscriptions plus a bounded
//! cache of match results, shared with callers as `Rc` snapshots.

use std::fmt;
use std::hash::Hash;
use std::rc::Rc;

use bytes::Bytes;

use super::cache::MatchCache;
use super::subject::has_empty_token;
use super::trie::Trie;
use super::{IndexError, MATCH_CACHE_ENTRIES_MAX};

/// Everything one published subject reaches. Overlapping filters each contribute their
/// own entry: one delivery per subscription, as nats-server does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matches<T> {
    /// Plain subscribers: every one gets a copy.
    pub plain: Vec<T>,
    /// One entry per distinct queue name; one member of each gets the message.
    pub queues: Vec<QueueMatches<T>>,
}

/// The matching members of one queue group, gathered over every filter that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMatches<T> {
    pub name: Bytes,
    pub members: Vec<T>,
}

impl<T> Matches<T> {
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }
}

impl<T> Default for Matches<T> {
    fn default() -> Self {
        Matches {
            plain: Vec::new(),
            queues: Vec::new(),
        }
    }
}

/// A subject trie over `.`-separated tokens with `*` and `>` nodes, plus a bounded match
/// cache. Entry count is bounded by the caller's subscription limits; the cache by
/// its capacity.
pub struct SubjectIndex<T: Clone + PartialEq> {
    trie: Trie<T>,
    cache: MatchCache<Matches<T>>,
    /// Shared by every subject with no interest, so a miss on them allocates nothing.
    empty: Rc<Matches<T>>,
}

impl<T: Clone + PartialEq> SubjectIndex<T> {
    pub fn new() -> Self {
        Self::with_cache_capacity(MATCH_CACHE_ENTRIES_MAX)
    }

    /// A cache bound of 0 turns the cache off (useful when interest churns faster than
    /// subjects repeat).
    pub fn with_cache_capacity(entries_max: usize) -> Self {
        SubjectIndex {
            trie: Trie::new(),
            cache: MatchCache::new(entries_max),
            empty: Rc::new(Matches::default()),
        }
    }

    pub fn insert(
        &mut self,
        subject: &[u8],
        queue: Option<&[u8]>,
        value: T,
    ) -> Result<(), IndexError> {
        self.trie.insert(subject, queue, value)?;
        self.cache.invalidate(subject);
        Ok(())
    }

    /// Removes one entry equal to `value` under (subject, queue); false if absent.
    pub fn remove(&mut self, subject: &[u8], queue: Option<&[u8]>, value: &T) -> bool {
        let removed = self.trie.remove(subject, queue, value);
        if removed {
            self.cache.invalidate(subject);
        }
        removed
    }

    /// [`Self::remove`] for values that can be hashed: expected O(1) in the number of
    /// entries on the filter, where `remove` compares against each of them, so a large
    /// fan-out unsubscribes in linear rather than quadratic total time. Filters with up
    /// to [`super::ENTRIES_SCANNED_MAX`] entries are still scanned (that is faster).
    /// Mixing the two is correct; a `remove` on a large filter costs the next
    /// `remove_hashed` there one re-indexing pass.
    pub fn remove_hashed(&mut self, subject: &[u8], queue: Option<&[u8]>, value: &T) -> bool
    where
        T: Hash + Eq,
    {
        let removed = self.trie.remove_hashed(subject, queue, value);
        if removed {
            self.cache.invalidate(subject);
        }
        removed
    }

    /// All entries whose filter matches the literal `subject`; cached. A subject with an
    /// empty token matches nothing (nats-server returns its empty result too).
    pub fn matches(&mut self, subject: &[u8]) -> Rc<Matches<T>> {
        let hash = self.cache.hash(subject);
        if let Some(cached) = self.cache.get_hashed(subject, hash) {
            return cached;
        }
        if has_empty_token(subject) {
            return Rc::clone(&self.empty);
        }
        let mut found = Matches::default();
        self.trie.for_each_match(subject, |plain, groups| {
            found.plain.extend_from_slice(plain);
            for group in groups {
                match found
                    .queues
                    .iter_mut()
                    .find(|queue| queue.name == group.name)
                {
                    Some(queue) => queue.members.extend_from_slice(&group.members),
                    None => found.queues.push(QueueMatches {
                        name: group.name.clone(),
                        members: group.members.to_vec(),
                    }),
                }
            }
        });
        let found = if found.is_empty() {
            Rc::clone(&self.empty)
        } else {
            Rc::new(found)
        };
        self.cache.put_hashed(subject, hash, Rc::clone(&found));
        found
    }

    /// Entries (plain subscriptions plus queue members).
    pub fn len(&self) -> usize {
        self.trie.len()
    }

    pub fn is_empty(&self) -> bool {
        self.trie.len() == 0
    }

    /// Live trie nodes, for monitoring memory (0 when the index is empty).
    pub fn node_count(&self) -> usize {
        self.trie.node_count()
    }

    /// Cached subjects (nats-server's `num_cache` in `/subsz`).
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }
}

impl<T: Clone + PartialEq> Default for SubjectIndex<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + PartialEq> fmt::Debug for SubjectIndex<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SubjectIndex")
            .field("entries", &self.len())
            .field("nodes", &self.node_count())
            .field("cached", &self.cache_len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut values: Vec<u32>) -> Vec<u32> {
        values.sort_unstable();
        values
    }

    #[test]
    fn wildcards_and_overlaps() {
        let mut index = SubjectIndex::new();
        index.insert(b"foo.bar", None, 1).unwrap();
        index.insert(b"foo.*", None, 2).unwrap();
        index.insert(b"foo.>", None, 3).unwrap();
        index.insert(b">", None, 4).unwrap();
        index.insert(b"*.bar", None, 5).unwrap();
        index.insert(b"foo.bar", None, 1).unwrap();
        index.insert(b"foo*", None, 6).unwrap();
        assert_eq!(
            sorted(index.matches(b"foo.bar").plain.clone()),
            [1, 1, 2, 3, 4, 5]
        );
        assert_eq!(sorted(index.matches(b"foo.baz").plain.clone()), [2, 3, 4]);
        assert_eq!(sorted(index.matches(b"foo.bar.baz").plain.clone()), [3, 4]);
        assert_eq!(sorted(index.matches(b"foo").plain.clone()), [4]);
        assert_eq!(sorted(index.matches(b"foo*").plain.clone()), [4, 6]);
        assert_eq!(sorted(index.matches(b"foox").plain.clone()), [4]);
        assert_eq!(index.len(), 7);
    }

    #[test]
    fn published_wildcard_tokens_are_literal() {
        let mut index = SubjectIndex::new();
        index.insert(b"foo.*", None, 1).unwrap();
        index.insert(b"foo.bar", None, 2).unwrap();
        index.insert(b"foo.>", None, 3).unwrap();
        assert_eq!(sorted(index.matches(b"foo.*").plain.clone()), [1, 3]);
        assert_eq!(sorted(index.matches(b"foo.>").plain.clone()), [1, 3]);
    }

    #[test]
    fn malformed_publish_subjects_match_nothing() {
        let mut index = SubjectIndex::new();
        index.insert(b">", None, 1).unwrap();
        for subject in ["", ".", "foo.", ".foo", "foo..bar"] {
            assert!(index.matches(subject.as_bytes()).is_empty(), "{subject:?}");
        }
        assert_eq!(index.cache_len(), 0, "malformed subjects are not cached");
    }

    #[test]
    fn invalid_inserts_are_rejected_and_leave_nothing_behind() {
        let mut index = SubjectIndex::new();
        for subject in ["", "foo..bar", "foo.>.bar", "foo bar", ".", "a."] {
            assert_eq!(
                index.insert(subject.as_bytes(), None, 1),
                Err(IndexError::InvalidSubject),
                "{subject:?}"
            );
        }
        assert_eq!(
            index.insert(b"foo", Some(b""), 1),
            Err(IndexError::InvalidQueue)
        );
        assert_eq!(
            index.insert(b"foo", Some(b"a b"), 1),
            Err(IndexError::InvalidQueue)
        );
        assert_eq!(index.len(), 0);
        assert_eq!(index.node_count(), 0);
        assert!(!index.remove(b"foo..bar", None, &1));
    }

    #[test]
    fn queue_groups_merge_across_filters() {
        let mut index = SubjectIndex::new();
        index.insert(b"orders.new", Some(b"workers"), 1).unwrap();
        index.insert(b"orders.*", Some(b"workers"), 2).unwrap();
        index.insert(b"orders.>", Some(b"audit"), 3).unwrap();
        index.insert(b"orders.new", Some(b"workers"), 4).unwrap();
        index.insert(b"orders.new", None, 5).unwrap();
        let found = index.matches(b"orders.new");
        assert_eq!(found.plain, [5]);
        assert_eq!(found.queues.len(), 2);
        let workers = found
            .queues
            .iter()
            .find(|queue| queue.name == "workers")
            .unwrap();
        assert_eq!(sorted(workers.members.clone()), [1, 2, 4]);
        let audit = found
            .queues
            .iter()
            .find(|queue| queue.name == "audit")
            .unwrap();
        assert_eq!(audit.members, [3]);

        assert!(index.remove(b"orders.>", Some(b"audit"), &3));
        let found = index.matches(b"orders.new");
        assert_eq!(found.queues.len(), 1);
        assert_eq!(found.queues[0].name, "workers");
    }

    #[test]
    fn remove_takes_one_duplicate_at_a_time() {
        let mut index = SubjectIndex::new();
        index.insert(b"a", None, 1).unwrap();
        index.insert(b"a", None, 1).unwrap();
        assert_eq!(index.matches(b"a").plain, [1, 1]);
        assert!(index.remove(b"a", None, &1));
        assert_eq!(index.matches(b"a").plain, [1]);
        assert!(index.remove(b"a", None, &1));
        assert!(!index.remove(b"a", None, &1));
        assert!(index.matches(b"a").is_empty());
        assert_eq!(index.node_count(), 0);
    }

    #[test]
    fn cache_survives_unrelated_churn() {
        let mut index = SubjectIndex::new();
        index.insert(b"foo.>", None, 1).unwrap();
        index.insert(b"bar.*", None, 2).unwrap();
        let foo = index.matches(b"foo.a");
        let bar = index.matches(b"bar.a");
        index.matches(b"nobody.listens");
        assert_eq!(index.cache_len(), 3);

        for inbox in 0..100u32 {
            let subject = format!("_INBOX.{inbox}");
            index.insert(subject.as_bytes(), None, 100 + inbox).unwrap();
            assert!(index.remove(subject.as_bytes(), None, &(100 + inbox)));
            let subject = format!("_INBOX.{inbox}.*");
            index.insert(subject.as_bytes(), None, 100 + inbox).unwrap();
            assert!(index.remove(subject.as_bytes(), None, &(100 + inbox)));
        }
        assert_eq!(index.cache_len(), 3);
        assert!(
            Rc::ptr_eq(&foo, &index.matches(b"foo.a")),
            "served from cache"
        );
        assert!(
            Rc::ptr_eq(&bar, &index.matches(b"bar.a")),
            "served from cache"
        );

        // A filter that matches a cached subject drops exactly that subject.
        index.insert(b"*.a", None, 3).unwrap();
        assert_eq!(index.cache_len(), 1);
        assert_eq!(sorted(index.matches(b"foo.a").plain.clone()), [1, 3]);
        assert_eq!(sorted(index.matches(b"bar.a").plain.clone()), [2, 3]);
        index.insert(b"nobody.listens", None, 4).unwrap();
        assert_eq!(index.matches(b"nobody.listens").plain, [4]);
    }

    #[test]
    fn cache_is_bounded() {
        let mut index = SubjectIndex::with_cache_capacity(32);
        index.insert(b">", None, 1).unwrap();
        for round in 0..1_000u32 {
            assert_eq!(index.matches(format!("s.{round}").as_bytes()).plain, [1]);
            assert!(index.cache_len() <= 32);
        }
        let mut uncached = SubjectIndex::with_cache_capacity(0);
        uncached.insert(b"a", None, 1).unwrap();
        assert_eq!(uncached.matches(b"a").plain, [1]);
        assert_eq!(uncached.cache_len(), 0);
    }

    #[test]
    fn churn_of_100k_subjects_returns_to_zero_nodes() {
        let mut index = SubjectIndex::with_cache_capacity(1024);
        index.insert(b"_INBOX.>", None, u32::MAX).unwrap();
        let baseline = index.node_count();
        let subject = |round: u32| format!("_INBOX.{}.{round}", round % 97);
        for round in 0..100_000u32 {
            index
                .insert(subject(round).as_bytes(), None, round)
                .unwrap();
            if round % 7 == 0 {
                assert_eq!(index.matches(subject(round).as_bytes()).plain.len(), 2);
            }
        }
        assert_eq!(index.len(), 100_001);
        for round in 0..100_000u32 {
            assert!(index.remove(subject(round).as_bytes(), None, &round));
        }
        assert_eq!(index.node_count(), baseline);
        assert!(index.remove(b"_INBOX.>", None, &u32::MAX));
        assert_eq!(index.node_count(), 0);
        assert!(index.is_empty());
        assert!(index.matches(subject(5).as_bytes()).is_empty());
    }
}
