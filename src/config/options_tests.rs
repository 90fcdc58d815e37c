//! Mapping configuration files onto `Options`.

use std::path::PathBuf;

use super::options::{parse_cpu_list, CPU_ID_MAX, CPU_LIST_LEN_MAX};
use super::{ConfigError, Options};

fn load(text: &str) -> Options {
    Options::from_config_str(text, "t.conf").unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn load_err(text: &str) -> String {
    match Options::from_config_str(text, "t.conf") {
        Ok(options) => panic!("{text:?} accepted: {options:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn defaults_are_nats_servers() {
    let o = Options::default();
    assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4222));
    assert_eq!(o.auth_timeout_ms, 2_000);
    assert!(o.logtime && !o.debug && !o.trace && !o.syslog && !o.jetstream);
    assert_eq!(o.max_payload_bytes, 1024 * 1024);
    assert_eq!(o.max_control_line_bytes, 4096);
    assert_eq!(o.max_connections, 65536);
    assert_eq!(o.max_subscriptions, 0);
    assert_eq!(o.max_pending_bytes, 64 * 1024 * 1024);
    assert_eq!(o.write_deadline_ms, 10_000);
    assert_eq!(o.ping_interval_ms, 120_000);
    assert_eq!(o.ping_max, 2);
    assert_eq!(o.lame_duck_duration_ms, 120_000);
    assert_eq!(o.lame_duck_grace_period_ms, 10_000);
    assert_eq!((o.http_port, o.https_port), (None, None));
    assert!(o.warnings.is_empty());
    assert!(o.validate().is_ok());
}

#[test]
fn every_supported_key_maps() {
    let text = r#"
server_name: tern-1
host: 127.0.0.1
port: 4333
authorization {
  user: alice
  password: "s3cret"
  timeout: 3
}
no_auth_user: alice
debug: true
trace: on
logtime: false
log_file: "/var/log/tern.log"
log_size_limit: 10MB
syslog: yes
pid_file: /run/tern.pid
ports_file_dir: /run
http_port: 8222
https_port: 8443
jetstream {
  store_dir: "/data/js"
  max_mem: 1G
  max_file: "2G"
}
max_payload: 2MB
max_control_line: 8KB
max_connections: 100
max_subscriptions: 50
max_pending: 128MB
write_deadline: "5s"
ping_interval: "30s"
ping_max: 5
lame_duck_duration: "1m"
lame_duck_grace_period: "20s"
cores: 4
cpu_list: "0,2-3,7"
time_slice_us: 250
"#;
    let o = load(text);
    assert_eq!(o.server_name.as_deref(), Some("tern-1"));
    assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4333));
    assert_eq!(o.username.as_deref(), Some("alice"));
    assert_eq!(o.password.as_deref(), Some("s3cret"));
    assert_eq!(o.auth_token, None);
    assert_eq!(o.auth_timeout_ms, 3_000);
    assert_eq!(o.no_auth_user.as_deref(), Some("alice"));
    assert!(o.debug && o.trace && !o.logtime && o.syslog);
    assert_eq!(o.log_file, Some(PathBuf::from("/var/log/tern.log")));
    assert_eq!(o.log_size_limit_bytes, 10 << 20);
    assert_eq!(o.pid_file, Some(PathBuf::from("/run/tern.pid")));
    assert_eq!(o.ports_file_dir, Some(PathBuf::from("/run")));
    assert_eq!((o.http_port, o.https_port), (Some(8222), Some(8443)));
    assert_eq!(o.http_host, "127.0.0.1", "the monitor follows host");
    assert!(o.jetstream);
    assert_eq!(o.store_dir, Some(PathBuf::from("/data/js")));
    assert_eq!(o.jetstream_max_memory_bytes, Some(1_000_000_000));
    assert_eq!(o.jetstream_max_store_bytes, Some(2 << 30));
    assert_eq!(o.max_payload_bytes, 2 << 20);
    assert_eq!(o.max_control_line_bytes, 8 << 10);
    assert_eq!(o.max_connections, 100);
    assert_eq!(o.max_subscriptions, 50);
    assert_eq!(o.max_pending_bytes, 128 << 20);
    assert_eq!(o.write_deadline_ms, 5_000);
    assert_eq!(o.ping_interval_ms, 30_000);
    assert_eq!(o.ping_max, 5);
    assert_eq!(o.lame_duck_duration_ms, 60_000);
    assert_eq!(o.lame_duck_grace_period_ms, 20_000);
    assert_eq!(o.cores, Some(4));
    assert_eq!(o.cpu_list, Some(vec![0, 2, 3, 7]));
    assert_eq!(o.time_slice_us, 250);
    assert!(o.warnings.is_empty(), "{:?}", o.warnings);
}

#[test]
fn aliases_map_like_their_main_key() {
    let o = load(
        "net: 10.0.0.1\nmax_conn: 7\nmax_subs: 8\nlogfile: a.log\nlogfile_size_limit: 9\npidfile: p\nmonitor_port: 8000\nstoredir: /s\njetstream: enabled\nauthorization { username: u, pass: p }\n",
    );
    assert_eq!(o.host, "10.0.0.1");
    assert_eq!((o.max_connections, o.max_subscriptions), (7, 8));
    assert_eq!(o.log_file, Some(PathBuf::from("a.log")));
    assert_eq!(o.log_size_limit_bytes, 9);
    assert_eq!(o.pid_file, Some(PathBuf::from("p")));
    assert_eq!(o.http_port, Some(8000));
    assert_eq!(o.store_dir, Some(PathBuf::from("/s")));
    assert!(o.jetstream);
    assert_eq!(
        (o.username.as_deref(), o.password.as_deref()),
        (Some("u"), Some("p"))
    );
    let o = load("Port: 5000\nDEBUG: true\n");
    assert_eq!((o.port, o.debug), (5000, true));
}

#[test]
fn listen_and_port_forms() {
    let o = load("listen: \"127.0.0.1:4333\"");
    assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4333));
    let o = load("listen: 127.0.0.1:4334");
    assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4334));
    let o = load("listen: 4444");
    assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4444));
    let o = load("listen: \"[::1]:4555\"");
    assert_eq!((o.host.as_str(), o.port), ("::1", 4555));
    assert_eq!(load("port: -1").port, 0, "-1 asks for a random port");
    assert_eq!(load("port: 0").port, 4222, "0 means the default port");
    assert_eq!(
        load_err("port: 70000"),
        "t.conf:1:1: port 70000 is out of range (1-65535, or -1 for a random port)"
    );
    assert_eq!(
        load_err("listen: \"nohost\""),
        "t.conf:1:1: could not parse address string \"nohost\""
    );
    assert_eq!(
        load_err("listen: \"h:x\""),
        "t.conf:1:1: could not parse port \"x\""
    );
}

#[test]
fn monitoring_ports_and_host() {
    let o = load("http: \"127.0.0.2:8222\"\nhost: 10.0.0.1\n");
    assert_eq!(
        (o.http_host.as_str(), o.http_port),
        ("127.0.0.2", Some(8222))
    );
    let o = load("https: 8443\n");
    assert_eq!(
        (o.http_host.as_str(), o.https_port),
        ("0.0.0.0", Some(8443))
    );
    assert_eq!(load("http_port: -1").http_port, Some(0));
    assert_eq!(load("http_port: 0").http_port, None);
}

#[test]
fn authorization_variants() {
    let o = load("authorization { token: abc, timeout: 1.5 }");
    assert_eq!(
        (o.auth_token.as_deref(), o.auth_timeout_ms),
        (Some("abc"), 1_500)
    );
    let o = load("authorization { timeout: \"250ms\" }");
    assert_eq!(o.auth_timeout_ms, 250);
    let o = load("authorization { timeout: 120 }");
    assert_eq!(o.auth_timeout_ms, 120_000);
    assert!(o
        .warnings
        .first()
        .is_some_and(|w| w.starts_with("t.conf:1:26: invalid use of field \"timeout\"")));
    assert_eq!(
        load_err("authorization {\n  user: a\n  token: t\n}"),
        "t.conf:1:1: Cannot have a user/pass and token"
    );
    assert_eq!(
        load_err("authorization: 5"),
        "t.conf:1:1: \"authorization\" expects a map, got an integer"
    );
    let o = load("authorization {\n  users: [ {user: a, password: b} ]\n  bogus: 1\n}\n");
    assert_eq!(
        o.warnings,
        ["t.conf:3:3: unknown field \"authorization.bogus\", ignored"]
    );
    assert_eq!(o.auth.users.len(), 1);
    assert_eq!(o.auth.users[0].user.as_deref(), Some("a"));
    assert_eq!(o.auth.users[0].password.as_deref(), Some("b"));
}

#[test]
fn accounts_users_and_permissions() {
    let o = load(concat!(
        "system_account: SYS\n",
        "accounts {\n",
        "  A { users = [ {user: a, password: pa, permissions: { publish: \"x.>\", ",
        "subscribe: { allow: [\"y\", \"q v1\"], deny: \"y.secret\" }, allow_responses: { max: 3, expires: \"1s\" } } } ] }\n",
        "  B { users = [ {nkey: UABC} ], exports = [ {stream: \"s.>\"}, {service: \"svc\", accounts: [A]} ] }\n",
        "  SYS { users = [ {user: sys, password: s} ] }\n",
        "}\n",
    ));
    assert!(o.warnings.is_empty(), "{:?}", o.warnings);
    let auth = &o.auth;
    assert_eq!(auth.system_account.as_deref(), Some("SYS"));
    let names: Vec<&str> = auth.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["A", "B", "SYS"]);
    let perms = auth.accounts[0].users[0].permissions.as_ref().unwrap();
    let publish = perms.publish.as_ref().unwrap();
    assert_eq!(publish.allow.as_deref(), Some(&["x.>".to_string()][..]));
    let subscribe = perms.subscribe.as_ref().unwrap();
    assert_eq!(subscribe.allow.as_ref().unwrap(), &["y", "q v1"]);
    assert_eq!(subscribe.deny.as_ref().unwrap(), &["y.secret"]);
    let responses = perms.allow_responses.unwrap();
    assert_eq!((responses.max_msgs, responses.expires_ms), (3, 1000));
    assert_eq!(auth.accounts[1].users[0].nkey.as_deref(), Some("UABC"));
    assert_eq!(auth.accounts[1].exports.len(), 2);
    assert_eq!(
        auth.accounts[1].exports[1].accounts.as_deref(),
        Some(&["A".to_string()][..])
    );

    // allow_responses alone leaves nothing else to publish.
    let o =
        load("authorization { users = [ {user: u, permissions: { allow_responses: true } } ] }");
    let perms = o.auth.users[0].permissions.as_ref().unwrap();
    assert_eq!(
        perms.publish.as_ref().unwrap().allow.as_deref(),
        Some(&[][..])
    );
    assert_eq!(perms.allow_responses.unwrap().max_msgs, 1);

    assert!(load_err("accounts { A { users = [ {password: x} ] } }").contains("requires a user"));
    assert!(load_err(
        "authorization { users = [ {user: u, permissions: { publish: \"a..b\" } } ] }"
    )
    .contains("not a valid subject"));
}

#[test]
fn jetstream_forms() {
    assert!(load("jetstream: true").jetstream);
    assert!(!load("jetstream: disabled").jetstream);
    assert!(load("jetstream: {}").jetstream, "a block enables JetStream");
    let o = load("jetstream { enabled: false, max_file: 10GB, domain: hub }");
    assert!(!o.jetstream);
    assert_eq!(o.jetstream_max_store_bytes, Some(10 << 30));
    assert_eq!(
        o.warnings,
        ["t.conf:1:45: \"jetstream.domain\" is not supported yet by tern and is ignored"]
    );
    assert_eq!(
        load_err("jetstream: maybe"),
        "t.conf:1:1: Expected 'enabled' or 'disabled' for string value, got 'maybe'"
    );
    assert_eq!(
        load_err("jetstream { max_mem: \"5X\" }"),
        "t.conf:1:13: jetstream.max_mem sizes defined as strings must end in K, M, G, T"
    );
    assert_eq!(
        load_err("store_dir: /a\njetstream { store_dir: /b }"),
        "t.conf:2:13: Duplicate 'store_dir' configuration (first set at t.conf:1:12)"
    );
}

#[test]
fn durations_accept_strings_and_legacy_seconds() {
    let o = load("write_deadline: 5\nping_interval: \"1m30s\"\n");
    assert_eq!((o.write_deadline_ms, o.ping_interval_ms), (5_000, 90_000));
    assert_eq!(
        o.warnings,
        ["t.conf:1:17: invalid use of field \"write_deadline\": write_deadline should be converted to a duration"]
    );
    // A bare 2m is the integer 2 000 000, so 2 000 000 seconds, as in
    // nats-server.
    assert_eq!(load("ping_interval: 2m").ping_interval_ms, 2_000_000_000);
    assert_eq!(load("ping_interval: \"0s\"").ping_interval_ms, 120_000);
    assert_eq!(
        load_err("ping_interval: \"1x\""),
        "t.conf:1:1: error parsing ping_interval: time: unknown unit \"x\" in duration \"1x\""
    );
    assert_eq!(
        load_err("lame_duck_duration: \"10s\""),
        "t.conf:1:1: invalid lame_duck_duration of 10s, minimum is 30 seconds"
    );
    assert_eq!(
        load_err("lame_duck_duration: 60"),
        "t.conf:1:1: \"lame_duck_duration\" expects a duration such as \"2m\", got an integer"
    );
    assert_eq!(
        load_err("lame_duck_grace_period: \"-1s\""),
        "t.conf:1:1: invalid lame_duck_grace_period, needs to be positive"
    );
}

#[test]
fn type_errors_point_at_the_key_and_are_all_reported() {
    assert_eq!(
        load_err("port = \"abc\""),
        "t.conf:1:1: \"port\" expects an integer, got a string"
    );
    let error = Options::from_config_str("debug = 1\n\nhost = [a]\n", "t.conf");
    match error {
        Err(ConfigError::Multiple(errors)) => assert_eq!(errors.len(), 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        load_err("debug = 1\n\nhost = [a]\n"),
        "t.conf:1:1: \"debug\" expects a boolean (true/false, yes/no, on/off), got an integer\nt.conf:3:1: \"host\" expects a string, got an array"
    );
    assert_eq!(
        load_err("max_payload: 3GB"),
        "t.conf:1:1: max_payload value is too big"
    );
    assert_eq!(
        load_err("max_pending: -1"),
        "t.conf:1:1: \"max_pending\" can not be negative"
    );
    assert_eq!(
        load_err("server_name: \"a b\""),
        "t.conf:1:1: server name cannot contain spaces"
    );
    assert_eq!(
        load_err("cpu_list: \"3-1\""),
        "t.conf:1:1: \"cpu_list\": invalid CPU range \"3-1\": 3 > 1"
    );
    assert_eq!(
        load_err("cores: 0"),
        "t.conf:1:1: \"cores\" must be between 1 and 1024, got 0"
    );
    assert_eq!(
        load_err("time_slice_us: 10"),
        "t.conf:1:1: \"time_slice_us\" must be between 50 and 100000 microseconds, got 10"
    );
}

#[test]
fn unknown_and_unsupported_keys_warn_with_positions() {
    let o = load(
        "port: 4222\ncluster {\n  port: 6222\n}\n  zzz: 1\nVAR = 5\nmax_subs = $VAR\nmqtt { port: 1883 }\n",
    );
    assert_eq!(o.port, 4222);
    assert_eq!(o.max_subscriptions, 5);
    assert_eq!(
        o.warnings,
        [
            "t.conf:2:1: \"cluster\" is not supported yet by tern and is ignored",
            "t.conf:5:3: unknown field \"zzz\", ignored",
            "t.conf:8:1: \"mqtt\" is not supported yet by tern and is ignored",
        ]
    );
}

#[test]
fn zero_and_negative_limits_follow_nats_server() {
    let o = load("max_payload: 0\nmax_control_line: 0\nmax_pending: 0\nping_max: 0\n");
    assert_eq!(o.max_payload_bytes, 1 << 20);
    assert_eq!(o.max_control_line_bytes, 4096);
    assert_eq!(o.max_pending_bytes, 64 << 20);
    assert_eq!(o.ping_max, 2);
    assert_eq!(
        load("max_connections: 0").max_connections,
        0,
        "0 refuses clients"
    );
    assert_eq!(load("max_subscriptions: -1").max_subscriptions, 0);
}

#[test]
fn cross_option_checks() {
    assert_eq!(
        load_err("max_payload: 2MB\nmax_pending: 1MB\n"),
        "max_payload (2097152) cannot be higher than max_pending (1048576)"
    );
    assert_eq!(
        load_err("lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"30s\"\n"),
        "lame duck grace period (30000ms) should be strictly lower than lame duck duration (30000ms)"
    );
    let o = load("max_payload: 9MB\nmax_pending: 100MB\n");
    assert_eq!(o.warnings.len(), 1, "{:?}", o.warnings);
}

#[test]
fn empty_files_warn() {
    let o = load("# nothing\n");
    assert_eq!(o.warnings, ["t.conf: config has no values or is empty"]);
}

#[test]
fn config_files_are_read_from_disk() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("tern.conf");
    std::fs::write(&path, "port: 4999\ninclude extra.conf\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("extra.conf"), "debug: true\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let o = Options::from_config_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((o.port, o.debug), (4999, true));
    assert_eq!(o.config_file.as_deref(), Some(path.as_path()));
}

#[test]
fn cpu_lists() {
    assert_eq!(parse_cpu_list("0,2-3"), Ok(vec![0, 2, 3]));
    assert_eq!(parse_cpu_list(" 5 , 1 - 2 "), Ok(vec![5, 1, 2]));
    assert_eq!(parse_cpu_list("7"), Ok(vec![7]));
    assert!(parse_cpu_list("").is_err());
    assert!(parse_cpu_list("1,,2").is_err());
    assert!(parse_cpu_list("a").is_err());
    assert!(parse_cpu_list("1-").is_err());
    assert_eq!(
        parse_cpu_list("1,1"),
        Err("CPU 1 is listed twice".to_string())
    );
    assert!(parse_cpu_list(&format!("{}", CPU_ID_MAX + 1)).is_err());
    assert!(parse_cpu_list(&format!("0-{CPU_LIST_LEN_MAX}")).is_err());
    assert!(parse_cpu_list(&format!("0-{}", CPU_LIST_LEN_MAX - 1)).is_ok());
}

#[test]
fn tls_block_is_read_as_nats_server_reads_it() {
    use super::options::TlsVersion;
    let o = load(
        "tls {\n  cert_file: s.pem\n  key_file: s-key.pem\n  ca_file: ca.pem\n  verify: true\n  timeout: 0.5\n  handshake_first: auto\n  min_version: \"1.3\"\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384]\n  curve_preferences: [X25519]\n}\n",
    );
    let tls = o.tls.expect("tls");
    assert_eq!(tls.cert_file, PathBuf::from("s.pem"));
    assert_eq!(tls.key_file, PathBuf::from("s-key.pem"));
    assert_eq!(tls.ca_file, Some(PathBuf::from("ca.pem")));
    assert!(tls.verify && !tls.verify_and_map);
    assert_eq!(tls.timeout_ms, 500);
    assert!(tls.handshake_first);
    assert_eq!(tls.handshake_first_fallback_ms, Some(50));
    assert_eq!(tls.min_version, TlsVersion::Tls13);
    assert_eq!(tls.cipher_suites.len(), 2);
    assert_eq!(tls.curve_preferences, ["X25519"]);

    let tls = load("tls { cert_file: a, key_file: b, timeout: \"1500ms\", handshake_first: \"300ms\", verify_and_map: true }")
        .tls
        .unwrap();
    assert_eq!(tls.timeout_ms, 1_500);
    assert_eq!(tls.handshake_first_fallback_ms, Some(300));
    assert!(
        tls.verify && tls.verify_and_map,
        "verify_and_map implies verify"
    );
    let tls = load("tls { cert_file: a, key_file: b }").tls.unwrap();
    assert_eq!(tls.timeout_ms, 2_000, "nats-server's TLS_TIMEOUT");
    assert_eq!(tls.min_version, TlsVersion::Tls12);
    assert!(!tls.handshake_first && tls.cipher_suites.is_empty());

    assert_eq!(
        load_err("tls {\n  key_file: b\n}"),
        "t.conf:1:1: missing 'cert_file' in TLS configuration"
    );
    assert_eq!(
        load_err("tls { cert_file: a }"),
        "t.conf:1:1: missing 'key_file' in TLS configuration"
    );
    assert!(
        load_err("tls { cert_file: a, key_file: b, cipher_suites: [FOO] }")
            .starts_with("t.conf:1:50: unrecognized cipher FOO")
    );
    assert!(
        load_err("tls { cert_file: a, key_file: b, curve_preferences: [CurveP521] }")
            .contains("unrecognized curve preference CurveP521")
    );
    assert!(
        load_err("tls { cert_file: a, key_file: b, cipher_suites: [] }")
            .contains("'cipher_suites' cannot be empty")
    );
    assert!(
        load_err("tls { cert_file: a, key_file: b, min_version: \"1.0\" }")
            .contains("unsupported TLS version: TLS 1.0")
    );
    assert!(load_err("tls { cert_file: a, key_file: b, timeout: -1 }")
        .contains("'timeout' can not be negative"));
    assert!(
        load_err("tls { cert_file: a, key_file: b, handshake_first: sometimes }")
            .contains("field \"handshake_first\"'s value \"sometimes\" is invalid")
    );
    assert!(load_err("tls { cert_file: a, key_file: b, verify: 1 }")
        .contains("expected 'verify' to be a boolean"));
    assert!(load_err("tls { cert_file: a, key_file: b, bogus: 1 }")
        .contains("error parsing tls config, unknown field [\"bogus\"]"));
    let o = load("tls { cert_file: a, key_file: b, pinned_certs: [] }");
    assert!(
        o.warnings[0].contains("\"tls.pinned_certs\" is not supported yet"),
        "{:?}",
        o.warnings
    );
}

#[test]
fn account_jetstream_takes_nats_servers_forms() {
    let o = load(concat!(
        "accounts {\n",
        "  A { jetstream: enabled }\n",
        "  B { jetstream: { max_mem: 1M, max_file: 2048, max_streams: 3, consumers: 4, max_bytes_required: true, store_max_stream_bytes: 100 } }\n",
        "  C { jetstream: disabled }\n",
        "  D { jetstream: true }\n",
        "  E {}\n",
        "}\n",
    ));
    assert!(o.warnings.is_empty(), "{:?}", o.warnings);
    let js: Vec<_> = o
        .auth
        .accounts
        .iter()
        .map(|a| a.jetstream.clone())
        .collect();
    let unlimited = crate::jetstream::api::AccountLimits::default();
    assert_eq!(js[0].as_ref(), Some(&unlimited));
    let b = js[1].as_ref().unwrap();
    assert_eq!(
        (
            b.max_memory_bytes,
            b.max_storage_bytes,
            b.max_streams,
            b.max_consumers
        ),
        (1_000_000, 2048, 3, 4)
    );
    assert!(b.max_bytes_required);
    assert_eq!(b.storage_max_stream_bytes, 100);
    assert_eq!(b.max_ack_pending, -1);
    assert_eq!((js[2].as_ref(), js[4].as_ref()), (None, None));
    assert_eq!(js[3].as_ref(), Some(&unlimited));
    assert!(load_err("accounts { A { jetstream: maybe } }")
        .contains("Expected 'enabled' or 'disabled' for string value, got 'maybe'"));
    assert!(
        load_err("accounts { A { jetstream: { max_mem: \"lots\" } } }")
            .contains("Expected a parseable size for \"max_mem\"")
    );
}

#[test]
fn resolvers_and_operators_are_read() {
    use super::auth::{undecorate_jwt, ResolverConfig};
    assert_eq!(
        load("resolver: MEMORY").auth.resolver,
        Some(ResolverConfig::Memory)
    );
    assert_eq!(
        load("resolver: mem").auth.resolver,
        Some(ResolverConfig::Memory)
    );
    let dir = load("resolver { type: full, dir: \"/tmp/jwt-x\", allow_delete: true, interval: \"2m\", limit: 10 }");
    assert_eq!(
        dir.auth.resolver,
        Some(ResolverConfig::Dir {
            full: true,
            dir: PathBuf::from("/tmp/jwt-x"),
            allow_delete: true,
            interval_ms: 120_000,
            ttl_ms: 0,
            limit: 10,
        })
    );
    for (text, error) in [
        ("resolver: BOGUS", "should be MEM or"),
        ("resolver: \"URL(http://x/)\"", "not supported by tern"),
        ("resolver { type: full }", "dir has no value"),
        (
            "resolver { type: full, dir: \"/tmp\", ttl: \"1m\" }",
            "FULL does not accept ttl",
        ),
        (
            "resolver { type: cache, dir: \"/tmp\", interval: \"1m\" }",
            "CACHE does not accept sync",
        ),
        (
            "resolver { type: other, dir: \"/tmp\" }",
            "should be MEM or",
        ),
        ("resolver: 5", "wrong type"),
        ("resolver_preload: 5", "preload should be a map"),
        (
            "resolver_preload { AB: 5 }",
            "preload map value should be a string JWT",
        ),
        ("resolver_preload { AB: \"x.y.z\" }", "invalid account JWT"),
        ("operator: \"/nonexistent\"", "no such file or directory"),
        ("operator: \"eyJnot.a.jwt\"", "error parsing operator JWT"),
        ("operator: 5", "unsupported type"),
    ] {
        let message = load_err(text);
        assert!(message.contains(error), "{text}: {message}");
    }
    assert_eq!(
        undecorate_jwt(
            "-----BEGIN NATS OPERATOR JWT-----\neyJabc\n------END NATS OPERATOR JWT------\n"
        ),
        "eyJabc"
    );
    assert_eq!(undecorate_jwt("  eyJabc \n"), "eyJabc");
}
