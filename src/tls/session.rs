//! One TLS connection, driven sans-IO: the handshake, then the reader and writer halves
//! the connection's tasks use.
//!
//! Both halves share the rustls `ServerConnection` (`Rc<RefCell<_>>`: they run on the same
//! core, and no borrow is held across an await). Only the writer half writes to the socket,
//! so records never interleave; TLS output the reader causes (alerts, key updates) is
//! flushed by the writer when the reader says [`TlsReader::wants_write`].
//!
//! Bounds: ciphertext is read [`TLS_READ_CHUNK_BYTES`] at a time and handed to rustls only
//! while it holds no undelivered plaintext, so rustls buffers at most one read's worth of
//! records; rustls' own outgoing buffer is capped at [`TLS_OUTPUT_BUFFER_BYTES`] and drained
//! to the socket before more plaintext goes in. A record larger than TLS allows is an error
//! in rustls, never a buffer that grows.
//!
//! ```text
//!  socket --read--> buf[start..end] --read_tls/process_new_packets--> rustls --reader()--> parser
//!  parser output --writer()--> rustls --write_tls--> out --write_all--> socket
//! ```

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use rustls::ServerConnection;
use shards::net::{ReadHalf, WriteHalf};

use super::{TlsIdentity, TlsServer};
use crate::limits::{TLS_OUTPUT_BUFFER_BYTES, TLS_OUTPUT_RETAIN_BYTES, TLS_READ_CHUNK_BYTES};

/// How a connection's log lines name it (nats-server's `<peer> - cid:<n> - ` prefix).
#[derive(Clone, Copy)]
pub struct ConnLabel {
    pub cid: u64,
    pub peer: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
}

impl fmt::Display for ConnLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.peer {
            Some(peer) => write!(f, "{peer} - cid:{}", self.cid),
            None => write!(f, "cid:{}", self.cid),
        }
    }
}

/// Why a handshake failed, worded as Go's crypto/tls words it where nats-server users
/// would recognise the log line.
#[derive(Debug)]
pub enum HandshakeError {
    /// The client's first bytes are not a TLS record (a plaintext client).
    NotTls,
    Eof,
    Io(io::Error),
    Tls(rustls::Error),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::NotTls => {
                f.write_str("tls: first record does not look like a TLS handshake")
            }
            HandshakeError::Eof => f.write_str("EOF"),
            HandshakeError::Io(e) => write!(f, "{e}"),
            HandshakeError::Tls(rustls::Error::NoCertificatesPresented) => {
                f.write_str("tls: client didn't provide a certificate")
            }
            HandshakeError::Tls(rustls::Error::InvalidCertificate(e)) => {
                write!(f, "tls: failed to verify client certificate: {e:?}")
            }
            HandshakeError::Tls(rustls::Error::AlertReceived(alert)) => {
                write!(f, "remote error: tls: {alert:?}")
            }
            HandshakeError::Tls(e) => write!(f, "tls: {e}"),
        }
    }
}

/// Go's check on the first record (crypto/tls `readRecordOrCCS`): a handshake or alert
/// record type, and a version below 0x1000.
fn looks_like_tls(first: &[u8]) -> bool {
    const ALERT: u8 = 21;
    const HANDSHAKE: u8 = 22;
    match first {
        [] => true,
        [kind, ..] if *kind != ALERT && *kind != HANDSHAKE => false,
        [_, major, minor, ..] => u16::from_be_bytes([*major, *minor]) < 0x1000,
        _ => true,
    }
}

type Shared = Rc<RefCell<ServerConnection>>;

/// The reading half: ciphertext in, plaintext out.
pub struct TlsReader {
    socket: ReadHalf,
    tls: Shared,
    buf: Box<[u8]>,
    /// Ciphertext read but not yet taken by rustls: `buf[start..end]`.
    start: usize,
    end: usize,
    first_checked: bool,
}

/// The writing half: plaintext in, records out.
pub struct TlsWriter {
    socket: WriteHalf,
    tls: Shared,
    out: Vec<u8>,
}

fn tls_to_io(error: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

impl TlsReader {
    /// Reads from the socket into the empty ciphertext buffer; Ok(0) at end of stream.
    async fn fill(&mut self) -> Result<usize, HandshakeError> {
        debug_assert_eq!(self.start, self.end);
        let n = self
            .socket
            .read(&mut self.buf)
            .await
            .map_err(HandshakeError::Io)?;
        self.start = 0;
        self.end = n;
        if !self.first_checked && n > 0 {
            self.first_checked = true;
            if !looks_like_tls(&self.buf[..n]) {
                return Err(HandshakeError::NotTls);
            }
        }
        Ok(n)
    }

    /// Hands buffered ciphertext to rustls until it is all taken or rustls holds plaintext
    /// for us to read first.
    fn process(&mut self) -> Result<(), rustls::Error> {
        let mut tls = self.tls.borrow_mut();
        while self.start < self.end {
            if tls.process_new_packets()?.plaintext_bytes_to_read() > 0 {
                return Ok(());
            }
            let mut input = &self.buf[self.start..self.end];
            match tls.read_tls(&mut input) {
                Ok(0) | Err(_) => {
                    // rustls takes nothing only when its record buffer is full: the peer
                    // sent a record larger than TLS allows.
                    return Err(rustls::Error::General("TLS record too large".to_string()));
                }
                Ok(taken) => self.start += taken,
            }
        }
        tls.process_new_packets()?;
        Ok(())
    }

    /// Reads plaintext; Ok(0) when the peer closed. Errors end the connection.
    pub async fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.borrow_mut().reader().read(out) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if self.start == self.end {
                match self.fill().await {
                    Ok(0) => return Ok(0),
                    Ok(_) => {}
                    Err(HandshakeError::Io(e)) => return Err(e),
                    Err(e) => {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
                    }
                }
            }
            self.process().map_err(tls_to_io)?;
        }
    }

    /// rustls has records to send that the reader caused (alerts, key updates).
    pub fn wants_write(&self) -> bool {
        self.tls.borrow().wants_write()
    }

    /// Runs the handshake to its end. Bytes the client sent after its last handshake
    /// message stay buffered for [`TlsReader::read`].
    async fn handshake(&mut self, writer: &mut TlsWriter) -> Result<(), HandshakeError> {
        loop {
            writer.flush().await.map_err(HandshakeError::Io)?;
            if !self.tls.borrow().is_handshaking() {
                return Ok(());
            }
            if self.start == self.end && self.fill().await? == 0 {
                return Err(HandshakeError::Eof);
            }
            if let Err(error) = self.process() {
                // Send the alert rustls queued, as Go does, if the socket takes it at once.
                let _ = shards::time::timeout(Duration::from_millis(50), writer.flush()).await;
                return Err(HandshakeError::Tls(error));
            }
        }
    }
}

impl TlsWriter {
    /// Moves rustls' pending records into `out` and writes them.
    pub async fn flush(&mut self) -> io::Result<()> {
        {
            let mut tls = self.tls.borrow_mut();
            while tls.wants_write() {
                tls.write_tls(&mut self.out)?;
            }
        }
        if !self.out.is_empty() {
            self.socket.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Encrypts and writes all of `plain`, at most [`TLS_OUTPUT_BUFFER_BYTES`] of records at
    /// a time.
    pub async fn write_all(&mut self, plain: &[u8]) -> io::Result<()> {
        let mut rest = plain;
        loop {
            let accepted = {
                let mut tls = self.tls.borrow_mut();
                let accepted = tls.writer().write(rest)?;
                while tls.wants_write() {
                    tls.write_tls(&mut self.out)?;
                }
                accepted
            };
            rest = &rest[accepted..];
            if !self.out.is_empty() {
                self.socket.write_all(&self.out).await?;
                self.out.clear();
            }
            if rest.is_empty() {
                if self.out.capacity() > TLS_OUTPUT_RETAIN_BYTES {
                    self.out = Vec::new();
                }
                return Ok(());
            }
            if accepted == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
    }

    /// Writes bytes outside TLS (the INFO that precedes the handshake).
    async fn write_plain(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.socket.write_all(bytes).await
    }

    pub fn shutdown(&self) {
        self.socket.shutdown();
    }
}

/// What is known about a connection's TLS once its handshake completed (for
/// authentication and `/connz`).
#[derive(Clone, Debug, Default)]
pub struct TlsConnInfo {
    /// `1.2` or `1.3`, as nats-server shows it.
    pub version: String,
    /// Go's name of the negotiated suite (`TLS_AES_128_GCM_SHA256`).
    pub cipher_suite: String,
    /// The handshake came before INFO.
    pub handshake_first: bool,
    /// The client certificate's names, with `verify_and_map`.
    pub identity: Option<TlsIdentity>,
}

/// A connection whose handshake completed.
pub struct Established {
    pub reader: TlsReader,
    pub writer: TlsWriter,
    /// INFO went out in plaintext before the handshake; otherwise it is still to be sent
    /// (over TLS).
    pub info_sent: bool,
    pub info: TlsConnInfo,
}

/// Sends INFO and runs the handshake in nats-server's order (INFO first, or handshake
/// first, or handshake first with a fallback to INFO first for clients that wait for
/// INFO), within the TLS timeout. On failure the connection is logged as nats-server logs
/// it, shut down, and `None` returned.
pub async fn establish(
    server: &TlsServer,
    label: ConnLabel,
    socket_reader: ReadHalf,
    socket_writer: WriteHalf,
    info: &[u8],
) -> Option<Established> {
    let tls = match ServerConnection::new(server.config.clone()) {
        Ok(tls) => tls,
        Err(error) => {
            tracing::error!("{label} - TLS handshake error: {error}");
            socket_writer.shutdown();
            return None;
        }
    };
    let tls = Rc::new(RefCell::new(tls));
    tls.borrow_mut()
        .set_buffer_limit(Some(TLS_OUTPUT_BUFFER_BYTES));
    let mut reader = TlsReader {
        socket: socket_reader,
        tls: tls.clone(),
        buf: vec![0; TLS_READ_CHUNK_BYTES].into_boxed_slice(),
        start: 0,
        end: 0,
        first_checked: false,
    };
    let mut writer = TlsWriter {
        socket: socket_writer,
        tls,
        out: Vec::new(),
    };

    let result = shards::time::timeout(server.timeout, async {
        let info_first = match (server.handshake_first, server.handshake_first_fallback) {
            (false, _) => true,
            (true, None) => false,
            (true, Some(delay)) => match shards::time::timeout(delay, reader.fill()).await {
                // The client spoke first: it is doing TLS first.
                Some(Ok(n)) if n > 0 => false,
                Some(Ok(_)) => return Err(HandshakeError::Eof),
                Some(Err(error)) => return Err(error),
                None => true,
            },
        };
        if info_first {
            writer.write_plain(info).await.map_err(HandshakeError::Io)?;
        }
        tracing::debug!("{label} - Starting TLS client connection handshake");
        reader.handshake(&mut writer).await?;
        Ok(info_first)
    })
    .await;

    let info_sent = match result {
        Some(Ok(info_sent)) => info_sent,
        failed => {
            match failed {
                Some(Err(error)) => tracing::error!("{label} - TLS handshake error: {error}"),
                _ => {
                    let local = label
                        .local
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| "?".to_string());
                    let peer = label
                        .peer
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| "?".to_string());
                    tracing::error!(
                        "{label} - TLS handshake error: read tcp {local}->{peer}: i/o timeout"
                    );
                }
            }
            tracing::debug!("{label} - Client connection closed: TLS Handshake Failure");
            writer.shutdown();
            return None;
        }
    };

    let info = {
        let tls = reader.tls.borrow();
        tracing::debug!("{label} - TLS handshake complete");
        let version = tls
            .protocol_version()
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .replace("TLSv1_", "1.");
        let cipher_suite = tls
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("")
            .replacen("TLS13_", "TLS_", 1);
        tracing::debug!("{label} - TLS version {version}, cipher suite {cipher_suite}");
        let identity = match (server.verify_and_map, tls.peer_certificates()) {
            (true, Some([cert, ..])) => match TlsIdentity::from_der(cert) {
                Ok(identity) => Some(identity),
                Err(reason) => {
                    tracing::debug!("{label} - {reason}");
                    None
                }
            },
            _ => None,
        };
        TlsConnInfo {
            version,
            cipher_suite,
            handshake_first: !info_sent,
            identity,
        }
    };
    Some(Established {
        reader,
        writer,
        info_sent,
        info,
    })
}

#[cfg(test)]
mod tests {
    use super::looks_like_tls;

    #[test]
    fn first_record_check_is_gos() {
        assert!(looks_like_tls(&[22, 3, 1, 0, 200]));
        assert!(looks_like_tls(&[21, 3, 3]));
        assert!(looks_like_tls(&[22]));
        assert!(!looks_like_tls(b"CONNECT {}\r\n"));
        assert!(!looks_like_tls(b"PING\r\n"));
        assert!(!looks_like_tls(&[22, 0x10, 0]));
        assert!(!looks_like_tls(&[23, 3, 3]));
    }
}
