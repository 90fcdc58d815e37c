//! JetStream consumers as pure state machines: no I/O, no async, no clock. Calls carry
//! `now_ns` from the driver's (virtual or real) clock; decisions come back as values
//! (deliveries, ack outcomes, advisories, status actions) for the glommio driver to send.
//!
//! A tour:
//! - [`config`]: the resolved consumer settings the machines act on.
//! - [`source`]: [`MessageSource`], the queries a consumer makes of its stream.
//! - `state`: [`ConsumerState`], what to deliver next, acks (`+ACK`, `-NAK`, `+WPI`,
//!   `+TERM`, `+NXT`), ack floors, redelivery after `ack_wait`/`backoff`, `max_deliver`,
//!   `max_ack_pending`, deliver policies, CONSUMER.INFO numbers.
//! - [`pull`]: [`WaitingQueue`], the waiting pull requests and their status messages.
//! - [`push`]: [`PushState`], push delivery gating, idle heartbeats, flow control.
//! - [`pace`]: `rate_limit_bps` and `replay_policy: original`.
//! - [`persist`]: a durable consumer's state on disk.
//! - [`status`]: the `NATS/1.0 <code> <description>` statuses as enums.
//! - `bounds`: every size limit of this module.

mod bounds;
pub mod config;
pub mod events;
pub mod pace;
pub mod persist;
pub mod pull;
pub mod push;
pub mod source;
mod state;
pub mod status;

#[cfg(test)]
mod tests;

pub use bounds::*;
pub use config::{
    AckPolicy, ConsumerSettings, DeliverPolicy, ReplayPolicy, Retention, SettingsError,
};
pub use events::{
    AckKind, AckOutcome, Acked, Advisory, ConsumerNumbers, Delivery, SequencePair,
    REASON_UNACKED_DELETED,
};
pub use pace::{RateLimiter, ReplayPacer};
pub use persist::{decode as decode_snapshot, ConsumerSnapshot, PendingSnapshot, SnapshotError};
pub use pull::{Assignment, PullAction, PullLimits, PullRequest, WaitingQueue};
pub use push::{PushAction, PushSettings, PushState};
pub use source::{MessageSource, StreamBounds};
pub use state::ConsumerState;
pub use status::{PendingCounts, Status};
