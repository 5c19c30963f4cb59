//! `CompactBytes`: an immutable byte string in 16 bytes. Up to 15 bytes live inline (no allocation); longer
//! strings live in a boxed slice. The length tag sits in the last byte with spare values, so enums that hold
//! a `CompactBytes` (like [`crate::Value`]) stay 16 bytes too.

use std::fmt;
use std::mem::ManuallyDrop;

const INLINE_MAX: usize = 15;

/// Inline length 0..=15, or `Heap`. The unused values 17..=255 are a niche the compiler uses for enum tags.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[allow(dead_code)] // variants are produced by transmuting a checked length
enum Tag {
    L0 = 0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
    Heap = 16,
}

#[repr(C, align(8))]
pub struct CompactBytes {
    /// Inline: the bytes. Heap: pointer (8 bytes) and length (7 bytes, little-endian).
    data: [u8; 15],
    tag: Tag,
}

// SAFETY: CompactBytes owns its heap allocation exclusively, like Box<[u8]>.
unsafe impl Send for CompactBytes {}
unsafe impl Sync for CompactBytes {}

impl CompactBytes {
    pub const EMPTY: CompactBytes = CompactBytes { data: [0; 15], tag: Tag::L0 };

    pub fn new(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE_MAX {
            let mut data = [0u8; 15];
            data[..bytes.len()].copy_from_slice(bytes);
            // SAFETY: len <= 15 is a valid Tag discriminant.
            let tag = unsafe { std::mem::transmute::<u8, Tag>(bytes.len() as u8) };
            CompactBytes { data, tag }
        } else {
            Self::from_boxed(bytes.into())
        }
    }

    pub fn from_vec(bytes: Vec<u8>) -> Self {
        if bytes.len() <= INLINE_MAX {
            Self::new(&bytes)
        } else {
            Self::from_boxed(bytes.into_boxed_slice())
        }
    }

    fn from_boxed(boxed: Box<[u8]>) -> Self {
        let len = boxed.len();
        let ptr = Box::into_raw(boxed) as *mut u8 as usize;
        let mut data = [0u8; 15];
        data[..8].copy_from_slice(&ptr.to_le_bytes());
        data[8..15].copy_from_slice(&(len as u64).to_le_bytes()[..7]);
        CompactBytes { data, tag: Tag::Heap }
    }

    fn heap_parts(&self) -> (*mut u8, usize) {
        let mut ptr = [0u8; 8];
        ptr.copy_from_slice(&self.data[..8]);
        let mut len = [0u8; 8];
        len[..7].copy_from_slice(&self.data[8..15]);
        (usize::from_le_bytes(ptr) as *mut u8, u64::from_le_bytes(len) as usize)
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self.tag {
            Tag::Heap => {
                let (ptr, len) = self.heap_parts();
                // SAFETY: ptr/len come from a live Box<[u8]> owned by self.
                unsafe { std::slice::from_raw_parts(ptr, len) }
            }
            tag => &self.data[..tag as usize],
        }
    }

    pub fn len(&self) -> usize {
        match self.tag {
            Tag::Heap => self.heap_parts().1,
            tag => tag as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes allocated on the heap for this string (0 when inline), rounded to the allocator's 16-byte classes.
    pub fn heap_size(&self) -> usize {
        match self.tag {
            Tag::Heap => (self.len() + 15) & !15,
            _ => 0,
        }
    }

    /// Replaces the bytes with `bytes` in the same heap allocation, when they are on the heap and as long
    /// (a SET overwriting a value with another of its size then neither allocates nor frees); returns
    /// whether it did.
    pub fn rewrite_in_place(&mut self, bytes: &[u8]) -> bool {
        if self.tag != Tag::Heap {
            return false;
        }
        let (ptr, len) = self.heap_parts();
        if len != bytes.len() {
            return false;
        }
        // SAFETY: ptr/len come from the live Box<[u8]> self owns, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(ptr, len) }.copy_from_slice(bytes);
        true
    }

    /// Takes the bytes out as a Vec without copying when they are on the heap.
    pub fn into_vec(self) -> Vec<u8> {
        let this = ManuallyDrop::new(self);
        match this.tag {
            Tag::Heap => {
                let (ptr, len) = this.heap_parts();
                // SAFETY: reconstructs the Box<[u8]> leaked in from_boxed; `this` is not dropped.
                unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) }.into_vec()
            }
            _ => this.as_bytes().to_vec(),
        }
    }
}

impl Drop for CompactBytes {
    fn drop(&mut self) {
        if self.tag == Tag::Heap {
            let (ptr, len) = self.heap_parts();
            // SAFETY: reconstructs and frees the Box<[u8]> leaked in from_boxed.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
        }
    }
}

impl Clone for CompactBytes {
    fn clone(&self) -> Self {
        Self::new(self.as_bytes())
    }
}

impl PartialEq for CompactBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}
impl Eq for CompactBytes {}

impl fmt::Debug for CompactBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl From<&[u8]> for CompactBytes {
    fn from(bytes: &[u8]) -> Self {
        CompactBytes::new(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes() {
        assert_eq!(std::mem::size_of::<CompactBytes>(), 16);
        assert_eq!(std::mem::size_of::<Option<CompactBytes>>(), 16);
    }

    proptest! {
        #[test]
        fn roundtrip(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let c = CompactBytes::new(&bytes);
            prop_assert_eq!(c.as_bytes(), &bytes[..]);
            prop_assert_eq!(c.len(), bytes.len());
            let cloned = c.clone();
            prop_assert_eq!(cloned.into_vec(), bytes.clone());
            let from_vec = CompactBytes::from_vec(bytes.clone());
            prop_assert_eq!(from_vec.as_bytes(), &bytes[..]);
        }
    }
}
