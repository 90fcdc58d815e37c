//! The reference model: a `BTreeMap` of messages and nats-server's rules written the
//! plainest way (whole scans, no indexes), plus a plain replay of log records.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::super::{
    DiscardPolicy, Record, Removed, SegmentScan, StorageType, StoreConfig, StoreError, StoreState,
    StoredMsg,
};
use super::sim::Snapshot;
use crate::routing::subject_matches_filter;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelMsg {
    pub ts_ns: i64,
    pub subject: Vec<u8>,
    pub headers: Vec<u8>,
    pub payload: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub cfg: StoreConfig,
    pub msgs: BTreeMap<u64, ModelMsg>,
    pub last_seq: u64,
    pub last_ts_ns: i64,
}

/// Empty and `>` match everything; otherwise the reference matcher.
pub fn matches(filter: &[u8], subject: &[u8]) -> bool {
    filter.is_empty() || subject_matches_filter(filter, subject)
}

impl Model {
    pub fn new(cfg: StoreConfig) -> Self {
        let last_seq = cfg.first_seq.max(1) - 1;
        Self {
            cfg,
            msgs: BTreeMap::new(),
            last_seq,
            last_ts_ns: 0,
        }
    }

    /// nats-server's accounting, written out again.
    fn size_of(&self, subject: usize, headers: usize, payload: usize) -> u64 {
        let total = match self.cfg.storage {
            StorageType::Memory => subject + headers + payload + 16,
            StorageType::File if headers == 0 => 22 + subject + payload + 8,
            StorageType::File => 22 + subject + 4 + headers + payload + 8,
        };
        total as u64
    }

    fn size(&self, msg: &ModelMsg) -> u64 {
        self.size_of(msg.subject.len(), msg.headers.len(), msg.payload.len())
    }

    pub fn bytes(&self) -> u64 {
        self.msgs.values().map(|msg| self.size(msg)).sum()
    }

    pub fn first_seq(&self) -> u64 {
        self.msgs
            .keys()
            .next()
            .copied()
            .unwrap_or(self.last_seq + 1)
    }

    fn subject_seqs(&self, subject: &[u8]) -> Vec<u64> {
        self.msgs
            .iter()
            .filter(|(_, msg)| msg.subject == subject)
            .map(|(&seq, _)| seq)
            .collect()
    }

    fn trim_subject(&mut self, subject: &[u8]) -> u64 {
        let limit = self.cfg.max_msgs_per_subject;
        let mut removed = 0;
        if limit <= 0 {
            return 0;
        }
        loop {
            let seqs = self.subject_seqs(subject);
            if seqs.len() as i64 <= limit {
                return removed;
            }
            self.msgs.remove(&seqs[0]);
            removed += 1;
        }
    }

    fn trim_old(&mut self) {
        if self.cfg.discard != DiscardPolicy::Old {
            return;
        }
        while self.cfg.max_msgs > 0 && self.msgs.len() as i64 > self.cfg.max_msgs {
            self.msgs.pop_first();
        }
        while self.cfg.max_bytes > 0 && self.bytes() as i64 > self.cfg.max_bytes {
            self.msgs.pop_first();
        }
    }

    pub fn append(
        &mut self,
        subject: &[u8],
        headers: &[u8],
        payload: &[u8],
        rollup: bool,
        now_ns: i64,
    ) -> Result<u64, StoreError> {
        let cfg = self.cfg.clone();
        if cfg.max_msg_size > 0 && headers.len() + payload.len() > cfg.max_msg_size as usize {
            return Err(StoreError::MaxMsgSize);
        }
        let size = self.size_of(subject.len(), headers.len(), payload.len());
        if cfg.discard == DiscardPolicy::New {
            let on_subject = self.subject_seqs(subject);
            let at_limit =
                cfg.max_msgs_per_subject > 0 && on_subject.len() as i64 >= cfg.max_msgs_per_subject;
            if at_limit && cfg.discard_new_per_subject && !rollup {
                return Err(StoreError::MaxMsgsPerSubject);
            }
            if cfg.max_msgs > 0 && self.msgs.len() as i64 >= cfg.max_msgs && !at_limit {
                return Err(StoreError::MaxMsgs);
            }
            if cfg.max_bytes > 0 && (self.bytes() + size) as i64 > cfg.max_bytes {
                let first_size = on_subject
                    .first()
                    .map_or(0, |seq| self.size(&self.msgs[seq]));
                if !at_limit || first_size < size {
                    return Err(StoreError::MaxBytes);
                }
            }
        }
        self.last_seq += 1;
        self.last_ts_ns = now_ns;
        self.msgs.insert(
            self.last_seq,
            ModelMsg {
                ts_ns: now_ns,
                subject: subject.to_vec(),
                headers: headers.to_vec(),
                payload: payload.to_vec(),
            },
        );
        self.trim_subject(subject);
        self.trim_old();
        Ok(self.last_seq)
    }

    pub fn delete(&mut self, seq: u64) -> bool {
        self.msgs.remove(&seq).is_some()
    }

    pub fn skip(&mut self, now_ns: i64) -> u64 {
        self.last_seq += 1;
        if self.last_ts_ns == 0 {
            self.last_ts_ns = now_ns;
        }
        self.last_seq
    }

    fn purge_everything(&mut self, next_seq: u64) -> u64 {
        let purged = self.msgs.len() as u64;
        self.msgs.clear();
        if next_seq > self.last_seq + 1 {
            self.last_seq = next_seq - 1;
        }
        purged
    }

    pub fn compact(&mut self, seq: u64) -> u64 {
        if seq == 0 || seq > self.last_seq {
            return self.purge_everything(seq);
        }
        let below: Vec<u64> = self.msgs.range(..seq).map(|(&seq, _)| seq).collect();
        for seq in &below {
            self.msgs.remove(seq);
        }
        below.len() as u64
    }

    /// ADR-10 as nats-server's `PurgeEx` implements it.
    pub fn purge(&mut self, filter: Option<&[u8]>, seq: Option<u64>, keep: Option<u64>) -> u64 {
        let (seq, keep) = (seq.unwrap_or(0), keep.unwrap_or(0));
        let filter = filter.unwrap_or_default();
        if seq == 1 {
            return 0;
        }
        if filter.is_empty() || filter == b">" {
            if keep == 0 && seq == 0 {
                return self.purge_everything(0);
            }
            if seq > 1 {
                return self.compact(seq);
            }
        }
        let matching: Vec<u64> = self
            .msgs
            .iter()
            .filter(|(_, msg)| matches(filter, &msg.subject))
            .map(|(&seq, _)| seq)
            .collect();
        let total = matching.len() as u64;
        if keep > 0 && keep >= total {
            return 0;
        }
        let max = if keep > 0 { total - keep } else { u64::MAX };
        let mut purged = 0;
        for victim in matching {
            if seq > 1 && victim >= seq {
                break;
            }
            if purged >= max {
                break;
            }
            self.msgs.remove(&victim);
            purged += 1;
        }
        purged
    }

    pub fn expire(&mut self, now_ns: i64) -> u64 {
        if self.cfg.max_age_ns <= 0 {
            return 0;
        }
        let cutoff = now_ns - self.cfg.max_age_ns;
        let mut expired = 0;
        while let Some((_, msg)) = self.msgs.first_key_value() {
            if msg.ts_ns > cutoff {
                break;
            }
            self.msgs.pop_first();
            expired += 1;
        }
        expired
    }

    pub fn update_config(&mut self, cfg: StoreConfig, now_ns: i64) -> Removed {
        let (msgs, bytes) = (self.msgs.len() as u64, self.bytes());
        let old_per_subject = self.cfg.max_msgs_per_subject;
        self.cfg = cfg;
        self.trim_old();
        let per_subject = self.cfg.max_msgs_per_subject;
        if per_subject > 0 && (old_per_subject <= 0 || per_subject < old_per_subject) {
            let subjects: Vec<Vec<u8>> =
                self.msgs.values().map(|msg| msg.subject.clone()).collect();
            for subject in subjects {
                self.trim_subject(&subject);
            }
        }
        self.expire(now_ns);
        Removed {
            msgs: msgs - self.msgs.len() as u64,
            bytes: bytes - self.bytes(),
        }
    }

    /// What recovery applies on top of the log: the per-subject limit on every subject,
    /// then the discard-old limits (the config may have changed while down).
    pub fn enforce_on_recovery(&mut self) {
        let subjects: Vec<Vec<u8>> = self.msgs.values().map(|msg| msg.subject.clone()).collect();
        for subject in subjects {
            self.trim_subject(&subject);
        }
        self.trim_old();
    }

    pub fn last_for(&self, filter: &[u8]) -> Option<u64> {
        self.msgs
            .iter()
            .rev()
            .find(|(_, msg)| matches(filter, &msg.subject))
            .map(|(&seq, _)| seq)
    }

    pub fn next_for(&self, start: u64, filter: &[u8]) -> Option<u64> {
        self.msgs
            .range(start..)
            .find(|(_, msg)| matches(filter, &msg.subject))
            .map(|(&seq, _)| seq)
    }

    pub fn num_pending(&self, from: u64, filter: &[u8]) -> u64 {
        self.msgs
            .range(from..)
            .filter(|(_, msg)| matches(filter, &msg.subject))
            .count() as u64
    }

    pub fn subject_counts(&self, filter: &[u8]) -> Vec<(Bytes, u64)> {
        let mut counts: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for msg in self.msgs.values() {
            if matches(filter, &msg.subject) {
                *counts.entry(msg.subject.clone()).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .map(|(subject, count)| (Bytes::from(subject), count))
            .collect()
    }

    pub fn last_seq_for_subject(&self, subject: &[u8]) -> Option<u64> {
        self.subject_seqs(subject).last().copied()
    }

    pub fn state(&self) -> StoreState {
        let first_seq = self.first_seq();
        let messages = self.msgs.len() as u64;
        StoreState {
            messages,
            bytes: self.bytes(),
            first_seq,
            first_ts_ns: self.msgs.values().next().map_or(0, |msg| msg.ts_ns),
            last_seq: self.last_seq,
            last_ts_ns: self.last_ts_ns,
            num_subjects: self.subject_counts(b"").len() as u64,
            num_deleted: if self.msgs.is_empty() {
                0
            } else {
                self.last_seq - first_seq + 1 - messages
            },
            lost_msgs: Vec::new(),
            lost_bytes: 0,
        }
    }

    pub fn deleted(&self) -> Vec<u64> {
        if self.msgs.is_empty() {
            return Vec::new();
        }
        (self.first_seq()..=self.last_seq)
            .filter(|seq| !self.msgs.contains_key(seq))
            .collect()
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self.state(),
            msgs: self
                .msgs
                .iter()
                .map(|(&seq, msg)| StoredMsg {
                    seq,
                    ts_ns: msg.ts_ns,
                    subject: Bytes::from(msg.subject.clone()),
                    headers: Bytes::from(msg.headers.clone()),
                    payload: Bytes::from(msg.payload.clone()),
                })
                .collect(),
            subjects: self.subject_counts(b""),
            deleted: self.deleted(),
        }
    }

    /// What an intact log (torn tails dropped) says, replayed plainly.
    pub fn replay(cfg: StoreConfig, scans: &[(u64, SegmentScan)]) -> Self {
        let mut model = Self::new(cfg);
        for (_, scan) in scans {
            assert!(
                scan.corrupt.is_empty(),
                "replay model has no corruption rules"
            );
            for (_, record) in &scan.records {
                match record {
                    Record::SegmentStart {
                        first_seq,
                        last_seq,
                        last_ts_ns,
                    }
                    | Record::Purge {
                        first_seq,
                        last_seq,
                        last_ts_ns,
                    } => {
                        if *last_seq >= model.last_seq {
                            model.last_seq = *last_seq;
                            model.last_ts_ns = *last_ts_ns;
                        }
                        model.msgs.retain(|&seq, _| seq >= *first_seq);
                    }
                    Record::Msg {
                        seq,
                        ts_ns,
                        subject,
                        headers,
                        payload,
                    } => {
                        assert!(*seq > model.last_seq, "message sequences ascend in the log");
                        model.last_seq = *seq;
                        model.last_ts_ns = *ts_ns;
                        model.msgs.insert(
                            *seq,
                            ModelMsg {
                                ts_ns: *ts_ns,
                                subject: subject.to_vec(),
                                headers: headers.to_vec(),
                                payload: payload.to_vec(),
                            },
                        );
                    }
                    Record::Delete { seq } => {
                        model.msgs.remove(seq);
                        // A tombstone past the last sequence is a skip: it used one up.
                        model.last_seq = model.last_seq.max(*seq);
                    }
                }
            }
        }
        model
    }
}
