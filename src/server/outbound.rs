//! A connection's pending output: a queue of fixed-size chunks that the writer takes one at
//! a time and hands back to its core's pool.
//!
//! One growing buffer per connection (what this replaced) costs a reader that falls behind
//! twice: every doubling copies everything queued so far, and past glibc's mmap threshold
//! each buffer is a fresh mapping whose pages all fault in (and are zeroed) again. A
//! reader that never reads, cut off at `max_pending` and back at once, made the server
//! fault in `max_pending` of fresh pages per generation; with chunks the pages are reused.
//! nats-server (since 2.10) pools its outbound buffers in size classes too.
//!
//! A queue starts with a small chunk, so that the many connections of a wide fan-out each
//! hold a few KiB, not a full chunk, for the few messages they have pending; once output
//! backs up (the writer takes a chunk at least that full), it grows a full chunk at a time,
//! until the writer takes a small one again.

use std::cell::RefCell;
use std::collections::VecDeque;

use crate::limits::{
    OUTBOUND_CHUNK_BYTES, OUTBOUND_FIRST_CHUNK_BYTES, OUTBOUND_POOL_CHUNKS_MAX,
    OUTBOUND_POOL_FIRST_CHUNKS_MAX,
};
use crate::protocol::{encode_msg_line, msg_line_bytes_max};

/// Pending output bytes, oldest first, in chunks of [`OUTBOUND_FIRST_CHUNK_BYTES`] or
/// [`OUTBOUND_CHUNK_BYTES`] capacity (or exactly one oversized message line).
#[derive(Default)]
pub struct OutQueue {
    /// Chunks filled before `tail`, oldest first.
    sealed: VecDeque<Vec<u8>>,
    /// The chunk being filled (capacity 0 when there is none). Kept out of `sealed` so
    /// that appending touches no memory but the queue itself and the chunk's end: with
    /// the tail behind the deque's own allocation, a fan-out to 200 connections spent
    /// half its time waiting for that extra cache line.
    tail: Vec<u8>,
    len_bytes: usize,
    /// The writer's last chunk was full: output is backing up, so an empty queue starts
    /// with a full chunk too (a small one would halve the size of every other write).
    busy: bool,
}

impl OutQueue {
    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.len_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.len_bytes == 0
    }

    /// Appends `bytes`, spilling into new chunks as the last one fills.
    pub fn extend(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let tail = self.tail_with_room(1);
            let taken = (tail.capacity() - tail.len()).min(bytes.len());
            tail.extend_from_slice(&bytes[..taken]);
            bytes = &bytes[taken..];
            self.len_bytes += taken;
        }
    }

    /// Appends a whole `MSG`/`HMSG` (line, body, CRLF). The line goes into one chunk, so it
    /// is encoded in place; the body may span chunks.
    pub fn push_msg(
        &mut self,
        subject: &[u8],
        sid: &[u8],
        reply: Option<&[u8]>,
        header_len: Option<usize>,
        body: &[u8],
    ) {
        let line_max = msg_line_bytes_max(subject, sid, reply);
        let whole_max = line_max + body.len() + 2;
        // Usually the whole message fits the chunk being filled: then it is three appends
        // to one Vec, as with a single buffer.
        let fits_whole = whole_max <= OUTBOUND_CHUNK_BYTES;
        let tail = self.tail_with_room(if fits_whole { whole_max } else { line_max });
        let (before, capacity) = (tail.len(), tail.capacity());
        encode_msg_line(tail, subject, sid, reply, header_len, body.len());
        if fits_whole {
            tail.extend_from_slice(body);
            tail.extend_from_slice(b"\r\n");
        }
        // The room was checked: appending never moved the chunk to a larger allocation.
        assert_eq!(tail.capacity(), capacity);
        self.len_bytes += tail.len() - before;
        if !fits_whole {
            self.extend(body);
            self.extend(b"\r\n");
        }
    }

    /// Takes the oldest chunk, to write it; give it back with [`recycle`].
    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let chunk = match self.sealed.pop_front() {
            Some(chunk) => chunk,
            None if !self.tail.is_empty() => std::mem::take(&mut self.tail),
            None => return None,
        };
        self.len_bytes -= chunk.len();
        self.busy = chunk.len() >= OUTBOUND_FIRST_CHUNK_BYTES;
        Some(chunk)
    }

    /// Drops everything queued (its chunks go back to the pool).
    pub fn clear(&mut self) {
        for chunk in self.sealed.drain(..) {
            recycle(chunk);
        }
        if self.tail.capacity() > 0 {
            recycle(std::mem::take(&mut self.tail));
        }
        self.len_bytes = 0;
    }

    /// The chunk being filled, if it has `room_bytes` free, else a new one that has.
    #[inline]
    fn tail_with_room(&mut self, room_bytes: usize) -> &mut Vec<u8> {
        if self.tail.capacity() - self.tail.len() < room_bytes {
            self.new_tail(room_bytes);
        }
        &mut self.tail
    }

    #[cold]
    fn new_tail(&mut self, room_bytes: usize) {
        let first = self.len_bytes == 0 && !self.busy;
        let chunk = if first && room_bytes <= OUTBOUND_FIRST_CHUNK_BYTES {
            take(OUTBOUND_FIRST_CHUNK_BYTES)
        } else if room_bytes <= OUTBOUND_CHUNK_BYTES {
            take(OUTBOUND_CHUNK_BYTES)
        } else {
            // A line longer than a chunk (max_control_line allows it): its own chunk, not
            // pooled.
            Vec::with_capacity(room_bytes)
        };
        let filled = std::mem::replace(&mut self.tail, chunk);
        if !filled.is_empty() {
            self.sealed.push_back(filled);
        } else if filled.capacity() > 0 {
            recycle(filled);
        }
    }
}

impl Drop for OutQueue {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The chunks a core's connections gave back, by size, to be reused before any new
/// allocation (bounded: a burst's extra chunks go back to the allocator).
#[derive(Default)]
struct Pool {
    first: Vec<Vec<u8>>,
    full: Vec<Vec<u8>>,
}

thread_local! {
    /// One per core: connections never leave the core that accepted them.
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// An empty chunk of exactly `capacity_bytes` (one of the two pooled sizes).
fn take(capacity_bytes: usize) -> Vec<u8> {
    let pooled = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if capacity_bytes == OUTBOUND_CHUNK_BYTES {
            pool.full.pop()
        } else {
            pool.first.pop()
        }
    });
    let chunk = pooled.unwrap_or_else(|| Vec::with_capacity(capacity_bytes));
    debug_assert!(chunk.is_empty() && chunk.capacity() >= capacity_bytes);
    chunk
}

/// Gives a written (or dropped) chunk back to this core's pool, if it is of a pooled size
/// and the pool has room.
pub fn recycle(mut chunk: Vec<u8>) {
    chunk.clear();
    // `try_with`: a queue dropped while the thread's locals are torn down just frees.
    let _ = POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        let capacity = chunk.capacity();
        if capacity == OUTBOUND_CHUNK_BYTES && pool.full.len() < OUTBOUND_POOL_CHUNKS_MAX {
            pool.full.push(chunk);
        } else if capacity == OUTBOUND_FIRST_CHUNK_BYTES
            && pool.first.len() < OUTBOUND_POOL_FIRST_CHUNKS_MAX
        {
            pool.first.push(chunk);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(queue: &mut OutQueue) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = queue.pop_front() {
            assert!(!chunk.is_empty() || queue.is_empty());
            out.extend_from_slice(&chunk);
            recycle(chunk);
        }
        assert_eq!(queue.len(), 0);
        out
    }

    /// Whatever goes in comes out in order, however it falls across chunk boundaries, and
    /// `len` counts exactly what is queued.
    #[test]
    fn bytes_come_out_in_order_across_chunks() {
        let mut queue = OutQueue::default();
        let mut expected = Vec::new();
        let mut seed = 7u64;
        for round in 0..400 {
            // Lengths from 0 to past two full chunks.
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (seed >> 33) as usize % (2 * OUTBOUND_CHUNK_BYTES + 300);
            let bytes: Vec<u8> = (0..len).map(|i| (i + round) as u8).collect();
            queue.extend(&bytes);
            expected.extend_from_slice(&bytes);
            assert_eq!(queue.len(), expected.len());
            if round % 7 == 0 {
                assert_eq!(drain(&mut queue), expected);
                expected.clear();
            }
        }
        assert_eq!(drain(&mut queue), expected);
    }

    /// A message's line is encoded whole into one chunk, the same bytes as encoding into
    /// one buffer, including a line longer than a chunk.
    #[test]
    fn messages_encode_as_into_one_buffer() {
        let mut queue = OutQueue::default();
        let mut expected = Vec::new();
        let long_subject = vec![b'a'; OUTBOUND_CHUNK_BYTES + 10];
        let body = vec![b'b'; 3000];
        for i in 0..100usize {
            let subject: &[u8] = if i == 50 {
                &long_subject
            } else {
                b"orders.new"
            };
            let reply: Option<&[u8]> = (i % 3 == 0).then_some(b"_INBOX.x");
            let header_len = (i % 5 == 0).then_some(12);
            let body = &body[..(i * 37) % (body.len() - 12) + 12];
            queue.push_msg(subject, b"42", reply, header_len, body);
            encode_msg_line(&mut expected, subject, b"42", reply, header_len, body.len());
            expected.extend_from_slice(body);
            expected.extend_from_slice(b"\r\n");
            assert_eq!(queue.len(), expected.len());
        }
        assert_eq!(drain(&mut queue), expected);
    }

    /// The first chunk of an empty queue is small; later ones are full-size; a cleared
    /// queue's chunks are reused; after the writer took a full first chunk (output backing
    /// up), an empty queue starts with a full chunk, and after a small one, small again.
    #[test]
    fn a_queue_starts_small_and_reuses_chunks() {
        let mut queue = OutQueue::default();
        queue.extend(b"PONG\r\n");
        assert!(queue.sealed.is_empty());
        assert_eq!(queue.tail.capacity(), OUTBOUND_FIRST_CHUNK_BYTES);
        queue.extend(&vec![0u8; OUTBOUND_FIRST_CHUNK_BYTES]);
        assert_eq!(queue.sealed.len(), 1);
        assert_eq!(queue.tail.capacity(), OUTBOUND_CHUNK_BYTES);
        let full_chunk = queue.tail.as_ptr();
        queue.clear();
        assert!(queue.is_empty());
        queue.extend(&vec![0u8; OUTBOUND_FIRST_CHUNK_BYTES + 1]);
        assert_eq!(
            queue.tail.as_ptr(),
            full_chunk,
            "the pooled chunk is reused"
        );

        queue.clear();
        queue.extend(&vec![0u8; OUTBOUND_FIRST_CHUNK_BYTES]);
        recycle(queue.pop_front().unwrap());
        queue.extend(b"PING\r\n");
        assert_eq!(queue.tail.capacity(), OUTBOUND_CHUNK_BYTES, "backing up");
        recycle(queue.pop_front().unwrap());
        queue.extend(b"PING\r\n");
        assert_eq!(
            queue.tail.capacity(),
            OUTBOUND_FIRST_CHUNK_BYTES,
            "light again"
        );
    }
}
