//! `Value`: what a key holds. 16 bytes; strings that are canonical integers are stored as integers, as
//! Redis's `int` encoding does.

use crate::compact::CompactBytes;
use crate::hash::Hash;
use crate::json::Document;
use crate::list::List;
use crate::number::parse_i64;
use crate::set::Set;
use crate::stream::Stream;
use crate::zset::ZSet;

#[derive(Debug, Clone)]
pub enum Value {
    /// A string in its raw form (`raw`/`embstr` in Redis's words).
    Str(CompactBytes),
    /// A string that is the canonical decimal form of a 64-bit integer (`int` encoding).
    Int(i64),
    List(Box<List>),
    Hash(Box<Hash>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
    Stream(Box<Stream>),
    /// A JSON document (RedisJSON's `ReJSON-RL` module type).
    Json(Box<Document>),
}

/// A collection type a [`Value`] can hold, so that command code can be written once for all of them.
pub trait Collection: Default {
    /// The collection inside `value`, or None when the value holds another type.
    fn of(value: &Value) -> Option<&Self>;
    fn of_mut(value: &mut Value) -> Option<&mut Self>;
    fn into_value(self) -> Value;
    fn is_empty(&self) -> bool;
}

macro_rules! collection {
    ($type:ty, $variant:ident) => {
        impl Collection for $type {
            fn of(value: &Value) -> Option<&Self> {
                match value {
                    Value::$variant(inner) => Some(inner),
                    _ => None,
                }
            }
            fn of_mut(value: &mut Value) -> Option<&mut Self> {
                match value {
                    Value::$variant(inner) => Some(inner),
                    _ => None,
                }
            }
            fn into_value(self) -> Value {
                Value::$variant(Box::new(self))
            }
            fn is_empty(&self) -> bool {
                <$type>::is_empty(self)
            }
        }
    };
}

collection!(List, List);
collection!(Hash, Hash);
collection!(Set, Set);
collection!(ZSet, ZSet);

/// A stream is the one collection Redis keeps when it empties (XDEL, XTRIM): it still holds its last ID
/// and its consumer groups.
impl Collection for Stream {
    fn of(value: &Value) -> Option<&Self> {
        match value {
            Value::Stream(inner) => Some(inner),
            _ => None,
        }
    }
    fn of_mut(value: &mut Value) -> Option<&mut Self> {
        match value {
            Value::Stream(inner) => Some(inner),
            _ => None,
        }
    }
    fn into_value(self) -> Value {
        Value::Stream(Box::new(self))
    }
    fn is_empty(&self) -> bool {
        false
    }
}

/// A JSON document is not dropped when it holds nothing (`{}`, `[]`): `JSON.DEL` decides when its key goes.
impl Collection for Document {
    fn of(value: &Value) -> Option<&Self> {
        match value {
            Value::Json(inner) => Some(inner),
            _ => None,
        }
    }
    fn of_mut(value: &mut Value) -> Option<&mut Self> {
        match value {
            Value::Json(inner) => Some(inner),
            _ => None,
        }
    }
    fn into_value(self) -> Value {
        Value::Json(Box::new(self))
    }
    fn is_empty(&self) -> bool {
        false
    }
}

/// The type of a value, as `TYPE` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    String,
    List,
    Set,
    ZSet,
    Hash,
    Stream,
    Json,
}

impl ValueKind {
    pub fn name(self) -> &'static str {
        match self {
            ValueKind::String => "string",
            ValueKind::List => "list",
            ValueKind::Set => "set",
            ValueKind::ZSet => "zset",
            ValueKind::Hash => "hash",
            ValueKind::Stream => "stream",
            ValueKind::Json => "ReJSON-RL",
        }
    }

    /// The kind `TYPE` would report for `name`, case-insensitively.
    pub fn from_name(name: &[u8]) -> Option<ValueKind> {
        [
            ValueKind::String,
            ValueKind::List,
            ValueKind::Set,
            ValueKind::ZSet,
            ValueKind::Hash,
            ValueKind::Stream,
            ValueKind::Json,
        ]
        .into_iter()
        .find(|k| k.name().as_bytes().eq_ignore_ascii_case(name))
    }
}

impl Value {
    /// A string value, stored as an integer when it is one in canonical form (at most 20 characters).
    pub fn string(bytes: &[u8]) -> Value {
        match integer_form(bytes) {
            Some(n) => Value::Int(n),
            None => Value::Str(CompactBytes::new(bytes)),
        }
    }

    /// Makes the value what [`Value::string`] makes of `bytes`, in place when it is a heap string of the
    /// same length.
    pub fn set_string(&mut self, bytes: &[u8]) {
        if let Some(n) = integer_form(bytes) {
            *self = Value::Int(n);
        } else {
            let rewritten = match self {
                Value::Str(s) => s.rewrite_in_place(bytes),
                _ => false,
            };
            if !rewritten {
                *self = Value::Str(CompactBytes::new(bytes));
            }
        }
    }

    /// Like [`Value::string`], taking ownership to avoid a copy for long strings.
    pub fn string_from_vec(bytes: Vec<u8>) -> Value {
        match integer_form(&bytes) {
            Some(n) => Value::Int(n),
            None => Value::Str(CompactBytes::from_vec(bytes)),
        }
    }

    /// The value as a string, or None when it holds another type.
    pub fn as_string(&self) -> Option<StrRef<'_>> {
        match self {
            Value::Str(s) => Some(StrRef::Raw(s.as_bytes())),
            Value::Int(n) => Some(StrRef::Int(*n)),
            _ => None,
        }
    }

    pub fn kind(&self) -> ValueKind {
        match self {
            Value::Str(_) | Value::Int(_) => ValueKind::String,
            Value::List(_) => ValueKind::List,
            Value::Hash(_) => ValueKind::Hash,
            Value::Set(_) => ValueKind::Set,
            Value::ZSet(_) => ValueKind::ZSet,
            Value::Stream(_) => ValueKind::Stream,
            Value::Json(_) => ValueKind::Json,
        }
    }

    /// Redis's name for the encoding, as `OBJECT ENCODING` reports it.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            // Redis keeps strings up to 44 bytes in the same allocation as the object header.
            Value::Str(s) if s.len() <= 44 => "embstr",
            Value::Str(_) => "raw",
            Value::List(_) => "quicklist",
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
            // A module type's object is `raw` to OBJECT ENCODING.
            Value::Json(_) => "raw",
        }
    }

    /// Where the value's contents begin, for a prefetch: a string's bytes (inline ones are in the value
    /// itself), a collection's header; an integer has none beyond the value.
    pub(crate) fn contents_address(&self) -> *const i8 {
        let address: *const u8 = match self {
            Value::Str(s) => s.as_bytes().as_ptr(),
            Value::Int(n) => (n as *const i64).cast(),
            Value::List(l) => (&**l as *const List).cast(),
            Value::Hash(h) => (&**h as *const Hash).cast(),
            Value::Set(s) => (&**s as *const Set).cast(),
            Value::ZSet(z) => (&**z as *const ZSet).cast(),
            Value::Stream(s) => (&**s as *const Stream).cast(),
            Value::Json(j) => (&**j as *const Document).cast(),
        };
        address.cast()
    }

    /// Starts loading the entry of `member` in a hash's, set's or sorted set's member table (past their
    /// compact encodings); returns its probable position for [`Value::prefetch_member_key`].
    pub(crate) fn prefetch_member(&self, member: &[u8]) -> Option<usize> {
        match self {
            Value::Hash(h) => h.field_table()?.prefetch(member),
            Value::Set(s) => s.member_table()?.prefetch(member),
            Value::ZSet(z) => z.prefetch_member(member),
            _ => None,
        }
    }

    /// Starts loading the bytes of the member at `pos` of the member table (see [`Value::prefetch_member`]).
    pub(crate) fn prefetch_member_key(&self, pos: usize) {
        match self {
            Value::Hash(h) => h.field_table().into_iter().for_each(|t| t.prefetch_key(pos)),
            Value::Set(s) => s.member_table().into_iter().for_each(|t| t.prefetch_key(pos)),
            Value::ZSet(z) => z.prefetch_member_key(pos),
            _ => {}
        }
    }

    /// Heap bytes owned by the value beyond its 16 inline bytes.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            Value::Int(_) => 0,
            Value::List(l) => std::mem::size_of::<List>() + l.heap_size(),
            Value::Hash(h) => std::mem::size_of::<Hash>() + h.heap_size(),
            Value::Set(s) => std::mem::size_of::<Set>() + s.heap_size(),
            Value::ZSet(z) => std::mem::size_of::<ZSet>() + z.heap_size(),
            Value::Stream(s) => std::mem::size_of::<Stream>() + s.heap_size(),
            Value::Json(j) => j.bytes(),
        }
    }
}

/// The integer a string is stored as, when it is the canonical decimal form of one (Redis's `int`
/// encoding); 20 bytes is the longest such form.
fn integer_form(bytes: &[u8]) -> Option<i64> {
    (bytes.len() <= 20).then(|| parse_i64(bytes)).flatten()
}

/// A string value seen as bytes or as the integer it is stored as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrRef<'a> {
    Raw(&'a [u8]),
    Int(i64),
}

impl StrRef<'_> {
    pub fn to_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            StrRef::Raw(b) => std::borrow::Cow::Borrowed(b),
            StrRef::Int(n) => std::borrow::Cow::Owned(n.to_string().into_bytes()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            StrRef::Raw(b) => b.len(),
            StrRef::Int(n) => crate::number::decimal_len(*n),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
    }

    #[test]
    fn set_string_reuses_a_heap_string_of_the_same_length_only() {
        let mut value = Value::string(b"sixteen bytes!!!");
        let first = value.contents_address();
        value.set_string(b"SIXTEEN BYTES???");
        assert_eq!((value.contents_address(), value.as_string()), (first, Some(StrRef::Raw(b"SIXTEEN BYTES???"))));
        value.set_string(b"seventeen bytes!!");
        assert_eq!(value.as_string(), Some(StrRef::Raw(b"seventeen bytes!!")));
        value.set_string(b"12345678901234567");
        assert!(matches!(value, Value::Int(12345678901234567)), "as Value::string would have it");
        value.set_string(b"short");
        assert_eq!((value.as_string(), value.heap_size()), (Some(StrRef::Raw(b"short")), 0));
    }

    #[test]
    fn integers_are_stored_as_integers_only_when_canonical() {
        assert!(matches!(Value::string(b"123"), Value::Int(123)));
        assert!(matches!(Value::string(b"-9223372036854775808"), Value::Int(i64::MIN)));
        assert!(matches!(Value::string(b"0123"), Value::Str(_)));
        assert!(matches!(Value::string(b"+1"), Value::Str(_)));
        assert!(matches!(Value::string(b" 1"), Value::Str(_)));
        assert!(matches!(Value::string(b"9223372036854775808"), Value::Str(_)));
        assert_eq!(Value::string(b"0").encoding(), "int");
        assert_eq!(Value::string(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(Value::string(&[b'a'; 45]).encoding(), "raw");
    }
}
