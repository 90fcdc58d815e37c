//! The security parts of the configuration file: `accounts {}`, the users of
//! `authorization {}` and of each account, their `permissions`, and the
//! account exports and imports (server/opts.go `parseAccounts`, `parseUsers`,
//! `parseUserPermissions`, `parseAllowResponses`).
//!
//! This only reads the file's shape into plain data ([`AuthConfig`]); the
//! [`crate::auth`] module turns it into the account table and the matchers the
//! server checks connections against.

use super::duration::parse_go_duration;
use super::format::{Entry, Pos, Spanned, Value};
use super::ConfigError;
pub use crate::jetstream::api::AccountLimits;

/// nats-server's `DEFAULT_ALLOW_RESPONSE_MAX_MSGS`.
pub const RESPONSE_MAX_MSGS_DEFAULT: u64 = 1;
/// nats-server's `DEFAULT_ALLOW_RESPONSE_EXPIRATION` (2 minutes).
pub const RESPONSE_EXPIRES_MS_DEFAULT: u64 = 2 * 60_000;
/// The system account when the file names none (nats-server's `DEFAULT_SYSTEM_ACCOUNT`).
pub const SYSTEM_ACCOUNT_DEFAULT: &str = "$SYS";

/// Everything about who may connect and what they may do, as written in the file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuthConfig {
    /// `accounts {}` in file order.
    pub accounts: Vec<AccountConfig>,
    /// `authorization { users = [...] }`: users of the global account.
    pub users: Vec<UserConfig>,
    /// `authorization { default_permissions }`, for its users that have none.
    pub default_permissions: Option<PermissionsConfig>,
    /// `system_account`; `None` means `$SYS` (in operator mode: the operator JWT's).
    pub system_account: Option<String>,
    /// Operator mode (`operator`): the trusted operators' JWTs, read from their files
    /// (or given inline) and checked to decode.
    pub operators: Vec<String>,
    /// `resolver`: where operator mode finds account JWTs.
    pub resolver: Option<ResolverConfig>,
    /// `resolver_preload { <account public key>: <account JWT> }`, in file order.
    pub resolver_preload: Vec<(String, String)>,
    /// `resolver_pinned_accounts`: when set, only these accounts' users (and the system
    /// account's) may log in.
    pub resolver_pinned_accounts: Option<Vec<String>>,
}

/// `resolver`: where account JWTs come from.
#[derive(Clone, Debug, PartialEq)]
pub enum ResolverConfig {
    /// `MEMORY`: only the `resolver_preload` accounts.
    Memory,
    /// `{type: full, dir, allow_delete, interval, limit}` or `{type: cache, dir, ttl, limit}`:
    /// account JWT files (`<dir>/<account public key>.jwt`), updated through `$SYS` requests.
    Dir {
        full: bool,
        dir: std::path::PathBuf,
        allow_delete: bool,
        interval_ms: u64,
        ttl_ms: u64,
        limit: i64,
    },
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccountConfig {
    pub name: String,
    pub pos: Option<Pos>,
    pub users: Vec<UserConfig>,
    /// For this account's users that have no permissions of their own.
    pub default_permissions: Option<PermissionsConfig>,
    pub exports: Vec<ExportConfig>,
    pub imports: Vec<ImportConfig>,
    /// `jetstream: enabled` or `jetstream { max_mem, max_file, ... }`: JetStream for this
    /// account with these limits (-1: unlimited). `None`: no JetStream (also `disabled`).
    pub jetstream: Option<AccountLimits>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserConfig {
    pub user: Option<String>,
    pub password: Option<String>,
    /// An NKey user's public key (`U...`).
    pub nkey: Option<String>,
    pub permissions: Option<PermissionsConfig>,
    /// `allowed_connection_types` (upper case); `None` or empty: any.
    pub connection_types: Option<Vec<String>>,
    pub pos: Option<Pos>,
}

/// nats-server's connection types (`jwt.ConnectionType*`).
pub const CONNECTION_TYPES: &[&str] = &[
    "STANDARD",
    "WEBSOCKET",
    "LEAFNODE",
    "LEAFNODE_WS",
    "MQTT",
    "MQTT_WS",
    "IN_PROCESS",
];

/// `permissions {}` of a user. `None` in a direction means "everything".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PermissionsConfig {
    pub publish: Option<SubjectRules>,
    pub subscribe: Option<SubjectRules>,
    pub allow_responses: Option<ResponsePermission>,
}

/// Allow and deny lists; `None` allow means everything is allowed, `Some(empty)`
/// nothing. Subscribe entries may be `"<subject> <queue>"`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SubjectRules {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
}

/// `allow_responses`: a client may publish to the reply subject of a request it received,
/// up to `max_msgs` times within `expires_ms` (0: no limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponsePermission {
    pub max_msgs: u64,
    pub expires_ms: u64,
}

/// How many responses a service request may get (`response_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResponseType {
    /// Exactly one (the default).
    #[default]
    Singleton,
    /// Any number, until the response threshold passes (`stream`).
    Stream,
    /// As `Stream` (`chunked`: one response in several messages).
    Chunked,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    Stream,
    Service,
}

/// `exports = [{stream: "a.>"}, {service: "svc.>", accounts: [B]}]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportConfig {
    pub kind: ExportKind,
    pub subject: String,
    /// `None`: public (any account may import).
    pub accounts: Option<Vec<String>>,
    /// Services only.
    pub response_type: ResponseType,
    /// Services only: how long a request's reply mapping lives (`response_threshold`).
    pub response_threshold_ms: Option<u64>,
    pub pos: Pos,
}

/// `imports = [{stream: {account: A, subject: "a.>"}, prefix: p}, {service: {...}, to: x}]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportConfig {
    pub kind: ExportKind,
    pub account: String,
    pub subject: String,
    /// Streams: `prefix` (prepended) or `to`; services: `to` (the local subject).
    pub prefix: Option<String>,
    pub to: Option<String>,
    pub pos: Pos,
}

/// Errors and warnings found while reading the security blocks.
#[derive(Default)]
pub struct Problems {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<String>,
}

impl Problems {
    fn invalid(&mut self, pos: &Pos, message: impl Into<String>) {
        self.errors.push(ConfigError::Invalid {
            pos: pos.clone(),
            message: message.into(),
        });
    }

    fn unknown(&mut self, entry: &Entry, path: &str) {
        if !entry.used_as_variable {
            self.warnings.push(format!(
                "{}: unknown field \"{path}\", ignored",
                entry.key_pos
            ));
        }
    }

    fn unsupported(&mut self, entry: &Entry, path: &str) {
        self.warnings.push(format!(
            "{}: \"{path}\" is not supported yet by tern and is ignored",
            entry.key_pos
        ));
    }

    fn string(&mut self, key: &str, value: &Spanned) -> Option<String> {
        match value.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.type_error(key, value, "a string");
                None
            }
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
}

/// `accounts { A { users = [...] } B {} }` or `accounts = [A, B]`.
pub fn parse_accounts(value: &Spanned, problems: &mut Problems) -> Vec<AccountConfig> {
    let mut accounts = Vec::new();
    match &value.value {
        Value::Array(names) => {
            for name in names {
                if let Some(name) = problems.string("accounts", name) {
                    accounts.push(AccountConfig {
                        name,
                        pos: Some(value.pos.clone()),
                        ..AccountConfig::default()
                    });
                }
            }
        }
        Value::Map(map) => {
            for entry in map {
                let name = entry.key.clone();
                let path = format!("accounts.{name}");
                let mut account = AccountConfig {
                    name,
                    pos: Some(entry.key_pos.clone()),
                    ..AccountConfig::default()
                };
                let Some(body) = entry.value.as_map() else {
                    problems.type_error(&path, &entry.value, "a map");
                    continue;
                };
                for field in body {
                    let key = field.key.to_ascii_lowercase();
                    let field_path = format!("{path}.{}", field.key);
                    match key.as_str() {
                        "users" => account.users = parse_users(&field_path, &field.value, problems),
                        "default_permissions" => {
                            account.default_permissions =
                                parse_permissions(&field_path, &field.value, problems)
                        }
                        "exports" => {
                            account.exports = parse_exports(&field_path, &field.value, problems)
                        }
                        "imports" => {
                            account.imports = parse_imports(&field_path, &field.value, problems)
                        }
                        "jetstream" => {
                            account.jetstream =
                                parse_account_jetstream(&field_path, &field.value, problems)
                        }
                        "mappings" | "limits" | "nkey" | "msg_trace" => {
                            problems.unsupported(field, &field_path)
                        }
                        _ => problems.unknown(field, &field_path),
                    }
                }
                accounts.push(account);
            }
        }
        _ => problems.type_error("accounts", value, "a map or an array of names"),
    }
    accounts
}

/// An account's `jetstream` (nats-server's `parseJetStreamForAccount`): `true`,
/// `enabled`, or a map of limits; `false` or `disabled` leave it off.
fn parse_account_jetstream(
    path: &str,
    value: &Spanned,
    problems: &mut Problems,
) -> Option<AccountLimits> {
    match &value.value {
        Value::Bool(enabled) => enabled.then(AccountLimits::default),
        Value::String(text) => match text.to_ascii_lowercase().as_str() {
            "enabled" | "enable" => Some(AccountLimits::default()),
            "disabled" | "disable" => None,
            _ => {
                problems.invalid(
                    &value.pos,
                    format!("Expected 'enabled' or 'disabled' for string value, got '{text}'"),
                );
                None
            }
        },
        Value::Map(map) => {
            let mut limits = AccountLimits::default();
            for entry in map {
                let key = entry.key.to_ascii_lowercase();
                let field_path = format!("{path}.{}", entry.key);
                let size = |problems: &mut Problems| match &entry.value.value {
                    Value::Int(n) => Some(*n),
                    other => {
                        let shown = match other {
                            Value::String(text) => text.clone(),
                            other => other.type_name().to_string(),
                        };
                        problems.invalid(
                            &entry.value.pos,
                            format!("Expected a parseable size for {:?}, got {shown}", entry.key),
                        );
                        None
                    }
                };
                let target = match key.as_str() {
                    "max_memory" | "max_mem" | "mem" | "memory" => &mut limits.max_memory_bytes,
                    "max_store" | "max_file" | "max_disk" | "store" | "disk" => {
                        &mut limits.max_storage_bytes
                    }
                    "max_streams" | "streams" => &mut limits.max_streams,
                    "max_consumers" | "consumers" => &mut limits.max_consumers,
                    "max_ack_pending" => &mut limits.max_ack_pending,
                    "mem_max_stream_bytes" | "memory_max_stream_bytes" => {
                        &mut limits.memory_max_stream_bytes
                    }
                    "disk_max_stream_bytes" | "store_max_stream_bytes" => {
                        &mut limits.storage_max_stream_bytes
                    }
                    "max_bytes_required" | "max_stream_bytes" | "max_bytes" => {
                        match entry.value.value {
                            Value::Bool(required) => limits.max_bytes_required = required,
                            _ => problems.invalid(
                                &entry.value.pos,
                                format!("Expected a parseable bool for {:?}", entry.key),
                            ),
                        }
                        continue;
                    }
                    _ => {
                        problems.unknown(entry, &field_path);
                        continue;
                    }
                };
                if let Some(n) = size(problems) {
                    *target = n;
                }
            }
            Some(limits)
        }
        _ => {
            problems.invalid(
                &value.pos,
                format!(
                    "Expected map, bool or string to define JetStream, got {}",
                    value.value.type_name()
                ),
            );
            None
        }
    }
}

/// `users = [ {user, password, permissions}, {nkey, permissions} ]`.
pub fn parse_users(path: &str, value: &Spanned, problems: &mut Problems) -> Vec<UserConfig> {
    let Some(items) = value.as_array() else {
        problems.type_error(path, value, "an array of users");
        return Vec::new();
    };
    let mut users = Vec::new();
    for item in items {
        let Some(map) = item.as_map() else {
            problems.type_error(path, item, "a map per user");
            continue;
        };
        let mut user = UserConfig {
            pos: Some(item.pos.clone()),
            ..UserConfig::default()
        };
        for entry in map {
            let field_path = format!("{path}.{}", entry.key);
            match entry.key.to_ascii_lowercase().as_str() {
                "user" | "username" => user.user = problems.string(&field_path, &entry.value),
                "pass" | "password" => user.password = problems.string(&field_path, &entry.value),
                "nkey" => user.nkey = problems.string(&field_path, &entry.value),
                "permission" | "permissions" => {
                    user.permissions = parse_permissions(&field_path, &entry.value, problems)
                }
                "allowed_connection_types" | "connection_types" | "clients" => {
                    let types: Option<Vec<String>> = match &entry.value.value {
                        Value::Array(items) => Some(
                            items
                                .iter()
                                .filter_map(|t| problems.string(&field_path, t))
                                .map(|t| t.to_ascii_uppercase())
                                .collect(),
                        ),
                        _ => {
                            problems.type_error(&field_path, &entry.value, "an array");
                            None
                        }
                    };
                    if let Some(types) = &types {
                        for t in types {
                            if !CONNECTION_TYPES.contains(&t.as_str()) {
                                problems.invalid(
                                    &entry.value.pos,
                                    format!("invalid connection types [\"{t}\"]"),
                                );
                            }
                        }
                    }
                    user.connection_types = types;
                }
                "account" => problems.unsupported(entry, &field_path),
                _ => problems.unknown(entry, &field_path),
            }
        }
        match (&user.user, &user.nkey) {
            (None, None) => problems.invalid(&item.pos, "User entry requires a user"),
            (Some(_), Some(_)) => {
                problems.invalid(&item.pos, "User entry can not have both a user and an nkey")
            }
            _ => users.push(user),
        }
    }
    users
}

/// `permissions { publish, subscribe, allow_responses }` (`pub`/`sub` aliases).
pub fn parse_permissions(
    path: &str,
    value: &Spanned,
    problems: &mut Problems,
) -> Option<PermissionsConfig> {
    let Some(map) = value.as_map() else {
        problems.type_error(path, value, "a map");
        return None;
    };
    let mut permissions = PermissionsConfig::default();
    for entry in map {
        let field_path = format!("{path}.{}", entry.key);
        match entry.key.to_ascii_lowercase().as_str() {
            "pub" | "publish" | "import" => {
                permissions.publish = parse_rules(&field_path, &entry.value, problems)
            }
            "sub" | "subscribe" | "export" => {
                permissions.subscribe = parse_rules(&field_path, &entry.value, problems)
            }
            "publish_allow_responses" | "allow_responses" => {
                permissions.allow_responses =
                    parse_allow_responses(&field_path, &entry.value, problems)
            }
            _ => problems.unknown(entry, &field_path),
        }
    }
    // As nats-server's `validateResponsePermissions`: with allow_responses and no explicit
    // publish allow list, the user may publish nothing but responses.
    if permissions.allow_responses.is_some() {
        let publish = permissions
            .publish
            .get_or_insert_with(SubjectRules::default);
        publish.allow.get_or_insert_with(Vec::new);
    }
    Some(permissions)
}

/// A subject, a list of subjects (both: the allow list), or `{allow, deny}`.
fn parse_rules(path: &str, value: &Spanned, problems: &mut Problems) -> Option<SubjectRules> {
    match &value.value {
        Value::Map(map) => {
            let mut rules = SubjectRules::default();
            for entry in map {
                let field_path = format!("{path}.{}", entry.key);
                match entry.key.to_ascii_lowercase().as_str() {
                    "allow" => rules.allow = subjects(&field_path, &entry.value, problems),
                    "deny" => rules.deny = subjects(&field_path, &entry.value, problems),
                    _ => problems.invalid(
                        &entry.key_pos,
                        format!(
                            "Unknown field \"{}\" parsing subject permissions",
                            entry.key
                        ),
                    ),
                }
            }
            Some(rules)
        }
        _ => Some(SubjectRules {
            allow: subjects(path, value, problems),
            deny: None,
        }),
    }
}

fn subjects(path: &str, value: &Spanned, problems: &mut Problems) -> Option<Vec<String>> {
    let list: Vec<&Spanned> = match &value.value {
        Value::String(_) => vec![value],
        Value::Array(items) => items.iter().collect(),
        _ => {
            problems.type_error(path, value, "a subject or an array of subjects");
            return None;
        }
    };
    let mut out = Vec::new();
    for item in list {
        let Some(text) = problems.string(path, item) else {
            continue;
        };
        if !valid_permission_subject(&text) {
            problems.invalid(
                &item.pos,
                format!("subject {text:?} is not a valid subject"),
            );
            continue;
        }
        out.push(text);
    }
    Some(out)
}

/// A subject with wildcards, optionally followed by one space and a queue name (which may
/// itself use wildcards), as nats-server's `checkSubjectArray` allows.
fn valid_permission_subject(text: &str) -> bool {
    let mut parts = text.split_whitespace();
    let (Some(subject), queue, None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    crate::routing::is_valid_subject(subject.as_bytes())
        && queue.is_none_or(|q| crate::routing::is_valid_subject(q.as_bytes()))
}

fn parse_allow_responses(
    path: &str,
    value: &Spanned,
    problems: &mut Problems,
) -> Option<ResponsePermission> {
    let mut permission = ResponsePermission {
        max_msgs: RESPONSE_MAX_MSGS_DEFAULT,
        expires_ms: RESPONSE_EXPIRES_MS_DEFAULT,
    };
    match &value.value {
        Value::Bool(true) => Some(permission),
        Value::Bool(false) => None,
        Value::Map(map) => {
            for entry in map {
                let field_path = format!("{path}.{}", entry.key);
                match entry.key.to_ascii_lowercase().as_str() {
                    "max" | "max_msgs" | "max_messages" | "max_responses" => {
                        match entry.value.as_int() {
                            Some(n) if n >= 0 => permission.max_msgs = n as u64,
                            _ => problems.type_error(
                                &field_path,
                                &entry.value,
                                "a non-negative integer",
                            ),
                        }
                    }
                    "expires" | "expiration" | "ttl" => match &entry.value.value {
                        Value::String(text) => match parse_go_duration(text) {
                            Ok(nanos) if nanos >= 0 => {
                                permission.expires_ms = (nanos / 1_000_000) as u64
                            }
                            Ok(_) => problems
                                .invalid(&entry.value.pos, format!("\"{field_path}\" is negative")),
                            Err(reason) => problems.invalid(
                                &entry.value.pos,
                                format!("error parsing {field_path}: {reason}"),
                            ),
                        },
                        _ => problems.type_error(&field_path, &entry.value, "a duration"),
                    },
                    _ => problems.invalid(
                        &entry.key_pos,
                        format!("Unknown field \"{}\" parsing allow_responses", entry.key),
                    ),
                }
            }
            Some(permission)
        }
        _ => {
            problems.type_error(path, value, "a boolean or a map");
            None
        }
    }
}

fn parse_exports(path: &str, value: &Spanned, problems: &mut Problems) -> Vec<ExportConfig> {
    let Some(items) = value.as_array() else {
        problems.type_error(path, value, "an array");
        return Vec::new();
    };
    let mut exports = Vec::new();
    for item in items {
        let Some(map) = item.as_map() else {
            problems.type_error(path, item, "a map per export");
            continue;
        };
        let (mut kind, mut subject, mut accounts) = (None, None, None);
        let (mut response_type, mut response_threshold_ms) = (ResponseType::Singleton, None);
        for entry in map {
            let field_path = format!("{path}.{}", entry.key);
            match entry.key.to_ascii_lowercase().as_str() {
                "stream" | "service" => {
                    if kind.is_some() {
                        problems.invalid(
                            &entry.key_pos,
                            "Detected stream and service export in the same entry",
                        );
                    }
                    kind = Some(if entry.key.eq_ignore_ascii_case("stream") {
                        ExportKind::Stream
                    } else {
                        ExportKind::Service
                    });
                    subject = problems.string(&field_path, &entry.value);
                }
                "accounts" => {
                    accounts = entry.value.as_array().map(|names| {
                        names
                            .iter()
                            .filter_map(|n| problems.string(&field_path, n))
                            .collect()
                    });
                    if accounts.is_none() {
                        problems.type_error(&field_path, &entry.value, "an array of accounts");
                    }
                }
                "response" | "response_type" => {
                    match problems.string(&field_path, &entry.value).as_deref() {
                        Some(t) if t.eq_ignore_ascii_case("singleton") => {
                            response_type = ResponseType::Singleton
                        }
                        Some(t) if t.eq_ignore_ascii_case("stream") => {
                            response_type = ResponseType::Stream
                        }
                        Some(t) if t.eq_ignore_ascii_case("chunked") => {
                            response_type = ResponseType::Chunked
                        }
                        Some(t) => problems
                            .invalid(&entry.value.pos, format!("Unknown response type: {t:?}")),
                        None => {}
                    }
                }
                "threshold" | "response_threshold" | "response_time" => {
                    match problems
                        .string(&field_path, &entry.value)
                        .map(|t| parse_go_duration(&t))
                    {
                        Some(Ok(nanos)) if nanos > 0 => {
                            response_threshold_ms = Some((nanos / 1_000_000).max(1) as u64)
                        }
                        Some(Ok(_)) => problems.invalid(
                            &entry.value.pos,
                            format!("\"{field_path}\" must be positive"),
                        ),
                        Some(Err(reason)) => problems.invalid(
                            &entry.value.pos,
                            format!("error parsing {field_path}: {reason}"),
                        ),
                        None => {}
                    }
                }
                _ => problems.unknown(entry, &field_path),
            }
        }
        match (kind, subject) {
            (Some(kind), Some(subject)) if crate::routing::is_valid_subject(subject.as_bytes()) => {
                exports.push(ExportConfig {
                    kind,
                    subject,
                    accounts,
                    response_type,
                    response_threshold_ms,
                    pos: item.pos.clone(),
                })
            }
            (Some(_), Some(subject)) => {
                problems.invalid(&item.pos, format!("invalid export subject {subject:?}"))
            }
            _ => problems.invalid(&item.pos, "export needs a stream or a service subject"),
        }
    }
    exports
}

fn parse_imports(path: &str, value: &Spanned, problems: &mut Problems) -> Vec<ImportConfig> {
    let Some(items) = value.as_array() else {
        problems.type_error(path, value, "an array");
        return Vec::new();
    };
    let mut imports = Vec::new();
    for item in items {
        let Some(map) = item.as_map() else {
            problems.type_error(path, item, "a map per import");
            continue;
        };
        let (mut source, mut prefix, mut to) = (None, None, None);
        for entry in map {
            let field_path = format!("{path}.{}", entry.key);
            match entry.key.to_ascii_lowercase().as_str() {
                "stream" | "service" => {
                    let kind = if entry.key.eq_ignore_ascii_case("stream") {
                        ExportKind::Stream
                    } else {
                        ExportKind::Service
                    };
                    let Some(body) = entry.value.as_map() else {
                        problems.type_error(&field_path, &entry.value, "{account, subject}");
                        continue;
                    };
                    let account = body
                        .get("account")
                        .and_then(|v| problems.string(&field_path, v));
                    let subject = body
                        .get("subject")
                        .and_then(|v| problems.string(&field_path, v));
                    match (account, subject) {
                        (Some(account), Some(subject)) => source = Some((kind, account, subject)),
                        _ => problems.invalid(
                            &entry.value.pos,
                            format!("{field_path} needs an account and a subject"),
                        ),
                    }
                }
                "prefix" => prefix = problems.string(&field_path, &entry.value),
                "to" => to = problems.string(&field_path, &entry.value),
                "share" | "allow_trace" => problems.unsupported(entry, &field_path),
                _ => problems.unknown(entry, &field_path),
            }
        }
        let Some((kind, account, subject)) = source else {
            problems.invalid(&item.pos, "import needs a stream or a service");
            continue;
        };
        let subject_ok = crate::routing::is_valid_subject(subject.as_bytes());
        let local_ok = [&prefix, &to]
            .into_iter()
            .flatten()
            .all(|s| crate::routing::is_valid_subject(s.as_bytes()));
        if !subject_ok || !local_ok {
            problems.invalid(&item.pos, "invalid import subject");
            continue;
        }
        if kind == ExportKind::Service && prefix.is_some() {
            problems.invalid(&item.pos, "a service import takes \"to\", not \"prefix\"");
            continue;
        }
        imports.push(ImportConfig {
            kind,
            account,
            subject,
            prefix,
            to,
            pos: item.pos.clone(),
        });
    }
    imports
}

/// `operator`: one path or inline JWT, or a list of them (nats-server's `readOperatorJWT`:
/// a value that is not a readable file but starts like a JWT is the JWT itself; a file may
/// be "decorated" with `-----BEGIN ... JWT-----` lines).
pub fn parse_operators(key_pos: &Pos, value: &Spanned, problems: &mut Problems) -> Vec<String> {
    let items: Vec<&Spanned> = match &value.value {
        Value::String(_) => vec![value],
        Value::Array(items) => items.iter().collect(),
        _ => {
            problems.invalid(
                key_pos,
                format!(
                    "error parsing operators: unsupported type {}",
                    value.value.type_name()
                ),
            );
            return Vec::new();
        }
    };
    let mut operators = Vec::new();
    for item in items {
        let Some(source) = problems.string("operator", item) else {
            continue;
        };
        match read_operator_jwt(&source) {
            Ok(jwt) => operators.push(jwt),
            Err(reason) => {
                problems.invalid(key_pos, format!("error parsing operator JWT: {reason}"))
            }
        }
    }
    operators
}

/// Every JWT's text starts with the base64 of `{"`.
const JWT_PREFIX: &str = "eyJ";

fn read_operator_jwt(source: &str) -> Result<String, String> {
    let text = match std::fs::read(source) {
        Ok(bytes) if bytes.len() <= crate::limits::JWT_BYTES_MAX * 2 => {
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Ok(_) => return Err(format!("{source}: file too large")),
        Err(error) if !source.starts_with(JWT_PREFIX) => {
            return Err(format!("open {source}: {}", io_reason(&error)))
        }
        Err(_) => source.to_string(),
    };
    let jwt = undecorate_jwt(&text);
    crate::auth::jwt::decode::<crate::auth::jwt::OperatorNats>(
        &jwt,
        crate::auth::jwt::ClaimType::Operator,
    )
    .map_err(|e| e.to_string())?;
    Ok(jwt)
}

/// Go's wording for the common I/O errors.
fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    }
}

/// nats-io/jwt's `ParseDecoratedJWT`: the JWT between `-----BEGIN ...-----` and
/// `------END ...------` lines, or the whole trimmed text when there are none.
pub fn undecorate_jwt(text: &str) -> String {
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line.starts_with("-----BEGIN") && line.contains("JWT") {
            if let Some(jwt) = lines.find(|l| !l.is_empty()) {
                return jwt.to_string();
            }
        }
    }
    text.trim().to_string()
}

/// `resolver: MEMORY` or `resolver: { type: full|cache, dir, ... }` (`URL(...)` is not
/// supported by tern).
pub fn parse_resolver(
    key_pos: &Pos,
    value: &Spanned,
    problems: &mut Problems,
) -> Option<ResolverConfig> {
    match &value.value {
        Value::String(text) => {
            let upper = text.trim().to_ascii_uppercase();
            if upper.starts_with("MEM") {
                return Some(ResolverConfig::Memory);
            }
            if upper.starts_with("URL") {
                problems.invalid(key_pos, "the URL account resolver is not supported by tern");
                return None;
            }
            problems.invalid(key_pos, RESOLVER_SHAPE_ERROR);
            None
        }
        Value::Map(map) => {
            let (mut dir, mut kind) = (String::new(), String::new());
            let (mut allow_delete, mut limit) = (false, 0i64);
            let (mut ttl_ms, mut interval_ms) = (0u64, 0u64);
            for entry in map {
                let path = format!("resolver.{}", entry.key);
                match entry.key.to_ascii_lowercase().as_str() {
                    "dir" => dir = problems.string(&path, &entry.value).unwrap_or_default(),
                    "type" => kind = problems.string(&path, &entry.value).unwrap_or_default(),
                    "allow_delete" => match entry.value.as_bool() {
                        Some(b) => allow_delete = b,
                        None => problems.type_error(&path, &entry.value, "a boolean"),
                    },
                    "limit" => match entry.value.as_int() {
                        Some(n) => limit = n,
                        None => problems.type_error(&path, &entry.value, "an integer"),
                    },
                    "ttl" | "interval" | "timeout" => {
                        let ms = match problems
                            .string(&path, &entry.value)
                            .map(|t| parse_go_duration(&t))
                        {
                            Some(Ok(nanos)) => (nanos.max(0) / 1_000_000) as u64,
                            Some(Err(reason)) => {
                                problems.invalid(key_pos, reason);
                                return None;
                            }
                            None => continue,
                        };
                        match entry.key.to_ascii_lowercase().as_str() {
                            "ttl" => ttl_ms = ms,
                            "interval" => interval_ms = ms,
                            _ => {}
                        }
                    }
                    _ => problems.unknown(entry, &path),
                }
            }
            if dir.is_empty() {
                problems.invalid(
                    key_pos,
                    "dir has no value and needs to point to a directory",
                );
                return None;
            }
            if let Ok(meta) = std::fs::metadata(&dir) {
                if !meta.is_dir() {
                    problems.invalid(key_pos, "dir needs to point to an accessible directory");
                    return None;
                }
            }
            let full = match kind.to_ascii_uppercase().as_str() {
                "FULL" => {
                    if ttl_ms != 0 {
                        problems.invalid(key_pos, "FULL does not accept ttl");
                    }
                    true
                }
                "CACHE" => {
                    if interval_ms != 0 {
                        problems.invalid(key_pos, "CACHE does not accept sync");
                    }
                    if allow_delete {
                        problems.invalid(key_pos, "CACHE does not accept allow_delete");
                    }
                    false
                }
                _ => {
                    problems.invalid(key_pos, RESOLVER_SHAPE_ERROR);
                    return None;
                }
            };
            Some(ResolverConfig::Dir {
                full,
                dir: std::path::PathBuf::from(dir),
                allow_delete,
                interval_ms,
                ttl_ms,
                limit,
            })
        }
        _ => {
            problems.invalid(
                key_pos,
                format!(
                    "error parsing operator resolver, wrong type {}",
                    value.value.type_name()
                ),
            );
            None
        }
    }
}

/// nats-server's wording (two blanks included).
const RESOLVER_SHAPE_ERROR: &str = "error parsing account resolver, should be MEM or  URL(\"url\") or a map containing dir and type state=[FULL|CACHE])";

/// `resolver_preload { A...: "<account JWT>" }`; each JWT must decode.
pub fn parse_resolver_preload(
    key_pos: &Pos,
    value: &Spanned,
    problems: &mut Problems,
) -> Vec<(String, String)> {
    let Some(map) = value.as_map() else {
        problems.invalid(
            key_pos,
            "preload should be a map of account_public_key:account_jwt",
        );
        return Vec::new();
    };
    let mut preload = Vec::new();
    for entry in map {
        let Some(jwt) = entry.value.as_str() else {
            problems.invalid(&entry.value.pos, "preload map value should be a string JWT");
            continue;
        };
        let decoded = crate::auth::jwt::decode::<crate::auth::jwt::AccountNats>(
            jwt,
            crate::auth::jwt::ClaimType::Account,
        );
        if decoded.is_err() {
            problems.invalid(&entry.value.pos, "invalid account JWT");
            continue;
        }
        preload.push((entry.key.clone(), jwt.trim().to_string()));
    }
    preload
}

/// `resolver_pinned_accounts: A...` or `[A..., A...]`.
pub fn parse_pinned_accounts(
    key_pos: &Pos,
    value: &Spanned,
    problems: &mut Problems,
) -> Option<Vec<String>> {
    let items: Vec<&Spanned> = match &value.value {
        Value::String(_) => vec![value],
        Value::Array(items) => items.iter().collect(),
        _ => {
            problems.invalid(
                key_pos,
                format!(
                    "error parsing resolver_pinned_accounts: unsupported type {}",
                    value.value.type_name()
                ),
            );
            return None;
        }
    };
    let mut keys = Vec::new();
    for item in items {
        match item.as_str() {
            Some(key) => keys.push(key.to_string()),
            None => problems.invalid(
                &item.pos,
                format!(
                    "error parsing resolver_pinned_accounts: unsupported type in array {}",
                    item.value.type_name()
                ),
            ),
        }
    }
    Some(keys)
}
