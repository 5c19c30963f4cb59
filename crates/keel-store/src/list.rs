//! Lists (Redis's t_list): a double-ended queue of compact strings. Redis 7.0 reports every list as
//! `quicklist`, whatever its size, and so does Keel.

use crate::compact::CompactBytes;
use std::collections::VecDeque;

#[derive(Debug, Clone, Default)]
pub struct List {
    items: VecDeque<CompactBytes>,
    /// Heap bytes of the elements (beyond their 16 inline bytes).
    element_heap: usize,
}

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn heap_size(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<CompactBytes>() + self.element_heap
    }

    pub fn push(&mut self, end: End, value: &[u8]) {
        let item = CompactBytes::new(value);
        self.element_heap += item.heap_size();
        match end {
            End::Left => self.items.push_front(item),
            End::Right => self.items.push_back(item),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<CompactBytes> {
        let item = match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        }?;
        self.element_heap -= item.heap_size();
        self.shrink_if_sparse();
        Some(item)
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.items.get(index).map(CompactBytes::as_bytes)
    }

    pub fn set(&mut self, index: usize, value: &[u8]) {
        let item = CompactBytes::new(value);
        self.element_heap += item.heap_size();
        let old = std::mem::replace(&mut self.items[index], item);
        self.element_heap -= old.heap_size();
    }

    pub fn insert(&mut self, index: usize, value: &[u8]) {
        let item = CompactBytes::new(value);
        self.element_heap += item.heap_size();
        self.items.insert(index, item);
    }

    pub fn position(&self, value: &[u8]) -> Option<usize> {
        keel_pace::paced(&self.items).position(|item| item.as_bytes() == value)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        keel_pace::paced(&self.items).map(CompactBytes::as_bytes)
    }

    /// Removes elements equal to `value`: all (count 0), the first `count` from the left (count > 0) or the
    /// first `-count` from the right (count < 0). Returns how many were removed.
    pub fn remove_matching(&mut self, value: &[u8], count: i64) -> usize {
        let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
        let mut removed = 0;
        let mut kept = VecDeque::with_capacity(self.items.len());
        let items = std::mem::take(&mut self.items);
        let from_right = count < 0;
        let ordered: Box<dyn Iterator<Item = CompactBytes>> =
            if from_right { Box::new(items.into_iter().rev()) } else { Box::new(items.into_iter()) };
        for item in keel_pace::paced(ordered) {
            if removed < limit && item.as_bytes() == value {
                removed += 1;
                self.element_heap -= item.heap_size();
            } else if from_right {
                kept.push_front(item);
            } else {
                kept.push_back(item);
            }
        }
        self.items = kept;
        removed
    }

    /// Keeps only the elements in `start..=end` (already clamped by the caller); `start > end` empties.
    pub fn retain_range(&mut self, start: usize, end: usize) {
        if start > end || start >= self.items.len() {
            self.items.clear();
            self.element_heap = 0;
            return;
        }
        for item in self.items.drain(end + 1..) {
            self.element_heap -= item.heap_size();
        }
        for item in self.items.drain(..start) {
            self.element_heap -= item.heap_size();
        }
        self.shrink_if_sparse();
    }

    fn shrink_if_sparse(&mut self) {
        if self.items.capacity() > 64 && self.items.len() * 4 < self.items.capacity() {
            self.items.shrink_to(self.items.len() * 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A List behaves like a VecDeque<Vec<u8>> under pushes, pops, sets, removals and trims.
        #[test]
        fn behaves_like_a_deque(ops in proptest::collection::vec((0u8..6, 0u8..8, -3i64..3), 0..200)) {
            let mut list = List::new();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for (op, v, n) in ops {
                let value = if v % 2 == 0 { vec![v; 3] } else { vec![v; 40] };
                match op {
                    0 => { list.push(End::Left, &value); model.push_front(value); }
                    1 => { list.push(End::Right, &value); model.push_back(value); }
                    2 => prop_assert_eq!(list.pop(End::Left).map(|c| c.into_vec()), model.pop_front()),
                    3 => prop_assert_eq!(list.pop(End::Right).map(|c| c.into_vec()), model.pop_back()),
                    4 => {
                        let removed = list.remove_matching(&value, n);
                        let limit = if n == 0 { usize::MAX } else { n.unsigned_abs() as usize };
                        let mut count = 0;
                        let mut next: VecDeque<Vec<u8>> = VecDeque::new();
                        if n < 0 {
                            for item in model.drain(..).rev() {
                                if count < limit && item == value { count += 1 } else { next.push_front(item) }
                            }
                        } else {
                            for item in model.drain(..) {
                                if count < limit && item == value { count += 1 } else { next.push_back(item) }
                            }
                        }
                        model = next;
                        prop_assert_eq!(removed, count);
                    }
                    _ => {
                        if !model.is_empty() {
                            let (start, end) = (n.unsigned_abs() as usize % model.len(), model.len() - 1);
                            list.retain_range(start, end);
                            model = model.drain(start..=end).collect();
                        }
                    }
                }
                let got: Vec<Vec<u8>> = list.iter().map(|b| b.to_vec()).collect();
                prop_assert_eq!(got, model.iter().cloned().collect::<Vec<_>>());
                let heap: usize = model.iter().map(|v| if v.len() > 15 { (v.len() + 15) & !15 } else { 0 }).sum();
                prop_assert_eq!(list.element_heap, heap);
            }
        }
    }
}
