//! `tern object`: Object Store buckets over streams, laid out as the official clients do
//! (ADR-20): stream `OBJ_<bucket>`, chunks on `$O.<bucket>.C.<nuid>`, the object's info
//! (JSON) on `$O.<bucket>.M.<base64url(name)>`, a SHA-256 digest of the whole object.
//! Files are streamed chunk by chunk both ways; neither side holds a whole object.

use std::io::{Read, Write};

use base64::Engine;
use clap::Subcommand;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::client::Client;
use super::{
    check_bucket, delete_bucket, io, open, parse_duration_nanos, print_status, Storage,
    ERR_STREAM_NOT_FOUND,
};
use crate::bench::options::ConnectionArgs;

/// The clients' default chunk size.
pub const OBJECT_CHUNK_BYTES: usize = 128 * 1024;
const ERR_NO_MESSAGE: u64 = 10037;

#[derive(Subcommand, Debug)]
pub enum ObjectCommand {
    /// Creates a bucket
    Add {
        bucket: String,
        /// How long objects live (e.g. 24h; 0: forever)
        #[arg(long, default_value = "0")]
        ttl: String,
        /// Largest bucket in bytes (-1: no limit)
        #[arg(long, default_value_t = -1)]
        max_bucket_size: i64,
        #[arg(long, value_enum, default_value_t = Storage::File)]
        storage: Storage,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Stores a file (standard input with `-`)
    Put {
        bucket: String,
        file: String,
        /// The object's name (default: the file's path)
        #[arg(long)]
        name: Option<String>,
    },
    /// Writes an object to a file (or standard output)
    Get {
        bucket: String,
        name: String,
        #[arg(long, short = 'O')]
        output: Option<String>,
    },
    /// Lists a bucket's objects
    Ls { bucket: String },
    /// Shows an object's information
    Info { bucket: String, name: String },
    /// Deletes an object
    Del { bucket: String, name: String },
    /// Deletes a bucket and everything in it
    Rm { bucket: String },
}

pub fn run(connection: &ConnectionArgs, command: ObjectCommand) -> Result<(), String> {
    let mut client = open(connection, "tern-object")?;
    let mut out = std::io::stdout().lock();
    match command {
        ObjectCommand::Add {
            bucket,
            ttl,
            max_bucket_size,
            storage,
            description,
        } => {
            check_bucket(&bucket)?;
            let mut config = json!({
                "name": format!("OBJ_{bucket}"),
                "subjects": [format!("$O.{bucket}.C.>"), format!("$O.{bucket}.M.>")],
                "max_age": parse_duration_nanos(&ttl)?,
                "max_bytes": max_bucket_size,
                "storage": storage.as_str(),
                "num_replicas": 1,
                "discard": "new",
                "allow_rollup_hdrs": true,
                "allow_direct": true,
            });
            if !description.is_empty() {
                config["description"] = json!(description);
            }
            let info = client
                .api(&format!("$JS.API.STREAM.CREATE.OBJ_{bucket}"), &config)?
                .map_err(|e| format!("can not create bucket {bucket}: {e}"))?;
            print_bucket(&mut out, &bucket, &info)
        }
        ObjectCommand::Put { bucket, file, name } => {
            bucket_info(&mut client, &bucket)?;
            let name = name.unwrap_or_else(|| file.clone());
            let mut input: Box<dyn Read> = if file == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(
                    std::fs::File::open(&file).map_err(|e| format!("can not open {file}: {e}"))?,
                )
            };
            let info = put(&mut client, &bucket, &name, &mut input)?;
            print_info(&mut out, &info)
        }
        ObjectCommand::Get {
            bucket,
            name,
            output,
        } => {
            let info = live_info(&mut client, &bucket, &name)?;
            match output {
                Some(path) => {
                    let mut file = std::fs::File::create(&path)
                        .map_err(|e| format!("can not create {path}: {e}"))?;
                    get(&mut client, &bucket, &info, &mut file)?;
                    file.sync_all().map_err(|e| e.to_string())?;
                    eprintln!("Wrote: {} bytes to {path}", info["size"]);
                    Ok(())
                }
                None => get(&mut client, &bucket, &info, &mut out),
            }
        }
        ObjectCommand::Ls { bucket } => {
            bucket_info(&mut client, &bucket)?;
            let mut rows = Vec::new();
            client.consume(
                &format!("OBJ_{bucket}"),
                json!({"deliver_policy": "last_per_subject", "filter_subject": format!("$O.{bucket}.M.>")}),
                false,
                |message| {
                    let info: Value = serde_json::from_slice(message.payload())
                        .map_err(|e| format!("bad object info: {e}"))?;
                    if info["deleted"] != true {
                        rows.push(info);
                    }
                    Ok(true)
                },
            )?;
            rows.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            writeln!(out, "{:<40} {:>12} {:>8}", "NAME", "SIZE", "CHUNKS").map_err(io)?;
            for row in rows {
                writeln!(
                    out,
                    "{:<40} {:>12} {:>8}",
                    row["name"].as_str().unwrap_or(""),
                    row["size"].as_u64().unwrap_or(0),
                    row["chunks"].as_u64().unwrap_or(0)
                )
                .map_err(io)?;
            }
            Ok(())
        }
        ObjectCommand::Info { bucket, name } => {
            let info = meta(&mut client, &bucket, &name)?
                .ok_or_else(|| "nats: object not found".to_string())?;
            print_info(&mut out, &info)
        }
        ObjectCommand::Del { bucket, name } => {
            let mut info = live_info(&mut client, &bucket, &name)?;
            let nuid = info["nuid"].as_str().unwrap_or("").to_string();
            info["deleted"] = json!(true);
            info["size"] = json!(0);
            info["chunks"] = json!(0);
            info["digest"] = json!("");
            publish_meta(&mut client, &bucket, &name, &info)?;
            purge_chunks(&mut client, &bucket, &nuid)
        }
        ObjectCommand::Rm { bucket } => delete_bucket(&mut client, "OBJ_", &bucket),
    }
}

fn bucket_info(client: &mut Client, bucket: &str) -> Result<Value, String> {
    check_bucket(bucket)?;
    client
        .api(&format!("$JS.API.STREAM.INFO.OBJ_{bucket}"), &Value::Null)?
        .map_err(|e| match e.err_code {
            ERR_STREAM_NOT_FOUND => format!("bucket {bucket} not found"),
            _ => e.to_string(),
        })
}

fn meta_subject(bucket: &str, name: &str) -> String {
    let encoded = base64::engine::general_purpose::URL_SAFE.encode(name.as_bytes());
    format!("$O.{bucket}.M.{encoded}")
}

/// An object's info as last stored (deleted ones included), None if it never existed.
fn meta(client: &mut Client, bucket: &str, name: &str) -> Result<Option<Value>, String> {
    bucket_info(client, bucket)?;
    let answer = client.api(
        &format!("$JS.API.STREAM.MSG.GET.OBJ_{bucket}"),
        &json!({"last_by_subj": meta_subject(bucket, name)}),
    )?;
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) if error.err_code == ERR_NO_MESSAGE => return Ok(None),
        Err(error) => return Err(error.to_string()),
    };
    let data = base64::engine::general_purpose::STANDARD
        .decode(answer["message"]["data"].as_str().unwrap_or(""))
        .map_err(|e| format!("bad object info: {e}"))?;
    let mut info: Value =
        serde_json::from_slice(&data).map_err(|e| format!("bad object info: {e}"))?;
    info["mtime"] = answer["message"]["time"].clone();
    Ok(Some(info))
}

fn live_info(client: &mut Client, bucket: &str, name: &str) -> Result<Value, String> {
    match meta(client, bucket, name)? {
        Some(info) if info["deleted"] != true => Ok(info),
        _ => Err("nats: object not found".to_string()),
    }
}

fn publish_meta(client: &mut Client, bucket: &str, name: &str, info: &Value) -> Result<(), String> {
    let mut stored = info.clone();
    if let Some(map) = stored.as_object_mut() {
        map.remove("mtime");
    }
    let reply = client.request(
        &meta_subject(bucket, name),
        b"NATS/1.0\r\nNats-Rollup: sub\r\n\r\n",
        stored.to_string().as_bytes(),
    )?;
    check_ack(reply.payload())
}

fn check_ack(payload: &[u8]) -> Result<(), String> {
    let ack: Value = serde_json::from_slice(payload)
        .map_err(|e| format!("the publish acknowledgement is not JSON: {e}"))?;
    match ack.get("error") {
        Some(error) => Err(format!(
            "{} (err_code {})",
            error["description"].as_str().unwrap_or(""),
            error["err_code"]
        )),
        None => Ok(()),
    }
}

fn purge_chunks(client: &mut Client, bucket: &str, nuid: &str) -> Result<(), String> {
    if nuid.is_empty() {
        return Ok(());
    }
    client
        .api(
            &format!("$JS.API.STREAM.PURGE.OBJ_{bucket}"),
            &json!({"filter": format!("$O.{bucket}.C.{nuid}")}),
        )?
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A random 22-character identifier in the NUID alphabet.
fn nuid() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..22)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Streams `input` into the bucket in chunks, then stores its info (and drops the
/// chunks of the object it replaces).
fn put(
    client: &mut Client,
    bucket: &str,
    name: &str,
    input: &mut dyn Read,
) -> Result<Value, String> {
    if name.is_empty() {
        return Err("an object needs a name".to_string());
    }
    let previous = meta(client, bucket, name)?;
    let nuid = nuid();
    let chunk_subject = format!("$O.{bucket}.C.{nuid}");
    let mut digest = Sha256::new();
    let mut chunk = vec![0u8; OBJECT_CHUNK_BYTES];
    let (mut size, mut chunks) = (0u64, 0u64);
    loop {
        let filled = read_full(input, &mut chunk).map_err(io)?;
        if filled == 0 {
            break;
        }
        digest.update(&chunk[..filled]);
        let result = client
            .request(&chunk_subject, b"", &chunk[..filled])
            .and_then(|reply| check_ack(reply.payload()));
        if let Err(error) = result {
            let _ = purge_chunks(client, bucket, &nuid);
            return Err(format!("storing chunk {}: {error}", chunks + 1));
        }
        size += filled as u64;
        chunks += 1;
    }
    let info = json!({
        "name": name,
        "bucket": bucket,
        "nuid": nuid,
        "size": size,
        "chunks": chunks,
        "digest": format!("SHA-256={}", base64::engine::general_purpose::URL_SAFE.encode(digest.finalize())),
        "options": {"max_chunk_size": OBJECT_CHUNK_BYTES},
    });
    if let Err(error) = publish_meta(client, bucket, name, &info) {
        let _ = purge_chunks(client, bucket, &nuid);
        return Err(error);
    }
    if let Some(previous) = previous {
        purge_chunks(client, bucket, previous["nuid"].as_str().unwrap_or(""))?;
    }
    Ok(meta(client, bucket, name)?.unwrap_or(info))
}

/// Fills `buffer` as far as the input goes; the bytes read.
fn read_full(input: &mut dyn Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Streams the object's chunks to `output`, checking size and digest at the end.
fn get(
    client: &mut Client,
    bucket: &str,
    info: &Value,
    output: &mut dyn Write,
) -> Result<(), String> {
    if let Some(link) = info["options"]["link"].as_object() {
        let target_bucket = link.get("bucket").and_then(Value::as_str).unwrap_or(bucket);
        let Some(target) = link.get("name").and_then(Value::as_str) else {
            return Err("the object is a link to a bucket, not to an object".to_string());
        };
        let target_info = live_info(client, target_bucket, target)?;
        return get(client, target_bucket, &target_info, output);
    }
    let nuid = info["nuid"].as_str().unwrap_or("");
    let expected_size = info["size"].as_u64().unwrap_or(0);
    let mut digest = Sha256::new();
    let mut size = 0u64;
    if info["chunks"].as_u64().unwrap_or(0) > 0 {
        client.consume(
            &format!("OBJ_{bucket}"),
            json!({"deliver_policy": "all", "filter_subject": format!("$O.{bucket}.C.{nuid}")}),
            false,
            |message| {
                digest.update(message.payload());
                size += message.payload().len() as u64;
                output.write_all(message.payload()).map_err(io)?;
                Ok(true)
            },
        )?;
    }
    output.flush().map_err(io)?;
    if size != expected_size {
        return Err(format!(
            "object size is {size}, its info says {expected_size}"
        ));
    }
    let computed = format!(
        "SHA-256={}",
        base64::engine::general_purpose::URL_SAFE.encode(digest.finalize())
    );
    let stored = info["digest"].as_str().unwrap_or("");
    if !stored.is_empty() && stored != computed {
        return Err(format!("digest mismatch: stored {stored}, read {computed}"));
    }
    Ok(())
}

fn print_info(out: &mut impl Write, info: &Value) -> Result<(), String> {
    print_status(
        out,
        &format!(
            "Object information for {} > {}",
            info["bucket"].as_str().unwrap_or(""),
            info["name"].as_str().unwrap_or("")
        ),
        &[
            ("Size", info["size"].as_u64().unwrap_or(0).to_string()),
            (
                "Modification Time",
                info["mtime"].as_str().unwrap_or("").to_string(),
            ),
            ("Chunks", info["chunks"].as_u64().unwrap_or(0).to_string()),
            ("Digest", info["digest"].as_str().unwrap_or("").to_string()),
        ],
    )
}

fn print_bucket(out: &mut impl Write, bucket: &str, info: &Value) -> Result<(), String> {
    let config = &info["config"];
    print_status(
        out,
        &format!("Information for Object Store Bucket {bucket}"),
        &[
            ("Bucket Name", bucket.to_string()),
            (
                "Backing Store",
                config["storage"].as_str().unwrap_or("").to_string(),
            ),
            ("Backing Stream", format!("OBJ_{bucket}")),
            ("Bytes Stored", info["state"]["bytes"].to_string()),
        ],
    )
}
