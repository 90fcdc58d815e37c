//! Runs a [`Plan`]: one OS thread per client, receivers first, then senders, then the
//! start signal, then everyone's numbers gathered into an [`Outcome`].
//!
//! Order of a run:
//! 1. Receivers (subscribers, queue members, responders) connect, subscribe to the bench
//!    subject and then to their own readiness subject, and start reading.
//! 2. Senders (publishers, requesters) connect and probe every receiver's readiness
//!    subject until each has answered. A server with more than one core (or node) may
//!    spread a new subscription to the others after acknowledging it to the subscriber;
//!    since one connection's subscriptions travel in order, a probe that got through
//!    proves the bench subscription got through too, and no message is lost to a race.
//! 3. All senders start together; each ends with PING/PONG, so its clock stops only
//!    once the server has processed everything it sent.
//! 4. Receivers stop when they have what was sent (known up front with `--msgs`, when
//!    the last sender finishes with `--duration`), or after [`DRAIN_IDLE`] without a
//!    message once senders are done; whatever is missing is reported as lost.
//!
//! Latency: a sender stamps the payload's first 8 bytes with the time the message was
//! due (paced runs: its place in the schedule, so a stall delays every message scheduled
//! during it, which is how coordinated omission is accounted for; unpaced runs: the time
//! of the burst it went out in); a receiver records arrival minus stamp. Request/reply
//! needs no stamp: the reply subject carries the request's sequence number.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::protocol::{ConnectOptions, ServerInfo, ServerOp};

use super::client::{
    connect_options, header_block, now_ns, payload_stamp, ClientError, Connection, ReadOutcome,
    WRITE_FLUSH_BYTES,
};
use super::js::{AckCounts, StreamReport};
use super::options::{Limit, Plan, Scenario};
use super::progress::Progress;
use super::stats::{new_histogram, ClientStats, GroupStats, LatencySummary};

/// Receivers give up this long after the last message once every sender is done.
pub const DRAIN_IDLE: Duration = Duration::from_secs(2);
/// How long senders wait for every receiver to answer the readiness probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Unanswered probes are sent again after this long.
const PROBE_RESEND: Duration = Duration::from_millis(50);
/// A sender's final PING/PONG waits for the server to work through its backlog.
pub const FINAL_FLUSH_TIMEOUT: Duration = Duration::from_secs(60);
/// A request without a reply for this long fails the run.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Unpaced publishers look at what the server sent them (PINGs, -ERR) this often.
const PUBLISHER_POLL_NS: u64 = 100_000_000;
/// A paced sender sleeps until this close to a message's due time, then spins, so that
/// timer slack does not make every message late.
const PACE_SPIN_NS: u64 = 50_000;
/// Messages a sender writes between two looks at the clock and its stop conditions.
const BURST_MSGS_MAX: u64 = 4096;

/// The bench subject's subscription id on every receiver.
const SID_BENCH: &[u8] = b"1";
/// The readiness subject's subscription id on every receiver, and the inbox's on senders.
const SID_CONTROL: &[u8] = b"2";

/// Everything a run measured.
pub struct Outcome {
    pub server_name: String,
    pub server_version: String,
    /// Publishers or requesters.
    pub senders: Option<GroupStats>,
    /// Subscribers, queue members or responders.
    pub receivers: Option<GroupStats>,
    pub latency: Option<LatencySummary>,
    /// The role whose clients measured the latency.
    pub latency_role: &'static str,
    pub histogram: Histogram<u64>,
    /// Why latency is missing, or how to read it.
    pub latency_note: Option<String>,
    /// One line per client that failed.
    pub errors: Vec<String>,
    /// `js` scenarios: how the publishes were acknowledged, summed over the publishers.
    pub acks: Option<AckCounts>,
    /// `js` scenarios: the stream before and after the run (filled in by the caller).
    pub stream: Option<StreamReport>,
    /// CPU the tool itself used from the start signal to the end (all its threads).
    pub tool_cpu_secs: f64,
    /// Wall time over the same span.
    pub wall_secs: f64,
}

/// What one client thread hands back.
pub(super) struct ClientReport {
    pub(super) stats: ClientStats,
    pub(super) histogram: Option<Histogram<u64>>,
    /// Acknowledgements (`js` publishers only).
    pub(super) acks: AckCounts,
}

impl ClientReport {
    fn of(stats: ClientStats, histogram: Option<Histogram<u64>>) -> ClientReport {
        ClientReport {
            stats,
            histogram,
            acks: AckCounts::default(),
        }
    }
}

/// State every client thread of a run shares.
pub(super) struct Shared {
    /// Makes subjects (and message ids) of concurrent runs distinct.
    pub(super) tag: String,
    /// Something failed: everyone stops.
    abort: AtomicBool,
    /// Senders wait here until every client is ready.
    pub(super) gate: Gate,
    /// Sent so far, in all (progress, and the total once senders are done); `js`
    /// publishers count acknowledged messages.
    pub(super) sent: AtomicU64,
    /// Received so far by every receiver together.
    received: AtomicU64,
    senders_running: AtomicUsize,
    /// Every sender has finished.
    senders_done: AtomicBool,
    /// Messages each receiver (plain) or the whole group (queue) should get; u64::MAX
    /// until known.
    expected: AtomicU64,
}

impl Shared {
    pub(super) fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }

    fn expected(&self) -> u64 {
        self.expected.load(Ordering::Acquire)
    }

    pub(super) fn sender_finished(&self) {
        if self.senders_running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.expected
                .store(self.sent.load(Ordering::Acquire), Ordering::Release);
            self.senders_done.store(true, Ordering::Release);
        }
    }
}

/// A one-shot start signal.
pub(super) struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn open(&self) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        *open = true;
        self.opened.notify_all();
    }

    pub(super) fn wait(&self) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        while !*open {
            open = self
                .opened
                .wait(open)
                .unwrap_or_else(|poison| poison.into_inner());
        }
    }
}

/// What a client reports once it is connected and subscribed.
pub(super) type Ready = mpsc::Sender<Result<ServerInfo, String>>;

/// Runs the plan to the end. Err only if the run could not start (no server, bad
/// credentials, a payload the server refuses); failures during the run are in
/// `Outcome::errors`.
pub fn run(plan: &Plan) -> Result<Outcome, String> {
    let plan = Arc::new(plan.clone());
    let expected = match plan.limit {
        Limit::Msgs(msgs) => msgs,
        Limit::Duration(_) => u64::MAX,
    };
    let shared = Arc::new(Shared {
        tag: format!("{:x}{:x}", std::process::id(), now_ns() % (1 << 32)),
        abort: AtomicBool::new(false),
        gate: Gate {
            open: Mutex::new(false),
            opened: Condvar::new(),
        },
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        senders_running: AtomicUsize::new(plan.publishers),
        senders_done: AtomicBool::new(plan.publishers == 0),
        expected: AtomicU64::new(expected),
    });
    let cpus = if plan.pin {
        shards::cpus::allowed_cpus().map_err(|e| format!("can not read the CPU list: {e}"))?
    } else {
        Vec::new()
    };
    let cpu_for = |thread_index: usize| (!cpus.is_empty()).then(|| cpus[thread_index % cpus.len()]);
    let (ready_tx, ready_rx) = mpsc::channel();

    let mut receivers = Vec::with_capacity(plan.subscribers);
    for index in 0..plan.subscribers {
        let role = match plan.scenario {
            Scenario::Req => responder,
            _ => subscriber,
        };
        receivers.push(spawn_client(
            "recv",
            index,
            cpu_for(index),
            &plan,
            &shared,
            &ready_tx,
            role,
        )?);
    }
    let started = wait_ready(&ready_rx, plan.subscribers);
    let mut senders = Vec::with_capacity(plan.publishers);
    if started.is_ok() {
        for index in 0..plan.publishers {
            let role: Role = match (plan.scenario, plan.rate_msgs_per_sec) {
                (Scenario::Req, None) => requester,
                (Scenario::Req, Some(_)) => paced_requester,
                (Scenario::JsPub, _) => super::js::publisher,
                _ => publisher,
            };
            senders.push(spawn_client(
                "send",
                index,
                cpu_for(plan.subscribers + index),
                &plan,
                &shared,
                &ready_tx,
                role,
            )?);
        }
    }
    drop(ready_tx);
    let info = started.and_then(|receiver_info| {
        wait_ready(&ready_rx, plan.publishers).map(|sender_info| sender_info.or(receiver_info))
    });
    if info.is_err() {
        shared.abort.store(true, Ordering::Relaxed);
    }
    let progress = match info {
        Ok(_) if plan.progress => Some(start_progress(&plan, &shared)),
        _ => None,
    };
    let (cpu_at_start, wall_at_start) = (process_cpu_secs(), Instant::now());
    shared.gate.open();
    let sender_reports = join_all(senders, plan.scenario.role_names().0);
    let receiver_reports = join_all(receivers, plan.scenario.role_names().1);
    if let Some(progress) = progress {
        progress.finish();
    }
    let info = info?.unwrap_or_default();
    let mut outcome = outcome(&plan, info, sender_reports, receiver_reports);
    outcome.tool_cpu_secs = process_cpu_secs() - cpu_at_start;
    outcome.wall_secs = wall_at_start.elapsed().as_secs_f64();
    Ok(outcome)
}

/// User + system CPU seconds of this process so far, from /proc/self/stat (whose clock
/// ticks are USER_HZ, 100 per second on every Linux); 0 where it can not be read.
fn process_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name (which may hold spaces): state is
    // field 3, utime 14 and stime 15.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |field: usize| -> f64 {
        fields
            .get(field - 3)
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / 100.0
}

/// Waits for `count` ready signals; the first server INFO seen, or the first error.
fn wait_ready(
    ready: &mpsc::Receiver<Result<ServerInfo, String>>,
    count: usize,
) -> Result<Option<ServerInfo>, String> {
    let mut info = None;
    for _ in 0..count {
        match ready.recv() {
            Ok(Ok(server)) => {
                info.get_or_insert(server);
            }
            Ok(Err(error)) => return Err(error),
            Err(_) => return Err("a client thread ended before it was ready".to_string()),
        }
    }
    Ok(info)
}

type Role = fn(&Plan, &Shared, usize, &mut Option<Ready>) -> Result<ClientReport, String>;

fn spawn_client(
    kind: &str,
    index: usize,
    cpu: Option<usize>,
    plan: &Arc<Plan>,
    shared: &Arc<Shared>,
    ready: &Ready,
    role: Role,
) -> Result<thread::JoinHandle<Result<ClientReport, String>>, String> {
    let plan = plan.clone();
    let shared = shared.clone();
    let ready = ready.clone();
    thread::Builder::new()
        .name(format!("bench-{kind}-{index}"))
        .spawn(move || {
            if let Some(cpu) = cpu {
                pin_current_thread(cpu);
            }
            let mut ready = Some(ready);
            let result = role(&plan, &shared, index, &mut ready);
            if let Err(error) = &result {
                shared.abort.store(true, Ordering::Relaxed);
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(error.clone()));
                }
            }
            result
        })
        .map_err(|e| format!("can not start a client thread: {e}"))
}

fn join_all(
    handles: Vec<thread::JoinHandle<Result<ClientReport, String>>>,
    role: &str,
) -> Vec<Result<ClientReport, String>> {
    handles
        .into_iter()
        .enumerate()
        .map(|(index, handle)| {
            handle
                .join()
                .unwrap_or_else(|_| Err("the client thread panicked".to_string()))
                .map_err(|error| format!("{role} {index}: {error}"))
        })
        .collect()
}

pub(super) fn signal_ready(ready: &mut Option<Ready>, info: &ServerInfo) {
    if let Some(ready) = ready.take() {
        let _ = ready.send(Ok(info.clone()));
    }
}

fn connect(plan: &Plan, name: String) -> Result<Connection, String> {
    connect_as(plan, name, false)
}

/// Connects and checks that the server takes the plan's messages; `no_responders` asks
/// for a 503 status message in answer to a publish with a reply subject that no one
/// receives (a JetStream publish to a subject no stream captures).
pub(super) fn connect_as(
    plan: &Plan,
    name: String,
    no_responders: bool,
) -> Result<Connection, String> {
    let options = ConnectOptions {
        no_responders,
        ..connect_options(&plan.server, &name)
    };
    let connection = Connection::connect_with(&plan.server, options).map_err(|e| e.to_string())?;
    let header_bytes = header_block(plan.headers).len();
    let max_payload = usize::try_from(connection.info.max_payload).unwrap_or(usize::MAX);
    if connection.info.max_payload > 0 && plan.size_bytes + header_bytes > max_payload {
        return Err(format!(
            "a {} B message (headers included) is more than the server's max_payload of {} B",
            plan.size_bytes + header_bytes,
            connection.info.max_payload
        ));
    }
    if plan.headers > 0 && !connection.info.headers {
        return Err("the server does not support headers (--headers)".to_string());
    }
    Ok(connection)
}

fn readiness_subject(shared: &Shared, receiver: usize) -> Vec<u8> {
    format!("_TERN_BENCH.{}.ready.{receiver}", shared.tag).into_bytes()
}

pub(super) fn inbox(shared: &Shared, sender: usize) -> Vec<u8> {
    format!("_INBOX.{}.{sender}", shared.tag).into_bytes()
}

pub(super) fn err(error: ClientError) -> String {
    error.to_string()
}

pub(super) fn io_err(error: std::io::Error) -> String {
    ClientError::Io(error).to_string()
}

// ---------------------------------------------------------------------------------------
// Receivers
// ---------------------------------------------------------------------------------------

/// A subscriber of `sub`, `pubsub`, `fanout` or a member of `queue`.
fn subscriber(
    plan: &Plan,
    shared: &Shared,
    index: usize,
    ready: &mut Option<Ready>,
) -> Result<ClientReport, String> {
    let mut connection = connect(plan, format!("tern-bench-sub-{index}"))?;
    let queue = (plan.scenario == Scenario::Queue).then_some(plan.queue.as_bytes());
    connection
        .writer
        .subscribe(plan.subject.as_bytes(), queue, SID_BENCH);
    connection
        .writer
        .subscribe(&readiness_subject(shared, index), None, SID_CONTROL);
    connection
        .ping_pong(super::client::HANDSHAKE_TIMEOUT, |_| {})
        .map_err(err)?;
    signal_ready(ready, &connection.info);

    let mut histogram = plan.stamps_payload().then(new_histogram);
    let mut stats = ClientStats::default();
    let mut last_message = Instant::now();
    let standalone_end_ns = match (plan.scenario, plan.limit) {
        (Scenario::Sub, Limit::Duration(duration)) => Some(duration.as_nanos() as u64),
        _ => None,
    };
    loop {
        let before = stats.msgs;
        let mut chunk_now = 0;
        let mut write_error = None;
        let writer = &mut connection.writer;
        let outcome = connection
            .reader
            .read_some(|op| {
                let ServerOp::Msg(message) = op else { return };
                if message.sid == SID_BENCH {
                    if chunk_now == 0 {
                        chunk_now = now_ns();
                    }
                    if stats.msgs == 0 {
                        stats.start_ns = chunk_now;
                    }
                    stats.msgs += 1;
                    stats.bytes += message.payload().len() as u64;
                    stats.end_ns = chunk_now;
                    if let (Some(histogram), Some(sent)) =
                        (histogram.as_mut(), payload_stamp(message.payload()))
                    {
                        histogram.saturating_record(chunk_now.saturating_sub(sent));
                    }
                } else if let Some(reply) = &message.reply {
                    if let Err(error) = writer.publish(reply, None, b"", b"", None) {
                        write_error = Some(error);
                    }
                }
            })
            .map_err(err)?;
        if let Some(error) = write_error {
            return Err(io_err(error));
        }
        if writer.buffered_bytes() > 0 || writer.owes_pongs() {
            writer.flush().map_err(io_err)?;
        }
        let delta = stats.msgs - before;
        if delta > 0 {
            shared.received.fetch_add(delta, Ordering::Relaxed);
            last_message = Instant::now();
        }
        if shared.aborted() {
            break;
        }
        let done = match plan.scenario {
            Scenario::Queue => shared.received.load(Ordering::Relaxed) >= shared.expected(),
            _ => stats.msgs >= shared.expected(),
        };
        let timed_out = standalone_end_ns
            .is_some_and(|duration| stats.msgs > 0 && stats.end_ns >= stats.start_ns + duration);
        // Senders done (or, for `sub`, someone else's publishers seen) and nothing more.
        let drained = outcome == ReadOutcome::Idle
            && last_message.elapsed() > DRAIN_IDLE
            && match plan.scenario {
                Scenario::Sub => stats.msgs > 0,
                _ => shared.senders_done.load(Ordering::Acquire),
            };
        if done || timed_out || drained {
            break;
        }
    }
    Ok(ClientReport::of(stats, histogram))
}

/// A responder of `req`: echoes each request's headers and payload to its reply subject.
fn responder(
    plan: &Plan,
    shared: &Shared,
    index: usize,
    ready: &mut Option<Ready>,
) -> Result<ClientReport, String> {
    let mut connection = connect(plan, format!("tern-bench-responder-{index}"))?;
    connection.writer.subscribe(
        plan.subject.as_bytes(),
        Some(plan.queue.as_bytes()),
        SID_BENCH,
    );
    connection
        .writer
        .subscribe(&readiness_subject(shared, index), None, SID_CONTROL);
    connection
        .ping_pong(super::client::HANDSHAKE_TIMEOUT, |_| {})
        .map_err(err)?;
    signal_ready(ready, &connection.info);

    let mut stats = ClientStats::default();
    loop {
        let mut chunk_now = 0;
        let mut write_error = None;
        let writer = &mut connection.writer;
        connection
            .reader
            .read_some(|op| {
                let ServerOp::Msg(message) = op else { return };
                let Some(reply) = &message.reply else { return };
                let result = if message.sid == SID_BENCH {
                    if chunk_now == 0 {
                        chunk_now = now_ns();
                    }
                    if stats.msgs == 0 {
                        stats.start_ns = chunk_now;
                    }
                    stats.msgs += 1;
                    stats.bytes += message.payload().len() as u64;
                    stats.end_ns = chunk_now;
                    writer.publish(
                        reply,
                        None,
                        message.headers().unwrap_or_default(),
                        message.payload(),
                        None,
                    )
                } else {
                    writer.publish(reply, None, b"", b"", None)
                };
                if let Err(error) = result {
                    write_error = Some(error);
                }
            })
            .map_err(err)?;
        if let Some(error) = write_error {
            return Err(io_err(error));
        }
        if writer.buffered_bytes() > 0 || writer.owes_pongs() {
            writer.flush().map_err(io_err)?;
        }
        if shared.aborted() || shared.senders_done.load(Ordering::Acquire) {
            break;
        }
    }
    Ok(ClientReport::of(stats, None))
}

// ---------------------------------------------------------------------------------------
// Senders
// ---------------------------------------------------------------------------------------

/// Publishes to every receiver's readiness subject until each has answered (replies
/// come to `inbox.r<receiver>`; the caller subscribed `inbox.*` as [`SID_CONTROL`]).
fn probe_receivers(
    connection: &mut Connection,
    plan: &Plan,
    shared: &Shared,
    inbox: &[u8],
) -> Result<(), String> {
    let count = plan.subscribers;
    let mut answered = vec![false; count];
    let mut missing = count;
    let deadline = Instant::now() + PROBE_TIMEOUT;
    while missing > 0 {
        for (receiver, _) in answered.iter().enumerate().filter(|(_, done)| !**done) {
            let mut reply = inbox.to_vec();
            reply.extend_from_slice(format!(".r{receiver}").as_bytes());
            connection
                .writer
                .publish(
                    &readiness_subject(shared, receiver),
                    Some(&reply),
                    b"",
                    b"",
                    None,
                )
                .map_err(io_err)?;
        }
        connection.writer.flush().map_err(io_err)?;
        let resend_at = Instant::now() + PROBE_RESEND;
        while missing > 0 && Instant::now() < resend_at {
            connection
                .reader
                .read_some(|op| {
                    let ServerOp::Msg(message) = op else { return };
                    let receiver = last_token(&message.subject)
                        .strip_prefix(b"r")
                        .and_then(parse_decimal);
                    if let Some(done) = receiver.and_then(|r| answered.get_mut(r as usize)) {
                        if !*done {
                            *done = true;
                            missing -= 1;
                        }
                    }
                })
                .map_err(err)?;
        }
        if connection.writer.owes_pongs() {
            connection.writer.flush().map_err(io_err)?;
        }
        if shared.aborted() {
            return Err("stopped: another client failed".to_string());
        }
        if missing > 0 && Instant::now() > deadline {
            return Err(format!(
                "{missing} of {count} receivers did not answer the readiness probe within {PROBE_TIMEOUT:?}"
            ));
        }
    }
    Ok(())
}

/// Connects a sender, subscribes its inbox, probes the receivers and waits for the start.
/// None if the run was aborted before it started.
fn prepare_sender(
    plan: &Plan,
    shared: &Shared,
    index: usize,
    ready: &mut Option<Ready>,
    name: &str,
) -> Result<Option<(Connection, Vec<u8>)>, String> {
    let mut connection = connect(plan, format!("tern-bench-{name}-{index}"))?;
    let inbox = inbox(shared, index);
    if plan.subscribers > 0 {
        let mut filter = inbox.clone();
        filter.extend_from_slice(b".*");
        connection.writer.subscribe(&filter, None, SID_CONTROL);
        connection
            .ping_pong(super::client::HANDSHAKE_TIMEOUT, |_| {})
            .map_err(err)?;
        probe_receivers(&mut connection, plan, shared, &inbox)?;
    }
    signal_ready(ready, &connection.info);
    shared.gate.wait();
    if shared.aborted() {
        return Ok(None);
    }
    Ok(Some((connection, inbox)))
}

/// The payload template and header block every message of the run shares.
pub(super) fn message_template(plan: &Plan) -> (Vec<u8>, Vec<u8>) {
    (vec![0u8; plan.size_bytes], header_block(plan.headers))
}

/// Messages that fill about one write buffer.
fn burst_msgs(plan: &Plan, headers: &[u8]) -> u64 {
    let frame_bytes = plan.subject.len() + headers.len() + plan.size_bytes + 32;
    ((WRITE_FLUSH_BYTES / frame_bytes) as u64).clamp(1, BURST_MSGS_MAX)
}

/// The due time of message `seq` of a paced sender.
fn due_ns(start_ns: u64, interval_ns: f64, seq: u64) -> u64 {
    start_ns + (seq as f64 * interval_ns) as u64
}

/// Sleeps until `due_ns`, spinning for the last [`PACE_SPIN_NS`].
fn wait_until(due_ns: u64) {
    let now = now_ns();
    if due_ns > now + PACE_SPIN_NS {
        thread::sleep(Duration::from_nanos(due_ns - now - PACE_SPIN_NS));
    }
    while now_ns() < due_ns {
        std::hint::spin_loop();
    }
}

fn publisher(
    plan: &Plan,
    shared: &Shared,
    index: usize,
    ready: &mut Option<Ready>,
) -> Result<ClientReport, String> {
    let result = publish_all(plan, shared, index, ready);
    shared.sender_finished();
    result
}

fn publish_all(
    plan: &Plan,
    shared: &Shared,
    index: usize,
    ready: &mut Option<Ready>,
) -> Result<ClientReport, String> {
    let Some((mut connection, _)) = prepare_sender(plan, shared, index, ready, "pub")? else {
        return Ok(ClientReport::of(ClientStats::default(), None));
    };
    let (payload, headers) = message_template(plan);
    let subject = plan.subject.as_bytes();
    let stamps = plan.stamps_payload();
    let burst = burst_msgs(plan, &headers);
    let limit = plan.msgs_for_publisher(index).unwrap_or(u64::MAX);
    let start_ns = now_ns();
    let end_ns = match plan.limit {
        Limit::Duration(duration) => start_ns + duration.as_nanos() as u64,
        Limit::Msgs(_) => u64::MAX,
    };
    let interval_ns = plan.rate_per_publisher().map(|rate| 1e9 / rate);
    let mut sent = 0u64;
    let mut next_poll_ns = start_ns + PUBLISHER_POLL_NS;
    while sent < limit && !shared.aborted() {
        let now = now_ns();
        let count = match interval_ns {
            None => {
                if now >= end_ns {
                    break;
                }
                let count = burst.min(limit - sent);
                for _ in 0..count {
                    connection
                        .writer
                        .publish(subject, None, &headers, &payload, stamps.then_some(now))
                        .map_err(io_err)?;
                }
                count
            }
            Some(interval_ns) => {
                let due = due_ns(start_ns, interval_ns, sent);
                if due >= end_ns {
                    break;
                }
                if due > now {
                    wait_until(due);
                    continue;
                }
                let mut count = 0;
                while count < burst && sent + count < limit {
                    let due = due_ns(start_ns, interval_ns, sent + count);
                    if due > now || due >= end_ns {
                        break;
                    }
                    connection
                        .writer
                        .publish(subject, None, &headers, &payload, stamps.then_some(due))
                        .map_err(io_err)?;
                    count += 1;
                }
                connection.writer.flush().map_err(io_err)?;
                count
            }
        };
        sent += count;
        shared.sent.fetch_add(count, Ordering::Relaxed);
        if now >= next_poll_ns {
            connection.poll_incoming().map_err(err)?;
            next_poll_ns = now + PUBLISHER_POLL_NS;
        }
    }
    connection.writer.flush().map_err(io_err)?;
    connection
        .ping_pong(FINAL_FLUSH_TIMEOUT, |_| {})
        .map_err(err)?;
    let stats = ClientStats {
        msgs: sent,
        bytes: sent * plan.size_bytes as u64,
        start_ns,
        end_ns: now_ns(),
    };
    Ok(ClientReport::of(stats, None))
}

/// The sequence number at the end of a reply subject (`<inbox>.<seq>`).
pub(super) fn reply_seq(subject: &[u8]) -> Option<u64> {
    parse_decimal(last_token(subject))
}

fn last_token(subject: &[u8]) -> &[u8] {
    subject
        .rsplit(|&byte| byte == b'.')
        .next()
        .unwrap_or_default()
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &digit| {
        digit
            .is_ascii_digit()
            .then(|| value * 10 + u64::from(digit - b'0'))
    })
}

/// `<inbox>.<seq>` into `out`.
pub(super) fn reply_subject(out: &mut Vec<u8>, inbox: &[u8], seq: u64) {
    out.clear();
    out.extend_from_slice(inbox);
    out.push(b'.');
    out.extend_from_slice(seq.to_string().as_bytes());
}

/// A closed-loop requester: one request in flight, latency from its send time.
fn requester(
    plan: &Plan,
    shared: &Shared,
    index: usize,
    ready: &mut Option<Ready>,
) -> Result<ClientReport, String> {
    let result = request_all(plan, shared, index, ready);
    shared.sender_finished();
    result
}

fn request_all(
    plan: &Plan,
    shared: &Shared,
    index: usize,
    ready: &mut Option<Ready>,
) -> Result<ClientReport, String> {
    let Some((mut connection, inbox)) = prepare_sender(plan, shared, index, ready, "req")? else {
        return Ok(ClientReport::of(ClientStats::default(), None));
    };
    let (payload, headers) = message_template(plan);
    let subject = plan.subject.as_bytes();
    let limit = plan.msgs_for_publisher(index).unwrap_or(u64::MAX);
    let mut histogram = new_histogram();
    let mut stats = ClientStats::default();
    let mut reply = Vec::with_capacity(inbox.len() + 24);
    let start_ns = now_ns();
    stats.start_ns = start_ns;
    let end_ns = match plan.limit {
        Limit::Duration(duration) => start_ns + duration.as_nanos() as u64,
        Limit::Msgs(_) => u64::MAX,
    };
    let mut seq = 0u64;
    while seq < limit && !shared.aborted() {
        let sent_ns = now_ns();
        if sent_ns >= end_ns {
            break;
        }
        reply_subject(&mut reply, &inbox, seq);
        connection
            .writer
            .publish(subject, Some(&reply), &headers, &payload, None)
            .map_err(io_err)?;
        connection.writer.flush().map_err(io_err)?;
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        let mut answered_ns = None;
        let mut reply_bytes = 0;
        while answered_ns.is_none() {
            connection
                .reader
                .read_some(|op| {
                    let ServerOp::Msg(message) = op else { return };
                    if message.sid == SID_CONTROL && reply_seq(&message.subject) == Some(seq) {
                        answered_ns = Some(now_ns());
                        reply_bytes = message.payload().len();
                    }
                })
                .map_err(err)?;
            if connection.writer.owes_pongs() {
                connection.writer.flush().map_err(io_err)?;
            }
            if shared.aborted() {
                break;
            }
            if answered_ns.is_none() && Instant::now() > deadline {
                return Err(format!(
                    "no reply to request {seq} within {REQUEST_TIMEOUT:?} (are the responders up?)"
                ));
            }
        }
        let Some(answered_ns) = answered_ns else {
            break;
        };
        histogram.saturating_record(answered_ns.saturating_sub(sent_ns));
        stats.msgs += 1;
        stats.bytes += reply_bytes as u64;
        stats.end_ns = answered_ns;
        shared.sent.fetch_add(1, Ordering::Relaxed);
        seq += 1;
    }
    Ok(ClientReport::of(stats, Some(histogram)))
}

/// An open-loop requester: a second thread sends on schedule while this one reads the
/// replies; latency is measured from each request's due time.
fn paced_requester(
    plan: &Plan,
    shared: &Shared,
    index: usize,
    ready: &mut Option<Ready>,
) -> Result<ClientReport, String> {
    let result = request_paced(plan, shared, index, ready);
    shared.sender_finished();
    result
}

fn request_paced(
    plan: &Plan,
    shared: &Shared,
    index: usize,
    ready: &mut Option<Ready>,
) -> Result<ClientReport, String> {
    let Some((connection, inbox)) = prepare_sender(plan, shared, index, ready, "req")? else {
        return Ok(ClientReport::of(ClientStats::default(), None));
    };
    let Connection {
        mut writer,
        mut reader,
        ..
    } = connection;
    let interval_ns = 1e9 / plan.rate_per_publisher().unwrap_or(1.0);
    let limit = plan.msgs_for_publisher(index).unwrap_or(u64::MAX);
    // A millisecond ahead, so the first due time is not already past when sending starts.
    let start_ns = now_ns() + 1_000_000;
    let end_ns = match plan.limit {
        Limit::Duration(duration) => start_ns + duration.as_nanos() as u64,
        Limit::Msgs(_) => u64::MAX,
    };
    let requested = AtomicU64::new(0);
    let sending_done = AtomicBool::new(false);
    let (payload, headers) = message_template(plan);
    let subject = plan.subject.as_bytes();
    let burst = burst_msgs(plan, &headers);

    thread::scope(|scope| {
        let sending = scope.spawn(|| -> Result<(), String> {
            let mut reply = Vec::with_capacity(inbox.len() + 24);
            let mut seq = 0u64;
            let result = (|| {
                while seq < limit && !shared.aborted() {
                    let due = due_ns(start_ns, interval_ns, seq);
                    if due >= end_ns {
                        break;
                    }
                    wait_until(due);
                    let now = now_ns();
                    let mut count = 0;
                    while count < burst && seq < limit {
                        let due = due_ns(start_ns, interval_ns, seq);
                        if due > now || due >= end_ns {
                            break;
                        }
                        reply_subject(&mut reply, &inbox, seq);
                        writer
                            .publish(subject, Some(&reply), &headers, &payload, None)
                            .map_err(io_err)?;
                        seq += 1;
                        count += 1;
                    }
                    writer.flush().map_err(io_err)?;
                    requested.store(seq, Ordering::Release);
                    shared.sent.fetch_add(count, Ordering::Relaxed);
                }
                writer.flush().map_err(io_err)
            })();
            requested.store(seq, Ordering::Release);
            sending_done.store(true, Ordering::Release);
            result
        });

        let mut histogram = new_histogram();
        let mut stats = ClientStats {
            start_ns,
            ..ClientStats::default()
        };
        let mut last_reply = Instant::now();
        let received = loop {
            let outcome = reader.read_some(|op| {
                let ServerOp::Msg(message) = op else { return };
                if message.sid != SID_CONTROL {
                    return;
                }
                let Some(seq) = reply_seq(&message.subject) else {
                    return;
                };
                let now = now_ns();
                histogram.saturating_record(now.saturating_sub(due_ns(start_ns, interval_ns, seq)));
                stats.msgs += 1;
                stats.bytes += message.payload().len() as u64;
                stats.end_ns = now;
            });
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(error) => {
                    shared.abort.store(true, Ordering::Relaxed);
                    break Err(err(error));
                }
            };
            if outcome == ReadOutcome::Data {
                last_reply = Instant::now();
            }
            let done_sending = sending_done.load(Ordering::Acquire);
            if shared.aborted()
                || (done_sending && stats.msgs >= requested.load(Ordering::Acquire))
                || (done_sending && last_reply.elapsed() > DRAIN_IDLE)
            {
                break Ok(());
            }
        };
        let sent = sending
            .join()
            .unwrap_or_else(|_| Err("the sending thread panicked".to_string()));
        received.and(sent)?;
        Ok(ClientReport::of(stats, Some(histogram)))
    })
}

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

fn outcome(
    plan: &Plan,
    info: ServerInfo,
    senders: Vec<Result<ClientReport, String>>,
    receivers: Vec<Result<ClientReport, String>>,
) -> Outcome {
    let (sender_role, receiver_role) = plan.scenario.role_names();
    let mut errors = Vec::new();
    let mut histogram = new_histogram();
    let mut acks = AckCounts::default();
    let mut gather = |reports: Vec<Result<ClientReport, String>>| -> Vec<ClientStats> {
        reports
            .into_iter()
            .map(|report| match report {
                Ok(report) => {
                    if let Some(client_histogram) = &report.histogram {
                        // Invariant: every histogram comes from `new_histogram`, same bounds.
                        let _ = histogram.add(client_histogram);
                    }
                    acks.add(&report.acks);
                    report.stats
                }
                Err(error) => {
                    errors.push(error);
                    ClientStats::default()
                }
            })
            .collect()
    };
    let sender_stats = gather(senders);
    let receiver_stats = gather(receivers);
    let sent: u64 = sender_stats.iter().map(|s| s.msgs).sum();
    let senders = (plan.publishers > 0).then(|| GroupStats::of(sender_role, &sender_stats));
    let receivers = (plan.subscribers > 0).then(|| {
        let group = GroupStats::of(receiver_role, &receiver_stats);
        match (plan.scenario, plan.limit) {
            (Scenario::Pubsub | Scenario::Fanout, _) => {
                group.expecting(sent * plan.subscribers as u64)
            }
            (Scenario::Queue, _) => group.expecting(sent),
            (Scenario::Sub, Limit::Msgs(msgs)) => group.expecting(msgs * plan.subscribers as u64),
            _ => group,
        }
    });
    let latency_role = match plan.scenario {
        Scenario::Req | Scenario::JsPub => sender_role,
        _ => receiver_role,
    };
    let paced = plan.rate_msgs_per_sec.is_some();
    let latency = LatencySummary::of(&histogram, paced);
    let latency_note = match plan.scenario {
        Scenario::Pub => Some("publishers only: no latency to measure".to_string()),
        Scenario::Req if paced => Some(
            "measured from each request's scheduled send time (coordinated omission accounted for)"
                .to_string(),
        ),
        Scenario::Req => Some("round trip, one request in flight per requester".to_string()),
        Scenario::JsPub => Some(match &plan.jetstream {
            Some(js) if js.asynchronous => format!(
                "publish to ack, up to {} publishes in flight per publisher (so it includes queueing behind them)",
                js.window
            ),
            _ => "publish to ack, one publish in flight per publisher".to_string(),
        }),
        _ if !plan.stamps_payload() => Some(format!(
            "not measured: a {} B payload has no room for the 8-byte send timestamp",
            plan.size_bytes
        )),
        Scenario::Sub => Some(
            "from the publisher's timestamp: meaningful only when publisher and subscriber share a clock (same host)"
                .to_string(),
        ),
        _ if paced => Some(
            "measured from each message's scheduled send time (coordinated omission accounted for)"
                .to_string(),
        ),
        _ => Some(
            "unpaced: includes queueing behind the publishers' backlog; use --rate for latency at a fixed load"
                .to_string(),
        ),
    };
    Outcome {
        server_name: info.server_name,
        server_version: info.version,
        senders,
        receivers,
        latency,
        latency_role,
        histogram,
        latency_note,
        errors,
        acks: (plan.scenario == Scenario::JsPub).then_some(acks),
        stream: None,
        tool_cpu_secs: 0.0,
        wall_secs: 0.0,
    }
}

fn start_progress(plan: &Plan, shared: &Arc<Shared>) -> Progress {
    let (total, per_unit) = match (plan.scenario, plan.limit) {
        (Scenario::Sub, Limit::Msgs(msgs)) => (Some(msgs * plan.subscribers as u64), "received"),
        (Scenario::Sub, Limit::Duration(_)) => (None, "received"),
        (_, Limit::Msgs(msgs)) => (Some(msgs), "sent"),
        (_, Limit::Duration(_)) => (None, "sent"),
    };
    let duration = match plan.limit {
        Limit::Duration(duration) => Some(duration),
        Limit::Msgs(_) => None,
    };
    let shared = shared.clone();
    let counter: Box<dyn Fn() -> u64 + Send> = if per_unit == "received" {
        Box::new(move || shared.received.load(Ordering::Relaxed))
    } else {
        Box::new(move || shared.sent.load(Ordering::Relaxed))
    };
    Progress::start(counter, total, duration)
}

/// Pins the calling thread to one CPU; a failure only costs the pinning.
fn pin_current_thread(cpu: usize) {
    // SAFETY: cpu_set_t is plain data for which all-zero is the empty set; CPU_SET is
    // given an index below CPU_SETSIZE (checked), and sched_setaffinity reads exactly
    // size_of::<cpu_set_t>() bytes of the set we own.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu < libc::CPU_SETSIZE as usize {
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_subjects_carry_the_sequence() {
        let mut out = Vec::new();
        reply_subject(&mut out, b"_INBOX.ab.3", 12345);
        assert_eq!(out, b"_INBOX.ab.3.12345");
        assert_eq!(reply_seq(&out), Some(12345));
        assert_eq!(reply_seq(b"_INBOX.ab.3.r2"), None);
        assert_eq!(last_token(b"_INBOX.ab.3.r2"), b"r2");
        assert_eq!(reply_seq(b"x."), None);
        assert_eq!(parse_decimal(b"99999999999999999999"), None);
    }

    #[test]
    fn schedule_is_even() {
        assert_eq!(due_ns(1000, 2500.0, 0), 1000);
        assert_eq!(due_ns(1000, 2500.0, 4), 11_000);
        assert_eq!(due_ns(0, 333.3, 3), 999);
    }

    #[test]
    fn own_cpu_time_is_readable() {
        let before = process_cpu_secs();
        let mut x = 0u64;
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(process_cpu_secs() >= before);
    }
}
