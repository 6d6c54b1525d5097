//! Masks sensitive digits in transcripts before they are stored: card numbers and phone
//! numbers, written as digits ("4111 1111 1111 1111", "+7 916 111-22-33") or spoken as digit
//! words ("four one one one ...", "девять один шесть ..."), as engines write them.
//!
//! A run of consecutive tokens that carry digits (digit groups, digit words) with at least
//! [`MIN_DIGITS`] digits in total is masked: each digit becomes `*` and each digit word `*`.
//! Shorter runs (prices, quantities, times) are kept. Conservative on purpose: an order number
//! of seven digits is masked too.

/// Fewer digits than this in a run are kept: the shortest local phone numbers have seven.
pub const MIN_DIGITS: usize = 7;

/// Digit words of the languages the built-in engines speak.
const DIGIT_WORDS: &[&str] = &[
    "zero",
    "oh",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ноль",
    "нуль",
    "один",
    "одна",
    "два",
    "две",
    "три",
    "четыре",
    "пять",
    "шесть",
    "семь",
    "восемь",
    "девять",
];

/// The digit each of [`DIGIT_WORDS`] names.
const DIGIT_VALUES: [u8; 24] = [
    0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 1, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9,
];

/// `text` with every long digit run masked.
pub fn redact_text(text: &str) -> String {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let masked = runs_to_mask(&tokens);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    for (token, mask) in tokens.iter().zip(masked) {
        let Some(at) = rest.find(token) else { break };
        out.push_str(&rest[..at]);
        out.push_str(&if mask {
            mask_token(token)
        } else {
            (*token).to_owned()
        });
        rest = &rest[at + token.len()..];
    }
    out.push_str(rest);
    out
}

/// Masks the same runs across a sequence of words (one token each), in place.
pub fn redact_words<'a>(words: impl IntoIterator<Item = &'a mut String>) {
    let mut words: Vec<&mut String> = words.into_iter().collect();
    let masked = {
        let tokens: Vec<&str> = words.iter().map(|w| w.as_str()).collect();
        runs_to_mask(&tokens)
    };
    for (word, mask) in words.iter_mut().zip(masked) {
        if mask {
            **word = mask_token(word);
        }
    }
}

/// The long digit runs of `text` as digits (digit words turned into digits): the phone or card
/// numbers that redaction masks, for the facts that keep a caller's phone number.
pub fn digit_runs(text: &str) -> Vec<String> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let masked = runs_to_mask(&tokens);
    let mut runs = Vec::new();
    let mut current = String::new();
    for (token, mask) in tokens.iter().zip(masked) {
        if mask {
            current.push_str(&token_digits(token));
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// A token's digits: its ASCII digits, or the digit a digit word names.
fn token_digits(token: &str) -> String {
    let numeric: String = token.chars().filter(char::is_ascii_digit).collect();
    if !numeric.is_empty() {
        return numeric;
    }
    digit_word(token).map(|d| d.to_string()).unwrap_or_default()
}

/// The digit a digit word names (`"Seven,"` is 7), if the token is one.
fn digit_word(token: &str) -> Option<u8> {
    let word: String = token
        .chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .collect();
    DIGIT_WORDS
        .iter()
        .position(|w| *w == word)
        .map(|i| DIGIT_VALUES[i])
}

/// For each token, whether it belongs to a run to mask.
fn runs_to_mask(tokens: &[&str]) -> Vec<bool> {
    let digits: Vec<usize> = tokens.iter().map(|t| digits_in(t)).collect();
    let mut mask = vec![false; tokens.len()];
    let mut start = 0;
    while start < tokens.len() {
        if digits[start] == 0 {
            start += 1;
            continue;
        }
        let end = (start..tokens.len())
            .find(|&i| digits[i] == 0 && !is_separator(tokens[i]))
            .unwrap_or(tokens.len());
        let total: usize = digits[start..end].iter().sum();
        if total >= MIN_DIGITS {
            mask[start..end].iter_mut().for_each(|m| *m = true);
        }
        start = end;
    }
    mask
}

/// Digits a token stands for: its ASCII digits, or one for a digit word.
fn digits_in(token: &str) -> usize {
    let numeric = token.bytes().filter(u8::is_ascii_digit).count();
    if numeric > 0 {
        return numeric;
    }
    usize::from(digit_word(token).is_some())
}

/// A token between digit groups that does not break a number: a dash, a plus, brackets.
fn is_separator(token: &str) -> bool {
    !token.is_empty() && token.chars().all(|c| "-+()./–—".contains(c))
}

fn mask_token(token: &str) -> String {
    if digits_in(token) == 0 {
        return token.to_owned();
    }
    if token.bytes().any(|b| b.is_ascii_digit()) {
        token
            .chars()
            .map(|c| if c.is_ascii_digit() { '*' } else { c })
            .collect()
    } else {
        let trail: String = token.chars().filter(|c| !c.is_alphabetic()).collect();
        format!("*{trail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_and_phone_numbers_are_masked_in_any_writing() {
        assert_eq!(
            redact_text("my card is 4111 1111 1111 1111, thanks"),
            "my card is **** **** **** ****, thanks"
        );
        assert_eq!(
            redact_text("call me at +7 (916) 111-22-33 tomorrow"),
            "call me at +* (***) ***-**-** tomorrow"
        );
        assert_eq!(redact_text("номер 89161112233."), "номер ***********.");
        assert_eq!(
            redact_text("it is nine one six one one one two two three three ok"),
            "it is * * * * * * * * * * ok"
        );
        assert_eq!(
            redact_text("Девять один шесть, один один один - два два"),
            "* * *, * * * - * *"
        );
    }

    #[test]
    fn runs_come_out_as_digits() {
        assert_eq!(
            digit_runs("call me on +7 916 111-22-33 or nine one six one one one two two three"),
            ["79161112233", "916111223"]
        );
        assert_eq!(digit_runs("двести рублей, 1500"), Vec::<String>::new());
    }

    #[test]
    fn short_numbers_stay() {
        let kept = "it costs 1500 roubles, delivery in 3 days at 10 30";
        assert_eq!(redact_text(kept), kept);
        assert_eq!(redact_text("one two three"), "one two three");
        assert_eq!(redact_text(""), "");
    }

    #[test]
    fn words_are_masked_like_text() {
        let mut words: Vec<String> = "card 4111 1111 1111 1111 please"
            .split(' ')
            .map(str::to_owned)
            .collect();
        redact_words(words.iter_mut());
        assert_eq!(words, ["card", "****", "****", "****", "****", "please"]);
    }
}
