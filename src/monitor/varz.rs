//! `/varz`: the server's settings and counters, with nats-server's field names, types and
//! order (its `Varz` struct), plus tern's per-core figures in `tern_cores`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{json, Value};

use super::format::{serialize_float, serialize_time, uptime};
use super::process::{available_cpus, resident_bytes, Sample};
use super::{jetstream, Monitor};
use crate::server::{ShardStats, NATS_VERSION};

#[derive(Serialize)]
pub struct Varz {
    server_id: String,
    server_name: String,
    version: &'static str,
    proto: u32,
    go: String,
    host: String,
    port: u16,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    auth_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_verify: bool,
    max_connections: usize,
    #[serde(skip_serializing_if = "is_zero")]
    max_subscriptions: usize,
    /// Nanoseconds, as Go's `time.Duration`.
    ping_interval: u64,
    ping_max: u32,
    http_host: String,
    http_port: u16,
    http_base_path: &'static str,
    https_port: u16,
    #[serde(serialize_with = "serialize_float")]
    auth_timeout: f64,
    max_control_line: usize,
    max_payload: usize,
    max_pending: usize,
    cluster: Value,
    gateway: Value,
    leaf: Value,
    mqtt: Value,
    websocket: Value,
    jetstream: Value,
    #[serde(serialize_with = "serialize_float")]
    tls_timeout: f64,
    write_deadline: u64,
    #[serde(serialize_with = "serialize_time")]
    start: SystemTime,
    #[serde(serialize_with = "serialize_time")]
    now: SystemTime,
    uptime: String,
    mem: u64,
    cores: usize,
    gomaxprocs: usize,
    #[serde(serialize_with = "serialize_float")]
    cpu: f64,
    connections: usize,
    total_connections: u64,
    routes: u32,
    remotes: u32,
    leafnodes: u32,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    slow_consumers: u64,
    subscriptions: u64,
    http_req_stats: BTreeMap<String, u64>,
    #[serde(serialize_with = "serialize_time")]
    config_load_time: SystemTime,
    /// nats-server 2.10's breakdown; only clients can be slow consumers in tern so far.
    slow_consumer_stats: SlowConsumerStats,
    /// tern's own: the same counters per core.
    tern_cores: Vec<CoreVarz>,
}

#[derive(Serialize)]
struct SlowConsumerStats {
    clients: u64,
    routes: u64,
    gateways: u64,
    leafs: u64,
}

#[derive(Serialize)]
pub struct CoreVarz {
    pub core: usize,
    pub cpu: Option<usize>,
    pub connections: u64,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub subscriptions: u64,
    pub slow_consumers: u64,
    pub mesh_backpressure_events: u64,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Sums one counter over the cores.
pub fn total(stats: &[ShardStats], counter: impl Fn(&ShardStats) -> u64) -> u64 {
    stats.iter().map(counter).sum()
}

/// Subscriptions in the client-visible subject indexes of all cores (what nats-server's
/// sublist counts: clients' and server-side services' subscriptions).
pub fn index_entries(monitor: &Monitor) -> u64 {
    let registry = &monitor.shared.registry;
    registry
        .cores()
        .iter()
        .map(|c| c.index_entries.load(Ordering::Relaxed))
        .sum()
}

pub fn core_figures(monitor: &Monitor) -> Vec<CoreVarz> {
    let shared = &monitor.shared;
    shared
        .stats
        .iter()
        .enumerate()
        .map(|(i, s)| CoreVarz {
            core: i,
            cpu: shared.cores.get(i).copied(),
            connections: s.connections.load(Ordering::Relaxed),
            in_msgs: s.in_msgs.load(Ordering::Relaxed),
            out_msgs: s.out_msgs.load(Ordering::Relaxed),
            in_bytes: s.in_bytes.load(Ordering::Relaxed),
            out_bytes: s.out_bytes.load(Ordering::Relaxed),
            subscriptions: s.subscriptions.load(Ordering::Relaxed),
            slow_consumers: s.slow_consumers.load(Ordering::Relaxed),
            mesh_backpressure_events: s.outbox_full_events.load(Ordering::Relaxed),
        })
        .collect()
}

pub fn varz(monitor: &Monitor, sample: &Sample) -> Varz {
    let shared = &monitor.shared;
    let o = &shared.options;
    // What a reload may have changed.
    let live = &shared.limits;
    let stats = &shared.stats;
    let load = |f: fn(&ShardStats) -> &std::sync::atomic::AtomicU64| {
        total(stats, |s| f(s).load(Ordering::Relaxed))
    };
    let slow_consumers = load(|s| &s.slow_consumers);
    let jetstream = match jetstream::provider(shared) {
        Some(provider) => provider.varz_section(),
        None => json!({}),
    };
    Varz {
        server_id: shared.server_id.clone(),
        server_name: shared.server_name.clone(),
        version: NATS_VERSION,
        proto: 1,
        go: format!("tern {}", env!("CARGO_PKG_VERSION")),
        host: o.host.clone(),
        port: shared.client_addr.port(),
        auth_required: shared.auth.load().required(),
        tls_required: shared.tls.is_some(),
        tls_verify: shared.tls.as_ref().is_some_and(|t| t.verify),
        max_connections: live.max_connections(),
        max_subscriptions: o.max_subscriptions,
        ping_interval: live.ping_interval_ms().saturating_mul(1_000_000),
        ping_max: live.ping_max(),
        http_host: monitor.http_addr.ip().to_string(),
        http_port: monitor.http_addr.port(),
        http_base_path: "",
        https_port: 0,
        auth_timeout: live.auth_timeout_ms() as f64 / 1000.0,
        max_control_line: live.max_control_line_bytes(),
        max_payload: live.max_payload_bytes(),
        max_pending: o.max_pending_bytes,
        cluster: json!({}),
        gateway: json!({}),
        leaf: json!({}),
        mqtt: json!({}),
        websocket: json!({}),
        jetstream,
        // Reported even without TLS (then nats-server's default), as nats-server does.
        tls_timeout: shared.tls.as_ref().map_or(
            crate::config::options::TLS_TIMEOUT_MS_DEFAULT as f64 / 1000.0,
            |t| t.timeout_seconds(),
        ),
        write_deadline: live.write_deadline_ms().saturating_mul(1_000_000),
        start: shared.started,
        now: SystemTime::now(),
        uptime: uptime(shared.started_instant.elapsed()),
        mem: resident_bytes(),
        cores: available_cpus(),
        gomaxprocs: shared.cores.len(),
        cpu: sample.cpu_percent,
        connections: shared.connection_count(),
        total_connections: shared.total_connections.load(Ordering::Relaxed),
        routes: 0,
        remotes: 0,
        leafnodes: 0,
        in_msgs: load(|s| &s.in_msgs),
        out_msgs: load(|s| &s.out_msgs),
        in_bytes: load(|s| &s.in_bytes),
        out_bytes: load(|s| &s.out_bytes),
        slow_consumers,
        subscriptions: index_entries(monitor),
        http_req_stats: monitor.request_counts(),
        config_load_time: shared.limits.config_load_time(),
        slow_consumer_stats: SlowConsumerStats {
            clients: slow_consumers,
            routes: 0,
            gateways: 0,
            leafs: 0,
        },
        tern_cores: core_figures(monitor),
    }
}
