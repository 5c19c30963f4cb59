//! Hash commands (Redis's t_hash.c). A hash emptied by HDEL disappears from the keyspace.
//!
//! Fields past their TTL (hash-field expiration) are seen as Redis's commands see them: a command that names
//! fields deletes those of them that are due ([`find_hash`], [`read_hash`], [`hash_for_write`]), commands
//! that list fields skip due ones, and HLEN, HDEL, HSET and the TTL commands count them until they go.

use super::{
    int_arg, random_count, reply_empty_scan, reply_missing_random, reply_scan_page, scan_args, typed, CmdError,
    CmdResult, Ctx, ScanArgs, ScanOf,
};
use crate::notify;
use keel_store::long_double::LongDouble;
use keel_store::number::parse_i64;
use keel_store::{glob, Hash, HashLimits};
use rand::Rng;

pub(super) fn limits(ctx: &Ctx) -> HashLimits {
    ctx.settings.encodings.hash
}

/// The time a command reads fields at ([`keel_store::Db::field_clock`]): fields due by then are missing.
pub(super) fn field_now(ctx: &mut Ctx) -> u64 {
    let now = ctx.now_ms();
    ctx.db().field_clock(now)
}

/// Lazy field expiry for the fields a command names: each of `fields` past its TTL in the hash at `slot`
/// is deleted. None when that took the key's last field.
pub(super) fn expire_named(ctx: &mut Ctx, slot: usize, fields: &[&[u8]]) -> Option<usize> {
    let now = ctx.now_ms();
    let db = ctx.db();
    match fields.iter().any(|field| db.expire_field(slot, field, now)) {
        true => None,
        false => Some(slot),
    }
}

/// The hash at `key` for a command that names `fields` (those past their TTL are deleted first), without
/// hit/miss statistics; WRONGTYPE for another type.
pub(super) fn find_hash(ctx: &mut Ctx, key: &[u8], fields: &[&[u8]]) -> Result<Option<usize>, CmdError> {
    Ok(ctx.find_typed::<Hash>(key)?.and_then(|slot| expire_named(ctx, slot, fields)))
}

/// [`find_hash`] for a read, with hit/miss statistics: the hash's slot and the time to read its fields at.
fn read_hash(ctx: &mut Ctx, key: &[u8], fields: &[&[u8]]) -> Result<Option<(usize, u64)>, CmdError> {
    let Some(slot) = ctx.lookup_read(key) else { return Ok(None) };
    typed::<Hash>(ctx.db().value(slot))?;
    let Some(slot) = expire_named(ctx, slot, fields) else { return Ok(None) };
    Ok(Some((slot, field_now(ctx))))
}

/// The hash at `slot`, which [`read_hash`] found, in the selected database.
fn hash_at(ks: &crate::state::tenant::Keyspace, db: usize, slot: usize) -> Result<&Hash, CmdError> {
    typed::<Hash>(ks.dbs[db].value(slot))
}

/// [`find_hash`] for a write: the hash is created empty when missing (or emptied by expiry).
pub(super) fn hash_for_write(ctx: &mut Ctx, key: &[u8], fields: &[&[u8]]) -> Result<usize, CmdError> {
    match find_hash(ctx, key, fields)? {
        Some(slot) => Ok(slot),
        None => ctx.typed_for_write::<Hash>(key),
    }
}

fn set_pairs(ctx: &mut Ctx, args: &[&[u8]]) -> Result<usize, CmdError> {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::new(format!("ERR wrong number of arguments for '{}' command", ctx.command.fullname)));
    }
    let limits = limits(ctx);
    let slot = ctx.typed_for_write::<Hash>(args[1])?;
    ctx.prefetch_members(slot, args[2..].iter().step_by(2));
    let created = ctx.modify::<Hash, _>(slot, |hash| {
        args[2..].chunks_exact(2).filter(|pair| hash.set(pair[0], pair[1], &limits)).count()
    });
    ctx.dirty(((args.len() - 2) / 2) as u64);
    ctx.notify(notify::HASH, "hset", args[1]);
    Ok(created)
}

pub fn hset(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let created = set_pairs(ctx, args)?;
    ctx.out.int(created as i64);
    Ok(())
}

pub fn hmset(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    set_pairs(ctx, args)?;
    ctx.out.ok();
    Ok(())
}

pub fn hsetnx(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let limits = limits(ctx);
    let slot = hash_for_write(ctx, args[1], &args[2..3])?;
    let created = ctx.modify::<Hash, _>(slot, |hash| !hash.contains(args[2]) && hash.set(args[2], args[3], &limits));
    if created {
        ctx.dirty(1);
        ctx.notify(notify::HASH, "hset", args[1]);
    }
    ctx.out.int(created as i64);
    Ok(())
}

pub fn hget(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let value = match read_hash(ctx, args[1], &args[2..3])? {
        Some((slot, now)) => hash_at(ctx.ks, ctx.session.db, slot)?.get_live(args[2], now),
        None => None,
    };
    match value {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn hmget(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let hash = match read_hash(ctx, args[1], &args[2..])? {
        Some((slot, now)) => {
            ctx.prefetch_members(slot, args[2..].iter());
            Some((hash_at(ctx.ks, ctx.session.db, slot)?, now))
        }
        None => None,
    };
    ctx.out.array(args.len() - 2);
    for field in &args[2..] {
        match hash.and_then(|(h, now)| h.get_live(field, now)) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

pub fn hdel(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ctx.remove_members(args[1], &args[2..], Hash::remove, (notify::HASH, "hdel"))
}

/// HGETDEL key FIELDS numfields field... (Redis 8.0): the fields' values (nil where missing), each removed;
/// logged and replicated as an HDEL of the fields, once one was there.
pub fn hgetdel(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let fields = super::hash_expiry::fields_arg(args, 2, super::hash_expiry::NUMFIELDS_NOT_POSITIVE)?;
    let Some(slot) = find_hash(ctx, args[1], fields)? else {
        ctx.out.array(fields.len());
        fields.iter().for_each(|_| ctx.out.null());
        return Ok(());
    };
    let values: Vec<Option<Vec<u8>>> = ctx.modify::<Hash, _>(slot, |hash| {
        fields
            .iter()
            .map(|field| {
                let value = hash.get(field).map(<[u8]>::to_vec)?;
                hash.remove(field);
                Some(value)
            })
            .collect()
    });
    ctx.out.array(values.len());
    for value in &values {
        match value {
            Some(value) => ctx.out.bulk(value),
            None => ctx.out.null(),
        }
    }
    let removed = values.iter().filter(|v| v.is_some()).count();
    if removed > 0 {
        ctx.notify(notify::HASH, "hdel", args[1]);
        ctx.notify_if_gone(args[1]);
        ctx.dirty(removed as u64);
        // As Redis propagates it: an HDEL of every field named (those already missing change nothing).
        let mut hdel: Vec<&[u8]> = vec![b"HDEL", args[1]];
        hdel.extend(fields);
        ctx.propagate(&hdel);
    }
    Ok(())
}

pub fn hexists(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let exists = match read_hash(ctx, args[1], &args[2..3])? {
        Some((slot, now)) => hash_at(ctx.ks, ctx.session.db, slot)?.get_live(args[2], now).is_some(),
        None => false,
    };
    ctx.out.int(exists as i64);
    Ok(())
}

pub fn hlen(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let len = ctx.read_typed::<Hash>(args[1])?.map_or(0, Hash::len);
    ctx.out.int(len as i64);
    Ok(())
}

pub fn hstrlen(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let len = match read_hash(ctx, args[1], &args[2..3])? {
        Some((slot, now)) => hash_at(ctx.ks, ctx.session.db, slot)?.get_live(args[2], now).map_or(0, <[u8]>::len),
        None => 0,
    };
    ctx.out.int(len as i64);
    Ok(())
}

/// HGETALL, HKEYS and HVALS: fields past their TTL are skipped, not deleted.
fn reply_all(ctx: &mut Ctx, key: &[u8], fields: bool, values: bool) -> CmdResult {
    let Some((slot, now)) = read_hash(ctx, key, &[])? else {
        if fields && values {
            ctx.out.map(0);
        } else {
            ctx.out.array(0);
        }
        return Ok(());
    };
    let hash = hash_at(ctx.ks, ctx.session.db, slot)?;
    if fields && values {
        ctx.out.map(hash.live_len(now));
    } else {
        ctx.out.array(hash.live_len(now));
    }
    for (f, v) in hash.iter_live(now) {
        if fields {
            ctx.out.bulk(f);
        }
        if values {
            ctx.out.bulk(v);
        }
    }
    Ok(())
}

pub fn hgetall(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    reply_all(ctx, args[1], true, true)
}

pub fn hkeys(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    reply_all(ctx, args[1], true, false)
}

pub fn hvals(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    reply_all(ctx, args[1], false, true)
}

pub fn hincrby(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let delta = int_arg(args[3])?;
    let limits = limits(ctx);
    let slot = hash_for_write(ctx, args[1], &args[2..3])?;
    let current = match typed::<Hash>(ctx.db().value(slot))?.get(args[2]) {
        Some(v) => parse_i64(v).ok_or_else(|| CmdError::new("ERR hash value is not an integer"))?,
        None => 0,
    };
    let new = current.checked_add(delta).ok_or_else(|| CmdError::new("ERR increment or decrement would overflow"))?;
    ctx.modify::<Hash, _>(slot, |hash| hash.set_keeping_ttl(args[2], new.to_string().as_bytes(), &limits));
    ctx.dirty(1);
    ctx.notify(notify::HASH, "hincrby", args[1]);
    ctx.out.int(new);
    Ok(())
}

pub fn hincrbyfloat(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let delta = LongDouble::parse(args[3]).ok_or(super::NOT_FLOAT)?;
    if !delta.is_finite() {
        return Err(CmdError::new("ERR value is NaN or Infinity"));
    }
    let limits = limits(ctx);
    let slot = hash_for_write(ctx, args[1], &args[2..3])?;
    let current = match typed::<Hash>(ctx.db().value(slot))?.get(args[2]) {
        Some(v) => LongDouble::parse(v).ok_or_else(|| CmdError::new("ERR hash value is not a float"))?,
        None => LongDouble::from_i64(0),
    };
    let new = current + delta;
    if !new.is_finite() {
        return Err(CmdError::new("ERR increment would produce NaN or Infinity"));
    }
    let text = new.to_human();
    ctx.modify::<Hash, _>(slot, |hash| hash.set_keeping_ttl(args[2], text.as_bytes(), &limits));
    ctx.dirty(1);
    ctx.notify(notify::HASH, "hincrbyfloat", args[1]);
    // Float arithmetic replayed elsewhere could print another result: the log gets the value it produced.
    ctx.propagate(&[b"HSET", args[1], args[2], text.as_bytes()]);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

pub fn hrandfield(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let count = random_count(args.get(2))?;
    let with_values = match args.get(3) {
        Some(arg) if super::is(arg, "withvalues") && args.len() == 4 => true,
        Some(_) => return Err(super::SYNTAX),
        None => false,
    };
    let db = ctx.session.db;
    let slot = ctx.lookup_read(args[1]);
    if let Some(slot) = slot {
        typed::<Hash>(ctx.ks.dbs[db].value(slot))?;
    }
    // HRANDFIELD deletes every due field of the hash first, as Redis's does (its picks are positions).
    let now = ctx.now_ms();
    let Some(slot) = slot.filter(|slot| !ctx.db().expire_due_fields(*slot, now)) else {
        reply_missing_random(ctx.out, count);
        return Ok(());
    };
    let hash = typed::<Hash>(ctx.ks.dbs[db].value(slot))?;
    let mut rng = rand::thread_rng();
    let Some(n) = count else {
        let pos = rng.gen_range(0..hash.len());
        ctx.out.bulk(hash.at(pos).0);
        return Ok(());
    };
    let positions = random_positions(hash.len(), n, &mut rng);
    let resp3_pairs = with_values && ctx.out.is_resp3();
    ctx.out.array(if with_values && !resp3_pairs { positions.len() * 2 } else { positions.len() });
    for pos in positions {
        let (f, v) = hash.at(pos);
        if resp3_pairs {
            ctx.out.array(2);
        }
        ctx.out.bulk(f);
        if with_values {
            ctx.out.bulk(v);
        }
    }
    Ok(())
}

/// Positions for HRANDFIELD/SRANDMEMBER: `n >= 0` picks distinct positions (at most `len`), `n < 0` picks
/// `-n` positions that may repeat.
pub fn random_positions(len: usize, n: i64, rng: &mut impl Rng) -> Vec<usize> {
    if n < 0 {
        return (0..n.unsigned_abs()).map(|_| rng.gen_range(0..len)).collect();
    }
    let n = (n as usize).min(len);
    rand::seq::index::sample(rng, len, n).into_vec()
}

pub fn hscan(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let ScanArgs { cursor, count, pattern, novalues, .. } = scan_args(args, 2, ScanOf::Hash)?;
    let db = ctx.session.db;
    let slot = ctx.lookup_read(args[1]);
    let Some(slot) = slot else {
        reply_empty_scan(ctx.out);
        return Ok(());
    };
    let now = field_now(ctx);
    let hash = typed::<Hash>(ctx.ks.dbs[db].value(slot))?;
    let mut found = Vec::new();
    // Fields past their TTL are skipped, not deleted (Redis's HSCAN): a page may come back empty.
    let next = hash.scan(cursor, count, |f, v| {
        if !hash.is_due(f, now) && pattern.is_none_or(|p| glob::matches(p, f, false)) {
            found.push((f, v));
        }
    });
    reply_scan_page(ctx.out, next, found.len() * if novalues { 1 } else { 2 });
    for (f, v) in found {
        ctx.out.bulk(f);
        if !novalues {
            ctx.out.bulk(v);
        }
    }
    Ok(())
}
