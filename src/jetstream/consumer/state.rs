//! [`ConsumerState`]: one consumer's delivery and ack bookkeeping, nats-server's
//! `consumer.go` (`getNextMsg`, `processAckMsg`, `processNak`, `processTerm`,
//! `checkPending`, `moveAckFloor`, `selectStartingSeqNo`) without locks, timers or I/O.
//!
//! The positions:
//!
//! ```text
//!   stream:  1 .. ack_floor.stream_seq | pending / acked ... | delivered.stream_seq ... next_stream_seq ..
//!            everything acked          | some awaiting acks  | last delivered     | next to examine
//! ```
//!
//! A pending message waits for its ack until `deadline_ns` (tracked in `deadlines`), or
//! sits in the redelivery queue (`ready`, first in first out) once its deadline passed or it
//! was NAKed. Deadlines are absolute virtual-clock nanoseconds: the driver passes `now_ns`
//! in and arms one timer at [`ConsumerState::next_deadline_ns`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use super::bounds::{ADVISORIES_QUEUED_MAX, EXHAUSTED_TRACKED_MAX, LAST_PER_SUBJECT_SEQS_MAX};
use super::config::{AckPolicy, ConsumerSettings, DeliverPolicy, Retention, SettingsError};
use super::events::{
    AckKind, AckOutcome, Acked, Advisory, ConsumerNumbers, Delivery, SequencePair,
    REASON_UNACKED_DELETED,
};
use super::persist::{ConsumerSnapshot, PendingSnapshot};
use super::source::MessageSource;

/// A delivered message awaiting its ack (nats-server's `Pending` plus its `rdc` count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PendingEntry {
    /// The consumer sequence of its first delivery (kept across redeliveries).
    consumer_seq: u64,
    /// Deliveries after the first (nats-server's `rdc[seq]`).
    redeliveries: u64,
    /// When it becomes due for redelivery; in `deadlines` unless `ticket` is set.
    deadline_ns: i64,
    /// Its place in the redelivery queue, when queued.
    ticket: Option<u64>,
}

impl PendingEntry {
    fn delivered_count(&self) -> u64 {
        self.redeliveries.saturating_add(1)
    }
}

/// How to take back the last delivery when the driver could not send it.
#[derive(Clone, Copy, Debug)]
struct Undo {
    delivery: Delivery,
    origin: Origin,
    delivered: SequencePair,
    ack_floor: SequencePair,
    num_pending: u64,
    last_delivered_ns: i64,
}

#[derive(Clone, Copy, Debug)]
enum Origin {
    Redelivery { ticket: u64, deadline_ns: i64 },
    New { next_stream_seq: u64 },
    SkipList { next_stream_seq: u64 },
}

/// See the module documentation.
#[derive(Debug)]
pub struct ConsumerState {
    settings: ConsumerSettings,
    /// nats-server's `o.sseq`: the next stream sequence to examine.
    next_stream_seq: u64,
    /// nats-server's `o.dseq`: the consumer sequence of the next delivery.
    next_consumer_seq: u64,
    /// The last delivery (the consumer store's `Delivered`, what CONSUMER.INFO shows).
    delivered: SequencePair,
    ack_floor: SequencePair,
    pending: BTreeMap<u64, PendingEntry>,
    /// (deadline, stream seq) of every pending entry not in the redelivery queue.
    deadlines: BTreeSet<(i64, u64)>,
    /// The redelivery queue: ticket (arrival order) -> stream seq.
    ready: BTreeMap<u64, u64>,
    next_ticket: u64,
    /// Pending entries with `redeliveries > 0`.
    pending_redelivered: u64,
    /// Messages dropped at `max_deliver` -> their delivery count (the rest of nats-server's
    /// `rdc`): counted in `num_redelivered` and kept by interest streams until acked.
    exhausted: BTreeMap<u64, u64>,
    /// `last_per_subject`: the start list still to deliver, ascending...
    skip: VecDeque<u64>,
    /// ...and the stream's last sequence when it was made.
    skip_resume: u64,
    /// nats-server's `npc`: messages matching the filter at or above `next_stream_seq`,
    /// kept current by deliveries and [`Self::on_stream_append`] / [`Self::on_stream_remove`]...
    num_pending: u64,
    /// ...counted through this stream sequence (`npf`).
    num_pending_through: u64,
    advisories: VecDeque<Advisory>,
    advisories_dropped: u64,
    undo: Option<Undo>,
    last_delivered_ns: i64,
    last_ack_ns: i64,
    /// Reused by `expire` and `drop_missing`.
    scratch: Vec<u64>,
}

impl ConsumerState {
    /// A new consumer positioned by its `deliver_policy` (`selectStartingSeqNo`).
    pub fn new(
        settings: ConsumerSettings,
        source: &impl MessageSource,
    ) -> Result<ConsumerState, SettingsError> {
        settings.validate()?;
        let mut state = ConsumerState::empty(settings);
        let start = state.select_start(source)?;
        state.next_stream_seq = start;
        state.delivered = SequencePair {
            consumer_seq: 0,
            stream_seq: start.saturating_sub(1),
        };
        state.ack_floor = state.delivered;
        state.recount_num_pending(source);
        state.check_invariants();
        Ok(state)
    }

    fn empty(settings: ConsumerSettings) -> ConsumerState {
        ConsumerState {
            settings,
            next_stream_seq: 1,
            next_consumer_seq: 1,
            delivered: SequencePair::default(),
            ack_floor: SequencePair::default(),
            pending: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            ready: BTreeMap::new(),
            next_ticket: 0,
            pending_redelivered: 0,
            exhausted: BTreeMap::new(),
            skip: VecDeque::new(),
            skip_resume: 0,
            num_pending: 0,
            num_pending_through: 0,
            advisories: VecDeque::new(),
            advisories_dropped: 0,
            undo: None,
            last_delivered_ns: 0,
            last_ack_ns: 0,
            scratch: Vec::new(),
        }
    }

    fn select_start(&mut self, source: &impl MessageSource) -> Result<u64, SettingsError> {
        let bounds = source.bounds();
        let mut start: u64 = 0;
        let mut explicit_start = false;
        match self.settings.deliver_policy {
            DeliverPolicy::All => start = bounds.first_seq,
            DeliverPolicy::Last => {
                if self.settings.filters.is_empty() {
                    start = bounds.last_seq;
                } else {
                    for filter in &self.settings.filters {
                        if let Some(last) = source.last_matching(filter) {
                            start = start.max(last);
                        }
                    }
                }
            }
            DeliverPolicy::LastPerSubject => {
                let mut seqs = Vec::new();
                if self.settings.filters.is_empty() {
                    source.last_seqs_per_subject(b"", &mut seqs);
                } else {
                    for filter in &self.settings.filters {
                        source.last_seqs_per_subject(filter, &mut seqs);
                        if seqs.len() > LAST_PER_SUBJECT_SEQS_MAX {
                            break;
                        }
                    }
                }
                seqs.sort_unstable();
                seqs.dedup();
                if seqs.len() > LAST_PER_SUBJECT_SEQS_MAX {
                    return Err(SettingsError::TooManySubjects);
                }
                match seqs.first() {
                    None => start = bounds.last_seq,
                    Some(&first) => {
                        start = first;
                        self.skip = seqs.into();
                        self.skip_resume = bounds.last_seq;
                    }
                }
            }
            DeliverPolicy::ByStartTime(ts_ns) => {
                start = source.first_seq_at_or_after_time(ts_ns);
                // nats-server skips ahead to the first message of a filter when that is
                // past the time-based start, so delivered/ack floor start there.
                if !self.settings.filters.is_empty() {
                    let mut nearest = bounds.last_seq;
                    for filter in &self.settings.filters {
                        if let Some(first) = source.next_matching(bounds.first_seq, filter) {
                            if first >= start && first < nearest {
                                nearest = first;
                            }
                        }
                    }
                    if nearest > start && nearest < bounds.last_seq {
                        start = nearest;
                    }
                }
            }
            DeliverPolicy::New => start = bounds.last_seq.saturating_add(1),
            DeliverPolicy::ByStartSequence(seq) => {
                start = seq.max(1);
                explicit_start = true;
            }
        }
        if !explicit_start && start > bounds.last_seq {
            start = bounds.last_seq.saturating_add(1);
        } else if start < bounds.first_seq {
            start = bounds.first_seq;
        }
        Ok(start.max(1))
    }

    // ------------------------------------------------------------------ delivery

    /// The next message to send, or `None` (nothing to send, or `max_ack_pending` reached:
    /// see [`Self::is_ack_pending_full`]). Redeliveries that are due come first, then new
    /// messages in stream order. The delivery is recorded at once; call
    /// [`Self::cancel_delivery`] right after if it cannot be sent.
    pub fn next_delivery(&mut self, source: &impl MessageSource, now_ns: i64) -> Option<Delivery> {
        self.expire(now_ns);
        let delivery = self
            .next_redelivery(source, now_ns)
            .or_else(|| self.next_new(source, now_ns));
        self.check_invariants();
        delivery
    }

    fn next_redelivery(&mut self, source: &impl MessageSource, now_ns: i64) -> Option<Delivery> {
        let max_deliver = self.settings.max_deliver_count();
        while let Some((ticket, seq)) = self.ready.pop_first() {
            let Some(entry) = self.pending.get_mut(&seq) else {
                debug_assert!(false, "queued seq {seq} is not pending");
                continue;
            };
            entry.ticket = None;
            let count = entry.delivered_count().saturating_add(1);
            if max_deliver > 0 && count > max_deliver {
                // Only after `max_deliver` was lowered: expiry and NAKs drop at the limit.
                self.drop_exhausted(seq, count - 1);
                continue;
            }
            if !source.contains(seq) {
                self.remove_deleted(seq);
                continue;
            }
            let deadline_before = entry.deadline_ns;
            entry.redeliveries += 1;
            if entry.redeliveries == 1 {
                self.pending_redelivered += 1;
            }
            entry.deadline_ns = now_ns.saturating_add(self.settings.ack_wait_for(count));
            self.deadlines.insert((entry.deadline_ns, seq));
            let undo = self.undo_point(Origin::Redelivery {
                ticket,
                deadline_ns: deadline_before,
            });
            let delivery = self.record_delivery(seq, count, now_ns);
            self.undo = Some(Undo { delivery, ..undo });
            return Some(delivery);
        }
        None
    }

    fn next_new(&mut self, source: &impl MessageSource, now_ns: i64) -> Option<Delivery> {
        if self.is_ack_pending_full() {
            return None;
        }
        while let Some(seq) = self.skip.pop_front() {
            let before = self.next_stream_seq;
            let after = if self.skip.is_empty() {
                self.skip_resume.max(seq)
            } else {
                seq
            };
            self.next_stream_seq = self.next_stream_seq.max(after.saturating_add(1));
            if !source.contains(seq) {
                continue;
            }
            return Some(self.deliver_new(
                seq,
                now_ns,
                Origin::SkipList {
                    next_stream_seq: before,
                },
            ));
        }
        let start = self.next_stream_seq;
        let next = if self.settings.filters.is_empty() {
            source.next_matching(start, b"")
        } else {
            self.settings
                .filters
                .iter()
                .filter_map(|filter| source.next_matching(start, filter))
                .min()
        };
        match next.filter(|&seq| seq >= start) {
            Some(seq) => {
                self.next_stream_seq = seq.saturating_add(1);
                Some(self.deliver_new(
                    seq,
                    now_ns,
                    Origin::New {
                        next_stream_seq: start,
                    },
                ))
            }
            None => {
                // Nothing matches up to the end of the stream: no need to look there again.
                let end = source.bounds().last_seq.saturating_add(1);
                self.next_stream_seq = self.next_stream_seq.max(end);
                None
            }
        }
    }

    fn deliver_new(&mut self, seq: u64, now_ns: i64, origin: Origin) -> Delivery {
        let undo = self.undo_point(origin);
        if seq <= self.num_pending_through {
            self.num_pending = self.num_pending.saturating_sub(1);
        }
        let consumer_seq = self.next_consumer_seq;
        match self.settings.ack_policy {
            AckPolicy::None => {
                self.ack_floor = SequencePair {
                    consumer_seq,
                    stream_seq: seq,
                };
            }
            AckPolicy::All | AckPolicy::Explicit => {
                let deadline_ns = now_ns.saturating_add(self.settings.ack_wait_for(1));
                let previous = self.pending.insert(
                    seq,
                    PendingEntry {
                        consumer_seq,
                        redeliveries: 0,
                        deadline_ns,
                        ticket: None,
                    },
                );
                debug_assert!(previous.is_none(), "new delivery of pending seq {seq}");
                self.deadlines.insert((deadline_ns, seq));
            }
        }
        let delivery = self.record_delivery(seq, 1, now_ns);
        self.undo = Some(Undo { delivery, ..undo });
        delivery
    }

    fn undo_point(&self, origin: Origin) -> Undo {
        Undo {
            delivery: Delivery {
                stream_seq: 0,
                consumer_seq: 0,
                delivered_count: 0,
                pending: 0,
                acked_on_delivery: false,
            },
            origin,
            delivered: self.delivered,
            ack_floor: self.ack_floor,
            num_pending: self.num_pending,
            last_delivered_ns: self.last_delivered_ns,
        }
    }

    /// The bookkeeping every delivery shares (`deliverMsg`, `updateDelivered`).
    fn record_delivery(&mut self, seq: u64, delivered_count: u64, now_ns: i64) -> Delivery {
        let consumer_seq = self.next_consumer_seq;
        self.next_consumer_seq = self.next_consumer_seq.saturating_add(1);
        self.delivered.consumer_seq = self.delivered.consumer_seq.max(consumer_seq);
        self.delivered.stream_seq = self.delivered.stream_seq.max(seq);
        self.last_delivered_ns = now_ns;
        Delivery {
            stream_seq: seq,
            consumer_seq,
            delivered_count,
            pending: self.num_pending,
            acked_on_delivery: self.settings.ack_policy == AckPolicy::None
                && self.settings.retention != Retention::Limits,
        }
    }

    /// Takes back the delivery the last [`Self::next_delivery`] returned, as if it had not
    /// been made (nats-server's pull loop when no request can take the message). Only
    /// valid right after it: returns false when anything else changed the state since.
    pub fn cancel_delivery(&mut self) -> bool {
        let Some(undo) = self.undo.take() else {
            return false;
        };
        let seq = undo.delivery.stream_seq;
        self.next_consumer_seq = undo.delivery.consumer_seq;
        self.delivered = undo.delivered;
        self.ack_floor = undo.ack_floor;
        self.num_pending = undo.num_pending;
        self.last_delivered_ns = undo.last_delivered_ns;
        match undo.origin {
            Origin::Redelivery {
                ticket,
                deadline_ns,
            } => {
                if let Some(entry) = self.pending.get_mut(&seq) {
                    self.deadlines.remove(&(entry.deadline_ns, seq));
                    entry.deadline_ns = deadline_ns;
                    entry.redeliveries = entry.redeliveries.saturating_sub(1);
                    if entry.redeliveries == 0 {
                        self.pending_redelivered = self.pending_redelivered.saturating_sub(1);
                    }
                    entry.ticket = Some(ticket);
                    self.ready.insert(ticket, seq);
                }
            }
            Origin::New { next_stream_seq } => {
                self.forget_new(seq);
                self.next_stream_seq = next_stream_seq;
            }
            Origin::SkipList { next_stream_seq } => {
                self.forget_new(seq);
                self.skip.push_front(seq);
                self.next_stream_seq = next_stream_seq;
            }
        }
        self.check_invariants();
        true
    }

    fn forget_new(&mut self, seq: u64) {
        if let Some(entry) = self.pending.remove(&seq) {
            self.deadlines.remove(&(entry.deadline_ns, seq));
        }
    }

    /// New messages wait because `max_ack_pending` messages await acks.
    pub fn is_ack_pending_full(&self) -> bool {
        self.settings.ack_policy != AckPolicy::None
            && self.pending.len() >= self.settings.ack_pending_limit()
    }

    // ------------------------------------------------------------------ timers

    /// When pending message `seq` was last delivered (or last reported in progress), and
    /// its delivery count: the start of its ack wait (nats-server's `Pending.Timestamp`,
    /// which ack sampling measures from). After a NAK with a delay it is off by that delay.
    pub fn pending_since_ns(&self, seq: u64) -> Option<(i64, u64)> {
        let entry = self.pending.get(&seq)?;
        let count = entry.delivered_count();
        Some((
            entry
                .deadline_ns
                .saturating_sub(self.settings.ack_wait_for(count)),
            count,
        ))
    }

    /// When the earliest pending message becomes due for redelivery.
    pub fn next_deadline_ns(&self) -> Option<i64> {
        self.deadlines.first().map(|&(deadline, _)| deadline)
    }

    /// Moves every pending message whose deadline is at or before `now_ns` to the
    /// redelivery queue, in stream order, or drops it when it was delivered `max_deliver`
    /// times (advisory). nats-server's `checkPending`. Returns how many were queued.
    pub fn expire(&mut self, now_ns: i64) -> usize {
        self.undo = None;
        let mut due = std::mem::take(&mut self.scratch);
        due.clear();
        due.extend(
            self.deadlines
                .range(..=(now_ns, u64::MAX))
                .map(|&(_, seq)| seq),
        );
        due.sort_unstable();
        let max_deliver = self.settings.max_deliver_count();
        let mut queued = 0;
        for &seq in &due {
            let Some(entry) = self.pending.get(&seq) else {
                continue;
            };
            self.deadlines.remove(&(entry.deadline_ns, seq));
            let count = entry.delivered_count();
            if max_deliver > 0 && count >= max_deliver {
                self.drop_exhausted(seq, count);
            } else {
                self.enqueue(seq);
                queued += 1;
            }
        }
        self.scratch = due;
        self.check_invariants();
        queued
    }

    /// Puts a pending message (not in `deadlines`) at the end of the redelivery queue.
    fn enqueue(&mut self, seq: u64) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        if let Some(entry) = self.pending.get_mut(&seq) {
            entry.ticket = Some(ticket);
            self.ready.insert(ticket, seq);
        }
    }

    /// Messages in the redelivery queue (nats-server's `len(o.rdq)`), for no-wait pull
    /// requests.
    pub fn redeliveries_queued(&self) -> u64 {
        self.ready.len() as u64
    }

    // ------------------------------------------------------------------ acks

    /// Applies an ack for the message delivered as (`stream_seq`, `consumer_seq`), both
    /// parsed from the JSAck subject. Acks for unknown or already acknowledged messages
    /// change nothing, as in nats-server.
    pub fn ack(
        &mut self,
        stream_seq: u64,
        consumer_seq: u64,
        kind: AckKind,
        now_ns: i64,
    ) -> AckOutcome {
        self.undo = None;
        let mut outcome = AckOutcome::default();
        if stream_seq == 0 {
            // nats-server: a subject it cannot parse gets neither processing nor reply.
            return outcome;
        }
        match kind {
            AckKind::Ack => self.process_ack(stream_seq, consumer_seq, now_ns, &mut outcome),
            AckKind::Next => {
                self.process_ack(stream_seq, consumer_seq, now_ns, &mut outcome);
                outcome.reply = false;
            }
            AckKind::Term { reason } => {
                let deliveries = self.delivered_count_of(stream_seq);
                self.process_ack(stream_seq, consumer_seq, now_ns, &mut outcome);
                // nats-server's `processTerm` advises whether or not the ack applied.
                outcome.advisory = Some(Advisory::Terminated {
                    stream_seq,
                    consumer_seq,
                    deliveries,
                    reason: reason.unwrap_or_default(),
                });
            }
            AckKind::Nak { delay_ns } => {
                outcome.reply = true;
                self.process_nak(stream_seq, consumer_seq, delay_ns, now_ns, &mut outcome);
            }
            AckKind::Progress => {
                outcome.reply = true;
                self.process_progress(stream_seq, now_ns, &mut outcome);
            }
        }
        self.check_invariants();
        outcome
    }

    fn delivered_count_of(&self, seq: u64) -> u64 {
        match self.pending.get(&seq) {
            Some(entry) => entry.delivered_count(),
            None => self.exhausted.get(&seq).copied().unwrap_or(1),
        }
    }

    /// `processAckMsg`.
    fn process_ack(&mut self, sseq: u64, cseq: u64, now_ns: i64, outcome: &mut AckOutcome) {
        if sseq >= self.next_stream_seq {
            // Above anything delivered: ignored, and no reply (nats-server returns early).
            return;
        }
        outcome.reply = true;
        let floor_before = self.ack_floor;
        match self.settings.ack_policy {
            AckPolicy::Explicit => {
                if let Some(entry) = self.remove_pending(sseq) {
                    outcome.applied = true;
                    outcome.acked.push(sseq);
                    self.move_ack_floor(entry.consumer_seq, sseq);
                }
                if self.exhausted.remove(&sseq).is_some() {
                    outcome.applied = true;
                    outcome.acked.push(sseq);
                }
            }
            AckPolicy::All => {
                if cseq <= self.ack_floor.consumer_seq || sseq <= self.ack_floor.stream_seq {
                    return;
                }
                // Stricter than nats-server, which trusts any consumer sequence here.
                if cseq >= self.next_consumer_seq || sseq > self.delivered.stream_seq {
                    return;
                }
                self.ack_floor = SequencePair {
                    consumer_seq: cseq,
                    stream_seq: sseq,
                };
                outcome.applied = true;
                let mut acked = Vec::new();
                let above = self.pending.split_off(&(sseq + 1));
                let below = std::mem::replace(&mut self.pending, above);
                for (seq, entry) in below {
                    self.forget_queued(seq, &entry);
                    acked.push(seq);
                }
                let above = self.exhausted.split_off(&(sseq + 1));
                let below = std::mem::replace(&mut self.exhausted, above);
                acked.extend(below.into_keys());
                acked.push(sseq);
                acked.sort_unstable();
                acked.dedup();
                outcome.acked = Acked::Many(acked);
            }
            AckPolicy::None => {
                outcome.reply = self.settings.retention != Retention::Limits;
                return;
            }
        }
        self.last_ack_ns = now_ns;
        outcome.ack_floor_moved = self.ack_floor != floor_before;
    }

    /// `processNak`.
    fn process_nak(
        &mut self,
        sseq: u64,
        cseq: u64,
        delay_ns: Option<i64>,
        now_ns: i64,
        outcome: &mut AckOutcome,
    ) {
        if cseq <= self.ack_floor.consumer_seq || cseq > self.next_consumer_seq {
            return;
        }
        let Some(entry) = self.pending.get(&sseq).copied() else {
            return;
        };
        let deliveries = entry.delivered_count();
        outcome.applied = true;
        outcome.advisory = Some(Advisory::Naked {
            stream_seq: sseq,
            consumer_seq: cseq,
            deliveries,
        });
        let floor_before = self.ack_floor;
        match delay_ns {
            Some(delay) if delay > 0 => {
                self.unqueue(sseq);
                if let Some(entry) = self.pending.get_mut(&sseq) {
                    self.deadlines.remove(&(entry.deadline_ns, sseq));
                    entry.deadline_ns = now_ns.saturating_add(delay);
                    self.deadlines.insert((entry.deadline_ns, sseq));
                }
            }
            _ => {
                let max_deliver = self.settings.max_deliver_count();
                if max_deliver > 0 && deliveries >= max_deliver {
                    self.drop_exhausted(sseq, deliveries);
                } else if entry.ticket.is_none() {
                    self.deadlines.remove(&(entry.deadline_ns, sseq));
                    // Due now: a snapshot taken while it waits in the queue redelivers it
                    // right after a restart too.
                    if let Some(entry) = self.pending.get_mut(&sseq) {
                        entry.deadline_ns = entry.deadline_ns.min(now_ns);
                    }
                    self.enqueue(sseq);
                }
            }
        }
        outcome.ack_floor_moved = self.ack_floor != floor_before;
    }

    /// `progressUpdate`: the ack wait starts again. A message already queued for
    /// redelivery stays queued, as in nats-server (and stays due across a restart).
    fn process_progress(&mut self, sseq: u64, now_ns: i64, outcome: &mut AckOutcome) {
        let Some(entry) = self.pending.get_mut(&sseq) else {
            return;
        };
        if entry.ticket.is_some() {
            return;
        }
        let deadline = now_ns.saturating_add(self.settings.ack_wait_for(entry.delivered_count()));
        self.deadlines.remove(&(entry.deadline_ns, sseq));
        self.deadlines.insert((deadline, sseq));
        entry.deadline_ns = deadline;
        outcome.applied = true;
    }

    /// Takes a message out of the redelivery queue and gives it back its deadline.
    fn unqueue(&mut self, seq: u64) {
        if let Some(entry) = self.pending.get_mut(&seq) {
            if let Some(ticket) = entry.ticket.take() {
                self.ready.remove(&ticket);
                self.deadlines.insert((entry.deadline_ns, seq));
            }
        }
    }

    fn remove_pending(&mut self, seq: u64) -> Option<PendingEntry> {
        let entry = self.pending.remove(&seq)?;
        self.forget_queued(seq, &entry);
        Some(entry)
    }

    /// Drops what the indexes know of a pending entry already taken out of `pending`.
    fn forget_queued(&mut self, seq: u64, entry: &PendingEntry) {
        match entry.ticket {
            Some(ticket) => {
                self.ready.remove(&ticket);
            }
            None => {
                self.deadlines.remove(&(entry.deadline_ns, seq));
            }
        }
        if entry.redeliveries > 0 {
            self.pending_redelivered = self.pending_redelivered.saturating_sub(1);
        }
    }

    /// `moveAckFloor`: when the message right above the floor goes, the floor rises to
    /// just below the next message still pending, or to the last delivery when none is
    /// (the consumer store's `UpdateAcks`).
    fn move_ack_floor(&mut self, consumer_seq: u64, stream_seq: u64) {
        let target = match self.pending.first_key_value() {
            None => self.delivered,
            Some(_) if consumer_seq != self.ack_floor.consumer_seq.saturating_add(1) => return,
            // Something below the removed message is still pending: the floor stays.
            Some((&first_seq, _)) if first_seq <= stream_seq => return,
            Some((&first_seq, first)) => SequencePair {
                consumer_seq: first.consumer_seq.saturating_sub(1),
                stream_seq: first_seq - 1,
            },
        };
        // The floor never goes back, whatever order the pending entries are in.
        if target.consumer_seq >= self.ack_floor.consumer_seq
            && target.stream_seq >= self.ack_floor.stream_seq
        {
            self.ack_floor = target;
        }
    }

    /// A message delivered `deliveries` times reached `max_deliver` (`hasMaxDeliveries`).
    fn drop_exhausted(&mut self, seq: u64, deliveries: u64) {
        let Some(entry) = self.remove_pending(seq) else {
            return;
        };
        if self.exhausted.len() >= EXHAUSTED_TRACKED_MAX {
            self.exhausted.pop_first();
        }
        self.exhausted.insert(seq, deliveries);
        self.push_advisory(Advisory::MaxDeliveries {
            stream_seq: seq,
            deliveries,
        });
        self.move_ack_floor(entry.consumer_seq, seq);
    }

    /// A pending message left the stream: treated as terminated (`decStreamPending`).
    fn remove_deleted(&mut self, seq: u64) {
        let Some(entry) = self.remove_pending(seq) else {
            return;
        };
        self.push_advisory(Advisory::Terminated {
            stream_seq: seq,
            consumer_seq: entry.consumer_seq,
            deliveries: entry.delivered_count(),
            reason: Bytes::from_static(REASON_UNACKED_DELETED.as_bytes()),
        });
        self.move_ack_floor(entry.consumer_seq, seq);
    }

    fn push_advisory(&mut self, advisory: Advisory) {
        if self.advisories.len() >= ADVISORIES_QUEUED_MAX {
            self.advisories.pop_front();
            self.advisories_dropped += 1;
        }
        self.advisories.push_back(advisory);
    }

    /// Advisories raised outside [`Self::ack`] (max deliveries, deleted pending messages),
    /// oldest first. Drain after every call.
    pub fn poll_advisory(&mut self) -> Option<Advisory> {
        self.advisories.pop_front()
    }

    pub fn advisories_dropped(&self) -> u64 {
        self.advisories_dropped
    }

    // ------------------------------------------------------------------ stream events

    /// A message was stored in the stream (nats-server's `processStreamSignal`).
    pub fn on_stream_append(&mut self, seq: u64, subject: &[u8]) {
        self.undo = None;
        if seq > self.num_pending_through {
            if seq >= self.next_stream_seq && self.settings.matches(subject) {
                self.num_pending = self.num_pending.saturating_add(1);
            }
            self.num_pending_through = seq;
        }
    }

    /// A message left the stream (deleted, expired, discarded, or removed by interest):
    /// nats-server's `decStreamPending`. A pending one is dropped with a `Terminated`
    /// advisory (see [`Self::poll_advisory`]).
    pub fn on_stream_remove(&mut self, seq: u64, subject: &[u8]) {
        self.undo = None;
        if seq >= self.next_stream_seq
            && seq <= self.num_pending_through
            && self.settings.matches(subject)
        {
            let counted = seq > self.skip_resume
                || self.skip.is_empty()
                || self.skip.binary_search(&seq).is_ok();
            if counted {
                self.num_pending = self.num_pending.saturating_sub(1);
            }
        }
        if self.pending.contains_key(&seq) {
            self.remove_deleted(seq);
        } else {
            self.exhausted.remove(&seq);
        }
        self.check_invariants();
    }

    /// Many messages left the stream at once (purge, compact): nats-server's
    /// `consumer.purge`. Pending messages that are gone are dropped without advisories,
    /// the position moves past the new first sequence, and `num_pending` is recounted.
    pub fn on_stream_purge(&mut self, source: &impl MessageSource) {
        self.undo = None;
        let first = source.bounds().first_seq;
        if self.next_stream_seq < first {
            self.next_stream_seq = first;
        }
        while self.skip.front().is_some_and(|&seq| seq < first) {
            self.skip.pop_front();
        }
        self.drop_missing(source);
        if self.pending.is_empty() {
            let position = SequencePair {
                consumer_seq: self.next_consumer_seq.saturating_sub(1),
                stream_seq: self.next_stream_seq.saturating_sub(1),
            };
            self.delivered = position;
            self.ack_floor = position;
        }
        self.recount_num_pending(source);
        self.check_invariants();
    }

    /// Forgets pending and exhausted messages the stream no longer holds, moving the ack
    /// floor up to the first one left.
    fn drop_missing(&mut self, source: &impl MessageSource) {
        let mut gone = std::mem::take(&mut self.scratch);
        gone.clear();
        gone.extend(
            self.pending
                .keys()
                .copied()
                .filter(|&seq| !source.contains(seq)),
        );
        for &seq in &gone {
            self.remove_pending(seq);
        }
        self.scratch = gone;
        self.exhausted.retain(|&seq, _| source.contains(seq));
        if let Some((&first_seq, first)) = self.pending.first_key_value() {
            let target = SequencePair {
                consumer_seq: first.consumer_seq.saturating_sub(1),
                stream_seq: first_seq - 1,
            };
            if target.consumer_seq >= self.ack_floor.consumer_seq
                && target.stream_seq >= self.ack_floor.stream_seq
            {
                self.ack_floor = target;
            }
        }
    }

    /// Counts `num_pending` afresh from the stream (nats-server's `streamNumPending`).
    pub fn recount_num_pending(&mut self, source: &impl MessageSource) {
        let bounds = source.bounds();
        let mut count = 0u64;
        let from = if self.skip.is_empty() {
            self.next_stream_seq
        } else {
            count = self
                .skip
                .iter()
                .filter(|&&seq| source.contains(seq))
                .count() as u64;
            self.skip_resume.saturating_add(1).max(self.next_stream_seq)
        };
        if self.settings.filters.is_empty() {
            count = count.saturating_add(source.num_matching_from(from, b""));
        } else {
            for filter in &self.settings.filters {
                count = count.saturating_add(source.num_matching_from(from, filter));
            }
        }
        self.num_pending = count;
        self.num_pending_through = bounds.last_seq;
    }

    // ------------------------------------------------------------------ queries

    /// Does this consumer still need message `seq` (on `subject`)? An interest or
    /// work-queue stream removes a message once no consumer needs it (`needAck`).
    pub fn needs_ack(&self, seq: u64, subject: &[u8]) -> bool {
        if !self.settings.matches(subject) {
            return false;
        }
        let needed = match self.settings.ack_policy {
            AckPolicy::None | AckPolicy::All => seq > self.ack_floor.stream_seq,
            AckPolicy::Explicit => {
                seq > self.ack_floor.stream_seq
                    && (seq >= self.next_stream_seq || self.pending.contains_key(&seq))
            }
        };
        // A message past max_deliver stays until acked (or removed by limits).
        needed || self.exhausted.contains_key(&seq)
    }

    /// CONSUMER.INFO's numbers (`infoWithSnapAndReply`); `num_waiting` comes from the
    /// pull queue.
    pub fn info(&self, source: &impl MessageSource, num_waiting: usize) -> ConsumerNumbers {
        let redelivered = self.pending_redelivered + self.exhausted.len() as u64;
        ConsumerNumbers {
            delivered: self.delivered,
            ack_floor: self.ack_floor,
            num_ack_pending: self.pending.len() as u64,
            // nats-server hides redeliveries when max_deliver is 1.
            num_redelivered: if self.settings.max_deliver == 1 {
                0
            } else {
                redelivered
            },
            num_waiting: num_waiting as u64,
            num_pending: self.num_pending_clamped(source),
            last_delivered_ns: self.last_delivered_ns,
            last_ack_ns: self.last_ack_ns,
        }
    }

    /// `checkNumPending`: the running count, never more than the stream can hold.
    pub fn num_pending_clamped(&self, source: &impl MessageSource) -> u64 {
        let bounds = source.bounds();
        if self.next_stream_seq > bounds.last_seq {
            return 0;
        }
        self.num_pending
            .min(bounds.messages)
            .min(bounds.last_seq - self.next_stream_seq + 1)
    }

    /// `Nats-Last-Consumer` and `Nats-Last-Stream` of an idle heartbeat
    /// (`sendIdleHeartbeat`: `dseq - 1`, `sseq - 1`).
    pub fn heartbeat_positions(&self) -> (u64, u64) {
        (
            self.next_consumer_seq.saturating_sub(1),
            self.next_stream_seq.saturating_sub(1),
        )
    }

    pub fn settings(&self) -> &ConsumerSettings {
        &self.settings
    }

    pub fn delivered(&self) -> SequencePair {
        self.delivered
    }

    pub fn ack_floor(&self) -> SequencePair {
        self.ack_floor
    }

    pub fn next_stream_seq(&self) -> u64 {
        self.next_stream_seq
    }

    pub fn num_ack_pending(&self) -> usize {
        self.pending.len()
    }

    /// The pending messages: (stream seq, consumer seq of first delivery, delivered count).
    pub fn pending(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.pending
            .iter()
            .map(|(&seq, entry)| (seq, entry.consumer_seq, entry.delivered_count()))
    }

    /// Changes what a consumer update may change (`updateConfig`): ack wait, backoff,
    /// max_deliver, max_ack_pending, filters. Deadlines already set stand.
    pub fn update_settings(
        &mut self,
        settings: ConsumerSettings,
        source: &impl MessageSource,
    ) -> Result<(), SettingsError> {
        settings.validate()?;
        self.undo = None;
        let filters_changed = settings.filters != self.settings.filters;
        let fixed = &self.settings;
        self.settings = ConsumerSettings {
            deliver_policy: fixed.deliver_policy.clone(),
            ack_policy: fixed.ack_policy,
            replay_policy: fixed.replay_policy,
            retention: fixed.retention,
            ..settings
        };
        if filters_changed {
            self.recount_num_pending(source);
        }
        Ok(())
    }

    // ------------------------------------------------------------------ persistence

    /// What a durable consumer writes to disk (nats-server's `ConsumerState`).
    pub fn snapshot(&self) -> ConsumerSnapshot {
        let mut redelivered: Vec<(u64, u64)> = self
            .pending
            .iter()
            .filter(|(_, entry)| entry.redeliveries > 0)
            .map(|(&seq, entry)| (seq, entry.redeliveries))
            .collect();
        redelivered.extend(self.exhausted.iter().map(|(&seq, &count)| (seq, count)));
        redelivered.sort_unstable();
        ConsumerSnapshot {
            delivered: self.delivered,
            ack_floor: self.ack_floor,
            pending: self
                .pending
                .iter()
                .map(|(&seq, entry)| PendingSnapshot {
                    stream_seq: seq,
                    consumer_seq: entry.consumer_seq,
                    deadline_ns: entry.deadline_ns,
                })
                .collect(),
            redelivered,
        }
    }

    /// A durable consumer after a restart (`applyState`, `checkRedelivered`,
    /// `reconcileStateWithStream`): it resumes after its last delivery; pending messages
    /// keep their deadlines, so those that passed during the downtime are redelivered at
    /// once; what the stream lost meanwhile is forgotten.
    pub fn restore(
        settings: ConsumerSettings,
        snapshot: &ConsumerSnapshot,
        source: &impl MessageSource,
    ) -> Result<ConsumerState, SettingsError> {
        settings.validate()?;
        let mut state = ConsumerState::empty(settings);
        let mut delivered = snapshot.delivered;
        let mut floor = snapshot.ack_floor;
        floor.consumer_seq = floor.consumer_seq.min(delivered.consumer_seq);
        floor.stream_seq = floor.stream_seq.min(delivered.stream_seq);
        let counts: BTreeMap<u64, u64> = snapshot.redelivered.iter().copied().collect();
        if state.settings.ack_policy != AckPolicy::None {
            // Consumer sequences rise with stream sequences (first deliveries happen in
            // stream order) and, but for `ack_policy: all`, start above the floor; entries
            // breaking that, or out of range, are not trusted.
            let consumer_floor = match state.settings.ack_policy {
                AckPolicy::Explicit => floor.consumer_seq,
                _ => 0,
            };
            let mut previous = (floor.stream_seq, consumer_floor);
            let mut entries: Vec<&PendingSnapshot> = snapshot.pending.iter().collect();
            entries.sort_unstable_by_key(|entry| entry.stream_seq);
            for entry in entries {
                let valid = entry.stream_seq > previous.0
                    && entry.stream_seq <= delivered.stream_seq
                    && entry.consumer_seq > previous.1
                    && entry.consumer_seq <= delivered.consumer_seq;
                if !valid || state.pending.len() >= super::bounds::ACK_PENDING_HARD_MAX {
                    continue;
                }
                previous = (entry.stream_seq, entry.consumer_seq);
                let redeliveries = counts.get(&entry.stream_seq).copied().unwrap_or(0);
                if redeliveries > 0 {
                    state.pending_redelivered += 1;
                }
                state.pending.insert(
                    entry.stream_seq,
                    PendingEntry {
                        consumer_seq: entry.consumer_seq,
                        redeliveries,
                        deadline_ns: entry.deadline_ns,
                        ticket: None,
                    },
                );
                state
                    .deadlines
                    .insert((entry.deadline_ns, entry.stream_seq));
            }
        }
        for (&seq, &count) in &counts {
            if !state.pending.contains_key(&seq) && state.exhausted.len() < EXHAUSTED_TRACKED_MAX {
                state.exhausted.insert(seq, count);
            }
        }
        // The stream lost messages the consumer had seen (`reconcileStateWithStream`).
        let last = source.bounds().last_seq;
        if delivered.stream_seq > last {
            let mut beyond: Vec<u64> = state.pending.range(last + 1..).map(|(&s, _)| s).collect();
            if floor.stream_seq > last {
                floor.stream_seq = last;
                floor.consumer_seq = delivered.consumer_seq;
                beyond = state.pending.keys().copied().collect();
                state.exhausted.clear();
            }
            for seq in beyond {
                state.remove_pending(seq);
            }
            state.exhausted.retain(|&seq, _| seq <= last);
            delivered = match state.pending.last_key_value() {
                None => floor,
                Some((&seq, _)) => SequencePair {
                    consumer_seq: state
                        .pending
                        .values()
                        .map(|entry| entry.consumer_seq)
                        .max()
                        .unwrap_or(floor.consumer_seq),
                    stream_seq: seq,
                },
            };
        }
        state.delivered = delivered;
        state.ack_floor = floor;
        state.next_stream_seq = delivered.stream_seq.saturating_add(1);
        state.next_consumer_seq = delivered.consumer_seq.saturating_add(1);
        if state.settings.ack_policy == AckPolicy::None {
            state.ack_floor = delivered;
        }
        state.drop_missing(source);
        if state.pending.is_empty() && state.settings.ack_policy == AckPolicy::Explicit {
            state.ack_floor = state.delivered;
        }
        state.recount_num_pending(source);
        state.check_invariants();
        Ok(state)
    }

    // ------------------------------------------------------------------ invariants

    /// Everything that defines the state's behaviour, for tests comparing two states.
    #[cfg(test)]
    pub(super) fn fingerprint(&self) -> String {
        format!(
            "{:?} {} {} {:?} {:?} {:?} {:?} {:?} {} {} {:?} {:?} {} {} {} {} {}",
            self.settings,
            self.next_stream_seq,
            self.next_consumer_seq,
            self.delivered,
            self.ack_floor,
            self.pending,
            self.deadlines,
            self.ready,
            self.next_ticket,
            self.pending_redelivered,
            self.exhausted,
            self.skip,
            self.skip_resume,
            self.num_pending,
            self.num_pending_through,
            self.last_delivered_ns,
            self.last_ack_ns,
        )
    }

    /// The invariants that cost O(1), asserted after every operation in debug builds;
    /// [`Self::assert_invariants`] checks everything.
    fn check_invariants(&self) {
        debug_assert!(self.ack_floor.consumer_seq <= self.delivered.consumer_seq);
        debug_assert!(self.ack_floor.stream_seq <= self.delivered.stream_seq);
        debug_assert!(self.delivered.consumer_seq < self.next_consumer_seq);
        debug_assert!(self.delivered.stream_seq < self.next_stream_seq);
        debug_assert_eq!(self.deadlines.len() + self.ready.len(), self.pending.len());
        debug_assert!(self.pending_redelivered <= self.pending.len() as u64);
        debug_assert!(self
            .pending
            .first_key_value()
            .is_none_or(|(&seq, _)| seq > self.ack_floor.stream_seq));
    }

    /// Panics when the state is inconsistent. Tests call it; it costs O(pending).
    pub fn assert_invariants(&self) {
        assert!(self.ack_floor.consumer_seq <= self.delivered.consumer_seq);
        assert!(self.ack_floor.stream_seq <= self.delivered.stream_seq);
        assert!(self.delivered.consumer_seq < self.next_consumer_seq);
        assert!(self.delivered.stream_seq < self.next_stream_seq);
        assert_eq!(
            self.deadlines.len() + self.ready.len(),
            self.pending.len(),
            "every pending message is either waiting or queued"
        );
        let mut redelivered = 0;
        for (&seq, entry) in &self.pending {
            assert!(
                seq > self.ack_floor.stream_seq,
                "pending {seq} at or below the floor"
            );
            assert!(seq <= self.delivered.stream_seq);
            assert!(entry.consumer_seq <= self.delivered.consumer_seq);
            if entry.redeliveries > 0 {
                redelivered += 1;
            }
            match entry.ticket {
                Some(ticket) => assert_eq!(self.ready.get(&ticket), Some(&seq)),
                None => assert!(self.deadlines.contains(&(entry.deadline_ns, seq))),
            }
        }
        assert_eq!(redelivered, self.pending_redelivered);
        if self.settings.ack_policy == AckPolicy::None {
            assert!(self.pending.is_empty());
        }
        if self.settings.ack_policy == AckPolicy::Explicit {
            if let Some(min_consumer_seq) = self.pending.values().map(|e| e.consumer_seq).min() {
                assert!(self.ack_floor.consumer_seq < min_consumer_seq);
            }
        }
        assert!(self.advisories.len() <= ADVISORIES_QUEUED_MAX);
        assert!(self.exhausted.len() <= EXHAUSTED_TRACKED_MAX);
        assert!(self
            .skip
            .iter()
            .zip(self.skip.iter().skip(1))
            .all(|(a, b)| a < b));
    }
}
