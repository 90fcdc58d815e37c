//! Config files come from operators, not attackers, but a typo must give an error with a
//! position, never a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tern::config::parse_str_with_env(text, "fuzz.conf", &|_| None);
    }
});
