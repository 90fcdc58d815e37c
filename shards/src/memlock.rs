//! Locked memory for io_uring.
//!
//! glommio refuses to start an executor when the soft `RLIMIT_MEMLOCK` is below 512 KiB, and
//! registers `io_memory` bytes of buffers per executor, which the kernel charges against the
//! limit unless the process has `CAP_IPC_LOCK`. The failure would only show when the
//! executor is joined, so we check up front and say what to run.

use thiserror::Error;

/// glommio's own minimum for the soft limit.
pub const MEMLOCK_MIN_BYTES: u64 = 512 * 1024;

#[derive(Debug, Error)]
pub enum MemlockError {
    #[error("reading RLIMIT_MEMLOCK failed: {0}")]
    Read(std::io::Error),
    #[error(
        "the locked-memory limit (RLIMIT_MEMLOCK) is {soft_bytes} bytes, but io_uring needs at least \
         {needed_bytes}; raise it before starting tern: `ulimit -l unlimited` in the shell, \
         `LimitMEMLOCK=infinity` in a systemd unit, or `--ulimit memlock=-1:-1` for a container"
    )]
    TooLow { soft_bytes: u64, needed_bytes: u64 },
}

/// What the process may lock after [`raise`].
#[derive(Debug, Clone, Copy)]
pub struct MemlockBudget {
    /// `None` means unlimited (the limit is infinite or the process has CAP_IPC_LOCK).
    pub lockable_bytes: Option<u64>,
}

/// Raises the soft limit to the hard limit and checks that `needed_bytes` fit.
pub fn raise(needed_bytes: u64) -> Result<MemlockBudget, MemlockError> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
        return Err(MemlockError::Read(std::io::Error::last_os_error()));
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit struct we own. Failure leaves the old limit,
        // which the check below judges.
        if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &raised) } == 0 {
            limit = raised;
        }
    }
    if limit.rlim_cur == libc::RLIM_INFINITY || has_cap_ipc_lock() {
        return Ok(MemlockBudget {
            lockable_bytes: None,
        });
    }
    let soft_bytes = limit.rlim_cur;
    let needed_bytes = needed_bytes.max(MEMLOCK_MIN_BYTES);
    if soft_bytes < needed_bytes {
        return Err(MemlockError::TooLow {
            soft_bytes,
            needed_bytes,
        });
    }
    Ok(MemlockBudget {
        lockable_bytes: Some(soft_bytes),
    })
}

/// CAP_IPC_LOCK in the effective set (bit 14), read from /proc so we need no extra crate.
fn has_cap_ipc_lock() -> bool {
    const CAP_IPC_LOCK_BIT: u32 = 14;
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK_BIT) != 0)
}
