//! `Db`: one logical database (Redis's `redisDb`).
//!
//! Entries live in a [`DenseTable`]: densely in a `Vec`, found through a hash index of 4-byte positions,
//! which costs far less memory than a table of full entries at hashbrown's load factors, and gives SCAN its
//! guarantee (see `dense.rs`).
//!
//! Keys with a TTL are also listed in `volatile`, so the active expiry cycle samples only them.
//! Positions ("slots") are valid until the next removal; look a key up again after removing anything.
//!
//! Snapshots never fork and never stop the world ([`Db::begin_capture`]): a walker visits the entries from
//! the top slot down while clients keep writing, and a write to an entry the walker has not reached yet
//! hands the entry's old contents to the snapshot first. Removal moves the last entry down into the hole;
//! coming from the top, that entry was either visited already or is still ahead of the walker, and a bitmap
//! of "done" slots moves with it, so every entry present when the capture began is written exactly once, as
//! it was at that instant.

use crate::compact::CompactBytes;
use crate::dense::{prefetch_read, DenseTable, Keyed};
use crate::object::AccessClock;
use crate::value::Value;
use rand::Rng;

/// One key: 40 bytes. Its expiry lives in `Db::volatile` (most keys have none, and a key's TTL is read
/// only after the key is found), so that a key without one pays nothing for it.
struct Entry {
    key: CompactBytes,
    value: Value,
    /// Low [`ACCESS_BITS`]: the LRU clock or LFU counter (see [`AccessClock`]). The rest: 1 + the key's
    /// position in `Db::volatile` when it has a TTL, else 0.
    meta: u64,
}

/// The access metadata's width: Redis's 24-bit LRU clock, or 16 bits of minutes and an 8-bit LFU counter.
const ACCESS_BITS: u32 = 24;
const ACCESS_MASK: u64 = (1 << ACCESS_BITS) - 1;

impl Entry {
    fn new(key: CompactBytes, value: Value, access: u32) -> Self {
        Entry { key, value, meta: access as u64 & ACCESS_MASK }
    }

    fn access(&self) -> u32 {
        (self.meta & ACCESS_MASK) as u32
    }

    fn set_access(&mut self, access: u32) {
        self.meta = (self.meta & !ACCESS_MASK) | (access as u64 & ACCESS_MASK);
    }

    /// Where the key's TTL is in `Db::volatile`, if it has one.
    fn volatile_pos(&self) -> Option<usize> {
        match self.meta >> ACCESS_BITS {
            0 => None,
            pos => Some(pos as usize - 1),
        }
    }

    fn set_volatile_pos(&mut self, pos: Option<usize>) {
        let listed = pos.map_or(0, |pos| pos as u64 + 1);
        self.meta = (self.meta & ACCESS_MASK) | (listed << ACCESS_BITS);
    }

    /// The key's absolute expiry in Unix milliseconds, if it has one.
    fn expire_at(&self, volatile: &[Volatile]) -> Option<u64> {
        self.volatile_pos().map(|pos| volatile[pos].expire_at)
    }
}

impl Keyed for Entry {
    fn key(&self) -> &[u8] {
        self.key.as_bytes()
    }
}

/// A key with a TTL: its expiry, and the slot of its entry. 12 bytes, so packed: the active expiry cycle
/// samples these alone, and reads the entry only for a key that has expired.
#[derive(Clone, Copy)]
#[repr(C, packed(4))]
struct Volatile {
    /// Absolute expiry in Unix milliseconds; never 0.
    expire_at: u64,
    slot: u32,
}

/// The per-entry cost beyond key and value heap bytes: the entry itself plus its index slot and control byte.
const ENTRY_OVERHEAD: usize = std::mem::size_of::<Entry>() + std::mem::size_of::<u32>() + 1;
const _: () = assert!(std::mem::size_of::<Entry>() == 40 && std::mem::size_of::<Volatile>() == 12);

/// What happens to a key's TTL when it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Keep the current TTL (SET KEEPTTL, SETRANGE, APPEND, INCR...).
    Keep,
    /// Remove any TTL (plain SET).
    Clear,
    /// Expire at this Unix time in milliseconds.
    At(u64),
}

/// Receives the entries of a point-in-time capture (see [`Db::begin_capture`]).
pub trait CaptureSink: Send {
    fn capture(&mut self, key: &[u8], value: &Value, expire_at: Option<u64>);
}

/// A capture in progress: which slots are written out (or were created after it began) and where the
/// walker is.
struct Capture {
    done: Vec<u64>,
    /// Slots at and above `cursor` are done; the walker works downward from here.
    cursor: usize,
    sink: Box<dyn CaptureSink>,
}

impl Capture {
    fn is_done(&self, slot: usize) -> bool {
        self.done.get(slot / 64).is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    fn set_done(&mut self, slot: usize, done: bool) {
        if self.done.len() <= slot / 64 {
            self.done.resize(slot / 64 + 1, 0);
        }
        let bit = 1u64 << (slot % 64);
        if done {
            self.done[slot / 64] |= bit;
        } else {
            self.done[slot / 64] &= !bit;
        }
    }
}

/// The keys and values a flush took out of a database; dropping it frees them.
pub struct Flushed {
    pub keys: usize,
    _entries: DenseTable<Entry>,
}

/// What reading a key past its TTL does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiredKeys {
    /// It is deleted, and reads as missing (lazy expiry).
    Delete,
    /// It stays in place and reads as missing: while CLIENT PAUSE holds expiry, and on a replica, whose
    /// keys expire when its primary's DEL arrives.
    Hide,
    /// It reads as live: a replica applying its primary's stream, which decides when keys expire.
    Live,
}

pub struct Db {
    entries: DenseTable<Entry>,
    /// The keys with a TTL, so that the active expiry cycle samples only them.
    volatile: Vec<Volatile>,
    /// Keys clients WATCH, with how many watch each. They belong to the numbered database, not to its
    /// data, so they stay put when SWAPDB or FLUSHDB replace the data.
    watched: hashbrown::HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>,
    /// Watched keys changed since the last [`Db::take_touched`] (every changed key when `report_all`).
    touched: Vec<Vec<u8>>,
    /// Report every changed key, not only watched ones (client-side caching needs them all).
    report_all: bool,
    /// Heap bytes owned by keys and values (inline bytes are counted in ENTRY_OVERHEAD).
    heap_bytes: usize,
    capture: Option<Capture>,
    /// When set, keys deleted because they expired are listed in `expired` (the append-only log records
    /// them as deletions, so that replaying it never depends on the clock).
    record_expired: bool,
    expired: Vec<CompactBytes>,
    /// While set (CLIENT PAUSE), keys past their TTL read as missing but are not deleted.
    expired_keys: ExpiredKeys,
    /// Keys whose hash has (or had) fields with a TTL, by the hash's earliest field expiry, for the active
    /// expiry of fields (`fields.rs`).
    field_expiries: FieldExpiries,
    /// Fields deleted because they expired, when `record_expired`.
    expired_fields: Vec<ExpiredFields>,
    /// How many keys of each type fall in each size bin (INFO keysizes).
    sizes: KeySizes,
}

impl Default for Db {
    fn default() -> Self {
        Self::new()
    }
}

impl Db {
    pub fn new() -> Self {
        Db {
            entries: DenseTable::new(),
            volatile: Vec::new(),
            watched: Default::default(),
            touched: Vec::new(),
            report_all: false,
            heap_bytes: 0,
            capture: None,
            record_expired: false,
            expired: Vec::new(),
            expired_keys: ExpiredKeys::Delete,
            field_expiries: FieldExpiries::default(),
            expired_fields: Vec::new(),
            sizes: KeySizes::default(),
        }
    }

    /// Number of keys, including expired keys not yet reclaimed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of keys with a TTL.
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// Approximate bytes used by this database: the table in use plus the heap bytes of keys and values.
    pub fn memory(&self) -> usize {
        self.entries.live_bytes() + self.volatile.len() * std::mem::size_of::<Volatile>() + self.heap_bytes
    }

    /// Bytes attributed to one key, as MEMORY USAGE reports it.
    pub fn slot_memory(&self, slot: usize) -> usize {
        let e = self.entries.get(slot);
        ENTRY_OVERHEAD + e.key.heap_size() + e.value.heap_size()
    }

    fn find(&self, key: &[u8]) -> Option<usize> {
        self.entries.find(key)
    }

    /// Starts loading `key`'s entry into the cache (see [`DenseTable::prefetch`]); returns the slot it
    /// probably has, for [`Db::prefetch_contents`].
    pub fn prefetch(&self, key: &[u8]) -> Option<usize> {
        self.entries.prefetch(key)
    }

    /// Starts loading what the entry at `slot` points to: its key's bytes and a string value's bytes when
    /// they live on the heap (a key or value past 15 bytes), or a collection's header. Call it after
    /// [`Db::prefetch`] had time to bring the entry in, for a batch's keys one pass after the other.
    pub fn prefetch_contents(&self, slot: usize) {
        if slot >= self.entries.len() {
            return;
        }
        let entry = self.entries.get(slot);
        prefetch_read(entry.key.as_bytes().as_ptr().cast());
        prefetch_read(entry.value.contents_address());
    }

    /// Starts loading `member`'s entry in the collection at `slot` (a hash's field, a set's or a sorted
    /// set's member), for pipelines that name one big collection over and over; returns its probable
    /// position for [`Db::prefetch_member_key`].
    pub fn prefetch_member(&self, slot: usize, member: &[u8]) -> Option<usize> {
        (slot < self.entries.len()).then(|| self.entries.get(slot).value.prefetch_member(member)).flatten()
    }

    /// Starts loading the bytes of the member at `pos` of the collection at `slot`.
    pub fn prefetch_member_key(&self, slot: usize, pos: usize) {
        if slot < self.entries.len() {
            self.entries.get(slot).value.prefetch_member_key(pos);
        }
    }

    fn is_expired(&self, slot: usize, now_ms: u64) -> bool {
        self.entries.get(slot).expire_at(&self.volatile).is_some_and(|at| at <= now_ms)
            && self.expired_keys != ExpiredKeys::Live
    }

    /// Finds a live key, deleting it first if it has expired (lazy expiry), without touching access time.
    /// Returns the slot, and whether an expired key was deleted on the way.
    pub fn find_live(&mut self, key: &[u8], now_ms: u64) -> (Option<usize>, bool) {
        match self.find(key) {
            Some(slot) if self.expired_keys == ExpiredKeys::Hide && self.is_expired(slot, now_ms) => (None, false),
            Some(slot) if self.is_expired(slot, now_ms) => {
                self.remove_expired(slot);
                (None, true)
            }
            found => (found, false),
        }
    }

    /// What reading a key past its TTL does from now on (see [`ExpiredKeys`]).
    pub fn expired_keys(&mut self, mode: ExpiredKeys) {
        self.expired_keys = mode;
    }

    /// Finds a live key and records the access (LRU time or LFU counter).
    pub fn lookup(&mut self, key: &[u8], clock: &AccessClock) -> Option<usize> {
        let slot = self.find_live(key, clock.now_ms).0?;
        let entry = self.entries.get_mut(slot);
        entry.set_access(clock.touched(entry.access()));
        Some(slot)
    }

    /// Whether `key` exists (and has not expired), without deleting or touching anything.
    pub fn contains(&self, key: &[u8], now_ms: u64) -> bool {
        self.find(key).is_some_and(|slot| !self.is_expired(slot, now_ms))
    }

    /// The slot of `key`, expired or not, without deleting or touching anything.
    pub fn slot_of(&self, key: &[u8]) -> Option<usize> {
        self.find(key)
    }

    /// The value of a live key, without deleting, touching or recording anything.
    pub fn peek(&self, key: &[u8], now_ms: u64) -> Option<&Value> {
        let slot = self.find(key)?;
        (!self.is_expired(slot, now_ms)).then(|| &self.entries.get(slot).value)
    }

    pub fn key(&self, slot: usize) -> &[u8] {
        self.entries.get(slot).key.as_bytes()
    }

    pub fn value(&self, slot: usize) -> &Value {
        &self.entries.get(slot).value
    }

    /// Changes a value in place; memory accounting follows the change.
    pub fn update<R>(&mut self, slot: usize, change: impl FnOnce(&mut Value) -> R) -> R {
        self.note_change_at(slot);
        let entry = self.entries.get_mut(slot);
        let before = entry.value.heap_size();
        let was_filed = fields::field_expiry(&entry.value).is_some();
        let size_before = sizes::size_of(&entry.value);
        let result = change(&mut entry.value);
        let after = entry.value.heap_size();
        self.sizes.moved(size_before, sizes::size_of(&entry.value));
        self.heap_bytes = self.heap_bytes + after - before;
        self.note_field_ttls(slot, was_filed);
        result
    }

    /// Replaces the value at `slot`, returning the old one.
    pub fn replace(&mut self, slot: usize, value: Value) -> Value {
        self.update(slot, |v| std::mem::replace(v, value))
    }

    pub fn access(&self, slot: usize) -> u32 {
        self.entries.get(slot).access()
    }

    pub fn set_access(&mut self, slot: usize, access: u32) {
        self.entries.get_mut(slot).set_access(access);
    }

    /// The key's absolute expiry in Unix milliseconds, if it has one.
    pub fn expire_at(&self, slot: usize) -> Option<u64> {
        self.entries.get(slot).expire_at(&self.volatile)
    }

    /// Sets or clears the key's expiry.
    pub fn set_expire(&mut self, slot: usize, at: Option<u64>) {
        self.note_change_at(slot);
        let listed = self.entries.get(slot).volatile_pos();
        match (at, listed) {
            // An expiry at the epoch is already in the past either way; 1 keeps "never 0" true.
            (Some(at), Some(pos)) => self.volatile[pos].expire_at = at.max(1),
            (Some(at), None) => {
                self.entries.get_mut(slot).set_volatile_pos(Some(self.volatile.len()));
                self.volatile.push(Volatile { expire_at: at.max(1), slot: slot as u32 });
            }
            (None, Some(_)) => self.unlist_volatile(slot),
            (None, None) => {}
        }
    }

    fn unlist_volatile(&mut self, slot: usize) {
        let entry = self.entries.get_mut(slot);
        let Some(pos) = entry.volatile_pos() else { return };
        entry.set_volatile_pos(None);
        self.volatile.swap_remove(pos);
        if let Some(moved) = self.volatile.get(pos) {
            self.entries.get_mut(moved.slot as usize).set_volatile_pos(Some(pos));
        }
    }

    /// Writes `key`, creating it or overwriting its value; returns its slot.
    pub fn insert(&mut self, key: &[u8], value: Value, expiry: Expiry, clock: &AccessClock) -> usize {
        match self.find(key) {
            Some(slot) => {
                if self.is_expired(slot, clock.now_ms) && expiry == Expiry::Keep {
                    // The old key is gone; its TTL must not carry over to the new value.
                    self.set_expire(slot, None);
                }
                self.overwrite(slot, value, expiry, clock);
                slot
            }
            None => self.insert_new(key, value, expiry, clock),
        }
    }

    /// Overwrites the value at `slot`, which a lookup in the same command found live.
    pub fn overwrite(&mut self, slot: usize, value: Value, expiry: Expiry, clock: &AccessClock) {
        self.replace(slot, value);
        self.entries.get_mut(slot).set_access(clock.initial());
        self.apply_expiry(slot, expiry);
    }

    /// [`Db::overwrite`] with the string `bytes` (SET), reusing the old value's allocation when it is a
    /// string of the same length.
    pub fn overwrite_string(&mut self, slot: usize, bytes: &[u8], expiry: Expiry, clock: &AccessClock) {
        self.update(slot, |value| value.set_string(bytes));
        self.entries.get_mut(slot).set_access(clock.initial());
        self.apply_expiry(slot, expiry);
    }

    /// Adds `key`, which a lookup in the same command found absent; returns its slot. Skips a second lookup.
    pub fn insert_new(&mut self, key: &[u8], value: Value, expiry: Expiry, clock: &AccessClock) -> usize {
        debug_assert!(self.find(key).is_none());
        self.note_change(key);
        let key = CompactBytes::new(key);
        self.heap_bytes += key.heap_size() + value.heap_size();
        self.sizes.moved(None, sizes::size_of(&value));
        let slot = self.entries.insert_new(Entry::new(key, value, clock.initial()));
        if let Some(capture) = &mut self.capture {
            // Created after the capture began: not part of it.
            capture.set_done(slot, true);
        }
        self.apply_expiry(slot, expiry);
        self.note_field_ttls(slot, false);
        slot
    }

    fn apply_expiry(&mut self, slot: usize, expiry: Expiry) {
        match expiry {
            Expiry::Keep => {}
            Expiry::Clear => self.set_expire(slot, None),
            Expiry::At(at) => self.set_expire(slot, Some(at)),
        }
    }

    /// Removes `key` whether or not it has expired; returns its value.
    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        let slot = self.find(key)?;
        Some(self.remove_slot(slot).1)
    }

    /// Removes `key` whether or not it has expired; returns its key, value and expiry.
    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(CompactBytes, Value, Option<u64>)> {
        let slot = self.find(key)?;
        Some(self.remove_slot(slot))
    }

    /// Removes the entry at `slot`, returning its key, value and expiry. Invalidates other slots.
    pub fn remove_slot(&mut self, slot: usize) -> (CompactBytes, Value, Option<u64>) {
        self.note_change_at(slot);
        let expire = self.entries.get(slot).expire_at(&self.volatile);
        self.unlist_volatile(slot);
        let last = self.entries.len() - 1;
        let entry = self.entries.remove_at(slot);
        if let Some(capture) = &mut self.capture {
            let moved_done = capture.is_done(last);
            capture.set_done(slot, moved_done);
            capture.set_done(last, false);
            capture.cursor = capture.cursor.min(last);
        }
        // The last entry moved into `slot`: repoint its volatile record.
        let moved = (slot < self.entries.len()).then(|| self.entries.get(slot).volatile_pos()).flatten();
        if let Some(pos) = moved {
            self.volatile[pos].slot = slot as u32;
        }
        self.heap_bytes -= entry.key.heap_size() + entry.value.heap_size();
        self.sizes.moved(sizes::size_of(&entry.value), None);
        if fields::field_expiry(&entry.value).is_some() {
            self.field_expiries.unfile(entry.key.as_bytes());
        }
        if self.volatile.capacity() > 1024 && self.volatile.len() * 8 < self.volatile.capacity() {
            self.volatile.shrink_to(self.volatile.len() * 2);
        }
        (entry.key, entry.value, expire)
    }

    /// A uniformly random slot, or None when empty.
    pub fn random_slot(&self, rng: &mut impl Rng) -> Option<usize> {
        self.entries.random(rng)
    }

    /// A uniformly random slot among keys with a TTL.
    pub fn random_volatile_slot(&self, rng: &mut impl Rng) -> Option<usize> {
        (!self.volatile.is_empty()).then(|| self.volatile[rng.gen_range(0..self.volatile.len())].slot as usize)
    }

    /// Visits up to `count` slots from `cursor` (0 starts a scan) and returns the next cursor (0 when done).
    /// No live key is ever skipped (see `dense.rs`).
    pub fn scan(&self, cursor: u64, count: usize, visit: impl FnMut(usize)) -> u64 {
        self.entries.scan(cursor, count, visit)
    }

    /// All slots, for commands that walk the whole keyspace (KEYS, FLUSH accounting, snapshots); each is a
    /// step of work for `keel_pace`.
    pub fn slots(&self) -> impl Iterator<Item = usize> {
        keel_pace::paced(0..self.entries.len())
    }

    /// Empties the database (FLUSHDB); watched keys that existed count as changed. Returns what it held,
    /// for the caller to drop where dropping costs no client anything (FLUSHALL ASYNC).
    pub fn clear(&mut self) -> Flushed {
        self.finish_capture_now();
        self.touch_watched_present(None);
        let flushed = Flushed { keys: self.entries.len(), _entries: std::mem::take(&mut self.entries) };
        self.volatile = Vec::new();
        self.field_expiries = FieldExpiries::default();
        self.sizes = KeySizes::default();
        self.heap_bytes = 0;
        flushed
    }

    /// Exchanges the data of two databases (SWAPDB); their watched keys stay with their database and count
    /// as changed when either side holds them.
    pub fn swap_data(&mut self, other: &mut Db) {
        self.finish_capture_now();
        other.finish_capture_now();
        self.touch_watched_present(Some(other));
        other.touch_watched_present(Some(self));
        std::mem::swap(&mut self.entries, &mut other.entries);
        std::mem::swap(&mut self.volatile, &mut other.volatile);
        std::mem::swap(&mut self.field_expiries, &mut other.field_expiries);
        std::mem::swap(&mut self.sizes, &mut other.sizes);
        std::mem::swap(&mut self.heap_bytes, &mut other.heap_bytes);
        // Both sides now hold data the captures already wrote out (under the other database's number).
        for db in [self, other] {
            let len = db.entries.len();
            if let Some(capture) = &mut db.capture {
                capture.done = vec![u64::MAX; len.div_ceil(64)];
                capture.cursor = 0;
            }
        }
    }

    fn touch_watched_present(&mut self, other: Option<&Db>) {
        let present: Vec<Vec<u8>> = self
            .watched
            .keys()
            .filter(|k| self.entries.find(k).is_some() || other.is_some_and(|o| o.entries.find(k).is_some()))
            .map(|k| k.to_vec())
            .collect();
        self.touched.extend(present);
    }

    /// Starts (or adds one more) WATCH of `key`.
    pub fn watch(&mut self, key: &[u8]) {
        *self.watched.entry(key.into()).or_insert(0) += 1;
    }

    /// Ends one WATCH of `key`.
    pub fn unwatch(&mut self, key: &[u8]) {
        if let Some(count) = self.watched.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                self.watched.remove(key);
            }
        }
    }

    /// The changed keys [`Db::take_touched`] will return, one per change.
    pub fn touched(&self) -> &[Vec<u8>] {
        &self.touched
    }

    /// The watched keys changed since the last call.
    pub fn take_touched(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.touched)
    }

    /// Reports every changed key through [`Db::take_touched`], watched or not.
    pub fn set_report_all(&mut self, on: bool) {
        self.report_all = on;
    }

    fn note_change(&mut self, key: &[u8]) {
        if self.report_all || (!self.watched.is_empty() && self.watched.contains_key(key)) {
            self.touched.push(key.to_vec());
        }
    }

    fn note_change_at(&mut self, slot: usize) {
        if let Some(capture) = &mut self.capture {
            if !capture.is_done(slot) {
                let e = self.entries.get(slot);
                capture.sink.capture(e.key.as_bytes(), &e.value, e.expire_at(&self.volatile));
                capture.set_done(slot, true);
            }
        }
        if self.report_all || !self.watched.is_empty() {
            let key = self.entries.get(slot).key.as_bytes().to_vec();
            self.note_change(&key);
        }
    }

    fn remove_expired(&mut self, slot: usize) {
        let (key, _, _) = self.remove_slot(slot);
        if self.record_expired {
            self.expired.push(key);
        }
    }

    /// Starts or stops listing keys deleted by expiry (see [`Db::take_expired`]).
    pub fn set_record_expired(&mut self, on: bool) {
        self.record_expired = on;
        if !on {
            self.expired = Vec::new();
            self.expired_fields = Vec::new();
        }
    }

    /// Keys deleted by expiry since the last call, when recording is on.
    pub fn take_expired(&mut self) -> Vec<CompactBytes> {
        std::mem::take(&mut self.expired)
    }

    /// Whether keys or fields were deleted by expiry since they were last taken.
    pub fn has_expired(&self) -> bool {
        !self.expired.is_empty() || !self.expired_fields.is_empty()
    }

    /// Begins a point-in-time capture of this database into `sink`. Until [`Db::end_capture`], every entry
    /// present now is handed to the sink exactly once, as it is now: by [`Db::capture_step`], or by the
    /// write that is about to change or delete it.
    pub fn begin_capture(&mut self, sink: Box<dyn CaptureSink>) {
        let len = self.entries.len();
        self.capture = Some(Capture { done: vec![0; len.div_ceil(64)], cursor: len, sink });
    }

    /// Writes out up to `budget` entries of the capture; returns true when every entry is written.
    pub fn capture_step(&mut self, budget: usize) -> bool {
        let Some(capture) = &mut self.capture else { return true };
        let mut left = budget;
        while capture.cursor > 0 && left > 0 {
            capture.cursor -= 1;
            let slot = capture.cursor;
            if !capture.is_done(slot) {
                let e = self.entries.get(slot);
                capture.sink.capture(e.key.as_bytes(), &e.value, e.expire_at(&self.volatile));
                capture.set_done(slot, true);
                left -= 1;
            }
        }
        capture.cursor == 0
    }

    /// Writes out everything the capture still lacks, at once (before FLUSHDB or SWAPDB replace the data).
    fn finish_capture_now(&mut self) {
        while !self.capture_step(usize::MAX) {}
    }

    /// Ends the capture and returns its sink.
    pub fn end_capture(&mut self) -> Option<Box<dyn CaptureSink>> {
        self.capture.take().map(|c| c.sink)
    }

    /// Memory the capture's bookkeeping takes (its bitmap).
    pub fn capture_overhead(&self) -> usize {
        self.capture.as_ref().map_or(0, |c| c.done.capacity() * 8)
    }

    /// One step of active expiry (Redis's `activeExpireCycle`): samples up to `samples` keys with a TTL and
    /// deletes the expired ones, calling `on_expire` with each key. Returns (sampled, expired).
    pub fn expire_sample(
        &mut self,
        now_ms: u64,
        samples: usize,
        rng: &mut impl Rng,
        mut on_expire: impl FnMut(&[u8]),
    ) -> (usize, usize) {
        let mut expired = 0;
        let mut sampled = 0;
        while sampled < samples && !self.volatile.is_empty() {
            sampled += 1;
            let Volatile { expire_at, slot } = self.volatile[rng.gen_range(0..self.volatile.len())];
            let slot = slot as usize;
            if expire_at <= now_ms && self.expired_keys != ExpiredKeys::Live {
                on_expire(self.key(slot));
                self.remove_expired(slot);
                expired += 1;
            }
        }
        (sampled, expired)
    }
}

mod fields;
mod sizes;
pub use fields::ExpiredFields;
use fields::FieldExpiries;
use sizes::KeySizes;
pub use sizes::{bin_label, KINDS as SIZE_KINDS};

#[cfg(test)]
mod tests;
