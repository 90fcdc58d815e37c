//! How consumers pace and shape deliveries: `replay_policy: original`, `rate_limit_bps`,
//! push flow control (async-nats answering, and a raw subscriber that does not), pull
//! idle heartbeats, `headers_only`, and consumer updates (what may change and the errors
//! for what may not). Also run against the reference
//! (`TERN_TEST_SERVER=/usr/sbin/nats-server cargo test --test jetstream_consumer_delivery`).

mod common;

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use bytes::Bytes;
use common::*;
use futures::StreamExt;
use serde_json::{json, Value};

async fn publish_payload(context: &jetstream::Context, subject: &str, payload: Bytes) {
    context
        .publish(subject.to_string(), payload)
        .await
        .unwrap()
        .await
        .unwrap();
}

async fn create_consumer(client: &async_nats::Client, stream: &str, config: Value) -> Value {
    let name = config["durable_name"]
        .as_str()
        .or(config["name"].as_str())
        .unwrap()
        .to_string();
    json_request(
        client,
        &format!("$JS.API.CONSUMER.CREATE.{stream}.{name}"),
        json!({"stream_name": stream, "config": config}),
    )
    .await
}

/// Data messages (no status) until `count`, with when each arrived.
async fn receive_data(
    subscriber: &mut async_nats::Subscriber,
    count: usize,
) -> Vec<(async_nats::Message, Instant)> {
    let mut out = Vec::new();
    while out.len() < count {
        let message = recv(subscriber).await;
        if message.status.is_none() {
            out.push((message, Instant::now()));
        }
    }
    out
}

#[tokio::test]
async fn replay_original_spaces_deliveries_as_they_were_stored() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (client, context) =
        setup_stream(&server, json!({"name": "REPLAY", "subjects": ["r"]})).await;
    const GAP: Duration = Duration::from_millis(400);
    for i in 0..3 {
        if i > 0 {
            // The gap to be replayed, not a wait for the server.
            tokio::time::sleep(GAP).await;
        }
        publish_payload(&context, "r", Bytes::from(format!("m{i}"))).await;
    }
    let mut original = client.subscribe("replay.original").await.unwrap();
    let mut instant = client.subscribe("replay.instant").await.unwrap();
    client.flush().await.unwrap();
    for (name, replay) in [("orig", "original"), ("inst", "instant")] {
        let created = create_consumer(
            &client,
            "REPLAY",
            json!({"durable_name": name, "deliver_subject": format!("replay.{replay}"),
                   "ack_policy": "none", "replay_policy": replay}),
        )
        .await;
        assert!(created.get("error").is_none(), "{created}");
        assert_eq!(created["config"]["replay_policy"], replay);
    }
    let paced = receive_data(&mut original, 3).await;
    let fast = receive_data(&mut instant, 3).await;
    let payloads: Vec<&[u8]> = paced.iter().map(|(m, _)| m.payload.as_ref()).collect();
    assert_eq!(payloads, [b"m0", b"m1", b"m2"]);
    // Each message waits for the gap it had in the stream (timer slack aside).
    for pair in paced.windows(2) {
        let gap = pair[1].1 - pair[0].1;
        assert!(gap >= GAP - Duration::from_millis(100), "gap {gap:?}");
    }
    let paced_span = paced[2].1 - paced[0].1;
    let instant_span = fast[2].1 - fast[0].1;
    assert!(
        instant_span < paced_span,
        "instant {instant_span:?} vs original {paced_span:?}"
    );
}

#[tokio::test]
async fn rate_limit_bps_paces_a_push_consumer() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    // The burst is the stream's largest message: 1100 bytes.
    let (client, context) = setup_stream(
        &server,
        json!({"name": "RATE", "subjects": ["rate"], "max_msg_size": 1100}),
    )
    .await;
    const MSGS: usize = 20;
    for _ in 0..MSGS {
        publish_payload(&context, "rate", Bytes::from(vec![b'x'; 1000])).await;
    }
    let mut deliveries = client.subscribe("rate.deliver").await.unwrap();
    client.flush().await.unwrap();
    let started = Instant::now();
    // 160 kbit/s = 20 kB/s: ~20 kB take about a second after the first burst.
    let created = create_consumer(
        &client,
        "RATE",
        json!({"durable_name": "slow", "deliver_subject": "rate.deliver", "ack_policy": "none",
               "rate_limit_bps": 160_000}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    assert_eq!(created["config"]["rate_limit_bps"], 160_000);
    let received = receive_data(&mut deliveries, MSGS).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(700),
        "{MSGS} KB at 20 kB/s took only {elapsed:?}"
    );
    // Spread over the run, not bunched at the end.
    let half = received[MSGS / 2].1 - started;
    assert!(half >= Duration::from_millis(250), "half way at {half:?}");
}

#[tokio::test]
async fn async_nats_push_consumer_with_flow_control_reads_many_messages() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (_client, context) = setup_stream(&server, json!({"name": "FC", "subjects": ["fc"]})).await;
    // 5000 x 1 KiB: more than twice the first flow-control window (2 MiB).
    const MSGS: usize = 5000;
    let payload = Bytes::from(vec![b'f'; 1024]);
    let mut acks = Vec::new();
    for _ in 0..MSGS {
        acks.push(context.publish("fc", payload.clone()).await.unwrap());
    }
    for ack in acks {
        ack.await.unwrap();
    }
    let stream = context.get_stream("FC").await.unwrap();
    let consumer: consumer::PushConsumer = stream
        .create_consumer(consumer::push::Config {
            durable_name: Some("flow".to_string()),
            deliver_subject: "fc.deliver".to_string(),
            ack_policy: consumer::AckPolicy::None,
            flow_control: true,
            idle_heartbeat: Duration::from_secs(1),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    for expected in 1..=MSGS as u64 {
        let message = tokio::time::timeout(CLIENT_RECV_TIMEOUT, messages.next())
            .await
            .expect("a message in time (flow control answered)")
            .expect("stream open")
            .expect("a message");
        assert_eq!(message.info().unwrap().stream_sequence, expected);
    }
}

#[tokio::test]
async fn push_delivery_stalls_until_flow_control_is_answered() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (client, context) =
        setup_stream(&server, json!({"name": "STALL", "subjects": ["st"]})).await;
    const MSGS: usize = 4000;
    let payload = Bytes::from(vec![b's'; 1024]);
    let mut acks = Vec::new();
    for _ in 0..MSGS {
        acks.push(context.publish("st", payload.clone()).await.unwrap());
    }
    for ack in acks {
        ack.await.unwrap();
    }
    let mut deliveries = client.subscribe("st.deliver").await.unwrap();
    client.flush().await.unwrap();
    let created = create_consumer(
        &client,
        "STALL",
        json!({"durable_name": "stall", "deliver_subject": "st.deliver", "ack_policy": "none",
               "flow_control": true, "idle_heartbeat": 5_000_000_000u64}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    // Read without answering: a flow-control request comes, and delivery stops short of
    // everything (the window is 2 MiB, 4000 KiB are stored).
    let mut data = 0usize;
    let mut request = None;
    loop {
        match tokio::time::timeout(Duration::from_millis(700), deliveries.next()).await {
            Ok(Some(message)) => match message.status.map(|s| s.as_u16()) {
                None => data += 1,
                Some(100) if message.reply.is_some() => {
                    assert_eq!(message.description.as_deref(), Some("FlowControl Request"));
                    request = message.reply.clone();
                }
                Some(_) => {}
            },
            Ok(None) => panic!("subscription closed"),
            // Quiet for 700 ms: stalled (or done).
            Err(_) => break,
        }
    }
    let request = request.expect("a flow-control request");
    assert!(
        data < MSGS,
        "delivery stalls without an answer ({data} delivered)"
    );
    assert!(
        data > 1000,
        "about a window goes out first ({data} delivered)"
    );
    // Answering resumes delivery; answer every later request too.
    client.publish(request, Bytes::new()).await.unwrap();
    while data < MSGS {
        let message = recv(&mut deliveries).await;
        match (message.status.map(|s| s.as_u16()), message.reply) {
            (None, _) => data += 1,
            (Some(100), Some(reply)) => client.publish(reply, Bytes::new()).await.unwrap(),
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_long_pull_gets_idle_heartbeats_then_times_out() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (client, _context) =
        setup_stream(&server, json!({"name": "PHB", "subjects": ["phb"]})).await;
    let created = create_consumer(
        &client,
        "PHB",
        json!({"durable_name": "puller", "ack_policy": "explicit"}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client.flush().await.unwrap();
    client
        .publish_with_reply(
            "$JS.API.CONSUMER.MSG.NEXT.PHB.puller".to_string(),
            inbox,
            Bytes::from(r#"{"batch":1,"expires":1300000000,"idle_heartbeat":300000000}"#),
        )
        .await
        .unwrap();
    let mut heartbeats = 0;
    let end = loop {
        let message = recv(&mut replies).await;
        match message.status.map(|s| s.as_u16()) {
            Some(100) => {
                assert_eq!(message.description.as_deref(), Some("Idle Heartbeat"));
                heartbeats += 1;
            }
            _ => break message,
        }
    };
    assert_eq!(end.status.map(|s| s.as_u16()), Some(408), "{end:?}");
    assert!(
        (2..=5).contains(&heartbeats),
        "{heartbeats} heartbeats in 1.3 s at 300 ms"
    );
    // A heartbeat longer than half the expiry is refused.
    let refused = client
        .request(
            "$JS.API.CONSUMER.MSG.NEXT.PHB.puller".to_string(),
            Bytes::from(r#"{"batch":1,"expires":1000000000,"idle_heartbeat":600000000}"#),
        )
        .await
        .unwrap();
    assert_eq!(refused.status.map(|s| s.as_u16()), Some(400), "{refused:?}");
}

#[tokio::test]
async fn headers_only_delivers_headers_and_the_size() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (client, context) = setup_stream(&server, json!({"name": "HO", "subjects": ["ho"]})).await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Kind", "big");
    context
        .publish_with_headers("ho", headers, Bytes::from(vec![b'z'; 300]))
        .await
        .unwrap()
        .await
        .unwrap();
    publish_payload(&context, "ho", Bytes::from_static(b"plain")).await;
    let mut deliveries = client.subscribe("ho.deliver").await.unwrap();
    client.flush().await.unwrap();
    let created = create_consumer(
        &client,
        "HO",
        json!({"durable_name": "meta", "deliver_subject": "ho.deliver", "ack_policy": "none",
               "headers_only": true}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    let received = receive_data(&mut deliveries, 2).await;
    let first = &received[0].0;
    assert!(first.payload.is_empty());
    let h = first.headers.as_ref().expect("headers");
    assert_eq!(h.get("Kind").map(|v| v.to_string()), Some("big".into()));
    assert_eq!(
        h.get("Nats-Msg-Size").map(|v| v.to_string()),
        Some("300".into())
    );
    let second = &received[1].0;
    assert!(second.payload.is_empty());
    assert_eq!(
        second
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Size"))
            .map(|v| v.to_string()),
        Some("5".into())
    );
}

#[tokio::test]
async fn consumer_update_changes_what_may_change_and_refuses_the_rest() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (client, context) =
        setup_stream(&server, json!({"name": "UPD", "subjects": ["upd.*"]})).await;
    for i in 0..6 {
        publish_payload(&context, "upd.a", Bytes::from(format!("a{i}"))).await;
    }
    let base = json!({"durable_name": "w", "ack_policy": "explicit", "ack_wait": 30_000_000_000u64,
                      "max_ack_pending": 1000, "filter_subject": "upd.a"});
    let created = create_consumer(&client, "UPD", base.clone()).await;
    assert!(created.get("error").is_none(), "{created}");

    // Same config again: no change, no error.
    let again = create_consumer(&client, "UPD", base.clone()).await;
    assert!(again.get("error").is_none(), "{again}");

    let mut changed = base.clone();
    changed["description"] = json!("updated");
    changed["ack_wait"] = json!(2_000_000_000u64);
    changed["max_deliver"] = json!(5);
    changed["max_ack_pending"] = json!(2);
    changed["sample_freq"] = json!("50%");
    changed["headers_only"] = json!(true);
    changed["max_batch"] = json!(10);
    changed["max_expires"] = json!(10_000_000_000u64);
    let updated = create_consumer(&client, "UPD", changed).await;
    assert!(updated.get("error").is_none(), "{updated}");
    let config = &updated["config"];
    assert_eq!(config["description"], "updated");
    assert_eq!(config["ack_wait"], 2_000_000_000u64);
    assert_eq!(config["max_deliver"], 5);
    assert_eq!(config["max_ack_pending"], 2);
    assert_eq!(config["sample_freq"], "50%");
    assert_eq!(config["headers_only"], true);
    assert_eq!(config["max_batch"], 10);

    // The new max_ack_pending holds: a pull for 5 gets 2, headers only.
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client.flush().await.unwrap();
    client
        .publish_with_reply(
            "$JS.API.CONSUMER.MSG.NEXT.UPD.w".to_string(),
            inbox,
            Bytes::from(r#"{"batch":5,"expires":500000000}"#),
        )
        .await
        .unwrap();
    let mut data = 0;
    loop {
        let message = recv(&mut replies).await;
        match message.status.map(|s| s.as_u16()) {
            None => {
                assert!(message.payload.is_empty(), "headers_only");
                data += 1;
            }
            Some(_) => break,
        }
    }
    assert_eq!(data, 2, "max_ack_pending 2");

    // A batch over the new max_batch is refused.
    let refused = client
        .request(
            "$JS.API.CONSUMER.MSG.NEXT.UPD.w".to_string(),
            Bytes::from(r#"{"batch":11,"expires":500000000}"#),
        )
        .await
        .unwrap();
    assert_eq!(refused.status.map(|s| s.as_u16()), Some(409), "{refused:?}");

    // What may not change: the error nats-server gives, and the consumer stays as it was.
    let refusals = [
        (
            "deliver_policy",
            json!("last"),
            "deliver policy can not be updated",
        ),
        ("ack_policy", json!("all"), "ack policy can not be updated"),
        (
            "replay_policy",
            json!("original"),
            "replay policy can not be updated",
        ),
        ("opt_start_seq", json!(3), ""),
        (
            "deliver_subject",
            json!("somewhere"),
            "can not update pull consumer to push based",
        ),
        ("max_waiting", json!(7), "max waiting can not be updated"),
    ];
    for (field, value, text) in refusals {
        let mut bad = base.clone();
        bad[field] = value;
        if field == "opt_start_seq" {
            bad["deliver_policy"] = json!("by_start_sequence");
        }
        let answer = create_consumer(&client, "UPD", bad).await;
        let error = &answer["error"];
        assert!(error.is_object(), "{field}: {answer}");
        if !text.is_empty() {
            assert_eq!(error["err_code"], 10012, "{field}: {answer}");
            assert_eq!(error["code"], 500, "{field}: {answer}");
            let description = error["description"].as_str().unwrap();
            // nats-server 2.9 compared max_waiting (512 for pull, 0 for push) before the
            // push/pull switch; 2.10 and tern name the switch.
            let older = field == "deliver_subject"
                && description.contains("max waiting can not be updated");
            assert!(description.contains(text) || older, "{field}: {answer}");
        }
    }
    let info = json_request(&client, "$JS.API.CONSUMER.INFO.UPD.w", Value::Null).await;
    assert_eq!(info["config"]["deliver_policy"], "all", "{info}");
    assert_eq!(info["config"]["ack_policy"], "explicit", "{info}");
    assert_eq!(info["config"]["max_ack_pending"], 2, "{info}");

    // A push consumer's subject may change while nobody listens on it.
    let push = json!({"durable_name": "p", "deliver_subject": "upd.push.one", "ack_policy": "none",
                      "filter_subject": "upd.a"});
    let created = create_consumer(&client, "UPD", push.clone()).await;
    assert!(created.get("error").is_none(), "{created}");
    let mut moved = push.clone();
    moved["deliver_subject"] = json!("upd.push.two");
    let mut deliveries = client.subscribe("upd.push.two").await.unwrap();
    client.flush().await.unwrap();
    let answer = create_consumer(&client, "UPD", moved).await;
    assert!(answer.get("error").is_none(), "{answer}");
    let received = receive_data(&mut deliveries, 6).await;
    assert_eq!(received[0].0.payload.as_ref(), b"a0");
    // ...and to pull it may not.
    let mut pull = push.clone();
    pull.as_object_mut().unwrap().remove("deliver_subject");
    let answer = create_consumer(&client, "UPD", pull).await;
    let description = answer["error"]["description"].as_str().unwrap_or("");
    assert!(
        description.contains("can not update push consumer to pull based")
            || description.contains("max waiting can not be updated"),
        "{answer}"
    );
}

/// `/jsz?consumers=true` of tern and of nats-server after the same conversation: the same
/// `consumer_detail` fields and numbers (times, names of servers and tern's newer fields
/// aside: `ts` and `cluster`, which tern's CONSUMER.INFO has too, as 2.10 servers do).
#[tokio::test]
async fn jsz_consumer_detail_matches_the_reference_side_by_side() {
    if skip_on_reference("compares tern with the reference itself") {
        return;
    }
    /// Consumer config fields tern sends as newer servers do.
    const TERN_CONSUMER_CONFIG_FIELDS: &[&str] = &["metadata", "priority_policy"];
    fn normalize(value: &mut Value) {
        if let Some(consumers) = value.as_array_mut() {
            for consumer in consumers.iter_mut().filter_map(Value::as_object_mut) {
                consumer.remove("ts");
                consumer.remove("cluster");
            }
        }
        normalize_fields(value);
    }
    fn normalize_fields(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for key in ["created", "ts", "last_active", "leader"] {
                    if let Some(field) = map.get_mut(key) {
                        *field = Value::String("<varies>".into());
                    }
                }
                if let Some(Value::Object(config)) = map.get_mut("config") {
                    for key in TERN_CONSUMER_CONFIG_FIELDS {
                        config.remove(*key);
                    }
                }
                map.values_mut().for_each(normalize_fields);
            }
            Value::Array(items) => items.iter_mut().for_each(normalize_fields),
            _ => {}
        }
    }
    async fn details(server: &TestServer, with_config: bool) -> Value {
        let (client, context) =
            setup_stream(server, json!({"name": "MON", "subjects": ["mon"]})).await;
        for i in 0..5 {
            publish_payload(&context, "mon", Bytes::from(format!("m{i}"))).await;
        }
        for config in [
            json!({"durable_name": "puller", "ack_policy": "explicit", "max_ack_pending": 100}),
            json!({"durable_name": "pusher", "ack_policy": "none",
                   "deliver_subject": "mon.nobody"}),
        ] {
            let created = create_consumer(&client, "MON", config).await;
            assert!(created.get("error").is_none(), "{created}");
        }
        // Three delivered, one acked.
        let inbox = client.new_inbox();
        let mut replies = client.subscribe(inbox.clone()).await.unwrap();
        client.flush().await.unwrap();
        client
            .publish_with_reply(
                "$JS.API.CONSUMER.MSG.NEXT.MON.puller".to_string(),
                inbox,
                Bytes::from(r#"{"batch":3,"expires":1000000000}"#),
            )
            .await
            .unwrap();
        let first = recv(&mut replies).await;
        for _ in 0..2 {
            recv(&mut replies).await;
        }
        client
            .request(
                first.reply.unwrap().to_string(),
                Bytes::from_static(b"+ACK"),
            )
            .await
            .unwrap();
        let monitor = server.monitor_addr().expect("monitoring port");
        let path = if with_config {
            "/jsz?consumers=true&config=true"
        } else {
            "/jsz?consumers=true"
        };
        // tern refreshes what monitoring sees every 250 ms.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let jsz = http_json(monitor, path);
            let mut detail =
                jsz["account_details"][0]["stream_detail"][0]["consumer_detail"].clone();
            let settled = detail.as_array().is_some_and(|consumers| {
                consumers.len() == 2
                    && consumers
                        .iter()
                        .any(|c| c["name"] == "puller" && c["ack_floor"]["stream_seq"] == 1)
            });
            if settled || Instant::now() > deadline {
                if let Some(consumers) = detail.as_array_mut() {
                    consumers.sort_by_key(|c| c["name"].as_str().unwrap_or("").to_string());
                }
                normalize(&mut detail);
                return detail;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for with_config in [true, false] {
        let store = tempfile::tempdir().unwrap();
        let dir = store.path().display().to_string();
        let tern = ServerBuilder::new()
            .args(&["-js", "-sd", dir.as_str(), "-m", "-1"])
            .start();
        let reference_store = tempfile::tempdir().unwrap();
        let reference_dir = reference_store.path().display().to_string();
        let reference = ServerBuilder::new()
            .args(&["-js", "-sd", reference_dir.as_str(), "-m", "-1"])
            .start_reference();
        let ours = details(&tern, with_config).await;
        let theirs = details(&reference, with_config).await;
        assert_eq!(
            ours, theirs,
            "config={with_config}\ntern:\n{ours:#}\nnats-server:\n{theirs:#}"
        );
    }
}

/// `sample_freq: "100%"`: every ack of a pending message is published as an ack metric on
/// `$JS.EVENT.METRIC.CONSUMER.ACK.<stream>.<consumer>` with nats-server's fields.
#[tokio::test]
async fn sampled_acks_are_published_as_metrics() {
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (client, context) =
        setup_stream(&server, json!({"name": "SMP", "subjects": ["smp"]})).await;
    for i in 0..2 {
        publish_payload(&context, "smp", Bytes::from(format!("s{i}"))).await;
    }
    let mut metrics = client
        .subscribe("$JS.EVENT.METRIC.CONSUMER.ACK.SMP.>")
        .await
        .unwrap();
    client.flush().await.unwrap();
    for (name, frequency) in [("all", "100%"), ("none", "")] {
        let mut config = json!({"durable_name": name, "ack_policy": "explicit"});
        if !frequency.is_empty() {
            config["sample_freq"] = json!(frequency);
        }
        let created = create_consumer(&client, "SMP", config).await;
        assert!(created.get("error").is_none(), "{created}");
    }
    for name in ["none", "all"] {
        let inbox = client.new_inbox();
        let mut replies = client.subscribe(inbox.clone()).await.unwrap();
        client.flush().await.unwrap();
        client
            .publish_with_reply(
                format!("$JS.API.CONSUMER.MSG.NEXT.SMP.{name}"),
                inbox,
                Bytes::from(r#"{"batch":2,"expires":1000000000}"#),
            )
            .await
            .unwrap();
        for _ in 0..2 {
            let message = recv(&mut replies).await;
            client
                .request(
                    message.reply.unwrap().to_string(),
                    Bytes::from_static(b"+ACK"),
                )
                .await
                .unwrap();
        }
    }
    let mut seen = Vec::new();
    for _ in 0..2 {
        let metric = recv(&mut metrics).await;
        assert_eq!(
            metric.subject.as_str(),
            "$JS.EVENT.METRIC.CONSUMER.ACK.SMP.all"
        );
        let body: Value = serde_json::from_slice(&metric.payload).unwrap();
        assert_eq!(
            body["type"], "io.nats.jetstream.metric.v1.consumer_ack",
            "{body}"
        );
        assert_eq!(body["stream"], "SMP");
        assert_eq!(body["consumer"], "all");
        assert_eq!(body["deliveries"], 1);
        assert!(body["ack_time"].as_i64().unwrap() > 0, "{body}");
        assert!(body["id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(body["timestamp"].is_string());
        let mut fields: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "ack_time",
                "consumer",
                "consumer_seq",
                "deliveries",
                "id",
                "stream",
                "stream_seq",
                "timestamp",
                "type"
            ]
        );
        seen.push((body["stream_seq"].as_u64(), body["consumer_seq"].as_u64()));
    }
    assert_eq!(seen, [(Some(1), Some(1)), (Some(2), Some(2))]);
    // The consumer without sampling published nothing.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), metrics.next())
            .await
            .is_err()
    );
}

/// `CONSUMER.PAUSE` (nats-server 2.11; 2.9.10 has no such API, so tern only): a paused
/// consumer delivers nothing until `pause_until` or until resumed, INFO says so, and an
/// advisory goes out each time.
#[tokio::test]
async fn paused_consumers_deliver_nothing_until_resumed() {
    if skip_on_reference("nats-server 2.9 has no CONSUMER.PAUSE") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let server = js_server_in(store.path());
    let (client, context) =
        setup_stream(&server, json!({"name": "PAU", "subjects": ["pau"]})).await;
    for i in 0..3 {
        publish_payload(&context, "pau", Bytes::from(format!("p{i}"))).await;
    }
    let created = create_consumer(
        &client,
        "PAU",
        json!({"durable_name": "w", "ack_policy": "explicit"}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    let mut advisories = client
        .subscribe("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.PAU.w")
        .await
        .unwrap();
    client.flush().await.unwrap();

    // Paused for an hour.
    let until = "2099-01-01T00:00:00Z";
    let answer = json_request(
        &client,
        "$JS.API.CONSUMER.PAUSE.PAU.w",
        json!({ "pause_until": until }),
    )
    .await;
    assert_eq!(
        answer["type"],
        "io.nats.jetstream.api.v1.consumer_pause_response"
    );
    assert_eq!(answer["paused"], true, "{answer}");
    assert_eq!(answer["pause_until"], until, "{answer}");
    assert!(answer["pause_remaining"].as_i64().unwrap() > 0, "{answer}");
    let advisory: Value = serde_json::from_slice(&recv(&mut advisories).await.payload).unwrap();
    assert_eq!(
        advisory["type"],
        "io.nats.jetstream.advisory.v1.consumer_pause"
    );
    assert_eq!(advisory["paused"], true);
    let info = json_request(&client, "$JS.API.CONSUMER.INFO.PAU.w", Value::Null).await;
    assert_eq!(info["paused"], true, "{info}");
    assert_eq!(info["config"]["pause_until"], until, "{info}");

    // A pull while paused waits out its expiry with nothing.
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client.flush().await.unwrap();
    client
        .publish_with_reply(
            "$JS.API.CONSUMER.MSG.NEXT.PAU.w".to_string(),
            inbox.clone(),
            Bytes::from(r#"{"batch":3,"expires":400000000}"#),
        )
        .await
        .unwrap();
    let status = recv(&mut replies).await;
    assert_eq!(status.status.map(|s| s.as_u16()), Some(408), "{status:?}");

    // Resumed (no pause_until): the same pull gets the messages.
    let answer = json_request(&client, "$JS.API.CONSUMER.PAUSE.PAU.w", Value::Null).await;
    assert_eq!(answer["paused"], false, "{answer}");
    assert!(answer.get("pause_remaining").is_none(), "{answer}");
    let advisory: Value = serde_json::from_slice(&recv(&mut advisories).await.payload).unwrap();
    assert_eq!(advisory["paused"], false);
    client
        .publish_with_reply(
            "$JS.API.CONSUMER.MSG.NEXT.PAU.w".to_string(),
            inbox,
            Bytes::from(r#"{"batch":3,"expires":1000000000}"#),
        )
        .await
        .unwrap();
    for i in 0..3 {
        let message = recv(&mut replies).await;
        assert_eq!(message.payload, format!("p{i}"));
    }

    // A pause that ends by itself: deliveries resume at pause_until.
    let soon = std::time::SystemTime::now() + Duration::from_millis(600);
    let soon_ns = soon
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let soon = tern::jetstream::api::GoTime::from_unix_nanos(soon_ns);
    let answer = json_request(
        &client,
        "$JS.API.CONSUMER.PAUSE.PAU.w",
        json!({ "pause_until": soon }),
    )
    .await;
    assert_eq!(answer["paused"], true, "{answer}");
    publish_payload(&context, "pau", Bytes::from_static(b"late")).await;
    let asked = Instant::now();
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client.flush().await.unwrap();
    client
        .publish_with_reply(
            "$JS.API.CONSUMER.MSG.NEXT.PAU.w".to_string(),
            inbox,
            Bytes::from(r#"{"batch":1,"expires":3000000000}"#),
        )
        .await
        .unwrap();
    let message = recv(&mut replies).await;
    assert_eq!(message.payload.as_ref(), b"late");
    assert!(
        asked.elapsed() >= Duration::from_millis(300),
        "{:?}",
        asked.elapsed()
    );

    // Unknown consumer: nats-server's not-found error in a pause response.
    let missing = json_request(&client, "$JS.API.CONSUMER.PAUSE.PAU.nobody", Value::Null).await;
    assert_eq!(missing["error"]["err_code"], 10014, "{missing}");
    assert_eq!(
        missing["type"],
        "io.nats.jetstream.api.v1.consumer_pause_response"
    );
}
