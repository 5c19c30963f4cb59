//! Sets (Redis's t_set): a set of integers is a sorted array (`intset`), converted to a [`DenseTable`]
//! (`hashtable`) when a non-integer member arrives or it passes `set-max-intset-entries`. Like Redis, a set
//! never converts back.

use crate::compact::CompactBytes;
use crate::dense::{DenseTable, Keyed};
use crate::number::parse_i64;
use crate::value::StrRef;
use rand::Rng;

impl Keyed for CompactBytes {
    fn key(&self) -> &[u8] {
        self.as_bytes()
    }
}

#[derive(Clone)]
enum Repr {
    Intset(Vec<i64>),
    Table(DenseTable<CompactBytes>),
}

#[derive(Clone)]
pub struct Set {
    repr: Repr,
    /// Heap bytes of members (beyond their 16 inline bytes).
    element_heap: usize,
}

impl Set {
    /// The member table past the compact encoding.
    pub(crate) fn member_table(&self) -> Option<&DenseTable<CompactBytes>> {
        match &self.repr {
            Repr::Table(table) => Some(table),
            Repr::Intset(_) => None,
        }
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Set({} members, {})", self.len(), self.encoding())
    }
}

impl Default for Set {
    fn default() -> Self {
        Set { repr: Repr::Intset(Vec::new()), element_heap: 0 }
    }
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Intset(ints) => ints.len(),
            Repr::Table(table) => table.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Intset(_) => "intset",
            Repr::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Intset(ints) => ints.capacity() * 8,
            Repr::Table(table) => table.table_bytes() + self.element_heap,
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Intset(ints) => parse_i64(member).is_some_and(|n| ints.binary_search(&n).is_ok()),
            Repr::Table(table) => table.find(member).is_some(),
        }
    }

    /// Adds `member`; returns true if it was not present.
    pub fn add(&mut self, member: &[u8], max_intset_entries: usize) -> bool {
        if let Repr::Intset(ints) = &mut self.repr {
            if let Some(n) = parse_i64(member) {
                let Err(at) = ints.binary_search(&n) else { return false };
                ints.insert(at, n);
                if ints.len() > max_intset_entries {
                    self.convert_to_table();
                }
                return true;
            }
            self.convert_to_table();
        }
        let Repr::Table(table) = &mut self.repr else { return false };
        if table.find(member).is_some() {
            return false;
        }
        let member = CompactBytes::new(member);
        self.element_heap += member.heap_size();
        table.insert_new(member);
        true
    }

    /// Removes `member`; returns true if it was present.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Intset(ints) => match parse_i64(member).map(|n| ints.binary_search(&n)) {
                Some(Ok(at)) => {
                    ints.remove(at);
                    true
                }
                _ => false,
            },
            Repr::Table(table) => match table.remove(member) {
                Some(removed) => {
                    self.element_heap -= removed.heap_size();
                    true
                }
                None => false,
            },
        }
    }

    fn convert_to_table(&mut self) {
        if let Repr::Intset(ints) = &self.repr {
            let mut table = DenseTable::with_capacity(ints.len());
            for n in ints {
                table.insert_new(CompactBytes::new(n.to_string().as_bytes()));
            }
            self.repr = Repr::Table(table);
        }
    }

    /// The member at a position in `0..len()` (positions are stable until the next removal).
    pub fn at(&self, pos: usize) -> StrRef<'_> {
        match &self.repr {
            Repr::Intset(ints) => StrRef::Int(ints[pos]),
            Repr::Table(table) => StrRef::Raw(table.get(pos).as_bytes()),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = StrRef<'_>> {
        (0..self.len()).map(move |pos| self.at(pos))
    }

    /// A uniformly random position, or None when empty.
    pub fn random(&self, rng: &mut impl Rng) -> Option<usize> {
        let len = self.len();
        (len > 0).then(|| rng.gen_range(0..len))
    }

    /// SSCAN: an intset is returned whole (cursor 0); a table is walked with the no-skip guarantee.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(usize)) -> u64 {
        match &self.repr {
            Repr::Intset(ints) => {
                (0..ints.len()).for_each(visit);
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
    use std::collections::BTreeSet;

    proptest! {
        /// A Set behaves like a set of byte strings whatever its encoding, and converts when it must.
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec((any::<bool>(), any::<bool>(), 0u16..50), 0..300)) {
            let mut set = Set::new();
            let mut model = BTreeSet::new();
            let mut converted = false;
            for (add, text, n) in ops {
                let member = if text { format!("m{n}").into_bytes() } else { n.to_string().into_bytes() };
                if add {
                    converted |= text;
                    prop_assert_eq!(set.add(&member, 20), model.insert(member.clone()));
                } else {
                    prop_assert_eq!(set.remove(&member), model.remove(&member));
                }
                converted |= model.len() > 20;
                prop_assert_eq!(set.encoding(), if converted { "hashtable" } else { "intset" });
                prop_assert!(model.iter().all(|m| set.contains(m)));
            }
            let got: BTreeSet<Vec<u8>> = set.iter().map(|m| m.to_bytes().into_owned()).collect();
            prop_assert_eq!(got, model);
        }
    }
}
