//! keel-store: the data a database holds, with no I/O and no async.
//!
//! - [`CompactBytes`]: a 16-byte string that keeps up to 15 bytes inline (most keys and small values).
//! - [`Value`]: what a key holds, 16 bytes, integers stored as integers.
//! - [`Db`]: one logical database: a dense entry table with a hash index, expiry, LRU/LFU metadata,
//!   random sampling, cursor scans and memory accounting.
//! - [`glob`]: Redis's glob-style pattern matching; [`number`]: Redis's textual number rules.

mod compact;
pub mod glob;
mod keyspace;
pub mod number;
mod object;
mod value;

pub use compact::CompactBytes;
pub use keyspace::{Db, Expiry};
pub use object::{lfu_decay, lfu_log_incr, AccessClock, LFU_INIT_VAL};
pub use value::{StrRef, Value, ValueKind};
