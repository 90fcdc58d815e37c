//! The synced point: a small checksummed record of how far a file stream's log was last
//! made durable (the active segment, its length and the stream's last sequence then),
//! kept in a file of its own beside the segments (`synced`).
//!
//! Why: a segment cut short, or damage to its very last record, reads exactly like a
//! write torn by a crash, and a torn tail was never acknowledged; without an independent
//! record of what *was* acknowledged, the acknowledged tail would vanish silently and its
//! sequences be handed out again. With it, recovery compares what the segments hold with
//! the recorded point: a log that ends before it lost acknowledged data, which is then
//! reported (`RecoveryReport::tail_loss`, the sequences in `lost`) and never reused.
//!
//! The record only ever claims what is durable: the driver writes the point of a batch
//! after that batch's fsync returned. It is written in place (fixed size, checksummed),
//! so a torn write of the record itself is detected and only costs the check.
//!
//! Cost trade-off (see `Stream::record_synced_point`): making the record durable on every
//! group commit would double the fsyncs of the hot path (it is a separate file). Instead
//! it is made durable at most once per `JS_SYNCED_POINT_INTERVAL_MS`, on a commit or an
//! idle wake-up, and at clean shutdown. So after a clean shutdown every loss of the tail
//! is detected; after a power cut, damage to what was acknowledged in the last interval
//! before the cut is indistinguishable from a torn write and may go unreported (that data
//! was durable, so only later media damage or tampering could remove it).

use thiserror::Error;

use super::bounds::SEQ_MAX;

/// Size of the encoded record (the file is exactly this long).
pub const SYNCED_POINT_BYTES: usize = 36;
const MAGIC: &[u8; 4] = b"TSYN";
const VERSION: u8 = 1;
/// Bytes covered by the checksum (everything before it).
const CHECKED_BYTES: usize = 32;

/// How far the log was durable: segment `segment` was `len_bytes` long and the stream's
/// last sequence was `last_seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncedPoint {
    pub segment: u64,
    pub len_bytes: u64,
    pub last_seq: u64,
}

/// A synced-point file that does not hold a valid record.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SyncedPointError {
    #[error("{0} bytes, not {SYNCED_POINT_BYTES}")]
    Length(usize),
    #[error("bad magic or version")]
    Magic,
    #[error("checksum mismatch")]
    Checksum,
    #[error("last sequence {0} out of range")]
    Sequence(u64),
}

/// Acknowledged data the segments no longer hold (from [`SyncedPoint`] at recovery).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailLoss {
    pub recorded: SyncedPoint,
    /// Valid length of the recorded segment as found (`None`: the segment is gone).
    pub found_len_bytes: Option<u64>,
    /// The stream's last sequence as the segments tell it.
    pub found_last_seq: u64,
    /// Bytes of the recorded segment missing (0 when only sequences are missing).
    pub missing_bytes: u64,
}

impl SyncedPoint {
    pub fn encode(&self) -> [u8; SYNCED_POINT_BYTES] {
        let mut out = [0u8; SYNCED_POINT_BYTES];
        out[..4].copy_from_slice(MAGIC);
        out[4] = VERSION;
        out[8..16].copy_from_slice(&self.segment.to_le_bytes());
        out[16..24].copy_from_slice(&self.len_bytes.to_le_bytes());
        out[24..32].copy_from_slice(&self.last_seq.to_le_bytes());
        let crc = crc32c::crc32c(&out[..CHECKED_BYTES]);
        out[32..36].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a synced-point file. An empty file (created, never written) is `None`.
    pub fn decode(bytes: &[u8]) -> Result<Option<SyncedPoint>, SyncedPointError> {
        if bytes.is_empty() {
            return Ok(None);
        }
        if bytes.len() != SYNCED_POINT_BYTES {
            return Err(SyncedPointError::Length(bytes.len()));
        }
        if &bytes[..4] != MAGIC || bytes[4] != VERSION {
            return Err(SyncedPointError::Magic);
        }
        let word = |at: usize| {
            let mut le = [0u8; 8];
            le.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(le)
        };
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&bytes[32..36]);
        if crc32c::crc32c(&bytes[..CHECKED_BYTES]) != u32::from_le_bytes(crc) {
            return Err(SyncedPointError::Checksum);
        }
        let point = SyncedPoint {
            segment: word(8),
            len_bytes: word(16),
            last_seq: word(24),
        };
        if point.last_seq > SEQ_MAX {
            return Err(SyncedPointError::Sequence(point.last_seq));
        }
        Ok(Some(point))
    }
}

/// Compares the recorded point with the recovered segments (`(id, valid length)`, oldest
/// first) and the recovered last sequence. A later segment than the recorded one means
/// the recorded one was complete when the log moved on (its own damage shows as
/// sequence gaps, which recovery already reports).
pub(super) fn check(
    recorded: SyncedPoint,
    segments: &[(u64, u64)],
    found_last_seq: u64,
) -> Option<TailLoss> {
    let moved_on = segments
        .last()
        .is_some_and(|(id, _)| *id > recorded.segment);
    let found_len_bytes = segments
        .iter()
        .find(|(id, _)| *id == recorded.segment)
        .map(|(_, len)| *len);
    let missing_bytes = if moved_on {
        0
    } else {
        recorded
            .len_bytes
            .saturating_sub(found_len_bytes.unwrap_or(0))
    };
    (missing_bytes > 0 || found_last_seq < recorded.last_seq).then_some(TailLoss {
        recorded,
        found_len_bytes,
        found_last_seq,
        missing_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POINT: SyncedPoint = SyncedPoint {
        segment: 3,
        len_bytes: 4096,
        last_seq: 77,
    };

    #[test]
    fn round_trips_and_detects_every_single_bit_flip() {
        let bytes = POINT.encode();
        assert_eq!(SyncedPoint::decode(&bytes), Ok(Some(POINT)));
        for bit in 0..SYNCED_POINT_BYTES * 8 {
            let mut damaged = bytes;
            damaged[bit / 8] ^= 1 << (bit % 8);
            let decoded = SyncedPoint::decode(&damaged);
            assert!(decoded.is_err(), "bit {bit}: {decoded:?}");
        }
        assert_eq!(SyncedPoint::decode(&[]), Ok(None));
        assert_eq!(
            SyncedPoint::decode(&bytes[..20]),
            Err(SyncedPointError::Length(20))
        );
    }

    #[test]
    fn check_finds_short_segments_missing_segments_and_missing_sequences() {
        // Intact, or the log moved on to a later segment.
        assert_eq!(check(POINT, &[(2, 100), (3, 4096)], 77), None);
        assert_eq!(check(POINT, &[(3, 5000)], 80), None);
        assert_eq!(check(POINT, &[(3, 10), (4, 300)], 77), None);
        // Cut short.
        let loss = check(POINT, &[(2, 100), (3, 4000)], 75).expect("loss");
        assert_eq!((loss.missing_bytes, loss.found_len_bytes), (96, Some(4000)));
        assert_eq!(loss.found_last_seq, 75);
        // The recorded segment is gone.
        let loss = check(POINT, &[(2, 100)], 60).expect("loss");
        assert_eq!((loss.missing_bytes, loss.found_len_bytes), (4096, None));
        // Bytes intact but sequences short (cannot happen without tampering; reported).
        assert!(check(POINT, &[(3, 4096)], 70).is_some());
    }
}
