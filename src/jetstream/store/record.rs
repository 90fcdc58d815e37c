//! The on-disk record format of stream segments, and the scanner that recovery runs over
//! a whole segment file.
//!
//! A segment is a sequence of framed records, appended and never rewritten. Every frame
//! (all integers little-endian):
//!
//! ```text
//!  0       1                5       6                10
//!  +-------+----------------+-------+----------------+-----------------------------+
//!  | magic | crc32c    u32  | kind  | frame_len  u32 | body (frame_len - 10 bytes) |
//!  | 0xE7  |                | u8    |                |                             |
//!  +-------+----------------+-------+----------------+-----------------------------+
//!                           \___________ covered by crc32c (Castagnoli) __________/
//! ```
//!
//! The checksum sits right after the magic byte and covers everything after itself, so
//! the kind and the length are protected too (a flipped kind byte cannot turn a `Purge`
//! into a `SegmentStart`). The magic byte is never 0, so preallocated (zeroed) space can
//! never look like a record, and it gives the scanner something to search for when it
//! resynchronises after a damaged record.
//!
//! Bodies:
//!
//! ```text
//! Msg (kind 1)
//!  +---------+-----------+--------------+-------------+---------+---------+---------+
//!  | seq u64 | ts_ns i64 | subj_len u16 | hdr_len u32 | subject | headers | payload |
//!  +---------+-----------+--------------+-------------+---------+---------+---------+
//!    payload length = body length - 22 - subj_len - hdr_len; hdr_len 0 = no headers
//!
//! Delete (kind 2): a tombstone           Purge (kind 3) / SegmentStart (kind 4)
//!  +---------+                            +---------------+--------------+---------------+
//!  | seq u64 |                            | first_seq u64 | last_seq u64 | last_ts_ns i64|
//!  +---------+                            +---------------+--------------+---------------+
//! ```
//!
//! `Purge` says every sequence below `first_seq` is gone and that the stream's last
//! sequence is `last_seq` (stamped `last_ts_ns`), so an emptied stream keeps its
//! sequence and last timestamp even after the segments holding its messages are removed.
//! `SegmentStart` opens every segment with the same three facts as of the moment the
//! segment was started, so recovery knows the stream's sequences even when no message
//! follows. Both carry the timestamp, which the brief's layout lacked, because nats-server
//! keeps `last_ts` across a purge and so must we across a restart.

use bytes::{BufMut, Bytes};
use thiserror::Error;

use super::bounds::{
    FRAME_HEADER_BYTES, MSG_BODY_BYTES_MAX, MSG_FIXED_BYTES, RECORD_BYTES_MAX, SEQ_MAX,
    SUBJECT_BYTES_MAX,
};

/// First byte of every frame. Any non-zero value works; this one is neither ASCII nor a
/// common fill pattern.
pub const RECORD_MAGIC: u8 = 0xE7;

const KIND_MSG: u8 = 1;
const KIND_DELETE: u8 = 2;
const KIND_PURGE: u8 = 3;
const KIND_SEGMENT_START: u8 = 4;

/// Bytes of a `Delete` frame.
const DELETE_FRAME_BYTES: usize = FRAME_HEADER_BYTES + 8;
/// Bytes of a `Purge` or `SegmentStart` frame.
pub const MARK_FRAME_BYTES: usize = FRAME_HEADER_BYTES + 24;

/// One record of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A stored message. `headers` is empty when the message has none.
    Msg {
        seq: u64,
        ts_ns: i64,
        subject: Bytes,
        headers: Bytes,
        payload: Bytes,
    },
    /// Tombstone: the message `seq` was removed (MSG.DELETE, per-subject limit, filtered
    /// purge, later acks on workqueue/interest streams).
    Delete { seq: u64 },
    /// Every sequence below `first_seq` is gone; the stream's last sequence is `last_seq`.
    Purge {
        first_seq: u64,
        last_seq: u64,
        last_ts_ns: i64,
    },
    /// First record of every segment: the stream's sequences when the segment started.
    SegmentStart {
        first_seq: u64,
        last_seq: u64,
        last_ts_ns: i64,
    },
}

impl Record {
    /// Bytes this record takes on disk, frame header included.
    pub fn encoded_len(&self) -> usize {
        match self {
            Record::Msg {
                subject,
                headers,
                payload,
                ..
            } => msg_frame_len(subject.len(), headers.len(), payload.len()),
            Record::Delete { .. } => DELETE_FRAME_BYTES,
            Record::Purge { .. } | Record::SegmentStart { .. } => MARK_FRAME_BYTES,
        }
    }
}

/// Bytes of the frame of a message with these field lengths.
pub fn msg_frame_len(subject_len: usize, headers_len: usize, payload_len: usize) -> usize {
    FRAME_HEADER_BYTES + MSG_FIXED_BYTES + subject_len + headers_len + payload_len
}

/// Why bytes are not a valid record.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("record truncated: {needed} bytes needed, {available} available")]
    Truncated { needed: u64, available: u64 },
    #[error("bad magic byte {0:#04x}")]
    BadMagic(u8),
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    #[error("frame length {len} is invalid for record kind {kind}")]
    BadLength { kind: u8, len: u64 },
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum { stored: u32, computed: u32 },
    #[error("malformed record body: {0}")]
    BadBody(&'static str),
}

/// Appends the frame of `record` to `out` and returns its length.
///
/// Panics if the record breaks the format's bounds (empty or over-long subject, body over
/// `MSG_BODY_BYTES_MAX`, sequence 0): the store validates every message before it gets
/// here, so such a record is a bug, and writing it would make a segment unreadable.
pub fn encode(record: &Record, out: &mut Vec<u8>) -> usize {
    match record {
        Record::Msg {
            seq,
            ts_ns,
            subject,
            headers,
            payload,
        } => encode_msg(*seq, *ts_ns, subject, headers, payload, out),
        Record::Delete { seq } => {
            assert!(seq_in_range(*seq), "tombstone for sequence {seq}");
            let start = begin_frame(out, KIND_DELETE, DELETE_FRAME_BYTES);
            out.put_u64_le(*seq);
            finish_frame(out, start)
        }
        Record::Purge {
            first_seq,
            last_seq,
            last_ts_ns,
        } => encode_mark(KIND_PURGE, *first_seq, *last_seq, *last_ts_ns, out),
        Record::SegmentStart {
            first_seq,
            last_seq,
            last_ts_ns,
        } => encode_mark(KIND_SEGMENT_START, *first_seq, *last_seq, *last_ts_ns, out),
    }
}

/// [`encode`] for a message given as slices, so the append path need not build a
/// [`Record`]. Same panics.
pub fn encode_msg(
    seq: u64,
    ts_ns: i64,
    subject: &[u8],
    headers: &[u8],
    payload: &[u8],
    out: &mut Vec<u8>,
) -> usize {
    assert!(seq_in_range(seq), "message with sequence {seq}");
    assert!(
        !subject.is_empty() && subject.len() <= SUBJECT_BYTES_MAX,
        "subject length {} outside the record format",
        subject.len()
    );
    assert!(
        headers.len() + payload.len() <= MSG_BODY_BYTES_MAX,
        "message body over MSG_BODY_BYTES_MAX"
    );
    let frame_len = msg_frame_len(subject.len(), headers.len(), payload.len());
    let start = begin_frame(out, KIND_MSG, frame_len);
    out.put_u64_le(seq);
    out.put_i64_le(ts_ns);
    // Both casts are bounded by the asserts above (u16 subject, 64 MiB body).
    out.put_u16_le(subject.len() as u16);
    out.put_u32_le(headers.len() as u32);
    out.extend_from_slice(subject);
    out.extend_from_slice(headers);
    out.extend_from_slice(payload);
    let written = finish_frame(out, start);
    // Check the record right before it goes to disk: what we wrote must read back as
    // what we meant (debug builds only; it doubles the cost of an append).
    debug_assert!(matches!(
        decode_frame(&out[start..]),
        Ok((Record::Msg { seq: s, ts_ns: t, subject: ref subj, headers: ref h, payload: ref p }, n))
            if s == seq && t == ts_ns && subj[..] == *subject && h[..] == *headers
                && p[..] == *payload && n == written
    ));
    written
}

fn encode_mark(
    kind: u8,
    first_seq: u64,
    last_seq: u64,
    last_ts_ns: i64,
    out: &mut Vec<u8>,
) -> usize {
    assert!(
        mark_coherent(first_seq, last_seq),
        "mark with first_seq {first_seq} last_seq {last_seq}"
    );
    let start = begin_frame(out, kind, MARK_FRAME_BYTES);
    out.put_u64_le(first_seq);
    out.put_u64_le(last_seq);
    out.put_i64_le(last_ts_ns);
    finish_frame(out, start)
}

/// Sequences a record may carry.
fn seq_in_range(seq: u64) -> bool {
    (1..=SEQ_MAX).contains(&seq)
}

/// A `Purge`/`SegmentStart` is coherent when `1 <= first_seq <= last_seq + 1 <= SEQ_MAX + 1`.
fn mark_coherent(first_seq: u64, last_seq: u64) -> bool {
    last_seq <= SEQ_MAX && first_seq >= 1 && first_seq <= last_seq + 1
}

fn begin_frame(out: &mut Vec<u8>, kind: u8, frame_len: usize) -> usize {
    assert!(frame_len <= RECORD_BYTES_MAX, "frame over RECORD_BYTES_MAX");
    out.reserve(frame_len);
    let start = out.len();
    out.put_u8(RECORD_MAGIC);
    out.put_u32_le(0); // checksum, patched by finish_frame
    out.put_u8(kind);
    // Bounded by RECORD_BYTES_MAX, which fits u32.
    out.put_u32_le(frame_len as u32);
    start
}

fn finish_frame(out: &mut [u8], start: usize) -> usize {
    let frame = &mut out[start..];
    let crc = crc32c::crc32c(&frame[5..]);
    frame[1..5].copy_from_slice(&crc.to_le_bytes());
    let declared = read_u32(frame, 6) as usize;
    assert_eq!(
        declared,
        frame.len(),
        "frame length field disagrees with bytes written"
    );
    frame.len()
}

fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Verifies the frame at the start of `bytes` (magic, kind, length shape, checksum)
/// without allocating, and returns its kind and length. Cheap shape checks come before
/// the checksum so that resynchronising over garbage rarely pays for a CRC.
fn check_frame(bytes: &[u8]) -> Result<(u8, usize), RecordError> {
    let available = bytes.len() as u64;
    if bytes.len() < FRAME_HEADER_BYTES {
        return Err(RecordError::Truncated {
            needed: FRAME_HEADER_BYTES as u64,
            available,
        });
    }
    if bytes[0] != RECORD_MAGIC {
        return Err(RecordError::BadMagic(bytes[0]));
    }
    let kind = bytes[5];
    let len = read_u32(bytes, 6) as usize;
    let shape_ok = match kind {
        KIND_MSG => (FRAME_HEADER_BYTES + MSG_FIXED_BYTES..=RECORD_BYTES_MAX).contains(&len),
        KIND_DELETE => len == DELETE_FRAME_BYTES,
        KIND_PURGE | KIND_SEGMENT_START => len == MARK_FRAME_BYTES,
        _ => return Err(RecordError::UnknownKind(kind)),
    };
    if !shape_ok {
        return Err(RecordError::BadLength {
            kind,
            len: len as u64,
        });
    }
    if bytes.len() < len {
        return Err(RecordError::Truncated {
            needed: len as u64,
            available,
        });
    }
    if kind == KIND_MSG {
        let body = &bytes[FRAME_HEADER_BYTES..len];
        let fields = MSG_FIXED_BYTES + read_u16(body, 16) as usize + read_u32(body, 18) as usize;
        if fields > body.len() {
            return Err(RecordError::BadLength {
                kind,
                len: len as u64,
            });
        }
    }
    let stored = read_u32(bytes, 1);
    let computed = crc32c::crc32c(&bytes[5..len]);
    if stored != computed {
        return Err(RecordError::Checksum { stored, computed });
    }
    Ok((kind, len))
}

/// Builds the record from a checked body. `body` is the frame body as one shared buffer;
/// the record's fields are slices of it, so a message costs one allocation.
fn parse_body(kind: u8, body: Bytes) -> Result<Record, RecordError> {
    match kind {
        KIND_MSG => {
            let seq = read_u64(&body, 0);
            let ts_ns = read_u64(&body, 8) as i64;
            let subject_len = read_u16(&body, 16) as usize;
            let headers_len = read_u32(&body, 18) as usize;
            if !seq_in_range(seq) {
                return Err(RecordError::BadBody("message sequence out of range"));
            }
            if subject_len == 0 {
                return Err(RecordError::BadBody("empty subject"));
            }
            // check_frame verified the field lengths fit the body.
            let subject_end = MSG_FIXED_BYTES + subject_len;
            let headers_end = subject_end + headers_len;
            if body.len() - MSG_FIXED_BYTES - subject_len > MSG_BODY_BYTES_MAX {
                return Err(RecordError::BadBody("message body over the bound"));
            }
            Ok(Record::Msg {
                seq,
                ts_ns,
                subject: body.slice(MSG_FIXED_BYTES..subject_end),
                headers: body.slice(subject_end..headers_end),
                payload: body.slice(headers_end..),
            })
        }
        KIND_DELETE => {
            let seq = read_u64(&body, 0);
            if !seq_in_range(seq) {
                return Err(RecordError::BadBody("tombstone sequence out of range"));
            }
            Ok(Record::Delete { seq })
        }
        _ => {
            let first_seq = read_u64(&body, 0);
            let last_seq = read_u64(&body, 8);
            let last_ts_ns = read_u64(&body, 16) as i64;
            if !mark_coherent(first_seq, last_seq) {
                return Err(RecordError::BadBody("incoherent first_seq and last_seq"));
            }
            if kind == KIND_PURGE {
                Ok(Record::Purge {
                    first_seq,
                    last_seq,
                    last_ts_ns,
                })
            } else {
                Ok(Record::SegmentStart {
                    first_seq,
                    last_seq,
                    last_ts_ns,
                })
            }
        }
    }
}

/// Decodes the frame at the start of `bytes` (bytes after it are ignored) and returns the
/// record and the frame length. Never panics; allocates once, at most the frame's length,
/// and only after the checksum verified.
pub fn decode_frame(bytes: &[u8]) -> Result<(Record, usize), RecordError> {
    let (kind, len) = check_frame(bytes)?;
    let body = Bytes::copy_from_slice(&bytes[FRAME_HEADER_BYTES..len]);
    Ok((parse_body(kind, body)?, len))
}

/// Reads one record back from a known location (the driver calls this after `read_at`
/// of a message's `Location`). The checksum is verified; this is the "right after it is
/// read back" half of the disk assertions.
pub fn decode_at(bytes: &[u8]) -> Result<Record, RecordError> {
    decode_frame(bytes).map(|(record, _)| record)
}

/// A damaged stretch of a segment that the scanner skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptRecord {
    /// Where the damaged stretch starts in the segment.
    pub offset: u64,
    /// Bytes skipped up to the next verified frame (one record or several).
    pub len_guess: u64,
    /// Why the frame at `offset` did not verify.
    pub reason: RecordError,
}

/// What [`scan_segment`] found in a segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentScan {
    /// Every verified record with its offset, in file order.
    pub records: Vec<(u64, Record)>,
    /// Bytes of the segment worth keeping: the driver truncates the file here (and
    /// appends from here when this is the active segment).
    pub valid_len: u64,
    /// The segment ends in a record that is incomplete or fails its checksum, with no
    /// verified frame after it: a write cut short by a crash.
    pub torn_tail: bool,
    /// Damaged stretches followed by verified records, in file order.
    pub corrupt: Vec<CorruptRecord>,
}

/// Scans a whole segment file.
///
/// A frame that does not verify is skipped by searching forward for the next offset
/// where magic, shape and checksum all verify; the skipped stretch is reported as
/// corrupt. When no verified frame follows, the stretch is a torn tail: `valid_len` stops
/// before it. A run of zero bytes to the end of the file (preallocated space) ends the
/// scan cleanly. Never panics, whatever the bytes.
pub fn scan_segment(bytes: &[u8]) -> SegmentScan {
    let mut scan = SegmentScan::default();
    // Everything from here on is zero: preallocated space, not a record.
    let content_end = bytes
        .iter()
        .rposition(|&byte| byte != 0)
        .map_or(0, |last| last + 1);
    let mut pos = 0;
    while pos < content_end {
        let error = match check_frame(&bytes[pos..]) {
            Ok((kind, len)) => {
                let body = Bytes::copy_from_slice(&bytes[pos + FRAME_HEADER_BYTES..pos + len]);
                match parse_body(kind, body) {
                    Ok(record) => {
                        scan.records.push((pos as u64, record));
                        pos += len;
                        continue;
                    }
                    // The checksum vouches for the length, so skip exactly this frame.
                    Err(reason) => {
                        scan.corrupt.push(CorruptRecord {
                            offset: pos as u64,
                            len_guess: len as u64,
                            reason,
                        });
                        pos += len;
                        continue;
                    }
                }
            }
            Err(reason) => reason,
        };
        match resync(bytes, pos + 1, content_end) {
            Some(next) => {
                scan.corrupt.push(CorruptRecord {
                    offset: pos as u64,
                    len_guess: (next - pos) as u64,
                    reason: error,
                });
                pos = next;
            }
            None => {
                scan.torn_tail = true;
                scan.valid_len = pos as u64;
                return scan;
            }
        }
    }
    scan.valid_len = pos as u64;
    scan
}

/// The first offset in `from..end` where a frame verifies.
fn resync(bytes: &[u8], from: usize, end: usize) -> Option<usize> {
    let mut pos = from;
    while pos < end {
        let next_magic = bytes[pos..end]
            .iter()
            .position(|&byte| byte == RECORD_MAGIC)?;
        pos += next_magic;
        if check_frame(&bytes[pos..]).is_ok() {
            return Some(pos);
        }
        pos += 1;
    }
    None
}
