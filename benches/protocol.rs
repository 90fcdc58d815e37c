//! The protocol layer's hot paths: parsing what publishers send (the server's inbound
//! cost per message), parsing what the server delivers (the bench subscriber's cost),
//! and encoding a MSG line (the server's outbound cost per delivery).
//!
//! Run: `cargo bench --bench protocol`

#[path = "cost/mod.rs"]
mod cost;

use bytes::{Buf, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

use tern::protocol::{
    encode_msg_line, encode_pub_line, ClientOp, ClientParser, ParserLimits, ServerOp, ServerParser,
};

const TARGET: &str = "protocol";
/// Frames per routine call: enough that setting up the buffer is noise.
const FRAMES: usize = 1000;
const SUBJECT: &[u8] = b"tern.bench";

/// A reply subject as nats.go's request/reply makes them.
const REPLY: &[u8] = b"_INBOX.Hq2Jk3ZPx0GgJm5wGmJ6pY.Hq2Jk3ZPx0GgJm5wGmJ6uL";
/// The header block of the HPUB case.
const HEADERS: &[u8] = b"NATS/1.0\r\nNats-Msg-Id: 4711\r\n\r\n";

/// `FRAMES` PUB frames of `size` body bytes, or HPUB frames (with `HEADERS`) if
/// `with_headers`.
fn pub_frames(size: usize, reply: Option<&[u8]>, with_headers: bool) -> Vec<u8> {
    let header_len = with_headers.then_some(HEADERS.len());
    let mut frames = Vec::new();
    for _ in 0..FRAMES {
        encode_pub_line(&mut frames, SUBJECT, reply, header_len, size);
        let headers: &[u8] = if with_headers { HEADERS } else { b"" };
        frames.extend_from_slice(headers);
        frames.extend(std::iter::repeat_n(b'x', size - headers.len()));
        frames.extend_from_slice(b"\r\n");
    }
    frames
}

fn msg_frames(size: usize) -> Vec<u8> {
    let mut frames = Vec::new();
    for _ in 0..FRAMES {
        encode_msg_line(&mut frames, SUBJECT, b"1", None, None, size);
        frames.extend(std::iter::repeat_n(b'x', size));
        frames.extend_from_slice(b"\r\n");
    }
    frames
}

fn parsers(c: &mut Criterion) {
    let cases = [
        (
            "pub_16",
            "PUB frame with a 16 B payload",
            pub_frames(16, None, false),
        ),
        (
            "pub_128",
            "PUB frame with a 128 B payload",
            pub_frames(128, None, false),
        ),
        (
            "pub_1024",
            "PUB frame with a 1 KiB payload",
            pub_frames(1024, None, false),
        ),
        (
            "hpub_reply_128",
            "HPUB frame with a reply subject, 128 B body of which 31 B headers",
            pub_frames(128, Some(REPLY), true),
        ),
    ];
    for (id, what, frames) in cases {
        let mut parser = ClientParser::new(ParserLimits::default());
        cost::measure(
            c,
            TARGET,
            &format!("client_parser/{id}"),
            &format!("parsing one {what} (ClientParser, incl. the copy into the read buffer)"),
            FRAMES as u64,
            || {
                let mut buf = BytesMut::from(&frames[..]);
                let mut count = 0;
                while let Ok(Some(op)) = parser.next_op(&mut buf) {
                    if let ClientOp::Pub(publish) = op {
                        count += publish.body.len();
                    }
                }
                black_box(count);
            },
        );
    }
    // What the server does with most publishes since it routes them from the read
    // buffer: find the frame, read its parts in place, advance past it (no `Bytes`).
    for (size, label) in [(16, "16 B"), (128, "128 B"), (1024, "1 KiB")] {
        let frames = pub_frames(size, None, false);
        let parser = ClientParser::new(ParserLimits::default());
        cost::measure(
            c,
            TARGET,
            &format!("client_parser/pub_in_place_{size}"),
            &format!("locating one PUB frame with a {label} payload in place (ClientParser::whole_pub + advance, incl. the copy into the read buffer)"),
            FRAMES as u64,
            || {
                let mut buf = BytesMut::from(&frames[..]);
                let mut count = 0;
                while let Some(frame) = parser.whole_pub(&buf) {
                    count += frame.body(&buf).len() + frame.subject(&buf).len();
                    buf.advance(frame.len());
                }
                black_box(count);
            },
        );
    }
    for (size, label) in [(16, "16 B"), (128, "128 B"), (1024, "1 KiB")] {
        let frames = msg_frames(size);
        let mut parser = ServerParser::new(ParserLimits::default());
        cost::measure(
            c,
            TARGET,
            &format!("server_parser/msg_{size}"),
            &format!("parsing one MSG frame with a {label} payload (ServerParser, the bench subscriber's cost)"),
            FRAMES as u64,
            || {
                let mut buf = BytesMut::from(&frames[..]);
                let mut count = 0;
                while let Ok(Some(op)) = parser.next_op(&mut buf) {
                    if let ServerOp::Msg(message) = op {
                        count += message.body.len();
                    }
                }
                black_box(count);
            },
        );
    }
}

fn encoders(c: &mut Criterion) {
    let mut out = Vec::with_capacity(FRAMES * 64);
    cost::measure(
        c,
        TARGET,
        "encode/msg_line",
        "encoding one MSG control line (encode_msg_line)",
        FRAMES as u64,
        || {
            out.clear();
            for sid in 0..FRAMES {
                encode_msg_line(
                    &mut out,
                    SUBJECT,
                    b"17",
                    None,
                    None,
                    black_box(128 + sid % 2),
                );
            }
            black_box(out.len());
        },
    );
    cost::measure(
        c,
        TARGET,
        "encode/msg_line_reply_headers",
        "encoding one HMSG control line with a reply subject",
        FRAMES as u64,
        || {
            out.clear();
            for sid in 0..FRAMES {
                encode_msg_line(
                    &mut out,
                    SUBJECT,
                    b"17",
                    Some(b"_INBOX.abcdef.12345"),
                    Some(42),
                    black_box(170 + sid % 2),
                );
            }
            black_box(out.len());
        },
    );
}

criterion_group! {
    name = benches;
    config = cost::criterion();
    targets = parsers, encoders
}
criterion_main!(benches);
