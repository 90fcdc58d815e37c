//! `tern kv` and `tern object`: Key-Value and Object Store from the command line, against
//! any NATS server with JetStream (tern or nats-server), in the manner of the `nats` CLI.
//!
//! - [`client`], a small synchronous client (requests, subscriptions, push consumers read
//!   to their end with flow control), on the bench tool's connection.
//! - [`kv`], the commands `add/put/create/update/get/del/purge/history/watch/ls/status/rm`.
//! - [`object`], the commands `add/put/get/ls/info/del/rm`, streaming files in chunks.

pub mod client;
pub mod kv;
pub mod object;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

use crate::bench::options::{parse_server, ConnectionArgs};

#[derive(Parser, Debug)]
#[command(
    name = "tern kv",
    about = "Key-Value buckets on a NATS server with JetStream"
)]
struct KvCli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(subcommand)]
    command: kv::KvCommand,
}

#[derive(Parser, Debug)]
#[command(
    name = "tern object",
    about = "Object Store buckets on a NATS server with JetStream"
)]
struct ObjectCli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(subcommand)]
    command: object::ObjectCommand,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    File,
    Memory,
}

impl Storage {
    pub fn as_str(self) -> &'static str {
        match self {
            Storage::File => "file",
            Storage::Memory => "memory",
        }
    }
}

/// `tern kv <args>` and `tern object <args>`: `which` is "kv" or "object", `args` what
/// follows it.
pub fn main(which: &str, args: &[String]) -> ExitCode {
    let argv = std::iter::once(format!("tern {which}")).chain(args.iter().cloned());
    let result = if which == "kv" {
        match KvCli::try_parse_from(argv) {
            Ok(cli) => kv::run(&cli.connection, cli.command),
            Err(error) => return usage(error),
        }
    } else {
        match ObjectCli::try_parse_from(argv) {
            Ok(cli) => object::run(&cli.connection, cli.command),
            Err(error) => return usage(error),
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tern {which}: {error}");
            ExitCode::from(1)
        }
    }
}

fn usage(error: clap::Error) -> ExitCode {
    let _ = error.print();
    if error.use_stderr() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// Connects and checks that the server has JetStream.
fn open(connection: &ConnectionArgs, name: &str) -> Result<client::Client, String> {
    let server = parse_server(connection)?;
    let client = client::Client::connect(&server, name)?;
    if !client.has_jetstream() {
        return Err(format!(
            "the server at {} has no JetStream (start it with -js)",
            server.display()
        ));
    }
    Ok(client)
}

/// A Go duration (`1h30m`, `500ms`) or plain seconds, in nanoseconds.
fn parse_duration_nanos(text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds.saturating_mul(1_000_000_000));
    }
    crate::jetstream::api::duration::parse_go_duration(text)
        .map_err(|e| format!("invalid duration {text:?}: {e:?}"))
}

/// A titled two-column block, as the `nats` CLI prints its info views.
fn print_status(out: &mut impl Write, title: &str, rows: &[(&str, String)]) -> Result<(), String> {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut text = format!("{title}\n\n");
    for (key, value) in rows {
        text.push_str(&format!("  {key:>width$}: {value}\n"));
    }
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())
}

/// JetStream's "stream not found": a bucket that does not exist.
const ERR_STREAM_NOT_FOUND: u64 = 10059;

fn io(error: std::io::Error) -> String {
    error.to_string()
}

/// ADR-8's bucket names (KV and Object Store alike).
fn check_bucket(bucket: &str) -> Result<(), String> {
    let valid = !bucket.is_empty()
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(format!("invalid bucket name {bucket:?}"))
    }
}

/// Deletes the stream behind a bucket (`stream_prefix` is `KV_` or `OBJ_`).
fn delete_bucket(
    client: &mut client::Client,
    stream_prefix: &str,
    bucket: &str,
) -> Result<(), String> {
    check_bucket(bucket)?;
    client
        .api(
            &format!("$JS.API.STREAM.DELETE.{stream_prefix}{bucket}"),
            &serde_json::Value::Null,
        )?
        .map_err(|e| match e.err_code {
            ERR_STREAM_NOT_FOUND => format!("bucket {bucket} not found"),
            _ => e.to_string(),
        })?;
    Ok(())
}
