//! The HTTP monitoring endpoints, field by field, as nats-server 2.9.10 answers them for the
//! same situation (the expected keys and types below were captured from it), plus tern's own
//! `/metrics` parsed as Prometheus text and `--signal` against a pid file.
//!
//! Every test runs against tern and, with `TERN_TEST_SERVER=/usr/sbin/nats-server`, against
//! the reference server: values are checked where the situation determines them (counts,
//! filters, order), and counts are taken relative to a baseline because nats-server has
//! internal subscriptions of its own.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use common::{
    http_get, http_json, poll_until, run_binary, Frame, RawClient, ServerBuilder, TestServer,
};
use serde_json::Value;

/// Wait bound for figures the cores publish on their control tick.
const SETTLE: Duration = Duration::from_secs(5);

fn start() -> (TestServer, SocketAddr) {
    let server = TestServer::start(&["-m", "-1"]);
    let monitor = server
        .monitor_addr()
        .unwrap_or_else(|| panic!("no monitor line in the log:\n{}", server.log()));
    (server, monitor)
}

/// A connected raw client with a name, lang and version, and its cid (from INFO).
fn client(server: &TestServer, name: &str) -> (RawClient, u64) {
    let connect = format!(
        r#"{{"verbose":false,"pedantic":false,"headers":true,"name":"{name}","lang":"rust","version":"9.9.9"}}"#
    );
    let (client, info) = RawClient::handshake(server.addr(), &connect);
    let cid = info["client_id"].as_u64().expect("client_id in INFO");
    (client, cid)
}

/// Reads until `n` messages arrived (bounded by the harness's read timeout): a message from
/// a connection on another core arrives after that core's flush, not with our own PONG.
fn expect_msgs(client: &mut RawClient, n: usize) {
    let mut got = 0;
    while got < n {
        match client.read_frame() {
            Frame::Msg(_) => got += 1,
            Frame::Ping => client.send("PONG\r\n"),
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Field checks
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Kind {
    Str,
    /// A JSON integer (Go int/uint types).
    Int,
    /// Any JSON number (Go float64: written without a fraction when integral).
    Num,
    Bool,
    Obj,
    Arr,
    Null,
    /// A Go `time.Time`: RFC 3339 in UTC.
    Time,
    /// nats-server's `myUptime`: `1d2h3m4s`.
    Uptime,
}

fn kind_ok(value: &Value, kind: Kind) -> bool {
    match kind {
        Kind::Str => value.is_string(),
        Kind::Int => value.is_u64() || value.is_i64(),
        Kind::Num => value.is_number(),
        Kind::Bool => value.is_boolean(),
        Kind::Obj => value.is_object(),
        Kind::Arr => value.is_array(),
        Kind::Null => value.is_null(),
        Kind::Time => value.as_str().is_some_and(is_go_time),
        Kind::Uptime => value.as_str().is_some_and(is_uptime),
    }
}

fn is_go_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.len() >= 20
        && text.ends_with('Z')
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':'
}

fn is_uptime(text: &str) -> bool {
    !text.is_empty()
        && text.ends_with('s')
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || "ydhms".contains(c))
}

/// `object` has every `(key, kind)` of `fields`; keys outside `fields` and `extras` fail.
fn check_fields(what: &str, object: &Value, fields: &[(&str, Kind)], extras: &[&str]) {
    let map = object
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {object}"));
    for (key, kind) in fields {
        let value = map
            .get(*key)
            .unwrap_or_else(|| panic!("{what}: no {key:?} in {object:#}"));
        assert!(
            kind_ok(value, *kind),
            "{what}.{key}: {value} is not {kind:?}"
        );
    }
    let known: BTreeSet<&str> = fields
        .iter()
        .map(|(k, _)| *k)
        .chain(extras.iter().copied())
        .collect();
    let unknown: Vec<&String> = map.keys().filter(|k| !known.contains(k.as_str())).collect();
    assert!(
        unknown.is_empty(),
        "{what}: unexpected keys {unknown:?} in {object:#}"
    );
}

/// nats-server 2.9.10's `/varz` without cluster, TLS or auth.
const VARZ_FIELDS: &[(&str, Kind)] = &[
    ("server_id", Kind::Str),
    ("server_name", Kind::Str),
    ("version", Kind::Str),
    ("proto", Kind::Int),
    ("go", Kind::Str),
    ("host", Kind::Str),
    ("port", Kind::Int),
    ("max_connections", Kind::Int),
    ("ping_interval", Kind::Int),
    ("ping_max", Kind::Int),
    ("http_host", Kind::Str),
    ("http_port", Kind::Int),
    ("http_base_path", Kind::Str),
    ("https_port", Kind::Int),
    ("auth_timeout", Kind::Num),
    ("max_control_line", Kind::Int),
    ("max_payload", Kind::Int),
    ("max_pending", Kind::Int),
    ("cluster", Kind::Obj),
    ("gateway", Kind::Obj),
    ("leaf", Kind::Obj),
    ("mqtt", Kind::Obj),
    ("websocket", Kind::Obj),
    ("jetstream", Kind::Obj),
    ("tls_timeout", Kind::Num),
    ("write_deadline", Kind::Int),
    ("start", Kind::Time),
    ("now", Kind::Time),
    ("uptime", Kind::Uptime),
    ("mem", Kind::Int),
    ("cores", Kind::Int),
    ("gomaxprocs", Kind::Int),
    ("cpu", Kind::Num),
    ("connections", Kind::Int),
    ("total_connections", Kind::Int),
    ("routes", Kind::Int),
    ("remotes", Kind::Int),
    ("leafnodes", Kind::Int),
    ("in_msgs", Kind::Int),
    ("out_msgs", Kind::Int),
    ("in_bytes", Kind::Int),
    ("out_bytes", Kind::Int),
    ("slow_consumers", Kind::Int),
    ("subscriptions", Kind::Int),
    ("http_req_stats", Kind::Obj),
    ("config_load_time", Kind::Time),
];
/// Present in one server and not the other: nats-server's `system_account` (tern has no
/// `$SYS` until accounts exist), nats-server 2.10's `slow_consumer_stats`, tern's per-core
/// `tern_cores`.
const VARZ_EXTRAS: &[&str] = &["system_account", "slow_consumer_stats", "tern_cores"];

/// nats-server's `ConnInfo` for a plain client (no TLS, no auth), open.
const CONN_FIELDS: &[(&str, Kind)] = &[
    ("cid", Kind::Int),
    ("kind", Kind::Str),
    ("type", Kind::Str),
    ("ip", Kind::Str),
    ("port", Kind::Int),
    ("start", Kind::Time),
    ("last_activity", Kind::Time),
    ("rtt", Kind::Str),
    ("uptime", Kind::Uptime),
    ("idle", Kind::Uptime),
    ("pending_bytes", Kind::Int),
    ("in_msgs", Kind::Int),
    ("out_msgs", Kind::Int),
    ("in_bytes", Kind::Int),
    ("out_bytes", Kind::Int),
    ("subscriptions", Kind::Int),
    ("name", Kind::Str),
    ("lang", Kind::Str),
    ("version", Kind::Str),
];
const CONN_LISTS: &[&str] = &["subscriptions_list", "subscriptions_list_detail"];

const CONNZ_FIELDS: &[(&str, Kind)] = &[
    ("server_id", Kind::Str),
    ("now", Kind::Time),
    ("num_connections", Kind::Int),
    ("total", Kind::Int),
    ("offset", Kind::Int),
    ("limit", Kind::Int),
    ("connections", Kind::Arr),
];

const SUBLIST_STATS: &[(&str, Kind)] = &[
    ("num_subscriptions", Kind::Int),
    ("num_cache", Kind::Int),
    ("num_inserts", Kind::Int),
    ("num_removes", Kind::Int),
    ("num_matches", Kind::Int),
    ("cache_hit_rate", Kind::Num),
    ("max_fanout", Kind::Int),
    ("avg_fanout", Kind::Num),
];

fn sub_detail_fields(
    with_account: bool,
    with_max: bool,
    with_queue: bool,
) -> Vec<(&'static str, Kind)> {
    let mut fields = vec![
        ("subject", Kind::Str),
        ("sid", Kind::Str),
        ("msgs", Kind::Int),
        ("cid", Kind::Int),
    ];
    if with_account {
        fields.push(("account", Kind::Str));
    }
    if with_max {
        fields.push(("max", Kind::Int));
    }
    if with_queue {
        fields.push(("qgroup", Kind::Str));
    }
    fields
}

fn get_error(monitor: SocketAddr, path: &str) -> (u16, String) {
    let (status, body) = http_get(monitor, path);
    assert_ne!(status, 200, "GET {path} should fail; got {body}");
    (status, body)
}

fn connz(monitor: SocketAddr, query: &str) -> Value {
    let json = http_json(monitor, &format!("/connz{query}"));
    check_fields(&format!("/connz{query}"), &json, CONNZ_FIELDS, &[]);
    json
}

fn cids(connz: &Value) -> Vec<u64> {
    connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cid"].as_u64().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------
// /varz
// ---------------------------------------------------------------------------------------

#[test]
fn varz_has_nats_servers_fields_and_counts_traffic() {
    let (server, monitor) = start();
    let baseline = http_json(monitor, "/varz");
    check_fields("/varz", &baseline, VARZ_FIELDS, VARZ_EXTRAS);
    let base_subs = baseline["subscriptions"].as_u64().unwrap();

    let (mut subscriber, _) = client(&server, "sub");
    subscriber.send("SUB greet 1\r\nSUB greet.* 2\r\n");
    subscriber.sync();
    let (mut publisher, _) = client(&server, "pub");
    publisher.send("PUB greet 5\r\nhello\r\nPUB greet.x 3\r\nabc\r\n");
    publisher.sync();
    expect_msgs(&mut subscriber, 2);

    let varz = poll_until(SETTLE, || {
        let v = http_json(monitor, "/varz");
        (v["in_msgs"] == 2 && v["out_msgs"] == 2 && v["subscriptions"] == base_subs + 2)
            .then_some(v)
    })
    .unwrap_or_else(|| {
        panic!(
            "/varz never counted the traffic: {}",
            http_json(monitor, "/varz")
        )
    });
    check_fields("/varz", &varz, VARZ_FIELDS, VARZ_EXTRAS);
    // Started with `-p -1 -m -1`: nats-server 2.9.10 reports the -1 it was given, tern the
    // port it bound.
    assert!(
        varz["port"] == server.addr().port() || varz["port"] == -1,
        "{}",
        varz["port"]
    );
    assert!(varz["http_port"] == monitor.port() || varz["http_port"] == -1);
    assert_eq!(varz["host"], "127.0.0.1");
    assert_eq!(varz["http_host"], "127.0.0.1");
    assert_eq!(varz["https_port"], 0);
    assert_eq!(varz["http_base_path"], "");
    assert_eq!(varz["proto"], 1);
    assert_eq!(varz["connections"], 2);
    assert_eq!(varz["total_connections"], 2);
    assert_eq!(varz["in_bytes"], 8);
    assert_eq!(varz["out_bytes"], 8);
    assert_eq!(varz["slow_consumers"], 0);
    assert_eq!(varz["routes"], 0);
    assert_eq!(varz["leafnodes"], 0);
    // nats-server's defaults, in its units (durations in nanoseconds).
    assert_eq!(varz["max_payload"], 1_048_576);
    assert_eq!(varz["max_control_line"], 4096);
    assert_eq!(varz["max_pending"], 67_108_864);
    assert_eq!(varz["max_connections"], 65_536);
    assert_eq!(varz["ping_interval"], 120_000_000_000u64);
    assert_eq!(varz["ping_max"], 2);
    assert_eq!(varz["write_deadline"], 10_000_000_000u64);
    assert_eq!(varz["auth_timeout"].as_f64(), Some(2.0));
    assert_eq!(varz["tls_timeout"].as_f64(), Some(2.0));
    for section in [
        "cluster",
        "gateway",
        "leaf",
        "mqtt",
        "websocket",
        "jetstream",
    ] {
        assert_eq!(varz[section], serde_json::json!({}), "{section}");
    }
    assert_eq!(varz["start"], varz["config_load_time"]);
    assert!(varz["mem"].as_u64().unwrap() > 0);
    assert!(varz["cores"].as_u64().unwrap() >= 1);
    assert!(varz["gomaxprocs"].as_u64().unwrap() >= 1);
    // This request counted itself, as in nats-server.
    assert!(varz["http_req_stats"]["/varz"].as_u64().unwrap() >= 2);
}

#[test]
fn http_req_stats_count_requests_per_path() {
    let (_server, monitor) = start();
    for path in ["/connz", "/connz?limit=1", "/subsz", "/routez", "/healthz"] {
        let (status, body) = http_get(monitor, path);
        assert_eq!(status, 200, "{path}: {body}");
    }
    // nats-server counts its old name under the new one.
    assert_eq!(http_get(monitor, "/subscriptionsz").0, 200);
    let (status, _) = http_get(monitor, "/no-such-endpoint");
    assert_eq!(status, 404);
    let stats = &http_json(monitor, "/varz")["http_req_stats"];
    let stats: BTreeMap<String, u64> = serde_json::from_value(stats.clone()).unwrap();
    let want: BTreeMap<String, u64> = [
        ("/connz", 2),
        ("/subsz", 2),
        ("/routez", 1),
        ("/healthz", 1),
        ("/varz", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(stats, want);
}

// ---------------------------------------------------------------------------------------
// /connz
// ---------------------------------------------------------------------------------------

#[test]
fn connz_lists_filters_sorts_and_pages_connections() {
    let (server, monitor) = start();
    let (mut a, cid_a) = client(&server, "a");
    a.send("SUB alpha 1\r\nSUB beta.* workers 2\r\nUNSUB 1 7\r\n");
    a.sync();
    let (mut b, cid_b) = client(&server, "b");
    b.send("SUB alpha 1\r\nPUB alpha 2\r\nhi\r\n");
    assert_eq!(b.sync_msgs().len(), 1, "its own message (echo)");
    let (_c, cid_c) = client(&server, "c");
    assert!(cid_a < cid_b && cid_b < cid_c);
    expect_msgs(&mut a, 1);

    let all = connz(monitor, "");
    assert_eq!(all["num_connections"], 3);
    assert_eq!(all["total"], 3);
    assert_eq!(all["offset"], 0);
    assert_eq!(all["limit"], 1024);
    assert_eq!(cids(&all), [cid_a, cid_b, cid_c], "sorted by cid");
    for (conn, (name, client)) in all["connections"]
        .as_array()
        .unwrap()
        .iter()
        .zip([("a", &a), ("b", &b)])
    {
        check_fields("connection", conn, CONN_FIELDS, CONN_LISTS);
        assert_eq!(conn["name"], name);
        assert_eq!(conn["kind"], "Client");
        assert_eq!(conn["type"], "nats");
        assert_eq!(conn["lang"], "rust");
        assert_eq!(conn["version"], "9.9.9");
        assert_eq!(conn["ip"], "127.0.0.1");
        let local = client.stream().local_addr().unwrap();
        assert_eq!(conn["port"], local.port());
        assert_eq!(conn["pending_bytes"], 0);
        let rtt = conn["rtt"].as_str().unwrap();
        assert!(
            rtt.ends_with("s") && rtt.chars().next().unwrap().is_ascii_digit(),
            "rtt {rtt:?} is not a Go duration"
        );
    }
    let conns = all["connections"].as_array().unwrap();
    assert_eq!(conns[0]["subscriptions"], 2);
    assert_eq!(conns[0]["in_msgs"], 0);
    assert_eq!(conns[0]["out_msgs"], 1);
    assert_eq!(conns[0]["out_bytes"], 2);
    assert_eq!(conns[1]["subscriptions"], 1);
    assert_eq!(conns[1]["in_msgs"], 1);
    assert_eq!(conns[1]["in_bytes"], 2);
    assert_eq!(conns[1]["out_msgs"], 1);
    assert_eq!(conns[2]["subscriptions"], 0);

    // One connection by cid; `limit` becomes 1, `total` still counts them all.
    let one = connz(monitor, &format!("?cid={cid_b}"));
    assert_eq!(cids(&one), [cid_b]);
    assert_eq!(one["limit"], 1);
    assert_eq!(one["total"], 3);
    let none = connz(monitor, "?cid=999999");
    assert_eq!(none["num_connections"], 0);
    assert_eq!(none["connections"], serde_json::json!([]));

    // Sorts: subscriptions and messages descending.
    assert_eq!(cids(&connz(monitor, "?sort=subs")), [cid_a, cid_b, cid_c]);
    assert_eq!(cids(&connz(monitor, "?sort=msgs_from"))[0], cid_b);
    assert_eq!(cids(&connz(monitor, "?sort=bytes_from"))[0], cid_b);
    assert_eq!(cids(&connz(monitor, "?sort=start")), [cid_a, cid_b, cid_c]);
    assert_eq!(cids(&connz(monitor, "?sort=uptime")), [cid_c, cid_b, cid_a]);
    for key in ["pending", "msgs_to", "bytes_to", "last", "idle"] {
        assert_eq!(
            connz(monitor, &format!("?sort={key}"))["num_connections"],
            3,
            "{key}"
        );
    }

    // Paging.
    let page = connz(monitor, "?limit=1&offset=1");
    assert_eq!(cids(&page), [cid_b]);
    assert_eq!(
        (page["limit"].as_u64(), page["offset"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(page["total"], 3);
    let past = connz(monitor, "?offset=10");
    assert_eq!(past["num_connections"], 0);

    // Subscriptions: subjects, or details without the account (open connections).
    let subs = connz(monitor, &format!("?subs=1&cid={cid_a}"));
    let list: BTreeSet<&str> = subs["connections"][0]["subscriptions_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(list, BTreeSet::from(["alpha", "beta.*"]));
    let detail = connz(monitor, &format!("?subs=detail&cid={cid_a}"));
    let details = detail["connections"][0]["subscriptions_list_detail"]
        .as_array()
        .unwrap();
    assert_eq!(details.len(), 2);
    for d in details {
        let queue = d["subject"] == "beta.*";
        check_fields(
            "sub detail",
            d,
            &sub_detail_fields(false, !queue, queue),
            &[],
        );
        assert_eq!(d["cid"], cid_a);
        if queue {
            assert_eq!(d["qgroup"], "workers");
            assert_eq!(d["sid"], "2");
        } else {
            assert_eq!(
                (d["sid"].as_str(), d["msgs"].as_u64()),
                (Some("1"), Some(1))
            );
            assert_eq!(d["max"], 7, "auto-unsubscribe maximum");
        }
    }
    assert!(connz(monitor, "")["connections"][0]
        .get("subscriptions_list")
        .is_none());

    // Closed connections: kept with stop time, reason and their subscriptions.
    drop(a);
    let closed = poll_until(SETTLE, || {
        let c = connz(monitor, "?state=closed&subs=detail");
        (c["num_connections"] == 1).then_some(c)
    })
    .expect("the closed connection in /connz?state=closed");
    let conn = &closed["connections"][0];
    check_fields(
        "closed connection",
        conn,
        &[CONN_FIELDS, &[("stop", Kind::Time), ("reason", Kind::Str)]].concat(),
        CONN_LISTS,
    );
    assert_eq!(conn["cid"], cid_a);
    assert_eq!(conn["reason"], "Client Closed");
    assert_eq!(conn["subscriptions"], 2);
    let details = conn["subscriptions_list_detail"].as_array().unwrap();
    assert_eq!(details.len(), 2);
    for d in details {
        assert_eq!(d["account"], "$G", "closed connections name the account");
        assert_eq!(d["cid"], cid_a);
    }
    let any = connz(monitor, "?state=all");
    assert_eq!(any["total"], 3);
    assert_eq!(cids(&any), [cid_a, cid_b, cid_c]);
    let any = connz(monitor, "?state=ANY&sort=subs");
    assert_eq!(cids(&any)[2], cid_c);
    let by_stop = connz(monitor, "?state=closed&sort=stop");
    assert_eq!(cids(&by_stop), [cid_a]);
    let open = connz(monitor, "?state=open");
    assert_eq!(cids(&open), [cid_b, cid_c]);
}

#[test]
fn connz_rejects_bad_arguments_with_nats_servers_texts() {
    let (_server, monitor) = start();
    let cases = [
        ("/connz?sort=bogus", "invalid sorting option: bogus"),
        ("/connz?sort=stop", "sort by stop only valid on closed connections"),
        ("/connz?sort=reason&state=all", "sort by reason only valid on closed connections"),
        ("/connz?state=bogus", "Error decoding state for bogus"),
        (
            "/connz?limit=abc",
            "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax",
        ),
        (
            "/connz?offset=1.5",
            "Error decoding int for 'offset': strconv.Atoi: parsing \"1.5\": invalid syntax",
        ),
        (
            "/connz?cid=-1",
            "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"-1\": invalid syntax",
        ),
        (
            "/connz?auth=maybe",
            "Error decoding boolean for 'auth': strconv.ParseBool: parsing \"maybe\": invalid syntax",
        ),
        (
            "/connz?subs=2",
            "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"2\": invalid syntax",
        ),
        (
            "/subsz?test=foo.*",
            "invalid test subject, must be valid publish subject: foo.*",
        ),
        (
            "/healthz?js-enabled-only=abc",
            "Error decoding boolean for 'js-enabled-only': strconv.ParseBool: parsing \"abc\": invalid syntax",
        ),
        ("/accountz?acc=nobody", "Account nobody does not exist"),
    ];
    for (path, text) in cases {
        let (status, body) = get_error(monitor, path);
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body, text, "{path}");
    }
}

// ---------------------------------------------------------------------------------------
// /subsz
// ---------------------------------------------------------------------------------------

#[test]
fn subsz_counts_lists_and_tests_subjects() {
    let (server, monitor) = start();
    let baseline = http_json(monitor, "/subsz");
    // Without listed subscriptions, nats-server answers the bare statistics.
    check_fields("/subsz", &baseline, SUBLIST_STATS, &[]);
    let base = baseline["num_subscriptions"].as_u64().unwrap();
    let base_inserts = baseline["num_inserts"].as_u64().unwrap();

    let (mut a, cid_a) = client(&server, "a");
    a.send("SUB orders.new 1\r\nSUB orders.* q 2\r\nSUB other 3\r\nSUB gone 4\r\nUNSUB 4\r\n");
    a.sync();
    let (mut b, cid_b) = client(&server, "b");
    b.send("SUB orders.new 9\r\n");
    b.sync();

    let stats = poll_until(SETTLE, || {
        let s = http_json(monitor, "/subsz");
        (s["num_subscriptions"] == base + 4).then_some(s)
    })
    .unwrap_or_else(|| panic!("/subsz never counted: {}", http_json(monitor, "/subsz")));
    check_fields("/subsz", &stats, SUBLIST_STATS, &[]);
    assert_eq!(stats["num_inserts"], base_inserts + 5);
    assert!(stats["num_removes"].as_u64().unwrap() >= 1);

    let subsz_fields = [
        SUBLIST_STATS,
        &[
            ("server_id", Kind::Str),
            ("now", Kind::Time),
            ("total", Kind::Int),
            ("offset", Kind::Int),
            ("limit", Kind::Int),
            ("subscriptions_list", Kind::Arr),
        ],
    ]
    .concat();
    let ours = |list: &Value| -> Vec<(String, u64)> {
        let mut found: Vec<(String, u64)> = list["subscriptions_list"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["cid"] == cid_a || s["cid"] == cid_b)
            .map(|s| {
                (
                    s["subject"].as_str().unwrap().to_string(),
                    s["cid"].as_u64().unwrap(),
                )
            })
            .collect();
        found.sort();
        found
    };
    let listed = http_json(monitor, "/subsz?subs=1");
    check_fields("/subsz?subs=1", &listed, &subsz_fields, &[]);
    assert_eq!(listed["offset"], 0);
    assert_eq!(listed["limit"], 1024);
    assert_eq!(
        ours(&listed),
        [
            ("orders.*".to_string(), cid_a),
            ("orders.new".to_string(), cid_a),
            ("orders.new".to_string(), cid_b),
            ("other".to_string(), cid_a),
        ]
    );
    for sub in listed["subscriptions_list"].as_array().unwrap() {
        let queue = sub.get("qgroup").is_some();
        check_fields(
            "subsz entry",
            sub,
            &sub_detail_fields(true, false, queue),
            &[],
        );
    }

    // `test` keeps what a message on that subject would reach.
    let tested = http_json(monitor, "/subsz?subs=1&test=orders.new");
    check_fields("/subsz?test", &tested, &subsz_fields, &[]);
    assert_eq!(tested["total"], 3);
    assert_eq!(
        ours(&tested),
        [
            ("orders.*".to_string(), cid_a),
            ("orders.new".to_string(), cid_a),
            ("orders.new".to_string(), cid_b),
        ]
    );
    let queue = tested["subscriptions_list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["subject"] == "orders.*")
        .unwrap();
    assert_eq!(queue["qgroup"], "q");
    assert_eq!(queue["account"], "$G");
    // Paging: `total` counts the page, as in nats-server 2.9 and 2.10.
    let page = http_json(monitor, "/subsz?subs=1&test=orders.new&offset=1&limit=1");
    assert_eq!(page["subscriptions_list"].as_array().unwrap().len(), 1);
    assert_eq!(
        (page["offset"].as_u64(), page["limit"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(page["total"], 1);
    // Nothing listed: the bare statistics again.
    let nothing = http_json(monitor, "/subsz?subs=1&test=nobody.listens");
    check_fields("/subsz empty", &nothing, SUBLIST_STATS, &[]);
}

// ---------------------------------------------------------------------------------------
// The others
// ---------------------------------------------------------------------------------------

#[test]
fn routez_gatewayz_leafz_accountz_accstatz_have_nats_servers_shapes() {
    let (server, monitor) = start();
    let routez = http_json(monitor, "/routez");
    check_fields(
        "/routez",
        &routez,
        &[
            ("server_id", Kind::Str),
            ("now", Kind::Time),
            ("num_routes", Kind::Int),
            ("routes", Kind::Arr),
        ],
        &[],
    );
    assert_eq!(routez["num_routes"], 0);
    assert_eq!(routez["routes"], serde_json::json!([]));

    let gatewayz = http_json(monitor, "/gatewayz");
    check_fields(
        "/gatewayz",
        &gatewayz,
        &[
            ("server_id", Kind::Str),
            ("now", Kind::Time),
            ("outbound_gateways", Kind::Obj),
            ("inbound_gateways", Kind::Obj),
        ],
        &[],
    );
    assert_eq!(gatewayz["outbound_gateways"], serde_json::json!({}));

    let leafz = http_json(monitor, "/leafz");
    check_fields(
        "/leafz",
        &leafz,
        &[
            ("server_id", Kind::Str),
            ("now", Kind::Time),
            ("leafnodes", Kind::Int),
            ("leafs", Kind::Null),
        ],
        &[],
    );
    assert_eq!(leafz["leafnodes"], 0);

    let accountz = http_json(monitor, "/accountz");
    check_fields(
        "/accountz",
        &accountz,
        &[
            ("server_id", Kind::Str),
            ("now", Kind::Time),
            ("accounts", Kind::Arr),
        ],
        &["system_account"],
    );
    let names: Vec<&str> = accountz["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(names.contains(&"$G"), "{names:?}");

    let (mut c, _) = client(&server, "acc");
    c.send("SUB x 1\r\n");
    c.sync();
    let detail = http_json(monitor, "/accountz?acc=%24G");
    check_fields(
        "/accountz?acc=$G",
        &detail,
        &[
            ("server_id", Kind::Str),
            ("now", Kind::Time),
            ("account_detail", Kind::Obj),
        ],
        &["system_account"],
    );
    let info = &detail["account_detail"];
    check_fields(
        "account_detail",
        info,
        &[
            ("account_name", Kind::Str),
            ("update_time", Kind::Time),
            ("expired", Kind::Bool),
            ("complete", Kind::Bool),
            ("jetstream_enabled", Kind::Bool),
            ("leafnode_connections", Kind::Int),
            ("client_connections", Kind::Int),
            ("subscriptions", Kind::Int),
            ("sublist_stats", Kind::Obj),
        ],
        // nats-server 2.9.10 imports its system services into $G.
        &["imports", "exports", "mappings"],
    );
    assert_eq!(info["account_name"], "$G");
    assert_eq!(info["client_connections"], 1);
    check_fields("sublist_stats", &info["sublist_stats"], SUBLIST_STATS, &[]);

    let accstatz = http_json(monitor, "/accstatz?unused=1");
    check_fields(
        "/accstatz",
        &accstatz,
        &[
            ("server_id", Kind::Str),
            ("now", Kind::Time),
            ("account_statz", Kind::Arr),
        ],
        &[],
    );
    let global = accstatz["account_statz"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["acc"] == "$G")
        .expect("$G in /accstatz");
    check_fields(
        "account stat",
        global,
        &[
            ("acc", Kind::Str),
            ("conns", Kind::Int),
            ("leafnodes", Kind::Int),
            ("total_conns", Kind::Int),
            ("sent", Kind::Obj),
            ("received", Kind::Obj),
            ("slow_consumers", Kind::Int),
        ],
        &[],
    );
    assert_eq!(global["conns"], 1);
}

#[test]
fn jsz_and_healthz_without_jetstream() {
    let (server, monitor) = start();
    let jsz = http_json(monitor, "/jsz");
    assert!(jsz["server_id"].is_string());
    assert!(jsz["now"].as_str().is_some_and(is_go_time));
    let mut rest = jsz.as_object().unwrap().clone();
    rest.remove("server_id");
    rest.remove("now");
    assert_eq!(
        Value::Object(rest),
        serde_json::json!({
            "disabled": true,
            "config": { "max_memory": 0, "max_storage": 0 },
            "memory": 0, "storage": 0, "reserved_memory": 0, "reserved_storage": 0,
            "accounts": 0, "ha_assets": 0,
            "api": { "total": 0, "errors": 0 },
            "streams": 0, "consumers": 0, "messages": 0, "bytes": 0,
        })
    );
    // JetStream not configured: healthy, whatever JetStream checks are asked for.
    for path in [
        "/healthz",
        "/healthz?js-enabled-only=true",
        "/healthz?js-server-only=1",
        "/healthz?js-enabled=true",
    ] {
        let (status, body) = http_get(monitor, path);
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"status":"ok"}"#),
            "{path}"
        );
    }
    // The index page links every endpoint (nats-server's index, tern's dashboard).
    let (status, page) = http_get(monitor, "/");
    assert_eq!(status, 200);
    for endpoint in [
        "varz", "connz", "subsz", "routez", "gatewayz", "leafz", "accountz", "jsz", "healthz",
    ] {
        assert!(page.contains(endpoint), "/ does not link {endpoint}");
    }
    drop(server);
}

// ---------------------------------------------------------------------------------------
// /metrics (tern's own)
// ---------------------------------------------------------------------------------------

/// A Prometheus text-format (0.0.4) family, as parsed.
#[derive(Default, Debug)]
struct Family {
    kind: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

/// Parses the text exposition format strictly enough to catch what Prometheus rejects:
/// names, label syntax and escapes, float values, HELP/TYPE once per family and before
/// its samples, families contiguous.
fn parse_prometheus(text: &str) -> BTreeMap<String, Family> {
    fn is_name(s: &str, colon: bool) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
    }
    fn family_of<'a>(name: &'a str, families: &BTreeMap<String, Family>) -> &'a str {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                if families.get(base).is_some_and(|f| f.kind == "histogram") {
                    return base;
                }
            }
        }
        name
    }
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut helped = BTreeSet::new();
    let mut finished = BTreeSet::new();
    let mut current: Option<String> = None;
    for (number, line) in text.lines().enumerate() {
        let at = format!("line {}: {line:?}", number + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (keyword, name) = (parts.next().unwrap(), parts.next().unwrap_or(""));
            assert!(is_name(name, true), "{at}: bad metric name");
            match keyword {
                "HELP" => assert!(helped.insert(name.to_string()), "{at}: second HELP"),
                "TYPE" => {
                    let kind = parts.next().unwrap_or("");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "{at}: bad type"
                    );
                    assert!(!families.contains_key(name), "{at}: second TYPE");
                    families.insert(
                        name.to_string(),
                        Family {
                            kind: kind.to_string(),
                            ..Family::default()
                        },
                    );
                }
                _ => {}
            }
            continue;
        }
        let (name_and_labels, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("{at}: value is not a float")),
        };
        let (name, labels) = match name_and_labels.split_once('{') {
            None => (name_and_labels, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("{at}: no }}"));
                let mut labels = BTreeMap::new();
                let mut chars = body.chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    assert!(is_name(&key, false), "{at}: bad label name {key:?}");
                    assert_eq!(chars.next(), Some('"'), "{at}: label value not quoted");
                    let mut value = String::new();
                    loop {
                        match chars.next() {
                            Some('\\') => match chars.next() {
                                Some('n') => value.push('\n'),
                                Some(c @ ('\\' | '"')) => value.push(c),
                                other => panic!("{at}: bad escape {other:?}"),
                            },
                            Some('"') => break,
                            Some(c) => value.push(c),
                            None => panic!("{at}: unterminated label value"),
                        }
                    }
                    assert!(labels.insert(key, value).is_none(), "{at}: label twice");
                    match chars.next() {
                        Some(',') | None => {}
                        other => panic!("{at}: expected , got {other:?}"),
                    }
                }
                (name, labels)
            }
        };
        assert!(is_name(name, true), "{at}: bad metric name");
        let family = family_of(name, &families).to_string();
        let entry = families
            .get_mut(&family)
            .unwrap_or_else(|| panic!("{at}: sample before its TYPE"));
        if current.as_deref() != Some(family.as_str()) {
            assert!(
                !finished.contains(&family),
                "{at}: family {family} not contiguous"
            );
            if let Some(previous) = current.replace(family.clone()) {
                finished.insert(previous);
            }
        }
        entry.samples.push((name.to_string(), labels, value));
    }
    families
}

#[test]
fn metrics_are_valid_prometheus_text_with_per_core_figures() {
    if common::skip_on_reference("/metrics is tern's own") {
        return;
    }
    let (server, monitor) = start();
    let (mut a, _) = client(&server, "a");
    a.send("SUB m 1\r\n");
    a.sync();
    let (mut b, _) = client(&server, "b");
    b.send("PUB m 4\r\nabcd\r\nPUB m 4\r\nabcd\r\nPUB m 4\r\nabcd\r\n");
    b.sync();
    expect_msgs(&mut a, 3);

    let sum = |families: &BTreeMap<String, Family>, name: &str| -> f64 {
        families[name].samples.iter().map(|(_, _, v)| v).sum()
    };
    let families = poll_until(SETTLE, || {
        let (status, text) = http_get(monitor, "/metrics");
        assert_eq!(status, 200);
        let families = parse_prometheus(&text);
        (sum(&families, "tern_in_msgs_total") == 3.0
            && sum(&families, "tern_out_msgs_total") == 3.0)
            .then_some(families)
    })
    .expect("/metrics never counted the three messages");

    for name in [
        "tern_connections",
        "tern_subscriptions",
        "tern_in_msgs_total",
        "tern_out_msgs_total",
        "tern_in_bytes_total",
        "tern_out_bytes_total",
        "tern_slow_consumers_total",
        "tern_mesh_backpressure_events_total",
        "tern_mesh_ring_full_events_total",
        "tern_core_cpu_seconds_total",
    ] {
        let family = families.get(name).unwrap_or_else(|| panic!("no {name}"));
        let cores: BTreeSet<&str> = family
            .samples
            .iter()
            .map(|(_, labels, _)| labels["core"].as_str())
            .collect();
        assert_eq!(
            cores,
            BTreeSet::from(["0", "1"]),
            "{name}: one sample per core"
        );
    }
    for name in [
        "tern_mesh_ring_depth_batches",
        "tern_mesh_outbox_events",
        "tern_mesh_batches_sent_total",
    ] {
        let pairs: BTreeSet<(String, String)> = families[name]
            .samples
            .iter()
            .map(|(_, l, _)| (l["from"].clone(), l["to"].clone()))
            .collect();
        assert_eq!(
            pairs,
            BTreeSet::from([("0".into(), "1".into()), ("1".into(), "0".into())]),
            "{name}"
        );
    }
    assert_eq!(sum(&families, "tern_connections"), 2.0);
    assert_eq!(sum(&families, "tern_in_bytes_total"), 12.0);
    for (name, family) in &families {
        if family.kind == "counter" {
            assert!(
                name.ends_with("_total"),
                "counter {name} should end in _total"
            );
        }
        for (_, _, value) in &family.samples {
            assert!(value.is_nan() || *value >= 0.0, "{name} is negative");
        }
    }
    // Histograms: buckets ascending in `le`, counts cumulative, +Inf equal to _count.
    let histograms: Vec<&String> = families
        .iter()
        .filter(|(_, f)| f.kind == "histogram")
        .map(|(n, _)| n)
        .collect();
    assert!(
        !histograms.is_empty(),
        "the monitor's own latency histogram"
    );
    for name in histograms {
        let family = &families[name];
        let buckets: Vec<(f64, f64)> = family
            .samples
            .iter()
            .filter(|(n, _, _)| n.ends_with("_bucket"))
            .map(|(_, l, v)| {
                let le = &l["le"];
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                (le, *v)
            })
            .collect();
        assert!(
            buckets.windows(2).all(|w| w[0].0 < w[1].0),
            "{name}: le ascending"
        );
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{name}: cumulative"
        );
        assert_eq!(
            buckets.last().unwrap().0,
            f64::INFINITY,
            "{name}: +Inf bucket"
        );
        let count = family
            .samples
            .iter()
            .find(|(n, _, _)| n.ends_with("_count"))
            .map(|(_, _, v)| *v)
            .unwrap();
        assert_eq!(buckets.last().unwrap().1, count, "{name}: +Inf == _count");
        assert!(family.samples.iter().any(|(n, _, _)| n.ends_with("_sum")));
    }
    assert_eq!(sum(&families, "tern_jetstream_enabled"), 0.0);
}

#[test]
fn coresz_reports_every_core() {
    if common::skip_on_reference("/coresz is tern's own") {
        return;
    }
    let (server, monitor) = start();
    let (_a, _) = client(&server, "a");
    let coresz = poll_until(SETTLE, || {
        let c = http_json(monitor, "/coresz");
        let connections: u64 = c["cores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|core| core["connections"].as_u64().unwrap())
            .sum();
        (connections == 1).then_some(c)
    })
    .expect("/coresz counts the connection");
    let cores = coresz["cores"].as_array().unwrap();
    assert_eq!(cores.len(), 2);
    for (i, core) in cores.iter().enumerate() {
        assert_eq!(core["core"], i);
        for key in [
            "cpu_percent",
            "in_msgs_per_second",
            "out_msgs_per_second",
            "ring_depth_in",
            "outbox_events",
            "backpressure_events",
        ] {
            assert!(core[key].is_number(), "{key} in {core}");
        }
    }
    assert_eq!(coresz["jetstream"], false);
}

// ---------------------------------------------------------------------------------------
// --signal against a pid file
// ---------------------------------------------------------------------------------------

fn pid_server() -> (TestServer, String) {
    let builder = ServerBuilder::new();
    let pid_file = builder.dir().join("server.pid").display().to_string();
    let server = builder.args(&["-P", &pid_file, "-m", "-1"]).start();
    let written = poll_until(SETTLE, || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .filter(|t| !t.trim().is_empty())
    });
    assert_eq!(
        written.as_deref().map(str::trim),
        Some(server.pid().to_string().as_str()),
        "pid file"
    );
    (server, pid_file)
}

fn signal(command: &str, pid_file: &str) {
    let target = format!("{command}={pid_file}");
    let (status, stdout, stderr) = run_binary(&["--signal", &target], Duration::from_secs(5));
    assert!(status.success(), "--signal {target}: {stdout}{stderr}");
}

#[test]
fn signals_by_pid_file_reopen_reload_quit_and_stop() {
    let (mut server, pid_file) = pid_server();
    let monitor = server.monitor_addr().unwrap();
    // reopen and reload leave the server serving.
    signal("reopen", &pid_file);
    signal("reload", &pid_file);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        server.try_wait().is_none(),
        "server exited:\n{}",
        server.log()
    );
    assert_eq!(http_get(monitor, "/healthz").0, 200);
    // quit: a clean shutdown (SIGINT).
    signal("quit", &pid_file);
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some(),
        "quit did not stop the server:\n{}",
        server.log()
    );

    // stop: killed at once (SIGKILL), as nats-server sends it.
    let (mut server, pid_file) = pid_server();
    signal("stop", &pid_file);
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("stop ends the server");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
}

// ---------------------------------------------------------------------------------------
// Log file: size-limit rotation and reopen
// ---------------------------------------------------------------------------------------

/// A server logging to a file (so the harness, which reads stdout, can not find its
/// Listening line): started here, its address read from the file; stopped on drop.
struct FileLoggedServer {
    child: std::process::Child,
    addr: SocketAddr,
}

impl FileLoggedServer {
    fn start(log: &std::path::Path, extra: &[&str]) -> FileLoggedServer {
        let binary = common::server_binary();
        let mut args = vec!["-a", "127.0.0.1", "-p", "-1", "-D"];
        if binary.is_tern {
            args.extend(["--cores", "2"]);
        }
        let log_text = log.display().to_string();
        args.extend(["-l", log_text.as_str()]);
        args.extend(extra);
        let child = std::process::Command::new(&binary.path)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the server");
        let mut server = FileLoggedServer {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
        };
        const LISTENING: &str = "Listening for client connections on ";
        server.addr = poll_until(SETTLE, || {
            let text = std::fs::read_to_string(log).ok()?;
            let rest = &text[text.find(LISTENING)? + LISTENING.len()..];
            rest[..rest.find(char::is_whitespace)?].parse().ok()
        })
        .unwrap_or_else(|| {
            panic!(
                "no Listening line in {}: {:?}",
                log.display(),
                std::fs::read_to_string(log)
            )
        });
        server
    }

    /// Writes log lines: with `-D`, every connection logs its creation and its end.
    fn make_log_lines(&self, connections: usize) {
        for _ in 0..connections {
            let mut client = RawClient::connected(self.addr);
            client.sync();
        }
    }
}

impl Drop for FileLoggedServer {
    fn drop(&mut self) {
        // SAFETY: kill has no memory preconditions; the pid is our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = poll_until(SETTLE, || self.child.try_wait().ok().flatten());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn files_starting_with(dir: &std::path::Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

#[test]
fn log_file_rotates_at_the_size_limit() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().to_path_buf();
    let log = dir.join("server.log");
    let server = FileLoggedServer::start(&log, &["--log_size_limit", "2000"]);
    server.make_log_lines(20);
    let backups = poll_until(SETTLE, || {
        let names = files_starting_with(&dir, "server.log.");
        (!names.is_empty()).then_some(names)
    })
    .expect("a rotated backup next to the log file");
    // `server.log.YYYY.MM.DD.hh.mm.ss.nnnnnnnnn`, as nats-server names it.
    let suffix = backups[0].strip_prefix("server.log.").unwrap();
    let parts: Vec<&str> = suffix.split('.').collect();
    assert_eq!(parts.len(), 7, "{suffix}");
    assert!(
        parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit())),
        "{suffix}"
    );
    assert_eq!(parts[6].len(), 9, "{suffix}");
    let current = std::fs::read_to_string(&log).unwrap();
    let rotated_line = poll_until(SETTLE, || {
        let text = std::fs::read_to_string(&log).unwrap();
        text.contains("Rotated log, backup saved as")
            .then_some(text)
    });
    assert!(rotated_line.is_some(), "no rotation line in:\n{current}");
    for backup in &backups {
        let size = std::fs::metadata(dir.join(backup)).unwrap().len();
        // One line may cross the limit before the rotation.
        assert!(size < 2000 + 1000, "{backup} is {size} bytes");
    }
}

#[test]
fn reopen_signal_starts_a_new_log_file() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().to_path_buf();
    let log = dir.join("server.log");
    let pid_file = dir.join("server.pid").display().to_string();
    let server = FileLoggedServer::start(&log, &["-P", &pid_file]);
    poll_until(SETTLE, || std::fs::metadata(&pid_file).ok()).expect("pid file");
    // What logrotate does: move the file away, then ask the server to reopen.
    let moved = dir.join("server.log.1");
    std::fs::rename(&log, &moved).unwrap();
    signal("reopen", &pid_file);
    let reopened = poll_until(SETTLE, || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|text| text.contains("File log re-opened"))
    });
    assert!(reopened.is_some(), "no new log file after reopen");
    server.make_log_lines(1);
    let text = poll_until(SETTLE, || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|t| t.contains("Client connection created"))
    });
    assert!(text.is_some(), "new lines go to the new file");
}
// ---------------------------------------------------------------------------------------
// JetStream: /jsz, /varz's jetstream section, /healthz and /metrics with -js
// ---------------------------------------------------------------------------------------

/// Two free ports for `-p` and `-m`: nats-server runs in 14500-14599 (the range this
/// repository's tests may use for it); tern takes random ones.
fn jetstream_ports(reference: bool) -> Vec<String> {
    if !reference {
        return vec!["-m".into(), "-1".into()];
    }
    // Handed out in turn, so tests running at once never probe the same port.
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let free: Vec<u16> = (0..100)
        .map(|_| 14500 + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 100)
        .filter(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .take(2)
        .collect();
    assert_eq!(free.len(), 2, "no free ports in 14500-14599");
    vec![
        "-p".into(),
        free[0].to_string(),
        "-m".into(),
        free[1].to_string(),
    ]
}

/// A server with JetStream storing in `store` (which outlives restarts).
fn start_jetstream(store: &std::path::Path, reference: bool) -> (TestServer, SocketAddr) {
    let mut args = jetstream_ports(reference);
    args.extend(["-js".into(), "-sd".into(), store.display().to_string()]);
    let builder = ServerBuilder::new().args(&args);
    let server = if reference {
        builder.start_reference()
    } else {
        builder.start()
    };
    let monitor = server
        .monitor_addr()
        .unwrap_or_else(|| panic!("no monitor line in the log:\n{}", server.log()));
    (server, monitor)
}

/// A raw client making `$JS.API` requests and acknowledged publishes one at a time.
struct JsClient {
    raw: RawClient,
    requests: u64,
}

impl JsClient {
    fn new(server: &TestServer) -> JsClient {
        let mut raw = RawClient::connected(server.addr());
        raw.send("SUB _INBOX.jsmon.* 1\r\n");
        raw.sync();
        JsClient { raw, requests: 0 }
    }

    fn request(&mut self, subject: &str, body: &str) -> Value {
        self.requests += 1;
        let reply = format!("_INBOX.jsmon.{}", self.requests);
        self.raw.send(format!(
            "PUB {subject} {reply} {}\r\n{body}\r\n",
            body.len()
        ));
        loop {
            match self.raw.read_frame() {
                Frame::Msg(msg) if msg.subject == reply => {
                    return serde_json::from_slice(&msg.payload).unwrap_or_else(|e| {
                        panic!("{subject}: answer is not JSON ({e}): {:?}", msg.payload)
                    })
                }
                Frame::Ping => self.raw.send("PONG\r\n"),
                other => panic!("{subject}: expected the answer, got {other:?}"),
            }
        }
    }

    fn create_stream(&mut self, name: &str, subjects: &str, storage: &str) {
        let body =
            format!(r#"{{"name":"{name}","subjects":["{subjects}"],"storage":"{storage}"}}"#);
        let answer = self.request(&format!("$JS.API.STREAM.CREATE.{name}"), &body);
        assert!(answer.get("error").is_none(), "create {name}: {answer}");
    }

    fn publish(&mut self, subject: &str, payload: &str, stream: &str, seq: u64) {
        let ack = self.request(subject, payload);
        assert_eq!(ack["stream"], stream, "{ack}");
        assert_eq!(ack["seq"], seq, "{ack}");
    }
}

/// The situation both servers are compared in: a file stream with 3 messages (117 bytes
/// by nats-server's accounting), a memory stream with 2 (44 bytes), and 3 API requests of
/// which one failed.
fn populate_streams(js: &mut JsClient) {
    js.create_stream("FILE1", "f.>", "file");
    js.create_stream("MEM1", "m.>", "memory");
    for i in 0..3 {
        js.publish("f.a", &format!("hello{i}"), "FILE1", i + 1);
    }
    for i in 0..2 {
        js.publish("m.b", &format!("hi{i}"), "MEM1", i + 1);
    }
    let missing = js.request("$JS.API.STREAM.INFO.NOPE", "");
    assert_eq!(missing["error"]["err_code"], 10059, "{missing}");
}

/// nats-server 2.9.10's `JSInfo` with JetStream on (without `account_details`).
const JSZ_FIELDS: &[(&str, Kind)] = &[
    ("server_id", Kind::Str),
    ("now", Kind::Time),
    ("config", Kind::Obj),
    ("memory", Kind::Int),
    ("storage", Kind::Int),
    ("reserved_memory", Kind::Int),
    ("reserved_storage", Kind::Int),
    ("accounts", Kind::Int),
    ("ha_assets", Kind::Int),
    ("api", Kind::Obj),
    ("streams", Kind::Int),
    ("consumers", Kind::Int),
    ("messages", Kind::Int),
    ("bytes", Kind::Int),
];
/// 2.9.10's `JetStreamConfig` without a domain.
const JS_CONFIG_FIELDS: &[(&str, Kind)] = &[
    ("max_memory", Kind::Int),
    ("max_storage", Kind::Int),
    ("store_dir", Kind::Str),
];
/// tern reports its sync policy with the names nats-server 2.10+ uses (2.9.10 has none).
const JS_CONFIG_TERN_EXTRAS: &[&str] = &["sync_always", "sync_interval"];
const JS_STATS_FIELDS: &[(&str, Kind)] = &[
    ("memory", Kind::Int),
    ("storage", Kind::Int),
    ("reserved_memory", Kind::Int),
    ("reserved_storage", Kind::Int),
    ("accounts", Kind::Int),
    ("ha_assets", Kind::Int),
    ("api", Kind::Obj),
];
const JS_API_FIELDS: &[(&str, Kind)] = &[("total", Kind::Int), ("errors", Kind::Int)];
const ACCOUNT_DETAIL_FIELDS: &[(&str, Kind)] = &[
    ("name", Kind::Str),
    ("id", Kind::Str),
    ("memory", Kind::Int),
    ("storage", Kind::Int),
    ("reserved_memory", Kind::Int),
    ("reserved_storage", Kind::Int),
    ("accounts", Kind::Int),
    ("ha_assets", Kind::Int),
    ("api", Kind::Obj),
];
const STREAM_DETAIL_FIELDS: &[(&str, Kind)] = &[
    ("name", Kind::Str),
    ("created", Kind::Time),
    ("cluster", Kind::Obj),
    ("state", Kind::Obj),
];
/// `FastState`: no deleted list, no lost data.
const STREAM_STATE_FIELDS: &[(&str, Kind)] = &[
    ("messages", Kind::Int),
    ("bytes", Kind::Int),
    ("first_seq", Kind::Int),
    ("first_ts", Kind::Time),
    ("last_seq", Kind::Int),
    ("last_ts", Kind::Time),
    ("num_subjects", Kind::Int),
    ("consumer_count", Kind::Int),
];

fn check_js_config(what: &str, config: &Value, store: &std::path::Path) {
    check_fields(what, config, JS_CONFIG_FIELDS, JS_CONFIG_TERN_EXTRAS);
    assert_eq!(
        config["store_dir"],
        store.join("jetstream").display().to_string(),
        "{what}"
    );
    assert!(config["max_memory"].as_i64().unwrap() > 0, "{what}");
    assert!(config["max_storage"].as_i64().unwrap() > 0, "{what}");
}

/// The server-wide figures of [`populate_streams`].
fn check_js_totals(what: &str, stats: &Value) {
    check_fields(&format!("{what}.api"), &stats["api"], JS_API_FIELDS, &[]);
    for (key, want) in [
        ("memory", 44),
        ("storage", 117),
        ("reserved_memory", 0),
        ("reserved_storage", 0),
        ("accounts", 1),
        ("ha_assets", 0),
    ] {
        assert_eq!(stats[key], want, "{what}.{key} in {stats:#}");
    }
    assert_eq!(
        stats["api"],
        serde_json::json!({"total": 3, "errors": 1}),
        "{what}"
    );
}

/// tern logs its Listening line before the cores have recovered their streams (clients
/// that connect meanwhile wait); /healthz says when that is done.
fn wait_until_healthy(monitor: SocketAddr) {
    let healthy = poll_until(SETTLE, || {
        (http_get(monitor, "/healthz").0 == 200).then_some(())
    });
    assert!(
        healthy.is_some(),
        "/healthz never turned ok: {:?}",
        http_get(monitor, "/healthz")
    );
}

fn stream_details(jsz: &Value) -> Vec<Value> {
    let accounts = jsz["account_details"].as_array().expect("account_details");
    assert_eq!(accounts.len(), 1, "{jsz:#}");
    let mut streams = accounts[0]["stream_detail"]
        .as_array()
        .expect("stream_detail")
        .clone();
    // nats-server lists them in map order.
    streams.sort_by_key(|s| s["name"].as_str().unwrap_or_default().to_string());
    streams
}

#[test]
fn jsz_varz_and_healthz_with_jetstream() {
    let store = tempfile::tempdir().unwrap();
    let (server, monitor) = start_jetstream(store.path(), common::is_reference());
    let server_name = http_json(monitor, "/varz")["server_name"].clone();
    wait_until_healthy(monitor);
    // JetStream on and its (no) streams recovered: healthy, whatever is asked.
    for path in [
        "/healthz",
        "/healthz?js-enabled-only=true",
        "/healthz?js-server-only=true",
        "/healthz?js-enabled=1",
    ] {
        let (status, body) = http_get(monitor, path);
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"status":"ok"}"#),
            "{path}"
        );
    }
    let empty = http_json(monitor, "/jsz?accounts=true");
    assert_eq!(empty["streams"], 0);
    assert_eq!(empty["accounts"], 1);
    let account = &empty["account_details"][0];
    check_fields("empty account", account, ACCOUNT_DETAIL_FIELDS, &[]);

    let mut js = JsClient::new(&server);
    populate_streams(&mut js);

    let jsz = poll_until(SETTLE, || {
        let jsz = http_json(monitor, "/jsz");
        (jsz["messages"] == 5).then_some(jsz)
    })
    .expect("/jsz never counted the five messages");
    check_fields("/jsz", &jsz, JSZ_FIELDS, &[]);
    check_js_config("/jsz.config", &jsz["config"], store.path());
    check_js_totals("/jsz", &jsz);
    for (key, want) in [
        ("streams", 2),
        ("consumers", 0),
        ("messages", 5),
        ("bytes", 161),
    ] {
        assert_eq!(jsz[key], want, "/jsz.{key}");
    }

    let jsz = http_json(monitor, "/jsz?accounts=true");
    check_fields("/jsz?accounts", &jsz, JSZ_FIELDS, &["account_details"]);
    let account = &jsz["account_details"][0];
    check_fields("account_details[0]", account, ACCOUNT_DETAIL_FIELDS, &[]);
    assert_eq!(account["name"], "$G");
    assert_eq!(account["id"], "$G");
    // An account without reserved limits reports them as Go's uint64(-1).
    assert_eq!(account["reserved_memory"], u64::MAX);
    assert_eq!(account["reserved_storage"], u64::MAX);
    assert_eq!(account["accounts"], 0);
    assert_eq!(account["memory"], 44);
    assert_eq!(account["storage"], 117);
    assert_eq!(account["api"], serde_json::json!({"total": 3, "errors": 1}));

    for (query, with_config) in [("streams=true", false), ("streams=true&config=true", true)] {
        let jsz = http_json(monitor, &format!("/jsz?{query}"));
        let account = &jsz["account_details"][0];
        check_fields(query, account, ACCOUNT_DETAIL_FIELDS, &["stream_detail"]);
        let streams = stream_details(&jsz);
        let want = [
            ("FILE1", "file", 3, 117, "f.>"),
            ("MEM1", "memory", 2, 44, "m.>"),
        ];
        assert_eq!(streams.len(), want.len(), "{jsz:#}");
        for (stream, (name, storage, messages, bytes, subject)) in streams.iter().zip(want) {
            let what = format!("{query}: {name}");
            let extras: &[&str] = if with_config { &["config"] } else { &[] };
            check_fields(&what, stream, STREAM_DETAIL_FIELDS, extras);
            assert_eq!(stream["name"], name);
            assert_eq!(
                stream["cluster"],
                serde_json::json!({ "leader": server_name })
            );
            check_fields(&what, &stream["state"], STREAM_STATE_FIELDS, &[]);
            let state = &stream["state"];
            assert_eq!(state["messages"], messages, "{what}");
            assert_eq!(state["bytes"], bytes, "{what}");
            assert_eq!(state["first_seq"], 1, "{what}");
            assert_eq!(state["last_seq"], messages, "{what}");
            assert_eq!(state["num_subjects"], 1, "{what}");
            assert_eq!(state["consumer_count"], 0, "{what}");
            if with_config {
                let config = &stream["config"];
                assert_eq!(config["name"], name, "{what}");
                assert_eq!(config["storage"], storage, "{what}");
                assert_eq!(config["subjects"], serde_json::json!([subject]), "{what}");
                assert_eq!(config["num_replicas"], 1, "{what}");
            }
        }
    }

    // Paging is over accounts, and there is one.
    let paged = http_json(monitor, "/jsz?streams=true&offset=1");
    assert!(paged.get("account_details").is_none(), "{paged:#}");
    let chosen = http_json(monitor, "/jsz?acc=$G&offset=1");
    assert_eq!(chosen["account_details"][0]["name"], "$G", "{chosen:#}");
    let unknown = http_json(monitor, "/jsz?acc=NOPE");
    assert!(unknown.get("account_details").is_none(), "{unknown:#}");

    let varz = http_json(monitor, "/varz");
    let section = &varz["jetstream"];
    check_fields(
        "/varz.jetstream",
        section,
        &[("config", Kind::Obj), ("stats", Kind::Obj)],
        &[],
    );
    check_js_config("/varz.jetstream.config", &section["config"], store.path());
    check_fields(
        "/varz.jetstream.stats",
        &section["stats"],
        JS_STATS_FIELDS,
        &[],
    );
    check_js_totals("/varz.jetstream.stats", &section["stats"]);

    // A deleted stream leaves /jsz.
    let deleted = js.request("$JS.API.STREAM.DELETE.MEM1", "");
    assert_eq!(deleted["success"], true, "{deleted}");
    let jsz = http_json(monitor, "/jsz?streams=true");
    assert_eq!(jsz["streams"], 1);
    assert_eq!(jsz["memory"], 0);
    assert_eq!(jsz["messages"], 3);
    let names: Vec<Value> = stream_details(&jsz)
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, ["FILE1"]);
    assert_eq!(http_get(monitor, "/healthz").0, 200);
}

#[test]
fn jsz_lists_the_streams_recovered_at_restart() {
    let store = tempfile::tempdir().unwrap();
    let reference = common::is_reference();
    let (mut server, _) = start_jetstream(store.path(), reference);
    let mut js = JsClient::new(&server);
    js.create_stream("KEPT", "k.>", "file");
    js.publish("k.1", "one", "KEPT", 1);
    js.publish("k.2", "two", "KEPT", 2);
    drop(js);
    server.stop();
    drop(server);

    let (server, monitor) = start_jetstream(store.path(), reference);
    wait_until_healthy(monitor);
    let (status, body) = http_get(monitor, "/healthz");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let jsz = http_json(monitor, "/jsz?streams=true");
    assert_eq!(jsz["streams"], 1, "{jsz:#}");
    assert_eq!(jsz["messages"], 2, "{jsz:#}");
    let streams = stream_details(&jsz);
    assert_eq!(streams[0]["name"], "KEPT");
    assert_eq!(streams[0]["state"]["last_seq"], 2);
    assert_eq!(jsz["storage"], streams[0]["state"]["bytes"]);
    drop(server);
}

/// `/jsz` and `/varz`'s section of tern and of nats-server, after the same conversation,
/// with what depends on when and where they ran replaced by its kind, and tern's
/// deliberate additions removed.
#[test]
fn jsz_and_varz_match_the_reference_server_side_by_side() {
    if common::skip_on_reference("compares tern with the reference itself") {
        return;
    }
    const PATHS: &[&str] = &[
        "/jsz",
        "/jsz?accounts=true",
        "/jsz?streams=true",
        "/jsz?streams=true&config=true",
        "/jsz?consumers=true&config=true",
        "/jsz?acc=$G",
        "/jsz?streams=true&offset=1",
    ];
    /// Stream config fields tern sends as newer servers do (see tests/jetstream_compare.rs).
    const TERN_STREAM_CONFIG_FIELDS: &[&str] = &[
        "compression",
        "consumer_limits",
        "first_seq",
        "allow_msg_ttl",
    ];

    fn normalize(value: &mut Value, tern: bool) {
        match value {
            Value::Object(map) => {
                map.remove("server_id");
                map.remove("now");
                for (key, field) in map.iter_mut() {
                    let volatile = match key.as_str() {
                        "created" | "first_ts" | "last_ts" => {
                            field.as_str().is_some_and(|t| !t.starts_with("0001-"))
                        }
                        "leader" | "store_dir" | "max_memory" | "max_storage" => true,
                        _ => false,
                    };
                    if volatile {
                        *field = Value::String("<varies>".into());
                    }
                }
                if tern {
                    if let Some(Value::Object(config)) = map.get_mut("config") {
                        for key in JS_CONFIG_TERN_EXTRAS
                            .iter()
                            .chain(TERN_STREAM_CONFIG_FIELDS)
                        {
                            config.remove(*key);
                        }
                    }
                }
                if let Some(Value::Array(streams)) = map.get_mut("stream_detail") {
                    streams.sort_by_key(|s| s["name"].as_str().unwrap_or_default().to_string());
                }
                map.values_mut().for_each(|v| normalize(v, tern));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| normalize(v, tern)),
            _ => {}
        }
    }

    let answers = |reference: bool| -> Vec<Value> {
        let store = tempfile::tempdir().unwrap();
        let (server, monitor) = start_jetstream(store.path(), reference);
        let mut js = JsClient::new(&server);
        populate_streams(&mut js);
        poll_until(SETTLE, || {
            (http_json(monitor, "/jsz")["messages"] == 5).then_some(())
        })
        .expect("five messages");
        let mut answers: Vec<Value> = PATHS.iter().map(|p| http_json(monitor, p)).collect();
        answers.push(http_json(monitor, "/varz")["jetstream"].clone());
        for answer in &mut answers {
            normalize(answer, !reference);
        }
        answers
    };
    let tern = answers(false);
    let reference = answers(true);
    let labels = PATHS.iter().copied().chain(["/varz jetstream"]);
    for ((label, tern), reference) in labels.zip(&tern).zip(&reference) {
        assert_eq!(
            tern, reference,
            "{label}: tern\n{tern:#}\nnats-server\n{reference:#}"
        );
    }
}

#[test]
fn jetstream_metrics_count_streams_and_time_fsyncs_and_acks() {
    if common::skip_on_reference("/metrics is tern's own") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let (server, monitor) = start_jetstream(store.path(), false);
    let mut js = JsClient::new(&server);
    js.create_stream("FILE1", "f.>", "file");
    js.create_stream("MEM1", "m.>", "memory");
    const PUBLISHES: u64 = 20;
    for i in 0..PUBLISHES {
        js.publish("f.x", "payload", "FILE1", i + 1);
    }
    js.publish("m.x", "payload", "MEM1", 1);

    let value = |families: &BTreeMap<String, Family>, name: &str, labels: &[(&str, &str)]| {
        families
            .values()
            .flat_map(|family| &family.samples)
            .find(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
            })
            .map(|(_, _, v)| *v)
            .unwrap_or_else(|| panic!("no {name}{labels:?}"))
    };
    let families = poll_until(SETTLE, || {
        let (status, text) = http_get(monitor, "/metrics");
        assert_eq!(status, 200);
        let families = parse_prometheus(&text);
        let acks = value(
            &families,
            "tern_jetstream_publish_ack_duration_seconds_count",
            &[],
        );
        (acks == (PUBLISHES + 1) as f64).then_some(families)
    })
    .expect("/metrics never counted every PubAck");

    assert_eq!(value(&families, "tern_jetstream_enabled", &[]), 1.0);
    assert_eq!(value(&families, "tern_jetstream_streams", &[]), 2.0);
    assert_eq!(value(&families, "tern_jetstream_consumers", &[]), 0.0);
    let messages = |stream| {
        value(
            &families,
            "tern_jetstream_stream_messages",
            &[("stream", stream)],
        )
    };
    assert_eq!(messages("FILE1"), PUBLISHES as f64);
    assert_eq!(messages("MEM1"), 1.0);
    let file_bytes = value(
        &families,
        "tern_jetstream_stream_bytes",
        &[("stream", "FILE1")],
    );
    assert_eq!(
        value(&families, "tern_jetstream_storage_bytes", &[]),
        file_bytes
    );
    assert!(value(&families, "tern_jetstream_memory_bytes", &[]) > 0.0);
    assert_eq!(
        value(&families, "tern_jetstream_api_requests_total", &[]),
        2.0
    );
    assert_eq!(
        value(&families, "tern_jetstream_api_errors_total", &[]),
        0.0
    );

    for name in [
        "tern_jetstream_fsync_duration_seconds",
        "tern_jetstream_publish_ack_duration_seconds",
    ] {
        let family = &families[name];
        assert_eq!(family.kind, "histogram", "{name}");
        let buckets: Vec<(f64, f64)> = family
            .samples
            .iter()
            .filter(|(n, _, _)| n.ends_with("_bucket"))
            .map(|(_, l, v)| (l["le"].parse::<f64>().unwrap_or(f64::INFINITY), *v))
            .collect();
        assert!(
            buckets.windows(2).all(|w| w[0].0 < w[1].0),
            "{name}: le ascending"
        );
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{name}: cumulative"
        );
        assert_eq!(
            buckets.first().unwrap().0,
            0.00001,
            "{name}: 10 us first bound"
        );
        assert_eq!(buckets.last().unwrap().0, f64::INFINITY, "{name}: +Inf");
        let count = value(&families, &format!("{name}_count"), &[]);
        assert_eq!(buckets.last().unwrap().1, count, "{name}: +Inf == _count");
        assert!(
            value(&families, &format!("{name}_sum"), &[]) > 0.0,
            "{name}_sum"
        );
    }
    // Every acknowledged write of the file stream was fsync'd (group commit may batch
    // several publishes into one fsync, never the other way round).
    let fsyncs = value(
        &families,
        "tern_jetstream_fsync_duration_seconds_count",
        &[],
    );
    assert!(
        (1.0..=(PUBLISHES + 2) as f64).contains(&fsyncs),
        "{fsyncs} fsyncs for {PUBLISHES} publishes"
    );
    drop(server);
}
