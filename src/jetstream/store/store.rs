//! `MsgStore`: the in-memory state of one stream, for both storage types.
//!
//! Memory storage keeps every body and writes nothing. File storage also turns every
//! change into records for the segment log (drained with [`MsgStore::take_log`]) and keeps
//! only the newest bodies within `cache_bytes_max`; older ones are read back from disk at
//! the [`Location`] a [`MsgView`] gives.
//!
//! Every mutating call ends in `finish_op`, which writes the tombstones of what the call
//! removed: one `Delete` per message removed above the new first sequence, and one
//! `Purge` mark when the first sequence moved (a run of head removals costs one record,
//! whatever its length). Then it releases head segments that hold nothing live.

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use super::bounds::{LOST_SEQS_MAX, MSG_BODY_BYTES_MAX, SEQ_MAX, SUBJECT_BYTES_MAX};
use super::headers::{get_header, ROLLUP};
use super::index::{Entry, Location, SeqIndex};
use super::limits::{
    check_discard_new, check_msg_size, expiry_cutoff_ns, msg_size_bytes, over_bytes, over_msgs,
    over_subject, Admission,
};
use super::log::{LogBatch, SegmentLog, StreamMark};
use super::record::{decode_at, Record, RecordError};
use super::subjects::{Filter, SubjectTable};
use crate::routing::is_valid_subject;

/// Where a stream keeps its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StorageType {
    Memory,
    File,
}

/// What a full stream does with a new message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiscardPolicy {
    /// Store it and remove the oldest messages.
    Old,
    /// Refuse it.
    New,
}

/// The limits the store enforces. Values of 0 or -1 mean unlimited, as in nats-server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    pub storage: StorageType,
    pub max_msgs: i64,
    pub max_bytes: i64,
    pub max_age_ns: i64,
    pub max_msgs_per_subject: i64,
    pub max_msg_size: i32,
    pub discard: DiscardPolicy,
    pub discard_new_per_subject: bool,
    /// File storage: segment size before a new one starts (0: `SEGMENT_BYTES_DEFAULT`).
    pub segment_bytes_max: u64,
    /// File storage: bytes of bodies kept in memory (0: none, every read goes to disk).
    pub cache_bytes_max: u64,
    /// Sequence of the first message of a new stream (0 counts as 1; at most `SEQ_MAX`).
    pub first_seq: u64,
}

impl StoreConfig {
    /// No limits, discard old, default segment and cache sizes.
    pub fn new(storage: StorageType) -> Self {
        Self {
            storage,
            max_msgs: -1,
            max_bytes: -1,
            max_age_ns: 0,
            max_msgs_per_subject: -1,
            max_msg_size: -1,
            discard: DiscardPolicy::Old,
            discard_new_per_subject: false,
            segment_bytes_max: 0,
            cache_bytes_max: super::bounds::CACHE_BYTES_DEFAULT,
            first_seq: 1,
        }
    }
}

/// Why the store refused something. The display strings are nats-server's.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum StoreError {
    /// stream.go: headers + payload over `max_msg_size` (err_code 10054).
    #[error("message size exceeds maximum allowed")]
    MaxMsgSize,
    /// store.go `ErrMaxMsgs` (discard new; err_code 10077 carries it).
    #[error("maximum messages exceeded")]
    MaxMsgs,
    /// store.go `ErrMaxBytes`.
    #[error("maximum bytes exceeded")]
    MaxBytes,
    /// store.go `ErrMaxMsgsPerSubject`.
    #[error("maximum messages per subject exceeded")]
    MaxMsgsPerSubject,
    /// store.go `ErrMsgTooLarge`: beyond what a record holds (64 MiB body, 64 KiB subject).
    #[error("message too large")]
    MsgTooLarge,
    /// store.go `ErrSequenceMismatch`: a raw store not at the next sequence.
    #[error("expected sequence does not match store")]
    SequenceMismatch,
    #[error("invalid subject")]
    InvalidSubject,
    #[error("too many messages in one stream")]
    IndexFull,
    /// The stream reached `SEQ_MAX`.
    #[error("stream sequences exhausted")]
    SequencesExhausted,
    #[error("storage type cannot be changed")]
    StorageChanged,
    #[error("recovery needs file storage")]
    NotFileStorage,
    #[error("segment ids must increase: {next} after {previous}")]
    SegmentOrder { previous: u64, next: u64 },
}

impl StoreError {
    /// A discard-new limit refusal (PubAck error 10077 with this description).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            StoreError::MaxMsgs | StoreError::MaxBytes | StoreError::MaxMsgsPerSubject
        )
    }
}

/// A stored message's sequence and timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub ts_ns: i64,
}

/// What a call removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub msgs: u64,
    pub bytes: u64,
}

/// nats-server's `StreamState`, field for field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreState {
    pub messages: u64,
    pub bytes: u64,
    /// Lowest live sequence; `last_seq + 1` when the stream is empty.
    pub first_seq: u64,
    /// 0 when the stream is empty.
    pub first_ts_ns: i64,
    pub last_seq: u64,
    /// Kept when messages go (purge included); 0 before the first message.
    pub last_ts_ns: i64,
    pub num_subjects: u64,
    /// Sequences between first and last that hold no message.
    pub num_deleted: u64,
    /// Sequences whose records were found damaged, at recovery or when read back (never
    /// served).
    pub lost_msgs: Vec<u64>,
    pub lost_bytes: u64,
}

/// A message's body, in memory or on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MsgBody {
    Cached {
        headers: Bytes,
        payload: Bytes,
    },
    /// Read `len` bytes at `offset` of the segment and pass them to [`MsgView::verify_read`].
    OnDisk(Location),
}

/// What [`MsgStore::get`] knows about a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgView {
    pub seq: u64,
    pub ts_ns: i64,
    pub subject: Bytes,
    pub body: MsgBody,
}

/// A whole message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMsg {
    pub seq: u64,
    pub ts_ns: i64,
    pub subject: Bytes,
    pub headers: Bytes,
    pub payload: Bytes,
}

/// A disk read that does not hold the message asked for.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ReadError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("record read back is not message {seq}")]
    Mismatch { seq: u64 },
}

impl MsgView {
    /// The message, when its body is in memory.
    pub fn into_cached(self) -> Option<StoredMsg> {
        match self.body {
            MsgBody::Cached { headers, payload } => Some(StoredMsg {
                seq: self.seq,
                ts_ns: self.ts_ns,
                subject: self.subject,
                headers,
                payload,
            }),
            MsgBody::OnDisk(_) => None,
        }
    }

    /// Decodes the bytes read at this view's location and checks that they are this
    /// message (checksum, sequence, timestamp, subject): the read-back assertion.
    pub fn verify_read(&self, bytes: &[u8]) -> Result<StoredMsg, ReadError> {
        match decode_at(bytes)? {
            Record::Msg {
                seq,
                ts_ns,
                subject,
                headers,
                payload,
            } if seq == self.seq && ts_ns == self.ts_ns && subject == self.subject => {
                Ok(StoredMsg {
                    seq,
                    ts_ns,
                    subject,
                    headers,
                    payload,
                })
            }
            _ => Err(ReadError::Mismatch { seq: self.seq }),
        }
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct MsgStore {
    pub(super) cfg: StoreConfig,
    pub(super) index: SeqIndex,
    pub(super) subjects: SubjectTable,
    pub(super) bytes: u64,
    pub(super) last_seq: u64,
    pub(super) last_ts_ns: i64,
    /// File storage: bytes of bodies held (headers + payload).
    cached_bytes: u64,
    /// File storage: no live message below this holds its body (eviction goes oldest
    /// first and bodies are only added above every live message).
    cache_floor_seq: u64,
    /// File storage only.
    pub(super) log: Option<SegmentLog>,
    /// Lost sequences at or above the first sequence, at most `LOST_SEQS_MAX`.
    pub(super) lost: BTreeSet<u64>,
    pub(super) lost_bytes: u64,
    /// Sequences removed by the call under way, for the tombstones `finish_op` writes.
    pub(super) removed: Vec<u64>,
    removed_bytes: u64,
    /// Messages removed since the store was made (for consumers to notice removals).
    removals_total: u64,
    /// The call moved sequences without removing messages (skip, purge, compact past
    /// the end): `finish_op` must write a `Purge` mark.
    pub(super) mark_dirty: bool,
    /// The call emptied the stream on purpose: start a new segment so the old ones go.
    roll_requested: bool,
}

impl MsgStore {
    /// A new, empty stream. File storage starts segment 1 (drain it with `take_log`).
    pub fn new(cfg: StoreConfig) -> Self {
        let mut store = Self::unlogged(cfg);
        if store.cfg.storage == StorageType::File {
            let mark = store.mark();
            store.log = Some(SegmentLog::create(1, mark, store.cfg.segment_bytes_max));
        }
        store
    }

    /// A store without a segment log (memory storage, or file storage being recovered).
    pub(super) fn unlogged(cfg: StoreConfig) -> Self {
        let last_seq = cfg.first_seq.clamp(1, SEQ_MAX) - 1;
        Self {
            cfg,
            index: SeqIndex::default(),
            subjects: SubjectTable::default(),
            bytes: 0,
            last_seq,
            last_ts_ns: 0,
            cached_bytes: 0,
            cache_floor_seq: 0,
            log: None,
            lost: BTreeSet::new(),
            lost_bytes: 0,
            removed: Vec::new(),
            removed_bytes: 0,
            removals_total: 0,
            mark_dirty: false,
            roll_requested: false,
        }
    }

    /// Whether anything is waiting in the log for [`MsgStore::take_log`].
    pub fn take_log_is_empty(&self) -> bool {
        self.log.as_ref().is_none_or(|log| !log.has_pending())
    }

    /// Messages removed so far (deletes, purges, limits, expiry): a consumer that saw a
    /// different count rechecks what it holds.
    pub fn removals(&self) -> u64 {
        self.removals_total
    }

    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    fn first_seq(&self) -> u64 {
        self.index.first_seq().unwrap_or(self.last_seq + 1)
    }

    pub(super) fn mark(&self) -> StreamMark {
        StreamMark {
            first_seq: self.first_seq(),
            last_seq: self.last_seq,
            last_ts_ns: self.last_ts_ns,
        }
    }

    fn entry_size(&self, entry: &Entry) -> u64 {
        let subject_len = self.subjects.slot(entry.subject).subject.len();
        msg_size_bytes(
            self.cfg.storage,
            subject_len,
            entry.headers_len as usize,
            entry.payload_len as usize,
        )
    }

    fn keeps_bodies(&self) -> bool {
        self.cfg.storage == StorageType::Memory || self.cfg.cache_bytes_max > 0
    }

    // ---------------------------------------------------------------- appends

    /// Stores a message at the next sequence, stamped `now_ns` (nats-server `StoreMsg`):
    /// checks `max_msg_size` and the discard-new limits, stores, then applies the
    /// per-subject limit and the discard-old limits. The store keeps its own copy of the
    /// body (one allocation), so it never pins the client's read buffer.
    pub fn append(
        &mut self,
        subject: Bytes,
        headers: Bytes,
        payload: Bytes,
        now_ns: i64,
    ) -> Result<Appended, StoreError> {
        self.store_raw(0, now_ns, &subject, &headers, &payload, true)
    }

    /// nats-server `StoreRawMsg`: stores at `seq` (0: the next one; otherwise it must be
    /// the next one) with the given timestamp. `discard_new_check` false skips the
    /// discard-new checks (replicated and mirrored streams decide those upstream).
    pub fn store_raw(
        &mut self,
        seq: u64,
        ts_ns: i64,
        subject: &[u8],
        headers: &[u8],
        payload: &[u8],
        discard_new_check: bool,
    ) -> Result<Appended, StoreError> {
        if subject.len() > SUBJECT_BYTES_MAX {
            return Err(StoreError::MsgTooLarge);
        }
        if !is_valid_subject(subject) {
            return Err(StoreError::InvalidSubject);
        }
        check_msg_size(&self.cfg, headers.len(), payload.len())?;
        if headers.len() + payload.len() > MSG_BODY_BYTES_MAX {
            return Err(StoreError::MsgTooLarge);
        }
        let new_size = msg_size_bytes(
            self.cfg.storage,
            subject.len(),
            headers.len(),
            payload.len(),
        );
        // Only discard new refuses messages; skip the header scan otherwise.
        if discard_new_check && self.cfg.discard == DiscardPolicy::New {
            let subject_seqs = self
                .subjects
                .id_of(subject)
                .map(|id| &self.subjects.slot(id).seqs);
            let subject_first_size = subject_seqs
                .and_then(|seqs| seqs.front())
                .and_then(|&first| self.index.get(first))
                .map_or(0, |entry| self.entry_size(entry));
            let admission = Admission {
                msgs: self.index.len(),
                bytes: self.bytes,
                subject_msgs: subject_seqs.map_or(0, |seqs| seqs.len() as u64),
                subject_first_size,
                new_size,
                rollup: get_header(headers, ROLLUP).is_some_and(|value| !value.is_empty()),
            };
            check_discard_new(&self.cfg, &admission)?;
        }
        if self.last_seq >= SEQ_MAX {
            return Err(StoreError::SequencesExhausted);
        }
        let seq = match seq {
            0 => self.last_seq + 1,
            seq if seq == self.last_seq + 1 => seq,
            _ => return Err(StoreError::SequenceMismatch),
        };
        if self.index.is_full() {
            return Err(StoreError::IndexFull);
        }

        let mark = self.mark();
        let location = match self.log.as_mut() {
            Some(log) => log.append_msg(mark, seq, ts_ns, subject, headers, payload),
            None => Location::default(),
        };
        let body = self.keeps_bodies().then(|| join_body(headers, payload));
        let subject_id = self.insert(
            seq,
            ts_ns,
            subject,
            headers.len(),
            payload.len(),
            location,
            body,
        );
        self.enforce_subject_limit(subject_id);
        self.enforce_msgs_and_bytes();
        self.finish_op();
        Ok(Appended { seq, ts_ns })
    }

    /// Adds a message above every live one; no limits, no log. Returns its subject id.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert(
        &mut self,
        seq: u64,
        ts_ns: i64,
        subject: &[u8],
        headers_len: usize,
        payload_len: usize,
        location: Location,
        body: Option<Bytes>,
    ) -> u32 {
        debug_assert!(seq > self.last_seq || self.index.last_seq().is_none_or(|last| seq > last));
        let subject_id = self.subjects.push(subject, seq);
        if self.cfg.storage == StorageType::File {
            self.cached_bytes += body.as_ref().map_or(0, |body| body.len() as u64);
        }
        // Lengths are bounded by MSG_BODY_BYTES_MAX (checked by callers, or by the
        // record decoder during recovery), which fits u32.
        self.index.push(
            seq,
            Entry {
                ts_ns,
                subject: subject_id,
                headers_len: headers_len as u32,
                payload_len: payload_len as u32,
                location,
                body,
            },
        );
        self.bytes += msg_size_bytes(self.cfg.storage, subject.len(), headers_len, payload_len);
        self.last_seq = self.last_seq.max(seq);
        self.last_ts_ns = ts_ns;
        self.evict_cache();
        subject_id
    }

    /// nats-server `SkipMsg`: uses up the next sequence without storing anything (the
    /// last timestamp is set only if there was none). Returns the sequence.
    pub fn skip(&mut self, now_ns: i64) -> Result<u64, StoreError> {
        if self.last_seq >= SEQ_MAX {
            return Err(StoreError::SequencesExhausted);
        }
        let before = self.mark();
        self.last_seq += 1;
        let seq = self.last_seq;
        let ts_changed = self.last_ts_ns == 0;
        if ts_changed {
            self.last_ts_ns = now_ns;
        }
        let after = self.mark();
        if let Some(log) = self.log.as_mut() {
            // A segment started for these records must describe the stream before the
            // skip: its `last_seq` may not run ahead of the record that explains it, or
            // recovery would take the skipped sequence for a lost message.
            let purge = Record::Purge {
                first_seq: after.first_seq,
                last_seq: after.last_seq,
                last_ts_ns: after.last_ts_ns,
            };
            if self.index.len() == 0 {
                // Empty: the mark moves first past the skipped sequence too.
                log.append(&purge, before);
            } else {
                // A tombstone past the last sequence uses the sequence up.
                log.append(&Record::Delete { seq }, before);
                if ts_changed {
                    log.append(&purge, after);
                }
            }
            // The records may have started a segment, behind which an empty head can go.
            log.release_heads();
        }
        Ok(seq)
    }

    // ---------------------------------------------------------------- removals

    /// Removes one live message (bookkeeping only; `finish_op` writes the tombstone).
    pub(super) fn remove_one(&mut self, seq: u64) -> bool {
        let Some(entry) = self.index.remove(seq) else {
            return false;
        };
        // The size needs the subject, so take it before the subject may be freed.
        let size = self.entry_size(&entry);
        self.subjects.remove(entry.subject, seq);
        assert!(self.bytes >= size, "byte accounting underflow");
        self.bytes -= size;
        if self.cfg.storage == StorageType::File {
            let body_len = entry.body.as_ref().map_or(0, |body| body.len() as u64);
            self.cached_bytes -= body_len;
        }
        if let Some(log) = self.log.as_mut() {
            log.remove_live(entry.location.segment);
        }
        self.removed.push(seq);
        self.removed_bytes += size;
        true
    }

    /// Removes every live message below `first_seq`.
    pub(super) fn remove_below(&mut self, first_seq: u64) {
        while let Some(first) = self.index.first_seq().filter(|&first| first < first_seq) {
            self.remove_one(first);
        }
    }

    /// The subject's oldest messages go while it is over `max_msgs_per_subject`.
    fn enforce_subject_limit(&mut self, subject_id: u32) {
        loop {
            let seqs = &self.subjects.slot(subject_id).seqs;
            if !over_subject(&self.cfg, seqs.len() as u64) {
                return;
            }
            // Over a limit of at least 1, so the subject has a message and stays
            // allocated to this id while we trim it.
            let oldest = *seqs.front().expect("subject over its limit has messages");
            self.remove_one(oldest);
        }
    }

    /// Discard old: the oldest messages go while over `max_msgs`, then `max_bytes`.
    pub(super) fn enforce_msgs_and_bytes(&mut self) {
        while over_msgs(&self.cfg, self.index.len()) {
            self.remove_first();
        }
        while over_bytes(&self.cfg, self.bytes) {
            self.remove_first();
        }
    }

    fn remove_first(&mut self) {
        // Over a positive limit means at least one live message.
        let first = self
            .index
            .first_seq()
            .expect("over a limit with no messages");
        self.remove_one(first);
    }

    /// Applies the per-subject limit to every subject (after a config change).
    pub(super) fn enforce_all_subject_limits(&mut self) {
        if self.cfg.max_msgs_per_subject <= 0 {
            return;
        }
        let over: Vec<u32> = self
            .subjects
            .matching(&Filter::All)
            .filter(|(_, slot)| over_subject(&self.cfg, slot.seqs.len() as u64))
            .map(|(id, _)| id)
            .collect();
        for id in over {
            self.enforce_subject_limit(id);
        }
    }

    /// Removes message `seq` (MSG.DELETE, acks); false if it is not stored.
    pub fn delete(&mut self, seq: u64) -> bool {
        let removed = self.remove_one(seq);
        self.finish_op();
        removed
    }

    /// Removes message `seq` whose record failed its check when read back (damaged on
    /// disk after recovery verified it): it is counted as lost, as recovery counts the
    /// records it finds damaged, so readers move past it instead of retrying it forever.
    /// False if it is not stored.
    pub fn forget_damaged(&mut self, seq: u64) -> bool {
        let Some(size) = self.index.get(seq).map(|entry| self.entry_size(entry)) else {
            return false;
        };
        let removed = self.remove_one(seq);
        debug_assert!(removed);
        self.note_lost(seq);
        self.lost_bytes = self.lost_bytes.saturating_add(size);
        self.finish_op();
        true
    }

    /// nats-server `PurgeEx` (ADR-10): removes messages on subjects matching `filter`
    /// (`None`, empty or `>`: all), below `up_to_seq` (exclusive) if given, keeping the
    /// newest `keep` matching messages if given. Without filter, seq and keep it is a full
    /// purge; with only `up_to_seq` it is `compact`. Returns how many were removed.
    pub fn purge(
        &mut self,
        filter: Option<&[u8]>,
        up_to_seq: Option<u64>,
        keep: Option<u64>,
    ) -> u64 {
        let sequence = up_to_seq.unwrap_or(0);
        let keep = keep.unwrap_or(0);
        if sequence == 1 {
            return 0;
        }
        let filter = Filter::new(filter.unwrap_or_default());
        if let Filter::All = filter {
            if keep == 0 && sequence == 0 {
                return self.purge_all(0);
            }
            if sequence > 1 {
                return self.compact(sequence);
            }
        }
        let total = self.count_matching(&filter, 0);
        if total == 0 {
            return 0;
        }
        let max_purged = match keep {
            0 => u64::MAX,
            keep if keep >= total => return 0,
            keep => total - keep,
        };
        let below = if sequence > 1 { sequence } else { u64::MAX };
        let victims = self.matching_seqs_below(&filter, below, max_purged);
        for &seq in &victims {
            self.remove_one(seq);
        }
        self.finish_op();
        victims.len() as u64
    }

    /// Sequences of messages matching `filter` below `below`, oldest first, at most `max`.
    fn matching_seqs_below(&self, filter: &Filter<'_>, below: u64, max: u64) -> Vec<u64> {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        match filter {
            Filter::All => self
                .index
                .iter_from(0)
                .map(|(seq, _)| seq)
                .take_while(|&seq| seq < below)
                .take(max)
                .collect(),
            _ => {
                let mut seqs: Vec<u64> = self
                    .subjects
                    .matching(filter)
                    .flat_map(|(_, slot)| slot.seqs.iter().copied().take_while(|&seq| seq < below))
                    .collect();
                seqs.sort_unstable();
                seqs.truncate(max);
                seqs
            }
        }
    }

    /// nats-server `Compact`: removes every message below `seq`. Past the last sequence
    /// it empties the stream and makes `seq` the next sequence (at most `SEQ_MAX`); 0 is
    /// a full purge.
    pub fn compact(&mut self, seq: u64) -> u64 {
        let seq = seq.min(SEQ_MAX);
        if seq == 0 || seq > self.last_seq {
            return self.purge_all(seq);
        }
        if self.first_seq() > seq {
            return 0;
        }
        let before = self.removed.len();
        self.remove_below(seq);
        let purged = (self.removed.len() - before) as u64;
        self.finish_op();
        purged
    }

    /// Empties the stream; a `next_seq` past the last sequence becomes the next one.
    fn purge_all(&mut self, next_seq: u64) -> u64 {
        let purged = self.index.len();
        let old_last = self.last_seq;
        self.index.clear();
        self.subjects.clear();
        self.removed_bytes += self.bytes;
        self.bytes = 0;
        self.cached_bytes = 0;
        if next_seq > self.last_seq + 1 {
            self.last_seq = next_seq - 1;
        }
        self.lost.clear();
        self.lost_bytes = 0;
        if let Some(log) = self.log.as_mut() {
            log.clear_live();
        }
        if purged > 0 || self.last_seq != old_last {
            self.mark_dirty = true;
            self.roll_requested = true;
        }
        self.finish_op();
        purged
    }

    /// Removes the messages that outlived `max_age` (`ts <= now - max_age`, oldest
    /// first, stopping at the first younger one as nats-server does).
    pub fn expire(&mut self, now_ns: i64) -> u64 {
        let before = self.removed.len();
        self.expire_due(now_ns);
        let expired = (self.removed.len() - before) as u64;
        self.finish_op();
        expired
    }

    fn expire_due(&mut self, now_ns: i64) {
        let Some(cutoff) = expiry_cutoff_ns(&self.cfg, now_ns) else {
            return;
        };
        while let Some(first) = self.index.first_seq() {
            // The index's first sequence is live.
            let ts_ns = self.index.get(first).map_or(i64::MAX, |entry| entry.ts_ns);
            if ts_ns > cutoff {
                break;
            }
            self.remove_one(first);
        }
    }

    /// When the oldest message outlives `max_age` (for the driver's timer).
    pub fn next_expiry_ns(&self) -> Option<i64> {
        if self.cfg.max_age_ns <= 0 {
            return None;
        }
        let first = self.index.get(self.index.first_seq()?)?;
        Some(first.ts_ns.saturating_add(self.cfg.max_age_ns))
    }

    /// Applies new limits (nats-server `UpdateConfig`, in its order): discard-old message
    /// and byte limits, the per-subject limit when it shrank or appeared, then `max_age`.
    /// The storage type cannot change; `first_seq` only matters to a new stream.
    pub fn update_config(&mut self, cfg: StoreConfig, now_ns: i64) -> Result<Removed, StoreError> {
        if cfg.storage != self.cfg.storage {
            return Err(StoreError::StorageChanged);
        }
        let old_per_subject = self.cfg.max_msgs_per_subject;
        self.cfg = cfg;
        if let Some(log) = self.log.as_mut() {
            log.set_segment_bytes_max(self.cfg.segment_bytes_max);
        }
        let before = self.removed.len();
        self.removed_bytes = 0;
        self.enforce_msgs_and_bytes();
        let per_subject = self.cfg.max_msgs_per_subject;
        if per_subject > 0 && (old_per_subject <= 0 || per_subject < old_per_subject) {
            self.enforce_all_subject_limits();
        }
        self.expire_due(now_ns);
        self.evict_cache();
        let removed = Removed {
            msgs: (self.removed.len() - before) as u64,
            bytes: self.removed_bytes,
        };
        self.finish_op();
        Ok(removed)
    }

    /// Ends every mutating call: writes the tombstones of what it removed, forgets lost
    /// sequences the stream moved past, releases empty head segments.
    pub(super) fn finish_op(&mut self) {
        self.removals_total += self.removed.len() as u64;
        let first_seq = self.first_seq();
        let mark = self.mark();
        let mut removed = std::mem::take(&mut self.removed);
        if let Some(log) = self.log.as_mut() {
            let mut head_moved = self.mark_dirty;
            for &seq in &removed {
                if seq < first_seq {
                    head_moved = true;
                } else {
                    log.append(&Record::Delete { seq }, mark);
                }
            }
            if head_moved {
                if self.roll_requested && log.active_has_records() {
                    // The new segment's SegmentStart says what a Purge would.
                    log.roll(mark);
                } else {
                    log.append(
                        &Record::Purge {
                            first_seq: mark.first_seq,
                            last_seq: mark.last_seq,
                            last_ts_ns: mark.last_ts_ns,
                        },
                        mark,
                    );
                }
            }
            log.release_heads();
            debug_assert_eq!(log.live_total(), self.index.len(), "segment live counts");
        }
        if self.lost.first().is_some_and(|&lost| lost < first_seq) {
            self.lost = self.lost.split_off(&first_seq);
        }
        if self.lost.is_empty() {
            self.lost_bytes = 0;
        }
        removed.clear();
        self.removed = removed;
        self.removed_bytes = 0;
        self.mark_dirty = false;
        self.roll_requested = false;
        debug_assert!(
            self.cfg.storage == StorageType::Memory
                || self.cached_bytes <= self.cfg.cache_bytes_max
        );
    }

    /// File storage: drops the oldest cached bodies while over `cache_bytes_max`.
    fn evict_cache(&mut self) {
        if self.cfg.storage != StorageType::File {
            return;
        }
        while self.cached_bytes > self.cfg.cache_bytes_max {
            let Some(seq) = self.index.next_live(self.cache_floor_seq) else {
                debug_assert!(false, "cached bytes with no message to hold them");
                self.cached_bytes = 0;
                return;
            };
            if let Some(body) = self.index.get_mut(seq).and_then(|entry| entry.body.take()) {
                self.cached_bytes -= body.len() as u64;
            }
            self.cache_floor_seq = seq + 1;
        }
    }

    /// Bytes of bodies held in memory (file storage).
    pub fn cached_bytes(&self) -> u64 {
        self.cached_bytes
    }

    // ---------------------------------------------------------------- log

    /// The records and segment operations produced since the last call (always empty
    /// for memory storage). See `LogOp` for the order and durability rules.
    pub fn take_log(&mut self) -> LogBatch {
        self.log.as_mut().map(SegmentLog::take).unwrap_or_default()
    }

    /// Hands a drained batch back so its buffers are reused.
    pub fn recycle_log(&mut self, batch: LogBatch) {
        if let Some(log) = self.log.as_mut() {
            log.recycle(batch);
        }
    }

    /// Where the log ends once everything taken so far is written: the active segment,
    /// its length and the last sequence (file storage). Recorded as the synced point
    /// after the fsync that covers it.
    pub fn log_point(&self) -> Option<super::synced::SyncedPoint> {
        let log = self.log.as_ref()?;
        let active = log.segments().last()?;
        Some(super::synced::SyncedPoint {
            segment: active.id,
            len_bytes: active.len_bytes,
            last_seq: self.last_seq,
        })
    }

    /// Segments on disk as the store sees them: (id, length, live messages), oldest first.
    pub fn segments(&self) -> Vec<(u64, u64, u64)> {
        self.log.as_ref().map_or_else(Vec::new, |log| {
            log.segments()
                .map(|info| (info.id, info.len_bytes, info.live_msgs))
                .collect()
        })
    }

    // ---------------------------------------------------------------- queries

    /// The frame at `location` while it is not written yet (logged since the last
    /// `take_log`): read it from here, its file does not hold it.
    pub fn pending_frame(&self, location: Location) -> Option<&[u8]> {
        self.log.as_ref()?.pending_frame(location)
    }

    /// Where message `seq` lives on disk (file storage), cached or not: for overwriting its
    /// bytes when it is erased, and for telling whether it moved during a read.
    pub fn location(&self, seq: u64) -> Option<Location> {
        let entry = self.index.get(seq)?;
        (self.cfg.storage == StorageType::File).then_some(entry.location)
    }

    /// The message at `seq`, if stored.
    pub fn get(&self, seq: u64) -> Option<MsgView> {
        let entry = self.index.get(seq)?;
        let subject = self.subjects.slot(entry.subject).subject.clone();
        let body = match &entry.body {
            Some(body) => {
                let headers_len = entry.headers_len as usize;
                MsgBody::Cached {
                    headers: body.slice(..headers_len),
                    payload: body.slice(headers_len..),
                }
            }
            None => MsgBody::OnDisk(entry.location),
        };
        Some(MsgView {
            seq,
            ts_ns: entry.ts_ns,
            subject,
            body,
        })
    }

    /// Appends the newest sequence of every subject matching `filter` (any order), for a
    /// consumer's `deliver_policy: last_per_subject`.
    pub fn last_seqs_per_subject(&self, filter: &[u8], out: &mut Vec<u64>) {
        let filter = Filter::new(filter);
        out.extend(
            self.subjects
                .matching(&filter)
                .filter_map(|(_, slot)| slot.seqs.back().copied()),
        );
    }

    /// The first live sequence stored at or after `ts_ns` (`last_seq + 1` when none is),
    /// for a consumer's `deliver_policy: by_start_time`. Timestamps grow with sequences
    /// (appends take the current time, and the clock going back is clamped by `append`
    /// only per message), so a binary search over the live range finds it; a clock step
    /// backwards can make the answer a little early, never late.
    pub fn first_seq_at_or_after_time(&self, ts_ns: i64) -> u64 {
        let (Some(first), Some(last)) = (self.index.first_seq(), self.index.last_seq()) else {
            return self.last_seq + 1;
        };
        let (mut low, mut high) = (first, last + 1);
        while low < high {
            let mid = low + (high - low) / 2;
            // The live message at or after `mid` stands for it (gaps are deleted messages).
            let probe = self.index.next_live(mid).filter(|seq| *seq <= last);
            match probe.and_then(|seq| self.index.get(seq).map(|e| (seq, e.ts_ns))) {
                Some((_, ts)) if ts < ts_ns => low = mid + 1,
                _ => high = mid,
            }
        }
        match self.index.next_live(low).filter(|seq| *seq <= last) {
            Some(seq) => seq,
            None => self.last_seq + 1,
        }
    }

    /// The highest sequence on a subject matching `filter` (wildcards allowed).
    pub fn last_for(&self, filter: &[u8]) -> Option<u64> {
        let filter = Filter::new(filter);
        match filter {
            Filter::All => self.index.last_seq(),
            _ => self
                .subjects
                .matching(&filter)
                .filter_map(|(_, slot)| slot.seqs.back().copied())
                .max(),
        }
    }

    /// The first sequence at or above `start_seq` on a subject matching `filter`.
    pub fn next_for(&self, start_seq: u64, filter: &[u8]) -> Option<u64> {
        let filter = Filter::new(filter);
        match filter {
            Filter::All => self.index.next_live(start_seq),
            Filter::Literal(_) => self
                .subjects
                .matching(&filter)
                .find_map(|(_, slot)| first_at_or_above(&slot.seqs, start_seq)),
            Filter::Wildcard(_) => {
                // Walk the sequences when that is cheaper than asking every subject.
                let span = self
                    .index
                    .last_seq()
                    .map_or(0, |last| last.saturating_sub(start_seq) + 1);
                if span <= self.subjects.len() as u64 {
                    self.index
                        .iter_from(start_seq)
                        .find(|(_, entry)| {
                            filter.matches(&self.subjects.slot(entry.subject).subject)
                        })
                        .map(|(seq, _)| seq)
                } else {
                    self.subjects
                        .matching(&filter)
                        .filter_map(|(_, slot)| first_at_or_above(&slot.seqs, start_seq))
                        .min()
                }
            }
        }
    }

    /// The last sequence stored on exactly `subject` (for
    /// `Nats-Expected-Last-Subject-Sequence`); `None` when there is none (purges count).
    pub fn last_seq_for_subject(&self, subject: &[u8]) -> Option<u64> {
        let id = self.subjects.id_of(subject)?;
        self.subjects.slot(id).seqs.back().copied()
    }

    /// Messages per subject matching `filter`, sorted by subject (STREAM.INFO
    /// `subjects_filter`).
    pub fn subject_counts(&self, filter: &[u8]) -> Vec<(Bytes, u64)> {
        let filter = Filter::new(filter);
        let mut counts: Vec<(Bytes, u64)> = self
            .subjects
            .matching(&filter)
            .map(|(_, slot)| (slot.subject.clone(), slot.seqs.len() as u64))
            .collect();
        counts.sort_unstable();
        counts
    }

    /// Messages at or above `from_seq` on subjects matching `filter`.
    pub fn num_pending(&self, from_seq: u64, filter: &[u8]) -> u64 {
        self.count_matching(&Filter::new(filter), from_seq)
    }

    fn count_matching(&self, filter: &Filter<'_>, from_seq: u64) -> u64 {
        let count_subject = |seqs: &std::collections::VecDeque<u64>| {
            (seqs.len() - seqs.partition_point(|&seq| seq < from_seq)) as u64
        };
        match filter {
            Filter::All => {
                if from_seq <= self.first_seq() {
                    self.index.len()
                } else if self.index.span() <= self.subjects.len() as u64 {
                    self.index.count_from(from_seq)
                } else {
                    self.subjects
                        .matching(filter)
                        .map(|(_, slot)| count_subject(&slot.seqs))
                        .sum()
                }
            }
            _ => self
                .subjects
                .matching(filter)
                .map(|(_, slot)| count_subject(&slot.seqs))
                .sum(),
        }
    }

    /// Sequences between the first and the last that hold no message, ascending
    /// (STREAM.INFO `deleted_details`).
    pub fn deleted(&self) -> Vec<u64> {
        let Some(last_live) = self.index.last_seq() else {
            return Vec::new();
        };
        self.index
            .gaps()
            .chain(last_live + 1..=self.last_seq)
            .collect()
    }

    /// nats-server's `State()`.
    pub fn state(&self) -> StoreState {
        let messages = self.index.len();
        let first_seq = self.first_seq();
        let first_ts_ns = self
            .index
            .first_seq()
            .and_then(|first| self.index.get(first))
            .map_or(0, |entry| entry.ts_ns);
        let span = (self.last_seq + 1).saturating_sub(first_seq);
        StoreState {
            messages,
            bytes: self.bytes,
            first_seq,
            first_ts_ns,
            last_seq: self.last_seq,
            last_ts_ns: self.last_ts_ns,
            num_subjects: self.subjects.len() as u64,
            num_deleted: span.saturating_sub(messages),
            lost_msgs: self.lost.iter().copied().collect(),
            lost_bytes: self.lost_bytes,
        }
    }

    /// Records a lost sequence (recovery), within `LOST_SEQS_MAX`.
    pub(super) fn note_lost(&mut self, seq: u64) {
        if self.lost.len() < LOST_SEQS_MAX {
            self.lost.insert(seq);
        }
    }
}

fn first_at_or_above(seqs: &std::collections::VecDeque<u64>, start_seq: u64) -> Option<u64> {
    seqs.get(seqs.partition_point(|&seq| seq < start_seq))
        .copied()
}

/// Headers then payload in one buffer of the store's own.
pub(super) fn join_body(headers: &[u8], payload: &[u8]) -> Bytes {
    let mut body = BytesMut::with_capacity(headers.len() + payload.len());
    body.put_slice(headers);
    body.put_slice(payload);
    body.freeze()
}
