//! What goes into and comes out of [`super::ConsumerState`]: deliveries, acks, advisories
//! and the numbers of CONSUMER.INFO.

use bytes::Bytes;

/// A consumer sequence and the stream sequence that goes with it (nats-server's
/// `SequencePair`, JSON `{"consumer_seq":..,"stream_seq":..}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct SequencePair {
    pub consumer_seq: u64,
    pub stream_seq: u64,
}

/// One message to send. The JSAck subject is
/// `$JS.ACK.<stream>.<consumer>.<delivered_count>.<stream_seq>.<consumer_seq>.<ts>.<pending>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub stream_seq: u64,
    pub consumer_seq: u64,
    /// 1 for a first delivery.
    pub delivered_count: u64,
    /// Messages left to deliver for the first time after this one (`num_pending`).
    pub pending: u64,
    /// `ack_policy: none` on an interest or work-queue stream: the message counts as
    /// acknowledged the moment it is sent (nats-server's `deliverMsg` pushes it to the
    /// stream's ack queue), so the driver runs the interest check for it.
    pub acked_on_delivery: bool,
}

/// An ack payload, parsed by the API layer (`+ACK`, `-NAK`, `+WPI`, `+TERM`, `+NXT`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AckKind {
    /// Empty payload, `+ACK` or `+OK`.
    Ack,
    /// `-NAK`, optionally with `{"delay":ns}` or a Go duration (`None` when absent or
    /// unparsable, which nats-server treats as a plain NAK).
    Nak { delay_ns: Option<i64> },
    /// `+WPI`: restart the ack wait.
    Progress,
    /// `+TERM [reason]`.
    Term { reason: Option<Bytes> },
    /// `+NXT [request]`: an ack without ack-reply; the driver then hands the request to
    /// the pull queue with the ack message's reply subject.
    Next,
}

/// Advisories nats-server publishes under `$JS.EVENT.ADVISORY.CONSUMER.`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Advisory {
    /// `MAX_DELIVERIES.<stream>.<consumer>` (`JSConsumerDeliveryExceededAdvisory`).
    MaxDeliveries { stream_seq: u64, deliveries: u64 },
    /// `MSG_NAKED.<stream>.<consumer>` (`JSConsumerDeliveryNakAdvisory`).
    Naked {
        stream_seq: u64,
        consumer_seq: u64,
        deliveries: u64,
    },
    /// `MSG_TERMINATED.<stream>.<consumer>` (`JSConsumerDeliveryTerminatedAdvisory`).
    Terminated {
        stream_seq: u64,
        consumer_seq: u64,
        deliveries: u64,
        reason: Bytes,
    },
}

/// nats-server's reason when a message awaiting an ack leaves the stream
/// (`ackTermUnackedLimitsReason`).
pub const REASON_UNACKED_DELETED: &str = "Unacknowledged message was deleted";

/// Stream sequences this consumer no longer needs after an ack. On interest and
/// work-queue streams the driver removes each one no other consumer needs
/// ([`super::ConsumerState::needs_ack`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Acked {
    #[default]
    Nothing,
    One(u64),
    /// `ack_policy: all`: ascending.
    Many(Vec<u64>),
}

impl Acked {
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let (one, many): (Option<u64>, &[u64]) = match self {
            Acked::Nothing => (None, &[]),
            Acked::One(seq) => (Some(*seq), &[]),
            Acked::Many(seqs) => (None, seqs),
        };
        one.into_iter().chain(many.iter().copied())
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Acked::Nothing)
    }

    pub(super) fn push(&mut self, seq: u64) {
        *self = match std::mem::take(self) {
            Acked::Nothing => Acked::One(seq),
            Acked::One(first) if first == seq => Acked::One(first),
            Acked::One(first) => Acked::Many(vec![first, seq]),
            Acked::Many(mut seqs) => {
                if !seqs.contains(&seq) {
                    seqs.push(seq);
                }
                Acked::Many(seqs)
            }
        };
    }
}

/// What [`super::ConsumerState::ack`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckOutcome {
    /// The consumer's state changed (persist it).
    pub applied: bool,
    pub acked: Acked,
    pub ack_floor_moved: bool,
    pub advisory: Option<Advisory>,
    /// Answer the ack message's reply subject with an empty message (AckSync / double
    /// ack), as nats-server's `processAck` does.
    pub reply: bool,
}

/// The numbers of CONSUMER.INFO that the state owns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsumerNumbers {
    pub delivered: SequencePair,
    pub ack_floor: SequencePair,
    pub num_ack_pending: u64,
    pub num_redelivered: u64,
    pub num_waiting: u64,
    pub num_pending: u64,
    /// 0 when nothing was delivered yet (`delivered.last_active` omitted).
    pub last_delivered_ns: i64,
    /// 0 when nothing was acked yet (`ack_floor.last_active` omitted).
    pub last_ack_ns: i64,
}
