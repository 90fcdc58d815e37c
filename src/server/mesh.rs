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
//! Interest is linearizable, as in a single nats-server: once a core has processed a SUB,
//! any publish processed afterwards on any core sees it. A SUB's interest event is pushed
//! into the rings at once (not at the next batch flush), and then its sequence number is
//! published in [`InterestClock`]; a core about to route a publish first checks the clock
//! with one atomic load and, if a peer has published interest it has not applied yet,
//! drains that peer's ring before routing. async-nats's `flush()` makes no round trip to the
//! server, so clients rely on this ordering without any PING/PONG to anchor it.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use shards::sync::{Signal, WaitQueue};

use crate::limits::{OUTBOX_BYTES_MAX, OUTBOX_EVENTS_MAX};

/// Index of an account in the server's account table, the same on every core.
pub type AccountId = u32;

/// The account every client is in until accounts are configured (nats-server's `$G`).
pub const GLOBAL_ACCOUNT: AccountId = 0;
/// tern's private subject space: server-side services on different cores talk to each
/// other here (e.g. JetStream's meta core and a stream's owning core). No connection is
/// ever in this account, so no client can publish into it or listen to it.
pub const INTERNAL_ACCOUNT: AccountId = 1;
// The configured accounts follow these two; the table is built at start from the config
// (`auth::Auth`) and is the same on every core.

pub enum CoreEvent {
    /// A message published on the sending core that this core has interest in. The receiver
    /// delivers it to all its matching plain subscriptions and to one member of each queue
    /// group named in `queues` (the sender already chose this core for those groups).
    Deliver(Delivery),
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
    /// What subscriptions are matched against.
    pub subject: Bytes,
    /// What the MSG line shows, when it differs from `subject`: a JetStream delivery is
    /// routed by its deliver subject (or the puller's inbox) but carries the message's
    /// original subject.
    pub shown_subject: Option<Bytes>,
    pub reply: Option<Bytes>,
    pub header_len: Option<usize>,
    pub body: Bytes,
    pub queues: QueueNames,
}

/// The queue groups a forwarded message was chosen for on the receiving core: nearly
/// always none or one, kept inline so a forward allocates nothing for them.
#[derive(Default)]
pub enum QueueNames {
    #[default]
    None,
    One(Bytes),
    Many(Vec<Bytes>),
}

impl QueueNames {
    pub fn push(&mut self, name: Bytes) {
        *self = match std::mem::take(self) {
            QueueNames::None => QueueNames::One(name),
            QueueNames::One(first) => QueueNames::Many(vec![first, name]),
            QueueNames::Many(mut names) => {
                names.push(name);
                QueueNames::Many(names)
            }
        };
    }

    pub fn contains(&self, name: &[u8]) -> bool {
        match self {
            QueueNames::None => false,
            QueueNames::One(only) => only == name,
            QueueNames::Many(names) => names.iter().any(|n| n == name),
        }
    }
}

/// One ring item.
pub struct Batch {
    pub events: Vec<CoreEvent>,
    /// Highest interest sequence among `events` (0 if none).
    pub interest_seq: u64,
}

/// Interest sequence numbers each core has pushed into each peer's ring, readable by all
/// cores. Written only after the push, with Release; read with Acquire, so a reader that
/// sees a number finds the event in the ring (or already applied).
pub struct InterestClock {
    cores: usize,
    /// `[from * cores + to]`: highest interest seq `from` has pushed into the ring to `to`.
    pushed: Vec<AtomicU64>,
    /// `[to]`: bumped after any push of interest towards `to`; the cheap per-publish check.
    version: Vec<AtomicU64>,
}

impl InterestClock {
    pub fn new(cores: usize) -> Self {
        InterestClock {
            cores,
            pushed: (0..cores * cores).map(|_| AtomicU64::new(0)).collect(),
            version: (0..cores).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn record_push(&self, from: usize, to: usize, seq: u64) {
        self.pushed[from * self.cores + to].fetch_max(seq, Ordering::Release);
        self.version[to].fetch_add(1, Ordering::Release);
    }

    pub fn version(&self, to: usize) -> u64 {
        self.version[to].load(Ordering::Acquire)
    }

    pub fn pushed(&self, from: usize, to: usize) -> u64 {
        self.pushed[from * self.cores + to].load(Ordering::Acquire)
    }
}

/// Events waiting for one peer.
pub struct Outbox {
    events: RefCell<Vec<CoreEvent>>,
    payload_bytes: Cell<usize>,
    interest_seq: Cell<u64>,
    /// A batch that found the ring full, sent by the flusher before anything newer.
    stalled: RefCell<Option<Batch>>,
    /// The flusher is waiting for room in the ring.
    sending: Cell<bool>,
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
            interest_seq: Cell::new(0),
            stalled: RefCell::new(None),
            sending: Cell::new(false),
            flush: Signal::new(),
            room: WaitQueue::new(),
        }
    }
}

impl Outbox {
    pub fn push(&self, event: CoreEvent) {
        match &event {
            CoreEvent::Deliver(d) => self
                .payload_bytes
                .set(self.payload_bytes.get() + d.body.len()),
            CoreEvent::Interest { seq, .. } => self.interest_seq.set(*seq),
        }
        let mut events = self.events.borrow_mut();
        if events.is_empty() {
            self.flush.set();
        }
        events.push(event);
    }

    /// Events waiting to go into the ring (for monitoring).
    pub fn queued_events(&self) -> usize {
        let stalled = self.stalled.borrow().as_ref().map_or(0, |b| b.events.len());
        self.events.borrow().len() + stalled
    }

    /// Over its bound: publishers that feed it must wait for [`Outbox::room`].
    pub fn is_full(&self) -> bool {
        self.events.borrow().len() >= OUTBOX_EVENTS_MAX
            || self.payload_bytes.get() >= OUTBOX_BYTES_MAX
    }

    /// The next ring item: a stalled batch first, then everything queued.
    pub fn next_batch(&self) -> Option<Batch> {
        if let Some(batch) = self.stalled.borrow_mut().take() {
            return Some(batch);
        }
        let events = std::mem::take(&mut *self.events.borrow_mut());
        if events.is_empty() {
            return None;
        }
        self.payload_bytes.set(0);
        Some(Batch {
            events,
            interest_seq: self.interest_seq.replace(0),
        })
    }

    /// Whether the flusher owns the ring right now (then only it may push, to keep order).
    pub fn flusher_busy(&self) -> bool {
        self.sending.get() || self.stalled.borrow().is_some()
    }

    pub fn set_sending(&self, sending: bool) {
        self.sending.set(sending);
    }

    /// Keeps a batch the ring had no room for; the flusher sends it next.
    pub fn stall(&self, batch: Batch) {
        debug_assert!(self.stalled.borrow().is_none());
        *self.stalled.borrow_mut() = Some(batch);
        self.flush.set();
    }
}
