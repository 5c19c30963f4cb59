//! Changing documents at the locations a path selected: keeping only the outermost of nested matches,
//! removing in an order that does not shift what is still to be removed, and RFC 7396 merge patches.

use super::select::Loc;
use super::Json;

impl PartialOrd for Loc {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Loc {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (Loc::Index(a), Loc::Index(b)) => a.cmp(b),
            (Loc::Key(a), Loc::Key(b)) => a.cmp(b),
            (Loc::Key(_), Loc::Index(_)) => std::cmp::Ordering::Less,
            (Loc::Index(_), Loc::Key(_)) => std::cmp::Ordering::Greater,
        }
    }
}

/// Keeps the locations no other location contains (changing `$..a` changes an outer `a` once, not again
/// inside it), ordered so that later elements of an array come first: removing one then never moves
/// another that is still to be removed.
pub fn outermost(locs: &mut Vec<Vec<Loc>>) {
    locs.sort();
    locs.dedup();
    let mut kept: Vec<Vec<Loc>> = Vec::with_capacity(locs.len());
    for loc in locs.drain(..) {
        if !kept.last().is_some_and(|outer| loc.starts_with(outer)) {
            kept.push(loc);
        }
    }
    kept.reverse();
    *locs = kept;
}

impl Json {
    /// Applies an RFC 7396 merge patch: an object patch sets its members recursively and removes those it
    /// sets to null; any other patch replaces the value.
    pub fn merge_patch(&mut self, patch: Json) {
        let Json::Object(patch) = patch else {
            *self = patch;
            return;
        };
        if !matches!(self, Json::Object(_)) {
            *self = Json::Object(Box::default());
        }
        let Json::Object(members) = self else { return };
        for (key, value) in *patch {
            if value == Json::Null {
                members.shift_remove(&key);
            } else {
                members.entry(key).or_insert(Json::Null).merge_patch(value);
            }
        }
    }

    /// Empties an array or object, or sets a number to 0 (`JSON.CLEAR`); true when the value is one of those.
    pub fn clear(&mut self) -> bool {
        match self {
            Json::Array(items) => items.clear(),
            Json::Object(members) => members.clear(),
            Json::Int(_) | Json::Float(_) => *self = Json::Int(0),
            _ => return false,
        }
        true
    }

    /// The deepest nesting below this value (0 for a scalar).
    pub fn nesting(&self) -> usize {
        match self {
            Json::Array(items) => 1 + items.iter().map(Json::nesting).max().unwrap_or(0),
            Json::Object(members) => 1 + members.values().map(Json::nesting).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// Writes `items` as one JSON array laid out like a document's (the reply of a JSONPath read).
pub fn write_list(out: &mut Vec<u8>, items: &[&Json], layout: &super::Layout) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        super::new_line(out, layout, 1);
        item.write_at(out, layout, 1);
    }
    if !items.is_empty() {
        super::new_line(out, layout, 0);
    }
    out.push(b']');
}
