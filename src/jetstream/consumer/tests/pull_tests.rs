//! Every status decision of the waiting pull-request queue.

use bytes::Bytes;
use proptest::prelude::*;

use super::super::{PendingCounts, PullAction, PullLimits, PullRequest, Status, WaitingQueue};

fn yes(_: &[u8]) -> bool {
    true
}

fn reply(name: &str) -> Bytes {
    Bytes::copy_from_slice(name.as_bytes())
}

fn status(name: &str, status: Status, pending: Option<(i64, i64)>) -> PullAction {
    PullAction::SendStatus {
        reply: reply(name),
        status,
        pending: pending.map(|(messages, bytes)| PendingCounts { messages, bytes }),
    }
}

fn request(batch: i64) -> PullRequest {
    PullRequest {
        batch,
        ..PullRequest::one()
    }
}

fn add(
    queue: &mut WaitingQueue,
    name: &str,
    req: PullRequest,
    now: i64,
    available: u64,
) -> (bool, Vec<PullAction>) {
    let mut actions = Vec::new();
    let added = queue.add(reply(name), req, now, available, &yes, &mut actions);
    (added, actions)
}

fn assign(queue: &mut WaitingQueue, size: u64, now: i64) -> (Option<String>, Vec<PullAction>) {
    let mut actions = Vec::new();
    let to = queue.assign(size, now, &yes, &mut actions);
    (
        to.map(|a| String::from_utf8(a.reply.to_vec()).unwrap()),
        actions,
    )
}

#[test]
fn requests_are_served_round_robin_until_their_batch_is_full() {
    let mut queue = WaitingQueue::new(PullLimits::default());
    assert!(add(&mut queue, "A", request(2), 0, 0).0);
    assert!(add(&mut queue, "B", request(2), 0, 0).0);
    assert_eq!(queue.batch_pending(), 4);
    let order: Vec<Option<String>> = (0..5).map(|_| assign(&mut queue, 10, 0).0).collect();
    assert_eq!(
        order,
        [
            Some("A".into()),
            Some("B".into()),
            Some("A".into()),
            Some("B".into()),
            None
        ]
    );
    assert!(queue.is_empty());
}

#[test]
fn a_filled_batch_ends_silently_or_with_batch_completed_when_bytes_remain() {
    let mut queue = WaitingQueue::new(PullLimits::default());
    add(&mut queue, "A", request(1), 0, 0);
    let mut actions = Vec::new();
    let to = queue.assign(10, 0, &yes, &mut actions).unwrap();
    assert!(to.is_done() && to.trailer().is_none() && actions.is_empty());
    add(
        &mut queue,
        "B",
        PullRequest {
            max_bytes: 100,
            ..request(1)
        },
        0,
        0,
    );
    let to = queue.assign(10, 0, &yes, &mut actions).unwrap();
    assert_eq!(
        to.trailer(),
        Some(status("B", Status::BatchCompleted, Some((0, 90))))
    );
}

#[test]
fn a_message_larger_than_the_bytes_left_ends_the_request() {
    let mut queue = WaitingQueue::new(PullLimits::default());
    add(
        &mut queue,
        "A",
        PullRequest {
            max_bytes: 100,
            ..request(5)
        },
        0,
        0,
    );
    assert_eq!(assign(&mut queue, 60, 0).0.as_deref(), Some("A"));
    let (to, actions) = assign(&mut queue, 50, 0);
    assert_eq!(to, None);
    assert_eq!(
        actions,
        [status(
            "A",
            Status::MessageSizeExceedsMaxBytes,
            Some((4, 40))
        )]
    );
    assert!(queue.is_empty());
}

#[test]
fn using_up_max_bytes_exactly_ends_the_request_with_that_message() {
    let mut queue = WaitingQueue::new(PullLimits::default());
    add(
        &mut queue,
        "A",
        PullRequest {
            max_bytes: 100,
            ..request(5)
        },
        0,
        0,
    );
    let mut actions = Vec::new();
    let to = queue.assign(100, 0, &yes, &mut actions).unwrap();
    assert!(to.is_done() && to.trailer().is_none());
    assert!(queue.is_empty());
}

#[test]
fn expired_requests_time_out_with_what_was_left() {
    let mut queue = WaitingQueue::new(PullLimits::default());
    add(
        &mut queue,
        "A",
        PullRequest {
            expires_ns: 1_000,
            max_bytes: 50,
            ..request(3)
        },
        0,
        0,
    );
    add(
        &mut queue,
        "B",
        PullRequest {
            expires_ns: 2_000,
            ..request(3)
        },
        0,
        0,
    );
    assert_eq!(queue.next_deadline_ns(), Some(1_000));
    let (to, actions) = assign(&mut queue, 10, 1_000);
    assert_eq!(to.as_deref(), Some("B"));
    assert_eq!(
        actions,
        [status("A", Status::RequestTimeout, Some((3, 50)))]
    );
    let mut actions = Vec::new();
    assert_eq!(queue.process(1_999, false, &yes, &mut actions), Some(2_000));
    assert!(actions.is_empty());
    assert_eq!(queue.process(2_000, false, &yes, &mut actions), None);
    assert_eq!(actions, [status("B", Status::RequestTimeout, Some((2, 0)))]);
}

#[test]
fn no_wait_with_nothing_available_gets_404_at_once() {
    let mut queue = WaitingQueue::new(PullLimits::default());
    let (added, actions) = add(
        &mut queue,
        "A",
        PullRequest {
            no_wait: true,
            ..request(5)
        },
        0,
        0,
    );
    assert!(!added);
    assert_eq!(actions, [status("A", Status::NoMessages, None)]);
}

#[test]
fn no_wait_behind_requests_that_claim_everything_gets_408_requests_pending() {
    let mut queue = WaitingQueue::new(PullLimits::default());
    add(&mut queue, "A", request(5), 0, 3);
    let (added, actions) = add(
        &mut queue,
        "B",
        PullRequest {
            no_wait: true,
            ..request(1)
        },
        0,
        3,
    );
    assert!(!added);
    assert_eq!(actions, [status("B", Status::RequestsPending, None)]);
    let (added, _) = add(
        &mut queue,
        "C",
        PullRequest {
            no_wait: true,
            ..request(1)
        },
        0,
        6,
    );
    assert!(added);
}

#[test]
fn no_wait_ends_with_404_at_the_end_of_the_stream() {
    let mut queue = WaitingQueue::new(PullLimits::default());
    add(
        &mut queue,
        "A",
        PullRequest {
            no_wait: true,
            ..request(5)
        },
        0,
        2,
    );
    add(
        &mut queue,
        "B",
        PullRequest {
            no_wait: true,
            expires_ns: 1_000,
            ..request(5)
        },
        0,
        20,
    );
    assign(&mut queue, 10, 0);
    let mut actions = Vec::new();
    // Held back by max_ack_pending is not the end of the stream.
    queue.process(0, false, &yes, &mut actions);
    assert!(actions.is_empty());
    queue.process(0, true, &yes, &mut actions);
    // B has an expiry and got nothing yet: it waits for messages until it expires.
    assert_eq!(actions, [status("A", Status::NoMessages, None)]);
    actions.clear();
    queue.process(1_000, true, &yes, &mut actions);
    assert_eq!(actions, [status("B", Status::RequestTimeout, Some((5, 0)))]);
}

#[test]
fn max_waiting_refuses_with_409_unless_the_request_has_heartbeats() {
    let mut queue = WaitingQueue::new(PullLimits {
        max_waiting: 2,
        ..PullLimits::default()
    });
    add(&mut queue, "A", request(1), 0, 0);
    add(&mut queue, "B", request(1), 0, 0);
    let (added, actions) = add(&mut queue, "C", request(1), 0, 0);
    assert!(!added);
    assert_eq!(actions, [status("C", Status::ExceededMaxWaiting, None)]);
    let quiet = PullRequest {
        heartbeat_ns: 100,
        expires_ns: 1_000,
        ..request(1)
    };
    let (added, actions) = add(&mut queue, "D", quiet, 0, 0);
    assert!(!added && actions.is_empty());
    assert_eq!(queue.len(), 2);
}

#[test]
fn a_full_queue_makes_room_by_expiring() {
    let mut queue = WaitingQueue::new(PullLimits {
        max_waiting: 1,
        ..PullLimits::default()
    });
    add(
        &mut queue,
        "A",
        PullRequest {
            expires_ns: 10,
            ..request(1)
        },
        0,
        0,
    );
    let (added, actions) = add(&mut queue, "B", request(1), 10, 0);
    assert!(added);
    assert_eq!(actions, [status("A", Status::RequestTimeout, Some((1, 0)))]);
}

#[test]
fn consumer_limits_refuse_with_their_409_texts() {
    let limits = PullLimits {
        max_batch: 10,
        max_expires_ns: 1_000_000_000,
        max_bytes: 1024,
        ..PullLimits::default()
    };
    let mut queue = WaitingQueue::new(limits);
    let (_, actions) = add(&mut queue, "A", request(11), 0, 0);
    assert_eq!(
        actions,
        [status("A", Status::ExceededMaxRequestBatch(10), None)]
    );
    let (_, actions) = add(
        &mut queue,
        "A",
        PullRequest {
            expires_ns: 2_000_000_000,
            ..request(1)
        },
        0,
        0,
    );
    assert_eq!(
        actions,
        [status(
            "A",
            Status::ExceededMaxRequestExpires {
                max_expires_ns: 1_000_000_000
            },
            None
        )]
    );
    let (_, actions) = add(
        &mut queue,
        "A",
        PullRequest {
            max_bytes: 2048,
            ..request(1)
        },
        0,
        0,
    );
    assert_eq!(
        actions,
        [status("A", Status::ExceededMaxRequestMaxBytes(1024), None)]
    );
    assert!(queue.is_empty());
}

#[test]
fn a_heartbeat_over_half_the_expiry_is_a_bad_request() {
    let mut queue = WaitingQueue::new(PullLimits::default());
    let (added, actions) = add(
        &mut queue,
        "A",
        PullRequest {
            heartbeat_ns: 600,
            expires_ns: 1_000,
            ..request(1)
        },
        0,
        0,
    );
    assert!(!added);
    assert_eq!(
        actions,
        [status("A", Status::BadRequestHeartbeatTooLarge, None)]
    );
    let (_, actions) = add(
        &mut queue,
        "A",
        PullRequest {
            heartbeat_ns: 1,
            ..request(1)
        },
        0,
        0,
    );
    assert_eq!(
        actions,
        [status("A", Status::BadRequestHeartbeatTooLarge, None)]
    );
}

#[test]
fn idle_requests_get_heartbeats_and_deliveries_postpone_them() {
    let mut queue = WaitingQueue::new(PullLimits::default());
    add(
        &mut queue,
        "A",
        PullRequest {
            heartbeat_ns: 100,
            expires_ns: 1_000,
            ..request(3)
        },
        0,
        0,
    );
    let mut actions = Vec::new();
    assert_eq!(queue.process(99, false, &yes, &mut actions), Some(100));
    assert!(actions.is_empty());
    assert_eq!(queue.process(100, false, &yes, &mut actions), Some(200));
    assert_eq!(actions, [status("A", Status::IdleHeartbeat, None)]);
    assign(&mut queue, 10, 150);
    assert_eq!(queue.next_deadline_ns(), Some(250));
}

#[test]
fn requests_without_interest_are_dropped_silently() {
    let mut queue = WaitingQueue::new(PullLimits::default());
    add(&mut queue, "gone", request(1), 0, 0);
    add(&mut queue, "here", request(1), 0, 0);
    let interest = |reply: &[u8]| reply == b"here";
    let mut actions = Vec::new();
    let to = queue.assign(10, 0, &interest, &mut actions).unwrap();
    assert_eq!(to.reply, reply("here"));
    assert!(actions.is_empty());
    add(&mut queue, "gone", request(1), 0, 0);
    queue.process(0, false, &interest, &mut actions);
    assert!(queue.is_empty() && actions.is_empty());
}

#[test]
fn release_ends_every_request_and_small_batches_count_as_one() {
    let mut queue = WaitingQueue::new(PullLimits::default());
    add(&mut queue, "A", request(0), 0, 0);
    add(&mut queue, "B", request(-3), 0, 0);
    assert_eq!(queue.batch_pending(), 2);
    let mut actions = Vec::new();
    queue.release_all(Status::ConsumerDeleted, &mut actions);
    assert_eq!(
        actions,
        [
            status("A", Status::ConsumerDeleted, None),
            status("B", Status::ConsumerDeleted, None)
        ]
    );
    assert!(queue.is_empty());
}

#[derive(Clone, Debug)]
enum PullOp {
    Add {
        batch: i64,
        expires: i64,
        max_bytes: i64,
        no_wait: bool,
        heartbeat: i64,
        available: u64,
    },
    Assign(u64),
    Process(bool),
    Advance(i64),
}

fn pull_op() -> impl Strategy<Value = PullOp> {
    prop_oneof![
        (
            -2..6i64,
            0..50i64,
            0..100i64,
            any::<bool>(),
            0..20i64,
            0..10u64
        )
            .prop_map(
                |(batch, expires, max_bytes, no_wait, heartbeat, available)| PullOp::Add {
                    batch,
                    expires,
                    max_bytes,
                    no_wait,
                    heartbeat,
                    available
                }
            ),
        (0..80u64).prop_map(PullOp::Assign),
        any::<bool>().prop_map(PullOp::Process),
        (0..20i64).prop_map(PullOp::Advance),
    ]
}

proptest! {
    /// Every request ends exactly once (a filled batch or a terminal status), never
    /// exceeds its batch or its bytes, and the queue stays within max_waiting.
    #[test]
    fn requests_end_once_and_respect_their_limits(ops in prop::collection::vec(pull_op(), 1..80)) {
        let mut queue = WaitingQueue::new(PullLimits { max_waiting: 4, ..PullLimits::default() });
        let mut now = 0;
        let mut next_id = 0u32;
        let mut open: std::collections::BTreeMap<Bytes, (i64, i64)> = Default::default();
        let mut actions = Vec::new();
        for op in ops {
            actions.clear();
            match op {
                PullOp::Add { batch, expires, max_bytes, no_wait, heartbeat, available } => {
                    next_id += 1;
                    let name = Bytes::from(format!("r{next_id}"));
                    let req = PullRequest { batch, expires_ns: expires, max_bytes, no_wait, heartbeat_ns: heartbeat };
                    if queue.add(name.clone(), req, now, available, &yes, &mut actions) {
                        open.insert(name, (batch.max(1), max_bytes.max(0)));
                    }
                }
                PullOp::Assign(size) => {
                    if let Some(to) = queue.assign(size, now, &yes, &mut actions) {
                        let (batch, bytes) = open.get_mut(&to.reply).expect("assigned to an open request");
                        *batch -= 1;
                        prop_assert!(*batch >= 0);
                        if *bytes > 0 {
                            prop_assert!(size as i64 <= *bytes);
                            *bytes -= size as i64;
                        }
                        if to.is_done() {
                            open.remove(&to.reply);
                        }
                    }
                }
                PullOp::Process(end) => { queue.process(now, end, &yes, &mut actions); }
                PullOp::Advance(dt) => now += dt,
            }
            for action in &actions {
                let PullAction::SendStatus { reply, status, .. } = action;
                if *status != Status::IdleHeartbeat && open.remove(reply).is_none() {
                    // Refusals of requests never added are fine; ends of unknown ones not.
                    prop_assert!(matches!(status, Status::NoMessages | Status::RequestsPending
                        | Status::ExceededMaxWaiting | Status::BadRequestHeartbeatTooLarge),
                        "{:?} for a request that is not open", status);
                }
            }
            prop_assert!(queue.len() <= 4);
            prop_assert_eq!(queue.len(), open.len());
        }
    }
}
