//! `tern bench sink`: the cheapest server that still speaks NATS. It sends INFO, answers
//! PING with PONG and discards everything else, one thread per connection. Publishing to
//! it measures how fast the bench client itself can go: the tool's ceiling.
//!
//! For `js pub`, it also acknowledges at once: a publish with a reply subject gets a PubAck
//! (`{"stream":"sink","seq":N}`) on that subject if the connection subscribed to it, and
//! the stream API requests the tool makes (`STREAM.INFO`, `CREATE`, `PURGE`) get answers
//! that say an empty file stream exists. Nothing is stored.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use bytes::{Bytes, BytesMut};

use crate::protocol::{
    encode_msg_line, ClientOp, ClientParser, ParserLimits, ServerInfo, PONG_LINE,
};
use crate::routing::subject_matches_filter;

/// Subscriptions the sink remembers per connection (for delivering acks); more are ignored.
const SINK_SUBSCRIPTIONS_MAX: usize = 1024;

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
        jetstream: true,
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
    let mut out = Vec::new();
    let mut subscriptions: Vec<(Bytes, Bytes)> = Vec::new();
    let (mut msgs, mut bytes) = (0u64, 0u64);
    loop {
        let read = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return (msgs, bytes),
            Ok(read) => read,
        };
        buf.extend_from_slice(chunk.get(..read).unwrap_or_default());
        loop {
            match parser.next_op(&mut buf) {
                Ok(Some(ClientOp::Pub(publish))) => {
                    msgs += 1;
                    bytes += publish.payload().len() as u64;
                    if let Some(reply) = &publish.reply {
                        let answer = answer_to(&publish.subject, msgs);
                        deliver(&mut out, &subscriptions, reply, &answer);
                    }
                }
                Ok(Some(ClientOp::Sub { subject, sid, .. })) => {
                    if subscriptions.len() < SINK_SUBSCRIPTIONS_MAX {
                        subscriptions.push((subject, sid));
                    }
                }
                Ok(Some(ClientOp::Unsub { sid, .. })) => {
                    subscriptions.retain(|(_, kept)| *kept != sid);
                }
                Ok(Some(ClientOp::Ping)) => out.extend_from_slice(PONG_LINE),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return (msgs, bytes),
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).is_err() {
                return (msgs, bytes);
            }
            out.clear();
        }
    }
}

/// What the sink answers a publish with a reply subject: a PubAck, or for the stream API
/// requests `js pub` makes, an empty file stream capturing everything.
pub fn answer_to(subject: &[u8], seq: u64) -> Vec<u8> {
    let Some(api) = subject.strip_prefix(b"$JS.API.") else {
        return format!(r#"{{"stream":"sink","seq":{seq}}}"#).into_bytes();
    };
    let name = String::from_utf8_lossy(api.rsplit(|&byte| byte == b'.').next().unwrap_or_default());
    if api.starts_with(b"STREAM.INFO.") || api.starts_with(b"STREAM.CREATE.") {
        format!(
            r#"{{"type":"io.nats.jetstream.api.v1.stream_info_response","config":{{"name":"{name}","subjects":[">"],"storage":"file","num_replicas":1}},"state":{{"messages":0,"bytes":0}}}}"#
        )
        .into_bytes()
    } else if api.starts_with(b"STREAM.PURGE.") {
        br#"{"type":"io.nats.jetstream.api.v1.stream_purge_response","success":true,"purged":0}"#
            .to_vec()
    } else {
        br#"{"error":{"code":400,"err_code":0,"description":"tern bench sink answers only STREAM.INFO, CREATE and PURGE"}}"#
            .to_vec()
    }
}

/// Appends `MSG <reply> <sid> <len>` and `payload` if one of the subscriptions matches.
fn deliver(out: &mut Vec<u8>, subscriptions: &[(Bytes, Bytes)], reply: &[u8], payload: &[u8]) {
    let Some((_, sid)) = subscriptions
        .iter()
        .find(|(filter, _)| subject_matches_filter(filter, reply))
    else {
        return;
    };
    encode_msg_line(out, reply, sid, None, None, payload.len());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_and_stream_answers() {
        assert_eq!(
            answer_to(b"tern.bench.js", 7),
            br#"{"stream":"sink","seq":7}"#
        );
        let info: serde_json::Value =
            serde_json::from_slice(&answer_to(b"$JS.API.STREAM.INFO.benchstream", 1)).unwrap();
        assert_eq!(info["config"]["name"], "benchstream");
        assert_eq!(info["state"]["messages"], 0);
        assert!(info.get("error").is_none());
        let purge: serde_json::Value =
            serde_json::from_slice(&answer_to(b"$JS.API.STREAM.PURGE.x", 1)).unwrap();
        assert_eq!(purge["purged"], 0);
        let other: serde_json::Value =
            serde_json::from_slice(&answer_to(b"$JS.API.CONSUMER.CREATE.x", 1)).unwrap();
        assert!(other["error"]["description"].is_string());
    }

    #[test]
    fn replies_go_to_a_matching_subscription_only() {
        let subscriptions = vec![(Bytes::from_static(b"_INBOX.a.*"), Bytes::from_static(b"9"))];
        let mut out = Vec::new();
        deliver(&mut out, &subscriptions, b"_INBOX.a.12", b"{}");
        assert_eq!(out, b"MSG _INBOX.a.12 9 2\r\n{}\r\n");
        out.clear();
        deliver(&mut out, &subscriptions, b"_INBOX.b.12", b"{}");
        assert!(out.is_empty());
    }
}
