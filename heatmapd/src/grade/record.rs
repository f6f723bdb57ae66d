//! The grade file written beside each answer.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::Generation;

/// Contents of `<answer stem>_eval.json`; fields that do not apply are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GradeRecord {
    /// Real model name.
    pub model: String,
    /// Temperature of the answer.
    pub temperature: f64,
    /// Prompt id.
    pub prompt_id: String,
    /// Session folder name.
    pub session: String,
    /// Repeat number from 1, when the job has repeats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
    /// `exact`, `contains` or `judge:<model>`.
    pub grader: String,
    /// Accuracy in [0, 1]; absent when the answer could not be scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Whether the answer was judged correct; absent when unscored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct: Option<bool>,
    /// Prompt category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Reason for the grader's decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// Accepted answers, as in `prompts.csv`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Temperature the judge was asked with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_temperature: Option<f64>,
    /// The judge's raw output, kept when it could not be parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_raw: Option<String>,
    /// Seed the judge was asked with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_seed: Option<u64>,
    /// The evaluator model, as the server names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_model: Option<String>,
    /// Tokens the model generated for the answer, as the server counts them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    /// Tokens of the prompt, as the server counts them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    /// Wall time of the answer's request in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Generated tokens per second: over the server's generation time when
    /// it reports one, else over `latency_ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_second: Option<f64>,
    /// Reason generation stopped (`stop`, `length`, ...), as the server reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Sampling seed the answer was generated with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// True when a thinking model used up its output on thinking and left
    /// no answer; such a grade has no accuracy and counts as unscored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_answer: Option<bool>,
}

impl GradeRecord {
    /// Copies the token counts, timing, finish reason and seed of a
    /// generation into the record.
    pub fn set_measurements(&mut self, generation: &Generation, seed: Option<u64>) {
        self.completion_tokens = generation.completion_tokens;
        self.prompt_tokens = generation.prompt_tokens;
        self.latency_ms = Some(generation.latency.as_secs_f64() * 1000.0);
        self.tokens_per_second = tokens_per_second(
            generation.completion_tokens,
            generation.server_durations.eval,
            generation.latency,
        );
        self.finish_reason = generation.finish_reason.clone();
        self.seed = seed;
    }

    /// Marks the answer as empty after thinking: unscored, not wrong.
    pub fn mark_no_answer(&mut self) {
        self.no_answer = Some(true);
        self.accuracy = None;
        self.correct = None;
        self.justification = Some("the model produced thinking but no answer".into());
    }

    /// Serializes the record as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut text = serde_json::to_vec_pretty(self).expect("a grade record serializes");
        text.push(b'\n');
        text
    }
}

/// Returns generated tokens per second: `tokens` over the server's generation
/// time when it is known and not zero, else over the request's wall time.
/// `None` without a token count or with no time to divide by.
pub fn tokens_per_second(
    tokens: Option<u64>,
    eval: Option<Duration>,
    latency: Duration,
) -> Option<f64> {
    let tokens = tokens? as f64;
    let seconds = eval
        .filter(|eval| !eval.is_zero())
        .unwrap_or(latency)
        .as_secs_f64();
    (seconds > 0.0).then(|| tokens / seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_prefers_server_eval_time() {
        let rate = tokens_per_second(
            Some(20),
            Some(Duration::from_millis(500)),
            Duration::from_secs(2),
        );
        assert_eq!(rate, Some(40.0));
    }

    #[test]
    fn rate_falls_back_to_latency() {
        assert_eq!(
            tokens_per_second(Some(30), None, Duration::from_millis(1500)),
            Some(20.0)
        );
        assert_eq!(
            tokens_per_second(Some(30), Some(Duration::ZERO), Duration::from_secs(3)),
            Some(10.0)
        );
    }

    #[test]
    fn rate_needs_tokens_and_time() {
        assert_eq!(
            tokens_per_second(None, Some(Duration::from_secs(1)), Duration::from_secs(1)),
            None
        );
        assert_eq!(tokens_per_second(Some(5), None, Duration::ZERO), None);
    }

    #[test]
    fn unset_measurements_are_left_out() {
        let record = GradeRecord {
            model: "m".into(),
            grader: "exact".into(),
            ..GradeRecord::default()
        };
        let text = String::from_utf8(record.to_json()).unwrap();
        for key in [
            "completion_tokens",
            "tokens_per_second",
            "seed",
            "no_answer",
            "judge_seed",
        ] {
            assert!(!text.contains(key), "{key} in {text}");
        }
    }

    #[test]
    fn no_answer_is_unscored() {
        let mut record = GradeRecord {
            accuracy: Some(0.0),
            correct: Some(false),
            ..GradeRecord::default()
        };
        record.mark_no_answer();
        assert_eq!(record.accuracy, None);
        assert_eq!(record.correct, None);
        assert_eq!(record.no_answer, Some(true));
        let value: serde_json::Value = serde_json::from_slice(&record.to_json()).unwrap();
        assert_eq!(value["no_answer"], serde_json::json!(true));
        assert!(value.get("accuracy").is_none());
    }
}
