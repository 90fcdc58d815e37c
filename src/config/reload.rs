//! What a configuration reload may change (nats-server's `diffOptions`, server/reload.go).
//!
//! [`diff`] compares the options in force with freshly read ones and either lists the
//! changes to apply (worded for the `Reloaded: ...` log lines) or refuses the whole reload
//! with nats-server's error text, `config reload not supported for <Field>: old=<v>,
//! new=<v>`, naming the option by nats-server's Go field name. Options are checked in the
//! order of nats-server's `Options` struct, so the first refused one is the one it reports.
//!
//! Reloadable here: `trace`, `debug`, `logtime`, `max_connections`, everything about users
//! and accounts (`authorization`, `accounts`, user/password/token, `no_auth_user` within
//! nats-server's limits), `ping_interval`, `ping_max`, `auth_timeout`, `max_control_line`,
//! `max_payload`, `write_deadline`, `pid_file` (written anew). Everything else is refused,
//! including a few options nats-server does reload but tern reads only at start (`tls`,
//! `ports_file_dir`, `log_file`, `syslog`, `jetstream`).

use super::auth::{AccountConfig, AuthConfig, UserConfig};
use super::format::Pos;
use super::Options;

/// The changes a reload applies, one `Reloaded: <line>` each.
pub type Changes = Vec<String>;

fn refuse(field: &str, old: impl std::fmt::Display, new: impl std::fmt::Display) -> String {
    format!("config reload not supported for {field}: old={old}, new={new}")
}

/// Go's `%v` of an optional string: empty when unset.
fn text(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

fn path_text(value: &Option<std::path::PathBuf>) -> String {
    value
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Go's `time.Duration` `%v`: `2m0s`, `10s`, `1.5s`, `500ms`.
pub fn go_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (hours, minutes) = (ms / 3_600_000, ms / 60_000 % 60);
    let seconds = match ms % 60_000 {
        s if s % 1000 == 0 => format!("{}s", s / 1000),
        s => {
            let text = format!("{:.3}", s as f64 / 1000.0);
            format!("{}s", text.trim_end_matches('0'))
        }
    };
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

/// The auth configuration with file positions cleared: moving a block within the file is
/// no change.
fn without_positions(auth: &AuthConfig) -> AuthConfig {
    let nowhere = Pos {
        file: "".into(),
        line: 0,
        column: 0,
    };
    let users = |users: &[UserConfig]| -> Vec<UserConfig> {
        users
            .iter()
            .map(|u| UserConfig {
                pos: None,
                ..u.clone()
            })
            .collect()
    };
    let mut auth = auth.clone();
    auth.users = users(&auth.users);
    for account in &mut auth.accounts {
        *account = AccountConfig {
            pos: None,
            users: users(&account.users),
            ..account.clone()
        };
        for export in &mut account.exports {
            export.pos = nowhere.clone();
        }
        for import in &mut account.imports {
            import.pos = nowhere.clone();
        }
    }
    auth
}

/// Whether anything that makes up the authentication configuration differs.
pub fn auth_changed(old: &Options, new: &Options) -> bool {
    without_positions(&old.auth) != without_positions(&new.auth)
        || old.username != new.username
        || old.password != new.password
        || old.auth_token != new.auth_token
        || old.no_auth_user != new.no_auth_user
}

/// What reloading `new` over `old` changes, or why it can not be done.
pub fn diff(old: &Options, new: &Options) -> Result<Changes, String> {
    let mut changes = Changes::new();
    if old.server_name != new.server_name {
        return Err(refuse(
            "ServerName",
            text(&old.server_name),
            text(&new.server_name),
        ));
    }
    if old.host != new.host {
        return Err(refuse("Host", &old.host, &new.host));
    }
    // A random port (`-1`) in the new file is ignored, as nats-server ignores it.
    if old.port != new.port && new.port != 0 {
        return Err(refuse("Port", old.port, new.port));
    }
    if old.trace != new.trace {
        changes.push(format!("trace = {}", new.trace));
    }
    if old.debug != new.debug {
        changes.push(format!("debug = {}", new.debug));
    }
    if old.logtime != new.logtime {
        changes.push(format!("logtime = {}", new.logtime));
    }
    if old.max_connections != new.max_connections {
        changes.push(format!("max_connections = {}", new.max_connections));
    }
    if old.max_subscriptions != new.max_subscriptions {
        return Err(refuse(
            "MaxSubs",
            old.max_subscriptions,
            new.max_subscriptions,
        ));
    }
    let (old_auth, new_auth) = (without_positions(&old.auth), without_positions(&new.auth));
    if old_auth.users != new_auth.users
        || old_auth.default_permissions != new_auth.default_permissions
    {
        changes.push("authorization users".to_string());
    }
    if old_auth.accounts != new_auth.accounts {
        changes.push("accounts".to_string());
    }
    if old.no_auth_user != new.no_auth_user {
        // Only dropping it together with its user is allowed (nats-server's rule).
        let user_gone = |name: &str| {
            !new.auth
                .users
                .iter()
                .chain(new.auth.accounts.iter().flat_map(|a| &a.users))
                .any(|u| u.user.as_deref() == Some(name))
        };
        let allowed = match (&old.no_auth_user, &new.no_auth_user) {
            (Some(old_name), None) => user_gone(old_name),
            _ => false,
        };
        if !allowed {
            return Err(refuse(
                "NoAuthUser",
                text(&old.no_auth_user),
                text(&new.no_auth_user),
            ));
        }
        changes.push("no_auth_user".to_string());
    }
    if old.auth.system_account != new.auth.system_account {
        return Err(refuse(
            "SystemAccount",
            text(&old.auth.system_account),
            text(&new.auth.system_account),
        ));
    }
    // Operator mode: nats-server refuses a changed operator list; preloaded accounts may
    // change (their users are re-checked like configured users).
    if old.auth.operators != new.auth.operators {
        return Err(refuse(
            "TrustedOperators",
            format!("{} operator JWT(s)", old.auth.operators.len()),
            format!("{} operator JWT(s)", new.auth.operators.len()),
        ));
    }
    if old_auth.resolver_preload != new_auth.resolver_preload {
        changes.push("resolver_preload".to_string());
    }
    if old.username != new.username {
        changes.push("authorization username".to_string());
    }
    if old.password != new.password {
        changes.push("authorization password".to_string());
    }
    if old.auth_token != new.auth_token {
        changes.push("authorization token".to_string());
    }
    if old.ping_interval_ms != new.ping_interval_ms {
        changes.push(format!(
            "ping_interval = {}",
            go_duration(new.ping_interval_ms)
        ));
    }
    if old.ping_max != new.ping_max {
        changes.push(format!("ping_max = {}", new.ping_max));
    }
    if old.http_host != new.http_host {
        return Err(refuse("HTTPHost", &old.http_host, &new.http_host));
    }
    let port = |p: Option<u16>| p.map(i64::from).unwrap_or(0);
    if old.http_port != new.http_port {
        return Err(refuse("HTTPPort", port(old.http_port), port(new.http_port)));
    }
    if old.https_port != new.https_port {
        return Err(refuse(
            "HTTPSPort",
            port(old.https_port),
            port(new.https_port),
        ));
    }
    if old.auth_timeout_ms != new.auth_timeout_ms {
        changes.push(format!(
            "authorization timeout = {}",
            new.auth_timeout_ms as f64 / 1000.0
        ));
    }
    if old.max_control_line_bytes != new.max_control_line_bytes {
        changes.push(format!("max_control_line = {}", new.max_control_line_bytes));
    }
    if old.max_payload_bytes != new.max_payload_bytes {
        changes.push(format!("max_payload = {}", new.max_payload_bytes));
    }
    if old.max_pending_bytes != new.max_pending_bytes {
        return Err(refuse(
            "MaxPending",
            old.max_pending_bytes,
            new.max_pending_bytes,
        ));
    }
    if old.jetstream != new.jetstream {
        return Err(refuse("JetStream", old.jetstream, new.jetstream));
    }
    if old.jetstream_max_memory_bytes != new.jetstream_max_memory_bytes
        || old.jetstream_max_store_bytes != new.jetstream_max_store_bytes
    {
        return Err("config reload not supported for jetstream max memory and store".to_string());
    }
    if old.store_dir != new.store_dir {
        return Err("config reload not supported for jetstream storage directory".to_string());
    }
    if old.pid_file != new.pid_file {
        changes.push(format!("pid_file = {}", path_text(&new.pid_file)));
    }
    if old.ports_file_dir != new.ports_file_dir {
        return Err(refuse(
            "PortsFileDir",
            path_text(&old.ports_file_dir),
            path_text(&new.ports_file_dir),
        ));
    }
    if old.log_file != new.log_file {
        return Err(refuse(
            "LogFile",
            path_text(&old.log_file),
            path_text(&new.log_file),
        ));
    }
    if old.log_size_limit_bytes != new.log_size_limit_bytes {
        return Err(refuse(
            "LogSizeLimit",
            old.log_size_limit_bytes,
            new.log_size_limit_bytes,
        ));
    }
    if old.syslog != new.syslog {
        return Err(refuse("Syslog", old.syslog, new.syslog));
    }
    if old.tls != new.tls {
        // tern builds its TLS acceptor once at start.
        return Err("config reload not supported for TLSConfig".to_string());
    }
    if old.write_deadline_ms != new.write_deadline_ms {
        changes.push(format!(
            "write_deadline = {}",
            go_duration(new.write_deadline_ms)
        ));
    }
    if old.lame_duck_duration_ms != new.lame_duck_duration_ms {
        return Err(refuse(
            "LameDuckDuration",
            go_duration(old.lame_duck_duration_ms),
            go_duration(new.lame_duck_duration_ms),
        ));
    }
    if old.lame_duck_grace_period_ms != new.lame_duck_grace_period_ms {
        return Err(refuse(
            "LameDuckGracePeriod",
            go_duration(old.lame_duck_grace_period_ms),
            go_duration(new.lame_duck_grace_period_ms),
        ));
    }
    // tern's own options, all read once at start.
    if old.cores != new.cores || old.cpu_list != new.cpu_list {
        return Err("config reload not supported for cores or cpu_list".to_string());
    }
    if old.spin_before_park_us != new.spin_before_park_us {
        return Err(refuse(
            "spin_before_park",
            old.spin_before_park_us,
            new.spin_before_park_us,
        ));
    }
    if old.time_slice_us != new.time_slice_us {
        return Err(refuse("time_slice", old.time_slice_us, new.time_slice_us));
    }
    if old.log_json != new.log_json {
        return Err(refuse("log_format", old.log_json, new.log_json));
    }
    if old.jetstream_sync != new.jetstream_sync {
        return Err("config reload not supported for jetstream sync_interval".to_string());
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::{diff, go_duration};
    use crate::config::Options;

    fn options(text: &str) -> Options {
        Options::from_config_str(text, "t.conf").unwrap()
    }

    #[test]
    fn durations_print_as_go_does() {
        assert_eq!(go_duration(120_000), "2m0s");
        assert_eq!(go_duration(10_000), "10s");
        assert_eq!(go_duration(1_500), "1.5s");
        assert_eq!(go_duration(500), "500ms");
        assert_eq!(go_duration(3_600_000 + 61_000), "1h1m1s");
    }

    #[test]
    fn reloadable_changes_are_listed_and_others_refused() {
        let old = options("port: 4222\naccounts { A { users = [ {user: a, password: p} ] } }\n");
        let moved =
            options("\n\nport: 4222\naccounts {\n A { users = [ {user: a, password: p} ] } }\n");
        assert_eq!(
            diff(&old, &moved).unwrap(),
            Vec::<String>::new(),
            "positions only"
        );
        let new = options(
            "port: 4222\ndebug: true\nmax_payload: 2000\naccounts { A { users = [ {user: a, password: q} ] } }\n",
        );
        assert_eq!(
            diff(&old, &new).unwrap(),
            vec!["debug = true", "accounts", "max_payload = 2000"]
        );
        assert_eq!(
            diff(&old, &options("port: 4223")).unwrap_err(),
            "config reload not supported for Port: old=4222, new=4223"
        );
        assert_eq!(
            diff(&old, &options("port: 4222\nserver_name: x")).unwrap_err(),
            "config reload not supported for ServerName: old=, new=x"
        );
        assert_eq!(
            diff(&old, &options("port: 4222\nhttp_port: 8222")).unwrap_err(),
            "config reload not supported for HTTPPort: old=0, new=8222"
        );
        assert_eq!(
            diff(&old, &options("port: 4222\ntime_slice_us: 1000")).unwrap_err(),
            "config reload not supported for time_slice: old=500, new=1000"
        );
    }

    #[test]
    fn no_auth_user_may_only_go_with_its_user() {
        let old = options("authorization { users = [ {user: a}, {user: b} ] }\nno_auth_user: a\n");
        let both_gone = options("authorization { users = [ {user: b} ] }\n");
        assert!(diff(&old, &both_gone).is_ok());
        let user_stays = options("authorization { users = [ {user: a}, {user: b} ] }\n");
        assert_eq!(
            diff(&old, &user_stays).unwrap_err(),
            "config reload not supported for NoAuthUser: old=a, new="
        );
        let other =
            options("authorization { users = [ {user: a}, {user: b} ] }\nno_auth_user: b\n");
        assert!(diff(&old, &other).is_err());
    }
}
