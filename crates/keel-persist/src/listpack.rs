//! Redis's listpack, byte for byte: the compact blob RDB uses for small hashes, sorted sets and list nodes.
//! A header (total bytes, element count), entries (an encoding byte, the data, then the entry's length
//! written backwards), and a 0xFF terminator. Strings that are canonical integers are stored as integers,
//! as Redis's `lpInsert` does, so Keel's blobs equal Redis's.

use keel_store::number::parse_i64;

const HEADER: usize = 6;
const EOF: u8 = 0xFF;

/// One listpack element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Element<'_> {
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Element::Int(n) => n.to_string().into_bytes(),
            Element::Str(s) => s.to_vec(),
        }
    }
}

/// Builds a listpack.
pub struct ListpackBuilder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ListpackBuilder {
    pub fn new() -> ListpackBuilder {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; HEADER]);
        ListpackBuilder { buf, count: 0 }
    }

    /// Bytes the finished listpack would take.
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn push_int(&mut self, n: i64) {
        let start = self.buf.len();
        let b = &mut self.buf;
        if (0..=127).contains(&n) {
            b.push(n as u8);
        } else if (-4096..=4095).contains(&n) {
            let u = (n as u64) & 0x1FFF;
            b.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
        } else if i16::try_from(n).is_ok() {
            b.push(0xF1);
            b.extend_from_slice(&(n as i16).to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&n) {
            b.push(0xF2);
            b.extend_from_slice(&(n as i32).to_le_bytes()[..3]);
        } else if i32::try_from(n).is_ok() {
            b.push(0xF3);
            b.extend_from_slice(&(n as i32).to_le_bytes());
        } else {
            b.push(0xF4);
            b.extend_from_slice(&n.to_le_bytes());
        }
        self.finish_entry(start);
    }

    /// Appends a string, stored as an integer when it is one in canonical form.
    pub fn push(&mut self, bytes: &[u8]) {
        if bytes.len() <= 20 {
            if let Some(n) = parse_i64(bytes) {
                return self.push_int(n);
            }
        }
        let start = self.buf.len();
        let len = bytes.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf.extend_from_slice(&[0xE0 | (len >> 8) as u8, len as u8]);
        } else {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(bytes);
        self.finish_entry(start);
    }

    fn finish_entry(&mut self, start: usize) {
        let l = (self.buf.len() - start) as u64;
        let b = &mut self.buf;
        if l <= 127 {
            b.push(l as u8);
        } else if l < 16383 {
            b.extend_from_slice(&[(l >> 7) as u8, (l & 127) as u8 | 128]);
        } else if l < 2097151 {
            b.extend_from_slice(&[(l >> 14) as u8, ((l >> 7) & 127) as u8 | 128, (l & 127) as u8 | 128]);
        } else if l < 268435455 {
            b.extend_from_slice(&[
                (l >> 21) as u8,
                ((l >> 14) & 127) as u8 | 128,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]);
        } else {
            b.extend_from_slice(&[
                (l >> 28) as u8,
                ((l >> 21) & 127) as u8 | 128,
                ((l >> 14) & 127) as u8 | 128,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]);
        }
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let count = if self.count < 65535 { self.count as u16 } else { 65535 };
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// Bytes taken by the back-length of an entry whose encoding and data take `l` bytes.
fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Every element of a listpack blob, or an error naming what is malformed.
pub fn decode(blob: &[u8]) -> Result<Vec<Element<'_>>, &'static str> {
    if blob.len() < HEADER + 1 {
        return Err("listpack too short");
    }
    let total = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    if total != blob.len() {
        return Err("listpack length mismatch");
    }
    let mut at = HEADER;
    let mut out = Vec::new();
    let get = |range: std::ops::Range<usize>| blob.get(range).ok_or("listpack entry out of bounds");
    loop {
        let first = *blob.get(at).ok_or("listpack without terminator")?;
        if first == EOF {
            if at + 1 != blob.len() {
                return Err("listpack has bytes after its terminator");
            }
            return Ok(out);
        }
        let (element, size) = if first & 0x80 == 0 {
            (Element::Int(first as i64), 1)
        } else if first & 0xC0 == 0x80 {
            let len = (first & 0x3F) as usize;
            (Element::Str(get(at + 1..at + 1 + len)?), 1 + len)
        } else if first & 0xE0 == 0xC0 {
            let u = (((first & 0x1F) as u64) << 8) | get(at + 1..at + 2)?[0] as u64;
            let n = if u >= 1 << 12 { u as i64 - (1 << 13) } else { u as i64 };
            (Element::Int(n), 2)
        } else if first & 0xF0 == 0xE0 {
            let len = (((first & 0x0F) as usize) << 8) | get(at + 1..at + 2)?[0] as usize;
            (Element::Str(get(at + 2..at + 2 + len)?), 2 + len)
        } else {
            match first {
                0xF0 => {
                    let b = get(at + 1..at + 5)?;
                    let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                    (Element::Str(get(at + 5..at.saturating_add(5).saturating_add(len))?), 5 + len)
                }
                0xF1 => {
                    let b = get(at + 1..at + 3)?;
                    (Element::Int(i16::from_le_bytes([b[0], b[1]]) as i64), 3)
                }
                0xF2 => {
                    let b = get(at + 1..at + 4)?;
                    (Element::Int((i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as i64), 4)
                }
                0xF3 => {
                    let b = get(at + 1..at + 5)?;
                    (Element::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64), 5)
                }
                0xF4 => {
                    let b = get(at + 1..at + 9)?;
                    let mut raw = [0u8; 8];
                    raw.copy_from_slice(b);
                    (Element::Int(i64::from_le_bytes(raw)), 9)
                }
                _ => return Err("invalid listpack entry encoding"),
            }
        };
        at = at.checked_add(size + backlen_size(size)).ok_or("listpack entry out of bounds")?;
        if at > blob.len() {
            return Err("listpack entry out of bounds");
        }
        out.push(element);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_redis_bytes_for_a_small_hash() {
        // `HSET h a 1 b hello` in Redis 7.0, as DUMP shows its listpack.
        let mut lp = ListpackBuilder::new();
        for e in [&b"a"[..], b"1", b"b", b"hello"] {
            lp.push(e);
        }
        let blob = lp.finish();
        let expected: &[u8] =
            &[0x16, 0, 0, 0, 4, 0, 0x81, b'a', 2, 0x01, 1, 0x81, b'b', 2, 0x85, b'h', b'e', b'l', b'l', b'o', 6, 0xFF];
        assert_eq!(blob, expected);
    }

    fn element() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string().into_bytes()),
            (-5000i64..5000).prop_map(|n| n.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..70),
            proptest::collection::vec(any::<u8>(), 4000..4200),
        ]
    }

    proptest! {
        #[test]
        fn elements_round_trip(elements in proptest::collection::vec(element(), 0..40)) {
            let mut lp = ListpackBuilder::new();
            for e in &elements {
                lp.push(e);
            }
            let blob = lp.finish();
            let decoded: Vec<Vec<u8>> = decode(&blob).unwrap().into_iter().map(Element::to_vec).collect();
            prop_assert_eq!(decoded, elements);
        }

        #[test]
        fn garbage_never_panics(blob in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&blob);
        }
    }
}
