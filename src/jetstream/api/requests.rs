//! Request bodies of the stream API and the checks nats-server makes before acting.
//!
//! How a body is read depends on the call, as in nats-server's handlers:
//!
//! | call                         | empty body          | otherwise                          |
//! |------------------------------|---------------------|------------------------------------|
//! | STREAM.CREATE/UPDATE         | default config      | [`parse_request`]                   |
//! | STREAM.INFO/NAMES/LIST/PURGE | default             | JSON only if it starts `{`/`[`      |
//! | STREAM.DELETE                | ok                  | 10038 unless `{}` ([`check_empty_request`]) |
//! | STREAM.MSG.GET/MSG.DELETE    | 10003 bad request   | [`parse_request`], then checks      |
//! | DIRECT.GET                   | 408 Empty Request   | 408 Malformed / Bad Request         |
//!
//! Unknown fields are ignored (nats-server retries a strict decode leniently).

use super::errors::JsError;
use super::json::{is_default, null_as_default};
use super::stream_config::StreamConfig;
use super::time::GoTime;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The four bytes Go's JSON decoder skips as whitespace.
fn is_json_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

fn first_significant_byte(body: &[u8]) -> Option<u8> {
    body.iter().copied().find(|&byte| !is_json_whitespace(byte))
}

/// Text for 10025, close to Go's `encoding/json` wording where the kinds line up.
fn json_error_text(error: &serde_json::Error) -> String {
    match error.classify() {
        serde_json::error::Category::Eof => "unexpected end of JSON input".to_owned(),
        _ => error.to_string(),
    }
}

/// Decodes a request body as nats-server's `unmarshalRequest`: an empty (or blank) body
/// is the default value, anything that is not a JSON object is 10025 "invalid JSON: ...".
pub fn parse_request<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, JsError> {
    match first_significant_byte(body) {
        None => Ok(T::default()),
        // serde would read an array as a struct's fields in order; Go refuses it.
        Some(b'[') => Err(JsError::invalid_json(
            "json: cannot unmarshal array into Go value of type object",
        )),
        Some(_) => serde_json::from_slice(body)
            .map_err(|error| JsError::invalid_json(json_error_text(&error))),
    }
}

/// For the calls whose body is optional (INFO, NAMES, LIST, PURGE): nats-server only
/// decodes a body that starts with `{` or `[` and treats anything else as no body.
pub fn parse_optional_request<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, JsError> {
    match first_significant_byte(body) {
        Some(b'{' | b'[') => parse_request(body),
        _ => Ok(T::default()),
    }
}

/// nats-server's `isEmptyRequest`: no bytes, or a JSON object with no fields.
/// (A blank body is not empty: it is not valid JSON.)
pub fn is_empty_request(body: &[u8]) -> bool {
    if body.is_empty() || body == b"{}" {
        return true;
    }
    matches!(
        serde_json::from_slice::<serde_json::Value>(body),
        Ok(serde_json::Value::Object(fields)) if fields.is_empty()
    )
}

/// STREAM.DELETE (and CONSUMER.INFO/DELETE) take no body: 10038 otherwise.
pub fn check_empty_request(body: &[u8]) -> Result<(), JsError> {
    if is_empty_request(body) {
        Ok(())
    } else {
        Err(JsError::not_empty_request())
    }
}

/// The `Nats-Required-Api-Level` request header: a level above the server's, or a value
/// that is not a number, is refused with 10185.
pub fn check_required_api_level(
    header_value: Option<&[u8]>,
    server_level: u32,
) -> Result<(), JsError> {
    let Some(value) = header_value.filter(|value| !value.is_empty()) else {
        return Ok(());
    };
    let required = std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse::<i64>().ok());
    match required {
        Some(level) if level <= i64::from(server_level) => Ok(()),
        _ => Err(JsError::required_api_level()),
    }
}

/// Go's `int` offsets: negative means 0 (nats-server 2.9.10 crashed on them; newer clamp).
fn offset_from(raw: i64) -> usize {
    usize::try_from(raw).unwrap_or(0)
}

/// STREAM.CREATE/UPDATE body: a StreamConfig plus the request-only `pedantic` flag.
pub fn parse_stream_config_request(body: &[u8]) -> Result<(StreamConfig, bool), JsError> {
    #[derive(Deserialize, Default)]
    struct Pedantic {
        #[serde(default, deserialize_with = "null_as_default")]
        pedantic: bool,
    }
    let config: StreamConfig = parse_request(body)?;
    let flag: Pedantic = parse_request(body)?;
    Ok((config, flag.pedantic))
}

/// STREAM.INFO options (nats-server `JSApiStreamInfoRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfoRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    pub offset: i64,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub deleted_details: bool,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub subjects_filter: String,
}

impl StreamInfoRequest {
    pub fn parse(body: &[u8]) -> Result<Self, JsError> {
        parse_optional_request(body)
    }

    pub fn offset(&self) -> usize {
        offset_from(self.offset)
    }
}

/// STREAM.NAMES and STREAM.LIST options: a page offset and an optional subject filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamNamesRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    pub offset: i64,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub subject: String,
}

/// STREAM.LIST takes the same body as STREAM.NAMES.
pub type StreamListRequest = StreamNamesRequest;

impl StreamNamesRequest {
    pub fn parse(body: &[u8]) -> Result<Self, JsError> {
        parse_optional_request(body)
    }

    pub fn offset(&self) -> usize {
        offset_from(self.offset)
    }
}

/// STREAM.PURGE options (ADR-10): `filter` limits the purge to matching subjects; `seq`
/// purges everything below it; `keep` keeps the newest N. `seq` and `keep` exclude each
/// other.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeRequest {
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub seq: u64,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub filter: String,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub keep: u64,
}

impl PurgeRequest {
    /// `None` for a plain purge (no JSON body), as nats-server's nil request.
    pub fn parse(body: &[u8]) -> Result<Option<Self>, JsError> {
        if !matches!(first_significant_byte(body), Some(b'{' | b'[')) {
            return Ok(None);
        }
        let request: Self = parse_request(body)?;
        request.validate()?;
        Ok(Some(request))
    }

    pub fn validate(&self) -> Result<(), JsError> {
        if self.seq > 0 && self.keep > 0 {
            return Err(JsError::bad_request());
        }
        Ok(())
    }
}

/// STREAM.MSG.DELETE body (nats-server `JSApiMsgDeleteRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgDeleteRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    pub seq: u64,
    /// `false` overwrites the message on disk; `true` only marks it deleted.
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub no_erase: bool,
}

impl MsgDeleteRequest {
    /// An empty body is 10003, bad JSON 10025.
    pub fn parse(body: &[u8]) -> Result<Self, JsError> {
        if is_empty_request(body) {
            return Err(JsError::bad_request());
        }
        parse_request(body)
    }
}

/// STREAM.MSG.GET and DIRECT.GET body (nats-server `JSApiMsgGetRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgGetRequest {
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub seq: u64,
    #[serde(
        rename = "last_by_subj",
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub last_by_subject: String,
    #[serde(
        rename = "next_by_subj",
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub next_by_subject: String,
    /// DIRECT.GET only: up to this many messages, ending with a 204 EOB status.
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub batch: i64,
    /// DIRECT.GET only: stop a batch after this many bytes.
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub max_bytes: i64,
    /// Start at the first message at or after this time (instead of `seq`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<GoTime>,
    /// DIRECT.GET only: the last message of each subject matching these filters.
    #[serde(
        rename = "multi_last",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub multi_last: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub up_to_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to_time: Option<GoTime>,
    /// Reply with the payload only, without headers (ADR-52).
    #[serde(
        rename = "no_hdr",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub no_headers: bool,
}

/// DIRECT.GET takes the MSG.GET body.
pub type DirectGetRequest = MsgGetRequest;

/// Which message a single-message get asks for, as nats-server's `jsMsgGetRequest`
/// resolves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgGetTarget<'a> {
    /// Exactly this sequence.
    Sequence(u64),
    /// The first message at or after `from_seq` (0 = from the start) on `subject`,
    /// which may have wildcards.
    NextBySubject { from_seq: u64, subject: &'a str },
    /// The newest message on `subject` (wildcards allowed).
    LastBySubject(&'a str),
    /// The first message at or after `time`, optionally only on `next_by_subject`.
    StartTime {
        time: GoTime,
        subject: Option<&'a str>,
    },
}

/// Why DIRECT.GET refused a request; it answers with a status, not JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectGetError {
    #[error("408 Empty Request")]
    EmptyRequest,
    #[error("408 Malformed Request")]
    MalformedRequest,
    #[error("408 Bad Request")]
    BadRequest,
    #[error("412 Required Api Level")]
    RequiredApiLevel,
    #[error("404 Message Not Found")]
    NotFound,
}

impl DirectGetError {
    /// The complete header block of the status reply, e.g. `NATS/1.0 408 Bad Request\r\n\r\n`.
    pub fn status_header(self) -> &'static [u8] {
        match self {
            Self::EmptyRequest => b"NATS/1.0 408 Empty Request\r\n\r\n",
            Self::MalformedRequest => b"NATS/1.0 408 Malformed Request\r\n\r\n",
            Self::BadRequest => b"NATS/1.0 408 Bad Request\r\n\r\n",
            Self::RequiredApiLevel => b"NATS/1.0 412 Required Api Level\r\n\r\n",
            Self::NotFound => b"NATS/1.0 404 Message Not Found\r\n\r\n",
        }
    }
}

/// DIRECT.GET decodes leniently (unknown fields ignored) but, like Go, refuses an array
/// that serde would otherwise read as the struct's fields in order.
fn decode_direct_get(body: &[u8]) -> Result<MsgGetRequest, DirectGetError> {
    if first_significant_byte(body) == Some(b'[') {
        return Err(DirectGetError::MalformedRequest);
    }
    serde_json::from_slice(body).map_err(|_| DirectGetError::MalformedRequest)
}

impl MsgGetRequest {
    /// STREAM.MSG.GET: empty body 10003, bad JSON 10025, then [`MsgGetRequest::validate_for_msg_get`].
    pub fn parse_msg_get(body: &[u8]) -> Result<Self, JsError> {
        if is_empty_request(body) {
            return Err(JsError::bad_request());
        }
        let request: Self = parse_request(body)?;
        request.validate_for_msg_get()?;
        Ok(request)
    }

    /// STREAM.MSG.GET's rules: no batching, and `seq`, `last_by_subj` and `start_time`
    /// exclude each other; `next_by_subj` may go with `seq` or `start_time`. 10003 if not.
    pub fn validate_for_msg_get(&self) -> Result<(), JsError> {
        if self.batch > 0 || self.max_bytes > 0 {
            return Err(JsError::bad_request());
        }
        let has_seq = self.seq > 0;
        let has_last = !self.last_by_subject.is_empty();
        let has_next = !self.next_by_subject.is_empty();
        let has_time = self.start_time.is_some();
        if (has_seq && has_last)
            || (!has_seq && !has_last && !has_next && !has_time)
            || (has_seq && has_time)
            || (has_time && has_last)
            || (has_last && has_next)
        {
            return Err(JsError::bad_request());
        }
        Ok(())
    }

    /// DIRECT.GET with a JSON body (`$JS.API.DIRECT.GET.<stream>`).
    pub fn parse_direct_get(body: &[u8]) -> Result<Self, DirectGetError> {
        if body.is_empty() {
            return Err(DirectGetError::EmptyRequest);
        }
        let request = decode_direct_get(body)?;
        request.validate_for_direct_get()?;
        Ok(request)
    }

    /// DIRECT.GET's rules: something must be asked for; conflicting options are a 408.
    pub fn validate_for_direct_get(&self) -> Result<(), DirectGetError> {
        let has_seq = self.seq > 0;
        let has_last = !self.last_by_subject.is_empty();
        let has_next = !self.next_by_subject.is_empty();
        let has_multi = !self.multi_last.is_empty();
        let has_time = self.start_time.is_some();
        if !has_seq && !has_last && !has_next && !has_multi && !has_time {
            return Err(DirectGetError::EmptyRequest);
        }
        let conflicting = (has_seq && (has_last || has_time))
            || (has_last && (has_time || has_next || has_multi || self.batch > 0))
            || (has_next && has_multi)
            || (self.up_to_seq > 0 && self.up_to_time.is_some());
        if conflicting {
            return Err(DirectGetError::BadRequest);
        }
        Ok(())
    }

    /// DIRECT.GET with the subject in the request subject
    /// (`$JS.API.DIRECT.GET.<stream>.<subject...>`): `subject` is everything after the
    /// stream token. The body may only carry options that make sense for "last on subject".
    pub fn parse_direct_get_last_by_subject(
        body: &[u8],
        subject: &str,
    ) -> Result<Self, DirectGetError> {
        let mut request = if body.is_empty() {
            Self::default()
        } else {
            decode_direct_get(body)?
        };
        if subject.is_empty() {
            return Err(DirectGetError::BadRequest);
        }
        if !request.last_by_subject.is_empty()
            || !request.next_by_subject.is_empty()
            || !request.multi_last.is_empty()
            || request.seq != 0
            || request.batch != 0
            || request.start_time.is_some()
            || request.up_to_seq != 0
            || request.up_to_time.is_some()
        {
            return Err(DirectGetError::BadRequest);
        }
        request.last_by_subject = subject.to_owned();
        Ok(request)
    }

    /// The single message this (validated, non-batch) request asks for.
    pub fn target(&self) -> MsgGetTarget<'_> {
        let next = (!self.next_by_subject.is_empty()).then_some(self.next_by_subject.as_str());
        if let Some(time) = self.start_time {
            return MsgGetTarget::StartTime {
                time,
                subject: next,
            };
        }
        match next {
            Some(subject) => MsgGetTarget::NextBySubject {
                from_seq: self.seq,
                subject,
            },
            None if self.seq > 0 => MsgGetTarget::Sequence(self.seq),
            None => MsgGetTarget::LastBySubject(&self.last_by_subject),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::errors::codes;
    use super::*;

    #[test]
    fn empty_and_blank_bodies() {
        assert_eq!(
            parse_request::<PurgeRequest>(b"").unwrap(),
            PurgeRequest::default()
        );
        assert_eq!(
            parse_request::<PurgeRequest>(b" \r\n").unwrap(),
            PurgeRequest::default()
        );
        assert!(is_empty_request(b"") && is_empty_request(b"{}") && is_empty_request(b" { } "));
        assert!(
            !is_empty_request(b" ") && !is_empty_request(b"{\"x\":1}") && !is_empty_request(b"[]")
        );
        // nats-server 2.9.10: STREAM.DELETE.ORDERS {"x":1} → 10038.
        assert_eq!(
            check_empty_request(b"{\"x\":1}").unwrap_err().err_code,
            10038
        );
        assert!(check_empty_request(b"").is_ok());
    }

    #[test]
    fn invalid_json_is_10025() {
        let err = parse_request::<StreamInfoRequest>(b"{bad").unwrap_err();
        assert_eq!((err.code, err.err_code), (400, codes::INVALID_JSON));
        assert!(
            err.description.starts_with("invalid JSON: "),
            "{}",
            err.description
        );
        let eof = parse_request::<StreamInfoRequest>(b"{\"offset\":").unwrap_err();
        assert_eq!(
            eof.description,
            "invalid JSON: unexpected end of JSON input"
        );
        let array = parse_request::<StreamInfoRequest>(b"[1]").unwrap_err();
        assert_eq!(array.err_code, codes::INVALID_JSON);
        let wrong_type = parse_request::<StreamConfig>(br#"{"name":"X","max_msgs":"10"}"#);
        assert_eq!(wrong_type.unwrap_err().err_code, codes::INVALID_JSON);
        let trailing = parse_request::<StreamInfoRequest>(b"{} x");
        assert_eq!(trailing.unwrap_err().err_code, codes::INVALID_JSON);
    }

    #[test]
    fn optional_bodies() {
        // nats-server only decodes bodies that start with '{' or '['.
        assert_eq!(
            StreamNamesRequest::parse(b"garbage").unwrap(),
            StreamNamesRequest::default()
        );
        let request = StreamNamesRequest::parse(br#"{"subject":"src1.x","offset":-3}"#).unwrap();
        assert_eq!((request.subject.as_str(), request.offset()), ("src1.x", 0));
        assert_eq!(
            StreamNamesRequest::parse(b"{bad").unwrap_err().err_code,
            codes::INVALID_JSON
        );
        let info = StreamInfoRequest::parse(br#"{"subjects_filter":"s.*","offset":1,"unknown":1}"#)
            .unwrap();
        assert_eq!(
            (
                info.subjects_filter.as_str(),
                info.offset(),
                info.deleted_details
            ),
            ("s.*", 1, false)
        );
    }

    #[test]
    fn stream_config_request_with_pedantic() {
        let (config, pedantic) =
            parse_stream_config_request(br#"{"name":"X","pedantic":true,"subjects":null}"#)
                .unwrap();
        assert_eq!(config.name, "X");
        assert!(config.subjects.is_empty());
        assert!(pedantic);
        let (config, pedantic) = parse_stream_config_request(b"").unwrap();
        assert!(config.name.is_empty() && !pedantic);
    }

    #[test]
    fn purge_requests() {
        assert_eq!(PurgeRequest::parse(b"").unwrap(), None);
        let request = PurgeRequest::parse(br#"{"filter":"s.a","keep":1}"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            (request.filter.as_str(), request.keep, request.seq),
            ("s.a", 1, 0)
        );
        // nats-server 2.9.10: STREAM.PURGE {"seq":2,"keep":1} → 10003 bad request.
        let both = PurgeRequest::parse(br#"{"seq":2,"keep":1}"#).unwrap_err();
        assert_eq!(
            (both.code, both.err_code, both.description.as_str()),
            (400, 10003, "bad request")
        );
        assert_eq!(
            PurgeRequest::parse(b"{bad").unwrap_err().err_code,
            codes::INVALID_JSON
        );
    }

    #[test]
    fn msg_delete_requests() {
        assert_eq!(
            MsgDeleteRequest::parse(b"").unwrap_err().err_code,
            codes::BAD_REQUEST
        );
        assert_eq!(
            MsgDeleteRequest::parse(b"{}").unwrap_err().err_code,
            codes::BAD_REQUEST
        );
        let request = MsgDeleteRequest::parse(br#"{"seq":3,"no_erase":true}"#).unwrap();
        assert_eq!((request.seq, request.no_erase), (3, true));
    }

    #[test]
    fn msg_get_combinations() {
        let ok = |body: &[u8]| MsgGetRequest::parse_msg_get(body).unwrap();
        let bad = |body: &[u8]| MsgGetRequest::parse_msg_get(body).unwrap_err().err_code;
        assert_eq!(ok(br#"{"seq":1}"#).target(), MsgGetTarget::Sequence(1));
        assert_eq!(
            ok(br#"{"last_by_subj":"s.*"}"#).target(),
            MsgGetTarget::LastBySubject("s.*")
        );
        assert_eq!(
            ok(br#"{"seq":2,"next_by_subj":"s.b"}"#).target(),
            MsgGetTarget::NextBySubject {
                from_seq: 2,
                subject: "s.b"
            }
        );
        assert_eq!(
            ok(br#"{"next_by_subj":"s.a"}"#).target(),
            MsgGetTarget::NextBySubject {
                from_seq: 0,
                subject: "s.a"
            }
        );
        let time = GoTime::parse_rfc3339("2024-01-02T03:04:05Z").unwrap();
        assert_eq!(
            ok(br#"{"start_time":"2024-01-02T03:04:05Z"}"#).target(),
            MsgGetTarget::StartTime {
                time,
                subject: None
            }
        );
        // Each of these got 10003 from nats-server 2.9.10 or is refused by newer servers.
        for body in [
            &b""[..],
            b"{}",
            br#"{"seq":1,"last_by_subj":"orders.b"}"#,
            br#"{"last_by_subj":"s.a","next_by_subj":"s.a"}"#,
            br#"{"seq":1,"start_time":"2024-01-02T03:04:05Z"}"#,
            br#"{"last_by_subj":"a","start_time":"2024-01-02T03:04:05Z"}"#,
            br#"{"seq":1,"batch":2}"#,
            br#"{"seq":1,"max_bytes":2}"#,
            br#"{"no_hdr":true}"#,
        ] {
            assert_eq!(
                bad(body),
                codes::BAD_REQUEST,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(bad(b"{bad"), codes::INVALID_JSON);
    }

    #[test]
    fn direct_get_combinations() {
        use DirectGetError::*;
        let parse = MsgGetRequest::parse_direct_get;
        // Statuses captured from nats-server 2.9.10 DIRECT.GET.S.
        assert_eq!(parse(b""), Err(EmptyRequest));
        assert_eq!(parse(b"{}"), Err(EmptyRequest));
        assert_eq!(parse(b"{bad"), Err(MalformedRequest));
        assert_eq!(parse(b"[1]"), Err(MalformedRequest));
        assert_eq!(parse(b" "), Err(MalformedRequest));
        assert_eq!(parse(br#"{"seq":1,"last_by_subj":"s.b"}"#), Err(BadRequest));
        assert!(parse(br#"{"batch":2,"seq":1}"#).is_ok());
        assert!(parse(br#"{"multi_last":["s.*"],"batch":5}"#).is_ok());
        for body in [
            &br#"{"last_by_subj":"a","batch":2}"#[..],
            br#"{"last_by_subj":"a","multi_last":["b"]}"#,
            br#"{"next_by_subj":"a","multi_last":["b"]}"#,
            br#"{"seq":1,"up_to_seq":5,"up_to_time":"2024-01-02T03:04:05Z"}"#,
        ] {
            assert_eq!(
                parse(body),
                Err(BadRequest),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            BadRequest.status_header(),
            b"NATS/1.0 408 Bad Request\r\n\r\n"
        );
        assert_eq!(
            NotFound.status_header(),
            b"NATS/1.0 404 Message Not Found\r\n\r\n"
        );
        assert_eq!(EmptyRequest.to_string(), "408 Empty Request");

        let last = MsgGetRequest::parse_direct_get_last_by_subject(b"", "s.a").unwrap();
        assert_eq!(last.target(), MsgGetTarget::LastBySubject("s.a"));
        let no_hdr = MsgGetRequest::parse_direct_get_last_by_subject(br#"{"no_hdr":true}"#, "s.a");
        assert!(no_hdr.unwrap().no_headers);
        assert_eq!(
            MsgGetRequest::parse_direct_get_last_by_subject(br#"{"seq":1}"#, "s.a"),
            Err(BadRequest)
        );
        assert_eq!(
            MsgGetRequest::parse_direct_get_last_by_subject(b"", ""),
            Err(BadRequest)
        );
        assert_eq!(
            MsgGetRequest::parse_direct_get_last_by_subject(b"{", "a"),
            Err(MalformedRequest)
        );
    }

    #[test]
    fn required_api_level() {
        assert!(check_required_api_level(None, 1).is_ok());
        assert!(check_required_api_level(Some(b""), 1).is_ok());
        assert!(check_required_api_level(Some(b"1"), 1).is_ok());
        let err = check_required_api_level(Some(b"2"), 1).unwrap_err();
        assert_eq!((err.code, err.err_code), (412, 10185));
        assert!(check_required_api_level(Some(b"x"), 1).is_err());
    }
}
