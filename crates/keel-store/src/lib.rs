//! keel-store: the data a database holds, with no I/O and no async.
//!
//! - [`CompactBytes`]: a 16-byte string that keeps up to 15 bytes inline (most keys and small values).
//! - [`Value`]: what a key holds, 16 bytes, integers stored as integers; [`List`], [`Hash`], [`Set`] and
//!   [`ZSet`] with Redis's compact encodings.
//! - [`dense::DenseTable`]: the dense table with a hash index that the keyspace, hashes and sets share.
//! - [`Db`]: one logical database: a dense entry table with a hash index, expiry, LRU/LFU metadata,
//!   random sampling, cursor scans and memory accounting.
//! - [`bitmap`]: bit-level reads and writes on strings (SETBIT, BITCOUNT, BITPOS, BITFIELD).
//! - [`geohash`]: Redis's 52-bit geohash scores, search cells and distances (the GEO commands).
//! - [`stream`] and [`stream_group`]: streams in packed nodes, and their consumer groups.
//! - [`hyperloglog`]: Redis's HyperLogLog format and estimator (PFADD, PFCOUNT, PFMERGE).
//! - [`evict`]: choosing `maxmemory` victims by Redis's sampled policies.
//! - [`glob`]: Redis's glob-style pattern matching; [`number`]: Redis's textual number rules.

pub mod bitmap;
mod compact;
pub mod dense;
pub mod evict;
pub mod geohash;
pub mod glob;
mod hash;
mod hash_ttl;
pub mod hyperloglog;
pub mod json;
mod keyspace;
mod list;
pub mod long_double;
pub mod number;
mod object;
mod set;
pub mod stream;
pub mod stream_group;
mod thin_bytes;
mod value;
mod zset;
mod zset_tree;

pub use compact::CompactBytes;
pub use hash::{Hash, HashLimits};
pub use hash_ttl::MAX_FIELD_EXPIRE_MS;
pub use keyspace::{bin_label, CaptureSink, Db, ExpiredKeys, Expiry, Flushed, SIZE_KINDS};
pub use list::{End, List};
pub use object::{lfu_decay, lfu_log_incr, AccessClock, LFU_INIT_VAL};
pub use set::{Set, SetLimits};
pub use stream::{Stream, StreamId};
pub use value::{Collection, StrRef, Value, ValueKind};
pub use zset::{ZSet, ZSetLimits};
