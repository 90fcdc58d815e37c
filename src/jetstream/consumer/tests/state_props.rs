//! [`ConsumerState`] against a model, with a virtual clock: random settings, random
//! sequences of publish / deliver (and cancel) / ack / nak / term / wpi / advance time /
//! delete / restart operations, and the invariants checked after every step.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;

use super::super::{
    decode_snapshot, AckKind, AckPolicy, Acked, Advisory, ConsumerSettings, ConsumerState,
    Retention, SequencePair, REASON_UNACKED_DELETED,
};
use super::{matches, VecSource};

const TICK_NS: i64 = 1_000;
const SUBJECTS: [&str; 5] = ["a.1", "a.2", "b.1", "b.x.y", "c"];
const FILTER_SETS: [&[&str]; 4] = [&[], &["a.*"], &["a.1", "b.>"], &["c"]];

#[derive(Clone, Debug)]
struct Setup {
    ack_policy: AckPolicy,
    ack_wait_ticks: i64,
    backoff_ticks: Vec<i64>,
    max_deliver: i64,
    max_ack_pending: i64,
    filters: usize,
    interest: bool,
    initial: Vec<usize>,
}

#[derive(Clone, Debug)]
enum Op {
    Publish(usize),
    Deliver { cancel: bool },
    Ack(usize),
    AckBogus(u64, u64),
    Nak(usize, Option<u8>),
    Progress(usize),
    Term(usize),
    Advance(u8),
    Delete(usize),
    Restart,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![3 => Just(AckPolicy::Explicit), 1 => Just(AckPolicy::All), 1 => Just(AckPolicy::None)],
        1..4i64,
        prop::collection::vec(1..6i64, 0..3),
        prop_oneof![Just(-1i64), Just(1), Just(2), Just(3), Just(5)],
        prop_oneof![Just(-1i64), Just(1), Just(2), Just(5)],
        0..FILTER_SETS.len(),
        any::<bool>(),
        prop::collection::vec(0..SUBJECTS.len(), 0..8),
    )
        .prop_map(
            |(ack_policy, ack_wait_ticks, mut backoff_ticks, max_deliver, max_ack_pending, filters, interest, initial)| {
                if max_deliver > 0 {
                    backoff_ticks.truncate(max_deliver as usize);
                }
                Setup {
                    ack_policy,
                    ack_wait_ticks,
                    backoff_ticks,
                    max_deliver,
                    max_ack_pending,
                    filters,
                    interest,
                    initial,
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..SUBJECTS.len()).prop_map(Op::Publish),
        6 => prop::bool::weighted(0.2).prop_map(|cancel| Op::Deliver { cancel }),
        3 => any::<usize>().prop_map(Op::Ack),
        1 => (0..40u64, 0..40u64).prop_map(|(s, c)| Op::AckBogus(s, c)),
        2 => (any::<usize>(), prop::option::of(0..4u8)).prop_map(|(i, d)| Op::Nak(i, d)),
        1 => any::<usize>().prop_map(Op::Progress),
        1 => any::<usize>().prop_map(Op::Term),
        3 => (0..4u8).prop_map(Op::Advance),
        1 => any::<usize>().prop_map(Op::Delete),
        1 => Just(Op::Restart),
    ]
}

/// A message delivered and not yet resolved, as the model sees it.
#[derive(Clone, Copy, Debug)]
struct Outstanding {
    first_consumer_seq: u64,
    last_consumer_seq: u64,
    deliveries: u64,
    due_ns: i64,
    queued: bool,
}

struct Model {
    settings: ConsumerSettings,
    source: VecSource,
    now: i64,
    outstanding: BTreeMap<u64, Outstanding>,
    exhausted: BTreeMap<u64, u64>,
    /// The highest stream sequence delivered for the first time...
    last_new_seq: u64,
    /// ...and all of them.
    delivered_seqs: std::collections::BTreeSet<u64>,
    next_consumer_seq: u64,
    advisories: Vec<Advisory>,
}

impl Model {
    fn matching(&self, subject: &[u8]) -> bool {
        self.settings.filters.is_empty()
            || self.settings.filters.iter().any(|f| matches(f, subject))
    }

    fn max_deliver(&self) -> u64 {
        self.settings.max_deliver.max(0) as u64
    }

    fn wait(&self, deliveries: u64) -> i64 {
        let steps = &self.settings.backoff_ns;
        if steps.is_empty() {
            self.settings.ack_wait_ns
        } else {
            steps[((deliveries - 1) as usize).min(steps.len() - 1)]
        }
    }

    fn expire(&mut self) {
        let due: Vec<u64> = self
            .outstanding
            .iter()
            .filter(|(_, out)| !out.queued && out.due_ns <= self.now)
            .map(|(&seq, _)| seq)
            .collect();
        for seq in due {
            let deliveries = self.outstanding[&seq].deliveries;
            if self.max_deliver() > 0 && deliveries >= self.max_deliver() {
                self.exhaust(seq, deliveries);
            } else if let Some(out) = self.outstanding.get_mut(&seq) {
                out.queued = true;
            }
        }
    }

    fn exhaust(&mut self, seq: u64, deliveries: u64) {
        self.outstanding.remove(&seq);
        self.exhausted.insert(seq, deliveries);
        self.advisories.push(Advisory::MaxDeliveries {
            stream_seq: seq,
            deliveries,
        });
    }

    /// The first live message of ours never delivered.
    fn next_new(&self) -> Option<u64> {
        self.source
            .live()
            .find(|(seq, msg)| *seq > self.last_new_seq && self.matching(&msg.subject))
            .map(|(seq, _)| seq)
    }

    fn never_delivered(&self) -> u64 {
        self.source
            .live()
            .filter(|(seq, msg)| *seq > self.last_new_seq && self.matching(&msg.subject))
            .count() as u64
    }

    fn pick(&self, index: usize) -> Option<u64> {
        let keys: Vec<u64> = self.outstanding.keys().copied().collect();
        (!keys.is_empty()).then(|| keys[index % keys.len()])
    }

    /// Applies an ack the state accepted as valid, returning what it should report.
    fn ack(&mut self, seq: u64, consumer_seq: u64, state: &ConsumerState) -> Acked {
        let mut acked = Acked::Nothing;
        if seq >= state.next_stream_seq() {
            return acked;
        }
        match self.settings.ack_policy {
            AckPolicy::Explicit => {
                if self.outstanding.remove(&seq).is_some() | self.exhausted.remove(&seq).is_some() {
                    acked = Acked::One(seq);
                }
            }
            AckPolicy::All => {
                let floor = state.ack_floor();
                let valid = consumer_seq > floor.consumer_seq
                    && seq > floor.stream_seq
                    && consumer_seq < self.next_consumer_seq
                    && seq <= state.delivered().stream_seq;
                if valid {
                    let mut seqs: Vec<u64> =
                        self.outstanding.range(..=seq).map(|(&s, _)| s).collect();
                    seqs.extend(self.exhausted.range(..=seq).map(|(&s, _)| s));
                    seqs.push(seq);
                    seqs.sort_unstable();
                    seqs.dedup();
                    for s in &seqs {
                        self.outstanding.remove(s);
                        self.exhausted.remove(s);
                    }
                    acked = Acked::Many(seqs);
                }
            }
            AckPolicy::None => {}
        }
        acked
    }
}

fn build(setup: &Setup) -> (Model, ConsumerState) {
    let settings = ConsumerSettings {
        ack_wait_ns: setup.ack_wait_ticks * TICK_NS,
        backoff_ns: setup.backoff_ticks.iter().map(|t| t * TICK_NS).collect(),
        max_deliver: setup.max_deliver,
        max_ack_pending: setup.max_ack_pending,
        filters: FILTER_SETS[setup.filters]
            .iter()
            .map(|f| Bytes::copy_from_slice(f.as_bytes()))
            .collect(),
        retention: if setup.interest {
            Retention::Interest
        } else {
            Retention::Limits
        },
        ..ConsumerSettings::new(setup.ack_policy)
    };
    let mut source = VecSource::default();
    for &subject in &setup.initial {
        source.publish(SUBJECTS[subject], 0);
    }
    let state = ConsumerState::new(settings.clone(), &source).expect("valid settings");
    let model = Model {
        settings,
        source,
        now: 0,
        outstanding: BTreeMap::new(),
        exhausted: BTreeMap::new(),
        last_new_seq: 0,
        delivered_seqs: Default::default(),
        next_consumer_seq: 1,
        advisories: Vec::new(),
    };
    (model, state)
}

fn run(setup: Setup, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let (mut model, mut state) = build(&setup);
    let mut floor_before = state.ack_floor();
    check(&model, &mut state, &mut floor_before)?;
    for op in ops {
        apply(&mut model, &mut state, &op)?;
        check(&model, &mut state, &mut floor_before)?;
        model.advisories.clear();
    }
    Ok(())
}

fn apply(model: &mut Model, state: &mut ConsumerState, op: &Op) -> Result<(), TestCaseError> {
    let now = model.now;
    match *op {
        Op::Publish(subject) => {
            let seq = model.source.publish(SUBJECTS[subject], now);
            state.on_stream_append(seq, SUBJECTS[subject].as_bytes());
        }
        Op::Advance(ticks) => {
            model.now += i64::from(ticks) * TICK_NS;
            state.expire(model.now);
            model.expire();
        }
        Op::Deliver { cancel } => {
            let before = state.fingerprint();
            let delivery = state.next_delivery(&model.source, now);
            let queued: Vec<u64> = model
                .outstanding
                .iter()
                .filter(|(_, out)| out.queued)
                .map(|(&seq, _)| seq)
                .collect();
            let full = model.settings.ack_policy != AckPolicy::None
                && model.outstanding.len() >= model.settings.ack_pending_limit();
            match delivery {
                Some(d) if !queued.is_empty() => {
                    // Redeliveries first, and only of messages whose deadline passed or
                    // that were NAKed.
                    prop_assert!(queued.contains(&d.stream_seq), "{:?} not due", d);
                    let out = model.outstanding[&d.stream_seq];
                    prop_assert_eq!(d.delivered_count, out.deliveries + 1);
                    prop_assert_eq!(d.consumer_seq, model.next_consumer_seq);
                    prop_assert!(!d.acked_on_delivery);
                }
                Some(d) => {
                    prop_assert!(!full, "delivered past max_ack_pending");
                    prop_assert_eq!(Some(d.stream_seq), model.next_new());
                    prop_assert_eq!(d.delivered_count, 1);
                    prop_assert_eq!(d.consumer_seq, model.next_consumer_seq);
                    prop_assert_eq!(
                        d.acked_on_delivery,
                        model.settings.ack_policy == AckPolicy::None
                            && model.settings.retention != Retention::Limits
                    );
                }
                None => {
                    prop_assert!(queued.is_empty(), "a due redelivery was not made");
                    prop_assert!(
                        full || model.next_new().is_none(),
                        "a new message was not delivered"
                    );
                }
            }
            let Some(d) = delivery else { return Ok(()) };
            if cancel {
                prop_assert!(state.cancel_delivery());
                prop_assert_eq!(state.fingerprint(), before);
                return Ok(());
            }
            model.next_consumer_seq += 1;
            if d.delivered_count > 1 {
                let due_ns = now + model.wait(d.delivered_count);
                if let Some(out) = model.outstanding.get_mut(&d.stream_seq) {
                    out.deliveries = d.delivered_count;
                    out.last_consumer_seq = d.consumer_seq;
                    out.due_ns = due_ns;
                    out.queued = false;
                }
            } else {
                model.last_new_seq = d.stream_seq;
                model.delivered_seqs.insert(d.stream_seq);
                if model.settings.ack_policy != AckPolicy::None {
                    model.outstanding.insert(
                        d.stream_seq,
                        Outstanding {
                            first_consumer_seq: d.consumer_seq,
                            last_consumer_seq: d.consumer_seq,
                            deliveries: 1,
                            due_ns: now + model.wait(1),
                            queued: false,
                        },
                    );
                }
            }
            prop_assert_eq!(d.pending, model.never_delivered());
        }
        Op::Ack(index) | Op::Term(index) => {
            let Some(seq) = model.pick(index) else {
                return Ok(());
            };
            let out = model.outstanding[&seq];
            let term = matches!(op, Op::Term(_));
            let kind = if term {
                AckKind::Term { reason: None }
            } else {
                AckKind::Ack
            };
            let expected = model.ack(seq, out.last_consumer_seq, state);
            let outcome = state.ack(seq, out.last_consumer_seq, kind, now);
            prop_assert_eq!(&outcome.acked, &expected);
            if let (AckPolicy::All, Acked::Many(_)) = (model.settings.ack_policy, &expected) {
                prop_assert!(
                    state.pending().all(|(s, _, _)| s > seq),
                    "ack all left messages below"
                );
            }
            if term {
                prop_assert_eq!(
                    outcome.advisory,
                    Some(Advisory::Terminated {
                        stream_seq: seq,
                        consumer_seq: out.last_consumer_seq,
                        deliveries: out.deliveries,
                        reason: Bytes::new(),
                    })
                );
            }
        }
        Op::AckBogus(seq, consumer_seq) => {
            let expected = if seq == 0 {
                Acked::Nothing
            } else {
                model.ack(seq, consumer_seq, state)
            };
            let outcome = state.ack(seq, consumer_seq, AckKind::Ack, now);
            prop_assert_eq!(outcome.acked, expected);
        }
        Op::Nak(index, delay_ticks) => {
            let Some(seq) = model.pick(index) else {
                return Ok(());
            };
            let out = model.outstanding[&seq];
            let delay_ns = delay_ticks.map(|t| i64::from(t) * TICK_NS);
            let valid = out.last_consumer_seq > state.ack_floor().consumer_seq
                && out.last_consumer_seq <= model.next_consumer_seq;
            let outcome = state.ack(seq, out.last_consumer_seq, AckKind::Nak { delay_ns }, now);
            prop_assert_eq!(outcome.applied, valid);
            if !valid {
                return Ok(());
            }
            prop_assert_eq!(
                outcome.advisory,
                Some(Advisory::Naked {
                    stream_seq: seq,
                    consumer_seq: out.last_consumer_seq,
                    deliveries: out.deliveries,
                })
            );
            match delay_ns {
                Some(delay) if delay > 0 => {
                    if let Some(out) = model.outstanding.get_mut(&seq) {
                        out.queued = false;
                        out.due_ns = now + delay;
                    }
                }
                _ => {
                    if model.max_deliver() > 0 && out.deliveries >= model.max_deliver() {
                        model.exhaust(seq, out.deliveries);
                    } else if let Some(out) = model.outstanding.get_mut(&seq) {
                        out.queued = true;
                    }
                }
            }
        }
        Op::Progress(index) => {
            let Some(seq) = model.pick(index) else {
                return Ok(());
            };
            let out = model.outstanding[&seq];
            state.ack(seq, out.last_consumer_seq, AckKind::Progress, now);
            let due_ns = now + model.wait(out.deliveries);
            if let Some(out) = model.outstanding.get_mut(&seq).filter(|out| !out.queued) {
                out.due_ns = due_ns;
            }
        }
        Op::Delete(index) => {
            let live: Vec<u64> = model.source.live().map(|(seq, _)| seq).collect();
            if live.is_empty() {
                return Ok(());
            }
            let seq = live[index % live.len()];
            let subject = model.source.delete(seq).expect("live");
            state.on_stream_remove(seq, &subject);
            if let Some(out) = model.outstanding.remove(&seq) {
                model.advisories.push(Advisory::Terminated {
                    stream_seq: seq,
                    consumer_seq: out.first_consumer_seq,
                    deliveries: out.deliveries,
                    reason: Bytes::from_static(REASON_UNACKED_DELETED.as_bytes()),
                });
            }
            model.exhausted.remove(&seq);
        }
        Op::Restart => {
            let snapshot = state.snapshot();
            let mut bytes = Vec::new();
            snapshot.encode(&mut bytes).expect("encodable");
            let decoded = decode_snapshot(&bytes).expect("decodable");
            prop_assert_eq!(&decoded, &snapshot);
            // Advisories not yet drained are the old process's.
            let old_advisories: Vec<Advisory> =
                std::iter::from_fn(|| state.poll_advisory()).collect();
            prop_assert!(old_advisories.is_empty());
            *state = ConsumerState::restore(model.settings.clone(), &decoded, &model.source)
                .expect("restorable");
            state.expire(now);
        }
    }
    Ok(())
}

fn check(
    model: &Model,
    state: &mut ConsumerState,
    floor_before: &mut SequencePair,
) -> Result<(), TestCaseError> {
    state.assert_invariants();
    let info = state.info(&model.source, 0);
    let floor = info.ack_floor;
    let delivered = info.delivered;

    // Pending is exactly what the model says is outstanding.
    let pending: Vec<(u64, u64, u64)> = state.pending().collect();
    let expected: Vec<(u64, u64, u64)> = model
        .outstanding
        .iter()
        .map(|(&seq, out)| (seq, out.first_consumer_seq, out.deliveries))
        .collect();
    prop_assert_eq!(&pending, &expected);
    prop_assert!(pending.len() <= model.settings.ack_pending_limit());

    // Delivered is the last delivery; the floor only rises and stays within it.
    prop_assert_eq!(
        delivered,
        SequencePair {
            consumer_seq: model.next_consumer_seq - 1,
            stream_seq: model.last_new_seq,
        }
    );
    prop_assert!(
        floor.consumer_seq >= floor_before.consumer_seq
            && floor.stream_seq >= floor_before.stream_seq
    );
    prop_assert!(
        floor.consumer_seq <= delivered.consumer_seq && floor.stream_seq <= delivered.stream_seq
    );
    prop_assert!(pending.iter().all(|&(seq, _, _)| seq > floor.stream_seq));
    *floor_before = floor;
    match model.settings.ack_policy {
        AckPolicy::None => prop_assert_eq!(floor, delivered),
        AckPolicy::Explicit => {
            // The floor is the highest point below which everything is acknowledged: in
            // consumer sequences right below the first pending one, in stream sequences
            // at or above every message delivered below the first pending one.
            match pending.iter().map(|p| p.1).min() {
                None => prop_assert_eq!(floor, delivered),
                Some(first_consumer_seq) => {
                    prop_assert_eq!(floor.consumer_seq + 1, first_consumer_seq)
                }
            }
            let first_pending = pending.first().map_or(u64::MAX, |p| p.0);
            let resolved_below = model.delivered_seqs.range(..first_pending).next_back();
            prop_assert!(resolved_below.is_none_or(|&seq| floor.stream_seq >= seq));
        }
        AckPolicy::All => {}
    }

    // Counting: every live message of ours is either still to deliver, awaiting an ack,
    // or resolved (acked, terminated, or past max_deliver).
    prop_assert_eq!(info.num_pending, model.never_delivered());
    let total = model
        .source
        .live()
        .filter(|(_, m)| model.matching(&m.subject))
        .count() as u64;
    let resolved = model
        .source
        .live()
        .filter(|(seq, m)| {
            model.matching(&m.subject)
                && *seq <= model.last_new_seq
                && !model.outstanding.contains_key(seq)
        })
        .count() as u64;
    prop_assert_eq!(total, info.num_pending + info.num_ack_pending + resolved);

    let redelivered = model
        .outstanding
        .values()
        .filter(|out| out.deliveries > 1)
        .count()
        + model.exhausted.len();
    let redelivered = if model.settings.max_deliver == 1 {
        0
    } else {
        redelivered as u64
    };
    prop_assert_eq!(info.num_redelivered, redelivered);

    let advisories: Vec<Advisory> = std::iter::from_fn(|| state.poll_advisory()).collect();
    prop_assert_eq!(&advisories, &model.advisories);

    // Interest retention keeps exactly what is still needed.
    if model.settings.ack_policy != AckPolicy::All {
        for (seq, msg) in model.source.live() {
            let needed = model.matching(&msg.subject)
                && (seq > model.last_new_seq
                    || model.outstanding.contains_key(&seq)
                    || model.exhausted.contains_key(&seq));
            prop_assert_eq!(
                state.needs_ack(seq, &msg.subject),
                needed,
                "needs_ack({})",
                seq
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn consumer_state_matches_the_model(setup in setup(), ops in prop::collection::vec(op(), 1..120)) {
        run(setup, ops)?;
    }
}
