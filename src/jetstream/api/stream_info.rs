//! `StreamInfo` and `StreamState`: what STREAM.CREATE/UPDATE/INFO/LIST report about a
//! stream, with nats-server's names, order and `omitempty` rules (server/stream.go,
//! server/store.go).
//!
//! Compared with 2.9.10 the current server adds `ts` (when the info was taken) and, on
//! a standalone server, `cluster: {"leader": <server name>}`; 2.9.10 sent neither. Both
//! are here: `ts` always, `cluster` when the caller sets it.

use super::errors::JsError;
use super::json::{is_default, null_as_default};
use super::stream_config::{ExternalStream, StreamConfig, SubjectTransformConfig};
use super::time::GoTime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most subjects one STREAM.INFO response lists (`JSMaxSubjectDetails`); more are paged.
pub const SUBJECT_DETAILS_MAX: usize = 100_000;

/// A stream's configuration and state at `ts`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    pub config: StreamConfig,
    pub created: GoTime,
    pub state: StreamState,
    /// The JetStream domain, on UPDATE/INFO/LIST responses of a server that has one.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub domain: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<StreamSourceInfo>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub sources: Vec<StreamSourceInfo>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub alternates: Vec<StreamAlternate>,
    /// When this info was gathered (UTC).
    #[serde(default)]
    pub ts: GoTime,
}

/// Counters and bounds of the stored messages (nats-server `StreamState`).
///
/// An empty stream reports `first_ts`/`last_ts` as Go's zero time; after a purge
/// `first_seq` is `last_seq + 1`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamState {
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub first_ts: GoTime,
    pub last_seq: u64,
    pub last_ts: GoTime,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub num_subjects: u64,
    /// Messages per subject; only when the request asked with `subjects_filter`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub subjects: BTreeMap<String, u64>,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub num_deleted: u64,
    /// Deleted sequences between first and last; only with `deleted_details`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub deleted: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<LostStreamData>,
    #[serde(rename = "consumer_count", default)]
    pub consumer_count: u64,
}

/// Messages the store found damaged (nats-server `LostStreamData`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostStreamData {
    #[serde(default, deserialize_with = "null_as_default")]
    pub msgs: Vec<u64>,
    pub bytes: u64,
}

/// Which servers carry the stream. A standalone current server reports only `leader`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub raft_group: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub leader: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_since: Option<GoTime>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub replicas: Vec<PeerInfo>,
}

/// One follower of a replicated stream (nats-server `PeerInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    pub name: String,
    pub current: bool,
    #[serde(default, skip_serializing_if = "is_default")]
    pub offline: bool,
    /// Nanoseconds since last seen.
    #[serde(rename = "active")]
    pub active_nanos: i64,
    #[serde(default, skip_serializing_if = "is_default")]
    pub lag: u64,
    pub peer: String,
}

/// Progress of a mirror or source (nats-server `StreamSourceInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSourceInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalStream>,
    pub lag: u64,
    /// Nanoseconds since the origin was last heard from; -1 if never.
    #[serde(rename = "active")]
    pub active_nanos: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JsError>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub filter_subject: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub subject_transforms: Vec<SubjectTransformConfig>,
}

/// A mirror of this stream that clients may read from instead (nats-server `StreamAlternate`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamAlternate {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    pub cluster: String,
}

/// One page of per-subject counts for STREAM.INFO with `subjects_filter`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectsPage {
    /// Goes into `StreamState::subjects`.
    pub subjects: BTreeMap<String, u64>,
    /// The response's `total`, `offset`, `limit`; all 0 when nothing matched, as nats-server.
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
}

/// Pages the subject counts that matched a `subjects_filter` as nats-server does: sorted
/// by subject, at most [`SUBJECT_DETAILS_MAX`] from `offset` (clamped to the end).
pub fn page_subjects(totals: BTreeMap<String, u64>, offset: usize) -> SubjectsPage {
    if totals.is_empty() {
        return SubjectsPage::default();
    }
    let total = totals.len();
    let offset_clamped = offset.min(total);
    let subjects = if offset == 0 && total <= SUBJECT_DETAILS_MAX {
        totals
    } else {
        totals
            .into_iter()
            .skip(offset_clamped)
            .take(SUBJECT_DETAILS_MAX)
            .collect()
    };
    SubjectsPage {
        subjects,
        total,
        // nats-server reports the offset as asked, even past the end.
        offset,
        limit: SUBJECT_DETAILS_MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_state_encodes_like_nats_server() {
        // nats-server 2.9.10, STREAM.INFO of a new stream: "state" object.
        let expected = r#"{"messages":0,"bytes":0,"first_seq":0,"first_ts":"0001-01-01T00:00:00Z","last_seq":0,"last_ts":"0001-01-01T00:00:00Z","consumer_count":0}"#;
        let state = StreamState::default();
        assert_eq!(serde_json::to_string(&state).unwrap(), expected);
        let back: StreamState = serde_json::from_str(expected).unwrap();
        assert_eq!(back, state);
    }

    #[test]
    fn detailed_state_encodes_like_nats_server() {
        // nats-server 2.9.10: 5 msgs on s.a/s.b/s.c, seqs 2 and 3 deleted, then
        // STREAM.INFO.S {"deleted_details":true}.
        let expected = r#"{"messages":3,"bytes":110,"first_seq":1,"first_ts":"2026-11-22T00:39:46.721225091Z","last_seq":5,"last_ts":"2026-11-22T00:39:46.721840452Z","num_subjects":2,"num_deleted":2,"deleted":[2,3],"consumer_count":0}"#;
        let state = StreamState {
            messages: 3,
            bytes: 110,
            first_seq: 1,
            first_ts: GoTime::from_unix_nanos(1_795_307_986_721_225_091),
            last_seq: 5,
            last_ts: GoTime::from_unix_nanos(1_795_307_986_721_840_452),
            num_subjects: 2,
            num_deleted: 2,
            deleted: vec![2, 3],
            ..StreamState::default()
        };
        assert_eq!(serde_json::to_string(&state).unwrap(), expected);
        let lost = StreamState {
            lost: Some(LostStreamData {
                msgs: vec![7],
                bytes: 10,
            }),
            subjects: [("a".to_owned(), 1)].into(),
            ..StreamState::default()
        };
        let json = serde_json::to_string(&lost).unwrap();
        assert!(json.contains(r#""subjects":{"a":1}"#));
        assert!(json.contains(r#""lost":{"msgs":[7],"bytes":10}"#));
    }

    #[test]
    fn standalone_cluster_info() {
        let cluster = ClusterInfo {
            leader: "ref1".to_owned(),
            ..ClusterInfo::default()
        };
        assert_eq!(
            serde_json::to_string(&cluster).unwrap(),
            r#"{"leader":"ref1"}"#
        );
    }

    #[test]
    fn source_info_encodes_like_nats_server() {
        // nats-server 2.9.10 STREAM.INFO.AGG "sources".
        let expected = r#"[{"name":"FULL","external":{"api":"$JS.x.API","deliver":""},"lag":0,"active":-1},{"name":"SRC1","lag":0,"active":2258951}]"#;
        let sources = vec![
            StreamSourceInfo {
                name: "FULL".to_owned(),
                external: Some(ExternalStream {
                    api_prefix: "$JS.x.API".to_owned(),
                    deliver_prefix: String::new(),
                }),
                active_nanos: -1,
                ..StreamSourceInfo::default()
            },
            StreamSourceInfo {
                name: "SRC1".to_owned(),
                active_nanos: 2_258_951,
                ..StreamSourceInfo::default()
            },
        ];
        assert_eq!(serde_json::to_string(&sources).unwrap(), expected);
    }

    #[test]
    fn subject_pages() {
        let totals: BTreeMap<String, u64> = [("s.a".to_owned(), 2), ("s.b".to_owned(), 1)].into();
        // nats-server 2.9.10: {"subjects_filter":"s.*","offset":1} → total 2, offset 1,
        // limit 100000, subjects {"s.b":1}.
        let page = page_subjects(totals.clone(), 1);
        assert_eq!(
            (page.total, page.offset, page.limit),
            (2, 1, SUBJECT_DETAILS_MAX)
        );
        assert_eq!(page.subjects, [("s.b".to_owned(), 1)].into());
        let all = page_subjects(totals.clone(), 0);
        assert_eq!(all.subjects, totals);
        let past = page_subjects(totals, 9);
        assert!(past.subjects.is_empty());
        assert_eq!((past.total, past.offset), (2, 9));
        assert_eq!(page_subjects(BTreeMap::new(), 3), SubjectsPage::default());
    }
}
