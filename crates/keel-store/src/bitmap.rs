//! Bit-level reads and writes on string values (the primitives of Redis's bitops.c): population counts over
//! bit ranges, the first set or clear bit, and BITFIELD's signed and unsigned fields with their overflow
//! rules. Bit 0 is the most significant bit of byte 0, as in Redis.

/// The bit at `offset`; bits past the end are 0.
pub fn get_bit(bytes: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    bytes.get(byte).is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

/// Sets the bit at `offset` (which must be inside `bytes`); returns its previous value.
pub fn set_bit(bytes: &mut [u8], offset: u64, on: bool) -> bool {
    let byte = &mut bytes[(offset >> 3) as usize];
    let mask = 0x80 >> (offset & 7);
    let old = *byte & mask != 0;
    if on {
        *byte |= mask;
    } else {
        *byte &= !mask;
    }
    old
}

/// Set bits in `bytes`.
pub fn popcount(bytes: &[u8]) -> u64 {
    bytes.iter().map(|b| b.count_ones() as u64).sum()
}

/// Set bits between bit `from` and bit `to`, both included (`to` inside `bytes`).
pub fn count_bits(bytes: &[u8], from: u64, to: u64) -> u64 {
    if from > to {
        return 0;
    }
    let (first, last) = ((from >> 3) as usize, (to >> 3) as usize);
    let mut count = popcount(&bytes[first..=last]);
    // Subtract the bits of the edge bytes outside the range.
    let head = bytes[first] & !(0xFFu8 >> (from & 7));
    let tail = bytes[last] & (0xFFu32 >> ((to & 7) + 1)) as u8;
    count -= (head.count_ones() + tail.count_ones()) as u64;
    count
}

/// The first bit equal to `bit` between bit `from` and bit `to` (both included, `to` inside `bytes`).
pub fn first_bit(bytes: &[u8], bit: bool, from: u64, to: u64) -> Option<u64> {
    if from > to {
        return None;
    }
    // A byte that cannot hold the bit looked for is skipped whole.
    let skip = if bit { 0x00 } else { 0xFF };
    let mut pos = from;
    while pos <= to {
        let byte = bytes[(pos >> 3) as usize];
        if pos & 7 == 0 && to - pos >= 7 && byte == skip {
            pos += 8;
            continue;
        }
        if (byte & (0x80 >> (pos & 7)) != 0) == bit {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

/// The `bits`-wide unsigned field at bit `offset` (fields past the end read as zeros).
pub fn get_unsigned(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    let mut value = 0u64;
    for i in 0..bits as u64 {
        value = (value << 1) | get_bit(bytes, offset + i) as u64;
    }
    value
}

/// The `bits`-wide two's complement field at bit `offset`.
pub fn get_signed(bytes: &[u8], offset: u64, bits: u32) -> i64 {
    let value = get_unsigned(bytes, offset, bits);
    if bits < 64 && value & (1 << (bits - 1)) != 0 {
        (value | (u64::MAX << bits)) as i64
    } else {
        value as i64
    }
}

/// Writes the low `bits` bits of `value` at bit `offset` (the field must be inside `bytes`).
pub fn set_field(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..bits as u64 {
        set_bit(bytes, offset + i, value & (1 << (bits as u64 - 1 - i)) != 0);
    }
}

/// What BITFIELD does when a SET or INCRBY goes past a field's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// Adds `incr` to the unsigned `bits`-wide `value`: the result, or None when it overflows under FAIL
/// (Redis's checkUnsignedBitfieldOverflow).
pub fn add_unsigned(value: u64, incr: i64, bits: u32, overflow: Overflow) -> Option<u64> {
    let max = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let result = value as i128 + incr as i128;
    if (0..=max as i128).contains(&result) {
        return Some(result as u64);
    }
    match overflow {
        Overflow::Wrap => Some((value.wrapping_add(incr as u64)) & max),
        Overflow::Sat => Some(if result < 0 { 0 } else { max }),
        Overflow::Fail => None,
    }
}

/// Adds `incr` to the signed `bits`-wide `value` (Redis's checkSignedBitfieldOverflow).
pub fn add_signed(value: i64, incr: i64, bits: u32, overflow: Overflow) -> Option<i64> {
    let max = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let result = value as i128 + incr as i128;
    if (min as i128..=max as i128).contains(&result) {
        return Some(result as i64);
    }
    match overflow {
        Overflow::Wrap => {
            let sum = (value as u64).wrapping_add(incr as u64);
            Some(if bits == 64 {
                sum as i64
            } else if sum & (1 << (bits - 1)) != 0 {
                (sum | (u64::MAX << bits)) as i64
            } else {
                (sum & !(u64::MAX << bits)) as i64
            })
        }
        Overflow::Sat => Some(if result < 0 { min } else { max }),
        Overflow::Fail => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bit_of(bytes: &[u8], i: u64) -> bool {
        bytes[(i / 8) as usize] >> (7 - i % 8) & 1 == 1
    }

    #[test]
    fn bits_are_numbered_from_the_most_significant() {
        let mut bytes = vec![0u8; 2];
        assert!(!set_bit(&mut bytes, 1, true));
        assert_eq!(bytes, [0x40, 0]);
        assert!(get_bit(&bytes, 1));
        assert!(!get_bit(&bytes, 100));
        set_field(&mut bytes, 4, 8, 0xAB);
        assert_eq!(get_unsigned(&bytes, 4, 8), 0xAB);
        assert_eq!(get_signed(&bytes, 4, 8), 0xABu8 as i8 as i64);
        assert_eq!(get_unsigned(&bytes, 8, 64), 0xB0 << 56);
    }

    #[test]
    fn overflow_rules_follow_redis() {
        assert_eq!(add_unsigned(250, 10, 8, Overflow::Wrap), Some(4));
        assert_eq!(add_unsigned(250, 10, 8, Overflow::Sat), Some(255));
        assert_eq!(add_unsigned(5, -10, 8, Overflow::Sat), Some(0));
        assert_eq!(add_unsigned(5, -10, 8, Overflow::Fail), None);
        assert_eq!(add_signed(127, 1, 8, Overflow::Wrap), Some(-128));
        assert_eq!(add_signed(-128, -1, 8, Overflow::Sat), Some(-128));
        assert_eq!(add_signed(i64::MAX, 1, 64, Overflow::Wrap), Some(i64::MIN));
        assert_eq!(add_signed(100, 0, 4, Overflow::Wrap), Some(4));
        assert_eq!(add_signed(100, 0, 4, Overflow::Fail), None);
    }

    proptest! {
        #[test]
        fn counts_and_searches_match_a_bit_by_bit_scan(bytes in proptest::collection::vec(any::<u8>(), 1..40),
                                                         a in 0u64..320, b in 0u64..320, bit: bool) {
            let len = bytes.len() as u64 * 8;
            let (from, to) = (a.min(b) % len, a.max(b) % len);
            let (from, to) = (from.min(to), from.max(to));
            let expected = (from..=to).filter(|&i| bit_of(&bytes, i)).count() as u64;
            prop_assert_eq!(count_bits(&bytes, from, to), expected);
            prop_assert_eq!(first_bit(&bytes, bit, from, to), (from..=to).find(|&i| bit_of(&bytes, i) == bit));
        }

        #[test]
        fn fields_round_trip(value: u64, offset in 0u64..100, bits in 1u32..=64) {
            let mut bytes = vec![0u8; 22];
            let masked = if bits == 64 { value } else { value & ((1 << bits) - 1) };
            set_field(&mut bytes, offset, bits, value);
            prop_assert_eq!(get_unsigned(&bytes, offset, bits), masked);
            prop_assert_eq!(popcount(&bytes), masked.count_ones() as u64);
        }
    }
}
