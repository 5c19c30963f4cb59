//! List commands (Redis's t_list.c): pushes and pops at both ends, ranges, positional edits, LPOS, LMOVE
//! and LMPOP. A list emptied by any command disappears from the keyspace.

use super::{int_arg, is, parse_mpop, typed, CmdError, CmdResult, Ctx, NO_SUCH_KEY, SYNTAX};
use crate::notify;
use crate::state::blocking::parse_timeout;
use keel_store::{End, Expiry, List, Value};

const POSITIVE: &str = "ERR value is out of range, must be positive";

fn push(ctx: &mut Ctx, args: &[&[u8]], end: End, only_existing: bool) -> CmdResult {
    let key = args[1];
    let slot = match ctx.find_typed::<List>(key)? {
        Some(slot) => slot,
        None if only_existing => {
            ctx.out.int(0);
            return Ok(());
        }
        None => {
            let db = ctx.session.db;
            ctx.add_key(db, key, Value::List(Box::default()), Expiry::Clear)
        }
    };
    let len = ctx.modify::<List, _>(slot, |list| {
        args[2..].iter().for_each(|v| list.push(end, v));
        list.len()
    });
    ctx.dirty((args.len() - 2) as u64);
    ctx.notify(notify::LIST, if end == End::Left { "lpush" } else { "rpush" }, key);
    ctx.out.int(len as i64);
    Ok(())
}

pub fn lpush(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    push(ctx, args, End::Left, false)
}

pub fn rpush(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    push(ctx, args, End::Right, false)
}

pub fn lpushx(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    push(ctx, args, End::Left, true)
}

pub fn rpushx(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    push(ctx, args, End::Right, true)
}

/// A positive count argument, with Redis's text for this family.
fn positive(arg: &[u8], message: &'static str) -> Result<usize, CmdError> {
    int_arg(arg).ok().filter(|n| *n >= 0).map(|n| n as usize).ok_or(CmdError(message.into()))
}

fn pop(ctx: &mut Ctx, args: &[&[u8]], end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::new(format!("ERR wrong number of arguments for '{}' command", ctx.command.fullname)));
    }
    let count = args.get(2).map(|arg| positive(arg, POSITIVE)).transpose()?;
    let Some(slot) = ctx.find_typed::<List>(args[1])? else {
        match count {
            Some(_) => ctx.out.null_array(),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let popped = match count {
        None => {
            let item = ctx.modify::<List, _>(slot, |list| list.pop(end));
            match &item {
                Some(item) => ctx.out.bulk(item.as_bytes()),
                None => ctx.out.null(),
            }
            item.is_some()
        }
        Some(count) => {
            let items = ctx.modify::<List, _>(slot, |list| (0..count).map_while(|_| list.pop(end)).collect::<Vec<_>>());
            ctx.out.array(items.len());
            items.iter().for_each(|item| ctx.out.bulk(item.as_bytes()));
            !items.is_empty()
        }
    };
    if popped {
        ctx.dirty(1);
        notify_popped(ctx, args[1], end);
    }
    Ok(())
}

/// `lpop`/`rpop` for `key`, and `del` when that emptied it.
fn notify_popped(ctx: &mut Ctx, key: &[u8], end: End) {
    ctx.notify(notify::LIST, if end == End::Left { "lpop" } else { "rpop" }, key);
    ctx.notify_if_gone(key);
}

/// What a blocking or multi-key pop amounted to, as Redis logs and replicates it: `LPOP key [count]`.
fn propagate_pop(ctx: &mut Ctx, key: &[u8], end: End, count: Option<usize>) {
    let name: &[u8] = if end == End::Left { b"LPOP" } else { b"RPOP" };
    match count {
        Some(count) => ctx.propagate(&[name, key, count.to_string().as_bytes()]),
        None => ctx.propagate(&[name, key]),
    }
}

pub fn lpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    pop(ctx, args, End::Left)
}

pub fn rpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    pop(ctx, args, End::Right)
}

pub fn llen(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let len = ctx.read_typed::<List>(args[1])?.map_or(0, List::len);
    ctx.out.int(len as i64);
    Ok(())
}

/// Redis's index rules for ranges: negative counts from the end, clamped; None when the range is empty.
fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (start + len).max(0) } else { start };
    let stop = if stop < 0 { stop + len } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

pub fn lrange(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (start, stop) = (int_arg(args[2])?, int_arg(args[3])?);
    let db = ctx.session.db;
    let slot = ctx.lookup_read(args[1]);
    let Some(slot) = slot else {
        ctx.out.array(0);
        return Ok(());
    };
    let list = typed::<List>(ctx.ks.dbs[db].value(slot))?;
    match clamp_range(start, stop, list.len()) {
        Some((start, stop)) => {
            ctx.out.array(stop - start + 1);
            list.iter().skip(start).take(stop - start + 1).for_each(|item| ctx.out.bulk(item));
        }
        None => ctx.out.array(0),
    }
    Ok(())
}

/// A list index (negative from the end) resolved against `len`.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let index = if index < 0 { index + len as i64 } else { index };
    (0..len as i64).contains(&index).then_some(index as usize)
}

pub fn lindex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let index = int_arg(args[2])?;
    let db = ctx.session.db;
    match ctx.lookup_read(args[1]) {
        Some(slot) => {
            let list = typed::<List>(ctx.ks.dbs[db].value(slot))?;
            match resolve_index(index, list.len()).and_then(|i| list.get(i)) {
                Some(item) => ctx.out.bulk(item),
                None => ctx.out.null(),
            }
        }
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn lset(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let index = int_arg(args[2])?;
    let slot = ctx.find_typed::<List>(args[1])?.ok_or(NO_SUCH_KEY)?;
    let len = typed::<List>(ctx.db().value(slot))?.len();
    let index = resolve_index(index, len).ok_or_else(|| CmdError::new("ERR index out of range"))?;
    ctx.modify::<List, _>(slot, |list| list.set(index, args[3]));
    ctx.dirty(1);
    ctx.notify(notify::LIST, "lset", args[1]);
    ctx.out.ok();
    Ok(())
}

pub fn linsert(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let after = if is(args[2], "after") {
        true
    } else if is(args[2], "before") {
        false
    } else {
        return Err(SYNTAX);
    };
    let Some(slot) = ctx.find_typed::<List>(args[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let (pivot, element) = (args[3], args[4]);
    let len = ctx.modify::<List, _>(slot, |list| {
        let at = list.position(pivot)?;
        list.insert(if after { at + 1 } else { at }, element);
        Some(list.len())
    });
    match len {
        Some(len) => {
            ctx.dirty(1);
            ctx.notify(notify::LIST, "linsert", args[1]);
            ctx.out.int(len as i64);
        }
        None => ctx.out.int(-1),
    }
    Ok(())
}

pub fn lrem(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let count = int_arg(args[2])?;
    let Some(slot) = ctx.find_typed::<List>(args[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = ctx.modify::<List, _>(slot, |list| list.remove_matching(args[3], count));
    ctx.dirty(removed as u64);
    if removed > 0 {
        ctx.notify(notify::LIST, "lrem", args[1]);
        ctx.notify_if_gone(args[1]);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

pub fn ltrim(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (start, stop) = (int_arg(args[2])?, int_arg(args[3])?);
    if let Some(slot) = ctx.find_typed::<List>(args[1])? {
        ctx.modify::<List, _>(slot, |list| match clamp_range(start, stop, list.len()) {
            Some((start, stop)) => list.retain_range(start, stop),
            None => list.retain_range(1, 0),
        });
        ctx.dirty(1);
        ctx.notify(notify::LIST, "ltrim", args[1]);
        ctx.notify_if_gone(args[1]);
    }
    ctx.out.ok();
    Ok(())
}

pub fn lpos(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0usize);
    let mut j = 3;
    while j < args.len() {
        let value = args.get(j + 1).ok_or(SYNTAX)?;
        if is(args[j], "rank") {
            rank = int_arg(value)?;
            if rank == 0 {
                return Err(CmdError::new("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
            }
            if rank == i64::MIN {
                return Err(CmdError::new(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
        } else if is(args[j], "count") {
            let n = int_arg(value)?;
            if n < 0 {
                return Err(CmdError::new("ERR COUNT can't be negative"));
            }
            count = Some(n as usize);
        } else if is(args[j], "maxlen") {
            let n = int_arg(value)?;
            if n < 0 {
                return Err(CmdError::new("ERR MAXLEN can't be negative"));
            }
            maxlen = n as usize;
        } else {
            return Err(SYNTAX);
        }
        j += 2;
    }
    let db = ctx.session.db;
    let slot = ctx.lookup_read(args[1]);
    let matches: Vec<usize> = match slot {
        None => Vec::new(),
        Some(slot) => {
            let list = typed::<List>(ctx.ks.dbs[db].value(slot))?;
            let wanted = match count {
                Some(0) => usize::MAX,
                Some(n) => n,
                None => 1,
            };
            let scan_limit = if maxlen == 0 { usize::MAX } else { maxlen };
            let skip = (rank.unsigned_abs() - 1) as usize;
            let element = args[2];
            let positions: Box<dyn Iterator<Item = (usize, &[u8])>> =
                if rank > 0 { Box::new(list.iter().enumerate()) } else { Box::new(list.iter().enumerate().rev()) };
            positions
                .take(scan_limit)
                .filter(|(_, item)| *item == element)
                .skip(skip)
                .take(wanted)
                .map(|(i, _)| i)
                .collect()
        }
    };
    match count {
        Some(_) => {
            ctx.out.array(matches.len());
            matches.iter().for_each(|&i| ctx.out.int(i as i64));
        }
        None => match matches.first() {
            Some(&i) => ctx.out.int(i as i64),
            None => ctx.out.null(),
        },
    }
    Ok(())
}

fn parse_end(arg: &[u8]) -> Result<End, CmdError> {
    if is(arg, "left") {
        Ok(End::Left)
    } else if is(arg, "right") {
        Ok(End::Right)
    } else {
        Err(SYNTAX)
    }
}

/// Moves one element from `src` to `dst`; replies with it, or null when `src` is missing. Events follow
/// Redis's order: the push, the pop, then `del` if the source went. A blocking move is logged as
/// `propagate_as`, the non-blocking move it amounted to.
fn move_element(
    ctx: &mut Ctx,
    src: &[u8],
    dst: &[u8],
    (from, to): (End, End),
    propagate_as: Option<&[&[u8]]>,
) -> CmdResult {
    if ctx.find_typed::<List>(src)?.is_none() {
        ctx.out.null();
        return Ok(());
    }
    // The destination's type is checked before anything is popped. That lookup may reclaim an expired
    // destination, which moves slots, so the source is looked up again after it.
    ctx.find_typed::<List>(dst)?;
    let Some(src_slot) = ctx.lookup_write(src) else {
        ctx.out.null();
        return Ok(());
    };
    let Some(item) = ctx.modify::<List, _>(src_slot, |list| list.pop(from)) else {
        ctx.out.null();
        return Ok(());
    };
    let dst_slot = ctx.typed_for_write::<List>(dst)?;
    ctx.modify::<List, _>(dst_slot, |list| list.push(to, item.as_bytes()));
    // One change for the move, as Redis counts it (the element removed; the push is not counted again).
    ctx.dirty(1);
    ctx.notify(notify::LIST, if to == End::Left { "lpush" } else { "rpush" }, dst);
    notify_popped(ctx, src, from);
    if let Some(args) = propagate_as {
        ctx.propagate(args);
    }
    ctx.out.bulk(item.as_bytes());
    Ok(())
}

pub fn lmove(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (from, to) = (parse_end(args[3])?, parse_end(args[4])?);
    move_element(ctx, args[1], args[2], (from, to), None)
}

pub fn rpoplpush(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    move_element(ctx, args[1], args[2], (End::Right, End::Left), None)
}

/// Pops up to `count` from the first non-empty list among `keys`; false when all are empty.
fn mpop_first(ctx: &mut Ctx, keys: &[&[u8]], end: End, count: usize) -> Result<bool, CmdError> {
    for key in keys {
        let Some(slot) = ctx.find_typed::<List>(key)? else { continue };
        let items = ctx.modify::<List, _>(slot, |list| (0..count).map_while(|_| list.pop(end)).collect::<Vec<_>>());
        ctx.dirty(1);
        notify_popped(ctx, key, end);
        propagate_pop(ctx, key, end, Some(items.len()));
        ctx.out.array(2);
        ctx.out.bulk(key);
        ctx.out.array(items.len());
        items.iter().for_each(|item| ctx.out.bulk(item.as_bytes()));
        return Ok(true);
    }
    Ok(false)
}

pub fn lmpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (keys, end, count) = parse_mpop(&args[1..], parse_end)?;
    if !mpop_first(ctx, &keys, end, count)? {
        ctx.out.null_array();
    }
    Ok(())
}

pub fn blmpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let timeout = parse_timeout(args[1])?;
    let (keys, end, count) = parse_mpop(&args[2..], parse_end)?;
    if !mpop_first(ctx, &keys, end, count)? {
        ctx.block(&keys, timeout);
    }
    Ok(())
}

/// BLPOP and BRPOP: pop from the first non-empty list, or block on all of them.
fn blocking_pop(ctx: &mut Ctx, args: &[&[u8]], end: End) -> CmdResult {
    let (keys, timeout) = args[1..].split_at(args.len() - 2);
    let timeout = parse_timeout(timeout[0])?;
    for key in keys {
        let Some(slot) = ctx.find_typed::<List>(key)? else { continue };
        if let Some(item) = ctx.modify::<List, _>(slot, |list| list.pop(end)) {
            ctx.dirty(1);
            notify_popped(ctx, key, end);
            propagate_pop(ctx, key, end, None);
            ctx.out.array(2);
            ctx.out.bulk(key);
            ctx.out.bulk(item.as_bytes());
            return Ok(());
        }
    }
    ctx.block(keys, timeout);
    Ok(())
}

pub fn blpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    blocking_pop(ctx, args, End::Left)
}

pub fn brpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    blocking_pop(ctx, args, End::Right)
}

/// BLMOVE and BRPOPLPUSH: move at once when the source has an element (logged as `non_blocking`), else
/// block on the source.
fn blocking_move(ctx: &mut Ctx, args: &[&[u8]], ends: (End, End), timeout: &[u8], non_blocking: &[&[u8]]) -> CmdResult {
    let timeout = parse_timeout(timeout)?;
    let (src, dst) = (args[1], args[2]);
    if ctx.find_typed::<List>(src)?.is_some() {
        return move_element(ctx, src, dst, ends, Some(non_blocking));
    }
    ctx.block(&[src], timeout);
    Ok(())
}

pub fn blmove(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let ends = (parse_end(args[3])?, parse_end(args[4])?);
    blocking_move(ctx, args, ends, args[5], &[b"LMOVE", args[1], args[2], args[3], args[4]])
}

pub fn brpoplpush(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    blocking_move(ctx, args, (End::Right, End::Left), args[3], &[b"RPOPLPUSH", args[1], args[2]])
}
