//! `tern kv`: Key-Value buckets over streams, as the `nats` CLI and the official clients
//! lay them out (stream `KV_<bucket>`, subjects `$KV.<bucket>.<key>`, ADR-8).

use std::io::Write;

use base64::Engine;
use clap::Subcommand;
use serde_json::{json, Value};

use super::client::{header, Client};
use super::{
    check_bucket, delete_bucket, io, open, parse_duration_nanos, print_status, Storage,
    ERR_STREAM_NOT_FOUND,
};
use crate::bench::options::ConnectionArgs;
use crate::protocol::Message;

/// Most values a key keeps (nats-server's and the clients' limit).
pub const KV_HISTORY_MAX: i64 = 64;
const ERR_WRONG_LAST_SEQUENCE: u64 = 10071;

#[derive(Subcommand, Debug)]
pub enum KvCommand {
    /// Creates a bucket
    Add {
        bucket: String,
        /// Values kept per key
        #[arg(long, default_value_t = 1)]
        history: i64,
        /// How long values live (e.g. 1h, 30s; 0: forever)
        #[arg(long, default_value = "0")]
        ttl: String,
        /// Largest value in bytes (-1: no limit)
        #[arg(long, default_value_t = -1)]
        max_value_size: i64,
        /// Largest bucket in bytes (-1: no limit)
        #[arg(long, default_value_t = -1)]
        max_bucket_size: i64,
        #[arg(long, value_enum, default_value_t = Storage::File)]
        storage: Storage,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Puts a value (from the argument, or standard input without one)
    Put {
        bucket: String,
        key: String,
        value: Option<String>,
    },
    /// Puts a value only if the key has none (or was deleted)
    Create {
        bucket: String,
        key: String,
        value: Option<String>,
    },
    /// Puts a value only if the key's last revision is REVISION
    Update {
        bucket: String,
        key: String,
        value: String,
        revision: u64,
    },
    /// Shows a key's value
    Get {
        bucket: String,
        key: String,
        /// Only the value, as stored
        #[arg(long)]
        raw: bool,
        /// A past revision instead of the latest
        #[arg(long)]
        revision: Option<u64>,
    },
    /// Deletes a key (its history stays)
    Del { bucket: String, key: String },
    /// Deletes a key and its history
    Purge { bucket: String, key: String },
    /// Shows every kept value of a key
    History { bucket: String, key: String },
    /// Prints each key's latest value, then changes as they happen
    Watch {
        bucket: String,
        /// Key or wildcard (default: every key)
        key: Option<String>,
        /// Stop after this many entries
        #[arg(long)]
        count: Option<u64>,
    },
    /// Lists buckets, or a bucket's keys
    Ls { bucket: Option<String> },
    /// Shows a bucket's settings and state
    Status { bucket: String },
    /// Deletes a bucket and everything in it
    Rm { bucket: String },
}

pub fn run(connection: &ConnectionArgs, command: KvCommand) -> Result<(), String> {
    let mut client = open(connection, "tern-kv")?;
    let mut out = std::io::stdout().lock();
    match command {
        KvCommand::Add {
            bucket,
            history,
            ttl,
            max_value_size,
            max_bucket_size,
            storage,
            description,
        } => {
            check_bucket(&bucket)?;
            if !(1..=KV_HISTORY_MAX).contains(&history) {
                return Err(format!("history must be 1 to {KV_HISTORY_MAX}"));
            }
            let ttl = parse_duration_nanos(&ttl)?;
            // The duplicate window is the TTL when shorter than the default 2 minutes.
            let window = if ttl > 0 && ttl < 120_000_000_000 {
                ttl
            } else {
                120_000_000_000
            };
            let mut config = json!({
                "name": format!("KV_{bucket}"),
                "subjects": [format!("$KV.{bucket}.>")],
                "max_msgs_per_subject": history,
                "max_age": ttl,
                "max_msg_size": max_value_size,
                "max_bytes": max_bucket_size,
                "storage": storage.as_str(),
                "num_replicas": 1,
                "discard": "new",
                "allow_rollup_hdrs": true,
                "deny_delete": true,
                "allow_direct": true,
                "max_msgs": -1,
                "max_consumers": -1,
                "duplicate_window": window,
            });
            if !description.is_empty() {
                config["description"] = json!(description);
            }
            let info = client
                .api(&format!("$JS.API.STREAM.CREATE.KV_{bucket}"), &config)?
                .map_err(|e| format!("can not create bucket {bucket}: {e}"))?;
            print_kv_status(&mut out, &bucket, &info)
        }
        KvCommand::Put { bucket, key, value } => {
            let value = value_or_stdin(value)?;
            put(&mut client, &bucket, &key, &value, None)?;
            writeln!(out, "{}", String::from_utf8_lossy(&value)).map_err(io)
        }
        KvCommand::Create { bucket, key, value } => {
            let value = value_or_stdin(value)?;
            let revision = match put(&mut client, &bucket, &key, &value, Some(0)) {
                Ok(revision) => revision,
                Err(first) => {
                    // A deleted or purged key may be created again at its marker's revision.
                    match last_entry(&mut client, &bucket, &key)? {
                        Some(entry) if entry.operation != "PUT" => {
                            put(&mut client, &bucket, &key, &value, Some(entry.revision))?
                        }
                        Some(_) => return Err(format!("key {key} exists")),
                        None => return Err(first),
                    }
                }
            };
            writeln!(out, "{revision}").map_err(io)
        }
        KvCommand::Update {
            bucket,
            key,
            value,
            revision,
        } => {
            let revision = put(&mut client, &bucket, &key, value.as_bytes(), Some(revision))?;
            writeln!(out, "{revision}").map_err(io)
        }
        KvCommand::Get {
            bucket,
            key,
            raw,
            revision,
        } => {
            check_key(&key)?;
            let entry = match revision {
                None => last_entry(&mut client, &bucket, &key)?,
                Some(revision) => entry_at(&mut client, &bucket, &key, revision)?,
            };
            let Some(entry) = entry.filter(|e| e.operation == "PUT") else {
                return Err("nats: key not found".to_string());
            };
            if raw {
                out.write_all(&entry.value).map_err(io)?;
                return out.flush().map_err(io);
            }
            writeln!(
                out,
                "{bucket} > {key} revision: {} created @ {}\n",
                entry.revision, entry.created
            )
            .map_err(io)?;
            writeln!(out, "{}", String::from_utf8_lossy(&entry.value)).map_err(io)
        }
        KvCommand::Del { bucket, key } => {
            marker(&mut client, &bucket, &key, "DEL")?;
            Ok(())
        }
        KvCommand::Purge { bucket, key } => {
            marker(&mut client, &bucket, &key, "PURGE")?;
            Ok(())
        }
        KvCommand::History { bucket, key } => {
            check_key(&key)?;
            bucket_exists(&mut client, &bucket)?;
            writeln!(
                out,
                "{:>8}  {:<6}  {:<35}  {:>6}  VALUE",
                "REVISION", "OP", "CREATED", "LENGTH"
            )
            .map_err(io)?;
            client.consume(
                &format!("KV_{bucket}"),
                json!({"deliver_policy": "all", "filter_subject": format!("$KV.{bucket}.{key}")}),
                false,
                |message| {
                    let entry = Entry::from_delivery(message);
                    writeln!(
                        out,
                        "{:>8}  {:<6}  {:<35}  {:>6}  {}",
                        entry.revision,
                        entry.operation,
                        entry.created,
                        entry.value.len(),
                        String::from_utf8_lossy(&entry.value)
                    )
                    .map_err(io)?;
                    Ok(true)
                },
            )
        }
        KvCommand::Watch { bucket, key, count } => {
            bucket_exists(&mut client, &bucket)?;
            let filter = format!("$KV.{bucket}.{}", key.as_deref().unwrap_or(">"));
            let prefix = format!("$KV.{bucket}.");
            let mut seen = 0u64;
            if count == Some(0) {
                return Ok(());
            }
            client.consume(
                &format!("KV_{bucket}"),
                json!({"deliver_policy": "last_per_subject", "filter_subject": filter}),
                true,
                |message| {
                    let entry = Entry::from_delivery(message);
                    let key = String::from_utf8_lossy(&message.subject);
                    let key = key.strip_prefix(&prefix).unwrap_or(&key);
                    writeln!(
                        out,
                        "[{}] {} {bucket} > {key}: {}",
                        entry.created,
                        entry.operation,
                        String::from_utf8_lossy(&entry.value)
                    )
                    .map_err(io)?;
                    out.flush().map_err(io)?;
                    seen += 1;
                    Ok(count.is_none_or(|count| seen < count))
                },
            )
        }
        KvCommand::Ls { bucket: None } => {
            let names = client
                .api("$JS.API.STREAM.NAMES", &json!({"subject": "$KV.*.>"}))?
                .map_err(|e| e.to_string())?;
            let mut buckets: Vec<&str> = names["streams"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str()?.strip_prefix("KV_"))
                .collect();
            buckets.sort_unstable();
            for bucket in buckets {
                writeln!(out, "{bucket}").map_err(io)?;
            }
            Ok(())
        }
        KvCommand::Ls {
            bucket: Some(bucket),
        } => {
            bucket_exists(&mut client, &bucket)?;
            let prefix = format!("$KV.{bucket}.");
            let mut keys = Vec::new();
            client.consume(
                &format!("KV_{bucket}"),
                json!({"deliver_policy": "last_per_subject", "filter_subject": format!("{prefix}>"),
                       "headers_only": true}),
                false,
                |message| {
                    let op = header(message.headers(), "KV-Operation").unwrap_or("PUT");
                    if op == "PUT" {
                        let subject = String::from_utf8_lossy(&message.subject);
                        keys.push(
                            subject
                                .strip_prefix(&prefix)
                                .unwrap_or(&subject)
                                .to_string(),
                        );
                    }
                    Ok(true)
                },
            )?;
            keys.sort();
            for key in keys {
                writeln!(out, "{key}").map_err(io)?;
            }
            Ok(())
        }
        KvCommand::Status { bucket } => {
            let info = bucket_exists(&mut client, &bucket)?;
            print_kv_status(&mut out, &bucket, &info)
        }
        KvCommand::Rm { bucket } => delete_bucket(&mut client, "KV_", &bucket),
    }
}

/// ADR-8's keys: `[-/_=.a-zA-Z0-9]+`, not starting or ending with `.`.
fn check_key(key: &str) -> Result<(), String> {
    let valid = !key.is_empty()
        && !key.starts_with('.')
        && !key.ends_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(format!("invalid key {key:?}"))
    }
}

fn value_or_stdin(value: Option<String>) -> Result<Vec<u8>, String> {
    match value {
        Some(value) => Ok(value.into_bytes()),
        None => {
            let mut buffer = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buffer).map_err(io)?;
            Ok(buffer)
        }
    }
}

fn bucket_exists(client: &mut Client, bucket: &str) -> Result<Value, String> {
    check_bucket(bucket)?;
    client
        .api(&format!("$JS.API.STREAM.INFO.KV_{bucket}"), &Value::Null)?
        .map_err(|e| match e.err_code {
            ERR_STREAM_NOT_FOUND => format!("bucket {bucket} not found"),
            _ => e.to_string(),
        })
}

/// Publishes a value (with `Nats-Expected-Last-Subject-Sequence` when `expect` is set);
/// the new revision.
fn put(
    client: &mut Client,
    bucket: &str,
    key: &str,
    value: &[u8],
    expect: Option<u64>,
) -> Result<u64, String> {
    check_bucket(bucket)?;
    check_key(key)?;
    let headers = match expect {
        Some(revision) => {
            format!("NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: {revision}\r\n\r\n")
        }
        None => String::new(),
    };
    publish_acked(
        client,
        &format!("$KV.{bucket}.{key}"),
        headers.as_bytes(),
        value,
    )
}

/// A DEL or PURGE marker.
fn marker(client: &mut Client, bucket: &str, key: &str, operation: &str) -> Result<u64, String> {
    check_bucket(bucket)?;
    check_key(key)?;
    let mut headers = format!("NATS/1.0\r\nKV-Operation: {operation}\r\n");
    if operation == "PURGE" {
        headers.push_str("Nats-Rollup: sub\r\n");
    }
    headers.push_str("\r\n");
    publish_acked(
        client,
        &format!("$KV.{bucket}.{key}"),
        headers.as_bytes(),
        b"",
    )
}

fn publish_acked(
    client: &mut Client,
    subject: &str,
    headers: &[u8],
    payload: &[u8],
) -> Result<u64, String> {
    let reply = client.request(subject, headers, payload)?;
    let ack: Value = serde_json::from_slice(reply.payload())
        .map_err(|e| format!("the publish acknowledgement is not JSON: {e}"))?;
    if let Some(error) = ack.get("error") {
        let code = error["err_code"].as_u64().unwrap_or(0);
        let description = error["description"].as_str().unwrap_or("");
        return Err(if code == ERR_WRONG_LAST_SEQUENCE {
            format!("nats: {description}")
        } else {
            format!("{description} (err_code {code})")
        });
    }
    ack["seq"]
        .as_u64()
        .ok_or_else(|| format!("unexpected acknowledgement: {ack}"))
}

/// One entry as read back.
struct Entry {
    revision: u64,
    operation: String,
    created: String,
    value: Vec<u8>,
}

impl Entry {
    /// From a consumer delivery: revision and time from the ack subject.
    fn from_delivery(message: &Message) -> Entry {
        let reply = message.reply.as_deref().unwrap_or_default();
        let tokens: Vec<&[u8]> = reply.split(|&b| b == b'.').collect();
        let token = |from_end: usize| {
            tokens
                .len()
                .checked_sub(from_end)
                .and_then(|i| std::str::from_utf8(tokens[i]).ok())
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Entry {
            revision: token(4),
            operation: header(message.headers(), "KV-Operation")
                .unwrap_or("PUT")
                .to_string(),
            created: crate::jetstream::api::GoTime::from_unix_nanos(token(2) as i64).to_string(),
            value: message.payload().to_vec(),
        }
    }

    /// From a STREAM.MSG.GET answer.
    fn from_stored(answer: &Value) -> Result<Entry, String> {
        let message = &answer["message"];
        let decode = |field: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(message[field].as_str().unwrap_or(""))
                .map_err(|e| format!("bad {field} in the answer: {e}"))
        };
        let headers = decode("hdrs")?;
        let operation = header(
            (!headers.is_empty()).then_some(&headers[..]),
            "KV-Operation",
        )
        .unwrap_or("PUT")
        .to_string();
        Ok(Entry {
            revision: message["seq"].as_u64().unwrap_or(0),
            operation,
            created: message["time"].as_str().unwrap_or("").to_string(),
            value: decode("data")?,
        })
    }
}

/// The key's last entry (a value or a marker), through STREAM.MSG.GET, which every
/// server answers whatever the bucket's `allow_direct`.
fn last_entry(client: &mut Client, bucket: &str, key: &str) -> Result<Option<Entry>, String> {
    get_stored(
        client,
        bucket,
        json!({"last_by_subj": format!("$KV.{bucket}.{key}")}),
        key,
    )
}

fn entry_at(
    client: &mut Client,
    bucket: &str,
    key: &str,
    revision: u64,
) -> Result<Option<Entry>, String> {
    get_stored(client, bucket, json!({"seq": revision}), key)
}

fn get_stored(
    client: &mut Client,
    bucket: &str,
    body: Value,
    key: &str,
) -> Result<Option<Entry>, String> {
    bucket_exists(client, bucket)?;
    match client.api(&format!("$JS.API.STREAM.MSG.GET.KV_{bucket}"), &body)? {
        Ok(answer) => {
            if answer["message"]["subject"].as_str() != Some(&format!("$KV.{bucket}.{key}")) {
                return Ok(None);
            }
            Entry::from_stored(&answer).map(Some)
        }
        Err(error) if error.err_code == 10037 => Ok(None),
        Err(error) => Err(error.to_string()),
    }
}

fn print_kv_status(out: &mut impl Write, bucket: &str, info: &Value) -> Result<(), String> {
    let config = &info["config"];
    let state = &info["state"];
    let ttl = config["max_age"].as_i64().unwrap_or(0);
    print_status(
        out,
        &format!("Information for Key-Value Store Bucket {bucket}"),
        &[
            ("Bucket Name", bucket.to_string()),
            ("History Kept", config["max_msgs_per_subject"].to_string()),
            (
                "Values Stored",
                state["messages"].as_u64().unwrap_or(0).to_string(),
            ),
            (
                "Maximum Age",
                if ttl == 0 {
                    "unlimited".to_string()
                } else {
                    crate::jetstream::api::time::go_duration_string(ttl)
                },
            ),
            ("Maximum Value Size", config["max_msg_size"].to_string()),
            ("Maximum Bucket Size", config["max_bytes"].to_string()),
            (
                "Backing Store",
                config["storage"].as_str().unwrap_or("").to_string(),
            ),
            ("Backing Stream", format!("KV_{bucket}")),
            ("Bytes Stored", state["bytes"].to_string()),
        ],
    )
}
