//! Tracking-number syntax: E.164 digits and inclusive ranges "first-last" in pool lists.

/// Most numbers one range may expand to.
pub(super) const MAX_RANGE_NUMBERS: u64 = 100_000;

/// 8..15 ASCII digits without '+' (E.164 allows at most 15; 8 rules out short codes).
pub(super) fn is_e164_digits(s: &str) -> bool {
    (8..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Checks an E.164 value, phrasing the problem for the config reader.
pub(super) fn check_e164(s: &str) -> Result<(), String> {
    if is_e164_digits(s) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not E.164 digits (8 to 15 digits, no '+')"
        ))
    }
}

/// Expands one pool entry: a single number or an inclusive range of same-length numbers.
pub(super) fn expand_entry(entry: &str) -> Result<Vec<String>, String> {
    match entry.split_once('-') {
        None => check_e164(entry).map(|()| vec![entry.to_owned()]),
        Some((first, last)) => expand_range(entry, first.trim(), last.trim()),
    }
}

fn expand_range(entry: &str, first: &str, last: &str) -> Result<Vec<String>, String> {
    check_e164(first).map_err(|e| format!("range {entry:?}: first {e}"))?;
    check_e164(last).map_err(|e| format!("range {entry:?}: last {e}"))?;
    if first.len() != last.len() {
        return Err(format!(
            "range {entry:?}: both ends must have the same number of digits"
        ));
    }
    let (low, high) = (as_integer(first)?, as_integer(last)?);
    if low > high {
        return Err(format!("range {entry:?}: first is greater than last"));
    }
    let count = high - low + 1;
    if count > MAX_RANGE_NUMBERS {
        return Err(format!(
            "range {entry:?} holds {count} numbers, at most {MAX_RANGE_NUMBERS} are allowed"
        ));
    }
    let width = first.len();
    Ok((low..=high).map(|n| format!("{n:0width$}")).collect())
}

fn as_integer(digits: &str) -> Result<u64, String> {
    digits
        .parse::<u64>()
        .map_err(|e| format!("{digits:?} is not a number: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_bounds() {
        assert!(is_e164_digits("74950000000"));
        assert!(is_e164_digits("12345678"));
        assert!(!is_e164_digits("1234567"));
        assert!(!is_e164_digits("1234567890123456"));
        assert!(!is_e164_digits("+74950000000"));
        assert!(!is_e164_digits("7495abc0000"));
    }

    #[test]
    fn range_expands_inclusive_with_leading_zeros() {
        let numbers = expand_entry("0495000098-0495000101").unwrap();
        assert_eq!(
            numbers,
            ["0495000098", "0495000099", "0495000100", "0495000101"]
        );
    }

    #[test]
    fn single_number_is_one_entry() {
        assert_eq!(expand_entry("74950000200").unwrap(), ["74950000200"]);
    }

    #[test]
    fn bad_ranges_are_explained() {
        let reversed = expand_entry("74950000149-74950000100").unwrap_err();
        assert!(
            reversed.contains("first is greater than last"),
            "{reversed}"
        );
        let lengths = expand_entry("74950000100-749500001490").unwrap_err();
        assert!(lengths.contains("same number of digits"), "{lengths}");
        let huge = expand_entry("74950000000-74959999999").unwrap_err();
        assert!(huge.contains("at most 100000"), "{huge}");
        let junk = expand_entry("7495000010x-74950000149").unwrap_err();
        assert!(junk.contains("not E.164"), "{junk}");
    }
}
