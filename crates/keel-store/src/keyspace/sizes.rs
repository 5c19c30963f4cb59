//! How big a database's keys are (Redis 8.0's `INFO keysizes`): for strings their length in bytes, for
//! lists, sets, sorted sets and hashes their number of items, counted in power-of-two bins (bin 0 holds
//! size 0, bin `i + 1` sizes from `2^i` to `2^(i+1) - 1`). The counts follow every change where it happens
//! (`Db::update`, an insert or a removal), so reading them costs nothing proportional to the data. Streams
//! and JSON documents are not counted, as Redis counts only its five basic types.

use super::Db;
use crate::value::Value;

/// The types counted, in INFO's order, with the name of each line.
pub const KINDS: [&str; 5] = [
    "distrib_strings_sizes",
    "distrib_lists_items",
    "distrib_sets_items",
    "distrib_zsets_items",
    "distrib_hashes_items",
];

/// Bins per type: size 0, then one per power of two up to 2^63.
const BINS: usize = 65;

/// A bin's label: its least size, with K, M, G, T, P and E for powers of 1024.
pub fn bin_label(bin: usize) -> String {
    if bin == 0 {
        return "0".into();
    }
    let power = bin - 1;
    let units = ["", "K", "M", "G", "T", "P", "E"];
    format!("{}{}", 1u64 << (power % 10), units[power / 10])
}

/// The type (an index into [`KINDS`]) and size of a value that is counted.
pub(super) fn size_of(value: &Value) -> Option<(usize, u64)> {
    let (kind, size) = match value {
        Value::Str(s) => (0, s.len()),
        Value::Int(n) => (0, crate::number::decimal_len(*n)),
        Value::List(list) => (1, list.len()),
        Value::Set(set) => (2, set.len()),
        Value::ZSet(zset) => (3, zset.len()),
        Value::Hash(hash) => (4, hash.len()),
        Value::Stream(_) | Value::Json(_) => return None,
    };
    Some((kind, size as u64))
}

fn bin_of(size: u64) -> usize {
    match size {
        0 => 0,
        size => size.ilog2() as usize + 1,
    }
}

/// The counts of one database; nothing is allocated until a key is counted.
#[derive(Default)]
pub(super) struct KeySizes {
    bins: Option<Box<[[u64; BINS]; KINDS.len()]>>,
}

impl KeySizes {
    /// A value of `before` changed into one of `after` (None: no such value, or one not counted).
    pub(super) fn moved(&mut self, before: Option<(usize, u64)>, after: Option<(usize, u64)>) {
        if before == after {
            return;
        }
        let bins = self.bins.get_or_insert_with(|| Box::new([[0; BINS]; KINDS.len()]));
        if let Some((kind, size)) = before {
            bins[kind][bin_of(size)] -= 1;
        }
        if let Some((kind, size)) = after {
            bins[kind][bin_of(size)] += 1;
        }
    }

    /// The non-empty bins of type `kind`, smallest first: (bin, keys).
    pub(super) fn of(&self, kind: usize) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.bins.iter().flat_map(move |bins| bins[kind].iter().copied().enumerate().filter(|(_, n)| *n > 0))
    }
}

impl Db {
    /// INFO keysizes for type `kind` (an index into [`KINDS`]): its non-empty bins, smallest first, as
    /// (bin, keys).
    pub fn key_sizes(&self, kind: usize) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.sizes.of(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_powers_of_two_with_redis_labels() {
        assert_eq!([0, 1, 2, 3, 4, 7, 8, 1023, 1024].map(bin_of), [0, 1, 2, 2, 3, 3, 4, 10, 11]);
        let labels: Vec<String> = [0, 1, 2, 10, 11, 21, 31, 64].into_iter().map(bin_label).collect();
        assert_eq!(labels, ["0", "1", "2", "512", "1K", "1M", "1G", "8E"]);
        let mut sizes = KeySizes::default();
        sizes.moved(None, Some((0, 5)));
        sizes.moved(Some((0, 5)), Some((0, 6)));
        sizes.moved(None, Some((4, 0)));
        assert_eq!(sizes.of(0).collect::<Vec<_>>(), [(3, 1)]);
        sizes.moved(Some((4, 0)), None);
        assert_eq!(sizes.of(4).count(), 0);
    }
}
