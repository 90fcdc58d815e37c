//! The thread-per-core runtime under tern. It knows nothing of NATS.
//!
//! A tour:
//! - [`cpus`]: which CPUs this process may use (`sched_getaffinity`, so `taskset` is honoured).
//! - [`memlock`]: io_uring needs locked memory; raise the limit or explain exactly how to.
//! - [`runtime`]: one pinned glommio executor per core ("shard"), started together, each
//!   reporting ready, joined by a full mesh of bounded lock-free SPSC rings.
//! - [`net`]: per-shard `SO_REUSEPORT` listeners (bound before the shards start so errors
//!   surface early) and a connection type whose read and write halves can be driven by two
//!   tasks on the same shard.
//! - [`file`]: append-only files through io_uring (positional writes and reads, fdatasync).
//! - [`sync`], [`time`], [`task`]: the few executor primitives the broker needs, so that the
//!   broker never names a glommio type (glommio stays replaceable behind this crate).

pub mod cpus;
pub mod file;
pub mod memlock;
pub mod net;
pub mod runtime;
pub mod sync;
pub mod task;
pub mod time;

pub use runtime::{run, Mesh, MeshReceiver, RuntimeConfig, RuntimeError, Shard};
