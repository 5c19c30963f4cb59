//! Generic key commands (Redis's db.c and expire.c): existence, deletion, renaming, copying between
//! databases, TTLs, KEYS/SCAN/RANDOMKEY, and OBJECT introspection.

use super::{
    int_arg, is, reply_scan_page, scan_args, CmdError, CmdResult, Ctx, ScanArgs, ScanOf, DB_OUT_OF_RANGE, NOT_INTEGER,
    NO_SUCH_KEY, SYNTAX,
};
use crate::notify;
use keel_store::{glob, Expiry, ValueKind};

/// DEL: frees values in place, or in the background as UNLINK does under `lazyfree-lazy-user-del`.
pub fn del(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let lazy = ctx.server.settings.read().lazyfree_lazy_user_del;
    remove_keys(ctx, args, lazy)
}

/// UNLINK: large values are freed by a background thread (`lazyfree`).
pub fn unlink(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    remove_keys(ctx, args, true)
}

fn remove_keys(ctx: &mut Ctx, args: &[&[u8]], lazy: bool) -> CmdResult {
    ctx.prefetch_keys(args[1..].iter());
    let mut removed = 0;
    for key in &args[1..] {
        if ctx.lookup_peek(key).is_none() {
            continue;
        }
        let Some(value) = ctx.db().remove(key) else { continue };
        if lazy {
            crate::lazyfree::free(value, &ctx.tenant.lazyfree);
        } else {
            crate::lazyfree::free_in_place(value);
        }
        removed += 1;
        ctx.notify(notify::GENERIC, "del", key);
    }
    ctx.dirty(removed);
    ctx.out.int(removed as i64);
    Ok(())
}

pub fn exists(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ctx.prefetch_keys(args[1..].iter());
    let count = args[1..].iter().filter(|key| ctx.lookup_read_untouched(key).is_some()).count();
    ctx.out.int(count as i64);
    Ok(())
}

pub fn touch(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ctx.prefetch_keys(args[1..].iter());
    let count = args[1..].iter().filter(|key| ctx.lookup_write(key).is_some()).count();
    ctx.out.int(count as i64);
    Ok(())
}

pub fn type_(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let name = match ctx.lookup_peek(args[1]) {
        Some(slot) => ctx.db().value(slot).kind().name(),
        None => "none",
    };
    ctx.out.simple(name);
    Ok(())
}

fn rename_generic(ctx: &mut Ctx, args: &[&[u8]], nx: bool) -> CmdResult {
    let (src, dst) = (args[1], args[2]);
    ctx.lookup_write(src).ok_or(NO_SUCH_KEY)?;
    if src == dst {
        if nx {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return Ok(());
    }
    if ctx.lookup_write(dst).is_some() {
        if nx {
            ctx.out.int(0);
            return Ok(());
        }
        ctx.db().remove(dst);
    }
    let Some(value) = ctx.db().remove_entry(src) else {
        return Err(NO_SUCH_KEY);
    };
    let (_, value, expire) = value;
    let db = ctx.session.db;
    ctx.add_key(db, dst, value, expire.map_or(Expiry::Clear, Expiry::At));
    ctx.dirty(1);
    ctx.notify(notify::GENERIC, "rename_from", src);
    ctx.notify(notify::GENERIC, "rename_to", dst);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

pub fn rename(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, args, false)
}

pub fn renamenx(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, args, true)
}

/// A database index argument, checked against the configured number of databases.
fn db_index(ctx: &Ctx, arg: &[u8]) -> Result<usize, CmdError> {
    let index = int_arg(arg).map_err(|_| NOT_INTEGER)?;
    if index < 0 || index as usize >= ctx.ks.dbs.len() {
        return Err(DB_OUT_OF_RANGE);
    }
    Ok(index as usize)
}

pub fn copy(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (src, dst) = (args[1], args[2]);
    let mut target = ctx.session.db;
    let mut replace = false;
    let mut j = 3;
    while j < args.len() {
        if is(args[j], "replace") {
            replace = true;
        } else if is(args[j], "db") && j + 1 < args.len() {
            target = db_index(ctx, args[j + 1])?;
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    if src == dst && target == ctx.session.db {
        return Err(CmdError::new("ERR source and destination objects are the same"));
    }
    let Some(slot) = ctx.lookup_write(src) else {
        ctx.out.int(0);
        return Ok(());
    };
    let db = &ctx.ks.dbs[ctx.session.db];
    crate::lazyfree::before_walking(db.value(slot));
    let (value, expire) = (db.value(slot).clone(), db.expire_at(slot));
    let now = ctx.now_ms();
    ctx.ks.note_other_dbs();
    let target_db = &mut ctx.ks.dbs[target];
    if target_db.find_live(dst, now).0.is_some() {
        if !replace {
            ctx.out.int(0);
            return Ok(());
        }
        target_db.remove(dst);
    }
    ctx.add_key(target, dst, value, expire.map_or(Expiry::Clear, Expiry::At));
    ctx.dirty(1);
    ctx.notify_in(target, notify::GENERIC, "copy_to", dst);
    ctx.out.int(1);
    Ok(())
}

pub fn move_(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let key = args[1];
    let target = db_index(ctx, args[2])?;
    if target == ctx.session.db {
        return Err(CmdError::new("ERR source and destination objects are the same"));
    }
    if ctx.lookup_write(key).is_none() {
        ctx.out.int(0);
        return Ok(());
    }
    let now = ctx.now_ms();
    ctx.ks.note_other_dbs();
    if ctx.ks.dbs[target].find_live(key, now).0.is_some() {
        ctx.out.int(0);
        return Ok(());
    }
    let Some((_, value, expire)) = ctx.db().remove_entry(key) else {
        ctx.out.int(0);
        return Ok(());
    };
    ctx.add_key(target, key, value, expire.map_or(Expiry::Clear, Expiry::At));
    ctx.dirty(1);
    ctx.notify(notify::GENERIC, "move_from", key);
    ctx.notify_in(target, notify::GENERIC, "move_to", key);
    ctx.out.int(1);
    Ok(())
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (Redis's `expireGenericCommand`).
fn expire_generic(ctx: &mut Ctx, args: &[&[u8]], millis_factor: i64, absolute: bool) -> CmdResult {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[3..] {
        if is(opt, "nx") {
            nx = true;
        } else if is(opt, "xx") {
            xx = true;
        } else if is(opt, "gt") {
            gt = true;
        } else if is(opt, "lt") {
            lt = true;
        } else {
            return Err(CmdError::new(format!("ERR Unsupported option {}", String::from_utf8_lossy(opt))));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::new("ERR NX and XX, GT or LT options at the same time are not compatible"));
    }
    if gt && lt {
        return Err(CmdError::new("ERR GT and LT options at the same time are not compatible"));
    }
    let invalid = || CmdError::new(format!("ERR invalid expire time in '{}' command", ctx.command.fullname));
    let mut when = int_arg(args[2])?;
    if millis_factor == 1000 {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    if !absolute {
        when = when.checked_add(ctx.now_ms() as i64).ok_or_else(invalid)?;
    }
    let Some(slot) = ctx.lookup_write(args[1]) else {
        ctx.out.int(0);
        return Ok(());
    };
    let current = ctx.db().expire_at(slot).map(|at| at as i64);
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| when <= c))
        || (lt && current.is_some_and(|c| when >= c));
    if refused {
        ctx.out.int(0);
        return Ok(());
    }
    // A relative TTL would mean another moment when replayed: the log gets the absolute one.
    if when <= ctx.now_ms() as i64 {
        ctx.db().remove_slot(slot);
        ctx.notify(notify::GENERIC, "del", args[1]);
        ctx.propagate(&[b"DEL", args[1]]);
    } else {
        ctx.db().set_expire(slot, Some(when as u64));
        ctx.notify(notify::GENERIC, "expire", args[1]);
        ctx.propagate(&[b"PEXPIREAT", args[1], when.to_string().as_bytes()]);
    }
    ctx.dirty(1);
    ctx.out.int(1);
    Ok(())
}

pub fn expire(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, args, 1000, false)
}

pub fn pexpire(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, args, 1, false)
}

pub fn expireat(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, args, 1000, true)
}

pub fn pexpireat(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, args, 1, true)
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME (Redis's `ttlGenericCommand`).
fn ttl_generic(ctx: &mut Ctx, args: &[&[u8]], in_ms: bool, absolute: bool) -> CmdResult {
    let Some(slot) = ctx.lookup_read_untouched(args[1]) else {
        ctx.out.int(-2);
        return Ok(());
    };
    let Some(at) = ctx.db().expire_at(slot) else {
        ctx.out.int(-1);
        return Ok(());
    };
    let ttl = if absolute { at as i64 } else { (at as i64 - ctx.now_ms() as i64).max(0) };
    ctx.out.int(if in_ms { ttl } else { (ttl + 500) / 1000 });
    Ok(())
}

pub fn ttl(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, args, false, false)
}

pub fn pttl(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, args, true, false)
}

pub fn expiretime(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, args, false, true)
}

pub fn pexpiretime(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, args, true, true)
}

pub fn persist(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let removed = match ctx.lookup_write(args[1]) {
        Some(slot) if ctx.db().expire_at(slot).is_some() => {
            ctx.db().set_expire(slot, None);
            ctx.dirty(1);
            ctx.notify(notify::GENERIC, "persist", args[1]);
            1
        }
        _ => 0,
    };
    ctx.out.int(removed);
    Ok(())
}

pub fn keys(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let pattern = args[1];
    let all = pattern == b"*";
    let now = ctx.now_ms();
    let db = &ctx.ks.dbs[ctx.session.db];
    let matching: Vec<usize> = db
        .slots()
        .filter(|&slot| db.expire_at(slot).is_none_or(|at| at > now))
        .filter(|&slot| all || glob::matches(pattern, db.key(slot), false))
        .collect();
    ctx.out.array(matching.len());
    for slot in matching {
        ctx.out.bulk(db.key(slot));
    }
    Ok(())
}

pub fn scan(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let ScanArgs { cursor, count, pattern, kind: type_filter, .. } = scan_args(args, 1, ScanOf::Keys)?;
    let type_filter_given = type_filter.is_some();
    let kind = type_filter.and_then(ValueKind::from_name);
    let now = ctx.now_ms();
    let db = &ctx.ks.dbs[ctx.session.db];
    let mut found = Vec::new();
    let mut expired = Vec::new();
    let next = db.scan(cursor, count, |slot| {
        if db.expire_at(slot).is_some_and(|at| at <= now) {
            expired.push(db.key(slot).to_vec());
            return;
        }
        let key = db.key(slot);
        let type_ok = !type_filter_given || kind.is_some_and(|k| db.value(slot).kind() == k);
        if type_ok && pattern.is_none_or(|p| glob::matches(p, key, false)) {
            found.push(key.to_vec());
        }
    });
    // Expired keys met on the way are reclaimed, after the walk so positions stayed stable during it.
    for key in &expired {
        ctx.db().remove(key);
        ctx.ks.stats.expired_keys += 1;
    }
    reply_scan_page(ctx.out, next, found.len());
    for key in &found {
        ctx.out.bulk(key);
    }
    Ok(())
}

/// RANDOMKEY: a random live key. An expired key it draws is expired as any read would: deleted (and the
/// deletion propagated) on a primary; only hidden on a replica, or while a pause holds expiry, where every
/// key may be expired and none goes away: after 100 draws it answers with one of those, as Redis does.
pub fn randomkey(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let mut rng = rand::thread_rng();
    let now = ctx.now_ms();
    let mut hidden = None;
    for _ in 0..100 {
        let db = &mut ctx.ks.dbs[ctx.session.db];
        let Some(slot) = db.random_slot(&mut rng) else {
            break;
        };
        let key = db.key(slot).to_vec();
        match db.find_live(&key, now) {
            (Some(_), _) => {
                ctx.out.bulk(&key);
                return Ok(());
            }
            (None, true) => ctx.ks.stats.expired_keys += 1,
            (None, false) => hidden = Some(key),
        }
    }
    match hidden {
        Some(key) => ctx.out.bulk(&key),
        None => ctx.out.null(),
    }
    Ok(())
}

const LRU_NOT_SELECTED: &str = "ERR An LRU maxmemory policy is not selected, access time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
const LFU_NOT_SELECTED: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

pub fn object_encoding(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    match ctx.lookup_peek(args[2]) {
        Some(slot) => {
            let encoding = ctx.db().value(slot).encoding();
            ctx.out.bulk(encoding.as_bytes());
        }
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn object_refcount(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    match ctx.lookup_peek(args[2]) {
        Some(slot) => {
            // Redis shares the objects of small integers and reports them with an "infinite" refcount, except
            // under an LRU or LFU limit, where each value carries its own access time.
            let memory = ctx.settings.memory;
            let per_value_access = memory.max > 0 && memory.policy.ranks_by_access();
            let small_int = matches!(ctx.db().value(slot), keel_store::Value::Int(n) if (0..10000).contains(n));
            let shared = small_int && !per_value_access;
            ctx.out.int(if shared { i32::MAX as i64 } else { 1 });
        }
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn object_idletime(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let Some(slot) = ctx.lookup_peek(args[2]) else {
        ctx.out.null();
        return Ok(());
    };
    if ctx.clock.lfu.is_some() {
        return Err(CmdError::new(LRU_NOT_SELECTED));
    }
    let access = ctx.db().access(slot);
    let idle = ctx.clock.idle_seconds(access);
    ctx.out.int(idle as i64);
    Ok(())
}

pub fn object_freq(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let Some(slot) = ctx.lookup_peek(args[2]) else {
        ctx.out.null();
        return Ok(());
    };
    let Some((_, decay)) = ctx.clock.lfu else {
        return Err(CmdError::new(LFU_NOT_SELECTED));
    };
    let counter = keel_store::lfu_decay(ctx.db().access(slot), ctx.now_ms(), decay);
    ctx.out.int(counter as i64);
    Ok(())
}

pub fn memory_usage(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mut j = 3;
    while j < args.len() {
        if is(args[j], "samples") && j + 1 < args.len() {
            int_arg(args[j + 1])?;
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    match ctx.lookup_peek(args[2]) {
        Some(slot) => {
            let bytes = ctx.db().slot_memory(slot);
            ctx.out.int(bytes as i64);
        }
        None => ctx.out.null(),
    }
    Ok(())
}
