//! Sorted sets (Redis's t_zset). A small sorted set is a vector ordered by (score, member) (`listpack`);
//! past `zset-max-listpack-entries` members, or a member longer than `zset-max-listpack-value`, it becomes
//! a member→score table plus an order-statistic B+ tree (`skiplist` in Redis's words, `zset_tree.rs`), so
//! insertion, deletion, rank and selection by rank are all O(log n) over a few dense nodes.
//! Like Redis, a sorted set never converts back.

use crate::compact::CompactBytes;
use crate::dense::{DenseTable, Keyed};
use crate::zset_tree::{order, Tree};
use std::cmp::Ordering;

/// The thresholds of the compact encoding.
#[derive(Debug, Clone, Copy)]
pub struct ZSetLimits {
    pub max_listpack_entries: usize,
    pub max_listpack_value: usize,
}

#[derive(Clone)]
struct Scored {
    member: CompactBytes,
    score: f64,
}

impl Keyed for Scored {
    fn key(&self) -> &[u8] {
        self.member.as_bytes()
    }
}

#[derive(Clone)]
struct Big {
    dict: DenseTable<Scored>,
    tree: Tree,
    /// Heap bytes of members, counted twice (table and tree each hold a copy).
    element_heap: usize,
}

impl Big {
    /// Starts loading what the next pop from the same end will read first, while this pop's reply goes
    /// out: the bytes of the member it will take from the tree and of the member table's last item, which
    /// its removal will move (pops come in runs: ZPOPMIN with a count, a queue's consumers).
    fn prefetch_next_pop(&self, last: bool) {
        let Some(end) = self.dict.len().checked_sub(1) else { return };
        crate::dense::prefetch_read(self.tree.select(if last { end } else { 0 }).0.as_ptr().cast());
        self.dict.prefetch_key(end);
    }
}

#[derive(Clone)]
enum Repr {
    Listpack(Vec<Scored>),
    Skiplist(Box<Big>),
}

#[derive(Clone)]
pub struct ZSet {
    repr: Repr,
}

impl ZSet {
    /// Starts loading `member`'s entry in the member table past the compact encoding (see
    /// [`DenseTable::prefetch`]).
    pub(crate) fn prefetch_member(&self, member: &[u8]) -> Option<usize> {
        match &self.repr {
            Repr::Skiplist(big) => big.dict.prefetch(member),
            Repr::Listpack(_) => None,
        }
    }

    /// Starts loading the bytes of the member at `pos` of the member table.
    pub(crate) fn prefetch_member_key(&self, pos: usize) {
        if let Repr::Skiplist(big) = &self.repr {
            big.dict.prefetch_key(pos);
        }
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ZSet({} members, {})", self.len(), self.encoding())
    }
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet { repr: Repr::Listpack(Vec::new()) }
    }
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(items) => items.len(),
            Repr::Skiplist(big) => big.dict.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Skiplist(_) => "skiplist",
        }
    }

    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Listpack(items) => {
                items.capacity() * std::mem::size_of::<Scored>()
                    + items.iter().map(|s| s.member.heap_size()).sum::<usize>()
            }
            Repr::Skiplist(big) => {
                std::mem::size_of::<Big>() + big.dict.table_bytes() + big.tree.heap_size() + big.element_heap
            }
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Listpack(items) => items.iter().find(|s| s.member.as_bytes() == member).map(|s| s.score),
            Repr::Skiplist(big) => big.dict.find(member).map(|pos| big.dict.get(pos).score),
        }
    }

    /// Sets `member`'s score, adding it if absent; returns true if it was added.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &ZSetLimits) -> bool {
        if member.len() > limits.max_listpack_value {
            self.convert_to_skiplist();
        }
        let old = self.score(member);
        if old == Some(score) {
            return false;
        }
        if old.is_some() {
            self.remove(member);
        }
        match &mut self.repr {
            Repr::Listpack(items) => {
                let at =
                    items.partition_point(|s| order(s.score, s.member.as_bytes(), score, member) == Ordering::Less);
                items.insert(at, Scored { member: CompactBytes::new(member), score });
            }
            Repr::Skiplist(big) => {
                let stored = CompactBytes::new(member);
                big.element_heap += 2 * stored.heap_size();
                big.tree.insert(stored.clone(), score);
                big.dict.insert_new(Scored { member: stored, score });
            }
        }
        if self.len() > limits.max_listpack_entries {
            self.convert_to_skiplist();
        }
        old.is_none()
    }

    /// Removes `member`; returns true if it was present.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Listpack(items) => match items.iter().position(|s| s.member.as_bytes() == member) {
                Some(at) => {
                    items.remove(at);
                    true
                }
                None => false,
            },
            Repr::Skiplist(big) => match big.dict.remove(member) {
                Some(removed) => {
                    big.element_heap -= 2 * removed.member.heap_size();
                    big.tree.remove(removed.score, member);
                    true
                }
                None => false,
            },
        }
    }

    fn convert_to_skiplist(&mut self) {
        if let Repr::Listpack(items) = &mut self.repr {
            let mut big = Big { dict: DenseTable::with_capacity(items.len()), tree: Tree::new(), element_heap: 0 };
            for item in items.drain(..) {
                big.element_heap += 2 * item.member.heap_size();
                big.tree.insert(item.member.clone(), item.score);
                big.dict.insert_new(item);
            }
            self.repr = Repr::Skiplist(Box::new(big));
        }
    }

    /// Removes and returns the lowest-scoring member (or the highest, with `last`).
    pub fn pop(&mut self, last: bool) -> Option<(CompactBytes, f64)> {
        match &mut self.repr {
            Repr::Listpack(items) => {
                let item = if last { items.pop()? } else { (!items.is_empty()).then(|| items.remove(0))? };
                Some((item.member, item.score))
            }
            Repr::Skiplist(big) => {
                let (member, score) = big.tree.pop_edge(last)?;
                if let Some(removed) = big.dict.remove(member.as_bytes()) {
                    big.element_heap -= 2 * removed.member.heap_size();
                }
                big.prefetch_next_pop(last);
                Some((member, score))
            }
        }
    }

    /// The member and score at `rank` (0 = lowest score), which must be below `len()`; a step of work for
    /// `keel_pace`, as every walk of a sorted set in rank order goes through here.
    pub fn at_rank(&self, rank: usize) -> (&[u8], f64) {
        keel_pace::step();
        match &self.repr {
            Repr::Listpack(items) => (items[rank].member.as_bytes(), items[rank].score),
            Repr::Skiplist(big) => big.tree.select(rank),
        }
    }

    /// The 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.count_before(|s, m| order(s, m, score, member) == Ordering::Less))
    }

    /// How many members come before the first one for which `before` stops holding. `before` must hold
    /// for a prefix of the order (e.g. "score < min").
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Listpack(items) => items.partition_point(|s| before(s.score, s.member.as_bytes())),
            Repr::Skiplist(big) => big.tree.count_before(before),
        }
    }

    /// ZSCAN: a listpack is returned whole (cursor 0); a table is walked with the no-skip guarantee.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut visit: impl FnMut(&'a [u8], f64)) -> u64 {
        match &self.repr {
            Repr::Listpack(items) => {
                items.iter().for_each(|s| visit(s.member.as_bytes(), s.score));
                0
            }
            Repr::Skiplist(big) => big.dict.scan(cursor, count, |pos| {
                let s = big.dict.get(pos);
                visit(s.member.as_bytes(), s.score)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn model_order(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut items: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
        items.sort_by(|a, b| order(a.1, &a.0, b.1, &b.0));
        items
    }

    /// Pops from the high end when the model has an odd length, so both ends get exercised.
    fn m_last(expected: &[(Vec<u8>, f64)]) -> bool {
        expected.len() % 2 == 1
    }

    proptest! {
        /// A ZSet keeps Redis's order and ranks, whatever its encoding.
        #[test]
        fn behaves_like_an_ordered_map(
            ops in proptest::collection::vec((any::<bool>(), 0u8..60, -5i8..5), 0..400),
            max_entries in prop_oneof![Just(4usize), Just(1000)],
        ) {
            let limits = ZSetLimits { max_listpack_entries: max_entries, max_listpack_value: 64 };
            let mut zset = ZSet::new();
            let mut model = BTreeMap::new();
            for (add, m, score) in ops {
                let member = if m % 5 == 0 { format!("a-long-member-name-{m}").into_bytes() } else { vec![m] };
                let score = score as f64 / 2.0;
                if add {
                    prop_assert_eq!(zset.insert(&member, score, &limits), model.insert(member, score).is_none());
                } else {
                    prop_assert_eq!(zset.remove(&member), model.remove(&member).is_some());
                }
            }
            prop_assert_eq!(zset.len(), model.len());
            let expected = model_order(&model);
            for (rank, (member, score)) in expected.iter().enumerate() {
                let (m, s) = zset.at_rank(rank);
                prop_assert_eq!((m, s), (member.as_slice(), *score));
                prop_assert_eq!(zset.rank(member), Some(rank));
                prop_assert_eq!(zset.score(member), Some(*score));
            }
            let below_zero = zset.count_before(|s, _| s < 0.0);
            if let Some((member, score)) = zset.pop(m_last(&expected)) {
                let (expected_member, expected_score) = if m_last(&expected) { expected.last().unwrap() } else { &expected[0] };
                prop_assert_eq!((member.as_bytes(), score), (expected_member.as_slice(), *expected_score));
                prop_assert_eq!(zset.len(), expected.len() - 1);
                prop_assert_eq!(zset.score(expected_member), None);
            }
            prop_assert_eq!(below_zero, expected.iter().filter(|(_, s)| *s < 0.0).count());
        }
    }

    #[test]
    fn large_sets_use_the_tree() {
        let limits = ZSetLimits { max_listpack_entries: 128, max_listpack_value: 64 };
        let mut zset = ZSet::new();
        for i in 0..10_000 {
            zset.insert(format!("m{i}").as_bytes(), (i % 100) as f64, &limits);
        }
        assert_eq!(zset.encoding(), "skiplist");
        assert_eq!(zset.at_rank(0), (&b"m0"[..], 0.0));
        assert_eq!(zset.rank(b"m9999"), Some(9999));
        for i in 0..10_000 {
            assert!(zset.remove(format!("m{i}").as_bytes()));
        }
        assert!(zset.is_empty());
    }
}
