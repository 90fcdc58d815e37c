//! The on-disk record format: whatever bytes a segment holds after a crash, a bad disk or
//! tampering, scanning it never panics, and every record it returns re-encodes to the very
//! bytes it was read from (nothing is served that the checksum did not vouch for).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern::jetstream::store::{decode_at, encode, scan_segment};

fuzz_target!(|data: &[u8]| {
    let scan = scan_segment(data);
    assert!(scan.valid_len as usize <= data.len());
    for (offset, record) in &scan.records {
        let mut bytes = Vec::new();
        let len = encode(record, &mut bytes);
        let start = *offset as usize;
        assert_eq!(&data[start..start + len], &bytes[..]);
    }
    let _ = decode_at(data);
});
