//! The same raw `$JS.API` conversation with tern and with the reference nats-server,
//! side by side, compared field by field.
//!
//! Fields that cannot match (times, the server's name, API counters) are removed from both
//! answers before comparing; fields that differ on purpose are listed in
//! [`TERN_ONLY_FIELDS`] with the reason. Everything else must be identical, including error
//! codes and descriptions.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::{json, Value};

/// Keys removed everywhere: they depend on when and where the request ran.
const VOLATILE: &[&str] = &["created", "ts", "first_ts", "last_ts", "time", "leader"];

/// Keys tern emits that nats-server 2.9.10 does not: tern answers as the newer servers it
/// announces itself as (a standalone server's `cluster{leader}`, the account's reserved
/// totals, and config fields 2.10+ added).
const TERN_ONLY_FIELDS: &[&str] = &["cluster", "reserved_memory", "reserved_storage"];
const TERN_ONLY_CONFIG_FIELDS: &[&str] = &[
    "compression",
    "consumer_limits",
    "first_seq",
    "allow_msg_ttl",
];

fn strip(value: &mut Value, tern: bool) {
    match value {
        Value::Object(map) => {
            for key in VOLATILE {
                map.remove(*key);
            }
            if tern {
                for key in TERN_ONLY_FIELDS {
                    map.remove(*key);
                }
                if let Some(Value::Object(config)) = map.get_mut("config") {
                    for key in TERN_ONLY_CONFIG_FIELDS {
                        config.remove(*key);
                    }
                }
            }
            // Newer servers say why JSON is invalid ("invalid JSON: <reason>"); 2.9.10 does
            // not. Clients key off the err_code.
            if let Some(Value::Object(error)) = map.get_mut("error") {
                if error.get("err_code") == Some(&json!(10025)) {
                    error.insert("description".into(), json!("invalid JSON"));
                }
                // Newer servers also forbid path separators in names and say so.
                const NAME_RULE: &str = "stream name is required and can not contain '.', '*', '>'";
                if error["description"]
                    .as_str()
                    .is_some_and(|d| d.starts_with(NAME_RULE))
                {
                    error.insert("description".into(), json!(NAME_RULE));
                }
            }
            // Account-level API counters differ with the number of requests each
            // implementation makes internally.
            if let Some(Value::Object(api)) = map.get_mut("api") {
                api.remove("total");
                api.remove("errors");
                api.remove("level");
            }
            for (_, v) in map.iter_mut() {
                strip(v, tern);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| strip(v, tern)),
        _ => {}
    }
}

struct Side {
    _server: TestServer,
    client: async_nats::Client,
    _store: tempfile::TempDir,
}

async fn side(reference: bool) -> Side {
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().display().to_string();
    let builder = ServerBuilder::new().args(&["-js", "-sd", dir.as_str()]);
    let server = if reference {
        builder.start_reference()
    } else {
        builder.start()
    };
    let client = client(&server).await;
    Side {
        _server: server,
        client,
        _store: store,
    }
}

async fn request(side: &Side, subject: &str, body: &str) -> Value {
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        side.client
            .request(subject.to_string(), Bytes::from(body.to_string())),
    )
    .await
    .unwrap_or_else(|_| panic!("no answer to {subject}"))
    .unwrap_or_else(|e| panic!("{subject}: {e}"));
    serde_json::from_slice(&reply.payload).unwrap_or_else(|e| {
        panic!(
            "{subject}: not JSON ({e}): {}",
            String::from_utf8_lossy(&reply.payload)
        )
    })
}

#[tokio::test]
async fn api_answers_match_nats_server() {
    let tern = side(false).await;
    let reference = side(true).await;
    let conversation: &[(&str, &str)] = &[
        ("$JS.API.INFO", ""),
        (
            "$JS.API.STREAM.CREATE.CMP",
            r#"{"name":"CMP","subjects":["cmp.>"]}"#,
        ),
        (
            "$JS.API.STREAM.CREATE.CMP",
            r#"{"name":"CMP","subjects":["cmp.>"]}"#,
        ),
        (
            "$JS.API.STREAM.CREATE.CMP",
            r#"{"name":"CMP","subjects":["cmp.>"],"max_msgs":5}"#,
        ),
        ("$JS.API.STREAM.CREATE.OTHER", r#"{"name":"CMP2"}"#),
        (
            "$JS.API.STREAM.CREATE.OVL",
            r#"{"name":"OVL","subjects":["cmp.x"]}"#,
        ),
        (
            "$JS.API.STREAM.CREATE.R3",
            r#"{"name":"R3","num_replicas":3}"#,
        ),
        (
            "$JS.API.STREAM.CREATE.AGE",
            r#"{"name":"AGE","max_age":1000}"#,
        ),
        ("$JS.API.STREAM.CREATE.BROKEN", "{"),
        ("$JS.API.STREAM.CREATE.*", r#"{"name":"*"}"#),
        ("$JS.API.STREAM.CREATE.>", r#"{"name":">"}"#),
        (
            "$JS.API.STREAM.CREATE.SPACE",
            r#"{"name":"SPACE","subjects":["a b"]}"#,
        ),
        (
            "$JS.API.STREAM.CREATE.DUP",
            r#"{"name":"DUP","subjects":["d.*","d.x"]}"#,
        ),
        (
            "$JS.API.STREAM.CREATE.UNKNOWN",
            r#"{"name":"UNKNOWN","subjects":["u"],"no_such_field":1}"#,
        ),
        ("$JS.API.STREAM.DELETE.UNKNOWN", ""),
        (
            "$JS.API.STREAM.CREATE.TYPES",
            r#"{"name":"TYPES","max_msgs":"many"}"#,
        ),
        (
            "$JS.API.STREAM.CREATE.DW",
            r#"{"name":"DW","max_age":60000000000,"duplicate_window":120000000000}"#,
        ),
        (
            "$JS.API.STREAM.CREATE.MEM",
            r#"{"name":"MEM","subjects":["mem"],"storage":"memory","max_msgs_per_subject":3,"discard":"new","allow_rollup_hdrs":true,"allow_direct":true,"description":"in memory"}"#,
        ),
        ("PUB cmp.a", "one"),
        ("PUB cmp.b", "two"),
        ("PUB cmp.a", "three"),
        ("PUB mem", "m"),
        ("$JS.API.STREAM.INFO.CMP", ""),
        (
            "$JS.API.STREAM.INFO.CMP",
            r#"{"subjects_filter":">","deleted_details":true}"#,
        ),
        ("$JS.API.STREAM.MSG.GET.CMP", r#"{"seq":2}"#),
        ("$JS.API.STREAM.MSG.GET.CMP", r#"{"last_by_subj":"cmp.a"}"#),
        (
            "$JS.API.STREAM.MSG.GET.CMP",
            r#"{"seq":1,"next_by_subj":"cmp.b"}"#,
        ),
        ("$JS.API.STREAM.MSG.GET.CMP", r#"{"seq":99}"#),
        ("$JS.API.STREAM.MSG.GET.CMP", ""),
        ("$JS.API.STREAM.MSG.DELETE.CMP", r#"{"seq":2}"#),
        ("$JS.API.STREAM.MSG.DELETE.CMP", r#"{"seq":2}"#),
        ("$JS.API.STREAM.INFO.CMP", r#"{"deleted_details":true}"#),
        ("$JS.API.STREAM.PURGE.CMP", r#"{"seq":2,"keep":1}"#),
        ("$JS.API.STREAM.PURGE.CMP", r#"{"keep":1}"#),
        ("$JS.API.STREAM.NAMES", ""),
        ("$JS.API.STREAM.NAMES", r#"{"subject":"mem"}"#),
        ("$JS.API.STREAM.LIST", ""),
        ("$JS.API.INFO", ""),
        (
            "$JS.API.STREAM.UPDATE.CMP",
            r#"{"name":"CMP","subjects":["cmp.>"],"storage":"memory"}"#,
        ),
        (
            "$JS.API.STREAM.UPDATE.CMP",
            r#"{"name":"CMP","subjects":["cmp.>"],"max_msgs":100}"#,
        ),
        ("$JS.API.STREAM.UPDATE.NOPE", r#"{"name":"NOPE"}"#),
        ("$JS.API.STREAM.DELETE.CMP", "x"),
        ("$JS.API.STREAM.DELETE.CMP", ""),
        ("$JS.API.STREAM.INFO.CMP", ""),
        ("$JS.API.STREAM.DELETE.CMP", ""),
        ("$JS.API.STREAM.NAMES", ""),
    ];
    let mut mismatches = Vec::new();
    for (subject, body) in conversation {
        // "PUB <subject>" publishes into a stream: the answer is the PubAck.
        let subject = subject.strip_prefix("PUB ").unwrap_or(subject);
        let mut ours = request(&tern, subject, body).await;
        let mut theirs = request(&reference, subject, body).await;
        strip(&mut ours, true);
        strip(&mut theirs, false);
        if ours != theirs {
            mismatches.push(format!(
                "{subject} {body}\n  tern:        {ours}\n  nats-server: {theirs}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} answers differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // The conversation reached real states on both (not two identical error streams).
    let names = request(&tern, "$JS.API.STREAM.NAMES", "").await;
    assert_eq!(names["streams"], json!(["MEM"]));
}
