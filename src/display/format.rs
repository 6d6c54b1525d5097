//! Phone numbers as visitors read them: "+7 (495) 000-00-01" for Russia and Kazakhstan, the
//! country code plus readable groups elsewhere.

/// Two-digit country codes (ITU-T E.164); "1" and "7" are the one-digit ones, every other
/// assigned code has three digits.
const TWO_DIGIT_CODES: &[&str] = &[
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
    "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65",
    "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
];

/// "74950000001" -> "+7 (495) 000-00-01"; other E.164 numbers grouped readably ("+44 20 7946 0958"-like).
///
/// A leading '+' is accepted; anything that is not 8..=15 digits is returned unchanged.
pub fn format_number(e164_digits: &str) -> String {
    let digits = e164_digits.strip_prefix('+').unwrap_or(e164_digits);
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return e164_digits.to_owned();
    }
    let (code, national) = digits.split_at(country_code_len(digits));
    let groups = match (code, national.len()) {
        ("7", 10) => return russian(national),
        ("1", 10) => split(national, &[3, 3, 4]),
        ("44", 10) if national.starts_with('2') => split(national, &[2, 4, 4]),
        ("44", 10) => split(national, &[4, 6]),
        ("380" | "375", 9) => split(national, &[2, 3, 2, 2]),
        _ => split(national, &generic_groups(national.len())),
    };
    format!("+{code} {}", groups.join(" "))
}

fn country_code_len(digits: &str) -> usize {
    if digits.starts_with(['1', '7']) {
        1
    } else if TWO_DIGIT_CODES.iter().any(|code| digits.starts_with(code)) {
        2
    } else {
        3
    }
}

/// "4950000001" -> "+7 (495) 000-00-01".
fn russian(national: &str) -> String {
    let parts = split(national, &[3, 3, 2, 2]);
    match parts.as_slice() {
        [area, a, b, c] => format!("+7 ({area}) {a}-{b}-{c}"),
        _ => format!("+7 {national}"),
    }
}

/// Groups of three, the last one four digits long when one digit would be left over.
fn generic_groups(len: usize) -> Vec<usize> {
    let mut sizes = vec![3; len / 3];
    match (len % 3, sizes.last_mut()) {
        (1, Some(last)) => *last += 1,
        (0, _) => {}
        (rest, _) => sizes.push(rest),
    }
    sizes
}

/// Splits ASCII digits into consecutive groups of the given sizes (the rest goes last).
fn split<'a>(digits: &'a str, sizes: &[usize]) -> Vec<&'a str> {
    let mut groups = Vec::with_capacity(sizes.len() + 1);
    let mut rest = digits;
    for &size in sizes {
        let (head, tail) = rest.split_at(size.min(rest.len()));
        if !head.is_empty() {
            groups.push(head);
        }
        rest = tail;
    }
    if !rest.is_empty() {
        groups.push(rest);
    }
    groups
}
