//! JetStream per account: each account's streams, API and limits are its own, as in
//! nats-server. Users of two accounts (and of accounts without JetStream) talk through
//! async-nats and raw `$JS.API` requests: the same stream and bucket names in two
//! accounts, limits hit with nats-server's exact errors, "JetStream not enabled for
//! account", isolation attempts (wildcards, queue groups, `$JS.ACK` subjects, the API,
//! advisories), a publish permission denying part of the API, restarts, and `/jsz`.
//!
//! Every scenario runs against tern and, side by side, the reference nats-server 2.9.10
//! (`reference_binary`), and both must behave the same.

mod common;

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use common::*;
use futures::StreamExt;
use serde_json::{json, Value};

/// JetStream accounts A (unlimited), B (limited in bytes and counts) and D (limited in
/// stream sizes), C without JetStream, and a `$G` user. `ad` (of A) may not delete
/// streams through the API.
fn config(store: &Path) -> String {
    format!(
        r#"
jetstream {{ store_dir: "{}" }}
authorization {{ users: [ {{user: g, password: g}} ] }}
system_account: SYS
accounts {{
  SYS {{ users: [ {{user: s, password: s}} ] }}
  A {{
    jetstream: enabled
    users: [
      {{user: a, password: a}},
      {{user: ad, password: ad, permissions: {{publish: {{deny: ["$JS.API.STREAM.DELETE.>"]}}}}}}
    ]
  }}
  B {{
    jetstream: {{ max_mem: 1000, max_file: 2000, max_streams: 3, max_consumers: 1 }}
    users: [ {{user: b, password: b}} ]
  }}
  C {{ users: [ {{user: c, password: c}} ] }}
  D {{
    jetstream: {{ max_bytes_required: true, store_max_stream_bytes: 1000, mem_max_stream_bytes: 500, max_ack_pending: 10 }}
    users: [ {{user: d, password: d}} ]
  }}
}}
"#,
        store.display()
    )
}

/// The server under test (tern, or what `TERN_TEST_SERVER` names) or the reference.
#[derive(Clone, Copy, Debug)]
enum Under {
    Tern,
    Reference,
}

fn start(under: Under, store: &Path, extra: &[&str]) -> TestServer {
    let builder = ServerBuilder::new().config(&config(store)).args(extra);
    match under {
        Under::Tern => builder.start(),
        Under::Reference => builder.start_reference(),
    }
}

async fn user(server: &TestServer, name: &str) -> async_nats::Client {
    connect_with(
        server,
        async_nats::ConnectOptions::with_user_and_password(name.into(), name.into()),
    )
    .await
}

async fn stream_messages(client: &async_nats::Client, stream: &str) -> Value {
    let info = json_request(
        client,
        &format!("$JS.API.STREAM.INFO.{stream}"),
        Value::Null,
    )
    .await;
    info["state"]["messages"].clone()
}

fn error_code(answer: &Value) -> (u64, u64, String) {
    let error = &answer["error"];
    (
        error["code"].as_u64().unwrap_or(0),
        error["err_code"].as_u64().unwrap_or(0),
        error["description"].as_str().unwrap_or("").to_string(),
    )
}

/// Runs `scenario` against tern and then against nats-server 2.9.10.
macro_rules! on_both {
    ($scenario:ident) => {
        for under in [Under::Tern, Under::Reference] {
            let store = tempfile::tempdir().unwrap();
            let server = start(under, store.path(), &[]);
            $scenario(&server)
                .await
                .unwrap_or_else(|e: String| panic!("{under:?}: {e}\n{}", server.log()));
        }
    };
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

// ---------------------------------------------------------------------------------------

async fn same_names_are_different_streams(server: &TestServer) -> Result<(), String> {
    let a = user(server, "a").await;
    let b = user(server, "b").await;
    for client in [&a, &b] {
        let created =
            create_stream(client, json!({"name": "ORDERS", "subjects": ["orders.>"]})).await;
        check(created.get("error").is_none(), || {
            format!("create: {created}")
        })?;
    }
    for i in 0..3 {
        let ack = publish_for_ack(&a, "orders.new", &format!("a{i}")).await;
        check(ack["seq"] == i + 1, || format!("A ack {ack}"))?;
    }
    let ack = publish_for_ack(&b, "orders.new", "b0").await;
    check(ack["seq"] == 1, || format!("B ack {ack}"))?;
    check(stream_messages(&a, "ORDERS").await == 3, || {
        "A count".into()
    })?;
    check(stream_messages(&b, "ORDERS").await == 1, || {
        "B count".into()
    })?;
    for (client, streams) in [(&a, 1), (&b, 1)] {
        let info = json_request(client, "$JS.API.INFO", Value::Null).await;
        check(info["streams"] == streams, || format!("INFO {info}"))?;
        let names = json_request(client, "$JS.API.STREAM.NAMES", Value::Null).await;
        check(names["streams"] == json!(["ORDERS"]), || format!("{names}"))?;
    }
    // A's message 2 is "a1", B has no message 2.
    let got = json_request(&a, "$JS.API.STREAM.MSG.GET.ORDERS", json!({"seq": 2})).await;
    check(got["message"]["data"] == "YTE=", || format!("A get {got}"))?;
    let got = json_request(&b, "$JS.API.STREAM.MSG.GET.ORDERS", json!({"seq": 2})).await;
    check(error_code(&got).1 == 10037, || format!("B get {got}"))?;
    // Deleting B's stream leaves A's.
    let deleted = json_request(&b, "$JS.API.STREAM.DELETE.ORDERS", Value::Null).await;
    check(deleted["success"] == true, || format!("{deleted}"))?;
    check(stream_messages(&a, "ORDERS").await == 3, || {
        "A after B's delete".into()
    })?;
    Ok(())
}

#[tokio::test]
async fn the_same_stream_name_in_two_accounts_is_two_streams() {
    on_both!(same_names_are_different_streams);
}

/// The KV bucket stream as async-nats creates it. Buckets are created through the raw
/// API because async-nats 0.51 can not parse nats-server 2.9.10's answer to its own
/// bucket create; everything after that goes through async-nats's `kv`/`object_store`.
fn kv_stream(bucket: &str) -> Value {
    json!({
        "name": format!("KV_{bucket}"),
        "subjects": [format!("$KV.{bucket}.>")],
        "max_msgs_per_subject": 1,
        "discard": "new",
        "allow_rollup_hdrs": true,
        "deny_delete": true,
        "allow_direct": true,
        "storage": "file",
        "num_replicas": 1,
    })
}

/// The Object Store bucket stream as async-nats creates it.
fn object_stream(bucket: &str) -> Value {
    json!({
        "name": format!("OBJ_{bucket}"),
        "subjects": [format!("$O.{bucket}.C.>"), format!("$O.{bucket}.M.>")],
        "discard": "new",
        "allow_rollup_hdrs": true,
        "allow_direct": true,
        "storage": "file",
        "num_replicas": 1,
    })
}

async fn kv_bucket(client: &async_nats::Client, bucket: &str) -> Result<kv::Store, String> {
    let created = create_stream(client, kv_stream(bucket)).await;
    check(created.get("error").is_none(), || {
        format!("create kv: {created}")
    })?;
    jetstream::new(client.clone())
        .get_key_value(bucket)
        .await
        .map_err(|e| format!("get kv: {e}"))
}

async fn buckets_per_account(server: &TestServer) -> Result<(), String> {
    let a_client = user(server, "a").await;
    let b_client = user(server, "b").await;
    let (a, b) = (
        jetstream::new(a_client.clone()),
        jetstream::new(b_client.clone()),
    );
    let buckets = [
        kv_bucket(&a_client, "cfg").await?,
        kv_bucket(&b_client, "cfg").await?,
    ];
    buckets[0]
        .put("colour", "red".into())
        .await
        .map_err(|e| e.to_string())?;
    buckets[0]
        .put("only.a", "1".into())
        .await
        .map_err(|e| e.to_string())?;
    buckets[1]
        .put("colour", "blue".into())
        .await
        .map_err(|e| e.to_string())?;
    let get = |i: usize, key: &'static str| {
        let bucket = buckets[i].clone();
        async move { bucket.get(key).await.map_err(|e| e.to_string()) }
    };
    check(get(0, "colour").await? == Some("red".into()), || {
        "A colour".into()
    })?;
    check(get(1, "colour").await? == Some("blue".into()), || {
        "B colour".into()
    })?;
    check(get(1, "only.a").await?.is_none(), || {
        "B sees A's key".into()
    })?;
    let entry = buckets[1]
        .entry("colour")
        .await
        .map_err(|e| e.to_string())?;
    check(entry.map(|e| e.revision) == Some(1), || {
        "B's revision".into()
    })?;

    // Object Store too: the same bucket and object name, separate contents.
    let mut objects = Vec::new();
    for (client, context, data) in [
        (&a_client, &a, b"from A".as_slice()),
        (&b_client, &b, b"B".as_slice()),
    ] {
        let created = create_stream(client, object_stream("files")).await;
        check(created.get("error").is_none(), || {
            format!("create objects: {created}")
        })?;
        let store = context
            .get_object_store("files")
            .await
            .map_err(|e| format!("get object store: {e}"))?;
        store
            .put("f", &mut { data })
            .await
            .map_err(|e| format!("put object: {e}"))?;
        objects.push(store);
    }
    for (store, want) in objects.iter().zip([b"from A".as_slice(), b"B".as_slice()]) {
        use tokio::io::AsyncReadExt;
        let mut object = store.get("f").await.map_err(|e| e.to_string())?;
        let mut data = Vec::new();
        object
            .read_to_end(&mut data)
            .await
            .map_err(|e| e.to_string())?;
        check(data == want, || {
            format!("object {:?}", String::from_utf8_lossy(&data))
        })?;
    }
    Ok(())
}

#[tokio::test]
async fn kv_and_object_buckets_are_per_account() {
    on_both!(buckets_per_account);
}

async fn limits_give_nats_server_errors(server: &TestServer) -> Result<(), String> {
    let b = user(server, "b").await;
    let info = json_request(&b, "$JS.API.INFO", Value::Null).await;
    let limits = &info["limits"];
    check(
        limits["max_memory"] == 1000
            && limits["max_storage"] == 2000
            && limits["max_streams"] == 3
            && limits["max_consumers"] == 1
            && limits["max_ack_pending"] == -1,
        || format!("INFO {info}"),
    )?;
    let expect = |answer: &Value, want: (u64, u64, &str)| {
        check(
            error_code(answer) == (want.0, want.1, want.2.to_string()),
            || format!("want {want:?}, got {answer}"),
        )
    };
    // Reservations: max_bytes past the account's storage / memory.
    let answer = create_stream(
        &b,
        json!({"name": "BIG", "subjects": ["big"], "max_bytes": 3000}),
    )
    .await;
    expect(
        &answer,
        (500, 10047, "insufficient storage resources available"),
    )?;
    let answer = create_stream(
        &b,
        json!({"name": "BIGM", "subjects": ["bigm"], "storage": "memory", "max_bytes": 2000}),
    )
    .await;
    expect(
        &answer,
        (500, 10028, "insufficient memory resources available"),
    )?;
    let answer = create_stream(
        &b,
        json!({"name": "R", "subjects": ["r"], "max_bytes": 1500}),
    )
    .await;
    check(answer.get("error").is_none(), || format!("{answer}"))?;
    let answer = create_stream(
        &b,
        json!({"name": "R2", "subjects": ["r2"], "max_bytes": 600}),
    )
    .await;
    expect(
        &answer,
        (500, 10047, "insufficient storage resources available"),
    )?;
    // An update may not grow past it either.
    let answer = json_request(
        &b,
        "$JS.API.STREAM.UPDATE.R",
        json!({"name": "R", "subjects": ["r"], "max_bytes": 2500}),
    )
    .await;
    expect(
        &answer,
        (500, 10047, "insufficient storage resources available"),
    )?;
    // More consumers per stream than the account allows.
    let answer = create_stream(
        &b,
        json!({"name": "C5", "subjects": ["c5"], "max_consumers": 5}),
    )
    .await;
    expect(&answer, (400, 10026, "maximum consumers limit reached"))?;

    for (name, storage) in [("F", "file"), ("M", "memory")] {
        let subject = name.to_lowercase();
        let answer = create_stream(
            &b,
            json!({"name": name, "subjects": [subject], "storage": storage}),
        )
        .await;
        check(answer.get("error").is_none(), || format!("{answer}"))?;
    }
    let answer = create_stream(&b, json!({"name": "X", "subjects": ["x"]})).await;
    expect(&answer, (400, 10027, "maximum number of streams reached"))?;

    // Consumers per stream.
    let consumer =
        json!({"stream_name": "F", "config": {"durable_name": "d1", "ack_policy": "explicit"}});
    let answer = json_request(&b, "$JS.API.CONSUMER.DURABLE.CREATE.F.d1", consumer).await;
    check(answer.get("error").is_none(), || format!("{answer}"))?;
    let consumer =
        json!({"stream_name": "F", "config": {"durable_name": "d2", "ack_policy": "explicit"}});
    let answer = json_request(&b, "$JS.API.CONSUMER.DURABLE.CREATE.F.d2", consumer).await;
    expect(&answer, (400, 10026, "maximum consumers limit reached"))?;

    // Publishes past the account's bytes: a file record of 100 bytes on subject "f" is
    // 22 + 1 + 100 + 8 = 131 bytes, so 15 fit in 2000 (R reserved nothing it stored);
    // a memory record is 1 + 100 + 16 = 117 bytes, so 8 fit in 1000.
    let payload = "x".repeat(100);
    for i in 0..15 {
        let ack = publish_for_ack(&b, "f", &payload).await;
        check(ack.get("error").is_none(), || format!("f #{i}: {ack}"))?;
    }
    let ack = publish_for_ack(&b, "f", &payload).await;
    expect(&ack, (400, 10002, "resource limits exceeded for account"))?;
    // Twelve publishes at once (they reach the stream together): still 8 fit, in order.
    let inbox = b.new_inbox();
    let mut acks = b
        .subscribe(format!("{inbox}.*"))
        .await
        .map_err(|e| e.to_string())?;
    flush(&b).await;
    for i in 0..12 {
        b.publish_with_reply("m", format!("{inbox}.{i}"), payload.clone().into())
            .await
            .map_err(|e| e.to_string())?;
    }
    flush(&b).await;
    let mut answers = std::collections::BTreeMap::new();
    while answers.len() < 12 {
        let ack = recv(&mut acks).await;
        let i: usize = ack.subject.rsplit('.').next().unwrap().parse().unwrap();
        answers.insert(i, serde_json::from_slice::<Value>(&ack.payload).unwrap());
    }
    for (i, ack) in &answers {
        if *i < 8 {
            check(ack["seq"] == *i as u64 + 1, || format!("m #{i}: {ack}"))?;
        } else {
            expect(ack, (400, 10002, "resource limits exceeded for account"))?;
        }
    }
    check(stream_messages(&b, "F").await == 15, || "F count".into())?;
    check(stream_messages(&b, "M").await == 8, || "M count".into())?;
    let info = json_request(&b, "$JS.API.INFO", Value::Null).await;
    check(
        info["storage"] == 15 * 131 && info["memory"] == 8 * 117 && info["streams"] == 3,
        || format!("INFO {info}"),
    )?;
    // A, unlimited, is not affected by B's limits.
    let a = user(server, "a").await;
    let answer = create_stream(
        &a,
        json!({"name": "BIG", "subjects": ["big"], "max_bytes": 3000}),
    )
    .await;
    check(answer.get("error").is_none(), || format!("A: {answer}"))?;
    Ok(())
}

#[tokio::test]
async fn account_limits_are_enforced_with_nats_server_errors() {
    on_both!(limits_give_nats_server_errors);
}

async fn limit_across_streams(server: &TestServer) -> Result<(), String> {
    // B may store 2000 bytes in files: 15 records of 131 bytes, whichever streams hold
    // them. A mirror copies F while F is published to; together they stop at 15.
    let b = user(server, "b").await;
    let created = create_stream(&b, json!({"name": "F", "subjects": ["f"]})).await;
    check(created.get("error").is_none(), || format!("{created}"))?;
    let created = create_stream(&b, json!({"name": "MF", "mirror": {"name": "F"}})).await;
    check(created.get("error").is_none(), || format!("{created}"))?;
    let payload = "x".repeat(100);
    let mut refused = 0;
    for _ in 0..10 {
        let ack = publish_for_ack(&b, "f", &payload).await;
        if error_code(&ack).1 == 10002 {
            refused += 1;
        }
    }
    let mut totals = (Value::Null, Value::Null, Value::Null);
    for _ in 0..150 {
        let f = stream_messages(&b, "F").await;
        let mf = stream_messages(&b, "MF").await;
        let info = json_request(&b, "$JS.API.INFO", Value::Null).await;
        totals = (f, mf, info["storage"].clone());
        let (Some(f), Some(mf)) = (totals.0.as_u64(), totals.1.as_u64()) else {
            return Err(format!("{totals:?}"));
        };
        check(f + mf <= 15 && f == 10 - refused, || format!("{totals:?}"))?;
        if f + mf == 15 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check(totals.2 == 15 * 131, || format!("stopped at {totals:?}"))?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let info = json_request(&b, "$JS.API.INFO", Value::Null).await;
    check(info["storage"] == 15 * 131, || format!("later {info}"))?;
    Ok(())
}

#[tokio::test]
async fn a_byte_limit_holds_across_an_accounts_streams() {
    on_both!(limit_across_streams);
}

async fn stream_size_rules(server: &TestServer) -> Result<(), String> {
    let d = user(server, "d").await;
    let expect = |answer: &Value, want: (u64, u64, &str)| {
        check(
            error_code(answer) == (want.0, want.1, want.2.to_string()),
            || format!("want {want:?}, got {answer}"),
        )
    };
    let answer = create_stream(&d, json!({"name": "S", "subjects": ["s"]})).await;
    expect(
        &answer,
        (
            400,
            10113,
            "account requires a stream config to have max bytes set",
        ),
    )?;
    let answer = create_stream(
        &d,
        json!({"name": "S", "subjects": ["s"], "max_bytes": 2000}),
    )
    .await;
    expect(
        &answer,
        (
            400,
            10122,
            "stream max bytes exceeds account limit max stream bytes",
        ),
    )?;
    let answer = create_stream(
        &d,
        json!({"name": "S", "subjects": ["s"], "max_bytes": 600, "storage": "memory"}),
    )
    .await;
    expect(
        &answer,
        (
            400,
            10122,
            "stream max bytes exceeds account limit max stream bytes",
        ),
    )?;
    let answer = create_stream(
        &d,
        json!({"name": "S", "subjects": ["s"], "max_bytes": 1000}),
    )
    .await;
    check(answer.get("error").is_none(), || format!("{answer}"))?;
    let answer = json_request(
        &d,
        "$JS.API.CONSUMER.CREATE.S",
        json!({"stream_name": "S", "config": {"ack_policy": "explicit", "max_ack_pending": 20}}),
    )
    .await;
    expect(
        &answer,
        (
            400,
            10121,
            "consumer max ack pending exceeds system limit of 10",
        ),
    )?;
    let answer = json_request(
        &d,
        "$JS.API.CONSUMER.CREATE.S",
        json!({"stream_name": "S", "config": {"ack_policy": "explicit"}}),
    )
    .await;
    check(answer["config"]["max_ack_pending"] == 10, || {
        format!("{answer}")
    })?;
    let info = json_request(&d, "$JS.API.INFO", Value::Null).await;
    check(
        info["limits"]
            == json!({"max_memory": -1, "max_storage": -1, "max_streams": -1, "max_consumers": -1, "max_ack_pending": 10, "memory_max_stream_bytes": 500, "storage_max_stream_bytes": 1000, "max_bytes_required": true})
            && info["api"]["errors"] == 4,
        || format!("INFO {info}"),
    )?;
    Ok(())
}

#[tokio::test]
async fn an_accounts_stream_size_rules_give_nats_server_errors() {
    on_both!(stream_size_rules);
}

async fn not_enabled_answers(server: &TestServer) -> Result<(), String> {
    for name in ["c", "g"] {
        let client = user(server, name).await;
        let reply = client
            .request("$JS.API.INFO", Bytes::new())
            .await
            .map_err(|e| format!("{name}: INFO: {e}"))?;
        check(
            reply.payload.as_ref()
                == br#"{"type":"io.nats.jetstream.api.v1.account_info_response","error":{"code":503,"err_code":10039,"description":"JetStream not enabled for account"}}"#,
            || format!("{name}: {:?}", reply.payload),
        )?;
        let answer = create_stream(&client, json!({"name": "S", "subjects": ["s"]})).await;
        check(
            answer["type"] == "io.nats.jetstream.api.v1.stream_create_response"
                && error_code(&answer) == (503, 10039, "JetStream not enabled for account".into()),
            || format!("{name}: {answer}"),
        )?;
        let answer = json_request(&client, "$JS.API.STREAM.NAMES", Value::Null).await;
        check(
            answer["streams"].is_null() && answer["total"] == 0 && error_code(&answer).1 == 10039,
            || format!("{name}: {answer}"),
        )?;
        let answer = json_request(
            &client,
            "$JS.API.CONSUMER.CREATE.S",
            json!({"stream_name": "S", "config": {"ack_policy": "explicit"}}),
        )
        .await;
        check(error_code(&answer).1 == 10039, || {
            format!("{name}: {answer}")
        })?;
        // The client library sees the same.
        let error = jetstream::new(client.clone())
            .query_account()
            .await
            .expect_err("no JetStream");
        check(
            error.to_string().contains("10039") || error.to_string().contains("not enabled"),
            || format!("{name}: {error}"),
        )?;
        // Nothing was created for it.
        let a = user(server, "a").await;
        let names = json_request(&a, "$JS.API.STREAM.NAMES", Value::Null).await;
        check(names["total"] == 0, || format!("A: {names}"))?;
    }
    Ok(())
}

async fn system_account_answers(server: &TestServer) -> Result<(), String> {
    // nats-server serves its API from the system account and drops the requests of that
    // account's own clients there, all but INFO.
    let system = user(server, "s").await;
    let info = json_request(&system, "$JS.API.INFO", Value::Null).await;
    check(error_code(&info).1 == 10039, || format!("INFO {info}"))?;
    let create = tokio::time::timeout(
        Duration::from_millis(500),
        system.request("$JS.API.STREAM.CREATE.S", Bytes::from(r#"{"name":"S"}"#)),
    )
    .await;
    check(create.is_err(), || {
        format!("STREAM.CREATE answered: {create:?}")
    })?;
    Ok(())
}

#[tokio::test]
async fn the_system_account_answers_only_info() {
    on_both!(system_account_answers);
}

#[tokio::test]
async fn accounts_without_jetstream_are_told_so() {
    on_both!(not_enabled_answers);
}

async fn accounts_are_isolated(server: &TestServer) -> Result<(), String> {
    let a = user(server, "a").await;
    let b = user(server, "b").await;
    for client in [&a, &b] {
        let created = create_stream(client, json!({"name": "S", "subjects": ["s.>"]})).await;
        check(created.get("error").is_none(), || format!("{created}"))?;
    }
    let consumer =
        json!({"stream_name": "S", "config": {"durable_name": "work", "ack_policy": "explicit"}});
    let answer = json_request(&a, "$JS.API.CONSUMER.DURABLE.CREATE.S.work", consumer).await;
    check(answer.get("error").is_none(), || format!("{answer}"))?;

    // B listens everywhere it can: every subject, the queue group A's subjects would use,
    // A's ack subjects and the API.
    let mut everything = b.subscribe(">").await.map_err(|e| e.to_string())?;
    let mut queue = b
        .queue_subscribe("s.>", "workers".into())
        .await
        .map_err(|e| e.to_string())?;
    let mut acks = b.subscribe("$JS.ACK.>").await.map_err(|e| e.to_string())?;
    let mut api = b.subscribe("$JS.API.>").await.map_err(|e| e.to_string())?;
    flush(&b).await;

    let ack = publish_for_ack(&a, "s.1", "secret").await;
    check(ack["stream"] == "S" && ack["seq"] == 1, || format!("{ack}"))?;
    // A pulls it: the delivery goes to A's inbox with A's ack subject.
    let inbox = a.new_inbox();
    let mut pulled = a
        .subscribe(inbox.clone())
        .await
        .map_err(|e| e.to_string())?;
    a.publish_with_reply(
        "$JS.API.CONSUMER.MSG.NEXT.S.work",
        inbox,
        Bytes::from(r#"{"batch":1}"#),
    )
    .await
    .map_err(|e| e.to_string())?;
    let message = recv(&mut pulled).await;
    check(message.payload.as_ref() == b"secret", || "A's pull".into())?;
    let ack_subject = message.reply.clone().expect("ack subject").to_string();

    // Nothing of A's reached B: not the publish, the pull, the delivery or its subject.
    let quiet = Duration::from_millis(300);
    check(
        tokio::time::timeout(quiet, queue.next()).await.is_err(),
        || "B's queue group got A's message".into(),
    )?;
    check(
        tokio::time::timeout(quiet, acks.next()).await.is_err(),
        || "B saw an ack subject".into(),
    )?;
    check(
        tokio::time::timeout(quiet, api.next()).await.is_err(),
        || "B saw A's API request".into(),
    )?;
    if let Ok(Some(message)) = tokio::time::timeout(quiet, everything.next()).await {
        return Err(format!(
            "B's > saw {:?} {:?}",
            message.subject, message.payload
        ));
    }
    drop((everything, queue, acks, api));

    // B acks A's message on A's ack subject (as B could guess it): nothing happens.
    b.publish(ack_subject.clone(), Bytes::from("+ACK"))
        .await
        .map_err(|e| e.to_string())?;
    flush(&b).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let info = json_request(&a, "$JS.API.CONSUMER.INFO.S.work", Value::Null).await;
    check(info["num_ack_pending"] == 1, || {
        format!("after B's ack: {info}")
    })?;
    // B's API: its own S, which is empty, and no consumer "work".
    check(stream_messages(&b, "S").await == 0, || "B's S".into())?;
    let answer = json_request(&b, "$JS.API.CONSUMER.INFO.S.work", Value::Null).await;
    check(error_code(&answer).1 == 10014, || {
        format!("B consumer info {answer}")
    })?;
    let answer = json_request(&b, "$JS.API.STREAM.MSG.GET.S", json!({"seq": 1})).await;
    check(error_code(&answer).1 == 10037, || format!("B get {answer}"))?;

    // A's own ack works.
    a.publish(ack_subject, Bytes::from("+ACK"))
        .await
        .map_err(|e| e.to_string())?;
    flush(&a).await;
    let mut acked = false;
    for _ in 0..100 {
        let info = json_request(&a, "$JS.API.CONSUMER.INFO.S.work", Value::Null).await;
        if info["num_ack_pending"] == 0 {
            acked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check(acked, || "A's ack was not applied".into())?;
    Ok(())
}

#[tokio::test]
async fn one_account_can_not_reach_another_accounts_streams() {
    on_both!(accounts_are_isolated);
}

async fn advisories_stay_in_their_account(server: &TestServer) -> Result<(), String> {
    let a = user(server, "a").await;
    let b = user(server, "b").await;
    let mut a_advisories = a
        .subscribe("$JS.EVENT.ADVISORY.>")
        .await
        .map_err(|e| e.to_string())?;
    let mut b_advisories = b
        .subscribe("$JS.EVENT.ADVISORY.>")
        .await
        .map_err(|e| e.to_string())?;
    flush(&a).await;
    flush(&b).await;
    let created = create_stream(&b, json!({"name": "T", "subjects": ["t"]})).await;
    check(created.get("error").is_none(), || format!("{created}"))?;
    let consumer =
        json!({"stream_name": "T", "config": {"durable_name": "d", "ack_policy": "explicit"}});
    let answer = json_request(&b, "$JS.API.CONSUMER.DURABLE.CREATE.T.d", consumer).await;
    check(answer.get("error").is_none(), || format!("{answer}"))?;
    publish_for_ack(&b, "t", "x").await;
    let inbox = b.new_inbox();
    let mut pulled = b
        .subscribe(inbox.clone())
        .await
        .map_err(|e| e.to_string())?;
    b.publish_with_reply("$JS.API.CONSUMER.MSG.NEXT.T.d", inbox, Bytes::from("1"))
        .await
        .map_err(|e| e.to_string())?;
    let message = recv(&mut pulled).await;
    // Terminating a message is advised (`$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.T.d`).
    b.publish(message.reply.expect("ack subject"), Bytes::from("+TERM"))
        .await
        .map_err(|e| e.to_string())?;
    let mut terminated = false;
    while let Ok(Some(advisory)) =
        tokio::time::timeout(Duration::from_secs(5), b_advisories.next()).await
    {
        if advisory.subject.as_str() == "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.T.d" {
            terminated = true;
            break;
        }
    }
    check(terminated, || "B got no MSG_TERMINATED advisory".into())?;
    check(
        tokio::time::timeout(Duration::from_millis(300), a_advisories.next())
            .await
            .is_err(),
        || "A saw B's advisory".into(),
    )?;
    Ok(())
}

#[tokio::test]
async fn advisories_are_published_in_their_own_account() {
    on_both!(advisories_stay_in_their_account);
}

/// The next `n` frames (server PINGs answered and left out).
fn frames(client: &mut RawClient, n: usize) -> Vec<Frame> {
    let mut frames = Vec::new();
    while frames.len() < n {
        match client.read_frame() {
            Frame::Ping => client.send("PONG\r\n"),
            frame => frames.push(frame),
        }
    }
    frames
}

/// Publishes a request with `inbox` as its reply subject (each connection its own: two
/// users of one account share its subject space).
fn raw_request(client: &mut RawClient, inbox: &str, subject: &str, body: &str) {
    client.send(format!(
        "PUB {subject} {inbox} {}\r\n{body}\r\n",
        body.len()
    ));
}

/// A publish permission on `$JS.API.STREAM.DELETE.>` stops the delete: the request never
/// reaches the API (nats-server answers the publish with a permissions violation).
#[test]
fn the_api_respects_publish_permissions() {
    let mut conversations = Vec::new();
    for under in [Under::Tern, Under::Reference] {
        let store = tempfile::tempdir().unwrap();
        let server = start(under, store.path(), &[]);
        let (mut admin, _) =
            RawClient::handshake(server.addr(), r#"{"verbose":false,"user":"a","pass":"a"}"#);
        admin.send("SUB _INBOX.admin 1\r\n");
        raw_request(
            &mut admin,
            "_INBOX.admin",
            "$JS.API.STREAM.CREATE.KEEP",
            r#"{"name":"KEEP","subjects":["k"]}"#,
        );
        assert!(
            matches!(&frames(&mut admin, 1)[0], Frame::Msg(_)),
            "{under:?}"
        );
        let (mut limited, _) = RawClient::handshake(
            server.addr(),
            r#"{"verbose":false,"user":"ad","pass":"ad"}"#,
        );
        limited.send("SUB _INBOX.limited 1\r\n");
        raw_request(
            &mut limited,
            "_INBOX.limited",
            "$JS.API.STREAM.DELETE.KEEP",
            "",
        );
        raw_request(
            &mut limited,
            "_INBOX.limited",
            "$JS.API.STREAM.INFO.KEEP",
            "",
        );
        let shown: Vec<String> = frames(&mut limited, 2)
            .iter()
            .map(|frame| match frame {
                Frame::Msg(msg) => {
                    let info: Value = serde_json::from_slice(&msg.payload).unwrap();
                    format!("MSG {} {}", info["type"], info["config"]["name"])
                }
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            shown,
            [
                format!(
                    "{:?}",
                    Frame::Err(
                        r#"Permissions Violation for Publish to "$JS.API.STREAM.DELETE.KEEP""#
                            .to_string()
                    )
                ),
                r#"MSG "io.nats.jetstream.api.v1.stream_info_response" "KEEP""#.to_string(),
            ],
            "{under:?}"
        );
        conversations.push(shown);
        // The stream is still there for the admin.
        raw_request(&mut admin, "_INBOX.admin", "$JS.API.STREAM.NAMES", "");
        let Frame::Msg(names) = &frames(&mut admin, 1)[0] else {
            panic!("{under:?}: no STREAM.NAMES answer");
        };
        let names: Value = serde_json::from_slice(&names.payload).unwrap();
        assert_eq!(names["streams"], json!(["KEEP"]), "{under:?}");
    }
    assert_eq!(conversations[0], conversations[1]);
}

async fn fill_for_restart(server: &TestServer) {
    let a = user(server, "a").await;
    let b = user(server, "b").await;
    for (client, count) in [(&a, 3), (&b, 2)] {
        let created = create_stream(client, json!({"name": "KEEP", "subjects": ["keep"]})).await;
        assert!(created.get("error").is_none(), "{created}");
        for i in 0..count {
            publish_for_ack(client, "keep", &format!("m{i}")).await;
        }
        let bucket = kv_bucket(client, "state").await.unwrap();
        bucket.put("count", count.to_string().into()).await.unwrap();
    }
}

async fn check_after_restart(server: &TestServer) {
    for (name, count) in [("a", 3), ("b", 2)] {
        let client = user(server, name).await;
        assert_eq!(stream_messages(&client, "KEEP").await, count, "{name}");
        let info = json_request(&client, "$JS.API.INFO", Value::Null).await;
        assert_eq!(info["streams"], 2, "{name}: {info}");
        let bucket = jetstream::new(client).get_key_value("state").await.unwrap();
        assert_eq!(
            bucket.get("count").await.unwrap(),
            Some(Bytes::from(count.to_string())),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_restart_keeps_each_accounts_streams() {
    for under in [Under::Tern, Under::Reference] {
        let store = tempfile::tempdir().unwrap();
        let mut server = start(under, store.path(), &[]);
        fill_for_restart(&server).await;
        server.stop();
        // nats-server's layout: <store_dir>/jetstream/<account>/streams/<stream>.
        for account in ["A", "B"] {
            let dir = store
                .path()
                .join("jetstream")
                .join(account)
                .join("streams")
                .join("KEEP");
            assert!(dir.is_dir(), "{under:?}: no {}", dir.display());
        }
        let server = start(under, store.path(), &[]);
        check_after_restart(&server).await;
    }
}

/// The figures of `/jsz` that must be the same on both servers after the same requests
/// (times, ids, paths and the host's memory and disk aside).
fn comparable_jsz(jsz: &Value) -> Value {
    let mut details: Vec<Value> = jsz["account_details"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    details.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let details: Vec<Value> = details
        .iter()
        .map(|detail| {
            let mut streams: Vec<Value> = detail["stream_detail"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|s| json!({"name": s["name"], "messages": s["state"]["messages"], "bytes": s["state"]["bytes"], "consumer_count": s["state"]["consumer_count"]}))
                .collect();
            // nats-server lists them in Go's map order.
            streams.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            json!({
                "name": detail["name"], "id": detail["id"],
                "memory": detail["memory"], "storage": detail["storage"],
                "reserved_memory": detail["reserved_memory"],
                "reserved_storage": detail["reserved_storage"],
                "accounts": detail["accounts"], "ha_assets": detail["ha_assets"],
                "api": detail["api"], "streams": streams,
            })
        })
        .collect();
    json!({
        "memory": jsz["memory"], "storage": jsz["storage"],
        "reserved_memory": jsz["reserved_memory"], "reserved_storage": jsz["reserved_storage"],
        "accounts": jsz["accounts"], "ha_assets": jsz["ha_assets"], "api": jsz["api"],
        "streams": jsz["streams"], "consumers": jsz["consumers"],
        "messages": jsz["messages"], "bytes": jsz["bytes"],
        "account_details": details,
    })
}

#[tokio::test]
async fn jsz_reports_each_account_as_nats_server_does() {
    let mut answers = Vec::new();
    for under in [Under::Tern, Under::Reference] {
        let store = tempfile::tempdir().unwrap();
        let server = start(under, store.path(), &["-m", "-1"]);
        let a = user(&server, "a").await;
        let b = user(&server, "b").await;
        create_stream(&a, json!({"name": "S", "subjects": ["s"]})).await;
        create_stream(
            &a,
            json!({"name": "M", "subjects": ["m"], "storage": "memory"}),
        )
        .await;
        create_stream(&b, json!({"name": "S", "subjects": ["s"]})).await;
        let consumer =
            json!({"stream_name": "S", "config": {"durable_name": "d", "ack_policy": "explicit"}});
        json_request(&b, "$JS.API.CONSUMER.DURABLE.CREATE.S.d", consumer).await;
        for i in 0..4 {
            publish_for_ack(&a, "s", &format!("a{i}")).await;
        }
        publish_for_ack(&a, "m", "mem").await;
        publish_for_ack(&b, "s", "b").await;
        // An error is counted too.
        json_request(&b, "$JS.API.STREAM.INFO.NOPE", Value::Null).await;
        let monitor = server.monitor_addr().expect("monitor");
        let mut answer = Vec::new();
        for query in [
            "/jsz",
            "/jsz?accounts=true",
            "/jsz?acc=B&streams=true",
            "/jsz?acc=A&streams=true",
            "/jsz?acc=C",
            "/jsz?accounts=true&offset=1&limit=1",
        ] {
            let jsz = poll_until(Duration::from_secs(5), || {
                let jsz = http_json(monitor, query);
                // The server's totals catch up with the last publish once its stream's
                // batch is written.
                (jsz["messages"] == 6).then_some(jsz)
            })
            .unwrap_or_else(|| panic!("{under:?}: {query} never counted 6 messages"));
            let mut comparable = comparable_jsz(&jsz);
            if query.contains("offset=1") {
                // Go's map order decides which account is second: compare only how many.
                comparable["account_details"] =
                    json!(jsz["account_details"].as_array().map_or(0, |d| d.len()));
            }
            answer.push((query, comparable));
        }
        answers.push(answer);
    }
    assert_eq!(answers[0], answers[1]);
    // And what they agree on is right.
    let totals = &answers[0][0].1;
    assert_eq!(totals["accounts"], 3);
    assert_eq!(totals["streams"], 3);
    assert_eq!(totals["consumers"], 1);
    let b_detail = &answers[0][2].1["account_details"][0];
    assert_eq!(b_detail["reserved_storage"], 2000);
    assert_eq!(b_detail["reserved_memory"], 1000);
    assert_eq!(b_detail["api"]["errors"], 1);
    assert_eq!(b_detail["streams"][0]["messages"], 1);
    let a_detail = &answers[0][3].1["account_details"][0];
    assert_eq!(a_detail["reserved_storage"], u64::MAX);
    assert_eq!(a_detail["streams"].as_array().unwrap().len(), 2);
    assert_eq!(answers[0][4].1["account_details"], json!([]));
}

// ---------------------------------------------------------------------------------------
// Enabling an account after startup (what a config reload or a JWT account will call)
// ---------------------------------------------------------------------------------------

/// `tern::jetstream::enable_account`, called on a core of a running in-process server the
/// way the reload and JWT code will call it: B starts without JetStream (10039), is enabled
/// with limits (its stream from an earlier run is recovered, the limits hold), and enabled
/// again with other limits (only the limits change).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_enabled_after_startup_gets_its_streams_and_limits() {
    use std::rc::Rc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use tern::jetstream::api::AccountLimits;
    use tern::server::shard::ShardState;

    if skip_on_reference("runs tern in process") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    // An earlier run in which B had JetStream left a stream in B's directory.
    {
        let mut earlier = start(Under::Tern, store.path(), &[]);
        let b = user(&earlier, "b").await;
        let created = create_stream(&b, json!({"name": "OLD", "subjects": ["old"]})).await;
        assert!(created.get("error").is_none(), "{created}");
        publish_for_ack(&b, "old", "1").await;
        publish_for_ack(&b, "old", "2").await;
        earlier.stop();
    }
    let text = config(store.path()).replace(
        "jetstream: { max_mem: 1000, max_file: 2000, max_streams: 3, max_consumers: 1 }",
        "",
    );
    let mut options = tern::config::Options::from_config_str(&text, "t.conf").unwrap();
    options.host = "127.0.0.1".to_string();
    options.port = 0;
    options.cores = Some(2);
    let server =
        tern::server::Server::bind(options, tern::server::control::Control::default()).unwrap();
    let shared = server.shared().clone();
    let url = format!("nats://{}", server.client_addr());
    let b_id = shared.auth.load().account_id("B").expect("account B");
    let js = Arc::new(tern::jetstream::JetStreamShared::new(
        &shared.options,
        &shared.auth.load(),
        shared.cores.len(),
    ));
    shared
        .startup_holds
        .store(shared.cores.len(), Ordering::Release);
    // The test asks core 1 to enable B: 1 = two streams at most, 2 = three; core 1 answers
    // by setting `done` to the step it carried out.
    let step = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicU32::new(0));
    let (step_in, done_in) = (step.clone(), done.clone());
    let runner = std::thread::spawn(move || {
        server
            .run_with(move |state: &Rc<ShardState>| {
                tern::jetstream::install(state, js.clone());
                if state.id != 1 {
                    return;
                }
                let (state, step, done) = (state.clone(), step_in.clone(), done_in.clone());
                shards::task::spawn(async move {
                    loop {
                        let wanted = step.load(Ordering::Acquire);
                        if wanted > done.load(Ordering::Acquire) {
                            let limits = AccountLimits {
                                max_streams: if wanted == 1 { 2 } else { 3 },
                                ..AccountLimits::default()
                            };
                            tern::jetstream::enable_account(&state, b_id, "B", limits)
                                .expect("enable B");
                            done.store(wanted, Ordering::Release);
                        }
                        if state.shared.control.shutdown_requested() {
                            return;
                        }
                        shards::time::sleep(Duration::from_millis(10)).await;
                    }
                });
            })
            .expect("server runs")
    });
    let connect = |name: &'static str| {
        let url = url.clone();
        async move {
            async_nats::ConnectOptions::with_user_and_password(name.into(), name.into())
                .connect(url)
                .await
                .expect("connect")
        }
    };
    let b = connect("b").await;
    let a = connect("a").await;
    let answer = json_request(&b, "$JS.API.INFO", Value::Null).await;
    assert_eq!(error_code(&answer).1, 10039, "{answer}");
    let answer = json_request(&a, "$JS.API.INFO", Value::Null).await;
    assert!(answer.get("error").is_none(), "{answer}");

    let run_step = |n: u32| {
        step.store(n, Ordering::Release);
        assert!(
            poll_until(Duration::from_secs(5), || (done.load(Ordering::Acquire)
                >= n)
                .then_some(()))
            .is_some(),
            "step {n} not carried out"
        );
    };
    run_step(1);
    // The meta core serves B once it has handled the enable (and recovered OLD).
    let mut info = Value::Null;
    for _ in 0..100 {
        info = json_request(&b, "$JS.API.INFO", Value::Null).await;
        if info["streams"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(info["streams"], 1, "{info}");
    assert_eq!(info["limits"]["max_streams"], 2, "{info}");
    assert_eq!(stream_messages(&b, "OLD").await, 2);
    assert_eq!(publish_for_ack(&b, "old", "3").await["seq"], 3);
    let created = create_stream(&b, json!({"name": "NEW", "subjects": ["new"]})).await;
    assert!(created.get("error").is_none(), "{created}");
    let refused = create_stream(&b, json!({"name": "MORE", "subjects": ["more"]})).await;
    assert_eq!(error_code(&refused).1, 10027, "{refused}");

    run_step(2);
    let info = json_request(&b, "$JS.API.INFO", Value::Null).await;
    assert_eq!(info["limits"]["max_streams"], 3, "{info}");
    let created = create_stream(&b, json!({"name": "MORE", "subjects": ["more"]})).await;
    assert!(created.get("error").is_none(), "{created}");
    // A's streams are untouched by any of it.
    let names = json_request(&a, "$JS.API.STREAM.NAMES", Value::Null).await;
    assert_eq!(names["total"], 0, "{names}");

    shared.control.request_shutdown();
    tokio::task::spawn_blocking(move || runner.join().expect("server thread"))
        .await
        .unwrap();
}
