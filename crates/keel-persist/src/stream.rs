//! Streams in RDB form, both ways: nodes as listpacks with a master entry, then the counters, then consumer
//! groups with their PELs and consumers. Written as Redis 7.0's `RDB_TYPE_STREAM_LISTPACKS_2` unless a
//! consumer's active time differs from its seen time, which only 7.2's `_3` holds (a `_2` loads with the two
//! equal); every stream type Redis has written is read (`LISTPACKS` of 5.0–6.2, `_2` of 7.0, `_3` of 7.2).

use crate::format::*;
use crate::listpack::{self, Element, ListpackBuilder};
use keel_store::stream::{NodeLimits, StreamId};
use keel_store::stream_group::{ConsumerGroup, Pending};
use keel_store::{Stream, Value};
use std::io::Read;

const FLAG_DELETED: i64 = 1;
const FLAG_SAME_FIELDS: i64 = 2;

fn id_key(id: StreamId) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&id.ms.to_be_bytes());
    key[8..].copy_from_slice(&id.seq.to_be_bytes());
    key
}

fn id_from_key(key: &[u8]) -> Option<StreamId> {
    let ms = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let seq = u64::from_be_bytes(key.get(8..16)?.try_into().ok()?);
    Some(StreamId::new(ms, seq))
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    put_len(out, id.ms);
    put_len(out, id.seq);
}

/// Appends a stream, type byte included: the oldest stream type that holds it exactly.
pub fn write_stream(out: &mut Vec<u8>, stream: &Stream, compress: bool) {
    let with_active_times =
        stream.groups.values().flat_map(|g| g.consumers.values()).any(|c| c.active_time != Some(c.seen_time));
    out.push(if with_active_times { TYPE_STREAM_LISTPACKS_3 } else { TYPE_STREAM_LISTPACKS_2 });
    let nodes: Vec<_> = stream.raw_nodes().collect();
    put_len(out, nodes.len() as u64);
    for node in &nodes {
        put_string(out, &id_key(node.master), compress);
        let mut lp = ListpackBuilder::new();
        lp.push_int(node.live as i64);
        lp.push_int(node.deleted as i64);
        lp.push_int(node.master_fields.len() as i64);
        node.master_fields.iter().for_each(|f| lp.push(f));
        lp.push_int(0);
        for raw in &node.entries {
            let flags = if raw.deleted { FLAG_DELETED } else { 0 } | if raw.same_fields { FLAG_SAME_FIELDS } else { 0 };
            let id = raw.entry.id;
            lp.push_int(flags);
            lp.push_int(id.ms.wrapping_sub(node.master.ms) as i64);
            lp.push_int(id.seq.wrapping_sub(node.master.seq) as i64);
            let fields = &raw.entry.fields;
            if raw.same_fields {
                fields.iter().for_each(|(_, v)| lp.push(v));
            } else {
                lp.push_int(fields.len() as i64);
                fields.iter().for_each(|(f, v)| {
                    lp.push(f);
                    lp.push(v);
                });
            }
            let count = 3 + fields.len() + if raw.same_fields { 0 } else { fields.len() + 1 };
            lp.push_int(count as i64);
        }
        put_string(out, &lp.finish(), compress);
    }
    put_len(out, stream.len());
    put_id(out, stream.last_id);
    put_id(out, stream.first_id);
    put_id(out, stream.max_deleted_entry_id);
    put_len(out, stream.entries_added);
    put_len(out, stream.groups.len() as u64);
    for (name, group) in &stream.groups {
        put_string(out, name, compress);
        put_id(out, group.last_id);
        put_len(out, group.entries_read.unwrap_or(u64::MAX));
        put_len(out, group.pel.len() as u64);
        for (id, pending) in &group.pel {
            out.extend_from_slice(&id_key(*id));
            out.extend_from_slice(&pending.delivery_time.to_le_bytes());
            put_len(out, pending.delivery_count);
        }
        put_len(out, group.consumers.len() as u64);
        for (name, consumer) in &group.consumers {
            put_string(out, name, compress);
            out.extend_from_slice(&consumer.seen_time.to_le_bytes());
            if with_active_times {
                out.extend_from_slice(&consumer.active_time.unwrap_or(u64::MAX).to_le_bytes());
            }
            put_len(out, consumer.pending.len() as u64);
            consumer.pending.iter().for_each(|id| out.extend_from_slice(&id_key(*id)));
        }
    }
}

fn read_id<R: Read>(input: &mut Input<R>) -> RdbResult<StreamId> {
    Ok(StreamId::new(input.length()?, input.length()?))
}

fn read_raw_id<R: Read>(input: &mut Input<R>) -> RdbResult<StreamId> {
    let key: [u8; 16] = input.array()?;
    Ok(id_from_key(&key).unwrap_or_default())
}

fn int_of(element: Option<&Element<'_>>) -> Option<i64> {
    match element? {
        Element::Int(n) => Some(*n),
        Element::Str(s) => keel_store::number::parse_i64(s),
    }
}

fn corrupt<R: Read, T>(input: &Input<R>, why: &str) -> RdbResult<T> {
    input.error(format!("corrupt stream: {why}"))
}

/// Reads one node's listpack into `stream`.
fn read_node<R: Read>(
    input: &Input<R>,
    stream: &mut Stream,
    master: StreamId,
    blob: &[u8],
    limits: NodeLimits,
) -> RdbResult<()> {
    let Ok(items) = listpack::decode(blob) else { return corrupt(input, "bad listpack") };
    let mut it = items.iter();
    let (Some(_live), Some(_deleted), Some(nfields)) = (int_of(it.next()), int_of(it.next()), int_of(it.next())) else {
        return corrupt(input, "bad master entry");
    };
    let master_fields: Vec<Vec<u8>> = (0..nfields.max(0)).filter_map(|_| it.next().map(|e| e.to_vec())).collect();
    if master_fields.len() != nfields.max(0) as usize || int_of(it.next()) != Some(0) {
        return corrupt(input, "bad master entry");
    }
    while let Some(flags) = int_of(it.next()) {
        let (Some(ms_delta), Some(seq_delta)) = (int_of(it.next()), int_of(it.next())) else {
            return corrupt(input, "truncated entry");
        };
        let id = StreamId::new(master.ms.wrapping_add(ms_delta as u64), master.seq.wrapping_add(seq_delta as u64));
        let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        if flags & FLAG_SAME_FIELDS != 0 {
            for name in &master_fields {
                let Some(value) = it.next() else { return corrupt(input, "truncated entry") };
                fields.push((name.clone(), value.to_vec()));
            }
        } else {
            let Some(n) = int_of(it.next()).filter(|n| *n >= 0) else { return corrupt(input, "bad field count") };
            for _ in 0..n {
                let (Some(f), Some(v)) = (it.next(), it.next()) else { return corrupt(input, "truncated entry") };
                fields.push((f.to_vec(), v.to_vec()));
            }
        }
        if int_of(it.next()).is_none() {
            return corrupt(input, "missing entry count");
        }
        if flags & FLAG_DELETED == 0 {
            let refs: Vec<(&[u8], &[u8])> = fields.iter().map(|(f, v)| (f.as_slice(), v.as_slice())).collect();
            stream.load_entry(id, &refs, limits);
        }
    }
    Ok(())
}

/// Reads a stream of RDB type `kind` (one of the three stream types).
pub fn read_stream<R: Read>(input: &mut Input<R>, kind: u8, limits: NodeLimits) -> RdbResult<Value> {
    let mut stream = Stream::new();
    let nodes = input.length()?;
    for _ in 0..nodes {
        let key = input.string()?;
        let Some(master) = id_from_key(&key).filter(|_| key.len() == 16) else {
            return corrupt(input, "bad node key");
        };
        let blob = input.string()?;
        read_node(input, &mut stream, master, &blob, limits)?;
    }
    let length = input.length()?;
    if length != stream.len() {
        return corrupt(input, "length does not match the entries");
    }
    let last_id = read_id(input)?;
    let (first_id, max_deleted, entries_added) = if kind == TYPE_STREAM_LISTPACKS {
        (stream.edge_id(false).unwrap_or_default(), StreamId::MIN, length)
    } else {
        (read_id(input)?, read_id(input)?, input.length()?)
    };
    stream.set_counters(last_id, first_id, max_deleted, entries_added);
    let groups = input.length()?;
    for _ in 0..groups {
        let name = input.string()?;
        let last = read_id(input)?;
        let entries_read = if kind == TYPE_STREAM_LISTPACKS {
            stream.entries_read_estimate(last)
        } else {
            Some(input.length()?).filter(|n| *n != u64::MAX)
        };
        let mut group = ConsumerGroup::new(last, entries_read);
        let pending = input.length()?;
        for _ in 0..pending {
            let id = read_raw_id(input)?;
            let delivery_time = u64::from_le_bytes(input.array()?);
            let delivery_count = input.length()?;
            group.pel.insert(id, Pending { consumer: Box::default(), delivery_time, delivery_count });
        }
        let consumers = input.length()?;
        for _ in 0..consumers {
            let consumer_name = input.string()?;
            let seen_time = u64::from_le_bytes(input.array()?);
            let active_time = if kind == TYPE_STREAM_LISTPACKS_3 {
                Some(u64::from_le_bytes(input.array()?)).filter(|t| *t != u64::MAX)
            } else {
                Some(seen_time)
            };
            let (consumer, _) = group.consumer(&consumer_name, seen_time);
            consumer.active_time = active_time;
            let owned = input.length()?;
            let mut ids = Vec::with_capacity(owned.min(1 << 16) as usize);
            for _ in 0..owned {
                ids.push(read_raw_id(input)?);
            }
            consumer.pending.extend(ids.iter().copied());
            for id in ids {
                match group.pel.get_mut(&id) {
                    Some(p) => p.consumer = consumer_name.as_slice().into(),
                    None => return corrupt(input, "consumer owns an entry missing from the group's PEL"),
                }
            }
        }
        if group.pel.values().any(|p| p.consumer.is_empty()) {
            return corrupt(input, "pending entry without a consumer");
        }
        stream.groups.insert(name, group);
    }
    Ok(Value::Stream(Box::new(stream)))
}
