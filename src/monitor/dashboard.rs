//! The live dashboard at `/` (one static page, embedded) and `/coresz`, tern's own per-core
//! JSON that the page polls next to `/varz`.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use serde::Serialize;

use super::format::{serialize_float, serialize_time};
use super::process::Sample;
use super::varz::core_figures;
use super::{jetstream, Monitor};

/// The page: HTML, CSS and script in one file, no external resources.
pub const PAGE: &str = include_str!("dashboard.html");

#[derive(Serialize)]
struct Coresz<'a> {
    server_id: &'a str,
    #[serde(serialize_with = "serialize_time")]
    now: SystemTime,
    jetstream: bool,
    cores: Vec<CoreLoad>,
}

#[derive(Serialize)]
struct CoreLoad {
    core: usize,
    /// The CPU the core is pinned to.
    cpu: Option<usize>,
    #[serde(serialize_with = "serialize_float")]
    cpu_percent: f64,
    connections: u64,
    subscriptions: u64,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    #[serde(serialize_with = "serialize_float")]
    in_msgs_per_second: f64,
    #[serde(serialize_with = "serialize_float")]
    out_msgs_per_second: f64,
    #[serde(serialize_with = "serialize_float")]
    in_bytes_per_second: f64,
    #[serde(serialize_with = "serialize_float")]
    out_bytes_per_second: f64,
    slow_consumers: u64,
    /// Times a connection here stopped being read because an outbox to a peer was full.
    backpressure_events: u64,
    /// Times a batch from here found a ring full.
    ring_full_events: u64,
    /// Batches other cores have put in the rings to this core, not yet taken.
    ring_depth_in: u64,
    /// Events waiting in this core's outboxes to all peers.
    outbox_events: u64,
}

pub fn coresz<'a>(monitor: &'a Monitor, sample: &Sample) -> impl Serialize + 'a {
    let shared = &monitor.shared;
    let registry = &shared.registry;
    let count = shared.cores.len();
    let cores = core_figures(monitor)
        .into_iter()
        .map(|figures| {
            let core = figures.core;
            let rates = sample.cores.get(core).cloned().unwrap_or_default();
            let slot = registry.core(core);
            CoreLoad {
                core,
                cpu: figures.cpu,
                cpu_percent: rates.cpu_percent,
                connections: figures.connections,
                subscriptions: figures.subscriptions,
                in_msgs: figures.in_msgs,
                out_msgs: figures.out_msgs,
                in_bytes: figures.in_bytes,
                out_bytes: figures.out_bytes,
                in_msgs_per_second: rates.in_msgs_per_second,
                out_msgs_per_second: rates.out_msgs_per_second,
                in_bytes_per_second: rates.in_bytes_per_second,
                out_bytes_per_second: rates.out_bytes_per_second,
                slow_consumers: figures.slow_consumers,
                backpressure_events: figures.mesh_backpressure_events,
                ring_full_events: slot.ring_full_events.load(Ordering::Relaxed),
                ring_depth_in: (0..count)
                    .filter(|&from| from != core)
                    .map(|from| registry.ring_depth(from, core))
                    .sum(),
                outbox_events: slot
                    .outbox_events
                    .iter()
                    .map(|e| e.load(Ordering::Relaxed))
                    .sum(),
            }
        })
        .collect();
    Coresz {
        server_id: &shared.server_id,
        now: SystemTime::now(),
        jetstream: jetstream::provider(shared).is_some(),
        cores,
    }
}
