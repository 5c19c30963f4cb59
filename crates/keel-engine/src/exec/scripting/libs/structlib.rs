//! The `struct` library scripts get (Roberto Ierusalimschy's struct 0.2, as Redis bundles it): packing
//! numbers and strings into binary strings and back, with `<`/`>` endianness and `!` alignment.

use mlua::{Lua, MultiValue, Result, Table, Value, Variadic};

const MAX_INT_SIZE: usize = 32;
const MAX_ALIGN: usize = 8;

fn arg_error(position: usize, function: &str, message: &str) -> mlua::Error {
    mlua::Error::RuntimeError(format!("bad argument #{position} to '{function}' ({message})"))
}

/// Where a format string stands: the cursor, byte order and maximum alignment.
struct Format<'a> {
    fmt: &'a [u8],
    pos: usize,
    little: bool,
    align: usize,
    function: &'static str,
}

impl<'a> Format<'a> {
    fn new(fmt: &'a [u8], function: &'static str) -> Format<'a> {
        Format { fmt, pos: 0, little: true, align: 1, function }
    }

    fn next_option(&mut self) -> Option<u8> {
        let opt = *self.fmt.get(self.pos)?;
        self.pos += 1;
        Some(opt)
    }

    fn number(&mut self, default: usize) -> Result<usize> {
        if !self.fmt.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut n: usize = 0;
        while let Some(d) = self.fmt.get(self.pos).filter(|d| d.is_ascii_digit()) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add((d - b'0') as usize))
                .filter(|n| *n <= i32::MAX as usize)
                .ok_or_else(|| mlua::Error::RuntimeError("integral size overflow".into()))?;
            self.pos += 1;
        }
        Ok(n)
    }

    fn size(&mut self, opt: u8) -> Result<usize> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.number(1)?,
            b'i' | b'I' => {
                let size = self.number(4)?;
                if size > MAX_INT_SIZE {
                    return Err(mlua::Error::RuntimeError(format!(
                        "integral size {size} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                size
            }
            _ => 0,
        })
    }

    fn padding(&self, len: usize, opt: u8, size: usize) -> usize {
        if size == 0 || opt == b'c' {
            return 0;
        }
        let size = size.min(self.align);
        (size - (len & (size - 1))) & (size - 1)
    }

    /// Options that change byte order or alignment; anything else is an invalid option.
    fn control(&mut self, opt: u8) -> Result<()> {
        match opt {
            b' ' => {}
            b'>' => self.little = false,
            b'<' | b'=' => self.little = true,
            b'!' => {
                let a = self.number(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(mlua::Error::RuntimeError(format!("alignment {a} is not a power of 2")));
                }
                self.align = a;
            }
            _ => {
                let message = format!("invalid format option '{}'", opt as char);
                return Err(arg_error(1, self.function, &message));
            }
        }
        Ok(())
    }
}

fn put_integer(out: &mut Vec<u8>, n: f64, little: bool, size: usize) {
    let mut value = if n < 0.0 { n as i64 as u64 } else { n as u64 };
    let mut bytes = [0u8; MAX_INT_SIZE];
    for byte in bytes[..size].iter_mut() {
        *byte = value as u8;
        value = value.checked_shr(8).unwrap_or(0);
    }
    if !little {
        bytes[..size].reverse();
    }
    out.extend_from_slice(&bytes[..size]);
}

fn get_integer(data: &[u8], little: bool, signed: bool, size: usize) -> f64 {
    let mut value: u64 = 0;
    let mut push = |b: u8| value = (value << 8) | b as u64;
    if little {
        data.iter().rev().for_each(|&b| push(b));
    } else {
        data.iter().for_each(|&b| push(b));
    }
    if !signed {
        return value as f64;
    }
    let bits = (size * 8).min(64);
    if bits < 64 && value & (1 << (bits - 1)) != 0 {
        value |= u64::MAX << bits;
    }
    value as i64 as f64
}

fn check_number(lua: &Lua, args: &[Value], i: usize) -> Result<f64> {
    let value = args.get(i).cloned().unwrap_or(Value::Nil);
    lua.coerce_number(value)?.ok_or_else(|| arg_error(i + 2, "pack", "number expected"))
}

fn pack(lua: &Lua, (fmt, args): (mlua::LuaString, Variadic<Value>)) -> Result<mlua::LuaString> {
    let fmt = fmt.as_bytes();
    let mut f = Format::new(&fmt, "pack");
    let mut out = Vec::new();
    let mut arg = 0;
    while let Some(opt) = f.next_option() {
        let mut size = f.size(opt)?;
        let pad = f.padding(out.len(), opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(lua, &args, arg)?;
                arg += 1;
                put_integer(&mut out, n, f.little, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let v = check_number(lua, &args, arg)? as f32;
                arg += 1;
                out.extend_from_slice(&if f.little { v.to_le_bytes() } else { v.to_be_bytes() });
            }
            b'd' => {
                let v = check_number(lua, &args, arg)?;
                arg += 1;
                out.extend_from_slice(&if f.little { v.to_le_bytes() } else { v.to_be_bytes() });
            }
            b'c' | b's' => {
                let value = args.get(arg).cloned().unwrap_or(Value::Nil);
                arg += 1;
                let s = lua.coerce_string(value)?.ok_or_else(|| arg_error(arg + 1, "pack", "string expected"))?;
                let s = s.as_bytes();
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(arg_error(arg + 1, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt)?,
        }
    }
    lua.create_string(&out)
}

fn unpack(lua: &Lua, (fmt, data, start): (mlua::LuaString, mlua::LuaString, Option<i64>)) -> Result<MultiValue> {
    let fmt = fmt.as_bytes();
    let data = data.as_bytes();
    let data: &[u8] = &data;
    let start = start.unwrap_or(1);
    if start <= 0 {
        return Err(arg_error(3, "unpack", "offset must be 1 or greater"));
    }
    let mut pos = (start - 1) as usize;
    let mut f = Format::new(&fmt, "unpack");
    let mut results: Vec<Value> = Vec::new();
    let too_short = || arg_error(2, "unpack", "data string too short");
    while let Some(opt) = f.next_option() {
        let mut size = f.size(opt)?;
        pos += f.padding(pos, opt, size);
        if size > data.len() || pos > data.len() - size {
            return Err(too_short());
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = get_integer(&data[pos..pos + size], f.little, opt.is_ascii_lowercase(), size);
                results.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let bytes: [u8; 4] = data[pos..pos + 4].try_into().map_err(|_| too_short())?;
                let v = if f.little { f32::from_le_bytes(bytes) } else { f32::from_be_bytes(bytes) };
                results.push(Value::Number(v as f64));
            }
            b'd' => {
                let bytes: [u8; 8] = data[pos..pos + 8].try_into().map_err(|_| too_short())?;
                let v = if f.little { f64::from_le_bytes(bytes) } else { f64::from_be_bytes(bytes) };
                results.push(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    let previous = match results.last() {
                        Some(Value::Number(n)) => Some(*n),
                        Some(Value::Integer(n)) => Some(*n as f64),
                        _ => None,
                    };
                    let Some(n) = previous else {
                        return Err(mlua::Error::RuntimeError("format 'c0' needs a previous size".into()));
                    };
                    results.pop();
                    size = n as usize;
                    if size > data.len() || pos > data.len() - size {
                        return Err(too_short());
                    }
                }
                results.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(end) = memchr::memchr(0, &data[pos..]) else {
                    return Err(mlua::Error::RuntimeError("unfinished string in data".into()));
                };
                results.push(Value::String(lua.create_string(&data[pos..pos + end])?));
                size = end + 1;
            }
            _ => f.control(opt)?,
        }
        pos += size;
    }
    results.push(Value::Integer(pos as i64 + 1));
    Ok(MultiValue::from_iter(results))
}

fn size(_lua: &Lua, fmt: mlua::LuaString) -> Result<i64> {
    let fmt = fmt.as_bytes();
    let mut f = Format::new(&fmt, "size");
    let mut pos = 0;
    while let Some(opt) = f.next_option() {
        let size = f.size(opt)?;
        pos += f.padding(pos, opt, size);
        if opt == b's' {
            return Err(arg_error(1, "size", "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(arg_error(1, "size", "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(opt)?;
        }
        pos += size;
    }
    Ok(pos as i64)
}

pub fn open(lua: &Lua) -> Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", lua.create_function(pack)?)?;
    t.set("unpack", lua.create_function(unpack)?)?;
    t.set("size", lua.create_function(size)?)?;
    Ok(t)
}
