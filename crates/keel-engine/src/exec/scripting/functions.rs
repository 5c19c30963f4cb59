//! Redis 7 functions (functions.c, function_lua.c): libraries of named Lua functions loaded with
//! FUNCTION LOAD, called with FCALL, listed, deleted, dumped and restored. Libraries run in their own Lua
//! state; while a library's code loads it sees `redis.register_function` instead of `redis.call`.

use super::api::error_table;
use super::engine::{Engine, Outcome};
use super::eval::{check_flags, engine_in, split_keys};
use super::{engine_error, run, Run, ScriptFlags};
use crate::exec::commands::{CmdError, CmdResult, Ctx};
use mlua::{Lua, MultiValue, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::collections::HashMap;

pub struct FunctionInfo {
    pub description: Option<String>,
    pub flags: ScriptFlags,
    /// In the Lua registry, not a `Function` handle (see `Engine::keep`).
    callback: mlua::RegistryKey,
}

pub struct Library {
    pub code: Vec<u8>,
    pub functions: BTreeMap<String, FunctionInfo>,
}

#[derive(Default)]
pub struct Functions {
    engine: Option<Engine>,
    pub libraries: BTreeMap<String, Library>,
    /// Function name (lowercase: FCALL ignores case) to the library that has it.
    owners: HashMap<String, String>,
}

impl Functions {
    /// Whether function `name` declared `no-writes` (None when there is no such function).
    pub fn declares_no_writes(&self, name: &str) -> Option<bool> {
        let library = self.libraries.get(self.owners.get(&name.to_ascii_lowercase())?)?;
        library.functions.iter().find(|(f, _)| f.eq_ignore_ascii_case(name)).map(|(_, f)| f.flags.no_writes)
    }

    pub fn lua_memory(&self) -> usize {
        self.engine.as_ref().map_or(0, Engine::used_memory)
    }

    pub fn function_count(&self) -> usize {
        self.owners.len()
    }

    /// Library sources in name order (FUNCTION DUMP, snapshots).
    pub fn codes(&self) -> Vec<Vec<u8>> {
        self.libraries.values().map(|l| l.code.clone()).collect()
    }

    fn unlink(&mut self, name: &str) -> Option<Library> {
        let library = self.libraries.remove(name)?;
        for function in library.functions.keys() {
            self.owners.remove(&function.to_ascii_lowercase());
        }
        Some(library)
    }

    fn link(&mut self, name: String, library: Library) {
        for function in library.functions.keys() {
            self.owners.insert(function.to_ascii_lowercase(), name.clone());
        }
        self.libraries.insert(name, library);
    }

    /// Forgets every library and the Lua state; returns them, for the caller to free.
    pub fn flush(&mut self) -> Functions {
        std::mem::take(self)
    }
}

/// Names of libraries and functions: letters, digits and underscores.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

const BAD_NAME: &str =
    "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// The library name of a `#!lua name=...` first line and where the code after it starts.
fn metadata(code: &[u8]) -> Result<(String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let end = memchr::memchr(b'\n', code).ok_or("Invalid library metadata")?;
    let line = String::from_utf8_lossy(&code[..end]);
    let parts = super::eval::split_words(&line).filter(|p| !p.is_empty()).ok_or("Invalid library metadata")?;
    let engine = parts[0].trim_start_matches("#!");
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case("name=") {
            if name.is_some() {
                return Err("Invalid metadata value, name argument was given multiple times".into());
            }
            name = Some(part[5..].to_string());
            continue;
        }
        return Err(format!("Invalid metadata value given: {part}"));
    }
    let name = name.ok_or("Library name was not given")?;
    if !valid_name(&name) {
        return Err(BAD_NAME.into());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("Engine '{engine}' not found"));
    }
    Ok((name, end))
}

/// What `redis.register_function` collects while a library loads.
#[derive(Default)]
struct Registration {
    functions: BTreeMap<String, FunctionInfo>,
}

impl Registration {
    fn register(&mut self, lua: &Lua, args: MultiValue) -> mlua::Result<(bool, Value)> {
        let fail = |text: &str| -> mlua::Result<(bool, Value)> { Ok((false, Value::Table(error_table(lua, text)?))) };
        let args: Vec<Value> = args.into_iter().collect();
        let (name, callback, description, flags) = match args.as_slice() {
            [Value::Table(named)] => {
                let mut name = None;
                let mut callback = None;
                let mut description = None;
                let mut flags = ScriptFlags::default();
                for pair in named.pairs::<Value, Value>() {
                    let (key, value) = pair?;
                    let Value::String(key) = key else {
                        return fail("named argument key given to redis.register_function is not a string");
                    };
                    match key.to_string_lossy().to_ascii_lowercase().as_str() {
                        "function_name" => match value {
                            Value::String(s) => name = Some(s.to_string_lossy()),
                            _ => {
                                return fail("function_name argument given to redis.register_function must be a string")
                            }
                        },
                        "description" => match value {
                            Value::String(s) => description = Some(s.to_string_lossy()),
                            _ => return fail("description argument given to redis.register_function must be a string"),
                        },
                        "callback" => match value {
                            Value::Function(f) => callback = Some(f),
                            _ => return fail("callback argument given to redis.register_function must be a function"),
                        },
                        "flags" => {
                            let Value::Table(list) = value else {
                                return fail(
                                    "flags argument to redis.register_function must be a table representing function flags",
                                );
                            };
                            for flag in list.sequence_values::<Value>() {
                                let known = match flag? {
                                    Value::String(s) => flags.set(&s.to_string_lossy()),
                                    _ => false,
                                };
                                if !known {
                                    return fail("unknown flag given");
                                }
                            }
                        }
                        _ => return fail("unknown argument given to redis.register_function"),
                    }
                }
                let Some(name) = name else {
                    return fail("redis.register_function must get a function name argument");
                };
                let Some(callback) = callback else {
                    return fail("redis.register_function must get a callback argument");
                };
                (name, callback, description, flags)
            }
            [first, second] => {
                let Value::String(name) = first else {
                    return fail("first argument to redis.register_function must be a string");
                };
                let Value::Function(callback) = second else {
                    return fail("second argument to redis.register_function must be a function");
                };
                (name.to_string_lossy(), callback.clone(), None, ScriptFlags::default())
            }
            [_] => {
                return fail(
                    "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).",
                )
            }
            _ => return fail("wrong number of arguments to redis.register_function"),
        };
        if !valid_name(&name) {
            return fail(BAD_NAME);
        }
        if self.functions.contains_key(&name) {
            return fail("Function already exists in the library");
        }
        let callback = lua.create_registry_value(callback)?;
        self.functions.insert(name, FunctionInfo { description, flags, callback });
        Ok((true, Value::Nil))
    }
}

/// Loads (or with `replace`, replaces) a library; its name on success.
/// `memory_limit` caps what the library's code may allocate while it runs to register (0: no cap).
pub fn load(
    functions: &mut Functions,
    status: &std::sync::Arc<super::ScriptStatus>,
    code: &[u8],
    replace: bool,
    memory_limit: usize,
) -> Result<String, CmdError> {
    let err = |text: String| CmdError::new(format!("ERR {text}"));
    let (name, body_at) = metadata(code).map_err(err)?;
    if functions.libraries.contains_key(&name) && !replace {
        return Err(err(format!("Library '{name}' already exists")));
    }
    let engine = engine_in(&mut functions.engine, status)?;
    let chunk = engine
        .compile(&code[body_at..], "@user_function")
        .map_err(|e| err(format!("Error compiling function: {e}")))?;
    let registration = RefCell::new(Registration::default());
    let bridge = engine.bridge.clone();
    engine.use_load_api(true).map_err(engine_error)?;
    status.begin_load();
    let lua = engine.lua.clone();
    let outcome = lua.scope(|scope| {
        let collect = scope.create_function(|lua, args: MultiValue| registration.borrow_mut().register(lua, args))?;
        bridge.raw_set("register", collect)?;
        engine.limit_memory(memory_limit);
        let outcome = engine.run(&chunk, false, &[], &[]);
        engine.limit_memory(0);
        bridge.raw_set("register", Value::Nil)?;
        outcome
    });
    status.end();
    engine.note_compiled();
    engine.use_load_api(false).map_err(engine_error)?;
    if let Outcome::Failed(t) = outcome.map_err(engine_error)? {
        let message: Option<mlua::LuaString> = t.raw_get("err").ok();
        let message = message.map_or_else(String::new, |m| m.to_string_lossy());
        return Err(err(format!("Error registering functions: {message}")));
    }
    let registered = registration.into_inner().functions;
    if registered.is_empty() {
        return Err(err("No functions registered".into()));
    }
    for function in registered.keys() {
        if functions.owners.get(&function.to_ascii_lowercase()).is_some_and(|owner| *owner != name) {
            return Err(err(format!("Function {function} already exists")));
        }
    }
    functions.unlink(&name);
    functions.link(name.clone(), Library { code: code.to_vec(), functions: registered });
    Ok(name)
}

const BAD_KEY_COUNT: CmdError = CmdError(std::borrow::Cow::Borrowed("ERR Bad number of keys provided"));

/// The function FCALL names (case-insensitively, as Redis finds it).
fn find_function<'f>(functions: &'f Functions, name: &str) -> Option<&'f FunctionInfo> {
    let library = functions.libraries.get(functions.owners.get(&name.to_ascii_lowercase())?)?;
    library.functions.iter().find(|(f, _)| f.eq_ignore_ascii_case(name)).map(|(_, f)| f)
}

/// FCALL and FCALL_RO.
pub fn fcall(ctx: &mut Ctx, args: &[&[u8]], read_only_command: bool) -> CmdResult {
    let name = String::from_utf8_lossy(args[1]).into_owned();
    let Some(flags) = find_function(&ctx.ks.scripting.functions, &name).map(|f| f.flags) else {
        return Err(CmdError::new("ERR Function not found"));
    };
    let (keys, argv) = split_keys(args, BAD_KEY_COUNT)?;
    check_flags(ctx, flags, read_only_command)?;
    let Some(mut engine) = ctx.ks.scripting.functions.engine.take() else {
        return Err(CmdError::new("ERR Function not found"));
    };
    let kept = find_function(&ctx.ks.scripting.functions, &name).map(|f| engine.kept(&f.callback));
    let callback = match kept {
        Some(Ok(callback)) => callback,
        failed => {
            ctx.ks.scripting.functions.engine = Some(engine);
            return Err(match failed {
                Some(Err(e)) => super::engine_error(e),
                _ => CmdError::new("ERR Function not found"),
            });
        }
    };
    let read_only = read_only_command || flags.no_writes;
    let result = run(
        ctx,
        &mut engine,
        Run {
            function: &callback,
            keys,
            args: argv,
            read_only,
            is_function: true,
            name: &name,
            command: args,
            allow_oom: flags.allow_oom,
        },
    );
    ctx.ks.scripting.functions.engine = Some(engine);
    result
}

/// FUNCTION DELETE.
pub fn delete(ctx: &mut Ctx, name: &[u8]) -> CmdResult {
    let name = String::from_utf8_lossy(name);
    match ctx.ks.scripting.functions.unlink(&name) {
        Some(_) => Ok(()),
        None => Err(CmdError::new("ERR Library not found")),
    }
}

/// How FUNCTION RESTORE treats libraries already loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    Append,
    Replace,
    Flush,
}

/// Loads every library of a FUNCTION DUMP payload, all or nothing.
pub fn restore(ctx: &mut Ctx, codes: Vec<Vec<u8>>, policy: RestorePolicy) -> CmdResult {
    let status = ctx.tenant.scripts.clone();
    let limit = ctx.tenant.lua_memory_limit(&ctx.server.settings.read());
    let saved = std::mem::take(&mut ctx.ks.scripting.functions);
    let (engine, libraries, owners) = (saved.engine, saved.libraries, saved.owners);
    // Load into an empty set of libraries, then merge: a failure leaves the old ones untouched.
    let mut loaded = Functions { engine, ..Functions::default() };
    let mut result = Ok(());
    for code in &codes {
        if let Err(e) = load(&mut loaded, &status, code, false, limit) {
            result = Err(e);
            break;
        }
    }
    let mut merged = Functions { engine: loaded.engine, libraries, owners };
    if let Err(e) = result {
        ctx.ks.scripting.functions = merged;
        return Err(e);
    }
    if policy == RestorePolicy::Flush {
        merged.libraries.clear();
        merged.owners.clear();
    }
    for (name, library) in &loaded.libraries {
        if policy == RestorePolicy::Append && merged.libraries.contains_key(name) {
            ctx.ks.scripting.functions = merged;
            return Err(CmdError::new(format!("ERR Library {name} already exists")));
        }
        for function in library.functions.keys() {
            // A function may move between libraries only when REPLACE drops the library that had it.
            let clash = merged.owners.get(&function.to_ascii_lowercase()).is_some_and(|owner| {
                owner != name && !(policy == RestorePolicy::Replace && loaded.libraries.contains_key(owner))
            });
            if clash {
                ctx.ks.scripting.functions = merged;
                return Err(CmdError::new(format!("ERR Function {function} already exists")));
            }
        }
    }
    for (name, library) in loaded.libraries {
        merged.unlink(&name);
        merged.link(name, library);
    }
    ctx.ks.scripting.functions = merged;
    Ok(())
}
