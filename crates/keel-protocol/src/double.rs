//! Redis 7.0 renders doubles in replies with C's `%.17g`; clients and tests compare those exact strings.

/// Formats `value` as C's `printf("%.17g", value)` does, with `inf`, `-inf` and `nan` spelled as Redis does.
pub fn format_double(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // 17 significant digits in scientific form; `{:e}` rounds correctly, like printf.
    let sci = format!("{:.16e}", value);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..17).contains(&exp) {
        let mantissa = trim_fraction(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let decimals = (16 - exp).max(0) as usize;
    let fixed = format!("{:.*}", decimals, value);
    trim_fraction(&fixed).to_string()
}

fn trim_fraction(s: &str) -> &str {
    if !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.')
}

#[cfg(test)]
mod tests {
    use super::format_double;

    #[test]
    fn matches_printf_g17() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(10.0), "10");
        assert_eq!(format_double(-3.0), "-3");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(123456789012345678.0), "1.2345678901234568e+17");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(0.00001), "1.0000000000000001e-05");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_double(1.23456), "1.2345600000000001");
    }
}
