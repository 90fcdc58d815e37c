//! Process and per-core load from /proc, sampled once a second by a monitoring thread (as
//! nats-server's `pse` package samples CPU), plus per-core message rates from the counters
//! the cores publish. The cores themselves do nothing for this.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::server::Shared;

/// How often the sampler looks.
pub const SAMPLE_INTERVAL_MS: u64 = 1_000;

/// The latest figures, for `/varz`, `/coresz`, `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// CPU use of the whole process over the last interval, percent of one CPU.
    pub cpu_percent: f64,
    /// CPU seconds the process has used in all.
    pub cpu_seconds: f64,
    pub cores: Vec<CoreSample>,
}

#[derive(Clone, Debug, Default)]
pub struct CoreSample {
    /// CPU use of the core's thread over the last interval, percent of its CPU.
    pub cpu_percent: f64,
    /// CPU seconds the core's thread has used in all.
    pub cpu_seconds: f64,
    pub in_msgs_per_second: f64,
    pub out_msgs_per_second: f64,
    pub in_bytes_per_second: f64,
    pub out_bytes_per_second: f64,
}

pub struct Sampler {
    latest: Mutex<Sample>,
}

impl Sampler {
    /// Starts the sampling thread; it runs as long as the process.
    pub fn start(shared: Arc<Shared>) -> Arc<Sampler> {
        let sampler = Arc::new(Sampler {
            latest: Mutex::new(Sample {
                cores: vec![CoreSample::default(); shared.cores.len()],
                ..Sample::default()
            }),
        });
        let writer = sampler.clone();
        let spawned = std::thread::Builder::new()
            .name("tern-sampler".to_string())
            .spawn(move || writer.run(&shared));
        if let Err(error) = spawned {
            tracing::warn!("can not start the monitoring sampler: {error}; CPU figures stay 0");
        }
        sampler
    }

    pub fn latest(&self) -> Sample {
        self.latest
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn run(&self, shared: &Shared) {
        let ticks_per_second = clock_ticks_per_second();
        let cores = shared.cores.len();
        let mut threads = CoreThreads::default();
        let mut previous: Option<Reading> = None;
        loop {
            let now = Reading {
                at: Instant::now(),
                process_ticks: process_cpu_ticks().unwrap_or(0),
                core_ticks: (0..cores).map(|core| threads.ticks(core)).collect(),
                counters: shared
                    .stats
                    .iter()
                    .map(|s| {
                        [
                            s.in_msgs.load(Ordering::Relaxed),
                            s.out_msgs.load(Ordering::Relaxed),
                            s.in_bytes.load(Ordering::Relaxed),
                            s.out_bytes.load(Ordering::Relaxed),
                        ]
                    })
                    .collect(),
            };
            if let Some(before) = &previous {
                let sample = now.since(before, ticks_per_second);
                *self
                    .latest
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = sample;
            }
            previous = Some(now);
            std::thread::sleep(Duration::from_millis(SAMPLE_INTERVAL_MS));
        }
    }
}

/// What the sampler reads each time; rates come from two readings.
struct Reading {
    at: Instant,
    process_ticks: u64,
    core_ticks: Vec<u64>,
    /// Per core: in msgs, out msgs, in bytes, out bytes.
    counters: Vec<[u64; 4]>,
}

impl Reading {
    fn since(&self, before: &Reading, ticks_per_second: f64) -> Sample {
        let seconds = self.at.duration_since(before.at).as_secs_f64().max(1e-3);
        let percent = |ticks: u64, earlier: u64| {
            ticks.saturating_sub(earlier) as f64 / ticks_per_second / seconds * 100.0
        };
        let rate = |now: u64, earlier: u64| now.saturating_sub(earlier) as f64 / seconds;
        Sample {
            cpu_percent: round1(percent(self.process_ticks, before.process_ticks)),
            cpu_seconds: self.process_ticks as f64 / ticks_per_second,
            cores: (0..self.core_ticks.len())
                .map(|core| {
                    let (c, l) = (&self.counters[core], &before.counters[core]);
                    CoreSample {
                        cpu_percent: round1(percent(
                            self.core_ticks[core],
                            before.core_ticks[core],
                        )),
                        cpu_seconds: self.core_ticks[core] as f64 / ticks_per_second,
                        in_msgs_per_second: rate(c[0], l[0]),
                        out_msgs_per_second: rate(c[1], l[1]),
                        in_bytes_per_second: rate(c[2], l[2]),
                        out_bytes_per_second: rate(c[3], l[3]),
                    }
                })
                .collect(),
        }
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// utime + stime of a `/proc/.../stat` line. The command name (field 2) is in parentheses
/// and may hold spaces, so fields are counted after its closing parenthesis.
fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name: state(3) ppid(4) ... utime(14) stime(15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn process_cpu_ticks() -> Option<u64> {
    stat_cpu_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// Resident set size in bytes (0 if unreadable).
pub fn resident_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page_bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    pages * page_bytes
}

/// CPUs this process may run on (nats-server's `cores`, Go's `runtime.NumCPU()`).
pub fn available_cpus() -> usize {
    shards::cpus::allowed_cpus()
        .map(|cpus| cpus.len())
        .unwrap_or(0)
        .max(1)
}

/// The threads of each core executor, found in /proc/self/task by name: glommio names an
/// executor's threads `<name>-<executor id>` from our `tern-<core>` (its own helper thread
/// takes the same name), so every `tern-<core>-...` thread counts for that core.
#[derive(Default)]
struct CoreThreads {
    tids: HashMap<usize, Vec<u32>>,
}

impl CoreThreads {
    fn ticks(&mut self, core: usize) -> u64 {
        if let Some(ticks) = self.sum(core) {
            return ticks;
        }
        self.rescan();
        self.sum(core).unwrap_or(0)
    }

    /// None when a thread is gone or none is known (time to look again).
    fn sum(&self, core: usize) -> Option<u64> {
        let tids = self.tids.get(&core).filter(|tids| !tids.is_empty())?;
        tids.iter().map(|tid| thread_ticks(*tid)).sum()
    }

    fn rescan(&mut self) {
        self.tids.clear();
        let Ok(entries) = std::fs::read_dir("/proc/self/task") else {
            return;
        };
        for entry in entries.flatten() {
            let Some(tid) = entry
                .file_name()
                .to_str()
                .and_then(|t| t.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(comm) = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")) else {
                continue;
            };
            if let Some(core) = core_of_thread(comm.trim()) {
                self.tids.entry(core).or_default().push(tid);
            }
        }
    }
}

/// `tern-3` or `tern-3-4` is core 3's; `tern-monitor` is nobody's.
fn core_of_thread(name: &str) -> Option<usize> {
    let rest = name.strip_prefix("tern-")?;
    rest.split('-').next()?.parse().ok()
}

fn thread_ticks(tid: u32) -> Option<u64> {
    stat_cpu_ticks(&std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks_past_a_name_with_spaces() {
        let stat =
            "1234 (tern (x) 1) S 1 1234 1234 0 -1 4194560 100 0 0 0 70 30 0 0 20 0 4 0 99 0 0";
        assert_eq!(stat_cpu_ticks(stat), Some(100));
        assert!(process_cpu_ticks().is_some());
        assert!(resident_bytes() > 0);
    }

    #[test]
    fn finds_the_core_of_a_thread_name() {
        assert_eq!(core_of_thread("tern-3-4"), Some(3));
        assert_eq!(core_of_thread("tern-12"), Some(12));
        assert_eq!(core_of_thread("tern-monitor"), None);
        assert_eq!(core_of_thread("tern"), None);
    }
}
