//! Asking an evaluator model to judge an answer.
//!
//! The instructions come from `evaluator_prompt.txt` with the placeholders
//! `{prompt}`, `{expected}` and `{answer}`. The judge is asked at
//! temperature 0 with a fixed seed for a JSON object `{"verdict": "correct" |
//! "incorrect", "justification": "..."}`, constrained by a JSON schema where
//! the server supports one. Output without a usable verdict is asked for
//! again, up to [`JUDGE_ATTEMPTS`] times, and then kept raw and unscored.

use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

use heatmap_proto::PromptMode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::GradeRecord;
use super::verdict;
use crate::backend::{BackendError, Client, GenerateRequest, RetryPolicy, generate_with_retry};

/// Temperature the judge is asked with.
pub const JUDGE_TEMPERATURE: f64 = 0.0;
/// Seed the judge is asked with, so a verdict can be reproduced.
pub const JUDGE_SEED: u64 = 0;
/// Token limit of the first judge request; doubled after output cut off by it.
pub const JUDGE_MAX_TOKENS: u32 = 256;
/// Judge requests per answer when the output has no usable verdict.
pub const JUDGE_ATTEMPTS: u32 = 3;

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

Reply with only a JSON object and no other text. It has two keys:
\"verdict\", whose value is the string correct or the string incorrect, and
\"justification\", one sentence in your own words that names what the answer
got right or wrong.
";

/// Tells whether a judge's justification repeats a phrase of its instructions
/// (such as a placeholder) instead of giving a reason; small models do this.
fn copies_instructions(justification: &str, instructions: &str) -> bool {
    let reason = justification.trim().trim_end_matches('.').to_lowercase();
    reason.len() >= 10 && instructions.to_lowercase().contains(&reason)
}

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

/// Returns the JSON schema of a verdict object. Its `title` names the
/// schema in OpenAI-style `response_format` requests.
pub fn verdict_schema() -> Value {
    json!({
        "title": "verdict",
        "type": "object",
        "properties": {
            "verdict": {"type": "string", "enum": ["correct", "incorrect"]},
            "justification": {"type": "string"},
        },
        "required": ["verdict", "justification"],
    })
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
    /// Seed the judge was asked with.
    pub seed: Option<u64>,
}

impl Verdict {
    /// Fills the grade fields of a record from this verdict.
    pub fn fill(self, mut record: GradeRecord) -> GradeRecord {
        record.correct = self.correct;
        record.accuracy = self.correct.map(|c| if c { 1.0 } else { 0.0 });
        record.justification = self.justification;
        record.judge_raw = self.raw;
        record.judge_temperature = Some(JUDGE_TEMPERATURE);
        record.judge_seed = self.seed;
        record.judge_model = Some(self.model);
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

/// Constraint on the judge's output. A server that rejects one form with
/// HTTP 400 gets the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum OutputFormat {
    /// The verdict's JSON schema.
    Schema = 0,
    /// Any JSON object (`format: "json"`, `response_format: json_object`).
    JsonObject = 1,
    /// No constraint; the instructions alone ask for JSON.
    Free = 2,
}

impl OutputFormat {
    fn from_level(level: u8) -> OutputFormat {
        match level {
            0 => OutputFormat::Schema,
            1 => OutputFormat::JsonObject,
            _ => OutputFormat::Free,
        }
    }
}

/// An evaluator model on one server, with its instructions.
///
/// It remembers which output constraint the server accepts, so after one
/// HTTP 400 for a JSON schema the later requests go without it.
#[derive(Debug)]
pub struct Judge {
    client: Client,
    model: String,
    instructions: String,
    retry: RetryPolicy,
    format: AtomicU8,
}

impl Judge {
    /// Creates a judge that asks `model` on `client` with the default retry policy.
    pub fn new(client: Client, model: impl Into<String>, instructions: impl Into<String>) -> Judge {
        Judge {
            client,
            model: model.into(),
            instructions: instructions.into(),
            retry: RetryPolicy::default(),
            format: AtomicU8::new(OutputFormat::Schema as u8),
        }
    }

    /// Sets the retry policy of transient request failures.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Judge {
        self.retry = retry;
        self
    }

    /// Returns the judge model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Returns the server client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn request(&self, text: &str, max_tokens: u32, format: OutputFormat) -> GenerateRequest {
        let mut request =
            GenerateRequest::new(&self.model, text, PromptMode::Chat, JUDGE_TEMPERATURE);
        request.seed = Some(JUDGE_SEED);
        request.max_tokens = Some(max_tokens);
        request.json_output = format != OutputFormat::Free;
        request.json_schema = (format == OutputFormat::Schema).then(verdict_schema);
        request
    }

    /// Asks for a verdict on one answer.
    ///
    /// Output without a usable verdict is asked for again, with twice the
    /// token limit when the output was cut off by it, up to
    /// [`JUDGE_ATTEMPTS`] requests. The last such output is returned raw and
    /// unscored. An error means the server could not be asked at all.
    pub async fn judge(
        &self,
        prompt: &str,
        expected: Option<&str>,
        answer: &str,
        cancel: &CancellationToken,
    ) -> Result<Verdict, JudgeError> {
        let text = render(&self.instructions, prompt, expected, answer);
        let mut max_tokens = JUDGE_MAX_TOKENS;
        let mut last_output = String::new();
        let mut attempt = 0;
        while attempt < JUDGE_ATTEMPTS {
            let format = OutputFormat::from_level(self.format.load(Ordering::Relaxed));
            let request = self.request(&text, max_tokens, format);
            let outcome =
                generate_with_retry(&self.client, &request, &self.retry, cancel, |_| {}).await;
            let generation = match outcome.result {
                Ok(generation) => generation,
                // NOTE: any 400 steps down, including one for a prompt that is too long,
                // so such a request is sent up to three times before it fails.
                Err(source) if source.status() == Some(400) && format != OutputFormat::Free => {
                    let next = format as u8 + 1;
                    tracing::info!(model = %self.model, url = %self.client.url(), error = %source,
                        "the server rejected the judge's output format; asking without it");
                    self.format.fetch_max(next, Ordering::Relaxed);
                    continue;
                }
                Err(source) => {
                    return Err(JudgeError::Backend {
                        model: self.model.clone(),
                        source,
                    });
                }
            };
            attempt += 1;
            let parsed = verdict::parse(&generation.text);
            let copied = parsed
                .justification
                .as_deref()
                .is_some_and(|reason| copies_instructions(reason, &self.instructions));
            if copied {
                tracing::warn!(model = %self.model, attempt, output = %generation.text,
                    "judge copied its instructions instead of judging; asking again");
            }
            if parsed.correct.is_some() && !copied {
                return Ok(Verdict {
                    correct: parsed.correct,
                    justification: parsed.justification,
                    raw: None,
                    model: self.model.clone(),
                    seed: Some(JUDGE_SEED),
                });
            }
            tracing::debug!(model = %self.model, attempt, output = %generation.text, "judge output has no verdict");
            if generation.finish_reason.as_deref() == Some("length") {
                max_tokens = max_tokens.saturating_mul(2);
            }
            last_output = generation.text;
        }
        tracing::warn!(model = %self.model, attempts = JUDGE_ATTEMPTS, "judge output has no usable verdict; the grade is unscored");
        Ok(Verdict {
            correct: None,
            justification: None,
            raw: Some(last_output),
            model: self.model.clone(),
            seed: Some(JUDGE_SEED),
        })
    }
}

/// Asks the evaluator model to judge one answer; see [`Judge::judge`].
///
/// NOTE: each call starts from the JSON schema again, so a server that
/// rejects it gets one extra request per answer. Keep a [`Judge`] to avoid that.
pub async fn judge(
    client: &Client,
    model: &str,
    instructions: &str,
    prompt: &str,
    expected: Option<&str>,
    answer: &str,
    cancel: &CancellationToken,
) -> Result<Verdict, JudgeError> {
    Judge::new(client.clone(), model, instructions)
        .judge(prompt, expected, answer, cancel)
        .await
}

/// Reads a verdict from the judge's output (see [`verdict::parse`]); output
/// without a usable verdict is kept raw and unscored.
pub fn parse_verdict(model: &str, output: &str) -> Verdict {
    let parsed = verdict::parse(output);
    let raw = parsed.correct.is_none().then(|| output.to_string());
    Verdict {
        correct: parsed.correct,
        justification: parsed.justification,
        raw,
        model: model.to_string(),
        seed: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copied_placeholder_detected() {
        let instructions = "Reply with {\"justification\": \"one short sentence\"}";
        assert!(copies_instructions("one short sentence", instructions));
        assert!(copies_instructions("One short sentence.", instructions));
        assert!(!copies_instructions("the capital is Paris", instructions));
        assert!(!copies_instructions("ok", instructions));
    }

    #[test]
    fn plain_json_verdict() {
        let v = parse_verdict(
            "j",
            r#"{"verdict": "correct", "justification": "same city"}"#,
        );
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
    fn truncated_output_kept_raw() {
        let v = parse_verdict("j", "{\"verdict\": \"corr");
        assert_eq!(v.correct, None);
        assert_eq!(v.raw.as_deref(), Some("{\"verdict\": \"corr"));
        let record = v.fill(GradeRecord::default());
        assert_eq!(record.accuracy, None);
        assert_eq!(record.judge_raw.as_deref(), Some("{\"verdict\": \"corr"));
        assert_eq!(record.judge_model.as_deref(), Some("j"));
    }

    #[test]
    fn fill_records_judge_settings() {
        let verdict = Verdict {
            correct: Some(false),
            justification: Some("wrong".into()),
            raw: None,
            model: "judge:7b".into(),
            seed: Some(JUDGE_SEED),
        };
        let record = verdict.fill(GradeRecord::default());
        assert_eq!(record.accuracy, Some(0.0));
        assert_eq!(record.correct, Some(false));
        assert_eq!(record.judge_temperature, Some(0.0));
        assert_eq!(record.judge_seed, Some(0));
        assert_eq!(record.judge_model.as_deref(), Some("judge:7b"));
    }

    #[test]
    fn requests_step_down_output_format() {
        let client = Client::new(heatmap_proto::BackendKind::OpenAi, "http://127.0.0.1:9").unwrap();
        let judge = Judge::new(client, "j", "{answer}");
        let schema = judge.request("t", 256, OutputFormat::Schema);
        assert_eq!(schema.json_schema, Some(verdict_schema()));
        assert!(schema.json_output);
        assert_eq!(schema.temperature, 0.0);
        assert_eq!(schema.seed, Some(0));
        assert_eq!(schema.max_tokens, Some(256));
        let object = judge.request("t", 512, OutputFormat::JsonObject);
        assert_eq!(object.json_schema, None);
        assert!(object.json_output);
        let free = judge.request("t", 512, OutputFormat::Free);
        assert!(!free.json_output);
        assert_eq!(free.json_schema, None);
    }

    #[test]
    fn schema_requires_verdict_and_justification() {
        let schema = verdict_schema();
        assert_eq!(schema["required"], json!(["verdict", "justification"]));
        assert_eq!(
            schema["properties"]["verdict"]["enum"],
            json!(["correct", "incorrect"])
        );
    }

    #[test]
    fn render_fills_placeholders() {
        let text = render("{prompt}|{expected}|{answer}", "Q", Some("A"), " B \n");
        assert_eq!(text, "Q|A|B");
    }
}
