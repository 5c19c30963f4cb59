//! Module-typed values in RDB form (`RDB_TYPE_MODULE_2`): the JSON type, saved as RedisJSON saves it at
//! encoding version 3 (the document's compact text as one string), so a `dump.rdb` or a `DUMP` payload
//! with JSON keys loads into a Redis with RedisJSON, and RedisJSON's version 2 and 3 values load into Keel.
//!
//! A module value is the type byte, the module type's 64-bit id (its 9-character name in 6-bit
//! characters, then the encoding version in 10 bits) as an RDB length, then what the module saved, each
//! item behind an opcode (`STRING`, `UINT`, ...), and `EOF`.

use crate::format::{put_len, put_string, Input, RdbResult};
use keel_store::json::{Document, Json};
use keel_store::Value;
use std::io::Read;

pub const TYPE_MODULE_2: u8 = 7;

const NAME_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const JSON_TYPE_NAME: &[u8; 9] = b"ReJSON-RL";
/// The version Keel writes: the text form, which every RedisJSON since 2.0 reads.
const JSON_ENCODING_VERSION: u64 = 3;

const OPCODE_EOF: u64 = 0;
const OPCODE_UINT: u64 = 2;
const OPCODE_STRING: u64 = 5;

/// Redis's `moduleTypeEncodeId`.
fn type_id(name: &[u8; 9], version: u64) -> u64 {
    let chars = name.iter().map(|c| NAME_CHARS.iter().position(|n| n == c).unwrap_or(0) as u64);
    (chars.fold(0, |id, pos| (id << 6) | pos) << 10) | version
}

/// Appends a JSON document as RedisJSON's value (type byte included).
pub fn write_json(out: &mut Vec<u8>, json: &Document) {
    out.push(TYPE_MODULE_2);
    put_len(out, type_id(JSON_TYPE_NAME, JSON_ENCODING_VERSION));
    put_len(out, OPCODE_STRING);
    put_string(out, &json.root().to_text(), false);
    put_len(out, OPCODE_EOF);
}

/// Reads a module value after its type byte: a JSON document, or an error naming a module Keel lacks.
pub fn read_module<R: Read>(input: &mut Input<R>) -> RdbResult<Value> {
    let id = input.length()?;
    let version = id & 1023;
    if id >> 10 != type_id(JSON_TYPE_NAME, 0) >> 10 {
        return input.error(format!("a value of module type id {id:#x}, which Keel does not have"));
    }
    if !(2..=3).contains(&version) {
        return input.error(format!("JSON encoding version {version}, Keel reads versions 2 and 3"));
    }
    if input.length()? != OPCODE_STRING {
        return input.error("a JSON value that does not start with its text");
    }
    let text = input.string()?;
    // Version 2 follows the text with a count of search-index fields (two strings each).
    if version == 2 {
        if input.length()? != OPCODE_UINT {
            return input.error("a version 2 JSON value without its field count");
        }
        let fields = input.length()?;
        for _ in 0..fields.saturating_mul(2) {
            if input.length()? != OPCODE_STRING {
                return input.error("a version 2 JSON value with a malformed field");
            }
            input.string()?;
        }
    }
    if input.length()? != OPCODE_EOF {
        return input.error("a JSON value with more than its text");
    }
    match Json::parse(&text) {
        Ok(json) => Ok(Value::Json(Box::new(Document::new(json)))),
        Err(e) => input.error(format!("a JSON value that does not parse: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_type_id_is_redisjsons() {
        // RedisJSON registers "ReJSON-RL"; Redis prints a module type's id with its name and version.
        let id = type_id(JSON_TYPE_NAME, 3);
        assert_eq!(id & 1023, 3);
        let mut name = Vec::new();
        for shift in (0..9).rev() {
            name.push(NAME_CHARS[((id >> (10 + 6 * shift)) & 63) as usize]);
        }
        assert_eq!(&name, JSON_TYPE_NAME);
    }
}
