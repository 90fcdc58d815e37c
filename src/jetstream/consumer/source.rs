//! What a consumer asks of its stream. The stream's owner implements [`MessageSource`] over
//! its `MsgStore`; tests implement it over a `Vec`.

use bytes::Bytes;

/// nats-server's `FastState`, the three numbers a consumer needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamBounds {
    /// Lowest live sequence; `last_seq + 1` when the stream is empty (1 for a new stream).
    pub first_seq: u64,
    /// Highest sequence ever assigned (kept when messages go); 0 before the first message.
    pub last_seq: u64,
    /// Live messages.
    pub messages: u64,
}

/// Read-only queries on the stream. An empty `filter` means every subject; a non-empty one
/// is a valid subject filter (wildcards allowed).
pub trait MessageSource {
    fn bounds(&self) -> StreamBounds;

    /// The first live sequence at or above `start_seq` on a subject matching `filter`
    /// (`MsgStore::next_for`).
    fn next_matching(&self, start_seq: u64, filter: &[u8]) -> Option<u64>;

    /// The highest live sequence on a subject matching `filter` (`MsgStore::last_for`).
    fn last_matching(&self, filter: &[u8]) -> Option<u64>;

    /// Live messages at or above `from_seq` on subjects matching `filter`
    /// (`MsgStore::num_pending`).
    fn num_matching_from(&self, from_seq: u64, filter: &[u8]) -> u64;

    /// Appends the last sequence of every subject matching `filter`, in any order
    /// (nats-server's `MultiLastSeqs`), for `deliver_policy: last_per_subject`.
    fn last_seqs_per_subject(&self, filter: &[u8], out: &mut Vec<u64>);

    /// The first sequence whose timestamp is at or after `ts_ns` (`last_seq + 1` when
    /// none is), nats-server's `GetSeqFromTime`, for `deliver_policy: by_start_time`.
    fn first_seq_at_or_after_time(&self, ts_ns: i64) -> u64;

    /// The subject of live message `seq`.
    fn subject(&self, seq: u64) -> Option<Bytes>;

    /// Is `seq` still a live message?
    fn contains(&self, seq: u64) -> bool;
}
