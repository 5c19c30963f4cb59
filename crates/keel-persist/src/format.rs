//! The building blocks of Redis's RDB serialization: type and opcode numbers, length encoding, string
//! encoding (integers, LZF compression), and a reader that knows its byte offset for error messages.

use std::io::Read;

/// The RDB version Keel writes: Redis 7.0's, so that its files load in Redis 7.0 and later.
pub const RDB_VERSION: u16 = 10;
/// The newest RDB version Keel reads (Redis 7.4 to 8.2 write 12); it reads every version from 1.
pub const MAX_READ_VERSION: u16 = 12;

pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;
pub const TYPE_SET_LISTPACK: u8 = 20;
pub const TYPE_STREAM_LISTPACKS_3: u8 = 21;

pub const OPCODE_SLOT_INFO: u8 = 244;
pub const OPCODE_FUNCTION2: u8 = 245;
pub const OPCODE_FUNCTION: u8 = 246;
pub const OPCODE_MODULE_AUX: u8 = 247;
pub const OPCODE_IDLE: u8 = 248;
pub const OPCODE_FREQ: u8 = 249;
pub const OPCODE_AUX: u8 = 250;
pub const OPCODE_RESIZEDB: u8 = 251;
pub const OPCODE_EXPIRETIME_MS: u8 = 252;
pub const OPCODE_EXPIRETIME: u8 = 253;
pub const OPCODE_SELECTDB: u8 = 254;
pub const OPCODE_EOF: u8 = 255;

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Quicklist node containers.
pub const QUICKLIST_NODE_PLAIN: u64 = 1;
pub const QUICKLIST_NODE_PACKED: u64 = 2;

/// Redis's CRC-64 (Jones polynomial), which ends RDB files and DUMP payloads.
pub static CRC64: crc::Crc<u64, crc::Table<16>> = crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_REDIS);

/// A malformed or truncated RDB stream, with the byte offset where reading failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdbError {
    pub offset: u64,
    pub message: String,
}

impl std::fmt::Display for RdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte offset {}", self.message, self.offset)
    }
}

impl std::error::Error for RdbError {}

pub type RdbResult<T> = Result<T, RdbError>;

/// Appends Redis's length encoding of `len`.
pub fn put_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&[((len >> 8) as u8) | 0x40, len as u8]);
    } else if len <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Appends an integer in the smallest of Redis's integer string encodings, if it fits in 32 bits.
fn put_int_encoded(out: &mut Vec<u8>, n: i64) -> bool {
    if let Ok(n) = i8::try_from(n) {
        out.extend_from_slice(&[0xC0 | ENC_INT8, n as u8]);
    } else if let Ok(n) = i16::try_from(n) {
        out.push(0xC0 | ENC_INT16);
        out.extend_from_slice(&n.to_le_bytes());
    } else if let Ok(n) = i32::try_from(n) {
        out.push(0xC0 | ENC_INT32);
        out.extend_from_slice(&n.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Appends an integer-valued string as Redis's `rdbSaveLongLongAsStringObject` does.
pub fn put_int_string(out: &mut Vec<u8>, n: i64) {
    if !put_int_encoded(out, n) {
        let text = n.to_string();
        put_len(out, text.len() as u64);
        out.extend_from_slice(text.as_bytes());
    }
}

/// Appends a string as Redis's `rdbSaveRawString` does: integers of up to 11 characters as integers,
/// strings over 20 bytes LZF-compressed when that saves at least 4 bytes, the rest raw.
pub fn put_string(out: &mut Vec<u8>, bytes: &[u8], compress: bool) {
    if bytes.len() <= 11 {
        if let Some(n) = keel_store::number::parse_i64(bytes) {
            if put_int_encoded(out, n) {
                return;
            }
        }
    }
    if compress && bytes.len() > 20 {
        let written = crate::compression::with_compressed(bytes, bytes.len() - 4, |packed| {
            out.push(0xC0 | ENC_LZF);
            put_len(out, packed.len() as u64);
            put_len(out, bytes.len() as u64);
            out.extend_from_slice(packed);
        });
        if written.is_some() {
            return;
        }
    }
    put_len(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends a double in the binary form of `RDB_TYPE_ZSET_2` (IEEE 754, little-endian).
pub fn put_binary_double(out: &mut Vec<u8>, value: f64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// A length, or one of the special string encodings.
enum Len {
    Plain(u64),
    Encoded(u8),
}

/// Reads an RDB stream, counting bytes so that errors can say where they happened. A corrupt length never
/// makes it allocate more than the stream holds: strings are read in bounded steps.
pub struct Input<R> {
    inner: R,
    offset: u64,
    /// The longest string accepted (the protocol's bulk limit), so a corrupt length fails fast.
    max_string: u64,
}

impl<R: Read> Input<R> {
    pub fn new(inner: R, max_string: u64) -> Input<R> {
        Input { inner, offset: 0, max_string }
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn error<T>(&self, message: impl Into<String>) -> RdbResult<T> {
        Err(RdbError { offset: self.offset, message: message.into() })
    }

    pub fn exact(&mut self, buf: &mut [u8]) -> RdbResult<()> {
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.offset += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => self.error("unexpected end of file"),
            Err(e) => self.error(format!("read error: {e}")),
        }
    }

    pub fn u8(&mut self) -> RdbResult<u8> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    pub fn array<const N: usize>(&mut self) -> RdbResult<[u8; N]> {
        let mut b = [0u8; N];
        self.exact(&mut b)?;
        Ok(b)
    }

    /// Reads `len` bytes without trusting `len` for the allocation.
    pub fn bytes(&mut self, len: u64) -> RdbResult<Vec<u8>> {
        if len > self.max_string {
            return self.error(format!("string length {len} exceeds the limit"));
        }
        let mut out = Vec::with_capacity(len.min(1 << 20) as usize);
        match (&mut self.inner).take(len).read_to_end(&mut out) {
            Ok(n) if n as u64 == len => {
                self.offset += len;
                Ok(out)
            }
            Ok(n) => {
                self.offset += n as u64;
                self.error("unexpected end of file")
            }
            Err(e) => self.error(format!("read error: {e}")),
        }
    }

    fn len_or_encoding(&mut self) -> RdbResult<Len> {
        let first = self.u8()?;
        Ok(match first >> 6 {
            0 => Len::Plain((first & 0x3F) as u64),
            1 => Len::Plain((((first & 0x3F) as u64) << 8) | self.u8()? as u64),
            2 => match first {
                0x80 => Len::Plain(u32::from_be_bytes(self.array()?) as u64),
                0x81 => Len::Plain(u64::from_be_bytes(self.array()?)),
                _ => return self.error(format!("unknown length encoding {first:#x}")),
            },
            _ => Len::Encoded(first & 0x3F),
        })
    }

    pub fn length(&mut self) -> RdbResult<u64> {
        match self.len_or_encoding()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => self.error("expected a length, found a string encoding"),
        }
    }

    /// A string in any of its encodings, as bytes.
    pub fn string(&mut self) -> RdbResult<Vec<u8>> {
        match self.len_or_encoding()? {
            Len::Plain(n) => self.bytes(n),
            Len::Encoded(ENC_INT8) => Ok((self.u8()? as i8).to_string().into_bytes()),
            Len::Encoded(ENC_INT16) => Ok(i16::from_le_bytes(self.array()?).to_string().into_bytes()),
            Len::Encoded(ENC_INT32) => Ok(i32::from_le_bytes(self.array()?).to_string().into_bytes()),
            Len::Encoded(ENC_LZF) => {
                let packed_len = self.length()?;
                let len = self.length()?;
                if len > self.max_string {
                    return self.error(format!("string length {len} exceeds the limit"));
                }
                let packed = self.bytes(packed_len)?;
                match lzf::decompress(&packed, len as usize) {
                    Ok(bytes) if bytes.len() as u64 == len => Ok(bytes),
                    _ => self.error("invalid LZF compressed string"),
                }
            }
            Len::Encoded(other) => self.error(format!("unknown string encoding {other}")),
        }
    }

    /// A double in the old textual form of `RDB_TYPE_ZSET` (a length byte, with 253..255 for nan/inf/-inf).
    pub fn text_double(&mut self) -> RdbResult<f64> {
        match self.u8()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            len => {
                let text = self.bytes(len as u64)?;
                match std::str::from_utf8(&text).ok().and_then(|t| t.parse::<f64>().ok()) {
                    Some(v) => Ok(v),
                    None => self.error("invalid double"),
                }
            }
        }
    }

    pub fn binary_double(&mut self) -> RdbResult<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_string(bytes: &[u8]) -> Vec<u8> {
        Input::new(bytes, u64::MAX).string().unwrap()
    }

    #[test]
    fn lengths_round_trip_at_every_width() {
        for len in [0u64, 63, 64, 16383, 16384, u32::MAX as u64, u32::MAX as u64 + 1, u64::MAX] {
            let mut out = Vec::new();
            put_len(&mut out, len);
            assert_eq!(Input::new(&out[..], u64::MAX).length().unwrap(), len);
        }
    }

    #[test]
    fn strings_use_redis_encodings() {
        let mut out = Vec::new();
        put_string(&mut out, b"12", true);
        assert_eq!(out, [0xC0, 12]);
        out.clear();
        put_string(&mut out, b"-32768", true);
        assert_eq!(out, [0xC1, 0x00, 0x80]);
        out.clear();
        put_string(&mut out, b"012", true);
        assert_eq!(out, [3, b'0', b'1', b'2']);
        let long = vec![b'a'; 100];
        out.clear();
        put_string(&mut out, &long, true);
        assert_eq!(out[0], 0xC3);
        assert_eq!(read_string(&out), long);
        out.clear();
        put_string(&mut out, &long, false);
        assert_eq!(out.len(), 102);
    }

    #[test]
    fn a_corrupt_length_fails_without_allocating_it() {
        let mut bytes = vec![0x81];
        bytes.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(Input::new(&bytes[..], 1 << 29).string().is_err());
        let mut bytes = vec![0x80];
        bytes.extend_from_slice(&1_000_000u32.to_be_bytes());
        let err = Input::new(&bytes[..], u64::MAX).string().unwrap_err();
        assert_eq!(err.message, "unexpected end of file");
    }
}
