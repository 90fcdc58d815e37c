//! Interest that other cores have announced, as route peers do in a cluster.
//!
//! Each (core, subject, queue) triple that a core announced with a non-zero count is one
//! entry in a trie, carrying that count as its weight. A publish is then forwarded once
//! to each core in `plain_cores`, and for each queue group the weights let the caller
//! pick a member uniformly across cores (a core with three members is three times as
//! likely as a core with one), as nats-server does with a route's queue weight.

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use bytes::Bytes;

use super::cache::MatchCache;
use super::key::{decode, KeyScratch};
use super::subject::{has_empty_token, is_valid_queue_name, is_valid_subject};
use super::trie::Trie;
use super::{IndexError, MATCH_CACHE_ENTRIES_MAX};

/// Where a publish must be forwarded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoteMatches {
    /// cores with at least one plain (non-queue) subscription matching, each core once, ascending
    pub plain_cores: Vec<usize>,
    /// per distinct queue name, each core's total member weight for that queue (summed
    /// over all matching filters), cores ascending
    pub queues: Vec<RemoteQueue>,
}

impl RemoteMatches {
    pub fn is_empty(&self) -> bool {
        self.plain_cores.is_empty() && self.queues.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteQueue {
    pub name: Bytes,
    /// (core, members on that core); every weight is at least 1.
    pub weights: Vec<(usize, u32)>,
}

/// 8 bytes, so an entry fits inline in a trie leaf (cores are at most
/// `config::options::CORES_MAX`, far below `u32::MAX`).
#[derive(Clone, Copy, PartialEq, Eq)]
struct RemoteEntry {
    core: u32,
    weight: u32,
}

/// Which other cores have interest, with queue-group weights (members on that core).
/// Size is bounded by what the other cores announce, i.e. by their subscription limits.
pub struct RemoteInterest {
    trie: Trie<RemoteEntry>,
    cache: MatchCache<RemoteMatches>,
    /// Each core's announced counts by encoded (subject, queue) key: the source of truth
    /// that makes `set` absolute and `clear_core` possible.
    counts_by_core: HashMap<usize, HashMap<Box<[u8]>, u32>>,
    key: KeyScratch,
    empty: Rc<RemoteMatches>,
}

impl RemoteInterest {
    pub fn new() -> Self {
        RemoteInterest {
            trie: Trie::new(),
            cache: MatchCache::new(MATCH_CACHE_ENTRIES_MAX),
            counts_by_core: HashMap::new(),
            key: KeyScratch::default(),
            empty: Rc::new(RemoteMatches::default()),
        }
    }

    /// Sets core `core`'s count of subscriptions for (subject, queue); 0 removes it.
    /// Idempotent (absolute count, not delta), so a replayed or duplicated update is
    /// harmless.
    pub fn set(
        &mut self,
        core: usize,
        subject: &[u8],
        queue: Option<&[u8]>,
        count: u32,
    ) -> Result<(), IndexError> {
        if !is_valid_subject(subject) {
            return Err(IndexError::InvalidSubject);
        }
        if queue.is_some_and(|queue| !is_valid_queue_name(queue)) {
            return Err(IndexError::InvalidQueue);
        }
        let core_id = u32::try_from(core).map_err(|_| IndexError::Full)?;
        let key = self.key.encode(subject, queue);
        let previous = self
            .counts_by_core
            .get(&core)
            .and_then(|counts| counts.get(key))
            .copied();
        if previous.unwrap_or(0) == count {
            return Ok(());
        }
        // Insert the new weight before dropping the old one, so an error leaves the state
        // untouched; the old entry differs in weight, so it stays distinguishable.
        if count > 0 {
            let entry = RemoteEntry {
                core: core_id,
                weight: count,
            };
            self.trie.insert(subject, queue, entry)?;
        }
        if let Some(weight) = previous {
            let removed = self.trie.remove(
                subject,
                queue,
                &RemoteEntry {
                    core: core_id,
                    weight,
                },
            );
            debug_assert!(removed, "the trie holds every recorded count");
        }
        let counts = self.counts_by_core.entry(core).or_default();
        if count == 0 {
            counts.remove(key);
            if counts.is_empty() {
                self.counts_by_core.remove(&core);
            }
        } else {
            counts.insert(key.into(), count);
        }
        self.cache.invalidate(subject);
        Ok(())
    }

    /// Forget everything about `core` (it went away). The whole cache is dropped: this is
    /// rare, and one flush is cheaper than a scan per forgotten wildcard filter.
    pub fn clear_core(&mut self, core: usize) {
        let Some(counts) = self.counts_by_core.remove(&core) else {
            return;
        };
        // `set` recorded counts only for cores that fit.
        let core = core as u32;
        for (key, weight) in &counts {
            if let Some((subject, queue)) = decode(key) {
                let removed = self.trie.remove(
                    subject,
                    queue,
                    &RemoteEntry {
                        core,
                        weight: *weight,
                    },
                );
                debug_assert!(removed, "the trie holds every recorded count");
            }
        }
        self.cache.clear();
    }

    pub fn matches(&mut self, subject: &[u8]) -> Rc<RemoteMatches> {
        let hash = self.cache.hash(subject);
        if let Some(cached) = self.cache.get_hashed(subject, hash) {
            return cached;
        }
        if has_empty_token(subject) {
            return Rc::clone(&self.empty);
        }
        let mut found = RemoteMatches::default();
        self.trie.for_each_match(subject, |plain, groups| {
            found
                .plain_cores
                .extend(plain.iter().map(|entry| entry.core as usize));
            for group in groups {
                let members = group
                    .members
                    .iter()
                    .map(|entry| (entry.core as usize, entry.weight));
                match found
                    .queues
                    .iter_mut()
                    .find(|queue| queue.name == group.name)
                {
                    Some(queue) => queue.weights.extend(members),
                    None => found.queues.push(RemoteQueue {
                        name: group.name.clone(),
                        weights: members.collect(),
                    }),
                }
            }
        });
        found.plain_cores.sort_unstable();
        found.plain_cores.dedup();
        for queue in &mut found.queues {
            queue.weights.sort_unstable_by_key(|&(core, _)| core);
            queue.weights.dedup_by(|later, kept| {
                let same_core = later.0 == kept.0;
                if same_core {
                    kept.1 = kept.1.saturating_add(later.1);
                }
                same_core
            });
        }
        let found = if found.is_empty() {
            Rc::clone(&self.empty)
        } else {
            Rc::new(found)
        };
        self.cache.put_hashed(subject, hash, Rc::clone(&found));
        found
    }

    /// Announced (core, subject, queue) triples with a non-zero count.
    pub fn len(&self) -> usize {
        self.trie.len()
    }

    pub fn is_empty(&self) -> bool {
        self.trie.len() == 0
    }
}

impl Default for RemoteInterest {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RemoteInterest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("RemoteInterest")
            .field("entries", &self.len())
            .field("cores", &self.counts_by_core.len())
            .field("cached", &self.cache.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_cores_are_deduplicated_and_sorted() {
        let mut remote = RemoteInterest::new();
        remote.set(3, b"foo.bar", None, 2).unwrap();
        remote.set(1, b"foo.*", None, 1).unwrap();
        remote.set(3, b"foo.>", None, 5).unwrap();
        remote.set(2, b"other", None, 1).unwrap();
        let found = remote.matches(b"foo.bar");
        assert_eq!(found.plain_cores, [1, 3]);
        assert!(found.queues.is_empty());
        assert_eq!(remote.matches(b"foo.bar.baz").plain_cores, [3]);
        assert!(remote.matches(b"nothing").is_empty());
    }

    #[test]
    fn queue_weights_sum_across_filters_per_core() {
        let mut remote = RemoteInterest::new();
        remote.set(2, b"jobs.new", Some(b"w"), 3).unwrap();
        remote.set(2, b"jobs.*", Some(b"w"), 2).unwrap();
        remote.set(0, b"jobs.>", Some(b"w"), 1).unwrap();
        remote.set(1, b"jobs.new", Some(b"audit"), 4).unwrap();
        remote.set(1, b"jobs.new", None, 1).unwrap();
        let found = remote.matches(b"jobs.new");
        assert_eq!(found.plain_cores, [1]);
        assert_eq!(found.queues.len(), 2);
        let workers = found.queues.iter().find(|queue| queue.name == "w").unwrap();
        assert_eq!(workers.weights, [(0, 1), (2, 5)]);
        let audit = found
            .queues
            .iter()
            .find(|queue| queue.name == "audit")
            .unwrap();
        assert_eq!(audit.weights, [(1, 4)]);
        assert_eq!(
            remote.matches(b"jobs.old").queues[0].weights,
            [(0, 1), (2, 2)]
        );
    }

    #[test]
    fn set_is_absolute_and_idempotent() {
        let mut remote = RemoteInterest::new();
        remote.set(1, b"a", Some(b"q"), 3).unwrap();
        remote.set(1, b"a", Some(b"q"), 3).unwrap();
        assert_eq!(remote.len(), 1);
        assert_eq!(remote.matches(b"a").queues[0].weights, [(1, 3)]);
        remote.set(1, b"a", Some(b"q"), 7).unwrap();
        assert_eq!(remote.len(), 1);
        assert_eq!(remote.matches(b"a").queues[0].weights, [(1, 7)]);
        remote.set(1, b"a", Some(b"q"), 0).unwrap();
        remote.set(1, b"a", Some(b"q"), 0).unwrap();
        assert!(remote.matches(b"a").is_empty());
        assert!(remote.is_empty());
        assert!(remote.counts_by_core.is_empty());
    }

    #[test]
    fn clear_core_forgets_only_that_core() {
        let mut remote = RemoteInterest::new();
        remote.set(1, b"a.>", None, 1).unwrap();
        remote.set(1, b"a.b", Some(b"q"), 2).unwrap();
        remote.set(2, b"a.b", Some(b"q"), 1).unwrap();
        remote.set(2, b"*.b", None, 1).unwrap();
        assert_eq!(remote.matches(b"a.b").plain_cores, [1, 2]);
        remote.clear_core(1);
        let found = remote.matches(b"a.b");
        assert_eq!(found.plain_cores, [2]);
        assert_eq!(found.queues[0].weights, [(2, 1)]);
        remote.clear_core(1);
        remote.clear_core(2);
        assert!(remote.matches(b"a.b").is_empty());
        assert!(remote.is_empty());
        assert_eq!(remote.trie.node_count(), 0);
    }

    #[test]
    fn invalid_input_is_rejected() {
        let mut remote = RemoteInterest::new();
        assert_eq!(
            remote.set(0, b"a..b", None, 1),
            Err(IndexError::InvalidSubject)
        );
        assert_eq!(
            remote.set(0, b"a", Some(b""), 1),
            Err(IndexError::InvalidQueue)
        );
        assert_eq!(remote.set(0, b"", None, 0), Err(IndexError::InvalidSubject));
        assert!(remote.is_empty());
        assert!(remote.matches(b"a..b").is_empty());
    }
}
