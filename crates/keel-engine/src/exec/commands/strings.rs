//! String commands (Redis's t_string.c): GET/SET and their variants, counters, ranges and LCS.

use super::key::{self, KeyFlags};
use super::{int_arg, is, CmdError, CmdResult, Ctx, NOT_INTEGER, SYNTAX, WRONGTYPE};
use crate::notify;
use keel_store::long_double::LongDouble;
use keel_store::number::parse_i64;
use keel_store::{Expiry, StrRef, Value};

const TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/// Writes the string at `slot` as a bulk reply.
fn reply_string(ctx: &mut Ctx, slot: usize) -> CmdResult {
    let db = &ctx.ks.dbs[ctx.session.db];
    match db.value(slot).as_string().ok_or(WRONGTYPE)? {
        StrRef::Raw(bytes) => ctx.out.bulk(bytes),
        StrRef::Int(n) => ctx.out.bulk_int(n),
    }
    Ok(())
}

/// Replies with the string value of `key`, or null; WRONGTYPE for other types.
fn reply_get(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    match ctx.lookup_read(key) {
        Some(slot) => reply_string(ctx, slot),
        None => {
            ctx.out.null();
            Ok(())
        }
    }
}

pub fn get(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    reply_get(ctx, args[1])
}

/// How SET-like commands were asked to treat the TTL.
#[derive(Clone, Copy, PartialEq)]
enum TtlOption {
    None,
    Keep,
    Persist,
    /// Relative (EX/PX) or absolute (EXAT/PXAT) time, in the unit given.
    Time {
        millis_factor: i64,
        absolute: bool,
    },
}

struct SetOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    ttl: TtlOption,
    ttl_arg: Option<&'a [u8]>,
}

impl SetOptions<'_> {
    /// The absolute expiry the options ask for, if any.
    fn expire_at(&self, ctx: &Ctx) -> Result<Option<u64>, CmdError> {
        match (self.ttl, self.ttl_arg) {
            (TtlOption::Time { millis_factor, absolute }, Some(arg)) => {
                Ok(Some(expire_at_ms(ctx, arg, millis_factor, absolute)?))
            }
            _ => Ok(None),
        }
    }
}

/// Redis's `parseExtendedStringArgumentsOrReply`, for SET (`is_set`) and GETEX.
fn parse_set_options<'a>(args: &[&'a [u8]], is_set: bool) -> Result<SetOptions<'a>, CmdError> {
    let mut o = SetOptions { nx: false, xx: false, get: false, ttl: TtlOption::None, ttl_arg: None };
    let mut j = if is_set { 3 } else { 2 };
    while j < args.len() {
        let opt = args[j];
        let next = args.get(j + 1).copied();
        let has_time = matches!(o.ttl, TtlOption::Time { .. });
        let time_kind = |factor, absolute| TtlOption::Time { millis_factor: factor, absolute };
        if is_set && is(opt, "nx") && !o.xx {
            o.nx = true;
        } else if is_set && is(opt, "xx") && !o.nx {
            o.xx = true;
        } else if is_set && is(opt, "get") {
            o.get = true;
        } else if is_set && is(opt, "keepttl") && !has_time {
            o.ttl = TtlOption::Keep;
        } else if !is_set && is(opt, "persist") && !has_time {
            o.ttl = TtlOption::Persist;
        } else if let (Some(next), true) = (next, !matches!(o.ttl, TtlOption::Keep | TtlOption::Persist)) {
            // A second time option of the same kind replaces the first, as in Redis.
            let kind = if is(opt, "ex") {
                time_kind(1000, false)
            } else if is(opt, "px") {
                time_kind(1, false)
            } else if is(opt, "exat") {
                time_kind(1000, true)
            } else if is(opt, "pxat") {
                time_kind(1, true)
            } else {
                return Err(SYNTAX);
            };
            if has_time && o.ttl != kind {
                return Err(SYNTAX);
            }
            o.ttl = kind;
            o.ttl_arg = Some(next);
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

/// Converts an expire argument to an absolute Unix time in ms, with Redis's checks and error text.
fn expire_at_ms(ctx: &Ctx, arg: &[u8], millis_factor: i64, absolute: bool) -> Result<u64, CmdError> {
    let invalid = || CmdError::new(format!("ERR invalid expire time in '{}' command", ctx.command.fullname));
    let value = int_arg(arg)?;
    if value <= 0 || (millis_factor == 1000 && value > i64::MAX / 1000) {
        return Err(invalid());
    }
    let mut ms = value * millis_factor;
    if !absolute {
        ms = ms.checked_add(ctx.now_ms() as i64).ok_or_else(invalid)?;
    }
    Ok(ms as u64)
}

pub fn set(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let o = parse_set_options(args, true)?;
    let expire = o.expire_at(ctx)?;
    set_generic(ctx, args[1], args[2], &o, expire)
}

/// SET and the commands that are SET with fixed options (SETEX, PSETEX, GETSET), `expire` the absolute
/// moment `o` asks for.
fn set_generic(ctx: &mut Ctx, key: &[u8], value: &[u8], o: &SetOptions, expire: Option<u64>) -> CmdResult {
    let (nx, xx, get, keep_ttl) = (o.nx, o.xx, o.get, o.ttl == TtlOption::Keep);
    let found = if get {
        // The GET option replies with the old value first; a non-string aborts the SET.
        let slot = ctx.lookup_read(key);
        match slot {
            Some(slot) => reply_string(ctx, slot)?,
            None => ctx.out.null(),
        }
        slot
    } else {
        ctx.lookup_write(key)
    };
    if (nx && found.is_some()) || (xx && found.is_none()) {
        if !get {
            ctx.out.null();
        }
        return Ok(());
    }
    let expiry = match (expire, keep_ttl) {
        (Some(at), _) => Expiry::At(at),
        (None, true) => Expiry::Keep,
        (None, false) => Expiry::Clear,
    };
    let clock = ctx.clock;
    match found {
        Some(slot) => ctx.db().overwrite_string(slot, value, expiry, &clock),
        None => {
            let db = ctx.session.db;
            ctx.add_key(db, key, Value::string(value), expiry);
        }
    }
    ctx.dirty(1);
    ctx.notify(notify::STRING, "set", key);
    if let Some(at) = expire {
        ctx.notify(notify::GENERIC, "expire", key);
        // A relative TTL would mean another moment when replayed: the log gets the absolute one (a SET
        // that named it with PXAT goes as it came, as in Redis).
        if o.ttl != (TtlOption::Time { millis_factor: 1, absolute: true }) {
            ctx.propagate(&[b"SET", key, value, b"PXAT", at.to_string().as_bytes()]);
        }
    }
    if !get {
        ctx.out.ok();
    }
    Ok(())
}

pub fn setnx(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if ctx.lookup_write(args[1]).is_some() {
        ctx.out.int(0);
        return Ok(());
    }
    let db = ctx.session.db;
    ctx.add_key(db, args[1], Value::string(args[2]), Expiry::Clear);
    ctx.dirty(1);
    ctx.notify(notify::STRING, "set", args[1]);
    ctx.out.int(1);
    Ok(())
}

pub fn setex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    set_with_ttl(ctx, args, 1000)
}

pub fn psetex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    set_with_ttl(ctx, args, 1)
}

/// `SETEX`/`PSETEX key ttl value`: a SET with a relative TTL in seconds or milliseconds.
fn set_with_ttl(ctx: &mut Ctx, args: &[&[u8]], millis_factor: i64) -> CmdResult {
    let at = expire_at_ms(ctx, args[2], millis_factor, false)?;
    let ttl = TtlOption::Time { millis_factor, absolute: false };
    let o = SetOptions { nx: false, xx: false, get: false, ttl, ttl_arg: Some(args[2]) };
    set_generic(ctx, args[1], args[3], &o, Some(at))
}

pub fn getex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let o = parse_set_options(args, false)?;
    let expire = o.expire_at(ctx)?;
    let Some(slot) = ctx.lookup_read(args[1]) else {
        ctx.out.null();
        return Ok(());
    };
    reply_string(ctx, slot)?;
    let now = ctx.now_ms();
    let key = args[1];
    match (expire, o.ttl) {
        (Some(at), _) if at <= now => {
            ctx.db().remove_slot(slot);
            ctx.dirty(1);
            ctx.notify(notify::GENERIC, "del", key);
            ctx.propagate(&[b"DEL", key]);
        }
        (Some(at), _) => {
            ctx.db().set_expire(slot, Some(at));
            ctx.dirty(1);
            ctx.notify(notify::GENERIC, "expire", key);
            ctx.propagate(&[b"PEXPIREAT", key, at.to_string().as_bytes()]);
        }
        (None, TtlOption::Persist) if ctx.db().expire_at(slot).is_some() => {
            ctx.db().set_expire(slot, None);
            ctx.dirty(1);
            ctx.notify(notify::GENERIC, "persist", key);
            ctx.propagate(&[b"PERSIST", key]);
        }
        _ => {}
    }
    Ok(())
}

pub fn getdel(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let Some(slot) = ctx.lookup_read(args[1]) else {
        ctx.out.null();
        return Ok(());
    };
    reply_string(ctx, slot)?;
    ctx.db().remove_slot(slot);
    ctx.dirty(1);
    ctx.notify(notify::GENERIC, "del", args[1]);
    ctx.propagate(&[&b"DEL"[..], args[1]]);
    Ok(())
}

pub fn getset(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let o = SetOptions { nx: false, xx: false, get: true, ttl: TtlOption::None, ttl_arg: None };
    set_generic(ctx, args[1], args[2], &o, None)
}

pub fn mget(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ctx.prefetch_keys(args[1..].iter());
    ctx.out.array(args.len() - 1);
    for key in &args[1..] {
        let found = ctx.lookup_read(key);
        let db = &ctx.ks.dbs[ctx.session.db];
        match found.and_then(|slot| db.value(slot).as_string()) {
            Some(StrRef::Raw(bytes)) => ctx.out.bulk(bytes),
            Some(StrRef::Int(n)) => ctx.out.bulk_int(n),
            // MGET answers null for keys of other types rather than failing.
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn check_pairs(ctx: &Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::new(format!("ERR wrong number of arguments for '{}' command", ctx.command.fullname)));
    }
    Ok(())
}

pub fn mset(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    check_pairs(ctx, args)?;
    ctx.prefetch_keys(args[1..].iter().step_by(2));
    set_pairs(ctx, args);
    ctx.out.ok();
    Ok(())
}

pub fn msetnx(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    check_pairs(ctx, args)?;
    ctx.prefetch_keys(args[1..].iter().step_by(2));
    for pair in args[1..].chunks_exact(2) {
        if ctx.lookup_write(pair[0]).is_some() {
            ctx.out.int(0);
            return Ok(());
        }
    }
    set_pairs(ctx, args);
    ctx.out.int(1);
    Ok(())
}

fn set_pairs(ctx: &mut Ctx, args: &[&[u8]]) {
    let (clock, db) = (ctx.clock, ctx.session.db);
    for pair in args[1..].chunks_exact(2) {
        match ctx.lookup_write(pair[0]) {
            Some(slot) => ctx.db().overwrite(slot, Value::string(pair[1]), Expiry::Clear, &clock),
            None => {
                ctx.add_key(db, pair[0], Value::string(pair[1]), Expiry::Clear);
            }
        }
        ctx.notify(notify::STRING, "set", pair[0]);
    }
    ctx.dirty((args.len() / 2) as u64);
}

pub fn append(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, suffix) = (args[1], args[2]);
    let max = ctx.max_string_len();
    let new_len = match ctx.lookup_write(key) {
        None => {
            let db = ctx.session.db;
            ctx.add_key(db, key, Value::string(suffix), Expiry::Clear);
            suffix.len()
        }
        Some(slot) => {
            let current = ctx.db().value(slot).as_string().ok_or(WRONGTYPE)?;
            if (current.len() + suffix.len()) as u64 > max {
                return Err(CmdError::new(TOO_BIG));
            }
            ctx.db().update(slot, |value| {
                let mut bytes = into_bytes(std::mem::replace(value, Value::Int(0)));
                bytes.extend_from_slice(suffix);
                let len = bytes.len();
                // An appended string stays raw, as in Redis (APPEND "1" "2" is not re-encoded as an integer).
                *value = Value::Str(keel_store::CompactBytes::from_vec(bytes));
                len
            })
        }
    };
    ctx.dirty(1);
    ctx.notify(notify::STRING, "append", key);
    ctx.out.int(new_len as i64);
    Ok(())
}

/// The bytes of a string value (which callers have type-checked), without copying long strings.
pub(super) fn into_bytes(value: Value) -> Vec<u8> {
    match value {
        Value::Str(s) => s.into_vec(),
        other => other.as_string().map_or_else(Vec::new, |s| s.to_bytes().into_owned()),
    }
}

pub fn strlen(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let len = match ctx.lookup_read(args[1]) {
        Some(slot) => ctx.db().value(slot).as_string().ok_or(WRONGTYPE)?.len(),
        None => 0,
    };
    ctx.out.int(len as i64);
    Ok(())
}

fn incr_by(ctx: &mut Ctx, key: &[u8], delta: i64) -> CmdResult {
    let current = match ctx.lookup_write(key) {
        Some(slot) => match ctx.db().value(slot).as_string().ok_or(WRONGTYPE)? {
            StrRef::Int(n) => Some((slot, n)),
            StrRef::Raw(bytes) => Some((slot, parse_i64(bytes).ok_or(NOT_INTEGER)?)),
        },
        None => None,
    };
    let old = current.map_or(0, |(_, n)| n);
    let new = old.checked_add(delta).ok_or_else(|| CmdError::new("ERR increment or decrement would overflow"))?;
    match current {
        Some((slot, _)) => {
            ctx.db().replace(slot, Value::Int(new));
        }
        None => {
            let db = ctx.session.db;
            ctx.add_key(db, key, Value::Int(new), Expiry::Clear);
        }
    }
    ctx.dirty(1);
    ctx.notify(notify::STRING, "incrby", key);
    ctx.out.int(new);
    Ok(())
}

pub fn incr(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    incr_by(ctx, args[1], 1)
}

pub fn decr(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    incr_by(ctx, args[1], -1)
}

pub fn incrby(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let delta = int_arg(args[2])?;
    incr_by(ctx, args[1], delta)
}

pub fn decrby(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let delta = int_arg(args[2])?;
    if delta == i64::MIN {
        return Err(CmdError::new("ERR decrement would overflow"));
    }
    incr_by(ctx, args[1], -delta)
}

pub fn incrbyfloat(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let key = args[1];
    let delta = LongDouble::parse(args[2]).ok_or(super::NOT_FLOAT)?;
    let slot = ctx.lookup_write(key);
    let old = match slot {
        Some(slot) => match ctx.db().value(slot).as_string().ok_or(WRONGTYPE)? {
            StrRef::Int(n) => LongDouble::from_i64(n),
            StrRef::Raw(bytes) => LongDouble::parse(bytes).ok_or(super::NOT_FLOAT)?,
        },
        None => LongDouble::from_i64(0),
    };
    let new = old + delta;
    if !new.is_finite() {
        return Err(CmdError::new("ERR increment would produce NaN or Infinity"));
    }
    let text = new.to_human();
    // The result is stored as a string, never re-encoded as an integer (Redis stores the printed form).
    let value = Value::Str(keel_store::CompactBytes::new(text.as_bytes()));
    match slot {
        Some(slot) => {
            ctx.db().replace(slot, value);
        }
        None => {
            let db = ctx.session.db;
            ctx.add_key(db, key, value, Expiry::Clear);
        }
    }
    ctx.dirty(1);
    ctx.notify(notify::STRING, "incrbyfloat", key);
    // Float arithmetic replayed elsewhere could print another result: the log gets the value it produced.
    ctx.propagate(&[b"SET", key, text.as_bytes(), b"KEEPTTL"]);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

pub fn getrange(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (mut start, mut end) = (int_arg(args[2])?, int_arg(args[3])?);
    let Some(slot) = ctx.lookup_read(args[1]) else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    let value = ctx.ks.dbs[ctx.session.db].value(slot).as_string().ok_or(WRONGTYPE)?;
    let bytes = value.to_bytes();
    let len = bytes.len() as i64;
    if start < 0 && end < 0 && start > end {
        ctx.out.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        ctx.out.bulk(b"");
    } else {
        ctx.out.bulk(&bytes[start as usize..=end as usize]);
    }
    Ok(())
}

pub fn setrange(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, value) = (args[1], args[3]);
    let offset = int_arg(args[2])?;
    if offset < 0 {
        return Err(CmdError::new("ERR offset is out of range"));
    }
    let offset = offset as u64;
    let max = ctx.max_string_len();
    let slot = ctx.lookup_write(key);
    let current_len = match slot {
        Some(slot) => ctx.db().value(slot).as_string().ok_or(WRONGTYPE)?.len(),
        None => 0,
    };
    if value.is_empty() {
        ctx.out.int(current_len as i64);
        return Ok(());
    }
    if offset + value.len() as u64 > max {
        return Err(CmdError::new(TOO_BIG));
    }
    let write = |bytes: &mut Vec<u8>| {
        let end = offset as usize + value.len();
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[offset as usize..end].copy_from_slice(value);
        bytes.len()
    };
    let new_len = match slot {
        Some(slot) => ctx.db().update(slot, |v| {
            let mut bytes = into_bytes(std::mem::replace(v, Value::Int(0)));
            let len = write(&mut bytes);
            *v = Value::Str(keel_store::CompactBytes::from_vec(bytes));
            len
        }),
        None => {
            let mut bytes = Vec::new();
            let len = write(&mut bytes);
            let db = ctx.session.db;
            ctx.add_key(db, key, Value::Str(keel_store::CompactBytes::from_vec(bytes)), Expiry::Clear);
            len
        }
    };
    ctx.dirty(1);
    ctx.notify(notify::STRING, "setrange", key);
    ctx.out.int(new_len as i64);
    Ok(())
}

pub fn lcs(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (mut get_len, mut get_idx, mut with_match_len, mut min_match_len) = (false, false, false, 0u64);
    let mut j = 3;
    while j < args.len() {
        if is(args[j], "len") {
            get_len = true;
        } else if is(args[j], "idx") {
            get_idx = true;
        } else if is(args[j], "withmatchlen") {
            with_match_len = true;
        } else if is(args[j], "minmatchlen") && j + 1 < args.len() {
            min_match_len = int_arg(args[j + 1])?.max(0) as u64;
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let fetch = |ctx: &mut Ctx, key: &[u8]| -> Result<Vec<u8>, CmdError> {
        match ctx.lookup_read(key) {
            None => Ok(Vec::new()),
            Some(slot) => ctx.ks.dbs[ctx.session.db]
                .value(slot)
                .as_string()
                .map(|s| s.to_bytes().into_owned())
                .ok_or_else(|| CmdError::new("ERR The specified keys must contain string values")),
        }
    };
    let a = fetch(ctx, args[1])?;
    let b = fetch(ctx, args[2])?;
    if get_len && get_idx {
        return Err(CmdError::new("ERR If you want both the length and indexes, please just use IDX."));
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > ctx.max_string_len() {
        return Err(CmdError::new("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"));
    }
    let dp = lcs_table(&a, &b);
    let total = dp[alen * (blen + 1) + blen];
    if get_len {
        ctx.out.int(total as i64);
        return Ok(());
    }
    let (common, ranges) = walk_back(&a, &b, &dp, total as usize, min_match_len);
    if !get_idx {
        ctx.out.bulk(&common);
        return Ok(());
    }
    ctx.out.map(2);
    ctx.out.bulk(b"matches");
    ctx.out.array(ranges.len());
    for [a0, a1, b0, b1, len] in ranges {
        ctx.out.array(if with_match_len { 3 } else { 2 });
        ctx.out.array(2);
        ctx.out.int(a0 as i64);
        ctx.out.int(a1 as i64);
        ctx.out.array(2);
        ctx.out.int(b0 as i64);
        ctx.out.int(b1 as i64);
        if with_match_len {
            ctx.out.int(len as i64);
        }
    }
    ctx.out.bulk(b"len");
    ctx.out.int(total as i64);
    Ok(())
}

/// LCS's dynamic-programming table: cell `(i, j)` (row width `b.len() + 1`) holds the length of the
/// longest common subsequence of `a[..i]` and `b[..j]`.
fn lcs_table(a: &[u8], b: &[u8]) -> Vec<u32> {
    let width = b.len() + 1;
    let mut dp = vec![0u32; (a.len() + 1) * width];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            dp[i * width + j] = if a[i - 1] == b[j - 1] {
                dp[(i - 1) * width + j - 1] + 1
            } else {
                dp[(i - 1) * width + j].max(dp[i * width + j - 1])
            };
        }
    }
    dp
}

/// Walks the table back from the end, as Redis's lcsCommand does: the common string (`total` bytes) and
/// the matching ranges `[a_start, a_end, b_start, b_end, len]`, newest first, of at least `min_match_len`.
fn walk_back(a: &[u8], b: &[u8], dp: &[u32], total: usize, min_match_len: u64) -> (Vec<u8>, Vec<[usize; 5]>) {
    let width = b.len() + 1;
    let mut result = vec![0u8; total];
    let mut ranges: Vec<[usize; 5]> = Vec::new();
    let (mut i, mut j, mut idx) = (a.len(), b.len(), total);
    let unset = a.len();
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (unset, 0, 0, 0);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if a_start == unset {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if dp[(i - 1) * width + j] > dp[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != unset {
                emit = true;
            }
        }
        if emit {
            let match_len = a_end - a_start + 1;
            if min_match_len == 0 || match_len as u64 >= min_match_len {
                ranges.push([a_start, a_end, b_start, b_end, match_len]);
            }
            a_start = unset;
        }
    }
    (result, ranges)
}

/// SET's key and what SET does to it (Redis's setGetKeys): with GET it reads the old value, without it
/// only overwrites.
pub fn set_keys(args: &[&[u8]]) -> Vec<(usize, KeyFlags)> {
    let reads = args.iter().skip(3).any(|a| is(a, "get"));
    vec![(1, if reads { key::RW | key::ACCESS | key::UPDATE } else { key::OW | key::UPDATE })]
}
