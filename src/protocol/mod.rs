//! The NATS client protocol as bytes: parsers, encoders and the INFO/CONNECT JSON.
//!
//! Pure and I/O-free, in the manner of `quinn-proto`: the connection driver hands in the
//! bytes it read and writes out the bytes these functions append, so every behaviour is
//! testable without sockets. nats-server is the reference for every byte: what it
//! accepts, what it rejects, and the `-ERR` text it sends (see the table in `parser.rs`).
//!
//! - [`ClientParser`]/[`ServerParser`] take whole ops off the front of the caller's
//!   `BytesMut`. Payloads come out as `Bytes` slices of that buffer (no copy), and the
//!   limits are enforced before anything is buffered past them, so a client cannot make
//!   the server hold more than `max_control_line_bytes` or `max_payload_bytes` (+ CRLF)
//!   of one op. A PUB/HPUB or MSG/HMSG frame already whole in the buffer takes a
//!   one-pass fast path that returns exactly what the general parser would.
//! - `encode_*` append to a reused `Vec<u8>` without intermediate allocation.
//! - [`ServerInfo`] and [`ConnectOptions`] mirror nats-server's Go structs, including
//!   Go's JSON decoding quirks that real clients may rely on.

mod encode;
mod error;
mod fast_path;
mod json;
mod parser;

#[cfg(test)]
mod tests;

pub use encode::{
    encode_err, encode_msg_line, encode_pub_line, encode_sub, encode_unsub, msg_line_bytes_max,
    no_responders_headers, OK_LINE, PING_LINE, PONG_LINE,
};
pub use error::ProtocolError;
pub use fast_path::PubFrame;
pub use json::{ConnectOptions, ServerInfo};
pub use parser::{
    ClientOp, ClientParser, Message, ParserLimits, Publish, ServerOp, ServerParser,
    MAX_CONTROL_LINE_BYTES_DEFAULT, MAX_PAYLOAD_BYTES_DEFAULT,
};
