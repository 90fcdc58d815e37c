//! The JetStream API error: nats-server's `ApiError`, one table of constructors.
//!
//! Clients key off `err_code` (nats.go's `ErrStreamNotFound` is `err_code == 10059`), so
//! every number, HTTP-like `code` and description here is nats-server's own, from
//! `server/errors.json` (which nats-server turns into `jetstream_errors_generated.go`).
//! Templated descriptions (`{err}`, `{seq}`, ...) are filled in the same way.
//!
//! Where nats-server 2.9.10 words an error differently from the current `errors.json`,
//! the current wording wins; the differences are listed next to the constructor.
//!
//! On the wire:
//!
//! ```text
//! {"code":404,"err_code":10059,"description":"stream not found"}
//! ```

use serde::{Deserialize, Serialize};

/// A JetStream API error as it appears under `"error"` in a response or a PubAck.
///
/// Field order matches nats-server's `ApiError` so encoded bytes match too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{description} ({err_code})")]
pub struct JsError {
    /// HTTP-like status (400, 404, 500, 503, ...).
    pub code: u16,
    /// NATS's stable error number; the thing clients match on.
    pub err_code: u16,
    /// Human readable text, with any template already filled in.
    pub description: String,
}

impl JsError {
    /// An error from parts; prefer the named constructors, which carry nats-server's numbers.
    pub fn new(code: u16, err_code: u16, description: impl Into<String>) -> Self {
        Self {
            code,
            err_code,
            description: description.into(),
        }
    }

    /// True when this is the error named by `err_code` (one of [`codes`]).
    pub fn is(&self, err_code: u16) -> bool {
        self.err_code == err_code
    }
}

/// Declares, for each nats-server error: its `err_code` constant in [`codes`], a
/// constructor on [`JsError`], and (for tests) the raw table row.
macro_rules! js_errors {
    ($(
        $(#[$doc:meta])*
        $konst:ident $name:ident($($arg:ident: $ty:ty),*) = $code:literal, $err_code:literal, $text:literal;
    )*) => {
        /// `err_code` numbers under nats-server's constant names (without the `JS` prefix
        /// and `Err`/`F` suffix), for matching: `err.is(codes::STREAM_NOT_FOUND)`.
        pub mod codes {
            $( pub const $konst: u16 = $err_code; )*
        }

        impl JsError {
            $(
                $(#[$doc])*
                pub fn $name($($arg: $ty),*) -> Self {
                    Self { code: $code, err_code: $err_code, description: format!($text) }
                }
            )*
        }

        /// Every row as (code, err_code, errors.json template), for table checks in tests.
        #[cfg(test)]
        pub(super) const TABLE: &[(u16, u16, &str)] = &[$(($code, $err_code, $text)),*];
    };
}

use std::fmt::Display;

js_errors! {
    ACCOUNT_RESOURCES_EXCEEDED account_resources_exceeded() = 400, 10002, "resource limits exceeded for account";
    BAD_REQUEST bad_request() = 400, 10003, "bad request";
    CLUSTER_NOT_AVAIL cluster_not_avail() = 503, 10008, "JetStream system temporarily unavailable";
    CONSUMER_CREATE consumer_create(err: impl Display) = 500, 10012, "{err}";
    CONSUMER_NAME_EXIST consumer_name_exist() = 400, 10013, "consumer name already in use";
    CONSUMER_NOT_FOUND consumer_not_found() = 404, 10014, "consumer not found";
    SNAPSHOT_DELIVER_SUBJECT_INVALID snapshot_deliver_subject_invalid() = 400, 10015, "deliver subject not valid";
    CONSUMER_DURABLE_NAME_NOT_IN_SUBJECT consumer_durable_name_not_in_subject() = 400, 10016, "consumer expected to be durable but no durable name set in subject";
    CONSUMER_DURABLE_NAME_NOT_MATCH_SUBJECT consumer_durable_name_not_match_subject() = 400, 10017, "consumer name in subject does not match durable name in request";
    CONSUMER_DURABLE_NAME_NOT_SET consumer_durable_name_not_set() = 400, 10018, "consumer expected to be durable but a durable name was not set";
    CONSUMER_EPHEMERAL_WITH_DURABLE_IN_SUBJECT consumer_ephemeral_with_durable_in_subject() = 400, 10019, "consumer expected to be ephemeral but detected a durable name set in subject";
    CONSUMER_EPHEMERAL_WITH_DURABLE_NAME consumer_ephemeral_with_durable_name() = 400, 10020, "consumer expected to be ephemeral but a durable name was set in request";
    STREAM_EXTERNAL_API_OVERLAP stream_external_api_overlap(prefix: impl Display, subject: impl Display) = 400, 10021, "stream external api prefix {prefix} must not overlap with {subject}";
    STREAM_EXTERNAL_DEL_PREFIX_OVERLAPS stream_external_del_prefix_overlaps(prefix: impl Display, subject: impl Display) = 400, 10022, "stream external delivery prefix {prefix} overlaps with stream subject {subject}";
    INSUFFICIENT_RESOURCES insufficient_resources() = 503, 10023, "insufficient resources";
    STREAM_INVALID_EXTERNAL_DELIVERY_SUBJ stream_invalid_external_delivery_subj(prefix: impl Display) = 400, 10024, "stream external delivery prefix {prefix} must not contain wildcards";
    /// 2.9.10 sends plain "invalid JSON" without the parser's reason.
    INVALID_JSON invalid_json(err: impl Display) = 400, 10025, "invalid JSON: {err}";
    MAXIMUM_CONSUMERS_LIMIT maximum_consumers_limit() = 400, 10026, "maximum consumers limit reached";
    MAXIMUM_STREAMS_LIMIT maximum_streams_limit() = 400, 10027, "maximum number of streams reached";
    MEMORY_RESOURCES_EXCEEDED memory_resources_exceeded() = 500, 10028, "insufficient memory resources available";
    MIRROR_CONSUMER_SETUP_FAILED mirror_consumer_setup_failed(err: impl Display) = 500, 10029, "{err}";
    MIRROR_MAX_MESSAGE_SIZE_TOO_BIG mirror_max_message_size_too_big() = 400, 10030, "stream mirror must have max message size >= source";
    MIRROR_WITH_SOURCES mirror_with_sources() = 400, 10031, "stream mirrors can not also contain other sources";
    MIRROR_WITH_START_SEQ_AND_TIME mirror_with_start_seq_and_time() = 400, 10032, "stream mirrors can not have both start seq and start time configured";
    MIRROR_WITH_SUBJECT_FILTERS mirror_with_subject_filters() = 400, 10033, "stream mirrors can not contain filtered subjects";
    MIRROR_WITH_SUBJECTS mirror_with_subjects() = 400, 10034, "stream mirrors can not contain subjects";
    NO_ACCOUNT no_account() = 503, 10035, "account not found";
    CLUSTER_UNSUPPORT_FEATURE cluster_unsupport_feature() = 503, 10036, "not currently supported in clustered mode";
    NO_MESSAGE_FOUND no_message_found() = 404, 10037, "no message found";
    NOT_EMPTY_REQUEST not_empty_request() = 400, 10038, "expected an empty request payload";
    NOT_ENABLED_FOR_ACCOUNT not_enabled_for_account() = 503, 10039, "JetStream not enabled for account";
    RESTORE_SUBSCRIBE_FAILED restore_subscribe_failed(subject: impl Display, err: impl Display) = 500, 10042, "JetStream unable to subscribe to restore snapshot {subject}: {err}";
    SEQUENCE_NOT_FOUND sequence_not_found(seq: u64) = 400, 10043, "sequence {seq} not found";
    SOURCE_CONSUMER_SETUP_FAILED source_consumer_setup_failed(err: impl Display) = 500, 10045, "{err}";
    SOURCE_MAX_MESSAGE_SIZE_TOO_BIG source_max_message_size_too_big() = 400, 10046, "stream source must have max message size >= target";
    STORAGE_RESOURCES_EXCEEDED storage_resources_exceeded() = 500, 10047, "insufficient storage resources available";
    STREAM_CREATE stream_create(err: impl Display) = 500, 10049, "{err}";
    STREAM_DELETE stream_delete(err: impl Display) = 500, 10050, "{err}";
    STREAM_GENERAL stream_general(err: impl Display) = 500, 10051, "{err}";
    /// The catch-all for a rejected stream config; the description is the reason alone.
    STREAM_INVALID_CONFIG stream_invalid_config(err: impl Display) = 500, 10052, "{err}";
    STREAM_LIMITS stream_limits(err: impl Display) = 500, 10053, "{err}";
    STREAM_MESSAGE_EXCEEDS_MAXIMUM stream_message_exceeds_maximum() = 400, 10054, "message size exceeds maximum allowed";
    STREAM_MIRROR_NOT_UPDATABLE stream_mirror_not_updatable() = 400, 10055, "stream mirror configuration can not be updated";
    STREAM_MISMATCH stream_mismatch() = 400, 10056, "stream name in subject does not match request";
    /// nats-server sends "message delete not permitted" here for `deny_delete` streams,
    /// and the store's own text ("no message found") when the sequence is gone.
    STREAM_MSG_DELETE_FAILED stream_msg_delete_failed(err: impl Display) = 500, 10057, "{err}";
    STREAM_NAME_EXIST stream_name_exist() = 400, 10058, "stream name already in use with a different configuration";
    STREAM_NOT_FOUND stream_not_found() = 404, 10059, "stream not found";
    STREAM_NOT_MATCH stream_not_match() = 400, 10060, "expected stream does not match";
    STREAM_REPLICAS_NOT_UPDATABLE stream_replicas_not_updatable() = 400, 10061, "Replicas configuration can not be updated";
    STREAM_RESTORE stream_restore(err: impl Display) = 500, 10062, "restore failed: {err}";
    STREAM_SEQUENCE_NOT_MATCH stream_sequence_not_match() = 503, 10063, "expected stream sequence does not match";
    STREAM_SNAPSHOT stream_snapshot(err: impl Display) = 500, 10064, "snapshot failed: {err}";
    STREAM_SUBJECT_OVERLAP stream_subject_overlap() = 400, 10065, "subjects overlap with an existing stream";
    STREAM_UPDATE stream_update(err: impl Display) = 500, 10069, "{err}";
    STREAM_WRONG_LAST_MSG_ID stream_wrong_last_msg_id(id: impl Display) = 400, 10070, "wrong last msg ID: {id}";
    STREAM_WRONG_LAST_SEQUENCE stream_wrong_last_sequence(seq: u64) = 400, 10071, "wrong last sequence: {seq}";
    TEMP_STORAGE_FAILED temp_storage_failed() = 500, 10072, "JetStream unable to open temp storage for restore";
    STREAM_REPLICAS_NOT_SUPPORTED stream_replicas_not_supported() = 500, 10074, "replicas > 1 not supported in non-clustered mode";
    NOT_ENABLED not_enabled() = 503, 10076, "JetStream not enabled";
    /// Also the discard-new limit errors: "maximum messages exceeded", "maximum bytes
    /// exceeded", "maximum messages per subject exceeded".
    STREAM_STORE_FAILED stream_store_failed(err: impl Display) = 503, 10077, "{err}";
    CONSUMER_CONFIG_REQUIRED consumer_config_required() = 400, 10078, "consumer config required";
    CONSUMER_DELIVER_TO_WILDCARDS consumer_deliver_to_wildcards() = 400, 10079, "consumer deliver subject has wildcards";
    CONSUMER_PUSH_MAX_WAITING consumer_push_max_waiting() = 400, 10080, "consumer in push mode can not set max waiting";
    CONSUMER_DELIVER_CYCLE consumer_deliver_cycle() = 400, 10081, "consumer deliver subject forms a cycle";
    CONSUMER_MAX_PENDING_ACK_POLICY_REQUIRED consumer_max_pending_ack_policy_required() = 400, 10082, "consumer requires ack policy for max ack pending";
    CONSUMER_SMALL_HEARTBEAT consumer_small_heartbeat() = 400, 10083, "consumer idle heartbeat needs to be >= 100ms";
    /// 2.9.10: "consumer in pull mode requires ack policy" (it then refused ack none on
    /// every pull consumer, not only on workqueue streams).
    CONSUMER_PULL_REQUIRES_ACK consumer_pull_requires_ack() = 400, 10084, "consumer in pull mode requires explicit ack policy on workqueue stream";
    CONSUMER_PULL_NOT_DURABLE consumer_pull_not_durable() = 400, 10085, "consumer in pull mode requires a durable name";
    CONSUMER_PULL_WITH_RATE_LIMIT consumer_pull_with_rate_limit() = 400, 10086, "consumer in pull mode can not have rate limit set";
    CONSUMER_MAX_WAITING_NEGATIVE consumer_max_waiting_negative() = 400, 10087, "consumer max waiting needs to be positive";
    CONSUMER_HB_REQUIRES_PUSH consumer_hb_requires_push() = 400, 10088, "consumer idle heartbeat requires a push based consumer";
    CONSUMER_FC_REQUIRES_PUSH consumer_fc_requires_push() = 400, 10089, "consumer flow control requires a push based consumer";
    CONSUMER_DIRECT_REQUIRES_PUSH consumer_direct_requires_push() = 400, 10090, "consumer direct requires a push based consumer";
    CONSUMER_DIRECT_REQUIRES_EPHEMERAL consumer_direct_requires_ephemeral() = 400, 10091, "consumer direct requires an ephemeral consumer";
    CONSUMER_ON_MAPPED consumer_on_mapped() = 400, 10092, "consumer direct on a mapped consumer";
    CONSUMER_FILTER_NOT_SUBSET consumer_filter_not_subset() = 400, 10093, "consumer filter subject is not a valid subset of the interest subjects";
    CONSUMER_INVALID_POLICY consumer_invalid_policy(err: impl Display) = 400, 10094, "{err}";
    CONSUMER_INVALID_SAMPLING consumer_invalid_sampling(err: impl Display) = 400, 10095, "failed to parse consumer sampling configuration: {err}";
    STREAM_INVALID stream_invalid() = 500, 10096, "stream not valid";
    STREAM_HEADER_EXCEEDS_MAXIMUM stream_header_exceeds_maximum() = 400, 10097, "header size exceeds maximum allowed of 64k";
    CONSUMER_WQ_REQUIRES_EXPLICIT_ACK consumer_wq_requires_explicit_ack() = 400, 10098, "workqueue stream requires explicit ack";
    CONSUMER_WQ_MULTIPLE_UNFILTERED consumer_wq_multiple_unfiltered() = 400, 10099, "multiple non-filtered consumers not allowed on workqueue stream";
    CONSUMER_WQ_CONSUMER_NOT_UNIQUE consumer_wq_consumer_not_unique() = 400, 10100, "filtered consumer not unique on workqueue stream";
    CONSUMER_WQ_CONSUMER_NOT_DELIVER_ALL consumer_wq_consumer_not_deliver_all() = 400, 10101, "consumer must be deliver all on workqueue stream";
    CONSUMER_NAME_TOO_LONG consumer_name_too_long(max: usize) = 400, 10102, "consumer name is too long, maximum allowed is {max}";
    CONSUMER_BAD_DURABLE_NAME consumer_bad_durable_name() = 400, 10103, "durable name can not contain '.', '*', '>'";
    CONSUMER_STORE_FAILED consumer_store_failed(err: impl Display) = 500, 10104, "error creating store for consumer: {err}";
    CONSUMER_EXISTING_ACTIVE consumer_existing_active() = 400, 10105, "consumer already exists and is still active";
    CONSUMER_REPLACEMENT_WITH_DIFFERENT_NAME consumer_replacement_with_different_name() = 400, 10106, "consumer replacement durable config not the same";
    CONSUMER_DESCRIPTION_TOO_LONG consumer_description_too_long(max: usize) = 400, 10107, "consumer description is too long, maximum allowed is {max}";
    CONSUMER_WITH_FLOW_CONTROL_NEEDS_HEARTBEATS consumer_with_flow_control_needs_heartbeats() = 400, 10108, "consumer with flow control also needs heartbeats";
    STREAM_SEALED stream_sealed() = 400, 10109, "invalid operation on sealed stream";
    /// nats-server sends "stream purge not permitted" here for `deny_purge` streams.
    STREAM_PURGE_FAILED stream_purge_failed(err: impl Display) = 500, 10110, "{err}";
    /// nats-server sends "rollup not permitted" here when `allow_rollup_hdrs` is off.
    STREAM_ROLLUP_FAILED stream_rollup_failed(err: impl Display) = 500, 10111, "{err}";
    CONSUMER_INVALID_DELIVER_SUBJECT consumer_invalid_deliver_subject() = 400, 10112, "invalid push consumer deliver subject";
    STREAM_MAX_BYTES_REQUIRED stream_max_bytes_required() = 400, 10113, "account requires a stream config to have max bytes set";
    CONSUMER_MAX_REQUEST_BATCH_NEGATIVE consumer_max_request_batch_negative() = 400, 10114, "consumer max request batch needs to be > 0";
    CONSUMER_MAX_REQUEST_EXPIRES_TOO_SMALL consumer_max_request_expires_too_small() = 400, 10115, "consumer max request expires needs to be >= 1ms";
    CONSUMER_MAX_DELIVER_BACKOFF consumer_max_deliver_backoff() = 400, 10116, "max deliver is required to be > length of backoff values";
    STREAM_INFO_MAX_SUBJECTS stream_info_max_subjects() = 500, 10117, "subject details would exceed maximum allowed";
    STREAM_OFFLINE stream_offline() = 500, 10118, "stream is offline";
    CONSUMER_OFFLINE consumer_offline() = 500, 10119, "consumer is offline";
    NO_LIMITS no_limits() = 400, 10120, "no JetStream default or applicable tiered limit present";
    CONSUMER_MAX_PENDING_ACK_EXCESS consumer_max_pending_ack_excess(limit: i64) = 400, 10121, "consumer max ack pending exceeds system limit of {limit}";
    STREAM_MAX_STREAM_BYTES_EXCEEDED stream_max_stream_bytes_exceeded() = 400, 10122, "stream max bytes exceeds account limit max stream bytes";
    CONSUMER_MAX_REQUEST_BATCH_EXCEEDED consumer_max_request_batch_exceeded(limit: i64) = 400, 10125, "consumer max request batch exceeds server limit of {limit}";
    CONSUMER_REPLICAS_EXCEEDS_STREAM consumer_replicas_exceeds_stream() = 400, 10126, "consumer config replica count exceeds parent stream";
    CONSUMER_NAME_CONTAINS_PATH_SEPARATORS consumer_name_contains_path_separators() = 400, 10127, "Consumer name can not contain path separators";
    STREAM_NAME_CONTAINS_PATH_SEPARATORS stream_name_contains_path_separators() = 400, 10128, "Stream name can not contain path separators";
    STREAM_NAME_EXIST_RESTORE_FAILED stream_name_exist_restore_failed() = 400, 10130, "stream name already in use, cannot restore";
    CONSUMER_CREATE_FILTER_SUBJECT_MISMATCH consumer_create_filter_subject_mismatch() = 400, 10131, "Consumer create request did not match filtered subject from create subject";
    CONSUMER_CREATE_DURABLE_AND_NAME_MISMATCH consumer_create_durable_and_name_mismatch() = 400, 10132, "Consumer Durable and Name have to be equal if both are provided";
    REPLICAS_COUNT_CANNOT_BE_NEGATIVE replicas_count_cannot_be_negative() = 400, 10133, "replicas count cannot be negative";
    CONSUMER_REPLICAS_SHOULD_MATCH_STREAM consumer_replicas_should_match_stream() = 400, 10134, "consumer config replicas must match interest retention stream's replicas";
    CONSUMER_METADATA_LENGTH consumer_metadata_length(limit: impl Display) = 400, 10135, "consumer metadata exceeds maximum size of {limit}";
    CONSUMER_DUPLICATE_FILTER_SUBJECTS consumer_duplicate_filter_subjects() = 400, 10136, "consumer cannot have both FilterSubject and FilterSubjects specified";
    CONSUMER_MULTIPLE_FILTERS_NOT_ALLOWED consumer_multiple_filters_not_allowed() = 400, 10137, "consumer with multiple subject filters cannot use subject based API";
    CONSUMER_OVERLAPPING_SUBJECT_FILTERS consumer_overlapping_subject_filters() = 400, 10138, "consumer subject filters cannot overlap";
    CONSUMER_EMPTY_FILTER consumer_empty_filter() = 400, 10139, "consumer filter in FilterSubjects cannot be empty";
    SOURCE_DUPLICATE_DETECTED source_duplicate_detected() = 400, 10140, "duplicate source configuration detected";
    SOURCE_INVALID_STREAM_NAME source_invalid_stream_name() = 400, 10141, "sourced stream name is invalid";
    MIRROR_INVALID_STREAM_NAME mirror_invalid_stream_name() = 400, 10142, "mirrored stream name is invalid";
    MIRROR_WITH_FIRST_SEQ mirror_with_first_seq() = 400, 10143, "stream mirrors can not have first sequence configured";
    SOURCE_MULTIPLE_FILTERS_NOT_ALLOWED source_multiple_filters_not_allowed() = 400, 10144, "source with multiple subject transforms cannot also have a single subject filter";
    SOURCE_INVALID_SUBJECT_FILTER source_invalid_subject_filter(err: impl Display) = 400, 10145, "source transform source: {err}";
    SOURCE_INVALID_TRANSFORM_DESTINATION source_invalid_transform_destination(err: impl Display) = 400, 10146, "source transform: {err}";
    SOURCE_OVERLAPPING_SUBJECT_FILTERS source_overlapping_subject_filters() = 400, 10147, "source filters can not overlap";
    CONSUMER_ALREADY_EXISTS consumer_already_exists() = 400, 10148, "consumer already exists";
    CONSUMER_DOES_NOT_EXIST consumer_does_not_exist() = 400, 10149, "consumer does not exist";
    MIRROR_MULTIPLE_FILTERS_NOT_ALLOWED mirror_multiple_filters_not_allowed() = 400, 10150, "mirror with multiple subject transforms cannot also have a single subject filter";
    MIRROR_INVALID_SUBJECT_FILTER mirror_invalid_subject_filter(err: impl Display) = 400, 10151, "mirror transform source: {err}";
    MIRROR_OVERLAPPING_SUBJECT_FILTERS mirror_overlapping_subject_filters() = 400, 10152, "mirror subject filters can not overlap";
    CONSUMER_INACTIVE_THRESHOLD_EXCESS consumer_inactive_threshold_excess(limit: impl Display) = 400, 10153, "consumer inactive threshold exceeds system limit of {limit}";
    MIRROR_INVALID_TRANSFORM_DESTINATION mirror_invalid_transform_destination(err: impl Display) = 400, 10154, "mirror transform: {err}";
    STREAM_TRANSFORM_INVALID_SOURCE stream_transform_invalid_source(err: impl Display) = 400, 10155, "stream transform source: {err}";
    STREAM_TRANSFORM_INVALID_DESTINATION stream_transform_invalid_destination(err: impl Display) = 400, 10156, "stream transform: {err}";
    PEDANTIC pedantic(err: impl Display) = 400, 10157, "pedantic mode: {err}";
    STREAM_DUPLICATE_MESSAGE_CONFLICT stream_duplicate_message_conflict() = 409, 10158, "duplicate message id is in process";
    CONSUMER_PRIORITY_POLICY_WITHOUT_GROUP consumer_priority_policy_without_group() = 400, 10159, "Setting PriorityPolicy requires at least one PriorityGroup to be set";
    CONSUMER_INVALID_PRIORITY_GROUP consumer_invalid_priority_group() = 400, 10160, "Provided priority group does not exist for this consumer";
    CONSUMER_EMPTY_GROUP_NAME consumer_empty_group_name() = 400, 10161, "Group name cannot be an empty string";
    CONSUMER_INVALID_GROUP_NAME consumer_invalid_group_name() = 400, 10162, "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters";
    STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_NOT_READY stream_expected_last_seq_per_subject_not_ready() = 503, 10163, "expected last sequence per subject temporarily unavailable";
    STREAM_WRONG_LAST_SEQUENCE_CONSTANT stream_wrong_last_sequence_constant() = 400, 10164, "wrong last sequence";
    MESSAGE_TTL_INVALID message_ttl_invalid() = 400, 10165, "invalid per-message TTL";
    MESSAGE_TTL_DISABLED message_ttl_disabled() = 400, 10166, "per-message TTL is disabled";
    STREAM_TOO_MANY_REQUESTS stream_too_many_requests() = 429, 10167, "too many requests";
    MIRROR_WITH_COUNTERS mirror_with_counters() = 400, 10173, "stream mirrors can not also calculate counters";
    CONSUMER_PUSH_WITH_PRIORITY_GROUP consumer_push_with_priority_group() = 400, 10178, "priority groups can not be used with push consumers";
    CONSUMER_ACK_POLICY_INVALID consumer_ack_policy_invalid() = 400, 10181, "consumer ack policy invalid";
    CONSUMER_REPLAY_POLICY_INVALID consumer_replay_policy_invalid() = 400, 10182, "consumer replay policy invalid";
    CONSUMER_ACK_WAIT_NEGATIVE consumer_ack_wait_negative() = 400, 10183, "consumer ack wait needs to be positive";
    CONSUMER_BACK_OFF_NEGATIVE consumer_back_off_negative() = 400, 10184, "consumer backoff needs to be positive";
    REQUIRED_API_LEVEL required_api_level() = 412, 10185, "JetStream minimum api level required";
    MIRROR_WITH_MSG_SCHEDULES mirror_with_msg_schedules() = 400, 10186, "stream mirrors can not also schedule messages";
    SOURCE_WITH_MSG_SCHEDULES source_with_msg_schedules() = 400, 10187, "stream source can not also schedule messages";
    STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_INVALID stream_expected_last_seq_per_subject_invalid() = 400, 10193, "missing sequence for expected last sequence per subject";
    CONSUMER_PRIORITY_GROUP_WITH_POLICY_NONE consumer_priority_group_with_policy_none() = 400, 10196, "consumer can not have priority groups when policy is none";
    CONSUMER_PINNED_TTL_WITHOUT_PRIORITY_POLICY_NONE consumer_pinned_ttl_without_priority_policy_none() = 400, 10197, "PinnedTTL cannot be set when PriorityPolicy is none";
    MIRROR_WITH_ATOMIC_PUBLISH mirror_with_atomic_publish() = 400, 10198, "stream mirrors can not also use atomic publishing";
    MIRROR_WITH_BATCH_PUBLISH mirror_with_batch_publish() = 400, 10209, "stream mirrors can not also use batch publishing";
    MIRROR_DURABLE_CONSUMER_CFG_INVALID mirror_durable_consumer_cfg_invalid() = 400, 10213, "stream mirror consumer config is invalid";
    SOURCE_DURABLE_CONSUMER_CFG_INVALID source_durable_consumer_cfg_invalid() = 400, 10215, "stream source consumer config is invalid";
    SOURCE_DURABLE_CONSUMER_DUPLICATE_DETECTED source_durable_consumer_duplicate_detected() = 400, 10216, "duplicate stream source consumer detected";
    CONSUMER_ACK_FC_REQUIRES_PUSH consumer_ack_fc_requires_push() = 400, 10218, "flow control ack policy requires a push based consumer";
    CONSUMER_ACK_FC_REQUIRES_FC consumer_ack_fc_requires_fc() = 400, 10219, "flow control ack policy requires flow control";
    CONSUMER_ACK_FC_REQUIRES_MAX_ACK_PENDING consumer_ack_fc_requires_max_ack_pending() = 400, 10220, "flow control ack policy requires max ack pending";
    CONSUMER_ACK_FC_REQUIRES_NO_ACK_WAIT consumer_ack_fc_requires_no_ack_wait() = 400, 10221, "flow control ack policy requires unset ack wait";
    CONSUMER_ACK_FC_REQUIRES_NO_MAX_DELIVER consumer_ack_fc_requires_no_max_deliver() = 400, 10222, "flow control ack policy requires unset max deliver";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn encodes_as_api_error() {
        let json = serde_json::to_string(&JsError::stream_not_found()).unwrap();
        assert_eq!(
            json,
            r#"{"code":404,"err_code":10059,"description":"stream not found"}"#
        );
    }

    #[test]
    fn templates_are_filled() {
        assert_eq!(
            JsError::sequence_not_found(42).description,
            "sequence 42 not found"
        );
        assert_eq!(
            JsError::stream_wrong_last_sequence(41).description,
            "wrong last sequence: 41"
        );
        assert_eq!(
            JsError::stream_wrong_last_msg_id("m1").description,
            "wrong last msg ID: m1"
        );
        assert_eq!(
            JsError::invalid_json("unexpected end").description,
            "invalid JSON: unexpected end"
        );
        assert_eq!(
            JsError::stream_external_api_overlap("$JS.API", "$JS.API").description,
            "stream external api prefix $JS.API must not overlap with $JS.API"
        );
        assert_eq!(
            JsError::consumer_name_too_long(255).description,
            "consumer name is too long, maximum allowed is 255"
        );
        let invalid = JsError::stream_invalid_config("max age needs to be >= 100ms");
        assert_eq!((invalid.code, invalid.err_code), (500, 10052));
        assert_eq!(invalid.description, "max age needs to be >= 100ms");
    }

    #[test]
    fn display_is_go_api_error_text() {
        assert_eq!(
            JsError::stream_sealed().to_string(),
            "invalid operation on sealed stream (10109)"
        );
    }

    #[test]
    fn err_codes_are_unique_and_in_range() {
        let mut seen = BTreeSet::new();
        for &(code, err_code, _) in TABLE {
            assert!(seen.insert(err_code), "duplicate err_code {err_code}");
            assert!((10000..11000).contains(&err_code));
            assert!(matches!(code, 400 | 404 | 409 | 412 | 429 | 500 | 503));
        }
        assert_eq!(codes::STREAM_NOT_FOUND, 10059);
        assert!(JsError::stream_not_found().is(codes::STREAM_NOT_FOUND));
    }

    /// Prints the table as JSON; compared once against nats-server's errors.json with
    /// `cargo test -- --ignored --nocapture dump_table`.
    #[test]
    #[ignore]
    fn dump_table() {
        let rows: Vec<_> = TABLE
            .iter()
            .map(|&(code, err_code, text)| {
                serde_json::json!({"code": code, "error_code": err_code, "description": text})
            })
            .collect();
        println!("{}", serde_json::to_string(&rows).unwrap());
    }
}
