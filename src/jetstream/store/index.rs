//! The sequence index: live messages by sequence, O(1) by `seq - first_seq`.
//!
//! ```text
//!  base_seq = first live seq
//!     |
//!  slots:   [ 3 | VACANT | 0 | VACANT | VACANT | 1 ]   VecDeque<u32>, both ends live
//!             |            |                      |
//!  entries: [ e0 | e1 | e2 | e3 ]                       slab of `Entry`, free list
//! ```
//!
//! A slot is 4 bytes, so a sequence removed from the middle costs 4 bytes until the
//! sequences below it are gone too; a live message costs its `Entry` (about 80 bytes,
//! plus its body while cached) and 4 bytes. Both ends of `slots` are always live, so the
//! first and last live sequences are O(1) and an emptied index holds nothing.

use std::collections::VecDeque;

use bytes::Bytes;

use super::bounds::{INDEX_RETAIN_ENTRIES, LIVE_MSGS_MAX};

const VACANT: u32 = u32::MAX;

/// Where a message's record lies on disk (file storage).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Location {
    /// Segment id.
    pub segment: u64,
    /// Offset of the record's frame in the segment.
    pub offset: u64,
    /// Length of the frame: read exactly this many bytes and `decode_at` them.
    pub len: u32,
}

/// One live message.
#[derive(Clone, Debug, Default)]
pub(super) struct Entry {
    pub ts_ns: i64,
    /// Id in the subject table.
    pub subject: u32,
    pub headers_len: u32,
    pub payload_len: u32,
    /// Unused by memory storage.
    pub location: Location,
    /// Headers followed by payload in one buffer; `None` once evicted from the cache.
    pub body: Option<Bytes>,
}

#[derive(Debug, Default)]
pub(super) struct SeqIndex {
    base_seq: u64,
    slots: VecDeque<u32>,
    entries: Vec<Entry>,
    free: Vec<u32>,
}

impl SeqIndex {
    pub fn len(&self) -> u64 {
        (self.entries.len() - self.free.len()) as u64
    }

    pub fn is_full(&self) -> bool {
        self.len() as usize >= LIVE_MSGS_MAX
    }

    pub fn first_seq(&self) -> Option<u64> {
        (!self.slots.is_empty()).then_some(self.base_seq)
    }

    pub fn last_seq(&self) -> Option<u64> {
        (!self.slots.is_empty()).then(|| self.base_seq + self.slots.len() as u64 - 1)
    }

    fn slot_of(&self, seq: u64) -> Option<usize> {
        let offset = seq.checked_sub(self.base_seq)?;
        let offset = usize::try_from(offset).ok()?;
        let slot = *self.slots.get(offset)?;
        (slot != VACANT).then_some(slot as usize)
    }

    pub fn get(&self, seq: u64) -> Option<&Entry> {
        self.slot_of(seq).map(|slot| &self.entries[slot])
    }

    pub fn get_mut(&mut self, seq: u64) -> Option<&mut Entry> {
        self.slot_of(seq).map(|slot| &mut self.entries[slot])
    }

    /// Inserts a message above every live one. The caller checked `is_full`.
    pub fn push(&mut self, seq: u64, entry: Entry) {
        assert!(!self.is_full(), "sequence index full");
        let slot = match self.free.pop() {
            Some(slot) => {
                self.entries[slot as usize] = entry;
                slot
            }
            None => {
                self.entries.push(entry);
                // Bounded by LIVE_MSGS_MAX < u32::MAX (asserted above).
                (self.entries.len() - 1) as u32
            }
        };
        match self.last_seq() {
            None => self.base_seq = seq,
            Some(last) => {
                assert!(seq > last, "index insert of {seq} at or below last {last}");
                for _ in last + 1..seq {
                    self.slots.push_back(VACANT);
                }
            }
        }
        self.slots.push_back(slot);
    }

    /// Removes a live message and returns it.
    pub fn remove(&mut self, seq: u64) -> Option<Entry> {
        let slot = self.slot_of(seq)?;
        let offset = (seq - self.base_seq) as usize;
        self.slots[offset] = VACANT;
        self.free.push(slot as u32);
        let entry = std::mem::take(&mut self.entries[slot]);
        while self.slots.front() == Some(&VACANT) {
            self.slots.pop_front();
            self.base_seq += 1;
        }
        while self.slots.back() == Some(&VACANT) {
            self.slots.pop_back();
        }
        if self.slots.is_empty() {
            self.clear();
        }
        Some(entry)
    }

    /// Drops everything. Small allocations are kept for reuse (a workqueue stream empties
    /// over and over); large ones are returned, so a purged stream holds no memory.
    pub fn clear(&mut self) {
        if self.entries.capacity() > INDEX_RETAIN_ENTRIES {
            *self = Self::default();
        } else {
            self.slots.clear();
            self.entries.clear();
            self.free.clear();
        }
    }

    /// The first live sequence at or above `from`.
    pub fn next_live(&self, from: u64) -> Option<u64> {
        self.iter_from(from).next().map(|(seq, _)| seq)
    }

    /// Live messages from `from` upwards, in sequence order.
    pub fn iter_from(&self, from: u64) -> impl Iterator<Item = (u64, &Entry)> + '_ {
        let skip = from
            .saturating_sub(self.base_seq)
            .min(self.slots.len() as u64) as usize;
        self.slots
            .range(skip..)
            .enumerate()
            .filter(|(_, &slot)| slot != VACANT)
            .map(move |(offset, &slot)| {
                (
                    self.base_seq + (skip + offset) as u64,
                    &self.entries[slot as usize],
                )
            })
    }

    /// Live messages from `from` upwards, counted without touching the entries.
    pub fn count_from(&self, from: u64) -> u64 {
        let skip = from
            .saturating_sub(self.base_seq)
            .min(self.slots.len() as u64) as usize;
        self.slots
            .range(skip..)
            .filter(|&&slot| slot != VACANT)
            .count() as u64
    }

    /// Sequences between the first and last live ones that are not live.
    pub fn gaps(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, &slot)| slot == VACANT)
            .map(move |(offset, _)| self.base_seq + offset as u64)
    }

    /// Sequences spanned by the index, live or not (the cost of scanning it).
    pub fn span(&self) -> u64 {
        self.slots.len() as u64
    }
}
