//! JetStream streams, black-box: the official `async-nats` JetStream API and raw `$JS.API`
//! requests. Every test here also runs against the reference server
//! (`TERN_TEST_SERVER=/usr/sbin/nats-server cargo test --test jetstream`), so the expected
//! answers are nats-server's own.

mod common;

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage, stream};
use bytes::Bytes;
use common::*;
use serde_json::{json, Value};

/// A JetStream server whose store lives in `store` (so a test can restart on the same data).
fn js_server_in(store: &std::path::Path, extra: &[&str]) -> TestServer {
    let store = store.display().to_string();
    let mut args = vec!["-js", "-sd", store.as_str()];
    args.extend_from_slice(extra);
    ServerBuilder::new().args(&args).start()
}

struct JsServer {
    server: TestServer,
    _store: tempfile::TempDir,
}

fn js_server() -> JsServer {
    let store = tempfile::tempdir().expect("store dir");
    let server = js_server_in(store.path(), &[]);
    JsServer {
        server,
        _store: store,
    }
}

async fn js(server: &TestServer) -> (async_nats::Client, jetstream::Context) {
    let client = client(server).await;
    let context = jetstream::new(client.clone());
    (client, context)
}

/// One raw API request; the JSON answer.
async fn api(client: &async_nats::Client, subject: &str, body: Value) -> Value {
    json_request(client, subject, body).await
}

/// A publish with a reply inbox, raw: the PubAck JSON (or error JSON).
async fn publish_raw(
    client: &async_nats::Client,
    subject: &str,
    headers: &[(&str, &str)],
    payload: &str,
) -> Value {
    let mut map = async_nats::HeaderMap::new();
    for (k, v) in headers {
        map.insert(*k, *v);
    }
    let reply = tokio::time::timeout(
        CLIENT_RECV_TIMEOUT,
        client.request_with_headers(subject.to_string(), map, Bytes::from(payload.to_string())),
    )
    .await
    .expect("pub ack in time")
    .expect("pub ack");
    serde_json::from_slice(&reply.payload).expect("pub ack is JSON")
}

fn err_code(answer: &Value) -> u64 {
    answer["error"]["err_code"]
        .as_u64()
        .unwrap_or_else(|| panic!("expected an error, got {answer}"))
}

async fn create(client: &async_nats::Client, config: Value) -> Value {
    let name = config["name"].as_str().expect("name").to_string();
    api(client, &format!("$JS.API.STREAM.CREATE.{name}"), config).await
}

async fn info(client: &async_nats::Client, name: &str) -> Value {
    api(client, &format!("$JS.API.STREAM.INFO.{name}"), Value::Null).await
}

#[tokio::test]
async fn info_announces_jetstream_and_account_info_answers() {
    let s = js_server();
    let mut raw = RawClient::connect(s.server.addr());
    let server_info = raw.read_info();
    assert_eq!(server_info["jetstream"], json!(true));
    let (client, _) = js(&s.server).await;
    let account = api(&client, "$JS.API.INFO", Value::Null).await;
    assert_eq!(
        account["type"],
        "io.nats.jetstream.api.v1.account_info_response"
    );
    assert_eq!(account["streams"], 0);
    assert_eq!(account["memory"], 0);
    assert_eq!(account["storage"], 0);
    assert!(account["limits"]["max_streams"].is_i64());
}

#[tokio::test]
async fn without_jetstream_the_api_has_no_responders() {
    let server = TestServer::start(&[]);
    let client = client(&server).await;
    let result = client
        .request("$JS.API.INFO".to_string(), Bytes::new())
        .await
        .expect_err("no responders");
    assert_eq!(
        result.kind(),
        async_nats::RequestErrorKind::NoResponders,
        "{result}"
    );
}

#[tokio::test]
async fn create_publish_and_read_back() {
    let s = js_server();
    let (client, context) = js(&s.server).await;
    let mut stream = context
        .create_stream(stream::Config {
            name: "ORDERS".to_string(),
            subjects: vec!["orders.>".to_string()],
            allow_direct: true,
            ..Default::default()
        })
        .await
        .expect("create stream");
    for i in 1..=10u64 {
        let ack = context
            .publish(format!("orders.{}", i % 3), format!("order {i}").into())
            .await
            .expect("publish")
            .await
            .expect("ack");
        assert_eq!(ack.stream, "ORDERS");
        assert_eq!(ack.sequence, i);
        assert!(!ack.duplicate);
    }
    let info = stream.info().await.expect("info").clone();
    assert_eq!(info.state.messages, 10);
    assert_eq!(info.state.first_sequence, 1);
    assert_eq!(info.state.last_sequence, 10);
    assert_eq!(info.state.subjects_count, 3);
    assert!(info.state.bytes > 0);

    let message = stream.get_raw_message(5).await.expect("get 5");
    assert_eq!(message.subject.as_str(), "orders.2");
    assert_eq!(message.payload, Bytes::from("order 5"));
    let last = stream
        .get_last_raw_message_by_subject("orders.1")
        .await
        .expect("last by subject");
    assert_eq!(last.sequence, 10);
    let direct = stream
        .direct_get_last_for_subject("orders.0")
        .await
        .expect("direct last");
    assert_eq!(direct.sequence, 9);
    assert_eq!(direct.payload, Bytes::from("order 9"));
    let direct = stream.direct_get(2).await.expect("direct get 2");
    assert_eq!(direct.subject.as_str(), "orders.2");
    let next = stream
        .direct_get_next_for_subject("orders.1", Some(5))
        .await
        .expect("direct next");
    assert_eq!(next.sequence, 7);

    // Raw MSG.GET answer shape.
    let raw = api(&client, "$JS.API.STREAM.MSG.GET.ORDERS", json!({"seq": 1})).await;
    assert_eq!(
        raw["type"],
        "io.nats.jetstream.api.v1.stream_msg_get_response"
    );
    assert_eq!(raw["message"]["subject"], "orders.1");
    assert_eq!(raw["message"]["seq"], 1);
    assert_eq!(raw["message"]["data"], "b3JkZXIgMQ==");
    let missing = api(&client, "$JS.API.STREAM.MSG.GET.ORDERS", json!({"seq": 99})).await;
    assert_eq!(err_code(&missing), 10037);
    assert_eq!(missing["error"]["code"], 404);
}

#[tokio::test]
async fn publishes_from_every_core_reach_the_stream_in_order() {
    let s = js_server();
    let (_, context) = js(&s.server).await;
    context
        .create_stream(stream::Config {
            name: "MANY".to_string(),
            subjects: vec!["many.*".to_string()],
            ..Default::default()
        })
        .await
        .expect("create");
    // Several connections: with two cores, some land on the core that does not own the
    // stream, so their publishes and acks cross the mesh.
    let mut tasks = Vec::new();
    for c in 0..6 {
        let client = client(&s.server).await;
        tasks.push(tokio::spawn(async move {
            let context = jetstream::new(client);
            let mut last = 0;
            for i in 0..50 {
                let ack = context
                    .publish(format!("many.{c}"), format!("{c}-{i}").into())
                    .await
                    .expect("publish")
                    .await
                    .expect("ack");
                assert!(
                    ack.sequence > last,
                    "acks in increasing order per publisher"
                );
                last = ack.sequence;
            }
        }));
    }
    for task in tasks {
        task.await.expect("publisher");
    }
    let mut stream = context.get_stream("MANY").await.expect("stream");
    let info = stream.info().await.expect("info");
    assert_eq!(info.state.messages, 300);
    assert_eq!(info.state.last_sequence, 300);
}

#[tokio::test]
async fn duplicate_message_ids_are_stored_once() {
    let s = js_server();
    let (client, context) = js(&s.server).await;
    create(&client, json!({"name": "D", "subjects": ["d.>"]})).await;
    let first = context
        .send_publish(
            "d.1",
            PublishMessage::build()
                .payload("a".into())
                .message_id("id-1"),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let again = context
        .send_publish(
            "d.1",
            PublishMessage::build()
                .payload("b".into())
                .message_id("id-1"),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(first.sequence, 1);
    assert_eq!(again.sequence, 1);
    assert!(again.duplicate);
    let raw = publish_raw(&client, "d.1", &[("Nats-Msg-Id", "id-1")], "c").await;
    assert_eq!(raw, json!({"stream": "D", "seq": 1, "duplicate": true}));
    let state = &info(&client, "D").await["state"];
    assert_eq!(state["messages"], 1);
}

#[tokio::test]
async fn expectation_headers_are_checked() {
    let s = js_server();
    let (client, _) = js(&s.server).await;
    create(&client, json!({"name": "E", "subjects": ["e.>"]})).await;
    let ok = publish_raw(&client, "e.a", &[("Nats-Msg-Id", "m1")], "1").await;
    assert_eq!(ok, json!({"stream": "E", "seq": 1}));

    let wrong_stream = publish_raw(&client, "e.a", &[("Nats-Expected-Stream", "X")], "x").await;
    assert_eq!(err_code(&wrong_stream), 10060);
    assert_eq!(
        wrong_stream["error"]["description"],
        "expected stream does not match"
    );

    let wrong_last =
        publish_raw(&client, "e.a", &[("Nats-Expected-Last-Sequence", "7")], "x").await;
    assert_eq!(err_code(&wrong_last), 10071);
    assert_eq!(wrong_last["error"]["description"], "wrong last sequence: 1");
    assert_eq!(wrong_last["stream"], "E");

    let right_last =
        publish_raw(&client, "e.b", &[("Nats-Expected-Last-Sequence", "1")], "2").await;
    assert_eq!(right_last["seq"], 2);

    let wrong_subject = publish_raw(
        &client,
        "e.a",
        &[("Nats-Expected-Last-Subject-Sequence", "2")],
        "x",
    )
    .await;
    assert_eq!(err_code(&wrong_subject), 10071);
    assert_eq!(
        wrong_subject["error"]["description"],
        "wrong last sequence: 1"
    );
    let right_subject = publish_raw(
        &client,
        "e.a",
        &[("Nats-Expected-Last-Subject-Sequence", "1")],
        "3",
    )
    .await;
    assert_eq!(right_subject["seq"], 3);
    let new_subject = publish_raw(
        &client,
        "e.new",
        &[("Nats-Expected-Last-Subject-Sequence", "0")],
        "4",
    )
    .await;
    assert_eq!(new_subject["seq"], 4);

    // The last msg id is the last stored message's (none since "m1" had one).
    let wrong_id = publish_raw(&client, "e.a", &[("Nats-Expected-Last-Msg-Id", "m1")], "x").await;
    assert_eq!(err_code(&wrong_id), 10070);
    assert_eq!(wrong_id["error"]["description"], "wrong last msg ID: ");
    let with_id = publish_raw(&client, "e.a", &[("Nats-Msg-Id", "m5")], "5").await;
    assert_eq!(with_id["seq"], 5);
    let wrong_id = publish_raw(&client, "e.a", &[("Nats-Expected-Last-Msg-Id", "m1")], "x").await;
    assert_eq!(wrong_id["error"]["description"], "wrong last msg ID: m5");
    let right_id = publish_raw(&client, "e.a", &[("Nats-Expected-Last-Msg-Id", "m5")], "6").await;
    assert_eq!(right_id["seq"], 6);
    // Nothing failed was stored.
    assert_eq!(info(&client, "E").await["state"]["messages"], 6);
}

#[tokio::test]
async fn limits_discard_old_and_new() {
    let s = js_server();
    let (client, _) = js(&s.server).await;
    create(
        &client,
        json!({"name": "OLD", "subjects": ["old"], "max_msgs": 5}),
    )
    .await;
    for i in 0..10 {
        publish_raw(&client, "old", &[], &format!("{i}")).await;
    }
    let state = &info(&client, "OLD").await["state"];
    assert_eq!(state["messages"], 5);
    assert_eq!(state["first_seq"], 6);
    assert_eq!(state["last_seq"], 10);

    create(
        &client,
        json!({"name": "NEW", "subjects": ["new"], "max_msgs": 2, "discard": "new"}),
    )
    .await;
    publish_raw(&client, "new", &[], "1").await;
    publish_raw(&client, "new", &[], "2").await;
    let refused = publish_raw(&client, "new", &[], "3").await;
    assert_eq!(err_code(&refused), 10077);
    assert_eq!(refused["error"]["description"], "maximum messages exceeded");
    assert_eq!(refused["error"]["code"], 503);

    create(
        &client,
        json!({"name": "PER", "subjects": ["per.*"], "max_msgs_per_subject": 2}),
    )
    .await;
    for i in 0..5 {
        publish_raw(&client, "per.a", &[], &format!("a{i}")).await;
        publish_raw(&client, "per.b", &[], &format!("b{i}")).await;
    }
    let state = &info(&client, "PER").await["state"];
    assert_eq!(state["messages"], 4);
    assert_eq!(state["num_subjects"], 2);

    create(
        &client,
        json!({"name": "BIG", "subjects": ["big"], "max_msg_size": 8}),
    )
    .await;
    let too_big = publish_raw(&client, "big", &[], "123456789").await;
    assert_eq!(err_code(&too_big), 10054);
    assert_eq!(
        too_big["error"]["description"],
        "message size exceeds maximum allowed"
    );

    create(
        &client,
        json!({"name": "BYTES", "subjects": ["bytes"], "max_bytes": 400}),
    )
    .await;
    for i in 0..20 {
        publish_raw(&client, "bytes", &[], &format!("{i:040}")).await;
    }
    let state = &info(&client, "BYTES").await["state"];
    assert!(state["bytes"].as_u64().unwrap() <= 400, "{state}");
    assert_eq!(state["last_seq"], 20);
}

#[tokio::test]
async fn max_age_expires_messages_without_new_writes() {
    let s = js_server();
    let (client, _) = js(&s.server).await;
    create(
        &client,
        json!({"name": "AGE", "subjects": ["age"], "max_age": 500_000_000u64}),
    )
    .await;
    for i in 0..3 {
        publish_raw(&client, "age", &[], &format!("{i}")).await;
    }
    assert_eq!(info(&client, "AGE").await["state"]["messages"], 3);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while info(&client, "AGE").await["state"]["messages"] != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "messages did not expire"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = &info(&client, "AGE").await["state"];
    assert_eq!(state["first_seq"], 4);
    assert_eq!(state["last_seq"], 3);
}

#[tokio::test]
async fn purge_and_delete() {
    let s = js_server();
    let (client, _) = js(&s.server).await;
    create(&client, json!({"name": "P", "subjects": ["p.*"]})).await;
    for i in 0..10 {
        publish_raw(
            &client,
            if i % 2 == 0 { "p.even" } else { "p.odd" },
            &[],
            "x",
        )
        .await;
    }
    let deleted = api(&client, "$JS.API.STREAM.MSG.DELETE.P", json!({"seq": 3})).await;
    assert_eq!(deleted["success"], true);
    let again = api(&client, "$JS.API.STREAM.MSG.DELETE.P", json!({"seq": 3})).await;
    assert_eq!(err_code(&again), 10043, "{again}");
    assert_eq!(again["error"]["description"], "sequence 3 not found");
    let detail = api(
        &client,
        "$JS.API.STREAM.INFO.P",
        json!({"deleted_details": true, "subjects_filter": "p.*"}),
    )
    .await;
    assert_eq!(detail["state"]["num_deleted"], 1);
    assert_eq!(detail["state"]["deleted"], json!([3]));
    assert_eq!(detail["state"]["subjects"]["p.even"], 4);
    assert_eq!(detail["state"]["subjects"]["p.odd"], 5);

    let purged = api(
        &client,
        "$JS.API.STREAM.PURGE.P",
        json!({"filter": "p.odd", "keep": 1}),
    )
    .await;
    assert_eq!(purged["success"], true);
    assert_eq!(purged["purged"], 4);
    let purged = api(&client, "$JS.API.STREAM.PURGE.P", json!({"seq": 9})).await;
    assert_eq!(purged["purged"], 3, "{purged}");
    let both = api(
        &client,
        "$JS.API.STREAM.PURGE.P",
        json!({"seq": 9, "keep": 1}),
    )
    .await;
    assert_eq!(err_code(&both), 10003);
    let all = api(&client, "$JS.API.STREAM.PURGE.P", Value::Null).await;
    assert_eq!(all["purged"], 2);
    let state = &info(&client, "P").await["state"];
    assert_eq!(state["messages"], 0);
    assert_eq!(state["first_seq"], 11);
    assert_eq!(state["last_seq"], 10);

    create(
        &client,
        json!({"name": "LOCKED", "subjects": ["locked"], "deny_delete": true, "deny_purge": true}),
    )
    .await;
    publish_raw(&client, "locked", &[], "x").await;
    let refused = api(
        &client,
        "$JS.API.STREAM.MSG.DELETE.LOCKED",
        json!({"seq": 1}),
    )
    .await;
    assert_eq!(err_code(&refused), 10057);
    let refused = api(&client, "$JS.API.STREAM.PURGE.LOCKED", Value::Null).await;
    assert_eq!(err_code(&refused), 10110);
}

#[tokio::test]
async fn rollup_replaces_earlier_messages() {
    let s = js_server();
    let (client, _) = js(&s.server).await;
    create(
        &client,
        json!({"name": "R", "subjects": ["r.*"], "allow_rollup_hdrs": true}),
    )
    .await;
    for _ in 0..3 {
        publish_raw(&client, "r.a", &[], "a").await;
        publish_raw(&client, "r.b", &[], "b").await;
    }
    let ack = publish_raw(&client, "r.a", &[("Nats-Rollup", "sub")], "total-a").await;
    assert_eq!(ack["seq"], 7);
    let state = &info(&client, "R").await["state"];
    assert_eq!(state["messages"], 4);
    publish_raw(&client, "r.b", &[("Nats-Rollup", "all")], "everything").await;
    let state = &info(&client, "R").await["state"];
    assert_eq!(state["messages"], 1);
    assert_eq!(state["first_seq"], 8);

    create(&client, json!({"name": "NR", "subjects": ["nr"]})).await;
    let refused = publish_raw(&client, "nr", &[("Nats-Rollup", "all")], "x").await;
    assert_eq!(
        refused,
        json!({"error": {"code": 500, "err_code": 10111, "description": "rollup not permitted"}, "stream": "NR", "seq": 0})
    );
}

#[tokio::test]
async fn stream_management_errors() {
    let s = js_server();
    let (client, _) = js(&s.server).await;
    let created = create(&client, json!({"name": "M", "subjects": ["m.>"]})).await;
    assert_eq!(
        created["type"],
        "io.nats.jetstream.api.v1.stream_create_response"
    );
    assert_eq!(created["config"]["retention"], "limits");
    assert_eq!(created["config"]["max_msgs"], -1);
    assert_eq!(created["config"]["duplicate_window"], 120_000_000_000u64);
    assert_eq!(created["config"]["storage"], "file");
    assert_eq!(created["state"]["messages"], 0);

    // Same config again: fine. Different: refused.
    let again = create(&client, json!({"name": "M", "subjects": ["m.>"]})).await;
    assert!(again.get("error").is_none(), "{again}");
    let different = create(
        &client,
        json!({"name": "M", "subjects": ["m.>"], "max_msgs": 3}),
    )
    .await;
    assert_eq!(err_code(&different), 10058);
    let overlap = create(&client, json!({"name": "M2", "subjects": ["m.x"]})).await;
    assert_eq!(err_code(&overlap), 10065);
    let mismatch = api(&client, "$JS.API.STREAM.CREATE.A", json!({"name": "B"})).await;
    assert_eq!(err_code(&mismatch), 10056);
    let bad_json = api(&client, "$JS.API.STREAM.CREATE.A", json!("not an object")).await;
    assert_eq!(err_code(&bad_json), 10025);
    let replicas = create(&client, json!({"name": "R3", "num_replicas": 3})).await;
    assert_eq!(err_code(&replicas), 10074);
    let bad_age = create(&client, json!({"name": "AGE", "max_age": 1000})).await;
    assert_eq!(err_code(&bad_age), 10052);
    let missing = info(&client, "NOPE").await;
    assert_eq!(err_code(&missing), 10059);
    assert_eq!(missing["error"]["description"], "stream not found");

    let names = api(&client, "$JS.API.STREAM.NAMES", Value::Null).await;
    assert_eq!(names["streams"], json!(["M"]));
    let filtered = api(&client, "$JS.API.STREAM.NAMES", json!({"subject": "m.a.b"})).await;
    assert_eq!(filtered["streams"], json!(["M"]));
    let none = api(&client, "$JS.API.STREAM.NAMES", json!({"subject": "zzz"})).await;
    assert_eq!(none["streams"], Value::Null);
    let list = api(&client, "$JS.API.STREAM.LIST", Value::Null).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["streams"][0]["config"]["name"], "M");

    // Update: limits may change, storage may not.
    let updated = api(
        &client,
        "$JS.API.STREAM.UPDATE.M",
        json!({"name": "M", "subjects": ["m.>", "n.>"], "max_msgs": 10}),
    )
    .await;
    assert_eq!(updated["config"]["max_msgs"], 10, "{updated}");
    publish_raw(&client, "n.1", &[], "via new subject").await;
    assert_eq!(info(&client, "M").await["state"]["messages"], 1);
    let storage = api(
        &client,
        "$JS.API.STREAM.UPDATE.M",
        json!({"name": "M", "subjects": ["m.>"], "storage": "memory"}),
    )
    .await;
    assert_eq!(err_code(&storage), 10052);

    let deleted = api(&client, "$JS.API.STREAM.DELETE.M", Value::Null).await;
    assert_eq!(deleted["success"], true);
    let gone = info(&client, "M").await;
    assert_eq!(err_code(&gone), 10059);
    // Its subjects are free again, and publishing to them no longer reaches a stream.
    let result = client
        .request("m.1".to_string(), Bytes::from("x"))
        .await
        .expect_err("no stream any more");
    assert_eq!(result.kind(), async_nats::RequestErrorKind::NoResponders);
}

#[tokio::test]
async fn memory_streams_work_like_file_streams() {
    let s = js_server();
    let (client, context) = js(&s.server).await;
    create(
        &client,
        json!({"name": "MEM", "subjects": ["mem.*"], "storage": "memory", "max_msgs_per_subject": 1}),
    )
    .await;
    for i in 0..4 {
        context
            .publish(format!("mem.{}", i % 2), format!("{i}").into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let state = &info(&client, "MEM").await["state"];
    assert_eq!(state["messages"], 2);
    assert_eq!(state["first_seq"], 3);
    let account = api(&client, "$JS.API.INFO", Value::Null).await;
    assert!(account["memory"].as_u64().unwrap() > 0);
    assert_eq!(account["streams"], 1);
}

#[tokio::test]
async fn no_ack_streams_store_without_answering() {
    let s = js_server();
    let (client, _) = js(&s.server).await;
    create(
        &client,
        json!({"name": "QUIET", "subjects": ["quiet"], "no_ack": true}),
    )
    .await;
    let mut inbox = client.subscribe("quiet-acks".to_string()).await.unwrap();
    client
        .publish_with_reply("quiet".to_string(), "quiet-acks".to_string(), "x".into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    assert!(
        tokio::time::timeout(
            Duration::from_millis(300),
            futures::StreamExt::next(&mut inbox)
        )
        .await
        .is_err(),
        "a no_ack stream sent an ack"
    );
    assert_eq!(info(&client, "QUIET").await["state"]["messages"], 1);
}

#[tokio::test]
async fn api_requests_from_every_core_are_answered() {
    let s = js_server();
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(client(&s.server).await);
    }
    create(&clients[0], json!({"name": "X", "subjects": ["x"]})).await;
    for client in &clients {
        let answer = info(client, "X").await;
        assert_eq!(answer["config"]["name"], "X");
        let ack = publish_raw(client, "x", &[], "hi").await;
        assert_eq!(ack["stream"], "X");
        let account = api(client, "$JS.API.INFO", Value::Null).await;
        assert_eq!(account["streams"], 1);
    }
}

#[tokio::test]
async fn streams_survive_a_restart() {
    let store = tempfile::tempdir().unwrap();
    {
        let mut server = js_server_in(store.path(), &[]);
        let (client, _) = js(&server).await;
        create(
            &client,
            json!({"name": "KEEP", "subjects": ["keep.*"], "max_msgs_per_subject": 3}),
        )
        .await;
        create(
            &client,
            json!({"name": "GONE", "subjects": ["gone"], "storage": "memory"}),
        )
        .await;
        for i in 0..20 {
            publish_raw(
                &client,
                &format!("keep.{}", i % 4),
                &[("Nats-Msg-Id", &format!("id{i}"))],
                &format!("v{i}"),
            )
            .await;
        }
        publish_raw(&client, "gone", &[], "x").await;
        api(
            &client,
            "$JS.API.STREAM.MSG.DELETE.KEEP",
            json!({"seq": 19}),
        )
        .await;
        server.stop();
    }
    let server = js_server_in(store.path(), &[]);
    let (client, context) = js(&server).await;
    let state = &info(&client, "KEEP").await["state"];
    assert_eq!(state["messages"], 11, "{state}");
    assert_eq!(state["last_seq"], 20);
    assert_eq!(state["num_deleted"], 1);
    let stream = context.get_stream("KEEP").await.unwrap();
    let message = stream.get_raw_message(20).await.unwrap();
    assert_eq!(message.payload, Bytes::from("v19"));
    // Dedup state survives too.
    let dup = publish_raw(&client, "keep.0", &[("Nats-Msg-Id", "id16")], "again").await;
    assert_eq!(dup["duplicate"], true, "{dup}");
    // Memory streams do not survive a restart (as in nats-server).
    let gone = info(&client, "GONE").await;
    assert_eq!(err_code(&gone), 10059, "{gone}");
    let next = publish_raw(&client, "keep.1", &[], "after restart").await;
    assert_eq!(next["seq"], 21);
}

/// DIRECT.GET's batch and multi-last forms (ADR-31, nats-server 2.11+; 2.9.10 answers
/// only the first message, so this runs against tern only).
#[tokio::test]
async fn direct_get_batches_and_multi_last() {
    if skip_on_reference("direct get batches arrived in nats-server 2.11") {
        return;
    }
    let s = js_server();
    let (client, _) = js(&s.server).await;
    create(
        &client,
        json!({"name": "KVS", "subjects": ["kv.>"], "allow_direct": true}),
    )
    .await;
    // seq: 1 a=1, 2 b=1, 3 a=2, 4 c=1, 5 b=2
    for (key, value) in [("a", "1"), ("b", "1"), ("a", "2"), ("c", "1"), ("b", "2")] {
        publish_raw(&client, &format!("kv.{key}"), &[], value).await;
    }
    async fn collect(client: &async_nats::Client, body: Value) -> Vec<async_nats::Message> {
        let inbox = client.new_inbox();
        let mut sub = client.subscribe(inbox.clone()).await.unwrap();
        client
            .publish_with_reply(
                "$JS.API.DIRECT.GET.KVS".to_string(),
                inbox,
                Bytes::from(body.to_string()),
            )
            .await
            .unwrap();
        let mut out = Vec::new();
        loop {
            let message = recv(&mut sub).await;
            let end =
                message.payload.is_empty() && message.status.is_some_and(|s| s.as_u16() != 200);
            out.push(message);
            if end {
                return out;
            }
        }
    }
    let header = |m: &async_nats::Message, name: &str| -> String {
        m.headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };

    let batch = collect(&client, json!({"seq": 2, "batch": 3})).await;
    assert_eq!(batch.len(), 4, "three messages and the end-of-batch");
    let seqs: Vec<String> = batch[..3]
        .iter()
        .map(|m| header(m, "Nats-Sequence"))
        .collect();
    assert_eq!(seqs, ["2", "3", "4"]);
    assert_eq!(header(&batch[0], "Nats-Num-Pending"), "3");
    assert_eq!(header(&batch[1], "Nats-Last-Sequence"), "2");
    let eob = &batch[3];
    assert_eq!(eob.status.map(|s| s.as_u16()), Some(204));
    assert_eq!(header(eob, "Nats-Num-Pending"), "1");
    assert_eq!(header(eob, "Nats-Last-Sequence"), "4");

    let filtered = collect(
        &client,
        json!({"seq": 1, "batch": 10, "next_by_subj": "kv.b"}),
    )
    .await;
    let values: Vec<Bytes> = filtered
        .iter()
        .filter(|m| !m.payload.is_empty())
        .map(|m| m.payload.clone())
        .collect();
    assert_eq!(values, [Bytes::from("1"), Bytes::from("2")]);

    let latest = collect(&client, json!({"multi_last": ["kv.>"]})).await;
    let got: Vec<(String, Bytes)> = latest
        .iter()
        .filter(|m| !m.payload.is_empty())
        .map(|m| (header(m, "Nats-Subject"), m.payload.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("kv.a".to_string(), Bytes::from("2")),
            ("kv.c".to_string(), Bytes::from("1")),
            ("kv.b".to_string(), Bytes::from("2")),
        ]
    );
    assert_eq!(header(latest.last().unwrap(), "Nats-UpTo-Sequence"), "5");

    // As of sequence 3: b was still 1, c did not exist.
    let past = collect(
        &client,
        json!({"multi_last": ["kv.a", "kv.b", "kv.c"], "up_to_seq": 3}),
    )
    .await;
    let got: Vec<(String, Bytes)> = past
        .iter()
        .filter(|m| !m.payload.is_empty())
        .map(|m| (header(m, "Nats-Subject"), m.payload.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("kv.b".to_string(), Bytes::from("1")),
            ("kv.a".to_string(), Bytes::from("2")),
        ]
    );
}

/// A KV bucket is a stream: create, put, get (direct get), update with revision, delete
/// and purge markers work already (watch, keys and history need consumers).
#[tokio::test]
async fn key_value_put_get_update() {
    if skip_on_reference("async-nats 0.51 can not parse 2.9.10's KV stream-create answer") {
        return;
    }
    let s = js_server();
    let (_, context) = js(&s.server).await;
    let kv = context
        .create_key_value(async_nats::jetstream::kv::Config {
            bucket: "profiles".to_string(),
            history: 3,
            ..Default::default()
        })
        .await
        .expect("create bucket");
    let first = kv.put("alice", "v1".into()).await.expect("put");
    let second = kv.put("alice", "v2".into()).await.expect("put");
    assert_eq!(second, first + 1);
    assert_eq!(kv.get("alice").await.unwrap(), Some(Bytes::from("v2")));
    let entry = kv.entry("alice").await.unwrap().expect("entry");
    assert_eq!(entry.revision, second);
    // Optimistic concurrency: update needs the current revision.
    assert!(kv.update("alice", "stale".into(), first).await.is_err());
    let third = kv
        .update("alice", "v3".into(), second)
        .await
        .expect("update");
    assert_eq!(kv.get("alice").await.unwrap(), Some(Bytes::from("v3")));
    assert!(
        kv.create("alice", "again".into()).await.is_err(),
        "create on an existing key"
    );
    kv.delete("alice").await.expect("delete");
    assert_eq!(kv.get("alice").await.unwrap(), None);
    kv.create("alice", "reborn".into())
        .await
        .expect("create after delete");
    assert!(third > second);
    assert_eq!(kv.get("missing").await.unwrap(), None);
}
