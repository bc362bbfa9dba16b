//! Numbers compared by their decimal value, not as doubles: a condition must tell
//! `18446744073709551617` from `18446744073709551616` and `100.50000000000000001` from `100.5`, as the
//! agent wrote them, or "amount ≤ 100.5" would let a larger amount through.

use std::cmp::Ordering;

use serde_json::Number;

/// A decimal number: `0.d₁d₂… × 10^exponent`, digits without leading or trailing zeros (none for zero).
#[derive(Debug)]
struct Decimal<'a> {
    negative: bool,
    /// ASCII digits; the first one is not `0`.
    digits: DigitRun<'a>,
    exponent: i64,
}

/// The significant digits, which may straddle the decimal point in the text they come from.
#[derive(Debug)]
struct DigitRun<'a> {
    integer: &'a [u8],
    fraction: &'a [u8],
}

impl DigitRun<'_> {
    fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        self.integer.iter().chain(self.fraction).copied()
    }

    fn is_empty(&self) -> bool {
        self.integer.is_empty() && self.fraction.is_empty()
    }
}

/// Exponents beyond this are clamped: no JSON number anyone sends needs more, and clamping keeps the
/// arithmetic from overflowing.
const EXPONENT_LIMIT: i64 = 1 << 40;

impl<'a> Decimal<'a> {
    /// Reads a JSON number (`-?digits[.digits][e[+-]digits]`); `None` when `text` is not one.
    fn parse(text: &'a str) -> Option<Decimal<'a>> {
        let bytes = text.as_bytes();
        let (negative, rest) = match bytes.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, bytes),
        };
        let mantissa_end = rest
            .iter()
            .position(|b| matches!(b, b'e' | b'E'))
            .unwrap_or(rest.len());
        let (mantissa, exponent_part) = rest.split_at(mantissa_end);
        let (integer, fraction) = match mantissa.iter().position(|&b| b == b'.') {
            Some(dot) => (&mantissa[..dot], &mantissa[dot + 1..]),
            None => (mantissa, &[][..]),
        };
        if integer.is_empty() || !integer.iter().chain(fraction).all(u8::is_ascii_digit) {
            return None;
        }
        if mantissa.len() > integer.len() && fraction.is_empty() {
            return None;
        }
        let mut exponent = match exponent_part.split_first() {
            None => 0,
            Some((_, digits)) => parse_exponent(digits)?,
        };
        // Normalise: drop leading zeros (each one moves the point), then trailing zeros.
        exponent += integer.len() as i64;
        let integer_lead = integer.iter().take_while(|&&b| b == b'0').count();
        let (integer, fraction) = if integer_lead == integer.len() {
            let fraction_lead = fraction.iter().take_while(|&&b| b == b'0').count();
            exponent -= (integer.len() + fraction_lead) as i64;
            (&[][..], &fraction[fraction_lead..])
        } else {
            exponent -= integer_lead as i64;
            (&integer[integer_lead..], fraction)
        };
        let fraction = trim_trailing_zeros(fraction);
        let integer = if fraction.is_empty() {
            trim_trailing_zeros(integer)
        } else {
            integer
        };
        let digits = DigitRun { integer, fraction };
        let zero = digits.is_empty();
        Some(Decimal {
            negative: negative && !zero,
            exponent: if zero { 0 } else { exponent },
            digits,
        })
    }

    fn magnitude_cmp(&self, other: &Decimal<'_>) -> Ordering {
        match (self.digits.is_empty(), other.digits.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        self.exponent
            .cmp(&other.exponent)
            .then_with(|| self.digits.iter().cmp(other.digits.iter()))
    }
}

impl Ord for Decimal<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.magnitude_cmp(other),
            (true, true) => other.magnitude_cmp(self),
        }
    }
}

impl PartialEq for Decimal<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal<'_> {}

impl PartialOrd for Decimal<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn parse_exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits.iter().fold(0i64, |acc, d| {
        (acc * 10 + i64::from(d - b'0')).min(EXPONENT_LIMIT)
    });
    Some(if negative { -magnitude } else { magnitude })
}

fn trim_trailing_zeros(digits: &[u8]) -> &[u8] {
    let end = digits.iter().rposition(|&b| b != b'0').map_or(0, |i| i + 1);
    &digits[..end]
}

/// Compares two numbers written as JSON number text; `None` when either is not a number.
pub(crate) fn text_cmp(a: &str, b: &str) -> Option<Ordering> {
    Some(Decimal::parse(a)?.cmp(&Decimal::parse(b)?))
}

/// Compares parsed numbers: integers directly, anything else by its decimal value (a double by the
/// shortest text that reads back as it).
pub(crate) fn number_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    text_cmp(&a.to_string(), &b.to_string())
}

/// A count from a number's text (`increment_from`): a non-negative integer in any spelling (`1e2`),
/// saturating at `u64::MAX` beyond it so an enormous amount exhausts a limit; `None` for a negative or
/// fractional value.
pub(crate) fn count_from_text(text: &str) -> Option<u64> {
    let d = Decimal::parse(text)?;
    if d.digits.is_empty() {
        return Some(0);
    }
    let significant = (d.digits.integer.len() + d.digits.fraction.len()) as i64;
    if d.negative || significant > d.exponent {
        return None;
    }
    if d.exponent > 20 {
        return Some(u64::MAX);
    }
    let mut value: u128 = d
        .digits
        .iter()
        .fold(0, |acc, b| acc * 10 + u128::from(b - b'0'));
    for _ in significant..d.exponent {
        value *= 10;
    }
    Some(u64::try_from(value).unwrap_or(u64::MAX))
}

/// True when `number` differs from the value `text` spells (a number read from it lost digits): a
/// policy refuses constants it could only keep approximately, so a rule compares against what its
/// author wrote. False when `text` is not JSON number text.
pub(crate) fn loses_digits(number: &Number, text: &str) -> bool {
    matches!(text_cmp(&number.to_string(), text), Some(o) if o != Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        text_cmp(a, b).unwrap_or_else(|| panic!("{a} or {b} is not a number"))
    }

    #[test]
    fn equal_values_in_every_spelling() {
        for (a, b) in [
            ("1", "1.0"),
            ("100", "1e2"),
            ("100", "1E+2"),
            ("0.015", "15e-3"),
            ("0", "-0"),
            ("0", "0.000e99"),
            ("-0.0", "0e-5"),
            ("120", "0.12e3"),
            ("000.5", "0.50"),
        ] {
            assert_eq!(cmp(a, b), Ordering::Equal, "{a} vs {b}");
        }
    }

    #[test]
    fn orders_beyond_doubles_and_64_bits() {
        for (a, b) in [
            ("18446744073709551616", "18446744073709551617"),
            ("100.5", "100.50000000000000001"),
            ("-100.50000000000000001", "-100.5"),
            ("-1", "0"),
            ("0", "1e-400"),
            ("9.99", "10"),
            ("1e308", "1e309"),
            ("0.099", "0.1"),
            ("-18446744073709551617", "-18446744073709551616"),
            ("12", "123"),
            ("1e-2", "0.0100000000000000000001"),
        ] {
            assert_eq!(cmp(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(cmp(b, a), Ordering::Greater, "{b} > {a}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_json_number() {
        for bad in [
            "", "-", "1.", ".5", "1e", "1e+", "abc", "1.2.3", "0x10", "1_000",
        ] {
            assert_eq!(text_cmp(bad, "1"), None, "{bad:?}");
        }
    }

    #[test]
    fn huge_exponents_are_clamped_not_overflowed() {
        assert_eq!(cmp("1e99999999999999999999999", "1e999"), Ordering::Greater);
        assert_eq!(cmp("1e-99999999999999999999999", "1e-999"), Ordering::Less);
    }

    #[test]
    fn counts_are_whole_and_saturate() {
        assert_eq!(count_from_text("1e2"), Some(100));
        assert_eq!(count_from_text("0.0"), Some(0));
        assert_eq!(count_from_text("25.000"), Some(25));
        assert_eq!(count_from_text("18446744073709551617"), Some(u64::MAX));
        assert_eq!(count_from_text("1e400"), Some(u64::MAX));
        assert_eq!(count_from_text("100.0000000000000000001"), None);
        assert_eq!(count_from_text("-1"), None);
        assert_eq!(count_from_text("2.5"), None);
    }

    #[test]
    fn parsed_numbers_compare_exactly_where_they_can() {
        let n = |text: &str| serde_json::from_str::<Number>(text).expect(text);
        assert_eq!(number_cmp(&n("1"), &n("1.0")), Some(Ordering::Equal));
        assert_eq!(
            number_cmp(&n("-1"), &n("18446744073709551615")),
            Some(Ordering::Less)
        );
        assert_eq!(number_cmp(&n("3"), &n("2.5")), Some(Ordering::Greater));
        assert!(!loses_digits(&n("0.1"), "0.1"));
        assert!(!loses_digits(&n("1e30"), "1000000000000000000000000000000"));
        assert!(loses_digits(
            &n("18446744073709551617"),
            "18446744073709551617"
        ));
        assert!(loses_digits(
            &n("0.30000000000000000001"),
            "0.30000000000000000001"
        ));
    }
}
