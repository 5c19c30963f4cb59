//! `DenseTable<T>`: items stored densely in a `Vec`, found by key through a hash index of 4-byte positions.
//! The keyspace and large hashes and sets are built on it.
//!
//! Deleting moves the last item into the hole, so items only ever move towards the front. Cursor scans walk
//! positions from the back to the front; an item present for the whole scan can therefore never be skipped
//! (it may be returned twice), which is the guarantee Redis gives for SCAN, HSCAN and SSCAN.

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use rand::Rng;
use std::hash::BuildHasher;

/// An item that has a key.
pub trait Keyed {
    fn key(&self) -> &[u8];
}

#[derive(Clone)]
pub struct DenseTable<T> {
    items: Vec<T>,
    index: HashTable<u32>,
    hasher: RandomState,
}

impl<T> Default for DenseTable<T> {
    fn default() -> Self {
        DenseTable { items: Vec::new(), index: HashTable::new(), hasher: RandomState::default() }
    }
}

impl<T: Keyed> DenseTable<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(capacity: usize) -> Self {
        DenseTable {
            items: Vec::with_capacity(capacity),
            index: HashTable::with_capacity(capacity),
            hasher: RandomState::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes held by the table itself (items and index), not by what items point to.
    pub fn table_bytes(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<T>() + self.index.capacity() * (std::mem::size_of::<u32>() + 1)
    }

    /// Bytes of the table that hold something: the items and index slots in use, and the index's control
    /// bytes (which the index writes in full). Spare capacity is left out: a grown buffer's unused tail is
    /// address space nothing has written yet, so it is not resident; and counting it would make memory jump
    /// by half the table when it doubles, which near `maxmemory` evicts keys by the thousand for nothing
    /// (Redis avoids the same jump by not rehashing past maxmemory).
    pub fn live_bytes(&self) -> usize {
        self.items.len() * std::mem::size_of::<T>()
            + self.index.len() * std::mem::size_of::<u32>()
            + self.index.capacity()
    }

    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The position of `key`, if present.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        let hash = self.hash(key);
        self.index.find(hash, |&i| self.items[i as usize].key() == key).map(|&i| i as usize)
    }

    pub fn get(&self, pos: usize) -> &T {
        &self.items[pos]
    }

    /// Mutable access to an item; its key must not change.
    pub fn get_mut(&mut self, pos: usize) -> &mut T {
        &mut self.items[pos]
    }

    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// Adds an item whose key is not present; returns its position.
    pub fn insert_new(&mut self, item: T) -> usize {
        let pos = self.items.len();
        let hash = self.hash(item.key());
        self.items.push(item);
        let (items, hasher) = (&self.items, &self.hasher);
        self.index.insert_unique(hash, pos as u32, |&i| hasher.hash_one(items[i as usize].key()));
        pos
    }

    /// Removes the item at `pos`; the last item moves into `pos` (when `pos` was not last).
    pub fn remove_at(&mut self, pos: usize) -> T {
        let hash = self.hash(self.items[pos].key());
        if let Ok(found) = self.index.find_entry(hash, |&i| i as usize == pos) {
            found.remove();
        }
        self.take_out(pos)
    }

    /// Takes the item at `pos` out of the items, whose index entry is already gone, moving the last item
    /// into its place.
    fn take_out(&mut self, pos: usize) -> T {
        let last = self.items.len() - 1;
        if pos != last {
            let moved_hash = self.hash(self.items[last].key());
            if let Some(i) = self.index.find_mut(moved_hash, |&i| i as usize == last) {
                *i = pos as u32;
            }
        }
        let item = self.items.swap_remove(pos);
        self.shrink_if_sparse();
        item
    }

    /// Removes the item with `key`, if present, hashing the key once.
    pub fn remove(&mut self, key: &[u8]) -> Option<T> {
        let hash = self.hash(key);
        let items = &self.items;
        let found = self.index.find_entry(hash, |&i| items[i as usize].key() == key).ok()?;
        let (pos, _) = found.remove();
        Some(self.take_out(pos as usize))
    }

    /// Gives memory back when most of the table is empty, as Redis shrinks its dicts.
    fn shrink_if_sparse(&mut self) {
        let cap = self.items.capacity();
        if cap > 64 && self.items.len() * 8 < cap {
            self.items.shrink_to(self.items.len() * 2);
            let (items, hasher) = (&self.items, &self.hasher);
            self.index.shrink_to(items.len() * 2, |&i| hasher.hash_one(items[i as usize].key()));
        }
    }

    /// A uniformly random position, or None when empty.
    pub fn random(&self, rng: &mut impl Rng) -> Option<usize> {
        (!self.items.is_empty()).then(|| rng.gen_range(0..self.items.len()))
    }

    /// Visits up to `count` positions from `cursor` (0 starts) and returns the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(usize)) -> u64 {
        let len = self.items.len() as u64;
        let mut next = if cursor == 0 { len } else { cursor.min(len) };
        let mut visited = 0;
        while next > 0 && visited < count.max(1) {
            next -= 1;
            visit(next as usize);
            visited += 1;
        }
        next
    }

    pub fn clear(&mut self) {
        self.items = Vec::new();
        self.index = HashTable::new();
    }

    /// Takes all items out, leaving the table empty.
    pub fn drain(&mut self) -> Vec<T> {
        self.index = HashTable::new();
        std::mem::take(&mut self.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashSet};

    impl Keyed for Vec<u8> {
        fn key(&self) -> &[u8] {
            self
        }
    }

    proptest! {
        /// The table behaves like a set of keys.
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec((any::<bool>(), 0u8..64), 0..400)) {
            let mut table: DenseTable<Vec<u8>> = DenseTable::new();
            let mut model = BTreeSet::new();
            for (add, k) in ops {
                let key = vec![k];
                if add {
                    if table.find(&key).is_none() {
                        table.insert_new(key.clone());
                    }
                    model.insert(key);
                } else {
                    prop_assert_eq!(table.remove(&key).is_some(), model.remove(&key));
                }
            }
            prop_assert_eq!(table.len(), model.len());
            for key in &model {
                let pos = table.find(key).unwrap();
                prop_assert_eq!(table.get(pos), key);
            }
        }

        /// An item present for the whole scan is returned, however the table changes meanwhile.
        #[test]
        fn scan_never_skips_stable_items(
            initial in 1u16..300,
            changes in proptest::collection::vec((any::<bool>(), 0u16..600), 0..300),
            count in 1usize..16,
        ) {
            let mut table: DenseTable<Vec<u8>> = DenseTable::new();
            for i in 0..initial {
                table.insert_new(i.to_be_bytes().to_vec());
            }
            let (mut seen, mut touched) = (HashSet::new(), HashSet::new());
            let mut changes = changes.into_iter();
            let mut cursor = 0;
            loop {
                cursor = table.scan(cursor, count, |pos| { seen.insert(table.get(pos).clone()); });
                if cursor == 0 {
                    break;
                }
                for (add, k) in changes.by_ref().take(2) {
                    let key = k.to_be_bytes().to_vec();
                    touched.insert(key.clone());
                    if add && table.find(&key).is_none() {
                        table.insert_new(key);
                    } else if !add {
                        table.remove(&key);
                    }
                }
            }
            for i in 0..initial {
                let key = i.to_be_bytes().to_vec();
                prop_assert!(touched.contains(&key) || seen.contains(&key));
            }
        }
    }
}
