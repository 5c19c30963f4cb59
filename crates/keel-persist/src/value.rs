//! One value in RDB form, both ways: what `DUMP` emits after its type byte and what a snapshot holds after
//! each key. Keel writes Redis 7.0's encodings (listpacks for small hashes and sorted sets, intsets, quicklist
//! nodes of listpacks, stream listpacks), Redis 7.4's hashes with field TTLs (`hash_fields.rs`), and reads
//! every encoding Redis has written since RDB version 1, and the JSON module type (`module.rs`).

use crate::format::*;
use crate::legacy;
use crate::listpack::{self, Element, ListpackBuilder};
use keel_protocol::format_double;
use keel_store::stream::NodeLimits;
use keel_store::{End, Hash, HashLimits, List, Set, SetLimits, StrRef, Value, ZSet, ZSetLimits};
use std::io::Read;

/// A quicklist node holds at most this many bytes (Redis's `list-max-listpack-size -2`).
const LIST_NODE_BYTES: usize = 8192;
/// Redis's allowance for an entry's encoding overhead when it decides whether a node has room.
const NODE_ENTRY_OVERHEAD: usize = 8;

/// The encoding thresholds values are rebuilt with when loaded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub hash: HashLimits,
    pub zset: ZSetLimits,
    pub set: SetLimits,
    pub stream: NodeLimits,
    /// The longest string accepted, so that a corrupt length fails fast.
    pub max_string: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            hash: HashLimits { max_listpack_entries: 128, max_listpack_value: 64 },
            zset: ZSetLimits { max_listpack_entries: 128, max_listpack_value: 64 },
            set: SetLimits::default(),
            stream: NodeLimits { max_bytes: 4096, max_entries: 100 },
            max_string: 512 * 1024 * 1024,
        }
    }
}

/// Appends `value` in RDB form: its type byte, then its payload.
pub fn write_value(out: &mut Vec<u8>, value: &Value, compress: bool) {
    match value {
        Value::Str(s) => {
            out.push(TYPE_STRING);
            put_string(out, s.as_bytes(), compress);
        }
        Value::Int(n) => {
            out.push(TYPE_STRING);
            put_int_string(out, *n);
        }
        Value::List(list) => {
            out.push(TYPE_LIST_QUICKLIST_2);
            write_list(out, list, compress);
        }
        Value::Hash(hash) if hash.has_field_ttls() => crate::hash_fields::write(out, hash, compress),
        Value::Hash(hash) if hash.is_packed() => {
            out.push(TYPE_HASH_LISTPACK);
            let mut lp = ListpackBuilder::new();
            for (field, value) in hash.iter() {
                lp.push(field);
                lp.push(value);
            }
            put_string(out, &lp.finish(), compress);
        }
        Value::Hash(hash) => {
            out.push(TYPE_HASH);
            put_len(out, hash.len() as u64);
            for (field, value) in hash.iter() {
                put_string(out, field, compress);
                put_string(out, value, compress);
            }
        }
        Value::Set(set) if set.encoding() == "intset" => {
            out.push(TYPE_SET_INTSET);
            let ints: Vec<i64> =
                set.iter().filter_map(|m| if let StrRef::Int(n) = m { Some(n) } else { None }).collect();
            put_string(out, &legacy::encode_intset(&ints), compress);
        }
        Value::Set(set) => {
            out.push(TYPE_SET);
            put_len(out, set.len() as u64);
            for member in set.iter() {
                match member {
                    StrRef::Raw(bytes) => put_string(out, bytes, compress),
                    StrRef::Int(n) => put_int_string(out, n),
                }
            }
        }
        Value::ZSet(zset) if zset.encoding() == "listpack" => {
            out.push(TYPE_ZSET_LISTPACK);
            let mut lp = ListpackBuilder::new();
            for rank in 0..zset.len() {
                let (member, score) = zset.at_rank(rank);
                lp.push(member);
                lp.push(format_double(score).as_bytes());
            }
            put_string(out, &lp.finish(), compress);
        }
        Value::ZSet(zset) => {
            // Highest rank first, as Redis writes it, so a loader inserting at the head does no search.
            out.push(TYPE_ZSET_2);
            put_len(out, zset.len() as u64);
            for rank in (0..zset.len()).rev() {
                let (member, score) = zset.at_rank(rank);
                put_string(out, member, compress);
                put_binary_double(out, score);
            }
        }
        Value::Stream(stream) => crate::stream::write_stream(out, stream, compress),
        Value::Json(json) => crate::module::write_json(out, json),
    }
}

fn write_list(out: &mut Vec<u8>, list: &List, compress: bool) {
    let mut nodes: Vec<Vec<u8>> = Vec::new();
    let mut node = ListpackBuilder::new();
    let mut in_node = 0;
    for element in list.iter() {
        if in_node > 0 && node.bytes() + element.len() + NODE_ENTRY_OVERHEAD > LIST_NODE_BYTES {
            nodes.push(std::mem::take(&mut node).finish());
            in_node = 0;
        }
        node.push(element);
        in_node += 1;
    }
    if in_node > 0 {
        nodes.push(node.finish());
    }
    put_len(out, nodes.len() as u64);
    for blob in nodes {
        put_len(out, QUICKLIST_NODE_PACKED);
        put_string(out, &blob, compress);
    }
}

fn blob_error<R: Read, T>(input: &Input<R>, what: &str, why: &str) -> RdbResult<T> {
    input.error(format!("corrupt {what}: {why}"))
}

fn elements_as_strings(elements: Vec<Element<'_>>) -> Vec<Vec<u8>> {
    elements.into_iter().map(Element::to_vec).collect()
}

fn element_score(element: Element<'_>) -> Option<f64> {
    match element {
        Element::Int(n) => Some(n as f64),
        Element::Str(s) => std::str::from_utf8(s).ok()?.parse().ok(),
    }
}

fn pairs<R: Read>(input: &Input<R>, what: &str, items: Vec<Vec<u8>>) -> RdbResult<Vec<(Vec<u8>, Vec<u8>)>> {
    if !items.len().is_multiple_of(2) {
        return blob_error(input, what, "odd number of elements");
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Ok(out)
}

fn build_hash(pairs: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>, limits: &Limits) -> Option<Value> {
    let mut hash = Hash::new();
    for (field, value) in pairs {
        hash.set(&field, &value, &limits.hash);
    }
    (!hash.is_empty()).then(|| Value::Hash(Box::new(hash)))
}

fn build_zset<R: Read>(
    input: &Input<R>,
    items: impl IntoIterator<Item = (Vec<u8>, f64)>,
    limits: &Limits,
) -> RdbResult<Option<Value>> {
    let mut zset = ZSet::new();
    for (member, score) in items {
        if score.is_nan() {
            return input.error("sorted set with a NaN score");
        }
        zset.insert(&member, score, &limits.zset);
    }
    Ok((!zset.is_empty()).then(|| Value::ZSet(Box::new(zset))))
}

fn build_list(items: impl IntoIterator<Item = Vec<u8>>) -> Option<Value> {
    let mut list = List::new();
    for item in items {
        list.push(End::Right, &item);
    }
    (!list.is_empty()).then(|| Value::List(Box::new(list)))
}

/// Reads the value of type `kind`. `None` means an empty collection, which Redis's loader skips too.
pub fn read_value<R: Read>(input: &mut Input<R>, kind: u8, limits: &Limits) -> RdbResult<Option<Value>> {
    Ok(match kind {
        TYPE_STRING => Some(Value::string_from_vec(input.string()?)),
        TYPE_LIST | TYPE_LIST_ZIPLIST | TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => read_list(input, kind)?,
        TYPE_SET | TYPE_SET_INTSET | TYPE_SET_LISTPACK => read_set(input, kind, limits)?,
        TYPE_ZSET | TYPE_ZSET_2 | TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => read_zset(input, kind, limits)?,
        TYPE_HASH | TYPE_HASH_ZIPMAP | TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => read_hash(input, kind, limits)?,
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 | TYPE_STREAM_LISTPACKS_3 => {
            Some(crate::stream::read_stream(input, kind, limits.stream)?)
        }
        crate::module::TYPE_MODULE_2 => Some(crate::module::read_module(input)?),
        crate::hash_fields::TYPE_HASH_METADATA_PRE_GA
        | crate::hash_fields::TYPE_HASH_LISTPACK_EX_PRE_GA
        | crate::hash_fields::TYPE_HASH_METADATA
        | crate::hash_fields::TYPE_HASH_LISTPACK_EX => crate::hash_fields::read(input, kind, &limits.hash)?,
        other => return input.error(format!("unknown value type {other}")),
    })
}

/// A list in any of its RDB forms: one string per element, a ziplist, or a quicklist of ziplists or
/// listpacks (with plain nodes for big elements).
fn read_list<R: Read>(input: &mut Input<R>, kind: u8) -> RdbResult<Option<Value>> {
    let items = match kind {
        TYPE_LIST => {
            let len = input.length()?;
            let mut items = Vec::new();
            for _ in 0..len {
                items.push(input.string()?);
            }
            items
        }
        TYPE_LIST_ZIPLIST => {
            let blob = input.string()?;
            elements_as_strings(legacy::ziplist(&blob).or_else(|why| blob_error(input, "ziplist", why))?)
        }
        _ => {
            let nodes = input.length()?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                let container = if kind == TYPE_LIST_QUICKLIST_2 { input.length()? } else { QUICKLIST_NODE_PACKED };
                let blob = input.string()?;
                match container {
                    QUICKLIST_NODE_PLAIN => items.push(blob),
                    QUICKLIST_NODE_PACKED => {
                        let decoded =
                            if kind == TYPE_LIST_QUICKLIST { legacy::ziplist(&blob) } else { listpack::decode(&blob) };
                        let elements = decoded.or_else(|why| blob_error(input, "quicklist node", why))?;
                        items.extend(elements_as_strings(elements));
                    }
                    other => return input.error(format!("unknown quicklist node container {other}")),
                }
            }
            items
        }
    };
    Ok(build_list(items))
}

/// A set: one string per member, an intset, or a listpack.
fn read_set<R: Read>(input: &mut Input<R>, kind: u8, limits: &Limits) -> RdbResult<Option<Value>> {
    let mut set = Set::new();
    match kind {
        TYPE_SET => {
            let len = input.length()?;
            for _ in 0..len {
                set.add(&input.string()?, &limits.set);
            }
        }
        TYPE_SET_INTSET => {
            let blob = input.string()?;
            let ints = legacy::intset(&blob).or_else(|why| blob_error(input, "intset", why))?;
            for n in ints {
                set.add(n.to_string().as_bytes(), &limits.set);
            }
        }
        _ => {
            let blob = input.string()?;
            let items = listpack::decode(&blob).or_else(|why| blob_error(input, "listpack", why))?;
            for member in elements_as_strings(items) {
                set.add(&member, &limits.set);
            }
        }
    }
    Ok((!set.is_empty()).then(|| Value::Set(Box::new(set))))
}

/// A sorted set: members with scores as text (the oldest form) or binary doubles, or a ziplist or listpack
/// of member and score pairs.
fn read_zset<R: Read>(input: &mut Input<R>, kind: u8, limits: &Limits) -> RdbResult<Option<Value>> {
    if kind == TYPE_ZSET || kind == TYPE_ZSET_2 {
        let len = input.length()?;
        let mut items = Vec::new();
        for _ in 0..len {
            let member = input.string()?;
            let score = if kind == TYPE_ZSET { input.text_double()? } else { input.binary_double()? };
            items.push((member, score));
        }
        return build_zset(input, items, limits);
    }
    let blob = input.string()?;
    let decoded = if kind == TYPE_ZSET_ZIPLIST { legacy::ziplist(&blob) } else { listpack::decode(&blob) };
    let items = decoded.or_else(|why| blob_error(input, "sorted set blob", why))?;
    if !items.len().is_multiple_of(2) {
        return blob_error(input, "sorted set blob", "odd number of elements");
    }
    let mut scored = Vec::with_capacity(items.len() / 2);
    for pair in items.chunks_exact(2) {
        let Some(score) = element_score(pair[1]) else {
            return blob_error(input, "sorted set blob", "invalid score");
        };
        scored.push((pair[0].to_vec(), score));
    }
    build_zset(input, scored, limits)
}

/// A hash: field and value strings, a zipmap (the oldest form), or a ziplist or listpack of pairs.
fn read_hash<R: Read>(input: &mut Input<R>, kind: u8, limits: &Limits) -> RdbResult<Option<Value>> {
    match kind {
        TYPE_HASH => {
            let len = input.length()?;
            let mut items = Vec::new();
            for _ in 0..len {
                items.push((input.string()?, input.string()?));
            }
            Ok(build_hash(items, limits))
        }
        TYPE_HASH_ZIPMAP => {
            let blob = input.string()?;
            let pairs = legacy::zipmap(&blob).or_else(|why| blob_error(input, "zipmap", why))?;
            Ok(build_hash(pairs.into_iter().map(|(f, v)| (f.to_vec(), v.to_vec())), limits))
        }
        _ => {
            let blob = input.string()?;
            let decoded = if kind == TYPE_HASH_ZIPLIST { legacy::ziplist(&blob) } else { listpack::decode(&blob) };
            let items = decoded.or_else(|why| blob_error(input, "hash blob", why))?;
            let items = pairs(input, "hash blob", elements_as_strings(items))?;
            Ok(build_hash(items, limits))
        }
    }
}
