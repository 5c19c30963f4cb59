//! Set commands (Redis's t_set.c): membership, random members, moves and the algebra (SINTER, SUNION,
//! SDIFF and their STORE forms). A set emptied by any command disappears from the keyspace.

use super::hashes::random_positions;
use super::{
    int_arg, intercard_limit, random_count, reply_empty_scan, reply_missing_random, reply_scan_page, scan_args, typed,
    CmdError, CmdResult, Ctx, ScanArgs, ScanOf, SYNTAX,
};
use crate::notify;
use keel_store::{glob, Set, SetLimits, StrRef, Value};
use rand::Rng;
use std::collections::HashSet;

fn set_limits(ctx: &Ctx) -> SetLimits {
    ctx.settings.encodings.set
}

fn reply_member(out: &mut keel_protocol::ReplyWriter, member: StrRef) {
    match member {
        StrRef::Raw(bytes) => out.bulk(bytes),
        StrRef::Int(n) => out.bulk_int(n),
    }
}

pub fn sadd(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let limits = set_limits(ctx);
    let slot = ctx.typed_for_write::<Set>(args[1])?;
    ctx.prefetch_members(slot, args[2..].iter());
    let added = ctx.modify::<Set, _>(slot, |set| args[2..].iter().filter(|m| set.add(m, &limits)).count());
    ctx.dirty(added as u64);
    if added > 0 {
        ctx.notify(notify::SET, "sadd", args[1]);
    }
    ctx.out.int(added as i64);
    Ok(())
}

pub fn srem(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ctx.remove_members(args[1], &args[2..], Set::remove, (notify::SET, "srem"))
}

pub fn smembers(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let members: Vec<Vec<u8>> = match ctx.read_typed::<Set>(args[1])? {
        Some(set) => set.iter().map(|m| m.to_bytes().into_owned()).collect(),
        None => Vec::new(),
    };
    ctx.out.set(members.len());
    members.iter().for_each(|m| ctx.out.bulk(m));
    Ok(())
}

pub fn sismember(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let found = ctx.read_typed::<Set>(args[1])?.is_some_and(|s| s.contains(args[2]));
    ctx.out.int(found as i64);
    Ok(())
}

pub fn smismember(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let found: Vec<bool> = match ctx.read_typed::<Set>(args[1])? {
        Some(set) => args[2..].iter().map(|m| set.contains(m)).collect(),
        None => vec![false; args.len() - 2],
    };
    ctx.out.array(found.len());
    found.iter().for_each(|&f| ctx.out.int(f as i64));
    Ok(())
}

pub fn scard(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let len = ctx.read_typed::<Set>(args[1])?.map_or(0, Set::len);
    ctx.out.int(len as i64);
    Ok(())
}

pub fn spop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() > 3 {
        return Err(SYNTAX);
    }
    let count = match args.get(2) {
        Some(arg) => Some(
            int_arg(arg)
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| CmdError::new("ERR value is out of range, must be positive"))? as usize,
        ),
        None => None,
    };
    let Some(slot) = ctx.find_typed::<Set>(args[1])? else {
        match count {
            Some(_) => ctx.out.set(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let mut rng = rand::thread_rng();
    let popped: Vec<Vec<u8>> = ctx.modify::<Set, _>(slot, |set| {
        let mut popped = Vec::new();
        for _ in 0..count.unwrap_or(1) {
            let Some(pos) = set.random(&mut rng) else { break };
            let member = set.at(pos).to_bytes().into_owned();
            set.remove(&member);
            popped.push(member);
        }
        popped
    });
    ctx.dirty(popped.len() as u64);
    // The members were chosen at random: the log records which ones.
    if !popped.is_empty() {
        ctx.notify(notify::SET, "spop", args[1]);
        ctx.notify_if_gone(args[1]);
        let emptied = count.is_some() && ctx.lookup_peek(args[1]).is_none();
        if emptied {
            // Popped whole, as Redis propagates it: the key deleted.
            ctx.propagate_deletion(args[1]);
        } else {
            let mut srem: Vec<&[u8]> = vec![b"SREM", args[1]];
            srem.extend(popped.iter().map(Vec::as_slice));
            ctx.propagate(&srem);
        }
    }
    match count {
        Some(_) => {
            ctx.out.set(popped.len());
            popped.iter().for_each(|m| ctx.out.bulk(m));
        }
        None => ctx.out.bulk(&popped[0]),
    }
    Ok(())
}

pub fn srandmember(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() > 3 {
        return Err(SYNTAX);
    }
    let count = random_count(args.get(2))?;
    let db = ctx.session.db;
    let slot = ctx.lookup_read(args[1]);
    let Some(slot) = slot else {
        reply_missing_random(ctx.out, count);
        return Ok(());
    };
    let set = typed::<Set>(ctx.ks.dbs[db].value(slot))?;
    let mut rng = rand::thread_rng();
    match count {
        None => {
            let pos = rng.gen_range(0..set.len());
            reply_member(ctx.out, set.at(pos));
        }
        Some(n) => {
            let positions = random_positions(set.len(), n, &mut rng);
            let members: Vec<StrRef> = positions.iter().map(|&p| set.at(p)).collect();
            ctx.out.array(members.len());
            members.into_iter().for_each(|member| reply_member(ctx.out, member));
        }
    }
    Ok(())
}

pub fn smove(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (src, dst, member) = (args[1], args[2], args[3]);
    if ctx.find_typed::<Set>(src)?.is_none() {
        ctx.out.int(0);
        ctx.find_typed::<Set>(dst)?;
        return Ok(());
    }
    // Checking the destination may reclaim an expired key and move slots: look the source up after it.
    ctx.find_typed::<Set>(dst)?;
    let Some(src_slot) = ctx.find_typed::<Set>(src)? else {
        ctx.out.int(0);
        return Ok(());
    };
    if src == dst {
        let found = typed::<Set>(ctx.db().value(src_slot))?.contains(member);
        ctx.out.int(found as i64);
        return Ok(());
    }
    if !ctx.modify::<Set, _>(src_slot, |set| set.remove(member)) {
        ctx.out.int(0);
        return Ok(());
    }
    ctx.notify(notify::SET, "srem", src);
    ctx.notify_if_gone(src);
    let limits = set_limits(ctx);
    let dst_slot = ctx.typed_for_write::<Set>(dst)?;
    // A member already in the destination leaves it unchanged (and so does not disturb a WATCH of it).
    if typed::<Set>(ctx.db().value(dst_slot))?.contains(member) {
        ctx.dirty(1);
        ctx.out.int(1);
        return Ok(());
    }
    ctx.modify::<Set, _>(dst_slot, |set| set.add(member, &limits));
    ctx.dirty(2);
    ctx.notify(notify::SET, "sadd", dst);
    ctx.out.int(1);
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Algebra {
    Inter,
    Union,
    Diff,
}

/// Computes SINTER/SUNION/SDIFF over `keys`; a missing key is an empty set; any other type is WRONGTYPE.
fn compute(ctx: &mut Ctx, keys: &[&[u8]], op: Algebra, limit: usize) -> Result<Vec<Vec<u8>>, CmdError> {
    let db = ctx.session.db;
    let mut sets: Vec<Option<usize>> = Vec::with_capacity(keys.len());
    for key in keys {
        let slot = ctx.lookup_read(key);
        if let Some(slot) = slot {
            typed::<Set>(ctx.ks.dbs[db].value(slot))?;
        }
        sets.push(slot);
    }
    // Slots stay valid: reads do not remove anything once every key has been looked up.
    let sets: Vec<Option<&Set>> =
        sets.iter().map(|slot| slot.and_then(|s| typed::<Set>(ctx.ks.dbs[db].value(s)).ok())).collect();
    let members = |set: &Set| set.iter().map(|m| m.to_bytes().into_owned()).collect::<Vec<_>>();
    let result = match op {
        Algebra::Inter => {
            if sets.iter().any(Option::is_none) {
                return Ok(Vec::new());
            }
            let mut ordered: Vec<&Set> = sets.iter().flatten().copied().collect();
            ordered.sort_by_key(|s| s.len());
            let (smallest, rest) = ordered.split_first().ok_or(SYNTAX)?;
            let mut out = Vec::new();
            for member in smallest.iter() {
                let bytes = member.to_bytes();
                if rest.iter().all(|s| s.contains(&bytes)) {
                    out.push(bytes.into_owned());
                    if out.len() == limit {
                        break;
                    }
                }
            }
            out
        }
        Algebra::Union => {
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            for set in sets.iter().flatten() {
                for member in members(set) {
                    if seen.insert(member.clone()) {
                        out.push(member);
                    }
                }
            }
            out
        }
        Algebra::Diff => match sets.first().copied().flatten() {
            None => Vec::new(),
            Some(first) => {
                members(first).into_iter().filter(|m| !sets[1..].iter().flatten().any(|s| s.contains(m))).collect()
            }
        },
    };
    Ok(result)
}

fn reply_members(ctx: &mut Ctx, members: &[Vec<u8>]) {
    ctx.out.set(members.len());
    members.iter().for_each(|m| ctx.out.bulk(m));
}

/// Replaces `dst` with a set of `members` (deleting it when empty); replies with the size.
fn store(ctx: &mut Ctx, dst: &[u8], members: Vec<Vec<u8>>, event: &str) -> CmdResult {
    let limits = set_limits(ctx);
    let mut set = Set::new();
    for m in &members {
        set.add(m, &limits);
    }
    let len = set.len();
    ctx.replace_key(dst, (len > 0).then(|| Value::Set(Box::new(set))), (notify::SET, event));
    ctx.out.int(len as i64);
    Ok(())
}

pub fn sinter(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let members = compute(ctx, &args[1..], Algebra::Inter, usize::MAX)?;
    reply_members(ctx, &members);
    Ok(())
}

pub fn sunion(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let members = compute(ctx, &args[1..], Algebra::Union, usize::MAX)?;
    reply_members(ctx, &members);
    Ok(())
}

pub fn sdiff(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let members = compute(ctx, &args[1..], Algebra::Diff, usize::MAX)?;
    reply_members(ctx, &members);
    Ok(())
}

pub fn sinterstore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let members = compute(ctx, &args[2..], Algebra::Inter, usize::MAX)?;
    store(ctx, args[1], members, "sinterstore")
}

pub fn sunionstore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let members = compute(ctx, &args[2..], Algebra::Union, usize::MAX)?;
    store(ctx, args[1], members, "sunionstore")
}

pub fn sdiffstore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let members = compute(ctx, &args[2..], Algebra::Diff, usize::MAX)?;
    store(ctx, args[1], members, "sdiffstore")
}

pub fn sintercard(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let numkeys = int_arg(args[1]).ok().filter(|n| *n > 0);
    let numkeys = numkeys.ok_or_else(|| CmdError::new("ERR numkeys should be greater than 0"))? as usize;
    if 2 + numkeys > args.len() {
        return Err(CmdError::new("ERR Number of keys can't be greater than number of args"));
    }
    let limit = intercard_limit(args, 2 + numkeys)?;
    let members = compute(ctx, &args[2..2 + numkeys], Algebra::Inter, limit)?;
    ctx.out.int(members.len() as i64);
    Ok(())
}

pub fn sscan(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let ScanArgs { cursor, count, pattern, .. } = scan_args(args, 2, ScanOf::Members)?;
    let db = ctx.session.db;
    let slot = ctx.lookup_read(args[1]);
    let Some(slot) = slot else {
        reply_empty_scan(ctx.out);
        return Ok(());
    };
    let set = typed::<Set>(ctx.ks.dbs[db].value(slot))?;
    let mut found = Vec::new();
    let next = set.scan(cursor, count, |pos| {
        let member = set.at(pos).to_bytes().into_owned();
        if pattern.is_none_or(|p| glob::matches(p, &member, false)) {
            found.push(member);
        }
    });
    reply_scan_page(ctx.out, next, found.len());
    found.iter().for_each(|m| ctx.out.bulk(m));
    Ok(())
}
