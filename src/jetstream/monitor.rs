//! What JetStream tells monitoring: `/jsz`, the `jetstream` section of `/varz`, the
//! `tern_jetstream_` families of `/metrics` and the JetStream check of `/healthz`, through
//! [`crate::monitor::jetstream::JetStreamMonitor`].
//!
//! Monitoring runs on its own threads and must never stop a core, while a stream's state
//! lives in `Rc`/`RefCell`s that only its owning core may touch. So each stream publishes
//! a small copy of itself, and the monitoring thread reads only copies and atomics:
//!
//! ```text
//!  core N, stream writer (after every batch)        monitoring thread (per request)
//!  ─────────────────────────────────────────        ───────────────────────────────
//!  report_usage():                                   Telemetry::streams: lock the map,
//!    snapshot.refresh(config, store.state())           clone the Arcs (sorted by name),
//!      lock the stream's Mutex<StreamView>,            unlock
//!      copy 8 counters (+ the config if it          for each: lock its Mutex<StreamView>,
//!      changed), unlock                                copy the counters (and the config
//!                                                      only for `config=true`), unlock
//!  Owner::adopt / Owner::delete:
//!    Telemetry::register / unregister  ──Mutex<BTreeMap<name, Arc<StreamSnapshot>>>──
//! ```
//!
//! Why a `Mutex` per stream rather than atomics or a request to the core (as `/connz` does
//! through `server::registry`): the writer already runs once per batch, not per message,
//! so one uncontended lock per batch costs about as much as a few atomics; a stream's
//! counters are then always read together, never torn (`first_seq` never above
//! `last_seq + 1`); and a `/jsz` answer needs no core's help, so it is quick even when a
//! core is busy. Either side holds the lock only to copy a few words (the config is cloned
//! only when it changed, or when `/jsz?config=true` asks), so a core never waits for more
//! than that. A snapshot is at most one batch old, like nats-server's `FastState`.
//!
//! The two latency histograms (fsync of a file stream's segments, and publish-to-PubAck)
//! are recorded on the cores, per batch and per publish, so they are sharded: one
//! cache-line aligned slot of atomic buckets per core, summed when `/metrics` reads them.
//! Recording is a bucket search over [`LATENCY_BOUNDS_MICROS`] and two relaxed atomic
//! adds on the core's own slot. The disk layer and the writer find their core's slot
//! through a thread-local that [`bind_core`] sets when the core's JetStream starts (a core
//! is one thread).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::api::{self, GoTime, StreamConfig};
use super::store::StoreState;
use super::{JetStreamShared, JsAccount};
use crate::config::SyncInterval;
use crate::monitor::jetstream::{HealthzQuery, JetStreamMonitor, JszQuery};
use crate::monitor::metrics::{family, histogram, sample};
use crate::server::Shared;

/// Upper bounds of the latency histograms' buckets, in microseconds (10 us to 2.5 s); one
/// more bucket counts what is slower.
pub const LATENCY_BOUNDS_MICROS: [u64; 17] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
    500_000, 1_000_000, 2_500_000,
];
const BUCKETS: usize = LATENCY_BOUNDS_MICROS.len() + 1;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while copying counters leaves them consistent enough to keep reporting.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------
// What JetStreamShared owns
// ---------------------------------------------------------------------------------------

/// Monitoring's view of JetStream, shared by every core and the monitoring threads (a
/// field of [`JetStreamShared`]).
pub struct Telemetry {
    /// Every live stream's snapshot, by account name and stream name.
    streams: Mutex<BTreeMap<(String, String), Arc<StreamSnapshot>>>,
    /// Time of each `SegmentFiles::sync` that had something to make durable.
    pub fsync: CoreHistogram,
    /// From a publish entering its stream's queue to its PubAck being sent (group-commit
    /// wait included).
    pub publish_ack: CoreHistogram,
}

impl Telemetry {
    pub fn new(cores: usize) -> Telemetry {
        Telemetry {
            streams: Mutex::new(BTreeMap::new()),
            fsync: CoreHistogram::new(cores),
            publish_ack: CoreHistogram::new(cores),
        }
    }

    /// Lists a created or recovered stream (its snapshot already refreshed once).
    pub fn register(&self, snapshot: &Arc<StreamSnapshot>) {
        let key = snapshot.key();
        lock(&self.streams).insert(key, snapshot.clone());
    }

    /// Forgets a deleted stream; a newer stream of the same name stays listed.
    pub fn unregister(&self, snapshot: &Arc<StreamSnapshot>) {
        let key = snapshot.key();
        let mut streams = lock(&self.streams);
        if streams
            .get(&key)
            .is_some_and(|listed| Arc::ptr_eq(listed, snapshot))
        {
            streams.remove(&key);
        }
    }

    /// The listed streams in (account, name) order (the map's lock is released before any
    /// stream's own lock is taken).
    fn streams(&self) -> Vec<Arc<StreamSnapshot>> {
        lock(&self.streams).values().cloned().collect()
    }
}

/// One stream as monitoring sees it: refreshed by the stream's writer after every batch.
pub struct StreamSnapshot {
    /// The name of the account the stream belongs to.
    account: String,
    /// Unix nanoseconds; fixed for the stream's life.
    created_ns: i64,
    view: Mutex<StreamView>,
    /// When the consumers' details were last taken (writer clock, Unix nanoseconds).
    consumers_taken_ns: std::sync::atomic::AtomicI64,
    /// Consumers may have changed since they were taken (a refresh was skipped as too
    /// soon): the writer wakes once more at the next refresh time.
    consumers_stale: std::sync::atomic::AtomicBool,
}

/// How stale `/jsz?consumers=true` may be: the writer rebuilds every consumer's info at
/// most this often (it costs a config clone per consumer), and at once when one comes or
/// goes.
pub const CONSUMER_DETAIL_REFRESH_NS: i64 = 250_000_000;

#[derive(Default)]
struct StreamView {
    config: StreamConfig,
    counts: Counts,
    /// CONSUMER.INFO of each consumer, by name, as last taken.
    consumers: Vec<api::ConsumerInfo>,
    /// Sequences lost to corruption found at recovery, as STREAM.INFO's `state.lost`
    /// (bounded by the store's `LOST_SEQS_MAX`; copied only when it changes).
    lost: Option<api::LostStreamData>,
}

/// nats-server's `FastState`: the counters without the deleted list or lost data.
#[derive(Clone, Copy, Default)]
struct Counts {
    messages: u64,
    bytes: u64,
    first_seq: u64,
    first_ts_ns: i64,
    last_seq: u64,
    last_ts_ns: i64,
    num_subjects: u64,
    num_deleted: u64,
    consumer_count: u64,
}

impl StreamSnapshot {
    /// An empty snapshot; the stream's first `report_usage` fills it in.
    pub fn new(account: &str, created_ns: i64) -> Arc<StreamSnapshot> {
        Arc::new(StreamSnapshot {
            account: account.to_string(),
            created_ns,
            view: Mutex::new(StreamView::default()),
            consumers_taken_ns: std::sync::atomic::AtomicI64::new(0),
            consumers_stale: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Whether the writer should take the consumers' details now (`count` consumers exist).
    pub fn consumers_due(&self, now_ns: i64, count: usize) -> bool {
        let taken = self.consumers_taken_ns.load(Ordering::Relaxed);
        let due = now_ns.saturating_sub(taken) >= CONSUMER_DETAIL_REFRESH_NS
            || lock(&self.view).consumers.len() != count;
        if !due {
            self.consumers_stale.store(true, Ordering::Relaxed);
        }
        due
    }

    /// When the writer should wake to take skipped consumer changes (if any were).
    pub fn consumers_refresh_at_ns(&self) -> Option<i64> {
        self.consumers_stale.load(Ordering::Relaxed).then(|| {
            self.consumers_taken_ns
                .load(Ordering::Relaxed)
                .saturating_add(CONSUMER_DETAIL_REFRESH_NS)
        })
    }

    /// The writer's fresh CONSUMER.INFO of every consumer.
    pub fn refresh_consumers(&self, now_ns: i64, consumers: Vec<api::ConsumerInfo>) {
        lock(&self.view).consumers = consumers;
        self.consumers_taken_ns.store(now_ns, Ordering::Relaxed);
        self.consumers_stale.store(false, Ordering::Relaxed);
    }

    /// Called by the writer, on the stream's core, once per batch.
    pub fn refresh(&self, config: &StreamConfig, state: &StoreState, consumer_count: u64) {
        let counts = Counts {
            messages: state.messages,
            bytes: state.bytes,
            // A stream that never held a sequence reports 0 as its first (as STREAM.INFO).
            first_seq: if state.last_seq == 0 && state.messages == 0 {
                0
            } else {
                state.first_seq
            },
            first_ts_ns: state.first_ts_ns,
            last_seq: state.last_seq,
            last_ts_ns: state.last_ts_ns,
            num_subjects: state.num_subjects,
            num_deleted: state.num_deleted,
            consumer_count,
        };
        let mut view = lock(&self.view);
        view.counts = counts;
        let lost_changed = view.lost.as_ref().map_or(0, |l| l.msgs.len()) != state.lost_msgs.len()
            || view.lost.as_ref().map_or(0, |l| l.bytes) != state.lost_bytes;
        if lost_changed {
            view.lost = (!state.lost_msgs.is_empty()).then(|| api::LostStreamData {
                msgs: state.lost_msgs.clone(),
                bytes: state.lost_bytes,
            });
        }
        if view.config != *config {
            view.config = config.clone();
        }
    }

    fn key(&self) -> (String, String) {
        (self.account.clone(), lock(&self.view).config.name.clone())
    }

    fn counts(&self) -> (String, Counts) {
        let view = lock(&self.view);
        (view.config.name.clone(), view.counts)
    }

    fn detail(&self, server_name: &str, with_config: bool, consumers: bool) -> StreamDetail {
        let view = lock(&self.view);
        let counts = view.counts;
        // nats-server's `consumer_detail`: each consumer's info, its config only with
        // `config=true`.
        let consumer_detail = if consumers {
            view.consumers
                .iter()
                .filter_map(|info| {
                    let mut value = serde_json::to_value(info).ok()?;
                    if !with_config {
                        if let Some(object) = value.as_object_mut() {
                            object.remove("config");
                        }
                    }
                    Some(value)
                })
                .collect()
        } else {
            Vec::new()
        };
        StreamDetail {
            consumer_detail,
            name: view.config.name.clone(),
            created: GoTime::from_unix_nanos(self.created_ns),
            cluster: api::ClusterInfo {
                leader: server_name.to_string(),
                ..Default::default()
            },
            config: with_config.then(|| view.config.clone()),
            state: api::StreamState {
                messages: counts.messages,
                bytes: counts.bytes,
                first_seq: counts.first_seq,
                first_ts: GoTime::from_unix_nanos_or_zero(counts.first_ts_ns),
                last_seq: counts.last_seq,
                last_ts: GoTime::from_unix_nanos_or_zero(counts.last_ts_ns),
                num_subjects: counts.num_subjects,
                num_deleted: counts.num_deleted,
                consumer_count: counts.consumer_count,
                lost: view.lost.clone(),
                ..Default::default()
            },
        }
    }
}

// ---------------------------------------------------------------------------------------
// Latency histograms
// ---------------------------------------------------------------------------------------

/// A fixed-bucket latency histogram with one slot per core: a core records into its own
/// slot only, so cores never share a cache line; readers sum the slots.
pub struct CoreHistogram {
    slots: Box<[HistogramSlot]>,
}

#[repr(align(128))]
struct HistogramSlot {
    /// Per bucket, not cumulative; the last counts what is above every bound.
    counts: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
}

/// A histogram's counts summed over the cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistogramTotals {
    pub counts: [u64; BUCKETS],
    pub sum_nanos: u64,
}

impl HistogramTotals {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl CoreHistogram {
    pub fn new(cores: usize) -> CoreHistogram {
        CoreHistogram {
            slots: (0..cores.max(1))
                .map(|_| HistogramSlot {
                    counts: std::array::from_fn(|_| AtomicU64::new(0)),
                    sum_nanos: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    /// Two relaxed atomic adds on `core`'s slot.
    pub fn record(&self, core: usize, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        // The first bucket whose bound is >= the observation (Prometheus's `le`).
        let bucket = LATENCY_BOUNDS_MICROS.partition_point(|bound| *bound < micros);
        let slot = &self.slots[core % self.slots.len()];
        slot.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        slot.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn totals(&self) -> HistogramTotals {
        let mut totals = HistogramTotals {
            counts: [0; BUCKETS],
            sum_nanos: 0,
        };
        for slot in self.slots.iter() {
            for (total, count) in totals.counts.iter_mut().zip(&slot.counts) {
                *total += count.load(Ordering::Relaxed);
            }
            totals.sum_nanos = totals
                .sum_nanos
                .wrapping_add(slot.sum_nanos.load(Ordering::Relaxed));
        }
        totals
    }

    /// Prometheus buckets in seconds (the bounds are whole microseconds).
    fn write(&self, out: &mut String, name: &str) {
        let totals = self.totals();
        let mut cumulative = 0;
        let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS_MICROS
            .iter()
            .zip(&totals.counts)
            .map(|(bound, count)| {
                cumulative += count;
                (*bound as f64 / 1e6, cumulative)
            })
            .collect();
        let sum_seconds = totals.sum_nanos as f64 / 1e9;
        histogram(out, name, &[], &buckets, sum_seconds, totals.count());
    }
}

/// The JetStream telemetry of the core this thread runs, once [`bind_core`] was called.
struct CoreBinding {
    js: Arc<JetStreamShared>,
    core: usize,
}

thread_local! {
    static CORE: RefCell<Option<CoreBinding>> = const { RefCell::new(None) };
}

/// Makes this thread record its latencies in `core`'s slots of `js`'s histograms. Called
/// on each core when its JetStream starts.
pub fn bind_core(js: &Arc<JetStreamShared>, core: usize) {
    CORE.with_borrow_mut(|bound| {
        *bound = Some(CoreBinding {
            js: js.clone(),
            core,
        })
    });
}

fn record_on_core(elapsed: Duration, pick: fn(&Telemetry) -> &CoreHistogram) {
    CORE.with_borrow(|bound| {
        if let Some(binding) = bound {
            pick(&binding.js.telemetry).record(binding.core, elapsed);
        }
    });
}

/// One `SegmentFiles::sync` took `elapsed` (a no-op off the cores, e.g. in unit tests).
pub fn record_fsync(elapsed: Duration) {
    record_on_core(elapsed, |t| &t.fsync);
}

/// A PubAck went out `elapsed` after its publish entered the stream's queue.
pub fn record_publish_ack(elapsed: Duration) {
    record_on_core(elapsed, |t| &t.publish_ack);
}

// ---------------------------------------------------------------------------------------
// The provider
// ---------------------------------------------------------------------------------------

/// nats-server reports an account without reserved limits as `uint64(-1)`.
const UNLIMITED_RESERVATION: u64 = u64::MAX;

/// JetStream's answers to monitoring; installed once at startup with
/// [`crate::monitor::jetstream::install`].
pub struct Provider {
    js: Arc<JetStreamShared>,
    /// Weak: the server's shared state holds the provider.
    server: Weak<Shared>,
    server_name: String,
}

impl Provider {
    pub fn new(js: Arc<JetStreamShared>, server: &Arc<Shared>) -> Provider {
        Provider {
            js,
            server: Arc::downgrade(server),
            server_name: server.server_name.clone(),
        }
    }

    fn config(&self) -> ConfigJson {
        let (sync_interval, sync_always) = match self.js.sync {
            SyncInterval::Always => (None, true),
            SyncInterval::EveryMs(ms) => (Some(ms.saturating_mul(1_000_000)), false),
        };
        ConfigJson {
            max_memory: self.js.max_memory_bytes,
            max_storage: self.js.max_store_bytes,
            store_dir: self.js.store_dir.display().to_string(),
            sync_interval,
            sync_always,
        }
    }

    /// Server-wide figures.
    fn stats(&self, accounts: u64) -> StatsJson {
        StatsJson {
            memory: self.js.memory_used().max(0) as u64,
            storage: self.js.storage_used().max(0) as u64,
            reserved_memory: 0,
            reserved_storage: 0,
            accounts,
            ha_assets: 0,
            api: ApiJson {
                total: self.js.api_total.load(Ordering::Relaxed),
                errors: self.js.api_errors.load(Ordering::Relaxed),
            },
        }
    }

    /// One account's figures, as nats-server 2.9.10 fills `account_details`: its usage,
    /// its limits as the "reservations" (`uint64(-1)` when unlimited) and its API counts.
    fn account_stats(account: &JsAccount) -> StatsJson {
        let limits = account.limits();
        let reservation = |limit: i64| u64::try_from(limit).unwrap_or(UNLIMITED_RESERVATION);
        StatsJson {
            memory: account.used_bytes(api::StorageType::Memory).max(0) as u64,
            storage: account.used_bytes(api::StorageType::File).max(0) as u64,
            reserved_memory: reservation(limits.max_memory_bytes),
            reserved_storage: reservation(limits.max_storage_bytes),
            accounts: 0,
            ha_assets: 0,
            api: ApiJson {
                total: account.api_total.load(Ordering::Relaxed),
                errors: account.api_errors.load(Ordering::Relaxed),
            },
        }
    }

    /// The JetStream accounts `/jsz` details: `acc=<name>` selects that account alone;
    /// otherwise `accounts=true` pages them (`offset`, `limit`) in name order.
    fn account_details(
        &self,
        query: &JszQuery,
        accounts: &[Arc<JsAccount>],
        streams: &[Arc<StreamSnapshot>],
    ) -> Vec<AccountDetail> {
        let mut sorted: Vec<&Arc<JsAccount>> = accounts.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let selected: Vec<&Arc<JsAccount>> = match query.account.as_deref() {
            Some(name) if !name.is_empty() => {
                sorted.into_iter().filter(|a| a.name == name).collect()
            }
            _ if query.accounts => sorted
                .into_iter()
                .skip(query.offset)
                .take(query.limit)
                .collect(),
            _ => Vec::new(),
        };
        selected
            .into_iter()
            .map(|account| {
                let stream_detail = if query.streams {
                    streams
                        .iter()
                        .filter(|s| s.account == account.name)
                        .map(|s| s.detail(&self.server_name, query.config, query.consumers))
                        .collect()
                } else {
                    Vec::new()
                };
                AccountDetail {
                    name: account.name.clone(),
                    id: account.name.clone(),
                    stats: Self::account_stats(account),
                    stream_detail,
                }
            })
            .collect()
    }
}

impl JetStreamMonitor for Provider {
    fn jsz(&self, query: &JszQuery) -> Result<Value, String> {
        // A standalone server is its own meta leader, so `leader-only` changes nothing.
        let streams = self.js.telemetry.streams();
        let (mut messages, mut bytes) = (0u64, 0u64);
        for stream in &streams {
            let (_, counts) = stream.counts();
            messages += counts.messages;
            bytes += counts.bytes;
        }
        let accounts = self.js.all_accounts();
        let jsz = Jsz {
            config: self.config(),
            stats: self.stats(accounts.len() as u64),
            streams: streams.len() as u64,
            consumers: self.js.consumers.load(Ordering::Relaxed) as u64,
            messages,
            bytes,
            account_details: self.account_details(query, &accounts, &streams),
        };
        serde_json::to_value(&jsz).map_err(|e| e.to_string())
    }

    fn varz_section(&self) -> Value {
        let varz = VarzJetStream {
            config: self.config(),
            stats: self.stats(self.js.all_accounts().len() as u64),
        };
        serde_json::to_value(&varz).unwrap_or(Value::Null)
    }

    fn metrics(&self, out: &mut String) {
        let js = &self.js;
        let streams: Vec<(String, String, Counts)> = js
            .telemetry
            .streams()
            .iter()
            .map(|s| {
                let (name, counts) = s.counts();
                (s.account.clone(), name, counts)
            })
            .collect();
        let gauges: [(&str, &str, f64); 6] = [
            (
                "tern_jetstream_streams",
                "Streams on this server.",
                streams.len() as f64,
            ),
            (
                "tern_jetstream_consumers",
                "Consumers on this server.",
                js.consumers.load(Ordering::Relaxed) as f64,
            ),
            (
                "tern_jetstream_memory_bytes",
                "Bytes stored by memory streams.",
                js.memory_used().max(0) as f64,
            ),
            (
                "tern_jetstream_storage_bytes",
                "Bytes stored by file streams.",
                js.storage_used().max(0) as f64,
            ),
            (
                "tern_jetstream_memory_limit_bytes",
                "The server's max_memory_store.",
                js.max_memory_bytes as f64,
            ),
            (
                "tern_jetstream_storage_limit_bytes",
                "The server's max_file_store.",
                js.max_store_bytes as f64,
            ),
        ];
        for (name, help, value) in gauges {
            family(out, name, "gauge", help);
            sample(out, name, &[], value);
        }
        family(
            out,
            "tern_jetstream_stream_messages",
            "gauge",
            "Messages in the stream (as of its last write batch).",
        );
        for (account, name, counts) in &streams {
            sample(
                out,
                "tern_jetstream_stream_messages",
                &[("account", account), ("stream", name)],
                counts.messages as f64,
            );
        }
        family(
            out,
            "tern_jetstream_stream_bytes",
            "gauge",
            "Bytes in the stream (as of its last write batch).",
        );
        for (account, name, counts) in &streams {
            sample(
                out,
                "tern_jetstream_stream_bytes",
                &[("account", account), ("stream", name)],
                counts.bytes as f64,
            );
        }
        let counters = [
            (
                "tern_jetstream_api_requests_total",
                "$JS.API requests received.",
                &js.api_total,
            ),
            (
                "tern_jetstream_api_errors_total",
                "$JS.API requests answered with an error.",
                &js.api_errors,
            ),
        ];
        for (name, help, counter) in counters {
            family(out, name, "counter", help);
            sample(out, name, &[], counter.load(Ordering::Relaxed) as f64);
        }
        family(
            out,
            "tern_jetstream_fsync_duration_seconds",
            "histogram",
            "Time to make one write batch of a file stream durable (fdatasync of its segments).",
        );
        js.telemetry
            .fsync
            .write(out, "tern_jetstream_fsync_duration_seconds");
        family(
            out,
            "tern_jetstream_publish_ack_duration_seconds",
            "histogram",
            "From a publish entering its stream's queue to its PubAck being sent, group-commit wait included.",
        );
        js.telemetry
            .publish_ack
            .write(out, "tern_jetstream_publish_ack_duration_seconds");
    }

    fn account_enabled(&self, account: &str) -> bool {
        self.js.all_accounts().iter().any(|a| a.name == account)
    }

    fn wait_for_auth(&self, version: u64) -> bool {
        super::accounts::wait_for_auth(&self.js, version)
    }

    fn healthz(&self, _query: &HealthzQuery) -> Result<(), String> {
        // Standalone, as nats-server: JetStream is healthy once it runs, with or without
        // `js-enabled-only` / `js-server-only` (there is no meta group to be current with).
        // It runs once every core has recovered its streams.
        match self.server.upgrade() {
            Some(server) if server.startup_holds.load(Ordering::Acquire) > 0 => {
                Err("JetStream is recovering its streams".to_string())
            }
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// JSON (nats-server's JSInfo, AccountDetail, StreamDetail, JetStreamVarz)
// ---------------------------------------------------------------------------------------

/// nats-server's `JetStreamConfig`. 2.9.10 sends only `max_memory`, `max_storage` and
/// `store_dir`; tern adds the sync policy with the names 2.10+ use, because tern's
/// default (fsync before every PubAck) differs from nats-server's (every 2 minutes).
#[derive(Serialize)]
struct ConfigJson {
    max_memory: i64,
    max_storage: i64,
    store_dir: String,
    /// Nanoseconds, as Go's `time.Duration`.
    #[serde(skip_serializing_if = "Option::is_none")]
    sync_interval: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    sync_always: bool,
}

/// nats-server's `JetStreamStats`.
#[derive(Serialize)]
struct StatsJson {
    memory: u64,
    storage: u64,
    reserved_memory: u64,
    reserved_storage: u64,
    accounts: u64,
    ha_assets: u64,
    api: ApiJson,
}

#[derive(Serialize)]
struct ApiJson {
    total: u64,
    errors: u64,
}

/// nats-server's `JSInfo` after `server_id` and `now`.
#[derive(Serialize)]
struct Jsz {
    config: ConfigJson,
    #[serde(flatten)]
    stats: StatsJson,
    streams: u64,
    consumers: u64,
    messages: u64,
    bytes: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    account_details: Vec<AccountDetail>,
}

#[derive(Serialize)]
struct AccountDetail {
    name: String,
    id: String,
    #[serde(flatten)]
    stats: StatsJson,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stream_detail: Vec<StreamDetail>,
}

/// nats-server's `StreamDetail`.
#[derive(Serialize)]
struct StreamDetail {
    name: String,
    created: GoTime,
    cluster: api::ClusterInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<StreamConfig>,
    state: api::StreamState,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    consumer_detail: Vec<Value>,
}

/// nats-server's `JetStreamVarz` on a server without a meta group.
#[derive(Serialize)]
struct VarzJetStream {
    config: ConfigJson,
    stats: StatsJson,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_prometheus_le_and_cores_add_up() {
        let h = CoreHistogram::new(2);
        h.record(0, Duration::from_micros(10)); // on the first bound: that bucket
        h.record(1, Duration::from_nanos(10_001)); // 10 us by whole micros
        h.record(1, Duration::from_micros(11));
        h.record(0, Duration::from_secs(10)); // above every bound
        let totals = h.totals();
        assert_eq!(totals.counts[0], 2);
        assert_eq!(totals.counts[1], 1);
        assert_eq!(totals.counts[BUCKETS - 1], 1);
        assert_eq!(totals.count(), 4);
        assert_eq!(totals.sum_nanos, 10_000 + 10_001 + 11_000 + 10_000_000_000);
        let mut out = String::new();
        h.write(&mut out, "h");
        assert!(out.contains("h_bucket{le=\"0.00001\"} 2\n"), "{out}");
        assert!(out.contains("h_bucket{le=\"0.000025\"} 3\n"), "{out}");
        assert!(out.contains("h_bucket{le=\"2.5\"} 3\n"), "{out}");
        assert!(out.contains("h_bucket{le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("h_count 4\n"), "{out}");
    }

    #[test]
    fn registry_keeps_a_newer_stream_of_the_same_name() {
        let telemetry = Telemetry::new(1);
        let config = StreamConfig {
            name: "S".into(),
            ..Default::default()
        };
        let state = StoreState {
            messages: 0,
            bytes: 0,
            first_seq: 1,
            first_ts_ns: 0,
            last_seq: 0,
            last_ts_ns: 0,
            num_subjects: 0,
            num_deleted: 0,
            lost_msgs: Vec::new(),
            lost_bytes: 0,
        };
        let old = StreamSnapshot::new("$G", 1);
        old.refresh(&config, &state, 0);
        telemetry.register(&old);
        let new = StreamSnapshot::new("$G", 2);
        new.refresh(&config, &state, 0);
        telemetry.register(&new);
        telemetry.unregister(&old);
        assert_eq!(telemetry.streams().len(), 1);
        assert!(Arc::ptr_eq(&telemetry.streams()[0], &new));
        // Never held a sequence: first_seq 0, as STREAM.INFO says.
        assert_eq!(new.detail("n", false, false).state.first_seq, 0);
        telemetry.unregister(&new);
        assert!(telemetry.streams().is_empty());
    }
}
