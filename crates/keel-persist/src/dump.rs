//! `DUMP` payloads: one value in RDB form, then the RDB version (2 bytes, little-endian) and a CRC-64 of
//! everything before it (8 bytes, little-endian), byte-compatible with Redis's `DUMP`/`RESTORE`.

use crate::format::{Input, RdbError, CRC64, RDB_VERSION};
use crate::value::{read_value, write_value, Limits};
use keel_store::Value;

/// Serializes `value` as Redis's `DUMP` does.
pub fn dump(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, value, true);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Why a payload cannot be restored, with Redis's texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreError {
    /// Too short, a newer RDB version, or a checksum mismatch.
    VersionOrChecksum,
    /// The value itself does not parse.
    BadFormat(RdbError),
}

impl RestoreError {
    pub fn message(&self) -> &'static str {
        match self {
            RestoreError::VersionOrChecksum => "ERR DUMP payload version or checksum are wrong",
            RestoreError::BadFormat(_) => "ERR Bad data format",
        }
    }
}

/// Parses a `DUMP` payload. `None` is an empty collection, which Redis refuses too.
pub fn restore(payload: &[u8], limits: &Limits) -> Result<Option<Value>, RestoreError> {
    if payload.len() < 10 {
        return Err(RestoreError::VersionOrChecksum);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..10].try_into().map_err(|_| RestoreError::VersionOrChecksum)?);
    if version > RDB_VERSION || CRC64.checksum(&payload[..payload.len() - 8]) != crc {
        return Err(RestoreError::VersionOrChecksum);
    }
    let mut input = Input::new(body, limits.max_string);
    let kind = input.u8().map_err(RestoreError::BadFormat)?;
    read_value(&mut input, kind, limits).map_err(RestoreError::BadFormat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_dump_of_a_small_string() {
        // `SET k hello` then `DUMP k` in Redis 7.0.15.
        let expected = b"\x00\x05hello\x0a\x00\x63\x72\xdf\x76\x65\x34\x20\x0a";
        assert_eq!(dump(&Value::string(b"hello")), expected.to_vec());
    }

    #[test]
    fn rejects_a_flipped_bit() {
        let mut payload = dump(&Value::string(b"hello"));
        payload[2] ^= 1;
        assert_eq!(restore(&payload, &Limits::default()).err(), Some(RestoreError::VersionOrChecksum));
    }
}
