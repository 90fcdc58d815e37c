//! `tern bench conns`: opens many idle connections (optionally with subscriptions) and
//! holds them, so a server's memory per connection and per subscription can be read
//! (e.g. VmRSS in /proc/PID/status) while they are open. Small buffers per connection:
//! the tool must not need more memory than the server it measures.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use bytes::BytesMut;

use crate::protocol::{encode_sub, ParserLimits, ServerOp, ServerParser, PING_LINE};

use super::client::{connect_options, HANDSHAKE_TIMEOUT};
use super::options::{parse_server, ConnsArgs};

/// Read buffer of each idle connection.
const IDLE_READ_BYTES: usize = 4096;

pub fn run(args: &ConnsArgs) -> Result<(), String> {
    let server = parse_server(&args.connection)?;
    let started = Instant::now();
    let mut connections = Vec::with_capacity(args.clients);
    let mut out = Vec::new();
    for index in 0..args.clients {
        let mut stream = TcpStream::connect(&server.address).map_err(|e| {
            format!(
                "connection {index} to {}: {e}{}",
                server.address,
                if e.raw_os_error() == Some(libc::EMFILE) {
                    " (raise the open file limit: ulimit -n)"
                } else {
                    ""
                }
            )
        })?;
        stream
            .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
            .map_err(|e| e.to_string())?;
        out.clear();
        connect_options(&server, &format!("tern-bench-idle-{index}")).write_connect(&mut out);
        for sub in 0..args.subs {
            let subject = format!("{}.{index}.{sub}", args.subject);
            encode_sub(
                &mut out,
                subject.as_bytes(),
                None,
                (sub + 1).to_string().as_bytes(),
            );
        }
        out.extend_from_slice(PING_LINE);
        stream
            .write_all(&out)
            .map_err(|e| format!("connection {index}: {e}"))?;
        wait_for_pong(&mut stream).map_err(|e| format!("connection {index}: {e}"))?;
        connections.push(stream);
    }
    println!(
        "ready: {} connections, {} subscriptions, opened in {:.2}s; holding for {:?}",
        args.clients,
        args.clients * args.subs,
        started.elapsed().as_secs_f64(),
        args.duration
    );
    std::thread::sleep(args.duration);
    drop(connections);
    println!("done");
    Ok(())
}

/// Reads (INFO, maybe +OK) until the PONG that says CONNECT and the SUBs were accepted.
fn wait_for_pong(stream: &mut TcpStream) -> Result<(), String> {
    let mut parser = ServerParser::new(ParserLimits::default());
    let mut buf = BytesMut::with_capacity(IDLE_READ_BYTES);
    let mut chunk = [0u8; IDLE_READ_BYTES];
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    while Instant::now() < deadline {
        let read = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("the server closed the connection".to_string());
        }
        buf.extend_from_slice(chunk.get(..read).unwrap_or_default());
        while let Some(op) = parser.next_op(&mut buf).map_err(|e| e.to_string())? {
            match op {
                ServerOp::Pong => return Ok(()),
                ServerOp::Err(text) => {
                    return Err(format!("-ERR '{}'", String::from_utf8_lossy(&text)))
                }
                _ => {}
            }
        }
    }
    Err(format!("no PONG within {HANDSHAKE_TIMEOUT:?}"))
}
