//! One behaviour per test, each checked against what nats-server's consumer.go does.

use bytes::Bytes;

use super::super::{
    decode_snapshot, AckKind, AckPolicy, Acked, Advisory, ConsumerNumbers, ConsumerSettings,
    ConsumerState, DeliverPolicy, MessageSource, Retention, SequencePair, REASON_UNACKED_DELETED,
};
use super::VecSource;

const WAIT: i64 = 1_000;

fn settings(ack_policy: AckPolicy) -> ConsumerSettings {
    ConsumerSettings {
        ack_wait_ns: WAIT,
        ..ConsumerSettings::new(ack_policy)
    }
}

fn pair(consumer_seq: u64, stream_seq: u64) -> SequencePair {
    SequencePair {
        consumer_seq,
        stream_seq,
    }
}

/// (stream seq, consumer seq, delivered count) of the next delivery.
fn next(state: &mut ConsumerState, source: &VecSource, now: i64) -> Option<(u64, u64, u64)> {
    state
        .next_delivery(source, now)
        .map(|d| (d.stream_seq, d.consumer_seq, d.delivered_count))
}

fn ack(
    state: &mut ConsumerState,
    stream_seq: u64,
    consumer_seq: u64,
    now: i64,
) -> super::super::AckOutcome {
    state.ack(stream_seq, consumer_seq, AckKind::Ack, now)
}

fn advisories(state: &mut ConsumerState) -> Vec<Advisory> {
    std::iter::from_fn(|| state.poll_advisory()).collect()
}

#[test]
fn delivers_in_order_with_pending_counts() {
    let source = VecSource::with(&["a", "b", "c"]);
    let mut state = ConsumerState::new(settings(AckPolicy::Explicit), &source).unwrap();
    assert_eq!(state.info(&source, 0).num_pending, 3);
    let first = state.next_delivery(&source, 0).unwrap();
    assert_eq!(
        (
            first.stream_seq,
            first.consumer_seq,
            first.delivered_count,
            first.pending
        ),
        (1, 1, 1, 2)
    );
    assert_eq!(next(&mut state, &source, 0), Some((2, 2, 1)));
    assert_eq!(next(&mut state, &source, 0), Some((3, 3, 1)));
    assert_eq!(next(&mut state, &source, 0), None);
    let info = state.info(&source, 0);
    assert_eq!(info.delivered, pair(3, 3));
    assert_eq!(info.ack_floor, pair(0, 0));
    assert_eq!(info.num_ack_pending, 3);
    assert_eq!(info.num_pending, 0);
    assert_eq!(state.heartbeat_positions(), (3, 3));
}

#[test]
fn explicit_acks_move_the_floor_only_over_contiguous_acks() {
    let source = VecSource::with(&["a", "b", "c"]);
    let mut state = ConsumerState::new(settings(AckPolicy::Explicit), &source).unwrap();
    for _ in 0..3 {
        state.next_delivery(&source, 0).unwrap();
    }
    let out = ack(&mut state, 2, 2, 1);
    assert_eq!(
        (out.applied, out.ack_floor_moved, out.reply),
        (true, false, true)
    );
    assert_eq!(out.acked, Acked::One(2));
    assert_eq!(state.ack_floor(), pair(0, 0));
    let out = ack(&mut state, 1, 1, 1);
    assert!(out.ack_floor_moved);
    assert_eq!(state.ack_floor(), pair(2, 2));
    ack(&mut state, 3, 3, 1);
    assert_eq!(state.ack_floor(), pair(3, 3));
    // Acking again changes nothing but still answers an AckSync.
    let out = ack(&mut state, 3, 3, 2);
    assert_eq!(
        (out.applied, out.reply, out.acked),
        (false, true, Acked::Nothing)
    );
    assert_eq!(state.info(&source, 0).last_ack_ns, 2);
}

#[test]
fn ack_above_the_delivered_range_is_ignored_without_reply() {
    let source = VecSource::with(&["a", "b"]);
    let mut state = ConsumerState::new(settings(AckPolicy::Explicit), &source).unwrap();
    state.next_delivery(&source, 0).unwrap();
    let out = ack(&mut state, 2, 2, 0);
    assert_eq!((out.applied, out.reply), (false, false));
    let out = ack(&mut state, 0, 1, 0);
    assert_eq!((out.applied, out.reply), (false, false));
    assert_eq!(state.num_ack_pending(), 1);
}

#[test]
fn ack_all_acks_everything_up_to_the_acked_message() {
    let source = VecSource::with(&["a", "b", "c", "d"]);
    let mut state = ConsumerState::new(settings(AckPolicy::All), &source).unwrap();
    for _ in 0..4 {
        state.next_delivery(&source, 0).unwrap();
    }
    let out = ack(&mut state, 3, 3, 0);
    assert_eq!(out.acked, Acked::Many(vec![1, 2, 3]));
    assert!(out.ack_floor_moved);
    assert_eq!(state.ack_floor(), pair(3, 3));
    assert_eq!(state.pending().map(|p| p.0).collect::<Vec<_>>(), vec![4]);
    let out = ack(&mut state, 2, 2, 0);
    assert_eq!((out.applied, out.reply), (false, true));
    // A consumer sequence never handed out is not trusted.
    let out = ack(&mut state, 4, 99, 0);
    assert!(!out.applied);
}

#[test]
fn ack_none_keeps_nothing_pending_and_floor_follows_delivered() {
    let source = VecSource::with(&["a", "b"]);
    let mut state = ConsumerState::new(settings(AckPolicy::None), &source).unwrap();
    let d = state.next_delivery(&source, 0).unwrap();
    assert!(!d.acked_on_delivery);
    assert_eq!(state.ack_floor(), pair(1, 1));
    assert_eq!(state.info(&source, 0).num_ack_pending, 0);
    assert!(
        !ack(&mut state, 1, 1, 0).reply,
        "limits stream: no reply, as nats-server"
    );
    let interest = ConsumerSettings {
        retention: Retention::Interest,
        ..settings(AckPolicy::None)
    };
    let mut state = ConsumerState::new(interest, &source).unwrap();
    assert!(state.next_delivery(&source, 0).unwrap().acked_on_delivery);
    assert!(!state.needs_ack(1, b"a"));
    assert!(state.needs_ack(2, b"b"));
}

#[test]
fn redelivers_after_ack_wait_with_the_delivery_count() {
    let source = VecSource::with(&["a"]);
    let mut state = ConsumerState::new(settings(AckPolicy::Explicit), &source).unwrap();
    assert_eq!(next(&mut state, &source, 0), Some((1, 1, 1)));
    assert_eq!(state.next_deadline_ns(), Some(WAIT));
    assert_eq!(next(&mut state, &source, WAIT - 1), None);
    assert_eq!(next(&mut state, &source, WAIT), Some((1, 2, 2)));
    let info = state.info(&source, 0);
    assert_eq!((info.num_redelivered, info.num_ack_pending), (1, 1));
    assert_eq!(info.delivered, pair(2, 1));
    assert_eq!(state.next_deadline_ns(), Some(2 * WAIT));
    ack(&mut state, 1, 2, 2 * WAIT - 1);
    assert_eq!(state.ack_floor(), pair(2, 1));
    assert_eq!(state.info(&source, 0).num_redelivered, 0);
    assert_eq!(state.next_deadline_ns(), None);
}

#[test]
fn expired_messages_are_redelivered_in_stream_order() {
    let source = VecSource::with(&["a", "b", "c"]);
    let mut state = ConsumerState::new(settings(AckPolicy::Explicit), &source).unwrap();
    assert_eq!(next(&mut state, &source, 10), Some((1, 1, 1)));
    assert_eq!(next(&mut state, &source, 5), Some((2, 2, 1)));
    assert_eq!(next(&mut state, &source, 0), Some((3, 3, 1)));
    assert_eq!(state.expire(WAIT + 10), 3);
    assert_eq!(next(&mut state, &source, WAIT + 10), Some((1, 4, 2)));
    assert_eq!(next(&mut state, &source, WAIT + 10), Some((2, 5, 2)));
    assert_eq!(next(&mut state, &source, WAIT + 10), Some((3, 6, 2)));
}

#[test]
fn backoff_sets_each_wait_and_max_deliver_drops_with_an_advisory() {
    let source = VecSource::with(&["a"]);
    let settings = ConsumerSettings {
        backoff_ns: vec![1_000, 5_000],
        max_deliver: 3,
        retention: Retention::Interest,
        ..settings(AckPolicy::Explicit)
    };
    let mut state = ConsumerState::new(settings, &source).unwrap();
    assert_eq!(next(&mut state, &source, 0), Some((1, 1, 1)));
    assert_eq!(next(&mut state, &source, 999), None);
    assert_eq!(next(&mut state, &source, 1_000), Some((1, 2, 2)));
    assert_eq!(next(&mut state, &source, 5_999), None);
    assert_eq!(next(&mut state, &source, 6_000), Some((1, 3, 3)));
    assert!(advisories(&mut state).is_empty());
    assert_eq!(state.next_deadline_ns(), Some(11_000));
    assert_eq!(state.expire(11_000), 0);
    assert_eq!(
        advisories(&mut state),
        vec![Advisory::MaxDeliveries {
            stream_seq: 1,
            deliveries: 3
        }]
    );
    let info = state.info(&source, 0);
    assert_eq!((info.num_ack_pending, info.num_redelivered), (0, 1));
    assert_eq!(info.ack_floor, pair(3, 1));
    assert_eq!(next(&mut state, &source, 20_000), None);
    // An interest stream keeps it until it is acked.
    assert!(state.needs_ack(1, b"a"));
    let out = ack(&mut state, 1, 3, 20_000);
    assert_eq!(out.acked, Acked::One(1));
    assert!(!state.needs_ack(1, b"a"));
    assert_eq!(state.info(&source, 0).num_redelivered, 0);
}

#[test]
fn max_deliver_one_hides_num_redelivered() {
    let source = VecSource::with(&["a"]);
    let settings = ConsumerSettings {
        max_deliver: 1,
        ..settings(AckPolicy::Explicit)
    };
    let mut state = ConsumerState::new(settings, &source).unwrap();
    state.next_delivery(&source, 0).unwrap();
    assert_eq!(next(&mut state, &source, WAIT), None);
    assert_eq!(advisories(&mut state).len(), 1);
    assert_eq!(state.info(&source, 0).num_redelivered, 0);
    assert_eq!(state.snapshot().redelivered, vec![(1, 1)]);
}

#[test]
fn nak_redelivers_now_or_after_its_delay() {
    let source = VecSource::with(&["a", "b"]);
    let mut state = ConsumerState::new(settings(AckPolicy::Explicit), &source).unwrap();
    state.next_delivery(&source, 0).unwrap();
    state.next_delivery(&source, 0).unwrap();
    let out = state.ack(1, 1, AckKind::Nak { delay_ns: None }, 10);
    assert_eq!(
        out.advisory,
        Some(Advisory::Naked {
            stream_seq: 1,
            consumer_seq: 1,
            deliveries: 1
        })
    );
    assert!(out.reply);
    assert_eq!(state.redeliveries_queued(), 1);
    assert_eq!(next(&mut state, &source, 10), Some((1, 3, 2)));
    let out = state.ack(
        2,
        2,
        AckKind::Nak {
            delay_ns: Some(500),
        },
        20,
    );
    assert!(out.applied);
    assert_eq!(state.next_deadline_ns(), Some(520));
    assert_eq!(next(&mut state, &source, 519), None);
    assert_eq!(next(&mut state, &source, 520), Some((2, 4, 2)));
}

#[test]
fn nak_outside_the_delivered_range_is_ignored() {
    let source = VecSource::with(&["a"]);
    let mut state = ConsumerState::new(settings(AckPolicy::Explicit), &source).unwrap();
    state.next_delivery(&source, 0).unwrap();
    let out = state.ack(1, 5, AckKind::Nak { delay_ns: None }, 0);
    assert_eq!(
        (out.applied, out.advisory.is_some(), out.reply),
        (false, false, true)
    );
    let out = state.ack(1, 0, AckKind::Nak { delay_ns: None }, 0);
    assert!(!out.applied);
}

#[test]
fn nak_at_max_deliver_drops_the_message() {
    let source = VecSource::with(&["a"]);
    let settings = ConsumerSettings {
        max_deliver: 2,
        ..settings(AckPolicy::Explicit)
    };
    let mut state = ConsumerState::new(settings, &source).unwrap();
    state.next_delivery(&source, 0).unwrap();
    state.ack(1, 1, AckKind::Nak { delay_ns: None }, 0);
    assert_eq!(next(&mut state, &source, 0), Some((1, 2, 2)));
    let out = state.ack(1, 2, AckKind::Nak { delay_ns: None }, 0);
    assert!(out.ack_floor_moved);
    assert_eq!(
        advisories(&mut state),
        vec![Advisory::MaxDeliveries {
            stream_seq: 1,
            deliveries: 2
        }]
    );
    assert_eq!(next(&mut state, &source, 0), None);
}

#[test]
fn progress_restarts_the_ack_wait() {
    let source = VecSource::with(&["a"]);
    let mut state = ConsumerState::new(settings(AckPolicy::Explicit), &source).unwrap();
    state.next_delivery(&source, 0).unwrap();
    let out = state.ack(1, 1, AckKind::Progress, 800);
    assert!(out.applied && out.reply);
    assert_eq!(next(&mut state, &source, WAIT), None);
    assert_eq!(next(&mut state, &source, 800 + WAIT), Some((1, 2, 2)));
}

#[test]
fn term_acks_and_advises_with_the_reason() {
    let source = VecSource::with(&["a"]);
    let mut state = ConsumerState::new(settings(AckPolicy::Explicit), &source).unwrap();
    state.next_delivery(&source, 0).unwrap();
    let reason = Bytes::from_static(b"bad payload");
    let out = state.ack(
        1,
        1,
        AckKind::Term {
            reason: Some(reason.clone()),
        },
        0,
    );
    assert_eq!(out.acked, Acked::One(1));
    assert_eq!(
        out.advisory,
        Some(Advisory::Terminated {
            stream_seq: 1,
            consumer_seq: 1,
            deliveries: 1,
            reason
        })
    );
    assert_eq!(next(&mut state, &source, 10 * WAIT), None);
}

#[test]
fn next_acks_without_ack_reply() {
    let source = VecSource::with(&["a"]);
    let mut state = ConsumerState::new(settings(AckPolicy::Explicit), &source).unwrap();
    state.next_delivery(&source, 0).unwrap();
    let out = state.ack(1, 1, AckKind::Next, 0);
    assert!(out.applied && !out.reply);
}

#[test]
fn max_ack_pending_holds_new_messages_but_not_redeliveries() {
    let source = VecSource::with(&["a", "b", "c", "d"]);
    let settings = ConsumerSettings {
        max_ack_pending: 2,
        ..settings(AckPolicy::Explicit)
    };
    let mut state = ConsumerState::new(settings, &source).unwrap();
    assert_eq!(next(&mut state, &source, 0), Some((1, 1, 1)));
    assert_eq!(next(&mut state, &source, 0), Some((2, 2, 1)));
    assert_eq!(next(&mut state, &source, 0), None);
    assert!(state.is_ack_pending_full());
    assert_eq!(next(&mut state, &source, WAIT), Some((1, 3, 2)));
    assert_eq!(next(&mut state, &source, WAIT), Some((2, 4, 2)));
    assert_eq!(next(&mut state, &source, WAIT), None);
    ack(&mut state, 1, 3, WAIT);
    assert_eq!(next(&mut state, &source, WAIT), Some((3, 5, 1)));
}

#[test]
fn a_pending_message_deleted_from_the_stream_is_terminated() {
    let mut source = VecSource::with(&["a", "b"]);
    let mut state = ConsumerState::new(settings(AckPolicy::Explicit), &source).unwrap();
    state.next_delivery(&source, 0).unwrap();
    state.next_delivery(&source, 0).unwrap();
    let subject = source.delete(1).unwrap();
    state.on_stream_remove(1, &subject);
    assert_eq!(
        advisories(&mut state),
        vec![Advisory::Terminated {
            stream_seq: 1,
            consumer_seq: 1,
            deliveries: 1,
            reason: Bytes::from_static(REASON_UNACKED_DELETED.as_bytes())
        }]
    );
    assert_eq!(state.ack_floor(), pair(1, 1));
    // Without the notification, the redelivery finds it gone.
    source.delete(2).unwrap();
    assert_eq!(next(&mut state, &source, WAIT), None);
    assert_eq!(advisories(&mut state).len(), 1);
    assert_eq!(state.num_ack_pending(), 0);
    assert_eq!(state.ack_floor(), state.delivered());
}

#[test]
fn cancel_delivery_restores_the_state_exactly() {
    let source = VecSource::with(&["a", "b", "c"]);
    let mut state = ConsumerState::new(settings(AckPolicy::Explicit), &source).unwrap();
    let before = state.fingerprint();
    state.next_delivery(&source, 0).unwrap();
    assert!(state.cancel_delivery());
    assert_eq!(state.fingerprint(), before);
    assert!(!state.cancel_delivery());
    state.next_delivery(&source, 0).unwrap();
    state.expire(WAIT);
    let before = state.fingerprint();
    assert_eq!(next(&mut state, &source, WAIT), Some((1, 2, 2)));
    assert!(state.cancel_delivery());
    assert_eq!(state.fingerprint(), before);
    assert_eq!(next(&mut state, &source, WAIT), Some((1, 2, 2)));
}

#[test]
fn num_pending_follows_stream_events_and_excludes_pending_acks() {
    let mut source = VecSource::with(&["a.1", "b", "a.2", "a.3"]);
    let settings = ConsumerSettings {
        filters: vec![Bytes::from_static(b"a.*")],
        ..settings(AckPolicy::Explicit)
    };
    let mut state = ConsumerState::new(settings, &source).unwrap();
    assert_eq!(state.info(&source, 0).num_pending, 3);
    let d = state.next_delivery(&source, 0).unwrap();
    assert_eq!((d.stream_seq, d.pending), (1, 2));
    let seq = source.publish("a.4", 0);
    state.on_stream_append(seq, b"a.4");
    let seq = source.publish("b", 0);
    state.on_stream_append(seq, b"b");
    assert_eq!(state.info(&source, 0).num_pending, 3);
    let subject = source.delete(3).unwrap();
    state.on_stream_remove(3, &subject);
    let info = state.info(&source, 0);
    assert_eq!((info.num_pending, info.num_ack_pending), (2, 1));
    assert_eq!(next(&mut state, &source, 0), Some((4, 2, 1)));
    assert_eq!(next(&mut state, &source, 0), Some((5, 3, 1)));
    assert_eq!(next(&mut state, &source, 0), None);
    assert_eq!(state.info(&source, 0).num_pending, 0);
    assert_eq!(state.next_stream_seq(), 7);
}

fn start(policy: DeliverPolicy, filters: &[&str], source: &VecSource) -> ConsumerState {
    let settings = ConsumerSettings {
        deliver_policy: policy,
        filters: filters
            .iter()
            .map(|f| Bytes::copy_from_slice(f.as_bytes()))
            .collect(),
        ..settings(AckPolicy::Explicit)
    };
    ConsumerState::new(settings, source).unwrap()
}

fn drain(state: &mut ConsumerState, source: &VecSource) -> Vec<u64> {
    std::iter::from_fn(|| state.next_delivery(source, 0).map(|d| d.stream_seq)).collect()
}

#[test]
fn deliver_policies_choose_the_start_as_nats_server() {
    // Timestamps 0, 1000, 2000, 3000, 4000.
    let source = VecSource::with(&["a", "b", "a", "c", "b"]);
    assert_eq!(
        drain(&mut start(DeliverPolicy::All, &[], &source), &source),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        drain(&mut start(DeliverPolicy::Last, &[], &source), &source),
        [5]
    );
    assert_eq!(
        drain(&mut start(DeliverPolicy::Last, &["a"], &source), &source),
        [3]
    );
    assert_eq!(
        drain(
            &mut start(DeliverPolicy::Last, &["a", "c"], &source),
            &source
        ),
        [4]
    );
    assert_eq!(
        drain(&mut start(DeliverPolicy::Last, &["zzz"], &source), &source),
        Vec::<u64>::new()
    );
    assert_eq!(
        drain(&mut start(DeliverPolicy::New, &[], &source), &source),
        Vec::<u64>::new()
    );
    let state = start(DeliverPolicy::New, &[], &source);
    assert_eq!(
        (state.delivered(), state.ack_floor()),
        (pair(0, 5), pair(0, 5))
    );
    assert_eq!(
        drain(
            &mut start(DeliverPolicy::ByStartSequence(3), &[], &source),
            &source
        ),
        [3, 4, 5]
    );
    assert_eq!(
        drain(
            &mut start(DeliverPolicy::ByStartTime(2_500), &[], &source),
            &source
        ),
        [4, 5]
    );
    assert_eq!(
        drain(
            &mut start(DeliverPolicy::ByStartTime(2_500), &["b"], &source),
            &source
        ),
        [5]
    );
    // A start sequence beyond the stream is kept (nats-server only clamps implicit ones).
    let mut far = start(DeliverPolicy::ByStartSequence(100), &[], &source);
    assert_eq!(far.info(&source, 0).num_pending, 0);
    let mut grown = source.clone();
    let seq = grown.publish("a", 0);
    far.on_stream_append(seq, b"a");
    assert_eq!(drain(&mut far, &grown), Vec::<u64>::new());
}

#[test]
fn by_start_time_skips_ahead_to_a_filters_first_message() {
    // The first "c" (seq 4) is after the time-based start (seq 2): start there.
    let source = VecSource::with(&["a", "b", "a", "c", "b", "c"]);
    let state = start(DeliverPolicy::ByStartTime(1_000), &["c"], &source);
    assert_eq!(state.delivered(), pair(0, 3));
}

#[test]
fn last_per_subject_delivers_each_subjects_last_then_new_messages() {
    let mut source = VecSource::with(&["a", "a", "b", "b", "a", "c"]);
    let mut state = start(DeliverPolicy::LastPerSubject, &[], &source);
    assert_eq!(state.delivered(), pair(0, 3));
    assert_eq!(state.info(&source, 0).num_pending, 3);
    assert_eq!(next(&mut state, &source, 0), Some((4, 1, 1)));
    assert_eq!(state.info(&source, 0).num_pending, 2);
    let seq = source.publish("b", 0);
    state.on_stream_append(seq, b"b");
    assert_eq!(state.info(&source, 0).num_pending, 3);
    assert_eq!(drain(&mut state, &source), [5, 6, 7]);
    let mut filtered = start(DeliverPolicy::LastPerSubject, &["a", "c"], &source);
    assert_eq!(drain(&mut filtered, &source), [5, 6]);
}

#[test]
fn purge_drops_pending_messages_and_moves_past_them() {
    let mut source = VecSource::with(&["a", "b", "c", "d"]);
    let mut state = ConsumerState::new(settings(AckPolicy::Explicit), &source).unwrap();
    for _ in 0..3 {
        state.next_delivery(&source, 0).unwrap();
    }
    source.delete(1);
    source.delete(2);
    state.on_stream_purge(&source);
    assert_eq!(state.pending().map(|p| p.0).collect::<Vec<_>>(), vec![3]);
    assert_eq!(state.ack_floor(), pair(2, 2));
    assert!(advisories(&mut state).is_empty());
    source.delete(3);
    source.delete(4);
    state.on_stream_purge(&source);
    let info = state.info(&source, 0);
    assert_eq!((info.num_ack_pending, info.num_pending), (0, 0));
    assert_eq!((info.delivered, info.ack_floor), (pair(3, 4), pair(3, 4)));
    let seq = source.publish("e", 0);
    state.on_stream_append(seq, b"e");
    assert_eq!(next(&mut state, &source, 0), Some((5, 4, 1)));
}

#[test]
fn restore_resumes_after_the_last_delivery_with_deadlines_kept() {
    let source = VecSource::with(&["a", "b", "c", "d"]);
    let settings = ConsumerSettings {
        max_deliver: 5,
        ..settings(AckPolicy::Explicit)
    };
    let mut state = ConsumerState::new(settings.clone(), &source).unwrap();
    for _ in 0..3 {
        state.next_delivery(&source, 0).unwrap();
    }
    ack(&mut state, 1, 1, 10);
    assert_eq!(next(&mut state, &source, WAIT), Some((2, 4, 2)));
    let mut bytes = Vec::new();
    state.snapshot().encode(&mut bytes).unwrap();
    let snapshot = decode_snapshot(&bytes).unwrap();
    assert_eq!(snapshot, state.snapshot());
    let mut restored = ConsumerState::restore(settings, &snapshot, &source).unwrap();
    // Activity times are not persisted (nor are they by nats-server).
    let before = ConsumerNumbers {
        last_delivered_ns: 0,
        last_ack_ns: 0,
        ..state.info(&source, 0)
    };
    assert_eq!(restored.info(&source, 0), before);
    // Message 3's deadline (WAIT) passed during the downtime; 2's is 2 * WAIT.
    assert_eq!(next(&mut restored, &source, WAIT + 1), Some((3, 5, 2)));
    assert_eq!(next(&mut restored, &source, WAIT + 1), Some((4, 6, 1)));
    assert_eq!(next(&mut restored, &source, 2 * WAIT), Some((2, 7, 3)));
}

#[test]
fn restore_forgets_what_the_stream_lost() {
    let source = VecSource::with(&["a", "b", "c"]);
    let mut state = ConsumerState::new(settings(AckPolicy::Explicit), &source).unwrap();
    for _ in 0..3 {
        state.next_delivery(&source, 0).unwrap();
    }
    ack(&mut state, 1, 1, 0);
    let snapshot = state.snapshot();
    let shorter = VecSource::with(&["a", "b"]);
    let mut restored =
        ConsumerState::restore(settings(AckPolicy::Explicit), &snapshot, &shorter).unwrap();
    assert_eq!(restored.pending().map(|p| p.0).collect::<Vec<_>>(), vec![2]);
    assert_eq!(restored.delivered(), pair(2, 2));
    assert_eq!(restored.next_stream_seq(), 3);
    restored.assert_invariants();
    assert_eq!(next(&mut restored, &shorter, WAIT), Some((2, 3, 2)));
}

#[test]
fn needs_ack_follows_interest_semantics() {
    let source = VecSource::with(&["a", "b", "a", "a"]);
    let settings = ConsumerSettings {
        filters: vec![Bytes::from_static(b"a")],
        retention: Retention::Interest,
        ..settings(AckPolicy::Explicit)
    };
    let mut state = ConsumerState::new(settings, &source).unwrap();
    state.next_delivery(&source, 0).unwrap();
    state.next_delivery(&source, 0).unwrap();
    assert!(!state.needs_ack(2, b"b"), "not ours");
    assert!(state.needs_ack(1, b"a") && state.needs_ack(3, b"a") && state.needs_ack(4, b"a"));
    ack(&mut state, 3, 2, 0);
    assert!(!state.needs_ack(3, b"a"));
    assert!(state.needs_ack(1, b"a"));
}

#[test]
fn settings_are_validated() {
    let source = VecSource::default();
    let bad = [
        ConsumerSettings {
            filters: vec![Bytes::from_static(b"a..b")],
            ..settings(AckPolicy::Explicit)
        },
        ConsumerSettings {
            backoff_ns: vec![0],
            ..settings(AckPolicy::Explicit)
        },
        ConsumerSettings {
            backoff_ns: vec![1, 2, 3],
            max_deliver: 2,
            ..settings(AckPolicy::Explicit)
        },
        ConsumerSettings {
            ack_wait_ns: 0,
            ..settings(AckPolicy::Explicit)
        },
    ];
    for settings in bad {
        assert!(ConsumerState::new(settings, &source).is_err());
    }
    let mut state = ConsumerState::new(settings(AckPolicy::Explicit), &source).unwrap();
    let update = ConsumerSettings {
        max_ack_pending: 5,
        ack_policy: AckPolicy::None,
        ..settings(AckPolicy::Explicit)
    };
    state.update_settings(update, &source).unwrap();
    assert_eq!(
        state.settings().ack_policy,
        AckPolicy::Explicit,
        "ack policy is fixed"
    );
    assert_eq!(state.settings().max_ack_pending, 5);
    assert_eq!(source.bounds().first_seq, 1);
}

#[test]
fn purge_during_the_last_per_subject_start_list() {
    let mut source = VecSource::with(&["a", "b", "a", "c", "b", "d"]);
    let mut state = start(DeliverPolicy::LastPerSubject, &[], &source);
    assert_eq!(next(&mut state, &source, 0), Some((3, 1, 1)));
    for seq in 1..=4 {
        source.delete(seq);
    }
    state.on_stream_purge(&source);
    state.assert_invariants();
    assert_eq!(state.num_ack_pending(), 0);
    assert_eq!(state.info(&source, 0).num_pending, 2);
    assert_eq!(drain(&mut state, &source), [5, 6]);
    state.assert_invariants();
}
