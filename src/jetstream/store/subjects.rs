//! Per-subject state: every live sequence of each subject, oldest first.
//!
//! Subjects are interned (an entry of the sequence index names its subject by a `u32`
//! id instead of holding the bytes), and each keeps a sorted `VecDeque<u64>` of its live
//! sequences: 8 bytes per message buys O(1) per-subject limits (pop the front), O(1)
//! last-by-subject and `Nats-Expected-Last-Subject-Sequence` (the back), and O(log n)
//! `next_for`/`num_pending` on a literal subject. Wildcard queries scan the subjects.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use crate::routing::subject_matches_filter;

#[derive(Debug, Default)]
pub(super) struct SubjectSlot {
    pub subject: Bytes,
    /// Live sequences, ascending; empty only while the slot is free.
    pub seqs: VecDeque<u64>,
}

#[derive(Debug, Default)]
pub(super) struct SubjectTable {
    ids: HashMap<Bytes, u32>,
    slots: Vec<SubjectSlot>,
    free: Vec<u32>,
}

/// How a query filter selects subjects.
pub(super) enum Filter<'a> {
    All,
    Literal(&'a [u8]),
    Wildcard(&'a [u8]),
}

impl<'a> Filter<'a> {
    /// Empty and `>` select everything; a filter without wildcard tokens is a literal.
    pub fn new(filter: &'a [u8]) -> Self {
        if filter.is_empty() || filter == b">" {
            return Filter::All;
        }
        let wildcard = filter
            .split(|&byte| byte == b'.')
            .any(|token| token == b"*" || token == b">");
        if wildcard {
            Filter::Wildcard(filter)
        } else {
            Filter::Literal(filter)
        }
    }

    pub fn matches(&self, subject: &[u8]) -> bool {
        match self {
            Filter::All => true,
            Filter::Literal(literal) => *literal == subject,
            Filter::Wildcard(filter) => subject_matches_filter(filter, subject),
        }
    }
}

impl SubjectTable {
    /// Subjects with at least one live message.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn id_of(&self, subject: &[u8]) -> Option<u32> {
        self.ids.get(subject).copied()
    }

    pub fn slot(&self, id: u32) -> &SubjectSlot {
        &self.slots[id as usize]
    }

    /// Adds `seq` (above every live sequence of the subject) and returns the subject id.
    pub fn push(&mut self, subject: &[u8], seq: u64) -> u32 {
        let id = match self.ids.get(subject) {
            Some(&id) => id,
            None => {
                // A copy, so the table never pins a client's read buffer.
                let owned = Bytes::copy_from_slice(subject);
                let id = match self.free.pop() {
                    Some(id) => {
                        self.slots[id as usize].subject = owned.clone();
                        id
                    }
                    None => {
                        self.slots.push(SubjectSlot {
                            subject: owned.clone(),
                            seqs: VecDeque::new(),
                        });
                        // At most one subject per live message, so bounded by
                        // LIVE_MSGS_MAX < u32::MAX.
                        (self.slots.len() - 1) as u32
                    }
                };
                self.ids.insert(owned, id);
                id
            }
        };
        let seqs = &mut self.slots[id as usize].seqs;
        assert!(
            seqs.back().is_none_or(|&last| last < seq),
            "subject sequences must ascend"
        );
        seqs.push_back(seq);
        id
    }

    /// Removes `seq` from subject `id`, freeing the subject when it was its last message.
    pub fn remove(&mut self, id: u32, seq: u64) {
        let slot = &mut self.slots[id as usize];
        let seqs = &mut slot.seqs;
        if seqs.front() == Some(&seq) {
            seqs.pop_front();
        } else if seqs.back() == Some(&seq) {
            seqs.pop_back();
        } else {
            let position = seqs.binary_search(&seq);
            // The sequence index and this table are updated together.
            let position = position.expect("removed sequence missing from its subject");
            seqs.remove(position);
        }
        if seqs.is_empty() {
            // Release the deque's memory: a free slot may wait long for reuse.
            slot.seqs = VecDeque::new();
            let subject = std::mem::take(&mut slot.subject);
            self.ids.remove(&subject);
            self.free.push(id);
        }
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Subjects selected by `filter`, as (id, slot).
    pub fn matching<'s>(
        &'s self,
        filter: &'s Filter<'s>,
    ) -> Box<dyn Iterator<Item = (u32, &'s SubjectSlot)> + 's> {
        match filter {
            Filter::Literal(literal) => Box::new(
                self.id_of(literal)
                    .map(|id| (id, self.slot(id)))
                    .into_iter(),
            ),
            _ => Box::new(
                self.ids
                    .values()
                    .map(|&id| (id, self.slot(id)))
                    .filter(|(_, slot)| filter.matches(&slot.subject)),
            ),
        }
    }
}
