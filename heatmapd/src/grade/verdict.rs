//! Reading a verdict out of a judge model's output.
//!
//! The output is parsed as strict JSON first. Failing that, the object is
//! looked for in a code fence or in surrounding prose, and then repaired:
//! single-quoted strings become double-quoted and trailing commas are
//! dropped. Output that still yields no object, such as a truncated
//! `{"verdict": "corr`, has no verdict and is kept raw by the caller.

use serde_json::{Map, Value};

use super::thinking;

/// Keys that may hold the verdict, in order of preference (compared without case).
const VERDICT_KEYS: [&str; 6] = ["verdict", "correct", "label", "result", "grade", "judgment"];
/// Keys that may hold the judge's reason (compared without case).
const REASON_KEYS: [&str; 4] = ["justification", "reason", "explanation", "rationale"];

/// A verdict read from a judge's output.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedVerdict {
    /// Whether the answer is correct; `None` when the output holds no usable verdict.
    pub correct: Option<bool>,
    /// The judge's reason, when it gave one.
    pub justification: Option<String>,
}

/// Reads the verdict and justification from a judge's output.
pub fn parse(output: &str) -> ParsedVerdict {
    let answer = thinking::split(output).answer;
    let Some(object) = find_object(&answer) else {
        return ParsedVerdict {
            correct: None,
            justification: None,
        };
    };
    let correct = VERDICT_KEYS
        .iter()
        .find_map(|key| field(&object, key))
        .and_then(verdict_value);
    let justification = REASON_KEYS
        .iter()
        .find_map(|key| field(&object, key))
        .and_then(Value::as_str)
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty());
    ParsedVerdict {
        correct,
        justification,
    }
}

/// Looks up a key without regard to case.
fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(name, _)| name.trim().eq_ignore_ascii_case(key))
        .map(|(_, value)| value)
}

fn verdict_value(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(correct) => Some(*correct),
        Value::Number(number) => match number.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(label) => label_value(label),
        _ => None,
    }
}

/// Maps a verdict label to correct or incorrect, ignoring case, surrounding
/// quotes or emphasis, and trailing punctuation (`"Incorrect."` is incorrect).
pub fn label_value(label: &str) -> Option<bool> {
    let label = label
        .trim()
        .trim_matches(|c: char| matches!(c, '"' | '\'' | '*' | '`' | '.' | '!' | ' '))
        .to_lowercase();
    match label.as_str() {
        "correct" | "right" | "true" | "yes" | "pass" => Some(true),
        "incorrect" | "not correct" | "wrong" | "false" | "no" | "fail" => Some(false),
        _ => None,
    }
}

/// Finds the first JSON object in `text`: the whole text, a code fence, or
/// a balanced `{...}` span, each parsed as is and then after [`repair`].
pub fn find_object(text: &str) -> Option<Map<String, Value>> {
    let mut candidates = vec![text.trim().to_string()];
    candidates.extend(fenced_blocks(text));
    candidates.extend(object_spans(text).into_iter().map(str::to_string));
    candidates
        .iter()
        .find_map(|candidate| parse_object(candidate))
        .or_else(|| {
            candidates
                .iter()
                .find_map(|candidate| parse_object(&repair(candidate)))
        })
}

fn parse_object(text: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(Value::Object(object)) => Some(object),
        _ => None,
    }
}

/// Returns the contents of each closed ```` ``` ```` fence, without the
/// language tag on its opening line.
fn fenced_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let body_start = after.find('\n').map_or(after.len(), |newline| newline + 1);
        // A tag such as `json` may sit on the fence line; an object may too.
        let (body, tail) = match after[..body_start].trim_start().starts_with('{') {
            true => (after, after),
            false => (&after[body_start..], &after[body_start..]),
        };
        let Some(close) = body.find("```") else { break };
        blocks.push(body[..close].to_string());
        rest = &tail[close + 3..];
    }
    blocks
}

/// Tells whether a `'` at `index` closes a single-quoted string: it does
/// when what follows, after spaces, ends a JSON value (`,`, `}`, `]`, `:`
/// or the end of the text). Any other `'` is an apostrophe inside the string.
fn closes_single_quote(chars: &[char], index: usize) -> bool {
    chars[index + 1..]
        .iter()
        .find(|c| !c.is_whitespace())
        .is_none_or(|c| matches!(c, ',' | '}' | ']' | ':'))
}

/// Tells whether a quote at this point starts a string: after `{`, `[`, `,`
/// or `:` (ignoring spaces), where JSON expects a key or a value.
fn at_value_start(previous: Option<char>) -> bool {
    matches!(previous, Some('{' | '[' | ',' | ':'))
}

/// Returns every balanced `{...}` span of `text`, from left to right, with
/// braces inside double- or single-quoted strings not counted.
fn object_spans(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let plain: Vec<char> = chars.iter().map(|(_, c)| *c).collect();
    let mut spans = Vec::new();
    let mut start = 0;
    while let Some(offset) = plain[start..].iter().position(|c| *c == '{') {
        let open = start + offset;
        match span_end(&plain, open) {
            Some(close) => {
                let end_byte = chars[close].0 + chars[close].1.len_utf8();
                spans.push(&text[chars[open].0..end_byte]);
                start = close + 1;
            }
            None => start = open + 1,
        }
    }
    spans
}

/// Returns the index of the `}` that closes the `{` at `open`, if any.
fn span_end(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut previous: Option<char> = None;
    let mut i = open;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => i = skip_double_quoted(chars, i),
            '\'' if at_value_start(previous) => i = skip_single_quoted(chars, i),
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return (c == '}').then_some(i);
                }
            }
            _ => {}
        }
        if !c.is_whitespace() {
            previous = Some(c);
        }
        i += 1;
    }
    None
}

/// Returns the index of the `"` that ends the string opened at `open`, or
/// the last index when the string is never closed.
fn skip_double_quoted(chars: &[char], open: usize) -> usize {
    let mut i = open + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i,
            _ => i += 1,
        }
    }
    chars.len()
}

/// Returns the index of the `'` that ends the string opened at `open`, or
/// the last index when the string is never closed.
fn skip_single_quoted(chars: &[char], open: usize) -> usize {
    let mut i = open + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '\'' if closes_single_quote(chars, i) => return i,
            _ => i += 1,
        }
    }
    chars.len()
}

/// Rewrites near-JSON into JSON: single-quoted keys and values become
/// double-quoted (escaping `"` inside them), commas before `}` or `]` are
/// dropped, and the bare words `True`, `False` and `None` become `true`,
/// `false` and `null`. Double-quoted strings are copied unchanged, so
/// apostrophes and commas inside them are kept.
pub fn repair(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    let mut previous: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                let end = skip_double_quoted(&chars, i).min(chars.len() - 1);
                out.extend(&chars[i..=end]);
                i = end;
            }
            '\'' if at_value_start(previous) => {
                i = copy_single_quoted(&chars, i, &mut out);
            }
            ',' if chars[i + 1..]
                .iter()
                .find(|c| !c.is_whitespace())
                .is_some_and(|c| matches!(c, '}' | ']')) => {}
            c if c.is_ascii_alphabetic() && !previous.is_some_and(|p| p.is_alphanumeric()) => {
                let end = chars[i..]
                    .iter()
                    .position(|c| !c.is_ascii_alphanumeric())
                    .map_or(chars.len(), |len| i + len);
                let word: String = chars[i..end].iter().collect();
                out.push_str(match word.as_str() {
                    "True" => "true",
                    "False" => "false",
                    "None" => "null",
                    other => other,
                });
                i = end - 1;
            }
            _ => out.push(c),
        }
        if !chars[i].is_whitespace() {
            previous = Some(chars[i]);
        }
        i += 1;
    }
    out
}

/// Copies the single-quoted string opened at `open` as a double-quoted one
/// and returns the index of its closing quote (or of the last character).
fn copy_single_quoted(chars: &[char], open: usize, out: &mut String) -> usize {
    out.push('"');
    let mut i = open + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1) == Some(&'\'') => {
                out.push('\'');
                i += 1;
            }
            '\\' => {
                out.push('\\');
                if let Some(next) = chars.get(i + 1) {
                    out.push(*next);
                }
                i += 1;
            }
            '"' => out.push_str("\\\""),
            '\'' if closes_single_quote(chars, i) => {
                out.push('"');
                return i;
            }
            other => out.push(other),
        }
        i += 1;
    }
    chars.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(output: &str) -> Option<bool> {
        parse(output).correct
    }

    #[test]
    fn strict_json() {
        let parsed = parse(r#"{"verdict": "correct", "justification": "same city"}"#);
        assert_eq!(parsed.correct, Some(true));
        assert_eq!(parsed.justification.as_deref(), Some("same city"));
    }

    #[test]
    fn object_in_json_fence() {
        let output = "Here is my grade:\n```json\n{\"verdict\": \"incorrect\", \"justification\": \"wrong year\"}\n```\nDone.";
        let parsed = parse(output);
        assert_eq!(parsed.correct, Some(false));
        assert_eq!(parsed.justification.as_deref(), Some("wrong year"));
    }

    #[test]
    fn object_in_bare_fence() {
        assert_eq!(verdict("```\n{\"verdict\": \"correct\"}\n```"), Some(true));
    }

    #[test]
    fn object_in_prose() {
        let output = "After comparing {both} answers, my decision is {\"verdict\": \"correct\", \"justification\": \"matches\"} as requested.";
        let parsed = parse(output);
        assert_eq!(parsed.correct, Some(true));
        assert_eq!(parsed.justification.as_deref(), Some("matches"));
    }

    #[test]
    fn single_quotes_repaired() {
        let parsed = parse("{'verdict': 'incorrect', 'justification': 'says Lyon'}");
        assert_eq!(parsed.correct, Some(false));
        assert_eq!(parsed.justification.as_deref(), Some("says Lyon"));
    }

    #[test]
    fn trailing_commas_repaired() {
        let parsed = parse("{\"verdict\": \"correct\", \"justification\": \"ok\",\n}");
        assert_eq!(parsed.correct, Some(true));
        assert_eq!(parsed.justification.as_deref(), Some("ok"));
        assert_eq!(repair("{\"a\": [1, 2,], }"), "{\"a\": [1, 2] }");
    }

    #[test]
    fn apostrophes_inside_double_quoted_strings() {
        let output = "{\"verdict\": \"incorrect\", \"justification\": \"it's the model's guess, not Paris\",}";
        let parsed = parse(output);
        assert_eq!(parsed.correct, Some(false));
        assert_eq!(
            parsed.justification.as_deref(),
            Some("it's the model's guess, not Paris")
        );
    }

    #[test]
    fn apostrophes_inside_single_quoted_strings() {
        let output =
            "{'verdict': 'correct', 'justification': 'it's the author's name, \"Orwell\"'}";
        let parsed = parse(output);
        assert_eq!(parsed.correct, Some(true));
        assert_eq!(
            parsed.justification.as_deref(),
            Some("it's the author's name, \"Orwell\"")
        );
    }

    #[test]
    fn escaped_single_quote_is_unescaped() {
        let repaired = repair(r"{'justification': 'don\'t know'}");
        assert_eq!(repaired, r#"{"justification": "don't know"}"#);
    }

    #[test]
    fn python_literals_repaired() {
        assert_eq!(verdict("{'correct': True}"), Some(true));
        assert_eq!(
            verdict("{'correct': False, 'justification': None}"),
            Some(false)
        );
    }

    #[test]
    fn truncated_output_has_no_verdict() {
        let parsed = parse("{\"verdict\": \"corr");
        assert_eq!(parsed.correct, None);
        assert_eq!(parsed.justification, None);
        assert_eq!(
            verdict("```json\n{\"verdict\": \"correct\", \"justif"),
            None
        );
    }

    #[test]
    fn labels_with_case_and_punctuation() {
        assert_eq!(verdict(r#"{"verdict": "Incorrect."}"#), Some(false));
        assert_eq!(verdict(r#"{"verdict": "CORRECT!"}"#), Some(true));
        assert_eq!(verdict(r#"{"Verdict": "**correct**"}"#), Some(true));
        assert_eq!(verdict(r#"{"verdict": "not correct"}"#), Some(false));
        assert_eq!(verdict(r#"{"verdict": "partially correct"}"#), None);
    }

    #[test]
    fn boolean_and_numeric_verdicts() {
        assert_eq!(verdict(r#"{"correct": true}"#), Some(true));
        assert_eq!(verdict(r#"{"correct": 0}"#), Some(false));
        assert_eq!(verdict(r#"{"correct": 0.5}"#), None);
    }

    #[test]
    fn object_without_verdict_key() {
        assert_eq!(verdict(r#"{"answer": "Paris"}"#), None);
    }

    #[test]
    fn thinking_block_before_object() {
        let output = "<think>The reference says {Paris}.</think>{\"verdict\": \"correct\"}";
        assert_eq!(verdict(output), Some(true));
    }

    #[test]
    fn prose_without_object() {
        assert_eq!(verdict("I think it is right"), None);
        assert_eq!(verdict(""), None);
    }

    #[test]
    fn braces_inside_strings_do_not_end_span() {
        let output =
            "Result: {\"verdict\": \"correct\", \"justification\": \"the set {1, 2} matches\"} end";
        let parsed = parse(output);
        assert_eq!(parsed.correct, Some(true));
        assert_eq!(
            parsed.justification.as_deref(),
            Some("the set {1, 2} matches")
        );
    }
}
