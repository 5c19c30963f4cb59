//! Bitmap commands (Redis's bitops.c): SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO, on the
//! same string values as the string commands. The bit arithmetic lives in `keel_store::bitmap`.

use super::key::{self, KeyFlags};
use super::strings::into_bytes;
use super::{int_arg, is, CmdError, CmdResult, Ctx, SYNTAX, WRONGTYPE};
use crate::notify;
use keel_protocol::ReplyWriter;
use keel_store::bitmap::{self, Overflow};
use keel_store::{CompactBytes, Db, Expiry, StrRef, Value};
use std::borrow::Cow;

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// A bit offset argument; `#n` counts in fields of `hash_bits` (BITFIELD). Offsets must address a byte
/// below `proto-max-bulk-len`.
fn bit_offset(ctx: &Ctx, arg: &[u8], hash_bits: Option<u32>) -> Result<u64, CmdError> {
    let (digits, multiplier) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], bits as i64),
        _ => (arg, 1),
    };
    let offset = keel_store::number::parse_i64(digits)
        .and_then(|n| n.checked_mul(multiplier))
        .filter(|n| *n >= 0 && (*n as u64 >> 3) < ctx.max_string_len())
        .ok_or(CmdError(Cow::Borrowed(BAD_OFFSET)))?;
    Ok(offset as u64)
}

/// Looks `key` up for reading and checks it holds a string (WRONGTYPE otherwise).
fn string_slot(ctx: &mut Ctx, key: &[u8]) -> Result<Option<usize>, CmdError> {
    match ctx.lookup_read(key) {
        Some(slot) => {
            ctx.db().value(slot).as_string().ok_or(WRONGTYPE)?;
            Ok(Some(slot))
        }
        None => Ok(None),
    }
}

/// The bytes of the string at `slot` of the client's database (type-checked by [`string_slot`]).
fn bytes_at<'k>(ctx: &'k Ctx, slot: usize) -> Cow<'k, [u8]> {
    string_bytes(&ctx.ks.dbs[ctx.session.db], slot)
}

fn string_bytes(db: &Db, slot: usize) -> Cow<'_, [u8]> {
    match db.value(slot).as_string() {
        Some(StrRef::Raw(bytes)) => Cow::Borrowed(bytes),
        Some(StrRef::Int(n)) => Cow::Owned(n.to_string().into_bytes()),
        None => Cow::Borrowed(&[]),
    }
}

/// Runs `change` on the string at `key`, created or zero-padded to at least `min_len` bytes (Redis's
/// lookupStringForBitCommand). Also tells whether the string was created or grew.
fn write_bits<R>(
    ctx: &mut Ctx,
    key: &[u8],
    min_len: usize,
    change: impl FnOnce(&mut [u8]) -> R,
) -> Result<(R, bool), CmdError> {
    match ctx.lookup_write(key) {
        Some(slot) => {
            ctx.db().value(slot).as_string().ok_or(WRONGTYPE)?;
            Ok(ctx.db().update(slot, |value| {
                let mut bytes = into_bytes(std::mem::replace(value, Value::Int(0)));
                let grew = bytes.len() < min_len;
                if grew {
                    bytes.resize(min_len, 0);
                }
                let result = change(&mut bytes);
                *value = Value::Str(CompactBytes::from_vec(bytes));
                (result, grew)
            }))
        }
        None => {
            let mut bytes = vec![0; min_len];
            let result = change(&mut bytes);
            let db = ctx.session.db;
            ctx.add_key(db, key, Value::Str(CompactBytes::from_vec(bytes)), Expiry::Clear);
            Ok((result, true))
        }
    }
}

pub fn setbit(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(ctx, args[2], None)?;
    let on = match args[3] {
        b"1" => true,
        b"0" => false,
        _ => return Err(CmdError::new("ERR bit is not an integer or out of range")),
    };
    let (old, grew) = write_bits(ctx, args[1], (offset >> 3) as usize + 1, |bytes| bitmap::set_bit(bytes, offset, on))?;
    // Only a change counts as one (for persistence and notifications).
    if grew || old != on {
        ctx.dirty(1);
        ctx.notify(notify::STRING, "setbit", args[1]);
    }
    ctx.out.int(old as i64);
    Ok(())
}

pub fn getbit(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(ctx, args[2], None)?;
    let bit = string_slot(ctx, args[1])?.is_some_and(|slot| bitmap::get_bit(&bytes_at(ctx, slot), offset));
    ctx.out.int(bit as i64);
    Ok(())
}

/// The bit range `[from, to]` that `start end [BYTE|BIT]` names in a string of `len` bytes (BITCOUNT,
/// BITPOS), with Redis's rules for negative and out-of-range indexes; None when it is empty.
fn bit_range(len: usize, start: i64, end: i64, in_bits: bool) -> Option<(u64, u64)> {
    let total = if in_bits { len as i64 * 8 } else { len as i64 };
    let resolve = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (resolve(start), resolve(end).min(total - 1));
    if start > end {
        return None;
    }
    Some(if in_bits { (start as u64, end as u64) } else { (start as u64 * 8, end as u64 * 8 + 7) })
}

/// `BYTE` or `BIT` at `args[at]`, if given.
fn in_bits(args: &[&[u8]], at: usize) -> Result<bool, CmdError> {
    match args.get(at) {
        None => Ok(false),
        Some(unit) if is(unit, "bit") => Ok(true),
        Some(unit) if is(unit, "byte") => Ok(false),
        Some(_) => Err(SYNTAX),
    }
}

pub fn bitcount(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let range = match args.len() {
        2 => None,
        4 | 5 => Some((int_arg(args[2])?, int_arg(args[3])?, in_bits(args, 4)?)),
        _ => return Err(SYNTAX),
    };
    let Some(slot) = string_slot(ctx, args[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let bytes = bytes_at(ctx, slot);
    keel_pace::bytes_ahead(bytes.len());
    let count = match range {
        None => bitmap::popcount(&bytes),
        // Both negative with start past end: empty, whatever the length (Redis checks this first).
        Some((start, end, _)) if start < 0 && end < 0 && start > end => 0,
        Some((start, end, unit)) => {
            bit_range(bytes.len(), start, end, unit).map_or(0, |(from, to)| bitmap::count_bits(&bytes, from, to))
        }
    };
    ctx.out.int(count as i64);
    Ok(())
}

pub fn bitpos(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let bit = match int_arg(args[2])? {
        0 => false,
        1 => true,
        _ => return Err(CmdError::new("ERR The bit argument must be 1 or 0.")),
    };
    if args.len() > 6 {
        return Err(SYNTAX);
    }
    // Redis's order: start, then the unit, then end.
    let start = args.get(3).map(|a| int_arg(a)).transpose()?.unwrap_or(0);
    let unit = in_bits(args, 5)?;
    let end = args.get(4).map(|a| int_arg(a)).transpose()?;
    let Some(slot) = string_slot(ctx, args[1])? else {
        // A missing key is an endless run of zeros.
        ctx.out.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let bytes = bytes_at(ctx, slot);
    keel_pace::bytes_ahead(bytes.len());
    let end_given = end.is_some();
    let end = end.unwrap_or(-1);
    let pos = match bit_range(bytes.len(), start, end, unit) {
        None => -1,
        Some((from, to)) => match bitmap::first_bit(&bytes, bit, from, to) {
            Some(pos) => pos as i64,
            // Without an explicit end the string continues with zeros past its last byte.
            None if !bit && !end_given => to as i64 + 1,
            None => -1,
        },
    };
    ctx.out.int(pos);
    Ok(())
}

/// BITOP AND|OR|XOR|NOT, and Redis 8.2's DIFF (the first source's bits in none of the others), DIFF1 (the
/// others' bits not in the first), ANDOR (the first's bits in at least one other) and ONE (bits set in
/// exactly one source).
pub fn bitop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    #[derive(PartialEq, Clone, Copy)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
        Diff,
        Diff1,
        AndOr,
        One,
    }
    let op = match args[1] {
        a if is(a, "and") => Op::And,
        a if is(a, "or") => Op::Or,
        a if is(a, "xor") => Op::Xor,
        a if is(a, "not") => Op::Not,
        a if is(a, "diff") => Op::Diff,
        a if is(a, "diff1") => Op::Diff1,
        a if is(a, "andor") => Op::AndOr,
        a if is(a, "one") => Op::One,
        _ => return Err(SYNTAX),
    };
    if op == Op::Not && args.len() != 4 {
        return Err(CmdError::new("ERR BITOP NOT must be called with a single source key."));
    }
    if matches!(op, Op::Diff | Op::Diff1 | Op::AndOr) && args.len() < 5 {
        let name = String::from_utf8_lossy(args[1]).to_ascii_uppercase();
        return Err(CmdError::new(format!("ERR BITOP {name} must be called with at least two source keys.")));
    }
    let mut sources: Vec<Vec<u8>> = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        let slot = string_slot(ctx, key)?;
        sources.push(slot.map_or_else(Vec::new, |slot| bytes_at(ctx, slot).into_owned()));
    }
    let len = sources.iter().map(Vec::len).max().unwrap_or(0);
    keel_pace::bytes_ahead(len * sources.len());
    let mut result = std::mem::take(&mut sources[0]);
    // Shorter strings are padded with zeros.
    result.resize(len, 0);
    let byte = |source: &Vec<u8>, i: usize| source.get(i).copied().unwrap_or(0);
    match op {
        Op::Not => result.iter_mut().for_each(|b| *b = !*b),
        Op::And => {
            for source in &sources[1..] {
                result.iter_mut().enumerate().for_each(|(i, b)| *b &= byte(source, i));
            }
        }
        Op::Or | Op::Xor => {
            for source in &sources[1..] {
                for (b, s) in result.iter_mut().zip(source) {
                    if op == Op::Or {
                        *b |= s;
                    } else {
                        *b ^= s;
                    }
                }
            }
        }
        Op::Diff | Op::Diff1 | Op::AndOr => {
            // The first source against the disjunction of all the others.
            for (i, b) in result.iter_mut().enumerate() {
                let others = sources[1..].iter().fold(0u8, |acc, source| acc | byte(source, i));
                *b = match op {
                    Op::Diff => *b & !others,
                    Op::Diff1 => !*b & others,
                    _ => *b & others,
                };
            }
        }
        Op::One => {
            // XOR, less every bit seen in two sources or more.
            for (i, b) in result.iter_mut().enumerate() {
                let mut common = 0u8;
                for source in &sources[1..] {
                    common |= *b & byte(source, i);
                    *b = (*b ^ byte(source, i)) & !common;
                }
            }
        }
    }
    let value = (len > 0).then(|| Value::Str(CompactBytes::from_vec(result)));
    ctx.replace_key(args[2], value, (notify::STRING, "set"));
    ctx.out.int(len as i64);
    Ok(())
}

/// One BITFIELD operation.
struct FieldOp {
    kind: FieldOpKind,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

enum FieldOpKind {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// `i<bits>` (1 to 64) or `u<bits>` (1 to 63).
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let bad = || CmdError(Cow::Borrowed(BAD_TYPE));
    let signed = match arg.first() {
        Some(b'i' | b'I') => true,
        Some(b'u' | b'U') => false,
        _ => return Err(bad()),
    };
    let bits = keel_store::number::parse_i64(&arg[1..]).ok_or_else(bad)?;
    if bits < 1 || bits > if signed { 64 } else { 63 } {
        return Err(bad());
    }
    Ok((signed, bits as u32))
}

fn parse_bitfield(ctx: &Ctx, args: &[&[u8]]) -> Result<Vec<FieldOp>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let remaining = args.len() - j - 1;
        let name = args[j];
        if is(name, "overflow") && remaining >= 1 {
            overflow = match args[j + 1] {
                a if is(a, "wrap") => Overflow::Wrap,
                a if is(a, "sat") => Overflow::Sat,
                a if is(a, "fail") => Overflow::Fail,
                _ => return Err(CmdError::new("ERR Invalid OVERFLOW type specified")),
            };
            j += 2;
            continue;
        }
        let takes_value = if is(name, "get") && remaining >= 2 {
            false
        } else if (is(name, "set") || is(name, "incrby")) && remaining >= 3 {
            true
        } else {
            return Err(SYNTAX);
        };
        let (signed, bits) = field_type(args[j + 1])?;
        let offset = bit_offset(ctx, args[j + 2], Some(bits))?;
        let kind = if !takes_value {
            FieldOpKind::Get
        } else if is(name, "set") {
            FieldOpKind::Set(int_arg(args[j + 3])?)
        } else {
            FieldOpKind::IncrBy(int_arg(args[j + 3])?)
        };
        ops.push(FieldOp { kind, signed, bits, offset, overflow });
        j += if takes_value { 4 } else { 3 };
    }
    Ok(ops)
}

pub fn bitfield(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, args, false)
}

pub fn bitfield_ro(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, args, true)
}

fn bitfield_generic(ctx: &mut Ctx, args: &[&[u8]], read_only: bool) -> CmdResult {
    let ops = parse_bitfield(ctx, args)?;
    let highest =
        ops.iter().filter(|op| !matches!(op.kind, FieldOpKind::Get)).map(|op| op.offset + op.bits as u64 - 1).max();
    let Some(highest) = highest else {
        // Only reads: a missing key reads as zeros.
        let slot = string_slot(ctx, args[1])?;
        let db = &ctx.ks.dbs[ctx.session.db];
        let bytes = slot.map_or(Cow::Borrowed(&[][..]), |slot| string_bytes(db, slot));
        ctx.out.array(ops.len());
        for op in &ops {
            read_field(ctx.out, &bytes, op);
        }
        return Ok(());
    };
    if read_only {
        return Err(CmdError::new("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    let (replies, grew) = write_bits(ctx, args[1], (highest >> 3) as usize + 1, |bytes| {
        ops.iter().map(|op| apply_field(bytes, op)).collect::<Vec<_>>()
    })?;
    // A write counts as a change when it changed the field or the string had to grow.
    let changes = replies.iter().filter(|r| matches!(r, FieldReply::Wrote(_, changed) if *changed || grew)).count();
    ctx.dirty(changes as u64);
    if changes > 0 {
        ctx.notify(notify::STRING, "setbit", args[1]);
    }
    ctx.out.array(replies.len());
    for reply in replies {
        match reply {
            FieldReply::Read(n) | FieldReply::Wrote(n, _) => ctx.out.int(n),
            FieldReply::Failed => ctx.out.null(),
        }
    }
    Ok(())
}

fn read_field(out: &mut ReplyWriter, bytes: &[u8], op: &FieldOp) {
    if op.signed {
        out.int(bitmap::get_signed(bytes, op.offset, op.bits));
    } else {
        out.int(bitmap::get_unsigned(bytes, op.offset, op.bits) as i64);
    }
}

/// What one BITFIELD operation answers: a value read, a value written (and whether the field changed), or
/// null for an overflow under `OVERFLOW FAIL`.
enum FieldReply {
    Read(i64),
    Wrote(i64, bool),
    Failed,
}

fn apply_field(bytes: &mut [u8], op: &FieldOp) -> FieldReply {
    let (offset, bits) = (op.offset, op.bits);
    // (reply, new value) in the field's own type, or None under FAIL.
    let outcome = if op.signed {
        let old = bitmap::get_signed(bytes, offset, bits);
        match op.kind {
            FieldOpKind::Get => return FieldReply::Read(old),
            FieldOpKind::Set(value) => bitmap::add_signed(value, 0, bits, op.overflow).map(|new| (old, new as u64)),
            FieldOpKind::IncrBy(incr) => bitmap::add_signed(old, incr, bits, op.overflow).map(|new| (new, new as u64)),
        }
        .map(|(reply, new)| (reply, old as u64, new))
    } else {
        let old = bitmap::get_unsigned(bytes, offset, bits);
        match op.kind {
            FieldOpKind::Get => return FieldReply::Read(old as i64),
            // A SET value is taken as the unsigned number with the same bits.
            FieldOpKind::Set(value) => {
                bitmap::add_unsigned(value as u64, 0, bits, op.overflow).map(|new| (old as i64, new))
            }
            FieldOpKind::IncrBy(incr) => {
                bitmap::add_unsigned(old, incr, bits, op.overflow).map(|new| (new as i64, new))
            }
        }
        .map(|(reply, new)| (reply, old, new))
    };
    match outcome {
        Some((reply, old, new)) => {
            bitmap::set_field(bytes, offset, bits, new);
            FieldReply::Wrote(reply, old != new)
        }
        None => FieldReply::Failed,
    }
}

/// BITFIELD's key and what it does to it (Redis's bitfieldGetKeys): only GETs read it; a SET, an INCRBY or
/// anything unreadable may write it.
pub fn bitfield_keys(args: &[&[u8]]) -> Vec<(usize, KeyFlags)> {
    let mut i = 2;
    let mut read_only = true;
    while i < args.len() {
        let remaining = args.len() - i - 1;
        if is(args[i], "get") && remaining >= 2 {
            i += 3;
        } else if is(args[i], "overflow") && remaining >= 1 {
            i += 2;
        } else {
            read_only = false;
            break;
        }
    }
    vec![(1, if read_only { key::RO | key::ACCESS } else { key::RW | key::ACCESS | key::UPDATE })]
}
