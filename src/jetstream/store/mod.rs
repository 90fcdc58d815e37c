//! The JetStream stream store as a pure state machine: no I/O, no async, no clock.
//! Bytes, time and events go in; state, answers and log operations come out. The
//! glommio driver around it appends what [`MsgStore::take_log`] hands out to segment
//! files, reads bodies back at a [`Location`], and feeds scanned segments to
//! [`MsgStore::recover`] at start.
//!
//! A tour:
//! - [`record`]: the on-disk record format (framing, checksum, resync scanner).
//! - `store`: [`MsgStore`], one stream's messages, limits and queries, for memory and
//!   file storage alike; `index` (by sequence) and `subjects` (by subject) hold them.
//! - `limits`: nats-server's size accounting and discard-new rules as pure functions.
//! - `log`: segment bookkeeping and the head-only segment removal invariant.
//! - `recovery`: rebuilding a stream from its segments.
//! - [`synced`]: the synced point, which tells a cut tail from a torn write.
//! - [`dedup`]: the `Nats-Msg-Id` duplicate window.
//! - [`headers`]: NATS header block lookup and building.
//! - `bounds`: every size limit of this module, with units.

mod bounds;
pub mod dedup;
pub mod headers;
mod index;
mod limits;
mod log;
pub mod record;
mod recovery;
#[allow(clippy::module_inception)]
mod store;
mod subjects;
pub mod synced;

#[cfg(test)]
mod tests;

pub use bounds::*;
pub use dedup::{DedupWindow, RecoveredMsgId};
pub use index::Location;
pub use limits::msg_size_bytes;
pub use log::{LogBatch, LogOp};
pub use record::{
    decode_at, encode, scan_segment, CorruptRecord, Record, RecordError, SegmentScan, RECORD_MAGIC,
};
pub use recovery::{MisplacedRecord, RecoveryReport};
pub use store::{
    Appended, DiscardPolicy, MsgBody, MsgStore, MsgView, ReadError, Removed, StorageType,
    StoreConfig, StoreError, StoreState, StoredMsg,
};
pub use synced::{SyncedPoint, SyncedPointError, TailLoss, SYNCED_POINT_BYTES};
