//! The `cmsgpack` library scripts get (lua-cmsgpack 0.4.0, as Redis bundles it): MessagePack encoding of
//! Lua values and back. BullMQ's scripts unpack job options with it.

use mlua::{Lua, MultiValue, Result, Table, Value, Variadic};

/// Tables nested deeper than this are encoded as nil (which also ends circular references).
const MAX_NESTING: usize = 16;
/// Decoding deeper than this fails instead of exhausting the stack.
const MAX_DECODE_DEPTH: usize = 1000;

fn error(message: &str) -> mlua::Error {
    mlua::Error::RuntimeError(message.to_string())
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_number(out: &mut Vec<u8>, d: f64) {
    if d.is_finite() && (d as i64) as f64 == d {
        return encode_int(out, d as i64);
    }
    let f = d as f32;
    if f as f64 == d {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&d.to_be_bytes());
    }
}

fn encode_header(out: &mut Vec<u8>, n: usize, fix: u8, code16: u8, code32: u8) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(code16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(code32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// A table is an array when its keys are exactly 1..n.
fn is_array(table: &Table) -> Result<bool> {
    let (mut count, mut max) = (0i64, 0i64);
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair?;
        let n = match key {
            Value::Integer(n) => n,
            Value::Number(n) if n.fract() == 0.0 && n.is_finite() => n as i64,
            _ => return Ok(false),
        };
        if n <= 0 {
            return Ok(false);
        }
        max = max.max(n);
        count += 1;
    }
    Ok(max == count)
}

fn encode_value(out: &mut Vec<u8>, value: Value, level: usize) -> Result<()> {
    match value {
        Value::String(s) => encode_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push(if b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => encode_int(out, n),
        Value::Number(n) => encode_number(out, n),
        Value::Table(t) if level < MAX_NESTING => {
            if is_array(&t)? {
                let len = t.raw_len();
                encode_header(out, len, 0x90, 0xdc, 0xdd);
                for i in 1..=len {
                    encode_value(out, t.get(i)?, level + 1)?;
                }
            } else {
                let len = t.pairs::<Value, Value>().count();
                encode_header(out, len, 0x80, 0xde, 0xdf);
                for pair in t.pairs::<Value, Value>() {
                    let (key, value) = pair?;
                    encode_value(out, key, level + 1)?;
                    encode_value(out, value, level + 1)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

fn pack(lua: &Lua, args: Variadic<Value>) -> Result<mlua::LuaString> {
    if args.is_empty() {
        return Err(error("bad argument #0 to 'pack' (MessagePack pack needs input.)"));
    }
    let mut out = Vec::new();
    for value in args {
        encode_value(&mut out, value, 0)?;
    }
    lua.create_string(&out)
}

/// Why decoding stopped.
enum DecodeError {
    Eof,
    BadFormat,
    TooDeep,
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> std::result::Result<&[u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len()).ok_or(DecodeError::Eof)?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn be(&mut self, n: usize) -> std::result::Result<u64, DecodeError> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }
}

type Decoded = std::result::Result<Value, DecodeError>;

fn decode_value(lua: &Lua, c: &mut Cursor, depth: usize) -> Decoded {
    use crate::exec::scripting::convert::{RED_ZONE, STACK_GROWTH};
    stacker::maybe_grow(RED_ZONE, STACK_GROWTH, || decode_here(lua, c, depth))
}

fn decode_here(lua: &Lua, c: &mut Cursor, depth: usize) -> Decoded {
    if depth > MAX_DECODE_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let lua_err = |_| DecodeError::BadFormat;
    let first = c.be(1)? as u8;
    let value = match first {
        0xcc => Value::Integer(c.be(1)? as i64),
        0xd0 => Value::Integer(c.be(1)? as u8 as i8 as i64),
        0xcd => Value::Integer(c.be(2)? as i64),
        0xd1 => Value::Integer(c.be(2)? as u16 as i16 as i64),
        0xce => Value::Integer(c.be(4)? as i64),
        0xd2 => Value::Integer(c.be(4)? as u32 as i32 as i64),
        0xcf => Value::Number(c.be(8)? as f64),
        0xd3 => Value::Number(c.be(8)? as i64 as f64),
        0xc0 => Value::Nil,
        0xc3 => Value::Boolean(true),
        0xc2 => Value::Boolean(false),
        0xca => Value::Number(f32::from_bits(c.be(4)? as u32) as f64),
        0xcb => Value::Number(f64::from_bits(c.be(8)?)),
        0xd9..=0xdb => {
            let len = c.be(1 << (first - 0xd9))? as usize;
            Value::String(lua.create_string(c.take(len)?).map_err(lua_err)?)
        }
        0xdc | 0xdd => {
            let len = c.be(if first == 0xdc { 2 } else { 4 })? as usize;
            decode_array(lua, c, len, depth)?
        }
        0xde | 0xdf => {
            let len = c.be(if first == 0xde { 2 } else { 4 })? as usize;
            decode_map(lua, c, len, depth)?
        }
        b if b & 0x80 == 0 => Value::Integer(b as i64),
        b if b & 0xe0 == 0xe0 => Value::Integer(b as i8 as i64),
        b if b & 0xe0 == 0xa0 => {
            let len = (b & 0x1f) as usize;
            Value::String(lua.create_string(c.take(len)?).map_err(lua_err)?)
        }
        b if b & 0xf0 == 0x90 => decode_array(lua, c, (b & 0x0f) as usize, depth)?,
        b if b & 0xf0 == 0x80 => decode_map(lua, c, (b & 0x0f) as usize, depth)?,
        _ => return Err(DecodeError::BadFormat),
    };
    Ok(value)
}

fn decode_array(lua: &Lua, c: &mut Cursor, len: usize, depth: usize) -> Decoded {
    let table = lua.create_table().map_err(|_| DecodeError::BadFormat)?;
    for i in 1..=len {
        let value = decode_value(lua, c, depth + 1)?;
        table.raw_set(i, value).map_err(|_| DecodeError::BadFormat)?;
    }
    Ok(Value::Table(table))
}

fn decode_map(lua: &Lua, c: &mut Cursor, len: usize, depth: usize) -> Decoded {
    let table = lua.create_table().map_err(|_| DecodeError::BadFormat)?;
    for _ in 0..len {
        let key = decode_value(lua, c, depth + 1)?;
        let value = decode_value(lua, c, depth + 1)?;
        if !matches!(key, Value::Nil) {
            table.raw_set(key, value).map_err(|_| DecodeError::BadFormat)?;
        }
    }
    Ok(Value::Table(table))
}

/// Decodes up to `limit` values from `offset` (0: all, without the trailing offset result).
fn unpack_full(lua: &Lua, data: mlua::LuaString, limit: i64, offset: i64) -> Result<MultiValue> {
    let bytes = data.as_bytes();
    let len = bytes.len();
    if offset < 0 || limit < 0 {
        return Err(error(&format!("Invalid request to unpack with offset of {offset} and limit of {len}.")));
    }
    if offset as usize > len {
        return Err(error(&format!("Start offset {offset} greater than input length {len}.")));
    }
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all { i64::MAX } else { limit };
    let mut cursor = Cursor { data: &bytes, pos: offset as usize };
    let mut values = Vec::new();
    while cursor.pos < len && (values.len() as i64) < limit {
        match decode_value(lua, &mut cursor, 0) {
            Ok(value) => values.push(value),
            Err(DecodeError::Eof) => return Err(error("Missing bytes in input.")),
            Err(DecodeError::BadFormat) => return Err(error("Bad data format in input.")),
            Err(DecodeError::TooDeep) => return Err(error("stack overflow (too many nested data structures)")),
        }
    }
    if !decode_all {
        let next = if cursor.pos == len { -1 } else { cursor.pos as i64 };
        values.insert(0, Value::Integer(next));
    }
    Ok(MultiValue::from_iter(values))
}

pub fn open(lua: &Lua) -> Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", lua.create_function(pack)?)?;
    t.set("unpack", lua.create_function(|lua, data: mlua::LuaString| unpack_full(lua, data, 0, 0))?)?;
    t.set(
        "unpack_one",
        lua.create_function(|lua, (data, offset): (mlua::LuaString, Option<i64>)| {
            unpack_full(lua, data, 1, offset.unwrap_or(0))
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(|lua, (data, limit, offset): (mlua::LuaString, i64, Option<i64>)| {
            unpack_full(lua, data, limit, offset.unwrap_or(0))
        })?,
    )?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}
