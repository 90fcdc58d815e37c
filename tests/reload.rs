//! Configuration reload (SIGHUP and `--signal reload=<pid>`), black-box: start a server with
//! a config file, rewrite the file, signal, and check what changed and what did not. Each
//! scenario runs against tern and the reference nats-server 2.9.10, which must agree.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;

const RELOADED: &str = "Reloaded server configuration";
const FAILED: &str = "Failed to reload server configuration: ";
const RELOAD_TIMEOUT: Duration = Duration::from_secs(5);

fn login(user: &str, password: &str) -> String {
    format!(
        r#"{{"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"user":"{user}","pass":"{password}"}}"#
    )
}

fn raw(server: &TestServer, user: &str, password: &str) -> RawClient {
    RawClient::handshake(server.addr(), &login(user, password)).0
}

/// Whether `user`/`password` are refused.
fn refused(server: &TestServer, user: &str, password: &str) -> bool {
    let mut client = RawClient::connect(server.addr());
    client.read_info();
    client.send(format!("CONNECT {}\r\nPING\r\n", login(user, password)));
    match client.read_frame() {
        Frame::Err(text) => text == "Authorization Violation",
        Frame::Pong => false,
        other => panic!("unexpected {other:?}"),
    }
}

fn occurrences(server: &TestServer, needle: &str) -> usize {
    server.log().matches(needle).count()
}

/// Rewrites the config file, sends SIGHUP and waits for the outcome's log line. Returns the
/// error text of a refused reload.
fn reload(server: &TestServer, config: &str) -> Result<(), String> {
    let (done, failed) = (occurrences(server, RELOADED), occurrences(server, FAILED));
    std::fs::write(server.dir().join("server.conf"), config).expect("rewrite config");
    server.signal(libc::SIGHUP);
    let outcome = poll_until(RELOAD_TIMEOUT, || {
        let log = server.log();
        if log.matches(RELOADED).count() > done {
            return Some(Ok(()));
        }
        if log.matches(FAILED).count() > failed {
            let at = log.match_indices(FAILED).nth(failed)?.0 + FAILED.len();
            let line = log[at..].lines().next()?.to_string();
            return Some(Err(line));
        }
        None
    });
    outcome.unwrap_or_else(|| panic!("no reload outcome logged:\n{}", server.log()))
}

fn both(config: &str) -> [TestServer; 2] {
    [
        ServerBuilder::new().config(config).start(),
        ServerBuilder::new().config(config).start_reference(),
    ]
}

const BEFORE: &str = r#"
accounts {
  A { users = [ {user: a, password: pa}, {user: a2, password: pa2}, {user: mover, password: pm} ] }
  B { users = [ {user: b, password: pb} ] }
}
"#;

/// a2 removed, b's password changed, mover moved to B, a3 and account C added; `a`
/// untouched.
const AFTER: &str = r#"
accounts {
  A { users = [ {user: a, password: pa}, {user: a3, password: pa3} ] }
  B { users = [ {user: b, password: pb-new}, {user: mover, password: pm} ] }
  C { users = [ {user: c, password: pc} ] }
}
"#;

#[test]
fn reload_closes_revoked_connections_and_keeps_the_others() {
    for server in both(BEFORE) {
        eprintln!("against tern: {}", server.is_tern());
        let mut a = raw(&server, "a", "pa");
        a.send("SUB foo 1\r\n");
        a.sync();
        let mut a2 = raw(&server, "a2", "pa2");
        let mut b = raw(&server, "b", "pb");
        let mut mover = raw(&server, "mover", "pm");
        assert!(refused(&server, "c", "pc"));

        reload(&server, AFTER).unwrap();
        // A removed user's connection is closed without a word; one whose password no
        // longer matches is told (nats-server 2.9.10 does both).
        assert!(a2.expect_closed().is_empty());
        assert!(
            mover.expect_closed().is_empty(),
            "a user moved to another account"
        );
        b.expect_err_then_close("Authorization Violation");
        assert!(refused(&server, "a2", "pa2"));
        assert!(refused(&server, "b", "pb"));
        // The untouched user's connection and subscription live on.
        let mut a3 = raw(&server, "a3", "pa3");
        a3.send("PUB foo 2\r\nhi\r\n");
        a3.sync();
        // A copy for another core's subscriber may arrive after our PONG: wait for it.
        match a.read_frame() {
            Frame::Msg(msg) => assert_eq!(msg.payload, b"hi"),
            other => panic!("expected the message, got {other:?}"),
        }
        // The new account works on every core (subscribers spread over both) and is
        // separate.
        let mut c_subs: Vec<RawClient> = (0..4)
            .map(|_| {
                let mut sub = raw(&server, "c", "pc");
                sub.send("SUB c.x 1\r\n");
                sub.sync();
                sub
            })
            .collect();
        let mut c = raw(&server, "c", "pc");
        c.send("PUB c.x 2\r\nok\r\n");
        c.sync();
        for sub in &mut c_subs {
            match sub.read_frame() {
                Frame::Msg(msg) => assert_eq!(msg.payload, b"ok"),
                other => panic!("expected the message in C, got {other:?}"),
            }
        }
        c.send("PUB foo 2\r\nno\r\n");
        c.sync();
        assert!(a.sync().is_empty());
        let mut b = raw(&server, "b", "pb-new");
        assert!(b.sync().is_empty());
    }
}

#[tokio::test]
async fn an_untouched_async_nats_client_keeps_receiving_across_reloads() {
    let server = ServerBuilder::new().config(BEFORE).start();
    let a = connect_with(
        &server,
        async_nats::ConnectOptions::with_user_and_password("a".into(), "pa".into()),
    )
    .await;
    let mut sub = a.subscribe("events").await.unwrap();
    flush(&a).await;
    reload(&server, AFTER).unwrap();
    reload(&server, BEFORE).unwrap();
    let mut publisher = raw(&server, "a2", "pa2");
    publisher.send("PUB events 5\r\nafter\r\n");
    publisher.sync();
    assert_eq!(recv(&mut sub).await.payload, "after");
    a.publish("events", "own".into()).await.unwrap();
    assert_eq!(recv(&mut sub).await.payload, "own");
    assert_eq!(
        a.connection_state(),
        async_nats::connection::State::Connected
    );
    drop(sub.next());
}

const PERMISSIVE: &str = r#"
authorization { users = [
  {user: u, password: p, permissions: { subscribe: ["foo", "bar", "q.>"], publish: ["foo", "bar"] }}
  {user: other, password: p}
] }
"#;

const STRICT: &str = r#"
authorization { users = [
  {user: u, password: p, permissions: { subscribe: ["foo"], publish: ["foo"] }}
  {user: other, password: p}
] }
"#;

#[test]
fn reload_removes_subscriptions_no_longer_permitted() {
    let mut conversations = Vec::new();
    for server in both(PERMISSIVE) {
        eprintln!("against tern: {}", server.is_tern());
        let mut u = raw(&server, "u", "p");
        u.send("SUB foo 1\r\nSUB bar 2\r\nSUB q.x grp 3\r\n");
        u.sync();
        let mut other = raw(&server, "other", "p");
        other.send("SUB bar 1\r\n");
        other.sync();

        reload(&server, STRICT).unwrap();
        // Both removals are announced to the connection, which stays open.
        let mut frames = Vec::new();
        while frames.len() < 2 {
            frames.extend(u.sync());
        }
        frames.sort_by_key(|f| format!("{f:?}"));
        assert!(
            server.wait_for_log(
                r#"Removed sub "bar" (sid "2") for User "u" - not authorized"#,
                RELOAD_TIMEOUT
            ),
            "{}",
            server.log()
        );
        let mut publisher = raw(&server, "other", "p");
        publisher.send("PUB bar 1\r\nb\r\nPUB foo 1\r\nf\r\n");
        publisher.sync();
        // Copies for another core's subscribers may arrive after our PONG: wait for them.
        // bar was published first, so had u still been subscribed it would come first.
        match u.read_frame() {
            Frame::Msg(msg) => assert_eq!(msg.subject, "foo"),
            other => panic!("expected the foo message, got {other:?}"),
        }
        match other.read_frame() {
            Frame::Msg(msg) => assert_eq!(msg.subject, "bar", "other's subscription stays"),
            other => panic!("expected the bar message, got {other:?}"),
        }
        // Publish permissions changed too.
        u.send("PUB bar 1\r\nx\r\n");
        frames.extend(u.sync());
        conversations.push(frames);
    }
    assert_eq!(conversations[0], conversations[1]);
    let err = |text: &str| Frame::Err(text.to_string());
    assert_eq!(
        conversations[0],
        [
            err(r#"Permissions Violation for Subscription to "bar" (sid "2")"#),
            err(r#"Permissions Violation for Subscription to "q.x" (sid "3")"#),
            err(r#"Permissions Violation for Publish to "bar""#),
        ]
    );
}

#[test]
fn unsupported_changes_and_bad_files_change_nothing() {
    for server in both(BEFORE) {
        eprintln!("against tern: {}", server.is_tern());
        let mut a2 = raw(&server, "a2", "pa2");
        let named = format!("server_name: renamed\n{AFTER}");
        assert_eq!(
            reload(&server, &named).unwrap_err(),
            "config reload not supported for ServerName: old=, new=renamed"
        );
        let text = reload(
            &server,
            "accounts { A { users = [ {user: a, password: p} ]\n",
        )
        .unwrap_err();
        assert!(!text.is_empty());
        // Users, both refused reloads: still the first configuration.
        assert!(a2.sync().is_empty());
        assert!(refused(&server, "a3", "pa3"));
        let mut b = raw(&server, "b", "pb");
        assert!(b.sync().is_empty());
        // A valid file afterwards applies.
        reload(&server, AFTER).unwrap();
        assert!(a2.expect_closed().is_empty());
    }
}

#[test]
fn reload_switches_debug_logging() {
    for server in both("debug: false\n") {
        eprintln!("against tern: {}", server.is_tern());
        reload(&server, "debug: true\n").unwrap();
        assert!(server.wait_for_log("Reloaded: debug = true", RELOAD_TIMEOUT));
        let mut client = RawClient::connected(server.addr());
        client.sync();
        assert!(
            server.wait_for_log("[DBG]", RELOAD_TIMEOUT),
            "no debug line after the reload:\n{}",
            server.log()
        );
    }
}

#[test]
fn signal_reload_by_pid_and_pid_file() {
    for server in both(BEFORE) {
        eprintln!("against tern: {}", server.is_tern());
        let done = occurrences(&server, RELOADED);
        std::fs::write(server.dir().join("server.conf"), AFTER).unwrap();
        let pid = server.pid().to_string();
        let (status, out, err) = run_signal(&server, &format!("reload={pid}"));
        assert!(status.success(), "{out}{err}");
        assert!(
            poll_until(RELOAD_TIMEOUT, || (occurrences(&server, RELOADED) > done)
                .then_some(()))
            .is_some()
        );
        let mut c = raw(&server, "c", "pc");
        assert!(c.sync().is_empty());

        let pid_file = server.dir().join("server.pid");
        std::fs::write(&pid_file, &pid).unwrap();
        std::fs::write(server.dir().join("server.conf"), BEFORE).unwrap();
        let (status, out, err) = run_signal(&server, &format!("reload={}", pid_file.display()));
        assert!(status.success(), "{out}{err}");
        assert!(
            poll_until(RELOAD_TIMEOUT, || (occurrences(&server, RELOADED)
                > done + 1)
                .then_some(()))
            .is_some()
        );
        assert!(c.expect_closed().is_empty());
    }
}

/// `<server binary> --signal <what>`, with the binary of `server`.
fn run_signal(server: &TestServer, what: &str) -> (std::process::ExitStatus, String, String) {
    let binary = if server.is_tern() {
        server_binary()
    } else {
        reference_binary()
    };
    let output = std::process::Command::new(&binary.path)
        .args(["--signal", what])
        .output()
        .expect("run --signal");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn reload_without_a_config_file_is_refused() {
    for server in [
        ServerBuilder::new().start(),
        ServerBuilder::new().start_reference(),
    ] {
        server.signal(libc::SIGHUP);
        let line =
            format!("{FAILED}can only reload config when a file is provided using -c or --config");
        assert!(
            server.wait_for_log(&line, RELOAD_TIMEOUT),
            "{}",
            server.log()
        );
        let mut client = RawClient::connected(server.addr());
        assert!(client.sync().is_empty(), "still serving");
    }
}

#[test]
fn reloaded_limits_show_in_info_and_varz() {
    for server in [
        ServerBuilder::new()
            .config("ping_max: 2\n")
            .args(&["-m", "-1"])
            .start(),
        ServerBuilder::new()
            .config("ping_max: 2\n")
            .args(&["-m", "-1"])
            .start_reference(),
    ] {
        let monitor = server.monitor_addr().expect("monitor address");
        let before = http_json(monitor, "/varz");
        assert_eq!(before["start"], before["config_load_time"]);
        let pid_file = server.dir().join("reloaded.pid");
        let config = format!(
            "ping_max: 3\nmax_payload: 2000\nmax_connections: 77\npid_file: \"{}\"\n",
            pid_file.display()
        );
        reload(&server, &config).unwrap();
        assert_eq!(
            std::fs::read_to_string(&pid_file).unwrap().trim(),
            server.pid().to_string()
        );
        for line in ["Reloaded: max_payload = 2000", "Reloaded: ping_max = 3"] {
            assert!(
                server.wait_for_log(line, RELOAD_TIMEOUT),
                "{}",
                server.log()
            );
        }
        let (_, info) = RawClient::handshake(server.addr(), "{}");
        assert_eq!(info["max_payload"], 2000, "{info}");
        let varz = http_json(monitor, "/varz");
        assert_eq!(
            (
                &varz["max_payload"],
                &varz["ping_max"],
                &varz["max_connections"]
            ),
            (&2000.into(), &3.into(), &77.into()),
            "{varz}"
        );
        assert_ne!(varz["config_load_time"], varz["start"]);
    }
}
