//! Reading the crate's source as production code: comments and literals blanked, every item
//! under `#[cfg(test)]` cut out wherever it sits in the file (not just "all after the first").

use std::path::{Path, PathBuf};

/// `(path relative to the crate, production code)` for every production source file.
pub fn production_sources(root: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name == "tests.rs" || name.ends_with("_tests.rs") {
                return None;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            Some((rel, production_code(&text)))
        })
        .collect()
}

pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file without comments, string/char literal contents and `#[cfg(test)]` items; line
/// breaks are kept so line numbers stay true.
pub fn production_code(text: &str) -> String {
    without_test_items(&blank_comments_and_literals(text), true)
}

/// How many lines of the file are production code (test items cut out, comments kept).
pub fn production_lines(text: &str) -> usize {
    let blanked = blank_comments_and_literals(text);
    let kept = without_test_items(&blanked, false);
    kept.lines().count()
}

/// Comments and the insides of string and char literals become spaces (newlines kept), so
/// that braces and words inside them count for nothing.
pub fn blank_comments_and_literals(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('#') || next == Some('"')) && !ident_before(&b, i) {
            let mut hashes = 0;
            let mut j = i + 1;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.push('"');
            i = j + 1;
            while i < b.len() {
                if b[i] == '"' && (0..hashes).all(|k| b.get(i + 1 + k) == Some(&'#')) {
                    out.push('"');
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(b[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c == '\'' && is_char_literal(&b, i) {
            let end = char_literal_end(&b, i);
            out.push('\'');
            for _ in i + 1..end {
                out.push(' ');
            }
            out.push('\'');
            i = end + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The closing quote of the char literal opening at `i`.
fn char_literal_end(b: &[char], i: usize) -> usize {
    if b[i + 1] != '\\' {
        return i + 2;
    }
    let first = i + 3;
    (first..b.len())
        .find(|&k| b[k] == '\'')
        .unwrap_or(b.len() - 1)
}

fn ident_before(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// `'x'`, `'\n'`, `'\''`, `'\u{7f}'`: a char literal, not a lifetime (`'a`).
fn is_char_literal(b: &[char], i: usize) -> bool {
    matches!(
        (b.get(i + 1), b.get(i + 2)),
        (Some('\\'), _) | (Some(_), Some('\''))
    )
}

/// Cuts every item annotated `#[cfg(test)]`: a `mod x { ... }`, `fn`, `impl`, `use ...;`
/// or `mod x;`. Line breaks inside the cut are kept.
pub fn without_test_items(code: &str, keep_lines: bool) -> String {
    let b: Vec<char> = code.chars().collect();
    let marker: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(&marker) {
            let end = item_end(&b, i + marker.len());
            if keep_lines {
                out.extend(b[i..end].iter().filter(|&&c| c == '\n'));
            }
            i = end;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Where the item starting at `from` ends: after its `;` if that comes before any `{`,
/// else after the brace matching its first `{`.
fn item_end(b: &[char], from: usize) -> usize {
    let mut i = from;
    let mut depth = 0usize;
    let mut brackets = 0usize;
    while i < b.len() {
        match b[i] {
            '[' => brackets += 1,
            ']' => brackets = brackets.saturating_sub(1),
            ';' if depth == 0 && brackets == 0 => return i + 1,
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}
