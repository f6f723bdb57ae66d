//! Lookup of the known fields of a grade object in one pass over its keys.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A field name that grade files use, matched without regard to ASCII case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Field {
    Accuracy,
    Acc,
    Score,
    AccuracyScore,
    AccuracyPct,
    AccuracyPercent,
    AccuracyPercentage,
    Percent,
    Percentage,
    Pct,
    Correct,
    IsCorrect,
    Passed,
    Pass,
    Label,
    Verdict,
    Judgment,
    Judgement,
    Result,
    Grade,
    Evaluation,
    Assessment,
    Outcome,
    Category,
    NumCorrect,
    NCorrect,
    CorrectCount,
    Total,
    NumTotal,
    NTotal,
    TotalCount,
    Count,
    NumQuestions,
    Results,
    Scores,
    Outcomes,
    Grades,
    Evaluations,
    Model,
    Temperature,
    Temp,
    PromptId,
    Id,
    QuestionId,
    CompletionTokens,
    LatencyMs,
    TokensPerSecond,
    FinishReason,
}

/// Every field with its name, in the order of [`Field`]'s discriminants.
const NAMES: [(Field, &str); 48] = [
    (Field::Accuracy, "accuracy"),
    (Field::Acc, "acc"),
    (Field::Score, "score"),
    (Field::AccuracyScore, "accuracy_score"),
    (Field::AccuracyPct, "accuracy_pct"),
    (Field::AccuracyPercent, "accuracy_percent"),
    (Field::AccuracyPercentage, "accuracy_percentage"),
    (Field::Percent, "percent"),
    (Field::Percentage, "percentage"),
    (Field::Pct, "pct"),
    (Field::Correct, "correct"),
    (Field::IsCorrect, "is_correct"),
    (Field::Passed, "passed"),
    (Field::Pass, "pass"),
    (Field::Label, "label"),
    (Field::Verdict, "verdict"),
    (Field::Judgment, "judgment"),
    (Field::Judgement, "judgement"),
    (Field::Result, "result"),
    (Field::Grade, "grade"),
    (Field::Evaluation, "evaluation"),
    (Field::Assessment, "assessment"),
    (Field::Outcome, "outcome"),
    (Field::Category, "category"),
    (Field::NumCorrect, "num_correct"),
    (Field::NCorrect, "n_correct"),
    (Field::CorrectCount, "correct_count"),
    (Field::Total, "total"),
    (Field::NumTotal, "num_total"),
    (Field::NTotal, "n_total"),
    (Field::TotalCount, "total_count"),
    (Field::Count, "count"),
    (Field::NumQuestions, "num_questions"),
    (Field::Results, "results"),
    (Field::Scores, "scores"),
    (Field::Outcomes, "outcomes"),
    (Field::Grades, "grades"),
    (Field::Evaluations, "evaluations"),
    (Field::Model, "model"),
    (Field::Temperature, "temperature"),
    (Field::Temp, "temp"),
    (Field::PromptId, "prompt_id"),
    (Field::Id, "id"),
    (Field::QuestionId, "question_id"),
    (Field::CompletionTokens, "completion_tokens"),
    (Field::LatencyMs, "latency_ms"),
    (Field::TokensPerSecond, "tokens_per_second"),
    (Field::FinishReason, "finish_reason"),
];

/// Numeric accuracy fields, in order of preference.
pub(crate) const NUMERIC: [Field; 10] = [
    Field::Accuracy,
    Field::Acc,
    Field::Score,
    Field::AccuracyScore,
    Field::AccuracyPct,
    Field::AccuracyPercent,
    Field::AccuracyPercentage,
    Field::Percent,
    Field::Percentage,
    Field::Pct,
];

/// Boolean fields that mark the answer correct or wrong.
pub(crate) const BOOLEAN: [Field; 4] =
    [Field::Correct, Field::IsCorrect, Field::Passed, Field::Pass];

/// Fields that may hold a verdict word. `category` comes last because our
/// graders use it for the prompt's topic.
pub(crate) const LABEL: [Field; 10] = [
    Field::Label,
    Field::Verdict,
    Field::Judgment,
    Field::Judgement,
    Field::Result,
    Field::Grade,
    Field::Evaluation,
    Field::Assessment,
    Field::Outcome,
    Field::Category,
];

/// Fields that count correct answers.
pub(crate) const COUNT_CORRECT: [Field; 4] = [
    Field::Correct,
    Field::NumCorrect,
    Field::NCorrect,
    Field::CorrectCount,
];

/// Fields that count all answers.
pub(crate) const COUNT_TOTAL: [Field; 6] = [
    Field::Total,
    Field::NumTotal,
    Field::NTotal,
    Field::TotalCount,
    Field::Count,
    Field::NumQuestions,
];

/// Fields that hold a list of per-answer results.
pub(crate) const LIST: [Field; 5] = [
    Field::Results,
    Field::Scores,
    Field::Outcomes,
    Field::Grades,
    Field::Evaluations,
];

/// The values of the known fields of one grade object.
#[derive(Debug)]
pub(crate) struct GradeFields {
    slots: [Option<Value>; NAMES.len()],
}

impl Default for GradeFields {
    fn default() -> Self {
        GradeFields {
            slots: std::array::from_fn(|_| None),
        }
    }
}

impl GradeFields {
    /// Collects the known fields of `object`; when a name appears in two
    /// spellings (`Accuracy` and `accuracy`), the first one wins.
    pub(crate) fn collect(object: &Map<String, Value>) -> Self {
        let mut fields = GradeFields::default();
        for (key, value) in object {
            if let Some(field) = lookup(key) {
                fields.set(field, || value.clone());
            }
        }
        fields
    }

    /// Parses a JSON document straight into its known fields, skipping the
    /// others (long justifications, expected answers) without building them.
    /// A document that is valid JSON but not an object has no fields.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    fn set(&mut self, field: Field, value: impl FnOnce() -> Value) {
        let slot = &mut self.slots[field as usize];
        if slot.is_none() {
            *slot = Some(value());
        }
    }

    /// Returns the value of `field`, if the object has it.
    pub(crate) fn get(&self, field: Field) -> Option<&Value> {
        self.slots[field as usize].as_ref()
    }

    /// Returns the first of `fields` that is present and not `null`.
    pub(crate) fn first_of(&self, fields: &[Field]) -> Option<(Field, &Value)> {
        fields
            .iter()
            .find_map(|&field| self.get(field).filter(|v| !v.is_null()).map(|v| (field, v)))
    }
}

impl<'de> Deserialize<'de> for GradeFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldsVisitor)
    }
}

/// Builds [`GradeFields`] from a JSON object, or empty fields from any other value.
struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = GradeFields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GradeFields, A::Error> {
        let mut fields = GradeFields::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key {
                Some(field) if fields.get(field).is_none() => {
                    let value: Value = map.next_value()?;
                    fields.slots[field as usize] = Some(value);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<GradeFields, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(GradeFields::default())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<GradeFields, E> {
        Ok(GradeFields::default())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<GradeFields, E> {
        Ok(GradeFields::default())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<GradeFields, E> {
        Ok(GradeFields::default())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<GradeFields, E> {
        Ok(GradeFields::default())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<GradeFields, E> {
        Ok(GradeFields::default())
    }

    fn visit_unit<E: de::Error>(self) -> Result<GradeFields, E> {
        Ok(GradeFields::default())
    }
}

/// Reads an object key as a known [`Field`] without allocating it.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<Field>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Field>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Option<Field>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<Field>, E> {
        Ok(lookup(key))
    }
}

/// Returns the field a key names, if it is a known one.
fn lookup(key: &str) -> Option<Field> {
    if let Some(field) = lookup_lowercase(key) {
        return Some(field);
    }
    // Rare spellings such as `Accuracy`: fold to lowercase on the stack.
    let mut folded = [0u8; 24];
    let bytes = key.as_bytes();
    if bytes.len() > folded.len() || !bytes.iter().any(u8::is_ascii_uppercase) {
        return None;
    }
    for (out, byte) in folded.iter_mut().zip(bytes) {
        *out = byte.to_ascii_lowercase();
    }
    std::str::from_utf8(&folded[..bytes.len()])
        .ok()
        .and_then(lookup_lowercase)
}

/// Matches a lowercase key. A `match` on strings compiles to a length
/// switch and a few comparisons, and this runs once per key of every file.
fn lookup_lowercase(key: &str) -> Option<Field> {
    Some(match key {
        "accuracy" => Field::Accuracy,
        "acc" => Field::Acc,
        "score" => Field::Score,
        "accuracy_score" => Field::AccuracyScore,
        "accuracy_pct" => Field::AccuracyPct,
        "accuracy_percent" => Field::AccuracyPercent,
        "accuracy_percentage" => Field::AccuracyPercentage,
        "percent" => Field::Percent,
        "percentage" => Field::Percentage,
        "pct" => Field::Pct,
        "correct" => Field::Correct,
        "is_correct" => Field::IsCorrect,
        "passed" => Field::Passed,
        "pass" => Field::Pass,
        "label" => Field::Label,
        "verdict" => Field::Verdict,
        "judgment" => Field::Judgment,
        "judgement" => Field::Judgement,
        "result" => Field::Result,
        "grade" => Field::Grade,
        "evaluation" => Field::Evaluation,
        "assessment" => Field::Assessment,
        "outcome" => Field::Outcome,
        "category" => Field::Category,
        "num_correct" => Field::NumCorrect,
        "n_correct" => Field::NCorrect,
        "correct_count" => Field::CorrectCount,
        "total" => Field::Total,
        "num_total" => Field::NumTotal,
        "n_total" => Field::NTotal,
        "total_count" => Field::TotalCount,
        "count" => Field::Count,
        "num_questions" => Field::NumQuestions,
        "results" => Field::Results,
        "scores" => Field::Scores,
        "outcomes" => Field::Outcomes,
        "grades" => Field::Grades,
        "evaluations" => Field::Evaluations,
        "model" => Field::Model,
        "temperature" => Field::Temperature,
        "temp" => Field::Temp,
        "prompt_id" => Field::PromptId,
        "id" => Field::Id,
        "question_id" => Field::QuestionId,
        "completion_tokens" => Field::CompletionTokens,
        "latency_ms" => Field::LatencyMs,
        "tokens_per_second" => Field::TokensPerSecond,
        "finish_reason" => Field::FinishReason,
        _ => return None,
    })
}

/// Returns the name of a field as written in [`NAMES`].
pub(crate) fn name(field: Field) -> &'static str {
    NAMES[field as usize].1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_discriminants() {
        for (index, (field, _)) in NAMES.iter().enumerate() {
            assert_eq!(*field as usize, index, "{field:?}");
        }
    }

    #[test]
    fn every_name_is_looked_up() {
        for (field, name) in NAMES {
            assert_eq!(lookup(name), Some(field), "{name}");
            assert_eq!(lookup(&name.to_uppercase()), Some(field), "{name}");
        }
    }

    #[test]
    fn keys_match_without_case() {
        assert_eq!(lookup("Accuracy"), Some(Field::Accuracy));
        assert_eq!(lookup("PROMPT_ID"), Some(Field::PromptId));
        assert_eq!(lookup("accuracy_"), None);
        assert_eq!(lookup("justification"), None);
    }

    #[test]
    fn first_spelling_wins() {
        let value: Value = serde_json::json!({"Accuracy": 0.5, "accuracy": 0.9});
        let fields = GradeFields::collect(value.as_object().unwrap());
        assert_eq!(fields.get(Field::Accuracy), Some(&serde_json::json!(0.5)));
        let fields = GradeFields::parse(br#"{"Accuracy": 0.5, "accuracy": 0.9}"#).unwrap();
        assert_eq!(fields.get(Field::Accuracy), Some(&serde_json::json!(0.5)));
    }

    #[test]
    fn parse_keeps_known_fields_only() {
        let text = br#"{"model": "m", "justification": {"deep": [1, 2]}, "results": [true, {"a": 1}], "x\u0041": 1}"#;
        let fields = GradeFields::parse(text).unwrap();
        assert_eq!(fields.get(Field::Model), Some(&serde_json::json!("m")));
        assert_eq!(
            fields.get(Field::Results),
            Some(&serde_json::json!([true, {"a": 1}]))
        );
        assert_eq!(fields.slots.iter().filter(|slot| slot.is_some()).count(), 2);
    }

    #[test]
    fn parse_accepts_any_json() {
        for text in [
            "[1, {\"accuracy\": 1}]",
            "true",
            "3",
            "-1",
            "2.5",
            "\"text\"",
            "null",
        ] {
            let fields = GradeFields::parse(text.as_bytes()).unwrap();
            assert!(fields.slots.iter().all(Option::is_none), "{text}");
        }
        assert!(GradeFields::parse(b"{\"accuracy\": 1} trailing").is_err());
        assert!(GradeFields::parse(b"{\"accuracy\": ").unwrap_err().is_eof());
    }
}
