//! `tern bench sink`: the cheapest server that still speaks NATS. It sends INFO, answers
//! PING with PONG and discards everything else, one thread per connection. Publishing to
//! it measures how fast the bench client itself can go: the tool's ceiling.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use bytes::BytesMut;

use crate::protocol::{ClientOp, ClientParser, ParserLimits, ServerInfo, PONG_LINE};

use super::client::READ_CHUNK_BYTES;
use super::options::SinkArgs;

/// Runs until killed.
pub fn run(args: &SinkArgs) -> Result<(), String> {
    let listener = TcpListener::bind(&args.listen)
        .map_err(|e| format!("can not listen on {}: {e}", args.listen))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("can not read the listening address: {e}"))?;
    // The same words as the server's own line, so scripts find the port the same way.
    eprintln!("tern bench sink: Listening for client connections on {address}");
    let info = ServerInfo {
        server_id: "TERN-BENCH-SINK".to_string(),
        server_name: "tern-bench-sink".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        proto: 1,
        go: "none".to_string(),
        host: address.ip().to_string(),
        port: address.port(),
        headers: true,
        max_payload: crate::protocol::MAX_PAYLOAD_BYTES_DEFAULT as i64,
        ..ServerInfo::default()
    };
    let mut info_line = Vec::new();
    info.write_info(&mut info_line);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let info_line = info_line.clone();
        let _ = thread::Builder::new()
            .name("bench-sink".to_string())
            .spawn(move || {
                let peer = stream
                    .peer_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                let (msgs, bytes) = serve(stream, &info_line);
                eprintln!(
                    "tern bench sink: {peer} closed after {msgs} msgs, {bytes} payload bytes"
                );
            });
    }
    Ok(())
}

/// Serves one connection until it closes or sends garbage: (messages, payload bytes).
fn serve(mut stream: TcpStream, info_line: &[u8]) -> (u64, u64) {
    let _ = stream.set_nodelay(true);
    if stream.write_all(info_line).is_err() {
        return (0, 0);
    }
    let mut parser = ClientParser::new(ParserLimits::default());
    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    let (mut msgs, mut bytes) = (0u64, 0u64);
    loop {
        let read = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return (msgs, bytes),
            Ok(read) => read,
        };
        buf.extend_from_slice(chunk.get(..read).unwrap_or_default());
        let mut pongs = 0;
        loop {
            match parser.next_op(&mut buf) {
                Ok(Some(ClientOp::Pub(publish))) => {
                    msgs += 1;
                    bytes += publish.payload().len() as u64;
                }
                Ok(Some(ClientOp::Ping)) => pongs += 1,
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return (msgs, bytes),
            }
        }
        if pongs > 0 && stream.write_all(&PONG_LINE.repeat(pongs)).is_err() {
            return (msgs, bytes);
        }
    }
}
