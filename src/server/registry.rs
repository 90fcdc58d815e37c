//! What monitoring (`/connz`, `/subsz`, `/metrics`, the dashboard) learns about each core's
//! connections, subscriptions and mesh traffic, without stopping the cores.
//!
//! Design: a core's connections and subscriptions live in `Rc`/`RefCell` state that only
//! that core may touch, and copying all of it somewhere shared on every change would put
//! locks and copies on paths that run per SUB or per message. So the monitoring thread
//! *asks*, and the core answers at its next control tick:
//!
//! ```text
//!  monitor thread                         core N (every CONTROL_POLL_MS = 50 ms)
//!  ──────────────                         ─────────────────────────────────────
//!  push (query, reply sender)  ──Mutex──▶ requests
//!  pending.store(true)         ──atomic─▶ on_tick: pending.swap(false)? take requests,
//!  recv_timeout(CORE_QUERY_TIMEOUT_MS) ◀─ build the rows, try_send on a channel
//!                                          with room for every core (never blocks)
//! ```
//!
//! A core pays nothing while nobody asks (one relaxed atomic load per tick), answers from its
//! live state (exact counters, per-subscription message counts), and does the work of a
//! query at a moment of its own choosing, between tasks. The price is latency: an answer
//! takes up to one tick. Each core sorts its rows by the requested key and returns only the
//! first `offset + limit`, because the global first `offset + limit` are among the union of
//! the per-core ones; subscription lists are attached to those rows only, within a budget.
//!
//! What must survive a connection is kept here in shared memory: the ring of recently
//! closed connections (nats-server keeps the last 10,000 for `/connz?state=closed`), filled
//! by the core at teardown. Plain counters a core bumps on rare events (subscription
//! inserts and removes, mesh batches, ring-full events) are atomics in the core's own slot,
//! cache-line aligned so that two cores never write the same line.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::Sender;

use super::client::{ClientShared, CloseReason, LocalSub};
use super::mesh::{AccountId, GLOBAL_ACCOUNT};
use super::shard::ShardState;
use crate::auth::Auth;
use crate::monitor::jetstream::JetStreamMonitor;
use crate::protocol::ConnectOptions;
use crate::routing::subject_matches_filter;

/// Closed connections remembered for `/connz?state=closed` (nats-server's
/// `DEFAULT_MAX_CLOSED_CLIENTS`); the oldest is forgotten first.
pub const CLOSED_CONNECTIONS_MAX: usize = 10_000;
/// Subscriptions remembered over all closed connections (nats-server keeps every one; a
/// bound keeps a churn of heavily subscribed clients from holding memory for ever). Past it,
/// the oldest closed connections are forgotten sooner.
pub const CLOSED_SUBSCRIPTIONS_KEPT_MAX: usize = 100_000;
/// Subscriptions listed in one `/connz` answer, over all its connections; the counts stay
/// exact, only the lists are cut.
pub const SUBSCRIPTIONS_LISTED_MAX: usize = 100_000;
/// Queries waiting for one core at once; more fail at once rather than queue.
pub const QUERIES_QUEUED_MAX: usize = 64;
/// How long the monitor waits for every core to answer a query.
pub const CORE_QUERY_TIMEOUT_MS: u64 = 2_000;

/// The account names monitoring shows for an account id.
pub fn account_name(account: AccountId) -> &'static str {
    if account == GLOBAL_ACCOUNT {
        "$G"
    } else {
        // tern's private account: no connection is ever in it.
        "$TERN"
    }
}

/// Shared by all cores and the monitoring thread (a field of [`super::Shared`]).
pub struct Registry {
    cores: Vec<CoreSlot>,
    closed: Mutex<ClosedRing>,
    /// Filled once by the JetStream module when it starts (see `monitor::jetstream`).
    pub jetstream: OnceLock<Arc<dyn JetStreamMonitor>>,
}

/// One core's mailbox and counters. Aligned so that neighbouring cores' counters never share
/// a cache line: each is written by its own core only.
#[repr(align(128))]
pub struct CoreSlot {
    pending: AtomicBool,
    requests: Mutex<Vec<PendingQuery>>,
    /// Entries in this core's client-visible subject index (nats-server's sublist count).
    pub index_entries: AtomicU64,
    /// Cached match results in that index (`num_cache`).
    pub cache_entries: AtomicU64,
    pub subscription_inserts: AtomicU64,
    pub subscription_removes: AtomicU64,
    /// Ring items (batches) this core put into the ring towards each peer.
    pub batches_sent: Vec<AtomicU64>,
    /// Ring items this core took from the ring from each peer.
    pub batches_received: Vec<AtomicU64>,
    /// Events waiting in this core's outbox towards each peer (published every tick).
    pub outbox_events: Vec<AtomicU64>,
    /// Times a batch found the ring to a peer full and had to wait for the flusher.
    pub ring_full_events: AtomicU64,
}

impl Registry {
    pub fn new(cores: usize) -> Registry {
        let counters = || (0..cores).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        Registry {
            cores: (0..cores)
                .map(|_| CoreSlot {
                    pending: AtomicBool::new(false),
                    requests: Mutex::new(Vec::new()),
                    index_entries: AtomicU64::new(0),
                    cache_entries: AtomicU64::new(0),
                    subscription_inserts: AtomicU64::new(0),
                    subscription_removes: AtomicU64::new(0),
                    batches_sent: counters(),
                    batches_received: counters(),
                    outbox_events: counters(),
                    ring_full_events: AtomicU64::new(0),
                })
                .collect(),
            closed: Mutex::new(ClosedRing::default()),
            jetstream: OnceLock::new(),
        }
    }

    pub fn core(&self, id: usize) -> &CoreSlot {
        &self.cores[id]
    }

    pub fn cores(&self) -> &[CoreSlot] {
        &self.cores
    }

    /// Batches in the ring from `from` to `to` right now (sent, not yet taken).
    pub fn ring_depth(&self, from: usize, to: usize) -> u64 {
        let sent = self.cores[from].batches_sent[to].load(Ordering::Relaxed);
        let received = self.cores[to].batches_received[from].load(Ordering::Relaxed);
        sent.saturating_sub(received)
    }

    /// Asks every core and waits for all answers (in core order), or fails naming the first
    /// core that did not answer in time.
    pub fn ask_all(&self, query: CoreQuery) -> Result<Vec<CoreReply>, String> {
        let (reply_to, replies) =
            crossbeam_channel::bounded::<(usize, CoreReply)>(self.cores.len());
        for (id, slot) in self.cores.iter().enumerate() {
            let mut requests = lock(&slot.requests);
            if requests.len() >= QUERIES_QUEUED_MAX {
                return Err(format!("core {id} has too many monitoring queries waiting"));
            }
            requests.push(PendingQuery {
                query: query.clone(),
                reply_to: reply_to.clone(),
            });
            drop(requests);
            slot.pending.store(true, Ordering::Release);
        }
        drop(reply_to);
        let deadline = Instant::now() + Duration::from_millis(CORE_QUERY_TIMEOUT_MS);
        let mut answers: Vec<Option<CoreReply>> = (0..self.cores.len()).map(|_| None).collect();
        for _ in 0..self.cores.len() {
            match replies.recv_deadline(deadline) {
                Ok((id, reply)) => answers[id] = Some(reply),
                Err(_) => break,
            }
        }
        if let Some(missing) = answers.iter().position(Option::is_none) {
            return Err(format!(
                "core {missing} did not answer within {CORE_QUERY_TIMEOUT_MS} ms"
            ));
        }
        Ok(answers.into_iter().flatten().collect())
    }

    /// The closed connections, oldest first (shared rows: a copy costs one count each).
    pub fn closed_connections(&self) -> Vec<Arc<ConnRow>> {
        lock(&self.closed).rows.iter().cloned().collect()
    }
}

/// Locks, carrying on after a panic elsewhere: every value behind these locks stays valid
/// between statements, so a poisoned lock holds nothing half-written.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
struct ClosedRing {
    rows: VecDeque<Arc<ConnRow>>,
    subscriptions_kept: usize,
}

impl ClosedRing {
    fn push(&mut self, row: Arc<ConnRow>) {
        self.subscriptions_kept += row.subs.len();
        self.rows.push_back(row);
        while self.rows.len() > CLOSED_CONNECTIONS_MAX
            || (self.subscriptions_kept > CLOSED_SUBSCRIPTIONS_KEPT_MAX && self.rows.len() > 1)
        {
            if let Some(old) = self.rows.pop_front() {
                self.subscriptions_kept -= old.subs.len();
            }
        }
    }
}

struct PendingQuery {
    query: CoreQuery,
    reply_to: Sender<(usize, CoreReply)>,
}

#[derive(Clone, Debug)]
pub enum CoreQuery {
    Connections(ConnectionsQuery),
    Subscriptions(SubscriptionsQuery),
    /// One account's figures on the core (`/accountz?acc=`).
    Account(AccountId),
    /// The accounts with client connections on the core (statsz).
    ActiveAccounts,
}

/// Which of a core's open connections to describe (`/connz`).
#[derive(Clone, Debug)]
pub struct ConnectionsQuery {
    pub cid: Option<u64>,
    pub user: Option<String>,
    /// Only connections in this account (by name).
    pub account: Option<String>,
    pub sort: SortKey,
    /// Rows to return at most: the request's offset + limit.
    pub keep: usize,
    pub subs: SubsWanted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubsWanted {
    None,
    Subjects,
    Detail,
}

/// Which of a core's subscriptions to list (`/subsz?subs=1`).
#[derive(Clone, Debug)]
pub struct SubscriptionsQuery {
    /// Only subscriptions a message on this literal subject would reach.
    pub test: Option<String>,
    /// Only subscriptions of this account.
    pub account: Option<AccountId>,
    /// Rows to return at most: the request's offset + limit.
    pub keep: usize,
}

pub enum CoreReply {
    Connections {
        /// Open connections on this core (before the cid and user filters).
        total: usize,
        rows: Vec<ConnRow>,
    },
    Subscriptions {
        rows: Vec<SubRow>,
    },
    Account(AccountFigures),
    ActiveAccounts(Vec<AccountId>),
}

/// One account's figures on one core.
#[derive(Default, Debug, Clone, Copy)]
pub struct AccountFigures {
    /// Client connections logged into the account.
    pub connections: usize,
    /// Entries in its subject index (clients' and the server's own subscriptions).
    pub subscriptions: u64,
    pub cache_entries: u64,
    pub inserts: u64,
    pub removes: u64,
}

/// One connection as `/connz` shows it.
#[derive(Clone, Debug)]
pub struct ConnRow {
    pub cid: u64,
    pub ip: String,
    pub port: u16,
    pub start: SystemTime,
    pub last_activity: SystemTime,
    pub stop: Option<SystemTime>,
    pub reason: Option<&'static str>,
    pub rtt: Duration,
    pub pending_bytes: usize,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub subscription_count: usize,
    pub name: String,
    pub lang: String,
    pub version: String,
    /// TLS version, cipher suite and handshake-first, for TLS connections.
    pub tls: Option<(String, String, bool)>,
    pub user: String,
    pub account: &'static str,
    /// Filled when asked for (open connections) or always (closed ones, as nats-server).
    pub subs: Vec<SubRow>,
}

/// One subscription as `/subsz` and `/connz?subs=detail` show it.
#[derive(Clone, Debug)]
pub struct SubRow {
    pub account: &'static str,
    pub subject: String,
    pub queue: Option<String>,
    pub sid: String,
    pub msgs: u64,
    pub max: u64,
    pub cid: u64,
}

/// nats-server's `/connz?sort=` keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Cid,
    Start,
    Subs,
    Pending,
    MsgsTo,
    MsgsFrom,
    BytesTo,
    BytesFrom,
    Last,
    Idle,
    Uptime,
    Stop,
    Reason,
}

impl SortKey {
    pub fn parse(text: &str) -> Option<SortKey> {
        Some(match text {
            "" | "cid" => SortKey::Cid,
            "start" => SortKey::Start,
            "subs" => SortKey::Subs,
            "pending" => SortKey::Pending,
            "msgs_to" => SortKey::MsgsTo,
            "msgs_from" => SortKey::MsgsFrom,
            "bytes_to" => SortKey::BytesTo,
            "bytes_from" => SortKey::BytesFrom,
            "last" => SortKey::Last,
            "idle" => SortKey::Idle,
            "uptime" => SortKey::Uptime,
            "stop" => SortKey::Stop,
            "reason" => SortKey::Reason,
            _ => return None,
        })
    }
}

/// Sorts rows as nats-server does: by cid (start is the same order), reason and uptime
/// ascending, everything else descending; ties by cid so pages are stable.
pub fn sort_rows<R: std::borrow::Borrow<ConnRow>>(rows: &mut [R], key: SortKey, now: SystemTime) {
    use std::cmp::Ordering as O;
    let since = |later: SystemTime, earlier: SystemTime| {
        later.duration_since(earlier).unwrap_or(Duration::ZERO)
    };
    let uptime = |r: &ConnRow| since(r.stop.unwrap_or(now), r.start);
    rows.sort_by(|a, b| {
        let (a, b) = (a.borrow(), b.borrow());
        let order: O = match key {
            SortKey::Cid | SortKey::Start => O::Equal,
            SortKey::Subs => b.subscription_count.cmp(&a.subscription_count),
            SortKey::Pending => b.pending_bytes.cmp(&a.pending_bytes),
            SortKey::MsgsTo => b.out_msgs.cmp(&a.out_msgs),
            SortKey::MsgsFrom => b.in_msgs.cmp(&a.in_msgs),
            SortKey::BytesTo => b.out_bytes.cmp(&a.out_bytes),
            SortKey::BytesFrom => b.in_bytes.cmp(&a.in_bytes),
            SortKey::Last => b.last_activity.cmp(&a.last_activity),
            // nats-server 2.10: the longest idle first.
            SortKey::Idle => since(now, b.last_activity).cmp(&since(now, a.last_activity)),
            SortKey::Uptime => uptime(a).cmp(&uptime(b)),
            SortKey::Stop => b.stop.cmp(&a.stop),
            SortKey::Reason => a.reason.cmp(&b.reason),
        };
        order.then(a.cid.cmp(&b.cid))
    });
}

/// Orders subscription lists: by connection, then subject, then sid.
pub fn sort_subs(rows: &mut [SubRow]) {
    rows.sort_by(|a, b| (a.cid, &a.subject, &a.sid).cmp(&(b.cid, &b.subject, &b.sid)));
}

// ---------------------------------------------------------------------------------------
// The core's side
// ---------------------------------------------------------------------------------------

/// What a core knows about its connections beyond what routing needs (a field of
/// [`ShardState`]; only that core touches it).
#[derive(Default)]
pub struct CoreConnections {
    conns: RefCell<HashMap<u64, ConnMeta>>,
}

struct ConnMeta {
    start: SystemTime,
    start_instant: Instant,
    ip: String,
    port: u16,
    lang: String,
    version: String,
    user: String,
    rtt: Cell<Duration>,
    ping_sent: Cell<Option<Instant>>,
}

/// A connection was accepted and admitted.
pub fn connection_opened(state: &ShardState, cid: u64, peer: Option<SocketAddr>) {
    let meta = ConnMeta {
        start: SystemTime::now(),
        start_instant: Instant::now(),
        ip: peer.map(|p| p.ip().to_string()).unwrap_or_default(),
        port: peer.map(|p| p.port()).unwrap_or(0),
        lang: String::new(),
        version: String::new(),
        user: String::new(),
        rtt: Cell::new(Duration::ZERO),
        ping_sent: Cell::new(None),
    };
    state.connections_seen.conns.borrow_mut().insert(cid, meta);
}

/// Client metadata shown by `/connz` is bounded like the client name.
const CLIENT_TEXT_CHARS_MAX: usize = 256;

/// Its CONNECT was accepted. The first RTT estimate is the time from accept to CONNECT, as
/// nats-server takes it.
pub fn connection_connected(state: &ShardState, cid: u64, connect: &ConnectOptions) {
    let mut conns = state.connections_seen.conns.borrow_mut();
    let Some(meta) = conns.get_mut(&cid) else {
        return;
    };
    let bounded = |text: &Option<String>| -> String {
        text.as_deref()
            .unwrap_or("")
            .chars()
            .take(CLIENT_TEXT_CHARS_MAX)
            .collect()
    };
    meta.lang = bounded(&connect.lang);
    meta.version = bounded(&connect.version);
    // A token is a secret: show that one was used, not what it was.
    meta.user = if connect.user.is_some() {
        bounded(&connect.user)
    } else if connect.nkey.is_some() {
        bounded(&connect.nkey)
    } else if connect.auth_token.is_some() {
        "[REDACTED]".to_string()
    } else {
        String::new()
    };
    meta.rtt
        .set(meta.start_instant.elapsed().max(Duration::from_nanos(1)));
}

/// What a system advisory tells about a connection.
pub fn event_client(state: &ShardState, cid: u64) -> Option<super::system::EventClient> {
    let conns = state.connections_seen.conns.borrow();
    let meta = conns.get(&cid)?;
    Some(super::system::EventClient {
        start: meta.start,
        host: meta.ip.clone(),
        user: meta.user.clone(),
        lang: meta.lang.clone(),
        version: meta.version.clone(),
        rtt: meta.rtt.get(),
    })
}

/// The server sent this connection a PING.
pub fn ping_sent(state: &ShardState, cid: u64) {
    if let Some(meta) = state.connections_seen.conns.borrow().get(&cid) {
        meta.ping_sent.set(Some(Instant::now()));
    }
}

/// The connection answered a PING: a new RTT sample.
pub fn pong_received(state: &ShardState, cid: u64) {
    if let Some(meta) = state.connections_seen.conns.borrow().get(&cid) {
        if let Some(sent) = meta.ping_sent.take() {
            meta.rtt.set(sent.elapsed().max(Duration::from_nanos(1)));
        }
    }
}

/// The connection ended: remember it in the closed ring with the subscriptions it had.
pub fn connection_closed(
    state: &ShardState,
    client: &ClientShared,
    subs: &[Rc<LocalSub>],
    reason: CloseReason,
) {
    let Some(meta) = state
        .connections_seen
        .conns
        .borrow_mut()
        .remove(&client.cid)
    else {
        return;
    };
    let now = SystemTime::now();
    let mut row = connection_row(&state.auth(), client, &meta, now, Instant::now());
    row.stop = Some(now);
    row.reason = Some(reason.as_str());
    row.subscription_count = subs.len();
    // nats-server lists a closed connection's subscriptions with their account and without
    // their auto-unsubscribe maximum.
    row.subs = subs
        .iter()
        .take(CLOSED_SUBSCRIPTIONS_KEPT_MAX)
        .map(|sub| {
            let mut detail = sub_row(&state.auth(), client, sub);
            detail.max = 0;
            detail
        })
        .collect();
    lock(&state.shared.registry.closed).push(Arc::new(row));
}

/// A subscription went into (or out of) this core's subject index.
pub fn subscription_inserted(state: &ShardState) {
    let slot = state.shared.registry.core(state.id);
    slot.subscription_inserts.fetch_add(1, Ordering::Relaxed);
}

pub fn subscription_removed(state: &ShardState) {
    let slot = state.shared.registry.core(state.id);
    slot.subscription_removes.fetch_add(1, Ordering::Relaxed);
}

/// A batch went into the ring towards `peer`.
pub fn batch_sent(state: &ShardState, peer: usize) {
    let slot = state.shared.registry.core(state.id);
    slot.batches_sent[peer].fetch_add(1, Ordering::Relaxed);
}

/// A batch came out of the ring from `peer`.
pub fn batch_received(state: &ShardState, peer: usize) {
    let slot = state.shared.registry.core(state.id);
    slot.batches_received[peer].fetch_add(1, Ordering::Relaxed);
}

/// A batch found the ring towards a peer full.
pub fn ring_full(state: &ShardState) {
    let slot = state.shared.registry.core(state.id);
    slot.ring_full_events.fetch_add(1, Ordering::Relaxed);
}

/// Called on every control tick (from `publish_stats`): publishes this core's index and
/// outbox figures and answers the monitoring queries that arrived since the last tick.
pub fn on_tick(state: &ShardState) {
    let slot = state.shared.registry.core(state.id);
    let global = state.account(GLOBAL_ACCOUNT);
    slot.index_entries
        .store(global.local.borrow().len() as u64, Ordering::Relaxed);
    slot.cache_entries
        .store(global.local.borrow().cache_len() as u64, Ordering::Relaxed);
    for peer in state.peers() {
        slot.outbox_events[peer].store(
            state.outboxes[peer].queued_events() as u64,
            Ordering::Relaxed,
        );
    }
    if !slot.pending.swap(false, Ordering::Acquire) {
        return;
    }
    let queries = std::mem::take(&mut *lock(&slot.requests));
    for pending in queries {
        let reply = match &pending.query {
            CoreQuery::Connections(query) => answer_connections(state, query),
            CoreQuery::Subscriptions(query) => answer_subscriptions(state, query),
            CoreQuery::Account(account) => answer_account(state, *account),
            CoreQuery::ActiveAccounts => {
                let mut accounts: Vec<AccountId> = state
                    .clients
                    .borrow()
                    .values()
                    .filter(|c| c.internal.is_none() && c.credentials.borrow().is_some())
                    .map(|c| c.account.get())
                    .collect();
                accounts.sort_unstable();
                accounts.dedup();
                CoreReply::ActiveAccounts(accounts)
            }
        };
        // The channel has room for every core's answer; a monitor that gave up is gone.
        let _ = pending.reply_to.try_send((state.id, reply));
    }
}

fn answer_connections(state: &ShardState, query: &ConnectionsQuery) -> CoreReply {
    let now = SystemTime::now();
    let now_instant = Instant::now();
    let clients = state.clients.borrow();
    let conns = state.connections_seen.conns.borrow();
    let mut rows = Vec::new();
    let auth = state.auth();
    let in_account = |client: &ClientShared| {
        query
            .account
            .as_ref()
            .is_none_or(|wanted| wanted == auth.account_name(client.account.get()))
    };
    // nats-server's `total` counts the account's connections when asked for one account.
    let total = clients.values().filter(|c| in_account(c)).count();
    for (cid, client) in clients.iter() {
        if query.cid.is_some_and(|wanted| wanted != *cid) {
            continue;
        }
        let Some(meta) = conns.get(cid) else { continue };
        if query.user.as_ref().is_some_and(|user| *user != meta.user) {
            continue;
        }
        if !in_account(client) {
            continue;
        }
        rows.push(connection_row(
            &state.auth(),
            client,
            meta,
            now,
            now_instant,
        ));
    }
    sort_rows(&mut rows, query.sort, now);
    rows.truncate(query.keep);
    if query.subs != SubsWanted::None {
        let mut budget = SUBSCRIPTIONS_LISTED_MAX / state.count.max(1);
        for row in &mut rows {
            let Some(client) = clients.get(&row.cid) else {
                continue;
            };
            let subs = client.subs.borrow();
            let take = subs.len().min(budget);
            budget -= take;
            row.subs = subs
                .iter()
                .take(take)
                .map(|sub| &sub.0)
                .map(|sub| {
                    let mut detail = sub_row(&state.auth(), client, sub);
                    // Under a connection, nats-server leaves the account out.
                    detail.account = "";
                    detail
                })
                .collect();
        }
    }
    CoreReply::Connections { total, rows }
}

fn answer_account(state: &ShardState, account: AccountId) -> CoreReply {
    let connections = state
        .clients
        .borrow()
        .values()
        .filter(|c| c.internal.is_none() && c.authenticated.get() && c.account.get() == account)
        .count();
    if account as usize >= state.account_count() {
        // Newer than this core's configuration: nothing here yet.
        return CoreReply::Account(AccountFigures {
            connections,
            ..AccountFigures::default()
        });
    }
    let acct = state.account(account);
    let local = acct.local.borrow();
    CoreReply::Account(AccountFigures {
        connections,
        subscriptions: local.len() as u64,
        cache_entries: local.cache_len() as u64,
        inserts: acct.inserts.get(),
        removes: acct.removes.get(),
    })
}

fn answer_subscriptions(state: &ShardState, query: &SubscriptionsQuery) -> CoreReply {
    let clients = state.clients.borrow();
    let mut rows = Vec::new();
    for client in clients.values() {
        if query.account.is_some_and(|a| a != client.account.get()) {
            continue;
        }
        for sub in client.subs.borrow().iter().map(|sub| &sub.0) {
            if let Some(test) = &query.test {
                if !subject_matches_filter(sub.subject(), test.as_bytes()) {
                    continue;
                }
            }
            rows.push(sub_row(&state.auth(), client, sub));
        }
    }
    sort_subs(&mut rows);
    rows.truncate(query.keep);
    CoreReply::Subscriptions { rows }
}

fn connection_row(
    auth: &Auth,
    client: &ClientShared,
    meta: &ConnMeta,
    now: SystemTime,
    now_instant: Instant,
) -> ConnRow {
    let idle = now_instant.saturating_duration_since(client.last_read.get());
    let c = &client.counters;
    ConnRow {
        cid: client.cid,
        ip: meta.ip.clone(),
        port: meta.port,
        start: meta.start,
        last_activity: now.checked_sub(idle).unwrap_or(meta.start).max(meta.start),
        stop: None,
        reason: None,
        rtt: meta.rtt.get(),
        pending_bytes: client.pending_bytes(),
        in_msgs: c.in_msgs.get(),
        out_msgs: c.out_msgs.get(),
        in_bytes: c.in_bytes.get(),
        out_bytes: c.out_bytes.get(),
        subscription_count: client.subs.borrow().len(),
        name: client.name.borrow().clone(),
        lang: meta.lang.clone(),
        version: meta.version.clone(),
        tls: client
            .tls
            .get()
            .map(|t| (t.version.clone(), t.cipher_suite.clone(), t.handshake_first)),
        user: meta.user.clone(),
        account: auth.account_name(client.account.get()),
        subs: Vec::new(),
    }
}

fn sub_row(auth: &Auth, client: &ClientShared, sub: &LocalSub) -> SubRow {
    SubRow {
        account: auth.account_name(client.account.get()),
        subject: String::from_utf8_lossy(sub.subject()).into_owned(),
        queue: sub.queue().map(|q| String::from_utf8_lossy(q).into_owned()),
        sid: String::from_utf8_lossy(sub.sid()).into_owned(),
        msgs: sub.delivered.get(),
        max: sub.max_msgs.get(),
        cid: client.cid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cid: u64, subs: usize) -> ConnRow {
        ConnRow {
            cid,
            ip: String::new(),
            port: 0,
            start: SystemTime::UNIX_EPOCH + Duration::from_secs(cid),
            last_activity: SystemTime::UNIX_EPOCH + Duration::from_secs(100 - cid % 100),
            stop: None,
            reason: None,
            rtt: Duration::ZERO,
            pending_bytes: 0,
            in_msgs: 0,
            out_msgs: 0,
            in_bytes: 0,
            out_bytes: 0,
            subscription_count: subs,
            name: String::new(),
            lang: String::new(),
            version: String::new(),
            tls: None,
            user: String::new(),
            account: "$G",
            subs: vec![
                SubRow {
                    account: "$G",
                    subject: "s".into(),
                    queue: None,
                    sid: "1".into(),
                    msgs: 0,
                    max: 0,
                    cid,
                };
                subs
            ],
        }
    }

    #[test]
    fn sorts_as_nats_server_with_cid_tie_breaks() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut rows = vec![row(3, 1), row(1, 5), row(2, 1)];
        sort_rows(&mut rows, SortKey::Subs, now);
        assert_eq!(rows.iter().map(|r| r.cid).collect::<Vec<_>>(), [1, 2, 3]);
        sort_rows(&mut rows, SortKey::Uptime, now);
        // Shortest uptime first: the latest start.
        assert_eq!(rows.iter().map(|r| r.cid).collect::<Vec<_>>(), [3, 2, 1]);
        sort_rows(&mut rows, SortKey::Last, now);
        assert_eq!(rows.iter().map(|r| r.cid).collect::<Vec<_>>(), [1, 2, 3]);
        sort_rows(&mut rows, SortKey::Cid, now);
        assert_eq!(rows.iter().map(|r| r.cid).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(SortKey::parse("bogus"), None);
        assert_eq!(SortKey::parse(""), Some(SortKey::Cid));
    }

    #[test]
    fn closed_ring_is_bounded_by_count_and_by_subscriptions() {
        let mut ring = ClosedRing::default();
        for cid in 0..(CLOSED_CONNECTIONS_MAX as u64 + 5) {
            ring.push(Arc::new(row(cid, 0)));
        }
        assert_eq!(ring.rows.len(), CLOSED_CONNECTIONS_MAX);
        assert_eq!(ring.rows.front().map(|r| r.cid), Some(5));

        let mut ring = ClosedRing::default();
        let per = CLOSED_SUBSCRIPTIONS_KEPT_MAX / 4;
        for cid in 0..10 {
            ring.push(Arc::new(row(cid, per)));
        }
        assert!(ring.subscriptions_kept <= CLOSED_SUBSCRIPTIONS_KEPT_MAX);
        assert_eq!(ring.rows.len(), 4);
        assert_eq!(ring.rows.back().map(|r| r.cid), Some(9));
    }
}
