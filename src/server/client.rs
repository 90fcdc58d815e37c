//! One client connection: the reader task that parses and executes its operations, the
//! writer task that flushes what was queued for it, and a timer task for auth and pings.
//!
//! Output is coalesced: every delivery appends the MSG line and payload to the
//! connection's pending buffer, and the writer sends everything pending in one syscall per
//! loop iteration (glommio's TcpStream has no vectored write, and one write per message would
//! cost far more than the copy). Pending output above `max_pending` makes the connection a
//! slow consumer: it alone is closed, nobody else waits for it.

use std::borrow::Borrow;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use shards::net::Connection;
use shards::sync::{Signal, WaitQueue};

use super::mesh::{AccountId, CoreEvent, Delivery, QueueNames};
use super::outbound::{self, OutQueue};
use super::shard::{ShardState, SubRef};
use super::transport::{ClientReader, ClientWriter};
use crate::auth::{Auth, ConnPermissions, Decision, Login};
use crate::limits::{
    FIRST_PING_DELAY_MS, JWT_EXPIRY_CHECK_S, READ_BUFFER_RETAIN_BYTES, READ_CHUNK_BYTES,
    READ_CHUNK_MIN_BYTES, SHORT_READS_BEFORE_SHRINK, STALLED_PER_PRODUCER_MAX,
    STALL_DRAIN_WINDOW_MS, STALL_TOTAL_PER_BATCH_US, STALL_WAIT_MAX_US, STALL_WAIT_MIN_US,
    SUBSCRIPTIONS_PER_CONNECTION_HARD_MAX,
};
use crate::protocol::{
    encode_err, no_responders_headers, ClientOp, ClientParser, ConnectOptions, ParserLimits,
    PubFrame, Publish,
};
use crate::routing::{
    is_valid_literal_subject, is_valid_queue_name, is_valid_subject, Matches, RemoteMatches,
};

/// Why a connection ended (shown in logs, later in /connz `reason`, nats-server's wording).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    ClientClosed,
    ProtocolViolation,
    AuthenticationViolation,
    AuthenticationTimeout,
    MaxPayloadExceeded,
    MaxConnectionsExceeded,
    SlowConsumerPendingBytes,
    SlowConsumerWriteDeadline,
    StaleConnection,
    AuthenticationExpired,
    MaxAccountConnectionsExceeded,
    Revoked,
    WriteError,
    ServerShutdown,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::AuthenticationViolation => "Authentication Failure",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::AuthenticationExpired => "Authentication Expired",
            CloseReason::MaxAccountConnectionsExceeded => "Maximum Account Connections Exceeded",
            CloseReason::Revoked => "Credentials Revoked",
            CloseReason::WriteError => "Write Error",
            CloseReason::ServerShutdown => "Server Shutdown",
        }
    }

    fn is_slow_consumer(self) -> bool {
        matches!(
            self,
            CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline
        )
    }
}

/// A subscription of one of this core's connections.
pub struct LocalSub {
    pub client: Rc<ClientShared>,
    /// Subject, queue (if any) and sid back to back, copied out of the read buffer: one
    /// small block per subscription, and no read buffer kept alive by a slice of it.
    names: Bytes,
    subject_end: u32,
    queue_end: u32,
    /// 0 = unlimited; otherwise the subscription ends after this many deliveries.
    pub max_msgs: Cell<u64>,
    pub delivered: Cell<u64>,
}

impl LocalSub {
    /// None if the names are too long to index with 32 bits (a control line never is).
    pub fn new(
        client: Rc<ClientShared>,
        subject: &[u8],
        queue: Option<&[u8]>,
        sid: &[u8],
    ) -> Option<LocalSub> {
        let queue = queue.unwrap_or_default();
        let subject_end = u32::try_from(subject.len()).ok()?;
        let queue_end = u32::try_from(subject.len() + queue.len()).ok()?;
        let mut names = Vec::with_capacity(subject.len() + queue.len() + sid.len());
        names.extend_from_slice(subject);
        names.extend_from_slice(queue);
        names.extend_from_slice(sid);
        Some(LocalSub {
            client,
            names: Bytes::from(names),
            subject_end,
            queue_end,
            max_msgs: Cell::new(0),
            delivered: Cell::new(0),
        })
    }

    pub fn subject(&self) -> &[u8] {
        &self.names[..self.subject_end as usize]
    }

    /// An empty queue name is invalid, so an empty range means no queue.
    pub fn queue(&self) -> Option<&[u8]> {
        let queue = &self.names[self.subject_end as usize..self.queue_end as usize];
        (!queue.is_empty()).then_some(queue)
    }

    pub fn sid(&self) -> &[u8] {
        &self.names[self.queue_end as usize..]
    }

    /// The sid as shared bytes, for an internal subscriber's queued message.
    fn sid_bytes(&self) -> Bytes {
        self.names.slice(self.queue_end as usize..)
    }

    fn exhausted(&self) -> bool {
        let max = self.max_msgs.get();
        max > 0 && self.delivered.get() >= max
    }

    /// Can take a message now (used when choosing a queue member).
    pub fn is_live(&self) -> bool {
        !self.client.is_closed() && !self.exhausted()
    }
}

/// A connection's subscription in its set by sid. The set finds subscriptions by their sid
/// (`Borrow<[u8]>`), so the sid is stored once, in the subscription, and a set slot is one
/// pointer.
pub struct BySid(pub Rc<LocalSub>);

impl Borrow<[u8]> for BySid {
    fn borrow(&self) -> &[u8] {
        self.0.sid()
    }
}

/// As `[u8]` hashes, which `Borrow` requires.
impl std::hash::Hash for BySid {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.sid().hash(state)
    }
}

impl PartialEq for BySid {
    fn eq(&self, other: &Self) -> bool {
        self.0.sid() == other.0.sid()
    }
}

impl Eq for BySid {}

/// Message counters of one connection (plain cells: only its core touches them).
#[derive(Default)]
pub struct ClientCounters {
    pub in_msgs: Cell<u64>,
    pub in_bytes: Cell<u64>,
    pub out_msgs: Cell<u64>,
    pub out_bytes: Cell<u64>,
}

/// A message on its way to subscriptions: borrowed parts of a publish, which a client's
/// subscription copies into its output.
pub struct Outgoing<'a> {
    pub subject: &'a [u8],
    pub reply: Option<&'a [u8]>,
    pub header_len: Option<usize>,
    pub body: &'a [u8],
    /// The same parts as shared `Bytes`, so an internal subscriber can keep them without
    /// copying. None for a publish routed straight from its read buffer (see
    /// [`Session::publish_frame`]), which happens only when no internal subscriber
    /// matched; one that subscribed meanwhile gets a copy.
    pub shared: Option<SharedParts<'a>>,
}

#[derive(Clone, Copy)]
pub struct SharedParts<'a> {
    pub subject: &'a Bytes,
    pub reply: Option<&'a Bytes>,
    pub body: &'a Bytes,
}

impl<'a> Outgoing<'a> {
    /// A message whose parts are already shared `Bytes`.
    pub fn shared(
        subject: &'a Bytes,
        reply: Option<&'a Bytes>,
        header_len: Option<usize>,
        body: &'a Bytes,
    ) -> Self {
        Outgoing {
            subject,
            reply: reply.map(|reply| &reply[..]),
            header_len,
            body,
            shared: Some(SharedParts {
                subject,
                reply,
                body,
            }),
        }
    }
}

/// A message delivered to a server-side (internal) subscription.
#[derive(Clone, Debug)]
pub struct InternalMessage {
    pub sid: Bytes,
    pub subject: Bytes,
    pub reply: Option<Bytes>,
    pub header_len: Option<usize>,
    pub body: Bytes,
}

/// Where a connection's deliveries go when it is the server itself, not a socket: a queue
/// that the internal client's own task drains, so handlers never run inside a delivery loop
/// (they may publish and subscribe freely).
#[derive(Default)]
pub struct InternalQueue {
    pub messages: RefCell<std::collections::VecDeque<InternalMessage>>,
    pub bytes: Cell<usize>,
}

/// The part of a connection that deliveries and timers reach.
pub struct ClientShared {
    pub cid: u64,
    /// Set once, when CONNECT authenticates (before that the connection can not subscribe).
    pub account: Cell<AccountId>,
    /// The user's permissions; `None` when the user has none (then nothing is checked).
    /// Replaced when a new authentication configuration applies (which also clears the
    /// decision caches).
    pub permissions: RefCell<Option<Rc<ConnPermissions>>>,
    /// What the connection authenticated with, kept to re-check it against a new
    /// authentication configuration (as nats-server does on reload).
    pub credentials: RefCell<Option<Rc<Credentials>>>,
    pub counters: ClientCounters,
    pending: RefCell<OutQueue>,
    /// Bytes the writer has taken from `pending` but not yet written: they still count
    /// against `max_pending` and for the stall, as nats-server counts them.
    in_flight_bytes: Cell<usize>,
    pending_bytes_max: usize,
    pending_signal: Signal,
    closing: Cell<Option<CloseReason>>,
    /// Whether to flush pending output before closing (after an -ERR) or drop it.
    flush_on_close: Cell<bool>,
    /// Raised by a close that drops pending output: the writer gives up the write it is
    /// waiting in. A reader that stopped reading would otherwise keep its socket, its
    /// buffers and its place until the write deadline, long after it was cut off.
    abandon_write: Signal,
    pub echo: Cell<bool>,
    pub headers: Cell<bool>,
    pub no_responders: Cell<bool>,
    pub protocol: Cell<i64>,
    pub last_read: Cell<Instant>,
    pub pings_outstanding: Cell<u32>,
    pub authenticated: Cell<bool>,
    pub subs: RefCell<HashSet<BySid>>,
    pub name: RefCell<String>,
    /// Set for the server's own clients (see `server::internal`).
    pub internal: Option<InternalQueue>,
    /// Set once a TLS handshake completed: version and suite for /connz, and on a
    /// `verify_and_map` listener the certificate's names, which authentication maps to a
    /// user (see `crate::tls::identity`).
    pub tls: std::cell::OnceCell<crate::tls::session::TlsConnInfo>,
    /// Pending output is over half of `pending_bytes_max`: producers should wait for it.
    stalled: Cell<bool>,
    /// When the socket last took a chunk of output, and how much it took in all:
    /// producers wait only for stalled clients that are draining or have shown that they
    /// read (see [`ClientShared::worth_waiting_for`]).
    drained_at: Cell<Instant>,
    drained_total_bytes: Cell<u64>,
    /// Woken by the writer when a stalled client has drained below the threshold.
    drained: WaitQueue,
    /// As a producer: the stalled clients this client's messages reached since it last
    /// waited for them (after each read batch). Only they slow it down, as in
    /// nats-server; a slow consumer does not slow the other publishers on its core.
    fed_stalled: StallList,
}

impl ClientShared {
    /// A client with nats-server's CONNECT defaults, before its CONNECT arrives.
    pub fn new(
        cid: u64,
        account: AccountId,
        pending_bytes_max: usize,
        authenticated: bool,
    ) -> ClientShared {
        ClientShared {
            cid,
            account: Cell::new(account),
            permissions: RefCell::new(None),
            credentials: RefCell::new(None),
            counters: ClientCounters::default(),
            pending: RefCell::new(OutQueue::default()),
            in_flight_bytes: Cell::new(0),
            pending_bytes_max,
            pending_signal: Signal::new(),
            closing: Cell::new(None),
            flush_on_close: Cell::new(true),
            abandon_write: Signal::new(),
            echo: Cell::new(true),
            headers: Cell::new(false),
            no_responders: Cell::new(false),
            protocol: Cell::new(0),
            last_read: Cell::new(Instant::now()),
            pings_outstanding: Cell::new(0),
            authenticated: Cell::new(authenticated),
            subs: RefCell::new(HashSet::new()),
            name: RefCell::new(String::new()),
            internal: None,
            tls: std::cell::OnceCell::new(),
            stalled: Cell::new(false),
            drained_at: Cell::new(Instant::now()),
            drained_total_bytes: Cell::new(0),
            drained: WaitQueue::new(),
            fed_stalled: StallList::default(),
        }
    }

    /// A server-side client: deliveries are queued for its handlers instead of written out.
    pub fn new_internal(cid: u64, account: AccountId, pending_bytes_max: usize) -> ClientShared {
        let mut client = ClientShared::new(cid, account, pending_bytes_max, true);
        client.internal = Some(InternalQueue::default());
        client.headers.set(true);
        client
    }

    /// Wakes whoever drains this client's output (its writer, or its internal handler task).
    pub async fn output_ready(&self) {
        self.pending_signal.wait().await
    }
    pub fn is_closed(&self) -> bool {
        self.closing.get().is_some()
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closing.get()
    }

    /// Appends raw protocol bytes (INFO, PONG, +OK, -ERR ...).
    pub fn send(&self, bytes: &[u8]) {
        if self.is_closed() {
            return;
        }
        let mut pending = self.pending.borrow_mut();
        pending.extend(bytes);
        drop(pending);
        self.pending_signal.set();
    }

    pub fn send_err(&self, text: &str) {
        let mut line = Vec::with_capacity(text.len() + 10);
        encode_err(&mut line, text);
        self.send(&line);
    }

    /// Ends the connection: the writer flushes (or drops) pending output and shuts the socket,
    /// which also ends the reader.
    pub fn close(&self, reason: CloseReason, flush: bool) {
        if self.closing.get().is_some() {
            return;
        }
        self.closing.set(Some(reason));
        self.flush_on_close.set(flush);
        if !flush {
            self.pending.borrow_mut().clear();
            self.abandon_write.set();
        }
        self.pending_signal.set();
    }

    /// Sends `-ERR '<text>'` and closes after it is written.
    pub fn close_with_err(&self, text: &str, reason: CloseReason) {
        self.send_err(text);
        self.close(reason, true);
    }

    /// Appends one message; true if the client is stalled (over half its `max_pending`)
    /// after it, so that whoever produced the message waits for it.
    fn write_msg(&self, sub: &LocalSub, msg: &Outgoing) -> bool {
        let body_len = msg.body.len();
        self.counters.out_msgs.set(self.counters.out_msgs.get() + 1);
        self.counters
            .out_bytes
            .set(self.counters.out_bytes.get() + body_len as u64);
        if let Some(queue) = &self.internal {
            // An internal subscriber that falls behind loses messages rather than memory;
            // like a slow consumer, it alone is affected.
            if queue.bytes.get() + body_len > self.pending_bytes_max {
                tracing::warn!(
                    "cid:{} - internal subscriber is behind: message dropped",
                    self.cid
                );
                return false;
            }
            queue.bytes.set(queue.bytes.get() + body_len);
            let (subject, reply, body) = match msg.shared {
                Some(shared) => (
                    shared.subject.clone(),
                    shared.reply.cloned(),
                    shared.body.clone(),
                ),
                None => (
                    Bytes::copy_from_slice(msg.subject),
                    msg.reply.map(Bytes::copy_from_slice),
                    Bytes::copy_from_slice(msg.body),
                ),
            };
            queue.messages.borrow_mut().push_back(InternalMessage {
                sid: sub.sid_bytes(),
                subject,
                reply,
                header_len: msg.header_len,
                body,
            });
            self.pending_signal.set();
            return false;
        }
        let mut pending = self.pending.borrow_mut();
        pending.push_msg(msg.subject, sub.sid(), msg.reply, msg.header_len, msg.body);
        let pending_bytes = pending.len() + self.in_flight_bytes.get();
        drop(pending);
        if pending_bytes > self.pending_bytes_max {
            self.close(CloseReason::SlowConsumerPendingBytes, false);
            return false;
        }
        self.pending_signal.set();
        let stalled = pending_bytes > self.pending_bytes_max / 2;
        if stalled {
            self.stalled.set(true);
        }
        stalled
    }

    /// The list this client's deliveries note stalled consumers in, if it waits for them:
    /// internal clients (JetStream, the system account) never wait.
    pub(crate) fn producer_stalls(&self) -> Option<&StallList> {
        self.internal.is_none().then_some(&self.fed_stalled)
    }

    /// Waits, after a read batch, for the stalled consumers this client fed.
    pub(crate) async fn wait_for_fed_consumers(&self) {
        self.fed_stalled.wait().await;
    }

    /// How long a producer waits for this client: nats-server's 2 ms at half of
    /// `max_pending`, rising to 5 ms at the limit.
    fn stall_wait(&self) -> Duration {
        let pending = self.pending_bytes() as u64;
        let half = (self.pending_bytes_max / 2).max(1) as u64;
        let over = pending.saturating_sub(half).min(half);
        let span_us = STALL_WAIT_MAX_US - STALL_WAIT_MIN_US;
        Duration::from_micros(STALL_WAIT_MIN_US + span_us * over / half)
    }

    /// Whether a producer should wait for this client: it is stalled, open, and either
    /// draining (its socket took output within [`STALL_DRAIN_WINDOW_MS`]) or a proven
    /// reader (it has taken at least `max_pending` bytes since it connected), which keeps
    /// nats-server's stall for a reader whose thread is starved of CPU for a while. A
    /// client that never read much and stopped is not waited for: it fills to
    /// `max_pending` and is cut off without slowing everyone who publishes to it
    /// (nats-server waits for it too, until it is cut).
    fn worth_waiting_for(&self, now: Instant) -> bool {
        let draining = now.saturating_duration_since(self.drained_at.get())
            <= Duration::from_millis(STALL_DRAIN_WINDOW_MS);
        let proven_reader = self.drained_total_bytes.get() >= self.pending_bytes_max as u64;
        self.stalled.get() && !self.is_closed() && (draining || proven_reader)
    }

    /// `Some(output)` of the writer's `io`, or `None` once a close drops pending output: a
    /// socket that is not read would keep the writer waiting until the write deadline.
    async fn unless_abandoned<T>(&self, io: impl std::future::Future<Output = T>) -> Option<T> {
        futures_lite::future::or(async { Some(io.await) }, async {
            self.abandon_write.wait().await;
            None
        })
        .await
    }

    /// Called by the writer after a write: releases producers once we are below half.
    /// Output queued or being written, not yet accepted by the socket.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.pending.borrow().len() + self.in_flight_bytes.get()
    }

    fn note_written(&self, bytes: usize) {
        if bytes > 0 {
            self.drained_at.set(Instant::now());
            self.drained_total_bytes
                .set(self.drained_total_bytes.get().saturating_add(bytes as u64));
        }
        self.in_flight_bytes
            .set(self.in_flight_bytes.get().saturating_sub(bytes));
        if self.stalled.get() && self.pending_bytes() <= self.pending_bytes_max / 2 {
            self.stalled.set(false);
            self.drained.wake_all();
        }
    }
}

/// What a connection authenticated with, to decide it again under a new configuration.
pub struct Credentials {
    pub connect: ConnectOptions,
    /// The nonce its INFO carried (an NKey signature is over it).
    pub nonce: Option<String>,
    /// The bcrypt hash its password was verified against: a new configuration with the
    /// same hash needs no new (slow) verification.
    pub verified_hash: Option<String>,
    /// The client's address (JWT users' `src` limits).
    pub peer: Option<std::net::IpAddr>,
}

impl Credentials {
    /// nats-server's `getAuthUser`, for log lines.
    fn describe(&self) -> String {
        let c = &self.connect;
        match (c.nkey.as_deref(), c.user.as_deref()) {
            (Some(nkey), _) if !nkey.is_empty() => format!("Nkey {}", go_quote(nkey.as_bytes())),
            (_, Some(user)) if !user.is_empty() => format!("User {}", go_quote(user.as_bytes())),
            _ => "User \"N/A\"".to_string(),
        }
    }
}

/// nats-server's `reloadAuthorization` for this core's connections, under the newly
/// applied `auth`: a connection whose credentials no longer log in, or now log into another
/// account, is closed with `Authorization Violation`; the others get the new permissions
/// (with empty decision caches) and lose the subscriptions those no longer allow.
/// Nothing else about a connection changes.
pub(super) fn recheck_connections(state: &Rc<ShardState>, auth: &Auth) {
    let clients: Vec<Rc<ClientShared>> = state.clients.borrow().values().cloned().collect();
    for client in clients {
        if client.internal.is_some() || client.is_closed() || !client.authenticated.get() {
            // Not yet authenticated: its CONNECT is decided under the new version.
            continue;
        }
        let credentials = client.credentials.borrow().clone();
        let credentials = match credentials {
            Some(credentials) => credentials,
            // Admitted without authentication before sending CONNECT: no credentials.
            None => Rc::new(Credentials {
                connect: ConnectOptions::default(),
                nonce: None,
                verified_hash: None,
                peer: None,
            }),
        };
        let identity = client.tls.get().and_then(|t| t.identity.as_ref());
        match auth.check_from(
            &credentials.connect,
            credentials.nonce.as_deref(),
            identity,
            credentials.peer,
        ) {
            Decision::Accept(login) => reapply_login(state, &client, &credentials, login),
            // A deleted account: nats-server expires it, cutting its connections off.
            Decision::Reject
                if auth.operator().is_some() && auth.is_tombstone(client.account.get()) =>
            {
                tracing::debug!("cid:{} - Account Authentication Expired", client.cid);
                client.close_with_err(
                    "Account Authentication Expired",
                    CloseReason::AuthenticationExpired,
                );
            }
            Decision::Reject
                if auth
                    .operator()
                    .is_some_and(|mode| mode.is_revoked(&credentials.connect)) =>
            {
                tracing::debug!("cid:{} - User Authentication Revoked", client.cid);
                client.close_with_err("User Authentication Revoked", CloseReason::Revoked);
            }
            // nats-server closes a removed user's connection without a word, and answers
            // credentials that no longer match with an authorization violation.
            Decision::Reject if !auth.knows_identity(&credentials.connect) => {
                tracing::debug!(
                    "cid:{} - {} removed by a reload",
                    client.cid,
                    credentials.describe()
                );
                client.close(CloseReason::ClientClosed, true);
            }
            Decision::Reject => revoke(&client, &credentials),
            Decision::Bcrypt {
                hash,
                password,
                login,
            } => {
                if credentials.verified_hash.as_deref() == Some(hash.as_str()) {
                    reapply_login(state, &client, &credentials, login);
                    continue;
                }
                let state = state.clone();
                shards::task::spawn(async move {
                    let hash_now = hash.clone();
                    if crate::auth::verify_bcrypt(hash, password).await {
                        *client.credentials.borrow_mut() = Some(Rc::new(Credentials {
                            connect: credentials.connect.clone(),
                            nonce: credentials.nonce.clone(),
                            verified_hash: Some(hash_now),
                            peer: credentials.peer,
                        }));
                        reapply_login(&state, &client, &credentials, login);
                    } else {
                        revoke(&client, &credentials);
                    }
                });
            }
        }
    }
}

/// nats-server's `authViolation` on reload.
fn revoke(client: &ClientShared, credentials: &Credentials) {
    if client.is_closed() {
        return;
    }
    tracing::error!(
        "cid:{} - authentication error - {}",
        client.cid,
        credentials.describe()
    );
    client.close_with_err(
        "Authorization Violation",
        CloseReason::AuthenticationViolation,
    );
}

fn reapply_login(
    state: &ShardState,
    client: &Rc<ClientShared>,
    credentials: &Credentials,
    login: Login,
) {
    if client.is_closed() {
        return;
    }
    if login.account != client.account.get() {
        // Its subscriptions live in the old account's subject space: moving them is not
        // worth it for a configuration change; the client reconnects into the new account.
        tracing::debug!(
            "cid:{} - user moved to another account by a reload",
            client.cid
        );
        client.close(CloseReason::ClientClosed, true);
        return;
    }
    let permissions = login.permissions.map(|p| Rc::new(ConnPermissions::new(p)));
    *client.permissions.borrow_mut() = permissions.clone();
    let Some(permissions) = permissions else {
        return;
    };
    let subs: Vec<Rc<LocalSub>> = client.subs.borrow().iter().map(|s| s.0.clone()).collect();
    for sub in subs {
        let allowed = permissions.can_subscribe(sub.subject(), None)
            || sub
                .queue()
                .is_some_and(|q| permissions.can_subscribe(sub.subject(), Some(q)));
        if allowed {
            continue;
        }
        client.subs.borrow_mut().remove(sub.sid());
        state.remove_subscription(client.account.get(), &sub);
        let (subject, sid) = (go_quote(sub.subject()), go_quote(sub.sid()));
        client.send_err(&format!(
            "Permissions Violation for Subscription to {subject} (sid {sid})"
        ));
        tracing::info!(
            "Removed sub {subject} (sid {sid}) for {} - not authorized",
            credentials.describe()
        );
    }
}

/// The stalled clients (over half their `max_pending`) one producer fed since it last
/// waited: a publishing connection, or a core's receive loop for one peer's ring. The
/// producer waits for them after its batch, so a fast producer is slowed to its consumers'
/// pace instead of making them slow consumers, and nobody else is.
///
/// Held weakly: a producer and a consumer may list each other, and a listed client that
/// closes must not be kept alive with its buffered output.
#[derive(Default)]
pub struct StallList {
    clients: RefCell<Vec<Weak<ClientShared>>>,
}

impl StallList {
    pub fn is_empty(&self) -> bool {
        self.clients.borrow().is_empty()
    }

    /// Lists `client` unless it already is. The list is short (one wait budget covers at
    /// most `STALL_TOTAL_PER_BATCH_US / STALL_WAIT_MIN_US` clients anyway); when it is
    /// full, a client worth waiting for takes the place of one that is not, so that
    /// readers that never read cannot crowd out the one that does.
    fn note(&self, client: &Rc<ClientShared>) {
        let mut clients = self.clients.borrow_mut();
        if clients
            .iter()
            .any(|c| std::ptr::eq(c.as_ptr(), Rc::as_ptr(client)))
        {
            return;
        }
        if clients.len() < STALLED_PER_PRODUCER_MAX {
            clients.push(Rc::downgrade(client));
            return;
        }
        // Full: rare enough (that many stalled consumers fed between two waits) to read
        // the clock here.
        let now = Instant::now();
        if !client.worth_waiting_for(now) {
            return;
        }
        let idle = clients.iter().position(|c| {
            c.upgrade()
                .is_none_or(|listed| !listed.worth_waiting_for(now))
        });
        if let Some(at) = idle {
            clients[at] = Rc::downgrade(client);
        }
    }

    /// Waits for stalled clients to drain, bounded per client and per call (nats-server's
    /// bounds for one read batch).
    pub async fn wait(&self) {
        self.wait_within(Duration::from_micros(STALL_TOTAL_PER_BATCH_US))
            .await;
    }

    /// Like [`StallList::wait`] within `total`; returns the time spent.
    pub async fn wait_within(&self, total: Duration) -> Duration {
        let started = Instant::now();
        if self.is_empty() {
            return Duration::ZERO;
        }
        // The producer lists them again if its next batch reaches them still stalled.
        let clients = std::mem::take(&mut *self.clients.borrow_mut());
        for client in clients.iter().filter_map(Weak::upgrade) {
            let left = total.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            if !client.worth_waiting_for(Instant::now()) {
                continue;
            }
            let wait = client.stall_wait().min(left);
            shards::time::timeout(
                wait,
                client
                    .drained
                    .wait_until(|| !client.stalled.get() || client.is_closed()),
            )
            .await;
        }
        started.elapsed()
    }
}

/// Delivers one message to one subscription; collects subscriptions that reached their
/// auto-unsubscribe count into `finished` (removed by the caller once it stops iterating)
/// and, if the subscriber is stalled, notes it in `producer`'s list to be waited for.
pub fn deliver(
    sub: &Rc<LocalSub>,
    msg: &Outgoing,
    finished: &mut Vec<Rc<LocalSub>>,
    producer: Option<&StallList>,
) -> bool {
    if !sub.is_live() {
        return false;
    }
    if let Some(permissions) = sub.client.permissions.borrow().as_ref() {
        if !permissions.on_delivery(msg.subject, msg.reply) {
            return false;
        }
    }
    sub.delivered.set(sub.delivered.get() + 1);
    if sub.client.write_msg(sub, msg) {
        if let Some(producer) = producer {
            producer.note(&sub.client);
        }
    }
    if sub.exhausted() {
        finished.push(sub.clone());
    }
    true
}

/// Removes a subscription that reached its `max_msgs`.
pub fn auto_unsubscribed(state: &ShardState, sub: &Rc<LocalSub>) {
    let removed = sub.client.subs.borrow_mut().remove(sub.sid());
    if removed {
        state.remove_subscription(sub.client.account.get(), sub);
    }
}

/// Serves one accepted connection until it ends.
pub async fn serve(state: Rc<ShardState>, conn: Connection) {
    let shared = state.shared.clone();
    let options = &shared.options;
    let cid = shared.next_client_id();
    let peer = conn.peer_addr().ok();
    let local = conn.local_addr().ok();
    let _ = conn.set_nodelay(true);
    let (reader, writer) = conn.split();

    state.sync_auth();
    let auth = state.auth();
    let client = Rc::new(ClientShared::new(
        cid,
        super::mesh::GLOBAL_ACCOUNT,
        options.max_pending_bytes,
        !auth.enforced(),
    ));

    let nonce = auth.needs_nonce().then(crate::auth::nkey::new_nonce);
    drop(auth);
    let mut info = Vec::with_capacity(512);
    shared.write_info(
        &mut info,
        cid,
        peer.map(|p| p.ip().to_string()),
        nonce.clone(),
    );
    // Counted before any TLS handshake, as nats-server counts them, so handshakes in
    // progress are bounded by max_connections too.
    let admitted = shared.admit_connection();
    let label = crate::tls::session::ConnLabel { cid, peer, local };
    let Some((reader, writer)) =
        super::transport::open(&shared, &client, label, reader, writer, &info, admitted).await
    else {
        shared.release_connection();
        return;
    };
    shards::task::spawn(write_loop(client.clone(), writer, shared.clone()));

    if !admitted {
        tracing::warn!("cid:{cid} - maximum connections exceeded");
        client.close_with_err(
            "maximum connections exceeded",
            CloseReason::MaxConnectionsExceeded,
        );
        return;
    }
    state.clients.borrow_mut().insert(cid, client.clone());
    super::registry::connection_opened(&state, cid, peer);
    if let Some(peer) = peer {
        tracing::debug!("{peer} - cid:{cid} - Client connection created");
    }
    shards::task::spawn(timer_loop(state.clone(), client.clone()));

    let mut session = Session {
        state: state.clone(),
        client: client.clone(),
        parser: ClientParser::new(ParserLimits {
            max_control_line_bytes: shared.limits.max_control_line_bytes(),
            max_payload_bytes: shared.limits.max_payload_bytes(),
        }),
        verbose: true,
        pedantic: true,
        connected: false,
        nonce,
        user: String::new(),
        peer: peer.map(|p| p.ip()),
        subs_max: None,
        _account_slot: None,
    };
    session.read_loop(reader).await;

    // Teardown: drop every subscription so peers stop forwarding to us.
    let subs: Vec<Rc<LocalSub>> = client.subs.borrow_mut().drain().map(|s| s.0).collect();
    for sub in &subs {
        state.remove_subscription(client.account.get(), sub);
    }
    client.close(CloseReason::ClientClosed, true);
    state.clients.borrow_mut().remove(&cid);
    state.retire_counters(&client.counters);
    shared.release_connection();
    let reason = client.close_reason().unwrap_or(CloseReason::ClientClosed);
    if client.credentials.borrow().is_some() {
        if let Some(info) = super::registry::event_client(&state, cid) {
            super::system::client_disconnected(&state, &client, &info, reason);
        }
    }
    super::registry::connection_closed(&state, &client, &subs, reason);
    if reason.is_slow_consumer() {
        shared.stats[state.id].note_slow_consumer();
        tracing::warn!("cid:{cid} - Slow Consumer Detected: {}", reason.as_str());
    }
    if let Some(peer) = peer {
        tracing::debug!(
            "{peer} - cid:{cid} - Client connection closed: {}",
            reason.as_str()
        );
    }
}

async fn write_loop(
    client: Rc<ClientShared>,
    mut writer: ClientWriter,
    shared: std::sync::Arc<super::Shared>,
) {
    loop {
        client.pending_signal.wait().await;
        // Reloadable: read once per wake-up, not per chunk.
        let write_deadline = Duration::from_millis(shared.limits.write_deadline_ms());
        loop {
            let chunk = client.pending.borrow_mut().pop_front();
            let Some(chunk) = chunk else {
                let flushed = client.unless_abandoned(writer.flush_transport()).await;
                if matches!(flushed, Some(Err(_))) {
                    client.close(CloseReason::WriteError, false);
                }
                break;
            };
            let written_bytes = chunk.len();
            client.in_flight_bytes.set(written_bytes);
            let write = shards::time::timeout(write_deadline, writer.write_all(&chunk));
            let written = client.unless_abandoned(write).await;
            outbound::recycle(chunk);
            match written {
                Some(Some(Ok(()))) => {
                    client.note_written(written_bytes);
                    shards::task::yield_if_slice_used().await;
                }
                Some(Some(Err(_))) => client.close(CloseReason::WriteError, false),
                Some(None) => client.close(CloseReason::SlowConsumerWriteDeadline, false),
                // Closed, dropping output: stop waiting for a socket that is not read.
                None => {}
            }
            if client.is_closed() && !client.flush_on_close.get() {
                client.in_flight_bytes.set(0);
                break;
            }
        }
        if client.is_closed() {
            writer.shutdown();
            return;
        }
    }
}

async fn timer_loop(state: Rc<ShardState>, client: Rc<ClientShared>) {
    let limits = &state.shared.limits;
    if !client.authenticated.get() {
        let deadline = Duration::from_millis(limits.auth_timeout_ms());
        shards::time::sleep(deadline).await;
        if client.is_closed() {
            return;
        }
        if !client.authenticated.get() {
            client.close_with_err("Authentication Timeout", CloseReason::AuthenticationTimeout);
            return;
        }
    } else {
        shards::time::sleep(Duration::from_millis(
            FIRST_PING_DELAY_MS.min(limits.ping_interval_ms()),
        ))
        .await;
    }
    loop {
        if client.is_closed() {
            return;
        }
        let interval = Duration::from_millis(limits.ping_interval_ms().max(1));
        // Like nats-server, a client that talked to us recently needs no PING.
        if client.last_read.get().elapsed() < interval {
            client.pings_outstanding.set(0);
        } else if client.pings_outstanding.get() + 1 > limits.ping_max() {
            client.close_with_err("Stale Connection", CloseReason::StaleConnection);
            return;
        } else {
            client
                .pings_outstanding
                .set(client.pings_outstanding.get() + 1);
            client.send(b"PING\r\n");
            super::registry::ping_sent(&state, client.cid);
        }
        shards::time::sleep(interval).await;
    }
}

/// Closes a JWT login's connection when its credentials expire (nats-server's
/// `authExpired` / `accountAuthExpired`). Sleeps at most [`JWT_EXPIRY_CHECK_S`] at a time
/// and holds the connection weakly, so a connection that ends first is not kept alive
/// (nor its timer) until a far-away expiry.
async fn expire_at(client: Weak<ClientShared>, expires_at_s: i64, text: &'static str) {
    loop {
        let left_s = expires_at_s - crate::auth::jwt::now_unix_s();
        match client.upgrade() {
            Some(client) if client.is_closed() => return,
            Some(client) if left_s <= 0 => {
                tracing::debug!("cid:{} - {text}", client.cid);
                client.close_with_err(text, CloseReason::AuthenticationExpired);
                return;
            }
            Some(_) => {}
            None => return,
        }
        let nap_s = (left_s as u64).min(JWT_EXPIRY_CHECK_S);
        shards::time::sleep(Duration::from_secs(nap_s)).await;
    }
}

/// The reader side's state.
struct Session {
    state: Rc<ShardState>,
    client: Rc<ClientShared>,
    parser: ClientParser,
    verbose: bool,
    pedantic: bool,
    connected: bool,
    /// What this connection's INFO carried for NKey signatures.
    nonce: Option<String>,
    /// Who authenticated (user name or NKey), for violation log lines.
    user: String,
    /// The client's address (JWT users' `src` limits).
    peer: Option<std::net::IpAddr>,
    /// Subscriptions allowed by the login's JWTs (`None`: the server's limit only).
    subs_max: Option<usize>,
    /// Counts this connection against its JWT account's `conn` limit while it lives.
    _account_slot: Option<crate::auth::operator::AccountConnSlot>,
}

enum Next {
    Continue,
    Stop,
}

impl Session {
    async fn read_loop(&mut self, mut reader: ClientReader) {
        let mut buf = BytesMut::with_capacity(READ_CHUNK_MIN_BYTES);
        let mut read_size = READ_CHUNK_MIN_BYTES;
        let mut short_reads = 0u32;
        loop {
            if self.client.is_closed() {
                return;
            }
            let filled = buf.len();
            buf.resize(filled + read_size, 0);
            let n = match reader.read(&mut buf[filled..]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buf.truncate(filled + n);
            if reader.wants_write() {
                self.client.pending_signal.set();
            }
            if n == read_size && read_size < READ_CHUNK_BYTES {
                read_size *= 2;
                short_reads = 0;
            } else if n < read_size / 2 && read_size > READ_CHUNK_MIN_BYTES {
                short_reads += 1;
                if short_reads >= SHORT_READS_BEFORE_SHRINK {
                    read_size /= 2;
                    short_reads = 0;
                }
            }
            self.client.last_read.set(Instant::now());
            loop {
                // A whole PUB goes straight to routing (the op-by-op path below would
                // authenticate and trace it first, hence the two conditions).
                if self.client.authenticated.get() && !tracing::enabled!(tracing::Level::TRACE) {
                    if let Some(frame) = self.parser.whole_pub(&buf) {
                        if let Next::Stop = self.publish_frame(frame, &mut buf) {
                            return;
                        }
                        continue;
                    }
                }
                match self.parser.next_op(&mut buf) {
                    Ok(Some(op)) => {
                        // PUB never waits: keep the hot op off the async path.
                        let next = match self.accept(op) {
                            Ok(ClientOp::Pub(publish)) => self.publish(publish),
                            Ok(op) => self.handle(op).await,
                            Err(stop) => stop,
                        };
                        if let Next::Stop = next {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        tracing::debug!("cid:{} - protocol error: {error}", self.client.cid);
                        let reason =
                            if error.client_error_text() == Some("Maximum Payload Violation") {
                                CloseReason::MaxPayloadExceeded
                            } else {
                                CloseReason::ProtocolViolation
                            };
                        match error.client_error_text() {
                            Some(text) => self.client.close_with_err(text, reason),
                            None => self.client.close(reason, true),
                        }
                        return;
                    }
                }
            }
            if buf.capacity() > READ_BUFFER_RETAIN_BYTES && buf.is_empty() {
                buf = BytesMut::with_capacity(read_size);
            }
            self.backpressure().await;
            self.client.wait_for_fed_consumers().await;
            // A socket that always holds another full read never makes this loop wait:
            // let the core's other connections in once its time slice is used.
            shards::task::yield_if_slice_used().await;
        }
    }

    /// Stops reading this connection while an outbox it feeds is over its bound.
    async fn backpressure(&self) {
        for peer in self.state.peers() {
            let outbox = &self.state.outboxes[peer];
            if outbox.is_full() {
                self.state.shared.stats[self.state.id].note_outbox_full();
                outbox
                    .room
                    .wait_until(|| !outbox.is_full() || self.client.is_closed())
                    .await;
            }
        }
    }

    /// A subscription change counts as processed once it is in every peer's ring; that is
    /// normally done on the spot, and only a full ring makes us wait (and stop reading).
    async fn await_interest_pushed(&self, seq: u64) {
        if seq == 0 || self.state.interest_pushed(seq) {
            return;
        }
        for peer in self.state.peers() {
            let state = &self.state;
            state.outboxes[peer]
                .room
                .wait_until(|| state.interest_pushed(seq) || self.client.is_closed())
                .await;
        }
    }

    fn ok(&self) {
        if self.verbose {
            self.client.send(b"+OK\r\n");
        }
    }

    /// Traces an op and refuses anything but CONNECT before authentication.
    fn accept(&mut self, op: ClientOp) -> Result<ClientOp, Next> {
        if tracing::enabled!(tracing::Level::TRACE) {
            trace_op(self.client.cid, self.state.id, &op);
        }
        if !self.client.authenticated.get() && !matches!(op, ClientOp::Connect(_)) {
            self.client.close_with_err(
                "Authorization Violation",
                CloseReason::AuthenticationViolation,
            );
            return Err(Next::Stop);
        }
        Ok(op)
    }

    async fn handle(&mut self, op: ClientOp) -> Next {
        match op {
            ClientOp::Connect(json) => self.connect(&json).await,
            ClientOp::Pub(publish) => self.publish(publish),
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => {
                if let Some(seq) = self.subscribe(subject, queue, sid) {
                    self.await_interest_pushed(seq).await;
                    self.ok();
                }
                Next::Continue
            }
            ClientOp::Unsub { sid, max_msgs } => {
                let seq = self.unsubscribe(&sid, max_msgs);
                self.await_interest_pushed(seq).await;
                self.ok();
                Next::Continue
            }
            ClientOp::Ping => {
                self.client.send(b"PONG\r\n");
                Next::Continue
            }
            ClientOp::Pong => {
                self.client.pings_outstanding.set(0);
                super::registry::pong_received(&self.state, self.client.cid);
                Next::Continue
            }
            ClientOp::Info(_) | ClientOp::Ok => Next::Continue,
            ClientOp::Err(text) => {
                tracing::debug!(
                    "cid:{} - client sent -ERR {}",
                    self.client.cid,
                    String::from_utf8_lossy(&text)
                );
                self.client.close(CloseReason::ClientClosed, true);
                Next::Stop
            }
        }
    }

    async fn connect(&mut self, json: &[u8]) -> Next {
        let connect = match ConnectOptions::from_json(json) {
            Ok(c) => c,
            Err(error) => {
                // nats-server 2.9.10 closes on malformed CONNECT JSON without an -ERR.
                tracing::debug!("cid:{} - malformed CONNECT: {error}", self.client.cid);
                self.client.close(CloseReason::ProtocolViolation, true);
                return Next::Stop;
            }
        };
        let mut verified_hash = None;
        let login = if self.client.authenticated.get() {
            // A repeated CONNECT, or a server without authentication: the account stays.
            None
        } else {
            if self.resolve_jwt_account(&connect) {
                // Its JetStream (if its JWT grants it) is served before the login goes
                // on, so the client's first API request finds it.
                let version = self.state.shared.auth.version();
                crate::jetstream::accounts::apply_auth(&self.state, version).await;
            }
            // A configuration installed while a bcrypt check ran decides again.
            let login = loop {
                self.state.sync_auth();
                let version = self.state.auth_version();
                let decision = self.state.auth().check_from(
                    &connect,
                    self.nonce.as_deref(),
                    self.client.tls.get().and_then(|t| t.identity.as_ref()),
                    self.peer,
                );
                let login = match decision {
                    Decision::Accept(login) => Some(login),
                    Decision::Reject => None,
                    Decision::Bcrypt {
                        hash,
                        password,
                        login,
                    } => {
                        verified_hash = Some(hash.clone());
                        crate::auth::verify_bcrypt(hash, password)
                            .await
                            .then_some(login)
                    }
                };
                if self.client.is_closed() || version == self.state.shared.auth.version() {
                    break login;
                }
            };
            if login.is_none() || self.client.is_closed() {
                // In operator mode nats-server names no user (the JWT's reason was logged).
                let who = connect
                    .user
                    .as_deref()
                    .or(connect.nkey.as_deref())
                    .filter(|_| self.state.auth().operator().is_none());
                match who {
                    Some(who) => tracing::error!(
                        "cid:{} - authentication error - User {}",
                        self.client.cid,
                        go_quote(who.as_bytes())
                    ),
                    None => tracing::error!("cid:{} - authentication error", self.client.cid),
                }
                self.client.close_with_err(
                    "Authorization Violation",
                    CloseReason::AuthenticationViolation,
                );
                return Next::Stop;
            }
            login
        };
        if let Err(error) = connect.validate(true) {
            match error.client_error_text() {
                Some(text) => self
                    .client
                    .close_with_err(text, CloseReason::ProtocolViolation),
                None => self.client.close(CloseReason::ProtocolViolation, true),
            }
            return Next::Stop;
        }
        let protocol = connect.protocol;
        if let Some(limits) = login.as_ref().and_then(|l| l.limits.clone()) {
            if !self.apply_login_limits(&limits) {
                return Next::Stop;
            }
        }
        let first_connect = self.client.credentials.borrow().is_none();
        if !self.client.authenticated.get() || first_connect {
            *self.client.credentials.borrow_mut() = Some(Rc::new(Credentials {
                connect: connect.clone(),
                nonce: self.nonce.clone(),
                verified_hash,
                peer: self.peer,
            }));
        }
        if let Some(login) = login {
            self.client.account.set(login.account);
            self.user = login.user;
            *self.client.permissions.borrow_mut() =
                login.permissions.map(|p| Rc::new(ConnPermissions::new(p)));
        }
        self.client.authenticated.set(true);
        self.verbose = connect.verbose;
        self.pedantic = connect.pedantic;
        self.client.echo.set(connect.echo);
        self.client.headers.set(connect.headers);
        self.client.no_responders.set(connect.no_responders);
        self.client.protocol.set(protocol);
        if let Some(name) = &connect.name {
            *self.client.name.borrow_mut() = name.chars().take(256).collect();
        }
        self.connected = true;
        super::registry::connection_connected(&self.state, self.client.cid, &connect);
        if first_connect {
            if let Some(info) = super::registry::event_client(&self.state, self.client.cid) {
                super::system::client_connected(&self.state, &self.client, &info);
            }
        }
        self.ok();
        Next::Continue
    }

    /// Operator mode: a user of an account not known yet gets its account looked up in
    /// the resolver's store, and installed as a new authentication version if it is valid.
    /// True when it was looked up (installed here or by another connection meanwhile).
    fn resolve_jwt_account(&self, connect: &ConnectOptions) -> bool {
        let auth = self.state.auth();
        let (Some(mode), Some(token)) = (auth.operator(), connect.jwt.as_deref()) else {
            return false;
        };
        let Some(key) = crate::auth::operator::user_account_key(token) else {
            return false;
        };
        if mode.account(&key).is_some() {
            return false;
        }
        let Some(account_jwt) = mode.lookup_stored(&key) else {
            return false;
        };
        const ALREADY: &str = "already resolved";
        let installed = self.state.shared.update_auth(|current| {
            if current
                .operator()
                .is_some_and(|m| m.account(&key).is_some())
            {
                // Another connection installed it meanwhile.
                return Err(ALREADY.to_string());
            }
            current.with_account_jwt(&account_jwt).map(|(next, _)| next)
        });
        match installed {
            Ok(_) => tracing::debug!("account {key} resolved from the resolver store"),
            Err(error) if error == ALREADY => {}
            Err(error) => {
                tracing::warn!("account {key} not resolved: {error}");
                return false;
            }
        }
        true
    }

    /// Applies a JWT login's limits: the account's connection count, subscriptions,
    /// payload size and expiry. False when the connection was closed instead.
    fn apply_login_limits(&mut self, limits: &crate::auth::operator::LoginLimits) -> bool {
        if let Some(conns) = &limits.account_conns {
            match conns.acquire() {
                Some(slot) => self._account_slot = Some(slot),
                None => {
                    tracing::error!(
                        "cid:{} - maximum account active connections exceeded",
                        self.client.cid
                    );
                    self.client.close_with_err(
                        "maximum account active connections exceeded",
                        CloseReason::MaxAccountConnectionsExceeded,
                    );
                    return false;
                }
            }
        }
        self.subs_max = limits.subs_max;
        if let Some(payload) = limits.payload_max_bytes {
            let options = &self.state.shared.options;
            self.parser.set_limits(ParserLimits {
                max_control_line_bytes: options.max_control_line_bytes,
                max_payload_bytes: payload.min(options.max_payload_bytes),
            });
        }
        let expiries = [
            (limits.expires_at_unix_s, "User Authentication Expired"),
            (
                limits.account_expires_at_unix_s,
                "Account Authentication Expired",
            ),
        ];
        if let Some((expires_at_s, text)) = expiries
            .into_iter()
            .filter_map(|(at, text)| at.map(|at| (at, text)))
            .min_by_key(|(at, _)| *at)
        {
            shards::task::spawn(expire_at(Rc::downgrade(&self.client), expires_at_s, text));
        }
        true
    }

    /// Some(interest seq) when the subscription was made (or already existed), None when
    /// an -ERR was sent instead.
    fn subscribe(&mut self, subject: Bytes, queue: Option<Bytes>, sid: Bytes) -> Option<u64> {
        self.state.sync_auth();
        let permissions = self.client.permissions.borrow().clone();
        if let Some(permissions) = permissions {
            if !permissions.can_subscribe(&subject, queue.as_deref()) {
                self.subscription_violation(&subject, queue.as_deref(), &sid);
                return None;
            }
        }
        let valid = is_valid_subject(&subject) && queue.as_deref().is_none_or(is_valid_queue_name);
        if !valid {
            self.client.send_err("Invalid Subject");
            return None;
        }
        if self.client.subs.borrow().contains(&sid[..]) {
            // nats-server keeps the existing subscription when a sid is reused.
            return Some(0);
        }
        let max = match self.state.shared.options.max_subscriptions {
            0 => SUBSCRIPTIONS_PER_CONNECTION_HARD_MAX,
            n => n.min(SUBSCRIPTIONS_PER_CONNECTION_HARD_MAX),
        }
        .min(self.subs_max.unwrap_or(usize::MAX));
        if self.client.subs.borrow().len() >= max {
            self.client.send_err("maximum subscriptions exceeded");
            return None;
        }
        let Some(sub) = LocalSub::new(self.client.clone(), &subject, queue.as_deref(), &sid) else {
            self.client.send_err("Invalid Subject");
            return None;
        };
        let sub = Rc::new(sub);
        match self.state.add_subscription(self.client.account.get(), &sub) {
            Ok(seq) => {
                self.client.subs.borrow_mut().insert(BySid(sub));
                Some(seq)
            }
            Err(_) => {
                self.client.send_err("Invalid Subject");
                None
            }
        }
    }

    /// nats-server's `subPermissionViolation`: an -ERR, and the connection stays open.
    fn subscription_violation(&self, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
        let subject = go_quote(subject);
        let text = match queue {
            None => format!("Permissions Violation for Subscription to {subject}"),
            Some(queue) => format!(
                "Permissions Violation for Subscription to {subject} using queue {}",
                go_quote(queue)
            ),
        };
        let user = go_quote(self.user.as_bytes());
        let sid = String::from_utf8_lossy(sid);
        match queue {
            None => tracing::error!(
                "cid:{} - Subscription Violation - User {user}, Subject {subject}, SID {sid}",
                self.client.cid,
            ),
            Some(queue) => tracing::error!(
                "cid:{} - Subscription Violation - User {user}, Subject {subject}, Queue: {}, SID {sid}",
                self.client.cid,
                go_quote(queue),
            ),
        }
        self.client.send_err(&text);
    }

    /// Returns the interest seq of the removal (0 if nothing to wait for).
    fn unsubscribe(&mut self, sid: &[u8], max_msgs: Option<u64>) -> u64 {
        let Some(sub) = self.client.subs.borrow().get(sid).map(|s| s.0.clone()) else {
            return 0;
        };
        match max_msgs {
            Some(max) if max > sub.delivered.get() => {
                sub.max_msgs.set(max);
                0
            }
            _ => {
                self.client.subs.borrow_mut().remove(sid);
                self.state
                    .remove_subscription(self.client.account.get(), &sub)
            }
        }
    }

    fn publish(&mut self, p: Publish) -> Next {
        if let Some(next) =
            self.check_publish(&p.subject, p.reply.as_deref(), p.header_len, p.body.len())
        {
            return next;
        }
        let delivered = route(&self.state, &self.client, &p);
        self.after_route(delivered, &p.subject, p.reply.as_deref());
        Next::Continue
    }

    /// A PUB found whole at the front of `buf`, consumed here. Delivered on this core
    /// from the buffer, with no `Bytes` made, unless an internal subscriber matched or
    /// the account imports or exports subjects; the frame is taken off as the op the
    /// parser would return only for that, or when a peer core is to get the message
    /// (another core's plain subscriber, or a queue member there that was picked).
    fn publish_frame(&mut self, frame: PubFrame, buf: &mut BytesMut) -> Next {
        let account = self.client.account.get();
        if !self.state.auth().routes(account).is_empty() {
            return self.publish(frame.take(buf));
        }
        let subject = frame.subject(buf);
        let reply = frame.reply(buf);
        let body = frame.body(buf);
        if let Some(next) = self.check_publish(subject, reply, frame.header_len(), body.len()) {
            buf.advance(frame.len());
            return next;
        }
        let found = Found::lookup(&self.state, account, subject);
        if found.is_empty() {
            // Nobody listens (publish-only traffic): nothing to deliver or forward.
            self.after_route(false, subject, reply);
            buf.advance(frame.len());
            return Next::Continue;
        }
        if found.has_internal() {
            let p = frame.take(buf);
            let msg = Outgoing::shared(&p.subject, p.reply.as_ref(), p.header_len, &p.body);
            let (delivered, forwards) = route_found(&self.state, &self.client, found, &msg);
            let delivered = send_forwards(&self.state, account, &p, None, forwards) || delivered;
            self.after_route(delivered, &p.subject, p.reply.as_deref());
            return Next::Continue;
        }
        let msg = Outgoing {
            subject,
            reply,
            header_len: frame.header_len(),
            body,
            shared: None,
        };
        let (delivered, forwards) = route_found(&self.state, &self.client, found, &msg);
        if forwards.is_empty() {
            self.after_route(delivered, subject, reply);
            buf.advance(frame.len());
        } else {
            let p = frame.take(buf);
            let delivered = send_forwards(&self.state, account, &p, None, forwards) || delivered;
            self.after_route(delivered, &p.subject, p.reply.as_deref());
        }
        Next::Continue
    }

    /// What nats-server checks before routing a PUB, the in counters, and verbose mode's
    /// +OK. Some(next) when the message is not to be routed.
    fn check_publish(
        &mut self,
        subject: &[u8],
        reply: Option<&[u8]>,
        header_len: Option<usize>,
        body_len: usize,
    ) -> Option<Next> {
        if header_len.is_some() && !self.client.headers.get() {
            // nats-server closes without an -ERR (ErrMsgHeadersNotSupported).
            self.client.close(CloseReason::ProtocolViolation, true);
            return Some(Next::Stop);
        }
        if self.pedantic && !is_valid_literal_subject(subject) {
            // nats-server reports it and still routes the message.
            self.client.send_err("Invalid Publish Subject");
        }
        let counters = &self.client.counters;
        counters.in_msgs.set(counters.in_msgs.get() + 1);
        counters
            .in_bytes
            .set(counters.in_bytes.get() + body_len as u64);
        self.state.sync_auth();
        if self.client.is_closed() {
            return Some(Next::Stop);
        }
        let permissions = self.client.permissions.borrow().clone();
        if let Some(permissions) = permissions {
            if !permissions.can_publish(subject) {
                // nats-server's `pubPermissionViolation`: instead of the +OK; stays open.
                let subject = go_quote(subject);
                tracing::error!(
                    "cid:{} - Publish Violation - User {}, Subject {subject}",
                    self.client.cid,
                    go_quote(self.user.as_bytes())
                );
                self.client
                    .send_err(&format!("Permissions Violation for Publish to {subject}"));
                return Some(Next::Continue);
            }
        }
        if reply.is_some_and(|r| r.starts_with(b"_R_.")) {
            // Reserved for service imports' reply mapping (nats-server's `isReservedReply`).
            self.client.send_err(&format!(
                "Permissions Violation for Publish with Reply of {}",
                go_quote(reply.unwrap_or_default())
            ));
            return Some(Next::Continue);
        }
        // nats-server acknowledges a verbose PUB before routing it, so the +OK precedes the
        // publisher's own copy of the message.
        self.ok();
        None
    }

    /// The no-responders status for a request nobody received.
    fn after_route(&self, delivered: bool, subject: &[u8], reply: Option<&[u8]>) {
        if !delivered && self.client.no_responders.get() {
            if let Some(reply) = reply {
                send_no_responders(&self.state, &self.client, subject, reply);
            }
        }
    }
}

/// The 503 status to the requester's own subscription on the reply subject.
pub fn send_no_responders(
    state: &ShardState,
    client: &Rc<ClientShared>,
    subject: &[u8],
    reply: &[u8],
) {
    if client.is_closed() {
        return;
    }
    let acct = state.account(client.account.get());
    let matches = acct.local.borrow_mut().matches(reply);
    let Some(sub) = matches
        .plain
        .iter()
        .find(|s| Rc::ptr_eq(&s.0.client, client))
    else {
        return;
    };
    let mut headers = Vec::with_capacity(48 + subject.len());
    no_responders_headers(&mut headers, subject);
    let mut finished = Vec::new();
    let headers = Bytes::from(headers);
    let reply = Bytes::copy_from_slice(reply);
    let msg = Outgoing::shared(&reply, None, Some(headers.len()), &headers);
    // Nobody waits for this one: it answers the client's own request.
    deliver(&sub.0, &msg, &mut finished, None);
    drop(matches);
    for sub in finished {
        auto_unsubscribed(state, &sub);
    }
}

fn delivery(
    account: AccountId,
    p: &Publish,
    shown: Option<&Bytes>,
    queues: QueueNames,
) -> Delivery {
    Delivery {
        account,
        subject: p.subject.clone(),
        shown_subject: shown.cloned(),
        reply: p.reply.clone(),
        header_len: p.header_len,
        body: p.body.clone(),
        queues,
    }
}

/// Routes one publish from a local client: local plain subscribers, one member per queue
/// group chosen over all cores by weight, and one forward per interested peer core.
/// Returns whether anyone (local or remote) was given the message.
pub(super) fn route(state: &ShardState, client: &Rc<ClientShared>, p: &Publish) -> bool {
    route_shown(state, client, p, None)
}

/// [`route`], with the MSG line showing `shown` instead of the subject routed on (server
/// deliveries: JetStream sends a stored message to a deliver subject under its own
/// subject).
pub(super) fn route_shown(
    state: &ShardState,
    client: &Rc<ClientShared>,
    p: &Publish,
    shown: Option<&Bytes>,
) -> bool {
    let account = client.account.get();
    let mut delivered = route_in(state, account, client, p, shown);
    let auth = state.auth();
    let routes = auth.routes(account);
    if !routes.is_empty() {
        delivered |= super::imports::route_imports(state, routes, client, p);
    }
    delivered
}

/// Routes one publish within `account` (the publisher's own, or one it exports to or
/// imports from): local plain subscribers, queue groups, forwards to interested cores.
pub(super) fn route_in(
    state: &ShardState,
    account: AccountId,
    client: &Rc<ClientShared>,
    p: &Publish,
    shown: Option<&Bytes>,
) -> bool {
    let found = Found::lookup(state, account, &p.subject);
    let msg = Outgoing::shared(
        shown.unwrap_or(&p.subject),
        p.reply.as_ref(),
        p.header_len,
        &p.body,
    );
    let (delivered, forwards) = route_found(state, client, found, &msg);
    send_forwards(state, account, p, shown, forwards) || delivered
}

/// Who one subject reaches: this core's subscriptions and the other cores' interest.
struct Found {
    local: Rc<Matches<SubRef>>,
    remote: Option<Rc<RemoteMatches>>,
}

impl Found {
    fn lookup(state: &ShardState, account: AccountId, subject: &[u8]) -> Found {
        state.catch_up_interest();
        let acct = state.account(account);
        let local = acct.local.borrow_mut().matches(subject);
        let remote = (state.count > 1).then(|| acct.remote.borrow_mut().matches(subject));
        Found { local, remote }
    }

    fn is_empty(&self) -> bool {
        self.local.is_empty() && self.remote.as_ref().is_none_or(|remote| remote.is_empty())
    }

    /// Whether an internal subscriber matched: it keeps the message after routing, so
    /// it needs the parts as shared `Bytes`.
    fn has_internal(&self) -> bool {
        let internal = |sub: &SubRef| sub.0.client.internal.is_some();
        self.local.plain.iter().any(internal)
            || self
                .local
                .queues
                .iter()
                .any(|group| group.members.iter().any(internal))
    }
}

/// Delivers `msg` to what `found` holds on this core: local plain subscribers and, for
/// each queue group, one member chosen over all cores by weight. Returns whether a local
/// subscriber was given the message, and the forwards to other cores (for
/// [`send_forwards`]): each interested peer once, with the queue groups it was chosen for.
fn route_found(
    state: &ShardState,
    client: &Rc<ClientShared>,
    found: Found,
    msg: &Outgoing,
) -> (bool, Forwards) {
    let Found { local, remote } = found;
    let echo = client.echo.get();
    let mut finished = Vec::new();
    let mut delivered = false;

    for sub in &local.plain {
        if !echo && Rc::ptr_eq(&sub.0.client, client) {
            continue;
        }
        delivered |= deliver(&sub.0, msg, &mut finished, client.producer_stalls());
    }

    // Which peers get a forward, and for which queue groups.
    let mut forwards = Forwards::default();

    // Counted, then found again by position: no vector per message.
    let eligible = |sub: &&SubRef| sub.0.is_live() && (echo || !Rc::ptr_eq(&sub.0.client, client));
    for group in &local.queues {
        let members = group.members.iter().filter(eligible).count() as u64;
        let remote_weights = remote
            .as_ref()
            .and_then(|r| r.queues.iter().find(|q| q.name == group.name))
            .map(|q| q.weights.as_slice())
            .unwrap_or(&[]);
        let remote_total: u64 = remote_weights.iter().map(|&(_, w)| u64::from(w)).sum();
        let total = members + remote_total;
        if total == 0 {
            continue;
        }
        let mut pick = state.random_below(total);
        if pick < members {
            if let Some(member) = group.members.iter().filter(eligible).nth(pick as usize) {
                delivered |= deliver(&member.0, msg, &mut finished, client.producer_stalls());
            }
            continue;
        }
        pick -= members;
        if let Some(core) = pick_weighted(remote_weights, pick) {
            forwards.to(core).push(group.name.clone());
        }
    }
    if let Some(remote) = &remote {
        for rq in &remote.queues {
            if local.queues.iter().any(|g| g.name == rq.name) {
                continue;
            }
            let total: u64 = rq.weights.iter().map(|&(_, w)| u64::from(w)).sum();
            if total == 0 {
                continue;
            }
            if let Some(core) = pick_weighted(&rq.weights, state.random_below(total)) {
                forwards.to(core).push(rq.name.clone());
            }
        }
        for &core in &remote.plain_cores {
            forwards.to(core);
        }
    }
    drop(local);
    for sub in finished {
        auto_unsubscribed(state, &sub);
    }
    (delivered, forwards)
}

/// Peers a publish goes to, each with the queue groups it was chosen for there. The
/// first peer is inline: with two cores there is never another, and a forward then
/// allocates nothing here.
#[derive(Default)]
struct Forwards {
    first: Option<(usize, QueueNames)>,
    more: Vec<(usize, QueueNames)>,
}

impl Forwards {
    /// The queue names going to `core`, after registering it as a destination.
    fn to(&mut self, core: usize) -> &mut QueueNames {
        let first = self.first.get_or_insert_with(|| (core, QueueNames::None));
        if first.0 == core {
            return &mut first.1;
        }
        let at = match self.more.iter().position(|(c, _)| *c == core) {
            Some(at) => at,
            None => {
                self.more.push((core, QueueNames::None));
                self.more.len() - 1
            }
        };
        &mut self.more[at].1
    }

    fn is_empty(&self) -> bool {
        self.first.is_none()
    }
}

impl IntoIterator for Forwards {
    type Item = (usize, QueueNames);
    type IntoIter =
        std::iter::Chain<std::option::IntoIter<Self::Item>, std::vec::IntoIter<Self::Item>>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.more)
    }
}

/// Hands `p` to the peers in `forwards` (showing `shown` as its subject, if given);
/// true if there were any.
fn send_forwards(
    state: &ShardState,
    account: AccountId,
    p: &Publish,
    shown: Option<&Bytes>,
    forwards: Forwards,
) -> bool {
    let any = !forwards.is_empty();
    for (core, queues) in forwards {
        debug_assert_ne!(core, state.id);
        state.outboxes[core].push(CoreEvent::Deliver(delivery(account, p, shown, queues)));
    }
    any
}

/// Go's `%q` of a subject or queue name, as nats-server's error texts show them: quotes,
/// with `"` and `\\` escaped and anything unprintable as an escape.
fn go_quote(text: &[u8]) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in String::from_utf8_lossy(text).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The core whose cumulative weight range contains `pick`.
fn pick_weighted(weights: &[(usize, u32)], mut pick: u64) -> Option<usize> {
    for &(core, weight) in weights {
        if pick < u64::from(weight) {
            return Some(core);
        }
        pick -= u64::from(weight);
    }
    None
}

/// nats-server's `-V` protocol trace: `cid:N - "<<- [PUB foo 5]"`.
fn trace_op(cid: u64, core: usize, op: &ClientOp) {
    let text = match op {
        ClientOp::Connect(json) => format!("CONNECT {}", String::from_utf8_lossy(json)),
        ClientOp::Pub(p) => format!(
            "{} {}{} {}",
            if p.header_len.is_some() {
                "HPUB"
            } else {
                "PUB"
            },
            String::from_utf8_lossy(&p.subject),
            p.reply
                .as_ref()
                .map(|r| format!(" {}", String::from_utf8_lossy(r)))
                .unwrap_or_default(),
            p.body.len()
        ),
        ClientOp::Sub {
            subject,
            queue,
            sid,
        } => format!(
            "SUB {}{} {}",
            String::from_utf8_lossy(subject),
            queue
                .as_ref()
                .map(|q| format!(" {}", String::from_utf8_lossy(q)))
                .unwrap_or_default(),
            String::from_utf8_lossy(sid)
        ),
        ClientOp::Unsub { sid, max_msgs } => format!(
            "UNSUB {}{}",
            String::from_utf8_lossy(sid),
            max_msgs.map(|m| format!(" {m}")).unwrap_or_default()
        ),
        ClientOp::Ping => "PING".to_string(),
        ClientOp::Pong => "PONG".to_string(),
        ClientOp::Info(json) => format!("INFO {}", String::from_utf8_lossy(json)),
        ClientOp::Ok => "+OK".to_string(),
        ClientOp::Err(text) => format!("-ERR {}", String::from_utf8_lossy(text)),
    };
    tracing::trace!("cid:{cid} core:{core} - \"<<- [{text}]\"");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Producers wait for a stalled client while it drains, or once it has read
    /// `max_pending` bytes in all; one that read little and stopped is left to reach
    /// `max_pending`.
    #[test]
    fn producers_wait_only_for_stalled_clients_that_drain() {
        let client = ClientShared::new(1, 0, 1024, true);
        let window = Duration::from_millis(STALL_DRAIN_WINDOW_MS);
        let drained = Instant::now();
        client.drained_at.set(drained);
        assert!(!client.worth_waiting_for(drained), "not stalled");
        client.stalled.set(true);
        assert!(client.worth_waiting_for(drained));
        assert!(client.worth_waiting_for(drained + window));
        assert!(
            !client.worth_waiting_for(drained + window + Duration::from_millis(1)),
            "stopped draining"
        );
        // A write brings it back.
        client.in_flight_bytes.set(4096);
        client.note_written(512);
        assert!(client.stalled.get(), "still over half of max_pending");
        let late = client.drained_at.get() + window + Duration::from_millis(1);
        assert!(client.worth_waiting_for(late - Duration::from_millis(1)));
        assert!(
            !client.worth_waiting_for(late),
            "512 bytes in all: not proven"
        );
        // Having taken max_pending (1024) bytes in all, it is waited for even when it
        // pauses for longer than the window.
        client.note_written(512);
        assert!(client.stalled.get());
        let late = client.drained_at.get() + window * 10;
        assert!(client.worth_waiting_for(late), "a proven reader");
        // Below half: no longer stalled.
        client.note_written(3072);
        assert!(!client.stalled.get());
        assert!(!client.worth_waiting_for(Instant::now()));
        // Closed: never waited for.
        client.stalled.set(true);
        client.close(CloseReason::SlowConsumerPendingBytes, false);
        assert!(!client.worth_waiting_for(client.drained_at.get()));
    }

    /// A stalled consumer is noted only by the producer whose message reached it, once,
    /// and is not kept alive by the note.
    #[test]
    fn a_stalled_consumer_is_listed_only_by_the_producers_that_fed_it() {
        let (fast, slow_feeder) = (
            Rc::new(ClientShared::new(1, 0, 1 << 20, true)),
            Rc::new(ClientShared::new(2, 0, 1 << 20, true)),
        );
        // About 420 bytes a message: stalled from the third on, cut at the fifth.
        let slow = Rc::new(ClientShared::new(3, 0, 2048, true));
        let fast_reader = Rc::new(ClientShared::new(4, 0, 1 << 20, true));
        let slow_sub = Rc::new(LocalSub::new(slow.clone(), b"slow", None, b"1").unwrap());
        let fast_sub = Rc::new(LocalSub::new(fast_reader, b"fast", None, b"1").unwrap());
        let (subject, body) = (Bytes::from_static(b"slow"), Bytes::from(vec![0u8; 400]));
        let msg = Outgoing::shared(&subject, None, None, &body);
        let mut finished = Vec::new();
        let mut feed_slow = |messages: usize| {
            for _ in 0..messages {
                let producer = slow_feeder.producer_stalls();
                assert!(deliver(&slow_sub, &msg, &mut finished, producer));
            }
        };

        // Under half of max_pending: nobody is listed.
        feed_slow(2);
        assert!(!slow.stalled.get() && slow_feeder.fed_stalled.is_empty());
        // Over half: its producer lists it, once however many messages follow.
        feed_slow(2);
        assert!(slow.stalled.get() && !slow.is_closed());
        assert_eq!(slow_feeder.fed_stalled.clients.borrow().len(), 1);
        // Another producer that reached only a reader keeping up lists nobody.
        assert!(deliver(
            &fast_sub,
            &msg,
            &mut finished,
            fast.producer_stalls()
        ));
        assert!(fast.fed_stalled.is_empty());
        // Readers that stopped reading long ago fill the list; a draining one still gets
        // a place.
        let window = Duration::from_millis(STALL_DRAIN_WINDOW_MS);
        let dead: Vec<Rc<ClientShared>> = (0..STALLED_PER_PRODUCER_MAX as u64)
            .map(|cid| {
                let dead = Rc::new(ClientShared::new(100 + cid, 0, 2048, true));
                dead.stalled.set(true);
                dead.drained_at.set(Instant::now() - window * 2);
                dead
            })
            .collect();
        let crowded = StallList::default();
        for client in &dead {
            crowded.note(client);
        }
        slow.drained_at.set(Instant::now());
        crowded.note(&slow);
        let listed = crowded.clients.borrow();
        assert_eq!(listed.len(), STALLED_PER_PRODUCER_MAX);
        assert!(listed
            .iter()
            .any(|c| std::ptr::eq(c.as_ptr(), Rc::as_ptr(&slow))));
        drop(listed);
        // Internal producers never wait, so they never list.
        let internal = ClientShared::new_internal(5, 0, 1 << 20);
        assert!(internal.producer_stalls().is_none());
        // The note does not keep a closed consumer (and its buffered output) alive.
        drop((slow_sub, slow));
        let listed = slow_feeder.fed_stalled.clients.borrow();
        assert!(listed.iter().all(|c| c.upgrade().is_none()));
    }
}
