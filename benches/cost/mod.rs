//! Shared by the micro-benchmarks: bounded criterion settings (so `cargo bench` takes a
//! couple of minutes), and a "cost of X" line computed from the very iterations
//! criterion timed, with the command that reproduces it.

use std::cell::Cell;
use std::time::{Duration, Instant};

use criterion::Criterion;

/// Fewer iterations than this means criterion only smoke-tested the routine
/// (`cargo test --benches`): no cost line then.
const ITERATIONS_FOR_A_COST_LINE: u64 = 100;

pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(20)
        .configure_from_args()
}

/// Benchmarks `routine` (which handles `items` items per call) as `id`, then prints
/// "cost of <what>: N ns" per item.
pub fn measure(
    c: &mut Criterion,
    target: &str,
    id: &str,
    what: &str,
    items: u64,
    mut routine: impl FnMut(),
) {
    let total = Cell::new((Duration::ZERO, 0u64));
    c.bench_function(id, |bencher| {
        bencher.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                routine();
            }
            let elapsed = start.elapsed();
            let (time, count) = total.get();
            total.set((time + elapsed, count + iterations));
            elapsed
        })
    });
    let (time, iterations) = total.get();
    if iterations >= ITERATIONS_FOR_A_COST_LINE {
        let ns = time.as_nanos() as f64 / (iterations * items) as f64;
        println!("cost of {what}: {ns:.1} ns   (cargo bench --bench {target} -- '{id}')");
    }
}
