//! `ThinBytes`: an immutable byte string behind one 8-byte pointer. Its length is kept in the allocation's
//! first four bytes instead of beside the pointer, so that a small packed hash (whose buffer this holds)
//! fits its buffer and its field TTLs in 16 bytes.

use std::ptr::NonNull;

const HEADER: usize = std::mem::size_of::<u32>();

/// The longest string a `ThinBytes` holds (its length is a `u32`).
pub(crate) const MAX_LEN: usize = u32::MAX as usize - HEADER;

pub(crate) struct ThinBytes {
    /// A leaked `Box<[u8]>` of `HEADER + len` bytes whose first `HEADER` bytes hold `len`, little-endian.
    ptr: NonNull<u8>,
}

// SAFETY: ThinBytes owns its allocation exclusively, like Box<[u8]>.
unsafe impl Send for ThinBytes {}
unsafe impl Sync for ThinBytes {}

impl ThinBytes {
    /// The concatenation of `pieces`, in one allocation. Their total must not pass [`MAX_LEN`].
    pub(crate) fn concat(pieces: &[&[u8]]) -> Self {
        let len: usize = pieces.iter().map(|piece| piece.len()).sum();
        assert!(len <= MAX_LEN, "a ThinBytes holds at most {MAX_LEN} bytes");
        let mut buf = Vec::with_capacity(HEADER + len);
        buf.extend_from_slice(&(len as u32).to_le_bytes());
        for piece in pieces {
            buf.extend_from_slice(piece);
        }
        let leaked: *mut [u8] = Box::into_raw(buf.into_boxed_slice());
        // SAFETY: a Box's pointer is never null.
        ThinBytes { ptr: unsafe { NonNull::new_unchecked(leaked.cast()) } }
    }

    pub(crate) fn len(&self) -> usize {
        let mut header = [0u8; HEADER];
        // SAFETY: the allocation begins with HEADER bytes of length.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.as_ptr(), header.as_mut_ptr(), HEADER) };
        u32::from_le_bytes(header) as usize
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        // SAFETY: the allocation holds HEADER + len bytes, initialised, owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(HEADER), self.len()) }
    }

    /// Bytes allocated for it, header included.
    pub(crate) fn allocation_size(&self) -> usize {
        HEADER + self.len()
    }
}

impl Drop for ThinBytes {
    fn drop(&mut self) {
        let whole = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), HEADER + self.len());
        // SAFETY: rebuilds the Box<[u8]> leaked in `concat`, which nothing else owns.
        drop(unsafe { Box::from_raw(whole) });
    }
}

impl Clone for ThinBytes {
    fn clone(&self) -> Self {
        ThinBytes::concat(&[self.as_bytes()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_its_pieces_in_one_pointer() {
        assert_eq!(std::mem::size_of::<ThinBytes>(), 8);
        assert_eq!(std::mem::size_of::<Option<ThinBytes>>(), 8);
        let bytes = ThinBytes::concat(&[b"ab", b"", b"cde"]);
        assert_eq!((bytes.as_bytes(), bytes.len(), bytes.allocation_size()), (&b"abcde"[..], 5, 9));
        let copy = bytes.clone();
        drop(bytes);
        assert_eq!(copy.as_bytes(), b"abcde");
        assert_eq!(ThinBytes::concat(&[]).as_bytes(), b"");
    }
}
