//! What cores tell each other, and the per-peer outboxes that batch it.
//!
//! Other cores are treated like route peers in a cluster: a core forwards a publish to each
//! peer whose interest matches, once per peer, and keeps peers' interest current with
//! absolute subscription counts. One ring item is a [`Batch`]: everything one core had for
//! one peer since that peer's flusher last ran, so a wake-up of the peer (30-60 us on these
//! VMs) is paid per batch, not per message.
//!
//! Ownership: the publishing core builds events and moves them into the ring; the receiving
//! core owns them after `recv` and drops them. Payloads are `Bytes`, so the bytes themselves
//! are shared, not copied, and freed by whichever core drops the last reference.
//!
//! Interest barrier: every interest update carries a per-origin sequence number, and every
//! batch carries back the highest sequence the sender has applied from the receiver. A
//! connection's PONG is held until all peers have applied its subscriptions, so a client that
//! subscribes and flushes can rely on publishers on other cores seeing the subscription,
//! exactly as with a single nats-server.

use std::cell::{Cell, RefCell};

use bytes::Bytes;
use shards::sync::{Signal, WaitQueue};

use crate::limits::{OUTBOX_BYTES_MAX, OUTBOX_EVENTS_MAX};

/// Index of an account in the server's account table, the same on every core.
pub type AccountId = u32;

pub enum CoreEvent {
    /// A message published on the sending core that this core has interest in. The receiver
    /// delivers it to all its matching plain subscriptions and to one member of each queue
    /// group named in `queues` (the sender already chose this core for those groups).
    Deliver(Delivery),
    /// Answer to a [`Delivery`] sent as a probe: whether this core delivered it to anyone.
    ProbeResult { probe: u64, delivered: bool },
    /// The sending core now has `count` subscriptions on (subject, queue).
    Interest {
        account: AccountId,
        subject: Bytes,
        queue: Option<Bytes>,
        count: u32,
        seq: u64,
    },
}

pub struct Delivery {
    pub account: AccountId,
    pub subject: Bytes,
    pub reply: Option<Bytes>,
    pub header_len: Option<usize>,
    pub body: Bytes,
    pub queues: Vec<Bytes>,
    /// Set when the sender knew of no interest anywhere for a request whose publisher wants
    /// no-responders: the receiver delivers to its local subscribers (one member per local
    /// queue group) and answers with [`CoreEvent::ProbeResult`], so the 503 is sent only if
    /// no core had a subscriber when the probe reached it. Interest updates travel
    /// asynchronously, so without this a request racing a brand-new responder on another core
    /// would be refused although nats-server would have delivered it.
    pub probe: Option<u64>,
}

/// One ring item.
pub struct Batch {
    pub events: Vec<CoreEvent>,
    /// Highest interest sequence of the receiver's that the sender has applied.
    pub interest_seq_applied: u64,
}

/// Events waiting for one peer.
pub struct Outbox {
    events: RefCell<Vec<CoreEvent>>,
    payload_bytes: Cell<usize>,
    /// Highest interest seq from this peer that we applied and still owe it an ack for.
    ack_owed: Cell<u64>,
    ack_sent: Cell<u64>,
    /// Wakes this peer's flusher.
    pub flush: Signal,
    /// Wakes connections waiting for room.
    pub room: WaitQueue,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            events: RefCell::new(Vec::new()),
            payload_bytes: Cell::new(0),
            ack_owed: Cell::new(0),
            ack_sent: Cell::new(0),
            flush: Signal::new(),
            room: WaitQueue::new(),
        }
    }
}

impl Outbox {
    pub fn push(&self, event: CoreEvent) {
        if let CoreEvent::Deliver(d) = &event {
            self.payload_bytes
                .set(self.payload_bytes.get() + d.body.len());
        }
        let mut events = self.events.borrow_mut();
        if events.is_empty() {
            self.flush.set();
        }
        events.push(event);
    }

    /// Over its bound: publishers that feed it must wait for [`Outbox::room`].
    pub fn is_full(&self) -> bool {
        self.events.borrow().len() >= OUTBOX_EVENTS_MAX
            || self.payload_bytes.get() >= OUTBOX_BYTES_MAX
    }

    pub fn owe_ack(&self, seq: u64) {
        if seq > self.ack_owed.get() {
            self.ack_owed.set(seq);
            self.flush.set();
        }
    }

    /// Everything queued, as one ring item; None if there is nothing to say.
    pub fn take_batch(&self) -> Option<Batch> {
        let events = std::mem::take(&mut *self.events.borrow_mut());
        let ack = self.ack_owed.get();
        if events.is_empty() && ack == self.ack_sent.get() {
            return None;
        }
        self.payload_bytes.set(0);
        self.ack_sent.set(ack);
        Some(Batch {
            events,
            interest_seq_applied: ack,
        })
    }
}
