//! Fuzzes the append-only log reader that start-up recovery runs on whatever a crash left on disk.
#![no_main]

use keel_persist::aof::{LogReader, Next};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = LogReader::new(data);
    while let Next::Command(_) = reader.next_command() {}
});
