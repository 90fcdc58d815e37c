//! The `tern` binary: `tern [nats-server flags]` runs the server, as `nats-server` would.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use tern::config::{self, Command, Options, Signal};
use tern::server::control::Control;
use tern::server::{Server, Shared, NATS_VERSION};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|command| command == "bench") {
        return tern::bench::main(args.get(2..).unwrap_or_default());
    }
    if let Some(which) = args.get(1).filter(|c| *c == "kv" || *c == "object") {
        return tern::cli::main(which, args.get(2..).unwrap_or_default());
    }
    let command = match config::parse_args(args) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("tern: {error}");
            return ExitCode::from(1);
        }
    };
    match command {
        Command::Version => {
            println!(
                "tern version {} (nats-server {NATS_VERSION} compatible)",
                env!("CARGO_PKG_VERSION")
            );
            ExitCode::SUCCESS
        }
        Command::Help(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Command::CheckConfig(options) => {
            let file = options
                .config_file
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            for warning in &options.warnings {
                eprintln!("tern: {warning}");
            }
            // Certificates and keys are read at startup; -t reads them too, as nats-server.
            if let Some(tls) = &options.tls {
                if let Err(error) = tern::tls::TlsServer::from_options(tls) {
                    eprintln!("tern: {error}");
                    return ExitCode::from(1);
                }
            }
            println!("tern: configuration file {file} test is successful");
            ExitCode::SUCCESS
        }
        Command::Signal { signal, pid } => match send_signal(signal, pid.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("tern: {error}");
                ExitCode::from(1)
            }
        },
        Command::Run(options) => match run(*options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!("{error}");
                eprintln!("tern: {error}");
                ExitCode::from(1)
            }
        },
    }
}

fn run(options: Options) -> Result<(), String> {
    // Before the logger's or any other thread starts.
    tern::server::allocator::keep_freed_memory();
    tern::logging::init(&tern::logging::LogSettings {
        debug: options.debug,
        trace: options.trace,
        logtime: options.logtime,
        file: options.log_file.as_deref(),
        size_limit_bytes: options.log_size_limit_bytes,
        json: options.log_json,
    })?;
    tracing::info!("Starting tern");
    tracing::info!(
        "  Version:  {} (nats-server {NATS_VERSION} compatible)",
        env!("CARGO_PKG_VERSION")
    );
    for warning in &options.warnings {
        tracing::warn!("{warning}");
    }
    if let Some(file) = &options.config_file {
        tracing::info!("  Using configuration file: {}", file.display());
    }
    let server = Server::bind(options, Control::default()).map_err(|e| e.to_string())?;
    let shared = server.shared().clone();
    tracing::info!("  Name:     {}", shared.server_name);
    tracing::info!("  ID:       {}", shared.server_id);
    tracing::info!(
        "  Cores:    {} (CPUs {:?})",
        shared.cores.len(),
        shared.cores
    );
    install_signal_handlers(shared.clone(), std::env::args().collect())?;
    // Logged before "Listening ..." as nats-server does.
    let jetstream = shared.options.jetstream.then(|| {
        let js = std::sync::Arc::new(tern::jetstream::JetStreamShared::new(
            &shared.options,
            &shared.auth.load(),
            shared.cores.len(),
        ));
        tern::jetstream::log_startup(&js);
        js
    });

    let mut monitor_addr: std::net::SocketAddr = ([0, 0, 0, 0], 0).into();
    let mut monitor_listener = None;
    let monitor_url = match shared.options.http_port {
        Some(port) => {
            let (listener, addr) =
                tern::monitor::bind(&shared.options.http_host, port).map_err(|e| {
                    format!(
                        "can not listen for monitoring on {}:{port}: {e}",
                        shared.options.http_host
                    )
                })?;
            tracing::info!("Starting http monitor on {addr}");
            monitor_addr = addr;
            monitor_listener = Some(listener);
            Some(format!("http://{}", advertised(addr)))
        }
        None => None,
    };
    let monitor = tern::monitor::new_monitor(shared.clone(), monitor_addr);
    if let Some(listener) = monitor_listener {
        tern::monitor::spawn(listener, monitor.clone());
    }
    // `$SYS.REQ` requests are answered from the same builders as the HTTP endpoints.
    tern::monitor::system::start(monitor)?;
    let client_addr = server.client_addr();
    tracing::info!("Listening for client connections on {client_addr}");
    if shared.tls.is_some() {
        tracing::info!("TLS required for client connections");
    }
    let files = RuntimeFiles::write(
        &shared,
        &format!("nats://{}", advertised(client_addr)),
        monitor_url,
    )?;
    tracing::info!("Server is ready");

    let result = if let Some(js) = jetstream {
        // Every core recovers its share of the streams before any core accepts clients.
        shared
            .startup_holds
            .store(shared.cores.len(), std::sync::atomic::Ordering::Release);
        // Installed once the holds are up, so /healthz never sees JetStream before it runs.
        let provider = tern::jetstream::monitor::Provider::new(js.clone(), &shared);
        tern::monitor::jetstream::install(&shared, Arc::new(provider))?;
        server.run_with(move |state| tern::jetstream::install(state, js.clone()))
    } else {
        server.run()
    }
    .map_err(|e| e.to_string());
    tracing::info!("Server Exiting..");
    drop(files);
    result
}

/// `0.0.0.0` is where we listen, not an address anyone can dial; files and URLs name loopback.
fn advertised(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    }
    addr
}

/// The pid file and ports file, removed again on exit (as nats-server does).
struct RuntimeFiles {
    paths: Vec<PathBuf>,
}

impl RuntimeFiles {
    fn write(
        shared: &Shared,
        client_url: &str,
        monitor_url: Option<String>,
    ) -> Result<RuntimeFiles, String> {
        let mut paths = Vec::new();
        let pid = std::process::id();
        if let Some(path) = &shared.options.pid_file {
            std::fs::write(path, pid.to_string())
                .map_err(|e| format!("can not write pid file {}: {e}", path.display()))?;
            paths.push(path.clone());
        }
        if let Some(dir) = &shared.options.ports_file_dir {
            let exe = std::env::args()
                .next()
                .and_then(|a| {
                    Path::new(&a)
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| "tern".to_string());
            let path = dir.join(format!("{exe}_{pid}.ports"));
            let mut ports = serde_json::json!({ "nats": [client_url] });
            if let Some(url) = monitor_url {
                ports["monitoring"] = serde_json::json!([url]);
            }
            std::fs::write(&path, ports.to_string())
                .map_err(|e| format!("can not write ports file {}: {e}", path.display()))?;
            paths.push(path);
        }
        Ok(RuntimeFiles { paths })
    }
}

impl Drop for RuntimeFiles {
    fn drop(&mut self) {
        for path in &self.paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `args`: the command line, read again with the configuration file on reload (flags keep
/// overriding the file, as in nats-server).
fn install_signal_handlers(shared: Arc<Shared>, args: Vec<String>) -> Result<(), String> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGHUP])
            .map_err(|e| format!("can not install signal handlers: {e}"))?;
    std::thread::Builder::new()
        .name("tern-signals".to_string())
        .spawn(move || {
            for signal in signals.forever() {
                let control: &Control = &shared.control;
                match signal {
                    SIGINT | SIGTERM => {
                        let name = if signal == SIGINT {
                            "interrupt"
                        } else {
                            "terminated"
                        };
                        tracing::info!("Trapped \"{name}\" signal");
                        tracing::info!("Initiating Shutdown...");
                        control.request_shutdown();
                    }
                    SIGUSR2 => {
                        tracing::info!("Entering lame duck mode, stop accepting new clients");
                        control.request_lame_duck();
                    }
                    SIGHUP => {
                        if let Err(error) = tern::server::reload::reload(&shared, args.clone()) {
                            tracing::error!("Failed to reload server configuration: {error}");
                        }
                    }
                    SIGUSR1 => tern::logging::reopen(),
                    _ => {}
                }
            }
        })
        .map_err(|e| format!("can not start the signal thread: {e}"))?;
    Ok(())
}

/// `--signal CMD[=PID|PIDFILE]`, as `nats-server --signal`.
fn send_signal(signal: Signal, target: Option<&str>) -> Result<(), String> {
    let number = match signal {
        Signal::Stop => libc::SIGKILL,
        Signal::Quit => libc::SIGINT,
        Signal::Term => libc::SIGTERM,
        Signal::Reopen => libc::SIGUSR1,
        Signal::Reload => libc::SIGHUP,
        Signal::Ldm => libc::SIGUSR2,
    };
    let pids = match target {
        Some(target) => vec![parse_pid_target(target)?],
        None => find_tern_processes(),
    };
    match pids.as_slice() {
        [] => Err("no tern process running".to_string()),
        [pid] => {
            // SAFETY: kill has no memory preconditions; the pid came from the user or /proc.
            if unsafe { libc::kill(*pid, number) } != 0 {
                return Err(format!("signal {pid}: {}", std::io::Error::last_os_error()));
            }
            Ok(())
        }
        many => Err(format!(
            "multiple tern processes running:\n{}",
            many.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )),
    }
}

fn parse_pid_target(target: &str) -> Result<i32, String> {
    if let Ok(pid) = target.trim().parse::<i32>() {
        return Ok(pid);
    }
    let text = std::fs::read_to_string(target)
        .map_err(|e| format!("can not read pid file {target}: {e}"))?;
    text.trim()
        .parse::<i32>()
        .map_err(|_| format!("pid file {target} does not hold a process id"))
}

fn find_tern_processes() -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "tern")
        })
        .collect()
}
