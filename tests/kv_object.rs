//! Key-Value and Object Store as the official async-nats client runs them (its `kv` and
//! `object_store` APIs), plus the raw `$JS.API`/publish conversations those APIs rely on,
//! with nats-server's exact answers.
//!
//! async-nats 0.51 can not parse nats-server 2.9.10's answer to its KV/Object stream create
//! (it expects 2.10+ fields), so the client-API tests skip on the reference; the raw
//! conversations run against both (`TERN_TEST_SERVER=/usr/sbin/nats-server`).

mod common;

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv, object_store};
use async_nats::HeaderMap;
use bytes::Bytes;
use common::*;
use futures::StreamExt;
use serde_json::{json, Value};

const SKIP_REASON: &str = "async-nats 0.51 can not parse 2.9.10's KV/Object stream-create answer";

/// A JetStream server with its store in the builder's own scratch directory.
fn js_server() -> TestServer {
    let builder = ServerBuilder::new();
    let store = builder.dir().join("js").display().to_string();
    builder.args(&["-js", "-sd", store.as_str()]).start()
}

async fn bucket(context: &jetstream::Context, config: kv::Config) -> kv::Store {
    context
        .create_key_value(config)
        .await
        .expect("create bucket")
}

async fn next_entry(watch: &mut kv::Watch) -> kv::Entry {
    tokio::time::timeout(CLIENT_RECV_TIMEOUT, watch.next())
        .await
        .expect("a watch entry in time")
        .expect("watch open")
        .expect("an entry, not an error")
}

/// Asserts that nothing arrives on `watch` for a short while (used after the expected
/// entries, to catch extras; the wait is an upper bound on delivery, not a speed check).
async fn assert_quiet(watch: &mut kv::Watch) {
    if let Ok(extra) = tokio::time::timeout(Duration::from_millis(300), watch.next()).await {
        panic!(
            "unexpected watch entry: {:?}",
            extra.map(|e| e.map(|e| e.key))
        );
    }
}

/// Publishes with headers and returns the raw JSON answer (PubAck or error).
async fn publish_raw(
    client: &async_nats::Client,
    subject: &str,
    headers: &[(&str, &str)],
    payload: &str,
) -> Value {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, *value);
    }
    let reply = tokio::time::timeout(
        CLIENT_RECV_TIMEOUT,
        client.request_with_headers(subject.to_string(), map, Bytes::from(payload.to_string())),
    )
    .await
    .expect("publish answer in time")
    .expect("publish answered");
    serde_json::from_slice(&reply.payload).expect("JSON answer")
}

/// The KV bucket stream as nats.go/async-nats create it (servers >= 2.7.2).
fn kv_stream_config(bucket: &str, history: i64) -> Value {
    json!({
        "name": format!("KV_{bucket}"),
        "subjects": [format!("$KV.{bucket}.>")],
        "max_msgs_per_subject": history,
        "discard": "new",
        "allow_rollup_hdrs": true,
        "deny_delete": true,
        "allow_direct": true,
        "max_msgs": -1,
        "max_consumers": -1,
        "duplicate_window": 120_000_000_000u64,
        "storage": "file",
        "num_replicas": 1,
    })
}

#[tokio::test]
async fn history_keeps_the_newest_values_and_status_reports_the_bucket() {
    if skip_on_reference(SKIP_REASON) {
        return;
    }
    let server = js_server();
    let context = jetstream::new(client(&server).await);
    let kv = bucket(
        &context,
        kv::Config {
            bucket: "hist".into(),
            history: 3,
            max_age: Duration::from_secs(3600),
            ..Default::default()
        },
    )
    .await;
    for i in 1..=5 {
        let revision = kv.put("k", format!("v{i}").into()).await.unwrap();
        assert_eq!(revision, i);
    }
    kv.put("other", "x".into()).await.unwrap();
    let values: Vec<(Bytes, u64)> = kv
        .history("k")
        .await
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.value, e.revision)
        })
        .collect()
        .await;
    assert_eq!(
        values,
        [
            (Bytes::from("v3"), 3),
            (Bytes::from("v4"), 4),
            (Bytes::from("v5"), 5)
        ]
    );
    let entry = kv.entry("k").await.unwrap().expect("entry");
    assert_eq!(
        (entry.value, entry.revision, entry.operation),
        (Bytes::from("v5"), 5, kv::Operation::Put)
    );
    let old = kv.entry_for_revision("k", 4).await.unwrap().expect("rev 4");
    assert_eq!(old.value, Bytes::from("v4"));
    // A revision of another key is not this key's.
    assert!(kv.entry_for_revision("k", 6).await.unwrap().is_none());
    assert!(kv.get("missing").await.unwrap().is_none());

    // async-nats's status() answers from the info it bound with: bind again for fresh.
    let status = context
        .get_key_value("hist")
        .await
        .unwrap()
        .status()
        .await
        .unwrap();
    assert_eq!(status.bucket(), "hist");
    assert_eq!(status.values(), 4); // 3 of "k" and 1 of "other"
    assert_eq!(status.history(), 3);
    assert_eq!(status.max_age(), Duration::from_secs(3600));

    // Binding to the bucket again sees the same state.
    let again = context.get_key_value("hist").await.unwrap();
    assert_eq!(again.get("other").await.unwrap(), Some(Bytes::from("x")));
    // Bucket names are listed through STREAM.NAMES with the `$KV.*.>` subject filter.
    let client = client(&server).await;
    let names = json_request(
        &client,
        "$JS.API.STREAM.NAMES",
        json!({"subject": "$KV.*.>"}),
    )
    .await;
    assert_eq!(names["streams"], json!(["KV_hist"]), "{names}");
    context.delete_key_value("hist").await.unwrap();
    assert!(context.get_key_value("hist").await.is_err());
}

#[tokio::test]
async fn create_and_update_conflicts() {
    if skip_on_reference(SKIP_REASON) {
        return;
    }
    let server = js_server();
    let context = jetstream::new(client(&server).await);
    let kv = bucket(
        &context,
        kv::Config {
            bucket: "cas".into(),
            history: 5,
            ..Default::default()
        },
    )
    .await;
    let first = kv.create("k", "a".into()).await.unwrap();
    let err = kv.create("k", "b".into()).await.unwrap_err();
    assert_eq!(err.kind(), kv::CreateErrorKind::AlreadyExists, "{err}");
    let second = kv.update("k", "b".into(), first).await.unwrap();
    assert!(second > first);
    let err = kv.update("k", "c".into(), first).await.unwrap_err();
    assert_eq!(err.kind(), kv::UpdateErrorKind::WrongLastRevision, "{err}");
    assert_eq!(kv.get("k").await.unwrap(), Some(Bytes::from("b")));
    // A deleted key can be created again.
    kv.delete("k").await.unwrap();
    assert!(kv.get("k").await.unwrap().is_none());
    let recreated = kv.create("k", "d".into()).await.unwrap();
    assert!(recreated > second + 1);
    // So can a purged one.
    kv.purge("k").await.unwrap();
    kv.create("k", "e".into()).await.unwrap();
    assert_eq!(kv.get("k").await.unwrap(), Some(Bytes::from("e")));
    // Delete with an expected revision.
    let err = kv.delete_expect_revision("k", Some(1)).await.unwrap_err();
    assert!(err.to_string().contains("wrong last sequence"), "{err}");
    let invalid = kv.put(".bad", "x".into()).await.unwrap_err();
    assert_eq!(invalid.kind(), kv::PutErrorKind::InvalidKey);
}

/// The raw answers behind create/update conflicts, against tern and the reference alike.
#[tokio::test]
async fn expected_last_subject_sequence_errors_match_nats_server() {
    let server = js_server();
    let client = client(&server).await;
    let created = json_request(
        &client,
        "$JS.API.STREAM.CREATE.KV_raw",
        kv_stream_config("raw", 5),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    let expect = "Nats-Expected-Last-Subject-Sequence";
    let ok = publish_raw(&client, "$KV.raw.k", &[(expect, "0")], "1").await;
    assert_eq!(ok["seq"], 1, "{ok}");
    let conflict = publish_raw(&client, "$KV.raw.k", &[(expect, "0")], "2").await;
    assert_eq!(
        conflict["error"],
        json!({"code": 400, "err_code": 10071, "description": "wrong last sequence: 1"}),
        "{conflict}"
    );
    let conflict = publish_raw(&client, "$KV.raw.k", &[(expect, "7")], "2").await;
    assert_eq!(
        conflict["error"]["description"], "wrong last sequence: 1",
        "{conflict}"
    );
    let ok = publish_raw(&client, "$KV.raw.k", &[(expect, "1")], "2").await;
    assert_eq!(ok["seq"], 2, "{ok}");
    // Purge marker: rolls the subject up to this one message.
    let purged = publish_raw(
        &client,
        "$KV.raw.k",
        &[("KV-Operation", "PURGE"), ("Nats-Rollup", "sub")],
        "",
    )
    .await;
    assert_eq!(purged["seq"], 3, "{purged}");
    let info = json_request(&client, "$JS.API.STREAM.INFO.KV_raw", Value::Null).await;
    assert_eq!(info["state"]["messages"], 1, "{info}");
    assert_eq!(info["state"]["first_seq"], 3, "{info}");
    // deny_delete refuses MSG.DELETE with nats-server's error.
    let deleted = json_request(
        &client,
        "$JS.API.STREAM.MSG.DELETE.KV_raw",
        json!({"seq": 3}),
    )
    .await;
    assert_eq!(
        deleted["error"],
        json!({"code": 500, "err_code": 10057, "description": "message delete not permitted"}),
        "{deleted}"
    );
}

#[tokio::test]
async fn delete_and_purge_leave_markers() {
    if skip_on_reference(SKIP_REASON) {
        return;
    }
    let server = js_server();
    let client = client(&server).await;
    let context = jetstream::new(client.clone());
    let kv = bucket(
        &context,
        kv::Config {
            bucket: "marks".into(),
            history: 10,
            ..Default::default()
        },
    )
    .await;
    kv.put("a", "1".into()).await.unwrap();
    kv.put("a", "2".into()).await.unwrap();
    kv.delete("a").await.unwrap();
    assert!(kv.get("a").await.unwrap().is_none());
    let entry = kv.entry("a").await.unwrap().expect("the delete marker");
    assert_eq!(entry.operation, kv::Operation::Delete);
    assert_eq!(entry.revision, 3);
    let ops: Vec<kv::Operation> = kv
        .history("a")
        .await
        .unwrap()
        .map(|e| e.unwrap().operation)
        .collect()
        .await;
    assert_eq!(
        ops,
        [
            kv::Operation::Put,
            kv::Operation::Put,
            kv::Operation::Delete
        ]
    );
    // The raw marker, read with DIRECT.GET last-by-subject.
    let marker = client
        .request("$JS.API.DIRECT.GET.KV_marks.$KV.marks.a", Bytes::new())
        .await
        .unwrap();
    let headers = marker.headers.expect("headers");
    assert_eq!(headers.get("KV-Operation").unwrap().as_str(), "DEL");
    assert_eq!(headers.get("Nats-Sequence").unwrap().as_str(), "3");
    assert!(marker.payload.is_empty());

    kv.put("a", "3".into()).await.unwrap();
    kv.purge("a").await.unwrap();
    let history: Vec<kv::Entry> = kv
        .history("a")
        .await
        .unwrap()
        .map(|e| e.unwrap())
        .collect()
        .await;
    assert_eq!(history.len(), 1, "purge rolls the key up to its marker");
    assert_eq!(history[0].operation, kv::Operation::Purge);
    assert!(kv.get("a").await.unwrap().is_none());
    let marker = client
        .request("$JS.API.DIRECT.GET.KV_marks.$KV.marks.a", Bytes::new())
        .await
        .unwrap();
    assert_eq!(
        marker
            .headers
            .unwrap()
            .get("KV-Operation")
            .unwrap()
            .as_str(),
        "PURGE"
    );
}

/// `purge_deletes` as nats.go runs it: STREAM.PURGE of each deleted key's subject, keeping
/// the marker (`keep: 1`) or dropping it (`keep: 0`).
#[tokio::test]
async fn purge_deletes_with_keep() {
    if skip_on_reference(SKIP_REASON) {
        return;
    }
    let server = js_server();
    let client = client(&server).await;
    let context = jetstream::new(client.clone());
    let kv = bucket(
        &context,
        kv::Config {
            bucket: "pd".into(),
            history: 10,
            ..Default::default()
        },
    )
    .await;
    for key in ["a", "b", "c"] {
        kv.put(key, "1".into()).await.unwrap();
        kv.put(key, "2".into()).await.unwrap();
    }
    kv.delete("a").await.unwrap();
    kv.purge("b").await.unwrap();
    let keep = json_request(
        &client,
        "$JS.API.STREAM.PURGE.KV_pd",
        json!({"filter": "$KV.pd.a", "keep": 1}),
    )
    .await;
    assert_eq!(
        keep,
        json!({"type": "io.nats.jetstream.api.v1.stream_purge_response", "success": true, "purged": 2})
    );
    let drop = json_request(
        &client,
        "$JS.API.STREAM.PURGE.KV_pd",
        json!({"filter": "$KV.pd.b", "keep": 0}),
    )
    .await;
    assert_eq!(drop["purged"], 1, "{drop}");
    // a: only its DEL marker; b: nothing; c: both values.
    let ops = |key: &'static str| {
        let kv = kv.clone();
        async move {
            kv.history(key)
                .await
                .unwrap()
                .map(|e| e.unwrap().operation)
                .collect::<Vec<_>>()
                .await
        }
    };
    assert_eq!(ops("a").await, [kv::Operation::Delete]);
    assert!(kv.entry("b").await.unwrap().is_none());
    assert_eq!(ops("c").await.len(), 2);
    let mut keys: Vec<String> = kv.keys().await.unwrap().map(|k| k.unwrap()).collect().await;
    keys.sort();
    assert_eq!(keys, ["c"]);
    let status = context
        .get_key_value("pd")
        .await
        .unwrap()
        .status()
        .await
        .unwrap();
    assert_eq!(status.values(), 3);
}

#[tokio::test]
async fn ttl_expires_values() {
    if skip_on_reference(SKIP_REASON) {
        return;
    }
    let server = js_server();
    let context = jetstream::new(client(&server).await);
    let kv = bucket(
        &context,
        kv::Config {
            bucket: "ttl".into(),
            max_age: Duration::from_millis(700),
            ..Default::default()
        },
    )
    .await;
    kv.put("k", "v".into()).await.unwrap();
    assert_eq!(kv.get("k").await.unwrap(), Some(Bytes::from("v")));
    // The duplicate window is clamped to the TTL, as the clients ask.
    let info = kv.status().await.unwrap();
    assert_eq!(info.max_age(), Duration::from_millis(700));
    let deadline = Instant::now() + Duration::from_secs(5);
    while kv.get("k").await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "value did not expire");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = context
        .get_key_value("ttl")
        .await
        .unwrap()
        .status()
        .await
        .unwrap();
    assert_eq!(status.values(), 0);
    // The key can be created again once expired.
    kv.create("k", "w".into()).await.unwrap();
}

#[tokio::test]
async fn watch_all_one_key_and_wildcards() {
    if skip_on_reference(SKIP_REASON) {
        return;
    }
    let server = js_server();
    let context = jetstream::new(client(&server).await);
    let kv = bucket(
        &context,
        kv::Config {
            bucket: "w".into(),
            history: 5,
            ..Default::default()
        },
    )
    .await;
    kv.put("a.1", "old".into()).await.unwrap();
    kv.put("a.1", "new".into()).await.unwrap();
    kv.put("b.1", "x".into()).await.unwrap();

    // async-nats's watch/watch_all send only updates made after they started (deliver
    // policy new); watch_with_history first sends the latest value of each key (last per
    // subject), as nats.go's Watch does.
    let mut all = kv.watch_all().await.unwrap();
    let mut wild = kv.watch("a.*").await.unwrap();
    let mut one = kv.watch("b.1").await.unwrap();
    let mut history = kv.watch_with_history("a.>").await.unwrap();
    let mut latest = kv.watch_with_history(">").await.unwrap();
    let first = next_entry(&mut latest).await;
    assert_eq!(
        (first.key.as_str(), first.value.as_ref()),
        ("a.1", &b"new"[..])
    );
    assert_eq!(first.delta, 1, "one more initial value pending");
    let second = next_entry(&mut latest).await;
    assert_eq!(second.key, "b.1");
    assert_eq!(
        second.delta, 0,
        "the last initial value has nothing pending"
    );
    assert_eq!(next_entry(&mut history).await.value, Bytes::from("new"));
    assert_quiet(&mut all).await;

    kv.put("a.2", "y".into()).await.unwrap();
    kv.delete("a.1").await.unwrap();
    kv.put("b.1", "z".into()).await.unwrap();
    kv.put("c", "q".into()).await.unwrap();

    let updates: Vec<(String, kv::Operation)> = {
        let mut out = Vec::new();
        for _ in 0..4 {
            let e = next_entry(&mut all).await;
            out.push((e.key, e.operation));
        }
        out
    };
    assert_eq!(
        updates,
        [
            ("a.2".to_string(), kv::Operation::Put),
            ("a.1".to_string(), kv::Operation::Delete),
            ("b.1".to_string(), kv::Operation::Put),
            ("c".to_string(), kv::Operation::Put),
        ]
    );
    assert_eq!(next_entry(&mut wild).await.key, "a.2");
    assert_eq!(next_entry(&mut wild).await.operation, kv::Operation::Delete);
    assert_quiet(&mut wild).await;
    assert_eq!(next_entry(&mut one).await.value, Bytes::from("z"));
    assert_quiet(&mut one).await;
    assert_eq!(next_entry(&mut history).await.key, "a.2");
    assert_eq!(next_entry(&mut history).await.key, "a.1");
    assert_quiet(&mut history).await;
    assert_eq!(next_entry(&mut latest).await.key, "a.2");
    assert_quiet(&mut all).await;

    // Watching from a revision replays everything from there.
    let mut from = kv.watch_all_from_revision(5).await.unwrap();
    assert_eq!(next_entry(&mut from).await.revision, 5);
    assert_eq!(next_entry(&mut from).await.revision, 6);

    // keys() is a headers-only watch that leaves deleted keys out.
    let mut keys: Vec<String> = kv.keys().await.unwrap().map(|k| k.unwrap()).collect().await;
    keys.sort();
    assert_eq!(keys, ["a.2", "b.1", "c"]);
}

/// Watch and keys on an empty bucket end their initial phase at once (consumer info with
/// nothing pending), and a watcher sees the first put made afterwards.
#[tokio::test]
async fn empty_bucket_watch_and_keys() {
    if skip_on_reference(SKIP_REASON) {
        return;
    }
    let server = js_server();
    let context = jetstream::new(client(&server).await);
    let kv = bucket(
        &context,
        kv::Config {
            bucket: "empty".into(),
            ..Default::default()
        },
    )
    .await;
    let keys: Vec<String> = tokio::time::timeout(
        CLIENT_RECV_TIMEOUT,
        kv.keys().await.unwrap().map(|k| k.unwrap()).collect(),
    )
    .await
    .expect("keys of an empty bucket end");
    assert!(keys.is_empty());
    let mut watch = kv.watch_all().await.unwrap();
    kv.put("first", "1".into()).await.unwrap();
    let entry = next_entry(&mut watch).await;
    assert_eq!((entry.key.as_str(), entry.revision), ("first", 1));
}

/// The raw consumer a watcher with `meta_only` creates: headers only, last per subject,
/// with `Nats-Msg-Size` and no payload; `ignore_deletes` is the client's filter over the
/// same deliveries.
#[tokio::test]
async fn headers_only_last_per_subject_consumer() {
    let server = js_server();
    let client = client(&server).await;
    let created = json_request(
        &client,
        "$JS.API.STREAM.CREATE.KV_meta",
        kv_stream_config("meta", 5),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    publish_raw(&client, "$KV.meta.a", &[], "value-a1").await;
    publish_raw(&client, "$KV.meta.a", &[], "value-a2").await;
    publish_raw(&client, "$KV.meta.b", &[("KV-Operation", "DEL")], "").await;
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await.unwrap();
    let consumer = json_request(
        &client,
        "$JS.API.CONSUMER.CREATE.KV_meta",
        json!({"stream_name": "KV_meta", "config": {
            "deliver_subject": inbox, "deliver_policy": "last_per_subject",
            "ack_policy": "none", "filter_subject": "$KV.meta.>", "headers_only": true,
            "flow_control": true, "idle_heartbeat": 5_000_000_000u64, "max_deliver": 1,
            "replay_policy": "instant", "mem_storage": true, "num_replicas": 1}}),
    )
    .await;
    assert_eq!(consumer["num_pending"], 2, "{consumer}");
    let a = recv(&mut sub).await;
    assert_eq!(a.subject.as_str(), "$KV.meta.a");
    assert!(a.payload.is_empty());
    let headers = a.headers.expect("headers");
    assert_eq!(headers.get("Nats-Msg-Size").unwrap().as_str(), "8");
    // The ack subject carries the stream sequence 2 and 1 pending.
    let reply = a.reply.expect("ack subject").to_string();
    let tokens: Vec<&str> = reply.split('.').collect();
    assert_eq!(tokens[5], "2", "{reply}");
    assert_eq!(tokens[8], "1", "{reply}");
    let b = recv(&mut sub).await;
    assert_eq!(b.subject.as_str(), "$KV.meta.b");
    assert_eq!(
        b.headers.unwrap().get("KV-Operation").unwrap().as_str(),
        "DEL"
    );
    let reply = b.reply.expect("ack subject").to_string();
    assert_eq!(reply.split('.').nth(8), Some("0"), "{reply}");
}

/// Reads through DIRECT.GET: last by subject (subject appended and in the body), by
/// sequence, and misses with a 404 status.
#[tokio::test]
async fn direct_get_reads_a_bucket() {
    let server = js_server();
    let client = client(&server).await;
    let created = json_request(
        &client,
        "$JS.API.STREAM.CREATE.KV_dg",
        kv_stream_config("dg", 5),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    publish_raw(&client, "$KV.dg.k", &[], "one").await;
    publish_raw(&client, "$KV.dg.k", &[], "two").await;
    let last = client
        .request("$JS.API.DIRECT.GET.KV_dg.$KV.dg.k", Bytes::new())
        .await
        .unwrap();
    assert_eq!(last.payload, Bytes::from("two"));
    let headers = last.headers.expect("headers");
    assert_eq!(headers.get("Nats-Stream").unwrap().as_str(), "KV_dg");
    assert_eq!(headers.get("Nats-Subject").unwrap().as_str(), "$KV.dg.k");
    assert_eq!(headers.get("Nats-Sequence").unwrap().as_str(), "2");
    assert!(headers.get("Nats-Time-Stamp").is_some());
    let by_body = client
        .request(
            "$JS.API.DIRECT.GET.KV_dg",
            Bytes::from(r#"{"last_by_subj":"$KV.dg.k"}"#),
        )
        .await
        .unwrap();
    assert_eq!(by_body.payload, Bytes::from("two"));
    let by_seq = client
        .request("$JS.API.DIRECT.GET.KV_dg", Bytes::from(r#"{"seq":1}"#))
        .await
        .unwrap();
    assert_eq!(by_seq.payload, Bytes::from("one"));
    let miss = client
        .request("$JS.API.DIRECT.GET.KV_dg.$KV.dg.nope", Bytes::new())
        .await
        .unwrap();
    assert_eq!(
        miss.status,
        Some(async_nats::StatusCode::NOT_FOUND),
        "{miss:?}"
    );
    assert!(miss.payload.is_empty());
}

async fn object_bucket(context: &jetstream::Context, name: &str) -> object_store::ObjectStore {
    context
        .create_object_store(object_store::Config {
            bucket: name.to_string(),
            ..Default::default()
        })
        .await
        .expect("create object store")
}

async fn read_object(bucket: &object_store::ObjectStore, name: &str) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut object = bucket.get(name).await.expect("get object");
    let mut out = Vec::new();
    object.read_to_end(&mut out).await.expect("read object");
    out
}

#[tokio::test]
async fn object_list_info_delete_and_links() {
    if skip_on_reference(SKIP_REASON) {
        return;
    }
    let server = js_server();
    let context = jetstream::new(client(&server).await);
    let files = object_bucket(&context, "files").await;
    let other = object_bucket(&context, "other").await;
    let small = b"hello object store".to_vec();
    let info = files.put("a.txt", &mut small.as_slice()).await.unwrap();
    assert_eq!((info.size, info.chunks), (small.len(), 1));
    files
        .put("dir/b.bin", &mut vec![7u8; 300_000].as_slice())
        .await
        .unwrap();
    let info = files.info("dir/b.bin").await.unwrap();
    assert_eq!((info.size, info.chunks), (300_000, 3));
    assert!(info.digest.unwrap().starts_with("SHA-256="));
    assert!(info.modified.is_some(), "mtime comes from the message time");
    // Replacing an object purges its old chunks.
    files.put("a.txt", &mut b"v2".as_slice()).await.unwrap();
    assert_eq!(read_object(&files, "a.txt").await, b"v2");
    let stream = context.get_stream("OBJ_files").await.unwrap();
    let state = stream.cached_info().state.clone();
    // chunks: 1 (a.txt v2) + 3 (b.bin); meta: 2
    assert_eq!(state.messages, 6, "{state:?}");

    let mut names: Vec<String> = files
        .list()
        .await
        .unwrap()
        .map(|i| i.unwrap().name)
        .collect()
        .await;
    names.sort();
    assert_eq!(names, ["a.txt", "dir/b.bin"]);

    // Links: to an object in the same bucket, to another bucket's object, and to a bucket.
    let target = files.info("a.txt").await.unwrap();
    files.add_link("link.txt", &target).await.unwrap();
    assert_eq!(read_object(&files, "link.txt").await, b"v2");
    other.add_link("cross.txt", &target).await.unwrap();
    assert_eq!(read_object(&other, "cross.txt").await, b"v2");
    let bucket_link = other.add_bucket_link("all-files", "files").await.unwrap();
    let link = bucket_link.options.unwrap().link.unwrap();
    assert_eq!((link.bucket.as_str(), link.name), ("files", None));

    files.delete("a.txt").await.unwrap();
    let err = files.get("a.txt").await.unwrap_err();
    assert_eq!(err.kind(), object_store::GetErrorKind::NotFound, "{err}");
    let deleted = files.info("a.txt").await.unwrap();
    assert!(deleted.deleted);
    assert_eq!((deleted.size, deleted.chunks), (0, 0));
    let err = files.get("never").await.unwrap_err();
    assert_eq!(err.kind(), object_store::GetErrorKind::NotFound, "{err}");

    context.delete_object_store("other").await.unwrap();
    assert!(context.get_object_store("other").await.is_err());
}

async fn next_object(watch: &mut object_store::Watch) -> object_store::ObjectInfo {
    tokio::time::timeout(CLIENT_RECV_TIMEOUT, watch.next())
        .await
        .expect("watch entry in time")
        .expect("watch open")
        .expect("entry")
}

#[tokio::test]
async fn object_watch_sees_puts_and_deletes() {
    if skip_on_reference(SKIP_REASON) {
        return;
    }
    let server = js_server();
    let context = jetstream::new(client(&server).await);
    let files = object_bucket(&context, "watched").await;
    files.put("before", &mut b"0".as_slice()).await.unwrap();
    let mut history = files.watch_with_history().await.unwrap();
    let mut updates = files.watch().await.unwrap();
    assert_eq!(next_object(&mut history).await.name, "before");
    files.put("after", &mut b"1".as_slice()).await.unwrap();
    files.delete("before").await.unwrap();
    let first = next_object(&mut updates).await;
    assert_eq!((first.name.as_str(), first.deleted), ("after", false));
    let second = next_object(&mut updates).await;
    assert_eq!((second.name.as_str(), second.deleted), ("before", true));
    assert_eq!(next_object(&mut history).await.name, "after");
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// A deterministic pseudo-random byte source, read in pieces so that the test holds no
/// more than one chunk of the object either.
struct Pattern {
    left: usize,
    state: u64,
    digest: sha2::Sha256,
}

impl tokio::io::AsyncRead for Pattern {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use sha2::Digest;
        let n = buf.remaining().min(self.left).min(64 * 1024);
        let mut piece = vec![0u8; n];
        for word in piece.chunks_mut(8) {
            self.state = self
                .state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let bytes = self.state.to_le_bytes();
            word.copy_from_slice(&bytes[..word.len()]);
        }
        self.digest.update(&piece);
        self.left -= n;
        buf.put_slice(&piece);
        std::task::Poll::Ready(Ok(()))
    }
}

/// 200 MB through the Object Store: digest checked on both sides, and the server streams
/// it (its resident memory stays far below the object's size).
#[tokio::test]
async fn large_object_round_trip_is_streamed() {
    if skip_on_reference(SKIP_REASON) {
        return;
    }
    use base64::Engine;
    use sha2::Digest;
    use tokio::io::AsyncReadExt;
    const OBJECT_BYTES: usize = 200 * 1024 * 1024;
    // Generous: the stream's body cache, buffers, allocator slack; far below the object.
    const RSS_GROWTH_KIB_MAX: u64 = 120 * 1024;
    let server = js_server();
    let pid = server.pid();
    let context = jetstream::new(client(&server).await);
    let files = object_bucket(&context, "large").await;
    let start_rss = vm_rss_kib(pid);
    let mut source = Pattern {
        left: OBJECT_BYTES,
        state: 42,
        digest: sha2::Sha256::new(),
    };
    let info = files.put("big", &mut source).await.expect("put 200 MB");
    let digest = base64::engine::general_purpose::URL_SAFE.encode(source.digest.finalize());
    assert_eq!(info.size, OBJECT_BYTES);
    assert_eq!(
        info.digest.as_deref(),
        Some(format!("SHA-256={digest}").as_str())
    );
    let after_put = vm_rss_kib(pid);

    // Read it back piece by piece (the client checks the digest at the end).
    let mut object = files.get("big").await.expect("get");
    let mut hasher = sha2::Sha256::new();
    let mut total = 0usize;
    let mut piece = vec![0u8; 256 * 1024];
    let mut peak = after_put;
    loop {
        let n = object
            .read(&mut piece)
            .await
            .expect("read (digest checked)");
        if n == 0 {
            break;
        }
        hasher.update(&piece[..n]);
        total += n;
        if total % (16 * 1024 * 1024) < n {
            peak = peak.max(vm_rss_kib(pid));
        }
    }
    assert_eq!(total, OBJECT_BYTES);
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE.encode(hasher.finalize()),
        digest
    );
    let peak = peak.max(after_put).max(vm_rss_kib(pid));
    eprintln!("server RSS: start {start_rss} KiB, after put {after_put} KiB, peak {peak} KiB");
    assert!(
        peak.saturating_sub(start_rss) < RSS_GROWTH_KIB_MAX,
        "server RSS grew from {start_rss} KiB to {peak} KiB"
    );
}

/// A KV mirror (`mirror_direct`) answers direct gets of its origin bucket too: reads are
/// shared between the origin and the mirror (queue group `_sys_`), so both must be right.
#[tokio::test]
async fn kv_mirror_serves_direct_gets_of_its_origin() {
    let server = js_server();
    let client = client(&server).await;
    let created = json_request(
        &client,
        "$JS.API.STREAM.CREATE.KV_src",
        kv_stream_config("src", 5),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    let mirror = json_request(
        &client,
        "$JS.API.STREAM.CREATE.KV_copy",
        json!({"name": "KV_copy", "mirror": {"name": "KV_src"}, "mirror_direct": true,
               "max_msgs_per_subject": 5, "discard": "new", "allow_rollup_hdrs": true,
               "deny_delete": true, "max_msgs": -1, "max_consumers": -1}),
    )
    .await;
    assert!(mirror.get("error").is_none(), "{mirror}");
    assert_eq!(mirror["config"]["mirror_direct"], true, "{mirror}");
    publish_raw(&client, "$KV.src.k", &[], "v1").await;
    publish_raw(&client, "$KV.src.k", &[], "v2").await;
    // Wait for the copy.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let info = json_request(&client, "$JS.API.STREAM.INFO.KV_copy", Value::Null).await;
        if info["state"]["last_seq"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "mirror did not catch up: {info}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut answered_by = std::collections::BTreeSet::new();
    for _ in 0..32 {
        let reply = client
            .request("$JS.API.DIRECT.GET.KV_src.$KV.src.k", Bytes::new())
            .await
            .unwrap();
        assert_eq!(reply.payload, Bytes::from("v2"));
        let headers = reply.headers.expect("headers");
        assert_eq!(headers.get("Nats-Sequence").unwrap().as_str(), "2");
        answered_by.insert(headers.get("Nats-Stream").unwrap().as_str().to_string());
    }
    assert!(
        answered_by.contains("KV_copy"),
        "the mirror never answered: {answered_by:?}"
    );
    // Reading by sequence (origin or mirror answers).
    let by_seq = client
        .request("$JS.API.DIRECT.GET.KV_src", Bytes::from(r#"{"seq":1}"#))
        .await
        .unwrap();
    assert_eq!(by_seq.payload, Bytes::from("v1"));
    // A purge in the origin (rollup of the key) clears the mirror's older values too.
    publish_raw(
        &client,
        "$KV.src.k",
        &[("KV-Operation", "PURGE"), ("Nats-Rollup", "sub")],
        "",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let info = json_request(&client, "$JS.API.STREAM.INFO.KV_copy", Value::Null).await;
        if info["state"]["last_seq"] == 3 {
            assert_eq!(info["state"]["messages"], 1, "{info}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "mirror did not copy the purge: {info}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
