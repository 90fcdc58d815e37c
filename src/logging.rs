//! Logs in nats-server's line format, `[pid] 2006/01/02 15:04:05.000000 [INF] message`, so
//! that tools which watch nats-server's output (test harnesses waiting for "Listening for
//! client connections on", log shippers with nats-server patterns) work with tern.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

pub struct LogSettings<'a> {
    pub debug: bool,
    pub trace: bool,
    pub logtime: bool,
    pub file: Option<&'a Path>,
    /// Rotate the log file past this many bytes (0: never), as nats-server's
    /// `log_size_limit`.
    pub size_limit_bytes: u64,
    /// One JSON object per line (`{"time":..,"level":"INF","pid":..,"msg":..}`) for log
    /// shippers, instead of nats-server's text lines.
    pub json: bool,
}

/// The log file, when logging goes to one: kept so that `reopen` (SIGUSR1, `--signal
/// reopen`) can reach it.
static LOG_FILE: OnceLock<Arc<LogFile>> = OnceLock::new();

/// Changes the level of the installed subscriber (config reload). Boxed because the
/// handle's type names the writer, which differs between a file and stderr.
type SetLevel =
    Box<dyn Fn(tracing::level_filters::LevelFilter) -> Result<(), String> + Send + Sync>;
static SET_LEVEL: OnceLock<SetLevel> = OnceLock::new();

/// Whether lines carry a timestamp (`logtime`), changed by a config reload.
static LOGTIME: AtomicBool = AtomicBool::new(true);

fn level_filter(debug: bool, trace: bool) -> tracing::level_filters::LevelFilter {
    if trace {
        tracing::level_filters::LevelFilter::TRACE
    } else if debug {
        tracing::level_filters::LevelFilter::DEBUG
    } else {
        tracing::level_filters::LevelFilter::INFO
    }
}

/// A filter of one level for every target (an `EnvFilter` because only that one is
/// reloadable through the fmt builder).
fn level_env_filter(level: tracing::level_filters::LevelFilter) -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::default().add_directive(level.into())
}

/// Applies reloaded `debug`, `trace` and `logtime` to the installed subscriber. The level
/// change rebuilds tracing's callsite cache, so disabled levels stay a static check.
pub fn set_levels(debug: bool, trace: bool, logtime: bool) -> Result<(), String> {
    LOGTIME.store(logtime, Ordering::Relaxed);
    match SET_LEVEL.get() {
        Some(set) => set(level_filter(debug, trace)),
        None => Ok(()),
    }
}

/// Installs the global subscriber; call once, before anything logs.
pub fn init(settings: &LogSettings) -> Result<(), String> {
    let level = level_filter(settings.debug, settings.trace);
    LOGTIME.store(settings.logtime, Ordering::Relaxed);
    let format = NatsFormat {
        pid: std::process::id(),
        json: settings.json,
    };
    // Plain text always: nats-server's lines carry no colour codes, and log readers match them.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(level_env_filter(level))
        .with_ansi(false)
        .event_format(format);
    let result = match settings.file {
        Some(path) => {
            let file = Arc::new(
                LogFile::open(path, settings.size_limit_bytes, settings.logtime)
                    .map_err(|e| format!("can not open log file {}: {e}", path.display()))?,
            );
            let _ = LOG_FILE.set(file.clone());
            let builder = builder.with_writer(file).with_filter_reloading();
            let handle = builder.reload_handle();
            let _ = SET_LEVEL.set(Box::new(move |level| {
                handle
                    .reload(level_env_filter(level))
                    .map_err(|e| e.to_string())
            }));
            builder.try_init()
        }
        None => {
            let builder = builder.with_writer(std::io::stderr).with_filter_reloading();
            let handle = builder.reload_handle();
            let _ = SET_LEVEL.set(Box::new(move |level| {
                handle
                    .reload(level_env_filter(level))
                    .map_err(|e| e.to_string())
            }));
            builder.try_init()
        }
    };
    result.map_err(|e| e.to_string())?;
    // glommio reports through the `log` crate; without the bridge its warnings vanish.
    let _ = tracing_log::LogTracer::init();
    Ok(())
}

/// Closes and reopens the log file (after logrotate moved it away), as nats-server does on
/// SIGUSR1. Logs the outcome with nats-server's wording.
pub fn reopen() {
    match LOG_FILE.get() {
        None => tracing::info!("File log re-open ignored, not a file logger"),
        Some(file) => match file.reopen() {
            Ok(()) => tracing::info!("File log re-opened"),
            Err(error) => tracing::error!("Unable to re-open the logfile: {error}"),
        },
    }
}

/// A log file that can be reopened and rotates past a size limit, as nats-server's
/// `fileLogger`: the full file is renamed to `<name>.YYYY.MM.DD.hh.mm.ss.nnnnnnnnn` and a new
/// one starts with a line naming the backup. Each event is one `write` call, so rotation
/// happens between lines.
struct LogFile {
    path: PathBuf,
    size_limit_bytes: u64,
    logtime: bool,
    state: Mutex<LogFileState>,
}

struct LogFileState {
    file: File,
    written_bytes: u64,
}

impl LogFile {
    fn open(path: &Path, size_limit_bytes: u64, logtime: bool) -> io::Result<LogFile> {
        let file = open_append(path)?;
        let written_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogFile {
            path: path.to_path_buf(),
            size_limit_bytes,
            logtime,
            state: Mutex::new(LogFileState {
                file,
                written_bytes,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogFileState> {
        // A panic while logging leaves the file handle usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reopen(&self) -> io::Result<()> {
        let file = open_append(&self.path)?;
        let mut state = self.lock();
        state.written_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        state.file = file;
        Ok(())
    }

    fn rotate(&self, state: &mut LogFileState) -> io::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let tm = local_time(now.as_secs());
        let backup = PathBuf::from(format!(
            "{}.{:04}.{:02}.{:02}.{:02}.{:02}.{:02}.{:09}",
            self.path.display(),
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            now.subsec_nanos()
        ));
        std::fs::rename(&self.path, &backup)?;
        state.file = open_append(&self.path)?;
        let mut line = format!("[{}] ", std::process::id());
        if self.logtime {
            let mut stamp = String::new();
            let _ = write_local_time(&mut Writer::new(&mut stamp));
            line.push_str(&stamp);
            line.push(' ');
        }
        line.push_str(&format!(
            "[INF] Rotated log, backup saved as {:?}\n",
            backup.display().to_string()
        ));
        state.file.write_all(line.as_bytes())?;
        state.written_bytes = line.len() as u64;
        Ok(())
    }
}

impl io::Write for &LogFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut state = self.lock();
        let written = state.file.write(bytes)?;
        state.written_bytes += written as u64;
        if self.size_limit_bytes > 0 && state.written_bytes > self.size_limit_bytes {
            if let Err(error) = self.rotate(&mut state) {
                // Keep logging to whatever file we have; try again at the next limit.
                state.written_bytes = 0;
                let _ = writeln!(state.file, "[ERR] Unable to rotate the logfile: {error}");
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lock().file.flush()
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

struct NatsFormat {
    pid: u32,
    json: bool,
}

/// Collects an event's fields: the message, and the rest as `key=value` text.
#[derive(Default)]
struct Fields {
    message: String,
    rest: serde_json::Map<String, serde_json::Value>,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.rest
                .insert(field.name().to_string(), format!("{value:?}").into());
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.rest.insert(field.name().to_string(), value.into());
        }
    }
}

impl NatsFormat {
    /// `{"time":"2026-11-22T01:02:03.456789Z","level":"INF","pid":42,"msg":"..."}`: the
    /// same level tags as the text lines, UTC time, any other fields alongside.
    fn format_json(&self, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = serde_json::Map::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let time = crate::jetstream::api::GoTime::from_unix_nanos(now.as_nanos() as i64)
            .to_rfc3339_nanos();
        line.insert("time".into(), time.into());
        line.insert("level".into(), level_tag(event.metadata().level()).into());
        line.insert("pid".into(), self.pid.into());
        line.insert("msg".into(), fields.message.into());
        line.append(&mut fields.rest);
        let text = serde_json::Value::Object(line).to_string();
        writeln!(writer, "{text}")
    }
}

fn level_tag(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERR",
        Level::WARN => "WRN",
        Level::INFO => "INF",
        Level::DEBUG => "DBG",
        Level::TRACE => "TRC",
    }
}

impl<S, N> FormatEvent<S, N> for NatsFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if self.json {
            return self.format_json(writer, event);
        }
        write!(writer, "[{}] ", self.pid)?;
        if LOGTIME.load(Ordering::Relaxed) {
            write_local_time(&mut writer)?;
            writer.write_char(' ')?;
        }
        write!(writer, "[{}] ", level_tag(event.metadata().level()))?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

fn write_local_time(writer: &mut Writer<'_>) -> fmt::Result {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let tm = local_time(now.as_secs());
    write!(
        writer,
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_micros()
    )
}

fn local_time(secs: u64) -> libc::tm {
    let secs = secs as libc::time_t;
    // SAFETY: localtime_r writes one `tm` we own; `secs` is a valid time_t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&secs, &mut tm) };
    tm
}
