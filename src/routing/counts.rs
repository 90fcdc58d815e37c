//! This core's own subscription counts per exact (subject, queue), the numbers it
//! announces to other cores through their [`super::RemoteInterest`].

use std::collections::HashMap;

use super::key::{decode, KeyScratch};

/// Counts local subscriptions per (subject, queue) so the server knows when to tell other
/// cores (first one added, count changed, last one removed). Keys are bounded by the
/// caller's subscription limits; a key is dropped as soon as its count reaches 0.
#[derive(Default)]
pub struct InterestCounts {
    counts: HashMap<Box<[u8]>, u32>,
    key: KeyScratch,
}

impl InterestCounts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the new count (saturating at `u32::MAX`).
    pub fn add(&mut self, subject: &[u8], queue: Option<&[u8]>) -> u32 {
        let key = self.key.encode(subject, queue);
        if let Some(count) = self.counts.get_mut(key) {
            *count = count.saturating_add(1);
            return *count;
        }
        self.counts.insert(key.into(), 1);
        1
    }

    /// Returns the new count (saturating at 0, removes the key at 0).
    pub fn remove(&mut self, subject: &[u8], queue: Option<&[u8]>) -> u32 {
        let key = self.key.encode(subject, queue);
        let Some(count) = self.counts.get_mut(key) else {
            return 0;
        };
        *count = count.saturating_sub(1);
        let remaining = *count;
        if remaining == 0 {
            self.counts.remove(key);
        }
        remaining
    }

    /// The count for one exact (subject, queue); 0 when absent.
    pub fn get(&self, subject: &[u8], queue: Option<&[u8]>) -> u32 {
        let mut key = KeyScratch::default();
        self.counts
            .get(key.encode(subject, queue))
            .copied()
            .unwrap_or(0)
    }

    /// Every (subject, queue, count) with a non-zero count, in no particular order: what a
    /// (re)joining peer needs to be told.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>, u32)> {
        self.counts
            .iter()
            .filter_map(|(key, &count)| decode(key).map(|(subject, queue)| (subject, queue, count)))
    }

    /// Distinct (subject, queue) pairs with a non-zero count.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

impl std::fmt::Debug for InterestCounts {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("InterestCounts")
            .field("keys", &self.counts.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_rise_and_fall_per_subject_and_queue() {
        let mut counts = InterestCounts::new();
        assert_eq!(counts.add(b"foo", None), 1);
        assert_eq!(counts.add(b"foo", None), 2);
        assert_eq!(counts.add(b"foo", Some(b"q")), 1);
        assert_eq!(counts.add(b"foo", Some(b"r")), 1);
        assert_eq!(counts.add(b"foo.>", None), 1);
        assert_eq!(counts.len(), 4);
        assert_eq!(counts.get(b"foo", None), 2);
        assert_eq!(counts.get(b"foo", Some(b"q")), 1);
        assert_eq!(counts.remove(b"foo", None), 1);
        assert_eq!(counts.remove(b"foo", None), 0);
        assert_eq!(counts.remove(b"foo", None), 0, "saturates at 0");
        assert_eq!(counts.get(b"foo", None), 0);
        assert_eq!(counts.remove(b"never", Some(b"q")), 0);
        assert_eq!(counts.len(), 3);
        assert_eq!(counts.remove(b"foo", Some(b"q")), 0);
        assert_eq!(counts.remove(b"foo", Some(b"r")), 0);
        assert_eq!(counts.remove(b"foo.>", None), 0);
        assert!(counts.is_empty());
    }

    #[test]
    fn iter_reports_every_live_pair() {
        let mut counts = InterestCounts::new();
        counts.add(b"a", None);
        counts.add(b"a", None);
        counts.add(b"a", Some(b"q"));
        counts.add(b"b.*", Some(b"q"));
        counts.add(b"gone", None);
        counts.remove(b"gone", None);
        let mut seen: Vec<(Vec<u8>, Option<Vec<u8>>, u32)> = counts
            .iter()
            .map(|(subject, queue, count)| (subject.to_vec(), queue.map(<[u8]>::to_vec), count))
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                (b"a".to_vec(), None, 2),
                (b"a".to_vec(), Some(b"q".to_vec()), 1),
                (b"b.*".to_vec(), Some(b"q".to_vec()), 1),
            ]
        );
    }

    #[test]
    fn subject_and_queue_boundaries_do_not_collide() {
        let mut counts = InterestCounts::new();
        assert_eq!(counts.add(b"a b", None), 1);
        assert_eq!(counts.add(b"a", Some(b"b")), 1);
        assert_eq!(counts.add(b"ab", None), 1);
        assert_eq!(counts.len(), 3);
    }
}
