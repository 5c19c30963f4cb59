//! The commands of a REST request, held flat: every argument's bytes in one buffer, so that a `/pipeline`
//! of many small commands costs a few allocations rather than one per argument. They are read straight
//! from the JSON body (`["SET","k","v"]`, or `[["SET","k","v"], ...]`), item by item as raw JSON text,
//! without building a JSON tree or a vector per command first; or pushed one by one (a URL's path).

use serde::de::{DeserializeSeed, Error as _, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// Commands, each a non-empty list of arguments, name first.
#[derive(Default)]
pub(super) struct Commands {
    bytes: Vec<u8>,
    /// Where each argument ends in `bytes`.
    arg_ends: Vec<usize>,
    /// Where each command's arguments end in `arg_ends`.
    command_ends: Vec<usize>,
}

impl Commands {
    /// Adds an argument to the command being built (see [`Commands::end_command`]).
    pub(super) fn push_arg(&mut self, arg: &[u8]) {
        self.bytes.extend_from_slice(arg);
        self.arg_ends.push(self.bytes.len());
    }

    /// Ends the command being built; false (and nothing ended) when it has no argument.
    pub(super) fn end_command(&mut self) -> bool {
        let started = self.command_ends.last().copied().unwrap_or(0);
        if self.arg_ends.len() == started {
            return false;
        }
        self.command_ends.push(self.arg_ends.len());
        true
    }

    pub(super) fn len(&self) -> usize {
        self.command_ends.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.command_ends.is_empty()
    }

    /// Bytes of every argument together (what the same commands would meter over RESP).
    pub(super) fn arg_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Where command `i` starts: the index of its first argument, and that argument's first byte.
    fn start_of(&self, i: usize) -> (usize, usize) {
        let first = if i == 0 { 0 } else { self.command_ends[i - 1] };
        (first, if first == 0 { 0 } else { self.arg_ends[first - 1] })
    }

    /// Command `i`'s arguments into `out` (cleared first), borrowed from here.
    pub(super) fn args<'a>(&'a self, i: usize, out: &mut Vec<&'a [u8]>) {
        out.clear();
        let (first, mut start) = self.start_of(i);
        for &end in &self.arg_ends[first..self.command_ends[i]] {
            out.push(&self.bytes[start..end]);
            start = end;
        }
    }

    /// Command `i`'s name.
    pub(super) fn name(&self, i: usize) -> &[u8] {
        let (first, start) = self.start_of(i);
        &self.bytes[start..self.arg_ends[first]]
    }

    /// These commands between MULTI and EXEC: what `/multi-exec` runs.
    pub(super) fn as_transaction(&self) -> Commands {
        let mut transaction = Commands::default();
        transaction.push_arg(b"MULTI");
        transaction.end_command();
        let mut args = Vec::new();
        for i in 0..self.len() {
            self.args(i, &mut args);
            args.iter().for_each(|arg| transaction.push_arg(arg));
            transaction.end_command();
        }
        transaction.push_arg(b"EXEC");
        transaction.end_command();
        transaction
    }

    /// One command from a JSON array of arguments (`POST /`); None when malformed or empty.
    pub(super) fn from_json_command(body: &[u8]) -> Option<Commands> {
        let mut commands = Commands::default();
        let mut reader = serde_json::Deserializer::from_slice(body);
        OneCommand(&mut commands).deserialize(&mut reader).ok()?;
        reader.end().ok()?;
        Some(commands)
    }

    /// A JSON array of commands (`/pipeline`, `/multi-exec`); None when malformed or empty.
    pub(super) fn from_json_commands(body: &[u8]) -> Option<Commands> {
        let mut commands = Commands::default();
        let mut reader = serde_json::Deserializer::from_slice(body);
        ManyCommands(&mut commands).deserialize(&mut reader).ok()?;
        reader.end().ok()?;
        (!commands.is_empty()).then_some(commands)
    }
}

/// Reads one command, `["CMD", arg, ...]`, into the commands: strings as they are, numbers by their
/// original lexeme, booleans as `true`/`false`; `null`, arrays and objects are refused, and so is `[]`.
struct OneCommand<'c>(&'c mut Commands);

impl<'de> DeserializeSeed<'de> for OneCommand<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for OneCommand<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of arguments")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        while let Some(item) = items.next_element::<&'de RawValue>()? {
            push_json_argument(self.0, item).ok_or_else(|| A::Error::custom("not an argument"))?;
        }
        if self.0.end_command() {
            Ok(())
        } else {
            Err(A::Error::custom("an empty command"))
        }
    }
}

/// Reads an array of commands into the commands.
struct ManyCommands<'c>(&'c mut Commands);

impl<'de> DeserializeSeed<'de> for ManyCommands<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ManyCommands<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of commands")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        while items.next_element_seed(OneCommand(self.0))?.is_some() {}
        Ok(())
    }
}

/// One argument as it was written: a string unescaped, a number or a boolean as its text; None for
/// `null`, arrays and objects.
fn push_json_argument(commands: &mut Commands, item: &RawValue) -> Option<()> {
    let text = item.get();
    match text.as_bytes().first()? {
        b'"' => match serde_json::from_str::<&str>(text) {
            Ok(plain) => commands.push_arg(plain.as_bytes()),
            Err(_) => commands.push_arg(serde_json::from_str::<String>(text).ok()?.as_bytes()),
        },
        b't' | b'f' | b'-' | b'0'..=b'9' => commands.push_arg(text.as_bytes()),
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(commands: &Commands) -> Vec<Vec<Vec<u8>>> {
        let mut args = Vec::new();
        (0..commands.len())
            .map(|i| {
                commands.args(i, &mut args);
                args.iter().map(|a| a.to_vec()).collect()
            })
            .collect()
    }

    fn words(command: &[&str]) -> Vec<Vec<u8>> {
        command.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn a_pipeline_reads_into_one_buffer() {
        let body = br#"[["SET","k","v\n",12,-1.5e3,true],["GET","k"],["PING"]]"#;
        let commands = Commands::from_json_commands(body).expect("parsed");
        assert_eq!(
            listed(&commands),
            vec![words(&["SET", "k", "v\n", "12", "-1.5e3", "true"]), words(&["GET", "k"]), words(&["PING"])]
        );
        assert_eq!(commands.name(1), b"GET");
        assert_eq!(commands.arg_bytes(), "SETkv\n12-1.5e3trueGETkPING".len());
        let transaction = listed(&commands.as_transaction());
        assert_eq!(transaction.first(), Some(&words(&["MULTI"])));
        assert_eq!(transaction.last(), Some(&words(&["EXEC"])));
        assert_eq!(transaction.len(), 5);
    }

    #[test]
    fn malformed_or_empty_bodies_are_refused() {
        for body in [
            &b"[]"[..],
            b"[[]]",
            b"[[\"GET\",null]]",
            b"[[\"GET\",[1]]]",
            b"[[\"GET\",{}]]",
            b"[\"GET\",\"k\"]",
            b"[[\"GET\"]] trailing",
            b"[[\"GET\"]",
            b"{}",
        ] {
            assert!(Commands::from_json_commands(body).is_none(), "{}", String::from_utf8_lossy(body));
        }
        for body in [&b"[]"[..], b"[null]", b"[\"GET\"] x", b"[[\"GET\"]]", b"\"GET\""] {
            assert!(Commands::from_json_command(body).is_none(), "{}", String::from_utf8_lossy(body));
        }
        let one = Commands::from_json_command(br#"["GET","\u00e9"]"#).expect("parsed");
        assert_eq!(listed(&one), vec![words(&["GET", "é"])]);
    }
}
