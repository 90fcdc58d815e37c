//! Subject routing: which subscriptions a published subject reaches, on this core
//! ([`SubjectIndex`]) and on the other cores ([`RemoteInterest`]), plus the counts this
//! core announces to the others ([`InterestCounts`]). Pure, single-threaded data
//! structures: each core owns its own, so every method takes `&mut self` and nothing
//! locks. Semantics follow nats-server's `sublist.go` (see `subject.rs`).
//!
//! Design: a trie over `.`-separated tokens. Each node has a hash map of literal
//! children plus dedicated `*` and `>` children, and holds the plain entries and queue
//! groups of the filter that ends there. Nodes sit in an arena addressed by index, so
//! every walk is a loop (no recursion depth a client controls) and pruned slots are
//! reused. A match walks the borrowed subject bytes, slicing tokens in place, and
//! allocates only its result; results are cached per subject as shared `Rc` snapshots.
//!
//! Complexity, with k = tokens in the subject:
//! - `matches`, cache hit: one hash of the subject. Miss: one literal-map probe per
//!   trie path the subject can follow (a literal-only trie is O(k)), plus the result.
//!   Both maps hash with a fast keyed hash, random per index (`hash.rs` says why).
//! - `insert`: O(k). `remove`: O(k) plus a linear scan of the entries on that exact
//!   filter (values are only `PartialEq`), then pruning of the nodes left empty.
//!   `remove_hashed` (values `Hash + Eq`): O(k) expected, whatever the fan-out.
//! - Cache invalidation on insert/remove: a literal filter drops only its own subject's
//!   cached result (O(1)); a wildcard filter drops exactly the cached subjects it
//!   matches, found by one scan of the cache (O(cache entries x k)). Eviction when full
//!   drops a rotating quarter of the cache, O(1) amortized per miss.
//!
//! Bounds: the trie and the counts grow only with subscriptions, which the server caps
//! (`max_subscriptions`); the match cache, the scratch buffers and the arena's retained
//! capacity have the named limits below.

mod cache;
mod counts;
mod entries;
mod hash;
mod index;
mod key;
mod remote;
mod subject;
mod trie;

#[cfg(test)]
mod tests;

pub use self::counts::InterestCounts;
pub use self::index::{Matches, QueueMatches, SubjectIndex};
pub use self::remote::{RemoteInterest, RemoteMatches, RemoteQueue};
pub use self::subject::{
    is_valid_literal_subject, is_valid_queue_name, is_valid_subject, subject_matches_filter,
};

/// Cached subjects per index by default (nats-server uses 1024; a core serves many
/// connections, so it gets more).
pub const MATCH_CACHE_ENTRIES_MAX: usize = 4096;

/// A full cache drops 1/this of its bound in one sweep.
pub const MATCH_CACHE_EVICT_DIVISOR: usize = 4;

/// Reused traversal stacks larger than this (in frames) are freed after use, so one
/// absurdly deep subject does not pin memory.
pub const SCRATCH_ENTRIES_RETAINED_MAX: usize = 1024;

/// Reused key buffers larger than this are freed before the next use.
pub const KEY_SCRATCH_RETAINED_BYTES_MAX: usize = 4096;

/// Arena slots kept allocated once a trie becomes empty again.
pub const TRIE_SLOTS_RETAINED_WHEN_EMPTY: usize = 1024;

/// Entries on one filter (plain, or one queue group's members) that
/// [`SubjectIndex::remove_hashed`] scans; beyond this it keeps a position index, which it
/// drops again below half of this. At this size a scan of pointer-sized values costs
/// about what hashing one does.
pub const ENTRIES_SCANNED_MAX: usize = 64;

/// Why an entry was refused. The server answers both with `-ERR 'Invalid Subject'`.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexError {
    #[error("invalid subject")]
    InvalidSubject,
    #[error("invalid queue name")]
    InvalidQueue,
    /// The trie's node ids are 32-bit; unreachable before memory runs out.
    #[error("subject index full")]
    Full,
}
