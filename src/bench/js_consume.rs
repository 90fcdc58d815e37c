//! `tern bench js consume`: how fast one client reads a stream through a consumer.
//!
//! The run has two phases, only the second timed:
//!
//! ```text
//!   fill (untimed)                     consume (timed)
//!   STREAM.DELETE + STREAM.CREATE  ->  CONSUMER.CREATE ... last message read
//!   --msgs publishes, acked            (--ack explicit: + every ack processed)
//! ```
//!
//! Modes, as the official clients run them:
//! - `fetch`: a durable pull consumer; `MSG.NEXT` for `--batch` messages, every message
//!   read (and acked) before the next request, as `nats bench --pull` does with `Fetch`.
//! - `push`: a durable push consumer on an inbox with flow control (the tool answers
//!   every `100 FlowControl Request`) and idle heartbeats.
//! - `ordered`: what clients create for an ordered consumer: ephemeral, push, ack none,
//!   flow control, heartbeats, `max_deliver` 1, memory state; the tool checks that stream
//!   sequences arrive without a gap.
//!
//! With `--ack explicit` every message is acked with `+ACK` on its reply subject (batched
//! writes, as clients' asynchronous `ack()`), and the clock stops once a PING after the
//! last ack came back: the server has taken every ack in.

use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::{json, Value};

use crate::jetstream::api::AckSubject;
use crate::protocol::ServerOp;

use super::client::{now_ns, Connection, ReadOutcome, HANDSHAKE_TIMEOUT};
use super::js::{api_error, status_of, API_TIMEOUT};
use super::options::{
    check_stream_name, check_subject, parse_server, parse_size, ConnectionArgs, ServerUrl, Storage,
};
use super::report::group_digits;

/// The stream `js consume` fills and reads (its own, since the run deletes it first).
pub const JS_CONSUME_STREAM_DEFAULT: &str = "benchconsume";
/// Its subject.
pub const JS_CONSUME_SUBJECT_DEFAULT: &str = "tern.bench.jsc";
/// Messages per pull request by default (`nats bench`'s default batch is 100; larger
/// batches measure the server rather than the request round trip).
pub const FETCH_BATCH_DEFAULT: usize = 500;
/// `--batch` at most.
pub const FETCH_BATCH_MAX: usize = 100_000;
/// `--msgs` at most: the stream holds them all at once.
pub const CONSUME_MSGS_MAX: u64 = 100_000_000;
/// Publishes in flight while filling the stream.
const FILL_WINDOW_MSGS: u64 = 1024;
/// A pull request's `expires`: long enough never to end a batch early on a live server.
const FETCH_EXPIRES: Duration = Duration::from_secs(5);
/// Push and ordered consumers' idle heartbeat.
const PUSH_HEARTBEAT: Duration = Duration::from_secs(5);
/// The run fails when no message arrived for this long.
const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Subscription ids: the API inbox and the delivery inbox.
const SID_API: &[u8] = b"1";
const SID_DELIVER: &[u8] = b"2";
/// The durable consumer's name (deleted after the run).
const CONSUMER_NAME: &str = "tern-bench-consume";

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsumeMode {
    Fetch,
    Push,
    Ordered,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AckMode {
    Explicit,
    None,
}

/// Options of `js consume`.
#[derive(Args, Debug, Clone)]
pub struct JsConsumeArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// fetch (pull), push, or ordered
    #[arg(long, value_enum, default_value = "fetch")]
    pub mode: ConsumeMode,
    /// Ack policy: explicit (every message acked) or none; ordered is always none
    #[arg(long, value_enum, default_value = "explicit")]
    pub ack: AckMode,
    /// Messages to fill the stream with and read back
    #[arg(short = 'n', long, default_value_t = 100_000)]
    pub msgs: u64,
    /// Payload size: bytes, or with a suffix k/KiB/m/MiB (all powers of 1024)
    #[arg(long, default_value = "128", value_parser = parse_size)]
    pub size: usize,
    /// Messages per pull request (fetch)
    #[arg(long, default_value_t = FETCH_BATCH_DEFAULT)]
    pub batch: usize,
    /// The consumer's max_ack_pending (default: the server's, 1000)
    #[arg(long)]
    pub max_ack_pending: Option<i64>,
    /// Stream to fill and read; it is deleted and created afresh
    #[arg(long, default_value = JS_CONSUME_STREAM_DEFAULT)]
    pub stream: String,
    /// The stream's subject
    #[arg(long, default_value = JS_CONSUME_SUBJECT_DEFAULT)]
    pub subject: String,
    /// Storage of the stream (default file)
    #[arg(long, value_enum)]
    pub storage: Option<Storage>,
    /// Print the result as JSON
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print the result as CSV
    #[arg(long)]
    pub csv: bool,
}

/// What `js consume` measured.
#[derive(Debug, Clone, Serialize)]
pub struct ConsumeReport {
    pub mode: ConsumeMode,
    pub ack: AckMode,
    pub size_bytes: usize,
    pub storage: &'static str,
    pub msgs: u64,
    pub elapsed_secs: f64,
    pub msgs_per_sec: f64,
    pub mb_per_sec: f64,
    /// Pull requests sent (fetch), flow-control requests answered (push, ordered).
    pub requests: u64,
    pub flow_control_replies: u64,
    pub heartbeats: u64,
}

pub const CSV_HEADER: &str = "scenario,mode,ack,size_bytes,storage,msgs,elapsed_secs,msgs_per_sec,mb_per_sec,requests,flow_control_replies,heartbeats";

impl ConsumeMode {
    pub fn name(self) -> &'static str {
        match self {
            ConsumeMode::Fetch => "fetch",
            ConsumeMode::Push => "push",
            ConsumeMode::Ordered => "ordered",
        }
    }
}

impl AckMode {
    pub fn name(self) -> &'static str {
        match self {
            AckMode::Explicit => "explicit",
            AckMode::None => "none",
        }
    }
}

impl ConsumeReport {
    pub fn csv(&self) -> String {
        format!(
            "{CSV_HEADER}\njs consume,{},{},{},{},{},{:.6},{:.1},{:.3},{},{},{}\n",
            self.mode.name(),
            self.ack.name(),
            self.size_bytes,
            self.storage,
            self.msgs,
            self.elapsed_secs,
            self.msgs_per_sec,
            self.mb_per_sec,
            self.requests,
            self.flow_control_replies,
            self.heartbeats
        )
    }

    pub fn table(&self) -> String {
        format!(
            "js consume {}, ack {}, {} B, {} stream: {} msgs in {:.3} s = {} msgs/s, {:.1} MB/s ({} pull requests, {} flow-control replies, {} heartbeats)\n",
            self.mode.name(),
            self.ack.name(),
            self.size_bytes,
            self.storage,
            self.msgs,
            self.elapsed_secs,
            group_digits(self.msgs_per_sec),
            self.mb_per_sec,
            self.requests,
            self.flow_control_replies,
            self.heartbeats
        )
    }
}

/// The validated options.
#[derive(Debug, Clone)]
struct ConsumePlan {
    server: ServerUrl,
    mode: ConsumeMode,
    ack: AckMode,
    msgs: u64,
    size_bytes: usize,
    batch: usize,
    max_ack_pending: Option<i64>,
    stream: String,
    subject: String,
    storage: Storage,
}

fn plan_of(args: JsConsumeArgs) -> Result<ConsumePlan, String> {
    if args.msgs == 0 || args.msgs > CONSUME_MSGS_MAX {
        return Err(format!("--msgs must be 1 to {CONSUME_MSGS_MAX}"));
    }
    if args.batch == 0 || args.batch > FETCH_BATCH_MAX {
        return Err(format!("--batch must be 1 to {FETCH_BATCH_MAX}"));
    }
    check_subject(&args.subject, true)?;
    check_stream_name(&args.stream)?;
    let ack = match args.mode {
        ConsumeMode::Ordered => AckMode::None,
        _ => args.ack,
    };
    if args.mode == ConsumeMode::Ordered && args.ack == AckMode::Explicit {
        // Said once so a script does not think it measured acks.
        eprintln!("tern bench: ordered consumers do not ack; measuring --ack none");
    }
    Ok(ConsumePlan {
        server: parse_server(&args.connection)?,
        mode: args.mode,
        ack,
        msgs: args.msgs,
        size_bytes: args.size,
        batch: args.batch,
        max_ack_pending: args.max_ack_pending,
        stream: args.stream,
        subject: args.subject,
        storage: args.storage.unwrap_or(Storage::File),
    })
}

/// `tern bench js consume ...`.
pub fn main(args: JsConsumeArgs) -> Result<(), String> {
    let (json_out, csv_out) = (args.json, args.csv);
    let plan = plan_of(args)?;
    let report = run(&plan)?;
    if json_out {
        println!(
            "{:#}",
            serde_json::to_value(&report).map_err(|e| e.to_string())?
        );
    } else if csv_out {
        print!("{}", report.csv());
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

fn err(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// One connection: API requests on an inbox and deliveries on another.
struct Client {
    connection: Connection,
    inbox: String,
    requests: u64,
    /// Deliveries that arrived while an API answer was awaited (a push consumer starts
    /// before its create answer may arrive); handled first by the read loop.
    early: Vec<crate::protocol::Message>,
}

impl Client {
    fn connect(server: &ServerUrl) -> Result<Client, String> {
        let mut connection = Connection::connect(server, "tern-bench-js-consume").map_err(err)?;
        if !connection.info.jetstream {
            return Err(format!(
                "the server at {} has no JetStream (start it with -js)",
                server.display()
            ));
        }
        let inbox = format!("_INBOX.tern-bench-consume.{:x}", now_ns());
        connection
            .writer
            .subscribe(format!("{inbox}.api.*").as_bytes(), None, SID_API);
        connection
            .writer
            .subscribe(format!("{inbox}.deliver").as_bytes(), None, SID_DELIVER);
        connection
            .ping_pong(HANDSHAKE_TIMEOUT, |_| {})
            .map_err(err)?;
        Ok(Client {
            connection,
            inbox,
            requests: 0,
            early: Vec::new(),
        })
    }

    fn deliver_subject(&self) -> String {
        format!("{}.deliver", self.inbox)
    }

    /// One API request; its JSON answer (an API error is an `Err`).
    fn request(&mut self, subject: &str, body: &Value) -> Result<Value, String> {
        self.requests += 1;
        let reply = format!("{}.api.{}", self.inbox, self.requests);
        let body = body.to_string();
        let writer = &mut self.connection.writer;
        writer
            .publish(
                subject.as_bytes(),
                Some(reply.as_bytes()),
                b"",
                body.as_bytes(),
                None,
            )
            .map_err(err)?;
        writer.flush().map_err(err)?;
        let deadline = Instant::now() + API_TIMEOUT;
        let mut answer = None;
        let early = &mut self.early;
        while answer.is_none() {
            if Instant::now() > deadline {
                return Err(format!("no answer to {subject} within {API_TIMEOUT:?}"));
            }
            self.connection
                .reader
                .read_some(|op| {
                    if let ServerOp::Msg(message) = op {
                        if message.sid.as_ref() == SID_DELIVER {
                            early.push(message);
                        } else if message.subject.as_ref() == reply.as_bytes() {
                            answer = Some(
                                serde_json::from_slice::<Value>(message.payload())
                                    .map_err(|e| format!("{subject}: answer not JSON: {e}")),
                            );
                        }
                    }
                })
                .map_err(err)?;
            if self.connection.writer.owes_pongs() {
                self.connection.writer.flush().map_err(err)?;
            }
        }
        let answer = answer.unwrap_or_else(|| Err(format!("no answer to {subject}")))?;
        match api_error(&answer) {
            Some((code, description)) => Err(format!("{subject}: {description} ({code})")),
            None => Ok(answer),
        }
    }

    /// Deletes and creates the stream, and publishes `msgs` messages into it.
    fn fill(&mut self, plan: &ConsumePlan) -> Result<(), String> {
        let _ = self.request(
            &format!("$JS.API.STREAM.DELETE.{}", plan.stream),
            &json!({}),
        );
        self.request(
            &format!("$JS.API.STREAM.CREATE.{}", plan.stream),
            &json!({
                "name": plan.stream,
                "subjects": [plan.subject],
                "storage": plan.storage.name(),
                "num_replicas": 1,
            }),
        )?;
        let payload = vec![b'x'; plan.size_bytes];
        let ack_inbox = format!("{}.api.fill", self.inbox);
        let (mut sent, mut acked) = (0u64, 0u64);
        let mut last_progress = Instant::now();
        while acked < plan.msgs {
            while sent < plan.msgs && sent - acked < FILL_WINDOW_MSGS {
                self.connection
                    .writer
                    .publish(
                        plan.subject.as_bytes(),
                        Some(ack_inbox.as_bytes()),
                        b"",
                        &payload,
                        None,
                    )
                    .map_err(err)?;
                sent += 1;
            }
            self.connection.writer.flush().map_err(err)?;
            let mut failed = None;
            let outcome = self
                .connection
                .reader
                .read_some(|op| {
                    if let ServerOp::Msg(message) = op {
                        if message.subject.as_ref() == ack_inbox.as_bytes() {
                            if memchr::memmem::find(message.payload(), b"\"error\"").is_some()
                                || message.headers().is_some()
                            {
                                failed = Some(String::from_utf8_lossy(&message.body).into_owned());
                            }
                            acked += 1;
                        }
                    }
                })
                .map_err(err)?;
            if let Some(failure) = failed {
                return Err(format!("filling the stream failed: {failure}"));
            }
            if outcome == ReadOutcome::Data {
                last_progress = Instant::now();
            } else if last_progress.elapsed() > STALL_TIMEOUT {
                return Err(format!(
                    "filling the stream: {acked} of {sent} publishes acked, then nothing"
                ));
            }
        }
        Ok(())
    }
}

/// Fills the stream, then reads it through a consumer of the plan's mode.
fn run(plan: &ConsumePlan) -> Result<ConsumeReport, String> {
    let mut client = Client::connect(&plan.server)?;
    client.fill(plan)?;
    let mut config = json!({
        "deliver_policy": "all",
        "ack_policy": match plan.ack { AckMode::Explicit => "explicit", AckMode::None => "none" },
        "replay_policy": "instant",
        "num_replicas": 1,
    });
    if let Some(max) = plan.max_ack_pending {
        config["max_ack_pending"] = json!(max);
    }
    let heartbeat_ns = PUSH_HEARTBEAT.as_nanos() as u64;
    let (create_subject, consumer_name) = match plan.mode {
        ConsumeMode::Fetch => {
            config["durable_name"] = json!(CONSUMER_NAME);
            (
                format!(
                    "$JS.API.CONSUMER.DURABLE.CREATE.{}.{CONSUMER_NAME}",
                    plan.stream
                ),
                Some(CONSUMER_NAME.to_string()),
            )
        }
        ConsumeMode::Push => {
            config["durable_name"] = json!(CONSUMER_NAME);
            config["deliver_subject"] = json!(client.deliver_subject());
            config["flow_control"] = json!(true);
            config["idle_heartbeat"] = json!(heartbeat_ns);
            (
                format!(
                    "$JS.API.CONSUMER.DURABLE.CREATE.{}.{CONSUMER_NAME}",
                    plan.stream
                ),
                Some(CONSUMER_NAME.to_string()),
            )
        }
        ConsumeMode::Ordered => {
            config["deliver_subject"] = json!(client.deliver_subject());
            config["flow_control"] = json!(true);
            config["idle_heartbeat"] = json!(heartbeat_ns);
            config["max_deliver"] = json!(1);
            config["mem_storage"] = json!(true);
            config["inactive_threshold"] = json!(300_000_000_000u64);
            (format!("$JS.API.CONSUMER.CREATE.{}", plan.stream), None)
        }
    };
    let started = Instant::now();
    let created = client.request(
        &create_subject,
        &json!({ "stream_name": plan.stream, "config": config }),
    )?;
    let name = consumer_name
        .or_else(|| created["name"].as_str().map(str::to_string))
        .ok_or("the consumer create answer has no name")?;
    let mut counts = Counts::default();
    match plan.mode {
        ConsumeMode::Fetch => fetch_all(&mut client, plan, &name, &mut counts)?,
        ConsumeMode::Push | ConsumeMode::Ordered => push_all(&mut client, plan, &mut counts)?,
    }
    if plan.ack == AckMode::Explicit {
        client
            .connection
            .ping_pong(API_TIMEOUT, |_| {})
            .map_err(err)?;
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let _ = client.request(
        &format!("$JS.API.CONSUMER.DELETE.{}.{name}", plan.stream),
        &json!({}),
    );
    let msgs_per_sec = counts.msgs as f64 / elapsed;
    Ok(ConsumeReport {
        mode: plan.mode,
        ack: plan.ack,
        size_bytes: plan.size_bytes,
        storage: plan.storage.name(),
        msgs: counts.msgs,
        elapsed_secs: elapsed,
        msgs_per_sec,
        mb_per_sec: msgs_per_sec * plan.size_bytes as f64 / (1024.0 * 1024.0),
        requests: counts.pulls,
        flow_control_replies: counts.flow_control_replies,
        heartbeats: counts.heartbeats,
    })
}

#[derive(Default)]
struct Counts {
    msgs: u64,
    pulls: u64,
    flow_control_replies: u64,
    heartbeats: u64,
    /// The last stream sequence seen (ordered: each must follow the previous).
    last_stream_seq: u64,
}

/// What one delivered message was.
enum Delivered {
    Data {
        reply: Option<bytes::Bytes>,
    },
    /// A `100` status: flow-control request (with its reply) or heartbeat.
    Control {
        reply: Option<bytes::Bytes>,
    },
    /// Any other status (404, 408, 409): ends a pull request.
    EndOfRequest(u16),
}

fn classify(message: &crate::protocol::Message) -> Delivered {
    match message.headers().and_then(status_of) {
        Some((100, _)) => Delivered::Control {
            reply: message.reply.clone(),
        },
        Some((code, _)) => Delivered::EndOfRequest(code),
        None => Delivered::Data {
            reply: message.reply.clone(),
        },
    }
}

/// Checks an ordered consumer's stream sequence (from the ack subject) follows the last.
fn check_order(counts: &mut Counts, reply: Option<&bytes::Bytes>) -> Result<(), String> {
    let subject = reply
        .and_then(|r| std::str::from_utf8(r).ok())
        .and_then(AckSubject::parse)
        .ok_or("a delivery without a JetStream ack subject")?;
    if subject.stream_seq != counts.last_stream_seq + 1 {
        return Err(format!(
            "ordered consumer: stream sequence {} after {}",
            subject.stream_seq, counts.last_stream_seq
        ));
    }
    counts.last_stream_seq = subject.stream_seq;
    Ok(())
}

fn fetch_all(
    client: &mut Client,
    plan: &ConsumePlan,
    name: &str,
    counts: &mut Counts,
) -> Result<(), String> {
    let next_subject = format!("$JS.API.CONSUMER.MSG.NEXT.{}.{name}", plan.stream);
    let deliver = client.deliver_subject();
    let request = json!({
        "batch": plan.batch,
        "expires": FETCH_EXPIRES.as_nanos() as u64,
    })
    .to_string();
    while counts.msgs < plan.msgs {
        client
            .connection
            .writer
            .publish(
                next_subject.as_bytes(),
                Some(deliver.as_bytes()),
                b"",
                request.as_bytes(),
                None,
            )
            .map_err(err)?;
        client.connection.writer.flush().map_err(err)?;
        counts.pulls += 1;
        let mut in_batch = 0usize;
        let mut ended = false;
        let mut last_data = Instant::now();
        while !ended && in_batch < plan.batch && counts.msgs < plan.msgs {
            let in_batch_before = in_batch;
            let Client { connection, .. } = client;
            let writer = &mut connection.writer;
            let mut failure = None;
            let outcome = connection
                .reader
                .read_some(|op| {
                    let ServerOp::Msg(message) = op else { return };
                    if message.sid.as_ref() != SID_DELIVER {
                        return;
                    }
                    match classify(&message) {
                        Delivered::Data { reply } => {
                            counts.msgs += 1;
                            in_batch += 1;
                            if plan.ack == AckMode::Explicit {
                                if let Some(reply) = reply {
                                    if let Err(e) = writer.publish(&reply, None, b"", b"+ACK", None)
                                    {
                                        failure = Some(e.to_string());
                                    }
                                }
                            }
                        }
                        Delivered::Control { .. } => counts.heartbeats += 1,
                        Delivered::EndOfRequest(_) => ended = true,
                    }
                })
                .map_err(err)?;
            if let Some(failure) = failure {
                return Err(failure);
            }
            writer.flush().map_err(err)?;
            if outcome == ReadOutcome::Data && in_batch > in_batch_before {
                last_data = Instant::now();
            } else if last_data.elapsed() > STALL_TIMEOUT {
                return Err(format!(
                    "fetch: {} of {} messages, then nothing for {STALL_TIMEOUT:?}",
                    counts.msgs, plan.msgs
                ));
            }
        }
    }
    Ok(())
}

/// One delivery to a push or ordered consumer: counted, acked, or answered.
fn on_push_delivery(
    message: &crate::protocol::Message,
    writer: &mut super::client::Writer,
    plan: &ConsumePlan,
    counts: &mut Counts,
) -> Result<(), String> {
    match classify(message) {
        Delivered::Data { reply } => {
            counts.msgs += 1;
            if plan.mode == ConsumeMode::Ordered {
                check_order(counts, reply.as_ref())?;
            } else if plan.ack == AckMode::Explicit {
                if let Some(reply) = reply {
                    writer
                        .publish(&reply, None, b"", b"+ACK", None)
                        .map_err(err)?;
                }
            }
        }
        Delivered::Control { reply: Some(reply) } => {
            counts.flow_control_replies += 1;
            writer.publish(&reply, None, b"", b"", None).map_err(err)?;
        }
        Delivered::Control { reply: None } => counts.heartbeats += 1,
        Delivered::EndOfRequest(code) => return Err(format!("push consumer: status {code}")),
    }
    Ok(())
}

fn push_all(client: &mut Client, plan: &ConsumePlan, counts: &mut Counts) -> Result<(), String> {
    for message in std::mem::take(&mut client.early) {
        on_push_delivery(&message, &mut client.connection.writer, plan, counts)?;
    }
    let mut last_data = Instant::now();
    while counts.msgs < plan.msgs {
        let msgs_before = counts.msgs;
        let Client { connection, .. } = client;
        let writer = &mut connection.writer;
        let mut failure = None;
        connection
            .reader
            .read_some(|op| {
                let ServerOp::Msg(message) = op else { return };
                if message.sid.as_ref() != SID_DELIVER || failure.is_some() {
                    return;
                }
                if let Err(error) = on_push_delivery(&message, writer, plan, counts) {
                    failure = Some(error);
                }
            })
            .map_err(err)?;
        if let Some(failure) = failure {
            return Err(failure);
        }
        connection.writer.flush().map_err(err)?;
        // Heartbeats are no progress: only data messages are.
        if counts.msgs > msgs_before {
            last_data = Instant::now();
        } else if last_data.elapsed() > STALL_TIMEOUT {
            return Err(format!(
                "push: {} of {} messages, then nothing for {STALL_TIMEOUT:?} ({} flow-control replies)",
                counts.msgs, plan.msgs, counts.flow_control_replies
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: JsConsumeArgs,
    }

    fn plan(words: &str) -> Result<ConsumePlan, String> {
        let args = Wrapper::try_parse_from(std::iter::once("x").chain(words.split_whitespace()))
            .map_err(|e| e.to_string())?
            .args;
        plan_of(args)
    }

    #[test]
    fn options_and_their_bounds() {
        let p = plan("").unwrap();
        assert_eq!(
            (p.mode, p.ack, p.msgs, p.batch),
            (ConsumeMode::Fetch, AckMode::Explicit, 100_000, 500)
        );
        assert_eq!(p.storage, Storage::File);
        let p = plan("--mode ordered --ack explicit").unwrap();
        assert_eq!(p.ack, AckMode::None, "ordered consumers never ack");
        let p = plan("--mode push --ack none --storage memory --msgs 10 --size 1k").unwrap();
        assert_eq!(
            (p.mode, p.ack, p.msgs, p.size_bytes),
            (ConsumeMode::Push, AckMode::None, 10, 1024)
        );
        assert_eq!(p.storage, Storage::Memory);
        for bad in [
            "--msgs 0",
            "--batch 0",
            "--batch 100001",
            "--stream a.b",
            "--subject a.*",
            "--mode pull",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reports_as_csv_and_table() {
        let report = ConsumeReport {
            mode: ConsumeMode::Push,
            ack: AckMode::Explicit,
            size_bytes: 128,
            storage: "file",
            msgs: 1000,
            elapsed_secs: 0.5,
            msgs_per_sec: 2000.0,
            mb_per_sec: 0.244,
            requests: 0,
            flow_control_replies: 3,
            heartbeats: 0,
        };
        let csv = report.csv();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some(CSV_HEADER));
        assert_eq!(
            lines.next(),
            Some("js consume,push,explicit,128,file,1000,0.500000,2000.0,0.244,0,3,0")
        );
        assert!(
            report.table().contains("2,000 msgs/s"),
            "{}",
            report.table()
        );
    }

    #[test]
    fn ordered_deliveries_must_follow_each_other() {
        let mut counts = Counts::default();
        let ack = |seq: u64| {
            Some(bytes::Bytes::from(format!(
                "$JS.ACK.S.C.1.{seq}.{seq}.1700000000000000000.0"
            )))
        };
        check_order(&mut counts, ack(1).as_ref()).unwrap();
        check_order(&mut counts, ack(2).as_ref()).unwrap();
        assert!(check_order(&mut counts, ack(4).as_ref()).is_err());
        assert!(check_order(&mut counts, None).is_err());
    }
}
