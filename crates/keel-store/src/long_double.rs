//! INCRBYFLOAT's and HINCRBYFLOAT's numbers: Redis does this arithmetic in C's `long double` (x87's 80-bit
//! format on x86-64: a 64-bit mantissa), reads with `strtold` and prints with `%.17Lf`, zeros trimmed. In
//! `double`s, 0.1 + 0.1 + 0.1 would print 0.30000000000000004 where Redis prints 0.3, so Keel computes in
//! the same 80-bit format (rustc_apfloat's exact IEEE arithmetic) and prints the same digits.

use rustc_apfloat::ieee::{Double, X87DoubleExtended};
use rustc_apfloat::{Float, FloatConvert};
use std::str::FromStr;

/// A C `long double` (x87 extended precision).
#[derive(Clone, Copy, Debug)]
pub struct LongDouble(X87DoubleExtended);

/// Longest text `strtold` is given (Redis's MAX_LONG_DOUBLE_CHARS).
const MAX_CHARS: usize = 5 * 1024;

/// The sum, rounded to nearest as the FPU rounds it.
impl std::ops::Add for LongDouble {
    type Output = LongDouble;

    fn add(self, other: LongDouble) -> LongDouble {
        LongDouble((self.0 + other.0).value)
    }
}

impl LongDouble {
    /// A number as Redis's `string2ld` accepts it: no leading space, no trailing garbage, not NaN, and not
    /// out of range (a value too large for a long double, or so small it reads as zero, is refused as
    /// `strtold`'s ERANGE makes Redis refuse it). `inf` and hexadecimal floats are accepted.
    pub fn parse(bytes: &[u8]) -> Option<LongDouble> {
        let text = std::str::from_utf8(bytes).ok()?;
        if text.is_empty() || text.len() >= MAX_CHARS || text.starts_with(|c: char| c.is_ascii_whitespace()) {
            return None;
        }
        let negative = text.starts_with('-');
        let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
        if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
            let infinity = X87DoubleExtended::INFINITY;
            return Some(LongDouble(if negative { -infinity } else { infinity }));
        }
        let is_hex = unsigned.get(..2).is_some_and(|prefix| prefix.eq_ignore_ascii_case("0x"));
        if is_hex {
            // Hexadecimal floats hold at most the bits a double reads exactly here.
            return crate::number::parse_f64(bytes).map(LongDouble::from_f64);
        }
        // The decimal grammar `strtold` reads (Rust's float grammar, which also spells out inf and NaN,
        // handled above and refused here); the value, correctly rounded to 64 bits of mantissa.
        let signed_twice = unsigned.starts_with(['+', '-']);
        if signed_twice || unsigned.parse::<f64>().map_or(true, f64::is_nan) || unsigned.contains(['i', 'I', 'n', 'N'])
        {
            return None;
        }
        let parsed = X87DoubleExtended::from_str(unsigned).ok()?;
        let value = if negative { -parsed } else { parsed };
        let mantissa = unsigned.split(['e', 'E']).next().unwrap_or("");
        let underflow = value.is_zero() && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b));
        (!value.is_infinite() && !underflow).then_some(LongDouble(value))
    }

    pub fn from_i64(value: i64) -> LongDouble {
        LongDouble(X87DoubleExtended::from_i128(i128::from(value)).value)
    }

    /// A double, exactly (every double is a long double).
    fn from_f64(value: f64) -> LongDouble {
        LongDouble(Double::from_bits(u128::from(value.to_bits())).convert(&mut false).value)
    }

    pub fn is_finite(self) -> bool {
        self.0.is_finite()
    }

    /// Redis's human form (`ld2string` with LD_STR_HUMAN): `%.17Lf`, trailing zeros and point dropped, and
    /// `-0` written as `0`. Finite values only.
    pub fn to_human(self) -> String {
        let bits = self.0.to_bits();
        let negative = (bits >> 79) & 1 == 1;
        let exponent_field = ((bits >> 64) & 0x7fff) as i32;
        let mantissa = bits as u64;
        // value = mantissa × 2^exponent
        let exponent = exponent_field.max(1) - 16383 - 63;
        let mut text = if exponent >= 0 {
            integer_digits(mantissa, exponent as u32)
        } else {
            fixed_17(mantissa, exponent.unsigned_abs())
        };
        if text.contains('.') {
            let kept = text.trim_end_matches('0').trim_end_matches('.').len();
            text.truncate(kept);
        }
        if negative && text != "0" {
            text.insert(0, '-');
        }
        text
    }
}

/// `mantissa / 2^shift` with 17 decimals, rounded half to even as printf rounds.
fn fixed_17(mantissa: u64, shift: u32) -> String {
    const SCALE: u128 = 100_000_000_000_000_000;
    let scaled = u128::from(mantissa) * SCALE; // below 2^121
    let rounded = if shift >= 128 {
        0
    } else {
        let (quotient, remainder) = (scaled >> shift, scaled & ((1u128 << shift) - 1));
        let half = 1u128 << (shift - 1);
        quotient + u128::from(remainder > half || (remainder == half && quotient & 1 == 1))
    };
    let digits = format!("{rounded:018}");
    let (whole, fraction) = digits.split_at(digits.len() - 17);
    format!("{whole}.{fraction}")
}

/// The decimal digits of `mantissa × 2^shift`, an integer of up to about 4,950 digits.
fn integer_digits(mantissa: u64, shift: u32) -> String {
    // Little-endian base-2^32 limbs of the shifted mantissa.
    let mut limbs = vec![0u32; (shift / 32) as usize];
    let wide = u128::from(mantissa) << (shift % 32);
    limbs.extend([wide as u32, (wide >> 32) as u32, (wide >> 64) as u32]);
    let mut chunks = Vec::new();
    while limbs.iter().any(|&l| l != 0) {
        let mut remainder = 0u64;
        for limb in limbs.iter_mut().rev() {
            let current = (remainder << 32) | u64::from(*limb);
            *limb = (current / 1_000_000_000) as u32;
            remainder = current % 1_000_000_000;
        }
        chunks.push(remainder as u32);
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
    }
    let mut text = chunks.pop().map_or_else(|| "0".to_string(), |top| top.to_string());
    chunks.iter().rev().for_each(|chunk| text.push_str(&format!("{chunk:09}")));
    text
}

#[cfg(test)]
mod tests {
    use super::LongDouble;
    use proptest::prelude::*;

    proptest! {
        /// Every i64 is exact in a long double and prints as itself, through both the fixed-point and the
        /// integer paths (i64::MIN is 2^63, past the mantissa's binary point).
        #[test]
        fn integers_print_as_themselves(n in any::<i64>()) {
            prop_assert_eq!(LongDouble::from_i64(n).to_human(), n.to_string());
            let read = LongDouble::parse(n.to_string().as_bytes()).unwrap() + LongDouble::parse(b"0").unwrap();
            prop_assert_eq!(read.to_human(), n.to_string());
        }
    }

    fn sum(a: &str, b: &str) -> String {
        (LongDouble::parse(a.as_bytes()).unwrap() + LongDouble::parse(b.as_bytes()).unwrap()).to_human()
    }

    /// Replies of Redis 8.0.2 (x86-64) to the same INCRBYFLOATs.
    #[test]
    fn sums_print_as_redis_prints_them() {
        assert_eq!(sum("0.2", "0.1"), "0.3");
        assert_eq!(sum("10.5", "0.1"), "10.6");
        assert_eq!(sum("10.6", "-5"), "5.6");
        assert_eq!(sum("5.0e3", "2.0e2"), "5200");
        assert_eq!(sum("10.5", "1e20"), "100000000000000000008");
        assert_eq!(sum("100000000000000000008", "-1e20"), "8");
        assert_eq!(sum("0", "1e30"), "1000000000000000000024696061952");
        assert_eq!(sum("1.4", "1e15"), "1000000000000001.4000244140625");
        assert_eq!(sum("1.0000000000000001", "0"), "1.0000000000000001");
        assert_eq!(sum("9007199254740993", "1"), "9007199254740994");
        assert_eq!(sum("123456789.123456789", "0.000000001"), "123456789.12345678999554366");
        assert_eq!(sum("0.1", "-0.1"), "0");
        assert_eq!(sum("-1e-30", "0"), "0");
        assert_eq!(sum("-2.5", "0"), "-2.5");
        // 17 decimals of the nearest long double, as printf writes them.
        assert_eq!(sum("128.4", "0"), "128.39999999999999999");
        assert_eq!(sum("999999.9", "0"), "999999.89999999999997726");
        assert_eq!(sum("-0.7", "0"), "-0.7");
        let huge = sum("1e400", "0");
        assert_eq!((huge.len(), &huge[..30]), (401, "100000000000000000002818806839"));
        assert_eq!((LongDouble::from_i64(-7) + LongDouble::parse(b"0.5").unwrap()).to_human(), "-6.5");
    }

    #[test]
    fn reads_what_strtold_reads() {
        for valid in ["1.5", "+1.5", "-0", ".5", "5.", "1e400", "0x1p3", "0x1.8p1", "inf", "-Infinity", "0e-9999"] {
            assert!(LongDouble::parse(valid.as_bytes()).is_some(), "{valid}");
        }
        for invalid in ["", " 1", "1 ", "nan", "1e5000", "1e-5000", "abc", "1.5x", "0x", "--1"] {
            assert!(LongDouble::parse(invalid.as_bytes()).is_none(), "{invalid}");
        }
        assert_eq!(LongDouble::parse(b"0x1.8p1").unwrap().to_human(), "3");
        assert_eq!(LongDouble::parse(b"-0x1p-20").unwrap().to_human(), "-0.00000095367431641");
        assert_eq!(LongDouble::parse(b"0x1.5p10").unwrap().to_human(), "1344");
        assert!(!LongDouble::parse(b"inf").unwrap().is_finite());
    }
}
