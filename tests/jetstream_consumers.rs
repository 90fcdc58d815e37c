//! JetStream consumers through the official async-nats client: pull and push, acks,
//! redelivery, work queues, durable state across a restart. Also run against the reference
//! (`TERN_TEST_SERVER=/usr/sbin/nats-server cargo test --test jetstream_consumers`).

mod common;

use std::time::Duration;

use async_nats::jetstream::{self, consumer, AckKind};
use bytes::Bytes;
use common::*;
use futures::StreamExt;
use serde_json::{json, Value};

async fn publish(context: &jetstream::Context, subject: &str, count: usize) {
    for i in 0..count {
        context
            .publish(subject.to_string(), Bytes::from(format!("m{i}")))
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

async fn next_within<S>(messages: &mut S) -> jetstream::Message
where
    S: futures::Stream<
            Item = Result<jetstream::Message, async_nats::jetstream::consumer::pull::MessagesError>,
        > + Unpin,
{
    tokio::time::timeout(CLIENT_RECV_TIMEOUT, messages.next())
        .await
        .expect("a message in time")
        .expect("stream open")
        .expect("a message, not an error")
}

#[tokio::test]
async fn pull_consumer_fetches_acks_and_reports() {
    let s = {
        let store = tempfile::tempdir().unwrap();
        (js_server_in(store.path()), store)
    };
    let (client, context) =
        setup_stream(&s.0, json!({"name": "ORDERS", "subjects": ["orders.*"]})).await;
    publish(&context, "orders.new", 10).await;
    let stream = context.get_stream("ORDERS").await.unwrap();
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("worker".to_string()),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .expect("create consumer");

    let mut batch = consumer.fetch().max_messages(4).messages().await.unwrap();
    let mut seen = Vec::new();
    while let Some(message) = batch.next().await {
        let message = message.unwrap();
        assert_eq!(message.subject.as_str(), "orders.new");
        let info = message.info().unwrap();
        seen.push(info.stream_sequence);
        // Double ack: answered once processed, so the info below sees it.
        message.double_ack().await.unwrap();
    }
    assert_eq!(seen, [1, 2, 3, 4]);
    let mut info = consumer.clone();
    let info = info.info().await.unwrap().clone();
    assert_eq!(info.num_pending, 6);
    assert_eq!(info.delivered.stream_sequence, 4);
    assert_eq!(info.ack_floor.stream_sequence, 4);
    assert_eq!(info.num_ack_pending, 0);

    // A no-wait fetch past the end comes back empty instead of hanging.
    let mut rest = consumer.fetch().max_messages(20).messages().await.unwrap();
    let mut count = 0;
    while let Some(message) = rest.next().await {
        message.unwrap().ack().await.unwrap();
        count += 1;
    }
    assert_eq!(count, 6);

    let names = json_request(&client, "$JS.API.CONSUMER.NAMES.ORDERS", Value::Null).await;
    assert_eq!(names["consumers"], json!(["worker"]));
    let stream_info = json_request(&client, "$JS.API.STREAM.INFO.ORDERS", Value::Null).await;
    assert_eq!(stream_info["state"]["consumer_count"], 1);
    let deleted = json_request(
        &client,
        "$JS.API.CONSUMER.DELETE.ORDERS.worker",
        Value::Null,
    )
    .await;
    assert_eq!(deleted["success"], true, "{deleted}");
    let missing = json_request(&client, "$JS.API.CONSUMER.INFO.ORDERS.worker", Value::Null).await;
    assert_eq!(missing["error"]["err_code"], 10014, "{missing}");
}

#[tokio::test]
async fn push_consumer_delivers_with_original_subjects() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (_, context) =
        setup_stream(&server, json!({"name": "EVENTS", "subjects": ["events.>"]})).await;
    let stream = context.get_stream("EVENTS").await.unwrap();
    let consumer: consumer::PushConsumer = stream
        .create_consumer(consumer::push::Config {
            durable_name: Some("audit".to_string()),
            deliver_subject: "deliver.audit".to_string(),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .expect("create push consumer");
    let mut messages = consumer.messages().await.unwrap();
    for key in ["a", "b", "c"] {
        context
            .publish(format!("events.{key}"), Bytes::from(key))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    for key in ["a", "b", "c"] {
        let message = tokio::time::timeout(CLIENT_RECV_TIMEOUT, messages.next())
            .await
            .expect("in time")
            .unwrap()
            .unwrap();
        assert_eq!(message.subject.as_str(), format!("events.{key}"));
        assert_eq!(message.payload, Bytes::from(key));
        message.ack().await.unwrap();
    }
}

#[tokio::test]
async fn unacked_and_naked_messages_are_redelivered() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (_, context) = setup_stream(&server, json!({"name": "RETRY", "subjects": ["retry"]})).await;
    publish(&context, "retry", 2).await;
    let stream = context.get_stream("RETRY").await.unwrap();
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("slow".to_string()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_millis(500),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let first = next_within(&mut messages).await;
    assert_eq!(first.info().unwrap().delivered, 1);
    let second = next_within(&mut messages).await;
    assert_eq!(second.info().unwrap().stream_sequence, 2);
    // Seq 2 is NAKed: back at once. Seq 1 is never acked: back after ack_wait.
    second.ack_with(AckKind::Nak(None)).await.unwrap();
    let again = next_within(&mut messages).await;
    assert_eq!(again.info().unwrap().stream_sequence, 2);
    assert_eq!(again.info().unwrap().delivered, 2);
    again.ack().await.unwrap();
    let late = next_within(&mut messages).await;
    assert_eq!(late.info().unwrap().stream_sequence, 1);
    assert_eq!(late.info().unwrap().delivered, 2);
    late.double_ack().await.expect("double ack answered");
}

#[tokio::test]
async fn work_queue_streams_drop_acked_messages() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (client, context) = setup_stream(
        &server,
        json!({"name": "JOBS", "subjects": ["jobs.*"], "retention": "workqueue"}),
    )
    .await;
    publish(&context, "jobs.build", 5).await;
    let stream = context.get_stream("JOBS").await.unwrap();
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("builders".to_string()),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut batch = consumer.fetch().max_messages(3).messages().await.unwrap();
    while let Some(message) = batch.next().await {
        message.unwrap().double_ack().await.unwrap();
    }
    let state = &json_request(&client, "$JS.API.STREAM.INFO.JOBS", Value::Null).await["state"];
    assert_eq!(state["messages"], 2, "{state}");
    assert_eq!(state["first_seq"], 4, "{state}");
    // A second unfiltered consumer on a work queue is refused.
    let second = json_request(
        &client,
        "$JS.API.CONSUMER.CREATE.JOBS.other",
        json!({"stream_name": "JOBS", "config": {"name": "other", "ack_policy": "explicit"}}),
    )
    .await;
    assert_eq!(second["error"]["err_code"], 10099, "{second}");
}

#[tokio::test]
async fn durable_consumer_resumes_after_restart() {
    let store = tempfile::tempdir().unwrap();
    {
        let mut server = js_server_in(store.path());
        let (_, context) = setup_stream(&server, json!({"name": "LOG", "subjects": ["log"]})).await;
        publish(&context, "log", 10).await;
        let stream = context.get_stream("LOG").await.unwrap();
        let consumer: consumer::PullConsumer = stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some("reader".to_string()),
                ack_policy: consumer::AckPolicy::Explicit,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut batch = consumer.fetch().max_messages(4).messages().await.unwrap();
        while let Some(message) = batch.next().await {
            message.unwrap().double_ack().await.unwrap();
        }
        server.stop();
    }
    let server = js_server_in(store.path());
    let (_, context) = (client(&server).await, jetstream::new(client(&server).await));
    let stream = context.get_stream("LOG").await.unwrap();
    let consumer: consumer::PullConsumer =
        stream.get_consumer("reader").await.expect("still there");
    let mut batch = consumer.fetch().max_messages(10).messages().await.unwrap();
    let mut seqs = Vec::new();
    while let Some(message) = batch.next().await {
        let message = message.unwrap();
        seqs.push(message.info().unwrap().stream_sequence);
        message.ack().await.unwrap();
    }
    assert_eq!(seqs, (5..=10).collect::<Vec<u64>>());
}

#[tokio::test]
async fn ordered_consumers_read_everything_in_order() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (_, context) = setup_stream(&server, json!({"name": "FEED", "subjects": ["feed.>"]})).await;
    publish(&context, "feed.x", 50).await;
    let stream = context.get_stream("FEED").await.unwrap();
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig::default())
        .await
        .expect("ordered consumer");
    let mut messages = consumer.messages().await.unwrap();
    for expected in 1..=50u64 {
        let message = tokio::time::timeout(CLIENT_RECV_TIMEOUT, messages.next())
            .await
            .expect("in time")
            .unwrap()
            .unwrap();
        assert_eq!(message.info().unwrap().stream_sequence, expected);
        assert_eq!(message.payload, Bytes::from(format!("m{}", expected - 1)));
    }
}

/// KV on top of consumers: keys, history and watch use ordered consumers.
#[tokio::test]
async fn key_value_keys_history_and_watch() {
    if skip_on_reference("async-nats 0.51 can not parse 2.9.10's KV stream-create answer") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let context = jetstream::new(client(&server).await);
    let kv = context
        .create_key_value(async_nats::jetstream::kv::Config {
            bucket: "config".to_string(),
            history: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    kv.put("a", "1".into()).await.unwrap();
    kv.put("b", "1".into()).await.unwrap();
    kv.put("a", "2".into()).await.unwrap();
    let mut keys: Vec<String> = kv.keys().await.unwrap().map(|k| k.unwrap()).collect().await;
    keys.sort();
    assert_eq!(keys, ["a", "b"]);
    let history: Vec<Bytes> = kv
        .history("a")
        .await
        .unwrap()
        .map(|e| e.unwrap().value)
        .collect()
        .await;
    assert_eq!(history, [Bytes::from("1"), Bytes::from("2")]);
    let mut watch = kv.watch("a").await.unwrap();
    kv.put("a", "3".into()).await.unwrap();
    let entry = tokio::time::timeout(CLIENT_RECV_TIMEOUT, watch.next())
        .await
        .expect("watch update in time")
        .unwrap()
        .unwrap();
    assert_eq!(entry.value, Bytes::from("3"));
}

/// Object Store: put a multi-chunk object and read it back.
#[tokio::test]
async fn object_store_put_and_get() {
    if skip_on_reference("async-nats 0.51 can not parse 2.9.10's stream-create answer") {
        return;
    }
    use tokio::io::AsyncReadExt;
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let context = jetstream::new(client(&server).await);
    let bucket = context
        .create_object_store(async_nats::jetstream::object_store::Config {
            bucket: "files".to_string(),
            ..Default::default()
        })
        .await
        .unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    bucket
        .put("big.bin", &mut data.as_slice())
        .await
        .expect("put object");
    let mut object = bucket.get("big.bin").await.expect("get object");
    let mut read = Vec::new();
    object.read_to_end(&mut read).await.unwrap();
    assert_eq!(read.len(), data.len());
    assert!(read == data, "object contents differ");
}

#[tokio::test]
async fn max_deliveries_and_terms_publish_advisories() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (client, context) =
        setup_stream(&server, json!({"name": "ADV", "subjects": ["adv"]})).await;
    let mut advisories = client
        .subscribe("$JS.EVENT.ADVISORY.CONSUMER.>")
        .await
        .unwrap();
    client.flush().await.unwrap();
    publish(&context, "adv", 2).await;
    let stream = context.get_stream("ADV").await.unwrap();
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("picky".to_string()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_millis(300),
            max_deliver: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let first = next_within(&mut messages).await;
    let seq_first = first.info().unwrap().stream_sequence;
    let second = next_within(&mut messages).await;
    // async-nats sends no reason with +TERM; send the payload by hand.
    let ack_subject = second.reply.clone().expect("an ack subject");
    client
        .publish(
            ack_subject,
            // nats-server 2.9.10 did not know +TERM with a reason (it took it for garbage).
            Bytes::from(if is_reference() {
                "+TERM"
            } else {
                "+TERM bad input"
            }),
        )
        .await
        .unwrap();
    // The first is never acked: delivered again after ack_wait, then given up on.
    let again = next_within(&mut messages).await;
    assert_eq!(again.info().unwrap().stream_sequence, seq_first);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let advisory = recv(&mut advisories).await;
        // nats-server also announces the consumer's creation and more on this prefix.
        if !advisory.subject.contains("MAX_DELIVERIES")
            && !advisory.subject.contains("MSG_TERMINATED")
        {
            continue;
        }
        let body: Value = serde_json::from_slice(&advisory.payload).unwrap();
        seen.push((advisory.subject.to_string(), body));
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen[0].0,
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ADV.picky"
    );
    assert_eq!(
        seen[0].1["type"],
        "io.nats.jetstream.advisory.v1.max_deliver"
    );
    assert_eq!(seen[0].1["stream_seq"], seq_first);
    assert_eq!(seen[0].1["deliveries"], 2);
    assert_eq!(
        seen[1].0,
        "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.ADV.picky"
    );
    if !is_reference() {
        // nats-server 2.9.10 did not read a reason after +TERM; newer ones do.
        assert_eq!(seen[1].1["reason"], "bad input");
    }
}

/// A push consumer with `idle_heartbeat` sends `100 Idle Heartbeat` status messages with
/// the last delivered positions while nothing flows, and pull requests end with the 404 /
/// 408 statuses clients use for loop control.
#[tokio::test]
async fn push_heartbeats_and_pull_statuses() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (client, context) = setup_stream(&server, json!({"name": "HB", "subjects": ["hb"]})).await;
    publish(&context, "hb", 1).await;
    let mut deliveries = client.subscribe("hb.deliver").await.unwrap();
    client.flush().await.unwrap();
    let created = json_request(
        &client,
        "$JS.API.CONSUMER.CREATE.HB.beat",
        json!({"stream_name": "HB", "config": {
            "durable_name": "beat", "deliver_subject": "hb.deliver", "ack_policy": "explicit",
            "idle_heartbeat": 200_000_000u64, "flow_control": true}}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    let first = recv(&mut deliveries).await;
    assert_eq!(first.subject.as_str(), "hb");
    let heartbeat = loop {
        let message = recv(&mut deliveries).await;
        if message.status.is_some() {
            break message;
        }
    };
    assert_eq!(heartbeat.status.map(|s| s.as_u16()), Some(100));
    assert_eq!(heartbeat.description.as_deref(), Some("Idle Heartbeat"));
    let headers = heartbeat.headers.expect("heartbeat headers");
    assert_eq!(
        headers.get("Nats-Last-Consumer").map(|v| v.to_string()),
        Some("1".into())
    );
    assert_eq!(
        headers.get("Nats-Last-Stream").map(|v| v.to_string()),
        Some("1".into())
    );

    // Pull: no_wait on an empty consumer is a 404; an expiring request ends in a 408.
    let pulled = json_request(
        &client,
        "$JS.API.CONSUMER.CREATE.HB.puller",
        json!({"stream_name": "HB", "config": {"durable_name": "puller", "ack_policy": "explicit", "deliver_policy": "new"}}),
    )
    .await;
    assert!(pulled.get("error").is_none(), "{pulled}");
    let status = client
        .request(
            "$JS.API.CONSUMER.MSG.NEXT.HB.puller".to_string(),
            Bytes::from(r#"{"batch":1,"no_wait":true}"#),
        )
        .await
        .expect("a status reply");
    assert_eq!(status.status.map(|s| s.as_u16()), Some(404), "{status:?}");
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client
        .publish_with_reply(
            "$JS.API.CONSUMER.MSG.NEXT.HB.puller".to_string(),
            inbox,
            Bytes::from(r#"{"batch":2,"expires":300000000}"#),
        )
        .await
        .unwrap();
    let timeout = recv(&mut replies).await;
    assert_eq!(timeout.status.map(|s| s.as_u16()), Some(408), "{timeout:?}");
}

/// An ephemeral consumer nobody uses is deleted after its `inactive_threshold`; a durable
/// one stays.
#[tokio::test]
async fn idle_ephemeral_consumers_are_removed() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (client, _) = setup_stream(&server, json!({"name": "EPH", "subjects": ["eph"]})).await;
    let created = json_request(
        &client,
        "$JS.API.CONSUMER.CREATE.EPH.temp",
        json!({"stream_name": "EPH", "config": {"name": "temp", "ack_policy": "explicit",
            "inactive_threshold": 500_000_000u64}}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    let durable = json_request(
        &client,
        "$JS.API.CONSUMER.CREATE.EPH.keep",
        json!({"stream_name": "EPH", "config": {"durable_name": "keep", "ack_policy": "explicit"}}),
    )
    .await;
    assert!(durable.get("error").is_none(), "{durable}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let info = json_request(&client, "$JS.API.CONSUMER.INFO.EPH.temp", Value::Null).await;
        if info["error"]["err_code"] == 10014 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ephemeral still there: {info}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let kept = json_request(&client, "$JS.API.CONSUMER.INFO.EPH.keep", Value::Null).await;
    assert_eq!(kept["name"], "keep", "{kept}");
}

/// Monitoring counts consumers: `/jsz` totals and each stream's `consumer_count`.
#[tokio::test]
async fn jsz_counts_consumers() {
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().display().to_string();
    let server = ServerBuilder::new()
        .args(&["-js", "-sd", dir.as_str(), "-m", "-1"])
        .start();
    let (client, _) = setup_stream(&server, json!({"name": "MON", "subjects": ["mon"]})).await;
    for name in ["one", "two"] {
        let created = json_request(
            &client,
            &format!("$JS.API.CONSUMER.CREATE.MON.{name}"),
            json!({"stream_name": "MON", "config": {"durable_name": name, "ack_policy": "explicit"}}),
        )
        .await;
        assert!(created.get("error").is_none(), "{created}");
    }
    let monitor = server.monitor_addr().expect("monitoring port");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let jsz = http_json(monitor, "/jsz?streams=true");
        let stream = &jsz["account_details"][0]["stream_detail"][0];
        if jsz["consumers"] == 2 && stream["state"]["consumer_count"] == 2 {
            break;
        }
        // The per-stream figures are refreshed by the stream's writer after each batch.
        assert!(std::time::Instant::now() < deadline, "{jsz}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A no-wait fetch larger than what the server sends in one go still gets every available
/// message before its `404 No Messages`, as nats-server sends them (nats.go's `Fetch`
/// with `NoWait` and async-nats' `fetch()` rely on it).
#[tokio::test]
async fn no_wait_fetch_gets_the_whole_batch_when_the_stream_has_it() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (client, _) = setup_stream(
        &server,
        json!({"name": "BIG", "subjects": ["big"], "storage": "memory"}),
    )
    .await;
    const STORED: usize = 3_000;
    const BATCH: usize = 2_500;
    for i in 0..STORED {
        client
            .publish("big", Bytes::from(format!("m{i}")))
            .await
            .unwrap();
    }
    // Core publishes: wait until the stream holds them all.
    let deadline = tokio::time::Instant::now() + CLIENT_RECV_TIMEOUT;
    loop {
        let info = json_request(&client, "$JS.API.STREAM.INFO.BIG", Value::Null).await;
        if info["state"]["messages"].as_u64() == Some(STORED as u64) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{info}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let created = json_request(
        &client,
        "$JS.API.CONSUMER.CREATE.BIG",
        json!({"stream_name": "BIG", "config": {"ack_policy": "none"}}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    let name = created["name"].as_str().unwrap().to_string();
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    let next = format!("$JS.API.CONSUMER.MSG.NEXT.BIG.{name}");
    let fetch = |batch: usize| {
        let client = client.clone();
        let (next, inbox) = (next.clone(), inbox.clone());
        async move {
            let request = json!({"batch": batch, "no_wait": true}).to_string();
            client
                .publish_with_reply(next, inbox, Bytes::from(request))
                .await
                .unwrap();
        }
    };
    // The first batch is served whole; the second gets the 500 left, then its end: a 404
    // (nats-server 2.10 and later, and tern) or 408 with what was left (2.9).
    fetch(BATCH).await;
    let mut got = 0;
    while got < BATCH {
        let message = recv(&mut replies).await;
        assert_eq!(message.status, None, "after {got} messages: {message:?}");
        got += 1;
    }
    fetch(BATCH).await;
    let mut got = 0;
    loop {
        let message = recv(&mut replies).await;
        if let Some(status) = message.status {
            assert!([404, 408].contains(&status.as_u16()), "{message:?}");
            break;
        }
        got += 1;
    }
    assert_eq!(got, STORED - BATCH);
}
