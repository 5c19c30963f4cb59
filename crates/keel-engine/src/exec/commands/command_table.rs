//! The command table as the server uses it: every declared command and subcommand resolved once at start
//! (full names, implied ACL categories, the legacy first/last/step range that `COMMAND INFO` shows), looked
//! up by name without allocating, and each command's keys found in its arguments.

use super::spec::{cat, flags, key, CommandSpec, KeySpec, CATEGORIES};
use hashbrown::HashMap;
use std::cell::Cell;

/// A command resolved at start-up: its spec plus derived facts and its id (an index for statistics).
pub struct Command {
    pub id: usize,
    pub spec: &'static CommandSpec,
    /// `get`, or `client|list` for a subcommand.
    pub fullname: String,
    pub flags: flags::Flags,
    /// Bit `i` set means category `CATEGORIES[i]`.
    pub categories: cat::Categories,
    pub subcommands: Vec<usize>,
    pub parent: Option<usize>,
    /// First key, last key and step as `COMMAND INFO` shows them, derived from the key specs.
    pub legacy_range: (i32, i32, i32),
    /// Where the keys are depends on the arguments (Redis's `movablekeys`).
    pub movable_keys: bool,
}

impl Command {
    pub fn has(&self, flag: flags::Flags) -> bool {
        self.flags & flag != 0
    }

    pub fn is_container(&self) -> bool {
        !self.subcommands.is_empty()
    }

    pub fn category_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        CATEGORIES.iter().enumerate().filter(move |(i, _)| self.categories & (1 << i) != 0).map(|(_, n)| *n)
    }

    /// The flags as `COMMAND INFO` shows them, `movablekeys` in its place.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        for (bit, name) in flags::NAMES {
            if *bit == flags::ALLOW_BUSY && self.movable_keys {
                names.push("movablekeys");
            }
            if self.flags & bit != 0 {
                names.push(*name);
            }
        }
        names
    }

    /// The key arguments in `args` and what the command does to each (Redis's
    /// `getKeysFromCommandWithSpecs`): from the key specs when they are complete and their flags fixed,
    /// else from the command's own key finder. Arguments that do not fit the specs have no keys: the
    /// command answers their syntax error itself.
    pub fn keys(&self, args: &[&[u8]]) -> Vec<(usize, key::KeyFlags)> {
        let specs = self.spec.keys;
        let all_flags = specs.iter().fold(0, |acc, s| acc | s.flags);
        let mut found = Vec::new();
        let complete = all_flags & (key::INCOMPLETE | key::VARIABLE_FLAGS) == 0;
        if complete || self.spec.find_keys.is_none() {
            if specs.iter().all(|spec| spec.resolve(args, &mut found).is_ok()) {
                return found;
            }
            found.clear();
        }
        match self.spec.find_keys {
            Some(find_keys) => find_keys(args),
            None => found,
        }
    }

    /// The positions of the key arguments (not the shard channels that sit where keys would).
    pub fn key_positions(&self, args: &[&[u8]]) -> Vec<usize> {
        self.keys(args).into_iter().filter(|(_, flags)| flags & key::NOT_KEY == 0).map(|(at, _)| at).collect()
    }
}

/// Redis's `populateCommandLegacyRangeSpec`: the one first/last/step range that covers the key specs
/// when they are plain consecutive ranges, and whether the keys move with the arguments.
fn legacy_range(specs: &[KeySpec]) -> ((i32, i32, i32), bool) {
    use super::spec::{Begin, Find};
    if specs.is_empty() {
        return ((0, 0, 0), false);
    }
    if let [only] = specs {
        if let (Begin::Index(first), Find::Range { last, step, .. }) = (only.begin, only.find) {
            let last = if last >= 0 { first + last } else { last };
            return ((first, last, step), only.flags & key::INCOMPLETE != 0);
        }
    }
    let mut movable = false;
    let (mut first_key, mut last_key, mut previous_last) = (i32::MAX, 0i32, 0i32);
    for spec in specs {
        let (Begin::Index(first), Find::Range { last, step, .. }) = (spec.begin, spec.find) else {
            movable = true;
            continue;
        };
        if step != 1 || (previous_last != 0 && previous_last != first - 1) {
            movable = true;
            continue;
        }
        movable |= spec.flags & key::INCOMPLETE != 0;
        first_key = first_key.min(first);
        let last = if last >= 0 { first + last } else { last };
        // Redis compares unsigned: a key counted from the end (negative) is the larger.
        last_key = if (last as u32) > (last_key as u32) { last } else { last_key };
        previous_last = last_key;
    }
    if first_key == i32::MAX {
        return ((0, 0, 0), true);
    }
    ((first_key, last_key, 1), movable)
}

/// What looking a command up found.
pub enum Lookup<'t> {
    Found(&'t Command),
    /// No such command.
    Unknown,
    /// A container command (`CLIENT`) with an unknown subcommand.
    UnknownSubcommand(&'t Command),
    /// A container command without its subcommand.
    MissingSubcommand(&'t Command),
}

/// The name a client last sent a command by, exactly as sent (up to 16 bytes), and the top-level command it
/// named. Clients send the same command many times in a row (a pipeline of SETs), and comparing the name
/// costs less than lowering and hashing it again.
#[derive(Debug, Default, Clone, Copy)]
pub struct LastName {
    name: [u8; 16],
    /// 0 until a name is kept.
    len: u8,
    id: u32,
}

impl LastName {
    fn of(name: &[u8]) -> Option<LastName> {
        let mut kept = LastName { len: u8::try_from(name.len()).ok()?, ..LastName::default() };
        kept.name.get_mut(..name.len())?.copy_from_slice(name);
        Some(kept)
    }
}

pub struct CommandTable {
    commands: Vec<Command>,
    by_name: HashMap<&'static [u8], usize, foldhash::fast::RandomState>,
}

impl CommandTable {
    pub fn build() -> CommandTable {
        let mut table = CommandTable { commands: Vec::new(), by_name: HashMap::default() };
        for spec in super::table::COMMANDS {
            let id = table.add(spec, None);
            table.by_name.insert(spec.name.as_bytes(), id);
        }
        table
    }

    fn add(&mut self, spec: &'static CommandSpec, parent: Option<usize>) -> usize {
        let id = self.commands.len();
        let fullname = match parent {
            Some(p) => format!("{}|{}", self.commands[p].spec.name, spec.name),
            None => spec.name.to_string(),
        };
        let flags = spec.flags;
        // Redis's setImplicitACLCategories.
        let implied = [
            (flags::WRITE, cat::WRITE),
            (flags::ADMIN, cat::ADMIN | cat::DANGEROUS),
            (flags::PUBSUB, cat::PUBSUB),
            (flags::FAST, cat::FAST),
            (flags::BLOCKING, cat::BLOCKING),
        ];
        let mut categories = implied.iter().filter(|(f, _)| flags & f != 0).fold(spec.categories, |a, (_, c)| a | c);
        if flags & flags::READONLY != 0 && spec.categories & cat::SCRIPTING == 0 {
            categories |= cat::READ;
        }
        if flags & flags::FAST == 0 {
            categories |= cat::SLOW;
        }
        let (legacy_range, movable_keys) = legacy_range(spec.keys);
        self.commands.push(Command {
            id,
            spec,
            fullname,
            flags,
            categories,
            subcommands: Vec::new(),
            parent,
            legacy_range,
            movable_keys,
        });
        for sub in spec.subcommands {
            let sub_id = self.add(sub, Some(id));
            self.commands[id].subcommands.push(sub_id);
        }
        id
    }

    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    pub fn get(&self, id: usize) -> &Command {
        &self.commands[id]
    }

    /// Top-level commands, in table order.
    pub fn top_level(&self) -> impl Iterator<Item = &Command> {
        self.commands.iter().filter(|c| c.parent.is_none())
    }

    pub fn all(&self) -> impl Iterator<Item = &Command> {
        self.commands.iter()
    }

    /// Finds a top-level command by name, case-insensitively, without allocating.
    pub fn find(&self, name: &[u8]) -> Option<&Command> {
        let mut lower = [0u8; 32];
        let lower = lower.get_mut(..name.len())?;
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&*lower).map(|&id| &self.commands[id])
    }

    /// [`CommandTable::find`], answered from `last` when the name is the one it holds, exactly as sent; a
    /// name found otherwise is kept there.
    pub fn find_after(&self, name: &[u8], last: &Cell<LastName>) -> Option<&Command> {
        let seen = last.get();
        if seen.len != 0 && name.len() == seen.len as usize && name == &seen.name[..name.len()] {
            return Some(&self.commands[seen.id as usize]);
        }
        let command = self.find(name)?;
        if let (Some(kept), Ok(id)) = (LastName::of(name), u32::try_from(command.id)) {
            last.set(LastName { id, ..kept });
        }
        Some(command)
    }

    /// Resolves `args` to a command, descending into subcommands of container commands.
    pub fn lookup(&self, args: &[&[u8]]) -> Lookup<'_> {
        match args.first().and_then(|name| self.find(name)) {
            Some(cmd) => self.descend(cmd, args),
            None => Lookup::Unknown,
        }
    }

    /// [`CommandTable::lookup`] through [`CommandTable::find_after`], for a client's next command.
    pub fn lookup_after(&self, args: &[&[u8]], last: &Cell<LastName>) -> Lookup<'_> {
        match args.first().and_then(|name| self.find_after(name, last)) {
            Some(cmd) => self.descend(cmd, args),
            None => Lookup::Unknown,
        }
    }

    /// `cmd` itself, or the subcommand `args` name when it is a container.
    fn descend<'t>(&'t self, cmd: &'t Command, args: &[&[u8]]) -> Lookup<'t> {
        if !cmd.is_container() {
            return Lookup::Found(cmd);
        }
        let Some(sub) = args.get(1) else {
            // A container with arity -1 (COMMAND) also runs on its own.
            return if cmd.spec.arity == -1 { Lookup::Found(cmd) } else { Lookup::MissingSubcommand(cmd) };
        };
        cmd.subcommands
            .iter()
            .map(|&id| &self.commands[id])
            .find(|c| c.spec.name.as_bytes().eq_ignore_ascii_case(sub))
            .map_or(Lookup::UnknownSubcommand(cmd), Lookup::Found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(lookup: Lookup) -> Option<String> {
        match lookup {
            Lookup::Found(command) => Some(command.fullname.clone()),
            _ => None,
        }
    }

    #[test]
    fn a_clients_last_name_answers_only_for_that_exact_name() {
        let table = CommandTable::build();
        let last = Cell::new(LastName::default());
        // Nothing kept yet: even an empty name finds nothing.
        assert!(table.find_after(b"", &last).is_none());
        for (name, found) in [
            (&b"SET"[..], Some("set")),
            (b"SET", Some("set")),
            (b"set", Some("set")),
            (b"GET", Some("get")),
            (b"NOSUCH", None),
            (b"GET", Some("get")),
            (b"", None),
            (b"a-name-longer-than-sixteen-bytes", None),
            (b"GET", Some("get")),
        ] {
            assert_eq!(table.find_after(name, &last).map(|c| c.fullname.as_str()), found, "{name:?}");
            assert_eq!(table.find(name).map(|c| c.fullname.as_str()), found, "{name:?}");
        }
        // A container found from the kept name still descends into its subcommand.
        let args: [&[u8]; 2] = [b"CLIENT", b"ID"];
        assert_eq!(name_of(table.lookup_after(&args, &last)).as_deref(), Some("client|id"));
        let args: [&[u8]; 2] = [b"CLIENT", b"INFO"];
        assert_eq!(name_of(table.lookup_after(&args, &last)).as_deref(), Some("client|info"));
        assert!(matches!(table.lookup_after(&[b"CLIENT"], &last), Lookup::MissingSubcommand(_)));
    }
}
