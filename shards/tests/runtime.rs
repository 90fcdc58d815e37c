//! The runtime's promises: every shard starts and is told its identity, items sent over the
//! mesh arrive complete and in order, and a bad configuration fails at start with a reason.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use shards::{RuntimeConfig, RuntimeError, Shard};

fn two_cpus() -> Option<Vec<usize>> {
    let cpus = shards::cpus::allowed_cpus().expect("sched_getaffinity");
    (cpus.len() >= 2).then(|| cpus[..2].to_vec())
}

#[test]
fn mesh_delivers_everything_in_order_both_ways() {
    let Some(cpus) = two_cpus() else {
        eprintln!("skipped: needs two CPUs");
        return;
    };
    const ITEMS: u64 = 200_000;
    let received = Arc::new(Mutex::new(vec![Vec::<u64>::new(), Vec::new()]));
    let seen = received.clone();
    let mut config = RuntimeConfig::new(cpus);
    config.ring_capacity = 64; // small, so the senders really wait for room
    shards::run(config, move |mut shard: Shard<u64>| {
        let seen = seen.clone();
        async move {
            let me = shard.id();
            let peer = 1 - me;
            let receiver = shard.take_receivers().pop().expect("one peer");
            assert_eq!(receiver.from(), peer);
            let shard = std::rc::Rc::new(shard);
            let sender = shard.clone();
            let producer = spawn_joinable(async move {
                for i in 0..ITEMS {
                    sender.send(peer, i).await.expect("ring open");
                }
            });
            let mut got = Vec::with_capacity(ITEMS as usize);
            while (got.len() as u64) < ITEMS {
                got.push(receiver.recv().await.expect("ring open"));
            }
            producer.await;
            seen.lock().unwrap()[me] = got;
        }
    })
    .expect("runtime");
    let received = received.lock().unwrap();
    for got in received.iter() {
        assert_eq!(got.len() as u64, ITEMS);
        assert!(
            got.iter().enumerate().all(|(i, &v)| v == i as u64),
            "out of order"
        );
    }
}

/// Runs a future as a separate task on the current shard and gives a handle to await it.
fn spawn_joinable(
    f: impl std::future::Future<Output = ()> + 'static,
) -> impl std::future::Future<Output = ()> {
    let done = std::rc::Rc::new(shards::sync::Signal::new());
    let flag = done.clone();
    shards::task::spawn(async move {
        f.await;
        flag.set();
    });
    async move { done.wait().await }
}

#[test]
fn every_shard_runs_once_with_its_identity() {
    let cpus = shards::cpus::allowed_cpus().expect("sched_getaffinity");
    let ran = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(Mutex::new(Vec::new()));
    let (r, i) = (ran.clone(), ids.clone());
    let count = cpus.len();
    shards::run(RuntimeConfig::new(cpus.clone()), move |shard: Shard<()>| {
        let (r, i) = (r.clone(), i.clone());
        async move {
            assert_eq!(shard.count(), count);
            r.fetch_add(1, Ordering::SeqCst);
            i.lock().unwrap().push((shard.id(), shard.cpu()));
        }
    })
    .expect("runtime");
    assert_eq!(ran.load(Ordering::SeqCst), count);
    let mut ids = ids.lock().unwrap().clone();
    ids.sort();
    let expected: Vec<(usize, usize)> = cpus.iter().copied().enumerate().collect();
    assert_eq!(ids, expected);
}

#[test]
fn a_cpu_that_does_not_exist_fails_at_start() {
    let config = RuntimeConfig::new(vec![100_000]);
    let error = shards::run(config, |_shard: Shard<()>| async {}).expect_err("must fail");
    assert!(
        matches!(error, RuntimeError::Start { cpu: 100_000, .. }),
        "{error}"
    );
}

#[test]
fn no_cpus_is_an_error() {
    let error = shards::run(RuntimeConfig::new(vec![]), |_shard: Shard<()>| async {})
        .expect_err("must fail");
    assert!(matches!(error, RuntimeError::NoCpus));
}

/// A task that always has work and never waits still lets the shard's timers and sockets
/// be served once per time slice, when it calls `yield_if_slice_used` between batches.
/// Without it the timer below fires only when the busy task ends (checked by hand).
#[test]
fn a_busy_task_lets_timers_fire_each_time_slice() {
    let cpus = shards::cpus::allowed_cpus().expect("sched_getaffinity");
    let mut config = RuntimeConfig::new(cpus[..1].to_vec());
    config.time_slice_us = 500;
    let fired_while_busy = Arc::new(AtomicUsize::new(0));
    let fired = fired_while_busy.clone();
    shards::run(config, move |_shard: Shard<()>| {
        let fired = fired.clone();
        async move {
            let timer_fired = std::rc::Rc::new(std::cell::Cell::new(false));
            let flag = timer_fired.clone();
            let timer = spawn_joinable(async move {
                shards::time::sleep(std::time::Duration::from_millis(1)).await;
                flag.set(true);
            });
            // Busy for up to 2 s (a deadline, not a measurement: the timer should fire
            // within a few slices), never awaiting anything that is not ready.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while !timer_fired.get() && std::time::Instant::now() < deadline {
                std::hint::black_box((0..1_000u64).sum::<u64>());
                shards::task::yield_if_slice_used().await;
            }
            if timer_fired.get() {
                fired.fetch_add(1, Ordering::SeqCst);
            }
            timer.await;
        }
    })
    .expect("runtime");
    assert_eq!(
        fired_while_busy.load(Ordering::SeqCst),
        1,
        "the timer fired only after the busy task stopped"
    );
}
