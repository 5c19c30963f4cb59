//! Hashes (Redis's t_hash): small hashes are a flat list of field/value pairs (`listpack`), converted to a
//! [`DenseTable`] (`hashtable`) once they pass `hash-max-listpack-entries` entries or a field or value
//! passes `hash-max-listpack-value` bytes. Like Redis, a hash never converts back.

use crate::compact::CompactBytes;
use crate::dense::{DenseTable, Keyed};

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
enum Repr {
    Listpack(Vec<HashField>),
    Table(DenseTable<HashField>),
}

#[derive(Clone)]
pub struct Hash {
    repr: Repr,
    /// Heap bytes of fields and values (beyond their 16 inline bytes each).
    element_heap: usize,
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({} fields, {})", self.len(), self.encoding())
    }
}

impl Default for Hash {
    fn default() -> Self {
        Hash { repr: Repr::Listpack(Vec::new()), element_heap: 0 }
    }
}

fn element_heap(f: &HashField) -> usize {
    f.field.heap_size() + f.value.heap_size()
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(pairs) => pairs.len(),
            Repr::Table(table) => table.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        let table = match &self.repr {
            Repr::Listpack(pairs) => pairs.capacity() * std::mem::size_of::<HashField>(),
            Repr::Table(table) => table.table_bytes(),
        };
        table + self.element_heap
    }

    fn position(&self, field: &[u8]) -> Option<usize> {
        match &self.repr {
            Repr::Listpack(pairs) => pairs.iter().position(|p| p.field.as_bytes() == field),
            Repr::Table(table) => table.find(field),
        }
    }

    /// The field/value pair at a position in `0..len()` (positions are stable until the next removal).
    pub fn at(&self, pos: usize) -> (&[u8], &[u8]) {
        let pair = match &self.repr {
            Repr::Listpack(pairs) => &pairs[pos],
            Repr::Table(table) => table.get(pos),
        };
        (pair.field.as_bytes(), pair.value.as_bytes())
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.position(field).map(|pos| self.at(pos).1)
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.position(field).is_some()
    }

    /// Sets `field` to `value`; returns true if the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &HashLimits) -> bool {
        if field.len() > limits.max_listpack_value || value.len() > limits.max_listpack_value {
            self.convert_to_table();
        }
        let new_value = CompactBytes::new(value);
        self.element_heap += new_value.heap_size();
        let existing = self.position(field);
        let created = match (existing, &mut self.repr) {
            (Some(pos), Repr::Listpack(pairs)) => {
                let old = std::mem::replace(&mut pairs[pos].value, new_value);
                self.element_heap -= old.heap_size();
                false
            }
            (Some(pos), Repr::Table(table)) => {
                let old = std::mem::replace(&mut table.get_mut(pos).value, new_value);
                self.element_heap -= old.heap_size();
                false
            }
            (None, repr) => {
                let pair = HashField { field: CompactBytes::new(field), value: new_value };
                self.element_heap += pair.field.heap_size();
                match repr {
                    Repr::Listpack(pairs) => pairs.push(pair),
                    Repr::Table(table) => {
                        table.insert_new(pair);
                    }
                }
                true
            }
        };
        if self.len() > limits.max_listpack_entries {
            self.convert_to_table();
        }
        created
    }

    /// Removes `field`; returns true if it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let Some(pos) = self.position(field) else { return false };
        let pair = match &mut self.repr {
            Repr::Listpack(pairs) => pairs.remove(pos),
            Repr::Table(table) => table.remove_at(pos),
        };
        self.element_heap -= element_heap(&pair);
        true
    }

    fn convert_to_table(&mut self) {
        if let Repr::Listpack(pairs) = &mut self.repr {
            let mut table = DenseTable::with_capacity(pairs.len());
            for pair in pairs.drain(..) {
                table.insert_new(pair);
            }
            self.repr = Repr::Table(table);
        }
    }

    /// Fields and values in storage order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        (0..self.len()).map(move |pos| self.at(pos))
    }

    /// HSCAN: a compact hash is returned whole (cursor 0); a table is walked with the no-skip guarantee.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(usize)) -> u64 {
        match &self.repr {
            Repr::Listpack(pairs) => {
                (0..pairs.len()).for_each(visit);
                0
            }
            Repr::Table(table) => table.scan(cursor, count, &mut visit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// A Hash behaves like a map whatever its encoding, and converts at the thresholds.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((any::<bool>(), 0u8..40, 0usize..80), 0..300)) {
            let limits = HashLimits { max_listpack_entries: 16, max_listpack_value: 64 };
            let mut hash = Hash::new();
            let mut model = BTreeMap::new();
            let mut converted = false;
            for (set, f, len) in ops {
                let field = vec![b'f', f];
                if set {
                    let value = vec![b'v'; len];
                    converted |= len > 64;
                    prop_assert_eq!(hash.set(&field, &value, &limits), model.insert(field, value).is_none());
                } else {
                    prop_assert_eq!(hash.remove(&field), model.remove(&field).is_some());
                }
                converted |= model.len() > 16;
                prop_assert_eq!(hash.encoding(), if converted { "hashtable" } else { "listpack" });
            }
            prop_assert_eq!(hash.len(), model.len());
            let got: BTreeMap<Vec<u8>, Vec<u8>> = hash.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            prop_assert_eq!(got, model.clone());
            let heap: usize = model.iter().map(|(f, v)| {
                let h = |b: &Vec<u8>| if b.len() > 15 { (b.len() + 15) & !15 } else { 0 };
                h(f) + h(v)
            }).sum();
            prop_assert_eq!(hash.element_heap, heap);
        }
    }
}
