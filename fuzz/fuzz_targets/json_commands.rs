//! Fuzzes the reader of REST request bodies (`Commands::from_json_command(s)`): arbitrary bytes never
//! panic, it accepts exactly the bodies serde_json reads as an array of commands (arrays of strings,
//! numbers and booleans), and it reads their arguments as serde_json does: strings byte for byte, numbers
//! and booleans as text that serde_json reads back as the same value (with `arbitrary_precision`, so that
//! no number is rounded).
#![no_main]

use keel_protocol::Commands;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// A command's arguments as serde_json reads them: strings, numbers and booleans.
fn arguments(command: &Value) -> Option<&[Value]> {
    let items = command.as_array().filter(|items| !items.is_empty())?;
    items.iter().all(|item| item.is_string() || item.is_number() || item.is_boolean()).then_some(items)
}

/// Whether `arg` is what a reader should make of `item`.
fn reads_as(arg: &[u8], item: &Value) -> bool {
    match item {
        Value::String(text) => arg == text.as_bytes(),
        _ => serde_json::from_slice::<Value>(arg).is_ok_and(|value| &value == item),
    }
}

/// Ours against serde_json's: the same commands, each argument read as [`reads_as`] says.
fn agree(ours: Option<Commands>, theirs: Option<Vec<&[Value]>>) {
    let theirs = theirs.filter(|commands| !commands.is_empty());
    let (Some(ours), Some(theirs)) = (&ours, &theirs) else {
        assert_eq!(ours.is_some(), theirs.is_some(), "accepted by one reader only");
        return;
    };
    assert_eq!(ours.len(), theirs.len());
    let mut args = Vec::new();
    for (i, command) in theirs.iter().enumerate() {
        ours.args(i, &mut args);
        assert_eq!(args.len(), command.len());
        for (arg, item) in args.iter().zip(command.iter()) {
            assert!(reads_as(arg, item), "{:?} read as {item}", String::from_utf8_lossy(arg));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = serde_json::from_slice::<Value>(data).ok();
    let one = parsed.as_ref().and_then(arguments).map(|command| vec![command]);
    agree(Commands::from_json_command(data), one);
    let many = parsed.as_ref().and_then(|v| v.as_array()?.iter().map(arguments).collect::<Option<Vec<_>>>());
    agree(Commands::from_json_commands(data), many);
});
