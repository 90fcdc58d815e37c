//! The `tern bench` command line, and the [`Plan`] a scenario runs from.
//!
//! clap parses the words; everything that gives them meaning (size and duration
//! suffixes, server URLs, per-scenario client counts and their defaults) is a plain
//! function here, so it is unit-tested without a process.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Messages a throughput scenario sends when neither `--msgs` nor `--duration` is given.
pub const MSGS_DEFAULT: u64 = 100_000;
/// Requests a `req` run sends by default: each is a round trip, so fewer.
pub const REQUESTS_DEFAULT: u64 = 10_000;
/// Subscribers of `fanout` and members of `queue` by default.
pub const FANOUT_SUBSCRIBERS_DEFAULT: usize = 4;
/// Clients of one role; each is an OS thread with its own socket.
pub const CLIENTS_PER_ROLE_MAX: usize = 10_000;
/// Header fields `--headers` may add.
pub const HEADERS_MAX: usize = 1_000;
/// Payload bytes at most; servers refuse more than their `max_payload` anyway (1 MiB by
/// default), and the tool checks against the value the server announces.
pub const SIZE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// The server used when `--server` is not given, as `nats bench` does.
pub const SERVER_DEFAULT: &str = "nats://127.0.0.1:4222";
/// NATS's default client port.
pub const NATS_PORT_DEFAULT: u16 = 4222;
/// The stream `js pub` publishes to when `--stream` is not given (as `nats bench` names it).
pub const JS_STREAM_DEFAULT: &str = "benchstream";
/// The subject of `js pub` when `--subject` is not given: not the core scenarios' subject,
/// so a stream created for JetStream runs does not capture core runs on the same server.
pub const JS_SUBJECT_DEFAULT: &str = "tern.bench.js";
/// Unacknowledged publishes per publisher with `--async` when `--window` is not given.
pub const JS_WINDOW_DEFAULT: usize = 256;
/// `--window` at most: each in-flight publish holds a slot (its sequence and send time).
pub const JS_WINDOW_MAX: usize = 65_536;
/// `--replicas` at most, as nats-server allows.
pub const JS_REPLICAS_MAX: usize = 5;

#[derive(Parser, Debug)]
#[command(
    name = "tern bench",
    about = "Load-test any NATS server (tern or nats-server) and report throughput and latency",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Publishers only: how fast the server takes messages in.
    Pub(LoadArgs),
    /// Subscribers only, for messages published by another process (e.g. `tern bench pub`).
    Sub(LoadArgs),
    /// N publishers and M subscribers on one subject: every subscriber gets every message.
    Pubsub(LoadArgs),
    /// One publisher, M subscribers (default 4).
    Fanout(LoadArgs),
    /// Publishers and M members of one queue group (default 4): each message goes to one member.
    Queue(LoadArgs),
    /// Request/reply: K requesters (--clients) and R responders (--subs) in a queue group.
    Req(LoadArgs),
    /// Hold idle connections (and subscriptions) open, to measure a server's memory.
    Conns(ConnsArgs),
    /// A trivial server that discards what it is sent: measures the tool's own ceiling.
    Sink(SinkArgs),
    /// Key-Value: synchronous puts or gets on a bucket (`kv put`, `kv get`).
    Kv(Box<super::kv::KvBenchArgs>),
    /// JetStream scenarios: `js pub` publishes to a stream with acknowledgements.
    Js {
        #[command(subcommand)]
        command: JsCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum JsCommand {
    /// Publish to a stream and wait for its acknowledgements (PubAcks): acked msgs/s and
    /// publish-to-ack latency.
    Pub(Box<JsPubArgs>),
    /// Fill a stream, then read it through a consumer (pull fetch, push, ordered; acks
    /// explicit or none): consumed msgs/s.
    Consume(Box<super::js_consume::JsConsumeArgs>),
}

/// Where to connect and as whom.
#[derive(Args, Debug, Clone)]
pub struct ConnectionArgs {
    /// Server URL: nats://[user:password@|token@]host[:port]
    #[arg(short, long, default_value = SERVER_DEFAULT)]
    pub server: String,
    /// User name (overrides one in the URL)
    #[arg(long)]
    pub user: Option<String>,
    /// Password (overrides one in the URL)
    #[arg(long)]
    pub password: Option<String>,
    /// Authentication token
    #[arg(long)]
    pub token: Option<String>,
}

/// Options of the load scenarios (pub, sub, pubsub, fanout, queue, req).
#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Clients of the scenario's main role (pub: publishers; sub, fanout, queue:
    /// subscribers; pubsub: both; req: requesters)
    #[arg(short = 'c', long)]
    pub clients: Option<usize>,
    /// Publishers
    #[arg(long)]
    pub pubs: Option<usize>,
    /// Subscribers (req: responders)
    #[arg(long)]
    pub subs: Option<usize>,
    /// Payload size: bytes, or with a suffix k/KiB/m/MiB (all powers of 1024)
    #[arg(long, default_value = "128", value_parser = parse_size)]
    pub size: usize,
    /// Messages in all, shared among the publishers (default 100000; req: 10000)
    #[arg(short = 'n', long, conflicts_with = "duration")]
    pub msgs: Option<u64>,
    /// Publish for this long instead of a message count: 500ms, 5s, 1m
    #[arg(short = 'd', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Target rate in messages (or requests) per second, in all; paced sending, and
    /// latency measured from each message's scheduled send time
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Subject to publish and subscribe on
    #[arg(long, default_value = "tern.bench")]
    pub subject: String,
    /// Queue group name (queue, req)
    #[arg(long, default_value = "tern-bench")]
    pub queue: String,
    /// Add this many header fields to every message (HPUB)
    #[arg(long, default_value_t = 0)]
    pub headers: usize,
    /// Print the result as JSON
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print the result as CSV
    #[arg(long)]
    pub csv: bool,
    /// Draw the latency percentile distribution into this SVG file
    #[arg(long)]
    pub histogram: Option<PathBuf>,
    /// No progress bar on stderr
    #[arg(long)]
    pub no_progress: bool,
    /// Pin client threads to CPUs, round-robin
    #[arg(long)]
    pub pin: bool,
}

/// Options of `js pub`.
#[derive(Args, Debug, Clone)]
pub struct JsPubArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Publishers, each on its own connection
    #[arg(short = 'c', long, visible_alias = "clients")]
    pub pubs: Option<usize>,
    /// Payload size: bytes, or with a suffix k/KiB/m/MiB (all powers of 1024)
    #[arg(long, default_value = "128", value_parser = parse_size)]
    pub size: usize,
    /// Messages in all, shared among the publishers (default 100000)
    #[arg(short = 'n', long, conflicts_with = "duration")]
    pub msgs: Option<u64>,
    /// Publish for this long instead of a message count: 500ms, 5s, 1m
    #[arg(short = 'd', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Subject to publish on; a created stream captures exactly this subject
    #[arg(long, default_value = JS_SUBJECT_DEFAULT)]
    pub subject: String,
    /// Add this many header fields to every message (HPUB)
    #[arg(long, default_value_t = 0)]
    pub headers: usize,
    /// Each publisher waits for its ack before the next publish (the default)
    #[arg(long = "sync", conflicts_with = "asynchronous")]
    pub synchronous: bool,
    /// Each publisher keeps up to --window unacknowledged publishes in flight
    #[arg(long = "async")]
    pub asynchronous: bool,
    /// Unacknowledged publishes per publisher with --async (default 256)
    #[arg(long, requires = "asynchronous")]
    pub window: Option<usize>,
    /// Stream to publish to
    #[arg(long, default_value = JS_STREAM_DEFAULT)]
    pub stream: String,
    /// Storage of a stream the tool creates (default file); if given, an existing stream must match
    #[arg(long, value_enum)]
    pub storage: Option<Storage>,
    /// Replicas of a stream the tool creates (default 1); if given, an existing stream must match
    #[arg(long)]
    pub replicas: Option<usize>,
    /// Purge the stream before the run
    #[arg(long)]
    pub purge: bool,
    /// Create the stream if it is missing, capturing --subject (the default)
    #[arg(long, overrides_with = "no_create")]
    pub create: bool,
    /// Fail instead of creating a missing stream
    #[arg(long, overrides_with = "create")]
    pub no_create: bool,
    /// Give every message a unique Nats-Msg-Id header (exercises the server's dedup)
    #[arg(long)]
    pub msg_id: bool,
    /// Print the result as JSON
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print the result as CSV
    #[arg(long)]
    pub csv: bool,
    /// Draw the ack latency percentile distribution into this SVG file
    #[arg(long)]
    pub histogram: Option<PathBuf>,
    /// No progress bar on stderr
    #[arg(long)]
    pub no_progress: bool,
    /// Pin client threads to CPUs, round-robin
    #[arg(long)]
    pub pin: bool,
}

/// Where a stream keeps its messages.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    File,
    Memory,
}

impl Storage {
    /// The name in stream configs (`"storage": "file"`).
    pub fn name(self) -> &'static str {
        match self {
            Storage::File => "file",
            Storage::Memory => "memory",
        }
    }

    pub fn from_name(name: &str) -> Option<Storage> {
        match name {
            "file" => Some(Storage::File),
            "memory" => Some(Storage::Memory),
            _ => None,
        }
    }
}

/// Options of `conns`.
#[derive(Args, Debug, Clone)]
pub struct ConnsArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Connections to open
    #[arg(short = 'c', long, default_value_t = 1000)]
    pub clients: usize,
    /// Subscriptions per connection, each on its own subject
    #[arg(long, default_value_t = 0)]
    pub subs: usize,
    /// How long to hold them once all are open
    #[arg(short = 'd', long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Subject prefix of the subscriptions
    #[arg(long, default_value = "tern.bench.idle")]
    pub subject: String,
}

/// Options of `sink`.
#[derive(Args, Debug, Clone)]
pub struct SinkArgs {
    /// Address to listen on (port 0: any free port)
    #[arg(short, long, default_value = "127.0.0.1:0")]
    pub listen: String,
}

/// The load scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Pub,
    Sub,
    Pubsub,
    Fanout,
    Queue,
    Req,
    /// Publishers to a JetStream stream, each waiting for acknowledgements.
    JsPub,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Pub => "pub",
            Scenario::Sub => "sub",
            Scenario::Pubsub => "pubsub",
            Scenario::Fanout => "fanout",
            Scenario::Queue => "queue",
            Scenario::Req => "req",
            Scenario::JsPub => "js pub",
        }
    }

    /// Names of the two roles as reports print them.
    pub fn role_names(self) -> (&'static str, &'static str) {
        match self {
            Scenario::Req => ("requesters", "responders"),
            _ => ("publishers", "subscribers"),
        }
    }
}

/// When publishing stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// This many messages in all.
    Msgs(u64),
    /// For this long.
    Duration(Duration),
}

/// How the result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
    Csv,
}

/// A server address and credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// `host:port`, as `TcpStream::connect` takes it.
    pub address: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
}

impl ServerUrl {
    /// The URL without credentials, for reports.
    pub fn display(&self) -> String {
        format!("nats://{}", self.address)
    }
}

/// Everything a scenario run needs, resolved and validated.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scenario: Scenario,
    pub server: ServerUrl,
    /// Publishers (req: requesters).
    pub publishers: usize,
    /// Subscribers (req: responders; queue: group members).
    pub subscribers: usize,
    pub size_bytes: usize,
    pub limit: Limit,
    pub rate_msgs_per_sec: Option<f64>,
    pub subject: String,
    pub queue: String,
    pub headers: usize,
    pub output: Output,
    pub histogram: Option<PathBuf>,
    pub progress: bool,
    pub pin: bool,
    /// The JetStream part of a `js` scenario; None for the core ones.
    pub jetstream: Option<JsPlan>,
}

/// What a `js pub` run does with its stream and acknowledgements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsPlan {
    pub stream: String,
    /// As asked: None leaves an existing stream's storage unchecked (and creates file).
    pub storage: Option<Storage>,
    /// As asked: None leaves an existing stream's replicas unchecked (and creates 1).
    pub replicas: Option<usize>,
    pub purge: bool,
    pub create: bool,
    pub msg_id: bool,
    /// Unacknowledged publishes per publisher at most; 1 with `--sync`.
    pub window: usize,
    /// `--async` (a window of 1 with `--async` is still reported as async).
    pub asynchronous: bool,
}

impl JsPlan {
    /// `sync` or `async window N`, for reports.
    pub fn mode(&self) -> String {
        if self.asynchronous {
            format!("async window {}", self.window)
        } else {
            "sync".to_string()
        }
    }
}

impl Plan {
    /// Resolves per-scenario defaults and checks the combination.
    pub fn new(scenario: Scenario, args: LoadArgs) -> Result<Plan, String> {
        let (publishers, subscribers) = client_counts(scenario, &args)?;
        for (count, what) in [(publishers, "publishers"), (subscribers, "subscribers")] {
            if count > CLIENTS_PER_ROLE_MAX {
                return Err(format!(
                    "{count} {what} is more than the {CLIENTS_PER_ROLE_MAX} the tool allows"
                ));
            }
        }
        let default_msgs = match scenario {
            Scenario::Req => REQUESTS_DEFAULT,
            _ => MSGS_DEFAULT,
        };
        let limit = resolve_limit(args.msgs, args.duration, default_msgs)?;
        check_size_and_headers(args.size, args.headers)?;
        if args.rate.is_some() && scenario == Scenario::Sub {
            return Err("--rate paces publishers; `sub` has none".to_string());
        }
        check_subject(&args.subject, scenario != Scenario::Sub)?;
        if args.queue.is_empty() || args.queue.contains([' ', '\t', '\r', '\n']) {
            return Err(format!(
                "--queue {:?} is not a valid queue name",
                args.queue
            ));
        }
        let output = output_of(args.json, args.csv);
        Ok(Plan {
            scenario,
            server: parse_server(&args.connection)?,
            publishers,
            subscribers,
            size_bytes: args.size,
            limit,
            rate_msgs_per_sec: args.rate,
            subject: args.subject,
            queue: args.queue,
            headers: args.headers,
            output,
            histogram: args.histogram,
            progress: !args.no_progress && output == Output::Table,
            pin: args.pin,
            jetstream: None,
        })
    }

    /// The plan of `js pub`.
    pub fn js_pub(args: JsPubArgs) -> Result<Plan, String> {
        let publishers = args.pubs.unwrap_or(1);
        if publishers == 0 {
            return Err("`js pub` needs at least one publisher".to_string());
        }
        if publishers > CLIENTS_PER_ROLE_MAX {
            return Err(format!(
                "{publishers} publishers is more than the {CLIENTS_PER_ROLE_MAX} the tool allows"
            ));
        }
        let limit = resolve_limit(args.msgs, args.duration, MSGS_DEFAULT)?;
        check_size_and_headers(args.size, args.headers)?;
        check_subject(&args.subject, true)?;
        check_stream_name(&args.stream)?;
        let window = match (args.asynchronous, args.window) {
            (false, _) => 1,
            (true, None) => JS_WINDOW_DEFAULT,
            (true, Some(window)) if (1..=JS_WINDOW_MAX).contains(&window) => window,
            (true, Some(window)) => {
                return Err(format!(
                    "--window {window} is out of range (1 to {JS_WINDOW_MAX})"
                ))
            }
        };
        if let Some(replicas) = args.replicas {
            if !(1..=JS_REPLICAS_MAX).contains(&replicas) {
                return Err(format!(
                    "--replicas {replicas} is out of range (1 to {JS_REPLICAS_MAX})"
                ));
            }
        }
        let output = output_of(args.json, args.csv);
        Ok(Plan {
            scenario: Scenario::JsPub,
            server: parse_server(&args.connection)?,
            publishers,
            subscribers: 0,
            size_bytes: args.size,
            limit,
            rate_msgs_per_sec: None,
            subject: args.subject,
            queue: String::new(),
            headers: args.headers,
            output,
            histogram: args.histogram,
            progress: !args.no_progress && output == Output::Table,
            pin: args.pin,
            jetstream: Some(JsPlan {
                stream: args.stream,
                storage: args.storage,
                replicas: args.replicas,
                purge: args.purge,
                create: !args.no_create,
                msg_id: args.msg_id,
                window,
                asynchronous: args.asynchronous,
            }),
        })
    }

    /// Messages publisher `index` sends in a message-count run: the total split evenly,
    /// the remainder going to the first publishers.
    pub fn msgs_for_publisher(&self, index: usize) -> Option<u64> {
        match self.limit {
            Limit::Msgs(total) => Some(share(total, self.publishers, index)),
            Limit::Duration(_) => None,
        }
    }

    /// The pace of one publisher, in messages per second.
    pub fn rate_per_publisher(&self) -> Option<f64> {
        self.rate_msgs_per_sec
            .map(|rate| rate / self.publishers.max(1) as f64)
    }

    /// Whether messages can carry a send timestamp (its first 8 payload bytes).
    pub fn stamps_payload(&self) -> bool {
        self.size_bytes >= TIMESTAMP_BYTES
    }
}

/// Bytes of the send timestamp at the start of a payload.
pub const TIMESTAMP_BYTES: usize = 8;

/// `--msgs` or `--duration`, else `default_msgs`.
fn resolve_limit(
    msgs: Option<u64>,
    duration: Option<Duration>,
    default_msgs: u64,
) -> Result<Limit, String> {
    match (msgs, duration) {
        (Some(0), _) => Err("--msgs must be at least 1".to_string()),
        (Some(msgs), _) => Ok(Limit::Msgs(msgs)),
        (None, Some(duration)) if duration.is_zero() => {
            Err("--duration must be longer than 0".to_string())
        }
        (None, Some(duration)) => Ok(Limit::Duration(duration)),
        (None, None) => Ok(Limit::Msgs(default_msgs)),
    }
}

fn check_size_and_headers(size: usize, headers: usize) -> Result<(), String> {
    if size > SIZE_BYTES_MAX {
        return Err(format!("--size {size} is more than {SIZE_BYTES_MAX} bytes"));
    }
    if headers > HEADERS_MAX {
        return Err(format!("--headers is at most {HEADERS_MAX}"));
    }
    Ok(())
}

/// A subject the tool can put on the wire; `literal` when it is published to.
pub(super) fn check_subject(subject: &str, literal: bool) -> Result<(), String> {
    if subject.is_empty() || subject.contains([' ', '\t', '\r', '\n']) {
        return Err(format!("--subject {subject:?} is not a valid subject"));
    }
    if literal && subject.contains(['*', '>']) {
        return Err("--subject must be a literal subject to publish on".to_string());
    }
    Ok(())
}

/// A stream name as nats-server accepts it: not empty, no whitespace, `.`, `*`, `>` or
/// path separators (it names a directory and is a token of API subjects).
pub(super) fn check_stream_name(name: &str) -> Result<(), String> {
    let bad = |c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\');
    if name.is_empty() || name.contains(bad) {
        return Err(format!(
            "--stream {name:?} is not a valid stream name (no spaces, '.', '*', '>', '/' or '\\')"
        ));
    }
    Ok(())
}

fn output_of(json: bool, csv: bool) -> Output {
    match (json, csv) {
        (true, _) => Output::Json,
        (_, true) => Output::Csv,
        _ => Output::Table,
    }
}

/// `total` split over `parts`, the remainder to the first ones.
pub fn share(total: u64, parts: usize, index: usize) -> u64 {
    let parts = parts.max(1) as u64;
    let index = index as u64;
    total / parts + u64::from(index < total % parts)
}

/// (publishers, subscribers) of a scenario, from `--clients`/`--pubs`/`--subs` and defaults.
fn client_counts(scenario: Scenario, args: &LoadArgs) -> Result<(usize, usize), String> {
    let (pubs, subs) = match scenario {
        Scenario::Pub | Scenario::JsPub => {
            if args.subs.is_some_and(|subs| subs > 0) {
                return Err("`pub` has no subscribers: use `pubsub` for --subs".to_string());
            }
            (args.pubs.or(args.clients).unwrap_or(1), 0)
        }
        Scenario::Sub => {
            if args.pubs.is_some_and(|pubs| pubs > 0) {
                return Err("`sub` has no publishers: use `pubsub` for --pubs".to_string());
            }
            (0, args.subs.or(args.clients).unwrap_or(1))
        }
        Scenario::Pubsub => (
            args.pubs.or(args.clients).unwrap_or(1),
            args.subs.or(args.clients).unwrap_or(1),
        ),
        Scenario::Fanout => {
            if args.pubs.is_some_and(|pubs| pubs != 1) {
                return Err("`fanout` has one publisher: use `pubsub` for --pubs".to_string());
            }
            (
                1,
                args.subs
                    .or(args.clients)
                    .unwrap_or(FANOUT_SUBSCRIBERS_DEFAULT),
            )
        }
        Scenario::Queue => (
            args.pubs.unwrap_or(1),
            args.subs
                .or(args.clients)
                .unwrap_or(FANOUT_SUBSCRIBERS_DEFAULT),
        ),
        Scenario::Req => (
            args.pubs.or(args.clients).unwrap_or(1),
            args.subs.unwrap_or(1),
        ),
    };
    let needs_pubs = scenario != Scenario::Sub;
    let needs_subs = scenario != Scenario::Pub;
    if needs_pubs && pubs == 0 {
        return Err(format!(
            "`{}` needs at least one publisher",
            scenario.name()
        ));
    }
    if needs_subs && subs == 0 {
        return Err(format!(
            "`{}` needs at least one subscriber",
            scenario.name()
        ));
    }
    Ok((pubs, subs))
}

/// `nats://[user[:password]@]host[:port]` (or just `host[:port]`); a lone user part is a
/// token, as NATS clients read it. `--user`/`--password`/`--token` win over the URL.
pub fn parse_server(args: &ConnectionArgs) -> Result<ServerUrl, String> {
    let mut url = parse_server_url(&args.server)?;
    if args.user.is_some() {
        url.user = args.user.clone();
        url.token = None;
    }
    if args.password.is_some() {
        url.password = args.password.clone();
    }
    if args.token.is_some() {
        url.token = args.token.clone();
    }
    Ok(url)
}

pub fn parse_server_url(text: &str) -> Result<ServerUrl, String> {
    // A list of servers: the first one is used.
    let first = text.split(',').next().unwrap_or_default().trim();
    let rest = match first.split_once("://") {
        None => first,
        Some(("nats", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "{scheme}:// servers are not supported by tern bench (plain nats:// only)"
            ))
        }
    };
    let rest = rest.trim_end_matches('/');
    let (credentials, host_port) = match rest.rsplit_once('@') {
        Some((credentials, host_port)) => (Some(credentials), host_port),
        None => (None, rest),
    };
    let (user, password, token) = match credentials {
        None => (None, None, None),
        Some(credentials) => match credentials.split_once(':') {
            Some((user, password)) => (Some(user.to_string()), Some(password.to_string()), None),
            None => (None, None, Some(credentials.to_string())),
        },
    };
    if host_port.is_empty() {
        return Err(format!("no host in server URL {text:?}"));
    }
    let address = if has_port(host_port) {
        let port = host_port.rsplit(':').next().unwrap_or_default();
        port.parse::<u16>()
            .map_err(|_| format!("bad port {port:?} in server URL {text:?}"))?;
        host_port.to_string()
    } else {
        format!("{host_port}:{NATS_PORT_DEFAULT}")
    };
    Ok(ServerUrl {
        address,
        user,
        password,
        token,
    })
}

/// `host:port`, `[v6]:port`; not a bare IPv6 address.
fn has_port(host_port: &str) -> bool {
    match host_port.rsplit_once(':') {
        None => false,
        Some((host, _)) => !host.contains(':') || host.ends_with(']'),
    }
}

/// A byte count: `128`, `16b`, `1k`, `1kb`, `1KiB`, `2m`, `1MiB`. Suffixes are powers of
/// 1024 whatever their spelling, as message sizes usually are.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits_end);
    let multiplier: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size suffix {other:?} in {text:?}")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 128, 1k, 1KiB, 1m)"))?;
    let bytes = (value * multiplier as f64).round();
    if !(0.0..=u32::MAX as f64).contains(&bytes) {
        return Err(format!("size {text:?} is out of range"));
    }
    Ok(bytes as usize)
}

/// A duration: `500ms`, `5s`, `1.5s`, `2m`, `1h`, `250us`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let seconds_per_unit = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "\u{b5}s" => 1e-6,
        "ns" => 1e-9,
        "m" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown duration unit {other:?} in {text:?}")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 500ms, 5s, 1m)"))?;
    Duration::try_from_secs_f64(value * seconds_per_unit)
        .map_err(|_| format!("duration {text:?} is out of range"))
}

/// A rate in messages per second: `50000`, `50k`, `1.5m` (powers of 1000).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let (number, multiplier) = if let Some(number) = lower.strip_suffix('k') {
        (number, 1e3)
    } else if let Some(number) = lower.strip_suffix('m') {
        (number, 1e6)
    } else {
        (lower.as_str(), 1.0)
    };
    let rate = number
        .parse::<f64>()
        .map_err(|_| format!("{text:?} is not a rate in msgs/s (e.g. 10000, 50k)"))?
        * multiplier;
    if !(rate.is_finite() && rate > 0.0) {
        return Err(format!("--rate {text:?} must be more than 0"));
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(words: &str) -> Result<Plan, String> {
        let cli =
            Cli::try_parse_from(std::iter::once("tern bench").chain(words.split_whitespace()))
                .map_err(|e| e.to_string())?;
        let (scenario, args) = match cli.command {
            Command::Pub(args) => (Scenario::Pub, args),
            Command::Sub(args) => (Scenario::Sub, args),
            Command::Pubsub(args) => (Scenario::Pubsub, args),
            Command::Fanout(args) => (Scenario::Fanout, args),
            Command::Queue(args) => (Scenario::Queue, args),
            Command::Req(args) => (Scenario::Req, args),
            Command::Js {
                command: JsCommand::Pub(args),
            } => return Plan::js_pub(*args),
            other => panic!("not a load scenario: {other:?}"),
        };
        Plan::new(scenario, args)
    }

    fn js(words: &str) -> JsPlan {
        let plan = plan(words).unwrap_or_else(|e| panic!("{words}: {e}"));
        assert_eq!(plan.scenario, Scenario::JsPub);
        plan.jetstream.expect("a js plan")
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("128"), Ok(128));
        assert_eq!(parse_size("16b"), Ok(16));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("1kb"), Ok(1024));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("4 KiB"), Ok(4096));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("0.5k"), Ok(512));
        for bad in ["", "k", "1x", "-1", "1kk", "99999999999"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "s", "5x", "-1s", "1e400s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rates_take_decimal_suffixes() {
        assert_eq!(parse_rate("1000"), Ok(1000.0));
        assert_eq!(parse_rate("50k"), Ok(50_000.0));
        assert_eq!(parse_rate("1.5M"), Ok(1_500_000.0));
        for bad in ["0", "-5", "fast", ""] {
            assert!(parse_rate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn server_urls() {
        let url = parse_server_url("nats://127.0.0.1:4333").unwrap();
        assert_eq!(url.address, "127.0.0.1:4333");
        assert_eq!((url.user, url.password, url.token), (None, None, None));
        assert_eq!(
            parse_server_url("localhost").unwrap().address,
            "localhost:4222"
        );
        assert_eq!(
            parse_server_url("nats://[::1]:5000/").unwrap().address,
            "[::1]:5000"
        );
        let url = parse_server_url("nats://alice:s3cret@host:1,nats://other:2").unwrap();
        assert_eq!(url.address, "host:1");
        assert_eq!(url.user.as_deref(), Some("alice"));
        assert_eq!(url.password.as_deref(), Some("s3cret"));
        let url = parse_server_url("nats://t0ken@host").unwrap();
        assert_eq!(url.token.as_deref(), Some("t0ken"));
        assert!(parse_server_url("tls://host:4222").is_err());
        assert!(parse_server_url("nats://host:99999").is_err());
        assert!(parse_server_url("nats://").is_err());
    }

    #[test]
    fn credentials_flags_override_the_url() {
        let args = ConnectionArgs {
            server: "nats://t@h:1".to_string(),
            user: Some("u".to_string()),
            password: Some("p".to_string()),
            token: None,
        };
        let url = parse_server(&args).unwrap();
        assert_eq!(
            (url.user.as_deref(), url.password.as_deref(), url.token),
            (Some("u"), Some("p"), None)
        );
    }

    #[test]
    fn client_counts_follow_the_scenario() {
        let counts = |words: &str| {
            let plan = plan(words).unwrap();
            (plan.publishers, plan.subscribers)
        };
        assert_eq!(counts("pub"), (1, 0));
        assert_eq!(counts("pub --clients 3"), (3, 0));
        assert_eq!(counts("sub -c 2"), (0, 2));
        assert_eq!(counts("pubsub"), (1, 1));
        assert_eq!(counts("pubsub --clients 2"), (2, 2));
        assert_eq!(counts("pubsub --pubs 2 --subs 3"), (2, 3));
        assert_eq!(counts("fanout"), (1, 4));
        assert_eq!(counts("fanout --subs 8"), (1, 8));
        assert_eq!(counts("queue"), (1, 4));
        assert_eq!(counts("queue --pubs 2 --clients 3"), (2, 3));
        assert_eq!(counts("req"), (1, 1));
        assert_eq!(counts("req --clients 4 --subs 2"), (4, 2));
        assert!(plan("pub --subs 1").is_err());
        assert!(plan("fanout --pubs 2").is_err());
        assert!(plan("pubsub --subs 0").is_err());
        assert!(plan("req --clients 0").is_err());
    }

    #[test]
    fn limits_rates_and_outputs() {
        let p = plan("pub").unwrap();
        assert_eq!(p.limit, Limit::Msgs(MSGS_DEFAULT));
        assert_eq!(p.output, Output::Table);
        assert!(p.progress);
        assert_eq!(plan("req").unwrap().limit, Limit::Msgs(REQUESTS_DEFAULT));
        let p = plan("pubsub --duration 2s --size 1KiB --rate 10k --pubs 4 --json").unwrap();
        assert_eq!(p.limit, Limit::Duration(Duration::from_secs(2)));
        assert_eq!(p.size_bytes, 1024);
        assert_eq!(p.rate_per_publisher(), Some(2500.0));
        assert_eq!(p.output, Output::Json);
        assert!(!p.progress, "machine output has no progress bar");
        assert_eq!(plan("pub --csv").unwrap().output, Output::Csv);
        assert!(!plan("pub --no-progress").unwrap().progress);
        assert!(plan("pub --msgs 10 --duration 1s").is_err());
        assert!(plan("pub --json --csv").is_err());
        assert!(plan("pub --msgs 0").is_err());
        assert!(plan("pub --duration 0s").is_err());
        assert!(plan("sub --rate 100").is_err());
        assert!(plan("pub --subject a.*").is_err());
        assert!(plan("sub --subject a.*").is_ok());
        assert!(plan("pub --headers 1001").is_err());
    }

    #[test]
    fn messages_are_shared_among_publishers() {
        let p = plan("pub --msgs 10 --clients 3").unwrap();
        let shares: Vec<u64> = (0..3).map(|i| p.msgs_for_publisher(i).unwrap()).collect();
        assert_eq!(shares, [4, 3, 3]);
        assert_eq!(share(2, 3, 2), 0);
        assert_eq!(plan("pub -d 1s").unwrap().msgs_for_publisher(0), None);
    }

    #[test]
    fn js_pub_defaults() {
        let p = plan("js pub").unwrap();
        assert_eq!((p.publishers, p.subscribers), (1, 0));
        assert_eq!(p.limit, Limit::Msgs(MSGS_DEFAULT));
        assert_eq!(p.subject, JS_SUBJECT_DEFAULT);
        assert_eq!(p.size_bytes, 128);
        assert!(p.progress);
        assert_eq!(
            p.jetstream,
            Some(JsPlan {
                stream: JS_STREAM_DEFAULT.to_string(),
                storage: None,
                replicas: None,
                purge: false,
                create: true,
                msg_id: false,
                window: 1,
                asynchronous: false,
            })
        );
        assert_eq!(js("js pub").mode(), "sync");
    }

    #[test]
    fn js_pub_modes_and_windows() {
        assert_eq!(js("js pub --sync").window, 1);
        let settings = js("js pub --async");
        assert_eq!(
            (settings.window, settings.asynchronous),
            (JS_WINDOW_DEFAULT, true)
        );
        assert_eq!(settings.mode(), "async window 256");
        assert_eq!(js("js pub --async --window 8").window, 8);
        assert_eq!(js("js pub --async --window 1").mode(), "async window 1");
        assert!(plan("js pub --sync --async").is_err());
        assert!(plan("js pub --window 8").is_err(), "--window needs --async");
        assert!(plan("js pub --async --window 0").is_err());
        assert!(plan("js pub --async --window 65537").is_err());
    }

    #[test]
    fn js_pub_stream_options() {
        let settings = js("js pub --stream ORDERS --storage memory --replicas 3 --purge --msg-id");
        assert_eq!(settings.stream, "ORDERS");
        assert_eq!(settings.storage, Some(Storage::Memory));
        assert_eq!(settings.replicas, Some(3));
        assert!(settings.purge && settings.msg_id && settings.create);
        assert_eq!(js("js pub --storage file").storage, Some(Storage::File));
        assert!(!js("js pub --no-create").create);
        assert!(
            js("js pub --no-create --create").create,
            "the last one wins"
        );
        assert!(!js("js pub --create --no-create").create);
        for bad in [
            "js pub --storage disk",
            "js pub --replicas 0",
            "js pub --replicas 6",
            "js pub --stream a.b",
            "js pub --stream a*",
            "js pub --stream a/b",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
        assert_eq!(Storage::from_name("memory"), Some(Storage::Memory));
        assert_eq!(
            Storage::from_name(Storage::File.name()),
            Some(Storage::File)
        );
        assert_eq!(Storage::from_name("disk"), None);
    }

    #[test]
    fn js_pub_shares_the_load_options() {
        let p = plan(
            "js pub --pubs 8 --size 1KiB --duration 2s --subject orders.new --headers 2 --json",
        )
        .unwrap();
        assert_eq!(p.publishers, 8);
        assert_eq!(p.size_bytes, 1024);
        assert_eq!(p.limit, Limit::Duration(Duration::from_secs(2)));
        assert_eq!(p.subject, "orders.new");
        assert_eq!(p.headers, 2);
        assert_eq!(p.output, Output::Json);
        assert!(!p.progress);
        assert_eq!(plan("js pub --clients 3").unwrap().publishers, 3);
        assert_eq!(plan("js pub -c 2 --csv").unwrap().output, Output::Csv);
        let p = plan("js pub --msgs 10 --pubs 3 -s nats://u:p@127.0.0.1:5000").unwrap();
        assert_eq!(p.msgs_for_publisher(0), Some(4));
        assert_eq!(p.server.address, "127.0.0.1:5000");
        assert_eq!(p.server.user.as_deref(), Some("u"));
        for bad in [
            "js pub --pubs 0",
            "js pub --msgs 0",
            "js pub --msgs 5 --duration 1s",
            "js pub --subject orders.*",
            "js pub --json --csv",
            "js pub --rate 100",
            "js pub --subs 1",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn js_consume_parses() {
        for words in [
            "js consume",
            "js consume --mode push --ack none",
            "js consume --mode ordered --msgs 10",
        ] {
            let cli =
                Cli::try_parse_from(std::iter::once("tern bench").chain(words.split_whitespace()))
                    .unwrap_or_else(|e| panic!("{words}: {e}"));
            assert!(
                matches!(
                    cli.command,
                    Command::Js {
                        command: JsCommand::Consume(_)
                    }
                ),
                "{words}"
            );
        }
        assert!(Cli::try_parse_from(["tern bench", "js", "pbu"]).is_err());
    }

    #[test]
    fn timestamps_need_eight_bytes() {
        assert!(!plan("pubsub --size 7").unwrap().stamps_payload());
        assert!(plan("pubsub --size 8").unwrap().stamps_payload());
    }
}
