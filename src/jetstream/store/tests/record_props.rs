//! The record format: round trips, torn tails, flipped bytes, garbage.

use bytes::Bytes;
use proptest::prelude::*;

use super::super::{decode_at, encode, scan_segment, Record, RecordError, RECORD_MAGIC, SEQ_MAX};

fn record() -> impl Strategy<Value = Record> {
    let subject = proptest::collection::vec(prop_oneof![Just(b'.'), b'a'..=b'z'], 1..24);
    let bytes = |max| proptest::collection::vec(any::<u8>(), 0..max);
    prop_oneof![
        4 => (1..=SEQ_MAX, any::<i64>(), subject, bytes(40), bytes(80)).prop_map(
            |(seq, ts_ns, subject, headers, payload)| Record::Msg {
                seq,
                ts_ns,
                subject: Bytes::from(subject),
                headers: Bytes::from(headers),
                payload: Bytes::from(payload),
            }
        ),
        1 => (1..=SEQ_MAX).prop_map(|seq| Record::Delete { seq }),
        1 => (0..=SEQ_MAX, 0..3u64, any::<i64>()).prop_map(|(last_seq, back, last_ts_ns)| {
            Record::Purge {
                first_seq: (last_seq + 1).saturating_sub(back).max(1),
                last_seq,
                last_ts_ns,
            }
        }),
        1 => (0..=SEQ_MAX, any::<i64>()).prop_map(|(last_seq, last_ts_ns)| {
            Record::SegmentStart {
                first_seq: last_seq / 2 + 1,
                last_seq,
                last_ts_ns,
            }
        }),
    ]
}

/// Encodes the records back to back; returns the bytes and each record's offset.
fn encode_all(records: &[Record]) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = Vec::new();
    let mut offsets = Vec::new();
    for record in records {
        offsets.push(bytes.len());
        let len = encode(record, &mut bytes);
        assert_eq!(len, record.encoded_len());
        assert_eq!(
            decode_at(&bytes[offsets[offsets.len() - 1]..]).as_ref(),
            Ok(record)
        );
    }
    (bytes, offsets)
}

fn expected(records: &[Record], offsets: &[usize], skip: Option<usize>) -> Vec<(u64, Record)> {
    records
        .iter()
        .zip(offsets)
        .enumerate()
        .filter(|(index, _)| Some(*index) != skip)
        .map(|(_, (record, &offset))| (offset as u64, record.clone()))
        .collect()
}

proptest! {
    // Failures are not persisted: the regressions folder belongs to the whole repo.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn records_round_trip(records in proptest::collection::vec(record(), 0..12), zeros in 0..64usize) {
        let (mut bytes, offsets) = encode_all(&records);
        let end = bytes.len() as u64;
        // Preallocated space after the last record ends the scan cleanly.
        bytes.resize(bytes.len() + zeros, 0);
        let scan = scan_segment(&bytes);
        prop_assert_eq!(&scan.records, &expected(&records, &offsets, None));
        prop_assert_eq!(scan.valid_len, end);
        prop_assert!(!scan.torn_tail);
        prop_assert!(scan.corrupt.is_empty());
    }

    #[test]
    fn truncated_last_record_is_a_torn_tail(records in proptest::collection::vec(record(), 1..8)) {
        let (bytes, offsets) = encode_all(&records);
        let last = records.len() - 1;
        let last_offset = offsets[last];
        for cut in last_offset..bytes.len() {
            let scan = scan_segment(&bytes[..cut]);
            prop_assert_eq!(&scan.records, &expected(&records[..last], &offsets[..last], None));
            prop_assert_eq!(scan.valid_len, last_offset as u64);
            prop_assert_eq!(scan.torn_tail, cut > last_offset);
            prop_assert!(scan.corrupt.is_empty());
        }
    }

    #[test]
    fn a_flipped_byte_is_detected(
        records in proptest::collection::vec(record(), 1..10),
        victim in any::<prop::sample::Index>(),
        position in any::<prop::sample::Index>(),
        mask in 1..=255u8,
    ) {
        let (mut bytes, offsets) = encode_all(&records);
        let victim = victim.index(records.len());
        let start = offsets[victim];
        let len = records[victim].encoded_len();
        bytes[start + position.index(len)] ^= mask;
        let scan = scan_segment(&bytes);
        // Every other record comes back intact, the victim never does.
        prop_assert_eq!(&scan.records, &expected(&records, &offsets, Some(victim)));
        if victim == records.len() - 1 {
            prop_assert!(scan.torn_tail);
            prop_assert_eq!(scan.valid_len, start as u64);
            prop_assert!(scan.corrupt.is_empty());
        } else {
            prop_assert!(!scan.torn_tail);
            prop_assert_eq!(scan.valid_len, bytes.len() as u64);
            prop_assert_eq!(scan.corrupt.len(), 1);
            prop_assert_eq!(scan.corrupt[0].offset, start as u64);
            prop_assert_eq!(scan.corrupt[0].len_guess, len as u64);
        }
        // Reading the victim back at its location fails too.
        prop_assert!(decode_at(&bytes[start..]).as_ref() != Ok(&records[victim]));
    }

    #[test]
    fn garbage_never_panics(garbage in proptest::collection::vec(
        prop_oneof![Just(RECORD_MAGIC), Just(0u8), any::<u8>()], 0..400)
    ) {
        let scan = scan_segment(&garbage);
        prop_assert!(scan.valid_len as usize <= garbage.len());
        for start in 0..garbage.len() {
            let _ = decode_at(&garbage[start..]);
        }
    }
}

#[test]
fn decoder_refuses_bad_frames() {
    let mut bytes = Vec::new();
    encode(&Record::Delete { seq: 7 }, &mut bytes);
    assert_eq!(decode_at(&bytes), Ok(Record::Delete { seq: 7 }));
    assert!(matches!(
        decode_at(&bytes[..5]),
        Err(RecordError::Truncated { .. })
    ));
    let mut bad = bytes.clone();
    bad[0] = 0;
    assert_eq!(decode_at(&bad), Err(RecordError::BadMagic(0)));
    let mut bad = bytes.clone();
    bad[5] = 9;
    assert_eq!(decode_at(&bad), Err(RecordError::UnknownKind(9)));
    let mut bad = bytes.clone();
    bad[6] = 200;
    assert!(matches!(
        decode_at(&bad),
        Err(RecordError::BadLength { .. })
    ));
    let mut bad = bytes.clone();
    bad[12] ^= 1;
    assert!(matches!(decode_at(&bad), Err(RecordError::Checksum { .. })));
    // A huge claimed length is refused before anything is read or allocated.
    let mut huge = bytes.clone();
    huge[5] = 1;
    huge[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        decode_at(&huge),
        Err(RecordError::BadLength { .. })
    ));
}

#[test]
fn a_damaged_stretch_in_the_middle_is_skipped() {
    let records: Vec<Record> = (1..=5).map(|seq| Record::Delete { seq }).collect();
    let (mut bytes, offsets) = encode_all(&records);
    // Zero out records 2 and 3 entirely (a lost sector, say).
    bytes[offsets[1]..offsets[3]].fill(0);
    let scan = scan_segment(&bytes);
    let kept: Vec<u64> = scan
        .records
        .iter()
        .map(|(_, record)| match record {
            Record::Delete { seq } => *seq,
            _ => 0,
        })
        .collect();
    assert_eq!(kept, vec![1, 4, 5]);
    assert_eq!(scan.corrupt.len(), 1);
    assert_eq!(scan.corrupt[0].offset, offsets[1] as u64);
    assert_eq!(scan.corrupt[0].len_guess, (offsets[3] - offsets[1]) as u64);
    assert!(!scan.torn_tail);
}
