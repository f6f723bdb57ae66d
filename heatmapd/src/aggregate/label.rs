//! Reading a verdict word such as "correct" or "not factual" as an accuracy.

/// Words that mark a correct answer.
const POSITIVE: [&str; 9] = [
    "correct", "factual", "true", "yes", "pass", "passed", "right", "accurate", "success",
];

/// Words that mark a wrong answer. "no" is here too, see [`NEGATED_BY_NO`].
const NEGATIVE: [&str; 22] = [
    "incorrect",
    "wrong",
    "false",
    "incoherent",
    "hallucination",
    "hallucinations",
    "hallucinated",
    "no",
    "fail",
    "failed",
    "failure",
    "untrue",
    "inaccurate",
    "nonfactual",
    "unfactual",
    "error",
    "errors",
    "erroneous",
    "mistake",
    "mistakes",
    "invalid",
    "incorrectly",
];

/// Words that make a verdict half right.
const PARTIAL: [&str; 3] = ["partial", "partially", "partly"];

/// Words that negate the next verdict word in the same clause.
const NEGATORS: [&str; 8] = [
    "not", "non", "isnt", "arent", "wasnt", "werent", "never", "hardly",
];

/// Nouns that "no" negates when it comes right before them, so "no hallucination" is a pass.
const NEGATED_BY_NO: [&str; 7] = [
    "hallucination",
    "hallucinations",
    "error",
    "errors",
    "mistake",
    "mistakes",
    "failure",
];

/// How many words a negator reaches ahead, so "not entirely correct" is negated.
const NEGATION_REACH: usize = 3;

/// Reads a verdict label as an accuracy: 1 for a correct verdict, 0 for a
/// wrong one, 0.5 for a partial one.
///
/// The text is trimmed and case-folded; apostrophes and hyphens are dropped
/// inside words ("isn't" reads as "isnt", "non-factual" as "nonfactual") and
/// other punctuation separates clauses. A negator ("not", "non", "isn't", ...)
/// flips the next verdict word in its clause, so "not correct" is 0 and "not
/// wrong" is 1. Returns `None` when the text has no verdict word (a topic such
/// as "geography") or mixes verdicts that disagree ("true/false").
pub fn classify_label(text: &str) -> Option<f64> {
    let mut positive = false;
    let mut negative = false;
    let mut partial = false;
    for clause in clauses(text) {
        let words: Vec<&str> = clause.split_whitespace().collect();
        let mut negation_left = 0usize;
        for (index, word) in words.iter().enumerate() {
            let word = *word;
            if PARTIAL.contains(&word) {
                partial = true;
                continue;
            }
            if NEGATORS.contains(&word) {
                negation_left = NEGATION_REACH;
                continue;
            }
            if word == "no"
                && words
                    .get(index + 1)
                    .is_some_and(|next| NEGATED_BY_NO.contains(next))
            {
                negation_left = 1;
                continue;
            }
            let polarity = if POSITIVE.contains(&word) {
                Some(true)
            } else if NEGATIVE.contains(&word) {
                Some(false)
            } else {
                None
            };
            match polarity {
                Some(is_positive) => {
                    let negated = negation_left > 0;
                    negation_left = 0;
                    if is_positive != negated {
                        positive = true;
                    } else {
                        negative = true;
                    }
                }
                None => negation_left = negation_left.saturating_sub(1),
            }
        }
    }
    match (positive, negative, partial) {
        (_, _, true) => Some(0.5),
        (true, false, false) => Some(1.0),
        (false, true, false) => Some(0.0),
        _ => None,
    }
}

/// Splits text into lowercase clauses of words separated by single spaces.
fn clauses(text: &str) -> Vec<String> {
    let mut clauses = Vec::new();
    let mut current = String::new();
    for c in text.trim().chars() {
        if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
        } else if matches!(c, '\'' | '\u{2019}' | '-' | '\u{2010}' | '\u{2011}') {
            // Dropped inside words: "isn't" -> "isnt", "non-factual" -> "nonfactual".
        } else if c.is_whitespace() || c == '_' {
            current.push(' ');
        } else {
            clauses.push(std::mem::take(&mut current));
        }
    }
    clauses.push(current);
    clauses.retain(|clause| !clause.trim().is_empty());
    clauses
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_as_accuracy() {
        let cases: [(&str, Option<f64>); 32] = [
            ("correct", Some(1.0)),
            ("CORRECT", Some(1.0)),
            ("  Correct.  ", Some(1.0)),
            ("factual", Some(1.0)),
            ("True", Some(1.0)),
            ("yes", Some(1.0)),
            ("PASS", Some(1.0)),
            ("right", Some(1.0)),
            ("incorrect", Some(0.0)),
            ("wrong", Some(0.0)),
            ("false", Some(0.0)),
            ("incoherent", Some(0.0)),
            ("Hallucination", Some(0.0)),
            ("no", Some(0.0)),
            ("FAIL", Some(0.0)),
            ("not factual", Some(0.0)),
            ("Not correct", Some(0.0)),
            ("untrue", Some(0.0)),
            ("non-factual", Some(0.0)),
            ("non factual", Some(0.0)),
            ("isn't correct", Some(0.0)),
            ("is not entirely correct", Some(0.0)),
            ("not wrong", Some(1.0)),
            ("no hallucination", Some(1.0)),
            ("No, incorrect", Some(0.0)),
            ("partially correct", Some(0.5)),
            ("The answer is correct", Some(1.0)),
            ("geography", None),
            ("true/false", None),
            ("factual error", None),
            ("", None),
            ("correctness", None),
        ];
        for (text, expected) in cases {
            assert_eq!(classify_label(text), expected, "label {text:?}");
        }
    }

    #[test]
    fn negation_stays_in_its_clause() {
        assert_eq!(classify_label("not sure; correct"), Some(1.0));
        assert_eq!(classify_label("not, correct"), Some(1.0));
    }
}
