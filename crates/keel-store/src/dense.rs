//! `DenseTable<T>`: items stored densely, found by key through a hash index of 4-byte positions. The
//! keyspace and large hashes and sets are built on it.
//!
//! Deleting moves the last item into the hole, so items only ever move towards the front. Cursor scans walk
//! positions from the back to the front; an item present for the whole scan can therefore never be skipped
//! (it may be returned twice), which is the guarantee Redis gives for SCAN, HSCAN and SSCAN.
//!
//! Nothing grows all at once, so that no insert stalls other clients in proportion to the table's size:
//! - items live in chunks: the first grows like a `Vec` up to [`CHUNK`] items, then further items go into
//!   new chunks of exactly [`CHUNK`], so growing copies at most one chunk and never the whole table;
//! - the index is [`SHARDS`] hash tables, chosen by bits of the key's hash that the tables themselves do not
//!   use; one shard resizing moves a sixty-fourth of the keys, and each index entry carries 32 bits of its
//!   key's hash beside the position, so that moving it reads no item (and a lookup compares keys only when
//!   those bits agree).

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use rand::Rng;
use std::hash::BuildHasher;

/// Items per chunk once the table has outgrown its first chunk.
pub const CHUNK: usize = 1 << 12;
/// Index shards.
pub const SHARDS: usize = 64;

/// An item that has a key.
pub trait Keyed {
    fn key(&self) -> &[u8];
}

#[derive(Clone)]
pub struct DenseTable<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
    /// Empty until the first insert, so that an empty table costs no allocation. Entries are a position
    /// (low half) and the low 32 bits of its key's hash (high half).
    shards: Vec<HashTable<u64>>,
    /// The shards' allocations summed, kept as they change so that the table's size is known in O(1).
    index_bytes: usize,
    hasher: RandomState,
}

impl<T> Default for DenseTable<T> {
    fn default() -> Self {
        DenseTable { chunks: Vec::new(), len: 0, shards: Vec::new(), index_bytes: 0, hasher: RandomState::default() }
    }
}

/// The shard a hash belongs to: bits 40..46, which the index's own hash (made of the low 32 bits) does not
/// contain.
fn shard_of(hash: u64) -> usize {
    (hash >> 40) as usize & (SHARDS - 1)
}

/// What the shards hash by: the key hash's low 32 bits, in both halves (hashbrown places by the low bits
/// and tags by the top seven).
fn index_hash(hash: u64) -> u64 {
    let low = hash & 0xffff_ffff;
    (low << 32) | low
}

fn entry(hash: u64, pos: usize) -> u64 {
    (hash << 32) | pos as u64
}

fn entry_pos(entry: u64) -> usize {
    entry as u32 as usize
}

/// An entry's own index hash, rebuilt from the bits it carries (no item is read).
fn rehash(&entry: &u64) -> u64 {
    index_hash(entry >> 32)
}

/// Asks the CPU to bring the cache line at `address` in; a hint with no effect on memory or on safety.
fn prefetch_read(address: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and changes nothing; `address` points into a live item anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch(address, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

fn item<T>(chunks: &[Vec<T>], pos: usize) -> &T {
    &chunks[pos / CHUNK][pos % CHUNK]
}

impl<T: Keyed> DenseTable<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(capacity: usize) -> Self {
        let mut table = Self::default();
        table.chunks.push(Vec::with_capacity(capacity.min(CHUNK)));
        table
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the table itself (items and index), not by what items point to. O(1): every chunk
    /// after the first holds exactly [`CHUNK`] items.
    pub fn table_bytes(&self) -> usize {
        let items = self.chunks.first().map_or(0, Vec::capacity) + self.chunks.len().saturating_sub(1) * CHUNK;
        items * std::mem::size_of::<T>() + self.index_bytes
    }

    /// Bytes of the table that hold something: the items and index slots in use, and the index's control
    /// bytes (which the index writes in full). Spare capacity is left out: a grown buffer's unused tail is
    /// address space nothing has written yet, so it is not resident; and counting it would make memory jump
    /// when the table grows, which near `maxmemory` evicts keys by the thousand for nothing (Redis avoids
    /// the same jump by not rehashing past maxmemory).
    pub fn live_bytes(&self) -> usize {
        // The control bytes: one per bucket, of the nine bytes each bucket takes.
        self.len * std::mem::size_of::<T>() + self.len * std::mem::size_of::<u64>() + self.index_bytes / 9
    }

    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The position of `key`, if present.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        let hash = self.hash(key);
        let shard = self.shards.get(shard_of(hash))?;
        let low = hash & 0xffff_ffff;
        shard
            .find(index_hash(hash), |&e| e >> 32 == low && item(&self.chunks, entry_pos(e)).key() == key)
            .map(|&e| entry_pos(e))
    }

    pub fn get(&self, pos: usize) -> &T {
        item(&self.chunks, pos)
    }

    /// Starts loading the item `key` probably names into the cache, without waiting for it: the index is
    /// searched (its 32 bits of hash compared, no key), and the item found is prefetched. A batch of
    /// pipelined commands prefetches every key before it runs the first, so that their cache misses
    /// overlap instead of following one another (Valkey 8 prefetches likewise).
    pub fn prefetch(&self, key: &[u8]) {
        let hash = self.hash(key);
        let Some(shard) = self.shards.get(shard_of(hash)) else { return };
        let low = hash & 0xffff_ffff;
        if let Some(&e) = shard.find(index_hash(hash), |&e| e >> 32 == low) {
            let target: *const T = item(&self.chunks, entry_pos(e));
            prefetch_read(target.cast());
        }
    }

    /// Mutable access to an item; its key must not change.
    pub fn get_mut(&mut self, pos: usize) -> &mut T {
        &mut self.chunks[pos / CHUNK][pos % CHUNK]
    }

    /// The items, in position order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    /// Adds an item whose key is not present; returns its position.
    pub fn insert_new(&mut self, item_to_add: T) -> usize {
        let pos = self.len;
        let hash = self.hash(item_to_add.key());
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(item_to_add),
            _ => {
                // The first chunk grows as a Vec does; later ones are made at their full size once.
                let capacity = if self.chunks.is_empty() { 4 } else { CHUNK };
                let mut chunk = Vec::with_capacity(capacity);
                chunk.push(item_to_add);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
        if self.shards.is_empty() {
            self.shards = (0..SHARDS).map(|_| HashTable::new()).collect();
        }
        let shard = &mut self.shards[shard_of(hash)];
        let before = shard.allocation_size();
        shard.insert_unique(index_hash(hash), entry(hash & 0xffff_ffff, pos), rehash);
        self.index_bytes = self.index_bytes + shard.allocation_size() - before;
        pos
    }

    /// Removes the item at `pos`; the last item moves into `pos` (when `pos` was not last).
    pub fn remove_at(&mut self, pos: usize) -> T {
        let hash = self.hash(self.get(pos).key());
        if let Ok(found) = self.shards[shard_of(hash)].find_entry(index_hash(hash), |&e| entry_pos(e) == pos) {
            found.remove();
        }
        self.take_out(pos, hash)
    }

    /// Takes the item at `pos` out of the items, whose index entry (under `hash`) is already gone, moving
    /// the last item into its place.
    fn take_out(&mut self, pos: usize, hash: u64) -> T {
        let last = self.len - 1;
        if pos != last {
            let moved_hash = self.hash(self.get(last).key());
            let shard = &mut self.shards[shard_of(moved_hash)];
            if let Some(e) = shard.find_mut(index_hash(moved_hash), |&e| entry_pos(e) == last) {
                *e = entry(*e >> 32, pos);
            }
        }
        let Some(tail) = self.chunks.last_mut() else { unreachable!("a table with items has a chunk") };
        let Some(mut taken) = tail.pop() else { unreachable!("the last chunk is never empty") };
        if tail.is_empty() && self.chunks.len() > 1 {
            self.chunks.pop();
        }
        self.len -= 1;
        if pos != last {
            std::mem::swap(self.get_mut(pos), &mut taken);
        }
        self.shrink_if_sparse(shard_of(hash));
        taken
    }

    /// Removes the item with `key`, if present, hashing the key once.
    pub fn remove(&mut self, key: &[u8]) -> Option<T> {
        let hash = self.hash(key);
        let (chunks, low) = (&self.chunks, hash & 0xffff_ffff);
        let shard = self.shards.get_mut(shard_of(hash))?;
        let found =
            shard.find_entry(index_hash(hash), |&e| e >> 32 == low && item(chunks, entry_pos(e)).key() == key).ok()?;
        let (removed, _) = found.remove();
        Some(self.take_out(entry_pos(removed), hash))
    }

    /// Gives memory back when most of a part is empty, as Redis shrinks its dicts: the first chunk while
    /// it is the only one, and the shard an item just left.
    fn shrink_if_sparse(&mut self, shard: usize) {
        if let [only] = self.chunks.as_mut_slice() {
            if only.capacity() > 64 && only.len() * 8 < only.capacity() {
                only.shrink_to(only.len() * 2);
            }
        }
        let index = &mut self.shards[shard];
        if index.capacity() > 64 && index.len() * 8 < index.capacity() {
            let before = index.allocation_size();
            index.shrink_to(index.len() * 2, rehash);
            self.index_bytes = self.index_bytes + index.allocation_size() - before;
        }
    }

    /// A uniformly random position, or None when empty.
    pub fn random(&self, rng: &mut impl Rng) -> Option<usize> {
        (self.len > 0).then(|| rng.gen_range(0..self.len))
    }

    /// Visits up to `count` positions from `cursor` (0 starts) and returns the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(usize)) -> u64 {
        let len = self.len as u64;
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
        *self = DenseTable { hasher: self.hasher, ..DenseTable::default() };
    }

    /// Takes all items out, leaving the table empty.
    pub fn drain(&mut self) -> Vec<T> {
        let chunks = std::mem::take(&mut self.chunks);
        self.clear();
        chunks.into_iter().flatten().collect()
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

    #[test]
    fn many_chunks_find_remove_and_scan_like_one() {
        let mut table: DenseTable<Vec<u8>> = DenseTable::new();
        let n = CHUNK * 3 + 17;
        for i in 0..n {
            table.insert_new((i as u32).to_be_bytes().to_vec());
        }
        assert_eq!(table.len(), n);
        for i in (0..n).step_by(3) {
            assert!(table.remove(&(i as u32).to_be_bytes()).is_some());
        }
        for i in 0..n {
            let key = (i as u32).to_be_bytes();
            assert_eq!(table.find(&key).is_some(), i % 3 != 0, "{i}");
            if let Some(pos) = table.find(&key) {
                assert_eq!(table.get(pos).as_slice(), key);
            }
        }
        let mut seen = 0;
        let mut cursor = 0;
        loop {
            cursor = table.scan(cursor, 100, |_| seen += 1);
            if cursor == 0 {
                break;
            }
        }
        assert_eq!((seen, table.iter().count()), (table.len(), table.len()));
        assert!(table.table_bytes() < n * 2 * (std::mem::size_of::<Vec<u8>>() + 5) + SHARDS * 64);
    }

    /// The size kept as the table changes equals the one counted afresh from its parts.
    fn counted_bytes(table: &DenseTable<Vec<u8>>) -> usize {
        let items: usize = table.chunks.iter().map(Vec::capacity).sum();
        let index: usize = table.shards.iter().map(HashTable::allocation_size).sum();
        items * std::mem::size_of::<Vec<u8>>() + index
    }

    #[test]
    fn its_size_is_kept_as_it_grows_and_shrinks() {
        let mut table: DenseTable<Vec<u8>> = DenseTable::new();
        for i in 0..10_000u32 {
            table.insert_new(i.to_be_bytes().to_vec());
            if i % 997 == 0 {
                assert_eq!(table.table_bytes(), counted_bytes(&table));
            }
        }
        assert!(table.chunks.len() > 2);
        for i in 0..9_990u32 {
            table.remove(&i.to_be_bytes());
            if i % 997 == 0 {
                assert_eq!(table.table_bytes(), counted_bytes(&table));
            }
        }
        assert_eq!(table.table_bytes(), counted_bytes(&table));
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
