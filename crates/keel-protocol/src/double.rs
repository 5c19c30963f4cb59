//! How doubles read in replies: Redis 7.2+'s `d2string`. An integral value (within half of `i64`'s range)
//! is written as an integer; any other finite value with the fewest digits that read back as the same
//! double, laid out as Redis's `fpconv_dtoa` lays them out (`0.1`, `0.00001`, `1.5e-7`, `1e+20`); `inf`,
//! `-inf`, `nan`, `0` and `-0` as Redis spells them. Clients and tests compare these exact strings.
//!
//! The digits come from Rust's shortest round-trip formatting (`{:e}`); Redis's come from Grisu2, which
//! finds the same digits for all but rare values, where it gives a longer string that still reads back
//! exactly (4M random doubles, of every exponent, rendered the same as Redis 8.0.2's `fpconv_dtoa`; 1e23
//! is one that differs: Redis writes `99999999999999990000000`).

use std::fmt::Write;

/// Room for the longest rendering: a sign, 17 digits, a point, up to 21 padding zeros of `0.000001…` or
/// an exponent.
const CAPACITY: usize = 48;

/// A double rendered into a buffer of its own (no allocation).
#[derive(Clone, Copy)]
pub struct DoubleText {
    buf: [u8; CAPACITY],
    len: usize,
}

impl DoubleText {
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn as_str(&self) -> &str {
        // The buffer only ever receives ASCII.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

impl Write for DoubleText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.len + s.len() > CAPACITY {
            return Err(std::fmt::Error);
        }
        self.push(s.as_bytes());
        Ok(())
    }
}

impl std::fmt::Display for DoubleText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for DoubleText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl PartialEq<&str> for DoubleText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Formats `value` as Redis 7.2+ replies with it (see the module's documentation).
pub fn format_double(value: f64) -> DoubleText {
    let mut text = DoubleText { buf: [0; CAPACITY], len: 0 };
    if value.is_nan() {
        text.push(b"nan");
    } else if value.is_infinite() {
        text.push(if value > 0.0 { b"inf" } else { b"-inf" });
    } else if value == 0.0 {
        text.push(if value.is_sign_negative() { b"-0" } else { b"0" });
    } else if let Some(integer) = exact_integer(value) {
        let _ = write!(text, "{integer}");
    } else {
        if value < 0.0 {
            text.push(b"-");
        }
        let (digits, exponent) = shortest_digits(value.abs());
        lay_out(&mut text, digits.as_bytes(), exponent, value < 0.0);
    }
    text
}

/// The value as an `i64` when it is integral and within half of `i64`'s range (Redis's `double2ll`).
fn exact_integer(value: f64) -> Option<i64> {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if !(-LIMIT..=LIMIT).contains(&value) {
        return None;
    }
    let integer = value as i64;
    (integer as f64 == value).then_some(integer)
}

/// The fewest significant digits that read back as `value` (positive, finite, not zero), and the
/// decimal exponent `K` such that `value = digits × 10^K`.
fn shortest_digits(value: f64) -> (DoubleText, i32) {
    let mut scientific = DoubleText { buf: [0; CAPACITY], len: 0 };
    let _ = write!(scientific, "{value:e}");
    let text = scientific.as_bytes();
    let e = text.iter().position(|&b| b == b'e').unwrap_or(text.len());
    let exponent: i32 =
        std::str::from_utf8(&text[(e + 1).min(text.len())..]).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut digits = DoubleText { buf: [0; CAPACITY], len: 0 };
    for &b in text[..e].iter().filter(|b| b.is_ascii_digit()) {
        digits.push(&[b]);
    }
    let k = exponent - (digits.len as i32 - 1);
    (digits, k)
}

/// Redis's `emit_digits`: the digits as an integer padded with zeros, as a decimal with a point, or in
/// scientific notation (at most 18 digits, 17 after a minus sign), by the same thresholds.
fn lay_out(text: &mut DoubleText, digits: &[u8], k: i32, negative: bool) {
    let ndigits = digits.len() as i32;
    let exp = (k + ndigits - 1).abs();
    if k >= 0 && exp < ndigits + 7 {
        text.push(digits);
        (0..k).for_each(|_| text.push(b"0"));
        return;
    }
    if k < 0 && (k > -7 || exp < 4) {
        let offset = ndigits - k.abs();
        if offset <= 0 {
            text.push(b"0.");
            (0..-offset).for_each(|_| text.push(b"0"));
            text.push(digits);
        } else {
            let (whole, fraction) = digits.split_at(offset as usize);
            text.push(whole);
            text.push(b".");
            text.push(fraction);
        }
        return;
    }
    let kept = &digits[..digits.len().min(18 - negative as usize)];
    text.push(&kept[..1]);
    if kept.len() > 1 {
        text.push(b".");
        text.push(&kept[1..]);
    }
    let sign = if k + ndigits - 1 < 0 { "-" } else { "+" };
    let _ = write!(text, "e{sign}{exp}");
}

#[cfg(test)]
mod tests {
    use super::format_double;
    use proptest::prelude::*;

    /// Strings Redis 8.0.2 replies with (ZSCORE, ZINCRBY) for the same values.
    #[test]
    fn matches_redis_d2string() {
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (10.0, "10"),
            (-3.0, "-3"),
            (1.23456, "1.23456"),
            (0.0001, "0.0001"),
            (0.00001, "0.00001"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (-2.5e-10, "-2.5e-10"),
            (0.0012345678901234567, "0.0012345678901234567"),
            (123.456, "123.456"),
            (1234567.125, "1234567.125"),
            (1e20, "1e+20"),
            (1e19, "1e+19"),
            (4611686018427387904.0, "4611686018427387904"),
            (12345678901234567890.0, "12345678901234567000"),
            (123456789012345678901234.0, "123456789012345690000000"),
            (-123456789012345678901234.0, "-123456789012345690000000"),
            (1.2345678901234567e30, "1.2345678901234567e+30"),
            (-1.2345678901234567e-30, "-1.2345678901234567e-30"),
            (123e-9, "1.23e-7"),
            (1e100, "1e+100"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (0.0, "0"),
            (-0.0, "-0"),
        ];
        for &(value, expected) in cases {
            assert_eq!(format_double(value), expected, "{value:e}");
        }
    }

    proptest! {
        /// Whatever the value, the text reads back as exactly that value.
        #[test]
        fn reads_back_as_the_same_double(bits in any::<u64>()) {
            let value = f64::from_bits(bits);
            let text = format_double(value);
            let read: f64 = text.as_str().parse().unwrap();
            if value.is_nan() {
                prop_assert!(read.is_nan());
            } else {
                prop_assert_eq!(read.to_bits(), value.to_bits(), "{}", text);
            }
        }
    }
}
