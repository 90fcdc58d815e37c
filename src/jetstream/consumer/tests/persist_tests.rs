//! The on-disk consumer state: round trips, and hostile bytes never panic.

use proptest::prelude::*;

use super::super::persist::{decode, ConsumerSnapshot, PendingSnapshot, SnapshotError};
use super::super::SequencePair;

fn snapshot() -> impl Strategy<Value = ConsumerSnapshot> {
    let seq = prop_oneof![0..50u64, any::<u64>()];
    (seq.clone(), seq.clone(), seq.clone(), seq)
        .prop_flat_map(|(a, b, c, d)| {
            let delivered = SequencePair {
                consumer_seq: a.max(b),
                stream_seq: c.max(d),
            };
            let floor = SequencePair {
                consumer_seq: a.min(b),
                stream_seq: c.min(d),
            };
            let span = delivered.stream_seq - floor.stream_seq;
            let pending = prop::collection::btree_map(
                0..span.clamp(1, 1 << 40),
                (any::<u64>(), any::<i64>()),
                0..20,
            );
            let redelivered = prop::collection::btree_map(1..u64::MAX, 1..u64::MAX, 0..20);
            (Just(delivered), Just(floor), pending, redelivered)
        })
        .prop_map(
            |(delivered, floor, pending, redelivered)| ConsumerSnapshot {
                delivered,
                ack_floor: floor,
                pending: pending
                    .into_iter()
                    .map(|(offset, (consumer, deadline_ns))| PendingSnapshot {
                        stream_seq: floor.stream_seq + 1 + offset,
                        consumer_seq: 1 + consumer % delivered.consumer_seq.max(1),
                        deadline_ns,
                    })
                    .filter(|entry| {
                        delivered.consumer_seq > 0 && entry.stream_seq <= delivered.stream_seq
                    })
                    .collect(),
                redelivered: redelivered.into_iter().collect(),
            },
        )
}

proptest! {
    #[test]
    fn snapshots_round_trip(snapshot in snapshot()) {
        let mut bytes = vec![0xAA];
        snapshot.encode(&mut bytes).unwrap();
        prop_assert_eq!(decode(&bytes[1..]).unwrap(), snapshot);
    }

    #[test]
    fn any_damage_is_detected(snapshot in snapshot(), index in any::<usize>(), flip in 1..=255u8, cut in any::<usize>()) {
        let mut bytes = Vec::new();
        snapshot.encode(&mut bytes).unwrap();
        let mut damaged = bytes.clone();
        let at = index % damaged.len();
        damaged[at] ^= flip;
        prop_assert!(decode(&damaged).is_err());
        let cut = cut % bytes.len();
        prop_assert!(decode(&bytes[..cut]).is_err());
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn garbage_with_a_valid_header_never_panics(body in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut bytes = b"TCST\x01".to_vec();
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes), &body);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes.extend_from_slice(&body);
        if let Ok(snapshot) = decode(&bytes) {
            prop_assert!(snapshot.validate().is_ok());
        }
    }
}

#[test]
fn header_errors_are_named() {
    let mut bytes = Vec::new();
    ConsumerSnapshot::default().encode(&mut bytes).unwrap();
    assert_eq!(decode(&bytes), Ok(ConsumerSnapshot::default()));
    assert_eq!(decode(&bytes[..5]), Err(SnapshotError::TooShort));
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert_eq!(decode(&bad), Err(SnapshotError::BadMagic));
    let mut bad = bytes.clone();
    bad[4] = 9;
    assert_eq!(decode(&bad), Err(SnapshotError::UnsupportedVersion(9)));
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(decode(&long), Err(SnapshotError::LengthMismatch));
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(decode(&bad), Err(SnapshotError::Checksum));
}

#[test]
fn inconsistent_snapshots_are_not_written() {
    let floor_above = ConsumerSnapshot {
        ack_floor: SequencePair {
            consumer_seq: 2,
            stream_seq: 2,
        },
        delivered: SequencePair {
            consumer_seq: 1,
            stream_seq: 5,
        },
        ..ConsumerSnapshot::default()
    };
    let pending_at_floor = ConsumerSnapshot {
        ack_floor: SequencePair {
            consumer_seq: 1,
            stream_seq: 2,
        },
        delivered: SequencePair {
            consumer_seq: 5,
            stream_seq: 5,
        },
        pending: vec![PendingSnapshot {
            stream_seq: 2,
            consumer_seq: 2,
            deadline_ns: 0,
        }],
        redelivered: vec![],
    };
    let zero_count = ConsumerSnapshot {
        redelivered: vec![(3, 0)],
        ..ConsumerSnapshot::default()
    };
    for snapshot in [floor_above, pending_at_floor, zero_count] {
        let mut bytes = Vec::new();
        assert_eq!(snapshot.encode(&mut bytes), Err(SnapshotError::OutOfRange));
        assert!(bytes.is_empty());
    }
}
