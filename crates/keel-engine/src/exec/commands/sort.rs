//! SORT and SORT_RO (Redis's sort.c): sorting lists, sets and sorted sets by their elements or by keys
//! named after them (`BY weight_*`, `BY h_*->field`), with LIMIT, GET, ASC/DESC, ALPHA and STORE.

use super::key::{self, KeyFlags};
use super::{int_arg, is, CmdError, CmdResult, Ctx, SYNTAX, WRONGTYPE};
use keel_store::{End, List, Value};
use std::cmp::Ordering;

struct SortOptions<'a> {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    by: Option<&'a [u8]>,
    gets: Vec<&'a [u8]>,
    store: Option<&'a [u8]>,
}

fn parse<'a>(args: &[&'a [u8]], read_only: bool) -> Result<SortOptions<'a>, CmdError> {
    let mut o = SortOptions { desc: false, alpha: false, limit: None, by: None, gets: Vec::new(), store: None };
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let arg = args[j];
        if is(arg, "asc") {
            o.desc = false;
        } else if is(arg, "desc") {
            o.desc = true;
        } else if is(arg, "alpha") {
            o.alpha = true;
        } else if is(arg, "limit") && left >= 2 {
            o.limit = Some((int_arg(args[j + 1])?, int_arg(args[j + 2])?));
            j += 2;
        } else if !read_only && is(arg, "store") && left >= 1 {
            o.store = Some(args[j + 1]);
            j += 1;
        } else if is(arg, "by") && left >= 1 {
            o.by = Some(args[j + 1]);
            j += 1;
        } else if is(arg, "get") && left >= 1 {
            o.gets.push(args[j + 1]);
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

/// Where SORT's keys are: the key sorted (read), and the STORE destination (overwritten), found as Redis's
/// sortGetKeys finds them.
pub fn find_keys(args: &[&[u8]]) -> Vec<(usize, KeyFlags)> {
    let mut positions = vec![(1, key::RO | key::ACCESS)];
    let mut j = 2;
    while j < args.len() {
        let arg = args[j];
        if is(arg, "limit") {
            j += 2;
        } else if is(arg, "by") || is(arg, "get") {
            j += 1;
        } else if is(arg, "store") && j + 1 < args.len() {
            // The last STORE is the one SORT obeys.
            positions.truncate(1);
            positions.push((j + 1, key::OW | key::UPDATE));
        }
        j += 1;
    }
    positions
}

/// The value `pattern` names for `element` (Redis's lookupKeyByPattern): `#` is the element itself;
/// otherwise the first `*` is replaced by the element and the key read as a string, or as a hash field
/// after `->`. None when the pattern has no `*` or the key or field is missing or of another type.
fn lookup_by_pattern(ctx: &mut Ctx, pattern: &[u8], element: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let arrow = pattern[star + 1..].windows(2).position(|w| w == b"->").map(|p| star + 1 + p);
    let (key_end, field) = match arrow {
        Some(at) if at + 2 < pattern.len() => (at, Some(&pattern[at + 2..])),
        _ => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(key_end + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    let mut slot = ctx.lookup_read(&key)?;
    if let Some(field) = field {
        // A field past its TTL is deleted as a hash command naming it deletes it (the hash with it).
        slot = super::hashes::expire_named(ctx, slot, &[field])?;
    }
    let now = super::hashes::field_now(ctx);
    let value = ctx.db().value(slot);
    match (field, value) {
        (Some(field), Value::Hash(hash)) => hash.get_live(field, now).map(<[u8]>::to_vec),
        (None, value) => value.as_string().map(|s| s.to_bytes().into_owned()),
        _ => None,
    }
}

/// One element to sort and what it sorts by.
struct Item {
    element: Vec<u8>,
    score: f64,
    by: Option<Vec<u8>>,
}

/// Redis's strtod check for numeric sorting: the whole text must be a number (an empty one is 0).
fn sort_score(text: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(text).ok()?.trim_start();
    if text.is_empty() {
        return Some(0.0);
    }
    text.parse::<f64>().ok().filter(|f| !f.is_nan())
}

pub fn sort(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, args, false)
}

pub fn sort_ro(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, args, true)
}

/// Sorts the elements by their own value or BY pattern's, as numbers or (ALPHA) as strings; ties between
/// numbers by the elements themselves, as Redis's sortCompare does.
fn sort_items(ctx: &mut Ctx, items: &mut [Item], o: &SortOptions) -> CmdResult {
    let mut bad_score = false;
    for item in items.iter_mut() {
        let by = match o.by {
            Some(pattern) => match lookup_by_pattern(ctx, pattern, &item.element) {
                Some(value) => value,
                None => continue,
            },
            None => item.element.clone(),
        };
        if o.alpha {
            if o.by.is_some() {
                item.by = Some(by);
            }
        } else {
            match sort_score(&by) {
                Some(score) => item.score = score,
                None => bad_score = true,
            }
        }
    }
    if bad_score {
        return Err(CmdError::new("ERR One or more scores can't be converted into double"));
    }
    let (alpha, by_pattern, desc) = (o.alpha, o.by.is_some(), o.desc);
    items.sort_by(|a, b| {
        keel_pace::step();
        let order = if !alpha {
            a.score.partial_cmp(&b.score).unwrap_or(Ordering::Equal).then_with(|| a.element.cmp(&b.element))
        } else if by_pattern {
            // Elements whose BY key is missing come first.
            a.by.cmp(&b.by)
        } else {
            a.element.cmp(&b.element)
        };
        if desc {
            order.reverse()
        } else {
            order
        }
    });
    Ok(())
}

fn sort_generic(ctx: &mut Ctx, args: &[&[u8]], read_only: bool) -> CmdResult {
    let mut o = parse(args, read_only)?;
    // A BY pattern without `*` names no key per element: nothing to sort by.
    let mut dont_sort = o.by.is_some_and(|p| !p.contains(&b'*'));
    let slot = ctx.lookup_read(args[1]);
    let (elements, is_set) = match slot.map(|s| ctx.db().value(s)) {
        None => (Vec::new(), false),
        Some(Value::List(list)) => (list.iter().map(<[u8]>::to_vec).collect::<Vec<_>>(), false),
        Some(Value::Set(set)) => (set.iter().map(|m| m.to_bytes().into_owned()).collect(), true),
        Some(Value::ZSet(zset)) => ((0..zset.len()).map(|r| zset.at_rank(r).0.to_vec()).collect(), false),
        Some(_) => return Err(WRONGTYPE),
    };
    // A set's own order is arbitrary: what is stored or seen by a script must not depend on it.
    if dont_sort && is_set && (o.store.is_some() || ctx.session.in_script) {
        dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let len = elements.len() as i64;
    let (limit_start, limit_count) = o.limit.unwrap_or((0, -1));
    let mut start = limit_start.clamp(0, len);
    let count = limit_count.clamp(-1, len);
    let mut end = if count < 0 { len - 1 } else { start + count - 1 };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);

    let mut items: Vec<Item> = elements.into_iter().map(|element| Item { element, score: 0.0, by: None }).collect();
    if dont_sort {
        // Lists and sorted sets keep their own order; DESC reverses it.
        if o.desc && !is_set {
            items.reverse();
        }
    } else {
        sort_items(ctx, &mut items, &o)?;
    }
    let range = if end >= start { &items[start as usize..=end as usize] } else { &items[..0] };
    let mut output: Vec<Option<Vec<u8>>> = Vec::with_capacity(range.len() * o.gets.len().max(1));
    for item in range {
        if o.gets.is_empty() {
            output.push(Some(item.element.clone()));
        }
        for pattern in &o.gets {
            output.push(lookup_by_pattern(ctx, pattern, &item.element));
        }
    }
    match o.store {
        None => {
            ctx.out.array(output.len());
            for value in &output {
                match value {
                    Some(v) => ctx.out.bulk(v),
                    None => ctx.out.null(),
                }
            }
        }
        Some(dest) => {
            let stored = output.len();
            let list = (stored > 0).then(|| {
                let mut list = List::new();
                output.iter().for_each(|v| list.push(End::Right, v.as_deref().unwrap_or_default()));
                Value::List(Box::new(list))
            });
            ctx.replace_key(dest, list, (crate::notify::LIST, "sortstore"));
            ctx.out.int(stored as i64);
        }
    }
    Ok(())
}
