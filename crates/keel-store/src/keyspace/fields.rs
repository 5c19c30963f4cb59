//! Expiry of hash fields in a [`Db`] (Redis 7.4's hash-field expiration).
//!
//! Fields past their TTL are deleted the way keys are: lazily, when a command names a field that is due
//! ([`Db::expire_field`]; as in Redis, commands on the whole key, such as EXISTS, RENAME or HLEN, count
//! due fields until then, and commands that list fields skip them), and actively, by
//! [`Db::expire_fields_step`], which the server's cron calls with a budget. HRANDFIELD alone deletes every
//! due field of its hash ([`Db::expire_due_fields`]), as Redis's does.
//!
//! For the active side the database orders the keys whose hash has fields with a TTL by the hash's
//! earliest field expiry ([`FieldExpiries`], Redis's `db->hexpires`), so a step goes straight to the
//! hashes with fields due. Every change to a hash passes through `Db::update`, an insert or a removal,
//! which file, re-file or unfile the key; a step still re-checks the key it takes. What was deleted is
//! recorded, as for keys, so that the server logs and replicates it as `HDEL`.

use super::{Db, ExpiredKeys};
use crate::value::Value;
use std::collections::{BTreeSet, HashMap};

/// Fields of one hash that expired, as the log and replicas must hear of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredFields {
    pub key: Vec<u8>,
    pub fields: Vec<Box<[u8]>>,
    /// The hash had no other field, so the key went too.
    pub key_gone: bool,
}

/// Keys of hashes with field TTLs, ordered by their earliest field expiry.
#[derive(Default)]
pub(super) struct FieldExpiries {
    by_time: BTreeSet<(u64, Box<[u8]>)>,
    by_key: HashMap<Box<[u8]>, u64>,
}

impl FieldExpiries {
    fn file(&mut self, key: &[u8], at: u64) {
        match self.by_key.get(key) {
            Some(&filed) if filed == at => return,
            Some(&filed) => _ = self.by_time.remove(&(filed, Box::from(key))),
            None => {}
        }
        self.by_key.insert(key.into(), at);
        self.by_time.insert((at, key.into()));
    }

    pub(super) fn unfile(&mut self, key: &[u8]) {
        if let Some(filed) = self.by_key.remove(key) {
            self.by_time.remove(&(filed, Box::from(key)));
        }
    }

    /// Takes the key filed earliest, if its time is at or before `now_ms`.
    fn take_due(&mut self, now_ms: u64) -> Option<Box<[u8]>> {
        let (at, _) = self.by_time.first()?;
        if *at > now_ms {
            return None;
        }
        let (_, key) = self.by_time.pop_first()?;
        self.by_key.remove(&key);
        Some(key)
    }
}

/// The earliest field expiry of `value` when it is a hash with field TTLs.
pub(super) fn field_expiry(value: &Value) -> Option<u64> {
    match value {
        Value::Hash(hash) => hash.next_field_expiry(),
        _ => None,
    }
}

impl Db {
    /// Files the key at `slot` for active field expiry under its hash's earliest field expiry, or unfiles
    /// it when it `was_filed` and no longer holds a hash with field TTLs.
    pub(super) fn note_field_ttls(&mut self, slot: usize, was_filed: bool) {
        let entry = self.entries.get(slot);
        match (field_expiry(&entry.value), was_filed) {
            (Some(at), _) => self.field_expiries.file(entry.key.as_bytes(), at),
            (None, true) => self.field_expiries.unfile(entry.key.as_bytes()),
            (None, false) => {}
        }
    }

    /// Lazy field expiry: deletes the due fields of the hash at `slot`, and the key if that empties the
    /// hash. Returns whether the key went (other slots are then invalid).
    pub fn expire_due_fields(&mut self, slot: usize, now_ms: u64) -> bool {
        self.has_due_fields(slot, now_ms) && self.expire_fields_at(slot, now_ms, usize::MAX).1
    }

    /// Lazy expiry of one field a command names (Redis's `hashTypeGetValue`): deletes `field` of the hash
    /// at `slot` when it is past its TTL, and the key if that empties the hash. Returns whether the key
    /// went (other slots are then invalid). Other due fields stay: readers skip them until they are named
    /// or the active side takes them, so no command pays for more than the fields it names.
    pub fn expire_field(&mut self, slot: usize, field: &[u8], now_ms: u64) -> bool {
        let due = match &self.entries.get(slot).value {
            Value::Hash(hash) => self.expired_keys == ExpiredKeys::Delete && hash.is_due(field, now_ms),
            _ => false,
        };
        if !due {
            return false;
        }
        self.update(slot, |value| {
            if let Value::Hash(hash) = value {
                hash.remove(field);
            }
        });
        self.fields_expired(slot, vec![field.into()])
    }

    /// The time a hash's fields are read at: `now_ms`, or 0 (none is due) while a replica applies its
    /// primary's stream, which decides when fields expire.
    pub fn field_clock(&self, now_ms: u64) -> u64 {
        match self.expired_keys {
            ExpiredKeys::Live => 0,
            ExpiredKeys::Delete | ExpiredKeys::Hide => now_ms,
        }
    }

    /// Whether the hash at `slot` has fields to delete now (never while expiry is held or on a replica's
    /// stream, see [`ExpiredKeys`]).
    pub(super) fn has_due_fields(&self, slot: usize, now_ms: u64) -> bool {
        match &self.entries.get(slot).value {
            Value::Hash(hash) => {
                self.expired_keys == ExpiredKeys::Delete && hash.next_field_expiry().is_some_and(|at| at <= now_ms)
            }
            _ => false,
        }
    }

    /// Deletes up to `limit` due fields of the hash at `slot`, and the key if that empties the hash.
    /// Returns how many fields went and whether the key went (other slots are then invalid).
    pub(super) fn expire_fields_at(&mut self, slot: usize, now_ms: u64, limit: usize) -> (usize, bool) {
        let fields = self.update(slot, |value| match value {
            Value::Hash(hash) => hash.remove_due_fields(now_ms, limit),
            _ => Vec::new(),
        });
        if fields.is_empty() {
            return (0, false);
        }
        let count = fields.len();
        (count, self.fields_expired(slot, fields))
    }

    /// After `fields` of the hash at `slot` were deleted by expiry: the key goes if they emptied it, and
    /// the deletion is recorded. Returns whether the key went.
    fn fields_expired(&mut self, slot: usize, fields: Vec<Box<[u8]>>) -> bool {
        let key_gone = matches!(self.value(slot), Value::Hash(hash) if hash.is_empty());
        let key = self.key(slot).to_vec();
        if key_gone {
            self.remove_slot(slot);
        }
        if self.record_expired {
            self.expired_fields.push(ExpiredFields { key, fields, key_gone });
        }
        key_gone
    }

    /// One step of active field expiry: takes the keys whose earliest field expiry has come, earliest
    /// first, and deletes up to `budget` due fields among them. Returns (keys visited, fields deleted).
    pub fn expire_fields_step(&mut self, now_ms: u64, budget: usize) -> (usize, usize) {
        if self.expired_keys != ExpiredKeys::Delete {
            return (0, 0);
        }
        let (mut visited, mut expired) = (0, 0);
        while expired < budget {
            let Some(key) = self.field_expiries.take_due(now_ms) else { break };
            visited += 1;
            let Some(slot) = self.find(&key).filter(|slot| !self.is_expired(*slot, now_ms)) else { continue };
            if self.has_due_fields(slot, now_ms) {
                // Files the key again under its next expiry when fields with a TTL remain.
                expired += self.expire_fields_at(slot, now_ms, budget - expired).0;
            } else {
                self.note_field_ttls(slot, false);
            }
        }
        (visited, expired)
    }

    /// Hash fields deleted by expiry since the last call, when recording is on.
    pub fn take_expired_fields(&mut self) -> Vec<ExpiredFields> {
        std::mem::take(&mut self.expired_fields)
    }

    /// Hashes with fields that have a TTL (INFO keyspace's `subexpiry`).
    pub fn field_volatile_len(&self) -> usize {
        self.field_expiries.by_key.len()
    }
}
