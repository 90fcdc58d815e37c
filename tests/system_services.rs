//! The system account's services (`$SYS.REQ...` requests and `$SYS.ACCOUNT.<acc>.CONNECT`
//! / `DISCONNECT` advisories), asked with async-nats as a `nats` CLI user would, of tern and
//! of the reference nats-server 2.9.10; the answers must have the same shape.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use serde_json::Value;

const CONFIG: &str = r#"
accounts {
  A { users = [ {user: a, password: pa} ] }
  SYS { users = [ {user: sys, password: ps} ] }
}
system_account: SYS
"#;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

async fn user(server: &TestServer, name: &str, password: &str) -> async_nats::Client {
    connect_with(
        server,
        async_nats::ConnectOptions::with_user_and_password(name.into(), password.into())
            .name("tester"),
    )
    .await
}

async fn ask(client: &async_nats::Client, subject: &str, body: &str) -> Value {
    let reply = tokio::time::timeout(
        REQUEST_TIMEOUT,
        client.request(subject.to_string(), body.to_string().into()),
    )
    .await
    .unwrap_or_else(|_| panic!("{subject}: no answer"))
    .unwrap_or_else(|e| panic!("{subject}: {e}"));
    serde_json::from_slice(&reply.payload)
        .unwrap_or_else(|e| panic!("{subject}: not JSON ({e}): {:?}", reply.payload))
}

/// A round trip through the server: everything the client sent before is processed
/// (async-nats's `flush` only writes, it does not wait for the server).
async fn round_trip(client: &async_nats::Client) {
    let answer = tokio::time::timeout(
        REQUEST_TIMEOUT,
        client.request("nobody.listens.here", "".into()),
    )
    .await
    .expect("no-responders answer in time");
    assert!(answer.is_err());
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

/// What one server answers, reduced to what both must agree on.
async fn conversation(server: &TestServer) -> Vec<Value> {
    let sys = user(server, "sys", "ps").await;
    let a = user(server, "a", "pa").await;
    let _sub = a.subscribe("foo").await.unwrap();
    round_trip(&a).await;
    let mut out = Vec::new();

    let statsz = ask(&sys, "$SYS.REQ.SERVER.PING", "").await;
    let server_info = &statsz["server"];
    let id = server_info["id"].as_str().unwrap().to_string();
    assert!(
        statsz["statsz"]["connections"].as_u64().unwrap() >= 2,
        "{statsz}"
    );
    assert_eq!(statsz["statsz"]["active_accounts"], 2, "{statsz}");
    out.push(
        serde_json::json!({"statsz": keys(&statsz), "server": keys(server_info),
        "fields": keys(&statsz["statsz"])}),
    );

    let varz = ask(&sys, "$SYS.REQ.SERVER.PING.VARZ", "").await;
    assert_eq!(varz["data"]["server_id"], id.as_str(), "{varz}");
    out.push(serde_json::json!({"varz": keys(&varz)}));

    let healthz = ask(&sys, &format!("$SYS.REQ.SERVER.{id}.HEALTHZ"), "").await;
    out.push(healthz["data"].clone());

    let connz = ask(&sys, "$SYS.REQ.ACCOUNT.A.CONNZ", "").await;
    assert_eq!(connz["data"]["num_connections"], 1, "{connz}");
    out.push(serde_json::json!({"connz": keys(&connz["data"])}));

    let connz = ask(
        &sys,
        "$SYS.REQ.SERVER.PING.CONNZ",
        r#"{"subscriptions": true, "acc": "A"}"#,
    )
    .await;
    let listed = &connz["data"]["connections"][0]["subscriptions_list"];
    assert!(
        listed
            .as_array()
            .is_some_and(|l| l.contains(&Value::from("foo"))),
        "{connz}"
    );
    assert_eq!(connz["data"]["total"], 1, "only A's connections: {connz}");

    let info = ask(&sys, "$SYS.REQ.ACCOUNT.A.INFO", "").await;
    assert_eq!(info["data"]["account_name"], "A", "{info}");
    assert_eq!(info["data"]["client_connections"], 1, "{info}");
    out.push(serde_json::json!({"account": info["data"]["account_name"]}));

    let subsz = ask(&sys, "$SYS.REQ.ACCOUNT.A.SUBSZ", "").await;
    let listed: Vec<&Value> = subsz["data"]["subscriptions_list"]
        .as_array()
        .unwrap_or_else(|| panic!("{subsz}"))
        .iter()
        .filter(|s| s["subject"] == "foo")
        .collect();
    assert_eq!(listed.len(), 1, "{subsz}");
    assert_eq!(listed[0]["account"], "A");

    // Errors: nats-server's code and words.
    for (subject, body) in [
        ("$SYS.REQ.ACCOUNT.NOPE.INFO", ""),
        ("$SYS.REQ.SERVER.PING.CONNZ", r#"{"sort": "bogus"}"#),
        ("$SYS.REQ.ACCOUNT.A.JSZ", ""),
    ] {
        let answer = ask(&sys, subject, body).await;
        assert_eq!(answer["data"], Value::Null, "{answer}");
        out.push(answer["error"].clone());
    }

    // Only the system account may ask; elsewhere nobody answers.
    for subject in ["$SYS.REQ.SERVER.PING", "$SYS.REQ.ACCOUNT.A.CONNZ"] {
        let refused = tokio::time::timeout(REQUEST_TIMEOUT, a.request(subject, "".into()))
            .await
            .expect("an answer (no responders) in time")
            .unwrap_err();
        assert_eq!(
            refused.kind(),
            async_nats::client::RequestErrorKind::NoResponders,
            "{subject}"
        );
    }
    // A kind nats-server does not serve has no responder either.
    let unknown = a.request("$SYS.REQ.SERVER.PING.NOPE", "".into()).await;
    assert!(unknown.is_err());
    out
}

#[tokio::test]
async fn system_requests_match_nats_server() {
    let tern = ServerBuilder::new().config(CONFIG).start();
    let reference = ServerBuilder::new().config(CONFIG).start_reference();
    let ours = conversation(&tern).await;
    let theirs = conversation(&reference).await;
    assert_eq!(ours, theirs);
    assert_eq!(ours[2], serde_json::json!({"status": "ok"}));
    assert_eq!(
        ours[5],
        serde_json::json!({"code": 500, "description": "Account NOPE does not exist"})
    );
    assert_eq!(
        ours[6],
        serde_json::json!({"code": 500, "description": "invalid sorting option: bogus"})
    );
    assert_eq!(
        ours[7],
        serde_json::json!({"code": 500, "description": "jetstream not enabled"})
    );
}

/// The CONNECT and DISCONNECT advisories of one client of account A, reduced to what both
/// servers must agree on.
async fn advisories(server: &TestServer) -> Vec<Value> {
    let sys = user(server, "sys", "ps").await;
    let mut events = sys.subscribe("$SYS.ACCOUNT.A.*").await.unwrap();
    round_trip(&sys).await;
    let a = user(server, "a", "pa").await;
    a.publish("foo", "x".into()).await.unwrap();
    round_trip(&a).await;
    drop(a);
    let mut out = Vec::new();
    while out.len() < 2 {
        let message = tokio::time::timeout(REQUEST_TIMEOUT, events.next())
            .await
            .expect("advisory in time")
            .expect("subscription open");
        let kind = message.subject.rsplit('.').next().unwrap().to_string();
        if kind != "CONNECT" && kind != "DISCONNECT" {
            continue; // nats-server also sends account connection counts
        }
        let event: Value = serde_json::from_slice(&message.payload).unwrap();
        let client = &event["client"];
        assert_eq!(client["acc"], "A", "{event}");
        assert_eq!(client["user"], "a", "{event}");
        assert_eq!(client["name"], "tester", "{event}");
        assert_eq!(client["lang"], "rust", "{event}");
        let mut client_keys = keys(client);
        // nats-server names the reason a read error when the socket just closes; tern
        // says the client closed it. Both are strings.
        if kind == "DISCONNECT" {
            assert!(event["reason"].is_string(), "{event}");
            assert_eq!(
                event["sent"]["msgs"], 2,
                "what the client sent (a message, a request): {event}"
            );
            client_keys.remove("rtt");
        }
        out.push(serde_json::json!({"subject": kind, "type": event["type"],
            "keys": keys(&event), "client": client_keys, "server": keys(&event["server"])}));
    }
    out
}

#[tokio::test]
async fn connect_and_disconnect_advisories_match_nats_server() {
    let tern = ServerBuilder::new().config(CONFIG).start();
    let reference = ServerBuilder::new().config(CONFIG).start_reference();
    let ours = advisories(&tern).await;
    let theirs = advisories(&reference).await;
    assert_eq!(ours, theirs);
    assert_eq!(ours[0]["type"], "io.nats.server.advisory.v1.client_connect");
    assert_eq!(
        ours[1]["type"],
        "io.nats.server.advisory.v1.client_disconnect"
    );
}
