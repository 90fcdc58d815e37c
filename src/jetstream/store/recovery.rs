//! Rebuilding a file-storage stream from its scanned segments.
//!
//! Records are replayed in log order (segments by id, records by offset):
//!
//! - `SegmentStart {first, last}`: every sequence below `first` was gone when the segment
//!   started (a live one means its tombstone was damaged: it goes now), and `last` was
//!   the last sequence. In the log's very first record this is how sequences of removed
//!   head segments are known; later, a `last` beyond the replay means message records
//!   before it were damaged: those sequences are lost.
//! - `Msg`: stored. A sequence jump means the messages in between were damaged: lost.
//!   A sequence at or below one already seen contradicts the log and is skipped.
//! - `Delete`: removes the message (or forgets it as lost: it was deleted anyway). Past
//!   the last sequence it is a `skip` (or the tombstone of a damaged message): the last
//!   sequence moves to it, and any sequences jumped before it are lost.
//! - `Purge {first, last}`: removes everything below `first`. A `last` beyond the replay
//!   means damaged records again: the sequences skipped at or above `first` are lost
//!   (a compaction past the end skips only sequences below its `first`, and `skip`
//!   writes a `Delete` for the sequence it uses up).
//!
//! Lost sequences below the final first sequence are dropped from the store's state
//! (they are listed in the report), as runtime forgets them when the stream moves past.
//!
//! Damaged records found after the last record that carries a sequence may have been
//! messages that nothing later accounts for. Rather than hand out their sequences again,
//! recovery reserves as many sequences as the damaged bytes could have held and lists
//! them as lost: a gap is harmless, a reused sequence is not. A torn tail was never
//! acknowledged (the driver syncs before it acks), so it reserves nothing.
//!
//! The last segment stays active and is appended to at its valid length; when it lacks
//! a `SegmentStart` at offset 0 (empty after a crash, or its first record damaged) the
//! start is written into the empty segment, or a new segment is started.

use std::collections::VecDeque;

use bytes::Bytes;

use super::bounds::{DEDUP_IDS_MAX, LOST_SEQS_MAX, MSG_FRAME_MIN_BYTES, SEQ_MAX};
use super::dedup::RecoveredMsgId;
use super::headers::{get_header, MSG_ID};
use super::index::Location;
use super::log::{SegmentInfo, SegmentLog};
use super::record::{CorruptRecord, Record, SegmentScan};
use super::store::{join_body, MsgStore, StorageType, StoreConfig, StoreError};
use super::synced::{self, SyncedPoint, TailLoss};

/// A verified record that contradicts the log (a message sequence not above the last).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MisplacedRecord {
    pub segment: u64,
    pub offset: u64,
    pub seq: u64,
}

/// What recovery found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// (segment, valid length): truncate each of these files there. The last one is
    /// appended to from that length.
    pub torn_tails: Vec<(u64, u64)>,
    /// Damaged stretches skipped, by segment.
    pub corrupt: Vec<(u64, CorruptRecord)>,
    pub misplaced: Vec<MisplacedRecord>,
    /// Sequences whose messages were damaged (never served), ascending.
    pub lost_msgs: Vec<u64>,
    /// Bytes of the damaged stretches.
    pub lost_bytes: u64,
    /// The log ends before the recorded synced point: acknowledged data is gone (its
    /// sequences are in `lost_msgs`, its bytes counted in `lost_bytes`).
    pub tail_loss: Option<TailLoss>,
    /// `Nats-Msg-Id`s of the newest stored messages (at most `DEDUP_IDS_MAX`), in
    /// sequence order, for `DedupWindow::rebuild`.
    pub msg_ids: Vec<RecoveredMsgId>,
}

struct Replay {
    report: RecoveryReport,
    /// Some record has been replayed (the first one of the log is special).
    seen_record: bool,
    /// Sequences damaged records may have held, not yet accounted for by a later
    /// record that carries a sequence.
    unexplained_seqs: u64,
    msg_ids: VecDeque<RecoveredMsgId>,
}

impl Replay {
    fn corrupt(&mut self, segment: u64, corrupt: CorruptRecord) {
        self.report.lost_bytes += corrupt.len_guess;
        self.unexplained_seqs += (corrupt.len_guess / MSG_FRAME_MIN_BYTES).max(1);
        self.report.corrupt.push((segment, corrupt));
    }

    /// Moves the last sequence to `last_seq`; the sequences skipped over at or above
    /// `lost_from` are lost.
    fn advance(store: &mut MsgStore, last_seq: u64, last_ts_ns: i64, lost_from: Option<u64>) {
        if last_seq < store.last_seq {
            return;
        }
        if let Some(lost_from) = lost_from {
            // A sequence jump is bounded by what was written, but the list is bounded
            // by LOST_SEQS_MAX whatever the log claims.
            let room = LOST_SEQS_MAX.saturating_sub(store.lost.len());
            for seq in ((store.last_seq + 1).max(lost_from)..=last_seq).take(room) {
                store.note_lost(seq);
            }
        }
        store.last_seq = last_seq;
        store.last_ts_ns = last_ts_ns;
    }

    /// Everything below `first_seq` is gone.
    fn forget_below(store: &mut MsgStore, first_seq: u64) {
        store.remove_below(first_seq);
        store.lost = store.lost.split_off(&first_seq);
    }

    fn record(&mut self, store: &mut MsgStore, segment: u64, offset: u64, record: Record) {
        let first_record = !self.seen_record;
        self.seen_record = true;
        match record {
            Record::SegmentStart {
                first_seq,
                last_seq,
                last_ts_ns,
            } => {
                let lost_from = (!first_record).then_some(first_seq);
                Self::advance(store, last_seq, last_ts_ns, lost_from);
                Self::forget_below(store, first_seq);
                self.unexplained_seqs = 0;
            }
            Record::Purge {
                first_seq,
                last_seq,
                last_ts_ns,
            } => {
                Self::advance(store, last_seq, last_ts_ns, Some(first_seq));
                Self::forget_below(store, first_seq);
                self.unexplained_seqs = 0;
            }
            Record::Delete { seq } => {
                if seq > store.last_seq {
                    // The deleted message's own record was damaged; so may others be.
                    let last_ts_ns = store.last_ts_ns;
                    Self::advance(store, seq - 1, last_ts_ns, Some(0));
                    store.last_seq = seq;
                    self.unexplained_seqs = 0;
                } else if !store.remove_one(seq) {
                    store.lost.remove(&seq);
                }
            }
            Record::Msg {
                seq,
                ts_ns,
                subject,
                headers,
                payload,
            } => {
                if seq <= store.last_seq || store.index.is_full() {
                    self.report.misplaced.push(MisplacedRecord {
                        segment,
                        offset,
                        seq,
                    });
                    return;
                }
                let last_ts_ns = store.last_ts_ns;
                Self::advance(store, seq - 1, last_ts_ns, Some(0));
                self.unexplained_seqs = 0;
                let len = super::record::msg_frame_len(subject.len(), headers.len(), payload.len());
                let location = Location {
                    segment,
                    offset,
                    // A decoded frame is at most RECORD_BYTES_MAX, which fits u32.
                    len: len as u32,
                };
                let keeps_bodies = store.config().cache_bytes_max > 0;
                let body = keeps_bodies.then(|| join_body(&headers, &payload));
                store.insert(
                    seq,
                    ts_ns,
                    &subject,
                    headers.len(),
                    payload.len(),
                    location,
                    body,
                );
                if let Some(id) = get_header(&headers, MSG_ID).filter(|id| !id.is_empty()) {
                    if self.msg_ids.len() == DEDUP_IDS_MAX {
                        self.msg_ids.pop_front();
                    }
                    self.msg_ids.push_back(RecoveredMsgId {
                        id: Bytes::copy_from_slice(id),
                        seq,
                        ts_ns,
                    });
                }
            }
        }
    }
}

impl MsgStore {
    /// Rebuilds a file-storage stream from its segments, oldest first (ids must
    /// increase). The returned store resumes appending to the last segment; drain its
    /// `take_log` before anything else (it may write a `SegmentStart`, tombstones for
    /// limits that shrank while the stream was down, and segment removals).
    pub fn recover<I>(
        cfg: StoreConfig,
        segments: I,
    ) -> Result<(MsgStore, RecoveryReport), StoreError>
    where
        I: IntoIterator<Item = (u64, SegmentScan)>,
    {
        Self::recover_checked(cfg, segments, None)
    }

    /// [`MsgStore::recover`], checked against the synced point recorded before the stop
    /// (see `synced`): when the segments end before it, the sequences up to the recorded
    /// last one are listed as lost and never handed out again, and the missing bytes are
    /// counted as lost.
    pub fn recover_checked<I>(
        cfg: StoreConfig,
        segments: I,
        synced_point: Option<SyncedPoint>,
    ) -> Result<(MsgStore, RecoveryReport), StoreError>
    where
        I: IntoIterator<Item = (u64, SegmentScan)>,
    {
        if cfg.storage != StorageType::File {
            return Err(StoreError::NotFileStorage);
        }
        let mut store = MsgStore::unlogged(cfg);
        let mut replay = Replay {
            report: RecoveryReport::default(),
            seen_record: false,
            unexplained_seqs: 0,
            msg_ids: VecDeque::new(),
        };
        let mut infos: VecDeque<SegmentInfo> = VecDeque::new();
        let mut last_starts_cleanly = false;
        for (id, scan) in segments {
            if let Some(previous) = infos.back() {
                if id <= previous.id {
                    return Err(StoreError::SegmentOrder {
                        previous: previous.id,
                        next: id,
                    });
                }
            }
            if scan.torn_tail {
                replay.report.torn_tails.push((id, scan.valid_len));
            }
            last_starts_cleanly =
                matches!(scan.records.first(), Some((0, Record::SegmentStart { .. })));
            let mut corrupt = scan.corrupt.into_iter().peekable();
            for (offset, record) in scan.records {
                while let Some(damaged) = corrupt.next_if(|damaged| damaged.offset < offset) {
                    replay.corrupt(id, damaged);
                }
                replay.record(&mut store, id, offset, record);
            }
            for damaged in corrupt {
                replay.corrupt(id, damaged);
            }
            infos.push_back(SegmentInfo {
                id,
                len_bytes: scan.valid_len,
                live_msgs: 0,
            });
        }
        // Damaged records at the end of the log: reserve their possible sequences.
        if replay.unexplained_seqs > 0 {
            let room = SEQ_MAX - store.last_seq;
            for _ in 0..replay.unexplained_seqs.min(room) {
                store.last_seq += 1;
                let seq = store.last_seq;
                store.note_lost(seq);
            }
            store.mark_dirty = true;
        }
        // The log ends before what was acknowledged: everything past the recovered last
        // sequence up to the recorded one is lost (a Purge mark, written by `finish_op`
        // below, keeps those sequences used across later restarts).
        if let Some(recorded) = synced_point {
            let found: Vec<(u64, u64)> = infos.iter().map(|i| (i.id, i.len_bytes)).collect();
            replay.report.tail_loss = synced::check(recorded, &found, store.last_seq);
            if let Some(loss) = &replay.report.tail_loss {
                replay.report.lost_bytes += loss.missing_bytes;
                let last_ts_ns = store.last_ts_ns;
                Replay::advance(&mut store, recorded.last_seq, last_ts_ns, Some(0));
                store.mark_dirty = true;
            }
        }

        // Replayed removals are already on disk: no tombstones for them.
        store.removed.clear();
        for (_, entry) in store.index.iter_from(0) {
            let position = infos.partition_point(|info| info.id < entry.location.segment);
            infos[position].live_msgs += 1;
        }
        let mark = store.mark();
        let segment_bytes_max = store.config().segment_bytes_max;
        let log = match infos.back() {
            None => SegmentLog::create(1, mark, segment_bytes_max),
            Some(active) => {
                let roll = active.len_bytes > 0 && !last_starts_cleanly;
                SegmentLog::resume(infos, segment_bytes_max, mark, roll)
            }
        };
        store.log = Some(log);
        store.lost_bytes = replay.report.lost_bytes;
        replay.report.lost_msgs = store.lost.iter().copied().collect();

        // The limits may have shrunk while the stream was down (nats-server enforces them
        // on start too); max_age waits for the driver's first `expire`, which has a clock.
        store.enforce_all_subject_limits();
        store.enforce_msgs_and_bytes();
        store.finish_op();

        let mut report = replay.report;
        report.msg_ids = replay
            .msg_ids
            .into_iter()
            .filter(|recovered| store.index.get(recovered.seq).is_some())
            .collect();
        Ok((store, report))
    }
}
