//! Fuzzes the RDB value decoder that RESTORE payloads and snapshot files reach: the first byte picks the
//! value type, the rest is the payload. It must never panic, whatever the bytes.
#![no_main]

use keel_persist::format::Input;
use keel_persist::value::{read_value, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&kind, payload)) = data.split_first() {
        let limits = Limits { max_string: 1 << 20, ..Limits::default() };
        let mut input = Input::new(payload, limits.max_string);
        let _ = read_value(&mut input, kind % 24, &limits);
    }
});
