//! Encodings older RDB files hold and Redis 7.0 no longer writes, read so that any `dump.rdb` loads:
//! ziplists (lists, hashes and sorted sets before 7.0, quicklist nodes before 7.0) and zipmaps (hashes
//! before 2.6). Intsets are still written and live here too, encoder and decoder.

use crate::listpack::Element;

/// Every element of a ziplist blob.
pub fn ziplist(blob: &[u8]) -> Result<Vec<Element<'_>>, &'static str> {
    const HEADER: usize = 10;
    if blob.len() < HEADER + 1 {
        return Err("ziplist too short");
    }
    if u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize != blob.len() {
        return Err("ziplist length mismatch");
    }
    let get = |range: std::ops::Range<usize>| blob.get(range).ok_or("ziplist entry out of bounds");
    let mut at = HEADER;
    let mut out = Vec::new();
    loop {
        let first = *blob.get(at).ok_or("ziplist without terminator")?;
        if first == 0xFF {
            return Ok(out);
        }
        // The previous entry's length: one byte, or 0xFE and four more.
        at += if first == 0xFE { 5 } else { 1 };
        let enc = *blob.get(at).ok_or("ziplist entry out of bounds")?;
        let (element, size) = match enc >> 6 {
            0 => {
                let len = (enc & 0x3F) as usize;
                (Element::Str(get(at + 1..at + 1 + len)?), 1 + len)
            }
            1 => {
                let len = (((enc & 0x3F) as usize) << 8) | get(at + 1..at + 2)?[0] as usize;
                (Element::Str(get(at + 2..at + 2 + len)?), 2 + len)
            }
            2 => {
                let b = get(at + 1..at + 5)?;
                let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
                (Element::Str(get(at + 5..at.saturating_add(5).saturating_add(len))?), 5 + len)
            }
            _ => match enc {
                0xC0 => {
                    let b = get(at + 1..at + 3)?;
                    (Element::Int(i16::from_le_bytes([b[0], b[1]]) as i64), 3)
                }
                0xD0 => {
                    let b = get(at + 1..at + 5)?;
                    (Element::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64), 5)
                }
                0xE0 => {
                    let mut raw = [0u8; 8];
                    raw.copy_from_slice(get(at + 1..at + 9)?);
                    (Element::Int(i64::from_le_bytes(raw)), 9)
                }
                0xF0 => {
                    let b = get(at + 1..at + 4)?;
                    (Element::Int((i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as i64), 4)
                }
                0xFE => (Element::Int(get(at + 1..at + 2)?[0] as i8 as i64), 2),
                0xF1..=0xFD => (Element::Int((enc & 0x0F) as i64 - 1), 1),
                _ => return Err("invalid ziplist entry encoding"),
            },
        };
        at = at.checked_add(size).ok_or("ziplist entry out of bounds")?;
        out.push(element);
    }
}

/// A field and its value, borrowed from a blob.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// The field/value pairs of a zipmap blob.
pub fn zipmap(blob: &[u8]) -> Result<Vec<Pair<'_>>, &'static str> {
    let get = |range: std::ops::Range<usize>| blob.get(range).ok_or("zipmap entry out of bounds");
    let read_len = |at: usize| -> Result<(usize, usize), &'static str> {
        match *blob.get(at).ok_or("zipmap entry out of bounds")? {
            254 => {
                let b = get(at + 1..at + 5)?;
                Ok((u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 5))
            }
            255 => Err("zipmap length is its terminator"),
            n => Ok((n as usize, 1)),
        }
    };
    let mut at = 1;
    let mut out = Vec::new();
    while *blob.get(at).ok_or("zipmap without terminator")? != 0xFF {
        let (flen, n) = read_len(at)?;
        at += n;
        let field = get(at..at.saturating_add(flen))?;
        at += flen;
        let (vlen, n) = read_len(at)?;
        at += n;
        let free = *blob.get(at).ok_or("zipmap entry out of bounds")? as usize;
        at += 1;
        let value = get(at..at.saturating_add(vlen))?;
        at = at.saturating_add(vlen).saturating_add(free);
        out.push((field, value));
    }
    Ok(out)
}

/// Every integer of an intset blob (encoding width, count, then the sorted integers).
pub fn intset(blob: &[u8]) -> Result<Vec<i64>, &'static str> {
    if blob.len() < 8 {
        return Err("intset too short");
    }
    let width = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    let count = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) || blob.len() != 8 + width * count {
        return Err("intset header does not match its size");
    }
    Ok(blob[8..]
        .chunks_exact(width)
        .map(|c| match width {
            2 => i16::from_le_bytes([c[0], c[1]]) as i64,
            4 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
            _ => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// An intset blob of sorted integers, in the narrowest width that holds them all, as Redis builds it.
pub fn encode_intset(sorted: &[i64]) -> Vec<u8> {
    let width = if sorted.iter().all(|&n| i16::try_from(n).is_ok()) {
        2
    } else if sorted.iter().all(|&n| i32::try_from(n).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * sorted.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for &n in sorted {
        out.extend_from_slice(&n.to_le_bytes()[..width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_ziplist_of_every_encoding() {
        // Hand-built: "ab", 5 (immediate), -2 (int8), 1000 (int16), 100000 (int24), 1<<40 (int64).
        let mut body = vec![0u8; 10];
        let push = |prev: &mut Vec<u8>, entry: &[u8]| prev.extend_from_slice(entry);
        push(&mut body, &[0, 0x02, b'a', b'b']);
        push(&mut body, &[4, 0xF6]);
        push(&mut body, &[2, 0xFE, 0xFE]);
        push(&mut body, &[2, 0xC0, 0xE8, 0x03]);
        push(&mut body, &[3, 0xF0, 0xA0, 0x86, 0x01]);
        let mut e = vec![5, 0xE0];
        e.extend_from_slice(&(1i64 << 40).to_le_bytes());
        push(&mut body, &e);
        body.push(0xFF);
        let len = body.len() as u32;
        body[0..4].copy_from_slice(&len.to_le_bytes());
        let elements = ziplist(&body).unwrap();
        assert_eq!(
            elements,
            vec![
                Element::Str(b"ab"),
                Element::Int(5),
                Element::Int(-2),
                Element::Int(1000),
                Element::Int(100000),
                Element::Int(1 << 40)
            ]
        );
    }

    #[test]
    fn intsets_round_trip_in_the_narrowest_width() {
        for ints in [vec![1, 2, 3], vec![-70000, 5], vec![i64::MIN, 0, i64::MAX], vec![]] {
            let blob = encode_intset(&ints);
            assert_eq!(intset(&blob).unwrap(), ints);
        }
        assert_eq!(encode_intset(&[1, 2]).len(), 8 + 4);
    }

    #[test]
    fn malformed_blobs_are_errors() {
        assert!(ziplist(&[1, 2, 3]).is_err());
        assert!(zipmap(&[1, 5, b'a']).is_err());
        assert!(intset(&[2, 0, 0, 0, 9, 0, 0, 0]).is_err());
    }
}
