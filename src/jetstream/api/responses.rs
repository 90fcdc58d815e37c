//! Response bodies of the stream API and the PubAck, encoded as nats-server encodes them.
//!
//! Every API response is a JSON object whose first field names its type; the body's
//! fields follow at the same level (Go struct embedding), an error adds `"error"`:
//!
//! ```text
//! {"type":"io.nats.jetstream.api.v1.stream_info_response","total":0,"offset":0,"limit":0,
//!  "config":{...},"created":"...","state":{...},"ts":"..."}
//! {"type":"io.nats.jetstream.api.v1.stream_info_response",
//!  "error":{"code":404,"err_code":10059,"description":"stream not found"},
//!  "total":0,"offset":0,"limit":0}
//! ```
//!
//! As the second line shows, some error responses keep fields that are not `omitempty` in
//! Go (`total`/`offset`/`limit`, `"streams":null`, `"purged":0`); each typed response's
//! `error` constructor reproduces that. [`error_json`] is the bare `{"type","error"}` form
//! for calls whose response has nothing else.

use super::account::AccountInfo;
use super::errors::JsError;
use super::json::{is_default, to_vec};
use super::stream_info::StreamInfo;
use super::time::GoTime;
use serde::{Serialize, Serializer};
use std::ops::Range;

/// Prefix of every response `type`.
pub const RESPONSE_TYPE_PREFIX: &str = "io.nats.jetstream.api.v1.";
/// Page size of STREAM.NAMES (`JSApiNamesLimit`).
pub const NAMES_PAGE_LIMIT: usize = 1024;
/// Page size of STREAM.LIST (`JSApiListLimit`).
pub const LIST_PAGE_LIMIT: usize = 256;

/// The `type` field: prefix and short name, written without building a String.
struct TypeName<'a>(&'a str);

impl Serialize for TypeName<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{RESPONSE_TYPE_PREFIX}{}", self.0))
    }
}

#[derive(Serialize)]
struct Typed<'a, T: Serialize + ?Sized> {
    #[serde(rename = "type")]
    type_name: TypeName<'a>,
    #[serde(flatten)]
    body: &'a T,
}

/// `{"type":"io.nats.jetstream.api.v1.<type_name>", ...fields of body}`. `body` must
/// serialize as a struct or map; `type_name` is e.g. `stream_create_response`.
pub fn response_json<T: Serialize + ?Sized>(type_name: &str, body: &T) -> Vec<u8> {
    to_vec(&Typed {
        type_name: TypeName(type_name),
        body,
    })
}

/// `{"type":"io.nats.jetstream.api.v1.<type_name>","error":{...}}`.
pub fn error_json(type_name: &str, error: &JsError) -> Vec<u8> {
    #[derive(Serialize)]
    struct ErrorOnly<'a> {
        error: &'a JsError,
    }
    response_json(type_name, &ErrorOnly { error })
}

/// A typed API response: knows its `type` name.
pub trait ApiResponse: Serialize {
    /// The short type name, e.g. `stream_info_response`.
    const TYPE: &'static str;

    /// The encoded response body.
    fn to_json(&self) -> Vec<u8> {
        response_json(Self::TYPE, self)
    }
}

/// `total`/`offset`/`limit` of a paged response (nats-server `ApiPaged`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Paged {
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
}

/// Which items of `total` (sorted) a page starting at `offset` holds, and the paging
/// fields to report: the offset clamped to `total`, at most `limit` items.
pub fn page(total: usize, offset: usize, limit: usize) -> (Range<usize>, Paged) {
    let offset = offset.min(total);
    let end = offset.saturating_add(limit).min(total);
    (
        offset..end,
        Paged {
            total,
            offset,
            limit,
        },
    )
}

macro_rules! api_response {
    ($name:ident, $type_name:literal) => {
        impl ApiResponse for $name {
            const TYPE: &'static str = $type_name;
        }
    };
}

/// `$JS.API.INFO`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AccountInfoResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub info: Option<AccountInfo>,
}
api_response!(AccountInfoResponse, "account_info_response");

/// STREAM.CREATE: the new (or identical existing) stream's info and `did_create`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StreamCreateResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub info: Option<StreamInfo>,
    #[serde(skip_serializing_if = "is_default")]
    pub did_create: bool,
}
api_response!(StreamCreateResponse, "stream_create_response");

/// STREAM.UPDATE.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StreamUpdateResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub info: Option<StreamInfo>,
}
api_response!(StreamUpdateResponse, "stream_update_response");

/// STREAM.INFO: always carries `total`/`offset`/`limit` (of the subjects page; 0 when
/// no `subjects_filter` matched).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StreamInfoResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(flatten)]
    pub paged: Paged,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub info: Option<StreamInfo>,
}
api_response!(StreamInfoResponse, "stream_info_response");

fn null_when_empty<S: Serializer>(names: &[String], serializer: S) -> Result<S::Ok, S::Error> {
    if names.is_empty() {
        serializer.serialize_none()
    } else {
        names.serialize(serializer)
    }
}

/// STREAM.NAMES: sorted names, `"streams":null` when there are none (a Go nil slice).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StreamNamesResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(flatten)]
    pub paged: Paged,
    #[serde(serialize_with = "null_when_empty")]
    pub streams: Vec<String>,
}
api_response!(StreamNamesResponse, "stream_names_response");

impl StreamNamesResponse {
    /// Sorts the matching names and keeps the page at `offset`.
    pub fn page(mut names: Vec<String>, offset: usize) -> Self {
        names.sort_unstable();
        let (range, paged) = page(names.len(), offset, NAMES_PAGE_LIMIT);
        names.truncate(range.end);
        names.drain(..range.start);
        Self {
            error: None,
            paged,
            streams: names,
        }
    }
}

/// STREAM.LIST: infos of one page of streams (sorted by name), `"streams":[]` when none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StreamListResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(flatten)]
    pub paged: Paged,
    pub streams: Vec<StreamInfo>,
    /// Streams that could not report (offline).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}
api_response!(StreamListResponse, "stream_list_response");

/// STREAM.DELETE.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StreamDeleteResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(skip_serializing_if = "is_default")]
    pub success: bool,
}
api_response!(StreamDeleteResponse, "stream_delete_response");

/// STREAM.PURGE: `purged` is always present, even on error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StreamPurgeResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(skip_serializing_if = "is_default")]
    pub success: bool,
    pub purged: u64,
}
api_response!(StreamPurgeResponse, "stream_purge_response");

/// STREAM.MSG.DELETE.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StreamMsgDeleteResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(skip_serializing_if = "is_default")]
    pub success: bool,
}
api_response!(StreamMsgDeleteResponse, "stream_msg_delete_response");

/// A stored message as STREAM.MSG.GET returns it (nats-server `StoredMsg`); header
/// block and payload are standard base64, both left out when empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoredMsg {
    pub subject: String,
    pub seq: u64,
    #[serde(
        rename = "hdrs",
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "base64_bytes"
    )]
    pub headers: Vec<u8>,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "base64_bytes")]
    pub data: Vec<u8>,
    pub time: GoTime,
}

fn base64_bytes<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&base64::display::Base64Display::new(
        bytes,
        &base64::engine::general_purpose::STANDARD,
    ))
}

/// STREAM.MSG.GET.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StreamMsgGetResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<StoredMsg>,
}
api_response!(StreamMsgGetResponse, "stream_msg_get_response");

/// Responses that are only an error (or nothing) besides their type.
macro_rules! error_constructors {
    ($($name:ident),*) => {$(
        impl $name {
            /// The error response, with the fields nats-server keeps on errors.
            pub fn error(error: JsError) -> Self {
                Self { error: Some(error), ..Self::default() }
            }
        }
    )*};
}
error_constructors!(
    AccountInfoResponse,
    StreamCreateResponse,
    StreamUpdateResponse,
    StreamInfoResponse,
    StreamNamesResponse,
    StreamListResponse,
    StreamDeleteResponse,
    StreamPurgeResponse,
    StreamMsgDeleteResponse,
    StreamMsgGetResponse
);

/// A publish acknowledgement from a stream (nats-server `PubAck`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PubAck {
    pub stream: String,
    pub seq: u64,
    /// The JetStream domain, when the server has one.
    pub domain: String,
    /// The message id was seen within the duplicate window; `seq` is the original's.
    pub duplicate: bool,
}

impl PubAck {
    /// The bytes nats-server's PubAck template produces:
    ///
    /// ```text
    /// {"stream":"ORDERS","seq":42}
    /// {"stream":"ORDERS","domain":"hub","seq":42}
    /// {"stream":"ORDERS","seq":2,"duplicate": true}
    /// ```
    ///
    /// (2.9.10 put a space after each comma: `{"stream":"ORDERS", "seq":42}`.)
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + self.stream.len() + self.domain.len());
        out.extend_from_slice(b"{\"stream\":");
        out.extend_from_slice(&to_vec(self.stream.as_str()));
        if !self.domain.is_empty() {
            out.extend_from_slice(b",\"domain\":");
            out.extend_from_slice(&to_vec(self.domain.as_str()));
        }
        out.extend_from_slice(b",\"seq\":");
        out.extend_from_slice(self.seq.to_string().as_bytes());
        if self.duplicate {
            out.extend_from_slice(b",\"duplicate\": true");
        }
        out.push(b'}');
        out
    }

    /// A failed publish: `{"error":{...},"stream":"S","seq":0}` (checked against 2.9.10
    /// with a wrong `Nats-Expected-Last-Sequence`; no domain even when one is set).
    pub fn error_json(stream: &str, error: &JsError) -> Vec<u8> {
        #[derive(Serialize)]
        struct PubAckError<'a> {
            error: &'a JsError,
            stream: &'a str,
            seq: u64,
        }
        to_vec(&PubAckError {
            error,
            stream,
            seq: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn error_bodies_match_2_9_10() {
        // Each expected string was captured from nats-server 2.9.10 (request in comment).
        // STREAM.INFO.ORDERS after the stream was deleted.
        assert_eq!(
            text(StreamInfoResponse::error(JsError::stream_not_found()).to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.stream_info_response","error":{"code":404,"err_code":10059,"description":"stream not found"},"total":0,"offset":0,"limit":0}"#
        );
        // STREAM.NAMES {bad (2.9.10 said "invalid JSON"; the reason is appended now).
        assert_eq!(
            text(StreamNamesResponse::error(JsError::invalid_json("x")).to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.stream_names_response","error":{"code":400,"err_code":10025,"description":"invalid JSON: x"},"total":0,"offset":0,"limit":0,"streams":null}"#
        );
        // STREAM.LIST {bad
        assert_eq!(
            text(StreamListResponse::error(JsError::invalid_json("x")).to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.stream_list_response","error":{"code":400,"err_code":10025,"description":"invalid JSON: x"},"total":0,"offset":0,"limit":0,"streams":[]}"#
        );
        // STREAM.PURGE.ORDERS {"seq":2,"keep":1}
        assert_eq!(
            text(StreamPurgeResponse::error(JsError::bad_request()).to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.stream_purge_response","error":{"code":400,"err_code":10003,"description":"bad request"},"purged":0}"#
        );
        // STREAM.CREATE.X {"name":"X","num_replicas":3}
        assert_eq!(
            text(StreamCreateResponse::error(JsError::stream_replicas_not_supported()).to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":500,"err_code":10074,"description":"replicas \u003e 1 not supported in non-clustered mode"}}"#
        );
        // STREAM.DELETE.ORDERS {"x":1}
        assert_eq!(
            text(error_json(
                "stream_delete_response",
                &JsError::not_empty_request()
            )),
            r#"{"type":"io.nats.jetstream.api.v1.stream_delete_response","error":{"code":400,"err_code":10038,"description":"expected an empty request payload"}}"#
        );
        assert_eq!(
            text(StreamDeleteResponse::error(JsError::not_empty_request()).to_json()),
            text(error_json(
                "stream_delete_response",
                &JsError::not_empty_request()
            ))
        );
        // STREAM.MSG.GET.ORDERS {"seq":99}
        assert_eq!(
            text(StreamMsgGetResponse::error(JsError::no_message_found()).to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","error":{"code":404,"err_code":10037,"description":"no message found"}}"#
        );
        // STREAM.MSG.DELETE.C7 {"seq":1} on a sealed stream.
        assert_eq!(
            text(StreamMsgDeleteResponse::error(JsError::stream_sealed()).to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.stream_msg_delete_response","error":{"code":400,"err_code":10109,"description":"invalid operation on sealed stream"}}"#
        );
        // STREAM.UPDATE.MIR {"name":"MIR","mirror":{"name":"SRC1"}}
        assert_eq!(
            text(StreamUpdateResponse::error(JsError::stream_mirror_not_updatable()).to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.stream_update_response","error":{"code":400,"err_code":10055,"description":"stream mirror configuration can not be updated"}}"#
        );
    }

    #[test]
    fn success_bodies_match_2_9_10() {
        // STREAM.DELETE.ORDERS
        let deleted = StreamDeleteResponse {
            success: true,
            ..StreamDeleteResponse::default()
        };
        assert_eq!(
            text(deleted.to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.stream_delete_response","success":true}"#
        );
        // STREAM.PURGE.ORDERS (empty body) with one message.
        let purged = StreamPurgeResponse {
            success: true,
            purged: 1,
            ..StreamPurgeResponse::default()
        };
        assert_eq!(
            text(purged.to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.stream_purge_response","success":true,"purged":1}"#
        );
        // STREAM.MSG.DELETE.ORDERS {"seq":1}
        let msg_deleted = StreamMsgDeleteResponse {
            success: true,
            ..StreamMsgDeleteResponse::default()
        };
        assert_eq!(
            text(msg_deleted.to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.stream_msg_delete_response","success":true}"#
        );
        // STREAM.NAMES with one stream, and with a filter that matched none.
        assert_eq!(
            text(StreamNamesResponse::page(vec!["ORDERS".to_owned()], 0).to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.stream_names_response","total":1,"offset":0,"limit":1024,"streams":["ORDERS"]}"#
        );
        assert_eq!(
            text(StreamNamesResponse::page(vec![], 0).to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.stream_names_response","total":0,"offset":0,"limit":1024,"streams":null}"#
        );
        // STREAM.LIST with no streams.
        let (_, paged) = page(0, 0, LIST_PAGE_LIMIT);
        let empty_list = StreamListResponse {
            paged,
            ..StreamListResponse::default()
        };
        assert_eq!(
            text(empty_list.to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.stream_list_response","total":0,"offset":0,"limit":256,"streams":[]}"#
        );
    }

    #[test]
    fn names_paging() {
        let names: Vec<String> = ["X", "C2", "C1", "SRC1", "C3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // nats-server 2.9.10 STREAM.NAMES {"offset":2} sorted and skipped two.
        let second = StreamNamesResponse::page(names.clone(), 2);
        assert_eq!(second.streams, ["C3", "SRC1", "X"]);
        assert_eq!(
            second.paged,
            Paged {
                total: 5,
                offset: 2,
                limit: 1024
            }
        );
        // {"offset":200} → offset clamped to total, "streams":null.
        let past = StreamNamesResponse::page(names, 200);
        assert!(past.streams.is_empty());
        assert_eq!(
            past.paged,
            Paged {
                total: 5,
                offset: 5,
                limit: 1024
            }
        );
        let many: Vec<String> = (0..3000).map(|i| format!("S{i:04}")).collect();
        let first = StreamNamesResponse::page(many, 0);
        assert_eq!(first.streams.len(), NAMES_PAGE_LIMIT);
        assert_eq!(page(3000, 2900, 256).0, 2900..3000);
        assert_eq!(page(10, usize::MAX, 256).0, 10..10);
    }

    #[test]
    fn msg_get_matches_2_9_10() {
        // STREAM.MSG.GET.ORDERS {"seq":2}: a message published with Nats-Msg-Id: m1.
        let response = StreamMsgGetResponse {
            error: None,
            message: Some(StoredMsg {
                subject: "orders.b".to_owned(),
                seq: 2,
                headers: b"NATS/1.0\r\nNats-Msg-Id: m1\r\n\r\n".to_vec(),
                data: b"world".to_vec(),
                time: GoTime::parse_rfc3339("2026-11-22T00:39:07.532338512Z").unwrap(),
            }),
        };
        assert_eq!(
            text(response.to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":"orders.b","seq":2,"hdrs":"TkFUUy8xLjANCk5hdHMtTXNnLUlkOiBtMQ0KDQo=","data":"d29ybGQ=","time":"2026-11-22T00:39:07.532338512Z"}}"#
        );
        // {"seq":1}: no headers.
        let plain = StoredMsg {
            subject: "orders.a".to_owned(),
            seq: 1,
            data: b"hello".to_vec(),
            time: GoTime::parse_rfc3339("2026-11-22T00:39:07.532096429Z").unwrap(),
            ..StoredMsg::default()
        };
        assert_eq!(
            text(to_vec(&plain)),
            r#"{"subject":"orders.a","seq":1,"data":"aGVsbG8=","time":"2026-11-22T00:39:07.532096429Z"}"#
        );
    }

    #[test]
    fn pub_acks() {
        let mut ack = PubAck {
            stream: "ORDERS".to_owned(),
            seq: 1,
            ..PubAck::default()
        };
        assert_eq!(text(ack.to_json()), r#"{"stream":"ORDERS","seq":1}"#);
        ack.seq = 2;
        ack.duplicate = true;
        assert_eq!(
            text(ack.to_json()),
            r#"{"stream":"ORDERS","seq":2,"duplicate": true}"#
        );
        let with_domain = PubAck {
            stream: "D".to_owned(),
            seq: 1,
            domain: "hub".to_owned(),
            duplicate: false,
        };
        assert_eq!(
            text(with_domain.to_json()),
            r#"{"stream":"D","domain":"hub","seq":1}"#
        );
        // Every form parses as the JSON nats-server 2.9.10 sent (which only had extra spaces).
        for (ours, theirs) in [
            (
                ack.to_json(),
                r#"{"stream":"ORDERS", "seq":2,"duplicate": true}"#,
            ),
            (
                with_domain.to_json(),
                r#"{"stream":"D", "domain":"hub", "seq":1}"#,
            ),
        ] {
            let ours: serde_json::Value = serde_json::from_slice(&ours).unwrap();
            let theirs: serde_json::Value = serde_json::from_str(theirs).unwrap();
            assert_eq!(ours, theirs);
        }
        // orders.b with Nats-Expected-Last-Sequence: 1 when the last was 2 (2.9.10, exact).
        assert_eq!(
            text(PubAck::error_json(
                "ORDERS",
                &JsError::stream_wrong_last_sequence(2)
            )),
            r#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 2"},"stream":"ORDERS","seq":0}"#
        );
        assert_eq!(
            text(PubAck::error_json(
                "ORDERS",
                &JsError::stream_rollup_failed("rollup not permitted")
            )),
            r#"{"error":{"code":500,"err_code":10111,"description":"rollup not permitted"},"stream":"ORDERS","seq":0}"#
        );
    }

    #[test]
    fn account_info_response() {
        let body = AccountInfoResponse {
            error: None,
            info: Some(AccountInfo::default()),
        };
        let json = text(body.to_json());
        assert!(json.starts_with(
            r#"{"type":"io.nats.jetstream.api.v1.account_info_response","memory":0,"storage":0,"#
        ));
        assert_eq!(
            text(AccountInfoResponse::error(JsError::not_enabled_for_account()).to_json()),
            r#"{"type":"io.nats.jetstream.api.v1.account_info_response","error":{"code":503,"err_code":10039,"description":"JetStream not enabled for account"}}"#
        );
    }
}
