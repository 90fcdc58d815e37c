//! The bench tool's side of the protocol: whatever a server sends must not crash it.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tern::protocol::{ParserLimits, ServerParser};

fuzz_target!(|data: &[u8]| {
    let mut parser = ServerParser::new(ParserLimits { max_control_line_bytes: 256, max_payload_bytes: 1024 });
    let mut buf = BytesMut::from(data);
    while let Ok(Some(_op)) = parser.next_op(&mut buf) {}
});
