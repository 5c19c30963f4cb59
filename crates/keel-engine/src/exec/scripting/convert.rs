//! Redis's conversion rules between command replies and Lua values (script_lua.c): replies become Lua values
//! for `redis.call`, and what a script returns becomes the reply to EVAL/FCALL.

use keel_protocol::{ReplyWriter, Resp};
use mlua::{ffi, Table, Value};

/// Deeper than this, a returned value is answered with Redis's stack-limit error (recursive tables).
const MAX_REPLY_DEPTH: usize = 1000;

/// Pushes a command's reply, given as the RESP bytes the command wrote in the script's protocol `resp`, as
/// the Lua value Redis's rules make of it (luaReplyToRedisReply's mirror, redisProtocolToLuaType). An error
/// reply at the top becomes Redis's error table, marked [`super::api::COUNTED`] when `counted`; returns
/// whether it was one. Bytes that do not parse push an error table saying so.
///
/// # Safety
/// `state` is a Lua state inside a C function. Only Lua C API calls and plain values live in these frames,
/// so a Lua memory error's longjmp may cross them.
pub unsafe fn push_reply(state: *mut ffi::lua_State, bytes: &[u8], resp: Resp, counted: bool) -> bool {
    let top = ffi::lua_gettop(state);
    let mut reader = RespReader { bytes, at: 0 };
    if bytes.first() == Some(&b'-') {
        reader.at = 1;
        if let Some(text) = reader.line() {
            push_error_table(state, text, counted);
            return true;
        }
    } else if push_value(state, &mut reader, resp, 0).is_some() {
        return false;
    }
    ffi::lua_settop(state, top);
    push_error_table(state, b"ERR the command's reply could not be read", false);
    true
}

/// Redis's error table `{err = "CODE message"}` (luaPushErrorBuff): a text without a code gets `ERR`.
unsafe fn push_error_table(state: *mut ffi::lua_State, text: &[u8], counted: bool) {
    ffi::lua_createtable(state, 0, 2);
    if text.contains(&b' ') {
        push_bytes(state, text);
    } else {
        push_bytes(state, b"ERR ");
        push_bytes(state, text);
        ffi::lua_concat(state, 2);
    }
    ffi::lua_setfield(state, -2, c"err".as_ptr());
    if counted {
        ffi::lua_pushboolean(state, 1);
        ffi::lua_setfield(state, -2, super::api::COUNTED_KEY.as_ptr());
    }
}

unsafe fn push_bytes(state: *mut ffi::lua_State, bytes: &[u8]) {
    ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
}

/// RESP2's null is `false` to a script, RESP3's is `nil`.
unsafe fn push_null(state: *mut ffi::lua_State, resp: Resp) {
    match resp {
        Resp::V2 => ffi::lua_pushboolean(state, 0),
        Resp::V3 => ffi::lua_pushnil(state),
    }
}

/// Pushes `{key = <the value on top>}` in place of the value.
unsafe fn wrap(state: *mut ffi::lua_State, key: &std::ffi::CStr) {
    ffi::lua_createtable(state, 0, 1);
    ffi::lua_insert(state, -2);
    ffi::lua_setfield(state, -2, key.as_ptr());
}

/// Pushes one value of the reply (None: the bytes do not parse, or nest past the limit). At most five
/// slots are used per level: the ones it checks for.
unsafe fn push_value(state: *mut ffi::lua_State, r: &mut RespReader, resp: Resp, depth: usize) -> Option<()> {
    if depth > MAX_REPLY_DEPTH || ffi::lua_checkstack(state, 5) == 0 {
        return None;
    }
    let kind = r.byte()?;
    match kind {
        b':' => ffi::lua_pushinteger(state, r.int()? as ffi::lua_Integer),
        b'$' => match r.int()? {
            len if len < 0 => push_null(state, resp),
            len => push_bytes(state, r.bulk(len as usize)?),
        },
        b'+' | b'-' => {
            push_bytes(state, r.line()?);
            wrap(state, if kind == b'+' { c"ok" } else { c"err" });
        }
        b'_' => {
            r.line()?;
            push_null(state, resp);
        }
        b'#' => ffi::lua_pushboolean(state, (r.line()? == b"t") as std::os::raw::c_int),
        b',' => {
            let n = keel_store::number::parse_f64(r.line()?).unwrap_or(0.0);
            ffi::lua_pushnumber(state, n);
            wrap(state, c"double");
        }
        b'(' => {
            push_bytes(state, r.line()?);
            wrap(state, c"big_number");
        }
        b'=' => {
            let len = r.int()?;
            let text = r.bulk(usize::try_from(len).ok()?)?;
            let (format, text) = (text.get(..3)?, text.get(4..)?);
            ffi::lua_createtable(state, 0, 2);
            push_bytes(state, format);
            ffi::lua_setfield(state, -2, c"format".as_ptr());
            push_bytes(state, text);
            ffi::lua_setfield(state, -2, c"string".as_ptr());
            wrap(state, c"verbatim_string");
        }
        b'*' | b'>' => match r.int()? {
            len if len < 0 => push_null(state, resp),
            len => {
                ffi::lua_createtable(state, len.min(1 << 16) as std::os::raw::c_int, 0);
                for i in 1..=len {
                    push_value(state, r, resp, depth + 1)?;
                    ffi::lua_rawseti(state, -2, i as ffi::lua_Integer);
                }
            }
        },
        b'%' | b'~' => {
            let len = r.int()?;
            ffi::lua_createtable(state, 0, 0);
            for _ in 0..len {
                push_value(state, r, resp, depth + 1)?;
                if kind == b'%' {
                    push_value(state, r, resp, depth + 1)?;
                } else {
                    ffi::lua_pushboolean(state, 1);
                }
                // A nil key cannot be set (Redis's replies have none; bytes are not trusted here).
                if ffi::lua_type(state, -2) == ffi::LUA_TNIL {
                    ffi::lua_settop(state, -3);
                } else {
                    ffi::lua_rawset(state, -3);
                }
            }
            wrap(state, if kind == b'%' { c"map" } else { c"set" });
        }
        _ => return None,
    }
    Some(())
}

/// A cursor over RESP bytes; every read is checked against the end.
struct RespReader<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl<'b> RespReader<'b> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    /// The rest of the line, without its CRLF.
    fn line(&mut self) -> Option<&'b [u8]> {
        let rest = self.bytes.get(self.at..)?;
        let end = memchr::memchr(b'\r', rest)?;
        if rest.get(end + 1) != Some(&b'\n') {
            return None;
        }
        self.at += end + 2;
        Some(&rest[..end])
    }

    fn int(&mut self) -> Option<i64> {
        let line = self.line()?;
        std::str::from_utf8(line).ok()?.parse().ok()
    }

    /// `len` bytes and the CRLF after them.
    fn bulk(&mut self, len: usize) -> Option<&'b [u8]> {
        let end = self.at.checked_add(len)?;
        let body = self.bytes.get(self.at..end)?;
        if self.bytes.get(end..end + 2)? != b"\r\n" {
            return None;
        }
        self.at = end + 2;
        Some(body)
    }
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

#[cfg(test)]
mod tests {
    use super::push_reply;
    use keel_protocol::Resp;
    use mlua::{Function, Lua, Value};
    use proptest::prelude::*;

    /// A Lua value written out with its types and its tables' keys sorted, to compare whole shapes.
    const DUMP: &str = r#"
        local function dump(v)
          if type(v) ~= 'table' then return type(v) .. ':' .. tostring(v) end
          local keys = {}
          for k in pairs(v) do keys[#keys + 1] = k end
          table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
          local parts = {}
          for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. '=' .. dump(v[k]) end
          return '{' .. table.concat(parts, ',') .. '}'
        end
        return dump"#;

    /// What `push_reply` makes of `bytes`, dumped, and whether it said the reply was an error.
    fn pushed(bytes: &[u8], resp: Resp) -> (String, bool) {
        let lua = Lua::new();
        let dump: Function = lua.load(DUMP).eval().unwrap();
        let mut failed = false;
        // SAFETY: `push_reply` only uses the Lua C API, on the stack `exec_raw` hands it.
        let value: Value = unsafe { lua.exec_raw((), |state| failed = push_reply(state, bytes, resp, true)) }.unwrap();
        (dump.call(value).unwrap(), failed)
    }

    #[test]
    fn replies_become_the_lua_values_redis_makes_of_them() {
        let cases: &[(&[u8], Resp, &str)] = &[
            (b":5\r\n", Resp::V2, "number:5"),
            (b"$3\r\nabc\r\n", Resp::V2, "string:abc"),
            (b"$-1\r\n", Resp::V2, "boolean:false"),
            (b"*-1\r\n", Resp::V2, "boolean:false"),
            (b"_\r\n", Resp::V3, "nil:nil"),
            (b"+OK\r\n", Resp::V2, "{ok=string:OK}"),
            (b"*3\r\n:1\r\n$1\r\na\r\n-ERR inner\r\n", Resp::V2, "{1=number:1,2=string:a,3={err=string:ERR inner}}"),
            (b"%2\r\n$1\r\nk\r\n:2\r\n$1\r\nn\r\n_\r\n", Resp::V3, "{map={k=number:2}}"),
            (b"~1\r\n$1\r\nm\r\n", Resp::V3, "{set={m=boolean:true}}"),
            (b",1.5\r\n", Resp::V3, "{double=number:1.5}"),
            (b"#t\r\n", Resp::V3, "boolean:true"),
            (b"(123\r\n", Resp::V3, "{big_number=string:123}"),
            (b"=7\r\ntxt:abc\r\n", Resp::V3, "{verbatim_string={format=string:txt,string=string:abc}}"),
        ];
        for (bytes, resp, expected) in cases {
            assert_eq!(pushed(bytes, *resp), (expected.to_string(), false), "{}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn an_error_reply_is_an_error_table_marked_counted() {
        let counted = "ignore_error_stats_update=boolean:true";
        let coded = pushed(b"-WRONGTYPE Operation\r\n", Resp::V2);
        assert_eq!(coded, (format!("{{err=string:WRONGTYPE Operation,{counted}}}"), true));
        let bare = pushed(b"-NOSPACE\r\n", Resp::V2);
        assert_eq!(bare, (format!("{{err=string:ERR NOSPACE,{counted}}}"), true));
    }

    #[test]
    fn bytes_that_do_not_parse_become_an_uncounted_error() {
        for bytes in [&b"*2\r\n:1\r\n"[..], b"$5\r\nab\r\n", b":x\r\n", b"?\r\n", b""] {
            let expected = "{err=string:ERR the command's reply could not be read}".to_string();
            assert_eq!(pushed(bytes, Resp::V3), (expected, true), "{}", String::from_utf8_lossy(bytes));
        }
    }

    proptest! {
        #[test]
        fn any_bytes_push_exactly_one_value(bytes in proptest::collection::vec(
            prop_oneof![Just(b'*'), Just(b'%'), Just(b'~'), Just(b'$'), Just(b':'), Just(b'\r'), Just(b'\n'),
                        Just(b'1'), Just(b'2'), Just(b'-'), Just(b'+'), Just(b'='), any::<u8>()], 0..64)) {
            let lua = Lua::new();
            let mut grew = 0;
            // SAFETY: as in `pushed`.
            let _: Value = unsafe {
                lua.exec_raw((), |state| {
                    let before = mlua::ffi::lua_gettop(state);
                    push_reply(state, &bytes, Resp::V3, false);
                    grew = mlua::ffi::lua_gettop(state) - before;
                })
            }.unwrap();
            prop_assert_eq!(grew, 1);
        }
    }
}
