//! One core's share of the server: its connections' subscriptions, what it knows of the
//! other cores' interest, and the outboxes towards them. Everything here is touched by this
//! core only (`Rc`, `RefCell`), which is the point of thread-per-core: no locks.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shards::sync::WaitQueue;
use shards::Shard;

use super::client::{
    auto_unsubscribed, deliver, send_no_responders, ClientCounters, ClientShared, LocalSub,
};
use super::mesh::{AccountId, Batch, CoreEvent, Delivery, Outbox};
use super::Shared;
use crate::limits::NO_RESPONDERS_PROBES_PENDING_MAX;
use crate::routing::{InterestCounts, RemoteInterest, SubjectIndex};

/// A subscription as the subject index holds it: compared by identity, not by value, since
/// two subscriptions may have the same subject and sid on different connections.
#[derive(Clone)]
pub struct SubRef(pub Rc<LocalSub>);

impl PartialEq for SubRef {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// A request waiting for peers to say whether anyone took it.
struct Probe {
    client: Rc<ClientShared>,
    subject: Bytes,
    reply: Option<Bytes>,
    waiting: usize,
}

/// One account's subject space on this core.
pub struct AccountState {
    pub local: RefCell<SubjectIndex<SubRef>>,
    pub remote: RefCell<RemoteInterest>,
    pub counts: RefCell<InterestCounts>,
}

impl AccountState {
    fn new() -> Self {
        AccountState {
            local: RefCell::new(SubjectIndex::new()),
            remote: RefCell::new(RemoteInterest::new()),
            counts: RefCell::new(InterestCounts::new()),
        }
    }
}

pub struct ShardState {
    pub id: usize,
    pub count: usize,
    pub shared: Arc<Shared>,
    pub shard: Shard<Batch>,
    pub accounts: Vec<AccountState>,
    /// Indexed by peer core; our own slot is unused.
    pub outboxes: Vec<Outbox>,
    /// Our latest interest sequence number (sent to every peer).
    interest_seq: Cell<u64>,
    /// Per peer: the highest of our interest sequences that peer has applied.
    interest_acked: Vec<Cell<u64>>,
    /// Per peer: the highest of that peer's interest sequences we have applied.
    interest_applied: Vec<Cell<u64>>,
    pub interest_acks: WaitQueue,
    pub clients: RefCell<HashMap<u64, Rc<ClientShared>>>,
    next_probe: Cell<u64>,
    /// Requests probed on every peer, waiting for their answers.
    probes: RefCell<HashMap<u64, Probe>>,
    /// Connection writer tasks still running (shutdown waits for them to flush).
    pub writers_open: Cell<usize>,
    /// Counts of connections that have closed.
    retired: ClientCounters,
    rng: RefCell<SmallRng>,
}

impl ShardState {
    pub fn new(shard: Shard<Batch>, shared: Arc<Shared>, account_count: usize) -> Self {
        let count = shard.count();
        ShardState {
            id: shard.id(),
            count,
            shared,
            shard,
            accounts: (0..account_count).map(|_| AccountState::new()).collect(),
            outboxes: (0..count).map(|_| Outbox::default()).collect(),
            interest_seq: Cell::new(0),
            interest_acked: (0..count).map(|_| Cell::new(0)).collect(),
            interest_applied: (0..count).map(|_| Cell::new(0)).collect(),
            interest_acks: WaitQueue::new(),
            clients: RefCell::new(HashMap::new()),
            next_probe: Cell::new(0),
            probes: RefCell::new(HashMap::new()),
            writers_open: Cell::new(0),
            retired: ClientCounters::default(),
            rng: RefCell::new(SmallRng::from_entropy()),
        }
    }

    pub fn peers(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.count).filter(move |&p| p != self.id)
    }

    pub fn random_below(&self, n: u64) -> u64 {
        debug_assert!(n > 0);
        self.rng.borrow_mut().gen_range(0..n)
    }

    /// Registers a subscription; tells peers when this core's count for its key changed.
    /// Returns the interest sequence the caller must see acknowledged before a PONG.
    pub fn add_subscription(
        &self,
        account: AccountId,
        sub: &Rc<LocalSub>,
    ) -> Result<u64, crate::routing::IndexError> {
        let acct = &self.accounts[account as usize];
        let queue = sub.queue.as_deref();
        acct.local
            .borrow_mut()
            .insert(&sub.subject, queue, SubRef(sub.clone()))?;
        let count = acct.counts.borrow_mut().add(&sub.subject, queue);
        Ok(self.announce_interest(account, &sub.subject, sub.queue.as_ref(), count))
    }

    pub fn remove_subscription(&self, account: AccountId, sub: &Rc<LocalSub>) -> u64 {
        let acct = &self.accounts[account as usize];
        let queue = sub.queue.as_deref();
        if !acct
            .local
            .borrow_mut()
            .remove(&sub.subject, queue, &SubRef(sub.clone()))
        {
            return 0;
        }
        let count = acct.counts.borrow_mut().remove(&sub.subject, queue);
        self.announce_interest(account, &sub.subject, sub.queue.as_ref(), count)
    }

    fn announce_interest(
        &self,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
        count: u32,
    ) -> u64 {
        if self.count == 1 {
            return 0;
        }
        // Plain interest only matters to peers when it appears or disappears; queue counts
        // are weights for fair member selection, so every change is news.
        if queue.is_none() && count > 1 {
            return 0;
        }
        let seq = self.interest_seq.get() + 1;
        self.interest_seq.set(seq);
        for peer in self.peers() {
            self.outboxes[peer].push(CoreEvent::Interest {
                account,
                subject: subject.clone(),
                queue: queue.cloned(),
                count,
                seq,
            });
        }
        seq
    }

    /// True once every peer has applied our interest updates up to `seq`.
    pub fn interest_settled(&self, seq: u64) -> bool {
        self.peers().all(|p| self.interest_acked[p].get() >= seq)
    }

    /// Applies one ring item from `from`.
    pub fn apply_batch(&self, from: usize, batch: Batch) {
        if batch.interest_seq_applied > self.interest_acked[from].get() {
            self.interest_acked[from].set(batch.interest_seq_applied);
            self.interest_acks.wake_all();
        }
        let mut applied = None;
        for event in batch.events {
            match event {
                CoreEvent::Deliver(delivery) => {
                    let probe = delivery.probe;
                    let delivered = self.deliver_forwarded(delivery);
                    if let Some(probe) = probe {
                        self.outboxes[from].push(CoreEvent::ProbeResult { probe, delivered });
                    }
                }
                CoreEvent::ProbeResult { probe, delivered } => {
                    self.probe_answered(probe, delivered)
                }
                CoreEvent::Interest {
                    account,
                    subject,
                    queue,
                    count,
                    seq,
                } => {
                    let acct = &self.accounts[account as usize];
                    // The subject was validated by the core that accepted the SUB.
                    let _ = acct
                        .remote
                        .borrow_mut()
                        .set(from, &subject, queue.as_deref(), count);
                    applied = Some(seq);
                }
            }
        }
        if let Some(seq) = applied {
            self.interest_applied[from].set(seq);
            self.outboxes[from].owe_ack(seq);
        }
    }

    /// A message another core chose us for: all our plain matches, and one member of each
    /// queue group the sender picked this core for (of every local group, for a probe).
    /// Returns whether anyone here was given the message.
    fn deliver_forwarded(&self, d: Delivery) -> bool {
        let acct = &self.accounts[d.account as usize];
        let matches = acct.local.borrow_mut().matches(&d.subject);
        let mut finished = Vec::new();
        let mut delivered = false;
        for sub in &matches.plain {
            delivered |= deliver(
                &sub.0,
                &d.subject,
                d.reply.as_deref(),
                d.header_len,
                &d.body,
                &mut finished,
            );
        }
        for group in &matches.queues {
            if d.probe.is_none() && !d.queues.contains(&group.name) {
                continue;
            }
            // Members may have left after the sender chose us; core NATS is at-most-once.
            let live: Vec<&SubRef> = group.members.iter().filter(|s| s.0.is_live()).collect();
            if live.is_empty() {
                continue;
            }
            let pick = live[self.random_below(live.len() as u64) as usize];
            delivered |= deliver(
                &pick.0,
                &d.subject,
                d.reply.as_deref(),
                d.header_len,
                &d.body,
                &mut finished,
            );
        }
        drop(matches);
        for sub in finished {
            auto_unsubscribed(self, &sub);
        }
        delivered
    }

    /// Sends `request` to every peer as a probe; the requester gets its 503 only if every
    /// peer answers that it delivered to nobody.
    pub fn start_probe(&self, client: &Rc<ClientShared>, request: Delivery) {
        if self.probes.borrow().len() >= NO_RESPONDERS_PROBES_PENDING_MAX {
            if let Some(reply) = &request.reply {
                send_no_responders(self, client, &request.subject, reply);
            }
            return;
        }
        let id = self.next_probe.get() + 1;
        self.next_probe.set(id);
        let peers = self.count - 1;
        self.probes.borrow_mut().insert(
            id,
            Probe {
                client: client.clone(),
                subject: request.subject.clone(),
                reply: request.reply.clone(),
                waiting: peers,
            },
        );
        for peer in self.peers() {
            self.outboxes[peer].push(CoreEvent::Deliver(Delivery {
                account: request.account,
                subject: request.subject.clone(),
                reply: request.reply.clone(),
                header_len: request.header_len,
                body: request.body.clone(),
                queues: Vec::new(),
                probe: Some(id),
            }));
        }
    }

    fn probe_answered(&self, id: u64, delivered: bool) {
        let mut probes = self.probes.borrow_mut();
        let Some(probe) = probes.get_mut(&id) else {
            return;
        };
        if delivered {
            probes.remove(&id);
            return;
        }
        probe.waiting -= 1;
        if probe.waiting > 0 {
            return;
        }
        let probe = probes.remove(&id).expect("present: just looked up");
        drop(probes);
        if let Some(reply) = &probe.reply {
            send_no_responders(self, &probe.client, &probe.subject, reply);
        }
    }

    /// Keeps a closed connection's counts in the core's totals.
    pub fn retire_counters(&self, counters: &ClientCounters) {
        let r = &self.retired;
        r.in_msgs.set(r.in_msgs.get() + counters.in_msgs.get());
        r.in_bytes.set(r.in_bytes.get() + counters.in_bytes.get());
        r.out_msgs.set(r.out_msgs.get() + counters.out_msgs.get());
        r.out_bytes
            .set(r.out_bytes.get() + counters.out_bytes.get());
    }

    /// Copies this core's counters where monitoring (another thread) can read them. Summing
    /// per-connection cells here keeps atomics off the per-message path.
    pub fn publish_stats(&self) {
        let r = &self.retired;
        let (mut in_msgs, mut in_bytes, mut out_msgs, mut out_bytes) = (
            r.in_msgs.get(),
            r.in_bytes.get(),
            r.out_msgs.get(),
            r.out_bytes.get(),
        );
        let mut subscriptions = 0u64;
        let clients = self.clients.borrow();
        for client in clients.values() {
            let c = &client.counters;
            in_msgs += c.in_msgs.get();
            in_bytes += c.in_bytes.get();
            out_msgs += c.out_msgs.get();
            out_bytes += c.out_bytes.get();
            subscriptions += client.subs.borrow().len() as u64;
        }
        let stats = &self.shared.stats[self.id];
        stats.in_msgs.store(in_msgs, Ordering::Relaxed);
        stats.in_bytes.store(in_bytes, Ordering::Relaxed);
        stats.out_msgs.store(out_msgs, Ordering::Relaxed);
        stats.out_bytes.store(out_bytes, Ordering::Relaxed);
        stats.subscriptions.store(subscriptions, Ordering::Relaxed);
        stats
            .connections
            .store(clients.len() as u64, Ordering::Relaxed);
    }
}
