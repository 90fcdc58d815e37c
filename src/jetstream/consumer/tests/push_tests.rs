//! Push delivery gating, idle heartbeats and flow control.

use bytes::Bytes;

use super::super::{PushAction, PushSettings, PushState};

const PREFIX: &[u8] = b"$JS.FC.S.C.";

fn push(heartbeat_ns: i64, flow_control: bool) -> PushState {
    let settings = PushSettings {
        heartbeat_ns,
        flow_control,
    };
    PushState::new(settings, Bytes::from_static(PREFIX), 42, 0)
}

#[test]
fn delivers_only_while_bound() {
    let mut push = push(0, false);
    assert!(!push.can_deliver() && !push.is_bound());
    push.set_bound(true);
    assert!(push.can_deliver());
    assert_eq!(push.on_delivered(1 << 30, 0), None, "no flow control");
    assert!(push.can_deliver());
}

#[test]
fn idle_heartbeats_follow_the_last_activity() {
    let mut push = push(1_000, false);
    push.set_bound(true);
    assert_eq!(push.poll(999), None);
    assert_eq!(
        push.poll(1_000),
        Some(PushAction::IdleHeartbeat { stalled: None })
    );
    assert_eq!(push.next_deadline_ns(), Some(2_000));
    push.on_delivered(10, 1_500);
    assert_eq!(push.poll(2_000), None);
    assert_eq!(push.next_deadline_ns(), Some(2_500));
    push.set_bound(false);
    assert_eq!(push.poll(2_500), None, "nobody listens");
    assert_eq!(push.next_deadline_ns(), Some(3_500));
}

#[test]
fn flow_control_asks_past_half_a_window_and_stalls_past_a_window() {
    // A 1600-byte limit starts with a 100-byte window.
    let mut push = push(1_000, true).with_flow_control_limit(1_600);
    push.set_bound(true);
    assert_eq!(push.on_delivered(50, 0), None);
    let Some(PushAction::FlowControlRequest { reply }) = push.on_delivered(1, 0) else {
        panic!("expected a flow control request");
    };
    assert!(reply.starts_with(PREFIX) && reply.len() == PREFIX.len() + 4);
    assert!(reply[PREFIX.len()..].iter().all(u8::is_ascii_alphanumeric));
    assert_eq!(push.flow_control_outstanding(), Some(&reply));
    // 101 bytes outstanding: more than the window.
    assert_eq!(push.on_delivered(50, 0), None);
    assert!(push.is_stalled() && !push.can_deliver());
    assert_eq!(push.outstanding_bytes(), 101);
    assert_eq!(
        push.poll(1_000),
        Some(PushAction::IdleHeartbeat {
            stalled: Some(reply.clone())
        })
    );
    assert!(
        !push.on_flow_control_reply(b"$JS.FC.S.C.zzzz"),
        "not the latest request"
    );
    assert!(push.on_flow_control_reply(&reply));
    assert!(!push.on_flow_control_reply(&reply), "answered already");
    // The answer covers the 51 bytes asked about and doubles the window to 200.
    assert_eq!(push.outstanding_bytes(), 50);
    assert!(push.can_deliver());
    assert_eq!(push.on_delivered(50, 0), None);
    assert!(matches!(
        push.on_delivered(1, 0),
        Some(PushAction::FlowControlRequest { .. })
    ));
}

#[test]
fn the_flow_control_window_grows_to_the_limit() {
    let mut push = push(0, true).with_flow_control_limit(1_600);
    push.set_bound(true);
    let mut replies = Vec::new();
    for _ in 0..8 {
        let mut size = 0;
        loop {
            size += 10;
            if let Some(PushAction::FlowControlRequest { reply }) = push.on_delivered(10, 0) {
                replies.push(reply.clone());
                assert!(push.on_flow_control_reply(&reply));
                break;
            }
            assert!(size < 10_000);
        }
        // Each request went out past half of the (growing) window.
        assert!(size > 0);
    }
    // 100 -> 200 -> 400 -> 800 -> 1600, then capped: a request past 800 bytes.
    let mut sent = 0;
    while push.on_delivered(10, 0).is_none() {
        sent += 10;
    }
    assert_eq!(sent, 800);
    replies.dedup();
    assert_eq!(replies.len(), 8, "every request has its own reply subject");
}

#[test]
fn nats_servers_default_window_is_2_mib_of_32() {
    let mut push = push(0, true);
    push.set_bound(true);
    assert_eq!(push.on_delivered(1 << 20, 0), None);
    assert!(push.on_delivered(1, 0).is_some());
    assert!(push.can_deliver());
    assert_eq!(push.on_delivered(1 << 20, 0), None);
    assert!(push.is_stalled());
}
