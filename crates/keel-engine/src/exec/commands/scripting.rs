//! Scripting commands (Redis's eval.c and functions.c command halves): EVAL and EVALSHA with their _RO
//! forms, SCRIPT, FCALL, FCALL_RO and FUNCTION. What they run lives in `crate::exec::scripting`.

use super::introspection::help_reply;
use super::unlocked::Unlocked;
use super::{is, CmdError, CmdResult, Ctx};
use crate::exec::scripting::eval;
use crate::exec::scripting::functions::{self, RestorePolicy};
use crate::exec::scripting::status::KillRefused;

const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";

/// Monitors see EVAL before the commands its script runs (Redis feeds them explicitly, before the run).
fn feed_monitors(ctx: &mut Ctx, args: &[&[u8]]) {
    if !ctx.ks.monitors.is_empty() {
        let limit = ctx.settings.monitor_queue_limit;
        crate::exec::dispatch::feed_monitors(ctx.ks, ctx.session, args, limit);
    }
}

pub fn eval(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    feed_monitors(ctx, args);
    eval::eval(ctx, args, false, false)
}

pub fn evalsha(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    feed_monitors(ctx, args);
    eval::eval(ctx, args, true, false)
}

pub fn eval_ro(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    feed_monitors(ctx, args);
    eval::eval(ctx, args, false, true)
}

pub fn evalsha_ro(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    feed_monitors(ctx, args);
    eval::eval(ctx, args, true, true)
}

pub fn script_load(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let sha = eval::load(ctx, args[2])?;
    ctx.out.bulk(sha.as_str().as_bytes());
    Ok(())
}

pub fn script_exists(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ctx.out.array(args.len() - 2);
    for sha in &args[2..] {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        let exists = ctx.ks.scripting.scripts.contains(&sha);
        ctx.out.int(exists as i64);
    }
    Ok(())
}

pub fn script_flush(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let Some(in_background) = flush_mode(ctx, &args[2..]) else {
        return Err(CmdError::new("ERR SCRIPT FLUSH only support SYNC|ASYNC option"));
    };
    eval::flush(ctx, in_background);
    ctx.out.ok();
    Ok(())
}

/// SCRIPT FLUSH's and FUNCTION FLUSH's `[SYNC|ASYNC]`: whether to free in the background (no mode:
/// `lazyfree-lazy-user-flush`); None when the mode is neither.
fn flush_mode(ctx: &Ctx, mode: &[&[u8]]) -> Option<bool> {
    match mode {
        [] => Some(ctx.server.settings.read().lazyfree_lazy_user_flush),
        [mode] if is(mode, "async") => Some(true),
        [mode] if is(mode, "sync") => Some(false),
        _ => None,
    }
}

/// SCRIPT KILL and FUNCTION KILL with the lock: no script holds the database.
pub fn script_kill(_ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    Err(CmdError::new(NOTBUSY))
}

const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";

/// SCRIPT KILL (`function` false) or FUNCTION KILL of the caller's own database's script, served without
/// the lock the script holds.
fn kill(u: &mut Unlocked, function: bool) -> CmdResult {
    match u.tenant.scripts.request_kill(function) {
        Ok(()) => {
            u.out.ok();
            Ok(())
        }
        Err(KillRefused::NotBusy) => Err(CmdError::new(NOTBUSY)),
        Err(KillRefused::Wrote) => Err(CmdError::new(UNKILLABLE)),
        Err(KillRefused::WrongKind(busy)) => Err(CmdError::new(busy)),
    }
}

pub fn script_kill_unlocked(u: &mut Unlocked, _args: &[&[u8]]) -> CmdResult {
    kill(u, false)
}

pub fn function_kill_unlocked(u: &mut Unlocked, _args: &[&[u8]]) -> CmdResult {
    kill(u, true)
}

/// FUNCTION STATS while a function runs: its name, command line and duration (the library counts sit
/// behind the lock it holds).
pub fn function_stats_unlocked(u: &mut Unlocked, _args: &[&[u8]]) -> CmdResult {
    let out = &mut *u.out;
    out.map(2);
    out.bulk(b"running_script");
    match u.tenant.scripts.running() {
        Some((name, command, ms)) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"command");
            out.array(command.len());
            for arg in &command {
                out.bulk(arg);
            }
            out.bulk(b"duration_ms");
            out.int(ms as i64);
        }
        None => out.null(),
    }
    out.bulk(b"engines");
    out.map(0);
    Ok(())
}

pub fn script_debug(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if is(args[2], "no") {
        ctx.out.ok();
        return Ok(());
    }
    if is(args[2], "yes") || is(args[2], "sync") {
        return Err(CmdError::new("ERR Keel does not include the Lua debugger (SCRIPT DEBUG)"));
    }
    Err(CmdError::new("ERR Use SCRIPT DEBUG YES/SYNC/NO"))
}

pub fn script_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
    Ok(())
}

pub fn fcall(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    feed_monitors(ctx, args);
    functions::fcall(ctx, args, false)
}

pub fn fcall_ro(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    feed_monitors(ctx, args);
    functions::fcall(ctx, args, true)
}

pub fn function_load(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let Some((code, options)) = args[2..].split_last() else {
        return Err(CmdError::new("ERR Function code is missing"));
    };
    let mut replace = false;
    for option in options {
        if !is(option, "replace") {
            return Err(CmdError::new(format!("ERR Unknown option given: {}", String::from_utf8_lossy(option))));
        }
        replace = true;
    }
    let status = ctx.tenant.scripts.clone();
    let limit = ctx.tenant.lua_memory_limit(&ctx.server.settings.read());
    let name = functions::load(&mut ctx.ks.scripting.functions, &status, code, replace, limit)?;
    ctx.dirty(1);
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

pub fn function_delete(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    functions::delete(ctx, args[2])?;
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

/// Redis's reply when a FUNCTION subcommand gets more arguments than it takes.
fn subcommand_syntax(args: &[&[u8]]) -> CmdError {
    CmdError::new(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        String::from_utf8_lossy(args[1])
    ))
}

pub fn function_flush(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() > 3 {
        return Err(subcommand_syntax(args));
    }
    let Some(in_background) = flush_mode(ctx, &args[2..]) else {
        return Err(CmdError::new("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"));
    };
    let old = ctx.ks.scripting.functions.flush();
    if in_background {
        // Redis counts each function and the engine.
        let count = old.function_count();
        crate::lazyfree::free_scripting(old, count, count as u64 + 1, &ctx.tenant.lazyfree);
    }
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

pub fn function_list(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        if is(args[i], "withcode") && !with_code {
            with_code = true;
        } else if is(args[i], "libraryname") && pattern.is_none() {
            i += 1;
            pattern = Some(*args.get(i).ok_or_else(|| CmdError::new("ERR library name argument was not given"))?);
        } else {
            return Err(CmdError::new(format!("ERR Unknown argument {}", String::from_utf8_lossy(args[i]))));
        }
        i += 1;
    }
    let libraries: Vec<_> = ctx
        .ks
        .scripting
        .functions
        .libraries
        .iter()
        .filter(|(name, _)| pattern.is_none_or(|p| keel_store::glob::matches(p, name.as_bytes(), false)))
        .collect();
    let out = &mut *ctx.out;
    out.array(libraries.len());
    for (name, library) in libraries {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(library.functions.len());
        for (fname, f) in &library.functions {
            out.map(3);
            out.bulk(b"name");
            out.bulk(fname.as_bytes());
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d.as_bytes()),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names = f.flags.names();
            out.set(names.len());
            for flag in names {
                out.bulk(flag.as_bytes());
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&library.code);
        }
    }
    Ok(())
}

pub fn function_dump(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let codes = ctx.ks.scripting.functions.codes();
    let payload = keel_persist::dump::dump_functions(codes.iter().map(Vec::as_slice));
    ctx.out.bulk(&payload);
    Ok(())
}

pub fn function_restore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let policy = match &args[3..] {
        [] => RestorePolicy::Append,
        [p] if is(p, "append") => RestorePolicy::Append,
        [p] if is(p, "replace") => RestorePolicy::Replace,
        [p] if is(p, "flush") => RestorePolicy::Flush,
        [_] => {
            return Err(CmdError::new(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ))
        }
        _ => return Err(subcommand_syntax(args)),
    };
    use keel_persist::dump::FunctionsRestoreError as E;
    let codes = keel_persist::dump::restore_functions(args[2], 512 * 1024 * 1024).map_err(|e| {
        CmdError::new(match e {
            E::VersionOrChecksum => "ERR DUMP payload version or checksum are wrong",
            E::NotAFunction => "ERR given type is not a function",
            E::BadFormat => "ERR failed loading the given functions payload",
        })
    })?;
    functions::restore(ctx, codes, policy)?;
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

/// FUNCTION STATS: no function runs while this command holds the database.
pub fn function_stats(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let functions = &ctx.ks.scripting.functions;
    let (libraries, count) = (functions.libraries.len(), functions.function_count());
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"running_script");
    out.null();
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libraries as i64);
    out.bulk(b"functions_count");
    out.int(count as i64);
    Ok(())
}

pub fn function_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
    Ok(())
}
