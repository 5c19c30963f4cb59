//! COMMAND and its subcommands, generated from the one command table, and the shared HELP reply format.

use super::{is, key, Begin, CmdError, CmdResult, Command, CommandTable, Ctx, Find, KeySpec, Lookup, SYNTAX};
use keel_protocol::ReplyWriter;
use keel_store::glob;

/// Redis's `addReplyHelp`: a title line, the given lines, and the HELP line.
pub fn help_reply(ctx: &mut Ctx, command: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    for line in lines {
        ctx.out.simple(line);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Print this help.");
}

fn write_info(out: &mut ReplyWriter, table: &CommandTable, cmd: &Command) {
    let (first, last, step) = cmd.legacy_range;
    out.array(10);
    out.bulk(cmd.fullname.as_bytes());
    out.int(cmd.spec.arity as i64);
    let flags = cmd.flag_names();
    out.set(flags.len());
    flags.iter().for_each(|f| out.simple(f));
    out.int(first as i64);
    out.int(last as i64);
    out.int(step as i64);
    let cats: Vec<_> = cmd.category_names().collect();
    out.set(cats.len());
    cats.iter().for_each(|c| out.simple(&format!("@{c}")));
    out.set(cmd.spec.tips.len());
    cmd.spec.tips.iter().for_each(|t| out.bulk(t.as_bytes()));
    write_key_specs(out, cmd.spec.keys);
    out.array(cmd.subcommands.len());
    for &sub in &cmd.subcommands {
        write_info(out, table, table.get(sub));
    }
}

/// The key specs as `COMMAND INFO` shows them (Redis's addReplyCommandKeySpecs).
fn write_key_specs(out: &mut ReplyWriter, specs: &[KeySpec]) {
    out.set(specs.len());
    for spec in specs {
        out.map(3 + spec.notes.is_some() as usize);
        if let Some(notes) = spec.notes {
            out.bulk(b"notes");
            out.bulk(notes.as_bytes());
        }
        out.bulk(b"flags");
        let flags: Vec<&str> = key::NAMES.iter().filter(|(bit, _)| spec.flags & bit != 0).map(|(_, n)| *n).collect();
        out.set(flags.len());
        flags.iter().for_each(|f| out.simple(f));
        out.bulk(b"begin_search");
        out.map(2);
        out.bulk(b"type");
        match spec.begin {
            Begin::Index(index) => {
                out.bulk(b"index");
                out.bulk(b"spec");
                out.map(1);
                out.bulk(b"index");
                out.int(index as i64);
            }
            Begin::Keyword(word, from) => {
                out.bulk(b"keyword");
                out.bulk(b"spec");
                out.map(2);
                out.bulk(b"keyword");
                out.bulk(word.as_bytes());
                out.bulk(b"startfrom");
                out.int(from as i64);
            }
            Begin::Unknown => {
                out.bulk(b"unknown");
                out.bulk(b"spec");
                out.map(0);
            }
        }
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        let fields: &[(&str, i32)] = match spec.find {
            Find::Range { last, step, limit } => {
                out.bulk(b"range");
                &[("lastkey", last), ("keystep", step), ("limit", limit)]
            }
            Find::Keynum { index, first, step } => {
                out.bulk(b"keynum");
                &[("keynumidx", index), ("firstkey", first), ("keystep", step)]
            }
            Find::Unknown => {
                out.bulk(b"unknown");
                &[]
            }
        };
        out.bulk(b"spec");
        out.map(fields.len());
        for (name, value) in fields {
            out.bulk(name.as_bytes());
            out.int(*value as i64);
        }
    }
}

pub fn command(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let table = &ctx.server.commands;
    ctx.out.array(table.top_level().count());
    for cmd in table.top_level() {
        write_info(ctx.out, table, cmd);
    }
    Ok(())
}

pub fn command_count(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.server.commands.top_level().count() as i64);
    Ok(())
}

/// A command named `name` or `container|sub`.
pub(super) fn find_by_fullname<'t>(table: &'t CommandTable, name: &[u8]) -> Option<&'t Command> {
    let mut parts = name.splitn(2, |&b| b == b'|');
    let top = table.find(parts.next()?)?;
    match parts.next() {
        None => Some(top),
        Some(sub) => {
            top.subcommands.iter().map(|&id| table.get(id)).find(|c| c.spec.name.as_bytes().eq_ignore_ascii_case(sub))
        }
    }
}

pub fn command_info(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let table = &ctx.server.commands;
    if args.len() == 2 {
        return command(ctx, args);
    }
    ctx.out.array(args.len() - 2);
    for name in &args[2..] {
        match find_by_fullname(table, name) {
            Some(cmd) => write_info(ctx.out, table, cmd),
            None => ctx.out.null_array(),
        }
    }
    Ok(())
}

pub fn command_list(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let table = &ctx.server.commands;
    let filter: Box<dyn Fn(&Command) -> bool> = match args.len() {
        2 => Box::new(|_| true),
        5 if is(args[2], "filterby") => {
            let (kind, value) = (args[3], args[4]);
            if is(kind, "module") {
                Box::new(|_| false)
            } else if is(kind, "aclcat") {
                let cat = String::from_utf8_lossy(value).to_ascii_lowercase();
                Box::new(move |c: &Command| c.category_names().any(|n| n == cat))
            } else if is(kind, "pattern") {
                let pattern = value.to_vec();
                Box::new(move |c: &Command| glob::matches(&pattern, c.fullname.as_bytes(), true))
            } else {
                return Err(SYNTAX);
            }
        }
        _ => return Err(SYNTAX),
    };
    let names: Vec<&str> = table.all().filter(|c| filter(c)).map(|c| c.fullname.as_str()).collect();
    ctx.out.array(names.len());
    for name in names {
        ctx.out.bulk(name.as_bytes());
    }
    Ok(())
}

pub fn command_getkeys(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    getkeys(ctx, args, false)
}

pub fn command_getkeysandflags(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    getkeys(ctx, args, true)
}

/// COMMAND GETKEYS and GETKEYSANDFLAGS (Redis's getKeysSubcommandImpl, in its order of checks).
fn getkeys(ctx: &mut Ctx, args: &[&[u8]], with_flags: bool) -> CmdResult {
    let table = &ctx.server.commands;
    let target = &args[2..];
    let cmd = match table.lookup(target) {
        Lookup::Found(cmd) => cmd,
        _ => return Err(CmdError::new("ERR Invalid command specified")),
    };
    let has_keys = cmd.spec.find_keys.is_some() || cmd.spec.keys.iter().any(|s| s.flags & key::NOT_KEY == 0);
    if !has_keys {
        return Err(CmdError::new("ERR The command has no key arguments"));
    }
    let arity = cmd.spec.arity;
    if (arity > 0 && target.len() as i32 != arity) || (target.len() as i32) < -arity {
        return Err(CmdError::new("ERR Invalid number of arguments specified for command"));
    }
    let keys = cmd.keys(target);
    if keys.is_empty() && !cmd.has(super::flags::NO_MANDATORY_KEYS) {
        return Err(CmdError::new("ERR Invalid arguments specified for command"));
    }
    ctx.out.array(keys.len());
    for (at, flags) in keys {
        if with_flags {
            ctx.out.array(2);
            ctx.out.bulk(target[at]);
            let names: Vec<&str> = key::NAMES.iter().filter(|(bit, _)| flags & bit != 0).map(|(_, n)| *n).collect();
            ctx.out.set(names.len());
            names.iter().for_each(|n| ctx.out.simple(n));
        } else {
            ctx.out.bulk(target[at]);
        }
    }
    Ok(())
}

pub fn command_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    Ok(())
}

pub fn config_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}

pub fn object_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Ok(())
}

pub fn memory_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}

pub fn memory_doctor(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.out.verbatim(
        "txt",
        b"Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.",
    );
    Ok(())
}

pub fn memory_purge(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.out.ok();
    Ok(())
}

pub fn memory_stats(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let (used, startup) = (ctx.ks.used_memory() as i64, ctx.ks.startup_memory() as i64);
    let keys: usize = ctx.ks.dbs.iter().map(|db| db.len()).sum();
    ctx.out.map(5);
    ctx.out.bulk(b"total.allocated");
    ctx.out.int(used);
    ctx.out.bulk(b"startup.allocated");
    ctx.out.int(startup);
    ctx.out.bulk(b"dataset.bytes");
    ctx.out.int(used - startup);
    ctx.out.bulk(b"keys.count");
    ctx.out.int(keys as i64);
    ctx.out.bulk(b"keys.bytes-per-key");
    ctx.out.int(if keys > 0 { (used - startup) / keys as i64 } else { 0 });
    Ok(())
}

/// `MEMORY MALLOC-STATS`: what Redis answers for an allocator other than jemalloc (Keel's is mimalloc).
pub fn memory_malloc_stats(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.out.verbatim("txt", b"Stats not supported for the current allocator");
    Ok(())
}

/// `LOLWUT [VERSION v]`: the version line Redis 7 draws for versions without art of their own.
pub fn lolwut(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    // The version is checked; what follows is the art's options, which the version line ignores.
    if args.len() >= 3 && is(args[1], "version") {
        super::int_arg(args[2]).map_err(|_| CmdError::new("ERR value is not an integer or out of range"))?;
    }
    let text = format!("Redis ver. {}\n", super::connection::REDIS_VERSION);
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// `MODULE LIST`: Keel loads no modules (JSON is built in).
pub fn module_list(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.out.array(0);
    Ok(())
}

/// `MODULE LOAD|LOADEX|UNLOAD`: refused as Redis refuses them under its default `enable-module-command no`
/// (Keel loads no modules at all).
pub fn module_refused(_ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    Err(CmdError::new(
        "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
    ))
}

pub fn module_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "MODULE",
        &[
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library from <path>, while passing it module configurations and optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
        ],
    );
    Ok(())
}

/// Every `CLUSTER` subcommand, as Redis answers it with cluster mode off (a Keel cluster routes clients
/// itself: they never need the cluster protocol).
pub fn cluster_disabled(_ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    Err(CmdError::new("ERR This instance has cluster support disabled"))
}
