//! The CONNECT JSON every client sends before it is authenticated: arbitrary bytes
//! through `ConnectOptions::from_json` and `validate`; what decodes must encode again and
//! decode to the same options (the client side writes CONNECT with `write_connect`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern::protocol::ConnectOptions;

fuzz_target!(|data: &[u8]| {
    let Ok(options) = ConnectOptions::from_json(data) else {
        return;
    };
    let _ = options.validate(true);
    let _ = options.validate(false);
    let mut line = Vec::new();
    options.write_connect(&mut line);
    // `write_connect` writes the whole `CONNECT {...}\r\n` line.
    let json = line
        .strip_prefix(b"CONNECT ")
        .and_then(|rest| rest.strip_suffix(b"\r\n"))
        .expect("write_connect frames a CONNECT line");
    let again = ConnectOptions::from_json(json).expect("what tern writes, tern reads");
    assert_eq!(options, again);
});
