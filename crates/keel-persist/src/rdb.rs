//! Whole RDB files (version 10, as Redis 7.0 writes them): a streaming encoder that a snapshot feeds entry by
//! entry (databases may be revisited: a point-in-time snapshot writes an entry out of order when a client is
//! about to change it), and a streaming loader that checks the CRC-64 trailer.

use crate::format::*;
use crate::value::{read_value, write_value, Limits};
use keel_store::Value;
use std::io::Read;

/// Builds an RDB stream in memory, chunk by chunk; the caller moves `buf` to disk as it grows and computes
/// the checksum over everything it moved (see [`RdbSink`]).
pub struct RdbEncoder {
    pub buf: Vec<u8>,
    db: Option<usize>,
    compress: bool,
}

impl RdbEncoder {
    pub fn new(compress: bool) -> RdbEncoder {
        RdbEncoder { buf: Vec::with_capacity(64 * 1024), db: None, compress }
    }

    /// The magic, the version and the auxiliary fields.
    pub fn header(&mut self, aux: &[(&str, String)]) {
        self.buf.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        for (name, value) in aux {
            self.buf.push(OPCODE_AUX);
            put_string(&mut self.buf, name.as_bytes(), false);
            put_string(&mut self.buf, value.as_bytes(), false);
        }
    }

    /// Starts database `db` with its size hints.
    pub fn begin_db(&mut self, db: usize, keys: usize, volatile: usize) {
        self.select(db);
        self.buf.push(OPCODE_RESIZEDB);
        put_len(&mut self.buf, keys as u64);
        put_len(&mut self.buf, volatile as u64);
    }

    fn select(&mut self, db: usize) {
        if self.db != Some(db) {
            self.buf.push(OPCODE_SELECTDB);
            put_len(&mut self.buf, db as u64);
            self.db = Some(db);
        }
    }

    pub fn entry(&mut self, db: usize, key: &[u8], value: &Value, expire_ms: Option<u64>) {
        self.select(db);
        if let Some(at) = expire_ms {
            self.buf.push(OPCODE_EXPIRETIME_MS);
            self.buf.extend_from_slice(&at.to_le_bytes());
        }
        let type_at = self.buf.len();
        write_value(&mut self.buf, value, self.compress);
        // The key goes between the type byte and the payload: move the payload up by the key's size.
        let mut key_bytes = Vec::with_capacity(key.len() + 5);
        put_string(&mut key_bytes, key, self.compress);
        let payload_at = type_at + 1;
        self.buf.splice(payload_at..payload_at, key_bytes);
    }

    /// A FUNCTION library, as its source code (Redis 7's `RDB_OPCODE_FUNCTION2`).
    pub fn function(&mut self, code: &[u8]) {
        self.buf.push(OPCODE_FUNCTION2);
        put_string(&mut self.buf, code, self.compress);
    }

    /// The end-of-file opcode; the sink appends the checksum.
    pub fn finish(&mut self) {
        self.buf.push(OPCODE_EOF);
    }
}

/// Running CRC-64 over the bytes of an RDB stream as they are written.
pub struct RdbSink {
    digest: crc::Digest<'static, u64, crc::Table<16>>,
    pub written: u64,
}

impl Default for RdbSink {
    fn default() -> Self {
        RdbSink { digest: CRC64.digest(), written: 0 }
    }
}

impl RdbSink {
    pub fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
        self.written += bytes.len() as u64;
    }

    /// The 8-byte trailer for everything passed to [`RdbSink::update`].
    pub fn trailer(self) -> [u8; 8] {
        self.digest.finalize().to_le_bytes()
    }
}

/// What a loaded file holds besides its keys.
#[derive(Debug, Default)]
pub struct LoadSummary {
    pub version: u16,
    pub aux: Vec<(String, Vec<u8>)>,
    pub functions: Vec<Vec<u8>>,
    pub keys: u64,
    pub skipped_empty: u64,
    pub bytes: u64,
}

/// One key read from a file.
pub struct LoadedEntry {
    /// Bytes of the stream read so far (for loading progress).
    pub offset: u64,
    pub db: usize,
    pub key: Vec<u8>,
    pub value: Value,
    pub expire_ms: Option<u64>,
}

/// A reader that keeps a CRC-64 of every byte read through it.
struct Hashing<R> {
    inner: R,
    digest: crc::Digest<'static, u64, crc::Table<16>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }
}

/// Loads an RDB stream, passing every key to `visit`. Stops at the first malformed byte with its offset.
/// `databases` bounds SELECTDB.
pub fn load<R: Read>(
    reader: R,
    limits: &Limits,
    databases: usize,
    mut visit: impl FnMut(LoadedEntry),
) -> RdbResult<LoadSummary> {
    let mut input = Input::new(Hashing { inner: reader, digest: CRC64.digest() }, limits.max_string);
    let magic: [u8; 9] = input.array()?;
    if &magic[..5] != b"REDIS" {
        return Err(RdbError { offset: 0, message: "wrong signature, not an RDB file".into() });
    }
    let version = std::str::from_utf8(&magic[5..]).ok().and_then(|v| v.parse::<u16>().ok());
    let version = match version {
        Some(v) if (1..=MAX_READ_VERSION).contains(&v) => v,
        _ => return Err(RdbError { offset: 5, message: "unsupported RDB version".into() }),
    };
    let mut summary = LoadSummary { version, ..Default::default() };
    let mut db = 0usize;
    let mut expire_ms = None;
    loop {
        let kind = input.u8()?;
        match kind {
            OPCODE_EOF => break,
            OPCODE_AUX => {
                let name = input.string()?;
                let value = input.string()?;
                summary.aux.push((String::from_utf8_lossy(&name).into_owned(), value));
            }
            OPCODE_SELECTDB => {
                let n = input.length()?;
                if n >= databases as u64 {
                    return input.error(format!("database {n} is out of range (databases is {databases})"));
                }
                db = n as usize;
            }
            OPCODE_RESIZEDB => {
                input.length()?;
                input.length()?;
            }
            OPCODE_EXPIRETIME_MS => expire_ms = Some(u64::from_le_bytes(input.array()?)),
            OPCODE_EXPIRETIME => expire_ms = Some(u32::from_le_bytes(input.array()?) as u64 * 1000),
            OPCODE_IDLE => {
                input.length()?;
            }
            OPCODE_FREQ => {
                input.u8()?;
            }
            OPCODE_FUNCTION2 => summary.functions.push(input.string()?),
            OPCODE_SLOT_INFO => {
                // A cluster node's slot sizes (RDB 12): slot, keys, keys with a TTL. Only a hint.
                for _ in 0..3 {
                    input.length()?;
                }
            }
            OPCODE_FUNCTION | OPCODE_MODULE_AUX => {
                return input.error("module data and pre-release function records are not supported");
            }
            _ => {
                let key = input.string()?;
                match read_value(&mut input, kind, limits)? {
                    Some(value) => {
                        summary.keys += 1;
                        visit(LoadedEntry { offset: input.offset(), db, key, value, expire_ms });
                    }
                    None => summary.skipped_empty += 1,
                }
                expire_ms = None;
            }
        }
    }
    let expected = input.get_ref().digest.clone().finalize();
    if version >= 5 {
        let trailer = u64::from_le_bytes(input.array()?);
        // A zero trailer means the writer had `rdbchecksum no`.
        if trailer != 0 && trailer != expected {
            return input.error("RDB checksum mismatch");
        }
    }
    summary.bytes = input.offset();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_store::{End, List};

    fn file(entries: &[(usize, &[u8], Value, Option<u64>)]) -> Vec<u8> {
        let mut enc = RdbEncoder::new(true);
        enc.header(&[("redis-ver", "7.0.15".to_string())]);
        for (db, key, value, expire) in entries {
            enc.entry(*db, key, value, *expire);
        }
        enc.finish();
        let mut sink = RdbSink::default();
        sink.update(&enc.buf);
        let mut bytes = enc.buf;
        bytes.extend_from_slice(&sink.trailer());
        bytes
    }

    #[test]
    fn a_file_round_trips_with_databases_and_expiries() {
        let mut list = List::new();
        list.push(End::Right, b"x");
        let bytes = file(&[
            (0, b"a", Value::string(b"1"), None),
            (3, b"b", Value::List(Box::new(list)), Some(1_900_000_000_000)),
            (0, b"c", Value::string(&[b'z'; 300]), None),
        ]);
        let mut seen = Vec::new();
        let summary = load(&bytes[..], &Limits::default(), 16, |e| seen.push((e.db, e.key, e.expire_ms))).unwrap();
        assert_eq!(summary.keys, 3);
        assert_eq!(
            seen,
            vec![(0, b"a".to_vec(), None), (3, b"b".to_vec(), Some(1_900_000_000_000)), (0, b"c".to_vec(), None)]
        );
    }

    #[test]
    fn a_flipped_byte_is_reported_with_its_offset() {
        let mut bytes = file(&[(0, b"key", Value::string(b"value"), None)]);
        let at = bytes.len() - 12;
        bytes[at] ^= 0x20;
        let err = load(&bytes[..], &Limits::default(), 16, |_| {}).unwrap_err();
        assert!(err.message.contains("checksum"), "{err}");
        let truncated = &bytes[..bytes.len() - 5];
        let err = load(truncated, &Limits::default(), 16, |_| {}).unwrap_err();
        assert_eq!(err.message, "unexpected end of file");
    }
}
