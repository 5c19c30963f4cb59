//! Hashes (Redis's t_hash). A small hash is packed into one buffer (`listpack`): a pair count, then each
//! field and value as a length-prefixed string, so a hash of ten short fields costs about as much as
//! the bytes themselves. Past `hash-max-listpack-entries` entries, or when a field or value passes
//! `hash-max-listpack-value` bytes, it converts to a [`DenseTable`] (`hashtable`). Like Redis, it never
//! converts back. A hash whose fields have had TTLs also keeps their expiry times ([`FieldTtls`]);
//! Redis calls its compact form then `listpackex`.

use crate::compact::CompactBytes;
use crate::dense::{DenseTable, Keyed};
use crate::hash_ttl::FieldTtls;
use crate::thin_bytes::{ThinBytes, MAX_LEN};

/// The thresholds of the compact encoding.
#[derive(Debug, Clone, Copy)]
pub struct HashLimits {
    pub max_listpack_entries: usize,
    pub max_listpack_value: usize,
}

#[derive(Debug, Clone)]
pub struct HashField {
    pub field: CompactBytes,
    pub value: CompactBytes,
}

impl Keyed for HashField {
    fn key(&self) -> &[u8] {
        self.field.as_bytes()
    }
}

#[derive(Clone)]
struct Table {
    pairs: DenseTable<HashField>,
    /// Heap bytes of fields and values (beyond their 16 inline bytes each).
    element_heap: usize,
    ttls: Option<Box<FieldTtls>>,
}

/// 16 bytes: a packed hash's buffer is one thin pointer, so that it and its TTLs' pointer fit beside each
/// other, and the table's pointer fits where the TTLs' would be.
#[derive(Clone)]
enum Repr {
    Packed { pairs: Packed, ttls: Option<Box<FieldTtls>> },
    Table(Box<Table>),
}

/// A hash. Its field TTLs (HEXPIRE, HSETEX, HGETEX), kept once any field has had one, live with its
/// encoding: beside a packed buffer, inside a table.
#[derive(Clone)]
pub struct Hash {
    repr: Repr,
}

const _: () = assert!(std::mem::size_of::<Hash>() == 16);

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({} fields, {})", self.len(), self.encoding())
    }
}

impl Default for Hash {
    fn default() -> Self {
        Hash { repr: Repr::Packed { pairs: Packed::default(), ttls: None } }
    }
}

/// Pairs packed into one buffer: the pair count as a LEB128 number, then for each string a LEB128 length
/// and the bytes. Every change writes a new buffer of the exact size (Redis's listpack reallocates on
/// every change likewise).
#[derive(Clone)]
struct Packed {
    buf: ThinBytes,
}

impl Default for Packed {
    fn default() -> Self {
        Packed { buf: ThinBytes::concat(&[&[0]]) }
    }
}

/// The largest packed buffer; a change that would pass it converts the hash to a table (Redis's
/// `LISTPACK_MAX_SAFETY_SIZE`).
const MAX_PACKED_BYTES: usize = 1 << 30;
const _: () = assert!(MAX_PACKED_BYTES < MAX_LEN);

/// `n` as a LEB128 number: the bytes, and how many there are.
fn leb128(mut n: usize) -> ([u8; 10], usize) {
    let (mut out, mut len) = ([0u8; 10], 0);
    while n >= 0x80 {
        out[len] = (n as u8 & 0x7f) | 0x80;
        n >>= 7;
        len += 1;
    }
    out[len] = n as u8;
    (out, len + 1)
}

/// Reads the LEB128 number at `at`: returns it and the offset after it.
fn read_leb128(buf: &[u8], mut at: usize) -> (usize, usize) {
    let (mut n, mut shift) = (0usize, 0);
    loop {
        let byte = buf[at];
        at += 1;
        n |= ((byte & 0x7f) as usize) << shift;
        if byte & 0x80 == 0 {
            return (n, at);
        }
        shift += 7;
    }
}

/// Reads the string at `at`: returns it and the offset after it. The buffer is only ever written by
/// [`Packed`], so it is well formed.
fn read_str(buf: &[u8], at: usize) -> (&[u8], usize) {
    let (len, at) = read_leb128(buf, at);
    (&buf[at..at + len], at + len)
}

/// Iterates over the pairs of a packed hash.
struct PackedIter<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.buf.len() {
            return None;
        }
        let (field, after) = read_str(self.buf, self.at);
        let (value, end) = read_str(self.buf, after);
        self.at = end;
        Some((field, value))
    }
}

impl Packed {
    fn len(&self) -> usize {
        self.header().0
    }

    /// The count, and the offset of the first pair.
    fn header(&self) -> (usize, usize) {
        read_leb128(self.buf.as_bytes(), 0)
    }

    fn iter(&self) -> PackedIter<'_> {
        PackedIter { buf: self.buf.as_bytes(), at: self.header().1 }
    }

    /// Byte ranges of the pair with `field`: (pair start, value start, pair end).
    fn locate(&self, field: &[u8]) -> Option<(usize, usize, usize)> {
        let buf = self.buf.as_bytes();
        let mut at = self.header().1;
        while at < buf.len() {
            let (f, value_at) = read_str(buf, at);
            let (_, end) = read_str(buf, value_at);
            if f == field {
                return Some((at, value_at, end));
            }
            at = end;
        }
        None
    }

    fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.locate(field).map(|(_, value_at, _)| read_str(self.buf.as_bytes(), value_at).0)
    }

    /// Whether setting `field` to `value` keeps the buffer within [`MAX_PACKED_BYTES`]: the strings and
    /// three LEB128 numbers (their lengths and the count) of at most 10 bytes each.
    fn has_room_for(&self, field: &[u8], value: &[u8]) -> bool {
        self.buf.len() + field.len() + value.len() + 3 * 10 <= MAX_PACKED_BYTES
    }

    /// Sets a pair; returns true if the field is new.
    fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        let buf = self.buf.as_bytes();
        let (value_len, value_len_bytes) = leb128(value.len());
        let value_len = &value_len[..value_len_bytes];
        match self.locate(field) {
            Some((_, value_at, end)) => {
                self.buf = ThinBytes::concat(&[&buf[..value_at], value_len, value, &buf[end..]]);
                false
            }
            None => {
                let (count, pairs_at) = self.header();
                let (count, count_bytes) = leb128(count + 1);
                let (field_len, field_len_bytes) = leb128(field.len());
                let pieces: [&[u8]; 6] =
                    [&count[..count_bytes], &buf[pairs_at..], &field_len[..field_len_bytes], field, value_len, value];
                self.buf = ThinBytes::concat(&pieces);
                true
            }
        }
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let Some((start, _, end)) = self.locate(field) else { return false };
        let buf = self.buf.as_bytes();
        let (count, pairs_at) = self.header();
        let (count, count_bytes) = leb128(count - 1);
        self.buf = ThinBytes::concat(&[&count[..count_bytes], &buf[pairs_at..start], &buf[end..]]);
        true
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed { pairs, .. } => pairs.len(),
            Repr::Table(t) => t.pairs.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Packed { ttls: None, .. } => "listpack",
            Repr::Packed { ttls: Some(_), .. } => "listpackex",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Whether the compact encoding holds it (`listpack` or `listpackex`).
    pub fn is_packed(&self) -> bool {
        matches!(self.repr, Repr::Packed { .. })
    }

    pub fn heap_size(&self) -> usize {
        let ttls = self.ttls().map_or(0, |t| std::mem::size_of::<FieldTtls>() + t.heap_size());
        ttls + match &self.repr {
            Repr::Packed { pairs, .. } => pairs.buf.allocation_size(),
            Repr::Table(t) => std::mem::size_of::<Table>() + t.pairs.table_bytes() + t.element_heap,
        }
    }

    /// The field table past the compact encoding (a packed hash is one buffer, already in the cache).
    pub(crate) fn field_table(&self) -> Option<&DenseTable<HashField>> {
        match &self.repr {
            Repr::Table(t) => Some(&t.pairs),
            Repr::Packed { .. } => None,
        }
    }

    /// The field TTLs, once any field has had one.
    fn ttls(&self) -> Option<&FieldTtls> {
        match &self.repr {
            Repr::Packed { ttls, .. } => ttls.as_deref(),
            Repr::Table(t) => t.ttls.as_deref(),
        }
    }

    fn ttls_mut(&mut self) -> &mut Option<Box<FieldTtls>> {
        match &mut self.repr {
            Repr::Packed { ttls, .. } => ttls,
            Repr::Table(t) => &mut t.ttls,
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Packed { pairs, .. } => pairs.get(field),
            Repr::Table(t) => t.pairs.find(field).map(|pos| t.pairs.get(pos).value.as_bytes()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Whether `field` is past its TTL at `now_ms` and not yet deleted (Redis's `GETF_EXPIRED`).
    pub fn is_due(&self, field: &[u8], now_ms: u64) -> bool {
        self.field_expire_at(field).is_some_and(|at| at <= now_ms)
    }

    /// [`Hash::get`] as a reader sees it at `now_ms`: a field past its TTL is missing.
    pub fn get_live(&self, field: &[u8], now_ms: u64) -> Option<&[u8]> {
        self.get(field).filter(|_| !self.is_due(field, now_ms))
    }

    /// How many fields a reader sees at `now_ms` (those past their TTL are not counted).
    pub fn live_len(&self, now_ms: u64) -> usize {
        self.len() - self.ttls().map_or(0, |t| t.due_count(now_ms))
    }

    /// Fields and values a reader sees at `now_ms`, in storage order.
    pub fn iter_live(&self, now_ms: u64) -> impl Iterator<Item = (&[u8], &[u8])> {
        let due_some = self.next_field_expiry().is_some_and(|at| at <= now_ms);
        self.iter().filter(move |(field, _)| !due_some || !self.is_due(field, now_ms))
    }

    /// Sets `field` to `value`, dropping any TTL it had (HSET); returns true if the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &HashLimits) -> bool {
        if let Some(ttls) = self.ttls_mut() {
            ttls.clear(field);
        }
        self.set_keeping_ttl(field, value, limits)
    }

    /// Sets `field` to `value` and leaves its TTL alone (HINCRBY, HSETEX KEEPTTL); returns true if the
    /// field is new.
    pub fn set_keeping_ttl(&mut self, field: &[u8], value: &[u8], limits: &HashLimits) -> bool {
        let fits = |pairs: &Packed| pairs.has_room_for(field, value);
        if field.len() > limits.max_listpack_value
            || value.len() > limits.max_listpack_value
            || matches!(&self.repr, Repr::Packed { pairs, .. } if !fits(pairs))
        {
            self.convert_to_table();
        }
        let created = match &mut self.repr {
            Repr::Packed { pairs, .. } => pairs.set(field, value),
            Repr::Table(t) => {
                let new_value = CompactBytes::new(value);
                t.element_heap += new_value.heap_size();
                match t.pairs.find(field) {
                    Some(pos) => {
                        let old = std::mem::replace(&mut t.pairs.get_mut(pos).value, new_value);
                        t.element_heap -= old.heap_size();
                        false
                    }
                    None => {
                        let field = CompactBytes::new(field);
                        t.element_heap += field.heap_size();
                        t.pairs.insert_new(HashField { field, value: new_value });
                        true
                    }
                }
            }
        };
        if self.len() > limits.max_listpack_entries {
            self.convert_to_table();
        }
        created
    }

    /// Removes `field` and its TTL; returns true if it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        if let Some(ttls) = self.ttls_mut() {
            ttls.clear(field);
        }
        match &mut self.repr {
            Repr::Packed { pairs, .. } => pairs.remove(field),
            Repr::Table(t) => match t.pairs.remove(field) {
                Some(pair) => {
                    t.element_heap -= pair.field.heap_size() + pair.value.heap_size();
                    true
                }
                None => false,
            },
        }
    }

    /// The absolute expiry of `field` in Unix milliseconds, if it has one.
    pub fn field_expire_at(&self, field: &[u8]) -> Option<u64> {
        self.ttls().and_then(|t| t.get(field))
    }

    /// Gives an existing `field` an expiry time, or (None) removes its TTL; returns whether it had one.
    pub fn set_field_expire_at(&mut self, field: &[u8], at: Option<u64>) -> bool {
        match at {
            Some(at) => {
                let ttls = self.ttls_mut().get_or_insert_with(Box::default);
                let had = ttls.get(field).is_some();
                ttls.set(field, at);
                had
            }
            None => self.ttls_mut().as_mut().is_some_and(|t| t.clear(field)),
        }
    }

    /// The earliest expiry of any field (Redis's `hashTypeGetMinExpire`).
    pub fn next_field_expiry(&self) -> Option<u64> {
        self.ttls().and_then(|t| t.next())
    }

    /// Whether any field has a TTL.
    pub fn has_field_ttls(&self) -> bool {
        self.ttls().is_some_and(|t| t.len() > 0)
    }

    /// Fields with a TTL and their expiry times, in no particular order.
    pub fn field_ttls(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.ttls().into_iter().flat_map(|t| t.iter())
    }

    /// Removes up to `limit` fields whose expiry is at or before `now_ms`, earliest first; returns them.
    pub fn remove_due_fields(&mut self, now_ms: u64, limit: usize) -> Vec<Box<[u8]>> {
        if self.next_field_expiry().is_none_or(|at| at > now_ms) {
            return Vec::new();
        }
        let due = self.ttls().map(|t| t.due(now_ms, limit)).unwrap_or_default();
        for field in &due {
            self.remove(field);
        }
        due
    }

    fn convert_to_table(&mut self) {
        if let Repr::Packed { pairs, ttls } = &mut self.repr {
            let mut table = Table { pairs: DenseTable::with_capacity(pairs.len()), element_heap: 0, ttls: ttls.take() };
            for (field, value) in pairs.iter() {
                let pair = HashField { field: CompactBytes::new(field), value: CompactBytes::new(value) };
                table.element_heap += pair.field.heap_size() + pair.value.heap_size();
                table.pairs.insert_new(pair);
            }
            self.repr = Repr::Table(Box::new(table));
        }
    }

    /// The field/value pair at a position in `0..len()` (stable until the next removal). Linear in a
    /// packed hash, which holds few pairs.
    pub fn at(&self, pos: usize) -> (&[u8], &[u8]) {
        match &self.repr {
            Repr::Packed { pairs, .. } => pairs.iter().nth(pos).unwrap_or((&[], &[])),
            Repr::Table(t) => {
                let pair = t.pairs.get(pos);
                (pair.field.as_bytes(), pair.value.as_bytes())
            }
        }
    }

    /// Fields and values in storage order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match &self.repr {
            Repr::Packed { pairs, .. } => Box::new(pairs.iter()),
            Repr::Table(t) => Box::new(t.pairs.iter().map(|p| (p.field.as_bytes(), p.value.as_bytes()))),
        }
    }

    /// HSCAN: a packed hash is returned whole (cursor 0); a table is walked with the no-skip guarantee.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut visit: impl FnMut(&'a [u8], &'a [u8])) -> u64 {
        match &self.repr {
            Repr::Packed { pairs, .. } => {
                pairs.iter().for_each(|(f, v)| visit(f, v));
                0
            }
            Repr::Table(t) => t.pairs.scan(cursor, count, |pos| {
                let pair = t.pairs.get(pos);
                visit(pair.field.as_bytes(), pair.value.as_bytes())
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn packed_hashes_are_compact() {
        let limits = HashLimits { max_listpack_entries: 128, max_listpack_value: 64 };
        let mut hash = Hash::new();
        for i in 0..10 {
            hash.set(format!("field{i}").as_bytes(), format!("value{i}").as_bytes(), &limits);
        }
        assert_eq!(hash.encoding(), "listpack");
        // The buffer's length, the pair count, and 10 pairs of 1 + 6 + 1 + 6 bytes.
        assert_eq!(hash.heap_size(), 4 + 1 + 10 * 14);
        let long = vec![b'x'; 300];
        hash.set(b"f", &long, &HashLimits { max_listpack_value: 1000, ..limits });
        assert_eq!(hash.get(b"f"), Some(&long[..]), "lengths past one LEB128 byte");
    }

    #[test]
    fn a_packed_count_past_one_leb128_byte() {
        let limits = HashLimits { max_listpack_entries: 1000, max_listpack_value: 64 };
        let mut hash = Hash::new();
        for i in 0..300 {
            assert!(hash.set(format!("f{i}").as_bytes(), format!("{i}").as_bytes(), &limits));
        }
        assert_eq!((hash.len(), hash.encoding()), (300, "listpack"));
        for i in (0..300).step_by(2) {
            assert!(hash.remove(format!("f{i}").as_bytes()));
        }
        assert_eq!(hash.len(), 150);
        assert!(!hash.set(b"f1", b"one", &limits), "overwritten, not added");
        assert_eq!((hash.get(b"f1"), hash.get(b"f299"), hash.get(b"f0")), (Some(&b"one"[..]), Some(&b"299"[..]), None));
        assert_eq!(hash.iter().count(), 150);
        for i in (1..300).step_by(2) {
            assert!(hash.remove(format!("f{i}").as_bytes()));
        }
        assert!(hash.is_empty() && hash.iter().next().is_none());
    }

    #[test]
    fn field_ttls_follow_the_field() {
        let limits = HashLimits { max_listpack_entries: 2, max_listpack_value: 64 };
        let mut hash = Hash::new();
        hash.set(b"a", b"1", &limits);
        hash.set(b"b", b"2", &limits);
        assert!(!hash.set_field_expire_at(b"a", Some(100)));
        assert!(hash.set_field_expire_at(b"a", Some(50)), "had one");
        hash.set_field_expire_at(b"b", Some(70));
        assert_eq!((hash.encoding(), hash.next_field_expiry()), ("listpackex", Some(50)));
        hash.set_keeping_ttl(b"a", b"11", &limits);
        assert_eq!(hash.field_expire_at(b"a"), Some(50), "HINCRBY keeps the TTL");
        hash.set(b"a", b"12", &limits);
        assert_eq!(hash.field_expire_at(b"a"), None, "HSET drops it");
        hash.set(b"c", b"3", &limits);
        assert_eq!((hash.encoding(), hash.field_expire_at(b"b")), ("hashtable", Some(70)), "kept on conversion");
        assert_eq!(hash.remove_due_fields(69, 10), Vec::<Box<[u8]>>::new());
        assert_eq!(hash.remove_due_fields(70, 10), vec![Box::from(&b"b"[..])]);
        assert!(!hash.contains(b"b") && !hash.has_field_ttls());
        hash.set_field_expire_at(b"c", Some(1));
        hash.remove(b"c");
        assert_eq!(hash.next_field_expiry(), None, "a removed field's TTL goes with it");
    }

    #[test]
    fn readers_do_not_see_fields_past_their_ttl() {
        let limits = HashLimits { max_listpack_entries: 128, max_listpack_value: 64 };
        let mut hash = Hash::new();
        for field in [&b"a"[..], b"b", b"c"] {
            hash.set(field, b"v", &limits);
        }
        hash.set_field_expire_at(b"a", Some(50));
        hash.set_field_expire_at(b"b", Some(70));
        assert_eq!((hash.get_live(b"a", 49), hash.get_live(b"a", 50)), (Some(&b"v"[..]), None));
        assert_eq!((hash.live_len(49), hash.live_len(50), hash.live_len(70)), (3, 2, 1));
        let seen: Vec<&[u8]> = hash.iter_live(60).map(|(field, _)| field).collect();
        assert_eq!(seen, vec![&b"b"[..], b"c"]);
        assert_eq!(hash.len(), 3, "nothing is deleted by looking");
    }

    proptest! {
        /// A Hash behaves like a map whatever its encoding, and converts at the thresholds.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((any::<bool>(), 0u8..40, 0usize..200), 0..300)) {
            let limits = HashLimits { max_listpack_entries: 16, max_listpack_value: 150 };
            let mut hash = Hash::new();
            let mut model = BTreeMap::new();
            let mut converted = false;
            for (set, f, len) in ops {
                let field = vec![b'f', f];
                if set {
                    let value = vec![b'v'; len];
                    converted |= len > 150;
                    prop_assert_eq!(hash.set(&field, &value, &limits), model.insert(field, value).is_none());
                } else {
                    prop_assert_eq!(hash.remove(&field), model.remove(&field).is_some());
                }
                converted |= model.len() > 16;
                prop_assert_eq!(hash.encoding(), if converted { "hashtable" } else { "listpack" });
                prop_assert_eq!(hash.len(), model.len());
            }
            let got: BTreeMap<Vec<u8>, Vec<u8>> = hash.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            prop_assert_eq!(got, model.clone());
            for (pos, (f, v)) in hash.iter().enumerate() {
                prop_assert_eq!(hash.at(pos), (f, v));
            }
            if let Repr::Table(t) = &hash.repr {
                let heap: usize = model.iter().map(|(f, v)| {
                    let h = |b: &Vec<u8>| if b.len() > 15 { (b.len() + 15) & !15 } else { 0 };
                    h(f) + h(v)
                }).sum();
                prop_assert_eq!(t.element_heap, heap);
            }
        }
    }
}
