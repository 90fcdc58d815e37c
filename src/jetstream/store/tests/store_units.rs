//! Unit tests of `MsgStore`: each limit reason, ADR-10 purges, state definitions, the
//! cache, segment removal, and recovery from damaged logs.

use bytes::Bytes;

use super::super::{
    encode, DedupWindow, DiscardPolicy, LogOp, MsgBody, MsgStore, Record, StorageType, StoreConfig,
    StoreError, SEQ_MAX,
};
use super::sim::{read, snapshot, SimDisk};

fn memory() -> StoreConfig {
    StoreConfig::new(StorageType::Memory)
}

fn file(segment_bytes_max: u64, cache_bytes_max: u64) -> StoreConfig {
    StoreConfig {
        segment_bytes_max,
        cache_bytes_max,
        ..StoreConfig::new(StorageType::File)
    }
}

fn put(store: &mut MsgStore, subject: &str, payload: &str, now_ns: i64) -> Result<u64, StoreError> {
    store
        .append(
            Bytes::copy_from_slice(subject.as_bytes()),
            Bytes::new(),
            Bytes::copy_from_slice(payload.as_bytes()),
            now_ns,
        )
        .map(|appended| appended.seq)
}

fn put_headers(
    store: &mut MsgStore,
    subject: &str,
    headers: &'static [u8],
) -> Result<u64, StoreError> {
    store
        .append(
            Bytes::copy_from_slice(subject.as_bytes()),
            Bytes::from_static(headers),
            Bytes::from_static(b"x"),
            1,
        )
        .map(|appended| appended.seq)
}

#[test]
fn limit_errors_carry_nats_server_descriptions() {
    assert_eq!(StoreError::MaxMsgs.to_string(), "maximum messages exceeded");
    assert_eq!(StoreError::MaxBytes.to_string(), "maximum bytes exceeded");
    assert_eq!(
        StoreError::MaxMsgsPerSubject.to_string(),
        "maximum messages per subject exceeded"
    );
    assert_eq!(
        StoreError::MaxMsgSize.to_string(),
        "message size exceeds maximum allowed"
    );
    assert_eq!(StoreError::MsgTooLarge.to_string(), "message too large");
    assert_eq!(
        StoreError::SequenceMismatch.to_string(),
        "expected sequence does not match store"
    );
    assert!(StoreError::MaxBytes.is_limit() && !StoreError::MaxMsgSize.is_limit());
}

#[test]
fn discard_new_max_msgs() {
    let mut store = MsgStore::new(StoreConfig {
        max_msgs: 2,
        discard: DiscardPolicy::New,
        ..memory()
    });
    put(&mut store, "a", "1", 1).unwrap();
    put(&mut store, "b", "2", 2).unwrap();
    assert_eq!(put(&mut store, "c", "3", 3), Err(StoreError::MaxMsgs));
    assert_eq!(
        store.state().last_seq,
        2,
        "a refused message takes no sequence"
    );
}

#[test]
fn discard_new_max_bytes() {
    // Memory accounting: subject + payload + 16 = 1 + 4 + 16 = 21 per message.
    let mut store = MsgStore::new(StoreConfig {
        max_bytes: 42,
        discard: DiscardPolicy::New,
        ..memory()
    });
    put(&mut store, "a", "1234", 1).unwrap();
    put(&mut store, "a", "1234", 2).unwrap();
    assert_eq!(store.state().bytes, 42);
    assert_eq!(put(&mut store, "a", "1", 3), Err(StoreError::MaxBytes));
}

#[test]
fn discard_new_per_subject_needs_the_per_subject_flag() {
    let cfg = StoreConfig {
        max_msgs_per_subject: 1,
        discard: DiscardPolicy::New,
        ..memory()
    };
    // Without discard_new_per_subject the new message replaces the old one.
    let mut store = MsgStore::new(cfg.clone());
    put(&mut store, "a", "1", 1).unwrap();
    assert_eq!(put(&mut store, "a", "2", 2), Ok(2));
    assert_eq!(store.state().messages, 1);
    assert_eq!(store.last_seq_for_subject(b"a"), Some(2));

    let mut store = MsgStore::new(StoreConfig {
        discard_new_per_subject: true,
        ..cfg
    });
    put(&mut store, "a", "1", 1).unwrap();
    assert_eq!(
        put(&mut store, "a", "2", 2),
        Err(StoreError::MaxMsgsPerSubject)
    );
    assert_eq!(
        put(&mut store, "b", "2", 2),
        Ok(2),
        "other subjects are fine"
    );
    // A rollup passes: it purges the subject after storing anyway.
    assert_eq!(
        put_headers(&mut store, "a", b"NATS/1.0\r\nNats-Rollup: sub\r\n\r\n"),
        Ok(3)
    );
}

#[test]
fn discard_new_replacement_within_max_msgs_and_bytes() {
    // At the per-subject limit a new message replaces the subject's oldest, so a full
    // stream still takes it, and max_bytes only minds when the new one is bigger.
    let mut store = MsgStore::new(StoreConfig {
        max_msgs: 2,
        max_bytes: 40,
        max_msgs_per_subject: 1,
        discard: DiscardPolicy::New,
        ..memory()
    });
    put(&mut store, "a", "12", 1).unwrap(); // 19 bytes
    put(&mut store, "b", "12", 2).unwrap(); // 38 bytes
    assert_eq!(put(&mut store, "c", "1", 3), Err(StoreError::MaxMsgs));
    assert_eq!(put(&mut store, "a", "12", 4), Ok(3));
    assert_eq!(put(&mut store, "a", "123", 5), Err(StoreError::MaxBytes));
    assert_eq!(store.state().messages, 2);
}

#[test]
fn max_msg_size_and_record_bounds() {
    let mut store = MsgStore::new(StoreConfig {
        max_msg_size: 4,
        ..memory()
    });
    assert_eq!(put(&mut store, "a", "1234", 1), Ok(1));
    assert_eq!(
        put(&mut store, "a", "12345", 1),
        Err(StoreError::MaxMsgSize)
    );
    let long_subject = "a".repeat(70_000);
    assert_eq!(
        put(&mut store, &long_subject, "", 1),
        Err(StoreError::MsgTooLarge)
    );
    assert_eq!(
        put(&mut store, "a..b", "", 1),
        Err(StoreError::InvalidSubject)
    );
    assert_eq!(
        store.store_raw(9, 1, b"a", b"", b"", false),
        Err(StoreError::SequenceMismatch)
    );
    assert_eq!(
        store
            .store_raw(2, 7, b"a", b"", b"", false)
            .map(|a| a.ts_ns),
        Ok(7)
    );
}

#[test]
fn discard_old_limits_remove_the_oldest() {
    let mut store = MsgStore::new(StoreConfig {
        max_msgs: 3,
        max_msgs_per_subject: 2,
        ..file(0, 1 << 20)
    });
    for (i, subject) in ["a", "a", "b", "a", "c"].iter().enumerate() {
        put(&mut store, subject, "x", i as i64).unwrap();
    }
    // Seq 1 went to the per-subject limit, seq 2 to max_msgs.
    let state = store.state();
    assert_eq!((state.first_seq, state.last_seq, state.messages), (3, 5, 3));
    // File accounting: 22 + 1 + 1 + 8 = 32 per message.
    assert_eq!(state.bytes, 96);
    assert_eq!(store.deleted(), Vec::<u64>::new());
}

#[test]
fn empty_stream_state_follows_nats_server() {
    let mut store = MsgStore::new(StoreConfig {
        first_seq: 100,
        ..memory()
    });
    let state = store.state();
    assert_eq!(
        (
            state.first_seq,
            state.last_seq,
            state.first_ts_ns,
            state.last_ts_ns
        ),
        (100, 99, 0, 0)
    );
    put(&mut store, "a", "1", 5).unwrap();
    put(&mut store, "b", "1", 6).unwrap();
    put(&mut store, "a", "1", 7).unwrap();
    assert!(store.delete(101));
    let state = store.state();
    assert_eq!(
        (state.first_seq, state.num_deleted, state.num_subjects),
        (100, 1, 1)
    );
    assert!(
        store.delete(102),
        "deleting the last message keeps last_seq"
    );
    let state = store.state();
    assert_eq!(
        (state.first_seq, state.last_seq, state.num_deleted),
        (100, 102, 2)
    );
    assert_eq!(store.deleted(), vec![101, 102]);
    assert_eq!(store.purge(None, None, None), 1);
    let state = store.state();
    assert_eq!(
        (state.first_seq, state.last_seq, state.last_ts_ns),
        (103, 102, 7)
    );
    assert_eq!(
        (
            state.messages,
            state.bytes,
            state.first_ts_ns,
            state.num_deleted
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(store.last_seq_for_subject(b"a"), None, "purge-aware");
    assert_eq!(put(&mut store, "a", "1", 8), Ok(103));
}

#[test]
fn adr10_purges() {
    let mut store = MsgStore::new(memory());
    for subject in ["a.1", "a.2", "b", "a.1", "a.2", "b", "a.1"] {
        put(&mut store, subject, "x", 1).unwrap();
    }
    // Filter + keep: keep the newest 1 of a.1 (seqs 1, 4, 7).
    assert_eq!(store.purge(Some(b"a.1"), None, Some(1)), 2);
    assert_eq!(
        store.subject_counts(b"a.1"),
        vec![(Bytes::from_static(b"a.1"), 1)]
    );
    // Filter + seq: a.* below 5 (exclusive): seq 2 only (1 and 4 are gone).
    assert_eq!(store.purge(Some(b"a.*"), Some(5), None), 1);
    assert_eq!(store.next_for(0, b"a.*"), Some(5));
    // seq 1 purges nothing; keep >= matching purges nothing.
    assert_eq!(store.purge(None, Some(1), None), 0);
    assert_eq!(store.purge(Some(b"b"), None, Some(5)), 0);
    // Seq alone compacts.
    assert_eq!(store.purge(None, Some(6), None), 2);
    assert_eq!(store.state().first_seq, 6);
    // Keep alone keeps the newest.
    assert_eq!(store.purge(Some(b">"), None, Some(1)), 1);
    assert_eq!(store.state().first_seq, 7);
    // Compacting past the end moves the next sequence.
    assert_eq!(store.compact(20), 1);
    let state = store.state();
    assert_eq!((state.first_seq, state.last_seq), (20, 19));
    assert_eq!(put(&mut store, "a", "1", 2), Ok(20));
}

#[test]
fn max_age_expiry() {
    let mut store = MsgStore::new(StoreConfig {
        max_age_ns: 100,
        ..memory()
    });
    assert_eq!(store.next_expiry_ns(), None);
    put(&mut store, "a", "1", 1000).unwrap();
    put(&mut store, "a", "1", 1050).unwrap();
    assert_eq!(store.next_expiry_ns(), Some(1100));
    assert_eq!(store.expire(1099), 0);
    assert_eq!(store.expire(1100), 1, "ts <= now - max_age expires");
    assert_eq!(store.next_expiry_ns(), Some(1150));
    assert_eq!(store.expire(5000), 1);
    assert_eq!(store.next_expiry_ns(), None);
    assert_eq!(store.state().last_ts_ns, 1050);
}

#[test]
fn update_config_applies_new_limits() {
    let mut store = MsgStore::new(memory());
    for subject in ["a", "a", "a", "b", "b"] {
        put(&mut store, subject, "xx", 1).unwrap();
    }
    let removed = store
        .update_config(
            StoreConfig {
                max_msgs_per_subject: 1,
                ..memory()
            },
            10,
        )
        .unwrap();
    assert_eq!((removed.msgs, removed.bytes), (3, 3 * 19));
    assert_eq!(
        store.subject_counts(b""),
        vec![(Bytes::from_static(b"a"), 1), (Bytes::from_static(b"b"), 1)]
    );
    assert_eq!(
        store.update_config(file(0, 0), 10),
        Err(StoreError::StorageChanged)
    );
}

#[test]
fn wildcard_queries() {
    let mut store = MsgStore::new(memory());
    for subject in ["orders.eu.1", "orders.us.1", "stock.eu", "orders.eu.2"] {
        put(&mut store, subject, "x", 1).unwrap();
    }
    assert_eq!(store.last_for(b"orders.eu.*"), Some(4));
    assert_eq!(store.last_for(b"*.eu"), Some(3));
    assert_eq!(store.last_for(b"nothing"), None);
    assert_eq!(store.next_for(2, b"orders.>"), Some(2));
    assert_eq!(store.next_for(3, b"orders.>"), Some(4));
    assert_eq!(store.num_pending(2, b"orders.>"), 2);
    assert_eq!(store.num_pending(0, b""), 4);
    assert_eq!(store.subject_counts(b"orders.*.1").len(), 2);
}

#[test]
fn file_cache_evicts_oldest_and_reads_verify() {
    let mut store = MsgStore::new(file(0, 10));
    let mut disk = SimDisk::default();
    put(&mut store, "a", "12345678", 1).unwrap();
    put(&mut store, "a", "abcdefgh", 2).unwrap();
    disk.apply(&store.take_log());
    assert_eq!(store.cached_bytes(), 8);
    let Some(MsgBody::OnDisk(location)) = store.get(1).map(|view| view.body) else {
        panic!("oldest body should be evicted");
    };
    assert_eq!(location.segment, 1);
    assert!(matches!(
        store.get(2).map(|view| view.body),
        Some(MsgBody::Cached { .. })
    ));
    assert_eq!(&read(&store, &disk, 1).unwrap().payload[..], b"12345678");
    // A read of the wrong location is refused.
    let view = store.get(1).unwrap();
    let wrong = store.get(2).unwrap();
    let file = &disk.segments[&1];
    let MsgBody::OnDisk(location) = view.body else {
        unreachable!()
    };
    let bytes = &file[location.offset as usize..][..location.len as usize];
    assert!(wrong.verify_read(bytes).is_err());
}

/// Segments holding only dead messages go only from the head.
#[test]
fn segments_are_removed_from_the_head_only() {
    // Each 1-byte-payload message frame is 34 bytes; 128-byte segments hold a
    // SegmentStart (34) and two messages.
    let mut store = MsgStore::new(file(128, 0));
    let mut disk = SimDisk::default();
    for i in 0..6 {
        put(&mut store, "a", "x", i).unwrap();
    }
    disk.apply(&store.take_log());
    let ids: Vec<u64> = store.segments().iter().map(|s| s.0).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    // Empty the middle segment: nothing is removed while the head lives.
    assert!(store.delete(3) && store.delete(4));
    let batch = store.take_log();
    assert!(!batch
        .ops
        .iter()
        .any(|op| matches!(op, LogOp::RemoveSegment { .. })));
    disk.apply(&batch);
    // Empty the head: both go, oldest first, after the tombstones.
    assert!(store.delete(1) && store.delete(2));
    let batch = store.take_log();
    let removals: Vec<u64> = batch
        .ops
        .iter()
        .filter_map(|op| match op {
            LogOp::RemoveSegment { id } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(removals, vec![1, 2]);
    assert!(matches!(
        batch.ops.last(),
        Some(LogOp::RemoveSegment { .. })
    ));
    disk.apply(&batch);
    let (recovered, _) = disk.clone().recover(store.config().clone());
    assert_eq!(snapshot(&recovered, &disk), snapshot(&store, &disk));
    assert_eq!(recovered.state().first_seq, 5);
}

#[test]
fn full_purge_starts_a_new_segment_and_drops_the_old() {
    let mut store = MsgStore::new(file(0, 0));
    let mut disk = SimDisk::default();
    put(&mut store, "a", "x", 1).unwrap();
    disk.apply(&store.take_log());
    assert_eq!(store.purge(None, None, None), 1);
    let batch = store.take_log();
    assert_eq!(batch.ops.first(), Some(&LogOp::NewSegment { id: 2 }));
    assert_eq!(batch.ops.last(), Some(&LogOp::RemoveSegment { id: 1 }));
    disk.apply(&batch);
    let (recovered, _) = disk.recover(store.config().clone());
    assert_eq!(recovered.state(), store.state());
}

/// A damaged message in the middle of the log is lost, never served, and its sequence
/// is not reused.
#[test]
fn recovery_marks_damaged_messages_lost() {
    let mut store = MsgStore::new(file(0, 0));
    let mut disk = SimDisk::default();
    for i in 1..=4 {
        put(&mut store, "a", &format!("m{i}"), i).unwrap();
    }
    disk.apply(&store.take_log());
    let location = store.location(2).unwrap();
    let segment = disk.segments.get_mut(&1).unwrap();
    segment[location.offset as usize + 20] ^= 0xFF;
    let (recovered, report) = disk.recover(store.config().clone());
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.lost_msgs, vec![2]);
    assert!(recovered.get(2).is_none());
    let state = recovered.state();
    assert_eq!(
        (state.messages, state.last_seq, state.num_deleted),
        (3, 4, 1)
    );
    assert_eq!(state.lost_msgs, vec![2]);
    assert!(state.lost_bytes > 0);
    for seq in [1, 3, 4] {
        assert_eq!(
            &read(&recovered, &disk, seq).unwrap().payload[..],
            format!("m{seq}").as_bytes()
        );
    }
}

/// A record damaged after recovery verified it fails its read-back check; forgetting it
/// counts it as lost, its sequence is not reused, and a recovery afterwards agrees.
#[test]
fn a_record_damaged_after_recovery_is_forgotten_as_lost() {
    let mut store = MsgStore::new(file(0, 0));
    let mut disk = SimDisk::default();
    for i in 1..=4 {
        put(&mut store, "a", &format!("m{i}"), i).unwrap();
    }
    disk.apply(&store.take_log());
    let location = store.location(3).unwrap();
    let segment = disk.segments.get_mut(&1).unwrap();
    segment[location.offset as usize + 20] ^= 0x40;
    let start = location.offset as usize;
    let bytes = &segment[start..start + location.len as usize];
    assert!(
        store.get(3).unwrap().verify_read(bytes).is_err(),
        "the damage is caught on read"
    );
    let size_before = store.state().bytes;
    assert!(store.forget_damaged(3));
    assert!(!store.forget_damaged(3), "only once");
    assert!(store.get(3).is_none());
    let state = store.state();
    assert_eq!((state.messages, state.last_seq), (3, 4));
    assert_eq!(state.lost_msgs, vec![3]);
    assert_eq!(state.lost_bytes, size_before - state.bytes);
    assert_eq!(put(&mut store, "a", "m5", 5).unwrap(), 5);
    disk.apply(&store.take_log());
    let (recovered, _) = disk.recover(store.config().clone());
    assert!(recovered.get(3).is_none());
    assert_eq!(recovered.state().messages, 4);
    for seq in [1, 2, 4, 5] {
        assert_eq!(
            &read(&recovered, &disk, seq).unwrap().payload[..],
            format!("m{seq}").as_bytes()
        );
    }
}

/// Without a body cache, a message logged but not yet taken for writing is read from
/// the pending batch; once taken, only its file has it.
#[test]
fn pending_frames_are_readable_until_taken() {
    let mut store = MsgStore::new(file(0, 0));
    let mut disk = SimDisk::default();
    put(&mut store, "a", "first", 1).unwrap();
    disk.apply(&store.take_log());
    put(&mut store, "a", "second", 2).unwrap();
    put(&mut store, "a", "third", 3).unwrap();
    let location = |store: &MsgStore, seq| store.location(seq).unwrap();
    assert!(store.pending_frame(location(&store, 1)).is_none());
    for (seq, payload) in [(2, "second"), (3, "third")] {
        let frame = store.pending_frame(location(&store, seq)).unwrap().to_vec();
        let message = store.get(seq).unwrap().verify_read(&frame).unwrap();
        assert_eq!(&message.payload[..], payload.as_bytes());
    }
    let batch = store.take_log();
    assert!(store.pending_frame(location(&store, 3)).is_none());
    disk.apply(&batch);
    assert_eq!(&read(&store, &disk, 3).unwrap().payload[..], b"third");
}

/// Damaged records after the last message: their possible sequences are reserved.
#[test]
fn recovery_never_reuses_a_damaged_tail_sequence() {
    let mut store = MsgStore::new(file(0, 0));
    let mut disk = SimDisk::default();
    put(&mut store, "a", "1", 1).unwrap();
    put(&mut store, "a", "2", 2).unwrap();
    assert!(store.delete(1));
    disk.apply(&store.take_log());
    // Damage message 2; only tombstone-like records follow it.
    let location = store.location(2).unwrap();
    disk.segments.get_mut(&1).unwrap()[location.offset as usize + 12] ^= 1;
    let (mut recovered, report) = disk.recover(store.config().clone());
    assert_eq!(report.corrupt.len(), 1);
    assert!(recovered.state().last_seq >= 2);
    assert!(report.lost_msgs.contains(&2));
    let next = put(&mut recovered, "a", "3", 3).unwrap();
    assert!(next > 2);
}

#[test]
fn recovery_resumes_an_empty_or_headless_last_segment() {
    let cfg = file(0, 1 << 20);
    // No segments at all: a new log.
    let (mut store, report) = MsgStore::recover(cfg.clone(), Vec::new()).unwrap();
    assert_eq!(report, Default::default());
    assert_eq!(
        store.take_log().ops.first(),
        Some(&LogOp::NewSegment { id: 1 })
    );

    // A segment created but never written: its SegmentStart goes at offset 0.
    let mut disk = SimDisk::default();
    disk.segments.insert(4, Vec::new());
    let (mut store, _) = MsgStore::recover(cfg.clone(), disk.scans()).unwrap();
    let batch = store.take_log();
    assert!(matches!(
        batch.ops[..],
        [LogOp::Append {
            segment: 4,
            offset: 0,
            ..
        }]
    ));

    // A segment whose first record is damaged: a new segment is started.
    let mut bytes = Vec::new();
    encode(
        &Record::SegmentStart {
            first_seq: 1,
            last_seq: 0,
            last_ts_ns: 0,
        },
        &mut bytes,
    );
    encode(&Record::Delete { seq: 1 }, &mut bytes);
    bytes[3] ^= 1;
    let mut disk = SimDisk::default();
    disk.segments.insert(7, bytes);
    let (mut store, report) = MsgStore::recover(cfg, disk.scans()).unwrap();
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(
        store.take_log().ops.first(),
        Some(&LogOp::NewSegment { id: 8 })
    );
    assert!(MsgStore::recover(memory(), Vec::new()).is_err());
}

#[test]
fn recovery_rebuilds_the_dedup_window() {
    let mut store = MsgStore::new(file(0, 0));
    let mut disk = SimDisk::default();
    put_headers(&mut store, "a", b"NATS/1.0\r\nNats-Msg-Id: one\r\n\r\n").unwrap();
    put_headers(&mut store, "a", b"NATS/1.0\r\nNats-Msg-Id: two\r\n\r\n").unwrap();
    put_headers(&mut store, "a", b"NATS/1.0\r\nNats-Msg-Id: gone\r\n\r\n").unwrap();
    assert!(store.delete(3));
    disk.apply(&store.take_log());
    let (recovered, report) = disk.recover(store.config().clone());
    let ids: Vec<&[u8]> = report.msg_ids.iter().map(|id| &id.id[..]).collect();
    assert_eq!(ids, vec![&b"one"[..], &b"two"[..]]);
    let window = DedupWindow::rebuild(100, 50, &report.msg_ids, recovered.state().last_seq);
    assert_eq!(window.check(b"two", 50), Some(2));
    assert_eq!(window.check(b"gone", 50), None);
    assert_eq!(window.last_msg_id(), None, "the last message was deleted");
}

/// Client-chosen sequences (STREAM.PURGE seq, first_seq) cannot overflow the store.
#[test]
fn sequences_stop_at_the_ceiling() {
    let mut store = MsgStore::new(file(0, 0));
    let mut disk = SimDisk::default();
    assert_eq!(store.purge(None, Some(u64::MAX), None), 0);
    assert_eq!(store.state().last_seq, SEQ_MAX - 1);
    assert_eq!(put(&mut store, "a", "1", 1), Ok(SEQ_MAX));
    assert_eq!(
        put(&mut store, "a", "1", 1),
        Err(StoreError::SequencesExhausted)
    );
    assert_eq!(store.skip(1), Err(StoreError::SequencesExhausted));
    disk.apply(&store.take_log());
    let (recovered, _) = disk.recover(store.config().clone());
    assert_eq!(recovered.state(), store.state());

    let store = MsgStore::new(StoreConfig {
        first_seq: u64::MAX,
        ..memory()
    });
    assert_eq!(store.state().first_seq, SEQ_MAX);
}

/// A log cut before its recorded synced point: the cut sequences are lost, never reused,
/// and a Purge mark keeps them used across the next restart (which has the old point).
#[test]
fn recovery_reports_a_tail_cut_before_the_synced_point() {
    let mut store = MsgStore::new(file(0, 0));
    let mut disk = SimDisk::default();
    for i in 1..=5 {
        put(&mut store, "a", &format!("m{i}"), i).unwrap();
    }
    disk.apply(&store.take_log());
    let point = store.log_point().expect("file store");
    assert_eq!(point.last_seq, 5);
    // Without the point, a cut inside message 5 reads as a torn write: silent.
    let start_of_5 = store.location(5).unwrap().offset;
    let cut = start_of_5 as usize + 7;
    disk.segments.get_mut(&1).unwrap().truncate(cut);
    let (silent, report) = MsgStore::recover(store.config().clone(), disk.scans()).unwrap();
    assert_eq!((silent.state().last_seq, report.tail_loss), (4, None));

    let (mut recovered, report) =
        MsgStore::recover_checked(store.config().clone(), disk.scans(), Some(point)).unwrap();
    let loss = report.tail_loss.clone().expect("tail loss");
    // Valid up to where message 5 began.
    assert_eq!(loss.found_len_bytes, Some(start_of_5));
    assert_eq!(loss.found_last_seq, 4);
    assert_eq!(report.lost_msgs, vec![5]);
    let state = recovered.state();
    assert_eq!((state.messages, state.last_seq), (4, 5));
    assert_eq!(state.lost_msgs, vec![5]);
    assert!(state.lost_bytes > 0);
    disk.segments
        .get_mut(&1)
        .unwrap()
        .truncate(start_of_5 as usize);
    disk.apply(&recovered.take_log());
    assert_eq!(put(&mut recovered, "a", "6", 6).unwrap(), 6);
    disk.apply(&recovered.take_log());

    // Restart with the same (now stale) point: sequence 5 is still lost, nothing reused.
    let (mut again, _) =
        MsgStore::recover_checked(store.config().clone(), disk.scans(), Some(point)).unwrap();
    assert_eq!(again.state().lost_msgs, vec![5]);
    assert_eq!(again.state().last_seq, 6);
    assert_eq!(put(&mut again, "a", "7", 7).unwrap(), 7);

    // An intact log is not reported.
    let mut intact = SimDisk::default();
    let mut store = MsgStore::new(file(0, 0));
    put(&mut store, "a", "1", 1).unwrap();
    intact.apply(&store.take_log());
    let point = store.log_point();
    let (_, report) =
        MsgStore::recover_checked(store.config().clone(), intact.scans(), point).unwrap();
    assert_eq!(report.tail_loss, None);
}
