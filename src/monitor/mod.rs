//! HTTP monitoring (`-m PORT`): `/varz` and `/healthz` with nats-server's JSON field names, so
//! tools that poll nats-server to see it is up (and read its counters) work with tern.
//!
//! It runs on its own plain thread, not on a core: monitoring must not disturb the cores'
//! hot paths, and the cores publish their counters as atomics for it to read.

mod http;
mod varz;

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::server::Shared;

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

/// Serves monitoring requests until the process exits.
pub fn spawn(listener: TcpListener, shared: Arc<Shared>, http_addr: SocketAddr) {
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
                let shared = shared.clone();
                let worker_in_flight = in_flight.clone();
                let spawned = std::thread::Builder::new()
                    .name("tern-monitor-req".to_string())
                    .spawn(move || {
                        let _ = stream
                            .set_read_timeout(Some(Duration::from_millis(REQUEST_TIMEOUT_MS)));
                        let _ = stream
                            .set_write_timeout(Some(Duration::from_millis(REQUEST_TIMEOUT_MS)));
                        http::serve(stream, |path, query| route(&shared, http_addr, path, query));
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

fn route(shared: &Shared, http_addr: SocketAddr, path: &str, _query: &str) -> http::Response {
    match path.trim_end_matches('/') {
        "/varz" => http::Response::json(varz::varz(shared, http_addr)),
        "/healthz" => http::Response::json(serde_json::json!({ "status": "ok" })),
        "" => http::Response::json(serde_json::json!({
            "endpoints": ["/varz", "/healthz"],
            "server": "tern",
        })),
        _ => http::Response::not_found(),
    }
}
