//! One flat byte key per (subject, queue) pair, so the maps keyed by such pairs can be
//! probed with a borrowed `&[u8]` built in a reused buffer (no allocation per lookup).
//!
//! ```text
//!   +-----------+----------------------+---------------+-------------+
//!   | has_queue | subject length       | subject bytes | queue bytes |
//!   |  1 byte   | 8 bytes little-endian|               | (if any)    |
//!   +-----------+----------------------+---------------+-------------+
//! ```
//! The length prefix keeps the split unambiguous for any bytes, valid subject or not.

use super::KEY_SCRATCH_RETAINED_BYTES_MAX;

const HEADER_BYTES: usize = 9;

/// A reusable buffer that holds the key of the pair being looked up.
#[derive(Default)]
pub(super) struct KeyScratch {
    buffer: Vec<u8>,
}

impl KeyScratch {
    /// Encodes the pair and returns the key, valid until the next call.
    pub(super) fn encode(&mut self, subject: &[u8], queue: Option<&[u8]>) -> &[u8] {
        if self.buffer.capacity() > KEY_SCRATCH_RETAINED_BYTES_MAX {
            self.buffer = Vec::new();
        }
        self.buffer.clear();
        self.buffer.push(u8::from(queue.is_some()));
        self.buffer
            .extend_from_slice(&(subject.len() as u64).to_le_bytes());
        self.buffer.extend_from_slice(subject);
        if let Some(queue) = queue {
            self.buffer.extend_from_slice(queue);
        }
        &self.buffer
    }
}

/// Splits a key made by [`KeyScratch::encode`]; `None` only for bytes it never made.
pub(super) fn decode(key: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let (&has_queue, rest) = key.split_first()?;
    let length_bytes: [u8; 8] = rest.get(..HEADER_BYTES - 1)?.try_into().ok()?;
    let subject_len = usize::try_from(u64::from_le_bytes(length_bytes)).ok()?;
    let body = rest.get(HEADER_BYTES - 1..)?;
    let subject = body.get(..subject_len)?;
    let queue = body.get(subject_len..)?;
    match has_queue {
        0 if queue.is_empty() => Some((subject, None)),
        1 => Some((subject, Some(queue))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_stays_unambiguous() {
        let mut scratch = KeyScratch::default();
        let pairs: [(&[u8], Option<&[u8]>); 5] = [
            (b"ab", Some(b"c")),
            (b"a", Some(b"bc")),
            (b"abc", None),
            (b"abc", Some(b"")),
            (b"", None),
        ];
        let mut keys = Vec::new();
        for (subject, queue) in pairs {
            let key = scratch.encode(subject, queue).to_vec();
            assert_eq!(decode(&key), Some((subject, queue)));
            keys.push(key);
        }
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), pairs.len());
    }

    #[test]
    fn foreign_bytes_do_not_decode() {
        assert_eq!(decode(b""), None);
        assert_eq!(decode(&[0, 1, 0]), None);
        assert_eq!(decode(&[2, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(decode(&[0, 5, 0, 0, 0, 0, 0, 0, 0, b'a']), None);
        assert_eq!(decode(&[0, 0, 0, 0, 0, 0, 0, 0, 0, b'a']), None);
    }
}
