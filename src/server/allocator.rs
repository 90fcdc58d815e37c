//! Tells glibc's allocator to keep the memory a connection's output burst freed, instead of
//! handing it back to the kernel at once.
//!
//! Measured when each connection had one output buffer that grew with its backlog; output
//! now goes into pooled chunks (`server::outbound`), which took most of those page faults
//! away, and these settings keep what passes the pool (and read buffers) instead.
//!
//! A subscriber a little behind its publisher grew its output buffer past what a connection
//! kept between bursts (256 KiB). With glibc's defaults, memory a
//! burst freed goes back to the kernel (large buffers are unmapped, and a thread's heap is
//! trimmed past 128 KiB free), and the next burst faults every page in again: about 125 000
//! page faults a second for one core serving 3.7M msgs/s of 128 bytes. With buffers up to
//! 32 MiB taken from the heap and up to 64 MiB kept free at its top, the same run takes
//! about 34 000 a second and moves 20-25% more messages, as long as the subscriber stays
//! less than 32 MiB behind (a larger buffer is still mapped on its own; a chunked output
//! queue would remove that too). Measured A/B against glibc's defaults on one core (runs
//! alternating; `benches/RESULTS.md`, "Output buffers and the allocator", has the
//! commands): 128-byte pub/sub per-round ratios 0.92-1.24, median 1.07 over 7 rounds (an
//! earlier 3-round A/B of binaries: 1.10-1.13; fan-out 1.03-1.15). The cost: freed memory
//! stays in the process, at most `MALLOC_TRIM_THRESHOLD_BYTES` per heap beyond what is in
//! use (1000 idle connections or 10 000 subscriptions grew the resident set by 1-3% more).

use crate::limits::{MALLOC_MMAP_THRESHOLD_BYTES, MALLOC_TRIM_THRESHOLD_BYTES};

/// Applies the settings above, unless the operator chose their own through
/// `GLIBC_TUNABLES` (any `glibc.malloc.*` setting; `glibc.malloc.check=0` keeps glibc's
/// defaults and changes nothing else) or a `MALLOC_*_` variable. Call before any other
/// thread starts.
pub fn keep_freed_memory() {
    if !operator_chose(std::env::vars_os()) {
        apply();
    }
}

/// Whether the environment already tunes glibc's allocator.
fn operator_chose(
    mut vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> bool {
    vars.any(|(name, value)| {
        let name = name.to_string_lossy();
        (name == "GLIBC_TUNABLES" && value.to_string_lossy().contains("glibc.malloc."))
            || (name.starts_with("MALLOC_") && name.ends_with('_'))
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() {
    // SAFETY: mallopt only changes allocator parameters, under the allocator's own lock.
    // It returns 0 for a value it refuses, which only costs the speed-up: not checked.
    unsafe {
        libc::mallopt(
            libc::M_MMAP_THRESHOLD,
            MALLOC_MMAP_THRESHOLD_BYTES as libc::c_int,
        );
        libc::mallopt(
            libc::M_TRIM_THRESHOLD,
            MALLOC_TRIM_THRESHOLD_BYTES as libc::c_int,
        );
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() {}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(
        pairs: &[(&str, &str)],
    ) -> impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)> {
        pairs
            .iter()
            .map(|(n, v)| (n.into(), v.into()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn an_operator_setting_for_the_allocator_wins() {
        assert!(!operator_chose(env(&[
            ("PATH", "/usr/bin"),
            ("MALLOC", "x")
        ])));
        assert!(!operator_chose(env(&[(
            "GLIBC_TUNABLES",
            "glibc.rtld.nns=4"
        )])));
        assert!(operator_chose(env(&[(
            "GLIBC_TUNABLES",
            "glibc.malloc.check=0"
        )])));
        assert!(operator_chose(env(&[(
            "GLIBC_TUNABLES",
            "glibc.rtld.nns=4:glibc.malloc.trim_threshold=1"
        )])));
        assert!(operator_chose(env(&[("MALLOC_TRIM_THRESHOLD_", "131072")])));
    }
}
