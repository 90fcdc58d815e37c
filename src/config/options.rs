//! The server's settings, with nats-server's defaults, and how a parsed
//! configuration file maps onto them (server/opts.go `processConfigFileLine`).
//!
//! Problems with known keys are errors that carry the position of the key
//! being applied (as nats-server reports them) and are all collected before
//! returning. Keys tern does not implement yet and
//! unknown keys become `file:line:col: ...` warnings in [`Options::warnings`]:
//! nats-server rejects unknown keys, but a tern user migrating a real
//! nats-server file should get a server that starts and says what it ignored.

use std::path::{Path, PathBuf};

use super::auth::{self, AuthConfig, Problems};
use super::duration::parse_go_duration;
use super::format::{parse_file, parse_str, Entry, Map, Pos, Spanned, Value};
use super::ConfigError;

#[path = "tls.rs"]
mod tls;
pub(super) use self::tls::{apply_tls_flags, TlsFlags};
pub use self::tls::{TlsOptions, TlsVersion, TLS_TIMEOUT_MS_DEFAULT};

pub const HOST_DEFAULT: &str = "0.0.0.0";
pub const PORT_DEFAULT: u16 = 4222;
pub const AUTH_TIMEOUT_MS_DEFAULT: u64 = 2_000;
/// nats-server warns about an authorization timeout above this.
pub const AUTH_TIMEOUT_MS_WARN: u64 = 60_000;
pub const MAX_PAYLOAD_BYTES_DEFAULT: usize = 1024 * 1024;
/// nats-server warns that larger payloads hurt performance.
pub const MAX_PAYLOAD_BYTES_WARN: usize = 8 * 1024 * 1024;
pub const MAX_CONTROL_LINE_BYTES_DEFAULT: usize = 4096;
/// `max_payload` and `max_control_line` are int32 in nats-server.
pub const PROTOCOL_LIMIT_BYTES_MAX: i64 = i32::MAX as i64;
pub const MAX_CONNECTIONS_DEFAULT: usize = 64 * 1024;
pub const MAX_PENDING_BYTES_DEFAULT: usize = 64 * 1024 * 1024;
pub const WRITE_DEADLINE_MS_DEFAULT: u64 = 10_000;
pub const PING_INTERVAL_MS_DEFAULT: u64 = 2 * 60_000;
pub const PING_MAX_DEFAULT: u32 = 2;
pub const LAME_DUCK_DURATION_MS_DEFAULT: u64 = 2 * 60_000;
pub const LAME_DUCK_DURATION_MS_MIN: u64 = 30_000;
pub const LAME_DUCK_GRACE_PERIOD_MS_DEFAULT: u64 = 10_000;
/// Upper bound for `--cores`: one executor per core.
pub const CORES_MAX: usize = 1024;
/// Highest CPU id accepted in `--cpu-list` (Linux's NR_CPUS ceiling).
pub const CPU_ID_MAX: usize = 8191;
/// Most CPUs a `--cpu-list` may name once ranges are expanded.
pub const CPU_LIST_LEN_MAX: usize = 1024;

/// Everything the server needs to start. Durations are milliseconds and
/// sizes bytes, as the field names say; `Default` gives nats-server's
/// defaults.
/// Default busy-poll before an idle core sleeps; see `Options::spin_before_park_us`.
pub const SPIN_BEFORE_PARK_US_DEFAULT: u64 = 50;
/// Default time slice of a core's tasks; see `Options::time_slice_us`.
pub const TIME_SLICE_US_DEFAULT: u64 = shards::RuntimeConfig::TIME_SLICE_US_DEFAULT;
/// Bounds of `time_slice_us`: below the lower one the core spends a noticeable share of its
/// time looking at io_uring; above the upper one (glommio's own default) one busy
/// connection holds every other socket on its core for longer than any client waits.
pub const TIME_SLICE_US_MIN: u64 = 50;
pub const TIME_SLICE_US_MAX: u64 = 100_000;

/// When a JetStream file store makes appended data durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncInterval {
    /// fsync before acknowledging (group commit batches concurrent publishes).
    Always,
    /// Acknowledge once written to the page cache; fsync every this many milliseconds.
    /// A power failure loses up to this much acknowledged data.
    EveryMs(u64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub server_name: Option<String>,
    pub host: String,
    /// 0 means a random port (`-p -1` / `port: -1`, as in nats-server).
    pub port: u16,
    /// Executors to start; `None` lets the runtime use every available core.
    pub cores: Option<usize>,
    /// CPUs to pin executors to, in order.
    pub cpu_list: Option<Vec<usize>>,
    /// How long an idle core busy-polls before it sleeps (tern's own). Waking a sleeping core
    /// costs 30-60 us on the VMs we measured, which dominates request/reply latency across
    /// cores; 50 us of spinning hides it at a small CPU cost when traffic pauses.
    pub spin_before_park_us: u64,
    /// How long a core's connection loops run before it collects socket events again
    /// (tern's own; see `shards::task::yield_if_slice_used`). A connection whose socket
    /// always has another full read ready, or a ring from another core that is never
    /// empty, would otherwise keep its core from every other socket for glommio's 100 ms
    /// default: a quiet client's PING next to one fast publisher took 60-90 ms to answer
    /// on one core.
    pub time_slice_us: u64,
    pub username: Option<String>,
    pub password: Option<String>,
    pub auth_token: Option<String>,
    pub no_auth_user: Option<String>,
    pub auth_timeout_ms: u64,
    /// Accounts, users and their permissions (see [`super::auth`]).
    pub auth: AuthConfig,
    pub debug: bool,
    pub trace: bool,
    pub logtime: bool,
    pub log_file: Option<PathBuf>,
    /// 0 means the log file is never rotated.
    pub log_size_limit_bytes: u64,
    /// One JSON object per log line (tern's own `log_format: json`) instead of nats-server's
    /// text lines.
    pub log_json: bool,
    pub syslog: bool,
    pub pid_file: Option<PathBuf>,
    pub ports_file_dir: Option<PathBuf>,
    /// Follows `host` unless the file gives one (`http: "host:port"`).
    pub http_host: String,
    /// `None` disables monitoring; `Some(0)` is a random port (`-m -1`).
    pub http_port: Option<u16>,
    /// `None` disables monitoring over TLS; `Some(0)` is a random port.
    pub https_port: Option<u16>,
    pub jetstream: bool,
    /// TLS on the client listener (`tls {}`, `--tls*`); `None` = plaintext.
    pub tls: Option<TlsOptions>,
    pub store_dir: Option<PathBuf>,
    /// `None` leaves the limit to the server (nats-server: 75% of memory).
    pub jetstream_max_memory_bytes: Option<i64>,
    /// `None` leaves the limit to the server (nats-server: 75% of the disk).
    pub jetstream_max_store_bytes: Option<i64>,
    /// When JetStream file stores fsync. tern's default is `Always`: a PubAck means the
    /// message is on disk.
    pub jetstream_sync: SyncInterval,
    pub max_payload_bytes: usize,
    pub max_control_line_bytes: usize,
    /// 0 accepts no client connection at all, as `max_connections: 0` does
    /// in nats-server.
    pub max_connections: usize,
    /// 0 means unlimited.
    pub max_subscriptions: usize,
    pub max_pending_bytes: usize,
    pub write_deadline_ms: u64,
    pub ping_interval_ms: u64,
    pub ping_max: u32,
    pub lame_duck_duration_ms: u64,
    pub lame_duck_grace_period_ms: u64,
    pub config_file: Option<PathBuf>,
    /// Unknown or not yet supported keys and flags, `file:line:col: ...`,
    /// to be logged at startup.
    pub warnings: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            server_name: None,
            host: HOST_DEFAULT.to_string(),
            port: PORT_DEFAULT,
            cores: None,
            cpu_list: None,
            spin_before_park_us: SPIN_BEFORE_PARK_US_DEFAULT,
            time_slice_us: TIME_SLICE_US_DEFAULT,
            log_json: false,
            username: None,
            password: None,
            auth_token: None,
            no_auth_user: None,
            auth_timeout_ms: AUTH_TIMEOUT_MS_DEFAULT,
            auth: AuthConfig::default(),
            debug: false,
            trace: false,
            logtime: true,
            log_file: None,
            log_size_limit_bytes: 0,
            syslog: false,
            pid_file: None,
            ports_file_dir: None,
            http_host: HOST_DEFAULT.to_string(),
            http_port: None,
            https_port: None,
            jetstream: false,
            tls: None,
            store_dir: None,
            jetstream_max_memory_bytes: None,
            jetstream_max_store_bytes: None,
            jetstream_sync: SyncInterval::Always,
            max_payload_bytes: MAX_PAYLOAD_BYTES_DEFAULT,
            max_control_line_bytes: MAX_CONTROL_LINE_BYTES_DEFAULT,
            max_connections: MAX_CONNECTIONS_DEFAULT,
            max_subscriptions: 0,
            max_pending_bytes: MAX_PENDING_BYTES_DEFAULT,
            write_deadline_ms: WRITE_DEADLINE_MS_DEFAULT,
            ping_interval_ms: PING_INTERVAL_MS_DEFAULT,
            ping_max: PING_MAX_DEFAULT,
            lame_duck_duration_ms: LAME_DUCK_DURATION_MS_DEFAULT,
            lame_duck_grace_period_ms: LAME_DUCK_GRACE_PERIOD_MS_DEFAULT,
            config_file: None,
            warnings: Vec::new(),
        }
    }
}

/// What a file set that matters after flags are applied.
#[derive(Debug, Default)]
pub(super) struct Applied {
    http_host_set: bool,
}

impl Options {
    /// Defaults overlaid with a configuration file, validated.
    pub fn from_config_file(path: &Path) -> Result<Options, ConfigError> {
        let map = parse_file(path)?;
        let mut options = Options {
            config_file: Some(path.to_path_buf()),
            ..Options::default()
        };
        options.warn_if_empty(&map, &path.display().to_string());
        let applied = options.apply_map(&map)?;
        options.finish(&applied);
        options.validate()?;
        Ok(options)
    }

    /// Defaults overlaid with configuration text, validated.
    pub fn from_config_str(text: &str, file_name: &str) -> Result<Options, ConfigError> {
        let map = parse_str(text, file_name)?;
        let mut options = Options::default();
        options.warn_if_empty(&map, file_name);
        let applied = options.apply_map(&map)?;
        options.finish(&applied);
        options.validate()?;
        Ok(options)
    }

    /// Overlays a parsed file on these options; warnings are appended to
    /// [`Options::warnings`].
    pub fn apply_config(&mut self, map: &Map) -> Result<(), ConfigError> {
        let applied = self.apply_map(map)?;
        self.finish(&applied);
        Ok(())
    }

    /// Checks that hold between options (server/server.go `validateOptions`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.lame_duck_duration_ms > 0
            && self.lame_duck_grace_period_ms >= self.lame_duck_duration_ms
        {
            return Err(ConfigError::Options(format!(
                "lame duck grace period ({}ms) should be strictly lower than lame duck duration ({}ms)",
                self.lame_duck_grace_period_ms, self.lame_duck_duration_ms
            )));
        }
        if self.max_payload_bytes > self.max_pending_bytes {
            return Err(ConfigError::Options(format!(
                "max_payload ({}) cannot be higher than max_pending ({})",
                self.max_payload_bytes, self.max_pending_bytes
            )));
        }
        if self.server_name.as_deref().is_some_and(|n| n.contains(' ')) {
            return Err(ConfigError::Options(
                "server name cannot contain spaces".to_string(),
            ));
        }
        if let Some(cores) = self.cores {
            if cores == 0 || cores > CORES_MAX {
                return Err(ConfigError::Options(format!(
                    "cores must be between 1 and {CORES_MAX}, got {cores}"
                )));
            }
        }
        Ok(())
    }

    pub(super) fn warn_if_empty(&mut self, map: &Map, file: &str) {
        if map.is_empty() {
            self.warnings
                .push(format!("{file}: config has no values or is empty"));
        }
    }

    pub(super) fn apply_map(&mut self, map: &Map) -> Result<Applied, ConfigError> {
        let mut apply = Apply {
            options: self,
            errors: Vec::new(),
            applied: Applied::default(),
            store_dir_pos: None,
            key_pos: None,
        };
        for entry in map {
            apply.key_pos = Some(entry.key_pos.clone());
            apply.top_level(entry);
        }
        let Apply {
            mut errors,
            applied,
            ..
        } = apply;
        match errors.len() {
            0 => Ok(applied),
            1 => Err(errors.remove(0)),
            _ => Err(ConfigError::Multiple(errors)),
        }
    }

    /// Derived defaults once file and flags are in: the monitor binds where
    /// the server binds unless told otherwise.
    pub(super) fn finish(&mut self, applied: &Applied) {
        if !applied.http_host_set {
            self.http_host = self.host.clone();
        }
        if self.max_payload_bytes > MAX_PAYLOAD_BYTES_WARN {
            self.warnings.push(format!(
                "maximum payloads over {MAX_PAYLOAD_BYTES_WARN} bytes are generally discouraged and could lead to poor performance"
            ));
        }
    }
}

/// nats-server keys (top level) that tern accepts but does not act on yet.
const UNSUPPORTED_KEYS: &[&str] = &[
    "allow_non_tls",
    "client_advertise",
    "cluster",
    "connect_error_reports",
    "default_js_domain",
    "default_sentinel",
    "disable_sublist_cache",
    "feature_flags",
    "gateway",
    "http_base_path",
    "leaf",
    "leafnodes",
    "log_max_num",
    "logfile_max_num",
    "logtime_utc",
    "mappings",
    "maps",
    "max_closed_clients",
    "max_sub_tokens",
    "max_subscription_tokens",
    "max_traced_msg_len",
    "mqtt",
    "no_fast_producer_stall",
    "no_header_support",
    "no_sublist_cache",
    "no_sys_acc",
    "no_system",
    "no_system_account",
    "ocsp",
    "ocsp_cache",
    "prof_block_rate",
    "prof_port",
    "proxies",
    "proxy_protocol",
    "reconnect_error_reports",
    "remote_syslog",
    "resolver_tls",
    "server_metadata",
    "server_tags",
    "trusted",
    "trusted_keys",
    "websocket",
    "write_timeout",
    "ws",
];

/// Keys of the `authorization` block tern does not act on yet.
const UNSUPPORTED_AUTHORIZATION_KEYS: &[&str] = &["auth_callout", "auth_hook", "proxy_required"];

/// Keys of the `jetstream` block tern does not act on yet.
const UNSUPPORTED_JETSTREAM_KEYS: &[&str] = &[
    "cipher",
    "domain",
    "ek",
    "encryption_key",
    "extension_hint",
    "info_queue_limit",
    "key",
    "limits",
    "max_buffered_msgs",
    "max_buffered_size",
    "max_concurrent_io",
    "max_outstanding_catchup",
    "meta_compact",
    "meta_compact_size",
    "meta_compact_sync",
    "prev_ek",
    "prev_encryption_key",
    "prev_key",
    "request_queue_limit",
    "strict",
    "sync",
    "tpm",
    "unique_tag",
];

struct Apply<'o> {
    options: &'o mut Options,
    errors: Vec<ConfigError>,
    applied: Applied,
    /// Where `store_dir` was first set: nats-server refuses a second one
    /// (top level and inside `jetstream`).
    store_dir_pos: Option<Pos>,
    /// The key of the entry being applied: errors point at it, like nats-server's.
    key_pos: Option<Pos>,
}

impl Apply<'_> {
    /// Records an error at the current entry's key (`pos` is used outside any entry).
    fn invalid(&mut self, pos: &Pos, message: String) {
        let pos = self.key_pos.clone().unwrap_or_else(|| pos.clone());
        self.errors.push(ConfigError::Invalid { pos, message });
    }

    fn warn(&mut self, pos: &Pos, message: String) {
        self.options.warnings.push(format!("{pos}: {message}"));
    }

    fn unsupported(&mut self, entry: &Entry, path: &str) {
        self.warn(
            &entry.key_pos,
            format!("\"{path}\" is not supported yet by tern and is ignored"),
        );
    }

    fn unknown(&mut self, entry: &Entry, path: &str) {
        if !entry.used_as_variable {
            self.warn(&entry.key_pos, format!("unknown field \"{path}\", ignored"));
        }
    }

    fn type_error(&mut self, key: &str, value: &Spanned, expected: &str) {
        self.invalid(
            &value.pos,
            format!(
                "\"{key}\" expects {expected}, got {}",
                value.value.type_name()
            ),
        );
    }

    fn int(&mut self, key: &str, value: &Spanned) -> Option<i64> {
        let int = value.as_int();
        if int.is_none() {
            self.type_error(key, value, "an integer");
        }
        int
    }

    fn string(&mut self, key: &str, value: &Spanned) -> Option<String> {
        let string = value.as_str().map(str::to_string);
        if string.is_none() {
            self.type_error(key, value, "a string");
        }
        string
    }

    fn boolean(&mut self, key: &str, value: &Spanned) -> Option<bool> {
        let boolean = value.as_bool();
        if boolean.is_none() {
            self.type_error(key, value, "a boolean (true/false, yes/no, on/off)");
        }
        boolean
    }

    /// A non-empty string is a path; nats-server treats "" as unset.
    fn path(&mut self, key: &str, value: &Spanned) -> Option<Option<PathBuf>> {
        self.string(key, value)
            .map(|s| (!s.is_empty()).then(|| PathBuf::from(s)))
    }

    fn non_negative(&mut self, key: &str, value: &Spanned) -> Option<u64> {
        let int = self.int(key, value)?;
        match u64::try_from(int) {
            Ok(n) => Some(n),
            Err(_) => {
                self.invalid(&value.pos, format!("\"{key}\" can not be negative"));
                None
            }
        }
    }

    /// `max_payload`/`max_control_line`: int32 in nats-server, 0 = default.
    fn protocol_limit(&mut self, key: &str, value: &Spanned, default: usize) -> Option<usize> {
        let n = self.non_negative(key, value)?;
        if n > PROTOCOL_LIMIT_BYTES_MAX as u64 {
            self.invalid(&value.pos, format!("{key} value is too big"));
            return None;
        }
        Some(if n == 0 { default } else { n as usize })
    }

    /// A duration in milliseconds: a Go duration string, or (deprecated, with
    /// a warning as in nats-server) an integer number of seconds. Zero keeps
    /// the default, like nats-server's baseline options.
    fn duration_ms(&mut self, key: &str, value: &Spanned, default: u64) -> Option<u64> {
        let nanos = match &value.value {
            Value::String(text) => match parse_go_duration(text) {
                Ok(nanos) => i128::from(nanos),
                Err(reason) => {
                    self.invalid(&value.pos, format!("error parsing {key}: {reason}"));
                    return None;
                }
            },
            Value::Int(seconds) => {
                self.warn(
                    &value.pos,
                    format!(
                        "invalid use of field \"{key}\": {key} should be converted to a duration"
                    ),
                );
                i128::from(*seconds) * 1_000_000_000
            }
            _ => {
                self.type_error(key, value, "a duration such as \"10s\"");
                return None;
            }
        };
        if nanos < 0 {
            self.invalid(&value.pos, format!("\"{key}\" can not be negative"));
            return None;
        }
        Some(match nanos_to_ms(nanos) {
            0 => default,
            ms => ms,
        })
    }

    fn top_level(&mut self, entry: &Entry) {
        let key = entry.key.as_str();
        let value = &entry.value;
        match key.to_ascii_lowercase().as_str() {
            "listen" => {
                if let Some((host, port)) = self.host_port(key, value) {
                    self.options.host = host.unwrap_or_else(|| HOST_DEFAULT.to_string());
                    match client_port(port) {
                        Ok(port) => self.options.port = port,
                        Err(message) => self.invalid(&value.pos, message),
                    }
                }
            }
            "host" | "net" => {
                if let Some(host) = self.string(key, value) {
                    self.options.host = if host.is_empty() {
                        HOST_DEFAULT.to_string()
                    } else {
                        host
                    };
                }
            }
            "port" => {
                if let Some(port) = self.int(key, value) {
                    match client_port(port) {
                        Ok(port) => self.options.port = port,
                        Err(message) => self.invalid(&value.pos, message),
                    }
                }
            }
            "server_name" => {
                if let Some(name) = self.string(key, value) {
                    if name.contains(' ') {
                        self.invalid(&value.pos, "server name cannot contain spaces".to_string());
                    } else {
                        self.options.server_name = (!name.is_empty()).then_some(name);
                    }
                }
            }
            "http" | "https" => {
                let https = key.eq_ignore_ascii_case("https");
                if let Some((host, port)) = self.host_port(key, value) {
                    if let Some(host) = host {
                        self.options.http_host = host;
                        self.applied.http_host_set = true;
                    }
                    match monitor_port(port) {
                        Ok(port) if https => self.options.https_port = port,
                        Ok(port) => self.options.http_port = port,
                        Err(message) => self.invalid(&value.pos, message),
                    }
                }
            }
            "http_port" | "monitor_port" | "https_port" => {
                if let Some(port) = self.int(key, value) {
                    match monitor_port(port) {
                        Ok(port) if key.eq_ignore_ascii_case("https_port") => {
                            self.options.https_port = port
                        }
                        Ok(port) => self.options.http_port = port,
                        Err(message) => self.invalid(&value.pos, message),
                    }
                }
            }
            "authorization" => self.authorization(key, value),
            "accounts" => {
                let mut problems = Problems::default();
                self.options.auth.accounts = auth::parse_accounts(value, &mut problems);
                self.take_problems(problems);
            }
            "operator" | "operators" | "roots" | "root" | "root_operators" | "root_operator" => {
                let mut problems = Problems::default();
                self.options.auth.operators =
                    auth::parse_operators(&entry.key_pos, value, &mut problems);
                self.take_problems(problems);
            }
            "resolver" | "account_resolver" | "accounts_resolver" => {
                let mut problems = Problems::default();
                self.options.auth.resolver =
                    auth::parse_resolver(&entry.key_pos, value, &mut problems);
                self.take_problems(problems);
            }
            "resolver_preload" => {
                let mut problems = Problems::default();
                self.options.auth.resolver_preload =
                    auth::parse_resolver_preload(&entry.key_pos, value, &mut problems);
                self.take_problems(problems);
            }
            "resolver_pinned_accounts" => {
                let mut problems = Problems::default();
                self.options.auth.resolver_pinned_accounts =
                    auth::parse_pinned_accounts(&entry.key_pos, value, &mut problems);
                self.take_problems(problems);
            }
            "system_account" | "system" => {
                if let Some(name) = self.string(key, value) {
                    self.options.auth.system_account = (!name.is_empty()).then_some(name);
                }
            }
            "tls" => self.tls(key, value),
            "no_auth_user" => {
                if let Some(user) = self.string(key, value) {
                    self.options.no_auth_user = (!user.is_empty()).then_some(user);
                }
            }
            "debug" => {
                if let Some(b) = self.boolean(key, value) {
                    self.options.debug = b;
                }
            }
            "trace" => {
                if let Some(b) = self.boolean(key, value) {
                    self.options.trace = b;
                }
            }
            "trace_verbose" | "trace_headers" => {
                if let Some(b) = self.boolean(key, value) {
                    self.options.trace = b;
                    self.warn(
                        &entry.key_pos,
                        format!("\"{key}\" is not supported yet by tern, plain \"trace\" is used"),
                    );
                }
            }
            "logtime" => {
                if let Some(b) = self.boolean(key, value) {
                    self.options.logtime = b;
                }
            }
            "syslog" => {
                if let Some(b) = self.boolean(key, value) {
                    self.options.syslog = b;
                }
            }
            "log_file" | "logfile" => {
                if let Some(path) = self.path(key, value) {
                    self.options.log_file = path;
                }
            }
            "log_size_limit" | "logfile_size_limit" => {
                if let Some(n) = self.non_negative(key, value) {
                    self.options.log_size_limit_bytes = n;
                }
            }
            "pid_file" | "pidfile" => {
                if let Some(path) = self.path(key, value) {
                    self.options.pid_file = path;
                }
            }
            "ports_file_dir" => {
                if let Some(path) = self.path(key, value) {
                    self.options.ports_file_dir = path;
                }
            }
            "max_payload" => {
                if let Some(n) = self.protocol_limit(key, value, MAX_PAYLOAD_BYTES_DEFAULT) {
                    self.options.max_payload_bytes = n;
                }
            }
            "max_control_line" => {
                if let Some(n) = self.protocol_limit(key, value, MAX_CONTROL_LINE_BYTES_DEFAULT) {
                    self.options.max_control_line_bytes = n;
                }
            }
            "max_pending" => {
                if let Some(n) = self.non_negative(key, value) {
                    self.options.max_pending_bytes = match usize::try_from(n) {
                        Ok(0) => MAX_PENDING_BYTES_DEFAULT,
                        Ok(n) => n,
                        Err(_) => usize::MAX,
                    };
                }
            }
            "max_connections" | "max_conn" => {
                if let Some(n) = self.int(key, value) {
                    self.options.max_connections = usize::try_from(n.max(0)).unwrap_or(usize::MAX);
                }
            }
            "max_subscriptions" | "max_subs" => {
                if let Some(n) = self.int(key, value) {
                    self.options.max_subscriptions =
                        usize::try_from(n.max(0)).unwrap_or(usize::MAX);
                }
            }
            "ping_interval" => {
                if let Some(ms) = self.duration_ms(key, value, PING_INTERVAL_MS_DEFAULT) {
                    self.options.ping_interval_ms = ms;
                }
            }
            "write_deadline" => {
                if let Some(ms) = self.duration_ms(key, value, WRITE_DEADLINE_MS_DEFAULT) {
                    self.options.write_deadline_ms = ms;
                }
            }
            "ping_max" => {
                if let Some(n) = self.non_negative(key, value) {
                    match u32::try_from(n) {
                        Ok(0) => self.options.ping_max = PING_MAX_DEFAULT,
                        Ok(n) => self.options.ping_max = n,
                        Err(_) => self.invalid(&value.pos, format!("{key} value is too big")),
                    }
                }
            }
            "lame_duck_duration" => self.lame_duck(key, value, false),
            "lame_duck_grace_period" => self.lame_duck(key, value, true),
            "store_dir" | "storedir" => self.store_dir(key, value),
            "jetstream" => self.jetstream(key, value),
            "cores" => {
                if let Some(n) = self.int(key, value) {
                    match usize::try_from(n) {
                        Ok(n @ 1..=CORES_MAX) => self.options.cores = Some(n),
                        _ => self.invalid(
                            &value.pos,
                            format!("\"{key}\" must be between 1 and {CORES_MAX}, got {n}"),
                        ),
                    }
                }
            }
            "cpu_list" => self.cpu_list(key, value),
            "log_format" => {
                if let Some(format) = self.string(key, value) {
                    match format.to_ascii_lowercase().as_str() {
                        "text" => self.options.log_json = false,
                        "json" => self.options.log_json = true,
                        _ => self.invalid(
                            &value.pos,
                            format!("\"{key}\" must be \"text\" or \"json\", got {format:?}"),
                        ),
                    }
                }
            }
            "spin_before_park_us" => {
                if let Some(n) = self.int(key, value) {
                    match u64::try_from(n) {
                        Ok(us) => self.options.spin_before_park_us = us,
                        Err(_) => {
                            self.invalid(&value.pos, format!("\"{key}\" can not be negative"))
                        }
                    }
                }
            }
            "time_slice_us" => {
                if let Some(n) = self.int(key, value) {
                    match u64::try_from(n) {
                        Ok(us) if (TIME_SLICE_US_MIN..=TIME_SLICE_US_MAX).contains(&us) => {
                            self.options.time_slice_us = us
                        }
                        _ => self.invalid(
                            &value.pos,
                            format!(
                                "\"{key}\" must be between {TIME_SLICE_US_MIN} and \
                                 {TIME_SLICE_US_MAX} microseconds, got {n}"
                            ),
                        ),
                    }
                }
            }
            lower if UNSUPPORTED_KEYS.contains(&lower) => self.unsupported(entry, key),
            _ => self.unknown(entry, key),
        }
    }

    /// nats-server's `parseListen`: a port, or "host:port" (IPv6 hosts in
    /// brackets). An empty host is `None`.
    fn host_port(&mut self, key: &str, value: &Spanned) -> Option<(Option<String>, i64)> {
        match &value.value {
            Value::Int(port) => Some((None, *port)),
            Value::String(text) => match split_host_port(text) {
                Some((host, port)) => match port.parse::<i64>() {
                    Ok(port) => Some(((!host.is_empty()).then(|| host.to_string()), port)),
                    Err(_) => {
                        self.invalid(&value.pos, format!("could not parse port {port:?}"));
                        None
                    }
                },
                None => {
                    self.invalid(
                        &value.pos,
                        format!("could not parse address string {text:?}"),
                    );
                    None
                }
            },
            _ => {
                self.type_error(key, value, "a port or \"host:port\"");
                None
            }
        }
    }

    fn authorization(&mut self, key: &str, value: &Spanned) {
        let Some(map) = value.as_map() else {
            self.type_error(key, value, "a map");
            return;
        };
        let (mut user, mut password, mut token) = (None, None, None);
        let outer_key_pos = self.key_pos.clone();
        for entry in map {
            self.key_pos = Some(entry.key_pos.clone());
            let inner = entry.key.as_str();
            let value = &entry.value;
            let path = format!("{key}.{inner}");
            match inner.to_ascii_lowercase().as_str() {
                "user" | "username" => user = self.string(&path, value),
                "pass" | "password" => password = self.string(&path, value),
                "token" => token = self.string(&path, value),
                "timeout" => {
                    if let Some(ms) = self.auth_timeout_ms(&path, value) {
                        self.options.auth_timeout_ms = ms;
                    }
                }
                "users" => {
                    let mut problems = Problems::default();
                    self.options.auth.users = auth::parse_users(&path, value, &mut problems);
                    self.take_problems(problems);
                }
                // nats-server reads `permissions` here as the default permissions too.
                "default_permission" | "default_permissions" | "permissions" => {
                    let mut problems = Problems::default();
                    self.options.auth.default_permissions =
                        auth::parse_permissions(&path, value, &mut problems);
                    self.take_problems(problems);
                }
                lower if UNSUPPORTED_AUTHORIZATION_KEYS.contains(&lower) => {
                    self.unsupported(entry, &path)
                }
                _ => self.unknown(entry, &path),
            }
        }
        self.key_pos = outer_key_pos;
        let user = user.filter(|s| !s.is_empty());
        let password = password.filter(|s| !s.is_empty());
        let token = token.filter(|s| !s.is_empty());
        if (user.is_some() || password.is_some()) && token.is_some() {
            self.invalid(&value.pos, "Cannot have a user/pass and token".to_string());
            return;
        }
        self.options.username = user;
        self.options.password = password;
        self.options.auth_token = token;
    }

    fn take_problems(&mut self, problems: Problems) {
        self.errors.extend(problems.errors);
        self.options.warnings.extend(problems.warnings);
    }

    /// Seconds as an integer or float, or a duration string.
    fn auth_timeout_ms(&mut self, key: &str, value: &Spanned) -> Option<u64> {
        let seconds = match &value.value {
            Value::Int(n) => *n as f64,
            Value::Float(x) => *x,
            Value::String(text) => match parse_go_duration(text) {
                Ok(nanos) => nanos as f64 / 1e9,
                Err(reason) => {
                    self.invalid(
                        &value.pos,
                        format!("error parsing authorization config, 'timeout' {reason}"),
                    );
                    return None;
                }
            },
            _ => {
                self.type_error(key, value, "seconds or a duration such as \"2s\"");
                return None;
            }
        };
        if seconds < 0.0 {
            self.invalid(&value.pos, format!("\"{key}\" can not be negative"));
            return None;
        }
        let ms = (seconds * 1000.0).round();
        if ms > AUTH_TIMEOUT_MS_WARN as f64 {
            self.warn(
                &value.pos,
                format!(
                    "invalid use of field \"timeout\": timeout of {seconds} seconds is high, consider keeping it under 60 seconds. possibly caused by unquoted duration; use '1m' instead of 1m, for example"
                ),
            );
        }
        // `as` saturates; the value is finite and non-negative here.
        Some(match ms as u64 {
            0 => AUTH_TIMEOUT_MS_DEFAULT,
            ms => ms,
        })
    }

    /// `lame_duck_*` take only duration strings in nats-server.
    fn lame_duck(&mut self, key: &str, value: &Spanned, grace: bool) {
        let Some(text) = value.as_str() else {
            self.type_error(key, value, "a duration such as \"2m\"");
            return;
        };
        let nanos = match parse_go_duration(text) {
            Ok(nanos) => nanos,
            Err(reason) => {
                self.invalid(&value.pos, format!("error parsing {key}: {reason}"));
                return;
            }
        };
        let ms = nanos_to_ms(i128::from(nanos));
        if grace {
            if nanos < 0 {
                self.invalid(
                    &value.pos,
                    "invalid lame_duck_grace_period, needs to be positive".to_string(),
                );
            } else {
                self.options.lame_duck_grace_period_ms = match ms {
                    0 => LAME_DUCK_GRACE_PERIOD_MS_DEFAULT,
                    ms => ms,
                };
            }
        } else if ms < LAME_DUCK_DURATION_MS_MIN {
            self.invalid(
                &value.pos,
                format!("invalid lame_duck_duration of {text}, minimum is 30 seconds"),
            );
        } else {
            self.options.lame_duck_duration_ms = ms;
        }
    }

    fn store_dir(&mut self, key: &str, value: &Spanned) {
        let Some(dir) = self.string(key, value) else {
            return;
        };
        if let Some(first) = &self.store_dir_pos {
            let message = format!("Duplicate 'store_dir' configuration (first set at {first})");
            self.invalid(&value.pos, message);
            return;
        }
        self.store_dir_pos = Some(value.pos.clone());
        self.options.store_dir = (!dir.is_empty()).then(|| PathBuf::from(dir));
    }

    /// `sync_interval: always` (tern's default: fsync before every PubAck) or a duration
    /// (acknowledge once written, fsync on that period, as nats-server's default 2m does).
    fn sync_interval(&mut self, key: &str, value: &Spanned) {
        if let Value::String(text) = &value.value {
            if text.eq_ignore_ascii_case("always") {
                self.options.jetstream_sync = SyncInterval::Always;
                return;
            }
        }
        if let Some(ms) = self.duration_ms(key, value, 0) {
            self.options.jetstream_sync = if ms == 0 {
                SyncInterval::Always
            } else {
                SyncInterval::EveryMs(ms)
            };
        }
    }

    fn jetstream(&mut self, key: &str, value: &Spanned) {
        match &value.value {
            Value::Bool(enabled) => self.options.jetstream = *enabled,
            Value::String(text) => match text.to_ascii_lowercase().as_str() {
                "enabled" | "enable" => self.options.jetstream = true,
                "disabled" | "disable" => self.options.jetstream = false,
                _ => self.invalid(
                    &value.pos,
                    format!("Expected 'enabled' or 'disabled' for string value, got '{text}'"),
                ),
            },
            Value::Map(map) => {
                let mut enabled = true;
                let outer_key_pos = self.key_pos.clone();
                for entry in map {
                    self.key_pos = Some(entry.key_pos.clone());
                    let inner = entry.key.as_str();
                    let value = &entry.value;
                    let path = format!("{key}.{inner}");
                    match inner.to_ascii_lowercase().as_str() {
                        "store" | "store_dir" | "storedir" => self.store_dir(&path, value),
                        "max_memory_store" | "max_mem_store" | "max_mem" => {
                            if let Some(bytes) = self.storage_size(&path, value) {
                                self.options.jetstream_max_memory_bytes = Some(bytes);
                            }
                        }
                        "max_file_store" | "max_file" => {
                            if let Some(bytes) = self.storage_size(&path, value) {
                                self.options.jetstream_max_store_bytes = Some(bytes);
                            }
                        }
                        "enable" | "enabled" => {
                            if let Some(b) = self.boolean(&path, value) {
                                enabled = b;
                            }
                        }
                        "sync_interval" | "sync" => self.sync_interval(&path, value),
                        lower if UNSUPPORTED_JETSTREAM_KEYS.contains(&lower) => {
                            self.unsupported(entry, &path)
                        }
                        _ => self.unknown(entry, &path),
                    }
                }
                self.key_pos = outer_key_pos;
                self.options.jetstream = enabled;
            }
            _ => self.invalid(
                &value.pos,
                format!(
                    "Expected map, bool or string to define JetStream, got {}",
                    value.value.type_name()
                ),
            ),
        }
    }

    /// nats-server's `getStorageSize`: an integer (bare suffixes already
    /// applied by the reader), or a string ending in K, M, G or T, which
    /// are powers of 1024.
    fn storage_size(&mut self, key: &str, value: &Spanned) -> Option<i64> {
        match &value.value {
            Value::Int(n) => Some(*n),
            Value::String(text) if text.is_empty() => Some(0),
            Value::String(text) => {
                let shift = match text.chars().last() {
                    Some('K') => 10,
                    Some('M') => 20,
                    Some('G') => 30,
                    Some('T') => 40,
                    _ => {
                        self.invalid(
                            &value.pos,
                            format!("{key} sizes defined as strings must end in K, M, G, T"),
                        );
                        return None;
                    }
                };
                let digits = text.get(..text.len() - 1).unwrap_or("");
                let size = digits
                    .parse::<i64>()
                    .ok()
                    .and_then(|n| n.checked_mul(1 << shift));
                if size.is_none() {
                    self.invalid(&value.pos, format!("{key} size {text:?} is not valid"));
                }
                size
            }
            _ => {
                self.type_error(key, value, "a size");
                None
            }
        }
    }

    fn cpu_list(&mut self, key: &str, value: &Spanned) {
        let parsed = match &value.value {
            Value::String(text) => parse_cpu_list(text),
            Value::Array(items) => {
                let mut text = String::new();
                for item in items {
                    match item.as_int() {
                        Some(n) => {
                            if !text.is_empty() {
                                text.push(',');
                            }
                            text.push_str(&n.to_string());
                        }
                        None => {
                            self.type_error(key, item, "CPU ids (integers)");
                            return;
                        }
                    }
                }
                parse_cpu_list(&text)
            }
            _ => {
                self.type_error(key, value, "a CPU list such as \"0,2-3\"");
                return;
            }
        };
        match parsed {
            Ok(cpus) => self.options.cpu_list = Some(cpus),
            Err(message) => self.invalid(&value.pos, format!("\"{key}\": {message}")),
        }
    }
}

fn nanos_to_ms(nanos: i128) -> u64 {
    // Round up so that a sub-millisecond duration is not mistaken for 0
    // ("use the default").
    let ms = (nanos.max(0) + 999_999) / 1_000_000;
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// nats-server's client port rules: -1 picks a random port (0 here), 0
/// means the default port.
pub(super) fn client_port(port: i64) -> Result<u16, String> {
    match port {
        -1 => Ok(0),
        0 => Ok(PORT_DEFAULT),
        1..=65535 => Ok(port as u16),
        _ => Err(format!(
            "port {port} is out of range (1-65535, or -1 for a random port)"
        )),
    }
}

/// Monitoring port rules: 0 disables, -1 picks a random port.
pub(super) fn monitor_port(port: i64) -> Result<Option<u16>, String> {
    match port {
        -1 => Ok(Some(0)),
        0 => Ok(None),
        1..=65535 => Ok(Some(port as u16)),
        _ => Err(format!(
            "port {port} is out of range (1-65535, 0 to disable, or -1 for a random port)"
        )),
    }
}

/// Go's `net.SplitHostPort`: `host:port` or `[v6host]:port`.
fn split_host_port(text: &str) -> Option<(&str, &str)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host, port));
    }
    let (host, port) = text.rsplit_once(':')?;
    if host.contains(':') || host.contains('[') || host.contains(']') {
        return None;
    }
    Some((host, port))
}

/// Parses a Linux-style CPU list such as `0,2-3` into CPU ids, in order.
pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>, String> {
    let mut cpus: Vec<usize> = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (item, item),
        };
        let parse = |s: &str| -> Result<usize, String> {
            match s.parse::<usize>() {
                Ok(id) if id <= CPU_ID_MAX => Ok(id),
                Ok(id) => Err(format!("CPU id {id} is above {CPU_ID_MAX}")),
                Err(_) => Err(format!("invalid CPU list entry {item:?}")),
            }
        };
        let (first, last) = (parse(first)?, parse(last)?);
        if first > last {
            return Err(format!("invalid CPU range {item:?}: {first} > {last}"));
        }
        if cpus.len() + (last - first + 1) > CPU_LIST_LEN_MAX {
            return Err(format!("CPU list names more than {CPU_LIST_LEN_MAX} CPUs"));
        }
        for cpu in first..=last {
            if cpus.contains(&cpu) {
                return Err(format!("CPU {cpu} is listed twice"));
            }
            cpus.push(cpu);
        }
    }
    Ok(cpus)
}
