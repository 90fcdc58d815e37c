//! The machines driven together by a virtual clock, as the glommio driver drives them:
//! each step advances `now`, lets the push gate send heartbeats, delivers what is due,
//! and jumps to the earliest deadline any machine asks for. The timelines are exact
//! because nothing here reads a real clock.

use bytes::Bytes;

use super::super::{
    AckKind, AckPolicy, Advisory, ConsumerSettings, ConsumerState, PushAction, PushSettings,
    PushState, RateLimiter, ReplayPacer,
};
use super::VecSource;

const MS: i64 = 1_000_000;

#[derive(Debug, PartialEq, Eq)]
enum Event {
    /// (stream seq, delivered count) sent at a time.
    Delivered(u64, u64),
    Heartbeat,
    MaxDeliveries(u64),
}

/// A push consumer run until `until_ns`: the driver's loop with the clock jumping from
/// deadline to deadline. `acks` says which (stream seq, delivery count) the client acks
/// and how long after receiving it.
fn run_push(
    state: &mut ConsumerState,
    push: &mut PushState,
    source: &VecSource,
    acks: &[(u64, u64, i64)],
    until_ns: i64,
) -> Vec<(i64, Event)> {
    let mut timeline = Vec::new();
    // (due, stream seq, consumer seq) of acks on their way.
    let mut in_flight: Vec<(i64, u64, u64)> = Vec::new();
    let mut now = 0;
    while now <= until_ns {
        in_flight.sort_unstable();
        while let Some(&(due, seq, consumer_seq)) = in_flight.first() {
            if due > now {
                break;
            }
            in_flight.remove(0);
            state.ack(seq, consumer_seq, AckKind::Ack, now);
        }
        state.expire(now);
        while let Some(advisory) = state.poll_advisory() {
            if let Advisory::MaxDeliveries { stream_seq, .. } = advisory {
                timeline.push((now, Event::MaxDeliveries(stream_seq)));
            }
        }
        if let Some(PushAction::IdleHeartbeat { .. }) = push.poll(now) {
            timeline.push((now, Event::Heartbeat));
        }
        while push.can_deliver() {
            let Some(delivery) = state.next_delivery(source, now) else {
                break;
            };
            timeline.push((
                now,
                Event::Delivered(delivery.stream_seq, delivery.delivered_count),
            ));
            push.on_delivered(100, now);
            if let Some(&(_, _, after)) = acks.iter().find(|(seq, count, _)| {
                *seq == delivery.stream_seq && *count == delivery.delivered_count
            }) {
                in_flight.push((now + after, delivery.stream_seq, delivery.consumer_seq));
            }
        }
        // The driver's timer: the earliest deadline of anyone.
        let next = [
            state.next_deadline_ns(),
            push.next_deadline_ns(),
            in_flight.iter().map(|(due, _, _)| *due).min(),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(at) if at > now => now = at,
            Some(_) => now += 1,
            None => break,
        }
    }
    timeline
}

#[test]
fn ack_wait_backoff_and_heartbeats_on_one_virtual_clock() {
    let source = VecSource::with(&["a", "b", "c"]);
    let settings = ConsumerSettings {
        // Redelivery 2 ms after the first delivery, then 5 ms; 3 deliveries at most.
        backoff_ns: vec![2 * MS, 5 * MS],
        max_deliver: 3,
        ..ConsumerSettings::new(AckPolicy::Explicit)
    };
    let mut state = ConsumerState::new(settings, &source).unwrap();
    let mut push = PushState::new(
        PushSettings {
            heartbeat_ns: 4 * MS,
            flow_control: false,
        },
        Bytes::from_static(b"$JS.FC.S.C."),
        7,
        0,
    );
    push.set_bound(true);
    // 1 is acked 1 ms after its first delivery; 2 only after its second (1 ms later);
    // 3 never.
    let acks = [(1, 1, MS), (2, 2, MS)];
    let timeline = run_push(&mut state, &mut push, &source, &acks, 30 * MS);
    use Event::*;
    assert_eq!(
        timeline,
        vec![
            (0, Delivered(1, 1)),
            (0, Delivered(2, 1)),
            (0, Delivered(3, 1)),
            // backoff[0] after the first delivery.
            (2 * MS, Delivered(2, 2)),
            (2 * MS, Delivered(3, 2)),
            // The heartbeat timer restarted at the last delivery (2 ms).
            (6 * MS, Heartbeat),
            // backoff[1] after the second delivery.
            (7 * MS, Delivered(3, 3)),
            // Third delivery's wait is the last backoff step again; then it is dropped.
            (11 * MS, Heartbeat),
            (12 * MS, MaxDeliveries(3)),
            (15 * MS, Heartbeat),
            (19 * MS, Heartbeat),
            (23 * MS, Heartbeat),
            (27 * MS, Heartbeat),
        ]
    );
    let info = state.info(&source, 0);
    assert_eq!(info.num_ack_pending, 0);
    assert_eq!(info.ack_floor.stream_seq, 3);
}

#[test]
fn progress_and_nak_delays_move_redelivery_on_the_virtual_clock() {
    let source = VecSource::with(&["a"]);
    let settings = ConsumerSettings {
        ack_wait_ns: 10 * MS,
        ..ConsumerSettings::new(AckPolicy::Explicit)
    };
    let mut state = ConsumerState::new(settings, &source).unwrap();
    let first = state.next_delivery(&source, 0).unwrap();
    assert_eq!(state.next_deadline_ns(), Some(10 * MS));
    // +WPI at 8 ms: another full ack_wait from then.
    state.ack(1, first.consumer_seq, AckKind::Progress, 8 * MS);
    assert_eq!(state.next_deadline_ns(), Some(18 * MS));
    assert!(state.next_delivery(&source, 17 * MS).is_none());
    let second = state.next_delivery(&source, 18 * MS).unwrap();
    assert_eq!(second.delivered_count, 2);
    // -NAK with a 3 ms delay at 19 ms: due at 22 ms, not at the ack_wait.
    state.ack(
        1,
        second.consumer_seq,
        AckKind::Nak {
            delay_ns: Some(3 * MS),
        },
        19 * MS,
    );
    assert_eq!(state.next_deadline_ns(), Some(22 * MS));
    assert!(state.next_delivery(&source, 21 * MS).is_none());
    assert_eq!(
        state
            .next_delivery(&source, 22 * MS)
            .unwrap()
            .delivered_count,
        3
    );
}

/// The driver's pacing loop: a message waits until `paced_until`; then it is offered
/// again (the pacer remembers what it already charged or waited for).
fn paced_send_times(msgs: &[(u64, i64, u64)], replay: bool, rate_bps: u64) -> Vec<i64> {
    let last_seq = msgs.last().map_or(0, |m| m.0);
    let mut pacer = replay.then(|| ReplayPacer::new(last_seq));
    let mut limiter = RateLimiter::new(rate_bps, 1000, 0);
    let mut paid: Option<u64> = None;
    let mut now = 0;
    let mut sent = Vec::new();
    for &(seq, ts, size) in msgs {
        loop {
            let replay_wait = pacer
                .as_mut()
                .filter(|p| p.is_replaying())
                .map_or(0, |p| p.delay_ns(seq, ts));
            let wait = if replay_wait > 0 {
                replay_wait
            } else if paid.take() == Some(seq) {
                0
            } else {
                let wait = limiter.as_mut().map_or(0, |l| l.reserve(size, now));
                if wait > 0 {
                    paid = Some(seq);
                }
                wait
            };
            if wait == 0 {
                sent.push(now);
                break;
            }
            now += wait;
        }
    }
    sent
}

#[test]
fn replay_original_and_rate_limit_on_the_virtual_clock() {
    // Stored at 0, 5 ms, 5.5 ms (a gap of 1 ms or less is not waited for) and 20 ms.
    let msgs = [
        (1, 0, 100),
        (2, 5 * MS, 100),
        (3, 5 * MS + MS / 2, 100),
        (4, 20 * MS, 100),
    ];
    assert_eq!(
        paced_send_times(&msgs, true, 0),
        vec![0, 5 * MS, 5 * MS, 5 * MS + 14 * MS + MS / 2]
    );
    assert_eq!(paced_send_times(&msgs, false, 0), vec![0, 0, 0, 0]);
    // 8000 bit/s = 1000 bytes/s with a 1000-byte burst: 500-byte messages go out two
    // at once, then one every 500 ms.
    let big = [(1, 0, 500), (2, 0, 500), (3, 0, 500), (4, 0, 500)];
    assert_eq!(
        paced_send_times(&big, false, 8_000),
        vec![0, 0, 500 * MS, 1000 * MS]
    );
    // Both: the replay gap first, then what the limiter still asks.
    let both = [(1, 0, 500), (2, 0, 500), (3, 100 * MS, 500)];
    assert_eq!(paced_send_times(&both, true, 8_000), vec![0, 0, 500 * MS]);
}

#[test]
fn flow_control_stall_and_heartbeat_carry_the_request_on_the_virtual_clock() {
    let mut push = PushState::new(
        PushSettings {
            heartbeat_ns: 5 * MS,
            flow_control: true,
        },
        Bytes::from_static(b"$JS.FC.S.C."),
        3,
        0,
    )
    .with_flow_control_limit(1_600);
    push.set_bound(true);
    // Window 100 bytes: a request past 50, a stall past 100.
    let mut request = None;
    let mut now = 0;
    while push.can_deliver() {
        if let Some(PushAction::FlowControlRequest { reply }) = push.on_delivered(30, now) {
            request = Some(reply);
        }
        now += MS;
    }
    let request = request.expect("a flow-control request");
    assert_eq!(now, 4 * MS, "30-byte messages: the 4th stalls");
    // Stalled and idle: the heartbeat names the unanswered request.
    assert_eq!(push.next_deadline_ns(), Some(3 * MS + 5 * MS));
    assert_eq!(
        push.poll(8 * MS),
        Some(PushAction::IdleHeartbeat {
            stalled: Some(request.clone())
        })
    );
    assert!(push.on_flow_control_reply(&request));
    assert!(push.can_deliver());
    assert_eq!(
        push.poll(13 * MS),
        Some(PushAction::IdleHeartbeat { stalled: None })
    );
}
