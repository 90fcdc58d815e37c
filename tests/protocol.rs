//! The core client protocol byte for byte, over raw TCP (see the `common` harness).
//!
//! Expected bytes are what nats-server 2.9.10 sends; run against it with
//! `TERN_TEST_SERVER=/usr/sbin/nats-server cargo test --test protocol`.

mod common;

use common::{Frame, Msg, RawClient, TestServer, CONNECT_QUIET};

fn msg(subject: &str, sid: &str) -> (String, String) {
    (subject.to_string(), sid.to_string())
}

fn subjects_and_sids(msgs: &[Msg]) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = msgs
        .iter()
        .map(|m| (m.subject.clone(), m.sid.clone()))
        .collect();
    pairs.sort();
    pairs
}

// ---------------------------------------------------------------------------------------
// Connection setup
// ---------------------------------------------------------------------------------------

#[test]
fn info_is_sent_first_with_the_required_fields() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connect(server.addr());
    let line = client.read_line();
    assert!(
        line.starts_with("INFO {"),
        "first line must be INFO, got {line:?}"
    );
    let info: serde_json::Value =
        serde_json::from_str(line["INFO ".len()..].trim()).expect("INFO JSON");
    assert!(
        info["server_id"].as_str().is_some_and(|id| !id.is_empty()),
        "server_id in {info}"
    );
    assert!(
        info["version"]
            .as_str()
            .is_some_and(|v| v.split('.').count() == 3),
        "semver version in {info}"
    );
    assert_eq!(info["proto"], 1, "{info}");
    assert_eq!(info["headers"], true, "{info}");
    assert_eq!(info["max_payload"], 1048576, "{info}");
    assert!(info["client_id"].as_u64().is_some(), "client_id in {info}");
    assert_eq!(info["port"], server.addr().port(), "{info}");
    assert!(
        info.get("auth_required").is_none_or(|v| v == false),
        "{info}"
    );
}

#[test]
fn telnet_style_ops_before_connect_use_verbose_defaults() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connect(server.addr());
    client.read_info();
    client.send("PING\r\n");
    client.expect("PONG\r\n");
    // Without CONNECT the defaults are verbose and pedantic: each op is acknowledged.
    client.send("SUB foo 1\r\n");
    client.expect("+OK\r\n");
    client.send("PUB foo 5\r\nhello\r\n");
    client.expect("+OK\r\nMSG foo 1 5\r\nhello\r\n");
}

#[test]
fn connect_verbose_is_acknowledged_with_ok() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connect(server.addr());
    client.read_info();
    client.send("CONNECT {\"verbose\":true}\r\n");
    client.expect("+OK\r\n");
    client.send("SUB foo 1\r\nUNSUB 1\r\n");
    client.expect("+OK\r\n+OK\r\n");
    client.send("PING\r\n");
    client.expect("PONG\r\n");
}

#[test]
fn ping_is_answered_with_pong() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connected(server.addr());
    client.send("PING\r\nPING\r\n");
    client.expect("PONG\r\nPONG\r\n");
}

#[test]
fn sub_then_pub_delivers_exact_msg() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connected(server.addr());
    client.send("SUB foo 1\r\nPUB foo 5\r\nhello\r\n");
    client.expect("MSG foo 1 5\r\nhello\r\n");
}

#[test]
fn pub_with_reply_subject_is_delivered_with_it() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connected(server.addr());
    client.send("SUB foo 1\r\nPUB foo reply.to 5\r\nhello\r\n");
    client.expect("MSG foo 1 reply.to 5\r\nhello\r\n");
}

#[test]
fn hpub_is_delivered_as_exact_hmsg() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connected(server.addr());
    client.send("SUB foo 1\r\n");
    // Minimal header block (12 bytes) and a 2-byte payload.
    client.send("HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    client.expect("HMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    // Repeated keys, mixed case and a reply subject pass through untouched.
    let headers = "NATS/1.0\r\nX-Key: one\r\nx-key: Two\r\n\r\n";
    let total = headers.len() + 5;
    client.send(format!(
        "HPUB foo inbox.1 {} {total}\r\n{headers}hello\r\n",
        headers.len()
    ));
    client.expect(format!(
        "HMSG foo 1 inbox.1 {} {total}\r\n{headers}hello\r\n",
        headers.len()
    ));
    // Header only, no payload.
    client.send("HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    client.expect("HMSG foo 1 12 12\r\nNATS/1.0\r\n\r\n\r\n");
}

#[test]
fn zero_byte_payload_is_delivered() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connected(server.addr());
    client.send("SUB foo 1\r\nPUB foo 0\r\n\r\n");
    client.expect("MSG foo 1 0\r\n\r\n");
}

#[test]
fn lowercase_ops_and_tabs_are_accepted() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connect(server.addr());
    client.read_info();
    client.send("connect {\"verbose\":false}\r\n");
    client.send("sub\tfoo\t 1\r\n");
    client.send("pub\tfoo\t  bar 2\r\nhi\r\n");
    client.expect("MSG foo 1 bar 2\r\nhi\r\n");
    client.send("Pub foo 1\r\na\r\n");
    client.expect("MSG foo 1 1\r\na\r\n");
    client.send("unsub 1\r\npub foo 1\r\nb\r\nping\r\n");
    client.expect("PONG\r\n");
}

#[test]
fn unsub_with_max_msgs_delivers_exactly_that_many() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connected(server.addr());
    client.send("SUB foo 1\r\nUNSUB 1 3\r\n");
    for i in 0..6 {
        client.send(format!("PUB foo 1\r\n{i}\r\n"));
    }
    let msgs = client.sync_msgs();
    let payloads: Vec<&[u8]> = msgs.iter().map(|m| m.payload.as_slice()).collect();
    assert_eq!(payloads, [b"0", b"1", b"2"]);
    // The subscription is gone: a later publish reaches nobody.
    client.send("PUB foo 1\r\nx\r\n");
    assert_eq!(client.sync(), []);
}

#[test]
fn unsub_of_unknown_sid_is_ignored() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connected(server.addr());
    client.send("UNSUB 99\r\nUNSUB 98 5\r\n");
    assert_eq!(client.sync(), []);
    // Verbose: acknowledged with +OK.
    let (mut verbose, _) = RawClient::handshake(server.addr(), r#"{"verbose":true}"#);
    verbose.send("UNSUB 42\r\n");
    verbose.expect("+OK\r\n");
}

#[test]
fn wildcards_match_exactly_what_they_should() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connected(server.addr());
    client.send("SUB foo.* 1\r\nSUB foo.> 2\r\nSUB > 3\r\nSUB foo.*.baz 4\r\nSUB foo* 5\r\n");
    for subject in [
        "foo.bar",
        "foo.bar.baz",
        "foo",
        "bar.x",
        "foo*",
        "fooX",
        "foo.bar.qux",
    ] {
        client.send(format!("PUB {subject} 1\r\nx\r\n"));
    }
    let mut expected = vec![
        msg("foo.bar", "1"),
        msg("foo.bar", "2"),
        msg("foo.bar", "3"),
        msg("foo.bar.baz", "2"),
        msg("foo.bar.baz", "3"),
        msg("foo.bar.baz", "4"),
        msg("foo", "3"),
        msg("bar.x", "3"),
        // `foo*` is a literal token, not a wildcard.
        msg("foo*", "3"),
        msg("foo*", "5"),
        msg("fooX", "3"),
        msg("foo.bar.qux", "2"),
        msg("foo.bar.qux", "3"),
    ];
    expected.sort();
    assert_eq!(subjects_and_sids(&client.sync_msgs()), expected);
}

#[test]
fn overlapping_subscriptions_each_get_a_copy() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connected(server.addr());
    client.send("SUB foo 1\r\nSUB foo 2\r\nSUB foo 1\r\n"); // re-used sid 1 is a no-op
    client.send("PUB foo 1\r\nx\r\n");
    assert_eq!(
        subjects_and_sids(&client.sync_msgs()),
        [msg("foo", "1"), msg("foo", "2")]
    );
}

#[test]
fn echo_false_suppresses_own_messages_only() {
    let server = TestServer::start(&[]);
    let (mut quiet, _) = RawClient::handshake(
        server.addr(),
        r#"{"verbose":false,"echo":false,"protocol":1}"#,
    );
    let mut other = RawClient::connected(server.addr());
    other.send("SUB foo 9\r\n");
    other.sync();
    quiet.send("SUB foo 1\r\nPUB foo 5\r\nhello\r\n");
    assert_eq!(
        quiet.sync(),
        [],
        "echo:false must not deliver to the publisher"
    );
    other.expect("MSG foo 9 5\r\nhello\r\n");
    // Messages from others still arrive.
    other.send("PUB foo 2\r\nhi\r\n");
    quiet.expect("MSG foo 1 2\r\nhi\r\n");
}

// ---------------------------------------------------------------------------------------
// Errors that keep the connection
// ---------------------------------------------------------------------------------------

#[test]
fn pedantic_publish_to_wildcard_gets_an_error_and_connection_stays() {
    let server = TestServer::start(&[]);
    let mut watcher = RawClient::connected(server.addr());
    watcher.send("SUB > 1\r\n");
    watcher.sync();
    let (mut client, _) =
        RawClient::handshake(server.addr(), r#"{"verbose":false,"pedantic":true}"#);
    client.send("PUB foo.* 1\r\na\r\n");
    client.expect_err("Invalid Publish Subject");
    client.send("PUB foo.> 1\r\nb\r\n");
    client.expect_err("Invalid Publish Subject");
    client.send("PUB foo.bar 1\r\nc\r\n");
    assert_eq!(client.sync(), []);
    // nats-server only warns: the message is still routed (processPub returns nil after
    // sendErr), so a `>` subscriber gets all three. (Read, not sync: the watcher may be on
    // another core, and its PONG need not wait for messages in flight from elsewhere.)
    watcher.expect("MSG foo.* 1 1\r\na\r\nMSG foo.> 1 1\r\nb\r\nMSG foo.bar 1 1\r\nc\r\n");
}

#[test]
fn non_pedantic_publish_subject_is_not_validated() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connected(server.addr());
    client.send("PUB foo.* 1\r\na\r\n");
    assert_eq!(client.sync(), []);
}

#[test]
fn sub_with_invalid_subject_is_refused_and_connection_stays_usable() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connected(server.addr());
    for subject in ["foo..bar", ".foo", "foo.", "foo.>.bar", "."] {
        client.send(format!("SUB {subject} 1\r\n"));
        client.expect_err("Invalid Subject");
    }
    client.send("SUB foo.bar 1\r\nPUB foo.bar 2\r\nok\r\n");
    client.expect("MSG foo.bar 1 2\r\nok\r\n");
}

#[test]
fn max_subscriptions_refuses_extra_subs_and_keeps_connection() {
    let server = TestServer::start_with_config("max_subscriptions: 2\n", &[]);
    let mut client = RawClient::connected(server.addr());
    client.send("SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n");
    client.expect_err("maximum subscriptions exceeded");
    client.send("PUB a 1\r\nx\r\nPUB c 1\r\ny\r\n");
    assert_eq!(subjects_and_sids(&client.sync_msgs()), [msg("a", "1")]);
}

// ---------------------------------------------------------------------------------------
// Errors that close the connection
// ---------------------------------------------------------------------------------------

#[test]
fn unknown_operation_is_refused_and_closes() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connected(server.addr());
    client.send("FOO bar\r\n");
    client.expect_err_then_close("Unknown Protocol Operation");
}

#[test]
fn garbage_before_connect_is_refused_and_closes() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connect(server.addr());
    client.read_info();
    client.send(b"\x16\x03\x01\x00\xa5\x01\x00\x00\r\n"); // a TLS ClientHello start
    client.expect_err_then_close("Unknown Protocol Operation");
}

#[test]
fn pub_over_max_payload_is_refused_and_closes() {
    let server = TestServer::start_with_config("max_payload: 1024\n", &[]);
    let (mut client, info) = RawClient::handshake(server.addr(), CONNECT_QUIET);
    assert_eq!(info["max_payload"], 1024);
    let exact = "x".repeat(1024);
    client.send(format!("SUB foo 1\r\nPUB foo 1024\r\n{exact}\r\n"));
    client.expect(format!("MSG foo 1 1024\r\n{exact}\r\n"));
    // Refused as soon as the control line is read, before any payload.
    client.send("PUB foo 1025\r\n");
    client.expect_err_then_close("Maximum Payload Violation");
}

#[test]
fn hpub_over_max_payload_counts_headers_and_closes() {
    let server = TestServer::start_with_config("max_payload: 1024\n", &[]);
    let mut client = RawClient::connected(server.addr());
    client.send("HPUB foo 12 1025\r\n");
    client.expect_err_then_close("Maximum Payload Violation");
}

#[test]
fn pub_over_default_max_payload_is_refused_and_closes() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connected(server.addr());
    client.send("PUB foo 1048577\r\n");
    client.expect_err_then_close("Maximum Payload Violation");
}

#[test]
fn overlong_control_line_is_refused_and_closes() {
    let server = TestServer::start(&[]);
    // A complete line over 4096 bytes.
    let mut client = RawClient::connected(server.addr());
    client.send(format!("SUB {} 1\r\n", "a".repeat(5000)));
    client.expect_err_then_close("maximum control line exceeded");
    // A line that never ends must not be buffered without bound either.
    let mut client = RawClient::connected(server.addr());
    client.send(format!("PUB {}", "a".repeat(5000)));
    client.expect_err_then_close("maximum control line exceeded");
}

/// The refused message was not delivered: the next thing `watcher` (subscribed to `foo`
/// as sid 1) gets is a sentinel published afterwards.
fn expect_only_sentinel(server: &TestServer, watcher: &mut RawClient) {
    let mut publisher = RawClient::connected(server.addr());
    publisher.send("PUB foo 8\r\nsentinel\r\n");
    watcher.expect("MSG foo 1 8\r\nsentinel\r\n");
}

#[test]
fn payload_not_followed_by_crlf_closes() {
    let server = TestServer::start(&[]);
    let mut watcher = RawClient::connected(server.addr());
    watcher.send("SUB foo 1\r\n");
    watcher.sync();
    let mut client = RawClient::connected(server.addr());
    client.send("PUB foo 5\r\nhelloXX\r\n");
    client.expect_err_then_close("Unknown Protocol Operation");
    expect_only_sentinel(&server, &mut watcher);
}

#[test]
fn hpub_without_headers_declared_in_connect_closes() {
    let server = TestServer::start(&[]);
    let mut watcher = RawClient::connected(server.addr());
    watcher.send("SUB foo 1\r\n");
    watcher.sync();
    let (mut client, _) = RawClient::handshake(server.addr(), r#"{"verbose":false}"#);
    client.send("HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    let before_close = client.expect_closed();
    // nats-server closes without an -ERR text here.
    assert!(
        before_close.is_empty(),
        "expected a silent close, got {:?}",
        common::show(&before_close)
    );
    expect_only_sentinel(&server, &mut watcher);
}

#[test]
fn no_responders_without_headers_is_refused_and_closes() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connect(server.addr());
    client.read_info();
    client.send("CONNECT {\"verbose\":false,\"no_responders\":true}\r\n");
    client.expect_err_then_close("no responders requires headers support");
}

#[test]
fn unknown_client_protocol_is_refused_and_closes() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connect(server.addr());
    client.read_info();
    client.send("CONNECT {\"verbose\":false,\"protocol\":2}\r\n");
    client.expect_err_then_close("invalid client protocol");
}

#[test]
fn one_client_sending_garbage_does_not_affect_another() {
    let server = TestServer::start(&[]);
    let mut good_sub = RawClient::connected(server.addr());
    good_sub.send("SUB foo 1\r\n");
    good_sub.sync();
    let mut good_pub = RawClient::connected(server.addr());
    let mut bad = RawClient::connected(server.addr());
    bad.send("SUB foo 2\r\n");
    good_pub.send("PUB foo 3\r\none\r\n");
    good_sub.expect("MSG foo 1 3\r\none\r\n");
    bad.send("\x00\x01garbage\r\n");
    bad.expect_closed();
    good_pub.send("PUB foo 3\r\ntwo\r\n");
    good_sub.expect("MSG foo 1 3\r\ntwo\r\n");
    good_pub.send("PING\r\n");
    good_pub.expect("PONG\r\n");
}

// ---------------------------------------------------------------------------------------
// No responders
// ---------------------------------------------------------------------------------------

#[test]
fn request_to_nobody_gets_503_status_on_the_reply_subject() {
    let server = TestServer::start(&[]);
    let (mut client, _) = RawClient::handshake(
        server.addr(),
        r#"{"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1}"#,
    );
    client.send("SUB _INBOX.x 7\r\nPUB nobody.here _INBOX.x 2\r\nhi\r\n");
    let frames = client.sync();
    let [Frame::Msg(status)] = frames.as_slice() else {
        panic!("expected one HMSG, got {frames:?}")
    };
    assert_eq!(
        (
            status.subject.as_str(),
            status.sid.as_str(),
            status.reply.as_deref()
        ),
        ("_INBOX.x", "7", None)
    );
    assert!(
        status.payload.is_empty(),
        "no-responders status has no payload: {status:?}"
    );
    let header = status.headers.as_deref().expect("HMSG");
    // nats-server 2.9.10 sends exactly `NATS/1.0 503\r\n\r\n` (16 bytes); newer servers
    // (2.11+) add `Nats-Subject: <subject>`. Both are valid for clients.
    let old = b"NATS/1.0 503\r\n\r\n".to_vec();
    let new = b"NATS/1.0 503\r\nNats-Subject: nobody.here\r\n\r\n".to_vec();
    assert!(
        header == old || header == new,
        "unexpected status header {:?}",
        common::show(header)
    );
    // A request with a responder gets the response, not a status.
    let mut responder = RawClient::connected(server.addr());
    responder.send("SUB svc 1\r\n");
    responder.sync();
    client.send("PUB svc _INBOX.x 2\r\nhi\r\n");
    let request = match responder.read_frame() {
        Frame::Msg(m) => m,
        other => panic!("expected the request, got {other:?}"),
    };
    assert_eq!(request.reply.as_deref(), Some("_INBOX.x"));
    responder.send("PUB _INBOX.x 3\r\nyes\r\n");
    client.expect("MSG _INBOX.x 7 3\r\nyes\r\n");
}

#[test]
fn request_to_nobody_without_no_responders_gets_nothing() {
    let server = TestServer::start(&[]);
    let mut client = RawClient::connected(server.addr());
    client.send("SUB _INBOX.x 7\r\nPUB nobody.here _INBOX.x 2\r\nhi\r\n");
    assert_eq!(client.sync(), []);
}

// ---------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------

#[test]
fn user_password_auth_is_required_and_checked() {
    let server = TestServer::start(&["--user", "a", "--pass", "b"]);
    // Wrong password.
    let mut client = RawClient::connect(server.addr());
    let info = client.read_info();
    assert_eq!(info["auth_required"], true, "{info}");
    client.send("CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"x\"}\r\nPING\r\n");
    client.expect_err_then_close("Authorization Violation");
    // No credentials.
    let mut client = RawClient::connect(server.addr());
    client.read_info();
    client.send("CONNECT {\"verbose\":false}\r\nPING\r\n");
    client.expect_err_then_close("Authorization Violation");
    // Right credentials.
    let (mut client, _) =
        RawClient::handshake(server.addr(), r#"{"verbose":false,"user":"a","pass":"b"}"#);
    client.send("SUB foo 1\r\nPUB foo 2\r\nok\r\n");
    client.expect("MSG foo 1 2\r\nok\r\n");
}

#[test]
fn ops_before_connect_are_refused_when_auth_is_required() {
    let server = TestServer::start(&["--user", "a", "--pass", "b"]);
    let mut client = RawClient::connect(server.addr());
    client.read_info();
    client.send("PUB foo 1\r\na\r\n");
    client.expect_err_then_close("Authorization Violation");
    let mut client = RawClient::connect(server.addr());
    client.read_info();
    client.send("PING\r\n");
    client.expect_err_then_close("Authorization Violation");
}

#[test]
fn token_auth_is_checked() {
    let server = TestServer::start(&["--auth", "tok"]);
    let mut client = RawClient::connect(server.addr());
    assert_eq!(client.read_info()["auth_required"], true);
    client.send("CONNECT {\"verbose\":false,\"auth_token\":\"tox\"}\r\nPING\r\n");
    client.expect_err_then_close("Authorization Violation");
    let (mut client, _) =
        RawClient::handshake(server.addr(), r#"{"verbose":false,"auth_token":"tok"}"#);
    client.send("PING\r\n");
    client.expect("PONG\r\n");
}

#[test]
fn no_connect_within_auth_timeout_is_refused_and_closes() {
    let server = TestServer::start_with_config(
        "authorization {\n  user: a\n  password: b\n  timeout: 1\n}\n",
        &[],
    );
    let mut client = RawClient::connect(server.addr());
    let started = std::time::Instant::now();
    assert_eq!(client.read_info()["auth_required"], true);
    client.expect_err("Authentication Timeout");
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(700),
        "timed out too early: {waited:?}"
    );
    client.expect_closed();
}

#[test]
fn max_connections_refuses_the_extra_connection_after_info() {
    let server = TestServer::start_with_config("max_connections: 2\n", &[]);
    let mut first = RawClient::connected(server.addr());
    let mut second = RawClient::connected(server.addr());
    let mut third = RawClient::connect(server.addr());
    let info = third.read_info();
    assert!(info["server_id"].is_string(), "{info}");
    third.expect_err_then_close("maximum connections exceeded");
    for client in [&mut first, &mut second] {
        client.send("PING\r\n");
        client.expect("PONG\r\n");
    }
    // A slot freed by a closed connection can be used again.
    drop(first);
    let reconnected = common::poll_until(std::time::Duration::from_secs(5), || {
        let mut client = RawClient::connect(server.addr());
        client.read_info();
        client.send("CONNECT {\"verbose\":false}\r\nPING\r\n");
        (client.read_line() == "PONG").then_some(())
    });
    assert!(
        reconnected.is_some(),
        "a freed connection slot was not reusable"
    );
}
