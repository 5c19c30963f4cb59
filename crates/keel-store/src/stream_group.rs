//! Stream consumer groups (Redis's streamCG): the last delivered ID, the read counter, the pending entries
//! list (PEL: delivered, not yet acknowledged) and the consumers, each with its own view of the PEL.
//! Groups and consumers are kept sorted by name, as Redis's radix trees list them.

use crate::stream::StreamId;
use std::collections::{BTreeMap, BTreeSet};

/// A delivered, unacknowledged entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub consumer: Box<[u8]>,
    /// Unix ms of the last delivery.
    pub delivery_time: u64,
    pub delivery_count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Unix ms the consumer last did something (its `idle` is measured from here).
    pub seen_time: u64,
    /// Unix ms the consumer was last handed entries (its `inactive`); None until it has been (Redis 7.2).
    pub active_time: Option<u64>,
    pub pending: BTreeSet<StreamId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerGroup {
    pub last_id: StreamId,
    /// Entries the group has read, when known (Redis's `entries_read`, -1 when invalid).
    pub entries_read: Option<u64>,
    pub pel: BTreeMap<StreamId, Pending>,
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl ConsumerGroup {
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> ConsumerGroup {
        ConsumerGroup { last_id, entries_read, ..ConsumerGroup::default() }
    }

    /// An estimate in O(1): pending entries in two trees plus an owner name each, and consumers.
    pub fn heap_size(&self) -> usize {
        self.pel.len() * 96 + self.consumers.len() * 96
    }

    /// The consumer `name`, created at `now` if missing; whether it was created.
    pub fn consumer(&mut self, name: &[u8], now: u64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        let consumer = self.consumers.entry(name.into()).or_insert_with(|| Consumer {
            seen_time: now,
            active_time: None,
            pending: BTreeSet::new(),
        });
        (consumer, created)
    }

    /// Records `id` as delivered to `consumer` at `now` (XREADGROUP of new entries): a new PEL entry, or
    /// an existing one handed to this consumer.
    pub fn deliver(&mut self, id: StreamId, consumer: &[u8], now: u64) {
        if let Some(previous) = self.pel.get(&id).map(|p| p.consumer.clone()) {
            if let Some(c) = self.consumers.get_mut(&previous) {
                c.pending.remove(&id);
            }
        }
        self.pel.insert(id, Pending { consumer: consumer.into(), delivery_time: now, delivery_count: 1 });
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pending.insert(id);
            c.active_time = Some(now);
        }
    }

    /// Acknowledges `id`; whether it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(pending) = self.pel.remove(&id) else { return false };
        if let Some(c) = self.consumers.get_mut(&pending.consumer) {
            c.pending.remove(&id);
        }
        true
    }

    /// Hands the pending `id` to `consumer` (XCLAIM), which must exist.
    pub fn transfer(&mut self, id: StreamId, consumer: &[u8]) {
        let Some(pending) = self.pel.get_mut(&id) else { return };
        if &*pending.consumer != consumer {
            let previous = std::mem::replace(&mut pending.consumer, consumer.into());
            if let Some(c) = self.consumers.get_mut(&previous) {
                c.pending.remove(&id);
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pending.insert(id);
        }
    }

    /// Deletes a consumer and its pending entries; how many were pending. Each entry is a step of work for
    /// `keel_pace`.
    pub fn remove_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let consumer = self.consumers.remove(name)?;
        for id in keel_pace::paced(&consumer.pending) {
            self.pel.remove(id);
        }
        Some(consumer.pending.len())
    }
}

/// What deleting or trimming entries does to consumer groups' references to them (Redis 8.2): KEEPREF
/// leaves pending lists alone, DELREF takes the entries out of them, ACKED removes only entries no group
/// still needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefPolicy {
    KeepRef,
    DelRef,
    Acked,
}

impl RefPolicy {
    /// The policy `arg` names (KEEPREF, DELREF or ACKED, any case).
    pub fn parse(arg: &[u8]) -> Option<RefPolicy> {
        [(&b"keepref"[..], RefPolicy::KeepRef), (b"delref", RefPolicy::DelRef), (b"acked", RefPolicy::Acked)]
            .into_iter()
            .find(|(name, _)| arg.eq_ignore_ascii_case(name))
            .map(|(_, policy)| policy)
    }
}

impl crate::stream::Stream {
    /// The first entry some consumer group still needs: pending there, or not delivered yet.
    pub fn first_needed(&self) -> Option<StreamId> {
        let needed = |g: &ConsumerGroup| [g.pel.keys().next().copied(), g.last_id.incr()].into_iter().flatten().min();
        self.groups.values().filter_map(needed).min()
    }

    /// Whether some group still needs entry `id`: has it pending, or has not delivered it yet.
    pub fn still_needed(&self, id: StreamId) -> bool {
        self.groups.values().any(|g| g.pel.contains_key(&id) || g.last_id < id)
    }

    /// Takes `ids` out of every group's pending list (DELREF).
    pub fn drop_references(&mut self, ids: &[StreamId]) {
        for group in self.groups.values_mut() {
            ids.iter().for_each(|id| _ = group.ack(*id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_acks_transfers_and_removal_keep_both_views_in_step() {
        let mut g = ConsumerGroup::new(StreamId::MIN, Some(0));
        g.consumer(b"alice", 1);
        g.consumer(b"bob", 1);
        let (a, b) = (StreamId::new(1, 0), StreamId::new(2, 0));
        g.deliver(a, b"alice", 10);
        g.deliver(b, b"alice", 10);
        g.transfer(b, b"bob");
        assert_eq!(g.consumers[&b"alice"[..]].pending.len(), 1);
        assert_eq!(g.consumers[&b"bob"[..]].pending.len(), 1);
        assert_eq!(&*g.pel[&b].consumer, b"bob");
        assert!(g.ack(a));
        assert!(!g.ack(a));
        assert_eq!(g.remove_consumer(b"bob"), Some(1));
        assert!(g.pel.is_empty());
        let (_, created) = g.consumer(b"alice", 5);
        assert!(!created);
    }

    #[test]
    fn acked_trimming_keeps_what_a_group_needs_and_delref_drops_references() {
        use crate::stream::{NodeLimits, Stream, Trim, TrimGuard};
        let limits = NodeLimits { max_bytes: 4096, max_entries: 2 };
        let mut s = Stream::new();
        for ms in 1..=6 {
            s.add(StreamId::new(ms, 0), &[(b"f", b"v")], limits).unwrap();
        }
        let mut g = ConsumerGroup::new(StreamId::new(3, 0), None);
        g.deliver(StreamId::new(2, 0), b"c", 1);
        s.groups.insert(b"g".to_vec(), g);
        assert_eq!(s.first_needed(), Some(StreamId::new(2, 0)), "2-0 pending, 4-0 on not delivered");
        assert!(s.still_needed(StreamId::new(5, 0)) && !s.still_needed(StreamId::new(3, 0)));
        let mut guard = TrimGuard { keep_from: s.first_needed(), removed: Some(Vec::new()) };
        assert_eq!(s.trim(Trim::MaxLen(0), false, 0, &mut guard), 1);
        assert_eq!(guard.removed, Some(vec![StreamId::new(1, 0)]));
        let mut guard = TrimGuard { keep_from: None, removed: Some(Vec::new()) };
        assert_eq!(s.trim(Trim::MinId(StreamId::new(4, 0)), false, 0, &mut guard), 2);
        s.drop_references(&guard.removed.unwrap_or_default());
        assert!(s.groups[&b"g"[..]].pel.is_empty(), "DELREF took 2-0 out of the pending list");
        assert_eq!(RefPolicy::parse(b"AckEd"), Some(RefPolicy::Acked));
    }
}
