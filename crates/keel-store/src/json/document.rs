//! A JSON document as a key holds it: the value tree and the bytes it takes. The byte count is kept as
//! edits happen, each edit measuring only what it adds or frees, so that appending to a large array costs
//! what the append costs, not a walk over the document (the keyspace asks every changed value its size).

use super::{Json, Loc};

/// A document and its size in bytes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    root: Json,
    bytes: usize,
}

/// The bytes a value owns beyond its own slot in its parent.
pub fn heap(value: &Json) -> usize {
    value.memory() - std::mem::size_of::<Json>()
}

/// What one member of an object costs besides its value's heap.
fn member_cost(key: &str) -> usize {
    std::mem::size_of::<String>() + key.len() + 8 + std::mem::size_of::<Json>()
}

impl Document {
    pub fn new(root: Json) -> Document {
        let bytes = root.memory();
        Document { root, bytes }
    }

    pub fn root(&self) -> &Json {
        &self.root
    }

    /// The document's bytes, as quotas, eviction and MEMORY USAGE count them.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn replace(&mut self, root: Json) {
        *self = Document::new(root);
    }

    fn account(&mut self, added: isize) {
        self.bytes = self.bytes.saturating_add_signed(added);
    }

    /// Runs `edit` on the value at `loc`. `edit` returns its result and the bytes the change added
    /// (negative when it freed some). None when nothing is at `loc`.
    pub fn edit<R>(&mut self, loc: &[Loc], edit: impl FnOnce(&mut Json) -> (R, isize)) -> Option<R> {
        let (result, added) = edit(self.root.at_mut(loc)?);
        self.account(added);
        Some(result)
    }

    /// Runs `change` on the value at `loc`, measuring the value before and after (for changes that rebuild
    /// it, such as merges and CLEAR, whose cost is already the value's size).
    pub fn rebuild<R>(&mut self, loc: &[Loc], change: impl FnOnce(&mut Json) -> R) -> Option<R> {
        self.edit(loc, |value| {
            let before = heap(value) as isize;
            let result = change(value);
            (result, heap(value) as isize - before)
        })
    }

    /// Puts `value` at `loc` in place of what is there; false when nothing is.
    pub fn set(&mut self, loc: &[Loc], value: Json) -> bool {
        self.edit(loc, |place| {
            let added = heap(&value) as isize - heap(place) as isize;
            *place = value;
            ((), added)
        })
        .is_some()
    }

    /// Adds member `key` to the object at `loc`; false when that is not an object or already has it.
    pub fn insert_member(&mut self, loc: &[Loc], key: &str, value: Json) -> bool {
        let added = (member_cost(key) + heap(&value)) as isize;
        self.edit(loc, |place| match place {
            Json::Object(members) if !members.contains_key(key) => {
                members.insert(key.to_owned(), value);
                (true, added)
            }
            _ => (false, 0),
        })
        .unwrap_or(false)
    }

    /// Removes the value at `loc` (not the root); false when nothing is there.
    pub fn remove(&mut self, loc: &[Loc]) -> bool {
        let Some((last, parent)) = loc.split_last() else { return false };
        let removed = self.edit(parent, |place| match (place, last) {
            (Json::Object(members), Loc::Key(key)) => match members.shift_remove(key) {
                Some(value) => (true, -((member_cost(key) + heap(&value)) as isize)),
                None => (false, 0),
            },
            (Json::Array(items), Loc::Index(i)) if *i < items.len() => {
                let value = items.remove(*i);
                (true, -(heap(&value) as isize))
            }
            _ => (false, 0),
        });
        removed.unwrap_or(false)
    }
}
