//! Accounts, users, permissions, bcrypt and NKey authentication, black-box: raw protocol
//! bytes and async-nats. Where the exact bytes matter, the same conversation is held with
//! the reference nats-server 2.9.10 and the answers compared.

mod common;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use futures::StreamExt;

/// Two accounts with two users each, and a `$G` user.
const ACCOUNTS: &str = r#"
accounts {
  A { users = [ {user: a, password: pa}, {user: a2, password: pa2} ] }
  B { users = [ {user: b, password: pb}, {user: b2, password: pb2} ] }
}
authorization { users = [ {user: g, password: pg} ] }
"#;

fn login(user: &str, password: &str) -> String {
    format!(
        r#"{{"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"user":"{user}","pass":"{password}"}}"#
    )
}

fn raw(server: &TestServer, user: &str, password: &str) -> RawClient {
    RawClient::handshake(server.addr(), &login(user, password)).0
}

/// Connections spread over both of tern's cores: several per account, so each core is
/// almost surely serving both accounts.
const CONNECTIONS_PER_ACCOUNT: usize = 6;

#[test]
fn accounts_isolate_subjects_on_every_core() {
    let server = TestServer::start_with_config(ACCOUNTS, &[]);
    let mut a_subs: Vec<RawClient> = (0..CONNECTIONS_PER_ACCOUNT)
        .map(|_| raw(&server, "a", "pa"))
        .collect();
    let mut b_subs: Vec<RawClient> = (0..CONNECTIONS_PER_ACCOUNT)
        .map(|_| raw(&server, "b", "pb"))
        .collect();
    for client in a_subs.iter_mut().chain(b_subs.iter_mut()) {
        client.send("SUB foo 1\r\nSUB foo.* 2\r\nSUB foo q 3\r\n");
        assert!(client.sync().is_empty());
    }
    let mut g = raw(&server, "g", "pg");
    g.send("SUB foo 1\r\n");
    g.sync();

    let mut publisher = raw(&server, "a2", "pa2");
    publisher.send("PUB foo 2\r\nhi\r\n");
    publisher.sync();
    // Every A subscriber gets its plain copy (so the forward reached every core), one of
    // them the queue copy.
    let mut queue_copies = 0;
    for client in &mut a_subs {
        let mut got = Vec::new();
        while got.iter().all(|m: &Msg| m.sid != "1") {
            match client.read_frame() {
                Frame::Msg(msg) => got.push(msg),
                Frame::Ping => client.send("PONG\r\n"),
                other => panic!("unexpected {other:?}"),
            }
        }
        got.extend(client.sync_msgs());
        assert!(got.iter().all(|m| m.subject == "foo" && m.payload == b"hi"));
        queue_copies += got.iter().filter(|m| m.sid == "3").count();
    }
    assert_eq!(queue_copies, 1);
    // Nothing leaked into B or $G, on either core.
    for client in b_subs.iter_mut().chain([&mut g]) {
        assert_eq!(client.sync_msgs(), Vec::new());
    }

    // Request/reply and no-responders stay within the account: B's subscriber on `svc`
    // does not answer A's request.
    b_subs[0].send("SUB svc 9\r\n");
    b_subs[0].sync();
    publisher.send("SUB _INBOX.x 5\r\nPUB svc _INBOX.x 0\r\n\r\n");
    let frames = publisher.sync();
    let Some(Frame::Msg(status)) = frames.first() else {
        panic!("expected the no-responders status, got {frames:?}");
    };
    assert!(
        String::from_utf8_lossy(status.headers.as_deref().unwrap_or_default())
            .starts_with("NATS/1.0 503"),
        "{status:?}"
    );
    assert_eq!(b_subs[0].sync_msgs(), Vec::new());
}

#[tokio::test]
async fn accounts_with_async_nats() {
    let server = TestServer::start_with_config(ACCOUNTS, &[]);
    let a = connect_with(
        &server,
        async_nats::ConnectOptions::with_user_and_password("a".into(), "pa".into()),
    )
    .await;
    let b = connect_with(
        &server,
        async_nats::ConnectOptions::with_user_and_password("b".into(), "pb".into()),
    )
    .await;
    let a2 = connect_with(
        &server,
        async_nats::ConnectOptions::with_user_and_password("a2".into(), "pa2".into()),
    )
    .await;
    let mut in_b = b.subscribe("events").await.unwrap();
    let mut in_a = a2.subscribe("events").await.unwrap();
    settle(&b).await;
    settle(&a2).await;
    a.publish("events", "for A".into()).await.unwrap();
    b.publish("events", "for B".into()).await.unwrap();
    flush(&a).await;
    flush(&b).await;
    assert_eq!(recv(&mut in_a).await.payload, "for A");
    assert_eq!(recv(&mut in_b).await.payload, "for B");

    // A service in A answers A's requests; B's requests find nobody.
    let mut service = a2.subscribe("svc").await.unwrap();
    settle(&a2).await;
    let responder = a2.clone();
    tokio::spawn(async move {
        while let Some(request) = service.next().await {
            if let Some(reply) = request.reply {
                let _ = responder.publish(reply, "pong".into()).await;
            }
        }
    });
    let answer = a.request("svc", "ping".into()).await.unwrap();
    assert_eq!(answer.payload, "pong");
    let refused = b.request("svc", "ping".into()).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        async_nats::client::RequestErrorKind::NoResponders
    );
}

#[test]
fn bad_credentials_are_refused_and_closed() {
    let server = TestServer::start_with_config(ACCOUNTS, &[]);
    for connect in [
        login("a", "pb"),
        login("a", ""),
        login("nobody", "pa"),
        r#"{"verbose":false}"#.to_string(),
        r#"{"verbose":false,"auth_token":"pa"}"#.to_string(),
        r#"{"verbose":false,"user":"a"}"#.to_string(),
    ] {
        let mut client = RawClient::connect(server.addr());
        let info = client.read_info();
        assert_eq!(info["auth_required"], true, "{info}");
        client.send(format!("CONNECT {connect}\r\nPING\r\n"));
        client.expect_err_then_close("Authorization Violation");
    }
}

#[test]
fn no_auth_user_binds_anonymous_clients_to_its_account() {
    let server = TestServer::start_with_config(&format!("{ACCOUNTS}\nno_auth_user: b\n"), &[]);
    let mut anonymous = RawClient::connect(server.addr());
    let info = anonymous.read_info();
    assert!(
        info.get("auth_required").is_none_or(|v| v == false),
        "{info}"
    );
    anonymous.send("CONNECT {\"verbose\":false}\r\nSUB x 1\r\nPING\r\n");
    anonymous.expect_pong_skipping_info();
    let mut b = raw(&server, "b2", "pb2");
    let mut a = raw(&server, "a", "pa");
    a.send("PUB x 1\r\na\r\n");
    a.sync();
    b.send("PUB x 1\r\nb\r\n");
    b.sync();
    let msgs = anonymous.sync_msgs();
    // Cross-core delivery may still be on its way: wait for B's message.
    let mut msgs = msgs;
    while msgs.is_empty() {
        match anonymous.read_frame() {
            Frame::Msg(msg) => msgs.push(msg),
            Frame::Ping => anonymous.send("PONG\r\n"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].payload, b"b");
    // Credentials, when given, must still be right.
    let mut wrong = RawClient::connect(server.addr());
    wrong.read_info();
    wrong.send(format!("CONNECT {}\r\nPING\r\n", login("a", "nope")));
    wrong.expect_err_then_close("Authorization Violation");
}

#[test]
fn unauthenticated_connections_time_out() {
    let server = TestServer::start_with_config(
        "authorization { timeout: 1 }\naccounts { A { users = [ {user: a, password: pa} ] } }\n",
        &[],
    );
    let mut idle = RawClient::connect(server.addr());
    assert_eq!(idle.read_info()["auth_required"], true);
    idle.expect_within("-ERR 'Authentication Timeout'\r\n", Duration::from_secs(5));
    assert!(idle.expect_closed().is_empty());
    // An authenticated connection is not affected.
    let mut busy = raw(&server, "a", "pa");
    std::thread::sleep(Duration::from_millis(1_200));
    assert!(busy.sync().is_empty());
}

#[test]
fn ops_before_connect_are_refused_with_users() {
    let server = TestServer::start_with_config(ACCOUNTS, &[]);
    for op in ["SUB foo 1\r\n", "PUB foo 0\r\n\r\n", "UNSUB 1\r\n"] {
        let mut client = RawClient::connect(server.addr());
        client.read_info();
        client.send(op);
        client.expect_err_then_close("Authorization Violation");
    }
}

const PERMISSIONS: &str = r#"
accounts {
  A {
    users = [
      {user: limited, password: p, permissions: {
        publish: { allow: ["foo.>", "_INBOX.>", "req"], deny: "foo.secret" }
        subscribe: { allow: ["foo.>", "bar v1", "baz", "_INBOX.>"], deny: ["foo.secret", "baz *.prod"] }
      }}
      {user: short, password: p, permissions: { publish: "only", subscribe: ["one", "two"] }}
      {user: responder, password: p, permissions: { subscribe: "svc", allow_responses: { max: 2 } }}
      {user: open, password: p}
    ]
  }
}
"#;

/// What the `limited` user hears back for a series of violations and permitted ops.
fn permission_conversation(server: &TestServer) -> Vec<Frame> {
    let mut client = raw(server, "limited", "p");
    client.send(concat!(
        "PUB foo.secret 0\r\n\r\n",
        "PUB bar 0\r\n\r\n",
        "PUB foo.ok 0\r\n\r\n",
        "SUB foo.* 1\r\n",
        "SUB foo.secret 2\r\n",
        "SUB bar 3\r\n",
        "SUB bar v1 4\r\n",
        "SUB bar v2 5\r\n",
        "SUB baz x.prod 6\r\n",
        "SUB baz q 7\r\n",
        "SUB foo.> 8\r\n",
        "SUB foo.secret q 9\r\n",
        "SUB other 10\r\n",
    ));
    let mut frames = client.sync();
    let mut short = raw(server, "short", "p");
    short.send("PUB only 0\r\n\r\nPUB other 0\r\n\r\nSUB one 1\r\nSUB three 2\r\n");
    frames.extend(short.sync());
    frames
}

#[test]
fn permission_errors_match_nats_server() {
    let tern = TestServer::start_with_config(PERMISSIONS, &[]);
    let ours = permission_conversation(&tern);
    let reference = ServerBuilder::new().config(PERMISSIONS).start_reference();
    let theirs = permission_conversation(&reference);
    assert_eq!(ours, theirs);
    for server in [&tern, &reference] {
        for line in [
            r#"Publish Violation - User "limited", Subject "foo.secret""#,
            r#"Subscription Violation - User "limited", Subject "bar", Queue: "v2", SID 5"#,
        ] {
            assert!(
                server.wait_for_log(line, Duration::from_secs(5)),
                "no {line:?} in\n{}",
                server.log()
            );
        }
    }
    let err = |text: &str| Frame::Err(text.to_string());
    assert_eq!(
        ours,
        [
            err(r#"Permissions Violation for Publish to "foo.secret""#),
            err(r#"Permissions Violation for Publish to "bar""#),
            err(r#"Permissions Violation for Subscription to "foo.secret""#),
            err(r#"Permissions Violation for Subscription to "bar""#),
            err(r#"Permissions Violation for Subscription to "bar" using queue "v2""#),
            err(r#"Permissions Violation for Subscription to "baz" using queue "x.prod""#),
            err(r#"Permissions Violation for Subscription to "foo.secret" using queue "q""#),
            err(r#"Permissions Violation for Subscription to "other""#),
            err(r#"Permissions Violation for Publish to "other""#),
            err(r#"Permissions Violation for Subscription to "three""#),
        ]
    );
}

#[test]
fn verbose_violation_replaces_the_ok_and_keeps_the_connection() {
    let server = TestServer::start_with_config(PERMISSIONS, &[]);
    let (mut client, _) = RawClient::handshake(
        server.addr(),
        r#"{"verbose":true,"user":"short","pass":"p"}"#,
    );
    client.send("PUB other 0\r\n\r\nPUB only 0\r\n\r\n");
    client.expect("-ERR 'Permissions Violation for Publish to \"other\"'\r\n+OK\r\n");
    client.send("SUB three 1\r\nSUB one 2\r\n");
    client.expect("-ERR 'Permissions Violation for Subscription to \"three\"'\r\n+OK\r\n");
}

#[test]
fn denied_subjects_are_filtered_from_wildcard_subscriptions() {
    let server = TestServer::start_with_config(PERMISSIONS, &[]);
    let mut limited = raw(&server, "limited", "p");
    limited.send("SUB foo.* 1\r\n");
    limited.sync();
    let mut open = raw(&server, "open", "p");
    open.send("PUB foo.secret 6\r\nsecret\r\nPUB foo.open 4\r\nopen\r\n");
    open.sync();
    let mut got = limited.sync_msgs();
    while got.is_empty() {
        match limited.read_frame() {
            Frame::Msg(msg) => got.push(msg),
            Frame::Ping => limited.send("PONG\r\n"),
            other => panic!("unexpected {other:?}"),
        }
    }
    got.extend(limited.sync_msgs());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].subject, "foo.open");
}

#[test]
fn allow_responses_permits_only_replies_to_received_requests() {
    let server = TestServer::start_with_config(PERMISSIONS, &[]);
    let mut responder = raw(&server, "responder", "p");
    responder.send("SUB svc 1\r\n");
    responder.sync();
    let mut requester = raw(&server, "open", "p");
    requester.send("SUB reply.1 1\r\nPUB svc reply.1 3\r\nreq\r\n");
    requester.sync();
    let mut got = responder.sync_msgs();
    while got.is_empty() {
        match responder.read_frame() {
            Frame::Msg(msg) => got.push(msg),
            Frame::Ping => responder.send("PONG\r\n"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got[0].reply.as_deref(), Some("reply.1"));
    // Up to `max: 2` responses; the third, and any other subject, are refused.
    responder.send("PUB reply.1 1\r\n1\r\nPUB reply.1 1\r\n2\r\nPUB reply.1 1\r\n3\r\n");
    responder.send("PUB svc 0\r\n\r\nPUB reply.2 0\r\n\r\n");
    assert_eq!(
        responder.sync(),
        [
            Frame::Err(r#"Permissions Violation for Publish to "reply.1""#.to_string()),
            Frame::Err(r#"Permissions Violation for Publish to "svc""#.to_string()),
            Frame::Err(r#"Permissions Violation for Publish to "reply.2""#.to_string()),
        ]
    );
    let mut answers = Vec::new();
    while answers.len() < 2 {
        match requester.read_frame() {
            Frame::Msg(msg) => answers.push(msg.payload),
            Frame::Ping => requester.send("PONG\r\n"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(answers, [b"1".to_vec(), b"2".to_vec()]);
    assert!(requester.sync_msgs().is_empty());
}

#[tokio::test]
async fn permissions_with_async_nats() {
    let server = TestServer::start_with_config(PERMISSIONS, &[]);
    let limited = connect_with(
        &server,
        async_nats::ConnectOptions::with_user_and_password("limited".into(), "p".into()),
    )
    .await;
    let open = connect_with(
        &server,
        async_nats::ConnectOptions::with_user_and_password("open".into(), "p".into()),
    )
    .await;
    // A request through the allowed `req` subject and `_INBOX.>` replies works.
    let mut service = open.subscribe("req").await.unwrap();
    settle(&open).await;
    let responder = open.clone();
    tokio::spawn(async move {
        while let Some(request) = service.next().await {
            if let Some(reply) = request.reply {
                let _ = responder.publish(reply, "ok".into()).await;
            }
        }
    });
    let answer = limited.request("req", "x".into()).await.unwrap();
    assert_eq!(answer.payload, "ok");
}

#[test]
fn bcrypt_passwords() {
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    assert!(hash.starts_with("$2"));
    let server = TestServer::start_with_config(
        &format!("accounts {{ A {{ users = [ {{user: a, password: \"{hash}\"}} ] }} }}\n"),
        &[],
    );
    let (mut client, _) = RawClient::handshake(server.addr(), &login("a", "s3cret"));
    assert!(client.sync().is_empty());
    let mut wrong = RawClient::connect(server.addr());
    wrong.read_info();
    wrong.send(format!("CONNECT {}\r\nPING\r\n", login("a", "S3cret")));
    wrong.expect_err_then_close("Authorization Violation");
    // The hash itself is not a password.
    let mut hash_as_password = RawClient::connect(server.addr());
    hash_as_password.read_info();
    hash_as_password.send(format!("CONNECT {}\r\nPING\r\n", login("a", &hash)));
    hash_as_password.expect_err_then_close("Authorization Violation");
}

#[tokio::test]
async fn bcrypt_token_with_async_nats() {
    let hash = bcrypt::hash("tok", 4).unwrap();
    let server =
        TestServer::start_with_config(&format!("authorization {{ token: \"{hash}\" }}\n"), &[]);
    let client = connect_with(
        &server,
        async_nats::ConnectOptions::with_token("tok".into()),
    )
    .await;
    flush(&client).await;
}

fn nkey_config(public_key: &str) -> String {
    format!(
        "accounts {{ A {{ users = [ {{nkey: {public_key}, permissions: {{ publish: \"ok.>\" }} }}, {{user: a, password: pa}} ] }} }}\n"
    )
}

#[tokio::test]
async fn nkey_users_with_async_nats() {
    let user = nkeys::KeyPair::new_user();
    let server = TestServer::start_with_config(&nkey_config(&user.public_key()), &[]);
    let client = connect_with(
        &server,
        async_nats::ConnectOptions::with_nkey(user.seed().unwrap()),
    )
    .await;
    let peer = connect_with(
        &server,
        async_nats::ConnectOptions::with_user_and_password("a".into(), "pa".into()),
    )
    .await;
    let mut sub = peer.subscribe("ok.>").await.unwrap();
    settle(&peer).await;
    client.publish("ok.1", "from nkey".into()).await.unwrap();
    flush(&client).await;
    assert_eq!(recv(&mut sub).await.payload, "from nkey");

    // Another key is not a user.
    let stranger = nkeys::KeyPair::new_user();
    let refused = async_nats::ConnectOptions::with_nkey(stranger.seed().unwrap())
        .max_reconnects(Some(0))
        .connect(server.url())
        .await;
    assert!(refused.is_err());
}

#[test]
fn nkey_signatures_are_checked() {
    let user = nkeys::KeyPair::new_user();
    let key = user.public_key();
    let server = TestServer::start_with_config(&nkey_config(&key), &[]);

    let mut good = RawClient::connect(server.addr());
    let info = good.read_info();
    let nonce = info["nonce"]
        .as_str()
        .expect("INFO has a nonce")
        .to_string();
    assert_eq!(nonce.len(), 15, "{info}");
    let sig = URL_SAFE_NO_PAD.encode(user.sign(nonce.as_bytes()).unwrap());
    good.send(format!(
        "CONNECT {{\"verbose\":false,\"nkey\":\"{key}\",\"sig\":\"{sig}\"}}\r\nPING\r\n"
    ));
    good.expect_pong_skipping_info();

    // Every connection gets its own nonce: an old signature is worthless.
    let mut replay = RawClient::connect(server.addr());
    let other_nonce = replay.read_info()["nonce"].as_str().unwrap().to_string();
    assert_ne!(other_nonce, nonce);
    let stranger = nkeys::KeyPair::new_user();
    let huge = "A".repeat(3000);
    let mut truncated_key = key.clone();
    truncated_key.truncate(40);
    let bad: Vec<(String, String)> = vec![
        (key.clone(), sig.clone()),
        (key.clone(), String::new()),
        (key.clone(), "not base64 !!!".to_string()),
        (key.clone(), sig[..40].to_string()),
        (key.clone(), huge.clone()),
        (truncated_key, sig.clone()),
        (huge, sig.clone()),
        ("UGARBAGE".to_string(), sig.clone()),
        (stranger.public_key(), sig.clone()),
    ];
    let mut first = Some(replay);
    for (nkey, sig) in bad {
        let mut client = first.take().unwrap_or_else(|| {
            let mut c = RawClient::connect(server.addr());
            c.read_info();
            c
        });
        client.send(format!(
            "CONNECT {{\"verbose\":false,\"nkey\":\"{nkey}\",\"sig\":\"{sig}\"}}\r\nPING\r\n"
        ));
        client.expect_err_then_close("Authorization Violation");
    }
    // No signature at all.
    let mut unsigned = RawClient::connect(server.addr());
    unsigned.read_info();
    unsigned.send(format!(
        "CONNECT {{\"verbose\":false,\"nkey\":\"{key}\"}}\r\nPING\r\n"
    ));
    unsigned.expect_err_then_close("Authorization Violation");
}

/// With accounts configured, JetStream belongs only to the accounts with a `jetstream`
/// block (nats-server 2.9.10): `$G` and the others answer 10039, not no-responders. Per
/// account JetStream itself is tested in `tests/jetstream_accounts.rs`.
#[tokio::test]
async fn accounts_without_a_jetstream_block_have_no_jetstream() {
    let config = format!("{ACCOUNTS}\njetstream {{ store_dir: \"{{DIR}}\" }}\n");
    let builder = ServerBuilder::new();
    let config = config.replace("{DIR}", &builder.dir().join("js").display().to_string());
    let server = builder.config(&config).start();
    for (user, password) in [("g", "pg"), ("a", "pa")] {
        let client = connect_with(
            &server,
            async_nats::ConnectOptions::with_user_and_password(user.into(), password.into()),
        )
        .await;
        for subject in [
            "$JS.API.INFO",
            "$JS.API.STREAM.INFO.S",
            "$JS.API.STREAM.NAMES",
        ] {
            let answer = json_request(&client, subject, serde_json::Value::Null).await;
            assert_eq!(
                answer["error"]["err_code"], 10039,
                "{user} {subject}: {answer}"
            );
            assert_eq!(answer["error"]["code"], 503, "{user} {subject}: {answer}");
        }
    }
}

/// Returns once the server has processed everything `client` sent before: async-nats's
/// `flush()` makes no round trip, so a subscription is only known to be in place (for
/// publishers on other connections) after a message of our own came back through it.
async fn settle(client: &async_nats::Client) {
    let inbox = client.new_inbox();
    let mut probe = client.subscribe(inbox.clone()).await.unwrap();
    client.publish(inbox, "probe".into()).await.unwrap();
    flush(client).await;
    recv(&mut probe).await;
}

const EXPORTS: &str = r#"
accounts {
  A {
    users = [ {user: a, password: pa} ]
    exports = [
      {stream: "news.>"}
      {service: "svc.>", accounts: [B]}
    ]
  }
  B {
    users = [ {user: b, password: pb} ]
    imports = [
      {stream: {account: A, subject: "news.>"}, prefix: "from_a"}
      {service: {account: A, subject: "svc.time"}, to: "time"}
    ]
  }
  C {
    users = [ {user: c, password: pc} ]
    imports = [ {stream: {account: A, subject: "news.sports"}} ]
  }
}
"#;

/// Reads frames until `n` messages arrived (answering server PINGs).
fn read_msgs(client: &mut RawClient, n: usize) -> Vec<Msg> {
    let mut msgs = Vec::new();
    while msgs.len() < n {
        match client.read_frame() {
            Frame::Msg(msg) => msgs.push(msg),
            Frame::Ping => client.send("PONG\r\n"),
            other => panic!("unexpected {other:?}"),
        }
    }
    msgs
}

#[test]
fn stream_exports_reach_importers_only() {
    let server = TestServer::start_with_config(EXPORTS, &[]);
    let mut b: Vec<RawClient> = (0..CONNECTIONS_PER_ACCOUNT)
        .map(|_| raw(&server, "b", "pb"))
        .collect();
    let mut c = raw(&server, "c", "pc");
    for client in &mut b {
        client.send("SUB from_a.news.> 1\r\nSUB news.> 2\r\n");
        client.sync();
    }
    c.send("SUB news.> 1\r\nSUB from_a.> 2\r\n");
    c.sync();
    let mut a = raw(&server, "a", "pa");
    a.send("SUB news.> 1\r\n");
    a.send("PUB news.weather 4\r\nrain\r\nPUB news.sports 4\r\ngoal\r\nPUB other 1\r\nx\r\n");
    let own: Vec<String> = read_msgs(&mut a, 2)
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert_eq!(own, ["news.weather", "news.sports"]);
    // Every B connection (on either core) gets both under the prefix, none unprefixed.
    for client in &mut b {
        let got: Vec<(String, String)> = read_msgs(client, 2)
            .into_iter()
            .map(|m| (m.subject, m.sid))
            .collect();
        assert_eq!(
            got,
            [
                ("from_a.news.weather".to_string(), "1".to_string()),
                ("from_a.news.sports".to_string(), "1".to_string())
            ]
        );
    }
    // C imported only news.sports, without a prefix.
    let got = read_msgs(&mut c, 1);
    assert_eq!(
        (got[0].subject.as_str(), got[0].payload.as_slice()),
        ("news.sports", &b"goal"[..])
    );
    // Importers' own publishes stay home: every B connection gets B's publish on its
    // `news.>` subscription (so it reached both cores), A and C nothing.
    b[0].send("PUB news.weather 1\r\nx\r\n");
    for client in &mut b {
        let got = read_msgs(client, 1);
        assert_eq!(
            (got[0].sid.as_str(), got[0].payload.as_slice()),
            ("2", &b"x"[..])
        );
        assert!(client.sync_msgs().is_empty());
    }
    assert!(a.sync_msgs().is_empty());
    assert!(c.sync_msgs().is_empty());
}

#[test]
fn service_imports_carry_requests_and_replies_across_accounts() {
    let server = TestServer::start_with_config(EXPORTS, &[]);
    let mut responders: Vec<RawClient> = (0..2).map(|_| raw(&server, "a", "pa")).collect();
    for responder in &mut responders {
        responder.send("SUB svc.time q 1\r\n");
        responder.sync();
    }
    let mut requesters: Vec<RawClient> = (0..CONNECTIONS_PER_ACCOUNT)
        .map(|_| raw(&server, "b", "pb"))
        .collect();
    for (i, requester) in requesters.iter_mut().enumerate() {
        requester.send(format!(
            "SUB _INBOX.{i} 1\r\nPUB time _INBOX.{i} 2\r\nq{i}\r\n"
        ));
        requester.sync();
    }
    // Answer every request on whichever responder it reached.
    let mut answered = 0;
    while answered < requesters.len() {
        for responder in &mut responders {
            for request in responder.sync_msgs() {
                assert_eq!(request.subject, "svc.time");
                let reply = request.reply.expect("a reply subject");
                assert!(reply.starts_with("_R_."), "{reply}");
                let body = String::from_utf8(request.payload).unwrap();
                responder.send(format!("PUB {reply} {}\r\nre-{body}\r\n", body.len() + 3));
                answered += 1;
            }
        }
    }
    for (i, requester) in requesters.iter_mut().enumerate() {
        let got = read_msgs(requester, 1);
        assert_eq!(got[0].subject, format!("_INBOX.{i}"));
        assert_eq!(got[0].payload, format!("re-q{i}").into_bytes());
    }
    // A reply mapping is good for one response: a second one goes nowhere.
    // And C, not listed on the private service export, sees none of it.
    let mut c = raw(&server, "c", "pc");
    c.send("SUB time 1\r\nSUB svc.> 2\r\nSUB _INBOX.> 3\r\n");
    c.sync();
    requesters[0].send("PUB svc.time _INBOX.0 0\r\n\r\n");
    requesters[0].sync();
    assert!(c.sync_msgs().is_empty());
    for responder in &mut responders {
        assert!(responder.sync_msgs().is_empty());
    }
}

#[tokio::test]
async fn service_imports_with_async_nats() {
    let server = TestServer::start_with_config(EXPORTS, &[]);
    let a = connect_with(
        &server,
        async_nats::ConnectOptions::with_user_and_password("a".into(), "pa".into()),
    )
    .await;
    let b = connect_with(
        &server,
        async_nats::ConnectOptions::with_user_and_password("b".into(), "pb".into()),
    )
    .await;
    // Nobody serves it yet: tern tells the importer "no responders" at once (nats-server
    // 2.9.10 lets such a request time out).
    if !is_reference() {
        let refused = b.request("time", "now?".into()).await.unwrap_err();
        assert_eq!(
            refused.kind(),
            async_nats::client::RequestErrorKind::NoResponders
        );
    }
    let mut service = a.subscribe("svc.time").await.unwrap();
    settle(&a).await;
    let responder = a.clone();
    tokio::spawn(async move {
        while let Some(request) = service.next().await {
            if let Some(reply) = request.reply {
                let _ = responder.publish(reply, "12:00".into()).await;
            }
        }
    });
    for _ in 0..5 {
        let answer = b.request("time", "now?".into()).await.unwrap();
        assert_eq!(answer.payload, "12:00");
    }
}

#[test]
fn imports_must_be_exported_to_the_importer() {
    for (config, why) in [
        (
            "accounts { A { exports = [ {service: svc, accounts: [B]} ] }, B {}, C { imports = [ {service: {account: A, subject: svc}} ] } }",
            "private service",
        ),
        (
            "accounts { A { exports = [ {stream: \"a.b\"} ] }, C { imports = [ {stream: {account: A, subject: \"a.>\"}} ] } }",
            "wider than the export",
        ),
        (
            "accounts { C { imports = [ {stream: {account: Z, subject: x}} ] } }",
            "unknown account",
        ),
    ] {
        let started = ServerBuilder::new().config(config).try_start();
        assert!(started.is_err(), "{why}: started anyway");
    }
}

#[test]
fn clients_can_not_use_the_service_reply_prefix() {
    let server = TestServer::start_with_config(EXPORTS, &[]);
    for (user, password) in [("a", "pa"), ("b", "pb")] {
        let mut client = raw(&server, user, password);
        client.send("SUB x 1\r\nPUB x _R_.abc 1\r\na\r\nPUB x _R_ 1\r\nb\r\n");
        let frames = client.sync();
        assert_eq!(
            frames[0],
            Frame::Err(r#"Permissions Violation for Publish with Reply of "_R_.abc""#.to_string())
        );
        let Frame::Msg(msg) = &frames[1] else {
            panic!("{frames:?}");
        };
        assert_eq!(
            (msg.reply.as_deref(), msg.payload.as_slice()),
            (Some("_R_"), &b"b"[..])
        );
        assert_eq!(frames.len(), 2);
    }
}

#[test]
fn accountz_lists_the_configured_accounts() {
    let server = TestServer::start_with_config(EXPORTS, &["-m", "-1"]);
    let monitor = server.monitor_addr().expect("monitor address");
    let accountz = http_json(monitor, "/accountz");
    assert_eq!(accountz["system_account"], "$SYS", "{accountz}");
    let mut names: Vec<&str> = accountz["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["$G", "$SYS", "A", "B", "C"]);
}

#[test]
fn connz_filters_by_account() {
    let server = TestServer::start_with_config(EXPORTS, &["-m", "-1"]);
    let monitor = server.monitor_addr().expect("monitor address");
    let _a = raw(&server, "a", "pa");
    let _b1 = raw(&server, "b", "pb");
    let _b2 = raw(&server, "b", "pb");
    let connz = http_json(monitor, "/connz?acc=B&auth=true");
    assert_eq!(connz["num_connections"], 2, "{connz}");
    for conn in connz["connections"].as_array().unwrap() {
        assert_eq!(conn["account"], "B", "{conn}");
        assert_eq!(conn["authorized_user"], "b", "{conn}");
    }
    let connz = http_json(monitor, "/connz?acc=A&auth=true");
    assert_eq!(connz["num_connections"], 1, "{connz}");
    assert_eq!(connz["connections"][0]["account"], "A");
}

#[test]
fn singleton_and_stream_service_responses() {
    let config = r#"
accounts {
  A {
    users = [ {user: a, password: pa} ]
    exports = [ {service: "one"}, {service: "many", response_type: stream} ]
  }
  B {
    users = [ {user: b, password: pb} ]
    imports = [ {service: {account: A, subject: "one"}}, {service: {account: A, subject: "many"}} ]
  }
}
"#;
    let server = TestServer::start_with_config(config, &[]);
    let mut responder = raw(&server, "a", "pa");
    responder.send("SUB one 1\r\nSUB many 2\r\n");
    responder.sync();
    let mut requester = raw(&server, "b", "pb");
    requester.send(
        "SUB in.one 1\r\nSUB in.many 2\r\nPUB one in.one 0\r\n\r\nPUB many in.many 0\r\n\r\n",
    );
    requester.sync();
    let requests = read_msgs(&mut responder, 2);
    let reply_one = requests[0].reply.clone().unwrap();
    let reply_many = requests[1].reply.clone().unwrap();
    // Two answers to the singleton, three to the stream request; the stream's come after,
    // so once they are in, the singleton's second answer would have been too.
    responder.send(format!(
        "PUB {reply_one} 2\r\n#1\r\nPUB {reply_one} 2\r\n#2\r\n"
    ));
    for i in 1..=3 {
        responder.send(format!("PUB {reply_many} 2\r\n~{i}\r\n"));
    }
    responder.sync();
    let got = read_msgs(&mut requester, 4);
    let got: Vec<(String, Vec<u8>)> = got.into_iter().map(|m| (m.subject, m.payload)).collect();
    assert_eq!(
        got,
        [
            ("in.one".to_string(), b"#1".to_vec()),
            ("in.many".to_string(), b"~1".to_vec()),
            ("in.many".to_string(), b"~2".to_vec()),
            ("in.many".to_string(), b"~3".to_vec()),
        ]
    );
    assert!(requester.sync_msgs().is_empty());
}

/// The details `/accountz?acc=` gives that both servers agree on: everything but the
/// subscription counts (nats-server's own internal subscriptions are in them) and the
/// system service imports and exports nats-server adds to every account and to `$SYS`
/// (tern serves system requests to the system account only, see tests/internal_services.rs).
fn comparable_account_detail(detail: &serde_json::Value) -> serde_json::Value {
    let mut info = detail["account_detail"].clone();
    let object = info.as_object_mut().expect("account_detail");
    for key in ["update_time", "subscriptions"] {
        assert!(object.remove(key).is_some(), "no {key} in {detail}");
    }
    let stats = object.remove("sublist_stats").expect("sublist_stats");
    let mut stat_keys: Vec<&String> = stats.as_object().unwrap().keys().collect();
    stat_keys.sort();
    object.insert("sublist_stats".into(), serde_json::json!(stat_keys));
    let sorted = |value: Option<serde_json::Value>, keep: &dyn Fn(&serde_json::Value) -> bool| {
        let mut items: Vec<serde_json::Value> = value
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|i| keep(i))
            .collect();
        items.sort_by_key(|i| i.to_string());
        items
    };
    let imports = sorted(object.remove("imports"), &|i| i["account"] != "$SYS");
    let exports = sorted(object.remove("exports"), &|e| {
        !e["subject"].as_str().unwrap_or("").starts_with("$SYS.")
    });
    object.insert("imports".into(), serde_json::json!(imports));
    object.insert("exports".into(), serde_json::json!(exports));
    info
}

#[test]
fn accountz_details_match_nats_server() {
    let config = EXPORTS.replace(
        "  C {",
        "  D { exports = [ {service: \"chunks\", response_type: chunked} ] }\n  C {",
    );
    let config = config.replace(
        "{service: \"svc.>\", accounts: [B]}",
        "{service: \"svc.>\", accounts: [B]}\n      {service: \"stream.svc\", response_type: stream}",
    );
    let tern = ServerBuilder::new()
        .config(&config)
        .args(&["-m", "-1"])
        .start();
    let reference = ServerBuilder::new()
        .config(&config)
        .args(&["-m", "-1"])
        .start_reference();
    let mut details = Vec::new();
    for server in [&tern, &reference] {
        let mut b = raw(server, "b", "pb");
        b.send("SUB from_a.news.x 1\r\nSUB time 2\r\n");
        b.sync();
        let _b2 = raw(server, "b", "pb");
        let monitor = server.monitor_addr().expect("monitor address");
        let mut per_server = Vec::new();
        for account in ["A", "B", "C", "D", "%24SYS"] {
            let detail = http_json(monitor, &format!("/accountz?acc={account}"));
            per_server.push(comparable_account_detail(&detail));
        }
        let b_detail = &http_json(monitor, "/accountz?acc=B")["account_detail"];
        assert!(
            b_detail["subscriptions"].as_u64().unwrap() >= 2,
            "{b_detail}"
        );
        details.push(per_server);
    }
    assert_eq!(details[0], details[1]);
    // And they say what the configuration says.
    let b = &details[0][1];
    assert_eq!(b["client_connections"], 2);
    assert_eq!(
        b["imports"][0],
        serde_json::json!({"subject": "news.>", "account": "A", "local_subject": "from_a.news.>",
            "type": "stream", "invalid": false, "share": false, "tracking": false})
    );
    assert_eq!(
        b["imports"][1],
        serde_json::json!({"subject": "time", "account": "A", "to": "svc.time",
            "type": "service", "invalid": false, "share": false, "tracking": false})
    );
    assert_eq!(details[0][4]["is_system"], true);
}

#[test]
fn importing_from_the_global_account_is_refused_as_by_nats_server() {
    let config = r#"
accounts {
  A { users = [ {user: a, password: pa} ], imports = [ {stream: {account: "$G", subject: "g.>"}} ] }
}
"#;
    let reference_config =
        "accounts {\n  \"$G\" { exports = [ {stream: \"g.>\"} ] }\n  A { users = [ {user: a} ] }\n}\n";
    let mut outputs = Vec::new();
    for binary in [server_binary(), reference_binary()] {
        let dir = tempfile::tempdir().unwrap();
        let mut texts = Vec::new();
        for text in [config, reference_config] {
            let path = dir.path().join("server.conf");
            std::fs::write(&path, text).unwrap();
            let mut child = std::process::Command::new(&binary.path)
                .args(["-a", "127.0.0.1", "-p", "-1", "-c"])
                .arg(&path)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let exited = poll_until(Duration::from_secs(5), || child.try_wait().unwrap());
            if exited.is_none() {
                let _ = child.kill();
                panic!("{} started with {text}", binary.path.display());
            }
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            texts.push(stderr);
        }
        outputs.push(texts);
    }
    for texts in &outputs {
        assert!(
            texts[0].contains("\"$G\" account not defined for stream import"),
            "{texts:?}"
        );
        assert!(
            texts[1].contains("\"$G\" is a Reserved Account"),
            "{texts:?}"
        );
    }
}
