//! Exact and whole-word matching of an answer against the accepted answers.
//!
//! `expected` lists accepted answers separated by `|`. Both sides are
//! trimmed, case-folded and stripped of surrounding quotes, markdown emphasis
//! and trailing punctuation; two values that both parse as numbers are
//! compared as numbers, so `4`, `4.0` and `1,000`/`1000` match.

/// The result of matching one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchResult {
    /// Whether an accepted answer matched.
    pub correct: bool,
    /// Part of the answer that was compared, and the value it was compared with.
    pub justification: String,
}

/// Returns the first line of `answer` that is not blank.
pub fn first_line(answer: &str) -> &str {
    answer
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("")
}

/// Normalizes a value for comparison.
pub fn normalize(text: &str) -> String {
    let mut s = text.trim();
    loop {
        let before = s;
        s = s.trim_end_matches(['.', ',', '!', '?', ';', ':']).trim();
        for (open, close) in [
            ("\"", "\""),
            ("'", "'"),
            ("**", "**"),
            ("*", "*"),
            ("`", "`"),
            ("_", "_"),
            ("(", ")"),
        ] {
            if s.len() >= open.len() + close.len() && s.starts_with(open) && s.ends_with(close) {
                s = s[open.len()..s.len() - close.len()].trim();
            }
        }
        if s == before {
            break;
        }
    }
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Parses a normalized value as a number, accepting thousands separators.
fn as_number(text: &str) -> Option<f64> {
    let cleaned: String = text.chars().filter(|c| *c != ',' && *c != '_').collect();
    let cleaned = cleaned.strip_prefix('+').unwrap_or(&cleaned);
    if cleaned.is_empty() || !cleaned.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    cleaned.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn same_value(a: &str, b: &str) -> bool {
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

/// Splits `expected` into its normalized accepted answers.
pub fn alternatives(expected: &str) -> Vec<String> {
    expected
        .split('|')
        .map(normalize)
        .filter(|a| !a.is_empty())
        .collect()
}

/// Compares the first non-empty line of `answer` with each accepted answer.
pub fn exact(answer: &str, expected: &str) -> MatchResult {
    let line = first_line(answer);
    let got = normalize(line);
    let accepted = alternatives(expected);
    match accepted.iter().find(|alt| same_value(&got, alt)) {
        Some(alt) => MatchResult {
            correct: true,
            justification: format!("first line {line:?} matches {alt:?}"),
        },
        None => MatchResult {
            correct: false,
            justification: format!("first line {line:?} matches none of {:?}", expected),
        },
    }
}

/// Splits text into lowercase word tokens; digits, letters and the inner
/// characters `.`, `,`, `'` and `-` between word characters stay in a token.
fn tokens(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let inner = matches!(c, '.' | ',' | '\'' | '-')
            && i > 0
            && chars[i - 1].is_alphanumeric()
            && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
        if c.is_alphanumeric() || inner {
            current.extend(c.to_lowercase());
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Accepts the answer when an accepted answer appears as a whole word (or
/// run of whole words) anywhere in it.
pub fn contains(answer: &str, expected: &str) -> MatchResult {
    let words = tokens(answer);
    for alt in alternatives(expected) {
        let needle = tokens(&alt);
        if needle.is_empty() || needle.len() > words.len() {
            continue;
        }
        let found = words
            .windows(needle.len())
            .any(|window| window.iter().zip(&needle).all(|(w, n)| same_value(w, n)));
        if found {
            return MatchResult {
                correct: true,
                justification: format!("answer contains {alt:?} as a whole word"),
            };
        }
    }
    MatchResult {
        correct: false,
        justification: format!("answer contains none of {expected:?} as a whole word"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_ignores_case_and_trailing_punctuation() {
        assert!(exact("Paris.", "paris").correct);
        assert!(exact("  PARIS!  \nmore text", "Paris").correct);
        assert!(exact("**Paris**", "Paris").correct);
        assert!(exact("\"Paris\"", "Paris").correct);
        assert!(!exact("Paris, France", "Paris").correct);
    }

    #[test]
    fn exact_uses_first_nonempty_line() {
        assert!(exact("\n\n  42\nbecause", "42").correct);
        assert!(!exact("The answer is\n42", "42").correct);
    }

    #[test]
    fn exact_compares_numbers_as_numbers() {
        assert!(exact("4.0", "4").correct);
        assert!(exact("1,000", "1000").correct);
        assert!(exact("0.50", ".5").correct);
        assert!(!exact("41", "42").correct);
    }

    #[test]
    fn exact_accepts_alternatives() {
        assert!(exact("seven", "7|seven").correct);
        assert!(exact("7", "7|seven").correct);
        assert!(!exact("six", "7|seven").correct);
    }

    #[test]
    fn exact_empty_answer_is_wrong() {
        assert!(!exact("", "Paris").correct);
        assert!(!exact("   \n ", "Paris").correct);
    }

    #[test]
    fn contains_matches_whole_words_only() {
        assert!(contains("I think it is Paris, France.", "Paris").correct);
        assert!(!contains("Parisian food", "Paris").correct);
        assert!(contains("The result is 1,000 apples", "1000").correct);
        assert!(!contains("10000", "1000").correct);
        assert!(contains("it is the Pacific Ocean", "pacific ocean|atlantic").correct);
        assert!(!contains("pacific", "pacific ocean").correct);
    }

    #[test]
    fn normalize_strips_nested_wrappers() {
        assert_eq!(normalize("  \"**Oxygen**.\"  "), "oxygen");
        assert_eq!(normalize("(H2O)"), "h2o");
        assert_eq!(normalize("New   York"), "new york");
    }
}
