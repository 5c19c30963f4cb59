//! The `redis` table's functions (script_lua.c): the ones that need no running command, and the bridge
//! through which `redis.call`/`redis.pcall` run commands for the script on Keel's normal command path, so
//! that each command is checked, counted, logged and notified like any other.

use super::status::ScriptStatus;
use crate::exec::commands::{flags, Ctx, Lookup};
use crate::exec::dispatch::{execute, BatchClock, BatchSettings, Env};
use crate::exec::session::{Action, Session};
use keel_protocol::{ReplyWriter, Resp};
use mlua::{ffi, Lua, MultiValue, Table, Value};
use std::cell::RefCell;
use std::os::raw::c_int;

/// Redis's error table `{err = "CODE message"}` (luaPushErrorBuff): `-CODE message` keeps its code, plain
/// text gets `ERR`.
pub fn error_table(lua: &Lua, text: &str) -> mlua::Result<Table> {
    let full = match text.strip_prefix('-') {
        Some(coded) if coded.contains(' ') => coded.to_string(),
        Some(bare) => format!("ERR {bare}"),
        None => format!("ERR {text}"),
    };
    let t = lua.create_table()?;
    t.raw_set("err", full.trim_end_matches(['\r', '\n']))?;
    Ok(t)
}

/// The mark on an error table whose error was counted in the error statistics when the command that raised
/// it failed (Redis's `ignore_error_stats_update`): the script's error that comes of it is not counted again.
pub const COUNTED: &str = "ignore_error_stats_update";
pub const COUNTED_KEY: &std::ffi::CStr = c"ignore_error_stats_update";

pub fn sha1_hex(data: &[u8]) -> String {
    Sha1Hex::of(data).as_str().to_string()
}

/// A SHA-1 as Redis names scripts, 40 lowercase hex digits, kept on the stack: EVAL hashes its script on
/// every call, and formatting the digest through `Display` cost more than hashing a short script.
#[derive(Clone, Copy)]
pub struct Sha1Hex([u8; 40]);

impl Sha1Hex {
    pub fn of(data: &[u8]) -> Sha1Hex {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 40];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(sha1_smol::Sha1::from(data).digest().bytes()) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0xf)];
        }
        Sha1Hex(hex)
    }

    pub fn as_str(&self) -> &str {
        // Hex digits only: always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// `redis.sha1hex`, `redis.error_reply`, `redis.status_reply`, the debugger stubs and the `REPL_*` flags.
pub fn fill_static(lua: &Lua, redis: &Table) -> mlua::Result<()> {
    redis.set(
        "sha1hex",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return Err(mlua::Error::RuntimeError("wrong number of arguments".into()));
            }
            let data = match lua.coerce_string(args.into_iter().next().unwrap_or(Value::Nil))? {
                Some(s) => s.as_bytes().to_vec(),
                None => Vec::new(),
            };
            Ok(sha1_hex(&data))
        })?,
    )?;
    redis.set(
        "error_reply",
        lua.create_function(|lua, args: MultiValue| {
            let text = match args.iter().next() {
                Some(Value::String(s)) if args.len() == 1 => s.to_string_lossy(),
                _ => return error_table(lua, "wrong number or type of arguments"),
            };
            let text = if text.starts_with('-') { text } else { format!("-{text}") };
            error_table(lua, &text)
        })?,
    )?;
    redis.set(
        "status_reply",
        lua.create_function(|lua, args: MultiValue| {
            let t = match args.iter().next() {
                Some(Value::String(s)) if args.len() == 1 => {
                    let t = lua.create_table()?;
                    t.raw_set("ok", s.clone())?;
                    t
                }
                _ => error_table(lua, "wrong number or type of arguments")?,
            };
            Ok(t)
        })?,
    )?;
    redis.set("breakpoint", lua.create_function(|_, ()| Ok(false))?)?;
    redis.set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    redis.set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
    for (name, value) in [("REPL_NONE", 0), ("REPL_AOF", 1), ("REPL_SLAVE", 2), ("REPL_REPLICA", 2), ("REPL_ALL", 3)] {
        redis.set(name, value)?;
    }
    Ok(())
}

/// A Lua number passed to redis.call reads as Redis 7.2+ writes it: an integer when it is one, else the
/// shortest digits that read back as it (`0.1`, not `0.10000000000000001`); negative zero is `0`.
fn number_arg(n: f64) -> keel_protocol::DoubleText {
    keel_protocol::format_double(if n == 0.0 { 0.0 } else { n })
}

/// A script's run: the caller's context and the state of the script's own client.
pub struct Call<'a, 'c> {
    pub ctx: &'a mut Ctx<'c>,
    /// The script's client: the caller's database at the start, RESP2 until `redis.setresp(3)`.
    pub session: Session,
    pub read_only: bool,
    pub status: &'a ScriptStatus,
    clock: BatchClock,
    settings: BatchSettings,
    out: ReplyWriter,
    /// The arguments of the command a `redis.call` runs, borrowed for that call only (see [`Call::gather`]).
    argv: Vec<&'static [u8]>,
    /// The text of the numbers among them, and where each is in `argv` and ends in `numbers`.
    numbers: Vec<u8>,
    number_ends: Vec<(usize, usize)>,
}

/// What a `redis.call` leaves for the bridge to push: the reply's RESP bytes, in the script's protocol, and
/// whether an error reply there was counted already. The bytes are the run's reply buffer (or a constant),
/// untouched until the run's next call.
#[derive(Clone, Copy)]
pub struct CallReply {
    pub bytes: *const [u8],
    pub resp: Resp,
    pub counted: bool,
}

const OUTSIDE_A_RUN: &[u8] = b"-ERR redis.call/pcall can only be called inside a script invocation\r\n";

/// Runs the command that the arguments of the C function `redis.call`/`redis.pcall` name, for the run in
/// progress on this thread.
///
/// # Safety
/// `state` is inside that C function, with its `n` arguments on the stack.
pub unsafe fn call_from_stack(state: *mut ffi::lua_State, n: c_int) -> CallReply {
    let error = |text: &'static [u8]| CallReply { bytes: text, resp: Resp::V2, counted: false };
    // A panic must not unwind through Lua's C frames (the Lua state would be left mid-call): it becomes the
    // call's error, as mlua makes of a panic in a callback.
    let run = std::panic::AssertUnwindSafe(|| with_current(|call| call.command_from_stack(state, n)));
    match std::panic::catch_unwind(run) {
        Ok(Some(reply)) => reply,
        Ok(None) => error(OUTSIDE_A_RUN),
        Err(_) => error(b"-ERR the command failed inside the server\r\n"),
    }
}

impl<'a, 'c> Call<'a, 'c> {
    /// Lets the script's writes through while memory is full (its `allow-oom` flag).
    pub fn allow_oom(&mut self, allow: bool) {
        self.session.allow_oom = allow;
    }

    pub fn new(ctx: &'a mut Ctx<'c>, read_only: bool, status: &'a ScriptStatus) -> Call<'a, 'c> {
        let mut session = Session::new(ctx.session.info.clone(), true);
        session.db = ctx.session.db;
        session.in_script = true;
        // The script runs with its caller's ACL user: what the caller may not do, its script may not either.
        session.acl_user = ctx.session.acl_user.clone();
        let clock = BatchClock::starting_at(ctx.now_ms());
        let settings = *ctx.settings;
        let out = ReplyWriter::new(Resp::V2);
        Call {
            ctx,
            session,
            read_only,
            status,
            clock,
            settings,
            out,
            argv: Vec::new(),
            numbers: Vec::new(),
            number_ends: Vec::new(),
        }
    }

    /// Runs the command a `redis.call` names by the Lua values at stack slots `1..=n`; its reply (or the
    /// refusal) is left in the run's writer, which the returned [`CallReply`] points into.
    ///
    /// # Safety
    /// `state` is inside the C function `redis.call`/`redis.pcall`, with its `n` arguments on the stack.
    unsafe fn command_from_stack(&mut self, state: *mut ffi::lua_State, n: c_int) -> CallReply {
        self.out.clear();
        self.out.set_resp(self.session.resp);
        let counted = match self.gather(state, n) {
            Ok(()) => {
                self.command();
                true
            }
            Err(text) => {
                self.out.error(text);
                false
            }
        };
        self.argv.clear();
        CallReply { bytes: self.out.as_bytes(), resp: self.session.resp, counted }
    }

    /// Borrows the arguments from the Lua stack into `argv` (numbers formatted as Redis formats them).
    ///
    /// # Safety
    /// As [`Call::command_from_stack`]; `argv` must be cleared before that C function returns.
    unsafe fn gather(&mut self, state: *mut ffi::lua_State, n: c_int) -> Result<(), &'static str> {
        if n <= 0 {
            return Err("ERR Please specify at least one argument for this redis lib call");
        }
        self.numbers.clear();
        self.number_ends.clear();
        for i in 1..=n {
            let arg: &'static [u8] = match ffi::lua_type(state, i) {
                ffi::LUA_TSTRING => {
                    let mut len = 0;
                    let pointer = ffi::lua_tolstring(state, i, &mut len).cast::<u8>();
                    // SAFETY: the string lives on the Lua stack until the C function returns, and `argv` is
                    // cleared before that.
                    std::slice::from_raw_parts(pointer, len)
                }
                ffi::LUA_TNUMBER => {
                    // Its text goes into `numbers`; its place in `argv` is filled in below, once `numbers`
                    // no longer grows.
                    self.numbers.extend_from_slice(number_arg(ffi::lua_tonumber(state, i)).as_bytes());
                    self.number_ends.push((self.argv.len(), self.numbers.len()));
                    &[]
                }
                _ => return Err("ERR Lua redis lib command arguments must be strings or integers"),
            };
            self.argv.push(arg);
        }
        let mut start = 0;
        for (at, end) in self.number_ends.drain(..) {
            // SAFETY: `numbers` is not changed again until `argv` is cleared.
            self.argv[at] = std::slice::from_raw_parts(self.numbers.as_ptr().add(start), end - start);
            start = end;
        }
        Ok(())
    }

    /// Runs the command in `argv` on the script's client, or writes why it may not run.
    fn command(&mut self) {
        let server = self.ctx.server;
        // Refused here, a command counts as refused and its error is counted now, as Redis's scriptCall
        // does; the script's own error reply, if it comes of it, is not counted again.
        let refuse = |call: &mut Self, command, text: &str| {
            let text = format!("ERR {text}");
            crate::exec::dispatch::count_rejection(call.ctx.ks, command, &text);
            call.out.error(&text);
        };
        let command = match server.commands.lookup(&self.argv) {
            Lookup::Found(command) => command,
            _ => return refuse(self, None, "Unknown Redis command called from script"),
        };
        let arity = command.spec.arity;
        if (arity > 0 && self.argv.len() as i32 != arity) || (self.argv.len() as i32) < -arity {
            return refuse(self, Some(command), "Wrong number of args calling Redis command from script");
        }
        if command.has(flags::NOSCRIPT) {
            return refuse(self, Some(command), "This Redis command is not allowed from script");
        }
        if self.read_only && command.has(flags::WRITE | flags::MAY_REPLICATE) {
            return refuse(self, Some(command), "Write commands are not allowed from read-only scripts.");
        }
        if command.has(flags::WRITE) {
            self.status.note_write();
        }
        let env = Env { server, tenant: self.ctx.tenant, settings: self.settings };
        execute(&env, &mut self.clock, self.ctx.ks, &mut self.session, &mut self.out, &self.argv);
        // A blocking command never blocks in a script: it answers as if it timed out.
        if let Some(Action::Block(_)) = self.session.action.take() {
            self.out.null_array();
        }
    }

    fn set_resp(&mut self, lua: &Lua, args: MultiValue) -> mlua::Result<(bool, Value)> {
        if args.len() != 1 {
            return Ok((false, Value::Table(error_table(lua, "redis.setresp() requires one argument.")?)));
        }
        let version = lua.coerce_number(args.into_iter().next().unwrap_or(Value::Nil))?;
        match version.map(|v| v as i64) {
            Some(2) => self.session.resp = Resp::V2,
            Some(3) => self.session.resp = Resp::V3,
            _ => return Ok((false, Value::Table(error_table(lua, "RESP version must be 2 or 3.")?))),
        }
        Ok((true, Value::Nil))
    }

    /// redis.acl_check_cmd: whether the script's user may run this command with these arguments.
    fn acl_check(&mut self, lua: &Lua, args: MultiValue) -> mlua::Result<(bool, Value)> {
        let fail = |text: &str| -> mlua::Result<(bool, Value)> { Ok((false, Value::Table(error_table(lua, text)?))) };
        let mut owned: Vec<Vec<u8>> = Vec::with_capacity(args.len());
        for arg in args {
            match arg {
                Value::String(s) => owned.push(s.as_bytes().to_vec()),
                Value::Integer(n) => owned.push(number_arg(n as f64).as_bytes().to_vec()),
                Value::Number(n) => owned.push(number_arg(n).as_bytes().to_vec()),
                _ => return fail("Lua redis lib command arguments must be strings or integers"),
            }
        }
        if owned.is_empty() {
            return fail("Please specify at least one argument for this redis lib call");
        }
        let argv: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let Lookup::Found(command) = self.ctx.server.commands.lookup(&argv) else {
            return fail("Invalid command passed to redis.acl_check_cmd()");
        };
        let user = self.session.acl_user.as_deref().unwrap_or("default");
        let allowed = self.ctx.tenant.acl.read().users.get(user).is_some_and(|u| u.check(command, &argv).is_ok());
        Ok((true, Value::Boolean(allowed)))
    }

    /// Puts the caller's database back where the script's SELECTs left the shared client record, and
    /// tells the caller whether the script read anything (for client-side caching).
    pub fn finish(mut self) {
        self.ctx.session.select(self.ctx.session.db);
        self.ctx.session.script_reads = std::mem::take(&mut self.session.script_reads);
    }
}

fn set_repl(lua: &Lua, args: MultiValue) -> mlua::Result<(bool, Value)> {
    if args.len() != 1 {
        return Ok((false, Value::Table(error_table(lua, "redis.set_repl() requires two arguments.")?)));
    }
    let flags = lua.coerce_number(args.into_iter().next().unwrap_or(Value::Nil))?.unwrap_or(-1.0) as i64;
    if !(0..=3).contains(&flags) {
        let text = "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.";
        return Ok((false, Value::Table(error_table(lua, text)?)));
    }
    // Keel has no replicas and its log must hold every effect: the flags are accepted and change nothing.
    Ok((true, Value::Nil))
}

thread_local! {
    /// The run in progress on this thread, for the `redis.*` functions that act on it: a pointer to its
    /// `RefCell<Call>`, set only while a [`CallGuard`] lives (a script runs to its end on the thread that
    /// started it). One persistent function serves every run, where creating scoped callbacks per run cost
    /// about a tenth of a short script's time; a thread-local, not the Lua state's app data, so that a run
    /// allocates nothing to publish it and a `redis.call` finds it without a map lookup.
    static CURRENT: std::cell::Cell<*const ()> = const { std::cell::Cell::new(std::ptr::null()) };
}

/// Makes a run current until dropped, then restores whatever was current before.
pub struct CallGuard {
    previous: *const (),
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        CURRENT.set(self.previous);
    }
}

pub fn install(call: &RefCell<Call<'_, '_>>) -> CallGuard {
    let previous = CURRENT.replace(call as *const RefCell<Call<'_, '_>> as *const ());
    CallGuard { previous }
}

/// Runs `f` on the current run's `Call`; None outside a run (or from a nested call, which cannot happen:
/// scripts cannot run scripts).
fn with_current<R>(f: impl FnOnce(&mut Call) -> R) -> Option<R> {
    let pointer = CURRENT.get();
    if pointer.is_null() {
        return None;
    }
    // SAFETY: `install` stored a pointer to a `RefCell<Call>` that outlives its guard, and the guard removes
    // it before that `RefCell` goes away; the lifetimes erased here are those of that run.
    let call = unsafe { &*(pointer as *const RefCell<Call<'static, 'static>>) };
    let mut call = call.try_borrow_mut().ok()?;
    Some(f(&mut call))
}

/// A Redis error raised in the script (what `redis.call` raises), from an error table.
fn raise(value: Value) -> mlua::Error {
    let text = match &value {
        Value::Table(t) => t.raw_get::<Option<String>>("err").ok().flatten().unwrap_or_default(),
        _ => String::new(),
    };
    mlua::Error::external(super::engine::RedisError(text))
}

/// The mlua functions that act on the current run: `redis.setresp`, `redis.set_repl` and
/// `redis.acl_check_cmd` (`redis.call`/`pcall` are C functions, see `engine::bridge_call`).
pub fn fill_run_functions(lua: &Lua, redis: &Table) -> mlua::Result<()> {
    redis.set(
        "setresp",
        lua.create_function(|lua, args: MultiValue| {
            let outcome = with_current(|call| call.set_resp(lua, args)).unwrap_or_else(|| {
                let text = "redis.setresp can only be called inside a script invocation";
                Ok((false, Value::Table(error_table(lua, text)?)))
            })?;
            match outcome {
                (true, _) => Ok(()),
                (false, error) => Err(raise(error)),
            }
        })?,
    )?;
    redis.set(
        "acl_check_cmd",
        lua.create_function(|lua, args: MultiValue| {
            let outcome = with_current(|call| call.acl_check(lua, args)).unwrap_or_else(|| {
                let text = "redis.acl_check_cmd can only be called inside a script invocation";
                Ok((false, Value::Table(error_table(lua, text)?)))
            })?;
            match outcome {
                (true, allowed) => Ok(allowed),
                (false, error) => Err(raise(error)),
            }
        })?,
    )?;
    redis.set(
        "set_repl",
        lua.create_function(|lua, args: MultiValue| {
            if with_current(|_| ()).is_none() {
                let text = "redis.set_repl can only be called inside a script invocation";
                return Err(raise(Value::Table(error_table(lua, text)?)));
            }
            match set_repl(lua, args)? {
                (true, _) => Ok(()),
                (false, error) => Err(raise(error)),
            }
        })?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Sha1Hex;

    #[test]
    fn script_names_are_lowercase_hex_sha1s() {
        assert_eq!(Sha1Hex::of(b"").as_str(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(Sha1Hex::of(b"abc").as_str(), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(super::sha1_hex(b"return 1"), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    }
}
