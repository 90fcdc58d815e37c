//! Starting the shards: one pinned glommio executor per CPU, joined by a full mesh of
//! bounded SPSC rings (glommio's `channel_mesh`, one lock-free ring per ordered pair).
//!
//! Ownership of ring items: the sending shard allocates an item and moves it into the ring;
//! the receiving shard owns it from `recv` on and frees it. Nothing is shared but the ring.
//!
//! Startup is all-or-nothing: every shard reports ready after joining the mesh, and `run`
//! waits for all of them with a timeout, because glommio only reports a failed executor at
//! `join()` and a mesh join waits forever for a peer that never started.

use std::future::Future;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use glommio::channels::channel_mesh::{Full, MeshBuilder, Receivers, Senders};
use glommio::channels::shared_channel::ConnectedReceiver;
use glommio::{LocalExecutorBuilder, Placement};
use thiserror::Error;

use crate::memlock::{self, MemlockError};

/// While joining the mesh, each executor wakes this often (see `run`).
const JOIN_NUDGE_MS: u64 = 1;

/// How the shards are laid out.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// One shard per listed CPU, in this order (shard id = index).
    pub cpus: Vec<usize>,
    /// Items per SPSC ring; measured on these machines: 64 starves throughput, 1024+ does not.
    pub ring_capacity: usize,
    /// Buffers glommio registers with io_uring per executor (charged against RLIMIT_MEMLOCK).
    pub io_memory_bytes: usize,
    /// Busy-poll before parking an idle executor (0 = park at once). Waking a parked executor
    /// costs 30-60 us on these VMs, so a latency-sensitive deployment trades CPU for it.
    pub spin_before_park_us: u64,
    /// How long a shard's connection loops run before they let it look at io_uring again
    /// (see [`crate::task::yield_if_slice_used`]).
    pub time_slice_us: u64,
    /// glommio's preempt timer: after this long, [`crate::task::yield_if_needed`] yields
    /// and the shard looks at io_uring again. A backstop for tasks that do not use the time
    /// slice; glommio's own default is 100 ms.
    pub preempt_timer_us: u64,
    /// How long all shards get to start and join the mesh.
    pub ready_timeout_ms: u64,
    /// Thread name prefix ("tern" gives threads "tern-0", "tern-1", ...).
    pub name: String,
}

impl RuntimeConfig {
    pub const RING_CAPACITY_DEFAULT: usize = 1024;
    pub const IO_MEMORY_BYTES_DEFAULT: usize = 2 << 20;
    pub const READY_TIMEOUT_MS_DEFAULT: u64 = 10_000;
    /// Measured on these machines (one core, 128-byte pub/sub, see tern's
    /// benches/RESULTS.md "Time slice").
    pub const TIME_SLICE_US_DEFAULT: u64 = 500;
    /// glommio arms its preempt timer on every turn of the executor; below 5 ms that slowed
    /// every idle request/reply round trip by 10-30% here.
    pub const PREEMPT_TIMER_US_DEFAULT: u64 = 5_000;

    pub fn new(cpus: Vec<usize>) -> Self {
        RuntimeConfig {
            cpus,
            ring_capacity: Self::RING_CAPACITY_DEFAULT,
            io_memory_bytes: Self::IO_MEMORY_BYTES_DEFAULT,
            spin_before_park_us: 0,
            time_slice_us: Self::TIME_SLICE_US_DEFAULT,
            preempt_timer_us: Self::PREEMPT_TIMER_US_DEFAULT,
            ready_timeout_ms: Self::READY_TIMEOUT_MS_DEFAULT,
            name: "shard".to_string(),
        }
    }
}

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("no CPUs to run on")]
    NoCpus,
    #[error(transparent)]
    Memlock(#[from] MemlockError),
    #[error("starting shard {shard} on CPU {cpu} failed: {reason}")]
    Start {
        shard: usize,
        cpu: usize,
        reason: String,
    },
    #[error(
        "only {shards_ready} of {shards} shards became ready within {timeout_ms} ms ({stages})"
    )]
    NotReady {
        shards_ready: usize,
        shards: usize,
        timeout_ms: u64,
        /// Where each shard got to, e.g. "shard 0: joining the mesh, shard 1: executor not running".
        stages: String,
    },
    #[error("shard {shard} failed: {reason}")]
    Shard { shard: usize, reason: String },
}

/// One ring endpoint set: senders to every other shard and receivers from them.
pub struct Mesh<M: Send> {
    senders: Option<Senders<M>>,
    receivers: Option<Receivers<M>>,
}

/// The receiving end of the ring from one other shard.
pub struct MeshReceiver<M: Send> {
    from: usize,
    ring: ConnectedReceiver<M>,
}

impl<M: Send> MeshReceiver<M> {
    /// The shard that sends on this ring.
    pub fn from(&self) -> usize {
        self.from
    }

    /// The next item, or None once the sender closed the ring.
    pub async fn recv(&self) -> Option<M> {
        self.ring.recv().await
    }

    /// The next item if one is in the ring now. Lets a shard apply what a peer already sent
    /// before acting, without waiting for its receiving task to be scheduled.
    pub fn try_recv(&self) -> Option<M> {
        let mut recv = std::pin::pin!(self.ring.recv());
        // A pending poll leaves this no-op waker in glommio's per-channel waker list (it
        // appends, never replaces, so the receiving task's own waker stays registered).
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match recv.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(item) => item,
            std::task::Poll::Pending => None,
        }
    }
}

/// What a shard's main future is given: its identity and its mesh endpoints.
pub struct Shard<M: Send> {
    id: usize,
    count: usize,
    cpu: usize,
    mesh: Mesh<M>,
}

impl<M: Send> Shard<M> {
    pub fn id(&self) -> usize {
        self.id
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn cpu(&self) -> usize {
        self.cpu
    }

    /// Enqueues without waiting; gives the item back if the ring is full or closed.
    pub fn try_send(&self, to: usize, item: M) -> Result<(), M> {
        assert!(
            to != self.id && to < self.count,
            "mesh peer {to} out of range"
        );
        match &self.mesh.senders {
            Some(senders) => senders.try_send_to(to, item).map_err(take_item),
            None => Err(item),
        }
    }

    /// Enqueues, waiting while the ring is full; gives the item back if the ring is closed.
    pub async fn send(&self, to: usize, item: M) -> Result<(), M> {
        assert!(
            to != self.id && to < self.count,
            "mesh peer {to} out of range"
        );
        match &self.mesh.senders {
            Some(senders) => senders.send_to(to, item).await.map_err(take_item),
            None => Err(item),
        }
    }

    /// The receiving ends from every other shard; call once.
    pub fn take_receivers(&mut self) -> Vec<MeshReceiver<M>> {
        match self.mesh.receivers.as_mut() {
            Some(receivers) => receivers
                .streams()
                .into_iter()
                .map(|(from, ring)| MeshReceiver { from, ring })
                .collect(),
            None => Vec::new(),
        }
    }

    /// Closes this shard's sending ends so peers' receivers end.
    pub fn close(&self) {
        if let Some(senders) = &self.mesh.senders {
            senders.close();
        }
    }
}

fn take_item<M>(error: glommio::GlommioError<M>) -> M {
    match error {
        glommio::GlommioError::Closed(glommio::ResourceType::Channel(item))
        | glommio::GlommioError::WouldBlock(glommio::ResourceType::Channel(item)) => item,
        // The mesh returns other variants only for an invalid peer index, which the callers
        // assert against.
        other => panic!("unexpected mesh error: {other}"),
    }
}

/// Runs `shard_main` on one pinned executor per configured CPU and returns when all of
/// them have returned.
pub fn run<M, S, F>(config: RuntimeConfig, shard_main: S) -> Result<(), RuntimeError>
where
    M: Send + 'static,
    S: Fn(Shard<M>) -> F + Send + Sync + Clone + 'static,
    F: Future<Output = ()> + 'static,
{
    let count = config.cpus.len();
    if count == 0 {
        return Err(RuntimeError::NoCpus);
    }
    memlock::raise((config.io_memory_bytes as u64).saturating_mul(count as u64))?;

    let mesh: Option<MeshBuilder<M, Full>> =
        (count > 1).then(|| MeshBuilder::full(count, config.ring_capacity));
    let (start_tx, start_rx) = mpsc::channel::<StartEvent>();
    let stages: Arc<Vec<AtomicU8>> = Arc::new(
        (0..count)
            .map(|_| AtomicU8::new(Stage::NotStarted as u8))
            .collect(),
    );
    let mut handles = Vec::with_capacity(count);
    for (id, &cpu) in config.cpus.iter().enumerate() {
        let mesh = mesh.clone();
        let stages = stages.clone();
        let guard = StartGuard {
            id,
            events: start_tx.clone(),
            armed: true,
        };
        let shard_main = shard_main.clone();
        let time_slice = Duration::from_micros(config.time_slice_us);
        let builder = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("{}-{id}", config.name))
            .io_memory(config.io_memory_bytes)
            .spin_before_park(Duration::from_micros(config.spin_before_park_us))
            .preempt_timer(Duration::from_micros(config.preempt_timer_us));
        let handle = builder
            .spawn(move || async move {
                let mut guard = guard;
                let stage = |reached: Stage| stages[id].store(reached as u8, Ordering::Release);
                stage(Stage::Running);
                crate::task::set_time_slice(time_slice);
                // glommio's mesh join connects shared channels by re-polling on each turn
                // of the reactor, and nothing wakes an executor that parked before its
                // peer connected: about one start in eight hung for good on a busy
                // machine (both executors asleep in io_uring). A timer keeps the reactor
                // turning until the join is done.
                let joined = std::rc::Rc::new(std::cell::Cell::new(false));
                let nudge = joined.clone();
                glommio::spawn_local(async move {
                    while !nudge.get() {
                        glommio::timer::sleep(Duration::from_millis(JOIN_NUDGE_MS)).await;
                    }
                })
                .detach();
                let joining = match mesh {
                    Some(mesh) => Some(mesh.join().await),
                    None => None,
                };
                joined.set(true);
                stage(Stage::Joined);
                let (senders, receivers) = match joining {
                    Some(joining) => match joining {
                        // glommio numbers mesh peers by executor id, which follows spawn
                        // order; shard ids must be the same numbers or sends go astray.
                        Ok((s, _)) if s.peer_id() != id => {
                            return Err(format!(
                                "mesh peer id {} does not match shard id {id}",
                                s.peer_id()
                            ))
                        }
                        Ok((s, r)) => (Some(s), Some(r)),
                        Err(e) => return Err(format!("joining the shard mesh failed: {e}")),
                    },
                    None => (None, None),
                };
                guard.ready();
                let mesh = Mesh { senders, receivers };
                shard_main(Shard {
                    id,
                    count,
                    cpu,
                    mesh,
                })
                .await;
                Ok(())
            })
            .map_err(|e| RuntimeError::Start {
                shard: id,
                cpu,
                reason: e.to_string(),
            })?;
        handles.push(Some(handle));
    }
    drop(start_tx);

    let deadline = Instant::now() + Duration::from_millis(config.ready_timeout_ms);
    let mut ready_count = 0;
    while ready_count < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match start_rx.recv_timeout(left) {
            Ok(StartEvent::Ready) => ready_count += 1,
            Ok(StartEvent::Failed(id)) => {
                let reason = match handles[id].take().map(|h| h.join()) {
                    Some(Ok(Ok(()))) | None => "exited before it was ready".to_string(),
                    Some(Ok(Err(reason))) => reason,
                    Some(Err(e)) => e.to_string(),
                };
                return Err(RuntimeError::Start {
                    shard: id,
                    cpu: config.cpus[id],
                    reason,
                });
            }
            Err(_) => {
                let stages = stages
                    .iter()
                    .enumerate()
                    .map(|(id, s)| {
                        format!("shard {id}: {}", Stage::name(s.load(Ordering::Acquire)))
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(RuntimeError::NotReady {
                    shards_ready: ready_count,
                    shards: count,
                    timeout_ms: config.ready_timeout_ms,
                    stages,
                });
            }
        }
    }

    let mut first_error = None;
    for (id, handle) in handles.into_iter().enumerate() {
        let Some(handle) = handle else { continue };
        let outcome = match handle.join() {
            Ok(Ok(())) => continue,
            Ok(Err(reason)) => reason,
            Err(e) => e.to_string(),
        };
        first_error.get_or_insert(RuntimeError::Shard {
            shard: id,
            reason: outcome,
        });
    }
    first_error.map_or(Ok(()), Err)
}

enum StartEvent {
    Ready,
    Failed(usize),
}

/// How far a shard got in starting, for the error when not all of them became ready.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Stage {
    /// Its executor is not running yet (thread or io_uring setup).
    NotStarted = 0,
    /// Its executor runs and is joining the mesh.
    Running = 1,
    /// It joined the mesh.
    Joined = 2,
}

impl Stage {
    /// Names indexed by the stage's number.
    const NAMES: [&'static str; 3] = [
        "executor not running",
        "joining the mesh",
        "joined the mesh",
    ];

    fn name(stage: u8) -> &'static str {
        Self::NAMES
            .get(usize::from(stage))
            .copied()
            .unwrap_or("unknown")
    }
}

/// Tells `run` that a shard failed to start when it is dropped before `ready()`: glommio
/// drops the shard's closure unrun when building the executor fails (memlock, placement).
struct StartGuard {
    id: usize,
    events: mpsc::Sender<StartEvent>,
    armed: bool,
}

impl StartGuard {
    fn ready(&mut self) {
        self.armed = false;
        // If `run` already gave up there is nobody left to tell.
        let _ = self.events.send(StartEvent::Ready);
    }
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.events.send(StartEvent::Failed(self.id));
        }
    }
}
