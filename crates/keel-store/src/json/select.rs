//! Evaluating a [`Path`] against a document: the values it selects, in RedisJSON's order, each with its
//! location (the member names and indexes that lead to it), so that a command can update every match.

use super::path::{Filter, Op, Operand, Path, Step};
use super::Json;

/// One step of a location: a member of an object or an element of an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loc {
    Key(String),
    Index(usize),
}

impl Path {
    /// The values the path selects.
    pub fn select<'a>(&self, root: &'a Json) -> Vec<&'a Json> {
        let mut found = Vec::new();
        walk(root, root, &mut Vec::new(), &self.steps, &mut |_, value| found.push(value));
        found
    }

    /// The locations of the values the path selects.
    pub fn locate(&self, root: &Json) -> Vec<Vec<Loc>> {
        let mut found = Vec::new();
        walk(root, root, &mut Vec::new(), &self.steps, &mut |loc, _| found.push(loc.to_vec()));
        found
    }
}

impl Json {
    /// The value at `loc`, if it is still there.
    pub fn at(&self, loc: &[Loc]) -> Option<&Json> {
        loc.iter().try_fold(self, |node, step| match (node, step) {
            (Json::Object(members), Loc::Key(key)) => members.get(key),
            (Json::Array(items), Loc::Index(i)) => items.get(*i),
            _ => None,
        })
    }

    pub fn at_mut(&mut self, loc: &[Loc]) -> Option<&mut Json> {
        loc.iter().try_fold(self, |node, step| match (node, step) {
            (Json::Object(members), Loc::Key(key)) => members.get_mut(key),
            (Json::Array(items), Loc::Index(i)) => items.get_mut(*i),
            _ => None,
        })
    }
}

fn walk<'a>(
    root: &'a Json,
    node: &'a Json,
    loc: &mut Vec<Loc>,
    steps: &[Step],
    found: &mut dyn FnMut(&[Loc], &'a Json),
) {
    keel_pace::step();
    let Some((step, rest)) = steps.split_first() else {
        found(loc, node);
        return;
    };
    if let Step::Descend(inner) = step {
        descend(root, node, loc, inner, rest, found);
        return;
    }
    for (child_loc, child) in children(root, node, step) {
        loc.push(child_loc);
        walk(root, child, loc, rest, found);
        loc.pop();
    }
}

/// `..step`: the step from `node`, then from every value below it, depth first.
fn descend<'a>(
    root: &'a Json,
    node: &'a Json,
    loc: &mut Vec<Loc>,
    step: &Step,
    rest: &[Step],
    found: &mut dyn FnMut(&[Loc], &'a Json),
) {
    keel_pace::step();
    for (child_loc, child) in children(root, node, step) {
        loc.push(child_loc);
        walk(root, child, loc, rest, found);
        loc.pop();
    }
    for (child_loc, child) in children(root, node, &Step::All) {
        loc.push(child_loc);
        descend(root, child, loc, step, rest, found);
        loc.pop();
    }
}

/// The values one step leads to from `node`.
fn children<'a>(root: &'a Json, node: &'a Json, step: &Step) -> Vec<(Loc, &'a Json)> {
    match (step, node) {
        (Step::Key(key), Json::Object(members)) => {
            members.get_key_value(key.as_str()).map(|(k, v)| (Loc::Key(k.clone()), v)).into_iter().collect()
        }
        (Step::Keys(keys), Json::Object(members)) => keys
            .iter()
            .filter_map(|key| members.get_key_value(key.as_str()))
            .map(|(k, v)| (Loc::Key(k.clone()), v))
            .collect(),
        (Step::All, Json::Object(members)) => members.iter().map(|(k, v)| (Loc::Key(k.clone()), v)).collect(),
        (Step::All, Json::Array(items)) => items.iter().enumerate().map(|(i, v)| (Loc::Index(i), v)).collect(),
        (Step::Indexes(indexes), Json::Array(items)) => indexes
            .iter()
            .filter_map(|&i| {
                let at = if i < 0 { items.len() as i64 + i } else { i };
                usize::try_from(at).ok().and_then(|at| items.get(at).map(|v| (Loc::Index(at), v)))
            })
            .collect(),
        (Step::Slice { start, end, step }, Json::Array(items)) => {
            let len = items.len() as i64;
            let bound = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
            let from = bound(start.unwrap_or(0));
            let to = bound(end.unwrap_or(len));
            (from..to)
                .step_by(usize::try_from(*step).unwrap_or(1))
                .filter_map(|i| items.get(i as usize).map(|v| (Loc::Index(i as usize), v)))
                .collect()
        }
        (Step::Filter(filter), Json::Array(items)) => {
            items.iter().enumerate().filter(|(_, v)| holds(root, v, filter)).map(|(i, v)| (Loc::Index(i), v)).collect()
        }
        (Step::Filter(filter), Json::Object(members)) => {
            members.iter().filter(|(_, v)| holds(root, v, filter)).map(|(k, v)| (Loc::Key(k.clone()), v)).collect()
        }
        _ => Vec::new(),
    }
}

fn holds(root: &Json, current: &Json, filter: &Filter) -> bool {
    match filter {
        Filter::Or(a, b) => holds(root, current, a) || holds(root, current, b),
        Filter::And(a, b) => holds(root, current, a) && holds(root, current, b),
        Filter::Not(inner) => !holds(root, current, inner),
        Filter::Exists(operand) => !values(root, current, operand).is_empty(),
        Filter::Compare(left, op, right) => {
            let left = values(root, current, left);
            let right = values(root, current, right);
            left.iter().any(|l| right.iter().any(|r| compare(l, op, r)))
        }
    }
}

fn values<'a>(root: &'a Json, current: &'a Json, operand: &'a Operand) -> Vec<&'a Json> {
    let mut found = Vec::new();
    let (start, steps) = match operand {
        Operand::Literal(value) => return vec![value],
        Operand::Current(steps) => (current, steps),
        Operand::Root(steps) => (root, steps),
    };
    walk(root, start, &mut Vec::new(), steps, &mut |_, value| found.push(value));
    found
}

fn compare(left: &Json, op: &Op, right: &Json) -> bool {
    use std::cmp::Ordering;
    let order = match (left, right) {
        (Json::Int(a), Json::Int(b)) => Some(a.cmp(b)),
        (a, b) if a.as_f64().is_some() && b.as_f64().is_some() => a.as_f64().partial_cmp(&b.as_f64()),
        (Json::Str(a), Json::Str(b)) => Some(a.cmp(b)),
        (Json::Bool(a), Json::Bool(b)) => Some(a.cmp(b)),
        (Json::Null, Json::Null) => Some(Ordering::Equal),
        _ => None,
    };
    match op {
        Op::Eq => order == Some(Ordering::Equal) || (order.is_none() && left == right),
        Op::Ne => !(order == Some(Ordering::Equal) || (order.is_none() && left == right)),
        Op::Lt => order == Some(Ordering::Less) && comparable(left),
        Op::Le => matches!(order, Some(Ordering::Less | Ordering::Equal)) && comparable(left),
        Op::Gt => order == Some(Ordering::Greater) && comparable(left),
        Op::Ge => matches!(order, Some(Ordering::Greater | Ordering::Equal)) && comparable(left),
        Op::Matches(compiled) => match (left, right, compiled) {
            (Json::Str(text), _, Some(regex)) => regex.is_match(text),
            (Json::Str(text), Json::Str(pattern), None) => {
                regex::Regex::new(pattern).is_ok_and(|regex| regex.is_match(text))
            }
            _ => false,
        },
    }
}

/// Ordering applies to numbers and strings only.
fn comparable(value: &Json) -> bool {
    matches!(value, Json::Int(_) | Json::Float(_) | Json::Str(_))
}
