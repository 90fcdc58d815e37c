//! The JetStream API's JSON layer: what clients send to `$JS.API.>` and what tern
//! answers, byte-compatible with nats-server. Pure: no I/O, no clock, no async; the
//! handlers that own streams call in here to decode, validate and encode.
//!
//! A short tour:
//!
//! * [`errors`]: [`JsError`] and one constructor per nats-server error (`err_code`s from
//!   `server/errors.json`), plus [`errors::codes`] for matching.
//! * [`time`]: [`GoTime`], Go's `time.Time` in JSON (RFC 3339 with nanoseconds; the zero
//!   time `0001-01-01T00:00:00Z`), and Go's duration text for error messages.
//! * [`names`], [`subjects`], [`transform`]: asset names, filter overlap
//!   ([`subjects::subjects_collide`], [`subjects::is_subset`]) and subject mapping validity.
//! * [`stream_config`]: [`StreamConfig`] with nats-server's defaults and checks
//!   ([`StreamConfig::checked`], [`check_update`], [`overlaps`]).
//! * [`stream_info`], [`account`]: what INFO calls report.
//! * [`requests`]: request bodies and the per-call rules for reading them.
//! * [`responses`]: typed responses (`{"type":"io.nats.jetstream.api.v1.…", …}`) and the
//!   PubAck; [`json::to_vec`] escapes strings as Go does.
//! * [`consumer_config`]: [`ConsumerConfig`], CONSUMER.CREATE's subject forms and request,
//!   nats-server's defaults, checks and update rules ([`plan_create`] runs them in order).
//! * [`consumer_info`], [`consumer_requests`], [`consumer_responses`]: ConsumerInfo, the
//!   pull request, ack payloads and JSAck subjects, typed responses, status header blocks
//!   and delivery advisories; [`duration`] parses Go durations (`-NAK 5s`).
//!
//! A STREAM.CREATE handler, in nats-server's order:
//!
//! ```text
//! let (config, pedantic) = parse_stream_config_request(body)?;        // 10025
//! config.check_create_request(subject_token)?;                       // 10056, 10128, 10052
//! config.check_account_limits(&limits)?;  + stream count (10027)       // 10026
//! let config = config.checked(&limits, pedantic, &lookup)?;          // 10052, 10074, ...
//! existing same → its info; different → 10058; overlaps(other) → 10065
//! StreamCreateResponse { info: Some(info), did_create: true, .. }.to_json()
//! ```
//!
//! Where nats-server 2.9.10 (the reference tern is tested against) and current servers
//! differ, this module follows the current server and says so where it matters.

pub mod account;
pub mod consumer_config;
pub mod consumer_info;
pub mod consumer_requests;
pub mod consumer_responses;
pub mod duration;
pub mod errors;
pub mod json;
pub mod names;
pub mod requests;
pub mod responses;
pub mod stream_config;
pub mod stream_info;
pub mod subjects;
pub mod time;
pub mod transform;

#[cfg(test)]
mod consumer_tests;
#[cfg(test)]
mod tests;

pub use account::{AccountInfo, AccountLimits, AccountTier, ApiStats};
pub use consumer_config::{
    check_update as check_consumer_update, plan_create, AckPolicy, ConsumerAction, ConsumerConfig,
    ConsumerCreateSubject, ConsumerLimits, ConsumerPlan, CreateConsumerRequest, DeliverPolicy,
    ExistingConsumer, PriorityPolicy, ReplayPolicy,
};
pub use consumer_info::{pause_state, ConsumerInfo, PriorityGroupState, SequenceInfo};
pub use consumer_requests::{
    check_pull_request, AckKind, AckSubject, ConsumerListRequest, ConsumerNamesRequest,
    PullPriority, PullRequest,
};
pub use consumer_responses::{
    advisory_subject, flow_control_reply, ConsumerAckMetric, ConsumerCreateResponse,
    ConsumerDeleteResponse, ConsumerInfoResponse, ConsumerListResponse, ConsumerNamesResponse,
    ConsumerStatus, DeliveryAdvisory, DeliveryAdvisoryKind,
};
pub use duration::parse_go_duration;
pub use errors::JsError;
pub use requests::{
    check_empty_request, check_required_api_level, parse_optional_request, parse_request,
    parse_stream_config_request, DirectGetError, DirectGetRequest, MsgDeleteRequest, MsgGetRequest,
    MsgGetTarget, PurgeRequest, StreamInfoRequest, StreamListRequest, StreamNamesRequest,
};
pub use responses::{
    error_json, response_json, AccountInfoResponse, ApiResponse, Paged, PubAck, StoredMsg,
    StreamCreateResponse, StreamDeleteResponse, StreamInfoResponse, StreamListResponse,
    StreamMsgDeleteResponse, StreamMsgGetResponse, StreamNamesResponse, StreamPurgeResponse,
    StreamUpdateResponse,
};
pub use stream_config::{
    check_update, matches_filter, overlaps, Compression, DiscardPolicy, ExternalStream,
    PersistMode, Placement, RePublish, RetentionPolicy, ServerLimits, StorageType, StreamConfig,
    StreamConsumerLimits, StreamConsumerSource, StreamSource, SubjectTransformConfig,
};
pub use stream_info::{
    ClusterInfo, LostStreamData, PeerInfo, StreamAlternate, StreamInfo, StreamSourceInfo,
    StreamState,
};
pub use time::GoTime;
