//! The hash behind the match cache and the trie's literal children, plus two small
//! helpers that let the cache skip `[u8]`'s generic `Hash` and `Eq` on a hit
//! ([`PrehashedState`], [`same_bytes`]).
//!
//! Every published message costs at least one cache probe, so the hash sits on the
//! hottest path of the broker. SipHash-1-3 (std's default) cost ~12% of a publish flood;
//! this is a folded-multiply hash in the style of foldhash and wyhash, a few cycles per
//! 16 bytes.
//!
//! HashDoS: clients choose both the subjects that are looked up (publishers) and the
//! tokens that are stored (subscribers), so the hash is keyed with two secret words drawn
//! at random for every index. An unkeyed fast hash would not do: FxHash-style
//! multiply-rotate hashes have collisions that hold for every seed (flip the top bit of
//! one word and bit 4 of the next), which would let a client fill the 4096-entry cache
//! with subjects that all share one hash and make each publish compare against all of
//! them. Folded multiplication (the two halves of the 128-bit product XORed) has no such
//! seed-independent differential that we know of; like foldhash it is "minimally
//! DoS-resistant": fine against clients who cannot observe the table, not a MAC.
//!
//! ```text
//!   state = seed rotated right by len
//!   for each 16-byte chunk but the last:  state = fold(state ^ word0, key ^ word1)
//!   last 16 bytes (overlapping, or the short-input words): fold(state ^ a, key ^ b)
//!   fold(x, y) = low64(x * y) ^ high64(x * y)
//!   result = murmur3 fmix64(state)   (spreads every bit into the low bits tables use)
//! ```

use std::hash::{BuildHasher, Hasher};

/// Keys one index's hashes; random per index (so one index's layout tells nothing about
/// another's). 16 bytes, the same as std's `RandomState` it replaces in every trie node.
#[derive(Clone, Copy)]
pub(super) struct SubjectHashState {
    seed: u64,
    key: u64,
}

impl SubjectHashState {
    pub(super) fn random() -> Self {
        SubjectHashState {
            seed: rand::random(),
            key: rand::random(),
        }
    }

    /// The hash of `bytes`, as the match cache keys its subjects.
    pub(super) fn hash_bytes(&self, bytes: &[u8]) -> u64 {
        hash_bytes(self.seed, self.key, bytes)
    }
}

impl BuildHasher for SubjectHashState {
    type Hasher = SubjectHasher;

    fn build_hasher(&self) -> SubjectHasher {
        SubjectHasher {
            state: self.seed,
            key: self.key,
        }
    }
}

/// Streams `Hash` input through [`hash_bytes`]; built for the byte-string keys of the
/// routing maps (`[u8]` writes its length, then its bytes in one call).
pub(super) struct SubjectHasher {
    state: u64,
    key: u64,
}

impl Hasher for SubjectHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.state = hash_bytes(self.state, self.key, bytes);
    }

    fn write_u64(&mut self, word: u64) {
        self.state = folded_multiply(self.state ^ word, self.key);
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

/// For maps whose `u64` keys already are keyed hashes: passes the key through instead
/// of hashing it again.
#[derive(Clone, Copy, Default)]
pub(super) struct PrehashedState;

impl BuildHasher for PrehashedState {
    type Hasher = PrehashedHasher;

    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher { hash: 0 }
    }
}

pub(super) struct PrehashedHasher {
    hash: u64,
}

impl Hasher for PrehashedHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are meant to come here; anything else still gets a hash.
        for &byte in bytes {
            self.hash = self.hash.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.hash = hash;
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// Byte-string equality inlined as a few word compares: for subject-sized strings a call
/// to `memcmp` (what `[u8] == [u8]` becomes) cost about a third of a cache hit.
pub(super) fn same_bytes(left: &[u8], right: &[u8]) -> bool {
    let len = left.len();
    if len != right.len() {
        return false;
    }
    if len >= 8 {
        let mut offset = 0;
        while len - offset > 8 {
            if read_u64(left, offset) != read_u64(right, offset) {
                return false;
            }
            offset += 8;
        }
        read_u64(left, len - 8) == read_u64(right, len - 8)
    } else if len >= 4 {
        read_u32(left, 0) == read_u32(right, 0)
            && read_u32(left, len - 4) == read_u32(right, len - 4)
    } else {
        left.iter().zip(right).all(|(a, b)| a == b)
    }
}

fn folded_multiply(left: u64, right: u64) -> u64 {
    let product = u128::from(left) * u128::from(right);
    (product as u64) ^ ((product >> 64) as u64)
}

fn read_u64(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(word)
}

fn read_u32(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u64::from(u32::from_le_bytes(word))
}

/// Hashes `bytes` from `state` under the secret `key`. Reads overlap for inputs that are
/// not a multiple of the word size, so the state is first rotated by the length: two
/// inputs whose words coincide after overlapping start from different states.
fn hash_bytes(state: u64, key: u64, bytes: &[u8]) -> u64 {
    let len = bytes.len();
    let mut state = state.rotate_right(len as u32);
    let (first, last) = if len > 16 {
        let mut offset = 0;
        while len - offset > 16 {
            state = folded_multiply(
                state ^ read_u64(bytes, offset),
                key ^ read_u64(bytes, offset + 8),
            );
            offset += 16;
        }
        (read_u64(bytes, len - 16), read_u64(bytes, len - 8))
    } else if len >= 8 {
        (read_u64(bytes, 0), read_u64(bytes, len - 8))
    } else if len >= 4 {
        (read_u32(bytes, 0), read_u32(bytes, len - 4))
    } else if len > 0 {
        (
            u64::from(bytes[0]),
            (u64::from(bytes[len - 1]) << 8) | u64::from(bytes[len / 2]),
        )
    } else {
        (0, 0)
    };
    avalanche(folded_multiply(state ^ first, key ^ last))
}

/// murmur3's 64-bit finaliser: a bijection in which every input bit flips every output bit
/// with probability ~1/2. Hash tables pick buckets from the low bits, and a folded multiply
/// alone leaves them weak for some keys when similar subjects differ only in their last
/// bytes (the high bits of a little-endian word), e.g. `orders.eu.1` .. `orders.eu.999`.
fn avalanche(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    impl SubjectHashState {
        fn hash_subject(&self, subject: &[u8]) -> u64 {
            self.hash_bytes(subject)
        }
    }

    #[test]
    fn same_bytes_agrees_with_slice_equality() {
        let base: Vec<u8> = (0..40u8).collect();
        for len in 0..=base.len() {
            let left = &base[..len];
            assert!(same_bytes(left, left));
            assert!(!same_bytes(left, &base[..len.saturating_sub(1)]) || len == 0);
            for position in 0..len {
                let mut right = left.to_vec();
                right[position] ^= 1;
                assert!(!same_bytes(left, &right), "len {len} at {position}");
            }
        }
    }

    #[test]
    fn every_length_and_every_byte_counts() {
        let state = SubjectHashState::random();
        let mut seen = HashSet::new();
        let base: Vec<u8> = (0..80u8).map(|byte| byte.wrapping_mul(37)).collect();
        let mut inputs = 0;
        for len in 0..=base.len() {
            let input = &base[..len];
            assert!(seen.insert(state.hash_subject(input)), "len {len}");
            inputs += 1;
            for position in 0..len {
                let mut flipped = input.to_vec();
                flipped[position] ^= 0x10;
                assert!(
                    seen.insert(state.hash_subject(&flipped)),
                    "len {len} at {position}"
                );
                inputs += 1;
            }
        }
        assert_eq!(seen.len(), inputs);
    }

    #[test]
    fn keyed_per_index_and_stable_within_one() {
        let first = SubjectHashState::random();
        let second = SubjectHashState::random();
        assert_eq!(
            first.hash_subject(b"foo.bar"),
            first.hash_subject(b"foo.bar")
        );
        assert_ne!(
            first.hash_subject(b"foo.bar"),
            second.hash_subject(b"foo.bar")
        );
        assert_eq!(
            first.hash_one(b"foo.bar".as_slice()),
            first.hash_one(b"foo.bar".as_slice())
        );
    }

    /// The differential that breaks seeded FxHash (top bit of one word, bit 4 of the
    /// next) must not collide here.
    #[test]
    fn fxhash_differential_does_not_collide() {
        let state = SubjectHashState::random();
        let mut base = *b"aaaaaaaaaaaaaaaaaaaaaaaa";
        let original = state.hash_subject(&base);
        base[7] ^= 0x80;
        base[8] ^= 0x10;
        assert_ne!(original, state.hash_subject(&base));
    }

    #[test]
    fn low_bits_spread_for_similar_subjects() {
        // hashbrown picks buckets from the low bits: similar subjects must not pile up.
        // Several key draws: a weakness may show only for some keys (it did, before the
        // final avalanche step).
        for _ in 0..20 {
            let state = SubjectHashState::random();
            let buckets = 1024;
            let mut used = HashSet::new();
            for id in 0..buckets {
                let subject = format!("orders.eu.{id}");
                used.insert(state.hash_subject(subject.as_bytes()) % buckets);
            }
            // A uniform hash fills about 1 - 1/e of the buckets (~647, sd ~13).
            assert!(used.len() > 550, "{} buckets used", used.len());
        }
    }
}
