//! `ConsumerInfo`: what CONSUMER.CREATE/INFO/LIST report about a consumer, with
//! nats-server's names, order and `omitempty` rules (server/consumer.go).
//!
//! ```text
//! {"stream_name":"S","name":"P","created":"…","config":{…},
//!  "delivered":{"consumer_seq":5,"stream_seq":5,"last_active":"…"},
//!  "ack_floor":{"consumer_seq":1,"stream_seq":1,"last_active":"…"},
//!  "num_ack_pending":4,"num_redelivered":0,"num_waiting":0,"num_pending":0,
//!  "push_bound":true,"ts":"…"}
//! ```
//!
//! Compared with 2.9.10 the current server adds `ts` (always), `paused`,
//! `pause_remaining` and `priority_groups` (when set). A standalone server reports no
//! `cluster` for consumers (unlike streams).

use super::consumer_config::ConsumerConfig;
use super::json::{is_default, null_as_default};
use super::stream_info::ClusterInfo;
use super::time::GoTime;
use serde::{Deserialize, Serialize};

/// A consumer's configuration and delivery state at `ts`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerInfo {
    #[serde(default, deserialize_with = "null_as_default")]
    pub stream_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default)]
    pub created: GoTime,
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: ConsumerConfig,
    /// The last delivery: consumer and stream sequence (0 before the first).
    #[serde(default, deserialize_with = "null_as_default")]
    pub delivered: SequenceInfo,
    /// Everything up to here is acknowledged.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ack_floor: SequenceInfo,
    #[serde(default, deserialize_with = "null_as_default")]
    pub num_ack_pending: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub num_redelivered: i64,
    /// Outstanding pull requests (pull consumers).
    #[serde(default, deserialize_with = "null_as_default")]
    pub num_waiting: i64,
    /// Stream messages matching the filter that are still to be delivered.
    #[serde(default, deserialize_with = "null_as_default")]
    pub num_pending: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterInfo>,
    /// A push consumer with interest on its deliver subject.
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub push_bound: bool,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub paused: bool,
    #[serde(
        rename = "pause_remaining",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub pause_remaining_nanos: i64,
    /// When this info was gathered (UTC).
    #[serde(default)]
    pub ts: GoTime,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub priority_groups: Vec<PriorityGroupState>,
}

/// A consumer and a stream sequence, and when that position was last reached
/// (nats-server `SequenceInfo`; `last_active` only once something happened).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceInfo {
    #[serde(default, deserialize_with = "null_as_default")]
    pub consumer_seq: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub stream_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_active: Option<GoTime>,
}

/// The pin of one priority group (ADR-42). Go's `omitempty` does not apply to a
/// `time.Time`, so `pinned_ts` is always there (the zero time when unpinned).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityGroupState {
    #[serde(default, deserialize_with = "null_as_default")]
    pub group: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub pinned_client_id: String,
    #[serde(default)]
    pub pinned_ts: GoTime,
}

/// `paused` and `pause_remaining` as nats-server computes them at `now_unix_nanos`: paused
/// while `pause_until` lies in the future.
pub fn pause_state(config: &ConsumerConfig, now_unix_nanos: i64) -> (bool, i64) {
    match config.pause_until {
        Some(until) => {
            let until_nanos = until.unix_nanos_saturating();
            if now_unix_nanos < until_nanos {
                (true, until_nanos.saturating_sub(now_unix_nanos))
            } else {
                (false, 0)
            }
        }
        None => (false, 0),
    }
}

impl ConsumerInfo {
    /// Sets `paused`/`pause_remaining` from the config's `pause_until` at `now_unix_nanos`.
    pub fn set_pause_state(&mut self, now_unix_nanos: i64) {
        (self.paused, self.pause_remaining_nanos) = pause_state(&self.config, now_unix_nanos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_info_encodes_like_nats_server() {
        let info = ConsumerInfo {
            stream_name: "S".to_owned(),
            name: "C".to_owned(),
            ..ConsumerInfo::default()
        };
        let json = serde_json::to_string(&info).unwrap();
        assert!(json.starts_with(r#"{"stream_name":"S","name":"C","created":"0001-01-01T00:00:00Z","config":{"deliver_policy":"all","ack_policy":"none","replay_policy":"instant","num_replicas":0},"delivered":{"consumer_seq":0,"stream_seq":0},"ack_floor":{"consumer_seq":0,"stream_seq":0},"num_ack_pending":0,"num_redelivered":0,"num_waiting":0,"num_pending":0,"ts":"#));
        let back: ConsumerInfo = serde_json::from_str(&json).unwrap();
        assert_eq!(back, info);
    }

    #[test]
    fn priority_groups_and_pause() {
        let state = PriorityGroupState {
            group: "jobs".to_owned(),
            ..PriorityGroupState::default()
        };
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            r#"{"group":"jobs","pinned_ts":"0001-01-01T00:00:00Z"}"#
        );
        let mut info = ConsumerInfo::default();
        info.config.pause_until = Some(GoTime::from_unix_nanos(10_000));
        info.set_pause_state(4_000);
        assert_eq!((info.paused, info.pause_remaining_nanos), (true, 6_000));
        let json = serde_json::to_string(&info).unwrap();
        assert!(json.contains(r#""paused":true,"pause_remaining":6000,"ts":"#));
        info.set_pause_state(10_000);
        assert_eq!((info.paused, info.pause_remaining_nanos), (false, 0));
        assert_eq!(pause_state(&ConsumerConfig::default(), 0), (false, 0));
    }
}
