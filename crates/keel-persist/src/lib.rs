//! keel-persist: how Keel's data reaches the disk and comes back.
//!
//! - [`format`]: RDB's building blocks (lengths, strings, LZF, CRC-64); [`listpack`] and [`legacy`]: the
//!   compact blobs inside RDB values; [`value`]: one value in RDB form, both ways; [`stream`]: streams' form,
//!   and `hash_fields`: hashes whose fields have TTLs.
//! - [`rdb`]: whole RDB files, streaming, for snapshots and `DEBUG RELOAD`; [`dump`]: `DUMP`/`RESTORE`.
//!
//! Everything here is synchronous and does no I/O of its own beyond the `Read`/`Write` it is given.

pub mod aof;
pub mod check;
mod compression;
pub mod dump;
pub mod format;
mod hash_fields;
pub mod legacy;
pub mod listpack;
pub mod manifest;
pub mod module;
pub mod private_file;
pub mod rdb;
pub mod stream;
pub mod value;

pub use format::RdbError;
pub use value::Limits;
