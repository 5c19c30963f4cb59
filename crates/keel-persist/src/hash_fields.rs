//! Hashes whose fields have TTLs in RDB form (Redis 7.4's hash-field expiration), both ways. Keel writes
//! `RDB_TYPE_HASH_METADATA`: the earliest field expiry, then for each pair its TTL relative to it (0 for
//! none, else `at - min + 1`), field and value. It reads that, the 7.4 release candidates' form with
//! absolute TTLs, and the listpack forms whose entries are field, value, absolute TTL (0 for none).

use crate::format::*;
use crate::listpack::{self, Element};
use keel_store::{Hash, HashLimits, Value};
use std::io::Read;

pub const TYPE_HASH_METADATA_PRE_GA: u8 = 22;
pub const TYPE_HASH_LISTPACK_EX_PRE_GA: u8 = 23;
pub const TYPE_HASH_METADATA: u8 = 24;
pub const TYPE_HASH_LISTPACK_EX: u8 = 25;

/// The largest field expiry a file may hold (Redis's `EB_EXPIRE_TIME_MAX`, 2^48 - 1 milliseconds).
const MAX_STORED_EXPIRE_MS: u64 = (1 << 48) - 1;

/// Appends a hash with field TTLs as `RDB_TYPE_HASH_METADATA`, type byte included.
pub fn write(out: &mut Vec<u8>, hash: &Hash, compress: bool) {
    out.push(TYPE_HASH_METADATA);
    let min = hash.next_field_expiry().unwrap_or(0);
    out.extend_from_slice(&min.to_le_bytes());
    put_len(out, hash.len() as u64);
    for (field, value) in hash.iter() {
        put_len(out, hash.field_expire_at(field).map_or(0, |at| at - min + 1));
        put_string(out, field, compress);
        put_string(out, value, compress);
    }
}

/// Reads a hash with field TTLs of type `kind` (one of the four above). `None` for an empty hash.
pub fn read<R: Read>(input: &mut Input<R>, kind: u8, limits: &HashLimits) -> RdbResult<Option<Value>> {
    let mut triples = Vec::new();
    if kind == TYPE_HASH_METADATA || kind == TYPE_HASH_METADATA_PRE_GA {
        // The release candidates wrote absolute TTLs, with no minimum before them.
        let relative_to = match kind {
            TYPE_HASH_METADATA => Some(u64::from_le_bytes(input.array()?)),
            _ => None,
        };
        let len = input.length()?;
        for _ in 0..len {
            let ttl = input.length()?;
            let at = match relative_to {
                Some(min) if ttl != 0 => ttl.saturating_add(min).saturating_sub(1),
                _ => ttl,
            };
            triples.push((input.string()?, input.string()?, at));
        }
    } else {
        if kind == TYPE_HASH_LISTPACK_EX {
            input.array::<8>()?;
        }
        let blob = input.string()?;
        let items = listpack::decode(&blob).or_else(|why| input.error(format!("corrupt hash listpack: {why}")))?;
        if !items.len().is_multiple_of(3) {
            return input.error("corrupt hash listpack: entries are not field, value, TTL triples");
        }
        for triple in items.chunks_exact(3) {
            let Element::Int(at) = triple[2] else {
                return input.error("corrupt hash listpack: a TTL that is not an integer");
            };
            triples.push((triple[0].to_vec(), triple[1].to_vec(), at as u64));
        }
    }
    let mut hash = Hash::new();
    for (field, value, at) in triples {
        if at > MAX_STORED_EXPIRE_MS {
            return input.error(format!("invalid hash field expiry {at}"));
        }
        hash.set(&field, &value, limits);
        if at != 0 {
            hash.set_field_expire_at(&field, Some(at));
        }
    }
    Ok((!hash.is_empty()).then(|| Value::Hash(Box::new(hash))))
}
