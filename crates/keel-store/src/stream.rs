//! Streams (Redis's t_stream.c data structure): entries `ms-seq` → field/value pairs, kept in nodes of up to
//! `stream-node-max-entries` entries in an ordered map keyed by each node's first ("master") ID. A node
//! packs its entries in one byte buffer: IDs as deltas from the master, and the field names written once
//! when an entry has the same fields as the node's first entry, as Redis's listpacks do, so that memory
//! per entry stays close to Redis's. Deleted entries are flagged in place until their node empties.
//! Consumer groups live in [`crate::stream_group`].

use crate::stream_group::ConsumerGroup;
use std::collections::BTreeMap;
use std::fmt;

/// A stream entry ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, or None past the last possible one.
    pub fn incr(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (u64::MAX, u64::MAX) => None,
            (ms, u64::MAX) => Some(StreamId::new(ms + 1, 0)),
            (ms, seq) => Some(StreamId::new(ms, seq + 1)),
        }
    }

    /// The previous ID, or None before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (0, 0) => None,
            (ms, 0) => Some(StreamId::new(ms - 1, u64::MAX)),
            (ms, seq) => Some(StreamId::new(ms, seq - 1)),
        }
    }

    /// Parses `ms-seq`, `ms` (with `missing_seq`), `-` and `+` (unless `strict`), and `ms-*` when
    /// `allow_star`: the ID and whether its sequence was given (Redis's streamGenericParseIDOrReply).
    pub fn parse(text: &[u8], missing_seq: u64, strict: bool, allow_star: bool) -> Option<(StreamId, bool)> {
        if text.len() > 127 {
            return None;
        }
        match text {
            b"-" if !strict => return Some((StreamId::MIN, true)),
            b"+" if !strict => return Some((StreamId::MAX, true)),
            _ => {}
        }
        let (ms, seq) = match text.iter().position(|&b| b == b'-') {
            Some(dash) => (&text[..dash], Some(&text[dash + 1..])),
            None => (text, None),
        };
        let ms = parse_u64(ms)?;
        match seq {
            Some(b"*") if allow_star => Some((StreamId::new(ms, 0), false)),
            Some(seq) => Some((StreamId::new(ms, parse_u64(seq)?), true)),
            None => Some((StreamId::new(ms, missing_seq), true)),
        }
    }
}

/// An unsigned decimal as Redis's string2ull reads it (digits only, no sign, no overflow).
fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One entry read from a stream: its ID and field/value pairs, borrowed from the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub id: StreamId,
    pub fields: Vec<(&'a [u8], &'a [u8])>,
}

const DELETED: u8 = 1;
const SAME_FIELDS: u8 = 2;

/// Entries packed in one buffer (see the module comment).
#[derive(Debug, Clone)]
struct Node {
    master: StreamId,
    /// The first entry's field names, which later entries with the same names do not repeat.
    master_fields: Vec<Box<[u8]>>,
    data: Vec<u8>,
    live: usize,
    deleted: usize,
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get_varint(data: &[u8], at: &mut usize) -> u64 {
    let (mut n, mut shift) = (0u64, 0);
    loop {
        let b = data[*at];
        *at += 1;
        n |= ((b & 0x7f) as u64) << shift;
        if b < 0x80 {
            return n;
        }
        shift += 7;
    }
}

fn get_bytes<'a>(data: &'a [u8], at: &mut usize) -> &'a [u8] {
    let len = get_varint(data, at) as usize;
    let bytes = &data[*at..*at + len];
    *at += len;
    bytes
}

/// An entry's place in its node's buffer.
struct Slot<'a> {
    offset: usize,
    flags: u8,
    entry: Entry<'a>,
}

impl Node {
    fn new(id: StreamId, fields: &[(&[u8], &[u8])]) -> Node {
        Node {
            master: id,
            master_fields: fields.iter().map(|(f, _)| Box::from(*f)).collect(),
            data: Vec::new(),
            live: 0,
            deleted: 0,
        }
    }

    fn push(&mut self, id: StreamId, fields: &[(&[u8], &[u8])]) {
        let same = fields.len() == self.master_fields.len()
            && fields.iter().zip(&self.master_fields).all(|((f, _), m)| *f == &**m);
        self.data.push(if same { SAME_FIELDS } else { 0 });
        let ms_delta = id.ms - self.master.ms;
        put_varint(&mut self.data, ms_delta);
        put_varint(&mut self.data, if ms_delta == 0 { id.seq - self.master.seq } else { id.seq });
        if !same {
            put_varint(&mut self.data, fields.len() as u64);
            for (field, _) in fields {
                put_varint(&mut self.data, field.len() as u64);
                self.data.extend_from_slice(field);
            }
        }
        for (_, value) in fields {
            put_varint(&mut self.data, value.len() as u64);
            self.data.extend_from_slice(value);
        }
        self.live += 1;
    }

    /// Every entry in the node, deleted ones included, in order.
    fn slots(&self) -> impl Iterator<Item = Slot<'_>> {
        let mut at = 0;
        std::iter::from_fn(move || {
            if at >= self.data.len() {
                return None;
            }
            let offset = at;
            let flags = self.data[at];
            at += 1;
            let ms_delta = get_varint(&self.data, &mut at);
            let seq = get_varint(&self.data, &mut at);
            let id = if ms_delta == 0 {
                StreamId::new(self.master.ms, self.master.seq + seq)
            } else {
                StreamId::new(self.master.ms + ms_delta, seq)
            };
            let names: Vec<&[u8]> = if flags & SAME_FIELDS != 0 {
                self.master_fields.iter().map(|f| &**f).collect()
            } else {
                let n = get_varint(&self.data, &mut at) as usize;
                (0..n).map(|_| get_bytes(&self.data, &mut at)).collect()
            };
            let fields = names.into_iter().map(|name| (name, get_bytes(&self.data, &mut at))).collect();
            Some(Slot { offset, flags, entry: Entry { id, fields } })
        })
    }

    fn live_entries(&self) -> impl Iterator<Item = Entry<'_>> {
        self.slots().filter(|s| s.flags & DELETED == 0).map(|s| s.entry)
    }

    /// Flags the entry at `offset` deleted.
    fn mark_deleted(&mut self, offset: usize) {
        self.data[offset] |= DELETED;
        self.live -= 1;
        self.deleted += 1;
    }

    fn last_id(&self) -> Option<StreamId> {
        self.live_entries().last().map(|e| e.id)
    }

    /// Bytes the node would take as a Redis listpack, near enough for `stream-node-max-bytes`.
    fn listpack_bytes(&self) -> usize {
        self.data.len() + 2 * (self.live + self.deleted) * 4 + 16
    }

    fn heap_size(&self) -> usize {
        self.data.capacity() + self.master_fields.iter().map(|f| f.len() + 16).sum::<usize>() + 64
    }
}

/// A node as stored, for serialization: its master ID and fields, counts, and every entry.
pub struct RawNode<'a> {
    pub master: StreamId,
    pub master_fields: Vec<&'a [u8]>,
    pub live: usize,
    pub deleted: usize,
    pub entries: Vec<RawEntry<'a>>,
}

pub struct RawEntry<'a> {
    pub deleted: bool,
    /// The entry has the master's field names (they are not repeated).
    pub same_fields: bool,
    pub entry: Entry<'a>,
}

/// How XADD and XTRIM trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// What trimming must leave, and what it should report (see [`Stream::trim`]).
#[derive(Debug, Default)]
pub struct TrimGuard {
    pub keep_from: Option<StreamId>,
    pub removed: Option<Vec<StreamId>>,
}

/// Node size limits (`stream-node-max-bytes`, `stream-node-max-entries`).
#[derive(Debug, Clone, Copy)]
pub struct NodeLimits {
    pub max_bytes: usize,
    pub max_entries: usize,
}

/// A stream: its entries, counters and consumer groups.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    length: u64,
    pub last_id: StreamId,
    /// The first entry's ID as recorded (XINFO's `recorded-first-entry-id`).
    pub first_id: StreamId,
    pub max_deleted_entry_id: StreamId,
    /// Entries ever added (XINFO's `entries-added`).
    pub entries_added: u64,
    pub groups: BTreeMap<Vec<u8>, ConsumerGroup>,
    /// Heap bytes of the nodes, kept as they change so that memory accounting is O(1) per write.
    nodes_heap: usize,
}

/// Why XADD could not add an entry.
#[derive(Debug, PartialEq, Eq)]
pub enum AddError {
    /// The ID is not greater than the last one.
    NotGreater,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes Redis's radix tree would have for these node keys (XINFO's `radix-tree-nodes`): its
    /// compressed trie over the 16-byte big-endian IDs, counted as rax counts them.
    pub fn radix_tree_nodes(&self) -> usize {
        fn count(keys: &[[u8; 16]], depth: usize) -> usize {
            if depth == 16 {
                return 1;
            }
            if keys.len() == 1 {
                return 2;
            }
            let (first, last) = (&keys[0], &keys[keys.len() - 1]);
            let mut common = depth;
            while common < 16 && first[common] == last[common] {
                common += 1;
            }
            if common > depth {
                return 1 + count(keys, common);
            }
            1 + keys.chunk_by(|a, b| a[depth] == b[depth]).map(|group| count(group, depth + 1)).sum::<usize>()
        }
        let keys: Vec<[u8; 16]> = self
            .nodes
            .keys()
            .map(|id| {
                let mut key = [0u8; 16];
                key[..8].copy_from_slice(&id.ms.to_be_bytes());
                key[8..].copy_from_slice(&id.seq.to_be_bytes());
                key
            })
            .collect();
        if keys.is_empty() {
            1
        } else {
            count(&keys, 0)
        }
    }

    pub fn heap_size(&self) -> usize {
        self.nodes_heap + self.groups.iter().map(|(name, g)| name.len() + g.heap_size()).sum::<usize>()
    }

    fn remove_node(&mut self, key: StreamId) -> Option<Node> {
        let node = self.nodes.remove(&key)?;
        self.nodes_heap -= node.heap_size();
        Some(node)
    }

    /// The ID XADD `*` generates at `now_ms` (Redis's streamNextID): never smaller than the last one,
    /// even when the clock went back. None once the last possible ID was used.
    pub fn next_id(&self, now_ms: u64) -> Option<StreamId> {
        if self.last_id.ms >= now_ms {
            self.last_id.incr()
        } else {
            Some(StreamId::new(now_ms, 0))
        }
    }

    /// Appends an entry with `id` (which the caller resolved), or refuses an ID not above the last one.
    pub fn add(&mut self, id: StreamId, fields: &[(&[u8], &[u8])], limits: NodeLimits) -> Result<(), AddError> {
        if id <= self.last_id {
            return Err(AddError::NotGreater);
        }
        self.append(id, fields, limits);
        if self.length == 1 {
            self.first_id = id;
        }
        self.entries_added += 1;
        self.last_id = id;
        Ok(())
    }

    fn append(&mut self, id: StreamId, fields: &[(&[u8], &[u8])], limits: NodeLimits) {
        let entry_bytes: usize = fields.iter().map(|(f, v)| f.len() + v.len()).sum();
        let new_node = match self.nodes.values().next_back() {
            None => true,
            Some(tail) => {
                (limits.max_bytes > 0 && tail.listpack_bytes() + entry_bytes >= limits.max_bytes)
                    || (limits.max_entries > 0 && tail.live + tail.deleted >= limits.max_entries)
            }
        };
        if new_node {
            let node = Node::new(id, fields);
            self.nodes_heap += node.heap_size();
            self.nodes.insert(id, node);
        }
        if let Some(tail) = self.nodes.values_mut().next_back() {
            let before = tail.heap_size();
            tail.push(id, fields);
            self.nodes_heap = self.nodes_heap + tail.heap_size() - before;
        }
        self.length += 1;
    }

    /// The first (or last) live entry's ID.
    pub fn edge_id(&self, last: bool) -> Option<StreamId> {
        if last {
            self.nodes.values().rev().find_map(Node::last_id)
        } else {
            self.nodes.values().find_map(|n| n.live_entries().next().map(|e| e.id))
        }
    }

    /// Entries with IDs in `[start, end]`, ascending (or descending with `rev`), at most `count` (0: all).
    /// Each node visited is a step of work for `keel_pace`, as is each node [`Stream::trim`] visits.
    pub fn range(&self, start: StreamId, end: StreamId, count: usize, rev: bool) -> Vec<Entry<'_>> {
        let mut out = Vec::new();
        if start > end {
            return out;
        }
        // The node holding `start` begins at or before it.
        let from = self.nodes.range(..=start).next_back().map_or(start, |(k, _)| *k);
        let nodes = keel_pace::paced(self.nodes.range(from..=end));
        let limit = if count == 0 { usize::MAX } else { count };
        if rev {
            for (_, node) in nodes.rev() {
                let mut entries: Vec<Entry> = node.live_entries().filter(|e| e.id >= start && e.id <= end).collect();
                while let Some(e) = entries.pop() {
                    if out.len() >= limit {
                        return out;
                    }
                    out.push(e);
                }
            }
        } else {
            for (_, node) in nodes {
                for e in node.live_entries() {
                    if e.id > end || out.len() >= limit {
                        return out;
                    }
                    if e.id >= start {
                        out.push(e);
                    }
                }
            }
        }
        out
    }

    /// The live entry with `id`.
    pub fn get(&self, id: StreamId) -> Option<Entry<'_>> {
        let (_, node) = self.nodes.range(..=id).next_back()?;
        node.live_entries().find(|e| e.id == id)
    }

    /// Deletes the entry with `id` (XDEL); whether it existed.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&key, node)) = self.nodes.range_mut(..=id).next_back() else { return false };
        let Some(offset) = node.slots().find(|s| s.entry.id == id && s.flags & DELETED == 0).map(|s| s.offset) else {
            return false;
        };
        node.mark_deleted(offset);
        if node.live == 0 {
            self.remove_node(key);
        }
        self.length -= 1;
        if id > self.max_deleted_entry_id {
            self.max_deleted_entry_id = id;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if id == self.first_id {
            self.first_id = self.edge_id(false).unwrap_or_default();
        }
        true
    }

    /// Trims as XADD/XTRIM ask (Redis's streamTrim): whole nodes first; with `approx`, only whole nodes;
    /// at most `limit` entries when `limit` is not 0. Never removes an entry at or after `guard.keep_from`
    /// (Redis 8.2's ACKED: what a consumer group still needs stays), and lists what it removed in
    /// `guard.removed` when asked (DELREF takes those out of every group's pending list). Returns the
    /// number of entries removed.
    pub fn trim(&mut self, trim: Trim, approx: bool, limit: u64, guard: &mut TrimGuard) -> u64 {
        let kept = |id: StreamId| guard.keep_from.is_some_and(|from| id >= from);
        let mut removed = 0u64;
        while let Some((&key, node)) = self.nodes.iter().next() {
            keel_pace::step();
            if let Trim::MaxLen(max) = trim {
                if self.length <= max {
                    break;
                }
            }
            let entries = node.live as u64;
            if limit != 0 && removed + entries > limit {
                break;
            }
            let remove_node = match trim {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => node.last_id().is_some_and(|last| last < min),
            } && node.last_id().is_none_or(|last| !kept(last));
            if remove_node {
                if let Some(list) = &mut guard.removed {
                    list.extend(node.live_entries().map(|e| e.id));
                }
                self.remove_node(key);
                self.length -= entries;
                removed += entries;
                continue;
            }
            if approx {
                break;
            }
            // Flag entries of this node deleted until the condition holds.
            let mut doomed = Vec::new();
            let mut length = self.length;
            for slot in node.slots() {
                let stop = match trim {
                    Trim::MaxLen(max) => length <= max,
                    Trim::MinId(min) => slot.entry.id >= min,
                };
                if stop || kept(slot.entry.id) {
                    break;
                }
                if slot.flags & DELETED == 0 {
                    doomed.push(slot.offset);
                    if let Some(list) = &mut guard.removed {
                        list.push(slot.entry.id);
                    }
                    length -= 1;
                }
            }
            let emptied = self.nodes.get_mut(&key).is_some_and(|node| {
                doomed.iter().for_each(|&offset| node.mark_deleted(offset));
                node.live == 0
            });
            if emptied {
                self.remove_node(key);
            }
            removed += doomed.len() as u64;
            self.length = length;
            break;
        }
        if removed > 0 {
            self.first_id = if self.length > 0 { self.edge_id(false).unwrap_or_default() } else { StreamId::MIN };
        }
        removed
    }

    /// Whether a deleted entry may lie at or after `start` (Redis's streamRangeHasTombstones, open end).
    fn range_has_tombstones(&self, start: StreamId) -> bool {
        self.length > 0 && self.max_deleted_entry_id != StreamId::MIN && start <= self.max_deleted_entry_id
    }

    /// The number of entries added up to and including `id`, when it can be known (Redis's
    /// streamEstimateDistanceFromFirstEverEntry); None when fragmentation makes it unknowable.
    pub fn entries_read_estimate(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id != StreamId::MIN && id < self.max_deleted_entry_id {
            return None;
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted_entry_id == StreamId::MIN || self.max_deleted_entry_id < self.first_id {
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => return Some(self.entries_added - self.length),
                std::cmp::Ordering::Equal => return Some(self.entries_added - self.length + 1),
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }

    /// A group's read counter once the entry `id`, past its `last_id`, is delivered to it (Redis 8's
    /// streamReplyWithRange): one more while the counter is valid and no deleted entry lies ahead of
    /// the group, else estimated afresh.
    pub fn entries_read_after(&self, last_id: StreamId, entries_read: Option<u64>, id: StreamId) -> Option<u64> {
        match entries_read {
            Some(read) if last_id >= self.first_id && !self.range_has_tombstones(last_id) => Some(read + 1),
            _ if self.entries_added > 0 => self.entries_read_estimate(id),
            _ => entries_read,
        }
    }

    /// A group's lag: entries not yet delivered to it, or None when unknowable (Redis 8's
    /// streamReplyWithCGLag).
    pub fn lag(&self, last_id: StreamId, entries_read: Option<u64>) -> Option<u64> {
        if self.entries_added == 0 || self.length == 0 {
            return Some(0);
        }
        if last_id < self.first_id && self.max_deleted_entry_id < self.first_id {
            // Everything the group has not read is still in the stream, and nothing it has was deleted.
            return Some(self.length);
        }
        if let Some(read) = entries_read {
            if !self.range_has_tombstones(last_id) {
                return Some(self.entries_added.saturating_sub(read));
            }
        }
        self.entries_read_estimate(last_id).map(|read| self.entries_added.saturating_sub(read))
    }

    /// The nodes as they are, deleted entries included, for writing Redis's RDB form.
    pub fn raw_nodes(&self) -> impl Iterator<Item = RawNode<'_>> {
        self.nodes.values().map(|node| RawNode {
            master: node.master,
            master_fields: node.master_fields.iter().map(|f| &**f).collect(),
            live: node.live,
            deleted: node.deleted,
            entries: node
                .slots()
                .map(|s| RawEntry {
                    deleted: s.flags & DELETED != 0,
                    same_fields: s.flags & SAME_FIELDS != 0,
                    entry: s.entry,
                })
                .collect(),
        })
    }

    /// Every live entry, in order (for serialization).
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        self.nodes.values().flat_map(Node::live_entries)
    }

    /// Sets the counters a loaded stream carries (RDB, DUMP/RESTORE), after its entries were loaded.
    pub fn set_counters(&mut self, last_id: StreamId, first_id: StreamId, max_deleted: StreamId, entries_added: u64) {
        self.last_id = last_id;
        self.first_id = first_id;
        self.max_deleted_entry_id = max_deleted;
        self.entries_added = entries_added;
    }

    /// Appends a loaded entry (in ID order) without touching the counters.
    pub fn load_entry(&mut self, id: StreamId, fields: &[(&[u8], &[u8])], limits: NodeLimits) {
        self.append(id, fields, limits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: NodeLimits = NodeLimits { max_bytes: 4096, max_entries: 100 };

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    #[test]
    fn ids_parse_as_redis_parses_them() {
        assert_eq!(StreamId::parse(b"5-3", 0, false, false), Some((id(5, 3), true)));
        assert_eq!(StreamId::parse(b"5", 9, false, false), Some((id(5, 9), true)));
        assert_eq!(StreamId::parse(b"5-*", 0, true, true), Some((id(5, 0), false)));
        assert_eq!(StreamId::parse(b"-", 0, false, false), Some((StreamId::MIN, true)));
        assert_eq!(StreamId::parse(b"+", 0, true, false), None);
        assert_eq!(StreamId::parse(b"5-x", 0, false, false), None);
        assert_eq!(StreamId::parse(b"-5", 0, false, false), None);
        assert_eq!(StreamId::parse(b"18446744073709551616", 0, false, false), None);
        assert_eq!(id(1, u64::MAX).incr(), Some(id(2, 0)));
        assert_eq!(id(2, 0).decr(), Some(id(1, u64::MAX)));
        assert_eq!(StreamId::MAX.incr(), None);
    }

    #[test]
    fn add_range_delete_and_trim() {
        let mut s = Stream::new();
        for i in 1..=250u64 {
            let value = i.to_string();
            let fields: Vec<(&[u8], &[u8])> =
                if i % 7 == 0 { vec![(b"other", value.as_bytes())] } else { vec![(b"f", value.as_bytes())] };
            s.add(id(i, 0), &fields, LIMITS).unwrap();
        }
        assert_eq!(s.add(id(250, 0), &[(b"f", b"x")], LIMITS), Err(AddError::NotGreater));
        assert_eq!(s.len(), 250);
        assert_eq!(s.node_count(), 3);
        let r = s.range(id(99, 0), id(102, 0), 0, false);
        assert_eq!(r.iter().map(|e| e.id.ms).collect::<Vec<_>>(), [99, 100, 101, 102]);
        assert_eq!(r[0].fields, [(&b"f"[..], &b"99"[..])]);
        assert_eq!(s.get(id(98, 0)).unwrap().fields, [(&b"other"[..], &b"98"[..])]);
        let back = s.range(StreamId::MIN, StreamId::MAX, 3, true);
        assert_eq!(back.iter().map(|e| e.id.ms).collect::<Vec<_>>(), [250, 249, 248]);
        assert!(s.delete(id(1, 0)));
        assert!(!s.delete(id(1, 0)));
        assert_eq!(s.first_id, id(2, 0));
        assert_eq!(s.max_deleted_entry_id, id(1, 0));
        // Approximate trimming removes whole nodes only; exact trimming goes to the entry.
        assert_eq!(s.trim(Trim::MaxLen(120), true, 0, &mut TrimGuard::default()), 99);
        assert_eq!(s.len(), 150);
        assert_eq!(s.trim(Trim::MaxLen(120), false, 0, &mut TrimGuard::default()), 30);
        assert_eq!(s.edge_id(false), Some(id(131, 0)));
        assert_eq!(s.trim(Trim::MinId(id(200, 0)), false, 0, &mut TrimGuard::default()), 69);
        assert_eq!(s.first_id, id(200, 0));
        assert_eq!(s.entries_added, 250);
    }

    proptest! {
        #[test]
        fn ranges_match_a_plain_map(ops in proptest::collection::vec((0u8..3, 0u64..300), 1..300)) {
            let mut s = Stream::new();
            let mut model = BTreeMap::new();
            let mut next = 1u64;
            for (op, n) in ops {
                match op {
                    0 => {
                        let value = n.to_string();
                        s.add(id(next, n), &[(b"v", value.as_bytes())], NodeLimits { max_bytes: 200, max_entries: 5 }).unwrap();
                        model.insert(id(next, n), value);
                        next += 1 + n % 3;
                    }
                    1 => {
                        let victim = model.keys().nth(n as usize % model.len().max(1)).copied();
                        if let Some(v) = victim {
                            prop_assert!(s.delete(v));
                            model.remove(&v);
                        }
                    }
                    _ => {
                        let from = id(n, 0);
                        let got: Vec<StreamId> = s.range(from, StreamId::MAX, 0, false).iter().map(|e| e.id).collect();
                        let want: Vec<StreamId> = model.range(from..).map(|(k, _)| *k).collect();
                        prop_assert_eq!(got, want);
                    }
                }
                prop_assert_eq!(s.len(), model.len() as u64);
                let all: Vec<StreamId> = s.range(StreamId::MIN, StreamId::MAX, 0, true).iter().map(|e| e.id).collect();
                let want: Vec<StreamId> = model.keys().rev().copied().collect();
                prop_assert_eq!(all, want);
            }
        }
    }
}
