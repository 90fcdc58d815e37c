//! Status texts, Go durations, and pacing.

use super::super::status::go_duration;
use super::super::{RateLimiter, ReplayPacer, Status};

#[test]
fn statuses_have_nats_servers_codes_and_texts() {
    let cases: [(Status, u16, &str); 16] = [
        (Status::IdleHeartbeat, 100, "Idle Heartbeat"),
        (Status::FlowControlRequest, 100, "FlowControl Request"),
        (
            Status::BadRequestHeartbeatTooLarge,
            400,
            "Bad Request - heartbeat value too large",
        ),
        (Status::NoMessages, 404, "No Messages"),
        (Status::RequestTimeout, 408, "Request Timeout"),
        (Status::RequestsPending, 408, "Requests Pending"),
        (Status::ExceededMaxWaiting, 409, "Exceeded MaxWaiting"),
        (
            Status::ExceededMaxRequestBatch(10),
            409,
            "Exceeded MaxRequestBatch of 10",
        ),
        (
            Status::ExceededMaxRequestExpires {
                max_expires_ns: 1_500_000_000,
            },
            409,
            "Exceeded MaxRequestExpires of 1.5s",
        ),
        (
            Status::ExceededMaxRequestMaxBytes(1024),
            409,
            "Exceeded MaxRequestMaxBytes of 1024",
        ),
        (
            Status::MessageSizeExceedsMaxBytes,
            409,
            "Message Size Exceeds MaxBytes",
        ),
        (Status::BatchCompleted, 409, "Batch Completed"),
        (Status::ConsumerDeleted, 409, "Consumer Deleted"),
        (Status::LeadershipChange, 409, "Leadership Change"),
        (Status::ServerShutdown, 409, "Server Shutdown"),
        (Status::ConsumerIsPushBased, 409, "Consumer is push based"),
    ];
    for (status, code, text) in cases {
        assert_eq!((status.code(), status.description().as_ref()), (code, text));
    }
}

#[test]
fn durations_print_as_go_does() {
    let cases: [(i64, &str); 12] = [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (100_000_000, "100ms"),
        (1_500_000, "1.5ms"),
        (1_000_000_000, "1s"),
        (1_500_000_000, "1.5s"),
        (60_000_000_000, "1m0s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_000_000_001, "1h2m3.000000001s"),
        (-2_000_000_000, "-2s"),
    ];
    for (ns, text) in cases {
        assert_eq!(go_duration(ns), text, "{ns}");
    }
    assert_eq!(go_duration(i64::MIN), "-2562047h47m16.854775808s");
}

#[test]
fn rate_limit_spaces_messages_by_size() {
    // 8000 bits/s = 1000 bytes/s, burst 100 bytes.
    let mut limiter = RateLimiter::new(8_000, 100, 0).unwrap();
    assert_eq!(limiter.reserve(100, 0), 0);
    assert_eq!(limiter.reserve(100, 0), 100_000_000);
    // The debt is paid 100 ms later; another 50 bytes wait 50 ms more.
    assert_eq!(limiter.reserve(50, 100_000_000), 50_000_000);
    // Larger than the burst: charged as the burst.
    assert_eq!(limiter.reserve(1_000_000, 10_000_000_000), 0);
    assert!(RateLimiter::new(7, 100, 0).is_none());
    assert!(RateLimiter::new(0, 100, 0).is_none());
}

#[test]
fn replay_original_waits_for_the_gaps_until_caught_up() {
    let mut pacer = ReplayPacer::new(3);
    assert_eq!(pacer.delay_ns(1, 0), 0);
    assert_eq!(pacer.delay_ns(2, 5_000_000), 5_000_000);
    assert_eq!(
        pacer.delay_ns(3, 5_500_000),
        0,
        "gaps of 1 ms or less are not waited for"
    );
    assert!(!pacer.is_replaying());
    assert_eq!(pacer.delay_ns(4, 60_000_000), 0);
}
