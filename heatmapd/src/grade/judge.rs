//! Asking an evaluator model to judge an answer.
//!
//! The instructions come from `evaluator_prompt.txt` with the placeholders
//! `{prompt}`, `{expected}` and `{answer}`. The judge is asked at
//! temperature 0 for a JSON object `{"verdict": "correct" | "incorrect",
//! "justification": "..."}`.

use std::path::Path;

use heatmap_proto::PromptMode;
use tokio_util::sync::CancellationToken;

use super::GradeRecord;
use crate::backend::{BackendError, Client, GenerateRequest, RetryPolicy, generate_with_retry};

/// Temperature the judge is asked with.
pub const JUDGE_TEMPERATURE: f64 = 0.0;

/// Instructions written to `evaluator_prompt.txt` when it is missing.
pub const DEFAULT_INSTRUCTIONS: &str = "You are grading an answer to a short question.

Question:
{prompt}

Reference answer (may list alternatives separated by |; empty if none):
{expected}

Answer to grade:
{answer}

Decide whether the answer to grade is correct. It is correct when it states
the same fact as the reference answer, even in other words or formatting. It
is incorrect when it is wrong, empty, hedges between several answers, or does
not answer the question. Without a reference answer, use your own knowledge.

Reply with only a JSON object, no other text:
{\"verdict\": \"correct\" or \"incorrect\", \"justification\": \"one short sentence\"}
";

/// Reads the judge instructions, writing the default file when it is missing.
pub fn load_instructions(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => text,
        Ok(_) => {
            tracing::warn!(path = %path.display(), "evaluator prompt is empty; using the default instructions");
            DEFAULT_INSTRUCTIONS.to_string()
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if let Err(err) = crate::layout::write_atomic(path, DEFAULT_INSTRUCTIONS.as_bytes()) {
                tracing::warn!(path = %path.display(), error = %err, "cannot write the default evaluator prompt");
            }
            DEFAULT_INSTRUCTIONS.to_string()
        }
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "cannot read the evaluator prompt; using the default");
            DEFAULT_INSTRUCTIONS.to_string()
        }
    }
}

/// A judge's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Whether the answer is correct; `None` when the output had no usable verdict.
    pub correct: Option<bool>,
    /// The judge's reason.
    pub justification: Option<String>,
    /// The raw output, kept when it could not be parsed.
    pub raw: Option<String>,
    /// The judge model.
    pub model: String,
}

impl Verdict {
    /// Fills the grade fields of a record from this verdict.
    pub fn fill(self, mut record: GradeRecord) -> GradeRecord {
        record.correct = self.correct;
        record.accuracy = self.correct.map(|c| if c { 1.0 } else { 0.0 });
        record.justification = self.justification;
        record.judge_raw = self.raw;
        record.judge_temperature = Some(JUDGE_TEMPERATURE);
        record
    }
}

/// Why a judge request failed.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    /// The evaluator model could not be asked.
    #[error("judge {model} failed: {source}")]
    Backend {
        /// The judge model.
        model: String,
        /// The cause.
        source: BackendError,
    },
}

/// Fills the instruction placeholders.
pub fn render(instructions: &str, prompt: &str, expected: Option<&str>, answer: &str) -> String {
    instructions
        .replace("{prompt}", prompt)
        .replace("{expected}", expected.unwrap_or(""))
        .replace("{answer}", answer.trim())
}

/// Asks the evaluator model to judge one answer.
pub async fn judge(
    client: &Client,
    model: &str,
    instructions: &str,
    prompt: &str,
    expected: Option<&str>,
    answer: &str,
    cancel: &CancellationToken,
) -> Result<Verdict, JudgeError> {
    let request = GenerateRequest {
        model: model.to_string(),
        prompt: render(instructions, prompt, expected, answer),
        mode: PromptMode::Chat,
        temperature: JUDGE_TEMPERATURE,
        seed: Some(0),
        max_tokens: Some(256),
        stop: Vec::new(),
        json_output: true,
    };
    let outcome = generate_with_retry(client, &request, &RetryPolicy::default(), cancel, |_| {}).await;
    let generation = outcome.result.map_err(|source| JudgeError::Backend { model: model.to_string(), source })?;
    Ok(parse_verdict(model, &generation.text))
}

/// Reads a verdict from the judge's output: the JSON object, possibly inside
/// a code fence or prose; failing that, the output is kept raw and unscored.
pub fn parse_verdict(model: &str, output: &str) -> Verdict {
    let object = serde_json::from_str::<serde_json::Value>(output.trim()).ok().filter(|v| v.is_object()).or_else(|| {
        let start = output.find('{')?;
        let end = output.rfind('}')?;
        (end > start).then(|| serde_json::from_str(&output[start..=end]).ok()).flatten()
    });
    let Some(object) = object else {
        return Verdict { correct: None, justification: None, raw: Some(output.to_string()), model: model.to_string() };
    };
    let justification = object.get("justification").and_then(|j| j.as_str()).map(str::to_string);
    let correct = object
        .get("correct")
        .and_then(|c| c.as_bool())
        .or_else(|| object.get("verdict").and_then(|v| v.as_str()).and_then(label_value));
    let raw = correct.is_none().then(|| output.to_string());
    Verdict { correct, justification, raw, model: model.to_string() }
}

fn label_value(label: &str) -> Option<bool> {
    let label = label.trim().trim_end_matches('.').to_lowercase();
    match label.as_str() {
        "correct" | "right" | "true" | "yes" => Some(true),
        "incorrect" | "not correct" | "wrong" | "false" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_json_verdict() {
        let v = parse_verdict("j", r#"{"verdict": "correct", "justification": "same city"}"#);
        assert_eq!(v.correct, Some(true));
        assert_eq!(v.justification.as_deref(), Some("same city"));
        assert_eq!(v.raw, None);
    }

    #[test]
    fn verdict_inside_fence_and_prose() {
        let v = parse_verdict("j", "Sure!\n```json\n{\"verdict\": \"incorrect\"}\n```");
        assert_eq!(v.correct, Some(false));
    }

    #[test]
    fn unparseable_output_kept_raw() {
        let v = parse_verdict("j", "I think it is right");
        assert_eq!(v.correct, None);
        assert_eq!(v.raw.as_deref(), Some("I think it is right"));
    }

    #[test]
    fn render_fills_placeholders() {
        let text = render("{prompt}|{expected}|{answer}", "Q", Some("A"), " B \n");
        assert_eq!(text, "Q|A|B");
    }
}
