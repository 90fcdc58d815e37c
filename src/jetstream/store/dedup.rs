//! The de-duplication window of one stream: `Nats-Msg-Id` → (sequence, timestamp) for the
//! ids stored within `duplicate_window`, and the id of the last stored message for
//! `Nats-Expected-Last-Msg-Id`.
//!
//! nats-server (stream.go `checkMsgId`, `storeMsgIdLocked`, `purgeMsgIds`,
//! `rebuildDedupe`): an id is a duplicate while `now - ts < duplicate_window`; a window of
//! 0 disables de-duplication; the last message id is tracked whatever the window, and is
//! empty when the last stored message had no id. Unlike nats-server the window is
//! bounded ([`DEDUP_IDS_MAX`] ids, [`DEDUP_ID_BYTES_MAX`] bytes of ids): past the bound
//! the oldest ids are forgotten early, so only a duplicate of one of those, arriving late
//! in its window, is stored twice.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use super::bounds::{DEDUP_IDS_MAX, DEDUP_ID_BYTES_MAX};

/// A message id found in a stored message during recovery (see
/// `RecoveryReport::msg_ids`), to rebuild the window from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveredMsgId {
    pub id: Bytes,
    pub seq: u64,
    pub ts_ns: i64,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct DedupWindow {
    window_ns: i64,
    /// id → (seq, ts_ns) of its latest store.
    ids: HashMap<Bytes, (u64, i64)>,
    /// (id, seq, ts_ns) in store order, oldest first: expiry and the bound pop here.
    order: VecDeque<(Bytes, u64, i64)>,
    id_bytes: usize,
    last_msg_id: Option<Bytes>,
}

impl DedupWindow {
    /// A window of `window_ns` nanoseconds (0 or less: de-duplication off).
    pub fn new(window_ns: i64) -> Self {
        Self {
            window_ns,
            ..Self::default()
        }
    }

    /// Rebuilds the window after a restart from the ids of recovered messages (in
    /// sequence order), as nats-server's `rebuildDedupe`: ids stored within the window
    /// count again, and the last message id is that of the message at `last_seq` when
    /// it is among them.
    pub fn rebuild(window_ns: i64, now_ns: i64, ids: &[RecoveredMsgId], last_seq: u64) -> Self {
        let mut window = Self::new(window_ns);
        for recovered in ids {
            if now_ns.saturating_sub(recovered.ts_ns) >= window_ns {
                continue;
            }
            window.insert(recovered.id.clone(), recovered.seq, recovered.ts_ns);
            if recovered.seq == last_seq {
                window.last_msg_id = Some(recovered.id.clone());
            }
        }
        window
    }

    pub fn window_ns(&self) -> i64 {
        self.window_ns
    }

    /// Changes the window (stream update); 0 or less forgets every id.
    pub fn set_window(&mut self, window_ns: i64) {
        self.window_ns = window_ns;
        if window_ns <= 0 {
            self.ids.clear();
            self.order.clear();
            self.id_bytes = 0;
        }
    }

    /// The sequence the message id was stored at, if it is a duplicate at `now_ns`.
    pub fn check(&self, msg_id: &[u8], now_ns: i64) -> Option<u64> {
        if self.window_ns <= 0 || msg_id.is_empty() {
            return None;
        }
        let &(seq, ts_ns) = self.ids.get(msg_id)?;
        (now_ns.saturating_sub(ts_ns) < self.window_ns).then_some(seq)
    }

    /// Records a stored message: its id (if it had one) enters the window and becomes
    /// the last message id; a message without an id clears the last message id.
    pub fn record(&mut self, msg_id: Option<&[u8]>, seq: u64, ts_ns: i64) {
        let msg_id = msg_id.filter(|id| !id.is_empty());
        let Some(id) = msg_id else {
            self.last_msg_id = None;
            return;
        };
        // A copy, so a long-lived id does not pin the client's read buffer.
        let id = Bytes::copy_from_slice(id);
        self.last_msg_id = Some(id.clone());
        if self.window_ns > 0 {
            self.insert(id, seq, ts_ns);
        }
    }

    fn insert(&mut self, id: Bytes, seq: u64, ts_ns: i64) {
        match self.ids.entry(id.clone()) {
            MapEntry::Occupied(mut occupied) => {
                // Stored again after its window ended (or a raw store): the older queue
                // entry stays behind and is skipped when it pops, since seqs differ.
                occupied.insert((seq, ts_ns));
            }
            MapEntry::Vacant(vacant) => {
                self.id_bytes += id.len();
                vacant.insert((seq, ts_ns));
            }
        }
        self.order.push_back((id, seq, ts_ns));
        while self.ids.len() > DEDUP_IDS_MAX
            || self.id_bytes > DEDUP_ID_BYTES_MAX
            || self.order.len() > 2 * DEDUP_IDS_MAX
        {
            if !self.pop_oldest() {
                break;
            }
        }
    }

    /// Forgets the oldest queue entry; false when there is none.
    fn pop_oldest(&mut self) -> bool {
        let Some((id, seq, _)) = self.order.pop_front() else {
            return false;
        };
        if self
            .ids
            .get(&id)
            .is_some_and(|&(current, _)| current == seq)
        {
            self.ids.remove(&id);
            self.id_bytes -= id.len();
        }
        true
    }

    /// The `Nats-Msg-Id` of the last stored message, for `Nats-Expected-Last-Msg-Id`.
    pub fn last_msg_id(&self) -> Option<&[u8]> {
        self.last_msg_id.as_deref()
    }

    /// Forgets the ids whose window ended by `now_ns`; returns how many.
    pub fn expire(&mut self, now_ns: i64) -> usize {
        let before = self.ids.len();
        while let Some(&(_, _, ts_ns)) = self.order.front() {
            if now_ns.saturating_sub(ts_ns) < self.window_ns {
                break;
            }
            self.pop_oldest();
        }
        before - self.ids.len()
    }

    /// When the oldest remembered id leaves the window (for the driver's timer).
    pub fn next_expiry_ns(&self) -> Option<i64> {
        let &(_, _, ts_ns) = self.order.front()?;
        Some(ts_ns.saturating_add(self.window_ns))
    }

    /// Ids remembered.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_within_the_window_only() {
        let mut window = DedupWindow::new(100);
        assert_eq!(window.check(b"a", 0), None);
        window.record(Some(b"a"), 1, 0);
        assert_eq!(window.check(b"a", 99), Some(1));
        assert_eq!(window.check(b"a", 100), None, "now - ts >= window expires");
        assert_eq!(window.last_msg_id(), Some(&b"a"[..]));
        window.record(None, 2, 10);
        assert_eq!(window.last_msg_id(), None);
        assert_eq!(window.next_expiry_ns(), Some(100));
        assert_eq!(window.expire(100), 1);
        assert!(window.is_empty());
        // Stored again after expiry: the new entry counts.
        window.record(Some(b"a"), 3, 150);
        assert_eq!(window.check(b"a", 200), Some(3));
    }

    #[test]
    fn disabled_window_still_tracks_last_id() {
        let mut window = DedupWindow::new(0);
        window.record(Some(b"x"), 1, 0);
        assert_eq!(window.check(b"x", 0), None);
        assert_eq!(window.last_msg_id(), Some(&b"x"[..]));
        assert_eq!(window.len(), 0);
    }

    #[test]
    fn re_recording_an_id_keeps_the_newest() {
        let mut window = DedupWindow::new(100);
        window.record(Some(b"a"), 1, 0);
        window.record(Some(b"a"), 2, 50);
        // The first queue entry expires without forgetting the newer store.
        assert_eq!(window.expire(100), 0);
        assert_eq!(window.check(b"a", 120), Some(2));
        assert_eq!(window.expire(150), 1);
    }

    #[test]
    fn rebuild_keeps_recent_ids_and_last_id() {
        let ids = [
            RecoveredMsgId {
                id: Bytes::from_static(b"old"),
                seq: 1,
                ts_ns: 0,
            },
            RecoveredMsgId {
                id: Bytes::from_static(b"new"),
                seq: 2,
                ts_ns: 950,
            },
        ];
        let window = DedupWindow::rebuild(100, 1000, &ids, 2);
        assert_eq!(window.check(b"old", 1000), None);
        assert_eq!(window.check(b"new", 1000), Some(2));
        assert_eq!(window.last_msg_id(), Some(&b"new"[..]));
        let window = DedupWindow::rebuild(100, 1000, &ids, 3);
        assert_eq!(window.last_msg_id(), None);
    }
}
