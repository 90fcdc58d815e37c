//! The part of a consumer's configuration the state machines act on, already resolved by
//! the API layer (defaults applied, durations in nanoseconds). The JSON form lives in
//! `api`; this is what is left after `setConsumerConfigDefaults` and `checkConsumerCfg`.

use bytes::Bytes;
use thiserror::Error;

use super::bounds::{ACK_PENDING_HARD_MAX, ACK_WAIT_DEFAULT_NS, BACKOFF_STEPS_MAX, FILTERS_MAX};
use crate::routing::is_valid_subject;

/// `deliver_policy` with its start option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliverPolicy {
    All,
    Last,
    New,
    ByStartSequence(u64),
    /// Wall-clock nanoseconds since the Unix epoch.
    ByStartTime(i64),
    LastPerSubject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckPolicy {
    None,
    All,
    Explicit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayPolicy {
    Instant,
    Original,
}

/// The stream's retention, which decides whether acks can remove messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    Limits,
    Interest,
    WorkQueue,
}

/// What [`super::ConsumerState`] needs of a consumer's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerSettings {
    pub deliver_policy: DeliverPolicy,
    pub ack_policy: AckPolicy,
    /// Used when `backoff_ns` is empty; nats-server sets it to `backoff[0]` otherwise.
    pub ack_wait_ns: i64,
    /// `<= 0`: unlimited.
    pub max_deliver: i64,
    /// Redelivery delay after the n-th delivery is `backoff_ns[min(n - 1, len - 1)]`.
    pub backoff_ns: Vec<i64>,
    /// `<= 0`: unlimited (still bounded by [`ACK_PENDING_HARD_MAX`]).
    pub max_ack_pending: i64,
    /// `filter_subject` / `filter_subjects` (empty: the whole stream). They must not
    /// overlap (nats-server refuses that with 10138), so their counts add up.
    pub filters: Vec<Bytes>,
    pub replay_policy: ReplayPolicy,
    pub retention: Retention,
}

impl ConsumerSettings {
    /// nats-server's defaults for an explicit-ack consumer on the whole stream.
    pub fn new(ack_policy: AckPolicy) -> Self {
        ConsumerSettings {
            deliver_policy: DeliverPolicy::All,
            ack_policy,
            ack_wait_ns: ACK_WAIT_DEFAULT_NS,
            max_deliver: -1,
            backoff_ns: Vec::new(),
            max_ack_pending: if ack_policy == AckPolicy::None {
                -1
            } else {
                1000
            },
            filters: Vec::new(),
            replay_policy: ReplayPolicy::Instant,
            retention: Retention::Limits,
        }
    }

    /// Checks what the state machine relies on. The API layer checks the same things with
    /// nats-server's error codes first; this is the last line.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.filters.len() > FILTERS_MAX {
            return Err(SettingsError::TooManyFilters);
        }
        if let Some(filter) = self.filters.iter().find(|f| !is_valid_subject(f)) {
            return Err(SettingsError::BadFilter(filter.clone()));
        }
        if self.backoff_ns.len() > BACKOFF_STEPS_MAX {
            return Err(SettingsError::TooManyBackoffSteps);
        }
        if self.backoff_ns.iter().any(|&step| step <= 0) {
            return Err(SettingsError::BadBackoff);
        }
        if self.ack_policy != AckPolicy::None && self.backoff_ns.is_empty() && self.ack_wait_ns <= 0
        {
            return Err(SettingsError::BadAckWait);
        }
        if self.max_deliver > 0 && (self.max_deliver as u64) < self.backoff_ns.len() as u64 {
            return Err(SettingsError::MaxDeliverBelowBackoff);
        }
        Ok(())
    }

    /// How long a message delivered for the `delivered_count`-th time waits for its ack.
    pub fn ack_wait_for(&self, delivered_count: u64) -> i64 {
        match self.backoff_ns.len() {
            0 => {
                if self.ack_wait_ns > 0 {
                    self.ack_wait_ns
                } else {
                    ACK_WAIT_DEFAULT_NS
                }
            }
            steps => {
                let index = (delivered_count.saturating_sub(1)).min(steps as u64 - 1) as usize;
                self.backoff_ns[index]
            }
        }
    }

    /// `max_deliver` as a count; 0 when unlimited.
    pub fn max_deliver_count(&self) -> u64 {
        self.max_deliver.max(0) as u64
    }

    /// How many messages may await acks before new deliveries pause.
    pub fn ack_pending_limit(&self) -> usize {
        if self.max_ack_pending > 0 {
            (self.max_ack_pending as u64).min(ACK_PENDING_HARD_MAX as u64) as usize
        } else {
            ACK_PENDING_HARD_MAX
        }
    }

    /// Does a message on `subject` belong to this consumer?
    pub fn matches(&self, subject: &[u8]) -> bool {
        self.filters.is_empty()
            || self
                .filters
                .iter()
                .any(|filter| crate::routing::subject_matches_filter(filter, subject))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SettingsError {
    #[error("too many filter subjects")]
    TooManyFilters,
    #[error("invalid filter subject {0:?}")]
    BadFilter(Bytes),
    #[error("too many backoff steps")]
    TooManyBackoffSteps,
    #[error("backoff steps must be positive")]
    BadBackoff,
    #[error("ack_wait must be positive")]
    BadAckWait,
    #[error("max_deliver is below the number of backoff steps")]
    MaxDeliverBelowBackoff,
    #[error("the stream has more subjects than a last_per_subject consumer can start on")]
    TooManySubjects,
}
