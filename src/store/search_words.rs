//! A user's transcript search words, parsed once and written as either backend's query:
//! every word must occur (in either channel), a trailing `*` keeps its prefix meaning, and
//! nothing else of a query language is let through (`OR`, `(`, `"`, `:`, `&` are plain words
//! or nothing). SQLite gets an FTS5 query ([`SearchWords::fts5`]), PostgreSQL a `tsquery`
//! text ([`SearchWords::tsquery`]) whose lexemes are letters and digits only.

/// One search word: its letters, digits, `'` and `-`, and whether it ends in `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchWord {
    pub text: String,
    pub prefix: bool,
}

/// The words of one search (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchWords(Vec<SearchWord>);

impl SearchWords {
    /// The words of `text`; `None` when there is no word to look for.
    pub fn parse(text: &str) -> Option<SearchWords> {
        let words: Vec<SearchWord> = text
            .split_whitespace()
            .filter_map(|raw| {
                let word: String = raw
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == '\'' || *c == '-')
                    .collect();
                let prefix = raw.ends_with('*');
                word.chars()
                    .any(char::is_alphanumeric)
                    .then_some(SearchWord { text: word, prefix })
            })
            .collect();
        (!words.is_empty()).then_some(SearchWords(words))
    }

    /// The words in order.
    pub fn words(&self) -> &[SearchWord] {
        &self.0
    }

    /// As an FTS5 query: each word a quoted string (`'` and `-` split it into a phrase, as
    /// the tokenizer does), `*` after a prefix; the strings side by side mean AND.
    pub fn fts5(&self) -> String {
        let terms: Vec<String> = self
            .0
            .iter()
            .map(|w| {
                let quoted = format!("\"{}\"", w.text.replace('"', "\"\""));
                if w.prefix {
                    format!("{quoted}*")
                } else {
                    quoted
                }
            })
            .collect();
        terms.join(" ")
    }

    /// As `to_tsquery` text: each word's runs of letters and digits quoted and joined by
    /// `<->` (a phrase, as FTS5 reads `e-mail`), `:*` after a prefix's last run, the words
    /// joined by `&`. Only letters and digits are ever inside the quotes.
    pub fn tsquery(&self) -> String {
        let terms: Vec<String> = self
            .0
            .iter()
            .map(|w| {
                let runs: Vec<&str> = w
                    .text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|r| !r.is_empty())
                    .collect();
                let last = runs.len().saturating_sub(1);
                let lexemes: Vec<String> = runs
                    .iter()
                    .enumerate()
                    .map(|(i, run)| {
                        let star = if w.prefix && i == last { ":*" } else { "" };
                        format!("'{run}'{star}")
                    })
                    .collect();
                format!("({})", lexemes.join(" <-> "))
            })
            .collect();
        terms.join(" & ")
    }
}

/// `headline` (a passage of `text` with the found words in `[` `]`) with `…` where it was
/// cut from `text`: before it unless `text` starts with it, after it unless `text` ends
/// with it, as FTS5's `snippet` marks its cuts.
pub fn with_ellipses(text: &str, headline: &str) -> String {
    let bare: String = headline
        .chars()
        .filter(|c| *c != '[' && *c != ']')
        .collect();
    let bare = bare.trim();
    let text = text.trim();
    if bare.is_empty() {
        return headline.to_owned();
    }
    let before = if text.starts_with(bare) { "" } else { "…" };
    let after = if text.ends_with(bare) { "" } else { "…" };
    format!("{before}{}{after}", headline.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SearchWords {
        SearchWords::parse(text).unwrap()
    }

    #[test]
    fn words_become_an_fts5_query_with_nothing_else_let_through() {
        assert_eq!(parse("price  delivery").fts5(), "\"price\" \"delivery\"");
        assert_eq!(parse("deliv*").fts5(), "\"deliv\"*");
        assert_eq!(parse("\" OR ( )").fts5(), "\"OR\"");
        assert_eq!(SearchWords::parse("  ** () -- ''"), None);
    }

    #[test]
    fn words_become_a_tsquery_of_letters_and_digits_only() {
        assert_eq!(
            parse("price  delivery").tsquery(),
            "('price') & ('delivery')"
        );
        assert_eq!(parse("deliv*").tsquery(), "('deliv':*)");
        assert_eq!(parse("e-mail*").tsquery(), "('e' <-> 'mail':*)");
        assert_eq!(parse("don't").tsquery(), "('don' <-> 't')");
        assert_eq!(
            parse("a:b & c|d !x <-> (y) 'z'\\").tsquery(),
            "('ab') & ('cd') & ('x') & ('y') & ('z')"
        );
        assert_eq!(parse("Café").tsquery(), "('Café')");
    }

    #[test]
    fn a_cut_passage_is_marked_where_it_was_cut() {
        let text = "one two three four";
        assert_eq!(with_ellipses(text, "two [three]"), "…two [three]…");
        assert_eq!(with_ellipses(text, "[one] two"), "[one] two…");
        assert_eq!(with_ellipses(text, "three [four]"), "…three [four]");
        assert_eq!(
            with_ellipses(text, "[one] two three four"),
            "[one] two three four"
        );
    }
}
