//! Everything a client can send before and after authentication goes through this parser.
//! The input is split into chunks at fuzzer-chosen points (the first byte picks the chunk
//! size), so partial-frame handling is exercised too; the invariant checked besides "no
//! panic" is that the buffer never holds more than the limits allow.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tern::protocol::{ClientParser, ParserLimits};

const CONTROL_LINE_MAX: usize = 256;
const PAYLOAD_MAX: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk_seed, input)) = data.split_first() else { return };
    let chunk = usize::from(chunk_seed % 32) + 1;
    let mut parser = ClientParser::new(ParserLimits {
        max_control_line_bytes: CONTROL_LINE_MAX,
        max_payload_bytes: PAYLOAD_MAX,
    });
    let mut buf = BytesMut::new();
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match parser.next_op(&mut buf) {
                Ok(Some(_op)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
        // A waiting partial op is bounded by a control line or a payload plus CRLF.
        assert!(buf.len() <= CONTROL_LINE_MAX + PAYLOAD_MAX + 2 + 64, "buffered {} bytes", buf.len());
    }
});
