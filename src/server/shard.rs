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
use shards::{MeshReceiver, Shard};

use super::client::{
    auto_unsubscribed, deliver, ClientCounters, ClientShared, LocalSub, Outgoing, StallList,
};
use super::mesh::{AccountId, Batch, CoreEvent, Delivery, Outbox};
use super::Shared;
use crate::limits::INTEREST_SETTLE_MAX_MS;
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

impl Eq for SubRef {}

/// By identity, like equality, so a large fan-out can be unsubscribed without scanning.
impl std::hash::Hash for SubRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::ptr::hash(Rc::as_ptr(&self.0), state)
    }
}

/// One account's subject space on this core.
pub struct AccountState {
    pub local: RefCell<SubjectIndex<SubRef>>,
    pub remote: RefCell<RemoteInterest>,
    pub counts: RefCell<InterestCounts>,
    /// Subscriptions added to and removed from `local` (for `/accountz`).
    pub inserts: Cell<u64>,
    pub removes: Cell<u64>,
}

impl AccountState {
    fn new() -> Self {
        AccountState {
            local: RefCell::new(SubjectIndex::new()),
            remote: RefCell::new(RemoteInterest::new()),
            counts: RefCell::new(InterestCounts::new()),
            inserts: Cell::new(0),
            removes: Cell::new(0),
        }
    }
}

pub struct ShardState {
    pub id: usize,
    pub count: usize,
    pub shared: Arc<Shared>,
    pub shard: Shard<Batch>,
    /// Indexed by account id; only ever grows (ids are append-only, see
    /// `crate::auth::live`). Read it through [`ShardState::account`].
    accounts: RefCell<Vec<Rc<AccountState>>>,
    /// This core's copy of the authentication configuration, and its version: replaced by
    /// [`ShardState::sync_auth`] when `Shared::auth` has a newer one. An `Rc` around the
    /// `Arc` so taking it on the publish path costs no atomic operation (the extra
    /// allocation is made once per version).
    #[allow(clippy::redundant_allocation)]
    auth: RefCell<Rc<Arc<crate::auth::Auth>>>,
    auth_version: Cell<u64>,
    /// Indexed by peer core; our own slot is unused.
    pub outboxes: Vec<Outbox>,
    /// Indexed by peer core: the ring from that peer (our own slot is None).
    receivers: Vec<Option<MeshReceiver<Batch>>>,
    /// Our latest interest sequence number (sent to every peer).
    interest_seq: Cell<u64>,
    /// Per peer: the highest of that peer's interest sequences we have applied.
    interest_applied: Vec<Cell<u64>>,
    /// The interest clock version we last caught up with.
    interest_version_seen: Cell<u64>,
    pub clients: RefCell<HashMap<u64, Rc<ClientShared>>>,
    /// Per peer: the stalled clients (over half their max_pending) that peer's forwarded
    /// messages reached, which this core's receive loop for the peer waits for.
    pub mesh_stalls: Vec<StallList>,
    /// Connection writer tasks still running (shutdown waits for them to flush).
    pub writers_open: Cell<usize>,
    /// Server-side services started on this core (JetStream's), kept alive as long as the
    /// core runs: their subscriptions hold only weak references back to them.
    pub services: RefCell<Vec<Rc<dyn std::any::Any>>>,
    /// Run once when the server shuts down, before connections close (services save what
    /// they keep in memory, e.g. JetStream consumers' state).
    pub shutdown_hooks: RefCell<Vec<Box<dyn Fn()>>>,
    /// Counts of connections that have closed.
    retired: ClientCounters,
    /// Connection details for monitoring (see [`super::registry`]).
    pub connections_seen: super::registry::CoreConnections,
    /// Replies to service requests this core sent into other accounts (see
    /// [`super::imports`]).
    pub service_replies: super::imports::ServiceReplies,
    /// The system account's client on this core (advisories, see [`super::system`]).
    pub system: std::cell::OnceCell<Rc<super::system::SystemClient>>,
    rng: RefCell<SmallRng>,
}

impl ShardState {
    pub fn new(mut shard: Shard<Batch>, shared: Arc<Shared>) -> Self {
        let auth_version = shared.auth.version();
        let auth = shared.auth.load();
        let account_count = auth.account_count();
        let count = shard.count();
        let mut receivers: Vec<Option<MeshReceiver<Batch>>> = (0..count).map(|_| None).collect();
        for receiver in shard.take_receivers() {
            let from = receiver.from();
            receivers[from] = Some(receiver);
        }
        ShardState {
            id: shard.id(),
            count,
            shared,
            shard,
            accounts: RefCell::new(
                (0..account_count)
                    .map(|_| Rc::new(AccountState::new()))
                    .collect(),
            ),
            auth: RefCell::new(Rc::new(auth)),
            auth_version: Cell::new(auth_version),
            outboxes: (0..count).map(|_| Outbox::default()).collect(),
            receivers,
            interest_seq: Cell::new(0),
            interest_applied: (0..count).map(|_| Cell::new(0)).collect(),
            interest_version_seen: Cell::new(0),
            clients: RefCell::new(HashMap::new()),
            mesh_stalls: (0..count).map(|_| StallList::default()).collect(),
            writers_open: Cell::new(0),
            services: RefCell::new(Vec::new()),
            shutdown_hooks: RefCell::new(Vec::new()),
            retired: ClientCounters::default(),
            connections_seen: super::registry::CoreConnections::default(),
            service_replies: super::imports::ServiceReplies::default(),
            system: std::cell::OnceCell::new(),
            rng: RefCell::new(SmallRng::from_entropy()),
        }
    }

    /// One account's subject space on this core. An id this core has not seen yet (a peer
    /// applied a newer configuration first) grows the table to the newest one.
    pub fn account(&self, account: AccountId) -> Rc<AccountState> {
        let known = self.accounts.borrow().get(account as usize).cloned();
        if let Some(state) = known {
            return state;
        }
        self.grow_accounts(self.shared.auth.load().account_count());
        self.accounts.borrow()[account as usize].clone()
    }

    /// How many accounts this core has state for.
    pub fn account_count(&self) -> usize {
        self.accounts.borrow().len()
    }

    fn grow_accounts(&self, count: usize) {
        let mut accounts = self.accounts.borrow_mut();
        while accounts.len() < count {
            accounts.push(Rc::new(AccountState::new()));
        }
    }

    /// The authentication configuration this core applies.
    #[allow(clippy::redundant_allocation)]
    pub fn auth(&self) -> Rc<Arc<crate::auth::Auth>> {
        self.auth.borrow().clone()
    }

    /// The version of [`ShardState::auth`].
    pub fn auth_version(&self) -> u64 {
        self.auth_version.get()
    }

    /// Applies a newer authentication configuration, if one was installed: grows the
    /// per-account state, starts reply routing for new service exports, and re-checks
    /// this core's connections (see `Shared::update_auth`). One atomic load when nothing
    /// changed, so it is called before each publish. Must not be called while a
    /// subscription index is borrowed (it may remove subscriptions).
    pub fn sync_auth(self: &Rc<Self>) {
        let version = self.shared.auth.version();
        if version == self.auth_version.get() {
            return;
        }
        self.auth_version.set(version);
        let auth = self.shared.auth.load();
        self.grow_accounts(auth.account_count());
        *self.auth.borrow_mut() = Rc::new(auth.clone());
        super::imports::start(self);
        super::client::recheck_connections(self, &auth);
    }

    pub fn peers(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.count).filter(move |&p| p != self.id)
    }

    pub fn receiver(&self, peer: usize) -> Option<&MeshReceiver<Batch>> {
        self.receivers[peer].as_ref()
    }

    pub fn random_below(&self, n: u64) -> u64 {
        debug_assert!(n > 0);
        self.rng.borrow_mut().gen_range(0..n)
    }

    /// Registers a subscription and tells peers if this core's count for its key changed.
    /// Returns the interest sequence that must be in every peer's ring before the change
    /// counts as processed (0: nothing to wait for); see [`ShardState::interest_pushed`].
    pub fn add_subscription(
        &self,
        account: AccountId,
        sub: &Rc<LocalSub>,
    ) -> Result<u64, crate::routing::IndexError> {
        let acct = self.account(account);
        let queue = sub.queue();
        acct.local
            .borrow_mut()
            .insert(sub.subject(), queue, SubRef(sub.clone()))?;
        acct.inserts.set(acct.inserts.get() + 1);
        // The server-wide figures (/subsz, /varz) are the global account's, like its index
        // size in `registry::on_tick`; other accounts have theirs in `AccountState`.
        if account == super::mesh::GLOBAL_ACCOUNT {
            super::registry::subscription_inserted(self);
        }
        let count = acct.counts.borrow_mut().add(sub.subject(), queue);
        Ok(self.announce_interest(account, sub.subject(), queue, count))
    }

    pub fn remove_subscription(&self, account: AccountId, sub: &Rc<LocalSub>) -> u64 {
        let acct = self.account(account);
        let queue = sub.queue();
        if !acct
            .local
            .borrow_mut()
            .remove_hashed(sub.subject(), queue, &SubRef(sub.clone()))
        {
            return 0;
        }
        acct.removes.set(acct.removes.get() + 1);
        if account == super::mesh::GLOBAL_ACCOUNT {
            super::registry::subscription_removed(self);
        }
        let count = acct.counts.borrow_mut().remove(sub.subject(), queue);
        self.announce_interest(account, sub.subject(), queue, count)
    }

    fn announce_interest(
        &self,
        account: AccountId,
        subject: &[u8],
        queue: Option<&[u8]>,
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
        // Copied per announcement (not per message), so subscriptions need not keep their
        // names as separately shareable `Bytes`.
        let subject = Bytes::copy_from_slice(subject);
        let queue = queue.map(Bytes::copy_from_slice);
        for peer in self.peers() {
            self.outboxes[peer].push(CoreEvent::Interest {
                account,
                subject: subject.clone(),
                queue: queue.clone(),
                count,
                seq,
            });
            self.push_now(peer);
        }
        seq
    }

    /// Puts the outbox into the ring now instead of at the flusher's next turn, unless the
    /// flusher owns the ring (then order requires waiting for it).
    fn push_now(&self, peer: usize) {
        let outbox = &self.outboxes[peer];
        if outbox.flusher_busy() {
            return;
        }
        let Some(batch) = outbox.next_batch() else {
            return;
        };
        let seq = batch.interest_seq;
        match self.shard.try_send(peer, batch) {
            Ok(()) => {
                super::registry::batch_sent(self, peer);
                if seq > 0 {
                    self.shared.interest_clock.record_push(self.id, peer, seq);
                }
                outbox.room.wake_all();
            }
            Err(batch) => {
                super::registry::ring_full(self);
                outbox.stall(batch)
            }
        }
    }

    /// Whether interest sequence `seq` is in every peer's ring (so peers will see it before
    /// routing anything else).
    pub fn interest_pushed(&self, seq: u64) -> bool {
        let clock = &self.shared.interest_clock;
        self.peers().all(|peer| clock.pushed(self.id, peer) >= seq)
    }

    /// Waits until every subscription change made so far on this core is in every peer's
    /// ring. Services that subscribe while the server starts (the JetStream API, streams'
    /// subjects) call it before releasing their startup hold: a peer's rings may not be
    /// connected yet when they subscribe, and a client accepted on another core in that
    /// window got no-responders for a request the API would have answered. Bounded, so a
    /// ring that never connects delays the start instead of stopping it.
    async fn interest_settled(&self) {
        let seq = self.interest_seq.get();
        let started = std::time::Instant::now();
        while !self.interest_pushed(seq) {
            if started.elapsed() >= std::time::Duration::from_millis(INTEREST_SETTLE_MAX_MS) {
                tracing::warn!(
                    "core {}: subscriptions not yet seen by every core after {INTEREST_SETTLE_MAX_MS} ms; accepting clients anyway",
                    self.id
                );
                return;
            }
            shards::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Gives back one of the startup holds that keep every core from accepting clients
    /// (`Shared::startup_holds`), once this core's subscriptions so far are in every peer's
    /// ring. Each service that subscribes while the server starts takes one hold and calls
    /// this when its subscriptions are made.
    pub async fn release_startup_hold(&self) {
        self.interest_settled().await;
        let before = self
            .shared
            .startup_holds
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        debug_assert!(before > 0, "a startup hold released twice");
    }

    /// Applies interest that peers have already put in our rings, before routing a publish.
    /// One atomic load when nothing changed.
    pub fn catch_up_interest(&self) {
        if self.count == 1 {
            return;
        }
        let clock = &self.shared.interest_clock;
        let version = clock.version(self.id);
        if version == self.interest_version_seen.get() {
            return;
        }
        self.interest_version_seen.set(version);
        for peer in self.peers() {
            let target = clock.pushed(peer, self.id);
            while self.interest_applied[peer].get() < target {
                let Some(batch) = self.receiver(peer).and_then(|r| r.try_recv()) else {
                    break;
                };
                super::registry::batch_received(self, peer);
                self.apply_batch(peer, batch);
            }
        }
    }

    /// Applies one ring item from `from`.
    pub fn apply_batch(&self, from: usize, batch: Batch) {
        for event in batch.events {
            self.apply_event(from, event);
        }
    }

    /// Applies one event from `from`'s ring.
    pub fn apply_event(&self, from: usize, event: CoreEvent) {
        match event {
            CoreEvent::Deliver(delivery) => {
                self.deliver_forwarded(from, delivery);
            }
            CoreEvent::Interest {
                account,
                subject,
                queue,
                count,
                seq,
            } => {
                let acct = self.account(account);
                // The subject was validated by the core that accepted the SUB.
                let _ = acct
                    .remote
                    .borrow_mut()
                    .set(from, &subject, queue.as_deref(), count);
                self.interest_applied[from].set(seq);
            }
        }
    }

    /// A message another core chose us for: all our plain matches, and one member of each
    /// queue group the sender picked this core for.
    fn deliver_forwarded(&self, from: usize, d: Delivery) {
        let producer = Some(&self.mesh_stalls[from]);
        let acct = self.account(d.account);
        let matches = acct.local.borrow_mut().matches(&d.subject);
        let msg = Outgoing::shared(
            d.shown_subject.as_ref().unwrap_or(&d.subject),
            d.reply.as_ref(),
            d.header_len,
            &d.body,
        );
        let mut finished = Vec::new();
        for sub in &matches.plain {
            deliver(&sub.0, &msg, &mut finished, producer);
        }
        for group in &matches.queues {
            if !d.queues.contains(&group.name[..]) {
                continue;
            }
            // Members may have left after the sender chose us; core NATS is at-most-once.
            // Counted, then found again by position: no vector per message.
            let live = |sub: &&SubRef| sub.0.is_live();
            let count = group.members.iter().filter(live).count() as u64;
            if count == 0 {
                continue;
            }
            let pick = self.random_below(count) as usize;
            if let Some(member) = group.members.iter().filter(live).nth(pick) {
                deliver(&member.0, &msg, &mut finished, producer);
            }
        }
        drop(matches);
        for sub in finished {
            auto_unsubscribed(self, &sub);
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
        drop(clients);
        super::registry::on_tick(self);
    }
}
