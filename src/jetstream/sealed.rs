//! Checksummed JSON metadata files (`meta.json` of streams and consumers).
//!
//! A flipped bit inside a JSON string still parses, into a different config (another
//! subject, another limit), so JSON syntax alone does not detect damage. nats-server keeps
//! a checksum in a second file (`meta.sum`); two files cannot be replaced atomically
//! together, so here the checksum lives in the same file, which stays plain JSON:
//!
//! ```text
//! {"meta":<the metadata JSON, byte for byte>,"crc32c":<crc32c of those bytes, decimal>}
//! ```
//!
//! A file that does not start with `{"meta":` is a legacy file (written before the
//! checksum existed) and is read as the metadata itself. A file that does, but whose
//! checksum is missing, malformed or wrong, is damaged. Damage to the prefix itself makes
//! the file read as legacy JSON of the wrong shape, which fails to parse as metadata.

use thiserror::Error;

const PREFIX: &[u8] = b"{\"meta\":";
const CRC_KEY: &[u8] = b",\"crc32c\":";

/// A sealed file whose checksum does not hold.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SealError {
    #[error("checksum missing or malformed")]
    Malformed,
    #[error("checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    Mismatch { stored: u32, computed: u32 },
}

/// The metadata bytes of a file, and whether a checksum vouched for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsealed<'a> {
    Checked(&'a [u8]),
    Legacy(&'a [u8]),
}

impl<'a> Unsealed<'a> {
    pub fn json(self) -> &'a [u8] {
        match self {
            Unsealed::Checked(json) | Unsealed::Legacy(json) => json,
        }
    }
}

/// Wraps the metadata JSON `json` with its checksum.
pub fn seal(json: &[u8]) -> Vec<u8> {
    let crc = crc32c::crc32c(json).to_string();
    let mut out = Vec::with_capacity(PREFIX.len() + json.len() + CRC_KEY.len() + crc.len() + 1);
    out.extend_from_slice(PREFIX);
    out.extend_from_slice(json);
    out.extend_from_slice(CRC_KEY);
    out.extend_from_slice(crc.as_bytes());
    out.push(b'}');
    out
}

/// Checks a file written by [`seal`] (or a legacy one) and returns the metadata JSON.
pub fn unseal(file: &[u8]) -> Result<Unsealed<'_>, SealError> {
    let Some(rest) = file.strip_prefix(PREFIX) else {
        return Ok(Unsealed::Legacy(file));
    };
    let rest = rest.strip_suffix(b"}").ok_or(SealError::Malformed)?;
    let key_at = rest
        .windows(CRC_KEY.len())
        .rposition(|w| w == CRC_KEY)
        .ok_or(SealError::Malformed)?;
    let (json, digits) = (&rest[..key_at], &rest[key_at + CRC_KEY.len()..]);
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(SealError::Malformed);
    }
    let stored: u32 = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or(SealError::Malformed)?;
    let computed = crc32c::crc32c(json);
    if stored != computed {
        return Err(SealError::Mismatch { stored, computed });
    }
    Ok(Unsealed::Checked(json))
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &[u8] = br#"{"config":{"name":"S","subjects":["a.>"],"max_msgs":-1},"created":1}"#;

    #[test]
    fn sealed_files_are_json_and_round_trip() {
        let sealed = seal(META);
        let value: serde_json::Value = serde_json::from_slice(&sealed).expect("plain JSON");
        assert_eq!(value["meta"]["config"]["name"], "S");
        assert_eq!(unseal(&sealed), Ok(Unsealed::Checked(META)));
        assert_eq!(unseal(META), Ok(Unsealed::Legacy(META)));
    }

    #[test]
    fn every_single_bit_flip_is_caught_or_fails_to_parse() {
        let sealed = seal(META);
        for bit in 0..sealed.len() * 8 {
            let mut damaged = sealed.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            match unseal(&damaged) {
                Err(_) => {}
                // A flip in the prefix makes it a "legacy" file of the wrong shape.
                Ok(Unsealed::Legacy(json)) => {
                    let parsed: Result<serde_json::Value, _> = serde_json::from_slice(json);
                    assert!(
                        parsed.map_or(true, |v| v.get("config").is_none()),
                        "bit {bit}: read as legacy metadata"
                    );
                }
                Ok(Unsealed::Checked(json)) => panic!(
                    "bit {bit}: damage not detected: {}",
                    String::from_utf8_lossy(json)
                ),
            }
        }
    }
}
