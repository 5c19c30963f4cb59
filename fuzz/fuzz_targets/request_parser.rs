//! Fuzzes the RESP request parser: arbitrary bytes never panic, every reported length stays in bounds, and
//! feeding the same bytes in two pieces yields exactly the commands that feeding them at once does.

#![no_main]

use keel_protocol::{Parsed, RequestParser};
use libfuzzer_sys::fuzz_target;

/// Parses `input` as one stream, revealing it `first` bytes at a time at first; returns the commands and
/// whether a protocol error ended the stream.
fn parse_stream(input: &[u8], first: usize) -> (Vec<Vec<Vec<u8>>>, bool) {
    let mut parser = RequestParser::new();
    let mut commands = Vec::new();
    let mut pos = 0;
    let mut visible = first.min(input.len());
    loop {
        match parser.parse(&input[pos..visible], 1 << 20, true) {
            Ok(Some(parsed)) => {
                let consumed = match parsed {
                    Parsed::Command { consumed } => {
                        let mut args = Vec::new();
                        parser.args(&input[pos..visible], &mut args);
                        commands.push(args.iter().map(|a| a.to_vec()).collect());
                        consumed
                    }
                    Parsed::Inline { args, consumed } => {
                        commands.push(args);
                        consumed
                    }
                    Parsed::Empty { consumed } => consumed,
                };
                assert!(consumed > 0 && pos + consumed <= visible);
                pos += consumed;
            }
            Ok(None) if visible < input.len() => visible = input.len(),
            Ok(None) => return (commands, false),
            Err(_) => return (commands, true),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = data[0] as usize;
    let input = &data[1..];
    let whole = parse_stream(input, input.len());
    let pieces = parse_stream(input, split);
    assert_eq!(whole, pieces);
});
