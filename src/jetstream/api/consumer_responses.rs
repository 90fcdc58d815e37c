//! What the consumer API and message delivery send back: typed JSON responses, the
//! header-only status messages of pull requests and push consumers, and the delivery
//! advisories.
//!
//! Status messages have an empty payload and no reply subject (except flow control,
//! whose reply subject the client must answer); the whole meaning is the header block:
//!
//! ```text
//! NATS/1.0 408 Request Timeout\r\n
//! Nats-Pending-Messages: 2\r\n
//! Nats-Pending-Bytes: 50\r\n
//! \r\n
//! ```

use super::consumer_info::ConsumerInfo;
use super::errors::JsError;
use super::json::{is_default, to_vec};
use super::responses::{page, ApiResponse, Paged, LIST_PAGE_LIMIT, NAMES_PAGE_LIMIT};
use super::time::{go_duration_string, GoTime};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Range;

/// CONSUMER.CREATE and CONSUMER.DURABLE.CREATE: the consumer's info; an error drops it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerCreateResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub info: Option<ConsumerInfo>,
}

impl ApiResponse for ConsumerCreateResponse {
    const TYPE: &'static str = "consumer_create_response";
}

/// CONSUMER.INFO.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerInfoResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub info: Option<ConsumerInfo>,
}

impl ApiResponse for ConsumerInfoResponse {
    const TYPE: &'static str = "consumer_info_response";
}

/// CONSUMER.NAMES: sorted names. Unlike STREAM.NAMES, `consumers` is `[]` (never
/// `null`) when there are none, on errors too (nats-server starts from `[]string{}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerNamesResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(flatten)]
    pub paged: Paged,
    pub consumers: Vec<String>,
}

impl ApiResponse for ConsumerNamesResponse {
    const TYPE: &'static str = "consumer_names_response";
}

impl ConsumerNamesResponse {
    /// Sorts the (non-direct) consumers' names and keeps the page at `offset`.
    pub fn page(mut names: Vec<String>, offset: usize) -> Self {
        names.sort_unstable();
        let (range, paged) = page(names.len(), offset, NAMES_PAGE_LIMIT);
        names.truncate(range.end);
        names.drain(..range.start);
        Self {
            error: None,
            paged,
            consumers: names,
        }
    }
}

/// CONSUMER.LIST: infos of one page of consumers sorted by name, `[]` when none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerListResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(flatten)]
    pub paged: Paged,
    pub consumers: Vec<ConsumerInfo>,
    /// Consumers that could not report.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// Offline consumers and why (2.11+).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub offline: BTreeMap<String, String>,
}

impl ApiResponse for ConsumerListResponse {
    const TYPE: &'static str = "consumer_list_response";
}

impl ConsumerListResponse {
    /// Which of `total` consumers (sorted by name) the page at `offset` holds, and its
    /// paging fields; fill `consumers` with the infos of that range.
    pub fn page_range(total: usize, offset: usize) -> (Range<usize>, Paged) {
        page(total, offset, LIST_PAGE_LIMIT)
    }
}

/// CONSUMER.DELETE.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerDeleteResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(skip_serializing_if = "is_default")]
    pub success: bool,
}

impl ApiResponse for ConsumerDeleteResponse {
    const TYPE: &'static str = "consumer_delete_response";
}

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
    ConsumerCreateResponse,
    ConsumerInfoResponse,
    ConsumerNamesResponse,
    ConsumerListResponse,
    ConsumerDeleteResponse
);

/// Header names of the status messages (nats-server `JSPullRequestPending*`,
/// `JSLastConsumerSeq`, `JSLastStreamSeq`, `JSConsumerStalled`).
pub const PENDING_MESSAGES_HEADER: &str = "Nats-Pending-Messages";
pub const PENDING_BYTES_HEADER: &str = "Nats-Pending-Bytes";
pub const LAST_CONSUMER_HEADER: &str = "Nats-Last-Consumer";
pub const LAST_STREAM_HEADER: &str = "Nats-Last-Stream";
pub const CONSUMER_STALLED_HEADER: &str = "Nats-Consumer-Stalled";

/// A header-only status message of a pull request or a push consumer. `pending_*` are
/// what was left of the request (its remaining batch and bytes).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConsumerStatus {
    /// No message and `no_wait` (or a `no_wait` request drained the stream).
    #[error("404 No Messages")]
    NoMessages,
    /// `expires` passed.
    #[error("408 Request Timeout")]
    RequestTimeout {
        pending_msgs: i64,
        pending_bytes: i64,
    },
    /// `no_wait` while earlier requests already claim every pending message.
    #[error("408 Requests Pending")]
    RequestsPending,
    /// The requester (through an import) lost interest.
    #[error("408 Interest Expired")]
    InterestExpired {
        pending_msgs: i64,
        pending_bytes: i64,
    },
    /// `max_waiting` requests are already queued (not sent when the request asked for
    /// heartbeats).
    #[error("409 Exceeded MaxWaiting")]
    ExceededMaxWaiting,
    #[error("409 Exceeded MaxRequestBatch of {0}")]
    ExceededMaxRequestBatch(i64),
    /// The consumer's `max_expires`, in nanoseconds (shown as Go duration text).
    #[error("409 Exceeded MaxRequestExpires of {}", go_duration_string(*.0))]
    ExceededMaxRequestExpires(i64),
    #[error("409 Exceeded MaxRequestMaxBytes of {0}")]
    ExceededMaxRequestMaxBytes(i64),
    /// The next message is larger than what remains of the request's `max_bytes`.
    #[error("409 Message Size Exceeds MaxBytes")]
    MessageSizeExceedsMaxBytes {
        pending_msgs: i64,
        pending_bytes: i64,
    },
    /// The batch is complete but `max_bytes` was not used up (2.10+).
    #[error("409 Batch Completed")]
    BatchCompleted {
        pending_msgs: i64,
        pending_bytes: i64,
    },
    #[error("409 Consumer Deleted")]
    ConsumerDeleted,
    #[error("409 Leadership Change")]
    LeadershipChange,
    #[error("409 Server Shutdown")]
    ServerShutdown {
        pending_msgs: i64,
        pending_bytes: i64,
    },
    /// MSG.NEXT on a push consumer.
    #[error("409 Consumer is push based")]
    ConsumerIsPushBased,
    /// The reason follows `Bad Request - `, e.g. `heartbeat value too large`.
    #[error("400 Bad Request - {0}")]
    BadRequest(String),
    /// The request carried another client's pin id (pinned-client priority groups).
    #[error("423 Nats-Pin-Id mismatch")]
    PinIdMismatch,
    /// A queued request lost its pin (pinned-client priority groups).
    #[error("423 Nats-Wrong-Pin-Id")]
    WrongPinId {
        pending_msgs: i64,
        pending_bytes: i64,
    },
    #[error("412 Required Api Level")]
    RequiredApiLevel,
    /// Nothing was delivered for a heartbeat interval. The sequences are the last
    /// delivered consumer sequence and the stream position (`next - 1` of each);
    /// `stalled` is the flow-control reply subject still waiting for an answer.
    #[error("100 Idle Heartbeat")]
    IdleHeartbeat {
        last_consumer_seq: u64,
        last_stream_seq: u64,
        stalled: Option<String>,
    },
    /// Sent with a `$JS.FC.…` reply subject ([`flow_control_reply`]) the client answers.
    #[error("100 FlowControl Request")]
    FlowControlRequest,
}

impl ConsumerStatus {
    /// The status code, e.g. 408.
    pub fn code(&self) -> u16 {
        match self {
            Self::IdleHeartbeat { .. } | Self::FlowControlRequest => 100,
            Self::BadRequest(_) => 400,
            Self::NoMessages => 404,
            Self::RequestTimeout { .. } | Self::RequestsPending | Self::InterestExpired { .. } => {
                408
            }
            Self::RequiredApiLevel => 412,
            Self::PinIdMismatch | Self::WrongPinId { .. } => 423,
            Self::ExceededMaxWaiting
            | Self::ExceededMaxRequestBatch(_)
            | Self::ExceededMaxRequestExpires(_)
            | Self::ExceededMaxRequestMaxBytes(_)
            | Self::MessageSizeExceedsMaxBytes { .. }
            | Self::BatchCompleted { .. }
            | Self::ConsumerDeleted
            | Self::LeadershipChange
            | Self::ServerShutdown { .. }
            | Self::ConsumerIsPushBased => 409,
        }
    }

    /// True for the statuses that end a pull request for good (clients stop pulling
    /// on these; 404/408 are normal loop control).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::ConsumerDeleted | Self::LeadershipChange | Self::ServerShutdown { .. }
        )
    }

    /// Appends the complete header block, byte for byte as nats-server writes it.
    pub fn write_header_block(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"NATS/1.0 ");
        // Display is "<code> <description>", the status line after the version.
        out.extend_from_slice(self.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        let pending = match self {
            Self::RequestTimeout {
                pending_msgs,
                pending_bytes,
            }
            | Self::InterestExpired {
                pending_msgs,
                pending_bytes,
            }
            | Self::MessageSizeExceedsMaxBytes {
                pending_msgs,
                pending_bytes,
            }
            | Self::BatchCompleted {
                pending_msgs,
                pending_bytes,
            }
            | Self::ServerShutdown {
                pending_msgs,
                pending_bytes,
            }
            | Self::WrongPinId {
                pending_msgs,
                pending_bytes,
            } => Some((*pending_msgs, *pending_bytes)),
            _ => None,
        };
        if let Some((messages, bytes)) = pending {
            push_header(out, PENDING_MESSAGES_HEADER, &messages.to_string());
            push_header(out, PENDING_BYTES_HEADER, &bytes.to_string());
        }
        if let Self::IdleHeartbeat {
            last_consumer_seq,
            last_stream_seq,
            stalled,
        } = self
        {
            push_header(out, LAST_CONSUMER_HEADER, &last_consumer_seq.to_string());
            push_header(out, LAST_STREAM_HEADER, &last_stream_seq.to_string());
            if let Some(reply) = stalled {
                push_header(out, CONSUMER_STALLED_HEADER, reply);
            }
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The header block as a new buffer.
    pub fn header_block(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        self.write_header_block(&mut out);
        out
    }
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Length of the random suffix of a flow-control reply subject.
pub const FLOW_CONTROL_SUFFIX_LEN: usize = 4;

/// The reply subject of a flow-control request (v1 form, nats-server `fcReply`):
/// `$JS.FC.<stream>.<consumer>.<4 characters>`, the suffix picked by the caller from
/// `[0-9A-Za-z]` so that an answer to an older request can be told apart.
pub fn flow_control_reply(
    stream: &str,
    consumer: &str,
    suffix: &[u8; FLOW_CONTROL_SUFFIX_LEN],
) -> String {
    let mut out = String::with_capacity(16 + stream.len() + consumer.len());
    out.push_str("$JS.FC.");
    out.push_str(stream);
    out.push('.');
    out.push_str(consumer);
    out.push('.');
    out.extend(suffix.iter().map(|&byte| char::from(byte)));
    out
}

/// Subjects of the delivery advisories, each followed by `.<stream>.<consumer>`.
pub const ADVISORY_MAX_DELIVERIES_PREFIX: &str = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES";
pub const ADVISORY_MSG_TERMINATED_PREFIX: &str = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED";
pub const ADVISORY_MSG_NAKED_PREFIX: &str = "$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED";

/// `<prefix>.<stream>.<consumer>`.
pub fn advisory_subject(prefix: &str, stream: &str, consumer: &str) -> String {
    format!("{prefix}.{stream}.{consumer}")
}

/// Which delivery advisory, with the fields only some of them carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryAdvisoryKind {
    /// `max_deliver` reached: no more redeliveries (no consumer sequence in this one).
    MaxDeliveries,
    /// `+TERM`, with the reason if one was given.
    Terminated { consumer_seq: u64, reason: String },
    /// `-NAK`.
    Naked { consumer_seq: u64 },
}

/// A delivery advisory (nats-server `JSConsumerDeliveryExceededAdvisory`,
/// `…TerminatedAdvisory`, `…NakAdvisory`). `id` is a fresh NUID-style id and
/// `timestamp` the time of the event, both from the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryAdvisory {
    pub kind: DeliveryAdvisoryKind,
    pub id: String,
    pub timestamp: GoTime,
    pub stream: String,
    pub consumer: String,
    pub stream_seq: u64,
    pub deliveries: u64,
    /// The JetStream domain, when the server has one.
    pub domain: String,
}

impl DeliveryAdvisory {
    /// The subject to publish on.
    pub fn subject(&self) -> String {
        let prefix = match self.kind {
            DeliveryAdvisoryKind::MaxDeliveries => ADVISORY_MAX_DELIVERIES_PREFIX,
            DeliveryAdvisoryKind::Terminated { .. } => ADVISORY_MSG_TERMINATED_PREFIX,
            DeliveryAdvisoryKind::Naked { .. } => ADVISORY_MSG_NAKED_PREFIX,
        };
        advisory_subject(prefix, &self.stream, &self.consumer)
    }

    /// The JSON body, fields in nats-server's order:
    ///
    /// ```text
    /// {"type":"io.nats.jetstream.advisory.v1.terminated","id":"…","timestamp":"…",
    ///  "stream":"S","consumer":"T","consumer_seq":1,"stream_seq":1,"deliveries":1,
    ///  "reason":"…","domain":"…"}
    /// ```
    pub fn to_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "type")]
            type_name: &'a str,
            id: &'a str,
            timestamp: GoTime,
            stream: &'a str,
            consumer: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            consumer_seq: Option<u64>,
            stream_seq: u64,
            deliveries: u64,
            #[serde(skip_serializing_if = "str::is_empty")]
            reason: &'a str,
            #[serde(skip_serializing_if = "str::is_empty")]
            domain: &'a str,
        }
        let (type_name, consumer_seq, reason) = match &self.kind {
            DeliveryAdvisoryKind::MaxDeliveries => {
                ("io.nats.jetstream.advisory.v1.max_deliver", None, "")
            }
            DeliveryAdvisoryKind::Terminated {
                consumer_seq,
                reason,
            } => (
                "io.nats.jetstream.advisory.v1.terminated",
                Some(*consumer_seq),
                reason.as_str(),
            ),
            DeliveryAdvisoryKind::Naked { consumer_seq } => {
                ("io.nats.jetstream.advisory.v1.nak", Some(*consumer_seq), "")
            }
        };
        to_vec(&Body {
            type_name,
            id: &self.id,
            timestamp: self.timestamp,
            stream: &self.stream,
            consumer: &self.consumer,
            consumer_seq,
            stream_seq: self.stream_seq,
            deliveries: self.deliveries,
            reason,
            domain: &self.domain,
        })
    }
}

/// Where sampled acks are published (`JSMetricConsumerAckPre`).
pub const METRIC_CONSUMER_ACK_PREFIX: &str = "$JS.EVENT.METRIC.CONSUMER.ACK";

/// A sampled ack (nats-server `ConsumerAckMetric`), for consumers with `sample_freq`:
///
/// ```text
/// {"type":"io.nats.jetstream.metric.v1.consumer_ack","id":"…","timestamp":"…",
///  "stream":"S","consumer":"C","consumer_seq":1,"stream_seq":1,"ack_time":12345,
///  "deliveries":1,"domain":"…"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConsumerAckMetric {
    #[serde(rename = "type")]
    pub type_name: &'static str,
    pub id: String,
    pub timestamp: GoTime,
    pub stream: String,
    pub consumer: String,
    pub consumer_seq: u64,
    pub stream_seq: u64,
    /// Nanoseconds from the delivery to the ack.
    pub ack_time: i64,
    pub deliveries: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
}

impl ConsumerAckMetric {
    pub const TYPE: &'static str = "io.nats.jetstream.metric.v1.consumer_ack";

    pub fn subject(&self) -> String {
        advisory_subject(METRIC_CONSUMER_ACK_PREFIX, &self.stream, &self.consumer)
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings and numbers does not fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}
