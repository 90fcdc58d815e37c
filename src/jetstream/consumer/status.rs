//! The status messages a consumer sends (`NATS/1.0 <code> <description>` header blocks
//! with an empty payload), as small enums. The driver turns them into header bytes with
//! the API layer's helpers.

use std::borrow::Cow;

/// A pull request's (or a push consumer's) status message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `100 Idle Heartbeat`, with `Nats-Last-Consumer` / `Nats-Last-Stream`
    /// ([`super::ConsumerState::heartbeat_positions`]) and, for a stalled push consumer,
    /// `Nats-Consumer-Stalled: <flow control reply>`.
    IdleHeartbeat,
    /// `100 FlowControl Request`, sent with the flow-control reply subject.
    FlowControlRequest,
    /// `400 Bad Request - heartbeat value too large`.
    BadRequestHeartbeatTooLarge,
    /// `404 No Messages`.
    NoMessages,
    /// `408 Request Timeout` (with pending headers).
    RequestTimeout,
    /// `408 Requests Pending`.
    RequestsPending,
    /// `409 Exceeded MaxWaiting`.
    ExceededMaxWaiting,
    /// `409 Exceeded MaxRequestBatch of <n>`.
    ExceededMaxRequestBatch(i64),
    /// `409 Exceeded MaxRequestExpires of <Go duration>`.
    ExceededMaxRequestExpires { max_expires_ns: i64 },
    /// `409 Exceeded MaxRequestMaxBytes of <n>`.
    ExceededMaxRequestMaxBytes(i64),
    /// `409 Message Size Exceeds MaxBytes` (with pending headers).
    MessageSizeExceedsMaxBytes,
    /// `409 Batch Completed` (with pending headers): batch filled, max_bytes left over.
    BatchCompleted,
    /// `409 Consumer Deleted`.
    ConsumerDeleted,
    /// `409 Leadership Change`.
    LeadershipChange,
    /// `409 Server Shutdown`.
    ServerShutdown,
    /// `409 Consumer is push based`.
    ConsumerIsPushBased,
}

impl Status {
    pub fn code(&self) -> u16 {
        match self {
            Status::IdleHeartbeat | Status::FlowControlRequest => 100,
            Status::BadRequestHeartbeatTooLarge => 400,
            Status::NoMessages => 404,
            Status::RequestTimeout | Status::RequestsPending => 408,
            Status::ExceededMaxWaiting
            | Status::ExceededMaxRequestBatch(_)
            | Status::ExceededMaxRequestExpires { .. }
            | Status::ExceededMaxRequestMaxBytes(_)
            | Status::MessageSizeExceedsMaxBytes
            | Status::BatchCompleted
            | Status::ConsumerDeleted
            | Status::LeadershipChange
            | Status::ServerShutdown
            | Status::ConsumerIsPushBased => 409,
        }
    }

    /// The text after the code, exactly as nats-server writes it.
    pub fn description(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Status::IdleHeartbeat => "Idle Heartbeat",
            Status::FlowControlRequest => "FlowControl Request",
            Status::BadRequestHeartbeatTooLarge => "Bad Request - heartbeat value too large",
            Status::NoMessages => "No Messages",
            Status::RequestTimeout => "Request Timeout",
            Status::RequestsPending => "Requests Pending",
            Status::ExceededMaxWaiting => "Exceeded MaxWaiting",
            Status::ExceededMaxRequestBatch(max) => {
                return Cow::Owned(format!("Exceeded MaxRequestBatch of {max}"))
            }
            Status::ExceededMaxRequestExpires { max_expires_ns } => {
                return Cow::Owned(format!(
                    "Exceeded MaxRequestExpires of {}",
                    go_duration(*max_expires_ns)
                ))
            }
            Status::ExceededMaxRequestMaxBytes(max) => {
                return Cow::Owned(format!("Exceeded MaxRequestMaxBytes of {max}"))
            }
            Status::MessageSizeExceedsMaxBytes => "Message Size Exceeds MaxBytes",
            Status::BatchCompleted => "Batch Completed",
            Status::ConsumerDeleted => "Consumer Deleted",
            Status::LeadershipChange => "Leadership Change",
            Status::ServerShutdown => "Server Shutdown",
            Status::ConsumerIsPushBased => "Consumer is push based",
        })
    }
}

/// `Nats-Pending-Messages` / `Nats-Pending-Bytes`: what was left of a pull request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingCounts {
    pub messages: i64,
    pub bytes: i64,
}

/// Go's `time.Duration.String()` (`1.5s`, `2m0s`, `100ms`, `0s`), which nats-server prints
/// into `Exceeded MaxRequestExpires of ...`: the API layer's formatter.
pub use crate::jetstream::api::time::go_duration_string as go_duration;
