//! Logs in nats-server's line format, `[pid] 2006/01/02 15:04:05.000000 [INF] message`, so
//! that tools which watch nats-server's output (test harnesses waiting for "Listening for
//! client connections on", log shippers with nats-server patterns) work with tern.

use std::fmt;
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

pub struct LogSettings<'a> {
    pub debug: bool,
    pub trace: bool,
    pub logtime: bool,
    pub file: Option<&'a Path>,
}

/// Installs the global subscriber; call once, before anything logs.
pub fn init(settings: &LogSettings) -> Result<(), String> {
    let level = if settings.trace {
        Level::TRACE
    } else if settings.debug {
        Level::DEBUG
    } else {
        Level::INFO
    };
    let format = NatsFormat {
        pid: std::process::id(),
        logtime: settings.logtime,
    };
    // Plain text always: nats-server's lines carry no colour codes, and log readers match them.
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .event_format(format);
    let result = match settings.file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("can not open log file {}: {e}", path.display()))?;
            builder.with_writer(Arc::new(file)).try_init()
        }
        None => builder.with_writer(std::io::stderr).try_init(),
    };
    result.map_err(|e| e.to_string())?;
    // glommio reports through the `log` crate; without the bridge its warnings vanish.
    let _ = tracing_log::LogTracer::init();
    Ok(())
}

struct NatsFormat {
    pid: u32,
    logtime: bool,
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
        write!(writer, "[{}] ", self.pid)?;
        if self.logtime {
            write_local_time(&mut writer)?;
            writer.write_char(' ')?;
        }
        let tag = match *event.metadata().level() {
            Level::ERROR => "[ERR]",
            Level::WARN => "[WRN]",
            Level::INFO => "[INF]",
            Level::DEBUG => "[DBG]",
            Level::TRACE => "[TRC]",
        };
        write!(writer, "{tag} ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

fn write_local_time(writer: &mut Writer<'_>) -> fmt::Result {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes one `tm` we own; `secs` is a valid time_t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&secs, &mut tm) };
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
