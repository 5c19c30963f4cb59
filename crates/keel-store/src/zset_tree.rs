//! The order of a large sorted set: an order-statistic B+ tree of (score, member) entries (Redis keeps a
//! skiplist for the same job). Leaves hold up to [`LEAF_MAX`] entries side by side and branches up to
//! [`BRANCH_MAX`] children with each child's size, so insertion, deletion, rank and selection by rank touch
//! a handful of nodes (four levels hold a million members) instead of one scattered node per level.
//!
//! A branch routes by separators: the first key of each child but the first, copied when the child is
//! made. A separator stays valid when its key is deleted (it still sorts above everything before it and
//! at or below everything after), so deletions never rewrite separators; a node left empty is removed and
//! a leaf that fits into its neighbour is merged with it, so the tree stays dense as members leave.

use crate::compact::CompactBytes;
use std::cmp::Ordering;

#[cfg(not(test))]
const LEAF_MAX: usize = 64;
#[cfg(not(test))]
const BRANCH_MAX: usize = 64;
// Tiny nodes in tests, so that small sets split, merge and grow several levels.
#[cfg(test)]
const LEAF_MAX: usize = 4;
#[cfg(test)]
const BRANCH_MAX: usize = 4;

/// Redis's order: by score, then by member bytes. Scores are never NaN.
pub(crate) fn order(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    a_score.partial_cmp(&b_score).unwrap_or(Ordering::Equal).then_with(|| a_member.cmp(b_member))
}

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) member: CompactBytes,
    pub(crate) score: f64,
}

impl Entry {
    fn cmp_key(&self, score: f64, member: &[u8]) -> Ordering {
        order(self.score, self.member.as_bytes(), score, member)
    }
}

#[derive(Clone)]
enum Node {
    Leaf(Vec<Entry>),
    Branch(Box<Branch>),
}

#[derive(Clone)]
struct Branch {
    /// `separators[i]` is the first key of `children[i + 1]` when it was made.
    separators: Vec<Entry>,
    children: Vec<Node>,
    /// Entries under each child.
    sizes: Vec<usize>,
}

impl Branch {
    /// The child whose range holds (score, member).
    fn route(&self, score: f64, member: &[u8]) -> usize {
        self.separators.partition_point(|s| s.cmp_key(score, member) != Ordering::Greater)
    }
}

/// A branch node, its vectors sized for a full branch plus the child whose insertion splits it.
fn branch_node(separators: Vec<Entry>, children: Vec<Node>, sizes: Vec<usize>) -> Node {
    fn with_room<T>(mut v: Vec<T>) -> Vec<T> {
        v.reserve_exact((BRANCH_MAX + 1).saturating_sub(v.len()));
        v
    }
    let (separators, children, sizes) = (with_room(separators), with_room(children), with_room(sizes));
    Node::Branch(Box::new(Branch { separators, children, sizes }))
}

/// What a node's change asks of its parent.
enum Change {
    None,
    /// The node split: this sibling, with its first key, goes right after it.
    Split(Entry, Node, usize),
}

#[derive(Clone)]
pub(crate) struct Tree {
    root: Node,
    len: usize,
    /// Nodes and separator copies, kept so that the set's size is known in O(1).
    leaves: usize,
    branches: usize,
    separator_heap: usize,
}

impl Tree {
    pub(crate) fn new() -> Tree {
        Tree { root: Node::Leaf(Vec::with_capacity(LEAF_MAX)), len: 0, leaves: 1, branches: 0, separator_heap: 0 }
    }

    /// Heap bytes of the nodes (members' own heap bytes are counted by the caller).
    pub(crate) fn heap_size(&self) -> usize {
        let leaf = LEAF_MAX * std::mem::size_of::<Entry>();
        let branch = std::mem::size_of::<Branch>()
            + BRANCH_MAX * (std::mem::size_of::<Entry>() + std::mem::size_of::<Node>() + std::mem::size_of::<usize>());
        self.leaves * leaf + self.branches * branch + self.separator_heap
    }

    pub(crate) fn insert(&mut self, member: CompactBytes, score: f64) {
        let entry = Entry { member, score };
        self.len += 1;
        if let Change::Split(separator, sibling, sibling_size) = self.insert_into_root(entry) {
            let old = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
            let old_size = self.len - sibling_size;
            self.separator_heap += separator.member.heap_size();
            self.branches += 1;
            self.root = branch_node(vec![separator], vec![old, sibling], vec![old_size, sibling_size]);
        }
    }

    fn insert_into_root(&mut self, entry: Entry) -> Change {
        let mut root = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
        let change = self.insert_into(&mut root, entry);
        self.root = root;
        change
    }

    fn insert_into(&mut self, node: &mut Node, entry: Entry) -> Change {
        match node {
            Node::Leaf(entries) => {
                let at = entries.partition_point(|e| e.cmp_key(entry.score, entry.member.as_bytes()) == Ordering::Less);
                if entries.len() < LEAF_MAX {
                    entries.insert(at, entry);
                    return Change::None;
                }
                // Full: split first (no leaf ever grows past its capacity), then insert. In halves, except at
                // either end, where the full leaf stays full: members added in order (rising scores, or
                // timestamps) then fill their leaves instead of leaving each half empty.
                let mut right = Vec::with_capacity(LEAF_MAX);
                match at {
                    LEAF_MAX => right.push(entry),
                    0 => {
                        right.append(entries);
                        entries.push(entry);
                    }
                    _ => {
                        let half = LEAF_MAX / 2;
                        right.extend(entries.drain(half..));
                        match at <= half {
                            true => entries.insert(at, entry),
                            false => right.insert(at - half, entry),
                        }
                    }
                }
                self.leaves += 1;
                let separator = right[0].clone();
                let size = right.len();
                Change::Split(separator, Node::Leaf(right), size)
            }
            Node::Branch(branch) => {
                let i = branch.route(entry.score, entry.member.as_bytes());
                branch.sizes[i] += 1;
                let Change::Split(separator, sibling, sibling_size) = self.insert_into(&mut branch.children[i], entry)
                else {
                    return Change::None;
                };
                branch.sizes[i] -= sibling_size;
                self.separator_heap += separator.member.heap_size();
                branch.separators.insert(i, separator);
                branch.children.insert(i + 1, sibling);
                branch.sizes.insert(i + 1, sibling_size);
                if branch.children.len() <= BRANCH_MAX {
                    return Change::None;
                }
                // In halves, except when the new child is last (or first): as with leaves.
                let half = match i + 1 {
                    last if last == branch.children.len() - 1 => last,
                    1 if i == 0 && branch.sizes[0] < branch.sizes[1] => 1,
                    _ => branch.children.len() / 2,
                };
                let children: Vec<Node> = branch.children.drain(half..).collect();
                let sizes: Vec<usize> = branch.sizes.drain(half..).collect();
                let mut separators: Vec<Entry> = branch.separators.drain(half - 1..).collect();
                // The first of the moved separators goes up: it is the new sibling's first key.
                let up = separators.remove(0);
                // Counted again where it goes up.
                self.separator_heap -= up.member.heap_size();
                self.branches += 1;
                let size = sizes.iter().sum();
                Change::Split(up, branch_node(separators, children, sizes), size)
            }
        }
    }

    /// Removes the entry (score, member), which must be present.
    pub(crate) fn remove(&mut self, score: f64, member: &[u8]) {
        let mut root = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
        if self.remove_from(&mut root, score, member) {
            self.len -= 1;
        }
        self.root = root;
        self.shrink_root();
    }

    /// Removes the entry from `node`'s subtree; returns whether it was there.
    fn remove_from(&mut self, node: &mut Node, score: f64, member: &[u8]) -> bool {
        match node {
            Node::Leaf(entries) => {
                let at = entries.partition_point(|e| e.cmp_key(score, member) == Ordering::Less);
                let found = entries.get(at).is_some_and(|e| e.cmp_key(score, member) == Ordering::Equal);
                if found {
                    entries.remove(at);
                }
                found
            }
            Node::Branch(branch) => {
                let i = branch.route(score, member);
                let found = self.remove_from(&mut branch.children[i], score, member);
                if found {
                    branch.sizes[i] -= 1;
                    self.tidy(branch, i);
                }
                found
            }
        }
    }

    /// After child `i` of `branch` lost an entry: an empty child goes, and a leaf that fits into its right
    /// (or left) neighbour is merged into it.
    fn tidy(&mut self, branch: &mut Branch, i: usize) {
        if branch.sizes[i] == 0 {
            self.remove_child(branch, i);
            return;
        }
        let Node::Leaf(entries) = &branch.children[i] else { return };
        let len = entries.len();
        let neighbour = if i + 1 < branch.children.len() { i + 1 } else { i.wrapping_sub(1) };
        let (left, right) = (i.min(neighbour), i.max(neighbour));
        if neighbour >= branch.children.len() || len + branch.sizes[neighbour] > LEAF_MAX / 2 {
            return;
        }
        let Node::Leaf(moved) = std::mem::replace(&mut branch.children[right], Node::Leaf(Vec::new())) else {
            return;
        };
        if let Node::Leaf(kept) = &mut branch.children[left] {
            kept.extend(moved);
        }
        branch.sizes[left] += branch.sizes[right];
        branch.sizes[right] = 0;
        self.remove_child(branch, right);
    }

    /// Removes child `i` (empty now) and the separator that routed to it.
    fn remove_child(&mut self, branch: &mut Branch, i: usize) {
        match branch.children.remove(i) {
            Node::Leaf(_) => self.leaves -= 1,
            Node::Branch(_) => self.branches -= 1,
        }
        branch.sizes.remove(i);
        if !branch.separators.is_empty() {
            let separator = branch.separators.remove(i.saturating_sub(1));
            self.separator_heap -= separator.member.heap_size();
        }
    }

    /// A root branch with a single child gives way to it.
    fn shrink_root(&mut self) {
        while let Node::Branch(branch) = &mut self.root {
            match branch.children.len() {
                0 => {
                    self.branches -= 1;
                    self.leaves += 1;
                    self.root = Node::Leaf(Vec::with_capacity(LEAF_MAX));
                }
                1 => {
                    let child = branch.children.pop().unwrap_or(Node::Leaf(Vec::new()));
                    self.branches -= 1;
                    self.root = child;
                }
                _ => break,
            }
        }
    }

    /// Removes and returns the first (or, with `last`, the last) entry.
    pub(crate) fn pop_edge(&mut self, last: bool) -> Option<(CompactBytes, f64)> {
        if self.len == 0 {
            return None;
        }
        let mut root = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
        let popped = self.pop_from(&mut root, last);
        self.root = root;
        self.len -= 1;
        self.shrink_root();
        popped.map(|e| (e.member, e.score))
    }

    fn pop_from(&mut self, node: &mut Node, last: bool) -> Option<Entry> {
        match node {
            Node::Leaf(entries) if last => entries.pop(),
            Node::Leaf(entries) => (!entries.is_empty()).then(|| entries.remove(0)),
            Node::Branch(branch) => {
                let i = if last { branch.children.len() - 1 } else { 0 };
                let popped = self.pop_from(&mut branch.children[i], last);
                if popped.is_some() {
                    branch.sizes[i] -= 1;
                    self.tidy(branch, i);
                }
                popped
            }
        }
    }

    /// Number of entries for which `before` holds; `before` must hold for a prefix of the order.
    pub(crate) fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let (mut node, mut count) = (&self.root, 0);
        loop {
            match node {
                Node::Leaf(entries) => {
                    return count + entries.partition_point(|e| before(e.score, e.member.as_bytes()))
                }
                Node::Branch(branch) => {
                    // Child i lies wholly before the boundary when the next child's first key does too.
                    let whole = branch.separators.partition_point(|s| before(s.score, s.member.as_bytes()));
                    count += branch.sizes[..whole].iter().sum::<usize>();
                    node = &branch.children[whole];
                }
            }
        }
    }

    /// The entry at `rank` (0-based), which must be below the tree's length.
    pub(crate) fn select(&self, mut rank: usize) -> (&[u8], f64) {
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(entries) => {
                    return entries.get(rank).map_or((&[][..], 0.0), |e| (e.member.as_bytes(), e.score));
                }
                Node::Branch(branch) => {
                    let mut i = 0;
                    while i + 1 < branch.sizes.len() && rank >= branch.sizes[i] {
                        rank -= branch.sizes[i];
                        i += 1;
                    }
                    node = &branch.children[i];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// Keys in a model: scores as ordered integers (halves), then members.
    fn sorted(model: &BTreeSet<(i16, Vec<u8>)>) -> Vec<(f64, Vec<u8>)> {
        model.iter().map(|(s, m)| (*s as f64 / 2.0, m.clone())).collect()
    }

    fn check(tree: &Tree, model: &BTreeSet<(i16, Vec<u8>)>) -> Result<(), TestCaseError> {
        let expected = sorted(model);
        prop_assert_eq!(tree.len, expected.len());
        for (rank, (score, member)) in expected.iter().enumerate() {
            prop_assert_eq!(tree.select(rank), (member.as_slice(), *score));
            let before = tree.count_before(|s, m| order(s, m, *score, member) == Ordering::Less);
            prop_assert_eq!(before, rank);
        }
        Ok(())
    }

    /// Members added in order fill their leaves: a full leaf splits off only the new member at either end.
    #[test]
    fn members_added_in_order_fill_their_leaves() {
        for descending in [false, true] {
            let mut tree = Tree::new();
            for i in 0..1000 {
                let score = if descending { -(i as f64) } else { i as f64 };
                tree.insert(CompactBytes::new(format!("m{i}").as_bytes()), score);
            }
            assert_eq!(tree.leaves, 1000 / LEAF_MAX, "descending: {descending}");
            let lowest = if descending { -999.0 } else { 0.0 };
            assert_eq!(tree.select(0).1, lowest);
            assert_eq!(tree.count_before(|s, _| s < lowest + 10.0), 10);
        }
    }

    proptest! {
        /// The tree keeps Redis's order, sizes and ranks through inserts, removals and pops at both ends,
        /// with nodes small enough that every path splits, merges, grows and shrinks.
        #[test]
        fn behaves_like_an_ordered_set(ops in proptest::collection::vec((0u8..4, -20i16..20, 0u8..30), 0..400)) {
            let mut tree = Tree::new();
            let mut model = BTreeSet::new();
            for (op, score, m) in ops {
                let member = if m % 7 == 0 { format!("a-long-member-name-{m}").into_bytes() } else { vec![m] };
                match op {
                    0 | 1 => {
                        if model.insert((score, member.clone())) {
                            tree.insert(CompactBytes::new(&member), score as f64 / 2.0);
                        }
                    }
                    2 => {
                        if model.remove(&(score, member.clone())) {
                            tree.remove(score as f64 / 2.0, &member);
                        }
                    }
                    _ => {
                        let last = m % 2 == 0;
                        let expected = if last { model.pop_last() } else { model.pop_first() };
                        let popped = tree.pop_edge(last).map(|(m, s)| ((s * 2.0) as i16, m.as_bytes().to_vec()));
                        prop_assert_eq!(popped, expected);
                    }
                }
            }
            check(&tree, &model)?;
            while tree.pop_edge(false).is_some() {}
            prop_assert_eq!((tree.len, tree.leaves, tree.branches, tree.separator_heap), (0, 1, 0, 0));
        }
    }
}
