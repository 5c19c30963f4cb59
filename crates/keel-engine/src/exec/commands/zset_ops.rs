//! Sorted-set algebra (Redis's `zunionInterDiffGenericCommand`): ZUNION, ZINTER, ZDIFF, their STORE forms
//! and ZINTERCARD, with WEIGHTS and AGGREGATE. Inputs may be sets (every member scoring 1) or sorted sets.

use super::{int_arg, intercard_limit, is, CmdError, CmdResult, Ctx, SYNTAX, WRONGTYPE};
use keel_store::number::parse_f64;
use keel_store::{Value, ZSet};
use std::collections::HashMap;

/// A member with its score.
type Scored = (Vec<u8>, f64);

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn combine(self, acc: f64, value: f64) -> f64 {
        match self {
            // inf + -inf is NaN; Redis makes it 0.
            Aggregate::Sum => {
                let sum = acc + value;
                if sum.is_nan() {
                    0.0
                } else {
                    sum
                }
            }
            Aggregate::Min => acc.min(value),
            Aggregate::Max => acc.max(value),
        }
    }
}

/// The members and scores of one input key (a set scores every member 1); None when the key is missing.
fn input(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Vec<Scored>>, CmdError> {
    let db = ctx.session.db;
    let Some(slot) = ctx.lookup_read(key) else { return Ok(None) };
    let members = match ctx.ks.dbs[db].value(slot) {
        Value::ZSet(z) => (0..z.len()).map(|r| z.at_rank(r)).map(|(m, s)| (m.to_vec(), s)).collect(),
        Value::Set(s) => s.iter().map(|m| (m.to_bytes().into_owned(), 1.0)).collect(),
        _ => return Err(WRONGTYPE),
    };
    Ok(Some(members))
}

/// Parses `numkeys key... [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]` from `args[at..]` and
/// computes the result, ordered as a sorted set is.
fn compute(
    ctx: &mut Ctx,
    args: &[&[u8]],
    at: usize,
    op: Op,
    allow_withscores: bool,
) -> Result<(Vec<Scored>, bool), CmdError> {
    let numkeys = int_arg(args[at])?;
    if numkeys < 1 {
        return Err(CmdError::new(format!(
            "ERR at least 1 input key is needed for '{}' command",
            ctx.command.fullname
        )));
    }
    let numkeys = numkeys as usize;
    if numkeys > args.len() - at - 1 {
        return Err(SYNTAX);
    }
    let keys = &args[at + 1..at + 1 + numkeys];
    let options = Options::parse(&args[at + 1 + numkeys..], numkeys, op, allow_withscores)?;
    let mut inputs = Vec::with_capacity(numkeys);
    for key in keys {
        inputs.push(input(ctx, key)?);
    }
    let result = combine(&inputs, &options, op);
    let mut ordered: Vec<(Vec<u8>, f64)> = result.into_iter().collect();
    ordered.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
    Ok((ordered, options.with_scores))
}

/// ZUNION/ZINTER/ZDIFF's options after the keys: WEIGHTS and AGGREGATE (not for ZDIFF), WITHSCORES where the
/// command replies rather than stores.
struct Options {
    weights: Vec<f64>,
    aggregate: Aggregate,
    with_scores: bool,
}

impl Options {
    fn parse(args: &[&[u8]], numkeys: usize, op: Op, allow_withscores: bool) -> Result<Options, CmdError> {
        let mut options = Options { weights: vec![1.0; numkeys], aggregate: Aggregate::Sum, with_scores: false };
        let mut j = 0;
        while j < args.len() {
            let remaining = args.len() - j - 1;
            if op != Op::Diff && is(args[j], "weights") && remaining >= numkeys {
                for (i, w) in args[j + 1..j + 1 + numkeys].iter().enumerate() {
                    options.weights[i] =
                        parse_f64(w).ok_or_else(|| CmdError::new("ERR weight value is not a float"))?;
                }
                j += numkeys;
            } else if op != Op::Diff && is(args[j], "aggregate") && remaining >= 1 {
                let kind = args[j + 1];
                options.aggregate = if is(kind, "sum") {
                    Aggregate::Sum
                } else if is(kind, "min") {
                    Aggregate::Min
                } else if is(kind, "max") {
                    Aggregate::Max
                } else {
                    return Err(SYNTAX);
                };
                j += 1;
            } else if allow_withscores && is(args[j], "withscores") {
                options.with_scores = true;
            } else {
                return Err(SYNTAX);
            }
            j += 1;
        }
        Ok(options)
    }
}

/// The members `op` makes of the inputs (None: a missing key), with their weighted, aggregated scores.
fn combine(inputs: &[Option<Vec<Scored>>], options: &Options, op: Op) -> HashMap<Vec<u8>, f64> {
    let (weights, aggregate) = (options.weights.as_slice(), options.aggregate);
    let weigh = |score: f64, weight: f64| {
        let product = score * weight;
        if product.is_nan() {
            0.0
        } else {
            product
        }
    };
    let mut result: HashMap<Vec<u8>, f64> = HashMap::new();
    match op {
        Op::Union => {
            for (members, &weight) in inputs.iter().zip(weights) {
                for (member, score) in members.iter().flatten() {
                    let value = weigh(*score, weight);
                    result
                        .entry(member.clone())
                        .and_modify(|acc| *acc = aggregate.combine(*acc, value))
                        .or_insert(value);
                }
            }
        }
        Op::Inter => {
            if inputs.iter().all(Option::is_some) {
                let maps: Vec<HashMap<&[u8], f64>> = inputs
                    .iter()
                    .flatten()
                    .map(|members| members.iter().map(|(m, s)| (m.as_slice(), *s)).collect())
                    .collect();
                for (member, score) in inputs[0].iter().flatten() {
                    let mut acc = weigh(*score, weights[0]);
                    let mut everywhere = true;
                    for (map, &weight) in maps.iter().zip(weights).skip(1) {
                        match map.get(member.as_slice()) {
                            Some(&s) => acc = aggregate.combine(acc, weigh(s, weight)),
                            None => {
                                everywhere = false;
                                break;
                            }
                        }
                    }
                    if everywhere {
                        result.insert(member.clone(), acc);
                    }
                }
            }
        }
        Op::Diff => {
            if let Some(first) = &inputs[0] {
                let others: Vec<HashMap<&[u8], f64>> = inputs[1..]
                    .iter()
                    .flatten()
                    .map(|members| members.iter().map(|(m, s)| (m.as_slice(), *s)).collect())
                    .collect();
                for (member, score) in first {
                    if !others.iter().any(|map| map.contains_key(member.as_slice())) {
                        result.insert(member.clone(), *score);
                    }
                }
            }
        }
    }
    result
}

/// Replies with members (and scores: flat in RESP2, pairs in RESP3), as ZRANGE does.
pub fn reply_scored(ctx: &mut Ctx, items: &[(Vec<u8>, f64)], with_scores: bool) {
    let nested = with_scores && ctx.out.is_resp3();
    ctx.out.array(if with_scores && !nested { items.len() * 2 } else { items.len() });
    for (member, score) in items {
        if nested {
            ctx.out.array(2);
        }
        ctx.out.bulk(member);
        if with_scores {
            ctx.out.double(*score);
        }
    }
}

/// Replaces `dst` with a sorted set of `items` (deleting it when empty), publishes `event`, and replies
/// with its size.
pub fn store_scored(ctx: &mut Ctx, dst: &[u8], items: Vec<(Vec<u8>, f64)>, event: &str) -> CmdResult {
    let limits = ctx.settings.encodings.zset;
    let mut zset = ZSet::new();
    for (member, score) in &items {
        zset.insert(member, *score, &limits);
    }
    let len = zset.len();
    ctx.replace_key(dst, (len > 0).then(|| Value::ZSet(Box::new(zset))), (crate::notify::ZSET, event));
    ctx.out.int(len as i64);
    Ok(())
}

pub fn zunion(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (items, with_scores) = compute(ctx, args, 1, Op::Union, true)?;
    reply_scored(ctx, &items, with_scores);
    Ok(())
}

pub fn zinter(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (items, with_scores) = compute(ctx, args, 1, Op::Inter, true)?;
    reply_scored(ctx, &items, with_scores);
    Ok(())
}

pub fn zdiff(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (items, with_scores) = compute(ctx, args, 1, Op::Diff, true)?;
    reply_scored(ctx, &items, with_scores);
    Ok(())
}

pub fn zunionstore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (items, _) = compute(ctx, args, 2, Op::Union, false)?;
    store_scored(ctx, args[1], items, "zunionstore")
}

pub fn zinterstore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (items, _) = compute(ctx, args, 2, Op::Inter, false)?;
    store_scored(ctx, args[1], items, "zinterstore")
}

pub fn zdiffstore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (items, _) = compute(ctx, args, 2, Op::Diff, false)?;
    store_scored(ctx, args[1], items, "zdiffstore")
}

pub fn zintercard(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let numkeys = int_arg(args[1])?;
    if numkeys < 1 {
        return Err(CmdError::new("ERR at least 1 input key is needed for 'zintercard' command"));
    }
    let numkeys = numkeys as usize;
    if numkeys > args.len() - 2 {
        return Err(SYNTAX);
    }
    let limit = intercard_limit(args, 2 + numkeys)?;
    let mut inter_args: Vec<&[u8]> = args[..2 + numkeys].to_vec();
    inter_args[0] = b"zinter";
    let (items, _) = compute(ctx, &inter_args, 1, Op::Inter, false)?;
    ctx.out.int(items.len().min(limit) as i64);
    Ok(())
}
