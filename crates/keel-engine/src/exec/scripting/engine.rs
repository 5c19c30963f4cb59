//! One Lua 5.1 state with Keel's sandbox (`sandbox.lua`), the libraries scripts expect (`cjson`, `cmsgpack`,
//! `bit`, `struct`) and the `redis` table; it compiles chunks into the sandbox and runs them under Redis's
//! error handler. EVAL scripts and FUNCTION libraries each get an engine, as in Redis.

use super::libs;
use super::status::{ScriptStatus, KILLED};
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};
use std::cell::Cell;
use std::sync::Arc;

/// How often (in VM instructions) a running script checks for SCRIPT KILL and the busy threshold.
const HOOK_EVERY: u32 = 100_000;

/// Runs (or compiled scripts) between two pieces of garbage collection, and the basic collector steps each
/// piece takes at most: one after runs, whose garbage (KEYS, ARGV, replies) is small; more after compiles,
/// which leave each loaded chunk behind (see [`Engine::run`] and [`Engine::note_compiled`]).
const GC_PERIOD: u32 = 50;
const GC_STEPS_AFTER_RUNS: usize = 1;
const GC_STEPS_AFTER_COMPILES: usize = 64;

/// Counts one more in `counter`; every [`GC_PERIOD`]th takes up to `steps` basic collector steps, ending
/// early with a cycle: rather than letting the collector's full cycles land on one script.
fn collect_now_and_then(lua: &Lua, counter: &mut u32, steps: usize) {
    *counter += 1;
    if *counter < GC_PERIOD {
        return;
    }
    *counter = 0;
    for _ in 0..steps {
        if lua.gc_step().unwrap_or(true) {
            break;
        }
    }
}

pub struct Engine {
    pub lua: Lua,
    env: Table,
    /// `run_script`, and what it runs scripts with: Redis's error handler and the table whose KEYS and ARGV
    /// scripts read.
    runner: Function,
    err_handler: Function,
    runtime_api: Table,
    use_api: Function,
    /// Functions bound to the running command (redis.call, setresp, set_repl, acl_check_cmd), present only during a run.
    pub bridge: Table,
    /// The `redis` table FUNCTION LOAD's code sees (register_function, log).
    pub load_redis: Table,
    runs: u32,
    compiled: u32,
    /// The cap on what the state may allocate (0: none), as last set.
    memory_limit: usize,
}

/// A finished run: the value the script returned, or Redis's error table (`err`, `source`, `line`).
pub enum Outcome {
    Returned(Value),
    Failed(Table),
}

/// The registry key of the table holding the functions bound to the running command.
const BRIDGE: &str = "keel_bridge";

/// A Redis error reply raised in a script (by `redis.call`): the handler turns it back into `{err = ...}`.
#[derive(Debug)]
pub struct RedisError(pub String);

impl std::fmt::Display for RedisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedisError {}

/// The Redis error inside an `mlua` error, if it carries one.
fn redis_error(error: &mlua::Error) -> Option<&RedisError> {
    match error {
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => redis_error(cause),
        mlua::Error::ExternalError(e) => e.downcast_ref::<RedisError>(),
        _ => None,
    }
}

/// The text of an error raised by Rust code (an `mlua` error).
fn error_text(error: &mlua::Error) -> String {
    if let Some(RedisError(text)) = redis_error(error) {
        return text.clone();
    }
    match error {
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        mlua::Error::RuntimeError(message) => message.clone(),
        mlua::Error::WithContext { cause, .. } => error_text(cause),
        mlua::Error::BadArgument { pos, name, cause, .. } => {
            let name = name.as_deref().unwrap_or("?");
            format!("bad argument #{pos} to '{name}' ({})", error_text(cause))
        }
        other => other.to_string(),
    }
}

fn redis_log(_lua: &Lua, args: mlua::Variadic<Value>) -> mlua::Result<()> {
    let mut parts = args.into_iter();
    let level = match parts.next() {
        Some(Value::Integer(n)) => n,
        Some(Value::Number(n)) => n as i64,
        _ => return Err(mlua::Error::RuntimeError("First argument must be a number (log level).".into())),
    };
    if !(0..=3).contains(&level) {
        return Err(mlua::Error::RuntimeError("Invalid debug level.".into()));
    }
    let text: Vec<String> = parts
        .filter_map(|v| match v {
            Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
            Value::Integer(n) => Some(n.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    let text = text.join(" ");
    match level {
        0 => tracing::debug!(target: "script", "{text}"),
        1 | 2 => tracing::info!(target: "script", "{text}"),
        _ => tracing::warn!(target: "script", "{text}"),
    }
    Ok(())
}

/// `redis.call` and `redis.pcall` are C functions rather than mlua callbacks, as in Redis: a call can carry
/// thousands of arguments (more than mlua's callback stack takes), `redis.call` must raise Redis's error
/// *table* so that the error handler reports the caller's line, and a call is the hot path of most scripts.
/// The arguments are read straight from the stack and the reply pushed straight from the command's RESP
/// bytes (`api::call_from_stack`, `convert::push_reply`).
///
/// No Rust value needing a destructor is alive while Lua may raise (the command runs and its borrow of the
/// run ends inside `call_from_stack`), so Lua's longjmp on error may cross this frame.
unsafe fn bridge_call(state: *mut mlua::lua_State, raise: bool) -> std::os::raw::c_int {
    let n = mlua::ffi::lua_gettop(state);
    let reply = super::api::call_from_stack(state, n);
    // The arguments are done with; dropping them leaves room for the reply (Lua 5.1 caps a C function's
    // stack at 8,000 slots, and a call may take nearly that many arguments).
    mlua::ffi::lua_settop(state, 0);
    // SAFETY: the reply's bytes stay as they are until the run's next call (see `CallReply`).
    let failed = super::convert::push_reply(state, &*reply.bytes, reply.resp, reply.counted);
    if raise && failed {
        mlua::ffi::lua_error(state);
    }
    1
}

/// Items of a run's keys or arguments, with their lifetime erased (see [`RunArgs`]).
type ErasedItems = *const [&'static [u8]];

thread_local! {
    /// The keys and arguments of the run in progress on this thread, for `run_script`; set only while a
    /// [`RunArgs`] lives.
    static RUN_ARGS: Cell<Option<(ErasedItems, ErasedItems)>> = const { Cell::new(None) };
}

/// Sets a run's keys and arguments aside for `run_script` until dropped.
struct RunArgs;

impl RunArgs {
    fn set(keys: &[&[u8]], args: &[&[u8]]) -> RunArgs {
        // The lifetimes are erased here; the guard clears the pointers before the slices can go.
        let erase = |items: &[&[u8]]| items as *const [&[u8]] as ErasedItems;
        RUN_ARGS.set(Some((erase(keys), erase(args))));
        RunArgs
    }
}

impl Drop for RunArgs {
    fn drop(&mut self) {
        RUN_ARGS.set(None);
    }
}

/// Runs a script, called as `run_script(f, is_function, err_handler, runtime_api)`: a script with its keys
/// and arguments as the globals KEYS and ARGV (set in `runtime_api`), a function with them as its two
/// arguments; under `err_handler`, as Redis's `luaCallFunction` does. Returns whether it ran without error
/// and its first result (or the handler's error table). A C function created once: a Lua wrapper that
/// built the arrays and called `xpcall` put three more calls around every run.
unsafe extern "C-unwind" fn run_script(state: *mut mlua::lua_State) -> std::os::raw::c_int {
    use mlua::ffi;
    const SCRIPT: std::os::raw::c_int = 1;
    const IS_FUNCTION: std::os::raw::c_int = 2;
    const HANDLER: std::os::raw::c_int = 3;
    const API: std::os::raw::c_int = 4;
    ffi::lua_settop(state, API);
    let (keys, args): (&[&[u8]], &[&[u8]]) = match RUN_ARGS.get() {
        // SAFETY: `RunArgs` keeps these set only while the slices they point to live.
        Some((keys, args)) => (&*keys, &*args),
        None => (&[], &[]),
    };
    let nargs = if ffi::lua_toboolean(state, IS_FUNCTION) != 0 {
        ffi::lua_pushvalue(state, SCRIPT);
        push_arrays(state, keys, args);
        2
    } else {
        push_arrays(state, keys, args);
        ffi::lua_setfield(state, API, c"ARGV".as_ptr());
        ffi::lua_setfield(state, API, c"KEYS".as_ptr());
        ffi::lua_pushvalue(state, SCRIPT);
        0
    };
    let status = ffi::lua_pcall(state, nargs, 1, HANDLER);
    ffi::lua_pushboolean(state, (status == 0) as std::os::raw::c_int);
    ffi::lua_insert(state, -2);
    2
}

/// Pushes two arrays of Lua strings, `keys` then `args`, built straight on the stack: an mlua table and
/// string per item cost about a tenth of a short script's run. Needs three free stack slots.
unsafe fn push_arrays(state: *mut mlua::lua_State, keys: &[&[u8]], args: &[&[u8]]) {
    use mlua::ffi;
    for items in [keys, args] {
        ffi::lua_createtable(state, items.len().try_into().unwrap_or(0), 0);
        for (i, item) in items.iter().enumerate() {
            ffi::lua_pushlstring(state, item.as_ptr().cast(), item.len());
            ffi::lua_rawseti(state, -2, (i + 1) as ffi::lua_Integer);
        }
    }
}

unsafe extern "C-unwind" fn redis_call(state: *mut mlua::lua_State) -> std::os::raw::c_int {
    bridge_call(state, true)
}

unsafe extern "C-unwind" fn redis_pcall(state: *mut mlua::lua_State) -> std::os::raw::c_int {
    bridge_call(state, false)
}

/// A `redis.*` function that runs the bridge function `name` of the current run. Bridge functions return
/// `ok, value`; with `raise`, a failure is raised as a Redis error (redis.call), else returned (redis.pcall).
fn bridged(lua: &Lua, name: &'static str, raise: bool, outside: &'static str) -> mlua::Result<Function> {
    lua.create_function(move |lua, args: mlua::MultiValue| {
        let bridge: Table = lua.named_registry_value(BRIDGE)?;
        let Some(f) = bridge.raw_get::<Option<Function>>(name)? else {
            return Err(mlua::Error::external(RedisError(format!("ERR {outside}"))));
        };
        let (ok, value): (bool, Value) = f.call(args)?;
        if !ok && raise {
            let text = match &value {
                Value::Table(t) => t.raw_get::<Option<String>>("err")?.unwrap_or_default(),
                _ => String::new(),
            };
            return Err(mlua::Error::external(RedisError(text)));
        }
        Ok(value)
    })
}

/// Fills the parts of the `redis` table that need no running command.
fn fill_redis_table(lua: &Lua, redis: &Table) -> mlua::Result<()> {
    redis.set(
        "log",
        lua.create_function(|lua, args: mlua::Variadic<Value>| {
            if args.len() < 2 {
                return Err(mlua::Error::RuntimeError("redis.log() requires two arguments or more.".into()));
            }
            redis_log(lua, args)
        })?,
    )?;
    for (name, level) in [("LOG_DEBUG", 0), ("LOG_VERBOSE", 1), ("LOG_NOTICE", 2), ("LOG_WARNING", 3)] {
        redis.set(name, level)?;
    }
    let version = crate::exec::commands::REDIS_VERSION;
    let number = version.split('.').filter_map(|p| p.parse::<i64>().ok()).fold(0, |acc, p| (acc << 8) | p);
    redis.set("REDIS_VERSION", version)?;
    redis.set("REDIS_VERSION_NUM", number)?;
    Ok(())
}

impl Engine {
    pub fn new(status: Arc<ScriptStatus>) -> mlua::Result<Engine> {
        // DEBUG is loaded for the error handler only: the sandbox keeps it from scripts.
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
        // SAFETY: `unsafe_new_with` only permits loading the debug library, which scripts never reach.
        let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::new()) };
        let globals = lua.globals();
        globals.set("cjson", libs::cjson::open(&lua)?)?;
        globals.set("cmsgpack", libs::cmsgpack::open(&lua)?)?;
        globals.set("bit", libs::bit::open(&lua)?)?;
        globals.set("struct", libs::structlib::open(&lua)?)?;
        // Redis 7's `os` holds `clock` alone. Here it is the seconds since this database's Lua state began,
        // not the process's CPU time, which would tell a script how busy the other databases keep the server.
        let os = lua.create_table()?;
        let started = std::time::Instant::now();
        os.set("clock", lua.create_function(move |_, ()| Ok(started.elapsed().as_secs_f64()))?)?;
        globals.set("os", os)?;

        let redis = lua.create_table()?;
        fill_redis_table(&lua, &redis)?;
        super::api::fill_static(&lua, &redis)?;
        let load_redis = lua.create_table()?;
        fill_redis_table(&lua, &load_redis)?;
        let bridge = lua.create_table()?;

        // What an error raised by Rust is, for the sandbox: its text and "redis", "kill" or "plain".
        let error_text_fn = lua.create_function(|_, value: Value| {
            Ok(match value {
                Value::Error(error) => {
                    let text = error_text(&error);
                    let kind = if redis_error(&error).is_some() {
                        "redis"
                    } else if text == KILLED {
                        "kill"
                    } else {
                        "plain"
                    };
                    (text, kind)
                }
                other => (format!("{other:?}"), "plain"),
            })
        })?;
        lua.set_named_registry_value(BRIDGE, bridge.clone())?;
        // SAFETY: both functions only use the Lua C API on the stack Lua hands them (see `bridge_call`).
        redis.set("call", unsafe { lua.create_c_function(redis_call)? })?;
        redis.set("pcall", unsafe { lua.create_c_function(redis_pcall)? })?;
        super::api::fill_run_functions(&lua, &redis)?;
        let outside = "redis.register_function can only be called on FUNCTION LOAD command";
        load_redis.set("register_function", bridged(&lua, "register", true, outside)?)?;
        let sandbox: Table = lua.load(include_str!("sandbox.lua")).set_name("@keel_sandbox").call((
            globals,
            error_text_fn,
            redis,
            load_redis.clone(),
        ))?;

        let hook_status = status;
        lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), move |_lua, _debug| {
            if let Some(error) = hook_status.check() {
                return Err(mlua::Error::RuntimeError(error.into()));
            }
            Ok(VmState::Continue)
        })?;

        Ok(Engine {
            env: sandbox.get("env")?,
            // SAFETY: `run_script` only uses the Lua C API on the stack Lua hands it (see `push_arrays`).
            runner: unsafe { lua.create_c_function(run_script)? },
            err_handler: sandbox.get("err_handler")?,
            runtime_api: sandbox.get("runtime_api")?,
            use_api: sandbox.get("use_api")?,
            bridge,
            load_redis,
            lua,
            runs: 0,
            compiled: 0,
            memory_limit: 0,
        })
    }

    /// Compiles `code` into the sandbox; the error is Lua's message.
    pub fn compile(&self, code: &[u8], chunk_name: &str) -> Result<Function, String> {
        let compiled = || {
            let chunk = self.lua.load(code).set_name(chunk_name).set_mode(mlua::chunk::ChunkMode::Text);
            chunk.set_environment(self.env.clone()).into_function()
        };
        let outcome = compiled().or_else(|e| match e {
            mlua::Error::MemoryError(_) => {
                self.recover_memory();
                compiled()
            }
            other => Err(other),
        });
        outcome.map_err(|e| match e {
            mlua::Error::SyntaxError { message, .. } => message,
            other => error_text(&other),
        })
    }

    /// Keeps `function` in the Lua registry for as long as the key lives. A cache holds keys, never
    /// `Function` handles: each handle takes a slot of the state's reference stack, which Lua 5.1 caps at
    /// 8,000, so a cache of handles refused new scripts after about 8,000 of them.
    pub fn keep(&self, function: Function) -> mlua::Result<mlua::RegistryKey> {
        self.lua.create_registry_value(function)
    }

    /// The function kept under `key`, for one run.
    pub fn kept(&self, key: &mlua::RegistryKey) -> mlua::Result<Function> {
        self.lua.registry_value(key)
    }

    /// Switches the sandbox between the API FUNCTION LOAD's code sees and the one scripts run with.
    pub fn use_load_api(&self, load: bool) -> mlua::Result<()> {
        self.use_api.call(if load { "load" } else { "runtime" })
    }

    /// Counts a script or library compiled (SCRIPT LOAD, EVAL of a new script, FUNCTION LOAD): every 50th
    /// collects some garbage, as Redis's luaGC does after loads, so that 50,000 loaded functions take no more
    /// memory than in Redis.
    pub fn note_compiled(&mut self) {
        collect_now_and_then(&self.lua, &mut self.compiled, GC_STEPS_AFTER_COMPILES);
    }

    /// Runs `f` (with `keys` and `args` as its arguments for functions) under Redis's error handler.
    pub fn run(&mut self, f: &Function, is_function: bool, keys: &[&[u8]], args: &[&[u8]]) -> mlua::Result<Outcome> {
        let outcome: mlua::Result<(bool, Value)> = {
            let _args = RunArgs::set(keys, args);
            self.runner.call((f, is_function, &self.err_handler, &self.runtime_api))
        };
        if !matches!(outcome, Ok((true, _))) {
            self.recover_memory();
        }
        let (ok, value) = outcome?;
        // A collector step every 50 runs, as Redis does.
        collect_now_and_then(&self.lua, &mut self.runs, GC_STEPS_AFTER_RUNS);
        match (ok, value) {
            (true, value) => Ok(Outcome::Returned(value)),
            (false, Value::Table(t)) => Ok(Outcome::Failed(t)),
            (false, other) => {
                // What the error handler could not turn into an error table (it ran out of memory itself).
                let text = match &other {
                    Value::String(s) => s.to_string_lossy(),
                    other => format!("{other:?}"),
                };
                let t = self.lua.create_table()?;
                t.set("err", format!("ERR Error running script: {text}"))?;
                Ok(Outcome::Failed(t))
            }
        }
    }

    /// Caps what the Lua state may allocate (0: no cap); an allocation past it fails with Lua's "not enough
    /// memory", which ends the script.
    pub fn limit_memory(&mut self, bytes: usize) {
        if bytes == self.memory_limit {
            return;
        }
        match self.lua.set_memory_limit(bytes) {
            Ok(_) => self.memory_limit = bytes,
            Err(e) => tracing::warn!("cannot limit a Lua state's memory: {e}"),
        }
    }

    /// After a run or a compile that failed, collects all garbage if the state is near its cap: Lua 5.1
    /// does not collect when an allocation fails, so the garbage of a script that ran out of memory (a
    /// half-built table, a reply it could not hold) would otherwise make every later script fail too.
    fn recover_memory(&self) {
        if self.memory_limit != 0 && self.lua.used_memory() > self.memory_limit / 2 {
            let _ = self.lua.gc_collect();
        }
    }

    /// Bytes of memory the Lua state uses.
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }
}
