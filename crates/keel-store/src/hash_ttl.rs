//! Per-field expiry times of one hash (Redis 7.4's hash-field expiration). A hash keeps this only once a
//! field has had a TTL: each field's absolute expiry in Unix milliseconds, and the same pairs ordered by
//! time, so the earliest expiry and the fields due by a given time are found without a scan.

use std::collections::{BTreeSet, HashMap};

/// The largest expiry a command may give a field (Redis's `HFE_MAX_ABS_TIME_MSEC`, 2^46 - 1 milliseconds).
pub const MAX_FIELD_EXPIRE_MS: u64 = (1 << 46) - 1;

#[derive(Clone, Default)]
pub(crate) struct FieldTtls {
    by_field: HashMap<Box<[u8]>, u64>,
    by_time: BTreeSet<(u64, Box<[u8]>)>,
    /// Bytes of the field names held (twice each), kept so that the hash's size is known in O(1).
    name_bytes: usize,
}

/// Bookkeeping bytes per field with a TTL beyond the field's own bytes (two copies): the map's slot, the
/// tree's share of a node, and the expiry in both.
const PER_FIELD_OVERHEAD: usize = 64;

impl FieldTtls {
    pub(crate) fn get(&self, field: &[u8]) -> Option<u64> {
        self.by_field.get(field).copied()
    }

    pub(crate) fn set(&mut self, field: &[u8], at: u64) {
        match self.by_field.insert(field.into(), at) {
            Some(old) => _ = self.by_time.remove(&(old, Box::from(field))),
            None => self.name_bytes += 2 * field.len(),
        }
        self.by_time.insert((at, field.into()));
    }

    /// Forgets `field`'s TTL; returns whether it had one.
    pub(crate) fn clear(&mut self, field: &[u8]) -> bool {
        match self.by_field.remove(field) {
            Some(at) => {
                self.by_time.remove(&(at, Box::from(field)));
                self.name_bytes -= 2 * field.len();
                true
            }
            None => false,
        }
    }

    /// The earliest expiry of any field.
    pub(crate) fn next(&self) -> Option<u64> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Up to `limit` fields due at `now_ms`, earliest first.
    pub(crate) fn due(&self, now_ms: u64, limit: usize) -> Vec<Box<[u8]>> {
        self.by_time.iter().take_while(|(at, _)| *at <= now_ms).take(limit).map(|(_, f)| f.clone()).collect()
    }

    /// How many fields are due at `now_ms`.
    pub(crate) fn due_count(&self, now_ms: u64) -> usize {
        self.by_time.iter().take_while(|(at, _)| *at <= now_ms).count()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_field.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.by_field.iter().map(|(f, at)| (&f[..], *at))
    }

    pub(crate) fn heap_size(&self) -> usize {
        self.name_bytes + self.by_field.len() * PER_FIELD_OVERHEAD
    }
}
