//! HTTP monitoring (`-m PORT`): nats-server's endpoints with its JSON field names, types and
//! argument checks, so that operators keep their tools (prometheus-nats-exporter, Surveyor's
//! HTTP checks, `curl .../healthz` probes) when they swap nats-server for tern; plus
//! `/metrics` in Prometheus text format, `/coresz` (per-core load) and a live dashboard at `/`.
//!
//! | path | what |
//! | --- | --- |
//! | `/` | the dashboard (links every endpoint) |
//! | `/varz`, `/connz`, `/subsz` (`/subscriptionsz`), `/routez`, `/gatewayz`, `/leafz`, `/accountz`, `/accstatz`, `/jsz`, `/healthz` | as nats-server |
//! | `/metrics` | Prometheus text exposition, `tern_` prefixed |
//! | `/coresz` | tern's own per-core figures |
//!
//! It runs on its own plain threads, never on a core: a monitoring request must not delay
//! message traffic. Counters come from atomics the cores publish; per-connection and
//! per-subscription detail is asked of the cores and answered at their next control tick
//! (see `server::registry`). Every request is bounded: at most [`CONCURRENT_REQUESTS_MAX`]
//! at once, a read deadline, capped `limit`s, and a deadline on the cores' answers.

mod connz;
mod dashboard;
mod endpoints;
pub mod format;
mod http;
pub mod jetstream;
pub mod metrics;
mod process;
mod subsz;
pub mod system;
mod varz;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::server::Shared;
use http::{Query, Response};
use metrics::{LatencyHistogram, REQUEST_SECONDS_BOUNDS};
use process::Sampler;

/// Monitoring requests served at once; more are refused (closed) rather than queued.
pub const CONCURRENT_REQUESTS_MAX: usize = 32;
/// A request must arrive within this long.
pub const REQUEST_TIMEOUT_MS: u64 = 5_000;

/// Binds the monitoring port; the returned address has the real port for `-m -1`.
pub fn bind(host: &str, port: u16) -> std::io::Result<(TcpListener, SocketAddr)> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address"))?;
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// What the request threads share.
pub struct Monitor {
    shared: Arc<Shared>,
    http_addr: SocketAddr,
    sampler: Arc<Sampler>,
    /// nats-server's `http_req_stats`: requests per endpoint path.
    request_counts: Mutex<BTreeMap<&'static str, u64>>,
    request_latency: LatencyHistogram,
}

impl Monitor {
    fn count_request(&self, path: &'static str) {
        let mut counts = self
            .request_counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *counts.entry(path).or_insert(0) += 1;
    }

    fn request_counts(&self) -> BTreeMap<String, u64> {
        self.request_counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .map(|(path, count)| (path.to_string(), *count))
            .collect()
    }
}

/// The state monitoring answers from, shared by the HTTP endpoints and the `$SYS`
/// requests; `http_addr` is what `/varz` reports (`0.0.0.0:0` without HTTP monitoring).
pub fn new_monitor(shared: Arc<Shared>, http_addr: SocketAddr) -> Arc<Monitor> {
    Arc::new(Monitor {
        sampler: Sampler::start(shared.clone()),
        shared,
        http_addr,
        request_counts: Mutex::new(BTreeMap::new()),
        request_latency: LatencyHistogram::new(REQUEST_SECONDS_BOUNDS),
    })
}

/// Serves monitoring requests until the process exits.
pub fn spawn(listener: TcpListener, monitor: Arc<Monitor>) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let result = std::thread::Builder::new()
        .name("tern-monitor".to_string())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if in_flight.fetch_add(1, Ordering::AcqRel) >= CONCURRENT_REQUESTS_MAX {
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                    continue;
                }
                let monitor = monitor.clone();
                let worker_in_flight = in_flight.clone();
                let spawned = std::thread::Builder::new()
                    .name("tern-monitor-req".to_string())
                    .spawn(move || {
                        let timeout = Some(Duration::from_millis(REQUEST_TIMEOUT_MS));
                        let _ = stream.set_read_timeout(timeout);
                        let _ = stream.set_write_timeout(timeout);
                        http::serve(stream, |path, query| {
                            let started = Instant::now();
                            let response = route(&monitor, path, query);
                            monitor.request_latency.record(started.elapsed());
                            response
                        });
                        worker_in_flight.fetch_sub(1, Ordering::AcqRel);
                    });
                if spawned.is_err() {
                    // No thread, so the request is dropped; release its slot.
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                }
            }
        });
    if let Err(error) = result {
        tracing::error!("can not start the monitoring thread: {error}");
    }
}

/// The endpoint for a path: nats-server's paths exactly, plus a trailing slash.
fn endpoint(path: &str) -> Option<&'static str> {
    let path = match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    };
    Some(match path {
        "/" => "/",
        "/varz" => "/varz",
        "/connz" => "/connz",
        // nats-server counts its old name under the new one.
        "/subsz" | "/subscriptionsz" => "/subsz",
        "/routez" => "/routez",
        "/gatewayz" => "/gatewayz",
        "/leafz" => "/leafz",
        "/accountz" => "/accountz",
        "/accstatz" => "/accstatz",
        "/jsz" => "/jsz",
        "/healthz" => "/healthz",
        "/metrics" => "/metrics",
        "/coresz" => "/coresz",
        _ => return None,
    })
}

fn route(monitor: &Monitor, path: &str, query: &Query) -> Response {
    let Some(endpoint) = endpoint(path) else {
        return Response::not_found();
    };
    monitor.count_request(endpoint);
    answer(monitor, endpoint, query)
}

/// One endpoint's answer (`endpoint` as [`endpoint`] names it), uncounted.
fn answer(monitor: &Monitor, endpoint: &str, query: &Query) -> Response {
    match endpoint {
        "/" => Response::html(dashboard::PAGE),
        "/varz" => Response::json(&varz::varz(monitor, &monitor.sampler.latest())),
        "/connz" => connz::connz(monitor, query),
        "/subsz" => subsz::subsz(monitor, query),
        "/routez" => endpoints::routez(monitor, query),
        "/gatewayz" => endpoints::gatewayz(monitor, query),
        "/leafz" => endpoints::leafz(monitor, query),
        "/accountz" => endpoints::accountz(monitor, query),
        "/accstatz" => endpoints::accstatz(monitor, query),
        "/jsz" => endpoints::jsz(monitor, query),
        "/healthz" => endpoints::healthz(monitor, query),
        "/metrics" => Response::prometheus(metrics::metrics(monitor, &monitor.sampler.latest())),
        "/coresz" => Response::json(&dashboard::coresz(monitor, &monitor.sampler.latest())),
        _ => Response::not_found(),
    }
}
