//! Server-side subscribers (the base of JetStream's API): an internal service installed on
//! every core answers requests from clients on any core, exactly once per request when the
//! service instances share a queue group.

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use tern::config::Options;
use tern::server::control::Control;
use tern::server::internal::InternalClient;
use tern::server::shard::ShardState;
use tern::server::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_queue_service_answers_clients_on_every_core() {
    let options = Options {
        host: "127.0.0.1".to_string(),
        port: 0,
        ..Options::default()
    };
    let server = Server::bind(options, Control::default()).expect("bind");
    let url = format!("nats://{}", server.client_addr());
    let shared = server.shared().clone();
    let cores = shared.cores.len();
    let runner = std::thread::spawn(move || {
        server
            .run_with(|state: &Rc<ShardState>| {
                let service = InternalClient::new(state, 0);
                let replier = service.clone();
                let core = state.id;
                service
                    .subscribe("svc.internal.echo", Some("echo-workers"), move |request| {
                        let Some(reply) = request.reply else { return };
                        let mut answer = format!("core{core}:").into_bytes();
                        answer.extend_from_slice(&request.body);
                        replier.publish(reply, None, None, Bytes::from(answer));
                    })
                    .expect("valid subject");
            })
            .expect("server runs")
    });

    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(async_nats::connect(&url).await.expect("connect"));
    }
    let mut answered_by = std::collections::HashSet::new();
    for round in 0..50 {
        for (i, client) in clients.iter().enumerate() {
            let payload = format!("r{round}c{i}");
            let reply = tokio::time::timeout(
                Duration::from_secs(5),
                client.request("svc.internal.echo", Bytes::from(payload.clone())),
            )
            .await
            .expect("request timed out")
            .expect("request answered");
            let text = String::from_utf8(reply.payload.to_vec()).unwrap();
            let (core, body) = text.split_once(':').expect("core prefix");
            assert_eq!(body, payload);
            answered_by.insert(core.to_string());
        }
    }
    // Every request got exactly one answer (a second one would make the inbox see a stray
    // message, which async-nats drops; so check the queue group's exactly-once directly).
    let mut inbox = clients[0].subscribe("direct.inbox").await.unwrap();
    // async-nats's subscribe() returns before the SUB is on the wire: wait until a probe
    // published from another connection comes back, so the inbox surely exists.
    loop {
        clients[1]
            .publish("direct.inbox", Bytes::from_static(b"probe"))
            .await
            .unwrap();
        clients[1].flush().await.unwrap();
        match tokio::time::timeout(
            Duration::from_millis(100),
            futures::StreamExt::next(&mut inbox),
        )
        .await
        {
            Ok(Some(message)) if &message.payload[..] == b"probe" => break,
            _ => continue,
        }
    }
    for n in 0..20 {
        clients[1]
            .publish_with_reply(
                "svc.internal.echo",
                "direct.inbox",
                Bytes::from(format!("{n}")),
            )
            .await
            .unwrap();
    }
    clients[1].flush().await.unwrap();
    let mut answers = 0;
    while let Ok(Some(message)) = tokio::time::timeout(
        Duration::from_millis(500),
        futures::StreamExt::next(&mut inbox),
    )
    .await
    {
        if &message.payload[..] != b"probe" {
            answers += 1;
        }
    }
    assert_eq!(
        answers, 20,
        "each request answered by exactly one queue member"
    );
    if cores > 1 {
        assert!(
            answered_by.len() > 1,
            "members on every core take turns: {answered_by:?}"
        );
    }

    shared.control.request_shutdown();
    tokio::task::spawn_blocking(move || runner.join().expect("server thread"))
        .await
        .unwrap();
}
