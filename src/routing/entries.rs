//! The entries of one filter: its plain subscribers, or the members of one of its queue
//! groups. One value inline (the common case: no allocation), else a plain vector, so a
//! cache miss copies them with one `extend_from_slice`, plus, for large fan-outs only, an index of where each value sits, so that
//! unsubscribing one of 10k subscribers does not compare against all of them.
//!
//! ```text
//!   values:     [ s0 | s1 | s2 | ... | s9999 | s10000 | s10001 ]
//!                 \_________ indexed ________/ \__ pushed since __/
//!   positions:  hash(value) -> position(s) in values[..indexed]
//! ```
//! The index needs `T: Hash + Eq`, which `insert` does not ask for; so a push only
//! appends, and the next [`Entries::remove_hashed`] indexes whatever was pushed since
//! (amortized O(1) per entry). Removal is `swap_remove`, which moves one value, whose
//! position is then updated. The index is keyed by the 64-bit hash and confirms
//! candidates by comparing the values, so it clones nothing and a hash collision only
//! costs a comparison.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::ops::Deref;

use super::hash::{PrehashedState, SubjectHashState};
use super::ENTRIES_SCANNED_MAX;

/// Nearly every filter has exactly one subscriber (one per subscription in the usual
/// "inbox per client" layouts), so a single value is kept inline: no allocation, and the
/// trie node stays small. More than one moves to the heap together with the index.
pub(super) enum Entries<T> {
    Empty,
    One(T),
    Many(Box<Many<T>>),
}

pub(super) struct Many<T> {
    values: Vec<T>,
    /// Only for more than [`ENTRIES_SCANNED_MAX`] values, and only once a
    /// `remove_hashed` needed it.
    positions: Option<PositionIndex>,
}

struct PositionIndex {
    by_hash: HashMap<u64, Positions, PrehashedState>,
    /// `values[..indexed]` are in `by_hash`; the rest were pushed since.
    indexed: usize,
}

/// Where the values with one hash sit: nearly always one place (equal values, or a
/// 64-bit collision, make more).
enum Positions {
    One(usize),
    Many(Vec<usize>),
}

impl<T> Entries<T> {
    pub(super) fn new() -> Self {
        Entries::Empty
    }

    pub(super) fn from_value(value: T) -> Self {
        Entries::One(value)
    }

    pub(super) fn push(&mut self, value: T) {
        match self {
            Entries::Empty => *self = Entries::One(value),
            Entries::Many(many) => many.values.push(value),
            Entries::One(_) => {
                let Entries::One(first) = std::mem::replace(self, Entries::Empty) else {
                    return;
                };
                *self = Entries::Many(Box::new(Many {
                    values: vec![first, value],
                    positions: None,
                }));
            }
        }
    }

    /// Back to the inline forms once one value or none is left, so a filter that once
    /// had a crowd does not keep its vector.
    fn collapse(&mut self) {
        let Entries::Many(many) = self else {
            return;
        };
        if many.values.len() > 1 {
            return;
        }
        *self = match many.values.pop() {
            Some(last) => Entries::One(last),
            None => Entries::Empty,
        };
    }

    /// Removes one value equal to `value` by scanning; false if absent.
    pub(super) fn remove_scan(&mut self, value: &T) -> bool
    where
        T: PartialEq,
    {
        match self {
            Entries::Empty => false,
            Entries::One(only) => {
                if only != value {
                    return false;
                }
                *self = Entries::Empty;
                true
            }
            Entries::Many(many) => {
                let Some(position) = many.values.iter().position(|entry| entry == value) else {
                    return false;
                };
                many.values.swap_remove(position);
                // The moved value's recorded position is stale now; rebuilding later is
                // simpler than keeping an index that this path cannot hash for.
                many.positions = None;
                self.collapse();
                true
            }
        }
    }

    /// Removes one value equal to `value`: a scan up to [`ENTRIES_SCANNED_MAX`] values,
    /// expected O(1) beyond. `hash_state` must be the same on every call.
    pub(super) fn remove_hashed(&mut self, value: &T, hash_state: SubjectHashState) -> bool
    where
        T: Hash + Eq,
    {
        let Entries::Many(many) = self else {
            return self.remove_scan(value);
        };
        if many.values.len() <= ENTRIES_SCANNED_MAX {
            return self.remove_scan(value);
        }
        let Many { values, positions } = &mut **many;
        let index = positions.get_or_insert_with(|| PositionIndex {
            by_hash: HashMap::with_hasher(PrehashedState),
            indexed: 0,
        });
        for (position, pushed) in values.iter().enumerate().skip(index.indexed) {
            index.add(hash_state.hash_one(pushed), position);
        }
        index.indexed = values.len();
        let Some(position) = index.take(hash_state.hash_one(value), |candidate| {
            values[candidate] == *value
        }) else {
            return false;
        };
        let last = values.len() - 1;
        values.swap_remove(position);
        if position != last {
            index.relocate(hash_state.hash_one(&values[position]), last, position);
        }
        index.indexed = values.len();
        // Hysteresis: drop the index well below the threshold, so one filter hovering
        // around it does not rebuild on every other removal.
        if values.len() < ENTRIES_SCANNED_MAX / 2 {
            *positions = None;
        }
        true
    }

    #[cfg(test)]
    fn is_indexed(&self) -> bool {
        matches!(self, Entries::Many(many) if many.positions.is_some())
    }
}

impl PositionIndex {
    fn add(&mut self, hash: u64, position: usize) {
        match self.by_hash.get_mut(&hash) {
            None => {
                self.by_hash.insert(hash, Positions::One(position));
            }
            Some(Positions::Many(positions)) => positions.push(position),
            Some(slot @ Positions::One(_)) => {
                if let Positions::One(first) = *slot {
                    *slot = Positions::Many(vec![first, position]);
                }
            }
        }
    }

    /// Forgets and returns the first position with this hash that `is_it` accepts.
    fn take(&mut self, hash: u64, is_it: impl Fn(usize) -> bool) -> Option<usize> {
        let slot = self.by_hash.get_mut(&hash)?;
        match slot {
            Positions::One(position) => {
                let position = *position;
                if !is_it(position) {
                    return None;
                }
                self.by_hash.remove(&hash);
                Some(position)
            }
            Positions::Many(positions) => {
                let found = positions.iter().position(|&candidate| is_it(candidate))?;
                let position = positions.swap_remove(found);
                if let [only] = positions[..] {
                    *slot = Positions::One(only);
                }
                Some(position)
            }
        }
    }

    /// The value with this hash that sat at `from` now sits at `to`.
    fn relocate(&mut self, hash: u64, from: usize, to: usize) {
        let slot = self.by_hash.get_mut(&hash);
        debug_assert!(slot.is_some(), "every indexed value has a position");
        match slot {
            Some(Positions::One(position)) => *position = to,
            Some(Positions::Many(positions)) => {
                if let Some(position) = positions.iter_mut().find(|position| **position == from) {
                    *position = to;
                }
            }
            None => {}
        }
    }
}

impl<T> Deref for Entries<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            Entries::Empty => &[],
            Entries::One(only) => std::slice::from_ref(only),
            Entries::Many(many) => &many.values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(entries: &Entries<u32>) -> Vec<u32> {
        let mut values = entries.to_vec();
        values.sort_unstable();
        values
    }

    #[test]
    fn hashed_and_scanning_removal_agree_with_a_model_across_the_threshold() {
        let hash_state = SubjectHashState::random();
        let mut entries = Entries::new();
        let mut model = Vec::new();
        // Values repeat (value % 50), so equal values share a hash and a position list.
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for step in 0..20_000u32 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let value = (rng % 150) as u32 % 50;
            let grow = model.len() < 40 || (step / 2_000) % 2 == 0;
            if rng % 3 != 0 && grow {
                entries.push(value);
                model.push(value);
                continue;
            }
            let expected = model.iter().position(|&entry| entry == value);
            let removed = if rng % 7 == 0 {
                entries.remove_scan(&value)
            } else {
                entries.remove_hashed(&value, hash_state)
            };
            assert_eq!(removed, expected.is_some(), "step {step}");
            if let Some(position) = expected {
                model.swap_remove(position);
            }
            let mut expected_values = model.clone();
            expected_values.sort_unstable();
            assert_eq!(sorted(&entries), expected_values, "step {step}");
        }
    }

    #[test]
    fn large_fan_out_is_indexed_then_released() {
        let hash_state = SubjectHashState::random();
        let mut entries = Entries::new();
        for value in 0..10_000u32 {
            entries.push(value);
        }
        assert!(entries.remove_hashed(&5_000, hash_state));
        assert!(entries.is_indexed());
        assert!(!entries.remove_hashed(&5_000, hash_state));
        for value in (0..10_000u32).rev().filter(|&value| value != 5_000) {
            assert!(entries.remove_hashed(&value, hash_state), "{value}");
        }
        assert!(entries.is_empty());
        assert!(!entries.is_indexed());
    }
}
