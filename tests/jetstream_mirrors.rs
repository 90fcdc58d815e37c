//! Mirrors and sources through the raw `$JS.API`: copying, sequence alignment, the
//! `Nats-Stream-Source` header, STREAM.INFO's `mirror`/`sources`, nats-server's validation
//! errors, an origin created after its mirror, and resuming after a restart with neither
//! duplicates nor gaps. Also run against the reference
//! (`TERN_TEST_SERVER=/usr/sbin/nats-server cargo test --test jetstream_mirrors`).

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use common::*;
use serde_json::{json, Value};

/// How long a copy may take to show up (the origin's consumer heartbeats every second).
const COPY_TIMEOUT: Duration = Duration::from_secs(15);

async fn info(client: &async_nats::Client, stream: &str) -> Value {
    json_request(
        client,
        &format!("$JS.API.STREAM.INFO.{stream}"),
        Value::Null,
    )
    .await
}

/// Waits until `stream` holds `count` messages; returns its info.
async fn wait_for_messages(client: &async_nats::Client, stream: &str, count: u64) -> Value {
    let deadline = Instant::now() + COPY_TIMEOUT;
    loop {
        let info = info(client, stream).await;
        if info["state"]["messages"] == count {
            return info;
        }
        assert!(
            Instant::now() < deadline,
            "{stream} did not reach {count} messages: {info}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (subject, seq, headers, payload, time) of one stored message.
async fn get(
    client: &async_nats::Client,
    stream: &str,
    seq: u64,
) -> (String, u64, String, String, String) {
    let answer = json_request(
        client,
        &format!("$JS.API.STREAM.MSG.GET.{stream}"),
        json!({"seq": seq}),
    )
    .await;
    let message = &answer["message"];
    assert!(message.is_object(), "{stream} seq {seq}: {answer}");
    let decode = |v: &Value| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or(""))
                .unwrap(),
        )
        .unwrap()
    };
    (
        message["subject"].as_str().unwrap().to_string(),
        message["seq"].as_u64().unwrap(),
        decode(&message["hdrs"]),
        decode(&message["data"]),
        message["time"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn mirrors_and_sources_copy_and_report() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let client = client(&server).await;
    let origin = create_stream(&client, json!({"name": "O", "subjects": ["o.>"]})).await;
    assert!(origin.get("error").is_none(), "{origin}");
    for i in 1..=5 {
        publish_for_ack(&client, &format!("o.{}", i % 2), &format!("m{i}")).await;
    }
    // An interior delete: the mirror keeps the origin's sequences around the gap.
    let deleted = json_request(&client, "$JS.API.STREAM.MSG.DELETE.O", json!({"seq": 3})).await;
    assert_eq!(deleted["success"], true, "{deleted}");

    let mirror = create_stream(&client, json!({"name": "M", "mirror": {"name": "O"}})).await;
    assert!(mirror.get("error").is_none(), "{mirror}");
    let source = create_stream(
        &client,
        json!({"name": "S", "subjects": ["own"], "sources": [{"name": "O", "filter_subject": "o.1"}]}),
    )
    .await;
    assert!(source.get("error").is_none(), "{source}");

    let m = wait_for_messages(&client, "M", 4).await;
    assert_eq!(m["state"]["first_seq"], 1, "{m}");
    assert_eq!(m["state"]["last_seq"], 5, "{m}");
    assert_eq!(m["mirror"]["name"], "O", "{m}");
    assert_eq!(m["mirror"]["lag"], 0, "{m}");
    assert!(m["mirror"]["active"].as_i64().unwrap() >= 0, "{m}");
    for seq in [1, 2, 4, 5] {
        let copied = get(&client, "M", seq).await;
        let original = get(&client, "O", seq).await;
        assert_eq!(
            copied, original,
            "mirror seq {seq} is the origin's, time included"
        );
    }

    // o.1 got m1, m3 (deleted before the source started), m5.
    let s = wait_for_messages(&client, "S", 2).await;
    assert_eq!(s["sources"][0]["name"], "O", "{s}");
    let first = get(&client, "S", 1).await;
    assert_eq!((first.0.as_str(), first.3.as_str()), ("o.1", "m1"));
    assert!(first.2.contains("Nats-Stream-Source: O "), "{:?}", first.2);
    assert!(first.2.trim_end().ends_with(" 1"), "{:?}", first.2);

    // Later publishes follow, and the sourcing stream keeps taking its own.
    publish_for_ack(&client, "o.1", "m6").await;
    publish_for_ack(&client, "own", "mine").await;
    wait_for_messages(&client, "M", 5).await;
    wait_for_messages(&client, "S", 4).await;
    assert_eq!(get(&client, "M", 6).await.3, "m6");
}

#[tokio::test]
async fn mirror_configuration_errors_match_nats_server() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let client = client(&server).await;
    create_stream(&client, json!({"name": "O", "subjects": ["o.>"]})).await;
    let with_subjects = create_stream(
        &client,
        json!({"name": "M1", "subjects": ["x"], "mirror": {"name": "O"}}),
    )
    .await;
    assert_eq!(
        with_subjects["error"],
        json!({"code": 400, "err_code": 10034, "description": "stream mirrors can not contain subjects"})
    );
    let with_sources = create_stream(
        &client,
        json!({"name": "M2", "mirror": {"name": "O"}, "sources": [{"name": "O"}]}),
    )
    .await;
    assert_eq!(
        with_sources["error"],
        json!({"code": 400, "err_code": 10031, "description": "stream mirrors can not also contain other sources"})
    );
    let created = create_stream(&client, json!({"name": "M", "mirror": {"name": "O"}})).await;
    assert!(created.get("error").is_none(), "{created}");
    let changed = json_request(
        &client,
        "$JS.API.STREAM.UPDATE.M",
        json!({"name": "M", "mirror": {"name": "O", "filter_subject": "o.1"}}),
    )
    .await;
    assert_eq!(
        changed["error"],
        json!({"code": 400, "err_code": 10055, "description": "stream mirror configuration can not be updated"})
    );
    let subjects = json_request(
        &client,
        "$JS.API.STREAM.UPDATE.M",
        json!({"name": "M", "subjects": ["q"], "mirror": {"name": "O"}}),
    )
    .await;
    assert_eq!(subjects["error"]["err_code"], 10034, "{subjects}");
}

/// A mirror created before its origin starts copying once the origin exists.
#[tokio::test]
async fn mirror_waits_for_its_origin() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let client = client(&server).await;
    let created = create_stream(
        &client,
        json!({"name": "LATE_M", "mirror": {"name": "LATE"}}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    create_stream(&client, json!({"name": "LATE", "subjects": ["late"]})).await;
    publish_for_ack(&client, "late", "x").await;
    let m = wait_for_messages(&client, "LATE_M", 1).await;
    assert_eq!(m["state"]["last_seq"], 1, "{m}");
}

/// Copying resumes after a restart (clean and `kill -9`) from the last copied message:
/// every origin message exactly once, in order.
#[tokio::test]
async fn mirrors_and_sources_resume_after_restart() {
    if skip_on_reference("restarts a tern store") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let mut server = js_server_in(store.path());
    {
        let client = client(&server).await;
        create_stream(&client, json!({"name": "O", "subjects": ["o.*"]})).await;
        // Several streams so the origin and its copies spread over both cores.
        create_stream(&client, json!({"name": "M", "mirror": {"name": "O"}})).await;
        create_stream(&client, json!({"name": "S", "sources": [{"name": "O"}]})).await;
        for i in 1..=40 {
            publish_for_ack(&client, &format!("o.{}", i % 3), &format!("m{i}")).await;
        }
        wait_for_messages(&client, "M", 40).await;
        wait_for_messages(&client, "S", 40).await;
    }
    server.stop();
    server = js_server_in(store.path());
    {
        let client = client(&server).await;
        for i in 41..=60 {
            publish_for_ack(&client, &format!("o.{}", i % 3), &format!("m{i}")).await;
        }
        wait_for_messages(&client, "M", 60).await;
        wait_for_messages(&client, "S", 60).await;
        for i in 61..=80 {
            publish_for_ack(&client, &format!("o.{}", i % 3), &format!("m{i}")).await;
        }
    }
    // Killed while (maybe) still copying: whatever was copied is durable.
    server.kill();
    server = js_server_in(store.path());
    let client = client(&server).await;
    let m = wait_for_messages(&client, "M", 80).await;
    assert_eq!(m["state"]["last_seq"], 80, "{m}");
    let s = wait_for_messages(&client, "S", 80).await;
    assert_eq!(s["state"]["last_seq"], 80, "no duplicates: {s}");
    for seq in 1..=80u64 {
        let copied = get(&client, "M", seq).await;
        assert_eq!(copied.3, format!("m{seq}"));
        let sourced = get(&client, "S", seq).await;
        assert_eq!(sourced.3, format!("m{seq}"), "sourced in order, no gaps");
        assert!(
            sourced
                .2
                .contains(&format!("Nats-Stream-Source: O {seq}\r\n")),
            "{:?}",
            sourced.2
        );
    }
}

/// A filtered mirror keeps the origin's sequences of the subjects it takes; a source can
/// start at a sequence or a time.
#[tokio::test]
async fn filters_and_start_positions() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let client = client(&server).await;
    create_stream(&client, json!({"name": "O", "subjects": ["o.*"]})).await;
    for i in 1..=10 {
        let subject = if i % 2 == 1 { "o.a" } else { "o.b" };
        publish_for_ack(&client, subject, &format!("m{i}")).await;
    }
    let start_time = get(&client, "O", 8).await.4;
    create_stream(
        &client,
        json!({"name": "MA", "mirror": {"name": "O", "filter_subject": "o.a"}}),
    )
    .await;
    create_stream(
        &client,
        json!({"name": "FROM6", "sources": [{"name": "O", "opt_start_seq": 6}]}),
    )
    .await;
    create_stream(
        &client,
        json!({"name": "FROMT", "sources": [{"name": "O", "opt_start_time": start_time}]}),
    )
    .await;
    let ma = wait_for_messages(&client, "MA", 5).await;
    assert_eq!(ma["state"]["last_seq"], 9, "{ma}");
    for seq in [1u64, 3, 5, 7, 9] {
        assert_eq!(get(&client, "MA", seq).await.3, format!("m{seq}"));
    }
    wait_for_messages(&client, "FROM6", 5).await;
    assert_eq!(get(&client, "FROM6", 1).await.3, "m6");
    wait_for_messages(&client, "FROMT", 3).await;
    assert_eq!(get(&client, "FROMT", 1).await.3, "m8");
}

/// A mirror catching up on many large messages goes through flow control.
#[tokio::test]
async fn mirror_catches_up_on_a_large_origin() {
    const MSGS: u64 = 2_000;
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let client = client(&server).await;
    create_stream(&client, json!({"name": "BIG", "subjects": ["big"]})).await;
    let payload = Bytes::from(vec![b'x'; 8 * 1024]);
    let context = async_nats::jetstream::new(client.clone());
    let mut acks = Vec::new();
    for _ in 0..MSGS {
        acks.push(context.publish("big", payload.clone()).await.unwrap());
    }
    for ack in acks {
        ack.await.unwrap();
    }
    create_stream(&client, json!({"name": "BIG_M", "mirror": {"name": "BIG"}})).await;
    let m = wait_for_messages(&client, "BIG_M", MSGS).await;
    assert_eq!(m["state"]["last_seq"], MSGS, "{m}");
    assert_eq!(m["mirror"]["lag"], 0, "{m}");
}

/// A source with subject transforms (as KV buckets sourcing another bucket are set up,
/// ADR-57): the copies land under the destination subjects.
#[tokio::test]
async fn sources_apply_subject_transforms() {
    if skip_on_reference("subject_transforms came in nats-server 2.10") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let client = client(&server).await;
    create_stream(&client, json!({"name": "KV_a", "subjects": ["$KV.a.>"]})).await;
    publish_for_ack(&client, "$KV.a.k1", "v1").await;
    publish_for_ack(&client, "$KV.a.x.k2", "v2").await;
    let created = create_stream(
        &client,
        json!({"name": "KV_b", "subjects": ["$KV.b.>"],
               "sources": [{"name": "KV_a", "subject_transforms": [{"src": "$KV.a.>", "dest": "$KV.b.>"}]}]}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    wait_for_messages(&client, "KV_b", 2).await;
    assert_eq!(get(&client, "KV_b", 1).await.0, "$KV.b.k1");
    assert_eq!(get(&client, "KV_b", 2).await.0, "$KV.b.x.k2");
    let last = json_request(
        &client,
        "$JS.API.STREAM.MSG.GET.KV_b",
        json!({"last_by_subj": "$KV.b.x.k2"}),
    )
    .await;
    assert_eq!(last["message"]["seq"], 2, "{last}");
}
