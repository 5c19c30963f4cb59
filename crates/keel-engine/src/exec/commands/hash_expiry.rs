//! Hash-field expiration (Redis 7.4 and 8.0's t_hash.c): HEXPIRE, HPEXPIRE, HEXPIREAT and HPEXPIREAT give
//! fields a TTL; HTTL, HPTTL, HEXPIRETIME and HPEXPIRETIME read it; HPERSIST removes it; HGETEX reads fields
//! and sets or removes their TTLs; HSETEX sets fields with one.
//!
//! Fields past their TTL are deleted lazily, when a lookup finds their hash, and actively by the cron
//! (keel-store's `keyspace/fields.rs`); those deletions reach the log and replicas as HDEL, with an
//! `hexpired` event. What these commands change is propagated with absolute times (HPEXPIREAT, HSETEX
//! PXAT, HPERSIST, HDEL for a time already past), so that replaying the log gives the same fields
//! whenever it is replayed.

use super::{int_arg, is, typed, CmdError, CmdResult, Ctx};
use crate::notify;
use keel_store::{Hash, MAX_FIELD_EXPIRE_MS};

/// Per-field replies.
const NO_FIELD: i64 = -2;
const NO_TTL: i64 = -1;
const CONDITION_NOT_MET: i64 = 0;
const DONE: i64 = 1;
const DELETED: i64 = 2;

const FIELDS_MISSING: &str = "ERR Mandatory argument FIELDS is missing or not at the right position";
const NUMFIELDS_MISMATCH: &str = "ERR The `numfields` parameter must match the number of arguments";
pub(super) const NUMFIELDS_NOT_POSITIVE: &str = "ERR Number of fields must be a positive integer";

/// The fields of `... FIELDS numfields field...` where `FIELDS` is at `args[at]`; `not_positive` is the
/// command's error for a bad count.
pub(super) fn fields_arg<'a, 'b>(
    args: &'a [&'b [u8]],
    at: usize,
    not_positive: &'static str,
) -> Result<&'a [&'b [u8]], CmdError> {
    if !args.get(at).is_some_and(|a| is(a, "fields")) {
        return Err(CmdError::new(FIELDS_MISSING));
    }
    let count = args.get(at + 1).and_then(|a| int_arg(a).ok()).filter(|n| *n >= 1);
    let count = count.ok_or_else(|| CmdError::new(not_positive))?;
    let fields = &args[at + 2..];
    if count as usize != fields.len() {
        return Err(CmdError::new(NUMFIELDS_MISMATCH));
    }
    Ok(fields)
}

/// An expiry argument as an absolute time in Unix milliseconds: `unit_ms` per unit, from `base_ms`
/// (now for relative forms, 0 for absolute ones), with Redis's checks.
fn expire_time(ctx: &Ctx, arg: &[u8], unit_ms: u64, base_ms: u64) -> Result<u64, CmdError> {
    let value = int_arg(arg)?;
    if value < 0 {
        return Err(CmdError::new("ERR invalid expire time, must be >= 0"));
    }
    let out_of_range = || CmdError::new(format!("ERR invalid expire time in '{}' command", ctx.command.fullname));
    let ms = (value as u64).checked_mul(unit_ms).filter(|ms| *ms <= MAX_FIELD_EXPIRE_MS).ok_or_else(out_of_range)?;
    if ms > MAX_FIELD_EXPIRE_MS - base_ms.min(MAX_FIELD_EXPIRE_MS) {
        return Err(out_of_range());
    }
    Ok(ms + base_ms)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Condition {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

impl Condition {
    /// Whether a field whose expiry is `current` may get `at` (no TTL counts as forever).
    fn allows(self, current: Option<u64>, at: u64) -> bool {
        match (self, current) {
            (Condition::Always, _) | (Condition::Nx | Condition::Lt, None) => true,
            (Condition::Xx, Some(_)) => true,
            (Condition::Gt, Some(now)) => at > now,
            (Condition::Lt, Some(now)) => at < now,
            (Condition::Nx, Some(_)) | (Condition::Xx | Condition::Gt, None) => false,
        }
    }
}

/// What giving fields an expiry did: the reply per field, and the fields set and deleted.
struct ExpiryChange<'a> {
    replies: Vec<i64>,
    set: Vec<&'a [u8]>,
    deleted: Vec<&'a [u8]>,
}

/// What giving `field` the expiry `at` does to `hash` now: NO_FIELD, CONDITION_NOT_MET, DELETED (`at` is not
/// in the future) or DONE.
fn expiry_outcome(hash: &Hash, field: &[u8], at: u64, now: u64, condition: Condition) -> i64 {
    if !hash.contains(field) {
        NO_FIELD
    } else if !condition.allows(hash.field_expire_at(field), at) {
        CONDITION_NOT_MET
    } else if at <= now {
        DELETED
    } else {
        DONE
    }
}

/// Gives each of `fields` (that exists, where `condition` allows) the expiry `at`, or deletes it when `at`
/// is not in the future, one field after the other. The hash is changed only if some field is.
fn apply_expiry<'a>(
    ctx: &mut Ctx,
    slot: usize,
    fields: &[&'a [u8]],
    at: u64,
    condition: Condition,
) -> ExpiryChange<'a> {
    let now = ctx.now_ms();
    let db = ctx.session.db;
    let mut change = ExpiryChange { replies: Vec::with_capacity(fields.len()), set: Vec::new(), deleted: Vec::new() };
    let Ok(hash) = typed::<Hash>(ctx.ks.dbs[db].value(slot)) else {
        change.replies = vec![NO_FIELD; fields.len()];
        return change;
    };
    let outcomes: Vec<i64> = fields.iter().map(|f| expiry_outcome(hash, f, at, now, condition)).collect();
    if !outcomes.iter().any(|o| *o == DONE || *o == DELETED) {
        change.replies = outcomes;
        return change;
    }
    ctx.modify::<Hash, _>(slot, |hash| {
        for field in fields {
            // Again for each field as it comes: one named twice meets the first one's change.
            let outcome = expiry_outcome(hash, field, at, now, condition);
            match outcome {
                DELETED => {
                    hash.remove(field);
                    change.deleted.push(field);
                }
                DONE => {
                    hash.set_field_expire_at(field, Some(at));
                    change.set.push(field);
                }
                _ => {}
            }
            change.replies.push(outcome);
        }
    });
    change
}

/// Logs and replicates an expiry change: HDEL for the fields deleted, `set_as` for the fields set.
fn propagate_expiry(ctx: &mut Ctx, key: &[u8], change: &ExpiryChange, set_as: &[&[u8]]) {
    if !change.deleted.is_empty() {
        let mut hdel: Vec<&[u8]> = vec![b"HDEL", key];
        hdel.extend(&change.deleted);
        ctx.propagate(&hdel);
    }
    if !change.set.is_empty() {
        let count = change.set.len().to_string();
        let mut command: Vec<&[u8]> = set_as.to_vec();
        command.extend([&b"FIELDS"[..], count.as_bytes()]);
        command.extend(&change.set);
        ctx.propagate(&command);
    }
    ctx.dirty((change.set.len() + change.deleted.len()) as u64);
}

fn reply_codes(ctx: &mut Ctx, codes: impl ExactSizeIterator<Item = i64>) {
    ctx.out.array(codes.len());
    codes.for_each(|code| ctx.out.int(code));
}

/// HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT key time [NX|XX|GT|LT] FIELDS numfields field...
fn hexpire_generic(ctx: &mut Ctx, args: &[&[u8]], unit_ms: u64, relative: bool) -> CmdResult {
    let slot = ctx.find_typed::<Hash>(args[1])?;
    let base = if relative { ctx.now_ms() } else { 0 };
    let at = expire_time(ctx, args[2], unit_ms, base)?;
    let condition = match args[3].to_ascii_lowercase().as_slice() {
        b"nx" => Condition::Nx,
        b"xx" => Condition::Xx,
        b"gt" => Condition::Gt,
        b"lt" => Condition::Lt,
        _ => Condition::Always,
    };
    let fields_at = if condition == Condition::Always { 3 } else { 4 };
    let fields = fields_arg(args, fields_at, "ERR Parameter `numFields` should be greater than 0")?;
    let Some(slot) = slot else {
        reply_codes(ctx, fields.iter().map(|_| NO_FIELD));
        return Ok(());
    };
    let change = apply_expiry(ctx, slot, fields, at, condition);
    reply_codes(ctx, change.replies.iter().copied());
    if change.set.len() + change.deleted.len() > 0 {
        let event = if change.deleted.is_empty() { "hexpire" } else { "hdel" };
        ctx.notify(notify::HASH, event, args[1]);
        ctx.notify_if_gone(args[1]);
    }
    let at = at.to_string();
    propagate_expiry(ctx, args[1], &change, &[b"HPEXPIREAT", args[1], at.as_bytes()]);
    Ok(())
}

pub fn hexpire(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    hexpire_generic(ctx, args, 1000, true)
}

pub fn hpexpire(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    hexpire_generic(ctx, args, 1, true)
}

pub fn hexpireat(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    hexpire_generic(ctx, args, 1000, false)
}

pub fn hpexpireat(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    hexpire_generic(ctx, args, 1, false)
}

/// HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME key FIELDS numfields field...: -2 for a missing field, -1 for
/// one without a TTL, else the TTL (from now when `relative`) in `unit_ms` units, seconds rounded up.
fn httl_generic(ctx: &mut Ctx, args: &[&[u8]], unit_ms: u64, relative: bool) -> CmdResult {
    let db = ctx.session.db;
    let slot = ctx.lookup_read(args[1]);
    if let Some(slot) = slot {
        typed::<Hash>(ctx.ks.dbs[db].value(slot))?;
    }
    let fields = fields_arg(args, 2, NUMFIELDS_NOT_POSITIVE)?;
    let now = ctx.now_ms();
    let base = if relative { now } else { 0 };
    let hash = slot.and_then(|slot| typed::<Hash>(ctx.ks.dbs[db].value(slot)).ok());
    let codes: Vec<i64> = fields
        .iter()
        .map(|field| match hash.filter(|h| h.contains(field)).map(|h| h.field_expire_at(field)) {
            None => NO_FIELD,
            Some(None) => NO_TTL,
            // Only a replica, which leaves expiry to its primary, still holds such a field.
            Some(Some(at)) if at <= now => NO_FIELD,
            Some(Some(at)) => (at - base).div_ceil(unit_ms) as i64,
        })
        .collect();
    reply_codes(ctx, codes.into_iter());
    Ok(())
}

pub fn httl(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    httl_generic(ctx, args, 1000, true)
}

pub fn hpttl(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    httl_generic(ctx, args, 1, true)
}

pub fn hexpiretime(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    httl_generic(ctx, args, 1000, false)
}

pub fn hpexpiretime(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    httl_generic(ctx, args, 1, false)
}

/// Removes the TTL of each of `fields` that has one; the reply per field and the fields changed.
fn persist_fields<'a>(ctx: &mut Ctx, slot: usize, fields: &[&'a [u8]]) -> (Vec<i64>, Vec<&'a [u8]>) {
    let db = ctx.session.db;
    let now = ctx.now_ms();
    let code = |hash: &Hash, field: &[u8]| match (hash.contains(field), hash.field_expire_at(field)) {
        (false, _) => NO_FIELD,
        (true, None) => NO_TTL,
        (true, Some(at)) if at < now => NO_FIELD,
        (true, Some(_)) => DONE,
    };
    let Ok(hash) = typed::<Hash>(ctx.ks.dbs[db].value(slot)) else { return (Vec::new(), Vec::new()) };
    let (mut codes, mut persisted) = (Vec::with_capacity(fields.len()), Vec::new());
    for field in fields {
        // A field named twice has no TTL left the second time.
        let code = if persisted.contains(field) { NO_TTL } else { code(hash, field) };
        if code == DONE {
            persisted.push(*field);
        }
        codes.push(code);
    }
    if !persisted.is_empty() {
        ctx.modify::<Hash, _>(slot, |hash| persisted.iter().for_each(|f| _ = hash.set_field_expire_at(f, None)));
    }
    (codes, persisted)
}

/// HPERSIST key FIELDS numfields field...
pub fn hpersist(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let slot = ctx.find_typed::<Hash>(args[1])?;
    let fields = fields_arg(args, 2, NUMFIELDS_NOT_POSITIVE)?;
    let Some(slot) = slot else {
        reply_codes(ctx, fields.iter().map(|_| NO_FIELD));
        return Ok(());
    };
    let (codes, persisted) = persist_fields(ctx, slot, fields);
    reply_codes(ctx, codes.into_iter());
    if !persisted.is_empty() {
        ctx.notify(notify::HASH, "hpersist", args[1]);
        ctx.dirty(1);
    }
    Ok(())
}

/// What HGETEX does to the fields it reads.
enum GetexAction {
    Keep,
    Persist,
    ExpireAt(u64),
}

/// HGETEX key [EX seconds|PX ms|EXAT unix-seconds|PXAT unix-ms|PERSIST] FIELDS numfields field...
pub fn hgetex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ctx.find_typed::<Hash>(args[1])?;
    let now = ctx.now_ms();
    let (action, fields_at) = match args[2].to_ascii_lowercase().as_slice() {
        b"ex" => (GetexAction::ExpireAt(expire_time(ctx, args[3], 1000, now)?), 4),
        b"px" => (GetexAction::ExpireAt(expire_time(ctx, args[3], 1, now)?), 4),
        b"exat" => (GetexAction::ExpireAt(expire_time(ctx, args[3], 1000, 0)?), 4),
        b"pxat" => (GetexAction::ExpireAt(expire_time(ctx, args[3], 1, 0)?), 4),
        b"persist" => (GetexAction::Persist, 3),
        _ => (GetexAction::Keep, 2),
    };
    let fields = fields_arg(args, fields_at, NUMFIELDS_NOT_POSITIVE)?;
    let Some(slot) = super::hashes::find_hash(ctx, args[1], fields)? else {
        ctx.out.array(fields.len());
        fields.iter().for_each(|_| ctx.out.null());
        return Ok(());
    };
    let db = ctx.session.db;
    let hash = typed::<Hash>(ctx.ks.dbs[db].value(slot))?;
    ctx.out.array(fields.len());
    for field in fields {
        match hash.get(field) {
            Some(value) => ctx.out.bulk(value),
            None => ctx.out.null(),
        }
    }
    match action {
        GetexAction::Keep => {}
        GetexAction::Persist => {
            let (_, persisted) = persist_fields(ctx, slot, fields);
            if !persisted.is_empty() {
                ctx.notify(notify::HASH, "hpersist", args[1]);
                let change = ExpiryChange { replies: Vec::new(), set: persisted, deleted: Vec::new() };
                propagate_expiry(ctx, args[1], &change, &[b"HPERSIST", args[1]]);
            }
        }
        GetexAction::ExpireAt(at) => {
            let change = apply_expiry(ctx, slot, fields, at, Condition::Always);
            if !change.set.is_empty() {
                ctx.notify(notify::HASH, "hexpire", args[1]);
            } else if !change.deleted.is_empty() {
                ctx.notify(notify::HASH, "hdel", args[1]);
            }
            ctx.notify_if_gone(args[1]);
            let at = at.to_string();
            propagate_expiry(ctx, args[1], &change, &[b"HPEXPIREAT", args[1], at.as_bytes()]);
        }
    }
    Ok(())
}

/// HSETEX's options.
struct SetexArgs<'a> {
    only_new: bool,
    only_existing: bool,
    keep_ttl: bool,
    expire_at: Option<u64>,
    pairs: &'a [&'a [u8]],
}

fn parse_hsetex<'a>(ctx: &Ctx, args: &'a [&'a [u8]]) -> Result<SetexArgs<'a>, CmdError> {
    let arity = || CmdError::new(format!("ERR wrong number of arguments for '{}' command", ctx.command.fullname));
    let one_expiry = || CmdError::new("ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified");
    let one_condition = || CmdError::new("ERR Only one of FXX or FNX arguments can be specified");
    let mut parsed = SetexArgs { only_new: false, only_existing: false, keep_ttl: false, expire_at: None, pairs: &[] };
    let mut i = 2;
    while i < args.len() {
        let option = args[i].to_ascii_lowercase();
        match option.as_slice() {
            b"fields" => {
                if i + 3 >= args.len() {
                    return Err(arity());
                }
                let count = int_arg(args[i + 1]).ok().filter(|n| (1..=i32::MAX as i64).contains(n));
                let count = count.ok_or_else(|| CmdError::new("ERR invalid number of fields"))? as usize;
                let pairs = &args[i + 2..];
                if !pairs.len().is_multiple_of(2) || count != pairs.len() / 2 {
                    return Err(arity());
                }
                parsed.pairs = pairs;
                return Ok(parsed);
            }
            b"ex" | b"px" | b"exat" | b"pxat" => {
                if parsed.keep_ttl || parsed.expire_at.is_some() {
                    return Err(one_expiry());
                }
                let value = args.get(i + 1).ok_or_else(|| CmdError::new("ERR missing expire time"))?;
                let (unit, base) = match option.as_slice() {
                    b"ex" => (1000, ctx.now_ms()),
                    b"px" => (1, ctx.now_ms()),
                    b"exat" => (1000, 0),
                    _ => (1, 0),
                };
                parsed.expire_at = Some(expire_time(ctx, value, unit, base)?);
                i += 1;
            }
            b"keepttl" if parsed.keep_ttl || parsed.expire_at.is_some() => return Err(one_expiry()),
            b"keepttl" => parsed.keep_ttl = true,
            b"fxx" | b"fnx" if parsed.only_new || parsed.only_existing => return Err(one_condition()),
            b"fxx" => parsed.only_existing = true,
            b"fnx" => parsed.only_new = true,
            _ => return Err(CmdError::new(format!("ERR unknown argument: {}", String::from_utf8_lossy(args[i])))),
        }
        i += 1;
    }
    Err(arity())
}

/// HSETEX key [FNX|FXX] [EX seconds|PX ms|EXAT unix-seconds|PXAT unix-ms|KEEPTTL] FIELDS numfields
/// field value...: 1 when the fields were set, 0 when FNX or FXX kept them from it.
pub fn hsetex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let parsed = parse_hsetex(ctx, args)?;
    let fields: Vec<&[u8]> = parsed.pairs.chunks_exact(2).map(|pair| pair[0]).collect();
    // FNX and FXX see a field past its TTL as missing (and delete it); without them it is overwritten.
    let slot = match parsed.only_new || parsed.only_existing {
        true => super::hashes::find_hash(ctx, args[1], &fields)?,
        false => ctx.find_typed::<Hash>(args[1])?,
    };
    let db = ctx.session.db;
    let hash = slot.and_then(|slot| typed::<Hash>(ctx.ks.dbs[db].value(slot)).ok());
    let existing = fields.iter().filter(|f| hash.is_some_and(|h| h.contains(f))).count();
    if (parsed.only_existing && existing != fields.len()) || (parsed.only_new && existing != 0) {
        ctx.out.int(0);
        return Ok(());
    }
    let limits = super::hashes::limits(ctx);
    let slot = ctx.typed_for_write::<Hash>(args[1])?;
    let keep_ttl = parsed.keep_ttl || parsed.expire_at.is_some();
    ctx.modify::<Hash, _>(slot, |hash| {
        for pair in parsed.pairs.chunks_exact(2) {
            match keep_ttl {
                true => hash.set_keeping_ttl(pair[0], pair[1], &limits),
                false => hash.set(pair[0], pair[1], &limits),
            };
        }
    });
    ctx.dirty(fields.len() as u64);
    ctx.notify(notify::HASH, "hset", args[1]);
    let change = match parsed.expire_at {
        Some(at) => apply_expiry(ctx, slot, &fields, at, Condition::Always),
        None => ExpiryChange { replies: Vec::new(), set: Vec::new(), deleted: Vec::new() },
    };
    if !change.deleted.is_empty() {
        ctx.notify(notify::HASH, "hdel", args[1]);
        ctx.notify_if_gone(args[1]);
        propagate_expiry(ctx, args[1], &change, &[]);
    } else {
        if !change.set.is_empty() {
            ctx.notify(notify::HASH, "hexpire", args[1]);
        }
        let at = parsed.expire_at.map(|at| at.to_string());
        let mut command: Vec<&[u8]> = vec![b"HSETEX", args[1]];
        match &at {
            Some(at) => command.extend([&b"PXAT"[..], at.as_bytes()]),
            None if parsed.keep_ttl => command.push(b"KEEPTTL"),
            None => {}
        }
        let count = fields.len().to_string();
        command.extend([&b"FIELDS"[..], count.as_bytes()]);
        command.extend(parsed.pairs);
        ctx.propagate(&command);
        ctx.dirty(change.set.len() as u64);
    }
    ctx.out.int(1);
    Ok(())
}
