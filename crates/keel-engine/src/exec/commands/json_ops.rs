//! The JSON commands that work on one type of value at each match: numbers (NUMINCRBY, NUMMULTBY), strings
//! (STRAPPEND, STRLEN), arrays (ARRAPPEND, ARRINSERT, ARRINDEX, ARRLEN, ARRPOP, ARRTRIM), objects (OBJKEYS,
//! OBJLEN), booleans (TOGGLE) and CLEAR. With a JSONPath each match gets a result (null where the value
//! is of another type); with a legacy path the command answers for the value, or says the path does not
//! lead to one of its type.

use super::json::{changed, doc_for_read, json_arg, optional_path, path_arg, text, NO_KEY, NO_PATH};
use super::{int_arg, typed, CmdError, CmdResult, Ctx};
use keel_store::json::path::Path;
use keel_store::json::{heap, Document, Json, MAX_DEPTH};

/// Runs `op` on every value `path` selects in the document at `key` that `fits`: one result per match,
/// None where the value does not fit. `op` also says how many bytes its change added (negative: freed),
/// so the document's size follows without walking it. The key must exist. Publishes `event` when
/// anything changed.
fn update_each<R>(
    ctx: &mut Ctx,
    key: &[u8],
    path: &Path,
    event: &str,
    fits: impl Fn(&Json) -> bool,
    mut op: impl FnMut(&mut Json) -> Result<(R, isize), CmdError>,
) -> Result<Vec<Option<R>>, CmdError> {
    let slot = ctx.find_typed::<Document>(key)?.ok_or(NO_KEY)?;
    let doc = typed::<Document>(ctx.db().value(slot))?.root();
    let targets: Vec<_> =
        path.locate(doc).into_iter().map(|loc| doc.at(&loc).is_some_and(&fits).then_some(loc)).collect();
    let results = ctx.modify::<Document, _>(slot, |doc| {
        let mut results = Vec::with_capacity(targets.len());
        for target in &targets {
            let result = target.as_ref().and_then(|loc| {
                doc.edit(loc, |value| match op(value) {
                    Ok((result, added)) => (Ok(result), added),
                    Err(e) => (Err(e), 0),
                })
            });
            results.push(result);
        }
        results
    });
    let mut done = Vec::with_capacity(results.len());
    let mut outcome = Ok(());
    for result in results {
        match result {
            Some(Ok(value)) => done.push(Some(value)),
            Some(Err(e)) => {
                outcome = Err(e);
                break;
            }
            None => done.push(None),
        }
    }
    if done.iter().any(Option::is_some) {
        changed(ctx, event, key);
    }
    outcome.map(|()| done)
}

/// The bytes an array grew by when `added` went in and its capacity went from `before` to what it is
/// (the copies are measured, not the arguments: a copy's capacity is its length).
fn grown(before: usize, after: usize, added: &[Json]) -> isize {
    let slots = (after - before) * std::mem::size_of::<Json>();
    (slots + added.iter().map(heap).sum::<usize>()) as isize
}

/// The legacy answer: the last match's result, or `ERR Path does not exist or <why>`.
fn last_or<R>(results: Vec<Option<R>>, why: &str) -> Result<R, CmdError> {
    results.into_iter().flatten().last().ok_or_else(|| CmdError::new(format!("ERR Path does not exist or {why}")))
}

fn reply_ints(ctx: &mut Ctx, results: &[Option<i64>]) {
    ctx.out.array(results.len());
    for result in results {
        match result {
            Some(n) => ctx.out.int(*n),
            None => ctx.out.null(),
        }
    }
}

/// A JSONPath write's reply for commands that answer with a length or count per match.
fn reply_lengths(ctx: &mut Ctx, path: &Path, results: Vec<Option<i64>>, why: &str) -> CmdResult {
    if path.is_legacy() {
        let last = last_or(results, why)?;
        ctx.out.int(last);
    } else {
        reply_ints(ctx, &results);
    }
    Ok(())
}

fn is_number(value: &Json) -> bool {
    matches!(value, Json::Int(_) | Json::Float(_))
}

fn is_array(value: &Json) -> bool {
    matches!(value, Json::Array(_))
}

/// `a op b` as RedisJSON computes it: integers stay integers (an overflow is an error), anything else is
/// a float, which must be finite.
fn arithmetic(a: &Json, b: &Json, ints: fn(i128, i128) -> i128, floats: fn(f64, f64) -> f64) -> Result<Json, CmdError> {
    if let (Json::Int(x), Json::Int(y)) = (a, b) {
        return i64::try_from(ints(*x as i128, *y as i128))
            .map(Json::Int)
            .map_err(|_| CmdError::new("ERR numeric overflow"));
    }
    let not_a_number = || CmdError::new("ERR result is not a number");
    let (x, y) = (a.as_f64().ok_or_else(not_a_number)?, b.as_f64().ok_or_else(not_a_number)?);
    let result = floats(x, y);
    if result.is_finite() {
        Ok(Json::Float(result))
    } else {
        Err(not_a_number())
    }
}

fn number_op(
    ctx: &mut Ctx,
    args: &[&[u8]],
    event: &str,
    ints: fn(i128, i128) -> i128,
    floats: fn(f64, f64) -> f64,
) -> CmdResult {
    let path = path_arg(args[2])?;
    let by = json_arg(args[3])?;
    let results = update_each(ctx, args[1], &path, event, is_number, |value| {
        *value = arithmetic(value, &by, ints, floats)?;
        Ok((value.clone(), 0))
    })?;
    if path.is_legacy() {
        let last = last_or(results, "does not contains a number")?;
        ctx.out.bulk(&text(&last));
    } else {
        let values: Vec<Json> = results.into_iter().map(|r| r.unwrap_or(Json::Null)).collect();
        ctx.out.bulk(&text(&Json::Array(values)));
    }
    Ok(())
}

/// JSON.NUMINCRBY key path number
pub fn json_numincrby(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    number_op(ctx, args, "json.numincrby", |a, b| a + b, |a, b| a + b)
}

/// JSON.NUMMULTBY key path number
pub fn json_nummultby(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    number_op(ctx, args, "json.nummultby", |a, b| a * b, |a, b| a * b)
}

/// JSON.STRAPPEND key [path] value: `value` is a JSON string; the new lengths.
pub fn json_strappend(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (path, value) = match args.len() {
        3 => (Path::root(), args[2]),
        _ => (path_arg(args[2])?, args[3]),
    };
    let Json::Str(suffix) = json_arg(value)? else {
        return Err(CmdError::new("WRONGTYPE wrong type of path value - expected string"));
    };
    let results = update_each(
        ctx,
        args[1],
        &path,
        "json.strappend",
        |v| matches!(v, Json::Str(_)),
        |value| {
            let Json::Str(s) = value else { return Ok((0, 0)) };
            let before = s.capacity();
            s.push_str(&suffix);
            Ok((s.len() as i64, s.capacity() as isize - before as isize))
        },
    )?;
    reply_lengths(ctx, &path, results, "not a string")
}

/// How a read of one property per match answers where there is nothing to read.
struct ReadRules {
    /// The error when a legacy path leads to a value of another type.
    wrong_type: &'static str,
    /// A legacy path that leads nowhere answers null (else `ERR Path does not exist`).
    no_match_is_null: bool,
    /// The error for a JSONPath on a missing key.
    missing_key: CmdError,
}

/// A read of one property per match: legacy answers the first match, JSONPath one result per match (null
/// where the value is of another type); a missing key is null for a legacy path.
fn read_each(ctx: &mut Ctx, args: &[&[u8]], rules: ReadRules, property: impl Fn(&Json) -> Option<i64>) -> CmdResult {
    let path = optional_path(args, 2)?;
    let Some(doc) = doc_for_read!(ctx, args[1]) else {
        if path.is_legacy() {
            ctx.out.null();
            return Ok(());
        }
        return Err(rules.missing_key);
    };
    let found = path.select(doc);
    if path.is_legacy() {
        match found.first() {
            None if rules.no_match_is_null => ctx.out.null(),
            None => return Err(NO_PATH),
            Some(first) => ctx.out.int(property(first).ok_or_else(|| CmdError::new(rules.wrong_type))?),
        }
    } else {
        let results: Vec<Option<i64>> = found.iter().map(|v| property(v)).collect();
        reply_ints(ctx, &results);
    }
    Ok(())
}

/// JSON.STRLEN key [path]
pub fn json_strlen(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let rules = ReadRules {
        wrong_type: "WRONGTYPE wrong type of path value - expected string",
        no_match_is_null: false,
        missing_key: NO_KEY,
    };
    read_each(ctx, args, rules, |v| if let Json::Str(s) = v { Some(s.len() as i64) } else { None })
}

/// JSON.OBJLEN key [path]
pub fn json_objlen(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let rules = ReadRules {
        wrong_type: "WRONGTYPE wrong type of path value - expected object",
        no_match_is_null: true,
        missing_key: CmdError::new("ERR Path does not exist or not an object"),
    };
    read_each(ctx, args, rules, |v| if let Json::Object(m) = v { Some(m.len() as i64) } else { None })
}

/// JSON.ARRLEN key [path]
pub fn json_arrlen(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let rules = ReadRules {
        wrong_type: "ERR Path does not exist or not an array",
        no_match_is_null: false,
        missing_key: NO_KEY,
    };
    read_each(ctx, args, rules, |v| if let Json::Array(a) = v { Some(a.len() as i64) } else { None })
}

/// JSON.OBJKEYS key [path]: the member names of each object.
pub fn json_objkeys(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let path = optional_path(args, 2)?;
    let Some(doc) = doc_for_read!(ctx, args[1]) else {
        ctx.out.null();
        return Ok(());
    };
    let found = path.select(doc);
    let write_keys = |out: &mut keel_protocol::ReplyWriter, value: &Json| match value {
        Json::Object(members) => {
            out.array(members.len());
            members.keys().for_each(|k| out.bulk(k.as_bytes()));
        }
        _ => out.null(),
    };
    if path.is_legacy() {
        match found.first() {
            None => ctx.out.null(),
            Some(Json::Object(_)) => write_keys(ctx.out, found[0]),
            Some(_) => return Err(CmdError::new("ERR Path does not exist or not an object")),
        }
    } else {
        ctx.out.array(found.len());
        found.iter().for_each(|v| write_keys(ctx.out, v));
    }
    Ok(())
}

/// Array values from `args`, which may not nest past the depth limit where they go.
fn values_arg(args: &[&[u8]]) -> Result<Vec<Json>, CmdError> {
    let values = args.iter().map(|a| json_arg(a)).collect::<Result<Vec<_>, _>>()?;
    if values.iter().any(|v| v.nesting() + 1 >= MAX_DEPTH) {
        return Err(CmdError::new("ERR recursion limit exceeded"));
    }
    Ok(values)
}

/// JSON.ARRAPPEND key path value [value ...]: the new lengths.
pub fn json_arrappend(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let path = path_arg(args[2])?;
    let values = values_arg(&args[3..])?;
    let results = update_each(ctx, args[1], &path, "json.arrappend", is_array, |value| {
        let Json::Array(items) = value else { return Ok((0, 0)) };
        let (at, before) = (items.len(), items.capacity());
        items.extend(values.iter().cloned());
        Ok((items.len() as i64, grown(before, items.capacity(), &items[at..])))
    })?;
    reply_lengths(ctx, &path, results, "not an array")
}

/// JSON.ARRINSERT key path index value [value ...]: inserts before `index` (negative from the end).
pub fn json_arrinsert(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let path = path_arg(args[2])?;
    let index = int_arg(args[3])?;
    let values = values_arg(&args[4..])?;
    let results = update_each(ctx, args[1], &path, "json.arrinsert", is_array, |value| {
        let Json::Array(items) = value else { return Ok((0, 0)) };
        let len = items.len() as i64;
        let at = if index < 0 { len + index } else { index };
        if !(0..=len).contains(&at) {
            return Err(CmdError::new("ERR index out of bounds"));
        }
        let (at, before) = (at as usize, items.capacity());
        items.splice(at..at, values.iter().cloned());
        Ok((items.len() as i64, grown(before, items.capacity(), &items[at..at + values.len()])))
    })?;
    reply_lengths(ctx, &path, results, "not an array")
}

/// RedisJSON's index normalisation for a position: negative from the end, clamped into the array.
fn clamp_index(index: i64, len: i64) -> i64 {
    if index < 0 {
        0.max(len + index)
    } else {
        index.min(len - 1)
    }
}

/// JSON.ARRINDEX key path value [start [stop]]: the first index of `value` in each array, -1 if absent.
pub fn json_arrindex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let path = path_arg(args[2])?;
    let wanted = json_arg(args[3])?;
    let start = args.get(4).map_or(Ok(0), |a| int_arg(a))?;
    let stop = args.get(5).map_or(Ok(0), |a| int_arg(a))?;
    if args.len() > 6 {
        return Err(CmdError::new("ERR wrong number of arguments for 'json.arrindex' command"));
    }
    let doc = doc_for_read!(ctx, args[1]).ok_or(NO_PATH)?;
    let position = |value: &Json| -> Option<i64> {
        let Json::Array(items) = value else { return None };
        let len = items.len() as i64;
        if len == 0 {
            return Some(-1);
        }
        let from = clamp_index(start, len);
        let to = match stop {
            0 => len,
            s if s < 0 => 0.max(len + s),
            s => s.min(len),
        };
        Some((from..to).find(|&i| same(&items[i as usize], &wanted)).unwrap_or(-1))
    };
    let found = path.select(doc);
    if path.is_legacy() {
        let first = found.first().ok_or(NO_PATH)?;
        let index =
            position(first).ok_or_else(|| CmdError::new("WRONGTYPE wrong type of path value - expected array"))?;
        ctx.out.int(index);
    } else {
        let results: Vec<Option<i64>> = found.iter().map(|v| position(v)).collect();
        reply_ints(ctx, &results);
    }
    Ok(())
}

/// JSON equality, numbers compared by value (`1` equals `1.0`).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Int(_) | Json::Float(_), Json::Int(_) | Json::Float(_)) => a.as_f64() == b.as_f64(),
        _ => a == b,
    }
}

/// JSON.ARRPOP key [path [index]]: removes and returns the element at `index` (default the last).
pub fn json_arrpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let path = optional_path(args, 2)?;
    let index = args.get(3).map_or(Ok(-1), |a| int_arg(a))?;
    let results = update_each(ctx, args[1], &path, "json.arrpop", is_array, |value| {
        let Json::Array(items) = value else { return Ok((None, 0)) };
        if items.is_empty() {
            return Ok((None, 0));
        }
        let popped = items.remove(clamp_index(index, items.len() as i64) as usize);
        let freed = heap(&popped) as isize;
        Ok((Some(popped), -freed))
    })?;
    if path.is_legacy() {
        match last_or(results, "not an array")? {
            Some(popped) => ctx.out.bulk(&text(&popped)),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.array(results.len());
        for result in results {
            match result.flatten() {
                Some(popped) => ctx.out.bulk(&text(&popped)),
                None => ctx.out.null(),
            }
        }
    }
    Ok(())
}

/// JSON.ARRTRIM key path start stop: keeps `[start, stop]` (inclusive, negative from the end).
pub fn json_arrtrim(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let path = path_arg(args[2])?;
    let start = int_arg(args[3])?;
    let stop = int_arg(args[4])?;
    let results = update_each(ctx, args[1], &path, "json.arrtrim", is_array, |value| {
        let Json::Array(items) = value else { return Ok((0, 0)) };
        let len = items.len() as i64;
        let normalize = |i: i64| {
            if i < 0 {
                len - len.min(-i)
            } else if len > 0 {
                (len - 1).min(i)
            } else {
                0
            }
        };
        let stop = normalize(stop);
        let start = if start < 0 || start < len { normalize(start) } else { stop + 1 };
        let keep = if start > stop || len == 0 { 0..0 } else { start as usize..stop as usize + 1 };
        let freed: usize = items[keep.end..].iter().chain(&items[..keep.start]).map(heap).sum();
        items.truncate(keep.end);
        items.drain(..keep.start);
        Ok((items.len() as i64, -(freed as isize)))
    })?;
    reply_lengths(ctx, &path, results, "not an array")
}

/// JSON.CLEAR key [path]: empties arrays and objects and zeroes numbers; how many values changed.
pub fn json_clear(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let path = optional_path(args, 2)?;
    let clearable = |v: &Json| match v {
        Json::Array(items) => !items.is_empty(),
        Json::Object(members) => !members.is_empty(),
        Json::Int(n) => *n != 0,
        Json::Float(f) => *f != 0.0,
        _ => false,
    };
    let results = update_each(ctx, args[1], &path, "json.clear", clearable, |value| {
        let before = heap(value) as isize;
        let cleared = value.clear();
        Ok((cleared, heap(value) as isize - before))
    })?;
    ctx.out.int(results.iter().flatten().count() as i64);
    Ok(())
}

/// JSON.TOGGLE key path: flips booleans; legacy answers `true`/`false`, JSONPath 1/0 per match.
pub fn json_toggle(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let path = path_arg(args[2])?;
    let results = update_each(
        ctx,
        args[1],
        &path,
        "json.toggle",
        |v| matches!(v, Json::Bool(_)),
        |value| {
            let Json::Bool(b) = value else { return Ok((false, 0)) };
            *b = !*b;
            Ok((*b, 0))
        },
    )?;
    if path.is_legacy() {
        let last = last_or(results, "not a bool")?;
        ctx.out.bulk(if last { b"true" } else { b"false" });
    } else {
        let ints: Vec<Option<i64>> = results.into_iter().map(|r| r.map(i64::from)).collect();
        reply_ints(ctx, &ints);
    }
    Ok(())
}
