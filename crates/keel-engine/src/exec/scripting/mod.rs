//! Lua scripting (Redis's eval.c, functions.c, script.c and script_lua.c): EVAL scripts cached by SHA-1,
//! FUNCTION libraries, and the run that both share. A script runs inside the tenant's critical section, so
//! it is atomic; its commands go through the normal command path (each is logged as itself, inside one
//! MULTI/EXEC block), and an instruction hook lets other clients see `BUSY` and SCRIPT KILL stop it.

mod api;
pub(crate) mod convert;
mod engine;
pub mod eval;
pub mod functions;
mod libs;
pub mod status;

pub use api::{sha1_hex, Sha1Hex};
pub use status::ScriptStatus;

use crate::exec::commands::{CmdError, CmdResult, Ctx};
use engine::{Engine, Outcome};
use mlua::{Function, Value};
use std::cell::RefCell;

/// Flags a script declares in its shebang (`#!lua flags=no-writes,...`) or a function in `flags={...}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// No shebang: Redis 6 semantics (writes allowed, no flag checks before the run).
    pub compat: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
}

impl ScriptFlags {
    /// Sets the flag named `name`; false for an unknown name. `allow-key-locking` (which the Upstash
    /// rate-limit library declares) is accepted and changes nothing: keys are always locked here.
    pub fn set(&mut self, name: &str) -> bool {
        match name {
            "no-writes" => self.no_writes = true,
            "allow-oom" => self.allow_oom = true,
            "allow-stale" => self.allow_stale = true,
            "no-cluster" => self.no_cluster = true,
            "allow-cross-slot-keys" => self.allow_cross_slot_keys = true,
            "allow-key-locking" => {}
            _ => return false,
        }
        true
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        for (on, name) in [
            (self.no_writes, "no-writes"),
            (self.allow_oom, "allow-oom"),
            (self.allow_stale, "allow-stale"),
            (self.no_cluster, "no-cluster"),
            (self.allow_cross_slot_keys, "allow-cross-slot-keys"),
        ] {
            if on {
                names.push(name);
            }
        }
        names
    }
}

/// A tenant's scripting state, behind its lock. Lua states are created on first use: most databases
/// never run a script.
#[derive(Default)]
pub struct Scripting {
    eval: Option<Engine>,
    pub scripts: eval::ScriptCache,
    pub functions: functions::Functions,
    /// Bytes of the Lua state a running script took out of here (it still counts toward maxmemory).
    running_memory: usize,
}

impl Scripting {
    /// Bytes the EVAL Lua state uses (`used_memory_lua`).
    pub fn eval_memory(&self) -> usize {
        self.eval.as_ref().map_or(0, Engine::used_memory)
    }

    /// Bytes every Lua state uses, the one a running script holds included.
    pub fn lua_memory(&self) -> usize {
        self.eval_memory() + self.functions.lua_memory() + self.running_memory
    }
}

fn engine_error(e: mlua::Error) -> CmdError {
    CmdError::new(format!("ERR Error running script: {e}"))
}

/// What a run executes: an EVAL script (KEYS/ARGV globals) or a function (keys and args as arguments).
pub struct Run<'r> {
    pub function: &'r Function,
    pub keys: &'r [&'r [u8]],
    pub args: &'r [&'r [u8]],
    pub read_only: bool,
    pub is_function: bool,
    /// The SHA-1 of an EVAL script, the name of a function: errors name it.
    pub name: &'r str,
    /// The EVAL/FCALL command line, for FUNCTION STATS.
    pub command: &'r [&'r [u8]],
    /// The script declared allow-oom: its writes are not refused when memory is full.
    pub allow_oom: bool,
}

/// Runs a script or function for the client in `ctx` and writes its reply.
fn run(ctx: &mut Ctx, engine: &mut Engine, run: Run) -> CmdResult {
    ctx.ks.scripting.running_memory = engine.used_memory();
    let (memory_limit, threshold) = {
        let settings = ctx.server.settings.read();
        (ctx.tenant.lua_memory_limit(&settings), settings.busy_reply_threshold)
    };
    let status = ctx.tenant.scripts.clone();
    status.begin(run.is_function, threshold, run.name, run.command);
    // Blocked clients are served once the script is done, and the log gets its effects as one block.
    ctx.ks.blocking.hold(true);
    let log_mark = ctx.ks.log.enabled.then(|| ctx.ks.log.begin_transaction());
    let call = RefCell::new(api::Call::new(ctx, run.read_only, &status));
    call.borrow_mut().allow_oom(run.allow_oom);
    // The cap, set again only when it changed, stays on between runs.
    engine.limit_memory(memory_limit);
    let outcome = {
        let _current = api::install(&call);
        engine.run(run.function, run.is_function, run.keys, run.args)
    };
    let call = call.into_inner();
    let resp = call.session.resp;
    call.finish();
    if let Some(mark) = log_mark {
        // A script stopped by SHUTDOWN NOSAVE leaves nothing in the log, as if the server had died first.
        if status.was_forced() {
            ctx.ks.log.discard_transaction(mark);
        } else {
            ctx.ks.log.end_transaction(mark);
        }
    }
    ctx.ks.blocking.hold(false);
    ctx.ks.scripting.running_memory = 0;
    status.end();
    match outcome.map_err(engine_error)? {
        // An error the script returns (redis.error_reply, or what redis.pcall caught) is the command's error,
        // counted as such unless a command the script called counted it already.
        Outcome::Returned(Value::Table(t)) if convert::error_text(&t).is_some() => {
            ctx.session.error_counted = convert::counted_already(&t);
            Err(CmdError::new(convert::error_text(&t).unwrap_or_default()))
        }
        Outcome::Returned(value) => {
            convert::lua_to_reply(&value, ctx.out, resp, 0);
            Ok(())
        }
        Outcome::Failed(table) => {
            ctx.session.error_counted = convert::counted_already(&table);
            Err(CmdError::new(convert::error_table_text(&table, Some(run.name))))
        }
    }
}
