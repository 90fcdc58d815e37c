//! The broker: what is shared by all cores ([`Shared`]), and each core's main loop.
//!
//! A core runs these tasks: an accept loop on its own `SO_REUSEPORT` listener, one reader,
//! one writer and one timer task per connection ([`client`]), one flusher per peer core
//! that moves its outbox into the SPSC ring, one receiver per peer core that applies the
//! peer's batches ([`shard`]), and a control loop that publishes counters and reacts to
//! shutdown and lame-duck requests.

pub mod allocator;
pub mod claims;
pub mod client;
pub mod control;
pub mod imports;
pub mod internal;
pub mod mesh;
pub mod outbound;
pub mod registry;
pub mod reload;
pub mod shard;
pub mod system;
pub mod transport;

use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use shards::net::{Listener, ListenerSet, ListenerSocket};
use shards::sync::Signal;
use shards::{RuntimeConfig, Shard};
use thiserror::Error;

use crate::auth::{Auth, LiveAuth};
use crate::config::Options;
use crate::limits::{
    CONTROL_POLL_MS, MESH_RING_BATCHES, READ_CHUNK_BYTES, STALL_TOTAL_PER_BATCH_US,
};
use crate::protocol::ServerInfo;
use client::CloseReason;
use control::Control;
use mesh::Batch;
use shard::ShardState;

/// The nats-server version tern reports: clients gate features on it, so it names the
/// nats-server release whose client-visible behaviour tern implements.
pub const NATS_VERSION: &str = "2.10.22";

#[derive(Debug, Error)]
pub enum ServerError {
    #[error("invalid listen address {0}")]
    Address(String),
    #[error("can not listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("can not determine the CPUs to run on: {0}")]
    Cpus(std::io::Error),
    #[error("{0}")]
    Cores(String),
    #[error(transparent)]
    Runtime(#[from] shards::RuntimeError),
    #[error("{0}")]
    Startup(String),
}

/// Counters of one core, published by that core every control tick for monitoring.
#[derive(Default)]
pub struct ShardStats {
    pub connections: AtomicU64,
    pub in_msgs: AtomicU64,
    pub in_bytes: AtomicU64,
    pub out_msgs: AtomicU64,
    pub out_bytes: AtomicU64,
    pub subscriptions: AtomicU64,
    pub slow_consumers: AtomicU64,
    pub outbox_full_events: AtomicU64,
}

impl ShardStats {
    pub fn note_slow_consumer(&self) {
        self.slow_consumers.fetch_add(1, Ordering::Relaxed);
    }

    pub fn note_outbox_full(&self) {
        self.outbox_full_events.fetch_add(1, Ordering::Relaxed);
    }
}

/// Read-only configuration and the few counters every core touches.
pub struct Shared {
    pub options: Options,
    pub server_id: String,
    pub server_name: String,
    /// The authentication configuration in force; replaced by [`Shared::update_auth`].
    /// Cores read their own copy (`ShardState::auth`), other threads `auth.load()`.
    pub auth: LiveAuth,
    /// The options a reload compares the file with: `options` plus every reload since.
    pub applied_options: Mutex<Options>,
    /// The reloadable limits in force (see [`reload`]).
    pub limits: reload::LiveLimits,
    /// The system account's request services and advisories (see [`system`]).
    pub system: system::SystemShared,
    /// TLS on the client listener (`tls {}` or `--tls*`), built once at startup.
    pub tls: Option<crate::tls::TlsServer>,
    pub stats: Vec<ShardStats>,
    pub control: Control,
    pub started: SystemTime,
    pub started_instant: Instant,
    pub client_addr: SocketAddr,
    pub cores: Vec<usize>,
    next_cid: AtomicU64,
    connections: AtomicUsize,
    pub total_connections: AtomicU64,
    pub interest_clock: mesh::InterestClock,
    /// What monitoring reads about the cores (see [`registry`]).
    pub registry: registry::Registry,
    /// Server-side services still starting (e.g. JetStream recovering its streams); no
    /// core accepts connections until this is back to zero, so no client sees a half-started
    /// server. Raised before [`Server::run_with`], lowered by each service as it is ready.
    pub startup_holds: AtomicUsize,
}

impl Shared {
    pub fn next_client_id(&self) -> u64 {
        self.next_cid.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a new connection against `max_connections`.
    pub fn admit_connection(&self) -> bool {
        let before = self.connections.fetch_add(1, Ordering::AcqRel);
        if before >= self.limits.max_connections() {
            self.connections.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        self.total_connections.fetch_add(1, Ordering::Relaxed);
        true
    }

    pub fn release_connection(&self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
    }

    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    /// Replaces the authentication configuration with what `next` builds from the current
    /// one (callable from any core or thread). Account ids must be kept (see
    /// [`crate::auth::live`]). Every core then re-checks its connections against the new
    /// version: those whose credentials no longer log in (or now log into another
    /// account) are closed with `Authorization Violation`, the others get the new
    /// permissions, and subscriptions those no longer allow are removed. Returns the new
    /// version number.
    pub fn update_auth(
        &self,
        next: impl FnOnce(&Auth) -> Result<Auth, String>,
    ) -> Result<u64, String> {
        self.auth.update(next)
    }

    /// [`Shared::update_auth`] with a complete new configuration.
    pub fn install_auth(&self, auth: Auth) -> Result<u64, String> {
        self.auth.update(move |_| Ok(auth))
    }

    pub fn info(&self) -> ServerInfo {
        ServerInfo {
            server_id: self.server_id.clone(),
            server_name: self.server_name.clone(),
            version: NATS_VERSION.to_string(),
            proto: 1,
            go: format!("tern {}", env!("CARGO_PKG_VERSION")),
            host: self.options.host.clone(),
            port: self.client_addr.port(),
            headers: true,
            max_payload: self.limits.max_payload_bytes() as i64,
            auth_required: self.auth.load().required(),
            tls_required: self.tls.is_some(),
            tls_verify: self.tls.as_ref().is_some_and(|t| t.verify),
            jetstream: self.options.jetstream,
            ..ServerInfo::default()
        }
    }

    /// The INFO line a new connection gets.
    pub fn write_info(
        &self,
        out: &mut Vec<u8>,
        cid: u64,
        client_ip: Option<String>,
        nonce: Option<String>,
    ) {
        let mut info = self.info();
        info.client_id = Some(cid);
        info.client_ip = client_ip;
        info.nonce = nonce;
        info.ldm = self.control.lame_duck_requested();
        info.write_info(out);
    }
}

/// A server that is listening but whose cores are not running yet: lets callers learn the
/// port (for `-p -1`) before [`Server::run`] blocks.
pub struct Server {
    shared: Arc<Shared>,
    listeners: Vec<ListenerSocket>,
    _port_guard: shards::net::PortGuard,
}

impl Server {
    pub fn bind(options: Options, control: Control) -> Result<Server, ServerError> {
        let cores = choose_cores(&options)?;
        let addr_text = format!("{}:{}", options.host, options.port);
        let addr = resolve(&options.host, options.port)
            .ok_or_else(|| ServerError::Address(addr_text.clone()))?;
        let set = ListenerSet::bind(addr, cores.len()).map_err(|source| ServerError::Listen {
            addr: addr_text,
            source,
        })?;
        let client_addr = set.local_addr();
        let (listeners, port_guard) = set.into_parts();
        let server_id = new_server_id();
        let server_name = options
            .server_name
            .clone()
            .unwrap_or_else(|| server_id.clone());
        let auth = Auth::from_options(&options).map_err(ServerError::Startup)?;
        for warning in auth.warnings() {
            tracing::warn!("{warning}");
        }
        let tls = match &options.tls {
            Some(tls) => {
                Some(crate::tls::TlsServer::from_options(tls).map_err(ServerError::Startup)?)
            }
            None => None,
        };
        let core_count = cores.len();
        let started = SystemTime::now();
        let shared = Arc::new(Shared {
            stats: (0..cores.len()).map(|_| ShardStats::default()).collect(),
            applied_options: Mutex::new(options.clone()),
            limits: reload::LiveLimits::new(&options, started),
            system: system::SystemShared::default(),
            options,
            server_id,
            server_name,
            auth: LiveAuth::new(auth),
            tls,
            control,
            started,
            started_instant: Instant::now(),
            client_addr,
            cores,
            next_cid: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            total_connections: AtomicU64::new(0),
            interest_clock: mesh::InterestClock::new(core_count),
            registry: registry::Registry::new(core_count),
            startup_holds: AtomicUsize::new(0),
        });
        Ok(Server {
            shared,
            listeners,
            _port_guard: port_guard,
        })
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn client_addr(&self) -> SocketAddr {
        self.shared.client_addr
    }

    /// Runs every core until shutdown completes.
    pub fn run(self) -> Result<(), ServerError> {
        self.run_with(|_state: &Rc<ShardState>| {})
    }

    /// Runs every core, calling `init` on each core once it is set up and before it accepts
    /// connections: the place to start server-side services (internal subscriptions).
    pub fn run_with<I>(self, init: I) -> Result<(), ServerError>
    where
        I: Fn(&Rc<ShardState>) + Send + Sync + Clone + 'static,
    {
        let shared = self.shared.clone();
        let mut config = RuntimeConfig::new(shared.cores.clone());
        config.name = "tern".to_string();
        config.ring_capacity = MESH_RING_BATCHES;
        config.spin_before_park_us = shared.options.spin_before_park_us;
        config.time_slice_us = shared.options.time_slice_us;
        let listeners: Arc<Mutex<Vec<Option<ListenerSocket>>>> =
            Arc::new(Mutex::new(self.listeners.into_iter().map(Some).collect()));
        shards::run(config, move |shard: Shard<Batch>| {
            let shared = shared.clone();
            let listener = listeners.lock().ok().and_then(|mut l| l[shard.id()].take());
            let init = init.clone();
            async move {
                if let Some(listener) = listener {
                    shard_main(shard, shared, listener, init).await;
                }
            }
        })?;
        Ok(())
    }
}

fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    (host, port).to_socket_addrs().ok()?.next()
}

fn choose_cores(options: &Options) -> Result<Vec<usize>, ServerError> {
    let allowed = shards::cpus::allowed_cpus().map_err(ServerError::Cpus)?;
    let cores = match (&options.cpu_list, options.cores) {
        (Some(list), _) => {
            if let Some(bad) = list.iter().find(|c| !allowed.contains(c)) {
                return Err(ServerError::Cores(format!(
                    "--cpu-list names CPU {bad}, but this process may only run on {allowed:?}"
                )));
            }
            list.clone()
        }
        (None, Some(n)) => {
            if n == 0 || n > allowed.len() {
                return Err(ServerError::Cores(format!(
                    "--cores {n}: this process may run on {} CPUs ({allowed:?})",
                    allowed.len()
                )));
            }
            allowed[..n].to_vec()
        }
        (None, None) => allowed,
    };
    if cores.is_empty() {
        return Err(ServerError::Cores("no CPUs to run on".to_string()));
    }
    Ok(cores)
}

/// A server id shaped like nats-server's (an NKey server public key: `N` and 55 base32
/// characters). It is an identifier only; nothing is signed with it.
fn new_server_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::thread_rng();
    let mut id = String::with_capacity(56);
    id.push('N');
    for _ in 0..55 {
        id.push(ALPHABET[rng.gen_range(0..ALPHABET.len())] as char);
    }
    id
}

async fn shard_main<I: Fn(&Rc<ShardState>)>(
    shard: Shard<Batch>,
    shared: Arc<Shared>,
    listener: ListenerSocket,
    init: I,
) {
    let state = Rc::new(ShardState::new(shard, shared));
    for peer in state.peers() {
        shards::task::spawn(flush_loop(state.clone(), peer));
        let state = state.clone();
        shards::task::spawn(async move {
            while let Some(batch) = match state.receiver(peer) {
                Some(receiver) => receiver.recv().await,
                None => None,
            } {
                registry::batch_received(&state, peer);
                // While consumers this peer's messages reached are behind, stop draining
                // the ring (after any delivery): the ring fills and the publishing core's
                // outbox pushes back on its publishers. The budget is what a local publisher would get for the
                // same bytes (10 ms per read batch's worth), so a publisher on another core
                // is slowed exactly as one on this core.
                let payload_bytes: usize = batch
                    .events
                    .iter()
                    .map(|e| match e {
                        mesh::CoreEvent::Deliver(d) => d.body.len(),
                        _ => 0,
                    })
                    .sum();
                let read_batches = payload_bytes.div_ceil(READ_CHUNK_BYTES).max(1) as u32;
                let mut stall_budget =
                    Duration::from_micros(STALL_TOTAL_PER_BATCH_US) * read_batches;
                for event in batch.events {
                    state.apply_event(peer, event);
                    let stalls = &state.mesh_stalls[peer];
                    if !stalls.is_empty() && !stall_budget.is_zero() {
                        let used = stalls.wait_within(stall_budget).await;
                        stall_budget = stall_budget.saturating_sub(used);
                    }
                }
                shards::task::yield_if_slice_used().await;
            }
        });
    }
    imports::start(&state);
    system::start(&state);
    claims::start(&state);
    init(&state);
    let stop_accepting = Rc::new(Signal::new());
    shards::task::spawn(accept_loop(
        state.clone(),
        Listener::attach(listener),
        stop_accepting.clone(),
    ));
    control_loop(state, stop_accepting).await;
}

async fn accept_loop(state: Rc<ShardState>, listener: Listener, stop: Rc<Signal>) {
    while state.shared.startup_holds.load(Ordering::Acquire) > 0 {
        shards::time::sleep(Duration::from_millis(STARTUP_POLL_MS)).await;
    }
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            stop.wait().await;
            None
        })
        .await;
        match accepted {
            None => return,
            Some(Ok(conn)) => shards::task::spawn(client::serve(state.clone(), conn)),
            Some(Err(error)) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::error!("Error accepting client connection: {error}");
                shards::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// How often a core checks whether the services it waits for have started.
const STARTUP_POLL_MS: u64 = 2;

async fn flush_loop(state: Rc<ShardState>, peer: usize) {
    let outbox = &state.outboxes[peer];
    loop {
        outbox.flush.wait().await;
        while let Some(batch) = outbox.next_batch() {
            let interest_seq = batch.interest_seq;
            // The outbox is empty again: publishers waiting for room may go on.
            outbox.room.wake_all();
            outbox.set_sending(true);
            let sent = state.shard.send(peer, batch).await;
            outbox.set_sending(false);
            if sent.is_err() {
                return;
            }
            registry::batch_sent(&state, peer);
            if interest_seq > 0 {
                state
                    .shared
                    .interest_clock
                    .record_push(state.id, peer, interest_seq);
                // Subscribers waiting for their interest to be pushed.
                outbox.room.wake_all();
            }
        }
    }
}

/// Publishes counters and carries out shutdown and lame-duck mode on this core.
async fn control_loop(state: Rc<ShardState>, stop_accepting: Rc<Signal>) {
    let options = &state.shared.options;
    let mut lame_duck_since: Option<Instant> = None;
    loop {
        shards::time::sleep(Duration::from_millis(CONTROL_POLL_MS)).await;
        state.sync_auth();
        state.publish_stats();
        let control = &state.shared.control;
        if control.shutdown_requested() {
            stop_accepting.set();
            for hook in state.shutdown_hooks.borrow().iter() {
                hook();
            }
            let clients: Vec<_> = state.clients.borrow().values().cloned().collect();
            for client in clients {
                client.close(CloseReason::ServerShutdown, true);
            }
            // Give writers a moment to flush what they have.
            let deadline = Instant::now() + Duration::from_millis(2_000);
            while (!state.clients.borrow().is_empty() || state.writers_open.get() > 0)
                && Instant::now() < deadline
            {
                shards::time::sleep(Duration::from_millis(10)).await;
            }
            state.publish_stats();
            return;
        }
        if control.lame_duck_requested() {
            let since = *lame_duck_since.get_or_insert_with(|| {
                stop_accepting.set();
                let mut info = state.shared.info();
                info.ldm = true;
                let mut line = Vec::new();
                info.write_info(&mut line);
                for client in state.clients.borrow().values() {
                    if client.protocol.get() >= 1 {
                        client.send(&line);
                    }
                }
                Instant::now()
            });
            let grace = Duration::from_millis(options.lame_duck_grace_period_ms);
            let elapsed = since.elapsed();
            if elapsed < grace {
                continue;
            }
            // Close clients spread evenly over the lame-duck duration.
            let duration = Duration::from_millis(options.lame_duck_duration_ms.max(1));
            let remaining = state.clients.borrow().len();
            if remaining == 0 {
                control.request_shutdown();
                continue;
            }
            let left = duration.saturating_sub(elapsed - grace);
            let ticks_left = (left.as_millis() as u64 / CONTROL_POLL_MS).max(1);
            let batch = remaining.div_ceil(ticks_left as usize).max(1);
            let victims: Vec<_> = state
                .clients
                .borrow()
                .values()
                .take(batch)
                .cloned()
                .collect();
            for client in victims {
                client.close(CloseReason::ServerShutdown, true);
            }
        }
    }
}
