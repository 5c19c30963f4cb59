//! Sorted-set commands (Redis's t_zset.c): ZADD and its flags, scores and ranks, the ZRANGE family by
//! index, score and lexicographic ranges, removals by range, pops (and blocking pops), ZSCAN. A sorted set
//! emptied by any command disappears from the keyspace.

use super::hashes::random_positions;
use super::zset_ops::store_scored;
use super::{
    int_arg, is, parse_mpop, random_count, reply_empty_scan, reply_missing_random, reply_scan_page, scan_args, typed,
    CmdError, CmdResult, Ctx, ScanArgs, ScanOf, SYNTAX,
};
use crate::notify;
use crate::state::blocking::parse_timeout;
use keel_protocol::{format_double, ReplyWriter};
use keel_store::number::parse_f64;
use keel_store::{glob, Expiry, Value, ZSet, ZSetLimits};

fn limits(ctx: &Ctx) -> ZSetLimits {
    ctx.settings.encodings.zset
}

fn score_arg(arg: &[u8]) -> Result<f64, CmdError> {
    parse_f64(arg).ok_or_else(|| CmdError::new("ERR value is not a valid float"))
}

/// ZADD's flags, before its score and member pairs.
#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

impl AddFlags {
    /// The flags and the score and member pairs after them, with Redis's errors for what does not go together.
    fn parse<'a, 'b>(args: &'b [&'a [u8]]) -> Result<(AddFlags, &'b [&'a [u8]]), CmdError> {
        let mut f = AddFlags::default();
        let mut j = 2;
        while j < args.len() {
            let opt = args[j];
            if is(opt, "nx") {
                f.nx = true;
            } else if is(opt, "xx") {
                f.xx = true;
            } else if is(opt, "gt") {
                f.gt = true;
            } else if is(opt, "lt") {
                f.lt = true;
            } else if is(opt, "ch") {
                f.ch = true;
            } else if is(opt, "incr") {
                f.incr = true;
            } else {
                break;
            }
            j += 1;
        }
        let pairs = &args[j..];
        if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
            return Err(SYNTAX);
        }
        if f.nx && f.xx {
            return Err(CmdError::new("ERR XX and NX options at the same time are not compatible"));
        }
        if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
            return Err(CmdError::new("ERR GT, LT, and/or NX options at the same time are not compatible"));
        }
        if f.incr && pairs.len() > 2 {
            return Err(CmdError::new("ERR INCR option supports a single increment-element pair"));
        }
        Ok((f, pairs))
    }
}

pub fn zadd(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (AddFlags { nx, xx, gt, lt, ch, incr }, pairs) = AddFlags::parse(args)?;
    let scores: Vec<f64> = pairs.chunks_exact(2).map(|p| score_arg(p[0])).collect::<Result<_, _>>()?;
    let key = args[1];
    let slot = match ctx.find_typed::<ZSet>(key)? {
        Some(slot) => slot,
        None if xx => {
            if incr {
                ctx.out.null();
            } else {
                ctx.out.int(0);
            }
            return Ok(());
        }
        None => {
            let db = ctx.session.db;
            ctx.add_key(db, key, Value::ZSet(Box::default()), Expiry::Clear)
        }
    };
    let limits = limits(ctx);
    let outcome = ctx.modify::<ZSet, _>(slot, |zset| -> Result<(usize, usize, Option<f64>), CmdError> {
        let (mut added, mut updated, mut last) = (0, 0, None);
        for (pair, &score) in pairs.chunks_exact(2).zip(&scores) {
            let member = pair[1];
            match zset.score(member) {
                Some(current) => {
                    if nx {
                        continue;
                    }
                    let new = if incr { current + score } else { score };
                    if new.is_nan() {
                        return Err(CmdError::new("ERR resulting score is not a number (NaN)"));
                    }
                    if (lt && new >= current) || (gt && new <= current) {
                        continue;
                    }
                    if new != current {
                        zset.insert(member, new, &limits);
                        updated += 1;
                    }
                    last = Some(new);
                }
                None => {
                    if xx {
                        continue;
                    }
                    zset.insert(member, score, &limits);
                    added += 1;
                    last = Some(score);
                }
            }
        }
        Ok((added, updated, last))
    });
    let (added, updated, last) = outcome?;
    ctx.dirty((added + updated) as u64);
    if added + updated > 0 {
        ctx.notify(notify::ZSET, if incr { "zincr" } else { "zadd" }, args[1]);
    }
    if incr {
        match last {
            Some(score) => ctx.out.double(score),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.int(if ch { added + updated } else { added } as i64);
    }
    Ok(())
}

pub fn zincrby(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let increment = score_arg(args[2])?;
    let slot = ctx.typed_for_write::<ZSet>(args[1])?;
    let limits = limits(ctx);
    let new = ctx.modify::<ZSet, _>(slot, |zset| {
        let new = zset.score(args[3]).unwrap_or(0.0) + increment;
        if new.is_nan() {
            return Err(CmdError::new("ERR resulting score is not a number (NaN)"));
        }
        zset.insert(args[3], new, &limits);
        Ok(new)
    })?;
    ctx.dirty(1);
    ctx.notify(notify::ZSET, "zincr", args[1]);
    ctx.out.double(new);
    Ok(())
}

pub fn zrem(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ctx.remove_members(args[1], &args[2..], ZSet::remove, (notify::ZSET, "zrem"))
}

pub fn zcard(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let len = ctx.read_typed::<ZSet>(args[1])?.map_or(0, ZSet::len);
    ctx.out.int(len as i64);
    Ok(())
}

pub fn zscore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    match ctx.read_typed::<ZSet>(args[1])?.and_then(|z| z.score(args[2])) {
        Some(score) => ctx.out.double(score),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn zmscore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let scores: Vec<Option<f64>> = match ctx.read_typed::<ZSet>(args[1])? {
        Some(zset) => args[2..].iter().map(|m| zset.score(m)).collect(),
        None => vec![None; args.len() - 2],
    };
    ctx.out.array(scores.len());
    for score in scores {
        match score {
            Some(score) => ctx.out.double(score),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// ZRANK and ZREVRANK, with Redis 7.2's `WITHSCORE` (the rank and the score; a null array when the member
/// is missing).
fn rank_generic(ctx: &mut Ctx, args: &[&[u8]], reverse: bool) -> CmdResult {
    if args.len() > 4 {
        let name = if reverse { "zrevrank" } else { "zrank" };
        return Err(CmdError::new(format!("ERR wrong number of arguments for '{name}' command")));
    }
    let with_score = match args.get(3) {
        Some(option) if is(option, "withscore") => true,
        Some(_) => return Err(SYNTAX),
        None => false,
    };
    let found = ctx.read_typed::<ZSet>(args[1])?.and_then(|z| {
        let rank = z.rank(args[2])?;
        Some((if reverse { z.len() - 1 - rank } else { rank }, z.score(args[2])))
    });
    match (found, with_score) {
        (Some((rank, _)), false) => ctx.out.int(rank as i64),
        (Some((rank, score)), true) => {
            ctx.out.array(2);
            ctx.out.int(rank as i64);
            ctx.out.double(score.unwrap_or_default());
        }
        (None, false) => ctx.out.null(),
        (None, true) => ctx.out.null_array(),
    }
    Ok(())
}

pub fn zrank(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    rank_generic(ctx, args, false)
}

pub fn zrevrank(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    rank_generic(ctx, args, true)
}

/// One end of a score range: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
#[derive(Clone, Copy)]
struct ScoreBound {
    value: f64,
    exclusive: bool,
}

fn score_bound(arg: &[u8]) -> Result<ScoreBound, CmdError> {
    let invalid = || CmdError::new("ERR min or max is not a float");
    let (exclusive, text) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    let value = parse_f64(text).ok_or_else(invalid)?;
    Ok(ScoreBound { value, exclusive })
}

/// One end of a lexicographic range: `[a` (inclusive), `(a` (exclusive), `-` and `+` (the extremes).
#[derive(Clone, Copy)]
enum LexBound<'a> {
    Min,
    Max,
    Inclusive(&'a [u8]),
    Exclusive(&'a [u8]),
}

fn lex_bound(arg: &[u8]) -> Result<LexBound<'_>, CmdError> {
    match arg {
        b"-" => Ok(LexBound::Min),
        b"+" => Ok(LexBound::Max),
        [b'[', rest @ ..] => Ok(LexBound::Inclusive(rest)),
        [b'(', rest @ ..] => Ok(LexBound::Exclusive(rest)),
        _ => Err(CmdError::new("ERR min or max not valid string range item")),
    }
}

/// What a ZRANGE-style command selects.
enum Range<'a> {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound<'a>, LexBound<'a>),
}

/// The ascending ranks `[first, end)` a range covers.
fn resolve(zset: &ZSet, range: &Range) -> (usize, usize) {
    let len = zset.len();
    match range {
        Range::Rank(start, stop) => {
            let (start, stop) = (*start, *stop);
            let start = if start < 0 { (start + len as i64).max(0) } else { start };
            let stop = if stop < 0 { stop + len as i64 } else { stop };
            if start > stop || start >= len as i64 {
                (0, 0)
            } else {
                (start as usize, (stop.min(len as i64 - 1) + 1) as usize)
            }
        }
        Range::Score(min, max) => {
            let first = zset.count_before(|s, _| if min.exclusive { s <= min.value } else { s < min.value });
            let end = zset.count_before(|s, _| if max.exclusive { s < max.value } else { s <= max.value });
            (first, end.max(first))
        }
        Range::Lex(min, max) => {
            let first = zset.count_before(|_, m| match min {
                LexBound::Min => false,
                LexBound::Max => true,
                LexBound::Inclusive(b) => m < *b,
                LexBound::Exclusive(b) => m <= *b,
            });
            let end = zset.count_before(|_, m| match max {
                LexBound::Min => false,
                LexBound::Max => true,
                LexBound::Inclusive(b) => m <= *b,
                LexBound::Exclusive(b) => m < *b,
            });
            (first, end.max(first))
        }
    }
}

/// Replies with members (and scores) of `zset` at the given ascending ranks, in order.
fn reply_ranks(out: &mut ReplyWriter, zset: &ZSet, ranks: impl ExactSizeIterator<Item = usize>, with_scores: bool) {
    let nested = with_scores && out.is_resp3();
    let len = ranks.len();
    out.array(if with_scores && !nested { len * 2 } else { len });
    for rank in ranks {
        let (member, score) = zset.at_rank(rank);
        if nested {
            out.array(2);
        }
        out.bulk(member);
        if with_scores {
            out.double(score);
        }
    }
}

/// The general ZRANGE (Redis's `zrangeGenericCommand`): `args[0..]` are key, min, max and options.
fn range_generic(
    ctx: &mut Ctx,
    args: &[&[u8]],
    mut by: Option<&str>,
    mut reverse: bool,
    allow_options: bool,
    store: Option<&[u8]>,
) -> CmdResult {
    let (key, min, max) = (args[0], args[1], args[2]);
    let (mut with_scores, mut limit) = (false, None);
    let mut j = 3;
    while j < args.len() {
        let opt = args[j];
        if is(opt, "withscores") && store.is_none() {
            with_scores = true;
        } else if is(opt, "limit") && j + 2 < args.len() {
            limit = Some((int_arg(args[j + 1])?, int_arg(args[j + 2])?));
            j += 2;
        } else if allow_options && is(opt, "byscore") {
            by = Some("score");
        } else if allow_options && is(opt, "bylex") {
            by = Some("lex");
        } else if allow_options && is(opt, "rev") {
            reverse = true;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    if limit.is_some() && by.is_none() {
        return Err(CmdError::new(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && by == Some("lex") {
        return Err(CmdError::new("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    // With REV the bounds come as (max, min).
    let (low, high) = if reverse && by.is_some() { (max, min) } else { (min, max) };
    let range = match by {
        None => Range::Rank(int_arg(min)?, int_arg(max)?),
        Some("score") => Range::Score(score_bound(low)?, score_bound(high)?),
        _ => Range::Lex(lex_bound(low)?, lex_bound(high)?),
    };
    let db = ctx.session.db;
    let slot = ctx.lookup_read(key);
    let Some(slot) = slot else {
        match store {
            Some(dst) => return store_scored(ctx, dst, Vec::new(), "zrangestore"),
            None => ctx.out.array(0),
        }
        return Ok(());
    };
    let zset = typed::<ZSet>(ctx.ks.dbs[db].value(slot))?;
    let (first, end) = match (&range, reverse) {
        (Range::Rank(start, stop), true) => {
            // REV by rank counts ranks from the highest score.
            let (a, b) = resolve(zset, &Range::Rank(*start, *stop));
            (zset.len() - b, zset.len() - a)
        }
        _ => resolve(zset, &range),
    };
    let (offset, count) = limit.unwrap_or((0, -1));
    let available = end - first;
    let skip = if offset < 0 { available } else { (offset as usize).min(available) };
    let take = if count < 0 { available - skip } else { (count as usize).min(available - skip) };
    let ranks: Box<dyn ExactSizeIterator<Item = usize>> = if reverse {
        let top = end - skip;
        Box::new((top - take..top).rev())
    } else {
        let bottom = first + skip;
        Box::new(bottom..bottom + take)
    };
    match store {
        Some(dst) => {
            let items: Vec<(Vec<u8>, f64)> = ranks.map(|r| zset.at_rank(r)).map(|(m, s)| (m.to_vec(), s)).collect();
            store_scored(ctx, dst, items, "zrangestore")
        }
        None => {
            reply_ranks(ctx.out, zset, ranks, with_scores);
            Ok(())
        }
    }
}

pub fn zrange(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, &args[1..], None, false, true, None)
}

pub fn zrangestore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, &args[2..], None, false, true, Some(args[1]))
}

pub fn zrevrange(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, &args[1..], None, true, false, None)
}

pub fn zrangebyscore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, &args[1..], Some("score"), false, false, None)
}

pub fn zrevrangebyscore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, &args[1..], Some("score"), true, false, None)
}

pub fn zrangebylex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, &args[1..], Some("lex"), false, false, None)
}

pub fn zrevrangebylex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, &args[1..], Some("lex"), true, false, None)
}

fn count_range(ctx: &mut Ctx, key: &[u8], range: Range) -> CmdResult {
    let count = match ctx.read_typed::<ZSet>(key)? {
        Some(zset) => {
            let (first, end) = resolve(zset, &range);
            end - first
        }
        None => 0,
    };
    ctx.out.int(count as i64);
    Ok(())
}

pub fn zcount(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let range = Range::Score(score_bound(args[2])?, score_bound(args[3])?);
    count_range(ctx, args[1], range)
}

pub fn zlexcount(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let range = Range::Lex(lex_bound(args[2])?, lex_bound(args[3])?);
    count_range(ctx, args[1], range)
}

fn remove_range(ctx: &mut Ctx, key: &[u8], range: Range, event: &str) -> CmdResult {
    let Some(slot) = ctx.find_typed::<ZSet>(key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = ctx.modify::<ZSet, _>(slot, |zset| {
        let (first, end) = resolve(zset, &range);
        let doomed: Vec<Vec<u8>> = (first..end).map(|r| zset.at_rank(r).0.to_vec()).collect();
        doomed.iter().for_each(|m| {
            zset.remove(m);
        });
        doomed.len()
    });
    ctx.dirty(removed as u64);
    if removed > 0 {
        ctx.notify(notify::ZSET, event, key);
        ctx.notify_if_gone(key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

pub fn zremrangebyrank(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let range = Range::Rank(int_arg(args[2])?, int_arg(args[3])?);
    remove_range(ctx, args[1], range, "zremrangebyrank")
}

pub fn zremrangebyscore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let range = Range::Score(score_bound(args[2])?, score_bound(args[3])?);
    remove_range(ctx, args[1], range, "zremrangebyscore")
}

pub fn zremrangebylex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let range = Range::Lex(lex_bound(args[2])?, lex_bound(args[3])?);
    remove_range(ctx, args[1], range, "zremrangebylex")
}

/// Pops up to `count` members from the low (`max` false) or high end of the sorted set at `key` (in
/// `slot`); returns (member, score) pairs. What it popped is published and, when `propagate` says so,
/// logged as the ZPOPMIN/ZPOPMAX it amounted to (Redis's form for the blocking and multi-key pops): with
/// the number popped (`Some(true)`, ZMPOP's form) or without (`Some(false)`, BZPOPMIN's).
fn pop_members(
    ctx: &mut Ctx,
    key: &[u8],
    slot: usize,
    count: usize,
    max: bool,
    propagate: Option<bool>,
) -> Vec<(Vec<u8>, f64)> {
    let popped = ctx.modify::<ZSet, _>(slot, |zset| {
        (0..count).map_while(|_| zset.pop(max)).map(|(member, score)| (member.into_vec(), score)).collect::<Vec<_>>()
    });
    ctx.dirty(popped.len() as u64);
    if !popped.is_empty() {
        let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        ctx.notify(notify::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
        ctx.notify_if_gone(key);
        match propagate {
            Some(false) => ctx.propagate(&[name, key]),
            Some(true) => ctx.propagate(&[name, key, popped.len().to_string().as_bytes()]),
            None => {}
        }
    }
    popped
}

fn pop_generic(ctx: &mut Ctx, args: &[&[u8]], max: bool) -> CmdResult {
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
    let popped = match ctx.find_typed::<ZSet>(args[1])? {
        Some(slot) => pop_members(ctx, args[1], slot, count.unwrap_or(1), max, None),
        None => Vec::new(),
    };
    // RESP3 nests each pair when a count was given, as Redis does.
    let nested = count.is_some() && ctx.out.is_resp3();
    ctx.out.array(if nested { popped.len() } else { popped.len() * 2 });
    for (member, score) in popped {
        if nested {
            ctx.out.array(2);
        }
        ctx.out.bulk(&member);
        ctx.out.double(score);
    }
    Ok(())
}

pub fn zpopmin(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, args, false)
}

pub fn zpopmax(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, args, true)
}

/// BZPOPMIN and BZPOPMAX: pop from the first non-empty sorted set, or block on all of them.
fn blocking_pop(ctx: &mut Ctx, args: &[&[u8]], max: bool) -> CmdResult {
    let (keys, timeout) = args[1..].split_at(args.len() - 2);
    let timeout = parse_timeout(timeout[0])?;
    for key in keys {
        let Some(slot) = ctx.find_typed::<ZSet>(key)? else { continue };
        if let Some((member, score)) = pop_members(ctx, key, slot, 1, max, Some(false)).pop() {
            ctx.out.array(3);
            ctx.out.bulk(key);
            ctx.out.bulk(&member);
            ctx.out.double(score);
            return Ok(());
        }
    }
    ctx.block(keys, timeout);
    Ok(())
}

pub fn bzpopmin(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    blocking_pop(ctx, args, false)
}

pub fn bzpopmax(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    blocking_pop(ctx, args, true)
}

/// MIN or MAX of ZMPOP/BZMPOP: true pops the highest scores.
fn parse_min_max(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "max") {
        Ok(true)
    } else if is(arg, "min") {
        Ok(false)
    } else {
        Err(SYNTAX)
    }
}

/// Pops from the first non-empty sorted set among `keys`, replying `[key, [[member, score], ...]]`.
fn mpop_first(ctx: &mut Ctx, keys: &[&[u8]], max: bool, count: usize) -> Result<bool, CmdError> {
    for key in keys {
        let Some(slot) = ctx.find_typed::<ZSet>(key)? else { continue };
        let popped = pop_members(ctx, key, slot, count, max, Some(true));
        ctx.out.array(2);
        ctx.out.bulk(key);
        ctx.out.array(popped.len());
        for (member, score) in popped {
            ctx.out.array(2);
            ctx.out.bulk(&member);
            ctx.out.double(score);
        }
        return Ok(true);
    }
    Ok(false)
}

pub fn zmpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (keys, max, count) = parse_mpop(&args[1..], parse_min_max)?;
    if !mpop_first(ctx, &keys, max, count)? {
        ctx.out.null_array();
    }
    Ok(())
}

pub fn bzmpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let timeout = parse_timeout(args[1])?;
    let (keys, max, count) = parse_mpop(&args[2..], parse_min_max)?;
    if !mpop_first(ctx, &keys, max, count)? {
        ctx.block(&keys, timeout);
    }
    Ok(())
}

pub fn zrandmember(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let count = random_count(args.get(2))?;
    let with_scores = match args.get(3) {
        Some(arg) if is(arg, "withscores") && args.len() == 4 => true,
        Some(_) => return Err(SYNTAX),
        None => false,
    };
    let db = ctx.session.db;
    let slot = ctx.lookup_read(args[1]);
    let Some(slot) = slot else {
        reply_missing_random(ctx.out, count);
        return Ok(());
    };
    let zset = typed::<ZSet>(ctx.ks.dbs[db].value(slot))?;
    let mut rng = rand::thread_rng();
    match count {
        None => {
            let rank = random_positions(zset.len(), -1, &mut rng)[0];
            ctx.out.bulk(zset.at_rank(rank).0);
        }
        Some(n) => {
            let ranks = random_positions(zset.len(), n, &mut rng);
            reply_ranks(ctx.out, zset, ranks.into_iter(), with_scores);
        }
    }
    Ok(())
}

pub fn zscan(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let ScanArgs { cursor, count, pattern, .. } = scan_args(args, 2, ScanOf::Members)?;
    let db = ctx.session.db;
    let slot = ctx.lookup_read(args[1]);
    let Some(slot) = slot else {
        reply_empty_scan(ctx.out);
        return Ok(());
    };
    let zset = typed::<ZSet>(ctx.ks.dbs[db].value(slot))?;
    let mut found = Vec::new();
    let next = zset.scan(cursor, count, |member, score| {
        if pattern.is_none_or(|p| glob::matches(p, member, false)) {
            found.push((member, score));
        }
    });
    reply_scan_page(ctx.out, next, found.len() * 2);
    for (member, score) in found {
        ctx.out.bulk(member);
        ctx.out.bulk(format_double(score).as_bytes());
    }
    Ok(())
}
