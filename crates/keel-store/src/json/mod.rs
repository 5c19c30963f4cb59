//! JSON documents (the `ReJSON-RL` type of RedisJSON and Redis 8): the value tree, parsed once when it is
//! set and kept as a tree, so commands read and update it in place instead of re-parsing text.
//!
//! - [`Json`]: null, booleans, integers kept exact (`i64`), floats, strings, arrays, and objects that keep
//!   their members in insertion order, as RedisJSON does.
//! - [`Json::parse`] reads JSON text (serde_json's parser and its error texts); [`Json::write`] prints it
//!   compactly or with RedisJSON's `INDENT`/`NEWLINE`/`SPACE` layout, floats as RedisJSON prints them.
//! - [`Document`]: what a key holds, a value and its size kept up to date by each edit.
//! - [`path`]: the legacy dot paths and JSONPath (`$..a`, `[*]`, slices, filters), evaluated to the
//!   locations they select, so that updates can address each match.

mod document;
mod edit;
pub mod path;
mod select;

pub use document::{heap, Document};
pub use edit::{outermost, write_list};
pub use select::Loc;

use indexmap::IndexMap;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// An object's members, in insertion order.
pub type Object = IndexMap<String, Json>;

/// One JSON value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Json {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    /// Boxed, so that every value is as small as a string or an array (32 bytes, not 72).
    Object(Box<Object>),
}

/// How [`Json::write`] lays out text: what goes before each nested line (per level), at each line break and
/// after each `:`. All empty: the compact form.
#[derive(Debug, Clone, Copy, Default)]
pub struct Layout<'a> {
    pub indent: &'a [u8],
    pub newline: &'a [u8],
    pub space: &'a [u8],
}

/// The deepest nesting a document may have (RedisJSON's recursion limit).
pub const MAX_DEPTH: usize = 128;

impl Json {
    /// Parses JSON text; the error is serde_json's description (`expected value at line 1 column 2`).
    pub fn parse(text: &[u8]) -> Result<Json, String> {
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        let value = Json::deserialize(&mut deserializer).map_err(|e| e.to_string())?;
        deserializer.end().map_err(|e| e.to_string())?;
        if value.nesting() > MAX_DEPTH {
            return Err("recursion limit exceeded".into());
        }
        Ok(value)
    }

    /// The type's name as `JSON.TYPE` answers it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Int(_) => "integer",
            Json::Float(_) => "number",
            Json::Str(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }

    /// The compact text of the value.
    pub fn to_text(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out, &Layout::default());
        out
    }

    /// Appends the value's text laid out as `layout` says; each value written is a step of work for
    /// `keel_pace` (the text of a huge document does not keep its worker from other clients).
    pub fn write(&self, out: &mut Vec<u8>, layout: &Layout) {
        self.write_at(out, layout, 0);
    }

    fn write_at(&self, out: &mut Vec<u8>, layout: &Layout, level: usize) {
        keel_pace::step();
        match self {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(true) => out.extend_from_slice(b"true"),
            Json::Bool(false) => out.extend_from_slice(b"false"),
            Json::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Json::Float(f) => write_float(out, *f),
            Json::Str(s) => write_string(out, s),
            Json::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    new_line(out, layout, level + 1);
                    item.write_at(out, layout, level + 1);
                }
                if !items.is_empty() {
                    new_line(out, layout, level);
                }
                out.push(b']');
            }
            Json::Object(members) => {
                out.push(b'{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    new_line(out, layout, level + 1);
                    write_string(out, key);
                    out.push(b':');
                    out.extend_from_slice(layout.space);
                    value.write_at(out, layout, level + 1);
                }
                if !members.is_empty() {
                    new_line(out, layout, level);
                }
                out.push(b'}');
            }
        }
    }

    /// The bytes the value takes, for quotas, eviction and `JSON.DEBUG MEMORY`.
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Json>()
            + match self {
                Json::Str(s) => s.capacity(),
                Json::Array(items) => {
                    (items.capacity() - items.len()) * std::mem::size_of::<Json>()
                        + items.iter().map(Json::memory).sum::<usize>()
                }
                Json::Object(members) => {
                    members.iter().map(|(k, v)| std::mem::size_of::<String>() + k.capacity() + 8 + v.memory()).sum()
                }
                _ => 0,
            }
    }

    /// The number this value is, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Int(n) => Some(*n as f64),
            Json::Float(f) => Some(*f),
            _ => None,
        }
    }
}

fn new_line(out: &mut Vec<u8>, layout: &Layout, level: usize) {
    out.extend_from_slice(layout.newline);
    for _ in 0..level {
        out.extend_from_slice(layout.indent);
    }
}

/// A float as RedisJSON prints it (serde_json's shortest round-trip form: `1.5`, `3.0`, `1e+20`).
pub fn write_float(out: &mut Vec<u8>, value: f64) {
    match serde_json::to_vec(&value) {
        Ok(text) => out.extend_from_slice(&text),
        Err(_) => out.extend_from_slice(b"null"),
    }
}

/// A string quoted and escaped as JSON.
pub fn write_string(out: &mut Vec<u8>, text: &str) {
    if serde_json::to_writer(&mut *out, text).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

/// A number's text as a JSON number: integers that fit stay exact, the rest become floats.
fn number(text: &str) -> Option<Json> {
    if let Ok(n) = text.parse::<i64>() {
        return Some(Json::Int(n));
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite()).map(Json::Float)
}

/// The key under which serde_json (with `arbitrary_precision`, as other crates in the build enable it)
/// hands a number to a visitor as its text.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(i64::try_from(v).map_or(Json::Float(v as f64), Json::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Json>()? {
            items.push(item);
        }
        items.shrink_to_fit();
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Object::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == NUMBER_TOKEN && members.is_empty() {
                let text: String = map.next_value()?;
                return number(&text).ok_or_else(|| serde::de::Error::custom("number out of range"));
            }
            let value: Json = map.next_value()?;
            members.insert(key, value);
        }
        members.shrink_to_fit();
        Ok(Json::Object(Box::new(members)))
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

#[cfg(test)]
mod tests;
