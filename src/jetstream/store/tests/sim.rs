//! A simulated disk that carries out `LogBatch`es, and the observable snapshot of a
//! store that tests compare.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::super::{
    scan_segment, LogBatch, LogOp, MsgBody, MsgStore, RecoveryReport, SegmentScan, StoreConfig,
    StoreState, StoredMsg,
};

/// Segment files by id.
#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    pub segments: BTreeMap<u64, Vec<u8>>,
}

impl SimDisk {
    /// Carries out every op, checking that appends land at the end of their segment.
    pub fn apply(&mut self, batch: &LogBatch) {
        self.apply_ops(batch, true);
    }

    /// A crash before the batch's removals ran (they wait for the appends to be durable).
    pub fn apply_without_removals(&mut self, batch: &LogBatch) {
        self.apply_ops(batch, false);
    }

    fn apply_ops(&mut self, batch: &LogBatch, removals: bool) {
        for op in &batch.ops {
            match op {
                LogOp::NewSegment { id } => {
                    assert!(
                        self.segments.insert(*id, Vec::new()).is_none(),
                        "segment {id} exists"
                    );
                }
                LogOp::Append {
                    segment, offset, ..
                } => {
                    let file = self
                        .segments
                        .get_mut(segment)
                        .expect("append to a missing segment");
                    assert_eq!(
                        file.len() as u64,
                        *offset,
                        "append not at the end of {segment}"
                    );
                    file.extend_from_slice(batch.bytes_of(op));
                }
                LogOp::RemoveSegment { id } => {
                    if removals {
                        assert!(
                            self.segments.remove(id).is_some(),
                            "removing missing segment {id}"
                        );
                    }
                }
            }
        }
    }

    pub fn scans(&self) -> Vec<(u64, SegmentScan)> {
        self.segments
            .iter()
            .map(|(&id, bytes)| (id, scan_segment(bytes)))
            .collect()
    }

    /// Recovers a store from this disk the way the driver would: scan, recover,
    /// truncate torn tails, carry out the recovered store's first log batch.
    pub fn recover(&mut self, cfg: StoreConfig) -> (MsgStore, RecoveryReport) {
        let (mut store, report) = MsgStore::recover(cfg, self.scans()).expect("recover");
        for &(segment, valid_len) in &report.torn_tails {
            let file = self
                .segments
                .get_mut(&segment)
                .expect("torn segment exists");
            file.truncate(valid_len as usize);
        }
        let batch = store.take_log();
        self.apply(&batch);
        (store, report)
    }
}

/// Everything a client could observe of a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub state: StoreState,
    pub msgs: Vec<StoredMsg>,
    pub subjects: Vec<(Bytes, u64)>,
    pub deleted: Vec<u64>,
}

/// Reads message `seq`, going to `disk` when its body is not cached.
pub fn read(store: &MsgStore, disk: &SimDisk, seq: u64) -> Option<StoredMsg> {
    let view = store.get(seq)?;
    match view.body {
        MsgBody::Cached { .. } => view.into_cached(),
        MsgBody::OnDisk(location) => {
            let file = disk
                .segments
                .get(&location.segment)
                .expect("segment of a live message");
            let start = location.offset as usize;
            let bytes = &file[start..start + location.len as usize];
            Some(view.verify_read(bytes).expect("read back"))
        }
    }
}

pub fn snapshot(store: &MsgStore, disk: &SimDisk) -> Snapshot {
    let state = store.state();
    let msgs = (state.first_seq..=state.last_seq)
        .filter_map(|seq| read(store, disk, seq))
        .collect();
    Snapshot {
        msgs,
        subjects: store.subject_counts(b">"),
        deleted: store.deleted(),
        state,
    }
}
