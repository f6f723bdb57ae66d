//! Accuracy of one grade JSON, whichever tool wrote it.
//!
//! The sources are tried in order, and the first usable one decides:
//! 1. a numeric field (`accuracy`, `acc`, `score`, `accuracy_score`,
//!    `accuracy_pct`, `accuracy_percent`, `accuracy_percentage`, `percent`,
//!    `percentage`, `pct`);
//! 2. a boolean field (`correct`, `is_correct`, `passed`, `pass`);
//! 3. a verdict label (`label`, `verdict`, `judgment`, `judgement`, `result`,
//!    `grade`, `evaluation`, `assessment`, `outcome`, `category`), read by
//!    [`classify_label`];
//! 4. counts: `correct` (or `num_correct`, `n_correct`, `correct_count`) over
//!    `total` (or `num_total`, `n_total`, `total_count`, `count`, `num_questions`);
//! 5. a list of results (`results`, `scores`, `outcomes`, `grades`,
//!    `evaluations`) of booleans, numbers, labels or objects: their mean.
//!
//! Field names match without regard to ASCII case.

use std::fmt;

use serde_json::{Number, Value};

use super::fields::{self, Field, GradeFields};
pub use super::label::classify_label;

/// Accuracy of one grade.
#[derive(Debug, Clone, PartialEq)]
pub enum Accuracy {
    /// A usable accuracy in [0, 1].
    Scored(f64),
    /// The grade has no usable accuracy. It is counted and reported, never averaged as 0.
    Unscored,
    /// A field contains a value that cannot be an accuracy (NaN, infinite,
    /// negative, above 100). The reason names the field and the value.
    Invalid(String),
}

impl fmt::Display for Accuracy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Accuracy::Scored(value) => write!(f, "{value}"),
            Accuracy::Unscored => f.write_str("unscored"),
            Accuracy::Invalid(reason) => write!(f, "invalid: {reason}"),
        }
    }
}

/// Extracts the accuracy of one grade JSON. Anything but an object is [`Accuracy::Unscored`].
///
/// Numbers above 1 are percentages: 85 is 0.85. Strings may hold a number
/// (`"0.7"`), a percentage (`"85%"`) or a fraction (`"8/10"`).
///
/// ```
/// use heatmapd::aggregate::accuracy::{accuracy, Accuracy};
/// let grade = serde_json::json!({"category": "geography", "verdict": "not factual"});
/// assert_eq!(accuracy(&grade), Accuracy::Scored(0.0));
/// ```
pub fn accuracy(grade: &Value) -> Accuracy {
    match grade {
        Value::Object(object) => accuracy_of_fields(&GradeFields::collect(object)),
        _ => Accuracy::Unscored,
    }
}

/// Extracts the accuracy from fields already collected from a grade object.
pub(crate) fn accuracy_of_fields(fields: &GradeFields) -> Accuracy {
    for field in fields::NUMERIC {
        let Some(value) = fields.get(field) else {
            continue;
        };
        match numeric(value) {
            Numeric::Value(x) => return Accuracy::Scored(x),
            Numeric::Invalid(reason) => return invalid(field, value, &reason),
            Numeric::Text => {}
        }
    }

    let has_total = fields.first_of(&fields::COUNT_TOTAL).is_some();
    for field in fields::BOOLEAN {
        let scored = match fields.get(field) {
            Some(Value::Bool(b)) => Some(f64::from(u8::from(*b))),
            // A bare 0 or 1 is a boolean; next to a total it is a count.
            Some(Value::Number(n)) if !has_total => n.as_f64().filter(|x| *x == 0.0 || *x == 1.0),
            Some(Value::String(text)) => classify_label(text),
            _ => None,
        };
        if let Some(x) = scored {
            return Accuracy::Scored(x);
        }
    }

    for field in fields::LABEL {
        let scored = match fields.get(field) {
            Some(Value::Bool(b)) => Some(f64::from(u8::from(*b))),
            Some(Value::String(text)) => classify_label(text),
            _ => None,
        };
        if let Some(x) = scored {
            return Accuracy::Scored(x);
        }
    }

    match counts(fields) {
        Some(Ok(x)) => return Accuracy::Scored(x),
        Some(Err(reason)) => return Accuracy::Invalid(reason),
        None => {}
    }

    for field in fields::LIST {
        let Some(Value::Array(items)) = fields.get(field) else {
            continue;
        };
        match list_mean(items) {
            Some(Ok(x)) => return Accuracy::Scored(x),
            Some(Err(reason)) => {
                return Accuracy::Invalid(format!("{}{reason}", fields::name(field)));
            }
            None => {}
        }
    }
    Accuracy::Unscored
}

fn invalid(field: Field, value: &Value, reason: &str) -> Accuracy {
    Accuracy::Invalid(format!("{} {value} {reason}", fields::name(field)))
}

/// A value read from a numeric field.
enum Numeric {
    /// An accuracy in [0, 1].
    Value(f64),
    /// A number that cannot be an accuracy, with the reason.
    Invalid(String),
    /// Text that is not a number at all, or another kind of value, so the next source is tried.
    Text,
}

fn numeric(value: &Value) -> Numeric {
    match value {
        Value::Number(n) => scale(number(n)),
        Value::Bool(b) => Numeric::Value(f64::from(u8::from(*b))),
        Value::String(text) => numeric_text(text),
        _ => Numeric::Text,
    }
}

fn number(n: &Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// Maps a number to [0, 1]: up to 1 it is a fraction, up to 100 a percentage.
fn scale(x: f64) -> Numeric {
    if !x.is_finite() {
        Numeric::Invalid("is not a finite number".into())
    } else if x < 0.0 {
        Numeric::Invalid("is negative".into())
    } else if x <= 1.0 {
        // Adding 0.0 turns -0.0 into 0.0.
        Numeric::Value(x + 0.0)
    } else if x <= 100.0 {
        Numeric::Value(x / 100.0)
    } else {
        Numeric::Invalid("is above 100".into())
    }
}

/// Reads `"0.7"`, `"85"`, `"85%"` or `"8/10"`.
fn numeric_text(text: &str) -> Numeric {
    let text = text.trim();
    if let Some(percent) = text.strip_suffix('%') {
        return match percent.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && (0.0..=100.0).contains(&x) => Numeric::Value(x / 100.0 + 0.0),
            Ok(x) if x.is_finite() && x < 0.0 => Numeric::Invalid("is negative".into()),
            Ok(x) if x.is_finite() => Numeric::Invalid("is above 100%".into()),
            Ok(_) => Numeric::Invalid("is not a finite number".into()),
            Err(_) => Numeric::Text,
        };
    }
    if let Some((num, den)) = text.split_once('/') {
        let (Ok(num), Ok(den)) = (num.trim().parse::<f64>(), den.trim().parse::<f64>()) else {
            return Numeric::Text;
        };
        return fraction(num, den).map_or_else(Numeric::Invalid, Numeric::Value);
    }
    match text.parse::<f64>() {
        Ok(x) => scale(x),
        Err(_) => Numeric::Text,
    }
}

/// Divides a count of correct answers by a total.
fn fraction(correct: f64, total: f64) -> Result<f64, String> {
    if !correct.is_finite() || !total.is_finite() {
        Err("is not a finite fraction".into())
    } else if total <= 0.0 {
        Err("has a total that is not positive".into())
    } else if correct < 0.0 {
        Err("has a negative count".into())
    } else if correct > total {
        Err("counts more correct answers than the total".into())
    } else {
        Ok(correct / total + 0.0)
    }
}

/// Reads a count of correct answers over a total, when the grade has both as numbers.
fn counts(fields: &GradeFields) -> Option<Result<f64, String>> {
    let correct = fields::COUNT_CORRECT.iter().find_map(|&f| {
        fields
            .get(f)
            .and_then(Value::as_number)
            .map(|n| (f, number(n)))
    })?;
    let total = fields::COUNT_TOTAL.iter().find_map(|&f| {
        fields
            .get(f)
            .and_then(Value::as_number)
            .map(|n| (f, number(n)))
    })?;
    if total.1 == 0.0 && correct.1 == 0.0 {
        // An empty run: nothing to average.
        return None;
    }
    Some(fraction(correct.1, total.1).map_err(|reason| {
        format!(
            "{} {} over {} {} {reason}",
            fields::name(correct.0),
            correct.1,
            fields::name(total.0),
            total.1
        )
    }))
}

/// Averages a list of per-answer results; items without an accuracy are
/// skipped, and a list with none is `None`.
fn list_mean(items: &[Value]) -> Option<Result<f64, String>> {
    let mut sum = 0.0;
    let mut count = 0usize;
    for (index, item) in items.iter().enumerate() {
        let scored = match item {
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Number(_) | Value::String(_) => match numeric(item) {
                Numeric::Value(x) => Some(x),
                Numeric::Invalid(reason) => return Some(Err(format!("[{index}] {item} {reason}"))),
                Numeric::Text => item.as_str().and_then(classify_label),
            },
            Value::Object(_) => match accuracy(item) {
                Accuracy::Scored(x) => Some(x),
                Accuracy::Invalid(reason) => return Some(Err(format!("[{index}].{reason}"))),
                Accuracy::Unscored => None,
            },
            Value::Null | Value::Array(_) => None,
        };
        if let Some(x) = scored {
            sum += x;
            count += 1;
        }
    }
    (count > 0).then(|| Ok(sum / count as f64))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scored(x: f64) -> Accuracy {
        Accuracy::Scored(x)
    }

    fn invalid(reason: &str) -> Accuracy {
        Accuracy::Invalid(reason.to_string())
    }

    #[test]
    fn accuracy_table() {
        let cases: Vec<(Value, Accuracy)> = vec![
            // Numeric fields.
            (json!({"accuracy": 0.85}), scored(0.85)),
            (json!({"accuracy": 1}), scored(1.0)),
            (json!({"accuracy": 0}), scored(0.0)),
            (json!({"accuracy": 85}), scored(0.85)),
            (json!({"accuracy": 100}), scored(1.0)),
            (json!({"Accuracy": 0.25}), scored(0.25)),
            (json!({"acc": 0.5}), scored(0.5)),
            (json!({"score": 40}), scored(0.4)),
            (json!({"accuracy_pct": 72.5}), scored(0.725)),
            (json!({"accuracy_percent": "90"}), scored(0.9)),
            (json!({"percent": "85%"}), scored(0.85)),
            (json!({"pct": " 12.5 % "}), scored(0.125)),
            (json!({"accuracy": "8/10"}), scored(0.8)),
            (json!({"accuracy": "0.7"}), scored(0.7)),
            (json!({"accuracy": true}), scored(1.0)),
            (json!({"accuracy": -0.0}), scored(0.0)),
            (json!({"accuracy": null, "correct": false}), scored(0.0)),
            (json!({"accuracy": "n/a", "correct": true}), scored(1.0)),
            (json!({"score": 0.3, "accuracy": 0.9}), scored(0.9)),
            // Invalid numbers.
            (
                json!({"accuracy": -0.5}),
                invalid("accuracy -0.5 is negative"),
            ),
            (
                json!({"accuracy": 150}),
                invalid("accuracy 150 is above 100"),
            ),
            (
                json!({"accuracy": "NaN"}),
                invalid("accuracy \"NaN\" is not a finite number"),
            ),
            (
                json!({"score": "Infinity"}),
                invalid("score \"Infinity\" is not a finite number"),
            ),
            (
                json!({"accuracy": "120%"}),
                invalid("accuracy \"120%\" is above 100%"),
            ),
            (
                json!({"accuracy": "11/10"}),
                invalid("accuracy \"11/10\" counts more correct answers than the total"),
            ),
            (
                json!({"accuracy": "3/0"}),
                invalid("accuracy \"3/0\" has a total that is not positive"),
            ),
            // Booleans.
            (json!({"correct": true}), scored(1.0)),
            (json!({"is_correct": false}), scored(0.0)),
            (json!({"passed": true}), scored(1.0)),
            (json!({"correct": "yes"}), scored(1.0)),
            (json!({"correct": 1}), scored(1.0)),
            // Labels.
            (json!({"label": "CORRECT"}), scored(1.0)),
            (json!({"verdict": "Not factual"}), scored(0.0)),
            (json!({"judgment": "incorrect"}), scored(0.0)),
            (json!({"result": "PASS"}), scored(1.0)),
            (json!({"evaluation": "hallucination"}), scored(0.0)),
            (json!({"grade": "isn't correct"}), scored(0.0)),
            (json!({"category": "factual"}), scored(1.0)),
            (json!({"category": "geography"}), Accuracy::Unscored),
            (
                json!({"category": "geography", "verdict": "untrue"}),
                scored(0.0),
            ),
            (
                json!({"category": "geography", "correct": true}),
                scored(1.0),
            ),
            // Counts.
            (json!({"correct": 8, "total": 10}), scored(0.8)),
            (json!({"num_correct": 3, "num_questions": 4}), scored(0.75)),
            (json!({"correct": 1, "total": 4}), scored(0.25)),
            (json!({"correct": 0, "total": 0}), Accuracy::Unscored),
            (
                json!({"correct": 5, "total": 4}),
                invalid("correct 5 over total 4 counts more correct answers than the total"),
            ),
            // Lists.
            (json!({"results": [true, false, true, true]}), scored(0.75)),
            (
                json!({"results": [{"correct": true}, {"correct": false}]}),
                scored(0.5),
            ),
            (json!({"results": [1, 0, 0, 0]}), scored(0.25)),
            (json!({"scores": [50, 100]}), scored(0.75)),
            (json!({"results": ["correct", "wrong", null]}), scored(0.5)),
            (
                json!({"results": [{"note": "skipped"}, {"accuracy": 0.2}]}),
                scored(0.2),
            ),
            (json!({"results": []}), Accuracy::Unscored),
            (
                json!({"results": [true, -1]}),
                invalid("results[1] -1 is negative"),
            ),
            (
                json!({"results": [{"accuracy": 200}]}),
                invalid("results[0].accuracy 200 is above 100"),
            ),
            // Nothing usable.
            (json!({"justification": "looks fine"}), Accuracy::Unscored),
            (json!({}), Accuracy::Unscored),
            (json!([true, false]), Accuracy::Unscored),
            (json!("correct"), Accuracy::Unscored),
        ];
        for (grade, expected) in cases {
            assert_eq!(accuracy(&grade), expected, "grade {grade}");
        }
    }

    #[test]
    fn accuracy_display() {
        assert_eq!(Accuracy::Scored(0.5).to_string(), "0.5");
        assert_eq!(Accuracy::Unscored.to_string(), "unscored");
        assert_eq!(
            invalid("accuracy -1 is negative").to_string(),
            "invalid: accuracy -1 is negative"
        );
    }
}
