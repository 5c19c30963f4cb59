//! Redis ACLs within one database (Redis's acl.c, without selectors): users with passwords (kept as
//! SHA-256), allowed commands (by name, subcommand or category), key patterns readable and/or writable
//! (`~`, `%R~`, `%W~`) and channel patterns (`&`), the rules language of ACL SETUSER, the permission check
//! every command passes, and the ACL LOG of denials. Users are saved to `users.acl` in the database's
//! directory, one ACL LIST line each.

use crate::exec::commands::{key, Channels, Command, CommandTable, CATEGORIES};
use crate::secrets::sha256_hex;
use keel_store::glob::matches as glob_match;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Vec<u8>,
    pub read: bool,
    pub write: bool,
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    pub passwords: BTreeSet<String>,
    /// Bit `id` set: the command (or subcommand) with that id may run.
    allowed: Vec<bool>,
    /// First arguments that let an otherwise denied command run (`+select|0`), by command id.
    first_args: BTreeMap<usize, Vec<String>>,
    /// Set by `+@all`, cleared by `-@all`: commands added in later versions would be allowed too (Redis's
    /// reserved command bit). ACL LIST starts from it.
    all_commands_base: bool,
    pub keys: Vec<KeyPattern>,
    pub channels: Vec<Vec<u8>>,
    /// SHA-256 of REST tokens made for this user (ACL RESTTOKEN), written as `rest#<hash>` rules.
    rest_tokens: BTreeSet<String>,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    Command,
    Key(Vec<u8>),
    Channel(Vec<u8>),
}

impl Denial {
    pub fn message(&self, command: &Command) -> String {
        match self {
            Denial::Command => {
                format!("NOPERM this user has no permissions to run the '{}' command", command.fullname)
            }
            Denial::Key(_) => "NOPERM this user has no permissions to access one of the keys used as arguments".into(),
            Denial::Channel(_) => {
                "NOPERM this user has no permissions to access one of the channels used as arguments".into()
            }
        }
    }
}

impl User {
    /// Gives the user a REST token, by its SHA-256 in hex (noted in the process's filter of them).
    pub fn add_rest_token(&mut self, token_sha256: String) {
        super::rest_token_filter::note(&token_sha256);
        self.rest_tokens.insert(token_sha256);
    }

    fn new(name: &str, commands: usize) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            passwords: BTreeSet::new(),
            allowed: vec![false; commands],
            first_args: BTreeMap::new(),
            all_commands_base: false,
            keys: Vec::new(),
            channels: Vec::new(),
            rest_tokens: BTreeSet::new(),
        }
    }

    /// Everything allowed: no check needed (the default user, unless restricted).
    pub fn unrestricted(&self) -> bool {
        self.enabled
            && self.allowed.iter().all(|a| *a)
            && self.keys.iter().any(|k| k.pattern == b"*" && k.read && k.write)
            && self.channels.iter().any(|c| c == b"*")
    }

    pub fn check_password(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hash = sha256_hex(password);
        self.passwords.iter().any(|p| crate::secrets::secrets_equal(p.as_bytes(), hash.as_bytes()))
    }

    /// Allows or denies one command, and with a container all its subcommands (Redis's ACLChangeSelectorPerm).
    fn change(&mut self, cmd: &Command, allow: bool) {
        self.allowed[cmd.id] = allow;
        self.first_args.remove(&cmd.id);
        for &sub in &cmd.subcommands {
            self.allowed[sub] = allow;
        }
    }

    /// `+@category`/`-@category`: every command of it, a container with all its subcommands.
    fn change_category(&mut self, table: &CommandTable, bit: usize, allow: bool) {
        for cmd in table.all() {
            if cmd.categories & (1 << bit) != 0 {
                self.change(cmd, allow);
            }
        }
    }

    /// One `+...`/`-...` rule (`target` lowercased, without its sign), as Redis's ACLSetSelector reads it.
    fn apply_command_rule(
        &mut self,
        allow: bool,
        target: &str,
        table: &CommandTable,
        fail: impl Fn(&str) -> String,
    ) -> Result<(), String> {
        let unknown = || fail("Unknown command or category name in ACL");
        if let Some(category) = target.strip_prefix('@') {
            if category == "all" {
                self.allowed.iter_mut().for_each(|a| *a = allow);
                self.first_args.clear();
                self.all_commands_base = allow;
                return Ok(());
            }
            let bit = CATEGORIES.iter().position(|c| *c == category).ok_or_else(unknown)?;
            self.change_category(table, bit, allow);
            return Ok(());
        }
        match target.rsplit_once('|') {
            // `+cmd|sub` allows a subcommand; on a command without subcommands (`+select|0`) it allows that
            // first argument only.
            Some((base, first_arg)) if allow => {
                let cmd = lookup(table, base).ok_or_else(unknown)?;
                if cmd.parent.is_some() {
                    return Err(fail("Allowing first-arg of a subcommand is not supported"));
                }
                if first_arg.is_empty() {
                    return Err(fail("Syntax error"));
                }
                if cmd.is_container() {
                    let sub = lookup(table, target).ok_or_else(unknown)?;
                    self.change(sub, true);
                } else if !self.allowed[cmd.id] {
                    let args = self.first_args.entry(cmd.id).or_default();
                    if !args.iter().any(|a| a == first_arg) {
                        args.push(first_arg.to_string());
                    }
                }
            }
            _ => {
                let cmd = lookup(table, target).ok_or_else(unknown)?;
                self.change(cmd, allow);
            }
        }
        Ok(())
    }

    /// Applies one ACL SETUSER rule (Redis's ACLSetUser); the error text names the rule.
    pub fn apply(&mut self, rule: &str, table: &CommandTable) -> Result<(), String> {
        let fail = |why: &str| format!("Error in ACL SETUSER modifier '{rule}': {why}");
        let lower = rule.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "allkeys" => self.keys = vec![KeyPattern { pattern: b"*".to_vec(), read: true, write: true }],
            "resetkeys" => self.keys.clear(),
            "allchannels" => self.channels = vec![b"*".to_vec()],
            "resetchannels" => self.channels.clear(),
            "allcommands" => return self.apply("+@all", table),
            "nocommands" => return self.apply("-@all", table),
            "reset" => {
                for r in ["resetpass", "resetkeys", "resetchannels", "off", "-@all"] {
                    self.apply(r, table)?;
                }
            }
            _ if lower.starts_with("rest#") => self.add_rest_token(rule[5..].to_string()),
            _ => {
                let bytes = rule.as_bytes();
                match bytes.first() {
                    Some(b'>') => {
                        self.passwords.insert(sha256_hex(&bytes[1..]));
                        self.nopass = false;
                    }
                    Some(b'<') => {
                        self.passwords.remove(&sha256_hex(&bytes[1..]));
                    }
                    Some(b'#') | Some(b'!') => {
                        let hash = &rule[1..];
                        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                            return Err(fail(
                                "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
                            ));
                        }
                        if bytes[0] == b'#' {
                            self.passwords.insert(hash.to_string());
                            self.nopass = false;
                        } else if !self.passwords.remove(hash) {
                            return Err(fail("no such password hash"));
                        }
                    }
                    Some(b'~') => self.add_keys(&bytes[1..], true, true),
                    Some(b'%') => {
                        let (perms, pattern) = rule[1..].split_once('~').ok_or_else(|| fail("Syntax error"))?;
                        let perms = perms.to_ascii_uppercase();
                        if perms.is_empty() || !perms.chars().all(|c| c == 'R' || c == 'W') {
                            return Err(fail("Syntax error"));
                        }
                        self.add_keys(pattern.as_bytes(), perms.contains('R'), perms.contains('W'));
                    }
                    Some(b'&') => {
                        if !self.channels.iter().any(|c| c == b"*") {
                            self.channels.push(bytes[1..].to_vec());
                        }
                    }
                    Some(b'+') | Some(b'-') => self.apply_command_rule(bytes[0] == b'+', &lower[1..], table, fail)?,
                    _ => return Err(fail("Syntax error")),
                }
            }
        }
        Ok(())
    }

    fn add_keys(&mut self, pattern: &[u8], read: bool, write: bool) {
        if self.keys.iter().any(|k| k.pattern == b"*" && k.read && k.write) {
            return;
        }
        match self.keys.iter_mut().find(|k| k.pattern == pattern) {
            Some(existing) => {
                existing.read |= read;
                existing.write |= write;
            }
            None => self.keys.push(KeyPattern { pattern: pattern.to_vec(), read, write }),
        }
    }

    /// The user as one ACL LIST line.
    pub fn describe(&self, table: &CommandTable) -> String {
        let mut parts = vec![format!("user {}", self.name), (if self.enabled { "on" } else { "off" }).to_string()];
        if self.nopass {
            parts.push("nopass".into());
        }
        parts.extend(self.passwords.iter().map(|p| format!("#{p}")));
        parts.push(self.keys_text());
        parts.push(self.channels_text());
        parts.push(self.commands_text(table));
        parts.extend(self.rest_tokens.iter().map(|t| format!("rest#{t}")));
        parts.retain(|p| !p.is_empty());
        parts.join(" ")
    }

    pub fn keys_text(&self) -> String {
        let all: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                let pattern = String::from_utf8_lossy(&k.pattern);
                match (k.read, k.write) {
                    (true, true) => format!("~{pattern}"),
                    (true, false) => format!("%R~{pattern}"),
                    _ => format!("%W~{pattern}"),
                }
            })
            .collect();
        all.join(" ")
    }

    /// `&*`, or `resetchannels` followed by the channels granted (Redis's form).
    pub fn channels_text(&self) -> String {
        if self.channels.iter().any(|c| c == b"*") {
            return "&*".into();
        }
        let mut parts = vec!["resetchannels".to_string()];
        parts.extend(self.channels.iter().map(|c| format!("&{}", String::from_utf8_lossy(c))));
        parts.join(" ")
    }

    /// The command rules that rebuild this user's permissions, as Redis 7.0 derives them from its bitmap
    /// (ACLDescribeSelectorCommandRules): `+@all` or `-@all`, then the categories that fit best, then single
    /// commands and first arguments for what is still different.
    pub fn commands_text(&self, table: &CommandTable) -> String {
        let additive = !self.all_commands_base;
        let mut rules = vec![if additive { "-@all" } else { "+@all" }.to_string()];
        let mut fake = User::new("", table.len());
        fake.allowed.iter_mut().for_each(|a| *a = !additive);
        // The commands still to account for: categories are applied to it in reverse as they are chosen.
        let mut remaining = self.clone();
        let mut applied = vec![false; CATEGORIES.len()];
        loop {
            let mut best: Option<(usize, usize, usize)> = None;
            for bit in (0..CATEGORIES.len()).filter(|&b| !applied[b]) {
                let (mut on, mut off) = (0, 0);
                for cmd in table.all().filter(|c| c.categories & (1 << bit) != 0) {
                    if remaining.allowed[cmd.id] {
                        on += 1;
                    } else {
                        off += 1;
                    }
                }
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                let better = match best {
                    None => true,
                    Some((_, min_diff, max_same)) => diff < min_diff || (diff == min_diff && same > max_same),
                };
                if same > diff && better {
                    best = Some((bit, diff, same));
                }
            }
            let Some((bit, _, _)) = best else { break };
            rules.push(format!("{}@{}", if additive { '+' } else { '-' }, CATEGORIES[bit]));
            fake.change_category(table, bit, additive);
            remaining.change_category(table, bit, !additive);
            applied[bit] = true;
        }
        for top in table.top_level() {
            for cmd in std::iter::once(top).chain(top.subcommands.iter().map(|&id| table.get(id))) {
                let allowed = self.allowed[cmd.id];
                if allowed != fake.allowed[cmd.id] {
                    rules.push(format!("{}{}", if allowed { '+' } else { '-' }, cmd.fullname));
                    fake.change(cmd, allowed);
                }
                if !allowed {
                    for arg in self.first_args.get(&cmd.id).into_iter().flatten() {
                        rules.push(format!("+{}|{arg}", cmd.fullname));
                    }
                }
            }
        }
        rules.join(" ")
    }

    /// Whether every channel `before` granted is still granted (so no subscriber needs to go).
    pub fn keeps_channels_of(&self, before: &User) -> bool {
        self.channels.iter().any(|c| c == b"*")
            || (!before.channels.iter().any(|c| c == b"*") && before.channels.iter().all(|c| self.channels.contains(c)))
    }

    fn key_allowed(&self, key: &[u8], read: bool, write: bool) -> bool {
        self.keys.iter().any(|k| (!read || k.read) && (!write || k.write) && glob_match(&k.pattern, key, false))
    }

    pub fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.channels.iter().any(|c| {
            if is_pattern {
                // A pattern subscription must be granted literally (Redis's rule).
                c == b"*" || c == channel
            } else {
                glob_match(c, channel, false)
            }
        })
    }

    /// Whether this user may run `args` as `command` (Redis's ACLCheckAllUserCommandPerm).
    pub fn check(&self, command: &Command, args: &[&[u8]]) -> Result<(), Denial> {
        if !self.allowed.get(command.id).copied().unwrap_or(false) {
            let first_arg_allowed = match (self.first_args.get(&command.id), args.get(1)) {
                (Some(allowed), Some(arg)) => allowed.iter().any(|a| a.as_bytes().eq_ignore_ascii_case(arg)),
                _ => false,
            };
            if !first_arg_allowed {
                return Err(Denial::Command);
            }
        }
        // Each key needs what the command does to it: reading it (%R~), changing it (%W~), or, for a key
        // only looked at (EXISTS, TYPE), any pattern that names it. Shard channels sit where keys would:
        // they are channels, checked below.
        for (at, flags) in command.keys(args) {
            if flags & key::NOT_KEY != 0 {
                continue;
            }
            let read = flags & key::ACCESS != 0;
            let write = flags & (key::INSERT | key::DELETE | key::UPDATE) != 0;
            if !self.key_allowed(args[at], read, write) {
                return Err(Denial::Key(args[at].to_vec()));
            }
        }
        let channels = match command.spec.channels {
            Channels::None => &[][..],
            Channels::First => &args[1..2],
            Channels::All | Channels::AllPatterns => &args[1..],
        };
        let is_pattern = command.spec.channels == Channels::AllPatterns;
        if let Some(channel) = channels.iter().find(|c| !self.channel_allowed(c, is_pattern)) {
            return Err(Denial::Channel(channel.to_vec()));
        }
        Ok(())
    }
}

/// A command or subcommand by its ACL name (`get`, `config|get`); None for anything else.
fn lookup<'t>(table: &'t CommandTable, name: &str) -> Option<&'t Command> {
    match name.split_once('|') {
        None => table.find(name.as_bytes()),
        Some((base, sub)) => {
            table.find(base.as_bytes())?.subcommands.iter().map(|&id| table.get(id)).find(|c| c.spec.name == sub)
        }
    }
}

/// One ACL LOG entry.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub count: u64,
    pub reason: &'static str,
    pub context: &'static str,
    pub object: String,
    pub username: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub client_info: String,
}

impl LogEntry {
    /// A first denial, now.
    pub fn new(
        reason: &'static str,
        context: &'static str,
        object: String,
        username: String,
        client_info: String,
    ) -> LogEntry {
        let now = crate::clock::unix_ms();
        LogEntry { count: 1, reason, context, object, username, created_ms: now, updated_ms: now, client_info }
    }
}

/// A database's users and its log of denials.
pub struct Acl {
    pub users: BTreeMap<String, User>,
    pub log: VecDeque<LogEntry>,
}

impl Acl {
    /// The users a database starts with: `default`, with everything allowed, and a password when given.
    pub fn new(table: &CommandTable, default_password: Option<&str>) -> Acl {
        let mut default = User::new("default", table.len());
        for rule in ["on", "allkeys", "allchannels", "+@all"] {
            let _ = default.apply(rule, table);
        }
        match default_password {
            Some(p) if !p.is_empty() => default.passwords.insert(sha256_hex(p.as_bytes())),
            _ => {
                default.nopass = true;
                true
            }
        };
        // The REST read-only token runs as `default_ro`: read-only by the token, narrowed further by its
        // rules if an operator sets them.
        let mut read_only = User::new("default_ro", table.len());
        for rule in ["on", "nopass", "allkeys", "allchannels", "+@all"] {
            let _ = read_only.apply(rule, table);
        }
        Acl {
            users: BTreeMap::from([("default".to_string(), default), ("default_ro".to_string(), read_only)]),
            log: VecDeque::new(),
        }
    }

    /// The user a REST token made with ACL RESTTOKEN stands for, by the token's SHA-256 (hashed once by the
    /// caller, which asks every database).
    pub fn user_by_rest_token(&self, token_sha256: &str) -> Option<&User> {
        self.users.values().find(|u| {
            u.enabled
                && u.rest_tokens.iter().any(|t| crate::secrets::secrets_equal(t.as_bytes(), token_sha256.as_bytes()))
        })
    }

    /// ACL SETUSER: all rules apply, or none does.
    pub fn set_user(&mut self, name: &str, rules: &[&str], table: &CommandTable) -> Result<(), String> {
        if name.contains(' ') || name.contains('\0') {
            return Err("Usernames can't contain spaces or null characters".into());
        }
        let mut user = self.users.get(name).cloned().unwrap_or_else(|| User::new(name, table.len()));
        for rule in rules {
            user.apply(rule, table)?;
        }
        self.users.insert(name.to_string(), user);
        Ok(())
    }

    /// Adds a denial to the log (or counts it again), keeping at most `max_len` entries (`acllog-max-len`).
    pub fn record(&mut self, entry: LogEntry, max_len: usize) {
        let same = self.log.iter_mut().find(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.object == entry.object
                && e.username == entry.username
        });
        match same {
            Some(existing) => {
                existing.count += 1;
                existing.updated_ms = entry.updated_ms;
                existing.client_info = entry.client_info;
            }
            None => {
                self.log.push_front(entry);
                self.log.truncate(max_len);
            }
        }
    }

    /// The users as an ACL file (their ACL LIST lines).
    pub fn file_text(&self, table: &CommandTable) -> String {
        self.users.values().map(|u| u.describe(table) + "\n").collect()
    }

    /// Saves the users to `<dir>/users.acl` (whole file, then rename).
    pub fn save(&self, dir: &Path, table: &CommandTable) -> Result<(), String> {
        let path = dir.join("users.acl");
        keel_persist::private_file::replace(&path, self.file_text(table).as_bytes())
            .map_err(|e| format!("cannot save the ACL users to {}: {e}", path.display()))
    }

    /// Loads `<dir>/users.acl` when there is one (replacing the users it names).
    pub fn load(&mut self, dir: &Path, table: &CommandTable) -> Result<(), String> {
        let path = dir.join("users.acl");
        let Ok(text) = std::fs::read_to_string(&path) else { return Ok(()) };
        let users = parse_users(&text, &path.display().to_string(), table)?;
        self.users.extend(users);
        Ok(())
    }

    /// Makes the users exactly those of an ACL file's text (a replica taking its primary's); on a bad line
    /// nothing changes.
    pub fn replace_all(&mut self, text: &str, table: &CommandTable) -> Result<(), String> {
        self.users = parse_users(text, "the primary's users", table)?;
        Ok(())
    }
}

/// The users an ACL file's text declares (`origin` names it in errors).
fn parse_users(text: &str, origin: &str, table: &CommandTable) -> Result<BTreeMap<String, User>, String> {
    let mut users = BTreeMap::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let ("user", Some(name)) = (words[0], words.get(1)) else {
            return Err(format!("{origin}:{}: not a user line", n + 1));
        };
        let mut user = User::new(name, table.len());
        for rule in &words[2..] {
            user.apply(rule, table).map_err(|e| format!("{origin}:{}: {e}", n + 1))?;
        }
        users.insert(name.to_string(), user);
    }
    Ok(users)
}
