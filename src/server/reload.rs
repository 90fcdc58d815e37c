//! Configuration reload (SIGHUP, `tern --signal reload`), as nats-server's `Server.Reload`:
//! the file is read again with the command-line flags on top, compared with what is in
//! force ([`crate::config::reload::diff`]), and either applied as a whole or refused as a
//! whole. Connections not affected by a change stay as they are.
//!
//! The options a reload can change are read through [`LiveLimits`] (atomics, read when a
//! connection starts or a timer fires, never per message) and the swappable
//! authentication configuration (`Shared::auth`); everything else in `Shared::options`
//! is fixed at start.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Shared;
use crate::auth::Auth;
use crate::config::{self, Command, Options};

/// The reloadable limits. Relaxed atomics: each is an independent setting and a reader
/// seeing the old value a moment longer is fine.
pub struct LiveLimits {
    max_connections: AtomicUsize,
    max_payload_bytes: AtomicUsize,
    max_control_line_bytes: AtomicUsize,
    ping_interval_ms: AtomicU64,
    ping_max: AtomicU32,
    write_deadline_ms: AtomicU64,
    auth_timeout_ms: AtomicU64,
    /// When the configuration in force was loaded (`/varz` `config_load_time`), as Unix
    /// nanoseconds.
    config_load_unix_nanos: AtomicU64,
}

impl LiveLimits {
    pub fn new(options: &Options, loaded: SystemTime) -> LiveLimits {
        let limits = LiveLimits {
            max_connections: AtomicUsize::new(0),
            max_payload_bytes: AtomicUsize::new(0),
            max_control_line_bytes: AtomicUsize::new(0),
            ping_interval_ms: AtomicU64::new(0),
            ping_max: AtomicU32::new(0),
            write_deadline_ms: AtomicU64::new(0),
            auth_timeout_ms: AtomicU64::new(0),
            config_load_unix_nanos: AtomicU64::new(0),
        };
        limits.apply(options);
        limits.set_config_load_time(loaded);
        limits
    }

    fn apply(&self, o: &Options) {
        let r = Ordering::Relaxed;
        self.max_connections.store(o.max_connections, r);
        self.max_payload_bytes.store(o.max_payload_bytes, r);
        self.max_control_line_bytes
            .store(o.max_control_line_bytes, r);
        self.ping_interval_ms.store(o.ping_interval_ms, r);
        self.ping_max.store(o.ping_max, r);
        self.write_deadline_ms.store(o.write_deadline_ms, r);
        self.auth_timeout_ms.store(o.auth_timeout_ms, r);
    }

    fn set_config_load_time(&self, at: SystemTime) {
        let nanos = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        self.config_load_unix_nanos
            .store(nanos as u64, Ordering::Relaxed);
    }

    pub fn config_load_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.config_load_unix_nanos.load(Ordering::Relaxed))
    }

    pub fn max_connections(&self) -> usize {
        self.max_connections.load(Ordering::Relaxed)
    }
    pub fn max_payload_bytes(&self) -> usize {
        self.max_payload_bytes.load(Ordering::Relaxed)
    }
    pub fn max_control_line_bytes(&self) -> usize {
        self.max_control_line_bytes.load(Ordering::Relaxed)
    }
    pub fn ping_interval_ms(&self) -> u64 {
        self.ping_interval_ms.load(Ordering::Relaxed)
    }
    pub fn ping_max(&self) -> u32 {
        self.ping_max.load(Ordering::Relaxed)
    }
    pub fn write_deadline_ms(&self) -> u64 {
        self.write_deadline_ms.load(Ordering::Relaxed)
    }
    pub fn auth_timeout_ms(&self) -> u64 {
        self.auth_timeout_ms.load(Ordering::Relaxed)
    }
}

/// Reads the configuration again (`args` is the command line the server started with)
/// and applies it, or changes nothing and returns nats-server's error text. Logs what was
/// reloaded with nats-server's wording.
pub fn reload(shared: &Shared, args: Vec<String>) -> Result<(), String> {
    if shared.options.config_file.is_none() {
        return Err("can only reload config when a file is provided using -c or --config".into());
    }
    let new = match config::parse_args(args).map_err(|e| e.to_string())? {
        Command::Run(options) => *options,
        _ => return Err("the command line no longer starts a server".into()),
    };
    let mut applied = shared
        .applied_options
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let changes = config::reload::diff(&applied, &new)?;
    if applied.pid_file != new.pid_file {
        if let Some(path) = &new.pid_file {
            // As nats-server: the new file is written, the old one left alone (it is
            // removed at exit as before).
            std::fs::write(path, std::process::id().to_string())
                .map_err(|e| format!("can not write pid file {}: {e}", path.display()))?;
        }
    }
    if config::reload::auth_changed(&applied, &new) {
        // Built and checked before anything else is applied: a bad users or accounts
        // block refuses the whole reload.
        shared.update_auth(|current| Auth::reloaded(&new, current))?;
    }
    shared.limits.apply(&new);
    shared.limits.set_config_load_time(SystemTime::now());
    if let Err(error) = crate::logging::set_levels(new.debug, new.trace, new.logtime) {
        tracing::error!("can not change the log level: {error}");
    }
    for change in &changes {
        tracing::info!("Reloaded: {change}");
    }
    *applied = new;
    tracing::info!("Reloaded server configuration");
    Ok(())
}
