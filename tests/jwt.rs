//! Decentralized JWT authentication (operator mode), black-box: keys and JWTs are made
//! here with the `nkeys` crate (tests/common/jwt.rs), clients connect with async-nats
//! `.creds` files and with raw CONNECTs. Every test also runs against the reference
//! nats-server 2.9.10 (`TERN_TEST_SERVER=nats-server`), which answers the same.

mod common;

use std::time::Duration;

use common::jwt::{account_jwt, encode, now_s, operator_jwt, user_jwt, User};
use common::*;
use futures::StreamExt;
use nkeys::KeyPair;
use serde_json::{json, Value};

/// An operator with a signing key, a system account, and accounts A (with a signing key)
/// and B, all preloaded into a MEMORY resolver.
struct Fixture {
    operator: KeyPair,
    operator_signing: KeyPair,
    sys: KeyPair,
    a: KeyPair,
    a_signing: KeyPair,
    b: KeyPair,
    /// Account JWTs by key, for the preload block (or resolver directory).
    accounts: Vec<(String, String)>,
    /// The operator JWT, made once (a reload must see the same one).
    operator_token: String,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with(json!({}), json!({}))
    }

    /// `a_extra` / `b_extra` overlay the account JWTs' `nats`.
    fn with(a_extra: Value, b_extra: Value) -> Fixture {
        let operator = KeyPair::new_operator();
        let operator_signing = KeyPair::new_operator();
        let sys = KeyPair::new_account();
        let a = KeyPair::new_account();
        let a_signing = KeyPair::new_account();
        let b = KeyPair::new_account();
        let mut a_extra = a_extra;
        if a_extra.get("signing_keys").is_none() {
            a_extra["signing_keys"] = json!([a_signing.public_key()]);
        }
        let accounts = vec![
            (
                sys.public_key(),
                account_jwt(&operator, &sys.public_key(), json!({})),
            ),
            (
                a.public_key(),
                account_jwt(&operator_signing, &a.public_key(), a_extra),
            ),
            (
                b.public_key(),
                account_jwt(&operator, &b.public_key(), b_extra),
            ),
        ];
        let operator_token = operator_jwt(
            &operator,
            json!({"signing_keys": [operator_signing.public_key()],
                   "system_account": sys.public_key()}),
        );
        Fixture {
            operator,
            operator_signing,
            sys,
            a,
            a_signing,
            b,
            accounts,
            operator_token,
        }
    }

    fn operator_jwt(&self) -> String {
        self.operator_token.clone()
    }

    /// Operator inline, MEMORY resolver with every account preloaded.
    fn memory_config(&self) -> String {
        let preload: String = self
            .accounts
            .iter()
            .map(|(key, jwt)| format!("  {key}: \"{jwt}\"\n"))
            .collect();
        format!(
            "operator: \"{}\"\nsystem_account: {}\nresolver: MEMORY\nresolver_preload {{\n{preload}}}\n",
            self.operator_jwt(),
            self.sys.public_key()
        )
    }

    fn start(&self) -> TestServer {
        TestServer::start_with_config(&self.memory_config(), &[])
    }

    fn user_a(&self, extra: Value) -> User {
        User::new(&self.a, None, extra)
    }

    fn user_b(&self, extra: Value) -> User {
        User::new(&self.b, None, extra)
    }
}

/// Connects raw, signs the INFO nonce as `user` (or sends `connect` as given when it is
/// Some), and returns the client with the first answer to `CONNECT`+`PING`.
fn raw_login(server: &TestServer, connect: impl FnOnce(&str) -> String) -> (RawClient, Frame) {
    let mut client = RawClient::connect(server.addr());
    let info = client.read_info();
    assert_eq!(info["auth_required"], true, "{info}");
    let nonce = info["nonce"].as_str().expect("nonce in INFO").to_string();
    client.send(format!("CONNECT {}\r\nPING\r\n", connect(&nonce)));
    let frame = client.read_frame();
    (client, frame)
}

fn logged_in(server: &TestServer, user: &User) -> RawClient {
    let (client, frame) = raw_login(server, |nonce| user.connect_json(nonce));
    assert_eq!(frame, Frame::Pong, "login refused; log:\n{}", server.log());
    client
}

fn refused(server: &TestServer, connect: impl FnOnce(&str) -> String) {
    let (mut client, frame) = raw_login(server, connect);
    assert_eq!(
        frame,
        Frame::Err("Authorization Violation".to_string()),
        "log:\n{}",
        server.log()
    );
    client.expect_closed();
}

fn refused_user(server: &TestServer, user: &User) {
    refused(server, |nonce| user.connect_json(nonce));
}

#[tokio::test]
async fn creds_files_connect_with_async_nats() {
    let fixture = Fixture::new();
    let server = fixture.start();
    let dir = tempfile::tempdir().unwrap();
    let user = fixture.user_a(json!({}));
    let path = user.write_creds(dir.path(), "a");
    let options = async_nats::ConnectOptions::with_credentials_file(path)
        .await
        .expect("creds file");
    let subscriber_client = connect_with(&server, options).await;
    let mut subscriber = subscriber_client.subscribe("greet").await.unwrap();
    // A round trip, so the server has the subscription before the other client publishes
    // (async-nats's flush only writes).
    let answer = tokio::time::timeout(
        CLIENT_RECV_TIMEOUT,
        subscriber_client.request("nobody.listens.here", "".into()),
    )
    .await
    .expect("no-responders answer in time");
    assert!(answer.is_err(), "nobody listens");

    // The same account through creds text, a second user of a signing key.
    let other = User::new(&fixture.a_signing, Some(&fixture.a.public_key()), json!({}));
    let creds = common::jwt::creds(&other.jwt, &other.key.seed().unwrap());
    let options = async_nats::ConnectOptions::with_credentials(&creds).expect("creds text");
    let publisher = connect_with(&server, options).await;
    publisher.publish("greet", "hello".into()).await.unwrap();
    flush(&publisher).await;
    match tokio::time::timeout(CLIENT_RECV_TIMEOUT, subscriber.next()).await {
        Ok(Some(message)) => assert_eq!(message.payload, "hello"),
        other => panic!(
            "no message ({:?}); log:\n{}",
            other.map(|m| m.is_some()),
            server.log()
        ),
    }
}

#[test]
fn users_of_signing_keys_need_issuer_account_and_a_known_key() {
    let fixture = Fixture::new();
    let server = fixture.start();
    let signed = User::new(&fixture.a_signing, Some(&fixture.a.public_key()), json!({}));
    logged_in(&server, &signed);
    // Signed by a key the account does not list.
    let stranger = KeyPair::new_account();
    refused_user(
        &server,
        &User::new(&stranger, Some(&fixture.a.public_key()), json!({})),
    );
    // Signed by the signing key but claiming no issuer account: the signing key is not
    // an account anyone knows.
    refused_user(&server, &User::new(&fixture.a_signing, None, json!({})));
}

#[test]
fn scoped_signing_keys_impose_their_template() {
    let a_scoped = KeyPair::new_account();
    let fixture = Fixture::with(
        json!({"signing_keys": [{"kind": "user_scope", "key": a_scoped.public_key(),
                                 "role": "limited",
                                 "template": {"pub": {"allow": ["allowed.>"]},
                                              "subs": -1, "data": -1, "payload": -1}}]}),
        json!({}),
    );
    let server = fixture.start();
    // A scoped user carries no permissions of its own...
    let key = KeyPair::new_user();
    let jwt = user_jwt(
        &a_scoped,
        &key.public_key(),
        Some(&fixture.a.public_key()),
        json!({"subs": 0, "data": 0, "payload": 0}),
        Value::Null,
    );
    let user = User { key, jwt };
    let mut client = logged_in(&server, &user);
    client.send("PUB allowed.x 1\r\na\r\nPUB other 1\r\nb\r\n");
    assert_eq!(
        client.sync(),
        vec![Frame::Err(
            r#"Permissions Violation for Publish to "other""#.to_string()
        )]
    );
    // ...and one that does is refused.
    refused_user(
        &server,
        &User::new(
            &a_scoped,
            Some(&fixture.a.public_key()),
            json!({"pub": {"allow": [">"]}}),
        ),
    );
}

#[test]
fn signatures_must_sign_this_connections_nonce() {
    let fixture = Fixture::new();
    let server = fixture.start();
    let user = fixture.user_a(json!({}));
    // Another nonce signed.
    refused(&server, |_| user.connect_json("not-the-nonce"));
    // Signed by another key.
    refused(&server, |nonce| {
        let other = User {
            key: KeyPair::new_user(),
            jwt: user.jwt.clone(),
        };
        other.connect_json(nonce)
    });
    // No signature at all.
    refused(&server, |_| json!({"jwt": user.jwt}).to_string());
    // No JWT at all.
    refused(&server, |_| json!({"user": "a", "pass": "b"}).to_string());
    // The right one works.
    logged_in(&server, &user);
    // A bearer token needs no signature.
    let bearer = fixture.user_a(json!({"bearer_token": true}));
    let (_client, frame) = raw_login(&server, |_| {
        json!({"verbose": false, "jwt": bearer.jwt}).to_string()
    });
    assert_eq!(frame, Frame::Pong);
}

#[test]
fn bearer_tokens_can_be_disallowed_by_the_account() {
    let fixture = Fixture::with(json!({"limits": {"disallow_bearer": true}}), json!({}));
    let server = fixture.start();
    let bearer = fixture.user_a(json!({"bearer_token": true}));
    refused(&server, |_| json!({"jwt": bearer.jwt}).to_string());
}

#[test]
fn expired_users_are_refused_and_expiring_ones_cut_off() {
    let fixture = Fixture::new();
    let server = fixture.start();
    let key = KeyPair::new_user();
    let expired = User {
        jwt: user_jwt(
            &fixture.a,
            &key.public_key(),
            None,
            json!({}),
            json!({"exp": now_s() - 10}),
        ),
        key,
    };
    refused_user(&server, &expired);
    let key = KeyPair::new_user();
    let not_yet = User {
        jwt: user_jwt(
            &fixture.a,
            &key.public_key(),
            None,
            json!({}),
            json!({"nbf": now_s() + 3600}),
        ),
        key,
    };
    refused_user(&server, &not_yet);

    let key = KeyPair::new_user();
    let expiring = User {
        jwt: user_jwt(
            &fixture.a,
            &key.public_key(),
            None,
            json!({}),
            json!({"exp": now_s() + 2}),
        ),
        key,
    };
    let mut client = logged_in(&server, &expiring);
    client.expect_within(
        "-ERR 'User Authentication Expired'\r\n",
        Duration::from_secs(5),
    );
    client.expect_closed();
}

#[test]
fn revoked_users_are_refused() {
    let fixture = Fixture::new();
    let before = fixture.user_a(json!({}));
    let user_key = before.key.public_key();
    // Revoked from one second after it was issued: that JWT is out, a newer one is not.
    let revoked_at = now_s() + 1;
    let mut fixture = fixture;
    let a_jwt = account_jwt(
        &fixture.operator_signing,
        &fixture.a.public_key(),
        json!({"signing_keys": [fixture.a_signing.public_key()],
               "revocations": {user_key.clone(): revoked_at}}),
    );
    fixture.accounts[1].1 = a_jwt;
    let server = fixture.start();
    refused_user(&server, &before);
    let reissued = User {
        jwt: user_jwt(
            &fixture.a,
            &user_key,
            None,
            json!({}),
            json!({"iat": revoked_at + 1}),
        ),
        key: before.key,
    };
    logged_in(&server, &reissued);
    // Other users are unaffected.
    logged_in(&server, &fixture.user_a(json!({})));

    // `*` revokes every user issued until then.
    let everyone = Fixture::with(json!({"revocations": {"*": now_s() + 5}}), json!({}));
    let server = everyone.start();
    refused_user(&server, &everyone.user_a(json!({})));
    logged_in(&server, &everyone.user_b(json!({})));
}

#[test]
fn users_of_unknown_or_untrusted_accounts_are_refused() {
    let fixture = Fixture::new();
    let server = fixture.start();
    let unknown = KeyPair::new_account();
    refused_user(&server, &User::new(&unknown, None, json!({})));

    // An account signed by another operator is not loaded.
    let mut untrusted = Fixture::new();
    let rogue = KeyPair::new_operator();
    untrusted.accounts[2].1 = account_jwt(&rogue, &untrusted.b.public_key(), json!({}));
    let started = ServerBuilder::new()
        .config(&untrusted.memory_config())
        .try_start();
    if let Ok(server) = started {
        refused_user(&server, &untrusted.user_b(json!({})));
        logged_in(&server, &untrusted.user_a(json!({})));
    }
}

#[test]
fn garbage_truncated_and_huge_jwts_fail_cleanly() {
    let fixture = Fixture::new();
    let server = TestServer::start_with_config(
        &format!("{}max_control_line: 1048576\n", fixture.memory_config()),
        &[],
    );
    let user = fixture.user_a(json!({}));
    let sig_of = |nonce: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(user.key.sign(nonce.as_bytes()).unwrap())
    };
    let truncated = &user.jwt[..user.jwt.len() - 10];
    let huge = format!("eyJ{}", "A".repeat(600 * 1024));
    let dotted = format!("{0}.{0}.{0}", "eyJhbGciOiJ".repeat(2000));
    for jwt in [
        "garbage",
        "",
        "a.b.c",
        "...",
        truncated,
        huge.as_str(),
        dotted.as_str(),
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.AAAA",
    ] {
        refused(&server, |nonce| {
            json!({"jwt": jwt, "sig": sig_of(nonce)}).to_string()
        });
    }
    // Still serving.
    logged_in(&server, &user);
}

#[test]
fn a_jwt_over_the_control_line_limit_is_refused_as_such() {
    let fixture = Fixture::new();
    let server = fixture.start();
    let mut client = RawClient::connect(server.addr());
    client.read_info();
    let huge = "A".repeat(8 * 1024);
    client.send(format!("CONNECT {{\"jwt\":\"{huge}\"}}\r\n"));
    client.expect_err_then_close("maximum control line exceeded");
}

#[test]
fn jwt_permissions_are_enforced_with_nats_errors() {
    let fixture = Fixture::new();
    let server = fixture.start();
    let user = fixture.user_a(json!({
        "pub": {"allow": ["orders.>", "_INBOX.>"], "deny": ["orders.secret"]},
        "sub": {"allow": ["orders.>", "_INBOX.>"], "deny": ["orders.hidden"]}
    }));
    let mut client = logged_in(&server, &user);
    client.send(
        "SUB orders.new 1\r\nSUB billing 2\r\nSUB orders.hidden 3\r\n\
         PUB orders.new 2\r\nok\r\nPUB orders.secret 1\r\nx\r\nPUB billing 1\r\ny\r\n",
    );
    let frames = client.sync();
    let errors: Vec<&Frame> = frames
        .iter()
        .filter(|f| matches!(f, Frame::Err(_)))
        .collect();
    assert_eq!(
        errors,
        vec![
            &Frame::Err(r#"Permissions Violation for Subscription to "billing""#.to_string()),
            &Frame::Err(r#"Permissions Violation for Subscription to "orders.hidden""#.to_string()),
            &Frame::Err(r#"Permissions Violation for Publish to "orders.secret""#.to_string()),
            &Frame::Err(r#"Permissions Violation for Publish to "billing""#.to_string()),
        ],
        "{frames:?}"
    );
    let msgs: Vec<&Msg> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Msg(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(msgs.len(), 1, "{frames:?}");
    assert_eq!(msgs[0].subject, "orders.new");

    // Account default permissions apply to users without their own.
    let defaults = Fixture::with(
        json!({"default_permissions": {"pub": {"deny": ["forbidden"]}}}),
        json!({}),
    );
    let server = defaults.start();
    let mut client = logged_in(&server, &defaults.user_a(json!({})));
    client.send("PUB forbidden 1\r\nx\r\n");
    assert_eq!(
        client.sync(),
        vec![Frame::Err(
            r#"Permissions Violation for Publish to "forbidden""#.to_string()
        )]
    );
}

#[test]
fn user_and_account_limits_apply() {
    let fixture = Fixture::with(json!({"limits": {"conn": 2}}), json!({}));
    let server = fixture.start();
    let user = fixture.user_a(json!({"subs": 2, "payload": 8}));
    let mut client = logged_in(&server, &user);
    client.send("SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n");
    assert_eq!(
        client.sync(),
        vec![Frame::Err("maximum subscriptions exceeded".to_string())]
    );
    client.send("PUB a 8\r\n12345678\r\n");
    client.sync();
    client.send("PUB a 9\r\n123456789\r\n");
    client.expect_err_then_close("Maximum Payload Violation");

    // Two connections of the account at once, not three.
    let _first = logged_in(&server, &fixture.user_a(json!({})));
    let _second = logged_in(&server, &fixture.user_a(json!({})));
    let (mut third, frame) = raw_login(&server, |nonce| {
        fixture.user_a(json!({})).connect_json(nonce)
    });
    assert_eq!(
        frame,
        Frame::Err("maximum account active connections exceeded".to_string())
    );
    third.expect_closed();
    // B is not limited by A's count.
    logged_in(&server, &fixture.user_b(json!({})));
}

#[test]
fn source_networks_limit_where_users_connect_from() {
    let fixture = Fixture::new();
    let server = fixture.start();
    logged_in(&server, &fixture.user_a(json!({"src": ["127.0.0.0/8"]})));
    refused_user(&server, &fixture.user_a(json!({"src": ["10.0.0.0/8"]})));
    assert!(server.wait_for_log("Bad src Ip 127.0.0.1", Duration::from_secs(5)));
}

#[tokio::test]
async fn accounts_are_isolated() {
    let fixture = Fixture::new();
    let server = fixture.start();
    let dir = tempfile::tempdir().unwrap();
    let server = &server;
    let connect = |user: User, name: &str| {
        let path = user.write_creds(dir.path(), name);
        async move {
            connect_with(
                server,
                async_nats::ConnectOptions::with_credentials_file(path)
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let a = connect(fixture.user_a(json!({})), "a").await;
    let b = connect(fixture.user_b(json!({})), "b").await;
    let mut a_sub = a.subscribe("shared").await.unwrap();
    let mut b_sub = b.subscribe("shared").await.unwrap();
    flush(&a).await;
    flush(&b).await;
    a.publish("shared", "from a".into()).await.unwrap();
    b.publish("shared", "from b".into()).await.unwrap();
    flush(&a).await;
    flush(&b).await;
    assert_eq!(recv(&mut a_sub).await.payload, "from a");
    assert_eq!(recv(&mut b_sub).await.payload, "from b");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), a_sub.next())
            .await
            .is_err(),
        "A saw B's message"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), b_sub.next())
            .await
            .is_err(),
        "B saw A's message"
    );
}

#[tokio::test]
async fn jwt_accounts_export_and_import_streams_and_services() {
    // A exports a stream and a service; B imports both (the stream under a prefix, the
    // service under a local name). A's private service needs an activation token.
    let a_key = KeyPair::new_account();
    let b_key = KeyPair::new_account();
    let activation = encode(
        &a_key,
        json!({"sub": b_key.public_key(),
               "nats": {"type": "activation", "version": 2, "subject": "private.svc",
                        "kind": "service"}}),
    );
    let a_extra = json!({"exports": [
        {"name": "events", "subject": "events.>", "type": "stream"},
        {"name": "time", "subject": "time.now", "type": "service"},
        {"name": "private", "subject": "private.svc", "type": "service", "token_req": true}
    ]});
    let b_extra = json!({"imports": [
        {"name": "events", "subject": "events.>", "account": a_key.public_key(),
         "type": "stream", "local_subject": "from_a.events.>"},
        {"name": "time", "subject": "time.now", "account": a_key.public_key(),
         "type": "service", "local_subject": "a.time"},
        {"name": "private", "subject": "private.svc", "account": a_key.public_key(),
         "type": "service", "token": activation}
    ]});
    let mut fixture = Fixture::with(a_extra.clone(), b_extra.clone());
    // Rebuild A and B around the keys the activation names.
    let mut a_extra = a_extra;
    a_extra["signing_keys"] = json!([fixture.a_signing.public_key()]);
    fixture.accounts[1] = (
        a_key.public_key(),
        account_jwt(&fixture.operator_signing, &a_key.public_key(), a_extra),
    );
    fixture.accounts[2] = (
        b_key.public_key(),
        account_jwt(&fixture.operator, &b_key.public_key(), b_extra),
    );
    fixture.a = a_key;
    fixture.b = b_key;
    let server = fixture.start();
    let dir = tempfile::tempdir().unwrap();
    let a_path = fixture.user_a(json!({})).write_creds(dir.path(), "a");
    let b_path = fixture.user_b(json!({})).write_creds(dir.path(), "b");
    let a = connect_with(
        &server,
        async_nats::ConnectOptions::with_credentials_file(a_path)
            .await
            .unwrap(),
    )
    .await;
    let b = connect_with(
        &server,
        async_nats::ConnectOptions::with_credentials_file(b_path)
            .await
            .unwrap(),
    )
    .await;

    let mut events = b.subscribe("from_a.events.>").await.unwrap();
    let mut time_service = a.subscribe("time.now").await.unwrap();
    let mut private_service = a.subscribe("private.svc").await.unwrap();
    flush(&b).await;
    flush(&a).await;
    // Stream interest crosses accounts asynchronously on the reference server too.
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.publish("events.created", "e1".into()).await.unwrap();
    flush(&a).await;
    let event = recv(&mut events).await;
    assert_eq!(
        (event.subject.as_str(), &event.payload[..]),
        ("from_a.events.created", &b"e1"[..])
    );

    let responder = a.clone();
    tokio::spawn(async move {
        for _ in 0..2 {
            tokio::select! {
                Some(request) = time_service.next() => {
                    responder.publish(request.reply.unwrap(), "noon".into()).await.unwrap();
                }
                Some(request) = private_service.next() => {
                    responder.publish(request.reply.unwrap(), "secret".into()).await.unwrap();
                }
            }
        }
    });
    let answer = tokio::time::timeout(CLIENT_RECV_TIMEOUT, b.request("a.time", "?".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.payload, "noon");
    let answer = tokio::time::timeout(CLIENT_RECV_TIMEOUT, b.request("private.svc", "?".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.payload, "secret");
}

#[test]
fn a_full_resolver_serves_account_jwts_from_its_directory() {
    let fixture = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    for (key, jwt) in &fixture.accounts {
        std::fs::write(dir.path().join(format!("{key}.jwt")), jwt).unwrap();
    }
    let operator_path = dir.path().join("operator.jwt");
    std::fs::write(&operator_path, fixture.operator_jwt()).unwrap();
    let config = format!(
        "operator: \"{}\"\nsystem_account: {}\nresolver {{ type: full, dir: \"{}\", allow_delete: false, interval: \"2m\", limit: 1000 }}\n",
        operator_path.display(),
        fixture.sys.public_key(),
        dir.path().display()
    );
    let server = TestServer::start_with_config(&config, &[]);
    logged_in(&server, &fixture.user_a(json!({})));
    logged_in(&server, &fixture.user_b(json!({})));
    refused_user(
        &server,
        &User::new(&KeyPair::new_account(), None, json!({})),
    );
}

#[test]
fn operator_mode_configurations_are_checked_at_start() {
    let fixture = Fixture::new();
    let base = fixture.memory_config();
    let operator = fixture.operator_jwt();
    let sys = fixture.sys.public_key();
    for (config, expected) in [
        (
            format!("{base}accounts {{ X {{}} }}\n"),
            "operators do not allow Accounts to be configured directly",
        ),
        (
            format!("{base}authorization {{ users = [ {{user: u, password: p}} ] }}\n"),
            "operators do not allow users to be configured directly",
        ),
        (
            // nats-server falls back to a URL resolver at the operator's (empty)
            // account server URL and fails fetching from it; tern says what is missing.
            format!("operator: \"{operator}\"\nsystem_account: {sys}\n"),
            if is_reference() {
                "could not fetch"
            } else {
                "operators require an account resolver to be configured"
            },
        ),
        (
            format!(
                "operator: \"{operator}\"\nsystem_account: {}\nresolver: MEMORY\n",
                KeyPair::new_account().public_key()
            ),
            "system_account in config and operator JWT must be identical",
        ),
        (
            "operator: \"/nonexistent/op.jwt\"\nresolver: MEMORY\n".to_string(),
            "error parsing operator JWT: open /nonexistent/op.jwt: no such file or directory",
        ),
        (
            format!("operator: \"{operator}\"\nresolver: MEMORY\nresolver_preload {{ {sys}: \"garbage\" }}\n"),
            "invalid account JWT",
        ),
        (
            format!("operator: \"{operator}\"\nresolver: BOGUS\n"),
            "error parsing account resolver",
        ),
        (
            format!("operator: \"{operator}\"\nresolver {{ type: cache, dir: \"/tmp\", allow_delete: true }}\n"),
            "CACHE does not accept allow_delete",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.conf");
        std::fs::write(&path, &config).unwrap();
        let path = path.display().to_string();
        let (status, stdout, stderr) = run_binary(
            &["-a", "127.0.0.1", "-p", "-1", "-c", &path],
            Duration::from_secs(10),
        );
        assert!(!status.success(), "{config}: started");
        let output = format!("{stdout}{stderr}");
        assert!(
            output.contains(expected),
            "{config}: expected {expected:?} in:\n{output}"
        );
    }
}

/// A full resolver over a directory holding only the system account's JWT.
fn full_resolver_server(fixture: &Fixture, dir: &std::path::Path) -> TestServer {
    let (sys_key, sys_jwt) = &fixture.accounts[0];
    std::fs::write(dir.join(format!("{sys_key}.jwt")), sys_jwt).unwrap();
    let config = format!(
        "operator: \"{}\"\nsystem_account: {}\nresolver {{ type: full, dir: \"{}\" }}\n",
        fixture.operator_jwt(),
        fixture.sys.public_key(),
        dir.display()
    );
    TestServer::start_with_config(&config, &[])
}

async fn request_text(client: &async_nats::Client, subject: String, body: String) -> String {
    let reply = tokio::time::timeout(
        CLIENT_RECV_TIMEOUT,
        client.request(subject.clone(), body.into()),
    )
    .await
    .unwrap_or_else(|_| panic!("no answer on {subject}"))
    .unwrap_or_else(|e| panic!("request on {subject} failed: {e}"));
    String::from_utf8(reply.payload.to_vec()).unwrap()
}

#[tokio::test]
async fn claim_updates_add_accounts_and_revoke_users_at_runtime() {
    let fixture = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let server = full_resolver_server(&fixture, dir.path());
    let a_key = fixture.a.public_key();
    let a_user = fixture.user_a(json!({}));
    refused_user(&server, &a_user);

    let sys_user = User::new(&fixture.sys, None, json!({}));
    let sys_creds = sys_user.write_creds(dir.path(), "sys");
    let sys = connect_with(
        &server,
        async_nats::ConnectOptions::with_credentials_file(sys_creds)
            .await
            .unwrap(),
    )
    .await;
    // Garbage is refused; A's JWT is stored and its users may log in.
    let answer: Value = serde_json::from_str(
        &request_text(&sys, "$SYS.REQ.CLAIMS.UPDATE".into(), "garbage".into()).await,
    )
    .unwrap();
    assert_eq!(answer["error"]["code"], 500, "{answer}");
    let answer: Value = serde_json::from_str(
        &request_text(
            &sys,
            "$SYS.REQ.CLAIMS.UPDATE".into(),
            fixture.accounts[1].1.clone(),
        )
        .await,
    )
    .unwrap();
    assert_eq!(answer["data"]["code"], 200, "{answer}");
    assert_eq!(answer["data"]["account"], a_key.as_str(), "{answer}");
    assert!(dir.path().join(format!("{a_key}.jwt")).exists());
    let mut connected = logged_in(&server, &a_user);
    let looked_up = request_text(
        &sys,
        format!("$SYS.REQ.ACCOUNT.{a_key}.CLAIMS.LOOKUP"),
        String::new(),
    )
    .await;
    assert_eq!(looked_up, fixture.accounts[1].1);

    // An update under another account's subject is refused.
    let answer: Value = serde_json::from_str(
        &request_text(
            &sys,
            format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE", fixture.b.public_key()),
            fixture.accounts[1].1.clone(),
        )
        .await,
    )
    .unwrap();
    assert_eq!(answer["error"]["code"], 500, "{answer}");

    // A newer A revokes the connected user: it is cut off.
    let revoking = encode(
        &fixture.operator_signing,
        json!({"sub": a_key, "iat": now_s() + 1, "name": "acct",
               "nats": {"type": "account", "version": 2,
                        "limits": {"subs": -1, "data": -1, "payload": -1, "conn": -1},
                        "signing_keys": [fixture.a_signing.public_key()],
                        "revocations": {a_user.key.public_key(): now_s() + 1}}}),
    );
    let answer: Value = serde_json::from_str(
        &request_text(
            &sys,
            format!("$SYS.REQ.ACCOUNT.{a_key}.CLAIMS.UPDATE"),
            revoking,
        )
        .await,
    )
    .unwrap();
    assert_eq!(answer["data"]["code"], 200, "{answer}");
    connected.expect_within(
        "-ERR 'User Authentication Revoked'\r\n",
        Duration::from_secs(5),
    );
    connected.expect_closed();
    refused_user(&server, &a_user);
    logged_in(&server, &fixture.user_a(json!({})));
}

#[test]
fn accounts_stored_after_start_are_looked_up_at_connect() {
    let fixture = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let server = full_resolver_server(&fixture, dir.path());
    let b_user = fixture.user_b(json!({}));
    refused_user(&server, &b_user);
    let (b_key, b_jwt) = &fixture.accounts[2];
    std::fs::write(dir.path().join(format!("{b_key}.jwt")), b_jwt).unwrap();
    logged_in(&server, &b_user);
}

/// `HH:MM:SS` of a Unix time, in UTC (the test machines' and servers' zone).
fn clock(unix_s: i64) -> String {
    let s = unix_s.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

#[test]
fn connect_times_limit_when_users_connect() {
    let fixture = Fixture::new();
    let server = fixture.start();
    let now = now_s();
    let inside = json!({"times": [{"start": clock(now - 3600), "end": clock(now + 3600)}]});
    logged_in(&server, &fixture.user_a(inside));
    let later = json!({"times": [{"start": clock(now + 3600), "end": clock(now + 7200)}]});
    refused_user(&server, &fixture.user_a(later));
    assert!(server.wait_for_log("Outside connect times", Duration::from_secs(5)));
}

#[test]
fn refusals_are_logged_without_a_user_name() {
    let fixture = Fixture::new();
    let server = fixture.start();
    refused(&server, |_| {
        json!({"user": "someone", "pass": "x", "jwt": "garbage"}).to_string()
    });
    assert!(server.wait_for_log("authentication error", Duration::from_secs(5)));
    assert!(
        !server.log().contains("someone"),
        "operator mode names no user:\n{}",
        server.log()
    );
}

#[tokio::test]
async fn deleted_accounts_are_cut_off_and_listed_no_more() {
    let fixture = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let (a_key, a_jwt) = &fixture.accounts[1];
    std::fs::write(dir.path().join(format!("{a_key}.jwt")), a_jwt).unwrap();
    let (sys_key, sys_jwt) = &fixture.accounts[0];
    std::fs::write(dir.path().join(format!("{sys_key}.jwt")), sys_jwt).unwrap();
    let config = format!(
        "operator: \"{}\"\nsystem_account: {sys_key}\nresolver {{ type: full, dir: \"{}\", allow_delete: true }}\n",
        fixture.operator_jwt(),
        dir.path().display()
    );
    let server = TestServer::start_with_config(&config, &[]);
    let mut connected = logged_in(&server, &fixture.user_a(json!({})));
    let sys_creds = User::new(&fixture.sys, None, json!({})).write_creds(dir.path(), "sys");
    let sys = connect_with(
        &server,
        async_nats::ConnectOptions::with_credentials_file(sys_creds)
            .await
            .unwrap(),
    )
    .await;
    let listed: Value = serde_json::from_str(
        &request_text(&sys, "$SYS.REQ.CLAIMS.LIST".into(), String::new()).await,
    )
    .unwrap();
    let mut expected = vec![a_key.clone(), sys_key.clone()];
    expected.sort();
    let mut got: Vec<String> = serde_json::from_value(listed["data"].clone()).unwrap();
    got.sort();
    assert_eq!(got, expected, "{listed}");

    // Only the operator may ask, self-signed.
    let by_account = encode(
        &fixture.a,
        json!({"sub": a_key, "nats": {"accounts": [a_key]}}),
    );
    let answer: Value = serde_json::from_str(
        &request_text(&sys, "$SYS.REQ.CLAIMS.DELETE".into(), by_account).await,
    )
    .unwrap();
    assert_eq!(answer["error"]["code"], 500, "{answer}");

    let request = encode(
        &fixture.operator,
        json!({"sub": fixture.operator.public_key(), "nats": {"accounts": [a_key]}}),
    );
    let answer: Value =
        serde_json::from_str(&request_text(&sys, "$SYS.REQ.CLAIMS.DELETE".into(), request).await)
            .unwrap();
    assert_eq!(answer["data"]["code"], 200, "{answer}");
    assert_eq!(answer["data"]["message"], "deleted 1 accounts", "{answer}");
    connected.expect_within(
        "-ERR 'Account Authentication Expired'\r\n",
        Duration::from_secs(5),
    );
    connected.expect_closed();
    refused_user(&server, &fixture.user_a(json!({})));
    assert!(!dir.path().join(format!("{a_key}.jwt")).exists());
}

#[test]
fn scoped_templates_expand_names_and_tags() {
    let scoped = KeyPair::new_account();
    let fixture = Fixture::with(
        json!({"tags": ["region:eu"],
               "signing_keys": [{"kind": "user_scope", "key": scoped.public_key(), "role": "t",
                                 "template": {"pub": {"allow": ["user.{{name()}}.>",
                                                                "dept.{{tag(dept)}}",
                                                                "region.{{account-tag(region)}}"]},
                                              "subs": -1, "data": -1, "payload": -1}}]}),
        json!({}),
    );
    let server = fixture.start();
    let key = KeyPair::new_user();
    let jwt = encode(
        &scoped,
        json!({"sub": key.public_key(), "name": "ann",
               "nats": {"type": "user", "version": 2, "subs": 0, "data": 0, "payload": 0,
                        "tags": ["dept:sales", "dept:ops"],
                        "issuer_account": fixture.a.public_key()}}),
    );
    let user = User { key, jwt };
    let mut client = logged_in(&server, &user);
    client.send(
        "PUB user.ann.x 1\r\na\r\nPUB dept.sales 1\r\na\r\nPUB dept.ops 1\r\na\r\n\
         PUB region.eu 1\r\na\r\nPUB dept.hr 1\r\na\r\nPUB user.bob.x 1\r\na\r\n",
    );
    assert_eq!(
        client.sync(),
        vec![
            Frame::Err(r#"Permissions Violation for Publish to "dept.hr""#.to_string()),
            Frame::Err(r#"Permissions Violation for Publish to "user.bob.x""#.to_string()),
        ]
    );
}

#[test]
fn an_expiring_account_cuts_its_users_off() {
    let fixture = Fixture::new();
    let mut fixture = fixture;
    let a_key = fixture.a.public_key();
    fixture.accounts[1].1 = encode(
        &fixture.operator_signing,
        json!({"sub": a_key, "name": "acct", "exp": now_s() + 2,
               "nats": {"type": "account", "version": 2,
                        "limits": {"subs": -1, "data": -1, "payload": -1, "conn": -1}}}),
    );
    let server = fixture.start();
    let mut client = logged_in(&server, &fixture.user_a(json!({})));
    client.expect_within(
        "-ERR 'Account Authentication Expired'\r\n",
        Duration::from_secs(5),
    );
    client.expect_closed();
    refused_user(&server, &fixture.user_a(json!({})));
}

// --- JetStream in JWT accounts --------------------------------------------------------

/// `nats.limits` JetStream fields as nsc writes them (`--js-mem-storage` ...).
fn js_limits(disk_bytes: i64, streams: i64) -> Value {
    json!({"limits": {"mem_storage": -1, "disk_storage": disk_bytes, "streams": streams,
                      "consumer": -1, "max_ack_pending": -1,
                      "mem_max_stream_bytes": 0, "disk_max_stream_bytes": 0,
                      "max_bytes_required": false}})
}

/// A's JWT with `extra`, issued `later_s` seconds from now (so an update is newer).
fn a_jwt(fixture: &Fixture, extra: Value, later_s: i64) -> String {
    let mut nats = common::jwt::unlimited_account();
    nats["limits"]
        .as_object_mut()
        .unwrap()
        .extend(extra["limits"].as_object().cloned().unwrap_or_default());
    nats["signing_keys"] = json!([fixture.a_signing.public_key()]);
    nats["type"] = json!("account");
    nats["version"] = json!(2);
    encode(
        &fixture.operator_signing,
        json!({"sub": fixture.a.public_key(), "iat": now_s() + later_s, "name": "acct",
               "nats": nats}),
    )
}

async fn creds_client(
    server: &TestServer,
    dir: &std::path::Path,
    user: &User,
    name: &str,
) -> async_nats::Client {
    let path = user.write_creds(dir, name);
    let options = async_nats::ConnectOptions::with_credentials_file(path)
        .await
        .expect("creds file");
    connect_with(server, options).await
}

fn js_error(answer: &Value) -> (u64, u64, String) {
    let error = &answer["error"];
    (
        error["code"].as_u64().unwrap_or(0),
        error["err_code"].as_u64().unwrap_or(0),
        error["description"].as_str().unwrap_or("").to_string(),
    )
}

fn not_enabled() -> (u64, u64, String) {
    (503, 10039, "JetStream not enabled for account".to_string())
}

/// A KV bucket through async-nats. Its `create_key_value` reads the account info first,
/// whose `reserved_memory`/`reserved_storage` nats-server 2.9.10 leaves out when 0 and
/// async-nats 0.51 requires, so on the reference the bucket's stream is made raw (with
/// the config async-nats would send) and opened with `get_key_value`.
async fn kv_bucket(client: &async_nats::Client, bucket: &str) -> async_nats::jetstream::kv::Store {
    let js = async_nats::jetstream::new(client.clone());
    if !is_reference() {
        return js
            .create_key_value(async_nats::jetstream::kv::Config {
                bucket: bucket.into(),
                ..Default::default()
            })
            .await
            .expect("KV bucket");
    }
    let created = json_request(
        client,
        &format!("$JS.API.STREAM.CREATE.KV_{bucket}"),
        json!({"name": format!("KV_{bucket}"), "subjects": [format!("$KV.{bucket}.>")],
               "max_msgs_per_subject": 1, "discard": "new", "allow_rollup_hdrs": true,
               "deny_delete": true, "allow_direct": true, "storage": "file",
               "num_replicas": 1}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    js.get_key_value(bucket).await.expect("KV bucket")
}

async fn create_stream(client: &async_nats::Client, name: &str) -> Value {
    json_request(
        client,
        &format!("$JS.API.STREAM.CREATE.{name}"),
        json!({"name": name, "subjects": [name.to_lowercase()]}),
    )
    .await
}

#[tokio::test]
async fn account_jwt_jetstream_limits_hold_for_creds_clients() {
    let fixture = Fixture::with(js_limits(4000, 2), json!({}));
    let store = tempfile::tempdir().unwrap();
    let config = format!(
        "{}jetstream {{ store_dir: \"{}\" }}\n",
        fixture.memory_config(),
        store.path().display()
    );
    let server = TestServer::start_with_config(&config, &[]);
    let dir = tempfile::tempdir().unwrap();
    let a = creds_client(&server, dir.path(), &fixture.user_a(json!({})), "a").await;

    // The JWT's limits are the account's (unlimited per-stream sizes read as -1).
    let info = json_request(&a, "$JS.API.INFO", Value::Null).await;
    assert_eq!(
        info["limits"],
        json!({"max_memory": -1, "max_storage": 4000, "max_streams": 2, "max_consumers": -1,
               "max_ack_pending": -1, "memory_max_stream_bytes": -1,
               "storage_max_stream_bytes": -1, "max_bytes_required": false}),
        "{info}"
    );

    // KV through async-nats.
    let kv = kv_bucket(&a, "cfg").await;
    kv.put("color", "blue".into()).await.expect("put");
    let entry = kv.get("color").await.expect("get").expect("entry");
    assert_eq!(entry, "blue");

    // The JWT's stream count (the bucket is one), with the config limits' error.
    let created = create_stream(&a, "S").await;
    assert!(created.get("error").is_none(), "{created}");
    let refused = create_stream(&a, "T").await;
    assert_eq!(
        js_error(&refused),
        (400, 10027, "maximum number of streams reached".to_string()),
        "{refused}"
    );
    // The JWT's disk bytes: publishes stop with the config limits' error.
    let payload = "x".repeat(100);
    let mut refused_at = None;
    for i in 0..40 {
        let ack = json_request(&a, "s", Value::String(payload.clone())).await;
        if ack.get("error").is_some() {
            assert_eq!(
                js_error(&ack),
                (
                    400,
                    10002,
                    "resource limits exceeded for account".to_string()
                ),
                "{ack}"
            );
            refused_at = Some(i);
            break;
        }
    }
    let refused_at = refused_at.expect("the account's disk limit stops publishes");
    assert!(refused_at > 10, "refused after {refused_at} publishes");

    // B's JWT grants no JetStream.
    let b = creds_client(&server, dir.path(), &fixture.user_b(json!({})), "b").await;
    let info = json_request(&b, "$JS.API.INFO", Value::Null).await;
    assert_eq!(js_error(&info), not_enabled(), "{info}");
    let refused = create_stream(&b, "S").await;
    assert_eq!(js_error(&refused), not_enabled(), "{refused}");

    // The system account has no JetStream of its own either; nats-server serves the API
    // from it and drops its own clients' requests but INFO.
    let sys = creds_client(
        &server,
        dir.path(),
        &User::new(&fixture.sys, None, json!({})),
        "sys",
    )
    .await;
    let info = json_request(&sys, "$JS.API.INFO", Value::Null).await;
    assert_eq!(js_error(&info), not_enabled(), "{info}");
    let create = tokio::time::timeout(
        Duration::from_millis(300),
        sys.request("$JS.API.STREAM.CREATE.S", r#"{"name":"S"}"#.into()),
    )
    .await;
    assert!(
        !matches!(create, Ok(Ok(_))),
        "system account STREAM.CREATE answered: {create:?}"
    );
}

#[tokio::test]
async fn claim_updates_and_lookups_give_accounts_jetstream_at_runtime() {
    let fixture = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let (sys_key, sys_jwt) = &fixture.accounts[0];
    std::fs::write(dir.path().join(format!("{sys_key}.jwt")), sys_jwt).unwrap();
    let config = format!(
        "operator: \"{}\"\nsystem_account: {}\nresolver {{ type: full, dir: \"{}\" }}\njetstream {{ store_dir: \"{}\" }}\n",
        fixture.operator_jwt(),
        fixture.sys.public_key(),
        dir.path().display(),
        store.path().display()
    );
    let server = TestServer::start_with_config(&config, &[]);
    let sys = creds_client(
        &server,
        dir.path(),
        &User::new(&fixture.sys, None, json!({})),
        "sys",
    )
    .await;
    let a_key = fixture.a.public_key();
    let update = |jwt: String| {
        let sys = sys.clone();
        let subject = format!("$SYS.REQ.ACCOUNT.{a_key}.CLAIMS.UPDATE");
        async move {
            let answer: Value =
                serde_json::from_str(&request_text(&sys, subject, jwt).await).unwrap();
            assert_eq!(answer["data"]["code"], 200, "{answer}");
        }
    };

    // A without JetStream in its JWT: told so.
    update(fixture.accounts[1].1.clone()).await;
    let a = creds_client(&server, dir.path(), &fixture.user_a(json!({})), "a").await;
    let info = json_request(&a, "$JS.API.INFO", Value::Null).await;
    assert_eq!(js_error(&info), not_enabled(), "{info}");
    let mut untouched = a.subscribe("still.here").await.unwrap();
    flush(&a).await;

    // An update granting one stream: the same connection uses it at once.
    update(a_jwt(&fixture, js_limits(-1, 1), 1)).await;
    let info = json_request(&a, "$JS.API.INFO", Value::Null).await;
    assert_eq!(info["limits"]["max_streams"], 1, "{info}");
    let created = create_stream(&a, "S").await;
    assert!(created.get("error").is_none(), "{created}");
    let refused = create_stream(&a, "T").await;
    assert_eq!(js_error(&refused).1, 10027, "{refused}");

    // New limits: applied to the running account, its stream kept.
    update(a_jwt(&fixture, js_limits(-1, 3), 2)).await;
    let created = create_stream(&a, "T").await;
    assert!(created.get("error").is_none(), "{created}");
    let names = json_request(&a, "$JS.API.STREAM.NAMES", Value::Null).await;
    assert_eq!(names["total"], 2, "{names}");
    a.publish("still.here", "yes".into()).await.unwrap();
    assert_eq!(recv(&mut untouched).await.payload, "yes");

    // An update without JetStream turns it off (the streams stay on disk); granting it
    // again brings them back.
    update(a_jwt(&fixture, json!({}), 3)).await;
    let info = json_request(&a, "$JS.API.INFO", Value::Null).await;
    assert_eq!(js_error(&info), not_enabled(), "{info}");
    update(a_jwt(&fixture, js_limits(-1, 3), 4)).await;
    let names = json_request(&a, "$JS.API.STREAM.NAMES", Value::Null).await;
    assert_eq!(names["total"], 2, "{names}");

    // B stored after start with JetStream, looked up when its user connects: KV works
    // on the first request.
    let b_key = fixture.b.public_key();
    let b_jwt = account_jwt(&fixture.operator, &b_key, js_limits(-1, -1));
    std::fs::write(dir.path().join(format!("{b_key}.jwt")), b_jwt).unwrap();
    let b = creds_client(&server, dir.path(), &fixture.user_b(json!({})), "b").await;
    let kv = kv_bucket(&b, "settings").await;
    if let Err(e) = kv.put("k", "v".into()).await {
        panic!("put: {e}\n{}", server.log());
    }
    assert_eq!(kv.get("k").await.unwrap().unwrap(), "v");
}

#[test]
fn allowed_connection_types_are_checked() {
    let fixture = Fixture::new();
    let server = fixture.start();
    logged_in(
        &server,
        &fixture.user_a(json!({"allowed_connection_types": ["STANDARD", "WEBSOCKET"]})),
    );
    refused_user(
        &server,
        &fixture.user_a(json!({"allowed_connection_types": ["WEBSOCKET"]})),
    );
    refused_user(
        &server,
        &fixture.user_a(json!({"allowed_connection_types": ["NOT_A_TYPE"]})),
    );
}

#[test]
fn pinned_accounts_limit_which_accounts_log_in() {
    let fixture = Fixture::new();
    let config = format!(
        "{}resolver_pinned_accounts: [{}]\n",
        fixture.memory_config(),
        fixture.b.public_key()
    );
    let server = TestServer::start_with_config(&config, &[]);
    refused_user(&server, &fixture.user_a(json!({})));
    logged_in(&server, &fixture.user_b(json!({})));
    // The system account is always pinned.
    logged_in(&server, &User::new(&fixture.sys, None, json!({})));

    let bad = format!(
        "{}resolver_pinned_accounts: [\"not-a-key\"]\n",
        fixture.memory_config()
    );
    assert!(ServerBuilder::new().config(&bad).try_start().is_err());
}

#[test]
fn a_reload_keeps_jwt_connections_and_adds_preloaded_accounts() {
    let fixture = Fixture::new();
    let mut only_a = Fixture::new();
    // The same keys, B left out of the preload.
    only_a.operator = KeyPair::from_seed(&fixture.operator.seed().unwrap()).unwrap();
    only_a.operator_signing =
        KeyPair::from_seed(&fixture.operator_signing.seed().unwrap()).unwrap();
    only_a.sys = KeyPair::from_seed(&fixture.sys.seed().unwrap()).unwrap();
    only_a.accounts = fixture.accounts[..2].to_vec();
    only_a.operator_token = fixture.operator_token.clone();
    let server = TestServer::start_with_config(&only_a.memory_config(), &[]);
    let mut a_client = logged_in(&server, &fixture.user_a(json!({})));
    refused_user(&server, &fixture.user_b(json!({})));

    std::fs::write(server.dir().join("server.conf"), fixture.memory_config()).unwrap();
    server.signal(libc::SIGHUP);
    assert!(
        server.wait_for_log("Reloaded server configuration", Duration::from_secs(5)),
        "no reload:\n{}",
        server.log()
    );
    logged_in(&server, &fixture.user_b(json!({})));
    a_client.send("PING\r\n");
    assert_eq!(a_client.read_frame(), Frame::Pong);

    // Another operator (same system account) is refused, as by nats-server.
    let mut other = Fixture::new();
    other.operator_token = operator_jwt(
        &other.operator,
        json!({"system_account": fixture.sys.public_key()}),
    );
    other.sys = KeyPair::from_seed(&fixture.sys.seed().unwrap()).unwrap();
    std::fs::write(server.dir().join("server.conf"), other.memory_config()).unwrap();
    server.signal(libc::SIGHUP);
    assert!(server.wait_for_log(
        "config reload not supported for TrustedOperators",
        Duration::from_secs(5)
    ));
    logged_in(&server, &fixture.user_b(json!({})));
}

#[test]
fn a_list_of_operators_trusts_each() {
    if skip_on_reference(
        "nats-server 2.9.10 refuses a list (error parsing operators: unsupported type []interface {}); later versions accept it, as tern does",
    ) {
        return;
    }
    let mut fixture = Fixture::new();
    let second = KeyPair::new_operator();
    let c = KeyPair::new_account();
    fixture.accounts.push((
        c.public_key(),
        account_jwt(&second, &c.public_key(), json!({})),
    ));
    let single = format!("operator: \"{}\"", fixture.operator_jwt());
    let config = fixture.memory_config().replacen(
        &single,
        &format!(
            "operator: [\"{}\", \"{}\"]",
            fixture.operator_jwt(),
            operator_jwt(&second, json!({}))
        ),
        1,
    );
    let server = TestServer::start_with_config(&config, &[]);
    logged_in(&server, &fixture.user_a(json!({})));
    logged_in(&server, &User::new(&c, None, json!({})));
}

#[tokio::test]
async fn a_reload_preloading_an_account_with_jetstream_gives_it_jetstream() {
    let fixture = Fixture::with(json!({}), js_limits(-1, 1));
    let mut only_a = Fixture::new();
    // The same keys, B left out of the preload.
    only_a.operator = KeyPair::from_seed(&fixture.operator.seed().unwrap()).unwrap();
    only_a.operator_signing =
        KeyPair::from_seed(&fixture.operator_signing.seed().unwrap()).unwrap();
    only_a.sys = KeyPair::from_seed(&fixture.sys.seed().unwrap()).unwrap();
    only_a.accounts = fixture.accounts[..2].to_vec();
    only_a.operator_token = fixture.operator_token.clone();
    let store = tempfile::tempdir().unwrap();
    let jetstream = format!(
        "jetstream {{ store_dir: \"{}\" }}\n",
        store.path().display()
    );
    let server =
        TestServer::start_with_config(&format!("{}{jetstream}", only_a.memory_config()), &[]);
    refused_user(&server, &fixture.user_b(json!({})));

    let config = format!("{}{jetstream}", fixture.memory_config());
    std::fs::write(server.dir().join("server.conf"), config).unwrap();
    server.signal(libc::SIGHUP);
    assert!(
        server.wait_for_log("Reloaded server configuration", Duration::from_secs(5)),
        "no reload:\n{}",
        server.log()
    );
    let dir = tempfile::tempdir().unwrap();
    let b = creds_client(&server, dir.path(), &fixture.user_b(json!({})), "b").await;
    let created = create_stream(&b, "S").await;
    assert!(created.get("error").is_none(), "{created}");
    let refused = create_stream(&b, "T").await;
    assert_eq!(js_error(&refused).1, 10027, "{refused}");
    let ack = json_request(&b, "s", json!({"n": 1})).await;
    assert_eq!(ack["seq"], 1, "{ack}");
}
