//! Sets (Redis's t_set): a set of integers is a sorted array (`intset`); a small set of short strings is a
//! vector in insertion order (`listpack`, Redis 7.2+), searched by scanning, which costs a few bytes per
//! member where a table costs hundreds per set; anything larger is a [`DenseTable`] (`hashtable`). An intset
//! that gets a string becomes a listpack when it would fit one, else a table; an intset past
//! `set-max-intset-entries` and a listpack past `set-max-listpack-entries` (or given a member longer than
//! `set-max-listpack-value`) become tables. Like Redis, a set never converts back.

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
    Listpack(Vec<CompactBytes>),
    Table(DenseTable<CompactBytes>),
}

/// The encoding thresholds (`set-max-intset-entries`, `set-max-listpack-entries`, `set-max-listpack-value`).
#[derive(Debug, Clone, Copy)]
pub struct SetLimits {
    pub max_intset_entries: usize,
    pub max_listpack_entries: usize,
    pub max_listpack_value: usize,
}

impl Default for SetLimits {
    fn default() -> Self {
        SetLimits { max_intset_entries: 512, max_listpack_entries: 128, max_listpack_value: 64 }
    }
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
            Repr::Intset(_) | Repr::Listpack(_) => None,
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
            Repr::Listpack(members) => members.len(),
            Repr::Table(table) => table.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Intset(_) => "intset",
            Repr::Listpack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Intset(ints) => ints.capacity() * 8,
            Repr::Listpack(members) => members.capacity() * std::mem::size_of::<CompactBytes>() + self.element_heap,
            Repr::Table(table) => table.table_bytes() + self.element_heap,
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Intset(ints) => parse_i64(member).is_some_and(|n| ints.binary_search(&n).is_ok()),
            Repr::Listpack(members) => members.iter().any(|m| m.as_bytes() == member),
            Repr::Table(table) => table.find(member).is_some(),
        }
    }

    /// Adds `member`; returns true if it was not present (Redis's setTypeAddAux).
    pub fn add(&mut self, member: &[u8], limits: &SetLimits) -> bool {
        if let Repr::Intset(ints) = &mut self.repr {
            if let Some(n) = parse_i64(member) {
                let Err(at) = ints.binary_search(&n) else { return false };
                ints.insert(at, n);
                if ints.len() > limits.max_intset_entries {
                    self.convert_to_table();
                }
                return true;
            }
            let widest = ints.first().into_iter().chain(ints.last()).map(|n| n.to_string().len()).max();
            let fits = ints.len() < limits.max_listpack_entries
                && member.len() <= limits.max_listpack_value
                && widest.unwrap_or(0) <= limits.max_listpack_value;
            if fits {
                self.convert_to_listpack();
            } else {
                self.convert_to_table();
            }
        }
        if let Repr::Listpack(members) = &mut self.repr {
            if members.iter().any(|m| m.as_bytes() == member) {
                return false;
            }
            if members.len() >= limits.max_listpack_entries || member.len() > limits.max_listpack_value {
                self.convert_to_table();
            } else {
                let member = CompactBytes::new(member);
                self.element_heap += member.heap_size();
                // Grown one member at a time, as a listpack is: a small set keeps no spare room.
                members.reserve_exact(1);
                members.push(member);
                return true;
            }
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
            Repr::Listpack(members) => match members.iter().position(|m| m.as_bytes() == member) {
                Some(at) => {
                    self.element_heap -= members.remove(at).heap_size();
                    true
                }
                None => false,
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

    fn convert_to_listpack(&mut self) {
        if let Repr::Intset(ints) = &self.repr {
            let mut members = Vec::with_capacity(ints.len() + 1);
            members.extend(ints.iter().map(|n| CompactBytes::new(n.to_string().as_bytes())));
            self.element_heap = members.iter().map(CompactBytes::heap_size).sum();
            self.repr = Repr::Listpack(members);
        }
    }

    fn convert_to_table(&mut self) {
        self.convert_to_listpack();
        let Repr::Listpack(members) = &mut self.repr else { return };
        let members = std::mem::take(members);
        let mut table = DenseTable::with_capacity(members.len());
        members.into_iter().for_each(|member| {
            table.insert_new(member);
        });
        self.repr = Repr::Table(table);
    }

    /// The member at a position in `0..len()` (positions are stable until the next removal); a step of
    /// work for `keel_pace`, as every walk of a set goes through here.
    pub fn at(&self, pos: usize) -> StrRef<'_> {
        keel_pace::step();
        match &self.repr {
            Repr::Intset(ints) => StrRef::Int(ints[pos]),
            Repr::Listpack(members) => StrRef::Raw(members[pos].as_bytes()),
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

    /// SSCAN: an intset or listpack is returned whole (cursor 0); a table is walked with the no-skip
    /// guarantee.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(usize)) -> u64 {
        match &self.repr {
            Repr::Intset(_) | Repr::Listpack(_) => {
                (0..self.len()).for_each(visit);
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
        /// A Set behaves like a set of byte strings whatever its encoding, and converts when it must, as
        /// Redis's setTypeAddAux does: intset → listpack or hashtable, listpack → hashtable, never back.
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec((any::<bool>(), any::<bool>(), 0u16..50), 0..300)) {
            let limits = SetLimits { max_intset_entries: 20, max_listpack_entries: 10, max_listpack_value: 64 };
            let mut set = Set::new();
            let mut model = BTreeSet::new();
            let mut expected = "intset";
            for (add, text, n) in ops {
                let member = if text { format!("m{n}").into_bytes() } else { n.to_string().into_bytes() };
                if add {
                    let new = !model.contains(&member);
                    expected = match expected {
                        "intset" if text && model.len() < 10 => "listpack",
                        "intset" if text || model.len() + usize::from(new) > 20 => "hashtable",
                        "listpack" if new && model.len() >= 10 => "hashtable",
                        unchanged => unchanged,
                    };
                    prop_assert_eq!(set.add(&member, &limits), model.insert(member.clone()));
                } else {
                    prop_assert_eq!(set.remove(&member), model.remove(&member));
                }
                prop_assert_eq!(set.encoding(), expected);
                prop_assert!(model.iter().all(|m| set.contains(m)));
                prop_assert_eq!(set.len(), model.len());
            }
            let got: BTreeSet<Vec<u8>> = set.iter().map(|m| m.to_bytes().into_owned()).collect();
            prop_assert_eq!(got, model);
        }
    }

    #[test]
    fn a_long_member_makes_a_table() {
        let limits = SetLimits::default();
        let mut set = Set::new();
        set.add(b"short", &limits);
        assert_eq!(set.encoding(), "listpack");
        set.add(&[b'x'; 65], &limits);
        assert_eq!((set.encoding(), set.len()), ("hashtable", 2));
        let mut ints = Set::new();
        ints.add(b"1", &limits);
        ints.add(&[b'y'; 65], &limits);
        assert_eq!(ints.encoding(), "hashtable");
    }
}
