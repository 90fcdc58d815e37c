//! A slow consumer's traffic and a fast pair's traffic crossing between the same two cores:
//! does the slow consumer slow the fast pair down? Connections are placed on chosen cores
//! (by reconnecting until `/varz` shows the new connection on the wanted one), so the
//! answer does not depend on where the kernel happened to put them.
//!
//! Layout, on a server with `--cores 2`:
//! - core 0: the fast publisher (128-byte messages, as fast as it can) and the slow
//!   publisher (1 KiB messages at about 10 MB/s);
//! - core 1: the fast subscriber (reads everything at once) and three slow subscribers of
//!   the slow subject (16 KiB every 10 ms each).
//!
//! Both publishers' messages reach core 1 through the same ring. Measured, not asserted:
//! `cargo test --release --test cross_core_isolation -- --ignored --nocapture`
//! (`ISOLATION_ROUNDS`, `ISOLATION_CELL_MS`, `ISOLATION_SERVER_ARGS`).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;

/// Bytes of one fast message as the subscriber receives it: `MSG fast 1 128\r\n`, the
/// payload and its CRLF.
const FAST_MSG_BYTES: u64 = 16 + 128 + 2;

/// Connects, says CONNECT (and `then`), and waits for the PONG that shows the server has
/// registered it.
fn connect(addr: SocketAddr, then: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut info = [0u8; 4096];
    let _ = stream.read(&mut info).expect("INFO");
    stream
        .write_all(format!("CONNECT {{\"verbose\":false}}\r\n{then}PING\r\n").as_bytes())
        .expect("CONNECT");
    let mut seen = Vec::new();
    while !seen.windows(6).any(|w| w == b"PONG\r\n") {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).expect("PONG");
        assert!(n > 0, "closed before PONG: {}", show(&seen));
        seen.extend_from_slice(&chunk[..n]);
    }
    stream
}

/// Connections placed on chosen cores. Misplaced attempts stay open (idle) until the
/// placer is dropped, so that the next attempt is a new connection.
struct Placer {
    addr: SocketAddr,
    monitor: SocketAddr,
    spare: Vec<TcpStream>,
}

impl Placer {
    fn on_core(&mut self, core: usize, then: &str) -> TcpStream {
        for _ in 0..64 {
            // Connections closed a moment ago may still be counted: wait until the counts
            // hold still, so that the next change is this connection.
            let before = poll_until(Duration::from_secs(10), || {
                let first = core_connections(self.monitor)?;
                std::thread::sleep(Duration::from_millis(50));
                (core_connections(self.monitor)? == first).then_some(first)
            })
            .expect("/varz connection counts settle");
            let stream = connect(self.addr, then);
            // A close elsewhere may land in the same reading: only a rise on the wanted
            // core counts, and an attempt that never shows is simply tried again.
            let placed = poll_until(Duration::from_secs(2), || {
                let after = core_connections(self.monitor)?;
                (after[core] > before[core]).then_some(())
            });
            if placed.is_some() {
                return stream;
            }
            self.spare.push(stream);
        }
        panic!("64 connections and none on core {core}");
    }
}

/// Clients running on their own threads until `finish`.
struct Running {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Handles of the clients' sockets, shut down at the end so that a publisher blocked
    /// in a write (the server holding it back) stops too.
    sockets: Vec<TcpStream>,
}

impl Running {
    fn new() -> Running {
        Running {
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            sockets: Vec::new(),
        }
    }

    fn finish(self) {
        self.stop.store(true, Relaxed);
        for socket in &self.sockets {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// Reads `stream` until `stop` (or it closes), answering PINGs; each read adds its bytes to
/// `received`. With `chunk_bytes` and `pause`, it reads that much at most per pause.
fn reader(
    mut stream: TcpStream,
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    chunk_bytes: usize,
    pause: Option<Duration>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
        let mut chunk = vec![0u8; chunk_bytes];
        while !stop.load(Relaxed) {
            match stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    received.fetch_add(n as u64, Relaxed);
                    if chunk[..n].windows(6).any(|w| w == b"PING\r\n")
                        && stream.write_all(b"PONG\r\n").is_err()
                    {
                        return;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
            if let Some(pause) = pause {
                std::thread::sleep(pause);
            }
        }
    })
}

/// Writes `batch` to `stream` until `stop`, sleeping `pause` after each write if given.
fn writer(
    mut stream: TcpStream,
    stop: Arc<AtomicBool>,
    batch: Vec<u8>,
    pause: Option<Duration>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        // Whole batches only (a timed-out write would cut a PUB in two): a publisher held
        // back by the server is stopped by shutting its socket down.
        while !stop.load(Relaxed) {
            if stream.write_all(&batch).is_err() {
                return;
            }
            if let Some(pause) = pause {
                std::thread::sleep(pause);
            }
        }
    })
}

fn pub_batch(subject: &str, payload_bytes: usize, count: usize) -> Vec<u8> {
    let mut batch = Vec::new();
    for _ in 0..count {
        batch.extend_from_slice(format!("PUB {subject} {payload_bytes}\r\n").as_bytes());
        batch.extend(std::iter::repeat_n(b'x', payload_bytes));
        batch.extend_from_slice(b"\r\n");
    }
    batch
}

/// The slow pair: its publisher on `feeder_core`, three slow readers on core 1. Returns it
/// running, and the bytes its readers have received.
fn start_slow_pair(placer: &mut Placer, feeder_core: usize) -> (Running, Arc<AtomicU64>) {
    let mut slow = Running::new();
    let received = Arc::new(AtomicU64::new(0));
    for _ in 0..3 {
        let stream = placer.on_core(1, "SUB slow 1\r\n");
        slow.sockets.push(stream.try_clone().expect("clone"));
        slow.threads.push(reader(
            stream,
            slow.stop.clone(),
            received.clone(),
            16 * 1024,
            Some(Duration::from_millis(10)),
        ));
    }
    let feeder = placer.on_core(feeder_core, "");
    slow.sockets.push(feeder.try_clone().expect("clone"));
    // 60 KiB every 6 ms: about 10 MB/s, as the hostile `slowsub` attack. It never reads:
    // an unsolicited PONG in each batch keeps it from going stale.
    let mut batch = pub_batch("slow", 1024, 60);
    batch.extend_from_slice(b"PONG\r\n");
    slow.threads.push(writer(
        feeder,
        slow.stop.clone(),
        batch,
        Some(Duration::from_millis(6)),
    ));
    (slow, received)
}

/// Messages per second the fast subscriber (core 1) received from the fast publisher
/// (core 0) in one cell.
fn fast_pair_rate(placer: &mut Placer, cell: Duration) -> f64 {
    let mut fast = Running::new();
    let received = Arc::new(AtomicU64::new(0));
    let subscriber = placer.on_core(1, "SUB fast 1\r\n");
    let publisher = placer.on_core(0, "");
    fast.sockets.push(subscriber.try_clone().expect("clone"));
    fast.sockets.push(publisher.try_clone().expect("clone"));
    let stop = fast.stop.clone();
    fast.threads.push(reader(
        subscriber,
        stop.clone(),
        received.clone(),
        1 << 20,
        None,
    ));
    fast.threads
        .push(writer(publisher, stop, pub_batch("fast", 128, 450), None));
    // The first half second fills the pipes; the rate is taken after it.
    std::thread::sleep(Duration::from_millis(500));
    let (start_bytes, started) = (received.load(Relaxed), Instant::now());
    std::thread::sleep(cell);
    let bytes = received.load(Relaxed) - start_bytes;
    let rate = bytes as f64 / FAST_MSG_BYTES as f64 / started.elapsed().as_secs_f64();
    fast.finish();
    rate
}

#[test]
#[ignore = "a measurement, not a check: run by hand (see the module comment)"]
fn a_slow_consumer_across_cores_next_to_a_fast_pair() {
    if !server_binary().is_tern {
        eprintln!("skipped: needs tern's per-core /varz figures");
        return;
    }
    let rounds: usize = std::env::var("ISOLATION_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let cell = Duration::from_millis(
        std::env::var("ISOLATION_CELL_MS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(3000),
    );
    let extra = std::env::var("ISOLATION_SERVER_ARGS").unwrap_or_default();
    let mut args = vec!["--cores", "2", "-m", "-1"];
    args.extend(extra.split_whitespace());
    let server = TestServer::start_with_config("max_pending: 64MB\n", &args);
    let mut placer = Placer {
        addr: server.addr(),
        monitor: server.monitor_addr().expect("monitoring port"),
        spare: Vec::new(),
    };
    // Per round: the fast pair alone; next to the slow pair with its publisher on core 0
    // (its messages share the fast pair's ring); and with its publisher on core 1 (the
    // same work for core 1, no shared ring): the difference is the ring's share.
    let (mut alone, mut across, mut local) = (Vec::new(), Vec::new(), Vec::new());
    let beside = |placer: &mut Placer, feeder_core: usize| {
        let (slow, slow_received) = start_slow_pair(placer, feeder_core);
        // Let the slow readers fall behind far enough to stall their publisher.
        std::thread::sleep(Duration::from_secs(3));
        let rate = fast_pair_rate(placer, cell);
        let slow_kib = slow_received.load(Relaxed) >> 10;
        slow.finish();
        (rate, slow_kib)
    };
    for round in 0..rounds {
        let quiet = fast_pair_rate(&mut placer, cell);
        let (shared_ring, shared_kib) = beside(&mut placer, 0);
        let (own_core, own_kib) = beside(&mut placer, 1);
        let change = |rate: f64| (rate - quiet) / quiet * 100.0;
        eprintln!(
            "round {round}: fast pair alone {quiet:.0} msgs/s; next to the slow consumer fed \
             from core 0 {shared_ring:.0} ({:+.1}%, its readers got {shared_kib} KiB), fed \
             from core 1 {own_core:.0} ({:+.1}%, {own_kib} KiB)",
            change(shared_ring),
            change(own_core),
        );
        alone.push(quiet);
        across.push(shared_ring);
        local.push(own_core);
        placer.spare.clear();
        std::thread::sleep(Duration::from_secs(1));
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(|a, b| a.total_cmp(b));
        values[values.len() / 2]
    };
    let (a, x, l) = (median(&mut alone), median(&mut across), median(&mut local));
    eprintln!(
        "fast pair across cores, {rounds} rounds of {cell:?}: median {a:.0} msgs/s alone; \
         next to a slow consumer fed from the fast publisher's core {x:.0} ({:+.1}%), fed \
         from its own core {l:.0} ({:+.1}%)",
        (x - a) / a * 100.0,
        (l - a) / a * 100.0,
    );
}
