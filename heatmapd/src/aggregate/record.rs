//! One grade file read into a record: its model, temperature, prompt,
//! category and accuracy.
//!
//! Each part comes from the file's own fields first, then its name
//! (`<model_dir>.t<temp>,num<id>...`), then its folder
//! (`output/<model_dir>/<session>/`). The model name of a session is the
//! `model` field of that session's `session.json`, which contains the real name
//! where the folder only has a sanitized one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::accuracy::{Accuracy, accuracy_of_fields, classify_label};
use super::fields::{Field, GradeFields};
use crate::layout;

/// A grade file that parsed, with or without a usable accuracy.
#[derive(Debug, Clone, PartialEq)]
pub struct GradeRecord {
    /// Path relative to `output/`, with `/` separators.
    pub file: String,
    /// Real model name.
    pub model: Arc<str>,
    /// Temperature, rounded to 6 decimal places.
    pub temperature: f64,
    /// Prompt id, when the fields or the file name have one.
    pub prompt_id: Option<String>,
    /// Prompt category, when the grade has a `category` that is not a verdict label.
    pub category: Option<Arc<str>>,
    /// Accuracy in [0, 1]; `None` when the grade has no usable accuracy.
    pub accuracy: Option<f64>,
    /// Token count, timing and finish reason of the graded answer.
    pub measurements: Measurements,
}

/// Measurements of the generation a grade file records; each is `None`
/// when the file lacks the field or its value is not a finite number >= 0.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measurements {
    /// Tokens the model generated (`completion_tokens`).
    pub completion_tokens: Option<f64>,
    /// Wall time of the request in milliseconds (`latency_ms`).
    pub latency_ms: Option<f64>,
    /// Generated tokens per second (`tokens_per_second`).
    pub tokens_per_second: Option<f64>,
    /// Whether generation hit the token limit (`finish_reason` is `length`);
    /// `None` without a finish reason.
    pub truncated: Option<bool>,
}

impl Measurements {
    fn of(fields: &GradeFields) -> Measurements {
        let number = |field| {
            fields
                .get(field)
                .and_then(Value::as_f64)
                .filter(|value| value.is_finite() && *value >= 0.0)
        };
        Measurements {
            completion_tokens: number(Field::CompletionTokens),
            latency_ms: number(Field::LatencyMs),
            tokens_per_second: number(Field::TokensPerSecond),
            truncated: text_field(fields, &[Field::FinishReason])
                .map(|reason| reason.eq_ignore_ascii_case("length")),
        }
    }
}

/// A file that could not be read as a grade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidFile {
    /// Path relative to `output/`, with `/` separators.
    pub file: String,
    /// The reason it was rejected.
    pub error: String,
}

/// The result of reading one file.
#[derive(Debug, Clone, PartialEq)]
pub enum FileOutcome {
    /// A parsed grade.
    Grade(GradeRecord),
    /// A file that is not a usable grade.
    Invalid(InvalidFile),
}

impl FileOutcome {
    /// Returns the file's path relative to `output/`.
    pub fn file(&self) -> &str {
        match self {
            FileOutcome::Grade(grade) => &grade.file,
            FileOutcome::Invalid(invalid) => &invalid.file,
        }
    }
}

/// Shares one allocation among the many records that name the same model or category.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    names: HashSet<Arc<str>>,
    /// Category texts already checked, with the topic they give (`None` for a verdict label).
    categories: HashMap<String, Option<Arc<str>>>,
}

impl Interner {
    pub(crate) fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(known) = self.names.get(name) {
            return known.clone();
        }
        let name: Arc<str> = Arc::from(name);
        self.names.insert(name.clone());
        name
    }

    /// Returns the category a `category` text names, or `None` when the text
    /// is a verdict label; results are cached because few texts repeat often.
    pub(crate) fn category(&mut self, text: &str) -> Option<Arc<str>> {
        if let Some(known) = self.categories.get(text) {
            return known.clone();
        }
        let category = classify_label(text).is_none().then(|| self.intern(text));
        self.categories.insert(text.to_string(), category.clone());
        category
    }
}

/// Reads the bytes of the grade file at `rel` (relative to `output/`).
///
/// `session_model` is the real model name from the `session.json` of the
/// file's session folder, if there is one.
#[cfg(test)]
pub(crate) fn parse_grade(
    bytes: &[u8],
    rel: String,
    session_model: Option<&Arc<str>>,
    interner: &mut Interner,
) -> FileOutcome {
    grade_from_fields(GradeFields::parse(bytes), rel, session_model, interner)
}

/// Builds the record of the grade file at `rel` from its parsed fields.
pub(crate) fn grade_from_fields(
    parsed: Result<GradeFields, serde_json::Error>,
    rel: String,
    session_model: Option<&Arc<str>>,
    interner: &mut Interner,
) -> FileOutcome {
    let fields = match parsed {
        Ok(fields) => fields,
        Err(err) => return invalid(rel, format!("invalid JSON: {err}")),
    };
    let file_name = rel.rsplit('/').next().unwrap_or(&rel);
    let parsed_name = layout::parse_file_name(file_name);

    let model = match text_field(&fields, &[Field::Model]) {
        Some(model) => interner.intern(model),
        None => match (session_model, &parsed_name, folder_model(&rel)) {
            (Some(model), _, _) => model.clone(),
            (None, Some(name), _) => interner.intern(&name.model_dir),
            (None, None, Some(dir)) => interner.intern(dir),
            (None, None, None) => {
                return invalid(rel, "no model in the file's fields, name or folder".into());
            }
        },
    };

    let temperature = match fields.first_of(&[Field::Temperature, Field::Temp]) {
        Some((_, value)) => match temperature(value) {
            Some(t) => t,
            None => return invalid(rel, format!("invalid temperature {value}")),
        },
        None => match &parsed_name {
            Some(name) => name.temperature,
            None => return invalid(rel, "no temperature in the file's fields or name".into()),
        },
    };

    let accuracy = match accuracy_of_fields(&fields) {
        Accuracy::Scored(x) => Some(x),
        Accuracy::Unscored => None,
        Accuracy::Invalid(reason) => return invalid(rel, format!("invalid accuracy: {reason}")),
    };

    let prompt_id = match fields.first_of(&[Field::PromptId, Field::Id, Field::QuestionId]) {
        Some((_, Value::String(id))) if !id.trim().is_empty() => Some(id.trim().to_string()),
        Some((_, Value::Number(id))) => Some(id.to_string()),
        _ => parsed_name.map(|name| name.prompt_id),
    };

    let category = text_field(&fields, &[Field::Category]).and_then(|text| interner.category(text));

    FileOutcome::Grade(GradeRecord {
        file: rel,
        model,
        temperature,
        prompt_id,
        category,
        accuracy,
        measurements: Measurements::of(&fields),
    })
}

fn invalid(file: String, error: String) -> FileOutcome {
    FileOutcome::Invalid(InvalidFile { file, error })
}

/// Returns the first of `fields` that contains non-blank text, trimmed.
fn text_field<'a>(fields: &'a GradeFields, names: &[Field]) -> Option<&'a str> {
    names
        .iter()
        .filter_map(|&field| fields.get(field)?.as_str())
        .map(str::trim)
        .find(|text| !text.is_empty())
}

/// Reads a temperature from a number or numeric text; it must be finite and not negative.
fn temperature(value: &Value) -> Option<f64> {
    let t = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(text) => text.trim().parse().ok()?,
        _ => return None,
    };
    (t.is_finite() && t >= 0.0).then(|| layout::round_temp(t) + 0.0)
}

/// Returns the model folder of a file that sits below `output/<model_dir>/`.
fn folder_model(rel: &str) -> Option<&str> {
    let (first, rest) = rel.split_once('/')?;
    (!first.is_empty() && !rest.is_empty()).then_some(first)
}

/// Reads the real model name from the bytes of a `session.json`.
pub(crate) fn session_model(bytes: &[u8]) -> Result<Option<String>, serde_json::Error> {
    let value: Value = serde_json::from_slice(bytes)?;
    Ok(value
        .get("model")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|model| !model.is_empty())
        .map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str, rel: &str, session: Option<&str>) -> FileOutcome {
        let session = session.map(Arc::<str>::from);
        parse_grade(
            json.as_bytes(),
            rel.to_string(),
            session.as_ref(),
            &mut Interner::default(),
        )
    }

    fn grade(outcome: FileOutcome) -> GradeRecord {
        match outcome {
            FileOutcome::Grade(grade) => grade,
            FileOutcome::Invalid(invalid) => panic!("expected a grade, got {invalid:?}"),
        }
    }

    fn error(outcome: FileOutcome) -> String {
        match outcome {
            FileOutcome::Invalid(invalid) => invalid.error,
            FileOutcome::Grade(grade) => panic!("expected an invalid file, got {grade:?}"),
        }
    }

    #[test]
    fn fields_come_first() {
        let json = r#"{"model": "gemma3:1b", "temperature": 0.30000000000000004,
            "prompt_id": "geo-1", "category": "geography", "accuracy": 1}"#;
        let record = grade(parse(
            json,
            "gemma3_1b/s/other.t07,num9_eval.json",
            Some("x"),
        ));
        assert_eq!(&*record.model, "gemma3:1b");
        assert_eq!(record.temperature, 0.3);
        assert_eq!(record.prompt_id.as_deref(), Some("geo-1"));
        assert_eq!(record.category.as_deref(), Some("geography"));
        assert_eq!(record.accuracy, Some(1.0));
    }

    #[test]
    fn session_model_beats_file_name() {
        let record = grade(parse(
            r#"{"correct": false}"#,
            "gemma3_1b/s/gemma3_1b.t07,num9_eval.json",
            Some("gemma3:1b"),
        ));
        assert_eq!(&*record.model, "gemma3:1b");
        assert_eq!(record.temperature, 0.7);
        assert_eq!(record.prompt_id.as_deref(), Some("9"));
        assert_eq!(record.accuracy, Some(0.0));
    }

    #[test]
    fn file_name_then_folder() {
        let record = grade(parse(
            r#"{"score": 50}"#,
            "dir/s/llama.t0.05,num3,rep2_eval.json",
            None,
        ));
        assert_eq!(&*record.model, "llama");
        assert_eq!(record.temperature, 0.05);
        let record = grade(parse(
            r#"{"score": 50, "temp": "1.5"}"#,
            "dir/s/notes.json",
            None,
        ));
        assert_eq!(&*record.model, "dir");
        assert_eq!(record.temperature, 1.5);
        assert_eq!(record.prompt_id, None);
    }

    #[test]
    fn numeric_prompt_ids_become_text() {
        let record = grade(parse(
            r#"{"question_id": 12, "temperature": 0}"#,
            "m/s/a.json",
            None,
        ));
        assert_eq!(record.prompt_id.as_deref(), Some("12"));
        assert_eq!(record.accuracy, None);
    }

    #[test]
    fn verdict_categories_are_not_topics() {
        let record = grade(parse(
            r#"{"category": "Correct", "temperature": 0}"#,
            "m/s/a.json",
            None,
        ));
        assert_eq!(record.category, None);
        assert_eq!(record.accuracy, Some(1.0));
    }

    #[test]
    fn invalid_files_say_why() {
        assert!(
            error(parse("{", "m/s/a.json", None)).starts_with("invalid JSON: EOF while parsing")
        );
        assert_eq!(
            error(parse(r#"{"accuracy": 1}"#, "m/s/a.json", None)),
            "no temperature in the file's fields or name"
        );
        assert_eq!(
            error(parse(r#"{"temperature": -1}"#, "m/s/a.json", None)),
            "invalid temperature -1"
        );
        assert_eq!(
            error(parse(r#"{"temperature": 0}"#, "a.json", None)),
            "no model in the file's fields, name or folder"
        );
        assert_eq!(
            error(parse(
                r#"{"temperature": 0, "accuracy": "NaN"}"#,
                "m/s/a.json",
                None
            )),
            "invalid accuracy: accuracy \"NaN\" is not a finite number"
        );
    }

    #[test]
    fn measurements_are_kept() {
        let record = grade(parse(
            r#"{"temperature": 0.7, "accuracy": 1, "completion_tokens": 120,
                "prompt_tokens": 30, "latency_ms": 812.5, "tokens_per_second": 147.7,
                "finish_reason": "length"}"#,
            "m/s/a.json",
            None,
        ));
        assert_eq!(record.measurements.completion_tokens, Some(120.0));
        assert_eq!(record.measurements.latency_ms, Some(812.5));
        assert_eq!(record.measurements.tokens_per_second, Some(147.7));
        assert_eq!(record.measurements.truncated, Some(true));
    }

    #[test]
    fn missing_or_invalid_measurements_are_none() {
        let record = grade(parse(
            r#"{"temperature": 0, "latency_ms": -3, "tokens_per_second": "fast",
                "finish_reason": "stop"}"#,
            "m/s/a.json",
            None,
        ));
        assert_eq!(record.measurements.completion_tokens, None);
        assert_eq!(record.measurements.latency_ms, None);
        assert_eq!(record.measurements.tokens_per_second, None);
        assert_eq!(record.measurements.truncated, Some(false));
        let record = grade(parse(r#"{"temperature": 0}"#, "m/s/a.json", None));
        assert_eq!(record.measurements, Measurements::default());
    }

    #[test]
    fn session_json_model() {
        assert_eq!(
            session_model(br#"{"model": "qwen2.5:7b"}"#)
                .unwrap()
                .as_deref(),
            Some("qwen2.5:7b")
        );
        assert_eq!(session_model(br#"{"backend": "ollama"}"#).unwrap(), None);
        assert!(session_model(b"not json").is_err());
    }
}
