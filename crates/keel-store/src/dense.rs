//! `DenseTable<T>`: items stored densely, found by key through a hash index of 4-byte positions. The
//! keyspace and large hashes and sets are built on it.
//!
//! Deleting moves the last item into the hole, so items only ever move towards the front. Cursor scans walk
//! positions from the back to the front; an item present for the whole scan can therefore never be skipped
//! (it may be returned twice), which is the guarantee Redis gives for SCAN, HSCAN and SSCAN.
//!
//! Nothing grows all at once, so that no insert stalls other clients in proportion to the table's size:
//! - items live in chunks of [`CHUNK_BYTES`]: the first grows like a `Vec` up to a chunk's worth of
//!   items, then further items go into new full-size chunks, so growing copies at most one chunk and never
//!   the whole table;
//! - the index is [`SHARDS`] hash tables of 4-byte positions, chosen by bits of the key's hash that the
//!   tables themselves do not use. A shard resizes incrementally, as Redis's dicts rehash: it gets a new
//!   table, and every write to the shard moves [`MOVE_STEP`] positions out of the old one (lookups search
//!   both meanwhile). Moving a position hashes its item's key again (the index keeps no hash, which would
//!   double its size), so each step prefetches its items and their keys before it reads any.

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use rand::Rng;
use std::hash::BuildHasher;

/// Bytes per chunk of items. mimalloc serves blocks up to 128 KiB from its medium pages at about their
/// size and rounds larger ones up a good deal: chunks of 4,096 keyspace entries (160 KiB) cost 50 bytes
/// of memory per 40-byte entry, chunks of 128 KiB cost 41.
pub const CHUNK_BYTES: usize = 128 << 10;

/// Items per chunk once the table has outgrown its first chunk: as many as fit in [`CHUNK_BYTES`]. A
/// constant for each item type, so that finding an item's chunk divides by a constant.
const fn chunk_len<T>() -> usize {
    let len = CHUNK_BYTES / std::mem::size_of::<T>();
    if len == 0 {
        1
    } else {
        len
    }
}
/// Index shards.
pub const SHARDS: usize = 64;
/// Positions a write to a resizing shard moves from its old table to its new one; a few in unit tests, so
/// that their small tables spend many writes resizing.
const MOVE_STEP: usize = if cfg!(test) { 3 } else { 64 };

/// An item that has a key.
pub trait Keyed {
    fn key(&self) -> &[u8];
}

#[derive(Clone)]
pub struct DenseTable<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
    /// Empty until the first insert, so that an empty table costs no allocation. Entries are positions.
    shards: Vec<HashTable<u32>>,
    /// The shards that are resizing, each with the table it is leaving (see the module's documentation).
    resizing: Vec<(usize, HashTable<u32>)>,
    /// The shards' allocations summed, kept as they change so that the table's size is known in O(1).
    index_bytes: usize,
    hasher: RandomState,
}

impl<T> Default for DenseTable<T> {
    fn default() -> Self {
        DenseTable {
            chunks: Vec::new(),
            len: 0,
            shards: Vec::new(),
            resizing: Vec::new(),
            index_bytes: 0,
            hasher: RandomState::default(),
        }
    }
}

/// The shard a hash belongs to: bits 40..46, which the shards' tables do not use (hashbrown places by the
/// low bits and tags by the top seven).
fn shard_of(hash: u64) -> usize {
    (hash >> 40) as usize & (SHARDS - 1)
}

/// Asks the CPU to bring the cache line at `address` in; a hint with no effect on memory or on safety.
pub(crate) fn prefetch_read(address: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and changes nothing; `address` points into a live item anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch(address, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// The chunk an item at `pos` is in, and its place there.
fn place<T>(pos: usize) -> (usize, usize) {
    (pos / chunk_len::<T>(), pos % chunk_len::<T>())
}

fn item<T>(chunks: &[Vec<T>], pos: u32) -> &T {
    let (chunk, at) = place::<T>(pos as usize);
    &chunks[chunk][at]
}

impl<T: Keyed> DenseTable<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(capacity: usize) -> Self {
        let mut table = Self::default();
        table.chunks.push(Vec::with_capacity(capacity.min(chunk_len::<T>())));
        table
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the table itself (items, index, and the headers of its chunks and index shards), not
    /// by what items point to. O(1): every chunk after the first holds exactly [`chunk_len`] items.
    pub fn table_bytes(&self) -> usize {
        let later = self.chunks.len().saturating_sub(1) * chunk_len::<T>();
        let items = self.chunks.first().map_or(0, Vec::capacity) + later;
        items * std::mem::size_of::<T>() + self.index_bytes + self.header_bytes()
    }

    /// The chunk list and the shard list: 64 shard headers, about 2 KiB, from a table's first insert.
    fn header_bytes(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Vec<T>>()
            + self.shards.capacity() * std::mem::size_of::<HashTable<u32>>()
    }

    /// Bytes of the table that hold something: the items and index slots in use, and the index's control
    /// bytes (which the index writes in full). Spare capacity is left out: a grown buffer's unused tail is
    /// address space nothing has written yet, so it is not resident; and counting it would make memory jump
    /// when the table grows, which near `maxmemory` evicts keys by the thousand for nothing (Redis avoids
    /// the same jump by not rehashing past maxmemory).
    pub fn live_bytes(&self) -> usize {
        // The control bytes: one per bucket, of the five bytes each bucket takes.
        let slots = self.len * (std::mem::size_of::<T>() + std::mem::size_of::<u32>());
        slots + self.index_bytes / 5 + self.header_bytes()
    }

    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The position of `key`, if present.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        let hash = self.hash(key);
        let shard = shard_of(hash);
        let is_key = |&pos: &u32| item(&self.chunks, pos).key() == key;
        let found = self.shards.get(shard)?.find(hash, is_key);
        found.or_else(|| self.leaving(shard)?.find(hash, is_key)).map(|&pos| pos as usize)
    }

    /// The table `shard` is leaving, while it resizes.
    fn leaving(&self, shard: usize) -> Option<&HashTable<u32>> {
        self.resizing.iter().find(|(resizing, _)| *resizing == shard).map(|(_, old)| old)
    }

    /// The index entry of the item at `pos`, whose key hashes to `hash`, in whichever table holds it.
    fn entry_of(&mut self, pos: usize, hash: u64) -> Option<&mut u32> {
        let shard = shard_of(hash);
        let at = |&e: &u32| e as usize == pos;
        let resizing = &mut self.resizing;
        match self.shards[shard].find_mut(hash, at) {
            Some(e) => Some(e),
            None => resizing.iter_mut().find(|(r, _)| *r == shard).and_then(|(_, old)| old.find_mut(hash, at)),
        }
    }

    pub fn get(&self, pos: usize) -> &T {
        let (chunk, at) = place::<T>(pos);
        &self.chunks[chunk][at]
    }

    /// Starts loading the item `key` probably names into the cache, without waiting for it: the index is
    /// searched (its 7-bit tags compared, no key), and the first item found is prefetched. A batch of
    /// pipelined commands prefetches every key before it runs the first, so that their cache misses
    /// overlap instead of following one another (Valkey 8 prefetches likewise). Returns the position
    /// prefetched, for a second pass over what the item points to once it has arrived.
    pub fn prefetch(&self, key: &[u8]) -> Option<usize> {
        let hash = self.hash(key);
        let shard = shard_of(hash);
        let table = self.shards.get(shard)?;
        let &pos = table.find(hash, |_| true).or_else(|| self.leaving(shard)?.find(hash, |_| true))?;
        let target: *const T = item(&self.chunks, pos);
        prefetch_read(target.cast());
        Some(pos as usize)
    }

    /// Starts loading the key bytes of the item at `pos` (which may live on the heap); for a second pass
    /// after [`DenseTable::prefetch`]. A position past the end is ignored.
    pub fn prefetch_key(&self, pos: usize) {
        if pos < self.len {
            prefetch_read(self.get(pos).key().as_ptr().cast());
        }
    }

    /// Mutable access to an item; its key must not change.
    pub fn get_mut(&mut self, pos: usize) -> &mut T {
        let (chunk, at) = place::<T>(pos);
        &mut self.chunks[chunk][at]
    }

    /// The items, in position order; each is a step of work for `keel_pace` (a walk of a big table leaves
    /// its worker).
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        keel_pace::paced(self.chunks.iter().flatten())
    }

    /// Adds an item whose key is not present; returns its position.
    pub fn insert_new(&mut self, item_to_add: T) -> usize {
        let pos = self.len;
        let hash = self.hash(item_to_add.key());
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < chunk_len::<T>() => {
                // Only the first chunk is ever short of room: it doubles, up to a chunk's worth of items.
                if chunk.len() == chunk.capacity() {
                    chunk.reserve_exact(chunk.len().min(chunk_len::<T>() - chunk.len()));
                }
                chunk.push(item_to_add)
            }
            _ => {
                // Later chunks are made at their full size once.
                let capacity = if self.chunks.is_empty() { 4 } else { chunk_len::<T>() };
                let mut chunk = Vec::with_capacity(capacity);
                chunk.push(item_to_add);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
        if self.shards.is_empty() {
            self.shards = (0..SHARDS).map(|_| HashTable::new()).collect();
        }
        let shard = shard_of(hash);
        self.resize_step(shard);
        if self.shards[shard].len() == self.shards[shard].capacity() {
            let positions = self.shards[shard].len() + self.leaving(shard).map_or(0, HashTable::len);
            self.begin_resize(shard, (2 * positions).max(3));
        }
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        let rehash = |&pos: &u32| hasher.hash_one(item(chunks, pos).key());
        self.shards[shard].insert_unique(hash, pos as u32, rehash);
        pos
    }

    /// Gives `shard` a new table with room for `capacity` positions, into which later writes move the
    /// old table's positions. The table resizes its shards itself, before hashbrown would: hashbrown's own
    /// resize moves everything at once, and would read every item on the way.
    fn begin_resize(&mut self, shard: usize, capacity: usize) {
        while self.leaving(shard).is_some() {
            self.resize_step(shard);
        }
        let old = std::mem::replace(&mut self.shards[shard], HashTable::with_capacity(capacity));
        self.index_bytes += self.shards[shard].allocation_size();
        if old.is_empty() {
            self.index_bytes -= old.allocation_size();
        } else {
            self.resizing.push((shard, old));
        }
    }

    /// Moves up to [`MOVE_STEP`] positions of a resizing shard from its old table to its new one, and
    /// frees the old table once it is empty. The items moved are prefetched, then their keys (which may
    /// live on the heap), so that the step waits for memory about once, not once per item.
    fn resize_step(&mut self, shard: usize) {
        let Some(at) = self.resizing.iter().position(|(resizing, _)| *resizing == shard) else { return };
        let old = &mut self.resizing[at].1;
        let mut batch = [0u32; MOVE_STEP];
        let mut taken = 0;
        for pos in old.extract_if(|_| true).take(MOVE_STEP) {
            batch[taken] = pos;
            taken += 1;
        }
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        let batch = &batch[..taken];
        for &pos in batch {
            prefetch_read((item(chunks, pos) as *const T).cast());
        }
        for &pos in batch {
            prefetch_read(item(chunks, pos).key().as_ptr().cast());
        }
        let rehash = |&pos: &u32| hasher.hash_one(item(chunks, pos).key());
        let table = &mut self.shards[shard];
        let before = table.allocation_size();
        for &pos in batch {
            table.insert_unique(rehash(&pos), pos, rehash);
        }
        self.index_bytes = self.index_bytes + table.allocation_size() - before;
        if old.is_empty() {
            let (_, old) = self.resizing.swap_remove(at);
            self.index_bytes -= old.allocation_size();
        }
    }

    /// Removes the item at `pos`; the last item moves into `pos` (when `pos` was not last).
    pub fn remove_at(&mut self, pos: usize) -> T {
        let hash = self.hash(self.get(pos).key());
        let shard = shard_of(hash);
        let at = |&e: &u32| e as usize == pos;
        if let Ok(found) = self.shards[shard].find_entry(hash, at) {
            found.remove();
        } else if let Some((_, old)) = self.resizing.iter_mut().find(|(r, _)| *r == shard) {
            if let Ok(found) = old.find_entry(hash, at) {
                found.remove();
            }
        }
        self.take_out(pos, hash)
    }

    /// Takes the item at `pos` out of the items, whose index entry (under `hash`) is already gone, moving
    /// the last item into its place.
    fn take_out(&mut self, pos: usize, hash: u64) -> T {
        let last = self.len - 1;
        if pos != last {
            let moved_hash = self.hash(self.get(last).key());
            if let Some(e) = self.entry_of(last, moved_hash) {
                *e = pos as u32;
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
        self.resize_step(shard_of(hash));
        self.shrink_if_sparse(shard_of(hash));
        taken
    }

    /// Removes the item with `key`, if present, hashing the key once. The last item, which moves into the
    /// hole, is prefetched first, so that its cache miss overlaps the search for `key`.
    pub fn remove(&mut self, key: &[u8]) -> Option<T> {
        if let Some(last) = self.len.checked_sub(1) {
            prefetch_read((item(&self.chunks, last as u32) as *const T).cast());
        }
        let hash = self.hash(key);
        let shard = shard_of(hash);
        let chunks = &self.chunks;
        let is_key = |&pos: &u32| item(chunks, pos).key() == key;
        let found = match self.shards.get_mut(shard)?.find_entry(hash, is_key) {
            Ok(found) => found,
            Err(_) => self.resizing.iter_mut().find(|(r, _)| *r == shard)?.1.find_entry(hash, is_key).ok()?,
        };
        let (removed, _) = found.remove();
        Some(self.take_out(removed as usize, hash))
    }

    /// Gives memory back when most of a part is empty, as Redis shrinks its dicts: the first chunk while
    /// it is the only one, and the shard an item just left.
    fn shrink_if_sparse(&mut self, shard: usize) {
        if let [only] = self.chunks.as_mut_slice() {
            if only.capacity() > 64 && only.len() * 8 < only.capacity() {
                only.shrink_to(only.len() * 2);
            }
        }
        let index = &self.shards[shard];
        if index.capacity() > 64 && index.len() * 8 < index.capacity() && self.leaving(shard).is_none() {
            self.begin_resize(shard, index.len() * 2);
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
            keel_pace::step();
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
        let n = chunk_len::<Vec<u8>>() * 3 + 17;
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
        let leaving = table.resizing.iter().map(|(_, old)| old);
        let index: usize = table.shards.iter().chain(leaving).map(HashTable::allocation_size).sum();
        let headers = table.chunks.capacity() * std::mem::size_of::<Vec<Vec<u8>>>()
            + table.shards.capacity() * std::mem::size_of::<HashTable<u32>>();
        items * std::mem::size_of::<Vec<u8>>() + index + headers
    }

    #[test]
    fn its_size_is_kept_as_it_grows_and_shrinks() {
        let mut table: DenseTable<Vec<u8>> = DenseTable::new();
        let n = chunk_len::<Vec<u8>>() as u32 * 3;
        for i in 0..n {
            table.insert_new(i.to_be_bytes().to_vec());
            if i % 997 == 0 {
                assert_eq!(table.table_bytes(), counted_bytes(&table));
            }
        }
        assert!(table.chunks.len() > 2);
        assert!(table.chunks.iter().all(|chunk| chunk.capacity() * std::mem::size_of::<Vec<u8>>() <= CHUNK_BYTES));
        for i in 0..n - 10 {
            table.remove(&i.to_be_bytes());
            if i % 997 == 0 {
                assert_eq!(table.table_bytes(), counted_bytes(&table));
            }
        }
        assert_eq!(table.table_bytes(), counted_bytes(&table));
    }

    #[test]
    fn churn_at_a_steady_size_keeps_the_index_small() {
        let mut table: DenseTable<Vec<u8>> = DenseTable::new();
        for i in 0..200_000u32 {
            table.insert_new(i.to_be_bytes().to_vec());
            if i >= 1_000 {
                assert!(table.remove(&(i - 1_000).to_be_bytes()).is_some());
            }
        }
        assert_eq!(table.len(), 1_000);
        assert!((199_000..200_000u32).all(|i| table.find(&i.to_be_bytes()).is_some()));
        assert_eq!(table.table_bytes(), counted_bytes(&table));
        let leaving = table.resizing.iter().map(|(_, old)| old);
        let buckets: usize = table.shards.iter().chain(leaving).map(|s| s.allocation_size() / 5).sum();
        assert!(buckets <= 4 * 1_000 + SHARDS * 16, "tombstones were not cleared: {buckets} buckets");
    }

    #[test]
    fn every_key_is_found_while_shards_resize() {
        let mut table: DenseTable<Vec<u8>> = DenseTable::new();
        let mut checked_mid_resize = 0;
        for i in 0..40_000u32 {
            table.insert_new(i.to_be_bytes().to_vec());
            if !table.resizing.is_empty() && i % 1_000 == 0 {
                assert!((0..=i).all(|k| table.find(&k.to_be_bytes()).is_some()), "after {i}");
                checked_mid_resize += 1;
            }
        }
        assert!(checked_mid_resize > 3, "the test saw shards resizing {checked_mid_resize} times");
        assert_eq!(table.table_bytes(), counted_bytes(&table));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Inserts, removals by key and by position, and the moves of the last item that removals make, all
        /// keep the table a set while its shards resize over many writes.
        #[test]
        fn behaves_like_a_set_while_shards_resize(ops in proptest::collection::vec((0u8..5, 0u16..12_000), 0..30_000)) {
            let mut table: DenseTable<Vec<u8>> = DenseTable::new();
            let mut model = HashSet::new();
            for (op, k) in ops {
                let key = k.to_be_bytes().to_vec();
                match op {
                    0..=2 => {
                        if model.insert(key.clone()) {
                            table.insert_new(key);
                        }
                    }
                    3 => prop_assert_eq!(table.remove(&key).is_some(), model.remove(&key)),
                    _ if table.is_empty() => {}
                    _ => {
                        let taken = table.remove_at(k as usize % table.len());
                        prop_assert!(model.remove(&taken));
                    }
                }
            }
            prop_assert_eq!(table.len(), model.len());
            for key in &model {
                let pos = table.find(key);
                prop_assert!(pos.is_some_and(|pos| table.get(pos) == key));
            }
            prop_assert_eq!(table.table_bytes(), counted_bytes(&table));
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
