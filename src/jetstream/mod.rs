//! JetStream: persistent streams behind nats-server's `$JS.API`.
//!
//! A tour, in the order a publish travels:
//! - Each stream is owned by one core ([`owner`]). That core subscribes (internally) to the
//!   stream's subjects, so a publish on any core reaches it through the ordinary cross-core
//!   routing; the PubAck goes back to the publisher's reply subject the same way.
//! - [`stream`]: the owning core's runtime for one stream: a queue of publishes and API
//!   operations drained by one writer task, which applies them to the store, writes the log,
//!   fsyncs once for the whole batch (group commit) and only then sends the acks.
//! - [`store`]: the stream's state as a pure state machine (record format, index, limits,
//!   dedup), no I/O; [`disk`]: the segment files it is logged to, through io_uring.
//! - [`meta`]: core 0 answers the account-level API (`$JS.API.INFO`, stream create, update,
//!   delete, names, list) of every JetStream account, in that account's subject space, and
//!   forwards a stream's own API requests to its owning core.
//! - [`accounts`]: which accounts have JetStream, their limits and usage, and
//!   [`enable_account`] for accounts that get JetStream after startup.
//! - [`api`]: the JSON of the API: configs, infos, requests, responses, error codes.
//!
//! Cores talk to each other in tern's internal account (`$TERN.JS.<core>.>`), which no
//! client can reach.

pub mod accounts;
pub mod api;
pub mod consumer;
mod consumers;
mod disk;
mod meta;
pub mod monitor;
mod owner;
mod sealed;
pub mod store;
mod stream;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::auth::Auth;
use crate::config::{Options, SyncInterval};
use crate::server::mesh::{AccountId, INTERNAL_ACCOUNT};
use crate::server::shard::ShardState;
pub use accounts::{enable_account, serve_account_without_jetstream, EnableError, JsAccount};

/// What every core shares about JetStream: settings, and counters that the meta core and
/// monitoring read. Streams themselves are never shared. The counters here are the
/// server's totals; each account has its own in [`JsAccount`].
pub struct JetStreamShared {
    /// `<store_dir>/jetstream`: each account's streams are under `<account>/streams`.
    pub store_dir: PathBuf,
    /// The JetStream-enabled accounts (see [`accounts`]); grows when
    /// [`enable_account`] is called after startup.
    pub accounts: Mutex<BTreeMap<AccountId, Arc<JsAccount>>>,
    /// Accounts present at startup without JetStream: their API answers 10039.
    pub accounts_without_jetstream: Vec<AccountId>,
    /// The newest authentication version the meta core has brought JetStream's accounts
    /// in line with (see [`accounts::apply_auth`]).
    pub auth_applied: AtomicU64,
    pub sync: SyncInterval,
    pub max_memory_bytes: i64,
    pub max_store_bytes: i64,
    pub max_payload_bytes: usize,
    pub cores: usize,
    /// Streams owned by each core (placement picks the least loaded).
    pub streams_per_core: Vec<AtomicUsize>,
    pub streams: AtomicUsize,
    pub consumers: AtomicUsize,
    pub memory_bytes: AtomicI64,
    pub storage_bytes: AtomicI64,
    pub api_total: AtomicU64,
    pub api_errors: AtomicU64,
    /// Stream snapshots and latency histograms for monitoring (see [`monitor`]).
    pub telemetry: monitor::Telemetry,
}

impl JetStreamShared {
    pub fn new(options: &Options, auth: &Auth, cores: usize) -> JetStreamShared {
        let store_dir = options
            .store_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("nats"));
        let root = store_dir.join("jetstream");
        let enabled: BTreeMap<AccountId, Arc<JsAccount>> = accounts::wanted(auth)
            .into_iter()
            .map(|(id, name, limits)| (id, Arc::new(JsAccount::new(id, &name, &root, limits))))
            .collect();
        warn_about_unserved_streams(&root, &enabled);
        let accounts_without_jetstream = (0..auth.account_count() as AccountId)
            .filter(|id| *id != INTERNAL_ACCOUNT && !enabled.contains_key(id))
            .collect();
        JetStreamShared {
            accounts: Mutex::new(enabled),
            accounts_without_jetstream,
            auth_applied: AtomicU64::new(0),
            store_dir: root,
            sync: options.jetstream_sync,
            max_memory_bytes: options
                .jetstream_max_memory_bytes
                .filter(|b| *b > 0)
                .unwrap_or_else(default_max_memory_bytes),
            max_store_bytes: options
                .jetstream_max_store_bytes
                .filter(|b| *b > 0)
                .unwrap_or_else(|| default_max_store_bytes(&store_dir)),
            max_payload_bytes: options.max_payload_bytes,
            cores,
            streams_per_core: (0..cores).map(|_| AtomicUsize::new(0)).collect(),
            streams: AtomicUsize::new(0),
            consumers: AtomicUsize::new(0),
            memory_bytes: AtomicI64::new(0),
            storage_bytes: AtomicI64::new(0),
            api_total: AtomicU64::new(0),
            api_errors: AtomicU64::new(0),
            telemetry: monitor::Telemetry::new(cores),
        }
    }

    /// A JetStream-enabled account.
    pub fn account(&self, id: AccountId) -> Option<Arc<JsAccount>> {
        self.accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// Every JetStream-enabled account, by id.
    pub fn all_accounts(&self) -> Vec<Arc<JsAccount>> {
        self.accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    pub fn memory_used(&self) -> i64 {
        self.memory_bytes.load(Ordering::Relaxed)
    }

    pub fn storage_used(&self) -> i64 {
        self.storage_bytes.load(Ordering::Relaxed)
    }
}

/// Streams left in the directory of an account that has no JetStream now (e.g. `$G`'s, from
/// before accounts were configured) are not loaded; say so rather than hide them.
fn warn_about_unserved_streams(
    root: &std::path::Path,
    enabled: &BTreeMap<AccountId, Arc<JsAccount>>,
) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if enabled.values().any(|account| account.name == name) {
            continue;
        }
        let streams = entry.path().join("streams");
        let count = std::fs::read_dir(&streams).map_or(0, |dir| dir.flatten().count());
        if count > 0 {
            tracing::warn!(
                "JetStream: {count} stream(s) in {} are not loaded: account {name:?} has no JetStream",
                streams.display()
            );
        }
    }
}

/// nats-server's default: 75% of physical memory.
fn default_max_memory_bytes() -> i64 {
    // SAFETY: sysconf only reads system configuration.
    let (pages, page_size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages <= 0 || page_size <= 0 {
        return 1 << 30;
    }
    // c_long is i64 on the 64-bit Linux targets tern runs on.
    pages.saturating_mul(page_size) / 4 * 3
}

/// nats-server's default: 75% of the free space where the store lives (1 TB if unknown).
fn default_max_store_bytes(dir: &std::path::Path) -> i64 {
    const UNKNOWN: i64 = 1_000_000_000_000;
    let mut probe = dir.to_path_buf();
    while !probe.exists() {
        if !probe.pop() {
            return UNKNOWN;
        }
    }
    let Ok(path) = std::ffi::CString::new(probe.as_os_str().as_encoded_bytes()) else {
        return UNKNOWN;
    };
    // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return UNKNOWN;
    }
    let free = (stat.f_bavail as i64).saturating_mul(stat.f_frsize as i64);
    free / 4 * 3
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Logs nats-server's JetStream banner (operators grep for these lines).
pub fn log_startup(js: &JetStreamShared) {
    tracing::info!("Starting JetStream");
    tracing::info!("---------------- JETSTREAM ----------------");
    tracing::info!("  Max Memory:      {}", friendly_bytes(js.max_memory_bytes));
    tracing::info!("  Max Storage:     {}", friendly_bytes(js.max_store_bytes));
    tracing::info!("  Store Directory: \"{}\"", js.store_dir.display());
    match js.sync {
        SyncInterval::Always => {
            tracing::info!("  Sync:            always (a PubAck means the data is fsync'd)")
        }
        SyncInterval::EveryMs(ms) => tracing::warn!(
            "  Sync:            every {ms} ms (acknowledged data can be lost on power failure)"
        ),
    }
    tracing::info!("-------------------------------------------");
}

fn friendly_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// Starts JetStream on this core: its share of the streams (recovered from disk) and, on
/// core 0, the account-level API. Call from [`crate::server::Server::run_with`]'s init on
/// every core, after raising `startup_holds` by the number of cores.
pub fn install(state: &Rc<ShardState>, js: Arc<JetStreamShared>) {
    if state.id == 0 {
        // One more hold for the API itself, released by the meta service once its
        // `$JS.API.>` subscriptions are in every peer's ring. The owners' holds alone were
        // not enough: core 0's owner was seen releasing its hold before the meta service
        // had subscribed, and a client accepted on another core in that window got
        // no-responders to its first API request (about 1 start in 700 under load). Raised
        // before the owner starts, so the count cannot reach zero in between.
        state.shared.startup_holds.fetch_add(1, Ordering::AcqRel);
    }
    let owner = owner::Owner::start(state, js.clone());
    if state.id == 0 {
        let meta = meta::Meta::start(state, js);
        state.services.borrow_mut().push(meta);
    }
    state.services.borrow_mut().push(owner);
}
