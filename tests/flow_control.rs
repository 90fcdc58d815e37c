//! Fast producers are slowed to their consumers' pace instead of cutting the consumers off:
//! nats-server's "stall", which tern applies on one core and across cores (a stalled core
//! stops draining the ring from the publishing core, whose outbox then stops reading the
//! publisher). A consumer that keeps reading, slower than the producer, is not cut off.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{core_connections, poll_until, RawClient, TestServer};

const MESSAGES: usize = 40_000;
const PAYLOAD_BYTES: usize = 1024;
/// Far below what the flood puts in flight (40 MB), so without the stall the subscriber
/// would be cut off within the first few milliseconds; but above what loopback socket
/// buffers hold (several MB), which no 2-5 ms stall can drain.
const CONFIG: &str = "max_pending: 8MB\nmax_payload: 64KB\nwrite_deadline: \"10s\"\n";

/// Opens a publisher connection; with `other_core_than` it retries until the connection
/// landed on a different core than the subscriber (tern only).
fn connect_publisher(server: &TestServer, avoid: Option<(usize, SocketAddr)>) -> TcpStream {
    let mut spare = Vec::new();
    for _ in 0..32 {
        let before = avoid.and_then(|(_, m)| core_connections(m));
        let mut stream = TcpStream::connect(server.addr()).expect("connect");
        stream
            .write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n")
            .unwrap();
        let Some(((sub_core, monitor), before)) = avoid.zip(before) else {
            return stream;
        };
        let expected = before.iter().sum::<u64>() + 1;
        let after = poll_until(Duration::from_secs(5), || {
            core_connections(monitor).filter(|c| c.iter().sum::<u64>() == expected)
        })
        .expect("/varz shows the new connection");
        let core = (0..after.len())
            .find(|&i| after[i] > before[i])
            .expect("a core gained it");
        if core != sub_core {
            return stream;
        }
        spare.push(stream);
    }
    panic!("32 connections all landed on the subscriber's core");
}

fn flood_reaches_slow_reader(cores: &str, cross_core: bool) {
    let server = if common::is_reference() {
        TestServer::start_with_config(CONFIG, &["-m", "-1"])
    } else {
        TestServer::start_with_config(CONFIG, &["--cores", cores, "-m", "-1"])
    };
    let monitor = server.monitor_addr();
    let before = monitor.and_then(core_connections);
    let mut subscriber = RawClient::connected(server.addr());
    subscriber.send("SUB flood 1\r\n");
    subscriber.sync();
    let sub_core = match (monitor, before) {
        (Some(m), Some(before)) if cross_core => {
            let after = core_connections(m).unwrap();
            (0..after.len())
                .find(|&i| after[i] > before[i])
                .map(|core| (core, m))
        }
        _ => None,
    };
    let mut publisher = connect_publisher(&server, sub_core);

    let writer = std::thread::spawn(move || {
        let payload = vec![b'x'; PAYLOAD_BYTES];
        let mut batch = Vec::with_capacity(64 * (PAYLOAD_BYTES + 32));
        for n in 0..MESSAGES {
            batch.extend_from_slice(format!("PUB flood {PAYLOAD_BYTES}\r\n").as_bytes());
            batch.extend_from_slice(&payload);
            batch.extend_from_slice(b"\r\n");
            if n % 64 == 63 {
                publisher.write_all(&batch).expect("publisher kept");
                batch.clear();
            }
        }
        publisher.write_all(&batch).expect("publisher kept");
        publisher.write_all(b"PING\r\n").unwrap();
        let mut pong = [0u8; 64];
        let _ = publisher.read(&mut pong);
        publisher
    });

    // Read slower than the publisher writes (~64 MB/s against several hundred). The stall is
    // nats-server 2.10's (2-5 ms per stalled consumer, 10 ms per read batch), so a consumer
    // that stops reading altogether is still cut off (see clients.rs), but one that keeps
    // reading keeps up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut received = 0;
    while received < MESSAGES {
        assert!(
            Instant::now() < deadline,
            "only {received} of {MESSAGES} arrived"
        );
        match subscriber.read_frame() {
            common::Frame::Msg(msg) => {
                assert_eq!(msg.payload.len(), PAYLOAD_BYTES);
                received += 1;
                if received % 64 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            common::Frame::Ping => subscriber.send("PONG\r\n"),
            other => panic!("unexpected frame after {received} messages: {other:?}"),
        }
    }
    let _publisher = writer.join().expect("publisher thread");
    // Still connected and served.
    assert!(subscriber.sync().is_empty());
    let log = server.log();
    assert!(
        !log.contains("Slow Consumer"),
        "subscriber was cut off:\n{log}"
    );
}

#[test]
fn fast_publisher_is_slowed_to_a_slow_reader_on_the_same_core() {
    flood_reaches_slow_reader("1", false);
}

#[test]
fn fast_publisher_is_slowed_to_a_slow_reader_on_another_core() {
    if common::skip_on_reference("tern's --cores") {
        return;
    }
    flood_reaches_slow_reader("2", true);
}
