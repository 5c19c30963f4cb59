//! `DUMP` payloads: one value in RDB form, then the RDB version (2 bytes, little-endian) and a CRC-64 of
//! everything before it (8 bytes, little-endian), byte-compatible with Redis's `DUMP`/`RESTORE`.

use crate::format::{put_string, Input, RdbError, CRC64, MAX_READ_VERSION, OPCODE_FUNCTION2, RDB_VERSION};
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

/// Serializes FUNCTION libraries as Redis's `FUNCTION DUMP` does: one function record per library.
pub fn dump_functions<'a>(codes: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(OPCODE_FUNCTION2);
        put_string(&mut out, code, true);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Why a `FUNCTION RESTORE` payload cannot be read, with Redis's texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionsRestoreError {
    VersionOrChecksum,
    NotAFunction,
    BadFormat,
}

/// The body of a payload whose footer (RDB version, then CRC-64 of all before it) checks out.
fn verified_body(payload: &[u8]) -> Option<&[u8]> {
    let body_len = payload.len().checked_sub(10)?;
    let (body, footer) = payload.split_at(body_len);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..10].try_into().ok()?);
    (version <= MAX_READ_VERSION && CRC64.checksum(&payload[..payload.len() - 8]) == crc).then_some(body)
}

/// The library sources of a `FUNCTION DUMP` payload.
pub fn restore_functions(payload: &[u8], max_string: u64) -> Result<Vec<Vec<u8>>, FunctionsRestoreError> {
    let body = verified_body(payload).ok_or(FunctionsRestoreError::VersionOrChecksum)?;
    let mut input = Input::new(body, max_string);
    let mut codes = Vec::new();
    while input.offset() < body.len() as u64 {
        let opcode = input.u8().map_err(|_| FunctionsRestoreError::BadFormat)?;
        if opcode != OPCODE_FUNCTION2 {
            return Err(FunctionsRestoreError::NotAFunction);
        }
        codes.push(input.string().map_err(|_| FunctionsRestoreError::BadFormat)?);
    }
    Ok(codes)
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
    let body = verified_body(payload).ok_or(RestoreError::VersionOrChecksum)?;
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
    fn function_payloads_round_trip_and_refuse_damage() {
        let codes: [&[u8]; 2] =
            [b"#!lua name=a\nredis.register_function('f', function() return 1 end)", b"#!lua name=b\n"];
        let payload = dump_functions(codes);
        assert_eq!(payload[0], OPCODE_FUNCTION2);
        let restored = restore_functions(&payload, 1 << 20).unwrap();
        assert_eq!(restored, codes.map(<[u8]>::to_vec));
        let mut damaged = payload.clone();
        damaged[3] ^= 1;
        assert_eq!(restore_functions(&damaged, 1 << 20), Err(FunctionsRestoreError::VersionOrChecksum));
        // A key's DUMP is not a functions payload.
        assert_eq!(restore_functions(&dump(&Value::string(b"x")), 1 << 20), Err(FunctionsRestoreError::NotAFunction));
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn restores_redis_8_hashes_with_field_ttls_and_round_trips_them() {
        // Redis 8.0.2: `HSET h a 1 b 2 c 3`, `HPEXPIREAT h 4102444800000 FIELDS 1 a`, `DUMP h` (listpackex,
        // type 25); then with hash-max-listpack-entries 1, the same on a two-field hash (type 24).
        let payloads = [
            "1900d8c32cbb030000242400000009008161020101f400d8c32cbb030000098162020201000181630203010001ff0c00bb89bab362eb4d4c",
            "1800d8c32cbb03000002000162c002010161c0010c00a93667c511ce8eaa",
        ];
        for (payload, fields) in payloads.iter().zip([3, 2]) {
            let Ok(Some(Value::Hash(hash))) = restore(&hex(payload), &Limits::default()) else {
                panic!("restores {payload}")
            };
            assert_eq!(hash.len(), fields);
            assert_eq!(hash.get(b"a"), Some(&b"1"[..]));
            assert_eq!(hash.field_expire_at(b"a"), Some(4102444800000));
            assert_eq!(hash.field_expire_at(b"b"), None);
            let again = dump(&Value::Hash(hash.clone()));
            assert_eq!(again[0], crate::hash_fields::TYPE_HASH_METADATA);
            let Ok(Some(Value::Hash(back))) = restore(&again, &Limits::default()) else { panic!("round trip") };
            let pairs = |h: &keel_store::Hash| {
                let mut v: Vec<_> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec(), h.field_expire_at(f))).collect();
                v.sort();
                v
            };
            assert_eq!(pairs(&back), pairs(&hash));
        }
    }

    #[test]
    fn rejects_a_flipped_bit() {
        let mut payload = dump(&Value::string(b"hello"));
        payload[2] ^= 1;
        assert_eq!(restore(&payload, &Limits::default()).err(), Some(RestoreError::VersionOrChecksum));
    }
}
