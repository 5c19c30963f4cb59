//! Redis's textual number rules: which strings are integers (`string2ll`) and which are floats (`strtod` with
//! Redis's extra checks). INCRBYFLOAT's long doubles are `long_double.rs`'s.

/// Redis's `string2ll`: an optional `-`, digits with no leading zero (except "0" itself), no `+`, no spaces,
/// within i64.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.first()? {
        b'-' => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    let first = *digits.first()?;
    if digits.len() > 19 || !first.is_ascii_digit() || (first == b'0' && (digits.len() > 1 || negative)) {
        return None;
    }
    let mut magnitude: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    if negative {
        if magnitude > i64::MAX as u64 + 1 {
            return None;
        }
        Some((magnitude as i128).wrapping_neg() as i64)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// A float argument as Redis accepts it (`strtod` with Redis's checks): no leading space, no trailing garbage,
/// not NaN, hexadecimal floats (`0x1p-3`) too, and nothing out of range: a decimal too large for a double
/// or so small it is zero is refused, as `strtod`'s ERANGE makes Redis refuse it. `inf` is accepted.
pub fn parse_f64(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() || text.len() > 5000 || text.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let value = match unsigned.get(..2) {
        Some(prefix) if prefix.eq_ignore_ascii_case("0x") => {
            let magnitude = parse_hex_float(&unsigned[2..])?;
            if text.starts_with('-') {
                -magnitude
            } else {
                magnitude
            }
        }
        _ => text.parse::<f64>().ok()?,
    };
    let spelled_infinite = unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity");
    let mantissa = unsigned.split(['e', 'E', 'p', 'P']).next().unwrap_or("");
    let underflow = value == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b));
    if value.is_nan() || (value.is_infinite() && !spelled_infinite) || underflow {
        return None;
    }
    Some(value)
}

/// The digits of a hexadecimal float after `0x`: hex digits with an optional point, then an optional
/// binary exponent (`p` and a decimal integer), as C's `strtod` reads them.
fn parse_hex_float(text: &str) -> Option<f64> {
    let (digits, exponent) = match text.find(['p', 'P']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in whole.chars().chain(fraction.chars()) {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let scale = exponent.checked_sub(4 * i32::try_from(fraction.len()).ok()?)?;
    Some(value * 2f64.powi(scale))
}

/// Number of characters in the decimal form of `n` (STRLEN of an integer-encoded string).
pub fn decimal_len(n: i64) -> usize {
    let mut len = if n < 0 { 2 } else { 1 };
    let mut m = n.unsigned_abs();
    while m >= 10 {
        m /= 10;
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [&b""[..], b"-", b"-0", b"01", b"+1", b" 1", b"1 ", b"9223372036854775808", b"1a", b"1.0"] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn float_rules() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1 "), None);
        assert_eq!(parse_f64(b""), None);
        assert_eq!(parse_f64(b"0x1p+0"), Some(1.0));
        assert_eq!(parse_f64(b"-0x1.8p1"), Some(-3.0));
        assert_eq!(parse_f64(b"0x7FFFFFFFFFFFFF"), Some(36028797018963967.0));
        assert_eq!(parse_f64(b"0x"), None);
        assert_eq!(parse_f64(b"0xg"), None);
        assert_eq!(parse_f64(b"1e400"), None, "ERANGE");
        assert_eq!(parse_f64(b"1e-400"), None, "ERANGE");
        assert_eq!(parse_f64(b"0e-400"), Some(0.0));
        assert_eq!(parse_f64(b"-Infinity"), Some(f64::NEG_INFINITY));
    }

    proptest! {
        #[test]
        fn integers_roundtrip(n in any::<i64>()) {
            let text = n.to_string();
            prop_assert_eq!(parse_i64(text.as_bytes()), Some(n));
            prop_assert_eq!(decimal_len(n), text.len());
        }
    }
}
