//! The `bit` library scripts get (LuaBitOp 1.0, as Redis bundles it): 32-bit operations on Lua numbers.

use mlua::{Lua, Result, Table, Value, Variadic};

/// LuaBitOp's `barg`: the number rounded as the FPU rounds `n + 2^52 + 2^51`, keeping the low 32 bits.
fn barg(lua: &Lua, value: Value, position: usize, name: &str) -> Result<u32> {
    let number = lua.coerce_number(value)?;
    match number {
        Some(n) => Ok((n + 6_755_399_441_055_744.0).to_bits() as u32),
        None => Err(mlua::Error::RuntimeError(format!("bad argument #{position} to '{name}' (number expected)"))),
    }
}

/// Results are signed 32-bit numbers, as LuaBitOp returns them.
fn bret(bits: u32) -> f64 {
    bits as i32 as f64
}

fn fold(lua: &Lua, args: Variadic<Value>, name: &str, op: fn(u32, u32) -> u32) -> Result<f64> {
    let mut iter = args.into_iter();
    let mut acc = barg(lua, iter.next().unwrap_or(Value::Nil), 1, name)?;
    for (i, arg) in iter.enumerate() {
        acc = op(acc, barg(lua, arg, i + 2, name)?);
    }
    Ok(bret(acc))
}

pub fn open(lua: &Lua) -> Result<Table> {
    let bit = lua.create_table()?;
    bit.set("tobit", lua.create_function(|lua, v: Value| Ok(bret(barg(lua, v, 1, "tobit")?)))?)?;
    bit.set("bnot", lua.create_function(|lua, v: Value| Ok(bret(!barg(lua, v, 1, "bnot")?)))?)?;
    bit.set("band", lua.create_function(|lua, a: Variadic<Value>| fold(lua, a, "band", |x, y| x & y))?)?;
    bit.set("bor", lua.create_function(|lua, a: Variadic<Value>| fold(lua, a, "bor", |x, y| x | y))?)?;
    bit.set("bxor", lua.create_function(|lua, a: Variadic<Value>| fold(lua, a, "bxor", |x, y| x ^ y))?)?;
    type Shift = fn(u32, u32) -> u32;
    let shifts: [(&str, Shift); 5] = [
        ("lshift", |b, n| b << n),
        ("rshift", |b, n| b >> n),
        ("arshift", |b, n| ((b as i32) >> n) as u32),
        ("rol", |b, n| b.rotate_left(n)),
        ("ror", |b, n| b.rotate_right(n)),
    ];
    for (name, shift) in shifts {
        let f = lua.create_function(move |lua, (b, n): (Value, Value)| {
            let b = barg(lua, b, 1, name)?;
            let n = barg(lua, n, 2, name)? & 31;
            Ok(bret(shift(b, n)))
        })?;
        bit.set(name, f)?;
    }
    bit.set("bswap", lua.create_function(|lua, v: Value| Ok(bret(barg(lua, v, 1, "bswap")?.swap_bytes())))?)?;
    bit.set(
        "tohex",
        lua.create_function(|lua, (b, n): (Value, Option<Value>)| {
            let mut b = barg(lua, b, 1, "tohex")?;
            let mut n = match n {
                Some(n) => barg(lua, n, 2, "tohex")? as i32,
                None => 8,
            };
            // Redis's fix: -INT32_MIN overflows.
            if n == i32::MIN {
                n = i32::MIN + 1;
            }
            let digits: &[u8; 16] = if n < 0 { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
            let n = n.unsigned_abs().min(8) as usize;
            let mut buf = [0u8; 8];
            for slot in buf[..n].iter_mut().rev() {
                *slot = digits[(b & 15) as usize];
                b >>= 4;
            }
            lua.create_string(&buf[..n])
        })?,
    )?;
    Ok(bit)
}
