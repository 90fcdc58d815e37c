//! A minimal synchronous NATS client, built for load generation: one OS thread per
//! connection, blocking `std::net::TcpStream`, the protocol layer's [`ServerParser`] and
//! encoders, and no allocation per message in steady state.
//!
//! A connection is two halves over clones of one socket, so a paced requester can send
//! from one thread while another reads the replies:
//! - [`Writer`] appends protocol to one buffer and writes it when it passes
//!   [`WRITE_FLUSH_BYTES`] or when the caller ends a burst ([`Writer::flush`]).
//! - [`Reader`] reads [`READ_CHUNK_BYTES`] at a time and hands every complete op to a
//!   callback. A server `PING` is counted in a counter both halves share, and the writer
//!   puts the `PONG` in front of its next write, so only the writer ever writes.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::protocol::{
    encode_pub_line, encode_sub, encode_unsub, ConnectOptions, ParserLimits, ProtocolError,
    ServerInfo, ServerOp, ServerParser, PING_LINE, PONG_LINE,
};

use super::options::{ServerUrl, TIMESTAMP_BYTES};

/// A writer sends once its buffer holds this much: big enough that a syscall carries
/// hundreds of small messages, small enough to stay in L2.
pub const WRITE_FLUSH_BYTES: usize = 64 * 1024;
/// Bytes asked of the socket per read.
pub const READ_CHUNK_BYTES: usize = 256 * 1024;
/// How long the server may take to send INFO and answer CONNECT + PING.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A blocked read returns after this long, so loops can look at their stop conditions.
pub const READ_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Payloads the tool accepts from a server: generous, the server enforces its own.
const PAYLOAD_BYTES_MAX: usize = 64 * 1024 * 1024;

#[derive(thiserror::Error, Debug)]
pub enum ClientError {
    #[error("can not connect to {address}: {source}")]
    Connect { address: String, source: io::Error },
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
    #[error("the server sent something unparseable: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("the server answered -ERR '{0}'")]
    Server(String),
    #[error("the server closed the connection")]
    Closed,
    #[error("no answer from the server within {0:?}")]
    Timeout(Duration),
    #[error("the server's INFO does not parse: {0}")]
    Info(ProtocolError),
}

/// What one [`Reader::read_some`] call saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Bytes arrived (and every complete op in them was handled).
    Data,
    /// Nothing arrived within the socket's read timeout (or, non-blocking, nothing was there).
    Idle,
}

/// The sending half.
pub struct Writer {
    stream: TcpStream,
    out: Vec<u8>,
    pongs_owed: Arc<AtomicU32>,
}

impl Writer {
    /// Appends a PUB (or HPUB when `headers` is non-empty). With `stamp_ns`, the payload's
    /// first 8 bytes are replaced by it, little-endian. Writes out a full buffer.
    pub fn publish(
        &mut self,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: &[u8],
        payload: &[u8],
        stamp_ns: Option<u64>,
    ) -> io::Result<()> {
        let header_len = (!headers.is_empty()).then_some(headers.len());
        encode_pub_line(
            &mut self.out,
            subject,
            reply,
            header_len,
            headers.len() + payload.len(),
        );
        self.out.extend_from_slice(headers);
        let payload_at = self.out.len();
        self.out.extend_from_slice(payload);
        if let Some(stamp) = stamp_ns {
            if let Some(slot) = self.out.get_mut(payload_at..payload_at + TIMESTAMP_BYTES) {
                slot.copy_from_slice(&stamp.to_le_bytes());
            }
        }
        self.out.extend_from_slice(b"\r\n");
        if self.out.len() >= WRITE_FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    pub fn subscribe(&mut self, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
        encode_sub(&mut self.out, subject, queue, sid);
    }

    pub fn unsubscribe(&mut self, sid: &[u8]) {
        encode_unsub(&mut self.out, sid, None);
    }

    pub fn ping(&mut self) {
        self.out.extend_from_slice(PING_LINE);
    }

    /// Writes everything buffered, owed PONGs first.
    pub fn flush(&mut self) -> io::Result<()> {
        let owed = self.pongs_owed.swap(0, Ordering::Relaxed);
        if owed > 0 {
            // Rare (a server pings an idle client every few seconds at most): the copy
            // to put PONGs in front does not matter.
            let mut pongs = PONG_LINE.repeat(owed as usize);
            pongs.extend_from_slice(&self.out);
            self.out = pongs;
        }
        if !self.out.is_empty() {
            self.stream.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    /// Bytes buffered and not yet written.
    pub fn buffered_bytes(&self) -> usize {
        self.out.len()
    }

    /// Whether the reader saw PINGs that still need a PONG.
    pub fn owes_pongs(&self) -> bool {
        self.pongs_owed.load(Ordering::Relaxed) > 0
    }
}

/// The receiving half.
pub struct Reader {
    stream: TcpStream,
    buf: BytesMut,
    chunk: Box<[u8]>,
    parser: ServerParser,
    pongs_owed: Arc<AtomicU32>,
}

impl Reader {
    /// One read (blocking up to the socket's read timeout), then every complete op to
    /// `on_op`. PING is answered through the writer; `-ERR` ends the connection with
    /// [`ClientError::Server`]; everything else (MSG, PONG, INFO, +OK) goes to `on_op`.
    pub fn read_some(
        &mut self,
        mut on_op: impl FnMut(ServerOp),
    ) -> Result<ReadOutcome, ClientError> {
        let read = match self.stream.read(&mut self.chunk) {
            Ok(0) => return Err(ClientError::Closed),
            Ok(read) => read,
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                return Ok(ReadOutcome::Idle)
            }
            Err(err) => return Err(err.into()),
        };
        self.buf
            .extend_from_slice(self.chunk.get(..read).unwrap_or_default());
        while let Some(op) = self.parser.next_op(&mut self.buf)? {
            match op {
                ServerOp::Ping => {
                    self.pongs_owed.fetch_add(1, Ordering::Relaxed);
                }
                ServerOp::Err(text) => {
                    return Err(ClientError::Server(
                        String::from_utf8_lossy(&text).into_owned(),
                    ))
                }
                op => on_op(op),
            }
        }
        Ok(ReadOutcome::Data)
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }
}

/// A connected, authenticated client.
pub struct Connection {
    pub writer: Writer,
    pub reader: Reader,
    pub info: ServerInfo,
}

impl Connection {
    /// Connects, reads INFO, sends CONNECT (non-verbose, headers on) and waits for the
    /// PONG that proves the server accepted it. Reads then block at most
    /// [`READ_POLL_INTERVAL`].
    pub fn connect(server: &ServerUrl, name: &str) -> Result<Connection, ClientError> {
        Connection::connect_with(server, connect_options(server, name))
    }

    /// [`Connection::connect`] with CONNECT options of the caller's choosing.
    pub fn connect_with(
        server: &ServerUrl,
        options: ConnectOptions,
    ) -> Result<Connection, ClientError> {
        let stream =
            TcpStream::connect(&server.address).map_err(|source| ClientError::Connect {
                address: server.address.clone(),
                source,
            })?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(READ_POLL_INTERVAL))?;
        let pongs_owed = Arc::new(AtomicU32::new(0));
        let mut connection = Connection {
            writer: Writer {
                stream: stream.try_clone()?,
                out: Vec::with_capacity(WRITE_FLUSH_BYTES + 1024),
                pongs_owed: pongs_owed.clone(),
            },
            reader: Reader {
                stream,
                buf: BytesMut::with_capacity(READ_CHUNK_BYTES),
                chunk: vec![0; READ_CHUNK_BYTES].into_boxed_slice(),
                parser: ServerParser::new(ParserLimits {
                    max_control_line_bytes: ParserLimits::default().max_control_line_bytes,
                    max_payload_bytes: PAYLOAD_BYTES_MAX,
                }),
                pongs_owed,
            },
            info: ServerInfo::default(),
        };
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        let mut info = None;
        while info.is_none() {
            if Instant::now() > deadline {
                return Err(ClientError::Timeout(HANDSHAKE_TIMEOUT));
            }
            connection.reader.read_some(|op| {
                if let ServerOp::Info(json) = op {
                    info = Some(ServerInfo::from_json(&json));
                }
            })?;
        }
        connection.info = info
            .unwrap_or_else(|| Ok(ServerInfo::default()))
            .map_err(ClientError::Info)?;
        options.write_connect(&mut connection.writer.out);
        connection.ping_pong(HANDSHAKE_TIMEOUT, |_| {})?;
        Ok(connection)
    }

    /// Sends PING and reads until its PONG: everything written before it has been
    /// processed by the server. Messages that arrive meanwhile go to `on_op`.
    pub fn ping_pong(
        &mut self,
        timeout: Duration,
        mut on_op: impl FnMut(ServerOp),
    ) -> Result<(), ClientError> {
        self.writer.ping();
        self.writer.flush()?;
        let deadline = Instant::now() + timeout;
        let mut ponged = false;
        while !ponged {
            if Instant::now() > deadline {
                return Err(ClientError::Timeout(timeout));
            }
            self.reader.read_some(|op| match op {
                ServerOp::Pong => ponged = true,
                op => on_op(op),
            })?;
            if self.writer.owes_pongs() {
                self.writer.flush()?;
            }
        }
        Ok(())
    }

    /// Handles whatever the server sent without waiting (a publisher's periodic look:
    /// answers PINGs, surfaces `-ERR`). Messages are dropped.
    pub fn poll_incoming(&mut self) -> Result<(), ClientError> {
        self.reader.stream.set_nonblocking(true)?;
        let outcome = self.reader.read_some(|_| {});
        self.reader.stream.set_nonblocking(false)?;
        outcome?;
        if self.writer.owes_pongs() {
            self.writer.flush()?;
        }
        Ok(())
    }
}

/// Nanoseconds since the Unix epoch: a clock every process on the host shares, so a
/// subscriber in another process can compute latency from a publisher's stamp.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
}

/// The timestamp in a payload's first 8 bytes, if it has them.
pub fn payload_stamp(payload: &[u8]) -> Option<u64> {
    let bytes: [u8; TIMESTAMP_BYTES] = payload.get(..TIMESTAMP_BYTES)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// A header block with `fields` fields: `NATS/1.0\r\nBench-Header-1: value-1\r\n...\r\n`.
/// Empty when `fields` is 0 (plain PUB).
pub fn header_block(fields: usize) -> Vec<u8> {
    if fields == 0 {
        return Vec::new();
    }
    let mut block = b"NATS/1.0\r\n".to_vec();
    for field in 1..=fields {
        block.extend_from_slice(format!("Bench-Header-{field}: value-{field}\r\n").as_bytes());
    }
    block.extend_from_slice(b"\r\n");
    block
}

/// The CONNECT every bench connection sends: quiet (no +OK), headers on, the URL's credentials.
pub fn connect_options(server: &ServerUrl, name: &str) -> ConnectOptions {
    ConnectOptions {
        verbose: false,
        pedantic: false,
        auth_token: server.token.clone(),
        user: server.user.clone(),
        pass: server.password.clone(),
        name: Some(name.to_string()),
        lang: Some("rust".to_string()),
        version: Some(env!("CARGO_PKG_VERSION").to_string()),
        protocol: 1,
        headers: true,
        ..ConnectOptions::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip() {
        let stamp = 1_700_000_000_123_456_789u64;
        let mut payload = vec![0u8; 16];
        payload[..8].copy_from_slice(&stamp.to_le_bytes());
        assert_eq!(payload_stamp(&payload), Some(stamp));
        assert_eq!(payload_stamp(&payload[..7]), None);
    }

    #[test]
    fn header_blocks() {
        assert!(header_block(0).is_empty());
        assert_eq!(
            header_block(2),
            b"NATS/1.0\r\nBench-Header-1: value-1\r\nBench-Header-2: value-2\r\n\r\n"
        );
    }

    #[test]
    fn clock_moves_forward() {
        let a = now_ns();
        let b = now_ns();
        assert!(a > 1_600_000_000_000_000_000 && b >= a);
    }
}
