//! The segment log of a file-storage stream, as bookkeeping only: which segments exist,
//! how long each is, how many live messages each holds, and the operations the driver
//! must carry out (create, append, remove) to make the files match.
//!
//! ```text
//!   head (oldest)                                        active (appended to)
//!   +--------------------+  +--------------------+  +--------------------+
//!   | SegmentStart       |  | SegmentStart       |  | SegmentStart       |
//!   | Msg 1  Msg 2  ...  |  | Msg 9  Delete 2 .. |  | Msg 17 Purge ...   |
//!   +--------------------+  +--------------------+  +--------------------+
//!   segment 4               segment 5               segment 6
//! ```
//!
//! Segment removal invariant: a tombstone (`Delete`, `Purge`) can live in a later
//! segment than the message it removes, and recovery trusts the first remaining segment's
//! `SegmentStart` to say that every sequence up to its `last_seq` is gone. So a segment
//! is removed only when it is the head (the oldest remaining), is not the active one, and
//! holds no live message. Removing a later segment while an earlier one lives could drop
//! the tombstones of the earlier one's messages and bring them back after a restart.
//! [`SegmentLog::release_heads`] is the only place that removes, and it asserts this.
//!
//! Crash safety asks one thing of the driver: apply a batch's operations in order, and
//! carry out a `RemoveSegment` only after every `Append` before it is durable
//! (fdatasync). Until then the removed segment may be the only record of sequences that
//! the next segment's `SegmentStart` or a tombstone is about to vouch for.

use std::collections::VecDeque;
use std::ops::Range;

use super::bounds::{LOG_BUFFER_RETAIN_BYTES, SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_MIN};
use super::index::Location;
use super::record::{encode, encode_msg, msg_frame_len, Record, MARK_FRAME_BYTES};

/// One operation for the driver, to apply in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogOp {
    /// Create the (empty) segment file `id`; it becomes the active segment.
    NewSegment { id: u64 },
    /// Write `LogBatch::bytes[range]` at `offset` of segment `segment`. `offset` always
    /// equals the segment's length so far: the driver may assert it.
    Append {
        segment: u64,
        offset: u64,
        range: Range<usize>,
    },
    /// Delete segment file `id`, once every earlier `Append` of the batch is durable.
    RemoveSegment { id: u64 },
}

/// What the driver drains after each mutating call (`MsgStore::take_log`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogBatch {
    /// Encoded records; `Append` ops point into it.
    pub bytes: Vec<u8>,
    pub ops: Vec<LogOp>,
}

impl LogBatch {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The bytes an `Append` op writes (empty for other ops).
    pub fn bytes_of(&self, op: &LogOp) -> &[u8] {
        match op {
            LogOp::Append { range, .. } => &self.bytes[range.clone()],
            _ => &[],
        }
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ops.clear();
    }
}

/// The stream's sequences at a moment, as a `SegmentStart` or `Purge` records them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct StreamMark {
    pub first_seq: u64,
    pub last_seq: u64,
    pub last_ts_ns: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SegmentInfo {
    pub id: u64,
    pub len_bytes: u64,
    pub live_msgs: u64,
}

#[derive(Debug)]
pub(super) struct SegmentLog {
    /// Oldest first; the last one is active. Never empty.
    segments: VecDeque<SegmentInfo>,
    segment_bytes_max: u64,
    pending: LogBatch,
    spare: Option<LogBatch>,
}

/// The configured segment size, with 0 meaning the default and tiny values raised.
pub(super) fn effective_segment_bytes(configured: u64) -> u64 {
    match configured {
        0 => SEGMENT_BYTES_DEFAULT,
        bytes => bytes.max(SEGMENT_BYTES_MIN),
    }
}

impl SegmentLog {
    /// A log with one new segment `id`, opened with a `SegmentStart` of `mark`.
    pub fn create(id: u64, mark: StreamMark, segment_bytes_max: u64) -> Self {
        let mut log = Self {
            segments: VecDeque::new(),
            segment_bytes_max: effective_segment_bytes(segment_bytes_max),
            pending: LogBatch::default(),
            spare: None,
        };
        log.open_segment(id, mark);
        log
    }

    /// A log resuming recovered segments (oldest first; the last one is appended to at
    /// its length). An empty active segment gets its `SegmentStart` first; with `roll`
    /// (the active segment does not open with a `SegmentStart`) a new segment starts.
    pub fn resume(
        segments: VecDeque<SegmentInfo>,
        segment_bytes_max: u64,
        mark: StreamMark,
        roll: bool,
    ) -> Self {
        assert!(!segments.is_empty(), "resume without segments");
        let mut log = Self {
            segments,
            segment_bytes_max: effective_segment_bytes(segment_bytes_max),
            pending: LogBatch::default(),
            spare: None,
        };
        if roll {
            log.roll(mark);
        } else if log.active().len_bytes == 0 {
            let start = log.segment_start(mark);
            log.write_record(&start);
        }
        log
    }

    pub fn set_segment_bytes_max(&mut self, segment_bytes_max: u64) {
        self.segment_bytes_max = effective_segment_bytes(segment_bytes_max);
    }

    fn active(&self) -> &SegmentInfo {
        // Invariant: never empty (created with one segment, heads never pass the active).
        self.segments.back().expect("segment log without segments")
    }

    fn active_mut(&mut self) -> &mut SegmentInfo {
        // Same invariant as `active`.
        self.segments
            .back_mut()
            .expect("segment log without segments")
    }

    pub fn segments(&self) -> impl Iterator<Item = &SegmentInfo> {
        self.segments.iter()
    }

    fn segment_start(&self, mark: StreamMark) -> Record {
        Record::SegmentStart {
            first_seq: mark.first_seq,
            last_seq: mark.last_seq,
            last_ts_ns: mark.last_ts_ns,
        }
    }

    fn open_segment(&mut self, id: u64, mark: StreamMark) {
        assert!(
            self.segments.back().is_none_or(|active| active.id < id),
            "segment ids must increase"
        );
        self.segments.push_back(SegmentInfo {
            id,
            len_bytes: 0,
            live_msgs: 0,
        });
        self.pending.ops.push(LogOp::NewSegment { id });
        let start = self.segment_start(mark);
        self.write_record(&start);
    }

    /// Starts the next segment.
    pub fn roll(&mut self, mark: StreamMark) {
        let id = self.active().id + 1;
        self.open_segment(id, mark);
    }

    /// The active segment holds records besides its `SegmentStart`.
    pub fn active_has_records(&self) -> bool {
        self.active().len_bytes > MARK_FRAME_BYTES as u64
    }

    /// Rolls first when a record of `len` bytes would push the active segment past its
    /// size (a segment holding only its `SegmentStart` takes any record, so a record
    /// bigger than the segment size gets a segment of its own).
    fn make_room(&mut self, len: usize, mark: StreamMark) {
        let active = self.active();
        if active.len_bytes + len as u64 > self.segment_bytes_max && self.active_has_records() {
            self.roll(mark);
        }
    }

    /// Appends `record` (not a message) to the active segment, rolling if needed.
    pub fn append(&mut self, record: &Record, mark: StreamMark) {
        debug_assert!(!matches!(record, Record::Msg { .. }));
        self.make_room(record.encoded_len(), mark);
        self.write_record(record);
    }

    /// Appends a message record and returns where it lies. `mark` is the stream before
    /// the message, in case a new segment starts here.
    pub fn append_msg(
        &mut self,
        mark: StreamMark,
        seq: u64,
        ts_ns: i64,
        subject: &[u8],
        headers: &[u8],
        payload: &[u8],
    ) -> Location {
        let len = msg_frame_len(subject.len(), headers.len(), payload.len());
        self.make_room(len, mark);
        let start = self.pending.bytes.len();
        let written = encode_msg(
            seq,
            ts_ns,
            subject,
            headers,
            payload,
            &mut self.pending.bytes,
        );
        let location = self.note_append(start, written);
        self.active_mut().live_msgs += 1;
        location
    }

    fn write_record(&mut self, record: &Record) {
        let start = self.pending.bytes.len();
        let written = encode(record, &mut self.pending.bytes);
        self.note_append(start, written);
    }

    /// Records that `pending.bytes[start..start + len]` goes at the end of the active
    /// segment, merging with the previous op when contiguous.
    fn note_append(&mut self, start: usize, len: usize) -> Location {
        let active = self.active();
        let (segment, offset) = (active.id, active.len_bytes);
        let end = start + len;
        match self.pending.ops.last_mut() {
            Some(LogOp::Append {
                segment: last_segment,
                offset: last_offset,
                range,
            }) if *last_segment == segment
                && range.end == start
                && *last_offset + range.len() as u64 == offset =>
            {
                range.end = end;
            }
            _ => self.pending.ops.push(LogOp::Append {
                segment,
                offset,
                range: start..end,
            }),
        }
        self.active_mut().len_bytes += len as u64;
        Location {
            segment,
            offset,
            // A frame is at most RECORD_BYTES_MAX, which fits u32.
            len: len as u32,
        }
    }

    /// A live message of `segment` was removed.
    pub fn remove_live(&mut self, segment: u64) {
        let position = self.position(segment);
        let info = &mut self.segments[position];
        assert!(info.live_msgs > 0, "segment {segment} live count underflow");
        info.live_msgs -= 1;
    }

    /// Every live message is gone (full purge).
    pub fn clear_live(&mut self) {
        for info in &mut self.segments {
            info.live_msgs = 0;
        }
    }

    fn position(&self, segment: u64) -> usize {
        let position = self.segments.partition_point(|info| info.id < segment);
        // A live message's segment is never removed (see release_heads).
        assert!(
            self.segments
                .get(position)
                .is_some_and(|info| info.id == segment),
            "live message in removed segment {segment}"
        );
        position
    }

    /// Removes head segments that hold no live message, never the active one. The only
    /// place segments are removed; see the module documentation for why heads only.
    pub fn release_heads(&mut self) {
        while self.segments.len() > 1 && self.segments[0].live_msgs == 0 {
            let head = self.segments.pop_front();
            // The loop condition guarantees a head exists.
            let head = head.expect("head segment");
            debug_assert!(head.id < self.active().id);
            self.pending.ops.push(LogOp::RemoveSegment { id: head.id });
        }
    }

    /// Sum of live messages over segments (for the store's consistency assertions).
    pub fn live_total(&self) -> u64 {
        self.segments.iter().map(|info| info.live_msgs).sum()
    }

    /// The frame at `location` when it is still in the pending batch (appended since the
    /// last [`SegmentLog::take`], so not in its file yet).
    pub fn pending_frame(&self, location: Location) -> Option<&[u8]> {
        let start = location.offset;
        let end = start + u64::from(location.len);
        self.pending.ops.iter().find_map(|op| match op {
            LogOp::Append {
                segment,
                offset,
                range,
            } if *segment == location.segment
                && *offset <= start
                && end <= offset + range.len() as u64 =>
            {
                let from = range.start + (start - offset) as usize;
                Some(&self.pending.bytes[from..from + location.len as usize])
            }
            _ => None,
        })
    }

    /// Whether records wait for [`SegmentLog::take`].
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn take(&mut self) -> LogBatch {
        let spare = self.spare.take().unwrap_or_default();
        std::mem::replace(&mut self.pending, spare)
    }

    pub fn recycle(&mut self, mut batch: LogBatch) {
        if batch.bytes.capacity() <= LOG_BUFFER_RETAIN_BYTES {
            batch.clear();
            self.spare = Some(batch);
        }
    }
}
