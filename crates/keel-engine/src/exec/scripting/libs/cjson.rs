//! The `cjson` library scripts get (Lua CJSON 2.1, as Redis bundles it): JSON encoding of Lua values with
//! its rules (arrays are tables keyed 1..n, `%.14g` numbers, `/` escaped, `cjson.null`) and decoding back.

use mlua::{LightUserData, Lua, Result, Table, Value};
use parking_lot::Mutex;
use std::fmt::Write;
use std::sync::Arc;

/// The settings scripts may change with `cjson.encode_max_depth(...)` and friends.
#[derive(Debug, Clone, Copy)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
    encode_max_depth: usize,
    decode_max_depth: usize,
    encode_invalid_numbers: InvalidNumbers,
    decode_invalid_numbers: bool,
    keep_buffer: bool,
    precision: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum InvalidNumbers {
    Refuse,
    Allow,
    AsNull,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: InvalidNumbers::Refuse,
            decode_invalid_numbers: true,
            keep_buffer: true,
            precision: 14,
        }
    }
}

type Shared = Arc<Mutex<Config>>;

fn error(message: String) -> mlua::Error {
    mlua::Error::RuntimeError(message)
}

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) => "userdata",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// C's `%.{precision}g`.
pub(crate) fn format_g(n: f64, precision: usize) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if n.is_infinite() {
        return if n < 0.0 { "-inf".into() } else { "inf".into() };
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, n);
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if exponent < -4 || exponent >= p as i32 {
        let mantissa = strip_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        let decimals = (p as i32 - 1 - exponent).max(0) as usize;
        strip_zeros(&format!("{n:.decimals$}")).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => {
                let mut escaped = String::new();
                let _ = write!(escaped, "\\u{b:04x}");
                out.extend_from_slice(escaped.as_bytes());
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

struct Encoder {
    cfg: Config,
    out: Vec<u8>,
}

impl Encoder {
    fn number(&mut self, n: f64, what: &Value) -> Result<()> {
        if !n.is_finite() {
            match self.cfg.encode_invalid_numbers {
                InvalidNumbers::Refuse => {
                    return Err(error(format!("Cannot serialise {}: must not be NaN or Inf", type_name(what))))
                }
                InvalidNumbers::AsNull => {
                    self.out.extend_from_slice(b"null");
                    return Ok(());
                }
                InvalidNumbers::Allow if n.is_nan() => {
                    self.out.extend_from_slice(b"nan");
                    return Ok(());
                }
                InvalidNumbers::Allow => {}
            }
        }
        self.out.extend_from_slice(format_g(n, self.cfg.precision).as_bytes());
        Ok(())
    }

    /// The array length of a table whose keys are all integers >= 1, or None for an object.
    fn array_length(&self, table: &Table) -> Result<Option<usize>> {
        let (mut max, mut items) = (0i64, 0i64);
        for pair in table.pairs::<Value, Value>() {
            let (key, _) = pair?;
            let k = match key {
                Value::Integer(k) => k as f64,
                Value::Number(k) => k,
                _ => return Ok(None),
            };
            if k.floor() != k || k < 1.0 {
                return Ok(None);
            }
            max = max.max(k as i64);
            items += 1;
        }
        let cfg = &self.cfg;
        if cfg.sparse_ratio > 0 && max > items * cfg.sparse_ratio && max > cfg.sparse_safe {
            if !cfg.sparse_convert {
                return Err(error("Cannot serialise table: excessively sparse array".into()));
            }
            return Ok(None);
        }
        Ok((max > 0).then_some(max as usize))
    }

    fn value(&mut self, value: &Value, depth: usize) -> Result<()> {
        use crate::exec::scripting::convert::{RED_ZONE, STACK_GROWTH};
        stacker::maybe_grow(RED_ZONE, STACK_GROWTH, || self.value_here(value, depth))
    }

    fn value_here(&mut self, value: &Value, depth: usize) -> Result<()> {
        match value {
            Value::String(s) => append_string(&mut self.out, &s.as_bytes()),
            Value::Integer(n) => self.number(*n as f64, value)?,
            Value::Number(n) => self.number(*n, value)?,
            Value::Boolean(b) => self.out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(ud) if ud.0.is_null() => self.out.extend_from_slice(b"null"),
            Value::Table(table) => {
                let depth = depth + 1;
                if depth > self.cfg.encode_max_depth {
                    return Err(error(format!("Cannot serialise, excessive nesting ({depth})")));
                }
                match self.array_length(table)? {
                    Some(len) => {
                        self.out.push(b'[');
                        for i in 1..=len {
                            if i > 1 {
                                self.out.push(b',');
                            }
                            let item: Value = table.raw_get(i)?;
                            self.value(&item, depth)?;
                        }
                        self.out.push(b']');
                    }
                    None => {
                        self.out.push(b'{');
                        for (i, pair) in table.pairs::<Value, Value>().enumerate() {
                            let (key, item) = pair?;
                            if i > 0 {
                                self.out.push(b',');
                            }
                            match &key {
                                Value::Integer(n) => {
                                    self.out.push(b'"');
                                    self.number(*n as f64, &key)?;
                                    self.out.extend_from_slice(b"\":");
                                }
                                Value::Number(n) => {
                                    self.out.push(b'"');
                                    self.number(*n, &key)?;
                                    self.out.extend_from_slice(b"\":");
                                }
                                Value::String(s) => {
                                    append_string(&mut self.out, &s.as_bytes());
                                    self.out.push(b':');
                                }
                                other => {
                                    return Err(error(format!(
                                        "Cannot serialise {}: table key must be a number or string",
                                        type_name(other)
                                    )))
                                }
                            }
                            self.value(&item, depth)?;
                        }
                        self.out.push(b'}');
                    }
                }
            }
            other => return Err(error(format!("Cannot serialise {}: type not supported", type_name(other)))),
        }
        Ok(())
    }
}

/// The decoder: a recursive descent over the bytes, with cjson's error texts.
struct Decoder<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    pos: usize,
    cfg: Config,
    depth: usize,
}

enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Token {
    fn name(&self) -> &'static str {
        match self {
            Token::ObjBegin => "T_OBJ_BEGIN",
            Token::ObjEnd => "T_OBJ_END",
            Token::ArrBegin => "T_ARR_BEGIN",
            Token::ArrEnd => "T_ARR_END",
            Token::Str(_) => "T_STRING",
            Token::Number(_) => "T_NUMBER",
            Token::Boolean(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(message) => message,
        }
    }
}

impl Decoder<'_> {
    fn is_invalid_number(&self) -> bool {
        let rest = &self.data[self.pos..];
        let mut p = 0;
        if rest.first() == Some(&b'+') {
            return true;
        }
        if rest.first() == Some(&b'-') {
            p = 1;
        }
        match rest.get(p) {
            Some(b'0') => rest.get(p + 1).is_some_and(|c| (c | 0x20) == b'x' || c.is_ascii_digit()),
            Some(c) if *c <= b'9' => false,
            _ => {
                let word = rest.get(p..p + 3).map(|w| w.to_ascii_lowercase());
                word.as_deref() == Some(b"inf") || word.as_deref() == Some(b"nan")
            }
        }
    }

    fn number(&mut self) -> Token {
        let start = self.pos;
        let rest = &self.data[start..];
        let len = rest
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')))
            .unwrap_or(rest.len());
        // strtod takes the longest prefix that is a number.
        for end in (1..=len).rev() {
            let text = std::str::from_utf8(&rest[..end]).unwrap_or("");
            let parsed = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                i64::from_str_radix(hex, 16).ok().map(|n| n as f64)
            } else if let Some(hex) = text.strip_prefix("-0x").or_else(|| text.strip_prefix("-0X")) {
                i64::from_str_radix(hex, 16).ok().map(|n| -(n as f64))
            } else {
                text.parse::<f64>().ok()
            };
            if let Some(n) = parsed {
                self.pos = start + end;
                return Token::Number(n);
            }
        }
        Token::Error("invalid number")
    }

    fn string(&mut self) -> Token {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.data.get(self.pos) else {
                return Token::Error("unexpected end of string");
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    return Token::Str(out);
                }
                b'\\' => {
                    let Some(&e) = self.data.get(self.pos + 1) else {
                        return Token::Error("invalid escape code");
                    };
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => match self.unicode_escape() {
                            Some((ch, consumed)) => {
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                                self.pos += consumed;
                                continue;
                            }
                            None => return Token::Error("invalid unicode escape code"),
                        },
                        _ => return Token::Error("invalid escape code"),
                    }
                    self.pos += 2;
                }
                _ => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `\uXXXX` (and a following low surrogate): the character and the bytes consumed.
    fn unicode_escape(&self) -> Option<(char, usize)> {
        let hex = |at: usize| -> Option<u32> {
            let digits = self.data.get(at..at + 4)?;
            u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
        };
        let first = hex(self.pos + 2)?;
        if (0xd800..0xdc00).contains(&first) {
            if self.data.get(self.pos + 6..self.pos + 8) != Some(b"\\u") {
                return None;
            }
            let second = hex(self.pos + 8)?;
            if !(0xdc00..0xe000).contains(&second) {
                return None;
            }
            let code = 0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00);
            return Some((char::from_u32(code)?, 12));
        }
        if (0xdc00..0xe000).contains(&first) {
            return None;
        }
        Some((char::from_u32(first)?, 6))
    }

    /// The next token and the (0-based) index where it starts.
    fn next_token(&mut self) -> (Token, usize) {
        while self.data.get(self.pos).is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
        let index = self.pos;
        let Some(&c) = self.data.get(self.pos) else {
            return (Token::End, index);
        };
        let single = match c {
            b'{' => Some(Token::ObjBegin),
            b'}' => Some(Token::ObjEnd),
            b'[' => Some(Token::ArrBegin),
            b']' => Some(Token::ArrEnd),
            b':' => Some(Token::Colon),
            b',' => Some(Token::Comma),
            _ => None,
        };
        if let Some(token) = single {
            self.pos += 1;
            return (token, index);
        }
        let rest = &self.data[self.pos..];
        let token = if c == b'"' {
            self.string()
        } else if c == b'-' || c.is_ascii_digit() {
            if !self.cfg.decode_invalid_numbers && self.is_invalid_number() {
                Token::Error("invalid number")
            } else {
                self.number()
            }
        } else if rest.starts_with(b"true") {
            self.pos += 4;
            Token::Boolean(true)
        } else if rest.starts_with(b"false") {
            self.pos += 5;
            Token::Boolean(false)
        } else if rest.starts_with(b"null") {
            self.pos += 4;
            Token::Null
        } else if self.cfg.decode_invalid_numbers && self.is_invalid_number() {
            self.number()
        } else {
            Token::Error("invalid token")
        };
        (token, index)
    }

    fn unexpected(expected: &str, token: &Token, index: usize) -> mlua::Error {
        error(format!("Expected {expected} but found {} at character {}", token.name(), index + 1))
    }

    fn descend(&mut self, index: usize) -> Result<()> {
        self.depth += 1;
        if self.depth > self.cfg.decode_max_depth {
            return Err(error(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth,
                index + 1
            )));
        }
        Ok(())
    }

    fn object(&mut self, index: usize) -> Result<Value> {
        self.descend(index)?;
        let table = self.lua.create_table()?;
        let (mut token, mut at) = self.next_token();
        if matches!(token, Token::ObjEnd) {
            self.depth -= 1;
            return Ok(Value::Table(table));
        }
        loop {
            let Token::Str(key) = token else {
                return Err(Self::unexpected("object key string", &token, at));
            };
            let (colon, colon_at) = self.next_token();
            if !matches!(colon, Token::Colon) {
                return Err(Self::unexpected("colon", &colon, colon_at));
            }
            let (value_token, value_at) = self.next_token();
            let value = self.value(value_token, value_at)?;
            table.raw_set(self.lua.create_string(&key)?, value)?;
            let (sep, sep_at) = self.next_token();
            match sep {
                Token::ObjEnd => break,
                Token::Comma => {}
                other => return Err(Self::unexpected("comma or object end", &other, sep_at)),
            }
            (token, at) = self.next_token();
        }
        self.depth -= 1;
        Ok(Value::Table(table))
    }

    fn array(&mut self, index: usize) -> Result<Value> {
        self.descend(index)?;
        let table = self.lua.create_table()?;
        let (mut token, mut at) = self.next_token();
        if matches!(token, Token::ArrEnd) {
            self.depth -= 1;
            return Ok(Value::Table(table));
        }
        let mut i = 1;
        loop {
            let value = self.value(token, at)?;
            table.raw_set(i, value)?;
            i += 1;
            let (sep, sep_at) = self.next_token();
            match sep {
                Token::ArrEnd => break,
                Token::Comma => {}
                other => return Err(Self::unexpected("comma or array end", &other, sep_at)),
            }
            (token, at) = self.next_token();
        }
        self.depth -= 1;
        Ok(Value::Table(table))
    }

    fn value(&mut self, token: Token, index: usize) -> Result<Value> {
        use crate::exec::scripting::convert::{RED_ZONE, STACK_GROWTH};
        stacker::maybe_grow(RED_ZONE, STACK_GROWTH, || self.value_here(token, index))
    }

    fn value_here(&mut self, token: Token, index: usize) -> Result<Value> {
        Ok(match token {
            Token::Str(s) => Value::String(self.lua.create_string(&s)?),
            Token::Number(n) => Value::Number(n),
            Token::Boolean(b) => Value::Boolean(b),
            Token::Null => null(),
            Token::ObjBegin => self.object(index)?,
            Token::ArrBegin => self.array(index)?,
            other => return Err(Self::unexpected("value", &other, index)),
        })
    }
}

fn encode(cfg: &Shared, value: Value) -> Result<Vec<u8>> {
    let mut encoder = Encoder { cfg: *cfg.lock(), out: Vec::new() };
    encoder.value(&value, 0)?;
    Ok(encoder.out)
}

fn decode(lua: &Lua, cfg: &Shared, text: mlua::LuaString) -> Result<Value> {
    let bytes = text.as_bytes();
    // cjson refuses UTF-16/32 by looking for a zero byte among the first two.
    if bytes.len() >= 2 && (bytes[0] == 0 || bytes[1] == 0) {
        return Err(error("JSON parser does not support UTF-16 or UTF-32".into()));
    }
    let mut decoder = Decoder { lua, data: &bytes, pos: 0, cfg: *cfg.lock(), depth: 0 };
    let (token, index) = decoder.next_token();
    let value = decoder.value(token, index)?;
    let (end, at) = decoder.next_token();
    if !matches!(end, Token::End) {
        return Err(Decoder::unexpected("the end", &end, at));
    }
    Ok(value)
}

/// A setter-getter like `cjson.encode_max_depth([n])`: changes the setting when given, returns it.
fn depth_setting(lua: &Lua, cfg: &Shared, get: fn(&mut Config) -> &mut usize) -> Result<mlua::Function> {
    let cfg = cfg.clone();
    lua.create_function(move |_, n: Option<i64>| {
        let mut c = cfg.lock();
        if let Some(n) = n {
            if !(1..=i32::MAX as i64).contains(&n) {
                return Err(error("bad argument #1 to '?' (expected integer between 1 and 2147483647)".into()));
            }
            *get(&mut c) = n as usize;
        }
        Ok(*get(&mut c) as i64)
    })
}

/// An on/off setter-getter like `cjson.encode_keep_buffer([on])`.
fn flag_setting(lua: &Lua, cfg: &Shared, get: fn(&mut Config) -> &mut bool) -> Result<mlua::Function> {
    let cfg = cfg.clone();
    lua.create_function(move |_, on: Option<bool>| {
        let mut c = cfg.lock();
        if let Some(on) = on {
            *get(&mut c) = on;
        }
        Ok(*get(&mut c))
    })
}

pub fn open(lua: &Lua) -> Result<Table> {
    let cfg: Shared = Arc::new(Mutex::new(Config::default()));
    let t = lua.create_table()?;
    let c = cfg.clone();
    t.set("encode", lua.create_function(move |lua, value: Value| lua.create_string(encode(&c, value)?))?)?;
    let c = cfg.clone();
    t.set("decode", lua.create_function(move |lua, text: mlua::LuaString| decode(lua, &c, text))?)?;
    t.set("encode_max_depth", depth_setting(lua, &cfg, |c| &mut c.encode_max_depth)?)?;
    t.set("decode_max_depth", depth_setting(lua, &cfg, |c| &mut c.decode_max_depth)?)?;
    t.set("encode_number_precision", depth_setting(lua, &cfg, |c| &mut c.precision)?)?;
    t.set("encode_keep_buffer", flag_setting(lua, &cfg, |c| &mut c.keep_buffer)?)?;
    let c = cfg.clone();
    t.set(
        "encode_invalid_numbers",
        lua.create_function(move |lua, setting: Option<Value>| {
            let mut c = c.lock();
            match setting {
                Some(Value::Boolean(true)) => c.encode_invalid_numbers = InvalidNumbers::Allow,
                Some(Value::Boolean(false)) => c.encode_invalid_numbers = InvalidNumbers::Refuse,
                Some(Value::String(s)) if s.as_bytes().as_ref() == b"null" => {
                    c.encode_invalid_numbers = InvalidNumbers::AsNull
                }
                _ => {}
            }
            Ok(match c.encode_invalid_numbers {
                InvalidNumbers::Refuse => Value::Boolean(false),
                InvalidNumbers::Allow => Value::Boolean(true),
                InvalidNumbers::AsNull => Value::String(lua.create_string("null")?),
            })
        })?,
    )?;
    t.set("decode_invalid_numbers", flag_setting(lua, &cfg, |c| &mut c.decode_invalid_numbers)?)?;
    let c = cfg.clone();
    t.set(
        "encode_sparse_array",
        lua.create_function(move |_, (convert, ratio, safe): (Option<bool>, Option<i64>, Option<i64>)| {
            let mut c = c.lock();
            if let Some(convert) = convert {
                c.sparse_convert = convert;
            }
            if let Some(ratio) = ratio {
                c.sparse_ratio = ratio;
            }
            if let Some(safe) = safe {
                c.sparse_safe = safe;
            }
            Ok((c.sparse_convert, c.sparse_ratio, c.sparse_safe))
        })?,
    )?;
    t.set("null", null())?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::format_g;

    #[test]
    fn numbers_format_as_c_printf_g() {
        assert_eq!(format_g(0.1, 14), "0.1");
        assert_eq!(format_g(100.0, 14), "100");
        assert_eq!(format_g(-5000.0, 14), "-5000");
        assert_eq!(format_g(0.0003, 14), "0.0003");
        assert_eq!(format_g(0.00001, 14), "1e-05");
        assert_eq!(format_g(1e20, 14), "1e+20");
        assert_eq!(format_g(123456789012345.0, 14), "1.2345678901234e+14");
        assert_eq!(format_g(0.1, 17), "0.10000000000000001");
        assert_eq!(format_g(1e17, 17), "1e+17");
        assert_eq!(format_g(f64::INFINITY, 14), "inf");
    }
}
