//! What a client connection's reader and writer tasks read from and write to: the plain
//! socket halves, or the TLS halves over them ([`crate::tls::session`]).
//!
//! An enum rather than a trait object: the plaintext path costs one branch per socket
//! read or write (not per message), with no extra copy and no dynamic dispatch.

use std::io;

use shards::net::{ReadHalf, WriteHalf};

use crate::tls::session::{TlsReader, TlsWriter};

pub enum ClientReader {
    Plain(ReadHalf),
    Tls(Box<TlsReader>),
}

impl ClientReader {
    /// Reads what is available into `buf`; Ok(0) at end of stream.
    #[inline]
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ClientReader::Plain(socket) => socket.read(buf).await,
            ClientReader::Tls(tls) => tls.read(buf).await,
        }
    }

    /// The transport has output of its own for the writer to send (TLS alerts, key
    /// updates that reading caused).
    #[inline]
    pub fn wants_write(&self) -> bool {
        match self {
            ClientReader::Plain(_) => false,
            ClientReader::Tls(tls) => tls.wants_write(),
        }
    }
}

pub enum ClientWriter {
    Plain(WriteHalf),
    Tls(Box<TlsWriter>),
}

impl ClientWriter {
    #[inline]
    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            ClientWriter::Plain(socket) => socket.write_all(buf).await,
            ClientWriter::Tls(tls) => tls.write_all(buf).await,
        }
    }

    /// Sends the transport's own pending output (nothing for plain sockets).
    #[inline]
    pub async fn flush_transport(&mut self) -> io::Result<()> {
        match self {
            ClientWriter::Plain(_) => Ok(()),
            ClientWriter::Tls(tls) => tls.flush().await,
        }
    }

    /// Shuts down both directions, so the peer and our own reader see the end.
    pub fn shutdown(&self) {
        match self {
            ClientWriter::Plain(socket) => socket.shutdown(),
            ClientWriter::Tls(tls) => tls.shutdown(),
        }
    }
}

/// Sends INFO and, on a TLS listener, runs the handshake (in the order the configuration
/// asks for); then hands back the halves the connection's tasks use. `None` when the
/// handshake failed: that is logged, and the socket is shut.
///
/// A connection over `max_connections` (`admitted` false) gets no handshake: like
/// nats-server, it is sent INFO and then its -ERR in plaintext.
pub async fn open(
    shared: &super::Shared,
    client: &super::client::ClientShared,
    label: crate::tls::session::ConnLabel,
    reader: ReadHalf,
    writer: WriteHalf,
    info: &[u8],
    admitted: bool,
) -> Option<(ClientReader, ClientWriter)> {
    let tls = match &shared.tls {
        Some(tls) if admitted => tls,
        _ => {
            client.send(info);
            return Some((ClientReader::Plain(reader), ClientWriter::Plain(writer)));
        }
    };
    let established = crate::tls::session::establish(tls, label, reader, writer, info).await?;
    if !established.info_sent {
        client.send(info);
    }
    let _ = client.tls.set(established.info);
    Some((
        ClientReader::Tls(Box::new(established.reader)),
        ClientWriter::Tls(Box::new(established.writer)),
    ))
}
