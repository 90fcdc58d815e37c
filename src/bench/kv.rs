//! `tern bench kv put|get`: synchronous Key-Value operations against any server, as an
//! application does them: each client sends one operation and waits for its answer before
//! the next (a put is a publish to `$KV.<bucket>.<key>` answered by a PubAck; a get is a
//! `$JS.API.DIRECT.GET.KV_<bucket>.$KV.<bucket>.<key>`). Keys cycle over `--keys`.
//!
//! The bucket is created as the clients create it (history 1, `allow_direct`), or reused.
//! `get` first fills every key once, outside the measurement.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde_json::json;

use super::options::{parse_duration, parse_server, parse_size, ConnectionArgs};
use super::stats::new_histogram;
use crate::cli::client::{status_code, Client};

/// Clients one run may start (each is a thread and a connection).
pub const KV_BENCH_CLIENTS_MAX: usize = 1024;
/// Keys one run may cycle over.
pub const KV_BENCH_KEYS_MAX: usize = 10_000_000;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvOp {
    Put,
    Get,
}

#[derive(Args, Debug, Clone)]
pub struct KvBenchArgs {
    #[arg(value_enum)]
    pub op: KvOp,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Concurrent clients, each with its own connection
    #[arg(long, default_value_t = 1)]
    pub clients: usize,
    /// Distinct keys, cycled over
    #[arg(long, default_value_t = 1000)]
    pub keys: usize,
    /// Value size (bytes, or 1k, 1KiB...)
    #[arg(long, default_value = "128")]
    pub size: String,
    /// How long to measure
    #[arg(long, default_value = "5s")]
    pub duration: String,
    /// Bucket (created if missing)
    #[arg(long, default_value = "benchkv")]
    pub bucket: String,
    /// Storage of a bucket this run creates
    #[arg(long, value_enum, default_value_t = crate::cli::Storage::File)]
    pub storage: crate::cli::Storage,
    /// One CSV line: op,clients,size,ops,ops_per_sec,errors,p50_us,p90_us,p99_us,max_us
    #[arg(long)]
    pub csv: bool,
    /// JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

struct Worker {
    ops: u64,
    errors: u64,
    first_error: Option<String>,
    histogram: hdrhistogram::Histogram<u64>,
}

pub fn run(args: &KvBenchArgs) -> Result<(), String> {
    let server = parse_server(&args.connection)?;
    let size = parse_size(&args.size)?;
    let duration = parse_duration(&args.duration)?;
    if args.clients == 0 || args.clients > KV_BENCH_CLIENTS_MAX {
        return Err(format!("--clients must be 1 to {KV_BENCH_CLIENTS_MAX}"));
    }
    if args.keys == 0 || args.keys > KV_BENCH_KEYS_MAX {
        return Err(format!("--keys must be 1 to {KV_BENCH_KEYS_MAX}"));
    }
    let bucket = args.bucket.clone();
    let mut admin = Client::connect(&server, "tern-bench-kv-admin")?;
    if !admin.has_jetstream() {
        return Err(format!(
            "the server at {} has no JetStream (start it with -js)",
            server.display()
        ));
    }
    let exists = admin
        .api(
            &format!("$JS.API.STREAM.INFO.KV_{bucket}"),
            &serde_json::Value::Null,
        )?
        .is_ok();
    if !exists {
        admin
            .api(
                &format!("$JS.API.STREAM.CREATE.KV_{bucket}"),
                &json!({
                    "name": format!("KV_{bucket}"), "subjects": [format!("$KV.{bucket}.>")],
                    "max_msgs_per_subject": 1, "discard": "new", "allow_rollup_hdrs": true,
                    "deny_delete": true, "allow_direct": true, "max_msgs": -1,
                    "max_consumers": -1, "duplicate_window": 120_000_000_000u64,
                    "storage": args.storage.as_str(), "num_replicas": 1,
                }),
            )?
            .map_err(|e| format!("can not create bucket {bucket}: {e}"))?;
    }
    let value = vec![b'v'; size];
    if args.op == KvOp::Get {
        for key in 0..args.keys {
            let reply = admin.request(&format!("$KV.{bucket}.k{key}"), b"", &value)?;
            if reply.payload().windows(7).any(|w| w == b"\"error\"") {
                return Err(format!(
                    "filling key k{key}: {}",
                    String::from_utf8_lossy(reply.payload())
                ));
            }
        }
    }
    drop(admin);

    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for client_index in 0..args.clients {
        let server = server.clone();
        let stop = stop.clone();
        let ready = ready.clone();
        let bucket = bucket.clone();
        let value = value.clone();
        let (op, keys, clients) = (args.op, args.keys, args.clients);
        handles.push(std::thread::spawn(move || -> Result<Worker, String> {
            let mut client = Client::connect(&server, &format!("tern-bench-kv-{client_index}"))?;
            let mut worker = Worker {
                ops: 0,
                errors: 0,
                first_error: None,
                histogram: new_histogram(),
            };
            ready.fetch_add(1, Ordering::SeqCst);
            let mut key = client_index % keys;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let outcome = match op {
                    KvOp::Put => client
                        .request(&format!("$KV.{bucket}.k{key}"), b"", &value)
                        .map(|reply| {
                            (!reply.payload().windows(7).any(|w| w == b"\"error\""))
                                .then_some(())
                                .ok_or_else(|| {
                                    String::from_utf8_lossy(reply.payload()).into_owned()
                                })
                        }),
                    KvOp::Get => client
                        .request(
                            &format!("$JS.API.DIRECT.GET.KV_{bucket}.$KV.{bucket}.k{key}"),
                            b"",
                            b"",
                        )
                        .map(|reply| match reply.headers().and_then(status_code) {
                            None if reply.payload().len() == value.len() => Ok(()),
                            None => Err("a value of the wrong size".to_string()),
                            Some(code) => Err(format!("status {code}")),
                        }),
                };
                let elapsed_ns = started.elapsed().as_nanos() as u64;
                match outcome? {
                    Ok(()) => {
                        worker.ops += 1;
                        worker.histogram.saturating_record(elapsed_ns.max(1));
                    }
                    Err(error) => {
                        worker.errors += 1;
                        worker.first_error.get_or_insert(error);
                    }
                }
                key = (key + clients) % keys;
            }
            Ok(worker)
        }));
    }
    let connect_deadline = Instant::now() + Duration::from_secs(30);
    while ready.load(Ordering::SeqCst) < args.clients as u64 {
        if handles.iter().any(|h| h.is_finished()) || Instant::now() > connect_deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let started = Instant::now();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let mut total = Worker {
        ops: 0,
        errors: 0,
        first_error: None,
        histogram: new_histogram(),
    };
    for handle in handles {
        let worker = handle
            .join()
            .map_err(|_| "a client thread panicked".to_string())??;
        total.ops += worker.ops;
        total.errors += worker.errors;
        if total.first_error.is_none() {
            total.first_error = worker.first_error;
        }
        total
            .histogram
            .add(&worker.histogram)
            .map_err(|e| e.to_string())?;
    }
    let seconds = started.elapsed().as_secs_f64();
    report(args, size, &total, seconds);
    if total.ops == 0 {
        return Err(format!(
            "no operation succeeded: {}",
            total.first_error.as_deref().unwrap_or("no answers")
        ));
    }
    Ok(())
}

fn report(args: &KvBenchArgs, size: usize, total: &Worker, seconds: f64) {
    let op = match args.op {
        KvOp::Put => "put",
        KvOp::Get => "get",
    };
    let rate = total.ops as f64 / seconds.max(1e-9);
    let us = |q: f64| total.histogram.value_at_quantile(q) as f64 / 1000.0;
    let max_us = total.histogram.max() as f64 / 1000.0;
    if args.csv {
        println!(
            "{op},{},{size},{},{rate:.0},{},{:.1},{:.1},{:.1},{max_us:.1}",
            args.clients,
            total.ops,
            total.errors,
            us(0.5),
            us(0.9),
            us(0.99)
        );
    } else if args.json {
        let value = json!({
            "op": op, "clients": args.clients, "keys": args.keys, "size_bytes": size,
            "seconds": seconds, "ops": total.ops, "ops_per_sec": rate, "errors": total.errors,
            "first_error": total.first_error,
            "latency_us": {"p50": us(0.5), "p90": us(0.9), "p99": us(0.99), "p99_9": us(0.999), "max": max_us},
        });
        println!("{value:#}");
    } else {
        println!(
            "kv {op}: {} client(s), {size} B values, {} keys, {seconds:.1} s",
            args.clients, args.keys
        );
        println!(
            "  ops/s      {rate:.0} ({} ops, {} errors)",
            total.ops, total.errors
        );
        println!(
            "  latency us p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {max_us:.1}",
            us(0.5),
            us(0.9),
            us(0.99),
            us(0.999)
        );
        if let Some(error) = &total.first_error {
            println!("  first error: {error}");
        }
    }
}
