//! Behaviour tests: whole ops, every split point, hostile input, round trips, JSON.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

/// Both parsers behind one face, so every harness runs against either direction.
trait AnyParser {
    type Op: std::fmt::Debug + PartialEq + Clone;
    fn fresh(limits: ParserLimits) -> Self;
    fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Op>, ProtocolError>;
}

impl AnyParser for ClientParser {
    type Op = ClientOp;
    fn fresh(limits: ParserLimits) -> Self {
        ClientParser::new(limits)
    }
    fn next(&mut self, buf: &mut BytesMut) -> Result<Option<ClientOp>, ProtocolError> {
        self.next_op(buf)
    }
}

impl AnyParser for ServerParser {
    type Op = ServerOp;
    fn fresh(limits: ParserLimits) -> Self {
        ServerParser::new(limits)
    }
    fn next(&mut self, buf: &mut BytesMut) -> Result<Option<ServerOp>, ProtocolError> {
        self.next_op(buf)
    }
}

/// Everything observable after feeding some input: the ops, the error that stopped
/// parsing (if any) and the bytes still buffered.
#[derive(Debug, PartialEq)]
struct Outcome<Op> {
    ops: Vec<Op>,
    error: Option<ProtocolError>,
    buffered: Vec<u8>,
}

/// Feeds `chunks` one read at a time, draining every complete op after each read.
fn feed<P: AnyParser>(limits: ParserLimits, chunks: &[&[u8]]) -> Outcome<P::Op> {
    let mut parser = P::fresh(limits);
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match parser.next(&mut buf) {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => break,
                Err(error) => {
                    // A dead parser must stay dead, with the same error.
                    assert_eq!(parser.next(&mut buf), Err(error.clone()));
                    // What is left in the buffer after an error depends on how much
                    // input had arrived, and the connection is closed anyway.
                    return Outcome {
                        ops,
                        error: Some(error),
                        buffered: Vec::new(),
                    };
                }
            }
        }
    }
    Outcome {
        ops,
        error: None,
        buffered: buf.to_vec(),
    }
}

fn whole<P: AnyParser>(limits: ParserLimits, input: &[u8]) -> Outcome<P::Op> {
    feed::<P>(limits, &[input])
}

/// Split in two at every position, and one byte at a time: all must equal the whole parse.
fn assert_split_invariant<P: AnyParser>(limits: ParserLimits, input: &[u8]) -> Outcome<P::Op> {
    let expected = whole::<P>(limits, input);
    for split in 0..=input.len() {
        let (head, tail) = input.split_at(split);
        assert_eq!(
            feed::<P>(limits, &[head, tail]),
            expected,
            "split at {split} of {:?}",
            String::from_utf8_lossy(input)
        );
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        feed::<P>(limits, &bytes),
        expected,
        "byte at a time: {:?}",
        String::from_utf8_lossy(input)
    );
    expected
}

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn publish(subject: &str, reply: Option<&str>, header_len: Option<usize>, body: &str) -> ClientOp {
    ClientOp::Pub(Publish {
        subject: b(subject),
        reply: reply.map(b),
        header_len,
        body: b(body),
    })
}

fn message(
    subject: &str,
    sid: &str,
    reply: Option<&str>,
    header_len: Option<usize>,
    body: &str,
) -> ServerOp {
    ServerOp::Msg(Message {
        subject: b(subject),
        sid: b(sid),
        reply: reply.map(b),
        header_len,
        body: b(body),
    })
}

fn client_cases() -> Vec<(&'static str, ClientOp)> {
    vec![
        (
            "CONNECT {\"verbose\":false}\r\n",
            ClientOp::Connect(b("{\"verbose\":false}")),
        ),
        ("CONNECT{}\r\n", ClientOp::Connect(b("{}"))),
        ("connect \t {} \r\n", ClientOp::Connect(b("{} "))),
        (
            "PUB foo 5\r\nhello\r\n",
            publish("foo", None, None, "hello"),
        ),
        (
            "PUB foo _INBOX.1 5\r\nhello\r\n",
            publish("foo", Some("_INBOX.1"), None, "hello"),
        ),
        ("PUB foo 0\r\n\r\n", publish("foo", None, None, "")),
        (
            "pub\tfoo\t \t2 \t\r\nhi\r\n",
            publish("foo", None, None, "hi"),
        ),
        (
            "PUB foo 4\nab\r\n\r\n",
            publish("foo", None, None, "ab\r\n"),
        ),
        (
            "PUB foo 000000002\r\nhi\r\n",
            publish("foo", None, None, "hi"),
        ),
        (
            "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
            publish("foo", None, Some(12), "NATS/1.0\r\n\r\nhi"),
        ),
        (
            "hpub foo reply 12 12\r\nNATS/1.0\r\n\r\n\r\n",
            publish("foo", Some("reply"), Some(12), "NATS/1.0\r\n\r\n"),
        ),
        (
            "SUB foo 1\r\n",
            ClientOp::Sub {
                subject: b("foo"),
                queue: None,
                sid: b("1"),
            },
        ),
        (
            "sub foo.* workers 22\r\n",
            ClientOp::Sub {
                subject: b("foo.*"),
                queue: Some(b("workers")),
                sid: b("22"),
            },
        ),
        (
            "UNSUB 1\r\n",
            ClientOp::Unsub {
                sid: b("1"),
                max_msgs: None,
            },
        ),
        (
            "UNSUB 1 5\n",
            ClientOp::Unsub {
                sid: b("1"),
                max_msgs: Some(5),
            },
        ),
        (
            "UNSUB 1 abc\r\n",
            ClientOp::Unsub {
                sid: b("1"),
                max_msgs: None,
            },
        ),
        (
            "UNSUB 1 -5\r\n",
            ClientOp::Unsub {
                sid: b("1"),
                max_msgs: None,
            },
        ),
        ("PING\r\n", ClientOp::Ping),
        ("ping\n", ClientOp::Ping),
        ("PINGxyz\r\n", ClientOp::Ping),
        ("PONG\r\n", ClientOp::Pong),
        ("PONG bar\r\n", ClientOp::Pong),
        ("INFO {}\r\n", ClientOp::Info(b("{}"))),
        ("+OK\r\n", ClientOp::Ok),
        ("+ok\n", ClientOp::Ok),
        (
            "-ERR 'Stale Connection'\r\n",
            ClientOp::Err(b("Stale Connection")),
        ),
        ("-ERR foo\r\n", ClientOp::Err(b("foo"))),
    ]
}

#[test]
fn every_client_op_whole_and_at_every_split() {
    let limits = ParserLimits::default();
    for (input, expected) in client_cases() {
        let outcome = assert_split_invariant::<ClientParser>(limits, input.as_bytes());
        assert_eq!(
            outcome,
            Outcome {
                ops: vec![expected],
                error: None,
                buffered: Vec::new()
            },
            "{input:?}"
        );
    }
}

#[test]
fn a_stream_of_client_ops_at_every_split() {
    let cases = client_cases();
    let stream: String = cases.iter().map(|(input, _)| *input).collect();
    let expected: Vec<ClientOp> = cases.into_iter().map(|(_, op)| op).collect();
    let outcome =
        assert_split_invariant::<ClientParser>(ParserLimits::default(), stream.as_bytes());
    assert_eq!(outcome.ops, expected);
    assert_eq!(outcome.error, None);
    assert!(outcome.buffered.is_empty());
}

fn server_cases() -> Vec<(&'static str, ServerOp)> {
    vec![
        (
            "INFO {\"server_id\":\"x\"} \r\n",
            ServerOp::Info(b("{\"server_id\":\"x\"} ")),
        ),
        (
            "MSG foo 1 5\r\nhello\r\n",
            message("foo", "1", None, None, "hello"),
        ),
        (
            "MSG foo 1 _INBOX.a 0\r\n\r\n",
            message("foo", "1", Some("_INBOX.a"), None, ""),
        ),
        (
            "HMSG foo 9 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
            message("foo", "9", None, Some(12), "NATS/1.0\r\n\r\nhi"),
        ),
        (
            "hmsg foo 9 r 12 12\r\nNATS/1.0\r\n\r\n\r\n",
            message("foo", "9", Some("r"), Some(12), "NATS/1.0\r\n\r\n"),
        ),
        ("PING\r\n", ServerOp::Ping),
        ("PONG\r\n", ServerOp::Pong),
        ("+OK\r\n", ServerOp::Ok),
        (
            "-ERR 'Unknown Protocol Operation'\r\n",
            ServerOp::Err(b("Unknown Protocol Operation")),
        ),
    ]
}

#[test]
fn every_server_op_whole_and_at_every_split() {
    let limits = ParserLimits::default();
    for (input, expected) in server_cases() {
        let outcome = assert_split_invariant::<ServerParser>(limits, input.as_bytes());
        assert_eq!(outcome.ops, vec![expected], "{input:?}");
        assert_eq!(outcome.error, None, "{input:?}");
    }
    let cases = server_cases();
    let stream: String = cases.iter().map(|(input, _)| *input).collect();
    let expected: Vec<ServerOp> = cases.into_iter().map(|(_, op)| op).collect();
    let outcome = assert_split_invariant::<ServerParser>(limits, stream.as_bytes());
    assert_eq!(outcome.ops, expected);
}

#[test]
fn client_errors_match_nats_server() {
    use ProtocolError::*;
    let unknown = |byte: u8| UnknownOperation { byte };
    let cases: Vec<(&str, ProtocolError, Option<&str>)> = vec![
        ("PUB foo\r\n", ArgumentCount { op: "PUB" }, None),
        (
            "PUB foo bar baz qux 1\r\n",
            ArgumentCount { op: "PUB" },
            None,
        ),
        ("PUB \r\n", ArgumentCount { op: "PUB" }, None),
        ("PUB foo -1\r\n", BadSize { op: "PUB" }, None),
        ("PUB foo +2\r\n", BadSize { op: "PUB" }, None),
        ("PUB foo 0000000002\r\n", BadSize { op: "PUB" }, None),
        ("PUB foo 1000000000\r\n", BadSize { op: "PUB" }, None),
        (
            "PUB foo 123456789012345678901234567890\r\n",
            BadSize { op: "PUB" },
            None,
        ),
        (
            "HPUB foo 10 5\r\n",
            HeaderSizeExceedsTotal { op: "HPUB" },
            None,
        ),
        ("HPUB foo x 3\r\n", BadHeaderSize { op: "HPUB" }, None),
        ("HPUB foo 3 x\r\n", BadSize { op: "HPUB" }, None),
        ("HPUB foo 3\r\n", ArgumentCount { op: "HPUB" }, None),
        ("SUB foo\r\n", ArgumentCount { op: "SUB" }, None),
        ("SUB foo q 1 x\r\n", ArgumentCount { op: "SUB" }, None),
        ("UNSUB 1 2 3\r\n", ArgumentCount { op: "UNSUB" }, None),
        (
            "SUB\r\n",
            unknown(b'\r'),
            Some("Unknown Protocol Operation"),
        ),
        (
            "UNSUB\r\n",
            unknown(b'\r'),
            Some("Unknown Protocol Operation"),
        ),
        (
            "PUBX foo 1\r\n",
            unknown(b'X'),
            Some("Unknown Protocol Operation"),
        ),
        (
            "PIN\r\n",
            unknown(b'\r'),
            Some("Unknown Protocol Operation"),
        ),
        (
            "\r\nPING\r\n",
            unknown(b'\r'),
            Some("Unknown Protocol Operation"),
        ),
        (
            " PING\r\n",
            unknown(b' '),
            Some("Unknown Protocol Operation"),
        ),
        (
            "MSG foo 1 2\r\nhi\r\n",
            unknown(b'M'),
            Some("Unknown Protocol Operation"),
        ),
        (
            "HMSG foo 1 0 0\r\n",
            unknown(b'M'),
            Some("Unknown Protocol Operation"),
        ),
        (
            "-ERR\r\n",
            unknown(b'\r'),
            Some("Unknown Protocol Operation"),
        ),
        (
            "-ERRx\r\n",
            unknown(b'x'),
            Some("Unknown Protocol Operation"),
        ),
        ("\x00", unknown(0), Some("Unknown Protocol Operation")),
        (
            "PUB foo 2\r\nhiXX",
            MissingPayloadTerminator { byte: b'X' },
            Some("Unknown Protocol Operation"),
        ),
        (
            "PUB foo 2\r\nhi\rX",
            MissingPayloadTerminator { byte: b'X' },
            Some("Unknown Protocol Operation"),
        ),
        (
            "PUB foo 2\nhi\nPING\r\n",
            MissingPayloadTerminator { byte: b'\n' },
            Some("Unknown Protocol Operation"),
        ),
        (
            "PUB foo 1048577\r\n",
            PayloadTooLarge {
                size_bytes: 1_048_577,
                limit_bytes: 1_048_576,
            },
            Some("Maximum Payload Violation"),
        ),
        (
            "HPUB foo 1048577 1048577\r\n",
            PayloadTooLarge {
                size_bytes: 1_048_577,
                limit_bytes: 1_048_576,
            },
            Some("Maximum Payload Violation"),
        ),
        (
            "PUB foo 999999999\r\n",
            PayloadTooLarge {
                size_bytes: 999_999_999,
                limit_bytes: 1_048_576,
            },
            Some("Maximum Payload Violation"),
        ),
    ];
    for (input, error, text) in cases {
        let outcome =
            assert_split_invariant::<ClientParser>(ParserLimits::default(), input.as_bytes());
        assert_eq!(outcome.error.as_ref(), Some(&error), "{input:?}");
        assert_eq!(error.client_error_text(), text, "{input:?}");
    }
}

#[test]
fn ops_before_an_error_are_still_delivered() {
    let outcome = assert_split_invariant::<ClientParser>(
        ParserLimits::default(),
        b"PING\r\nSUB foo 1\r\nPUB foo 1\r\nxY",
    );
    assert_eq!(outcome.ops.len(), 2);
    assert_eq!(
        outcome.error,
        Some(ProtocolError::MissingPayloadTerminator { byte: b'Y' })
    );
}

#[test]
fn max_payload_is_enforced_before_the_payload_arrives() {
    let limits = ParserLimits {
        max_control_line_bytes: 4096,
        max_payload_bytes: 8,
    };
    let mut parser = ClientParser::new(limits);
    let mut buf = BytesMut::from(&b"PUB foo 9\r\n"[..]);
    assert_eq!(
        parser.next_op(&mut buf),
        Err(ProtocolError::PayloadTooLarge {
            size_bytes: 9,
            limit_bytes: 8
        })
    );
    let at_limit = whole::<ClientParser>(limits, b"PUB foo 8\r\n12345678\r\n");
    assert_eq!(at_limit.ops, vec![publish("foo", None, None, "12345678")]);
    let total_counts = whole::<ClientParser>(limits, b"HPUB foo 4 9\r\n");
    assert!(matches!(
        total_counts.error,
        Some(ProtocolError::PayloadTooLarge { size_bytes: 9, .. })
    ));
}

#[test]
fn set_limits_applies_to_the_next_op() {
    let mut parser = ClientParser::new(ParserLimits::default());
    let mut buf = BytesMut::from(&b"PUB a 3\r\nabc\r\n"[..]);
    assert!(matches!(
        parser.next_op(&mut buf),
        Ok(Some(ClientOp::Pub(_)))
    ));
    parser.set_limits(ParserLimits {
        max_control_line_bytes: 4096,
        max_payload_bytes: 2,
    });
    buf.extend_from_slice(b"PUB a 3\r\nabc\r\n");
    assert!(matches!(
        parser.next_op(&mut buf),
        Err(ProtocolError::PayloadTooLarge { .. })
    ));
}

#[test]
fn control_line_limit_counts_argument_bytes_like_nats_server() {
    let limits = ParserLimits::default();
    let line = |args_bytes: usize| {
        let mut input = b"PUB ".to_vec();
        input.extend(std::iter::repeat_n(b'a', args_bytes - 2));
        input.extend_from_slice(b" 0\r\n\r\n");
        input
    };
    let fits = whole::<ClientParser>(limits, &line(4096));
    assert_eq!(fits.error, None);
    assert_eq!(fits.ops.len(), 1);
    let too_long = whole::<ClientParser>(limits, &line(4097));
    let expected = ProtocolError::ControlLineTooLong { limit_bytes: 4096 };
    assert_eq!(too_long.error, Some(expected.clone()));
    assert_eq!(
        expected.client_error_text(),
        Some("maximum control line exceeded")
    );

    // Unfinished lines: 4096 argument bytes (plus a pending '\r') wait, 4097 fail.
    let mut partial = b"SUB ".to_vec();
    partial.extend(std::iter::repeat_n(b'a', 4096));
    let mut parser = ClientParser::new(limits);
    let mut buf = BytesMut::from(&partial[..]);
    assert_eq!(parser.next_op(&mut buf), Ok(None));
    buf.extend_from_slice(b"\r");
    assert_eq!(parser.next_op(&mut buf), Ok(None));
    buf.extend_from_slice(b"a");
    assert_eq!(parser.next_op(&mut buf), Err(expected));

    // Blanks after the op name are not arguments and are not kept.
    let mut blanks = b"PUB".to_vec();
    blanks.extend(std::iter::repeat_n(b' ', 10_000));
    blanks.extend_from_slice(b"foo 0\r\n\r\n");
    let outcome = whole::<ClientParser>(limits, &blanks);
    assert_eq!(outcome.ops, vec![publish("foo", None, None, "")]);
}

#[test]
fn an_endless_line_is_refused_without_unbounded_buffering() {
    let limits = ParserLimits::default();
    let mut parser = ClientParser::new(limits);
    let mut buf = BytesMut::from(&b"CONNECT "[..]);
    let chunk = [b'x'; 1000];
    let mut result = Ok(None);
    for _ in 0..100 {
        buf.extend_from_slice(&chunk);
        result = parser.next_op(&mut buf);
        if result.is_err() {
            break;
        }
        assert!(buf.len() <= limits.max_control_line_bytes + 1);
    }
    assert_eq!(
        result,
        Err(ProtocolError::ControlLineTooLong { limit_bytes: 4096 })
    );
}

#[test]
fn ping_trailers_are_discarded_not_buffered() {
    let mut parser = ClientParser::new(ParserLimits::default());
    let mut buf = BytesMut::from(&b"PING"[..]);
    for _ in 0..100 {
        buf.extend_from_slice(&[b'z'; 1000]);
        assert_eq!(parser.next_op(&mut buf), Ok(None));
        assert!(buf.is_empty());
    }
    buf.extend_from_slice(b"\r\nPONG\r\n");
    assert_eq!(parser.next_op(&mut buf), Ok(Some(ClientOp::Ping)));
    assert_eq!(parser.next_op(&mut buf), Ok(Some(ClientOp::Pong)));
}

#[test]
fn payloads_are_slices_of_the_read_buffer() {
    let mut buf = BytesMut::with_capacity(256);
    buf.extend_from_slice(b"PUB foo reply 5\r\nhello\r\nHPUB bar 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    let start = buf.as_ptr() as usize;
    let end = start + buf.len();
    let within = |bytes: &Bytes| {
        let at = bytes.as_ptr() as usize;
        at >= start && at + bytes.len() <= end
    };
    let mut parser = ClientParser::new(ParserLimits::default());
    for _ in 0..2 {
        let Ok(Some(ClientOp::Pub(publish))) = parser.next_op(&mut buf) else {
            panic!("expected a publish");
        };
        assert!(within(&publish.body) && within(&publish.subject));
        assert!(publish.reply.iter().all(within));
    }
}

#[test]
fn header_accessors_split_the_body() {
    let outcome = whole::<ClientParser>(
        ParserLimits::default(),
        b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPUB foo 2\r\nho\r\n",
    );
    let [ClientOp::Pub(with_headers), ClientOp::Pub(plain)] = outcome.ops.as_slice() else {
        panic!("expected two publishes, got {outcome:?}");
    };
    assert_eq!(with_headers.headers(), Some(&b"NATS/1.0\r\n\r\n"[..]));
    assert_eq!(with_headers.payload(), b"hi");
    assert_eq!(plain.headers(), None);
    assert_eq!(plain.payload(), b"ho");
}

#[test]
fn server_parser_errors() {
    let limits = ParserLimits::default();
    let outcome = assert_split_invariant::<ServerParser>(limits, b"MSG foo 5\r\n");
    assert_eq!(
        outcome.error,
        Some(ProtocolError::ArgumentCount { op: "MSG" })
    );
    let outcome = assert_split_invariant::<ServerParser>(limits, b"HMSG foo 1 5 4\r\n");
    assert_eq!(
        outcome.error,
        Some(ProtocolError::HeaderSizeExceedsTotal { op: "HMSG" })
    );
    let outcome = assert_split_invariant::<ServerParser>(limits, b"PUB foo 1\r\nx\r\n");
    assert_eq!(
        outcome.error,
        Some(ProtocolError::UnknownOperation { byte: b'U' })
    );
}

#[test]
fn encoded_lines_parse_back() {
    let mut wire = Vec::new();
    encode_pub_line(&mut wire, b"orders.new", None, None, 3);
    wire.extend_from_slice(b"abc\r\n");
    encode_pub_line(&mut wire, b"orders.new", Some(b"_INBOX.x"), Some(12), 15);
    wire.extend_from_slice(b"NATS/1.0\r\n\r\nabc\r\n");
    encode_sub(&mut wire, b"orders.*", Some(b"workers"), b"7");
    encode_sub(&mut wire, b"orders.>", None, b"8");
    encode_unsub(&mut wire, b"7", Some(10));
    encode_unsub(&mut wire, b"8", None);
    ConnectOptions {
        verbose: false,
        headers: true,
        no_responders: true,
        protocol: 1,
        name: Some("bench <1> & co".to_string()),
        ..ConnectOptions::default()
    }
    .write_connect(&mut wire);
    wire.extend_from_slice(PING_LINE);
    wire.extend_from_slice(PONG_LINE);

    let outcome = assert_split_invariant::<ClientParser>(ParserLimits::default(), &wire);
    assert_eq!(outcome.error, None);
    assert!(outcome.buffered.is_empty());
    assert_eq!(
        &outcome.ops[..6],
        &[
            publish("orders.new", None, None, "abc"),
            publish(
                "orders.new",
                Some("_INBOX.x"),
                Some(12),
                "NATS/1.0\r\n\r\nabc"
            ),
            ClientOp::Sub {
                subject: b("orders.*"),
                queue: Some(b("workers")),
                sid: b("7")
            },
            ClientOp::Sub {
                subject: b("orders.>"),
                queue: None,
                sid: b("8")
            },
            ClientOp::Unsub {
                sid: b("7"),
                max_msgs: Some(10)
            },
            ClientOp::Unsub {
                sid: b("8"),
                max_msgs: None
            },
        ]
    );
    let ClientOp::Connect(json) = &outcome.ops[6] else {
        panic!("expected CONNECT, got {:?}", outcome.ops[6]);
    };
    let options = ConnectOptions::from_json(json).expect("own CONNECT decodes");
    assert!(!options.verbose && options.headers && options.no_responders);
    assert_eq!(options.name.as_deref(), Some("bench <1> & co"));
    assert_eq!(&outcome.ops[7..], &[ClientOp::Ping, ClientOp::Pong]);
}

#[test]
fn encoded_server_lines_parse_back() {
    let info = ServerInfo {
        server_id: "NABC".into(),
        version: "2.10.22".into(),
        proto: 1,
        headers: true,
        max_payload: 1_048_576,
        ..ServerInfo::default()
    };
    let mut wire = Vec::new();
    info.write_info(&mut wire);
    encode_msg_line(&mut wire, b"orders.new", b"1", None, None, 3);
    wire.extend_from_slice(b"abc\r\n");
    encode_msg_line(&mut wire, b"_INBOX.x", b"2", None, Some(32 + 10), 32 + 10);
    no_responders_headers(&mut wire, b"orders.new");
    wire.extend_from_slice(b"\r\n");
    encode_msg_line(&mut wire, b"a", b"3", Some(b"r"), Some(0), 1);
    wire.extend_from_slice(b"x\r\n");
    encode_err(&mut wire, "Permissions Violation for Publish to \"a\"");
    wire.extend_from_slice(OK_LINE);
    wire.extend_from_slice(PING_LINE);

    let outcome = assert_split_invariant::<ServerParser>(ParserLimits::default(), &wire);
    assert_eq!(outcome.error, None);
    let ServerOp::Info(json) = &outcome.ops[0] else {
        panic!("expected INFO, got {:?}", outcome.ops[0]);
    };
    assert_eq!(ServerInfo::from_json(json), Ok(info));
    assert_eq!(
        &outcome.ops[1..],
        &[
            message("orders.new", "1", None, None, "abc"),
            message(
                "_INBOX.x",
                "2",
                None,
                Some(42),
                "NATS/1.0 503\r\nNats-Subject: orders.new\r\n\r\n"
            ),
            message("a", "3", Some("r"), Some(0), "x"),
            ServerOp::Err(b("Permissions Violation for Publish to \"a\"")),
            ServerOp::Ok,
            ServerOp::Ping,
        ]
    );
}

#[test]
fn info_always_has_the_required_keys_and_omits_empty_ones() {
    let mut out = Vec::new();
    ServerInfo::default().write_info(&mut out);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "INFO {\"server_id\":\"\",\"server_name\":\"\",\"version\":\"\",\"proto\":0,\"go\":\"\",\
         \"host\":\"\",\"port\":0,\"headers\":false,\"max_payload\":0} \r\n"
    );
}

#[test]
fn info_omits_empty_options_as_go_omitempty_does() {
    let info = ServerInfo {
        client_id: Some(0),
        client_ip: Some(String::new()),
        api_lvl: Some(0),
        ..ServerInfo::default()
    };
    let (mut with_empty, mut without) = (Vec::new(), Vec::new());
    info.write_info(&mut with_empty);
    ServerInfo::default().write_info(&mut without);
    assert_eq!(with_empty, without);
}

#[test]
fn info_with_every_field_keeps_nats_server_key_order() {
    let info = ServerInfo {
        server_id: "NID".into(),
        server_name: "n1".into(),
        version: "2.10.22".into(),
        proto: 1,
        git_commit: Some("abc".into()),
        go: "go1.22".into(),
        host: "0.0.0.0".into(),
        port: 4222,
        headers: true,
        auth_required: true,
        tls_required: true,
        tls_verify: true,
        tls_available: true,
        max_payload: 1_048_576,
        jetstream: true,
        client_id: Some(5),
        client_ip: Some("127.0.0.1".into()),
        nonce: Some("n".into()),
        cluster: Some("c".into()),
        cluster_dynamic: true,
        domain: Some("d".into()),
        connect_urls: vec!["a:4222".into()],
        ws_connect_urls: vec!["b:80".into()],
        ldm: true,
        connect_info: true,
        remote_account: Some("$G".into()),
        acc_is_sys: true,
        api_lvl: Some(1),
        xkey: Some("X".into()),
    };
    let mut out = Vec::new();
    info.write_info(&mut out);
    let expected = concat!(
        "INFO {\"server_id\":\"NID\",\"server_name\":\"n1\",\"version\":\"2.10.22\",\"proto\":1,",
        "\"git_commit\":\"abc\",\"go\":\"go1.22\",\"host\":\"0.0.0.0\",\"port\":4222,\"headers\":true,",
        "\"auth_required\":true,\"tls_required\":true,\"tls_verify\":true,\"tls_available\":true,",
        "\"max_payload\":1048576,\"jetstream\":true,\"client_id\":5,\"client_ip\":\"127.0.0.1\",",
        "\"nonce\":\"n\",\"cluster\":\"c\",\"cluster_dynamic\":true,\"domain\":\"d\",",
        "\"connect_urls\":[\"a:4222\"],\"ws_connect_urls\":[\"b:80\"],\"ldm\":true,",
        "\"connect_info\":true,\"remote_account\":\"$G\",\"acc_is_sys\":true,\"api_lvl\":1,",
        "\"xkey\":\"X\"} \r\n"
    );
    assert_eq!(String::from_utf8_lossy(&out), expected);
    let json = &out[b"INFO ".len()..out.len() - 3];
    assert_eq!(ServerInfo::from_json(json), Ok(info));
}

#[test]
fn info_strings_are_escaped_as_go_does() {
    let info = ServerInfo {
        server_name: "a<b>&c\u{2028}\"\n".into(),
        ..ServerInfo::default()
    };
    let mut out = Vec::new();
    info.write_info(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains(r#""server_name":"a\u003cb\u003e\u0026c\u2028\"\n""#),
        "{text}"
    );
    let json = &out[b"INFO ".len()..out.len() - 3];
    assert_eq!(
        ServerInfo::from_json(json).map(|i| i.server_name),
        Ok(info.server_name)
    );
}

#[test]
fn connect_defaults_and_go_decoding_rules() {
    let defaults = ConnectOptions::default();
    assert!(defaults.verbose && defaults.pedantic && defaults.echo);
    assert!(!defaults.tls_required && !defaults.headers && !defaults.no_responders);
    assert_eq!(
        (defaults.protocol, &defaults.name, &defaults.user),
        (0, &None, &None)
    );

    let decode = |json: &str| ConnectOptions::from_json(json.as_bytes());
    assert_eq!(decode("{}"), Ok(defaults.clone()));
    assert_eq!(decode(" null "), Ok(defaults.clone()));
    assert_eq!(
        decode("{\"verbose\":null,\"user\":null}"),
        Ok(defaults.clone())
    );
    assert_eq!(
        decode("{\"unknown\":{\"deep\":[1,2,{}]},\"x\":null}"),
        Ok(defaults.clone())
    );

    let real = decode(
        "{\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"name\":\"\",\
         \"lang\":\"go\",\"version\":\"1.37.0\",\"protocol\":1,\"echo\":true,\"headers\":true,\
         \"no_responders\":true,\"user\":\"u\",\"pass\":\"p\",\"auth_token\":\"t\",\
         \"nkey\":\"UK\",\"sig\":\"s\",\"jwt\":\"j\",\"account\":\"a\",\"new_account\":true}",
    )
    .expect("nats.go CONNECT decodes");
    assert_eq!(
        real,
        ConnectOptions {
            verbose: false,
            pedantic: false,
            tls_required: false,
            auth_token: Some("t".into()),
            user: Some("u".into()),
            pass: Some("p".into()),
            nkey: Some("UK".into()),
            sig: Some("s".into()),
            jwt: Some("j".into()),
            name: Some(String::new()),
            lang: Some("go".into()),
            version: Some("1.37.0".into()),
            protocol: 1,
            echo: true,
            headers: true,
            no_responders: true,
            account: Some("a".into()),
            new_account: true,
        }
    );

    // Go matches keys case-insensitively and lets a later key overwrite an earlier one.
    let folded = decode("{\"Verbose\":false,\"ECHO\":false}").expect("decodes");
    assert!(!folded.verbose && !folded.echo);
    let repeated = decode("{\"verbose\":false,\"verbose\":true}").expect("decodes");
    assert!(repeated.verbose);
    let kept = decode("{\"user\":\"a\",\"user\":null}").expect("decodes");
    assert_eq!(kept.user.as_deref(), Some("a"));
}

#[test]
fn malformed_connect_closes_without_err_text() {
    for json in [
        "",
        "\r",
        "{bad",
        "{} x",
        "[]",
        "\"str\"",
        "{\"verbose\":\"x\"}",
        "{\"protocol\":1.5}",
        "{\"protocol\":\"1\"}",
        "{\"protocol\":123456789012345678901234567890}",
        "{\"user\":5}",
    ] {
        let error = ConnectOptions::from_json(json.as_bytes()).expect_err(json);
        assert!(
            matches!(error, ProtocolError::InvalidConnectJson { .. }),
            "{json:?}: {error:?}"
        );
        assert_eq!(error.client_error_text(), None);
    }
}

#[test]
fn connect_validation_texts() {
    let options = |protocol, headers, no_responders| ConnectOptions {
        protocol,
        headers,
        no_responders,
        ..ConnectOptions::default()
    };
    assert_eq!(options(0, false, false).validate(true), Ok(()));
    assert_eq!(options(1, true, true).validate(true), Ok(()));
    for protocol in [-1, 2] {
        let error = options(protocol, false, false)
            .validate(true)
            .expect_err("out of range");
        assert_eq!(error.client_error_text(), Some("invalid client protocol"));
    }
    for (headers, server_headers) in [(false, true), (true, false)] {
        let error = options(1, headers, true)
            .validate(server_headers)
            .expect_err("no headers");
        assert_eq!(
            error.client_error_text(),
            Some("no responders requires headers support")
        );
    }
}

#[test]
fn info_json_errors() {
    let error = ServerInfo::from_json(b"garbage").expect_err("not JSON");
    assert!(matches!(error, ProtocolError::InvalidInfoJson { .. }));
    assert_eq!(error.client_error_text(), None);
    let info = ServerInfo::from_json(b"{\"port\":4222,\"future_key\":[1]}").expect("decodes");
    assert_eq!(info.port, 4222);
}

/// Fragments that make random input look like protocol often enough to reach every state.
const FRAGMENTS: &[&[u8]] = &[
    b"PUB ",
    b"HPUB ",
    b"SUB ",
    b"UNSUB ",
    b"PING",
    b"PONG",
    b"CONNECT ",
    b"INFO ",
    b"+OK",
    b"-ERR ",
    b"MSG ",
    b"HMSG ",
    b"pub\t",
    b"foo ",
    b"q ",
    b"1 ",
    b"2",
    b"0",
    b"12 ",
    b"5",
    b"999999999",
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\t",
    b"hello",
    b"NATS/1.0\r\n\r\n",
    b"{}",
    b"'x'",
    b"PUB a 2\r\nhi\r\n",
    b"MSG a 1 2\r\nhi\r\n",
];

fn protocolish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => prop::sample::select(FRAGMENTS).prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// Cuts `input` at the given (unsorted, possibly repeated or out-of-range) points.
fn chunked<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts {
        chunks.push(&input[start..cut]);
        start = cut;
    }
    chunks.push(&input[start..]);
    chunks
}

fn small_limits() -> impl Strategy<Value = ParserLimits> {
    prop_oneof![
        Just(ParserLimits::default()),
        (0usize..12, 0usize..12).prop_map(|(line, payload)| ParserLimits {
            max_control_line_bytes: line,
            max_payload_bytes: payload,
        }),
    ]
}

proptest! {
    // No regression files: the checkout is shared and these tests own no directory.
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_chunking_gives_the_whole_parse(
        input in protocolish(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        limits in small_limits(),
    ) {
        let chunks = chunked(&input, &cuts);
        prop_assert_eq!(feed::<ClientParser>(limits, &chunks), whole::<ClientParser>(limits, &input));
        prop_assert_eq!(feed::<ServerParser>(limits, &chunks), whole::<ServerParser>(limits, &input));
    }

    #[test]
    fn random_bytes_never_panic(
        input in prop::collection::vec(any::<u8>(), 0..256),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let limits = ParserLimits::default();
        let chunks = chunked(&input, &cuts);
        prop_assert_eq!(feed::<ClientParser>(limits, &chunks), whole::<ClientParser>(limits, &input));
        prop_assert_eq!(feed::<ServerParser>(limits, &chunks), whole::<ServerParser>(limits, &input));
    }

    #[test]
    fn connect_json_never_panics(input in prop::collection::vec(any::<u8>(), 0..128)) {
        let _ = ConnectOptions::from_json(&input);
        let _ = ServerInfo::from_json(&input);
    }

    #[test]
    fn encoded_publishes_round_trip(
        subject in "[a-z][a-z0-9.]{0,16}",
        reply in proptest::option::of("[A-Z_][A-Za-z0-9.]{0,16}"),
        header in proptest::option::of(prop::collection::vec(any::<u8>(), 0..32)),
        payload in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut body = header.clone().unwrap_or_default();
        body.extend_from_slice(&payload);
        let header_len = header.as_ref().map(Vec::len);
        let mut wire = Vec::new();
        encode_pub_line(&mut wire, subject.as_bytes(), reply.as_deref().map(str::as_bytes), header_len, body.len());
        wire.extend_from_slice(&body);
        wire.extend_from_slice(b"\r\n");
        let expected = ClientOp::Pub(Publish {
            subject: Bytes::from(subject.clone()),
            reply: reply.clone().map(Bytes::from),
            header_len,
            body: Bytes::from(body.clone()),
        });
        let outcome = whole::<ClientParser>(ParserLimits::default(), &wire);
        prop_assert_eq!(outcome.ops, vec![expected]);

        wire.clear();
        encode_msg_line(&mut wire, subject.as_bytes(), b"42", reply.as_deref().map(str::as_bytes), header_len, body.len());
        wire.extend_from_slice(&body);
        wire.extend_from_slice(b"\r\n");
        let expected = ServerOp::Msg(Message {
            subject: Bytes::from(subject),
            sid: b("42"),
            reply: reply.map(Bytes::from),
            header_len,
            body: Bytes::from(body),
        });
        let outcome = whole::<ServerParser>(ParserLimits::default(), &wire);
        prop_assert_eq!(outcome.ops, vec![expected]);
    }
}

// The fast path (`fast_path.rs`) against the general engine: it must take plain frames
// whole, and on any input, split in any way, the two must be indistinguishable.

/// A parser that never takes the fast path.
struct GeneralOnly<P>(P);

impl AnyParser for GeneralOnly<ClientParser> {
    type Op = ClientOp;
    fn fresh(limits: ParserLimits) -> Self {
        GeneralOnly(ClientParser::new(limits))
    }
    fn next(&mut self, buf: &mut BytesMut) -> Result<Option<ClientOp>, ProtocolError> {
        self.0.next_op_general(buf)
    }
}

impl AnyParser for GeneralOnly<ServerParser> {
    type Op = ServerOp;
    fn fresh(limits: ParserLimits) -> Self {
        GeneralOnly(ServerParser::new(limits))
    }
    fn next(&mut self, buf: &mut BytesMut) -> Result<Option<ServerOp>, ProtocolError> {
        self.0.next_op_general(buf)
    }
}

#[test]
fn fast_path_takes_plain_frames_whole_and_leaves_the_rest() {
    let limits = ParserLimits::default();
    for (input, expected) in client_cases() {
        if !matches!(expected, ClientOp::Pub(_)) {
            continue;
        }
        let mut buf = BytesMut::from(input.as_bytes());
        assert_eq!(
            super::fast_path::client_frame(&mut buf, &limits),
            Some(expected),
            "{input:?}"
        );
        assert!(buf.is_empty(), "{input:?}");
    }
    for (input, expected) in server_cases() {
        if !matches!(expected, ServerOp::Msg(_)) {
            continue;
        }
        let mut buf = BytesMut::from(input.as_bytes());
        assert_eq!(
            super::fast_path::server_frame(&mut buf, &limits),
            Some(expected),
            "{input:?}"
        );
        assert!(buf.is_empty(), "{input:?}");
    }
    // Unfinished, erroneous, odd or other ops: left to the engine, buffer untouched.
    for input in [
        "",
        "PUB foo 5\r\nhell",
        "PUB foo 5\r\nhello\r",
        "PUB foo 5\r",
        "PUB foo 2\r\nhiXX",
        "PUB foo\r\n",
        "PUB foo bar baz 1\r\nx\r\n",
        "PUB \r\n",
        "PUB \n foo 1\r\nx\r\n",
        "PUB foo 1048577\r\n",
        "PUB foo 0000000001\r\nx\r\n",
        "PUB f\ro 1\r\nx\r\n",
        "PUB f\x01o 1\r\nx\r\n",
        "PUB foo 1 \r\r\nx\r\n",
        "PUBX foo 1\r\nx\r\n",
        "HPUB foo 3 2\r\nxy\r\n",
        "MSG foo 1 1\r\nx\r\n",
        "SUB foo 1\r\n",
        "PING\r\n",
    ] {
        let mut buf = BytesMut::from(input.as_bytes());
        assert_eq!(
            super::fast_path::client_frame(&mut buf, &limits),
            None,
            "{input:?}"
        );
        assert_eq!(&buf[..], input.as_bytes());
    }
    let tight = ParserLimits {
        max_control_line_bytes: 5,
        max_payload_bytes: 1,
    };
    for input in ["PUB a 1\r\nx\r\n", "PUB a\t\t 1\r\nx\r\n"] {
        let mut buf = BytesMut::from(input.as_bytes());
        assert!(super::fast_path::client_frame(&mut buf, &tight).is_some());
    }
    for input in [
        "PUB a 2\r\nxy\r\n",
        "PUB abc  1\r\nx\r\n",
        "PUB a 1   \r\nx\r\n",
    ] {
        let mut buf = BytesMut::from(input.as_bytes());
        assert_eq!(super::fast_path::client_frame(&mut buf, &tight), None);
    }
}

/// One message in both directions: the same subject, reply, headers and payload as a
/// PUB/HPUB and as a MSG/HMSG, spelled in any of the ways the engine accepts.
#[derive(Debug, Clone)]
struct MessageCase {
    subject: Vec<u8>,
    sid: Vec<u8>,
    reply: Option<Vec<u8>>,
    headers: Option<Vec<u8>>,
    payload: Vec<u8>,
    /// Per letter of the op name: lower case?
    lower_case: Vec<bool>,
    /// Runs of blanks before each argument (used in turn).
    blanks: Vec<Vec<u8>>,
    /// Blanks between the last argument and the line end.
    trailing_blanks: Vec<u8>,
    /// Leading zeros on the sizes, as far as 9 digits allow.
    zeros: usize,
    bare_newline: bool,
}

impl MessageCase {
    fn wire(&self, name: &str, sid: Option<&[u8]>) -> Vec<u8> {
        let name = if self.headers.is_some() {
            format!("H{name}")
        } else {
            name.to_owned()
        };
        let size = |size: usize| {
            let digits = size.to_string();
            let zeros = self.zeros.min(9 - digits.len());
            format!("{}{digits}", "0".repeat(zeros)).into_bytes()
        };
        let body = self.body();
        let mut tokens = vec![self.subject.clone()];
        tokens.extend(sid.map(<[u8]>::to_vec));
        tokens.extend(self.reply.clone());
        tokens.extend(self.headers.as_ref().map(|headers| size(headers.len())));
        tokens.push(size(body.len()));

        let mut wire = Vec::new();
        for (letter, lower) in name.bytes().zip(self.lower_case.iter().cycle()) {
            wire.push(if *lower {
                letter.to_ascii_lowercase()
            } else {
                letter
            });
        }
        for (token, blanks) in tokens.iter().zip(self.blanks.iter().cycle()) {
            wire.extend_from_slice(blanks);
            wire.extend_from_slice(token);
        }
        wire.extend_from_slice(&self.trailing_blanks);
        wire.extend_from_slice(if self.bare_newline { b"\n" } else { b"\r\n" });
        wire.extend_from_slice(&body);
        wire.extend_from_slice(b"\r\n");
        wire
    }

    fn body(&self) -> Vec<u8> {
        let mut body = self.headers.clone().unwrap_or_default();
        body.extend_from_slice(&self.payload);
        body
    }

    fn client_wire(&self) -> Vec<u8> {
        self.wire("PUB", None)
    }

    fn server_wire(&self) -> Vec<u8> {
        self.wire("MSG", Some(&self.sid))
    }

    fn client_op(&self) -> ClientOp {
        ClientOp::Pub(Publish {
            subject: Bytes::from(self.subject.clone()),
            reply: self.reply.clone().map(Bytes::from),
            header_len: self.headers.as_ref().map(Vec::len),
            body: Bytes::from(self.body()),
        })
    }

    fn server_op(&self) -> ServerOp {
        ServerOp::Msg(Message {
            subject: Bytes::from(self.subject.clone()),
            sid: Bytes::from(self.sid.clone()),
            reply: self.reply.clone().map(Bytes::from),
            header_len: self.headers.as_ref().map(Vec::len),
            body: Bytes::from(self.body()),
        })
    }
}

/// An argument the fast path takes: no blanks, line ends or control bytes.
fn plain_token() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0x21u8..=0xff, 1..12)
}

fn blank_run() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(&b" \t"[..]), 1..4)
}

fn message_case() -> impl Strategy<Value = MessageCase> {
    (
        (
            plain_token(),
            plain_token(),
            proptest::option::of(plain_token()),
            proptest::option::of(prop::collection::vec(any::<u8>(), 0..24)),
            prop::collection::vec(any::<u8>(), 0..48),
        ),
        (
            prop::collection::vec(any::<bool>(), 1..5),
            prop::collection::vec(blank_run(), 1..6),
            prop::collection::vec(prop::sample::select(&b" \t"[..]), 0..3),
            0usize..10,
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (subject, sid, reply, headers, payload),
                (lower_case, blanks, trailing_blanks, zeros, bare_newline),
            )| MessageCase {
                subject,
                sid,
                reply,
                headers,
                payload,
                lower_case,
                blanks,
                trailing_blanks,
                zeros,
                bare_newline,
            },
        )
}

/// A stream of messages with a few other ops between them; None stands for one of those.
fn message_stream() -> impl Strategy<Value = Vec<Option<MessageCase>>> {
    let piece = prop_oneof![
        6 => message_case().prop_map(Some),
        1 => Just(None),
    ];
    prop::collection::vec(piece, 0..10)
}

/// The wire bytes and expected ops of a stream in both directions.
fn stream_wire(stream: &[Option<MessageCase>]) -> (Vec<u8>, Vec<ClientOp>, Vec<u8>, Vec<ServerOp>) {
    let (mut client_wire, mut client_ops) = (Vec::new(), Vec::new());
    let (mut server_wire, mut server_ops) = (Vec::new(), Vec::new());
    for piece in stream {
        match piece {
            Some(case) => {
                client_wire.extend(case.client_wire());
                client_ops.push(case.client_op());
                server_wire.extend(case.server_wire());
                server_ops.push(case.server_op());
            }
            None => {
                client_wire.extend_from_slice(b"SUB a 1\r\n");
                client_ops.push(ClientOp::Sub {
                    subject: b("a"),
                    queue: None,
                    sid: b("1"),
                });
                server_wire.extend_from_slice(b"PING\r\n");
                server_ops.push(ServerOp::Ping);
            }
        }
    }
    (client_wire, client_ops, server_wire, server_ops)
}

/// Limits around the sizes `message_case` produces, so lines and payloads fall on both
/// sides of them.
fn limits_near_frames() -> impl Strategy<Value = ParserLimits> {
    prop_oneof![
        Just(ParserLimits::default()),
        (0usize..64, 0usize..80).prop_map(|(line, payload)| ParserLimits {
            max_control_line_bytes: line,
            max_payload_bytes: payload,
        }),
    ]
}

/// Bytes that change how a frame parses when written over one of its bytes.
const DISRUPTIVE_BYTES: &[u8] = b"\r\n \t\x00\x01x09P";

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn fast_path_parses_every_spelling_of_a_message(case in message_case()) {
        let limits = ParserLimits::default();
        let mut buf = BytesMut::from(&case.client_wire()[..]);
        prop_assert_eq!(super::fast_path::client_frame(&mut buf, &limits), Some(case.client_op()));
        prop_assert!(buf.is_empty());
        let mut buf = BytesMut::from(&case.server_wire()[..]);
        prop_assert_eq!(super::fast_path::server_frame(&mut buf, &limits), Some(case.server_op()));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn message_streams_parse_alike_with_and_without_the_fast_path(
        stream in message_stream(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let limits = ParserLimits::default();
        let (client_wire, client_ops, server_wire, server_ops) = stream_wire(&stream);
        let expected = Outcome { ops: client_ops, error: None, buffered: Vec::new() };
        prop_assert_eq!(whole::<ClientParser>(limits, &client_wire), expected);
        let chunks = chunked(&client_wire, &cuts);
        prop_assert_eq!(
            feed::<ClientParser>(limits, &chunks),
            feed::<GeneralOnly<ClientParser>>(limits, &chunks)
        );
        let expected = Outcome { ops: server_ops, error: None, buffered: Vec::new() };
        prop_assert_eq!(whole::<ServerParser>(limits, &server_wire), expected);
        let chunks = chunked(&server_wire, &cuts);
        prop_assert_eq!(
            feed::<ServerParser>(limits, &chunks),
            feed::<GeneralOnly<ServerParser>>(limits, &chunks)
        );
    }

    #[test]
    fn damaged_streams_parse_alike_with_and_without_the_fast_path(
        stream in message_stream(),
        damage in prop::collection::vec((any::<usize>(), prop::sample::select(DISRUPTIVE_BYTES)), 0..4),
        cut_at in any::<usize>(),
        cuts in prop::collection::vec(any::<usize>(), 0..4),
        limits in limits_near_frames(),
    ) {
        let (client_wire, _, server_wire, _) = stream_wire(&stream);
        for mut wire in [client_wire, server_wire] {
            for (at, byte) in &damage {
                let len = wire.len();
                if let Some(slot) = wire.get_mut(at % len.max(1)) {
                    *slot = *byte;
                }
            }
            wire.truncate(cut_at % (wire.len() + 1));
            for chunks in [vec![&wire[..]], chunked(&wire, &cuts)] {
                prop_assert_eq!(
                    feed::<ClientParser>(limits, &chunks),
                    feed::<GeneralOnly<ClientParser>>(limits, &chunks)
                );
                prop_assert_eq!(
                    feed::<ServerParser>(limits, &chunks),
                    feed::<GeneralOnly<ServerParser>>(limits, &chunks)
                );
            }
        }
    }

    #[test]
    fn protocolish_input_parses_alike_with_and_without_the_fast_path(
        input in protocolish(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        limits in small_limits(),
    ) {
        for chunks in [vec![&input[..]], chunked(&input, &cuts)] {
            prop_assert_eq!(
                feed::<ClientParser>(limits, &chunks),
                feed::<GeneralOnly<ClientParser>>(limits, &chunks)
            );
            prop_assert_eq!(
                feed::<ServerParser>(limits, &chunks),
                feed::<GeneralOnly<ServerParser>>(limits, &chunks)
            );
        }
    }
}
