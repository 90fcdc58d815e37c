//! A durable consumer's state on disk: [`ConsumerSnapshot`] and its versioned, checksummed
//! binary form. The driver writes it atomically (write a temporary file, fsync, rename) to
//! `<stream dir>/consumers/<name>/state` and hands the bytes back to [`decode`] at start.
//!
//! ```text
//!  0        4         5            9            13
//!  +--------+---------+------------+------------+------------------------------+
//!  | "TCST" | version | body bytes | crc32c     | body                         |
//!  |        | u8 = 1  | u32 LE     | u32 LE     |                              |
//!  +--------+---------+------------+------------+------------------------------+
//!  crc32c covers bytes 0..9 and the body.
//!
//!  body (unsigned LEB128 varints; "z" = zigzag-encoded signed):
//!    delivered.consumer_seq  delivered.stream_seq  ack_floor.consumer_seq  ack_floor.stream_seq
//!    pending count n
//!    if n > 0:  base_ns (z)
//!               n x [ stream_seq - previous stream_seq (previous starts at ack_floor.stream_seq)
//!                     consumer_seq - previous consumer_seq (z, wrapping; previous starts at 0)
//!                     deadline_ns - base_ns (z, wrapping) ]
//!    redelivered count m
//!    m x [ stream_seq - previous (previous starts at 0), redeliveries ]
//! ```
//!
//! The same four parts as nats-server's `encodeConsumerState`, but deadlines keep their
//! nanoseconds (nats-server rounds timestamps to seconds) and the whole is checksummed.

use thiserror::Error;

use super::bounds::{ACK_PENDING_HARD_MAX, EXHAUSTED_TRACKED_MAX, SNAPSHOT_BYTES_MAX};
use super::events::SequencePair;

pub const SNAPSHOT_MAGIC: &[u8; 4] = b"TCST";
pub const SNAPSHOT_VERSION: u8 = 1;
const HEADER_BYTES: usize = 13;
const CRC_COVERED_HEADER_BYTES: usize = 9;

/// nats-server's `ConsumerState`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumerSnapshot {
    pub delivered: SequencePair,
    pub ack_floor: SequencePair,
    /// Ascending by stream sequence.
    pub pending: Vec<PendingSnapshot>,
    /// (stream seq, deliveries after the first), ascending; includes messages dropped at
    /// `max_deliver`.
    pub redelivered: Vec<(u64, u64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingSnapshot {
    pub stream_seq: u64,
    pub consumer_seq: u64,
    pub deadline_ns: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SnapshotError {
    #[error("consumer state is shorter than its header")]
    TooShort,
    #[error("consumer state has a bad magic number")]
    BadMagic,
    #[error("consumer state version {0} is not supported")]
    UnsupportedVersion(u8),
    #[error("consumer state is larger than {SNAPSHOT_BYTES_MAX} bytes")]
    TooLarge,
    #[error("consumer state length does not match its header")]
    LengthMismatch,
    #[error("consumer state checksum mismatch")]
    Checksum,
    #[error("consumer state is truncated")]
    Truncated,
    #[error("consumer state has a malformed number")]
    BadVarint,
    #[error("consumer state holds too many entries")]
    TooManyEntries,
    #[error("consumer state has a sequence out of range")]
    OutOfRange,
    #[error("consumer state has bytes after its end")]
    TrailingBytes,
}

impl ConsumerSnapshot {
    /// Appends the encoded snapshot to `out` (reuse the buffer across writes). Refuses
    /// a snapshot [`decode`] would refuse, so what is written always reads back.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), SnapshotError> {
        self.validate()?;
        let start = out.len();
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.push(SNAPSHOT_VERSION);
        out.extend_from_slice(&[0; 8]);
        let body_start = out.len();
        put_varint(out, self.delivered.consumer_seq);
        put_varint(out, self.delivered.stream_seq);
        put_varint(out, self.ack_floor.consumer_seq);
        put_varint(out, self.ack_floor.stream_seq);
        put_varint(out, self.pending.len() as u64);
        if let Some(first) = self.pending.first() {
            let base_ns = first.deadline_ns;
            put_varint(out, zigzag(base_ns));
            let mut previous = self.ack_floor.stream_seq;
            let mut previous_consumer_seq = 0u64;
            for entry in &self.pending {
                put_varint(out, entry.stream_seq - previous);
                let step = entry.consumer_seq.wrapping_sub(previous_consumer_seq) as i64;
                put_varint(out, zigzag(step));
                put_varint(out, zigzag(entry.deadline_ns.wrapping_sub(base_ns)));
                previous = entry.stream_seq;
                previous_consumer_seq = entry.consumer_seq;
            }
        }
        put_varint(out, self.redelivered.len() as u64);
        let mut previous = 0;
        for &(seq, count) in &self.redelivered {
            put_varint(out, seq - previous);
            put_varint(out, count);
            previous = seq;
        }
        let body_bytes = out.len() - body_start;
        if body_bytes + HEADER_BYTES > SNAPSHOT_BYTES_MAX {
            out.truncate(start);
            return Err(SnapshotError::TooLarge);
        }
        out[start + 5..start + 9].copy_from_slice(&(body_bytes as u32).to_le_bytes());
        let crc = crc32c::crc32c(&out[start..start + CRC_COVERED_HEADER_BYTES]);
        let crc = crc32c::crc32c_append(crc, &out[body_start..]);
        out[start + 9..start + 13].copy_from_slice(&crc.to_le_bytes());
        Ok(())
    }

    /// What [`decode`] guarantees: floors within the deliveries, pending strictly
    /// ascending above the floor and within the deliveries (its consumer sequences only
    /// within the deliveries: `ack_policy: all` may have acked with a later one),
    /// redelivered strictly ascending with positive counts.
    pub fn validate(&self) -> Result<(), SnapshotError> {
        let floor = self.ack_floor;
        let delivered = self.delivered;
        if floor.consumer_seq > delivered.consumer_seq || floor.stream_seq > delivered.stream_seq {
            return Err(SnapshotError::OutOfRange);
        }
        if self.pending.len() > ACK_PENDING_HARD_MAX
            || self.redelivered.len() > ACK_PENDING_HARD_MAX + EXHAUSTED_TRACKED_MAX
        {
            return Err(SnapshotError::TooManyEntries);
        }
        let mut previous = floor.stream_seq;
        for entry in &self.pending {
            if entry.stream_seq <= previous
                || entry.stream_seq > delivered.stream_seq
                || entry.consumer_seq == 0
                || entry.consumer_seq > delivered.consumer_seq
            {
                return Err(SnapshotError::OutOfRange);
            }
            previous = entry.stream_seq;
        }
        let mut previous = 0;
        for &(seq, count) in &self.redelivered {
            if seq <= previous || count == 0 {
                return Err(SnapshotError::OutOfRange);
            }
            previous = seq;
        }
        Ok(())
    }
}

/// Reads a snapshot written by [`ConsumerSnapshot::encode`]. Never panics; allocates at
/// most in proportion to `bytes`.
pub fn decode(bytes: &[u8]) -> Result<ConsumerSnapshot, SnapshotError> {
    if bytes.len() > SNAPSHOT_BYTES_MAX {
        return Err(SnapshotError::TooLarge);
    }
    if bytes.len() < HEADER_BYTES {
        return Err(SnapshotError::TooShort);
    }
    if &bytes[..4] != SNAPSHOT_MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    if bytes[4] != SNAPSHOT_VERSION {
        return Err(SnapshotError::UnsupportedVersion(bytes[4]));
    }
    let body_bytes = u32::from_le_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) as usize;
    if body_bytes != bytes.len() - HEADER_BYTES {
        return Err(SnapshotError::LengthMismatch);
    }
    let stored_crc = u32::from_le_bytes([bytes[9], bytes[10], bytes[11], bytes[12]]);
    let crc = crc32c::crc32c(&bytes[..CRC_COVERED_HEADER_BYTES]);
    if crc32c::crc32c_append(crc, &bytes[HEADER_BYTES..]) != stored_crc {
        return Err(SnapshotError::Checksum);
    }
    let mut reader = Reader {
        bytes: &bytes[HEADER_BYTES..],
    };
    let delivered = SequencePair {
        consumer_seq: reader.varint()?,
        stream_seq: reader.varint()?,
    };
    let floor = SequencePair {
        consumer_seq: reader.varint()?,
        stream_seq: reader.varint()?,
    };
    // Each pending entry takes at least 3 bytes, each redelivered one at least 2.
    let pending_count = reader.count(ACK_PENDING_HARD_MAX, 3)?;
    let mut pending = Vec::with_capacity(pending_count);
    if pending_count > 0 {
        let base_ns = unzigzag(reader.varint()?);
        let mut previous = floor.stream_seq;
        let mut previous_consumer_seq = 0u64;
        for _ in 0..pending_count {
            let stream_seq = previous
                .checked_add(reader.varint()?)
                .ok_or(SnapshotError::OutOfRange)?;
            let consumer_seq =
                previous_consumer_seq.wrapping_add(unzigzag(reader.varint()?) as u64);
            let deadline_ns = base_ns.wrapping_add(unzigzag(reader.varint()?));
            pending.push(PendingSnapshot {
                stream_seq,
                consumer_seq,
                deadline_ns,
            });
            previous = stream_seq;
            previous_consumer_seq = consumer_seq;
        }
    }
    let redelivered_count = reader.count(ACK_PENDING_HARD_MAX + EXHAUSTED_TRACKED_MAX, 2)?;
    let mut redelivered = Vec::with_capacity(redelivered_count);
    let mut previous = 0u64;
    for _ in 0..redelivered_count {
        let seq = previous
            .checked_add(reader.varint()?)
            .ok_or(SnapshotError::OutOfRange)?;
        redelivered.push((seq, reader.varint()?));
        previous = seq;
    }
    if !reader.bytes.is_empty() {
        return Err(SnapshotError::TrailingBytes);
    }
    let snapshot = ConsumerSnapshot {
        delivered,
        ack_floor: floor,
        pending,
        redelivered,
    };
    snapshot.validate()?;
    Ok(snapshot)
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn varint(&mut self) -> Result<u64, SnapshotError> {
        let mut value = 0u64;
        for (index, &byte) in self.bytes.iter().enumerate().take(10) {
            let bits = u64::from(byte & 0x7f);
            if index == 9 && byte > 1 {
                return Err(SnapshotError::BadVarint);
            }
            value |= bits << (7 * index);
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[index + 1..];
                return Ok(value);
            }
        }
        if self.bytes.len() < 10 {
            Err(SnapshotError::Truncated)
        } else {
            Err(SnapshotError::BadVarint)
        }
    }

    fn count(&mut self, max: usize, min_entry_bytes: usize) -> Result<usize, SnapshotError> {
        let count = self.varint()?;
        if count > max as u64 || count > (self.bytes.len() / min_entry_bytes) as u64 {
            return Err(SnapshotError::TooManyEntries);
        }
        Ok(count as usize)
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}
