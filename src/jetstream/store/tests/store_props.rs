//! `MsgStore` against the model over random operations, and file storage against its
//! own log: after every operation the log is scanned and recovered (whole, and with the
//! last batch torn at a random byte) and must give back the same stream.

use bytes::Bytes;
use proptest::prelude::*;

use super::super::{
    scan_segment, DiscardPolicy, LogOp, MsgStore, Record, StorageType, StoreConfig, StoredMsg,
};
use super::model::Model;
use super::sim::{snapshot, SimDisk};

const SUBJECTS: &[&str] = &["a", "b", "a.b", "a.c", "b.c", "c.d.e"];
const FILTERS: &[&str] = &[
    "", ">", "a", "a.*", "*.c", "b.>", "*", "c.*.e", "x.y", "a.b",
];

const HEADERS_PLAIN: &[u8] = b"NATS/1.0\r\nX-Test: 1\r\n\r\n";
const HEADERS_ROLLUP: &[u8] = b"NATS/1.0\r\nNats-Rollup: sub\r\n\r\n";

#[derive(Clone, Debug)]
struct Limits {
    max_msgs: i64,
    max_bytes: i64,
    max_age_ns: i64,
    max_msgs_per_subject: i64,
    max_msg_size: i32,
    discard_new: bool,
    discard_new_per_subject: bool,
    segment_bytes_max: u64,
    cache_bytes_max: u64,
}

impl Limits {
    fn config(&self, storage: StorageType) -> StoreConfig {
        StoreConfig {
            storage,
            max_msgs: self.max_msgs,
            max_bytes: self.max_bytes,
            max_age_ns: self.max_age_ns,
            max_msgs_per_subject: self.max_msgs_per_subject,
            max_msg_size: self.max_msg_size,
            discard: if self.discard_new {
                DiscardPolicy::New
            } else {
                DiscardPolicy::Old
            },
            discard_new_per_subject: self.discard_new_per_subject,
            segment_bytes_max: self.segment_bytes_max,
            cache_bytes_max: self.cache_bytes_max,
            first_seq: 1,
        }
    }
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        prop_oneof![2 => Just(-1i64), 1 => 1..8i64],
        prop_oneof![2 => Just(-1i64), 1 => 60..600i64],
        prop_oneof![2 => Just(0i64), 1 => 500..3000i64],
        prop_oneof![2 => Just(-1i64), 1 => 1..4i64],
        prop_oneof![3 => Just(-1i32), 1 => 5..60i32],
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(0u64), 128..700u64],
        prop_oneof![Just(0u64), 40..300u64],
    )
        .prop_map(
            |(
                max_msgs,
                max_bytes,
                max_age_ns,
                max_msgs_per_subject,
                max_msg_size,
                discard_new,
                discard_new_per_subject,
                segment_bytes_max,
                cache_bytes_max,
            )| Limits {
                max_msgs,
                max_bytes,
                max_age_ns,
                max_msgs_per_subject,
                max_msg_size,
                discard_new,
                discard_new_per_subject,
                segment_bytes_max,
                cache_bytes_max,
            },
        )
}

#[derive(Clone, Debug)]
enum Op {
    /// headers: 0 none, 1 plain, 2 rollup.
    Append {
        subject: usize,
        headers: u8,
        payload_len: usize,
        dt_ns: i64,
    },
    Delete {
        pick: u16,
    },
    Purge {
        filter: Option<usize>,
        seq: Option<u16>,
        keep: Option<u8>,
    },
    Compact {
        pick: u16,
    },
    Expire {
        dt_ns: i64,
    },
    Skip,
    Config(Limits),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0..SUBJECTS.len(), 0..3u8, 0..40usize, 0..400i64).prop_map(
            |(subject, headers, payload_len, dt_ns)| Op::Append { subject, headers, payload_len, dt_ns }
        ),
        2 => any::<u16>().prop_map(|pick| Op::Delete { pick }),
        2 => (
            proptest::option::of(0..FILTERS.len()),
            proptest::option::weighted(0.3, any::<u16>()),
            proptest::option::weighted(0.3, 0..4u8),
        )
            .prop_map(|(filter, seq, keep)| Op::Purge { filter, seq, keep }),
        1 => any::<u16>().prop_map(|pick| Op::Compact { pick }),
        2 => (0..2000i64).prop_map(|dt_ns| Op::Expire { dt_ns }),
        1 => Just(Op::Skip),
        1 => limits().prop_map(Op::Config),
    ]
}

/// A sequence near the stream's range: a little below first up to a little past last.
fn pick_seq(model: &Model, pick: u16) -> u64 {
    let low = model.first_seq().saturating_sub(1);
    let span = model.last_seq + 3 - low;
    low + pick as u64 % span
}

struct Harness {
    storage: StorageType,
    store: MsgStore,
    model: Model,
    disk: SimDisk,
    now_ns: i64,
}

impl Harness {
    fn new(storage: StorageType, limits: &Limits) -> Self {
        let cfg = limits.config(storage);
        let mut store = MsgStore::new(cfg.clone());
        let mut disk = SimDisk::default();
        disk.apply(&store.take_log());
        Self {
            storage,
            store,
            model: Model::new(cfg),
            disk,
            now_ns: 1_000,
        }
    }

    fn run(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Append {
                subject,
                headers,
                payload_len,
                dt_ns,
            } => {
                self.now_ns += dt_ns;
                let subject = SUBJECTS[*subject].as_bytes();
                let headers = match headers {
                    0 => &b""[..],
                    1 => HEADERS_PLAIN,
                    _ => HEADERS_ROLLUP,
                };
                let payload: Vec<u8> = (0..*payload_len).map(|i| (i * 7) as u8).collect();
                let expected = self.model.append(
                    subject,
                    headers,
                    &payload,
                    headers == HEADERS_ROLLUP,
                    self.now_ns,
                );
                let got = self
                    .store
                    .append(
                        Bytes::copy_from_slice(subject),
                        Bytes::copy_from_slice(headers),
                        Bytes::from(payload),
                        self.now_ns,
                    )
                    .map(|appended| appended.seq);
                prop_assert_eq!(got, expected);
            }
            Op::Delete { pick } => {
                let seq = pick_seq(&self.model, *pick);
                prop_assert_eq!(self.store.delete(seq), self.model.delete(seq));
            }
            Op::Purge { filter, seq, keep } => {
                let filter = filter.map(|index| FILTERS[index].as_bytes());
                let seq = seq.map(|pick| pick_seq(&self.model, pick));
                let keep = keep.map(u64::from);
                let expected = self.model.purge(filter, seq, keep);
                prop_assert_eq!(self.store.purge(filter, seq, keep), expected);
            }
            Op::Compact { pick } => {
                let seq = pick_seq(&self.model, *pick);
                prop_assert_eq!(self.store.compact(seq), self.model.compact(seq));
            }
            Op::Expire { dt_ns } => {
                self.now_ns += dt_ns;
                let expected = self.model.expire(self.now_ns);
                prop_assert_eq!(self.store.expire(self.now_ns), expected);
            }
            Op::Skip => {
                prop_assert_eq!(
                    self.store.skip(self.now_ns),
                    Ok(self.model.skip(self.now_ns))
                );
            }
            Op::Config(limits) => {
                let cfg = limits.config(self.storage);
                let expected = self.model.update_config(cfg.clone(), self.now_ns);
                prop_assert_eq!(self.store.update_config(cfg, self.now_ns), Ok(expected));
            }
        }
        Ok(())
    }

    /// Queries that must agree with the model.
    fn check_queries(&self) -> Result<(), TestCaseError> {
        let (store, model) = (&self.store, &self.model);
        prop_assert_eq!(snapshot(store, &self.disk), model.snapshot());
        let state = model.state();
        if let Some(expiry) = store.next_expiry_ns() {
            prop_assert_eq!(expiry, state.first_ts_ns + model.cfg.max_age_ns);
        }
        for filter in FILTERS {
            let filter = filter.as_bytes();
            prop_assert_eq!(store.last_for(filter), model.last_for(filter));
            prop_assert_eq!(store.subject_counts(filter), model.subject_counts(filter));
            for start in [
                0,
                state.first_seq,
                state.first_seq + 1,
                state.last_seq,
                state.last_seq + 1,
            ] {
                prop_assert_eq!(store.next_for(start, filter), model.next_for(start, filter));
                prop_assert_eq!(
                    store.num_pending(start, filter),
                    model.num_pending(start, filter)
                );
            }
        }
        for subject in SUBJECTS {
            let subject = subject.as_bytes();
            prop_assert_eq!(
                store.last_seq_for_subject(subject),
                model.last_seq_for_subject(subject)
            );
        }
        if self.storage == StorageType::File {
            prop_assert!(store.cached_bytes() <= model.cfg.cache_bytes_max);
        }
        Ok(())
    }

    /// Replays the whole log: the recovered store equals this one and writes nothing.
    fn check_recovery(&self) -> Result<(), TestCaseError> {
        let mut disk = self.disk.clone();
        let (mut recovered, report) = MsgStore::recover(self.store.config().clone(), disk.scans())
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        prop_assert!(report.torn_tails.is_empty() && report.corrupt.is_empty());
        prop_assert!(report.misplaced.is_empty() && report.lost_msgs.is_empty());
        let batch = recovered.take_log();
        prop_assert!(
            batch.is_empty(),
            "recovering an intact log writes nothing: {:?} {:?} vs {:?}",
            batch.ops,
            recovered.segments(),
            self.store.segments()
        );
        prop_assert_eq!(recovered.segments(), self.store.segments());
        prop_assert_eq!(
            snapshot(&recovered, &disk),
            snapshot(&self.store, &self.disk)
        );
        disk.apply(&recovered.take_log());
        Ok(())
    }

    /// A crash while `batch` was written: its removals had not run (they wait for the
    /// appends to be durable) and its last segment is torn at `cut`. Recovery must give
    /// what the surviving records say, and recovering again must change nothing.
    fn check_torn_recovery(
        &self,
        disk_before: &SimDisk,
        batch: &super::super::LogBatch,
        cut: u16,
    ) -> Result<(), TestCaseError> {
        let Some(target) = batch.ops.iter().rev().find_map(|op| match op {
            LogOp::Append { segment, .. } => Some(*segment),
            _ => None,
        }) else {
            return Ok(());
        };
        let mut disk = disk_before.clone();
        let len_before = disk.segments.get(&target).map_or(0, Vec::len);
        disk.apply_without_removals(batch);
        let file = disk.segments.get_mut(&target).expect("target segment");
        let written = file.len() - len_before;
        file.truncate(len_before + cut as usize % written);
        let cfg = self.store.config().clone();
        let mut expected = Model::replay(cfg.clone(), &disk.scans());
        expected.enforce_on_recovery();
        let expected = expected.snapshot();
        let (recovered, report) = disk.recover(cfg.clone());
        prop_assert!(
            report.corrupt.is_empty() && report.lost_msgs.is_empty(),
            "torn at {} of segment {}: {:?}",
            len_before + cut as usize % written,
            target,
            report
        );
        prop_assert_eq!(snapshot(&recovered, &disk), expected.clone());
        let (again, report) = disk.recover(cfg);
        prop_assert!(report.torn_tails.is_empty());
        prop_assert_eq!(snapshot(&again, &disk), expected);
        Ok(())
    }
}

fn run_ops(storage: StorageType, initial: &Limits, ops: &[(Op, u16)]) -> Result<(), TestCaseError> {
    let mut harness = Harness::new(storage, initial);
    for (op, cut) in ops {
        let disk_before = harness.disk.clone();
        harness.run(op)?;
        let batch = harness.store.take_log();
        harness.disk.apply(&batch);
        harness.check_queries()?;
        if storage == StorageType::File {
            harness.check_recovery()?;
            harness.check_torn_recovery(&disk_before, &batch, *cut)?;
        } else {
            prop_assert!(batch.is_empty(), "memory storage writes nothing");
        }
        harness.store.recycle_log(batch);
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(96)
}

proptest! {
    // Failures are not persisted: the regressions folder belongs to the whole repo.
    // PROPTEST_CASES raises the case count for a long soak; the default keeps each test
    // near a second in debug builds.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases())
    })]

    #[test]
    fn memory_store_matches_model(
        initial in limits(),
        ops in proptest::collection::vec((op(), any::<u16>()), 1..60),
    ) {
        run_ops(StorageType::Memory, &initial, &ops)?;
    }

    #[test]
    fn file_store_matches_model_and_recovers(
        initial in limits(),
        ops in proptest::collection::vec((op(), any::<u16>()), 1..60),
    ) {
        run_ops(StorageType::File, &initial, &ops)?;
    }
}

/// Damage one byte of a file store's log: recovery notices, never serves wrong contents,
/// never hands out a used sequence, and lists every live message it cannot serve as lost.
fn recover_damaged(
    limits: &Limits,
    ops: &[(Op, u16)],
    segment_pick: prop::sample::Index,
    byte_pick: prop::sample::Index,
    mask: u8,
) -> Result<(), TestCaseError> {
    let mut harness = Harness::new(StorageType::File, limits);
    let mut ever = std::collections::BTreeMap::new();
    for (op, _) in ops {
        harness.run(op)?;
        let batch = harness.store.take_log();
        harness.disk.apply(&batch);
        // Every message ever written, even one that limits removed at once.
        for op in &batch.ops {
            for (_, record) in scan_segment(batch.bytes_of(op)).records {
                if let Record::Msg {
                    seq,
                    ts_ns,
                    subject,
                    headers,
                    payload,
                } = record
                {
                    let msg = StoredMsg {
                        seq,
                        ts_ns,
                        subject,
                        headers,
                        payload,
                    };
                    ever.insert(seq, msg);
                }
            }
        }
    }
    let original = snapshot(&harness.store, &harness.disk);
    let mut disk = harness.disk.clone();
    let ids: Vec<u64> = disk.segments.keys().copied().collect();
    let file = disk
        .segments
        .get_mut(&ids[segment_pick.index(ids.len())])
        .expect("picked segment");
    if file.is_empty() {
        return Ok(());
    }
    let at = byte_pick.index(file.len());
    file[at] ^= mask;
    let (recovered, report) = disk.recover(harness.store.config().clone());
    prop_assert!(
        !report.corrupt.is_empty() || !report.torn_tails.is_empty(),
        "damage went unnoticed"
    );
    let state = recovered.state();
    for seq in state.first_seq..=state.last_seq {
        if let Some(msg) = super::sim::read(&recovered, &disk, seq) {
            prop_assert_eq!(Some(&msg), ever.get(&seq), "wrong contents served");
        }
    }
    if report.torn_tails.is_empty() {
        prop_assert!(
            state.last_seq >= original.state.last_seq,
            "sequence went back"
        );
    }
    // A damaged tombstone brings its message back, and a count or size limit may then
    // push out an older one at recovery: check the lost list only without such limits.
    let cfg = harness.store.config();
    let unlimited = cfg.max_msgs <= 0 && cfg.max_bytes <= 0 && cfg.max_msgs_per_subject <= 0;
    if report.torn_tails.is_empty() && unlimited {
        for msg in &original.msgs {
            let served = recovered.get(msg.seq).is_some();
            prop_assert!(
                served || report.lost_msgs.contains(&msg.seq),
                "message {} neither served nor lost: {:?}",
                msg.seq,
                report
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases())
    })]

    #[test]
    fn damaged_logs_recover_safely(
        initial in limits(),
        ops in proptest::collection::vec((op(), any::<u16>()), 1..40),
        segment_pick in any::<prop::sample::Index>(),
        byte_pick in any::<prop::sample::Index>(),
        mask in 1..=255u8,
    ) {
        recover_damaged(&initial, &ops, segment_pick, byte_pick, mask)?;
    }
}
