//! The command line: Go-style normalization, overrides, commands.

use std::path::PathBuf;

use clap::CommandFactory;

use super::flags::{normalize, RawFlags, FLAGS};
use super::{parse_args, usage, Command, ConfigError, Options, Signal};

fn argv(args: &[&str]) -> Vec<String> {
    std::iter::once("tern")
        .chain(args.iter().copied())
        .map(str::to_string)
        .collect()
}

fn run(args: &[&str]) -> Options {
    match parse_args(argv(args)) {
        Ok(Command::Run(options)) => *options,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn flag_error(args: &[&str]) -> String {
    match parse_args(argv(args)) {
        Err(error) => error.to_string(),
        other => panic!("{args:?} accepted: {other:?}"),
    }
}

fn normalized(args: &[&str]) -> Vec<String> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    match normalize(&args) {
        Ok(n) => n.clap_args,
        Err(error) => panic!("{args:?}: {error}"),
    }
}

#[test]
fn normalization_rewrites_go_flags_for_clap() {
    assert_eq!(normalized(&["-port", "4222"]), ["--port=4222"]);
    assert_eq!(normalized(&["--port", "4222"]), ["--port=4222"]);
    assert_eq!(normalized(&["-port=4222"]), ["--port=4222"]);
    assert_eq!(normalized(&["-p", "-1"]), ["--port=-1"]);
    assert_eq!(
        normalized(&["-js", "-sd", "/tmp/x"]),
        ["--jetstream", "--store_dir=/tmp/x"]
    );
    assert_eq!(normalized(&["-DV"]), ["--DV"]);
    assert_eq!(normalized(&["--DVV", "-VV"]), ["--DVV", "--VV"]);
    assert_eq!(normalized(&["-T=false"]), ["--logtime=false"]);
    assert_eq!(normalized(&["-n", "a=b"]), ["--server_name=a=b"]);
    assert_eq!(
        normalized(&["-sl", "ldm=/tmp/tern.pid"]),
        ["--signal=ldm=/tmp/tern.pid"]
    );
    assert_eq!(
        normalized(&["-ms", "8443", "-m=8222"]),
        ["--https_port=8443", "--http_port=8222"]
    );
    assert_eq!(normalized(&["-cpu_list", "1"]), ["--cpu-list=1"]);
    // Unsupported flags are consumed with their values.
    assert_eq!(
        normalized(&["--tls", "--routes", "nats://a:6222", "-D"]),
        ["--tls", "--debug"]
    );
}

#[test]
fn flags_stop_at_the_first_command_or_double_dash() {
    let args: Vec<String> = ["-D", "version", "-p", "1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let n = normalize(&args).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n.clap_args, ["--debug"]);
    assert_eq!(n.commands, ["version", "-p", "1"]);
    let args: Vec<String> = ["-D", "--", "-p"].iter().map(|s| s.to_string()).collect();
    let n = normalize(&args).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n.commands, ["-p"]);
    let args: Vec<String> = ["-", "-D"].iter().map(|s| s.to_string()).collect();
    let n = normalize(&args).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n.commands, ["-", "-D"]);
}

#[test]
fn malformed_command_lines_are_worded_like_go() {
    assert_eq!(flag_error(&["-xyz"]), "flag provided but not defined: -xyz");
    assert_eq!(
        flag_error(&["--max_payload", "1"]),
        "flag provided but not defined: -max_payload"
    );
    assert_eq!(flag_error(&["-p"]), "flag needs an argument: -p");
    assert_eq!(flag_error(&["---p", "1"]), "bad flag syntax: ---p");
    assert_eq!(flag_error(&["-=x"]), "bad flag syntax: -=x");
    assert_eq!(
        flag_error(&["-D=maybe"]),
        "invalid boolean value \"maybe\" for -D: parse error"
    );
    assert_eq!(
        flag_error(&["-tls=maybe"]),
        "invalid boolean value \"maybe\" for -tls: parse error"
    );
    assert_eq!(
        flag_error(&["-p", "abc"]),
        "invalid value \"abc\" for flag -p: parse error"
    );
    assert_eq!(
        flag_error(&["--port=70000"]),
        "invalid value \"70000\" for flag -port: port 70000 is out of range (1-65535, or -1 for a random port)"
    );
    assert_eq!(
        flag_error(&["-m", "-2"]),
        "invalid value \"-2\" for flag -m: port -2 is out of range (1-65535, 0 to disable, or -1 for a random port)"
    );
    assert_eq!(
        flag_error(&["-D", "false"]),
        "unrecognized command: \"false\""
    );
    assert_eq!(
        flag_error(&["-cores", "0"]),
        "invalid value \"0\" for flag -cores: must be between 1 and 1024, got 0"
    );
    assert_eq!(
        flag_error(&["--time_slice_us", "100001"]),
        "invalid value \"100001\" for flag -time_slice_us: must be between 50 and 100000, got 100001"
    );
    assert_eq!(
        flag_error(&["--cpu-list", "2-1"]),
        "invalid value \"2-1\" for flag -cpu-list: invalid CPU range \"2-1\": 2 > 1"
    );
    assert_eq!(
        flag_error(&["-n", "a b"]),
        "server name cannot contain spaces"
    );
    assert_eq!(
        flag_error(&["-t"]),
        "must specify [-c, --config] option to check configuration file syntax"
    );
}

#[test]
fn single_and_double_dash_and_values_agree() {
    let spellings: &[&[&str]] = &[
        &["-p", "4333", "-a", "127.0.0.1", "-n", "srv"],
        &["--port", "4333", "--addr", "127.0.0.1", "--name", "srv"],
        &["-port=4333", "-net=127.0.0.1", "-server_name=srv"],
        &["--port=4333", "--net", "127.0.0.1", "--server_name", "srv"],
    ];
    for args in spellings {
        let o = run(args);
        assert_eq!((o.port, o.host.as_str()), (4333, "127.0.0.1"), "{args:?}");
        assert_eq!(o.server_name.as_deref(), Some("srv"), "{args:?}");
        assert_eq!(o.http_host, "127.0.0.1", "the monitor follows -a");
    }
    assert_eq!(run(&["-p", "-1"]).port, 0, "-1 asks for a random port");
    assert_eq!(run(&["-p", "0x10"]).port, 16, "Go integer syntax");
    assert_eq!(run(&["-p", "0"]).port, 4222);
}

#[test]
fn logging_flags() {
    let o = run(&["-DV"]);
    assert!(o.debug && o.trace);
    let o = run(&["-D"]);
    assert!(o.debug && !o.trace);
    let o = run(&["--trace"]);
    assert!(!o.debug && o.trace);
    // The combined flag wins whatever the order, as in nats-server.
    let o = run(&["-DV=false", "-D"]);
    assert!(!o.debug && !o.trace);
    let o = run(&["-VV"]);
    assert!(o.trace && !o.debug);
    assert_eq!(o.warnings.len(), 1);
    assert!(!run(&["-T=false"]).logtime);
    assert!(!run(&["--logtime=0"]).logtime);
    assert!(run(&["-T"]).logtime);
    let o = run(&["-l", "/tmp/t.log", "--log_size_limit", "1000", "-s"]);
    assert_eq!(o.log_file, Some(PathBuf::from("/tmp/t.log")));
    assert_eq!(o.log_size_limit_bytes, 1000);
    assert!(o.syslog);
}

#[test]
fn server_jetstream_auth_and_tern_flags() {
    let o = run(&["-js", "-sd", "/tmp/x"]);
    assert!(o.jetstream);
    assert_eq!(o.store_dir, Some(PathBuf::from("/tmp/x")));
    let o = run(&["--jetstream", "--store_dir=/tmp/y"]);
    assert!(o.jetstream);
    assert_eq!(o.store_dir, Some(PathBuf::from("/tmp/y")));
    let o = run(&["--user", "u", "--pass", "p", "--auth", "t"]);
    assert_eq!(o.username.as_deref(), Some("u"));
    assert_eq!(o.password.as_deref(), Some("p"));
    assert_eq!(o.auth_token.as_deref(), Some("t"));
    let o = run(&[
        "-m",
        "-1",
        "-ms",
        "8443",
        "-P",
        "/run/t.pid",
        "--ports_file_dir",
        "/run",
    ]);
    assert_eq!((o.http_port, o.https_port), (Some(0), Some(8443)));
    assert_eq!(o.pid_file, Some(PathBuf::from("/run/t.pid")));
    assert_eq!(o.ports_file_dir, Some(PathBuf::from("/run")));
    let o = run(&["--cores", "4", "--cpu-list", "0,2-3,5"]);
    assert_eq!(o.cores, Some(4));
    assert_eq!(o.cpu_list, Some(vec![0, 2, 3, 5]));
    assert_eq!(o.time_slice_us, 500, "the default");
    assert_eq!(run(&["-time_slice_us", "2000"]).time_slice_us, 2000);
    let o = run(&["-p", "1", "-p", "2"]);
    assert_eq!(o.port, 2, "the last occurrence wins");
}

#[test]
fn unsupported_flags_are_accepted_with_warnings() {
    let o = run(&[
        "--routes",
        "nats://a:6222",
        "-cluster",
        "nats://0.0.0.0:6222",
    ]);
    assert_eq!(
        o.warnings,
        [
            "flag \"-routes\" is not supported yet by tern and is ignored",
            "flag \"-cluster\" is not supported yet by tern and is ignored",
        ]
    );
}

#[test]
fn flags_override_the_config_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("tern.conf");
    std::fs::write(
        &path,
        "port: 4000\ndebug: true\nlogtime: true\nhttp_port: 8222\njetstream { store_dir: /from/file }\nzzz: 1\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let file = path.to_string_lossy().to_string();
    let o = run(&["-c", &file]);
    assert_eq!((o.port, o.debug, o.logtime), (4000, true, true));
    assert_eq!(o.store_dir, Some(PathBuf::from("/from/file")));
    assert_eq!(o.config_file, Some(path.clone()));
    assert_eq!(o.warnings.len(), 1, "{:?}", o.warnings);
    // Flags win regardless of where -c appears.
    let o = run(&[
        "-p",
        "5000",
        "-T=false",
        "--config",
        &file,
        "-D=false",
        "-sd",
        "/from/flag",
    ]);
    assert_eq!((o.port, o.debug, o.logtime), (5000, false, false));
    assert_eq!(o.http_port, Some(8222), "untouched file values stay");
    assert_eq!(o.store_dir, Some(PathBuf::from("/from/flag")));
    assert!(o.jetstream);
}

#[test]
fn config_errors_surface_through_parse_args() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("bad.conf");
    std::fs::write(&path, "port = \"abc\"\n").unwrap_or_else(|e| panic!("{e}"));
    let file = path.to_string_lossy().to_string();
    let error = flag_error(&["-c", &file]);
    assert_eq!(
        error,
        format!("{file}:1:1: \"port\" expects an integer, got a string")
    );
    assert!(matches!(
        parse_args(argv(&["-c", "/nonexistent/tern.conf"])),
        Err(ConfigError::Io { .. })
    ));
}

#[test]
fn check_config() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("ok.conf");
    std::fs::write(&path, "port: 4100\n").unwrap_or_else(|e| panic!("{e}"));
    let file = path.to_string_lossy().to_string();
    match parse_args(argv(&["-t", "-c", &file])) {
        Ok(Command::CheckConfig(o)) => assert_eq!(o.port, 4100),
        other => panic!("{other:?}"),
    }
}

#[test]
fn signals() {
    let signal = |args: &[&str]| match parse_args(argv(args)) {
        Ok(Command::Signal { signal, pid }) => (signal, pid),
        other => panic!("{args:?}: {other:?}"),
    };
    assert_eq!(
        signal(&["--signal", "ldm=/tmp/tern.pid"]),
        (Signal::Ldm, Some("/tmp/tern.pid".to_string()))
    );
    assert_eq!(signal(&["-sl", "stop"]), (Signal::Stop, None));
    assert_eq!(
        signal(&["-sl=reload=4242"]),
        (Signal::Reload, Some("4242".to_string()))
    );
    for name in ["stop", "quit", "reopen", "reload", "ldm", "term"] {
        let (parsed, _) = signal(&["-sl", name]);
        assert_eq!(parsed.name(), name);
    }
    // The signal is sent before any configuration is read.
    assert_eq!(
        signal(&["-c", "/nonexistent.conf", "-sl", "quit"]),
        (Signal::Quit, None)
    );
    assert_eq!(flag_error(&["-sl", "hup"]), "unknown signal \"hup\"");
    assert_eq!(
        flag_error(&["-sl", "stop=1=2=3"]),
        "invalid signal parameters: [2 3]"
    );
}

#[test]
fn version_and_help() {
    for args in [
        &["-v"][..],
        &["--version"],
        &["version"],
        &["-p", "1", "VERSION"],
    ] {
        assert_eq!(
            parse_args(argv(args)).ok(),
            Some(Command::Version),
            "{args:?}"
        );
    }
    for args in [&["-h"][..], &["--help"], &["-help"], &["help"]] {
        match parse_args(argv(args)) {
            Ok(Command::Help(text)) => assert_eq!(text, usage(), "{args:?}"),
            other => panic!("{args:?}: {other:?}"),
        }
    }
    assert!(matches!(
        parse_args(argv(&["--help_tls"])),
        Ok(Command::Help(_))
    ));
    assert_eq!(flag_error(&["serve"]), "unrecognized command: \"serve\"");
    let text = usage();
    for heading in [
        "Server Options:",
        "Logging Options:",
        "JetStream Options:",
        "Authorization Options:",
        "tern Options:",
        "Common Options:",
    ] {
        assert!(text.contains(heading), "{heading}");
    }
}

#[test]
fn defaults_without_flags() {
    assert_eq!(run(&[]), Options::default());
}

#[test]
fn flag_table_usage_and_clap_agree() {
    let text = usage();
    for spec in FLAGS {
        for name in spec.names {
            let single = format!("-{name}");
            assert!(
                text.contains(&single),
                "{single} missing from the usage text"
            );
        }
    }
    let command = RawFlags::command();
    let longs: Vec<&str> = command
        .get_arguments()
        .filter_map(|a| a.get_long())
        .collect();
    for spec in FLAGS.iter().filter(|spec| spec.supported) {
        assert!(
            longs.contains(&spec.canonical),
            "{} not known to clap",
            spec.canonical
        );
    }
    for long in &longs {
        assert!(
            FLAGS
                .iter()
                .any(|spec| spec.supported && spec.canonical == *long),
            "clap flag {long} unreachable"
        );
    }
    let mut names: Vec<&str> = FLAGS
        .iter()
        .flat_map(|spec| spec.names.iter().copied())
        .collect();
    let count = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), count, "a flag name is listed twice");
}

#[test]
fn tls_flags_replace_the_config_files_tls_block() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("t.conf");
    std::fs::write(
        &conf,
        "tls { cert_file: a.pem, key_file: a-key.pem, verify_and_map: true, timeout: 3 }\n",
    )
    .unwrap();
    let conf = conf.display().to_string();
    let o = run(&["-c", &conf]);
    let tls = o.tls.expect("tls from the file");
    assert!(tls.verify && tls.verify_and_map);
    assert_eq!(tls.timeout_ms, 3_000);

    let o = run(&[
        "-c",
        &conf,
        "--tlsverify",
        "--tlscert",
        "b.pem",
        "--tlskey",
        "b-key.pem",
        "--tlscacert",
        "ca.pem",
    ]);
    let tls = o.tls.expect("tls from the flags");
    assert_eq!(tls.cert_file, PathBuf::from("b.pem"));
    assert_eq!(tls.ca_file, Some(PathBuf::from("ca.pem")));
    assert!(
        tls.verify && !tls.verify_and_map,
        "the file's block is replaced"
    );
    assert_eq!(tls.timeout_ms, 3_000, "the file's timeout stays");

    assert!(run(&["-c", &conf, "--tls=false"]).tls.is_none());
    assert!(run(&[]).tls.is_none());
    assert_eq!(
        flag_error(&["--tls"]),
        "TLS Server certificate must be present and valid"
    );
    assert_eq!(
        flag_error(&["--tlscert", "c.pem"]),
        "TLS Server private key must be present and valid"
    );
}
