//! A progress bar on stderr, drawn by its own thread from a counter the clients bump.
//! It appears only after [`PROGRESS_AFTER`], so short runs print nothing, and only when
//! stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Runs shorter than this get no bar.
pub const PROGRESS_AFTER: Duration = Duration::from_secs(1);
/// How often the bar is redrawn.
const REDRAW_EVERY: Duration = Duration::from_millis(200);
/// Cells of the bar itself.
const BAR_CELLS: usize = 30;

pub struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Progress {
    /// Draws `counter()` against `total` messages, or elapsed time against `duration`.
    pub fn start(
        counter: Box<dyn Fn() -> u64 + Send>,
        total: Option<u64>,
        duration: Option<Duration>,
    ) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        if !std::io::stderr().is_terminal() {
            return Progress { done, thread: None };
        }
        let stop = done.clone();
        let thread = thread::Builder::new()
            .name("bench-progress".to_string())
            .spawn(move || {
                let started = Instant::now();
                let mut drawn = false;
                let mut last = (Instant::now(), 0u64);
                let mut rate = 0.0;
                while !stop.load(Ordering::Relaxed) {
                    thread::sleep(REDRAW_EVERY);
                    let count = counter();
                    let now = Instant::now();
                    let secs = now.duration_since(last.0).as_secs_f64();
                    if secs > 0.0 {
                        rate = count.saturating_sub(last.1) as f64 / secs;
                    }
                    last = (now, count);
                    if started.elapsed() < PROGRESS_AFTER {
                        continue;
                    }
                    let fraction = match (total, duration) {
                        (Some(total), _) if total > 0 => count as f64 / total as f64,
                        (_, Some(duration)) => {
                            started.elapsed().as_secs_f64() / duration.as_secs_f64()
                        }
                        _ => 0.0,
                    };
                    eprint!("\r{}", bar_line(fraction, count, rate));
                    let _ = std::io::stderr().flush();
                    drawn = true;
                }
                if drawn {
                    eprint!("\r\x1b[2K");
                    let _ = std::io::stderr().flush();
                }
            })
            .ok();
        Progress { done, thread }
    }

    /// Stops drawing and clears the line.
    pub fn finish(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `[==========>         ]  52%  1,234,567 msgs  612,345 msgs/s`
pub fn bar_line(fraction: f64, count: u64, msgs_per_sec: f64) -> String {
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let filled = (fraction * BAR_CELLS as f64).round() as usize;
    let mut bar = "=".repeat(filled);
    if filled < BAR_CELLS {
        bar.push('>');
        bar.push_str(&" ".repeat(BAR_CELLS - filled - 1));
    }
    format!(
        "[{bar}] {:>3.0}%  {} msgs  {} msgs/s ",
        fraction * 100.0,
        super::report::group_digits(count as f64),
        super::report::group_digits(msgs_per_sec)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_fills_with_the_fraction() {
        let empty = bar_line(0.0, 0, 0.0);
        assert!(
            empty.starts_with(&format!("[>{}]   0%", " ".repeat(BAR_CELLS - 1))),
            "{empty}"
        );
        let half = bar_line(0.5, 1_234_567, 612_345.4);
        assert!(half.contains(&"=".repeat(15)), "{half}");
        assert!(
            half.contains(" 50%  1,234,567 msgs  612,345 msgs/s"),
            "{half}"
        );
        let full = bar_line(1.7, 10, 1.0);
        assert!(
            full.starts_with(&format!("[{}] 100%", "=".repeat(BAR_CELLS))),
            "{full}"
        );
        assert!(bar_line(f64::NAN, 0, 0.0).contains("  0%"));
    }
}
