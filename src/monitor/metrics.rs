//! `/metrics`: Prometheus text exposition (format 0.0.4), written natively, `tern_` prefixed,
//! per-core figures labelled `core="N"` and mesh figures `from="N",to="M"`.
//!
//! The writing helpers (`family`, `sample`, `histogram`) are public so the JetStream
//! provider can append well-formed families of its own.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::process::{resident_bytes, Sample};
use super::varz::index_entries;
use super::{jetstream, Monitor};
use crate::server::NATS_VERSION;

/// Starts a family: `# HELP` and `# TYPE` lines. `kind` is counter, gauge or histogram.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One sample line: `name{label="value",...} value`.
pub fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    write_labels(out, labels);
    out.push(' ');
    out.push_str(&format_value(value));
    out.push('\n');
}

/// A histogram from cumulative bucket counts: `buckets[i]` is (upper bound, observations
/// <= that bound), bounds ascending; `+Inf` is added from `count`.
pub fn histogram(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    buckets: &[(f64, u64)],
    sum: f64,
    count: u64,
) {
    let bucket_name = format!("{name}_bucket");
    for (bound, cumulative) in buckets {
        let le = format_value(*bound);
        let mut with_le: Vec<(&str, &str)> = labels.to_vec();
        with_le.push(("le", &le));
        sample(out, &bucket_name, &with_le, *cumulative as f64);
    }
    let mut with_inf: Vec<(&str, &str)> = labels.to_vec();
    with_inf.push(("le", "+Inf"));
    sample(out, &bucket_name, &with_inf, count as f64);
    sample(out, &format!("{name}_sum"), labels, sum);
    sample(out, &format!("{name}_count"), labels, count as f64);
}

fn write_labels(out: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (key, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(key);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// A fixed-bucket histogram of durations in seconds, safe to record from any thread.
pub struct LatencyHistogram {
    bounds_seconds: &'static [f64],
    /// Per bucket (not cumulative); the last slot is above every bound.
    counts: Vec<AtomicU64>,
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    pub fn new(bounds_seconds: &'static [f64]) -> LatencyHistogram {
        LatencyHistogram {
            bounds_seconds,
            counts: (0..=bounds_seconds.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub fn record(&self, elapsed: std::time::Duration) {
        let seconds = elapsed.as_secs_f64();
        let slot = self
            .bounds_seconds
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(self.bounds_seconds.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn write(&self, out: &mut String, name: &str, labels: &[(&str, &str)]) {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(self.bounds_seconds.len());
        for (i, bound) in self.bounds_seconds.iter().enumerate() {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            buckets.push((*bound, cumulative));
        }
        let count = cumulative + self.counts[self.bounds_seconds.len()].load(Ordering::Relaxed);
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        histogram(out, name, labels, &buckets, sum, count);
    }
}

/// Bucket bounds for monitoring request latency: 100 us to 5 s.
pub const REQUEST_SECONDS_BOUNDS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

pub fn metrics(monitor: &Monitor, process: &Sample) -> String {
    let shared = &monitor.shared;
    let registry = &shared.registry;
    let mut out = String::with_capacity(16 * 1024);
    let cores: Vec<String> = (0..shared.cores.len()).map(|c| c.to_string()).collect();

    family(
        &mut out,
        "tern_info",
        "gauge",
        "Server identity; the value is always 1.",
    );
    sample(
        &mut out,
        "tern_info",
        &[
            ("server_id", &shared.server_id),
            ("server_name", &shared.server_name),
            ("version", env!("CARGO_PKG_VERSION")),
            ("nats_version", NATS_VERSION),
        ],
        1.0,
    );
    family(
        &mut out,
        "tern_start_time_seconds",
        "gauge",
        "When the server started, in seconds since the Unix epoch.",
    );
    let started = shared
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    sample(&mut out, "tern_start_time_seconds", &[], started);

    family(
        &mut out,
        "tern_process_resident_memory_bytes",
        "gauge",
        "Resident memory of the process.",
    );
    sample(
        &mut out,
        "tern_process_resident_memory_bytes",
        &[],
        resident_bytes() as f64,
    );
    family(
        &mut out,
        "tern_process_cpu_seconds_total",
        "counter",
        "CPU time the process has used.",
    );
    sample(
        &mut out,
        "tern_process_cpu_seconds_total",
        &[],
        process.cpu_seconds,
    );

    family(
        &mut out,
        "tern_connections_accepted_total",
        "counter",
        "Client connections admitted since start.",
    );
    sample(
        &mut out,
        "tern_connections_accepted_total",
        &[],
        shared.total_connections.load(Ordering::Relaxed) as f64,
    );
    family(
        &mut out,
        "tern_subscriptions_indexed",
        "gauge",
        "Subscriptions in the subject indexes of all cores (clients and server-side services).",
    );
    sample(
        &mut out,
        "tern_subscriptions_indexed",
        &[],
        index_entries(monitor) as f64,
    );

    type Counter = fn(&crate::server::ShardStats) -> u64;
    let per_core: [(&str, &str, &str, Counter); 8] = [
        ("tern_connections", "gauge", "Open client connections on the core.", |s| {
            s.connections.load(Ordering::Relaxed)
        }),
        ("tern_subscriptions", "gauge", "Client subscriptions on the core.", |s| {
            s.subscriptions.load(Ordering::Relaxed)
        }),
        ("tern_in_msgs_total", "counter", "Messages received from clients on the core.", |s| {
            s.in_msgs.load(Ordering::Relaxed)
        }),
        ("tern_out_msgs_total", "counter", "Messages delivered to clients on the core.", |s| {
            s.out_msgs.load(Ordering::Relaxed)
        }),
        ("tern_in_bytes_total", "counter", "Payload bytes received from clients on the core.", |s| {
            s.in_bytes.load(Ordering::Relaxed)
        }),
        ("tern_out_bytes_total", "counter", "Payload bytes delivered to clients on the core.", |s| {
            s.out_bytes.load(Ordering::Relaxed)
        }),
        ("tern_slow_consumers_total", "counter", "Connections closed as slow consumers on the core.", |s| {
            s.slow_consumers.load(Ordering::Relaxed)
        }),
        (
            "tern_mesh_backpressure_events_total",
            "counter",
            "Times a connection on the core stopped being read because an outbox to another core was full.",
            |s| s.outbox_full_events.load(Ordering::Relaxed),
        ),
    ];
    for (name, kind, help, counter) in per_core {
        family(&mut out, name, kind, help);
        for (core, stats) in shared.stats.iter().enumerate() {
            sample(
                &mut out,
                name,
                &[("core", &cores[core])],
                counter(stats) as f64,
            );
        }
    }

    family(
        &mut out,
        "tern_core_cpu_seconds_total",
        "counter",
        "CPU time used by the core's thread.",
    );
    for (core, figures) in process.cores.iter().enumerate() {
        if let Some(label) = cores.get(core) {
            sample(
                &mut out,
                "tern_core_cpu_seconds_total",
                &[("core", label)],
                figures.cpu_seconds,
            );
        }
    }

    family(
        &mut out,
        "tern_mesh_ring_full_events_total",
        "counter",
        "Times a batch from the core found the ring to another core full.",
    );
    for (core, slot) in registry.cores().iter().enumerate() {
        sample(
            &mut out,
            "tern_mesh_ring_full_events_total",
            &[("core", &cores[core])],
            slot.ring_full_events.load(Ordering::Relaxed) as f64,
        );
    }
    let pairs: Vec<(usize, usize)> = (0..cores.len())
        .flat_map(|from| (0..cores.len()).map(move |to| (from, to)))
        .filter(|(from, to)| from != to)
        .collect();
    family(
        &mut out,
        "tern_mesh_ring_depth_batches",
        "gauge",
        "Batches in the ring from one core to another, not yet taken by the receiver.",
    );
    for &(from, to) in &pairs {
        sample(
            &mut out,
            "tern_mesh_ring_depth_batches",
            &[("from", &cores[from]), ("to", &cores[to])],
            registry.ring_depth(from, to) as f64,
        );
    }
    family(
        &mut out,
        "tern_mesh_outbox_events",
        "gauge",
        "Events waiting in a core's outbox to another core (sampled every control tick).",
    );
    for &(from, to) in &pairs {
        sample(
            &mut out,
            "tern_mesh_outbox_events",
            &[("from", &cores[from]), ("to", &cores[to])],
            registry.core(from).outbox_events[to].load(Ordering::Relaxed) as f64,
        );
    }
    family(
        &mut out,
        "tern_mesh_batches_sent_total",
        "counter",
        "Batches one core put into the ring to another.",
    );
    for &(from, to) in &pairs {
        sample(
            &mut out,
            "tern_mesh_batches_sent_total",
            &[("from", &cores[from]), ("to", &cores[to])],
            registry.core(from).batches_sent[to].load(Ordering::Relaxed) as f64,
        );
    }

    family(
        &mut out,
        "tern_monitor_requests_total",
        "counter",
        "Monitoring HTTP requests by path.",
    );
    for (path, count) in monitor.request_counts() {
        sample(
            &mut out,
            "tern_monitor_requests_total",
            &[("path", &path)],
            count as f64,
        );
    }
    family(
        &mut out,
        "tern_monitor_request_duration_seconds",
        "histogram",
        "Time to answer a monitoring request.",
    );
    monitor
        .request_latency
        .write(&mut out, "tern_monitor_request_duration_seconds", &[]);

    family(
        &mut out,
        "tern_jetstream_enabled",
        "gauge",
        "1 when JetStream is running and reporting to monitoring.",
    );
    let provider = jetstream::provider(shared);
    sample(
        &mut out,
        "tern_jetstream_enabled",
        &[],
        if provider.is_some() { 1.0 } else { 0.0 },
    );
    if let Some(provider) = provider {
        provider.metrics(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_labels_and_formats_values() {
        let mut out = String::new();
        sample(&mut out, "m", &[("a", "x\"y\\z\nw")], 2.5);
        sample(&mut out, "m", &[], 3.0);
        assert_eq!(out, "m{a=\"x\\\"y\\\\z\\nw\"} 2.5\nm 3\n");
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        const BOUNDS: &[f64] = &[0.001, 0.01];
        let h = LatencyHistogram::new(BOUNDS);
        h.record(std::time::Duration::from_micros(500));
        h.record(std::time::Duration::from_millis(5));
        h.record(std::time::Duration::from_secs(1));
        let mut out = String::new();
        h.write(&mut out, "h", &[]);
        assert!(out.contains("h_bucket{le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("h_bucket{le=\"0.01\"} 2\n"), "{out}");
        assert!(out.contains("h_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("h_count 3\n"), "{out}");
    }
}
