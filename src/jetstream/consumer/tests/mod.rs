//! Tests of the consumer state machines against [`VecSource`], a stream that is a plain
//! `Vec` of messages, with a virtual clock (plain `i64` nanoseconds).

mod clock_tests;
mod persist_tests;
mod pull_tests;
mod push_tests;
mod state_props;
mod state_unit;
mod status_tests;

use bytes::Bytes;

use super::source::{MessageSource, StreamBounds};
use crate::routing::subject_matches_filter;

#[derive(Clone, Debug)]
pub(super) struct VecMsg {
    pub subject: Bytes,
    pub ts_ns: i64,
    pub live: bool,
}

/// The naive stream: message `seq` is `msgs[seq - 1]`.
#[derive(Clone, Debug, Default)]
pub(super) struct VecSource {
    pub msgs: Vec<VecMsg>,
}

pub(super) fn matches(filter: &[u8], subject: &[u8]) -> bool {
    filter.is_empty() || subject_matches_filter(filter, subject)
}

impl VecSource {
    pub fn with(subjects: &[&str]) -> Self {
        let mut source = VecSource::default();
        for (index, subject) in subjects.iter().enumerate() {
            source.publish(subject, index as i64 * 1_000);
        }
        source
    }

    pub fn publish(&mut self, subject: &str, ts_ns: i64) -> u64 {
        self.msgs.push(VecMsg {
            subject: Bytes::copy_from_slice(subject.as_bytes()),
            ts_ns,
            live: true,
        });
        self.msgs.len() as u64
    }

    pub fn delete(&mut self, seq: u64) -> Option<Bytes> {
        let msg = self.msgs.get_mut(seq.checked_sub(1)? as usize)?;
        let was_live = std::mem::replace(&mut msg.live, false);
        was_live.then(|| msg.subject.clone())
    }

    pub fn live(&self) -> impl Iterator<Item = (u64, &VecMsg)> + '_ {
        self.msgs
            .iter()
            .enumerate()
            .filter(|(_, msg)| msg.live)
            .map(|(index, msg)| (index as u64 + 1, msg))
    }
}

impl MessageSource for VecSource {
    fn bounds(&self) -> StreamBounds {
        let last_seq = self.msgs.len() as u64;
        StreamBounds {
            first_seq: self.live().next().map_or(last_seq + 1, |(seq, _)| seq),
            last_seq,
            messages: self.live().count() as u64,
        }
    }

    fn next_matching(&self, start_seq: u64, filter: &[u8]) -> Option<u64> {
        self.live()
            .find(|(seq, msg)| *seq >= start_seq && matches(filter, &msg.subject))
            .map(|(seq, _)| seq)
    }

    fn last_matching(&self, filter: &[u8]) -> Option<u64> {
        self.live()
            .filter(|(_, msg)| matches(filter, &msg.subject))
            .map(|(seq, _)| seq)
            .last()
    }

    fn num_matching_from(&self, from_seq: u64, filter: &[u8]) -> u64 {
        self.live()
            .filter(|(seq, msg)| *seq >= from_seq && matches(filter, &msg.subject))
            .count() as u64
    }

    fn last_seqs_per_subject(&self, filter: &[u8], out: &mut Vec<u64>) {
        let mut last: std::collections::BTreeMap<Bytes, u64> = Default::default();
        for (seq, msg) in self.live().filter(|(_, msg)| matches(filter, &msg.subject)) {
            last.insert(msg.subject.clone(), seq);
        }
        out.extend(last.into_values());
    }

    fn first_seq_at_or_after_time(&self, ts_ns: i64) -> u64 {
        self.live()
            .find(|(_, msg)| msg.ts_ns >= ts_ns)
            .map_or(self.msgs.len() as u64 + 1, |(seq, _)| seq)
    }

    fn subject(&self, seq: u64) -> Option<Bytes> {
        let msg = self.msgs.get(seq.checked_sub(1)? as usize)?;
        msg.live.then(|| msg.subject.clone())
    }

    fn contains(&self, seq: u64) -> bool {
        seq.checked_sub(1)
            .and_then(|index| self.msgs.get(index as usize))
            .is_some_and(|msg| msg.live)
    }
}
