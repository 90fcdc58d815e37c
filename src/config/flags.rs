//! nats-server's command line (main.go `usageStr`, opts.go `ConfigureOptions`).
//!
//! nats-server parses argv with Go's `flag` package, which clap cannot mimic
//! on its own. So argv is first normalized, by these rules:
//!
//! 1. Flags end at the first argument that is not a flag (`-` alone counts
//!    as one) or right after `--`. What follows is a command: `version` or
//!    `help`, anything else is an error, as in nats-server.
//! 2. A flag is `-name` or `--name`, optionally `=value`; the name is looked
//!    up in `FLAGS` among all its spellings (`p`, `port`; `js`,
//!    `jetstream`; `DV`...). Three or more dashes, or an unknown name, is an
//!    error worded as Go words it.
//! 3. A flag that takes a value takes the `=value` part or else the next
//!    argument, whatever it looks like (so `-p -1` is port -1). A boolean
//!    flag takes only `=value` (`-T=false`).
//! 4. The flag is rewritten as `--<canonical>[=value]` for clap, which then
//!    converts the values. Flags tern does not support yet are dropped here
//!    and reported in [`Options::warnings`].

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Parser as _;

use super::format::parse_file;
use super::options::{
    client_port, monitor_port, parse_cpu_list, Applied, Options, CORES_MAX, TIME_SLICE_US_MAX,
    TIME_SLICE_US_MIN,
};
use super::ConfigError;

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Start the server. Boxed: `Options` is large and the other variants
    /// are small.
    Run(Box<Options>),
    /// Send `signal` to a running server. `pid` is the text after `=`: a
    /// process id, a pid file to read it from (nats-server tries the file
    /// first), or a prefix ending in `*`; `None` means "the only tern
    /// running". Resolving it is left to the caller: this module does no I/O
    /// besides reading configuration files.
    Signal { signal: Signal, pid: Option<String> },
    /// `-v`, `--version` or the `version` command: print the version, exit 0.
    Version,
    /// `-t`: the configuration is valid; print that and exit 0.
    CheckConfig(Box<Options>),
    /// `-h`, `--help`, `--help_tls` or the `help` command: print the text to
    /// stdout and exit 0.
    Help(String),
}

/// Signals nats-server sends for `--signal` (server/signal.go
/// `CommandToSignal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGKILL.
    Stop,
    /// SIGINT: graceful shutdown.
    Quit,
    /// SIGUSR1: reopen the log file.
    Reopen,
    /// SIGHUP: reload the configuration.
    Reload,
    /// SIGUSR2: lame duck mode.
    Ldm,
    /// SIGTERM.
    Term,
}

impl Signal {
    pub fn from_name(name: &str) -> Option<Signal> {
        match name {
            "stop" => Some(Signal::Stop),
            "quit" => Some(Signal::Quit),
            "reopen" => Some(Signal::Reopen),
            "reload" => Some(Signal::Reload),
            "ldm" => Some(Signal::Ldm),
            "term" => Some(Signal::Term),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Stop => "stop",
            Signal::Quit => "quit",
            Signal::Reopen => "reopen",
            Signal::Reload => "reload",
            Signal::Ldm => "ldm",
            Signal::Term => "term",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Takes {
    Nothing,
    Value,
}

/// One flag: every spelling nats-server accepts, the canonical clap long
/// name, whether it takes a value, and whether tern acts on it.
pub(super) struct FlagSpec {
    pub(super) names: &'static [&'static str],
    pub(super) canonical: &'static str,
    takes: Takes,
    pub(super) supported: bool,
}

const fn flag(
    names: &'static [&'static str],
    canonical: &'static str,
    takes: Takes,
    supported: bool,
) -> FlagSpec {
    FlagSpec {
        names,
        canonical,
        takes,
        supported,
    }
}

use Takes::{Nothing, Value};

/// Every flag of nats-server 2.x plus tern's own.
pub(super) const FLAGS: &[FlagSpec] = &[
    flag(&["h", "help"], "help", Nothing, true),
    flag(&["v", "version"], "version", Nothing, true),
    flag(&["help_tls"], "help_tls", Nothing, true),
    flag(&["a", "addr", "net"], "addr", Value, true),
    flag(&["p", "port"], "port", Value, true),
    flag(&["n", "name", "server_name"], "server_name", Value, true),
    flag(&["P", "pid"], "pid", Value, true),
    flag(&["m", "http_port"], "http_port", Value, true),
    flag(&["ms", "https_port"], "https_port", Value, true),
    flag(&["c", "config"], "config", Value, true),
    flag(&["t"], "check_config", Nothing, true),
    flag(&["sl", "signal"], "signal", Value, true),
    flag(&["ports_file_dir"], "ports_file_dir", Value, true),
    flag(&["l", "log"], "log", Value, true),
    flag(&["log_size_limit"], "log_size_limit", Value, true),
    flag(&["T", "logtime"], "logtime", Nothing, true),
    flag(&["s", "syslog"], "syslog", Nothing, true),
    flag(&["D", "debug"], "debug", Nothing, true),
    flag(&["V", "trace"], "trace", Nothing, true),
    flag(&["DV"], "DV", Nothing, true),
    flag(&["VV"], "VV", Nothing, true),
    flag(&["DVV"], "DVV", Nothing, true),
    flag(&["js", "jetstream"], "jetstream", Nothing, true),
    flag(&["sd", "store_dir"], "store_dir", Value, true),
    flag(&["user"], "user", Value, true),
    flag(&["pass"], "pass", Value, true),
    flag(&["auth"], "auth", Value, true),
    flag(&["cores"], "cores", Value, true),
    flag(&["cpu-list", "cpu_list"], "cpu-list", Value, true),
    flag(&["spin_before_park_us"], "spin_before_park_us", Value, true),
    flag(&["time_slice_us"], "time_slice_us", Value, true),
    flag(&["log_format"], "log_format", Value, true),
    flag(&["client_advertise"], "client_advertise", Value, false),
    flag(&["r", "remote_syslog"], "remote_syslog", Value, false),
    flag(&["logtime_utc"], "logtime_utc", Nothing, false),
    flag(&["max_traced_msg_len"], "max_traced_msg_len", Value, false),
    flag(&["tls"], "tls", Nothing, true),
    flag(&["tlsverify"], "tlsverify", Nothing, true),
    flag(&["tlscert"], "tlscert", Value, true),
    flag(&["tlskey"], "tlskey", Value, true),
    flag(&["tlscacert"], "tlscacert", Value, true),
    flag(&["routes"], "routes", Value, false),
    flag(&["cluster", "cluster_listen"], "cluster", Value, false),
    flag(&["cluster_name"], "cluster_name", Value, false),
    flag(&["cluster_advertise"], "cluster_advertise", Value, false),
    flag(&["no_advertise"], "no_advertise", Nothing, false),
    flag(&["connect_retries"], "connect_retries", Value, false),
    flag(&["profile"], "profile", Value, false),
];

const USAGE: &str = "
Usage: tern [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222, -1: random)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring
    -ms,--https_port <port>          Use port for https monitoring
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
    -sl,--signal <signal>[=<pid>]    Send signal to tern process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID (e.g. 1) or the path to a PID file (e.g. /var/run/tern.pid)
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
    -s, --syslog                     Log to syslog or windows event log
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace (for now the same as -V)
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace (for now the same as -DV)
        --log_size_limit <limit>     Logfile size limit (default: auto)

JetStream Options:
    -js, --jetstream                 Enable JetStream functionality
    -sd, --store_dir <dir>           Set the storage directory

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

tern Options:
        --cores <n>                  Number of cores to run on, one executor each (default: all)
        --cpu-list, --cpu_list <list> CPUs to pin executors to, e.g. 0,2-3
        --spin_before_park_us <us>   Busy-poll an idle core this long before sleeping
                                     (default 50; 0 saves CPU, costs wake-up latency)
        --time_slice_us <us>         Run a core's ready work this long before serving its
                                     sockets again (default 500, 50-100000)
        --log_format <text|json>     Log lines as nats-server's text (default) or JSON

Accepted for compatibility with nats-server, not supported yet (ignored with a warning):
        --client_advertise, -r/--remote_syslog, --logtime_utc, --max_traced_msg_len,
        --routes,
        --cluster, --cluster_listen, --cluster_name, --cluster_advertise,
        --no_advertise, --connect_retries, --profile

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
        --help_tls                   TLS help

Flags take one or two dashes (-port, --port) and values as -p 4222 or -p=4222.
";

const TLS_HELP: &str = "
TLS Server Options:
    --tls                        Enable TLS, do not verify clients (default: false)
    --tlscert <file>             Server certificate file
    --tlskey <file>              Private key for server certificate
    --tlsverify                  Enable TLS, verify client certificates
    --tlscacert <file>           Client certificate CA for verification

Any of these flags replaces the configuration file's tls { } block; --tls=false turns TLS
off. The block also takes ca_file, verify, verify_and_map, timeout, handshake_first
(true, auto or a fallback delay), min_version (1.2 or 1.3), cipher_suites and
curve_preferences (Go's names, where rustls implements them).

Examples:
    tern --tls --tlscert=server.pem --tlskey=server-key.pem
    tern --tlsverify --tlscert=server.pem --tlskey=server-key.pem --tlscacert=ca.pem
";

/// The `-h` text, laid out like nats-server's usage.
pub fn usage() -> &'static str {
    USAGE
}

/// The flags after normalization: what clap parses, and what it need not.
#[derive(Debug, Default)]
pub(super) struct Normalized {
    pub(super) clap_args: Vec<String>,
    /// Arguments after the flags.
    pub(super) commands: Vec<String>,
    /// Unsupported flags as typed, in order, for warnings.
    pub(super) unsupported: Vec<String>,
    /// Canonical name to the spelling last typed, for error messages.
    typed: HashMap<&'static str, String>,
}

/// Rewrites Go-style argv (without the program name) for clap; see the
/// module documentation for the rules.
pub(super) fn normalize(args: &[String]) -> Result<Normalized, ConfigError> {
    let mut normalized = Normalized::default();
    let mut index = 0;
    while let Some(arg) = args.get(index) {
        index += 1;
        if arg == "--" {
            normalized.commands = args.get(index..).unwrap_or(&[]).to_vec();
            break;
        }
        let body = match arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) {
            Some(body) if !body.is_empty() => body,
            // Not a flag (`-` alone included): the flags are over.
            _ => {
                normalized.commands = args.get(index - 1..).unwrap_or(&[]).to_vec();
                break;
            }
        };
        if body.starts_with('-') || body.starts_with('=') {
            return Err(ConfigError::Flag(format!("bad flag syntax: {arg}")));
        }
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        let Some(spec) = FLAGS.iter().find(|spec| spec.names.contains(&name)) else {
            return Err(ConfigError::Flag(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        let value = match (spec.takes, inline) {
            (Takes::Value, Some(value)) => Some(value.to_string()),
            (Takes::Value, None) => {
                let Some(next) = args.get(index) else {
                    return Err(ConfigError::Flag(format!(
                        "flag needs an argument: -{name}"
                    )));
                };
                index += 1;
                Some(next.clone())
            }
            (Takes::Nothing, Some(value)) => {
                if parse_go_bool(value).is_err() {
                    return Err(ConfigError::Flag(format!(
                        "invalid boolean value {value:?} for -{name}: parse error"
                    )));
                }
                Some(value.to_string())
            }
            (Takes::Nothing, None) => None,
        };
        if !spec.supported {
            normalized.unsupported.push(format!("-{name}"));
            continue;
        }
        normalized.typed.insert(spec.canonical, name.to_string());
        normalized.clap_args.push(match value {
            Some(value) => format!("--{}={value}", spec.canonical),
            None => format!("--{}", spec.canonical),
        });
    }
    Ok(normalized)
}

/// Go's `strconv.ParseBool`, which the `flag` package uses.
fn parse_go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err("parse error".to_string()),
    }
}

/// Go's `strconv.ParseInt(text, 0, 64)`, which the `flag` package uses:
/// decimal, or 0x/0o/0b/0-prefixed, optionally signed.
fn parse_go_int(text: &str) -> Result<i64, String> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..).unwrap_or("")),
        Some(b'+') => (false, text.get(1..).unwrap_or("")),
        _ => (false, text),
    };
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.replace('_', ""))
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.replace('_', ""))
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.replace('_', ""))
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower.get(1..).unwrap_or("").replace('_', ""))
    } else {
        (10, lower.replace('_', ""))
    };
    if digits.is_empty() || digits.starts_with('+') || digits.starts_with('-') {
        return Err("parse error".to_string());
    }
    let magnitude = u64::from_str_radix(&digits, radix).map_err(|error| {
        match error.kind() {
            std::num::IntErrorKind::PosOverflow => "value out of range",
            _ => "parse error",
        }
        .to_string()
    })?;
    let value = if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    };
    value.ok_or_else(|| "value out of range".to_string())
}

fn parse_cores(text: &str) -> Result<usize, String> {
    match parse_go_int(text)? {
        n @ 1.. if n as u64 <= CORES_MAX as u64 => Ok(n as usize),
        n => Err(format!("must be between 1 and {CORES_MAX}, got {n}")),
    }
}

fn parse_time_slice(text: &str) -> Result<u64, String> {
    match parse_go_int(text)? {
        n if (TIME_SLICE_US_MIN as i64..=TIME_SLICE_US_MAX as i64).contains(&n) => Ok(n as u64),
        n => Err(format!(
            "must be between {TIME_SLICE_US_MIN} and {TIME_SLICE_US_MAX}, got {n}"
        )),
    }
}

#[derive(Clone, Debug)]
struct CpuList(Vec<usize>);

fn parse_cpu_list_flag(text: &str) -> Result<CpuList, String> {
    parse_cpu_list(text).map(CpuList)
}

/// The supported flags, under their canonical names; `None` = not given.
#[derive(clap::Parser, Debug)]
#[command(
    name = "tern",
    no_binary_name = true,
    disable_help_flag = true,
    disable_version_flag = true,
    args_override_self = true
)]
pub(super) struct RawFlags {
    #[arg(long = "help", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    help: Option<bool>,
    #[arg(long = "version", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    version: Option<bool>,
    #[arg(long = "help_tls", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    help_tls: Option<bool>,
    #[arg(long = "addr")]
    addr: Option<String>,
    #[arg(long = "port", value_parser = parse_go_int)]
    port: Option<i64>,
    #[arg(long = "server_name")]
    server_name: Option<String>,
    #[arg(long = "pid")]
    pid: Option<String>,
    #[arg(long = "http_port", value_parser = parse_go_int)]
    http_port: Option<i64>,
    #[arg(long = "https_port", value_parser = parse_go_int)]
    https_port: Option<i64>,
    #[arg(long = "config")]
    config: Option<String>,
    #[arg(long = "check_config", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    check_config: Option<bool>,
    #[arg(long = "signal")]
    signal: Option<String>,
    #[arg(long = "ports_file_dir")]
    ports_file_dir: Option<String>,
    #[arg(long = "log")]
    log: Option<String>,
    #[arg(long = "log_size_limit", value_parser = parse_go_int)]
    log_size_limit: Option<i64>,
    #[arg(long = "logtime", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    logtime: Option<bool>,
    #[arg(long = "syslog", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    syslog: Option<bool>,
    #[arg(long = "debug", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    debug: Option<bool>,
    #[arg(long = "trace", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    trace: Option<bool>,
    #[arg(long = "DV", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    debug_and_trace: Option<bool>,
    #[arg(long = "VV", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    verbose_trace: Option<bool>,
    #[arg(long = "DVV", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    debug_and_verbose_trace: Option<bool>,
    #[arg(long = "jetstream", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    jetstream: Option<bool>,
    #[arg(long = "store_dir")]
    store_dir: Option<String>,
    #[arg(long = "user")]
    user: Option<String>,
    #[arg(long = "pass")]
    pass: Option<String>,
    #[arg(long = "auth")]
    auth: Option<String>,
    #[arg(long = "cores", value_parser = parse_cores)]
    cores: Option<usize>,
    #[arg(long = "cpu-list", value_parser = parse_cpu_list_flag)]
    cpu_list: Option<CpuList>,
    #[arg(long = "spin_before_park_us")]
    spin_before_park_us: Option<u64>,
    #[arg(long = "time_slice_us", value_parser = parse_time_slice)]
    time_slice_us: Option<u64>,
    #[arg(long = "log_format", value_parser = ["text", "json"])]
    log_format: Option<String>,
    #[arg(long = "tls", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    tls: Option<bool>,
    #[arg(long = "tlsverify", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    tlsverify: Option<bool>,
    #[arg(long = "tlscert")]
    tlscert: Option<String>,
    #[arg(long = "tlskey")]
    tlskey: Option<String>,
    #[arg(long = "tlscacert")]
    tlscacert: Option<String>,
}

/// Turns argv (program name first) into what to do. The configuration file
/// named by `-c` is read first; flags given on the command line override it.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, ConfigError> {
    let args: Vec<String> = args.into_iter().skip(1).collect();
    let normalized = normalize(&args)?;
    let flags = RawFlags::try_parse_from(&normalized.clap_args)
        .map_err(|error| clap_error(&error, &normalized))?;

    if flags.version == Some(true) {
        return Ok(Command::Version);
    }
    if flags.help == Some(true) {
        return Ok(Command::Help(USAGE.to_string()));
    }
    if flags.help_tls == Some(true) {
        return Ok(Command::Help(TLS_HELP.to_string()));
    }
    if let Some(command) = normalized.commands.first() {
        return match command.to_ascii_lowercase().as_str() {
            "version" => Ok(Command::Version),
            "help" => Ok(Command::Help(USAGE.to_string())),
            _ => Err(ConfigError::Flag(format!(
                "unrecognized command: {command:?}"
            ))),
        };
    }
    // As in nats-server, a signal is sent before any configuration is read.
    if let Some(signal) = &flags.signal {
        return parse_signal(signal);
    }

    let check_config = flags.check_config == Some(true);
    let mut options = Options::default();
    let mut applied = Applied::default();
    match flags.config.as_deref() {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            let map = parse_file(&path)?;
            options.warn_if_empty(&map, &path.display().to_string());
            options.config_file = Some(path);
            applied = options.apply_map(&map)?;
        }
        _ if check_config => {
            return Err(ConfigError::Flag(
                "must specify [-c, --config] option to check configuration file syntax".to_string(),
            ));
        }
        _ => {}
    }
    apply_flags(&mut options, &flags, &normalized)?;
    for flag in &normalized.unsupported {
        options.warnings.push(format!(
            "flag \"{flag}\" is not supported yet by tern and is ignored"
        ));
    }
    options.finish(&applied);
    options.validate()?;
    Ok(if check_config {
        Command::CheckConfig(Box::new(options))
    } else {
        Command::Run(Box::new(options))
    })
}

fn parse_signal(text: &str) -> Result<Command, ConfigError> {
    let parts: Vec<&str> = text.split('=').collect();
    if parts.len() > 2 {
        return Err(ConfigError::Flag(format!(
            "invalid signal parameters: [{}]",
            parts.get(2..).unwrap_or(&[]).join(" ")
        )));
    }
    let name = parts.first().copied().unwrap_or("");
    let Some(signal) = Signal::from_name(name) else {
        return Err(ConfigError::Flag(format!("unknown signal {name:?}")));
    };
    let pid = parts.get(1).map(|pid| pid.to_string());
    Ok(Command::Signal { signal, pid })
}

fn non_empty_path(text: &str) -> Option<PathBuf> {
    (!text.is_empty()).then(|| PathBuf::from(text))
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

fn apply_flags(
    options: &mut Options,
    flags: &RawFlags,
    normalized: &Normalized,
) -> Result<(), ConfigError> {
    let bad_value = |canonical: &str, value: i64, reason: String| {
        let typed = normalized
            .typed
            .get(canonical)
            .map_or(canonical, String::as_str);
        ConfigError::Flag(format!(
            "invalid value \"{value}\" for flag -{typed}: {reason}"
        ))
    };
    if let Some(host) = &flags.addr {
        options.host = non_empty(host).unwrap_or_else(|| super::options::HOST_DEFAULT.to_string());
    }
    if let Some(port) = flags.port {
        options.port = client_port(port).map_err(|reason| bad_value("port", port, reason))?;
    }
    if let Some(name) = &flags.server_name {
        options.server_name = non_empty(name);
    }
    if let Some(pid) = &flags.pid {
        options.pid_file = non_empty_path(pid);
    }
    if let Some(port) = flags.http_port {
        options.http_port =
            monitor_port(port).map_err(|reason| bad_value("http_port", port, reason))?;
    }
    if let Some(port) = flags.https_port {
        options.https_port =
            monitor_port(port).map_err(|reason| bad_value("https_port", port, reason))?;
    }
    if let Some(dir) = &flags.ports_file_dir {
        options.ports_file_dir = non_empty_path(dir);
    }
    if let Some(log) = &flags.log {
        options.log_file = non_empty_path(log);
    }
    if let Some(limit) = flags.log_size_limit {
        options.log_size_limit_bytes = u64::try_from(limit)
            .map_err(|_| bad_value("log_size_limit", limit, "can not be negative".to_string()))?;
    }
    if let Some(logtime) = flags.logtime {
        options.logtime = logtime;
    }
    if let Some(syslog) = flags.syslog {
        options.syslog = syslog;
    }
    if let Some(debug) = flags.debug {
        options.debug = debug;
    }
    if let Some(trace) = flags.trace {
        options.trace = trace;
    }
    // nats-server applies the combined flags last, in name order, so they
    // win over -D/-V whatever the order on the command line.
    if let Some(both) = flags.debug_and_trace {
        options.debug = both;
        options.trace = both;
    }
    if let Some(both) = flags.debug_and_verbose_trace {
        options.debug = both;
        options.trace = both;
        options.warnings.push(
            "flag \"-DVV\": verbose trace is not supported yet by tern, -DV is used".to_string(),
        );
    }
    if let Some(trace) = flags.verbose_trace {
        options.trace = trace;
        options.warnings.push(
            "flag \"-VV\": verbose trace is not supported yet by tern, -V is used".to_string(),
        );
    }
    if let Some(jetstream) = flags.jetstream {
        options.jetstream = jetstream;
    }
    if let Some(dir) = &flags.store_dir {
        options.store_dir = non_empty_path(dir);
    }
    if let Some(user) = &flags.user {
        options.username = non_empty(user);
    }
    if let Some(pass) = &flags.pass {
        options.password = non_empty(pass);
    }
    if let Some(token) = &flags.auth {
        options.auth_token = non_empty(token);
    }
    if let Some(cores) = flags.cores {
        options.cores = Some(cores);
    }
    if let Some(CpuList(cpus)) = &flags.cpu_list {
        options.cpu_list = Some(cpus.clone());
    }
    if let Some(us) = flags.spin_before_park_us {
        options.spin_before_park_us = us;
    }
    if let Some(us) = flags.time_slice_us {
        options.time_slice_us = us;
    }
    if let Some(format) = &flags.log_format {
        options.log_json = format == "json";
    }
    super::options::apply_tls_flags(
        options,
        &super::options::TlsFlags {
            tls: flags.tls,
            verify: flags.tlsverify,
            cert: flags.tlscert.clone(),
            key: flags.tlskey.clone(),
            ca_cert: flags.tlscacert.clone(),
        },
    )
}

/// Rewords clap's value errors the way Go's `flag` package words them,
/// naming the flag as the user typed it.
fn clap_error(error: &clap::Error, normalized: &Normalized) -> ConfigError {
    use clap::error::{ContextKind, ContextValue};
    let text = |kind| match error.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    match (
        text(ContextKind::InvalidArg),
        text(ContextKind::InvalidValue),
    ) {
        (Some(arg), Some(value)) => {
            let canonical = arg
                .trim_start_matches('-')
                .split([' ', '='])
                .next()
                .unwrap_or("");
            let typed = normalized
                .typed
                .get(canonical)
                .map_or(canonical, String::as_str);
            let reason = std::error::Error::source(error)
                .map_or_else(|| "parse error".to_string(), |source| source.to_string());
            ConfigError::Flag(format!(
                "invalid value {value:?} for flag -{typed}: {reason}"
            ))
        }
        _ => {
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid command line");
            ConfigError::Flag(first.trim_start_matches("error: ").to_string())
        }
    }
}
