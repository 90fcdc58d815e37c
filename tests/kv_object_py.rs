//! The KV and Object Store scenarios of `tests/py/kv_object.py` through a second official
//! client, nats-py, against tern and against the reference nats-server side by side: a
//! client that uses the API differently (its own watch and purge-deletes logic, pull-less
//! push consumers, STREAM.MSG.GET reads) must see the same results from both.
//!
//! nats-py comes from PyPI: `.ci/run` installs it into `target/py-venv`; without that venv
//! a system `python3` that can `import nats` is used; without either the test says so and
//! passes (it can not run here).

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// A Python interpreter with nats-py, if there is one.
fn python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/py-venv/bin/python3");
    let candidates = [venv, PathBuf::from("python3")];
    candidates.into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import nats.js.kv, nats.js.object_store"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}

fn run_script(python: &PathBuf, server: &TestServer) -> (bool, String) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/kv_object.py");
    let mut child = Command::new(python)
        .arg(&script)
        .arg(server.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("python output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn js_builder() -> ServerBuilder {
    let builder = ServerBuilder::new();
    let store = builder.dir().join("js").display().to_string();
    builder.args(&["-js", "-sd", store.as_str()])
}

#[test]
fn nats_py_kv_and_object_store_match_nats_server() {
    let Some(python) = python() else {
        eprintln!(
            "SKIPPED: no python3 with nats-py (run .ci/run, or `python3 -m venv target/py-venv && target/py-venv/bin/pip install nats-py`)"
        );
        return;
    };
    let reference = js_builder().start_reference();
    let (reference_ok, reference_output) = run_script(&python, &reference);
    assert!(
        reference_ok,
        "the scenarios fail against nats-server itself:\n{reference_output}"
    );
    let tern = js_builder().start();
    let (tern_ok, tern_output) = run_script(&python, &tern);
    assert!(
        tern_ok,
        "nats-py against tern:\n{tern_output}\nserver log:\n{}",
        tern.log()
    );
    assert_eq!(
        tern_output, reference_output,
        "tern and nats-server give nats-py different results"
    );
}
