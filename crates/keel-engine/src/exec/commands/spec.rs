//! The command table's types: what every command declares once (name, arity, typed flags, ACL categories,
//! key specs, handler), and the key specs' resolution to key positions with their access flags (Redis 7's
//! key specs: where the keys begin, how many there are, and what the command does to each).

use super::{CmdResult, Ctx};

/// A handler writes its reply through `ctx.out` and returns `Err` to reply with an error instead.
pub type Handler = fn(&mut Ctx, &[&[u8]]) -> CmdResult;

/// Command flags. Redis's flags are named as `COMMAND INFO` prints them; Keel's own (after [`flags::NAMES`])
/// say where a command may run or how it finds its keys, and are never shown to clients. Typed constants: a misspelt flag does not
/// compile.
pub mod flags {
    pub type Flags = u32;
    pub const NONE: Flags = 0;
    pub const WRITE: Flags = 1 << 0;
    pub const READONLY: Flags = 1 << 1;
    pub const DENYOOM: Flags = 1 << 2;
    pub const ADMIN: Flags = 1 << 3;
    pub const PUBSUB: Flags = 1 << 4;
    pub const NOSCRIPT: Flags = 1 << 5;
    pub const BLOCKING: Flags = 1 << 6;
    pub const LOADING: Flags = 1 << 7;
    pub const STALE: Flags = 1 << 8;
    pub const SKIP_MONITOR: Flags = 1 << 9;
    pub const SKIP_SLOWLOG: Flags = 1 << 10;
    pub const FAST: Flags = 1 << 11;
    pub const NO_AUTH: Flags = 1 << 12;
    pub const MAY_REPLICATE: Flags = 1 << 13;
    pub const NO_MULTI: Flags = 1 << 14;
    pub const ALLOW_BUSY: Flags = 1 << 15;
    /// Runs with no key at all (EVAL and FCALL with 0 keys).
    pub const NO_MANDATORY_KEYS: Flags = 1 << 20;
    /// Refused while a replica loads its dataset asynchronously.
    pub const NO_ASYNC_LOADING: Flags = 1 << 21;
    /// Allowed on a cluster slot being imported.
    pub const ASKING: Flags = 1 << 22;
    /// Keel: acts on the whole server (every database), so only the server's own administrator, a client
    /// of the `default` database, may run it; provisioned databases are refused.
    pub const SERVER_ONLY: Flags = 1 << 16;
    /// Keel: may run in RESP2 subscriber mode (Redis's list in processCommand).
    pub const SUBSCRIBER_CONTEXT: Flags = 1 << 17;
    /// Keel: acts on the transaction or the connection itself, so MULTI runs it instead of queuing it.
    pub const NOT_QUEUED: Flags = 1 << 18;
    /// Keel: needs a connection that outlives one request (subscriptions, MONITOR, WATCH, SHUTDOWN), which
    /// a REST request is not.
    pub const NO_REST: Flags = 1 << 19;
    /// The flags `COMMAND INFO` shows, in Redis's order (`may_replicate` and Keel's own are not shown;
    /// `movablekeys` goes between `no_multi` and `allow_busy`).
    pub const NAMES: &[(Flags, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// ACL categories, named as `ACL CAT` lists them (without the `@`); bit `i` of a command's categories is
/// `CATEGORIES[i]`, and [`cat`] names each bit.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
    "json",
];

/// ACL categories as typed bits, in the order of [`CATEGORIES`].
pub mod cat {
    pub type Categories = u32;
    pub const NONE: Categories = 0;
    pub const KEYSPACE: Categories = 1 << 0;
    pub const READ: Categories = 1 << 1;
    pub const WRITE: Categories = 1 << 2;
    pub const SET: Categories = 1 << 3;
    pub const SORTEDSET: Categories = 1 << 4;
    pub const LIST: Categories = 1 << 5;
    pub const HASH: Categories = 1 << 6;
    pub const STRING: Categories = 1 << 7;
    pub const BITMAP: Categories = 1 << 8;
    pub const HYPERLOGLOG: Categories = 1 << 9;
    pub const GEO: Categories = 1 << 10;
    pub const STREAM: Categories = 1 << 11;
    pub const PUBSUB: Categories = 1 << 12;
    pub const ADMIN: Categories = 1 << 13;
    pub const FAST: Categories = 1 << 14;
    pub const SLOW: Categories = 1 << 15;
    pub const BLOCKING: Categories = 1 << 16;
    pub const DANGEROUS: Categories = 1 << 17;
    pub const CONNECTION: Categories = 1 << 18;
    pub const TRANSACTION: Categories = 1 << 19;
    pub const SCRIPTING: Categories = 1 << 20;
    pub const JSON: Categories = 1 << 21;
}

/// What a command does to one key (Redis 7's key-spec flags): RO, RW, OW, RM say how it touches the
/// value; ACCESS, UPDATE, INSERT, DELETE say what exactly (ACL's `%R~` needs ACCESS, `%W~` the other three).
pub mod key {
    pub type KeyFlags = u32;
    /// Reads the value without changing it.
    pub const RO: KeyFlags = 1 << 0;
    /// Reads and changes it.
    pub const RW: KeyFlags = 1 << 1;
    /// Overwrites it without reading it.
    pub const OW: KeyFlags = 1 << 2;
    /// Deletes the key.
    pub const RM: KeyFlags = 1 << 3;
    /// Returns, copies or uses what the value holds.
    pub const ACCESS: KeyFlags = 1 << 4;
    /// Updates the value in place or replaces it.
    pub const UPDATE: KeyFlags = 1 << 5;
    /// Adds to the value, never changing what it held.
    pub const INSERT: KeyFlags = 1 << 6;
    /// Removes from the value.
    pub const DELETE: KeyFlags = 1 << 7;
    /// Not a key, though it sits where keys do (shard channels).
    pub const NOT_KEY: KeyFlags = 1 << 8;
    /// The spec may not find every key: the command's own key finder has the last word.
    pub const INCOMPLETE: KeyFlags = 1 << 9;
    /// The flags depend on the arguments (SET's GET, BITFIELD's operations).
    pub const VARIABLE_FLAGS: KeyFlags = 1 << 10;
    pub const NAMES: &[(KeyFlags, &str)] = &[
        (RO, "RO"),
        (RW, "RW"),
        (OW, "OW"),
        (RM, "RM"),
        (ACCESS, "access"),
        (UPDATE, "update"),
        (INSERT, "insert"),
        (DELETE, "delete"),
        (NOT_KEY, "not_key"),
        (INCOMPLETE, "incomplete"),
        (VARIABLE_FLAGS, "variable_flags"),
    ];
}

/// Arguments that do not fit a key spec (or a spec only the command's own key finder can follow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotFitting;

/// Where a key spec's keys begin.
#[derive(Debug, Clone, Copy)]
pub enum Begin {
    /// At this argument.
    Index(i32),
    /// After this keyword, searched from the argument given (backwards from the end when negative).
    Keyword(&'static str, i32),
    /// Nowhere a spec can say: the command's key finder knows (SORT's BY, GET and STORE).
    Unknown,
}

/// How many keys follow where they begin.
#[derive(Debug, Clone, Copy)]
pub enum Find {
    /// Up to `last` (relative to the first key; negative counts from the end), every `step`th; with a
    /// `limit`, the keys are the first 1/limit of what remains (XREAD's STREAMS k1 k2 id1 id2).
    Range {
        last: i32,
        step: i32,
        limit: i32,
    },
    /// The argument at `index` (relative to where the keys begin) counts them; they start `first` after it.
    Keynum {
        index: i32,
        first: i32,
        step: i32,
    },
    Unknown,
}

/// One group of a command's keys, and what the command does to them.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub flags: key::KeyFlags,
    pub begin: Begin,
    pub find: Find,
    /// Why the flags are what they are, where that is not obvious (`COMMAND INFO` shows it).
    pub notes: Option<&'static str>,
}

impl KeySpec {
    /// One key at `index`.
    pub const fn at(index: i32, flags: key::KeyFlags) -> KeySpec {
        KeySpec { flags, begin: Begin::Index(index), find: Find::Range { last: 0, step: 1, limit: 0 }, notes: None }
    }

    /// Keys from `index` to `last` (negative: from the end), every `step`th.
    pub const fn range(index: i32, last: i32, step: i32, flags: key::KeyFlags) -> KeySpec {
        KeySpec { flags, begin: Begin::Index(index), find: Find::Range { last, step, limit: 0 }, notes: None }
    }

    /// Keys counted by the argument at `index + count_at`, starting `first` after it.
    pub const fn counted(index: i32, count_at: i32, first: i32, step: i32, flags: key::KeyFlags) -> KeySpec {
        KeySpec { flags, begin: Begin::Index(index), find: Find::Keynum { index: count_at, first, step }, notes: None }
    }

    /// Keys only the command's own key finder can locate.
    pub const fn unknown(flags: key::KeyFlags) -> KeySpec {
        KeySpec { flags, begin: Begin::Unknown, find: Find::Unknown, notes: None }
    }

    /// The spec with its notes.
    pub const fn noted(self, notes: &'static str) -> KeySpec {
        KeySpec { notes: Some(notes), ..self }
    }

    /// Where this spec's keys are in `args`, appended to `found` with the spec's flags; Err when the
    /// arguments do not fit the spec (Redis's `invalid_spec`: a syntax error the command reports itself).
    pub fn resolve(&self, args: &[&[u8]], found: &mut Vec<(usize, key::KeyFlags)>) -> Result<(), NotFitting> {
        let argc = args.len() as i64;
        let first = match self.begin {
            Begin::Index(index) => index as i64,
            Begin::Keyword(word, from) => {
                let (start, end) = if from > 0 { (from as i64, argc - 1) } else { (argc + from as i64, 0) };
                let mut i = start;
                let mut at = None;
                while i != end && i >= 1 && i < argc {
                    if args[i as usize].eq_ignore_ascii_case(word.as_bytes()) {
                        at = Some(i + 1);
                        break;
                    }
                    i += if start <= end { 1 } else { -1 };
                }
                // The keyword is optional: without it, no keys.
                let Some(first) = at else { return Ok(()) };
                first
            }
            // Only the command's own key finder knows.
            Begin::Unknown => return Err(NotFitting),
        };
        let (first, last, step) = match self.find {
            Find::Range { last, step, limit } => {
                let last = if last >= 0 {
                    first + last as i64
                } else if limit == 0 {
                    argc + last as i64
                } else {
                    first + (argc - first) / limit as i64 + last as i64
                };
                (first, last, step as i64)
            }
            Find::Keynum { index, first: after, step } => {
                let count_at = first + index as i64;
                let count = args.get(count_at as usize).and_then(|n| keel_store::number::parse_i64(n));
                let count = count.filter(|n| *n >= 0).ok_or(NotFitting)?;
                let first = first + after as i64;
                (first, first + count - 1, step as i64)
            }
            Find::Unknown => return Err(NotFitting),
        };
        if last >= argc || last < first || first >= argc {
            return Err(NotFitting);
        }
        let mut i = first;
        while i <= last {
            found.push((i as usize, self.flags));
            i += step.max(1);
        }
        Ok(())
    }
}

/// The channels a command publishes to or subscribes to, which ACL's channel permissions govern (Redis's
/// getChannelsFromCommand); unsubscribing and introspection need no permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    None,
    /// The first argument (PUBLISH, SPUBLISH).
    First,
    /// Every argument (SUBSCRIBE, SSUBSCRIBE).
    All,
    /// Every argument, each a pattern that must be granted as written (PSUBSCRIBE).
    AllPatterns,
}

/// A command's own key finder (Redis's getkeys_proc), for keys its specs cannot place or flags that depend
/// on the arguments.
pub type FindKeys = fn(&[&[u8]]) -> Vec<(usize, key::KeyFlags)>;

/// A command as declared in the table.
pub struct CommandSpec {
    pub name: &'static str,
    /// Redis's arity: exact argument count including the name, or `-n` for "at least n".
    pub arity: i32,
    pub flags: flags::Flags,
    /// ACL categories beyond those implied by the flags.
    pub categories: cat::Categories,
    /// Where the keys are and what the command does to them.
    pub keys: &'static [KeySpec],
    /// Finds the keys where the specs cannot say, or with flags that depend on the arguments.
    pub find_keys: Option<FindKeys>,
    pub channels: Channels,
    /// Hints for cluster clients and tools (`request_policy:all_shards`, `nondeterministic_output`...), as
    /// `COMMAND INFO` shows them.
    pub tips: &'static [&'static str],
    pub group: &'static str,
    pub summary: &'static str,
    /// None for containers (CLIENT, CONFIG...) that only run through their subcommands.
    pub handler: Option<Handler>,
    /// Serves the command without the database's lock while the dataset loads or a script is busy.
    pub unlocked: Option<super::unlocked::UnlockedHandler>,
    /// Which arguments are secrets (passwords, ACL rules): MONITOR and the slow log show them as
    /// `(redacted)`.
    pub secrets: Secrets,
    pub subcommands: &'static [CommandSpec],
}

/// Which of a command's arguments are secrets.
#[derive(Debug, Clone, Copy)]
pub enum Secrets {
    None,
    /// This argument and every one after it.
    From(usize),
    /// The arguments after each keyword (MIGRATE's `AUTH password`, `AUTH2 username password`).
    AfterKeywords(&'static [(&'static str, usize)]),
    /// CONFIG SET's values of credential parameters (`requirepass`, `masterauth`, `tls-key-file-pass`...).
    SensitiveConfigValues,
}

impl Secrets {
    /// Whether argument `at` of `args` is a secret.
    pub fn covers(self, args: &[&[u8]], at: usize) -> bool {
        match self {
            Secrets::None => false,
            Secrets::From(from) => at >= from,
            Secrets::AfterKeywords(keywords) => (1..=at).any(|back| {
                let keyword = args[at - back];
                keywords.iter().any(|(word, count)| back <= *count && keyword.eq_ignore_ascii_case(word.as_bytes()))
            }),
            // CONFIG SET name value name value ...: a value follows its parameter's name.
            Secrets::SensitiveConfigValues => {
                at >= 3
                    && at % 2 == 1
                    && std::str::from_utf8(args[at - 1])
                        .ok()
                        .and_then(crate::config::find_param)
                        .is_some_and(|param| param.scope.is_sensitive())
            }
        }
    }
}

impl CommandSpec {
    /// The spec with a function that finds its keys.
    pub const fn with_find_keys(self, find_keys: FindKeys) -> CommandSpec {
        CommandSpec { find_keys: Some(find_keys), ..self }
    }

    /// The spec with the handler that serves it without the lock (loading, busy).
    pub const fn with_unlocked(self, unlocked: super::unlocked::UnlockedHandler) -> CommandSpec {
        CommandSpec { unlocked: Some(unlocked), ..self }
    }

    /// The spec whose credential-setting values are secrets (CONFIG SET).
    pub const fn with_sensitive_config_values(self) -> CommandSpec {
        CommandSpec { secrets: Secrets::SensitiveConfigValues, ..self }
    }

    /// The spec with the argument its secrets begin at.
    pub const fn with_secrets_from(self, at: usize) -> CommandSpec {
        CommandSpec { secrets: Secrets::From(at), ..self }
    }

    /// The spec whose secrets follow keywords: each keyword with how many arguments after it are secret.
    pub const fn with_secrets_after(self, keywords: &'static [(&'static str, usize)]) -> CommandSpec {
        CommandSpec { secrets: Secrets::AfterKeywords(keywords), ..self }
    }

    /// The spec with its tips.
    pub const fn with_tips(self, tips: &'static [&'static str]) -> CommandSpec {
        CommandSpec { tips, ..self }
    }

    /// The spec with the channels it names.
    pub const fn with_channels(self, channels: Channels) -> CommandSpec {
        CommandSpec { channels, ..self }
    }
}
