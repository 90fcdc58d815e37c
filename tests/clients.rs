//! The server through the official async-nats client: routing, fan-out, queue groups,
//! request/reply, headers, limits, slow consumers, and traffic between cores.
//!
//! Against tern the server runs with `--cores 2`; the tests with many connections check
//! through `/varz` `tern_cores` that both cores hold some of them, so messages really
//! cross the mesh. Against the reference server (`TERN_TEST_SERVER`) those checks are
//! skipped.
//!
//! async-nats's `flush` only flushes the client's socket; it does not wait for a PONG, so
//! it does not prove the server has registered a subscription. Tests that subscribe with
//! async-nats therefore wait with [`await_interest`]; the test of the PONG guarantee itself
//! subscribes over raw TCP.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_nats::{Client, HeaderMap, Subscriber};
use bytes::Bytes;
use common::{client, core_connections, flush, recv, RawClient, TestServer};
use futures::future::join_all;

/// Opens async-nats connections and knows which core each landed on, so a test can make
/// sure its connections span more than one core (connections are spread by the kernel's
/// `SO_REUSEPORT` hash, so a handful of them can all land on one core by chance).
struct CoreTracker {
    monitor: Option<SocketAddr>,
    counts: Option<Vec<u64>>,
    /// Connections opened while looking for another core; kept open so counts stay put.
    spare: Vec<Client>,
}

impl CoreTracker {
    fn new(server: &TestServer) -> CoreTracker {
        let monitor = server.monitor_addr();
        let counts = monitor.and_then(core_connections);
        if counts.is_none() {
            eprintln!(
                "note: no /varz tern_cores (reference server or no -m): core spread not checked"
            );
        }
        CoreTracker {
            monitor,
            counts,
            spare: Vec::new(),
        }
    }

    fn tracking(&self) -> bool {
        self.counts.is_some()
    }

    /// Connects a client and returns the core it landed on (None if not tracking).
    async fn connect(&mut self, server: &TestServer) -> (Client, Option<usize>) {
        let client = client(server).await;
        let core = self.core_of_new_connection();
        (client, core)
    }

    /// As [`CoreTracker::connect`], for a raw-protocol client.
    fn connect_raw(&mut self, server: &TestServer) -> (RawClient, Option<usize>) {
        let client = RawClient::connected(server.addr());
        let core = self.core_of_new_connection();
        (client, core)
    }

    /// The core whose connection count went up by the one connection just made.
    fn core_of_new_connection(&mut self) -> Option<usize> {
        let (Some(monitor), Some(before)) = (self.monitor, self.counts.clone()) else {
            return None;
        };
        let expected: u64 = before.iter().sum::<u64>() + 1;
        let after = common::poll_until(Duration::from_secs(5), || {
            core_connections(monitor).filter(|counts| counts.iter().sum::<u64>() == expected)
        })
        .unwrap_or_else(|| {
            panic!("/varz tern_cores connections never reached {expected} (had {before:?})")
        });
        let core = (0..after.len())
            .find(|&i| after[i] > before[i])
            .expect("a core gained the connection");
        self.counts = Some(after);
        Some(core)
    }

    /// Connects a client on a core other than `avoid` (any core when not tracking).
    /// Panics if 32 attempts all land on `avoid`: the server is not using its other cores.
    async fn connect_avoiding(
        &mut self,
        server: &TestServer,
        avoid: Option<usize>,
    ) -> (Client, Option<usize>) {
        for _ in 0..32 {
            let (client, core) = self.connect(server).await;
            if avoid.is_none() || core != avoid {
                return (client, core);
            }
            self.spare.push(client);
        }
        panic!("32 connections all landed on core {avoid:?}: connections are not spread over cores")
    }

    /// Asserts that `cores` (of the test's connections) include more than one core.
    fn assert_spread(&self, cores: &[Option<usize>]) {
        if !self.tracking() {
            return;
        }
        eprintln!(
            "cores of the test's connections: {cores:?}; per-core connections {:?}",
            self.counts
        );
        let mut distinct: Vec<usize> = cores.iter().flatten().copied().collect();
        distinct.sort();
        distinct.dedup();
        assert!(
            distinct.len() > 1,
            "connections all on one core: {cores:?} (counts {:?})",
            self.counts
        );
    }
}

/// Returns once each of `publishers` can reach the subscriptions `subscriber` made so far.
///
/// A server applies one connection's SUBs in order, so when a probe subject subscribed
/// after them is reachable from a publisher, so are they. Probes are resent every 50 ms
/// until one arrives (the subscription registers asynchronously from async-nats's view).
async fn await_interest(subscriber: &Client, publishers: &[&Client]) {
    let probe_subject = format!(
        "_PROBE.{}",
        subscriber.new_inbox().trim_start_matches("_INBOX.")
    );
    let mut probes = subscriber.subscribe(probe_subject.clone()).await.unwrap();
    flush(subscriber).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    for publisher in publishers {
        loop {
            assert!(
                Instant::now() < deadline,
                "subscription on {probe_subject} never became visible"
            );
            publisher
                .publish(probe_subject.clone(), Bytes::new())
                .await
                .unwrap();
            flush(publisher).await;
            if let Ok(Some(_)) = tokio::time::timeout(
                Duration::from_millis(50),
                futures::StreamExt::next(&mut probes),
            )
            .await
            {
                break;
            }
        }
    }
    probes.unsubscribe().await.unwrap();
}

fn seq_payload(seq: u64) -> Bytes {
    Bytes::from(seq.to_string())
}

fn parse_seq(message: &async_nats::Message) -> u64 {
    std::str::from_utf8(&message.payload)
        .unwrap()
        .parse()
        .unwrap()
}

/// Receives `count` messages and checks their payloads are 0..count in order.
async fn expect_sequence(mut subscriber: Subscriber, count: u64) -> Subscriber {
    for expected in 0..count {
        let message = recv(&mut subscriber).await;
        assert_eq!(
            parse_seq(&message),
            expected,
            "out of order or lost message"
        );
    }
    subscriber
}

/// No further message arrives within `quiet`.
async fn expect_no_message(subscriber: &mut Subscriber, quiet: Duration) {
    use futures::StreamExt;
    if let Ok(Some(message)) = tokio::time::timeout(quiet, subscriber.next()).await {
        panic!(
            "unexpected extra message on {}: {:?}",
            message.subject, message.payload
        );
    }
}

#[tokio::test]
async fn pub_sub_with_wildcards() {
    let server = TestServer::start(&[]);
    let subscriber_client = client(&server).await;
    let publisher = client(&server).await;
    let mut one_token = subscriber_client.subscribe("orders.*").await.unwrap();
    let mut tail = subscriber_client.subscribe("orders.>").await.unwrap();
    let mut middle = subscriber_client
        .subscribe("orders.*.shipped")
        .await
        .unwrap();
    await_interest(&subscriber_client, &[&publisher]).await;

    for subject in ["orders.new", "orders.eu.shipped", "orders", "other.new"] {
        publisher
            .publish(subject, Bytes::from(subject))
            .await
            .unwrap();
    }
    flush(&publisher).await;

    assert_eq!(recv(&mut one_token).await.subject.as_str(), "orders.new");
    assert_eq!(recv(&mut tail).await.subject.as_str(), "orders.new");
    assert_eq!(recv(&mut tail).await.subject.as_str(), "orders.eu.shipped");
    assert_eq!(
        recv(&mut middle).await.subject.as_str(),
        "orders.eu.shipped"
    );
    // Sentinel: everything published before it has been routed by the time it arrives.
    publisher.publish("orders.end", Bytes::new()).await.unwrap();
    assert_eq!(recv(&mut one_token).await.subject.as_str(), "orders.end");
    assert_eq!(recv(&mut tail).await.subject.as_str(), "orders.end");
    expect_no_message(&mut middle, Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_delivers_every_message_to_every_subscriber_in_order() {
    const MESSAGES: u64 = 10_000;
    let server = TestServer::start(&["-m", "-1"]);
    let mut tracker = CoreTracker::new(&server);
    let (publisher, publisher_core) = tracker.connect(&server).await;
    let mut cores = vec![publisher_core];
    let mut subscribers = Vec::new();
    let mut clients = Vec::new();
    for i in 0..4 {
        // The last subscriber is placed on another core than the publisher if no earlier
        // one is, so the fan-out crosses cores.
        let crossed = cores[1..].iter().any(|c| *c != publisher_core);
        let (subscriber_client, core) = if i == 3 && !crossed {
            tracker.connect_avoiding(&server, publisher_core).await
        } else {
            tracker.connect(&server).await
        };
        cores.push(core);
        let subscriber = subscriber_client.subscribe("fan.out").await.unwrap();
        await_interest(&subscriber_client, &[&publisher]).await;
        subscribers.push(subscriber);
        clients.push(subscriber_client);
    }
    tracker.assert_spread(&cores);

    let receivers: Vec<_> = subscribers
        .into_iter()
        .map(|s| tokio::spawn(expect_sequence(s, MESSAGES)))
        .collect();
    for seq in 0..MESSAGES {
        publisher
            .publish("fan.out", seq_payload(seq))
            .await
            .unwrap();
    }
    flush(&publisher).await;
    for receiver in join_all(receivers).await {
        receiver.expect("subscriber task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_group_delivers_each_message_once_with_a_fair_share() {
    const MESSAGES: u64 = 4000;
    let server = TestServer::start(&["-m", "-1"]);
    let mut tracker = CoreTracker::new(&server);
    let (publisher, publisher_core) = tracker.connect(&server).await;
    let mut members = Vec::new();
    let mut clients = Vec::new();
    let mut cores = vec![publisher_core];
    for i in 0..4 {
        let (member_client, core) = if i == 3 && cores[1..].iter().all(|c| *c == publisher_core) {
            tracker.connect_avoiding(&server, publisher_core).await
        } else {
            tracker.connect(&server).await
        };
        cores.push(core);
        members.push(
            member_client
                .queue_subscribe("work", "workers".to_string())
                .await
                .unwrap(),
        );
        await_interest(&member_client, &[&publisher]).await;
        clients.push(member_client);
    }
    tracker.assert_spread(&cores);

    for seq in 0..MESSAGES {
        publisher.publish("work", seq_payload(seq)).await.unwrap();
    }
    flush(&publisher).await;

    // Collect from all members until every message has arrived somewhere.
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let tasks: Vec<_> = members
        .into_iter()
        .enumerate()
        .map(|(member, mut subscriber)| {
            let sender = sender.clone();
            tokio::spawn(async move {
                use futures::StreamExt;
                while let Some(message) = subscriber.next().await {
                    if sender.send((member, parse_seq(&message))).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    let mut seen = vec![0u32; MESSAGES as usize];
    let mut per_member = [0u64; 4];
    let deadline = Instant::now() + Duration::from_secs(20);
    for _ in 0..MESSAGES {
        let (member, seq) = tokio::time::timeout_at(deadline.into(), receiver.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("queue group lost messages: got {per_member:?} of {MESSAGES}")
            })
            .expect("member tasks alive");
        seen[seq as usize] += 1;
        per_member[member] += 1;
    }
    // Nothing more may come: each message went to exactly one member.
    if let Ok(Some(extra)) = tokio::time::timeout(Duration::from_millis(200), receiver.recv()).await
    {
        panic!("message {extra:?} delivered twice in the queue group");
    }
    for task in tasks {
        task.abort();
    }
    assert!(
        seen.iter().all(|&n| n == 1),
        "some message not delivered exactly once"
    );
    for (member, &count) in per_member.iter().enumerate() {
        assert!(
            count > MESSAGES / 10,
            "member {member} got {count} of {MESSAGES}: {per_member:?}"
        );
    }
}

#[tokio::test]
async fn queue_group_and_plain_subscribers_both_get_messages() {
    const MESSAGES: u64 = 100;
    let server = TestServer::start(&[]);
    let subscribers = client(&server).await;
    let mut plain_a = subscribers.subscribe("mixed").await.unwrap();
    let mut plain_b = subscribers.subscribe("mixed").await.unwrap();
    let mut queue_a = subscribers
        .queue_subscribe("mixed", "q".to_string())
        .await
        .unwrap();
    let other = client(&server).await;
    let mut queue_b = other
        .queue_subscribe("mixed", "q".to_string())
        .await
        .unwrap();
    let publisher = client(&server).await;
    await_interest(&subscribers, &[&publisher]).await;
    await_interest(&other, &[&publisher]).await;

    for seq in 0..MESSAGES {
        publisher.publish("mixed", seq_payload(seq)).await.unwrap();
    }
    flush(&publisher).await;
    plain_a = expect_sequence(plain_a, MESSAGES).await;
    plain_b = expect_sequence(plain_b, MESSAGES).await;
    let mut queued = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while (queued.len() as u64) < MESSAGES {
        assert!(
            Instant::now() < deadline,
            "queue group got only {} of {MESSAGES}",
            queued.len()
        );
        tokio::select! {
            Some(m) = futures::StreamExt::next(&mut queue_a) => queued.push(parse_seq(&m)),
            Some(m) = futures::StreamExt::next(&mut queue_b) => queued.push(parse_seq(&m)),
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
    queued.sort();
    assert_eq!(queued, (0..MESSAGES).collect::<Vec<_>>());
    expect_no_message(&mut queue_a, Duration::from_millis(100)).await;
    expect_no_message(&mut queue_b, Duration::from_millis(10)).await;
    expect_no_message(&mut plain_a, Duration::from_millis(10)).await;
    expect_no_message(&mut plain_b, Duration::from_millis(10)).await;
}

/// Answers every request on `subject` with `re:<payload>` until the connection closes.
async fn spawn_responder(
    responder: Client,
    subject: &str,
    requester: &Client,
) -> tokio::task::JoinHandle<()> {
    let mut requests = responder.subscribe(subject.to_string()).await.unwrap();
    await_interest(&responder, &[requester]).await;
    tokio::spawn(async move {
        use futures::StreamExt;
        while let Some(request) = requests.next().await {
            let reply = request.reply.expect("request has a reply subject");
            let mut answer = b"re:".to_vec();
            answer.extend_from_slice(&request.payload);
            responder.publish(reply, answer.into()).await.unwrap();
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_sequential_and_concurrent() {
    let server = TestServer::start(&["-m", "-1"]);
    let mut tracker = CoreTracker::new(&server);
    let (responder, responder_core) = tracker.connect(&server).await;
    let (requester, requester_core) = tracker.connect_avoiding(&server, responder_core).await;
    tracker.assert_spread(&[responder_core, requester_core]);
    let responder_task = spawn_responder(responder, "svc.echo", &requester).await;

    for i in 0..200 {
        let payload = Bytes::from(format!("seq-{i}"));
        let reply = tokio::time::timeout(
            Duration::from_secs(10),
            requester.request("svc.echo", payload),
        )
        .await
        .expect("request timed out")
        .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(reply.payload, format!("re:seq-{i}").as_bytes());
    }

    let requests = (0..200).map(|i| {
        let requester = requester.clone();
        async move {
            let reply = requester
                .request("svc.echo", Bytes::from(format!("par-{i}")))
                .await;
            (i, reply)
        }
    });
    let replies = tokio::time::timeout(Duration::from_secs(20), join_all(requests))
        .await
        .expect("concurrent requests timed out");
    for (i, reply) in replies {
        let reply = reply.unwrap_or_else(|e| panic!("concurrent request {i}: {e}"));
        assert_eq!(reply.payload, format!("re:par-{i}").as_bytes());
    }
    responder_task.abort();
}

#[tokio::test]
async fn request_without_responders_fails_fast_with_no_responders() {
    let server = TestServer::start(&[]);
    let requester = client(&server).await;
    let started = Instant::now();
    let error = tokio::time::timeout(
        Duration::from_secs(5),
        requester.request("nobody.listens", Bytes::from("x")),
    )
    .await
    .expect("no-responders must be immediate, not a timeout")
    .expect_err("request to nobody must fail");
    assert_eq!(
        error.kind(),
        async_nats::RequestErrorKind::NoResponders,
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn headers_round_trip_with_multiple_values_and_case() {
    let server = TestServer::start(&[]);
    let subscriber_client = client(&server).await;
    let publisher = client(&server).await;
    let mut subscriber = subscriber_client.subscribe("with.headers").await.unwrap();
    await_interest(&subscriber_client, &[&publisher]).await;
    // A raw subscriber sees the exact header bytes.
    let mut raw = RawClient::connected(server.addr());
    raw.send("SUB with.headers 1\r\n");
    raw.sync();

    let mut headers = HeaderMap::new();
    headers.insert("X-Mixed-Case", "first");
    headers.append("X-Mixed-Case", "second");
    headers.insert("lower-case", "v a l u e");
    publisher
        .publish_with_headers("with.headers", headers, Bytes::from("body"))
        .await
        .unwrap();
    flush(&publisher).await;

    let message = recv(&mut subscriber).await;
    assert_eq!(message.payload, "body");
    let received = message.headers.expect("headers");
    let values: Vec<&str> = received
        .get_all("X-Mixed-Case")
        .map(|v| v.as_str())
        .collect();
    assert_eq!(values, ["first", "second"]);
    assert_eq!(
        received.get("lower-case").map(|v| v.as_str()),
        Some("v a l u e")
    );

    let delivered = match raw.read_frame() {
        common::Frame::Msg(msg) => msg,
        other => panic!("expected HMSG, got {other:?}"),
    };
    let block = String::from_utf8(delivered.headers.clone().expect("HMSG")).unwrap();
    assert!(
        block.starts_with("NATS/1.0\r\n") && block.ends_with("\r\n\r\n"),
        "{block:?}"
    );
    assert!(
        block.contains("X-Mixed-Case: first\r\n") && block.contains("X-Mixed-Case: second\r\n"),
        "{block:?}"
    );
    assert!(block.contains("lower-case: v a l u e\r\n"), "{block:?}");
    assert_eq!(delivered.payload, b"body");
}

#[tokio::test]
async fn unsubscribe_after_delivers_exactly_n_then_ends() {
    let server = TestServer::start(&[]);
    let subscriber_client = client(&server).await;
    let publisher = client(&server).await;
    let mut subscriber = subscriber_client.subscribe("limited").await.unwrap();
    subscriber.unsubscribe_after(3).await.unwrap();
    await_interest(&subscriber_client, &[&publisher]).await;
    for seq in 0..10 {
        publisher
            .publish("limited", seq_payload(seq))
            .await
            .unwrap();
    }
    flush(&publisher).await;
    for expected in 0..3 {
        assert_eq!(parse_seq(&recv(&mut subscriber).await), expected);
    }
    use futures::StreamExt;
    let end = tokio::time::timeout(Duration::from_secs(5), subscriber.next())
        .await
        .expect("stream did not end");
    assert!(end.is_none(), "got a message after the limit: {end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_is_visible_on_all_cores_once_pong_is_received() {
    const PUBLISHERS: usize = 8;
    const PER_PUBLISHER: u64 = 1000;
    let server = TestServer::start(&["-m", "-1"]);
    let mut tracker = CoreTracker::new(&server);
    // Raw TCP, so that "flush" is a real PING/PONG (async-nats's flush is not).
    let (mut subscriber, subscriber_core) = tracker.connect_raw(&server);
    let mut publishers = Vec::new();
    let mut cores = vec![subscriber_core];
    for i in 0..PUBLISHERS {
        let crossed = cores[1..].iter().any(|c| *c != subscriber_core);
        let (publisher, core) = if i == PUBLISHERS - 1 && !crossed {
            tracker.connect_avoiding(&server, subscriber_core).await
        } else {
            tracker.connect(&server).await
        };
        cores.push(core);
        publishers.push(publisher);
    }
    tracker.assert_spread(&cores);

    // The publishers are connected first; once the PONG arrives, the interest must be known
    // on every core, so the very first publish from any core is delivered.
    subscriber.send("SUB visible.* 1\r\n");
    assert_eq!(subscriber.sync(), []);
    let sends = publishers
        .iter()
        .enumerate()
        .map(|(p, publisher)| async move {
            for seq in 0..PER_PUBLISHER {
                publisher
                    .publish(format!("visible.{p}"), seq_payload(seq))
                    .await
                    .unwrap();
            }
            flush(publisher).await;
        });
    join_all(sends).await;

    let received = tokio::task::spawn_blocking(move || {
        let mut next_seq: HashMap<String, u64> = HashMap::new();
        for _ in 0..PUBLISHERS as u64 * PER_PUBLISHER {
            let message = match subscriber.read_frame() {
                common::Frame::Msg(msg) => msg,
                other => panic!("expected MSG, got {other:?} after {next_seq:?}"),
            };
            let seq: u64 = std::str::from_utf8(&message.payload)
                .unwrap()
                .parse()
                .unwrap();
            let expected = next_seq.entry(message.subject.clone()).or_insert(0);
            assert_eq!(
                seq, *expected,
                "from {}: lost or reordered",
                message.subject
            );
            *expected += 1;
        }
        next_seq
    })
    .await
    .expect("raw subscriber");
    assert_eq!(received.len(), PUBLISHERS);
}

#[tokio::test]
async fn large_payload_near_max_is_delivered_and_oversize_is_rejected() {
    let server = TestServer::start(&[]);
    let subscriber_client = client(&server).await;
    let publisher = client(&server).await;
    let mut subscriber = subscriber_client.subscribe("big").await.unwrap();
    await_interest(&subscriber_client, &[&publisher]).await;
    assert_eq!(publisher.server_info().max_payload, 1048576);

    let payload: Vec<u8> = (0..1048576 - 512).map(|i| (i % 251) as u8).collect();
    publisher
        .publish("big", Bytes::from(payload.clone()))
        .await
        .unwrap();
    flush(&publisher).await;
    let message = recv(&mut subscriber).await;
    assert_eq!(message.payload.len(), payload.len());
    assert!(message.payload == payload, "large payload corrupted");

    let oversize = Bytes::from(vec![b'x'; 1048577]);
    let result = publisher.publish("big", oversize).await;
    match result {
        Err(error) => assert_eq!(
            error.kind(),
            async_nats::client::PublishErrorKind::MaxPayloadExceeded,
            "{error}"
        ),
        Ok(()) => {
            // Not refused by the client: the server must not deliver it.
            let _ = publisher.flush().await;
            expect_no_message(&mut subscriber, Duration::from_millis(300)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_cut_off_without_hurting_others() {
    const MESSAGE_BYTES: usize = 64 * 1024;
    const BATCH: u64 = 8;
    const BATCHES: u64 = 200; // 200 * 8 * 64 KiB = 100 MiB
                              // A short write deadline too: nats-server marks the stalled client at max_pending but
                              // closes it only once its blocked socket write gives up (10 s by default).
    let server = TestServer::start_with_config("max_pending: 1MB\nwrite_deadline: \"2s\"\n", &[]);

    // Subscribes and then never reads.
    let mut stalled = RawClient::connected(server.addr());
    stalled.send("SUB flood 1\r\n");
    stalled.sync();

    let subscriber_client = client(&server).await;
    let publisher = client(&server).await;
    let mut subscriber = subscriber_client.subscribe("flood").await.unwrap();
    await_interest(&subscriber_client, &[&publisher]).await;

    let filler = vec![b'.'; MESSAGE_BYTES - 16];
    let started = Instant::now();
    for batch in 0..BATCHES {
        for i in 0..BATCH {
            let seq = batch * BATCH + i;
            let mut payload = format!("{seq:016}").into_bytes();
            payload.extend_from_slice(&filler);
            publisher.publish("flood", payload.into()).await.unwrap();
        }
        // Lock-step with the well-behaved subscriber: it never has more than one batch
        // (512 KiB) pending, well under max_pending.
        for i in 0..BATCH {
            let message = recv(&mut subscriber).await;
            let seq: u64 = std::str::from_utf8(&message.payload[..16])
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(
                seq,
                batch * BATCH + i,
                "well-behaved subscriber lost or reordered messages"
            );
            assert_eq!(message.payload.len(), MESSAGE_BYTES);
        }
    }
    eprintln!(
        "flooded {} MiB in {:?}",
        (BATCHES * BATCH * MESSAGE_BYTES as u64) >> 20,
        started.elapsed()
    );

    // The stalled subscriber was disconnected: reading now drains what the kernel buffered
    // and then hits EOF.
    stalled.expect_closed_within(Duration::from_secs(20));

    // The stream continues for the others, and the server answers new clients.
    publisher
        .publish("flood", Bytes::from_static(b"after"))
        .await
        .unwrap();
    assert_eq!(recv(&mut subscriber).await.payload, "after");
    let mut fresh = RawClient::connected(server.addr());
    fresh.send("PING\r\n");
    fresh.expect("PONG\r\n");
}
