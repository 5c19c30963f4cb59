//! Redis's conversion rules between command replies and Lua values (script_lua.c): replies become Lua values
//! for `redis.call`, and what a script returns becomes the reply to EVAL/FCALL.

use keel_protocol::{Frame, ReplyWriter, Resp};
use mlua::{Lua, Table, Value};

/// Deeper than this, a returned value is answered with Redis's stack-limit error (recursive tables).
const MAX_REPLY_DEPTH: usize = 1000;

/// A reply (as parsed back from what the command wrote) as a Lua value; `resp` is the script's protocol.
pub fn frame_to_lua(lua: &Lua, frame: Frame, resp: Resp) -> mlua::Result<Value> {
    stacker::maybe_grow(RED_ZONE, STACK_GROWTH, || frame_value(lua, frame, resp))
}

fn frame_value(lua: &Lua, frame: Frame, resp: Resp) -> mlua::Result<Value> {
    let single = |key: &str, value: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(key, value)?;
        Ok(Value::Table(t))
    };
    Ok(match frame {
        Frame::Integer(n) => Value::Integer(n),
        Frame::Bulk(bytes) => Value::String(lua.create_string(&bytes)?),
        Frame::Simple(text) => single("ok", Value::String(lua.create_string(&text)?))?,
        Frame::Error(text) => single("err", Value::String(lua.create_string(&text)?))?,
        Frame::Null if resp == Resp::V2 => Value::Boolean(false),
        Frame::Null => Value::Nil,
        Frame::Array(items) | Frame::Push(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                t.raw_set(i + 1, frame_to_lua(lua, item, resp)?)?;
            }
            Value::Table(t)
        }
        Frame::Map(pairs) => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.raw_set(frame_to_lua(lua, k, resp)?, frame_to_lua(lua, v, resp)?)?;
            }
            single("map", Value::Table(map))?
        }
        Frame::Set(items) => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(frame_to_lua(lua, item, resp)?, true)?;
            }
            single("set", Value::Table(set))?
        }
        Frame::Double(text) => {
            let n = std::str::from_utf8(&text).ok().and_then(|t| keel_store::number::parse_f64(t.as_bytes()));
            single("double", Value::Number(n.unwrap_or(0.0)))?
        }
        Frame::Boolean(b) => Value::Boolean(b),
        Frame::BigNumber(text) => single("big_number", Value::String(lua.create_string(&text)?))?,
        Frame::Verbatim(format, text) => {
            let t = lua.create_table()?;
            t.raw_set("format", lua.create_string(&format)?)?;
            t.raw_set("string", lua.create_string(&text)?)?;
            single("verbatim_string", Value::Table(t))?
        }
    })
}

/// The error text of a Redis error table: `err`, plus `script: NAME, on SOURCE:LINE.` when the table says
/// where it was raised (Redis's luaCallFunction).
pub fn error_table_text(t: &Table, script_name: Option<&str>) -> String {
    let err: Option<mlua::LuaString> = t.raw_get("err").ok();
    let mut text = err.map_or_else(|| "ERR unknown error".to_string(), |e| e.to_string_lossy());
    let source: Option<mlua::LuaString> = t.raw_get("source").ok();
    let line: Option<Value> = t.raw_get("line").ok();
    if let (Some(name), Some(source), Some(line)) = (script_name, source, line) {
        let line = match line {
            Value::Integer(n) => n.to_string(),
            Value::Number(n) => (n as i64).to_string(),
            Value::String(s) => s.to_string_lossy(),
            _ => return text,
        };
        text = format!("{text} script: {name}, on {}:{line}.", source.to_string_lossy());
    }
    text
}

fn status_text(s: &mlua::LuaString) -> String {
    s.to_string_lossy().replace(['\r', '\n'], " ")
}

/// Writes what a script returned as the reply (Redis's luaReplyToRedisReply); `resp` is the script's protocol.
pub fn lua_to_reply(value: &Value, out: &mut ReplyWriter, resp: Resp, depth: usize) {
    // Nesting comes from the script: grow the stack instead of overflowing it.
    stacker::maybe_grow(RED_ZONE, STACK_GROWTH, || write_reply(value, out, resp, depth))
}

/// Stack that must remain before a recursive step, and how much to add when it does not.
pub const RED_ZONE: usize = 64 * 1024;
pub const STACK_GROWTH: usize = 1024 * 1024;

fn write_reply(value: &Value, out: &mut ReplyWriter, resp: Resp, depth: usize) {
    if depth > MAX_REPLY_DEPTH {
        out.error("ERR reached lua stack limit");
        return;
    }
    match value {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) if resp == Resp::V2 => {
            if *b {
                out.int(1)
            } else {
                out.null()
            }
        }
        Value::Boolean(b) => out.boolean(*b),
        Value::Integer(n) => out.int(*n),
        Value::Number(n) => out.int(if n.is_nan() { 0 } else { *n as i64 }),
        Value::Table(t) => table_to_reply(t, out, resp, depth),
        _ => out.null(),
    }
}

/// The error reply a `{err = ...}` table stands for.
pub fn error_text(t: &Table) -> Option<String> {
    match t.raw_get::<Value>("err") {
        Ok(Value::String(err)) => Some(err.to_string_lossy().trim_start_matches('-').to_string()),
        _ => None,
    }
}

/// Whether an error table came from a command the script called, whose error was counted when it failed
/// (the [`super::api::COUNTED`] mark).
pub fn counted_already(t: &Table) -> bool {
    t.raw_get::<bool>(super::api::COUNTED).unwrap_or(false)
}

fn table_to_reply(t: &Table, out: &mut ReplyWriter, resp: Resp, depth: usize) {
    if let Some(text) = error_text(t) {
        out.error(&text);
        return;
    }
    if let Ok(Value::String(ok)) = t.raw_get::<Value>("ok") {
        out.simple(&status_text(&ok));
        return;
    }
    if let Ok(Value::Number(n)) = t.raw_get::<Value>("double") {
        out.double(n);
        return;
    }
    if let Ok(Value::Integer(n)) = t.raw_get::<Value>("double") {
        out.double(n as f64);
        return;
    }
    if let Ok(Value::String(big)) = t.raw_get::<Value>("big_number") {
        let text = status_text(&big);
        if out.is_resp3() {
            out.raw(format!("({text}\r\n").as_bytes());
        } else {
            out.bulk(text.as_bytes());
        }
        return;
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let (Ok(Value::String(format)), Ok(Value::String(text))) =
            (v.raw_get::<Value>("format"), v.raw_get::<Value>("string"))
        {
            let format = format.to_string_lossy();
            let format: String = format.chars().chain("txt".chars()).take(3).collect();
            out.verbatim(&format, &text.as_bytes());
            return;
        }
    }
    if let Ok(Value::Table(map)) = t.raw_get::<Value>("map") {
        let pairs: Vec<(Value, Value)> = map.pairs::<Value, Value>().filter_map(Result::ok).collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            lua_to_reply(k, out, resp, depth + 1);
            lua_to_reply(v, out, resp, depth + 1);
        }
        return;
    }
    if let Ok(Value::Table(set)) = t.raw_get::<Value>("set") {
        let members: Vec<Value> = set.pairs::<Value, Value>().filter_map(|p| p.ok().map(|(k, _)| k)).collect();
        out.set(members.len());
        for m in &members {
            lua_to_reply(m, out, resp, depth + 1);
        }
        return;
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
    }
    out.array(items.len());
    for item in &items {
        lua_to_reply(item, out, resp, depth + 1);
    }
}
